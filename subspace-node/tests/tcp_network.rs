//! The put/get/heal workflow over real `TcpTransport` on 127.0.0.1: 8 nodes in one process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use subspace_crypto::{ContractId, Keypair};
use subspace_node::{
    DiskStore, DiskStoreConfig, HostConfig, MemoryLedger, Node, NodeHandle, TcpConfig, TcpTransport,
};
use subspace_record::RecordBuilder;

const UNIX: u64 = 1_700_000_000;

fn config() -> HostConfig {
    let mut cfg = HostConfig {
        layers: 1,
        replicate_timeout: Duration::from_secs(5),
        put_timeout: Duration::from_secs(30),
        fetch_timeout: Duration::from_secs(2),
        get_timeout: Duration::from_secs(20),
        ..HostConfig::default()
    };
    cfg.gossip.protocol_period = Duration::from_millis(200);
    cfg.gossip.probe_timeout = Duration::from_millis(80);
    cfg.dht.k = 8;
    cfg.dht.max_requests_per_peer_per_sec = 100_000;
    cfg
}

/// Starts `n` nodes over TCP that know one seed address and discover the rest.
pub async fn network(n: usize, ledger: &MemoryLedger, cfg: HostConfig) -> Vec<NodeHandle> {
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
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
    // Every node dials only the first one's address; the others it learns from the address
    // books exchanged after each handshake.
    let seed_addr = transports[0].local_addr();
    for t in &transports[1..] {
        t.connect(seed_addr).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while transports.iter().any(|t| t.connected_peers().len() < n - 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "peers did not discover each other: {:?}",
            transports
                .iter()
                .map(|t| t.connected_peers().len())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seeds = vec![keys[0].node_id(), keys[1].node_id()];
    let dir = std::env::temp_dir().join(format!("subspace-node-tcp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut handles = Vec::new();
    for (i, (t, kp)) in transports.into_iter().zip(keys).enumerate() {
        let h = Node::builder()
            .keypair(kp.clone())
            // The embedded default store, one directory per node.
            .store(
                DiskStore::open(dir.join(format!("node{i}")), DiskStoreConfig::default()).unwrap(),
            )
            .transport(t)
            .ledger(Arc::new(ledger.clone()))
            .config(cfg.clone())
            .seeds(seeds.clone())
            .contract(ContractId::from_bytes(kp.node_id().to_bytes()))
            .rng_seed(i as u64)
            .spawn()
            .unwrap();
        handles.push(h);
    }
    handles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tcp_nodes_put_get_and_heal() {
    let ledger = MemoryLedger::new();
    let owner = Keypair::from_seed(&[0xEE; 32]);
    let contract = ContractId::from_bytes([0xC0; 32]);
    ledger.open_contract(contract, owner.public(), 2 << 20);
    let nodes = network(8, &ledger, config()).await;
    // Let gossip spread the joins.
    for _ in 0..100 {
        let mut all = true;
        for n in &nodes {
            all &= n.status().await.unwrap().live_members == 8;
        }
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut records = Vec::new();
    for i in 0..12 {
        let len = [100, 5_000, 70_000, 300_000][i % 4];
        let mut data = vec![0u8; len];
        rng.fill(&mut data[..]);
        let rec = RecordBuilder::new(contract, owner.public(), UNIX)
            .data(data)
            .public()
            .build(&owner, &mut rng)
            .unwrap();
        let receipts = nodes[i % 8].put(rec.clone()).await.unwrap();
        assert_eq!(receipts.len(), 3);
        records.push(rec);
    }
    for (i, rec) in records.iter().enumerate() {
        let got = nodes[(i + 3) % 8].get(rec.key()).await.unwrap();
        assert_eq!(&got, rec);
    }
    // Crash one node that holds replicas; the survivors heal back to 3.
    let victim = {
        let mut best = 0;
        for (i, n) in nodes.iter().enumerate() {
            if n.status().await.unwrap().usage.entries > 0 {
                best = i;
                break;
            }
        }
        best
    };
    nodes[victim].abort();
    let survivors: Vec<&NodeHandle> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, n)| n)
        .collect();
    let before: u64 = {
        let mut s = 0;
        for n in &survivors {
            s += n.status().await.unwrap().usage.entries;
        }
        s
    };
    let mut healed = false;
    for _ in 0..300 {
        let mut total = 0;
        for n in &survivors {
            total += n.status().await.unwrap().usage.entries;
        }
        if total >= 3 * records.len() as u64 {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        healed,
        "replicas did not return to 3 per record (had {before} before healing)"
    );
    for (i, rec) in records.iter().enumerate() {
        let got = survivors[i % survivors.len()].get(rec.key()).await.unwrap();
        assert_eq!(&got, rec);
    }
    for n in &nodes {
        n.abort();
    }
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("subspace-node-tcp-{}", std::process::id())),
    );
}
