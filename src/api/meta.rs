//! ObjectMeta validation common to every kind (`apimachinery/pkg/api/validation/objectmeta.go`).

use super::validation as v;
use super::{NameRule, ResourceDef};
use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use serde_json::Value;

/// Upstream `maskTrailingDash`: a generateName prefix may end in `-`.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        format!("{}a", &name[..name.len() - 1])
    } else {
        name.to_string()
    }
}

/// The kind's name rule as messages; `prefix` for generateName.
pub fn name_messages(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    // Upstream masks a trailing `-` of a prefix inside the DNS name functions only.
    let masks = matches!(rule, NameRule::Subdomain | NameRule::Label | NameRule::Rfc1035Label);
    let name = if prefix && masks {
        mask_trailing_dash(name)
    } else {
        name.to_string()
    };
    match rule {
        NameRule::Subdomain => v::is_dns1123_subdomain(&name),
        NameRule::Label => v::is_dns1123_label(&name),
        NameRule::Rfc1035Label => v::is_dns1035_label(&name),
        NameRule::PathSegment if prefix => v::is_valid_path_segment_prefix(&name),
        NameRule::PathSegment => v::is_valid_path_segment_name(&name),
        NameRule::ConfigMapKey => v::is_config_map_key(&name),
        NameRule::GroupResource => group_resource_name(&name),
    }
}

/// `ValidateStorageVersionName`: the group part a DNS subdomain, the resource a DNS-1035 label.
fn group_resource_name(name: &str) -> Vec<String> {
    let Some(idx) = name.rfind('.') else {
        return vec!["name must be in the form of <group>.<resource>".to_string()];
    };
    let group = v::is_dns1123_subdomain(&name[..idx])
        .into_iter()
        .map(|m| format!("the group segment {m}"));
    let resource = v::is_dns1035_label(&name[idx + 1..])
        .into_iter()
        .map(|m| format!("the resource segment {m}"));
    group.chain(resource).collect()
}

fn meta_str<'a>(meta: &'a Value, key: &str, errs: &mut FieldErrors) -> &'a str {
    match meta.get(key) {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s,
        Some(other) => {
            errs.push(FieldError::type_invalid(
                format!("metadata.{key}"),
                other.clone(),
                "expected string",
            ));
            ""
        }
    }
}

/// Validate `metadata` of a new object (name per the kind's rule, namespace presence,
/// labels, annotations, finalizers, ownerReferences).
pub fn validate_object_meta(obj: &Value, def: &ResourceDef, errs: &mut FieldErrors) {
    let meta = match obj.get("metadata") {
        Some(m @ Value::Object(_)) => m,
        None | Some(Value::Null) => &Value::Null,
        Some(other) => {
            errs.push(FieldError::type_invalid("metadata", other.clone(), "expected object"));
            return;
        }
    };
    let generate_name = meta_str(meta, "generateName", errs);
    if !generate_name.is_empty() {
        v::push_msgs(
            errs,
            "metadata.generateName",
            generate_name,
            name_messages(def.name_rule, generate_name, true),
        );
    }
    let name = meta_str(meta, "name", errs);
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        v::push_msgs(errs, "metadata.name", name, name_messages(def.name_rule, name, false));
    }
    let namespace = meta_str(meta, "namespace", errs);
    if def.namespaced() {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            v::push_msgs(errs, "metadata.namespace", namespace, v::is_dns1123_label(namespace));
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    match meta.get("generation") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|g| g < 0) => errs.push(FieldError::invalid(
            "metadata.generation",
            n.clone(),
            "must be greater than or equal to 0",
        )),
        None | Some(Value::Null) | Some(Value::Number(_)) => {}
        Some(other) => errs.push(FieldError::type_invalid(
            "metadata.generation",
            other.clone(),
            "expected integer",
        )),
    }
    if let Some(l) = meta.get("labels").filter(|x| !x.is_null()) {
        v::validate_labels(l, "metadata.labels", errs);
    }
    if let Some(a) = meta.get("annotations").filter(|x| !x.is_null()) {
        v::validate_annotations(a, "metadata.annotations", errs);
    }
    validate_owner_references(meta.get("ownerReferences"), errs);
    validate_finalizers(meta.get("finalizers"), errs);
}

fn validate_owner_references(refs: Option<&Value>, errs: &mut FieldErrors) {
    let path = "metadata.ownerReferences";
    let refs = match refs {
        None | Some(Value::Null) => return,
        Some(Value::Array(a)) => a,
        Some(other) => {
            errs.push(FieldError::type_invalid(path, other.clone(), "expected array"));
            return;
        }
    };
    let mut controllers = Vec::new();
    for r in refs {
        if !r.is_object() {
            errs.push(FieldError::type_invalid(path, r.clone(), "expected object"));
            continue;
        }
        let field = |k: &str| r.str_of(k);
        let api_version = field("apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if field("kind").is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.kind"),
                field("kind"),
                "must not be empty",
            ));
        }
        if field("name").is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.name"),
                field("name"),
                "must not be empty",
            ));
        }
        if field("uid").is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.uid"),
                field("uid"),
                "must not be empty",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers.push(format!("{}/{}", field("kind"), field("name")));
        }
    }
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            path,
            Value::Array(refs.clone()),
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {} and {}",
                controllers[0], controllers[1]
            ),
        ));
    }
}

fn validate_finalizers(fins: Option<&Value>, errs: &mut FieldErrors) {
    let path = "metadata.finalizers";
    let fins = match fins {
        None | Some(Value::Null) => return,
        Some(Value::Array(a)) => a,
        Some(other) => {
            errs.push(FieldError::type_invalid(path, other.clone(), "expected array"));
            return;
        }
    };
    let (mut orphan, mut foreground) = (false, false);
    for f in fins {
        match f {
            Value::String(s) => {
                v::push_msgs(errs, path, s, v::is_qualified_name(s));
                orphan |= s == "orphan";
                foreground |= s == "foregroundDeletion";
            }
            other => errs.push(FieldError::type_invalid(path, other.clone(), "expected string")),
        }
    }
    if orphan && foreground {
        errs.push(FieldError::invalid(
            path,
            Value::Array(fins.clone()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// Validate `metadata` changes on update (immutable fields). `uid`, `creationTimestamp`,
/// `deletionTimestamp` and `deletionGracePeriodSeconds` are compared only when the new object
/// sets them (the registry carries them over from the old object otherwise).
pub fn validate_object_meta_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let nm = new.get("metadata").unwrap_or(&Value::Null);
    let om = old.get("metadata").unwrap_or(&Value::Null);
    let get = |m: &Value, k: &str| m.get(k).filter(|x| !x.is_null()).cloned();
    // name and namespace: compared as strings ("" when absent).
    for key in ["name", "namespace"] {
        let n = get(nm, key).unwrap_or(Value::String(String::new()));
        let o = get(om, key).unwrap_or(Value::String(String::new()));
        if n != o {
            errs.push(FieldError::invalid(format!("metadata.{key}"), n, "field is immutable"));
        }
    }
    for key in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        if let Some(n) = get(nm, key) {
            if Some(&n) != get(om, key).as_ref() {
                errs.push(FieldError::invalid(format!("metadata.{key}"), n, "field is immutable"));
            }
        }
    }
    let gen = |m: &Value| m.get("generation").and_then(Value::as_i64).unwrap_or(0);
    if gen(nm) < gen(om) {
        errs.push(FieldError::invalid(
            "metadata.generation",
            gen(nm),
            "must not be decremented",
        ));
    }
    // No new finalizers once deletion started.
    if get(om, "deletionTimestamp").is_some() {
        let list = |m: &Value| -> Vec<String> {
            m.get("finalizers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default()
        };
        let (nf, of) = (list(nm), list(om));
        let mut extra: Vec<&str> = nf.iter().filter(|f| !of.contains(f)).map(String::as_str).collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    crate::util::go_string_slice(&extra)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Scope, Served};
    use serde_json::json;

    fn def(scope: Scope, rule: NameRule) -> ResourceDef {
        ResourceDef {
            group: "",
            version: "v1",
            kind: "Thing",
            plural: "things",
            singular: "thing",
            short_names: &[],
            categories: &[],
            scope,
            verbs: crate::api::ALL_VERBS,
            subresources: &[],
            storage: "things",
            served: Served::Store,
            name_rule: rule,
            generation: false,
            strategy: &crate::api::Builtin::DEFAULT,
            availability: crate::api::Availability::ON,
        }
    }

    fn msgs(obj: Value, d: &ResourceDef) -> Vec<String> {
        let mut errs = Vec::new();
        validate_object_meta(&obj, d, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn name_and_namespace() {
        let ns = def(Scope::Namespaced, NameRule::Subdomain);
        assert_eq!(
            msgs(json!({"metadata": {"namespace": "default"}}), &ns),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        assert_eq!(
            msgs(json!({"metadata": {"name": "a"}}), &ns),
            vec!["metadata.namespace: Required value"]
        );
        assert_eq!(
            msgs(json!({"metadata": {"name": "Bad_Name", "namespace": "default"}}), &ns),
            vec!["metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
        );
        assert!(msgs(
            json!({"metadata": {"generateName": "web-", "name": "web-x1", "namespace": "d"}}),
            &ns
        )
        .is_empty());
        let cluster = def(Scope::Cluster, NameRule::Label);
        assert_eq!(
            msgs(json!({"metadata": {"name": "a", "namespace": "x"}}), &cluster),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
        assert_eq!(
            msgs(json!({"metadata": {"name": "a.b"}}), &cluster),
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
        let svc = def(Scope::Namespaced, NameRule::Rfc1035Label);
        assert!(msgs(json!({"metadata": {"name": "1svc", "namespace": "d"}}), &svc)[0]
            .starts_with("metadata.name: Invalid value: \"1svc\": a DNS-1035 label must consist"));
        let rbac = def(Scope::Cluster, NameRule::PathSegment);
        assert_eq!(
            msgs(json!({"metadata": {"name": "system:a/b"}}), &rbac),
            vec!["metadata.name: Invalid value: \"system:a/b\": may not contain '/'"]
        );
        assert_eq!(
            msgs(json!({"metadata": {"name": 5, "namespace": "d"}}), &ns)[0],
            "metadata.name: Invalid value: 5: expected string"
        );
    }

    #[test]
    fn labels_finalizers_owners() {
        let ns = def(Scope::Namespaced, NameRule::Subdomain);
        let out = msgs(
            json!({"metadata": {"name": "a", "namespace": "d", "labels": {"k": "-bad"}, "finalizers": ["a/b/c"],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs"}]}}),
            &ns,
        );
        assert!(out[0].starts_with("metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string"));
        assert_eq!(
            out[1],
            "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"
        );
        assert!(out[2].starts_with("metadata.finalizers: Invalid value: \"a/b/c\": a qualified name must consist"));
    }

    #[test]
    fn update_immutables() {
        let old = json!({"metadata": {"name": "a", "namespace": "d", "uid": "u1", "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 2}});
        let mut errs = Vec::new();
        validate_object_meta_update(
            &json!({"metadata": {"name": "a", "namespace": "d", "generation": 2}}),
            &old,
            &mut errs,
        );
        assert!(errs.is_empty());
        validate_object_meta_update(
            &json!({"metadata": {"name": "b", "namespace": "d", "uid": "u2", "generation": 1}}),
            &old,
            &mut errs,
        );
        let out: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            out,
            vec![
                "metadata.name: Invalid value: \"b\": field is immutable",
                "metadata.uid: Invalid value: \"u2\": field is immutable",
                "metadata.generation: Invalid value: 1: must not be decremented",
            ]
        );
        let deleting =
            json!({"metadata": {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["x/a"]}});
        let mut errs = Vec::new();
        validate_object_meta_update(
            &json!({"metadata": {"name": "a", "finalizers": ["x/a", "x/b"]}}),
            &deleting,
            &mut errs,
        );
        assert_eq!(
            errs[0].to_string(),
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"x/b\"}"
        );
    }
}
