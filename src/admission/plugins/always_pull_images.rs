//! AlwaysPullImages: every container of a new or updated pod pulls its image
//! (`imagePullPolicy: Always`), and so does every image volume (`volumes[].image.pullPolicy`),
//! so a node's cache can't leak private images. Subresources and updates that bring no new
//! image are left alone, as upstream.

use super::containers_mut;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::field::FieldError;
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::collections::HashSet;

pub struct AlwaysPullImages;

fn images(pod: &Value) -> HashSet<&str> {
    super::containers(&pod["spec"])
        .into_iter()
        .map(|(_, _, c)| c.str_of("image"))
        .collect()
}

fn applies(a: &Attributes) -> bool {
    if !a.is_core("Pod") || !a.subresource.is_empty() || !matches!(a.operation, Operation::Create | Operation::Update) {
        return false;
    }
    // An update that references no image the pod did not have already is not looked at.
    match (a.operation, a.object.as_ref(), a.old.as_ref()) {
        (Operation::Update, Some(new), Some(old)) => {
            let old = images(old);
            images(new).iter().any(|i| !old.contains(i))
        }
        _ => true,
    }
}

/// Upstream's messages for what is not `Always` (containers in visiting order, then image
/// volumes).
pub fn violations(pod: &Value) -> Vec<FieldError> {
    let spec = &pod["spec"];
    let mut errs = Vec::new();
    for (list, i, c) in super::containers(spec) {
        let p = c.str_of("imagePullPolicy");
        if p != "Always" {
            errs.push(FieldError::not_supported(
                format!("spec.{list}[{i}].imagePullPolicy"),
                p,
                &["Always"],
            ));
        }
    }
    for (i, v) in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(img) = v.get("image").filter(|i| i.is_object()) {
            let p = img.str_of("pullPolicy");
            if p != "Always" {
                errs.push(FieldError::not_supported(
                    format!("spec.volumes[{i}].image.pullPolicy"),
                    p,
                    &["Always"],
                ));
            }
        }
    }
    errs
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
            for v in spec
                .get_mut("volumes")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(img) = v.get_mut("image").filter(|i| i.is_object()) {
                    img["pullPolicy"] = json!("Always");
                }
            }
        }
        Ok(())
    }
    async fn validate(&self, a: &Attributes, _env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let Some(pod) = a.object.as_ref() else { return Ok(()) };
        let errs: Vec<String> = violations(pod)
            .iter()
            .map(|e| a.forbidden(&e.to_string()).message)
            .collect();
        if errs.is_empty() {
            return Ok(());
        }
        // Upstream returns an aggregate of Forbidden errors, which the server reports as a
        // 500 without a reason.
        Err(ApiError::new(500, "", super::limit_ranger::aggregate(&errs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_container_and_image_volume() {
        let pod = json!({"spec": {
            "initContainers": [{"name": "i", "image": "a", "imagePullPolicy": "Never"}],
            "containers": [{"name": "c", "image": "b", "imagePullPolicy": "Always"}, {"name": "d", "image": "c"}],
            "volumes": [{"name": "v", "image": {"reference": "x", "pullPolicy": "IfNotPresent"}}, {"name": "e", "emptyDir": {}}],
        }});
        let msgs: Vec<String> = violations(&pod).iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "spec.initContainers[0].imagePullPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.containers[1].imagePullPolicy: Unsupported value: \"\": supported values: \"Always\"",
                "spec.volumes[0].image.pullPolicy: Unsupported value: \"IfNotPresent\": supported values: \"Always\"",
            ]
        );
    }

    /// Upstream's TestUpdatePod: an update that adds no image is not changed.
    #[test]
    fn updates_without_new_images_are_skipped() {
        let ctx = crate::admission::Context::default();
        let Some(def) = crate::api::builtin_row("", "pods") else {
            panic!("pods row")
        };
        let mut a = Attributes::new(&ctx, Operation::Update, def, Some("ns"), "p");
        let old = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        a.old = Some(old.clone());
        a.object = Some(json!({"spec": {"containers": [{"image": "b"}]}}));
        assert!(!applies(&a));
        a.object = Some(json!({"spec": {"containers": [{"image": "c"}]}}));
        assert!(applies(&a));
        a.subresource = "ephemeralcontainers".into();
        assert!(!applies(&a));
    }
}
