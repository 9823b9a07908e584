//! Reusable validators with upstream's messages (`apimachinery/pkg/util/validation`):
//! DNS-1123 subdomain/label, DNS-1035 label, qualified names, label values, path segments.
//!
//! The `is_*` functions return upstream's message strings (empty = valid); the `validate_*`
//! functions push [`FieldError`]s at a path.

use crate::error::field::{join, FieldError, FieldErrors};
use serde_json::Value;

pub use crate::util::names::*;

/// Helper: push `Invalid(path, value, msg)` for each message.
pub fn push_msgs(errs: &mut FieldErrors, path: &str, value: &str, msgs: Vec<String>) {
    for m in msgs {
        errs.push(FieldError::invalid(path, value, m));
    }
}

/// `TypeInvalid` for a value of the wrong JSON type: `expected <ty>`.
pub fn type_error(path: impl Into<String>, v: &Value, ty: &str) -> FieldError {
    FieldError::type_invalid(path, v.clone(), format!("expected {ty}"))
}

/// `v` read as the expected JSON type `ty` by `get`; a value of another type is reported at
/// `path` (as upstream's decoder would reject it). None when absent or null.
fn typed<'a, T>(
    v: Option<&'a Value>,
    path: impl FnOnce() -> String,
    errs: &mut FieldErrors,
    ty: &str,
    get: impl FnOnce(&'a Value) -> Option<T>,
) -> Option<T> {
    let v = v.filter(|v| !v.is_null())?;
    let out = get(v);
    if out.is_none() {
        errs.push(type_error(path(), v, ty));
    }
    out
}

/// Type helper: a JSON object at `path`, or a TypeInvalid error (None when absent/null).
pub fn as_object<'a>(
    v: Option<&'a Value>,
    path: &str,
    errs: &mut FieldErrors,
) -> Option<&'a serde_json::Map<String, Value>> {
    typed(v, || path.to_string(), errs, "object", Value::as_object)
}

// The typed field getters: field `key` of `parent` (at `ppath`) read as one JSON type; a value
// of another type is reported (`<ppath>.<key>: Invalid value: …: expected <type>`). None (or
// empty) when absent or null.

/// Integer field (int32/int64 in Go).
pub fn get_i64(parent: &Value, key: &str, ppath: &str, errs: &mut FieldErrors) -> Option<i64> {
    typed(parent.get(key), || join(ppath, key), errs, "integer", Value::as_i64)
}

pub fn get_str<'a>(parent: &'a Value, key: &str, ppath: &str, errs: &mut FieldErrors) -> Option<&'a str> {
    typed(parent.get(key), || join(ppath, key), errs, "string", Value::as_str)
}

/// String field or `""`.
pub fn str_or_empty<'a>(parent: &'a Value, key: &str, ppath: &str, errs: &mut FieldErrors) -> &'a str {
    get_str(parent, key, ppath, errs).unwrap_or("")
}

pub fn get_bool(parent: &Value, key: &str, ppath: &str, errs: &mut FieldErrors) -> Option<bool> {
    typed(parent.get(key), || join(ppath, key), errs, "boolean", Value::as_bool)
}

/// Object field, as the value.
pub fn get_obj<'a>(parent: &'a Value, key: &str, ppath: &str, errs: &mut FieldErrors) -> Option<&'a Value> {
    typed(
        parent.get(key),
        || join(ppath, key),
        errs,
        "object",
        |v: &'a Value| v.is_object().then_some(v),
    )
}

/// Object field, as its map.
pub fn get_map<'a>(
    parent: &'a Value,
    key: &str,
    ppath: &str,
    errs: &mut FieldErrors,
) -> Option<&'a serde_json::Map<String, Value>> {
    as_object(parent.get(key), &join(ppath, key), errs)
}

pub fn get_arr<'a>(parent: &'a Value, key: &str, ppath: &str, errs: &mut FieldErrors) -> Option<&'a Vec<Value>> {
    typed(parent.get(key), || join(ppath, key), errs, "array", Value::as_array)
}

/// Array field, empty when absent.
pub fn get_list<'a>(parent: &'a Value, key: &str, ppath: &str, errs: &mut FieldErrors) -> &'a [Value] {
    get_arr(parent, key, ppath, errs).map_or(&[], Vec::as_slice)
}

/// Strings of a `[]string` field; non-strings are reported and skipped.
pub fn get_str_list<'a>(parent: &'a Value, key: &str, ppath: &str, errs: &mut FieldErrors) -> Vec<&'a str> {
    let mut out = Vec::new();
    if let Some(a) = get_arr(parent, key, ppath, errs) {
        for (i, v) in a.iter().enumerate() {
            match v.as_str() {
                Some(s) => out.push(s),
                None => errs.push(type_error(format!("{}[{i}]", join(ppath, key)), v, "string")),
            }
        }
    }
    out
}

/// `ValidateLabels`: keys are qualified names, values label values.
pub fn validate_labels(labels: &Value, path: &str, errs: &mut FieldErrors) {
    let Some(map) = as_object(Some(labels), path, errs) else {
        return;
    };
    for (k, v) in map {
        push_msgs(errs, path, k, is_qualified_name(k));
        match v {
            Value::String(s) => push_msgs(errs, path, s, is_valid_label_value(s)),
            other => errs.push(FieldError::type_invalid(
                format!("{path}[{k}]"),
                other.clone(),
                "expected string",
            )),
        }
    }
}

/// `ValidateAnnotations`: keys are lower-cased qualified names, total size ≤ 256 KiB.
pub fn validate_annotations(annotations: &Value, path: &str, errs: &mut FieldErrors) {
    let Some(map) = as_object(Some(annotations), path, errs) else {
        return;
    };
    let mut total = 0usize;
    for (k, v) in map {
        push_msgs(errs, path, k, is_qualified_name(&k.to_lowercase()));
        total += k.len();
        match v {
            Value::String(s) => total += s.len(),
            other => errs.push(FieldError::type_invalid(
                format!("{path}[{k}]"),
                other.clone(),
                "expected string",
            )),
        }
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

/// `metav1validation.ValidateLabelSelector` (matchLabels and matchExpressions).
pub fn validate_label_selector(sel: &Value, path: &str, errs: &mut FieldErrors) {
    let Some(map) = as_object(Some(sel), path, errs) else {
        return;
    };
    if let Some(ml) = map.get("matchLabels") {
        if !ml.is_null() {
            validate_labels(ml, &format!("{path}.matchLabels"), errs);
        }
    }
    match map.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for (i, e) in exprs.iter().enumerate() {
                validate_selector_requirement(e, &format!("{path}.matchExpressions[{i}]"), errs);
            }
        }
        Some(other) => errs.push(FieldError::type_invalid(
            format!("{path}.matchExpressions"),
            other.clone(),
            "expected array",
        )),
    }
}

fn validate_selector_requirement(req: &Value, path: &str, errs: &mut FieldErrors) {
    let Some(map) = as_object(Some(req), path, errs) else {
        return;
    };
    let values: Vec<&Value> = match map.get("values") {
        Some(Value::Array(a)) => a.iter().collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(other) => {
            errs.push(FieldError::type_invalid(
                format!("{path}.values"),
                other.clone(),
                "expected array",
            ));
            Vec::new()
        }
    };
    match map.get("operator") {
        Some(Value::String(op)) => match op.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        format!("{path}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        format!("{path}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(FieldError::invalid(
                format!("{path}.operator"),
                op.as_str(),
                "not a valid selector operator",
            )),
        },
        None | Some(Value::Null) => errs.push(FieldError::invalid(
            format!("{path}.operator"),
            "",
            "not a valid selector operator",
        )),
        Some(other) => errs.push(FieldError::type_invalid(
            format!("{path}.operator"),
            other.clone(),
            "expected string",
        )),
    }
    match map.get("key") {
        Some(Value::String(k)) => push_msgs(errs, &format!("{path}.key"), k, is_qualified_name(k)),
        None | Some(Value::Null) => push_msgs(errs, &format!("{path}.key"), "", is_qualified_name("")),
        Some(other) => errs.push(FieldError::type_invalid(
            format!("{path}.key"),
            other.clone(),
            "expected string",
        )),
    }
    for (i, v) in values.iter().enumerate() {
        match v {
            Value::String(s) => push_msgs(errs, &format!("{path}.values[{i}]"), s, is_valid_label_value(s)),
            other => errs.push(FieldError::type_invalid(
                format!("{path}.values[{i}]"),
                (*other).clone(),
                "expected string",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_annotations_selectors() {
        let mut errs = Vec::new();
        validate_labels(&json!({"ok": "v", "bad key!": "v"}), "metadata.labels", &mut errs);
        assert_eq!(errs.len(), 1);
        assert!(errs[0]
            .to_string()
            .starts_with("metadata.labels: Invalid value: \"bad key!\": name part must consist"));
        let mut errs = Vec::new();
        validate_annotations(&json!({"a": "x".repeat(262144)}), "metadata.annotations", &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
        let mut errs = Vec::new();
        validate_label_selector(
            &json!({"matchExpressions": [{"key": "a", "operator": "In"}, {"key": "b", "operator": "Foo"}]}),
            "spec.selector",
            &mut errs,
        );
        assert_eq!(errs[0].to_string(), "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'");
        assert_eq!(
            errs[1].to_string(),
            "spec.selector.matchExpressions[1].operator: Invalid value: \"Foo\": not a valid selector operator"
        );
    }
}
