//! Hostile bytes into the ledger's block and header decoders; what decodes must re-encode to
//! the same bytes and survive the stateless checks without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_ledger::{Block, BlockHeader};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Block::decode(data) {
        assert_eq!(b.encode().expect("a decoded block encodes"), data);
        let _ = b.header.verify_signature();
        let _ = b.tx_ids();
        for t in &b.transactions {
            let _ = t.check_stateless();
        }
    }
    let _ = BlockHeader::decode(data);
});
