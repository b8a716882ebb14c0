//! SIGKILL a process in the middle of `DiskStore` puts, 20 times, and check that every
//! acknowledged put survives byte-identical and that no half-written entry is ever visible.
//!
//! The test re-executes its own binary as the child (selected by an environment variable), so
//! no helper binary has to be built or found.

// Test helpers outside #[test] functions panic on failure, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use subspace_crypto::RecordKey;
use subspace_node::{DiskStore, DiskStoreConfig, RecordStore, StoredEntry};

const CHILD_ENV: &str = "SUBSPACE_NODE_CRASH_CHILD";
const KILLS: usize = 20;

fn config() -> DiskStoreConfig {
    DiskStoreConfig {
        pledged: u64::MAX,
        inline_threshold: 8 * 1024,
    }
}

/// The i-th put of a run: its key and entry are a pure function of (seed, i), so the parent can
/// recompute what the child wrote. Sizes mix inline bodies and slot files up to 256 KiB; every
/// 7th put overwrites an earlier key, so replacement is crashed into too.
fn nth_put(seed: u64, i: u64) -> (RecordKey, StoredEntry) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let slot = if i % 7 == 6 { i / 2 } else { i };
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&slot.to_be_bytes());
    let len = match rng.gen_range(0..3) {
        0 => rng.gen_range(0..4096),
        1 => rng.gen_range(4096..64 * 1024),
        _ => rng.gen_range(64 * 1024..256 * 1024),
    };
    let mut body = vec![0u8; len];
    rng.fill(&mut body[..]);
    (
        RecordKey::from_bytes(k),
        StoredEntry {
            body,
            meta: i.to_be_bytes().to_vec(),
        },
    )
}

fn run_child(dir: &str, seed: u64, start: u64) {
    let mut store = DiskStore::open(dir, config()).unwrap();
    let mut out = std::io::stdout().lock();
    for i in start.. {
        let (key, entry) = nth_put(seed, i);
        store.put(key, entry).unwrap();
        writeln!(out, "ACK {i}").unwrap();
        out.flush().unwrap();
    }
}

/// The full name of test `f` of this module, as the harness filters on it (`crash::f`).
fn test_name(f: &str) -> String {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    format!("{module}::{f}")
}

/// The test harness may print its own text before the child's first line, so look inside it.
fn parse_ack(line: &str) -> Option<u64> {
    let at = line.find("ACK ")?;
    line[at + 4..].trim().parse().ok()
}

#[test]
fn sigkill_during_puts_never_loses_an_acknowledged_record() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let mut parts = spec.split(',');
        let dir = parts.next().unwrap().to_string();
        let seed = parts.next().unwrap().parse().unwrap();
        let start = parts.next().unwrap().parse().unwrap();
        run_child(&dir, seed, start);
        return;
    }
    let seed: u64 = std::env::var("SUBSPACE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_C0DE);
    eprintln!("crash test seed {seed} (set SUBSPACE_TEST_SEED to replay)");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("subspace-node-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().unwrap();
    // The next put index; puts below it were acknowledged (or overwritten by a later ack).
    let mut next = 0u64;
    // Latest acknowledged value of each key.
    let mut expected = std::collections::BTreeMap::new();
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                &test_name("sigkill_during_puts_never_loses_an_acknowledged_record"),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{},{seed},{next}", dir.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let acks_before_kill = rng.gen_range(1..25u64);
        let mut acked = 0;
        while acked < acks_before_kill {
            let line = lines.next().expect("child exited early").unwrap();
            if let Some(i) = parse_ack(&line) {
                assert_eq!(i, next, "seed {seed}: acks out of order");
                let (k, e) = nth_put(seed, i);
                expected.insert(k, e);
                next += 1;
                acked += 1;
            }
        }
        // Land the kill at a random point inside the following puts.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..3000)));
        child.kill().unwrap(); // SIGKILL on Unix
        // Acks the child managed to write before dying are acknowledged puts too.
        for line in lines.map_while(|l| l.ok()) {
            if let Some(i) = parse_ack(&line) {
                let (k, e) = nth_put(seed, i);
                expected.insert(k, e);
                next = i + 1;
            }
        }
        child.wait().unwrap();

        let store = DiskStore::open(&dir, config()).unwrap();
        let report = store.verify().unwrap();
        assert!(
            report.corrupt.is_empty(),
            "seed {seed} round {round}: corrupt {:?}",
            report.corrupt
        );
        for (k, e) in &expected {
            let got = store.get(k).unwrap();
            // The put in flight at the kill may have committed (it was simply not acked yet).
            let in_flight = nth_put(seed, next);
            let ok = got.as_ref() == Some(e)
                || (in_flight.0 == *k && got.as_ref() == Some(&in_flight.1));
            assert!(
                ok,
                "seed {seed} round {round}: acknowledged record {k} lost or altered"
            );
        }
        // The in-flight put is either fully there or not at all (or the older value).
        let (k, e) = nth_put(seed, next);
        if let Some(got) = store.get(&k).unwrap() {
            assert!(
                got == e || expected.get(&k) == Some(&got),
                "seed {seed}: half-written record"
            );
            if got == e {
                expected.insert(k, e);
                next += 1;
            }
        }
        assert_eq!(
            store.keys().unwrap().len(),
            expected.len(),
            "seed {seed}: unexpected entries"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
