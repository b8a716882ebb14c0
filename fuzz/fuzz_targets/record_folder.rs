//! Hostile bytes into the SSFS folder decoder. Run: `cd fuzz && cargo +nightly fuzz run record_folder`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_record::fs::Folder;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Folder::decode(data) {
        assert_eq!(f.encode().ok().as_deref(), Some(data));
    }
});
