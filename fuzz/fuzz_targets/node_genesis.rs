//! Hostile bytes into the genesis-file decoder (`genesis.bin`, copied between operators).
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_node::NetworkGenesis;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = NetworkGenesis::decode(data) {
        // Whatever decodes has valid parameters and a height-0 block, and round-trips.
        assert!(g.params().check().is_ok());
        assert_eq!(g.block().expect("checked by decode").header.height, 0);
        let again = g.encode().expect("a decoded genesis re-encodes");
        assert_eq!(NetworkGenesis::decode(&again).ok(), Some(g));
    }
});
