//! The record: what clients store, hosts hold and everyone validates byte for byte.
//!
//! ## Format (version 1)
//!
//! `0x01 || codec(Record)`, with the fields in this order: kind (`Immutable`, or `Mutable`
//! with the record public key and `seq`), contract id, owner, timestamp (u64 Unix seconds from
//! the caller), ACL, keychain (wrapped content keys, sorted by recipient), payload, signer,
//! signature.
//!
//! The signature (domain [`RECORD`](subspace_crypto::domain::RECORD)) covers
//! `0x01 || codec(kind, contract, owner, timestamp, acl, keychain, signer, payload digest)`,
//! where the payload digest is SHA-256 of the payload's canonical encoding
//! ([`Payload::digest`]). An immutable record's key is that same digest, so the data is hashed
//! once and never re-encoded to be signed. A mutable record's key is SHA-256 of its record
//! public key.

use serde::{Deserialize, Serialize};
use subspace_crypto::{
    ContentKey, ContractId, Hash256, Keypair, PublicKey, RecordKey, Signature, WrappedKey, codec,
    hash, unwrap_key,
};

use crate::acl::{Acl, MAX_ACL_LEN, Role};
use crate::payload::Payload;
use crate::{MAX_DATA_LEN, RecordError, Result};

/// The format version byte that starts every encoded record.
pub const FORMAT_VERSION: u8 = 1;

/// The largest encoded record accepted: 1 MiB of data plus room for the header, a full ACL,
/// a full keychain and segment framing (all far below 64 KiB).
pub const MAX_RECORD_LEN: usize = MAX_DATA_LEN + 64 * 1024;

/// Immutable or mutable, with what a mutable record needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    /// Stored under SHA-256 of its payload; signed by its owner; never changes.
    Immutable,
    /// Stored under SHA-256 of `record_public`; new versions carry a greater `seq`.
    Mutable {
        /// The public key generated for this record alone; its holder may always write.
        record_public: PublicKey,
        /// The version number; a newer version has a strictly greater one.
        seq: u64,
    },
}

/// A stored record, immutable or mutable, sealed or public.
///
/// Obtain one from [`RecordBuilder`](crate::RecordBuilder) or [`Record::decode`]; check one
/// from the network with [`validate`](crate::validate) before trusting anything in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub(crate) kind: RecordKind,
    pub(crate) contract: ContractId,
    pub(crate) owner: PublicKey,
    pub(crate) timestamp: u64,
    pub(crate) acl: Acl,
    pub(crate) keychain: Vec<WrappedKey>,
    pub(crate) payload: Payload,
    pub(crate) signer: PublicKey,
    pub(crate) signature: Signature,
}

/// The signed view of a record: everything but the signature, with the payload as a digest.
#[derive(Serialize)]
struct Signed<'a> {
    kind: &'a RecordKind,
    contract: &'a ContractId,
    owner: &'a PublicKey,
    timestamp: u64,
    acl: &'a Acl,
    keychain: &'a [WrappedKey],
    signer: &'a PublicKey,
    payload_digest: Hash256,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn signed_bytes(
    kind: &RecordKind,
    contract: &ContractId,
    owner: &PublicKey,
    timestamp: u64,
    acl: &Acl,
    keychain: &[WrappedKey],
    signer: &PublicKey,
    payload_digest: Hash256,
) -> Result<Vec<u8>> {
    let mut out = vec![FORMAT_VERSION];
    codec::encode_into(
        &Signed {
            kind,
            contract,
            owner,
            timestamp,
            acl,
            keychain,
            signer,
            payload_digest,
        },
        &mut out,
    )?;
    Ok(out)
}

/// The key of a mutable record: SHA-256 of its record public key.
pub fn mutable_key(record_public: &PublicKey) -> RecordKey {
    RecordKey(hash::sha256(&record_public.to_bytes()))
}

impl Record {
    /// Encodes the record: the version byte, then the canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.payload.plaintext_len() + 4096);
        out.push(FORMAT_VERSION);
        codec::encode_into(self, &mut out)?;
        Ok(out)
    }

    /// Decodes a record and checks its structure (sizes, sorted lists, segment layout, key
    /// set). Signatures and keys are checked by [`validate`](crate::validate).
    ///
    /// Any byte string gives either a record or an error, without panicking and without
    /// allocating more than [`MAX_RECORD_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<Record> {
        let (&version, body) = bytes
            .split_first()
            .ok_or(RecordError::Decode("empty input".into()))?;
        if version != FORMAT_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        let record: Record = codec::decode_bounded::<Record, MAX_RECORD_LEN>(body)
            .map_err(|e| RecordError::Decode(e.to_string()))?;
        record.check_structure()?;
        Ok(record)
    }

    /// Checks every rule that needs neither a signature check nor a hash: the size limit,
    /// the segment layout, the ACL's order and bounds, the owner being an Admin, and the
    /// keychain holding exactly one wrapped key per reader.
    pub(crate) fn check_structure(&self) -> Result<()> {
        self.payload.check()?;
        self.acl.check()?;
        if self.acl.role(&self.owner) != Some(Role::Admin) {
            return Err(RecordError::Malformed(
                "the owner must be an Admin on the ACL",
            ));
        }
        let record_public = match self.kind {
            RecordKind::Mutable { record_public, .. } => {
                if self.acl.role(&record_public).is_some() {
                    return Err(RecordError::Malformed(
                        "the record key cannot be on its ACL",
                    ));
                }
                Some(record_public)
            }
            RecordKind::Immutable => None,
        };
        match &self.payload {
            Payload::Plain(_) => {
                if !self.keychain.is_empty() {
                    return Err(RecordError::Malformed("a public record has no keychain"));
                }
                if self.acl.entries().iter().any(|e| e.role == Role::Read) {
                    return Err(RecordError::Malformed(
                        "a public record has no Read entries",
                    ));
                }
            }
            Payload::Sealed(_) => {
                // Exactly the ACL identities plus the record key, sorted, each once.
                let mut expected: Vec<PublicKey> =
                    self.acl.entries().iter().map(|e| e.identity).collect();
                expected.extend(record_public);
                expected.sort();
                if self.keychain.len() != expected.len()
                    || self
                        .keychain
                        .iter()
                        .zip(&expected)
                        .any(|(w, pk)| w.recipient != *pk)
                {
                    return Err(RecordError::Malformed(
                        "keychain must hold one key per ACL identity and the record key",
                    ));
                }
            }
        }
        debug_assert!(self.keychain.len() <= MAX_ACL_LEN + 1);
        Ok(())
    }

    /// The bytes the signature covers (computes the payload digest).
    pub(crate) fn signed_bytes(&self, payload_digest: Hash256) -> Result<Vec<u8>> {
        signed_bytes(
            &self.kind,
            &self.contract,
            &self.owner,
            self.timestamp,
            &self.acl,
            &self.keychain,
            &self.signer,
            payload_digest,
        )
    }

    /// The key this record is stored under. For an immutable record this hashes the payload;
    /// [`validate`](crate::validate) returns the same key after checking everything.
    pub fn key(&self) -> RecordKey {
        match &self.kind {
            RecordKind::Immutable => RecordKey(self.payload.digest()),
            RecordKind::Mutable { record_public, .. } => mutable_key(record_public),
        }
    }

    /// Immutable or mutable.
    pub fn kind(&self) -> &RecordKind {
        &self.kind
    }

    /// Whether this is a mutable record.
    pub fn is_mutable(&self) -> bool {
        matches!(self.kind, RecordKind::Mutable { .. })
    }

    /// The version number of a mutable record (`None` for an immutable one).
    pub fn seq(&self) -> Option<u64> {
        match self.kind {
            RecordKind::Mutable { seq, .. } => Some(seq),
            RecordKind::Immutable => None,
        }
    }

    /// The record public key of a mutable record.
    pub fn record_public(&self) -> Option<&PublicKey> {
        match &self.kind {
            RecordKind::Mutable { record_public, .. } => Some(record_public),
            RecordKind::Immutable => None,
        }
    }

    /// The data contract this record is stored under.
    pub fn contract(&self) -> &ContractId {
        &self.contract
    }

    /// The identity that owns the record (always an Admin).
    pub fn owner(&self) -> &PublicKey {
        &self.owner
    }

    /// The caller-supplied timestamp (Unix seconds).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Who may read, write and administer the record.
    pub fn acl(&self) -> &Acl {
        &self.acl
    }

    /// The wrapped content keys, one per reader and the record key, sorted by recipient.
    pub fn keychain(&self) -> &[WrappedKey] {
        &self.keychain
    }

    /// The stored data (plaintext or sealed segments).
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// Whether the data is public (built with `.public()`).
    pub fn is_public(&self) -> bool {
        self.payload.is_plain()
    }

    /// Length of the plaintext data.
    pub fn data_len(&self) -> usize {
        self.payload.plaintext_len()
    }

    /// Who signed this version.
    pub fn signer(&self) -> &PublicKey {
        &self.signer
    }

    /// The signature over the record.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Recovers the content key with a keypair on the keychain.
    pub fn content_key(&self, keypair: &Keypair) -> Result<ContentKey> {
        let me = keypair.public();
        let i = self
            .keychain
            .binary_search_by(|w| w.recipient.cmp(&me))
            .map_err(|_| RecordError::NotARecipient)?;
        unwrap_key(&self.keychain[i], keypair).map_err(|_| RecordError::NotARecipient)
    }

    /// Opens the data: anyone for a public record, a keypair on the keychain for a sealed
    /// one ([`RecordError::NotARecipient`] otherwise). Does not check the signature: call
    /// [`validate`](crate::validate) first on records from elsewhere.
    pub fn open(&self, keypair: &Keypair) -> Result<Vec<u8>> {
        match &self.payload {
            Payload::Plain(d) => Ok(d.clone()),
            Payload::Sealed(_) => self.open_with_key(&self.content_key(keypair)?),
        }
    }

    /// Opens the data with a content key obtained elsewhere (an SSFS manifest or folder
    /// carries the keys of what it lists).
    pub fn open_with_key(&self, key: &ContentKey) -> Result<Vec<u8>> {
        match &self.payload {
            Payload::Plain(d) => Ok(d.clone()),
            Payload::Sealed(s) => s.open(key),
        }
    }
}

/// The length of `record`'s encoding, computed without encoding the data.
pub(crate) fn encoded_len(record: &Record) -> u64 {
    use crate::payload::Payload as P;
    let data_len: u64 = match &record.payload {
        // tag + length + bytes
        P::Plain(d) => 4 + 8 + d.len() as u64,
        // tag + aead + prefix + count + per segment (length + bytes)
        P::Sealed(s) => {
            4 + 4 + 8 + 8 + s.segments().iter().map(|x| 8 + x.len() as u64).sum::<u64>()
        }
    };
    let kind_len = match record.kind {
        RecordKind::Immutable => 4,
        RecordKind::Mutable { .. } => 4 + 32 + 8,
    };
    // version + kind + contract + owner + timestamp + acl (len + 36 each)
    // + keychain (len + 112 each) + payload + signer + signature
    1 + kind_len
        + 32
        + 32
        + 8
        + 8
        + 36 * record.acl.len() as u64
        + 8
        + 112 * record.keychain.len() as u64
        + data_len
        + 32
        + 64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RecordBuilder, RecordKeypair};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn encoded_len_matches_the_encoding() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let o = Keypair::generate(&mut rng);
        let f = Keypair::generate(&mut rng);
        let rk = RecordKeypair::generate(&mut rng);
        for len in [0usize, 10, 70_000, MAX_DATA_LEN] {
            let data = vec![1u8; len];
            let b = || {
                RecordBuilder::new(ContractId::from_bytes([2; 32]), o.public(), 5)
                    .data(&data[..])
                    .share(f.public(), Role::Write)
            };
            let recs = [
                b().build(&o, &mut rng).unwrap(),
                b().mutable(rk.public(), 3).build(&f, &mut rng).unwrap(),
                b().public().build(&o, &mut rng).unwrap(),
            ];
            for r in recs {
                assert_eq!(encoded_len(&r), r.encode().unwrap().len() as u64);
            }
        }
    }

    #[test]
    fn structure_rules() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let o = Keypair::generate(&mut rng);
        let f = Keypair::generate(&mut rng);
        let rk = RecordKeypair::generate(&mut rng);
        let r = RecordBuilder::new(ContractId::from_bytes([2; 32]), o.public(), 5)
            .mutable(rk.public(), 0)
            .share(f.public(), Role::Read)
            .build(&o, &mut rng)
            .unwrap();
        r.check_structure().unwrap();
        // A keychain missing a reader, or with an extra one, is malformed.
        let mut missing = r.clone();
        missing.keychain.pop();
        assert!(missing.check_structure().is_err());
        let mut extra = r.clone();
        extra.keychain.push(r.keychain[0].clone());
        assert!(extra.check_structure().is_err());
        // The owner must stay an Admin.
        let mut demoted = r.clone();
        demoted.acl.set(o.public(), Role::Write).unwrap();
        assert!(demoted.check_structure().is_err());
        // The record key cannot sit on its own ACL.
        let mut self_listed = r.clone();
        self_listed.acl.set(rk.public(), Role::Read).unwrap();
        assert!(self_listed.check_structure().is_err());
    }
}
