//! Lowercase hex, the way every id in Subspace is printed and parsed.

use crate::{CryptoError, Result};

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
///
/// ```
/// assert_eq!(subspace_crypto::hex::encode([0xde, 0xad]), "dead");
/// ```
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
}

fn nibble(c: u8) -> Result<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(CryptoError::InvalidHex("non-hex character")),
    }
}

/// Decodes hex (either case) into bytes.
///
/// ```
/// assert_eq!(subspace_crypto::hex::decode("DEad").unwrap(), vec![0xde, 0xad]);
/// assert!(subspace_crypto::hex::decode("abc").is_err());
/// ```
pub fn decode(s: &str) -> Result<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return Err(CryptoError::InvalidHex("odd length"));
    }
    s.chunks_exact(2)
        .map(|p| Ok((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// Decodes hex into exactly `N` bytes.
pub fn decode_array<const N: usize>(s: &str) -> Result<[u8; N]> {
    let v = decode(s)?;
    v.try_into()
        .map_err(|_| CryptoError::InvalidHex("wrong length"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = decode(&s);
        }
    }

    #[test]
    fn wrong_length_array() {
        assert!(decode_array::<2>("aabbcc").is_err());
        assert_eq!(decode_array::<3>("aabbcc").unwrap(), [0xaa, 0xbb, 0xcc]);
    }
}
