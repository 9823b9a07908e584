//! DefaultIngressClass: a new Ingress naming no class (neither `spec.ingressClassName` nor the
//! `kubernetes.io/ingress.class` annotation) gets the default IngressClass (annotation
//! `ingressclass.kubernetes.io/is-default-class: "true"`; the newest wins, as upstream).

use super::default_storage_class::pick_default;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use serde_json::json;

pub struct DefaultIngressClass;

const DEFAULT_ANN: &str = "ingressclass.kubernetes.io/is-default-class";
const CLASS_ANN: &str = "kubernetes.io/ingress.class";

#[async_trait::async_trait]
impl Plugin for DefaultIngressClass {
    fn name(&self) -> &'static str {
        "DefaultIngressClass"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        let ingress = a.def.group == "networking.k8s.io" && a.def.plural == "ingresses";
        if !ingress || a.operation != Operation::Create || !a.subresource.is_empty() {
            return Ok(());
        }
        let Some(obj) = a.object.as_ref() else { return Ok(()) };
        if obj.pointer("/spec/ingressClassName").is_some_and(|v| !v.is_null())
            || obj
                .pointer("/metadata/annotations")
                .and_then(|m| m.get(CLASS_ANN))
                .is_some()
        {
            return Ok(());
        }
        let classes = env.list_cached("networking.k8s.io", "ingressclasses", None).await?;
        if let (Some(name), Some(obj)) = (pick_default(&classes, DEFAULT_ANN), a.object.as_mut()) {
            if !obj.get("spec").is_some_and(|s| s.is_object()) {
                obj["spec"] = json!({});
            }
            obj["spec"]["ingressClassName"] = json!(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn class(name: &str, created: &str, default: Option<&str>) -> Value {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created}});
        if let Some(d) = default {
            c["metadata"]["annotations"] = json!({DEFAULT_ANN: d});
        }
        c
    }

    /// Upstream's TestDefaultIngressClass cases: no default, one, the newest of several, and
    /// the name breaking a tie.
    #[test]
    fn picks_the_newest_default() {
        let t1 = "2024-01-01T00:00:00Z";
        let t2 = "2024-01-02T00:00:00Z";
        assert_eq!(pick_default(&[class("a", t1, None)], DEFAULT_ANN), None);
        assert_eq!(pick_default(&[class("a", t1, Some("false"))], DEFAULT_ANN), None);
        assert_eq!(
            pick_default(&[class("a", t1, Some("true")), class("b", t1, None)], DEFAULT_ANN).as_deref(),
            Some("a")
        );
        assert_eq!(
            pick_default(
                &[class("old", t1, Some("true")), class("new", t2, Some("true"))],
                DEFAULT_ANN
            )
            .as_deref(),
            Some("new")
        );
        assert_eq!(
            pick_default(
                &[class("y", t1, Some("true")), class("x", t1, Some("true"))],
                DEFAULT_ANN
            )
            .as_deref(),
            Some("x")
        );
    }
}
