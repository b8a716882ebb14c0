//! Every ACL rule, black-box: who may publish, open, and change the ACL of a mutable record.
// Test helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use subspace_crypto::{ContractId, Keypair};
use subspace_record::{
    OwnerGrant, Record, RecordBuilder, RecordError, RecordKeypair, Role, validate, validate_update,
};

struct World {
    rng: ChaCha20Rng,
    owner: Keypair,
    writer: Keypair,
    reader: Keypair,
    admin: Keypair,
    rk: RecordKeypair,
    v0: Record,
}

const CONTRACT: ContractId = ContractId::from_bytes([7; 32]);

fn world(seed: u64) -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let owner = Keypair::generate(&mut rng);
    let writer = Keypair::generate(&mut rng);
    let reader = Keypair::generate(&mut rng);
    let admin = Keypair::generate(&mut rng);
    let rk = RecordKeypair::generate(&mut rng);
    let v0 = RecordBuilder::new(CONTRACT, owner.public(), 100)
        .mutable(rk.public(), 0)
        .grant(OwnerGrant::sign(&owner, &rk.public(), &CONTRACT).unwrap())
        .data(&b"version zero"[..])
        .share(writer.public(), Role::Write)
        .share(reader.public(), Role::Read)
        .share(admin.public(), Role::Admin)
        .build(rk.keypair(), &mut rng)
        .unwrap();
    validate(&v0).unwrap();
    World {
        rng,
        owner,
        writer,
        reader,
        admin,
        rk,
        v0,
    }
}

#[test]
fn everyone_on_the_acl_and_the_record_key_can_open() {
    let w = world(1);
    for kp in [&w.owner, &w.writer, &w.reader, &w.admin, w.rk.keypair()] {
        assert_eq!(w.v0.open(kp).unwrap(), b"version zero");
    }
    let outsider = Keypair::from_seed(&[0xee; 32]);
    assert_eq!(w.v0.open(&outsider), Err(RecordError::NotARecipient));
}

#[test]
fn writer_publishes_seq_plus_one() {
    let mut w = world(2);
    let v1 = RecordBuilder::next_version(&w.v0, 101)
        .unwrap()
        .data(&b"written by the writer"[..])
        .build(&w.writer, &mut w.rng)
        .unwrap();
    assert_eq!(v1.seq(), Some(1));
    assert_eq!(validate_update(&w.v0, &v1).unwrap(), w.rk.key());
    // Every reader of the old version reads the new one, under a fresh content key.
    assert_eq!(v1.open(&w.reader).unwrap(), b"written by the writer");
    assert!(
        w.v0.content_key(&w.reader).unwrap() != v1.content_key(&w.reader).unwrap(),
        "every version is sealed under a fresh content key"
    );
}

#[test]
fn reader_cannot_publish() {
    let mut w = world(3);
    // The builder refuses outright...
    let err = RecordBuilder::next_version(&w.v0, 101)
        .unwrap()
        .data(&b"reader's edit"[..])
        .build(&w.reader, &mut w.rng);
    assert_eq!(err, Err(RecordError::Unauthorized));
    // ...and a reader who promotes itself in the new version's ACL fails the stateless check
    // (the record key never delegated to it) and the update check against the stored ACL.
    let forged = RecordBuilder::next_version(&w.v0, 101)
        .unwrap()
        .share(w.reader.public(), Role::Admin)
        .data(&b"reader's edit"[..])
        .build(&w.reader, &mut w.rng)
        .unwrap();
    assert_eq!(validate(&forged), Err(RecordError::Unauthorized));
    assert_eq!(
        validate_update(&w.v0, &forged),
        Err(RecordError::Unauthorized)
    );
    // A stranger signing with its own key fares no better.
    let stranger = Keypair::from_seed(&[0x55; 32]);
    let forged = RecordBuilder::next_version(&w.v0, 101)
        .unwrap()
        .share(stranger.public(), Role::Admin)
        .build(&stranger, &mut w.rng)
        .unwrap();
    assert_eq!(
        validate_update(&w.v0, &forged),
        Err(RecordError::Unauthorized)
    );
}

#[test]
fn revoked_reader_cannot_open_the_next_version() {
    let mut w = world(4);
    let v1 = RecordBuilder::next_version(&w.v0, 101)
        .unwrap()
        .revoke(&w.reader.public())
        .data(&b"after revocation"[..])
        .build(&w.owner, &mut w.rng)
        .unwrap();
    validate_update(&w.v0, &v1).unwrap();
    assert_eq!(v1.open(&w.reader), Err(RecordError::NotARecipient));
    assert_eq!(v1.acl().role(&w.reader.public()), None);
    // Nobody can hand the revoked reader the new key by relabelling: its old key is useless.
    let old_key = w.v0.content_key(&w.reader).unwrap();
    assert_eq!(
        v1.open_with_key(&old_key),
        Err(RecordError::DecryptionFailed)
    );
    // What it already fetched stays readable to it: nothing takes back what was read.
    assert_eq!(w.v0.open(&w.reader).unwrap(), b"version zero");
    assert_eq!(v1.open(&w.writer).unwrap(), b"after revocation");
}

#[test]
fn admin_changes_the_acl() {
    let mut w = world(5);
    let newcomer = Keypair::from_seed(&[0x33; 32]);
    let v1 = RecordBuilder::next_version(&w.v0, 101)
        .unwrap()
        .share(newcomer.public(), Role::Read)
        .share(w.writer.public(), Role::Read)
        .data(&b"admin edit"[..])
        .build(&w.admin, &mut w.rng)
        .unwrap();
    validate_update(&w.v0, &v1).unwrap();
    assert_eq!(v1.open(&newcomer).unwrap(), b"admin edit");
    // The demoted writer can no longer publish on top of v1.
    let v2 = RecordBuilder::next_version(&v1, 102)
        .unwrap()
        .share(w.writer.public(), Role::Write)
        .build(&w.writer, &mut w.rng)
        .unwrap();
    assert_eq!(validate_update(&v1, &v2), Err(RecordError::Unauthorized));
    // The record key may change anything.
    let v2 = RecordBuilder::next_version(&v1, 102)
        .unwrap()
        .revoke(&w.admin.public())
        .build(w.rk.keypair(), &mut w.rng)
        .unwrap();
    validate_update(&v1, &v2).unwrap();
}

#[test]
fn non_admin_acl_change_is_rejected() {
    let mut w = world(6);
    let friend = Keypair::from_seed(&[0x44; 32]);
    for change in 0..4 {
        let b = RecordBuilder::next_version(&w.v0, 101).unwrap();
        let b = match change {
            0 => b.share(friend.public(), Role::Read),
            1 => b.revoke(&w.reader.public()),
            2 => b.share(w.reader.public(), Role::Write),
            // Making it public (which must drop its readers) is an admin matter too.
            _ => b.public().revoke(&w.reader.public()),
        };
        let v1 = b.build(&w.writer, &mut w.rng).unwrap();
        validate(&v1).unwrap();
        assert_eq!(
            validate_update(&w.v0, &v1),
            Err(RecordError::NotAdmin),
            "change {change}"
        );
    }
}

#[test]
fn seq_replay_and_rollback_are_rejected() {
    let mut w = world(7);
    let v5 = RecordBuilder::next_version(&w.v0, 105)
        .unwrap()
        .seq(5)
        .build(&w.writer, &mut w.rng)
        .unwrap();
    validate_update(&w.v0, &v5).unwrap();
    // Replay of the same seq (even with new content), and rollback to an older one.
    for seq in [5, 4, 0] {
        let v = RecordBuilder::next_version(&v5, 106)
            .unwrap()
            .seq(seq)
            .data(&b"replayed"[..])
            .build(&w.writer, &mut w.rng)
            .unwrap();
        assert_eq!(
            validate_update(&v5, &v),
            Err(RecordError::StaleSeq { old: 5, new: seq })
        );
    }
    assert!(validate_update(&v5, &v5).is_err());
    assert_eq!(
        validate_update(&v5, &w.v0),
        Err(RecordError::StaleSeq { old: 5, new: 0 })
    );
}

#[test]
fn update_must_be_the_same_mutable_record() {
    let mut w = world(8);
    let other_rk = RecordKeypair::from_seed(&[0x66; 32]);
    let other = RecordBuilder::new(CONTRACT, w.owner.public(), 100)
        .mutable(other_rk.public(), 9)
        .grant(OwnerGrant::sign(&w.owner, &other_rk.public(), &CONTRACT).unwrap())
        .build(other_rk.keypair(), &mut w.rng)
        .unwrap();
    assert!(matches!(
        validate_update(&w.v0, &other),
        Err(RecordError::NotSameRecord(_))
    ));
    let imm = RecordBuilder::new(CONTRACT, w.owner.public(), 100)
        .build(&w.owner, &mut w.rng)
        .unwrap();
    assert_eq!(validate_update(&imm, &w.v0), Err(RecordError::NotMutable));
    assert_eq!(validate_update(&w.v0, &imm), Err(RecordError::NotMutable));
    assert!(matches!(
        RecordBuilder::next_version(&imm, 1),
        Err(RecordError::NotMutable)
    ));
}

#[test]
fn the_owner_stays_an_admin() {
    let mut w = world(9);
    let r = RecordBuilder::next_version(&w.v0, 101)
        .unwrap()
        .revoke(&w.owner.public())
        .build(&w.owner, &mut w.rng);
    assert!(matches!(r, Err(RecordError::Builder(_))));
    let r = RecordBuilder::next_version(&w.v0, 101)
        .unwrap()
        .share(w.owner.public(), Role::Read)
        .build(&w.owner, &mut w.rng);
    assert!(matches!(r, Err(RecordError::Builder(_))));
}

#[test]
fn immutable_records_are_signed_by_their_owner_only() {
    let mut w = world(10);
    let r = RecordBuilder::new(CONTRACT, w.owner.public(), 100)
        .share(w.writer.public(), Role::Write)
        .build(&w.writer, &mut w.rng);
    assert_eq!(r.err(), Some(RecordError::Unauthorized));
}
