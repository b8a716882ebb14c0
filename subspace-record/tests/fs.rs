//! SSFS, black-box: chunk, store, reassemble; bounded memory; missing and forged chunks.
// Test helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::rc::Rc;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use subspace_crypto::{ContractId, Keypair, RecordKey};
use subspace_record::fs::{ChunkOptions, Entry, Folder, Manifest, chunk, reassemble};
use subspace_record::{Record, RecordBuilder, RecordError, RecordKeypair, Role, validate};

const CONTRACT: ContractId = ContractId::from_bytes([0xf5; 32]);
const MIB: usize = 1024 * 1024;

/// A deterministic pseudo-random file of `len` bytes, generated as it is read, counting
/// how many bytes have been handed out.
struct GenReader {
    seed: u64,
    pos: usize,
    len: usize,
    produced: Rc<Cell<usize>>,
}

impl GenReader {
    fn new(seed: u64, len: usize) -> (GenReader, Rc<Cell<usize>>) {
        let produced = Rc::new(Cell::new(0));
        let r = GenReader {
            seed,
            pos: 0,
            len,
            produced: produced.clone(),
        };
        (r, produced)
    }
}

impl Read for GenReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Short reads on purpose, to exercise the chunker's fill loop.
        let n = buf.len().min(self.len - self.pos).min(100_003);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = byte_at(self.seed, self.pos + i);
        }
        self.pos += n;
        self.produced.set(self.produced.get() + n);
        Ok(n)
    }
}

/// Byte `i` of the generated file: SplitMix64 of the 8-byte word index, so the content does
/// not depend on how the reads are sized.
fn byte_at(seed: u64, i: usize) -> u8 {
    let mut z = seed.wrapping_add((i as u64 / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z.to_le_bytes()[i % 8]
}

type Store = BTreeMap<RecordKey, Vec<u8>>;

fn fetch_from(store: &Store) -> impl FnMut(RecordKey) -> Result<Record, RecordError> + '_ {
    |key| {
        let bytes = store
            .get(&key)
            .ok_or(RecordError::Decode("not in store".into()))?;
        Record::decode(bytes)
    }
}

#[test]
fn twenty_mib_round_trip_in_bounded_memory() {
    let len = 20 * MIB + 12_345;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let owner = Keypair::generate(&mut rng);
    let friend = Keypair::generate(&mut rng);
    let mut opts = ChunkOptions::new(CONTRACT, 1_700_000_000);
    opts.media_type = "application/x-test".into();
    opts.share = vec![(friend.public(), Role::Read)];
    let chunk_len = opts.chunk_len;

    let (reader, produced) = GenReader::new(99, len);
    let mut store = Store::new();
    let mut emitted = 0usize;
    let mut chunker = chunk(reader, &owner, opts, &mut rng);
    for rec in chunker.by_ref() {
        let rec = rec.unwrap();
        emitted += rec.data_len();
        // The chunker never reads ahead of the chunk it yields: it holds at most one chunk
        // of plaintext, whatever the file size.
        assert!(produced.get() - emitted <= chunk_len);
        assert_eq!(produced.get(), emitted);
        let key = validate(&rec).unwrap();
        store.insert(key, rec.encode().unwrap());
    }
    let file = chunker.finish().unwrap();
    assert_eq!(file.manifest.total_len(), len as u64);
    assert_eq!(file.manifest.chunks().len(), len.div_ceil(chunk_len));
    assert_eq!(file.manifest.media_type(), "application/x-test");

    // The friend opens the manifest record with its own key.
    let manifest = Manifest::open(&file.record, &friend).unwrap();
    assert_eq!(manifest, file.manifest);

    // Reassemble lazily: count fetches against bytes consumed.
    let fetches = Rc::new(Cell::new(0usize));
    let consumed = Rc::new(Cell::new(0usize));
    let mut inner = fetch_from(&store);
    let (f2, c2) = (fetches.clone(), consumed.clone());
    let fetch = move |k| {
        f2.set(f2.get() + 1);
        // The reassembler fetches chunk i only once chunks 0..i have been read out.
        assert!((f2.get() - 1) * chunk_len <= c2.get());
        inner(k)
    };
    let mut out = reassemble(&manifest, fetch);
    let (mut expect, _) = GenReader::new(99, len);
    let mut a = vec![0u8; 64 * 1024];
    let mut b = vec![0u8; 64 * 1024];
    loop {
        let n = out.read(&mut a).unwrap();
        if n == 0 {
            break;
        }
        expect.read_exact(&mut b[..n]).unwrap();
        assert!(
            a[..n] == b[..n],
            "bytes differ near offset {}",
            consumed.get()
        );
        consumed.set(consumed.get() + n);
    }
    assert_eq!(consumed.get(), len);
    assert_eq!(fetches.get(), manifest.chunks().len());
}

#[test]
fn empty_file() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let owner = Keypair::generate(&mut rng);
    let mut chunker = chunk(&b""[..], &owner, ChunkOptions::new(CONTRACT, 1), &mut rng);
    assert!(chunker.next().is_none());
    let file = chunker.finish().unwrap();
    assert_eq!(file.manifest.total_len(), 0);
    assert!(file.manifest.chunks().is_empty());
    let m = Manifest::open(&file.record, &owner).unwrap();
    let mut out = Vec::new();
    reassemble(&m, |_| panic!("nothing to fetch"))
        .read_to_end(&mut out)
        .unwrap();
    assert!(out.is_empty());
}

fn small_file(
    seed: u64,
    public: bool,
) -> (Keypair, Store, subspace_record::fs::ChunkedFile, Vec<u8>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let owner = Keypair::generate(&mut rng);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut opts = ChunkOptions::new(CONTRACT, 1);
    opts.chunk_len = 1000;
    opts.public = public;
    let mut chunker = chunk(&data[..], &owner, opts, &mut rng);
    let mut store = Store::new();
    for r in chunker.by_ref() {
        let r = r.unwrap();
        store.insert(r.key(), r.encode().unwrap());
    }
    let file = chunker.finish().unwrap();
    (owner, store, file, data)
}

fn read_all(m: &Manifest, store: &Store) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reassemble(m, fetch_from(store)).read_to_end(&mut out)?;
    Ok(out)
}

fn record_error(e: io::Error) -> RecordError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<RecordError>())
        .cloned()
        .expect("a RecordError inside")
}

#[test]
fn public_and_sealed_small_files_round_trip() {
    for public in [false, true] {
        let (owner, store, file, data) = small_file(3, public);
        assert_eq!(file.manifest.chunks().len(), 10);
        assert_eq!(file.manifest.is_public(), public);
        assert_eq!(file.record.is_public(), public);
        let m = Manifest::open(&file.record, &owner).unwrap();
        assert_eq!(read_all(&m, &store).unwrap(), data);
    }
}

#[test]
fn missing_chunk_is_named() {
    let (_, mut store, file, _) = small_file(4, false);
    let gone = *file.manifest.chunks()[6].key();
    store.remove(&gone);
    let e = record_error(read_all(&file.manifest, &store).unwrap_err());
    assert!(
        matches!(e, RecordError::ChunkUnavailable { index: 6, key, .. } if key == gone),
        "{e:?}"
    );
    assert!(e.to_string().contains("chunk 6"));
}

#[test]
fn forged_chunk_is_named() {
    let (owner, mut store, file, _) = small_file(5, false);
    let mut rng = ChaCha20Rng::seed_from_u64(55);
    let target = *file.manifest.chunks()[3].key();
    // A valid record, but not the one the manifest names.
    let other = RecordBuilder::new(CONTRACT, owner.public(), 1)
        .data(&[0u8; 1000][..])
        .build(&owner, &mut rng)
        .unwrap();
    store.insert(target, other.encode().unwrap());
    let e = record_error(read_all(&file.manifest, &store).unwrap_err());
    assert_eq!(
        e,
        RecordError::BadChunk {
            index: 3,
            key: target
        }
    );
    // A chunk with flipped ciphertext.
    let (_, mut store, file, _) = small_file(6, false);
    let target = *file.manifest.chunks()[9].key();
    let bytes = store.get_mut(&target).unwrap();
    let n = bytes.len();
    bytes[n - 200] ^= 1;
    let e = record_error(read_all(&file.manifest, &store).unwrap_err());
    assert!(matches!(e, RecordError::BadChunk { index: 9, .. }), "{e:?}");
}

#[test]
fn reader_is_poisoned_after_an_error() {
    let (_, mut store, file, _) = small_file(7, true);
    store.remove(file.manifest.chunks()[0].key());
    let mut r = reassemble(&file.manifest, fetch_from(&store));
    let mut buf = [0u8; 10];
    assert!(r.read(&mut buf).is_err());
    assert!(r.read(&mut buf).is_err());
}

#[test]
fn folder_shares_its_files() {
    let (owner, store, file, data) = small_file(8, false);
    let mut rng = ChaCha20Rng::seed_from_u64(88);
    let friend = Keypair::generate(&mut rng);
    let rk = RecordKeypair::generate(&mut rng);
    let mut folder = Folder::new();
    folder.insert("notes.txt", Entry::file(&file)).unwrap();
    folder
        .insert(
            "sub",
            Entry::Folder {
                record: RecordKey::from_bytes([1; 32]),
            },
        )
        .unwrap();
    let v0 = RecordBuilder::new(CONTRACT, owner.public(), 1)
        .mutable(rk.public(), 0)
        .grant(subspace_record::OwnerGrant::sign(&owner, &rk.public(), &CONTRACT).unwrap())
        .data(folder.encode().unwrap())
        .share(friend.public(), Role::Read)
        .build(rk.keypair(), &mut rng)
        .unwrap();
    validate(&v0).unwrap();
    // The friend is on the folder's ACL only, not on the manifest's, yet reads the file.
    assert_eq!(file.record.open(&friend), Err(RecordError::NotARecipient));
    let listing = Folder::open(&v0, &friend).unwrap();
    let entry = listing.get("notes.txt").unwrap();
    let key = entry.content_key().unwrap();
    let m = Manifest::open_with_key(&file.record, &key).unwrap();
    assert_eq!(read_all(&m, &store).unwrap(), data);
    assert!(matches!(listing.get("sub"), Some(Entry::Folder { .. })));
    // An outsider cannot list it; an immutable record is not a folder.
    let outsider = Keypair::generate(&mut rng);
    assert_eq!(
        Folder::open(&v0, &outsider),
        Err(RecordError::NotARecipient)
    );
    assert_eq!(
        Folder::open(&file.record, &owner),
        Err(RecordError::NotMutable)
    );
}

#[test]
fn chunk_len_out_of_range_fails() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let owner = Keypair::generate(&mut rng);
    let mut opts = ChunkOptions::new(CONTRACT, 1);
    opts.chunk_len = 0;
    let mut c = chunk(&b"abc"[..], &owner, opts, &mut rng);
    assert!(c.next().is_none());
    assert!(c.finish().is_err());
}

#[test]
fn read_errors_surface() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let owner = Keypair::generate(&mut rng);
    let mut c = chunk(Broken, &owner, ChunkOptions::new(CONTRACT, 1), &mut rng);
    assert!(matches!(c.next(), Some(Err(RecordError::Io(_)))));
    assert!(c.next().is_none());
}

#[test]
fn whole_file_hash_is_checked() {
    let (_, store, file, _) = small_file(11, false);
    let mut bytes = file.manifest.encode().unwrap();
    // version, chunk_len, chunk count, 10 sealed chunk refs of 69 bytes, total length.
    let at = 1 + 4 + 8 + 10 * 69 + 8;
    bytes[at] ^= 1;
    let forged = Manifest::decode(&bytes).unwrap();
    assert_ne!(forged.blake3(), file.manifest.blake3());
    let e = record_error(read_all(&forged, &store).unwrap_err());
    assert_eq!(e, RecordError::FileHashMismatch);
}
