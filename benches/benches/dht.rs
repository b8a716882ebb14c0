//! The `dht` benchmark (being written with its crate).
fn main() {}
