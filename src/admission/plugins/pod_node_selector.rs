//! PodNodeSelector: a new pod's `nodeSelector` is merged with its namespace's node selector
//! (annotation `scheduler.alpha.kubernetes.io/node-selector`, else the configured
//! `clusterDefaultNodeSelector`), may not conflict with it, and must stay inside the
//! namespace's whitelist from the plugin configuration:
//!
//! ```yaml
//! podNodeSelectorPluginConfig:
//!   clusterDefaultNodeSelector: "env=prod"
//!   team-a: "env=prod,team=a"     # whitelist for namespace team-a
//! ```

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::field::FieldError;
use crate::error::{ApiError, ApiResult};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const NODE_SELECTOR_ANN: &str = "scheduler.alpha.kubernetes.io/node-selector";

type Labels = BTreeMap<String, String>;

pub struct PodNodeSelector {
    /// `clusterDefaultNodeSelector` and per-namespace whitelists, as written.
    cluster: BTreeMap<String, String>,
}

impl PodNodeSelector {
    /// From the plugin's configuration; as upstream, unreadable parts are ignored.
    pub fn new(config: Option<&Value>) -> PodNodeSelector {
        // Go's JSON decoding matches the field name case-insensitively.
        let section = config
            .and_then(Value::as_object)
            .and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("podNodeSelectorPluginConfig"))
            })
            .and_then(|(_, v)| v.as_object());
        let cluster = section
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        PodNodeSelector { cluster }
    }
}

/// Upstream's `labels.ConvertSelectorToLabelsMap`: `k1=v1,k2=v2` with valid keys and values.
pub fn selector_to_labels(selector: &str) -> Result<Labels, String> {
    let mut out = Labels::new();
    if selector.is_empty() {
        return Ok(out);
    }
    for label in selector.split(',') {
        let parts: Vec<&str> = label.split('=').collect();
        if parts.len() != 2 {
            return Err(format!("invalid selector: [{}]", parts.join(" ")));
        }
        let (k, v) = (parts[0].trim(), parts[1].trim());
        let errs = crate::api::validation::is_qualified_name(k);
        if !errs.is_empty() {
            return Err(FieldError::invalid("<nil>", k, errs.join("; ")).to_string());
        }
        let errs = crate::api::validation::is_valid_label_value(v);
        if !errs.is_empty() {
            return Err(FieldError::invalid(format!("[{k}]"), v, errs.join("; ")).to_string());
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// A key both maps hold with different values.
pub fn conflicts(a: &Labels, b: &Labels) -> bool {
    a.iter().any(|(k, v)| b.get(k).is_some_and(|w| w != v))
}

fn pod_selector(pod: &Value) -> Labels {
    pod.pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// A plain error upstream returns unwrapped: a 500 without a reason.
fn plain(msg: String) -> ApiError {
    ApiError::new(500, "", msg)
}

impl PodNodeSelector {
    /// The namespace's selector: its annotation, else the cluster default.
    fn namespace_selector(&self, ns: &Value) -> Result<Labels, String> {
        match ns
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(NODE_SELECTOR_ANN))
        {
            Some(sel) => selector_to_labels(sel.as_str().unwrap_or("")),
            None => selector_to_labels(
                self.cluster
                    .get("clusterDefaultNodeSelector")
                    .map_or("", String::as_str),
            ),
        }
    }

    async fn selector_of(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<Labels> {
        let ns = env
            .get("", "namespaces", None, &a.namespace)
            .await?
            .ok_or_else(|| ApiError::internal(format!("namespace {} does not exist", a.namespace)))?;
        self.namespace_selector(&ns).map_err(plain)
    }

    fn check(&self, a: &Attributes, ns_selector: &Labels, pod: &Value) -> ApiResult<()> {
        let selector = pod_selector(pod);
        if conflicts(ns_selector, &selector) {
            return Err(a.forbidden("pod node label selector conflicts with its namespace node label selector"));
        }
        let whitelist = selector_to_labels(self.cluster.get(&a.namespace).map_or("", String::as_str)).map_err(plain)?;
        let subset = whitelist.is_empty() || selector.iter().all(|(k, v)| whitelist.get(k) == Some(v));
        if !subset {
            return Err(a.forbidden("pod node label selector labels conflict with its namespace whitelist"));
        }
        Ok(())
    }
}

fn applies(a: &Attributes) -> bool {
    a.is_core("Pod") && a.subresource.is_empty() && a.operation == Operation::Create && a.object.is_some()
}

#[async_trait::async_trait]
impl Plugin for PodNodeSelector {
    fn name(&self) -> &'static str {
        "PodNodeSelector"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let ns_selector = self.selector_of(a, env).await?;
        let Some(pod) = a.object.as_ref() else { return Ok(()) };
        let mut merged = ns_selector.clone();
        let own = pod_selector(pod);
        if conflicts(&ns_selector, &own) {
            return Err(a.forbidden("pod node label selector conflicts with its namespace node label selector"));
        }
        merged.extend(own);
        if let Some(pod) = a.object.as_mut() {
            let m: Map<String, Value> = merged.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            pod["spec"]["nodeSelector"] = Value::Object(m);
        }
        let pod = a.object.clone().unwrap_or_default();
        self.check(a, &ns_selector, &pod)
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let ns_selector = self.selector_of(a, env).await?;
        let pod = a.object.clone().unwrap_or_default();
        self.check(a, &ns_selector, &pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(s: &str) -> Labels {
        selector_to_labels(s).unwrap_or_default()
    }

    #[test]
    fn selector_strings() {
        assert_eq!(
            labels("a=b, c = d"),
            Labels::from([("a".into(), "b".into()), ("c".into(), "d".into())])
        );
        assert!(labels("").is_empty());
        assert_eq!(
            selector_to_labels("a=b=c").err().as_deref(),
            Some("invalid selector: [a b c]")
        );
        assert_eq!(
            selector_to_labels("noequals").err().as_deref(),
            Some("invalid selector: [noequals]")
        );
        let e = selector_to_labels("a=b!").err().unwrap_or_default();
        assert!(
            e.starts_with("[a]: Invalid value: \"b!\": a valid label must be"),
            "{e}"
        );
    }

    /// Upstream's TestPodAdmission table: namespace annotation vs cluster default, merge,
    /// conflicts and the whitelist.
    #[test]
    fn namespace_selector_and_whitelist() {
        let p = PodNodeSelector::new(Some(&json!({"podNodeSelectorPluginConfig": {
            "clusterDefaultNodeSelector": "env=development",
            "testNamespace": "env=production,infra=false",
        }})));
        let annotated =
            json!({"metadata": {"name": "testNamespace", "annotations": {NODE_SELECTOR_ANN: "infra=false"}}});
        let plain_ns = json!({"metadata": {"name": "other"}});
        assert_eq!(p.namespace_selector(&annotated), Ok(labels("infra=false")));
        assert_eq!(p.namespace_selector(&plain_ns), Ok(labels("env=development")));
        let empty = json!({"metadata": {"annotations": {NODE_SELECTOR_ANN: ""}}});
        assert_eq!(p.namespace_selector(&empty), Ok(Labels::new()));
        assert!(conflicts(&labels("infra=false"), &labels("infra=true")));
        assert!(!conflicts(&labels("infra=false"), &labels("env=production")));
        // Case-insensitive section name, as Go's decoder.
        let p2 = PodNodeSelector::new(Some(
            &json!({"PodNodeSelectorPluginConfig": {"clusterDefaultNodeSelector": "a=b"}}),
        ));
        assert_eq!(
            p2.cluster.get("clusterDefaultNodeSelector").map(String::as_str),
            Some("a=b")
        );
    }
}
