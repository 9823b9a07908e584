//! The `scale` subresource's autoscaling/v1 Scale of an object with `spec.replicas`.

use crate::api::selector::{label_selector_string, LabelSelector};
use crate::storage::cache::CachedObject;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

/// autoscaling/v1 Scale for an object with `spec.replicas`.
pub fn of(obj: &CachedObject, default_replicas: i64) -> Value {
    let v = &obj.value();
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

/// The selector as Scale's `status.selector` carries it: upstream
/// `LabelSelectorAsSelector(spec.selector).String()` for a `LabelSelector` object, and
/// `labels.SelectorFromSet(spec.selector).String()` for a ReplicationController's plain map.
fn selector_string(sel: &Value) -> String {
    if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() {
        return label_selector_string(Some(sel)).unwrap_or_default();
    }
    sel.as_object()
        .map(|m| LabelSelector::from_set(m).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_strings_are_upstreams() {
        let sel = json!({
            "matchLabels": {"b": "2"},
            "matchExpressions": [
                {"key": "z", "operator": "DoesNotExist"},
                {"key": "a", "operator": "In", "values": ["y", "x"]},
            ],
        });
        assert_eq!(selector_string(&sel), "a in (x,y),b=2,!z");
        assert_eq!(selector_string(&json!({"app": "web", "tier": "fe"})), "app=web,tier=fe");
        assert_eq!(selector_string(&json!({})), "");
    }
}
