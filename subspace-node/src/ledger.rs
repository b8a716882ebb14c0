//! The contract seam: [`ContractLedger`] and the in-memory [`MemoryLedger`] used until the
//! ledger integration (part 2) lands.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use subspace_crypto::{ContractId, NodeId, PublicKey, RecordKey};
use subspace_record::{ContractValidator, Receipt, RecordError};

/// Contract validity and the contract-state record of who holds what.
///
/// Hosts call [`ContractValidator::check_contract`] before keeping a replica; the coordinator of
/// a put calls [`ContractLedger::record_receipts`] with every holder's receipt before the final
/// acknowledgement. Part 2 implements this from `subspace-ledger`.
pub trait ContractLedger: ContractValidator + Send + Sync + 'static {
    /// Records the holders' receipts for `key` in the contract state.
    fn record_receipts(&self, key: RecordKey, receipts: &[Receipt]);

    /// The bytes `host` pledges under its host storage contracts, as the ledger holds them;
    /// `None` when it holds none of that host. Replica placement weighs members by this, not
    /// by what their gossip joins claim.
    fn host_pledge(&self, host: &NodeId) -> Option<u64>;

    /// Whether this ledger knows host contracts at all. A node without one (no chain, no host
    /// contract configured) can only weigh members by what they claim.
    fn knows_pledges(&self) -> bool;
}

/// The gossip [`subspace_gossip::PledgeOracle`] of a node: members weigh what their host
/// contract pledges on the ledger (0 without one), or what they claim when the ledger knows
/// no host contracts.
pub(crate) struct LedgerPledges(pub(crate) Arc<dyn ContractLedger>);

impl subspace_gossip::PledgeOracle for LedgerPledges {
    fn weight(&self, host: &NodeId, _contract: &ContractId, claimed: u64) -> u64 {
        if self.0.knows_pledges() {
            self.0.host_pledge(host).unwrap_or(0)
        } else {
            claimed
        }
    }
}

#[derive(Default)]
struct LedgerState {
    contracts: BTreeMap<ContractId, (PublicKey, u64)>,
    hosts: BTreeMap<ContractId, (NodeId, u64)>,
    holders: BTreeMap<RecordKey, BTreeSet<NodeId>>,
}

/// A [`ContractLedger`] in memory: contracts opened by hand, receipts counted per record.
/// Clones share one state (the single contract-state holder of a test network).
#[derive(Clone, Default)]
pub struct MemoryLedger {
    state: Arc<Mutex<LedgerState>>,
}

impl std::fmt::Debug for MemoryLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLedger")
            .field("contracts", &self.lock().contracts.len())
            .finish()
    }
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }

    fn lock(&self) -> MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens contract `id` for `owner`, allowing records of up to `max_record_len` bytes.
    pub fn open_contract(&self, id: ContractId, owner: PublicKey, max_record_len: u64) {
        self.lock().contracts.insert(id, (owner, max_record_len));
    }

    /// Opens host storage contract `id`: `host` pledges `bytes`. Once any is open, members are
    /// weighed by these alone (see [`ContractLedger::host_pledge`]).
    pub fn open_host_contract(&self, id: ContractId, host: NodeId, bytes: u64) {
        self.lock().hosts.insert(id, (host, bytes));
    }

    /// The holders recorded for `key`, in ascending order.
    pub fn holders(&self, key: &RecordKey) -> Vec<NodeId> {
        self.lock()
            .holders
            .get(key)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

impl ContractValidator for MemoryLedger {
    fn check_contract(
        &self,
        contract: &ContractId,
        owner: &PublicKey,
        stored_len: u64,
        _now: u64,
    ) -> Result<(), RecordError> {
        match self.lock().contracts.get(contract) {
            None => Err(RecordError::Contract("unknown contract".into())),
            Some((o, _)) if o != owner => Err(RecordError::Contract("not the owner's".into())),
            Some((_, max)) if stored_len > *max => Err(RecordError::Contract(
                "record above the contract's size".into(),
            )),
            Some(_) => Ok(()),
        }
    }
}

impl ContractLedger for MemoryLedger {
    fn record_receipts(&self, key: RecordKey, receipts: &[Receipt]) {
        let mut st = self.lock();
        let set = st.holders.entry(key).or_default();
        for r in receipts {
            set.insert(r.host_id());
        }
    }

    fn host_pledge(&self, host: &NodeId) -> Option<u64> {
        self.lock()
            .hosts
            .values()
            .filter(|(h, _)| h == host)
            .map(|(_, bytes)| *bytes)
            .reduce(u64::saturating_add)
    }

    fn knows_pledges(&self) -> bool {
        !self.lock().hosts.is_empty()
    }
}
