//! Hostile bytes into the ledger's transaction decoder; what decodes must re-encode to the
//! same bytes, and its stateless checks must return a typed result, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_ledger::Transaction;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = Transaction::decode(data) {
        assert_eq!(t.encode().expect("a decoded transaction encodes"), data);
        let _ = t.id();
        let _ = t.check_stateless();
    }
});
