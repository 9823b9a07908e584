//! Strategies for `rbac.authorization.k8s.io`: Role, ClusterRole, RoleBinding,
//! ClusterRoleBinding (upstream `pkg/apis/rbac/v1/defaults.go`,
//! `pkg/apis/rbac/validation/validation.go`).

use super::apps::util::*;
use super::Builtin;
use crate::error::field::{FieldError, FieldErrors};
use serde_json::{json, Value};

pub const GROUP: &str = "rbac.authorization.k8s.io";

fn no_op(_: &mut Value) {}

pub const ROLE: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_role,
    validate_update: no_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const CLUSTER_ROLE: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: validate_cluster_role,
    validate_update: no_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const ROLE_BINDING: Builtin = Builtin {
    defaults: default_binding,
    prepare_create: no_op,
    validate: validate_role_binding,
    validate_update: validate_binding_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};
pub const CLUSTER_ROLE_BINDING: Builtin = Builtin {
    defaults: default_binding,
    prepare_create: no_op,
    validate: validate_cluster_role_binding,
    validate_update: validate_binding_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn no_update(_: &Value, _: &Value, _: &mut FieldErrors) {}

/// `SetDefaults_RoleBinding`/`ClusterRoleBinding` and `SetDefaults_Subject`.
pub fn default_binding(obj: &mut Value) {
    if let Some(rr) = obj_child(obj, "roleRef") {
        if rr.get("apiGroup").and_then(Value::as_str).is_none_or(str::is_empty) && is_absent_or_str(rr, "apiGroup") {
            rr.insert("apiGroup".into(), json!(GROUP));
        }
    }
    if let Some(Value::Array(subjects)) = obj.get_mut("subjects") {
        for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
            let empty =
                s.get("apiGroup").and_then(Value::as_str).is_none_or(str::is_empty) && is_absent_or_str(s, "apiGroup");
            if !empty {
                continue;
            }
            match s.get("kind").and_then(Value::as_str) {
                // Defaulted to "", which upstream's encoder omits.
                Some("ServiceAccount") => {
                    s.remove("apiGroup");
                }
                Some("User") | Some("Group") => {
                    s.insert("apiGroup".into(), json!(GROUP));
                }
                _ => {}
            }
        }
    }
}

fn validate_rules(obj: &Value, namespaced: bool, errs: &mut FieldErrors) {
    let Some(rules) = get_arr(obj, "rules", "", errs) else {
        return;
    };
    for (i, rule) in rules.iter().enumerate() {
        let p = format!("rules[{i}]");
        if !rule.is_object() {
            errs.push(type_error(p, rule, "object"));
            continue;
        }
        validate_policy_rule(rule, namespaced, &p, errs);
    }
}

/// `ValidatePolicyRule`.
pub fn validate_policy_rule(rule: &Value, namespaced: bool, p: &str, errs: &mut FieldErrors) {
    let verbs = get_str_list(rule, "verbs", p, errs);
    let urls = get_str_list(rule, "nonResourceURLs", p, errs);
    let groups = get_str_list(rule, "apiGroups", p, errs);
    let resources = get_str_list(rule, "resources", p, errs);
    let names = get_str_list(rule, "resourceNames", p, errs);
    if verbs.is_empty() {
        errs.push(FieldError::required(
            format!("{p}.verbs"),
            "verbs must contain at least one value",
        ));
    }
    if !urls.is_empty() {
        let rendered = format!(
            "[]string{{{}}}",
            urls.iter().map(|u| go_quote(u)).collect::<Vec<_>>().join(", ")
        );
        if namespaced {
            errs.push(invalid_raw(
                format!("{p}.nonResourceURLs"),
                rendered.clone(),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !groups.is_empty() || !resources.is_empty() || !names.is_empty() {
            errs.push(invalid_raw(
                format!("{p}.nonResourceURLs"),
                rendered,
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return;
    }
    if groups.is_empty() {
        errs.push(FieldError::required(
            format!("{p}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if resources.is_empty() {
        errs.push(FieldError::required(
            format!("{p}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
}

fn validate_role(obj: &Value, errs: &mut FieldErrors) {
    validate_rules(obj, true, errs);
}

fn validate_cluster_role(obj: &Value, errs: &mut FieldErrors) {
    validate_rules(obj, false, errs);
    if let Some(ar) = get_obj(obj, "aggregationRule", "", errs) {
        let path = "aggregationRule.clusterRoleSelectors";
        let sels = get_arr(ar, "clusterRoleSelectors", "aggregationRule", errs);
        if sels.is_none_or(Vec::is_empty) {
            errs.push(FieldError::required(
                path,
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, sel) in sels.into_iter().flatten().enumerate() {
            let p = format!("{path}[{i}]");
            validate_label_selector(sel, &p, errs);
        }
    }
}

fn validate_binding(obj: &Value, namespaced: bool, errs: &mut FieldErrors) {
    let empty = json!({});
    let rr = get_obj(obj, "roleRef", "", errs).unwrap_or(&empty);
    let group = get_str(rr, "apiGroup", "roleRef", errs).unwrap_or("");
    if group != GROUP {
        errs.push(FieldError::not_supported("roleRef.apiGroup", group, &[GROUP]));
    }
    let kind = get_str(rr, "kind", "roleRef", errs).unwrap_or("");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported("roleRef.kind", kind, kinds));
    }
    match get_str(rr, "name", "roleRef", errs).unwrap_or("") {
        "" => errs.push(FieldError::required("roleRef.name", "")),
        name => {
            for msg in path_segment_errors(name) {
                errs.push(FieldError::invalid("roleRef.name", name, msg));
            }
        }
    }
    let Some(subjects) = get_arr(obj, "subjects", "", errs) else {
        return;
    };
    for (i, s) in subjects.iter().enumerate() {
        let p = format!("subjects[{i}]");
        if !s.is_object() {
            errs.push(type_error(p, s, "object"));
            continue;
        }
        validate_subject(s, namespaced, &p, errs);
    }
}

/// `ValidateRoleBindingSubject`.
pub fn validate_subject(s: &Value, namespaced: bool, p: &str, errs: &mut FieldErrors) {
    let name = get_str(s, "name", p, errs).unwrap_or("");
    if name.is_empty() {
        errs.push(FieldError::required(format!("{p}.name"), ""));
    }
    let group = get_str(s, "apiGroup", p, errs).unwrap_or("");
    match get_str(s, "kind", p, errs).unwrap_or("") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in is_dns1123_subdomain(name) {
                    errs.push(FieldError::invalid(format!("{p}.name"), name, msg));
                }
            }
            if !group.is_empty() {
                errs.push(FieldError::not_supported(format!("{p}.apiGroup"), group, &[""]));
            }
            if !namespaced && get_str(s, "namespace", p, errs).unwrap_or("").is_empty() {
                errs.push(FieldError::required(format!("{p}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != GROUP {
                errs.push(FieldError::not_supported(format!("{p}.apiGroup"), group, &[GROUP]));
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{p}.kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

fn validate_role_binding(obj: &Value, errs: &mut FieldErrors) {
    validate_binding(obj, true, errs);
}

fn validate_cluster_role_binding(obj: &Value, errs: &mut FieldErrors) {
    validate_binding(obj, false, errs);
}

fn role_ref_parts(obj: &Value) -> [String; 3] {
    ["apiGroup", "kind", "name"].map(|k| {
        at(obj, &["roleRef", k])
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    })
}

/// roleRef is immutable: `roleRef: Invalid value: rbac.RoleRef{…}: cannot change roleRef`.
fn validate_binding_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let n = role_ref_parts(new);
    if n != role_ref_parts(old) {
        let rendered = format!(
            "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
            go_quote(&n[0]),
            go_quote(&n[1]),
            go_quote(&n[2])
        );
        errs.push(invalid_raw("roleRef", rendered, "cannot change roleRef"));
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
    fn binding_defaults() {
        let mut b = json!({"roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}, {"kind": "Group", "name": "g"}]});
        (ROLE_BINDING.defaults)(&mut b);
        assert_eq!(b["roleRef"]["apiGroup"], GROUP);
        assert_eq!(b["subjects"][0]["apiGroup"], GROUP);
        assert!(
            b["subjects"][1].get("apiGroup").is_none(),
            "omitted when empty, as upstream serves it"
        );
        assert_eq!(b["subjects"][2]["apiGroup"], GROUP);
        assert!(run(&ROLE_BINDING, &b).is_empty());
    }

    #[test]
    fn role_rules() {
        let r = json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}, {"verbs": ["get"]}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]});
        assert_eq!(
            run(&ROLE, &r),
            vec![
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[1].resources: Required value: resource rules must supply at least one resource",
                "rules[2].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
            ]
        );
        let cr = json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}], "aggregationRule": {}});
        assert_eq!(
            run(&CLUSTER_ROLE, &cr),
            vec!["aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"]
        );
    }

    #[test]
    fn binding_kinds() {
        let mut b = json!({"roleRef": {"kind": "Role", "name": "x"}, "subjects": [{"kind": "Robot", "name": "r"}, {"kind": "ServiceAccount", "name": "sa"}]});
        (CLUSTER_ROLE_BINDING.defaults)(&mut b);
        assert_eq!(
            run(&CLUSTER_ROLE_BINDING, &b),
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
                "subjects[1].namespace: Required value",
            ]
        );
        let missing = json!({});
        assert_eq!(
            run(&ROLE_BINDING, &missing),
            vec![
                "roleRef.apiGroup: Unsupported value: \"\": supported values: \"rbac.authorization.k8s.io\"",
                "roleRef.kind: Unsupported value: \"\": supported values: \"Role\", \"ClusterRole\"",
                "roleRef.name: Required value",
            ]
        );
    }

    #[test]
    fn role_ref_is_immutable() {
        let old = json!({"roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "edit"}});
        let new = json!({"roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}});
        let mut errs = Vec::new();
        (CLUSTER_ROLE_BINDING.validate_update)(&new, &old, &mut errs);
        assert_eq!(
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            vec!["roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"view\"}: cannot change roleRef"]
        );
    }
}
