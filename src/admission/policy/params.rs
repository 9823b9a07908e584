//! A binding's params (upstream `collectParams`): the objects its `paramRef` names or selects,
//! of the policy's `paramKind`, read from the watch cache.

use super::super::{Attributes, Env};
use crate::registry::options::ListOptions;
use crate::util::json::JsonExt;
use serde_json::Value;

/// Why params could not be collected: the policy is misconfigured (`failed to configure
/// policy`) or the binding (`failed to configure binding`).
pub enum ParamError {
    Policy(String),
    Binding(String),
}

/// The params to evaluate the policy with; None: no params found and the binding allows
/// that (the policy is skipped).
pub async fn collect(
    kind: &(String, String),
    binding: &Value,
    a: &Attributes,
    env: &Env<'_>,
) -> Result<Option<Vec<Value>>, ParamError> {
    let (api_version, kind) = kind;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let reg = env.registry;
    let Some(def) = reg
        .resources
        .all()
        .into_iter()
        .find(|d| d.group == group && d.version == version && d.kind == kind && !d.plural.contains('/'))
        .and_then(|d| reg.find(d.group, d.version, d.plural))
    else {
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        return Err(ParamError::Policy(format!(
            "failed to find resource referenced by paramKind: '{gv}, Kind={kind}'"
        )));
    };
    let Some(r) = binding.get("paramRef").filter(|r| r.is_object()) else {
        return Err(ParamError::Binding(
            "paramRef is required when paramKind is specified".into(),
        ));
    };
    let ns = if def.namespaced() {
        let ns = r.opt_str_at("/namespace").unwrap_or(&a.namespace);
        if ns.is_empty() {
            return Err(ParamError::Binding(
                "cannot use namespaced paramRef in policy binding that matches cluster-scoped resources".into(),
            ));
        }
        Some(ns.to_string())
    } else {
        None
    };
    let internal = |e: crate::error::ApiError| ParamError::Binding(e.message);
    let found: Vec<Value> = if let Some(name) = r.opt_str_at("/name").filter(|n| !n.is_empty()) {
        match reg.get(def, ns.as_deref(), name, Some(0)).await {
            Ok(o) => vec![o.value()],
            Err(e) if e.code == 404 => Vec::new(),
            Err(e) => return Err(internal(e)),
        }
    } else {
        let sel = crate::api::selector::label_selector_string(r.get("selector")).map_err(ParamError::Binding)?;
        let opts = ListOptions {
            label_selector: crate::api::selector::LabelSelector::parse(&sel).map_err(ParamError::Binding)?,
            resource_version: Some("0".into()),
            ..Default::default()
        };
        let l = reg.list(def, ns.as_deref(), &opts).await.map_err(internal)?;
        l.items.iter().map(|o| o.value()).collect()
    };
    if !found.is_empty() {
        return Ok(Some(found));
    }
    if r.opt_str_at("/parameterNotFoundAction") == Some("Deny") {
        return Err(ParamError::Binding(
            "no params found for policy binding with `Deny` parameterNotFoundAction".into(),
        ));
    }
    Ok(None)
}
