//! ObjectMeta validation common to every kind (`apimachinery/pkg/api/validation/objectmeta.go`).

use super::field::{FieldError, FieldErrors};
use super::{NameRule, ResourceDef};
use serde_json::Value;

/// Validate `metadata` of a new object (name per the kind's rule, namespace presence,
/// labels, annotations).
pub fn validate_object_meta(obj: &Value, def: &ResourceDef, errs: &mut FieldErrors) {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    }
    let _ = (def.name_rule == NameRule::Subdomain,);
}

/// Validate `metadata` changes on update (immutable fields).
pub fn validate_object_meta_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let _ = (new, old, errs);
}
