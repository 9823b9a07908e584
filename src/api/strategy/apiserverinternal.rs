//! Strategies for `internal.apiserver.k8s.io`: StorageVersion (upstream
//! `pkg/registry/apiserverinternal/storageversion`, `pkg/apis/apiserverinternal/validation`).
//! Served as plain objects: nothing in capstan writes them (upstream's StorageVersionAPI gate,
//! which would, is refused).

use super::apps::util::*;
use super::Builtin;
use crate::error::field::{FieldError, FieldErrors};
use serde_json::Value;

fn no_op(_: &mut Value) {}
fn no_update(_: &Value, _: &Value, _: &mut FieldErrors) {}

/// Status is reset on create (to `{}`: Go always marshals the struct) and kept on update by
/// the store (status subresource); the spec is empty, so an update has no rules of its own
/// (`ValidateStorageVersionUpdate`).
pub const STORAGE_VERSION: Builtin = Builtin {
    defaults: no_op,
    prepare_create: empty_status,
    validate: validate_storage_version,
    validate_update: no_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn empty_status(obj: &mut Value) {
    if let Some(o) = obj.as_object_mut() {
        o.insert("status".into(), Value::Object(Default::default()));
    }
}

/// `validateStorageVersionStatus` (the name is the row's `GroupResource` rule).
fn validate_storage_version(obj: &Value, errs: &mut FieldErrors) {
    let Some(status) = obj.get("status").filter(|s| !s.is_null()) else {
        return;
    };
    let mut ids: Vec<&str> = Vec::new();
    let mut encodings: Vec<&str> = Vec::new();
    for (i, ssv) in get_arr(status, "storageVersions", "status", errs)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = format!("status.storageVersions[{i}]");
        let id = get_str(ssv, "apiServerID", &p, errs).unwrap_or("");
        if ids.contains(&id) {
            errs.push(FieldError::duplicate(format!("{p}.apiServerID"), id));
        } else {
            ids.push(id);
        }
        encodings.push(get_str(ssv, "encodingVersion", &p, errs).unwrap_or(""));
        validate_server_storage_version(ssv, &p, errs);
    }
    let common = get_str(status, "commonEncodingVersion", "status", errs);
    let actual = encodings
        .first()
        .filter(|first| encodings.iter().all(|e| e == *first))
        .copied();
    let path = "status.commonEncodingVersion";
    match (actual, common) {
        (None, Some(c)) => errs.push(FieldError::invalid(
            path,
            c,
            "should be nil if servers do not agree on the same encoding version, or if there is no server reporting the supported versions yet",
        )),
        (Some(a), None) => errs.push(invalid_raw(path, "null".into(), &format!("the common encoding version is {a}"))),
        (Some(a), Some(c)) if a != c => errs.push(FieldError::invalid(
            path,
            c,
            format!("the actual common encoding version is {a}"),
        )),
        _ => {}
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, cond) in get_arr(status, "conditions", "status", errs)
        .into_iter()
        .flatten()
        .enumerate()
    {
        // Upstream indexes `status` itself here (`status[i].type`), not `status.conditions`.
        let p = format!("status[{i}]");
        let ty = get_str(cond, "type", &p, errs).unwrap_or("");
        if let Some(first) = seen.iter().position(|t| *t == ty) {
            errs.push(FieldError::invalid(
                format!("{p}.type"),
                ty,
                format!("the type of the condition is not unique, it also appears in conditions[{first}]"),
            ));
        }
        seen.push(ty);
        for key in ["type", "status"] {
            let v = get_str(cond, key, &p, errs).unwrap_or("");
            for msg in is_qualified_name(v) {
                errs.push(FieldError::invalid(format!("{p}.{key}"), v, msg));
            }
        }
        for key in ["reason", "message"] {
            if get_str(cond, key, &p, errs).unwrap_or("").is_empty() {
                errs.push(FieldError::required(
                    format!("{p}.{key}"),
                    format!("{key} cannot be empty"),
                ));
            }
        }
    }
}

/// Go's `%#v` of a `[]string` that is nil when empty (an omitted list).
fn go_string_slice(items: &[&str]) -> String {
    if items.is_empty() {
        "[]string(nil)".into()
    } else {
        crate::util::go_string_slice(items)
    }
}

/// `validateServerStorageVersion`.
fn validate_server_storage_version(ssv: &Value, p: &str, errs: &mut FieldErrors) {
    let id = get_str(ssv, "apiServerID", p, errs).unwrap_or("");
    for msg in is_dns1123_subdomain(id) {
        errs.push(FieldError::invalid(format!("{p}.apiServerID"), id, msg));
    }
    let encoding = get_str(ssv, "encodingVersion", p, errs).unwrap_or("");
    let api_version_errs = |v: &str| api_version_messages(v).join(",");
    if !api_version_messages(encoding).is_empty() {
        errs.push(FieldError::invalid(
            format!("{p}.encodingVersion"),
            encoding,
            api_version_errs(encoding),
        ));
    }
    let decodable = get_str_list(ssv, "decodableVersions", p, errs);
    for (i, dv) in decodable.iter().enumerate() {
        if !api_version_messages(dv).is_empty() {
            errs.push(FieldError::invalid(
                format!("{p}.decodableVersions[{i}]"),
                *dv,
                api_version_errs(dv),
            ));
        }
    }
    if !decodable.contains(&encoding) {
        errs.push(invalid_raw(
            format!("{p}.decodableVersions"),
            go_string_slice(&decodable),
            &format!("decodableVersions must include encodingVersion {encoding}"),
        ));
    }
    for (i, sv) in get_str_list(ssv, "servedVersions", p, errs).into_iter().enumerate() {
        let path = format!("{p}.servedVersions[{i}]");
        if !api_version_messages(sv).is_empty() {
            errs.push(FieldError::invalid(path.as_str(), sv, api_version_errs(sv)));
        }
        if !decodable.contains(&sv) {
            errs.push(FieldError::invalid(
                path,
                sv,
                format!(
                    "individual served version : {sv} must be included in decodableVersions : [{}]",
                    decodable.join(" ")
                ),
            ));
        }
    }
}

/// `isValidAPIVersion`: `[group/]version`, the group a DNS subdomain, the version a DNS-1035
/// label.
fn api_version_messages(api_version: &str) -> Vec<String> {
    let parts: Vec<&str> = api_version.split('/').collect();
    let mut errs = Vec::new();
    let version = match parts.as_slice() {
        [v] => *v,
        [group, v] => {
            if group.is_empty() {
                errs.push("group part: must be non-empty".to_string());
            } else {
                errs.extend(
                    is_dns1123_subdomain(group)
                        .into_iter()
                        .map(|m| format!("group part: {m}")),
                );
            }
            *v
        }
        _ => {
            return vec!["an apiVersion is a DNS-1035 label, which must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyVersion')".to_string()];
        }
    };
    if version.is_empty() {
        errs.push("version part: must be non-empty".to_string());
    } else {
        errs.extend(
            is_dns1035_label(version)
                .into_iter()
                .map(|m| format!("version part: {m}")),
        );
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(status: Value) -> Vec<String> {
        let mut errs = Vec::new();
        (STORAGE_VERSION.validate)(&json!({ "status": status }), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn storage_version_status_rules() {
        assert!(run(json!({})).is_empty());
        let ok = json!({"apiServerID": "a", "encodingVersion": "apps/v1", "decodableVersions": ["apps/v1"],
            "servedVersions": ["apps/v1"]});
        assert!(run(json!({"storageVersions": [ok], "commonEncodingVersion": "apps/v1"})).is_empty());
        assert_eq!(
            run(json!({"storageVersions": [ok, ok]})),
            vec![
                "status.storageVersions[1].apiServerID: Duplicate value: \"a\"",
                "status.commonEncodingVersion: Invalid value: null: the common encoding version is apps/v1",
            ]
        );
        assert_eq!(
            run(json!({"storageVersions": [{"apiServerID": "a", "encodingVersion": "v1", "servedVersions": ["V2"]}]})),
            vec![
                "status.storageVersions[0].decodableVersions: Invalid value: []string(nil): decodableVersions must include encodingVersion v1",
                "status.storageVersions[0].servedVersions[0]: Invalid value: \"V2\": version part: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
                "status.storageVersions[0].servedVersions[0]: Invalid value: \"V2\": individual served version : V2 must be included in decodableVersions : []",
                "status.commonEncodingVersion: Invalid value: null: the common encoding version is v1",
            ]
        );
        assert_eq!(
            run(json!({"conditions": [{"type": "A", "status": "True"}, {"type": "A", "status": "True", "reason": "r", "message": "m"}]})),
            vec![
                "status[0].reason: Required value: reason cannot be empty",
                "status[0].message: Required value: message cannot be empty",
                "status[1].type: Invalid value: \"A\": the type of the condition is not unique, it also appears in conditions[0]",
            ]
        );
    }
}
