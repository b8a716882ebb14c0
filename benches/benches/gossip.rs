//! The `gossip` benchmark (being written with its crate).
fn main() {}
