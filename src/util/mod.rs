//! Shared helpers, the bottom layer: no knowledge of requests, storage or resources.
//!
//! - [`fault`]: debug-build fault switches tests turn on from outside the process.
//! - [`file_poll`]: watching a configuration file for changes (the config reloaders).
//! - [`hash`]: content hashes for ETags, SHA-256 hex.
//! - [`json`]: typed reads of JSON fields by pointer.
//! - [`keys`]: the range end of a key prefix.
//! - [`names`]: name and value rules with upstream's messages.
//! - [`protowire`]: the protobuf wire format.
//! - [`quantity`]: `resource.Quantity`, exact.
//! - [`strict`]: strict decoding of config kinds, upstream's errors.
//! - [`time`]: RFC 3339 times, Go durations and civil dates.
//! - [`ttl_cache`]: a bounded map of expiring entries (webhook answer caches).
//! - here: random names, Go-style quoting, giving freed heap back.

pub mod alloc;
pub mod fault;
pub mod file_poll;
pub mod gofmt;
pub mod hash;
pub mod json;
pub mod keys;
pub mod names;
pub mod percent;
pub mod protowire;
pub mod quantity;
pub mod strict;
pub mod time;
pub mod ttl_cache;

pub use self::time::{go_duration, now_rfc3339, parse_rfc3339, rfc3339, rfc3339_micros, unix_millis, unix_now};

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

/// Go's `%v` of a decoded JSON value (`map[a:1 b:[x y]]`, keys sorted, `<nil>` for null), as
/// upstream prints a patch map in error messages.
pub fn go_sprint(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_sprint).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys.iter().map(|k| format!("{k}:{}", go_sprint(&m[*k]))).collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
pub fn go_string_slice<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| go_quote(s.as_ref())).collect();
    format!("[]string{{{}}}", inner.join(", "))
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

/// An I/O error as Go prints it (`no such file or directory`, `permission denied`,
/// `connection refused`), for messages that should read like upstream's.
pub fn go_io_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "no such file or directory".into(),
        K::PermissionDenied => "permission denied".into(),
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset by peer".into(),
        K::TimedOut => "i/o timeout".into(),
        _ => {
            // Rust's "<text> (os error N)": Go prints the text, lower-cased.
            let s = e.to_string();
            let text = s.split(" (os error").next().unwrap_or(&s);
            let mut c = text.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => String::new(),
            }
        }
    }
}
