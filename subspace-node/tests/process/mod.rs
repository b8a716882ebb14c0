//! Child-process helpers shared by the tests that run the built `subspace-node` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_subspace-node");

/// Sends SIGINT (Ctrl-C) to `child` and waits up to `within` for it to exit; a child still
/// running then is killed and the test fails.
pub fn interrupt(child: &mut Child, within: Duration) -> ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no exit within {within:?} after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the binary to completion; a command that has not exited after two minutes is killed
/// and fails the test (so a regression shows as a failure, never as a hung CI run).
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    use std::io::Read;
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        so.read_to_end(&mut v).map(|_| v)
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        se.read_to_end(&mut v).map(|_| v)
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`subspace-node {}` did not exit", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// A `run` child process that is killed if the test panics.
/// The node's log (its stderr), appended across restarts, kept in its data directory so that
/// a failing wait can show what the node was doing.
fn log_file(dir: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("node.log"))
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

/// The last `n` lines of the node's log.
pub fn log_tail(dir: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub struct Running {
    pub child: Child,
    pub dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// `run` with an 8 MiB pledge and `extra` arguments.
    pub fn start(dir: &Path, extra: &[&str]) -> Running {
        Running::start_pledged(dir, "8MiB", extra)
    }

    /// `run --pledge pledge` with `extra` arguments, once its control channel answers.
    pub fn start_pledged(dir: &Path, pledge: &str, extra: &[&str]) -> Running {
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir)
            .args(["run", "--listen", "127.0.0.1:0", "--pledge", pledge])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(dir))
            .spawn()
            .unwrap();
        let r = Running {
            child,
            dir: dir.to_path_buf(),
        };
        r.wait_until(|s| s.is_some(), "control channel up");
        r
    }

    pub fn status(&self) -> Option<serde_json::Value> {
        let out = cli(&self.dir, &["status", "--json"]);
        out.status.success().then(|| json(&out))
    }

    pub fn wait_until(&self, ok: impl Fn(Option<serde_json::Value>) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if ok(self.status()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out waiting for {what} in {}\nlast status: {}\nlast log lines:\n{}",
            self.dir.display(),
            self.status()
                .map_or_else(|| "none".into(), |s| s.to_string()),
            log_tail(&self.dir, 40)
        );
    }

    pub fn listen(&self) -> String {
        self.status().unwrap()["listen"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit status.
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        interrupt(&mut self.child, Duration::from_secs(20))
    }
}

/// Writes `len` pseudo-random bytes (xorshift from `seed`, non-zero) to `path` and returns them.
pub fn pseudo_random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut x = seed;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(path, &data).unwrap();
    data
}

/// `put FILE --public --json` through the node running on `dir`; its JSON answer.
pub fn put_public(dir: &Path, file: &Path) -> serde_json::Value {
    let put = cli(dir, &["put", file.to_str().unwrap(), "--public", "--json"]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    json(&put)
}
