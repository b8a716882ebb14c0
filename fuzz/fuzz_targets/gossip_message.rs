//! Hostile bytes into the gossip decoder: whatever decodes must re-encode to the same bytes
//! (one encoding per value) and decode again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_gossip::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = m.encode().expect("a decoded message re-encodes");
        assert_eq!(again, data, "non-canonical encoding accepted");
        assert_eq!(Message::decode(&again).ok(), Some(m));
    }
});
