//! `subspace-pos` benchmarks: table generation (forward propagation, one thread and all
//! threads; at k = 20 also with pruning) against a BLAKE3 hashing baseline, full plots to disk against chiapos's DiskPlotter (timed in the same run
//! through a `python3` subprocess when chiapos is importable), proving and verifying.
//!
//! `cargo bench -p subspace-benches --bench pos`; set `CHIAPOS_PYTHON` to a python with
//! chiapos 2.0.12 installed for the reference timing (skipped otherwise).

#![allow(missing_docs, clippy::unwrap_used)] // benchmark setup: a failure should stop the run

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use subspace_pos::{Challenge, Plot, PlotId, Plotter, Tables, verify};

fn id() -> PlotId {
    PlotId::from_bytes([0x42; 32])
}

fn challenge(i: u32) -> Challenge {
    Challenge::from_bytes(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The machine-independent yardstick: BLAKE3 of 2^20 separate 38-byte inputs (the size of
/// a k = 20 f2 input), one thread. Table generation at k = 20 hashes ~6 × 2^20 such inputs.
fn blake3_baseline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pos/baseline");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("blake3_2^20_x_38B_1thread", |b| {
        b.iter(|| {
            let mut acc = 0u8;
            let mut input = [0u8; 38];
            for i in 0u32..1 << 20 {
                input[..4].copy_from_slice(&i.to_le_bytes());
                acc ^= blake3::hash(&input).as_bytes()[0];
            }
            black_box(acc)
        })
    });
    g.finish();
}

/// `Tables::generate` is forward propagation only (the figure other implementations publish);
/// `k20_1thread_then_finish` adds pruning and the plot-order sorts that proving needs, so the
/// whole in-memory plot stays measured too (`pos/plot` times everything, file included).
fn generate(c: &mut Criterion) {
    let mut g = c.benchmark_group("pos/generate");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for k in [16u8, 18, 20] {
        g.bench_function(format!("k{k}_1thread"), |b| {
            b.iter(|| Tables::generate(&id(), k).unwrap())
        });
        if k == 20 {
            g.bench_function("k20_1thread_then_finish", |b| {
                let one = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap();
                b.iter(|| {
                    let mut t = Tables::generate(&id(), k).unwrap();
                    one.install(|| t.finish());
                    t
                })
            });
        }
        let n = threads();
        g.bench_function(format!("k{k}_{n}threads"), |b| {
            b.iter(|| Tables::generate_threads(&id(), k, n).unwrap())
        });
    }
    g.finish();
}

fn plot(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("subspace-pos-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = c.benchmark_group("pos/plot");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for k in [18u8, 20] {
        let path = dir.join(format!("bench-k{k}.pos"));
        g.bench_function(format!("k{k}_2threads_to_disk"), |b| {
            b.iter(|| {
                Plotter::new(k)
                    .threads(2)
                    .plot(&id(), &path, |_| {})
                    .unwrap()
            })
        });
        if let Ok(m) = std::fs::metadata(&path) {
            println!("pos: our k={k} plot file: {} bytes", m.len());
        }
    }
    g.finish();
    chiapos_reference(&dir);
}

/// Times chiapos's DiskPlotter at k = 18 and 20 with 2 threads, if chiapos is importable.
fn chiapos_reference(dir: &std::path::Path) {
    let Ok(python) = std::env::var("CHIAPOS_PYTHON") else {
        println!(
            "pos: chiapos reference skipped (set CHIAPOS_PYTHON to a python with chiapos 2.0.12)"
        );
        return;
    };
    let script = r#"
import sys, os, time, tempfile
from chiapos import DiskPlotter
k = int(sys.argv[1]); d = tempfile.mkdtemp(dir=sys.argv[2])
t = time.time()
DiskPlotter().create_plot_disk(d, d, d, "ref.plot", k, b"", bytes([0x42]*32), 300, 16 if k < 20 else 32, 2000, 2, False)
dt = time.time() - t
size = os.path.getsize(os.path.join(d, "ref.plot"))
os.remove(os.path.join(d, "ref.plot")); os.rmdir(d)
print(f"{dt:.3f} {size}")
"#;
    for k in [18, 20] {
        let mut times = Vec::new();
        let mut size = String::new();
        for _ in 0..3 {
            let out = Command::new(&python)
                .args(["-c", script, &k.to_string()])
                .arg(dir)
                .output();
            let Some(out) = out.ok().filter(|o| o.status.success()) else {
                println!("pos: chiapos reference skipped ({python} cannot import chiapos)");
                return;
            };
            let text = String::from_utf8_lossy(&out.stdout);
            let last = text.lines().last().unwrap_or("").to_string();
            let mut parts = last.split_whitespace();
            times.push(parts.next().unwrap_or("0").parse::<f64>().unwrap_or(0.0));
            size = parts.next().unwrap_or("").to_string();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "pos: chiapos DiskPlotter k={k} 2 threads: median {:.3} s of {times:?}, file {size} bytes",
            times[1]
        );
    }
}

fn prove_verify(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("subspace-pos-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench-prove-k20.pos");
    Plotter::new(20).plot(&id(), &path, |_| {}).unwrap();
    let plot = Plot::open(&path).unwrap();
    let with_proof: Vec<(Challenge, subspace_pos::Proof)> = (0..2000)
        .map(challenge)
        .filter_map(|ch| plot.prove(&ch).unwrap().into_iter().next().map(|p| (ch, p)))
        .take(64)
        .collect();
    let mut g = c.benchmark_group("pos/k20");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    let mut i = 0u32;
    g.bench_function("qualities_per_challenge_file", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            plot.qualities(&challenge(i)).unwrap()
        })
    });
    let mut j = 0usize;
    g.bench_function("prove_per_challenge_with_proof_file", |b| {
        b.iter(|| {
            j = (j + 1) % with_proof.len();
            plot.prove(&with_proof[j].0).unwrap()
        })
    });
    let mut v = 0usize;
    g.bench_function("verify_per_proof", |b| {
        b.iter(|| {
            v = (v + 1) % with_proof.len();
            verify(&id(), 20, &with_proof[v].0, &with_proof[v].1).unwrap()
        })
    });
    g.finish();
    std::fs::remove_file(&path).unwrap();
}

criterion_group!(benches, blake3_baseline, generate, plot, prove_verify);
criterion_main!(benches);
