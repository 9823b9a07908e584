//! `x-kubernetes-validations`: CEL rules evaluated with the `cel` crate. `self` is the value
//! at the rule's schema node, `oldSelf` the same node of the stored object on update
//! (transition rules — rules naming `oldSelf` — only run when there is an old value, unless
//! `optionalOldSelf`). Errors follow upstream: `<path>: Invalid value: "<type>": <message>`
//! (`failed rule: <rule>` without a message), `reason` picks the error type, `fieldPath`
//! refines the path.
//!
//! Cost limit: upstream estimates CEL cost; here the whole evaluation of one object runs on a
//! worker thread with a time budget ([`BUDGET`]); past it the write fails with upstream's
//! "running out of cost budget" error.

use crate::error::field::{ErrorType, FieldError, FieldErrors};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Time allowed for all rules of one object.
pub const BUDGET: Duration = Duration::from_millis(500);

fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => match n.as_u64() {
                Some(u) => cel::Value::UInt(u),
                None => cel::Value::Float(n.as_f64().unwrap_or(0.0)),
            },
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(a) => cel::Value::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<cel::objects::Key, cel::Value> = m
                .iter()
                .map(|(k, v)| (cel::objects::Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            cel::Value::Map(cel::objects::Map { map: Arc::new(map) })
        }
    }
}

fn type_word(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compile a rule (CRD validation uses this to reject bad rules up front).
pub fn compile(rule: &str) -> Result<(), String> {
    cel::Program::compile(rule).map(|_| ()).map_err(|e| e.to_string())
}

/// Evaluate every rule in `schema` against `obj` (and `old`), within [`BUDGET`].
pub fn validate(schema: &Value, obj: &Value, old: Option<&Value>, errs: &mut FieldErrors) {
    if !has_rules(schema) {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let (s, o, old) = (schema.clone(), obj.clone(), old.cloned());
    let spawned = std::thread::Builder::new().name("cel".into()).spawn(move || {
        let mut out = Vec::new();
        walk(&s, &o, old.as_ref(), "", &mut out);
        let _ = tx.send(out);
    });
    if spawned.is_err() {
        errs.push(FieldError::internal("<nil>", "cannot start CEL evaluation"));
        return;
    }
    match rx.recv_timeout(BUDGET) {
        Ok(out) => errs.extend(out),
        Err(_) => errs.push(FieldError::forbidden(
            "<nil>",
            "validation failed due to running out of cost budget, no further validation rules will be run",
        )),
    }
}

fn has_rules(s: &Value) -> bool {
    if s.get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return true;
    }
    let props = s
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.values().any(has_rules));
    props
        || s.get("items").is_some_and(has_rules)
        || s.get("additionalProperties")
            .filter(|a| a.is_object())
            .is_some_and(has_rules)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(s: &Value, v: &Value, old: Option<&Value>, path: &str, out: &mut FieldErrors) {
    if let Some(rules) = s.get("x-kubernetes-validations").and_then(Value::as_array) {
        for r in rules {
            check(r, v, old, path, out);
        }
    }
    match v {
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let extra = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, cv) in m {
                if path.is_empty() && matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
                    continue;
                }
                let Some(cs) = props.and_then(|p| p.get(k)).or(extra) else {
                    continue;
                };
                let co = old.and_then(|o| o.get(k));
                walk(cs, cv, co, &join(path, k), out);
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                // Items of `x-kubernetes-list-type: map` correlate with old items by their
                // keys; atomic lists have no correlation (no transition rules below them).
                let keys: Vec<&str> = s
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let is_map = s.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map");
                let old_items = old.and_then(Value::as_array);
                for (i, it) in items.iter().enumerate() {
                    let co = match old_items {
                        Some(olds) if is_map && !keys.is_empty() => {
                            olds.iter().find(|o| keys.iter().all(|k| o.get(*k) == it.get(*k)))
                        }
                        _ => None,
                    };
                    walk(is, it, co, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn check(rule: &Value, v: &Value, old: Option<&Value>, path: &str, out: &mut FieldErrors) {
    let text = rule.get("rule").and_then(Value::as_str).unwrap_or("");
    let Ok(prog) = cel::Program::compile(text) else {
        out.push(FieldError::internal(
            if path.is_empty() { "<nil>" } else { path },
            format!("rule compile error: {text}"),
        ));
        return;
    };
    let uses_old = prog.references().has_variable("oldSelf");
    let optional_old = rule.get("optionalOldSelf").and_then(Value::as_bool) == Some(true);
    if uses_old && old.is_none() && !optional_old {
        return;
    }
    let mut ctx = cel::Context::default();
    ctx.add_variable_from_value("self", to_cel(v));
    if uses_old {
        ctx.add_variable_from_value("oldSelf", old.map(to_cel).unwrap_or(cel::Value::Null));
    }
    let mut field = path.to_string();
    if let Some(fp) = rule.get("fieldPath").and_then(Value::as_str).filter(|f| !f.is_empty()) {
        field = join(path, fp.trim_start_matches('.'));
    }
    if field.is_empty() {
        field = "<nil>".into();
    }
    let failed = match prog.execute(&ctx) {
        Ok(cel::Value::Bool(true)) => return,
        Ok(cel::Value::Bool(false)) => None,
        Ok(other) => Some(format!("rule did not evaluate to a boolean: {other:?}")),
        Err(e) => Some(format!("{e}")),
    };
    if let Some(internal) = failed {
        out.push(FieldError::invalid(
            field,
            type_word(v),
            format!("{internal} evaluating rule: {text}"),
        ));
        return;
    }
    let mut message = rule
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("failed rule: {text}"));
    if let Some(me) = rule
        .get("messageExpression")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        if let Ok(p) = cel::Program::compile(me) {
            if let Ok(cel::Value::String(s)) = p.execute(&ctx) {
                if !s.trim().is_empty() {
                    message = s.to_string();
                }
            }
        }
    }
    let fe = match rule
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("FieldValueInvalid")
    {
        "FieldValueForbidden" => FieldError::forbidden(field, message),
        "FieldValueRequired" => FieldError::required(field, message),
        "FieldValueDuplicate" => {
            let mut e = FieldError::duplicate(field, type_word(v));
            e.detail = message;
            e
        }
        _ => FieldError::invalid(field, type_word(v), message),
    };
    debug_assert!(fe.kind != ErrorType::Internal);
    out.push(fe);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable", "fieldPath": ".mode"},
                {"rule": "self.min >= 0", "messageExpression": "'min is ' + string(self.min)", "reason": "FieldValueForbidden"},
            ],
            "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}, "mode": {"type": "string"},
                "name": {"type": "string", "x-kubernetes-validations": [{"rule": "self.startsWith('w')"}]}},
        }}})
    }

    fn run(obj: Value, old: Option<Value>) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&schema(), &obj, old.as_ref(), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn list_map_items_correlate_by_key() {
        let s = json!({"type": "object", "properties": {"ports": {"type": "array",
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.port >= oldSelf.port", "message": "ports only grow"}]}}}});
        let old = json!({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 90}]});
        let new = json!({"ports": [{"name": "b", "port": 91}, {"name": "a", "port": 70}, {"name": "c", "port": 1}]});
        let mut errs = Vec::new();
        validate(&s, &new, Some(&old), &mut errs);
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs, vec!["ports[1]: Invalid value: \"object\": ports only grow"]);
    }

    #[test]
    fn rules_messages_and_transitions() {
        assert!(run(json!({"spec": {"min": 1, "max": 2, "mode": "a", "name": "web"}}), None).is_empty());
        assert_eq!(
            run(json!({"spec": {"min": 3, "max": 2, "mode": "a", "name": "x"}}), None),
            vec![
                "spec: Invalid value: \"object\": min must not exceed max",
                "spec.name: Invalid value: \"string\": failed rule: self.startsWith('w')",
            ]
        );
        assert_eq!(
            run(
                json!({"spec": {"min": -1, "max": 2, "mode": "b"}}),
                Some(json!({"spec": {"mode": "a"}}))
            ),
            vec![
                "spec.mode: Invalid value: \"object\": mode is immutable",
                "spec: Forbidden: min is -1"
            ]
        );
    }
}
