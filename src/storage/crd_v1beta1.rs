//! kube-apiserver stores CustomResourceDefinitions as `apiextensions.k8s.io/v1beta1` JSON (its
//! storage version, though v1beta1 is no longer served). Nothing above storage knows v1beta1,
//! so the conversion lives at the storage boundary, as upstream's storage codec does it:
//! v1beta1 → v1 on read, v1 → v1beta1 on write (apiextensions' `conversion.go`: identical
//! per-version schema/subresources/columns/selectableFields are hoisted to the top level).

use serde_json::{json, Map, Value};

pub const V1: &str = "apiextensions.k8s.io/v1";
pub const V1BETA1: &str = "apiextensions.k8s.io/v1beta1";

/// (v1 per-version field, v1beta1 top-level field).
const HOISTED: &[(&str, &str)] = &[
    ("schema", "validation"),
    ("subresources", "subresources"),
    ("additionalPrinterColumns", "additionalPrinterColumns"),
    ("selectableFields", "selectableFields"),
];

pub fn is_crd(v: &Value, api_version: &str) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && v.get("apiVersion").and_then(Value::as_str) == Some(api_version)
}

fn columns(v: &mut Value, from: &str, to: &str) {
    if let Some(cols) = v.as_array_mut() {
        for c in cols.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(p) = c.remove(from) {
                c.insert(to.into(), p);
            }
        }
    }
}

/// A stored v1beta1 CRD as v1.
pub fn to_v1(v: &mut Value) {
    v["apiVersion"] = json!(V1);
    let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let version = spec.remove("version");
    let mut versions = match spec.remove("versions") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => match version.as_ref().and_then(Value::as_str) {
            Some(n) => vec![json!({"name": n, "served": true, "storage": true})],
            None => Vec::new(),
        },
    };
    for (per_version, top) in HOISTED {
        if let Some(mut t) = spec.remove(*top).filter(|t| !t.is_null()) {
            if *top == "additionalPrinterColumns" {
                columns(&mut t, "JSONPath", "jsonPath");
            }
            for ver in versions.iter_mut().filter_map(Value::as_object_mut) {
                ver.insert(per_version.to_string(), t.clone());
            }
        }
    }
    for ver in versions.iter_mut() {
        if let Some(c) = ver.get_mut("additionalPrinterColumns") {
            columns(c, "JSONPath", "jsonPath");
        }
    }
    spec.insert("versions".into(), Value::Array(versions));
    if let Some(Value::Object(conv)) = spec.get_mut("conversion") {
        let mut webhook = Map::new();
        if let Some(cc) = conv.remove("webhookClientConfig") {
            webhook.insert("clientConfig".into(), cc);
        }
        if let Some(rv) = conv.remove("conversionReviewVersions") {
            webhook.insert("conversionReviewVersions".into(), rv);
        }
        if !webhook.is_empty() {
            conv.insert("webhook".into(), Value::Object(webhook));
        }
    }
    // v1's `preserveUnknownFields` is a plain bool with omitempty.
    if spec.get("preserveUnknownFields") != Some(&Value::Bool(true)) {
        spec.remove("preserveUnknownFields");
    }
}

/// A v1 CRD in the v1beta1 storage form.
pub fn to_v1beta1(v: &mut Value) {
    v["apiVersion"] = json!(V1BETA1);
    let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut versions = match spec.remove("versions") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    if let Some(first) = versions.first().and_then(|v| v.get("name")).cloned() {
        spec.insert("version".into(), first);
    }
    for ver in versions.iter_mut() {
        if let Some(c) = ver.get_mut("additionalPrinterColumns") {
            columns(c, "jsonPath", "JSONPath");
        }
    }
    for (per_version, top) in HOISTED {
        let first = versions.first().and_then(|v| v.get(*per_version)).cloned();
        let identical = versions.iter().all(|v| v.get(*per_version) == first.as_ref());
        if identical && !versions.is_empty() {
            for ver in versions.iter_mut().filter_map(Value::as_object_mut) {
                ver.remove(*per_version);
            }
            if let Some(f) = first.filter(|f| !f.is_null()) {
                spec.insert(top.to_string(), f);
            }
        }
    }
    spec.insert("versions".into(), Value::Array(versions));
    if let Some(Value::Object(conv)) = spec.get_mut("conversion") {
        if let Some(Value::Object(mut webhook)) = conv.remove("webhook") {
            if let Some(cc) = webhook.remove("clientConfig") {
                conv.insert("webhookClientConfig".into(), cc);
            }
            if let Some(rv) = webhook.remove("conversionReviewVersions") {
                conv.insert("conversionReviewVersions".into(), rv);
            }
        }
    }
    let keep = spec
        .get("preserveUnknownFields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    spec.insert("preserveUnknownFields".into(), Value::Bool(keep));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRD upstream kube-apiserver v1.33.13 wrote to etcd, and the same CRD as it served
    /// it (v1): converting one gives the other.
    #[test]
    fn upstream_stored_crd_round_trips() {
        let stored: Value = serde_json::from_slice(include_bytes!(
            "../../tests/data/protobuf/etcd-apiextensions.k8s.io_customresourcedefinitions_widgets.example.com.bin"
        ))
        .unwrap();
        let mut served: Value = serde_json::from_slice(include_bytes!(
            "../../tests/data/protobuf/customresourcedefinitions-widgets.example.com.json"
        ))
        .unwrap();
        served["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        let mut v1 = stored.clone();
        to_v1(&mut v1);
        // managedFields keep the apiVersion they were recorded with.
        assert_eq!(v1, served);
        let mut back = served.clone();
        to_v1beta1(&mut back);
        assert_eq!(back, stored);
    }

    #[test]
    fn differing_versions_stay_per_version_and_webhooks_reshape() {
        let v1 = json!({
            "apiVersion": V1, "kind": "CustomResourceDefinition", "metadata": {"name": "a.b"},
            "spec": {
                "group": "b", "scope": "Cluster", "names": {"plural": "a", "kind": "A"},
                "versions": [
                    {"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}},
                     "additionalPrinterColumns": [{"name": "X", "type": "string", "jsonPath": ".x"}]},
                    {"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                     "additionalPrinterColumns": [{"name": "X", "type": "string", "jsonPath": ".x"}]},
                ],
                "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"url": "https://x"}, "conversionReviewVersions": ["v1"]}},
            },
        });
        let mut b = v1.clone();
        to_v1beta1(&mut b);
        assert_eq!(b["spec"]["version"], "v2");
        assert!(b["spec"].get("validation").is_none());
        assert_eq!(b["spec"]["additionalPrinterColumns"][0]["JSONPath"], ".x");
        assert!(b["spec"]["versions"][0].get("additionalPrinterColumns").is_none());
        assert_eq!(b["spec"]["conversion"]["webhookClientConfig"]["url"], "https://x");
        assert_eq!(b["spec"]["preserveUnknownFields"], false);
        let mut again = b.clone();
        to_v1(&mut again);
        assert_eq!(again, v1);
    }
}
