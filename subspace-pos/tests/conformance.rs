//! Conformance with chiapos 2.0.12 in both directions, from vectors checked in under
//! `tests/vectors/` (see `gen_vectors.py` there for how they were made).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions parse checked-in vectors
use subspace_crypto::hex;
use subspace_pos::{Challenge, PlotId, PosError, Proof, Quality, Tables, verify};

const CHIAPOS: &str = include_str!("vectors/chiapos_k18.txt");
const OURS: &str = include_str!("vectors/ours_k18.txt");

struct Vectors {
    plot_id: PlotId,
    k: u8,
    /// (challenge, number of proofs chiapos found)
    challenges: Vec<(Challenge, usize)>,
    /// (challenge, quality, proof bytes)
    proofs: Vec<(Challenge, Quality, Vec<u8>)>,
    /// (case, k, challenge, proof bytes)
    rejects: Vec<(String, u8, Challenge, Vec<u8>)>,
}

fn arr(s: &str) -> [u8; 32] {
    hex::decode_array(s).unwrap()
}

fn chiapos() -> Vectors {
    let mut v = Vectors {
        plot_id: PlotId::from_bytes([0; 32]),
        k: 0,
        challenges: vec![],
        proofs: vec![],
        rejects: vec![],
    };
    for line in CHIAPOS.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "plot_id" => v.plot_id = PlotId::from_bytes(arr(f[1])),
            "k" => v.k = f[1].parse().unwrap(),
            "chiapos_plot_bytes" => {}
            "challenge" => v
                .challenges
                .push((Challenge::from_bytes(arr(f[1])), f[2].parse().unwrap())),
            "proof" => v.proofs.push((
                Challenge::from_bytes(arr(f[1])),
                Quality::from_bytes(arr(f[2])),
                hex::decode(f[3]).unwrap(),
            )),
            "reject" => v.rejects.push((
                f[1].to_string(),
                f[2].parse().unwrap(),
                Challenge::from_bytes(arr(f[3])),
                hex::decode(f[4]).unwrap(),
            )),
            other => panic!("unknown vector line {other}"),
        }
    }
    v
}

#[test]
fn chiapos_proofs_verify_with_chiapos_quality() {
    let v = chiapos();
    assert!(v.proofs.len() >= 30);
    for (c, q, bytes) in &v.proofs {
        let proof = Proof::from_bytes(bytes, v.k).unwrap();
        assert_eq!(proof.to_bytes(), *bytes);
        assert_eq!(verify(&v.plot_id, v.k, c, &proof).unwrap(), *q);
    }
}

#[test]
fn proofs_chiapos_rejects_are_rejected() {
    let v = chiapos();
    assert!(v.rejects.len() >= 4 * 30);
    let mut cases = std::collections::BTreeSet::new();
    for (case, k, c, bytes) in &v.rejects {
        cases.insert(case.clone());
        // A truncated proof for the wrong k decodes (the length fits k) but must not verify.
        let proof = Proof::from_bytes(bytes, *k).unwrap();
        assert!(
            matches!(
                verify(&v.plot_id, *k, c, &proof),
                Err(PosError::InvalidProof)
            ),
            "{case}"
        );
        // Nor may a right-length proof verify under a k it was not made for.
        if *k == v.k {
            let other = Proof::from_bytes(&bytes[..8 * (v.k as usize - 1)], v.k - 1).unwrap();
            assert!(verify(&v.plot_id, v.k - 1, c, &other).is_err());
        }
    }
    assert_eq!(cases.len(), 4);
}

#[test]
fn our_plot_has_exactly_chiapos_proofs() {
    let v = chiapos();
    let tables = Tables::generate_threads(&v.plot_id, v.k, 0).unwrap();
    for (c, n) in &v.challenges {
        let mut ours: Vec<(Quality, Vec<u8>)> = tables
            .qualities(c)
            .into_iter()
            .zip(tables.prove(c).iter().map(Proof::to_bytes))
            .collect();
        let mut theirs: Vec<(Quality, Vec<u8>)> = v
            .proofs
            .iter()
            .filter(|p| p.0 == *c)
            .map(|p| (p.1, p.2.clone()))
            .collect();
        assert_eq!(theirs.len(), *n);
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "challenge {c:?}");
    }
}

#[test]
fn our_proofs_were_accepted_by_chiapos() {
    let v = chiapos();
    let tables = Tables::generate_threads(&v.plot_id, v.k, 0).unwrap();
    let mut checked = 0;
    for line in OURS.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[0] != "proof" {
            continue;
        }
        let (id, k, c, q) = (
            PlotId::from_bytes(arr(f[1])),
            f[2].parse::<u8>().unwrap(),
            Challenge::from_bytes(arr(f[3])),
            Quality::from_bytes(arr(f[4])),
        );
        assert_eq!((id, k), (v.plot_id, v.k));
        let proof = Proof::from_bytes(&hex::decode(f[5]).unwrap(), k).unwrap();
        // Our prover reproduces the chiapos-accepted proof and quality exactly.
        let ours: Vec<(Quality, Proof)> = tables
            .qualities(&c)
            .into_iter()
            .zip(tables.prove(&c))
            .collect();
        assert!(ours.contains(&(q, proof.clone())), "challenge {c:?}");
        assert_eq!(verify(&id, k, &c, &proof).unwrap(), q);
        checked += 1;
    }
    assert!(checked >= 30);
}

/// Writes our prover's proofs for fresh challenges to `$SUBSPACE_POS_EXPORT`, for
/// `gen_vectors.py ours` to check with chiapos's Verifier.
#[test]
#[ignore = "vector generation, run by hand"]
fn export_our_proofs() {
    let v = chiapos();
    let path = std::env::var("SUBSPACE_POS_EXPORT").unwrap();
    let tables = Tables::generate_threads(&v.plot_id, v.k, 0).unwrap();
    let mut out = String::new();
    for i in 0..64u32 {
        let c = Challenge::from_bytes(
            subspace_crypto::hash::sha256(format!("subspace-pos our challenge {i}").as_bytes())
                .to_bytes(),
        );
        for (q, p) in tables.qualities(&c).into_iter().zip(tables.prove(&c)) {
            out += &format!(
                "proof {} {} {} {} {}\n",
                hex::encode(v.plot_id.to_bytes()),
                v.k,
                hex::encode(c.to_bytes()),
                hex::encode(q.to_bytes()),
                hex::encode(p.to_bytes())
            );
        }
    }
    std::fs::write(path, out).unwrap();
}
