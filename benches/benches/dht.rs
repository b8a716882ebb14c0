//! `subspace-dht`: routing-table insert and closest-k at 10k ids, and one full lookup in a
//! simulated 10,000-node network (wall time per lookup, messages per lookup).
//!
//! `cargo bench -p subspace-benches --bench dht`

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]
// A benchmark harness, like a test: a setup failure should abort loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The simulator is the one the crate's tests use (a single thread, virtual clock, seeded).
#[path = "../../subspace-dht/tests/sim/mod.rs"]
mod sim;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use subspace_crypto::{Hash256, NodeId};
use subspace_dht::{DhtConfig, Event, RoutingTable};

fn ids(n: usize, seed: u64) -> Vec<NodeId> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            NodeId::from_bytes(b)
        })
        .collect()
}

fn filled(k: usize, peers: &[NodeId], now: Instant) -> RoutingTable {
    let mut t = RoutingTable::new(NodeId::from_bytes([0x42; 32]), k, 3, usize::MAX, usize::MAX);
    for p in peers {
        t.insert(*p, None, now);
    }
    t
}

fn routing(c: &mut Criterion) {
    let now = Instant::now();
    let peers = ids(10_000, 1);
    let targets: Vec<Hash256> = ids(1024, 2).into_iter().map(|i| i.0).collect();
    let mut g = c.benchmark_group("dht/routing");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    // k = 20: a Kademlia table offered 10k peers keeps ~20 per bucket. k = 5000: a node that
    // knows the whole (small) network, as the whitepaper allows below 1M nodes: all 10k fit.
    for k in [20usize, 5000] {
        let table = filled(k, &peers, now);
        eprintln!("k = {k}: table holds {} of 10000 offered ids", table.len());
        g.throughput(Throughput::Elements(peers.len() as u64));
        g.bench_function(format!("insert 10k ids, k={k}"), |b| {
            b.iter_batched(
                || (),
                |_| black_box(filled(k, &peers, now)),
                BatchSize::PerIteration,
            )
        });
        g.throughput(Throughput::Elements(1));
        let mut i = 0;
        let mut out = Vec::with_capacity(20);
        g.bench_function(
            format!("closest 20 of {} entries, k={k}", table.len()),
            |b| {
                b.iter(|| {
                    i = (i + 1) % targets.len();
                    table.closest_into(&targets[i], 20, &mut out);
                    black_box(out.len())
                })
            },
        );
    }
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let mut cfg = DhtConfig::default();
    cfg.refresh_on_bootstrap = false;
    let setup = Instant::now();
    let mut sim = sim::Sim::new(10_000, &cfg, sim::NetConfig::default(), 7);
    sim.join_all(3, 10_000, 30_000_000);
    eprintln!(
        "10k-node network built in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let run_one = |sim: &mut sim::Sim| -> u32 {
        let i = sim.random_live();
        let target = NodeId::from_bytes(sim.random_id());
        let now = sim.now();
        let q = sim.nodes[i].dht.find_node(now, target).unwrap();
        sim.flush(i);
        match sim.run_until_result(i as u32, q, 120_000_000) {
            Some(Event::NodesFound { stats, .. }) => stats.requests + stats.responses,
            other => panic!("unexpected {other:?}"),
        }
    };
    let msgs: Vec<u32> = (0..200).map(|_| run_one(&mut sim)).collect();
    eprintln!(
        "messages per lookup over 200 lookups: mean {:.1}",
        msgs.iter().map(|&m| m as f64).sum::<f64>() / msgs.len() as f64
    );
    let mut g = c.benchmark_group("dht/simulated");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));
    g.bench_function("find_node lookup, 10k nodes", |b| {
        b.iter(|| black_box(run_one(&mut sim)))
    });
    g.finish();
}

criterion_group!(benches, routing, lookup);
criterion_main!(benches);
