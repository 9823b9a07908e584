//! Server-side apply and `metadata.managedFields` (k8s.io/apiserver `managedfields` over
//! sigs.k8s.io/structured-merge-diff).
//!
//! Every write records which manager set which fields. An `Apply` merges the applied
//! configuration into the live object, removes fields the manager applied before and no longer
//! applies (unless someone else owns them), and fails with a 409 listing the fields another
//! manager owns with a different value, unless forced (then ownership moves). An `Update`
//! (create, update, non-apply patch) gives the manager the fields it changed and takes them
//! away from the others.
//!
//! ```
//! use capstan::api::schema::Schemas;
//! use serde_json::json;
//! let s = Schemas::default();
//! let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
//! let obj = capstan::patch::apply(None, &cfg, "me", false, "v1", None, &s, None).unwrap();
//! assert_eq!(obj["metadata"]["managedFields"][0]["fieldsV1"], json!({"f:data": {"f:a": {}}}));
//! ```

use super::fieldpath::{compare, merge, path_string, remove_path, to_field_set, FieldSet};
use crate::api::schema::{Node, Schemas};
use crate::error::ApiError;
use crate::util::json::JsonExt;
use serde_json::{json, Map, Value};

/// The annotation client-side `kubectl apply` keeps its configuration in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One field another manager owns, in the way of an apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The manager as upstream prints it: `"kubectl"`, `"kubectl-client-side-apply" using apps/v1`.
    pub manager: String,
    pub path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApplyError {
    Conflicts(Vec<Conflict>),
    BadRequest(String),
}

impl ApplyError {
    /// The `Status` upstream answers with (`NewApplyConflict` / `NewBadRequest`).
    pub fn to_api_error(&self) -> ApiError {
        match self {
            ApplyError::BadRequest(m) => ApiError::bad_request(m.clone()),
            ApplyError::Conflicts(cs) => {
                let causes: Vec<Value> = cs
                    .iter()
                    .map(|c| {
                        json!({
                            "reason": "FieldManagerConflict",
                            "message": format!("conflict with {}", c.manager),
                            "field": path_string(&c.path),
                        })
                    })
                    .collect();
                ApiError::new(409, "Conflict", conflict_message(cs)).with_details(json!({ "causes": causes }))
            }
        }
    }
}

fn conflict_message(cs: &[Conflict]) -> String {
    if let [c] = cs {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager,
            path_string(&c.path)
        );
    }
    let mut managers: Vec<&str> = cs.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in cs.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", path_string(&c.path)));
        }
    }
    format!("Apply failed with {} conflicts: {}", cs.len(), lines.join("\n"))
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: String,
    set: FieldSet,
}

impl Entry {
    fn is(&self, manager: &str, operation: &str, api_version: &str, subresource: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource == subresource
            && (operation == "Apply" || self.api_version == api_version)
    }

    /// `printManager` of upstream's conflict errors.
    fn printed(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut s = q(&self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {}", q(&self.subresource));
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

/// Decode `metadata.managedFields`; anything undecodable counts as no entries (as upstream).
fn decode(list: &Value) -> Option<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    for e in list.as_array()? {
        let s = |k: &str| e.str_of(k).to_string();
        if e.get("fieldsType")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "FieldsV1")
        {
            return None;
        }
        let set = match e.get("fieldsV1") {
            Some(v) => FieldSet::from_fields_v1(v).ok()?,
            None => FieldSet::new(),
        };
        let entry = Entry {
            manager: s("manager"),
            operation: s("operation"),
            api_version: s("apiVersion"),
            time: e.get("time").and_then(Value::as_str).map(str::to_string),
            subresource: s("subresource"),
            set,
        };
        if !matches!(entry.operation.as_str(), "Apply" | "Update") {
            return None;
        }
        if out
            .iter()
            .any(|o| o.is(&entry.manager, &entry.operation, &entry.api_version, &entry.subresource))
        {
            return None;
        }
        out.push(entry);
    }
    Some(out)
}

fn managed_of(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(decode)
        .unwrap_or_default()
}

/// Write the entries (sorted as upstream: Apply before Update, then by time, manager,
/// apiVersion, subresource) into the object; no entries → no `managedFields`.
fn encode(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| {
                let ta = a.time.as_deref().and_then(crate::util::parse_rfc3339);
                let tb = b.time.as_deref().and_then(crate::util::parse_rfc3339);
                ta.cmp(&tb)
            })
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let meta = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(m) = meta.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::to_json).collect()),
        );
    }
}

/// What upstream's field manager compares a create against: the kind's typed zero value
/// (`json.Marshal(&T{})`, e.g. a Pod's `{"metadata":{"creationTimestamp":null},"spec":
/// {"containers":null},"status":{}}`), generated from client-go's scheme by
/// `tests/clients/go/zeroobjects`; `{}` for custom resources.
fn zero_object(api_version: &str, kind: &str) -> Value {
    static ZERO: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    let table = ZERO.get_or_init(|| serde_json::from_str(include_str!("zero_objects.json")).unwrap_or_default());
    table
        .get(&format!("{api_version}/{kind}"))
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()))
}

fn without_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Fields nobody owns (upstream's `stripMetaManager`).
fn strip_set() -> FieldSet {
    let mut s = FieldSet::new();
    for f in ["f:apiVersion", "f:kind", "f:metadata"] {
        s.insert(&p(&[f]));
    }
    for f in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(&["f:metadata".to_string(), format!("f:{f}")]);
    }
    s
}

/// Fields the strategy resets for this (sub)resource, never owned through it.
fn reset_set(subresource: Option<&str>) -> FieldSet {
    let mut s = FieldSet::new();
    match subresource {
        None => s.insert(&p(&["f:status"])),
        Some("status") => s.insert(&p(&["f:spec"])),
        Some(_) => {}
    }
    s
}

fn owned_fields(set: &FieldSet, subresource: Option<&str>) -> FieldSet {
    set.difference(&strip_set())
        .recursive_difference(&reset_set(subresource))
}

/// Server-side apply of `applied` (already parsed from YAML/JSON) by `manager`.
/// `live` None: the object does not exist yet and the result is to be created.
/// Returns the new object, `metadata.managedFields` included.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    subresource: Option<&str>,
    schemas: &Schemas,
    node: Option<&Node>,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::BadRequest(
            "the body of the request must be a YAML or JSON object".into(),
        ));
    }
    if applied.pointer("/metadata/managedFields").is_some_and(|v| !v.is_null()) {
        return Err(ApplyError::BadRequest("metadata.managedFields must be nil".into()));
    }
    match apply_once(live, applied, manager, force, api_version, subresource, schemas, node) {
        Err(ApplyError::Conflicts(cs)) if manager == "kubectl" && !force => {
            // Upgrading from client-side apply: conflicts on fields whose live value is still
            // the one in the last-applied annotation are taken over (upstream lastAppliedManager).
            let allowed = live
                .map(|l| allowed_from_last_applied(l, schemas, node))
                .unwrap_or_default();
            let remaining: Vec<Conflict> = cs.into_iter().filter(|c| !allowed.contains(&c.path)).collect();
            if remaining.is_empty() {
                apply_once(live, applied, manager, true, api_version, subresource, schemas, node)
            } else {
                Err(ApplyError::Conflicts(remaining))
            }
        }
        other => other,
    }
}

fn allowed_from_last_applied(live: &Value, schemas: &Schemas, node: Option<&Node>) -> FieldSet {
    let Some(la) = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    else {
        return FieldSet::new();
    };
    let la_set = to_field_set(&la, schemas, node);
    let cmp = compare(&la, &without_managed(live), schemas, node);
    la_set.difference(&cmp.modified).difference(&cmp.removed)
}

#[allow(clippy::too_many_arguments)]
fn apply_once(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    subresource: Option<&str>,
    schemas: &Schemas,
    node: Option<&Node>,
) -> Result<Value, ApplyError> {
    let sub = subresource.unwrap_or("");
    let mut entries = live.map(managed_of).unwrap_or_default();
    let live_clean = live.map(without_managed).unwrap_or_else(|| Value::Object(Map::new()));
    let cfg = without_managed(applied);
    let mut merged = merge(Some(&live_clean), &cfg, schemas, node);
    let new_set = owned_fields(&to_field_set(&cfg, schemas, node), subresource);
    let mine = entries.iter().position(|e| e.is(manager, "Apply", api_version, sub));
    let last_set = mine.map(|i| entries[i].set.clone());
    let prev_time = mine.and_then(|i| entries[i].time.clone());
    // Fields applied last time and not now go, unless someone still owns them (or below them).
    if let Some(last) = &last_set {
        let mut owned = new_set.clone();
        for (i, e) in entries.iter().enumerate() {
            if Some(i) != mine {
                owned.union(&e.set);
            }
        }
        for path in last.difference(&new_set).paths() {
            if !owned.has_member_at_or_under(&path) {
                remove_path(&mut merged, &path, schemas, node);
            }
        }
    }
    let cmp = compare(&live_clean, &merged, schemas, node);
    let mut changed = cmp.modified.clone();
    changed.union(&cmp.added);
    let mut conflicts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == mine {
            continue;
        }
        for path in e.set.intersection(&changed).paths() {
            conflicts.push(Conflict {
                manager: e.printed(),
                path,
            });
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.manager.cmp(&b.manager));
        return Err(ApplyError::Conflicts(conflicts));
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) != mine {
            e.set = e.set.difference(&changed).difference(&cmp.removed);
        }
    }
    let noop = merged == live_clean && live.is_some();
    let time = if noop {
        prev_time
    } else {
        Some(crate::util::now_rfc3339())
    };
    let entry = Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        time,
        subresource: sub.to_string(),
        set: new_set,
    };
    match mine {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    if manager == "kubectl" {
        sync_last_applied(&mut merged, applied);
    }
    encode(&mut merged, entries);
    Ok(merged)
}

/// `kubectl apply --server-side` keeps an existing last-applied annotation current
/// (upstream lastAppliedUpdater).
fn sync_last_applied(obj: &mut Value, applied: &Value) {
    let has = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .is_some();
    if !has {
        return;
    }
    let mut cfg = without_managed(applied);
    if let Some(a) = cfg.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            if let Some(m) = cfg.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("annotations");
            }
        }
    }
    let text = serde_json::to_string(&cfg).unwrap_or_default();
    if let Some(a) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        a.insert(LAST_APPLIED.into(), Value::String(text));
    }
}

/// Record an `Update` by `manager` (create, update, non-apply patch): it owns the fields it
/// changed from `old` (None on create) to `new`, and those leave the other managers. Writes
/// `new.metadata.managedFields`. A request that sends `managedFields: []` resets them; one
/// that sends none keeps the live ones.
#[allow(clippy::too_many_arguments)]
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    schemas: &Schemas,
    node: Option<&Node>,
) {
    let sub = subresource.unwrap_or("");
    let mut entries = match new.pointer("/metadata/managedFields") {
        Some(Value::Array(a)) if a.is_empty() => Vec::new(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty) => Vec::new(),
        Some(v) => match decode(v) {
            Some(e) if !e.is_empty() => e,
            _ => old.map(managed_of).unwrap_or_default(),
        },
        None => old.map(managed_of).unwrap_or_default(),
    };
    let old_clean = old
        .map(without_managed)
        .unwrap_or_else(|| zero_object(api_version, new.str_of("kind")));
    let new_clean = without_managed(new);
    let cmp = compare(&old_clean, &new_clean, schemas, node);
    let mut changed = cmp.modified.clone();
    changed.union(&cmp.added);
    for e in entries.iter_mut() {
        e.set = e.set.difference(&changed).difference(&cmp.removed);
    }
    let mine = owned_fields(&changed, subresource);
    if !mine.is_empty() {
        let now = Some(crate::util::now_rfc3339());
        match entries.iter_mut().find(|e| e.is(manager, "Update", api_version, sub)) {
            Some(e) => {
                e.set.union(&mine);
                e.time = now;
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now,
                subresource: sub.to_string(),
                set: mine,
            }),
        }
    }
    encode(new, entries);
}

/// The manager name of a request without `fieldManager`: the User-Agent up to its first `/`
/// (upstream `prefixFromUserAgent`).
pub fn manager_from_user_agent(user_agent: Option<&str>) -> String {
    user_agent.unwrap_or("").split('/').next().unwrap_or("").to_string()
}

/// Fields of an applied configuration its schema does not declare, as structured-merge-diff's
/// typed conversion names them (`.spec.foo`, `.spec.template.spec.containers[name="nginx"].bogus`),
/// in document order. Apply always rejects them, whatever `fieldValidation` says.
pub fn undeclared_fields(applied: &Value, schemas: &Schemas, node: Option<&Node>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(n) = node {
        walk_declared(applied, schemas, n, &mut Vec::new(), &mut out);
    }
    out
}

fn walk_declared(v: &Value, schemas: &Schemas, node: &Node, path: &mut Vec<String>, out: &mut Vec<String>) {
    use crate::api::schema::Ty;
    if node.preserve_unknown || matches!(node.ty, Ty::Any | Ty::IntOrString) {
        return;
    }
    match v {
        Value::Object(m) if node.ty == Ty::Object => {
            let elem = node.additional.as_deref().and_then(|r| schemas.resolve(r));
            if node.fields.is_empty() && elem.is_none() {
                return;
            }
            for (k, fv) in m {
                path.push(super::fieldpath::field_pe(k));
                match node.fields.get(k).and_then(|r| schemas.resolve(r)).or(elem) {
                    Some(child) => walk_declared(fv, schemas, child, path, out),
                    None if node.fields.contains_key(k) => {}
                    None => out.push(format!("{}: field not declared in schema", path_string(path))),
                }
                path.pop();
            }
        }
        Value::Array(items) if node.ty == Ty::Array => {
            let Some(item_node) = node.items.as_deref().and_then(|r| schemas.resolve(r)) else {
                return;
            };
            let (kind, keys) = super::fieldpath::list_kind(Some(node));
            for (i, item) in items.iter().enumerate() {
                path.push(super::fieldpath::item_pe(item, kind, &keys, i));
                walk_declared(item, schemas, item_node, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A MutatingAdmissionPolicy's ApplyConfiguration merged into `live` (upstream
/// `ApplyStructuredMergeDiff`): the configuration must fit the schema and may not set atomic
/// lists, maps or structs; then the apply merge, without managed fields. Err is upstream's
/// message.
pub fn merge_configuration(
    live: &Value,
    config: &Value,
    schemas: &Schemas,
    node: Option<&Node>,
) -> Result<Value, String> {
    let undeclared = undeclared_fields(config, schemas, node);
    if !undeclared.is_empty() {
        return Err(format!(
            "failed to convert patch object to typed object: {}",
            problems_text(&undeclared)
        ));
    }
    let mut atomics = Vec::new();
    find_atomics(config, schemas, node, &mut Vec::new(), &mut atomics);
    if !atomics.is_empty() {
        return Err(format!(
            "invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: {}",
            atomics.join(", ")
        ));
    }
    Ok(merge(Some(live), config, schemas, node))
}

/// Upstream `findAtomics`: the paths of atomic maps and lists the configuration sets (list
/// items are walked by index).
fn find_atomics(v: &Value, schemas: &Schemas, node: Option<&Node>, path: &mut Vec<String>, out: &mut Vec<String>) {
    use crate::api::schema::{ListType, MapType, Ty};
    let Some(n) = node else { return };
    match v {
        Value::Object(m) if n.ty == Ty::Object => {
            if n.map_type == MapType::Atomic {
                out.push(path_string(path));
            }
            for (k, fv) in m {
                if let Some(child) = n.fields.get(k).and_then(|r| schemas.resolve(r)) {
                    path.push(super::fieldpath::field_pe(k));
                    find_atomics(fv, schemas, Some(child), path, out);
                    path.pop();
                }
            }
        }
        Value::Array(items) if n.ty == Ty::Array => {
            if super::fieldpath::list_kind(Some(n)).0 == ListType::Atomic {
                out.push(path_string(path));
            }
            let elem = super::fieldpath::items(schemas, Some(n));
            for (i, item) in items.iter().enumerate() {
                path.push(format!("i:{i}"));
                find_atomics(item, schemas, elem, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// One problem, or `errors:` and one indented line each (structured-merge-diff's list).
fn problems_text(problems: &[String]) -> String {
    if problems.len() == 1 {
        return problems[0].clone();
    }
    let mut lines = vec!["errors:".to_string()];
    lines.extend(problems.iter().map(|p| format!("  {p}")));
    lines.join("\n")
}

/// What upstream's field manager answers when an applied configuration does not fit its schema:
/// a plain error (500, no reason) naming the object as `namespace/name; group/version, Kind=Kind`
/// and listing the problems (`errors:` and one indented line each when there are several).
pub fn typed_patch_error(applied: &Value, problems: &[String]) -> ApiError {
    let meta = |k: &str| applied.str_at(&format!("/metadata/{k}")).to_string();
    let api_version = applied.str_of("apiVersion");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = applied.str_of("kind");
    let detail = problems_text(problems);
    ApiError::new(
        500,
        "",
        format!(
            "failed to create typed patch object ({}/{}; {group}/{version}, Kind={kind}): {detail}",
            meta("namespace"),
            meta("name")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::schema::{PatchStrategy, Ty, TypeRef};

    fn inline(n: Node) -> TypeRef {
        TypeRef::Inline(Box::new(n))
    }

    fn schema() -> (Schemas, Node) {
        let s = Schemas::default();
        let container = Node {
            fields: [("name", Ty::String), ("image", Ty::String)]
                .into_iter()
                .map(|(k, t)| {
                    (
                        k.to_string(),
                        inline(Node {
                            ty: t,
                            ..Default::default()
                        }),
                    )
                })
                .collect(),
            ..Default::default()
        };
        let containers = Node {
            ty: Ty::Array,
            items: Some(Box::new(inline(container))),
            patch_strategy: PatchStrategy::Merge,
            merge_key: Some("name".into()),
            ..Default::default()
        };
        let spec = Node {
            fields: [
                ("containers".to_string(), inline(containers)),
                (
                    "replicas".to_string(),
                    inline(Node {
                        ty: Ty::Integer,
                        ..Default::default()
                    }),
                ),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let root = Node {
            fields: [("spec".to_string(), inline(spec))].into_iter().collect(),
            ..Default::default()
        };
        (s, root)
    }

    fn deploy(replicas: i64, labels: Value, containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "default", "labels": labels},
            "spec": {"replicas": replicas, "containers": containers}
        })
    }

    #[test]
    fn apply_creates_with_managed_fields() {
        let (s, root) = schema();
        let cfg = deploy(1, json!({"app": "x"}), json!([{"name": "c", "image": "i"}]));
        let out = apply(None, &cfg, "kubectl", false, "apps/v1", None, &s, Some(&root)).unwrap();
        let mf = &out["metadata"]["managedFields"];
        assert_eq!(mf.as_array().unwrap().len(), 1);
        assert_eq!(mf[0]["manager"], "kubectl");
        assert_eq!(mf[0]["operation"], "Apply");
        assert_eq!(mf[0]["apiVersion"], "apps/v1");
        assert_eq!(mf[0]["fieldsType"], "FieldsV1");
        let t = mf[0]["time"].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
        assert_eq!(
            mf[0]["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}},
                    "f:replicas": {}
                }
            })
        );
    }

    #[test]
    fn reapply_removes_fields_no_longer_applied() {
        let (s, root) = schema();
        let cfg1 = deploy(
            1,
            json!({"app": "x", "tier": "web"}),
            json!([{"name": "c", "image": "i"}, {"name": "d", "image": "j"}]),
        );
        let live = apply(None, &cfg1, "m", false, "apps/v1", None, &s, Some(&root)).unwrap();
        let cfg2 = deploy(2, json!({"app": "x"}), json!([{"name": "c", "image": "i2"}]));
        let out = apply(Some(&live), &cfg2, "m", false, "apps/v1", None, &s, Some(&root)).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(out["spec"]["containers"], json!([{"name": "c", "image": "i2"}]));
    }

    #[test]
    fn conflicts_and_force() {
        let (s, root) = schema();
        let cfg = deploy(1, json!({"app": "x"}), json!([{"name": "c", "image": "i"}]));
        let live = apply(None, &cfg, "a", false, "apps/v1", None, &s, Some(&root)).unwrap();
        // Same values: shared ownership, no conflict.
        let shared = apply(Some(&live), &cfg, "b", false, "apps/v1", None, &s, Some(&root)).unwrap();
        assert_eq!(shared["metadata"]["managedFields"].as_array().unwrap().len(), 2);
        let cfg_b = deploy(3, json!({"app": "x"}), json!([{"name": "c", "image": "i"}]));
        let err = apply(Some(&live), &cfg_b, "b", false, "apps/v1", None, &s, Some(&root)).unwrap_err();
        let status = err.to_api_error();
        assert_eq!(status.code, 409);
        assert_eq!(status.reason, "Conflict");
        assert_eq!(
            status.message,
            "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
        );
        assert_eq!(
            status.details.unwrap()["causes"],
            json!([{"reason": "FieldManagerConflict", "message": "conflict with \"a\"", "field": ".spec.replicas"}])
        );
        let forced = apply(Some(&live), &cfg_b, "b", true, "apps/v1", None, &s, Some(&root)).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let mf = forced["metadata"]["managedFields"].as_array().unwrap();
        let a = mf.iter().find(|e| e["manager"] == "a").unwrap();
        assert!(a["fieldsV1"]["f:spec"].get("f:replicas").is_none());
        let b = mf.iter().find(|e| e["manager"] == "b").unwrap();
        assert!(b["fieldsV1"]["f:spec"].get("f:replicas").is_some());
    }

    #[test]
    fn update_managers_conflict_with_version_and_several_conflicts() {
        let (s, root) = schema();
        let old = deploy(1, json!({"app": "x"}), json!([{"name": "c", "image": "i"}]));
        let mut created = old.clone();
        record_update(
            None,
            &mut created,
            "kubectl-client-side-apply",
            "apps/v1",
            None,
            &s,
            Some(&root),
        );
        let mf = &created["metadata"]["managedFields"][0];
        assert_eq!(mf["operation"], "Update");
        assert_eq!(mf["manager"], "kubectl-client-side-apply");
        assert_eq!(mf["fieldsV1"]["f:spec"]["f:replicas"], json!({}));
        let cfg = deploy(2, json!({"app": "y"}), json!([{"name": "c", "image": "i"}]));
        let err = apply(Some(&created), &cfg, "other", false, "apps/v1", None, &s, Some(&root)).unwrap_err();
        let e = err.to_api_error();
        assert_eq!(
            e.message,
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .metadata.labels.app\n- .spec.replicas"
        );
        assert_eq!(
            e.details.unwrap()["causes"][1],
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using apps/v1", "field": ".spec.replicas"})
        );
    }

    #[test]
    fn update_takes_fields_from_others() {
        let (s, root) = schema();
        let cfg = deploy(1, json!({"app": "x"}), json!([{"name": "c", "image": "i"}]));
        let live = apply(None, &cfg, "kubectl", false, "apps/v1", None, &s, Some(&root)).unwrap();
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(5);
        record_update(Some(&live), &mut new, "kubectl-scale", "apps/v1", None, &s, Some(&root));
        let mf = new["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 2);
        assert_eq!(mf[0]["manager"], "kubectl");
        assert!(mf[0]["fieldsV1"]["f:spec"].get("f:replicas").is_none());
        assert_eq!(mf[1]["manager"], "kubectl-scale");
        assert_eq!(mf[1]["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
        // An update that changes nothing records nothing new.
        let mut same = new.clone();
        record_update(Some(&new), &mut same, "noop", "apps/v1", None, &s, Some(&root));
        assert_eq!(same["metadata"]["managedFields"].as_array().unwrap().len(), 2);
        // Sending managedFields: [] resets them.
        let mut reset = new.clone();
        reset["metadata"]["managedFields"] = json!([]);
        record_update(Some(&new), &mut reset, "x", "apps/v1", None, &s, Some(&root));
        assert!(reset["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn kubectl_takes_over_client_side_apply_fields() {
        let (s, root) = schema();
        let cfg = deploy(1, json!({"app": "x"}), json!([{"name": "c", "image": "i"}]));
        let mut live = without_managed(&cfg);
        live["metadata"]["annotations"] = json!({LAST_APPLIED: serde_json::to_string(&cfg).unwrap()});
        let mut created = live.clone();
        record_update(
            None,
            &mut created,
            "kubectl-client-side-apply",
            "apps/v1",
            None,
            &s,
            Some(&root),
        );
        let cfg2 = deploy(2, json!({"app": "x"}), json!([{"name": "c", "image": "i"}]));
        // Another manager conflicts...
        assert!(apply(Some(&created), &cfg2, "other", false, "apps/v1", None, &s, Some(&root)).is_err());
        // ...kubectl takes over fields still as last applied, and refreshes the annotation.
        let out = apply(
            Some(&created),
            &cfg2,
            "kubectl",
            false,
            "apps/v1",
            None,
            &s,
            Some(&root),
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 2);
        let la: Value = serde_json::from_str(out["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap()).unwrap();
        assert_eq!(la["spec"]["replicas"], 2);
    }

    #[test]
    fn bad_applied_configs() {
        let s = Schemas::default();
        let cfg = json!({"metadata": {"name": "x", "managedFields": [{"manager": "m"}]}});
        assert_eq!(
            apply(None, &cfg, "m", false, "v1", None, &s, None).unwrap_err(),
            ApplyError::BadRequest("metadata.managedFields must be nil".into())
        );
        assert_eq!(
            manager_from_user_agent(Some("kubectl/v1.33.0 (linux/amd64) kubernetes/abc")),
            "kubectl"
        );
        assert_eq!(manager_from_user_agent(None), "");
    }

    #[test]
    fn undeclared_fields_are_named_as_structured_merge_diff_does() {
        let s = crate::api::schema::builtin();
        let root = s.root_for("apps", "v1", "Deployment");
        let cfg = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns1", "labels": {"any-key": "ok"}},
            "spec": {
                "foo": "bar",
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "nginx", "image": "nginx", "bogus": 1,
                     "ports": [{"containerPort": 80, "extra": true}]}
                ]}}
            }
        });
        let found = undeclared_fields(&cfg, s, root);
        assert_eq!(
            found,
            vec![
                ".spec.foo: field not declared in schema".to_string(),
                r#".spec.template.spec.containers[name="nginx"].bogus: field not declared in schema"#.to_string(),
                r#".spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"].extra: field not declared in schema"#.to_string(),
            ]
        );
        let e = typed_patch_error(&cfg, &found[..1]);
        assert_eq!(e.code, 500);
        assert_eq!(
            e.message,
            "failed to create typed patch object (ns1/web; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema"
        );
        let e = typed_patch_error(&cfg, &found[..2]);
        assert_eq!(
            e.message,
            "failed to create typed patch object (ns1/web; apps/v1, Kind=Deployment): errors:\n  .spec.foo: field not declared in schema\n  .spec.template.spec.containers[name=\"nginx\"].bogus: field not declared in schema"
        );
        // The core group prints empty; a clean configuration has nothing to report.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        assert!(undeclared_fields(&cm, s, s.root_for("", "v1", "ConfigMap")).is_empty());
        assert!(typed_patch_error(&cm, &["x".to_string()])
            .message
            .starts_with("failed to create typed patch object (/c; /v1, Kind=ConfigMap): x"));
    }
}
