//! The contract-state record of a data contract: a mutable record on SSDB, sealed for its
//! owner, that tracks the bytes the contract uses and the index of its record keys (the
//! whitepaper's "contract state" record).
//!
//! Its record keypair derives from the owner's secret key, so the owner's node finds the record
//! again after a restart — or on another machine with the same identity — and resumes its
//! tally instead of starting from zero. A contract created on the chain names its state record
//! (`ClientDataContract::state_record`) before its id exists, so those keypairs are numbered:
//! the owner's node creates contract n with [`indexed_state_keypair`]`(owner, n)`, n the
//! first index none of its contracts uses, and later finds n again with [`find_state_index`].
//! A contract that exists only in configuration (no chain) derives its keypair from its id
//! ([`state_keypair`]). Versions are
//! numbered by the owner's clock in milliseconds, so a later write always supersedes an
//! earlier one without reading the old version first. The record's own replicas are not
//! counted in the tally it carries (it would otherwise count itself on every write).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use subspace_crypto::{ContractId, Keypair, RecordKey, codec, hash};
use subspace_record::{OwnerGrant, Record, RecordBuilder, RecordKeypair};

use crate::{NodeError, Result};

/// Most record keys the index holds (32 bytes each: 256 KiB). Beyond it the oldest entries
/// are dropped and counted in [`ContractState::keys_dropped`].
pub const MAX_INDEX_KEYS: usize = 8192;
/// Largest encoded state accepted from the network.
pub const MAX_STATE_BYTES: usize = MAX_INDEX_KEYS * 32 + 1024;
const VERSION: u32 = 1;
const SEED_TAG: &[u8] = b"subspace/contract-state/v1";

/// What the contract-state record holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractState {
    version: u32,
    /// The data contract.
    pub contract: ContractId,
    /// Bytes stored under the contract on the network, every replica counted (each successful
    /// put counts, so a new version of a mutable record counts again: the tally errs high).
    pub bytes_used: u64,
    /// Keys of the records put under the contract, oldest first, at most [`MAX_INDEX_KEYS`].
    pub keys: Vec<RecordKey>,
    /// Keys dropped from the front of the index because it was full.
    pub keys_dropped: u64,
}

impl ContractState {
    /// An empty state for `contract`.
    pub fn new(contract: ContractId) -> ContractState {
        ContractState {
            version: VERSION,
            contract,
            ..ContractState::default()
        }
    }

    /// Counts a put of `bytes` (all replicas) under `key`; a key already indexed is not
    /// indexed twice.
    pub fn record_put(&mut self, key: RecordKey, bytes: u64) {
        self.bytes_used = self.bytes_used.saturating_add(bytes);
        if !self.keys.contains(&key) {
            self.keys.push(key);
            self.trim();
        }
    }

    /// Adds what `older` (a state found on the network) knew to this one: its bytes, and its
    /// keys before ours.
    pub fn merge_older(&mut self, older: &ContractState) {
        self.bytes_used = self.bytes_used.saturating_add(older.bytes_used);
        self.keys_dropped = self.keys_dropped.saturating_add(older.keys_dropped);
        let ours: BTreeSet<RecordKey> = self.keys.iter().copied().collect();
        let mut keys: Vec<RecordKey> = older
            .keys
            .iter()
            .filter(|k| !ours.contains(k))
            .copied()
            .collect();
        keys.append(&mut self.keys);
        self.keys = keys;
        self.trim();
    }

    fn trim(&mut self) {
        if self.keys.len() > MAX_INDEX_KEYS {
            let extra = self.keys.len() - MAX_INDEX_KEYS;
            self.keys.drain(..extra);
            self.keys_dropped = self.keys_dropped.saturating_add(extra as u64);
        }
    }

    /// The record data.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(codec::encode(self)?)
    }

    /// Decodes untrusted record data (bounded; typed errors; the index bound checked).
    pub fn decode(bytes: &[u8]) -> Result<ContractState> {
        let s: ContractState = codec::decode_bounded::<ContractState, MAX_STATE_BYTES>(bytes)?;
        if s.version != VERSION {
            return Err(NodeError::InvalidRecord(format!(
                "contract state version {} (this node reads {VERSION})",
                s.version
            )));
        }
        if s.keys.len() > MAX_INDEX_KEYS {
            return Err(NodeError::InvalidRecord(
                "contract state index too long".into(),
            ));
        }
        Ok(s)
    }
}

/// Most numbered state records searched by [`find_state_index`].
pub const MAX_STATE_INDEX: u32 = 4096;

/// The record keypair of `owner`'s state record for the contract `contract` of the
/// configuration: a keyed hash of the owner's secret and the contract id, so only the owner
/// can write it or find it.
pub fn state_keypair(owner: &Keypair, contract: &ContractId) -> RecordKeypair {
    let seed = hash::sha256_parts(&[SEED_TAG, &owner.secret_bytes(), contract.as_bytes()]);
    RecordKeypair::from_seed(&seed.0)
}

/// The record keypair of `owner`'s `index`-th chain contract's state record.
pub fn indexed_state_keypair(owner: &Keypair, index: u32) -> RecordKeypair {
    let seed = hash::sha256_parts(&[
        SEED_TAG,
        b"/indexed",
        &owner.secret_bytes(),
        &index.to_be_bytes(),
    ]);
    RecordKeypair::from_seed(&seed.0)
}

/// The index whose state record key is `key`, if `owner` made it (searching the first
/// [`MAX_STATE_INDEX`]).
pub fn find_state_index(owner: &Keypair, key: &RecordKey) -> Option<u32> {
    (0..MAX_STATE_INDEX).find(|i| indexed_state_keypair(owner, *i).key() == *key)
}

/// The first index whose state record key is not in `used`.
pub fn free_state_index(owner: &Keypair, used: &BTreeSet<RecordKey>) -> Option<u32> {
    (0..MAX_STATE_INDEX).find(|i| !used.contains(&indexed_state_keypair(owner, *i).key()))
}

/// Version `seq` of `owner`'s state record `rk` holding `state` (sealed for the owner).
pub fn state_record(
    owner: &Keypair,
    rk: &RecordKeypair,
    state: &ContractState,
    seq: u64,
    timestamp: u64,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<Record> {
    let data = state.encode()?;
    let invalid = |e: subspace_record::RecordError| NodeError::InvalidRecord(e.to_string());
    // The owner's grant binds the record key to the owner and the contract it charges.
    let grant = OwnerGrant::sign(owner, &rk.public(), &state.contract).map_err(invalid)?;
    RecordBuilder::new(state.contract, owner.public(), timestamp)
        .mutable(rk.public(), seq)
        .grant(grant)
        .data(data)
        .build(rk.keypair(), rng)
        .map_err(invalid)
}

/// The state in `record`, if it is `owner`'s state record `key` for `contract`.
pub fn open_state(
    owner: &Keypair,
    contract: &ContractId,
    key: &RecordKey,
    record: &Record,
) -> Result<ContractState> {
    if record.key() != *key || record.contract() != contract {
        return Err(NodeError::InvalidRecord(
            "not this contract's state record".into(),
        ));
    }
    let data = record
        .open(owner)
        .map_err(|e| NodeError::InvalidRecord(e.to_string()))?;
    let s = ContractState::decode(&data)?;
    if s.contract != *contract {
        return Err(NodeError::InvalidRecord(
            "the state names another contract".into(),
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::SeedableRng;

    fn key(i: u8) -> RecordKey {
        RecordKey::from_bytes([i; 32])
    }

    #[test]
    fn the_owner_writes_and_reads_its_state_and_nobody_else_can() {
        let owner = Keypair::from_seed(&[1; 32]);
        let other = Keypair::from_seed(&[2; 32]);
        let c = ContractId::from_bytes([9; 32]);
        let mut s = ContractState::new(c);
        s.record_put(key(1), 300);
        s.record_put(key(1), 300);
        s.record_put(key(2), 30);
        assert_eq!(s.bytes_used, 630);
        assert_eq!(s.keys, vec![key(1), key(2)]);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let rk = state_keypair(&owner, &c);
        let r = state_record(&owner, &rk, &s, 7, 1_700_000_000, &mut rng).unwrap();
        let key = rk.key();
        assert_eq!(r.key(), key);
        assert_eq!(r.seq(), Some(7));
        subspace_record::validate(&r).unwrap();
        assert_eq!(open_state(&owner, &c, &key, &r).unwrap(), s);
        // Another identity has another key and cannot open it; another contract is refused.
        assert_ne!(state_keypair(&other, &c).key(), key);
        assert!(open_state(&other, &c, &key, &r).is_err());
        assert!(open_state(&owner, &ContractId::from_bytes([8; 32]), &key, &r).is_err());
        assert_ne!(
            state_keypair(&owner, &ContractId::from_bytes([8; 32])).key(),
            key
        );
    }

    #[test]
    fn numbered_state_records_are_found_again_by_their_key() {
        let owner = Keypair::from_seed(&[1; 32]);
        let k5 = indexed_state_keypair(&owner, 5).key();
        assert_eq!(find_state_index(&owner, &k5), Some(5));
        assert_eq!(find_state_index(&Keypair::from_seed(&[2; 32]), &k5), None);
        let used: BTreeSet<RecordKey> = (0..3)
            .map(|i| indexed_state_keypair(&owner, i).key())
            .collect();
        assert_eq!(free_state_index(&owner, &used), Some(3));
        assert_ne!(
            k5,
            state_keypair(&owner, &ContractId::from_bytes([5; 32])).key()
        );
    }

    #[test]
    fn merging_keeps_the_older_keys_first_and_adds_the_bytes() {
        let c = ContractId::from_bytes([9; 32]);
        let mut old = ContractState::new(c);
        old.record_put(key(1), 10);
        old.record_put(key(2), 10);
        let mut new = ContractState::new(c);
        new.record_put(key(2), 5);
        new.record_put(key(3), 5);
        new.merge_older(&old);
        assert_eq!(new.bytes_used, 30);
        assert_eq!(new.keys, vec![key(1), key(2), key(3)]);
    }

    #[test]
    fn the_index_is_bounded_and_counts_what_it_drops() {
        let c = ContractId::from_bytes([9; 32]);
        let mut s = ContractState::new(c);
        for i in 0..(MAX_INDEX_KEYS as u64 + 5) {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&i.to_be_bytes());
            s.record_put(RecordKey::from_bytes(k), 1);
        }
        assert_eq!(s.keys.len(), MAX_INDEX_KEYS);
        assert_eq!(s.keys_dropped, 5);
        let back = ContractState::decode(&s.encode().unwrap()).unwrap();
        assert_eq!(back, s);
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_typed_result(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = ContractState::decode(&bytes);
        }

        #[test]
        fn states_round_trip(used in any::<u64>(), n in 0usize..64, dropped in any::<u64>()) {
            let mut s = ContractState::new(ContractId::from_bytes([4; 32]));
            s.bytes_used = used;
            s.keys_dropped = dropped;
            s.keys = (0..n).map(|i| key(i as u8)).collect();
            prop_assert_eq!(ContractState::decode(&s.encode().unwrap()).unwrap(), s);
        }
    }
}
