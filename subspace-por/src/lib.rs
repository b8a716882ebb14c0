#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
mod field;
mod piece;
mod replica;
mod replica_id;
mod sloth;

pub use error::PorError;
pub use piece::{BLOCK_SIZE, BLOCKS_PER_PIECE, PIECE_SIZE, decode_piece, encode_piece};
pub use replica::{
    DEFAULT_LAYERS, MAX_LAYERS, MAX_RECORD_LEN, MAX_REPLICA_LEN, Replica, Threads, encode,
    encode_with, padded_last_piece, verify,
};
pub use replica_id::ReplicaId;

/// Result type of this crate.
pub type Result<T, E = PorError> = core::result::Result<T, E>;
