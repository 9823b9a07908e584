//! NamespaceAutoProvision: a create into a namespace that does not exist creates the namespace
//! first (dry runs excepted), for clusters that do not want namespaces declared up front.

use super::namespace_exists::in_namespace;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use serde_json::json;

pub struct NamespaceAutoProvision;

#[async_trait::async_trait]
impl Plugin for NamespaceAutoProvision {
    fn name(&self) -> &'static str {
        "NamespaceAutoProvision"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if a.dry_run || a.operation != Operation::Create || !in_namespace(a) {
            return Ok(());
        }
        if env.get("", "namespaces", None, &a.namespace).await?.is_some() {
            return Ok(());
        }
        let Some(def) = crate::api::builtin_row("", "namespaces") else {
            return Ok(());
        };
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": a.namespace}});
        match env.registry.create(def, None, ns, false).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_already_exists() => Ok(()),
            Err(e) => Err(a.forbidden(&e.message)),
        }
    }
}
