//! Hostile bytes into the receipt decoder and verifier. Run: `cd fuzz && cargo +nightly fuzz run record_receipt`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_record::Receipt;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Receipt::decode(data) {
        let _ = r.verify();
        assert_eq!(r.encode().ok().as_deref(), Some(data));
    }
});
