//! Validation of ValidatingAdmissionPolicies (upstream
//! `pkg/apis/admissionregistration/validation`): every expression compiles in the admission
//! policy CEL environment of the compatibility version and has the type its field needs.

use crate::cel::policy::{compile, env};
use crate::cel::{Mode, Type};
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use serde_json::Value;

fn items<'a>(spec: &'a Value, f: &str) -> &'a [Value] {
    spec.get(f).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

pub fn validate_policy(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    match spec.get("matchConstraints").filter(|m| m.is_object()) {
        None => errs.push(FieldError::required("spec.matchConstraints", "")),
        Some(m) if items(m, "resourceRules").is_empty() => {
            errs.push(FieldError::required("spec.matchConstraints.resourceRules", ""))
        }
        Some(_) => {}
    }
    if items(&spec, "validations").is_empty() && items(&spec, "auditAnnotations").is_empty() {
        errs.push(FieldError::required(
            "spec.validations",
            "validations or auditAnnotations must contain at least one item",
        ));
    }
    let names: Vec<String> = items(&spec, "variables")
        .iter()
        .map(|v| v.str_at("/name").to_string())
        .collect();
    let env = env(&names, Mode::New);
    let mut check = |path: String, src: &str, want: &[Type]| {
        if src.trim().is_empty() {
            errs.push(FieldError::required(path, ""));
        } else if let Err(e) = compile(&env, src, want) {
            errs.push(FieldError::invalid(path, src, e));
        }
    };
    for (i, m) in items(&spec, "matchConditions").iter().enumerate() {
        check(
            format!("spec.matchConditions[{i}].expression"),
            m.str_at("/expression"),
            &[Type::Bool],
        );
    }
    for (i, v) in items(&spec, "variables").iter().enumerate() {
        check(format!("spec.variables[{i}].expression"), v.str_at("/expression"), &[]);
    }
    for (i, v) in items(&spec, "validations").iter().enumerate() {
        check(
            format!("spec.validations[{i}].expression"),
            v.str_at("/expression"),
            &[Type::Bool],
        );
        if let Some(m) = v.opt_str_at("/messageExpression").filter(|m| !m.trim().is_empty()) {
            check(format!("spec.validations[{i}].messageExpression"), m, &[Type::String]);
        }
    }
    for (i, a) in items(&spec, "auditAnnotations").iter().enumerate() {
        check(
            format!("spec.auditAnnotations[{i}].valueExpression"),
            a.str_at("/valueExpression"),
            &[Type::String, Type::Null],
        );
    }
}

pub fn validate_policy_update(obj: &Value, _old: &Value, errs: &mut FieldErrors) {
    validate_policy(obj, errs);
}
