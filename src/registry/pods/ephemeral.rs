//! `pods/{name}/ephemeralcontainers` (get/update/patch; `kubectl debug`): only
//! `spec.ephemeralContainers` of the written Pod is taken (upstream's
//! `dropNonEphemeralContainerUpdates`); existing ephemeral containers may not change or go.

use crate::error::field::FieldError;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

/// Upstream's `ValidatePodEphemeralContainersUpdate` (the parts that concern the list itself).
pub fn validate(old: &Value, new_list: &[Value], pod: &str) -> ApiResult<()> {
    let mut errs = Vec::new();
    let old_list = old.arr_at("/spec/ephemeralContainers").to_vec();
    for o in &old_list {
        let n = o.str_of("name");
        match new_list
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(n))
        {
            None => errs.push(FieldError::forbidden(
                "spec.ephemeralContainers",
                format!("existing ephemeral containers \"{n}\" may not be removed\n"),
            )),
            Some(c) if c != o => errs.push(FieldError::forbidden(
                "spec.ephemeralContainers",
                format!("existing ephemeral containers \"{n}\" may not be changed\n"),
            )),
            _ => {}
        }
    }
    let mut taken = [old.names_at("/spec/containers"), old.names_at("/spec/initContainers")].concat();
    for (i, c) in new_list.iter().enumerate() {
        let path = format!("spec.ephemeralContainers[{i}]");
        let name = c.str_of("name");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{path}.name"), ""));
        } else if taken.iter().any(|t| t == name) {
            errs.push(FieldError::duplicate(format!("{path}.name"), name));
        } else {
            taken.push(name.to_string());
        }
        if c.str_of("image").is_empty() {
            errs.push(FieldError::required(format!("{path}.image"), ""));
        }
        crate::api::strategy::core::validate_privileged(
            c,
            &path,
            crate::api::strategy::core::allow_privileged(),
            &mut errs,
        );
        for forbidden in [
            "ports",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "lifecycle",
            "resources",
        ] {
            if c.get(forbidden).is_some_and(|v| !v.is_null())
                && !(forbidden == "resources" && c[forbidden] == json!({}))
            {
                errs.push(FieldError::forbidden(
                    format!("{path}.{forbidden}"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("Pod", "", pod, &errs))
    }
}

/// The pod `pod` would become when `target` (the PUT body, or the patched pod) is written to
/// its `ephemeralcontainers`: only `spec.ephemeralContainers` is taken, defaulted and
/// validated; `update` marks a PUT, whose resourceVersion must match.
pub fn apply(pod: &Value, target: &Value, update: bool, name: &str) -> ApiResult<Value> {
    if update {
        let rv = target.opt_str_at("/metadata/resourceVersion");
        let cur = pod.opt_str_at("/metadata/resourceVersion");
        if rv.is_some_and(|r| !r.is_empty()) && rv != cur {
            return Err(ApiError::stale("pods", "", name));
        }
    }
    let mut list = target.arr_at("/spec/ephemeralContainers").to_vec();
    for c in list.iter_mut() {
        // Defaults the pod strategy would apply to a container.
        if c.get("terminationMessagePath").is_none() {
            c["terminationMessagePath"] = json!("/dev/termination-log");
        }
        if c.get("terminationMessagePolicy").is_none() {
            c["terminationMessagePolicy"] = json!("File");
        }
        if c.get("imagePullPolicy").is_none() {
            let latest = c
                .get("image")
                .and_then(Value::as_str)
                .is_some_and(|i| !i.rsplit('/').next().unwrap_or("").contains(':') || i.ends_with(":latest"));
            c["imagePullPolicy"] = json!(if latest { "Always" } else { "IfNotPresent" });
        }
    }
    validate(pod, &list, name)?;
    let mut out = pod.clone();
    out["spec"]["ephemeralContainers"] = Value::Array(list);
    Ok(out)
}

/// Store `admitted`'s ephemeral containers on pod `ns/name`, provided the rest of its spec is
/// still what `admitted` was computed from (`base`); a 409 Conflict otherwise (the caller
/// computes and admits again). A dry run answers the pod as it would be written and writes
/// nothing.
pub async fn store(
    reg: &Registry,
    ns: &str,
    name: &str,
    base: &Value,
    admitted: &Value,
    dry_run: bool,
) -> ApiResult<Value> {
    let pods = super::pods()?;
    let without = |p: &Value| {
        let mut spec = p.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(m) = spec.as_object_mut() {
            m.remove("ephemeralContainers");
        }
        spec
    };
    let base_spec = without(base);
    let list = admitted
        .pointer("/spec/ephemeralContainers")
        .cloned()
        .unwrap_or(json!([]));
    let write = |pod: &mut Value| -> ApiResult<()> {
        if without(pod) != base_spec {
            return Err(ApiError::stale("pods", "", name));
        }
        pod["spec"]["ephemeralContainers"] = list.clone();
        Ok(())
    };
    if dry_run {
        let mut pod = reg.get(pods, Some(ns), name, None).await?.value();
        write(&mut pod)?;
        return Ok(pod);
    }
    reg.guaranteed_update(pods, Some(ns), name, write).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_ephemeral_containers_are_immutable() {
        let old = json!({"spec": {"containers": [{"name": "app"}],
            "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}});
        let e = validate(&old, &[], "web").err().map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("Pod \"web\" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be removed\n")
        );
        let dup = [
            json!({"name": "dbg", "image": "busybox"}),
            json!({"name": "app", "image": "x"}),
        ];
        let e = validate(&old, &dup, "web").err().map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("Pod \"web\" is invalid: spec.ephemeralContainers[1].name: Duplicate value: \"app\"")
        );
        assert!(validate(
            &old,
            &[
                json!({"name": "dbg", "image": "busybox"}),
                json!({"name": "d2", "image": "x"})
            ],
            "web"
        )
        .is_ok());
    }
}
