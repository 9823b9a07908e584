//! Strategies for `flowcontrol.apiserver.k8s.io`: FlowSchema and PriorityLevelConfiguration
//! defaults and validation (upstream `pkg/apis/flowcontrol/v1/defaults.go` and
//! `pkg/apis/flowcontrol/validation`), their list order, and the bootstrap configuration upstream
//! ships. `flowcontrol_bootstrap.json` holds the objects of
//! `k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go` exactly as a v1.33.13 server
//! stores them (read back with `kubectl get flowschemas,prioritylevelconfigurations -o yaml`),
//! in upstream's order.

use super::apps::util::*;
use crate::api::validation::{is_dns1123_label, is_dns1123_subdomain};
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::sync::OnceLock;

/// `apf.kubernetes.io/autoupdate-spec`.
pub const AUTO_UPDATE_ANNOTATION: &str = "apf.kubernetes.io/autoupdate-spec";
/// The mandatory objects' names.
pub const EXEMPT: &str = "exempt";
pub const CATCH_ALL: &str = "catch-all";
/// `FlowSchemaMaxMatchingPrecedence`.
const MAX_MATCHING_PRECEDENCE: i64 = 10_000;
const MAX_QUEUES: i64 = 10_000_000;
/// Shuffle sharding needs at most this many bits of the flow hash (`shufflesharding.MaxHashBits`).
pub const MAX_HASH_BITS: i64 = 60;

/// The bootstrap objects, in upstream's order.
pub struct Bootstrap {
    pub mandatory_priority_levels: Vec<Value>,
    pub mandatory_flow_schemas: Vec<Value>,
    pub suggested_priority_levels: Vec<Value>,
    pub suggested_flow_schemas: Vec<Value>,
}

impl Bootstrap {
    /// The mandatory object of `kind` named `name`, if there is one.
    pub fn mandatory(&self, kind: &str, name: &str) -> Option<&Value> {
        let list = match kind {
            "FlowSchema" => &self.mandatory_flow_schemas,
            _ => &self.mandatory_priority_levels,
        };
        list.iter()
            .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
    }
}

/// The bootstrap configuration (parsed once).
pub fn bootstrap() -> &'static Bootstrap {
    static B: OnceLock<Bootstrap> = OnceLock::new();
    B.get_or_init(|| {
        let v: Value = serde_json::from_str(include_str!("flowcontrol_bootstrap.json"))
            .expect("flowcontrol_bootstrap.json is valid JSON (a unit test checks it)");
        let list = |k: &str| v.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        Bootstrap {
            mandatory_priority_levels: list("mandatoryPriorityLevelConfigurations"),
            mandatory_flow_schemas: list("mandatoryFlowSchemas"),
            suggested_priority_levels: list("suggestedPriorityLevelConfigurations"),
            suggested_flow_schemas: list("suggestedFlowSchemas"),
        }
    })
}

/// `ceil(log2(queues) * handSize)` (`shufflesharding.RequiredEntropyBits`).
pub fn required_entropy_bits(queues: i64, hand_size: i64) -> i64 {
    ((queues as f64).log2() * hand_size as f64).ceil() as i64
}

// ------------------------------------------------------------------------------------------------
// Defaults

/// `SetDefaults_FlowSchemaSpec`.
pub fn default_flow_schema(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    if spec
        .get("matchingPrecedence")
        .is_none_or(|v| v.is_null() || v.as_i64() == Some(0))
    {
        spec.insert("matchingPrecedence".into(), json!(1000));
    }
}

/// The PriorityLevelConfiguration defaults (limited, exempt, queuing).
pub fn default_priority_level(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    if let Some(limited) = spec.get_mut("limited").and_then(Value::as_object_mut) {
        set_default(limited, "nominalConcurrencyShares", json!(30));
        set_default(limited, "lendablePercent", json!(0));
        let queuing = limited
            .get_mut("limitResponse")
            .and_then(Value::as_object_mut)
            .and_then(|lr| lr.get_mut("queuing"))
            .and_then(Value::as_object_mut);
        if let Some(q) = queuing {
            for (k, d) in [("handSize", 8), ("queues", 64), ("queueLengthLimit", 50)] {
                if q.get(k).is_none_or(|v| v.is_null() || v.as_i64() == Some(0)) {
                    q.insert(k.into(), json!(d));
                }
            }
        }
    }
    if let Some(exempt) = spec.get_mut("exempt").and_then(Value::as_object_mut) {
        set_default(exempt, "nominalConcurrencyShares", json!(0));
        set_default(exempt, "lendablePercent", json!(0));
    }
}

/// A new object's status is an empty object when nothing set it, as upstream's typed encoding
/// writes the (non-pointer) status struct.
pub fn empty_status(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        if !m.get("status").is_some_and(Value::is_object) {
            m.insert("status".into(), json!({}));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Validation

const SUPPORTED_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "proxy",
    "update",
    "watch",
];
const DISTINGUISHER_METHODS: &[&str] = &["ByNamespace", "ByUser"];
const SUBJECT_KINDS: &[&str] = &["Group", "ServiceAccount", "User"];
const ENABLEMENTS: &[&str] = &["Exempt", "Limited"];
const LIMIT_RESPONSES: &[&str] = &["Queue", "Reject"];
const NS_ERR_INTRO: &str = "each member of this list must be '*' or a DNS-1123 label; ";

/// Go's `%#v` of a `[]string`.
fn go_strings(v: &[&str]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

/// Null, empty lists, empty strings and `false` removed: Go's semantic equality treats them as
/// absent for the value fields of these specs.
fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !matches!(x, Value::Null | Value::Bool(false)))
                .filter(|(_, x)| !x.as_array().is_some_and(Vec::is_empty))
                .filter(|(_, x)| x.as_str() != Some(""))
                .map(|(k, x)| (k.clone(), normalized(x)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// Whether two specs are semantically equal.
pub fn spec_equal(a: &Value, b: &Value) -> bool {
    normalized(a) == normalized(b)
}

/// `ValidateFlowSchema` (beyond ObjectMeta).
pub fn validate_flow_schema(obj: &Value, errs: &mut FieldErrors) {
    let name = obj.str_at("/metadata/name");
    let Some(spec) = spec_of(obj, errs) else { return };
    let prec = get_i64(spec, "matchingPrecedence", "spec", errs).unwrap_or(0);
    if prec <= 0 {
        errs.push(FieldError::invalid(
            "spec.matchingPrecedence",
            prec,
            "must be a positive value",
        ));
    }
    if prec > MAX_MATCHING_PRECEDENCE {
        errs.push(FieldError::invalid(
            "spec.matchingPrecedence",
            prec,
            format!("must not be greater than {MAX_MATCHING_PRECEDENCE}"),
        ));
    }
    if prec == 1 && name != EXEMPT {
        errs.push(FieldError::invalid(
            "spec.matchingPrecedence",
            prec,
            "only the schema named 'exempt' may have matchingPrecedence 1",
        ));
    }
    if let Some(dm) = get_obj(spec, "distinguisherMethod", "spec", errs) {
        let t = dm.str_of("type");
        if !DISTINGUISHER_METHODS.contains(&t) {
            errs.push(not_supported_raw(
                "spec.distinguisherMethod.type",
                format!("&flowcontrol.FlowDistinguisherMethod{{Type:{}}}", go_quote(t)),
                DISTINGUISHER_METHODS,
            ));
        }
    }
    let pl = get_obj(spec, "priorityLevelConfiguration", "spec", errs)
        .and_then(|p| get_str(p, "name", "spec.priorityLevelConfiguration", errs))
        .unwrap_or("");
    if pl.is_empty() {
        errs.push(FieldError::required(
            "spec.priorityLevelConfiguration.name",
            "must reference a priority level",
        ));
    } else {
        for msg in is_dns1123_subdomain(pl) {
            errs.push(FieldError::invalid("spec.priorityLevelConfiguration.name", pl, msg));
        }
    }
    if let Some(rules) = get_arr(spec, "rules", "spec", errs) {
        for (i, rule) in rules.iter().enumerate() {
            validate_rule(rule, &format!("spec.rules[{i}]"), errs);
        }
    }
    if let Some(mand) = bootstrap().mandatory("FlowSchema", name) {
        let want = mand.get("spec").cloned().unwrap_or(Value::Null);
        if !spec_equal(spec, &want) {
            errs.push(invalid_raw(
                "spec",
                spec.to_string(),
                &format!("spec of '{name}' must equal the fixed value"),
            ));
        }
    }
    validate_conditions(obj, errs);
}

fn validate_rule(rule: &Value, path: &str, errs: &mut FieldErrors) {
    let subjects = get_arr(rule, "subjects", path, errs).map(Vec::as_slice).unwrap_or(&[]);
    if subjects.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.subjects"),
            "subjects must contain at least one value",
        ));
    }
    for (i, s) in subjects.iter().enumerate() {
        validate_subject(s, &format!("{path}.subjects[{i}]"), errs);
    }
    let resource_rules = get_arr(rule, "resourceRules", path, errs)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let non_resource_rules = get_arr(rule, "nonResourceRules", path, errs)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if resource_rules.is_empty() && non_resource_rules.is_empty() {
        errs.push(FieldError::required(
            path,
            "at least one of resourceRules and nonResourceRules has to be non-empty",
        ));
    }
    for (i, r) in resource_rules.iter().enumerate() {
        validate_resource_rule(r, &format!("{path}.resourceRules[{i}]"), errs);
    }
    for (i, r) in non_resource_rules.iter().enumerate() {
        validate_non_resource_rule(r, &format!("{path}.nonResourceRules[{i}]"), errs);
    }
}

fn validate_subject(s: &Value, path: &str, errs: &mut FieldErrors) {
    let kind = get_str(s, "kind", path, errs).unwrap_or("");
    let has = |k: &str| s.get(k).is_some_and(|v| !v.is_null());
    let forbid = |errs: &mut FieldErrors, k: &str, what: &str| {
        if has(k) {
            errs.push(FieldError::forbidden(
                format!("{path}.{k}"),
                format!("{k} is forbidden when subject kind is not '{what}'"),
            ));
        }
    };
    match kind {
        "ServiceAccount" => {
            let p = format!("{path}.serviceAccount");
            match get_obj(s, "serviceAccount", path, errs) {
                None => errs.push(FieldError::required(
                    &p,
                    "serviceAccount is required when subject kind is 'ServiceAccount'",
                )),
                Some(sa) => {
                    let name = get_str(sa, "name", &p, errs).unwrap_or("");
                    if name.is_empty() {
                        errs.push(FieldError::required(format!("{p}.name"), ""));
                    } else if name != "*" {
                        for msg in is_dns1123_subdomain(name) {
                            errs.push(FieldError::invalid(format!("{p}.name"), name, msg));
                        }
                    }
                    let ns = get_str(sa, "namespace", &p, errs).unwrap_or("");
                    if ns.is_empty() {
                        errs.push(FieldError::required(
                            format!("{p}.namespace"),
                            "must specify namespace for service account",
                        ));
                    } else {
                        for msg in is_dns1123_label(ns) {
                            errs.push(FieldError::invalid(format!("{p}.namespace"), ns, msg));
                        }
                    }
                }
            }
            forbid(errs, "user", "User");
            forbid(errs, "group", "Group");
        }
        "User" | "Group" => {
            let key = if kind == "User" { "user" } else { "group" };
            let p = format!("{path}.{key}");
            match get_obj(s, key, path, errs) {
                None => errs.push(FieldError::required(
                    &p,
                    format!("{key} is required when subject kind is '{kind}'"),
                )),
                Some(o) => {
                    if get_str(o, "name", &p, errs).unwrap_or("").is_empty() {
                        errs.push(FieldError::required(format!("{p}.name"), ""));
                    }
                }
            }
            forbid(errs, "serviceAccount", "ServiceAccount");
            if kind == "User" {
                forbid(errs, "group", "Group");
            } else {
                forbid(errs, "user", "User");
            }
        }
        other => errs.push(FieldError::not_supported(format!("{path}.kind"), other, SUBJECT_KINDS)),
    }
}

fn validate_verbs(rule: &Value, path: &str, errs: &mut FieldErrors) {
    let verbs = get_str_list(rule, "verbs", path, errs);
    if verbs.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.verbs"),
            "verbs must contain at least one value",
        ));
    } else if verbs.contains(&"*") {
        if verbs.len() > 1 {
            errs.push(invalid_raw(
                format!("{path}.verbs"),
                go_strings(&verbs),
                "if '*' is present, must not specify other verbs",
            ));
        }
    } else if !verbs.iter().all(|v| SUPPORTED_VERBS.contains(v)) {
        errs.push(not_supported_raw(
            format!("{path}.verbs"),
            go_strings(&verbs),
            SUPPORTED_VERBS,
        ));
    }
}

fn validate_resource_rule(rule: &Value, path: &str, errs: &mut FieldErrors) {
    validate_verbs(rule, path, errs);
    for (key, what) in [("apiGroups", "api group"), ("resources", "resource")] {
        let list = get_str_list(rule, key, path, errs);
        if list.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.{key}"),
                format!("resource rules must supply at least one {what}"),
            ));
        } else if list.len() > 1 && list.contains(&"*") {
            errs.push(invalid_raw(
                format!("{path}.{key}"),
                go_strings(&list),
                &format!("if '*' is present, must not specify other {what}s"),
            ));
        }
    }
    let namespaces = get_str_list(rule, "namespaces", path, errs);
    let cluster_scope = get_bool(rule, "clusterScope", path, errs).unwrap_or(false);
    if namespaces.is_empty() && !cluster_scope {
        errs.push(FieldError::required(
            format!("{path}.namespaces"),
            "resource rules that are not cluster scoped must supply at least one namespace",
        ));
    } else if namespaces.contains(&"*") {
        if namespaces.len() > 1 {
            errs.push(invalid_raw(
                format!("{path}.namespaces"),
                go_strings(&namespaces),
                "if '*' is present, must not specify other namespaces",
            ));
        }
    } else {
        for (i, ns) in namespaces.iter().enumerate() {
            for msg in is_dns1123_label(ns) {
                errs.push(FieldError::invalid(
                    format!("{path}.namespaces[{i}]"),
                    *ns,
                    format!("{NS_ERR_INTRO}{msg}"),
                ));
            }
        }
    }
}

fn validate_non_resource_rule(rule: &Value, path: &str, errs: &mut FieldErrors) {
    validate_verbs(rule, path, errs);
    let urls = get_str_list(rule, "nonResourceURLs", path, errs);
    if urls.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.nonResourceURLs"),
            "nonResourceURLs must contain at least one value",
        ));
    } else if urls.contains(&"*") {
        if urls.len() > 1 {
            errs.push(invalid_raw(
                format!("{path}.nonResourceURLs"),
                go_strings(&urls),
                "if '*' is present, must not specify other non-resource URLs",
            ));
        }
    } else {
        for (i, u) in urls.iter().enumerate() {
            if let Some(msg) = non_resource_url_problem(u) {
                errs.push(FieldError::invalid(format!("{path}.nonResourceURLs[{i}]"), *u, msg));
            }
        }
    }
}

/// `ValidateNonResourceURLPath`.
fn non_resource_url_problem(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        return Some("must not be empty");
    }
    if p == "/" {
        return None;
    }
    if !p.starts_with('/') {
        return Some("must start with slash");
    }
    if p.contains(' ') {
        return Some("must not contain white-space");
    }
    if p.contains("//") {
        return Some("must not contain double slash");
    }
    let stars = p.matches('*').count();
    if stars > 1 || (stars == 1 && !p.ends_with("/*")) {
        return Some("wildcard can only do suffix matching");
    }
    None
}

/// Condition types are required and unique (both kinds).
fn validate_conditions(obj: &Value, errs: &mut FieldErrors) {
    let Some(conds) = obj.pointer("/status/conditions").and_then(Value::as_array) else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    for (i, c) in conds.iter().enumerate() {
        let t = c.str_of("type");
        if !seen.insert(t.to_string()) {
            errs.push(FieldError::duplicate(format!("status.conditions[{i}].type"), t));
        }
        if t.is_empty() {
            errs.push(FieldError::required(
                format!("status.conditions[{i}].type"),
                "must not be empty",
            ));
        }
    }
}

/// `ValidatePriorityLevelConfiguration` (beyond ObjectMeta).
pub fn validate_priority_level(obj: &Value, errs: &mut FieldErrors) {
    let name = obj.str_at("/metadata/name");
    if obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key("flowcontrol.k8s.io/v1beta3-preserve-zero-concurrency-shares"))
    {
        errs.push(FieldError::forbidden(
            "metadata.annotations",
            "annotation 'flowcontrol.k8s.io/v1beta3-preserve-zero-concurrency-shares' is forbidden",
        ));
    }
    let Some(spec) = spec_of(obj, errs) else { return };
    let ty = get_str(spec, "type", "spec", errs).unwrap_or("");
    if (name == EXEMPT) != (ty == "Exempt") {
        errs.push(FieldError::invalid(
            "spec.type",
            ty,
            "type must be 'Exempt' if and only if name is 'exempt'",
        ));
    }
    let has = |k: &str| spec.get(k).is_some_and(|v| !v.is_null());
    match ty {
        "Exempt" => {
            if has("limited") {
                errs.push(FieldError::forbidden(
                    "spec.limited",
                    "must be nil if the type is not Limited",
                ));
            }
            if let Some(e) = get_obj(spec, "exempt", "spec", errs) {
                validate_shares_and_lendable(e, "spec.exempt", errs);
            }
        }
        "Limited" => {
            if has("exempt") {
                errs.push(FieldError::forbidden(
                    "spec.exempt",
                    "must be nil if the type is Limited",
                ));
            }
            match get_obj(spec, "limited", "spec", errs) {
                None => errs.push(FieldError::required(
                    "spec.limited",
                    "must not be empty when type is Limited",
                )),
                Some(l) => validate_limited(l, errs),
            }
        }
        other => errs.push(FieldError::not_supported("spec.type", other, ENABLEMENTS)),
    }
    if let Some(mand) = bootstrap().mandatory("PriorityLevelConfiguration", name) {
        let want = mand.get("spec").cloned().unwrap_or(Value::Null);
        let (mut have, mut want) = (spec.clone(), want);
        let detail = if name == EXEMPT {
            // Operators may tune the exempt level's shares and lending.
            for s in [&mut have, &mut want] {
                if let Some(m) = s.as_object_mut() {
                    m.remove("exempt");
                }
            }
            format!("spec of '{name}' except the 'spec.exempt' field must equal the fixed value")
        } else {
            format!("spec of '{name}' must equal the fixed value")
        };
        if !spec_equal(&have, &want) {
            errs.push(invalid_raw("spec", spec.to_string(), &detail));
        }
    }
    validate_conditions(obj, errs);
}

fn validate_shares_and_lendable(o: &Value, path: &str, errs: &mut FieldErrors) {
    if let Some(n) = get_i64(o, "nominalConcurrencyShares", path, errs).filter(|n| *n < 0) {
        errs.push(FieldError::invalid(
            format!("{path}.nominalConcurrencyShares"),
            n,
            "must be a non-negative integer",
        ));
    }
    if let Some(p) = get_i64(o, "lendablePercent", path, errs).filter(|p| !(0..=100).contains(p)) {
        errs.push(FieldError::invalid(
            format!("{path}.lendablePercent"),
            p,
            "must be between 0 and 100, inclusive",
        ));
    }
}

fn validate_limited(l: &Value, errs: &mut FieldErrors) {
    let path = "spec.limited";
    validate_shares_and_lendable(l, path, errs);
    if let Some(b) = get_i64(l, "borrowingLimitPercent", path, errs).filter(|b| *b < 0) {
        errs.push(FieldError::invalid(
            format!("{path}.borrowingLimitPercent"),
            b,
            "if specified, must be a non-negative integer",
        ));
    }
    let lr_path = format!("{path}.limitResponse");
    let empty = json!({});
    let lr = get_obj(l, "limitResponse", path, errs).unwrap_or(&empty);
    let has_queuing = lr.get("queuing").is_some_and(|v| !v.is_null());
    match get_str(lr, "type", &lr_path, errs).unwrap_or("") {
        "Reject" => {
            if has_queuing {
                errs.push(FieldError::forbidden(
                    format!("{lr_path}.queuing"),
                    "must be nil if limited.limitResponse.type is not Limited",
                ));
            }
        }
        "Queue" => match get_obj(lr, "queuing", &lr_path, errs) {
            None => errs.push(FieldError::required(
                format!("{lr_path}.queuing"),
                "must not be empty if limited.limitResponse.type is Limited",
            )),
            Some(q) => validate_queuing(q, &format!("{lr_path}.queuing"), errs),
        },
        other => errs.push(FieldError::not_supported(
            format!("{lr_path}.type"),
            other,
            LIMIT_RESPONSES,
        )),
    }
}

fn validate_queuing(q: &Value, path: &str, errs: &mut FieldErrors) {
    let qll = get_i64(q, "queueLengthLimit", path, errs).unwrap_or(0);
    if qll <= 0 {
        errs.push(FieldError::invalid(
            format!("{path}.queueLengthLimit"),
            qll,
            "must be positive",
        ));
    }
    let queues = get_i64(q, "queues", path, errs).unwrap_or(0);
    if queues <= 0 {
        errs.push(FieldError::invalid(
            format!("{path}.queues"),
            queues,
            "must be positive",
        ));
    } else if queues > MAX_QUEUES {
        errs.push(FieldError::invalid(
            format!("{path}.queues"),
            queues,
            format!("must not be greater than {MAX_QUEUES}"),
        ));
    }
    let hand = get_i64(q, "handSize", path, errs).unwrap_or(0);
    if hand <= 0 {
        errs.push(FieldError::invalid(
            format!("{path}.handSize"),
            hand,
            "must be positive",
        ));
    } else if hand > queues {
        errs.push(FieldError::invalid(
            format!("{path}.handSize"),
            hand,
            format!("should not be greater than queues ({queues})"),
        ));
    } else if required_entropy_bits(queues, hand) > MAX_HASH_BITS {
        errs.push(FieldError::invalid(
            format!("{path}.handSize"),
            hand,
            format!(
                "required entropy bits of deckSize {queues} and handSize {hand} should not be greater than {MAX_HASH_BITS}"
            ),
        ));
    }
}

/// FlowSchemas in matching order: precedence, then name (`FlowSchemaSequence`).
pub fn by_precedence(a: &Value, b: &Value) -> Ordering {
    let key = |v: &Value| {
        (
            v.pointer("/spec/matchingPrecedence")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    };
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs_of(f: fn(&Value, &mut FieldErrors), obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        f(obj, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn bootstrap_objects_are_valid_and_complete() {
        let b = bootstrap();
        assert_eq!(b.mandatory_priority_levels.len(), 2);
        assert_eq!(b.mandatory_flow_schemas.len(), 2);
        assert_eq!(b.suggested_priority_levels.len(), 6);
        assert_eq!(b.suggested_flow_schemas.len(), 11);
        for o in b.mandatory_priority_levels.iter().chain(&b.suggested_priority_levels) {
            let mut d = o.clone();
            default_priority_level(&mut d);
            assert_eq!(&d, o, "bootstrap objects are already defaulted");
            assert_eq!(errs_of(validate_priority_level, o), Vec::<String>::new(), "{o}");
        }
        for o in b.mandatory_flow_schemas.iter().chain(&b.suggested_flow_schemas) {
            let mut d = o.clone();
            default_flow_schema(&mut d);
            assert_eq!(&d, o);
            assert_eq!(errs_of(validate_flow_schema, o), Vec::<String>::new(), "{o}");
        }
    }

    #[test]
    fn defaults_fill_queuing_and_shares() {
        let mut pl =
            json!({"spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {}}}}});
        default_priority_level(&mut pl);
        assert_eq!(
            pl["spec"]["limited"],
            json!({"nominalConcurrencyShares": 30, "lendablePercent": 0,
                   "limitResponse": {"type": "Queue", "queuing": {"handSize": 8, "queues": 64, "queueLengthLimit": 50}}})
        );
        let mut fs = json!({"spec": {}});
        default_flow_schema(&mut fs);
        assert_eq!(fs["spec"]["matchingPrecedence"], 1000);
    }

    #[test]
    fn validation_messages_are_upstreams() {
        let fs = json!({"metadata": {"name": "x"}, "spec": {
            "matchingPrecedence": 1,
            "distinguisherMethod": {"type": "ByColour"},
            "priorityLevelConfiguration": {"name": ""},
            "rules": [{"subjects": [], "resourceRules": [{"verbs": ["get", "fly"], "apiGroups": ["*", "apps"], "resources": [], "namespaces": ["Bad_NS"]}],
                       "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["/a/*/b"]}]}]}});
        let got = errs_of(validate_flow_schema, &fs);
        for want in [
            "spec.matchingPrecedence: Invalid value: 1: only the schema named 'exempt' may have matchingPrecedence 1",
            "spec.distinguisherMethod.type: Unsupported value: &flowcontrol.FlowDistinguisherMethod{Type:\"ByColour\"}: supported values: \"ByNamespace\", \"ByUser\"",
            "spec.priorityLevelConfiguration.name: Required value: must reference a priority level",
            "spec.rules[0].subjects: Required value: subjects must contain at least one value",
            "spec.rules[0].resourceRules[0].verbs: Unsupported value: []string{\"get\", \"fly\"}: supported values:",
            "spec.rules[0].resourceRules[0].apiGroups: Invalid value: []string{\"*\", \"apps\"}: if '*' is present, must not specify other api groups",
            "spec.rules[0].resourceRules[0].resources: Required value: resource rules must supply at least one resource",
            "spec.rules[0].resourceRules[0].namespaces[0]: Invalid value: \"Bad_NS\": each member of this list must be '*' or a DNS-1123 label; ",
            "spec.rules[0].nonResourceRules[0].nonResourceURLs[0]: Invalid value: \"/a/*/b\": wildcard can only do suffix matching",
        ] {
            assert!(got.iter().any(|g| g.starts_with(want)), "missing {want:?} in {got:#?}");
        }
        let pl = json!({"metadata": {"name": "p"}, "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": -1, "lendablePercent": 101,
            "limitResponse": {"type": "Queue", "queuing": {"queues": 4, "handSize": 5, "queueLengthLimit": 0}}}}});
        let got = errs_of(validate_priority_level, &pl);
        for want in [
            "spec.limited.nominalConcurrencyShares: Invalid value: -1: must be a non-negative integer",
            "spec.limited.lendablePercent: Invalid value: 101: must be between 0 and 100, inclusive",
            "spec.limited.limitResponse.queuing.queueLengthLimit: Invalid value: 0: must be positive",
            "spec.limited.limitResponse.queuing.handSize: Invalid value: 5: should not be greater than queues (4)",
        ] {
            assert!(got.contains(&want.to_string()), "missing {want:?} in {got:#?}");
        }
        let entropy = json!({"metadata": {"name": "p"}, "spec": {"type": "Limited", "limited": {
            "limitResponse": {"type": "Queue", "queuing": {"queues": 1000000, "handSize": 8, "queueLengthLimit": 5}}}}});
        assert!(errs_of(validate_priority_level, &entropy)
            .iter()
            .any(|e| e
                .contains("required entropy bits of deckSize 1000000 and handSize 8 should not be greater than 60")));
    }

    #[test]
    fn mandatory_objects_keep_their_specs() {
        let mut catch_all = bootstrap().mandatory("FlowSchema", CATCH_ALL).unwrap().clone();
        catch_all["spec"]["matchingPrecedence"] = json!(9000);
        assert!(errs_of(validate_flow_schema, &catch_all)
            .iter()
            .any(|e| e.ends_with("spec of 'catch-all' must equal the fixed value")));
        // The exempt level's shares may change; its type may not.
        let mut exempt = bootstrap()
            .mandatory("PriorityLevelConfiguration", EXEMPT)
            .unwrap()
            .clone();
        exempt["spec"]["exempt"]["nominalConcurrencyShares"] = json!(10);
        assert_eq!(errs_of(validate_priority_level, &exempt), Vec::<String>::new());
    }

    #[test]
    fn flow_schemas_sort_by_precedence_then_name() {
        let fs = |n: &str, p: i64| json!({"metadata": {"name": n}, "spec": {"matchingPrecedence": p}});
        let mut v = [fs("b", 800), fs("a", 800), fs("z", 1)];
        v.sort_by(by_precedence);
        let names: Vec<&str> = v.iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["z", "a", "b"]);
    }
}
