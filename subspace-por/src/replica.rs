//! Whole records: padding to pieces, encoding every piece (on all cores if asked), decoding, and
//! the client's check on a get().

use subspace_crypto::hash::sha256;
use subspace_crypto::{Hash256, PublicKey};

use crate::error::PorError;
use crate::piece::{PIECE_SIZE, decode_piece, encode_piece};
use crate::replica_id::ReplicaId;

/// Largest record this crate encodes: the whitepaper's 1 MB data field plus room for the record
/// schema around it (keys, signatures, wrapped content keys). The record crate enforces its own,
/// tighter limit; this one only bounds what a replica can make a verifier allocate.
pub const MAX_RECORD_LEN: usize = 2 * 1024 * 1024;

/// Largest replica: a record of [`MAX_RECORD_LEN`] bytes plus its padding.
pub const MAX_REPLICA_LEN: usize = (MAX_RECORD_LEN / PIECE_SIZE + 1) * PIECE_SIZE;

/// Layers a host uses unless configured otherwise (see the crate docs for the trade-off).
pub const DEFAULT_LAYERS: u32 = 64;

/// Largest `layers` accepted by the record-level functions (a verifier's cost is linear in it).
pub const MAX_LAYERS: u32 = 1 << 16;

/// The padding marker: data ‖ 0x80 ‖ 0x00… up to the next whole piece (always at least one byte,
/// so a record that fills its last piece exactly gets one more piece of padding).
const PAD_MARKER: u8 = 0x80;

/// How many threads a multi-piece encode may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Threads {
    /// The calling thread only.
    One,
    /// Every core, through rayon's global pool (the calling thread only without the `parallel`
    /// feature).
    #[default]
    All,
}

/// A host's encoded copy of one record: whole pieces, each Sloth-encoded under its own
/// [`ReplicaId`]. What the host stores and serves on a get().
#[derive(Clone, PartialEq, Eq)]
pub struct Replica {
    /// Invariant: a non-zero multiple of [`PIECE_SIZE`], at most [`MAX_REPLICA_LEN`].
    bytes: Vec<u8>,
}

impl core::fmt::Debug for Replica {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Replica({} pieces, sha256 {})",
            self.piece_count(),
            self.hash()
        )
    }
}

fn check_layers(layers: u32) -> Result<(), PorError> {
    if layers == 0 || layers > MAX_LAYERS {
        return Err(PorError::BadLayers {
            got: layers,
            max: MAX_LAYERS,
        });
    }
    Ok(())
}

impl Replica {
    /// Parses replica bytes received from a host (hostile input): they must be 1 to
    /// `MAX_REPLICA_LEN / 4096` whole pieces.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Replica, PorError> {
        let len = bytes.len();
        if len == 0 || !len.is_multiple_of(PIECE_SIZE) || len > MAX_REPLICA_LEN {
            return Err(PorError::BadReplicaLength(len));
        }
        Ok(Replica { bytes })
    }

    /// The encoded bytes, as stored and sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Number of 4096-byte pieces.
    pub fn piece_count(&self) -> usize {
        self.bytes.len() / PIECE_SIZE
    }

    /// SHA-256 of the encoded bytes: the "replica hash" a host's receipt commits to.
    pub fn hash(&self) -> Hash256 {
        sha256(&self.bytes)
    }

    /// Decodes the replica back to the record bytes (fast), checking the padding.
    ///
    /// A wrong `host`, `record_key` or `layers`, or corrupted bytes, give
    /// [`PorError::BadPadding`] or, with probability about 2^-8 per try, wrong bytes: use
    /// [`verify`] when the record's hash is known.
    pub fn decode(
        &self,
        host: &PublicKey,
        record_key: &[u8; 32],
        layers: u32,
    ) -> Result<Vec<u8>, PorError> {
        check_layers(layers)?;
        let mut out = self.bytes.clone();
        let (pieces, _) = out.as_chunks_mut::<PIECE_SIZE>();
        for (index, piece) in pieces.iter_mut().enumerate() {
            decode_piece(
                piece,
                &ReplicaId::new(host, record_key, index as u64),
                layers,
            );
        }
        unpad(&mut out)?;
        Ok(out)
    }
}

/// Removes the padding in place, rejecting anything [`encode`] cannot have produced.
fn unpad(buf: &mut Vec<u8>) -> Result<(), PorError> {
    let last_piece_start = buf.len().saturating_sub(PIECE_SIZE);
    let marker = buf
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(PorError::BadPadding)?;
    if buf[marker] != PAD_MARKER || marker < last_piece_start {
        return Err(PorError::BadPadding);
    }
    buf.truncate(marker);
    Ok(())
}

/// The last piece of `data` after padding: the bytes after its last whole piece, then `0x80`,
/// then zeros. Every piece before it is `data`'s own bytes, so this is the whole padding rule
/// (a record that fills its last piece exactly gets a piece that is all padding).
///
/// ```
/// use subspace_por::{PIECE_SIZE, padded_last_piece};
/// let last = padded_last_piece(&[7u8; PIECE_SIZE + 2]);
/// assert_eq!(&last[..3], &[7, 7, 0x80]);
/// assert!(last[3..].iter().all(|&b| b == 0));
/// ```
pub fn padded_last_piece(data: &[u8]) -> [u8; PIECE_SIZE] {
    let tail = &data[data.len() / PIECE_SIZE * PIECE_SIZE..];
    let mut last = [0u8; PIECE_SIZE];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = PAD_MARKER;
    last
}

/// Encodes `data` as `host`'s replica of the record `record_key`, on all cores when the
/// `parallel` feature is on (see [`encode_with`]).
///
/// The data is padded (`0x80` then zeros) to whole 4096-byte pieces and piece `i` is encoded
/// with [`ReplicaId::new`]`(host, record_key, i)`. Time: `pieces · layers` piece-layers, spread
/// over the cores; each piece alone is strictly sequential.
pub fn encode(
    data: &[u8],
    host: &PublicKey,
    record_key: &[u8; 32],
    layers: u32,
) -> Result<Replica, PorError> {
    encode_with(data, host, record_key, layers, Threads::All)
}

/// [`encode`] with an explicit thread setting.
pub fn encode_with(
    data: &[u8],
    host: &PublicKey,
    record_key: &[u8; 32],
    layers: u32,
    threads: Threads,
) -> Result<Replica, PorError> {
    check_layers(layers)?;
    if data.len() > MAX_RECORD_LEN {
        return Err(PorError::RecordTooLarge {
            len: data.len(),
            max: MAX_RECORD_LEN,
        });
    }
    let full = data.len() / PIECE_SIZE * PIECE_SIZE;
    let mut bytes = Vec::with_capacity(full + PIECE_SIZE);
    bytes.extend_from_slice(&data[..full]);
    bytes.extend_from_slice(&padded_last_piece(data));
    let (pieces, _) = bytes.as_chunks_mut::<PIECE_SIZE>();
    let encode_one = |(index, piece): (usize, &mut [u8; PIECE_SIZE])| {
        encode_piece(
            piece,
            &ReplicaId::new(host, record_key, index as u64),
            layers,
        );
    };
    match threads {
        #[cfg(feature = "parallel")]
        Threads::All => {
            use rayon::prelude::*;
            // One piece per task: a piece-layer is ~0.5 ms, far above rayon's per-task cost.
            pieces
                .par_iter_mut()
                .enumerate()
                .with_max_len(1)
                .for_each(encode_one);
        }
        _ => pieces.iter_mut().enumerate().for_each(encode_one),
    }
    Ok(Replica { bytes })
}

/// The client's check on a get(): does `replica` decode, under `host`'s own replica ids, to the
/// record whose SHA-256 is `expected_record_hash`?
///
/// Rejects a replica encoded for another host or record, with any bit flipped, with other
/// `layers`, or a plain copy of the data. Combined with a timeout far below the time needed to
/// encode a replica, a pass shows the host answered from its own stored, encoded copy. Cost:
/// one squaring per block and layer (cheap) and one SHA-256 of the record.
pub fn verify(
    replica: &Replica,
    host: &PublicKey,
    record_key: &[u8; 32],
    layers: u32,
    expected_record_hash: &Hash256,
) -> Result<(), PorError> {
    check_layers(layers)?;
    let data = replica
        .decode(host, record_key, layers)
        .map_err(|_| PorError::VerificationFailed)?;
    if sha256(&data) != *expected_record_hash {
        return Err(PorError::VerificationFailed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_always_adds_between_1_and_4096_bytes() {
        for len in [0, 1, 4095, 4096, 4097, 8191, 8192] {
            let mut buf = vec![0xFFu8; len];
            buf.push(PAD_MARKER);
            buf.resize((len / PIECE_SIZE + 1) * PIECE_SIZE, 0);
            let padded = buf.len();
            assert!(padded > len && padded - len <= PIECE_SIZE);
            unpad(&mut buf).unwrap();
            assert_eq!(buf, vec![0xFFu8; len]);
        }
    }

    #[test]
    fn unpad_rejects_what_encode_cannot_produce() {
        assert_eq!(unpad(&mut vec![0; PIECE_SIZE]), Err(PorError::BadPadding));
        let mut wrong_marker = vec![0; PIECE_SIZE];
        wrong_marker[10] = 0x81;
        assert_eq!(unpad(&mut wrong_marker), Err(PorError::BadPadding));
        // A marker in the second-to-last piece means more than a piece of padding.
        let mut too_long = vec![0; 2 * PIECE_SIZE];
        too_long[PIECE_SIZE - 1] = PAD_MARKER;
        assert_eq!(unpad(&mut too_long), Err(PorError::BadPadding));
    }

    #[test]
    fn replica_length_is_checked() {
        for bad in [
            0,
            1,
            PIECE_SIZE - 1,
            PIECE_SIZE + 1,
            MAX_REPLICA_LEN + PIECE_SIZE,
        ] {
            assert_eq!(
                Replica::from_bytes(vec![0; bad]),
                Err(PorError::BadReplicaLength(bad))
            );
        }
        assert!(Replica::from_bytes(vec![0; MAX_REPLICA_LEN]).is_ok());
    }
}
