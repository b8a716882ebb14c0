//! Pairwise MAC keys: a symmetric key two identities share without a message exchanged.
//!
//! Each side runs X25519 between its own secret ([`Keypair::x25519_secret`]) and the other's
//! public key ([`PublicKey::to_x25519`]), and hashes the result with both public keys (in byte
//! order, so both sides derive the same key) under a [`Domain`]. A BLAKE3 keyed hash under that
//! key then authenticates a message between exactly those two parties, at a hash's cost
//! instead of a signature's: for protocols whose transport cannot authenticate its peers.
//!
//! A tag proves only that one of the two holders made it; unlike a signature it cannot be shown
//! to a third party.
//!
//! ```
//! use subspace_crypto::{Keypair, domain, pairwise::PairKey};
//!
//! let (a, b) = (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]));
//! let ab = PairKey::derive(&a, &b.public(), domain::PROBE_MAC)?;
//! let ba = PairKey::derive(&b, &a.public(), domain::PROBE_MAC)?;
//! let tag = ab.tag(b"ping 7");
//! assert!(ba.check(b"ping 7", &tag));
//! assert!(!ba.check(b"ping 8", &tag));
//! # Ok::<(), subspace_crypto::CryptoError>(())
//! ```

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, Domain, Keypair, PublicKey, Result};

/// Bytes of a [`PairKey::tag`]: 128 bits, as HMAC-SHA256-128 and Poly1305 use.
pub const TAG_LEN: usize = 16;

/// A symmetric key shared by two identities, derived from their keys alone. Zeroizes on drop;
/// never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PairKey([u8; 32]);

impl PairKey {
    /// The key `me` shares with `peer` for purpose `domain`; `peer` derives the same key from
    /// its own keypair and `me`'s public key. Fails when the Diffie-Hellman output is all zero
    /// (a small-order `peer` key, which no honest identity has): [`CryptoError::WeakKeyAgreement`].
    pub fn derive(me: &Keypair, peer: &PublicKey, domain: Domain) -> Result<PairKey> {
        let shared = me.x25519_secret().diffie_hellman(&peer.to_x25519());
        if !shared.was_contributory() {
            return Err(CryptoError::WeakKeyAgreement);
        }
        let (mine, theirs) = (me.public().to_bytes(), peer.to_bytes());
        let (lo, hi) = if mine <= theirs {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        let mut h = blake3::Hasher::new_derive_key(domain.tag());
        h.update(shared.as_bytes());
        h.update(&lo);
        h.update(&hi);
        Ok(PairKey(*h.finalize().as_bytes()))
    }

    /// The tag of `msg` under this key (a BLAKE3 keyed hash, cut to [`TAG_LEN`] bytes).
    pub fn tag(&self, msg: &[u8]) -> [u8; TAG_LEN] {
        let full = blake3::keyed_hash(&self.0, msg);
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&full.as_bytes()[..TAG_LEN]);
        out
    }

    /// Whether `tag` is the tag of `msg` under this key, compared in constant time.
    pub fn check(&self, msg: &[u8], tag: &[u8; TAG_LEN]) -> bool {
        self.tag(msg).ct_eq(tag).into()
    }
}

impl fmt::Debug for PairKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain;

    #[test]
    fn both_sides_derive_the_same_key_and_others_do_not() {
        let a = Keypair::from_seed(&[1; 32]);
        let b = Keypair::from_seed(&[2; 32]);
        let c = Keypair::from_seed(&[3; 32]);
        let ab = PairKey::derive(&a, &b.public(), domain::PROBE_MAC).unwrap();
        let ba = PairKey::derive(&b, &a.public(), domain::PROBE_MAC).unwrap();
        let ac = PairKey::derive(&a, &c.public(), domain::PROBE_MAC).unwrap();
        let other = PairKey::derive(&a, &b.public(), domain::GOSSIP).unwrap();
        let tag = ab.tag(b"m");
        assert_eq!(tag, ba.tag(b"m"));
        assert!(ba.check(b"m", &tag));
        assert!(!ac.check(b"m", &tag));
        assert!(!other.check(b"m", &tag), "the domain separates keys");
        let mut flipped = tag;
        flipped[0] ^= 1;
        assert!(!ba.check(b"m", &flipped));
    }

    #[test]
    fn a_small_order_peer_key_is_refused() {
        // The identity point (0, 1): a valid encoding of small order.
        let mut id = [0u8; 32];
        id[0] = 1;
        let peer = PublicKey::from_bytes(&id).unwrap();
        let a = Keypair::from_seed(&[1; 32]);
        assert_eq!(
            PairKey::derive(&a, &peer, domain::PROBE_MAC).unwrap_err(),
            CryptoError::WeakKeyAgreement
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let a = Keypair::from_seed(&[1; 32]);
        let k = PairKey::derive(
            &a,
            &Keypair::from_seed(&[2; 32]).public(),
            domain::PROBE_MAC,
        )
        .unwrap();
        assert_eq!(format!("{k:?}"), "PairKey(..)");
    }
}
