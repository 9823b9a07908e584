//! Version conversion for rows that share storage with another version: events.k8s.io/v1
//! Events are stored as core v1 Events, autoscaling/v1 HorizontalPodAutoscalers as
//! autoscaling/v2 (the storage version is the first row of a storage key in table order).
//! Everything else is stored as served. The rows of those kinds carry these functions.

use super::ResourceDef;
use serde_json::{json, Map, Value};

/// (events.k8s.io/v1 field, core/v1 field), as upstream's conversion pairs them.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = obj.remove(from) {
        obj.insert(to.to_string(), v);
    }
}

/// events.k8s.io/v1 Event → core/v1 Event (the storage version).
pub fn events_v1_to_storage(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        for (new, old) in EVENT_FIELDS {
            rename(o, new, old);
        }
        o.insert("apiVersion".into(), json!("v1"));
    }
}

/// A stored core/v1 Event as events.k8s.io/v1 serves it.
pub fn events_v1_from_storage(def: &ResourceDef, stored: &Value) -> Option<Value> {
    let mut v = stored.clone();
    if let Some(o) = v.as_object_mut() {
        for (new, old) in EVENT_FIELDS {
            rename(o, old, new);
        }
        // events.k8s.io/v1 tags these omitempty (core/v1 does not).
        for k in [
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "note",
            "type",
        ] {
            if o.get(k).is_some_and(|v| v == "") {
                o.remove(k);
            }
        }
        if o.get("deprecatedCount").is_some_and(|v| v == 0) {
            o.remove("deprecatedCount");
        }
    }
    v["apiVersion"] = json!(def.api_version());
    Some(v)
}

/// Versions whose schema is the storage version's (served off by default, `--runtime-config`):
/// only `apiVersion` differs between the served and the stored form.
fn set_api_version(v: &mut Value, api_version: &str) {
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), json!(api_version));
    }
}

/// admissionregistration.k8s.io/v1beta1 → v1 (the storage version; same schema).
pub fn admissionregistration_to_v1(v: &mut Value) {
    set_api_version(v, "admissionregistration.k8s.io/v1");
}

/// networking.k8s.io/v1beta1 → v1 (the storage version; same schema).
pub fn networking_to_v1(v: &mut Value) {
    set_api_version(v, "networking.k8s.io/v1");
}

/// coordination.k8s.io/v1alpha2 → v1beta1 (LeaseCandidate's storage version; same schema).
pub fn coordination_to_v1beta1(v: &mut Value) {
    set_api_version(v, "coordination.k8s.io/v1beta1");
}

/// storage.k8s.io/v1alpha1 → v1beta1 (VolumeAttributesClass's storage version; same schema).
pub fn storage_to_v1beta1(v: &mut Value) {
    set_api_version(v, "storage.k8s.io/v1beta1");
}

/// A stored object of the storage version as `def`'s same-schema version serves it.
pub fn same_schema_served(def: &ResourceDef, stored: &Value) -> Option<Value> {
    let mut v = stored.clone();
    set_api_version(&mut v, &def.api_version());
    Some(v)
}

/// apps/v1 StatefulSets: upstream's conversion stamps `apiVersion: v1` and
/// `kind: PersistentVolumeClaim` on every volumeClaimTemplate (kubernetes#87583); the stored
/// protobuf has no place for them.
pub fn statefulset_claim_type_meta(_def: &ResourceDef, stored: &Value) -> Option<Value> {
    let templates = stored.pointer("/spec/volumeClaimTemplates")?.as_array()?;
    if templates.iter().all(|t| {
        t.get("apiVersion").is_some_and(|v| v == "v1") && t.get("kind").is_some_and(|k| k == "PersistentVolumeClaim")
    }) {
        return None;
    }
    let mut v = stored.clone();
    if let Some(ts) = v
        .pointer_mut("/spec/volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    {
        for t in ts.iter_mut().filter_map(Value::as_object_mut) {
            t.insert("apiVersion".into(), json!("v1"));
            t.insert("kind".into(), json!("PersistentVolumeClaim"));
        }
    }
    Some(v)
}

/// A stored autoscaling/v2 HorizontalPodAutoscaler as autoscaling/v1 serves it.
pub fn hpa_v1_from_storage(_def: &ResourceDef, stored: &Value) -> Option<Value> {
    Some(hpa_v2_to_v1(stored))
}

/// autoscaling/v1 HorizontalPodAutoscaler → autoscaling/v2 (the storage version).
pub fn hpa_v1_to_v2(v: &mut Value) {
    let Some(o) = v.as_object_mut() else { return };
    o.insert("apiVersion".into(), json!("autoscaling/v2"));
    if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
        if let Some(target) = spec.remove("targetCPUUtilizationPercentage") {
            spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]),
            );
        }
    }
    if let Some(status) = o.get_mut("status").and_then(Value::as_object_mut) {
        if let Some(cur) = status.remove("currentCPUUtilizationPercentage") {
            status.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cur}}}]),
            );
        }
    }
}

fn hpa_v2_to_v1(stored: &Value) -> Value {
    let mut v = stored.clone();
    v["apiVersion"] = json!("autoscaling/v1");
    let cpu = |list: Option<&Value>, field: &str| {
        list.and_then(Value::as_array)?
            .iter()
            .find(|m| m["type"] == "Resource" && m.pointer("/resource/name") == Some(&json!("cpu")))
            .and_then(|m| m.pointer(&format!("/resource/{field}/averageUtilization")).cloned())
    };
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        let target = cpu(spec.get("metrics"), "target");
        spec.remove("metrics");
        spec.remove("behavior");
        if let Some(t) = target {
            spec.insert("targetCPUUtilizationPercentage".into(), t);
        }
    }
    if let Some(status) = v.get_mut("status").and_then(Value::as_object_mut) {
        let cur = cpu(status.get("currentMetrics"), "current");
        status.remove("currentMetrics");
        status.remove("conditions");
        if let Some(c) = cur {
            status.insert("currentCPUUtilizationPercentage".into(), c);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(group: &str, version: &str, kind: &str) -> ResourceDef {
        *crate::api::builtin()
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .unwrap()
    }

    #[test]
    fn events_round_trip_through_core_storage() {
        let def = row("events.k8s.io", "v1", "Event");
        let mut v = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "hi", "regarding": {"kind": "Pod", "name": "p"}, "reportingController": "me"});
        let orig = v.clone();
        events_v1_to_storage(&mut v);
        assert_eq!(v["message"], "hi");
        assert_eq!(v["involvedObject"]["name"], "p");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(events_v1_from_storage(&def, &v).unwrap(), orig);
    }

    #[test]
    fn same_schema_betas_differ_only_in_api_version() {
        let beta = row("admissionregistration.k8s.io", "v1beta1", "ValidatingAdmissionPolicy");
        let mut v = json!({"apiVersion": "admissionregistration.k8s.io/v1beta1", "kind": "ValidatingAdmissionPolicy", "spec": {"failurePolicy": "Fail"}});
        let orig = v.clone();
        admissionregistration_to_v1(&mut v);
        assert_eq!(v["apiVersion"], "admissionregistration.k8s.io/v1");
        assert_eq!(v["spec"], orig["spec"]);
        assert_eq!(same_schema_served(&beta, &v).unwrap(), orig);
        let mut ip = json!({"apiVersion": "networking.k8s.io/v1beta1", "kind": "IPAddress"});
        networking_to_v1(&mut ip);
        assert_eq!(ip["apiVersion"], "networking.k8s.io/v1");
    }

    #[test]
    fn hpa_v1_cpu_target_maps_to_v2_metrics() {
        let def = row("autoscaling", "v1", "HorizontalPodAutoscaler");
        let mut v = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "spec": {"maxReplicas": 5, "targetCPUUtilizationPercentage": 70}});
        hpa_v1_to_v2(&mut v);
        assert_eq!(
            v.pointer("/spec/metrics/0/resource/target/averageUtilization"),
            Some(&json!(70))
        );
        let back = hpa_v1_from_storage(&def, &v).unwrap();
        assert_eq!(back["spec"]["targetCPUUtilizationPercentage"], 70);
        assert!(back["spec"].get("metrics").is_none());
    }
}
