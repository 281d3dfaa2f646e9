//! Formatting one event record for people: through its BTF struct type when there is one,
//! as hex otherwise.

/// Bytes as space-separated hex pairs (`0a 00 00 01`).
pub fn hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 3);
    for (i, b) in data.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}
