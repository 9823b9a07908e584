//! What go-yaml's strict mode (sigs.k8s.io/yaml `UnmarshalStrict`) finds in a YAML body that
//! its lenient decoding accepts: a key repeated in one mapping, reported as
//! `line 9: key "foo" already set in map` (the line of the repeated key). Server-side apply
//! with `fieldValidation=Strict` refuses such a body, `Warn` returns one warning per line.
//!
//! yaml_serde stops at the first mapping holding a repeated key and names the mapping's first
//! line; the repeated keys of that (block) mapping are then found by reading its lines at its
//! indentation. Repeats in a flow mapping (`{a: 1, a: 2}`) are reported at the mapping's line.
//! Only the first such mapping of a document is reported (go-yaml reports every one).

/// go-yaml's lines for the repeated keys of `body`, in document order (empty when none).
pub fn duplicate_keys(body: &[u8]) -> Vec<String> {
    let Err(e) = yaml_serde::from_slice::<yaml_serde::Value>(body) else {
        return Vec::new();
    };
    let msg = e.to_string();
    let Some(rest) = msg.split_once("duplicate entry with key ").map(|(_, r)| r) else {
        return Vec::new();
    };
    let key = rest.split(" at line ").next().unwrap_or(rest);
    let key: String = serde_json::from_str(key).unwrap_or_else(|_| key.trim_matches('"').to_string());
    let Some(loc) = e.location() else {
        return vec![line_message(0, &key)];
    };
    let text = String::from_utf8_lossy(body);
    let lines: Vec<&str> = text.lines().collect();
    let repeats = block_repeats(&lines, loc.line(), loc.column().saturating_sub(1));
    if repeats.is_empty() {
        return vec![line_message(loc.line(), &key)];
    }
    repeats.into_iter().map(|(n, k)| line_message(n, &k)).collect()
}

fn line_message(line: usize, key: &str) -> String {
    format!("line {line}: key {} already set in map", crate::util::go_quote(key))
}

/// The keys seen before in the block mapping whose first key is at 1-based `first_line`,
/// column `indent` (0-based; on the first line it may follow a sequence item's `- `): (line,
/// key) of each repeat.
fn block_repeats(lines: &[&str], first_line: usize, indent: usize) -> Vec<(usize, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(first_line.saturating_sub(1)) {
        let key_text = if i + 1 == first_line {
            line.get(indent..).unwrap_or("")
        } else {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let at = line.len() - trimmed.len();
            if at < indent || (at == indent && trimmed.starts_with('-')) {
                break;
            }
            if at > indent {
                continue;
            }
            trimmed
        };
        if let Some(key) = key_of(key_text) {
            if !seen.insert(key.clone()) {
                out.push((i + 1, key));
            }
        }
    }
    out
}

/// The key of a `key: value` line (plain, single- or double-quoted).
fn key_of(line: &str) -> Option<String> {
    if let Some(q) = line.strip_prefix('"') {
        let end = q.find("\":").or_else(|| q.strip_suffix("\":").map(str::len))?;
        return serde_json::from_str(&format!("\"{}\"", &q[..end])).ok();
    }
    if let Some(q) = line.strip_prefix('\'') {
        let end = q.find("':")?;
        return Some(q[..end].replace("''", "'"));
    }
    let end = line.find(": ").or_else(|| line.strip_suffix(':').map(str::len))?;
    Some(line[..end].trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_named_at_their_lines_as_go_yaml_does() {
        // The body of upstream's e2e "should detect duplicates in a CR when preserving unknown
        // fields", whose v1.33 answer names line 9.
        let body = "\napiVersion: g/v1\nkind: K\nmetadata:\n  name: mytest\nspec:\n  unknown: uk1\n  foo: foo1\n  foo: foo2\n  cronSpec: \"* * * * */5\"\n  ports:\n  - name: x\n    containerPort: 80\n";
        assert_eq!(
            duplicate_keys(body.as_bytes()),
            vec!["line 9: key \"foo\" already set in map"]
        );
        let two = "a: 1\nb:\n  c: 1\n  'c': 2\n  \"c\": 3\n";
        assert_eq!(
            duplicate_keys(two.as_bytes()),
            vec![
                "line 4: key \"c\" already set in map",
                "line 5: key \"c\" already set in map"
            ]
        );
        let items = "items:\n- name: a\n  v: 1\n  v: 2\n- name: b\n";
        assert_eq!(
            duplicate_keys(items.as_bytes()),
            vec!["line 4: key \"v\" already set in map"]
        );
        assert!(duplicate_keys(b"a: 1\nb: {c: 1}\n").is_empty());
        assert!(duplicate_keys(b"{\"a\": 1, \"b\": 2}").is_empty());
        assert_eq!(duplicate_keys(b"{\"a\": 1, \"a\": 2}").len(), 1);
    }
}
