//! resource.k8s.io version conversion, as upstream's `pkg/apis/resource/{v1alpha3,v1beta1,
//! v1beta2}/conversion.go` through the internal (v1beta2-shaped) types. Objects are stored as
//! v1beta1 (upstream 1.33's storage version for every kind but DeviceTaintRule, whichever
//! versions are served); v1beta2 and v1alpha3 rows convert on write and read.
//!
//! The shape differences: v1beta2 moved a request's one-device fields into `exactly` and
//! lifted a device's `basic` fields onto the device; ResourceSliceSpec's `nodeName`/`allNodes`
//! became pointers; v1alpha3 capacities are bare quantities, not `{value}`.

use crate::util::json::JsonExt;
use serde_json::{json, Map, Value};

/// v1beta1 DeviceRequest fields that v1beta2 keeps in `exactly`.
const EXACT_FIELDS: &[&str] = &[
    "deviceClassName",
    "selectors",
    "allocationMode",
    "count",
    "adminAccess",
    "tolerations",
];

/// v1beta1 BasicDevice fields that v1beta2 has on the device.
const BASIC_FIELDS: &[&str] = &[
    "attributes",
    "capacity",
    "consumesCounters",
    "nodeName",
    "nodeSelector",
    "allNodes",
    "taints",
];

fn kind(v: &Value) -> &str {
    v.str_of("kind")
}

/// The request lists of a ResourceClaim (`spec.devices`) or template (`spec.spec.devices`).
fn requests_mut(v: &mut Value) -> Option<&mut Vec<Value>> {
    let ptr = match kind(v) {
        "ResourceClaim" => "/spec/devices/requests",
        "ResourceClaimTemplate" => "/spec/spec/devices/requests",
        _ => return None,
    };
    v.pointer_mut(ptr).and_then(Value::as_array_mut)
}

fn devices_mut(v: &mut Value) -> Option<&mut Vec<Value>> {
    if kind(v) != "ResourceSlice" {
        return None;
    }
    v.pointer_mut("/spec/devices").and_then(Value::as_array_mut)
}

fn set_api_version(v: &mut Value, version: &str) {
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), json!(format!("resource.k8s.io/{version}")));
    }
}

/// Upstream `hasAnyMainRequestFieldsSet`: a v1beta1 request with any of these is an `exactly`.
fn main_field_set(r: &Map<String, Value>) -> bool {
    let set = |k: &str| r.get(k).is_some_and(|v| !v.is_null());
    r.get("deviceClassName")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
        || set("selectors")
        || r.get("allocationMode")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        || r.get("count").and_then(Value::as_i64).is_some_and(|c| c != 0)
        || set("adminAccess")
        || set("tolerations")
}

/// A v1beta2 object (of any kind) in v1beta1's shape.
pub fn v1beta2_to_v1beta1(v: &mut Value) {
    set_api_version(v, "v1beta1");
    for r in requests_mut(v).into_iter().flatten() {
        let Some(r) = r.as_object_mut() else { continue };
        if let Some(Value::Object(exact)) = r.remove("exactly") {
            for (k, val) in exact {
                r.insert(k, val);
            }
        }
    }
    for d in devices_mut(v).into_iter().flatten() {
        let Some(d) = d.as_object_mut() else { continue };
        let mut basic = Map::new();
        for k in BASIC_FIELDS {
            if let Some(val) = d.remove(*k) {
                basic.insert((*k).to_string(), val);
            }
        }
        // Upstream always sets `basic` when converting to v1beta1.
        d.insert("basic".into(), Value::Object(basic));
    }
    if kind(v) == "ResourceSlice" {
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            // Pointers in v1beta2, omitempty values in v1beta1.
            if spec.get("nodeName").is_some_and(|n| n.is_null() || n == "") {
                spec.remove("nodeName");
            }
            if spec.get("allNodes").is_some_and(|a| a.is_null() || a == false) {
                spec.remove("allNodes");
            }
        }
    }
}

/// A v1beta1 object (of any kind) in v1beta2's shape.
pub fn v1beta1_to_v1beta2(v: &mut Value) {
    set_api_version(v, "v1beta2");
    for r in requests_mut(v).into_iter().flatten() {
        let Some(r) = r.as_object_mut() else { continue };
        let exact = main_field_set(r);
        let mut moved = Map::new();
        for k in EXACT_FIELDS {
            if let Some(val) = r.remove(*k) {
                moved.insert((*k).to_string(), val);
            }
        }
        if exact {
            // Zero values stay out, as Go's omitempty drops them on the way back out.
            moved.retain(|_, val| !(val.is_null() || val == "" || val == 0));
            r.insert("exactly".into(), Value::Object(moved));
        }
    }
    for d in devices_mut(v).into_iter().flatten() {
        let Some(d) = d.as_object_mut() else { continue };
        if let Some(Value::Object(basic)) = d.remove("basic") {
            for (k, val) in basic {
                d.insert(k, val);
            }
        }
    }
}

/// Every device of a v1beta1/v1alpha3 slice has `basic`: upstream's conversion from the
/// internal type always sets it, so a device written without one is stored and served with `{}`.
fn ensure_basic(v: &mut Value) {
    for d in devices_mut(v).into_iter().flatten() {
        if let Some(d) = d.as_object_mut() {
            if !d.get("basic").is_some_and(Value::is_object) {
                d.insert("basic".into(), json!({}));
            }
        }
    }
}

/// A v1beta1 object as upstream stores it after its trip through the internal type.
pub fn v1beta1_to_storage(v: &mut Value) {
    ensure_basic(v);
}

/// A v1alpha3 object in v1beta1's shape (capacities gain their `{value}` wrapper).
pub fn v1alpha3_to_v1beta1(v: &mut Value) {
    set_api_version(v, "v1beta1");
    ensure_basic(v);
    for d in devices_mut(v).into_iter().flatten() {
        if let Some(cap) = d.pointer_mut("/basic/capacity").and_then(Value::as_object_mut) {
            for q in cap.values_mut() {
                if !q.is_object() {
                    *q = json!({"value": q.take()});
                }
            }
        }
    }
}

/// A v1beta1 object in v1alpha3's shape.
pub fn v1beta1_to_v1alpha3(v: &mut Value) {
    set_api_version(v, "v1alpha3");
    ensure_basic(v);
    for d in devices_mut(v).into_iter().flatten() {
        if let Some(cap) = d.pointer_mut("/basic/capacity").and_then(Value::as_object_mut) {
            for q in cap.values_mut() {
                if let Some(val) = q.get_mut("value").map(Value::take) {
                    *q = val;
                }
            }
        }
    }
}

/// Any served version's object in the internal (v1beta2) shape, for validation.
pub fn to_internal(v: &Value) -> Value {
    let mut v = v.clone();
    match v.get("apiVersion").and_then(Value::as_str) {
        Some("resource.k8s.io/v1alpha3") => {
            v1alpha3_to_v1beta1(&mut v);
            v1beta1_to_v1beta2(&mut v);
        }
        Some("resource.k8s.io/v1beta1") => v1beta1_to_v1beta2(&mut v),
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> Value {
        json!({"apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceClaim",
        "metadata": {"name": "c", "namespace": "default"},
        "spec": {"devices": {"requests": [
            {"name": "gpu", "deviceClassName": "gpu.example.com", "allocationMode": "ExactCount", "count": 2,
             "selectors": [{"cel": {"expression": "device.driver == \"x\""}}]},
            {"name": "any", "firstAvailable": [{"name": "a", "deviceClassName": "c", "allocationMode": "All"}]}
        ]}}})
    }

    fn slice() -> Value {
        json!({"apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceSlice", "metadata": {"name": "s"},
               "spec": {"driver": "d.example.com", "nodeName": "n1", "pool": {"name": "p", "resourceSliceCount": 1},
                        "devices": [{"name": "d0", "basic": {"attributes": {"model": {"string": "x"}},
                                                              "capacity": {"mem": {"value": "1Gi"}}}},
                                    {"name": "d1", "basic": {}}]}})
    }

    #[test]
    fn v1beta1_and_v1beta2_round_trip_both_ways() {
        for obj in [claim(), slice()] {
            let mut v2 = obj.clone();
            v1beta1_to_v1beta2(&mut v2);
            assert_eq!(v2["apiVersion"], "resource.k8s.io/v1beta2");
            let mut back = v2.clone();
            v1beta2_to_v1beta1(&mut back);
            assert_eq!(back, obj);
            let mut again = back.clone();
            v1beta1_to_v1beta2(&mut again);
            assert_eq!(again, v2);
        }
        let mut v2 = claim();
        v1beta1_to_v1beta2(&mut v2);
        let r = &v2["spec"]["devices"]["requests"];
        assert_eq!(r[0]["exactly"]["count"], 2);
        assert!(r[0].get("deviceClassName").is_none());
        assert!(r[1].get("exactly").is_none(), "{r}");
        let mut s2 = slice();
        v1beta1_to_v1beta2(&mut s2);
        assert_eq!(s2["spec"]["devices"][0]["capacity"]["mem"]["value"], "1Gi");
        assert!(s2["spec"]["devices"][1].get("basic").is_none());
    }

    #[test]
    fn v1alpha3_capacities_are_bare_quantities() {
        let mut a3 = slice();
        v1beta1_to_v1alpha3(&mut a3);
        assert_eq!(a3["spec"]["devices"][0]["basic"]["capacity"]["mem"], "1Gi");
        let mut back = a3.clone();
        v1alpha3_to_v1beta1(&mut back);
        assert_eq!(back, slice());
        assert_eq!(
            to_internal(&a3)["spec"]["devices"][0]["capacity"]["mem"]["value"],
            "1Gi"
        );
    }
}
