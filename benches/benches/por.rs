//! The `por` benchmark (being written with its crate).
fn main() {}
