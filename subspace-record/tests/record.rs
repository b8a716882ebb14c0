//! Records, black-box: round trips, tampering, hostile bytes, sizes, golden vectors.
// Test helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use subspace_crypto::{Aead, ContractId, Keypair, hex};
use subspace_record::{
    FORMAT_VERSION, MAX_DATA_LEN, MAX_RECORD_LEN, OwnerGrant, Record, RecordBuilder, RecordError,
    RecordKeypair, Role, validate, validate_at,
};

const CONTRACT: ContractId = ContractId::from_bytes([0xc0; 32]);

fn owner() -> Keypair {
    Keypair::from_seed(&[1; 32])
}
fn friend() -> Keypair {
    Keypair::from_seed(&[2; 32])
}
fn record_key() -> RecordKeypair {
    RecordKeypair::from_seed(&[3; 32])
}

/// The three pinned records: sealed immutable, sealed mutable (shared), public.
fn samples() -> [Record; 3] {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let imm = RecordBuilder::new(CONTRACT, owner().public(), 1_700_000_000)
        .data(&b"immutable"[..])
        .build(&owner(), &mut rng)
        .unwrap();
    let rk = record_key();
    let mutable = RecordBuilder::new(CONTRACT, owner().public(), 1_700_000_001)
        .mutable(rk.public(), 7)
        .grant(OwnerGrant::sign(&owner(), &rk.public(), &CONTRACT).unwrap())
        .aead(Aead::ChaCha20Poly1305)
        .share(friend().public(), Role::Write)
        .data(&b"mutable"[..])
        .build(rk.keypair(), &mut rng)
        .unwrap();
    let public = RecordBuilder::new(CONTRACT, owner().public(), 1_700_000_002)
        .public()
        .data(&b"public"[..])
        .build(&owner(), &mut rng)
        .unwrap();
    [imm, mutable, public]
}

#[test]
fn golden_vectors() {
    let [imm, mutable, public] = samples();
    for (r, golden) in [
        (&imm, GOLDEN_IMMUTABLE),
        (&mutable, GOLDEN_MUTABLE),
        (&public, GOLDEN_PUBLIC),
    ] {
        let bytes = r.encode().unwrap();
        assert_eq!(
            hex::encode(&bytes),
            golden,
            "the record format changed: bump FORMAT_VERSION and the domain tag"
        );
        let back = Record::decode(&hex::decode(golden).unwrap()).unwrap();
        validate(&back).unwrap();
    }
    assert_eq!(imm.open(&owner()).unwrap(), b"immutable");
    assert_eq!(mutable.open(&friend()).unwrap(), b"mutable");
    assert_eq!(public.open(&friend()).unwrap(), b"public");
}

#[test]
fn keys_are_derived_as_specified() {
    let [imm, mutable, public] = samples();
    // Immutable: SHA-256 of the payload's encoding, which follows the fixed record header.
    let enc = imm.encode().unwrap();
    let payload = subspace_crypto::codec::encode(imm.payload()).unwrap();
    assert!(enc.windows(payload.len()).any(|w| w == payload));
    assert_eq!(
        validate(&imm).unwrap().hash(),
        subspace_crypto::hash::sha256(&payload)
    );
    // Mutable: SHA-256 of the record public key.
    assert_eq!(validate(&mutable).unwrap(), record_key().key());
    assert_eq!(
        record_key().key().hash(),
        subspace_crypto::hash::sha256(&record_key().public().to_bytes())
    );
    validate_at(&public, &public.key()).unwrap();
    assert_eq!(
        validate_at(&public, &imm.key()),
        Err(RecordError::KeyMismatch)
    );
}

#[test]
fn every_flipped_bit_fails() {
    for r in samples() {
        let bytes = r.encode().unwrap();
        for pos in 0..bytes.len() {
            for bit in [0, 3, 7] {
                let mut b = bytes.clone();
                b[pos] ^= 1 << bit;
                let verdict = Record::decode(&b).and_then(|r| validate(&r));
                assert!(verdict.is_err(), "flip at byte {pos} bit {bit} passed");
            }
        }
    }
}

#[test]
fn truncation_and_trailing_bytes_are_errors() {
    for r in samples() {
        let bytes = r.encode().unwrap();
        for n in 0..bytes.len() {
            assert!(Record::decode(&bytes[..n]).is_err());
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(Record::decode(&more).is_err());
        // The next version, and version 1 (before owner grants and delegations), are refused.
        for v in [FORMAT_VERSION + 1, 1] {
            let mut other = bytes.clone();
            other[0] = v;
            assert_eq!(Record::decode(&other), Err(RecordError::UnknownVersion(v)));
        }
    }
}

#[test]
fn size_limit_is_exact_and_checked_first() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let max = vec![0xabu8; MAX_DATA_LEN];
    for public in [false, true] {
        let b = RecordBuilder::new(CONTRACT, owner().public(), 1).data(&max[..]);
        let b = if public { b.public() } else { b };
        let r = b.build(&owner(), &mut rng).unwrap();
        let bytes = r.encode().unwrap();
        assert!(bytes.len() <= MAX_RECORD_LEN);
        let back = Record::decode(&bytes).unwrap();
        validate(&back).unwrap();
        assert_eq!(back.open(&owner()).unwrap(), max);
    }
    let over = vec![0u8; MAX_DATA_LEN + 1];
    let err = RecordBuilder::new(CONTRACT, owner().public(), 1)
        .data(&over[..])
        // Even with a signer that is not allowed: size is checked before anything else.
        .build(&friend(), &mut rng);
    assert_eq!(
        err,
        Err(RecordError::DataTooLarge {
            len: MAX_DATA_LEN as u64 + 1,
            max: MAX_DATA_LEN as u64
        })
    );
}

#[test]
fn empty_records_work() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    for public in [false, true] {
        let b = RecordBuilder::new(CONTRACT, owner().public(), 1);
        let b = if public { b.public() } else { b };
        let r = b.build(&owner(), &mut rng).unwrap();
        let back = Record::decode(&r.encode().unwrap()).unwrap();
        validate(&back).unwrap();
        assert_eq!(back.open(&owner()).unwrap(), b"");
    }
}

#[test]
fn public_records_refuse_readers() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let r = RecordBuilder::new(CONTRACT, owner().public(), 1)
        .public()
        .share(friend().public(), Role::Read)
        .build(&owner(), &mut rng);
    assert!(matches!(r, Err(RecordError::Builder(_))));
}

fn arb_record() -> impl Strategy<Value = (Record, Vec<u8>)> {
    (
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..200_000),
        0u8..4,
        any::<bool>(),
    )
        .prop_map(|(seed, data, kind, chacha)| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let o = Keypair::generate(&mut rng);
            let rk = RecordKeypair::generate(&mut rng);
            let grant = OwnerGrant::sign(&o, &rk.public(), &CONTRACT).unwrap();
            let b = RecordBuilder::new(CONTRACT, o.public(), seed)
                .data(data.clone())
                .aead(if chacha {
                    Aead::ChaCha20Poly1305
                } else {
                    Aead::Aes256Gcm
                });
            let r = match kind {
                0 => b.build(&o, &mut rng),
                1 => b
                    .mutable(rk.public(), seed)
                    .grant(grant)
                    .build(rk.keypair(), &mut rng),
                // A version signed by a delegate (the owner) of the record key.
                2 => {
                    let v = b
                        .mutable(rk.public(), seed / 2)
                        .grant(grant)
                        .build(rk.keypair(), &mut rng)
                        .unwrap();
                    RecordBuilder::next_version(&v, seed)
                        .unwrap()
                        .data(data.clone())
                        .build(&o, &mut rng)
                }
                _ => b.public().build(&o, &mut rng),
            }
            .unwrap();
            (r, o.secret_bytes().to_vec())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip((r, secret) in arb_record()) {
        let bytes = r.encode().unwrap();
        let back = Record::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(validate(&back).unwrap(), r.key());
        let seed: [u8; 32] = secret.try_into().unwrap();
        let o = Keypair::from_seed(&seed);
        prop_assert_eq!(back.open(&o).unwrap().len(), r.data_len());
    }

    #[test]
    fn tampered_bytes_fail((r, _s) in arb_record(), pos in any::<usize>(), val in 1u8..=255) {
        let mut bytes = r.encode().unwrap();
        let i = pos % bytes.len();
        bytes[i] ^= val;
        let verdict = Record::decode(&bytes).and_then(|r| validate(&r));
        prop_assert!(verdict.is_err(), "change at byte {} passed", i);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(r) = Record::decode(&bytes) {
            let _ = validate(&r);
        }
        let mut current = vec![FORMAT_VERSION];
        current.extend_from_slice(&bytes);
        if let Ok(r) = Record::decode(&current) {
            let _ = validate(&r);
        }
    }

    #[test]
    fn random_splices_of_a_real_record_never_panic(pos in 0usize..400, junk in proptest::collection::vec(any::<u8>(), 0..64)) {
        let [imm, m, p] = samples();
        for r in [imm, m, p] {
            let mut bytes = r.encode().unwrap();
            let i = pos.min(bytes.len());
            bytes.splice(i..(i + junk.len()).min(bytes.len()), junk.iter().copied());
            if let Ok(r) = Record::decode(&bytes) {
                prop_assert!(validate(&r).is_err() || r.encode().unwrap() == bytes);
            }
        }
    }
}

const GOLDEN_IMMUTABLE: &str = concat!(
    "0200000000c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c08a88e3dd7409f195fd52db",
    "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000006553f10000000000000000018a88e3dd7409f195fd52db",
    "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0000000200000000000000018a88e3dd7409f195fd52db2d3cba5d",
    "72ca6709bf1d94121bf3748801b40f6f5cd9fa5f856614c270bd5f077e49e9597fc0a6a85675d1b7a97400c5bd7d557b",
    "0819954e77c1867af1023a4bc371552992fe54018502f7e51e97a8823646d6605309edd6667182627cdfd64076a638b2",
    "92000000010000000055f292a9a75dc429000000000000000100000000000000195c7eaa7c3e52242e53c63180eae20a",
    "b7949971c2f7acd0530e8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5cde6f8c558ddd",
    "9821c282ec1aedc4b154948ade5bfaeb0c2356bbdc2556fac29a70469b9ca244312526fa1bf402b89e67c22782b22a71",
    "56708478a651313c7205",
);
const GOLDEN_MUTABLE: &str = concat!(
    "0200000001ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d100000000000000071fe863",
    "69251744405527cef43e013fe6ccd706f04725dbbaf8110c6f8b68829194441122a81fa64ca1d0379183d70dfb7511a4",
    "344602dbb290754913fa00830d00000000000000028139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f",
    "5b8fc9b394000000010000000100000007f906f3ff301a67695dc9ce7a067a7bb874eb6bf609f43372b7650a23c84691",
    "2b8e4dc50fb7d265df7ef133a55e4f1fd5ec930410c969db87d55c0a9cef899f068a88e3dd7409f195fd52db2d3cba5d",
    "72ca6709bf1d94121bf3748801b40f6f5c0000000200000001000000077db95198d149ffb18c54de5bade429f2605aca",
    "8ba5b8c0d7d9891398485016306b7bf6cd3b05f1fa18880502c1c41beeabd92e6d84981cfd7b6d59802012fc0dc0c0c0",
    "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c08a88e3dd7409f195fd52db2d3cba5d72ca6709",
    "bf1d94121bf3748801b40f6f5c000000006553f10100000000000000028139770ea87d175f56a35466c34c7ecccb8d8a",
    "91b4ee37a25df60f5b8fc9b394000000018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f",
    "5c0000000200000000000000038139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3948b1ad9",
    "e4d168ea16dcab823c1320822d1a8414e2845c8d4d544074d014ddd262abe57f35816104636293abee0e595db2f9ac1d",
    "68adc4324a0b279405798a7d59ef880691ade8527fd3159fe63ba9b52d8a88e3dd7409f195fd52db2d3cba5d72ca6709",
    "bf1d94121bf3748801b40f6f5ca45cdf49028cf81d7eceef4c5f90aa0b6739de3eda72a1b2a0a0e335b0d519599460ac",
    "588512f020e3a1339baa73a5c6720f58c8ea6798dd3ec407422e231c86f78420b2fc8bc4ada0cd3019f4a3e776ed4928",
    "c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1dd86556d655503daaa0a20bc70513c0b439379",
    "3b012e46edc6498bb76ebee21d7a21b88836513ff33730905c408c5033cb39fd145393bfb9fe0ff2c746ae7f6b501003",
    "74931896162109ee3ef14089030000000100000001044e2067922bf69e0000000000000001000000000000001730288d",
    "8e7bf1eef8e4f51a59e77c455c96d867c0e31ca7ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614",
    "ac8737d1e56f9776b45e0843e8c23113b4eee1435530269e7588f149f83befea06c2d1ee06734216f1e7423888f6bbcd",
    "a4f6476eb55a7ff4d9e04a1de82587bd2beab504",
);
const GOLDEN_PUBLIC: &str = concat!(
    "0200000000c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c08a88e3dd7409f195fd52db",
    "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000006553f10200000000000000018a88e3dd7409f195fd52db",
    "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000020000000000000000000000000000000000000006707562",
    "6c69638a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5ce17b737ae6d1f75e9dd3eca455",
    "84571e9a9444802a224fbd07d2fcf7a362dd554a568904365b1818b200d332810d7ead7404acfe5a14b6460312c01962",
    "f0e00d",
);

#[test]
fn build_keyed_returns_the_validated_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let rk = record_key();
    for len in [0usize, 5, 200_000] {
        let data = vec![9u8; len];
        let b = || RecordBuilder::new(CONTRACT, owner().public(), 1).data(&data[..]);
        let (r, k) = b().build_keyed(&owner(), &mut rng).unwrap();
        assert_eq!(validate(&r).unwrap(), k);
        let (r, k) = b().public().build_keyed(&owner(), &mut rng).unwrap();
        assert_eq!(validate(&r).unwrap(), k);
        let (r, k) = b()
            .mutable(rk.public(), 1)
            .grant(OwnerGrant::sign(&owner(), &rk.public(), &CONTRACT).unwrap())
            .build_keyed(rk.keypair(), &mut rng)
            .unwrap();
        assert_eq!(validate(&r).unwrap(), k);
        assert_eq!(k, rk.key());
    }
}

#[test]
fn a_full_acl_of_delegated_writers_fits_the_size_limit() {
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let rk = record_key();
    let data = vec![7u8; MAX_DATA_LEN];
    let mut b = RecordBuilder::new(CONTRACT, owner().public(), 1)
        .mutable(rk.public(), 0)
        .grant(OwnerGrant::sign(&owner(), &rk.public(), &CONTRACT).unwrap())
        .data(&data[..]);
    // The owner holds one ACL entry; the rest are writers.
    for _ in 1..subspace_record::acl::MAX_ACL_LEN {
        b = b.share(Keypair::generate(&mut rng).public(), Role::Write);
    }
    let r = b.build(rk.keypair(), &mut rng).unwrap();
    assert_eq!(r.delegations().len(), subspace_record::acl::MAX_ACL_LEN);
    let bytes = r.encode().unwrap();
    assert!(bytes.len() <= MAX_RECORD_LEN, "{} bytes", bytes.len());
    let back = Record::decode(&bytes).unwrap();
    assert_eq!(validate(&back).unwrap(), rk.key());
}
