//! `subspace-node devnet` end to end, as the built binary: N child nodes, a sample file stored
//! and fetched byte-identical, blocks farmed by more than one node, and no process left behind
//! (after the blocks, or on Ctrl-C).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::process;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_subspace-node");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("subspace-devnet-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn no_node_running(root: &Path, n: usize) {
    for i in 0..n {
        let control = root.join(format!("devnet/node{i}/control.json"));
        assert!(!control.exists(), "node {i} still running");
    }
}

#[test]
fn devnet_stores_the_sample_farms_blocks_and_exits_cleanly() {
    let root = tmp("blocks");
    // Eight blocks rather than five: with four equal farmers the chance that one node farms
    // every block is 4 * 4^-8 (1.5e-5) instead of 4 * 4^-5 (0.4 %), so the test does not flake.
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(&root)
        .args([
            "devnet",
            "--nodes",
            "4",
            "--pledge",
            "4MiB",
            "--block-secs",
            "2",
        ])
        .args(["--exit-after-blocks", "8", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sample"]["fetched_identical"], true);
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    assert!(nodes.iter().all(|n| n["live_members"] == 4));
    // R = 3 replicas of every chunk and the manifest (never on the client, node 0), and of
    // the farmers' chain archive records: at least three hosts hold records.
    let hosting = nodes
        .iter()
        .filter(|n| n["stored_records"].as_u64().unwrap() > 0)
        .count();
    assert!(hosting >= 3, "{v}");
    // Every node is on the same chain of at least 8 blocks, farmed by more than one node.
    let height = v["chain"]["height"].as_u64().unwrap();
    assert!(height >= 8, "{v}");
    assert!(
        nodes.iter().all(|n| n["chain_height"].as_u64() >= Some(8)),
        "{v}"
    );
    assert!(v["chain"]["farmers"].as_u64().unwrap() >= 2, "{v}");
    let farmed: u64 = v["chain"]["farmed_by"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(farmed, height.min(64), "{v}");
    // Farmers were paid: a node with blocks on the chain holds more than its genesis credits,
    // except node 0, which paid for the sample's data contract out of them.
    const GENESIS_CREDITS: u64 = 100_000_000_000_000;
    for name in v["chain"]["farmed_by"].as_object().unwrap().keys() {
        let i: usize = name.trim_start_matches("node").parse().unwrap();
        if i > 0 {
            assert!(nodes[i]["balance"].as_u64() > Some(GENESIS_CREDITS), "{v}");
        }
    }
    assert!(nodes[0]["balance"].as_u64() < Some(GENESIS_CREDITS), "{v}");
    assert_eq!(v["sample"]["contract"].as_str().unwrap().len(), 64);
    no_node_running(&root, 4);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn devnet_stops_every_node_on_ctrl_c() {
    let root = tmp("ctrlc");
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(&root)
        // 3 x 6 plots: a challenge no plot answers stalls the chain (probability about
        // e^-plots per block), which 3 x 2 plots made a real flake.
        .args(["devnet", "--nodes", "3", "--pledge", "6MiB", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first summary line means every node runs and the sample went through.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        v["sample"]["fetched_identical"],
        true,
        "{v}\nnode 0's last log lines:\n{}",
        process::log_tail(&root.join("devnet/node0"), 40)
    );
    let status = process::interrupt(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    no_node_running(&root, 3);
    std::fs::remove_dir_all(&root).unwrap();
}
