//! `cargo bench -p subspace-benches --bench por`
//!
//! Sloth encode and decode of one 4096-byte piece at 1 layer, ours and the published
//! `sloth256-189` crate (C + x86-64 assembly, same prime, same chaining) side by side in the same
//! run; then a 1 MiB record encoded on one core and on all cores, and verified.
//!
//! Before measuring, the two implementations are checked to produce identical bytes for the
//! benchmarked piece, so the comparison is of the same computation; then a short paired run
//! alternates them and prints the best round of each, which a shared, noisy machine distorts
//! far less than two criterion runs taken seconds apart.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use subspace_crypto::Keypair;
use subspace_crypto::hash::sha256;
use subspace_por::{
    PIECE_SIZE, ReplicaId, Threads, decode_piece, encode_piece, encode_with, verify,
};

/// `sloth256-189` reads the piece as u64 limbs in place only when it is 8-byte aligned (it
/// copies otherwise), so both sides get an aligned buffer.
#[repr(C, align(64))]
#[derive(Clone)]
struct Piece([u8; PIECE_SIZE]);

fn random_piece(rng: &mut ChaCha20Rng) -> Piece {
    let mut p = Piece([0; PIECE_SIZE]);
    rng.fill_bytes(&mut p.0);
    p
}

/// Panics unless ours and the reference agree on `piece` for 1 and 2 layers, both directions.
fn check_same_output(piece: &Piece, iv: &[u8; 32]) {
    let id = ReplicaId::from_bytes(*iv);
    for layers in [1u32, 2] {
        let mut ours = piece.clone();
        let mut theirs = piece.clone();
        encode_piece(&mut ours.0, &id, layers);
        let encoded = sloth256_189::cpu::encode(&mut theirs.0, iv, layers as usize);
        assert!(
            encoded.is_ok(),
            "sloth256-189 refused the piece: {encoded:?}"
        );
        assert!(
            ours.0 == theirs.0,
            "encode differs from sloth256-189 at {layers} layers"
        );
        decode_piece(&mut ours.0, &id, layers);
        let decoded = sloth256_189::cpu::decode(&mut theirs.0, iv, layers as usize);
        assert!(
            decoded.is_ok(),
            "sloth256-189 refused the piece: {decoded:?}"
        );
        assert!(
            ours.0 == theirs.0 && ours.0 == piece.0,
            "decode differs at {layers} layers"
        );
    }
}

/// Best time per call of `f` over `rounds` rounds of `calls` calls each.
fn best_of(rounds: usize, calls: u32, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed() / calls
        })
        .min()
        .unwrap_or_default()
}

/// Ours and the reference alternating in short rounds, so both see the same load on a shared
/// machine; prints the best round of each and their ratio next to criterion's figures.
fn paired(input: &Piece, iv: &[u8; 32]) {
    let id = ReplicaId::from_bytes(*iv);
    let (mut ours, mut theirs) = (input.clone(), input.clone());
    let mut best = [Duration::MAX; 4];
    for _ in 0..30 {
        let round = [
            best_of(1, 8, || encode_piece(black_box(&mut ours.0), &id, 1)),
            best_of(1, 8, || {
                let _ = black_box(sloth256_189::cpu::encode(black_box(&mut theirs.0), iv, 1));
            }),
            best_of(1, 500, || decode_piece(black_box(&mut ours.0), &id, 1)),
            best_of(1, 500, || {
                let _ = black_box(sloth256_189::cpu::decode(black_box(&mut theirs.0), iv, 1));
            }),
        ];
        for (b, r) in best.iter_mut().zip(round) {
            *b = (*b).min(r);
        }
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    eprintln!(
        "paired (best of 30 alternating rounds), one 4096 B piece, 1 layer:\n  \
         encode ours {:?} / sloth256-189 {:?} = {:.3}\n  \
         decode ours {:?} / sloth256-189 {:?} = {:.3}\n  \
         ours encode / ours decode = {:.0}",
        best[0],
        best[1],
        ratio(best[0], best[1]),
        best[2],
        best[3],
        ratio(best[2], best[3]),
        ratio(best[0], best[2]),
    );
}

fn piece(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let input = random_piece(&mut rng);
    let mut iv = [0u8; 32];
    rng.fill_bytes(&mut iv);
    check_same_output(&input, &iv);
    paired(&input, &iv);
    let id = ReplicaId::from_bytes(iv);

    let mut g = c.benchmark_group("piece_4096B_1_layer");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Bytes(PIECE_SIZE as u64));
    // Each iteration re-encodes (or re-decodes) the buffer in place, the same way on both sides.
    let mut buf = input.clone();
    g.bench_function("encode/ours", |b| {
        b.iter(|| encode_piece(black_box(&mut buf.0), &id, 1))
    });
    let mut buf = input.clone();
    g.bench_function("encode/sloth256-189", |b| {
        b.iter(|| {
            // Err only if a block is ≥ p, which random data hits with probability ~2^-248.
            let _ = black_box(sloth256_189::cpu::encode(black_box(&mut buf.0), &iv, 1));
        })
    });
    g.sample_size(20);
    let mut buf = input.clone();
    g.bench_function("decode/ours", |b| {
        b.iter(|| decode_piece(black_box(&mut buf.0), &id, 1))
    });
    let mut buf = input.clone();
    g.bench_function("decode/sloth256-189", |b| {
        b.iter(|| {
            let _ = black_box(sloth256_189::cpu::decode(black_box(&mut buf.0), &iv, 1));
        })
    });
    g.finish();
}

fn record(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut data = vec![0u8; 1 << 20];
    rng.fill_bytes(&mut data);
    let host = Keypair::from_seed(&[1; 32]).public();
    let key = sha256(&data).to_bytes();

    let mut g = c.benchmark_group("record_1MiB_1_layer");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("encode/one_core", |b| {
        b.iter(|| black_box(encode_with(black_box(&data), &host, &key, 1, Threads::One)))
    });
    g.bench_function("encode/all_cores", |b| {
        b.iter(|| black_box(encode_with(black_box(&data), &host, &key, 1, Threads::All)))
    });
    let Ok(replica) = encode_with(&data, &host, &key, 1, Threads::All) else {
        panic!("a 1 MiB record is within the limit");
    };
    let hash = sha256(&data);
    g.bench_function("verify", |b| {
        b.iter(|| {
            let verified = verify(black_box(&replica), &host, &key, 1, &hash);
            assert!(verified.is_ok());
        })
    });
    g.finish();
}

criterion_group!(benches, piece, record);
criterion_main!(benches);
