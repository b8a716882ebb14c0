//! The `subspace-node` command, run as a user would: the built binary, its output, its exit
//! codes. Every error path the README lists has a test here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::process;

use std::path::PathBuf;
use std::process::Output;

use process::{Running, cli, json};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("subspace-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Asserts a failure with `code` and a single-line error naming `needle`.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

#[test]
fn init_shows_the_seed_once_and_refuses_to_overwrite() {
    let d = tmp("init");
    let out = cli(&d, &["init", "--json"]);
    assert!(out.status.success());
    let v = json(&out);
    let seed = v["seed"].as_str().unwrap().to_string();
    assert_eq!(seed.len(), 64);
    let config = std::fs::read_to_string(d.join("config.toml")).unwrap();
    assert!(config.contains("# pledge = \"0\""));
    // The identity is stable and derived from that seed.
    let show = json(&cli(&d, &["keys", "show", "--json"]));
    assert_eq!(show["public_key"], v["public_key"]);
    let again = cli(&d, &["init"]);
    assert_fails(&again, 3, "already holds an identity");
    // The seed file is unchanged, and the seed never shows in later output.
    let seed_file = std::fs::read_to_string(d.join("identity.seed")).unwrap();
    assert_eq!(seed_file.trim(), seed);
    assert!(!String::from_utf8_lossy(&again.stderr).contains(&seed));
    assert!(!String::from_utf8_lossy(&again.stdout).contains(&seed));
}

#[test]
fn keys_derive_gives_stable_children_and_refuses_bad_paths() {
    let d = tmp("keys");
    assert!(cli(&d, &["init"]).status.success());
    let a = json(&cli(&d, &["keys", "derive", "m/44'/9000'/1'/7'", "--json"]));
    let b = json(&cli(&d, &["keys", "derive", "m/44'/9000'/1'/7'", "--json"]));
    let c = json(&cli(&d, &["keys", "derive", "m/44'/9000'/1'/8'", "--json"]));
    assert_eq!(a, b);
    assert_ne!(a["public_key"], c["public_key"]);
    assert!(a.get("secret_key").is_none(), "secret printed unasked");
    let s = json(&cli(
        &d,
        &[
            "keys",
            "derive",
            "m/44'/9000'/1'/7'",
            "--show-secret",
            "--json",
        ],
    ));
    assert_eq!(s["secret_key"].as_str().unwrap().len(), 64);
    // Bad key paths: non-hardened level, garbage.
    assert_fails(&cli(&d, &["keys", "derive", "m/44/1"]), 6, "not hardened");
    assert_fails(
        &cli(&d, &["keys", "derive", "banana"]),
        6,
        "derivation path",
    );
}

#[test]
fn commands_without_an_identity_or_a_running_node_say_what_to_do() {
    let d = tmp("empty");
    assert_fails(&cli(&d, &["keys", "show"]), 3, "subspace-node init");
    assert_fails(&cli(&d, &["run"]), 3, "subspace-node init");
    assert!(cli(&d, &["init"]).status.success());
    assert_fails(&cli(&d, &["status"]), 5, "subspace-node run");
    let f = d.join("file.txt");
    std::fs::write(&f, b"hello").unwrap();
    assert_fails(
        &cli(&d, &["put", f.to_str().unwrap()]),
        5,
        "no node running",
    );
    // With --json the same error is also a JSON object on stdout.
    let out = cli(&d, &["status", "--json"]);
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit_code"], 5);
}

#[test]
fn argument_errors_fail_before_any_network_work() {
    let d = tmp("args");
    assert!(cli(&d, &["init"]).status.success());
    // File missing.
    assert_fails(&cli(&d, &["put", "/no/such/file"]), 4, "/no/such/file");
    // Bad key.
    assert_fails(&cli(&d, &["get", "xyz"]), 6, "not 64 hex digits");
    // Bad contract id.
    let f = d.join("f");
    std::fs::write(&f, b"x").unwrap();
    assert_fails(
        &cli(&d, &["put", f.to_str().unwrap(), "--contract", "12"]),
        6,
        "contract id",
    );
    // A contract size that is not a size.
    assert_fails(
        &cli(&d, &["contract", "create", "--bytes", "lots"]),
        6,
        "--bytes",
    );
    // A contract with no node running.
    assert_fails(
        &cli(&d, &["contract", "create", "--bytes", "1MiB"]),
        5,
        "no node running",
    );
    // A config typo is refused, naming the file.
    std::fs::write(d.join("config.toml"), "[storage]\npledeg = \"1GiB\"\n").unwrap();
    assert_fails(&cli(&d, &["run"]), 3, "config.toml");
    // A pledge too small to plot.
    std::fs::write(d.join("config.toml"), "").unwrap();
    assert_fails(
        &cli(
            &d,
            &["run", "--listen", "127.0.0.1:0", "--pledge", "512KiB"],
        ),
        3,
        "pledge",
    );
}

#[test]
fn run_with_an_unreachable_bootstrap_fails_with_network_unreachable() {
    let d = tmp("unreach");
    assert!(cli(&d, &["init"]).status.success());
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = cli(
        &d,
        &["run", "--listen", "127.0.0.1:0", "--bootstrap", &addr],
    );
    assert_fails(&out, 5, "network unreachable");
    assert!(!d.join("control.json").exists());
}

/// Three `run` processes on loopback: a file put through one is read back byte-identical
/// through another (and to stdout through the third); Ctrl-C leaves cleanly.
#[test]
fn three_run_processes_put_through_one_get_through_another() {
    let root = tmp("net");
    let dirs: Vec<PathBuf> = (0..3).map(|i| root.join(format!("n{i}"))).collect();
    for d in &dirs {
        assert!(cli(d, &["init"]).status.success());
    }
    let owner = json(&cli(&dirs[0], &["keys", "show", "--json"]))["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let contract = "c1".repeat(32);
    // One network-wide contract owned by node 0; R = 2 since a client never hosts its own put;
    // one Sloth layer keeps the test fast (the layer count is a network constant).
    let config = format!(
        "[storage]\nreplicas = 2\npor_layers = 1\n\n[[contract]]\nid = \"{contract}\"\nowner = \"{owner}\"\nmax_record_bytes = 1200000\n"
    );
    for d in &dirs {
        std::fs::write(d.join("config.toml"), &config).unwrap();
    }
    let first = Running::start(&dirs[0], &[]);
    let boot = first.listen();
    let others: Vec<Running> = dirs[1..]
        .iter()
        .map(|d| Running::start(d, &["--bootstrap", &boot]))
        .collect();
    let all = [&first, &others[0], &others[1]];
    for r in all {
        r.wait_until(
            |s| s.is_some_and(|s| s["live_members"] == 3 && s["peers_connected"] == 2),
            "a full mesh of 3",
        );
        let s = r.status().unwrap();
        let plots = s["plots"].as_u64().unwrap();
        assert!(plots >= 1, "the 8MiB pledge was not plotted");
        assert!(s["plotted_bytes"].as_u64().unwrap() <= 8 << 20);
    }

    // 2.5 MiB of pseudo-random bytes: three chunks and a manifest.
    let file = root.join("sample.bin");
    let data = process::pseudo_random_file(&file, 5 << 19, 0x9E37_79B9_7F4A_7C15);
    let put = process::put_public(&dirs[0], &file);
    assert_eq!(put["chunks"], 3);
    assert_eq!(put["replicas"], 2);
    let key = put["key"].as_str().unwrap().to_string();

    let out = root.join("fetched.bin");
    let got = cli(&dirs[1], &["get", &key, "-o", out.to_str().unwrap()]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(std::fs::read(&out).unwrap() == data, "fetched bytes differ");
    let to_stdout = cli(&dirs[2], &["get", &key]);
    assert!(to_stdout.status.success());
    assert!(to_stdout.stdout == data, "stdout bytes differ");

    // Someone else's contract: refused by every host, nothing acknowledged.
    let refused = cli(
        &dirs[1],
        &[
            "put",
            file.to_str().unwrap(),
            "--contract",
            &contract,
            "--public",
        ],
    );
    assert_fails(&refused, 8, "Contract");
    // A contract no node knows: refused.
    let unknown = cli(
        &dirs[0],
        &[
            "put",
            file.to_str().unwrap(),
            "--contract",
            &"0f".repeat(32),
            "--public",
        ],
    );
    assert_fails(&unknown, 8, "unknown contract");
    // These nodes have no genesis file, so no ledger: a contract cannot be created.
    assert_fails(
        &cli(&dirs[0], &["contract", "create", "--bytes", "1MiB"]),
        5,
        "runs no ledger",
    );
    // Unknown key: not found.
    assert_fails(&cli(&dirs[1], &["get", &"ab".repeat(32)]), 7, "not found");

    // The owner's tally and key index live in its contract-state record on SSDB: a restarted
    // owner reads them back instead of starting from zero.
    let owned = |s: &serde_json::Value| {
        s["contracts"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == contract.as_str()).cloned())
    };
    first.wait_until(
        |s| {
            s.as_ref()
                .and_then(owned)
                .is_some_and(|c| c["state_saved"] == true && c["keys"] == 4)
        },
        "the contract state to be saved",
    );
    let before = owned(&first.status().unwrap()).unwrap();
    // Three chunks and a manifest of a 2.5 MiB file, two replicas each.
    assert!(before["bytes_used"].as_u64().unwrap() > 5 << 20, "{before}");
    assert!(first.interrupt().success());
    let first = Running::start(&dirs[0], &["--bootstrap", &others[0].listen()]);
    first.wait_until(
        |s| {
            s.as_ref().and_then(owned).is_some_and(|c| {
                c["state_restored"] == true && c["bytes_used"] == before["bytes_used"]
            })
        },
        "the restarted owner to read its contract state back",
    );
    assert_eq!(owned(&first.status().unwrap()).unwrap()["keys"], 4);

    // Ctrl-C: exit 0, control file removed, and the others see the member leave.
    let mut others = others.into_iter();
    let second = others.next().unwrap();
    let third = others.next().unwrap();
    let status = third.interrupt();
    assert!(status.success(), "{status:?}");
    assert!(!dirs[2].join("control.json").exists());
    first.wait_until(
        |s| s.is_some_and(|s| s["live_members"] == 2),
        "the leave to spread",
    );
    assert!(second.interrupt().success());
    assert!(first.interrupt().success());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn farming_without_a_usable_genesis_fails_before_plotting() {
    let d = tmp("genesis");
    assert!(cli(&d, &["init"]).status.success());
    let out = cli(
        &d,
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--farm",
            "--pledge",
            "2MiB",
        ],
    );
    assert_fails(&out, 3, "genesis file");
    assert!(
        !d.join("plots").exists(),
        "plotted before checking the genesis"
    );
    std::fs::write(d.join("genesis.bin"), b"not a genesis").unwrap();
    let out = cli(&d, &["run", "--listen", "127.0.0.1:0", "--pledge", "2MiB"]);
    assert_fails(&out, 3, "genesis.bin");
    assert!(!d.join("control.json").exists());
}
