//! Strategies for `storage.k8s.io`: StorageClass, CSIDriver, VolumeAttachment,
//! VolumeAttributesClass (upstream
//! `pkg/apis/storage/v1/defaults.go`, `pkg/apis/storage/validation/validation.go`).

use super::apps::util::*;
use super::Builtin;
use crate::error::field::{FieldError, FieldErrors};
use serde_json::{json, Value};

fn no_op(_: &mut Value) {}

pub const STORAGE_CLASS: Builtin = Builtin {
    defaults: default_storage_class,
    prepare_create: no_op,
    validate: validate_storage_class,
    validate_update: validate_storage_class_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const CSI_DRIVER: Builtin = Builtin {
    defaults: default_csi_driver,
    prepare_create: no_op,
    validate: validate_csi_driver,
    validate_update: validate_csi_driver_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const VOLUME_ATTACHMENT: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_volume_attachment,
    validate_update: validate_volume_attachment_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

/// VolumeAttributesClass (`pkg/registry/storage/volumeattributesclass`): no defaults; driver
/// and parameters fixed at creation.
pub const VOLUME_ATTRIBUTES_CLASS: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_volume_attributes_class,
    validate_update: validate_volume_attributes_class_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

// ---------------------------------------------------------------- defaults

/// `SetDefaults_StorageClass`: reclaimPolicy Delete, volumeBindingMode Immediate.
pub fn default_storage_class(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    set_default(m, "reclaimPolicy", json!("Delete"));
    set_default(m, "volumeBindingMode", json!("Immediate"));
}

/// `SetDefaults_CSIDriver`.
pub fn default_csi_driver(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    set_default(spec, "attachRequired", json!(true));
    set_default(spec, "podInfoOnMount", json!(false));
    set_default(spec, "storageCapacity", json!(false));
    set_default(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
    if spec
        .get("volumeLifecycleModes")
        .is_none_or(|v| v.is_null() || v.as_array().is_some_and(Vec::is_empty))
    {
        spec.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
    }
    set_default(spec, "requiresRepublish", json!(false));
    set_default(spec, "seLinuxMount", json!(false));
}

// ---------------------------------------------------------------- StorageClass

fn validate_storage_class(obj: &Value, errs: &mut FieldErrors) {
    validate_provisioner(get_str(obj, "provisioner", "", errs).unwrap_or(""), "provisioner", errs);
    validate_parameters(obj, true, errs);
    if let Some(rp) = get_str(obj, "reclaimPolicy", "", errs) {
        if !rp.is_empty() && rp != "Delete" && rp != "Retain" {
            errs.push(FieldError::not_supported("reclaimPolicy", rp, &["Delete", "Retain"]));
        }
    }
    match get_str(obj, "volumeBindingMode", "", errs) {
        None => {
            if obj.get("volumeBindingMode").is_none_or(Value::is_null) {
                errs.push(FieldError::required("volumeBindingMode", ""));
            }
        }
        Some(m) if m != "Immediate" && m != "WaitForFirstConsumer" => errs.push(FieldError::not_supported(
            "volumeBindingMode",
            m,
            &["Immediate", "WaitForFirstConsumer"],
        )),
        Some(_) => {}
    }
    for (i, term) in get_arr(obj, "allowedTopologies", "", errs)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = format!("allowedTopologies[{i}]");
        for (j, e) in get_arr(term, "matchLabelExpressions", &p, errs)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let ep = format!("{p}.matchLabelExpressions[{j}]");
            let key = get_str(e, "key", &ep, errs).unwrap_or("");
            for msg in is_qualified_name(key) {
                errs.push(FieldError::invalid(format!("{ep}.key"), key, msg));
            }
            if get_str_list(e, "values", &ep, errs).is_empty() {
                errs.push(FieldError::required(
                    format!("{ep}.values"),
                    "must specify as least one value",
                ));
            }
        }
    }
}

/// `validateParameters`: at most 512 entries and 256 KiB of keys and values, no empty key;
/// `allow_empty` false requires one entry.
fn validate_parameters(obj: &Value, allow_empty: bool, errs: &mut FieldErrors) {
    let params = get_obj(obj, "parameters", "", errs);
    let m = params.and_then(Value::as_object);
    if m.is_some_and(|m| m.len() > 512) {
        errs.push(FieldError::too_long("parameters", 512));
        return;
    }
    let mut total = 0usize;
    for (k, v) in m.into_iter().flatten() {
        if k.is_empty() {
            errs.push(FieldError::invalid("parameters", "", "field can not be empty."));
        }
        match v.as_str() {
            Some(s) => total += k.len() + s.len(),
            None => errs.push(type_error(format!("parameters.{k}"), v, "string")),
        }
    }
    if total > 256 * 1024 {
        errs.push(FieldError::too_long("parameters", 256 * 1024));
    }
    if !allow_empty && m.is_none_or(|m| m.is_empty()) {
        errs.push(FieldError::required(
            "parameters",
            "must contain at least one key/value pair",
        ));
    }
}

/// `validateProvisioner`: required, a qualified name (checked lower-cased).
fn validate_provisioner(p: &str, path: &str, errs: &mut FieldErrors) {
    if p.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let lower = p.to_lowercase();
    for msg in is_qualified_name(&lower) {
        errs.push(FieldError::invalid(path, lower.as_str(), msg));
    }
}

/// `parameters` may not change (an empty map is the same as none).
fn forbid_parameter_updates(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let params = |v: &Value| {
        v.get("parameters")
            .filter(|p| p.as_object().is_some_and(|m| !m.is_empty()))
            .cloned()
    };
    if params(new) != params(old) {
        errs.push(FieldError::forbidden(
            "parameters",
            "updates to parameters are forbidden.",
        ));
    }
}

fn validate_storage_class_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    forbid_parameter_updates(new, old, errs);
    for k in ["provisioner", "reclaimPolicy"] {
        if at(new, &[k]) != at(old, &[k]) {
            errs.push(FieldError::forbidden(k, format!("updates to {k} are forbidden.")));
        }
    }
    immutable(
        at(new, &["volumeBindingMode"]),
        at(old, &["volumeBindingMode"]),
        "volumeBindingMode",
        errs,
    );
}

// ---------------------------------------------------------------- VolumeAttributesClass

/// `ValidateVolumeAttributesClass`.
fn validate_volume_attributes_class(obj: &Value, errs: &mut FieldErrors) {
    validate_provisioner(get_str(obj, "driverName", "", errs).unwrap_or(""), "driverName", errs);
    validate_parameters(obj, false, errs);
}

/// `ValidateVolumeAttributesClassUpdate` (which validates the new object once more, as the
/// strategy already did: upstream's causes list those errors twice).
fn validate_volume_attributes_class_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    if at(new, &["driverName"]) != at(old, &["driverName"]) {
        errs.push(FieldError::forbidden(
            "driverName",
            "updates to driverName are forbidden.",
        ));
    }
    forbid_parameter_updates(new, old, errs);
    validate_volume_attributes_class(new, errs);
}

// ---------------------------------------------------------------- CSIDriver

fn validate_csi_driver(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    for (k, path) in [
        ("attachRequired", "spec.attachedRequired"),
        ("podInfoOnMount", "spec.podInfoOnMount"),
        ("storageCapacity", "spec.storageCapacity"),
    ] {
        if get_bool(spec, k, "spec", errs).is_none() && spec.get(k).is_none_or(Value::is_null) {
            errs.push(FieldError::required(path, ""));
        }
    }
    if let Some(p) = get_str(spec, "fsGroupPolicy", "spec", errs) {
        const POLICIES: &[&str] = &["File", "None", "ReadWriteOnceWithFSType"];
        if !POLICIES.contains(&p) {
            errs.push(FieldError::not_supported("spec.fsGroupPolicy", p, POLICIES));
        }
    }
    let mut audiences = std::collections::HashSet::new();
    for (i, tr) in get_arr(spec, "tokenRequests", "spec", errs)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = format!("spec.tokenRequests[{i}]");
        let aud = get_str(tr, "audience", &p, errs).unwrap_or("");
        if !audiences.insert(aud.to_string()) {
            errs.push(FieldError::duplicate(format!("{p}.audience"), aud));
            continue;
        }
        if let Some(exp) = get_i64(tr, "expirationSeconds", &p, errs) {
            if exp < 600 {
                errs.push(FieldError::invalid(
                    format!("{p}.expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > 1 << 32 {
                errs.push(FieldError::invalid(
                    format!("{p}.expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
        }
    }
    for m in get_str_list(spec, "volumeLifecycleModes", "spec", errs) {
        if m != "Persistent" && m != "Ephemeral" {
            errs.push(FieldError::not_supported(
                "spec.volumeLifecycleModes",
                m,
                &["Persistent", "Ephemeral"],
            ));
        }
    }
    if get_bool(spec, "seLinuxMount", "spec", errs).is_none() && spec.get("seLinuxMount").is_none_or(Value::is_null) {
        errs.push(FieldError::required("spec.seLinuxMount", ""));
    }
    if let Some(p) = get_i64(spec, "nodeAllocatableUpdatePeriodSeconds", "spec", errs) {
        if p < 10 {
            errs.push(FieldError::invalid(
                "spec.nodeAllocatableUpdatePeriodSeconds",
                p,
                "must be greater than or equal to 10 seconds",
            ));
        }
    }
}

fn validate_csi_driver_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    immutable(
        at(new, &["spec", "attachRequired"]),
        at(old, &["spec", "attachRequired"]),
        "spec.attachedRequired",
        errs,
    );
    let (n, o) = (
        at(new, &["spec", "volumeLifecycleModes"]),
        at(old, &["spec", "volumeLifecycleModes"]),
    );
    if n != o {
        let rendered = match n.and_then(Value::as_array) {
            Some(a) => format!(
                "[]storage.VolumeLifecycleMode{{{}}}",
                a.iter()
                    .map(|m| go_quote(m.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "[]storage.VolumeLifecycleMode(nil)".into(),
        };
        errs.push(invalid_raw("spec.volumeLifecycleModes", rendered, "field is immutable"));
    }
}

// ---------------------------------------------------------------- VolumeAttachment

fn validate_volume_attachment(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let attacher = get_str(spec, "attacher", "spec", errs).unwrap_or("");
    if attacher.is_empty() {
        errs.push(FieldError::required("spec.attacher", ""));
    }
    if attacher.len() > 63 {
        errs.push(FieldError::too_long("spec.attacher", 63));
    }
    for msg in is_dns1123_subdomain(&attacher.to_lowercase()) {
        errs.push(FieldError::invalid("spec.attacher", attacher, msg));
    }
    let empty = json!({});
    let source = get_obj(spec, "source", "spec", errs).unwrap_or(&empty);
    let inline = source.get("inlineVolumeSpec").filter(|v| !v.is_null());
    let pv = get_str(source, "persistentVolumeName", "spec.source", errs);
    const ONE_OF: &str = "must specify exactly one of inlineVolumeSpec and persistentVolumeName";
    match (inline, pv) {
        (None, None) => errs.push(FieldError::required("spec.source", ONE_OF)),
        (Some(_), Some(_)) => errs.push(FieldError::forbidden("spec.source", ONE_OF)),
        (None, Some("")) => errs.push(FieldError::required(
            "spec.source.persistentVolumeName",
            "must specify non empty persistentVolumeName",
        )),
        (None, Some(name)) => {
            for msg in is_dns1123_subdomain(name) {
                errs.push(FieldError::invalid("spec.source.persistentVolumeName", name, msg));
            }
        }
        (Some(_), None) => {}
    }
    let node = get_str(spec, "nodeName", "spec", errs).unwrap_or("");
    for msg in is_dns1123_subdomain(node) {
        errs.push(FieldError::invalid("spec.nodeName", node, msg));
    }
    if let Some(status) = get_obj(obj, "status", "", errs) {
        if let Some(md) = status.get("attachmentMetadata").and_then(Value::as_object) {
            let size: usize = md.iter().map(|(k, v)| k.len() + v.as_str().map_or(0, str::len)).sum();
            if size > 256 * 1024 {
                errs.push(FieldError::too_long("status.attachmentMetadata", 256 * 1024));
            }
        }
        for k in ["attachError", "detachError"] {
            if let Some(e) = get_obj(status, k, "status", errs) {
                let p = format!("status.{k}");
                if get_str(e, "message", &p, errs).is_some_and(|m| m.len() > 1024) {
                    errs.push(FieldError::too_long(format!("{p}.message"), 256 * 1024));
                }
                if let Some(code) = get_i64(e, "errorCode", &p, errs).filter(|c| *c < 0) {
                    errs.push(FieldError::invalid(
                        format!("{p}.errorCode"),
                        code,
                        "must be between 0 and 2147483647, inclusive",
                    ));
                }
            }
        }
    }
}

/// The spec is read-only after creation.
fn validate_volume_attachment_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (n, o) = (at(new, &["spec"]), at(old, &["spec"]));
    if n != o {
        let rendered = n.map(|v| v.to_string()).unwrap_or_else(|| "null".into());
        errs.push(invalid_raw("spec", rendered, "field is immutable"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &Builtin, obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        (s.validate)(obj, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn storage_class_defaults_and_rules() {
        let mut sc = json!({"metadata": {"name": "fast"}, "provisioner": "kubernetes.io/no-provisioner"});
        (STORAGE_CLASS.defaults)(&mut sc);
        assert_eq!(sc["reclaimPolicy"], "Delete");
        assert_eq!(sc["volumeBindingMode"], "Immediate");
        assert!(run(&STORAGE_CLASS, &sc).is_empty());
        let mut bad = json!({"reclaimPolicy": "Recycle", "volumeBindingMode": "Later"});
        (STORAGE_CLASS.defaults)(&mut bad);
        assert_eq!(
            run(&STORAGE_CLASS, &bad),
            vec![
                "provisioner: Required value",
                "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
                "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"",
            ]
        );
    }

    #[test]
    fn storage_class_update_is_forbidden() {
        let mut old = json!({"provisioner": "a.io/x", "parameters": {"type": "gp2"}});
        (STORAGE_CLASS.defaults)(&mut old);
        let mut new = old.clone();
        new["parameters"]["type"] = json!("gp3");
        new["provisioner"] = json!("b.io/x");
        new["reclaimPolicy"] = json!("Retain");
        new["volumeBindingMode"] = json!("WaitForFirstConsumer");
        let mut errs = Vec::new();
        (STORAGE_CLASS.validate_update)(&new, &old, &mut errs);
        assert_eq!(
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            vec![
                "parameters: Forbidden: updates to parameters are forbidden.",
                "provisioner: Forbidden: updates to provisioner are forbidden.",
                "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
                "volumeBindingMode: Invalid value: \"WaitForFirstConsumer\": field is immutable",
            ]
        );
    }

    #[test]
    fn csi_driver_defaults() {
        let mut d = json!({"metadata": {"name": "csi.example.com"}, "spec": {}});
        (CSI_DRIVER.defaults)(&mut d);
        assert_eq!(
            d["spec"],
            json!({"attachRequired": true, "podInfoOnMount": false, "storageCapacity": false,
                "fsGroupPolicy": "ReadWriteOnceWithFSType", "volumeLifecycleModes": ["Persistent"],
                "requiresRepublish": false, "seLinuxMount": false})
        );
        assert!(run(&CSI_DRIVER, &d).is_empty());
        let mut new = d.clone();
        new["spec"]["attachRequired"] = json!(false);
        let mut errs = Vec::new();
        (CSI_DRIVER.validate_update)(&new, &d, &mut errs);
        assert_eq!(
            errs[0].to_string(),
            "spec.attachedRequired: Invalid value: false: field is immutable"
        );
    }

    #[test]
    fn volume_attachment_rules() {
        let va = json!({"spec": {"attacher": "csi.example.com", "nodeName": "node-1", "source": {}}});
        assert_eq!(
            run(&VOLUME_ATTACHMENT, &va),
            vec!["spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName"]
        );
    }
}
