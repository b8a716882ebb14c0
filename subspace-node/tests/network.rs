//! Five `run --farm` processes on loopback sharing one genesis: a 5 MiB file put with R = 3
//! survives the SIGKILL of two of its holders, and a killed node that restarts rejoins and
//! catches up with the chain the others farmed meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::process;

use std::path::PathBuf;
use std::time::Duration;

use process::{Running, cli, json};
use subspace_crypto::Keypair;
use subspace_ledger::{ConsensusParams, GenesisBuilder};
use subspace_node::NetworkGenesis;

/// Each node's pledge.
const PLEDGE: &str = "16MiB";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("subspace-net-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn height(r: &Running) -> Option<(u64, String)> {
    let s = r.status()?;
    Some((
        s["chain"]["height"].as_u64()?,
        s["chain"]["tip"].as_str()?.to_string(),
    ))
}

#[test]
fn five_processes_survive_two_sigkilled_holders_and_a_restarted_node_catches_up() {
    let root = tmp("five");
    let dirs: Vec<PathBuf> = (0..5).map(|i| root.join(format!("n{i}"))).collect();
    let mut keys = Vec::new();
    for d in &dirs {
        assert!(cli(d, &["init"]).status.success());
        keys.push(
            json(&cli(d, &["keys", "show", "--json"]))["public_key"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let contract = "c5".repeat(32);
    let config = format!(
        "[storage]\nreplicas = 3\npor_layers = 1\n\n[[contract]]\nid = \"{contract}\"\nowner = \"{}\"\nmax_record_bytes = 1200000\n",
        keys[0]
    );
    // One genesis for all: every node funded, a 2 s block target. Sixteen 1 MiB plots per
    // node, about six of them reclaimed by the file's replicas: some 30 plots farm after two
    // nodes die, so with difficulty 60 a block takes about 120 s / 31 ≈ 4 s and a challenge
    // that no plot answers (probability about e^-30) does not happen.
    let params = ConsensusParams {
        target_block_secs: 2,
        initial_difficulty: 60,
        ..ConsensusParams::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut g = GenesisBuilder::new(now, [5; 32]);
    for k in &keys {
        let pk = subspace_crypto::PublicKey::from_bytes(
            &subspace_crypto::hex::decode(k).unwrap().try_into().unwrap(),
        )
        .unwrap();
        g = g.allocate(&pk, 1_000_000);
    }
    let genesis = g.build(&params, &Keypair::from_seed(&[5; 32])).unwrap();
    let genesis = NetworkGenesis::new(&params, &genesis)
        .unwrap()
        .encode()
        .unwrap();
    for d in &dirs {
        std::fs::write(d.join("config.toml"), &config).unwrap();
        std::fs::write(d.join("genesis.bin"), &genesis).unwrap();
    }

    let first = Running::start_pledged(&dirs[0], PLEDGE, &["--farm"]);
    let boot = first.listen();
    let mut nodes: Vec<Option<Running>> = vec![Some(first)];
    for d in &dirs[1..] {
        nodes.push(Some(Running::start_pledged(
            d,
            PLEDGE,
            &["--farm", "--bootstrap", &boot],
        )));
    }
    for r in nodes.iter().flatten() {
        r.wait_until(
            |s| s.is_some_and(|s| s["live_members"] == 5),
            "every node to see every other",
        );
    }
    // Blocks flow before anything is killed.
    nodes[0].as_ref().unwrap().wait_until(
        |s| s.is_some_and(|s| s["chain"]["height"].as_u64() >= Some(3)),
        "three blocks",
    );

    // Replicas go only to hosts whose host contract is on the chain.
    nodes[0].as_ref().unwrap().wait_until(
        |s| s.is_some_and(|s| s["placeable_members"].as_u64() >= Some(4)),
        "every other host's contract on the chain",
    );

    // 5 MiB of pseudo-random bytes: five chunks and a manifest, three replicas each.
    let file = root.join("five.bin");
    let data = process::pseudo_random_file(&file, 5 << 20, 0x2545_F491_4F6C_DD1D);
    let put = process::put_public(&dirs[0], &file);
    assert_eq!(put["replicas"], 3);
    let key = put["key"].as_str().unwrap().to_string();

    // SIGKILL two holders (nodes 1 and 2 hold records: with R = 3 over four hosts, every
    // record has a replica on node 3 or node 4).
    for i in [1, 2] {
        let s = nodes[i].as_ref().unwrap().status().unwrap();
        assert!(
            s["stored_records"].as_u64().unwrap() > 0,
            "node {i} holds nothing"
        );
        let mut r = nodes[i].take().unwrap();
        r.child.kill().unwrap();
        r.child.wait().unwrap();
        let _ = std::fs::remove_file(r.dir.join("control.json"));
    }
    let out = root.join("fetched.bin");
    let got = cli(&dirs[4], &["get", &key, "-o", out.to_str().unwrap()]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(std::fs::read(&out).unwrap() == data, "fetched bytes differ");

    // The survivors keep farming; node 1 restarts on its old data and catches up.
    let (h_before, _) = height(nodes[0].as_ref().unwrap()).unwrap();
    nodes[0].as_ref().unwrap().wait_until(
        |s| s.is_some_and(|s| s["chain"]["height"].as_u64() >= Some(h_before + 2)),
        "the survivors to farm on",
    );
    let restarted = Running::start_pledged(&dirs[1], PLEDGE, &["--farm", "--bootstrap", &boot]);
    let (target, _) = height(nodes[0].as_ref().unwrap()).unwrap();
    restarted.wait_until(
        |s| s.is_some_and(|s| s["chain"]["height"].as_u64() >= Some(target)),
        "the restarted node to catch up",
    );
    restarted.wait_until(
        |s| s.is_some_and(|s| s["live_members"].as_u64() >= Some(3)),
        "the restarted node to rejoin",
    );
    // Same chain as the others (compared at one moment, allowing a block in flight).
    let mut agreed = false;
    for _ in 0..40 {
        let a = height(&restarted);
        let b = height(nodes[0].as_ref().unwrap());
        if a.is_some() && a == b {
            agreed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(agreed, "the restarted node is not on the others' chain");
    assert!(restarted.interrupt().success());
    for r in nodes.into_iter().flatten() {
        assert!(r.interrupt().success());
    }
    std::fs::remove_dir_all(&root).unwrap();
}
