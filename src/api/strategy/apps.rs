//! Strategies for the `apps` group: Deployment, ReplicaSet, StatefulSet, DaemonSet,
//! ControllerRevision (upstream `pkg/apis/apps/v1/defaults.go`,
//! `pkg/apis/apps/validation/validation.go`, `pkg/registry/apps/*/strategy.go`).
//!
//! `util` holds JSON access, Go-style value rendering and the small validators the other
//! non-core strategy files share.

use super::{Builtin, StatusWrite};
use crate::error::field::{FieldError, FieldErrors};
use serde_json::{json, Value};
use util::*;

fn no_op(_: &mut Value) {}

pub const DEPLOYMENT: Builtin = Builtin {
    drop_disabled: super::core::drop_disabled_template_fields,
    defaults: default_deployment,
    prepare_create: no_op,
    validate: validate_deployment,
    validate_update: validate_deployment_update,
    keep_status_on_create: false,
    status_write: StatusWrite::KeepLabels,
    ..Builtin::DEFAULT
};
pub const REPLICA_SET: Builtin = Builtin {
    drop_disabled: super::core::drop_disabled_template_fields,
    defaults: default_replica_set,
    prepare_create: no_op,
    validate: validate_replica_set,
    validate_update: validate_selector_immutable,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const STATEFUL_SET: Builtin = Builtin {
    drop_disabled: super::core::drop_disabled_template_fields,
    defaults: default_stateful_set,
    prepare_create: no_op,
    validate: validate_stateful_set,
    validate_update: validate_stateful_set_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const DAEMON_SET: Builtin = Builtin {
    drop_disabled: super::core::drop_disabled_template_fields,
    defaults: default_daemon_set,
    prepare_create: prepare_daemon_set,
    validate: validate_daemon_set,
    validate_update: validate_selector_immutable,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const CONTROLLER_REVISION: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_controller_revision,
    validate_update: validate_controller_revision_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

// ---------------------------------------------------------------- defaults

/// Defaults of the pod template at `spec.template` (the generated defaulters run the
/// PodSpec defaults on every embedded template).
fn default_template(spec: &mut serde_json::Map<String, Value>) {
    if let Some(tspec) = map_child(spec, "template").and_then(|t| map_child(t, "spec")) {
        let mut v = Value::Object(std::mem::take(tspec));
        super::core::default_pod_spec(&mut v);
        if let Value::Object(m) = v {
            *tspec = m;
        }
    }
}

pub fn default_deployment(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    set_default(spec, "replicas", json!(1));
    if let Some(strategy) = map_child(spec, "strategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = map_child(strategy, "rollingUpdate") {
                set_default(ru, "maxUnavailable", json!("25%"));
                set_default(ru, "maxSurge", json!("25%"));
            }
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    default_template(spec);
}

pub fn default_replica_set(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    set_default(spec, "replicas", json!(1));
    default_template(spec);
}

pub fn default_stateful_set(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    if spec
        .get("podManagementPolicy")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        && is_absent_or_str(spec, "podManagementPolicy")
    {
        spec.insert("podManagementPolicy".into(), json!("OrderedReady"));
    }
    if let Some(us) = map_child(spec, "updateStrategy") {
        if us.get("type").and_then(Value::as_str).is_none_or(str::is_empty) && is_absent_or_str(us, "type") {
            us.insert("type".into(), json!("RollingUpdate"));
            if us.get("rollingUpdate").is_none_or(Value::is_null) {
                us.insert("rollingUpdate".into(), json!({}));
            }
        }
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(Value::Object(ru)) = us.get_mut("rollingUpdate") {
                set_default(ru, "partition", json!(0));
            }
        }
    }
    if let Some(p) = map_child(spec, "persistentVolumeClaimRetentionPolicy") {
        for k in ["whenDeleted", "whenScaled"] {
            if p.get(k).and_then(Value::as_str).is_none_or(str::is_empty) && is_absent_or_str(p, k) {
                p.insert(k.into(), json!("Retain"));
            }
        }
    }
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    default_template(spec);
    // volumeClaimTemplates get the PVC defaults (volumeMode Filesystem, status.phase Pending).
    if let Some(Value::Array(vcts)) = spec.get_mut("volumeClaimTemplates") {
        for vct in vcts.iter_mut() {
            if let Some(s) = obj_child(vct, "spec") {
                set_default(s, "volumeMode", json!("Filesystem"));
            }
            if let Some(st) = obj_child(vct, "status") {
                set_default(st, "phase", json!("Pending"));
            }
        }
    }
}

pub fn default_daemon_set(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    if let Some(us) = map_child(spec, "updateStrategy") {
        if us.get("type").and_then(Value::as_str).is_none_or(str::is_empty) && is_absent_or_str(us, "type") {
            us.insert("type".into(), json!("RollingUpdate"));
        }
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = map_child(us, "rollingUpdate") {
                set_default(ru, "maxUnavailable", json!(1));
                set_default(ru, "maxSurge", json!(0));
            }
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    default_template(spec);
}

/// DaemonSet create: the internal `templateGeneration` starts at 1; apps/v1 carries it in
/// the `deprecated.daemonset.template.generation` annotation.
fn prepare_daemon_set(obj: &mut Value) {
    const KEY: &str = "deprecated.daemonset.template.generation";
    let Some(meta) = obj_child(obj, "metadata") else { return };
    let Some(ann) = map_child(meta, "annotations") else {
        return;
    };
    let current = ann
        .get(KEY)
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    if current < 1 {
        ann.insert(KEY.into(), json!("1"));
    }
}

// ---------------------------------------------------------------- validation

fn validate_deployment(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let replicas = get_i64(spec, "replicas", "spec", errs);
    nonnegative(replicas, "spec.replicas", errs);
    if validate_controller_selector(spec, "deployment", errs).is_some() {
        validate_template_for_replica_set(spec, "ReplicaSet", errs);
    }
    validate_deployment_strategy(spec, errs);
    let min_ready = get_i64(spec, "minReadySeconds", "spec", errs);
    nonnegative(min_ready, "spec.minReadySeconds", errs);
    nonnegative(
        get_i64(spec, "revisionHistoryLimit", "spec", errs),
        "spec.revisionHistoryLimit",
        errs,
    );
    if let Some(rb) = get_obj(spec, "rollbackTo", "spec", errs) {
        nonnegative(
            get_i64(rb, "revision", "spec.rollbackTo", errs),
            "spec.rollback.version",
            errs,
        );
    }
    if let Some(pds) = get_i64(spec, "progressDeadlineSeconds", "spec", errs) {
        nonnegative(Some(pds), "spec.progressDeadlineSeconds", errs);
        if pds <= min_ready.unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
}

fn validate_deployment_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    validate_selector_immutable(new, old, errs);
}

/// apps/v1 forbids selector changes for Deployments, ReplicaSets and DaemonSets.
fn validate_selector_immutable(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let n = at(new, &["spec", "selector"]);
    let o = at(old, &["spec", "selector"]);
    if n != o {
        errs.push(invalid_raw(
            "spec.selector",
            go_label_selector_ptr(n),
            "field is immutable",
        ));
    }
}

fn validate_replica_set(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    nonnegative(get_i64(spec, "replicas", "spec", errs), "spec.replicas", errs);
    nonnegative(
        get_i64(spec, "minReadySeconds", "spec", errs),
        "spec.minReadySeconds",
        errs,
    );
    // Upstream reuses the Deployment wording for an empty ReplicaSet selector.
    if validate_controller_selector(spec, "deployment", errs).is_some() {
        validate_template_for_replica_set(spec, "ReplicaSet", errs);
    }
}

/// The selector rules shared by Deployment and ReplicaSet. Returns `Some(())` when the
/// selector converts to a label selector (upstream then validates the template), `None`
/// after reporting `invalid label selector`.
fn validate_controller_selector(spec: &Value, kind: &str, errs: &mut FieldErrors) -> Option<()> {
    let sel = spec.get("selector").filter(|v| !v.is_null());
    match sel {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(s) => {
            validate_label_selector(s, "spec.selector", errs);
            if selector_is_empty(s) {
                errs.push(invalid_raw(
                    "spec.selector",
                    go_label_selector(s),
                    &format!("empty selector is invalid for {kind}"),
                ));
            }
        }
    }
    if let Some(s) = sel {
        if !selector_converts(s) {
            errs.push(invalid_raw(
                "spec.selector",
                go_label_selector(s),
                "invalid label selector",
            ));
            return None;
        }
    }
    Some(())
}

/// `ValidatePodTemplateSpecForReplicaSet`: selector/labels match, full template validation,
/// restartPolicy Always, no activeDeadlineSeconds.
fn validate_template_for_replica_set(spec: &Value, kind: &str, errs: &mut FieldErrors) {
    let sel = spec.get("selector").filter(|v| !v.is_null());
    let template = spec.get("template").filter(|v| !v.is_null());
    let labels = template.and_then(|t| at(t, &["metadata", "labels"]));
    // A nil selector converts to "nothing" (never empty, matches nothing); `{}` is empty.
    let check = match sel {
        None => true,
        Some(s) => !selector_is_empty(s),
    };
    if check && !sel.is_some_and(|s| selector_matches(s, labels)) {
        errs.push(invalid_raw(
            "spec.template.metadata.labels",
            go_string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    let empty = json!({});
    let template = template.unwrap_or(&empty);
    if !template.is_object() {
        errs.push(type_error("spec.template", template, "object"));
        return;
    }
    validate_pod_template(template, "spec.template", errs);
    check_restart_always(template, "spec.template.spec", errs);
    if at(template, &["spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

fn check_restart_always(template: &Value, spec_path: &str, errs: &mut FieldErrors) {
    let rp = at(template, &["spec", "restartPolicy"])
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            format!("{spec_path}.restartPolicy"),
            rp,
            &["Always"],
        ));
    }
}

fn validate_deployment_strategy(spec: &Value, errs: &mut FieldErrors) {
    let empty = json!({});
    let strategy = get_obj(spec, "strategy", "spec", errs).unwrap_or(&empty);
    let ty = get_str(strategy, "type", "spec.strategy", errs).unwrap_or("");
    let ru = get_obj(strategy, "rollingUpdate", "spec.strategy", errs);
    match ty {
        "Recreate" => {
            if ru.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => errs.push(FieldError::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let p = "spec.strategy.rollingUpdate";
                let mu = ru.get("maxUnavailable").cloned().unwrap_or(json!(0));
                let ms = ru.get("maxSurge").cloned().unwrap_or(json!(0));
                validate_positive_int_or_percent(&mu, &format!("{p}.maxUnavailable"), errs);
                validate_positive_int_or_percent(&ms, &format!("{p}.maxSurge"), errs);
                if int_or_percent_value(&mu) == 0 && int_or_percent_value(&ms) == 0 {
                    errs.push(invalid_raw(
                        format!("{p}.maxUnavailable"),
                        go_int_or_string(&mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                not_more_than_100_percent(&mu, &format!("{p}.maxUnavailable"), errs);
            }
        },
        other => {
            let ru_txt = if ru.is_some() {
                "(*apps.RollingUpdateDeployment)(0xc000000000)"
            } else {
                "(*apps.RollingUpdateDeployment)(nil)"
            };
            let rendered = format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{ru_txt}}}",
                go_quote(other)
            );
            errs.push(not_supported_raw(
                "spec.strategy",
                rendered,
                &["Recreate", "RollingUpdate"],
            ));
        }
    }
}

fn validate_stateful_set(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    match get_str(spec, "podManagementPolicy", "spec", errs).unwrap_or("") {
        "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            "spec.podManagementPolicy",
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let empty = json!({});
    let us = get_obj(spec, "updateStrategy", "spec", errs).unwrap_or(&empty);
    let ru = get_obj(us, "rollingUpdate", "spec.updateStrategy", errs);
    match get_str(us, "type", "spec.updateStrategy", errs).unwrap_or("") {
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        "OnDelete" => {
            if let Some(ru) = ru {
                errs.push(invalid_raw(
                    "spec.updateStrategy.rollingUpdate",
                    go_sts_rolling_update(ru),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                let p = "spec.updateStrategy.rollingUpdate";
                nonnegative(get_i64(ru, "partition", p, errs), &format!("{p}.partition"), errs);
                if let Some(mu) = ru.get("maxUnavailable").filter(|v| !v.is_null()) {
                    let mp = format!("{p}.maxUnavailable");
                    validate_positive_int_or_percent(mu, &mp, errs);
                    if int_or_percent_value(mu) == 0 {
                        errs.push(invalid_raw(mp.clone(), go_int_or_string(mu), "cannot be 0"));
                    }
                    not_more_than_100_percent(mu, &mp, errs);
                }
            }
        }
        other => {
            let ru_txt = match ru {
                Some(_) => "(*apps.RollingUpdateStatefulSetStrategy)(0xc000000000)",
                None => "(*apps.RollingUpdateStatefulSetStrategy)(nil)",
            };
            errs.push(invalid_raw(
                "spec.updateStrategy",
                format!(
                    "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{ru_txt}}}",
                    go_quote(other)
                ),
                "must be 'RollingUpdate' or 'OnDelete'",
            ));
        }
    }
    if let Some(p) = get_obj(spec, "persistentVolumeClaimRetentionPolicy", "spec", errs) {
        for k in ["whenDeleted", "whenScaled"] {
            let path = format!("spec.persistentVolumeClaimRetentionPolicy.{k}");
            let v = get_str(p, k, "spec.persistentVolumeClaimRetentionPolicy", errs).unwrap_or("");
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(path, v, &["Retain", "Delete"]));
            }
        }
    }
    nonnegative(get_i64(spec, "replicas", "spec", errs), "spec.replicas", errs);
    nonnegative(
        get_i64(spec, "minReadySeconds", "spec", errs),
        "spec.minReadySeconds",
        errs,
    );
    if let Some(ord) = get_obj(spec, "ordinals", "spec", errs) {
        nonnegative(
            get_i64(ord, "start", "spec.ordinals", errs),
            "spec.ordinals.start",
            errs,
        );
    }
    let sel = spec.get("selector").filter(|v| !v.is_null());
    match sel {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(s) => {
            validate_label_selector(s, "spec.selector", errs);
            if selector_is_empty(s) {
                errs.push(invalid_raw(
                    "spec.selector",
                    go_label_selector(s),
                    "empty selector is invalid for statefulset",
                ));
            }
        }
    }
    let template = spec.get("template").filter(|v| !v.is_null());
    if sel.is_some_and(|s| !selector_converts(s)) {
        if let Some(s) = sel {
            errs.push(invalid_raw("spec.selector", go_label_selector(s), ""));
        }
    } else {
        let labels = template.and_then(|t| at(t, &["metadata", "labels"]));
        let check = sel.is_none_or(|s| !selector_is_empty(s));
        if check && !sel.is_some_and(|s| selector_matches(s, labels)) {
            errs.push(invalid_raw(
                "spec.template.metadata.labels",
                go_string_map(labels),
                "`selector` does not match template `labels`",
            ));
        }
        if let Some(t) = template {
            if let Some(l) = at(t, &["metadata", "labels"]) {
                validate_labels(l, "spec.template.labels", errs);
            }
            if let Some(a) = at(t, &["metadata", "annotations"]) {
                validate_annotations(a, "spec.template.annotations", errs);
            }
        }
    }
    let empty_t = json!({});
    let t = template.unwrap_or(&empty_t);
    check_restart_always(t, "spec.template.spec", errs);
    if at(t, &["spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
}

/// Only replicas, ordinals, template, updateStrategy, persistentVolumeClaimRetentionPolicy
/// and minReadySeconds may change.
fn validate_stateful_set_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    const MUTABLE: &[&str] = &[
        "replicas",
        "template",
        "updateStrategy",
        "minReadySeconds",
        "ordinals",
        "persistentVolumeClaimRetentionPolicy",
    ];
    let strip = |v: &Value| -> Value {
        let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
        if let Value::Object(m) = &mut s {
            for k in MUTABLE {
                m.remove(*k);
            }
            m.retain(|_, v| !v.is_null());
        }
        s
    };
    if strip(new) != strip(old) {
        errs.push(FieldError::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
}

fn validate_daemon_set(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let sel = spec.get("selector").filter(|v| !v.is_null());
    if let Some(s) = sel {
        validate_label_selector(s, "spec.selector", errs);
    }
    let template = spec.get("template").filter(|v| !v.is_null());
    let labels = template.and_then(|t| at(t, &["metadata", "labels"]));
    let converts = sel.is_none_or(selector_converts);
    if converts && !sel.is_some_and(|s| selector_matches(s, labels)) {
        errs.push(invalid_raw(
            "spec.template.metadata.labels",
            go_string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    if let Some(s) = sel {
        if selector_is_empty(s) {
            errs.push(invalid_raw(
                "spec.selector",
                go_label_selector(s),
                "empty selector is invalid for daemonset",
            ));
        }
    }
    let empty = json!({});
    let t = template.unwrap_or(&empty);
    if t.is_object() {
        validate_pod_template(t, "spec.template", errs);
    } else {
        errs.push(type_error("spec.template", t, "object"));
    }
    check_restart_always(t, "spec.template.spec", errs);
    if at(t, &["spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    nonnegative(
        get_i64(spec, "minReadySeconds", "spec", errs),
        "spec.minReadySeconds",
        errs,
    );
    // updateStrategy
    let us = get_obj(spec, "updateStrategy", "spec", errs).unwrap_or(&empty);
    let ty = get_str(us, "type", "spec.updateStrategy", errs).unwrap_or("");
    let ru = get_obj(us, "rollingUpdate", "spec.updateStrategy", errs);
    match ty {
        "OnDelete" => {}
        "RollingUpdate" => match ru {
            None => errs.push(FieldError::required("spec.updateStrategy.rollingUpdate", "")),
            Some(ru) => {
                let p = "spec.updateStrategy.rollingUpdate";
                let mu = ru.get("maxUnavailable").cloned().unwrap_or(json!(0));
                let ms = ru.get("maxSurge").cloned().unwrap_or(json!(0));
                validate_positive_int_or_percent(&mu, &format!("{p}.maxUnavailable"), errs);
                validate_positive_int_or_percent(&ms, &format!("{p}.maxSurge"), errs);
                not_more_than_100_percent(&mu, &format!("{p}.maxUnavailable"), errs);
                not_more_than_100_percent(&ms, &format!("{p}.maxSurge"), errs);
                let has_u = int_or_percent_value(&mu) != 0;
                let has_s = int_or_percent_value(&ms) != 0;
                if has_u && has_s {
                    errs.push(invalid_raw(
                        format!("{p}.maxSurge"),
                        go_int_or_string(&ms),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !has_u && !has_s {
                    errs.push(FieldError::required(
                        format!("{p}.maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        other => {
            let ru_txt = match ru {
                Some(_) => "(*apps.RollingUpdateDaemonSet)(0xc000000000)",
                None => "(*apps.RollingUpdateDaemonSet)(nil)",
            };
            errs.push(not_supported_raw(
                "spec.updateStrategy",
                format!(
                    "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:{ru_txt}}}",
                    go_quote(other)
                ),
                &["RollingUpdate", "OnDelete"],
            ));
        }
    }
    nonnegative(
        get_i64(spec, "revisionHistoryLimit", "spec", errs),
        "spec.revisionHistoryLimit",
        errs,
    );
}

fn validate_controller_revision(obj: &Value, errs: &mut FieldErrors) {
    if obj.get("data").is_none_or(Value::is_null) {
        errs.push(FieldError::required("data", "data is mandatory"));
    }
    nonnegative(get_i64(obj, "revision", "", errs), "revision", errs);
}

fn validate_controller_revision_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let n = new.get("data").filter(|v| !v.is_null());
    let o = old.get("data").filter(|v| !v.is_null());
    if n != o {
        let raw = n.map(|v| v.to_string()).unwrap_or_default();
        let bytes = raw.bytes().map(|b| format!("0x{b:x}")).collect::<Vec<_>>().join(", ");
        errs.push(invalid_raw(
            "data",
            format!("runtime.RawExtension{{Raw:[]uint8{{{bytes}}}, Object:runtime.Object(nil)}}"),
            "field is immutable",
        ));
    }
}

fn validate_positive_int_or_percent(v: &Value, path: &str, errs: &mut FieldErrors) {
    match v {
        Value::String(s) => {
            if !is_valid_percent(s) {
                errs.push(invalid_raw(
                    path,
                    go_int_or_string(v),
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%' or '93%', regex used for validation is '[0-9]+%')",
                ));
            }
        }
        Value::Number(_) => match v.as_i64() {
            Some(n) => nonnegative(Some(n), path, errs),
            None => errs.push(type_error(path, v, "integer or string")),
        },
        _ => errs.push(invalid_raw(
            path,
            go_int_or_string(v),
            "must be an integer or percentage (e.g '5%%')",
        )),
    }
}

fn is_valid_percent(s: &str) -> bool {
    s.len() >= 2 && s.ends_with('%') && s[..s.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// upstream `getIntOrPercentValue`: the percentage for a valid percent string, else the
/// integer value (0 for strings that are not numbers).
fn int_or_percent_value(v: &Value) -> i64 {
    match v {
        Value::String(s) if is_valid_percent(s) => s[..s.len() - 1].parse().unwrap_or(i64::MAX),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => v.as_i64().unwrap_or(0),
    }
}

fn not_more_than_100_percent(v: &Value, path: &str, errs: &mut FieldErrors) {
    if let Value::String(s) = v {
        if is_valid_percent(s) && int_or_percent_value(v) > 100 {
            errs.push(invalid_raw(path, go_int_or_string(v), "must not be greater than 100%"));
        }
    }
}

/// Go's `%#v` of an `intstr.IntOrString`.
fn go_int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}", go_quote(s)),
        other => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            other.as_i64().unwrap_or(0)
        ),
    }
}

fn go_sts_rolling_update(ru: &Value) -> String {
    let partition = ru.get("partition").and_then(Value::as_i64).unwrap_or(0);
    let mu = if ru.get("maxUnavailable").is_some_and(|v| !v.is_null()) {
        "(*intstr.IntOrString)(0xc000000000)"
    } else {
        "(*intstr.IntOrString)(nil)"
    };
    format!("apps.RollingUpdateStatefulSetStrategy{{Partition:{partition}, MaxUnavailable:{mu}}}")
}

/// Shared helpers for the non-core strategy files.
pub(super) mod util {
    use crate::error::field::{ErrorType, FieldError, FieldErrors};
    use serde_json::{Map, Value};

    // ------------------------------------------------------------ JSON access

    /// The value at `keys`, treating JSON null like an absent field (Go's nil).
    pub fn at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
        let mut cur = v;
        for k in keys {
            cur = cur.as_object()?.get(*k)?;
        }
        if cur.is_null() {
            None
        } else {
            Some(cur)
        }
    }

    /// The object at `key`, created when absent or null; None when `v` or the existing
    /// value is not an object (validation reports that).
    pub fn obj_child<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
        map_child(v.as_object_mut()?, key)
    }

    pub fn map_child<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
        let e = m.entry(key.to_string()).or_insert(Value::Null);
        if e.is_null() {
            *e = Value::Object(Map::new());
        }
        e.as_object_mut()
    }

    /// Set `key` when absent or null.
    pub fn set_default(m: &mut Map<String, Value>, key: &str, val: Value) {
        if m.get(key).is_none_or(Value::is_null) {
            m.insert(key.to_string(), val);
        }
    }

    /// Absent, null or a string (a default for an enum string may replace "" then).
    pub fn is_absent_or_str(m: &Map<String, Value>, key: &str) -> bool {
        m.get(key).is_none_or(|v| v.is_null() || v.is_string())
    }

    /// `spec` of an object, reporting a wrong type. A missing spec reads as `{}`.
    pub fn spec_of<'a>(obj: &'a Value, errs: &mut FieldErrors) -> Option<&'a Value> {
        static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        match obj.get("spec") {
            None | Some(Value::Null) => Some(EMPTY.get_or_init(|| Value::Object(Map::new()))),
            Some(v @ Value::Object(_)) => Some(v),
            Some(v) => {
                errs.push(type_error("spec", v, "object"));
                None
            }
        }
    }

    /// `ValidateNonnegativeField`.
    pub fn nonnegative(v: Option<i64>, path: &str, errs: &mut FieldErrors) {
        if let Some(n) = v {
            if n < 0 {
                errs.push(FieldError::invalid(path, n, "must be greater than or equal to 0"));
            }
        }
    }

    // ------------------------------------------------------------ Go rendering

    /// Go `%q` of a string.
    pub fn go_quote(s: &str) -> String {
        serde_json::to_string(s).unwrap_or_default()
    }

    /// Go `%#v` of a `map[string]string` (keys sorted, as fmt prints maps).
    pub fn go_string_map(v: Option<&Value>) -> String {
        match v.and_then(Value::as_object) {
            None => "map[string]string(nil)".into(),
            Some(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let body = keys
                    .iter()
                    .map(|k| {
                        let val = match &m[k.as_str()] {
                            Value::String(s) => go_quote(s),
                            other => go_quote(&other.to_string()),
                        };
                        format!("{}:{}", go_quote(k), val)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("map[string]string{{{body}}}")
            }
        }
    }

    fn go_string_slice(v: Option<&Value>) -> String {
        match v.and_then(Value::as_array) {
            None => "[]string(nil)".into(),
            Some(a) => {
                let items = a
                    .iter()
                    .map(|x| go_quote(x.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("[]string{{{items}}}")
            }
        }
    }

    /// Go `%#v` of a `metav1.LabelSelector` value (what field errors print for a selector).
    pub fn go_label_selector(v: &Value) -> String {
        let ml = go_string_map(v.get("matchLabels").filter(|x| !x.is_null()));
        let me = match v.get("matchExpressions").and_then(Value::as_array) {
            None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
            Some(a) => {
                let items = a
                    .iter()
                    .map(|r| {
                        format!(
                            "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                            go_quote(r.get("key").and_then(Value::as_str).unwrap_or_default()),
                            go_quote(r.get("operator").and_then(Value::as_str).unwrap_or_default()),
                            go_string_slice(r.get("values").filter(|x| !x.is_null()))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("[]v1.LabelSelectorRequirement{{{items}}}")
            }
        };
        format!("v1.LabelSelector{{MatchLabels:{ml}, MatchExpressions:{me}}}")
    }

    /// A `*metav1.LabelSelector`: `null` when nil.
    pub fn go_label_selector_ptr(v: Option<&Value>) -> String {
        v.map(go_label_selector).unwrap_or_else(|| "null".into())
    }

    /// [`FieldError::invalid_raw`] for a value rendered into a `String` here.
    pub fn invalid_raw(field: impl Into<String>, rendered: String, detail: &str) -> FieldError {
        FieldError::invalid_raw(field, &rendered, detail)
    }

    /// An `Unsupported value` error with a pre-rendered value.
    pub fn not_supported_raw(field: impl Into<String>, rendered: String, supported: &[&str]) -> FieldError {
        let list = supported
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        FieldError {
            kind: ErrorType::NotSupported,
            field: field.into(),
            value: None,
            detail: format!("{rendered}: supported values: {list}"),
        }
    }

    /// `ValidateImmutableField` for a value Go prints as a plain string, number or bool
    /// (pointers to those print their target, nil prints `null`).
    pub fn immutable(new: Option<&Value>, old: Option<&Value>, path: &str, errs: &mut FieldErrors) {
        if new != old {
            match new {
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                    errs.push(FieldError::invalid(path, v.clone(), "field is immutable"))
                }
                Some(other) => errs.push(invalid_raw(path, other.to_string(), "field is immutable")),
                None => errs.push(invalid_raw(path, "null".into(), "field is immutable")),
            }
        }
    }

    // ------------------------------------------------------------ name/label checks

    pub use crate::api::validation::{get_arr, get_bool, get_i64, get_obj, get_str, get_str_list, type_error};
    pub use crate::api::validation::{
        is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
        is_valid_path_segment_name as path_segment_errors, max_len_error, validate_annotations,
        validate_label_selector, validate_labels,
    };

    // ------------------------------------------------------------ label selectors

    /// Whether `metav1.LabelSelectorAsSelector` accepts the selector.
    pub fn selector_converts(sel: &Value) -> bool {
        let mut e = Vec::new();
        validate_label_selector(sel, "", &mut e);
        e.is_empty()
    }

    pub use crate::api::selector::selector_is_empty;

    /// Whether the LabelSelector `sel` selects the label map `labels` (None = no labels).
    pub fn selector_matches(sel: &Value, labels: Option<&Value>) -> bool {
        crate::api::selector::selects(Some(sel), labels.and_then(Value::as_object))
    }

    // ------------------------------------------------------------ pod templates

    /// Upstream `ValidatePodTemplateSpec` (core's, shared by every kind with a template).
    pub use super::super::core::validate_pod_template;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "template": {
                    "metadata": {"labels": {"app": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}
                }
            }
        })
    }

    fn validate(s: &Builtin, obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        (s.validate)(obj, &mut errs);
        msgs(&errs)
    }

    #[test]
    fn deployment_defaults_match_upstream() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.25");
        (DEPLOYMENT.defaults)(&mut d);
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], json!(1));
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(spec["revisionHistoryLimit"], json!(10));
        assert_eq!(spec["progressDeadlineSeconds"], json!(600));
        assert_eq!(spec["selector"], json!({"matchLabels": {"app": "x"}}));
        // Defaulting is idempotent.
        let mut again = d.clone();
        (DEPLOYMENT.defaults)(&mut again);
        assert_eq!(again, d);
        // What kube-apiserver 1.33 returns for the template of this deployment; checked once
        // core's PodSpec defaulting is in (it sets restartPolicy).
        if spec["template"]["spec"].get("restartPolicy").is_some() {
            assert_eq!(
                spec["template"]["spec"],
                json!({
                    "containers": [{
                        "name": "c", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30
                })
            );
            assert!(validate(&DEPLOYMENT, &d).is_empty(), "{:?}", validate(&DEPLOYMENT, &d));
        }
    }

    #[test]
    fn deployment_keeps_recreate_without_rolling_update() {
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "Recreate"});
        (DEPLOYMENT.defaults)(&mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn deployment_selector_errors() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        d["spec"].as_object_mut().unwrap().remove("selector");
        (DEPLOYMENT.defaults)(&mut d);
        let m = validate(&DEPLOYMENT, &d);
        assert!(m.contains(&"spec.selector: Required value".to_string()), "{m:?}");
        assert!(m.contains(
            &"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
                .to_string()
        ));

        let mut d = deployment();
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        d["spec"]["selector"] = json!({"matchLabels": {"app": "y"}});
        (DEPLOYMENT.defaults)(&mut d);
        let m = validate(&DEPLOYMENT, &d);
        assert!(m.contains(
            &"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
                .to_string()
        ));

        let mut d = deployment();
        d["spec"]["selector"] = json!({});
        let m = validate(&DEPLOYMENT, &d);
        assert!(m.contains(&"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment".to_string()), "{m:?}");
    }

    #[test]
    fn deployment_restart_policy_and_replicas() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        d["spec"]["replicas"] = json!(-1);
        (DEPLOYMENT.defaults)(&mut d);
        let m = validate(&DEPLOYMENT, &d);
        assert!(m.contains(
            &"spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"".to_string()
        ));
        assert!(m.contains(&"spec.replicas: Invalid value: -1: must be greater than or equal to 0".to_string()));
    }

    #[test]
    fn deployment_wrong_types_are_errors() {
        let mut d = deployment();
        d["spec"]["replicas"] = json!("three");
        d["spec"]["selector"] = json!("app=x");
        (DEPLOYMENT.defaults)(&mut d);
        let m = validate(&DEPLOYMENT, &d);
        assert!(
            m.iter()
                .any(|s| s.starts_with("spec.replicas: Invalid value: \"three\"")),
            "{m:?}"
        );
        assert!(m
            .iter()
            .any(|s| s.starts_with("spec.selector: Invalid value: \"app=x\"")));
        let mut weird = json!({"spec": "nope"});
        (DEPLOYMENT.defaults)(&mut weird);
        assert_eq!(
            validate(&DEPLOYMENT, &weird),
            vec!["spec: Invalid value: \"nope\": expected object"]
        );
        let mut weird = json!([1, 2]);
        (DEPLOYMENT.defaults)(&mut weird);
        let _ = validate(&DEPLOYMENT, &weird);
    }

    #[test]
    fn deployment_strategy_rules() {
        let mut d = deployment();
        d["spec"]["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}});
        let m = validate(&DEPLOYMENT, &d);
        assert!(m.contains(&"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0".to_string()), "{m:?}");
        d["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {}});
        let m = validate(&DEPLOYMENT, &d);
        assert!(m.contains(
            &"spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
                .to_string()
        ));
        d["spec"]["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "110%", "maxSurge": 1}});
        let m = validate(&DEPLOYMENT, &d);
        assert!(m.contains(&"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"110%\"}: must not be greater than 100%".to_string()));
    }

    #[test]
    fn selector_is_immutable() {
        let old = deployment();
        let mut new = deployment();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "nginx2"}});
        let mut errs = Vec::new();
        (DEPLOYMENT.validate_update)(&new, &old, &mut errs);
        assert_eq!(
            msgs(&errs),
            vec!["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"nginx2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]
        );
        assert_eq!(errs[0].cause()["reason"], "FieldValueInvalid");
    }

    #[test]
    fn replica_set_defaults() {
        let mut rs = json!({"spec": {}});
        (REPLICA_SET.defaults)(&mut rs);
        assert_eq!(rs["spec"]["replicas"], json!(1));
    }

    #[test]
    fn stateful_set_defaults_and_update_rule() {
        let mut s = json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}}});
        (STATEFUL_SET.defaults)(&mut s);
        assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            s["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            s["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(s["spec"]["replicas"], 1);
        assert_eq!(s["spec"]["revisionHistoryLimit"], 10);

        let mut new = s.clone();
        new["spec"]["replicas"] = json!(3);
        let mut errs = Vec::new();
        (STATEFUL_SET.validate_update)(&new, &s, &mut errs);
        assert!(errs.is_empty());
        new["spec"]["serviceName"] = json!("other");
        (STATEFUL_SET.validate_update)(&new, &s, &mut errs);
        assert_eq!(msgs(&errs), vec!["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]);
    }

    #[test]
    fn stateful_set_validation() {
        let mut s = json!({"spec": {"podManagementPolicy": "Sometimes", "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"restartPolicy": "Always"}}}});
        (STATEFUL_SET.defaults)(&mut s);
        let m = validate(&STATEFUL_SET, &s);
        assert!(m.contains(
            &"spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'".to_string()
        ));
        assert!(m.contains(&"spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"c\"}: `selector` does not match template `labels`".to_string()));
    }

    #[test]
    fn daemon_set_defaults_and_rules() {
        let mut ds = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}}});
        (DAEMON_SET.defaults)(&mut ds);
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
        (DAEMON_SET.prepare_create)(&mut ds);
        assert_eq!(
            ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"],
            "1"
        );
        ds["spec"]["updateStrategy"]["rollingUpdate"] = json!({"maxUnavailable": 0, "maxSurge": 0});
        let m = validate(&DAEMON_SET, &ds);
        assert!(
            m.contains(
                &"spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
                    .to_string()
            ),
            "{m:?}"
        );
    }

    #[test]
    fn controller_revision_rules() {
        let m = validate(&CONTROLLER_REVISION, &json!({"revision": -2}));
        assert_eq!(
            m,
            vec![
                "data: Required value: data is mandatory",
                "revision: Invalid value: -2: must be greater than or equal to 0"
            ]
        );
    }

    #[test]
    fn label_selector_validation_messages() {
        let mut errs = Vec::new();
        util::validate_label_selector(
            &json!({"matchExpressions": [{"key": "a", "operator": "In"}, {"key": "b", "operator": "Bogus"}]}),
            "spec.selector",
            &mut errs,
        );
        assert_eq!(
            msgs(&errs),
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].operator: Invalid value: \"Bogus\": not a valid selector operator",
            ]
        );
        assert!(util::selector_matches(
            &json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}),
            None
        ));
        assert!(!util::selector_matches(
            &json!({"matchLabels": {"a": "b"}}),
            Some(&json!({"a": "c"}))
        ));
    }
}
