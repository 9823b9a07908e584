//! NamespaceExists: every write into a namespace that does not exist is refused with the
//! namespace's 404 (NamespaceLifecycle does this for creates only).

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::{ApiError, ApiResult};

pub struct NamespaceExists;

/// A write into a namespace other than to a Namespace itself (the two namespace plugins' scope).
pub fn in_namespace(a: &Attributes) -> bool {
    !a.namespace.is_empty() && !a.is_core("Namespace")
}

#[async_trait::async_trait]
impl Plugin for NamespaceExists {
    fn name(&self) -> &'static str {
        "NamespaceExists"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if a.operation == Operation::Connect || !in_namespace(a) {
            return Ok(());
        }
        match env.get("", "namespaces", None, &a.namespace).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found("namespaces", "", &a.namespace)),
        }
    }
}
