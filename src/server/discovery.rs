//! Discovery documents, legacy (`/api`, `/apis`, `/api/v1`, `/apis/G`, `/apis/G/V`) and
//! aggregated (`apidiscovery.k8s.io/v2`), all derived from the resource table and rendered once.
//!
//! As upstream, a built-in resource's aggregated `responseKind` names only its kind (group and
//! version are the resource's own, left empty); a subresource answering in another group names
//! it (`scale` → autoscaling/v1 Scale, `eviction` → policy/v1 Eviction). Custom resources come
//! from the apiextensions discovery controller, which names their group and version, and list
//! their subresources as the CRD declares them (`status`, then `scale`).

use crate::api::{ResourceDef, Scope};
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::HashMap;

pub struct Discovery {
    pub api_versions: Bytes,
    pub group_list: Bytes,
    /// `"v1"` / `"apps"` / `"apps/v1"` → document.
    pub docs: HashMap<String, Bytes>,
    /// (root, version) → aggregated document and its ETag; root is `api` or `apis`.
    pub aggregated: HashMap<(&'static str, &'static str), (Bytes, String)>,
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// Groups in table order, each with its versions in table order (first = preferred).
fn groups(rows: &[ResourceDef]) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) => {
                if !vs.contains(&r.version) {
                    vs.push(r.version)
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    out
}

/// A custom resource's row (added at run time by the CRD controller), not a built-in one.
fn is_custom(r: &ResourceDef) -> bool {
    crate::api::builtin_row(r.group, r.plural).is_none()
}

/// Subresources as discovery lists them: sorted for built-in kinds (the installer's order), as
/// declared for custom resources (`status`, `scale`).
fn subresources_in_order(r: &ResourceDef) -> Vec<&'static crate::api::SubresourceDef> {
    let mut subs: Vec<_> = r.subresources.iter().collect();
    if !is_custom(r) {
        subs.sort_by_key(|s| s.name);
    }
    subs
}

fn legacy_resources(rows: &[ResourceDef], group: &str, version: &str) -> Vec<Value> {
    let mut defs: Vec<&ResourceDef> = rows
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    defs.sort_by_key(|r| r.plural);
    let mut out = Vec::new();
    for r in defs {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.scope == Scope::Namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        out.push(e);
        for s in subresources_in_order(r) {
            let mut e = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.scope == Scope::Namespaced,
                "kind": s.response.map(|g| g.kind).unwrap_or(r.kind),
                "verbs": s.verbs,
            });
            if let Some(g) = s.response {
                if g.group != r.group || g.version != r.version {
                    e["group"] = json!(g.group);
                    e["version"] = json!(g.version);
                }
            }
            out.push(e);
        }
    }
    out
}

fn aggregated_resources(rows: &[ResourceDef], group: &str, version: &str) -> Vec<Value> {
    let mut defs: Vec<&ResourceDef> = rows
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    defs.sort_by_key(|r| r.plural);
    defs.iter()
        .map(|r| {
            let custom = is_custom(r);
            // (group, version) as the response kind shows them: empty when the resource's own.
            let shown = |g: &'static str, v: &'static str| {
                if custom || (g, v) != (r.group, r.version) {
                    (g, v)
                } else {
                    ("", "")
                }
            };
            let (g, v) = shown(r.group, r.version);
            let mut e = json!({
                "resource": r.plural,
                "responseKind": {"group": g, "version": v, "kind": r.kind},
                "scope": if r.scope == Scope::Namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": r.verbs,
            });
            if !r.short_names.is_empty() {
                e["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                e["categories"] = json!(r.categories);
            }
            if !r.subresources.is_empty() {
                e["subresources"] = Value::Array(
                    subresources_in_order(r)
                        .into_iter()
                        .map(|s| {
                            let (g, v, k) = match s.response {
                                Some(gvk) => (gvk.group, gvk.version, gvk.kind),
                                None => (r.group, r.version, r.kind),
                            };
                            let (g, v) = shown(g, v);
                            json!({"subresource": s.name, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": s.verbs})
                        })
                        .collect(),
                );
            }
            e
        })
        .collect()
}

impl Discovery {
    pub fn build(rows: &[ResourceDef], server_address: &str) -> Discovery {
        let gs = groups(rows);
        let mut docs = HashMap::new();
        let api_versions = to_bytes(&json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }));
        let mut group_entries = Vec::new();
        let mut agg_core = Vec::new();
        let mut agg_named = Vec::new();
        for (group, versions) in &gs {
            for v in versions {
                let gv = if group.is_empty() {
                    v.to_string()
                } else {
                    format!("{group}/{v}")
                };
                let mut doc = json!({
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": gv,
                    "resources": legacy_resources(rows, group, v),
                });
                if group.is_empty() {
                    // Upstream's `/api/v1` carries no apiVersion.
                    doc.as_object_mut().map(|o| o.remove("apiVersion"));
                }
                docs.insert(gv, to_bytes(&doc));
            }
            let agg_versions: Vec<Value> = versions
                .iter()
                .map(|v| json!({"version": v, "resources": aggregated_resources(rows, group, v), "freshness": "Current"}))
                .collect();
            if group.is_empty() {
                agg_core.push(json!({"metadata": {"creationTimestamp": null}, "versions": agg_versions}));
                continue;
            }
            agg_named.push(json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": agg_versions}));
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            let entry = json!({
                "name": group,
                "versions": vs,
                "preferredVersion": {"groupVersion": format!("{group}/{}", versions[0]), "version": versions[0]},
            });
            docs.insert(
                group.to_string(),
                to_bytes(&json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entry["versions"], "preferredVersion": entry["preferredVersion"]})),
            );
            group_entries.push(entry);
        }
        let group_list = to_bytes(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": group_entries}));
        let mut aggregated = HashMap::new();
        for v in ["v2"] {
            for (root, items) in [("api", &agg_core), ("apis", &agg_named)] {
                let doc = to_bytes(&json!({
                    "kind": "APIGroupDiscoveryList",
                    "apiVersion": format!("apidiscovery.k8s.io/{v}"),
                    "metadata": {},
                    "items": items,
                }));
                let tag = crate::util::hash::etag(&doc);
                aggregated.insert((root, v), (doc, tag));
            }
        }
        Discovery {
            api_versions,
            group_list,
            docs,
            aggregated,
        }
    }
}

/// The served discovery documents, swapped whole when CRDs change the served rows. Readers take
/// a snapshot (`current`), so a rebuild never blocks a request and old snapshots are freed when
/// the last request using one finishes.
pub struct Live {
    current: std::sync::RwLock<std::sync::Arc<Discovery>>,
    server_address: String,
}

impl Live {
    pub fn new(rows: &[ResourceDef], server_address: &str) -> Live {
        Live {
            current: std::sync::RwLock::new(std::sync::Arc::new(Discovery::build(rows, server_address))),
            server_address: server_address.to_string(),
        }
    }

    /// Rebuild from the built-in rows plus the served custom rows.
    pub fn rebuild(&self, rows: &[ResourceDef]) {
        let d = std::sync::Arc::new(Discovery::build(rows, &self.server_address));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = d;
    }

    /// The documents as of now.
    pub fn current(&self) -> std::sync::Arc<Discovery> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_cover_the_table() {
        let rows: Vec<ResourceDef> = crate::api::enablement::default_rows().iter().map(|r| **r).collect();
        let d = Discovery::build(&rows, "127.0.0.1:6443");
        let core: Value = serde_json::from_slice(&d.docs["v1"]).unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods") && names.contains(&"pods/status") && names.contains(&"namespaces/finalize"));
        let apps: Value = serde_json::from_slice(&d.docs["apps/v1"]).unwrap();
        let scale = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(
            (scale["group"].as_str(), scale["kind"].as_str()),
            (Some("autoscaling"), Some("Scale"))
        );
        let groups: Value = serde_json::from_slice(&d.group_list).unwrap();
        let autoscaling = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "autoscaling")
            .unwrap();
        assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
        let (agg, tag) = &d.aggregated[&("apis", "v2")];
        let agg: Value = serde_json::from_slice(agg).unwrap();
        assert_eq!(agg["apiVersion"], "apidiscovery.k8s.io/v2");
        assert!(tag.starts_with('"'));
    }
}
