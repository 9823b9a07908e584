//! Table output for custom resources from `additionalPrinterColumns` (upstream's
//! `tableconvertor`): Name first, then the version's columns, or `Age` when it has none.
//! Cells follow `cellForJSONValue`: integers, numbers, booleans typed; dates as a human age;
//! strings as JSONPath prints them.

use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::time::SystemTime;

/// One printer column of a CRD version.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// A CRD version's Table columns after Name.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns(pub Vec<Column>);

impl Columns {
    /// The version's `additionalPrinterColumns`, or `Age` when it has none.
    pub fn of(version: &Value) -> Columns {
        let given = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        let Some(list) = given else { return Columns::age() };
        Columns(
            list.iter()
                .map(|c| {
                    let s = |k: &str| c.str_of(k).to_string();
                    Column {
                        name: s("name"),
                        type_: s("type"),
                        format: s("format"),
                        description: s("description"),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: s("jsonPath"),
                    }
                })
                .collect(),
        )
    }

    /// The single `Age` column of versions without printer columns.
    pub fn age() -> Columns {
        Columns(vec![Column {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: crate::api::table::D_AGE.into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }])
    }

    /// `columnDefinitions`: Name, then these.
    pub fn definitions(&self) -> Vec<Value> {
        let name = json!({"name": "Name", "type": "string", "format": "name",
            "description": crate::api::table::D_NAME, "priority": 0});
        std::iter::once(name)
            .chain(self.0.iter().map(|c| {
                json!({"name": c.name, "type": c.type_, "format": c.format,
                    "description": c.description, "priority": c.priority})
            }))
            .collect()
    }

    /// One row's cells: the name, then each column's value.
    pub fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        let name = obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
        std::iter::once(name)
            .chain(
                self.0
                    .iter()
                    .map(|c| cell(&c.type_, find(obj, &c.json_path).as_ref(), now)),
            )
            .collect()
    }
}

fn cell(ty: &str, v: Option<&Value>, now: SystemTime) -> Value {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match ty {
        "integer" => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(|i| json!(i))
            .unwrap_or(Value::Null),
        "number" => v.as_f64().map(|f| json!(f)).unwrap_or(Value::Null),
        "boolean" => v.as_bool().map(|b| json!(b)).unwrap_or(Value::Null),
        "date" => match v.as_str() {
            Some(s) => match crate::util::parse_rfc3339(s) {
                Some(t) => {
                    let d = now.duration_since(t).unwrap_or_default();
                    json!(crate::api::table::human_duration(d))
                }
                None => json!("<invalid>"),
            },
            None => Value::Null,
        },
        // `string` (and unknown types) print as JSONPath would.
        _ => match v {
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        },
    }
}

/// Evaluate a simple JSONPath (`.a.b`, `.a[0]`, `.a[?(@.type=="Ready")].status`, optionally
/// wrapped in `{}`); the first result.
pub fn find(obj: &Value, path: &str) -> Option<Value> {
    let p = path.trim();
    let p = p.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let mut cur = vec![obj.clone()];
    for seg in split(p)? {
        let mut next = Vec::new();
        for c in &cur {
            match &seg {
                Seg::Key(k) => {
                    if let Some(v) = c.get(k.as_str()) {
                        next.push(v.clone());
                    }
                }
                Seg::Index(i) => {
                    if let Some(a) = c.as_array() {
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        if let Some(v) = usize::try_from(idx).ok().and_then(|ix| a.get(ix)) {
                            next.push(v.clone());
                        }
                    }
                }
                Seg::All => match c {
                    Value::Array(a) => next.extend(a.iter().cloned()),
                    Value::Object(m) => next.extend(m.values().cloned()),
                    _ => {}
                },
                Seg::Filter(k, want) => {
                    if let Some(a) = c.as_array() {
                        for it in a {
                            let got = k.iter().try_fold(it, |v, key| v.get(key.as_str()));
                            let ok = match got {
                                Some(Value::String(s)) => Some(s.as_str()) == want.as_deref(),
                                Some(other) => want.as_deref() == Some(other.to_string().as_str()),
                                None => false,
                            };
                            if ok {
                                next.push(it.clone());
                            }
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur.into_iter().next()
}

enum Seg {
    Key(String),
    Index(i64),
    All,
    /// `[?(@.a.b=="x")]`
    Filter(Vec<String>, Option<String>),
}

fn split(p: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j > start {
                    let k = &p[start..j];
                    out.push(if k == "*" { Seg::All } else { Seg::Key(k.to_string()) });
                }
                i = j;
            }
            b'[' => {
                let end = p[i..].find(']').map(|e| e + i)?;
                let inner = p[i + 1..end].trim();
                if inner == "*" {
                    out.push(Seg::All);
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) {
                    let f = f.trim().strip_prefix("@.")?;
                    let (lhs, rhs) = f.split_once("==")?;
                    let keys = lhs.trim().split('.').map(str::to_string).collect();
                    let rhs = rhs.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
                    out.push(Seg::Filter(keys, Some(rhs)));
                } else if let Ok(n) = inner.parse::<i64>() {
                    out.push(Seg::Index(n));
                } else {
                    out.push(Seg::Key(inner.trim_matches(|c| c == '"' || c == '\'').to_string()));
                }
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                    i += 1;
                }
                out.push(Seg::Key(p[start..i].to_string()));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        let o = json!({"spec": {"replicas": 3}, "status": {"conditions": [
            {"type": "Ready", "status": "True"}, {"type": "Other", "status": "False"}]}});
        assert_eq!(find(&o, ".spec.replicas"), Some(json!(3)));
        assert_eq!(
            find(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(find(&o, ".status.conditions[1].type"), Some(json!("Other")));
        assert_eq!(find(&o, ".spec.missing"), None);
        assert_eq!(cell("integer", Some(&json!(3.0)), SystemTime::now()), json!(3));
        assert_eq!(cell("string", Some(&json!(3)), SystemTime::now()), json!("3"));
    }
}
