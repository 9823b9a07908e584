//! Strategies for `coordination.k8s.io`: Lease and LeaseCandidate (upstream
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

/// LeaseCandidate (`pkg/registry/coordination/leasecandidate`): no defaults, no status.
pub const LEASE_CANDIDATE: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_lease_candidate,
    validate_update: validate_lease_candidate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

const LEASE_STRATEGIES: &[&str] = &["OldestEmulationVersion"];

/// `ValidateCoordinatedLeaseStrategy`: a Kubernetes-defined name or a qualified `x/y` name.
/// `path` is the strategy field's parent path plus `.strategy` (upstream nests it once more).
fn validate_strategy_name(s: &str, path: &str, errs: &mut FieldErrors) {
    if s.contains('/') {
        for msg in is_qualified_name(s) {
            errs.push(FieldError::invalid(path, s, msg));
        }
    } else if !LEASE_STRATEGIES.contains(&s) {
        errs.push(FieldError::not_supported(path, s, LEASE_STRATEGIES));
    }
}

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
        validate_strategy_name(s, "spec.strategy.strategy", errs);
    }
    let preferred = get_str(spec, "preferredHolder", "spec", errs).unwrap_or("");
    if !preferred.is_empty() && strategy.is_none_or(str::is_empty) {
        errs.push(FieldError::forbidden(
            "spec.preferredHolder",
            "may only be specified if `strategy` is defined",
        ));
    }
}

/// `ValidateLeaseCandidateSpec`: versions are blang semvers, the binary version no older than
/// the emulation version, and `OldestEmulationVersion` needs an emulation version.
fn validate_lease_candidate(obj: &Value, errs: &mut FieldErrors) {
    use crate::cel::lib::semver::{parse, Semver};
    let Some(spec) = spec_of(obj, errs) else { return };
    if get_str(spec, "leaseName", "spec", errs).unwrap_or("").is_empty() {
        errs.push(FieldError::required("spec.leaseName", ""));
    }
    for k in ["pingTime", "renewTime"] {
        let _ = get_str(spec, k, "spec", errs);
    }
    let version = |key: &str, errs: &mut FieldErrors| -> (String, Option<Semver>) {
        let text = get_str(spec, key, "spec", errs).unwrap_or("").to_string();
        if text.is_empty() {
            return (text, None);
        }
        match parse(&text) {
            Ok(v) => (text, Some(v)),
            Err(_) => {
                errs.push(FieldError::invalid(
                    format!("spec.{key}"),
                    text.as_str(),
                    "must be a valid semantic version",
                ));
                (text, None)
            }
        }
    };
    let (emulation, ev) = version("emulationVersion", errs);
    let (binary, bv) = version("binaryVersion", errs);
    if binary.is_empty() {
        errs.push(FieldError::required("spec.binaryVersion", ""));
    }
    // Upstream compares the zero version in place of one that failed to parse.
    let zero = parse("0.0.0").ok();
    let ev = ev.or_else(|| zero.clone());
    if !binary.is_empty() && !emulation.is_empty() {
        if let (Some(b), Some(e)) = (bv.or_else(|| zero.clone()), &ev) {
            if b.compare(e).is_lt() {
                errs.push(FieldError::invalid(
                    "spec.binaryVersion",
                    binary.as_str(),
                    "must be greater than or equal to `emulationVersion`",
                ));
            }
        }
    }
    match get_str(spec, "strategy", "spec", errs).unwrap_or("") {
        "" => errs.push(FieldError::required("spec.strategy", "")),
        s => {
            if s == "OldestEmulationVersion" && ev == zero {
                errs.push(FieldError::required(
                    "spec.emulationVersion",
                    "must be specified when `strategy` is 'OldestEmulationVersion'",
                ));
            }
            validate_strategy_name(s, "spec.strategy.strategy", errs);
        }
    }
}

/// `ValidateLeaseCandidateSpecUpdate`: the lease a candidate contends for is immutable.
fn validate_lease_candidate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let name = |v: &Value| Some(v.pointer("/spec/leaseName").cloned().unwrap_or(Value::from("")));
    immutable(name(new).as_ref(), name(old).as_ref(), "spec.leaseName", errs);
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

    fn candidate(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        (LEASE_CANDIDATE.validate)(&json!({ "spec": spec }), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn lease_candidate_rules() {
        let ok = json!({"leaseName": "l", "binaryVersion": "1.33.0", "emulationVersion": "1.32.0",
            "strategy": "OldestEmulationVersion"});
        assert!(candidate(ok.clone()).is_empty());
        assert_eq!(
            candidate(json!({})),
            vec![
                "spec.leaseName: Required value",
                "spec.binaryVersion: Required value",
                "spec.strategy: Required value",
            ]
        );
        assert_eq!(
            candidate(
                json!({"leaseName": "l", "binaryVersion": "1.30.0", "emulationVersion": "1.32",
                "strategy": "OldestEmulationVersion"})
            ),
            vec![
                "spec.emulationVersion: Invalid value: \"1.32\": must be a valid semantic version",
                "spec.emulationVersion: Required value: must be specified when `strategy` is 'OldestEmulationVersion'",
            ]
        );
        assert_eq!(
            candidate(
                json!({"leaseName": "l", "binaryVersion": "1.30.0", "emulationVersion": "1.32.0",
                "strategy": "Newest"})
            ),
            vec![
                "spec.binaryVersion: Invalid value: \"1.30.0\": must be greater than or equal to `emulationVersion`",
                "spec.strategy.strategy: Unsupported value: \"Newest\": supported values: \"OldestEmulationVersion\"",
            ]
        );
        let mut errs = Vec::new();
        let mut moved = json!({ "spec": ok });
        let old = moved.clone();
        moved["spec"]["leaseName"] = json!("other");
        (LEASE_CANDIDATE.validate_update)(&moved, &old, &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "spec.leaseName: Invalid value: \"other\": field is immutable"
        );
    }
}
