//! `subspace-node`: assembles the Subspace protocol crates into a running host and client
//! (being built; see the workspace's ARCHITECTURE.md for what this crate will hold).
