//! Hostile bytes into the DHT's wire decoder: must never panic, and whatever decodes must be
//! within every protocol bound and re-encode to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_dht::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::decode(data) {
        assert!(msg.check_bounds().is_ok());
        let again = msg.encode().expect("a decoded message re-encodes");
        assert_eq!(again, data, "the encoding is canonical");
    }
});
