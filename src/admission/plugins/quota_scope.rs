//! ResourceQuota scopes (upstream's pod evaluator `podMatchesScopeFunc`, and with the
//! VolumeAttributesClass gate the PVC evaluator's `pvcMatchesScopeFunc`): a quota with
//! `spec.scopes` or `spec.scopeSelector` only tracks the pods (PVCs) every scope matches; other
//! kinds never match a scoped quota (the generic evaluator matches no scope).

use crate::api::ResourceDef;
use crate::config::features::FeatureGates;
use crate::util::json::JsonExt;
use serde_json::Value;

/// One scope requirement: (scopeName, operator, values). `spec.scopes` entries are `Exists`.
fn requirements(quota: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<(String, String, Vec<String>)> = quota
        .arr_at("/spec/scopes")
        .iter()
        .filter_map(Value::as_str)
        .map(|s| (s.to_string(), "Exists".to_string(), Vec::new()))
        .collect();
    for e in quota.arr_at("/spec/scopeSelector/matchExpressions").iter() {
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        out.push((e.str_at("/scopeName").into(), e.str_at("/operator").into(), values));
    }
    out
}

pub fn is_scoped(quota: &Value) -> bool {
    !requirements(quota).is_empty()
}

/// A pod with `activeDeadlineSeconds` set runs for a bounded time.
fn is_terminating(pod: &Value) -> bool {
    pod.i64_at("/spec/activeDeadlineSeconds").is_some_and(|d| d >= 0)
}

/// QoS BestEffort: no container (init included) requests or limits cpu or memory.
pub fn is_best_effort(pod: &Value) -> bool {
    !super::containers(&pod["spec"]).iter().any(|(_, _, c)| {
        ["requests", "limits"].iter().any(|f| {
            ["cpu", "memory"]
                .iter()
                .any(|r| c.pointer(&format!("/resources/{f}/{r}")).is_some())
        })
    })
}

/// Pod (anti-)affinity terms naming other namespaces (`namespaces` or `namespaceSelector`).
fn cross_namespace_affinity(pod: &Value) -> bool {
    let Some(aff) = pod.pointer("/spec/affinity") else {
        return false;
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let required = aff
            .arr_at(&format!("/{kind}/requiredDuringSchedulingIgnoredDuringExecution"))
            .iter();
        let preferred = aff
            .arr_at(&format!("/{kind}/preferredDuringSchedulingIgnoredDuringExecution"))
            .iter()
            .filter_map(|t| t.get("podAffinityTerm"));
        required.chain(preferred).any(|t| {
            t.get("namespaceSelector").is_some()
                || t.get("namespaces")
                    .and_then(Value::as_array)
                    .is_some_and(|n| !n.is_empty())
        })
    })
}

fn pod_matches(pod: &Value, scope: &str, op: &str, values: &[String]) -> bool {
    match scope {
        "Terminating" => is_terminating(pod),
        "NotTerminating" => !is_terminating(pod),
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        "CrossNamespacePodAffinity" => cross_namespace_affinity(pod),
        "PriorityClass" => {
            let pc = pod.str_at("/spec/priorityClassName");
            match op {
                "In" => values.iter().any(|v| v == pc),
                "NotIn" => !values.iter().any(|v| v == pc),
                "Exists" => !pc.is_empty(),
                "DoesNotExist" => pc.is_empty(),
                _ => false,
            }
        }
        _ => false,
    }
}

/// The classes a claim refers to (`getReferencedVolumeAttributesClassNames`).
fn pvc_classes(pvc: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = [
        "/spec/volumeAttributesClassName",
        "/status/currentVolumeAttributesClassName",
        "/status/modifyVolumeStatus/targetVolumeAttributesClassName",
    ]
    .iter()
    .map(|p| pvc.str_at(p))
    .filter(|n| !n.is_empty())
    .collect();
    out.dedup();
    out
}

/// `pvcMatchesScopeFunc`: the VolumeAttributesClass scope, as a label selector over the
/// classes the claim refers to (no class: the empty label set).
fn pvc_matches(pvc: &Value, scope: &str, op: &str, values: &[String]) -> bool {
    if scope != "VolumeAttributesClass" {
        return false;
    }
    let classes = pvc_classes(pvc);
    if classes.is_empty() {
        return matches!(op, "NotIn" | "DoesNotExist");
    }
    classes.iter().any(|c| match op {
        "In" => values.iter().any(|v| v == c),
        "NotIn" => !values.iter().any(|v| v == c),
        "Exists" => true,
        _ => false,
    })
}

/// Does the quota track this object? Unscoped quotas track everything.
pub fn matches(gates: &FeatureGates, quota: &Value, def: &ResourceDef, obj: &Value) -> bool {
    let reqs = requirements(quota);
    if reqs.is_empty() {
        return true;
    }
    let core = def.group.is_empty();
    if core && def.kind == "PersistentVolumeClaim" && gates.enabled("VolumeAttributesClass") {
        return reqs.iter().all(|(s, op, vals)| pvc_matches(obj, s, op, vals));
    }
    core && def.kind == "Pod" && reqs.iter().all(|(s, op, vals)| pod_matches(obj, s, op, vals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_scopes() {
        let Some(pods) = crate::api::builtin_row("", "pods").copied() else {
            return;
        };
        let Some(cms) = crate::api::builtin_row("", "configmaps").copied() else {
            return;
        };
        let be = json!({"spec": {"containers": [{"name": "c"}]}});
        let burst = json!({"spec": {"activeDeadlineSeconds": 30, "priorityClassName": "high",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}});
        let q = |spec: Value| json!({"spec": spec});
        let g = FeatureGates::default();
        assert!(matches(&g, &q(json!({"scopes": ["BestEffort"]})), &pods, &be));
        assert!(!matches(&g, &q(json!({"scopes": ["BestEffort"]})), &pods, &burst));
        assert!(matches(
            &g,
            &q(json!({"scopes": ["Terminating", "NotBestEffort"]})),
            &pods,
            &burst
        ));
        assert!(matches(&g, &q(json!({"scopes": ["NotTerminating"]})), &pods, &be));
        let pc = q(json!({"scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}));
        assert!(matches(&g, &pc, &pods, &burst));
        assert!(!matches(&g, &pc, &pods, &be));
        assert!(!matches(&g, &pc, &cms, &json!({})));
        assert!(matches(&g, &q(json!({"hard": {"pods": "1"}})), &cms, &json!({})));
    }

    #[test]
    fn pvc_scopes_with_the_volume_attributes_class_gate() {
        let Some(pvcs) = crate::api::builtin_row("", "persistentvolumeclaims").copied() else {
            return;
        };
        let on = FeatureGates::with(&[("VolumeAttributesClass", true)]);
        let gold = json!({"spec": {"volumeAttributesClassName": "gold"}});
        let moving = json!({"spec": {"volumeAttributesClassName": "gold"},
            "status": {"modifyVolumeStatus": {"targetVolumeAttributesClassName": "silver"}}});
        let none = json!({"spec": {}});
        let sel = |op: &str, values: Value| {
            json!({"spec": {"scopeSelector": {"matchExpressions": [
                {"scopeName": "VolumeAttributesClass", "operator": op, "values": values}]}}})
        };
        let exists = json!({"spec": {"scopes": ["VolumeAttributesClass"]}});
        assert!(matches(&on, &exists, &pvcs, &gold));
        assert!(!matches(&on, &exists, &pvcs, &none));
        assert!(matches(&on, &sel("In", json!(["silver"])), &pvcs, &moving));
        assert!(!matches(&on, &sel("In", json!(["silver"])), &pvcs, &gold));
        assert!(
            matches(&on, &sel("NotIn", json!(["gold"])), &pvcs, &moving),
            "silver is not gold"
        );
        assert!(matches(&on, &sel("NotIn", json!(["gold"])), &pvcs, &none));
        assert!(matches(&on, &sel("DoesNotExist", json!([])), &pvcs, &none));
        assert!(
            !matches(&FeatureGates::default(), &exists, &pvcs, &gold),
            "gate off: no scope matches"
        );
    }
}
