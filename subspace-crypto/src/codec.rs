//! The one codec: every signed, hashed or transmitted structure in Subspace is encoded here.
//!
//! bincode 2 with one fixed configuration: fixed-width **big-endian** integers, lengths as
//! `u64`, enum tags as `u32`. Decoding is bounded ([`MAX_DECODE_LEN`] by default, or a
//! caller's smaller limit) so a hostile length prefix cannot allocate gigabytes, and trailing
//! bytes are an error, so every value has exactly one encoding.
//!
//! ```
//! use subspace_crypto::codec;
//! let bytes = codec::encode(&(7u16, String::from("hi"))).unwrap();
//! assert_eq!(bytes, [0, 7, 0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
//! let back: (u16, String) = codec::decode(&bytes).unwrap();
//! assert_eq!(back, (7, "hi".to_string()));
//! assert!(codec::decode::<(u16, String)>(&[bytes.as_slice(), &[0]].concat()).is_err());
//! ```

use bincode::config::{self, BigEndian, Configuration, Fixint, Limit};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CryptoError, Result};

/// The largest input [`decode`] accepts: 8 MiB, above a maximal record (1 MiB of data plus
/// its keychain) and a full block, far below what would hurt a small device.
pub const MAX_DECODE_LEN: usize = 8 * 1024 * 1024;

type Config<const N: usize> = Configuration<BigEndian, Fixint, Limit<N>>;

const fn config<const N: usize>() -> Config<N> {
    config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<N>()
}

/// Encodes `value` in the canonical format.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    // Most values encoded on hot paths (gossip statements and messages) fit in a few hundred
    // bytes: starting there saves the vector's doubling from 8 bytes up.
    let mut out = Vec::with_capacity(256);
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Encodes `value`, appending to `out` (for building signed bytes without a second copy).
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    encode_to_writer(value, out).map(|_| ())
}

/// Streams the encoding of `value` into `w` (a hasher, say, so that hashing an encoding
/// allocates nothing); returns the bytes written.
///
/// ```
/// use subspace_crypto::codec;
/// let mut h = blake3::Hasher::new();
/// codec::encode_to_writer(&(7u16, "hi"), &mut h).unwrap();
/// assert_eq!(*h.finalize().as_bytes(), *blake3::hash(&codec::encode(&(7u16, "hi")).unwrap()).as_bytes());
/// ```
pub fn encode_to_writer<T: Serialize + ?Sized, W: std::io::Write>(
    value: &T,
    w: &mut W,
) -> Result<usize> {
    // The limit is enforced on decode; encoding our own values needs none.
    bincode::serde::encode_into_std_write(value, w, config::<{ usize::MAX }>())
        .map_err(|e| CryptoError::Encode(e.to_string()))
}

/// Decodes a value of type `T` from exactly `bytes` (at most [`MAX_DECODE_LEN`]).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    decode_bounded::<T, MAX_DECODE_LEN>(bytes)
}

/// Decodes with a caller-chosen byte limit `N`: inputs longer than `N`, or whose length
/// prefixes claim more than `N` bytes, are rejected before anything is allocated.
pub fn decode_bounded<T: DeserializeOwned, const N: usize>(bytes: &[u8]) -> Result<T> {
    if bytes.len() > N {
        return Err(CryptoError::Decode(format!(
            "input of {} bytes exceeds the {N}-byte limit",
            bytes.len()
        )));
    }
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(bytes, config::<N>())
        .map_err(|e| CryptoError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CryptoError::Decode(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Aead, Hash256, Keypair, PublicKey, Sealed, Signature, domain};
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        a: u64,
        b: Vec<u8>,
        c: Option<Hash256>,
        d: String,
        e: Aead,
    }

    #[test]
    fn golden_bytes() {
        let s = Sample {
            a: 0x0102,
            b: vec![9, 8],
            c: Some(Hash256([0xab; 32])),
            d: "x".into(),
            e: Aead::ChaCha20Poly1305,
        };
        let bytes = encode(&s).unwrap();
        let expected = [
            "0000000000000102", // a: u64 BE
            "0000000000000002",
            "0908", // b: len, bytes
            "01",
            "abababababababababababababababababababababababababababababababab", // c: Some
            "0000000000000001",
            "78",       // d
            "00000001", // e: variant 1
        ]
        .concat();
        assert_eq!(crate::hex::encode(&bytes), expected);
        assert_eq!(decode::<Sample>(&bytes).unwrap(), s);
    }

    #[test]
    fn signature_and_key_encodings_are_fixed_width() {
        let kp = Keypair::from_seed(&[5; 32]);
        let sig = kp.sign(domain::RECORD, b"m");
        let bytes = encode(&(kp.public(), sig)).unwrap();
        assert_eq!(bytes.len(), 32 + 64);
        let (pk, s2): (PublicKey, Signature) = decode(&bytes).unwrap();
        assert_eq!(pk, kp.public());
        assert_eq!(s2, sig);
        // An off-curve key inside a structure is a decode error, not a value.
        let mut bad = bytes.clone();
        bad[..32].copy_from_slice(&{
            let mut b = [0u8; 32];
            b[0] = 2;
            b
        });
        assert!(decode::<(PublicKey, Signature)>(&bad).is_err());
    }

    #[test]
    fn hostile_length_prefix_is_refused_cheaply() {
        // A Vec<u8> claiming 2^62 bytes, followed by nothing.
        let mut bytes = vec![0x40, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[1, 2, 3]);
        assert!(decode::<Vec<u8>>(&bytes).is_err());
        // A Vec<Sealed> claiming a billion elements.
        let bytes = [0, 0, 0, 0, 0x40, 0, 0, 0];
        assert!(decode::<Vec<Sealed>>(&bytes).is_err());
        // Over the caller's bound.
        assert!(decode_bounded::<Vec<u8>, 16>(&[0u8; 17]).is_err());
        let ok = encode(&vec![1u8; 8]).unwrap();
        assert_eq!(decode_bounded::<Vec<u8>, 16>(&ok).unwrap(), vec![1u8; 8]);
        let big = encode(&vec![1u8; 9]).unwrap();
        assert!(decode_bounded::<Vec<u8>, 16>(&big).is_err());
    }

    #[test]
    fn truncation_and_trailing_bytes() {
        let bytes = encode(&(1u32, vec![1u8, 2, 3])).unwrap();
        for n in 0..bytes.len() {
            assert!(decode::<(u32, Vec<u8>)>(&bytes[..n]).is_err());
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(decode::<(u32, Vec<u8>)>(&more).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(a in any::<u64>(), b in proptest::collection::vec(any::<u8>(), 0..300),
                      c in proptest::option::of(any::<[u8; 32]>()), d in ".{0,20}", e in any::<bool>()) {
            let s = Sample { a, b, c: c.map(Hash256), d, e: if e { Aead::Aes256Gcm } else { Aead::ChaCha20Poly1305 } };
            let bytes = encode(&s).unwrap();
            prop_assert_eq!(decode::<Sample>(&bytes).unwrap(), s);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Sample>(&bytes);
            let _ = decode::<Sealed>(&bytes);
            let _ = decode::<crate::WrappedKey>(&bytes);
            let _ = decode::<(PublicKey, Signature)>(&bytes);
        }
    }
}
