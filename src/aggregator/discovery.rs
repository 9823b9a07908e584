//! Discovery with APIServices: the `/apis` group list (legacy and aggregated) ordered by
//! `groupPriorityMinimum`/`versionPriority` as upstream (apiregistration first), with the
//! groups of service-backed APIServices merged in; `/apis/<group>` of such groups.

use super::{Aggregator, ApiService};
use crate::util::json::JsonExt;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Mutex;

/// Priority of groups no APIService names (CRD groups: upstream registers them at 1000/100).
const DEFAULT_GROUP_PRIORITY: i64 = 1000;
const DEFAULT_VERSION_PRIORITY: i64 = 100;
/// Upstream's `APIRegistrationGroupPriority`: our own group is always listed first.
const APIREGISTRATION_PRIORITY: i64 = 20001;

/// Rendered documents, keyed by variant; valid while the local document and the
/// aggregator's generation are the same.
#[derive(Default)]
pub struct MergedCache(Mutex<HashMap<String, (usize, u64, Bytes, String)>>);

/// Kubernetes-aware version order (`CompareKubeAwareVersionStrings`): GA > beta > alpha,
/// higher numbers first; other strings after, alphabetically.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u64, u8, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let major: u64 = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((major, 2, 0));
        }
        let (kind, num) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        Some((major, kind, num.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some((ma, ka, na)), Some((mb, kb, nb))) => kb.cmp(&ka).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// One group: its priority and versions (version, priority).
struct Group {
    priority: i64,
    versions: Vec<(String, i64)>,
}

/// Groups in upstream's order: APIServices first, then groups only the local table knows.
fn ordered(services: &[ApiService], local: &[(String, Vec<String>)]) -> Vec<(String, Vec<String>)> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    for s in services.iter().filter(|s| !s.group.is_empty()) {
        let g = groups.entry(s.group.clone()).or_insert(Group {
            priority: s.group_priority,
            versions: Vec::new(),
        });
        g.priority = g.priority.max(s.group_priority);
        if !g.versions.iter().any(|(v, _)| *v == s.version) {
            g.versions.push((s.version.clone(), s.version_priority));
        }
    }
    // A built-in version whose APIService is not in the snapshot yet (the watch cache may lag
    // autoregister's creates) takes the priority that APIService will have, so the order does
    // not change when it appears (kubectl picks a resource's version by this order).
    for (name, versions) in local {
        let g = groups.entry(name.clone()).or_insert(Group {
            priority: DEFAULT_GROUP_PRIORITY,
            versions: Vec::new(),
        });
        for v in versions {
            if !g.versions.iter().any(|(x, _)| x == v) {
                let (group_priority, version_priority) = super::autoregister::priority(name, v)
                    .unwrap_or((DEFAULT_GROUP_PRIORITY, DEFAULT_VERSION_PRIORITY));
                g.priority = g.priority.max(group_priority);
                g.versions.push((v.clone(), version_priority));
            }
        }
    }
    if let Some(g) = groups.get_mut("apiregistration.k8s.io") {
        g.priority = APIREGISTRATION_PRIORITY;
    }
    let mut out: Vec<(String, Group)> = groups.into_iter().collect();
    out.sort_by(|(an, a), (bn, b)| b.priority.cmp(&a.priority).then(an.cmp(bn)));
    out.into_iter()
        .map(|(name, mut g)| {
            g.versions
                .sort_by(|(av, ap), (bv, bp)| bp.cmp(ap).then(compare_versions(av, bv)));
            (name, g.versions.into_iter().map(|(v, _)| v).collect())
        })
        .collect()
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

impl MergedCache {
    fn get_or(&self, key: &str, local: &Bytes, gen: u64, render: impl FnOnce() -> Bytes) -> (Bytes, String) {
        let ptr = local.as_ptr() as usize;
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, g, b, t)) = m.get(key) {
            if *p == ptr && *g == gen {
                return (b.clone(), t.clone());
            }
        }
        let b = render();
        let t = crate::util::hash::etag(&b);
        m.insert(key.to_string(), (ptr, gen, b.clone(), t.clone()));
        (b, t)
    }
}

fn group_entry(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": name, "versions": vs, "preferredVersion": preferred})
}

/// The legacy `APIGroupList` for `/apis`.
pub fn group_list(agg: &Aggregator, local: &Bytes) -> Bytes {
    agg.merged
        .get_or("legacy", local, agg.generation(), || {
            let doc: Value = serde_json::from_slice(local).unwrap_or(Value::Null);
            let local_groups: Vec<(String, Vec<String>)> = doc
                .get("groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|g| {
                    let name = g.str_of("name").to_string();
                    let vs = g
                        .get("versions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.get("version").and_then(Value::as_str).map(str::to_string))
                        .collect();
                    (name, vs)
                })
                .collect();
            let groups: Vec<Value> = ordered(&agg.services(), &local_groups)
                .iter()
                .map(|(n, vs)| group_entry(n, vs))
                .collect();
            to_bytes(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        })
        .0
}

/// `/apis/<group>` for a group with a service-backed APIService (None: not ours to answer).
pub fn group_doc(agg: &Aggregator, group: &str) -> Option<Bytes> {
    let services = agg.services();
    let mine: Vec<ApiService> = services.into_iter().filter(|s| s.group == group).collect();
    if !mine.iter().any(|s| s.service.is_some()) {
        return None;
    }
    let (name, versions) = ordered(&mine, &[]).into_iter().next()?;
    let mut e = group_entry(&name, &versions);
    if let Some(o) = e.as_object_mut() {
        o.insert("kind".into(), json!("APIGroup"));
        o.insert("apiVersion".into(), json!("v1"));
    }
    Some(to_bytes(&e))
}

/// A backend's `APIResourceList` as an aggregated-discovery version entry.
pub fn aggregated_version(version: &str, list: &Value, freshness: &str) -> Value {
    let items: Vec<&Value> = list
        .get("resources")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let s = |v: &Value, k: &str| v.str_of(k).to_string();
    // As upstream's ConvertGroupVersionIntoToDiscovery: the legacy entry's own group and
    // version (empty unless it names another).
    let kind_of = |r: &Value| json!({"group": s(r, "group"), "version": s(r, "version"), "kind": s(r, "kind")});
    let mut resources: Vec<Value> = Vec::new();
    for r in items.iter().filter(|r| !s(r, "name").contains('/')) {
        let mut e = json!({
            "resource": s(r, "name"),
            "responseKind": kind_of(r),
            "scope": if r.get("namespaced").and_then(Value::as_bool).unwrap_or(false) { "Namespaced" } else { "Cluster" },
            "singularResource": s(r, "singularName"),
            "verbs": r.get("verbs").cloned().unwrap_or(json!([])),
        });
        for k in ["shortNames", "categories"] {
            if let Some(v) = r.get(k).filter(|v| v.as_array().is_some_and(|a| !a.is_empty())) {
                e[k] = v.clone();
            }
        }
        resources.push(e);
    }
    for r in items.iter().filter(|r| s(r, "name").contains('/')) {
        let name = s(r, "name");
        let Some((parent, sub)) = name.split_once('/') else {
            continue;
        };
        if let Some(p) = resources.iter_mut().find(|p| p["resource"] == parent) {
            let entry = json!({"subresource": sub, "responseKind": kind_of(r), "verbs": r.get("verbs").cloned().unwrap_or(json!([]))});
            match p.get_mut("subresources").and_then(Value::as_array_mut) {
                Some(a) => a.push(entry),
                None => p["subresources"] = json!([entry]),
            }
        }
    }
    resources.sort_by(|a, b| a["resource"].as_str().cmp(&b["resource"].as_str()));
    json!({"version": version, "resources": resources, "freshness": freshness})
}

/// The aggregated `APIGroupDiscoveryList` for `/apis`: local groups plus the backends' groups.
pub fn aggregated(agg: &Aggregator, local: &(Bytes, String), version: &str) -> (Bytes, String) {
    let key = format!("aggregated-{version}");
    agg.merged.get_or(&key, &local.0, agg.generation(), || {
        let mut doc: Value = serde_json::from_slice(&local.0).unwrap_or(Value::Null);
        let items: Vec<Value> = doc.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut by_group: Vec<(String, Map<String, Value>, Vec<Value>)> = items
            .into_iter()
            .map(|mut it| {
                let name = it.str_at("/metadata/name").to_string();
                let versions = it
                    .get_mut("versions")
                    .map(Value::take)
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default();
                (name, it.as_object().cloned().unwrap_or_default(), versions)
            })
            .collect();
        let services = agg.services();
        for s in services.iter().filter(|s| s.service.is_some()) {
            let Some(list) = agg.discovery_doc(&s.group, &s.version) else {
                continue;
            };
            let fresh = if s.available { "Current" } else { "Stale" };
            let entry = aggregated_version(&s.version, &list, fresh);
            match by_group.iter_mut().find(|(n, _, _)| *n == s.group) {
                Some((_, _, vs)) => {
                    vs.retain(|v| v["version"] != s.version.as_str());
                    vs.push(entry);
                }
                None => {
                    let mut meta = Map::new();
                    meta.insert("metadata".into(), json!({"name": s.group, "creationTimestamp": null}));
                    by_group.push((s.group.clone(), meta, vec![entry]));
                }
            }
        }
        let local_groups: Vec<(String, Vec<String>)> = by_group
            .iter()
            .map(|(n, _, vs)| {
                (
                    n.clone(),
                    vs.iter()
                        .filter_map(|v| v["version"].as_str().map(str::to_string))
                        .collect(),
                )
            })
            .collect();
        let order = ordered(&services, &local_groups);
        let mut out = Vec::new();
        for (name, versions) in order {
            let Some((_, meta, vs)) = by_group.iter().find(|(n, _, _)| *n == name) else {
                continue;
            };
            let sorted: Vec<Value> = versions
                .iter()
                .filter_map(|v| vs.iter().find(|x| x["version"] == v.as_str()).cloned())
                .collect();
            if sorted.is_empty() {
                continue;
            }
            let mut item = Value::Object(meta.clone());
            item["versions"] = Value::Array(sorted);
            out.push(item);
        }
        doc["items"] = Value::Array(out);
        to_bytes(&doc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_aware_version_order() {
        let mut vs = vec!["v1alpha1", "v1", "foo", "v2beta1", "v2", "v11alpha2", "v10beta3", "v10"];
        vs.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            vs,
            ["v10", "v2", "v1", "v10beta3", "v2beta1", "v11alpha2", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn groups_follow_apiservice_priorities() {
        let svc = |g: &str, v: &str, gp, vp| ApiService {
            name: format!("{v}.{g}"),
            group: g.into(),
            version: v.into(),
            group_priority: gp,
            version_priority: vp,
            service: None,
            ca_bundle: None,
            insecure: false,
            available: true,
            resource_version: String::new(),
        };
        let services = [
            svc("autoscaling", "v1", 17500, 15),
            svc("autoscaling", "v2", 17500, 30),
            svc("apps", "v1", 17800, 15),
            svc("apiregistration.k8s.io", "v1", 18000, 15),
            svc("wardle.example.com", "v1alpha1", 100, 10),
        ];
        let local = [(
            "stable.example.com".to_string(),
            vec!["v1".to_string(), "v2".to_string()],
        )];
        let order = ordered(&services, &local);
        let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "apiregistration.k8s.io",
                "apps",
                "autoscaling",
                "stable.example.com",
                "wardle.example.com"
            ]
        );
        assert_eq!(order[2].1, ["v2", "v1"]);
        assert_eq!(order[3].1, ["v2", "v1"]);

        // A built-in version whose APIService the snapshot lacks yet keeps the place its
        // APIService will have (v1alpha2 after v1beta1), not a default that lists it first.
        let services = [
            svc("coordination.k8s.io", "v1", 16500, 15),
            svc("coordination.k8s.io", "v1beta1", 16500, 13),
        ];
        let local = [(
            "coordination.k8s.io".to_string(),
            vec!["v1".to_string(), "v1beta1".to_string(), "v1alpha2".to_string()],
        )];
        assert_eq!(ordered(&services, &local)[0].1, ["v1", "v1beta1", "v1alpha2"]);
        let local_only = ordered(&[], &local);
        assert_eq!(local_only[0].1, ["v1", "v1beta1", "v1alpha2"]);
    }

    #[test]
    fn resource_list_becomes_an_aggregated_version() {
        let list = json!({"kind": "APIResourceList", "groupVersion": "w.example.com/v1", "resources": [
            {"name": "flunders", "singularName": "flunder", "namespaced": true, "kind": "Flunder", "verbs": ["get", "list"], "shortNames": ["fl"]},
            {"name": "flunders/status", "singularName": "", "namespaced": true, "kind": "Flunder", "verbs": ["get"]}
        ]});
        let v = aggregated_version("v1", &list, "Current");
        assert_eq!(v["resources"][0]["scope"], "Namespaced");
        assert_eq!(
            v["resources"][0]["responseKind"],
            json!({"group": "", "version": "", "kind": "Flunder"})
        );
        assert_eq!(v["resources"][0]["subresources"][0]["subresource"], "status");
        assert_eq!(v["freshness"], "Current");
    }
}
