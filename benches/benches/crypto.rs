//! `cargo bench -p subspace-benches --bench crypto`
//!
//! Signing, verification, key wrapping for 1 and 16 recipients, and both AEADs over 1 KiB and
//! 1 MiB — with the raw `aes-gcm` and `chacha20poly1305` crates measured in the same run, so
//! the cost of our wrapper is a ratio, not a guess.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]
// A benchmark harness, like a test: a setup failure should abort loudly.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aes_gcm::aead::{Aead as _, KeyInit};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use subspace_crypto::{Aead, ContentKey, Keypair, domain, unwrap_key, wrap_key};

fn signatures(c: &mut Criterion) {
    let kp = Keypair::from_seed(&[7; 32]);
    let pk = kp.public();
    let msg = [0x5au8; 256];
    let sig = kp.sign(domain::RECORD, &msg);
    let mut g = c.benchmark_group("ed25519");
    g.bench_function("sign_256B", |b| {
        b.iter(|| kp.sign(domain::RECORD, black_box(&msg)))
    });
    g.bench_function("verify_256B", |b| {
        b.iter(|| pk.verify(domain::RECORD, black_box(&msg), &sig))
    });
    g.finish();
}

fn wrapping(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let key = ContentKey::generate(&mut rng);
    let readers: Vec<Keypair> = (0..16).map(|_| Keypair::generate(&mut rng)).collect();
    let mut g = c.benchmark_group("wrap_key");
    for n in [1usize, 16] {
        g.bench_with_input(BenchmarkId::new("recipients", n), &n, |b, &n| {
            b.iter(|| {
                readers[..n]
                    .iter()
                    .map(|r| wrap_key(&key, &r.public(), &mut rng))
                    .collect::<Result<Vec<_>, _>>()
            })
        });
    }
    let w = wrap_key(&key, &readers[0].public(), &mut rng).unwrap();
    g.bench_function("unwrap", |b| {
        b.iter(|| unwrap_key(black_box(&w), &readers[0]))
    });
    g.finish();
}

fn aeads(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let key = ContentKey::generate(&mut rng);
    let raw_aes = aes_gcm::Aes256Gcm::new(key.as_bytes().into());
    let raw_chacha = chacha20poly1305::ChaCha20Poly1305::new(key.as_bytes().into());
    let nonce = [3u8; 12];
    for (label, size) in [("1KiB", 1024usize), ("1MiB", 1 << 20)] {
        let data = vec![0xa5u8; size];
        let mut g = c.benchmark_group(format!("aead_seal_{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        if size > 4096 {
            g.sample_size(30).measurement_time(Duration::from_secs(4));
        }
        g.bench_function("aes256gcm/subspace", |b| {
            b.iter(|| key.seal(Aead::Aes256Gcm, black_box(&data), b"", &mut rng))
        });
        g.bench_function("aes256gcm/raw_aes-gcm", |b| {
            b.iter(|| raw_aes.encrypt((&nonce).into(), black_box(data.as_slice())))
        });
        g.bench_function("chacha20poly1305/subspace", |b| {
            b.iter(|| key.seal(Aead::ChaCha20Poly1305, black_box(&data), b"", &mut rng))
        });
        g.bench_function("chacha20poly1305/raw_chacha20poly1305", |b| {
            b.iter(|| raw_chacha.encrypt((&nonce).into(), black_box(data.as_slice())))
        });
        let sealed = key.seal(Aead::Aes256Gcm, &data, b"", &mut rng);
        g.bench_function("aes256gcm_open/subspace", |b| {
            b.iter(|| key.open(black_box(&sealed), b""))
        });
        g.finish();
    }
}

criterion_group!(benches, signatures, wrapping, aeads);
criterion_main!(benches);
