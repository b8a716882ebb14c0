//! `cargo bench -p subspace-benches --bench node`
//!
//! put and get of 1 KiB and 1 MiB records through an 8-node loopback TCP network (R = 3,
//! Noise-encrypted, Sloth layers = 1), then the PoR encoding cost alone (layers 1 and the
//! default), then `DiskStore` durable write throughput for 1 KiB and 1 MiB records, with the two raw floors it
//! is built from measured in the same run: a raw redb insert committed durably, and a raw file
//! write + fsync. Every variant overwrites a cycle of 64 keys/files so the disk does not fill.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]
// A benchmark harness, like a test: a setup failure should abort loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use subspace_crypto::{ContractId, Keypair, RecordKey};
use subspace_node::{
    DiskStore, DiskStoreConfig, HostConfig, MemoryLedger, MemoryStore, Node, NodeHandle,
    RecordStore, StoredEntry, TcpConfig, TcpTransport,
};
use subspace_record::{Record, RecordBuilder};

const LAYERS: u32 = 1;

async fn network(n: usize, ledger: &MemoryLedger) -> Vec<NodeHandle> {
    let mut cfg = HostConfig {
        layers: LAYERS,
        ..HostConfig::default()
    };
    cfg.dht.k = 8;
    cfg.dht.max_requests_per_peer_per_sec = 1_000_000;
    let local = "127.0.0.1:0".parse().unwrap();
    let mut transports = Vec::new();
    let mut keys = Vec::new();
    for i in 0..n {
        let kp = Keypair::from_seed(&[i as u8 + 1; 32]);
        transports.push(
            TcpTransport::bind(kp.clone(), local, TcpConfig::default())
                .await
                .unwrap(),
        );
        keys.push(kp);
    }
    for i in 0..n {
        for j in 0..i {
            let addr = transports[j].local_addr();
            transports[i].connect(addr).await.unwrap();
        }
    }
    let seeds = vec![keys[0].node_id(), keys[1].node_id()];
    let mut out = Vec::new();
    for (i, (t, kp)) in transports.into_iter().zip(keys).enumerate() {
        out.push(
            Node::builder()
                .keypair(kp.clone())
                .store(MemoryStore::new(u64::MAX))
                .transport(t)
                .ledger(Arc::new(ledger.clone()))
                .config(cfg.clone())
                .seeds(seeds.clone())
                .contract(ContractId::from_bytes(kp.node_id().to_bytes()))
                .rng_seed(i as u64)
                .spawn()
                .unwrap(),
        );
    }
    // Wait until every node sees all members.
    for _ in 0..200 {
        let mut all = true;
        for h in &out {
            all &= h.status().await.unwrap().live_members == n;
        }
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}

fn record(owner: &Keypair, contract: ContractId, len: usize, rng: &mut ChaCha20Rng) -> Record {
    let mut data = vec![0u8; len];
    rng.fill_bytes(&mut data);
    RecordBuilder::new(contract, owner.public(), 1_700_000_000)
        .data(data)
        .public()
        .build(owner, rng)
        .unwrap()
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn tcp_network(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let ledger = MemoryLedger::new();
    let owner = Keypair::from_seed(&[0xEE; 32]);
    let contract = ContractId::from_bytes([0xC0; 32]);
    ledger.open_contract(contract, owner.public(), 2 << 20);
    let nodes = rt.block_on(network(8, &ledger));
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut g = c.benchmark_group("node_tcp_8_nodes_r3");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    for size in [1024usize, 1 << 20] {
        g.throughput(Throughput::Bytes(size as u64));
        let mut stored: Vec<RecordKey> = Vec::new();
        let mut lat_put = Vec::new();
        let mut turn = 0usize;
        g.bench_with_input(BenchmarkId::new("put", size), &size, |b, _| {
            b.iter_custom(|iters| {
                let recs: Vec<Record> = (0..iters)
                    .map(|_| record(&owner, contract, size, &mut rng))
                    .collect();
                let start = Instant::now();
                for r in recs {
                    turn += 1;
                    let key = r.key();
                    let t = Instant::now();
                    rt.block_on(nodes[turn % 8].put(r)).unwrap();
                    lat_put.push(t.elapsed());
                    stored.push(key);
                }
                start.elapsed()
            })
        });
        let mut lat_get = Vec::new();
        g.bench_with_input(BenchmarkId::new("get", size), &size, |b, _| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    turn += 1;
                    let key = stored[turn % stored.len()];
                    let t = Instant::now();
                    rt.block_on(nodes[(turn * 5 + 3) % 8].get(key)).unwrap();
                    lat_get.push(t.elapsed());
                }
                start.elapsed()
            })
        });
        for (what, lat) in [("put", &mut lat_put), ("get", &mut lat_get)] {
            lat.sort();
            let total: Duration = lat.iter().sum();
            let rps = lat.len() as f64 / total.as_secs_f64();
            eprintln!(
                "node_tcp {what} {size} B: {} ops, {rps:.1} records/s, {:.2} MB/s, p50 {:?}, p99 {:?}",
                lat.len(),
                rps * size as f64 / 1e6,
                percentile(lat, 50),
                percentile(lat, 99),
            );
        }
    }
    g.finish();
    for n in &nodes {
        n.abort();
    }
}

fn por_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("node_por_encode_1MiB");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    let data = vec![0x42u8; 1 << 20];
    let host = Keypair::from_seed(&[1; 32]).public();
    g.throughput(Throughput::Bytes(data.len() as u64));
    for layers in [1u32, subspace_por::DEFAULT_LAYERS] {
        g.bench_with_input(BenchmarkId::new("layers", layers), &layers, |b, &l| {
            b.iter(|| subspace_por::encode(&data, &host, &[7; 32], l).unwrap())
        });
    }
    g.finish();
}

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
                    .put(
                        key(i),
                        StoredEntry {
                            body: body.clone(),
                            meta: vec![0; 64],
                        },
                    )
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
                    t.insert(key(i).as_bytes().as_slice(), body.as_slice())
                        .unwrap();
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

criterion_group!(benches, tcp_network, por_cost, store_writes);
criterion_main!(benches);
