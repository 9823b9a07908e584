//! MutatingAdmissionPolicy's admission of one request (upstream `mutating.dispatcher` over
//! the generic policy dispatcher): the bindings whose policy and matchResources match, each
//! with its params, evaluate matchConditions, then every mutation in order on the object as
//! the previous one left it — `ApplyConfiguration` merged as server-side apply merges,
//! `JSONPatch` applied as RFC 6902 (a failed `test` leaves the object as it was). Errors
//! follow the policy's failurePolicy; the first one denies the request with upstream's
//! message. [`Reinvocation`] carries `reinvocationPolicy: IfNeeded` across the chain's rounds.

use super::compile::{Mutation, Policy};
use super::eval::{activation_vars, namespace_of, policy_conditions, request_var, run_one, Vars};
use super::params::{self, ParamError};
use super::{matching_bindings, Bound, Engine, GROUP};
use crate::admission::webhook::Gvr;
use crate::admission::{Attributes, Env, Operation};
use crate::cel::value::StructVal;
use crate::cel::{self, Value};
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use serde_json::{json, Value as Json};
use std::collections::HashSet;
use std::sync::Arc;

/// (policy, binding, param namespace/name): upstream's invocation key.
type Key = (String, String, String);

/// Upstream `policyReinvokeContext` and the chain's reinvocation flag, for one request.
#[derive(Default)]
pub struct Reinvocation {
    /// The chain's second round is running.
    round2: bool,
    /// A policy changed the object: the chain runs its reinvocable plugins once more.
    should: bool,
    /// The object after the last policy invocation.
    last_output: Option<Option<Json>>,
    previously_invoked: HashSet<Key>,
    reinvoke: HashSet<Key>,
}

impl Reinvocation {
    pub fn should_reinvoke(&self) -> bool {
        self.should
    }
    /// The chain starts its reinvocation round.
    pub fn begin_round2(&mut self) {
        self.round2 = true;
    }
    /// Upstream `RequireReinvokingPreviouslyInvokedPlugins`.
    fn require_reinvoking(&mut self) {
        self.reinvoke.extend(self.previously_invoked.drain());
    }
}

/// A failure upstream records as a `PolicyError`.
struct Failure {
    policy: Arc<Policy>,
    /// None: the policy itself (`policy "<name>" denied request: …`).
    binding: Option<String>,
    message: String,
    /// Upstream sets reason Invalid for evaluation errors, none for configuration errors.
    invalid: bool,
}

/// One (policy, binding, param) that matched.
struct Invocation {
    bound: Arc<Bound>,
    matched: Gvr,
    param: Json,
}

impl Engine {
    /// MutatingAdmissionPolicy's mutating admission of one request; `a.object` changes in
    /// place.
    pub async fn mutate(self: &Arc<Self>, a: &mut Attributes, env: &Env<'_>, re: &mut Reinvocation) -> ApiResult<()> {
        // Upstream: CREATE, UPDATE and CONNECT only; the admission configuration kinds are
        // exempt.
        if a.def.group == GROUP || !matches!(a.operation, Operation::Create | Operation::Update | Operation::Connect) {
            return Ok(());
        }
        let idx = self.index(env.registry).await;
        let mut failures = Vec::new();
        let mut invocations = Vec::new();
        for (b, matched) in matching_bindings(&idx, a, env).await? {
            let params = match &b.policy.param_kind {
                None => vec![Json::Null],
                Some(kind) => match params::collect(kind, &b.spec, a, env).await {
                    Ok(Some(ps)) => ps,
                    Ok(None) => continue,
                    Err(e) => {
                        let (binding, message) = match e {
                            ParamError::Policy(m) => (None, format!("failed to configure policy: {m}")),
                            ParamError::Binding(m) => {
                                (Some(b.name.clone()), format!("failed to configure binding: {m}"))
                            }
                        };
                        failures.push(Failure {
                            policy: b.policy.clone(),
                            binding,
                            message,
                            invalid: false,
                        });
                        continue;
                    }
                },
            };
            for param in params {
                invocations.push(Invocation {
                    bound: b.clone(),
                    matched: matched.clone(),
                    param,
                });
            }
        }
        if !invocations.is_empty() {
            let ns = namespace_of(a, env).await?;
            if re.round2 && re.last_output.as_ref() != Some(&a.object) {
                re.require_reinvoking();
            }
            let authz = super::authz::Binding::of(a, env);
            dispatch(&invocations, a, ns.as_ref(), authz.as_ref(), re, &mut failures);
            re.last_output = Some(a.object.clone());
        }
        deny(a, failures)
    }
}

/// Upstream `dispatchInvocations`.
fn dispatch(
    invocations: &[Invocation],
    a: &mut Attributes,
    ns: Option<&Json>,
    authz: Option<&super::authz::Binding>,
    re: &mut Reinvocation,
    failures: &mut Vec<Failure>,
) {
    let mut dirty = false;
    for inv in invocations {
        let (p, b) = (&inv.bound.policy, &inv.bound);
        let request = request_var(a, &inv.matched);
        let fail = |message: String| Failure {
            policy: p.clone(),
            binding: Some(b.name.clone()),
            message,
            invalid: true,
        };
        let inputs = Inputs {
            request: &request,
            ns,
            param: &inv.param,
            authz,
        };
        match policy_conditions(p, a, &inv.param, authz) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                failures.push(fail(e));
                continue;
            }
        }
        let key = (p.name.clone(), b.name.clone(), param_key(&inv.param));
        if re.round2 && !re.reinvoke.contains(&key) {
            continue;
        }
        let before = a.object.clone();
        for m in &p.mutations {
            let Some(obj) = a.object.as_ref() else { continue };
            match mutation(m, p, a, obj, &inputs) {
                Ok(new) => {
                    a.object = Some(new);
                    dirty = true;
                }
                Err(e) => failures.push(fail(e)),
            }
        }
        if a.object != before {
            re.require_reinvoking();
            re.should = true;
        }
        if p.reinvoke {
            re.previously_invoked.insert(key);
        }
    }
    // Upstream marks the reinvocable policies again whenever a patch was applied.
    if dirty && a.object.is_some() {
        re.require_reinvoking();
        re.should = true;
    }
}

fn param_key(param: &Json) -> String {
    if param.is_null() {
        return String::new();
    }
    format!(
        "{}/{}",
        param.str_at("/metadata/namespace"),
        param.str_at("/metadata/name")
    )
}

/// What one invocation's expressions see besides the object.
struct Inputs<'i> {
    request: &'i Json,
    ns: Option<&'i Json>,
    param: &'i Json,
    authz: Option<&'i super::authz::Binding>,
}

impl<'i> Inputs<'i> {
    /// A fresh activation (variables evaluated lazily within it, as upstream's per-evaluation
    /// composition context).
    fn vars<'a>(&'a self, p: &'a Policy, a: &'a Attributes) -> Vars<'a> {
        Vars::new(
            &p.variables,
            activation_vars(a, self.request, self.ns, self.param, self.authz),
        )
    }
}

/// One mutation of `obj` (`a.object`; upstream `jsonPatcher.Patch` / `applyConfigPatcher.Patch`): the
/// patched object, or upstream's error message.
fn mutation(m: &Mutation, p: &Policy, a: &Attributes, obj: &Json, inputs: &Inputs<'_>) -> Result<Json, String> {
    if let Err(e) = &m.program {
        return Err(e.clone());
    }
    let vars = inputs.vars(p, a);
    vars.link();
    let mut budget = cel::RUNTIME_CEL_COST_BUDGET;
    let out = run_one(&m.program, &vars, &mut budget)?;
    let mut patched = if m.json_patch {
        let ops = json_patch_ops(&out)?;
        let mut patched = obj.clone();
        match crate::patch::json_patch(&mut patched, &ops) {
            Ok(()) => patched,
            // A failed `test` leaves the object as it was.
            Err(e) if e.ends_with(": test failed") => return Ok(obj.clone()),
            Err(e) => return Err(format!("JSON Patch: {e}")),
        }
    } else {
        as_struct(&out, "Object")
            .map_err(|t| format!("unsupported return type from ApplyConfiguration expression: {t}"))?;
        check_type_names(&out, "Object").map_err(|e| format!("type mismatch: {e}"))?;
        // Built-ins merge by their OpenAPI schema; custom resources by their CRD's (list
        // types and map keys included), as upstream's type converters.
        let schemas = crate::api::schema::builtin();
        let merge = crate::api::schema::merge_root(&a.def);
        crate::patch::apply::merge_configuration(obj, &out.to_json(), schemas, merge.as_ref().map(|m| m.node()))
            .map_err(|e| format!("error applying patch: {e}"))?
    };
    // The result is decoded into its kind, as upstream decodes the patched JSON, and defaulted
    // (upstream `dispatchOne`: after every mutation, so the next one sees the defaults).
    crate::api::typed::normalize_any(&mut patched).map_err(|e| format!("error applying patch: {e}"))?;
    crate::apiext::apply_defaults(&a.def, &mut patched);
    Ok(patched)
}

/// The operations of a JSONPatch expression's result.
fn json_patch_ops(out: &Value<'_>) -> Result<Json, String> {
    let Value::List(items) = out else {
        return Err("type mismatch: JSONPatchType.expression should evaluate to array".into());
    };
    let mut ops = Vec::with_capacity(items.len());
    for item in items.iter() {
        let s = as_struct(&item, "JSONPatch").map_err(|t| {
            format!("type mismatch: JSONPatchType.expression should evaluate to array of JSONPatch, got element of {t}")
        })?;
        let field = |n: &str| s.fields.iter().find(|(k, _)| &**k == n).map(|(_, v)| v);
        let text = |n: &str| match field(n) {
            Some(Value::Str(v)) => v.to_string(),
            _ => String::new(),
        };
        let mut op = json!({"op": text("op"), "path": text("path")});
        let from = text("from");
        if !from.is_empty() {
            op["from"] = json!(from);
        }
        if let Some(v) = field("value") {
            // An `Object.<path>{…}` value is checked from its own type name down.
            if let Value::Struct(o) = v {
                check_type_names(v, &o.name).map_err(|e| format!("type mismatch: {e}"))?;
            }
            op["value"] = v.to_json();
        }
        ops.push(op);
    }
    Ok(Json::Array(ops))
}

/// `v` as a struct of type `name`; Err: the type it has.
fn as_struct<'v, 'a>(v: &'v Value<'a>, name: &str) -> Result<&'v StructVal<'a>, String> {
    match v {
        Value::Struct(s) if &*s.name == name => Ok(s),
        Value::Struct(s) => Err(s.name.to_string()),
        other => Err(other.type_name().to_string()),
    }
}

/// Upstream `CheckTypeNamesMatchFieldPathNames`: an `Object.<path>` value sits at `<path>`.
fn check_type_names(v: &Value<'_>, path: &str) -> Result<(), String> {
    match v {
        Value::Struct(s) => {
            if &*s.name != path {
                return Err(format!(
                    "unexpected type name \"{}\", expected \"{path}\", which matches field name path from root Object type",
                    s.name
                ));
            }
            for (k, f) in &s.fields {
                check_type_names(f, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Value::List(l) => l.iter().try_for_each(|x| check_type_names(&x, path)),
        Value::Map(m) => m
            .entries()
            .into_iter()
            .try_for_each(|(_, x)| check_type_names(&x, path)),
        _ => Ok(()),
    }
}

/// Upstream's denial: failures of fail-closed policies become one 403 whose message is the
/// first's (`policy '<p>' with binding '<b>' denied request: …`, reason Invalid for
/// evaluation errors) with every message as a cause.
fn deny(a: &Attributes, failures: Vec<Failure>) -> ApiResult<()> {
    let failures: Vec<Failure> = failures.into_iter().filter(|f| f.policy.fail).collect();
    let Some(first) = failures.first() else {
        return Ok(());
    };
    let text = |f: &Failure| match &f.binding {
        Some(b) => format!(
            "policy '{}' with binding '{b}' denied request: {}",
            f.policy.name, f.message
        ),
        None => format!("policy {:?} denied request: {}", f.policy.name, f.message),
    };
    let mut e: ApiError = a.forbidden("admission request denied by policy");
    e.message = text(first);
    if first.invalid {
        e.reason = "Invalid";
    }
    if let Some(d) = e.details.as_mut() {
        d["causes"] = Json::Array(failures.iter().map(|f| json!({"message": text(f)})).collect());
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cel::{Activation, Mode};

    fn eval_json_patch(src: &str) -> Result<Json, String> {
        let p = crate::cel::policy::mutating_env(&[], Mode::Stored)
            .compile(src)
            .map_err(|e| e.to_string())?;
        let (out, _) = p.eval(&Activation::new(), Some(cel::PER_CALL_LIMIT));
        json_patch_ops(&out.map_err(|e| e.msg)?)
    }

    #[test]
    fn json_patch_operations_from_cel() {
        assert_eq!(
            eval_json_patch(
                r#"[JSONPatch{op: "add", path: "/metadata/annotations/" + jsonpatch.escapeKey("a/b~c"), value: {"k": 1}}, JSONPatch{op: "move", from: "/x", path: "/y"}]"#
            ),
            Ok(json!([
                {"op": "add", "path": "/metadata/annotations/a~1b~0c", "value": {"k": 1}},
                {"op": "move", "path": "/y", "from": "/x"},
            ]))
        );
        assert_eq!(
            eval_json_patch(r#"[JSONPatch{op: "add", path: "/spec", value: Object.spec{template: Object.spec.metadata{}}}]"#),
            Err("type mismatch: unexpected type name \"Object.spec.metadata\", expected \"Object.spec.template\", which matches field name path from root Object type".into())
        );
        assert_eq!(
            eval_json_patch("[1]"),
            Err(
                "type mismatch: JSONPatchType.expression should evaluate to array of JSONPatch, got element of int"
                    .into()
            )
        );
    }

    #[test]
    fn apply_configuration_merges_as_server_side_apply() {
        let schemas = crate::api::schema::builtin();
        let root = schemas.root_for("apps", "v1", "Deployment");
        let live = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}});
        let config =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "imagePullPolicy": "Always"}]}}}});
        assert_eq!(
            crate::patch::apply::merge_configuration(&live, &config, schemas, root),
            Ok(json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "a", "image": "x"}, {"name": "b", "image": "y", "imagePullPolicy": "Always"}]}}}}))
        );
        let atomic = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "command": ["sh"]}]}}}});
        assert_eq!(
            crate::patch::apply::merge_configuration(&live, &atomic, schemas, root),
            Err("invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: .spec.template.spec.containers[0].command".into())
        );
        let undeclared = json!({"spec": {"bogus": 1}});
        assert_eq!(
            crate::patch::apply::merge_configuration(&live, &undeclared, schemas, root),
            Err("failed to convert patch object to typed object: .spec.bogus: field not declared in schema".into())
        );
    }
}
