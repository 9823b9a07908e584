//! StorageObjectInUseProtection: new PVCs and PVs carry the `kubernetes.io/pvc-protection` /
//! `kubernetes.io/pv-protection` finalizer so they outlive their users; with the
//! VolumeAttributesClass gate, new VolumeAttributesClasses `kubernetes.io/vac-protection`.

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

pub struct StorageObjectInUseProtection;

pub fn add_finalizer(obj: &mut Value, f: &str) {
    let mut list = obj.arr_at("/metadata/finalizers").to_vec();
    if !list.iter().any(|v| v == f) {
        list.push(json!(f));
        obj["metadata"]["finalizers"] = Value::Array(list);
    }
}

#[async_trait::async_trait]
impl Plugin for StorageObjectInUseProtection {
    fn name(&self) -> &'static str {
        "StorageObjectInUseProtection"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if a.operation != Operation::Create || !a.subresource.is_empty() {
            return Ok(());
        }
        let f = if a.is_core("PersistentVolumeClaim") {
            "kubernetes.io/pvc-protection"
        } else if a.is_core("PersistentVolume") {
            "kubernetes.io/pv-protection"
        } else if a.def.group == "storage.k8s.io"
            && a.def.kind == "VolumeAttributesClass"
            && env.registry.features.enabled("VolumeAttributesClass")
        {
            "kubernetes.io/vac-protection"
        } else {
            return Ok(());
        };
        if let Some(o) = a.object.as_mut() {
            add_finalizer(o, f);
        }
        Ok(())
    }
}
