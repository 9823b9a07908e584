//! CEL cost: the static estimate (a port of cel-go's `checker/cost.go` with Kubernetes'
//! `library.CostEstimator` for its functions and the schema size estimator of CRD rules) and
//! the runtime cost of each call (cel-go's `CostTracker` and `library.CostEstimator.CallCost`).
//! Both are upstream API: which CRD rules and policies are accepted depends on them.

use super::check::{Checked, Ref};
use super::schema::{DeclKind, DeclType};
use super::types::{Kind, Type};
use super::value::Value;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use std::collections::HashMap;
use std::sync::Arc;

pub const LIST_CREATE: u64 = 10;
pub const MAP_CREATE: u64 = 30;
pub const STRUCT_CREATE: u64 = 40;
const STRING_TRAVERSAL: f64 = 0.1;
const REGEX_STRING_LENGTH: f64 = 0.25;
/// Upstream `MaxNameFormatRegexSize`: the longest regex of the named formats.
const MAX_NAME_FORMAT_REGEX_SIZE: f64 = 128.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Est {
    pub min: u64,
    pub max: u64,
}

impl Est {
    pub const fn fixed(n: u64) -> Est {
        Est { min: n, max: n }
    }
    pub const UNKNOWN: Est = Est { min: 0, max: u64::MAX };
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, o: Est) -> Est {
        Est {
            min: self.min.saturating_add(o.min),
            max: self.max.saturating_add(o.max),
        }
    }
    #[allow(clippy::should_implement_trait)]
    pub fn mul(self, o: Est) -> Est {
        Est {
            min: self.min.saturating_mul(o.min),
            max: self.max.saturating_mul(o.max),
        }
    }
    pub fn factor(self, f: f64) -> Est {
        Est {
            min: factor(self.min, f),
            max: factor(self.max, f),
        }
    }
    pub fn union(self, o: Est) -> Est {
        Est {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }
}

fn factor(x: u64, y: f64) -> u64 {
    let xf = x as f64;
    if xf > 0.0 && y > 0.0 && xf > u64::MAX as f64 / y {
        return u64::MAX;
    }
    let c = (xf * y).ceil();
    if c >= 18_446_744_073_709_551_616.0 {
        u64::MAX
    } else {
        c as u64
    }
}

fn tf(n: u64, f: f64) -> u64 {
    (n as f64 * f).ceil() as u64
}

// --- Runtime ---------------------------------------------------------------------------------

/// Whether a call's runtime cost depends on its arguments or result.
pub fn needs_args(func: &str, id: &str) -> bool {
    !matches!(cost_kind(func, id), RtCost::Fixed(_))
}

enum RtCost {
    Fixed(u64),
    Dynamic,
}

fn cost_kind(func: &str, id: &str) -> RtCost {
    match func {
        "check" => RtCost::Fixed(350_000),
        "serviceAccount"
        | "path"
        | "group"
        | "resource"
        | "subresource"
        | "namespace"
        | "name"
        | "allowed"
        | "reason"
        | "error"
        | "errored"
        | "format.named"
        | "sign"
        | "asInteger"
        | "isInteger"
        | "asApproximateFloat"
        | "isGreaterThan"
        | "isLessThan"
        | "compareTo"
        | "add"
        | "sub"
        | "major"
        | "minor"
        | "patch"
        | "getScheme"
        | "getHostname"
        | "getHost"
        | "getPort"
        | "getEscapedPath"
        | "getQuery"
        | "masked"
        | "prefixLength"
        | "family"
        | "isUnspecified"
        | "isLoopback"
        | "isLinkLocalMulticast"
        | "isLinkLocalUnicast"
        | "isGlobalUnicast" => RtCost::Fixed(1),
        "ip" if id == "cidr_ip" => RtCost::Fixed(1),
        _ => match id {
            "starts_with_string"
            | "ends_with_string"
            | "string_to_bytes"
            | "bytes_to_string"
            | "strings_quote"
            | "string_format"
            | "in_list"
            | "less_string"
            | "greater_string"
            | "less_equals_string"
            | "greater_equals_string"
            | "less_bytes"
            | "greater_bytes"
            | "less_equals_bytes"
            | "greater_equals_bytes"
            | "equals"
            | "not_equals"
            | "add_string"
            | "add_bytes"
            | "matches"
            | "matches_string"
            | "contains_string" => RtCost::Dynamic,
            _ if is_k8s_dynamic(func) => RtCost::Dynamic,
            _ => RtCost::Fixed(1),
        },
    }
}

fn is_k8s_dynamic(func: &str) -> bool {
    matches!(
        func,
        "fieldSelector"
            | "labelSelector"
            | "isSorted"
            | "sum"
            | "max"
            | "min"
            | "indexOf"
            | "lastIndexOf"
            | "url"
            | "lowerAscii"
            | "upperAscii"
            | "substring"
            | "trim"
            | "jsonpatch.escapeKey"
            | "replace"
            | "split"
            | "join"
            | "find"
            | "findAll"
            | "cidr"
            | "isIP"
            | "isCIDR"
            | "ip"
            | "ip.isCanonical"
            | "containsIP"
            | "containsCIDR"
            | "quantity"
            | "isQuantity"
            | "semver"
            | "isSemver"
            | "validate"
    )
}

fn size(v: &Value<'_>) -> u64 {
    match v {
        Value::Optional(Some(x)) => size(x),
        _ => v.size().map(|n| n as u64).unwrap_or(1),
    }
}

fn traversal(v: &Value<'_>) -> u64 {
    match v {
        Value::Str(s) => (s.len() as f64 * STRING_TRAVERSAL) as u64,
        Value::Bytes(b) => (b.len() as f64 * STRING_TRAVERSAL) as u64,
        Value::List(l) => l.iter().map(|x| traversal(&x)).sum(),
        Value::Map(m) => m.entries().iter().map(|(k, x)| traversal(k) + traversal(x)).sum(),
        _ => 1,
    }
}

/// The runtime cost of one call (arguments: the receiver first).
pub fn call_cost(func: &str, id: &str, args: &[Value<'_>], result: Option<&Value<'_>>) -> u64 {
    if let RtCost::Fixed(c) = cost_kind(func, id) {
        return c;
    }
    let a = |i: usize| args.get(i).map(size).unwrap_or(1);
    // Kubernetes' library costs first (upstream consults its estimator before cel-go's).
    match func {
        "fieldSelector" | "labelSelector" if args.len() >= 2 => {
            let l = a(1);
            let est = selector_cost(Est::fixed(l));
            return est.max;
        }
        "isSorted" | "sum" | "max" | "min" | "indexOf" | "lastIndexOf" => {
            return args.first().map(traversal).unwrap_or(0);
        }
        "url" | "lowerAscii" | "upperAscii" | "substring" | "trim" | "jsonpatch.escapeKey" if !args.is_empty() => {
            return tf(a(0), STRING_TRAVERSAL)
        }
        "replace" | "split" if !args.is_empty() => return tf(a(0), 2.0 * STRING_TRAVERSAL),
        "join" if !args.is_empty() => return tf(result.map(size).unwrap_or(1), 2.0 * STRING_TRAVERSAL),
        "find" | "findAll" if args.len() >= 2 => {
            let s = tf(1 + a(0), STRING_TRAVERSAL);
            let r = tf(a(1), REGEX_STRING_LENGTH);
            return s * r;
        }
        "cidr" | "isIP" | "isCIDR" | "quantity" | "isQuantity" | "semver" | "isSemver" if !args.is_empty() => {
            return tf(a(0), STRING_TRAVERSAL)
        }
        "ip" if !args.is_empty() => return tf(a(0), STRING_TRAVERSAL),
        "ip.isCanonical" if !args.is_empty() => return tf(a(0), 2.0 * STRING_TRAVERSAL),
        "containsIP" if args.len() >= 2 => {
            let c = a(0);
            let mut cost = tf(c + c, STRING_TRAVERSAL);
            if id == "cidr_contains_ip_string" {
                cost += tf(a(1), STRING_TRAVERSAL);
            }
            return cost;
        }
        "containsCIDR" if args.len() >= 2 => {
            let c = a(0);
            let mut cost = tf(c + c, STRING_TRAVERSAL) + tf(c, STRING_TRAVERSAL) + 1;
            if id == "cidr_contains_cidr_string" {
                cost += tf(a(1), STRING_TRAVERSAL);
            }
            return cost;
        }
        "validate" if args.len() >= 2 => {
            let s = tf(1 + a(1), STRING_TRAVERSAL);
            let r = tf(super::lib::format::max_regex_size(&args[0]), REGEX_STRING_LENGTH);
            return s * r;
        }
        "_==_" if args.len() == 2 && matches!(args[0], Value::Ext(_)) => return 1,
        _ => {}
    }
    match id {
        "starts_with_string" | "ends_with_string" | "string_to_bytes" | "bytes_to_string" | "strings_quote"
        | "string_format" => tf(a(0), STRING_TRAVERSAL),
        "in_list" => a(1),
        "less_string"
        | "greater_string"
        | "less_equals_string"
        | "greater_equals_string"
        | "less_bytes"
        | "greater_bytes"
        | "less_equals_bytes"
        | "greater_equals_bytes"
        | "equals"
        | "not_equals" => tf(a(0).min(a(1)), STRING_TRAVERSAL),
        "add_string" | "add_bytes" => tf(a(0) + a(1), STRING_TRAVERSAL),
        "matches" | "matches_string" => tf(1 + a(0), STRING_TRAVERSAL) * tf(a(1), REGEX_STRING_LENGTH),
        "contains_string" => tf(a(0), STRING_TRAVERSAL) * tf(a(1), STRING_TRAVERSAL),
        _ => 1,
    }
}

fn selector_cost(len: Est) -> Est {
    let parse = len.factor(STRING_TRAVERSAL);
    let reqs = len.factor(0.5);
    let req_cost = reqs.factor((LIST_CREATE + STRUCT_CREATE) as f64);
    Est::fixed(LIST_CREATE).add(parse).add(req_cost)
}

// --- Static estimate ---------------------------------------------------------------------------

/// Sizes of schema-typed variables: the declaration of each root variable (`self`).
pub type Roots = HashMap<String, Arc<DeclType>>;

struct Local {
    path: Vec<String>,
    size: Option<Est>,
    entry: Option<Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    list: bool,
    key: Est,
    val: Est,
}

struct Coster<'c> {
    checked: &'c Checked,
    roots: &'c Roots,
    paths: HashMap<u64, Vec<String>>,
    locals: HashMap<String, Vec<Local>>,
    sizes: HashMap<u64, Est>,
    entries: HashMap<u64, Entry>,
}

/// The estimated cost (min, max) of a checked expression.
pub fn estimate(e: &IdedExpr, checked: &Checked, roots: &Roots) -> Est {
    let mut c = Coster {
        checked,
        roots,
        paths: HashMap::new(),
        locals: HashMap::new(),
        sizes: HashMap::new(),
        entries: HashMap::new(),
    };
    c.cost(e)
}

fn is_scalar(t: &Type) -> bool {
    match t.kind() {
        Kind::Bool | Kind::Double | Kind::Duration | Kind::Int | Kind::Timestamp | Kind::Uint => true,
        Kind::Opaque if t.is_optional() => is_scalar(&t.unwrap_optional().0),
        _ => false,
    }
}

impl Coster<'_> {
    fn ty(&self, e: &IdedExpr) -> Type {
        self.checked.types.get(&e.id).cloned().unwrap_or(Type::Dyn)
    }
    fn path(&self, e: &IdedExpr) -> Vec<String> {
        if let Expr::Ident(n) = &e.expr {
            if let Some(l) = self.locals.get(n).and_then(|v| v.last()) {
                return l.path.clone();
            }
        }
        self.paths.get(&e.id).cloned().unwrap_or_default()
    }
    fn overloads(&self, e: &IdedExpr) -> Vec<&'static str> {
        match self.checked.refs.get(&e.id) {
            Some(Ref::Call(o)) => o.iter().map(|o| o.id).collect(),
            _ => Vec::new(),
        }
    }

    /// The upstream CRD size estimator: walk the declaration along the node's path.
    fn schema_size(&self, path: &[String]) -> Option<Est> {
        let (root, rest) = path.split_first()?;
        let mut cur = self.roots.get(root)?.clone();
        for p in rest {
            let next = match p.as_str() {
                "@items" | "@values" => cur.elem.clone()?,
                // Map keys are plain strings without a length: upstream sizes them 0.
                "@keys" if matches!(cur.kind, DeclKind::Map) => return Some(Est::fixed(0)),
                "@keys" => return None,
                f => match cur.kind {
                    DeclKind::Object => cur.fields.get(f)?.ty.clone(),
                    _ => return None,
                },
            };
            cur = next;
        }
        Some(Est {
            min: 0,
            max: cur.max_elements.max(0) as u64,
        })
    }

    fn size(&mut self, e: &IdedExpr) -> Option<Est> {
        if let Some(s) = self.sizes.get(&e.id) {
            return Some(*s);
        }
        let lit = match &e.expr {
            Expr::Literal(LiteralValue::String(s)) => Some(s.inner().chars().count() as u64),
            Expr::Literal(LiteralValue::Bytes(b)) => Some(b.inner().len() as u64),
            Expr::Literal(_) => Some(1),
            Expr::List(l) => Some(l.elements.len() as u64),
            Expr::Map(m) => Some(m.entries.len() as u64),
            _ => None,
        };
        if let Some(n) = lit {
            return Some(Est::fixed(n));
        }
        let path = self.path(e);
        let path = if path.first().is_some_and(|p| p == "@result" || p == "__result__") {
            Vec::new()
        } else {
            path
        };
        if !path.is_empty() {
            if let Some(s) = self.schema_size(&path) {
                self.sizes.insert(e.id, s);
                return Some(s);
            }
        }
        if is_scalar(&self.ty(e)) {
            return Some(Est::fixed(1));
        }
        if let Expr::Ident(n) = &e.expr {
            if let Some(s) = self.locals.get(n).and_then(|v| v.last()).and_then(|l| l.size) {
                return Some(s);
            }
        }
        None
    }
    fn size_or_unknown(&mut self, e: &IdedExpr) -> Est {
        self.size(e).unwrap_or(Est::UNKNOWN)
    }
    fn entry(&self, e: &IdedExpr) -> Option<Entry> {
        if let Some(s) = self.entries.get(&e.id) {
            return Some(*s);
        }
        if let Expr::Ident(n) = &e.expr {
            return self.locals.get(n).and_then(|v| v.last()).and_then(|l| l.entry);
        }
        None
    }

    fn push(&mut self, name: &str, l: Local) {
        self.locals.entry(name.to_string()).or_default().push(l);
    }
    fn pop(&mut self, name: &str) {
        if let Some(v) = self.locals.get_mut(name) {
            v.pop();
        }
    }

    fn cost(&mut self, e: &IdedExpr) -> Est {
        match &e.expr {
            Expr::Literal(_) => Est::fixed(0),
            Expr::Ident(n) => {
                let p = match self.locals.get(n).and_then(|v| v.last()) {
                    Some(l) => l.path.clone(),
                    None => vec![n.clone()],
                };
                self.paths.insert(e.id, p);
                Est::fixed(1)
            }
            Expr::Select(s) => {
                if let Some(Ref::Var(q)) = self.checked.refs.get(&e.id) {
                    self.paths.insert(e.id, vec![q.clone()]);
                    return Est::fixed(1);
                }
                if s.test {
                    return self.cost(&s.operand);
                }
                let mut sum = self.cost(&s.operand);
                if matches!(self.ty(&s.operand).kind(), Kind::Map | Kind::Struct | Kind::Param) {
                    sum = sum.add(Est::fixed(1));
                }
                let mut p = self.path(&s.operand);
                p.push(s.field.clone());
                self.paths.insert(e.id, p);
                sum
            }
            Expr::Call(call) => self.cost_call(e, call),
            Expr::List(l) => {
                let mut sum = Est::fixed(0);
                let mut item = Est {
                    min: if l.elements.is_empty() { 0 } else { u64::MAX },
                    max: 0,
                };
                for el in &l.elements {
                    sum = sum.add(self.cost(el));
                    let s = self.size_or_unknown(el);
                    item = item.union(s);
                }
                self.entries.insert(
                    e.id,
                    Entry {
                        list: true,
                        key: Est::fixed(1),
                        val: item,
                    },
                );
                sum.add(Est::fixed(LIST_CREATE))
            }
            Expr::Map(m) => {
                let mut sum = Est::fixed(0);
                let empty = m.entries.is_empty();
                let mut ks = Est {
                    min: if empty { 0 } else { u64::MAX },
                    max: 0,
                };
                let mut vs = ks;
                for en in &m.entries {
                    if let EntryExpr::MapEntry(me) = &en.expr {
                        sum = sum.add(self.cost(&me.key)).add(self.cost(&me.value));
                        let k = self.size_or_unknown(&me.key);
                        ks = ks.union(k);
                        let v = self.size_or_unknown(&me.value);
                        vs = vs.union(v);
                    }
                }
                self.entries.insert(
                    e.id,
                    Entry {
                        list: false,
                        key: ks,
                        val: vs,
                    },
                );
                sum.add(Est::fixed(MAP_CREATE))
            }
            Expr::Struct(s) => {
                let mut sum = Est::fixed(0);
                for en in &s.entries {
                    if let EntryExpr::StructField(sf) = &en.expr {
                        sum = sum.add(self.cost(&sf.value));
                    }
                }
                sum.add(Est::fixed(STRUCT_CREATE))
            }
            Expr::Comprehension(c) => {
                let mut sum = self.cost(&c.iter_range);
                sum = sum.add(self.cost(&c.accu_init));
                let accu_path = self.path(&c.accu_init);
                let accu_size = self.size(&c.accu_init);
                let accu_entry = self.entry(&c.accu_init);
                self.push(
                    &c.accu_var,
                    Local {
                        path: accu_path,
                        size: accu_size,
                        entry: accu_entry,
                    },
                );
                let range_entry = self.entry(&c.iter_range);
                let range_path = self.path(&c.iter_range);
                let is_list = match range_entry {
                    Some(en) => en.list,
                    None => self.ty(&c.iter_range).kind() == Kind::List,
                };
                let list_items = self.list_item_size(&range_path);
                if let Some(v2) = &c.iter_var2 {
                    let mut kp = range_path.clone();
                    kp.push(if is_list { "@indices" } else { "@keys" }.into());
                    self.push(
                        &c.iter_var,
                        Local {
                            path: kp,
                            size: range_entry.map(|en| en.key),
                            entry: None,
                        },
                    );
                    let mut vp = range_path.clone();
                    vp.push(if is_list { "@items" } else { "@values" }.into());
                    self.push(
                        v2,
                        Local {
                            path: vp,
                            size: range_entry.map(|en| en.val).or(list_items),
                            entry: None,
                        },
                    );
                } else {
                    let mut p = range_path.clone();
                    p.push(if is_list { "@items" } else { "@keys" }.into());
                    let size = if is_list {
                        range_entry.map(|en| en.val).or(list_items)
                    } else {
                        range_entry.map(|en| en.key)
                    };
                    self.push(
                        &c.iter_var,
                        Local {
                            path: p,
                            size,
                            entry: None,
                        },
                    );
                }
                let loop_cost = self.cost(&c.loop_cond);
                let step_cost = self.cost(&c.loop_step);
                self.pop(&c.iter_var);
                if let Some(v2) = &c.iter_var2 {
                    self.pop(v2);
                }
                sum = sum.add(self.cost(&c.result));
                self.pop(&c.accu_var);
                let range_cnt = self.size_or_unknown(&c.iter_range);
                sum = sum.add(range_cnt.mul(step_cost.add(loop_cost)));
                match &c.accu_init.expr {
                    Expr::Literal(_) => {
                        if let Some(s) = self.size(&c.accu_init) {
                            self.sizes.insert(e.id, s);
                        }
                    }
                    Expr::List(_) | Expr::Map(_) => {
                        self.sizes.insert(e.id, range_cnt);
                        if let Some(en) = self.entry(&c.loop_step) {
                            self.entries.insert(e.id, en);
                        }
                    }
                    _ => {}
                }
                sum
            }
            Expr::Unspecified => Est::fixed(0),
        }
    }

    fn list_item_size(&self, path: &[String]) -> Option<Est> {
        if path.is_empty() {
            return None;
        }
        let mut p = path.to_vec();
        p.push("@items".into());
        self.schema_size(&p)
    }

    fn cost_call(&mut self, e: &IdedExpr, call: &cel::common::ast::CallExpr) -> Est {
        let name = call.func_name.as_str();
        if name == "dyn" && call.args.len() == 1 {
            let c = self.cost(&call.args[0]);
            if let Some(s) = self.size(&call.args[0]) {
                self.sizes.insert(e.id, s);
            }
            if let Some(en) = self.entry(&call.args[0]) {
                self.entries.insert(e.id, en);
            }
            return Est::fixed(1).add(c);
        }
        if name == "_?._" {
            let c = self.cost(&call.args[0]);
            let mut p = self.path(&call.args[0]);
            if let Some(Expr::Literal(LiteralValue::String(s))) = call.args.get(1).map(|a| &a.expr) {
                p.push(s.inner().to_string());
            }
            self.paths.insert(e.id, p);
            return Est::fixed(1).add(c);
        }
        let mut arg_costs = Vec::new();
        for a in &call.args {
            arg_costs.push(self.cost(a));
        }
        let ids = self.overloads(e);
        if ids.is_empty() {
            return Est::fixed(0);
        }
        let qualified = call.target.is_some()
            && matches!(self.checked.refs.get(&e.id), Some(Ref::Call(o)) if o.first().is_some_and(|o| !o.member));
        let mut sum = Est::fixed(0);
        let target = if let (Some(t), false) = (&call.target, qualified) {
            sum = sum.add(self.cost(t));
            Some(&**t)
        } else {
            None
        };
        let mut fn_cost = Est { min: u64::MAX, max: 0 };
        let mut result_size: Option<Est> = None;
        for id in &ids {
            let (c, rs) = self.function_cost(e, name, id, target, &call.args, &arg_costs);
            fn_cost = fn_cost.union(c);
            if let Some(r) = rs {
                result_size = Some(match result_size {
                    None => r,
                    Some(p) => p.union(r),
                });
            }
            match *id {
                "index_list" | "index_map" if !call.args.is_empty() => {
                    result_size = self.entry(&call.args[0]).map(|en| en.val);
                    let mut p = self.path(&call.args[0]);
                    p.push(if *id == "index_list" { "@items" } else { "@values" }.into());
                    self.paths.insert(e.id, p);
                }
                _ => {}
            }
        }
        if let Some(s) = result_size {
            self.sizes.insert(e.id, s);
        }
        sum.add(fn_cost)
    }

    fn function_cost(
        &mut self,
        e: &IdedExpr,
        func: &str,
        id: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
        arg_costs: &[Est],
    ) -> (Est, Option<Est>) {
        let argsum = arg_costs.iter().fold(Est::fixed(0), |a, c| a.add(*c));
        if let Some((c, rs)) = self.k8s_cost(func, id, target, args) {
            return (c.add(argsum), rs);
        }
        match id {
            "string_format" if target.is_some() => {
                let t = self.size_or_unknown(target.unwrap_or(e));
                return (t.factor(STRING_TRAVERSAL).add(argsum), None);
            }
            "string_to_bytes" if args.len() == 1 => {
                let s = self.size_or_unknown(&args[0]);
                return (
                    s.factor(STRING_TRAVERSAL).add(argsum),
                    Some(Est {
                        min: s.min,
                        max: s.max.saturating_mul(4),
                    }),
                );
            }
            "bytes_to_string" if args.len() == 1 => {
                let s = self.size_or_unknown(&args[0]);
                return (
                    s.factor(STRING_TRAVERSAL).add(argsum),
                    Some(Est {
                        min: s.min / 4,
                        max: s.max,
                    }),
                );
            }
            "strings_quote" if args.len() == 1 => {
                let s = self.size_or_unknown(&args[0]);
                return (
                    s.factor(STRING_TRAVERSAL).add(argsum),
                    Some(Est {
                        min: s.min.saturating_add(2),
                        max: s.max.saturating_mul(2).saturating_add(2),
                    }),
                );
            }
            "starts_with_string" | "ends_with_string" if args.len() == 1 => {
                let s = self.size_or_unknown(&args[0]);
                return (s.factor(STRING_TRAVERSAL).add(argsum), None);
            }
            "in_list" if args.len() == 2 => {
                let s = self.size_or_unknown(&args[1]);
                return (s.factor(1.0).add(argsum), None);
            }
            "matches_string" if target.is_some() && args.len() == 1 => {
                let t = self
                    .size_or_unknown(target.unwrap_or(e))
                    .add(Est::fixed(1))
                    .factor(STRING_TRAVERSAL);
                let r = self.size_or_unknown(&args[0]).factor(REGEX_STRING_LENGTH);
                return (t.mul(r).add(argsum), None);
            }
            "contains_string" if target.is_some() && args.len() == 1 => {
                let t = self.size_or_unknown(target.unwrap_or(e)).factor(STRING_TRAVERSAL);
                let s = self.size_or_unknown(&args[0]).factor(STRING_TRAVERSAL);
                return (t.mul(s).add(argsum), None);
            }
            "logical_or" | "logical_and" => {
                let (l, r) = (arg_costs[0], arg_costs[1]);
                return (
                    Est {
                        min: l.min,
                        max: l.add(r).max,
                    },
                    None,
                );
            }
            "conditional" => {
                let size = self.size_or_unknown(&args[1]).union(self.size_or_unknown(&args[2]));
                if let (Some(a), Some(b)) = (self.entry(&args[1]), self.entry(&args[2])) {
                    self.entries.insert(
                        e.id,
                        Entry {
                            list: a.list,
                            key: a.key.union(b.key),
                            val: a.val.union(b.val),
                        },
                    );
                }
                return (arg_costs[0].add(arg_costs[1].union(arg_costs[2])), Some(size));
            }
            "add_string" | "add_bytes" | "add_list" if args.len() == 2 => {
                let l = self.size_or_unknown(&args[0]);
                let r = self.size_or_unknown(&args[1]);
                let rs = l.add(r);
                if let (Some(a), Some(b)) = (self.entry(&args[0]), self.entry(&args[1])) {
                    self.entries.insert(
                        e.id,
                        Entry {
                            list: a.list,
                            key: a.key.union(b.key),
                            val: a.val.union(b.val),
                        },
                    );
                }
                if id == "add_list" {
                    return (Est::fixed(1).add(argsum), Some(rs));
                }
                return (rs.factor(STRING_TRAVERSAL).add(argsum), Some(rs));
            }
            "less_string"
            | "greater_string"
            | "less_equals_string"
            | "greater_equals_string"
            | "less_bytes"
            | "greater_bytes"
            | "less_equals_bytes"
            | "greater_equals_bytes"
            | "equals"
            | "not_equals" => {
                let l = self.size_or_unknown(&args[0]);
                let r = self.size_or_unknown(&args[1]);
                let smallest = l.max.min(r.max);
                let min = u64::from(smallest > 0);
                return (Est { min, max: smallest }.factor(STRING_TRAVERSAL).add(argsum), None);
            }
            _ => {}
        }
        (Est::fixed(1).add(argsum), None)
    }

    fn elem_node_size(&mut self, target: &IdedExpr) -> Option<(Kind, Option<Est>)> {
        let t = self.ty(target);
        let el = match &t {
            Type::List(e) => (**e).clone(),
            _ => return None,
        };
        let mut p = self.path(target);
        let size = if p.is_empty() {
            None
        } else {
            p.push("@items".into());
            self.schema_size(&p)
        };
        let size = size.or(if is_scalar(&el) { Some(Est::fixed(1)) } else { None });
        Some((el.kind(), size))
    }

    /// Kubernetes' `library.CostEstimator.EstimateCallCost`.
    fn k8s_cost(
        &mut self,
        func: &str,
        id: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Option<(Est, Option<Est>)> {
        let fixed = |n| Some((Est::fixed(n), None));
        match func {
            "check" => fixed(350_000),
            "serviceAccount"
            | "path"
            | "group"
            | "resource"
            | "subresource"
            | "namespace"
            | "name"
            | "allowed"
            | "reason"
            | "error"
            | "errored"
            | "format.named"
            | "sign"
            | "asInteger"
            | "isInteger"
            | "asApproximateFloat"
            | "isGreaterThan"
            | "isLessThan"
            | "compareTo"
            | "add"
            | "sub"
            | "major"
            | "minor"
            | "patch"
            | "getScheme"
            | "getHostname"
            | "getHost"
            | "getPort"
            | "getEscapedPath"
            | "getQuery"
            | "masked"
            | "prefixLength"
            | "family"
            | "isUnspecified"
            | "isLoopback"
            | "isLinkLocalMulticast"
            | "isLinkLocalUnicast"
            | "isGlobalUnicast" => fixed(1),
            "fieldSelector" | "labelSelector" if args.len() == 1 => {
                let s = self.size_or_unknown(&args[0]);
                Some((selector_cost(s), None))
            }
            "isSorted" | "sum" | "max" | "min" | "indexOf" | "lastIndexOf" => {
                let t = target?;
                let tsize = self.size_or_unknown(t);
                match self.elem_node_size(t) {
                    Some((k, esize)) => {
                        let mut el = Est::fixed(1);
                        if matches!(k, Kind::String | Kind::Bytes) {
                            el = el.add(esize.unwrap_or(Est::UNKNOWN).factor(STRING_TRAVERSAL));
                        }
                        Some((tsize.mul(el), None))
                    }
                    None => Some((tsize.factor(STRING_TRAVERSAL), None)),
                }
            }
            "url" | "jsonpatch.escapeKey" if args.len() == 1 => {
                let s = self.size_or_unknown(&args[0]);
                Some((s.factor(STRING_TRAVERSAL), Some(s)))
            }
            "lowerAscii" | "upperAscii" | "substring" | "trim" if target.is_some() => {
                let s = self.size_or_unknown(target?);
                Some((s.factor(STRING_TRAVERSAL), Some(s)))
            }
            "replace" if target.is_some() && args.len() >= 2 => {
                let sz = self.size_or_unknown(target?);
                let to_replace = self.size_or_unknown(&args[0]);
                let with = self.size_or_unknown(&args[1]);
                let (mut count, mut retained) = (Est::fixed(0), Est::fixed(0));
                if to_replace.min == 0 {
                    count.max = if sz.max < u64::MAX { sz.max + 1 } else { sz.max };
                    retained.max = sz.max;
                } else if with.max <= to_replace.min {
                    count.max = 0;
                    retained.max = sz.max;
                } else {
                    count.max = (sz.max as f64 / to_replace.min as f64).ceil() as u64;
                }
                if to_replace.max == 0 {
                    count.min = if sz.min < u64::MAX { sz.min + 1 } else { sz.min };
                    retained.min = sz.min;
                } else if to_replace.max <= with.min {
                    count.min = 0;
                    retained.min = sz.min;
                } else {
                    count.min = (sz.min as f64 / to_replace.max as f64).ceil() as u64;
                }
                let size = count.mul(with).add(retained);
                Some((sz.factor(2.0 * STRING_TRAVERSAL), Some(size)))
            }
            "split" if target.is_some() => {
                let sz = self.size_or_unknown(target?);
                let mut max = sz.max;
                if let Some(Expr::Literal(LiteralValue::Int(i))) = args.get(1).map(|a| &a.expr) {
                    max = *i.inner() as u64;
                }
                Some((sz.factor(2.0 * STRING_TRAVERSAL), Some(Est { min: 0, max })))
            }
            "join" if target.is_some() => {
                let t = target?;
                let list = self.size_or_unknown(t);
                let mut sz = Est::fixed(0);
                if let Some((_, es)) = self.elem_node_size(t) {
                    sz = list.mul(es.unwrap_or(Est::UNKNOWN));
                }
                if let Some(sep) = args.first() {
                    let s = self.size_or_unknown(sep);
                    let n = Est {
                        min: list.min.saturating_sub(1),
                        max: list.max.saturating_sub(1),
                    };
                    sz = sz.add(s.mul(n));
                }
                Some((sz.factor(STRING_TRAVERSAL), Some(sz)))
            }
            "find" | "findAll" if target.is_some() && !args.is_empty() => {
                let sz = self.size_or_unknown(target?);
                let s = sz.add(Est::fixed(1)).factor(STRING_TRAVERSAL);
                let r = self.size_or_unknown(&args[0]).factor(REGEX_STRING_LENGTH);
                Some((s.mul(r), Some(Est { min: 0, max: sz.max })))
            }
            "cidr" | "isIP" | "isCIDR" | "quantity" | "isQuantity" | "semver" | "isSemver" => {
                // Upstream only estimates these when called with a target (never, as globals).
                if target.is_some() {
                    let s = self.size_or_unknown(&args[0]);
                    Some((s.factor(STRING_TRAVERSAL), None))
                } else {
                    None
                }
            }
            "ip" => {
                if target.is_some() && !args.is_empty() {
                    if id == "cidr_ip" {
                        return fixed(1);
                    }
                    let s = self.size_or_unknown(&args[0]);
                    Some((s.factor(STRING_TRAVERSAL), None))
                } else if target.is_some() {
                    fixed(1)
                } else {
                    None
                }
            }
            "ip.isCanonical" if target.is_some() && !args.is_empty() => {
                let s = self.size_or_unknown(&args[0]);
                Some((s.factor(2.0 * STRING_TRAVERSAL), None))
            }
            "containsIP" | "containsCIDR" if target.is_some() && !args.is_empty() => {
                let sz = Est { min: 4, max: 16 };
                let mut c = sz.add(sz).factor(STRING_TRAVERSAL);
                if func == "containsCIDR" {
                    c = c.add(sz.factor(STRING_TRAVERSAL)).add(Est::fixed(1));
                }
                if id == "cidr_contains_ip_string" || id == "cidr_contains_cidr_string" {
                    let s = self.size_or_unknown(&args[0]);
                    c = c.add(s.factor(STRING_TRAVERSAL));
                }
                Some((c, None))
            }
            "validate" if target.is_some() => {
                let s = self.size_or_unknown(&args[0]);
                Some((
                    s.factor(STRING_TRAVERSAL)
                        .factor(MAX_NAME_FORMAT_REGEX_SIZE * REGEX_STRING_LENGTH),
                    None,
                ))
            }
            "_==_" if args.len() == 2 => {
                let (l, r) = (self.ty(&args[0]), self.ty(&args[1]));
                if !l.exact(&r) {
                    return None;
                }
                match l.name() {
                    "net.IP"
                    | "net.CIDR"
                    | "kubernetes.Quantity"
                    | "kubernetes.authorization.Authorizer"
                    | "kubernetes.authorization.PathCheck"
                    | "kubernetes.authorization.GroupCheck"
                    | "kubernetes.authorization.ResourceCheck"
                    | "kubernetes.authorization.Decision"
                    | "kubernetes.Semver" => fixed(1),
                    "kubernetes.NamedFormat" => Some((
                        Est {
                            min: 1,
                            max: super::lib::format::MAX_FORMAT_SIZE,
                        }
                        .factor(STRING_TRAVERSAL),
                        None,
                    )),
                    "kubernetes.URL" => {
                        let size = self.size(&args[1]).unwrap_or(Est::fixed(1));
                        Some((Est { min: 1, max: size.max }.factor(STRING_TRAVERSAL), None))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}
