//! The manifest: what a file is made of.
//!
//! Format: `0x01 || codec(chunk_len u32, chunks [(key, len u32, content key option)], total
//! length u64, BLAKE3 of the plaintext, media type string)`. Canonical: every chunk but the
//! last holds exactly `chunk_len` bytes, the last at least one, lengths add up to the total,
//! and either every chunk has a content key (sealed file) or none has (public file).

use serde::{Deserialize, Serialize};
use subspace_crypto::{ContentKey, Hash256, Keypair, RecordKey, codec};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{MAX_DATA_LEN, Record, RecordError, Result};

/// The format version byte that starts every encoded manifest.
pub const MANIFEST_VERSION: u8 = 1;
/// The most chunks one manifest lists (so it fits one record): about 14.6 GiB at the default
/// 1 MiB chunk length.
pub const MAX_CHUNKS: usize = 15_000;
/// The longest media type accepted, in bytes.
pub const MAX_MEDIA_TYPE_LEN: usize = 255;

/// One chunk of a file: its record key, plaintext length and (sealed files) content key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ChunkRef {
    #[zeroize(skip)]
    key: RecordKey,
    len: u32,
    content_key: Option<[u8; 32]>,
}

impl core::fmt::Debug for ChunkRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChunkRef")
            .field("key", &self.key)
            .field("len", &self.len)
            .field("sealed", &self.content_key.is_some())
            .finish()
    }
}

impl ChunkRef {
    pub(crate) fn new(key: RecordKey, len: u32, content_key: Option<&ContentKey>) -> ChunkRef {
        ChunkRef {
            key,
            len,
            content_key: content_key.map(|k| *k.as_bytes()),
        }
    }

    /// The chunk record's key.
    pub fn key(&self) -> &RecordKey {
        &self.key
    }

    /// The chunk's plaintext length.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the chunk is empty (never, in a well-formed manifest).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key that opens the chunk (`None` for a public file).
    pub fn content_key(&self) -> Option<ContentKey> {
        self.content_key.map(ContentKey::from_bytes)
    }
}

/// What a file is made of: ordered chunks, total length, whole-file BLAKE3, media type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    chunk_len: u32,
    chunks: Vec<ChunkRef>,
    total_len: u64,
    blake3: Hash256,
    media_type: String,
}

impl Manifest {
    pub(crate) fn new(
        chunk_len: u32,
        chunks: Vec<ChunkRef>,
        total_len: u64,
        blake3: Hash256,
        media_type: String,
    ) -> Result<Manifest> {
        let m = Manifest {
            chunk_len,
            chunks,
            total_len,
            blake3,
            media_type,
        };
        m.check()?;
        Ok(m)
    }

    /// The chunks, in file order.
    pub fn chunks(&self) -> &[ChunkRef] {
        &self.chunks
    }

    /// The plaintext length of every chunk but the last.
    pub fn chunk_len(&self) -> u32 {
        self.chunk_len
    }

    /// The file's length in bytes.
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// BLAKE3 of the whole plaintext.
    pub fn blake3(&self) -> &Hash256 {
        &self.blake3
    }

    /// The media type given when chunking (for example `text/plain`).
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// Whether the chunks are public (no content keys).
    pub fn is_public(&self) -> bool {
        self.chunks.first().is_none_or(|c| c.content_key.is_none())
    }

    /// Encodes the manifest (the data of a manifest record).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![MANIFEST_VERSION];
        codec::encode_into(self, &mut out)?;
        Ok(out)
    }

    /// Decodes and checks a manifest; any byte string gives a manifest or an error.
    pub fn decode(bytes: &[u8]) -> Result<Manifest> {
        let (&version, body) = bytes
            .split_first()
            .ok_or(RecordError::Decode("empty input".into()))?;
        if version != MANIFEST_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        let m: Manifest = codec::decode_bounded::<Manifest, MAX_DATA_LEN>(body)
            .map_err(|e| RecordError::Decode(e.to_string()))?;
        m.check()?;
        Ok(m)
    }

    /// Opens a manifest record with a keypair on its keychain (any keypair for a public file).
    pub fn open(record: &Record, keypair: &Keypair) -> Result<Manifest> {
        Manifest::decode(&record.open(keypair)?)
    }

    /// Opens a manifest record with its content key (from a folder entry).
    pub fn open_with_key(record: &Record, key: &ContentKey) -> Result<Manifest> {
        Manifest::decode(&record.open_with_key(key)?)
    }

    fn check(&self) -> Result<()> {
        let bad = |why| Err(RecordError::Malformed(why));
        if self.chunk_len == 0 || self.chunk_len as usize > MAX_DATA_LEN {
            return bad("chunk length out of range");
        }
        if self.chunks.len() > MAX_CHUNKS {
            return Err(RecordError::FileTooLarge {
                max_chunks: MAX_CHUNKS as u64,
            });
        }
        if self.media_type.len() > MAX_MEDIA_TYPE_LEN {
            return bad("media type too long");
        }
        let n = self.chunks.len();
        let mut sum = 0u64;
        for (i, c) in self.chunks.iter().enumerate() {
            let ok = if i + 1 < n {
                c.len == self.chunk_len
            } else {
                (1..=self.chunk_len).contains(&c.len)
            };
            if !ok {
                return bad("non-canonical chunk lengths");
            }
            sum += u64::from(c.len);
        }
        if sum != self.total_len {
            return bad("chunk lengths do not add up to the total");
        }
        let public = self.is_public();
        if self
            .chunks
            .iter()
            .any(|c| c.content_key.is_none() != public)
        {
            return bad("either every chunk is sealed or none is");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(n: usize, last: u32, sealed: bool) -> Manifest {
        let chunks = (0..n)
            .map(|i| ChunkRef {
                key: RecordKey::from_bytes([i as u8; 32]),
                len: if i + 1 == n { last } else { 100 },
                content_key: sealed.then_some([7; 32]),
            })
            .collect::<Vec<_>>();
        let total = chunks.iter().map(|c| u64::from(c.len)).sum();
        Manifest::new(100, chunks, total, Hash256([1; 32]), "text/plain".into()).unwrap()
    }

    #[test]
    fn round_trip_and_rules() {
        for m in [
            sample(0, 0, true),
            sample(1, 5, true),
            sample(3, 100, false),
        ] {
            assert_eq!(Manifest::decode(&m.encode().unwrap()).unwrap(), m);
        }
        let mut m = sample(3, 50, true);
        m.total_len += 1;
        assert!(Manifest::decode(&m.encode().unwrap()).is_err());
        let mut m = sample(3, 50, true);
        m.chunks[0].len = 99;
        m.total_len -= 1;
        assert!(Manifest::decode(&m.encode().unwrap()).is_err());
        let mut m = sample(3, 50, true);
        m.chunks[1].content_key = None;
        assert!(Manifest::decode(&m.encode().unwrap()).is_err());
        let mut m = sample(2, 50, true);
        m.chunks[1].len = 0;
        m.total_len -= 50;
        assert!(Manifest::decode(&m.encode().unwrap()).is_err());
        let mut bytes = sample(1, 1, false).encode().unwrap();
        bytes[0] = 9;
        assert_eq!(
            Manifest::decode(&bytes),
            Err(RecordError::UnknownVersion(9))
        );
    }

    #[test]
    fn debug_hides_content_keys() {
        let s = format!("{:?}", sample(1, 5, true));
        assert!(!s.contains("7, 7, 7"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = Manifest::decode(&bytes);
            let mut v = vec![MANIFEST_VERSION];
            v.extend_from_slice(&bytes);
            let _ = Manifest::decode(&v);
        }
    }
}
