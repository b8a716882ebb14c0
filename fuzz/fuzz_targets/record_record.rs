//! Hostile bytes into the record decoder and validator: never a panic, never an allocation
//! beyond `MAX_RECORD_LEN`. Run: `cd fuzz && cargo +nightly fuzz run record_record`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_record::{Record, validate};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Record::decode(data) {
        // A decoded record re-encodes to the same bytes (one encoding per value).
        assert_eq!(r.encode().ok().as_deref(), Some(data));
        let _ = validate(&r);
    }
});
