//! Server-side field validation (`fieldValidation=Strict|Warn|Ignore`) for built-in kinds:
//! unknown fields (from the schemas) and duplicate fields (from the raw JSON body), reported with
//! upstream's strict-decoding paths (`spec.containers[0].foo`, sigs.k8s.io/json), and pruning of
//! unknown fields (built-in types never store them).

use super::{Node, Schemas, Ty, TypeRef};
use crate::error::ApiError;
use serde_json::Value;
use std::collections::HashMap;

/// The `fieldValidation` directive. An empty directive means `Warn` (the server default since 1.27).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    /// `""` → Warn; anything other than `Strict`/`Warn`/`Ignore` → None (upstream rejects it:
    /// `fieldValidation: Unsupported value: "x": supported values: "", "Ignore", "Strict", "Warn"`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "Warn" => Some(Self::Warn),
            "Strict" => Some(Self::Strict),
            "Ignore" => Some(Self::Ignore),
            _ => None,
        }
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether values under `node` are kept as they are (no structure to check).
fn opaque(node: &Node) -> bool {
    node.preserve_unknown || matches!(node.ty, Ty::Any | Ty::IntOrString)
}

fn walk(s: &Schemas, node: &Node, v: &Value, path: &str, out: &mut Vec<String>) {
    if opaque(node) {
        return;
    }
    match v {
        Value::Object(m) if node.ty == Ty::Object => {
            if !node.fields.is_empty() {
                for (k, fv) in m {
                    let p = child(path, k);
                    match node.fields.get(k).and_then(|r| s.resolve(r)) {
                        Some(f) => walk(s, f, fv, &p, out),
                        None => {
                            if out.len() < 100 {
                                out.push(p)
                            }
                        }
                    }
                }
            } else if let Some(e) = node.additional.as_deref().and_then(|r| s.resolve(r)) {
                for (k, fv) in m {
                    walk(s, e, fv, &child(path, k), out);
                }
            }
        }
        Value::Array(items) if node.ty == Ty::Array => {
            if let Some(e) = node.items.as_deref().and_then(|r| s.resolve(r)) {
                for (i, item) in items.iter().enumerate() {
                    walk(s, e, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Unknown fields of `obj` under `root`, as upstream's strict decoder names them
/// (`spec.foo`, `spec.containers[0].bar`, `metadata.baz`; no leading dot), in document order,
/// at most 100 (as upstream).
pub fn unknown_fields(schemas: &Schemas, root: &Node, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(schemas, root, obj, "", &mut out);
    out
}

/// Removes every field the schema does not know.
pub fn prune(schemas: &Schemas, node: &Node, v: &mut Value) {
    if opaque(node) {
        return;
    }
    match v {
        Value::Object(m) if node.ty == Ty::Object => {
            if !node.fields.is_empty() {
                m.retain(|k, _| node.fields.contains_key(k));
                for (k, fv) in m.iter_mut() {
                    if let Some(f) = node.fields.get(k).and_then(|r| resolve(schemas, r)) {
                        prune(schemas, f, fv);
                    }
                }
            } else if let Some(e) = node.additional.as_deref().and_then(|r| resolve(schemas, r)) {
                for fv in m.values_mut() {
                    prune(schemas, e, fv);
                }
            }
        }
        Value::Array(items) if node.ty == Ty::Array => {
            if let Some(e) = node.items.as_deref().and_then(|r| resolve(schemas, r)) {
                for item in items {
                    prune(schemas, e, item);
                }
            }
        }
        _ => {}
    }
}

fn resolve<'a>(s: &'a Schemas, r: &'a TypeRef) -> Option<&'a Node> {
    s.resolve(r)
}

/// Duplicate keys in a JSON body (`metadata.labels.a`, `spec.containers[0].name`), as upstream's
/// strict decoder reports them. Non-JSON (YAML) or malformed bodies give none.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    scan(body, false)
        .map(|s| s.out.into_iter().map(|(_, p)| p).collect())
        .unwrap_or_default()
}

/// The problems of a strict decode in the order upstream's decoder meets them in the body: an
/// unknown field where its key first appears, a duplicate where the key repeats.
fn in_body_order(body: &[u8], unknown: Vec<String>) -> Vec<String> {
    let Some(s) = scan(body, true) else {
        return unknown.into_iter().map(|p| format!("unknown field \"{p}\"")).collect();
    };
    let mut all: Vec<(usize, String)> = unknown
        .into_iter()
        .map(|p| {
            (
                s.first.as_ref().and_then(|f| f.get(&p)).copied().unwrap_or(usize::MAX),
                format!("unknown field \"{p}\""),
            )
        })
        .collect();
    all.extend(
        s.out
            .into_iter()
            .map(|(at, p)| (at, format!("duplicate field \"{p}\""))),
    );
    all.sort_by_key(|(at, _)| *at);
    all.into_iter().map(|(_, m)| m).collect()
}

fn scan(body: &[u8], positions: bool) -> Option<Scan<'_>> {
    let mut p = Scan {
        b: body,
        i: 0,
        out: Vec::new(),
        first: positions.then(HashMap::new),
        depth: 0,
    };
    p.ws();
    if p.peek() != Some(b'{') || p.value("").is_none() {
        return None;
    }
    Some(p)
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    /// Duplicate keys: where the repeat starts, and the path.
    out: Vec<(usize, String)>,
    /// Where each key path first appears (only when asked for).
    first: Option<HashMap<String, usize>>,
    depth: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }
    fn string(&mut self) -> Option<String> {
        // at '"'
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            self.i += 1;
            if c == b'\\' {
                escaped = true;
                self.i += 1;
            } else if c == b'"' {
                let raw = &self.b[start - 1..self.i];
                if !escaped {
                    return Some(String::from_utf8_lossy(&raw[1..raw.len() - 1]).into_owned());
                }
                return serde_json::from_slice::<String>(raw).ok();
            }
        }
        None
    }
    fn value(&mut self, path: &str) -> Option<()> {
        self.depth += 1;
        if self.depth > 1000 {
            return None;
        }
        self.ws();
        let r = match self.peek()? {
            b'{' => {
                self.i += 1;
                let mut seen = std::collections::HashSet::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        if self.peek()? != b'"' {
                            return None;
                        }
                        let at = self.i;
                        let k = self.string()?;
                        let p = child(path, &k);
                        if let Some(first) = self.first.as_mut() {
                            first.entry(p.clone()).or_insert(at);
                        }
                        if !seen.insert(k) && self.out.len() < 100 && !self.out.iter().any(|(_, q)| *q == p) {
                            self.out.push((at, p.clone()));
                        }
                        self.ws();
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.i += 1;
                        self.value(&p)?;
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                Some(())
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                } else {
                    let mut n = 0;
                    loop {
                        self.value(&format!("{path}[{n}]"))?;
                        n += 1;
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                Some(())
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.i += 1;
                }
                Some(())
            }
        };
        self.depth -= 1;
        r
    }
}

/// Field validation of a create/update/patch body of a built-in kind, as upstream:
/// unknown fields are always pruned from `obj`; with `Strict` any unknown (or, given the raw
/// body, duplicate) field is a 400 BadRequest
/// `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: unknown field "spec.foo", …`;
/// with `Warn` (also `""`) the result lists one warning per field (`unknown field "spec.foo"`,
/// `duplicate field "x"`) for `Warning: 299 - "…"` headers; `Ignore` returns none.
/// Kinds without a built-in schema (custom resources) pass unchanged.
pub fn field_validation(
    group: &str,
    version: &str,
    kind: &str,
    obj: &mut Value,
    directive: &str,
) -> Result<Vec<String>, ApiError> {
    field_validation_raw(group, version, kind, obj, None, directive)
}

/// [`field_validation`] that also reports duplicate fields found in the raw JSON `body`.
pub fn field_validation_raw(
    group: &str,
    version: &str,
    kind: &str,
    obj: &mut Value,
    body: Option<&[u8]>,
    directive: &str,
) -> Result<Vec<String>, ApiError> {
    let schemas = super::builtin();
    let Some(root) = schemas.root_for(group, version, kind) else {
        return Ok(Vec::new());
    };
    let mode = FieldValidation::parse(directive).unwrap_or(FieldValidation::Warn);
    let mut problems = Vec::new();
    if mode != FieldValidation::Ignore {
        let unknown = unknown_fields(schemas, root, obj);
        problems = match body {
            Some(b) => in_body_order(b, unknown),
            None => unknown.into_iter().map(|p| format!("unknown field \"{p}\"")).collect(),
        };
    }
    prune(schemas, root, obj);
    match mode {
        FieldValidation::Strict if !problems.is_empty() => Err(ApiError::cannot_handle(
            kind,
            version,
            &format!("strict decoding error: {}", problems.join(", ")),
        )),
        FieldValidation::Strict | FieldValidation::Ignore => Ok(Vec::new()),
        FieldValidation::Warn => Ok(problems),
    }
}
