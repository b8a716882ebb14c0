//! The `record` benchmark: build+seal+sign and validate+open for 1 KiB and 1 MiB records
//! (immutable and mutable), SSFS chunking of a 64 MiB file, and — the reference for the
//! issue's target — raw AES-256-GCM encryption of 1 MiB with the `aes-gcm` crate, measured in
//! the same run. Target: sealing a 1 MiB record costs at most 1.3× the raw encryption.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]
// A bench whose input fails to build must stop loudly rather than measure nothing.
#![allow(clippy::expect_used)]
use std::hint::black_box;
use std::io::Read;
use std::time::Duration;

use aes_gcm::aead::{Aead as _, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use subspace_crypto::{ContractId, Keypair};
use subspace_record::fs::{ChunkOptions, chunk};
use subspace_record::{OwnerGrant, RecordBuilder, RecordKeypair, Role, validate};

const CONTRACT: ContractId = ContractId::from_bytes([1; 32]);

fn records(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let owner = Keypair::generate(&mut rng);
    let reader = Keypair::generate(&mut rng);
    let rk = RecordKeypair::generate(&mut rng);
    for (label, len) in [("1KiB", 1024usize), ("1MiB", 1024 * 1024)] {
        let mut data = vec![0u8; len];
        rng.fill_bytes(&mut data);
        let mut g = c.benchmark_group(format!("record/{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        g.sample_size(10).measurement_time(Duration::from_secs(3));

        // The reference: one AES-256-GCM encryption of the same bytes with the raw crate
        // (fresh output buffer, as sealing needs one too).
        let raw = aes_gcm::Aes256Gcm::new((&[7u8; 32]).into());
        let nonce = [9u8; 12];
        g.bench_function("raw_aes256gcm_encrypt", |b| {
            b.iter(|| raw.encrypt((&nonce).into(), black_box(data.as_slice())))
        });

        // Immutable, sealed for its owner: seal, hash once for key and signature, wrap, sign.
        g.bench_function("build_seal_sign/immutable", |b| {
            b.iter(|| {
                RecordBuilder::new(CONTRACT, owner.public(), 1)
                    .data(black_box(&data[..]))
                    .build(&owner, &mut rng)
            })
        });
        // The same on one core (a one-thread pool runs the sequential path), to show what the
        // pipeline buys and what it costs when the machine has no idle core.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        g.bench_function("build_seal_sign/immutable_1thread", |b| {
            b.iter(|| {
                one.install(|| {
                    RecordBuilder::new(CONTRACT, owner.public(), 1)
                        .data(black_box(&data[..]))
                        .build(&owner, &mut rng)
                })
            })
        });
        // The other half of sealing: SHA-256 of the same bytes (the record key).
        g.bench_function("raw_sha256", |b| {
            b.iter(|| subspace_crypto::hash::sha256(black_box(&data)))
        });
        // Mutable, shared with one reader: three wrapped keys, the owner's grant carried.
        let grant = OwnerGrant::sign(&owner, &rk.public(), &CONTRACT).expect("grant");
        g.bench_function("build_seal_sign/mutable_shared", |b| {
            b.iter(|| {
                RecordBuilder::new(CONTRACT, owner.public(), 1)
                    .mutable(rk.public(), 5)
                    .grant(grant)
                    .share(reader.public(), Role::Read)
                    .data(black_box(&data[..]))
                    .build(rk.keypair(), &mut rng)
                    .expect("build")
            })
        });

        let rec = RecordBuilder::new(CONTRACT, owner.public(), 1)
            .data(&data[..])
            .build(&owner, &mut rng)
            .expect("build");
        g.bench_function("validate_open/immutable", |b| {
            b.iter(|| {
                validate(black_box(&rec)).expect("valid");
                rec.open(&owner).expect("open")
            })
        });
        let bytes = rec.encode().expect("encode");
        g.bench_function("decode_validate_open/immutable", |b| {
            b.iter(|| {
                let r = subspace_record::Record::decode(black_box(&bytes)).expect("decode");
                validate(&r).expect("valid");
                r.open(&owner).expect("open")
            })
        });
        g.finish();
    }
}

/// A 64 MiB file generated as it is read (so the bench measures chunking, not a memcpy).
struct Zeroes(usize);
impl Read for Zeroes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0);
        buf[..n].fill(0x5a);
        self.0 -= n;
        Ok(n)
    }
}

fn chunking(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let owner = Keypair::generate(&mut rng);
    let len = 64 * 1024 * 1024;
    let mut g = c.benchmark_group("record/ssfs");
    g.throughput(Throughput::Bytes(len as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("chunk_64MiB", |b| {
        b.iter(|| {
            let mut chunker = chunk(
                Zeroes(len),
                &owner,
                ChunkOptions::new(CONTRACT, 1),
                &mut rng,
            );
            let mut stored = 0usize;
            for r in chunker.by_ref() {
                stored += r.expect("chunk").data_len();
            }
            assert_eq!(stored, len);
            chunker.finish().expect("manifest")
        })
    });
    g.finish();
}

criterion_group!(benches, records, chunking);
criterion_main!(benches);
