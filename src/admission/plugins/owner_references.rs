//! OwnerReferencesPermissionEnforcement (upstream's `gc` plugin): changing an object's
//! `metadata.ownerReferences` needs `delete` on the object (creates excepted), and a new
//! `blockOwnerDeletion: true` needs `update` on the owner's `finalizers` subresource.
//! `pods/status` is exempt (its strategy keeps owner references).

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::auth::authz::Attributes as Authz;
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::Value;

pub struct OwnerReferencesPermissionEnforcement;

fn refs(obj: Option<&Value>) -> &[Value] {
    obj.and_then(|o| o.pointer("/metadata/ownerReferences"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Does the write add, drop or change an owner reference?
pub fn changes_owner_refs(new: Option<&Value>, old: Option<&Value>) -> bool {
    let Some(new) = new else { return false };
    match old {
        None => !refs(Some(new)).is_empty(),
        Some(old) => refs(Some(new)) != refs(Some(old)),
    }
}

fn blocking(r: &Value) -> bool {
    r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
}

/// References that block their owner's deletion and did not before (new, or flipped to true).
pub fn new_blocking_refs<'a>(new: Option<&'a Value>, old: Option<&Value>) -> Vec<&'a Value> {
    let blocking_new: Vec<&Value> = refs(new).iter().filter(|r| blocking(r)).collect();
    if old.is_none() {
        return blocking_new;
    }
    let uid = |r: &Value| r.str_of("uid").to_string();
    let old_by_uid: std::collections::HashMap<String, &Value> = refs(old).iter().map(|r| (uid(r), r)).collect();
    blocking_new
        .into_iter()
        .filter(|r| old_by_uid.get(&uid(r)).is_none_or(|o| !blocking(o)))
        .collect()
}

/// Go's `%v, %v` of an authorizer's reason and (always nil here) error.
fn reason_text(reason: &str) -> String {
    format!("{reason}, <nil>")
}

#[async_trait::async_trait]
impl Plugin for OwnerReferencesPermissionEnforcement {
    fn name(&self) -> &'static str {
        "OwnerReferencesPermissionEnforcement"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !matches!(a.operation, Operation::Create | Operation::Update)
            || (a.is_core("Pod") && a.subresource == "status")
            || !changes_owner_refs(a.object.as_ref(), a.old.as_ref())
        {
            return Ok(());
        }
        let user = &env.ctx.user;
        let authz = |verb, group, version, resource, subresource, namespace, name| Authz {
            user,
            verb,
            is_resource: true,
            api_group: group,
            api_version: version,
            namespace,
            resource,
            subresource,
            name,
            path: "",
            field_selector: "",
        };
        // Creating is allowed (the creator could have not created it); anything else needs delete.
        if a.operation != Operation::Create {
            let v = env
                .ctx
                .decide(&authz(
                    "delete",
                    a.def.group,
                    a.def.version,
                    a.def.plural,
                    &a.subresource,
                    &a.namespace,
                    &a.name,
                ))
                .await;
            if !v.allowed {
                return Err(a.forbidden(&format!(
                    "cannot set an ownerRef on a resource you can't delete: {}",
                    reason_text(&v.reason)
                )));
            }
        }
        let new_refs = new_blocking_refs(a.object.as_ref(), a.old.as_ref());
        if new_refs.is_empty() {
            return Ok(());
        }
        // One check covers the common case: may the user finalize anything?
        if env
            .ctx
            .decide(&authz("update", "*", "*", "*", "finalizers", "", "*"))
            .await
            .allowed
        {
            return Ok(());
        }
        for r in new_refs {
            let s = |k: &str| r.str_of(k);
            let (api_version, kind, name) = (s("apiVersion"), s("kind"), s("name"));
            let rows = owner_rows(env, api_version, kind).map_err(|e| {
                a.forbidden(&format!(
                    "cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion {api_version} Kind {kind}: {e}"
                ))
            })?;
            for row in rows {
                let ns = if row.namespaced() { a.namespace.as_str() } else { "" };
                let v = env
                    .ctx
                    .decide(&authz(
                        "update",
                        row.group,
                        row.version,
                        row.plural,
                        "finalizers",
                        ns,
                        name,
                    ))
                    .await;
                if !v.allowed {
                    return Err(a.forbidden(&format!(
                        "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: {}",
                        reason_text(&v.reason)
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The served rows of an owner reference's kind (upstream's RESTMapper), or its error text.
fn owner_rows(env: &Env<'_>, api_version: &str, kind: &str) -> Result<Vec<&'static crate::api::ResourceDef>, String> {
    let (group, version) = match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [v] => ("", *v),
        [g, v] => (*g, *v),
        _ => return Err(format!("unexpected GroupVersion string: {api_version}")),
    };
    let rows = env.registry.resources.by_kind(group, version, kind);
    if rows.is_empty() {
        return Err(format!("no matches for kind {kind:?} in version {api_version:?}"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(refs: Value) -> Value {
        json!({"metadata": {"ownerReferences": refs}})
    }

    /// Upstream's TestGCAdmission / TestBlockOwnerDeletionAdmission decisions on what changed.
    #[test]
    fn what_counts_as_a_change() {
        let r1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": "1"});
        let r1b = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": "1", "blockOwnerDeletion": true});
        let r2b = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "b", "uid": "2", "blockOwnerDeletion": true});
        let none = json!({"metadata": {}});
        assert!(!changes_owner_refs(Some(&none), None));
        assert!(changes_owner_refs(Some(&obj(json!([r1]))), None));
        assert!(!changes_owner_refs(Some(&obj(json!([r1]))), Some(&obj(json!([r1])))));
        assert!(changes_owner_refs(Some(&obj(json!([r1b]))), Some(&obj(json!([r1])))));
        assert!(changes_owner_refs(Some(&none), Some(&obj(json!([r1])))));
        // Newly blocking: new refs, and refs flipped from false/unset to true.
        let created = obj(json!([r1b, r2b]));
        assert_eq!(new_blocking_refs(Some(&created), None).len(), 2);
        let flipped = obj(json!([r1b]));
        assert_eq!(new_blocking_refs(Some(&flipped), Some(&obj(json!([r1])))), vec![&r1b]);
        assert!(new_blocking_refs(Some(&flipped), Some(&obj(json!([r1b])))).is_empty());
        let added = obj(json!([r1b, r2b]));
        assert_eq!(new_blocking_refs(Some(&added), Some(&obj(json!([r1b])))), vec![&r2b]);
    }
}
