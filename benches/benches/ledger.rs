//! The `ledger` benchmark (being written with its crate).
fn main() {}
