//! API extensions: serving CustomResourceDefinitions (apiextensions.k8s.io/v1).
//!
//! `crd` watches the CRDs, validates them, sets their status conditions and installs one
//! resource-table row per served version. Each row carries a [`CustomResource`] strategy that
//! holds the CRD version it serves now (schema, printer columns, scale paths, conversion); the
//! generic registry then serves custom resources like built-ins, calling that strategy for
//! pruning and defaults, schema and CEL validation, conversion and Table cells. Rows are
//! `&'static`: each distinct row shape is leaked once, so memory grows only with the number of
//! distinct CRD shapes ever served, not with requests or CRD status updates.

pub mod columns;
pub mod conversion;
pub mod crd;
pub mod openapi;

use crate::api::schema::structural as schema;
use crate::api::strategy::Strategy;
use crate::api::ResourceDef;
use crate::error::field::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::storage::cache::CachedObject;
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

/// The `scale` subresource's paths (JSON paths like `.spec.replicas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// One served version of a CRD, as the registry, encoder and OpenAPI need it.
pub struct CustomVersion {
    pub crd_name: String,
    /// The version's `schema.openAPIV3Schema` (None: no schema, everything is kept).
    pub schema: Option<Value>,
    /// The schema as a typed tree with its merge metadata (list types, map keys), built once:
    /// what a MutatingAdmissionPolicy's ApplyConfiguration merges with.
    pub typed: Option<Arc<crate::api::schema::Node>>,
    /// Its `x-kubernetes-validations` rules, compiled once.
    pub rules: Option<Arc<crate::cel::crd::Rules>>,
    /// Table columns after Name (`additionalPrinterColumns`, or Age).
    pub columns: Arc<columns::Columns>,
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

/// The behaviour of one custom resource row: the CRD version it serves now, swapped by the
/// CRD controller, and the registry its conversion webhook resolves Services with.
pub struct CustomResource {
    version: RwLock<Option<Arc<CustomVersion>>>,
    registry: Registry,
}

impl CustomResource {
    pub fn new(registry: Registry) -> CustomResource {
        CustomResource {
            version: RwLock::new(None),
            registry,
        }
    }

    /// Serve `v` from now on (None: the row is no longer served).
    pub fn set(&self, v: Option<Arc<CustomVersion>>) {
        *self.version.write().unwrap_or_else(|e| e.into_inner()) = v;
    }

    pub fn current(&self) -> Option<Arc<CustomVersion>> {
        self.version.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The custom version a row serves, None for built-ins.
pub fn lookup(def: &ResourceDef) -> Option<Arc<CustomVersion>> {
    def.strategy.as_any().downcast_ref::<CustomResource>()?.current()
}

/// The kind's defaults as upstream's `ObjectDefaulter` applies them after an admission patch:
/// built-ins by their strategy, custom resources by their schema's `default`s.
pub fn apply_defaults(def: &ResourceDef, obj: &mut Value) {
    def.strategy.defaults(obj);
    if let Some(s) = lookup(def).as_ref().and_then(|cv| cv.schema.as_ref()) {
        schema::default(s, obj, true);
    }
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

fn json_ptr(path: &str) -> String {
    path.trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, k| format!("{acc}/{k}"))
}

#[async_trait::async_trait]
impl Strategy for CustomResource {
    /// A terminating CRD takes no new instances (405, upstream's text).
    fn check_create(&self, def: &ResourceDef) -> ApiResult<()> {
        match self.current() {
            Some(cv) if cv.terminating => {
                let mut e = ApiError::new(
                    405,
                    "MethodNotAllowed",
                    "create not allowed while custom resource definition is terminating",
                );
                e.details = Some(json!({"group": def.group, "kind": def.plural}));
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// Pruned of unknown fields and defaulted from the schema; with `None` conversion, stored
    /// as the storage version (reads rewrite apiVersion back; webhook conversion happens in
    /// [`Strategy::to_storage`]).
    fn normalize(&self, def: &ResourceDef, obj: &mut Value) {
        let Some(cv) = self.current() else { return };
        if let Some(s) = &cv.schema {
            schema::prune(s, obj, true);
            schema::default(s, obj, true);
        }
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

    /// The schema, then its `x-kubernetes-validations` rules.
    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut FieldErrors) {
        let Some(cv) = self.current() else { return };
        if let Some(s) = &cv.schema {
            schema::validate(s, obj, errs);
            if errs.is_empty() {
                if let Some(r) = &cv.rules {
                    r.validate(obj, old, errs);
                }
            }
        }
    }

    /// A webhook-converted version's object becomes the storage version before it is written.
    async fn to_storage(&self, def: &ResourceDef, obj: &mut Value) -> ApiResult<()> {
        let Some(cv) = self.current() else { return Ok(()) };
        let Some(wh) = cv.conversion.clone() else { return Ok(()) };
        let want = format!("{}/{}", def.group, cv.storage_version);
        if obj.get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
            return Ok(());
        }
        let mut out = conversion::convert(&self.registry, &wh, vec![obj.clone()], &want).await?;
        if let Some(v) = out.pop() {
            *obj = v;
        }
        Ok(())
    }

    /// The object as the requested version serves it: its apiVersion, and the storage
    /// version's defaults (upstream defaults when decoding from storage, so objects stored
    /// before a default was added come back defaulted).
    fn rewrites_served(&self) -> bool {
        true
    }

    fn served_form(&self, def: &ResourceDef, stored: &Value) -> Option<Value> {
        let cv = self.current()?;
        let want = def.api_version();
        if cv.conversion.is_some() {
            // Already converted by the encoder, or converted here (the webhook is called).
            if stored.get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
                return None;
            }
            return conversion::served_value_lossy(&self.registry, &cv, def, stored);
        }
        let mut v = storage_defaulted(&cv, stored);
        if v.get("apiVersion").and_then(Value::as_str) != Some(want.as_str()) {
            v["apiVersion"] = Value::String(want);
        }
        (v != *stored).then_some(v)
    }

    fn convert_for_serving(
        &self,
        def: &ResourceDef,
        objs: &[&CachedObject],
    ) -> ApiResult<Option<Vec<Arc<CachedObject>>>> {
        let Some(cv) = self.current() else { return Ok(None) };
        conversion::served_objects(&self.registry, &cv, def, objs)
    }

    fn column_definitions(&self) -> Vec<Value> {
        match self.current() {
            Some(cv) => cv.columns.definitions(),
            None => columns::Columns::age().definitions(),
        }
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        match self.current() {
            Some(cv) => cv.columns.cells(obj, now),
            None => vec![obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null)],
        }
    }

    fn cells_from_served(&self) -> bool {
        true
    }

    /// Upstream's `crConverter`: name, namespace when namespaced, and the version's
    /// `selectableFields`.
    fn convert_field_label(&self, def: &ResourceDef, label: &str) -> Result<String, String> {
        let selectable = self.current().map(|cv| cv.selectable.clone()).unwrap_or_default();
        crate::api::fields::convert_custom_field_label(label, !def.namespaced(), &selectable)
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "metadata.name" | "metadata.namespace" => {
                crate::api::fields::value(&crate::api::fields::DEFAULT, obj, field)
            }
            // Labels reaching here passed conversion: the version's `selectableFields`.
            _ => crate::api::fields::value_at_path(obj, field),
        }
    }

    fn typed_schema(&self) -> Option<Arc<crate::api::schema::Node>> {
        self.current()?.typed.clone()
    }

    fn unknown_fields(&self, obj: &Value) -> Option<Vec<String>> {
        let cv = self.current()?;
        let s = cv.schema.as_ref()?;
        let mut out = Vec::new();
        schema::unknown(s, obj, "", true, &mut out);
        Some(out)
    }

    /// autoscaling/v1 Scale from the CRD's scale paths.
    fn scale(&self, _def: &ResourceDef, obj: &CachedObject) -> Value {
        let Some(sp) = self.current().and_then(|cv| cv.scale.clone()) else {
            return crate::api::scale::of(obj, 0);
        };
        let v = &obj.value();
        let m = &v["metadata"];
        let selector = sp
            .label_selector
            .as_deref()
            .and_then(|p| v.pointer(&json_ptr(p)))
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut status = json!({
            "replicas": v.i64_at(&json_ptr(&sp.status_replicas)).unwrap_or(0),
        });
        if !selector.is_empty() {
            status["selector"] = json!(selector);
        }
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                "resourceVersion": obj.revision.to_string(), "creationTimestamp": m["creationTimestamp"],
            },
            "spec": {"replicas": v.i64_at(&json_ptr(&sp.spec_replicas)).unwrap_or(0)},
            "status": status,
        })
    }

    /// Set the replicas at the CRD's `specReplicasPath`.
    fn set_replicas(&self, obj: &mut Value, replicas: i64) {
        let Some(sp) = self.current().and_then(|cv| cv.scale.clone()) else {
            obj["spec"]["replicas"] = json!(replicas);
            return;
        };
        let mut cur = obj;
        let keys: Vec<&str> = sp.spec_replicas.trim_start_matches('.').split('.').collect();
        for (i, k) in keys.iter().enumerate() {
            if !cur.is_object() {
                *cur = json!({});
            }
            let Some(m) = cur.as_object_mut() else { return };
            if i + 1 == keys.len() {
                m.insert(k.to_string(), json!(replicas));
                return;
            }
            cur = m.entry(k.to_string()).or_insert_with(|| json!({}));
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
