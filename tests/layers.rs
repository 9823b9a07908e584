//! The modules of `src/` form layers, and dependencies point down: a module may use (`crate::x`)
//! only modules of its own layer or of the layers below it, and there is no cycle anywhere.
//! This test reads every `crate::<module>` path in `src/` (comments left out) and checks both.
//! `docs/architecture.md` draws the same layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top. Within a layer, modules may use each other as long as there is no cycle.
const LAYERS: &[&[&str]] = &[
    // Shared helpers and leaves: no knowledge of requests or storage.
    &[
        "util", "error", "config", "pki", "metrics", "testing", "cel", "protobuf",
    ],
    // The request as parsed at the door.
    &["request"],
    // The revision log and the watch cache.
    &["storage"],
    // The resource table: rows and per-kind behaviour.
    &["api"],
    &["patch"],
    // One cloneable handle on everything stored.
    &["registry"],
    // Bytes in and out; the one client for outgoing calls.
    &["codec", "outbound"],
    // Custom resources, access control, overload protection (API Priority and Fairness),
    // admission, audit.
    &["apiext", "auth", "flowcontrol"],
    &["admission", "audit"],
    // The dispatchers.
    &["rest", "proxy", "aggregator"],
    // Listeners, filter chain, the App.
    &["server"],
    &["cli"],
];

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

/// The source with comments (line, doc and block) removed; string literals are kept.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let (mut i, mut in_str) = (0, false);
    while i < b.len() {
        if in_str {
            if b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == b'"' {
                in_str = false;
            }
            out.push(b[i] as char);
            i += 1;
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            while i + 1 < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else {
            if b[i] == b'"' && (i == 0 || b[i - 1] != b'\'') {
                in_str = true;
            }
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// `module → {modules it uses → an example file}`.
fn edges() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src").to_string_lossy().to_string();
        let top = rel.split('/').next().unwrap_or("").trim_end_matches(".rs").to_string();
        if matches!(top.as_str(), "bin" | "main" | "lib") {
            continue;
        }
        let text = strip_comments(&std::fs::read_to_string(&f).expect("read file"));
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                out.entry(top.clone())
                    .or_default()
                    .entry(name)
                    .or_insert_with(|| rel.clone());
            }
        }
    }
    out
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for e in std::fs::read_dir(&src).expect("read src").flatten() {
        let name = e.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        if matches!(name.as_str(), "bin" | "main" | "lib") {
            continue;
        }
        assert!(
            layer_of(&name).is_some(),
            "src/{name} is in no layer: add it to LAYERS in tests/layers.rs"
        );
    }
}

#[test]
fn dependencies_point_down() {
    let mut upward = Vec::new();
    for (from, tos) in edges() {
        let Some(lf) = layer_of(&from) else { continue };
        for (to, file) in tos {
            match layer_of(&to) {
                Some(lt) if lt <= lf => {}
                Some(_) => upward.push(format!("{from} → {to} (src/{file})")),
                None => upward.push(format!("{from} → unknown module {to} (src/{file})")),
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up:\n{}", upward.join("\n"));
}

#[test]
fn no_import_cycle() {
    let graph = edges();
    // Depth-first search for a back edge; report the cycle's modules.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            return Some(
                path[i..]
                    .iter()
                    .cloned()
                    .chain(std::iter::once(n.to_string()))
                    .collect(),
            );
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for to in g
            .get(n)
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if let Some(c) = visit(&to, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}
