//! Identities: one ed25519 key per node or user, used for signing and (through the
//! birational map to Curve25519) for key agreement.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

use crate::{CryptoError, Domain, NodeId, Result, serde_array};

/// An ed25519 keypair: a node's or user's identity.
///
/// The secret zeroizes on drop, never appears in `Debug`, and is compared in constant time.
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A fresh random keypair from the caller's RNG.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Keypair {
        Keypair {
            signing: SigningKey::generate(rng),
        }
    }

    /// The keypair whose RFC 8032 secret key (seed) is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The RFC 8032 secret key (seed). Handle with care: it is the whole identity.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    /// This identity's NodeId (SHA-256 of the public key).
    pub fn node_id(&self) -> NodeId {
        NodeId::from_public_key(&self.public())
    }

    /// Signs `len(tag) || tag || msg` (see [`crate::domain`]).
    ///
    /// ```
    /// use subspace_crypto::{Keypair, domain};
    /// let kp = Keypair::from_seed(&[1; 32]);
    /// let sig = kp.sign(domain::RECORD, b"hello");
    /// assert!(kp.public().verify(domain::RECORD, b"hello", &sig).is_ok());
    /// assert!(kp.public().verify(domain::RECEIPT, b"hello", &sig).is_err());
    /// ```
    pub fn sign(&self, domain: Domain, msg: &[u8]) -> Signature {
        let mut buf = Vec::with_capacity(msg.len() + 64);
        domain.prefix_into(&mut buf);
        buf.extend_from_slice(msg);
        Signature(self.signing.sign(&buf).to_bytes())
    }

    /// Signs `msg` exactly as given, with no domain prefix: plain RFC 8032 Ed25519, for
    /// interoperating with other systems' formats. Subspace's own statements use [`Keypair::sign`].
    pub fn sign_raw(&self, msg: &[u8]) -> Signature {
        Signature(self.signing.sign(msg).to_bytes())
    }

    /// The X25519 secret for key agreement: the SHA-512 scalar of the ed25519 seed (clamped when
    /// used), as libsodium's `crypto_sign_ed25519_sk_to_curve25519` derives it. Its public half
    /// is [`PublicKey::to_x25519`], so a Noise handshake keyed by it authenticates this identity.
    pub fn x25519_secret(&self) -> x25519_dalek::StaticSecret {
        x25519_dalek::StaticSecret::from(self.signing.to_scalar_bytes())
    }
}

impl Clone for Keypair {
    fn clone(&self) -> Self {
        Keypair {
            signing: self.signing.clone(),
        }
    }
}

impl PartialEq for Keypair {
    fn eq(&self, other: &Self) -> bool {
        self.signing
            .to_bytes()
            .ct_eq(&other.signing.to_bytes())
            .into()
    }
}

impl Eq for Keypair {}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "Keypair {{ public: {} }}", self.public())
    }
}

/// An ed25519 public key. Only valid curve points can be constructed or decoded.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The 32-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Parses a compressed point; bytes that are not a point are an error.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| CryptoError::InvalidPublicKey)
    }

    /// The NodeId of this key.
    pub fn node_id(&self) -> NodeId {
        NodeId::from_public_key(self)
    }

    /// Verifies a signature made by [`Keypair::sign`] for this domain and message.
    ///
    /// Uses `verify_strict`: rejects small-order keys and non-canonical signatures, so one
    /// message has one valid signature per key (no malleability).
    pub fn verify(&self, domain: Domain, msg: &[u8], sig: &Signature) -> Result<()> {
        let mut buf = Vec::with_capacity(msg.len() + 64);
        domain.prefix_into(&mut buf);
        buf.extend_from_slice(msg);
        self.verify_raw(&buf, sig)
    }

    /// Verifies a plain RFC 8032 signature over `msg` (no domain prefix), strictly.
    pub fn verify_raw(&self, msg: &[u8], sig: &Signature) -> Result<()> {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0
            .verify_strict(msg, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// The X25519 public key of this identity (the birational map from Edwards to Montgomery
    /// form), so a recipient is named by its ordinary public key.
    pub fn to_x25519(&self) -> x25519_dalek::PublicKey {
        x25519_dalek::PublicKey::from(self.0.to_montgomery().to_bytes())
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.to_bytes().cmp(&other.to_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex::encode(self.to_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", crate::hex::encode(self.to_bytes()))
    }
}

impl core::str::FromStr for PublicKey {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self> {
        PublicKey::from_bytes(&crate::hex::decode_array(s)?)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_bytes().serialize(s)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = <[u8; 32]>::deserialize(d)?;
        PublicKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// The 64 signature bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// Wraps 64 bytes made elsewhere (checked only when verified).
    pub fn from_bytes(bytes: [u8; 64]) -> Signature {
        Signature(bytes)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", crate::hex::encode(&self.0[..8]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_array::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_array::deserialize(d).map(Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain, hex};
    use proptest::prelude::*;

    // RFC 8032 section 7.1, tests 1-3 and the 1023-byte-message test ("TEST 1024") is omitted
    // for length; SHA(abc) below covers a multi-block message.
    const RFC8032: &[(&str, &str, &str, &str)] = &[
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
        (
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    ];

    #[test]
    fn rfc8032_vectors() {
        for (sk, pk, msg, sig) in RFC8032 {
            let kp = Keypair::from_seed(&hex::decode_array(sk).unwrap());
            assert_eq!(hex::encode(kp.public().to_bytes()), *pk);
            let msg = hex::decode(msg).unwrap();
            let s = kp.sign_raw(&msg);
            assert_eq!(hex::encode(s.to_bytes()), *sig);
            let pk = PublicKey::from_bytes(&hex::decode_array(pk).unwrap()).unwrap();
            pk.verify_raw(&msg, &s).unwrap();
            // The domain-separated form is a different message.
            assert!(pk.verify(domain::RECORD, &msg, &s).is_err());
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let kp = Keypair::from_seed(&[0x42; 32]);
        let dbg = format!("{kp:?}");
        assert!(!dbg.contains(&hex::encode([0x42u8; 32])));
        assert!(dbg.contains(&kp.public().to_string()));
    }

    #[test]
    fn invalid_points_are_rejected() {
        // y = 2 is not on the curve.
        let mut b = [0u8; 32];
        b[0] = 2;
        assert_eq!(
            PublicKey::from_bytes(&b),
            Err(CryptoError::InvalidPublicKey)
        );
    }

    proptest! {
        #[test]
        fn sign_verify(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..512), flip in any::<(usize, u8)>()) {
            let kp = Keypair::from_seed(&seed);
            let pk = kp.public();
            for d in domain::ALL {
                let sig = kp.sign(d, &msg);
                prop_assert!(pk.verify(d, &msg, &sig).is_ok());
                for other in domain::ALL {
                    if other != d {
                        prop_assert_eq!(pk.verify(other, &msg, &sig), Err(CryptoError::BadSignature));
                    }
                }
            }
            let sig = kp.sign(domain::RECORD, &msg);
            // Any flipped signature bit fails.
            let mut bad = sig;
            bad.0[flip.0 % 64] ^= 1 << (flip.1 % 8);
            prop_assert!(pk.verify(domain::RECORD, &msg, &bad).is_err());
            // Any changed message fails.
            let mut m2 = msg.clone();
            m2.push(flip.1);
            prop_assert!(pk.verify(domain::RECORD, &m2, &sig).is_err());
            // Another key fails.
            let mut s2 = seed;
            s2[0] ^= 1;
            prop_assert!(Keypair::from_seed(&s2).public().verify(domain::RECORD, &msg, &sig).is_err());
        }
    }
}
