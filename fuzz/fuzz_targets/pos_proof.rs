//! Fuzzes the `subspace-pos` decoders: proof bytes for any k, proofs and pledge proofs through
//! the workspace codec, and verification of whatever decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_pos::{Challenge, PlotId, PledgeProof, Proof, verify};

fuzz_target!(|data: &[u8]| {
    if let Some((&k, rest)) = data.split_first() {
        if let Ok(p) = Proof::from_bytes(rest, k) {
            assert_eq!(p.to_bytes(), rest);
            let _ = verify(&PlotId::from_bytes([1; 32]), k, &Challenge::from_bytes([2; 32]), &p);
        }
    }
    let _ = subspace_crypto::codec::decode::<Proof>(data);
    let _ = PledgeProof::from_bytes(data);
});
