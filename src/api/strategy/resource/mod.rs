//! Strategies for `resource.k8s.io` (Dynamic Resource Allocation): defaults
//! (`pkg/apis/resource/*/defaults.go`), the feature-gated fields upstream's registry
//! strategies drop (`pkg/registry/resource/*/strategy.go`), validation ([`validate`]) and
//! version conversion ([`convert`]).

pub mod cel;
pub mod convert;
pub mod validate;

use crate::api::strategy::NamespaceRule;
use crate::config::features::FeatureGates;
use crate::error::field::FieldError;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

// ------------------------------------------------------------------ defaults

/// `SetDefaults_DeviceRequest` / `SetDefaults_ExactDeviceRequest` / `SetDefaults_DeviceSubRequest`.
fn default_count(r: &mut Value) {
    let Some(o) = r.as_object_mut() else { return };
    if o.str_of("allocationMode").is_empty() {
        o.insert("allocationMode".into(), json!("ExactCount"));
    }
    if o.get("allocationMode") == Some(&json!("ExactCount")) && o.get("count").and_then(Value::as_i64).unwrap_or(0) == 0
    {
        o.insert("count".into(), json!(1));
    }
}

fn default_tolerations(holder: &mut Value) {
    for t in holder
        .get_mut("tolerations")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(o) = t.as_object_mut() {
            if o.str_of("operator").is_empty() {
                o.insert("operator".into(), json!("Equal"));
            }
        }
    }
}

/// Defaults of a claim's requests in any version: v1beta2's `exactly`, or a v1beta1/v1alpha3
/// request naming a device class, gets ExactCount of one.
fn default_requests(requests: Option<&mut Value>) {
    for r in requests.and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(exact) = r.get_mut("exactly").filter(|e| e.is_object()) {
            default_count(exact);
            default_tolerations(exact);
        } else if r
            .get("deviceClassName")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty())
        {
            default_count(r);
        }
        default_tolerations(r);
        for sub in r
            .get_mut("firstAvailable")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_count(sub);
            default_tolerations(sub);
        }
    }
}

pub fn default_claim(obj: &mut Value) {
    default_requests(obj.pointer_mut("/spec/devices/requests"));
    for r in obj
        .pointer_mut("/status/allocation/devices/results")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        default_tolerations(r);
    }
}

pub fn default_claim_template(obj: &mut Value) {
    default_requests(obj.pointer_mut("/spec/spec/devices/requests"));
}

/// `SetDefaults_DeviceTaint`: `timeAdded` is now, in whole seconds.
fn default_taint(t: &mut Value) {
    if let Some(o) = t.as_object_mut() {
        if o.get("timeAdded").is_none_or(Value::is_null) {
            o.insert("timeAdded".into(), json!(crate::util::now_rfc3339()));
        }
    }
}

/// Where a device's attributes, capacity, taints… live: `basic` before v1beta2.
fn device_fields(d: &mut Value) -> &mut Value {
    if d.get("basic").is_some_and(Value::is_object) {
        &mut d["basic"]
    } else {
        d
    }
}

pub fn default_slice(obj: &mut Value) {
    for d in obj
        .pointer_mut("/spec/devices")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for t in device_fields(d)
            .get_mut("taints")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_taint(t);
        }
    }
}

pub fn default_taint_rule(obj: &mut Value) {
    if let Some(t) = obj.pointer_mut("/spec/taint") {
        default_taint(t);
    }
}

// ------------------------------------------------------------------ gated fields

fn remove(v: &mut Value, key: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
}

fn nonempty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

fn requests(obj: &Value, ptr: &str) -> Vec<Value> {
    obj.pointer(ptr).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Whether any request uses `firstAvailable` (DRAPrioritizedList).
fn prioritized_in_use(old: Option<&Value>, ptr: &str) -> bool {
    old.is_some_and(|o| requests(o, ptr).iter().any(|r| nonempty(r.get("firstAvailable"))))
}

/// Whether any request or allocation result sets `adminAccess` (DRAAdminAccess).
fn admin_in_use(old: Option<&Value>, ptr: &str) -> bool {
    old.is_some_and(|o| {
        requests(o, ptr).iter().any(|r| {
            r.get("adminAccess").is_some_and(|a| !a.is_null())
                || r.pointer("/exactly/adminAccess").is_some_and(|a| !a.is_null())
        }) || requests(o, "/status/allocation/devices/results")
            .iter()
            .any(|r| r.get("adminAccess").is_some_and(|a| !a.is_null()))
    })
}

/// The request fields of claims and templates behind alpha gates (DRAPrioritizedList,
/// DRAAdminAccess), dropped with the gate off unless the stored object uses them.
fn drop_request_fields(gates: &FeatureGates, obj: &mut Value, old: Option<&Value>, ptr: &str) {
    let drop_prioritized = !gates.enabled("DRAPrioritizedList") && !prioritized_in_use(old, ptr);
    let drop_admin = !gates.enabled("DRAAdminAccess") && !admin_in_use(old, ptr);
    for r in obj.pointer_mut(ptr).and_then(Value::as_array_mut).into_iter().flatten() {
        if drop_prioritized {
            remove(r, "firstAvailable");
        }
        if drop_admin {
            remove(r, "adminAccess");
            if let Some(e) = r.get_mut("exactly") {
                remove(e, "adminAccess");
            }
        }
    }
    if drop_admin {
        for r in obj
            .pointer_mut("/status/allocation/devices/results")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            remove(r, "adminAccess");
        }
    }
}

// ------------------------------------------------------------------ admin access

/// The namespace label that allows `adminAccess` (upstream `DRAAdminNamespaceLabelKey`).
pub const ADMIN_NAMESPACE_LABEL: &str = "resource.k8s.io/admin-access";

/// `AuthorizedForAdmin`'s check of the namespace.
fn admin_namespace(field: &str, ns: &Value) -> Option<FieldError> {
    let label = ns
        .pointer("/metadata/labels")
        .and_then(|l| l.get(ADMIN_NAMESPACE_LABEL))
        .and_then(Value::as_str);
    (label != Some("true")).then(|| {
        FieldError::forbidden(
            field,
            format!("admin access to devices requires the `{ADMIN_NAMESPACE_LABEL}: true` label on the containing namespace"),
        )
    })
}

fn admin_rule(field: String) -> NamespaceRule {
    NamespaceRule {
        field,
        purpose: "verify admin access",
        check: admin_namespace,
    }
}

/// The first request asking for admin access (`adminAccess: true`, v1beta2's under `exactly`);
/// the path is upstream's internal one whatever the version.
fn admin_requested(obj: &Value, ptr: &str) -> Option<NamespaceRule> {
    let i = requests(obj, ptr).iter().position(|r| {
        r.get("adminAccess") == Some(&json!(true)) || r.pointer("/exactly/adminAccess") == Some(&json!(true))
    })?;
    Some(admin_rule(format!("spec.devices.requests[{i}].adminAccess")))
}

/// The first allocation result granting admin access.
fn admin_granted(obj: &Value) -> Option<NamespaceRule> {
    let i = requests(obj, "/status/allocation/devices/results")
        .iter()
        .position(|r| r.get("adminAccess") == Some(&json!(true)))?;
    Some(admin_rule(format!(
        "status.allocation.devices.results[{i}].adminAccess"
    )))
}

/// Upstream `AuthorizedForAdmin` on create (the spec is immutable) and
/// `AuthorizedForAdminStatus` on status writes (unless the stored allocation already grants it).
pub fn claim_namespace_rule(obj: &Value, old: Option<&Value>) -> Option<NamespaceRule> {
    match old {
        None => admin_requested(obj, "/spec/devices/requests"),
        Some(old) if admin_granted(old).is_some() => None,
        Some(_) => admin_granted(obj),
    }
}

pub fn claim_template_namespace_rule(obj: &Value, old: Option<&Value>) -> Option<NamespaceRule> {
    old.is_none()
        .then(|| admin_requested(obj, "/spec/spec/devices/requests"))
        .flatten()
}

fn device_ids(obj: &Value, ptr: &str) -> Vec<(String, String, String)> {
    requests(obj, ptr)
        .iter()
        .map(|r| {
            let f = |k: &str| r.str_of(k).to_string();
            (f("driver"), f("pool"), f("device"))
        })
        .collect()
}

pub fn drop_claim_fields(gates: &FeatureGates, obj: &mut Value, old: Option<&Value>) {
    drop_request_fields(gates, obj, old, "/spec/devices/requests");
    let status_in_use = old.is_some_and(|o| nonempty(o.pointer("/status/devices")));
    if !gates.enabled("DRAResourceClaimDeviceStatus") && !status_in_use {
        if let Some(st) = obj.get_mut("status") {
            remove(st, "devices");
        }
    } else if let Some(old) = old {
        // dropDeallocatedStatusDevices: device status goes with the device's allocation.
        let results = "/status/allocation/devices/results";
        let now = device_ids(obj, results);
        let gone: Vec<_> = device_ids(old, results)
            .into_iter()
            .filter(|d| !now.contains(d))
            .collect();
        if let Some(devs) = obj.pointer_mut("/status/devices").and_then(Value::as_array_mut) {
            devs.retain(|d| {
                let f = |k: &str| d.str_of(k).to_string();
                !gone.contains(&(f("driver"), f("pool"), f("device")))
            });
        }
    }
}

pub fn drop_claim_template_fields(gates: &FeatureGates, obj: &mut Value, old: Option<&Value>) {
    drop_request_fields(gates, obj, old, "/spec/spec/devices/requests");
}

const PARTITIONABLE_DEVICE_FIELDS: &[&str] = &["consumesCounters", "nodeName", "nodeSelector", "allNodes"];

fn slice_devices(obj: &Value) -> Vec<Value> {
    requests(obj, "/spec/devices")
        .into_iter()
        .map(|mut d| device_fields(&mut d).clone())
        .collect()
}

pub fn drop_slice_fields(gates: &FeatureGates, obj: &mut Value, old: Option<&Value>) {
    let taints_in_use = old.is_some_and(|o| slice_devices(o).iter().any(|d| nonempty(d.get("taints"))));
    let drop_taints = !gates.enabled("DRADeviceTaints") && !taints_in_use;
    let partitionable_in_use = old.is_some_and(|o| {
        nonempty(o.pointer("/spec/sharedCounters"))
            || o.pointer("/spec/perDeviceNodeSelection").is_some_and(|v| !v.is_null())
            || slice_devices(o).iter().any(|d| {
                nonempty(d.get("consumesCounters"))
                    || ["nodeName", "nodeSelector", "allNodes"]
                        .iter()
                        .any(|k| d.get(*k).is_some_and(|v| !v.is_null()))
            })
    });
    let drop_partitionable = !gates.enabled("DRAPartitionableDevices") && !partitionable_in_use;
    if drop_partitionable {
        if let Some(spec) = obj.get_mut("spec") {
            remove(spec, "sharedCounters");
            remove(spec, "perDeviceNodeSelection");
        }
    }
    for d in obj
        .pointer_mut("/spec/devices")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let fields = device_fields(d);
        if drop_taints {
            remove(fields, "taints");
        }
        if drop_partitionable {
            for k in PARTITIONABLE_DEVICE_FIELDS {
                remove(fields, k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_each_versions_shape() {
        let mut b1 = json!({"kind": "ResourceClaim", "spec": {"devices": {"requests": [
            {"name": "a", "deviceClassName": "c", "tolerations": [{"key": "k"}]},
            {"name": "b", "firstAvailable": [{"name": "x", "deviceClassName": "c", "allocationMode": "All"}]}]}}});
        default_claim(&mut b1);
        let r = &b1["spec"]["devices"]["requests"];
        assert_eq!(
            (r[0]["allocationMode"].as_str(), r[0]["count"].as_i64()),
            (Some("ExactCount"), Some(1))
        );
        assert_eq!(r[0]["tolerations"][0]["operator"], "Equal");
        assert!(r[1].get("allocationMode").is_none());
        assert!(r[1]["firstAvailable"][0].get("count").is_none());
        let mut b2 = json!({"kind": "ResourceClaim", "spec": {"devices": {"requests": [{"name": "a", "exactly": {"deviceClassName": "c"}}]}}});
        default_claim(&mut b2);
        assert_eq!(b2["spec"]["devices"]["requests"][0]["exactly"]["count"], 1);
    }

    #[test]
    fn gated_fields_drop_unless_in_use() {
        let off = FeatureGates::default();
        let on = FeatureGates::with(&[("DRAPrioritizedList", true), ("DRADeviceTaints", true)]);
        let claim = json!({"kind": "ResourceClaim", "spec": {"devices": {"requests": [
            {"name": "a", "exactly": {"deviceClassName": "c", "adminAccess": true}},
            {"name": "b", "firstAvailable": [{"name": "x", "deviceClassName": "c"}]}]}}});
        let mut c = claim.clone();
        drop_claim_fields(&off, &mut c, None);
        assert!(c.pointer("/spec/devices/requests/0/exactly/adminAccess").is_none());
        assert!(c.pointer("/spec/devices/requests/1/firstAvailable").is_none());
        let mut c = claim.clone();
        drop_claim_fields(&on, &mut c, None);
        assert!(c.pointer("/spec/devices/requests/1/firstAvailable").is_some());
        let mut c = claim.clone();
        drop_claim_fields(&off, &mut c, Some(&claim));
        assert_eq!(c, claim, "kept when the stored object uses them");

        let slice = json!({"kind": "ResourceSlice", "spec": {"sharedCounters": [{"name": "s"}], "devices": [
            {"name": "d", "basic": {"taints": [{"key": "k", "effect": "NoSchedule"}], "consumesCounters": [{"counterSet": "s"}]}}]}});
        let mut s = slice.clone();
        drop_slice_fields(&off, &mut s, None);
        assert_eq!(s["spec"], json!({"devices": [{"name": "d", "basic": {}}]}));
        let mut s = slice.clone();
        drop_slice_fields(&on, &mut s, None);
        assert!(s.pointer("/spec/devices/0/basic/taints").is_some());
    }

    #[test]
    fn admin_access_kept_with_the_gate_and_checked_against_the_namespace() {
        let on = FeatureGates::with(&[("DRAAdminAccess", true)]);
        let claim = json!({"spec": {"devices": {"requests": [
            {"name": "a", "deviceClassName": "c"},
            {"name": "b", "deviceClassName": "c", "adminAccess": true}]}}});
        let mut c = claim.clone();
        drop_claim_fields(&on, &mut c, None);
        assert_eq!(c, claim);
        let rule = claim_namespace_rule(&c, None).expect("a rule");
        assert_eq!(rule.field, "spec.devices.requests[1].adminAccess");
        let plain = json!({"metadata": {"name": "n"}});
        let labelled = json!({"metadata": {"name": "n", "labels": {ADMIN_NAMESPACE_LABEL: "true"}}});
        assert_eq!(
            (rule.check)(&rule.field, &plain).map(|e| e.to_string()),
            Some("spec.devices.requests[1].adminAccess: Forbidden: admin access to devices requires the `resource.k8s.io/admin-access: true` label on the containing namespace".to_string())
        );
        assert!((rule.check)(&rule.field, &labelled).is_none());
        let v1beta2 = json!({"spec": {"spec": {"devices": {"requests": [{"name": "a", "exactly": {"deviceClassName": "c", "adminAccess": true}}]}}}});
        assert!(claim_template_namespace_rule(&v1beta2, None).is_some());
        assert!(claim_template_namespace_rule(&v1beta2, Some(&v1beta2)).is_none());
        // Status: a new grant is checked, one already stored is not.
        let granted = json!({"status": {"allocation": {"devices": {"results": [{"adminAccess": true}]}}}});
        let rule = claim_namespace_rule(&granted, Some(&claim)).expect("a rule");
        assert_eq!(rule.field, "status.allocation.devices.results[0].adminAccess");
        assert!(claim_namespace_rule(&granted, Some(&granted)).is_none());
        assert!(claim_namespace_rule(&claim, Some(&claim)).is_none());
    }
}
