//! Validation of resource.k8s.io objects (upstream `pkg/apis/resource/validation`), run on the
//! internal (v1beta2) shape whatever version was written, so field paths and messages are
//! upstream's (`spec.devices.requests[0].exactly.deviceClassName` for a v1beta1 claim too).

use super::cel;
use super::convert::to_internal;
use crate::api::strategy::apps::util::invalid_raw;
use crate::api::validation::{
    is_c_identifier, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
    validate_annotations, validate_labels,
};
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DEVICE_REQUESTS_MAX: usize = 32;
const FIRST_AVAILABLE_MAX: usize = 8;
const DEVICE_CONSTRAINTS_MAX: usize = 32;
const DEVICE_CONFIG_MAX: usize = 32;
const DEVICE_SELECTORS_MAX: usize = 32;
const RESERVED_FOR_MAX: usize = 256;
const ALLOCATION_RESULTS_MAX: usize = 32;
const POOL_NAME_MAX: usize = 253;
const SLICE_MAX_DEVICES: usize = 128;
const MAX_ATTRIBUTES_AND_CAPACITIES: usize = 32;
const DEVICE_MAX_ID_LENGTH: usize = 32;
const DEVICE_MAX_DOMAIN_LENGTH: usize = 63;
const ATTRIBUTE_MAX_VALUE_LENGTH: usize = 64;
const OPAQUE_PARAMETERS_MAX_LENGTH: usize = 10 * 1024;
const DEVICE_TAINTS_MAX: usize = 4;
const DEVICE_STATUS_MAX_CONDITIONS: usize = 8;
const DEVICE_STATUS_DATA_MAX_LENGTH: usize = 10 * 1024;
const TAINT_EFFECTS: &[&str] = &["NoExecute", "NoSchedule"];

fn present(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

fn push_invalid(errs: &mut FieldErrors, path: &str, value: &str, msgs: Vec<String>) {
    for m in msgs {
        errs.push(FieldError::invalid(path, value, m));
    }
}

fn too_many(errs: &mut FieldErrors, items: &[Value], max: usize, path: &str) {
    if items.len() > max {
        errs.push(FieldError::too_many(path, items.len(), max));
    }
}

/// `validateSet`'s duplicate check on `key` of each item.
fn duplicates(items: &[Value], key: &str, path: &str, errs: &mut FieldErrors) {
    let mut seen = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let k = item.str_of(key);
        if !seen.insert(k.to_string()) {
            errs.push(FieldError::duplicate(format!("{path}[{i}].{key}"), k));
        }
    }
}

fn dns_label(v: &str, path: &str, errs: &mut FieldErrors) {
    push_invalid(errs, path, v, is_dns1123_label(v));
}

fn dns_subdomain(v: &str, path: &str, errs: &mut FieldErrors) {
    push_invalid(errs, path, v, is_dns1123_subdomain(v));
}

/// `ValidateCSIDriverName`, which DRA driver names reuse.
fn driver_name(v: &str, path: &str, errs: &mut FieldErrors) {
    if v.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    if v.len() > 63 {
        errs.push(FieldError::too_long(path, 63));
    }
    push_invalid(errs, path, v, is_dns1123_subdomain(&v.to_lowercase()));
}

fn pool_name(v: &str, path: &str, errs: &mut FieldErrors) {
    if v.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    if v.len() > POOL_NAME_MAX {
        errs.push(FieldError::too_long(path, POOL_NAME_MAX));
    }
    for part in v.split('/') {
        push_invalid(errs, path, part, is_dns1123_subdomain(part));
    }
}

fn device_class_ref(v: &str, path: &str, errs: &mut FieldErrors) {
    if v.is_empty() {
        errs.push(FieldError::required(path, ""));
    } else {
        dns_subdomain(v, path, errs);
    }
}

/// Request names of a claim, with their subrequests (`gatherRequestNames`).
type RequestNames = BTreeMap<String, Option<BTreeSet<String>>>;

fn request_names(devices: &Value) -> RequestNames {
    devices
        .arr_of("requests")
        .iter()
        .map(|r| {
            let subs = r.arr_of("firstAvailable");
            let set = (!subs.is_empty()).then(|| subs.iter().map(|s| s.str_of("name").to_string()).collect());
            (r.str_of("name").to_string(), set)
        })
        .collect()
}

fn names_have(names: &RequestNames, r: &str) -> bool {
    let segs: Vec<&str> = r.split('/').collect();
    match (segs.len(), names.get(segs[0])) {
        (1, Some(_)) => true,
        (2, Some(Some(subs))) => subs.contains(segs[1]),
        _ => false,
    }
}

const REQUEST_REF: &str =
    "must be the name of a request in the claim or the name of a request and a subrequest separated by '/'";

fn request_ref(name: &str, path: &str, names: &RequestNames, errs: &mut FieldErrors) {
    let segs: Vec<&str> = name.split('/').collect();
    if segs.len() > 2 {
        errs.push(FieldError::invalid(path, name, REQUEST_REF));
        return;
    }
    for seg in &segs {
        dns_label(seg, path, errs);
    }
    if !names_have(names, name) {
        errs.push(FieldError::invalid(path, name, REQUEST_REF));
    }
}

fn request_refs(list: &[Value], path: &str, names: &RequestNames, errs: &mut FieldErrors) {
    let mut seen = BTreeSet::new();
    for (i, r) in list.iter().enumerate() {
        let name = r.as_str().unwrap_or("");
        request_ref(name, &format!("{path}[{i}]"), names, errs);
    }
    too_many(errs, list, DEVICE_REQUESTS_MAX, path);
    for (i, r) in list.iter().enumerate() {
        let name = r.as_str().unwrap_or("");
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(format!("{path}[{i}]"), name));
        }
    }
}

fn selectors(list: &[Value], path: &str, stored: bool, errs: &mut FieldErrors) {
    for (i, sel) in list.iter().enumerate() {
        let p = format!("{path}[{i}].cel");
        match sel.get("cel").filter(|c| !c.is_null()) {
            None => errs.push(FieldError::required(p, "")),
            Some(c) => {
                if let Some(e) = cel::validate(c.str_of("expression"), &format!("{p}.expression"), stored) {
                    errs.push(e);
                }
            }
        }
    }
    too_many(errs, list, DEVICE_SELECTORS_MAX, path);
}

fn allocation_mode(r: &Value, path: &str, errs: &mut FieldErrors) {
    let count = r.get("count").and_then(Value::as_i64).unwrap_or(0);
    match r.str_of("allocationMode") {
        "All" => {
            if count != 0 {
                errs.push(FieldError::invalid(
                    format!("{path}.count"),
                    count,
                    "must not be specified when allocationMode is 'All'",
                ));
            }
        }
        "ExactCount" => {
            if count <= 0 {
                errs.push(FieldError::invalid(
                    format!("{path}.count"),
                    count,
                    "must be greater than zero",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{path}.allocationMode"),
            other,
            &["All", "ExactCount"],
        )),
    }
}

fn label_name(key: &str, path: &str, errs: &mut FieldErrors) {
    push_invalid(errs, path, key, is_qualified_name(key));
}

fn label_value(v: &str, path: &str, errs: &mut FieldErrors) {
    push_invalid(errs, path, v, is_valid_label_value(v));
}

fn toleration(t: &Value, path: &str, errs: &mut FieldErrors) {
    let key = t.str_of("key");
    if !key.is_empty() {
        label_name(key, &format!("{path}.key"), errs);
    }
    let value = t.str_of("value");
    match t.str_of("operator") {
        "Exists" => {
            if !value.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{path}.value"),
                    value,
                    "must be empty for operator `Exists`",
                ));
            }
        }
        "Equal" => label_value(value, &format!("{path}.value"), errs),
        "" => errs.push(FieldError::required(format!("{path}.operator"), "")),
        other => errs.push(FieldError::not_supported(
            format!("{path}.operator"),
            other,
            &["Equal", "Exists"],
        )),
    }
    let effect = t.str_of("effect");
    if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
        errs.push(FieldError::not_supported(
            format!("{path}.effect"),
            effect,
            TAINT_EFFECTS,
        ));
    }
}

/// The fields `exactly` and a subrequest share.
fn one_kind_of_device(r: &Value, path: &str, stored: bool, errs: &mut FieldErrors) {
    device_class_ref(r.str_of("deviceClassName"), &format!("{path}.deviceClassName"), errs);
    selectors(r.arr_of("selectors"), &format!("{path}.selectors"), stored, errs);
    allocation_mode(r, path, errs);
    for (i, t) in r.arr_of("tolerations").iter().enumerate() {
        toleration(t, &format!("{path}.tolerations[{i}]"), errs);
    }
}

fn request(r: &Value, path: &str, stored: bool, errs: &mut FieldErrors) {
    dns_label(r.str_of("name"), &format!("{path}.name"), errs);
    let mut kinds = 0;
    let subs = r.arr_of("firstAvailable");
    if !subs.is_empty() {
        kinds += 1;
        let p = format!("{path}.firstAvailable");
        for (i, sub) in subs.iter().enumerate() {
            let sp = format!("{p}[{i}]");
            dns_label(sub.str_of("name"), &format!("{sp}.name"), errs);
            one_kind_of_device(sub, &sp, stored, errs);
        }
        too_many(errs, subs, FIRST_AVAILABLE_MAX, &p);
        duplicates(subs, "name", &p, errs);
    }
    if let Some(exact) = r.get("exactly").filter(|e| !e.is_null()) {
        kinds += 1;
        one_kind_of_device(exact, &format!("{path}.exactly"), stored, errs);
    }
    match kinds {
        0 => errs.push(FieldError::required(
            path,
            "exactly one of `exactly` or `firstAvailable` is required",
        )),
        1 => {}
        _ => errs.push(invalid_raw(
            path,
            "null".into(),
            "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set",
        )),
    }
}

/// A `FullyQualifiedName` or `QualifiedName` (`validateQualifiedName`).
fn qualified_name(name: &str, path: &str, errs: &mut FieldErrors) {
    if name.is_empty() {
        errs.push(FieldError::required(path, "name required"));
        return;
    }
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        [id] => c_identifier(id, path, errs),
        [domain, id] => {
            if domain.is_empty() {
                errs.push(FieldError::required(path, "the domain must not be empty"));
            } else {
                driver_name(domain, path, errs);
            }
            if id.is_empty() {
                errs.push(FieldError::required(path, "the name must not be empty"));
            } else {
                c_identifier(id, path, errs);
            }
        }
        _ => {}
    }
}

fn c_identifier(id: &str, path: &str, errs: &mut FieldErrors) {
    if id.len() > DEVICE_MAX_ID_LENGTH {
        errs.push(FieldError::too_long(path, DEVICE_MAX_ID_LENGTH));
    }
    for m in is_c_identifier(id) {
        errs.push(FieldError::type_invalid(path, id, m));
    }
}

fn opaque(config: &Value, path: &str, stored: bool, errs: &mut FieldErrors) {
    match config.get("opaque").filter(|o| !o.is_null()) {
        None => errs.push(FieldError::required(format!("{path}.opaque"), "")),
        Some(o) => {
            driver_name(o.str_of("driver"), &format!("{path}.opaque.driver"), errs);
            raw_extension(
                o.get("parameters"),
                &format!("{path}.opaque.parameters"),
                stored,
                OPAQUE_PARAMETERS_MAX_LENGTH,
                errs,
            );
        }
    }
}

/// `validateRawExtension`: a JSON object within the size limit.
fn raw_extension(v: Option<&Value>, path: &str, stored: bool, max: usize, errs: &mut FieldErrors) {
    match v {
        None | Some(Value::Null) => errs.push(FieldError::required(path, "")),
        Some(v) if !stored && v.to_string().len() > max => errs.push(FieldError::too_long(path, max)),
        Some(Value::Object(_)) => {}
        Some(_) => errs.push(invalid_raw(
            path,
            "\"<value omitted>\"".into(),
            "parameters must be a valid JSON object",
        )),
    }
}

fn device_claim(devices: &Value, path: &str, stored: bool, errs: &mut FieldErrors) {
    let names = request_names(devices);
    let reqs = devices.arr_of("requests");
    let p = format!("{path}.requests");
    for (i, r) in reqs.iter().enumerate() {
        request(r, &format!("{p}[{i}]"), stored, errs);
    }
    too_many(errs, reqs, DEVICE_REQUESTS_MAX, &p);
    duplicates(reqs, "name", &p, errs);
    let constraints = devices.arr_of("constraints");
    for (i, c) in constraints.iter().enumerate() {
        let cp = format!("{path}.constraints[{i}]");
        request_refs(c.arr_of("requests"), &format!("{cp}.requests"), &names, errs);
        match c.get("matchAttribute").and_then(Value::as_str) {
            None => errs.push(FieldError::required(format!("{cp}.matchAttribute"), "")),
            Some(a) => {
                let ap = format!("{cp}.matchAttribute");
                qualified_name(a, &ap, errs);
                if !a.is_empty() && !a.contains('/') {
                    errs.push(FieldError::invalid(ap, a, "must include a domain"));
                }
            }
        }
    }
    too_many(
        errs,
        constraints,
        DEVICE_CONSTRAINTS_MAX,
        &format!("{path}.constraints"),
    );
    let configs = devices.arr_of("config");
    for (i, c) in configs.iter().enumerate() {
        let cp = format!("{path}.config[{i}]");
        request_refs(c.arr_of("requests"), &format!("{cp}.requests"), &names, errs);
        opaque(c, &cp, stored, errs);
    }
    too_many(errs, configs, DEVICE_CONFIG_MAX, &format!("{path}.config"));
}

fn claim_spec(spec: Option<&Value>, path: &str, stored: bool, errs: &mut FieldErrors) {
    let empty = Value::Null;
    let devices = spec.and_then(|s| s.get("devices")).unwrap_or(&empty);
    device_claim(devices, &format!("{path}.devices"), stored, errs);
}

/// `ValidateImmutableField` on a struct: upstream prints the Go value (`%#v`); this prints
/// its JSON.
fn immutable_struct(new: Option<&Value>, old: Option<&Value>, path: &str, errs: &mut FieldErrors) {
    let null = Value::Null;
    if new.unwrap_or(&null) != old.unwrap_or(&null) {
        errs.push(invalid_raw(
            path,
            new.unwrap_or(&null).to_string(),
            "field is immutable",
        ));
    }
}

// ------------------------------------------------------------------ ResourceClaim

pub fn claim(obj: &Value, errs: &mut FieldErrors) {
    let obj = to_internal(obj);
    claim_spec(obj.get("spec"), "spec", false, errs);
}

/// Main and status updates: the spec is immutable, the status follows the claim's rules (a
/// main update carries the stored status, a status update the stored spec).
pub fn claim_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (new, old) = (to_internal(new), to_internal(old));
    immutable_struct(new.get("spec"), old.get("spec"), "spec", errs);
    let names = request_names(new.pointer("/spec/devices").unwrap_or(&Value::Null));
    let deleted = new.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    let null = Value::Null;
    claim_status(
        new.get("status").unwrap_or(&null),
        old.get("status").unwrap_or(&null),
        deleted,
        &names,
        errs,
    );
}

fn device_id(v: &Value) -> String {
    format!("{}/{}/{}", v.str_of("driver"), v.str_of("pool"), v.str_of("device"))
}

fn claim_status(status: &Value, old: &Value, deleted: bool, names: &RequestNames, errs: &mut FieldErrors) {
    let reserved = status.arr_of("reservedFor");
    for (i, r) in reserved.iter().enumerate() {
        let p = format!("status.reservedFor[{i}]");
        for k in ["resource", "name", "uid"] {
            if r.str_of(k).is_empty() {
                errs.push(FieldError::required(format!("{p}.{k}"), ""));
            }
        }
    }
    too_many(errs, reserved, RESERVED_FOR_MAX, "status.reservedFor");
    {
        let mut seen = BTreeSet::new();
        for (i, r) in reserved.iter().enumerate() {
            if !seen.insert(r.str_of("uid")) {
                errs.push(FieldError::duplicate(
                    format!("status.reservedFor[{i}].uid"),
                    r.str_of("uid"),
                ));
            }
        }
    }
    let allocation = status.get("allocation").filter(|a| !a.is_null());
    let allocated: BTreeSet<String> = allocation
        .map(|a| {
            a.pointer("/devices/results")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
        })
        .unwrap_or(&[])
        .iter()
        .map(device_id)
        .collect();
    let devices = status.arr_of("devices");
    for (i, d) in devices.iter().enumerate() {
        let p = format!("status.devices[{i}]");
        driver_name(d.str_of("driver"), &format!("{p}.driver"), errs);
        pool_name(d.str_of("pool"), &format!("{p}.pool"), errs);
        dns_label(d.str_of("device"), &format!("{p}.device"), errs);
        let id = device_id(d);
        if !allocated.contains(&id) {
            errs.push(FieldError::invalid(&p, id, "must be an allocated device in the claim"));
        }
        let conds = d.arr_of("conditions");
        if conds.len() > DEVICE_STATUS_MAX_CONDITIONS {
            errs.push(FieldError::too_many(
                format!("{p}.conditions"),
                conds.len(),
                DEVICE_STATUS_MAX_CONDITIONS,
            ));
        }
        if let Some(data) = d.get("data").filter(|v| !v.is_null()) {
            raw_extension(
                Some(data),
                &format!("{p}.data"),
                false,
                DEVICE_STATUS_DATA_MAX_LENGTH,
                errs,
            );
        }
    }
    {
        let mut seen = BTreeSet::new();
        for (i, d) in devices.iter().enumerate() {
            let id = device_id(d);
            if !seen.insert(id.clone()) {
                errs.push(FieldError::duplicate(format!("status.devices[{i}].deviceID"), id));
            }
        }
    }
    if !reserved.is_empty() {
        if allocation.is_none() {
            errs.push(FieldError::forbidden(
                "status.reservedFor",
                "may not be specified when `allocated` is not set",
            ));
        } else if deleted {
            let before: BTreeSet<String> = old.arr_of("reservedFor").iter().map(Value::to_string).collect();
            if reserved.iter().any(|r| !before.contains(&r.to_string())) {
                errs.push(FieldError::forbidden(
                    "status.reservedFor",
                    "new entries may not be added while `deallocationRequested` or `deletionTimestamp` are set",
                ));
            }
        }
    }
    let old_allocation = old.get("allocation").filter(|a| !a.is_null());
    match (allocation, old_allocation) {
        (Some(new), Some(old)) => immutable_struct(Some(new), Some(old), "status.allocation", errs),
        (Some(new), None) => allocation_result(new, "status.allocation", names, errs),
        _ => {}
    }
}

fn allocation_result(a: &Value, path: &str, names: &RequestNames, errs: &mut FieldErrors) {
    let null = Value::Null;
    let devices = a.get("devices").unwrap_or(&null);
    let results = devices.arr_of("results");
    for (i, r) in results.iter().enumerate() {
        let p = format!("{path}.devices.results[{i}]");
        request_ref(r.str_of("request"), &format!("{p}.request"), names, errs);
        driver_name(r.str_of("driver"), &format!("{p}.driver"), errs);
        pool_name(r.str_of("pool"), &format!("{p}.pool"), errs);
        dns_label(r.str_of("device"), &format!("{p}.device"), errs);
    }
    too_many(
        errs,
        results,
        ALLOCATION_RESULTS_MAX,
        &format!("{path}.devices.results"),
    );
    let configs = devices.arr_of("config");
    for (i, c) in configs.iter().enumerate() {
        let p = format!("{path}.devices.config[{i}]");
        match c.str_of("source") {
            "" => errs.push(FieldError::required(format!("{p}.source"), "")),
            "FromClaim" | "FromClass" => {}
            other => errs.push(FieldError::not_supported(
                format!("{p}.source"),
                other,
                &["FromClaim", "FromClass"],
            )),
        }
        request_refs(c.arr_of("requests"), &format!("{p}.requests"), names, errs);
        opaque(c, &p, false, errs);
    }
    too_many(errs, configs, 2 * DEVICE_CONFIG_MAX, &format!("{path}.devices.config"));
}

// ------------------------------------------------------------------ ResourceClaimTemplate

pub fn claim_template(obj: &Value, errs: &mut FieldErrors) {
    let obj = to_internal(obj);
    if let Some(meta) = obj.pointer("/spec/metadata") {
        if let Some(l) = meta.get("labels") {
            validate_labels(l, "spec.metadata.labels", errs);
        }
        if let Some(a) = meta.get("annotations") {
            validate_annotations(a, "spec.metadata.annotations", errs);
        }
    }
    claim_spec(obj.pointer("/spec/spec"), "spec.spec", false, errs);
}

pub fn claim_template_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (new, old) = (to_internal(new), to_internal(old));
    immutable_struct(new.get("spec"), old.get("spec"), "spec", errs);
}

// ------------------------------------------------------------------ DeviceClass

pub fn device_class(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    selectors(spec.arr_of("selectors"), "spec.selectors", false, errs);
    let configs = spec.arr_of("config");
    for (i, c) in configs.iter().enumerate() {
        opaque(c, &format!("spec.config[{i}]"), false, errs);
    }
    too_many(errs, configs, DEVICE_CONFIG_MAX, "spec.config");
}

// ------------------------------------------------------------------ ResourceSlice

pub fn slice(obj: &Value, errs: &mut FieldErrors) {
    let obj = to_internal(obj);
    let null = Value::Null;
    slice_spec(obj.get("spec").unwrap_or(&null), errs);
}

pub fn slice_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (new, old) = (to_internal(new), to_internal(old));
    use crate::api::strategy::apps::util::immutable;
    immutable(
        new.pointer("/spec/pool/name"),
        old.pointer("/spec/pool/name"),
        "spec.pool.name",
        errs,
    );
    immutable(
        new.pointer("/spec/driver"),
        old.pointer("/spec/driver"),
        "spec.driver",
        errs,
    );
    immutable(
        new.pointer("/spec/nodeName"),
        old.pointer("/spec/nodeName"),
        "spec.nodeName",
        errs,
    );
}

fn slice_spec(spec: &Value, errs: &mut FieldErrors) {
    driver_name(spec.str_of("driver"), "spec.driver", errs);
    let null = Value::Null;
    let pool = spec.get("pool").unwrap_or(&null);
    pool_name(pool.str_of("name"), "spec.pool.name", errs);
    let count = pool.get("resourceSliceCount").and_then(Value::as_i64).unwrap_or(0);
    if count <= 0 {
        errs.push(FieldError::invalid(
            "spec.pool.resourceSliceCount",
            count,
            "must be greater than zero",
        ));
    }
    let generation = pool.get("generation").and_then(Value::as_i64).unwrap_or(0);
    if generation < 0 {
        errs.push(FieldError::invalid(
            "spec.pool.generation",
            generation,
            "must be greater than or equal to zero",
        ));
    }
    let mut set: Vec<&str> = Vec::new();
    if let Some(n) = spec.get("nodeName").and_then(Value::as_str) {
        if n.is_empty() {
            errs.push(FieldError::invalid(
                "spec.nodeName",
                n,
                "must be either unset or set to a non-empty string",
            ));
        } else {
            set.push("`nodeName`");
            dns_subdomain(n, "spec.nodeName", errs);
        }
    }
    if let Some(sel) = spec.get("nodeSelector").filter(|v| !v.is_null()) {
        set.push("`nodeSelector`");
        let terms = sel.arr_of("nodeSelectorTerms");
        if terms.len() != 1 {
            errs.push(invalid_raw(
                "spec.nodeSelector.nodeSelectorTerms",
                Value::Array(terms.to_vec()).to_string(),
                "must have exactly one node selector term",
            ));
        }
    }
    for key in ["allNodes", "perDeviceNodeSelection"] {
        if let Some(b) = spec.get(key).and_then(Value::as_bool) {
            if b {
                set.push(if key == "allNodes" {
                    "`allNodes`"
                } else {
                    "`perDeviceNodeSelection`"
                });
            } else {
                errs.push(FieldError::invalid(
                    format!("spec.{key}"),
                    b,
                    "must be either unset or set to true",
                ));
            }
        }
    }
    const ONE_OF: &str = "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required";
    match set.len() {
        0 => errs.push(FieldError::required("spec", ONE_OF)),
        1 => {}
        _ => errs.push(FieldError::invalid(
            "spec",
            format!("{{{}}}", set.join(", ")),
            format!("{ONE_OF}, but multiple fields are set"),
        )),
    }
    let per_device = spec.get("perDeviceNodeSelection").and_then(Value::as_bool) == Some(true);
    let counters: BTreeMap<&str, BTreeSet<&str>> = spec
        .arr_of("sharedCounters")
        .iter()
        .map(|c| {
            let names = c
                .get("counters")
                .and_then(Value::as_object)
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            (c.str_of("name"), names)
        })
        .collect();
    let devices = spec.arr_of("devices");
    for (i, d) in devices.iter().enumerate() {
        device(d, &format!("spec.devices[{i}]"), &counters, per_device, errs);
    }
    too_many(errs, devices, SLICE_MAX_DEVICES, "spec.devices");
    duplicates(devices, "name", "spec.devices", errs);
    let shared = spec.arr_of("sharedCounters");
    for (i, c) in shared.iter().enumerate() {
        let p = format!("spec.sharedCounters[{i}]");
        let name = c.str_of("name");
        if name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        } else {
            dns_label(name, &format!("{p}.name"), errs);
        }
        if c.get("counters")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
        {
            errs.push(FieldError::required(format!("{p}.counters"), ""));
        }
    }
    duplicates(shared, "name", "spec.sharedCounters", errs);
}

fn device(d: &Value, path: &str, counters: &BTreeMap<&str, BTreeSet<&str>>, per_device: bool, errs: &mut FieldErrors) {
    dns_label(d.str_of("name"), &format!("{path}.name"), errs);
    let attrs = d.get("attributes").and_then(Value::as_object);
    let caps = d.get("capacity").and_then(Value::as_object);
    let n = attrs.map_or(0, |m| m.len()) + caps.map_or(0, |m| m.len());
    if n > MAX_ATTRIBUTES_AND_CAPACITIES {
        errs.push(FieldError::invalid(
            path,
            n as i64,
            format!("the total number of attributes and capacities must not exceed {MAX_ATTRIBUTES_AND_CAPACITIES}"),
        ));
    }
    let key_max = DEVICE_MAX_DOMAIN_LENGTH + 1 + DEVICE_MAX_ID_LENGTH;
    for (k, a) in attrs.into_iter().flatten() {
        let kp = format!("{path}.attributes[{}]", truncate(k, key_max));
        qualified_name(k, &kp, errs);
        attribute(a, &kp, errs);
    }
    for k in caps.into_iter().flat_map(|m| m.keys()) {
        qualified_name(k, &format!("{path}.capacity[{}]", truncate(k, key_max)), errs);
    }
    let taints = d.arr_of("taints");
    for (i, t) in taints.iter().enumerate() {
        taint(t, &format!("{path}.taints[{i}]"), errs);
    }
    too_many(errs, taints, DEVICE_TAINTS_MAX, &format!("{path}.taints"));
    for (i, c) in d.arr_of("consumesCounters").iter().enumerate() {
        let cp = format!("{path}.consumesCounters[{i}]");
        let set = c.str_of("counterSet");
        if set.is_empty() {
            errs.push(FieldError::required(format!("{cp}.counterSet"), ""));
        }
        let names = c.get("counters").and_then(Value::as_object);
        if names.is_none_or(|m| m.is_empty()) {
            errs.push(FieldError::required(format!("{cp}.counters"), ""));
        }
        match counters.get(set) {
            Some(known) => {
                for name in names.into_iter().flat_map(|m| m.keys()) {
                    if !known.contains(name.as_str()) {
                        errs.push(FieldError::invalid(
                            format!("{cp}.counters"),
                            name.as_str(),
                            "must reference a counter defined in the ResourceSlice sharedCounters",
                        ));
                    }
                }
            }
            None => errs.push(FieldError::invalid(
                format!("{cp}.counterSet"),
                set,
                "must reference a counterSet defined in the ResourceSlice sharedCounters",
            )),
        }
    }
    let node_fields = ["nodeName", "nodeSelector", "allNodes"];
    if per_device {
        let mut set = Vec::new();
        if let Some(n) = d.get("nodeName").and_then(Value::as_str) {
            if n.is_empty() {
                errs.push(FieldError::invalid(format!("{path}.nodeName"), n, "must not be empty"));
            } else {
                set.push("`nodeName`");
                dns_subdomain(n, &format!("{path}.nodeName"), errs);
            }
        }
        if present(d, "nodeSelector") {
            set.push("`nodeSelector`");
        }
        if let Some(b) = d.get("allNodes").and_then(Value::as_bool) {
            if b {
                set.push("`allNodes`");
            } else {
                errs.push(FieldError::invalid(
                    format!("{path}.allNodes"),
                    b,
                    "must be either unset or set to true",
                ));
            }
        }
        const ONE_OF: &str = "exactly one of `nodeName`, `nodeSelector`, or `allNodes` is required when `perDeviceNodeSelection` is set to true in the ResourceSlice spec";
        match set.len() {
            0 => errs.push(FieldError::required(path, ONE_OF)),
            1 => {}
            _ => errs.push(FieldError::invalid(path, format!("{{{}}}", set.join(", ")), ONE_OF)),
        }
    } else if node_fields.iter().any(|k| present(d, k)) {
        errs.push(invalid_raw(
            path,
            "null".into(),
            "`nodeName`, `nodeSelector` and `allNodes` can only be set if `perDeviceNodeSelection` is set to true in the ResourceSlice spec",
        ));
    }
}

/// `truncateIfTooLong` for map keys in paths.
fn truncate(k: &str, max: usize) -> String {
    let max = max.max(16);
    if k.len() <= max {
        return k.to_string();
    }
    let remaining = max - 3;
    format!("{}...{}", &k[..remaining.div_ceil(2)], &k[k.len() - remaining / 2..])
}

fn attribute(a: &Value, path: &str, errs: &mut FieldErrors) {
    let mut n = 0;
    for k in ["bool", "int", "string", "version"] {
        if present(a, k) {
            n += 1;
        }
    }
    if let Some(v) = a.get("string").and_then(Value::as_str) {
        if v.len() > ATTRIBUTE_MAX_VALUE_LENGTH {
            errs.push(FieldError::too_long(
                format!("{path}.string"),
                ATTRIBUTE_MAX_VALUE_LENGTH,
            ));
        }
    }
    if let Some(v) = a.get("version").and_then(Value::as_str) {
        if !is_semver(v) {
            errs.push(FieldError::invalid(
                format!("{path}.version"),
                v,
                "must be a string compatible with semver.org spec 2.0.0",
            ));
        }
        if v.len() > ATTRIBUTE_MAX_VALUE_LENGTH {
            errs.push(FieldError::too_long(
                format!("{path}.version"),
                ATTRIBUTE_MAX_VALUE_LENGTH,
            ));
        }
    }
    match n {
        0 => errs.push(FieldError::required(path, "exactly one value must be specified")),
        1 => {}
        _ => errs.push(invalid_raw(path, a.to_string(), "exactly one value must be specified")),
    }
}

/// semver.org 2.0.0 (upstream's `semverRe`).
fn is_semver(v: &str) -> bool {
    let (core, build) = match v.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'));
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| numeric(p)) {
        return false;
    }
    let ident = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if let Some(pre) = pre {
        if !pre
            .split('.')
            .all(|p| ident(p) && (!p.bytes().all(|b| b.is_ascii_digit()) || numeric(p)))
        {
            return false;
        }
    }
    build.is_none_or(|b| b.split('.').all(ident))
}

fn taint(t: &Value, path: &str, errs: &mut FieldErrors) {
    let key = t.str_of("key");
    if key.is_empty() {
        errs.push(FieldError::required(format!("{path}.key"), ""));
    } else {
        label_name(key, &format!("{path}.key"), errs);
    }
    let value = t.str_of("value");
    if !value.is_empty() {
        label_value(value, &format!("{path}.value"), errs);
    }
    match t.str_of("effect") {
        "" => errs.push(FieldError::required(format!("{path}.effect"), "")),
        e if !TAINT_EFFECTS.contains(&e) => {
            errs.push(FieldError::not_supported(format!("{path}.effect"), e, TAINT_EFFECTS))
        }
        _ => {}
    }
}

// ------------------------------------------------------------------ DeviceTaintRule

pub fn taint_rule(obj: &Value, errs: &mut FieldErrors) {
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    if let Some(sel) = spec.get("deviceSelector").filter(|v| !v.is_null()) {
        let p = "spec.deviceSelector";
        if let Some(c) = sel.get("deviceClassName").and_then(Value::as_str) {
            dns_subdomain(c, &format!("{p}.deviceClassName"), errs);
        }
        if let Some(d) = sel.get("driver").and_then(Value::as_str) {
            driver_name(d, &format!("{p}.driver"), errs);
        }
        if let Some(pool) = sel.get("pool").and_then(Value::as_str) {
            pool_name(pool, &format!("{p}.pool"), errs);
        }
        if let Some(d) = sel.get("device").and_then(Value::as_str) {
            dns_label(d, &format!("{p}.device"), errs);
        }
        selectors(sel.arr_of("selectors"), &format!("{p}.selectors"), false, errs);
    }
    taint(spec.get("taint").unwrap_or(&null), "spec.taint", errs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bodies(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(|e| format!("{}: {}", e.field, e.body())).collect()
    }

    #[test]
    fn v1beta1_claims_report_internal_paths() {
        let obj = json!({"apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceClaim",
            "spec": {"devices": {"requests": [{"name": "gpu", "allocationMode": "ExactCount", "count": 1}, {"name": "Bad"}]}}});
        let mut errs = Vec::new();
        claim(&obj, &mut errs);
        let b = bodies(&errs);
        assert!(
            b.contains(&"spec.devices.requests[0].exactly.deviceClassName: Required value".to_string()),
            "{b:?}"
        );
        assert!(
            b.iter()
                .any(|e| e
                    .starts_with("spec.devices.requests[1].name: Invalid value: \"Bad\": a lowercase RFC 1123 label")),
            "{b:?}"
        );
        assert!(
            b.contains(
                &"spec.devices.requests[1]: Required value: exactly one of `exactly` or `firstAvailable` is required"
                    .to_string()
            ),
            "{b:?}"
        );
    }

    #[test]
    fn slices_need_one_node_field_and_valid_devices() {
        let obj = json!({"apiVersion": "resource.k8s.io/v1beta2", "kind": "ResourceSlice",
            "spec": {"driver": "gpu.example.com", "pool": {"name": "p", "resourceSliceCount": 1},
                     "devices": [{"name": "d", "attributes": {"model": {}, "v": {"version": "1.0"}}}]}});
        let mut errs = Vec::new();
        slice(&obj, &mut errs);
        let b = bodies(&errs);
        assert!(b.contains(&"spec: Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required".to_string()), "{b:?}");
        assert!(
            b.contains(
                &"spec.devices[0].attributes[model]: Required value: exactly one value must be specified".to_string()
            ),
            "{b:?}"
        );
        assert!(b.contains(&"spec.devices[0].attributes[v].version: Invalid value: \"1.0\": must be a string compatible with semver.org spec 2.0.0".to_string()), "{b:?}");
        assert!(is_semver("1.2.3-rc.1+build.5") && !is_semver("01.2.3"));
    }

    #[test]
    fn allocation_is_immutable_and_reservations_need_it() {
        let spec = json!({"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "c", "allocationMode": "ExactCount", "count": 1}}]}});
        let alloc = json!({"devices": {"results": [{"request": "gpu", "driver": "d.example.com", "pool": "p", "device": "d0"}]}});
        let old = json!({"apiVersion": "resource.k8s.io/v1beta2", "kind": "ResourceClaim", "spec": spec, "status": {"allocation": alloc}});
        let mut new = old.clone();
        new["status"]["allocation"]["devices"]["results"][0]["device"] = json!("d1");
        let mut errs = Vec::new();
        claim_update(&new, &old, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "status.allocation");
        let unallocated = json!({"apiVersion": "resource.k8s.io/v1beta2", "kind": "ResourceClaim", "spec": spec,
            "status": {"reservedFor": [{"resource": "pods", "name": "p", "uid": "1"}]}});
        let mut errs = Vec::new();
        claim_update(&unallocated, &unallocated, &mut errs);
        assert_eq!(
            bodies(&errs),
            vec!["status.reservedFor: Forbidden: may not be specified when `allocated` is not set"]
        );
        let mut allocated = unallocated.clone();
        allocated["status"]["allocation"] = json!({"devices": {"results": [{"request": "nope", "driver": "d.example.com", "pool": "p", "device": "d0"}]}});
        let mut errs = Vec::new();
        claim_update(&allocated, &unallocated, &mut errs);
        assert!(
            bodies(&errs)
                .iter()
                .any(|e| e.starts_with("status.allocation.devices.results[0].request: Invalid value: \"nope\"")),
            "{:?}",
            bodies(&errs)
        );
    }
}
