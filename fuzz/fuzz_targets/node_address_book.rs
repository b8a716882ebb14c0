//! Hostile bytes into the address book a TCP peer sends after its handshake proof.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_node::tcp_transport::{MAX_SHARED_ADDRS, parse_address_book};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, entries))) = parse_address_book(data) {
        assert!(entries.len() <= MAX_SHARED_ADDRS);
    }
});
