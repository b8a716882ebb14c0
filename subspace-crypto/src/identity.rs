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

/// Checks many signatures in one `domain` at once: `Ok` only if every `(key, message,
/// signature)` is valid. About twice as fast per signature as [`PublicKey::verify`] for batches
/// of tens of signatures; a batch of one costs what `verify` does.
///
/// **Acceptance rule** (the same for a batch of any size, so every verifier using this function
/// accepts the same signatures whatever batches they arrive in): `s` is canonical (below the
/// group order ℓ), `R` is canonically encoded and neither `R` nor the key is of small order
/// (as [`PublicKey::verify`], i.e. ed25519-dalek's `verify_strict`, requires), and
/// `[8]([s]B − [k]A − R)` is the identity, `k = SHA-512(R ‖ A ‖ domain ‖ message)`. This is
/// the *cofactored* equation, which a batch needs (random multiples of the per-signature
/// equations only cancel cleanly in the prime-order subgroup); `verify` checks the cofactorless
/// one. The two differ only for a signature whose `R` or key has a small-order component:
/// honest signing never produces one, and only the key's holder can (forging is as hard under
/// either rule). A batch that fails says only that some signature failed: check them one by
/// one (a batch of one each) to find which. A batch passes when some signature fails with
/// probability below 2⁻¹²⁵: the random multiples are 128-bit values derived by hashing every
/// input, so they cannot be chosen by whoever made the signatures.
pub fn verify_batch(domain: Domain, items: &[(&PublicKey, &[u8], &Signature)]) -> Result<()> {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use sha2::{Digest, Sha512};

    let bad = || CryptoError::BadSignature;
    let mut prefix = Vec::with_capacity(64);
    domain.prefix_into(&mut prefix);
    let mut transcript = blake3::Hasher::new_derive_key("subspace-crypto verify_batch v1");
    transcript.update(&(items.len() as u64).to_le_bytes());
    transcript.update(&prefix);
    // (s, k, R, A) per signature, after the checks `verify_strict` makes.
    let mut parsed: Vec<(Scalar, Scalar, EdwardsPoint, EdwardsPoint)> =
        Vec::with_capacity(items.len());
    for (key, msg, sig) in items {
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&sig.0[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&sig.0[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or_else(bad)?;
        if !canonical_y(&r_bytes) || key.0.is_weak() {
            return Err(bad());
        }
        let r = CompressedEdwardsY(r_bytes).decompress().ok_or_else(bad)?;
        if r.is_small_order() {
            return Err(bad());
        }
        let a_bytes = key.0.to_bytes();
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(a_bytes);
        h.update(&prefix);
        h.update(msg);
        let k = Scalar::from_hash(h);
        transcript.update(&a_bytes);
        transcript.update(&sig.0);
        transcript.update(k.as_bytes());
        parsed.push((s, k, r, key.0.to_edwards()));
    }
    let residual = match parsed.as_slice() {
        [] => return Ok(()),
        [(s, k, r, a)] => EdwardsPoint::vartime_double_scalar_mul_basepoint(k, &-a, s) - r,
        _ => {
            let mut xof = transcript.finalize_xof();
            let mut b_coeff = Scalar::ZERO;
            let mut scalars = Vec::with_capacity(2 * parsed.len() + 1);
            let mut points = Vec::with_capacity(2 * parsed.len() + 1);
            for (s, k, r, a) in &parsed {
                let mut z = [0u8; 32];
                xof.fill(&mut z[..16]);
                let z = Scalar::from_bytes_mod_order(z);
                b_coeff += z * s;
                // z stays 128-bit on −R (half the additions of a full-size scalar).
                scalars.push(z);
                points.push(-r);
                scalars.push(-(z * k));
                points.push(*a);
            }
            scalars.push(b_coeff);
            points.push(curve25519_dalek::constants::ED25519_BASEPOINT_POINT);
            EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        }
    };
    if residual.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Whether a compressed Edwards point's `y` is below the field prime 2²⁵⁵ − 19 (the sign bit
/// aside), i.e. whether the encoding is the canonical one.
fn canonical_y(bytes: &[u8; 32]) -> bool {
    let top = bytes[31] & 0x7f;
    let not_below_p = top == 0x7f && bytes[1..31].iter().all(|b| *b == 0xff) && bytes[0] >= 0xed;
    !not_below_p
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

    /// Signs `msg` in `domain` with secret scalar `a` and nonce point `r·B + t`, computing the
    /// equation by hand, so that tests can make signatures no honest signer makes.
    fn sign_with_nonce(
        a: curve25519_dalek::Scalar,
        r: curve25519_dalek::Scalar,
        t: curve25519_dalek::EdwardsPoint,
        d: Domain,
        msg: &[u8],
    ) -> (PublicKey, Signature) {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use sha2::{Digest, Sha512};
        let a_bytes = (B * a).compress().to_bytes();
        let r_bytes = (B * r + t).compress().to_bytes();
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(a_bytes);
        let mut prefix = Vec::new();
        d.prefix_into(&mut prefix);
        h.update(&prefix);
        h.update(msg);
        let k = curve25519_dalek::Scalar::from_hash(h);
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        (
            PublicKey::from_bytes(&a_bytes).unwrap(),
            Signature::from_bytes(sig),
        )
    }

    #[test]
    fn batch_accepts_exactly_what_verify_accepts_for_honest_signatures() {
        let keys: Vec<Keypair> = (0..40u8).map(|i| Keypair::from_seed(&[i; 32])).collect();
        let msgs: Vec<Vec<u8>> = (0..40usize).map(|i| vec![i as u8; i * 7]).collect();
        let sigs: Vec<Signature> = keys
            .iter()
            .zip(&msgs)
            .map(|(k, m)| k.sign(domain::GOSSIP, m))
            .collect();
        let pks: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let items: Vec<(&PublicKey, &[u8], &Signature)> = (0..40)
            .map(|i| (&pks[i], msgs[i].as_slice(), &sigs[i]))
            .collect();
        for n in [0, 1, 2, 3, 40] {
            verify_batch(domain::GOSSIP, &items[..n]).unwrap();
        }
        for item in &items {
            assert!(item.0.verify(domain::GOSSIP, item.1, item.2).is_ok());
        }
        // Another domain, one corrupted signature, one wrong message, one wrong key: rejected,
        // by a batch of one and inside the whole batch alike.
        assert!(verify_batch(domain::RECORD, &items).is_err());
        let mut bad_sig = sigs[17].to_bytes();
        bad_sig[40] ^= 1;
        let bad_sig = Signature::from_bytes(bad_sig);
        let other_msg = b"other".to_vec();
        let tampered: [(&PublicKey, &[u8], &Signature); 3] = [
            (&pks[17], &msgs[17], &bad_sig),
            (&pks[17], &other_msg, &sigs[17]),
            (&pks[18], &msgs[17], &sigs[17]),
        ];
        for t in tampered {
            assert!(verify_batch(domain::GOSSIP, &[t]).is_err());
            let mut all = items.clone();
            all[17] = t;
            assert_eq!(
                verify_batch(domain::GOSSIP, &all),
                Err(CryptoError::BadSignature)
            );
        }
        // A non-canonical s (s + ℓ) is rejected by both, as malleability demands.
        let mut s_plus_l = sigs[3].to_bytes();
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l: [u8; 32] =
            hex::decode_array("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .unwrap();
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(s_plus_l[32 + i]) + u16::from(l[i]) + carry;
            s_plus_l[32 + i] = v as u8;
            carry = v >> 8;
        }
        let malleated = Signature::from_bytes(s_plus_l);
        assert!(pks[3].verify(domain::GOSSIP, &msgs[3], &malleated).is_err());
        assert!(verify_batch(domain::GOSSIP, &[(&pks[3], &msgs[3], &malleated)]).is_err());
    }

    #[test]
    fn batch_rejects_small_order_keys_and_nonces_like_verify() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::traits::IsIdentity;
        // The identity as a key: R = [s]B satisfies both equations for every message, which is
        // why a small-order key must be refused outright.
        let mut id = [0u8; 32];
        id[0] = 1;
        let weak = PublicKey::from_bytes(&id).unwrap();
        let s = curve25519_dalek::Scalar::from(5u64);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice((B * s).compress().as_bytes());
        sig[32..].copy_from_slice(s.as_bytes());
        let sig = Signature::from_bytes(sig);
        assert!(weak.verify(domain::GOSSIP, b"any", &sig).is_err());
        assert!(verify_batch(domain::GOSSIP, &[(&weak, b"any", &sig)]).is_err());
        let kp = Keypair::from_seed(&[1; 32]);
        let good = kp.sign(domain::GOSSIP, b"m");
        let pk = kp.public();
        assert!(
            verify_batch(
                domain::GOSSIP,
                &[
                    (&pk, b"m", &good),
                    (&weak, b"any", &sig),
                    (&pk, b"m", &good)
                ]
            )
            .is_err()
        );
        // A small-order nonce (the point of order 2, here R = 0·B + T) is refused by both.
        let t = curve25519_dalek::edwards::CompressedEdwardsY([
            0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ]);
        let t = t.decompress().unwrap();
        assert!(t.is_small_order() && !t.is_identity());
        let a = curve25519_dalek::Scalar::from(77u64);
        let (pk, sig) = sign_with_nonce(a, curve25519_dalek::Scalar::ZERO, t, domain::GOSSIP, b"m");
        assert!(pk.verify(domain::GOSSIP, b"m", &sig).is_err());
        assert!(verify_batch(domain::GOSSIP, &[(&pk, b"m", &sig)]).is_err());
        // A non-canonical encoding of R (y + p for y = 1, the identity) is refused by both.
        let mut sig2 = sig.to_bytes();
        sig2[..32].copy_from_slice(&[
            0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ]);
        assert!(!canonical_y(&sig2[..32].try_into().unwrap()));
        let sig2 = Signature::from_bytes(sig2);
        assert!(verify_batch(domain::GOSSIP, &[(&pk, b"m", &sig2)]).is_err());
    }

    #[test]
    fn mixed_order_nonce_is_the_documented_difference_and_batches_agree_on_it() {
        use curve25519_dalek::traits::IsIdentity;
        // R = rB + T with T of order 2: the cofactorless equation is off by T, the cofactored
        // one holds. Only the key's holder can make such a signature. `verify` refuses it,
        // `verify_batch` accepts it, alone or in any batch: verifiers using it agree.
        let t = curve25519_dalek::edwards::CompressedEdwardsY([
            0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ])
        .decompress()
        .unwrap();
        assert!(!t.is_identity());
        let a = curve25519_dalek::Scalar::from(1234u64);
        let r = curve25519_dalek::Scalar::from(99u64);
        let (pk, sig) = sign_with_nonce(a, r, t, domain::GOSSIP, b"m");
        assert!(pk.verify(domain::GOSSIP, b"m", &sig).is_err());
        verify_batch(domain::GOSSIP, &[(&pk, b"m", &sig)]).unwrap();
        let kp = Keypair::from_seed(&[3; 32]);
        let good = kp.sign(domain::GOSSIP, b"x");
        let kpk = kp.public();
        verify_batch(domain::GOSSIP, &[(&kpk, b"x", &good), (&pk, b"m", &sig)]).unwrap();
        // The honest form of the same signature passes both.
        let (pk, sig) = sign_with_nonce(
            a,
            r,
            curve25519_dalek::EdwardsPoint::default(),
            domain::GOSSIP,
            b"m",
        );
        pk.verify(domain::GOSSIP, b"m", &sig).unwrap();
        verify_batch(domain::GOSSIP, &[(&pk, b"m", &sig)]).unwrap();
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
