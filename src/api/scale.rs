//! The `scale` subresource's autoscaling/v1 Scale of an object with `spec.replicas`.

use crate::storage::cache::CachedObject;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

/// autoscaling/v1 Scale for an object with `spec.replicas`.
pub fn of(obj: &CachedObject, default_replicas: i64) -> Value {
    let v = &obj.value;
    let m = &v["metadata"];
    let selector = v.pointer("/spec/selector").map(selector_string).unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": v.i64_at("/spec/replicas").unwrap_or(default_replicas)},
        "status": {
            "replicas": v.i64_at("/status/replicas").unwrap_or(0),
            "selector": selector,
        },
    })
}

/// A label selector rendered as a selector string (`a=b,c in (d)`), as Scale's status carries.
fn selector_string(sel: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    let (labels, exprs) = match sel.get("matchLabels") {
        Some(_) | None if sel.get("matchExpressions").is_some() || sel.get("matchLabels").is_some() => {
            (sel.get("matchLabels"), sel.get("matchExpressions"))
        }
        // ReplicationController: a plain map.
        _ => (Some(sel), None),
    };
    if let Some(Value::Object(m)) = labels {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    if let Some(Value::Array(es)) = exprs {
        for e in es {
            let key = e["key"].as_str().unwrap_or("");
            let vals: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e["operator"].as_str().unwrap_or("") {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.sort();
    parts.join(",")
}
