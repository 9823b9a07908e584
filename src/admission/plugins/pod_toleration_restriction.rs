//! PodTolerationRestriction: new pods get their namespace's default tolerations (annotation
//! `scheduler.alpha.kubernetes.io/defaultTolerations`, else the configured `default`), pods
//! that are not BestEffort tolerate memory pressure, and the merged tolerations must fit the
//! namespace's whitelist (`scheduler.alpha.kubernetes.io/tolerationsWhitelist`, else the
//! configured `whitelist`). Configuration (optional):
//!
//! ```yaml
//! apiVersion: podtolerationrestriction.admission.k8s.io/v1alpha1
//! kind: Configuration
//! default: [{key: dedicated, operator: Exists}]
//! whitelist: [{key: dedicated, operator: Exists}]
//! ```

use super::tolerations;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};

pub const NS_DEFAULT: &str = "scheduler.alpha.kubernetes.io/defaultTolerations";
pub const NS_WHITELIST: &str = "scheduler.alpha.kubernetes.io/tolerationsWhitelist";

pub struct PodTolerationRestriction {
    default: Vec<Value>,
    whitelist: Vec<Value>,
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

impl PodTolerationRestriction {
    /// From the plugin's configuration (none: empty default and whitelist); an invalid one is
    /// refused with upstream's message.
    pub fn new(config: Option<&Value>) -> Result<PodTolerationRestriction, String> {
        let Some(cfg) = config.filter(|c| !c.is_null()) else {
            return Ok(PodTolerationRestriction {
                default: Vec::new(),
                whitelist: Vec::new(),
            });
        };
        let cfg = super::typed_config(cfg, "podtolerationrestriction.admission.k8s.io", "Configuration")?;
        let (default, whitelist) = (list(cfg, "default"), list(cfg, "whitelist"));
        let mut errs = Vec::new();
        crate::api::strategy::core::validate_tolerations(&default, "podtolerationrestriction.default", &mut errs);
        crate::api::strategy::core::validate_tolerations(&whitelist, "podtolerationrestriction.whitelist", &mut errs);
        if !errs.is_empty() {
            let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
            return Err(format!("invalid config: [{}]", all.join(" ")));
        }
        Ok(PodTolerationRestriction { default, whitelist })
    }
}

/// The tolerations a namespace annotation holds: None when absent, empty when "".
pub fn namespace_tolerations(ns: &Value, key: &str) -> Result<Option<Vec<Value>>, String> {
    let Some(v) = ns.pointer("/metadata/annotations").and_then(|a| a.get(key)) else {
        return Ok(None);
    };
    let text = v.as_str().unwrap_or("");
    if text.is_empty() {
        return Ok(Some(Vec::new()));
    }
    serde_json::from_str::<Vec<Value>>(text)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn applies(a: &Attributes) -> bool {
    a.is_core("Pod")
        && a.subresource.is_empty()
        && matches!(a.operation, Operation::Create | Operation::Update)
        && a.object.is_some()
}

/// A plain error upstream returns unwrapped: a 500 without a reason.
fn plain(msg: impl Into<String>) -> ApiError {
    ApiError::new(500, "", msg)
}

async fn namespace(a: &Attributes, env: &Env<'_>) -> ApiResult<Value> {
    env.get("", "namespaces", None, &a.namespace)
        .await?
        .ok_or_else(|| ApiError::not_found("namespaces", "", &a.namespace))
}

impl PodTolerationRestriction {
    fn check(&self, pod: &Value, ns: &Value) -> ApiResult<()> {
        let tols = pod.pointer("/spec/tolerations").and_then(Value::as_array);
        let Some(tols) = tols.filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let (whitelist, scope) = match namespace_tolerations(ns, NS_WHITELIST).map_err(plain)? {
            Some(w) => (w, "namespace"),
            None => (self.whitelist.clone(), "cluster"),
        };
        if !whitelist.is_empty() && !tolerations::verify_against_whitelist(tols, &whitelist) {
            return Err(plain(format!(
                "pod tolerations (possibly merged with namespace default tolerations) conflict with its {scope} whitelist"
            )));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Plugin for PodTolerationRestriction {
    fn name(&self) -> &'static str {
        "PodTolerationRestriction"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let ns = namespace(a, env).await?;
        let mut extra = Vec::new();
        if a.operation == Operation::Create {
            extra = namespace_tolerations(&ns, NS_DEFAULT)
                .map_err(plain)?
                .unwrap_or_else(|| self.default.clone());
        }
        let Some(pod) = a.object.as_mut() else { return Ok(()) };
        if crate::api::strategy::core::pod_qos_class(&pod["spec"]) != "BestEffort" {
            extra.push(
                json!({"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"}),
            );
        }
        if !extra.is_empty() {
            let own = pod
                .pointer("/spec/tolerations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            pod["spec"]["tolerations"] = Value::Array(tolerations::merge(&own, &extra));
        }
        self.check(pod, &ns)
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let ns = namespace(a, env).await?;
        self.check(a.object.as_ref().unwrap_or(&Value::Null), &ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_typed_and_validated() {
        assert!(PodTolerationRestriction::new(None).is_ok());
        let ok = json!({"apiVersion": "podtolerationrestriction.admission.k8s.io/v1alpha1", "kind": "Configuration",
            "default": [{"key": "a", "operator": "Exists"}]});
        assert!(PodTolerationRestriction::new(Some(&ok)).is_ok());
        let e = PodTolerationRestriction::new(Some(&json!({"default": []})))
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("Object 'Kind' is missing in '"), "{e}");
        let bad = json!({"apiVersion": "podtolerationrestriction.admission.k8s.io/v1alpha1", "kind": "Configuration",
            "whitelist": [{"operator": "Equal", "value": "x"}]});
        let e = PodTolerationRestriction::new(Some(&bad)).err().unwrap_or_default();
        assert_eq!(
            e,
            "invalid config: [podtolerationrestriction.whitelist[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"]"
        );
    }

    /// Upstream's TestPodAdmission: namespace annotations win over the cluster config; an
    /// empty annotation means "none"; tolerations outside the whitelist are refused.
    #[test]
    fn namespace_annotations_and_whitelist() {
        let ns = json!({"metadata": {"annotations": {
            NS_DEFAULT: "[{\"key\": \"testKey\", \"operator\": \"Equal\", \"value\": \"testValue\", \"effect\": \"NoSchedule\"}]",
            NS_WHITELIST: "[{\"operator\": \"Exists\", \"effect\": \"NoSchedule\"}]",
        }}});
        let d = namespace_tolerations(&ns, NS_DEFAULT)
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(d[0]["key"], "testKey");
        let empty = json!({"metadata": {"annotations": {NS_DEFAULT: ""}}});
        assert_eq!(namespace_tolerations(&empty, NS_DEFAULT), Ok(Some(vec![])));
        assert_eq!(namespace_tolerations(&json!({}), NS_DEFAULT), Ok(None));
        assert!(
            namespace_tolerations(&json!({"metadata": {"annotations": {NS_DEFAULT: "nope"}}}), NS_DEFAULT).is_err()
        );

        let p = PodTolerationRestriction {
            default: vec![],
            whitelist: vec![json!({"key": "ok", "operator": "Exists"})],
        };
        let pod = |t: Value| json!({"spec": {"tolerations": [t]}});
        assert!(p
            .check(
                &pod(json!({"key": "a", "operator": "Exists", "effect": "NoSchedule"})),
                &ns
            )
            .is_ok());
        let e = p
            .check(
                &pod(json!({"key": "a", "operator": "Exists", "effect": "NoExecute"})),
                &ns,
            )
            .err();
        assert_eq!(
            e.map(|e| (e.code, e.message)),
            Some((500, "pod tolerations (possibly merged with namespace default tolerations) conflict with its namespace whitelist".into()))
        );
        let no_ns_list = json!({"metadata": {}});
        assert!(p
            .check(&pod(json!({"key": "ok", "operator": "Exists"})), &no_ns_list)
            .is_ok());
        let e = p
            .check(&pod(json!({"key": "other", "operator": "Exists"})), &no_ns_list)
            .err();
        assert!(e.is_some_and(|e| e.message.ends_with("conflict with its cluster whitelist")));
    }
}
