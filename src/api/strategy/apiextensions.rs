//! The CustomResourceDefinition kind: defaulting and validation (upstream's
//! `apiextensions/validation` and v1 defaults, with upstream's field paths and messages), and
//! the cleanup finalizer its first delete adds. Serving the defined custom resources is
//! `crate::apiext`.

use super::{StatusWrite, Strategy};
use crate::api::ResourceDef;
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use serde_json::{json, Value};

/// Upstream's finalizer holding a deleted CRD until its instances are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The CRD kind's behaviour (the row of `apiextensions.k8s.io/v1 customresourcedefinitions`).
pub struct CustomResourceDefinitions;

pub static CUSTOM_RESOURCE_DEFINITION: CustomResourceDefinitions = CustomResourceDefinitions;

impl Strategy for CustomResourceDefinitions {
    fn normalize(&self, _def: &ResourceDef, obj: &mut Value) {
        default_crd(obj);
    }
    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut FieldErrors) {
        validate_crd(obj, old, errs);
    }
    fn before_delete(&self, obj: &mut Value) -> bool {
        mark_for_deletion(obj)
    }
    fn status_write(&self) -> StatusWrite {
        // Upstream resets the metadata against itself here, so status writes keep its changes.
        StatusWrite::AllButSpec
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// On the first delete of a CRD (upstream's CRD REST Delete): the cleanup finalizer and
/// `Terminating=True` (InstanceDeletionPending), so the delete marks the CRD and the
/// controller purges its instances before the CRD goes.
fn mark_for_deletion(obj: &mut Value) -> bool {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return false;
    }
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return false;
    };
    let fins = meta.entry("finalizers").or_insert_with(|| Value::Array(Vec::new()));
    if !fins.is_array() {
        *fins = Value::Array(Vec::new());
    }
    if let Some(a) = fins.as_array_mut() {
        if !a.iter().any(|f| f == CLEANUP_FINALIZER) {
            a.push(Value::String(CLEANUP_FINALIZER.into()));
        }
    }
    let condition = json!({
        "type": "Terminating", "status": "True", "lastTransitionTime": crate::util::now_rfc3339(),
        "reason": "InstanceDeletionPending",
        "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
    });
    if !obj["status"].is_object() {
        obj["status"] = json!({});
    }
    match obj["status"]["conditions"].as_array_mut() {
        Some(cs) => {
            cs.retain(|c| c["type"] != "Terminating");
            cs.push(condition);
        }
        None => obj["status"]["conditions"] = json!([condition]),
    }
    true
}

/// v1 defaults: names.singular/listKind, conversion strategy, per-schema nothing else.
pub fn default_crd(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names.str_of("kind").to_string();
        if names.str_of("singular").is_empty() && !kind.is_empty() {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names.str_of("listKind").is_empty() && !kind.is_empty() {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    if !spec.get("conversion").is_some_and(Value::is_object) {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
}

fn dns1035_label(n: &str) -> bool {
    let b = n.as_bytes();
    !n.is_empty()
        && n.len() <= 63
        && b[0].is_ascii_lowercase()
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.ends_with('-')
}

fn dns1123_subdomain(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `ValidateCustomResourceDefinition` (create) and the update rules we enforce.
pub fn validate_crd(obj: &Value, old: Option<&Value>, errs: &mut FieldErrors) {
    let group = obj.str_at("/spec/group");
    let plural = obj.str_at("/spec/names/plural");
    let name = obj.str_at("/metadata/name");
    if name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !dns1123_subdomain(group) {
        errs.push(FieldError::invalid("spec.group", group, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid(
            "spec.group",
            group,
            "should be a domain with at least one dot",
        ));
    }
    match obj.str_at("/spec/scope") {
        "" => errs.push(FieldError::required("spec.scope", "")),
        "Cluster" | "Namespaced" => {}
        other => errs.push(FieldError::not_supported(
            "spec.scope",
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    let versions = obj.arr_at("/spec/versions").to_vec();
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!([]),
            "must have exactly one version marked as storage version",
        ));
    }
    let mut storage = 0;
    let mut seen = std::collections::HashSet::new();
    let mut unique = true;
    // Upstream converts a CRD whose versions all carry the same schema to one top-level
    // `spec.validation` and reports its errors there.
    let first_schema = versions.first().and_then(|v| v.pointer("/schema/openAPIV3Schema"));
    let shared_schema = first_schema.is_some()
        && versions
            .iter()
            .all(|v| v.pointer("/schema/openAPIV3Schema") == first_schema);
    for (i, v) in versions.iter().enumerate() {
        let vp = format!("spec.versions[{i}]");
        let vn = v.str_at("/name");
        if !seen.insert(vn.to_string()) {
            unique = false;
        }
        if !dns1035_label(vn) {
            errs.push(FieldError::invalid(format!("{vp}.name"), vn, DNS1035));
        }
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage += 1;
        }
        match v.pointer("/schema/openAPIV3Schema") {
            None => errs.push(FieldError::required(
                format!("{vp}.schema.openAPIV3Schema"),
                "schemas are required",
            )),
            // One schema shared by every version is checked once, at the path upstream's
            // internal form gives it (`spec.validation`).
            Some(_) if shared_schema && i > 0 => {}
            Some(sch) => {
                let path = if shared_schema {
                    "spec.validation.openAPIV3Schema".to_string()
                } else {
                    format!("{vp}.schema.openAPIV3Schema")
                };
                let before = errs.len();
                structural(sch, &path, true, errs);
                // CEL rules are only checked on an otherwise valid schema (as upstream).
                if errs.len() == before {
                    crate::cel::crd::check_schema(sch, &path, errs);
                }
            }
        }
        validate_columns(v, &vp, errs);
        if let Some(scale) = v.pointer("/subresources/scale") {
            let sp = format!("{vp}.subresources.scale");
            for (k, req) in [
                ("specReplicasPath", true),
                ("statusReplicasPath", true),
                ("labelSelectorPath", false),
            ] {
                let p = scale.str_at(&format!("/{k}"));
                if p.is_empty() {
                    if req {
                        errs.push(FieldError::required(format!("{sp}.{k}"), ""));
                    }
                } else if !p.starts_with('.') {
                    errs.push(FieldError::invalid(format!("{sp}.{k}"), p, "should be a json path"));
                }
            }
        }
    }
    if !unique {
        errs.push(FieldError::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must contain unique version names",
        ));
    }
    if storage != 1 && !versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    validate_names(obj, errs);
    match obj.str_at("/spec/conversion/strategy") {
        "" | "None" | "Webhook" => {}
        other => errs.push(FieldError::not_supported(
            "spec.conversion.strategy",
            other,
            &["None", "Webhook"],
        )),
    }
    validate_conversion(obj, errs);
    if let Some(old) = old {
        // Storage-affecting fields never change; scope and kind are fixed once established.
        let established = old
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
        let mut fixed = vec![];
        if established {
            fixed.extend([("/spec/scope", "spec.scope"), ("/spec/names/kind", "spec.names.kind")]);
        }
        fixed.extend([
            ("/spec/group", "spec.group"),
            ("/spec/names/plural", "spec.names.plural"),
        ]);
        for (p, f) in fixed {
            if old.pointer(p) != obj.pointer(p) {
                errs.push(FieldError::invalid(f, obj.str_at(p), "field is immutable"));
            }
        }
    }
    // status.storedVersions must name declared versions.
    if let Some(sv) = obj.pointer("/status/storedVersions").and_then(Value::as_array) {
        for (i, v) in sv.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            if !versions.iter().any(|x| x.str_at("/name") == v) && !versions.is_empty() {
                errs.push(FieldError::invalid(
                    format!("status.storedVersions[{i}]"),
                    v,
                    "must appear in spec.versions",
                ));
            }
        }
    }
}

const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// `spec.names`: required names, then `ValidateCustomResourceDefinitionNames`.
fn validate_names(obj: &Value, errs: &mut FieldErrors) {
    for f in ["plural", "singular", "kind", "listKind"] {
        if obj.str_at(&format!("/spec/names/{f}")).is_empty() {
            errs.push(FieldError::required(format!("spec.names.{f}"), ""));
        }
    }
    for f in ["plural", "singular"] {
        let v = obj.str_at(&format!("/spec/names/{f}"));
        if !v.is_empty() && !dns1035_label(v) {
            errs.push(FieldError::invalid(format!("spec.names.{f}"), v, DNS1035));
        }
    }
    for f in ["kind", "listKind"] {
        let v = obj.str_at(&format!("/spec/names/{f}"));
        if !v.is_empty() && !dns1035_label(&v.to_lowercase()) {
            errs.push(FieldError::invalid(
                format!("spec.names.{f}"),
                v,
                format!("may have mixed case, but should otherwise match: {DNS1035}"),
            ));
        }
    }
    for list in ["shortNames", "categories"] {
        for (i, n) in strs(obj, &format!("/spec/names/{list}")).iter().enumerate() {
            if !dns1035_label(n) {
                errs.push(FieldError::invalid(
                    format!("spec.names.{list}[{i}]"),
                    n.as_str(),
                    DNS1035,
                ));
            }
        }
    }
    let (kind, list_kind) = (obj.str_at("/spec/names/kind"), obj.str_at("/spec/names/listKind"));
    if !kind.is_empty() && kind == list_kind {
        errs.push(FieldError::invalid(
            "spec.names.listKind",
            list_kind,
            "kind and listKind may not be the same",
        ));
    }
}

fn strs(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// `additionalPrinterColumns[i]` (`ValidateCustomResourceColumnDefinition`).
fn validate_columns(v: &Value, vp: &str, errs: &mut FieldErrors) {
    const TYPES: &str = "boolean,date,integer,number,string";
    let Some(cols) = v.get("additionalPrinterColumns").and_then(Value::as_array) else {
        return;
    };
    for (i, c) in cols.iter().enumerate() {
        let cp = format!("{vp}.additionalPrinterColumns[{i}]");
        if c.str_at("/name").is_empty() {
            errs.push(FieldError::required(format!("{cp}.name"), ""));
        }
        match c.str_at("/type") {
            "" => errs.push(FieldError::required(
                format!("{cp}.type"),
                format!("must be one of {TYPES}"),
            )),
            t if !TYPES.split(',').any(|x| x == t) => errs.push(FieldError::invalid(
                format!("{cp}.type"),
                t,
                format!("must be one of {TYPES}"),
            )),
            _ => {}
        }
        if c.str_at("/jsonPath").is_empty() {
            errs.push(FieldError::required(format!("{cp}.jsonPath"), ""));
        }
    }
}

/// Structural schema rules (the common subset): a type everywhere it matters.
fn structural(s: &Value, path: &str, root: bool, errs: &mut FieldErrors) {
    let preserve = s.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
    let int_or_string = s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    let ty = s.str_of("type");
    if ty.is_empty() && !preserve && !int_or_string {
        let msg = if root {
            "must not be empty at the root"
        } else {
            "must not be empty for specified object fields"
        };
        errs.push(FieldError::required(format!("{path}.type"), msg));
    }
    if root && !ty.is_empty() && ty != "object" {
        errs.push(FieldError::invalid(
            format!("{path}.type"),
            ty,
            "must be object at the root",
        ));
    }
    if ty == "array" && s.get("items").is_none() {
        errs.push(FieldError::required(format!("{path}.items"), "must be specified"));
    }
    if let Some(rules) = s.get("x-kubernetes-validations").and_then(Value::as_array) {
        for (i, r) in rules.iter().enumerate() {
            let rule = r.str_of("rule");
            if rule.trim().is_empty() {
                errs.push(FieldError::required(
                    format!("{path}.x-kubernetes-validations[{i}].rule"),
                    "rule is not specified",
                ));
            }
        }
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, ps) in props {
            structural(ps, &format!("{path}.properties[{k}]"), false, errs);
        }
    }
    if let Some(is) = s.get("items") {
        if is.is_object() {
            structural(is, &format!("{path}.items"), false, errs);
        }
    }
    if let Some(a) = s.get("additionalProperties").filter(|a| a.is_object()) {
        if s.get("properties").is_some() {
            errs.push(FieldError::forbidden(
                format!("{path}.additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        structural(a, &format!("{path}.additionalProperties"), false, errs);
    }
}

/// Upstream's `validateCustomResourceConversion`; paths are the internal ones upstream reports
/// (`webhook.clientConfig` → `webhookClientConfig`, `webhook.conversionReviewVersions` →
/// `conversionReviewVersions`).
fn validate_conversion(obj: &Value, errs: &mut FieldErrors) {
    const CC: &str = "spec.conversion.webhookClientConfig";
    const CRV: &str = "spec.conversion.conversionReviewVersions";
    let cc = obj
        .pointer("/spec/conversion/webhook/clientConfig")
        .filter(|v| v.is_object());
    let versions = obj
        .pointer("/spec/conversion/webhook/conversionReviewVersions")
        .and_then(Value::as_array);
    if obj.str_at("/spec/conversion/strategy") != "Webhook" {
        if cc.is_some() {
            errs.push(FieldError::forbidden(
                CC,
                "should not be set when strategy is not set to Webhook",
            ));
        }
        if versions.is_some_and(|v| !v.is_empty()) {
            errs.push(FieldError::forbidden(
                CRV,
                "should not be set when strategy is not set to Webhook",
            ));
        }
        return;
    }
    match cc {
        None => errs.push(FieldError::required(CC, "required when strategy is set to Webhook")),
        Some(cc) => match (cc.get("url").and_then(Value::as_str), cc.get("service")) {
            (Some(url), None) => {
                if !url.starts_with("https://") {
                    errs.push(FieldError::invalid(
                        format!("{CC}.url"),
                        url,
                        "'https' is the only allowed URL scheme",
                    ));
                }
            }
            (None, Some(_)) => {}
            _ => errs.push(FieldError::required(CC, "exactly one of url or service is required")),
        },
    }
    let versions = versions.cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::required(CRV, ""));
        return;
    }
    let mut seen = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let v = v.as_str().unwrap_or("");
        if seen.contains(&v) {
            errs.push(FieldError::invalid(format!("{CRV}[{i}]"), v, "duplicate version"));
        }
        seen.push(v);
    }
    if !seen.iter().any(|v| matches!(*v, "v1" | "v1beta1")) {
        errs.push(FieldError::invalid(
            CRV,
            Value::Array(versions),
            "must include at least one of v1, v1beta1",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_rules() {
        let check = |conv: Value| {
            let crd = json!({"spec": {"conversion": conv}});
            let mut errs = Vec::new();
            validate_conversion(&crd, &mut errs);
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(
            check(json!({"strategy": "Webhook"})),
            vec![
                "spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
                "spec.conversion.conversionReviewVersions: Required value",
            ]
        );
        assert_eq!(
            check(json!({"strategy": "Webhook", "webhook": {"clientConfig": {"url": "http://x"}, "conversionReviewVersions": ["v9"]}})),
            vec![
                "spec.conversion.webhookClientConfig.url: Invalid value: \"http://x\": 'https' is the only allowed URL scheme",
                // (upstream prints the list as Go does, `[]string{"v9"}`; the shared renderer uses JSON)
                "spec.conversion.conversionReviewVersions: Invalid value: [\"v9\"]: must include at least one of v1, v1beta1",
            ]
        );
        assert!(check(json!({"strategy": "Webhook", "webhook": {"clientConfig": {"url": "https://x/c"}, "conversionReviewVersions": ["v1"]}})).is_empty());
        assert_eq!(
            check(json!({"strategy": "None", "webhook": {"clientConfig": {"url": "https://x"}}})),
            vec![
                "spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook"
            ]
        );
    }

    #[test]
    fn crd_rules() {
        let mut crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
        default_crd(&mut crd);
        let mut errs = Vec::new();
        validate_crd(&crd, None, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(crd["spec"]["names"]["listKind"], "WidgetList");
        crd["spec"]["versions"][0]["storage"] = json!(false);
        crd["metadata"]["name"] = json!("x.example.com");
        validate_crd(&crd, None, &mut errs);
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs[0],
            "metadata.name: Invalid value: \"x.example.com\": must be spec.names.plural+\".\"+spec.group"
        );
        assert!(
            msgs[1].starts_with("spec.versions: Invalid value: ")
                && msgs[1].ends_with("must have exactly one version marked as storage version")
        );
    }
}
