//! Hostile bytes into the SSFS manifest decoder. Run: `cd fuzz && cargo +nightly fuzz run record_manifest`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_record::fs::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::decode(data) {
        assert_eq!(m.encode().ok().as_deref(), Some(data));
    }
});
