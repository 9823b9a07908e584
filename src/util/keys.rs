//! Key ranges of an ordered key space (etcd, the sqlite log, the watch cache).

/// etcd's `GetPrefixRangeEnd`: the smallest key after every key that starts with `prefix`
/// (the last byte below 0xff incremented, what follows it dropped); `[0]`, etcd's "to the end
/// of the key space", when there is none (an empty prefix, or only 0xff bytes).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// [`prefix_end`] for string keys: None when the range is unbounded (the empty prefix) or
/// its end is not UTF-8 (a prefix ending in U+007F, say); callers then bound the range by
/// `starts_with`.
pub fn prefix_end_str(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return None;
    }
    String::from_utf8(prefix_end(prefix.as_bytes())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_end_is_the_prefix_successor() {
        assert_eq!(prefix_end(b"/registry/"), b"/registry0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b""), vec![0]);
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end_str("/a/"), Some("/a0".to_owned()));
        assert_eq!(prefix_end_str(""), None);
        assert_eq!(prefix_end_str("a\u{7f}"), None);
    }
}
