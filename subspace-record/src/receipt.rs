//! Receipts: a host's signed statement "I hold my own replica of record K, whose hash is X,
//! under contract C, at time T".
//!
//! Receipts are the proofs DHT announces carry, what a contract-state record counts, and
//! what a fault cites. Format: `0x01 || codec(host, record, replica_hash, contract,
//! timestamp, signature)`; the signature (domain
//! [`RECEIPT`](subspace_crypto::domain::RECEIPT)) covers the same bytes without the signature.
//!
//! ```
//! use subspace_crypto::{ContractId, Hash256, Keypair, RecordKey};
//! use subspace_record::Receipt;
//! let host = Keypair::from_seed(&[9; 32]);
//! let r = Receipt::new(&host, RecordKey::from_bytes([1; 32]), Hash256([2; 32]),
//!                      ContractId::from_bytes([3; 32]), 1_700_000_000)?;
//! let bytes = r.encode()?;
//! let back = Receipt::decode(&bytes)?;
//! back.verify()?;
//! assert_eq!(back, r);
//! # Ok::<(), subspace_record::RecordError>(())
//! ```

use serde::{Deserialize, Serialize};
use subspace_crypto::{
    ContractId, Hash256, Keypair, NodeId, PublicKey, RecordKey, Signature, codec, domain,
};

use crate::{RecordError, Result};

/// The format version byte that starts every encoded receipt.
pub const RECEIPT_VERSION: u8 = 1;
/// The exact length of an encoded receipt.
pub const RECEIPT_LEN: usize = 1 + 32 + 32 + 32 + 32 + 8 + 64;

/// A host's signed statement that it holds its own replica of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    host: PublicKey,
    record: RecordKey,
    replica_hash: Hash256,
    contract: ContractId,
    timestamp: u64,
    signature: Signature,
}

#[derive(Serialize)]
struct Signed<'a> {
    host: &'a PublicKey,
    record: &'a RecordKey,
    replica_hash: &'a Hash256,
    contract: &'a ContractId,
    timestamp: u64,
}

fn signed_bytes(
    host: &PublicKey,
    record: &RecordKey,
    replica_hash: &Hash256,
    contract: &ContractId,
    timestamp: u64,
) -> Result<Vec<u8>> {
    let mut out = vec![RECEIPT_VERSION];
    codec::encode_into(
        &Signed {
            host,
            record,
            replica_hash,
            contract,
            timestamp,
        },
        &mut out,
    )?;
    Ok(out)
}

impl Receipt {
    /// Signs a receipt as `host` for its replica of `record` (hash `replica_hash`) under
    /// `contract` at `timestamp` (Unix seconds, from the caller).
    pub fn new(
        host: &Keypair,
        record: RecordKey,
        replica_hash: Hash256,
        contract: ContractId,
        timestamp: u64,
    ) -> Result<Receipt> {
        let host_pk = host.public();
        let msg = signed_bytes(&host_pk, &record, &replica_hash, &contract, timestamp)?;
        Ok(Receipt {
            host: host_pk,
            record,
            replica_hash,
            contract,
            timestamp,
            signature: host.sign(domain::RECEIPT, &msg),
        })
    }

    /// Checks the host's signature ([`RecordError::BadReceipt`] if it does not verify).
    pub fn verify(&self) -> Result<()> {
        let msg = signed_bytes(
            &self.host,
            &self.record,
            &self.replica_hash,
            &self.contract,
            self.timestamp,
        )?;
        self.host
            .verify(domain::RECEIPT, &msg, &self.signature)
            .map_err(|_| RecordError::BadReceipt)
    }

    /// Encodes the receipt ([`RECEIPT_LEN`] bytes).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(RECEIPT_LEN);
        out.push(RECEIPT_VERSION);
        codec::encode_into(self, &mut out)?;
        Ok(out)
    }

    /// Decodes a receipt (the signature is checked by [`verify`](Self::verify)).
    pub fn decode(bytes: &[u8]) -> Result<Receipt> {
        let (&version, body) = bytes
            .split_first()
            .ok_or(RecordError::Decode("empty input".into()))?;
        if version != RECEIPT_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        codec::decode_bounded::<Receipt, RECEIPT_LEN>(body)
            .map_err(|e| RecordError::Decode(e.to_string()))
    }

    /// The host's identity.
    pub fn host(&self) -> &PublicKey {
        &self.host
    }

    /// The host's node id.
    pub fn host_id(&self) -> NodeId {
        NodeId::from_public_key(&self.host)
    }

    /// The record the host holds.
    pub fn record(&self) -> &RecordKey {
        &self.record
    }

    /// The hash of the host's own (encoded) replica.
    pub fn replica_hash(&self) -> &Hash256 {
        &self.replica_hash
    }

    /// The contract the replica is held under.
    pub fn contract(&self) -> &ContractId {
        &self.contract
    }

    /// When the host signed (Unix seconds).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The host's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Receipt {
        Receipt::new(
            &Keypair::from_seed(&[9; 32]),
            RecordKey::from_bytes([1; 32]),
            Hash256([2; 32]),
            ContractId::from_bytes([3; 32]),
            1_700_000_000,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_length() {
        let r = sample();
        let bytes = r.encode().unwrap();
        assert_eq!(bytes.len(), RECEIPT_LEN);
        let back = Receipt::decode(&bytes).unwrap();
        assert_eq!(back, r);
        back.verify().unwrap();
        assert_eq!(back.host_id(), Keypair::from_seed(&[9; 32]).node_id());
    }

    #[test]
    fn golden_vector() {
        let bytes = sample().encode().unwrap();
        assert_eq!(
            subspace_crypto::hex::encode(&bytes),
            GOLDEN,
            "the receipt format changed: bump RECEIPT_VERSION and the domain tag"
        );
    }

    const GOLDEN: &str = concat!(
        "01",
        "fd1724385aa0c75b64fb78cd602fa1d991fdebf76b13c58ed702eac835e9f618",
        "0101010101010101010101010101010101010101010101010101010101010101",
        "0202020202020202020202020202020202020202020202020202020202020202",
        "0303030303030303030303030303030303030303030303030303030303030303",
        "000000006553f100",
        "7edc43e83a17533b6bcb6737c7e836ed729ea81d4161fdb59ec8b3e4679d96daffc368a441f978690727ba2eb6307f73f4fcdd214a40fb3b0be5c757067d5808",
    );

    #[test]
    fn wrong_version_and_trailing_bytes() {
        let mut bytes = sample().encode().unwrap();
        bytes[0] = 2;
        assert_eq!(Receipt::decode(&bytes), Err(RecordError::UnknownVersion(2)));
        let mut bytes = sample().encode().unwrap();
        bytes.push(0);
        assert!(Receipt::decode(&bytes).is_err());
        assert!(Receipt::decode(&[]).is_err());
    }

    proptest! {
        #[test]
        fn any_flipped_bit_fails(pos in 0usize..RECEIPT_LEN, bit in 0u8..8) {
            let mut bytes = sample().encode().unwrap();
            bytes[pos] ^= 1 << bit;
            let bad = Receipt::decode(&bytes).and_then(|r| r.verify());
            prop_assert!(bad.is_err());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Receipt::decode(&bytes).map(|r| r.verify());
        }
    }
}
