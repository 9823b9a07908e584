//! `pods/{name}/eviction` (policy/v1 and v1beta1 Eviction): delete a pod unless its
//! PodDisruptionBudget forbids it, as upstream's `EvictionREST.Create` — decrement
//! `status.disruptionsAllowed`, record the pod in `status.disruptedPods`, mark the pod with a
//! `DisruptionTarget` condition, then delete it.

use super::set_condition;
use crate::api::selector::selects;
use crate::error::{ApiError, ApiResult};
use crate::registry::options::{DeleteOptions, ListOptions};
use crate::registry::Registry;
use crate::request::Query;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

/// Upstream's bound on `status.disruptedPods` entries not yet confirmed by the controller.
const MAX_DISRUPTED_PODS: usize = 2000;

/// Evict pod `ns/name` as the Eviction object asks (its `deleteOptions`, and the query's).
pub async fn evict(reg: &Registry, ns: &str, name: &str, eviction: &Value, query: &Query) -> ApiResult<()> {
    if eviction.str_at("/metadata/name") != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let del_body = eviction.get("deleteOptions").filter(|v| v.is_object());
    let opts = DeleteOptions::parse(query, del_body)?;
    let dry_run = opts.dry_run;
    let pods = super::pods()?;
    let pod = reg.get(pods, Some(ns), name, None).await?.value();
    if !can_ignore_pdb(&pod) {
        check_budgets(reg, ns, name, &pod, dry_run).await?;
    }
    if !dry_run {
        // The condition tells controllers why the pod goes (PodDisruptionConditions, GA in 1.31).
        let marked = reg
            .guaranteed_update(pods, Some(ns), name, |p| {
                set_condition(
                    p,
                    "DisruptionTarget",
                    "True",
                    Some("EvictionByEvictionAPI"),
                    Some("Eviction API: evicting"),
                );
                Ok(())
            })
            .await;
        if let Err(e) = marked {
            if e.code != 404 {
                return Err(e);
            }
        }
        reg.delete(pods, Some(ns), name, &opts).await?;
    }
    Ok(())
}

/// Terminal, pending or terminating pods are evicted without consulting budgets.
fn can_ignore_pdb(pod: &Value) -> bool {
    let phase = pod.str_at("/status/phase");
    matches!(phase, "Succeeded" | "Failed" | "Pending")
        || pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

async fn check_budgets(reg: &Registry, ns: &str, pod_name: &str, pod: &Value, dry_run: bool) -> ApiResult<()> {
    let pdb_def = crate::api::builtin_row("policy", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::internal("no poddisruptionbudgets resource"))?;
    let labels = pod.obj_at("/metadata/labels");
    let all = reg.list(pdb_def, Some(ns), &ListOptions::default()).await?;
    let matching: Vec<Value> = all
        .items
        .iter()
        .map(|o| o.value())
        .filter(|p| selects(p.pointer("/spec/selector"), labels))
        .collect();
    if matching.len() > 1 {
        return Err(ApiError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let Some(pdb) = matching.first() else {
        return Ok(());
    };
    let status_i = |p: &Value, f: &str| p.i64_at(&format!("/status/{f}")).unwrap_or(0);
    if !pod_ready(pod) {
        // An unhealthy pod does not count toward the budget: evict it when the budget is met
        // (or always, with unhealthyPodEvictionPolicy AlwaysAllow).
        let always = pdb.opt_str_at("/spec/unhealthyPodEvictionPolicy") == Some("AlwaysAllow");
        let desired = status_i(pdb, "desiredHealthy");
        if always || (status_i(pdb, "currentHealthy") >= desired && desired > 0) {
            return Ok(());
        }
    }
    let pdb_name = pdb.str_at("/metadata/name").to_string();
    if dry_run {
        // Checked, never written.
        return check_and_decrement(&mut pdb.clone(), &pdb_name, pod_name);
    }
    reg.guaranteed_update(pdb_def, Some(ns), &pdb_name, |p| {
        check_and_decrement(p, &pdb_name, pod_name)
    })
    .await
    .map(|_| ())
}

/// Upstream's `checkAndDecrement` on the freshest budget.
fn check_and_decrement(pdb: &mut Value, name: &str, pod: &str) -> ApiResult<()> {
    let snapshot = pdb.clone();
    let get = |f: &str| snapshot.i64_at(f).unwrap_or(0);
    if get("/status/observedGeneration") < get("/metadata/generation") {
        return Err(too_many_requests(
            10,
            format!("The disruption budget {name} is still being processed by the server."),
        ));
    }
    let allowed = get("/status/disruptionsAllowed");
    if allowed < 0 {
        return Err(ApiError::forbidden(
            "poddisruptionbudget",
            "policy",
            name,
            "pdb disruptions allowed is negative",
        ));
    }
    let disrupted = pdb.obj_at("/status/disruptedPods").map(|m| m.len()).unwrap_or(0);
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(ApiError::forbidden(
            "poddisruptionbudget",
            "policy",
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            0,
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                get("/status/desiredHealthy"),
                get("/status/currentHealthy")
            ),
        ));
    }
    pdb["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        let generation = get("/status/observedGeneration");
        insufficient_pods_condition(pdb, generation);
    }
    if !pdb["status"].get("disruptedPods").is_some_and(Value::is_object) {
        pdb["status"]["disruptedPods"] = json!({});
    }
    pdb["status"]["disruptedPods"][pod] = json!(crate::util::now_rfc3339());
    Ok(())
}

/// `DisruptionAllowed=False` (reason `InsufficientPods`), as `UpdateDisruptionAllowedCondition`.
fn insufficient_pods_condition(pdb: &mut Value, generation: i64) {
    if !pdb["status"].get("conditions").is_some_and(Value::is_array) {
        pdb["status"]["conditions"] = json!([]);
    }
    let now = crate::util::now_rfc3339();
    if let Some(cs) = pdb["status"]["conditions"].as_array_mut() {
        let new = json!({"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods",
            "message": "", "observedGeneration": generation, "lastTransitionTime": now});
        match cs
            .iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed"))
        {
            Some(c) => {
                let keep = c.get("status").and_then(Value::as_str) == Some("False");
                let t = c.get("lastTransitionTime").cloned();
                *c = new;
                if let (true, Some(t)) = (keep, t) {
                    c["lastTransitionTime"] = t;
                }
            }
            None => cs.push(new),
        }
    }
}

/// `errors.NewTooManyRequests` with a `DisruptionBudget` cause.
fn too_many_requests(retry_after: u64, cause: String) -> ApiError {
    let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
    if retry_after > 0 {
        details["retryAfterSeconds"] = json!(retry_after);
    }
    let mut e = ApiError::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    )
    .with_details(details);
    e.retry_after = (retry_after > 0).then_some(retry_after);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_checks_match_upstream() {
        let mut pdb = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1,
            "disruptionsAllowed": 0, "desiredHealthy": 2, "currentHealthy": 2}});
        let e = check_and_decrement(&mut pdb, "web", "p1").err();
        let e = e.map(|e| {
            (
                e.code,
                e.message.clone(),
                e.to_status()["details"]["causes"][0]["message"].clone(),
            )
        });
        assert_eq!(
            e,
            Some((
                429,
                "Cannot evict pod as it would violate the pod's disruption budget.".to_string(),
                json!("The disruption budget web needs 2 healthy pods and has 2 currently")
            ))
        );
        pdb["status"]["disruptionsAllowed"] = json!(1);
        assert!(check_and_decrement(&mut pdb, "web", "p1").is_ok());
        assert_eq!(pdb["status"]["disruptionsAllowed"], json!(0));
        assert!(pdb["status"]["disruptedPods"]["p1"].is_string());
        assert_eq!(pdb["status"]["conditions"][0]["reason"], json!("InsufficientPods"));
        let mut stale =
            json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1, "disruptionsAllowed": 3}});
        assert_eq!(
            check_and_decrement(&mut stale, "web", "p1")
                .err()
                .and_then(|e| e.retry_after),
            Some(10)
        );
    }
}
