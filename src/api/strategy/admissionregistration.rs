//! Defaults and validation of admission policies and bindings (upstream
//! `pkg/apis/admissionregistration/{v1,v1alpha1}/defaults.go` and `validation`): every field
//! as upstream checks it, messages and their order upstream's, and every expression compiles
//! in the admission policy CEL environment of the compatibility version with the type its
//! field needs.

use super::admission_rules::{self as rules, items};
use crate::cel::policy::{compile, compile_exact, env, env_for, message_env};
use crate::cel::{Mode, Type};
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use crate::util::names::is_qualified_name;
use crate::util::{go_quote, go_string_slice};
use serde_json::Value;
use std::collections::HashSet;

/// Sets `key` to `value` where it is missing or null (a Go nil pointer).
fn default_field(o: &mut serde_json::Map<String, Value>, key: &str, value: Value) {
    if o.get(key).is_none_or(Value::is_null) {
        o.insert(key.to_string(), value);
    }
}

/// Upstream v1 (and v1beta1) `SetObjectDefaults_ValidatingAdmissionPolicy`, and v1alpha1's for
/// MutatingAdmissionPolicy (the same): failurePolicy Fail and the matchConstraints' defaults.
pub fn default_policy(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    default_field(spec, "failurePolicy", "Fail".into());
    if let Some(m) = spec.get_mut("matchConstraints") {
        default_match_resources(m);
    }
}

/// Upstream v1 (and v1beta1) `SetObjectDefaults_ValidatingAdmissionPolicyBinding`: the
/// matchResources' defaults (no paramRef default in these versions).
pub fn default_binding(obj: &mut Value) {
    if let Some(m) = obj.pointer_mut("/spec/matchResources") {
        default_match_resources(m);
    }
}

/// Upstream `validationOptions` of a ValidatingAdmissionPolicy: on update, matchConditions
/// that did not change (nor did paramKind) are not compiled again, and expressions the old
/// object had compile in the stored environment.
#[derive(Default)]
struct PolicyOptions {
    ignore_match_conditions: bool,
    match_conditions: HashSet<String>,
    validations: HashSet<String>,
    messages: HashSet<String>,
    audit_annotations: HashSet<String>,
}

impl PolicyOptions {
    /// Upstream `ignoreValidatingAdmissionPolicyMatchConditions` and
    /// `findValidatingPolicyPreexistingExpressions`.
    fn update(new: &Value, old: &Value) -> PolicyOptions {
        let (ns, os) = (
            new.get("spec").unwrap_or(&Value::Null),
            old.get("spec").unwrap_or(&Value::Null),
        );
        let param_kind = |s: &Value| s.get("paramKind").filter(|p| !p.is_null()).cloned();
        let exprs = |list: &str, f: &str| -> HashSet<String> {
            items(os, list)
                .iter()
                .filter_map(|v| v.opt_str_at(f))
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect()
        };
        PolicyOptions {
            ignore_match_conditions: param_kind(ns) == param_kind(os)
                && items(ns, "matchConditions") == items(os, "matchConditions"),
            match_conditions: exprs("matchConditions", "/expression"),
            validations: exprs("validations", "/expression"),
            messages: exprs("validations", "/messageExpression"),
            audit_annotations: exprs("auditAnnotations", "/valueExpression"),
        }
    }
}

fn mode(preexisting: &HashSet<String>, expr: &str) -> Mode {
    if preexisting.contains(expr) {
        Mode::Stored
    } else {
        Mode::New
    }
}

/// Upstream `supportedFailurePolicies`: failurePolicy is required (the defaults set it).
fn check_failure_policy(spec: &Value, errs: &mut FieldErrors) {
    match spec.get("failurePolicy").and_then(Value::as_str) {
        None => errs.push(FieldError::required("spec.failurePolicy", "")),
        Some("Fail" | "Ignore") => {}
        Some(other) => errs.push(FieldError::not_supported(
            "spec.failurePolicy",
            other,
            &["Fail", "Ignore"],
        )),
    }
}

/// A binding's policyName: required, a DNS subdomain.
fn check_policy_name(spec: &Value, errs: &mut FieldErrors) {
    let name = spec.str_at("/policyName");
    if name.is_empty() {
        errs.push(FieldError::required("spec.policyName", ""));
    } else {
        for msg in crate::util::names::is_dns1123_subdomain(name) {
            errs.push(FieldError::invalid("spec.policyName", name, msg));
        }
    }
}

/// Upstream `supportedValidationPolicyReason`.
const VALIDATION_REASONS: &[&str] = &["Forbidden", "Invalid", "RequestEntityTooLarge"];
/// Upstream `maxAuditAnnotations` and `maxAuditAnnotationValueExpressionLength`.
const MAX_AUDIT_ANNOTATIONS: usize = 20;
const MAX_AUDIT_ANNOTATION_VALUE_EXPRESSION: usize = 5 * 1024;

/// Upstream `validateValidatingAdmissionPolicySpec`.
fn validate_policy_with(obj: &Value, opts: &PolicyOptions, errs: &mut FieldErrors) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    check_failure_policy(&spec, errs);
    let pk = spec.get("paramKind").filter(|p| !p.is_null());
    if let Some(pk) = pk {
        rules::param_kind(pk, "spec.paramKind", errs);
    }
    match spec.get("matchConstraints").filter(|m| !m.is_null()) {
        None => errs.push(FieldError::required("spec.matchConstraints", "")),
        Some(m) => {
            rules::match_resources(m, "spec.matchConstraints", errs);
            if items(m, "resourceRules").is_empty() {
                errs.push(FieldError::required("spec.matchConstraints.resourceRules", ""));
            }
        }
    }
    let params = pk.is_some();
    // matchConditions compile in the stateless environment (no `variables`) with the
    // authorizer; `params` only with a paramKind.
    if !opts.ignore_match_conditions {
        rules::match_conditions(
            items(&spec, "matchConditions"),
            "spec.matchConditions",
            errs,
            |path, src| {
                let env = env_for(None, params, true, mode(&opts.match_conditions, src));
                compile(&env, src, &[Type::Bool])
                    .err()
                    .map(|e| FieldError::invalid(path, src, e))
            },
        );
    }
    let names: Vec<String> = items(&spec, "variables")
        .iter()
        .map(|v| v.str_at("/name").to_string())
        .collect();
    // Variables, validations and auditAnnotations see `variables` and the authorizer;
    // messageExpressions not the authorizer. Upstream picks a variable's environment by the
    // old validations' expressions.
    for (i, v) in items(&spec, "variables").iter().enumerate() {
        let path = format!("spec.variables[{i}]");
        rules::variable_name(v.str_at("/name"), &path, errs);
        let src = v.str_at("/expression");
        errs.extend(check_expression(
            &env(&names, params, mode(&opts.validations, src)),
            format!("{path}.expression"),
            src,
            &[],
            "expression is not specified",
        ));
    }
    let (validations, annotations) = (items(&spec, "validations"), items(&spec, "auditAnnotations"));
    if validations.is_empty() && annotations.is_empty() {
        for f in ["validations", "auditAnnotations"] {
            errs.push(FieldError::required(
                format!("spec.{f}"),
                "validations or auditAnnotations must contain at least one item",
            ));
        }
        return;
    }
    for (i, v) in validations.iter().enumerate() {
        validate_validation(v, &names, params, opts, &format!("spec.validations[{i}]"), errs);
    }
    if annotations.len() > MAX_AUDIT_ANNOTATIONS {
        let rendered: Vec<String> = annotations
            .iter()
            .map(|a| {
                format!(
                    "admissionregistration.AuditAnnotation{{Key:{}, ValueExpression:{}}}",
                    go_quote(a.str_at("/key")),
                    go_quote(a.str_at("/valueExpression"))
                )
            })
            .collect();
        errs.push(FieldError::invalid_raw(
            "spec.auditAnnotations",
            &format!("[]admissionregistration.AuditAnnotation{{{}}}", rendered.join(", ")),
            &format!("must not have more than {MAX_AUDIT_ANNOTATIONS} auditAnnotations"),
        ));
    }
    let policy_name = obj.str_at("/metadata/name");
    let mut keys = HashSet::new();
    for (i, a) in annotations.iter().enumerate() {
        let path = format!("spec.auditAnnotations[{i}]");
        let key = a.str_at("/key");
        if policy_name.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.key"),
                key,
                "requires metadata.name be non-empty",
            ));
        } else {
            let qualified = format!("{policy_name}/{key}");
            for msg in is_qualified_name(&qualified) {
                errs.push(FieldError::invalid(format!("{path}.key"), qualified.as_str(), msg));
            }
        }
        let value = a.str_at("/valueExpression");
        let trimmed = value.trim();
        let vpath = format!("{path}.valueExpression");
        if trimmed.is_empty() {
            errs.push(FieldError::required(vpath, "valueExpression is not specified"));
        } else if trimmed.len() > MAX_AUDIT_ANNOTATION_VALUE_EXPRESSION {
            errs.push(FieldError::required(
                vpath,
                format!("must not exceed {MAX_AUDIT_ANNOTATION_VALUE_EXPRESSION} bytes in length"),
            ));
        } else {
            // Exactly string or null (dyn does not pass); the trimmed expression compiles.
            let env = env(&names, params, mode(&opts.audit_annotations, value));
            if let Err(e) = compile_exact(&env, trimmed, &[Type::String, Type::Null]) {
                errs.push(FieldError::invalid(vpath, value, e));
            }
        }
        if !keys.insert(key) {
            errs.push(FieldError::duplicate(format!("{path}.key"), key));
        }
    }
}

/// Upstream `validateValidation`.
fn validate_validation(
    v: &Value,
    names: &[String],
    params: bool,
    opts: &PolicyOptions,
    path: &str,
    errs: &mut FieldErrors,
) {
    let expr = v.str_at("/expression");
    errs.extend(check_expression(
        &env(names, params, mode(&opts.validations, expr)),
        format!("{path}.expression"),
        expr,
        &[Type::Bool],
        "expression is not specified",
    ));
    let message_expr = v.str_at("/messageExpression");
    if !message_expr.is_empty() && message_expr.trim().is_empty() {
        errs.push(FieldError::invalid(
            format!("{path}.messageExpression"),
            message_expr,
            "must be non-empty if specified",
        ));
    } else if !message_expr.is_empty() {
        // The untrimmed expression compiles, so that errors show its columns.
        let env = message_env(names, params, mode(&opts.messages, message_expr));
        if let Err(e) = compile(&env, message_expr, &[Type::String]) {
            errs.push(FieldError::invalid(
                format!("{path}.messageExpression"),
                message_expr,
                e,
            ));
        }
    }
    let message = v.str_at("/message");
    let trimmed = message.trim();
    if !message.is_empty() && trimmed.is_empty() {
        errs.push(FieldError::invalid(
            format!("{path}.message"),
            message,
            "message must be non-empty if specified",
        ));
    } else if trimmed.contains(['\n', '\r']) {
        errs.push(FieldError::invalid(
            format!("{path}.message"),
            message,
            "message must not contain line breaks",
        ));
    }
    if let Some(reason) = v.get("reason").and_then(Value::as_str) {
        if !VALIDATION_REASONS.contains(&reason) {
            errs.push(FieldError::not_supported(
                format!("{path}.reason"),
                reason,
                VALIDATION_REASONS,
            ));
        }
    }
}

/// Upstream `ValidateValidatingAdmissionPolicy`.
pub fn validate_policy(obj: &Value, errs: &mut FieldErrors) {
    validate_policy_with(obj, &PolicyOptions::default(), errs);
}

/// Upstream `ValidateValidatingAdmissionPolicyUpdate`.
pub fn validate_policy_update(obj: &Value, old: &Value, errs: &mut FieldErrors) {
    validate_policy_with(obj, &PolicyOptions::update(obj, old), errs);
}

/// Upstream `supportedValidationActions` (sorted, as its NotSupported lists them).
const VALIDATION_ACTIONS: &[&str] = &["Audit", "Deny", "Warn"];

/// Upstream `validateValidationActions`.
fn validation_actions(list: &[Value], path: &str, errs: &mut FieldErrors) {
    let actions: Vec<&str> = list.iter().map(|a| a.as_str().unwrap_or("")).collect();
    let mut seen = HashSet::new();
    for (i, a) in actions.iter().enumerate() {
        if !VALIDATION_ACTIONS.contains(a) {
            errs.push(FieldError::not_supported(
                format!("{path}[{i}]"),
                *a,
                VALIDATION_ACTIONS,
            ));
        }
        if !seen.insert(*a) {
            errs.push(FieldError::duplicate(format!("{path}[{i}]"), *a));
        }
    }
    if seen.contains("Deny") && seen.contains("Warn") {
        let rendered = go_string_slice(&actions).replacen("[]string", "[]admissionregistration.ValidationAction", 1);
        errs.push(FieldError::invalid_raw(
            path,
            &rendered,
            "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
        ));
    }
    if seen.is_empty() {
        errs.push(FieldError::required(path, "at least one validation action is required"));
    }
}

/// What both binding kinds check first, in upstream's order: policyName, paramRef and
/// matchResources (returned for the kind's own checks).
fn check_binding_refs<'a>(spec: &'a Value, errs: &mut FieldErrors) -> Option<&'a Value> {
    check_policy_name(spec, errs);
    if let Some(r) = spec.get("paramRef").filter(|r| !r.is_null()) {
        rules::param_ref(r, "spec.paramRef", errs);
    }
    let m = spec.get("matchResources").filter(|m| !m.is_null());
    if let Some(m) = m {
        rules::match_resources(m, "spec.matchResources", errs);
    }
    m
}

/// Upstream `ValidateValidatingAdmissionPolicyBinding` (the same on update).
pub fn validate_binding(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    check_binding_refs(&spec, errs);
    validation_actions(items(&spec, "validationActions"), "spec.validationActions", errs);
}

pub fn validate_binding_update(obj: &Value, _old: &Value, errs: &mut FieldErrors) {
    validate_binding(obj, errs);
}

/// Upstream `SetDefaults_MatchResources` (v1, v1beta1 and v1alpha1 alike) and
/// `SetDefaults_Rule` (scope `*`) on its rules.
fn default_match_resources(m: &mut Value) {
    let Some(o) = m.as_object_mut() else { return };
    for rules in ["resourceRules", "excludeResourceRules"] {
        for r in o.get_mut(rules).and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(r) = r.as_object_mut() {
                default_field(r, "scope", "*".into());
            }
        }
    }
    default_field(o, "matchPolicy", "Equivalent".into());
    default_field(o, "namespaceSelector", serde_json::json!({}));
    default_field(o, "objectSelector", serde_json::json!({}));
}

// MutatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1alpha1).

/// Upstream v1alpha1 defaults: parameterNotFoundAction Deny and the matchResources' defaults.
pub fn default_mutating_binding(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(r) = spec.get_mut("paramRef").and_then(Value::as_object_mut) {
        default_field(r, "parameterNotFoundAction", "Deny".into());
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

/// An expression of a policy (a variable's, a validation's): required, compiles, has the
/// type its field needs.
fn check_expression(
    env: &crate::cel::Env,
    path: String,
    src: &str,
    want: &[Type],
    required: &str,
) -> Option<FieldError> {
    if src.trim().is_empty() {
        return Some(FieldError::required(path, required));
    }
    // The untrimmed expression compiles (upstream), so that errors show its columns.
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
    check_failure_policy(&spec, errs);
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
    if let Some(m) = check_binding_refs(&spec, errs) {
        check_mutating_operations(m, "spec.matchResources", errs);
    }
}

pub fn validate_mutating_binding_update(obj: &Value, _old: &Value, errs: &mut FieldErrors) {
    validate_mutating_binding(obj, errs);
}
