//! Hostile bytes into the chain-archive record decoder (record data fetched from any holder).
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_node::archive::ArchivedBlock;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = ArchivedBlock::decode(data) {
        // The block inside is decoded by the ledger's own bounded decoder; it may fail, typed.
        let _ = a.block();
        let again = a.encode().expect("a decoded archive record re-encodes");
        assert_eq!(ArchivedBlock::decode(&again).ok(), Some(a));
    }
});
