//! Content encryption: a fresh random 256-bit [`ContentKey`] per record, sealed with
//! AES-256-GCM (the whitepaper's default) or ChaCha20-Poly1305 (faster on devices without
//! AES instructions).
//!
//! Nonces are 96 random bits drawn from the caller's RNG for every seal. A content key is
//! fresh per record (and per re-keyed version), so one key seals a handful of messages and
//! the birthday bound on random nonces (2^32 messages per key) is never approached.
//!
//! ```
//! use subspace_crypto::{Aead, ContentKey};
//! let mut rng = rand_core::OsRng;
//! let key = ContentKey::generate(&mut rng);
//! let sealed = key.seal(Aead::Aes256Gcm, b"secret", b"record header", &mut rng);
//! assert_eq!(key.open(&sealed, b"record header").unwrap(), b"secret");
//! assert!(key.open(&sealed, b"other header").is_err());
//! ```

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, Result};

/// Length of an AEAD tag, for both ciphers.
pub const TAG_LEN: usize = 16;
/// Length of a nonce, for both ciphers.
pub const NONCE_LEN: usize = 12;

/// Which AEAD sealed a message. The discriminant is part of the encoded format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Aead {
    /// AES-256-GCM (default; hardware-accelerated on most servers and desktops).
    #[default]
    Aes256Gcm,
    /// ChaCha20-Poly1305 (constant-time in software; faster on phones without AES).
    ChaCha20Poly1305,
}

/// A 256-bit symmetric key for one record's content. Zeroizes on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ContentKey([u8; 32]);

impl ContentKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> ContentKey {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        ContentKey(k)
    }

    /// Wraps key bytes made elsewhere.
    pub fn from_bytes(bytes: [u8; 32]) -> ContentKey {
        ContentKey(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Encrypts `plaintext` with a fresh random nonce, authenticating `aad` too.
    pub fn seal(
        &self,
        aead: Aead,
        plaintext: &[u8],
        aad: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        self.seal_with_nonce(aead, nonce, plaintext, aad)
    }

    /// Encrypts with a caller-chosen nonce. The caller guarantees the nonce is never used
    /// twice under this key (key wrapping uses it with single-use keys).
    pub fn seal_with_nonce(
        &self,
        aead: Aead,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Sealed {
        // One allocation of the final size; encrypt in place and append the tag.
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        let tag = match aead {
            Aead::Aes256Gcm => Aes256Gcm::new((&self.0).into()).encrypt_in_place_detached(
                (&nonce).into(),
                aad,
                &mut buf,
            ),
            Aead::ChaCha20Poly1305 => ChaCha20Poly1305::new((&self.0).into())
                .encrypt_in_place_detached((&nonce).into(), aad, &mut buf),
        };
        // Both ciphers only fail for messages over 2^36 bytes, which no caller can hold in a
        // Vec alongside the record limits; treat it as the impossible case it is.
        match tag {
            Ok(tag) => buf.extend_from_slice(&tag),
            Err(_) => buf.clear(),
        }
        Sealed {
            aead,
            nonce,
            ciphertext: buf,
        }
    }

    /// Decrypts and authenticates. Any tampering, a wrong key or wrong `aad` gives
    /// [`CryptoError::DecryptionFailed`].
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>> {
        let ct = &sealed.ciphertext;
        if ct.len() < TAG_LEN {
            return Err(CryptoError::DecryptionFailed);
        }
        let (body, tag) = ct.split_at(ct.len() - TAG_LEN);
        let mut buf = body.to_vec();
        let nonce = (&sealed.nonce).into();
        let r = match sealed.aead {
            Aead::Aes256Gcm => Aes256Gcm::new((&self.0).into()).decrypt_in_place_detached(
                nonce,
                aad,
                &mut buf,
                tag.into(),
            ),
            Aead::ChaCha20Poly1305 => ChaCha20Poly1305::new((&self.0).into())
                .decrypt_in_place_detached(nonce, aad, &mut buf, tag.into()),
        };
        match r {
            Ok(()) => Ok(buf),
            Err(_) => {
                buf.zeroize();
                Err(CryptoError::DecryptionFailed)
            }
        }
    }
}

impl PartialEq for ContentKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for ContentKey {}

impl core::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ContentKey(<secret>)")
    }
}

/// An AEAD ciphertext: which cipher, the nonce, and ciphertext with the tag appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The cipher that sealed it.
    pub aead: Aead,
    /// The 96-bit nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// Length of the plaintext this opens to.
    pub fn plaintext_len(&self) -> usize {
        self.ciphertext.len().saturating_sub(TAG_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn both() -> [Aead; 2] {
        [Aead::Aes256Gcm, Aead::ChaCha20Poly1305]
    }

    #[test]
    fn rfc8439_chacha20poly1305_vector() {
        // RFC 8439 section 2.8.2.
        let key = ContentKey::from_bytes(
            crate::hex::decode_array(
                "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
            )
            .unwrap(),
        );
        let nonce = crate::hex::decode_array("070000004041424344454647").unwrap();
        let aad = crate::hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let s = key.seal_with_nonce(Aead::ChaCha20Poly1305, nonce, pt, &aad);
        assert_eq!(
            crate::hex::encode(&s.ciphertext[s.ciphertext.len() - 16..]),
            "1ae10b594f09e26a7e902ecbd0600691"
        );
        assert_eq!(key.open(&s, &aad).unwrap(), pt);
    }

    proptest! {
        #[test]
        fn seal_open_round_trip_and_tamper(
            seed in any::<u64>(),
            pt in proptest::collection::vec(any::<u8>(), 0..2048),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
            flip in any::<(usize, u8)>(),
        ) {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let key = ContentKey::generate(&mut rng);
            for aead in both() {
                let s = key.seal(aead, &pt, &aad, &mut rng);
                prop_assert_eq!(s.plaintext_len(), pt.len());
                prop_assert_eq!(&key.open(&s, &aad).unwrap(), &pt);
                // flip a ciphertext bit
                let mut t = s.clone();
                let i = flip.0 % t.ciphertext.len();
                t.ciphertext[i] ^= 1 << (flip.1 % 8);
                prop_assert_eq!(key.open(&t, &aad), Err(CryptoError::DecryptionFailed));
                // flip a nonce bit
                let mut t = s.clone();
                t.nonce[flip.0 % NONCE_LEN] ^= 1;
                prop_assert_eq!(key.open(&t, &aad), Err(CryptoError::DecryptionFailed));
                // wrong key
                let other = ContentKey::generate(&mut rng);
                prop_assert_eq!(other.open(&s, &aad), Err(CryptoError::DecryptionFailed));
                // truncated
                let mut t = s.clone();
                t.ciphertext.truncate(flip.0 % (TAG_LEN + 1));
                prop_assert!(key.open(&t, &aad).is_err());
            }
        }
    }
}
