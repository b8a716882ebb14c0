//! Client data contracts on the chain: building the funding transaction
//! ([`build_data_contract`]) and the [`ChainLedger`] that hosts check records against.
//!
//! The ledger keeps each contract's owner, writers, reserved size, replication and expiry;
//! [`ChainLedger`] holds a snapshot of them that the node's [`crate::ChainService`] refreshes
//! on every new tip, so a host accepts a record under a contract exactly when its best chain
//! holds that contract, unexpired, with the record's owner among its writers and room for the
//! record. Contracts listed in the configuration (`[[contract]]`, for networks without a
//! ledger) are accepted as before through the fallback [`MemoryLedger`].

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use subspace_crypto::{ContractId, Keypair, NodeId, PublicKey, RecordKey, Signature};
use subspace_ledger::economics::reservation_price;
use subspace_ledger::state::DataContractState;
use subspace_ledger::tx::{ClientDataContract, Funding, Input};
use subspace_ledger::{Address, ChainState, ConsensusParams, LedgerError, Transaction, TxOut};
use subspace_record::{ContractValidator, Receipt, RecordError};

use crate::ledger::{ContractLedger, MemoryLedger};

/// A contract pays this multiple of its reservation price at the tip (see
/// [`build_data_contract`]).
pub const PRICE_MARGIN: u128 = 2;

/// What a client asks for when it creates a data contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractTerms {
    /// Bytes reserved per replica.
    pub reserved_bytes: u64,
    /// Duration in seconds.
    pub duration_secs: u64,
    /// Replication factor R.
    pub replication: u8,
    /// The mutable record that will hold the contract's state (bytes used, key index); all
    /// zero lets [`crate::Host::create_data_contract`] name the owner's next numbered
    /// contract-state record ([`crate::contract_state`]).
    pub state_record: RecordKey,
}

/// A funded, signed `ClientDataContract` transaction for `terms`, paying [`PRICE_MARGIN`] times
/// the reservation price at the tip's Cost of Storage plus the fee for its size, from
/// `owner`'s outputs, change back to `owner`. The contract id is the transaction id.
pub fn build_data_contract(
    state: &ChainState,
    params: &ConsensusParams,
    owner: &Keypair,
    terms: &ContractTerms,
) -> Result<Transaction, LedgerError> {
    let cos = state
        .tip()
        .cos
        .ok_or(LedgerError::NetworkFull { needed: 0, free: 0 })?;
    let bytes = terms
        .reserved_bytes
        .checked_mul(u64::from(terms.replication))
        .ok_or(LedgerError::Overflow)?;
    // Twice the price at the tip: the block that includes the contract prices it at its own
    // parent's CoS, which rises as the hosts' intervals run down. Paying more only funds the
    // nexus (which pays hosts); paying less would leave the contract unincludable.
    let price = reservation_price(cos, bytes, terms.duration_secs)
        .and_then(|p| p.checked_mul(PRICE_MARGIN))
        .and_then(|p| u64::try_from(p).ok())
        .ok_or(LedgerError::Overflow)?;
    // Largest outputs first: few inputs, and the old allocation rather than the coinbase of a
    // block just farmed, which a reorganisation may take away (a contract spending it could
    // then never be included).
    let mut coins = state.outputs_of(&Address::of(&owner.public()));
    coins.sort_by_key(|(op, out)| (std::cmp::Reverse(out.value), *op));
    let mut fee = 0u64;
    // The fee depends on the size, which depends on the inputs the fee needs: iterate.
    for _ in 0..4 {
        let need = price.checked_add(fee).ok_or(LedgerError::Overflow)?;
        let mut inputs = Vec::new();
        let mut have = 0u64;
        for (op, out) in &coins {
            if have >= need {
                break;
            }
            inputs.push(Input {
                prev: *op,
                public_key: owner.public(),
            });
            have = have.saturating_add(out.value);
        }
        if have < need {
            return Err(LedgerError::Malformed(
                "not enough credits for the contract",
            ));
        }
        let change = have - need;
        let mut tx = Transaction::DataContract(ClientDataContract {
            owner: owner.public(),
            reserved_bytes: terms.reserved_bytes,
            duration_secs: terms.duration_secs,
            replication: terms.replication,
            writers: vec![owner.public()],
            state_record: terms.state_record,
            funding: Funding {
                inputs,
                change: if change > 0 {
                    vec![TxOut::to_key(change, &owner.public())]
                } else {
                    vec![]
                },
                fee,
                signatures: vec![],
            },
            owner_signature: Signature([0; 64]),
        });
        tx.sign(&[owner], Some(owner))?;
        let needed_fee = params
            .fee_per_byte
            .saturating_mul(u64::try_from(tx.encoded_len()?).unwrap_or(u64::MAX));
        if fee >= needed_fee {
            return Ok(tx);
        }
        fee = needed_fee;
    }
    Err(LedgerError::Malformed("contract fee did not settle"))
}

/// Domain of [`UsageClaim`] signatures.
pub const USAGE: subspace_crypto::domain::Domain =
    subspace_crypto::domain::Domain::custom("subspace/contract-usage/v1");

/// A data contract owner's signed statement of the bytes its contract holds on the network
/// (every replica counted), with a sequence number: the latest claim per contract is what
/// block producers read as the network's stored bytes (bounded by the contract's reservation).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageClaim {
    /// The data contract.
    pub contract: ContractId,
    /// Bytes stored under it, all replicas counted.
    pub bytes_used: u64,
    /// Increases with every claim of the owner for this contract.
    pub seq: u64,
    /// The contract owner's signature over the fields above.
    pub signature: Signature,
}

impl UsageClaim {
    fn signing_bytes(contract: &ContractId, bytes_used: u64, seq: u64) -> Vec<u8> {
        [
            contract.as_bytes().as_slice(),
            &bytes_used.to_be_bytes(),
            &seq.to_be_bytes(),
        ]
        .concat()
    }

    /// A claim signed by `owner`.
    pub fn new(owner: &Keypair, contract: ContractId, bytes_used: u64, seq: u64) -> UsageClaim {
        let signature = owner.sign(USAGE, &Self::signing_bytes(&contract, bytes_used, seq));
        UsageClaim {
            contract,
            bytes_used,
            seq,
            signature,
        }
    }

    /// Checks the signature against the contract's owner.
    pub fn verify(&self, owner: &PublicKey) -> Result<(), subspace_crypto::CryptoError> {
        owner.verify(
            USAGE,
            &Self::signing_bytes(&self.contract, self.bytes_used, self.seq),
            &self.signature,
        )
    }
}

/// Data contracts of the best chain, shared between the chain service (which refreshes them)
/// and the host's record validation.
#[derive(Clone, Debug, Default)]
pub struct ChainContracts {
    inner: Arc<RwLock<BTreeMap<ContractId, DataContractState>>>,
    /// Bytes each host pledges under its host storage contracts.
    hosts: Arc<RwLock<BTreeMap<NodeId, u64>>>,
    used: Arc<RwLock<BTreeMap<ContractId, u64>>>,
    farmers: Arc<RwLock<std::collections::BTreeSet<PublicKey>>>,
}

impl ChainContracts {
    /// An empty snapshot.
    pub fn new() -> ChainContracts {
        ChainContracts::default()
    }

    /// Replaces the snapshot with the data and host contracts of `state`.
    pub fn refresh(&self, state: &ChainState) {
        let map = state
            .data_contracts()
            .map(|(id, c)| (*id, c.clone()))
            .collect();
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = map;
        let mut hosts: BTreeMap<NodeId, u64> = BTreeMap::new();
        for (_, c) in state.host_contracts() {
            let e = hosts.entry(c.host.node_id()).or_default();
            *e = e.saturating_add(c.pledged_bytes);
        }
        *self.hosts.write().unwrap_or_else(|p| p.into_inner()) = hosts;
    }

    /// The bytes `host` pledges under its host contracts on the chain, if it has any.
    pub fn host_pledge(&self, host: &NodeId) -> Option<u64> {
        self.hosts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .copied()
    }

    /// Replaces the set of recent farmers (whose archive records hosts accept).
    pub fn set_farmers(&self, farmers: std::collections::BTreeSet<PublicKey>) {
        *self.farmers.write().unwrap_or_else(|p| p.into_inner()) = farmers;
    }

    /// Whether `key` farmed one of the recent blocks.
    pub fn is_recent_farmer(&self, key: &PublicKey) -> bool {
        self.farmers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    /// Records the latest bytes its owner claims `contract` holds (all replicas).
    pub fn set_used(&self, contract: ContractId, bytes: u64) {
        self.used
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(contract, bytes);
    }

    /// The bytes the owner last claimed `contract` holds (0 without a claim).
    pub fn used(&self, contract: &ContractId) -> u64 {
        self.used
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(contract)
            .copied()
            .unwrap_or(0)
    }

    /// A contract of the snapshot.
    pub fn get(&self, id: &ContractId) -> Option<DataContractState> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
}

/// The [`ContractLedger`] of a node that runs the ledger: data contracts from the chain,
/// then the configured ones.
#[derive(Clone, Debug)]
pub struct ChainLedger {
    chain: ChainContracts,
    fallback: MemoryLedger,
}

impl ChainLedger {
    /// Checks records against `chain`'s contracts first, then `fallback`'s.
    pub fn new(chain: ChainContracts, fallback: MemoryLedger) -> ChainLedger {
        ChainLedger { chain, fallback }
    }
}

impl ContractValidator for ChainLedger {
    fn check_contract(
        &self,
        contract: &ContractId,
        owner: &PublicKey,
        stored_len: u64,
        now: u64,
    ) -> Result<(), RecordError> {
        if *contract == crate::archive::ARCHIVE_CONTRACT {
            // Archive records: only from a farmer of a recent block (the record size limit
            // bounds each one).
            return if self.chain.is_recent_farmer(owner) {
                Ok(())
            } else {
                Err(RecordError::Contract(
                    "chain archive records only from recent farmers".into(),
                ))
            };
        }
        let Some(c) = self.chain.get(contract) else {
            return self
                .fallback
                .check_contract(contract, owner, stored_len, now);
        };
        if c.owner != *owner && !c.writers.contains(owner) {
            return Err(RecordError::Contract(
                "not the owner's or a writer's".into(),
            ));
        }
        if now >= c.expires {
            return Err(RecordError::Contract("contract expired".into()));
        }
        if stored_len > c.reserved_bytes {
            return Err(RecordError::Contract(
                "record above the contract's reserved size".into(),
            ));
        }
        // The owner's own node refuses a put that would overflow the reservation; a host
        // checks against the owner's last usage claim (which trails the owner by one put).
        let used = self.chain.used(contract);
        if u128::from(used.saturating_add(stored_len)) > c.network_bytes() {
            return Err(RecordError::Contract(
                "contract full: its owner claims the whole reservation".into(),
            ));
        }
        Ok(())
    }
}

impl ContractLedger for ChainLedger {
    fn record_receipts(&self, key: RecordKey, receipts: &[Receipt]) {
        self.fallback.record_receipts(key, receipts);
    }

    fn host_pledge(&self, host: &NodeId) -> Option<u64> {
        self.chain
            .host_pledge(host)
            .or_else(|| self.fallback.host_pledge(host))
    }

    /// A node with a chain weighs members by their host contracts only.
    fn knows_pledges(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_check_owner_writers_expiry_size_and_claimed_usage() {
        let (owner, writer, other) = (
            Keypair::from_seed(&[1; 32]).public(),
            Keypair::from_seed(&[2; 32]).public(),
            Keypair::from_seed(&[3; 32]).public(),
        );
        let id = ContractId::from_bytes([7; 32]);
        let contracts = ChainContracts::new();
        contracts.inner.write().unwrap().insert(
            id,
            DataContractState {
                owner,
                reserved_bytes: 1000,
                replication: 3,
                expires: 500,
                writers: vec![owner, writer],
                state_record: RecordKey::from_bytes([0; 32]),
            },
        );
        let ledger = ChainLedger::new(contracts.clone(), MemoryLedger::new());
        assert!(ledger.check_contract(&id, &owner, 1000, 10).is_ok());
        assert!(ledger.check_contract(&id, &writer, 10, 10).is_ok());
        assert!(ledger.check_contract(&id, &other, 10, 10).is_err());
        assert!(ledger.check_contract(&id, &owner, 1001, 10).is_err());
        assert!(ledger.check_contract(&id, &owner, 10, 500).is_err());
        // The owner claims 2,500 of its 3,000 bytes: 500 more fit, 501 do not.
        contracts.set_used(id, 2500);
        assert!(ledger.check_contract(&id, &owner, 500, 10).is_ok());
        assert!(ledger.check_contract(&id, &owner, 501, 10).is_err());
        // Unknown to the chain and to the config: refused.
        let unknown = ContractId::from_bytes([8; 32]);
        assert!(ledger.check_contract(&unknown, &owner, 1, 10).is_err());
    }
}
