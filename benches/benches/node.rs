//! The `node` benchmark (being written with its crate).
fn main() {}
