//! `pods/resize` (in-place pod vertical scaling, beta and on in 1.33): upstream's
//! `podResizeStrategy` — of the written pod only the containers' (and sidecar init containers')
//! `resources` and `resizePolicy` are taken (`dropNonResizeUpdates`) — and
//! `ValidatePodResize`.

use super::core::pod_qos_class;
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use crate::util::quantity;
use serde_json::{Map, Value};

fn containers<'a>(pod: &'a Value, key: &str) -> &'a [Value] {
    pod.pointer(&format!("/spec/{key}"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn name_of(c: &Value) -> &str {
    c.str_of("name")
}

/// `dropNonResizeUpdatesForContainers`: the old containers with the new ones' resources and
/// resize policies; None when containers were renamed or reordered (validation reports it).
fn merged_containers(new: &[Value], old: &[Value]) -> Option<Vec<Value>> {
    let mut out = old.to_vec();
    for (i, c) in new.iter().enumerate() {
        if name_of(&out[i]) != name_of(c) {
            return None;
        }
        let m = out[i].as_object_mut()?;
        for key in ["resources", "resizePolicy"] {
            match c.get(key) {
                Some(v) => m.insert(key.into(), v.clone()),
                None => m.remove(key),
            };
        }
    }
    Some(out)
}

/// The pod a resize writes: the stored pod (metadata too, as `ResetObjectMetaForStatus` keeps
/// it) with the written containers' resources and resize policies. When containers were added,
/// removed, renamed or reordered the written spec is kept as it is, for [`validate`] to refuse.
pub fn merge(old: &Value, written: &Value) -> Value {
    let (nc, oc) = (containers(written, "containers"), containers(old, "containers"));
    let (ni, oi) = (containers(written, "initContainers"), containers(old, "initContainers"));
    let mut pod = old.clone();
    if nc.len() != oc.len() || ni.len() != oi.len() {
        pod["spec"] = written.get("spec").cloned().unwrap_or(Value::Null);
        return pod;
    }
    let (Some(c), Some(i)) = (merged_containers(nc, oc), merged_containers(ni, oi)) else {
        pod["spec"] = written.get("spec").cloned().unwrap_or(Value::Null);
        return pod;
    };
    if !c.is_empty() {
        pod["spec"]["containers"] = Value::Array(c);
    }
    if !i.is_empty() {
        pod["spec"]["initContainers"] = Value::Array(i);
    }
    pod
}

fn is_sidecar(c: &Value) -> bool {
    c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
}

fn list<'a>(c: &'a Value, which: &str) -> Option<&'a Map<String, Value>> {
    c.pointer(&format!("/resources/{which}")).and_then(Value::as_object)
}

/// `validateContainerResize`: nothing removed, memory limits not lowered (or added) unless
/// the container restarts for memory.
fn validate_container(new: &Value, old: &Value, path: &str, errs: &mut FieldErrors) {
    let removed = |which: &str| {
        let n = list(new, which);
        list(old, which).is_some_and(|o| o.keys().any(|k| n.is_none_or(|n| !n.contains_key(k))))
    };
    if removed("requests") {
        errs.push(FieldError::forbidden(
            format!("{path}.requests"),
            "resource requests cannot be removed",
        ));
    }
    if removed("limits") {
        errs.push(FieldError::forbidden(
            format!("{path}.limits"),
            "resource limits cannot be removed",
        ));
    }
    let memory_policy = new
        .get("resizePolicy")
        .and_then(Value::as_array)
        .and_then(|ps| {
            ps.iter()
                .find(|p| p.get("resourceName").and_then(Value::as_str) == Some("memory"))
        })
        .and_then(|p| p.get("restartPolicy").and_then(Value::as_str))
        .unwrap_or("");
    if matches!(memory_policy, "" | "NotRequired") {
        let lim = |c: &Value| list(c, "limits").and_then(|l| l.get("memory")).cloned();
        match (lim(new), lim(old)) {
            (Some(n), Some(o)) if quantity::milli(&n) < quantity::milli(&o) => errs.push(FieldError::forbidden(
                format!("{path}.limits[memory]"),
                "memory limits cannot be decreased unless resizePolicy is RestartContainer",
            )),
            (Some(_), None) => errs.push(FieldError::forbidden(
                format!("{path}.limits[memory]"),
                "memory limits cannot be added unless resizePolicy is RestartContainer",
            )),
            _ => {}
        }
    }
}

/// `dropCPUMemoryResourcesFromContainer`: the container with cpu and memory taken from `old`
/// (resource lists `old` lacks dropped), empty lists left out as Go's equality ignores them.
fn without_cpu_memory(c: &Value, old: &Value) -> Value {
    let mut c = c.clone();
    let mut resources = Map::new();
    for which in ["limits", "requests"] {
        let Some(old_list) = list(old, which) else { continue };
        let mut l = list(&c, which).cloned().unwrap_or_default();
        l.remove("cpu");
        l.remove("memory");
        for k in ["cpu", "memory"] {
            if let Some(v) = old_list.get(k) {
                l.insert(k.into(), v.clone());
            }
        }
        if !l.is_empty() {
            resources.insert(which.into(), Value::Object(l));
        }
    }
    c["resources"] = Value::Object(resources);
    c
}

/// Go's semantic equality of two containers: empty and absent lists and maps are equal.
fn same(a: &Value, b: &Value) -> bool {
    fn clean(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), clean(v)))
                    .filter(|(_, v)| {
                        !matches!(v, Value::Null) && v != &Value::Object(Map::new()) && v != &Value::Array(vec![])
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(clean).collect()),
            other => other.clone(),
        }
    }
    clean(a) == clean(b)
}

/// `isPodResizeRequestSupported`: a pod with a running container must report its resources
/// (the node runs the feature).
fn resize_supported(old: &Value) -> bool {
    let statuses = old.pointer("/status/containerStatuses").and_then(Value::as_array);
    match statuses.and_then(|s| s.iter().find(|c| c.pointer("/state/running").is_some())) {
        Some(c) => c.get("resources").is_some_and(|r| !r.is_null()),
        None => true,
    }
}

/// `ValidatePodResize` beyond ObjectMeta and the pod spec (which the store checks as for any
/// write of the pod).
pub fn validate(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let pod_level = |p: &Value| {
        ["requests", "limits"].iter().any(|k| {
            p.pointer(&format!("/spec/resources/{k}"))
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
    };
    let refuse = |errs: &mut FieldErrors, why: &str| {
        errs.clear();
        errs.push(FieldError::forbidden("", why));
    };
    if pod_level(old) || pod_level(new) {
        return refuse(errs, "pods with pod-level resources cannot be resized");
    }
    if old
        .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return refuse(errs, "static pods cannot be resized");
    }
    if old.pointer("/spec/os/name").and_then(Value::as_str) == Some("windows") {
        return refuse(errs, "windows pods cannot be resized");
    }
    let old_qos = old
        .pointer("/status/qosClass")
        .and_then(Value::as_str)
        .filter(|q| !q.is_empty())
        .unwrap_or_else(|| pod_qos_class(old.get("spec").unwrap_or(&Value::Null)));
    if old_qos != pod_qos_class(new.get("spec").unwrap_or(&Value::Null)) {
        let shown = new.pointer("/status/qosClass").cloned().unwrap_or(Value::from(""));
        errs.push(FieldError::invalid(
            "spec",
            shown,
            "Pod QOS Class may not change as a result of resizing",
        ));
    }
    if !resize_supported(old) {
        errs.push(FieldError::forbidden(
            "spec",
            "Pod running on node without support for resize",
        ));
    }
    // Containers may not be added, removed, renamed or reordered.
    let mut ordering = false;
    for (key, what) in [("containers", "containers"), ("initContainers", "initContainers")] {
        let (n, o) = (containers(new, key), containers(old, key));
        if n.len() != o.len() {
            errs.push(FieldError::forbidden(
                format!("spec.{key}"),
                format!("{what} may not be added or removed on resize"),
            ));
            ordering = true;
            continue;
        }
        for (i, (nc, oc)) in n.iter().zip(o).enumerate() {
            if name_of(nc) != name_of(oc) {
                errs.push(FieldError::forbidden(
                    format!("spec.{key}[{i}].name"),
                    format!("{what} may not be renamed or reordered on resize"),
                ));
                ordering = true;
            }
        }
    }
    if ordering {
        return;
    }
    let (nc, oc) = (containers(new, "containers"), containers(old, "containers"));
    let (ni, oi) = (containers(new, "initContainers"), containers(old, "initContainers"));
    for (i, o) in oi.iter().enumerate().filter(|(_, c)| is_sidecar(c)) {
        validate_container(&ni[i], o, &format!("spec.initContainers[{i}].resources"), errs);
    }
    for (i, o) in oc.iter().enumerate() {
        validate_container(&nc[i], o, &format!("spec.containers[{i}].resources"), errs);
    }
    for (n, o) in nc.iter().zip(oc) {
        if !same(&without_cpu_memory(n, o), o) {
            errs.push(FieldError::forbidden(
                "spec",
                "only cpu and memory resources are mutable",
            ));
        }
    }
    for (n, o) in ni.iter().zip(oi) {
        if is_sidecar(o) {
            if !same(&without_cpu_memory(n, o), o) {
                errs.push(FieldError::forbidden(
                    "spec",
                    "only cpu and memory resources for sidecar containers are mutable",
                ));
            }
        } else if !same(n, o) {
            errs.push(FieldError::forbidden(
                "spec",
                "resources for non-sidecar init containers are immutable",
            ));
        }
    }
    if !errs.is_empty() {
        return;
    }
    // Anything else of the spec that differs.
    let mut rest_new = new.get("spec").cloned().unwrap_or(Value::Null);
    let mut rest_old = old.get("spec").cloned().unwrap_or(Value::Null);
    for s in [&mut rest_new, &mut rest_old] {
        if let Some(m) = s.as_object_mut() {
            m.remove("containers");
            m.remove("initContainers");
        }
    }
    if !same(&rest_new, &rest_old) {
        errs.push(FieldError::forbidden(
            "spec",
            "only cpu and memory resources are mutable",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(cpu: &str, mem: &str) -> Value {
        json!({"metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i",
                "resources": {"requests": {"cpu": cpu, "memory": mem}, "limits": {"cpu": cpu, "memory": mem}}}]},
            "status": {"phase": "Running", "qosClass": "Guaranteed"}})
    }

    fn errors(new: &Value, old: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&merge(old, new), old, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn only_container_resources_change() {
        let old = pod("500m", "128Mi");
        let mut written = pod("1", "256Mi");
        written["spec"]["containers"][0]["image"] = json!("other");
        written["spec"]["nodeName"] = json!("elsewhere");
        written["status"] = json!({"phase": "Failed"});
        let merged = merge(&old, &written);
        assert_eq!(merged["spec"]["containers"][0]["resources"]["limits"]["cpu"], "1");
        assert_eq!(merged["spec"]["containers"][0]["image"], "i");
        assert_eq!(merged["spec"]["nodeName"], "n1");
        assert_eq!(merged["status"]["phase"], "Running");
        assert!(errors(&written, &old).is_empty());
    }

    #[test]
    fn upstreams_refusals() {
        let old = pod("500m", "128Mi");
        assert_eq!(
            errors(&pod("500m", "64Mi"), &old),
            ["spec.containers[0].resources.limits[memory]: Forbidden: memory limits cannot be decreased unless resizePolicy is RestartContainer"]
        );
        let mut burstable = pod("500m", "128Mi");
        burstable["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("1");
        assert_eq!(
            errors(&burstable, &old),
            ["spec: Invalid value: \"Guaranteed\": Pod QOS Class may not change as a result of resizing"]
        );
        let mut removed = pod("500m", "128Mi");
        removed["spec"]["containers"][0]["resources"]["requests"] = json!({"cpu": "500m"});
        assert!(errors(&removed, &old).contains(
            &"spec.containers[0].resources.requests: Forbidden: resource requests cannot be removed".to_string()
        ));
        let mut storage = pod("500m", "128Mi");
        storage["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"] = json!("1Gi");
        assert!(
            errors(&storage, &old).contains(&"spec: Forbidden: only cpu and memory resources are mutable".to_string())
        );
        let mut renamed = pod("500m", "128Mi");
        renamed["spec"]["containers"][0]["name"] = json!("d");
        assert_eq!(
            errors(&renamed, &old),
            ["spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize"]
        );
        let mut mirror = old.clone();
        mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"});
        assert_eq!(
            errors(&pod("1", "128Mi"), &mirror),
            [": Forbidden: static pods cannot be resized"]
        );
    }
}
