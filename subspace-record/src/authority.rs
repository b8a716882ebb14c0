//! Mutable-record authority, rooted in the record key.
//!
//! A mutable version is believed from its own bytes only through a chain of signatures that
//! starts at the record key (the key its storage key is the hash of):
//!
//! - the **owner grant** ([`OwnerGrant`]): the owner's signature binding the record key to the
//!   owner and the data contract, so a record cannot name an owner (and charge its contract)
//!   without that owner having said so;
//! - a **delegation** ([`Delegation`]): the record key's signature letting one identity write
//!   (or administer) the record up to a `max_seq`; a version signed by anyone but the record
//!   key is valid only if it carries the signer's delegation.
//!
//! Without them, a stranger could publish `{record key: the victim's, ACL: {stranger: Write},
//! seq: u64::MAX}` signed by its own key: a client with no earlier copy would believe it, and
//! the real writers could never publish a higher seq.
//!
//! ## Signed bytes
//!
//! Both are signed in the record domain ([`RECORD`](subspace_crypto::domain::RECORD)) over the
//! record [`FORMAT_VERSION`] byte, a kind tag, and the codec encoding of what they bind:
//!
//! - grant: `FORMAT_VERSION || b"owner-grant" || codec(record_public, owner, contract)`;
//! - delegation: `FORMAT_VERSION || b"delegation" || codec(record_public, delegate, role,
//!   max_seq, owner, contract)`.
//!
//! A record's own signed bytes continue `FORMAT_VERSION` with a `u32` enum tag (first byte
//! `0x00`), and the two kind tags start with different letters, so none of the three can be
//! read as another.

use serde::{Deserialize, Serialize};
use subspace_crypto::{ContractId, Keypair, PublicKey, Signature, codec, domain};

use crate::acl::Role;
use crate::record::FORMAT_VERSION;
use crate::{RecordError, Result};

/// How far past the version it is issued at a delegation reaches by default: a delegation
/// issued at `seq` is good up to `seq + DELEGATION_SEQ_WINDOW`.
///
/// This bounds revocation: a Writer removed from the ACL keeps the delegation it was given,
/// so it can still sign versions up to that delegation's `max_seq`. Hosts holding a newer
/// version refuse them (the stored ACL no longer lists it), and the record key can always
/// publish a version above `max_seq`, which every client prefers, so nobody stays stuck on a
/// revoked writer's version.
pub const DELEGATION_SEQ_WINDOW: u64 = 1 << 32;

const GRANT_TAG: &[u8] = b"owner-grant";
const DELEGATION_TAG: &[u8] = b"delegation";

/// The owner's signature binding a mutable record's key to its owner and data contract.
///
/// Required on every mutable version; [`validate`](crate::validate) checks it under the
/// record's owner. It carries only the signature: what it binds is in the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerGrant {
    pub(crate) signature: Signature,
}

fn grant_message(
    record_public: &PublicKey,
    owner: &PublicKey,
    contract: &ContractId,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1 + GRANT_TAG.len() + 96);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(GRANT_TAG);
    codec::encode_into(&(record_public, owner, contract), &mut out)?;
    Ok(out)
}

impl OwnerGrant {
    /// `owner` grants its ownership of the record keyed by `record_public` under `contract`
    /// (give it to [`RecordBuilder::grant`](crate::RecordBuilder::grant)).
    pub fn sign(
        owner: &Keypair,
        record_public: &PublicKey,
        contract: &ContractId,
    ) -> Result<OwnerGrant> {
        let msg = grant_message(record_public, &owner.public(), contract)?;
        Ok(OwnerGrant {
            signature: owner.sign(domain::RECORD, &msg),
        })
    }

    /// Checks that `owner` granted the record keyed by `record_public` under `contract`
    /// ([`RecordError::BadSignature`] otherwise).
    pub fn verify(
        &self,
        owner: &PublicKey,
        record_public: &PublicKey,
        contract: &ContractId,
    ) -> Result<()> {
        let msg = grant_message(record_public, owner, contract)?;
        owner
            .verify(domain::RECORD, &msg, &self.signature)
            .map_err(|_| RecordError::BadSignature)
    }

    /// The owner's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

/// The record key's signature letting `delegate` sign versions of the record, with `role`
/// (Write or Admin), up to version `max_seq`.
///
/// Delegations travel in the record (sorted by delegate, one each, each delegate on the ACL
/// with at least the delegated role). The builder issues them when it signs with the record
/// key; [`validate`](crate::validate) requires one for any signer but the record key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub(crate) delegate: PublicKey,
    pub(crate) role: Role,
    pub(crate) max_seq: u64,
    pub(crate) signature: Signature,
}

fn delegation_message(
    record_public: &PublicKey,
    delegate: &PublicKey,
    role: Role,
    max_seq: u64,
    owner: &PublicKey,
    contract: &ContractId,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1 + DELEGATION_TAG.len() + 140);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(DELEGATION_TAG);
    codec::encode_into(
        &(record_public, delegate, role, max_seq, owner, contract),
        &mut out,
    )?;
    Ok(out)
}

impl Delegation {
    /// The record key `record` lets `delegate` sign versions with `role` up to `max_seq`, for
    /// the record owned by `owner` under `contract` (a Read role is
    /// [`RecordError::Builder`]: reading needs no signature).
    ///
    /// [`RecordBuilder`](crate::RecordBuilder) issues these itself when it signs with the
    /// record key, with `max_seq = seq +` [`DELEGATION_SEQ_WINDOW`].
    pub fn issue(
        record: &Keypair,
        delegate: PublicKey,
        role: Role,
        max_seq: u64,
        owner: &PublicKey,
        contract: &ContractId,
    ) -> Result<Delegation> {
        if role < Role::Write {
            return Err(RecordError::Builder("a delegation grants Write or Admin"));
        }
        let msg = delegation_message(&record.public(), &delegate, role, max_seq, owner, contract)?;
        Ok(Delegation {
            delegate,
            role,
            max_seq,
            signature: record.sign(domain::RECORD, &msg),
        })
    }

    /// Checks that the record key `record_public` issued this delegation for the record owned
    /// by `owner` under `contract` ([`RecordError::BadSignature`] otherwise).
    pub fn verify(
        &self,
        record_public: &PublicKey,
        owner: &PublicKey,
        contract: &ContractId,
    ) -> Result<()> {
        let msg = delegation_message(
            record_public,
            &self.delegate,
            self.role,
            self.max_seq,
            owner,
            contract,
        )?;
        record_public
            .verify(domain::RECORD, &msg, &self.signature)
            .map_err(|_| RecordError::BadSignature)
    }

    /// Who may sign versions.
    pub fn delegate(&self) -> &PublicKey {
        &self.delegate
    }

    /// What it may do: [`Role::Write`], or [`Role::Admin`] to also change the ACL.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The highest version it may sign.
    pub fn max_seq(&self) -> u64 {
        self.max_seq
    }

    /// The record key's signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(i: u8) -> Keypair {
        Keypair::from_seed(&[i; 32])
    }

    #[test]
    fn grant_binds_record_key_owner_and_contract() {
        let (owner, rk, other) = (kp(1), kp(2), kp(3));
        let c = ContractId::from_bytes([9; 32]);
        let g = OwnerGrant::sign(&owner, &rk.public(), &c).unwrap();
        g.verify(&owner.public(), &rk.public(), &c).unwrap();
        let bad = Err(RecordError::BadSignature);
        assert_eq!(g.verify(&other.public(), &rk.public(), &c), bad);
        assert_eq!(g.verify(&owner.public(), &other.public(), &c), bad);
        assert_eq!(
            g.verify(
                &owner.public(),
                &rk.public(),
                &ContractId::from_bytes([8; 32])
            ),
            bad
        );
    }

    #[test]
    fn delegation_binds_every_field() {
        let (owner, rk, d, other) = (kp(1), kp(2), kp(3), kp(4));
        let c = ContractId::from_bytes([9; 32]);
        let del = Delegation::issue(&rk, d.public(), Role::Write, 10, &owner.public(), &c).unwrap();
        del.verify(&rk.public(), &owner.public(), &c).unwrap();
        let bad = Err(RecordError::BadSignature);
        assert_eq!(del.verify(&other.public(), &owner.public(), &c), bad);
        assert_eq!(del.verify(&rk.public(), &other.public(), &c), bad);
        assert_eq!(
            del.verify(
                &rk.public(),
                &owner.public(),
                &ContractId::from_bytes([8; 32])
            ),
            bad
        );
        for changed in [
            Delegation {
                role: Role::Admin,
                ..del
            },
            Delegation { max_seq: 11, ..del },
            Delegation {
                delegate: other.public(),
                ..del
            },
        ] {
            assert_eq!(changed.verify(&rk.public(), &owner.public(), &c), bad);
        }
        assert!(matches!(
            Delegation::issue(&rk, d.public(), Role::Read, 10, &owner.public(), &c),
            Err(RecordError::Builder(_))
        ));
    }

    #[test]
    fn the_kinds_of_signed_bytes_never_collide() {
        let (a, b) = (kp(1).public(), kp(2).public());
        let c = ContractId::from_bytes([9; 32]);
        let g = grant_message(&a, &b, &c).unwrap();
        let d = delegation_message(&a, &b, Role::Write, 1, &b, &c).unwrap();
        assert_eq!(g[0], FORMAT_VERSION);
        assert_eq!(&g[1..12], b"owner-grant");
        assert_eq!(&d[1..11], b"delegation");
        // A record's signed bytes continue the version with a u32 enum tag (0x00 first).
        assert_ne!(g[1], 0);
        assert_ne!(d[1], 0);
        assert_ne!(g[1], d[1]);
        // Fixed lengths: version + tag + fields.
        assert_eq!(g.len(), 1 + 11 + 32 * 3);
        assert_eq!(d.len(), 1 + 10 + 32 + 32 + 4 + 8 + 32 + 32);
    }
}
