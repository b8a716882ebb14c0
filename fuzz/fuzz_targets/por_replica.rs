//! Hostile replica bytes from a host: parsing, decoding and verifying must return errors, never
//! panic or allocate beyond the replica limit. The first byte picks `layers` (0..=3, 0 must be
//! rejected) so the fuzzer reaches the layer checks too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_crypto::Keypair;
use subspace_crypto::hash::sha256;
use subspace_por::{Replica, verify};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let layers = u32::from(first % 4);
    let host = Keypair::from_seed(&[first; 32]).public();
    if let Ok(replica) = Replica::from_bytes(rest.to_vec()) {
        if let Ok(plain) = replica.decode(&host, &[0; 32], layers) {
            assert!(plain.len() < replica.as_bytes().len());
        }
        let _ = verify(&replica, &host, &[0; 32], layers, &sha256(rest));
    }
});
