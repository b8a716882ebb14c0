//! One piece: 4096 bytes, 128 blocks, encoded in place by a chained Sloth pass per layer.

use crate::field::{self, Fe};
use crate::replica_id::ReplicaId;
use crate::sloth::{decode_block, encode_block};

/// Bytes in one piece, the unit of encoding.
pub const PIECE_SIZE: usize = 4096;

/// Bytes in one block, one field element (little-endian).
pub const BLOCK_SIZE: usize = 32;

/// Blocks in one piece.
pub const BLOCKS_PER_PIECE: usize = PIECE_SIZE / BLOCK_SIZE;

#[inline(always)]
fn xor(a: &Fe, b: &Fe) -> Fe {
    [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]]
}

/// Encodes `piece` in place for the replica `id`, `layers` times over (slow by design).
///
/// Each layer runs over the 128 blocks in order: block ← Sloth(block ⊕ feedback), where the
/// feedback is the replica id for the very first block and the previous encoded block after
/// that (across layers too, so all `128 · layers` steps form one chain). No step can start
/// before the previous one ends, so the time is `128 · layers` modular square roots, whatever
/// the number of cores. `layers == 0` leaves the piece unchanged. Allocates nothing.
///
/// ```
/// use subspace_por::{ReplicaId, decode_piece, encode_piece};
/// let id = ReplicaId::from_bytes([7; 32]);
/// let mut piece = [0xAB; 4096];
/// encode_piece(&mut piece, &id, 1);
/// assert_ne!(piece, [0xAB; 4096]);
/// decode_piece(&mut piece, &id, 1);
/// assert_eq!(piece, [0xAB; 4096]);
/// ```
pub fn encode_piece(piece: &mut [u8; PIECE_SIZE], id: &ReplicaId, layers: u32) {
    let (blocks, _) = piece.as_chunks_mut::<BLOCK_SIZE>();
    let mut feedback = field::from_le_bytes(id.as_bytes());
    for _ in 0..layers {
        for block in blocks.iter_mut() {
            let v = xor(&field::from_le_bytes(block), &feedback);
            feedback = encode_block(&v);
            field::to_le_bytes(&feedback, block);
        }
    }
}

/// Decodes in place what [`encode_piece`] produced with the same `id` and `layers` (fast: one
/// squaring per block and layer, and the blocks of a layer are independent). Allocates nothing.
pub fn decode_piece(piece: &mut [u8; PIECE_SIZE], id: &ReplicaId, layers: u32) {
    let (blocks, _) = piece.as_chunks_mut::<BLOCK_SIZE>();
    let iv = field::from_le_bytes(id.as_bytes());
    for layer in (0..layers).rev() {
        // Blocks last to first, so each block's feedback (its predecessor) is still encoded.
        let mut next = field::from_le_bytes(&blocks[BLOCKS_PER_PIECE - 1]);
        for i in (1..BLOCKS_PER_PIECE).rev() {
            let prev = field::from_le_bytes(&blocks[i - 1]);
            let v = xor(&decode_block(&next), &prev);
            field::to_le_bytes(&v, &mut blocks[i]);
            next = prev;
        }
        // The first block's feedback is the previous layer's last block (already decoded
        // back to that layer's output above), or the id in the first layer.
        let feedback = if layer == 0 {
            iv
        } else {
            field::from_le_bytes(&blocks[BLOCKS_PER_PIECE - 1])
        };
        let v = xor(&decode_block(&next), &feedback);
        field::to_le_bytes(&v, &mut blocks[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_chain_through_the_last_block() {
        // Two layers must equal one layer applied twice with the feedback carried over, which
        // differs from applying one fresh layer twice (which restarts from the id).
        let id = ReplicaId::from_bytes([3; 32]);
        let mut two = [0x5A; PIECE_SIZE];
        encode_piece(&mut two, &id, 2);
        let mut restarted = [0x5A; PIECE_SIZE];
        encode_piece(&mut restarted, &id, 1);
        encode_piece(&mut restarted, &id, 1);
        assert_ne!(two, restarted);
        decode_piece(&mut two, &id, 2);
        assert_eq!(two, [0x5A; PIECE_SIZE]);
    }

    #[test]
    fn zero_layers_is_identity() {
        let id = ReplicaId::from_bytes([3; 32]);
        let mut piece = [0x11; PIECE_SIZE];
        encode_piece(&mut piece, &id, 0);
        assert_eq!(piece, [0x11; PIECE_SIZE]);
    }

    #[test]
    fn a_change_propagates_to_every_later_block() {
        let id = ReplicaId::from_bytes([4; 32]);
        let mut a = [0u8; PIECE_SIZE];
        let mut b = [0u8; PIECE_SIZE];
        b[0] = 1;
        encode_piece(&mut a, &id, 1);
        encode_piece(&mut b, &id, 1);
        let (ba, _) = a.as_chunks::<BLOCK_SIZE>();
        let (bb, _) = b.as_chunks::<BLOCK_SIZE>();
        assert!(ba.iter().zip(bb).all(|(x, y)| x != y));
    }
}
