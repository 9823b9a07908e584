//! Strict decoding of a config kind (upstream's `serializer.EnableStrict` codec): its JSON
//! walked against the kind's shape, with upstream's error texts — type mismatches as
//! encoding/json reports them, else every unknown field.

use serde_json::{Map, Value};

/// `obj` (the kind without apiVersion and kind) against `fields`: the first type mismatch, else
/// `strict decoding error: unknown field "a.b[0].c", …`.
pub fn check(obj: &Map<String, Value>, fields: &[(&str, Shape)], kind: &str, version: &str) -> Result<(), String> {
    let mut unknown = Vec::new();
    let mut types = Vec::new();
    check_fields(obj, fields, "", kind, version, &mut unknown, &mut types);
    if let Some(t) = types.into_iter().next() {
        return Err(t);
    }
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
        return Err(format!("strict decoding error: {}", list.join(", ")));
    }
    Ok(())
}

/// The shape of a field: the Go type it decodes into.
pub enum Shape {
    Str,
    Bool,
    List(&'static Shape),
    Obj(&'static str, &'static [(&'static str, Shape)]),
}

fn go_type(s: &Shape, version: &str) -> String {
    match s {
        Shape::Str => "string".into(),
        Shape::Bool => "bool".into(),
        Shape::List(inner) => format!("[]{}", go_type(inner, version)),
        Shape::Obj(name, _) => format!("{version}.{name}"),
    }
}

/// Walk `obj` against `fields`: unknown fields (with indices, as the strict decoder reports
/// them) and type mismatches (as encoding/json reports them).
fn check_fields(
    obj: &Map<String, Value>,
    fields: &[(&str, Shape)],
    path: &str,
    owner: &str,
    version: &str,
    unknown: &mut Vec<String>,
    types: &mut Vec<String>,
) {
    for (k, v) in obj {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match fields.iter().find(|(name, _)| name == k) {
            None => unknown.push(p),
            Some((_, shape)) => check_value(v, shape, &p, owner, k, version, unknown, types),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_value(
    v: &Value,
    shape: &Shape,
    path: &str,
    owner: &str,
    go_path: &str,
    version: &str,
    unknown: &mut Vec<String>,
    types: &mut Vec<String>,
) {
    let ok = matches!(
        (shape, v),
        (_, Value::Null)
            | (Shape::Str, Value::String(_))
            | (Shape::Bool, Value::Bool(_))
            | (Shape::List(_), Value::Array(_))
            | (Shape::Obj(..), Value::Object(_))
    );
    if !ok {
        // encoding/json names the field by its path without indices.
        let plain: String = {
            let mut out = String::new();
            let mut depth = 0;
            for c in go_path.chars() {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    _ if depth == 0 => out.push(c),
                    _ => {}
                }
            }
            out
        };
        types.push(format!(
            "json: cannot unmarshal {} into Go struct field {owner}.{plain} of type {}",
            crate::util::json::go_json_type(v),
            go_type(shape, version)
        ));
        return;
    }
    match (shape, v) {
        (Shape::List(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_value(
                    item,
                    inner,
                    &format!("{path}[{i}]"),
                    owner,
                    go_path,
                    version,
                    unknown,
                    types,
                );
            }
        }
        (Shape::Obj(name, fields), Value::Object(m)) => {
            for (k, v) in m {
                let p = format!("{path}.{k}");
                match fields.iter().find(|(n, _)| n == k) {
                    None => unknown.push(p),
                    Some((_, s)) => check_value(v, s, &p, name, &format!("{go_path}.{k}"), version, unknown, types),
                }
            }
        }
        _ => {}
    }
}
