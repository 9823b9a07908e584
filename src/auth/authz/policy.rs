//! Upstream's bootstrap RBAC policy (the table in `policy.txt`) and its reconciliation on every
//! start, as upstream's `rbac/bootstrap-roles` post-start hook does: missing objects are
//! created; existing ones get missing rules, subjects, labels and annotations added unless
//! annotated `rbac.authorization.kubernetes.io/autoupdate: "false"`; nothing is removed.

use super::rules::{rules_of, Rule};
use crate::registry::Registry;
use crate::util::json::JsonExt;
use serde_json::{json, Map, Value};

const TABLE: &str = include_str!("policy.txt");
pub const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| if x == "core" { String::new() } else { x.to_string() })
        .collect()
}

fn kv(s: &str) -> (String, Value) {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    (k.to_string(), json!(v))
}

/// Every object of the bootstrap policy, in table order (roles before bindings).
pub fn objects() -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for line in TABLE.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let meta = |name: &str, ns: Option<&str>| {
            let mut m = json!({
                "name": name,
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                "annotations": {AUTOUPDATE: "true"},
            });
            if let Some(ns) = ns {
                m["namespace"] = json!(ns);
            }
            m
        };
        let obj =
            |kind: &str, m: Value| json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": m});
        let role_ref = |kind: &str, name: &str| json!({"apiGroup": RBAC_GROUP, "kind": kind, "name": name});
        match w.as_slice() {
            ["ClusterRole", name] => {
                let mut o = obj("ClusterRole", meta(name, None));
                o["rules"] = json!([]);
                out.push(o);
            }
            ["Role", ns, name] => {
                let mut o = obj("Role", meta(name, Some(ns)));
                o["rules"] = json!([]);
                out.push(o);
            }
            ["ClusterRoleBinding", name, kind, role] => {
                let mut o = obj("ClusterRoleBinding", meta(name, None));
                o["roleRef"] = role_ref(kind, role);
                out.push(o);
            }
            ["RoleBinding", ns, name, kind, role] => {
                let mut o = obj("RoleBinding", meta(name, Some(ns)));
                o["roleRef"] = role_ref(kind, role);
                out.push(o);
            }
            _ => {
                let Some(cur) = out.last_mut() else { continue };
                let push = |cur: &mut Value, field: &str, v: Value| {
                    if !cur.get(field).is_some_and(Value::is_array) {
                        cur[field] = json!([]);
                    }
                    if let Some(a) = cur[field].as_array_mut() {
                        a.push(v);
                    }
                };
                match w.as_slice() {
                    ["label", l] => {
                        let (k, v) = kv(l);
                        cur["metadata"]["labels"][k] = v;
                    }
                    ["aggregate", l] => {
                        let (k, v) = kv(l);
                        if cur.get("aggregationRule").is_none() {
                            cur["aggregationRule"] = json!({"clusterRoleSelectors": []});
                        }
                        if let Some(a) = cur["aggregationRule"]["clusterRoleSelectors"].as_array_mut() {
                            a.push(json!({"matchLabels": {k: v}}));
                        }
                    }
                    ["rule", v, g, r, rest @ ..] => {
                        let rule = Rule {
                            verbs: list(v),
                            api_groups: list(g),
                            resources: list(r),
                            resource_names: rest.first().map(|n| list(n)).unwrap_or_default(),
                            ..Default::default()
                        };
                        push(cur, "rules", json!(rule));
                    }
                    ["url", v, u] => {
                        let rule = Rule {
                            verbs: list(v),
                            non_resource_urls: list(u),
                            ..Default::default()
                        };
                        push(cur, "rules", json!(rule));
                    }
                    ["subject", "ServiceAccount", ns, name] => {
                        push(
                            cur,
                            "subjects",
                            json!({"kind": "ServiceAccount", "name": name, "namespace": ns}),
                        );
                    }
                    ["subject", kind, name] => {
                        push(
                            cur,
                            "subjects",
                            json!({"apiGroup": RBAC_GROUP, "kind": kind, "name": name}),
                        );
                    }
                    _ => tracing::warn!(line, "unparsed bootstrap policy line"),
                }
            }
        }
    }
    out
}

/// The rules of the bootstrap `system:node` ClusterRole: the Node authorizer's static rules.
pub fn node_rules() -> Vec<Rule> {
    objects()
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && o.pointer("/metadata/name") == Some(&json!("system:node")))
        .map(rules_of)
        .unwrap_or_default()
}

/// Merge `want`'s string map into `have`'s; true when something was added.
fn merge_map(have: &mut Value, want: &Value) -> bool {
    let Some(w) = want.as_object() else { return false };
    if !have.is_object() {
        *have = Value::Object(Map::new());
    }
    let mut changed = false;
    if let Some(h) = have.as_object_mut() {
        for (k, v) in w {
            if !h.contains_key(k) {
                h.insert(k.clone(), v.clone());
                changed = true;
            }
        }
    }
    changed
}

/// The reconciled object, or None when `existing` needs no change.
fn reconcile(existing: &Value, want: &Value) -> Option<Value> {
    if existing.pointer(&format!("/metadata/annotations/{}", AUTOUPDATE.replace('/', "~1"))) == Some(&json!("false")) {
        return None;
    }
    let mut out = existing.clone();
    let mut changed = merge_map(&mut out["metadata"]["labels"], &want["metadata"]["labels"]);
    changed |= merge_map(&mut out["metadata"]["annotations"], &want["metadata"]["annotations"]);
    if want.get("rules").is_some() {
        let have = rules_of(&out);
        let missing: Vec<Rule> = rules_of(want)
            .into_iter()
            .filter(|w| !w.breakdown().iter().all(|b| have.iter().any(|h| h.covers(b))))
            .collect();
        if !missing.is_empty() {
            let mut all: Vec<Value> = out.get("rules").and_then(Value::as_array).cloned().unwrap_or_default();
            all.extend(missing.iter().map(|r| json!(r)));
            out["rules"] = Value::Array(all);
            changed = true;
        }
    }
    if let Some(sel) = want
        .pointer("/aggregationRule/clusterRoleSelectors")
        .and_then(Value::as_array)
    {
        let have = out.arr_at("/aggregationRule/clusterRoleSelectors").to_vec();
        let mut all = have.clone();
        for s in sel {
            if !have.contains(s) {
                all.push(s.clone());
            }
        }
        if all.len() != have.len() {
            out["aggregationRule"] = json!({"clusterRoleSelectors": all});
            changed = true;
        }
    }
    if let Some(subjects) = want.get("subjects").and_then(Value::as_array) {
        let have = out
            .get("subjects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let same = |a: &Value, b: &Value| {
            a["kind"] == b["kind"] && a["name"] == b["name"] && a.get("namespace") == b.get("namespace")
        };
        let mut all = have.clone();
        for s in subjects {
            if !have.iter().any(|h| same(h, s)) {
                all.push(s.clone());
            }
        }
        if all.len() != have.len() {
            out["subjects"] = Value::Array(all);
            changed = true;
        }
    }
    changed.then_some(out)
}

/// Create or reconcile every bootstrap object (idempotent; run on every start).
pub async fn ensure(reg: &Registry) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    // Concurrently: the embedded store commits concurrent writes in one transaction, so a
    // first start writes the whole policy with a few fsyncs instead of one per object.
    let results: Vec<anyhow::Result<(u32, u32)>> = futures_util::stream::iter(objects())
        .map(|want| ensure_one(reg, want))
        .buffer_unordered(32)
        .collect()
        .await;
    let (mut created, mut updated) = (0, 0);
    for r in results {
        let (c, u) = r?;
        created += c;
        updated += u;
    }
    tracing::info!(created, updated, "bootstrap RBAC policy reconciled");
    Ok(())
}

/// Create `want` if missing, or reconcile it; (created, updated) as 0/1.
async fn ensure_one(reg: &Registry, want: Value) -> anyhow::Result<(u32, u32)> {
    let (mut created, mut updated) = (0, 0);
    let kind = want["kind"].as_str().unwrap_or("");
    let plural = match kind {
        "ClusterRole" => "clusterroles",
        "Role" => "roles",
        "ClusterRoleBinding" => "clusterrolebindings",
        _ => "rolebindings",
    };
    let def =
        crate::api::builtin_row(RBAC_GROUP, plural).ok_or_else(|| anyhow::anyhow!("resource table lacks {plural}"))?;
    let ns = want.opt_str_at("/metadata/namespace");
    let name = want.str_at("/metadata/name");
    for _ in 0..3 {
        match reg.get(def, ns, name, None).await {
            Err(e) if e.code == 404 => match reg.create(def, ns, want.clone(), false).await {
                Ok(_) => {
                    created = 1;
                    break;
                }
                Err(e) if e.code == 409 => continue,
                Err(e) => anyhow::bail!("cannot create {kind} {name}: {e}"),
            },
            Err(e) => anyhow::bail!("cannot read {kind} {name}: {e}"),
            Ok(cur) => {
                let cur = cur.value();
                // A binding whose roleRef changed is recreated (roleRef is immutable).
                if want.get("roleRef").is_some()
                    && cur.get("roleRef") != want.get("roleRef")
                    && cur.pointer(&format!("/metadata/annotations/{}", AUTOUPDATE.replace('/', "~1")))
                        != Some(&json!("false"))
                {
                    let opts = crate::registry::options::DeleteOptions::parse(&crate::request::Query::parse(""), None)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let _ = reg.delete(def, ns, name, &opts).await;
                    continue;
                }
                let Some(next) = reconcile(&cur, &want) else {
                    break;
                };
                match reg
                    .update(def, ns, name, next, crate::registry::store::Part::Main, false, None)
                    .await
                {
                    Ok(_) => {
                        updated = 1;
                        break;
                    }
                    Err(e) if e.code == 409 => continue,
                    Err(e) => anyhow::bail!("cannot reconcile {kind} {name}: {e}"),
                }
            }
        }
    }
    Ok((created, updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_with_labels_and_annotations() {
        let objs = objects();
        let find = |kind: &str, name: &str| {
            objs.iter()
                .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
                .cloned()
                .unwrap_or(Value::Null)
        };
        let admin = find("ClusterRole", "cluster-admin");
        assert_eq!(
            admin["rules"][0],
            json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        );
        assert_eq!(admin["rules"][1], json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
        assert_eq!(admin["metadata"]["annotations"][AUTOUPDATE], "true");
        assert_eq!(
            admin["metadata"]["labels"]["kubernetes.io/bootstrapping"],
            "rbac-defaults"
        );
        let view = find("ClusterRole", "view");
        assert_eq!(
            view["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]
                ["rbac.authorization.k8s.io/aggregate-to-view"],
            "true"
        );
        assert_eq!(
            view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
            "true"
        );
        let b = find("ClusterRoleBinding", "system:public-info-viewer");
        assert_eq!(b["subjects"].as_array().map(Vec::len), Some(2));
        let c = find("ClusterRoleBinding", "system:controller:job-controller");
        assert_eq!(
            c["subjects"][0],
            json!({"kind": "ServiceAccount", "name": "job-controller", "namespace": "kube-system"})
        );
        let r = find("Role", "extension-apiserver-authentication-reader");
        assert_eq!(r["metadata"]["namespace"], "kube-system");
        assert_eq!(
            r["rules"][0]["resourceNames"],
            json!(["extension-apiserver-authentication"])
        );
        assert!(!node_rules().is_empty());
    }

    #[test]
    fn reconcile_adds_missing_and_respects_autoupdate_false() {
        let want = objects()
            .into_iter()
            .find(|o| o["metadata"]["name"] == "system:basic-user" && o["kind"] == "ClusterRole")
            .unwrap_or(Value::Null);
        assert_eq!(reconcile(&want, &want), None);
        let mut edited = want.clone();
        edited["rules"] = json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]);
        let next = reconcile(&edited, &want).unwrap_or(Value::Null);
        assert_eq!(next["rules"].as_array().map(Vec::len), Some(3));
        assert_eq!(next["rules"][0]["resources"], json!(["pods"]));
        edited["metadata"]["annotations"][AUTOUPDATE] = json!("false");
        assert_eq!(reconcile(&edited, &want), None);
    }
}
