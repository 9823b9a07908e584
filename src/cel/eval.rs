//! The interpreter: a checked expression planned into a tree of resolved calls, evaluated
//! with cel-go's semantics (errors are values that `&&`, `||` and comprehensions can absorb,
//! `or`/`orValue` short-circuit) and its runtime cost tracking: identifiers and field
//! selections cost 1, constants 0, list/map/struct literals 10/30/40, calls what upstream's
//! cost functions say; past the per-call limit evaluation stops with "operation cancelled:
//! actual cost limit exceeded". Constant lists, maps and conversions are folded at plan time
//! (cel-go's `OptOptimize`).

use super::check::{qualified_name, Checked, Ref};
use super::cost;
use super::decls::{value_fits, Overload};
use super::lib::stdlib::{list_index, map_get};
use super::value::{display, list, string, List, Map, StructVal, Value};
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use std::sync::Arc;

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    pub msg: String,
    /// The per-call cost limit stopped it.
    pub cancelled: bool,
}

impl EvalError {
    pub fn new(msg: impl Into<String>) -> EvalError {
        EvalError {
            msg: msg.into(),
            cancelled: false,
        }
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

pub const COST_LIMIT_EXCEEDED: &str = "operation cancelled: actual cost limit exceeded";

type Res<'a> = Result<Value<'a>, EvalError>;

#[derive(Debug)]
pub enum Node {
    Const(Value<'static>),
    Var(Arc<str>),
    Select {
        op: Box<Node>,
        field: Arc<str>,
        test: bool,
    },
    OptSelect {
        op: Box<Node>,
        field: Arc<str>,
    },
    Call {
        func: &'static str,
        overloads: Vec<&'static Overload>,
        args: Vec<Node>,
    },
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    NotStrictlyFalse(Box<Node>),
    List {
        elems: Vec<Node>,
        optional: Vec<usize>,
    },
    Map {
        entries: Vec<(Node, Node, bool)>,
    },
    Struct {
        name: Arc<str>,
        fields: Vec<(Arc<str>, Node, bool)>,
    },
    Comp(Box<Comp>),
    /// `x in [constants]`, folded to a membership test over the constant list.
    InConst(Box<Node>, Vec<Value<'static>>),
}

#[derive(Debug)]
pub struct Comp {
    range: Node,
    var: Arc<str>,
    var2: Option<Arc<str>>,
    accu: Arc<str>,
    init: Node,
    cond: Node,
    step: Node,
    result: Node,
}

fn literal(l: &LiteralValue) -> Value<'static> {
    match l {
        LiteralValue::Boolean(b) => Value::Bool(*b.inner()),
        LiteralValue::Bytes(b) => Value::Bytes(b.inner().into()),
        LiteralValue::Double(d) => Value::Double(*d.inner()),
        LiteralValue::Int(i) => Value::Int(*i.inner()),
        LiteralValue::Null => Value::Null,
        LiteralValue::String(s) => string(s.inner()),
        LiteralValue::UInt(u) => Value::Uint(*u.inner()),
    }
}

/// Plan a checked expression.
pub fn plan(e: &IdedExpr, c: &Checked) -> Node {
    match &e.expr {
        Expr::Literal(l) => Node::Const(literal(l)),
        Expr::Ident(n) => match c.refs.get(&e.id) {
            Some(Ref::TypeName(t)) => Node::Const(Value::Type(type_value_name(t).into())),
            _ => Node::Var(n.as_str().into()),
        },
        Expr::Select(s) => {
            match c.refs.get(&e.id) {
                Some(Ref::Var(q)) if qualified_name(e).as_deref() == Some(q.as_str()) => {
                    return Node::Var(q.as_str().into());
                }
                Some(Ref::TypeName(t)) => return Node::Const(Value::Type(type_value_name(t).into())),
                _ => {}
            }
            Node::Select {
                op: Box::new(plan(&s.operand, c)),
                field: s.field.as_str().into(),
                test: s.test,
            }
        }
        Expr::Call(call) => {
            let name = call.func_name.as_str();
            if name == "_?._" {
                let field = match call.args.get(1).map(|a| &a.expr) {
                    Some(Expr::Literal(LiteralValue::String(s))) => s.inner().to_string(),
                    _ => String::new(),
                };
                return Node::OptSelect {
                    op: Box::new(plan(&call.args[0], c)),
                    field: field.into(),
                };
            }
            let overloads = match c.refs.get(&e.id) {
                Some(Ref::Call(o)) => o.clone(),
                _ => Vec::new(),
            };
            let func = overloads.first().map(|_| static_name(name)).unwrap_or("");
            // Qualified global functions (`optional.of(x)`) drop the target.
            let qualified = call.target.is_some() && overloads.first().is_some_and(|o| !o.member);
            let mut args: Vec<Node> = Vec::new();
            if let (Some(t), false) = (&call.target, qualified) {
                args.push(plan(t, c));
            }
            args.extend(call.args.iter().map(|a| plan(a, c)));
            match name {
                "_&&_" => {
                    let b = args.pop().expect("two args");
                    let a = args.pop().expect("two args");
                    return Node::And(Box::new(a), Box::new(b));
                }
                "_||_" => {
                    let b = args.pop().expect("two args");
                    let a = args.pop().expect("two args");
                    return Node::Or(Box::new(a), Box::new(b));
                }
                "_?_:_" => {
                    let f = args.pop().expect("three args");
                    let t = args.pop().expect("three args");
                    let cnd = args.pop().expect("three args");
                    return Node::Cond(Box::new(cnd), Box::new(t), Box::new(f));
                }
                "@not_strictly_false" => return Node::NotStrictlyFalse(Box::new(args.remove(0))),
                "@in" => {
                    if let Node::Const(Value::List(List::Own(items))) = &args[1] {
                        let consts: Vec<Value<'static>> = items.iter().cloned().collect();
                        if consts
                            .iter()
                            .all(|v| !matches!(v, Value::Bytes(_) | Value::List(_) | Value::Map(_)))
                        {
                            let lhs = args.remove(0);
                            return Node::InConst(Box::new(lhs), consts);
                        }
                    }
                }
                _ => {}
            }
            let node = Node::Call { func, overloads, args };
            fold_conversion(node)
        }
        Expr::List(l) => {
            let elems: Vec<Node> = l.elements.iter().map(|x| plan(x, c)).collect();
            if l.optional_indices.is_empty() && elems.iter().all(|n| matches!(n, Node::Const(_))) {
                let vals = elems
                    .into_iter()
                    .map(|n| match n {
                        Node::Const(v) => v,
                        _ => Value::Null,
                    })
                    .collect();
                return Node::Const(list(vals));
            }
            Node::List {
                elems,
                optional: l.optional_indices.clone(),
            }
        }
        Expr::Map(m) => {
            let entries: Vec<(Node, Node, bool)> = m
                .entries
                .iter()
                .filter_map(|en| match &en.expr {
                    EntryExpr::MapEntry(me) => Some((plan(&me.key, c), plan(&me.value, c), me.optional)),
                    _ => None,
                })
                .collect();
            let all_const = entries
                .iter()
                .all(|(k, v, o)| !o && matches!(k, Node::Const(kv) if kv.is_key()) && matches!(v, Node::Const(_)));
            if all_const {
                let mut out: Vec<(Value<'static>, Value<'static>)> = Vec::new();
                let mut dup = false;
                for (k, v, _) in &entries {
                    if let (Node::Const(k), Node::Const(v)) = (k, v) {
                        if out.iter().any(|(x, _)| x.equals(k)) {
                            dup = true;
                        }
                        out.push((k.clone(), v.clone()));
                    }
                }
                if !dup {
                    return Node::Const(Value::Map(Map::Own(Arc::new(out))));
                }
            }
            Node::Map { entries }
        }
        Expr::Struct(s) => Node::Struct {
            name: s.type_name.as_str().into(),
            fields: s
                .entries
                .iter()
                .filter_map(|en| match &en.expr {
                    EntryExpr::StructField(sf) => Some((sf.field.as_str().into(), plan(&sf.value, c), sf.optional)),
                    _ => None,
                })
                .collect(),
        },
        Expr::Comprehension(co) => Node::Comp(Box::new(Comp {
            range: plan(&co.iter_range, c),
            var: co.iter_var.as_str().into(),
            var2: co.iter_var2.as_deref().map(Into::into),
            accu: co.accu_var.as_str().into(),
            init: plan(&co.accu_init, c),
            cond: plan(&co.loop_cond, c),
            step: plan(&co.loop_step, c),
            result: plan(&co.result, c),
        })),
        Expr::Unspecified => Node::Const(Value::Null),
    }
}

fn type_value_name(t: &str) -> &str {
    t
}

fn static_name(n: &str) -> &'static str {
    super::decls::registry()
        .funcs
        .get_key_value(n)
        .map(|(k, _)| *k)
        .unwrap_or("")
}

/// Conversions of constants are evaluated once (cel-go `maybeOptimizeConstUnary`).
fn fold_conversion(n: Node) -> Node {
    if let Node::Call { func, overloads, args } = &n {
        let conv = matches!(
            *func,
            "int" | "uint" | "double" | "string" | "bytes" | "bool" | "duration" | "timestamp" | "dyn" | "type"
        );
        if conv && args.len() == 1 {
            if let (Node::Const(v), [o]) = (&args[0], overloads.as_slice()) {
                if let Some(imp) = o.imp {
                    if let Ok(r) = imp(vec![v.clone()]) {
                        return Node::Const(r.to_owned_value());
                    }
                }
            }
        }
    }
    n
}

/// Lazily evaluated `variables` of admission policies.
pub trait Lazy<'a> {
    fn get(&self, name: &str) -> Option<Res<'a>>;
    fn names(&self) -> Vec<String>;
}

/// The variables an evaluation sees.
#[derive(Default)]
pub struct Activation<'a> {
    pub vars: Vec<(&'a str, Value<'a>)>,
    pub lazy: Option<&'a dyn Lazy<'a>>,
}

impl<'a> Activation<'a> {
    pub fn new() -> Activation<'a> {
        Activation {
            vars: Vec::new(),
            lazy: None,
        }
    }
    pub fn with(mut self, name: &'a str, v: Value<'a>) -> Activation<'a> {
        self.vars.push((name, v));
        self
    }
    pub fn set(&mut self, name: &'a str, v: Value<'a>) {
        self.vars.push((name, v));
    }
}

struct Interp<'p, 'a> {
    act: &'p Activation<'a>,
    locals: Vec<(Arc<str>, Res<'a>)>,
    cost: u64,
    limit: Option<u64>,
}

impl<'a> Interp<'_, 'a> {
    fn charge(&mut self, c: u64) -> Result<(), EvalError> {
        self.cost = self.cost.saturating_add(c);
        match self.limit {
            Some(l) if self.cost > l => Err(EvalError {
                msg: COST_LIMIT_EXCEEDED.into(),
                cancelled: true,
            }),
            _ => Ok(()),
        }
    }

    fn var(&mut self, name: &str) -> Res<'a> {
        self.charge(1)?;
        for (n, v) in self.locals.iter().rev() {
            if &**n == name {
                return v.clone();
            }
        }
        for (n, v) in self.act.vars.iter().rev() {
            if *n == name {
                return Ok(v.clone());
            }
        }
        if name == "variables" {
            if let Some(l) = self.act.lazy {
                let mut entries = Vec::new();
                for n in l.names() {
                    let v = l.get(&n).unwrap_or_else(|| Err(EvalError::new("no such key")))?;
                    entries.push((string(n), v));
                }
                return Ok(Value::Map(Map::Own(Arc::new(entries))));
            }
        }
        Err(EvalError::new(format!("no such attribute(s): {name}")))
    }

    fn eval(&mut self, n: &Node) -> Res<'a> {
        match n {
            Node::Const(v) => Ok(v.clone()),
            Node::Var(name) => self.var(name),
            Node::Select { op, field, test } => {
                // `variables.x` of admission policies evaluates `x` on first use.
                if let (Node::Var(v), Some(l)) = (&**op, self.act.lazy) {
                    if &**v == "variables" && !self.locals.iter().any(|(n, _)| &**n == "variables") {
                        self.charge(if *test { 1 } else { 2 })?;
                        return match l.get(field) {
                            Some(r) if *test => r.map(|_| Value::Bool(true)),
                            Some(r) => r,
                            None if *test => Ok(Value::Bool(false)),
                            None => Err(EvalError::new(format!("no such key: {field}"))),
                        };
                    }
                }
                let v = self.eval(op)?;
                if *test {
                    return select_test(&v, field);
                }
                self.charge(1)?;
                select(&v, field)
            }
            Node::OptSelect { op, field } => {
                let v = self.eval(op)?;
                self.charge(1)?;
                match v {
                    Value::Optional(None) => Ok(Value::Optional(None)),
                    Value::Optional(Some(inner)) => Ok(opt_field(&inner, field)),
                    other => Ok(opt_field(&other, field)),
                }
            }
            Node::And(a, b) => {
                let l = self.eval(a);
                if matches!(l, Ok(Value::Bool(false))) {
                    return Ok(Value::Bool(false));
                }
                if let Err(e) = &l {
                    if e.cancelled {
                        return l;
                    }
                }
                let r = self.eval(b);
                match (l, r) {
                    (_, Ok(Value::Bool(false))) => Ok(Value::Bool(false)),
                    (Ok(Value::Bool(true)), Ok(Value::Bool(true))) => Ok(Value::Bool(true)),
                    (_, Err(e)) if e.cancelled => Err(e),
                    (Err(e), _) => Err(e),
                    (_, Err(e)) => Err(e),
                    _ => Err(EvalError::new("no such overload")),
                }
            }
            Node::Or(a, b) => {
                let l = self.eval(a);
                if matches!(l, Ok(Value::Bool(true))) {
                    return Ok(Value::Bool(true));
                }
                if let Err(e) = &l {
                    if e.cancelled {
                        return l;
                    }
                }
                let r = self.eval(b);
                match (l, r) {
                    (_, Ok(Value::Bool(true))) => Ok(Value::Bool(true)),
                    (Ok(Value::Bool(false)), Ok(Value::Bool(false))) => Ok(Value::Bool(false)),
                    (_, Err(e)) if e.cancelled => Err(e),
                    (Err(e), _) => Err(e),
                    (_, Err(e)) => Err(e),
                    _ => Err(EvalError::new("no such overload")),
                }
            }
            Node::Cond(c, t, f) => match self.eval(c)? {
                Value::Bool(true) => self.eval(t),
                Value::Bool(false) => self.eval(f),
                _ => Err(EvalError::new("no such overload")),
            },
            Node::NotStrictlyFalse(a) => {
                let r = self.eval(a);
                self.charge(1)?;
                match r {
                    Ok(Value::Bool(b)) => Ok(Value::Bool(b)),
                    Err(e) if e.cancelled => Err(e),
                    _ => Ok(Value::Bool(true)),
                }
            }
            Node::InConst(lhs, items) => {
                let v = self.eval(lhs)?;
                Ok(Value::Bool(items.iter().any(|i| i.equals(&v))))
            }
            Node::List { elems, optional } => {
                let mut out = Vec::with_capacity(elems.len());
                for (i, e) in elems.iter().enumerate() {
                    let v = self.eval(e)?;
                    if optional.contains(&i) {
                        match v {
                            Value::Optional(Some(x)) => out.push(*x),
                            Value::Optional(None) => {}
                            other => {
                                return Err(EvalError::new(format!(
                                    "cannot initialize optional list element from non-optional value {}",
                                    display(&other)
                                )))
                            }
                        }
                    } else {
                        out.push(v);
                    }
                }
                self.charge(cost::LIST_CREATE)?;
                Ok(list(out))
            }
            Node::Map { entries } => {
                let mut out: Vec<(Value<'a>, Value<'a>)> = Vec::with_capacity(entries.len());
                for (k, v, opt) in entries {
                    let k = self.eval(k)?;
                    let v = self.eval(v)?;
                    if !k.is_key() {
                        return Err(EvalError::new(format!("unsupported key type: {}", k.type_name())));
                    }
                    if out.iter().any(|(x, _)| x.equals(&k)) {
                        return Err(EvalError::new(format!("Failed with repeated key: {}", display(&k))));
                    }
                    if *opt {
                        match v {
                            Value::Optional(Some(x)) => out.push((k, *x)),
                            Value::Optional(None) => {}
                            other => {
                                return Err(EvalError::new(format!(
                                    "cannot initialize optional entry '{}' from non-optional value {}",
                                    display(&k),
                                    display(&other)
                                )))
                            }
                        }
                    } else {
                        out.push((k, v));
                    }
                }
                self.charge(cost::MAP_CREATE)?;
                Ok(Value::Map(Map::Own(Arc::new(out))))
            }
            Node::Struct { name, fields } => {
                let mut out = Vec::with_capacity(fields.len());
                for (f, v, opt) in fields {
                    let v = self.eval(v)?;
                    if *opt {
                        match v {
                            Value::Optional(Some(x)) => out.push((f.clone(), *x)),
                            Value::Optional(None) => {}
                            other => {
                                return Err(EvalError::new(format!(
                                    "cannot initialize optional entry '{f}' from non-optional value {}",
                                    display(&other)
                                )))
                            }
                        }
                    } else {
                        out.push((f.clone(), v));
                    }
                }
                self.charge(cost::STRUCT_CREATE)?;
                Ok(Value::Struct(Arc::new(StructVal {
                    name: name.clone(),
                    fields: out,
                })))
            }
            Node::Comp(c) => self.comprehension(c),
            Node::Call { func, overloads, args } => self.call(func, overloads, args),
        }
    }

    fn comprehension(&mut self, c: &Comp) -> Res<'a> {
        let range = self.eval(&c.range)?;
        let items: Vec<(Value<'a>, Value<'a>)> = match &range {
            Value::List(l) => l.iter().enumerate().map(|(i, v)| (Value::Int(i as i64), v)).collect(),
            Value::Map(m) => {
                if c.var2.is_some() {
                    m.entries()
                } else {
                    m.keys().into_iter().map(|k| (k, Value::Null)).collect()
                }
            }
            _ => return Err(EvalError::new("no such overload")),
        };
        let list_range = matches!(range, Value::List(_));
        let init = self.eval(&c.init);
        let base = self.locals.len();
        self.locals.push((c.accu.clone(), init));
        for (k, v) in items {
            self.locals.truncate(base + 1);
            match &c.var2 {
                Some(v2) => {
                    self.locals.push((c.var.clone(), Ok(k)));
                    self.locals.push((v2.clone(), Ok(v)));
                }
                None => {
                    let single = if list_range { v } else { k };
                    self.locals.push((c.var.clone(), Ok(single)));
                }
            }
            match self.eval(&c.cond) {
                Ok(Value::Bool(false)) => break,
                Ok(Value::Bool(true)) => {}
                Err(e) => {
                    self.locals.truncate(base);
                    return Err(e);
                }
                Ok(_) => {
                    self.locals.truncate(base);
                    return Err(EvalError::new("no such overload"));
                }
            }
            let step = self.eval(&c.step);
            if let Err(e) = &step {
                if e.cancelled {
                    self.locals.truncate(base);
                    return step;
                }
            }
            self.locals[base].1 = step;
        }
        self.locals.truncate(base + 1);
        let r = self.eval(&c.result);
        self.locals.truncate(base);
        r
    }

    fn call(&mut self, func: &'static str, overloads: &[&'static Overload], args: &[Node]) -> Res<'a> {
        let short = overloads.first().map(|o| o.id);
        // Optional `or`/`orValue` do not evaluate their argument when the receiver has a value.
        if matches!(short, Some("optional_or_optional") | Some("optional_orValue_value")) {
            let recv = self.eval(&args[0])?;
            self.charge(1)?;
            return match recv {
                Value::Optional(Some(v)) => Ok(if short == Some("optional_or_optional") {
                    Value::Optional(Some(v))
                } else {
                    *v
                }),
                Value::Optional(None) => self.eval(&args[1]),
                _ => Err(EvalError::new("no such overload")),
            };
        }
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(a)?);
        }
        let o = if overloads.len() == 1 {
            overloads[0]
        } else {
            match overloads
                .iter()
                .find(|o| o.params.len() == vals.len() && o.params.iter().zip(&vals).all(|(t, v)| value_fits(t, v)))
            {
                Some(o) => *o,
                None => return Err(EvalError::new(format!("no such overload: {func}"))),
            }
        };
        let Some(imp) = o.imp else {
            return Err(EvalError::new(format!("no such overload: {func}")));
        };
        let cost_args: Vec<Value<'a>> = if cost::needs_args(func, o.id) {
            vals.clone()
        } else {
            Vec::new()
        };
        let r = imp(vals).map_err(EvalError::new);
        let c = cost::call_cost(func, o.id, &cost_args, r.as_ref().ok());
        self.charge(c)?;
        r
    }
}

/// `v.f` on a map, object or struct.
pub fn select<'a>(v: &Value<'a>, field: &str) -> Res<'a> {
    match v {
        Value::Map(m) => m
            .get(&string(field))
            .ok_or_else(|| EvalError::new(format!("no such key: {field}"))),
        Value::Struct(s) => s
            .fields
            .iter()
            .find(|(k, _)| &**k == field)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| EvalError::new(format!("no such field '{field}'"))),
        Value::Optional(_) => Err(EvalError::new("no such overload")),
        // cel-go's `refQualify` (v0.23, Kubernetes 1.33): a list takes no string index; any
        // other value (null — e.g. an unset `oldObject` or `namespaceObject` —, scalars) has
        // no such key.
        Value::List(_) => Err(EvalError::new("unsupported index type 'string' in list")),
        _ => Err(EvalError::new(format!("no such key: {field}"))),
    }
}

/// `has(v.f)`: as cel-go's `refQualify` with a presence test (bad presence tests are not
/// errors there): false on values that are neither maps nor objects.
fn select_test<'a>(v: &Value<'a>, field: &str) -> Res<'a> {
    match v {
        Value::Map(m) => Ok(Value::Bool(m.get(&string(field)).is_some())),
        Value::Struct(s) => Ok(Value::Bool(s.fields.iter().any(|(k, _)| &**k == field))),
        Value::List(_) => Err(EvalError::new("unsupported index type 'string' in list")),
        Value::Optional(_) => Err(EvalError::new("invalid type for field selection.")),
        _ => Ok(Value::Bool(false)),
    }
}

fn opt_field<'a>(v: &Value<'a>, field: &str) -> Value<'a> {
    match select(v, field) {
        Ok(x) => Value::Optional(Some(Box::new(x))),
        Err(_) => Value::Optional(None),
    }
}

/// `_[_]`/`_[?_]` on optionals (the optionals library's index overloads).
pub fn opt_index<'a>(target: &Value<'a>, key: &Value<'a>) -> Result<Value<'a>, String> {
    let inner = match target {
        Value::Optional(None) => return Ok(Value::Optional(None)),
        Value::Optional(Some(v)) => (**v).clone(),
        v => v.clone(),
    };
    Ok(match &inner {
        Value::List(l) => match list_index(l, key) {
            Ok(i) => Value::Optional(l.get(i).map(Box::new)),
            Err(_) => Value::Optional(None),
        },
        Value::Map(m) => Value::Optional(map_get(m, key).ok().map(Box::new)),
        _ => return Err("no such overload".into()),
    })
}

/// Evaluate a planned expression.
pub fn run<'a>(n: &Node, act: &Activation<'a>, limit: Option<u64>) -> (Res<'a>, u64) {
    let mut i = Interp {
        act,
        locals: Vec::new(),
        cost: 0,
        limit,
    };
    let r = i.eval(n);
    (r, i.cost)
}
