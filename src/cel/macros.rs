//! The macros of Kubernetes' environment, expanded by the parser as cel-go does: the standard
//! ones (`has`, `all`, `exists`, `exists_one`, `map`, `filter`), the optionals library's
//! `optMap`/`optFlatMap` and the two-variable comprehensions (`all(k, v, p)`,
//! `transformList`, `transformMap`, `transformMapEntry`…). `cel.bind` is not one of them: only
//! environments with cel-go's bindings extension (DRA device selectors) parse it
//! ([`env_with_bindings`]).

use cel::common::ast::{CallExpr, ComprehensionExpr, Expr, IdedExpr, ListExpr, LiteralValue, MapExpr};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use std::sync::OnceLock;

const ACCU: &str = "@result";

type Parts<'h, 'x> = (
    &'h mut MacroExprHelper<'x>,
    &'h mut Option<IdedExpr>,
    &'h mut Vec<IdedExpr>,
);

fn ident(h: &MacroExprHelper<'_>, e: &IdedExpr, msg: &str) -> Result<String, ParseError> {
    match &e.expr {
        Expr::Ident(n) if n == ACCU || n == "__result__" => {
            Err(h.new_error(e.id, "iteration variable overwrites accumulator variable"))
        }
        Expr::Ident(n) => Ok(n.clone()),
        _ => Err(h.new_error(e.id, msg)),
    }
}

fn call(h: &mut MacroExprHelper<'_>, f: &str, args: Vec<IdedExpr>) -> IdedExpr {
    h.next_expr(Expr::Call(CallExpr {
        func_name: f.into(),
        target: None,
        args,
    }))
}

fn accu(h: &mut MacroExprHelper<'_>) -> IdedExpr {
    h.next_expr(Expr::Ident(ACCU.into()))
}

fn lit(h: &mut MacroExprHelper<'_>, v: LiteralValue) -> IdedExpr {
    h.next_expr(Expr::Literal(v))
}

#[allow(clippy::too_many_arguments)]
fn comp(
    h: &mut MacroExprHelper<'_>,
    range: IdedExpr,
    v: String,
    v2: Option<String>,
    init: IdedExpr,
    cond: IdedExpr,
    step: IdedExpr,
    result: IdedExpr,
) -> IdedExpr {
    h.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range: range,
        iter_var: v,
        iter_var2: v2,
        accu_var: ACCU.into(),
        accu_init: init,
        loop_cond: cond,
        loop_step: step,
        result,
    })))
}

#[derive(Clone, Copy)]
enum Quant {
    All,
    Exists,
    ExistsOne,
}

fn quantifier(q: Quant, two: bool, (h, target, args): Parts<'_, '_>) -> Result<Option<IdedExpr>, ParseError> {
    let pred = args.pop().expect("arity");
    let (v, v2) = if two {
        let b = args.pop().expect("arity");
        let a = args.pop().expect("arity");
        let (va, vb) = (
            ident(h, &a, "argument must be a simple name")?,
            ident(h, &b, "argument must be a simple name")?,
        );
        if va == vb {
            return Err(h.new_error(b.id, format!("duplicate variable name: {va}")));
        }
        (va, Some(vb))
    } else {
        let a = args.pop().expect("arity");
        (ident(h, &a, "argument must be a simple name")?, None)
    };
    let range = target.take().expect("receiver macro");
    let (init, cond, step, result) = match q {
        Quant::All => {
            let init = lit(h, LiteralValue::Boolean(true.into()));
            let a = accu(h);
            let cond = call(h, "@not_strictly_false", vec![a]);
            let a = accu(h);
            let step = call(h, "_&&_", vec![a, pred]);
            (init, cond, step, accu(h))
        }
        Quant::Exists => {
            let init = lit(h, LiteralValue::Boolean(false.into()));
            let a = accu(h);
            let not = call(h, "!_", vec![a]);
            let cond = call(h, "@not_strictly_false", vec![not]);
            let a = accu(h);
            let step = call(h, "_||_", vec![a, pred]);
            (init, cond, step, accu(h))
        }
        Quant::ExistsOne => {
            let init = lit(h, LiteralValue::Int(0.into()));
            let cond = lit(h, LiteralValue::Boolean(true.into()));
            let a = accu(h);
            let one = lit(h, LiteralValue::Int(1.into()));
            let inc = call(h, "_+_", vec![a, one]);
            let a = accu(h);
            let step = call(h, "_?_:_", vec![pred, inc, a]);
            let a = accu(h);
            let one = lit(h, LiteralValue::Int(1.into()));
            let result = call(h, "_==_", vec![a, one]);
            (init, cond, step, result)
        }
    };
    Ok(Some(comp(h, range, v, v2, init, cond, step, result)))
}

fn map_macro((h, target, args): Parts<'_, '_>) -> Result<Option<IdedExpr>, ParseError> {
    let f = args.pop().expect("arity");
    let filter = if args.len() == 2 { args.pop() } else { None };
    let a = args.pop().expect("arity");
    let v = ident(h, &a, "argument is not an identifier")?;
    let range = target.take().expect("receiver macro");
    let init = h.next_expr(Expr::List(ListExpr::new(Vec::new())));
    let cond = lit(h, LiteralValue::Boolean(true.into()));
    let ac = accu(h);
    let single = h.next_expr(Expr::List(ListExpr::new(vec![f])));
    let mut step = call(h, "_+_", vec![ac, single]);
    if let Some(filter) = filter {
        let ac = accu(h);
        step = call(h, "_?_:_", vec![filter, step, ac]);
    }
    let result = accu(h);
    Ok(Some(comp(h, range, v, None, init, cond, step, result)))
}

fn filter_macro((h, target, args): Parts<'_, '_>) -> Result<Option<IdedExpr>, ParseError> {
    let filter = args.pop().expect("arity");
    let a = args.pop().expect("arity");
    let v = ident(h, &a, "argument is not an identifier")?;
    let range = target.take().expect("receiver macro");
    let init = h.next_expr(Expr::List(ListExpr::new(Vec::new())));
    let cond = lit(h, LiteralValue::Boolean(true.into()));
    let ac = accu(h);
    let single = h.next_expr(Expr::List(ListExpr::new(vec![a])));
    let add = call(h, "_+_", vec![ac, single]);
    let ac = accu(h);
    let step = call(h, "_?_:_", vec![filter, add, ac]);
    let result = accu(h);
    Ok(Some(comp(h, range, v, None, init, cond, step, result)))
}

fn has_macro((h, _t, args): Parts<'_, '_>) -> Result<Option<IdedExpr>, ParseError> {
    let a = args.pop().expect("arity");
    match a.expr {
        Expr::Select(mut s) => {
            s.test = true;
            Ok(Some(h.next_expr(Expr::Select(s))))
        }
        _ => Err(h.new_error(a.id, "invalid argument to has() macro")),
    }
}

/// `optMap` / `optFlatMap`.
fn opt_map(flat: bool, (h, target, args): Parts<'_, '_>) -> Result<Option<IdedExpr>, ParseError> {
    let f = args.pop().expect("arity");
    let a = args.pop().expect("arity");
    let name = if flat { "optFlatMap" } else { "optMap" };
    let Expr::Ident(v) = &a.expr else {
        return Err(h.new_error(a.id, format!("{name}() variable name must be a simple identifier")));
    };
    let v = v.clone();
    let t = target.take().expect("receiver macro");
    let has = h.next_expr(Expr::Call(CallExpr {
        func_name: "hasValue".into(),
        target: Some(Box::new(t.clone())),
        args: vec![],
    }));
    let val = h.next_expr(Expr::Call(CallExpr {
        func_name: "value".into(),
        target: Some(Box::new(t)),
        args: vec![],
    }));
    let empty = h.next_expr(Expr::List(ListExpr::new(Vec::new())));
    let cond = lit(h, LiteralValue::Boolean(false.into()));
    let vi = h.next_expr(Expr::Ident(v.clone()));
    // A bind: iterate over nothing, accumulate `v = target.value()`, result `f`.
    let bind = h.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range: empty,
        iter_var: "#unused".into(),
        iter_var2: None,
        accu_var: v,
        accu_init: val,
        loop_cond: cond,
        loop_step: vi,
        result: f,
    })));
    let some = if flat { bind } else { call(h, "optional.of", vec![bind]) };
    let none = call(h, "optional.none", vec![]);
    Ok(Some(call(h, "_?_:_", vec![has, some, none])))
}

/// `transformList` / `transformMap` / `transformMapEntry`, with or without a filter.
#[derive(Clone, Copy)]
enum Transform {
    List,
    Map,
    MapEntry,
}

fn transform(kind: Transform, (h, target, args): Parts<'_, '_>) -> Result<Option<IdedExpr>, ParseError> {
    let f = args.pop().expect("arity");
    let filter = if args.len() == 3 { args.pop() } else { None };
    let b = args.pop().expect("arity");
    let a = args.pop().expect("arity");
    let va = ident(h, &a, "argument must be a simple name")?;
    let vb = ident(h, &b, "argument must be a simple name")?;
    if va == vb {
        return Err(h.new_error(b.id, format!("duplicate variable name: {va}")));
    }
    let range = target.take().expect("receiver macro");
    let (init, mut step) = match kind {
        Transform::List => {
            let init = h.next_expr(Expr::List(ListExpr::new(Vec::new())));
            let ac = accu(h);
            let single = h.next_expr(Expr::List(ListExpr::new(vec![f])));
            (init, call(h, "_+_", vec![ac, single]))
        }
        Transform::Map => {
            let init = h.next_expr(Expr::Map(MapExpr { entries: Vec::new() }));
            let ac = accu(h);
            let k = h.next_expr(Expr::Ident(va.clone()));
            (init, call(h, "cel.@mapInsert", vec![ac, k, f]))
        }
        Transform::MapEntry => {
            let init = h.next_expr(Expr::Map(MapExpr { entries: Vec::new() }));
            let ac = accu(h);
            (init, call(h, "cel.@mapInsert", vec![ac, f]))
        }
    };
    if let Some(filter) = filter {
        let ac = accu(h);
        step = call(h, "_?_:_", vec![filter, step, ac]);
    }
    let cond = lit(h, LiteralValue::Boolean(true.into()));
    let result = accu(h);
    Ok(Some(comp(h, range, va, Some(vb), init, cond, step, result)))
}

/// `cel.bind(name, init, body)` (cel-go's bindings extension): `name` is `init` within `body`,
/// expanded as cel-go does, to a comprehension over nothing whose accumulator is `name`.
fn bind_macro((h, target, args): Parts<'_, '_>) -> Result<Option<IdedExpr>, ParseError> {
    if !matches!(target.as_ref().map(|t| &t.expr), Some(Expr::Ident(n)) if n == "cel") {
        return Ok(None);
    }
    let mut args = std::mem::take(args);
    let body = args.pop().expect("three arguments");
    let init = args.pop().expect("three arguments");
    let var = ident(h, &args[0], "cel.bind() variable names must be simple identifiers")?;
    let range = h.next_expr(Expr::List(ListExpr {
        elements: Vec::new(),
        optional_indices: Vec::new(),
    }));
    let cond = lit(h, LiteralValue::Boolean(false.into()));
    let step = h.next_expr(Expr::Ident(var.clone()));
    Ok(Some(h.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range: range,
        iter_var: "#unused".into(),
        iter_var2: None,
        accu_var: var,
        accu_init: init,
        loop_cond: cond,
        loop_step: step,
        result: body,
    })))))
}

fn kubernetes_macros() -> Vec<Macro> {
    vec![
        Macro::global("has", 1, |h, t, a| has_macro((h, t, a))),
        Macro::receiver("all", 2, |h, t, a| quantifier(Quant::All, false, (h, t, a))),
        Macro::receiver("exists", 2, |h, t, a| quantifier(Quant::Exists, false, (h, t, a))),
        Macro::receiver("exists_one", 2, |h, t, a| {
            quantifier(Quant::ExistsOne, false, (h, t, a))
        }),
        Macro::receiver("map", 2, |h, t, a| map_macro((h, t, a))),
        Macro::receiver("map", 3, |h, t, a| map_macro((h, t, a))),
        Macro::receiver("filter", 2, |h, t, a| filter_macro((h, t, a))),
        Macro::receiver("optMap", 2, |h, t, a| opt_map(false, (h, t, a))),
        Macro::receiver("optFlatMap", 2, |h, t, a| opt_map(true, (h, t, a))),
        Macro::receiver("all", 3, |h, t, a| quantifier(Quant::All, true, (h, t, a))),
        Macro::receiver("exists", 3, |h, t, a| quantifier(Quant::Exists, true, (h, t, a))),
        Macro::receiver("existsOne", 3, |h, t, a| quantifier(Quant::ExistsOne, true, (h, t, a))),
        Macro::receiver("exists_one", 3, |h, t, a| quantifier(Quant::ExistsOne, true, (h, t, a))),
        Macro::receiver("transformList", 3, |h, t, a| transform(Transform::List, (h, t, a))),
        Macro::receiver("transformList", 4, |h, t, a| transform(Transform::List, (h, t, a))),
        Macro::receiver("transformMap", 3, |h, t, a| transform(Transform::Map, (h, t, a))),
        Macro::receiver("transformMap", 4, |h, t, a| transform(Transform::Map, (h, t, a))),
        Macro::receiver("transformMapEntry", 3, |h, t, a| {
            transform(Transform::MapEntry, (h, t, a))
        }),
        Macro::receiver("transformMapEntry", 4, |h, t, a| {
            transform(Transform::MapEntry, (h, t, a))
        }),
    ]
}

fn parser_env(extra: Vec<Macro>) -> cel::Env {
    let mut e = cel::Env::default();
    for m in kubernetes_macros().into_iter().chain(extra) {
        e.add_macro(m).expect("macros are distinct");
    }
    e
}

/// The parser environment with Kubernetes' macros.
pub fn env() -> &'static cel::Env {
    static ENV: OnceLock<cel::Env> = OnceLock::new();
    ENV.get_or_init(|| parser_env(Vec::new()))
}

/// [`env`] plus `cel.bind`.
pub fn env_with_bindings() -> &'static cel::Env {
    static ENV: OnceLock<cel::Env> = OnceLock::new();
    ENV.get_or_init(|| parser_env(vec![Macro::receiver("bind", 3, |h, t, a| bind_macro((h, t, a)))]))
}
