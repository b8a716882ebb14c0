//! Hostile bytes into the node's wire decoder (which runs the DHT and gossip decoders inside).
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_node::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        // Whatever decodes must re-encode and decode to the same value.
        let again = m.encode().expect("a decoded message re-encodes");
        assert_eq!(Message::decode(&again).ok(), Some(m));
    }
});
