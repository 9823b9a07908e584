//! Structural-schema work on custom resources: validation against `openAPIV3Schema` with
//! kube-openapi's messages and paths, pruning of unknown fields, and defaulting.
//!
//! Schemas are the CRD's JSON (`properties`, `items`, `additionalProperties`, `x-kubernetes-*`);
//! `metadata` at the root is ObjectMeta (validated by the generic store), `apiVersion`/`kind`
//! are always kept.

use crate::error::field::{join, FieldError, FieldErrors};
use serde_json::Value;

fn flag(s: &Value, key: &str) -> bool {
    s.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The schema of a property under `s` (named property, else `additionalProperties` schema).
fn child<'a>(s: &'a Value, key: &str) -> Option<&'a Value> {
    if let Some(p) = s.get("properties").and_then(|p| p.get(key)) {
        return Some(p);
    }
    match s.get("additionalProperties") {
        Some(a) if a.is_object() => Some(a),
        _ => None,
    }
}

/// Whether the fields of an object at `s` are kept as given.
fn keeps_unknown(s: &Value) -> bool {
    flag(s, "x-kubernetes-preserve-unknown-fields")
        || s.get("additionalProperties")
            .is_some_and(|a| a.is_object() || a == &Value::Bool(true))
}

/// Drop fields the schema does not declare. `root`: top level (apiVersion/kind/metadata kept).
pub fn prune(s: &Value, v: &mut Value, root: bool) {
    let embedded = flag(s, "x-kubernetes-embedded-resource");
    match v {
        Value::Object(m) => {
            let keep_all = keeps_unknown(s);
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let meta_like = (root || embedded) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
                match child(s, &k) {
                    Some(cs) if !(root && k == "metadata") => {
                        if let Some(cv) = m.get_mut(&k) {
                            prune(cs, cv, false);
                        }
                    }
                    _ if meta_like && embedded && !root && k == "metadata" => {
                        prune_embedded_meta(m.get_mut(&k));
                    }
                    _ if meta_like => {}
                    None if !keep_all => {
                        m.remove(&k);
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for it in items {
                    prune(is, it, false);
                }
            }
        }
        _ => {}
    }
}

/// ObjectMeta's JSON fields.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Embedded resources' metadata keeps only ObjectMeta's fields.
fn prune_embedded_meta(m: Option<&mut Value>) {
    if let Some(Value::Object(m)) = m {
        m.retain(|k, _| OBJECT_META_FIELDS.contains(&k.as_str()));
    }
}

/// Collect unknown field paths (for `fieldValidation`), as upstream prints them.
pub fn unknown(s: &Value, v: &Value, path: &str, root: bool, out: &mut Vec<String>) {
    let embedded = flag(s, "x-kubernetes-embedded-resource");
    match v {
        Value::Object(m) => {
            let keep_all = keeps_unknown(s);
            for (k, cv) in m {
                if (root || embedded) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    // Metadata is ObjectMeta's (upstream's objectmeta coercion names its unknown
                    // fields too).
                    if let (Value::Object(meta), "metadata") = (cv, k.as_str()) {
                        let at = join(path, k);
                        out.extend(
                            meta.keys()
                                .filter(|f| !OBJECT_META_FIELDS.contains(&f.as_str()))
                                .map(|f| join(&at, f)),
                        );
                    }
                    continue;
                }
                match child(s, k) {
                    Some(cs) => unknown(cs, cv, &join(path, k), false, out),
                    None if !keep_all => out.push(join(path, k)),
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for (i, it) in items.iter().enumerate() {
                    unknown(is, it, &format!("{path}[{i}]"), false, out);
                }
            }
        }
        _ => {}
    }
}

/// Apply `default`s: missing properties with a default get it (and are defaulted in turn);
/// nulls in non-nullable fields with a default become the default, as upstream.
pub fn default(s: &Value, v: &mut Value, root: bool) {
    match v {
        Value::Object(m) => {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, ps) in props {
                    if root && k == "metadata" {
                        continue;
                    }
                    if let Some(d) = ps.get("default") {
                        let missing = match m.get(k) {
                            None => true,
                            Some(Value::Null) => !flag(ps, "nullable"),
                            _ => false,
                        };
                        if missing {
                            m.insert(k.clone(), d.clone());
                        }
                    }
                }
            }
            for (k, cv) in m.iter_mut() {
                if root && k == "metadata" {
                    continue;
                }
                if let Some(cs) = child(s, k) {
                    default(cs, cv, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for it in items {
                    default(is, it, false);
                }
            }
        }
        _ => {}
    }
}

/// The OpenAPI type name of a JSON value (kube-openapi's wording in type errors).
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(want: &str, v: &Value) -> bool {
    match want {
        "integer" => type_name(v) == "integer",
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

/// Validate `v` against `s`; errors carry upstream's paths and messages.
pub fn validate(s: &Value, v: &Value, errs: &mut FieldErrors) {
    walk(s, v, "", true, errs);
}

/// A composition error (`anyOf`/`oneOf`/`allOf`/`not`): kube-openapi raises these as plain
/// errors without a field, which apiextensions reports at the nil path with the value `""`,
/// naming the validated value's path (Go's `%q`) in the message.
fn composite(path: &str, what: &str) -> FieldError {
    FieldError::invalid("<nil>", "", format!("{} must {what}", go_quote(path)))
}

/// Go's `%q` of a field path.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// `anyOf`, `oneOf`, `allOf` and `not` as kube-openapi's schemaPropsValidator: each
/// sub-schema validates the same value; of failing alternatives the one with the most passed
/// checks (kube-openapi's MatchCount, the first on a tie) contributes its errors after the
/// composition's own error. Returns the passed checks merged in.
fn compositions(s: &Value, v: &Value, path: &str, root: bool, errs: &mut FieldErrors) -> usize {
    let subs = |k: &str| {
        s.get(k)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let run = |sub: &Value| {
        let mut e = Vec::new();
        let m = walk(sub, v, path, root, &mut e);
        (e, m)
    };
    let mut matched = 0;
    let any = subs("anyOf");
    if !any.is_empty() {
        let mut best: Option<(FieldErrors, usize)> = None;
        let mut ok = None;
        for sub in any {
            let (e, m) = run(sub);
            if e.is_empty() {
                ok = Some(m);
                best = None;
                break;
            }
            if best.as_ref().is_none_or(|(_, bm)| m > *bm) {
                best = Some((e, m));
            }
        }
        if ok.is_none() {
            errs.push(composite(path, "validate at least one schema (anyOf)"));
        }
        if let Some((e, m)) = best {
            errs.extend(e);
            matched += m;
        } else {
            matched += ok.unwrap_or(0);
        }
    }
    let one = subs("oneOf");
    if !one.is_empty() {
        let mut best: Option<(FieldErrors, usize)> = None;
        let mut first_ok = None;
        let mut valid = 0;
        for sub in one {
            let (e, m) = run(sub);
            if e.is_empty() {
                valid += 1;
                best = None;
                first_ok.get_or_insert(m);
                continue;
            }
            if valid == 0 && best.as_ref().is_none_or(|(_, bm)| m > *bm) {
                best = Some((e, m));
            }
        }
        if valid != 1 {
            let found = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            errs.push(composite(
                path,
                &format!("validate one and only one schema (oneOf). {found}"),
            ));
            if let Some((e, m)) = best {
                errs.extend(e);
                matched += m;
            }
        } else {
            matched += first_ok.unwrap_or(0);
        }
    }
    let all = subs("allOf");
    if !all.is_empty() {
        let mut valid = 0;
        for sub in all {
            let (e, m) = run(sub);
            if e.is_empty() {
                valid += 1;
            }
            errs.extend(e);
            matched += m;
        }
        if valid != all.len() {
            let none = if valid == 0 { ". None validated" } else { "" };
            errs.push(composite(path, &format!("validate all the schemas (allOf){none}")));
        }
    }
    if let Some(not) = s.get("not") {
        if run(not).0.is_empty() {
            errs.push(composite(path, "not validate the schema (not)"));
        }
    }
    matched
}

fn body_path(path: &str) -> &str {
    if path.is_empty() {
        "<nil>"
    } else {
        path
    }
}

/// Validates `v` at `path`; returns how many checks passed (kube-openapi's MatchCount, which
/// picks the alternative whose errors a failed `anyOf`/`oneOf` reports).
fn walk(s: &Value, v: &Value, path: &str, root: bool, errs: &mut FieldErrors) -> usize {
    let bp = body_path(path);
    let before = errs.len();
    let mut checks = 0;
    if v.is_null() {
        if flag(s, "nullable") {
            return 1;
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            errs.push(FieldError::type_invalid(
                path,
                Value::Null,
                format!("{bp} in body must be of type {t}: \"null\""),
            ));
        }
        return 0;
    }
    let int_or_string = flag(s, "x-kubernetes-int-or-string");
    if int_or_string {
        if !(v.is_string() || type_name(v) == "integer") {
            errs.push(FieldError::type_invalid(
                path,
                type_name(v),
                format!("{bp} in body must be of type integer,string: \"{}\"", type_name(v)),
            ));
            // kube-openapi still runs the compositions (int-or-string's `anyOf` of both types).
            compositions(s, v, path, root, errs);
            return 0;
        }
        checks += 1;
    } else if let Some(t) = s.get("type").and_then(Value::as_str) {
        if !type_ok(t, v) {
            // kube-openapi reports the value's type as the bad value.
            errs.push(FieldError::type_invalid(
                path,
                type_name(v),
                format!("{bp} in body must be of type {t}: \"{}\"", type_name(v)),
            ));
            compositions(s, v, path, root, errs);
            return 0;
        }
        checks += 1;
    }
    let mut matched = compositions(s, v, path, root, errs);
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            let list: Vec<String> = e.iter().map(crate::error::field::render_value).collect();
            let mut fe = FieldError::not_supported(path, v.clone(), &[]);
            fe.detail = format!("supported values: {}", list.join(", "));
            errs.push(fe);
        }
    }
    match v {
        Value::String(st) => string_checks(s, st, v, path, bp, errs),
        Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                number_checks(s, f, v, path, bp, errs);
            }
        }
        Value::Array(items) => {
            let n = items.len();
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                if n as u64 > max {
                    errs.push(FieldError::too_many(path, n, max as usize));
                }
            }
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (n as u64) < min {
                    errs.push(FieldError::invalid(
                        path,
                        v.clone(),
                        format!("{bp} in body should have at least {min} items"),
                    ));
                }
            }
            if flag(s, "uniqueItems") || s.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
                for (i, it) in items.iter().enumerate() {
                    if items[..i].contains(it) {
                        errs.push(FieldError::duplicate(format!("{path}[{i}]"), it.clone()));
                    }
                }
            }
            if let Some(is) = s.get("items") {
                for (i, it) in items.iter().enumerate() {
                    matched += walk(is, it, &format!("{path}[{i}]"), false, errs);
                }
            }
        }
        Value::Object(m) => {
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if m.contains_key(r) {
                        checks += 1;
                    } else {
                        errs.push(FieldError::required(join(path, r), ""));
                    }
                }
            }
            let n = m.len();
            if let Some(max) = s.get("maxProperties").and_then(Value::as_u64) {
                if n as u64 > max {
                    errs.push(FieldError::too_many(path, n, max as usize));
                }
            }
            if let Some(min) = s.get("minProperties").and_then(Value::as_u64) {
                if (n as u64) < min {
                    errs.push(FieldError::invalid(
                        path,
                        v.clone(),
                        format!("{bp} in body should have at least {min} properties"),
                    ));
                }
            }
            let embedded = flag(s, "x-kubernetes-embedded-resource");
            if embedded {
                for k in ["apiVersion", "kind"] {
                    if m.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                        errs.push(FieldError::required(join(path, k), "must not be empty"));
                    }
                }
            }
            for (k, cv) in m {
                if (root || embedded) && k == "metadata" {
                    continue;
                }
                if let Some(cs) = child(s, k) {
                    matched += walk(cs, cv, &join(path, k), false, errs);
                }
            }
        }
        _ => {}
    }
    // Every value-level constraint that added no error counts as one match.
    let constraints = VALUE_KEYWORDS.iter().filter(|k| s.get(**k).is_some()).count();
    if errs.len() == before {
        checks += constraints;
    }
    checks + matched
}

/// The value validations kube-openapi counts in MatchCount when they pass.
const VALUE_KEYWORDS: &[&str] = &[
    "enum",
    "maxLength",
    "minLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "multipleOf",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
];

fn string_checks(s: &Value, st: &str, v: &Value, path: &str, bp: &str, errs: &mut FieldErrors) {
    let len = st.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
        if len > max {
            errs.push(FieldError::too_long(path, max as usize));
        }
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
        if len < min {
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!("{bp} in body should be at least {min} chars long"),
            ));
        }
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        if let Ok(re) = regex::Regex::new(p) {
            if !re.is_match(st) {
                errs.push(FieldError::invalid(
                    path,
                    v.clone(),
                    format!("{bp} in body should match '{p}'"),
                ));
            }
        }
    }
    if let Some(f) = s.get("format").and_then(Value::as_str) {
        if !format_ok(f, st) {
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!(
                    "{bp} in body must be of type {f}: {}",
                    crate::error::field::render_value(v)
                ),
            ));
        }
    }
}

fn number_checks(s: &Value, f: f64, v: &Value, path: &str, bp: &str, errs: &mut FieldErrors) {
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    let show = |x: f64| {
        if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{}", x as i64)
        } else {
            format!("{x}")
        }
    };
    if let Some(min) = num("minimum") {
        if flag(s, "exclusiveMinimum") {
            if f <= min {
                errs.push(FieldError::invalid(
                    path,
                    v.clone(),
                    format!("{bp} in body should be greater than {}", show(min)),
                ));
            }
        } else if f < min {
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!("{bp} in body should be greater than or equal to {}", show(min)),
            ));
        }
    }
    if let Some(max) = num("maximum") {
        if flag(s, "exclusiveMaximum") {
            if f >= max {
                errs.push(FieldError::invalid(
                    path,
                    v.clone(),
                    format!("{bp} in body should be less than {}", show(max)),
                ));
            }
        } else if f > max {
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!("{bp} in body should be less than or equal to {}", show(max)),
            ));
        }
    }
    if let Some(m) = num("multipleOf") {
        if m != 0.0 && (f / m).fract() != 0.0 {
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                format!("{bp} in body should be a multiple of {}", show(m)),
            ));
        }
    }
}

/// The formats upstream's CRD validation checks (others are accepted as given).
fn format_ok(f: &str, s: &str) -> bool {
    use std::net::IpAddr;
    match f {
        "int-or-string" | "" => true,
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "ip" => s.parse::<IpAddr>().is_ok(),
        "cidr" => s
            .split_once('/')
            .is_some_and(|(a, m)| a.parse::<IpAddr>().is_ok() && m.parse::<u8>().is_ok()),
        "date-time" | "datetime" => crate::util::parse_rfc3339(s).is_some(),
        "date" => {
            let b = s.as_bytes();
            s.len() == 10 && b[4] == b'-' && b[7] == b'-' && s.chars().filter(|c| c.is_ascii_digit()).count() == 8
        }
        "email" => s
            .split_once('@')
            .is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')),
        "uuid" => uuid::Uuid::parse_str(s).is_ok() && s.len() == 36,
        "hostname" => {
            !s.is_empty()
                && s.len() <= 253
                && s.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                })
        }
        "byte" => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "port": {"x-kubernetes-int-or-string": true},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "opt": {"type": "string", "nullable": true},
            }},
        }})
    }

    fn messages(v: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&schema(), &v, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn messages_match_upstream() {
        assert_eq!(
            messages(json!({"spec": {"size": "x"}})),
            vec!["spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""]
        );
        assert_eq!(messages(json!({"spec": {}})), vec!["spec.size: Required value"]);
        assert_eq!(
            messages(json!({"spec": {"size": 11, "color": "green"}})),
            vec![
                "spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\"",
                "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"size": 1, "name": "ABCDEFG"}})),
            vec![
                "spec.name: Too long: may not be more than 5 bytes",
                "spec.name: Invalid value: \"ABCDEFG\": spec.name in body should match '^[a-z]+$'",
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"size": 1, "tags": ["a", "b", "c"]}})),
            vec!["spec.tags: Too many: 3: must have at most 2 items"]
        );
        assert!(messages(json!({"spec": {"size": 1, "port": "http", "opt": null}})).is_empty());
        assert_eq!(
            messages(json!({"spec": {"size": 1, "port": true}})),
            vec![
                "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""
            ]
        );
    }

    /// The CRD of tests/crd_compositions.rs; messages as kube-apiserver v1.33 prints them.
    fn compositions_schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object",
                "properties": {
                    "a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "integer"},
                    "size": {"type": "integer"}, "name": {"type": "string"},
                    "list": {"type": "array", "items": {"type": "object",
                        "properties": {"p": {"type": "integer"}, "q": {"type": "integer"}},
                        "oneOf": [{"required": ["p"]}, {"required": ["q"]}]}},
                },
                "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
                "anyOf": [{"required": ["c"]}, {"properties": {"size": {"minimum": 10}}, "required": ["size"]}],
                "allOf": [{"properties": {"name": {"maxLength": 3}}}, {"properties": {"name": {"pattern": "^[a-z]+$"}}}],
                "not": {"required": ["name", "size"]},
            },
            "top": {"type": "integer"},
        }, "anyOf": [{"required": ["spec"]}, {"required": ["top"]}]})
    }

    fn composition_messages(v: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&compositions_schema(), &v, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn compositions_match_upstream() {
        assert_eq!(
            composition_messages(json!({"spec": {}})),
            vec![
                "<nil>: Invalid value: \"\": \"spec\" must validate at least one schema (anyOf)",
                "spec.c: Required value",
                "<nil>: Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found none valid",
                "spec.a: Required value",
            ]
        );
        assert_eq!(
            composition_messages(json!({"spec": {"a": "x", "b": 1, "c": 1}})),
            vec!["<nil>: Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found 2 valid alternatives"]
        );
        assert_eq!(
            composition_messages(json!({"spec": {"a": "x", "size": 5, "name": "ABCDE"}})),
            vec![
                "<nil>: Invalid value: \"\": \"spec\" must validate at least one schema (anyOf)",
                "spec.size: Invalid value: 5: spec.size in body should be greater than or equal to 10",
                "spec.name: Too long: may not be more than 3 bytes",
                "spec.name: Invalid value: \"ABCDE\": spec.name in body should match '^[a-z]+$'",
                "<nil>: Invalid value: \"\": \"spec\" must validate all the schemas (allOf). None validated",
                "<nil>: Invalid value: \"\": \"spec\" must not validate the schema (not)",
            ]
        );
        assert_eq!(
            composition_messages(json!({"spec": {"a": "x", "c": 1, "list": [{}, {"p": 1, "q": 2}, {"p": 1}]}})),
            vec![
                "<nil>: Invalid value: \"\": \"spec.list[0]\" must validate one and only one schema (oneOf). Found none valid",
                "spec.list[0].p: Required value",
                "<nil>: Invalid value: \"\": \"spec.list[1]\" must validate one and only one schema (oneOf). Found 2 valid alternatives",
            ]
        );
        assert_eq!(
            composition_messages(json!({"apiVersion": "example.com/v1", "kind": "Widget"})),
            vec![
                "<nil>: Invalid value: \"\": \"\" must validate at least one schema (anyOf)",
                "spec: Required value",
            ]
        );
        assert!(composition_messages(json!({"top": 1})).is_empty());
        // controller-gen's int-or-string: the type error, then the anyOf's first alternative.
        let port = json!({"type": "object", "properties": {"port":
            {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}});
        let mut errs = Vec::new();
        validate(&port, &json!({"port": true}), &mut errs);
        validate(&port, &json!({"port": 80}), &mut errs);
        validate(&port, &json!({"port": "http"}), &mut errs);
        assert_eq!(
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            vec![
                "port: Invalid value: \"boolean\": port in body must be of type integer,string: \"boolean\"",
                "<nil>: Invalid value: \"\": \"port\" must validate at least one schema (anyOf)",
                "port: Invalid value: \"boolean\": port in body must be of type integer: \"boolean\"",
            ]
        );
        assert!(composition_messages(json!({"spec": {"a": "x", "c": 1, "name": "abc"}})).is_empty());
    }

    #[test]
    fn prunes_and_defaults() {
        let mut v = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a", "x": 1},
            "spec": {"size": 1, "bogus": true, "free": {"any": {"thing": 1}}}, "extra": 1});
        let mut unk = Vec::new();
        unknown(&schema(), &v, "", true, &mut unk);
        assert_eq!(unk, vec!["extra", "metadata.x", "spec.bogus"]);
        prune(&schema(), &mut v, true);
        default(&schema(), &mut v, true);
        assert_eq!(
            v,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a", "x": 1},
                "spec": {"size": 1, "color": "red", "free": {"any": {"thing": 1}}}})
        );
    }
}
