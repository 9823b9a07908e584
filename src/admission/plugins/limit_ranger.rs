//! LimitRanger: `Container` LimitRange items in the pod's namespace set default requests and
//! limits (recorded in the `kubernetes.io/limit-ranger` annotation), then min, max and
//! maxLimitRequestRatio are enforced with upstream's messages.

use super::containers_mut;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use crate::util::quantity;
use serde_json::{json, Map, Value};

pub struct LimitRanger;

fn applies(a: &Attributes) -> bool {
    a.is_core("Pod") && a.subresource.is_empty() && a.operation == Operation::Create
}

/// The `Container` items of every LimitRange in the namespace.
async fn container_items(env: &Env<'_>, ns: &str) -> ApiResult<Vec<Value>> {
    let ranges = env.list_cached_or_live("", "limitranges", Some(ns)).await?;
    Ok(ranges
        .iter()
        .flat_map(|r| r.arr_at("/spec/limits").to_vec())
        .filter(|l| l.get("type").and_then(Value::as_str) == Some("Container"))
        .collect())
}

fn obj<'a>(v: &'a Value, k: &str) -> Option<&'a Map<String, Value>> {
    v.get(k).and_then(Value::as_object)
}

/// Fill missing requests/limits from the items' `defaultRequest`/`default`; returns what
/// was set, as the annotation's text fragments.
pub fn apply_defaults(pod: &mut Value, items: &[Value]) -> Vec<String> {
    let mut notes = Vec::new();
    containers_mut(&mut pod["spec"], |list, c| {
        if list == "ephemeralContainers" {
            return;
        }
        let cname = c.str_of("name").to_string();
        let mut set_req = Vec::new();
        let mut set_lim = Vec::new();
        for item in items {
            for (field, key, set) in [
                ("requests", "defaultRequest", &mut set_req),
                ("limits", "default", &mut set_lim),
            ] {
                let Some(defaults) = obj(item, key) else { continue };
                for (res, q) in defaults {
                    let have = c.pointer(&format!("/resources/{field}/{res}")).is_some();
                    if !have {
                        if !c["resources"].is_object() {
                            c["resources"] = json!({});
                        }
                        if !c["resources"][field].is_object() {
                            c["resources"][field] = json!({});
                        }
                        c["resources"][field][res] = q.clone();
                        set.push(res.clone());
                    }
                }
            }
        }
        // A limit without a request: the request defaults to the limit (upstream's API defaulting).
        if let Some(lims) = c.obj_at("/resources/limits").cloned() {
            for (res, q) in lims {
                if c.pointer(&format!("/resources/requests/{res}")).is_none() {
                    if !c["resources"]["requests"].is_object() {
                        c["resources"]["requests"] = json!({});
                    }
                    c["resources"]["requests"][&res] = q;
                }
            }
        }
        let kind = if list == "initContainers" {
            "init container"
        } else {
            "container"
        };
        set_req.sort();
        set_lim.sort();
        if !set_req.is_empty() {
            notes.push(format!("{} request for {kind} {cname}", set_req.join(", ")));
        }
        if !set_lim.is_empty() {
            notes.push(format!("{} limit for {kind} {cname}", set_lim.join(", ")));
        }
    });
    notes
}

/// min/max/ratio violations of one container against one item.
pub fn check_container(c: &Value, item: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let q = |field: &str, res: &str| {
        c.pointer(&format!("/resources/{field}/{res}"))
            .and_then(quantity::milli)
    };
    // One error per constraint, in upstream's order (minConstraint / maxConstraint).
    if let Some(min) = obj(item, "min") {
        for (res, m) in min {
            let Some(m) = quantity::milli(m) else { continue };
            let ms = quantity::format_milli(m);
            let (r, l) = (q("requests", res), q("limits", res));
            match (r, l) {
                (None, _) => errs.push(format!(
                    "minimum {res} usage per Container is {ms}.  No request is specified"
                )),
                (Some(r), _) if r < m => errs.push(format!(
                    "minimum {res} usage per Container is {ms}, but request is {}",
                    quantity::format_milli(r)
                )),
                (_, Some(l)) if l < m => errs.push(format!(
                    "minimum {res} usage per Container is {ms}, but limit is {}",
                    quantity::format_milli(l)
                )),
                _ => {}
            }
        }
    }
    if let Some(max) = obj(item, "max") {
        for (res, m) in max {
            let Some(m) = quantity::milli(m) else { continue };
            let ms = quantity::format_milli(m);
            let (r, l) = (q("requests", res), q("limits", res));
            match (l, r) {
                (None, _) => errs.push(format!(
                    "maximum {res} usage per Container is {ms}.  No limit is specified"
                )),
                (Some(l), _) if l > m => errs.push(format!(
                    "maximum {res} usage per Container is {ms}, but limit is {}",
                    quantity::format_milli(l)
                )),
                (_, Some(r)) if r > m => errs.push(format!(
                    "maximum {res} usage per Container is {ms}, but request is {}",
                    quantity::format_milli(r)
                )),
                _ => {}
            }
        }
    }
    if let Some(ratio) = obj(item, "maxLimitRequestRatio") {
        for (res, m) in ratio {
            let Some(m) = quantity::milli(m) else { continue };
            let (Some(l), r) = (q("limits", res), q("requests", res)) else {
                continue;
            };
            let ms = quantity::format_milli(m);
            match r.filter(|r| *r > 0) {
                None => errs.push(format!(
                    "{res} max limit to request ratio per Container is {ms}, but no request is specified or request is 0"
                )),
                Some(r) => {
                    let actual = l as f64 / r as f64;
                    if actual > m as f64 / 1000.0 {
                        errs.push(format!(
                            "{res} max limit to request ratio per Container is {ms}, but provided ratio is {actual:.6}"
                        ));
                    }
                }
            }
        }
    }
    errs
}

/// Go's `utilerrors.NewAggregate(..).Error()`: one error as is, several in brackets.
pub fn aggregate(errs: &[String]) -> String {
    if errs.len() == 1 {
        errs[0].clone()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

#[async_trait::async_trait]
impl Plugin for LimitRanger {
    fn name(&self) -> &'static str {
        "LimitRanger"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let items = container_items(env, &a.namespace).await?;
        let Some(pod) = a.object.as_mut() else { return Ok(()) };
        if items.is_empty() {
            return Ok(());
        }
        let notes = apply_defaults(pod, &items);
        if !notes.is_empty() {
            if !pod["metadata"]["annotations"].is_object() {
                pod["metadata"]["annotations"] = json!({});
            }
            pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] =
                json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
        }
        Ok(())
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let Some(pod) = a.object.as_ref() else { return Ok(()) };
        let items = container_items(env, &a.namespace).await?;
        let mut errs = Vec::new();
        for (list, _, c) in super::containers(&pod["spec"]) {
            if list == "ephemeralContainers" {
                continue;
            }
            for item in &items {
                errs.extend(check_container(c, item));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(a.forbidden(&aggregate(&errs)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_annotation_text() {
        let item = json!({"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m", "memory": "64Mi"}});
        let mut pod = json!({"spec": {"containers": [{"name": "web", "resources": {"requests": {"memory": "1Gi"}}}]}});
        let notes = apply_defaults(&mut pod, &[item]);
        assert_eq!(notes, ["cpu request for container web", "cpu limit for container web"]);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            json!({"requests": {"memory": "1Gi", "cpu": "100m"}, "limits": {"cpu": "500m"}})
        );
    }

    #[test]
    fn min_max_ratio_messages() {
        let item = json!({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1", "memory": "1Gi"}, "maxLimitRequestRatio": {"cpu": "2"}});
        let c = json!({"resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "2"}}});
        assert_eq!(
            check_container(&c, &item),
            [
                "minimum cpu usage per Container is 100m, but request is 50m",
                "maximum cpu usage per Container is 1, but limit is 2",
                "maximum memory usage per Container is 1Gi.  No limit is specified",
                "cpu max limit to request ratio per Container is 2, but provided ratio is 40.000000",
            ]
        );
        let ok = json!({"resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1", "memory": "1Gi"}}});
        assert!(check_container(&ok, &item).is_empty());
        assert_eq!(aggregate(&["a".into()]), "a");
        assert_eq!(aggregate(&["a".into(), "b".into()]), "[a, b]");
    }
}
