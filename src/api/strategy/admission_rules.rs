//! The parts admission policies and their bindings share (upstream
//! `pkg/apis/admissionregistration/validation`): matchResources and their rules, paramKind,
//! paramRef, matchCondition names, variable names. Messages and their order are upstream's.

use crate::api::validation::validate_label_selector;
use crate::error::field::{FieldError, FieldErrors};
use crate::util::go_string_slice;
use crate::util::json::JsonExt;
use crate::util::names::{is_dns1035_label, is_dns1123_subdomain, is_qualified_name, is_valid_path_segment_name};
use serde_json::Value;
use std::collections::HashSet;

/// Items of the list at `f` (missing or not a list: none).
pub fn items<'a>(v: &'a Value, f: &str) -> &'a [Value] {
    v.get(f).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn strings<'a>(v: &'a Value, f: &str) -> Vec<&'a str> {
    items(v, f).iter().map(|s| s.as_str().unwrap_or("")).collect()
}

/// Upstream `supportedOperations` (sorted, as its NotSupported lists them).
const OPERATIONS: &[&str] = &["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const SCOPES: &[&str] = &["*", "Cluster", "Namespaced"];
const MATCH_POLICIES: &[&str] = &["Equivalent", "Exact"];

/// Upstream `validateMatchResources`.
pub fn match_resources(m: &Value, path: &str, errs: &mut FieldErrors) {
    match m.get("matchPolicy").filter(|p| !p.is_null()) {
        None => errs.push(FieldError::required(format!("{path}.matchPolicy"), "")),
        Some(p) if MATCH_POLICIES.contains(&p.as_str().unwrap_or("")) => {}
        Some(p) => errs.push(FieldError::not_supported(
            format!("{path}.matchPolicy"),
            p.clone(),
            MATCH_POLICIES,
        )),
    }
    for sel in ["namespaceSelector", "objectSelector"] {
        match m.get(sel).filter(|s| !s.is_null()) {
            None => errs.push(FieldError::required(format!("{path}.{sel}"), "")),
            Some(s) => validate_label_selector(s, &format!("{path}.{sel}"), errs),
        }
    }
    for rules in ["resourceRules", "excludeResourceRules"] {
        for (i, r) in items(m, rules).iter().enumerate() {
            named_rule(r, &format!("{path}.{rules}[{i}]"), errs);
        }
    }
}

/// Upstream `validateNamedRuleWithOperations`.
fn named_rule(r: &Value, path: &str, errs: &mut FieldErrors) {
    let mut seen = HashSet::new();
    for (i, n) in strings(r, "resourceNames").into_iter().enumerate() {
        let p = format!("{path}.resourceNames[{i}]");
        for msg in is_valid_path_segment_name(n) {
            errs.push(FieldError::invalid(p.clone(), n, msg));
        }
        if !seen.insert(n) {
            errs.push(FieldError::duplicate(p, n));
        }
    }
    rule_with_operations(r, path, errs);
}

/// Upstream `validateRuleWithOperations` (subresources allowed).
pub fn rule_with_operations(r: &Value, path: &str, errs: &mut FieldErrors) {
    let ops = strings(r, "operations");
    if ops.is_empty() {
        errs.push(FieldError::required(format!("{path}.operations"), ""));
    }
    if ops.len() > 1 && ops.contains(&"*") {
        let rendered = go_string_slice(&ops).replacen("[]string", "[]admissionregistration.OperationType", 1);
        errs.push(FieldError::invalid_raw(
            format!("{path}.operations"),
            &rendered,
            "if '*' is present, must not specify other operations",
        ));
    }
    for (i, op) in ops.iter().enumerate() {
        if !OPERATIONS.contains(op) {
            errs.push(FieldError::not_supported(
                format!("{path}.operations[{i}]"),
                *op,
                OPERATIONS,
            ));
        }
    }
    rule(r, path, errs);
}

/// Upstream `validateRule`.
fn rule(r: &Value, path: &str, errs: &mut FieldErrors) {
    for (f, what) in [("apiGroups", "API groups"), ("apiVersions", "API versions")] {
        let list = strings(r, f);
        if list.is_empty() {
            errs.push(FieldError::required(format!("{path}.{f}"), ""));
        }
        if list.len() > 1 && list.contains(&"*") {
            errs.push(FieldError::invalid_raw(
                format!("{path}.{f}"),
                &go_string_slice(&list),
                &format!("if '*' is present, must not specify other {what}"),
            ));
        }
    }
    for (i, v) in strings(r, "apiVersions").into_iter().enumerate() {
        if v.is_empty() {
            errs.push(FieldError::required(format!("{path}.apiVersions[{i}]"), ""));
        }
    }
    resources(&strings(r, "resources"), &format!("{path}.resources"), errs);
    if let Some(s) = r.get("scope").and_then(Value::as_str) {
        if !SCOPES.contains(&s) {
            errs.push(FieldError::not_supported(format!("{path}.scope"), s, SCOPES));
        }
    }
}

/// Upstream `validateResources`: `resource[/subresource]` with its wildcard rules.
fn resources(list: &[&str], path: &str, errs: &mut FieldErrors) {
    if list.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    let (mut wild_sub, mut wild_res) = (HashSet::new(), HashSet::new());
    let (mut double, mut single, mut plain) = (false, false, false);
    for (i, rs) in list.iter().enumerate() {
        if rs.is_empty() {
            errs.push(FieldError::required(format!("{path}[{i}]"), ""));
            continue;
        }
        double |= *rs == "*/*";
        single |= *rs == "*";
        let Some((res, sub)) = rs.split_once('/') else {
            // Upstream keeps the last plain entry's verdict.
            plain = *rs != "*";
            continue;
        };
        if wild_sub.contains(res) {
            errs.push(FieldError::invalid(
                format!("{path}[{i}]"),
                *rs,
                format!("if '{res}/*' is present, must not specify {rs}"),
            ));
        }
        if wild_res.contains(sub) {
            errs.push(FieldError::invalid(
                format!("{path}[{i}]"),
                *rs,
                format!("if '*/{sub}' is present, must not specify {rs}"),
            ));
        }
        if sub == "*" {
            wild_sub.insert(res);
        }
        if res == "*" {
            wild_res.insert(sub);
        }
    }
    if list.len() > 1 && double {
        errs.push(FieldError::invalid_raw(
            path,
            &go_string_slice(list),
            "if '*/*' is present, must not specify other resources",
        ));
    }
    if single && plain {
        errs.push(FieldError::invalid_raw(
            path,
            &go_string_slice(list),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
}

/// Upstream `validateParamKind`.
pub fn param_kind(pk: &Value, path: &str, errs: &mut FieldErrors) {
    let av = pk.str_at("/apiVersion");
    let p = format!("{path}.apiVersion");
    if av.is_empty() {
        errs.push(FieldError::required(p.clone(), ""));
    } else if av.matches('/').count() > 1 {
        errs.push(FieldError::invalid(
            p.clone(),
            av,
            format!("unexpected GroupVersion string: {av}"),
        ));
    } else {
        let (group, version) = match av {
            "/" => ("", ""),
            _ => av.split_once('/').unwrap_or(("", av)),
        };
        if !group.is_empty() {
            let e = is_dns1123_subdomain(group);
            if !e.is_empty() {
                errs.push(FieldError::invalid(p.clone(), group, e.join(",")));
            }
        }
        if version.is_empty() {
            errs.push(FieldError::invalid(p.clone(), av, "version must be specified"));
        } else {
            let e = is_dns1035_label(version);
            if !e.is_empty() {
                errs.push(FieldError::invalid(p.clone(), version, e.join(",")));
            }
        }
    }
    let kind = pk.str_at("/kind");
    if kind.is_empty() {
        errs.push(FieldError::required(format!("{path}.kind"), ""));
    } else {
        let e = is_dns1035_label(&kind.to_lowercase());
        if !e.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.kind"),
                kind,
                format!("may have mixed case, but should otherwise match: {}", e.join(",")),
            ));
        }
    }
}

/// Upstream `validateParamRef`.
pub fn param_ref(r: &Value, path: &str, errs: &mut FieldErrors) {
    let name = r.str_at("/name");
    let selector = r.get("selector").filter(|s| !s.is_null());
    if !name.is_empty() {
        for msg in is_valid_path_segment_name(name) {
            errs.push(FieldError::invalid(format!("{path}.name"), name, msg));
        }
        if selector.is_some() {
            errs.push(FieldError::forbidden(
                format!("{path}.name"),
                "name and selector are mutually exclusive",
            ));
        }
    }
    if let Some(s) = selector {
        validate_label_selector(s, &format!("{path}.selector"), errs);
        if !name.is_empty() {
            errs.push(FieldError::forbidden(
                format!("{path}.selector"),
                "name and selector are mutually exclusive",
            ));
        }
    }
    if name.is_empty() && selector.is_none() {
        errs.push(FieldError::required(path, "one of name or selector must be specified"));
    }
    match r.str_at("/parameterNotFoundAction") {
        "" => errs.push(FieldError::required(format!("{path}.parameterNotFoundAction"), "")),
        "Allow" | "Deny" => {}
        other => errs.push(FieldError::not_supported(
            format!("{path}.parameterNotFoundAction"),
            other,
            &["Deny", "Allow"],
        )),
    }
}

/// Upstream `validateMatchConditions` without the expressions (`check` compiles each
/// trimmed expression): at most 64, names required, qualified and unique.
pub fn match_conditions(
    conditions: &[Value],
    path: &str,
    errs: &mut FieldErrors,
    mut check: impl FnMut(String, &str) -> Option<FieldError>,
) {
    if conditions.len() > 64 {
        errs.push(FieldError::too_many(path, conditions.len(), 64));
    }
    let mut seen = HashSet::new();
    for (i, c) in conditions.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let expr = c.str_at("/expression").trim();
        if expr.is_empty() {
            errs.push(FieldError::required(format!("{p}.expression"), ""));
        } else {
            errs.extend(check(format!("{p}.expression"), expr));
        }
        let name = c.str_at("/name");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        } else {
            for msg in is_qualified_name(name) {
                errs.push(FieldError::invalid(format!("{p}.name"), name, msg));
            }
            if !seen.insert(name) {
                errs.push(FieldError::duplicate(format!("{p}.name"), name));
            }
        }
    }
}

/// Upstream `isCELIdentifier`: `[_a-zA-Z][_a-zA-Z0-9]*`, not a reserved word.
pub fn is_cel_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !crate::cel::schema::RESERVED.contains(&name)
}

/// Upstream's variable name check (`validateVariable`, before the expression).
pub fn variable_name(name: &str, path: &str, errs: &mut FieldErrors) {
    if name.trim().is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), "name is not specified"));
    } else if !is_cel_identifier(name) {
        errs.push(FieldError::invalid(
            format!("{path}.name"),
            name,
            "name is not a valid CEL identifier",
        ));
    }
}
