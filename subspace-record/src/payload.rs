//! A record's data field: plaintext, or AEAD segments under one content key.
//!
//! Sealed data is cut into segments of [`SEGMENT_LEN`] plaintext bytes (one segment for empty
//! data), each sealed separately under the record's content key, in the manner of age's and
//! Tink's STREAM construction. Segment `i` uses the nonce `prefix || i` (an 8-byte random
//! prefix per record version and a 4-byte big-endian index) and authenticates
//! `"subspace/record-segment/v1" || i || last` so segments cannot be reordered, dropped or
//! truncated. Segments seal and open in parallel on every core; a 1 MiB record is 16 segments.
//!
//! The layout is canonical: every segment but the last holds exactly [`SEGMENT_LEN`] bytes,
//! the last holds at least one (unless the data is empty), so each plaintext length has
//! exactly one segment layout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use rand_core::CryptoRngCore;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subspace_crypto::aead::TAG_LEN;
use subspace_crypto::{Aead, ContentKey, Hash256, Sealed};

use crate::{MAX_DATA_LEN, RecordError, Result};

/// Plaintext bytes per sealed segment.
pub const SEGMENT_LEN: usize = 64 * 1024;
/// The most segments a record holds (1 MiB of data).
pub const MAX_SEGMENTS: usize = MAX_DATA_LEN / SEGMENT_LEN;

const SEGMENT_AAD: &[u8] = b"subspace/record-segment/v1";

/// A record's stored data. Its canonical encoding is what an immutable record's key hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// Public data, stored as is.
    Plain(#[serde(with = "crate::serde_bytes::buf")] Vec<u8>),
    /// Data sealed under the record's content key.
    Sealed(SealedPayload),
}

/// Data sealed in segments under one content key (see the module docs for the layout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPayload {
    aead: Aead,
    nonce_prefix: [u8; 8],
    #[serde(with = "crate::serde_bytes::bufs")]
    segments: Vec<Vec<u8>>,
}

fn segment_nonce(prefix: &[u8; 8], i: usize) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    // i < MAX_SEGMENTS (16), so it fits the 4-byte counter.
    n[8..].copy_from_slice(&(i as u32).to_be_bytes());
    n
}

fn segment_aad(i: usize, last: bool) -> [u8; SEGMENT_AAD.len() + 5] {
    let mut a = [0u8; SEGMENT_AAD.len() + 5];
    a[..SEGMENT_AAD.len()].copy_from_slice(SEGMENT_AAD);
    a[SEGMENT_AAD.len()..SEGMENT_AAD.len() + 4].copy_from_slice(&(i as u32).to_be_bytes());
    a[SEGMENT_AAD.len() + 4] = last as u8;
    a
}

/// Below this many segments the thread-pool hand-off costs more than it saves.
const PARALLEL_MIN_SEGMENTS: usize = 2;

impl SealedPayload {
    /// Seals `data` (at most [`MAX_DATA_LEN`] bytes) under `key`.
    pub fn seal(
        key: &ContentKey,
        aead: Aead,
        data: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<SealedPayload> {
        let mut nonce_prefix = [0u8; 8];
        rng.fill_bytes(&mut nonce_prefix);
        SealedPayload::seal_with_prefix(key, aead, data, nonce_prefix)
    }

    /// Seals with a nonce prefix drawn by the caller (so sealing needs no RNG and can run
    /// alongside key wrapping). The prefix must be fresh for this content key.
    pub(crate) fn seal_with_prefix(
        key: &ContentKey,
        aead: Aead,
        data: &[u8],
        nonce_prefix: [u8; 8],
    ) -> Result<SealedPayload> {
        if data.len() > MAX_DATA_LEN {
            return Err(RecordError::DataTooLarge {
                len: data.len() as u64,
                max: MAX_DATA_LEN as u64,
            });
        }
        let pieces: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(SEGMENT_LEN).collect()
        };
        let n = pieces.len();
        let seal_one = |(i, p): (usize, &&[u8])| -> Vec<u8> {
            key.seal_with_nonce(
                aead,
                segment_nonce(&nonce_prefix, i),
                p,
                &segment_aad(i, i + 1 == n),
            )
            .ciphertext
        };
        let segments: Vec<Vec<u8>> = if n >= PARALLEL_MIN_SEGMENTS {
            pieces.par_iter().enumerate().map(seal_one).collect()
        } else {
            pieces.iter().enumerate().map(seal_one).collect()
        };
        // `seal_with_nonce` returns an empty ciphertext only for inputs over 2^36 bytes.
        if segments
            .iter()
            .zip(&pieces)
            .any(|(c, p)| c.len() != p.len() + TAG_LEN)
        {
            return Err(RecordError::Malformed("segment failed to seal"));
        }
        Ok(SealedPayload {
            aead,
            nonce_prefix,
            segments,
        })
    }

    /// Seals `data` and computes the payload digest ([`Payload::digest`]) in one pipelined
    /// pass on two threads: a pool worker seals segments while this thread first runs `side`
    /// (key wrapping, which needs the caller's RNG) and then hashes each segment as soon as it
    /// is sealed, in order, sealing the next unclaimed segment itself whenever it would
    /// otherwise wait. On two cores a 1 MiB record costs about one AES-GCM pass.
    pub(crate) fn seal_hashed<T>(
        key: &ContentKey,
        aead: Aead,
        data: &[u8],
        nonce_prefix: [u8; 8],
        side: impl FnOnce() -> T,
    ) -> Result<(SealedPayload, Hash256, T)> {
        if data.len() > MAX_DATA_LEN {
            return Err(RecordError::DataTooLarge {
                len: data.len() as u64,
                max: MAX_DATA_LEN as u64,
            });
        }
        let pieces: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(SEGMENT_LEN).collect()
        };
        let n = pieces.len();
        // Blocking this thread on a condition variable is only safe outside the pool (a pool
        // worker waiting on its own queued tasks could deadlock) and useful with 2+ workers.
        let pipelined = n >= PARALLEL_MIN_SEGMENTS
            && rayon::current_thread_index().is_none()
            && rayon::current_num_threads() >= 2;
        if !pipelined {
            let side_out = side();
            let sealed = SealedPayload::seal_with_prefix(key, aead, data, nonce_prefix)?;
            let digest = sealed.digest();
            return Ok((sealed, digest, side_out));
        }
        let seal_one = |i: usize| -> Vec<u8> {
            key.seal_with_nonce(
                aead,
                segment_nonce(&nonce_prefix, i),
                pieces[i],
                &segment_aad(i, i + 1 == n),
            )
            .ciphertext
        };
        // Two threads, no more (the machine's cores are the budget): one pool worker seals
        // segments in order; this thread runs `side`, then hashes each sealed segment in
        // order, and whenever the next one is not sealed yet it claims and seals the next
        // unclaimed segment itself instead of waiting. Both claim from one counter, so every
        // segment is sealed exactly once, and the hash chain never waits longer than one
        // segment.
        let next_claim = AtomicUsize::new(0);
        let ready: Mutex<Vec<Option<Vec<u8>>>> = Mutex::new(vec![None; n]);
        let sealed_one = Condvar::new();
        let publish = |i: usize, c: Vec<u8>| {
            // A poisoned lock only means a sealing task panicked; the slots are plain Options.
            let mut slots = ready.lock().unwrap_or_else(|e| e.into_inner());
            slots[i] = Some(c);
            drop(slots);
            sealed_one.notify_one();
        };
        let mut h = Sha256::new();
        h.update(1u32.to_be_bytes());
        h.update(aead_tag(aead).to_be_bytes());
        h.update(nonce_prefix);
        h.update((n as u64).to_be_bytes());
        let mut segments = Vec::with_capacity(n);
        let side_out = rayon::in_place_scope(|scope| {
            scope.spawn(|_| {
                loop {
                    let i = next_claim.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    publish(i, seal_one(i));
                }
            });
            let side_out = side();
            while segments.len() < n {
                let want = segments.len();
                let mut slots = ready.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(seg) = slots[want].take() {
                    drop(slots);
                    h.update((seg.len() as u64).to_be_bytes());
                    h.update(&seg);
                    segments.push(seg);
                    continue;
                }
                drop(slots);
                let i = next_claim.fetch_add(1, Ordering::Relaxed);
                if i < n {
                    publish(i, seal_one(i));
                    continue;
                }
                // Everything is claimed and segment `want` is being sealed by the worker.
                let mut slots = ready.lock().unwrap_or_else(|e| e.into_inner());
                while slots[want].is_none() {
                    slots = sealed_one.wait(slots).unwrap_or_else(|e| e.into_inner());
                }
            }
            side_out
        });
        if segments
            .iter()
            .zip(&pieces)
            .any(|(c, p)| c.len() != p.len() + TAG_LEN)
        {
            return Err(RecordError::Malformed("segment failed to seal"));
        }
        let sealed = SealedPayload {
            aead,
            nonce_prefix,
            segments,
        };
        Ok((sealed, Hash256(h.finalize().into()), side_out))
    }

    /// Decrypts and authenticates every segment.
    pub fn open(&self, key: &ContentKey) -> Result<Vec<u8>> {
        let n = self.segments.len();
        let open_one = |(i, c): (usize, &Vec<u8>)| -> Result<Vec<u8>> {
            let sealed = Sealed {
                aead: self.aead,
                nonce: segment_nonce(&self.nonce_prefix, i),
                ciphertext: c.clone(),
            };
            key.open(&sealed, &segment_aad(i, i + 1 == n))
                .map_err(|_| RecordError::DecryptionFailed)
        };
        let parts: Vec<Vec<u8>> = if n >= PARALLEL_MIN_SEGMENTS {
            self.segments
                .par_iter()
                .enumerate()
                .map(open_one)
                .collect::<Result<_>>()?
        } else {
            self.segments
                .iter()
                .enumerate()
                .map(open_one)
                .collect::<Result<_>>()?
        };
        let mut out = Vec::with_capacity(self.plaintext_len());
        for p in parts {
            out.extend_from_slice(&p);
        }
        Ok(out)
    }

    /// The cipher that sealed the segments.
    pub fn aead(&self) -> Aead {
        self.aead
    }

    /// The sealed segments, each ciphertext with its tag.
    pub fn segments(&self) -> &[Vec<u8>] {
        &self.segments
    }

    /// Length of the plaintext this opens to.
    pub fn plaintext_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| s.len().saturating_sub(TAG_LEN))
            .sum()
    }

    /// SHA-256 of `codec::encode(&Payload::Sealed(self))`, computed without encoding.
    fn digest(&self) -> Hash256 {
        let mut h = Sha256::new();
        h.update(1u32.to_be_bytes());
        h.update(aead_tag(self.aead).to_be_bytes());
        h.update(self.nonce_prefix);
        h.update((self.segments.len() as u64).to_be_bytes());
        for seg in &self.segments {
            h.update((seg.len() as u64).to_be_bytes());
            h.update(seg);
        }
        Hash256(h.finalize().into())
    }

    fn check(&self) -> Result<()> {
        let n = self.segments.len();
        if n == 0 || n > MAX_SEGMENTS {
            return Err(RecordError::Malformed("segment count out of range"));
        }
        let full = SEGMENT_LEN + TAG_LEN;
        for (i, s) in self.segments.iter().enumerate() {
            let ok = if i + 1 < n {
                s.len() == full
            } else if n == 1 {
                (TAG_LEN..=full).contains(&s.len())
            } else {
                (TAG_LEN + 1..=full).contains(&s.len())
            };
            if !ok {
                return Err(RecordError::Malformed("non-canonical segment layout"));
            }
        }
        Ok(())
    }
}

fn aead_tag(aead: Aead) -> u32 {
    // The serde variant index of `Aead`, as the codec writes it.
    match aead {
        Aead::Aes256Gcm => 0,
        Aead::ChaCha20Poly1305 => 1,
    }
}

impl Payload {
    /// Length of the plaintext.
    pub fn plaintext_len(&self) -> usize {
        match self {
            Payload::Plain(d) => d.len(),
            Payload::Sealed(s) => s.plaintext_len(),
        }
    }

    /// Whether the data is public.
    pub fn is_plain(&self) -> bool {
        matches!(self, Payload::Plain(_))
    }

    /// Checks the size limit and the canonical segment layout.
    pub(crate) fn check(&self) -> Result<()> {
        match self {
            Payload::Plain(d) if d.len() > MAX_DATA_LEN => Err(RecordError::DataTooLarge {
                len: d.len() as u64,
                max: MAX_DATA_LEN as u64,
            }),
            Payload::Plain(_) => Ok(()),
            Payload::Sealed(s) => s.check(),
        }
    }

    /// SHA-256 of the payload's canonical encoding, computed without building the encoding.
    ///
    /// An immutable record's key is this digest, and every record's signature covers it, so
    /// the (up to 1 MiB) data is hashed exactly once and never copied to be signed.
    pub fn digest(&self) -> Hash256 {
        // Mirrors `codec::encode(self)`: u32 enum tags, u64 lengths, big-endian; a unit test
        // checks the two agree.
        let mut h = Sha256::new();
        match self {
            Payload::Plain(d) => {
                h.update(0u32.to_be_bytes());
                h.update((d.len() as u64).to_be_bytes());
                h.update(d);
            }
            Payload::Sealed(s) => return s.digest(),
        }
        Hash256(h.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use subspace_crypto::codec;

    #[test]
    fn digest_matches_codec_encoding() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let key = ContentKey::generate(&mut rng);
        for len in [
            0,
            1,
            SEGMENT_LEN - 1,
            SEGMENT_LEN,
            SEGMENT_LEN + 1,
            3 * SEGMENT_LEN + 5,
        ] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for aead in [Aead::Aes256Gcm, Aead::ChaCha20Poly1305] {
                let p = Payload::Sealed(SealedPayload::seal(&key, aead, &data, &mut rng).unwrap());
                p.check().unwrap();
                let enc = codec::encode(&p).unwrap();
                assert_eq!(p.digest(), subspace_crypto::hash::sha256(&enc));
                assert_eq!(p.plaintext_len(), len);
                let Payload::Sealed(s) = &p else {
                    unreachable!()
                };
                assert_eq!(s.open(&key).unwrap(), data);
            }
            let p = Payload::Plain(data.clone());
            assert_eq!(
                p.digest(),
                subspace_crypto::hash::sha256(&codec::encode(&p).unwrap())
            );
        }
    }

    #[test]
    fn pipelined_and_sequential_sealing_agree_with_the_digest() {
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let key = ContentKey::generate(&mut rng);
        let data: Vec<u8> = (0..MAX_DATA_LEN).map(|i| (i % 253) as u8).collect();
        let run = |len: usize| {
            let (s, d, side) =
                SealedPayload::seal_hashed(&key, Aead::Aes256Gcm, &data[..len], [3; 8], || 42)
                    .unwrap();
            assert_eq!(side, 42);
            let p = Payload::Sealed(s);
            p.check().unwrap();
            assert_eq!(d, p.digest());
            let Payload::Sealed(s) = p else {
                unreachable!()
            };
            assert_eq!(s.open(&key).unwrap(), data[..len]);
            d
        };
        for len in [0, 1, SEGMENT_LEN + 1, MAX_DATA_LEN] {
            // From a plain thread (pipelined when the pool has two workers) and from inside a
            // one-thread pool (sequential): the same bytes either way.
            let outside = run(len);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let inside = pool.install(|| run(len));
            assert_eq!(outside, inside);
        }
    }

    #[test]
    fn reordered_dropped_or_truncated_segments_fail() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let key = ContentKey::generate(&mut rng);
        let data = vec![5u8; 3 * SEGMENT_LEN];
        let s = SealedPayload::seal(&key, Aead::Aes256Gcm, &data, &mut rng).unwrap();
        let mut swapped = s.clone();
        swapped.segments.swap(0, 1);
        assert_eq!(swapped.open(&key), Err(RecordError::DecryptionFailed));
        let mut dropped = s.clone();
        dropped.segments.pop();
        // Still canonical in shape, but segment 1 was not sealed as the last one.
        dropped.check().unwrap();
        assert_eq!(dropped.open(&key), Err(RecordError::DecryptionFailed));
        let mut short = s.clone();
        short.segments[0].pop();
        assert!(short.check().is_err());
        let empty = SealedPayload {
            segments: vec![],
            ..s.clone()
        };
        assert!(empty.check().is_err());
    }

    #[test]
    fn hostile_length_prefixes_are_refused_before_allocating() {
        // Plain payload claiming 2^62 bytes; sealed payload claiming 2^62 segments, and one
        // segment claiming 2^62 bytes.
        let plain = [
            &0u32.to_be_bytes()[..],
            &(1u64 << 62).to_be_bytes(),
            &[1, 2, 3],
        ]
        .concat();
        assert!(codec::decode::<Payload>(&plain).is_err());
        let head = [&1u32.to_be_bytes()[..], &0u32.to_be_bytes(), &[0u8; 8]].concat();
        let many = [&head[..], &(1u64 << 62).to_be_bytes()].concat();
        assert!(codec::decode::<Payload>(&many).is_err());
        let huge = [
            &head[..],
            &1u64.to_be_bytes(),
            &(1u64 << 62).to_be_bytes(),
            &[0u8; 40],
        ]
        .concat();
        assert!(codec::decode::<Payload>(&huge).is_err());
        // And 17 real segments are refused by the decoder itself.
        let seventeen = [
            &head[..],
            &17u64.to_be_bytes(),
            &[&16u64.to_be_bytes()[..], &[0u8; 16]].concat().repeat(17),
        ]
        .concat();
        assert!(codec::decode::<Payload>(&seventeen).is_err());
    }

    #[test]
    fn oversized_data_is_refused_before_sealing() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let key = ContentKey::generate(&mut rng);
        let data = vec![0u8; MAX_DATA_LEN + 1];
        assert_eq!(
            SealedPayload::seal(&key, Aead::Aes256Gcm, &data, &mut rng),
            Err(RecordError::DataTooLarge {
                len: MAX_DATA_LEN as u64 + 1,
                max: MAX_DATA_LEN as u64
            })
        );
        assert!(Payload::Plain(data).check().is_err());
    }
}
