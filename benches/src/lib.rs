//! `subspace-benches`: criterion benchmarks for every Subspace crate, each measured against
//! the reference implementation its issue names, in the same run. Unpublished.
//!
//! Run one with `cargo bench -p subspace-benches --bench <name>`; figures are recorded in the
//! workspace's BENCHMARKS.md.
