//! The record: what clients store, hosts hold and everyone validates byte for byte.
//!
//! ## Format (version 2)
//!
//! `0x02 || codec(Record)`, with the fields in this order: kind (`Immutable`, or `Mutable`
//! with the record public key, `seq`, the owner grant and the delegations), contract id,
//! owner, timestamp (u64 Unix seconds from the caller), ACL, keychain (wrapped content keys,
//! sorted by recipient), payload, signer, signature.
//!
//! The signature (domain [`RECORD`](subspace_crypto::domain::RECORD)) covers
//! `0x02 || codec(kind, contract, owner, timestamp, acl, keychain, signer, payload digest)`,
//! where the payload digest is SHA-256 of the payload's canonical encoding
//! ([`Payload::digest`]). The kind includes the grant and the delegations, so neither can be
//! swapped. An immutable record's key is that same digest, so the data is hashed once and
//! never re-encoded to be signed. A mutable record's key is SHA-256 of its record public key.
//!
//! Version 1 had no owner grant and no delegations: any key a version's own ACL named could
//! sign it (see [`authority`](crate::authority)).

use serde::{Deserialize, Serialize};
use subspace_crypto::{
    ContentKey, ContractId, Hash256, Keypair, PublicKey, RecordKey, Signature, WrappedKey, codec,
    hash, unwrap_key,
};

use crate::acl::{Acl, MAX_ACL_LEN, Role};
use crate::authority::{Delegation, OwnerGrant};
use crate::payload::Payload;
use crate::{MAX_DATA_LEN, RecordError, Result};

/// The format version byte that starts every encoded record (and every signed statement
/// about one: record, owner grant, delegation).
pub const FORMAT_VERSION: u8 = 2;

/// The largest encoded record accepted: 1 MiB of data plus room for the header, a full ACL,
/// a full keychain and segment framing (all far below 64 KiB).
pub const MAX_RECORD_LEN: usize = MAX_DATA_LEN + 64 * 1024;

/// Immutable or mutable, with what a mutable record needs.
// The kind only ever lives inside a `Record` (itself hundreds of bytes with its ACL, keychain
// and payload headers): boxing the mutable variant would cost an allocation per decode and
// save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordKind {
    /// Stored under SHA-256 of its payload; signed by its owner; never changes.
    Immutable,
    /// Stored under SHA-256 of `record_public`; new versions carry a greater `seq`.
    Mutable {
        /// The public key generated for this record alone; its holder may always write.
        record_public: PublicKey,
        /// The version number; a newer version has a strictly greater one.
        seq: u64,
        /// The owner's signature binding `record_public` to the owner and the contract.
        grant: OwnerGrant,
        /// The record key's delegations to the identities that may sign versions, sorted by
        /// delegate, at most one each.
        delegations: Vec<Delegation>,
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
    /// the segment layout, the ACL's order and bounds, the owner being an Admin, the
    /// delegations' order, bounds and roles, and the keychain holding exactly one wrapped key
    /// per reader.
    pub(crate) fn check_structure(&self) -> Result<()> {
        self.payload.check()?;
        self.acl.check()?;
        if self.acl.role(&self.owner) != Some(Role::Admin) {
            return Err(RecordError::Malformed(
                "the owner must be an Admin on the ACL",
            ));
        }
        let record_public = match &self.kind {
            RecordKind::Mutable {
                record_public,
                delegations,
                ..
            } => {
                if self.acl.role(record_public).is_some() {
                    return Err(RecordError::Malformed(
                        "the record key cannot be on its ACL",
                    ));
                }
                check_delegations(delegations, &self.acl)?;
                Some(*record_public)
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

    /// The owner's grant of a mutable record (`None` for an immutable one).
    pub fn grant(&self) -> Option<&OwnerGrant> {
        match &self.kind {
            RecordKind::Mutable { grant, .. } => Some(grant),
            RecordKind::Immutable => None,
        }
    }

    /// The record key's delegations a mutable record carries, sorted by delegate (empty for an
    /// immutable record).
    pub fn delegations(&self) -> &[Delegation] {
        match &self.kind {
            RecordKind::Mutable { delegations, .. } => delegations,
            RecordKind::Immutable => &[],
        }
    }

    /// The delegation this record carries for `identity`, if any.
    pub fn delegation(&self, identity: &PublicKey) -> Option<&Delegation> {
        find_delegation(self.delegations(), identity)
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

/// The delegation for `identity` in a sorted list.
pub(crate) fn find_delegation<'d>(
    delegations: &'d [Delegation],
    identity: &PublicKey,
) -> Option<&'d Delegation> {
    delegations
        .binary_search_by(|d| d.delegate.cmp(identity))
        .ok()
        .map(|i| &delegations[i])
}

/// The structural rules of a delegation list: bounded by the ACL size, sorted by delegate with
/// no duplicates, each Write or Admin, each delegate on the ACL with at least that role.
fn check_delegations(delegations: &[Delegation], acl: &Acl) -> Result<()> {
    if delegations.len() > MAX_ACL_LEN {
        return Err(RecordError::Malformed("too many delegations"));
    }
    if delegations
        .windows(2)
        .any(|w| w[0].delegate >= w[1].delegate)
    {
        return Err(RecordError::Malformed(
            "delegations not sorted or have duplicates",
        ));
    }
    for d in delegations {
        if d.role < Role::Write {
            return Err(RecordError::Malformed("a delegation grants Write or Admin"));
        }
        if !acl.allows(&d.delegate, d.role) {
            return Err(RecordError::Malformed(
                "a delegate must hold at least its delegated role on the ACL",
            ));
        }
    }
    Ok(())
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
    let kind_len = match &record.kind {
        RecordKind::Immutable => 4,
        // tag + record key + seq + grant + delegations (len + 108 each)
        RecordKind::Mutable { delegations, .. } => {
            4 + 32 + 8 + 64 + 8 + 108 * delegations.len() as u64
        }
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
    use crate::{Delegation, OwnerGrant, RecordBuilder, RecordKeypair};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn encoded_len_matches_the_encoding() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let o = Keypair::generate(&mut rng);
        let f = Keypair::generate(&mut rng);
        let rk = RecordKeypair::generate(&mut rng);
        let c = ContractId::from_bytes([2; 32]);
        let grant = OwnerGrant::sign(&o, &rk.public(), &c).unwrap();
        for len in [0usize, 10, 70_000, MAX_DATA_LEN] {
            let data = vec![1u8; len];
            let b = || {
                RecordBuilder::new(c, o.public(), 5)
                    .data(&data[..])
                    .share(f.public(), Role::Write)
            };
            let recs = [
                b().build(&o, &mut rng).unwrap(),
                b().mutable(rk.public(), 3)
                    .grant(grant)
                    .build(&f, &mut rng)
                    .unwrap(),
                // Two delegations (owner and writer).
                b().mutable(rk.public(), 3)
                    .grant(grant)
                    .build(rk.keypair(), &mut rng)
                    .unwrap(),
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
        let c = ContractId::from_bytes([2; 32]);
        let r = RecordBuilder::new(c, o.public(), 5)
            .mutable(rk.public(), 0)
            .grant(OwnerGrant::sign(&o, &rk.public(), &c).unwrap())
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

    #[test]
    fn delegation_structure_rules() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let o = Keypair::generate(&mut rng);
        let w = Keypair::generate(&mut rng);
        let reader = Keypair::generate(&mut rng);
        let rk = RecordKeypair::generate(&mut rng);
        let c = ContractId::from_bytes([2; 32]);
        let r = RecordBuilder::new(c, o.public(), 5)
            .mutable(rk.public(), 0)
            .grant(OwnerGrant::sign(&o, &rk.public(), &c).unwrap())
            .share(w.public(), Role::Write)
            .share(reader.public(), Role::Read)
            .build(rk.keypair(), &mut rng)
            .unwrap();
        r.check_structure().unwrap();
        // The builder delegated to the owner (Admin) and the writer (Write), not the reader.
        assert_eq!(r.delegations().len(), 2);
        assert_eq!(r.delegation(&o.public()).unwrap().role(), Role::Admin);
        assert_eq!(r.delegation(&w.public()).unwrap().role(), Role::Write);
        assert!(r.delegation(&reader.public()).is_none());
        let issue = |who: &Keypair, role| {
            Delegation::issue(rk.keypair(), who.public(), role, 9, &o.public(), &c).unwrap()
        };
        let with = |f: &dyn Fn(&mut Vec<Delegation>)| {
            let mut bad = r.clone();
            if let RecordKind::Mutable { delegations, .. } = &mut bad.kind {
                f(delegations);
            }
            bad.check_structure()
        };
        // Unsorted, duplicated, to a reader, above the ACL role, to a stranger, or too many.
        assert!(with(&|d| d.reverse()).is_err());
        assert!(with(&|d| d.push(d[d.len() - 1])).is_err());
        let mut to_reader = issue(&reader, Role::Write);
        assert!(
            with(&|d| {
                d.push(to_reader);
                d.sort_by_key(|x| x.delegate)
            })
            .is_err()
        );
        to_reader.role = Role::Read;
        assert!(
            with(&|d| {
                d.push(to_reader);
                d.sort_by_key(|x| x.delegate)
            })
            .is_err()
        );
        let promoted = issue(&w, Role::Admin);
        assert!(
            with(&|d| {
                d.retain(|x| x.delegate != w.public());
                d.push(promoted);
                d.sort_by_key(|x| x.delegate)
            })
            .is_err()
        );
        let stranger = issue(&Keypair::generate(&mut rng), Role::Write);
        assert!(
            with(&|d| {
                d.push(stranger);
                d.sort_by_key(|x| x.delegate)
            })
            .is_err()
        );
        assert!(with(&|d| d.extend(std::iter::repeat_n(d[0], MAX_ACL_LEN))).is_err());
    }
}
