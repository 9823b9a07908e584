//! API extensions: serving CustomResourceDefinitions (apiextensions.k8s.io/v1).
//!
//! `crd` watches the CRDs, validates them, sets their status conditions and installs one
//! resource-table row per served version. Rows and Table printers are `&'static`: each
//! distinct row (names, scope, subresources) and each distinct column list is leaked once, so
//! memory grows only with the number of distinct CRD shapes ever served, not with requests or
//! CRD status updates. The
//! generic registry then serves custom resources like built-ins; the hooks in the store call
//! [`prepare`] (pruning, defaults) and [`validate`] (openAPIV3Schema, CEL), and the table
//! encoder asks [`printer`] for `additionalPrinterColumns`.
//!
//! The lookup table is process-global: one API server runs per process.

pub mod cel;
pub mod columns;
pub mod conversion;
pub mod crd;
pub mod openapi;
pub mod schema;
pub mod validation;

use crate::api::field::FieldErrors;
use crate::api::table::Printer;
use crate::api::ResourceDef;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The `scale` subresource's paths (JSON paths like `.spec.replicas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served version of a CRD, as the registry, encoder and OpenAPI need it.
pub struct CustomVersion {
    pub def: &'static ResourceDef,
    pub crd_name: String,
    /// The version's `schema.openAPIV3Schema` (None: no schema, everything is kept).
    pub schema: Option<Value>,
    pub printer: &'static Printer,
    /// Printer columns' JSON paths, in column order after Name.
    pub column_paths: Vec<(String, String)>,
    pub scale: Option<ScalePaths>,
    pub storage_version: String,
    /// `selectableFields` as field labels (`spec.color`).
    pub selectable: Vec<String>,
    /// The CRD is being deleted: instances are purged and creates refused.
    pub terminating: bool,
    /// The storage version's schema (its defaults apply to what is read from storage).
    pub storage_schema: Option<Arc<Value>>,
    /// `Webhook` conversion (None: `None` conversion, apiVersion rewritten).
    pub conversion: Option<Arc<conversion::Webhook>>,
}

/// Upstream's finalizer holding a deleted CRD until its instances are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Keyed by the rows' (leaked, `'static`) group, version and plural: lookups on every read
/// allocate nothing.
type Table = HashMap<(&'static str, &'static str, &'static str), Arc<CustomVersion>>;

static TABLE: RwLock<Option<Table>> = RwLock::new(None);

/// Replace the served custom versions.
pub fn set_table(versions: Vec<Arc<CustomVersion>>) {
    let t: Table = versions
        .into_iter()
        .map(|v| ((v.def.group, v.def.version, v.def.plural), v))
        .collect();
    *TABLE.write().unwrap_or_else(|e| e.into_inner()) = Some(t);
}

/// The custom version a row serves, None for built-ins.
pub fn lookup(def: &ResourceDef) -> Option<Arc<CustomVersion>> {
    let t = TABLE.read().unwrap_or_else(|e| e.into_inner());
    let t = t.as_ref()?;
    t.get(&(def.group, def.version, def.plural)).cloned()
}

/// A custom kind's version (any served one) by group/version/kind.
pub fn lookup_kind(group: &str, version: Option<&str>, kind: &str) -> Option<Arc<CustomVersion>> {
    let t = TABLE.read().unwrap_or_else(|e| e.into_inner());
    let t = t.as_ref()?;
    let mut found = None;
    for v in t.values() {
        if v.def.group == group && v.def.kind == kind {
            if Some(v.def.version) == version {
                return Some(v.clone());
            }
            if v.def.version == v.storage_version || found.is_none() {
                found = Some(v.clone());
            }
        }
    }
    found
}

/// The Table printer of a custom kind (the storage version's columns; the encoder does not
/// pass the version).
pub fn printer(group: &str, kind: &str) -> Option<&'static Printer> {
    lookup_kind(group, None, kind).map(|v| v.printer)
}

/// The Table printer of the version a row serves (None for built-ins).
pub fn version_printer(def: &ResourceDef) -> Option<&'static Printer> {
    lookup(def).map(|v| v.printer)
}

/// Read hook (`convert::from_storage`): None for built-ins; for a custom resource the object as
/// the requested version serves it — its apiVersion, and the storage version's defaults
/// (upstream defaults when decoding from storage, so objects stored before a default was
/// added come back defaulted). `Some(None)`: the stored form is already what is served.
pub fn from_storage(def: &ResourceDef, stored: &Value) -> Option<Option<Value>> {
    let cv = lookup(def)?;
    let want = def.api_version();
    if cv.conversion.is_some() {
        // Already converted by the encoder, or converted here (the webhook is called).
        if stored.get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
            return Some(None);
        }
        return Some(conversion::served_value_lossy(def, stored));
    }
    let mut v = storage_defaulted(&cv, stored);
    if v.get("apiVersion").and_then(Value::as_str) != Some(want.as_str()) {
        v["apiVersion"] = Value::String(want);
    }
    Some((v != *stored).then_some(v))
}

/// A stored object with the storage version's defaults (upstream defaults what it reads from
/// etcd with the storage version's schema, before any conversion).
pub fn storage_defaulted(cv: &CustomVersion, stored: &Value) -> Value {
    let mut v = stored.clone();
    if let Some(s) = &cv.storage_schema {
        schema::default(s, &mut v, true);
    }
    v
}

/// Field-label conversion for a custom resource's version (upstream's `crConverter`: name,
/// namespace when namespaced, and the version's `selectableFields`); None for built-ins.
pub fn convert_field_label(def: &ResourceDef, label: &str) -> Option<Result<String, String>> {
    let cv = lookup(def)?;
    Some(crate::api::fields::convert_custom_field_label(
        label,
        !def.namespaced(),
        &cv.selectable,
    ))
}

/// Store hook before a create: a terminating CRD takes no new instances (405, upstream's text).
pub fn check_create(def: &ResourceDef) -> crate::error::ApiResult<()> {
    match lookup(def) {
        Some(cv) if cv.terminating => {
            let mut e = crate::error::ApiError::new(
                405,
                "MethodNotAllowed",
                "create not allowed while custom resource definition is terminating",
            );
            e.details = Some(serde_json::json!({"group": def.group, "kind": def.plural}));
            Err(e)
        }
        _ => Ok(()),
    }
}

/// Store hook, before validation on create and update: CRDs get their defaults; custom
/// resources are pruned of unknown fields and defaulted from their schema.
pub fn prepare(def: &ResourceDef, obj: &mut Value) {
    if crd::is_crd(def) {
        validation::default_crd(obj);
        return;
    }
    if let Some(cv) = lookup(def) {
        if let Some(s) = &cv.schema {
            schema::prune(s, obj, true);
            schema::default(s, obj, true);
        }
        // `None` conversion: stored as the storage version (reads rewrite apiVersion back);
        // webhook conversion happens in the store just before writing.
        if cv.conversion.is_some() {
            return;
        }
        if let Some(o) = obj.as_object_mut() {
            o.insert(
                "apiVersion".into(),
                Value::String(format!("{}/{}", def.group, cv.storage_version)),
            );
        }
    }
}

/// Store hook inside validation: CRD rules, or a custom resource against its schema and its
/// `x-kubernetes-validations` rules.
pub fn validate(def: &ResourceDef, obj: &Value, old: Option<&Value>, errs: &mut FieldErrors) {
    if crd::is_crd(def) {
        validation::validate_crd(obj, old, errs);
        return;
    }
    if let Some(cv) = lookup(def) {
        if let Some(s) = &cv.schema {
            schema::validate(s, obj, errs);
            if errs.is_empty() {
                cel::validate(s, obj, old, errs);
            }
        }
    }
}

/// Unknown fields of a custom resource (for `fieldValidation=Strict|Warn`); None for built-ins.
pub fn unknown_fields(def: &ResourceDef, obj: &Value) -> Option<Vec<String>> {
    let cv = lookup(def)?;
    let s = cv.schema.as_ref()?;
    let mut out = Vec::new();
    schema::unknown(s, obj, "", true, &mut out);
    Some(out)
}

fn json_ptr(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, k| format!("{acc}/{k}"))
}

/// autoscaling/v1 Scale of a custom resource, from the CRD's scale paths.
pub fn scale_of(def: &ResourceDef, obj: &crate::storage::cache::CachedObject) -> Option<Value> {
    let cv = lookup(def)?;
    let sp = cv.scale.as_ref()?;
    let v = &obj.value;
    let m = &v["metadata"];
    let selector = sp
        .label_selector
        .as_deref()
        .and_then(|p| v.pointer(&json_ptr(p)))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut status = serde_json::json!({
        "replicas": v.pointer(&json_ptr(&sp.status_replicas)).and_then(Value::as_i64).unwrap_or(0),
    });
    if !selector.is_empty() {
        status["selector"] = serde_json::json!(selector);
    }
    Some(serde_json::json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": obj.revision.to_string(), "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": v.pointer(&json_ptr(&sp.spec_replicas)).and_then(Value::as_i64).unwrap_or(0)},
        "status": status,
    }))
}

/// Set the replicas at the CRD's `specReplicasPath`; false for rows without custom scale.
pub fn set_replicas(def: &ResourceDef, obj: &mut Value, replicas: i64) -> bool {
    let Some(cv) = lookup(def) else { return false };
    let Some(sp) = cv.scale.as_ref() else { return false };
    let mut cur = obj;
    let keys: Vec<&str> = sp.spec_replicas.trim_start_matches('.').split('.').collect();
    for (i, k) in keys.iter().enumerate() {
        if !cur.is_object() {
            *cur = serde_json::json!({});
        }
        let Some(m) = cur.as_object_mut() else { return false };
        if i + 1 == keys.len() {
            m.insert(k.to_string(), serde_json::json!(replicas));
            return true;
        }
        cur = m.entry(k.to_string()).or_insert_with(|| serde_json::json!({}));
    }
    false
}

/// `fieldValidation` for a custom resource's body (None for built-ins): unknown fields are
/// reported (Strict fails with upstream's strict decoding error, Warn returns warnings) and
/// pruned later by the store.
pub fn field_validation(
    def: &ResourceDef,
    obj: &Value,
    directive: &str,
) -> Option<crate::error::ApiResult<Vec<String>>> {
    use crate::api::schema::FieldValidation;
    let unknown = unknown_fields(def, obj)?;
    let mode = FieldValidation::parse(directive).unwrap_or(FieldValidation::Warn);
    let problems: Vec<String> = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
    Some(match mode {
        FieldValidation::Strict if !problems.is_empty() => Err(crate::error::ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            problems.join(", "),
            kind = def.kind,
            version = def.version,
        ))),
        FieldValidation::Warn => Ok(problems),
        _ => Ok(Vec::new()),
    })
}

/// Store hook, on the first delete of a CRD (upstream's CRD REST Delete): the cleanup
/// finalizer and `Terminating=True` (InstanceDeletionPending), so the delete marks the CRD and
/// the controller purges its instances before the CRD goes. False for anything else.
pub fn mark_crd_for_deletion(def: &ResourceDef, obj: &mut Value) -> bool {
    if !crd::is_crd(def) || obj.pointer("/metadata/deletionTimestamp").is_some() {
        return false;
    }
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return false;
    };
    let fins = meta.entry("finalizers").or_insert_with(|| Value::Array(Vec::new()));
    if !fins.is_array() {
        *fins = Value::Array(Vec::new());
    }
    if let Some(a) = fins.as_array_mut() {
        if !a.iter().any(|f| f == CLEANUP_FINALIZER) {
            a.push(Value::String(CLEANUP_FINALIZER.into()));
        }
    }
    let condition = serde_json::json!({
        "type": "Terminating", "status": "True", "lastTransitionTime": crate::util::now_rfc3339(),
        "reason": "InstanceDeletionPending",
        "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
    });
    if !obj["status"].is_object() {
        obj["status"] = serde_json::json!({});
    }
    match obj["status"]["conditions"].as_array_mut() {
        Some(cs) => {
            cs.retain(|c| c["type"] != "Terminating");
            cs.push(condition);
        }
        None => obj["status"]["conditions"] = serde_json::json!([condition]),
    }
    true
}
