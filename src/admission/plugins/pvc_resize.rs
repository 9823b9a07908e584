//! PersistentVolumeClaimResize: growing a bound PVC's storage request needs a StorageClass
//! with `allowVolumeExpansion: true`.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use crate::util::quantity;
use serde_json::Value;

pub struct PersistentVolumeClaimResize;

#[async_trait::async_trait]
impl Plugin for PersistentVolumeClaimResize {
    fn name(&self) -> &'static str {
        "PersistentVolumeClaimResize"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !a.is_core("PersistentVolumeClaim") || a.operation != Operation::Update || !a.subresource.is_empty() {
            return Ok(());
        }
        let (Some(new), Some(old)) = (a.object.as_ref(), a.old.as_ref()) else {
            return Ok(());
        };
        let size = |o: &Value| o.pointer("/spec/resources/requests/storage").and_then(quantity::milli);
        let (Some(n), Some(o)) = (size(new), size(old)) else {
            return Ok(());
        };
        if n <= o || old.str_at("/status/phase") != "Bound" {
            return Ok(());
        }
        let class = new.str_at("/spec/storageClassName");
        let allowed = if class.is_empty() {
            false
        } else {
            env.get("storage.k8s.io", "storageclasses", None, class)
                .await?
                .and_then(|sc| sc.get("allowVolumeExpansion").and_then(Value::as_bool))
                .unwrap_or(false)
        };
        if !allowed {
            return Err(a.forbidden(
                "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize",
            ));
        }
        Ok(())
    }
}
