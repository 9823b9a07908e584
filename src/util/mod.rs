//! Shared helpers, the bottom layer: no knowledge of requests, storage or resources.
//!
//! - [`hash`]: content hashes for ETags, SHA-256 hex.
//! - [`json`]: typed reads of JSON fields by pointer.
//! - [`keys`]: the range end of a key prefix.
//! - [`names`]: name and value rules with upstream's messages.
//! - [`protowire`]: the protobuf wire format.
//! - [`quantity`]: `resource.Quantity`, exact.
//! - [`time`]: RFC 3339 times and civil dates.
//! - [`ttl_cache`]: a bounded map of expiring entries (webhook answer caches).
//! - here: random names, Go-style quoting.

pub mod gofmt;
pub mod hash;
pub mod json;
pub mod keys;
pub mod names;
pub mod protowire;
pub mod quantity;
pub mod time;
pub mod ttl_cache;

pub use self::time::{now_rfc3339, parse_rfc3339, rfc3339, rfc3339_micros, unix_now};

/// The 5-character random suffix upstream appends to `generateName` (no vowels, no
/// look-alike characters: `bcdfghjklmnpqrstvwxz2456789`).
pub fn random_suffix(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Go's `%q` (`strconv.Quote`) for the strings that can reach an error message.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
