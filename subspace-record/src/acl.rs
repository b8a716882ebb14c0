//! Access control: who may read, write and administer a record.
//!
//! An ACL is a list of `(PublicKey, Role)` sorted by public key, each key at most once. Roles
//! are ordered: [`Role::Admin`] can do everything [`Role::Write`] can, which can do everything
//! [`Role::Read`] can. On a sealed record every identity in the ACL holds a wrapped content
//! key (that is what reading means); the record's owner is always an Admin.

use serde::{Deserialize, Serialize};
use subspace_crypto::PublicKey;

use crate::{RecordError, Result};

/// The most ACL entries a record may carry (bounds decoding and key wrapping work).
pub const MAX_ACL_LEN: usize = 64;

/// What an identity on a record's ACL may do. The order is the order of power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Holds a wrapped content key: may open the record.
    Read,
    /// May also publish a new version (a greater seq) of a mutable record.
    Write,
    /// May also change the ACL (and so the keychain), the contract and the visibility.
    Admin,
}

/// One ACL line: an identity and its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    /// The identity (an ordinary user key, not a record key).
    pub identity: PublicKey,
    /// What it may do.
    pub role: Role,
}

/// A well-formed ACL: sorted by identity, no duplicates, at most [`MAX_ACL_LEN`] entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl(Vec<AclEntry>);

impl Acl {
    /// An empty ACL.
    pub fn new() -> Acl {
        Acl(Vec::new())
    }

    /// Gives `identity` the role `role`, replacing any role it had.
    pub fn set(&mut self, identity: PublicKey, role: Role) -> Result<()> {
        match self.0.binary_search_by(|e| e.identity.cmp(&identity)) {
            Ok(i) => self.0[i].role = role,
            Err(i) => {
                if self.0.len() >= MAX_ACL_LEN {
                    return Err(RecordError::Builder("ACL is full"));
                }
                self.0.insert(i, AclEntry { identity, role });
            }
        }
        Ok(())
    }

    /// Removes `identity`; returns whether it was present.
    pub fn remove(&mut self, identity: &PublicKey) -> bool {
        match self.0.binary_search_by(|e| e.identity.cmp(identity)) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// The role of `identity`, if it is on the ACL.
    pub fn role(&self, identity: &PublicKey) -> Option<Role> {
        self.0
            .binary_search_by(|e| e.identity.cmp(identity))
            .ok()
            .map(|i| self.0[i].role)
    }

    /// Whether `identity` holds at least `role`.
    pub fn allows(&self, identity: &PublicKey, role: Role) -> bool {
        self.role(identity).is_some_and(|r| r >= role)
    }

    /// The entries, sorted by identity.
    pub fn entries(&self) -> &[AclEntry] {
        &self.0
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the ACL is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks the structural rules (sorted, unique, bounded); decoders call it.
    pub(crate) fn check(&self) -> Result<()> {
        if self.0.len() > MAX_ACL_LEN {
            return Err(RecordError::Malformed("too many ACL entries"));
        }
        if self.0.windows(2).any(|w| w[0].identity >= w[1].identity) {
            return Err(RecordError::Malformed("ACL not sorted or has duplicates"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subspace_crypto::Keypair;

    #[test]
    fn set_remove_and_order() {
        let keys: Vec<PublicKey> = (1..=5u8)
            .map(|i| Keypair::from_seed(&[i; 32]).public())
            .collect();
        let mut acl = Acl::new();
        for (i, k) in keys.iter().enumerate().rev() {
            acl.set(*k, if i % 2 == 0 { Role::Read } else { Role::Write })
                .unwrap();
        }
        acl.check().unwrap();
        assert_eq!(acl.len(), 5);
        assert!(acl.allows(&keys[1], Role::Read));
        assert!(acl.allows(&keys[1], Role::Write));
        assert!(!acl.allows(&keys[1], Role::Admin));
        assert!(!acl.allows(&keys[0], Role::Write));
        acl.set(keys[0], Role::Admin).unwrap();
        assert_eq!(acl.role(&keys[0]), Some(Role::Admin));
        assert_eq!(acl.len(), 5);
        assert!(acl.remove(&keys[0]));
        assert!(!acl.remove(&keys[0]));
        assert_eq!(acl.role(&keys[0]), None);
        assert!(
            acl.entries()
                .windows(2)
                .all(|w| w[0].identity < w[1].identity)
        );
    }

    #[test]
    fn unsorted_or_oversized_acl_is_malformed() {
        let a = Keypair::from_seed(&[1; 32]).public();
        let b = Keypair::from_seed(&[2; 32]).public();
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let bad = Acl(vec![
            AclEntry {
                identity: hi,
                role: Role::Read,
            },
            AclEntry {
                identity: lo,
                role: Role::Read,
            },
        ]);
        assert!(bad.check().is_err());
        let dup = Acl(vec![
            AclEntry {
                identity: lo,
                role: Role::Read,
            },
            AclEntry {
                identity: lo,
                role: Role::Write,
            },
        ]);
        assert!(dup.check().is_err());
        let mut full = Acl::new();
        for i in 0..MAX_ACL_LEN as u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            full.set(Keypair::from_seed(&seed).public(), Role::Read)
                .unwrap();
        }
        assert!(
            full.set(Keypair::from_seed(&[0xff; 32]).public(), Role::Read)
                .is_err()
        );
    }
}
