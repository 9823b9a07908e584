//! Strategies for the `batch` group: Job and CronJob (upstream `pkg/apis/batch/v1/defaults.go`,
//! `pkg/apis/batch/validation/validation.go`, `pkg/registry/batch/job/strategy.go`).

use super::apps::util::*;
use super::Builtin;
use crate::error::field::{FieldError, FieldErrors};
use serde_json::{json, Map, Value};

fn no_op(_: &mut Value) {}

pub const JOB: Builtin = Builtin {
    drop_disabled: super::core::drop_disabled_template_fields,
    defaults: default_job,
    prepare_create: prepare_job,
    validate: validate_job,
    validate_update: validate_job_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
/// A CronJob's pod template (`DropDisabledTemplateFields` on its job template).
fn drop_disabled_cron_job_fields(gates: &crate::config::features::FeatureGates, obj: &mut Value, old: Option<&Value>) {
    super::core::drop_claims_at(gates, obj, old, "/spec/jobTemplate/spec/template/spec");
}

pub const CRON_JOB: Builtin = Builtin {
    drop_disabled: drop_disabled_cron_job_fields,
    defaults: default_cron_job,
    prepare_create: no_op,
    validate: validate_cron_job,
    validate_update: validate_cron_job_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

const LEGACY_UID_LABEL: &str = "controller-uid";
const LEGACY_NAME_LABEL: &str = "job-name";
const UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
const NAME_LABEL: &str = "batch.kubernetes.io/job-name";

// ---------------------------------------------------------------- defaults

fn default_pod_template_of(spec: &mut Map<String, Value>) {
    if let Some(tspec) = map_child(spec, "template").and_then(|t| map_child(t, "spec")) {
        let mut v = Value::Object(std::mem::take(tspec));
        super::core::default_pod_spec(&mut v);
        if let Value::Object(m) = v {
            *tspec = m;
        }
    }
}

/// `SetDefaults_Job` on a JobSpec (also used for the pod-template defaults of CronJobs).
fn default_job_spec(spec: &mut Map<String, Value>) {
    let unset = |m: &Map<String, Value>, k: &str| m.get(k).is_none_or(Value::is_null);
    if unset(spec, "completions") && unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    if unset(spec, "backoffLimit") {
        let v = if unset(spec, "backoffLimitPerIndex") {
            6
        } else {
            i32::MAX as i64
        };
        spec.insert("backoffLimit".into(), json!(v));
    }
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    if unset(spec, "podReplacementPolicy") {
        let v = if unset(spec, "podFailurePolicy") {
            "TerminatingOrFailed"
        } else {
            "Failed"
        };
        spec.insert("podReplacementPolicy".into(), json!(v));
    }
    set_default(spec, "manualSelector", json!(false));
    if let Some(Value::Array(rules)) = spec.get_mut("podFailurePolicy").and_then(|p| p.get_mut("rules")) {
        for rule in rules.iter_mut() {
            if let Some(Value::Array(pats)) = rule.get_mut("onPodConditions") {
                for pat in pats.iter_mut().filter_map(Value::as_object_mut) {
                    if pat.get("status").and_then(Value::as_str).is_none_or(str::is_empty)
                        && is_absent_or_str(pat, "status")
                    {
                        pat.insert("status".into(), json!("True"));
                    }
                }
            }
        }
    }
    default_pod_template_of(spec);
}

pub fn default_job(obj: &mut Value) {
    let template_labels = at(obj, &["spec", "template", "metadata", "labels"]).cloned();
    if let Some(spec) = obj_child(obj, "spec") {
        default_job_spec(spec);
    }
    copy_template_labels(obj, template_labels);
}

/// `metadata.labels` take the template labels when empty.
fn copy_template_labels(obj: &mut Value, template_labels: Option<Value>) {
    let Some(labels @ Value::Object(_)) = template_labels else {
        return;
    };
    let Some(meta) = obj_child(obj, "metadata") else { return };
    let empty = meta
        .get("labels")
        .is_none_or(|l| l.is_null() || l.as_object().is_some_and(Map::is_empty));
    if empty {
        meta.insert("labels".into(), labels);
    }
}

/// Selector generation (`generateSelectorIfNeeded`); the registry has set `metadata.uid`.
/// Reading back from storage re-runs defaulting upstream, so the Job's own labels then take
/// the generated template labels when empty: do the same here.
fn prepare_job(obj: &mut Value) {
    let manual = at(obj, &["spec", "manualSelector"])
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !manual {
        let name = at(obj, &["metadata", "name"])
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let uid = at(obj, &["metadata", "uid"])
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(spec) = obj_child(obj, "spec") else { return };
        if let Some(labels) = map_child(spec, "template")
            .and_then(|t| map_child(t, "metadata"))
            .and_then(|m| map_child(m, "labels"))
        {
            for k in [LEGACY_NAME_LABEL, NAME_LABEL] {
                labels.entry(k.to_string()).or_insert_with(|| json!(name.clone()));
            }
            for k in [LEGACY_UID_LABEL, UID_LABEL] {
                labels.entry(k.to_string()).or_insert_with(|| json!(uid.clone()));
            }
        }
        if let Some(ml) = map_child(spec, "selector").and_then(|s| map_child(s, "matchLabels")) {
            ml.entry(UID_LABEL.to_string()).or_insert_with(|| json!(uid.clone()));
        }
    }
    let template_labels = at(obj, &["spec", "template", "metadata", "labels"]).cloned();
    copy_template_labels(obj, template_labels);
}

pub fn default_cron_job(obj: &mut Value) {
    let Some(spec) = obj_child(obj, "spec") else { return };
    if spec
        .get("concurrencyPolicy")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
        && is_absent_or_str(spec, "concurrencyPolicy")
    {
        spec.insert("concurrencyPolicy".into(), json!("Allow"));
    }
    set_default(spec, "suspend", json!(false));
    set_default(spec, "successfulJobsHistoryLimit", json!(3));
    set_default(spec, "failedJobsHistoryLimit", json!(1));
    // The job template is not a Job: only its pod template gets defaults.
    if let Some(jspec) = map_child(spec, "jobTemplate").and_then(|t| map_child(t, "spec")) {
        default_pod_template_of(jspec);
    }
}

// ---------------------------------------------------------------- Job validation

fn validate_job(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let name = at(obj, &["metadata", "name"]).and_then(Value::as_str).unwrap_or("");
    let uid = at(obj, &["metadata", "uid"]).and_then(Value::as_str).unwrap_or("");
    validate_generated_selector(spec, name, uid, errs);
    validate_job_spec(spec, "spec", errs);
    let sel = spec.get("selector").filter(|v| !v.is_null());
    match sel {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(s) => validate_label_selector(s, "spec.selector", errs),
    }
    let labels = at(spec, &["template", "metadata", "labels"]);
    // A nil selector converts to "nothing", which matches no labels.
    if sel.is_none_or(selector_converts) && !sel.is_some_and(|s| selector_matches(s, labels)) {
        errs.push(invalid_raw(
            "spec.template.metadata.labels",
            go_string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    let indexed = spec.get("completionMode").and_then(Value::as_str) == Some("Indexed");
    if let (true, Some(c)) = (indexed, spec.get("completions").and_then(Value::as_i64)) {
        if c > 0 {
            let host = format!("{name}-{}", c - 1);
            if !is_dns1123_label(&host).is_empty() {
                errs.push(FieldError::invalid(
                    "metadata.name",
                    name,
                    format!("will not able to create pod with invalid DNS label: {host}"),
                ));
            }
        }
    }
}

fn validate_generated_selector(spec: &Value, name: &str, uid: &str, errs: &mut FieldErrors) {
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let Some(sel) = spec.get("selector").filter(|v| v.is_object()) else {
        return;
    };
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let labels = at(spec, &["template", "metadata", "labels"]);
    for (key, want) in [
        (LEGACY_UID_LABEL, uid),
        (LEGACY_NAME_LABEL, name),
        (UID_LABEL, uid),
        (NAME_LABEL, name),
    ] {
        let path = format!("spec.template.metadata.labels[{key}]");
        match labels.and_then(|l| l.get(key)) {
            None => errs.push(FieldError::required(path, format!("must be '{want}'"))),
            Some(v) if v.as_str() != Some(want) => {
                errs.push(invalid_raw(path, go_string_map(labels), &format!("must be '{want}'")))
            }
            Some(_) => {}
        }
    }
    let expected = json!({LEGACY_UID_LABEL: uid, LEGACY_NAME_LABEL: name, UID_LABEL: uid, NAME_LABEL: name});
    if selector_converts(sel) && !selector_matches(sel, Some(&expected)) {
        errs.push(invalid_raw(
            "spec.selector",
            go_label_selector(sel),
            "`selector` not auto-generated",
        ));
    }
}

/// upstream `validateJobSpec` (shared by Jobs and CronJob job templates); `path` is the
/// JobSpec path (`spec` or `spec.jobTemplate.spec`).
fn validate_job_spec(spec: &Value, path: &str, errs: &mut FieldErrors) {
    let p = |k: &str| format!("{path}.{k}");
    let parallelism = get_i64(spec, "parallelism", path, errs);
    let completions = get_i64(spec, "completions", path, errs);
    nonnegative(parallelism, &p("parallelism"), errs);
    nonnegative(completions, &p("completions"), errs);
    for k in ["activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"] {
        nonnegative(get_i64(spec, k, path, errs), &p(k), errs);
    }
    let per_index = get_i64(spec, "backoffLimitPerIndex", path, errs);
    nonnegative(per_index, &p("backoffLimitPerIndex"), errs);
    let max_failed = get_i64(spec, "maxFailedIndexes", path, errs);
    if let Some(mf) = max_failed {
        nonnegative(Some(mf), &p("maxFailedIndexes"), errs);
        if per_index.is_none() {
            errs.push(FieldError::required(
                p("backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if let Some(mb) = get_str(spec, "managedBy", path, errs) {
        validate_domain_prefixed_path(mb, &p("managedBy"), errs);
        if mb.len() > 63 {
            errs.push(FieldError::too_long(p("managedBy"), 63));
        }
    }
    let mode = get_str(spec, "completionMode", path, errs);
    if let Some(m) = mode {
        if m != "NonIndexed" && m != "Indexed" {
            errs.push(FieldError::not_supported(
                p("completionMode"),
                m,
                &["NonIndexed", "Indexed"],
            ));
        }
        if m == "Indexed" {
            if completions.is_none() {
                errs.push(FieldError::required(
                    p("completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(par) = parallelism.filter(|n| *n > 100_000) {
                errs.push(FieldError::invalid(
                    p("parallelism"),
                    par,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                ));
            }
            if let (Some(c), Some(mf)) = (completions, max_failed) {
                if mf > c {
                    errs.push(FieldError::invalid(
                        p("maxFailedIndexes"),
                        mf,
                        "must be less than or equal to completions",
                    ));
                }
            }
            if let Some(mf) = max_failed.filter(|n| *n > 100_000) {
                errs.push(FieldError::invalid(
                    p("maxFailedIndexes"),
                    mf,
                    "must be less than or equal to 100000",
                ));
            }
        }
    }
    if mode.is_none_or(|m| m == "NonIndexed") {
        if let Some(v) = per_index {
            errs.push(FieldError::invalid(
                p("backoffLimitPerIndex"),
                v,
                "requires indexed completion mode",
            ));
        }
        if let Some(v) = max_failed {
            errs.push(FieldError::invalid(
                p("maxFailedIndexes"),
                v,
                "requires indexed completion mode",
            ));
        }
    }
    let pfp = get_obj(spec, "podFailurePolicy", path, errs);
    if let Some(pfp) = pfp {
        validate_pod_failure_policy(pfp, per_index.is_some(), &p("podFailurePolicy"), errs);
    }
    if let Some(sp) = get_obj(spec, "successPolicy", path, errs) {
        if mode != Some("Indexed") {
            errs.push(invalid_raw(
                p("successPolicy"),
                sp.to_string(),
                "requires indexed completion mode",
            ));
        } else if get_arr(sp, "rules", &p("successPolicy"), errs).is_none_or(Vec::is_empty) {
            errs.push(FieldError::required(
                p("successPolicy.rules"),
                "at least one rules must be specified when the successPolicy is specified",
            ));
        }
    }
    if let Some(prp) = get_str(spec, "podReplacementPolicy", path, errs) {
        if pfp.is_some() {
            if prp != "Failed" {
                errs.push(FieldError::not_supported(p("podReplacementPolicy"), prp, &["Failed"]));
            }
        } else if prp != "Failed" && prp != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(
                p("podReplacementPolicy"),
                prp,
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let empty = json!({});
    let template = match spec.get("template").filter(|v| !v.is_null()) {
        None => &empty,
        Some(t) if t.is_object() => t,
        Some(t) => {
            errs.push(type_error(p("template"), t, "object"));
            return;
        }
    };
    validate_pod_template(template, &p("template"), errs);
    let rp_path = p("template.spec.restartPolicy");
    match at(template, &["spec", "restartPolicy"])
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "" | "Always" => errs.push(FieldError::required(rp_path, "valid values: \"OnFailure\", \"Never\"")),
        "OnFailure" if pfp.is_some() => errs.push(FieldError::invalid(
            rp_path,
            "OnFailure",
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(FieldError::not_supported(rp_path, other, &["OnFailure", "Never"])),
    }
}

fn validate_pod_failure_policy(pfp: &Value, has_per_index: bool, path: &str, errs: &mut FieldErrors) {
    let rules_path = format!("{path}.rules");
    let Some(rules) = get_arr(pfp, "rules", path, errs) else {
        return;
    };
    if rules.len() > 20 {
        errs.push(FieldError::too_many(rules_path.clone(), rules.len(), 20));
    }
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    for (i, rule) in rules.iter().enumerate() {
        let rp = format!("{rules_path}[{i}]");
        if !rule.is_object() {
            errs.push(type_error(rp, rule, "object"));
            continue;
        }
        match get_str(rule, "action", &rp, errs).unwrap_or("") {
            "" => errs.push(FieldError::required(
                format!("{rp}.action"),
                "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
            )),
            "FailIndex" if !has_per_index => errs.push(FieldError::invalid(
                format!("{rp}.action"),
                "FailIndex",
                "requires the backoffLimitPerIndex to be set",
            )),
            a if !ACTIONS.contains(&a) => errs.push(FieldError::not_supported(format!("{rp}.action"), a, ACTIONS)),
            _ => {}
        }
        let exit = rule.get("onExitCodes").filter(|v| !v.is_null());
        let conds = rule
            .get("onPodConditions")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if exit.is_some() && conds {
            errs.push(invalid_raw(
                rp.clone(),
                String::new(),
                "specifying both OnExitCodes and OnPodConditions is not supported",
            ));
        }
        if exit.is_none() && !conds {
            errs.push(invalid_raw(
                rp,
                String::new(),
                "specifying one of OnExitCodes and OnPodConditions is required",
            ));
        }
    }
}

/// `IsDomainPrefixedPath`.
fn validate_domain_prefixed_path(v: &str, path: &str, errs: &mut FieldErrors) {
    if v.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    let Some((host, rest)) = v.split_once('/').filter(|(h, r)| !h.is_empty() && !r.is_empty()) else {
        errs.push(FieldError::invalid(
            path,
            v,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        ));
        return;
    };
    for msg in is_dns1123_subdomain(host) {
        errs.push(FieldError::invalid(path, host, msg));
    }
    let ok = rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c));
    if !ok {
        errs.push(FieldError::invalid(
            path,
            rest,
            "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
    }
}

fn validate_job_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (Some(n), Some(o)) = (new.get("spec"), old.get("spec")) else {
        return;
    };
    let get = |v: &Value, k: &str| v.get(k).filter(|x| !x.is_null()).cloned();
    // completions: mutable for Indexed Jobs only together with parallelism (ElasticIndexedJob).
    let (nc, oc) = (get(n, "completions"), get(o, "completions"));
    let indexed = n.get("completionMode").and_then(Value::as_str) == Some("Indexed");
    if !indexed {
        immutable(nc.as_ref(), oc.as_ref(), "spec.completions", errs);
    } else if nc != oc {
        if let Some(c) = nc.as_ref() {
            if Some(c) != n.get("parallelism") {
                errs.push(FieldError::invalid(
                    "spec.completions",
                    c.clone(),
                    "can only be modified in tandem with spec.parallelism",
                ));
            }
        }
    }
    let (ns, os) = (get(n, "selector"), get(o, "selector"));
    if ns != os {
        errs.push(invalid_raw(
            "spec.selector",
            go_label_selector_ptr(ns.as_ref()),
            "field is immutable",
        ));
    }
    // The pod template is immutable, except scheduling directives of suspended Jobs that
    // never started.
    let mut nt = get(n, "template").unwrap_or(json!({}));
    let mut ot = get(o, "template").unwrap_or(json!({}));
    let suspended = o.get("suspend").and_then(Value::as_bool) == Some(true);
    let not_started = at(old, &["status", "startTime"]).is_none();
    if suspended && not_started {
        for t in [&mut nt, &mut ot] {
            if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("labels");
                m.remove("annotations");
            }
            if let Some(s) = t.get_mut("spec").and_then(Value::as_object_mut) {
                for k in ["nodeSelector", "tolerations", "schedulingGates"] {
                    s.remove(k);
                }
                if let Some(a) = s.get_mut("affinity").and_then(Value::as_object_mut) {
                    a.remove("nodeAffinity");
                }
                if s.get("affinity").and_then(Value::as_object).is_some_and(Map::is_empty) {
                    s.remove("affinity");
                }
            }
        }
    }
    if nt != ot {
        errs.push(invalid_raw(
            "spec.template",
            get(n, "template").map(|v| v.to_string()).unwrap_or_default(),
            "field is immutable",
        ));
    }
    for k in ["completionMode", "backoffLimitPerIndex", "managedBy"] {
        immutable(get(n, k).as_ref(), get(o, k).as_ref(), &format!("spec.{k}"), errs);
    }
    for k in ["podFailurePolicy", "successPolicy"] {
        let (a, b) = (get(n, k), get(o, k));
        if a != b {
            errs.push(invalid_raw(
                format!("spec.{k}"),
                a.map(|v| v.to_string()).unwrap_or_else(|| "null".into()),
                "field is immutable",
            ));
        }
    }
}

// ---------------------------------------------------------------- CronJob validation

fn validate_cron_job(obj: &Value, errs: &mut FieldErrors) {
    validate_cron_job_spec(obj, false, errs);
    let name = at(obj, &["metadata", "name"]).and_then(Value::as_str).unwrap_or("");
    if name.len() > 52 {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be no more than 52 characters",
        ));
    }
}

/// CronJob updates have no extra rules beyond `validate` (upstream skips the 52-character
/// name limit on update and tolerates a TZ prefix the old schedule already had; `validate`
/// here runs the create rules).
fn validate_cron_job_update(_: &Value, _: &Value, _: &mut FieldErrors) {}

fn validate_cron_job_spec(obj: &Value, allow_tz: bool, errs: &mut FieldErrors) {
    let Some(spec) = spec_of(obj, errs) else { return };
    let tz_field = get_str(spec, "timeZone", "spec", errs);
    match get_str(spec, "schedule", "spec", errs).unwrap_or("") {
        "" => errs.push(FieldError::required("spec.schedule", "")),
        schedule => {
            if let Err(e) = parse_cron(schedule) {
                errs.push(FieldError::invalid("spec.schedule", schedule, e));
            }
            let has_tz = schedule.contains("TZ");
            if allow_tz && has_tz && tz_field.is_some() {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use both timeZone field and TZ or CRON_TZ in schedule",
                ));
            } else if !allow_tz && has_tz {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ));
            }
        }
    }
    nonnegative(
        get_i64(spec, "startingDeadlineSeconds", "spec", errs),
        "spec.startingDeadlineSeconds",
        errs,
    );
    if let Some(tz) = tz_field {
        validate_time_zone(tz, errs);
    }
    match get_str(spec, "concurrencyPolicy", "spec", errs).unwrap_or("") {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let empty = json!({});
    let jt = get_obj(spec, "jobTemplate", "spec", errs).unwrap_or(&empty);
    let jspec = get_obj(jt, "spec", "spec.jobTemplate", errs).unwrap_or(&empty);
    validate_job_spec(jspec, "spec.jobTemplate.spec", errs);
    if let Some(sel) = jspec.get("selector").filter(|v| !v.is_null()) {
        errs.push(invalid_raw(
            "spec.jobTemplate.spec.selector",
            go_label_selector(sel),
            "`selector` will be auto-generated",
        ));
    }
    if jspec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::not_supported(
            "spec.jobTemplate.spec.manualSelector",
            true,
            &["nil", "false"],
        ));
    }
    for k in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        nonnegative(get_i64(spec, k, "spec", errs), &format!("spec.{k}"), errs);
    }
}

fn valid_tz_name(tz: &str) -> bool {
    if tz == "UTC" || tz == "Local" {
        return true;
    }
    if tz.starts_with('/') || tz.split('/').any(|p| p == ".." || p.is_empty()) {
        return false;
    }
    let dir = std::path::Path::new("/usr/share/zoneinfo");
    if dir.is_dir() {
        dir.join(tz).is_file()
    } else {
        true
    }
}

fn validate_time_zone(tz: &str, errs: &mut FieldErrors) {
    let path = "spec.timeZone";
    if tz.is_empty() {
        errs.push(FieldError::invalid(
            path,
            tz,
            "timeZone must be nil or non-empty string",
        ));
        return;
    }
    for part in tz.split('/') {
        let ok_chars =
            (1..=14).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric() || ".-_+".contains(c));
        if part == "." || part == ".." || part.starts_with('-') || !ok_chars {
            errs.push(FieldError::invalid(path, tz, format!("unknown time zone {tz}")));
            return;
        }
    }
    if tz.eq_ignore_ascii_case("local") {
        errs.push(FieldError::invalid(
            path,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    if !valid_tz_name(tz) {
        errs.push(FieldError::invalid(path, tz, format!("unknown time zone {tz}")));
    }
}

// ---------------------------------------------------------------- cron (robfig/cron v3 ParseStandard)

struct Bounds {
    min: u64,
    max: u64,
    names: &'static [(&'static str, u64)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Validate a schedule like `cron.ParseStandard`, returning its error text.
pub fn parse_cron(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let eq = spec.find('=').unwrap_or(0);
        let Some(sp) = spec.find(' ') else {
            let loc = &spec[eq + 1..];
            return Err(format!("provided bad location {loc}: unknown time zone {loc}"));
        };
        let loc = spec.get(eq + 1..sp).unwrap_or("");
        if loc.is_empty() || !valid_tz_name(loc) {
            return Err(format!("provided bad location {loc}: unknown time zone {loc}"));
        }
        spec = spec[sp..].trim();
    }
    if spec.starts_with('@') {
        return parse_descriptor(spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (f, b) in fields.iter().zip([&MINUTES, &HOURS, &DOM, &MONTHS, &DOW]) {
        for expr in f.split(',').filter(|e| !e.is_empty()) {
            get_range(expr, b)?;
        }
    }
    Ok(())
}

fn parse_descriptor(d: &str) -> Result<(), String> {
    match d {
        "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => Ok(()),
        _ => match d.strip_prefix("@every ") {
            Some(dur) => go_parse_duration(dur).map_err(|e| format!("failed to parse duration {d}: {e}")),
            None => Err(format!("unrecognized descriptor: {d}")),
        },
    }
}

fn get_range(expr: &str, r: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end);
    if low_high[0] == "*" || low_high[0] == "?" {
        start = r.min;
        end = r.max;
    } else {
        start = parse_int_or_name(low_high[0], r)?;
        end = match low_high.len() {
            1 => start,
            2 => parse_int_or_name(low_high[1], r)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let s = must_parse_int(range_and_step[1])?;
            if single {
                end = r.max;
            }
            s
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < r.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            r.min
        ));
    }
    if end > r.max {
        return Err(format!("end of range ({end}) above maximum ({}): {expr}", r.max));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

fn parse_int_or_name(expr: &str, r: &Bounds) -> Result<u64, String> {
    let lower = expr.to_ascii_lowercase();
    if let Some((_, n)) = r.names.iter().find(|(name, _)| *name == lower) {
        return Ok(*n);
    }
    must_parse_int(expr)
}

fn must_parse_int(expr: &str) -> Result<u64, String> {
    let n = go_atoi(expr).map_err(|e| format!("failed to parse int from {expr}: {e}"))?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    Ok(n as u64)
}

/// Go `strconv.Atoi` with its error text.
fn go_atoi(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(s));
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", go_quote(s)))
}

/// Go `time.ParseDuration`, validation only.
fn go_parse_duration(orig: &str) -> Result<(), String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig.strip_prefix(['+', '-']).unwrap_or(orig);
    if s == "0" {
        return Ok(());
    }
    if s.is_empty() {
        return Err(invalid());
    }
    while !s.is_empty() {
        let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        let num = &s[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        s = &s[num_end..];
        let unit_end = s.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(s.len());
        let unit = &s[..unit_end];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(orig)
            ));
        }
        s = &s[unit_end..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    fn job() -> Value {
        json!({
            "metadata": {"name": "pi", "namespace": "default", "uid": "1234"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "perl"}]}}}
        })
    }

    #[test]
    fn job_defaults() {
        let mut j = job();
        (JOB.defaults)(&mut j);
        let s = &j["spec"];
        assert_eq!(s["parallelism"], 1);
        assert_eq!(s["completions"], 1);
        assert_eq!(s["backoffLimit"], 6);
        assert_eq!(s["completionMode"], "NonIndexed");
        assert_eq!(s["suspend"], false);
        assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(s["manualSelector"], false);

        let mut j2 = job();
        j2["spec"]["parallelism"] = json!(3);
        (JOB.defaults)(&mut j2);
        assert!(j2["spec"].get("completions").is_none());
        assert_eq!(j2["spec"]["parallelism"], 3);
    }

    #[test]
    fn job_selector_generation() {
        let mut j = job();
        (JOB.defaults)(&mut j);
        (JOB.prepare_create)(&mut j);
        assert_eq!(
            j["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}})
        );
        let want = json!({
            "batch.kubernetes.io/controller-uid": "1234", "batch.kubernetes.io/job-name": "pi",
            "controller-uid": "1234", "job-name": "pi"
        });
        assert_eq!(j["spec"]["template"]["metadata"]["labels"], want);
        assert_eq!(j["metadata"]["labels"], want);
        let mut errs = Vec::new();
        (JOB.validate)(&j, &mut errs);
        assert!(
            msgs(&errs)
                .iter()
                .all(|m| !m.starts_with("spec.selector") && !m.contains("labels")),
            "{errs:?}"
        );
    }

    #[test]
    fn job_restart_policy() {
        let mut j = job();
        j["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        (JOB.defaults)(&mut j);
        (JOB.prepare_create)(&mut j);
        let mut errs = Vec::new();
        (JOB.validate)(&j, &mut errs);
        assert!(msgs(&errs).contains(
            &"spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"".to_string()
        ));
    }

    #[test]
    fn job_template_immutable() {
        let mut old = job();
        (JOB.defaults)(&mut old);
        (JOB.prepare_create)(&mut old);
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
        let mut errs = Vec::new();
        (JOB.validate_update)(&new, &old, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.template");
        assert!(errs[0].to_string().ends_with(": field is immutable"));
        new = old.clone();
        new["spec"]["completions"] = json!(4);
        errs.clear();
        (JOB.validate_update)(&new, &old, &mut errs);
        assert_eq!(
            msgs(&errs),
            vec!["spec.completions: Invalid value: 4: field is immutable"]
        );
    }

    #[test]
    fn cron_job_defaults_and_schedule() {
        let mut c = json!({"metadata": {"name": "c"}, "spec": {"schedule": "*/1 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        (CRON_JOB.defaults)(&mut c);
        assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(c["spec"]["suspend"], false);
        assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
        assert!(c["spec"]["jobTemplate"]["spec"].get("backoffLimit").is_none());

        c["spec"]["schedule"] = json!("bad schedule");
        let mut errs = Vec::new();
        (CRON_JOB.validate)(&c, &mut errs);
        assert!(msgs(&errs).contains(
            &"spec.schedule: Invalid value: \"bad schedule\": expected exactly 5 fields, found 2: [bad schedule]"
                .to_string()
        ));
        c["spec"].as_object_mut().unwrap().remove("schedule");
        errs.clear();
        (CRON_JOB.validate)(&c, &mut errs);
        assert!(msgs(&errs).contains(&"spec.schedule: Required value".to_string()));
    }

    #[test]
    fn cron_parser_messages() {
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("0 0 * JAN-mar mon").is_ok());
        assert!(parse_cron("@hourly").is_ok());
        assert!(parse_cron("@every 1h30m").is_ok());
        assert_eq!(
            parse_cron("61 * * * *").unwrap_err(),
            "end of range (61) above maximum (59): 61"
        );
        assert_eq!(
            parse_cron("* * 0 * *").unwrap_err(),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            parse_cron("x * * * *").unwrap_err(),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse_cron("@fortnightly").unwrap_err(),
            "unrecognized descriptor: @fortnightly"
        );
        assert_eq!(
            parse_cron("@every 5").unwrap_err(),
            "failed to parse duration @every 5: time: missing unit in duration \"5\""
        );
        assert_eq!(
            parse_cron("*/0 * * * *").unwrap_err(),
            "step of range should be a positive number: */0"
        );
    }

    #[test]
    fn cron_job_template_rules() {
        let c = json!({"metadata": {"name": "c"}, "spec": {"schedule": "@daily", "concurrencyPolicy": "Sometimes",
            "jobTemplate": {"spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}},
              "template": {"spec": {"restartPolicy": "Never"}}}}}});
        let mut errs = Vec::new();
        (CRON_JOB.validate)(&c, &mut errs);
        let m = msgs(&errs);
        assert!(m.contains(&"spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"".to_string()));
        assert!(m.contains(
            &"spec.jobTemplate.spec.manualSelector: Unsupported value: true: supported values: \"nil\", \"false\""
                .to_string()
        ));
        assert!(m.contains(&"spec.jobTemplate.spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` will be auto-generated".to_string()));
    }

    #[test]
    fn wrong_types_do_not_panic() {
        for bad in [
            json!(null),
            json!("x"),
            json!({"spec": 5}),
            json!({"spec": {"template": 3, "schedule": 7}}),
        ] {
            let mut v = bad.clone();
            (JOB.defaults)(&mut v);
            (JOB.prepare_create)(&mut v);
            let mut errs = Vec::new();
            (JOB.validate)(&v, &mut errs);
            (CRON_JOB.defaults)(&mut v);
            (CRON_JOB.validate)(&v, &mut errs);
            (JOB.validate_update)(&v, &bad, &mut errs);
        }
    }
}
