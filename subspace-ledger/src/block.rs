//! Block headers and blocks.

use serde::{Deserialize, Serialize};
use subspace_crypto::{BlockHash, Hash256, Keypair, PublicKey, Signature, codec, domain, hash};

use crate::economics::Cos;
use crate::tx::{Transaction, TxId};
use crate::{LedgerError, Result};

/// Hard cap on an encoded block (decoders refuse more before allocating).
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;
/// Hard cap on an encoded header.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A block header, signed by its farmer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Hash of the parent block (zero for genesis).
    pub parent: BlockHash,
    /// Height (genesis is 0).
    pub height: u64,
    /// Unix seconds, supplied by the farmer; at least parent + the proof's deadline.
    pub timestamp: u64,
    /// The challenge this block answers, derived from its ancestors.
    pub challenge: [u8; 32],
    /// Difficulty (expected number of competing proofs), from the retarget rule.
    pub difficulty: u64,
    /// The farmer's identity; its plots derive from it.
    pub farmer: PublicKey,
    /// Which of the farmer's plots answered (plot id = derive(farmer, plot_index)).
    pub plot_index: u64,
    /// Plot size parameter.
    pub k: u8,
    /// The proof of space bytes.
    pub proof: Vec<u8>,
    /// The proof's quality.
    pub quality: [u8; 32],
    /// Merkle root of the transaction ids.
    pub tx_root: Hash256,
    /// Cost of Storage after this block (`None`: network full or no hosts).
    pub cos: Option<Cos>,
    /// Bytes actually stored on the network, as the producer read it from contract states.
    pub stored_bytes: u64,
    /// The farmer's signature over everything above.
    pub signature: Signature,
}

impl BlockHeader {
    /// Bytes the farmer signs: the header with a zero signature.
    pub fn signing_bytes(&self) -> Result<Vec<u8>> {
        let mut h = self.clone();
        h.signature = Signature([0; 64]);
        Ok(codec::encode(&h)?)
    }

    /// Signs the header in place.
    pub fn sign(&mut self, farmer: &Keypair) -> Result<()> {
        self.signature = farmer.sign(domain::BLOCK_HEADER, &self.signing_bytes()?);
        Ok(())
    }

    /// Checks the farmer's signature.
    pub fn verify_signature(&self) -> Result<()> {
        self.farmer
            .verify(
                domain::BLOCK_HEADER,
                &self.signing_bytes()?,
                &self.signature,
            )
            .map_err(|_| LedgerError::BadSignature)
    }

    /// The block hash: SHA-256 of the signed header's encoding.
    pub fn hash(&self) -> Result<BlockHash> {
        Ok(BlockHash(hash::sha256(&codec::encode(self)?)))
    }

    /// Decodes a header from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<BlockHeader> {
        Ok(codec::decode_bounded::<BlockHeader, MAX_HEADER_BYTES>(
            bytes,
        )?)
    }
}

/// A block: header and transactions (coinbase first, nexus last if any).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// The block's hash (its header's).
    pub fn hash(&self) -> Result<BlockHash> {
        self.header.hash()
    }

    /// Encodes the block.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(codec::encode(self)?)
    }

    /// Decodes a block from untrusted bytes (at most [`MAX_BLOCK_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Block> {
        Ok(codec::decode_bounded::<Block, MAX_BLOCK_BYTES>(bytes)?)
    }

    /// The transaction ids, in block order.
    pub fn tx_ids(&self) -> Result<Vec<TxId>> {
        self.transactions.iter().map(Transaction::id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BlockHeader {
        let kp = Keypair::from_seed(&[3; 32]);
        let mut h = BlockHeader {
            parent: BlockHash::from_bytes([1; 32]),
            height: 7,
            timestamp: 1_700_000_000,
            challenge: [2; 32],
            difficulty: 64,
            farmer: kp.public(),
            plot_index: 1,
            k: 12,
            proof: vec![9; 8],
            quality: [4; 32],
            tx_root: Hash256([5; 32]),
            cos: Some(Cos(1 << 40)),
            stored_bytes: 1000,
            signature: Signature([0; 64]),
        };
        h.sign(&kp).unwrap();
        h
    }

    #[test]
    fn signature_covers_every_field() {
        let h = header();
        assert!(h.verify_signature().is_ok());
        let mut t = h.clone();
        t.timestamp += 1;
        assert_eq!(t.verify_signature(), Err(LedgerError::BadSignature));
        let mut c = h.clone();
        c.cos = Some(Cos(1));
        assert_eq!(c.verify_signature(), Err(LedgerError::BadSignature));
        assert_ne!(t.hash().unwrap(), h.hash().unwrap());
    }

    #[test]
    fn header_round_trips_and_refuses_trailing_bytes() {
        let h = header();
        let bytes = codec::encode(&h).unwrap();
        assert_eq!(BlockHeader::decode(&bytes).unwrap(), h);
        let mut more = bytes.clone();
        more.push(0);
        assert!(matches!(
            BlockHeader::decode(&more),
            Err(LedgerError::Decode(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700)) {
            let _ = Block::decode(&bytes);
            let _ = BlockHeader::decode(&bytes);
        }
    }
}
