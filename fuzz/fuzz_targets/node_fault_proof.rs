//! Hostile bytes as a gossip fault proof and as a DHT announce proof, through the node's
//! validators (which decode them, check signatures and re-run the PoR check).
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_crypto::{Keypair, RecordKey};
use subspace_dht::AnnounceValidator;
use subspace_gossip::FaultValidator;
use subspace_node::{FetchFaultValidator, ReceiptValidator};

fuzz_target!(|data: &[u8]| {
    let kp = Keypair::from_seed(&[4; 32]);
    let _ = FetchFaultValidator { layers: 1 }.validate(&kp.node_id(), &kp.public(), data);
    let _ = ReceiptValidator.validate_replica(
        &RecordKey::from_bytes([1; 32]),
        &kp.node_id(),
        &kp.node_id(),
        data,
    );
});
