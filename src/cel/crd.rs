//! CRD `x-kubernetes-validations` (upstream `apiextensions-apiserver/pkg/apiserver/schema/cel`
//! and the rule checks of CRD validation): rules are compiled once per schema against the
//! schema's types (`self`, `oldSelf`), checked at CRD write time (compilation, bool result,
//! estimated cost per rule and for the whole schema, `oldSelf` only where values correlate),
//! and evaluated on every write of a custom resource within upstream's runtime budget.

use super::cost::{Est, Roots};
use super::schema::{self, DeclType};
use super::types::{self, Type};
use super::{cost_error_message, Activation, Env, Mode, Program, Value};
use super::{EvalError, COST_LIMIT_EXCEEDED, MAX_EVALUATED_MESSAGE_EXPRESSION_SIZE_BYTES, PER_CALL_LIMIT};
use crate::error::field::{join, FieldError, FieldErrors};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

/// Upstream `StaticEstimatedCostLimit` (per rule).
pub const STATIC_ESTIMATED_COST_LIMIT: u64 = 10_000_000;
/// Upstream `StaticEstimatedCRDCostLimit` (all rules of a schema).
pub const STATIC_ESTIMATED_CRD_COST_LIMIT: u64 = 100_000_000;
const RUNTIME_BUDGET: i64 = super::RUNTIME_CEL_COST_BUDGET;

struct Rule {
    spec: Json,
    text: String,
    program: Result<Arc<Program>, String>,
    message: Option<Result<Arc<Program>, String>>,
    uses_old: bool,
    optional_old: bool,
    field_path: String,
}

/// The rules under one schema node, and the nodes below it that have rules.
struct Node {
    ty: String,
    decl: Arc<DeclType>,
    rules: Vec<Rule>,
    props: BTreeMap<String, Node>,
    items: Option<Box<Node>>,
    additional: Option<Box<Node>>,
    all_of: Vec<Node>,
    map_keys: Vec<String>,
    list_map: bool,
}

/// The compiled rules of one CRD version's schema.
pub struct Rules {
    root: Option<Node>,
}

fn flag(s: &Json, k: &str) -> bool {
    s.get(k).and_then(Json::as_bool) == Some(true)
}

fn env_for(decl: &Arc<DeclType>, optional_old: bool, mode: Mode) -> Env {
    let t = decl.cel_type();
    let old = if optional_old {
        types::optional(t.clone())
    } else {
        t.clone()
    };
    Env::new().mode(mode).var("self", t).var("oldSelf", old)
}

fn has_rules(s: &Json) -> bool {
    s.get("x-kubernetes-validations")
        .and_then(Json::as_array)
        .is_some_and(|a| !a.is_empty())
        || s.get("properties")
            .and_then(Json::as_object)
            .is_some_and(|p| p.values().any(has_rules))
        || s.get("items").is_some_and(has_rules)
        || s.get("additionalProperties")
            .filter(|a| a.is_object())
            .is_some_and(has_rules)
        || s.get("allOf")
            .and_then(Json::as_array)
            .is_some_and(|a| a.iter().any(has_rules))
}

static NAMES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// `selfType<n>`: upstream names a rule's self type uniquely per compilation.
fn self_type_name() -> String {
    format!("selfType{}", NAMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn compile_rule(spec: &Json, decl: &Arc<DeclType>, mode: Mode) -> Rule {
    let text = spec.get("rule").and_then(Json::as_str).unwrap_or("").to_string();
    let optional_old = flag(spec, "optionalOldSelf");
    let env = env_for(decl, optional_old, mode);
    let program = if text.trim().is_empty() {
        Err(String::new())
    } else {
        match env.compile_cached(&text) {
            Err(e) => Err(format!("compilation failed: {e}")),
            Ok(p) if !matches!(p.output, Type::Bool) => Err("cel expression must evaluate to a bool".into()),
            Ok(p) => Ok(p),
        }
    };
    let uses_old = program.as_ref().is_ok_and(|p| p.references("oldSelf"));
    let message = spec
        .get("messageExpression")
        .and_then(Json::as_str)
        .filter(|m| !m.is_empty())
        .map(|m| match env.compile_cached(m) {
            Err(e) => Err(format!("messageExpression compilation failed: {e}")),
            Ok(p) if !matches!(p.output, Type::String) => Err("messageExpression must evaluate to a string".into()),
            Ok(p) => Ok(p),
        });
    let field_path = spec
        .get("fieldPath")
        .and_then(Json::as_str)
        .map(|f| normalize_field_path(f.trim()))
        .unwrap_or_default();
    Rule {
        spec: spec.clone(),
        text,
        program,
        message,
        uses_old,
        optional_old,
        field_path,
    }
}

/// `.spec.x` or `['a.b']` paths as field paths (`spec.x`, `[a.b]` keys kept as written).
fn normalize_field_path(f: &str) -> String {
    let mut out = String::new();
    let mut rest = f;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&r[..end]);
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']").unwrap_or(r.len());
            let key = &r[..end];
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
            rest = r.get(end + 2..).unwrap_or("");
        } else {
            out.push_str(rest);
            break;
        }
    }
    out
}

fn build(s: &Json, decl: Arc<DeclType>, mode: Mode) -> Option<Node> {
    if !has_rules(s) {
        return None;
    }
    let rules = s
        .get("x-kubernetes-validations")
        .and_then(Json::as_array)
        .map(|rs| rs.iter().map(|r| compile_rule(r, &decl, mode)).collect())
        .unwrap_or_default();
    let mut props = BTreeMap::new();
    if let Some(p) = s.get("properties").and_then(Json::as_object) {
        for (k, ps) in p {
            let Some(fd) = decl.property(k).cloned() else { continue };
            if let Some(n) = build(ps, fd, mode) {
                props.insert(k.clone(), n);
            }
        }
    }
    let elem = decl.elem.clone();
    let items = match (s.get("items"), &elem) {
        (Some(is), Some(e)) => build(is, e.clone(), mode).map(Box::new),
        _ => None,
    };
    let additional = match (s.get("additionalProperties").filter(|a| a.is_object()), &elem) {
        (Some(a), Some(e)) => build(a, e.clone(), mode).map(Box::new),
        _ => None,
    };
    let all_of = s
        .get("allOf")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(|x| build(x, decl.clone(), mode)).collect())
        .unwrap_or_default();
    Some(Node {
        ty: s.get("type").and_then(Json::as_str).unwrap_or("").to_string(),
        decl,
        rules,
        props,
        items,
        additional,
        all_of,
        map_keys: s
            .get("x-kubernetes-list-map-keys")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        list_map: s.get("x-kubernetes-list-type").and_then(Json::as_str) == Some("map"),
    })
}

fn root_decl(schema: &Json) -> Option<Arc<DeclType>> {
    schema::from_openapi(schema, true, &self_type_name(), None)
}

impl Rules {
    /// The rules of a version's `openAPIV3Schema`, compiled once per distinct schema.
    pub fn of(schema: &Json) -> Arc<Rules> {
        type Cache = Mutex<HashMap<String, Arc<Rules>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let key = schema.to_string();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        if let Some(r) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return r.clone();
        }
        let root = root_decl(schema).and_then(|d| build(schema, d, Mode::Stored));
        let r = Arc::new(Rules { root });
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(key, r.clone());
        r
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Evaluate every rule against `obj` (and the stored `old`), within upstream's budget.
    pub fn validate(&self, obj: &Json, old: Option<&Json>, errs: &mut FieldErrors) {
        let Some(root) = &self.root else { return };
        let mut budget = RUNTIME_BUDGET;
        validate_node(root, obj, old, "", true, &mut budget, errs);
    }
}

fn shown(path: &str) -> String {
    if path.is_empty() {
        "<nil>".into()
    } else {
        path.to_string()
    }
}

const OUT_OF_BUDGET: &str =
    "validation failed due to running out of cost budget, no further validation rules will be run";

/// Returns false when evaluation must stop (budget spent).
fn validate_node(
    n: &Node,
    v: &Json,
    old: Option<&Json>,
    path: &str,
    root: bool,
    budget: &mut i64,
    errs: &mut FieldErrors,
) -> bool {
    if v.is_null() {
        return true;
    }
    if !validate_rules(n, v, old, path, budget, errs) {
        return false;
    }
    for a in &n.all_of {
        if !validate_node(a, v, old, path, root, budget, errs) {
            return false;
        }
    }
    match v {
        Json::Object(m) => {
            for (k, cv) in m {
                if root && matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
                    continue;
                }
                let child = n.props.get(k).or(n.additional.as_deref());
                let Some(cn) = child else { continue };
                let co = old.and_then(|o| o.get(k));
                if !validate_node(cn, cv, co, &join(path, k), false, budget, errs) {
                    return false;
                }
            }
        }
        Json::Array(items) => {
            if let Some(is) = &n.items {
                let olds = old.and_then(Json::as_array);
                for (i, it) in items.iter().enumerate() {
                    // Items of map lists correlate with the old item of the same keys.
                    let co = match olds {
                        Some(os) if n.list_map && !n.map_keys.is_empty() => {
                            os.iter().find(|o| n.map_keys.iter().all(|k| o.get(k) == it.get(k)))
                        }
                        _ => None,
                    };
                    if !validate_node(is, it, co, &format!("{path}[{i}]"), false, budget, errs) {
                        return false;
                    }
                }
            }
        }
        _ => {}
    }
    true
}

fn rule_error_string(spec: &Json, text: &str) -> String {
    match spec.get("message").and_then(Json::as_str).filter(|m| !m.is_empty()) {
        Some(m) => m.trim().to_string(),
        None => text.trim().to_string(),
    }
}

fn rule_message_or_default(spec: &Json, text: &str) -> String {
    match spec.get("message").and_then(Json::as_str).filter(|m| !m.is_empty()) {
        Some(m) => m.trim().to_string(),
        None => format!("failed rule: {}", rule_error_string(spec, text)),
    }
}

fn validate_rules(
    n: &Node,
    v: &Json,
    old: Option<&Json>,
    path: &str,
    budget: &mut i64,
    errs: &mut FieldErrors,
) -> bool {
    if n.rules.is_empty() {
        return true;
    }
    let field = shown(path);
    if *budget <= 0 {
        errs.push(FieldError::invalid(field, n.ty.as_str(), OUT_OF_BUDGET));
        return false;
    }
    // CRD validation ratcheting: a value unchanged from the stored one keeps passing.
    let unchanged = old.is_some_and(|o| o == v);
    let this = Value::json(v, Some(&n.decl));
    for r in &n.rules {
        let prog = match &r.program {
            Ok(p) => p,
            Err(e) if e.is_empty() => continue,
            Err(e) => {
                errs.push(FieldError::invalid(
                    field.clone(),
                    n.ty.as_str(),
                    format!("rule compile error: {e}"),
                ));
                continue;
            }
        };
        if r.uses_old && old.is_none() && !r.optional_old {
            continue;
        }
        let old_val = old.map(|o| Value::json(o, Some(&n.decl)));
        let mut act = Activation::new().with("self", this.clone());
        if r.optional_old {
            act.set("oldSelf", Value::Optional(old_val.map(Box::new)));
        } else if let Some(o) = old_val {
            act.set("oldSelf", o);
        }
        let (res, cost) = prog.eval(&act, Some(PER_CALL_LIMIT));
        if cost as i64 > *budget {
            errs.push(FieldError::invalid(field.clone(), n.ty.as_str(), OUT_OF_BUDGET));
            return false;
        }
        *budget -= cost as i64;
        let res = match res {
            Ok(v) => v,
            Err(EvalError { msg, .. }) => {
                let who = rule_error_string(&r.spec, &r.text);
                if msg.starts_with("no such overload") {
                    errs.push(FieldError::invalid(
                        field.clone(),
                        n.ty.as_str(),
                        format!("'{msg}': call arguments did not match a supported operator, function or macro signature for rule: {who}"),
                    ));
                } else if msg.starts_with(COST_LIMIT_EXCEEDED) {
                    errs.push(FieldError::invalid(
                        field.clone(),
                        n.ty.as_str(),
                        format!("'{msg}': no further validation rules will be run due to call cost exceeds limit for rule: {who}"),
                    ));
                    return false;
                } else {
                    errs.push(FieldError::invalid(
                        field.clone(),
                        n.ty.as_str(),
                        format!("{msg} evaluating rule: {who}"),
                    ));
                }
                continue;
            }
        };
        if matches!(res, Value::Bool(true)) {
            continue;
        }
        if !r.uses_old && unchanged {
            continue;
        }
        let fpath = if r.field_path.is_empty() {
            field.clone()
        } else {
            join(path, &r.field_path)
        };
        let mut detail = rule_message_or_default(&r.spec, &r.text);
        if let Some(Ok(mp)) = &r.message {
            let (mres, mcost) = mp.eval(&act, Some(PER_CALL_LIMIT));
            if mcost as i64 > *budget {
                errs.push(FieldError::invalid(
                    fpath,
                    n.ty.as_str(),
                    "messageExpression evaluation failed due to running out of cost budget, no further validation rules will be run",
                ));
                return false;
            }
            *budget -= mcost as i64;
            match mres {
                Ok(Value::Str(s)) => {
                    let t = s.trim();
                    if !t.is_empty() && t.len() <= MAX_EVALUATED_MESSAGE_EXPRESSION_SIZE_BYTES && !t.contains('\n') {
                        detail = t.to_string();
                    }
                }
                Err(e) if e.cancelled => {
                    let src = r.spec.get("messageExpression").and_then(Json::as_str).unwrap_or("");
                    errs.push(FieldError::invalid(
                        fpath,
                        n.ty.as_str(),
                        format!(
                            "no further validation rules will be run due to call cost exceeds limit for messageExpression: {}",
                            crate::util::go_quote(src)
                        ),
                    ));
                    return false;
                }
                _ => {}
            }
        }
        let reason = r
            .spec
            .get("reason")
            .and_then(Json::as_str)
            .unwrap_or("FieldValueInvalid");
        errs.push(match reason {
            "FieldValueForbidden" => FieldError::forbidden(fpath, detail),
            "FieldValueRequired" => FieldError::required(fpath, detail),
            "FieldValueDuplicate" => FieldError::duplicate(fpath, n.ty.as_str()),
            _ => FieldError::invalid(fpath, n.ty.as_str(), detail),
        });
    }
    true
}

// --- Write-time checks -------------------------------------------------------------------------

/// Go's `%#v` of a validation rule, as upstream prints the bad value of a rule error.
fn rule_repr(r: &Json) -> String {
    let s = |k: &str| crate::util::go_quote(r.get(k).and_then(Json::as_str).unwrap_or(""));
    let reason = if r.get("reason").is_some() {
        "(*apiextensions.FieldValueErrorReason)(0xc000000000)"
    } else {
        "(*apiextensions.FieldValueErrorReason)(nil)"
    };
    let oos = if r.get("optionalOldSelf").is_some() {
        "(*bool)(0xc000000000)"
    } else {
        "(*bool)(nil)"
    };
    format!(
        "apiextensions.ValidationRule{{Rule:{}, Message:{}, MessageExpression:{}, Reason:{reason}, FieldPath:{}, OptionalOldSelf:{oos}}}",
        s("rule"),
        s("message"),
        s("messageExpression"),
        s("fieldPath")
    )
}

fn invalid_repr(field: String, r: &Json, detail: &str) -> FieldError {
    FieldError {
        kind: crate::error::field::ErrorType::Invalid,
        field,
        value: None,
        detail: format!("{}: {detail}", rule_repr(r)),
    }
}

/// Upstream `extractMaxElements` for cardinality.
fn max_elements(s: &Json) -> Option<u64> {
    let int = |k: &str| s.get(k).and_then(Json::as_i64).map(|v| v.max(0) as u64);
    match s.get("type").and_then(Json::as_str).unwrap_or("") {
        "object" if s.get("additionalProperties").is_some_and(|a| a.is_object()) => int("maxProperties"),
        "object" => Some(1),
        "array" => int("maxItems"),
        _ => Some(1),
    }
}

struct Total {
    total: u64,
    expensive: Vec<(String, u64)>,
}

/// The CEL checks of CRD validation for one version's schema, at `path`
/// (`spec.validation.openAPIV3Schema` or `spec.versions[0].schema.openAPIV3Schema`). `mode`:
/// `New` for rules being written.
pub fn check_schema(schema: &Json, path: &str, errs: &mut FieldErrors) {
    if !has_rules(schema) {
        return;
    }
    let Some(decl) = root_decl(schema) else { return };
    let mut total = Total {
        total: 0,
        expensive: Vec::new(),
    };
    check_node(schema, &decl, path, Some(1), None, errs, &mut total);
    if total.total > STATIC_ESTIMATED_CRD_COST_LIMIT {
        for (p, _) in &total.expensive {
            errs.push(FieldError::forbidden(
                p.clone(),
                "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema",
            ));
        }
        errs.push(FieldError::forbidden(
            path.to_string(),
            cost_error_message(
                "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema",
                total.total,
                STATIC_ESTIMATED_CRD_COST_LIMIT,
            ),
        ));
    }
}

/// `uncorrelatable`: the path of the nearest enclosing list that is not a map list (or a set
/// of scalars), where `oldSelf` has nothing to correlate with.
fn check_node(
    s: &Json,
    decl: &Arc<DeclType>,
    path: &str,
    cardinality: Option<u64>,
    uncorrelatable: Option<&str>,
    errs: &mut FieldErrors,
    total: &mut Total,
) {
    if let Some(rules) = s.get("x-kubernetes-validations").and_then(Json::as_array) {
        let max_card = (super::schema::MAX_REQUEST_SIZE_BYTES / (decl.min_serialized_size + 1)) as u64;
        let mut roots = Roots::new();
        roots.insert("self".into(), decl.clone());
        roots.insert("oldSelf".into(), decl.clone());
        for (i, spec) in rules.iter().enumerate() {
            let rp = format!("{path}.x-kubernetes-validations[{i}]");
            let rule = compile_rule(spec, decl, Mode::New);
            let est = |p: &Program| -> u64 {
                let c: Est = p.estimate(&roots);
                let card = cardinality.unwrap_or(max_card);
                if c.max == 0 {
                    0
                } else {
                    c.max.saturating_mul(card)
                }
            };
            if let Ok(p) = &rule.program {
                let cost = est(p);
                if cost > STATIC_ESTIMATED_COST_LIMIT {
                    errs.push(FieldError::forbidden(
                        format!("{rp}.rule"),
                        cost_error_message("estimated rule cost", cost, STATIC_ESTIMATED_COST_LIMIT),
                    ));
                }
                observe(total, format!("{rp}.rule"), cost);
            }
            match &rule.program {
                Err(e) if e.is_empty() => {}
                Err(e) => errs.push(invalid_repr(format!("{rp}.rule"), spec, e)),
                Ok(_) => {}
            }
            match &rule.message {
                Some(Err(e)) => errs.push(invalid_repr(format!("{rp}.messageExpression"), spec, e)),
                Some(Ok(mp)) => {
                    let cost = est(mp);
                    if cost > STATIC_ESTIMATED_COST_LIMIT {
                        errs.push(FieldError::forbidden(
                            format!("{rp}.messageExpression"),
                            cost_error_message("estimated messageExpression cost", cost, STATIC_ESTIMATED_COST_LIMIT),
                        ));
                    }
                    observe(total, format!("{rp}.messageExpression"), cost);
                }
                None => {}
            }
            if rule.uses_old {
                if let Some(u) = uncorrelatable {
                    errs.push(FieldError::invalid(
                        format!("{rp}.rule"),
                        rule.text.as_str(),
                        format!("oldSelf cannot be used on the uncorrelatable portion of the schema within {u}"),
                    ));
                }
            } else if rule.program.is_ok() {
                if let Some(o) = spec.get("optionalOldSelf") {
                    errs.push(FieldError::invalid(
                        format!("{rp}.optionalOldSelf"),
                        o.clone(),
                        "may not be set if oldSelf is not used in rule",
                    ));
                }
            }
        }
    }
    let child_card = match (cardinality, max_elements(s)) {
        (Some(c), Some(m)) => Some(c.saturating_mul(m)),
        _ => None,
    };
    if let Some(p) = s.get("properties").and_then(Json::as_object) {
        for (k, ps) in p {
            if let Some(fd) = decl.property(k) {
                check_node(
                    ps,
                    fd,
                    &format!("{path}.properties[{k}]"),
                    child_card,
                    uncorrelatable,
                    errs,
                    total,
                );
            }
        }
    }
    if let (Some(is), Some(e)) = (s.get("items"), &decl.elem) {
        let list_type = s
            .get("x-kubernetes-list-type")
            .and_then(Json::as_str)
            .unwrap_or("atomic");
        let scalar_items = !matches!(is.get("type").and_then(Json::as_str), Some("object" | "array"));
        let correlatable = list_type == "map" || (list_type == "set" && scalar_items);
        let unc = if correlatable || uncorrelatable.is_some() {
            uncorrelatable.map(str::to_string)
        } else {
            Some(path.to_string())
        };
        check_node(is, e, &format!("{path}.items"), child_card, unc.as_deref(), errs, total);
    }
    if let (Some(a), Some(e)) = (s.get("additionalProperties").filter(|a| a.is_object()), &decl.elem) {
        check_node(
            a,
            e,
            &format!("{path}.additionalProperties"),
            child_card,
            uncorrelatable,
            errs,
            total,
        );
    }
    if let Some(all) = s.get("allOf").and_then(Json::as_array) {
        for (i, a) in all.iter().enumerate() {
            check_node(
                a,
                decl,
                &format!("{path}.allOf[{i}]"),
                cardinality,
                uncorrelatable,
                errs,
                total,
            );
        }
    }
}

fn observe(t: &mut Total, path: String, cost: u64) {
    t.total = t.total.saturating_add(cost);
    if cost < STATIC_ESTIMATED_CRD_COST_LIMIT / 100 {
        return;
    }
    t.expensive.push((path, cost));
    t.expensive.sort_by_key(|e| std::cmp::Reverse(e.1));
    t.expensive.truncate(4);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Json {
        json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable", "fieldPath": ".mode"},
                {"rule": "self.min >= 0", "messageExpression": "'min is ' + string(self.min)", "reason": "FieldValueForbidden"},
            ],
            "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}, "mode": {"type": "string"},
                "name": {"type": "string", "x-kubernetes-validations": [{"rule": "self.startsWith('w')"}]}},
        }}})
    }

    fn run(obj: Json, old: Option<Json>) -> Vec<String> {
        let mut errs = Vec::new();
        Rules::of(&schema()).validate(&obj, old.as_ref(), &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn rules_messages_and_transitions() {
        assert!(run(json!({"spec": {"min": 1, "max": 2, "mode": "a", "name": "web"}}), None).is_empty());
        assert_eq!(
            run(json!({"spec": {"min": 3, "max": 2, "mode": "a", "name": "x"}}), None),
            vec![
                "spec: Invalid value: \"object\": min must not exceed max",
                "spec.name: Invalid value: \"string\": failed rule: self.startsWith('w')",
            ]
        );
        assert_eq!(
            run(
                json!({"spec": {"min": -1, "max": 2, "mode": "b"}}),
                Some(json!({"spec": {"mode": "a"}}))
            ),
            vec![
                "spec.mode: Invalid value: \"object\": mode is immutable",
                "spec: Forbidden: min is -1"
            ]
        );
    }

    #[test]
    fn list_map_items_correlate_by_key() {
        let s = json!({"type": "object", "properties": {"ports": {"type": "array",
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                "x-kubernetes-validations": [{"rule": "self.port >= oldSelf.port", "message": "ports only grow"}]}}}});
        let old = json!({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 90}]});
        let new = json!({"ports": [{"name": "b", "port": 91}, {"name": "a", "port": 70}, {"name": "c", "port": 1}]});
        let mut errs = Vec::new();
        Rules::of(&s).validate(&new, Some(&old), &mut errs);
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs, vec!["ports[1]: Invalid value: \"object\": ports only grow"]);
    }

    #[test]
    fn write_time_checks_report_upstream_errors() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "string"}}},
        "x-kubernetes-validations": [
            {"rule": "self.items.all(x, self.items.all(y, x == y))"},
            {"rule": "self.nope == 1"},
            {"rule": "1 + 1"},
        ]}}});
        let mut errs = Vec::new();
        check_schema(&s, "spec.validation.openAPIV3Schema", &mut errs);
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let p = "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations";
        assert!(
            msgs[0].starts_with(&format!(
                "{p}[0].rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x"
            )),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("undefined field 'nope'")), "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|m| m.ends_with("cel expression must evaluate to a bool")),
            "{msgs:?}"
        );
    }
}
