//! Hostile bytes into the crypto crate's decodable types: wrapped keys, sealed messages, keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subspace_crypto::{PublicKey, Sealed, Signature, WrappedKey, codec};

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode::<WrappedKey>(data);
    let _ = codec::decode::<Sealed>(data);
    let _ = codec::decode::<(PublicKey, Signature)>(data);
});
