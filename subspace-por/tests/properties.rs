//! Round trips, per-host uniqueness and what `verify` rejects, on random inputs.

use proptest::prelude::*;
use subspace_crypto::hash::sha256;
use subspace_crypto::{Keypair, PublicKey};
use subspace_por::{
    BLOCK_SIZE, PIECE_SIZE, PorError, Replica, ReplicaId, Threads, decode_piece, encode_piece,
    encode_with, verify,
};

/// p = 2^256 − 189 as 32 little-endian bytes, plus `delta` (wrapping).
fn p_plus(delta: i16) -> [u8; 32] {
    let mut v = [0xFFu8; 32];
    v[0] = 0x43; // 2^256 − 189 = 0xFF…FF43
    let low = u16::from_le_bytes([v[0], v[1]]).wrapping_add_signed(delta);
    v[..2].copy_from_slice(&low.to_le_bytes());
    v
}

/// Blocks where the ≥ p rule matters: just below p, p itself, just above, the all-ones block.
fn adversarial_block() -> impl Strategy<Value = [u8; 32]> {
    prop_oneof![
        (-3i16..=3).prop_map(p_plus),
        (0i16..=188).prop_map(p_plus),
        Just([0xFF; 32]),
        Just([0x00; 32]),
        any::<[u8; 32]>(),
    ]
}

fn host(seed: u8) -> PublicKey {
    Keypair::from_seed(&[seed; 32]).public()
}

fn piece_from(blocks: &[[u8; 32]]) -> [u8; PIECE_SIZE] {
    let mut piece = [0u8; PIECE_SIZE];
    for (i, chunk) in piece.chunks_exact_mut(BLOCK_SIZE).enumerate() {
        chunk.copy_from_slice(&blocks[i % blocks.len()]);
    }
    piece
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn piece_round_trips_with_adversarial_blocks(
        blocks in proptest::collection::vec(adversarial_block(), 1..8),
        id in any::<[u8; 32]>(),
        layers in 1u32..=4,
    ) {
        let id = ReplicaId::from_bytes(id);
        let plain = piece_from(&blocks);
        let mut piece = plain;
        encode_piece(&mut piece, &id, layers);
        decode_piece(&mut piece, &id, layers);
        prop_assert_eq!(piece, plain);
    }

    /// Plants blocks whose value *after* the chaining XOR is ≥ p (or just below it), so the
    /// fixed-point rule itself is exercised, and checks the round trip through it.
    #[test]
    fn blocks_at_or_above_p_after_chaining_round_trip(
        targets in proptest::collection::vec((0usize..128, -3i16..=188), 1..6),
        seed in any::<[u8; 32]>(),
        id in any::<[u8; 32]>(),
        layers in 1u32..=4,
    ) {
        let id = ReplicaId::from_bytes(id);
        let mut plain = piece_from(&[seed]);
        let mut targets = targets;
        targets.sort();
        for &(index, delta) in &targets {
            // The feedback for block `index` is the encoded block before it (or the id), which
            // does not depend on this block or any later one.
            let mut prefix = plain;
            encode_piece(&mut prefix, &id, 1);
            let feedback: [u8; 32] = if index == 0 {
                *id.as_bytes()
            } else {
                prefix[(index - 1) * BLOCK_SIZE..index * BLOCK_SIZE].try_into().unwrap()
            };
            let want = p_plus(delta);
            for (k, b) in plain[index * BLOCK_SIZE..(index + 1) * BLOCK_SIZE].iter_mut().enumerate() {
                *b = want[k] ^ feedback[k];
            }
        }
        // In the first layer, a planted value ≥ p is a fixed point.
        let mut one = plain;
        encode_piece(&mut one, &id, 1);
        let (last_index, last_delta) = targets[targets.len() - 1];
        if last_delta >= 0 {
            prop_assert_eq!(&one[last_index * BLOCK_SIZE..(last_index + 1) * BLOCK_SIZE], &p_plus(last_delta)[..]);
        }
        let mut piece = plain;
        encode_piece(&mut piece, &id, layers);
        decode_piece(&mut piece, &id, layers);
        prop_assert_eq!(piece, plain);
    }

    #[test]
    fn record_round_trips(
        data in proptest::collection::vec(any::<u8>(), 0..(2 * PIECE_SIZE + 100)),
        seed in any::<u8>(),
        key in any::<[u8; 32]>(),
        layers in 1u32..=4,
    ) {
        let host = host(seed);
        let replica = encode_with(&data, &host, &key, layers, Threads::All).unwrap();
        prop_assert_eq!(replica.as_bytes().len(), (data.len() / PIECE_SIZE + 1) * PIECE_SIZE);
        prop_assert_eq!(replica.decode(&host, &key, layers).unwrap(), data.clone());
        prop_assert_eq!(verify(&replica, &host, &key, layers, &sha256(&data)), Ok(()));
    }

    #[test]
    fn another_host_differs_in_every_piece_and_fails_verify(
        data in proptest::collection::vec(any::<u8>(), 0..(3 * PIECE_SIZE)),
        a in 0u8..128,
        b in 128u8..=255,
        key in any::<[u8; 32]>(),
    ) {
        let (ha, hb) = (host(a), host(b));
        let ra = encode_with(&data, &ha, &key, 1, Threads::One).unwrap();
        let rb = encode_with(&data, &hb, &key, 1, Threads::One).unwrap();
        for (pa, pb) in ra.as_bytes().chunks(PIECE_SIZE).zip(rb.as_bytes().chunks(PIECE_SIZE)) {
            prop_assert_ne!(pa, pb);
        }
        prop_assert_eq!(verify(&rb, &ha, &key, 1, &sha256(&data)), Err(PorError::VerificationFailed));
    }

    #[test]
    fn verify_rejects_any_flipped_bit(
        data in proptest::collection::vec(any::<u8>(), 0..(2 * PIECE_SIZE)),
        bit in any::<proptest::sample::Index>(),
        layers in 1u32..=3,
    ) {
        let host = host(1);
        let key = sha256(&data).to_bytes();
        let replica = encode_with(&data, &host, &key, layers, Threads::One).unwrap();
        let mut bytes = replica.into_bytes();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let tampered = Replica::from_bytes(bytes).unwrap();
        prop_assert_eq!(verify(&tampered, &host, &key, layers, &sha256(&data)), Err(PorError::VerificationFailed));
    }

    #[test]
    fn verify_rejects_a_plain_copy(
        data in proptest::collection::vec(any::<u8>(), 0..(2 * PIECE_SIZE)),
        layers in 1u32..=3,
    ) {
        let host = host(2);
        let key = sha256(&data).to_bytes();
        // The same data with the same padding, never encoded: what an outsourcing host that
        // kept only the plain record would serve.
        let mut plain = data.clone();
        plain.push(0x80);
        plain.resize((data.len() / PIECE_SIZE + 1) * PIECE_SIZE, 0);
        let plain = Replica::from_bytes(plain).unwrap();
        prop_assert_eq!(verify(&plain, &host, &key, layers, &sha256(&data)), Err(PorError::VerificationFailed));
    }

    /// Hostile replica bytes: parsing, decoding and verifying return errors, never panic.
    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..(2 * PIECE_SIZE + 1)),
        layers in 0u32..=2,
    ) {
        let host = host(3);
        if let Ok(replica) = Replica::from_bytes(bytes) {
            let _ = replica.decode(&host, &[0; 32], layers);
            prop_assert!(verify(&replica, &host, &[0; 32], layers, &sha256(b"")).is_err());
        }
    }
}

#[test]
fn verify_rejects_wrong_layers_and_record_key() {
    let host = host(4);
    let data = vec![0x42u8; 5000];
    let key = sha256(&data).to_bytes();
    let replica = encode_with(&data, &host, &key, 2, Threads::One).unwrap();
    let hash = sha256(&data);
    assert_eq!(verify(&replica, &host, &key, 2, &hash), Ok(()));
    assert!(verify(&replica, &host, &key, 1, &hash).is_err());
    assert!(verify(&replica, &host, &key, 3, &hash).is_err());
    assert!(verify(&replica, &host, &[0; 32], 2, &hash).is_err());
    assert!(verify(&replica, &host, &key, 0, &hash).is_err());
}

#[test]
fn one_thread_and_all_threads_agree() {
    let host = host(5);
    let data: Vec<u8> = (0..5 * PIECE_SIZE + 17)
        .map(|i| (i * 31 % 256) as u8)
        .collect();
    let one = encode_with(&data, &host, &[9; 32], 1, Threads::One).unwrap();
    let all = encode_with(&data, &host, &[9; 32], 1, Threads::All).unwrap();
    assert_eq!(one, all);
}

#[test]
fn limits_are_enforced() {
    let host = host(6);
    let too_big = vec![0u8; subspace_por::MAX_RECORD_LEN + 1];
    assert!(matches!(
        encode_with(&too_big, &host, &[0; 32], 1, Threads::One),
        Err(PorError::RecordTooLarge { .. })
    ));
    assert!(matches!(
        encode_with(b"x", &host, &[0; 32], 0, Threads::One),
        Err(PorError::BadLayers { got: 0, .. })
    ));
    assert!(matches!(
        encode_with(
            b"x",
            &host,
            &[0; 32],
            subspace_por::MAX_LAYERS + 1,
            Threads::One
        ),
        Err(PorError::BadLayers { .. })
    ));
}
