//! Hostile lines into the control channel's decoders: a request line from a local client
//! (token-checked) and a response line a client reads back from whatever holds the port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_node::control::{parse_request, parse_response};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(refused) = parse_request(&text, "00112233") {
        assert!(!refused.ok);
    }
    let _ = parse_response(&text);
});
