//! Strategies for `scheduling.k8s.io`: PriorityClass (upstream
//! `pkg/apis/scheduling/validation`, `pkg/registry/scheduling/priorityclass`) and the system
//! classes every server creates on start.

use super::apps::util::*;
use super::Builtin;
use crate::error::field::{FieldError, FieldErrors};
use crate::error::ApiError;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

/// Upstream's `SystemPriorityClasses()`: (name, value, description).
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i64, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// `HighestUserDefinablePriority`.
const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;
const PREEMPTION_POLICIES: &[&str] = &["PreemptLowerPriority", "Never"];

pub const PRIORITY_CLASS: Builtin = Builtin {
    defaults: priority_class_defaults,
    prepare_create: first_generation,
    validate: validate_priority_class,
    validate_update: validate_priority_class_update,
    check_delete: system_priority_class_delete,
    ..Builtin::DEFAULT
};

/// A system class as the kube-apiserver creates it (`scheduling/bootstrap-system-priority-classes`).
pub fn system_priority_class(name: &str, value: i64, description: &str) -> Value {
    json!({
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        "description": description,
    })
}

/// Upstream's PrepareForCreate sets generation 1 (and no update bumps it).
fn first_generation(obj: &mut Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("generation".into(), json!(1));
    }
}

fn priority_class_defaults(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        if m.get("preemptionPolicy").is_none_or(Value::is_null) {
            m.insert("preemptionPolicy".into(), json!("PreemptLowerPriority"));
        }
    }
}

/// `IsKnownSystemPriorityClass`.
fn known_system_class(name: &str, value: i64, global_default: bool) -> Result<(), String> {
    let Some((_, v, _)) = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("{name} is not a known system priority class"));
    };
    if *v != value {
        return Err(format!("value of {name} PriorityClass must be {v}"));
    }
    if global_default {
        return Err(format!("globalDefault of {name} PriorityClass must be false"));
    }
    Ok(())
}

/// `ValidatePriorityClass`.
fn validate_priority_class(obj: &Value, errs: &mut FieldErrors) {
    let name = obj.str_at("/metadata/name");
    let value = get_i64(obj, "value", "", errs).unwrap_or(0);
    let global_default = get_bool(obj, "globalDefault", "", errs).unwrap_or(false);
    if name.starts_with("system-") {
        if let Err(e) = known_system_class(name, value, global_default) {
            errs.push(FieldError::forbidden(
                "metadata.name",
                format!("priority class names with 'system-' prefix are reserved for system use only. error: {e}"),
            ));
        }
    } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
        errs.push(FieldError::forbidden(
            "value",
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
        ));
    }
    if let Some(p) = get_str(obj, "preemptionPolicy", "", errs) {
        if !PREEMPTION_POLICIES.contains(&p) {
            errs.push(FieldError::not_supported("preemptionPolicy", p, PREEMPTION_POLICIES));
        }
    }
}

/// `ValidatePriorityClassUpdate`: value and preemptionPolicy are immutable.
fn validate_priority_class_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    if new.get("value") != old.get("value") {
        errs.push(FieldError::forbidden("value", "may not be changed in an update."));
    }
    if new.get("preemptionPolicy") != old.get("preemptionPolicy") {
        let p = new.get("preemptionPolicy").cloned().unwrap_or(Value::Null);
        errs.push(FieldError::invalid("preemptionPolicy", p, "field is immutable"));
    }
}

/// The priorityclass REST's Delete: system classes cannot be deleted (deletecollection is
/// not guarded upstream either).
fn system_priority_class_delete(name: &str) -> Result<(), ApiError> {
    if SYSTEM_PRIORITY_CLASSES.iter().any(|(n, _, _)| *n == name) {
        return Err(ApiError::forbidden(
            "priorityclasses",
            "scheduling.k8s.io",
            name,
            "this is a system priority class and cannot be deleted",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_priority_class(obj, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn system_names_and_values_are_reserved() {
        for (n, v, d) in SYSTEM_PRIORITY_CLASSES {
            assert!(errors(&system_priority_class(n, *v, d)).is_empty(), "{n}");
        }
        assert_eq!(
            errors(&json!({"metadata": {"name": "system-foo"}, "value": 5})),
            ["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-foo is not a known system priority class"]
        );
        assert_eq!(
            errors(&json!({"metadata": {"name": "system-node-critical"}, "value": 5})),
            ["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: value of system-node-critical PriorityClass must be 2000001000"]
        );
        assert_eq!(
            errors(&json!({"metadata": {"name": "foo"}, "value": 2_000_000_001i64})),
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        assert_eq!(
            errors(&json!({"metadata": {"name": "foo"}, "value": 5, "preemptionPolicy": "Bad"})),
            ["preemptionPolicy: Unsupported value: \"Bad\": supported values: \"PreemptLowerPriority\", \"Never\""]
        );
        let mut errs = Vec::new();
        validate_priority_class_update(
            &json!({"value": 6, "preemptionPolicy": "Never"}),
            &json!({"value": 5, "preemptionPolicy": "PreemptLowerPriority"}),
            &mut errs,
        );
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                "value: Forbidden: may not be changed in an update.",
                "preemptionPolicy: Invalid value: \"Never\": field is immutable"
            ]
        );
        assert_eq!(
            system_priority_class_delete("system-cluster-critical").unwrap_err().message,
            "priorityclasses.scheduling.k8s.io \"system-cluster-critical\" is forbidden: this is a system priority class and cannot be deleted"
        );
    }
}
