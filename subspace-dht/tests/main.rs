//! The crate's integration tests, built as one binary: a binary per file would link the crate
//! and its dependencies once per file.

// Test helpers outside `#[test]` functions panic on failure, as the tests do; clippy.toml's
// allowance reaches only the `#[test]` functions themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adversarial;
mod bounds;
mod determinism;
mod holder_records;
mod holders_expire;
mod sim;
mod simulation;
