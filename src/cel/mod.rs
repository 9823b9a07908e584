//! Kubernetes' CEL: the environment upstream's admission policies, CRD validation rules,
//! webhook match conditions and authentication/authorization CEL share
//! (`apiserver/pkg/cel/environment`), built on the `cel` crate's parser.
//!
//! An [`Env`] declares variables; [`Env::compile`] parses, type-checks (cel-go's checker and
//! error text) and plans an expression once into a [`Program`], which [`Program::eval`] runs
//! against an [`Activation`] with a per-call cost limit, reporting upstream's runtime cost.
//! [`Program::estimate`] is upstream's static cost estimate.
//!
//! ```
//! use capstan::cel::{Activation, Env, Type, Value};
//! let env = Env::new().var("object", Type::Dyn);
//! let p = env.compile("object.spec.replicas <= 5").unwrap();
//! let obj = serde_json::json!({"spec": {"replicas": 3}});
//! let act = Activation::new().with("object", Value::json(&obj, None));
//! let (r, cost) = p.eval(&act, Some(capstan::cel::PER_CALL_LIMIT));
//! assert!(matches!(r, Ok(Value::Bool(true))));
//! assert!(cost > 0);
//! ```

pub mod check;
pub mod cost;
pub mod crd;
pub mod decls;
pub mod eval;
pub mod lib;
pub mod macros;
pub mod policy;
pub mod schema;
pub mod time;
pub mod types;
pub mod value;

pub use eval::{Activation, EvalError, Lazy, COST_LIMIT_EXCEEDED};
pub use lib::authz::{Authorizer, AuthzDecision, AuthzRequest, AuthzUser};
pub use types::Type;
pub use value::Value;

use cel::common::ast::IdedExpr;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

/// Upstream `PerCallLimit`: the most one evaluation may cost.
pub const PER_CALL_LIMIT: u64 = 1_000_000;
/// Upstream `RuntimeCELCostBudget`: the budget of one CRD object or one policy binding.
pub const RUNTIME_CEL_COST_BUDGET: i64 = 10_000_000;
/// Upstream `RuntimeCELCostBudgetMatchConditions`.
pub const RUNTIME_CEL_COST_BUDGET_MATCH_CONDITIONS: i64 = 10_000_000;
/// Upstream `MaxEvaluatedMessageExpressionSizeBytes`.
pub const MAX_EVALUATED_MESSAGE_EXPRESSION_SIZE_BYTES: usize = 5 * 1024;

/// Which library set: expressions being written are checked against the compatibility
/// version's (`New`, 1.32 for a 1.33 server); stored ones against everything the server knows
/// (`Stored`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    New,
    Stored,
}

type StructResolver = Arc<dyn Fn(&str) -> Option<Type> + Send + Sync>;

/// Declarations an expression is compiled against.
#[derive(Clone)]
pub struct Env {
    vars: HashMap<String, Type>,
    mode: Mode,
    patch: bool,
    /// cel-go's bindings extension (`cel.bind`).
    bindings: bool,
    structs: Option<StructResolver>,
    /// Identifies the declarations (for the compile cache).
    key: String,
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            vars: HashMap::new(),
            mode: Mode::Stored,
            patch: false,
            bindings: false,
            structs: None,
            key: String::new(),
        }
    }
    /// Declare a variable (a dotted name like `authorizer.requestResource` is one variable).
    pub fn var(mut self, name: &str, t: Type) -> Env {
        self.key.push_str(&format!("{name}:{t};"));
        self.vars.insert(name.to_string(), t);
        self
    }
    pub fn mode(mut self, m: Mode) -> Env {
        self.key.push_str(&format!("mode:{m:?};"));
        self.mode = m;
        self
    }
    /// The JSON patch library and `Object`/`JSONPatch` types of mutating policies.
    pub fn patch_types(mut self, resolver: StructResolver) -> Env {
        self.key.push_str("patch;");
        self.patch = true;
        self.structs = Some(resolver);
        self
    }
    /// Parse `cel.bind(name, init, body)` (the DRA environment has cel-go's bindings extension).
    pub fn bindings(mut self) -> Env {
        self.key.push_str("bindings;");
        self.bindings = true;
        self
    }
    pub fn has_var(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// Parse, check and plan `src`.
    pub fn compile(&self, src: &str) -> Result<Program, CompileError> {
        let macros = if self.bindings {
            macros::env_with_bindings()
        } else {
            macros::env()
        };
        let parser = macros.parser().enable_optional_syntax(true);
        let (ast, info) = parser.parse_with_source_info(src).map_err(|e| CompileError {
            issues: e
                .errors
                .iter()
                .map(|p| Issue {
                    line: p.pos.0.max(1) as usize,
                    col: p.pos.1.max(1) as usize,
                    msg: p.msg.clone(),
                })
                .collect(),
            source: src.to_string(),
        })?;
        let none = |_: &str| None;
        let resolver: &(dyn Fn(&str) -> Option<Type> + Sync) = match &self.structs {
            Some(r) => r.as_ref(),
            None => &none,
        };
        let scope = check::Scope {
            vars: &self.vars,
            stored: self.mode == Mode::Stored,
            patch: self.patch,
            struct_type: resolver,
        };
        let checked = check::check(&ast, &scope).map_err(|issues| CompileError {
            issues: issues
                .into_iter()
                .map(|i| {
                    let (line, col) = location(src, info.offset_for(i.id).map(|(s, _)| s as usize).unwrap_or(0));
                    Issue { line, col, msg: i.msg }
                })
                .collect(),
            source: src.to_string(),
        })?;
        let output = checked.types.get(&ast.id).cloned().unwrap_or(Type::Dyn);
        let plan = eval::plan(&ast, &checked);
        Ok(Program {
            source: src.to_string(),
            ast,
            checked,
            plan,
            output,
        })
    }

    /// [`Env::compile`] through a process-wide cache keyed by the declarations and the text.
    pub fn compile_cached(&self, src: &str) -> Result<Arc<Program>, Arc<CompileError>> {
        type Cache = Mutex<HashMap<(String, String), Result<Arc<Program>, Arc<CompileError>>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let key = (self.key.clone(), src.to_string());
        if let Some(r) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return r.clone();
        }
        let r = self.compile(src).map(Arc::new).map_err(Arc::new);
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        if c.len() >= 4096 {
            c.clear();
        }
        c.insert(key, r.clone());
        r
    }
}

/// 1-based (line, column) of a character offset, columns counted in code points.
fn location(src: &str, offset: usize) -> (usize, usize) {
    let (mut line, mut col) = (1, 1);
    for (i, c) in src.chars().enumerate() {
        if i == offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

/// Parse or check errors, displayed as cel-go's `Issues.String()`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    pub issues: Vec<Issue>,
    pub source: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issues = self.issues.clone();
        issues.sort_by_key(|i| (i.line, i.col));
        let lines: Vec<&str> = self.source.split('\n').collect();
        for (n, i) in issues.iter().take(100).enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "ERROR: <input>:{}:{}: {}", i.line, i.col, i.msg)?;
            if let Some(snippet) = lines.get(i.line - 1) {
                let snippet = snippet.replace('\t', " ");
                write!(f, "\n | {snippet}\n | ")?;
                let mut chars = snippet.chars();
                for _ in 1..i.col {
                    match chars.next() {
                        Some(c) if c.len_utf8() > 1 => f.write_str("\u{FF0E}")?,
                        _ => f.write_str(".")?,
                    }
                }
                match chars.next() {
                    Some(c) if c.len_utf8() > 1 => f.write_str("\u{FF3E}")?,
                    _ => f.write_str("^")?,
                }
            }
        }
        if issues.len() > 100 {
            write!(f, "\n{} more errors were truncated", issues.len() - 100)?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileError {}

/// A compiled expression.
pub struct Program {
    pub source: String,
    ast: IdedExpr,
    checked: check::Checked,
    plan: eval::Node,
    /// The checked output type.
    pub output: Type,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Program({:?}: {})", self.source, self.output)
    }
}

impl Program {
    /// Evaluate with a per-call cost limit; the result and the cost spent.
    pub fn eval<'a>(&self, act: &Activation<'a>, limit: Option<u64>) -> (Result<Value<'a>, EvalError>, u64) {
        eval::run(&self.plan, act, limit)
    }

    /// Upstream's static cost estimate; `roots` gives schema-typed variables their sizes.
    pub fn estimate(&self, roots: &cost::Roots) -> cost::Est {
        cost::estimate(&self.ast, &self.checked, roots)
    }

    /// Whether the expression selects `field` of variable `var` anywhere (`var.field`,
    /// `has(var.field)`, `var.?field`), as upstream's `hasSelectExp`.
    pub fn selects(&self, var: &str, field: &str) -> bool {
        use cel::common::ast::{Expr, LiteralValue};
        let is_var = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if n == var);
        let mut found = false;
        check::walk(&self.ast, &mut |e| match &e.expr {
            Expr::Select(s) if s.field == field && is_var(&s.operand) => found = true,
            Expr::Call(c)
                if c.func_name == "_?._"
                    && c.args.len() == 2
                    && is_var(&c.args[0])
                    && matches!(&c.args[1].expr, Expr::Literal(LiteralValue::String(f)) if f.inner() == field) =>
            {
                found = true
            }
            _ => {}
        });
        found
    }

    /// Whether the expression reads variable `name`.
    pub fn references(&self, name: &str) -> bool {
        self.checked
            .refs
            .values()
            .any(|r| matches!(r, check::Ref::Var(v) if v == name))
    }
}

/// Upstream's message for a static cost over a limit.
pub fn cost_error_message(what: &str, cost: u64, limit: u64) -> String {
    let factor = cost as f64 / limit as f64;
    let f = if factor > 100.0 {
        "more than 100x".to_string()
    } else if factor < 1.5 {
        format!("{factor:.6}x")
    } else {
        format!("{factor:.1}x")
    };
    format!("{what} exceeds budget by factor of {f} (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)")
}

/// Declarations of `kubernetes.AdmissionRequest`, `kubernetes.Namespace` (upstream
/// `BuildRequestType`/`BuildNamespaceType`), for admission expressions.
pub fn request_type() -> Type {
    use types::{Fields, StructType};
    let f = |pairs: &[(&str, Type)]| -> BTreeMap<String, Type> {
        pairs.iter().map(|(k, t)| (k.to_string(), t.clone())).collect()
    };
    let gvk = StructType::new(
        "kubernetes.GroupVersionKind",
        Fields::Fixed(f(&[
            ("group", Type::String),
            ("version", Type::String),
            ("kind", Type::String),
        ])),
    );
    let gvr = StructType::new(
        "kubernetes.GroupVersionResource",
        Fields::Fixed(f(&[
            ("group", Type::String),
            ("version", Type::String),
            ("resource", Type::String),
        ])),
    );
    let user = user_info_type();
    StructType::new(
        "kubernetes.AdmissionRequest",
        Fields::Fixed(f(&[
            ("kind", gvk.clone()),
            ("resource", gvr.clone()),
            ("subResource", Type::String),
            ("requestKind", gvk),
            ("requestResource", gvr),
            ("requestSubResource", Type::String),
            ("name", Type::String),
            ("namespace", Type::String),
            ("operation", Type::String),
            ("userInfo", user),
            ("dryRun", Type::Bool),
            ("options", Type::Dyn),
        ])),
    )
}

/// `kubernetes.UserInfo`: the admission request's `userInfo` and authentication's `user`.
pub fn user_info_type() -> Type {
    use types::{list, map, Fields, StructType};
    let fields = [
        ("username", Type::String),
        ("uid", Type::String),
        ("groups", list(Type::String)),
        ("extra", map(Type::String, list(Type::String))),
    ];
    StructType::new(
        "kubernetes.UserInfo",
        Fields::Fixed(fields.into_iter().map(|(k, t)| (k.to_string(), t)).collect()),
    )
}

pub fn namespace_type() -> Type {
    use types::{list, map, Fields, StructType};
    let f = |pairs: &[(&str, Type)]| -> BTreeMap<String, Type> {
        pairs.iter().map(|(k, t)| (k.to_string(), t.clone())).collect()
    };
    let spec = StructType::new(
        "kubernetes.NamespaceSpec",
        Fields::Fixed(f(&[("finalizers", list(Type::String))])),
    );
    let cond = StructType::new(
        "kubernetes.NamespaceCondition",
        Fields::Fixed(f(&[
            ("status", Type::String),
            ("type", Type::String),
            ("lastTransitionTime", Type::Timestamp),
            ("message", Type::String),
            ("reason", Type::String),
        ])),
    );
    let status = StructType::new(
        "kubernetes.NamespaceStatus",
        Fields::Fixed(f(&[("conditions", list(cond)), ("phase", Type::String)])),
    );
    let meta = StructType::new(
        "kubernetes.NamespaceMetadata",
        Fields::Fixed(f(&[
            ("name", Type::String),
            ("generateName", Type::String),
            ("namespace", Type::String),
            ("labels", map(Type::String, Type::String)),
            ("annotations", map(Type::String, Type::String)),
            ("UID", Type::String),
            ("creationTimestamp", Type::Timestamp),
            ("deletionGracePeriodSeconds", Type::Int),
            ("deletionTimestamp", Type::Timestamp),
            ("generation", Type::Int),
            ("resourceVersion", Type::String),
            ("finalizers", list(Type::String)),
        ])),
    );
    StructType::new(
        "kubernetes.Namespace",
        Fields::Fixed(f(&[("metadata", meta), ("spec", spec), ("status", status)])),
    )
}

#[cfg(test)]
mod tests;
