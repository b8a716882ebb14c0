//! Transactions: coinbase, transfers, storage contracts, payment requests and the nexus.
//!
//! Outputs are locked by a [`Lock`]; today the only lock is pay-to-public-key-hash. The
//! whitepaper borrows Bitcoin's Script; a script would be one more [`Lock`] variant, not a
//! change to any existing format.

use serde::{Deserialize, Serialize};
use subspace_crypto::{
    BlockHash, ContractId, Hash256, Keypair, PublicKey, RecordKey, Signature, codec, domain, hash,
};

use crate::{LedgerError, Result};

/// Most public keys a data contract may list as writers.
pub const MAX_WRITERS: usize = 64;
/// Largest replication factor a data contract may ask for.
pub const MAX_REPLICATION: u8 = 16;

/// A transaction's id: SHA-256 of its unsigned encoding (signatures excluded, so a signature
/// cannot change the id).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct TxId(pub Hash256);

/// A payment address: SHA-256 of a public key, as the whitepaper fixes it.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct Address(pub Hash256);

impl Address {
    /// The address a public key receives payments at.
    pub fn of(pk: &PublicKey) -> Address {
        Address(hash::sha256(&pk.to_bytes()))
    }
}

/// What must be shown to spend an output. More variants (a script) can be added later.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Lock {
    /// Spendable by the key whose SHA-256 is this address, with its signature.
    PayToPublicKeyHash(Address),
}

impl Lock {
    /// Whether `pk` (with a signature checked elsewhere) satisfies this lock.
    pub fn unlocked_by(&self, pk: &PublicKey) -> bool {
        match self {
            Lock::PayToPublicKeyHash(a) => *a == Address::of(pk),
        }
    }
}

/// A transaction output: value and lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TxOut {
    /// Credits in base units.
    pub value: u64,
    /// Who may spend it.
    pub lock: Lock,
}

impl TxOut {
    /// An output paying `value` to the holder of `pk`.
    pub fn to_key(value: u64, pk: &PublicKey) -> TxOut {
        TxOut {
            value,
            lock: Lock::PayToPublicKeyHash(Address::of(pk)),
        }
    }
}

/// A reference to one output of an earlier transaction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct OutPoint {
    /// The transaction that created it.
    pub txid: TxId,
    /// Its position in that transaction's outputs.
    pub index: u32,
}

/// An input: the output it spends and the key that unlocks it (its signature is kept apart).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Input {
    /// The output spent.
    pub prev: OutPoint,
    /// The key whose hash the output is locked to.
    pub public_key: PublicKey,
}

/// Funding of a contract: inputs, change back to the payer and an explicit fee; the rest
/// goes to the nexus.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Funding {
    /// Outputs spent.
    pub inputs: Vec<Input>,
    /// Change outputs.
    pub change: Vec<TxOut>,
    /// Fee to the block's farmer.
    pub fee: u64,
    /// One signature per input, over the transaction's unsigned encoding.
    pub signatures: Vec<Signature>,
}

/// The block reward (plus fees) to the farmer; first transaction of every block.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Coinbase {
    /// Height of the block (makes every coinbase id unique).
    pub height: u64,
    /// Reward outputs.
    pub outputs: Vec<TxOut>,
}

/// A pay-to-public-key-hash transfer; the fee is inputs minus outputs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Transfer {
    /// Outputs spent.
    pub inputs: Vec<Input>,
    /// New outputs.
    pub outputs: Vec<TxOut>,
    /// One signature per input, over the transaction's unsigned encoding.
    pub signatures: Vec<Signature>,
}

/// A host pledges space, proven by a proof of space over its plots.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct HostStorageContract {
    /// The host's identity (its plots derive from this key).
    pub host: PublicKey,
    /// Bytes pledged.
    pub pledged_bytes: u64,
    /// Reward interval in seconds (payment requests are due at its end).
    pub interval_secs: u64,
    /// Plot size parameter of the pledge proof.
    pub k: u8,
    /// Seed the pledge proof answers (lets a host re-pledge with a fresh proof).
    pub pledge_seed: [u8; 32],
    /// The pledge proof bytes (`subspace-pos` format).
    pub pledge_proof: Vec<u8>,
    /// Where nexus payments go.
    pub payout: Address,
    /// The host's signature.
    pub signature: Signature,
}

/// A client reserves space for a duration, paying the nexus.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ClientDataContract {
    /// The contract holder.
    pub owner: PublicKey,
    /// Bytes reserved (per replica).
    pub reserved_bytes: u64,
    /// Duration in seconds.
    pub duration_secs: u64,
    /// Replication factor R (1..=16); the network reserves `reserved_bytes × R`.
    pub replication: u8,
    /// Keys allowed to write under this contract.
    pub writers: Vec<PublicKey>,
    /// The mutable record holding the contract's off-chain state.
    pub state_record: RecordKey,
    /// The payment.
    pub funding: Funding,
    /// The owner's signature.
    pub owner_signature: Signature,
}

/// Extends a data contract by paying for more time.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ContractRenewal {
    /// The data contract extended.
    pub contract: ContractId,
    /// Seconds added to its expiry.
    pub extra_secs: u64,
    /// The payment.
    pub funding: Funding,
}

/// A host asks for its nexus payment at the end of its interval.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PaymentRequest {
    /// The host storage contract.
    pub contract: ContractId,
    /// The block this request builds on (the parent of the block including it).
    pub last_block: BlockHash,
    /// The host's signature.
    pub signature: Signature,
}

/// One nexus output: a payment for one request of the same block.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NexusPayment {
    /// The host contract paid.
    pub contract: ContractId,
    /// Uptime over the interval claimed by the block producer (from gossip's accounting).
    pub uptime_secs: u64,
    /// The payment.
    pub output: TxOut,
}

/// The block's one nexus transaction: one output per valid payment request, in request order.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Nexus {
    /// Height of the block (makes every nexus id unique).
    pub height: u64,
    /// Payments.
    pub payments: Vec<NexusPayment>,
}

/// Any ledger transaction.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Transaction {
    /// Block reward.
    Coinbase(Coinbase),
    /// Credit transfer.
    Transfer(Transfer),
    /// Host pledge.
    HostContract(HostStorageContract),
    /// Client reservation.
    DataContract(ClientDataContract),
    /// Client renewal.
    Renewal(ContractRenewal),
    /// Host payment request.
    PaymentRequest(PaymentRequest),
    /// Host payments.
    Nexus(Nexus),
}

const NO_SIG: Signature = Signature([0; 64]);

impl Transaction {
    /// The bytes every signature of this transaction covers: its encoding with all
    /// signatures blanked (zeros, or empty lists).
    pub fn signing_bytes(&self) -> Result<Vec<u8>> {
        let mut t = self.clone();
        match &mut t {
            Transaction::Coinbase(_) | Transaction::Nexus(_) => {}
            Transaction::Transfer(x) => x.signatures.clear(),
            Transaction::HostContract(x) => x.signature = NO_SIG,
            Transaction::DataContract(x) => {
                x.owner_signature = NO_SIG;
                x.funding.signatures.clear();
            }
            Transaction::Renewal(x) => x.funding.signatures.clear(),
            Transaction::PaymentRequest(x) => x.signature = NO_SIG,
        }
        Ok(codec::encode(&t)?)
    }

    /// This transaction's id.
    pub fn id(&self) -> Result<TxId> {
        Ok(TxId(hash::sha256(&self.signing_bytes()?)))
    }

    /// Encoded size in bytes (what the per-byte fee is charged on).
    pub fn encoded_len(&self) -> Result<usize> {
        Ok(codec::encode(self)?.len())
    }

    /// Decodes a transaction from untrusted bytes (at most [`crate::block::MAX_BLOCK_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Transaction> {
        Ok(codec::decode_bounded::<
            Transaction,
            { crate::block::MAX_BLOCK_BYTES },
        >(bytes)?)
    }

    /// Encodes this transaction.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(codec::encode(self)?)
    }

    fn inputs(&self) -> &[Input] {
        match self {
            Transaction::Transfer(x) => &x.inputs,
            Transaction::DataContract(x) => &x.funding.inputs,
            Transaction::Renewal(x) => &x.funding.inputs,
            _ => &[],
        }
    }

    fn input_signatures(&self) -> &[Signature] {
        match self {
            Transaction::Transfer(x) => &x.signatures,
            Transaction::DataContract(x) => &x.funding.signatures,
            Transaction::Renewal(x) => &x.funding.signatures,
            _ => &[],
        }
    }

    /// Signs every input with the keypair whose public key it names, and the owner or host
    /// signature with `owner` where the transaction has one.
    pub fn sign(&mut self, keys: &[&Keypair], owner: Option<&Keypair>) -> Result<()> {
        let msg = self.signing_bytes()?;
        let mut sigs = Vec::with_capacity(self.inputs().len());
        for input in self.inputs() {
            let kp = keys
                .iter()
                .find(|k| k.public() == input.public_key)
                .ok_or(LedgerError::Malformed("no key for an input"))?;
            sigs.push(kp.sign(domain::TRANSACTION, &msg));
        }
        let own = owner.map(|k| k.sign(domain::TRANSACTION, &msg));
        match self {
            Transaction::Transfer(x) => x.signatures = sigs,
            Transaction::DataContract(x) => {
                x.funding.signatures = sigs;
                x.owner_signature = own.ok_or(LedgerError::Malformed("owner key missing"))?;
            }
            Transaction::Renewal(x) => x.funding.signatures = sigs,
            Transaction::HostContract(x) => {
                x.signature = own.ok_or(LedgerError::Malformed("host key missing"))?
            }
            Transaction::PaymentRequest(x) => {
                x.signature = own.ok_or(LedgerError::Malformed("host key missing"))?
            }
            Transaction::Coinbase(_) | Transaction::Nexus(_) => {}
        }
        Ok(())
    }

    /// Checks everything that needs no chain state: shapes, limits, input signatures and the
    /// owner signature of data contracts and host contracts. Host signatures of payment
    /// requests are checked against the contract's host key by the state.
    ///
    /// Returns the signing bytes, which the state reuses.
    pub fn check_stateless(&self) -> Result<Vec<u8>> {
        let msg = self.signing_bytes()?;
        self.check_stateless_with(&msg)?;
        Ok(msg)
    }

    /// [`Transaction::check_stateless`] with the signing bytes already computed.
    pub fn check_stateless_with(&self, msg: &[u8]) -> Result<()> {
        let msg = msg.to_vec();
        let inputs = self.inputs();
        let sigs = self.input_signatures();
        if inputs.len() != sigs.len() {
            return Err(LedgerError::Malformed("one signature per input"));
        }
        for i in 1..inputs.len() {
            if inputs[..i].iter().any(|x| x.prev == inputs[i].prev) {
                return Err(LedgerError::DoubleSpend);
            }
        }
        for (input, sig) in inputs.iter().zip(sigs) {
            input
                .public_key
                .verify(domain::TRANSACTION, &msg, sig)
                .map_err(|_| LedgerError::BadSignature)?;
        }
        match self {
            Transaction::Coinbase(c) => nonzero(&c.outputs)?,
            Transaction::Transfer(t) => {
                if t.inputs.is_empty() || t.outputs.is_empty() {
                    return Err(LedgerError::Malformed("transfer needs inputs and outputs"));
                }
                nonzero(&t.outputs)?;
            }
            Transaction::HostContract(h) => {
                if h.pledged_bytes == 0 || h.interval_secs == 0 {
                    return Err(LedgerError::Malformed("empty pledge or interval"));
                }
                h.host
                    .verify(domain::TRANSACTION, &msg, &h.signature)
                    .map_err(|_| LedgerError::BadSignature)?;
            }
            Transaction::DataContract(d) => {
                if d.reserved_bytes == 0 || d.duration_secs == 0 {
                    return Err(LedgerError::Malformed("empty reservation"));
                }
                if d.replication == 0 || d.replication > MAX_REPLICATION {
                    return Err(LedgerError::Malformed("replication out of range"));
                }
                if d.writers.len() > MAX_WRITERS {
                    return Err(LedgerError::Malformed("too many writers"));
                }
                if d.funding.inputs.is_empty() {
                    return Err(LedgerError::Malformed("contract needs funding"));
                }
                nonzero(&d.funding.change)?;
                d.owner
                    .verify(domain::TRANSACTION, &msg, &d.owner_signature)
                    .map_err(|_| LedgerError::BadSignature)?;
            }
            Transaction::Renewal(r) => {
                if r.extra_secs == 0 || r.funding.inputs.is_empty() {
                    return Err(LedgerError::Malformed("empty renewal"));
                }
                nonzero(&r.funding.change)?;
            }
            Transaction::PaymentRequest(_) | Transaction::Nexus(_) => {}
        }
        Ok(())
    }
}

fn nonzero(outs: &[TxOut]) -> Result<()> {
    if outs.iter().any(|o| o.value == 0) {
        return Err(LedgerError::Malformed("zero-value output"));
    }
    Ok(())
}

/// Checked sum of output values.
pub fn sum_outputs(outs: &[TxOut]) -> Result<u64> {
    outs.iter().try_fold(0u64, |a, o| {
        a.checked_add(o.value).ok_or(LedgerError::AmountOverflow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(n: u8) -> Keypair {
        Keypair::from_seed(&[n; 32])
    }

    fn transfer() -> Transaction {
        let a = kp(1);
        let mut t = Transaction::Transfer(Transfer {
            inputs: vec![Input {
                prev: OutPoint {
                    txid: TxId(Hash256([7; 32])),
                    index: 0,
                },
                public_key: a.public(),
            }],
            outputs: vec![TxOut::to_key(5, &kp(2).public())],
            signatures: vec![],
        });
        t.sign(&[&a], None).unwrap();
        t
    }

    #[test]
    fn signatures_cover_everything_but_do_not_change_the_id() {
        let t = transfer();
        let id = t.id().unwrap();
        assert!(t.check_stateless().is_ok());
        let mut u = t.clone();
        if let Transaction::Transfer(x) = &mut u {
            x.signatures[0] = Signature([1; 64]);
        }
        assert_eq!(u.id().unwrap(), id);
        assert_eq!(u.check_stateless(), Err(LedgerError::BadSignature));
        let mut v = t.clone();
        if let Transaction::Transfer(x) = &mut v {
            x.outputs[0].value = 6;
        }
        assert_ne!(v.id().unwrap(), id);
        assert_eq!(v.check_stateless(), Err(LedgerError::BadSignature));
    }

    #[test]
    fn golden_transfer_encoding() {
        // Pins the wire format: u32 variant tag, u64 lengths, fixed-width big-endian ints.
        let t = Transaction::Transfer(Transfer {
            inputs: vec![],
            outputs: vec![TxOut {
                value: 0x0102,
                lock: Lock::PayToPublicKeyHash(Address(Hash256([0xaa; 32]))),
            }],
            signatures: vec![],
        });
        let hex = subspace_crypto::hex::encode(t.encode().unwrap());
        let expected = [
            "00000001",         // Transaction::Transfer
            "0000000000000000", // no inputs
            "0000000000000001", // one output
            "0000000000000102", // value
            "00000000",         // Lock::PayToPublicKeyHash
            &"aa".repeat(32),
            "0000000000000000", // no signatures
        ]
        .concat();
        assert_eq!(hex, expected);
        assert_eq!(Transaction::decode(&t.encode().unwrap()).unwrap(), t);
    }

    #[test]
    fn shape_errors_are_typed() {
        let mut t = transfer();
        if let Transaction::Transfer(x) = &mut t {
            x.inputs.push(x.inputs[0]);
            x.signatures.push(x.signatures[0]);
        }
        assert_eq!(t.check_stateless(), Err(LedgerError::DoubleSpend));
        let c = Transaction::Coinbase(Coinbase {
            height: 1,
            outputs: vec![TxOut::to_key(0, &kp(1).public())],
        });
        assert!(matches!(
            c.check_stateless(),
            Err(LedgerError::Malformed(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if let Ok(t) = Transaction::decode(&bytes) {
                let _ = t.check_stateless();
                proptest::prop_assert_eq!(t.encode().unwrap(), bytes);
            }
        }
    }
}
