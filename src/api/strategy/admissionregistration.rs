//! Defaults and validation of admission policies and bindings (upstream
//! `pkg/apis/admissionregistration/validation`): every expression compiles in the admission
//! policy CEL environment of the compatibility version and has the type its field needs.

use super::admission_rules::{self as rules, items};
use crate::cel::policy::{compile, compile_exact, env, env_for, message_env};
use crate::cel::{Mode, Type};
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use serde_json::Value;

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
    // Upstream `validateValidatingAdmissionPolicySpec`: `params` only with a paramKind; the
    // authorizer in matchConditions (the stateless environment, no `variables`), variables,
    // validations and auditAnnotations, not in messageExpressions.
    let params = spec.get("paramKind").is_some_and(|p| !p.is_null());
    let env = env(&names, params, Mode::New);
    let conditions_env = env_for(None, params, true, Mode::New);
    let message_env = message_env(&names, params, Mode::New);
    // auditAnnotations want exactly string or null (upstream: dyn does not pass there).
    let mut check = |env: &crate::cel::Env, path: String, src: &str, want: &[Type]| {
        let exact = path.starts_with("spec.auditAnnotations");
        if src.trim().is_empty() {
            errs.push(FieldError::required(path, ""));
        } else if let Err(e) = if exact {
            compile_exact(env, src, want)
        } else {
            compile(env, src, want)
        } {
            errs.push(FieldError::invalid(path, src, e));
        }
    };
    for (i, m) in items(&spec, "matchConditions").iter().enumerate() {
        check(
            &conditions_env,
            format!("spec.matchConditions[{i}].expression"),
            m.str_at("/expression"),
            &[Type::Bool],
        );
    }
    for (i, v) in items(&spec, "variables").iter().enumerate() {
        check(
            &env,
            format!("spec.variables[{i}].expression"),
            v.str_at("/expression"),
            &[],
        );
    }
    for (i, v) in items(&spec, "validations").iter().enumerate() {
        check(
            &env,
            format!("spec.validations[{i}].expression"),
            v.str_at("/expression"),
            &[Type::Bool],
        );
        if let Some(m) = v.opt_str_at("/messageExpression").filter(|m| !m.trim().is_empty()) {
            check(
                &message_env,
                format!("spec.validations[{i}].messageExpression"),
                m,
                &[Type::String],
            );
        }
    }
    for (i, a) in items(&spec, "auditAnnotations").iter().enumerate() {
        check(
            &env,
            format!("spec.auditAnnotations[{i}].valueExpression"),
            a.str_at("/valueExpression"),
            &[Type::String, Type::Null],
        );
    }
}

pub fn validate_policy_update(obj: &Value, _old: &Value, errs: &mut FieldErrors) {
    validate_policy(obj, errs);
}

// MutatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1alpha1).

/// Upstream v1alpha1 `SetDefaults_MatchResources` (and v1 `SetDefaults_Rule`: scope `*`).
fn default_match_resources(m: &mut Value) {
    let Some(o) = m.as_object_mut() else { return };
    for rules in ["resourceRules", "excludeResourceRules"] {
        for r in o.get_mut(rules).and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(r) = r.as_object_mut() {
                r.entry("scope").or_insert_with(|| "*".into());
            }
        }
    }
    o.entry("matchPolicy").or_insert_with(|| "Equivalent".into());
    o.entry("namespaceSelector").or_insert_with(|| serde_json::json!({}));
    o.entry("objectSelector").or_insert_with(|| serde_json::json!({}));
}

/// Upstream v1alpha1 defaults: failurePolicy Fail and the matchConstraints' defaults.
pub fn default_mutating_policy(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("failurePolicy").or_insert_with(|| "Fail".into());
    if let Some(m) = spec.get_mut("matchConstraints") {
        default_match_resources(m);
    }
}

/// Upstream v1alpha1 defaults: parameterNotFoundAction Deny and the matchResources' defaults.
pub fn default_mutating_binding(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(r) = spec.get_mut("paramRef").and_then(Value::as_object_mut) {
        r.entry("parameterNotFoundAction").or_insert_with(|| "Deny".into());
    }
    if let Some(m) = spec.get_mut("matchResources") {
        default_match_resources(m);
    }
}

/// Operations a mutating policy or binding may name (no DELETE).
const MUTATING_OPERATIONS: &[&str] = &["*", "CONNECT", "CREATE", "UPDATE"];

fn check_mutating_operations(m: &Value, path: &str, errs: &mut FieldErrors) {
    for r in items(m, "resourceRules") {
        for op in items(r, "operations") {
            let s = op.as_str().unwrap_or("");
            if !MUTATING_OPERATIONS.contains(&s) {
                errs.push(FieldError::not_supported(
                    format!("{path}.resourceRules.operations"),
                    op.clone(),
                    MUTATING_OPERATIONS,
                ));
            }
        }
    }
}

/// An expression of a mutating policy: required, compiles, has the type its field needs.
fn check_expression(
    env: &crate::cel::Env,
    path: String,
    src: &str,
    want: &[Type],
    required: &str,
) -> Option<FieldError> {
    let src = src.trim();
    if src.is_empty() {
        return Some(FieldError::required(path, required));
    }
    compile(env, src, want).err().map(|e| FieldError::invalid(path, src, e))
}

/// A mutation's expression: its type must be exactly `want`.
fn check_mutation_expression(env: &crate::cel::Env, path: String, src: &str, want: Type) -> Option<FieldError> {
    let src = src.trim();
    if src.is_empty() {
        return Some(FieldError::required(path, ""));
    }
    crate::cel::policy::compile_exact(env, src, &[want])
        .err()
        .map(|e| FieldError::invalid(path, src, e))
}

/// Upstream `validateMutation`.
fn validate_mutation(env: &crate::cel::Env, m: &Value, path: &str, errs: &mut FieldErrors) {
    let present = |f: &str| m.get(f).filter(|v| !v.is_null());
    let (apply, patch) = (present("applyConfiguration"), present("jsonPatch"));
    let mut one =
        |kind: &str, body: Option<&Value>, field: &str, other: Option<&Value>, other_field: &str, want: Type| {
            match body {
                None => errs.push(FieldError::required(
                    format!("{path}.{field}"),
                    format!("must be specified when patchType is {kind}"),
                )),
                Some(b) => errs.extend(check_mutation_expression(
                    env,
                    format!("{path}.{field}.expression"),
                    b.str_at("/expression"),
                    want.clone(),
                )),
            }
            if other.is_some() {
                errs.push(FieldError::invalid(
                    format!("{path}.{other_field}"),
                    format!("{{{other_field}}}"),
                    format!("must not be specified when patchType is {kind}"),
                ));
            }
        };
    match m.str_at("/patchType") {
        "" => errs.push(FieldError::required(format!("{path}.patchType"), "")),
        "JSONPatch" => one(
            "JSONPatch",
            patch,
            "jsonPatch",
            apply,
            "applyConfiguration",
            crate::cel::policy::json_patch_list_type(),
        ),
        "ApplyConfiguration" => one(
            "ApplyConfiguration",
            apply,
            "applyConfiguration",
            patch,
            "jsonPatch",
            crate::cel::policy::object_type(),
        ),
        other => errs.push(FieldError::not_supported(
            format!("{path}.patchType"),
            other,
            &["ApplyConfiguration", "JSONPatch"],
        )),
    }
}

/// Upstream `validateMutatingAdmissionPolicySpec`.
pub fn validate_mutating_policy(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    match spec.get("failurePolicy").and_then(Value::as_str) {
        None => errs.push(FieldError::required("spec.failurePolicy", "")),
        Some("Fail" | "Ignore") => {}
        Some(other) => errs.push(FieldError::not_supported(
            "spec.failurePolicy",
            other,
            &["Fail", "Ignore"],
        )),
    }
    let pk = spec.get("paramKind").filter(|p| !p.is_null());
    if let Some(pk) = pk {
        rules::param_kind(pk, "spec.paramKind", errs);
    }
    match spec.get("matchConstraints").filter(|m| m.is_object()) {
        None => errs.push(FieldError::required("spec.matchConstraints", "")),
        Some(m) => {
            rules::match_resources(m, "spec.matchConstraints", errs);
            if items(m, "resourceRules").is_empty() {
                errs.push(FieldError::required("spec.matchConstraints.resourceRules", ""));
            }
            check_mutating_operations(m, "spec.matchConstraints", errs);
        }
    }
    // matchConditions compile in upstream's stateless environment: no `variables`, `params`
    // only with a paramKind, and the authorizer.
    let conditions_env = env_for(None, pk.is_some(), true, Mode::New);
    rules::match_conditions(
        items(&spec, "matchConditions"),
        "spec.matchConditions",
        errs,
        |path, src| {
            compile(&conditions_env, src, &[Type::Bool])
                .err()
                .map(|e| FieldError::invalid(path, src, e))
        },
    );
    let names: Vec<String> = items(&spec, "variables")
        .iter()
        .map(|v| v.str_at("/name").to_string())
        .collect();
    let env = crate::cel::policy::mutating_env_for(&names, pk.is_some(), Mode::New);
    for (i, v) in items(&spec, "variables").iter().enumerate() {
        let path = format!("spec.variables[{i}]");
        rules::variable_name(v.str_at("/name"), &path, errs);
        errs.extend(check_expression(
            &env,
            format!("{path}.expression"),
            v.str_at("/expression"),
            &[],
            "expression is not specified",
        ));
    }
    let mutations = items(&spec, "mutations");
    if mutations.is_empty() {
        errs.push(FieldError::required(
            "spec.mutations",
            "mutations must contain at least one item",
        ));
    }
    for (i, m) in mutations.iter().enumerate() {
        validate_mutation(&env, m, &format!("spec.mutations[{i}]"), errs);
    }
    match spec.str_of("reinvocationPolicy") {
        "" => errs.push(FieldError::required("spec.reinvocationPolicy", "")),
        "Never" | "IfNeeded" => {}
        other => errs.push(FieldError::not_supported(
            "spec.reinvocationPolicy",
            other,
            &["IfNeeded", "Never"],
        )),
    }
}

pub fn validate_mutating_policy_update(obj: &Value, _old: &Value, errs: &mut FieldErrors) {
    validate_mutating_policy(obj, errs);
}

/// Upstream `validateMutatingAdmissionPolicyBindingSpec`.
pub fn validate_mutating_binding(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let name = spec.str_at("/policyName");
    if name.is_empty() {
        errs.push(FieldError::required("spec.policyName", ""));
    } else {
        for msg in crate::util::names::is_dns1123_subdomain(name) {
            errs.push(FieldError::invalid("spec.policyName", name, msg));
        }
    }
    if let Some(r) = spec.get("paramRef").filter(|r| !r.is_null()) {
        rules::param_ref(r, "spec.paramRef", errs);
    }
    if let Some(m) = spec.get("matchResources").filter(|m| !m.is_null()) {
        rules::match_resources(m, "spec.matchResources", errs);
        check_mutating_operations(m, "spec.matchResources", errs);
    }
}

pub fn validate_mutating_binding_update(obj: &Value, _old: &Value, errs: &mut FieldErrors) {
    validate_mutating_binding(obj, errs);
}
