//! ClusterTrustBundleAttest: writing a ClusterTrustBundle (certificates.k8s.io) that names a
//! `spec.signerName` needs `attest` on that signer (`signers` resource, `<signerName>` or
//! `<domain>/*`); updates touching only garbage-collection fields are exempt. Upstream 1.33
//! serves ClusterTrustBundle only behind the off-by-default `ClusterTrustBundle` gate and
//! runtime-config; capstan does not serve it, so the plugin (default-on, as upstream) acts on
//! nothing until the resource is served.

use super::certificates::authorized_for_signer;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::Value;

pub struct ClusterTrustBundleAttest;

/// Upstream's `rbac.IsOnlyMutatingGCFields`: equal once owner references, finalizers,
/// selfLink and managedFields are taken from the old object.
pub fn only_gc_fields_change(new: &Value, old: &Value) -> bool {
    let mut copy = new.clone();
    for k in ["ownerReferences", "finalizers", "selfLink", "managedFields"] {
        let from_old = old.pointer(&format!("/metadata/{k}")).cloned();
        if let Some(m) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
            match from_old {
                Some(v) => {
                    m.insert(k.to_string(), v);
                }
                None => {
                    m.remove(k);
                }
            }
        }
    }
    copy == *old
}

#[async_trait::async_trait]
impl Plugin for ClusterTrustBundleAttest {
    fn name(&self) -> &'static str {
        "ClusterTrustBundleAttest"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if a.def.group != "certificates.k8s.io"
            || a.def.plural != "clustertrustbundles"
            || !matches!(a.operation, Operation::Create | Operation::Update)
        {
            return Ok(());
        }
        let Some(bundle) = a.object.as_ref() else { return Ok(()) };
        let signer = bundle.str_at("/spec/signerName");
        if signer.is_empty() {
            return Ok(());
        }
        if a.operation == Operation::Update && a.old.as_ref().is_some_and(|old| only_gc_fields_change(bundle, old)) {
            return Ok(());
        }
        if !authorized_for_signer(env.ctx, "attest", signer) {
            return Err(a.forbidden(&format!("user not permitted to attest for signerName {signer:?}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Context;
    use crate::request::UserInfo;
    use serde_json::json;

    #[test]
    fn gc_field_changes_are_exempt() {
        let old = json!({"metadata": {"name": "b", "finalizers": ["x"]}, "spec": {"signerName": "e.com/s", "trustBundle": "pem"}});
        let mut new = old.clone();
        new["metadata"]["ownerReferences"] = json!([{"uid": "1"}]);
        new["metadata"]["finalizers"] = json!([]);
        assert!(only_gc_fields_change(&new, &old));
        new["spec"]["trustBundle"] = json!("other");
        assert!(!only_gc_fields_change(&new, &old));
    }

    /// Only ClusterTrustBundles with a signer are checked; `attest` on the signer (or its
    /// domain wildcard) is needed.
    #[tokio::test]
    async fn attest_needed_for_signed_bundles() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let reg = crate::admission::tests::registry_for(dir.path()).await;
        let Some(csr) = crate::api::builtin_row("certificates.k8s.io", "certificatesigningrequests") else {
            panic!("csr row")
        };
        // A stand-in row: capstan does not serve ClusterTrustBundle.
        let mut def = *csr;
        def.plural = "clustertrustbundles";
        def.kind = "ClusterTrustBundle";
        let authz = std::sync::Arc::new(
            crate::auth::authz::Authorizer::new(&["RBAC".to_string()]).unwrap_or_else(|e| panic!("{e}")),
        );
        let ctx = Context::new(UserInfo {
            name: "alice".into(),
            ..Default::default()
        })
        .with_authorizer(authz);
        let cfg = Default::default();
        let env = Env {
            registry: &reg,
            ctx: &ctx,
            config: &cfg,
        };
        let mut a = Attributes::new(&ctx, Operation::Create, &def, None, "b");
        a.object = Some(json!({"metadata": {"name": "b"}, "spec": {"trustBundle": "pem"}}));
        assert!(ClusterTrustBundleAttest.validate(&a, &env).await.is_ok());
        a.object =
            Some(json!({"metadata": {"name": "b"}, "spec": {"signerName": "example.com/s", "trustBundle": "pem"}}));
        let e = ClusterTrustBundleAttest
            .validate(&a, &env)
            .await
            .err()
            .map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("clustertrustbundles.certificates.k8s.io \"b\" is forbidden: user not permitted to attest for signerName \"example.com/s\"")
        );
        // The same object on another kind is not looked at.
        let mut other = Attributes::new(&ctx, Operation::Create, csr, None, "b");
        other.object = a.object.clone();
        assert!(ClusterTrustBundleAttest.validate(&other, &env).await.is_ok());
    }
}
