//! An admission policy compiled once (upstream `validating.compilePolicy` and
//! `mutating.compilePolicy`): its matchConditions, variables, validations, message expressions,
//! audit annotations and mutations become programs of Kubernetes' CEL environment; an
//! expression that does not compile keeps its error, reported when a request reaches it
//! (under the policy's failurePolicy).

use crate::cel::policy::{
    compile, compile_exact, env, json_patch_list_type, message_env, mutating_env_for, object_type,
};
use crate::cel::{Mode, Type};
use crate::util::json::JsonExt;
use serde_json::Value;

pub use crate::cel::policy::Compiled;

pub struct Validation {
    pub expression: String,
    pub program: Compiled,
    pub message: String,
    pub message_expression: Option<Compiled>,
    pub reason: String,
}

pub struct AuditAnnotation {
    pub key: String,
    pub program: Compiled,
}

/// A MutatingAdmissionPolicy's mutation: `JSONPatch` (a list of `JSONPatch{…}`) or
/// `ApplyConfiguration` (an `Object{…}` merged as server-side apply merges).
pub struct Mutation {
    pub json_patch: bool,
    pub program: Compiled,
}

/// One compiled policy (validating or mutating: a mutating one has no validations).
pub struct Policy {
    pub name: String,
    /// `Fail` unless `Ignore`.
    pub fail: bool,
    pub match_constraints: Value,
    pub param_kind: Option<(String, String)>,
    pub match_conditions: Vec<(String, Compiled)>,
    pub variables: Vec<(String, Compiled)>,
    pub validations: Vec<Validation>,
    pub audit_annotations: Vec<AuditAnnotation>,
    pub mutations: Vec<Mutation>,
    /// `reinvocationPolicy: IfNeeded` (mutating policies).
    pub reinvoke: bool,
}

fn items<'a>(spec: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    spec.get(field).and_then(Value::as_array).into_iter().flatten()
}

impl Policy {
    /// `mutating`: a MutatingAdmissionPolicy (its expressions see the `Object`/`JSONPatch`
    /// types).
    pub fn compile(obj: &Value, mode: Mode, mutating: bool) -> Policy {
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        let names: Vec<String> = items(&spec, "variables")
            .map(|v| v.str_at("/name").to_string())
            .collect();
        let param_kind = spec
            .get("paramKind")
            .filter(|p| p.is_object())
            .map(|p| (p.str_at("/apiVersion").to_string(), p.str_at("/kind").to_string()));
        // Upstream `compilePolicy`: `params` only with a paramKind; the authorizer everywhere
        // but in messageExpressions.
        let params = param_kind.is_some();
        let env = if mutating {
            mutating_env_for(&names, params, mode)
        } else {
            env(&names, params, mode)
        };
        let message_env = message_env(&names, params, mode);
        Policy {
            name: obj.str_at("/metadata/name").to_string(),
            fail: spec.get("failurePolicy").and_then(Value::as_str) != Some("Ignore"),
            match_constraints: spec.get("matchConstraints").cloned().unwrap_or(Value::Null),
            param_kind,
            match_conditions: items(&spec, "matchConditions")
                .map(|m| {
                    (
                        m.str_at("/name").to_string(),
                        compile(&env, m.str_at("/expression"), &[Type::Bool]),
                    )
                })
                .collect(),
            variables: items(&spec, "variables")
                .map(|v| {
                    (
                        v.str_at("/name").to_string(),
                        compile(&env, v.str_at("/expression"), &[]),
                    )
                })
                .collect(),
            validations: items(&spec, "validations")
                .map(|v| Validation {
                    expression: v.str_at("/expression").to_string(),
                    program: compile(&env, v.str_at("/expression"), &[Type::Bool]),
                    message: v.str_at("/message").to_string(),
                    message_expression: v
                        .opt_str_at("/messageExpression")
                        .filter(|m| !m.is_empty())
                        .map(|m| compile(&message_env, m, &[Type::String])),
                    reason: v.str_at("/reason").to_string(),
                })
                .collect(),
            audit_annotations: items(&spec, "auditAnnotations")
                .map(|a| AuditAnnotation {
                    key: a.str_at("/key").to_string(),
                    program: compile(&env, a.str_at("/valueExpression"), &[Type::String, Type::Null]),
                })
                .collect(),
            mutations: items(&spec, "mutations")
                .filter_map(|m| {
                    let json_patch = m.str_at("/patchType") == "JSONPatch";
                    let (field, want) = if json_patch {
                        ("jsonPatch", json_patch_list_type())
                    } else {
                        ("applyConfiguration", object_type())
                    };
                    let src = m.get(field)?.str_at("/expression");
                    Some(Mutation {
                        json_patch,
                        program: compile_exact(&env, src.trim(), &[want]),
                    })
                })
                .collect(),
            reinvoke: spec.get("reinvocationPolicy").and_then(Value::as_str) == Some("IfNeeded"),
        }
    }

    /// Every expression of the policy with its field path (write-time validation, type
    /// checking).
    pub fn expressions(&self) -> Vec<(String, &Compiled)> {
        let mut out = Vec::new();
        for (i, (_, p)) in self.match_conditions.iter().enumerate() {
            out.push((format!("spec.matchConditions[{i}].expression"), p));
        }
        for (i, (_, p)) in self.variables.iter().enumerate() {
            out.push((format!("spec.variables[{i}].expression"), p));
        }
        for (i, v) in self.validations.iter().enumerate() {
            out.push((format!("spec.validations[{i}].expression"), &v.program));
            if let Some(m) = &v.message_expression {
                out.push((format!("spec.validations[{i}].messageExpression"), m));
            }
        }
        for (i, a) in self.audit_annotations.iter().enumerate() {
            out.push((format!("spec.auditAnnotations[{i}].valueExpression"), &a.program));
        }
        out
    }
}
