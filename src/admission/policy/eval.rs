//! One request's evaluation of the bindings that match it (upstream `validator.Validate` and
//! the dispatcher's handling of its decisions).

use super::compile::{Compiled, Policy};
use super::params::{self, ParamError};
use super::Bound;
use crate::admission::webhook::{self, Gvr};
use crate::admission::{Attributes, Env};
use crate::cel::{self, Activation, EvalError, Lazy, Value};
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use serde_json::{json, Value as Json};
use std::cell::RefCell;
use std::collections::HashMap;

pub const VALIDATION_FAILURE: &str = "validation.policy.admission.k8s.io/validation_failure";
const OUT_OF_BUDGET: &str =
    "validation failed due to running out of cost budget, no further validation rules will be run";

/// A failed validation or an evaluation error the failure policy turns into a denial.
struct Decision {
    message: String,
    reason: String,
    field_path: String,
    index: usize,
}

pub struct Run<'r, 'e> {
    a: &'r Attributes,
    env: &'r Env<'e>,
    namespace: Option<Option<Json>>,
    denied: Option<ApiError>,
    audit: Vec<String>,
}

/// `variables`, each evaluated on first use (upstream's lazy composition).
pub(crate) struct Vars<'a> {
    programs: &'a [(String, Compiled)],
    base: Vec<(&'a str, Value<'a>)>,
    memo: RefCell<HashMap<String, Result<Value<'a>, EvalError>>>,
    this: RefCell<Option<&'a Vars<'a>>>,
    cost: RefCell<u64>,
}

impl<'a> Vars<'a> {
    /// The policy's variables over `base`; [`Vars::link`] before use.
    pub(crate) fn new(programs: &'a [(String, Compiled)], base: Vec<(&'a str, Value<'a>)>) -> Self {
        Vars {
            programs,
            base,
            memo: RefCell::new(HashMap::new()),
            this: RefCell::new(None),
            cost: RefCell::new(0),
        }
    }
    /// Let the variables see each other (through the same memo).
    pub(crate) fn link(&'a self) {
        *self.this.borrow_mut() = Some(self);
    }
}

impl<'a> Lazy<'a> for Vars<'a> {
    fn get(&self, name: &str) -> Option<Result<Value<'a>, EvalError>> {
        if let Some(v) = self.memo.borrow().get(name) {
            return Some(v.clone());
        }
        let (_, prog) = self.programs.iter().find(|(n, _)| n == name)?;
        let r = match prog {
            Err(e) => Err(EvalError::new(format!("compilation error: {e}"))),
            Ok(p) => {
                let act = Activation {
                    vars: self.base.clone(),
                    lazy: self.this.borrow().map(|t| t as &dyn Lazy<'a>),
                };
                let (r, c) = p.eval(&act, Some(cel::PER_CALL_LIMIT));
                *self.cost.borrow_mut() += c;
                r.map_err(|e| EvalError::new(format!("expression '{}' resulted in error: {e}", p.source)))
            }
        };
        self.memo.borrow_mut().insert(name.to_string(), r.clone());
        Some(r)
    }
    fn names(&self) -> Vec<String> {
        self.programs.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// Upstream `reasonToCode`.
fn reason_code(reason: &str) -> (u16, &'static str) {
    match reason {
        "Forbidden" => (403, "Forbidden"),
        "Unauthorized" => (401, "Unauthorized"),
        "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
        _ => (422, "Invalid"),
    }
}

impl<'r, 'e> Run<'r, 'e> {
    pub fn new(a: &'r Attributes, env: &'r Env<'e>) -> Self {
        Run {
            a,
            env,
            namespace: None,
            denied: None,
            audit: Vec::new(),
        }
    }

    /// The request's namespace object (`namespaceObject`), read once.
    async fn namespace(&mut self) -> ApiResult<Option<Json>> {
        if self.namespace.is_none() {
            self.namespace = Some(namespace_of(self.a, self.env).await?);
        }
        Ok(self.namespace.clone().flatten())
    }

    /// Evaluate one binding that matched the request as `matched`.
    pub async fn binding(&mut self, b: &Bound, matched: &Gvr) -> ApiResult<()> {
        let p = &b.policy;
        let params = match &p.param_kind {
            None => vec![Json::Null],
            Some(kind) => match params::collect(kind, &b.spec, self.a, self.env).await {
                Ok(Some(ps)) => ps,
                Ok(None) => return Ok(()),
                Err(e) => {
                    if p.fail {
                        let msg = match e {
                            ParamError::Policy(m) => format!("failed to configure policy: {m}"),
                            ParamError::Binding(m) => format!("failed to configure binding: {m}"),
                        };
                        self.deny(b, &msg, "", "");
                    }
                    return Ok(());
                }
            },
        };
        let request = request_var(self.a, matched);
        let ns = self.namespace().await?;
        let authz = super::authz::Binding::of(self.a, self.env);
        for param in &params {
            let (decisions, notes) = evaluate(p, self.a, &request, ns.as_ref(), param, authz.as_ref());
            for d in decisions {
                if b.deny {
                    self.deny(b, &d.message, &d.reason, &d.field_path);
                }
                if b.warn {
                    self.env.ctx.warn(format!(
                        "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {}",
                        p.name, b.name, d.message
                    ));
                }
                if b.audit {
                    let actions: Vec<&str> = [("Deny", b.deny), ("Warn", b.warn), ("Audit", b.audit)]
                        .iter()
                        .filter(|(_, on)| *on)
                        .map(|(n, _)| *n)
                        .collect();
                    self.audit.push(format!(
                        "{{\"message\":{},\"policy\":{},\"binding\":{},\"expressionIndex\":{},\"validationActions\":{}}}",
                        json!(d.message),
                        json!(p.name),
                        json!(b.name),
                        d.index,
                        json!(actions)
                    ));
                }
            }
            for (k, v) in notes {
                self.env.ctx.annotate(format!("{}/{k}", p.name), v);
            }
        }
        Ok(())
    }

    /// The first denial wins (upstream reports `deniedDecisions[0]`).
    fn deny(&mut self, b: &Bound, message: &str, reason: &str, field_path: &str) {
        if self.denied.is_some() {
            return;
        }
        let message = format!(
            "ValidatingAdmissionPolicy '{}' with binding '{}' denied request: {message}",
            b.policy.name, b.name
        );
        // Upstream `admission.NewForbidden`: the object's name or generateName, else Unknown.
        let o = self.a.object.as_ref().or(self.a.old.as_ref());
        let name = [
            self.a.name.as_str(),
            o.map_or("", |o| o.str_at("/metadata/name")),
            o.map_or("", |o| o.str_at("/metadata/generateName")),
        ]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or("Unknown")
        .to_string();
        let mut e = ApiError::forbidden(self.a.def.plural, self.a.def.group, &name, &message);
        (e.code, e.reason) = reason_code(reason);
        if let Some(d) = e.details.as_mut() {
            let mut cause = json!({"message": message});
            if !field_path.is_empty() {
                cause["field"] = json!(field_path);
            }
            d["causes"] = json!([cause]);
        }
        self.denied = Some(e);
    }

    /// Warnings and audit annotations are recorded; a denial is the result.
    pub fn finish(self) -> ApiResult<()> {
        if !self.audit.is_empty() {
            self.env
                .ctx
                .annotate(VALIDATION_FAILURE, format!("[{}]", self.audit.join(",")));
        }
        match self.denied {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The namespace object of a namespaced request (`namespaceObject`), None otherwise.
pub(super) async fn namespace_of(a: &Attributes, env: &Env<'_>) -> ApiResult<Option<Json>> {
    if a.def.namespaced() && !a.namespace.is_empty() {
        env.get("", "namespaces", None, &a.namespace).await
    } else {
        Ok(None)
    }
}

/// The `request` variable: the AdmissionRequest without the objects and uid.
pub(super) fn request_var(a: &Attributes, matched: &Gvr) -> Json {
    let mut request = webhook::review_as(a, "", Some(matched))["request"].take();
    if let Some(r) = request.as_object_mut() {
        r.remove("object");
        r.remove("oldObject");
        r.remove("uid");
    }
    request
}

/// The base variables of one evaluation.
pub(super) fn activation_vars<'a>(
    a: &'a Attributes,
    request: &'a Json,
    ns: Option<&'a Json>,
    param: &'a Json,
    authz: Option<&super::authz::Binding>,
) -> Vec<(&'a str, Value<'a>)> {
    let j = |v: Option<&'a Json>| v.map_or(Value::Null, |v| Value::json(v, None));
    let mut vars = vec![
        ("object", j(a.object.as_ref())),
        ("oldObject", j(a.old.as_ref())),
        ("params", j(Some(param).filter(|p| !p.is_null()))),
        ("request", Value::json(request, None)),
        ("namespaceObject", j(ns)),
    ];
    if let Some(b) = authz {
        vars.extend(b.vars(a));
    }
    vars
}

pub(super) fn run_one<'a>(prog: &Compiled, vars: &'a Vars<'a>, budget: &mut i64) -> Result<Value<'a>, String> {
    let p = prog.as_ref().map_err(|e| format!("compilation error: {e}"))?;
    if *budget < 0 {
        return Err(OUT_OF_BUDGET.into());
    }
    let act = Activation {
        vars: vars.base.clone(),
        lazy: Some(vars as &dyn Lazy<'a>),
    };
    let before = *vars.cost.borrow();
    let (r, c) = p.eval(&act, Some(cel::PER_CALL_LIMIT));
    *budget -= (c + (*vars.cost.borrow() - before)) as i64;
    if *budget < 0 {
        return Err(OUT_OF_BUDGET.into());
    }
    r.map_err(|e| {
        if e.msg.starts_with("expression '") {
            e.msg
        } else {
            format!("expression '{}' resulted in error: {e}", p.source)
        }
    })
}

/// A policy's matchConditions (upstream `matchconditions.Matcher.Match`, shared by policies
/// and webhooks): every condition is evaluated within the match-conditions budget; any false
/// one means no match; otherwise errors follow the failure policy — Ok(false) when it is
/// Ignore, else Err with the error (several: `[a, b]`, as upstream's aggregate).
pub(crate) fn conditions<'a>(conds: &[(String, Compiled)], vars: &'a Vars<'a>, fail: bool) -> Result<bool, String> {
    let mut budget = cel::RUNTIME_CEL_COST_BUDGET_MATCH_CONDITIONS;
    let mut errors = Vec::new();
    for (_, mc) in conds {
        match run_one(mc, vars, &mut budget) {
            Ok(Value::Bool(false)) => return Ok(false),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(true),
        _ if !fail => Ok(false),
        1 => Err(errors.remove(0)),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

/// A policy's matchConditions for one request and param. Upstream's matcher sees the
/// request's own resource and no namespace (`namespaceObject` is null), and the authorizer.
pub(super) fn policy_conditions(
    p: &Policy,
    a: &Attributes,
    param: &Json,
    authz: Option<&super::authz::Binding>,
) -> Result<bool, String> {
    if p.match_conditions.is_empty() {
        return Ok(true);
    }
    let request = request_var(a, &Gvr::of(&a.def));
    let vars = Vars::new(&p.variables, activation_vars(a, &request, None, param, authz));
    vars.link();
    conditions(&p.match_conditions, &vars, p.fail)
}

/// The policy's decisions for one param — failed validations and, under failurePolicy Fail,
/// evaluation errors — and its audit annotations. A false matchCondition yields none.
/// As upstream's validator: matchConditions and validations see the authorizer;
/// messageExpressions and auditAnnotations are evaluated without it (each in an activation
/// of its own, so variables they use are evaluated again there).
fn evaluate(
    p: &Policy,
    a: &Attributes,
    request: &Json,
    ns: Option<&Json>,
    param: &Json,
    authz: Option<&super::authz::Binding>,
) -> (Vec<Decision>, Vec<(String, String)>) {
    let error = |msg: String, index: usize| Decision {
        message: msg,
        reason: String::new(),
        field_path: String::new(),
        index,
    };
    match policy_conditions(p, a, param, authz) {
        Ok(true) => {}
        Ok(false) => return (Vec::new(), Vec::new()),
        Err(e) => return (vec![error(e, 0)], Vec::new()),
    }
    let vars = Vars::new(&p.variables, activation_vars(a, request, ns, param, authz));
    vars.link();
    let messages = Vars::new(&p.variables, activation_vars(a, request, ns, param, None));
    messages.link();
    let mut budget = cel::RUNTIME_CEL_COST_BUDGET;
    let mut out = Vec::new();
    for (i, v) in p.validations.iter().enumerate() {
        match run_one(&v.program, &vars, &mut budget) {
            Ok(Value::Bool(true)) => {}
            Ok(_) => {
                let mut message = if v.message.is_empty() {
                    format!("failed expression: {}", v.expression.trim())
                } else {
                    v.message.clone()
                };
                if let Some(m) = &v.message_expression {
                    if let Ok(Value::Str(s)) = run_one(m, &messages, &mut budget) {
                        let s = s.trim();
                        if !s.is_empty()
                            && !s.contains('\n')
                            && s.len() <= cel::MAX_EVALUATED_MESSAGE_EXPRESSION_SIZE_BYTES
                        {
                            message = s.to_string();
                        }
                    }
                }
                out.push(Decision {
                    message,
                    reason: v.reason.clone(),
                    field_path: String::new(),
                    index: i,
                });
            }
            Err(e) if p.fail => out.push(error(e, i)),
            Err(_) => {}
        }
        if budget < 0 {
            break;
        }
    }
    let notes_vars = Vars::new(&p.variables, activation_vars(a, request, ns, param, None));
    notes_vars.link();
    let mut budget = cel::RUNTIME_CEL_COST_BUDGET;
    let mut notes = Vec::new();
    for (i, an) in p.audit_annotations.iter().enumerate() {
        match run_one(&an.program, &notes_vars, &mut budget) {
            Ok(Value::Str(s)) => notes.push((an.key.clone(), s.to_string())),
            Ok(_) => {}
            Err(e) if p.fail => out.push(error(e, i)),
            Err(_) => {}
        }
    }
    (out, notes)
}
