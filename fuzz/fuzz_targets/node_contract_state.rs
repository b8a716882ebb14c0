//! Hostile bytes into the contract-state record decoder (record data fetched from any holder).
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_node::ContractState;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = ContractState::decode(data) {
        assert!(s.keys.len() <= subspace_node::contract_state::MAX_INDEX_KEYS);
        let again = s.encode().expect("a decoded contract state re-encodes");
        assert_eq!(ContractState::decode(&again).ok(), Some(s));
    }
});
