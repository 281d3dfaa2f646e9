//! The floor: a Rust process that starts and exits, and does nothing else.
fn main() {}
