//! Pledges: honest plot sets pass, a set with half its plots deleted fails.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions parse fixed data

use subspace_crypto::Keypair;
use subspace_pos::{
    Challenge, PLEDGE_THRESHOLD, PledgeProof, PlotSet, PosError, nominal_plot_bytes, verify,
};

#[test]
fn honest_passes_half_deleted_fails() {
    let dir = std::env::temp_dir().join(format!("subspace-pos-pledge-{}", std::process::id()));
    let host = Keypair::from_seed(&[42; 32]).public();
    let k = 16;
    let pledge = 4 * nominal_plot_bytes(k);
    let mut set = PlotSet::create(&dir, &host, k, pledge, 2, |_, _| {}).unwrap();
    assert_eq!(set.len(), 4);
    assert_eq!(set.pledged_bytes(), pledge);
    assert!(set.disk_bytes() <= pledge);

    // Farming: the best quality over all plots is the minimum of each plot's qualities.
    let c = Challenge::from_bytes([9; 32]);
    if let Some((index, q)) = set.best(&c).unwrap() {
        let plot = set.plot(index).unwrap();
        assert!(plot.qualities(&c).unwrap().contains(&q));
        for i in 0..4 {
            assert!(
                set.plot(i)
                    .unwrap()
                    .qualities(&c)
                    .unwrap()
                    .iter()
                    .all(|other| *other >= q)
            );
        }
        let p = &plot.prove(&c).unwrap()[0];
        assert!(verify(plot.plot_id(), k, &c, p).is_ok());
    }

    // Honest: passes under every seed tried; the proof survives an encode/decode round trip.
    for s in 0..8u8 {
        let seed = [s; 32];
        let proof = PledgeProof::prove(&set, &seed).unwrap();
        let proof = PledgeProof::from_bytes(&proof.to_bytes().unwrap()).unwrap();
        let answered = PledgeProof::verify(&host, pledge, k, &seed, &proof).unwrap();
        assert!(answered >= PLEDGE_THRESHOLD);
        // Not transferable: another host's key or another seed fails.
        let other = Keypair::from_seed(&[43; 32]).public();
        assert!(PledgeProof::verify(&other, pledge, k, &seed, &proof).is_err());
        assert!(PledgeProof::verify(&host, pledge, k, &[s ^ 0x80; 32], &proof).is_err());
    }

    // Reopening finds the same plots.
    assert_eq!(PlotSet::open(&dir, &host, k).unwrap().len(), 4);

    // Hosting data reclaims two whole plots; the set now honestly pledges half.
    let freed = set.reclaim(1).unwrap();
    assert!(freed > 0);
    set.reclaim(1).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.pledged_bytes(), 2 * nominal_plot_bytes(k));
    // Over-claiming the old pledge fails (per seed, false accept <= 3.9e-5).
    for s in 0..8u8 {
        let seed = [s; 32];
        let cheat = PledgeProof::prove_pledge(&set, pledge, &seed).unwrap();
        match PledgeProof::verify(&host, pledge, k, &seed, &cheat) {
            Err(PosError::PledgeRejected { answered, .. }) => assert!(answered < PLEDGE_THRESHOLD),
            other => panic!("half a pledge accepted: {other:?}"),
        }
        // The reduced pledge is honest again.
        let honest = PledgeProof::prove(&set, &seed).unwrap();
        assert!(PledgeProof::verify(&host, set.pledged_bytes(), k, &seed, &honest).is_ok());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
