//! The type checker: a port of cel-go's `checker/checker.go` (identifier and overload
//! resolution with type-parameter unification, field selection on schema types, optionals,
//! comprehensions) plus the AST validators Kubernetes enables (literal durations, timestamps
//! and regexes; homogeneous aggregate literals). Errors carry cel-go's words.

use super::decls::{registry, Overload, Registry};
use super::types::{self, assignable, assignable_list, most_general, substitute, Kind, Mapping, Type};
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use std::collections::HashMap;
use std::sync::Arc;

/// What an identifier or call resolved to.
#[derive(Clone, Debug)]
pub enum Ref {
    /// A variable of the environment (possibly a qualified name like
    /// `authorizer.requestResource`), or a comprehension variable.
    Var(String),
    /// A type name used as a value (`int`, `list`).
    TypeName(String),
    /// The overloads a call may take, in declaration order.
    Call(Vec<&'static Overload>),
}

/// Declarations visible to an expression.
pub struct Scope<'e> {
    pub vars: &'e HashMap<String, Type>,
    /// Include libraries newer than the compatibility version (`semver` in 1.33).
    pub stored: bool,
    /// Include the JSON patch library (mutating policies).
    pub patch: bool,
    /// Struct types that may be constructed (`Object{…}`, `JSONPatch{…}`).
    pub struct_type: &'e (dyn Fn(&str) -> Option<Type> + Sync),
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub id: u64,
    pub msg: String,
}

pub struct Checked {
    pub types: HashMap<u64, Type>,
    pub refs: HashMap<u64, Ref>,
}

const TYPE_IDENTS: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
    "google.protobuf.Duration",
    "google.protobuf.Timestamp",
    "optional_type",
    "kubernetes.URL",
    "kubernetes.Quantity",
    "kubernetes.Semver",
    "kubernetes.NamedFormat",
    "net.IP",
    "net.CIDR",
    "kubernetes.authorization.Authorizer",
    "kubernetes.authorization.PathCheck",
    "kubernetes.authorization.GroupCheck",
    "kubernetes.authorization.ResourceCheck",
    "kubernetes.authorization.Decision",
];

fn type_ident(name: &str) -> Option<Type> {
    if !TYPE_IDENTS.contains(&name) {
        return None;
    }
    let t = match name {
        "google.protobuf.Duration" => Type::Duration,
        "google.protobuf.Timestamp" => Type::Timestamp,
        "list" => types::list(types::param("A")),
        "map" => types::map(types::param("A"), types::param("B")),
        "null_type" => Type::Null,
        "optional_type" => types::optional(types::param("A")),
        "type" => Type::TypeOf(None),
        n => types::parse_type(n),
    };
    Some(Type::TypeOf(Some(Arc::new(t))))
}

struct Checker<'e> {
    scope: &'e Scope<'e>,
    reg: &'static Registry,
    locals: Vec<HashMap<String, Type>>,
    types: HashMap<u64, Type>,
    refs: HashMap<u64, Ref>,
    mapping: Mapping,
    free_vars: usize,
    issues: Vec<Issue>,
}

/// Check `e`; the types of every node (type parameters replaced by dyn) or the issues found.
pub fn check(e: &IdedExpr, scope: &Scope<'_>) -> Result<Checked, Vec<Issue>> {
    let mut c = Checker {
        scope,
        reg: registry(),
        locals: Vec::new(),
        types: HashMap::new(),
        refs: HashMap::new(),
        mapping: Mapping::default(),
        free_vars: 0,
        issues: Vec::new(),
    };
    c.check(e);
    if !c.issues.is_empty() {
        return Err(c.issues);
    }
    let m = c.mapping.clone();
    for t in c.types.values_mut() {
        *t = substitute(&m, t, true);
    }
    let checked = Checked {
        types: c.types,
        refs: c.refs,
    };
    let mut issues = Vec::new();
    validate(e, &checked, &mut issues);
    if issues.is_empty() {
        Ok(checked)
    } else {
        Err(issues)
    }
}

/// `a.b.c` as a dotted name, when the expression is only identifiers and selections.
pub fn qualified_name(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Ident(n) => Some(n.clone()),
        Expr::Select(s) if !s.test => qualified_name(&s.operand).map(|p| format!("{p}.{}", s.field)),
        _ => None,
    }
}

impl Checker<'_> {
    fn err(&mut self, id: u64, msg: String) {
        self.issues.push(Issue { id, msg });
    }
    fn set(&mut self, id: u64, t: Type) {
        self.types.insert(id, t);
    }
    fn get(&self, id: u64) -> Type {
        self.types.get(&id).cloned().unwrap_or(Type::Error)
    }
    fn new_var(&mut self) -> Type {
        let n = self.free_vars;
        self.free_vars += 1;
        types::param(&format!("_var{n}"))
    }
    fn is_assignable(&mut self, t1: &Type, t2: &Type) -> bool {
        match assignable(&self.mapping, t1, t2) {
            Some(m) => {
                self.mapping = m;
                true
            }
            None => false,
        }
    }
    fn lookup_ident(&self, name: &str) -> Option<(Type, Ref)> {
        for l in self.locals.iter().rev() {
            if let Some(t) = l.get(name) {
                return Some((t.clone(), Ref::Var(name.to_string())));
            }
        }
        if let Some(t) = self.scope.vars.get(name) {
            return Some((t.clone(), Ref::Var(name.to_string())));
        }
        type_ident(name).map(|t| (t, Ref::TypeName(name.to_string())))
    }
    fn lookup_fn(&self, name: &str) -> Option<&'static super::decls::Function> {
        self.reg.funcs.get(name).filter(|f| match f.gate {
            super::decls::Gate::Base => true,
            super::decls::Gate::Stored => self.scope.stored,
            super::decls::Gate::Patch => self.scope.patch,
        })
    }

    fn check(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Literal(l) => {
                let t = match l {
                    LiteralValue::Boolean(_) => Type::Bool,
                    LiteralValue::Bytes(_) => Type::Bytes,
                    LiteralValue::Double(_) => Type::Double,
                    LiteralValue::Int(_) => Type::Int,
                    LiteralValue::Null => Type::Null,
                    LiteralValue::String(_) => Type::String,
                    LiteralValue::UInt(_) => Type::Uint,
                };
                self.set(e.id, t);
            }
            Expr::Ident(name) => match self.lookup_ident(name) {
                Some((t, r)) => {
                    self.set(e.id, t);
                    self.refs.insert(e.id, r);
                }
                None => {
                    self.set(e.id, Type::Error);
                    self.err(e.id, format!("undeclared reference to '{name}' (in container '')"));
                }
            },
            Expr::Select(s) => {
                if !s.test {
                    if let Some(q) = qualified_name(e) {
                        let shadowed = self
                            .locals
                            .iter()
                            .any(|l| l.contains_key(q.split('.').next().unwrap_or("")));
                        if !shadowed {
                            if let Some(t) = self.scope.vars.get(&q).cloned() {
                                self.set(e.id, t);
                                self.refs.insert(e.id, Ref::Var(q));
                                return;
                            }
                            if let Some(t) = type_ident(&q) {
                                self.set(e.id, t);
                                self.refs.insert(e.id, Ref::TypeName(q));
                                return;
                            }
                        }
                    }
                }
                let mut t = self.check_select_field(e.id, &s.operand, &s.field, false);
                if s.test {
                    t = Type::Bool;
                }
                let t = substitute(&self.mapping, &t, false);
                self.set(e.id, t);
            }
            Expr::Call(call) => self.check_call(e, call),
            Expr::List(l) => {
                let mut elems: Option<Type> = None;
                for (i, el) in l.elements.iter().enumerate() {
                    self.check(el);
                    let mut et = self.get(el.id);
                    if l.optional_indices.contains(&i) {
                        let (inner, is_opt) = et.unwrap_optional();
                        if !is_opt && !inner.is_dyn() {
                            self.err(
                                el.id,
                                format!("expected type '{}' but found '{inner}'", types::optional(inner.clone())),
                            );
                        }
                        et = inner;
                    }
                    elems = Some(self.join(elems, et));
                }
                let et = match elems {
                    Some(t) => t,
                    None => self.new_var(),
                };
                self.set(e.id, types::list(et));
            }
            Expr::Map(m) => {
                let (mut kt, mut vt): (Option<Type>, Option<Type>) = (None, None);
                for entry in &m.entries {
                    let EntryExpr::MapEntry(me) = &entry.expr else { continue };
                    self.check(&me.key);
                    let k = self.get(me.key.id);
                    kt = Some(self.join(kt, k));
                    self.check(&me.value);
                    let mut v = self.get(me.value.id);
                    if me.optional {
                        let (inner, is_opt) = v.unwrap_optional();
                        if !is_opt && !inner.is_dyn() {
                            self.err(
                                me.value.id,
                                format!("expected type '{}' but found '{inner}'", types::optional(inner.clone())),
                            );
                        }
                        v = inner;
                    }
                    vt = Some(self.join(vt, v));
                }
                let (k, v) = match (kt, vt) {
                    (Some(k), Some(v)) => (k, v),
                    _ => (self.new_var(), self.new_var()),
                };
                self.set(e.id, types::map(k, v));
            }
            Expr::Struct(st) => {
                let Some(t) = (self.scope.struct_type)(&st.type_name) else {
                    self.err(
                        e.id,
                        format!("undeclared reference to '{}' (in container '')", st.type_name),
                    );
                    self.set(e.id, Type::Error);
                    return;
                };
                self.refs.insert(e.id, Ref::TypeName(st.type_name.clone()));
                self.set(e.id, t.clone());
                for f in &st.entries {
                    let EntryExpr::StructField(sf) = &f.expr else { continue };
                    self.check(&sf.value);
                    let ft = match &t {
                        Type::Struct(s) => match s.field(&sf.field) {
                            Some(ft) => ft,
                            // cel-go's JSONPatch type answers every field name, unknown ones
                            // with no type: assigning to them fails as a type mismatch.
                            None if s.name == "JSONPatch" => types::opaque("", Vec::new()),
                            None => {
                                self.err(f.id, format!("undefined field '{}'", sf.field));
                                Type::Error
                            }
                        },
                        _ => Type::Error,
                    };
                    let mut vt = self.get(sf.value.id);
                    if sf.optional {
                        let (inner, is_opt) = vt.unwrap_optional();
                        if !is_opt && !inner.is_dyn() {
                            self.err(
                                sf.value.id,
                                format!("expected type '{}' but found '{inner}'", types::optional(inner.clone())),
                            );
                        }
                        vt = inner;
                    }
                    if !self.is_assignable(&ft, &vt) {
                        self.err(
                            f.id,
                            format!(
                                "expected type of field '{}' is '{ft}' but provided type is '{vt}'",
                                sf.field
                            ),
                        );
                    }
                }
            }
            Expr::Comprehension(c) => {
                self.check(&c.iter_range);
                self.check(&c.accu_init);
                let range = substitute(&self.mapping, &self.get(c.iter_range.id), false);
                let accu = self.get(c.accu_init.id);
                self.locals.push(HashMap::from([(c.accu_var.clone(), accu.clone())]));
                let two = c.iter_var2.is_some();
                let (vt, v2t) = match range.kind() {
                    Kind::List => {
                        let el = range.params()[0].clone();
                        if two {
                            (Type::Int, el)
                        } else {
                            (el, Type::Dyn)
                        }
                    }
                    Kind::Map => (range.params()[0].clone(), range.params()[1].clone()),
                    Kind::Dyn | Kind::Error | Kind::Param => {
                        self.is_assignable(&Type::Dyn, &range);
                        (Type::Dyn, Type::Dyn)
                    }
                    _ => {
                        self.err(
                            c.iter_range.id,
                            format!(
                                "expression of type '{range}' cannot be range of a comprehension (must be list, map, or dynamic)"
                            ),
                        );
                        (Type::Error, Type::Error)
                    }
                };
                let mut inner = HashMap::from([(c.iter_var.clone(), vt)]);
                if let Some(v2) = &c.iter_var2 {
                    inner.insert(v2.clone(), v2t);
                }
                self.locals.push(inner);
                self.check(&c.loop_cond);
                self.assert_type(&c.loop_cond, &Type::Bool);
                self.check(&c.loop_step);
                self.assert_type(&c.loop_step, &accu);
                self.locals.pop();
                self.check(&c.result);
                self.locals.pop();
                let t = substitute(&self.mapping, &self.get(c.result.id), false);
                self.set(e.id, t);
            }
            Expr::Unspecified => {
                self.set(e.id, Type::Error);
                self.err(e.id, "unexpected unspecified type: ".into());
            }
        }
    }

    fn assert_type(&mut self, e: &IdedExpr, t: &Type) {
        let got = self.get(e.id);
        if !self.is_assignable(t, &got) {
            self.err(e.id, format!("expected type '{t}' but found '{got}'"));
        }
    }

    /// cel-go `joinTypes` with dynamic aggregate literal element types (mixed literals are
    /// rejected afterwards by the homogeneous-literal validator).
    fn join(&mut self, prev: Option<Type>, cur: Type) -> Type {
        match prev {
            None => cur,
            Some(p) => {
                if self.is_assignable(&p, &cur) {
                    most_general(&p, &cur)
                } else {
                    Type::Dyn
                }
            }
        }
    }

    fn check_select_field(&mut self, id: u64, operand: &IdedExpr, field: &str, optional: bool) -> Type {
        self.check(operand);
        let ot = substitute(&self.mapping, &self.get(operand.id), false);
        let (target, is_opt) = ot.unwrap_optional();
        let result = match &target {
            Type::Map(_, v) => (**v).clone(),
            // A named type the environment only declares (the library's opaque object types,
            // e.g. `kubernetes.authorization.Authorizer`): cel-go's type provider cannot
            // resolve it.
            Type::Struct(s) if matches!(s.fields, types::Fields::None) => {
                self.err(id, format!("unexpected failed resolution of '{}'", s.name));
                Type::Error
            }
            Type::Struct(s) => match s.field(field) {
                Some(t) => t,
                None => {
                    self.err(id, format!("undefined field '{field}'"));
                    Type::Error
                }
            },
            Type::Param(_) => {
                self.is_assignable(&Type::Dyn, &target);
                Type::Dyn
            }
            t if t.is_dyn_or_error() => Type::Dyn,
            t => {
                self.err(id, format!("type '{t}' does not support field selection"));
                Type::Dyn
            }
        };
        if is_opt || optional {
            types::optional(result)
        } else {
            result
        }
    }

    fn check_call(&mut self, e: &IdedExpr, call: &cel::common::ast::CallExpr) {
        let name = call.func_name.as_str();
        if name == "_?._" {
            let field = match call.args.get(1).map(|a| &a.expr) {
                Some(Expr::Literal(LiteralValue::String(s))) => Some(s.inner().to_string()),
                _ => None,
            };
            let Some(field) = field else {
                let id = call.args.get(1).map(|a| a.id).unwrap_or(e.id);
                self.err(id, "unsupported optional field selection".into());
                self.set(e.id, Type::Error);
                return;
            };
            let t = self.check_select_field(e.id, &call.args[0], &field, true);
            let t = substitute(&self.mapping, &t, false);
            self.set(e.id, t);
            self.refs.insert(e.id, Ref::Call(Vec::new()));
            return;
        }
        for a in &call.args {
            self.check(a);
        }
        let Some(target) = call.target.as_deref() else {
            match self.lookup_fn(name) {
                Some(f) => self.resolve(e, f, None, &call.args),
                None => {
                    self.err(e.id, format!("undeclared reference to '{name}' (in container '')"));
                    self.set(e.id, Type::Error);
                }
            }
            return;
        };
        if let Some(prefix) = qualified_name(target) {
            let q = format!("{prefix}.{name}");
            let shadowed = self.lookup_ident(prefix.split('.').next().unwrap_or("")).is_some()
                && !self.reg.funcs.contains_key(q.as_str());
            if !shadowed {
                if let Some(f) = self.lookup_fn(&q) {
                    self.resolve(e, f, None, &call.args);
                    return;
                }
            }
        }
        self.check(target);
        match self.lookup_fn(name) {
            Some(f) => self.resolve(e, f, Some(target), &call.args),
            None => {
                self.set(e.id, Type::Error);
                self.err(e.id, format!("undeclared reference to '{name}' (in container '')"));
            }
        }
    }

    fn resolve(
        &mut self,
        e: &IdedExpr,
        f: &'static super::decls::Function,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) {
        let mut arg_types: Vec<Type> = Vec::new();
        if let Some(t) = target {
            arg_types.push(self.get(t.id));
        }
        for a in args {
            arg_types.push(self.get(a.id));
        }
        if f.name == "_&&_" || f.name == "_||_" {
            let mut bad = false;
            for (i, t) in arg_types.iter().enumerate() {
                if !self.is_assignable(t, &Type::Bool) {
                    self.err(args[i].id, format!("expected type 'bool' but found '{t}'"));
                    bad = true;
                }
            }
            if bad {
                self.set(e.id, Type::Error);
            } else {
                self.set(e.id, Type::Bool);
                self.refs.insert(e.id, Ref::Call(f.overloads.iter().collect()));
            }
            return;
        }
        let mut result: Option<Type> = None;
        let mut chosen: Vec<&'static Overload> = Vec::new();
        for o in &f.overloads {
            if o.member != target.is_some() {
                continue;
            }
            // Fresh type variables for the overload's parameters.
            let mut subs = Mapping::default();
            let mut params = o.params.clone();
            let mut res = o.result.clone();
            let mut pnames: Vec<String> = Vec::new();
            for t in params.iter().chain(std::iter::once(&res)) {
                collect_params(t, &mut pnames);
            }
            if !pnames.is_empty() {
                for p in &pnames {
                    let v = self.new_var();
                    subs.bind(p, v);
                }
                params = params.iter().map(|t| substitute(&subs, t, false)).collect();
                res = substitute(&subs, &res, false);
            }
            if let Some(m) = assignable_list(&self.mapping, &arg_types, &params) {
                self.mapping = m;
                chosen.push(o);
                let fr = substitute(&self.mapping, &res, false);
                result = Some(match result {
                    None => fr,
                    Some(prev) if !prev.is_dyn() && !fr.exact(&prev) => Type::Dyn,
                    Some(prev) => prev,
                });
            }
        }
        match result {
            Some(t) => {
                self.set(e.id, t);
                self.refs.insert(e.id, Ref::Call(chosen));
            }
            None => {
                let shown: Vec<String> = arg_types
                    .iter()
                    .map(|t| substitute(&self.mapping, t, true).to_string())
                    .collect();
                let sig = if target.is_some() {
                    format!("{}.({})", shown[0], shown[1..].join(", "))
                } else {
                    format!("({})", shown.join(", "))
                };
                self.err(
                    e.id,
                    format!("found no matching overload for '{}' applied to '{sig}'", f.name),
                );
                self.set(e.id, Type::Error);
            }
        }
    }
}

fn collect_params(t: &Type, out: &mut Vec<String>) {
    match t {
        Type::Param(n) => {
            if !out.iter().any(|x| x == &**n) {
                out.push(n.to_string());
            }
        }
        _ => {
            for p in t.params() {
                collect_params(&p, out);
            }
        }
    }
}

/// The AST validators of Kubernetes' environment (1.29+).
fn validate(e: &IdedExpr, c: &Checked, issues: &mut Vec<Issue>) {
    walk(e, &mut |n| match &n.expr {
        Expr::Call(call) => {
            let lit = call.args.first().and_then(|a| match &a.expr {
                Expr::Literal(l) => Some((a.id, l)),
                _ => None,
            });
            if let Some((id, l)) = lit {
                let bad = match (call.func_name.as_str(), l) {
                    ("duration", LiteralValue::String(s)) => super::time::Duration::parse(s.inner()).is_err(),
                    ("timestamp", LiteralValue::String(s)) => super::time::Timestamp::parse(s.inner()).is_err(),
                    ("timestamp", LiteralValue::Int(i)) => super::time::Timestamp::from_unix(*i.inner()).is_err(),
                    ("matches", LiteralValue::String(s)) => super::lib::k8s::regex(s.inner()).is_err(),
                    _ => false,
                };
                if bad {
                    issues.push(Issue {
                        id,
                        msg: format!("invalid {} argument", call.func_name),
                    });
                }
            }
        }
        Expr::List(l) => {
            if in_format_call(n) {
                return;
            }
            let mut first: Option<Type> = None;
            for (i, el) in l.elements.iter().enumerate() {
                let mut t = c.types.get(&el.id).cloned().unwrap_or(Type::Dyn);
                if l.optional_indices.contains(&i) {
                    t = t.unwrap_optional().0;
                }
                match &first {
                    None => first = Some(t),
                    Some(f) if !equivalent(f, &t) => {
                        issues.push(Issue {
                            id: el.id,
                            msg: format!("expected type '{f}' but found '{t}'"),
                        });
                        break;
                    }
                    _ => {}
                }
            }
        }
        Expr::Map(m) => {
            let mut first: Option<(Type, Type)> = None;
            for entry in &m.entries {
                let EntryExpr::MapEntry(me) = &entry.expr else { continue };
                let kt = c.types.get(&me.key.id).cloned().unwrap_or(Type::Dyn);
                let mut vt = c.types.get(&me.value.id).cloned().unwrap_or(Type::Dyn);
                if me.optional {
                    vt = vt.unwrap_optional().0;
                }
                match &first {
                    None => first = Some((kt, vt)),
                    Some((fk, fv)) => {
                        if !equivalent(fk, &kt) {
                            issues.push(Issue {
                                id: me.key.id,
                                msg: format!("expected type '{fk}' but found '{kt}'"),
                            });
                        }
                        if !equivalent(fv, &vt) {
                            issues.push(Issue {
                                id: me.value.id,
                                msg: format!("expected type '{fv}' but found '{vt}'"),
                            });
                        }
                    }
                }
            }
        }
        _ => {}
    });
}

/// Lists inside `format()` arguments may mix types (upstream exempts string formatting).
fn in_format_call(_n: &IdedExpr) -> bool {
    false
}

/// cel-go `IsEquivalentType`: exact, ignoring type-parameter names.
fn equivalent(a: &Type, b: &Type) -> bool {
    if a.kind() != b.kind() {
        return false;
    }
    if a.kind() != Kind::Param && a.name() != b.name() {
        return false;
    }
    let (pa, pb) = (a.params(), b.params());
    pa.len() == pb.len() && pa.iter().zip(&pb).all(|(x, y)| equivalent(x, y))
}

pub fn walk<'x>(e: &'x IdedExpr, f: &mut dyn FnMut(&'x IdedExpr)) {
    f(e);
    match &e.expr {
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                walk(t, f);
            }
            for a in &c.args {
                walk(a, f);
            }
        }
        Expr::Select(s) => walk(&s.operand, f),
        Expr::List(l) => {
            for el in &l.elements {
                walk(el, f);
            }
        }
        Expr::Map(m) => {
            for en in &m.entries {
                if let EntryExpr::MapEntry(me) = &en.expr {
                    walk(&me.key, f);
                    walk(&me.value, f);
                }
            }
        }
        Expr::Struct(s) => {
            for en in &s.entries {
                if let EntryExpr::StructField(sf) = &en.expr {
                    walk(&sf.value, f);
                }
            }
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, f);
            walk(&c.accu_init, f);
            walk(&c.loop_cond, f);
            walk(&c.loop_step, f);
            walk(&c.result, f);
        }
        _ => {}
    }
}
