//! Plot files: what `Plot` reads is what `Tables` built, and damage is always reported.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions parse fixed data

use proptest::prelude::*;
use subspace_pos::{
    Challenge, HEADER_BYTES, Phase, Plot, PlotId, Plotter, PosError, Proof, Tables, verify,
};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("subspace-pos-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn challenge(i: u32) -> Challenge {
    Challenge::from_bytes(subspace_crypto::hash::sha256(&i.to_le_bytes()).to_bytes())
}

#[test]
fn file_plot_answers_like_memory_tables() {
    let id = PlotId::from_bytes([11; 32]);
    let path = tmp("same.pos");
    let mut reports = Vec::new();
    let info = Plotter::new(15)
        .threads(2)
        .plot(&id, &path, |p| reports.push(p))
        .unwrap();
    assert_eq!(reports.last().unwrap().phase, Phase::Done);
    assert!(reports.windows(2).all(|w| w[0].fraction <= w[1].fraction));
    assert!(
        reports
            .iter()
            .any(|p| p.phase == Phase::Forward && p.table == 7)
    );
    let plot = Plot::open(&path).unwrap();
    assert_eq!(plot.bytes(), info.bytes);
    let tables = Tables::generate(&id, 15).unwrap();
    assert_eq!(info.table_sizes[6] as usize, tables.table_sizes()[6]);
    let mut proofs = 0;
    for i in 0..200 {
        let c = challenge(i);
        let q = plot.qualities(&c).unwrap();
        let p = plot.prove(&c).unwrap();
        assert_eq!(q, tables.qualities(&c));
        assert_eq!(p, tables.prove(&c));
        for (q, p) in q.iter().zip(p.iter()) {
            assert_eq!(verify(&id, 15, &c, p).unwrap(), *q);
        }
        proofs += p.len();
    }
    assert!(proofs > 80, "{proofs}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn flipped_bytes_are_reported_never_proven() {
    let id = PlotId::from_bytes([12; 32]);
    let path = tmp("corrupt-src.pos");
    Plotter::new(14)
        .threads(1)
        .plot(&id, &path, |_| {})
        .unwrap();
    let original = std::fs::read(&path).unwrap();
    let len = original.len();
    let bad = tmp("corrupt.pos");
    // Header, table descriptors, park directories, every table's parks, last byte.
    let spots = [
        0,
        9,
        10,
        20,
        50,
        100,
        300,
        440,
        500,
        HEADER_BYTES,
        HEADER_BYTES + 30,
        len / 7,
        len / 3,
        len / 2,
        2 * len / 3,
        len - 1,
    ];
    for (n, &at) in spots.iter().enumerate() {
        let mut bytes = original.clone();
        bytes[at] ^= 1 << (n % 8);
        std::fs::write(&bad, &bytes).unwrap();
        match Plot::open(&bad) {
            Err(PosError::Corrupt(_) | PosError::NotAPlot) => {}
            Err(e) => panic!("flip at {at}: unexpected error {e}"),
            Ok(_) => panic!("flip at {at}: corrupt plot opened"),
        }
    }
    // Truncated and extended files.
    std::fs::write(&bad, &original[..len - 3]).unwrap();
    assert!(Plot::open(&bad).is_err());
    let mut longer = original.clone();
    longer.push(0);
    std::fs::write(&bad, &longer).unwrap();
    assert!(Plot::open(&bad).is_err());
    std::fs::write(&bad, b"short").unwrap();
    assert!(matches!(Plot::open(&bad), Err(PosError::NotAPlot)));

    // Damage after open: every answer is an error or a proof that verifies, and every
    // quality answer is an error or exactly the undamaged plot's (parks carry checksums).
    std::fs::write(&bad, &original).unwrap();
    let plot = Plot::open(&bad).unwrap();
    let clean = Plot::open(&path).unwrap();
    let mut bytes = original.clone();
    for at in (HEADER_BYTES..len).step_by(997) {
        bytes[at] ^= 0x5a;
    }
    std::fs::write(&bad, &bytes).unwrap();
    let (mut errors, mut quality_errors) = (0, 0);
    for i in 0..300 {
        let c = challenge(i);
        match plot.prove(&c) {
            Ok(proofs) => {
                for p in proofs {
                    verify(&id, 14, &c, &p).unwrap();
                }
            }
            Err(PosError::Corrupt(_)) => errors += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
        match plot.qualities(&c) {
            Ok(q) => assert_eq!(q, clean.qualities(&c).unwrap()),
            Err(PosError::Corrupt(_)) => quality_errors += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(
        errors > 0 && quality_errors > 0,
        "{errors} {quality_errors}"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&bad).unwrap();
}

/// k = 12..=14 plots answer the recorded challenges exactly as when the vectors were made.
#[test]
fn small_k_recorded_vectors() {
    for line in include_str!("vectors/ours_small_k.txt").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let k: u8 = f[0].parse().unwrap();
        let id = PlotId::from_bytes(subspace_crypto::hex::decode_array(f[1]).unwrap());
        let tables = Tables::generate(&id, k).unwrap();
        let c = Challenge::from_bytes(subspace_crypto::hex::decode_array(f[2]).unwrap());
        let q = tables.qualities(&c);
        let p = tables.prove(&c);
        assert_eq!(q.len(), 1, "{line}");
        assert_eq!(subspace_crypto::hex::encode(q[0].to_bytes()), f[3]);
        assert_eq!(subspace_crypto::hex::encode(p[0].to_bytes()), f[4]);
    }
}

/// Regenerates `vectors/ours_small_k.txt` (run by hand; the check above pins it).
#[test]
#[ignore = "vector generation, run by hand"]
fn write_small_k_vectors() {
    let mut out = String::new();
    for k in 12..=14u8 {
        let id = PlotId::from_bytes(
            subspace_crypto::hash::sha256(format!("subspace-pos small k {k}").as_bytes())
                .to_bytes(),
        );
        let tables = Tables::generate(&id, k).unwrap();
        let mut n = 0;
        for i in 0.. {
            let c = challenge(i);
            let (q, p) = (tables.qualities(&c), tables.prove(&c));
            if q.len() == 1 {
                out += &format!(
                    "{k} {} {} {} {}\n",
                    subspace_crypto::hex::encode(id.to_bytes()),
                    subspace_crypto::hex::encode(c.to_bytes()),
                    subspace_crypto::hex::encode(q[0].to_bytes()),
                    subspace_crypto::hex::encode(p[0].to_bytes())
                );
                n += 1;
                if n == 3 {
                    break;
                }
            }
        }
    }
    std::fs::write(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/ours_small_k.txt"
        ),
        out,
    )
    .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Every proof `prove` returns verifies with the quality `qualities` returned, and any
    /// single flipped bit makes it fail.
    #[test]
    fn proofs_verify_and_flips_fail(seed in any::<[u8; 32]>(), c in any::<[u8; 32]>(), bit in 0usize..(64 * 13)) {
        let id = PlotId::from_bytes(seed);
        let tables = Tables::generate(&id, 13).unwrap();
        // Try challenges derived from `c` until one has a proof.
        for i in 0u8..=255 {
            let mut cb = c;
            cb[0] ^= i;
            cb[5] = cb[5].wrapping_add(i);
            let ch = Challenge::from_bytes(cb);
            let qs = tables.qualities(&ch);
            let ps = tables.prove(&ch);
            prop_assert_eq!(qs.len(), ps.len());
            if ps.is_empty() {
                continue;
            }
            for (q, p) in qs.iter().zip(ps.iter()) {
                prop_assert_eq!(verify(&id, 13, &ch, p).unwrap(), *q);
                let mut bytes = p.to_bytes();
                bytes[bit / 8] ^= 0x80 >> (bit % 8);
                let flipped = Proof::from_bytes(&bytes, 13).unwrap();
                prop_assert!(verify(&id, 13, &ch, &flipped).is_err());
                prop_assert!(verify(&PlotId::from_bytes([!seed[0]; 32]), 13, &ch, p).is_err());
            }
            break;
        }
    }
}
