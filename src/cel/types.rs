//! CEL's types as the checker sees them (cel-go `common/types.Type`), their display
//! (`FormatCELType`), and the assignability/unification rules of cel-go's `checker/types.go`.

use super::schema::DeclType;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// A type. Struct types carry their fields (schema objects, `request`, `namespaceObject`,
/// `variables`, `Object.*`); opaque types (`optional_type`, `net.IP`, `function`) their
/// parameters.
#[derive(Clone, Debug)]
pub enum Type {
    Dyn,
    Error,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Timestamp,
    Duration,
    List(Arc<Type>),
    Map(Arc<Type>, Arc<Type>),
    /// `type` (None) or `type(T)`.
    TypeOf(Option<Arc<Type>>),
    Opaque(Arc<str>, Arc<[Type]>),
    Struct(Arc<StructType>),
    Param(Arc<str>),
}

/// Where a struct type's fields come from.
#[derive(Debug)]
pub enum Fields {
    /// No fields (library object types such as `kubernetes.URL`).
    None,
    /// An OpenAPI-derived declaration (custom resources, built-in kinds, params).
    Decl(Arc<DeclType>),
    /// A fixed set (`kubernetes.AdmissionRequest`, `kubernetes.variables`, `JSONPatch`).
    Fixed(BTreeMap<String, Type>),
    /// Any field, typed dyn (`Object`, `Object.spec`… of mutating policies).
    Dynamic,
}

#[derive(Debug)]
pub struct StructType {
    pub name: String,
    pub fields: Fields,
}

impl StructType {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: impl Into<String>, fields: Fields) -> Type {
        Type::Struct(Arc::new(StructType {
            name: name.into(),
            fields,
        }))
    }
    /// The type of field `f`, None when the struct has no such field.
    pub fn field(&self, f: &str) -> Option<Type> {
        match &self.fields {
            Fields::None => None,
            Fields::Decl(d) => d.fields.get(f).map(|fd| fd.ty.cel_type()),
            Fields::Fixed(m) => m.get(f).cloned(),
            Fields::Dynamic => Some(Type::Dyn),
        }
    }
}

pub fn list(t: Type) -> Type {
    Type::List(Arc::new(t))
}
pub fn map(k: Type, v: Type) -> Type {
    Type::Map(Arc::new(k), Arc::new(v))
}
pub fn opaque(name: &str, params: Vec<Type>) -> Type {
    Type::Opaque(name.into(), params.into())
}
pub fn optional(t: Type) -> Type {
    opaque("optional_type", vec![t])
}
pub fn param(n: &str) -> Type {
    Type::Param(n.into())
}
pub fn named(n: &str) -> Type {
    StructType::new(n, Fields::None)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dyn,
    Error,
    Null,
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Timestamp,
    Duration,
    List,
    Map,
    Type,
    Opaque,
    Struct,
    Param,
}

impl Type {
    pub fn kind(&self) -> Kind {
        match self {
            Type::Dyn => Kind::Dyn,
            Type::Error => Kind::Error,
            Type::Null => Kind::Null,
            Type::Bool => Kind::Bool,
            Type::Int => Kind::Int,
            Type::Uint => Kind::Uint,
            Type::Double => Kind::Double,
            Type::String => Kind::String,
            Type::Bytes => Kind::Bytes,
            Type::Timestamp => Kind::Timestamp,
            Type::Duration => Kind::Duration,
            Type::List(_) => Kind::List,
            Type::Map(..) => Kind::Map,
            Type::TypeOf(_) => Kind::Type,
            Type::Opaque(..) => Kind::Opaque,
            Type::Struct(_) => Kind::Struct,
            Type::Param(_) => Kind::Param,
        }
    }

    /// The type's name (`list`, `map`, `optional_type`, `kubernetes.URL`, a param's name).
    pub fn name(&self) -> &str {
        match self {
            Type::Dyn => "dyn",
            Type::Error => "*error*",
            Type::Null => "null_type",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Uint => "uint",
            Type::Double => "double",
            Type::String => "string",
            Type::Bytes => "bytes",
            Type::Timestamp => "google.protobuf.Timestamp",
            Type::Duration => "google.protobuf.Duration",
            Type::List(_) => "list",
            Type::Map(..) => "map",
            Type::TypeOf(_) => "type",
            Type::Opaque(n, _) => n,
            Type::Struct(s) => &s.name,
            Type::Param(n) => n,
        }
    }

    pub fn params(&self) -> Vec<Type> {
        match self {
            Type::List(e) => vec![(**e).clone()],
            Type::Map(k, v) => vec![(**k).clone(), (**v).clone()],
            Type::TypeOf(Some(t)) => vec![(**t).clone()],
            Type::Opaque(_, p) => p.to_vec(),
            _ => Vec::new(),
        }
    }

    fn with_params(&self, p: Vec<Type>) -> Type {
        match self {
            Type::List(_) => list(p[0].clone()),
            Type::Map(..) => map(p[0].clone(), p[1].clone()),
            Type::TypeOf(_) => Type::TypeOf(p.into_iter().next().map(Arc::new)),
            Type::Opaque(n, _) => Type::Opaque(n.clone(), p.into()),
            t => t.clone(),
        }
    }

    pub fn is_dyn(&self) -> bool {
        matches!(self, Type::Dyn)
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Type::Error)
    }
    pub fn is_dyn_or_error(&self) -> bool {
        matches!(self, Type::Dyn | Type::Error)
    }
    pub fn is_optional(&self) -> bool {
        matches!(self, Type::Opaque(n, _) if &**n == "optional_type")
    }
    /// `optional_type(T)` → (T, true); anything else → (itself, false).
    pub fn unwrap_optional(&self) -> (Type, bool) {
        match self {
            Type::Opaque(n, p) if &**n == "optional_type" => (p[0].clone(), true),
            t => (t.clone(), false),
        }
    }

    /// cel-go `IsExactType`.
    pub fn exact(&self, o: &Type) -> bool {
        if self.kind() != o.kind() || self.name() != o.name() {
            return false;
        }
        let (a, b) = (self.params(), o.params());
        a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.exact(y))
    }

    /// cel-go `Type.IsAssignableType` (the receiver is the target).
    fn is_assignable_type(&self, from: &Type) -> bool {
        if matches!(self, Type::Dyn | Type::Param(_)) {
            return true;
        }
        if self.kind() != from.kind() || self.name() != from.name() {
            return false;
        }
        let (a, b) = (self.params(), from.params());
        a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.is_assignable_type(y))
    }
}

impl fmt::Display for Type {
    /// cel-go `FormatCELType`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Error => f.write_str("!error!"),
            Type::Null => f.write_str("null"),
            Type::Timestamp => f.write_str("timestamp"),
            Type::Duration => f.write_str("duration"),
            Type::Param(n) => f.write_str(n),
            Type::Opaque(n, p) if &**n == "function" => {
                let args: Vec<String> = p[1..].iter().map(|t| t.to_string()).collect();
                write!(f, "({}) -> {}", args.join(", "), p[0])
            }
            t => {
                let p = t.params();
                if p.is_empty() {
                    f.write_str(t.name())
                } else {
                    let ps: Vec<String> = p.iter().map(|t| t.to_string()).collect();
                    write!(f, "{}({})", t.name(), ps.join(", "))
                }
            }
        }
    }
}

/// Type-parameter substitutions found while checking (cel-go `mapping`).
#[derive(Clone, Debug, Default)]
pub struct Mapping(HashMap<String, Type>);

impl Mapping {
    /// Substitute type parameter `name` by `t`.
    pub fn bind(&mut self, name: &str, t: Type) {
        self.0.insert(name.to_string(), t);
    }
    fn find(&self, t: &Type) -> Option<&Type> {
        match t {
            Type::Param(n) => self.0.get(&**n),
            _ => None,
        }
    }
    fn add(&mut self, from: &Type, to: Type) {
        if let Type::Param(n) = from {
            self.0.insert(n.to_string(), to);
        }
    }
}

fn is_eq_or_less_specific(t1: &Type, t2: &Type) -> bool {
    let (k1, k2) = (t1.kind(), t2.kind());
    if t1.is_dyn() || k1 == Kind::Param {
        return true;
    }
    if t2.is_dyn() || k2 == Kind::Param {
        return false;
    }
    if k1 != k2 {
        return false;
    }
    match k1 {
        Kind::Opaque => {
            let (p1, p2) = (t1.params(), t2.params());
            t1.name() == t2.name()
                && p1.len() == p2.len()
                && p1.iter().zip(&p2).all(|(a, b)| is_eq_or_less_specific(a, b))
        }
        Kind::List | Kind::Map => {
            let (p1, p2) = (t1.params(), t2.params());
            p1.iter().zip(&p2).all(|(a, b)| is_eq_or_less_specific(a, b))
        }
        Kind::Type => true,
        _ => t1.exact(t2),
    }
}

pub fn most_general(t1: &Type, t2: &Type) -> Type {
    if is_eq_or_less_specific(t1, t2) {
        t1.clone()
    } else {
        t2.clone()
    }
}

fn not_referenced_in(m: &Mapping, t: &Type, within: &Type) -> bool {
    if t.exact(within) {
        return false;
    }
    match within.kind() {
        Kind::Param => match m.find(within) {
            None => true,
            Some(s) => not_referenced_in(m, t, &s.clone()),
        },
        Kind::Opaque | Kind::List | Kind::Map | Kind::Type => {
            within.params().iter().all(|p| not_referenced_in(m, t, p))
        }
        _ => true,
    }
}

fn valid_substitution(m: &mut Mapping, t1: &Type, t2: &Type) -> (bool, bool) {
    if t1.kind() == t2.kind() && t1.exact(t2) {
        return (true, true);
    }
    if let Some(sub) = m.find(t2).cloned() {
        if t1.kind() == sub.kind() && t1.exact(&sub) {
            return (true, true);
        }
        if internal_assignable(m, t1, &sub) {
            let new = most_general(t1, &sub);
            if not_referenced_in(m, t2, &new) {
                m.add(t2, new);
            }
            return (true, true);
        }
        return (false, true);
    }
    if not_referenced_in(m, t2, t1) {
        m.add(t2, t1.clone());
        return (true, false);
    }
    (false, false)
}

fn is_legacy_nullable(t: &Type) -> bool {
    matches!(t.kind(), Kind::Opaque | Kind::Struct | Kind::Duration | Kind::Timestamp)
}

fn internal_assignable(m: &mut Mapping, t1: &Type, t2: &Type) -> bool {
    let (k1, k2) = (t1.kind(), t2.kind());
    if k2 == Kind::Param {
        let (valid, has_sub) = valid_substitution(m, t1, t2);
        if valid {
            return true;
        }
        if has_sub {
            return false;
        }
    }
    if k1 == Kind::Param {
        return valid_substitution(m, t2, t1).0;
    }
    if t1.is_dyn_or_error() || t2.is_dyn_or_error() {
        return true;
    }
    if k1 == Kind::Null {
        return is_legacy_nullable(t2) || t2.is_assignable_type(&Type::Null);
    }
    if k2 == Kind::Null {
        return is_legacy_nullable(t1) || t1.is_assignable_type(&Type::Null);
    }
    match k1 {
        Kind::Bool
        | Kind::Bytes
        | Kind::Double
        | Kind::Int
        | Kind::String
        | Kind::Uint
        | Kind::Duration
        | Kind::Timestamp
        | Kind::Struct => t2.is_assignable_type(t1),
        Kind::Type => k2 == Kind::Type,
        Kind::Opaque | Kind::List | Kind::Map => {
            k1 == k2 && t1.name() == t2.name() && {
                let (p1, p2) = (t1.params(), t2.params());
                p1.len() == p2.len() && p1.iter().zip(&p2).all(|(a, b)| internal_assignable(m, a, b))
            }
        }
        _ => false,
    }
}

/// Is `t2` assignable to `t1` under `m`? On success the (possibly extended) mapping.
pub fn assignable(m: &Mapping, t1: &Type, t2: &Type) -> Option<Mapping> {
    let mut c = m.clone();
    internal_assignable(&mut c, t1, t2).then_some(c)
}

pub fn assignable_list(m: &Mapping, l1: &[Type], l2: &[Type]) -> Option<Mapping> {
    if l1.len() != l2.len() {
        return None;
    }
    let mut c = m.clone();
    for (a, b) in l1.iter().zip(l2) {
        if !internal_assignable(&mut c, a, b) {
            return None;
        }
    }
    Some(c)
}

/// Replace type parameters by their substitutions (or dyn, when `to_dyn`).
pub fn substitute(m: &Mapping, t: &Type, to_dyn: bool) -> Type {
    if let Some(s) = m.find(t) {
        return substitute(m, &s.clone(), to_dyn);
    }
    match t {
        Type::Param(_) if to_dyn => Type::Dyn,
        Type::Opaque(..) | Type::List(_) | Type::Map(..) | Type::TypeOf(Some(_)) => {
            t.with_params(t.params().iter().map(|p| substitute(m, p, to_dyn)).collect())
        }
        _ => t.clone(),
    }
}

/// A signature in the compact notation of the function tables: `int, list(A) -> bool`. Single
/// capital letters are type parameters; `list(T)`, `map(K, V)`, `optional_type(T)`,
/// `type(T)` and dotted names (`kubernetes.URL`, `net.IP`) are understood.
pub fn parse_sig(s: &str) -> (Vec<Type>, Type) {
    let (args, ret) = s.split_once("->").expect("signature has ->");
    let args = split_top(args.trim())
        .into_iter()
        .filter(|a| !a.is_empty())
        .map(parse_type)
        .collect();
    (args, parse_type(ret.trim()))
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

pub fn parse_type(s: &str) -> Type {
    let s = s.trim();
    if let Some(open) = s.find('(') {
        let name = &s[..open];
        let inner: Vec<Type> = split_top(&s[open + 1..s.len() - 1])
            .into_iter()
            .map(parse_type)
            .collect();
        return match name {
            "list" => list(inner[0].clone()),
            "map" => map(inner[0].clone(), inner[1].clone()),
            "type" => Type::TypeOf(Some(Arc::new(inner[0].clone()))),
            n => opaque(n, inner),
        };
    }
    match s {
        "dyn" => Type::Dyn,
        "null" => Type::Null,
        "bool" => Type::Bool,
        "int" => Type::Int,
        "uint" => Type::Uint,
        "double" => Type::Double,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "timestamp" => Type::Timestamp,
        "duration" => Type::Duration,
        "type" => Type::TypeOf(None),
        "net.IP" | "net.CIDR" => opaque(s, vec![]),
        p if p.len() == 1 && p.chars().all(|c| c.is_ascii_uppercase()) => param(p),
        n => named(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_cel_go() {
        assert_eq!(
            parse_type("list(map(string, dyn))").to_string(),
            "list(map(string, dyn))"
        );
        assert_eq!(optional(Type::Int).to_string(), "optional_type(int)");
        assert_eq!(Type::Null.to_string(), "null");
        assert_eq!(Type::Timestamp.to_string(), "timestamp");
        assert_eq!(Type::TypeOf(Some(Arc::new(Type::Int))).to_string(), "type(int)");
    }

    #[test]
    fn unification() {
        let m = Mapping::default();
        let (args, _) = parse_sig("list(A), list(A) -> list(A)");
        let got = assignable_list(&m, &[list(Type::Int), list(Type::Int)], &args).unwrap();
        assert_eq!(substitute(&got, &param("A"), false).to_string(), "int");
        assert!(assignable_list(&m, &[list(Type::Int), list(Type::String)], &args).is_none());
        assert!(assignable(&m, &Type::Int, &Type::Dyn).is_some());
        assert!(assignable(&m, &Type::Int, &Type::String).is_none());
    }
}
