//! `cargo bench -p subspace-benches --bench node`
//!
//! `DiskStore` durable write throughput for 1 KiB and 1 MiB records, with the two raw floors it
//! is built from measured in the same run: a raw redb insert committed durably, and a raw file
//! write + fsync. Every variant overwrites a cycle of 64 keys/files so the disk does not fill.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use subspace_crypto::RecordKey;
use subspace_node::{DiskStore, DiskStoreConfig, RecordStore, StoredEntry};

const CYCLE: u64 = 64;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("subspace-bench-node-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn key(i: u64) -> RecordKey {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&(i % CYCLE).to_be_bytes());
    RecordKey::from_bytes(k)
}

fn store_writes(c: &mut Criterion) {
    let mut g = c.benchmark_group("node_store_write");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for size in [1024usize, 1 << 20] {
        let body = vec![0x5Au8; size];
        g.throughput(Throughput::Bytes(size as u64));

        let d = dir("disk");
        let mut store = DiskStore::open(&d, DiskStoreConfig::default()).unwrap();
        let mut i = 0u64;
        g.bench_with_input(BenchmarkId::new("DiskStore", size), &size, |b, _| {
            b.iter(|| {
                i += 1;
                store
                    .put(key(i), StoredEntry { body: body.clone(), meta: vec![0; 64] })
                    .unwrap();
            })
        });
        drop(store);
        std::fs::remove_dir_all(&d).unwrap();

        let d = dir("redb");
        let db = redb::Database::create(d.join("raw.redb")).unwrap();
        let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("t");
        let mut i = 0u64;
        g.bench_with_input(BenchmarkId::new("raw_redb", size), &size, |b, _| {
            b.iter(|| {
                i += 1;
                let txn = db.begin_write().unwrap();
                {
                    let mut t = txn.open_table(table).unwrap();
                    t.insert(key(i).as_bytes().as_slice(), body.as_slice()).unwrap();
                }
                txn.commit().unwrap();
            })
        });
        drop(db);
        std::fs::remove_dir_all(&d).unwrap();

        let d = dir("file");
        let mut i = 0u64;
        g.bench_with_input(BenchmarkId::new("raw_file_fsync", size), &size, |b, _| {
            b.iter(|| {
                i += 1;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(d.join(format!("{}", i % CYCLE)))
                    .unwrap();
                f.write_all(&body).unwrap();
                f.sync_all().unwrap();
            })
        });
        std::fs::remove_dir_all(&d).unwrap();
    }
    g.finish();
}

criterion_group!(benches, store_writes);
criterion_main!(benches);
