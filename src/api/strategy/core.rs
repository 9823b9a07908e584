//! Strategies for the `core` group.

#[allow(unused_imports)]
use super::Strategy;
#[allow(unused_imports)]
use crate::api::field::{FieldError, FieldErrors};
#[allow(unused_imports)]
use serde_json::Value;

pub fn strategy_for(kind: &str) -> Option<&'static Strategy> {
    let _ = kind;
    None
}

/// Validate a PodSpec at `path` (e.g. `spec` or `spec.template.spec`); used by workload kinds.
pub fn validate_pod_spec(spec: &Value, path: &str, errs: &mut FieldErrors) {
    let _ = (spec, path, errs);
}

/// Apply PodSpec defaults (containers, restartPolicy, dnsPolicy…) to a PodSpec value.
pub fn default_pod_spec(spec: &mut Value) {
    let _ = spec;
}
