//! The chain as a series of linked immutable records on SSDB ("SSCL is also stored on SSDB as
//! a series of linked immutable records").
//!
//! Each block's archive record is a public immutable record under [`ARCHIVE_CONTRACT`], owned
//! and signed by the block's farmer, whose data is an [`ArchivedBlock`]: the block and the
//! archive key of its parent. An immutable record's key is the digest of its data, so every
//! node computes the archive key of every block it holds ([`archive_key`]), and from the key
//! of a tip anyone can fetch the history backwards from any holder, record by record, without
//! asking a chain peer. The farmer of a block stores its record (with R replicas, like any
//! put) once the block is on its best chain; hosts accept such records only from farmers of
//! recent blocks and only up to the largest block size.

use serde::{Deserialize, Serialize};
use subspace_crypto::{ContractId, Keypair, RecordKey, codec};
use subspace_ledger::Block;
use subspace_record::{Payload, Record, RecordBuilder};

use crate::{NodeError, Result};

/// The contract archive records are stored under (no ledger contract: hosts accept these
/// records from recent farmers, see [`crate::ChainLedger`]).
pub const ARCHIVE_CONTRACT: ContractId =
    ContractId::from_bytes(*b"subspace/chain-archive/v1\0\0\0\0\0\0\0");

/// Largest archive record data: a record's data limit (a block above it is not archived).
pub const MAX_ARCHIVE_DATA: usize = subspace_record::MAX_DATA_LEN;

/// The data of one archive record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedBlock {
    /// The block, in its canonical encoding.
    pub block: Vec<u8>,
    /// The archive key of the parent block (`None` for genesis).
    pub parent: Option<RecordKey>,
}

impl ArchivedBlock {
    /// The record data: the canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(codec::encode(self)?)
    }

    /// Decodes untrusted record data (bounded; typed errors).
    pub fn decode(bytes: &[u8]) -> Result<ArchivedBlock> {
        Ok(codec::decode_bounded::<ArchivedBlock, MAX_ARCHIVE_DATA>(
            bytes,
        )?)
    }

    /// The block it holds.
    pub fn block(&self) -> Result<Block> {
        Block::decode(&self.block).map_err(|e| NodeError::InvalidRecord(e.to_string()))
    }
}

/// The archive key of `block` whose parent's archive key is `parent`: the key of the public
/// immutable record holding them (the digest of its data).
pub fn archive_key(block: &Block, parent: Option<RecordKey>) -> Result<RecordKey> {
    let data = archive_data(block, parent)?;
    Ok(RecordKey::from_bytes(
        *Payload::Plain(data).digest().as_bytes(),
    ))
}

/// The data of `block`'s archive record.
fn archive_data(block: &Block, parent: Option<RecordKey>) -> Result<Vec<u8>> {
    ArchivedBlock {
        block: block
            .encode()
            .map_err(|e| NodeError::InvalidRecord(e.to_string()))?,
        parent,
    }
    .encode()
}

/// The archive record of `block`, signed by its farmer.
pub fn archive_record(
    farmer: &Keypair,
    block: &Block,
    parent: Option<RecordKey>,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<Record> {
    let data = archive_data(block, parent)?;
    RecordBuilder::new(ARCHIVE_CONTRACT, farmer.public(), block.header.timestamp)
        .data(data)
        .public()
        .build(farmer, rng)
        .map_err(|e| NodeError::InvalidRecord(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::SeedableRng;
    use subspace_ledger::{ConsensusParams, GenesisBuilder};

    #[test]
    fn the_record_key_is_the_archive_key_and_the_data_round_trips() {
        let kp = Keypair::from_seed(&[4; 32]);
        let g = GenesisBuilder::new(1_700_000_000, [1; 32])
            .allocate(&kp.public(), 9)
            .build(&ConsensusParams::default(), &kp)
            .unwrap();
        let parent = Some(RecordKey::from_bytes([3; 32]));
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let r = archive_record(&kp, &g, parent, &mut rng).unwrap();
        assert_eq!(r.key(), archive_key(&g, parent).unwrap());
        assert_ne!(r.key(), archive_key(&g, None).unwrap());
        let data = match r.payload() {
            Payload::Plain(d) => d.clone(),
            Payload::Sealed(_) => panic!("archive records are public"),
        };
        let a = ArchivedBlock::decode(&data).unwrap();
        assert_eq!(a.parent, parent);
        assert_eq!(a.block().unwrap(), g);
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_typed_result(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = ArchivedBlock::decode(&bytes);
        }
    }
}
