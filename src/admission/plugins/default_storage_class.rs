//! DefaultStorageClass: a new PVC without `storageClassName` gets the default StorageClass
//! (annotation `storageclass.kubernetes.io/is-default-class: "true"`; the newest wins).

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

pub struct DefaultStorageClass;

const DEFAULT_ANN: &str = "storageclass.kubernetes.io/is-default-class";

/// The default class among `classes` (StorageClasses, IngressClasses): those annotated
/// `<annotation>: "true"`, the newest creationTimestamp first, then by name (as upstream).
pub fn pick_default(classes: &[Value], annotation: &str) -> Option<String> {
    let mut defaults: Vec<&Value> = classes
        .iter()
        .filter(|c| {
            c.pointer("/metadata/annotations")
                .and_then(|a| a.get(annotation))
                .and_then(Value::as_str)
                == Some("true")
        })
        .collect();
    defaults.sort_by(|a, b| {
        let ka = (a.str_at("/metadata/creationTimestamp"), a.str_at("/metadata/name"));
        let kb = (b.str_at("/metadata/creationTimestamp"), b.str_at("/metadata/name"));
        kb.0.cmp(ka.0).then(ka.1.cmp(kb.1))
    });
    defaults.first().map(|c| c.str_at("/metadata/name").to_string())
}

#[async_trait::async_trait]
impl Plugin for DefaultStorageClass {
    fn name(&self) -> &'static str {
        "DefaultStorageClass"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !a.is_core("PersistentVolumeClaim") || a.operation != Operation::Create || !a.subresource.is_empty() {
            return Ok(());
        }
        let has_class = a
            .object
            .as_ref()
            .and_then(|p| p.pointer("/spec/storageClassName"))
            .is_some_and(|v| !v.is_null());
        if has_class {
            return Ok(());
        }
        let classes = env.list_cached("storage.k8s.io", "storageclasses", None).await?;
        if let (Some(name), Some(pvc)) = (pick_default(&classes, DEFAULT_ANN), a.object.as_mut()) {
            pvc["spec"]["storageClassName"] = json!(name);
        }
        Ok(())
    }
}
