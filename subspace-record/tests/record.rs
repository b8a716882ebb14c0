//! Records, black-box: round trips, tampering, hostile bytes, sizes, golden vectors.
// Test helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use subspace_crypto::{Aead, ContractId, Keypair, hex};
use subspace_record::{
    MAX_DATA_LEN, MAX_RECORD_LEN, Record, RecordBuilder, RecordError, RecordKeypair, Role,
    validate, validate_at,
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
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(Record::decode(&v2), Err(RecordError::UnknownVersion(2)));
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
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(seed, data, kind, chacha)| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let o = Keypair::generate(&mut rng);
            let rk = RecordKeypair::generate(&mut rng);
            let b = RecordBuilder::new(CONTRACT, o.public(), seed)
                .data(data.clone())
                .aead(if chacha {
                    Aead::ChaCha20Poly1305
                } else {
                    Aead::Aes256Gcm
                });
            let r = match kind {
                0 => b.build(&o, &mut rng),
                1 => b.mutable(rk.public(), seed).build(rk.keypair(), &mut rng),
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
        let mut v1 = vec![1u8];
        v1.extend_from_slice(&bytes);
        if let Ok(r) = Record::decode(&v1) {
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
    "0100000000c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c08a88e3dd7409f195fd52db",
    "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000006553f10000000000000000018a88e3dd7409f195fd52db",
    "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0000000200000000000000018a88e3dd7409f195fd52db2d3cba5d",
    "72ca6709bf1d94121bf3748801b40f6f5cd9fa5f856614c270bd5f077e49e9597fc0a6a85675d1b7a97400c5bd7d557b",
    "0819954e77c1867af1023a4bc371552992fe54018502f7e51e97a8823646d6605309edd6667182627cdfd64076a638b2",
    "92000000010000000055f292a9a75dc429000000000000000100000000000000195c7eaa7c3e52242e53c63180eae20a",
    "b7949971c2f7acd0530e8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5cd684dde39876",
    "aba282471d46009761da847d760ebb8bdff7315596f20131c13918f35828821e8d529e023ebbfbadf9496c26658d6149",
    "9c63750e00b0ba3dcd0e",
);
const GOLDEN_MUTABLE: &str = concat!(
    "0100000001ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d10000000000000007c0c0c0",
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
    "ac8737d11f8707cacc5c01770279d5038f7221536084008bc61ca938215f40f53c0600ad88fe4608347aa5ecf9fc4164",
    "404c65de71761163aa22802198dbeabbd956eb0a",
);
const GOLDEN_PUBLIC: &str = concat!(
    "0100000000c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c08a88e3dd7409f195fd52db",
    "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000006553f10200000000000000018a88e3dd7409f195fd52db",
    "2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000020000000000000000000000000000000000000006707562",
    "6c69638a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0cd5198f5b1ceec4fb5ee97b9c",
    "38e2d82471ad4697ad73d139c60502e2e86ee18b8515dc0154dec8d2e7fb64d79679b85f80ab8fa499a258c14396e516",
    "d29e0f",
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
            .build_keyed(rk.keypair(), &mut rng)
            .unwrap();
        assert_eq!(validate(&r).unwrap(), k);
        assert_eq!(k, rk.key());
    }
}
