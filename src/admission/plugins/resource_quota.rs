//! ResourceQuota: every create is checked against the namespace's quotas and charged to their
//! `status.used` with a compare-and-swap on the quota object, so concurrent creates can't both
//! take the last unit. A failed write refunds the charge. As upstream, admission only ever
//! charges: deletes and decreases are given back by kube-controller-manager's quota controller
//! when it recounts (writing `status.used` here too raced its updates into conflicts). A quota
//! whose status has no entry for a resource yet is initialised from a live count.

use crate::admission::{Attributes, Charge, Env, Operation, Plugin};
use crate::api::builtin_row as row;
use crate::api::ResourceDef;
use crate::error::{ApiError, ApiResult};
use crate::registry::store::Part;
use crate::registry::Registry;
use crate::util::json::JsonExt;
use crate::util::quantity;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub struct ResourceQuota;

/// Core resources that also have a legacy object-count name (`pods`, `configmaps`, …).
const LEGACY_COUNTS: &[&str] = &[
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
];

fn count_name(def: &ResourceDef) -> String {
    if def.group.is_empty() {
        format!("count/{}", def.plural)
    } else {
        format!("count/{}.{}", def.plural, def.group)
    }
}

fn is_terminal_pod(pod: &Value) -> bool {
    matches!(pod.str_at("/status/phase"), "Succeeded" | "Failed")
}

/// A pod's total `requests` or `limits` as upstream's `resourcehelper.PodRequests`/`PodLimits`:
/// app containers and sidecars (restartable init containers) add up, a regular init container
/// counts with the sidecars started before it, the larger of the two wins, overhead is added
/// (to limits only where one is set).
fn pod_totals(spec: &Value, field: &str) -> BTreeMap<String, i128> {
    fn of(c: &Value, field: &str) -> BTreeMap<String, i128> {
        c.pointer(&format!("/resources/{field}"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), quantity::milli(v)?)))
            .collect()
    }
    fn add(to: &mut BTreeMap<String, i128>, from: &BTreeMap<String, i128>) {
        for (k, v) in from {
            *to.entry(k.clone()).or_default() += v;
        }
    }
    fn max(to: &mut BTreeMap<String, i128>, from: &BTreeMap<String, i128>) {
        for (k, v) in from {
            let e = to.entry(k.clone()).or_insert(*v);
            *e = (*e).max(*v);
        }
    }
    let list = |key: &str| spec[key].as_array().cloned().unwrap_or_default();
    let mut total = BTreeMap::new();
    for c in list("containers") {
        add(&mut total, &of(&c, field));
    }
    let (mut sidecars, mut inits) = (BTreeMap::new(), BTreeMap::new());
    for c in list("initContainers") {
        let own = of(&c, field);
        let counted = if c.str_at("/restartPolicy") == "Always" {
            add(&mut total, &own);
            add(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            add(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        max(&mut inits, &counted);
    }
    max(&mut total, &inits);
    if let Some(overhead) = spec.get("overhead").filter(|o| o.is_object()) {
        let mut overhead = of(&json!({"resources": {field: overhead}}), field);
        if field == "limits" {
            // Only limits that are set (and not zero) carry the overhead.
            overhead.retain(|k, _| total.get(k).is_some_and(|v| *v != 0));
        }
        add(&mut total, &overhead);
    }
    total
}

/// Pod compute usage as upstream's pod evaluator: cpu, memory and ephemeral-storage requests
/// under their bare and `requests.` names, limits under `limits.`, hugepages under both names,
/// extended resources under `requests.` only.
fn pod_compute(pod: &Value) -> BTreeMap<String, i128> {
    let mut out = BTreeMap::new();
    let spec = &pod["spec"];
    for (name, v) in pod_totals(spec, "requests") {
        match name.as_str() {
            "cpu" | "memory" | "ephemeral-storage" => {
                out.insert(format!("requests.{name}"), v);
                out.insert(name, v);
            }
            n if n.starts_with("hugepages-") => {
                out.insert(format!("requests.{name}"), v);
                out.insert(name, v);
            }
            n if is_extended_resource(n) => {
                out.insert(format!("requests.{name}"), v);
            }
            _ => {}
        }
    }
    for (name, v) in pod_totals(spec, "limits") {
        if matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            out.insert(format!("limits.{name}"), v);
        }
    }
    out
}

/// Upstream's `IsExtendedResourceName`: a domain-qualified name outside `kubernetes.io/`, not
/// already `requests.`-prefixed.
fn is_extended_resource(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

/// What one object uses of every quota-tracked resource (milli-units; counts are 1000).
pub fn usage(def: &ResourceDef, obj: &Value) -> BTreeMap<String, i128> {
    let mut u = BTreeMap::new();
    if def.group.is_empty() && def.kind == "Pod" && is_terminal_pod(obj) {
        return u;
    }
    u.insert(count_name(def), 1000);
    if def.group.is_empty() && LEGACY_COUNTS.contains(&def.plural) {
        u.insert(def.plural.to_string(), 1000);
    }
    if def.group.is_empty() {
        match def.kind {
            "Pod" => u.extend(pod_compute(obj)),
            "Service" => {
                let t = obj.str_at("/spec/type");
                if t == "LoadBalancer" {
                    u.insert("services.loadbalancers".into(), 1000);
                }
                if t == "NodePort" || t == "LoadBalancer" {
                    let n = obj.arr_at("/spec/ports").len();
                    u.insert("services.nodeports".into(), n as i128 * 1000);
                }
            }
            "PersistentVolumeClaim" => {
                if let Some(s) = obj
                    .pointer("/spec/resources/requests/storage")
                    .and_then(quantity::milli)
                {
                    u.insert("requests.storage".into(), s);
                    let class = obj.str_at("/spec/storageClassName");
                    if !class.is_empty() {
                        u.insert(format!("{class}.storageclass.storage.k8s.io/requests.storage"), s);
                        u.insert(
                            format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
                            1000,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    u
}

/// Go's quota `prettyPrint`: sorted `name=quantity` joined by commas.
fn pretty(m: &BTreeMap<String, i128>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={}", quantity::format_milli(*v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn quantities(m: Option<&Map<String, Value>>) -> BTreeMap<String, i128> {
    m.into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), quantity::milli(v)?)))
        .collect()
}

fn to_json(m: &BTreeMap<String, i128>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), json!(quantity::format_milli(*v))))
            .collect(),
    )
}

/// Usage of `resource` by everything already stored in the namespace (status initialisation).
async fn live_usage(env: &Env<'_>, quota: &Value, ns: &str, resource: &str) -> ApiResult<i128> {
    let (group, plural) = match resource.strip_prefix("count/") {
        Some(gr) => match gr.split_once('.') {
            Some((p, g)) => (g.to_string(), p.to_string()),
            None => (String::new(), gr.to_string()),
        },
        None if LEGACY_COUNTS.contains(&resource) => (String::new(), resource.to_string()),
        None if resource.starts_with("services.") => (String::new(), "services".into()),
        None if resource.contains("storage") || resource.contains("persistentvolumeclaims") => {
            (String::new(), "persistentvolumeclaims".into())
        }
        None => (String::new(), "pods".into()),
    };
    let Some(def) = row(&group, &plural) else { return Ok(0) };
    let items = env.list(&group, &plural, Some(ns)).await?;
    Ok(items
        .iter()
        .filter(|o| super::quota_scope::matches(&env.registry.features, quota, def, o))
        .map(|o| usage(def, o).get(resource).copied().unwrap_or(0))
        .sum())
}

/// Resources a pod must declare because a quota tracks them (`must specify ...`).
fn missing_pod_resources(obj: &Value, hard: &BTreeMap<String, i128>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, field, res) in [
        ("requests.cpu", "requests", "cpu"),
        ("cpu", "requests", "cpu"),
        ("requests.memory", "requests", "memory"),
        ("memory", "requests", "memory"),
        ("limits.cpu", "limits", "cpu"),
        ("limits.memory", "limits", "memory"),
    ] {
        if !hard.contains_key(name) {
            continue;
        }
        let all = obj
            .arr_at("/spec/containers")
            .iter()
            .all(|c| c.pointer(&format!("/resources/{field}/{res}")).is_some());
        if !all {
            out.push(name.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

#[async_trait::async_trait]
impl Plugin for ResourceQuota {
    fn name(&self) -> &'static str {
        "ResourceQuota"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        // Creates, and updates of the main resource or a pod resize (a PVC storage increase,
        // new pod requests) charge what they add.
        let handled = match a.operation {
            Operation::Create => a.subresource.is_empty(),
            Operation::Update => a.subresource.is_empty() || a.subresource == "resize",
            _ => false,
        };
        if !handled || a.namespace.is_empty() {
            return Ok(());
        }
        let Some(obj) = a.object.as_ref() else { return Ok(()) };
        let Some(qdef) = row("", "resourcequotas") else {
            return Ok(());
        };
        let old = a.old.as_ref().filter(|_| a.operation == Operation::Update);
        let full = usage(&a.def, obj);
        // An update charges what it adds (upstream's SubtractWithNonNegativeResult) to a quota
        // that tracked the old object too, and the whole usage to one that starts tracking it.
        let added: BTreeMap<String, i128> = match old {
            Some(old) => {
                let before = usage(&a.def, old);
                full.iter()
                    .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
                    .filter(|(_, v)| *v > 0)
                    .collect()
            }
            // A create charges `full` (no quota tracked an old object).
            None => BTreeMap::new(),
        };
        // Retry the whole check when a concurrent writer changed a quota under us.
        'attempt: for attempt in 0..10 {
            // After a conflict the cache may still hold the quota we lost to: read storage.
            let quotas = if attempt == 0 {
                env.list_cached_or_live("", "resourcequotas", Some(&a.namespace))
                    .await?
            } else {
                env.list("", "resourcequotas", Some(&a.namespace)).await?
            };
            for q in &quotas {
                // A scoped quota tracks only the objects its scopes match (the new object;
                // on update the old one too, so usage moves when a scope stops matching).
                let gates = &env.registry.features;
                let now = super::quota_scope::matches(gates, q, &a.def, obj);
                let before = old.is_some_and(|o| super::quota_scope::matches(gates, q, &a.def, o));
                let requested = match (now, before) {
                    (false, _) => continue,
                    (true, false) => &full,
                    (true, true) => &added,
                };
                let qname = q.str_at("/metadata/name").to_string();
                let hard = quantities(q.obj_at("/spec/hard"));
                // Zero usage changes nothing: no status write (upstream's RemoveZeros).
                let tracked: Vec<&String> = requested
                    .iter()
                    .filter(|(k, v)| **v != 0 && hard.contains_key(*k))
                    .map(|(k, _)| k)
                    .collect();
                if a.is_core("Pod") && now {
                    let missing = missing_pod_resources(obj, &hard);
                    if !missing.is_empty() {
                        return Err(a.forbidden(&format!("failed quota: {qname}: must specify {}", missing.join(","))));
                    }
                }
                if tracked.is_empty() {
                    continue;
                }
                // Fresh read: the list came from the cache, the CAS needs the newest revision.
                let Ok(live) = env.registry.get(qdef, Some(&a.namespace), &qname, None).await else {
                    continue;
                };
                let q = &live.value();
                let mut used = quantities(q.obj_at("/status/used"));
                for r in hard.keys() {
                    if !used.contains_key(r) {
                        let n = live_usage(env, q, &a.namespace, r).await?;
                        used.insert(r.clone(), n);
                    }
                }
                let mut exceeded = Vec::new();
                for r in &tracked {
                    let want = used.get(*r).copied().unwrap_or(0) + requested[*r];
                    if requested[*r] > 0 && want > hard[*r] {
                        exceeded.push((*r).clone());
                    }
                }
                if !exceeded.is_empty() {
                    let mask = |m: &BTreeMap<String, i128>| -> BTreeMap<String, i128> {
                        exceeded
                            .iter()
                            .map(|k| (k.clone(), m.get(k).copied().unwrap_or(0)))
                            .collect()
                    };
                    return Err(a.forbidden(&format!(
                        "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                        pretty(&mask(requested)),
                        pretty(&mask(&used)),
                        pretty(&mask(&hard))
                    )));
                }
                if a.dry_run {
                    continue;
                }
                let delta: BTreeMap<String, i128> = tracked.iter().map(|k| ((*k).clone(), requested[*k])).collect();
                for (k, v) in &delta {
                    let u = used.entry(k.clone()).or_insert(0);
                    *u = (*u + v).max(0);
                }
                let mut body = q.clone();
                body["status"] = json!({"hard": to_json(&hard), "used": to_json(&used)});
                body["metadata"]["resourceVersion"] = json!(live.revision.to_string());
                match env
                    .registry
                    .update(qdef, Some(&a.namespace), &qname, body, Part::Status, false, None)
                    .await
                {
                    Ok(_) => env.ctx.record_charge(Charge {
                        namespace: a.namespace.clone(),
                        quota: qname,
                        delta,
                    }),
                    Err(e) if e.code == 409 => {
                        crate::admission::rollback(env.registry, env.ctx).await;
                        continue 'attempt;
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        Err(ApiError::conflict(
            "resourcequotas",
            "",
            "",
            "too many concurrent quota updates",
        ))
    }
}

/// Give a charge back (failed write, or a deleted object).
pub async fn refund(reg: &Registry, c: &Charge) {
    let Some(qdef) = row("", "resourcequotas") else { return };
    for _ in 0..10 {
        let Ok(cur) = reg.get(qdef, Some(&c.namespace), &c.quota, None).await else {
            return;
        };
        let mut body = cur.value();
        let mut used = quantities(body.obj_at("/status/used"));
        for (k, v) in &c.delta {
            if let Some(u) = used.get_mut(k) {
                *u = (*u - v).max(0);
            }
        }
        body["status"]["used"] = to_json(&used);
        body["metadata"]["resourceVersion"] = json!(cur.revision.to_string());
        // Boxed: refund runs inside the registry's own write path.
        match Box::pin(reg.update(qdef, Some(&c.namespace), &c.quota, body, Part::Status, false, None)).await {
            Err(e) if e.code == 409 => continue,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_of_pods_and_configmaps() {
        let cm = row("", "configmaps").copied();
        let Some(cm) = cm else { return };
        let u = usage(&cm, &json!({}));
        assert_eq!(u.get("count/configmaps"), Some(&1000));
        assert_eq!(u.get("configmaps"), Some(&1000));
        let Some(pods) = row("", "pods").copied() else { return };
        let pod = json!({"spec": {"containers": [
            {"resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi"}}},
            {"resources": {"requests": {"cpu": "250m"}}},
        ], "initContainers": [{"resources": {"requests": {"cpu": "1"}}}]}});
        let u = usage(&pods, &pod);
        assert_eq!(u.get("requests.cpu"), Some(&1000));
        assert_eq!(u.get("limits.memory"), Some(&1_073_741_824_000));
        assert_eq!(pretty(&u.into_iter().filter(|(k, _)| k == "pods").collect()), "pods=1");
        let hard: BTreeMap<String, i128> = [("limits.cpu".to_string(), 1000)].into_iter().collect();
        assert_eq!(missing_pod_resources(&pod, &hard), ["limits.cpu"]);
    }

    /// The pod of upstream's "capture the life of a pod" conformance test, plus a sidecar and
    /// overhead: ephemeral storage under both names, extended resources under `requests.`.
    #[test]
    fn pod_usage_as_upstreams_evaluator() {
        let Some(pods) = row("", "pods").copied() else { return };
        let pod = json!({"spec": {
            "containers": [{"resources": {
                "requests": {"cpu": "500m", "memory": "252Mi", "ephemeral-storage": "30Gi", "example.com/dongle": "2"},
                "limits": {"cpu": "500m", "memory": "252Mi", "ephemeral-storage": "30Gi", "example.com/dongle": "2"}}}],
            "initContainers": [
                {"restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                {"resources": {"requests": {"cpu": "1"}}}],
            "overhead": {"cpu": "10m"}}});
        let u = usage(&pods, &pod);
        assert_eq!(u.get("ephemeral-storage"), Some(&(30 * (1 << 30) * 1000)));
        assert_eq!(u.get("requests.ephemeral-storage"), u.get("ephemeral-storage"));
        assert_eq!(u.get("requests.example.com/dongle"), Some(&2000));
        assert_eq!(u.get("example.com/dongle"), None);
        // max(500m app + 100m sidecar, 1 init + 100m sidecar) + 10m overhead.
        assert_eq!(u.get("requests.cpu"), Some(&1110));
        assert_eq!(u.get("cpu"), Some(&1110));
        assert_eq!(u.get("limits.cpu"), Some(&510));
    }
}
