//! CEL values. Objects from requests are read in place: a JSON node becomes a value only when
//! an expression touches it (`Value::json`), so evaluating `object.metadata.name` costs the same
//! on a 1 KiB and a 1 MiB object. With a schema (`DeclType`) a node takes the schema's
//! semantics: `format: date-time` strings are timestamps, `x-kubernetes-list-type: set`/`map`
//! lists compare and concatenate as sets and keyed lists, property names are CEL-escaped.

use super::lib::ext::Ext;
use super::schema::{unescape, DeclKind, DeclType, ListKind};
use super::time::{Duration, Timestamp};
use base64::Engine;
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::sync::Arc;

/// A string: borrowed from the input or owned.
#[derive(Clone, Debug)]
pub enum Str<'a> {
    B(&'a str),
    O(Arc<str>),
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Str::B(s) => s,
            Str::O(s) => s,
        }
    }
}

#[derive(Clone, Debug)]
pub enum List<'a> {
    Json(&'a [Json], Option<&'a DeclType>),
    Own(Arc<Vec<Value<'a>>>),
}

#[derive(Clone, Debug)]
pub enum Map<'a> {
    Json(&'a serde_json::Map<String, Json>, Option<&'a DeclType>),
    Own(Arc<Vec<(Value<'a>, Value<'a>)>>),
}

/// A struct value built by an expression (`Object{…}`, `JSONPatch{…}`).
#[derive(Clone, Debug)]
pub struct StructVal<'a> {
    pub name: Arc<str>,
    pub fields: Vec<(Arc<str>, Value<'a>)>,
}

#[derive(Clone, Debug)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Str<'a>),
    Bytes(Arc<[u8]>),
    List(List<'a>),
    Map(Map<'a>),
    Timestamp(Timestamp),
    Duration(Duration),
    /// A type value (`type(x)`, `int`), by name.
    Type(Arc<str>),
    Optional(Option<Box<Value<'a>>>),
    Struct(Arc<StructVal<'a>>),
    Ext(Arc<Ext>),
}

pub fn string<'a>(s: impl Into<Arc<str>>) -> Value<'a> {
    Value::Str(Str::O(s.into()))
}

pub fn list<'a>(v: Vec<Value<'a>>) -> Value<'a> {
    Value::List(List::Own(Arc::new(v)))
}

impl<'a> List<'a> {
    pub fn len(&self) -> usize {
        match self {
            List::Json(a, _) => a.len(),
            List::Own(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, i: usize) -> Option<Value<'a>> {
        match self {
            List::Json(a, d) => a.get(i).map(|v| Value::json(v, d.and_then(|d| d.elem.as_deref()))),
            List::Own(v) => v.get(i).cloned(),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = Value<'a>> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }
    fn kind(&self) -> ListKind {
        match self {
            List::Json(_, Some(d)) => d.list_kind,
            _ => ListKind::Atomic,
        }
    }
    fn map_keys(&self) -> &[String] {
        match self {
            List::Json(_, Some(d)) => &d.map_keys,
            _ => &[],
        }
    }
}

impl<'a> Map<'a> {
    pub fn len(&self) -> usize {
        match self {
            Map::Json(m, _) => m.len(),
            Map::Own(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The schema of a value under this map (a property, or additionalProperties).
    fn child_decl(d: Option<&'a DeclType>, key: &str) -> Option<&'a DeclType> {
        let d = d?;
        match d.kind {
            DeclKind::Object => d.fields.get(key).map(|f| &*f.ty),
            _ => d.elem.as_deref(),
        }
    }
    /// The value at a key (a map key or an object's field, CEL-escaped when the map is a
    /// schema object).
    pub fn get(&self, key: &Value<'_>) -> Option<Value<'a>> {
        match self {
            Map::Json(m, d) => {
                let Value::Str(k) = key else { return None };
                if let Some(decl) = d.filter(|d| d.is_object()) {
                    let f = decl.fields.get(&**k)?;
                    return m.get(&f.json_name).map(|v| Value::json(v, Some(&f.ty)));
                }
                m.get(&**k).map(|v| Value::json(v, Map::child_decl(*d, k)))
            }
            Map::Own(v) => v.iter().find(|(k, _)| key_eq(k, key)).map(|(_, v)| v.clone()),
        }
    }
    pub fn keys(&self) -> Vec<Value<'a>> {
        match self {
            Map::Json(m, d) => {
                let escaped = d.is_some_and(|d| d.is_object());
                m.keys()
                    .filter_map(|k| {
                        if escaped {
                            super::schema::escape(k).map(string)
                        } else {
                            Some(Value::Str(Str::B(k.as_str())))
                        }
                    })
                    .collect()
            }
            Map::Own(v) => v.iter().map(|(k, _)| k.clone()).collect(),
        }
    }
    pub fn entries(&self) -> Vec<(Value<'a>, Value<'a>)> {
        self.keys()
            .into_iter()
            .filter_map(|k| self.get(&k).map(|v| (k, v)))
            .collect()
    }
}

fn key_eq(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => **x == **y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => numeric_cmp(a, b) == Some(Ordering::Equal),
    }
}

fn numeric_cmp(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Uint(x), Value::Uint(y)) => Some(x.cmp(y)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Uint(y)) => Some(if *x < 0 { Ordering::Less } else { (*x as u64).cmp(y) }),
        (Value::Uint(_), Value::Int(_)) => numeric_cmp(b, a).map(Ordering::reverse),
        (Value::Int(x), Value::Double(y)) => cmp_i64_f64(*x, *y),
        (Value::Double(_), Value::Int(_)) => numeric_cmp(b, a).map(Ordering::reverse),
        (Value::Uint(x), Value::Double(y)) => {
            if y.is_nan() {
                None
            } else if *y < 0.0 {
                Some(Ordering::Greater)
            } else if *y >= 18_446_744_073_709_551_616.0 {
                Some(Ordering::Less)
            } else {
                let t = y.trunc();
                Some(
                    (*x).cmp(&(t as u64))
                        .then(if *y > t { Ordering::Less } else { Ordering::Equal }),
                )
            }
        }
        (Value::Double(_), Value::Uint(_)) => numeric_cmp(b, a).map(Ordering::reverse),
        _ => None,
    }
}

fn cmp_i64_f64(x: i64, y: f64) -> Option<Ordering> {
    if y.is_nan() {
        return None;
    }
    if y >= 9_223_372_036_854_775_808.0 {
        return Some(Ordering::Less);
    }
    if y < -9_223_372_036_854_775_808.0 {
        return Some(Ordering::Greater);
    }
    let t = y.trunc();
    Some(x.cmp(&(t as i64)).then(if y > t {
        Ordering::Less
    } else if y < t {
        Ordering::Greater
    } else {
        Ordering::Equal
    }))
}

impl<'a> Value<'a> {
    /// A JSON node as a value, with the semantics of its schema when there is one.
    pub fn json(v: &'a Json, decl: Option<&'a DeclType>) -> Value<'a> {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => {
                if let Some(DeclKind::Scalar(super::types::Type::Double)) = decl.map(|d| &d.kind) {
                    return Value::Double(n.as_f64().unwrap_or(0.0));
                }
                match n.as_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::Double(n.as_f64().unwrap_or(0.0)),
                }
            }
            Json::String(s) => match decl.map(|d| d.format.as_str()) {
                Some("byte") => match base64::engine::general_purpose::STANDARD.decode(s) {
                    Ok(b) => Value::Bytes(b.into()),
                    Err(_) => Value::Str(Str::B(s)),
                },
                Some("date-time") => Timestamp::parse(s)
                    .map(Value::Timestamp)
                    .unwrap_or(Value::Str(Str::B(s))),
                Some("date") => Timestamp::parse_date(s)
                    .map(Value::Timestamp)
                    .unwrap_or(Value::Str(Str::B(s))),
                Some("duration") => Duration::parse(s).map(Value::Duration).unwrap_or(Value::Str(Str::B(s))),
                _ => Value::Str(Str::B(s)),
            },
            Json::Array(a) => Value::List(List::Json(a, decl.filter(|d| matches!(d.kind, DeclKind::List)))),
            Json::Object(m) => Value::Map(Map::Json(
                m,
                decl.filter(|d| matches!(d.kind, DeclKind::Object | DeclKind::Map)),
            )),
        }
    }

    /// The value's CEL type name, as `type(v)` reports it.
    pub fn type_name(&self) -> Arc<str> {
        match self {
            Value::Null => "null_type".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Uint(_) => "uint".into(),
            Value::Double(_) => "double".into(),
            Value::Str(_) => "string".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::List(_) => "list".into(),
            Value::Map(Map::Json(_, Some(d))) if d.is_object() => d.name.as_str().into(),
            Value::Map(_) => "map".into(),
            Value::Timestamp(_) => "google.protobuf.Timestamp".into(),
            Value::Duration(_) => "google.protobuf.Duration".into(),
            Value::Type(_) => "type".into(),
            Value::Optional(_) => "optional_type".into(),
            Value::Struct(s) => s.name.clone(),
            Value::Ext(e) => e.type_name().into(),
        }
    }

    /// cel-go's `Sizer`: the length of strings (code points), bytes, lists and maps.
    pub fn size(&self) -> Option<i64> {
        match self {
            Value::Str(s) => Some(s.chars().count() as i64),
            Value::Bytes(b) => Some(b.len() as i64),
            Value::List(l) => Some(l.len() as i64),
            Value::Map(m) => Some(m.len() as i64),
            _ => None,
        }
    }

    /// CEL equality (heterogeneous: values of different types are unequal, numbers compare
    /// by value).
    pub fn equals(&self, o: &Value<'_>) -> bool {
        match (self, o) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(_) | Value::Uint(_) | Value::Double(_), Value::Int(_) | Value::Uint(_) | Value::Double(_)) => {
                numeric_cmp(self, o) == Some(Ordering::Equal)
            }
            (Value::Str(a), Value::Str(b)) => **a == **b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::List(a), Value::List(b)) => list_equals(a, b),
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len() && a.entries().iter().all(|(k, v)| b.get(k).is_some_and(|w| v.equals(&w)))
            }
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::Type(a), Value::Type(b)) => a == b,
            (Value::Optional(a), Value::Optional(b)) => match (a, b) {
                (None, None) => true,
                (Some(x), Some(y)) => x.equals(y),
                _ => false,
            },
            (Value::Struct(a), Value::Struct(b)) => {
                a.name == b.name
                    && a.fields.len() == b.fields.len()
                    && a.fields
                        .iter()
                        .all(|(k, v)| b.fields.iter().any(|(k2, v2)| k == k2 && v.equals(v2)))
            }
            (Value::Ext(a), Value::Ext(b)) => a.equals(b),
            _ => false,
        }
    }

    /// CEL ordering (`<` and friends); None when the types have no order.
    pub fn compare(&self, o: &Value<'_>) -> Option<Ordering> {
        match (self, o) {
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Int(_) | Value::Uint(_) | Value::Double(_), Value::Int(_) | Value::Uint(_) | Value::Double(_)) => {
                numeric_cmp(self, o)
            }
            (Value::Str(a), Value::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Value::Bytes(a), Value::Bytes(b)) => Some(a.cmp(b)),
            (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
            (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Whether a map key: int, uint, bool or string.
    pub fn is_key(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Uint(_) | Value::Bool(_) | Value::Str(_))
    }

    /// cel-go `IsZeroValue` (for `optional.ofNonZeroValue`).
    pub fn is_zero(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Int(i) => *i == 0,
            Value::Uint(u) => *u == 0,
            Value::Double(d) => *d == 0.0,
            Value::Str(s) => s.is_empty(),
            Value::Bytes(b) => b.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Map(m) => m.is_empty(),
            Value::Timestamp(t) => t.secs == 0 && t.nanos == 0,
            Value::Duration(d) => d.0 == 0,
            Value::Optional(o) => o.is_none(),
            Value::Struct(s) => s.fields.is_empty(),
            _ => false,
        }
    }

    /// The value as JSON (results of mutations, messages): timestamps and durations as their
    /// strings, bytes as base64.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Uint(u) => Json::from(*u),
            Value::Double(d) => serde_json::Number::from_f64(*d).map(Json::Number).unwrap_or(Json::Null),
            Value::Str(s) => Json::String(s.to_string()),
            Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
            Value::List(List::Json(a, _)) => Json::Array(a.to_vec()),
            Value::List(l) => Json::Array(l.iter().map(|v| v.to_json()).collect()),
            Value::Map(Map::Json(m, _)) => Json::Object((*m).clone()),
            Value::Map(m) => Json::Object(
                m.entries()
                    .into_iter()
                    .map(|(k, v)| (key_string(&k), v.to_json()))
                    .collect(),
            ),
            Value::Timestamp(t) => Json::String(t.to_string()),
            Value::Duration(d) => Json::String(d.to_string()),
            Value::Type(t) => Json::String(t.to_string()),
            Value::Optional(o) => o.as_ref().map(|v| v.to_json()).unwrap_or(Json::Null),
            Value::Struct(s) => Json::Object(s.fields.iter().map(|(k, v)| (unescape(k), v.to_json())).collect()),
            Value::Ext(e) => Json::String(e.to_string()),
        }
    }

    /// The value as an owned value (no borrowed JSON): outlives the input.
    pub fn to_owned_value(&self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Uint(u) => Value::Uint(*u),
            Value::Double(d) => Value::Double(*d),
            Value::Str(s) => string(&**s),
            Value::Bytes(b) => Value::Bytes(b.clone()),
            Value::List(l) => list(l.iter().map(|v| v.to_owned_value()).collect()),
            Value::Map(m) => Value::Map(Map::Own(Arc::new(
                m.entries()
                    .into_iter()
                    .map(|(k, v)| (k.to_owned_value(), v.to_owned_value()))
                    .collect(),
            ))),
            Value::Timestamp(t) => Value::Timestamp(*t),
            Value::Duration(d) => Value::Duration(*d),
            Value::Type(t) => Value::Type(t.clone()),
            Value::Optional(o) => Value::Optional(o.as_ref().map(|v| Box::new(v.to_owned_value()))),
            Value::Struct(s) => Value::Struct(Arc::new(StructVal {
                name: s.name.clone(),
                fields: s.fields.iter().map(|(k, v)| (k.clone(), v.to_owned_value())).collect(),
            })),
            Value::Ext(e) => Value::Ext(e.clone()),
        }
    }
}

fn key_string(k: &Value<'_>) -> String {
    match k {
        Value::Str(s) => s.to_string(),
        other => display(other),
    }
}

/// List equality, with `set` lists compared as sets and `map` lists by their keys.
fn list_equals(a: &List<'_>, b: &List<'_>) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match (a.kind(), b.kind()) {
        (ListKind::Set, _) | (_, ListKind::Set) => a.iter().all(|x| b.iter().any(|y| x.equals(&y))),
        (ListKind::Map, _) if !a.map_keys().is_empty() => {
            let keys = a.map_keys();
            a.iter()
                .all(|x| b.iter().find(|y| same_keys(keys, &x, y)).is_some_and(|y| x.equals(&y)))
        }
        _ => a.iter().zip(b.iter()).all(|(x, y)| x.equals(&y)),
    }
}

fn same_keys(keys: &[String], x: &Value<'_>, y: &Value<'_>) -> bool {
    let (Value::Map(mx), Value::Map(my)) = (x, y) else {
        return false;
    };
    keys.iter().all(|k| {
        let kv = string(super::schema::escape(k).unwrap_or_else(|| k.clone()));
        match (mx.get(&kv), my.get(&kv)) {
            (Some(a), Some(b)) => a.equals(&b),
            (None, None) => true,
            _ => false,
        }
    })
}

/// `a + b` for lists: set lists merge as sets, map lists by key (upstream `unstructuredSetList`
/// and `unstructuredMapList` concatenation); other lists append.
pub fn concat<'a>(a: &List<'a>, b: &List<'a>) -> Value<'a> {
    match a.kind() {
        ListKind::Set => {
            let mut out: Vec<Value<'a>> = a.iter().collect();
            for y in b.iter() {
                if !out.iter().any(|x| x.equals(&y)) {
                    out.push(y);
                }
            }
            list(out)
        }
        ListKind::Map if !a.map_keys().is_empty() => {
            let keys = a.map_keys().to_vec();
            let mut out: Vec<Value<'a>> = a.iter().collect();
            for y in b.iter() {
                match out.iter().position(|x| same_keys(&keys, x, &y)) {
                    Some(i) => out[i] = y,
                    None => out.push(y),
                }
            }
            list(out)
        }
        _ => {
            let mut out: Vec<Value<'a>> = a.iter().collect();
            out.extend(b.iter());
            list(out)
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (cel-go's `string(double)` uses `%g`).
pub fn format_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Shortest round-trip digits and decimal exponent.
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    // Go's shortest %g uses an exponent below 1e-4 and from 1e6 on.
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let m = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    if exp >= 0 {
        let e = exp as usize;
        if digits.len() <= e + 1 {
            format!("{sign}{digits}{}", "0".repeat(e + 1 - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..=e], &digits[e + 1..])
        }
    } else {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    }
}

/// Display form used in error messages and `string()` of scalars.
pub fn display(v: &Value<'_>) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Uint(u) => u.to_string(),
        Value::Double(d) => format_double(*d),
        Value::Str(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Timestamp(t) => t.to_string(),
        Value::Duration(d) => d.to_string(),
        Value::Type(t) => t.to_string(),
        Value::Ext(e) => e.to_string(),
        other => other.to_json().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn doubles_print_like_go() {
        for (f, s) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (123456.0, "123456"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (100000.0, "100000"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(format_double(f), s, "{f}");
        }
    }

    #[test]
    fn equality_is_heterogeneous() {
        assert!(Value::Int(1).equals(&Value::Double(1.0)));
        assert!(Value::Uint(1).equals(&Value::Int(1)));
        assert!(!Value::Int(1).equals(&string("1")));
        let j = json!({"a": [1, 2], "b": "x"});
        let v = Value::json(&j, None);
        let own = Value::Map(Map::Own(Arc::new(vec![
            (string("b"), string("x")),
            (string("a"), list(vec![Value::Int(1), Value::Double(2.0)])),
        ])));
        assert!(v.equals(&own));
        assert!(Value::Int(-1).compare(&Value::Uint(0)) == Some(Ordering::Less));
        assert!(Value::Double(1.5).compare(&Value::Int(1)) == Some(Ordering::Greater));
    }
}
