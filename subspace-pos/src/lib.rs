//! `subspace-pos`: a protocol layer of the Subspace storage network (being built; see the
//! workspace's ARCHITECTURE.md for what this crate will hold).
