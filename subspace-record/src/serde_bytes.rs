//! Byte buffers through serde as byte strings rather than sequences of `u8`.
//!
//! The codec writes both the same way (a `u64` length, then the bytes), so the format does not
//! change; but a sequence is encoded and decoded one element at a time, which made decoding a
//! 1 MiB record ten times slower than hashing it. Decoding stays bounded: the codec's limit
//! refuses a length prefix larger than the input before allocating.

use core::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserializer, Serializer};

struct BufVisitor;

impl<'de> Visitor<'de> for BufVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
}

/// `#[serde(with = "crate::serde_bytes::buf")]` for a `Vec<u8>`.
pub(crate) mod buf {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BufVisitor)
    }
}

/// `#[serde(with = "crate::serde_bytes::bufs")]` for a `Vec<Vec<u8>>` of at most
/// [`MAX_SEGMENTS`](crate::payload::MAX_SEGMENTS) buffers.
pub(crate) mod bufs {
    use super::*;

    struct Ser<'a>(&'a [u8]);

    impl serde::Serialize for Ser<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    struct De(Vec<u8>);

    impl<'de> serde::Deserialize<'de> for De {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_byte_buf(BufVisitor).map(De)
        }
    }

    pub(crate) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&Ser(b))?;
        }
        seq.end()
    }

    struct SeqVisitor;

    impl<'de> Visitor<'de> for SeqVisitor {
        type Value = Vec<Vec<u8>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence of byte strings")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Vec<u8>>, A::Error> {
            let max = crate::payload::MAX_SEGMENTS;
            // Never trust a claimed length for the allocation; refuse more than the maximum.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(max));
            while let Some(De(b)) = seq.next_element()? {
                if out.len() == max {
                    return Err(serde::de::Error::custom("too many segments"));
                }
                out.push(b);
            }
            Ok(out)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        d.deserialize_seq(SeqVisitor)
    }
}
