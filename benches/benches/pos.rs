//! The `pos` benchmark (being written with its crate).
fn main() {}
