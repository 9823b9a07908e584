//! Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch
//! ([`strategic`]) and server-side apply with `managedFields` ([`apply`], [`fieldpath`]).

pub mod apply;
pub mod fieldpath;
pub mod strategic;

pub use apply::{apply, record_update, ApplyError};
pub use strategic::strategic_merge;

use serde_json::Value;

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    if path.is_empty() {
        return Err("the root cannot be targeted".into());
    }
    if !path.starts_with('/') {
        return Err(format!("invalid JSON pointer {path:?}"));
    }
    let idx = path.rfind('/').unwrap_or(0);
    Ok((path[..idx].to_string(), unescape(&path[idx + 1..])))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let (parent, last) = split_pointer(path)?;
    let target = doc
        .pointer_mut(&parent)
        .ok_or_else(|| format!("add operation does not apply: doc is missing path: \"{path}\": missing value"))?;
    match target {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>().map_err(|_| format!("invalid index {last:?}"))?
            };
            if i > a.len() {
                return Err(format!("add operation does not apply: doc is missing path: \"{path}\""));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!(
            "add operation does not apply: doc is missing path: \"{path}\": missing value"
        )),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    // evanphx/json-patch v4's messages (its ErrMissing reads "missing value").
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\": missing value");
    match doc.pointer_mut(&parent).ok_or_else(missing)? {
        Value::Object(m) => m.remove(&last).ok_or_else(|| {
            format!("error in remove for path: '{path}': Unable to remove nonexistent key: {last}: missing value")
        }),
        Value::Array(a) => {
            let i = last.parse::<usize>().map_err(|_| missing())?;
            if i >= a.len() {
                return Err(missing());
            }
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

/// RFC 6902, applied atomically (on error `doc` is unchanged).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("json patch must be an array of operations")?;
    let mut work = doc.clone();
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).ok_or("missing op")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing path in {kind} operation"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("missing value in {kind} operation"))
        };
        match kind {
            "add" => add(&mut work, path, value()?)?,
            "remove" => {
                remove(&mut work, path)?;
            }
            "replace" => {
                let v = value()?;
                let (parent, _) = split_pointer(path)?;
                if !work.pointer(&parent).is_some_and(|p| p.is_object() || p.is_array()) {
                    return Err(format!(
                        "replace operation does not apply: doc is missing path: {path}: missing value"
                    ));
                }
                let t = work.pointer_mut(path).ok_or_else(|| {
                    format!("replace operation does not apply: doc is missing key: {path}: missing value")
                })?;
                *t = v;
            }
            "move" | "copy" => {
                let from = op.get("from").and_then(Value::as_str).ok_or("missing from")?;
                let v = if kind == "move" {
                    remove(&mut work, from)?
                } else {
                    work.pointer(from)
                        .cloned()
                        .ok_or_else(|| format!("copy operation does not apply: doc is missing from path: {from}"))?
                };
                add(&mut work, path, v)?;
            }
            "test" => {
                let v = value()?;
                if work.pointer(path) != Some(&v) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    *doc = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn json_patch_ops_and_atomicity() {
        let mut d = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        json_patch(
            &mut d,
            &json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "remove", "path": "/list/0"},
                {"op": "test", "path": "/list", "value": [2]},
                {"op": "add", "path": "/list/-", "value": 3}
            ]),
        )
        .unwrap();
        assert_eq!(d, json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "list": [2, 3]}));
        let before = d.clone();
        assert!(json_patch(
            &mut d,
            &json!([{"op": "remove", "path": "/list/0"}, {"op": "test", "path": "/x", "value": 1}])
        )
        .is_err());
        assert_eq!(d, before);
    }
}
