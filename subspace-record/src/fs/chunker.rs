//! Cutting a file into chunk records and a manifest, in bounded memory.

use std::io::{ErrorKind, Read};

use rand_core::CryptoRngCore;
use subspace_crypto::hash::Blake3Hasher;
use subspace_crypto::{Aead, ContentKey, ContractId, Hash256, Keypair, PublicKey};

use super::manifest::{ChunkRef, MAX_CHUNKS, Manifest};
use crate::{MAX_DATA_LEN, Record, RecordBuilder, RecordError, Result, Role};

/// How to chunk a file.
#[derive(Clone, Debug)]
pub struct ChunkOptions {
    /// The data contract every chunk and the manifest are stored under.
    pub contract: ContractId,
    /// The timestamp stamped on every record (Unix seconds, from the caller).
    pub timestamp: u64,
    /// Plaintext bytes per chunk, 1 to [`MAX_DATA_LEN`] (default: 1 MiB).
    pub chunk_len: usize,
    /// The cipher for chunks and manifest.
    pub aead: Aead,
    /// Store the file in the clear (default: sealed).
    pub public: bool,
    /// The media type recorded in the manifest (at most 255 bytes).
    pub media_type: String,
    /// Identities the manifest is shared with, and their roles.
    pub share: Vec<(PublicKey, Role)>,
}

impl ChunkOptions {
    /// Sealed, 1 MiB chunks, AES-256-GCM, `application/octet-stream`, shared with no one.
    pub fn new(contract: ContractId, timestamp: u64) -> ChunkOptions {
        ChunkOptions {
            contract,
            timestamp,
            chunk_len: MAX_DATA_LEN,
            aead: Aead::default(),
            public: false,
            media_type: "application/octet-stream".into(),
            share: Vec::new(),
        }
    }
}

/// A chunked file: the manifest, its record, and the key that opens the record (sealed
/// files), which a [`Folder`](super::Folder) entry carries.
#[derive(Debug)]
pub struct ChunkedFile {
    /// The manifest.
    pub manifest: Manifest,
    /// The manifest record (immutable; store it like any chunk).
    pub record: Record,
    /// The manifest record's content key (`None` for a public file).
    pub content_key: Option<ContentKey>,
}

/// Iterator over a file's chunk records; see [`chunk`].
pub struct Chunker<'a, R, G> {
    reader: R,
    owner: &'a Keypair,
    rng: &'a mut G,
    opts: ChunkOptions,
    buf: Vec<u8>,
    refs: Vec<ChunkRef>,
    hasher: Blake3Hasher,
    total: u64,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Failed,
}

impl<R, G> core::fmt::Debug for Chunker<'_, R, G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chunker")
            .field("chunks", &self.refs.len())
            .field("total", &self.total)
            .finish()
    }
}

/// Chunks `reader` into immutable records owned (and signed) by `owner`.
///
/// Iterate to get each chunk record (store them as they come), then call
/// [`Chunker::finish`] for the manifest. Memory use is one chunk of plaintext plus the record
/// being yielded, whatever the file's size.
pub fn chunk<'a, R: Read, G: CryptoRngCore>(
    reader: R,
    owner: &'a Keypair,
    opts: ChunkOptions,
    rng: &'a mut G,
) -> Chunker<'a, R, G> {
    let state = if (1..=MAX_DATA_LEN).contains(&opts.chunk_len) {
        State::Reading
    } else {
        State::Failed
    };
    Chunker {
        reader,
        owner,
        rng,
        buf: Vec::with_capacity(opts.chunk_len.min(MAX_DATA_LEN)),
        opts,
        refs: Vec::new(),
        hasher: Blake3Hasher::new(),
        total: 0,
        state,
    }
}

impl<R: Read, G: CryptoRngCore> Chunker<'_, R, G> {
    /// Fills the buffer with up to one chunk; returns how much was read.
    fn fill(&mut self) -> Result<usize> {
        self.buf.clear();
        let want = self.opts.chunk_len;
        // `buf` has capacity `want`; reading into its spare room never reallocates.
        self.buf.resize(want, 0);
        let mut n = 0;
        while n < want {
            match self.reader.read(&mut self.buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(RecordError::Io(e.to_string())),
            }
        }
        self.buf.truncate(n);
        Ok(n)
    }

    fn next_chunk(&mut self) -> Result<Option<Record>> {
        let n = self.fill()?;
        if n == 0 {
            return Ok(None);
        }
        if self.refs.len() >= MAX_CHUNKS {
            return Err(RecordError::FileTooLarge {
                max_chunks: MAX_CHUNKS as u64,
            });
        }
        self.hasher.update(&self.buf);
        self.total += n as u64;
        let b = RecordBuilder::new(self.opts.contract, self.owner.public(), self.opts.timestamp)
            .aead(self.opts.aead)
            .data(&self.buf[..]);
        let ((record, record_key), key) = if self.opts.public {
            (b.public().build_keyed(self.owner, self.rng)?, None)
        } else {
            let key = ContentKey::generate(self.rng);
            (
                b.content_key(key.clone())
                    .build_keyed(self.owner, self.rng)?,
                Some(key),
            )
        };
        // n <= chunk_len <= MAX_DATA_LEN, which fits a u32.
        self.refs
            .push(ChunkRef::new(record_key, n as u32, key.as_ref()));
        Ok(Some(record))
    }

    /// Builds the manifest record once every chunk has been taken (iterating to the end
    /// first if needed; chunks taken that way are dropped, so iterate yourself to store them).
    pub fn finish(mut self) -> Result<ChunkedFile> {
        while self.state == State::Reading {
            if let Some(r) = self.next() {
                r?;
            }
        }
        if self.state == State::Failed {
            return Err(RecordError::Builder(
                "chunking failed or chunk_len is out of range",
            ));
        }
        let manifest = Manifest::new(
            self.opts.chunk_len as u32,
            core::mem::take(&mut self.refs),
            self.total,
            Hash256(*self.hasher.finalize().as_bytes()),
            core::mem::take(&mut self.opts.media_type),
        )?;
        let bytes = manifest.encode()?;
        let mut b =
            RecordBuilder::new(self.opts.contract, self.owner.public(), self.opts.timestamp)
                .aead(self.opts.aead)
                .data(bytes);
        for (pk, role) in &self.opts.share {
            b = b.share(*pk, *role);
        }
        let (record, content_key) = if self.opts.public {
            (b.public().build(self.owner, self.rng)?, None)
        } else {
            let key = ContentKey::generate(self.rng);
            (
                b.content_key(key.clone()).build(self.owner, self.rng)?,
                Some(key),
            )
        };
        Ok(ChunkedFile {
            manifest,
            record,
            content_key,
        })
    }
}

impl<R: Read, G: CryptoRngCore> Iterator for Chunker<'_, R, G> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.state != State::Reading {
            return None;
        }
        match self.next_chunk() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.state = State::Done;
                None
            }
            Err(e) => {
                self.state = State::Failed;
                Some(Err(e))
            }
        }
    }
}
