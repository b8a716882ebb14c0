//! The 32-byte ids every layer passes around.
//!
//! [`Hash256`] is a plain 32-byte digest. The newtypes over it say what a digest *names*, so a
//! [`RecordKey`] cannot be passed where a [`NodeId`] is expected. They all print as lowercase
//! hex and parse back with [`FromStr`]; all share the XOR metric
//! ([`Hash256::distance`]) that Kademlia routes by.
//!
//! ```
//! use subspace_crypto::{Keypair, NodeId};
//! let kp = Keypair::from_seed(&[7; 32]);
//! let id = NodeId::from_public_key(&kp.public());
//! let parsed: NodeId = id.to_string().parse().unwrap();
//! assert_eq!(id, parsed);
//! assert_eq!(id.distance(&id), subspace_crypto::Hash256::ZERO);
//! ```

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CryptoError, PublicKey, hash, hex};

/// A 32-byte digest (SHA-256 or BLAKE3; the name of the value that holds it says which).
///
/// Ordered as its bytes are (lexicographically), which is the order of ids in every sorted map.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Hash256(pub [u8; 32]);

impl Hash256 {
    /// Big-endian word `i` of four: the words' order is the bytes' order.
    #[inline]
    fn word(&self, i: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[8 * i..8 * i + 8]);
        u64::from_be_bytes(b)
    }
}

impl Ord for Hash256 {
    /// Lexicographic byte order, compared a word at a time: ids are the keys of the pools and
    /// routing tables, and the derived order's call to `memcmp` per comparison dominated their
    /// look-ups.
    #[inline]
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        for i in 0..4 {
            let (a, b) = (self.word(i), other.word(i));
            if a != b {
                return a.cmp(&b);
            }
        }
        core::cmp::Ordering::Equal
    }
}

impl PartialOrd for Hash256 {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash256 {
    /// The all-zero digest (the distance of an id to itself).
    pub const ZERO: Hash256 = Hash256([0; 32]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The raw bytes, by value.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The XOR distance between two ids (Kademlia's metric): symmetric, zero only for equal
    /// ids, and for any id and distance there is exactly one id at that distance.
    pub fn distance(&self, other: &Hash256) -> Hash256 {
        let mut out = [0u8; 32];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        Hash256(out)
    }

    /// Number of leading zero bits (256 for [`Hash256::ZERO`]); the k-bucket index of a
    /// distance is `255 - leading_zeros`.
    pub fn leading_zeros(&self) -> u32 {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros();
            }
        }
        n
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({})", hex::encode(self.0))
    }
}

impl FromStr for Hash256 {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        hex::decode_array(s).map(Hash256)
    }
}

impl AsRef<[u8]> for Hash256 {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; 32]> for Hash256 {
    fn from(b: [u8; 32]) -> Self {
        Hash256(b)
    }
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        pub struct $name(pub Hash256);

        impl $name {
            /// Wraps raw bytes made elsewhere.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                $name(Hash256(bytes))
            }
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0 .0
            }
            /// The raw bytes, by value.
            pub fn to_bytes(self) -> [u8; 32] {
                self.0 .0
            }
            /// The underlying digest.
            pub fn hash(&self) -> Hash256 {
                self.0
            }
            /// XOR distance to another id of the same kind.
            pub fn distance(&self, other: &Self) -> Hash256 {
                self.0.distance(&other.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Short form: ids appear in logs and test failures by the thousand.
                write!(f, "{}({}…)", stringify!($name), &hex::encode(&self.0 .0[..6]))
            }
        }

        impl FromStr for $name {
            type Err = CryptoError;
            fn from_str(s: &str) -> Result<Self, CryptoError> {
                Hash256::from_str(s).map($name)
            }
        }

        impl From<Hash256> for $name {
            fn from(h: Hash256) -> Self {
                $name(h)
            }
        }

        impl From<$name> for Hash256 {
            fn from(id: $name) -> Hash256 {
                id.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0 .0
            }
        }
    };
}

id_newtype!(
    /// A node's address: SHA-256 of its 32-byte ed25519 public key (the whitepaper's routing
    /// and payment address). Kademlia keys its routing table by it.
    NodeId
);
id_newtype!(
    /// The key a record is stored under: SHA-256 of the stored value (immutable records) or of
    /// the record's own public key (mutable records).
    RecordKey
);
id_newtype!(
    /// The id of a host storage contract or a client data contract on the ledger.
    ContractId
);
id_newtype!(
    /// The hash of a block header.
    BlockHash
);

impl NodeId {
    /// The NodeId of a public key: SHA-256 of its 32 bytes.
    pub fn from_public_key(pk: &PublicKey) -> NodeId {
        NodeId(hash::sha256(&pk.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h() -> impl Strategy<Value = Hash256> {
        any::<[u8; 32]>().prop_map(Hash256)
    }

    proptest! {
        #[test]
        fn order_is_byte_order(a in h(), b in h(), prefix in 0usize..32) {
            prop_assert_eq!(a.cmp(&b), a.0.cmp(&b.0));
            // Ids sharing a prefix: the order is decided by a later word.
            let mut c = b;
            c.0[..prefix].copy_from_slice(&a.0[..prefix]);
            prop_assert_eq!(a.cmp(&c), a.0.cmp(&c.0));
            prop_assert_eq!(a.partial_cmp(&c), Some(a.0.cmp(&c.0)));
        }

        #[test]
        fn xor_metric_laws(a in h(), b in h(), c in h()) {
            // identity
            prop_assert_eq!(a.distance(&a), Hash256::ZERO);
            // symmetry
            prop_assert_eq!(a.distance(&b), b.distance(&a));
            // zero only for equal ids
            prop_assert_eq!(a.distance(&b) == Hash256::ZERO, a == b);
            // triangle inequality (XOR: d(a,c) = d(a,b) ^ d(b,c) <= d(a,b) + d(b,c))
            let ab = u256(a.distance(&b));
            let bc = u256(b.distance(&c));
            let ac = u256(a.distance(&c));
            prop_assert!(ac <= add(ab, bc));
            // unidirectionality: the id at distance d(a,b) from a is b
            prop_assert_eq!(a.distance(&a.distance(&b)), b);
        }

        #[test]
        fn display_parses_back(a in h()) {
            prop_assert_eq!(a.to_string().parse::<Hash256>().unwrap(), a);
            let id = NodeId(a);
            prop_assert_eq!(id.to_string().parse::<NodeId>().unwrap(), id);
        }
    }

    // Big-endian 256-bit numbers as (overflow bit, bytes), enough for the triangle check.
    fn u256(h: Hash256) -> (bool, [u8; 32]) {
        (false, h.0)
    }
    fn add(a: (bool, [u8; 32]), b: (bool, [u8; 32])) -> (bool, [u8; 32]) {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = a.1[i] as u16 + b.1[i] as u16 + carry;
            out[i] = s as u8;
            carry = s >> 8;
        }
        (carry != 0, out)
    }

    #[test]
    fn leading_zeros_and_parse_errors() {
        assert_eq!(Hash256::ZERO.leading_zeros(), 256);
        let mut b = [0u8; 32];
        b[1] = 0x10;
        assert_eq!(Hash256(b).leading_zeros(), 11);
        assert!("zz".parse::<NodeId>().is_err());
        assert!("00".parse::<NodeId>().is_err());
    }
}
