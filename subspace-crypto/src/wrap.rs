//! Key wrapping for many recipients: a record's [`ContentKey`] sealed separately to each
//! reader, named by its ordinary ed25519 [`PublicKey`].
//!
//! For each recipient: a fresh ephemeral X25519 key, an agreement with the recipient's
//! X25519 key (the birational image of its ed25519 key), HKDF-SHA256 over the shared
//! secret with the ephemeral and recipient public keys as salt, then ChaCha20-Poly1305 over
//! the 32-byte content key. This is the shape of HPKE's base mode and of age's X25519
//! recipient stanza. The derived wrapping key is used once, so its nonce is fixed at zero.
//!
//! ```
//! use subspace_crypto::{ContentKey, Keypair, wrap_key, unwrap_key};
//! let mut rng = rand_core::OsRng;
//! let alice = Keypair::generate(&mut rng);
//! let key = ContentKey::generate(&mut rng);
//! let wrapped = wrap_key(&key, &alice.public(), &mut rng).unwrap();
//! assert_eq!(unwrap_key(&wrapped, &alice).unwrap(), key);
//! let mallory = Keypair::generate(&mut rng);
//! assert!(unwrap_key(&wrapped, &mallory).is_err());
//! ```

use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{EphemeralSecret, PublicKey as XPublicKey};
use zeroize::Zeroizing;

use crate::aead::{Aead, ContentKey, Sealed, TAG_LEN};
use crate::{CryptoError, Keypair, PublicKey, Result, serde_array};

const INFO: &[u8] = b"subspace/wrap-key/v1";

/// A content key sealed to one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Who can open it.
    pub recipient: PublicKey,
    /// The sender's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
    /// The content key under ChaCha20-Poly1305, tag appended.
    #[serde(with = "serde_array")]
    pub ciphertext: [u8; 32 + TAG_LEN],
}

fn wrapping_key(
    shared: &x25519_dalek::SharedSecret,
    ephemeral: &[u8; 32],
    recipient: &XPublicKey,
) -> Result<ContentKey> {
    // A low-order recipient or ephemeral point gives an all-zero (non-contributory) secret.
    if !shared.was_contributory() {
        return Err(CryptoError::WeakKeyAgreement);
    }
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient.as_bytes());
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    hk.expand(INFO, okm.as_mut())
        .map_err(|_| CryptoError::WeakKeyAgreement)?;
    Ok(ContentKey::from_bytes(*okm))
}

/// Seals `key` so that only `recipient`'s keypair can open it.
pub fn wrap_key(
    key: &ContentKey,
    recipient: &PublicKey,
    rng: &mut impl CryptoRngCore,
) -> Result<WrappedKey> {
    let eph = EphemeralSecret::random_from_rng(&mut *rng);
    let eph_pub = XPublicKey::from(&eph);
    let rx = recipient.to_x25519();
    let shared = eph.diffie_hellman(&rx);
    let wk = wrapping_key(&shared, eph_pub.as_bytes(), &rx)?;
    let sealed = wk.seal_with_nonce(
        Aead::ChaCha20Poly1305,
        [0; 12],
        key.as_bytes(),
        &recipient.to_bytes(),
    );
    let ciphertext = sealed
        .ciphertext
        .try_into()
        .map_err(|_| CryptoError::Encode("wrapped key length".into()))?;
    Ok(WrappedKey {
        recipient: *recipient,
        ephemeral: *eph_pub.as_bytes(),
        ciphertext,
    })
}

/// Opens a wrapped key with the recipient's keypair; anyone else gets
/// [`CryptoError::NotARecipient`].
pub fn unwrap_key(wrapped: &WrappedKey, keypair: &Keypair) -> Result<ContentKey> {
    if wrapped.recipient != keypair.public() {
        return Err(CryptoError::NotARecipient);
    }
    let secret = keypair.x25519_secret();
    let rx = XPublicKey::from(&secret);
    let shared = secret.diffie_hellman(&XPublicKey::from(wrapped.ephemeral));
    let wk =
        wrapping_key(&shared, &wrapped.ephemeral, &rx).map_err(|_| CryptoError::NotARecipient)?;
    let sealed = Sealed {
        aead: Aead::ChaCha20Poly1305,
        nonce: [0; 12],
        ciphertext: wrapped.ciphertext.to_vec(),
    };
    let mut bytes = Zeroizing::new(
        wk.open(&sealed, &wrapped.recipient.to_bytes())
            .map_err(|_| CryptoError::NotARecipient)?,
    );
    let mut k = [0u8; 32];
    k.copy_from_slice(&bytes[..32]);
    bytes.fill(0);
    Ok(ContentKey::from_bytes(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn rfc7748_x25519_vectors() {
        use crate::hex::decode_array;
        // Section 5.2, first scalar-multiplication vector.
        let k: [u8; 32] =
            decode_array("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
                .unwrap();
        let u: [u8; 32] =
            decode_array("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
                .unwrap();
        assert_eq!(
            crate::hex::encode(x25519_dalek::x25519(k, u)),
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
        );
        // Section 6.1, Diffie-Hellman.
        let a = x25519_dalek::StaticSecret::from(
            decode_array::<32>("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap(),
        );
        let b = x25519_dalek::StaticSecret::from(
            decode_array::<32>("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
                .unwrap(),
        );
        let ap = XPublicKey::from(&a);
        let bp = XPublicKey::from(&b);
        assert_eq!(
            crate::hex::encode(ap.as_bytes()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(
            crate::hex::encode(bp.as_bytes()),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
        );
        let s = a.diffie_hellman(&bp);
        assert_eq!(
            crate::hex::encode(s.as_bytes()),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        );
        assert_eq!(s.as_bytes(), b.diffie_hellman(&ap).as_bytes());
    }

    #[test]
    fn ed25519_to_x25519_agrees_both_ways() {
        // The birational map must make the two derivations meet: Alice's secret with Bob's
        // mapped public key equals Bob's secret with Alice's mapped public key.
        let a = Keypair::from_seed(&[1; 32]);
        let b = Keypair::from_seed(&[2; 32]);
        let ab = a.x25519_secret().diffie_hellman(&b.public().to_x25519());
        let ba = b.x25519_secret().diffie_hellman(&a.public().to_x25519());
        assert_eq!(ab.as_bytes(), ba.as_bytes());
        assert_eq!(
            XPublicKey::from(&a.x25519_secret()).as_bytes(),
            a.public().to_x25519().as_bytes()
        );
    }

    #[test]
    fn low_order_ephemeral_is_rejected() {
        let kp = Keypair::from_seed(&[3; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let key = ContentKey::generate(&mut rng);
        let mut w = wrap_key(&key, &kp.public(), &mut rng).unwrap();
        w.ephemeral = [0; 32]; // the identity point: shared secret is all zeros
        assert_eq!(unwrap_key(&w, &kp), Err(CryptoError::NotARecipient));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn wrap_for_many_recipients(seed in any::<u64>(), n in 1usize..=16, flip in any::<(usize, u8)>()) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let key = ContentKey::generate(&mut rng);
            let readers: Vec<Keypair> = (0..n).map(|_| Keypair::generate(&mut rng)).collect();
            let wrapped: Vec<WrappedKey> = readers
                .iter()
                .map(|r| wrap_key(&key, &r.public(), &mut rng).unwrap())
                .collect();
            let outsider = Keypair::generate(&mut rng);
            for (i, w) in wrapped.iter().enumerate() {
                prop_assert_eq!(&unwrap_key(w, &readers[i]).unwrap(), &key);
                prop_assert_eq!(unwrap_key(w, &outsider), Err(CryptoError::NotARecipient));
                // Another reader cannot open this reader's stanza.
                let j = (i + 1) % n;
                if j != i {
                    prop_assert!(unwrap_key(w, &readers[j]).is_err());
                }
                // Relabelling a stanza to another recipient does not help them.
                let mut relabelled = w.clone();
                relabelled.recipient = outsider.public();
                prop_assert!(unwrap_key(&relabelled, &outsider).is_err());
                // A flipped bit anywhere in the stanza fails cleanly.
                let mut t = w.clone();
                let pos = flip.0 % (32 + 48);
                if pos < 32 { t.ephemeral[pos] ^= 1 << (flip.1 % 8) } else { t.ciphertext[pos - 32] ^= 1 << (flip.1 % 8) }
                prop_assert!(unwrap_key(&t, &readers[i]).is_err());
            }
        }
    }
}
