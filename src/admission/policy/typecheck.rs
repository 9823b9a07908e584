//! `status.typeChecking` of ValidatingAdmissionPolicies (upstream's type-checking
//! controller): each policy generation's expressions are checked with `object` and
//! `oldObject` typed by the schema of every custom resource its rules name exactly, and the
//! errors are written as `expressionWarnings` with `observedGeneration`.
//!
//! Built-in kinds are not type-checked against their schemas here (their expressions see
//! `object` as dyn), so a policy on built-ins gets an empty `typeChecking`.

use super::{GROUP, POLICIES};
use crate::cel::policy as compile;
use crate::cel::{schema, Mode, Type};
use crate::registry::store::Part;
use crate::registry::Registry;
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Default)]
pub struct Checker {
    /// The generation last written per policy name.
    done: HashMap<String, i64>,
}

/// The schema-typed kinds a policy's rules name: `(group/version, Kind, schema)`.
fn typed_kinds(reg: &Registry, policy: &Value) -> Vec<(String, String, Value)> {
    let Some(crds_def) = reg.find("apiextensions.k8s.io", "v1", "customresourcedefinitions") else {
        return Vec::new();
    };
    let cache = reg.caches.cache(crds_def.storage);
    let mut out = Vec::new();
    for r in policy
        .pointer("/spec/matchConstraints/resourceRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let strs = |f: &str| -> Vec<String> {
            r.get(f)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        for g in strs("apiGroups").iter().filter(|g| *g != "*") {
            for res in strs("resources")
                .iter()
                .filter(|r| !r.contains('*') && !r.contains('/'))
            {
                let key = format!("{}{res}.{g}", reg.key_prefix(crds_def, None));
                let Some(crd) = cache.get(&key) else { continue };
                let kind = crd.value.str_at("/spec/names/kind").to_string();
                for v in crd
                    .value
                    .pointer("/spec/versions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = v.str_at("/name");
                    let wanted = strs("apiVersions");
                    if !wanted.iter().any(|w| w == "*" || w == name) {
                        continue;
                    }
                    if let Some(s) = v.pointer("/schema/openAPIV3Schema") {
                        out.push((format!("{g}/{name}"), kind.clone(), s.clone()));
                    }
                }
            }
        }
    }
    out
}

/// The warnings for one policy.
pub fn warnings(reg: &Registry, policy: &Value) -> Vec<Value> {
    let spec = policy.get("spec").cloned().unwrap_or(Value::Null);
    let var_names: Vec<String> = spec
        .get("variables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| v.str_at("/name").to_string())
        .collect();
    let mut by_field: Vec<(String, Vec<String>)> = Vec::new();
    for (gv, kind, s) in typed_kinds(reg, policy) {
        let Some(decl) = schema::from_openapi(&s, true, &kind, None) else {
            continue;
        };
        let t = decl.cel_type();
        let env = compile::env(&var_names, Mode::Stored)
            .var("object", t.clone())
            .var("oldObject", t);
        let mut check = |field: String, src: &str, want: &[Type]| {
            if src.is_empty() {
                return;
            }
            if let Err(e) = compile::compile_fresh(&env, src, want) {
                let e = e.strip_prefix("compilation failed: ").unwrap_or(&e).to_string();
                let msg = format!("{gv}, Kind={kind}: {e}");
                match by_field.iter_mut().find(|(f, _)| *f == field) {
                    Some((_, v)) => v.push(msg),
                    None => by_field.push((field, vec![msg])),
                }
            }
        };
        let items = |f: &str| spec.get(f).and_then(Value::as_array).cloned().unwrap_or_default();
        for (i, m) in items("matchConditions").iter().enumerate() {
            check(
                format!("spec.matchConditions[{i}].expression"),
                m.str_at("/expression"),
                &[Type::Bool],
            );
        }
        for (i, v) in items("validations").iter().enumerate() {
            check(
                format!("spec.validations[{i}].expression"),
                v.str_at("/expression"),
                &[Type::Bool],
            );
            check(
                format!("spec.validations[{i}].messageExpression"),
                v.str_at("/messageExpression"),
                &[Type::String],
            );
        }
        for (i, a) in items("auditAnnotations").iter().enumerate() {
            check(
                format!("spec.auditAnnotations[{i}].valueExpression"),
                a.str_at("/valueExpression"),
                &[Type::String, Type::Null],
            );
        }
    }
    by_field
        .into_iter()
        .map(|(f, w)| json!({"fieldRef": f, "warning": w.iter().map(|m| format!("{m}\n")).collect::<String>()}))
        .collect()
}

impl Checker {
    /// Write `status.typeChecking` for every policy generation not written yet.
    pub async fn run(&mut self, reg: &Registry) {
        let Some(def) = reg.find(GROUP, "v1", POLICIES) else {
            return;
        };
        let snap = reg.caches.cache(def.storage).snapshot(&reg.key_prefix(def, None));
        self.done
            .retain(|n, _| snap.items.iter().any(|o| o.value.str_at("/metadata/name") == n));
        for o in &snap.items {
            let p = &o.value;
            let name = p.str_at("/metadata/name").to_string();
            let generation = p.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            let observed = p.pointer("/status/observedGeneration").and_then(Value::as_i64);
            if observed == Some(generation) || self.done.get(&name) == Some(&generation) {
                continue;
            }
            let mut updated = p.clone();
            updated["status"] = json!({
                "observedGeneration": generation,
                "typeChecking": {"expressionWarnings": warnings(reg, p)},
            });
            if updated["status"]["typeChecking"]["expressionWarnings"]
                .as_array()
                .is_some_and(Vec::is_empty)
            {
                updated["status"]["typeChecking"] = json!({});
            }
            match reg.update(def, None, &name, updated, Part::Status, false, None).await {
                Ok(_) => {
                    self.done.insert(name, generation);
                }
                Err(e) => tracing::debug!(policy = %name, error = %e.message, "policy status update failed"),
            }
        }
    }
}
