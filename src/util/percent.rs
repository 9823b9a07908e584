//! Percent-decoding as Go's `net/url` does it, for the three places that need it: query
//! parameters (`+` is a space), path segments and header keys (`+` stays).

/// What an invalid escape (`%` not followed by two hex digits) does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Stays as written; the rest is still decoded (how Capstan reads paths and queries).
    Keep,
    /// Makes the whole decode fail, as Go's `url.PathUnescape` errors.
    Fail,
}

/// Decode `%XX` escapes (and `+` as a space when `plus_is_space`). `None` only with
/// [`Invalid::Fail`] on an invalid escape or when the bytes are not UTF-8; otherwise bytes that
/// are not UTF-8 are replaced.
pub fn decode(s: &str, plus_is_space: bool, invalid: Invalid) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => match b.get(i + 1..i + 3).and_then(hex_byte) {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None if invalid == Invalid::Fail => return None,
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    match invalid {
        Invalid::Fail => String::from_utf8(out).ok(),
        Invalid::Keep => Some(String::from_utf8_lossy(&out).into_owned()),
    }
}

fn hex_byte(h: &[u8]) -> Option<u8> {
    u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_go() {
        assert_eq!(decode("a%2Fb+c", true, Invalid::Keep).as_deref(), Some("a/b c"));
        assert_eq!(decode("a%2Fb+c", false, Invalid::Keep).as_deref(), Some("a/b+c"));
        assert_eq!(decode("x%zz%41%4", false, Invalid::Keep).as_deref(), Some("x%zzA%4"));
        assert_eq!(decode("x%zz", false, Invalid::Fail), None);
        assert_eq!(decode("%E2%9C%93", false, Invalid::Fail).as_deref(), Some("✓"));
        assert_eq!(decode("%FF", false, Invalid::Fail), None);
    }
}
