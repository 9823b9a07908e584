//! Per-kind behaviour, carried by the kind's rows ([`ResourceDef::strategy`]): upstream's
//! create/update strategies (defaults, validation), storage-version conversion, Table columns,
//! field selectors and delete rules, in one trait. Built-in kinds are a [`Builtin`] of plain
//! functions and data (one per kind, in `api/groups/<group>.rs`); custom resources implement
//! the trait in `apiext`, reading their CRD's current version.
//!
//! The defaulting and validation functions match upstream's `pkg/apis/*/v1/defaults.go` and
//! `pkg/apis/*/validation`.

pub mod admission_rules;
pub mod admission_webhooks;
pub mod admissionregistration;
pub mod apiextensions;
pub mod apiserverinternal;
pub mod apps;
pub mod batch;
pub mod coordination;
pub mod core;
pub mod discovery;
pub mod flowcontrol;
pub mod networking;
pub mod rbac;
pub mod resize;
pub mod resource;
pub mod scheduling;
pub mod storage;
pub mod sysctls;

use super::fields::Fields;
use super::table::Printer;
use super::ResourceDef;
use crate::config::features::FeatureGates;
use crate::error::field::FieldErrors;
use crate::error::ApiResult;
use crate::storage::cache::{CachedObject, Selectable};
use serde_json::Value;
use std::sync::Arc;
use std::time::SystemTime;

/// Everything the generic store, the encoders and the field selectors ask of a kind. Every
/// hook has the behaviour of a kind without special rules as its default.
#[async_trait::async_trait]
pub trait Strategy: Send + Sync + 'static {
    // --- Writes ------------------------------------------------------------------------------

    /// Defaults applied to every incoming object (create and update), like upstream's
    /// defaulting on decode; run again when mutating admission changed the object.
    fn defaults(&self, _obj: &mut Value) {}
    /// Create-only preparation after the generic status reset (e.g. `status.phase`).
    fn prepare_create(&self, _obj: &mut Value) {}
    /// Upstream's `dropDisabledFields`: clear fields whose feature gate is off unless `old` (the
    /// stored object, None on create) already uses them. Runs after defaulting on every write
    /// (gates capstan refuses are always off).
    fn drop_disabled(&self, _gates: &FeatureGates, _obj: &mut Value, _old: Option<&Value>) {}
    /// Keep `status` from the request on create (nodes, events…); otherwise the store clears
    /// it for kinds with a status subresource.
    fn keep_status_on_create(&self) -> bool {
        false
    }
    /// After mutating admission, before validation, on create and update: custom resources
    /// are pruned and defaulted from their schema, CRDs get their defaults.
    fn normalize(&self, _def: &ResourceDef, _obj: &mut Value) {}
    /// Validation beyond ObjectMeta (which the store checks for every kind). `old`: the stored
    /// object on update (transition rules).
    fn validate(&self, _obj: &Value, _old: Option<&Value>, _errs: &mut FieldErrors) {}
    /// Extra update rules (immutable fields).
    fn validate_update(&self, _new: &Value, _old: &Value, _errs: &mut FieldErrors) {}
    /// Validation that depends on feature gates (run after [`Strategy::validate`] and
    /// [`Strategy::validate_update`]; `old`: the stored object on update).
    fn validate_gated(&self, _gates: &FeatureGates, _obj: &Value, _old: Option<&Value>, _errs: &mut FieldErrors) {}
    /// A rule of this write that reads the object's namespace ([`NamespaceRule`]); asked on
    /// create (`old` None) and on writes to `status` (`old`: the stored object).
    fn namespace_rule(&self, _obj: &Value, _old: Option<&Value>) -> Option<NamespaceRule> {
        None
    }
    /// What a write to the `status` subresource takes from the request.
    fn status_write(&self) -> StatusWrite {
        StatusWrite::StatusOnly
    }
    /// May an object be created now (a terminating CRD takes no new instances)?
    fn check_create(&self, _def: &ResourceDef) -> ApiResult<()> {
        Ok(())
    }
    /// May the object named `name` be deleted (the system PriorityClasses may not)? Checked by
    /// a DELETE of one object, before anything else, as upstream's REST wrappers do.
    fn check_delete(&self, _name: &str) -> ApiResult<()> {
        Ok(())
    }
    /// On the first delete of an object (upstream's `BeforeDelete`): mark it (a CRD gets its
    /// cleanup finalizer). Returns whether the object changed.
    fn before_delete(&self, _obj: &mut Value) -> bool {
        false
    }
    /// Whether a delete must wait, and for how many seconds (pods bound to a node terminate
    /// gracefully; the kubelet finishes the delete).
    fn grace_period(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }
    /// Upstream's `ReturnDeletedObject`: a delete answers with the object, not a Status.
    fn returns_deleted_object(&self) -> bool {
        false
    }
    /// Whether stored objects expire on their own (upstream's `TTLFunc`).
    fn expiry(&self) -> Expiry {
        Expiry::Never
    }
    /// The `Warning` every request of a deprecated kind gets (its prerelease-lifecycle tags:
    /// `v1 ComponentStatus is deprecated in v1.19+`).
    fn deprecation_warning(&self) -> Option<&'static str> {
        None
    }

    // --- Versions ----------------------------------------------------------------------------

    /// Convert an object of `def`'s version to the storage version, in place.
    async fn to_storage(&self, _def: &ResourceDef, _obj: &mut Value) -> ApiResult<()> {
        Ok(())
    }
    /// The stored object as `def`'s version serves it, when that differs from the stored form.
    fn served_form(&self, _def: &ResourceDef, _stored: &Value) -> Option<Value> {
        None
    }
    /// Whether [`Strategy::served_form`] may rewrite an object (else objects are served as
    /// cached without being decoded).
    fn rewrites_served(&self) -> bool {
        false
    }
    /// Objects converted for serving by a conversion webhook, all in one call (custom
    /// resources with `Webhook` conversion); None when no webhook applies.
    fn convert_for_serving(
        &self,
        _def: &ResourceDef,
        _objs: &[&CachedObject],
    ) -> ApiResult<Option<Vec<Arc<CachedObject>>>> {
        Ok(None)
    }

    // --- Reads -------------------------------------------------------------------------------

    /// Table `columnDefinitions` (default: Name and Created At).
    fn column_definitions(&self) -> Vec<Value> {
        super::table::DEFAULT.columns.iter().map(|c| c.definition()).collect()
    }
    /// One Table row's cells, in column order.
    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        (super::table::DEFAULT.cells)(obj, now)
    }
    /// Whether cells are read from the served object (custom resources: schema defaults
    /// applied on read) rather than the stored one.
    fn cells_from_served(&self) -> bool {
        false
    }
    /// `rows[].conditions` of a Table row.
    fn row_conditions(&self, _obj: &Value) -> Option<Value> {
        None
    }
    /// How a Table of many objects orders its rows (None: storage order).
    fn table_order(&self) -> Option<fn(&Value, &Value) -> std::cmp::Ordering> {
        None
    }
    /// Upstream's field-label conversion: the label to match on, or the 400 message.
    fn convert_field_label(&self, _def: &ResourceDef, label: &str) -> Result<String, String> {
        super::fields::default_conversion(label)
    }
    /// The value of a (converted) field in the object's selectable field set; None when the
    /// set lacks it (it then matches as `""`).
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        super::fields::value(&super::fields::DEFAULT, obj, field)
    }
    /// The field the watch cache indexes for this kind (see [`super::fields::Fields::indexed`]).
    fn indexed_field(&self) -> Option<&'static str> {
        None
    }
    /// The kind's own selectable fields, kept with each cached object so selectors do not
    /// decode it (None: only `metadata.name`/`metadata.namespace`, read from the key).
    fn selectable(&self) -> Option<Selectable> {
        None
    }
    /// Fields unknown to the kind's schema, for `fieldValidation` (custom resources; None for
    /// kinds whose built-in schema is used instead).
    fn unknown_fields(&self, _obj: &Value) -> Option<Vec<String>> {
        None
    }
    /// The typed tree the kind's objects merge with when it is not a built-in schema (custom
    /// resources: their CRD version's, with list types and map keys); see
    /// [`crate::api::schema::merge_root`].
    fn typed_schema(&self) -> Option<std::sync::Arc<crate::api::schema::Node>> {
        None
    }

    // --- Scale -------------------------------------------------------------------------------

    /// The object's autoscaling/v1 Scale.
    fn scale(&self, _def: &ResourceDef, obj: &CachedObject) -> Value {
        super::scale::of(obj, 0)
    }
    /// Set the replicas the `scale` subresource writes.
    fn set_replicas(&self, obj: &mut Value, replicas: i64) {
        obj["spec"]["replicas"] = serde_json::json!(replicas);
    }

    /// For the module that defines a strategy to find its own type behind a row.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// [`Strategy::validate_gated`] of a [`Builtin`]: (gates, object, stored object, errors).
pub type GatedValidation = fn(&FeatureGates, &Value, Option<&Value>, &mut FieldErrors);
/// [`Strategy::namespace_rule`] of a [`Builtin`]: (object, stored object on status writes).
pub type NamespaceRuleOf = fn(&Value, Option<&Value>) -> Option<NamespaceRule>;

/// Validation that depends on the object's namespace, as upstream strategies that hold a
/// namespace getter (DRA admin access): the store reads the namespace and runs `check`. Its
/// errors come before the kind's own validation errors, as upstream appends them.
pub struct NamespaceRule {
    /// The field the rule is about (where its errors point).
    pub field: String,
    /// What the namespace is read for, in the internal error when it cannot be read.
    pub purpose: &'static str,
    /// The error when the namespace (`field`, the namespace object) does not allow the field.
    pub check: fn(&str, &Value) -> Option<crate::error::field::FieldError>,
}

/// How long a kind's objects live in storage without being deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Until deleted.
    Never,
    /// `--event-ttl` after the last write (Events), as upstream's event registry sets its
    /// TTLFunc on create and update.
    EventTtl,
}

/// A built-in kind's behaviour as plain functions and data.
pub struct Builtin {
    pub defaults: fn(&mut Value),
    pub prepare_create: fn(&mut Value),
    /// [`Strategy::drop_disabled`].
    pub drop_disabled: fn(&FeatureGates, &mut Value, Option<&Value>),
    pub validate: fn(&Value, &mut FieldErrors),
    pub validate_update: fn(&Value, &Value, &mut FieldErrors),
    /// [`Strategy::validate_gated`].
    pub validate_gated: Option<GatedValidation>,
    /// [`Strategy::namespace_rule`].
    pub namespace_rule: Option<NamespaceRuleOf>,
    /// On update only `validate_update` runs: upstream's update rules that relax the create
    /// rules by what the old object had (webhook configurations).
    pub update_replaces_validate: bool,
    pub keep_status_on_create: bool,
    /// Storage-version conversion for rows that share storage with another version.
    pub to_storage: fn(&mut Value),
    /// The stored object as a row serves it, for rows that rewrite it (None: as stored).
    pub served_form: Option<fn(&ResourceDef, &Value) -> Option<Value>>,
    pub before_delete: fn(&mut Value) -> bool,
    pub check_delete: fn(&str) -> ApiResult<()>,
    pub grace_period: fn(&Value, Option<i64>) -> Option<i64>,
    pub returns_deleted_object: bool,
    /// [`Strategy::deprecation_warning`].
    pub deprecation: Option<&'static str>,
    pub printer: &'static Printer,
    pub fields: &'static Fields,
    /// `spec.replicas` when unset (ReplicationControllers default to 1).
    pub default_replicas: i64,
    pub expiry: Expiry,
    /// How a Table of many objects orders its rows (None: storage order), as upstream's list
    /// printers do for FlowSchemas.
    pub table_order: Option<fn(&Value, &Value) -> std::cmp::Ordering>,
    pub status_write: StatusWrite,
}

/// What a write to the `status` subresource takes from the request besides `status`:
/// upstream's per-kind status `PrepareForUpdate`. System metadata (uid, generation,
/// deletionTimestamp…) is the store's, whatever the mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusWrite {
    /// Only `status`; everything else stays as stored (custom resources).
    StatusOnly,
    /// Everything but `spec` (most built-in kinds: labels and annotations may change).
    AllButSpec,
    /// As `AllButSpec`, labels stay as stored (Deployments).
    KeepLabels,
    /// As `AllButSpec`, ownerReferences stay (old kubelets corrupt them) and an empty
    /// `status.qosClass` keeps the stored one (pods).
    Pod,
    /// As `AllButSpec`, labels, annotations, finalizers and ownerReferences stay
    /// (`metav1.ResetObjectMetaForStatus`).
    KeepUserMeta,
    /// As `AllButSpec`, all metadata stays (FlowSchemas, PriorityLevelConfigurations).
    KeepMeta,
}

impl StatusWrite {
    /// The object a status write stores, from the stored object and the request's.
    pub fn apply(self, old: &Value, body: &Value) -> Value {
        let mut new = match self {
            StatusWrite::StatusOnly => old.clone(),
            _ => {
                let mut n = body.clone();
                if let Some(o) = n.as_object_mut() {
                    match old.get("spec") {
                        Some(spec) => o.insert("spec".into(), spec.clone()),
                        None => o.remove("spec"),
                    };
                }
                n
            }
        };
        match body.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        let kept: &[&str] = match self {
            StatusWrite::StatusOnly | StatusWrite::AllButSpec => &[],
            StatusWrite::KeepLabels => &["labels"],
            StatusWrite::Pod => &["ownerReferences"],
            StatusWrite::KeepUserMeta => &["labels", "annotations", "finalizers", "ownerReferences"],
            StatusWrite::KeepMeta => {
                if let (Some(m), Some(o)) = (old.get("metadata"), new.as_object_mut()) {
                    o.insert("metadata".into(), m.clone());
                }
                &[]
            }
        };
        if !kept.is_empty() {
            let old_meta = old.get("metadata").and_then(Value::as_object);
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                for k in kept {
                    match old_meta.and_then(|o| o.get(*k)) {
                        Some(v) => m.insert((*k).to_string(), v.clone()),
                        None => m.remove(*k),
                    };
                }
            }
        }
        if self == StatusWrite::Pod
            && new
                .pointer("/status/qosClass")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
        {
            if let (Some(q), Some(st)) = (
                old.pointer("/status/qosClass").cloned(),
                new.get_mut("status").and_then(Value::as_object_mut),
            ) {
                st.insert("qosClass".into(), q);
            }
        }
        new
    }
}

fn no_op(_: &mut Value) {}
fn keep_all(_: &FeatureGates, _: &mut Value, _: Option<&Value>) {}
fn no_validate(_: &Value, _: &mut FieldErrors) {}
fn no_validate_update(_: &Value, _: &Value, _: &mut FieldErrors) {}
fn unchanged(_: &mut Value) -> bool {
    false
}
fn deletable(_: &str) -> ApiResult<()> {
    Ok(())
}
fn immediate(_: &Value, _: Option<i64>) -> Option<i64> {
    None
}

impl Builtin {
    /// A kind without special rules.
    pub const DEFAULT: Builtin = Builtin {
        defaults: no_op,
        prepare_create: no_op,
        drop_disabled: keep_all,
        validate: no_validate,
        validate_update: no_validate_update,
        validate_gated: None,
        namespace_rule: None,
        update_replaces_validate: false,
        keep_status_on_create: false,
        to_storage: no_op,
        served_form: None,
        before_delete: unchanged,
        check_delete: deletable,
        grace_period: immediate,
        returns_deleted_object: false,
        deprecation: None,
        printer: &super::table::DEFAULT,
        fields: &super::fields::DEFAULT,
        default_replicas: 0,
        expiry: Expiry::Never,
        table_order: None,
        status_write: StatusWrite::AllButSpec,
    };
}

#[async_trait::async_trait]
impl Strategy for Builtin {
    fn defaults(&self, obj: &mut Value) {
        (self.defaults)(obj)
    }
    fn prepare_create(&self, obj: &mut Value) {
        (self.prepare_create)(obj)
    }
    fn drop_disabled(&self, gates: &FeatureGates, obj: &mut Value, old: Option<&Value>) {
        (self.drop_disabled)(gates, obj, old)
    }
    fn keep_status_on_create(&self) -> bool {
        self.keep_status_on_create
    }
    fn validate(&self, obj: &Value, old: Option<&Value>, errs: &mut FieldErrors) {
        if !(self.update_replaces_validate && old.is_some()) {
            (self.validate)(obj, errs)
        }
    }
    fn validate_update(&self, new: &Value, old: &Value, errs: &mut FieldErrors) {
        (self.validate_update)(new, old, errs)
    }
    fn validate_gated(&self, gates: &FeatureGates, obj: &Value, old: Option<&Value>, errs: &mut FieldErrors) {
        if let Some(f) = self.validate_gated {
            f(gates, obj, old, errs)
        }
    }
    fn namespace_rule(&self, obj: &Value, old: Option<&Value>) -> Option<NamespaceRule> {
        (self.namespace_rule?)(obj, old)
    }
    fn status_write(&self) -> StatusWrite {
        self.status_write
    }
    fn before_delete(&self, obj: &mut Value) -> bool {
        (self.before_delete)(obj)
    }
    fn check_delete(&self, name: &str) -> ApiResult<()> {
        (self.check_delete)(name)
    }
    fn grace_period(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        (self.grace_period)(obj, requested)
    }
    fn returns_deleted_object(&self) -> bool {
        self.returns_deleted_object
    }
    fn expiry(&self) -> Expiry {
        self.expiry
    }
    fn table_order(&self) -> Option<fn(&Value, &Value) -> std::cmp::Ordering> {
        self.table_order
    }
    fn deprecation_warning(&self) -> Option<&'static str> {
        self.deprecation
    }
    async fn to_storage(&self, _def: &ResourceDef, obj: &mut Value) -> ApiResult<()> {
        (self.to_storage)(obj);
        Ok(())
    }
    fn served_form(&self, def: &ResourceDef, stored: &Value) -> Option<Value> {
        (self.served_form?)(def, stored)
    }
    fn rewrites_served(&self) -> bool {
        self.served_form.is_some()
    }
    fn column_definitions(&self) -> Vec<Value> {
        self.printer.columns.iter().map(|c| c.definition()).collect()
    }
    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        (self.printer.cells)(obj, now)
    }
    fn row_conditions(&self, obj: &Value) -> Option<Value> {
        (self.printer.conditions)(obj)
    }
    fn convert_field_label(&self, _def: &ResourceDef, label: &str) -> Result<String, String> {
        (self.fields.convert)(label)
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        super::fields::value(self.fields, obj, field)
    }
    fn indexed_field(&self) -> Option<&'static str> {
        self.fields.indexed
    }
    fn selectable(&self) -> Option<Selectable> {
        (!self.fields.own.is_empty()).then_some(Selectable {
            fields: self.fields.own,
            read: self.fields.value,
            indexed: self.fields.indexed,
        })
    }
    fn scale(&self, _def: &ResourceDef, obj: &CachedObject) -> Value {
        super::scale::of(obj, self.default_replicas)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
