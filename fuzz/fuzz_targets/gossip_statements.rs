//! Stateful: one gossip node fed a sequence of arbitrary statements (every kind, signed by a few
//! member keys, incarnations and times up to the extremes) and time passing, one step per 24
//! input bytes; after each step the node's invariants must hold (see the driver, shared with
//! the crate's `byzantine` proptest).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../subspace-gossip/tests/hostile.rs"]
mod hostile;

fuzz_target!(|data: &[u8]| {
    let mut h = hostile::Hostile::new();
    for chunk in data.chunks_exact(hostile::OP_LEN).take(64) {
        let mut op = [0u8; hostile::OP_LEN];
        op.copy_from_slice(chunk);
        h.step(&op);
        h.check();
    }
});
