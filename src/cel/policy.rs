//! The environment of admission policy expressions (upstream `plugin/cel` compilation):
//! `object`, `oldObject`, `params`, `request`, `namespaceObject` and the policy's
//! `variables`, and the result types each expression must have.

use super::{types, Env, Mode, Program, Type};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A compiled expression or upstream's error detail.
pub type Compiled = Result<Arc<Program>, String>;

/// Upstream's environment for a ValidatingAdmissionPolicy's validations, variables,
/// matchConditions and auditAnnotations: the policy's variables, `params` when it has a
/// paramKind, and the authorizer; `mode` New for expressions being written, Stored for
/// evaluation.
pub fn env(variables: &[String], params: bool, mode: Mode) -> Env {
    env_for(Some(variables), params, true, mode)
}

/// Upstream's environment for messageExpressions (`HasAuthorizer: false`): [`env`] without
/// the authorizer.
pub fn message_env(variables: &[String], params: bool, mode: Mode) -> Env {
    env_for(Some(variables), params, false, mode)
}

/// Upstream `OptionalVariableDeclarations`: `variables` only with composition (None: the
/// stateless compiler of matchConditions), `params` only when the policy has a paramKind,
/// `authorizer` (and `authorizer.requestResource`) where the expression may ask it.
pub fn env_for(variables: Option<&[String]>, params: bool, authorizer: bool, mode: Mode) -> Env {
    let mut e = Env::new()
        .mode(mode)
        .var("object", Type::Dyn)
        .var("oldObject", Type::Dyn)
        .var("request", super::request_type())
        .var("namespaceObject", super::namespace_type());
    if params {
        e = e.var("params", Type::Dyn);
    }
    if authorizer {
        e = e.var("authorizer", authorizer_type()).var(
            "authorizer.requestResource",
            types::parse_type("kubernetes.authorization.ResourceCheck"),
        );
    }
    if let Some(variables) = variables {
        let vars: BTreeMap<String, Type> = variables.iter().map(|v| (v.clone(), Type::Dyn)).collect();
        e = e.var(
            "variables",
            types::StructType::new("kubernetes.variables", types::Fields::Fixed(vars)),
        );
    }
    e
}

/// The `authorizer` variable's type (`library.AuthorizerType`).
pub fn authorizer_type() -> Type {
    types::parse_type("kubernetes.authorization.Authorizer")
}

/// Upstream's environment of webhook matchConditions (the stateless compiler with
/// `HasAuthorizer` and no params): `object`, `oldObject`, `namespaceObject`, `request`,
/// `authorizer` and `authorizer.requestResource`; no `params`, no `variables`.
pub fn webhook_match_env(mode: Mode) -> Env {
    Env::new()
        .mode(mode)
        .var("object", Type::Dyn)
        .var("oldObject", Type::Dyn)
        .var("namespaceObject", super::namespace_type())
        .var("request", super::request_type())
        .var("authorizer", authorizer_type())
        .var(
            "authorizer.requestResource",
            types::parse_type("kubernetes.authorization.ResourceCheck"),
        )
}

/// The environment of a MutatingAdmissionPolicy's expressions: [`env`] plus the JSON patch
/// library and the types its mutations construct (upstream `HasPatchTypes`: the
/// `DynamicTypeResolver`'s `Object`, `Object.<field>…` and `JSONPatch`).
pub fn mutating_env(variables: &[String], mode: Mode) -> Env {
    mutating_env_for(variables, true, mode)
}

/// [`mutating_env`] with `params` only when the policy has a paramKind.
pub fn mutating_env_for(variables: &[String], params: bool, mode: Mode) -> Env {
    env_for(Some(variables), params, true, mode).patch_types(Arc::new(patch_type))
}

/// `Object{…}`'s type (what an ApplyConfiguration must evaluate to).
pub fn object_type() -> Type {
    types::StructType::new("Object", types::Fields::Dynamic)
}

/// `list(JSONPatch)` (what a JSONPatch expression must evaluate to).
pub fn json_patch_list_type() -> Type {
    types::list(patch_type("JSONPatch").unwrap_or(Type::Dyn))
}

/// Upstream `DynamicTypeResolver.FindStructType`: `Object` and `Object.<path>` take any field
/// (typed dyn); `JSONPatch` has `op`, `path`, `from` (strings) and `value` (dyn).
fn patch_type(name: &str) -> Option<Type> {
    if name == "Object" || name.starts_with("Object.") {
        return Some(types::StructType::new(name, types::Fields::Dynamic));
    }
    (name == "JSONPatch").then(|| {
        let fields = [
            ("op", Type::String),
            ("path", Type::String),
            ("from", Type::String),
            ("value", Type::Dyn),
        ];
        types::StructType::new(
            "JSONPatch",
            types::Fields::Fixed(fields.into_iter().map(|(k, t)| (k.to_string(), t)).collect()),
        )
    })
}

/// Upstream `CompileCELExpression`: compile, then the result type must be one of `want`
/// (dyn always passes).
pub fn compile(env: &Env, src: &str, want: &[Type]) -> Compiled {
    let p = env
        .compile_cached(src)
        .map_err(|e| format!("compilation failed: {e}"))?;
    output(p, want, true)
}

/// [`compile`] where the result type must be exactly one of `want` (dyn does not pass):
/// upstream's check for the mutations of MutatingAdmissionPolicies, whose `Object` and
/// `list(JSONPatch)` types cel-go never matches with dyn.
pub fn compile_exact(env: &Env, src: &str, want: &[Type]) -> Compiled {
    let p = env
        .compile_cached(src)
        .map_err(|e| format!("compilation failed: {e}"))?;
    output(p, want, false)
}

/// [`compile`] without the process-wide cache (schema-typed environments whose declarations
/// the cache key does not tell apart).
pub fn compile_fresh(env: &Env, src: &str, want: &[Type]) -> Compiled {
    let p = env.compile(src).map_err(|e| format!("compilation failed: {e}"))?;
    output(Arc::new(p), want, true)
}

fn output(p: Arc<Program>, want: &[Type], dyn_passes: bool) -> Compiled {
    if want.is_empty()
        || (dyn_passes && p.output.is_dyn())
        || want.iter().any(|t| t.to_string() == p.output.to_string())
    {
        return Ok(p);
    }
    Err(if want.len() == 1 {
        format!("must evaluate to {} but got {}", want[0], p.output)
    } else {
        format!(
            "must evaluate to one of [{}] but got {}",
            want.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" "),
            p.output
        )
    })
}
