//! Folders: the data of a mutable record, mapping names to files and sub-folders.
//!
//! Format: `0x01 || codec([(name, entry)])`, entries sorted by name (bytewise), names unique.
//! Sharing a folder record shares every file in it, because a file entry carries its
//! manifest's content key; a sub-folder entry names another mutable record, readable by
//! whoever its own ACL lists.

use serde::{Deserialize, Serialize};
use subspace_crypto::{ContentKey, Keypair, RecordKey, codec};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{MAX_DATA_LEN, Record, RecordError, Result};

/// The format version byte that starts every encoded folder.
pub const FOLDER_VERSION: u8 = 1;
/// The longest entry name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// What a folder name points at.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub enum Entry {
    /// A file: its manifest record, the key that opens it (`None` if public), its length.
    File {
        /// The manifest record's key.
        #[zeroize(skip)]
        manifest: RecordKey,
        /// The manifest record's content key.
        content_key: Option<[u8; 32]>,
        /// The file's length in bytes.
        len: u64,
    },
    /// A sub-folder: another mutable folder record.
    Folder {
        /// The sub-folder record's key.
        #[zeroize(skip)]
        record: RecordKey,
    },
}

impl core::fmt::Debug for Entry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Entry::File { manifest, len, .. } => f
                .debug_struct("File")
                .field("manifest", manifest)
                .field("len", len)
                .finish_non_exhaustive(),
            Entry::Folder { record } => f.debug_struct("Folder").field("record", record).finish(),
        }
    }
}

impl Entry {
    /// A file entry for a chunked file (see [`chunk`](super::chunk)).
    pub fn file(file: &super::ChunkedFile) -> Entry {
        Entry::File {
            manifest: file.record.key(),
            content_key: file.content_key.as_ref().map(|k| *k.as_bytes()),
            len: file.manifest.total_len(),
        }
    }

    /// The content key that opens a file entry's manifest record.
    pub fn content_key(&self) -> Option<ContentKey> {
        match self {
            Entry::File { content_key, .. } => content_key.map(ContentKey::from_bytes),
            Entry::Folder { .. } => None,
        }
    }
}

/// A folder listing: names (sorted, unique) mapped to entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder(Vec<(String, Entry)>);

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name == "."
        || name == ".."
        || name.contains(['/', '\0'])
    {
        return Err(RecordError::InvalidName);
    }
    Ok(())
}

impl Folder {
    /// An empty folder.
    pub fn new() -> Folder {
        Folder(Vec::new())
    }

    /// Adds or replaces `name`. Names are 1 to 255 bytes without `/` or NUL, and not `.`/`..`.
    pub fn insert(&mut self, name: &str, entry: Entry) -> Result<()> {
        check_name(name)?;
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.0[i].1 = entry,
            Err(i) => self.0.insert(i, (name.to_owned(), entry)),
        }
        Ok(())
    }

    /// Removes `name`, returning its entry.
    pub fn remove(&mut self, name: &str) -> Option<Entry> {
        let i = self
            .0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()?;
        Some(self.0.remove(i).1)
    }

    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        let i = self
            .0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()?;
        Some(&self.0[i].1)
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.0.iter().map(|(n, e)| (n.as_str(), e))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the folder is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Encodes the folder (the data of a folder record; at most 1 MiB, so a few thousand
    /// entries).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![FOLDER_VERSION];
        codec::encode_into(self, &mut out)?;
        if out.len() > MAX_DATA_LEN {
            return Err(RecordError::DataTooLarge {
                len: out.len() as u64,
                max: MAX_DATA_LEN as u64,
            });
        }
        Ok(out)
    }

    /// Decodes and checks a folder; any byte string gives a folder or an error.
    pub fn decode(bytes: &[u8]) -> Result<Folder> {
        let (&version, body) = bytes
            .split_first()
            .ok_or(RecordError::Decode("empty input".into()))?;
        if version != FOLDER_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        let f: Folder = codec::decode_bounded::<Folder, MAX_DATA_LEN>(body)
            .map_err(|e| RecordError::Decode(e.to_string()))?;
        for (name, _) in &f.0 {
            check_name(name)?;
        }
        if f.0.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(RecordError::Malformed(
                "folder names not sorted or not unique",
            ));
        }
        Ok(f)
    }

    /// Opens a folder record (which must be mutable) with a keypair on its keychain.
    pub fn open(record: &Record, keypair: &Keypair) -> Result<Folder> {
        if !record.is_mutable() {
            return Err(RecordError::NotMutable);
        }
        Folder::decode(&record.open(keypair)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file(b: u8) -> Entry {
        Entry::File {
            manifest: RecordKey::from_bytes([b; 32]),
            content_key: Some([b; 32]),
            len: u64::from(b),
        }
    }

    #[test]
    fn insert_get_remove_sorted() {
        let mut f = Folder::new();
        f.insert("zeta", file(1)).unwrap();
        f.insert("alpha", file(2)).unwrap();
        f.insert(
            "sub",
            Entry::Folder {
                record: RecordKey::from_bytes([3; 32]),
            },
        )
        .unwrap();
        f.insert("alpha", file(4)).unwrap();
        assert_eq!(f.len(), 3);
        let names: Vec<&str> = f.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["alpha", "sub", "zeta"]);
        assert_eq!(f.get("alpha"), Some(&file(4)));
        assert_eq!(
            f.get("alpha").unwrap().content_key().unwrap(),
            ContentKey::from_bytes([4; 32])
        );
        assert_eq!(f.remove("zeta"), Some(file(1)));
        assert_eq!(f.get("zeta"), None);
        let back = Folder::decode(&f.encode().unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn bad_names_and_unsorted_encodings_are_refused() {
        let mut f = Folder::new();
        for bad in ["", ".", "..", "a/b", "nul\0", &"x".repeat(256)] {
            assert_eq!(f.insert(bad, file(1)), Err(RecordError::InvalidName));
        }
        let unsorted = Folder(vec![("b".into(), file(1)), ("a".into(), file(2))]);
        let bytes = [vec![FOLDER_VERSION], codec::encode(&unsorted).unwrap()].concat();
        assert!(Folder::decode(&bytes).is_err());
        let dup = Folder(vec![("a".into(), file(1)), ("a".into(), file(2))]);
        let bytes = [vec![FOLDER_VERSION], codec::encode(&dup).unwrap()].concat();
        assert!(Folder::decode(&bytes).is_err());
        let slash = Folder(vec![("a/b".into(), file(1))]);
        let bytes = [vec![FOLDER_VERSION], codec::encode(&slash).unwrap()].concat();
        assert_eq!(Folder::decode(&bytes), Err(RecordError::InvalidName));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = Folder::decode(&bytes);
            let mut v = vec![FOLDER_VERSION];
            v.extend_from_slice(&bytes);
            let _ = Folder::decode(&v);
        }
    }
}
