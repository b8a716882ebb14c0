//! [`DiskStore`], the embedded default [`RecordStore`]: a redb index plus checksummed slot files.
//!
//! Small bodies live inside redb next to their index entry. Bodies above
//! [`DiskStoreConfig::inline_threshold`] go to their own slot file, because redb rounds large
//! values up to a power of two (a 1 MiB body would take 2 MiB of pages).
//!
//! Crash safety comes from ordering: a slot file is written and fsynced, then its directory is
//! fsynced, and only then does the redb transaction that names it commit (redb commits durably).
//! So an index entry never points at a missing or half-written file. A crash can leave a slot
//! file that no entry names (a put that never committed, or a replaced/deleted body whose file
//! was not yet removed); [`DiskStore::open`] deletes those orphans.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use subspace_crypto::{RecordKey, codec, hash};

use crate::store::{RecordStore, StoredEntry, Usage, check_space};
use crate::{NodeError, Result};

const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("index");
const SLOT_MAGIC: &[u8; 8] = b"SSSLOT01";
const SLOT_HEADER_LEN: usize = 8 + 32 + 8 + 32;
const SLOT_DIR: &str = "slots";
const INDEX_FILE: &str = "index.redb";

/// Settings of a [`DiskStore`].
#[derive(Clone, Copy, Debug)]
pub struct DiskStoreConfig {
    /// Bytes of bodies the store accepts before refusing puts.
    pub pledged: u64,
    /// Bodies longer than this go to slot files; shorter ones stay inside redb.
    pub inline_threshold: usize,
}

impl Default for DiskStoreConfig {
    fn default() -> Self {
        DiskStoreConfig {
            pledged: u64::MAX,
            inline_threshold: 16 * 1024,
        }
    }
}

/// What [`DiskStore::open`] found and repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Slot files no index entry named (uncommitted puts, replaced or deleted bodies), removed.
    pub orphans_removed: u64,
    /// Index entries found.
    pub entries: u64,
}

/// The outcome of [`DiskStore::verify`]: every entry read back and checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub checked: u64,
    /// Keys whose entry or body is missing, truncated or fails its checksum.
    pub corrupt: Vec<RecordKey>,
}

#[derive(Serialize, Deserialize)]
enum Location {
    Inline(Vec<u8>),
    Slot {
        id: u64,
        len: u64,
        checksum: [u8; 32],
    },
}

#[derive(Serialize, Deserialize)]
struct IndexEntry {
    location: Location,
    meta: Vec<u8>,
}

impl IndexEntry {
    fn body_len(&self) -> u64 {
        match &self.location {
            Location::Inline(b) => b.len() as u64,
            Location::Slot { len, .. } => *len,
        }
    }
}

/// A durable [`RecordStore`] in a directory: `index.redb` and `slots/<id>.slot`.
pub struct DiskStore {
    db: Database,
    dir: PathBuf,
    config: DiskStoreConfig,
    used: u64,
    entries: u64,
    next_slot: u64,
    recovery: Recovery,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("dir", &self.dir)
            .field("used", &self.used)
            .field("entries", &self.entries)
            .finish()
    }
}

fn db_err(e: impl std::fmt::Display) -> NodeError {
    NodeError::Database(e.to_string())
}

fn slot_name(id: u64) -> String {
    format!("{id:016x}.slot")
}

fn parse_slot_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".slot")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(NodeError::io("fsync slot directory"))
}

impl DiskStore {
    /// Opens (or creates) the store in `dir`, removing slot files left by interrupted writes.
    pub fn open(dir: impl AsRef<Path>, config: DiskStoreConfig) -> Result<DiskStore> {
        let dir = dir.as_ref().to_path_buf();
        let slots = dir.join(SLOT_DIR);
        fs::create_dir_all(&slots).map_err(NodeError::io("create store directory"))?;
        let db = Database::create(dir.join(INDEX_FILE)).map_err(db_err)?;
        // Create the table so read transactions can always open it.
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(INDEX).map_err(db_err)?;
        txn.commit().map_err(db_err)?;

        let mut used = 0u64;
        let mut entries = 0u64;
        let mut referenced = BTreeSet::new();
        {
            let read = db.begin_read().map_err(db_err)?;
            let table = read.open_table(INDEX).map_err(db_err)?;
            for item in table.iter().map_err(db_err)? {
                let (_, v) = item.map_err(db_err)?;
                let entry: IndexEntry = codec::decode(v.value())?;
                used = used.saturating_add(entry.body_len());
                entries += 1;
                if let Location::Slot { id, .. } = entry.location {
                    referenced.insert(id);
                }
            }
        }
        let mut max_id = referenced.last().copied().unwrap_or(0);
        let mut orphans_removed = 0;
        for dent in fs::read_dir(&slots).map_err(NodeError::io("list slot directory"))? {
            let dent = dent.map_err(NodeError::io("list slot directory"))?;
            let name = dent.file_name();
            let id = name.to_str().and_then(parse_slot_name);
            match id {
                Some(id) if referenced.contains(&id) => {}
                _ => {
                    if let Some(id) = id {
                        max_id = max_id.max(id);
                    }
                    fs::remove_file(dent.path()).map_err(NodeError::io("remove orphan slot"))?;
                    orphans_removed += 1;
                }
            }
        }
        if orphans_removed > 0 {
            sync_dir(&slots)?;
        }
        Ok(DiskStore {
            db,
            dir,
            config,
            used,
            entries,
            next_slot: max_id + 1,
            recovery: Recovery {
                orphans_removed,
                entries,
            },
        })
    }

    /// What opening the store found and repaired.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// Reads back every entry and checks each slot body against its checksum.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let read = self.db.begin_read().map_err(db_err)?;
        let table = read.open_table(INDEX).map_err(db_err)?;
        for item in table.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            report.checked += 1;
            let Ok(bytes) = <[u8; 32]>::try_from(k.value()) else {
                continue; // a key that is not 32 bytes cannot be named; it is reported below
            };
            let key = RecordKey::from_bytes(bytes);
            let ok = codec::decode::<IndexEntry>(v.value())
                .map_err(NodeError::from)
                .and_then(|e| self.load_body(&key, &e.location))
                .is_ok();
            if !ok {
                report.corrupt.push(key);
            }
        }
        Ok(report)
    }

    fn slot_path(&self, id: u64) -> PathBuf {
        self.dir.join(SLOT_DIR).join(slot_name(id))
    }

    fn write_slot(&mut self, key: &RecordKey, body: &[u8]) -> Result<Location> {
        let id = self.next_slot;
        self.next_slot += 1;
        let checksum = hash::blake3(body).to_bytes();
        let mut header = Vec::with_capacity(SLOT_HEADER_LEN);
        header.extend_from_slice(SLOT_MAGIC);
        header.extend_from_slice(key.as_bytes());
        header.extend_from_slice(&(body.len() as u64).to_be_bytes());
        header.extend_from_slice(&checksum);
        let path = self.slot_path(id);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(NodeError::io("create slot file"))?;
        f.write_all(&header)
            .and_then(|_| f.write_all(body))
            .map_err(NodeError::io("write slot file"))?;
        f.sync_all().map_err(NodeError::io("fsync slot file"))?;
        sync_dir(&self.dir.join(SLOT_DIR))?;
        Ok(Location::Slot {
            id,
            len: body.len() as u64,
            checksum,
        })
    }

    fn load_body(&self, key: &RecordKey, location: &Location) -> Result<Vec<u8>> {
        match location {
            Location::Inline(b) => Ok(b.clone()),
            Location::Slot { id, len, checksum } => {
                let corrupt = || NodeError::Corrupt(format!("slot {id} of {key}"));
                let mut f = File::open(self.slot_path(*id)).map_err(|_| corrupt())?;
                let file_len = f.metadata().map_err(NodeError::io("stat slot file"))?.len();
                if file_len != SLOT_HEADER_LEN as u64 + len {
                    return Err(corrupt());
                }
                let mut header = [0u8; SLOT_HEADER_LEN];
                f.read_exact(&mut header).map_err(|_| corrupt())?;
                let mut expected = Vec::with_capacity(SLOT_HEADER_LEN);
                expected.extend_from_slice(SLOT_MAGIC);
                expected.extend_from_slice(key.as_bytes());
                expected.extend_from_slice(&len.to_be_bytes());
                expected.extend_from_slice(checksum);
                if header[..] != expected[..] {
                    return Err(corrupt());
                }
                // The length was checked against the file's real size above, so this
                // allocation is bounded by what is on disk.
                let mut body = vec![0u8; *len as usize];
                f.read_exact(&mut body).map_err(|_| corrupt())?;
                if hash::blake3(&body).to_bytes() != *checksum {
                    return Err(corrupt());
                }
                Ok(body)
            }
        }
    }

    fn read_entry(&self, key: &RecordKey) -> Result<Option<IndexEntry>> {
        let read = self.db.begin_read().map_err(db_err)?;
        let table = read.open_table(INDEX).map_err(db_err)?;
        match table.get(key.as_bytes().as_slice()).map_err(db_err)? {
            Some(v) => Ok(Some(codec::decode(v.value())?)),
            None => Ok(None),
        }
    }

    fn remove_slot_of(&self, entry: &IndexEntry) {
        if let Location::Slot { id, .. } = entry.location {
            // Best effort: a file left behind is an orphan that the next open removes.
            if let Err(e) = fs::remove_file(self.slot_path(id)) {
                tracing::debug!(slot = id, error = %e, "could not remove replaced slot file");
            }
        }
    }
}

impl RecordStore for DiskStore {
    fn put(&mut self, key: RecordKey, entry: StoredEntry) -> Result<()> {
        let old = self.read_entry(&key)?;
        let old_len = old.as_ref().map_or(0, IndexEntry::body_len);
        check_space(
            self.used,
            self.config.pledged,
            old_len,
            entry.body.len() as u64,
        )?;
        let location = if entry.body.len() > self.config.inline_threshold {
            self.write_slot(&key, &entry.body)?
        } else {
            Location::Inline(entry.body)
        };
        let new = IndexEntry {
            location,
            meta: entry.meta,
        };
        let bytes = codec::encode(&new)?;
        let commit = (|| -> Result<()> {
            let txn = self.db.begin_write().map_err(db_err)?;
            {
                let mut table = txn.open_table(INDEX).map_err(db_err)?;
                table
                    .insert(key.as_bytes().as_slice(), bytes.as_slice())
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })();
        if let Err(e) = commit {
            self.remove_slot_of(&new);
            return Err(e);
        }
        self.used = self.used - old_len + new.body_len();
        match old {
            Some(old) => self.remove_slot_of(&old),
            None => self.entries += 1,
        }
        Ok(())
    }

    fn get(&self, key: &RecordKey) -> Result<Option<StoredEntry>> {
        match self.read_entry(key)? {
            Some(e) => Ok(Some(StoredEntry {
                body: self.load_body(key, &e.location)?,
                meta: e.meta,
            })),
            None => Ok(None),
        }
    }

    fn get_meta(&self, key: &RecordKey) -> Result<Option<Vec<u8>>> {
        Ok(self.read_entry(key)?.map(|e| e.meta))
    }

    fn delete(&mut self, key: &RecordKey) -> Result<bool> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let removed = {
            let mut table = txn.open_table(INDEX).map_err(db_err)?;
            let removed = table.remove(key.as_bytes().as_slice()).map_err(db_err)?;
            removed.map(|v| codec::decode::<IndexEntry>(v.value()))
        };
        txn.commit().map_err(db_err)?;
        match removed {
            Some(entry) => {
                let entry = entry?;
                self.used = self.used.saturating_sub(entry.body_len());
                self.entries = self.entries.saturating_sub(1);
                self.remove_slot_of(&entry);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn contains(&self, key: &RecordKey) -> Result<bool> {
        let read = self.db.begin_read().map_err(db_err)?;
        let table = read.open_table(INDEX).map_err(db_err)?;
        Ok(table
            .get(key.as_bytes().as_slice())
            .map_err(db_err)?
            .is_some())
    }

    fn keys(&self) -> Result<Vec<RecordKey>> {
        let read = self.db.begin_read().map_err(db_err)?;
        let table = read.open_table(INDEX).map_err(db_err)?;
        let mut keys = Vec::new();
        for item in table.iter().map_err(db_err)? {
            let (k, _) = item.map_err(db_err)?;
            let bytes = <[u8; 32]>::try_from(k.value())
                .map_err(|_| NodeError::Corrupt("index key is not 32 bytes".into()))?;
            keys.push(RecordKey::from_bytes(bytes));
        }
        Ok(keys)
    }

    fn usage(&self) -> Usage {
        Usage {
            used: self.used,
            pledged: self.config.pledged,
            entries: self.entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> RecordKey {
        RecordKey::from_bytes([i; 32])
    }

    fn tempdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("subspace-node-disk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn cfg() -> DiskStoreConfig {
        DiskStoreConfig {
            pledged: 10 << 20,
            inline_threshold: 1024,
        }
    }

    #[test]
    fn inline_and_slot_bodies_round_trip_across_reopen() {
        let dir = tempdir("roundtrip");
        let small = StoredEntry {
            body: vec![7; 100],
            meta: b"m1".to_vec(),
        };
        let large = StoredEntry {
            body: (0..5000u32).map(|i| i as u8).collect(),
            meta: b"m2".to_vec(),
        };
        {
            let mut s = DiskStore::open(&dir, cfg()).unwrap();
            s.put(key(1), small.clone()).unwrap();
            s.put(key(2), large.clone()).unwrap();
            assert_eq!(s.usage().used, 5100);
        }
        let s = DiskStore::open(&dir, cfg()).unwrap();
        assert_eq!(
            s.recovery(),
            Recovery {
                orphans_removed: 0,
                entries: 2
            }
        );
        assert_eq!(s.get(&key(1)).unwrap(), Some(small));
        assert_eq!(s.get(&key(2)).unwrap(), Some(large));
        assert_eq!(s.get_meta(&key(2)).unwrap(), Some(b"m2".to_vec()));
        assert_eq!(
            s.usage(),
            Usage {
                used: 5100,
                pledged: 10 << 20,
                entries: 2
            }
        );
        assert_eq!(s.keys().unwrap(), vec![key(1), key(2)]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replacing_and_deleting_slot_bodies_removes_their_files() {
        let dir = tempdir("replace");
        let mut s = DiskStore::open(&dir, cfg()).unwrap();
        s.put(
            key(1),
            StoredEntry {
                body: vec![1; 4000],
                meta: vec![],
            },
        )
        .unwrap();
        s.put(
            key(1),
            StoredEntry {
                body: vec![2; 3000],
                meta: vec![],
            },
        )
        .unwrap();
        assert_eq!(fs::read_dir(dir.join(SLOT_DIR)).unwrap().count(), 1);
        assert_eq!(s.get(&key(1)).unwrap().unwrap().body, vec![2; 3000]);
        assert!(s.delete(&key(1)).unwrap());
        assert_eq!(fs::read_dir(dir.join(SLOT_DIR)).unwrap().count(), 0);
        assert_eq!(s.usage().used, 0);
        assert_eq!(s.get(&key(1)).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn uncommitted_slot_files_are_removed_on_open() {
        let dir = tempdir("orphan");
        {
            let mut s = DiskStore::open(&dir, cfg()).unwrap();
            s.put(
                key(1),
                StoredEntry {
                    body: vec![1; 4000],
                    meta: vec![],
                },
            )
            .unwrap();
        }
        // A slot written before a crash, whose index entry never committed, and a torn one.
        fs::write(dir.join(SLOT_DIR).join(slot_name(99)), b"half a body").unwrap();
        fs::write(dir.join(SLOT_DIR).join("junk.tmp"), b"x").unwrap();
        let s = DiskStore::open(&dir, cfg()).unwrap();
        assert_eq!(
            s.recovery(),
            Recovery {
                orphans_removed: 2,
                entries: 1
            }
        );
        assert_eq!(
            s.verify().unwrap(),
            VerifyReport {
                checked: 1,
                corrupt: vec![]
            }
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_flipped_bit_in_a_slot_is_reported_not_returned() {
        let dir = tempdir("bitflip");
        let mut s = DiskStore::open(&dir, cfg()).unwrap();
        s.put(
            key(3),
            StoredEntry {
                body: vec![9; 4000],
                meta: vec![],
            },
        )
        .unwrap();
        let path = fs::read_dir(dir.join(SLOT_DIR))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert!(matches!(s.get(&key(3)), Err(NodeError::Corrupt(_))));
        assert_eq!(s.verify().unwrap().corrupt, vec![key(3)]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_pledge_is_enforced_and_survives_reopen_accounting() {
        let dir = tempdir("pledge");
        let config = DiskStoreConfig {
            pledged: 5000,
            inline_threshold: 1024,
        };
        let mut s = DiskStore::open(&dir, config).unwrap();
        s.put(
            key(1),
            StoredEntry {
                body: vec![0; 4000],
                meta: vec![],
            },
        )
        .unwrap();
        assert!(matches!(
            s.put(
                key(2),
                StoredEntry {
                    body: vec![0; 2000],
                    meta: vec![]
                }
            ),
            Err(NodeError::StoreFull { .. })
        ));
        drop(s);
        let s = DiskStore::open(&dir, config).unwrap();
        assert_eq!(s.usage().used, 4000);
        assert!(!s.contains(&key(2)).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
