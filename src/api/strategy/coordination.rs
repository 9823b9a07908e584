//! Strategies for `coordination.k8s.io`: Lease (upstream
//! `pkg/apis/coordination/validation/validation.go`).

use super::apps::util::*;
use super::Builtin;
use crate::error::field::{FieldError, FieldErrors};
use serde_json::Value;

fn no_op(_: &mut Value) {}
fn no_update(_: &Value, _: &Value, _: &mut FieldErrors) {}

pub const LEASE: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_lease,
    validate_update: no_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

const LEASE_STRATEGIES: &[&str] = &["OldestEmulationVersion"];

/// `ValidateLeaseSpec`.
fn validate_lease(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let _ = get_str(spec, "holderIdentity", "spec", errs);
    if let Some(d) = get_i64(spec, "leaseDurationSeconds", "spec", errs) {
        if d <= 0 {
            errs.push(FieldError::invalid(
                "spec.leaseDurationSeconds",
                d,
                "must be greater than 0",
            ));
        }
    }
    if let Some(t) = get_i64(spec, "leaseTransitions", "spec", errs) {
        if t < 0 {
            errs.push(FieldError::invalid(
                "spec.leaseTransitions",
                t,
                "must be greater than or equal to 0",
            ));
        }
    }
    for k in ["acquireTime", "renewTime"] {
        let _ = get_str(spec, k, "spec", errs);
    }
    let strategy = get_str(spec, "strategy", "spec", errs);
    if let Some(s) = strategy {
        // upstream nests the child name once more under the strategy path.
        let path = "spec.strategy.strategy";
        if s.contains('/') {
            for msg in is_qualified_name(s) {
                errs.push(FieldError::invalid(path, s, msg));
            }
        } else if !LEASE_STRATEGIES.contains(&s) {
            errs.push(FieldError::not_supported(path, s, LEASE_STRATEGIES));
        }
    }
    let preferred = get_str(spec, "preferredHolder", "spec", errs).unwrap_or("");
    if !preferred.is_empty() && strategy.is_none_or(str::is_empty) {
        errs.push(FieldError::forbidden(
            "spec.preferredHolder",
            "may only be specified if `strategy` is defined",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        (LEASE.validate)(obj, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn lease_rules() {
        assert!(run(&json!({"spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}})).is_empty());
        assert_eq!(
            run(&json!({"spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1, "preferredHolder": "x"}})),
            vec![
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
                "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined",
            ]
        );
        assert_eq!(
            run(&json!({"spec": {"leaseDurationSeconds": "15"}})),
            vec!["spec.leaseDurationSeconds: Invalid value: \"15\": expected integer"]
        );
    }
}
