//! Kubernetes' quantity library over the exact `util::quantity` (upstream
//! `resource.Quantity`). `sign` is declared as a global function, as upstream does.

use super::ext::Ext;
use super::{int_arg, nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::value::Value;
use crate::util::quantity::Quantity;
use std::cmp::Ordering;
use std::sync::Arc;

fn q(a: &[Value<'_>], i: usize) -> Result<Quantity, String> {
    match a.get(i) {
        Some(Value::Ext(e)) => match &**e {
            Ext::Quantity(q) => Ok(q.clone()),
            _ => nso(),
        },
        _ => nso(),
    }
}

fn qv<'a>(q: Quantity) -> Value<'a> {
    Value::Ext(Arc::new(Ext::Quantity(q)))
}

pub fn register(r: &mut Registry) {
    r.global("quantity", "string_to_quantity", "string -> kubernetes.Quantity", |a| {
        Quantity::parse(str_arg(&a, 0)?).map(qv).map_err(|e| e.to_string())
    });
    r.global("isQuantity", "is_quantity_string", "string -> bool", |a| {
        Ok(Value::Bool(Quantity::parse(str_arg(&a, 0)?).is_ok()))
    });
    r.global("sign", "quantity_sign", "kubernetes.Quantity -> int", |a| {
        Ok(Value::Int(i64::from(q(&a, 0)?.signum())))
    });
    r.member(
        "isGreaterThan",
        "quantity_is_greater_than",
        "kubernetes.Quantity, kubernetes.Quantity -> bool",
        |a| Ok(Value::Bool(q(&a, 0)?.cmp(&q(&a, 1)?) == Ordering::Greater)),
    );
    r.member(
        "isLessThan",
        "quantity_is_less_than",
        "kubernetes.Quantity, kubernetes.Quantity -> bool",
        |a| Ok(Value::Bool(q(&a, 0)?.cmp(&q(&a, 1)?) == Ordering::Less)),
    );
    r.member(
        "compareTo",
        "quantity_compare_to",
        "kubernetes.Quantity, kubernetes.Quantity -> int",
        |a| {
            Ok(Value::Int(match q(&a, 0)?.cmp(&q(&a, 1)?) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            }))
        },
    );
    r.member(
        "asApproximateFloat",
        "quantity_get_float",
        "kubernetes.Quantity -> double",
        |a| Ok(Value::Double(q(&a, 0)?.approx_f64())),
    );
    r.member("asInteger", "quantity_get_int", "kubernetes.Quantity -> int", |a| {
        q(&a, 0)?
            .as_i64()
            .map(Value::Int)
            .ok_or_else(|| "cannot convert value to integer".into())
    });
    r.member("isInteger", "quantity_is_integer", "kubernetes.Quantity -> bool", |a| {
        Ok(Value::Bool(q(&a, 0)?.as_i64().is_some()))
    });
    r.member(
        "add",
        "quantity_add",
        "kubernetes.Quantity, kubernetes.Quantity -> kubernetes.Quantity",
        |a| Ok(qv(q(&a, 0)?.add(&q(&a, 1)?))),
    );
    r.member(
        "add",
        "quantity_add_int",
        "kubernetes.Quantity, int -> kubernetes.Quantity",
        |a| Ok(qv(q(&a, 0)?.add(&Quantity::from_i64(int_arg(&a, 1)?)))),
    );
    r.member(
        "sub",
        "quantity_sub",
        "kubernetes.Quantity, kubernetes.Quantity -> kubernetes.Quantity",
        |a| Ok(qv(q(&a, 0)?.sub(&q(&a, 1)?))),
    );
    r.member(
        "sub",
        "quantity_sub_int",
        "kubernetes.Quantity, int -> kubernetes.Quantity",
        |a| Ok(qv(q(&a, 0)?.sub(&Quantity::from_i64(int_arg(&a, 1)?)))),
    );
}
