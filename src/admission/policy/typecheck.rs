//! `status.typeChecking` of ValidatingAdmissionPolicies (upstream's type-checking
//! controller, `validatingadmissionpolicy-status-controller`): each policy generation's
//! validations (`expression`, `messageExpression`) are checked with `object` and `oldObject`
//! typed by the schema of every kind its rules name exactly (built-in kinds: the OpenAPI
//! schemas capstan serves; custom resources: their CRD version's schema), `params` by the
//! paramKind's schema and `variables` by their expressions' types. Errors are written as
//! `expressionWarnings` with `observedGeneration`, in upstream's text.

use super::{Kind, GROUP};
use crate::api::schema::openapi_json::{closure, definitions, Dialect};
use crate::api::schema::{self as builtin_schema};
use crate::cel::policy as compile;
use crate::cel::schema::{self, DeclType};
use crate::cel::types::{Fields, StructType};
use crate::cel::{Mode, Type};
use crate::registry::store::Part;
use crate::registry::Registry;
use crate::util::json::JsonExt;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Upstream `maxTypesToCheck`: resolved kinds past this many are not checked.
const MAX_TYPES_TO_CHECK: usize = 10;

#[derive(Default)]
pub struct Checker {
    /// The generation last written per policy name.
    done: HashMap<String, i64>,
}

/// A kind a policy is checked against.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Gvk {
    group: String,
    version: String,
    kind: String,
}

impl Gvk {
    /// Upstream prints `GroupVersion().String()` as `group/version` (`/v1` for the core group).
    fn label(&self) -> String {
        format!("{}/{}, Kind={}", self.group, self.version, self.kind)
    }
}

/// Upstream `typesToCheck`: the kinds of every (group, version, resource) the rules name
/// exactly. A rule with a wildcard group or version is skipped, as are wildcard and
/// subresource entries; at most [`MAX_TYPES_TO_CHECK`]; sorted by group, version, kind.
fn kinds_to_check(reg: &Registry, policy: &Value) -> Vec<Gvk> {
    let mut out = BTreeSet::new();
    let mut count = 0;
    for r in policy
        .pointer("/spec/matchConstraints/resourceRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let strs = |f: &str| -> Vec<&str> {
            let mut v: Vec<&str> = r
                .get(f)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            v.sort_unstable();
            v
        };
        let (groups, versions) = (strs("apiGroups"), strs("apiVersions"));
        if groups.iter().chain(&versions).any(|s| s.contains('*')) {
            continue;
        }
        let resources: Vec<&str> = strs("resources")
            .into_iter()
            .filter(|r| !r.contains('*') && !r.contains('/'))
            .collect();
        for g in &groups {
            for v in &versions {
                for res in &resources {
                    let Some(def) = reg.find(g, v, res) else { continue };
                    out.insert(Gvk {
                        group: def.group.to_string(),
                        version: def.version.to_string(),
                        kind: def.kind.to_string(),
                    });
                    count += 1;
                    if count == MAX_TYPES_TO_CHECK {
                        return out.into_iter().collect();
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

/// The CEL declaration of a kind's schema: a built-in's OpenAPI v3 definition (with its
/// references), else the custom resource's CRD version schema.
fn kind_decl(reg: &Registry, gvk: &Gvk) -> Option<Arc<DeclType>> {
    let schemas = builtin_schema::builtin();
    if let Some(name) = schemas
        .kinds
        .get(&(gvk.group.clone(), gvk.version.clone(), gvk.kind.clone()))
    {
        let defs: Map<String, Value> = definitions(schemas, Dialect::V3, &closure(schemas, [name.clone()]));
        let resolve = |r: &str| r.strip_prefix("#/components/schemas/").and_then(|n| defs.get(n));
        return schema::from_openapi(defs.get(name)?, true, &gvk.kind, Some(&resolve));
    }
    let def = reg
        .resources
        .by_kind(&gvk.group, &gvk.version, &gvk.kind)
        .into_iter()
        .next()?;
    let crds_def = reg.find("apiextensions.k8s.io", "v1", "customresourcedefinitions")?;
    let key = format!("{}{}.{}", reg.key_prefix(crds_def, None), def.plural, gvk.group);
    let crd = reg.caches.cache(crds_def.storage).get(&key)?.value();
    let version = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)?
        .iter()
        .find(|v| v.str_at("/name") == gvk.version)?;
    schema::from_openapi(version.pointer("/schema/openAPIV3Schema")?, true, &gvk.kind, None)
}

/// The paramKind's declaration, when it names a kind with a schema.
fn params_decl(reg: &Registry, spec: &Value) -> Option<Arc<DeclType>> {
    let pk = spec.get("paramKind")?;
    let (group, version) = match pk.str_at("/apiVersion").split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), pk.str_at("/apiVersion").to_string()),
    };
    kind_decl(
        reg,
        &Gvk {
            group,
            version,
            kind: pk.str_at("/kind").to_string(),
        },
    )
}

/// The environment for one kind: typed `object`/`oldObject`/`params` (undeclared when the
/// paramKind has no schema), and `variables` typed by compiling each in turn (a variable that
/// does not compile stays dyn).
fn typed_env(spec: &Value, object: Type, params: Option<Type>) -> crate::cel::Env {
    let vars: Vec<(String, String)> = spec
        .get("variables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| (v.str_at("/name").to_string(), v.str_at("/expression").to_string()))
        .collect();
    let mut types: BTreeMap<String, Type> = vars.iter().map(|(n, _)| (n.clone(), Type::Dyn)).collect();
    // Upstream `buildEnvSet`: `params` only when the paramKind's schema resolved, and
    // `authorizer` (not `authorizer.requestResource`: only its structure is needed).
    let env = |types: &BTreeMap<String, Type>| {
        let names: Vec<String> = types.keys().cloned().collect();
        let mut e = compile::env_for(Some(&names), false, false, Mode::Stored)
            .var("authorizer", compile::authorizer_type())
            .var("object", object.clone())
            .var("oldObject", object.clone())
            .var(
                "variables",
                StructType::new("kubernetes.variables", Fields::Fixed(types.clone())),
            );
        if let Some(p) = &params {
            e = e.var("params", p.clone());
        }
        e
    };
    for (name, src) in &vars {
        if let Ok(p) = compile::compile_fresh(&env(&types), src, &[]) {
            types.insert(name.clone(), p.output.clone());
        }
    }
    env(&types)
}

/// The warnings for one policy.
pub fn warnings(reg: &Registry, policy: &Value) -> Vec<Value> {
    let spec = policy.get("spec").cloned().unwrap_or(Value::Null);
    let params = params_decl(reg, &spec).map(|d| d.cel_type());
    let envs: Vec<(Gvk, crate::cel::Env)> = kinds_to_check(reg, policy)
        .into_iter()
        .filter_map(|gvk| {
            let t = kind_decl(reg, &gvk)?.cel_type();
            let env = typed_env(&spec, t, params.clone());
            Some((gvk, env))
        })
        .collect();
    let mut out = Vec::new();
    let mut check = |field: String, src: &str| {
        if src.is_empty() {
            return;
        }
        // Upstream `TypeCheckingResults.String()`: one `<gv>, Kind=<kind>: <issues>` per kind.
        let results: Vec<String> = envs
            .iter()
            .filter_map(|(gvk, env)| {
                let e = compile::compile_fresh(env, src, &[]).err()?;
                let e = e.strip_prefix("compilation failed: ").unwrap_or(&e);
                Some(format!("{}: {e}\n", gvk.label()))
            })
            .collect();
        if !results.is_empty() {
            out.push(json!({"fieldRef": field, "warning": results.join("\n")}));
        }
    };
    for (i, v) in spec
        .get("validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        check(format!("spec.validations[{i}].expression"), v.str_at("/expression"));
        check(
            format!("spec.validations[{i}].messageExpression"),
            v.str_at("/messageExpression"),
        );
    }
    out
}

impl Checker {
    /// Write `status.typeChecking` for every policy generation not written yet.
    pub async fn run(&mut self, reg: &Registry) {
        let (version, policies, _) = Kind::Validating.resources();
        let Some(def) = reg.find(GROUP, version, policies) else {
            return;
        };
        let snap = reg.caches.cache(def.storage).snapshot(&reg.key_prefix(def, None));
        self.done.retain(|n, _| snap.items.iter().any(|o| o.name() == n));
        for o in &snap.items {
            let p = &o.value();
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
