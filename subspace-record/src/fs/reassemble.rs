//! Reading a file back from its manifest, one verified chunk at a time.

use std::io::{self, Read};

use subspace_crypto::RecordKey;
use subspace_crypto::hash::Blake3Hasher;

use super::manifest::Manifest;
use crate::{Payload, Record, RecordError, Result, validate_at};

/// A [`Read`] over a file's plaintext; see [`reassemble`].
pub struct Reassembler<'m, F> {
    manifest: &'m Manifest,
    fetch: F,
    next: usize,
    current: Vec<u8>,
    pos: usize,
    hasher: Blake3Hasher,
    error: Option<RecordError>,
    finished: bool,
}

impl<F> core::fmt::Debug for Reassembler<'_, F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reassembler")
            .field("next_chunk", &self.next)
            .field("buffered", &(self.current.len() - self.pos))
            .finish()
    }
}

/// Reads the file `manifest` describes, fetching chunk records lazily (one at a time, only
/// when the reader needs its bytes) with `fetch`.
///
/// Every chunk is validated (signature, and its key must be the one the manifest names),
/// opened, and its length checked; the whole-file BLAKE3 and length are checked before the
/// final end-of-file. A missing chunk is [`RecordError::ChunkUnavailable`] and a forged one
/// [`RecordError::BadChunk`], both naming the chunk; they reach the caller as an
/// [`io::Error`] of kind `InvalidData` wrapping the [`RecordError`]
/// (`err.get_ref()` and `downcast_ref::<RecordError>()` recover it).
pub fn reassemble<F>(manifest: &Manifest, fetch: F) -> Reassembler<'_, F>
where
    F: FnMut(RecordKey) -> Result<Record>,
{
    Reassembler {
        manifest,
        fetch,
        next: 0,
        current: Vec::new(),
        pos: 0,
        hasher: Blake3Hasher::new(),
        error: None,
        finished: false,
    }
}

impl<F> Reassembler<'_, F>
where
    F: FnMut(RecordKey) -> Result<Record>,
{
    fn load_next(&mut self) -> Result<()> {
        let index = self.next;
        let chunk = &self.manifest.chunks()[index];
        let key = *chunk.key();
        let record = (self.fetch)(key).map_err(|e| RecordError::ChunkUnavailable {
            index: index as u64,
            key,
            reason: e.to_string(),
        })?;
        let bad = || RecordError::BadChunk {
            index: index as u64,
            key,
        };
        validate_at(&record, &key).map_err(|_| bad())?;
        let data = match chunk.content_key() {
            Some(k) => record.open_with_key(&k).map_err(|_| bad())?,
            // A public chunk: take its data without a copy.
            None => match record.payload {
                Payload::Plain(d) => d,
                Payload::Sealed(_) => return Err(bad()),
            },
        };
        if data.len() != chunk.len() as usize {
            return Err(bad());
        }
        self.hasher.update(&data);
        self.current = data;
        self.pos = 0;
        self.next += 1;
        Ok(())
    }

    fn check_end(&mut self) -> Result<()> {
        let digest = self.hasher.finalize();
        if digest.as_bytes() != self.manifest.blake3().as_bytes() {
            return Err(RecordError::FileHashMismatch);
        }
        Ok(())
    }

    fn fill(&mut self) -> Result<()> {
        while self.pos == self.current.len() && !self.finished {
            if self.next < self.manifest.chunks().len() {
                self.load_next()?;
            } else {
                self.check_end()?;
                self.finished = true;
            }
        }
        Ok(())
    }
}

impl<F> Read for Reassembler<'_, F>
where
    F: FnMut(RecordKey) -> Result<Record>,
{
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.error {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
        }
        if out.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.fill() {
            self.error = Some(e.clone());
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        let avail = &self.current[self.pos..];
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}
