//! `cargo bench -p subspace-benches --bench gossip`
//!
//! - `handle_message/ping`: one ping in over an authenticated transport, decoded, checked,
//!   answered with an ack (messages/s per core).
//! - `handle_message/ping_mac`: the same with per-hop MACs (`ProbeAuth::Mac`, pairwise keys
//!   cached): a MAC checked in, a MAC made out.
//! - `handle_message/fresh_suspect`: one message carrying one never-seen signed statement
//!   (decode, id, verify, pool insert).
//! - `handle_message/duplicate_news`: a message of 6 piggy-backed statements the node already holds
//!   (the common case in a converged network: no signature work).
//! - `anti_entropy/digest_10k_*`: answering a Scuttlebutt digest against a 10,000-member pool,
//!   delta computation and encoding included.
//! - `anti_entropy/fingerprints_10k_*`: answering the steady-state first leg, 2,048 bucket
//!   fingerprints of a 10,000-member pool: equal pools (nothing to send), and 1% of buckets
//!   differing (digests of the differing ranges, encoded).
//! - `reference/ed25519_verify_plus_sign`: the signature work a ping cost while probes were
//!   signed, same run.
//! - `verify/{one_by_one,batch}_{6,64,256}`: checking n gossip-domain signatures one at a
//!   time (`PublicKey::verify`, strict) against one `verify_batch` call (what a node does with
//!   a piggy-back of ~6 statements and a delta of hundreds), throughput in signatures.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]
// A benchmark harness, like a test: a setup failure should abort loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use subspace_crypto::pairwise::PairKey;
use subspace_crypto::{ContractId, Keypair, NodeId, domain};
use subspace_gossip::message::{Digest, DigestEntry, Fingerprints, Hop, Probe};
use subspace_gossip::statement::{Join, Suspect};
use subspace_gossip::{Body, Config, Gossip, Message, ProbeAuth, Statement};

const UNIX0: u64 = 1_800_000_000_000;

fn key(i: u32) -> Keypair {
    let mut s = [0u8; 32];
    s[..4].copy_from_slice(&i.to_be_bytes());
    s[31] = 1;
    Keypair::from_seed(&s)
}

/// A joined node whose pool holds `n` members (joins delivered through anti-entropy deltas).
fn node_with_pool(n: u32, config: Config) -> (Gossip, Vec<Keypair>, Instant) {
    let t0 = Instant::now();
    let me = key(u32::MAX);
    let mut g = Gossip::new(config, me, 1);
    g.join(t0, UNIX0, ContractId::default(), 1 << 30, &[])
        .unwrap();
    let keys: Vec<Keypair> = (0..n).map(key).collect();
    for chunk in keys.chunks(200) {
        let statements = chunk
            .iter()
            .map(|k| {
                Statement::Join(Join {
                    public_key: k.public().to_bytes(),
                    contract: ContractId::default(),
                    pledged_bytes: 1 << 30,
                    incarnation: 1,
                    at_ms: UNIX0,
                })
                .sign(k)
                .unwrap()
            })
            .collect();
        let msg = Message {
            body: Body::Delta {
                statements,
                want: vec![],
            },
            piggyback: vec![],
        };
        g.handle_message(t0, chunk[0].node_id(), msg).unwrap();
    }
    while g.poll_transmit().is_some() {}
    while g.poll_event().is_some() {}
    (g, keys, t0)
}

fn handle_message(c: &mut Criterion) {
    let (mut g, keys, t0) = node_with_pool(1000, Config::default());
    let me = g.node_id();
    let mut group = c.benchmark_group("handle_message");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));

    let pings = |mac: Option<&Keypair>| -> Vec<(NodeId, Vec<u8>)> {
        (0..64u64)
            .map(|i| {
                let k = &keys[i as usize];
                let body = Probe {
                    from: k.node_id(),
                    target: me,
                    seq: i,
                };
                let mac = mac.map(|me_key| {
                    let pair = PairKey::derive(k, &me_key.public(), domain::PROBE_MAC).unwrap();
                    pair.tag(&Hop::mac_bytes(&body, &k.node_id(), &me).unwrap())
                });
                let m = Message {
                    body: Body::Ping(Hop { body, mac }),
                    piggyback: vec![],
                };
                (k.node_id(), m.encode().unwrap())
            })
            .collect()
    };
    let plain = pings(None);
    let mut i = 0usize;
    group.bench_function("ping", |b| {
        b.iter(|| {
            let (from, bytes) = &plain[i % plain.len()];
            i += 1;
            g.handle_bytes(t0, *from, black_box(bytes)).unwrap();
            black_box(g.poll_transmit())
        })
    });
    let mac_config = Config {
        probe_auth: ProbeAuth::Mac,
        ..Config::default()
    };
    let (mut gm, _, _) = node_with_pool(1000, mac_config);
    let maced = pings(Some(&key(u32::MAX)));
    // Warm the pairwise key cache, as a running node's is after a pair's first probe.
    for (from, bytes) in &maced {
        gm.handle_bytes(t0, *from, bytes).unwrap();
        while gm.poll_transmit().is_some() {}
    }
    group.bench_function("ping_mac", |b| {
        b.iter(|| {
            let (from, bytes) = &maced[i % maced.len()];
            i += 1;
            gm.handle_bytes(t0, *from, black_box(bytes)).unwrap();
            black_box(gm.poll_transmit())
        })
    });

    // Fresh statements: built outside the timed section, each handled exactly once.
    let mut counter = 0u64;
    group.bench_function("fresh_suspect", |b| {
        b.iter_custom(|iters| {
            let msgs: Vec<(NodeId, Vec<u8>)> = (0..iters)
                .map(|_| {
                    counter += 1;
                    let by = &keys[(counter % 997) as usize];
                    let about = keys[((counter * 7 + 1) % 997) as usize].node_id();
                    let about = if about == by.node_id() {
                        keys[998].node_id()
                    } else {
                        about
                    };
                    let s = Statement::Suspect(Suspect {
                        about,
                        incarnation: 1,
                        by: by.node_id(),
                        at_ms: UNIX0 + counter % 1000,
                    })
                    .sign(by)
                    .unwrap();
                    let m = Message {
                        body: Body::News,
                        piggyback: vec![s],
                    };
                    (by.node_id(), m.encode().unwrap())
                })
                .collect();
            let start = Instant::now();
            for (from, bytes) in &msgs {
                let _ = g.handle_bytes(t0, *from, bytes);
            }
            let e = start.elapsed();
            while g.poll_transmit().is_some() {}
            while g.poll_event().is_some() {}
            e
        })
    });

    let dup: Vec<_> = (0..6)
        .map(|j| {
            let k = &keys[j];
            Statement::Join(Join {
                public_key: k.public().to_bytes(),
                contract: ContractId::default(),
                pledged_bytes: 1 << 30,
                incarnation: 1,
                at_ms: UNIX0,
            })
            .sign(k)
            .unwrap()
        })
        .collect();
    let dup_bytes = Message {
        body: Body::News,
        piggyback: dup,
    }
    .encode()
    .unwrap();
    group.bench_function("duplicate_news", |b| {
        b.iter(|| {
            g.handle_bytes(t0, keys[0].node_id(), black_box(&dup_bytes))
                .unwrap()
        })
    });
    group.finish();

    let mut r = c.benchmark_group("reference");
    r.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let k = &keys[0];
    let msg = [0x5au8; 80];
    let sig = k.sign(domain::GOSSIP, &msg);
    r.bench_function("ed25519_verify_plus_sign", |b| {
        b.iter(|| {
            k.public()
                .verify(domain::GOSSIP, black_box(&msg), &sig)
                .unwrap();
            black_box(k.sign(domain::GOSSIP, &msg))
        })
    });
    r.finish();
}

fn verify(c: &mut Criterion) {
    let keys: Vec<Keypair> = (0..256).map(key).collect();
    let pks: Vec<_> = keys.iter().map(Keypair::public).collect();
    let msgs: Vec<Vec<u8>> = (0..256u32).map(|i| i.to_be_bytes().repeat(40)).collect();
    let sigs: Vec<_> = keys
        .iter()
        .zip(&msgs)
        .map(|(k, m)| k.sign(domain::GOSSIP, m))
        .collect();
    let mut group = c.benchmark_group("verify");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in [6usize, 64, 256] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("one_by_one_{n}"), |b| {
            b.iter(|| {
                for i in 0..n {
                    pks[i].verify(domain::GOSSIP, &msgs[i], &sigs[i]).unwrap();
                }
            })
        });
        let items: Vec<_> = (0..n)
            .map(|i| (&pks[i], msgs[i].as_slice(), &sigs[i]))
            .collect();
        group.bench_function(format!("batch_{n}"), |b| {
            b.iter(|| subspace_crypto::verify_batch(domain::GOSSIP, black_box(&items)).unwrap())
        });
    }
    group.finish();
}

fn anti_entropy(c: &mut Criterion) {
    let config = Config {
        max_digest_entries: 10_000,
        ..Config::default()
    };
    let (mut g, keys, t0) = node_with_pool(10_000, config);
    let peer = keys[0].node_id();
    let summaries: Vec<DigestEntry> = g
        .pool()
        .members()
        .map(|m| DigestEntry {
            node: m.node,
            summary: g.pool().summary(&m.node).unwrap_or_default(),
        })
        .collect();
    let full = NodeId::from_bytes([0xff; 32]);
    // A peer that differs on 1% of entries (ordinary churn) ...
    let mut churn = summaries.clone();
    for e in churn.iter_mut().step_by(100) {
        e.summary.xor ^= 1;
    }
    let churn = Message {
        body: Body::Digest(Digest {
            from: NodeId::default(),
            to: full,
            entries: churn,
        }),
        piggyback: vec![],
    };
    // ... and a new node that holds only itself (the delta is cut at the byte budget).
    let fresh = Message {
        body: Body::Digest(Digest {
            from: NodeId::default(),
            to: full,
            entries: summaries[..1].to_vec(),
        }),
        piggyback: vec![],
    };
    // Fingerprints of 2,048 buckets (about 5 members each, as a 10,000-member node sends them),
    // equal, and with 1% of the buckets differing.
    let bits = 11;
    let same = g.pool().fingerprints(bits);
    let mut differ = same.clone();
    for f in differ.iter_mut().step_by(100) {
        *f ^= 1;
    }
    let fp = |buckets: Vec<u64>| {
        Message {
            body: Body::Fingerprints(Fingerprints { bits, buckets }),
            piggyback: vec![],
        }
        .encode()
        .unwrap()
    };
    let (same_bytes, differ_bytes) = (fp(same), fp(differ));
    let churn_bytes = churn.encode().unwrap();
    let fresh_bytes = fresh.encode().unwrap();
    let mut group = c.benchmark_group("anti_entropy");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("digest_10k_1pct_differ", |b| {
        b.iter(|| {
            g.handle_bytes(t0, peer, black_box(&churn_bytes)).unwrap();
            let (_, m) = g.poll_transmit().unwrap();
            black_box(m.encode().unwrap().len())
        })
    });
    group.bench_function("fingerprints_10k_equal", |b| {
        b.iter(|| {
            g.handle_bytes(t0, peer, black_box(&same_bytes)).unwrap();
            assert!(g.poll_transmit().is_none());
        })
    });
    group.bench_function("fingerprints_10k_1pct_differ", |b| {
        b.iter(|| {
            g.handle_bytes(t0, peer, black_box(&differ_bytes)).unwrap();
            let mut sent = 0;
            while let Some((_, m)) = g.poll_transmit() {
                sent += m.encode().unwrap().len();
            }
            black_box(sent)
        })
    });
    group.bench_function("digest_10k_new_node", |b| {
        b.iter(|| {
            g.handle_bytes(t0, peer, black_box(&fresh_bytes)).unwrap();
            let (_, m) = g.poll_transmit().unwrap();
            black_box(m.encode().unwrap().len())
        })
    });
    group.finish();
}

criterion_group!(benches, handle_message, verify, anti_entropy);
criterion_main!(benches);
