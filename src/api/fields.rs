//! Field-selector fields per kind (upstream's `GetAttrs`/`SelectableFields`).

use serde_json::Value;

/// The value of `field` for `obj`, or None when the kind does not support that field.
pub fn field_value(group: &str, kind: &str, obj: &Value, field: &str) -> Option<String> {
    let _ = (group, kind);
    match field {
        "metadata.name" => Some(obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string()),
        "metadata.namespace" => {
            Some(obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string())
        }
        _ => None,
    }
}

/// Supported fields of a kind, for the 400 message on an unknown field.
pub fn supported_fields(group: &str, kind: &str) -> Vec<&'static str> {
    let _ = (group, kind);
    vec!["metadata.name", "metadata.namespace"]
}
