//! SSFS: files and folders over records (the whitepaper's future-work file system; what the
//! Space stack calls buckets).
//!
//! - [`chunk`] streams a file of any size through in bounded memory, yielding one immutable
//!   chunk record per [`ChunkOptions::chunk_len`] bytes, then [`Chunker::finish`] builds the
//!   [`Manifest`] record: ordered chunk keys and sizes, total length, BLAKE3 of the whole
//!   plaintext, media type, and each chunk's content key.
//! - [`reassemble`] turns a manifest and a fetch function back into a [`Read`](std::io::Read)
//!   that validates every chunk and, at the end, the whole-file hash.
//! - A [`Folder`] is the data of a mutable record: names mapped to files (manifest key and
//!   manifest content key) or sub-folders (their record key).
//!
//! **Keys.** Every chunk is sealed under its own fresh content key, wrapped for the owner
//! only; the manifest carries the chunk keys and is sealed for the owner and everyone the file
//! is shared with. A folder entry carries its manifest's content key, so whoever can open a
//! folder can read every file in it: sharing a folder is sharing one record (its key and ACL).
//! Sub-folders are their own mutable records with their own ACLs.
//!
//! **Memory.** The chunker holds one chunk of plaintext (a buffer of `chunk_len` bytes reused
//! for every chunk), the sealed chunk record it is yielding, and 69 bytes of manifest entry
//! per chunk. The reassembler holds one opened chunk and the record it came from. Neither ever
//! holds the file.

mod chunker;
mod folder;
mod manifest;
mod reassemble;

pub use chunker::{ChunkOptions, ChunkedFile, Chunker, chunk};
pub use folder::{Entry, FOLDER_VERSION, Folder, MAX_NAME_LEN};
pub use manifest::{ChunkRef, MANIFEST_VERSION, MAX_CHUNKS, Manifest};
pub use reassemble::{Reassembler, reassemble};
