//! Validation: the rules every node applies to a record before storing or serving it.
//!
//! [`validate`] needs nothing but the record; [`validate_update`] adds the rules that need the
//! stored version of a mutable record; [`ContractValidator`] is the check that needs the
//! ledger, which the node implements.

use subspace_crypto::{ContractId, PublicKey, RecordKey, domain};

use crate::acl::Role;
use crate::record::{Record, RecordKind, find_delegation};
use crate::{RecordError, Result};

/// Checks everything about `record` that needs no outside state — size, structure, key
/// derivation, signatures, and that the signer may write it — and returns its key.
///
/// Immutable records must be signed by their owner. Mutable ones must carry their owner's
/// [`OwnerGrant`](crate::OwnerGrant) (binding the record key to the owner and the contract)
/// and be signed by the record key, or by an identity holding a
/// [`Delegation`](crate::Delegation) from the record key that covers the version's `seq`
/// (and a Write role on the ACL). Either way the owner and the contract are covered by the
/// owner's own signature, so a contract check after `validate` charges only a contract whose
/// owner signed. The stored version's ACL is checked by [`validate_update`].
pub fn validate(record: &Record) -> Result<RecordKey> {
    record.check_structure()?;
    let digest = record.payload.digest();
    let key = match &record.kind {
        RecordKind::Immutable => {
            if record.signer != record.owner {
                return Err(RecordError::Unauthorized);
            }
            RecordKey(digest)
        }
        RecordKind::Mutable {
            record_public,
            seq,
            grant,
            delegations,
        } => {
            // The cheap checks first, then the signatures: the grant, the signer's
            // delegation, and (below) the record's own.
            let delegation = if record.signer == *record_public {
                None
            } else {
                let d = find_delegation(delegations, &record.signer)
                    .ok_or(RecordError::Unauthorized)?;
                if !record.acl.allows(&record.signer, Role::Write) {
                    return Err(RecordError::Unauthorized);
                }
                if *seq > d.max_seq {
                    return Err(RecordError::DelegationExpired {
                        seq: *seq,
                        max_seq: d.max_seq,
                    });
                }
                Some(d)
            };
            grant.verify(&record.owner, record_public, &record.contract)?;
            if let Some(d) = delegation {
                d.verify(record_public, &record.owner, &record.contract)?;
            }
            crate::record::mutable_key(record_public)
        }
    };
    let msg = record.signed_bytes(digest)?;
    record
        .signer
        .verify(domain::RECORD, &msg, &record.signature)
        .map_err(|_| RecordError::BadSignature)?;
    Ok(key)
}

/// Validates `record` and checks that it is stored under `expected` (what a node does with a
/// record fetched by key).
pub fn validate_at(record: &Record, expected: &RecordKey) -> Result<()> {
    if validate(record)? != *expected {
        return Err(RecordError::KeyMismatch);
    }
    Ok(())
}

/// Checks that `new` may replace the stored `old` version of a mutable record: both valid,
/// same record key and owner, `seq` strictly greater, the signer is the record key or a
/// Writer/Admin on `old`'s ACL, and an admin change is signed by the record key or by an Admin
/// on `old`'s ACL whose delegation in `new` is an Admin one.
///
/// An admin change is a change of the ACL, the contract, the visibility or the delegations.
/// A new contract needs a new owner grant, which [`validate`] has checked.
pub fn validate_update(old: &Record, new: &Record) -> Result<RecordKey> {
    let old_key = validate(old)?;
    let new_key = validate(new)?;
    let (
        RecordKind::Mutable {
            record_public,
            seq: old_seq,
            delegations: old_delegations,
            ..
        },
        RecordKind::Mutable {
            seq: new_seq,
            delegations: new_delegations,
            ..
        },
    ) = (&old.kind, &new.kind)
    else {
        return Err(RecordError::NotMutable);
    };
    if old_key != new_key {
        return Err(RecordError::NotSameRecord("different record key"));
    }
    if old.owner != new.owner {
        return Err(RecordError::NotSameRecord("different owner"));
    }
    if new_seq <= old_seq {
        return Err(RecordError::StaleSeq {
            old: *old_seq,
            new: *new_seq,
        });
    }
    let signer = &new.signer;
    let is_record_key = signer == record_public;
    if !is_record_key && !old.acl.allows(signer, Role::Write) {
        return Err(RecordError::Unauthorized);
    }
    let admin_change = old.acl != new.acl
        || old.contract != new.contract
        || old.is_public() != new.is_public()
        || old_delegations != new_delegations;
    // `validate(new)` proved the signer's delegation in `new` is the record key's.
    let delegated_admin =
        || find_delegation(new_delegations, signer).is_some_and(|d| d.role == Role::Admin);
    if admin_change && !is_record_key && !(old.acl.allows(signer, Role::Admin) && delegated_admin())
    {
        return Err(RecordError::NotAdmin);
    }
    Ok(new_key)
}

/// The contract check, which needs the ledger: the node implements it and calls
/// [`validate_with_contract`].
pub trait ContractValidator {
    /// Accepts or rejects storing `stored_len` encoded bytes for `owner` under `contract` at
    /// `now` (Unix seconds): the contract exists, is funded, belongs to `owner` and has room.
    /// Return [`RecordError::Contract`] with a reason to reject.
    fn check_contract(
        &self,
        contract: &ContractId,
        owner: &PublicKey,
        stored_len: u64,
        now: u64,
    ) -> Result<()>;
}

/// [`validate`] followed by the node's contract check.
pub fn validate_with_contract(
    record: &Record,
    contracts: &impl ContractValidator,
    now: u64,
) -> Result<RecordKey> {
    let key = validate(record)?;
    // The stored length is what the host keeps: the encoded record.
    let stored_len = crate::record::encoded_len(record);
    contracts.check_contract(&record.contract, &record.owner, stored_len, now)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecordBuilder;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::cell::RefCell;
    use subspace_crypto::Keypair;

    /// A ledger stand-in: one funded contract with a byte quota and an expiry.
    struct Ledger {
        contract: ContractId,
        owner: PublicKey,
        quota: u64,
        expires: u64,
        seen: RefCell<Vec<u64>>,
    }

    impl ContractValidator for Ledger {
        fn check_contract(&self, c: &ContractId, o: &PublicKey, len: u64, now: u64) -> Result<()> {
            self.seen.borrow_mut().push(len);
            if *c != self.contract || *o != self.owner {
                return Err(RecordError::Contract("unknown contract".into()));
            }
            if len > self.quota || now >= self.expires {
                return Err(RecordError::Contract("over quota or expired".into()));
            }
            Ok(())
        }
    }

    #[test]
    fn contract_check_is_applied_after_validation() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let o = Keypair::generate(&mut rng);
        let contract = ContractId::from_bytes([4; 32]);
        let ledger = Ledger {
            contract,
            owner: o.public(),
            quota: 2000,
            expires: 100,
            seen: RefCell::new(Vec::new()),
        };
        let small = RecordBuilder::new(contract, o.public(), 1)
            .data(&[1u8; 100][..])
            .build(&o, &mut rng)
            .unwrap();
        let key = validate_with_contract(&small, &ledger, 50).unwrap();
        assert_eq!(key, small.key());
        assert_eq!(
            ledger.seen.borrow()[0],
            small.encode().unwrap().len() as u64
        );
        assert!(validate_with_contract(&small, &ledger, 100).is_err());
        let big = RecordBuilder::new(contract, o.public(), 1)
            .data(&[1u8; 3000][..])
            .build(&o, &mut rng)
            .unwrap();
        assert!(matches!(
            validate_with_contract(&big, &ledger, 50),
            Err(RecordError::Contract(_))
        ));
        let other = RecordBuilder::new(ContractId::from_bytes([5; 32]), o.public(), 1)
            .build(&o, &mut rng)
            .unwrap();
        assert!(validate_with_contract(&other, &ledger, 50).is_err());
    }
}
