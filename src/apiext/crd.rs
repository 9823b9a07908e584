//! The CRD controller: watches the stored CRDs (from the watch cache), resolves name conflicts
//! (upstream's naming controller: earlier CRDs keep their names), sets `NamesAccepted` and
//! `Established`, keeps `status.storedVersions`, installs the served versions as rows and
//! removes the rows and the objects of CRDs that are gone.

use super::{columns, CustomResource, CustomVersion, ScalePaths};
use crate::api::strategy::apiextensions::CLEANUP_FINALIZER;
use crate::api::{NameRule, ResourceDef, Scope, Served, SubresourceDef, SCALE, STATUS};
use crate::registry::store::Part;
use crate::registry::Registry;
use crate::storage::Storage;
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const SEGMENT: &str = "apiextensions.k8s.io/customresourcedefinitions";
/// Upstream's verb order for custom resources.
const CR_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const SUBS_NONE: &[SubresourceDef] = &[];
const SUBS_STATUS: &[SubresourceDef] = &[STATUS];
const SUBS_SCALE: &[SubresourceDef] = &[SCALE];
// Upstream lists a custom resource's subresources as status, then scale.
const SUBS_BOTH: &[SubresourceDef] = &[STATUS, SCALE];

/// Storage segments (`<group>/<plural>`) of the stored CRDs, so the caches started at boot
/// load their objects.
pub async fn stored_segments(storage: &dyn Storage) -> Vec<String> {
    let prefix = format!("/registry/{SEGMENT}/");
    let Ok(page) = storage.list(&prefix, None, 0, 0).await else {
        return vec![];
    };
    page.items
        .iter()
        .filter_map(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
        .map(|crd| format!("{}/{}", crd.str_at("/spec/group"), crd.str_at("/spec/names/plural")))
        .collect()
}

/// Kubernetes version priority (`v2` > `v1` > `v1beta2` > `v1beta1` > `v1alpha1` > others).
pub fn version_rank(v: &str) -> (u8, u64, u64, String) {
    let parse = |s: &str| -> Option<(u8, u64, u64)> {
        let rest = s.strip_prefix('v')?;
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let major: u64 = rest[..end].parse().ok()?;
        let tail = &rest[end..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (pre, rank) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = tail.strip_prefix(pre) {
                return n.parse().ok().map(|m| (rank, major, m));
            }
        }
        None
    };
    match parse(v) {
        Some((r, a, b)) => (r, a, b, String::new()),
        None => (0, 0, 0, v.to_string()),
    }
}

#[derive(Default)]
struct State {
    fingerprint: Vec<(String, i64)>,
    /// Leaked rows (and the strategy each carries) by their content, reused across syncs.
    rows: HashMap<String, (&'static ResourceDef, &'static CustomResource)>,
    /// CRD name → storage prefix of its objects, for purging when the CRD is gone.
    served: HashMap<String, String>,
    /// Printer columns by their definition, shared by the versions that define the same ones.
    columns: HashMap<String, Arc<columns::Columns>>,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_list(v: &[String]) -> &'static [&'static str] {
    Box::leak(v.iter().map(|s| leak(s)).collect::<Vec<_>>().into_boxed_slice())
}

impl State {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        reg: &Registry,
        crd: &Value,
        version: &str,
        has_status: bool,
        has_scale: bool,
    ) -> (&'static ResourceDef, &'static CustomResource) {
        let group = crd.str_at("/spec/group");
        let kind = crd.str_at("/spec/names/kind");
        let plural = crd.str_at("/spec/names/plural");
        let singular = crd.str_at("/spec/names/singular");
        let short = crd.strings_at("/spec/names/shortNames");
        let cats = crd.strings_at("/spec/names/categories");
        let scope = crd.str_at("/spec/scope");
        let key =
            format!("{group}|{version}|{kind}|{plural}|{singular}|{short:?}|{cats:?}|{scope}|{has_status}|{has_scale}");
        if let Some(r) = self.rows.get(&key) {
            return *r;
        }
        let strategy: &'static CustomResource = Box::leak(Box::new(CustomResource::new(reg.clone())));
        let row: &'static ResourceDef = Box::leak(Box::new(ResourceDef {
            group: leak(group),
            version: leak(version),
            kind: leak(kind),
            plural: leak(plural),
            singular: leak(singular),
            short_names: leak_list(&short),
            categories: leak_list(&cats),
            scope: if scope == "Cluster" {
                Scope::Cluster
            } else {
                Scope::Namespaced
            },
            verbs: CR_VERBS,
            subresources: match (has_status, has_scale) {
                (false, false) => SUBS_NONE,
                (true, false) => SUBS_STATUS,
                (false, true) => SUBS_SCALE,
                (true, true) => SUBS_BOTH,
            },
            storage: leak(&format!("{group}/{plural}")),
            served: Served::Store,
            name_rule: NameRule::Subdomain,
            generation: true,
            strategy,
            availability: crate::api::Availability::ON,
        }));
        self.rows.insert(key, (row, strategy));
        (row, strategy)
    }
}

fn condition(ty: &str, ok: bool, reason: &str, message: &str, old: &Value, now: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let prev = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty));
    let since = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    json!({"type": ty, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
}

/// Names a CRD asks for that an earlier CRD of the same group already holds.
fn conflict(crd: &Value, taken: &[Value]) -> Option<(&'static str, String)> {
    let plural = crd.str_at("/spec/names/plural");
    let singular = crd.str_at("/spec/names/singular");
    let kind = crd.str_at("/spec/names/kind");
    let list_kind = crd.str_at("/spec/names/listKind");
    let shorts = crd.strings_at("/spec/names/shortNames");
    for other in taken {
        let op = other.str_at("/spec/names/plural");
        let os = other.str_at("/spec/names/singular");
        let resources = [op, os];
        let mut other_short = other.strings_at("/spec/names/shortNames");
        other_short.extend(resources.iter().map(|s| s.to_string()));
        if resources.contains(&plural) || other_short.iter().any(|s| s == plural) {
            return Some(("PluralConflict", format!("\"{plural}\" is already in use")));
        }
        if resources.contains(&singular) || other_short.iter().any(|s| s == singular) {
            return Some(("SingularConflict", format!("\"{singular}\" is already in use")));
        }
        for s in &shorts {
            if other_short.contains(s) {
                return Some(("ShortNamesConflict", format!("\"{s}\" is already in use")));
            }
        }
        let kinds = [other.str_at("/spec/names/kind"), other.str_at("/spec/names/listKind")];
        if kinds.contains(&kind) {
            return Some(("KindConflict", format!("\"{kind}\" is already in use")));
        }
        if kinds.contains(&list_kind) {
            return Some(("ListKindConflict", format!("\"{list_kind}\" is already in use")));
        }
    }
    None
}

/// One reconcile pass over every CRD.
async fn sync(reg: &Registry, state: &mut State) {
    let cache = reg.caches.cache(SEGMENT);
    let snap = cache.snapshot(&format!("/registry/{SEGMENT}/"));
    let fp: Vec<(String, i64)> = snap.items.iter().map(|o| (o.key.clone(), o.revision)).collect();
    if fp == state.fingerprint {
        return;
    }
    let mut crds: Vec<Value> = snap.items.iter().map(|o| o.value()).collect();
    // Names already accepted are kept (upstream checks against other CRDs' acceptedNames);
    // among new CRDs the older one wins.
    let key = |c: &Value| {
        (
            c.str_at("/status/acceptedNames/plural").is_empty(),
            c.str_at("/metadata/creationTimestamp").to_string(),
            c.str_at("/metadata/name").to_string(),
        )
    };
    crds.sort_by_key(key);
    let now = crate::util::now_rfc3339();
    let mut by_group: HashMap<String, Vec<Value>> = HashMap::new();
    let mut rows: Vec<&'static ResourceDef> = Vec::new();
    let mut versions: Vec<(&'static CustomResource, Arc<CustomVersion>)> = Vec::new();
    let mut served = HashMap::new();
    let mut status_writes = Vec::new();
    let mut cleanups = Vec::new();
    for crd in &crds {
        let name = crd.str_at("/metadata/name").to_string();
        let group = crd.str_at("/spec/group").to_string();
        let taken = by_group.entry(group.clone()).or_default();
        let clash = conflict(crd, taken);
        let accepted = clash.is_none();
        let mut status = crd.get("status").cloned().unwrap_or(json!({}));
        if !status.is_object() {
            status = json!({});
        }
        let names_cond = match &clash {
            None => condition("NamesAccepted", true, "NoConflicts", "no conflicts found", crd, &now),
            Some((reason, msg)) => condition("NamesAccepted", false, reason, msg, crd, &now),
        };
        let est = if accepted {
            condition(
                "Established",
                true,
                "InitialNamesAccepted",
                "the initial names have been accepted",
                crd,
                &now,
            )
        } else {
            condition(
                "Established",
                false,
                "NotAccepted",
                "not all names are accepted",
                crd,
                &now,
            )
        };
        let deleting = crd.pointer("/metadata/deletionTimestamp").is_some();
        let mut conds = vec![names_cond, est];
        if let Some(t) = terminating_condition(crd, deleting, &now) {
            conds.push(t);
        }
        status["conditions"] = json!(conds);
        if accepted {
            taken.push(crd.clone());
            let mut names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
            if let Some(o) = names.as_object_mut() {
                o.retain(|_, v| !v.is_null());
            }
            status["acceptedNames"] = names;
        } else if status.get("acceptedNames").is_none() {
            status["acceptedNames"] = json!({"plural": "", "kind": ""});
        }
        let vs = crd.arr_at("/spec/versions").to_vec();
        let storage_version = vs
            .iter()
            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .map(|v| v.str_at("/name").to_string())
            .unwrap_or_default();
        let storage_schema = vs
            .iter()
            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
            .map(|s| Arc::new(s.clone()));
        let mut stored = status.strings_at("/storedVersions");
        if !storage_version.is_empty() && !stored.contains(&storage_version) {
            stored.push(storage_version.clone());
        }
        status["storedVersions"] = json!(stored);
        let prefix = format!("/registry/{group}/{}/", crd.str_at("/spec/names/plural"));
        if crd.get("status") != Some(&status) {
            let mut updated = crd.clone();
            updated["status"] = status;
            status_writes.push((name.clone(), updated));
        } else if deleting {
            // Terminating was recorded on an earlier pass: delete the instances, then let
            // the CRD go (the instance row is filled in below once known).
            cleanups.push((name.clone(), prefix.clone(), crd.clone(), None));
        }
        if !accepted {
            continue;
        }
        served.insert(name.clone(), prefix);
        let mut served_vs: Vec<&Value> = vs
            .iter()
            .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
            .collect();
        served_vs.sort_by_key(|v| std::cmp::Reverse(version_rank(v.str_at("/name"))));
        for v in served_vs {
            let vname = v.str_at("/name");
            let has_status = v.pointer("/subresources/status").is_some();
            let scale = v.pointer("/subresources/scale").map(|s| ScalePaths {
                spec_replicas: s.str_at("/specReplicasPath").to_string(),
                status_replicas: s.str_at("/statusReplicasPath").to_string(),
                label_selector: s.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string),
            });
            let (def, strategy) = state.row(reg, crd, vname, has_status, scale.is_some());
            if let Some(c) = cleanups.last_mut().filter(|c| c.0 == name && c.3.is_none()) {
                c.3 = Some(def);
            }
            // Rows are served only once their cache holds what is already stored.
            reg.caches.ensure(def.storage).await;
            let cols_key = v
                .get("additionalPrinterColumns")
                .map(Value::to_string)
                .unwrap_or_default();
            let columns = state
                .columns
                .entry(cols_key)
                .or_insert_with(|| Arc::new(columns::Columns::of(v)))
                .clone();
            rows.push(def);
            versions.push((
                strategy,
                Arc::new(CustomVersion {
                    crd_name: name.clone(),
                    schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                    typed: v
                        .pointer("/schema/openAPIV3Schema")
                        .map(|s| Arc::new(crate::api::schema::custom::root(s))),
                    rules: v
                        .pointer("/schema/openAPIV3Schema")
                        .map(crate::cel::crd::Rules::of)
                        .filter(|r| !r.is_empty()),
                    columns,
                    scale,
                    storage_version: storage_version.clone(),
                    selectable: selectable_fields(v),
                    terminating: deleting,
                    storage_schema: storage_schema.clone(),
                    conversion: super::conversion::Webhook::of(crd),
                }),
            ));
        }
    }
    // Groups after the built-ins, sorted by name (upstream's CRD group priority).
    rows.sort_by(|a, b| a.group.cmp(b.group));
    // Rows no longer served stop serving their old version; then the new ones take effect.
    for (_, strategy) in state.rows.values() {
        if !versions.iter().any(|(s, _)| std::ptr::eq(*s, *strategy)) {
            strategy.set(None);
        }
    }
    for (strategy, v) in versions {
        strategy.set(Some(v));
    }
    reg.resources.set_custom_rows(&rows);
    let gone: Vec<String> = state
        .served
        .iter()
        .filter(|(n, p)| !served.contains_key(*n) && !served.values().any(|q| q == *p))
        .map(|(_, p)| p.clone())
        .collect();
    state.served = served;
    state.fingerprint = fp;
    for prefix in gone {
        purge(reg.storage.as_ref(), &prefix).await;
    }
    if let Some(def) = crate::api::builtin_row("apiextensions.k8s.io", "customresourcedefinitions") {
        for (name, obj) in status_writes {
            if let Err(e) = reg.update(def, None, &name, obj, Part::Status, false, None).await {
                tracing::debug!(crd = %name, error = %e.message, "CRD status update failed; retrying");
                state.fingerprint.clear();
            }
        }
        for (name, prefix, crd, row) in cleanups {
            if !finish_deletion(reg, def, &name, &prefix, crd, row).await {
                state.fingerprint.clear();
            }
        }
    }
}

/// `selectableFields[].jsonPath` as field labels (`.spec.color` → `spec.color`).
fn selectable_fields(version: &Value) -> Vec<String> {
    version
        .get("selectableFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                .map(|p| p.trim_start_matches('.').to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream's `Terminating` condition of a deleted CRD: in progress until the finalizer
/// controller has removed the instances (`InstanceDeletionCompleted` is written with the
/// finalizer's removal). None for live CRDs.
fn terminating_condition(crd: &Value, deleting: bool, now: &str) -> Option<Value> {
    if !deleting {
        return None;
    }
    let prev = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Terminating"));
    // The delete marked it pending; this controller moves it to in progress.
    if let Some(p) = prev.filter(|p| p["reason"] != "InstanceDeletionPending") {
        return Some(p.clone());
    }
    Some(condition(
        "Terminating",
        true,
        "InstanceDeletionInProgress",
        "CustomResource deletion is in progress",
        crd,
        now,
    ))
}

/// The finalizer controller: delete the instances through the registry (their own
/// finalizers hold them, as upstream's DeleteCollection does), and once none is left record
/// `InstanceDeletionCompleted` and drop the cleanup finalizer (the store then removes the CRD).
/// False while instances remain or a write failed (retried on the next pass).
async fn finish_deletion(
    reg: &Registry,
    def: &ResourceDef,
    name: &str,
    prefix: &str,
    mut crd: Value,
    row: Option<&'static ResourceDef>,
) -> bool {
    use crate::registry::options::{DeleteOptions, ListOptions};
    let has_finalizer = crd
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|f| f == CLEANUP_FINALIZER));
    if !has_finalizer {
        return true;
    }
    match row {
        Some(row) => {
            let all = ListOptions::default();
            if let Err(e) = reg.delete_collection(row, None, &all, &DeleteOptions::default()).await {
                tracing::debug!(crd = %name, error = %e.message, "deleting custom resources failed");
                return false;
            }
            match reg.list(row, None, &all).await {
                Ok(left) if left.items.is_empty() => {}
                _ => return false,
            }
        }
        // Never served (names not accepted): nothing can hold its objects.
        None => purge(reg.storage.as_ref(), prefix).await,
    }
    let now = crate::util::now_rfc3339();
    if let Some(cs) = crd.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
        cs.retain(|c| c["type"] != "Terminating");
        cs.push(
            json!({"type": "Terminating", "status": "False", "lastTransitionTime": now,
            "reason": "InstanceDeletionCompleted", "message": "removed all instances"}),
        );
    }
    let updated = match reg.update(def, None, name, crd, Part::Status, false, None).await {
        Ok(o) => o.value(),
        Err(e) => {
            tracing::debug!(crd = %name, error = %e.message, "CRD terminating status update failed");
            return false;
        }
    };
    let mut obj = updated;
    if let Some(fs) = obj.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
        fs.retain(|f| f != CLEANUP_FINALIZER);
    }
    match reg.update(def, None, name, obj, Part::Main, false, None).await {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(crd = %name, error = %e.message, "CRD finalizer removal failed");
            false
        }
    }
}

/// Delete every object under a custom resource's storage prefix (its CRD is gone).
async fn purge(storage: &dyn Storage, prefix: &str) {
    let Ok(page) = storage.list(prefix, None, 0, 0).await else {
        return;
    };
    for kv in page.items {
        let _ = storage.delete(&kv.key, kv.mod_revision).await;
    }
}

/// Serve the stored CRDs now, then follow changes.
pub async fn start(reg: Registry) {
    let mut state = State::default();
    sync(&reg, &mut state).await;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            sync(&reg, &mut state).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority() {
        let mut vs = vec!["v1alpha1", "v1", "v2beta1", "v2", "foo", "v1beta1"];
        vs.sort_by_key(|v| std::cmp::Reverse(version_rank(v)));
        assert_eq!(vs, vec!["v2", "v1", "v2beta1", "v1beta1", "v1alpha1", "foo"]);
    }

    #[test]
    fn name_conflicts() {
        let a = json!({"spec": {"names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wd"]}}});
        let b = json!({"spec": {"names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList", "shortNames": ["wd"]}}});
        assert_eq!(
            conflict(&b, std::slice::from_ref(&a)),
            Some(("ShortNamesConflict", "\"wd\" is already in use".to_string()))
        );
    }
}
