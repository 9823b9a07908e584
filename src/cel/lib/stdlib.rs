//! CEL's standard library (cel-go `common/stdlib`), with cross-type numeric comparisons on
//! (Kubernetes enables them from 1.28).

use super::{int_arg, nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::time::{zone_offset, Duration, Timestamp};
use crate::cel::value::{concat, display, format_double, list, string, Map, Value};
use std::cmp::Ordering;

const OVERFLOW: &str = "integer overflow";
const UOVERFLOW: &str = "unsigned integer overflow";

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

pub fn register(r: &mut Registry) {
    r.special("_?_:_", "conditional", false, "bool, A, A -> A");
    r.special("_&&_", "logical_and", false, "bool, bool -> bool");
    r.special("_||_", "logical_or", false, "bool, bool -> bool");
    r.global("!_", "logical_not", "bool -> bool", |a| match a[0] {
        Value::Bool(b) => Ok(Value::Bool(!b)),
        _ => nso(),
    });
    r.global("@not_strictly_false", "not_strictly_false", "bool -> bool", |a| {
        Ok(Value::Bool(!matches!(a[0], Value::Bool(false))))
    });
    r.global("_==_", "equals", "A, A -> bool", |a| {
        Ok(Value::Bool(a[0].equals(&a[1])))
    });
    r.global("_!=_", "not_equals", "A, A -> bool", |a| {
        Ok(Value::Bool(!a[0].equals(&a[1])))
    });

    for (id, sig) in [
        ("add_bytes", "bytes, bytes -> bytes"),
        ("add_double", "double, double -> double"),
        ("add_duration_duration", "duration, duration -> duration"),
        ("add_duration_timestamp", "duration, timestamp -> timestamp"),
        ("add_timestamp_duration", "timestamp, duration -> timestamp"),
        ("add_int64", "int, int -> int"),
        ("add_list", "list(A), list(A) -> list(A)"),
        ("add_string", "string, string -> string"),
        ("add_uint64", "uint, uint -> uint"),
    ] {
        r.global("_+_", id, sig, add);
    }
    for (id, sig) in [
        ("subtract_double", "double, double -> double"),
        ("subtract_duration_duration", "duration, duration -> duration"),
        ("subtract_int64", "int, int -> int"),
        ("subtract_timestamp_duration", "timestamp, duration -> timestamp"),
        ("subtract_timestamp_timestamp", "timestamp, timestamp -> duration"),
        ("subtract_uint64", "uint, uint -> uint"),
    ] {
        r.global("_-_", id, sig, sub);
    }
    for (id, sig) in [
        ("multiply_double", "double, double -> double"),
        ("multiply_int64", "int, int -> int"),
        ("multiply_uint64", "uint, uint -> uint"),
    ] {
        r.global("_*_", id, sig, mul);
    }
    for (id, sig) in [
        ("divide_double", "double, double -> double"),
        ("divide_int64", "int, int -> int"),
        ("divide_uint64", "uint, uint -> uint"),
    ] {
        r.global("_/_", id, sig, div);
    }
    r.global("_%_", "modulo_int64", "int, int -> int", rem);
    r.global("_%_", "modulo_uint64", "uint, uint -> uint", rem);
    r.global("-_", "negate_double", "double -> double", neg);
    r.global("-_", "negate_int64", "int -> int", neg);

    const ORD: &[(&str, &str)] = &[
        ("bool", "bool, bool"),
        ("int64", "int, int"),
        ("int64_double", "int, double"),
        ("int64_uint64", "int, uint"),
        ("uint64", "uint, uint"),
        ("uint64_double", "uint, double"),
        ("uint64_int64", "uint, int"),
        ("double", "double, double"),
        ("double_int64", "double, int"),
        ("double_uint64", "double, uint"),
        ("string", "string, string"),
        ("bytes", "bytes, bytes"),
        ("timestamp", "timestamp, timestamp"),
        ("duration", "duration, duration"),
    ];
    for (op, prefix, f) in [
        ("_<_", "less", less as crate::cel::decls::Impl),
        ("_<=_", "less_equals", less_equals),
        ("_>_", "greater", greater),
        ("_>=_", "greater_equals", greater_equals),
    ] {
        for (suffix, args) in ORD {
            r.global(op, leak(format!("{prefix}_{suffix}")), &format!("{args} -> bool"), f);
        }
    }

    r.global("_[_]", "index_list", "list(A), int -> A", index);
    r.global("_[_]", "index_map", "map(A, B), A -> B", index);
    r.global("@in", "in_list", "A, list(A) -> bool", in_op);
    r.global("@in", "in_map", "A, map(A, B) -> bool", in_op);

    for (id, mid, t) in [
        ("size_bytes", "bytes_size", "bytes"),
        ("size_list", "list_size", "list(A)"),
        ("size_map", "map_size", "map(A, B)"),
        ("size_string", "string_size", "string"),
    ] {
        r.global("size", id, &format!("{t} -> int"), size);
        r.member("size", mid, &format!("{t} -> int"), size);
    }

    r.global("type", "type", "A -> type(A)", |a| Ok(Value::Type(a[0].type_name())));
    r.global("dyn", "to_dyn", "A -> dyn", |mut a| Ok(a.remove(0)));
    conversions(r);

    r.member("contains", "contains_string", "string, string -> bool", |a| {
        Ok(Value::Bool(str_arg(&a, 0)?.contains(str_arg(&a, 1)?)))
    });
    r.member("endsWith", "ends_with_string", "string, string -> bool", |a| {
        Ok(Value::Bool(str_arg(&a, 0)?.ends_with(str_arg(&a, 1)?)))
    });
    r.member("startsWith", "starts_with_string", "string, string -> bool", |a| {
        Ok(Value::Bool(str_arg(&a, 0)?.starts_with(str_arg(&a, 1)?)))
    });
    r.global("matches", "matches", "string, string -> bool", matches);
    r.member("matches", "matches_string", "string, string -> bool", matches);

    time_getters(r);
}

pub fn add<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(match (&a[0], &a[1]) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.checked_add(*y).ok_or(OVERFLOW)?),
        (Value::Uint(x), Value::Uint(y)) => Value::Uint(x.checked_add(*y).ok_or(UOVERFLOW)?),
        (Value::Double(x), Value::Double(y)) => Value::Double(x + y),
        (Value::Str(x), Value::Str(y)) => string(format!("{}{}", &**x, &**y)),
        (Value::Bytes(x), Value::Bytes(y)) => Value::Bytes([&x[..], &y[..]].concat().into()),
        (Value::List(x), Value::List(y)) => concat(x, y),
        (Value::Duration(x), Value::Duration(y)) => Value::Duration(x.checked_add(*y)?),
        (Value::Timestamp(t), Value::Duration(d)) | (Value::Duration(d), Value::Timestamp(t)) => {
            Value::Timestamp(t.add(*d)?)
        }
        _ => return nso(),
    })
}

fn sub<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(match (&a[0], &a[1]) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.checked_sub(*y).ok_or(OVERFLOW)?),
        (Value::Uint(x), Value::Uint(y)) => Value::Uint(x.checked_sub(*y).ok_or(UOVERFLOW)?),
        (Value::Double(x), Value::Double(y)) => Value::Double(x - y),
        (Value::Duration(x), Value::Duration(y)) => Value::Duration(x.checked_sub(*y)?),
        (Value::Timestamp(t), Value::Duration(d)) => Value::Timestamp(t.add(d.checked_neg()?)?),
        (Value::Timestamp(x), Value::Timestamp(y)) => Value::Duration(x.sub(y)?),
        _ => return nso(),
    })
}

fn mul<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(match (&a[0], &a[1]) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.checked_mul(*y).ok_or(OVERFLOW)?),
        (Value::Uint(x), Value::Uint(y)) => Value::Uint(x.checked_mul(*y).ok_or(UOVERFLOW)?),
        (Value::Double(x), Value::Double(y)) => Value::Double(x * y),
        _ => return nso(),
    })
}

fn div<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(match (&a[0], &a[1]) {
        (Value::Int(_), Value::Int(0)) | (Value::Uint(_), Value::Uint(0)) => return Err("division by zero".into()),
        (Value::Int(x), Value::Int(y)) => Value::Int(x.checked_div(*y).ok_or(OVERFLOW)?),
        (Value::Uint(x), Value::Uint(y)) => Value::Uint(x / y),
        (Value::Double(x), Value::Double(y)) => Value::Double(x / y),
        _ => return nso(),
    })
}

fn rem<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(match (&a[0], &a[1]) {
        (Value::Int(_), Value::Int(0)) | (Value::Uint(_), Value::Uint(0)) => return Err("modulus by zero".into()),
        (Value::Int(x), Value::Int(y)) => Value::Int(x.checked_rem(*y).ok_or(OVERFLOW)?),
        (Value::Uint(x), Value::Uint(y)) => Value::Uint(x % y),
        _ => return nso(),
    })
}

fn neg<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(match &a[0] {
        Value::Int(x) => Value::Int(x.checked_neg().ok_or(OVERFLOW)?),
        Value::Double(x) => Value::Double(-x),
        _ => return nso(),
    })
}

fn ordering(a: &[Value<'_>]) -> Result<Ordering, String> {
    if matches!(a[0], Value::Double(d) if d.is_nan()) || matches!(a[1], Value::Double(d) if d.is_nan()) {
        return Err("NaN values cannot be ordered".into());
    }
    a[0].compare(&a[1]).ok_or_else(|| "no such overload".into())
}
fn less<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(Value::Bool(ordering(&a)? == Ordering::Less))
}
fn less_equals<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(Value::Bool(ordering(&a)? != Ordering::Greater))
}
fn greater<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(Value::Bool(ordering(&a)? == Ordering::Greater))
}
fn greater_equals<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(Value::Bool(ordering(&a)? != Ordering::Less))
}

/// A list index: an int, a uint, or a double without fraction.
pub fn list_index(l: &crate::cel::value::List<'_>, i: &Value<'_>) -> Result<usize, String> {
    let n: i128 = match i {
        Value::Int(n) => i128::from(*n),
        Value::Uint(n) => i128::from(*n),
        Value::Double(d) if d.fract() == 0.0 && d.is_finite() => *d as i128,
        Value::Double(d) => return Err(format!("unsupported index value {} in list", format_double(*d))),
        other => return Err(format!("unsupported index type '{}' in list", other.type_name())),
    };
    if n < 0 || n >= l.len() as i128 {
        // cel-go plans `_[_]` as an attribute qualifier: its `missingIndex` error.
        return Err(format!("index out of bounds: {}", display(i)));
    }
    Ok(n as usize)
}

/// `m[k]`: cel-go's "no such key" error names the key.
pub fn map_get<'a>(m: &Map<'a>, k: &Value<'_>) -> Result<Value<'a>, String> {
    if !k.is_key() && !matches!(k, Value::Double(_)) {
        return Err(format!("unsupported key type: {}", k.type_name()));
    }
    let found = match k {
        Value::Double(d) if d.fract() == 0.0 => m
            .get(&Value::Int(*d as i64))
            .or_else(|| (*d >= 0.0).then(|| m.get(&Value::Uint(*d as u64))).flatten()),
        _ => m.get(k),
    };
    found.ok_or_else(|| format!("no such key: {}", display(k)))
}

fn index<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    match &a[0] {
        Value::List(l) => {
            let i = list_index(l, &a[1])?;
            l.get(i).ok_or_else(|| "index out of range".into())
        }
        Value::Map(m) => map_get(m, &a[1]),
        _ => nso(),
    }
}

fn in_op<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    match &a[1] {
        Value::List(l) => Ok(Value::Bool(l.iter().any(|v| v.equals(&a[0])))),
        Value::Map(m) => Ok(Value::Bool(map_get(m, &a[0]).is_ok())),
        _ => nso(),
    }
}

fn size<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    a[0].size().map(Value::Int).ok_or_else(|| "no such overload".into())
}

fn conv_err<T>(from: &Value<'_>, to: &str) -> Result<T, String> {
    Err(format!("type conversion error from '{}' to '{to}'", from.type_name()))
}

fn conversions(r: &mut Registry) {
    r.global("bool", "bool_to_bool", "bool -> bool", |mut a| Ok(a.remove(0)));
    r.global("bool", "string_to_bool", "string -> bool", |a| match str_arg(&a, 0)? {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Value::Bool(true)),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Value::Bool(false)),
        _ => conv_err(&a[0], "bool"),
    });
    r.global("bytes", "bytes_to_bytes", "bytes -> bytes", |mut a| Ok(a.remove(0)));
    r.global("bytes", "string_to_bytes", "string -> bytes", |a| {
        Ok(Value::Bytes(str_arg(&a, 0)?.as_bytes().into()))
    });
    for (id, sig) in [
        ("double_to_double", "double -> double"),
        ("int64_to_double", "int -> double"),
        ("string_to_double", "string -> double"),
        ("uint64_to_double", "uint -> double"),
    ] {
        r.global("double", id, sig, |a| match &a[0] {
            Value::Double(d) => Ok(Value::Double(*d)),
            Value::Int(i) => Ok(Value::Double(*i as f64)),
            Value::Uint(u) => Ok(Value::Double(*u as f64)),
            Value::Str(s) => parse_go_float(s)
                .map(Value::Double)
                .ok_or(())
                .or_else(|_| conv_err(&a[0], "double")),
            _ => nso(),
        });
    }
    for (id, sig) in [
        ("duration_to_duration", "duration -> duration"),
        ("int64_to_duration", "int -> duration"),
        ("string_to_duration", "string -> duration"),
    ] {
        r.global("duration", id, sig, |a| match &a[0] {
            Value::Duration(d) => Ok(Value::Duration(*d)),
            Value::Int(i) => Ok(Value::Duration(Duration(*i))),
            Value::Str(s) => Duration::parse(s)
                .map(Value::Duration)
                .or_else(|_| conv_err(&a[0], "google.protobuf.Duration")),
            _ => nso(),
        });
    }
    for (id, sig) in [
        ("int64_to_int64", "int -> int"),
        ("double_to_int64", "double -> int"),
        ("duration_to_int64", "duration -> int"),
        ("string_to_int64", "string -> int"),
        ("timestamp_to_int64", "timestamp -> int"),
        ("uint64_to_int64", "uint -> int"),
    ] {
        r.global("int", id, sig, |a| match &a[0] {
            Value::Int(i) => Ok(Value::Int(*i)),
            Value::Double(d) => {
                if !d.is_finite() || *d <= -9_223_372_036_854_775_808.0 || *d >= 9_223_372_036_854_775_807.0 {
                    Err(OVERFLOW.into())
                } else {
                    Ok(Value::Int(*d as i64))
                }
            }
            Value::Duration(d) => Ok(Value::Int(d.0)),
            Value::Timestamp(t) => Ok(Value::Int(t.secs)),
            Value::Uint(u) => i64::try_from(*u).map(Value::Int).map_err(|_| OVERFLOW.into()),
            Value::Str(s) => s.parse::<i64>().map(Value::Int).or_else(|_| conv_err(&a[0], "int")),
            _ => nso(),
        });
    }
    for (id, sig) in [
        ("string_to_string", "string -> string"),
        ("bool_to_string", "bool -> string"),
        ("bytes_to_string", "bytes -> string"),
        ("double_to_string", "double -> string"),
        ("duration_to_string", "duration -> string"),
        ("int64_to_string", "int -> string"),
        ("timestamp_to_string", "timestamp -> string"),
        ("uint64_to_string", "uint -> string"),
    ] {
        r.global("string", id, sig, |a| match &a[0] {
            Value::Str(_) => Ok(a[0].clone()),
            Value::Bytes(b) => std::str::from_utf8(b)
                .map(string)
                .map_err(|_| "invalid UTF-8 in bytes, cannot convert to string".into()),
            Value::Bool(_)
            | Value::Double(_)
            | Value::Int(_)
            | Value::Uint(_)
            | Value::Duration(_)
            | Value::Timestamp(_) => Ok(string(display(&a[0]))),
            _ => nso(),
        });
    }
    for (id, sig) in [
        ("timestamp_to_timestamp", "timestamp -> timestamp"),
        ("int64_to_timestamp", "int -> timestamp"),
        ("string_to_timestamp", "string -> timestamp"),
    ] {
        r.global("timestamp", id, sig, |a| match &a[0] {
            Value::Timestamp(t) => Ok(Value::Timestamp(*t)),
            Value::Int(i) => Timestamp::from_unix(*i).map(Value::Timestamp),
            Value::Str(s) => match Timestamp::parse(s) {
                Ok(t) => Ok(Value::Timestamp(t)),
                Err(e) if e == "timestamp overflow" => Err(e),
                Err(_) => conv_err(&a[0], "google.protobuf.Timestamp"),
            },
            _ => nso(),
        });
    }
    for (id, sig) in [
        ("uint64_to_uint64", "uint -> uint"),
        ("double_to_uint64", "double -> uint"),
        ("int64_to_uint64", "int -> uint"),
        ("string_to_uint64", "string -> uint"),
    ] {
        r.global("uint", id, sig, |a| match &a[0] {
            Value::Uint(u) => Ok(Value::Uint(*u)),
            Value::Int(i) => u64::try_from(*i).map(Value::Uint).map_err(|_| UOVERFLOW.into()),
            Value::Double(d) => {
                if !d.is_finite() || *d < 0.0 || *d >= 18_446_744_073_709_551_615.0 {
                    Err(UOVERFLOW.into())
                } else {
                    Ok(Value::Uint(*d as u64))
                }
            }
            Value::Str(s) => s.parse::<u64>().map(Value::Uint).or_else(|_| conv_err(&a[0], "uint")),
            _ => nso(),
        });
    }
}

/// Go's `strconv.ParseFloat` forms (`1e3`, `.5`, `inf`, `NaN`).
fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if s.is_empty() || s.contains(|c: char| c.is_whitespace()) || s.contains('_') {
        return None;
    }
    s.parse().ok()
}

fn matches<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let re = crate::cel::lib::k8s::regex(str_arg(&a, 1)?)?;
    Ok(Value::Bool(re.is_match(str_arg(&a, 0)?)))
}

fn time_getters(r: &mut Registry) {
    for (name, id) in [
        ("getFullYear", "timestamp_to_year"),
        ("getMonth", "timestamp_to_month"),
        ("getDayOfYear", "timestamp_to_day_of_year"),
        ("getDayOfMonth", "timestamp_to_day_of_month"),
        ("getDate", "timestamp_to_day_of_month_1_based"),
        ("getDayOfWeek", "timestamp_to_day_of_week"),
        ("getHours", "timestamp_to_hours"),
        ("getMinutes", "timestamp_to_minutes"),
        ("getSeconds", "timestamp_to_seconds"),
        ("getMilliseconds", "timestamp_to_milliseconds"),
    ] {
        r.member(name, id, "timestamp -> int", getter_impl(name));
        r.member(
            name,
            leak(format!("{id}_with_tz")),
            "timestamp, string -> int",
            getter_impl(name),
        );
    }
    r.member("getHours", "duration_to_hours", "duration -> int", |a| {
        dur(&a, 3_600_000_000_000)
    });
    r.member("getMinutes", "duration_to_minutes", "duration -> int", |a| {
        dur(&a, 60_000_000_000)
    });
    r.member("getSeconds", "duration_to_seconds", "duration -> int", |a| {
        dur(&a, 1_000_000_000)
    });
    r.member("getMilliseconds", "duration_to_milliseconds", "duration -> int", |a| {
        dur(&a, 1_000_000)
    });
}

fn dur<'a>(a: &[Value<'_>], unit: i64) -> Result<Value<'a>, String> {
    match a[0] {
        Value::Duration(d) => Ok(Value::Int(d.0 / unit)),
        _ => nso(),
    }
}

fn ts_offset(a: &[Value<'_>]) -> Result<(Timestamp, i64), String> {
    let Value::Timestamp(t) = a[0] else { return nso() };
    let off = match a.get(1) {
        Some(Value::Str(tz)) => zone_offset(tz, &t)?,
        Some(_) => return nso(),
        None => 0,
    };
    Ok((t, off))
}

fn getter_impl(name: &str) -> crate::cel::decls::Impl {
    match name {
        "getFullYear" => |a| ts_offset(&a).map(|(t, o)| Value::Int(t.civil(o).0)),
        "getMonth" => |a| ts_offset(&a).map(|(t, o)| Value::Int(i64::from(t.civil(o).1) - 1)),
        "getDayOfYear" => |a| ts_offset(&a).map(|(t, o)| Value::Int(i64::from(t.civil(o).7))),
        "getDayOfMonth" => |a| ts_offset(&a).map(|(t, o)| Value::Int(i64::from(t.civil(o).2) - 1)),
        "getDate" => |a| ts_offset(&a).map(|(t, o)| Value::Int(i64::from(t.civil(o).2))),
        "getDayOfWeek" => |a| ts_offset(&a).map(|(t, o)| Value::Int(i64::from(t.civil(o).6))),
        "getHours" => |a| ts_offset(&a).map(|(t, o)| Value::Int(i64::from(t.civil(o).3))),
        "getMinutes" => |a| ts_offset(&a).map(|(t, o)| Value::Int(i64::from(t.civil(o).4))),
        "getSeconds" => |a| ts_offset(&a).map(|(t, o)| Value::Int(i64::from(t.civil(o).5))),
        _ => |a| ts_offset(&a).map(|(t, _)| Value::Int(i64::from(t.nanos / 1_000_000))),
    }
}

/// `[x]` helper for libraries: a list of strings.
pub fn string_list<'a>(v: Vec<String>) -> Value<'a> {
    list(v.into_iter().map(string).collect())
}

/// An int argument as usize (negative → error).
pub fn nonneg(a: &[Value<'_>], i: usize) -> Result<usize, String> {
    let n = int_arg(a, i)?;
    usize::try_from(n).map_err(|_| format!("index out of range: {n}"))
}
