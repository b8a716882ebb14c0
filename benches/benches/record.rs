//! The `record` benchmark (being written with its crate).
fn main() {}
