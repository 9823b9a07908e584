//! AlwaysPullImages: every container of a new or updated pod pulls its image
//! (`imagePullPolicy: Always`), so a node's cache can't leak private images.

use super::containers_mut;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use serde_json::{json, Value};

pub struct AlwaysPullImages;

fn applies(a: &Attributes) -> bool {
    a.is_core("Pod")
        && matches!(a.operation, Operation::Create | Operation::Update)
        && (a.subresource.is_empty() || a.subresource == "ephemeralcontainers")
}

#[async_trait::async_trait]
impl Plugin for AlwaysPullImages {
    fn name(&self) -> &'static str {
        "AlwaysPullImages"
    }
    async fn admit(&self, a: &mut Attributes, _env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        if let Some(spec) = a.object.as_mut().and_then(|p| p.get_mut("spec")) {
            containers_mut(spec, |_, c| c["imagePullPolicy"] = json!("Always"));
        }
        Ok(())
    }
    async fn validate(&self, a: &Attributes, _env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let Some(spec) = a.object.as_ref().map(|p| &p["spec"]) else {
            return Ok(());
        };
        let mut errs = Vec::new();
        for (list, i, c) in super::containers(spec) {
            let p = c.get("imagePullPolicy").and_then(Value::as_str).unwrap_or("");
            if p != "Always" {
                errs.push(format!(
                    "spec.{list}[{i}].imagePullPolicy: Unsupported value: \"{p}\": supported values: \"Always\""
                ));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(a.forbidden(&super::limit_ranger::aggregate(&errs)))
        }
    }
}
