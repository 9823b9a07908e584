//! Defaults and validation of Mutating/ValidatingWebhookConfigurations (upstream
//! `pkg/apis/admissionregistration/v1/defaults.go` and `validation.go`). Updates relax the
//! create rules by what the stored object already had (upstream's `validationOptions`), so a
//! configuration stored by an older server stays writable.

use super::admission_rules::{match_conditions, rule_with_operations};
use super::apps::util::invalid_raw;
use crate::api::validation::{is_dns1035_label, is_dns1123_subdomain, push_msgs, validate_label_selector};
use crate::cel::Mode;
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use crate::util::{go_quote, go_string_slice};
use serde_json::{json, Value};
use std::collections::HashSet;

fn hooks(obj: &Value) -> &[Value] {
    obj.get("webhooks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strings(v: &Value, f: &str) -> Vec<String> {
    v.get(f)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|s| s.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// Upstream `SetDefaults_{Validating,Mutating}Webhook`, `SetDefaults_Rule` and
/// `SetDefaults_ServiceReference`.
fn default_hooks(obj: &mut Value, mutating: bool) {
    let Some(list) = obj.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return;
    };
    for h in list.iter_mut().filter_map(Value::as_object_mut) {
        let mut set = |k: &str, v: Value| {
            if h.get(k).is_none_or(Value::is_null) {
                h.insert(k.to_string(), v);
            }
        };
        set("failurePolicy", json!("Fail"));
        set("matchPolicy", json!("Equivalent"));
        set("namespaceSelector", json!({}));
        set("objectSelector", json!({}));
        set("timeoutSeconds", json!(10));
        if mutating {
            set("reinvocationPolicy", json!("Never"));
        }
        for r in h.get_mut("rules").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(r) = r.as_object_mut().filter(|r| r.get("scope").is_none_or(Value::is_null)) {
                r.insert("scope".into(), json!("*"));
            }
        }
        if let Some(svc) = h
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
            .and_then(Value::as_object_mut)
            .filter(|s| s.get("port").is_none_or(Value::is_null))
        {
            svc.insert("port".into(), json!(443));
        }
    }
}

pub fn default_mutating(obj: &mut Value) {
    default_hooks(obj, true);
}

pub fn default_validating(obj: &mut Value) {
    default_hooks(obj, false);
}

/// Upstream `validationOptions`: the create rules, or on update what the old object allows.
struct Options {
    /// The matchConditions are those already stored: not compiled again.
    ignore_match_conditions: bool,
    require_no_side_effects: bool,
    require_recognized_review_version: bool,
    require_unique_names: bool,
    /// Expressions the old object had, compiled in the stored environment.
    preexisting: HashSet<String>,
}

fn create_options() -> Options {
    Options {
        ignore_match_conditions: false,
        require_no_side_effects: true,
        require_recognized_review_version: true,
        require_unique_names: true,
        preexisting: HashSet::new(),
    }
}

const ACCEPTED_REVIEW_VERSIONS: &[&str] = &["v1", "v1beta1"];
const NO_SIDE_EFFECTS: &[&str] = &["None", "NoneOnDryRun"];
const SIDE_EFFECTS: &[&str] = &["None", "NoneOnDryRun", "Some", "Unknown"];

fn conditions(h: &Value) -> Value {
    match h.get("matchConditions") {
        Some(Value::Array(a)) if !a.is_empty() => Value::Array(a.clone()),
        _ => Value::Null,
    }
}

/// Upstream `Validate*WebhookConfigurationUpdate`'s options, derived from the old object.
fn update_options(new: &Value, old: &Value) -> Options {
    let (nh, oh) = (hooks(new), hooks(old));
    let mut names = HashSet::new();
    Options {
        ignore_match_conditions: nh.len() == oh.len() && nh.iter().zip(oh).all(|(n, o)| conditions(n) == conditions(o)),
        require_no_side_effects: oh.iter().all(|h| NO_SIDE_EFFECTS.contains(&h.str_at("/sideEffects"))),
        require_recognized_review_version: oh.iter().all(|h| {
            let v = strings(h, "admissionReviewVersions");
            v.is_empty() || v.iter().any(|v| ACCEPTED_REVIEW_VERSIONS.contains(&v.as_str()))
        }),
        require_unique_names: oh.iter().all(|h| names.insert(h.str_at("/name").to_string())),
        preexisting: oh
            .iter()
            .flat_map(|h| h.get("matchConditions").and_then(Value::as_array).into_iter().flatten())
            .map(|c| c.str_at("/expression").to_string())
            .collect(),
    }
}

fn validate(obj: &Value, mutating: bool, opts: &Options, errs: &mut FieldErrors) {
    let mut names = HashSet::new();
    for (i, h) in hooks(obj).iter().enumerate() {
        let p = format!("webhooks[{i}]");
        validate_hook(h, mutating, opts, &p, errs);
        validate_review_versions(h, opts.require_recognized_review_version, &p, errs);
        let name = h.str_at("/name");
        if opts.require_unique_names && !name.is_empty() && !names.insert(name) {
            errs.push(FieldError::duplicate(format!("{p}.name"), name));
        }
    }
}

pub fn validate_mutating(obj: &Value, errs: &mut FieldErrors) {
    validate(obj, true, &create_options(), errs);
}

pub fn validate_mutating_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    validate(new, true, &update_options(new, old), errs);
}

pub fn validate_validating(obj: &Value, errs: &mut FieldErrors) {
    validate(obj, false, &create_options(), errs);
}

pub fn validate_validating_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    validate(new, false, &update_options(new, old), errs);
}

/// `NotSupported` when `v` is set and not one of `allowed`.
fn one_of(h: &Value, field: &str, allowed: &[&str], p: &str, errs: &mut FieldErrors) {
    if let Some(v) = h.get(field).and_then(Value::as_str) {
        if !allowed.contains(&v) {
            errs.push(FieldError::not_supported(format!("{p}.{field}"), v, allowed));
        }
    }
}

/// Upstream `validateValidatingWebhook` / `validateMutatingWebhook`.
fn validate_hook(h: &Value, mutating: bool, opts: &Options, p: &str, errs: &mut FieldErrors) {
    validate_fully_qualified_name(h.str_at("/name"), &format!("{p}.name"), errs);
    for (i, r) in h
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        rule_with_operations(r, &format!("{p}.rules[{i}]"), errs);
    }
    one_of(h, "failurePolicy", &["Fail", "Ignore"], p, errs);
    one_of(h, "matchPolicy", &["Equivalent", "Exact"], p, errs);
    let allowed = if opts.require_no_side_effects {
        NO_SIDE_EFFECTS
    } else {
        SIDE_EFFECTS
    };
    match h.get("sideEffects").and_then(Value::as_str) {
        None => errs.push(FieldError::required(
            format!("{p}.sideEffects"),
            format!("must specify one of {}", allowed.join(", ")),
        )),
        Some(s) if !allowed.contains(&s) => {
            errs.push(FieldError::not_supported(format!("{p}.sideEffects"), s, allowed))
        }
        Some(_) => {}
    }
    if let Some(t) = h.get("timeoutSeconds").and_then(Value::as_i64) {
        if !(1..=30).contains(&t) {
            errs.push(FieldError::invalid(
                format!("{p}.timeoutSeconds"),
                t,
                "the timeout value must be between 1 and 30 seconds",
            ));
        }
    }
    for sel in ["namespaceSelector", "objectSelector"] {
        if let Some(s) = h.get(sel).filter(|s| !s.is_null()) {
            validate_label_selector(s, &format!("{p}.{sel}"), errs);
        }
    }
    if mutating {
        one_of(h, "reinvocationPolicy", &["IfNeeded", "Never"], p, errs);
    }
    validate_client_config(h.get("clientConfig"), &format!("{p}.clientConfig"), errs);
    if !opts.ignore_match_conditions {
        let conds = h
            .get("matchConditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let env_for = |expr: &str| {
            let mode = if opts.preexisting.contains(expr) {
                Mode::Stored
            } else {
                Mode::New
            };
            crate::cel::policy::webhook_match_env(mode)
        };
        match_conditions(conds, &format!("{p}.matchConditions"), errs, |path, src| {
            crate::cel::policy::compile(&env_for(src), src, &[crate::cel::Type::Bool])
                .err()
                .map(|e| FieldError::invalid(path, src, e))
        });
    }
}

/// `utilvalidation.IsFullyQualifiedName`.
fn validate_fully_qualified_name(name: &str, p: &str, errs: &mut FieldErrors) {
    if name.is_empty() {
        errs.push(FieldError::required(p, ""));
        return;
    }
    let msgs = is_dns1123_subdomain(name);
    if !msgs.is_empty() {
        errs.push(FieldError::invalid(p, name, msgs.join(",")));
    } else if name.split('.').count() < 3 {
        errs.push(FieldError::invalid(
            p,
            name,
            "should be a domain with at least three segments separated by dots",
        ));
    }
}

/// Upstream `validateAdmissionReviewVersions`.
fn validate_review_versions(h: &Value, require_recognized: bool, p: &str, errs: &mut FieldErrors) {
    let p = format!("{p}.admissionReviewVersions");
    let versions = strings(h, "admissionReviewVersions");
    if versions.is_empty() {
        errs.push(FieldError::required(
            p,
            format!("must specify one of {}", ACCEPTED_REVIEW_VERSIONS.join(", ")),
        ));
        return;
    }
    let mut seen = HashSet::new();
    for (i, v) in versions.iter().enumerate() {
        if !seen.insert(v.as_str()) {
            errs.push(FieldError::invalid(
                format!("{p}[{i}]"),
                v.as_str(),
                "duplicate version",
            ));
            continue;
        }
        push_msgs(errs, &format!("{p}[{i}]"), v, is_dns1035_label(v));
    }
    if require_recognized && !versions.iter().any(|v| ACCEPTED_REVIEW_VERSIONS.contains(&v.as_str())) {
        errs.push(invalid_raw(
            p,
            go_string_slice(&versions),
            &format!("must include at least one of {}", ACCEPTED_REVIEW_VERSIONS.join(", ")),
        ));
    }
}

/// Exactly one of `url` (upstream `ValidateWebhookURL`, https forced) and `service`
/// (`ValidateWebhookService`).
fn validate_client_config(cc: Option<&Value>, p: &str, errs: &mut FieldErrors) {
    let url = cc.and_then(|c| c.get("url")).filter(|u| !u.is_null());
    let svc = cc.and_then(|c| c.get("service")).filter(|s| !s.is_null());
    match (url, svc) {
        (Some(u), None) => validate_url(u.as_str().unwrap_or(""), &format!("{p}.url"), errs),
        (None, Some(s)) => validate_service(s, &format!("{p}.service"), errs),
        _ => errs.push(FieldError::required(p, "exactly one of url or service is required")),
    }
}

/// The parts of Go's `url.Parse` the webhook URL rules look at.
struct UrlParts<'a> {
    scheme: &'a str,
    host: &'a str,
    user: Option<&'a str>,
    query: &'a str,
    fragment: &'a str,
}

/// Go's `url.Parse` split of `s` (scheme, authority, query, fragment), or its error text.
fn parse_url(s: &str) -> Result<UrlParts<'_>, String> {
    if s.chars().any(|c| (c as u32) < 0x20 || c == '\x7f') {
        return Err(format!(
            "parse {}: net/url: invalid control character in URL",
            go_quote(s)
        ));
    }
    let (rest, fragment) = s.split_once('#').unwrap_or((s, ""));
    let mut scheme = "";
    let mut rest = rest;
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        let valid = cand
            .chars()
            .enumerate()
            .all(|(j, c)| c.is_ascii_alphabetic() || (j > 0 && (c.is_ascii_digit() || "+-.".contains(c))));
        if i == 0 {
            return Err(format!("parse {}: missing protocol scheme", go_quote(s)));
        }
        if valid {
            scheme = cand;
            rest = &rest[i + 1..];
        }
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut host, mut user) = ("", None);
    if !scheme.is_empty() || rest.starts_with("//") {
        if let Some(auth) = rest.strip_prefix("//") {
            let auth = &auth[..auth.find('/').unwrap_or(auth.len())];
            match auth.rsplit_once('@') {
                Some((u, h)) => (user, host) = (Some(u), h),
                None => host = auth,
            }
        }
    }
    Ok(UrlParts {
        scheme,
        host,
        user,
        query,
        fragment,
    })
}

fn validate_url(url: &str, p: &str, errs: &mut FieldErrors) {
    const FORM: &str = "; desired format: https://host[/path]";
    let u = match parse_url(url) {
        Ok(u) => u,
        Err(e) => {
            errs.push(FieldError::required(p, format!("url must be a valid URL: {e}{FORM}")));
            return;
        }
    };
    if u.scheme != "https" {
        errs.push(FieldError::invalid(
            p,
            u.scheme,
            format!("'https' is the only allowed URL scheme{FORM}"),
        ));
    }
    if u.host.is_empty() {
        errs.push(FieldError::invalid(p, "", format!("host must be specified{FORM}")));
    }
    if let Some(user) = u.user {
        errs.push(FieldError::invalid(
            p,
            user,
            "user information is not permitted in the URL",
        ));
    }
    if !u.fragment.is_empty() {
        errs.push(FieldError::invalid(
            p,
            u.fragment,
            "fragments are not permitted in the URL",
        ));
    }
    if !u.query.is_empty() {
        errs.push(FieldError::invalid(
            p,
            u.query,
            "query parameters are not permitted in the URL",
        ));
    }
}

/// Upstream `ValidateWebhookService`.
fn validate_service(s: &Value, p: &str, errs: &mut FieldErrors) {
    if s.str_at("/name").is_empty() {
        errs.push(FieldError::required(format!("{p}.name"), "service name is required"));
    }
    if s.str_at("/namespace").is_empty() {
        errs.push(FieldError::required(
            format!("{p}.namespace"),
            "service namespace is required",
        ));
    }
    let port = s.get("port").and_then(Value::as_i64).unwrap_or(0);
    let msgs = crate::util::names::is_valid_port_num(port);
    if !msgs.is_empty() {
        errs.push(FieldError::invalid(
            format!("{p}.port"),
            port,
            format!("port is not valid: {}", msgs.join(", ")),
        ));
    }
    let Some(path) = s.get("path").and_then(Value::as_str) else {
        return;
    };
    let pp = format!("{p}.path");
    if path.is_empty() || path == "/" {
        return;
    }
    if path == "//" {
        errs.push(FieldError::invalid(pp, path, "segment[0] may not be empty"));
        return;
    }
    if !path.starts_with('/') {
        errs.push(FieldError::invalid(&pp, path, "must start with a '/'"));
    }
    let check = &path[1..];
    let check = check.strip_suffix('/').unwrap_or(check);
    for (i, step) in check.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(&pp, path, format!("segment[{i}] may not be empty")));
            continue;
        }
        for m in is_dns1123_subdomain(step) {
            errs.push(FieldError::invalid(&pp, path, format!("segment[{i}]: {m}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut e = Vec::new();
        match old {
            None => validate_validating(obj, &mut e),
            Some(old) => validate_validating_update(obj, old, &mut e),
        }
        e.iter().map(|e| e.to_string()).collect()
    }

    fn config(conds: Value, review: Value) -> Value {
        let mut c = json!({"webhooks": [{"name": "a.example.com", "sideEffects": "None",
            "admissionReviewVersions": review, "clientConfig": {"url": "https://x.example.com"},
            "matchConditions": conds}]});
        default_validating(&mut c);
        c
    }

    #[test]
    fn stored_invalid_fields_are_tolerated_on_update_only() {
        let bad = config(json!([{"name": "c", "expression": "1 +"}]), json!(["v9"]));
        let e = errs(&bad, None);
        assert!(e.iter().any(|e| e.contains("compilation failed")), "{e:?}");
        assert!(
            e.iter().any(|e| e.contains("must include at least one of v1, v1beta1")),
            "{e:?}"
        );
        // The same invalid fields, already stored, do not block an unrelated update.
        let mut relabelled = bad.clone();
        relabelled["metadata"] = json!({"labels": {"a": "b"}});
        assert_eq!(errs(&relabelled, Some(&bad)), Vec::<String>::new());
        // A changed matchCondition is compiled again.
        let changed = config(json!([{"name": "c", "expression": "2 +"}]), json!(["v9"]));
        assert!(errs(&changed, Some(&bad))
            .iter()
            .any(|e| e.contains("compilation failed")));
    }

    #[test]
    fn url_parts_as_go_splits_them() {
        let u = parse_url("https://u:p@h:1/x?q=1#f").expect("parses");
        assert_eq!(
            (u.scheme, u.host, u.user, u.query, u.fragment),
            ("https", "h:1", Some("u:p"), "q=1", "f")
        );
        let u = parse_url("example.com/path").expect("parses");
        assert_eq!((u.scheme, u.host), ("", ""));
        assert!(parse_url("://x").is_err());
    }
}
