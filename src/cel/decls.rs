//! Function declarations: every overload of every function in Kubernetes' CEL environment,
//! with its signature (what the checker resolves) and its implementation (what the
//! interpreter calls). Built once.

use super::types::{parse_sig, Type};
use super::value::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// An overload's implementation: the receiver (member calls) first, then the arguments.
pub type Impl = for<'a> fn(Vec<Value<'a>>) -> Result<Value<'a>, String>;

#[derive(Debug)]
pub struct Overload {
    pub id: &'static str,
    pub member: bool,
    /// Parameter types, the receiver first for member overloads.
    pub params: Vec<Type>,
    pub result: Type,
    /// None for the operators the interpreter evaluates itself (`&&`, `||`, `?:`).
    pub imp: Option<Impl>,
}

#[derive(Debug)]
pub struct Function {
    pub name: &'static str,
    pub overloads: Vec<Overload>,
    pub gate: Gate,
}

/// Which environments declare a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Every environment.
    Base,
    /// Only the stored-expressions environment (libraries newer than the compatibility
    /// version: 1.33's `semver`).
    Stored,
    /// Only environments with the JSON patch types of mutating policies.
    Patch,
}

#[derive(Debug, Default)]
pub struct Registry {
    pub funcs: HashMap<&'static str, Function>,
    gate: Option<Gate>,
}

impl Registry {
    fn add(&mut self, name: &'static str, member: bool, id: &'static str, sig: &str, imp: Option<Impl>) {
        let (params, result) = parse_sig(sig);
        let gate = self.gate.unwrap_or(Gate::Base);
        let f = self.funcs.entry(name).or_insert_with(|| Function {
            name,
            overloads: Vec::new(),
            gate,
        });
        f.overloads.push(Overload {
            id,
            member,
            params,
            result,
            imp,
        });
    }
    /// A global overload `name(args) -> result`.
    pub fn global(&mut self, name: &'static str, id: &'static str, sig: &str, imp: Impl) {
        self.add(name, false, id, sig, Some(imp));
    }
    /// A member overload `recv.name(args)`; the signature lists the receiver first.
    pub fn member(&mut self, name: &'static str, id: &'static str, sig: &str, imp: Impl) {
        self.add(name, true, id, sig, Some(imp));
    }
    /// An overload the interpreter evaluates itself.
    pub fn special(&mut self, name: &'static str, id: &'static str, member: bool, sig: &str) {
        self.add(name, member, id, sig, None);
    }
    /// Declarations added inside `f` are only in the stored-expressions environment.
    pub fn stored_only(&mut self, f: impl FnOnce(&mut Registry)) {
        self.gate = Some(Gate::Stored);
        f(self);
        self.gate = None;
    }
    /// Declarations added inside `f` are only where JSON patch types are.
    pub fn patch_only(&mut self, f: impl FnOnce(&mut Registry)) {
        self.gate = Some(Gate::Patch);
        f(self);
        self.gate = None;
    }
}

/// All functions of Kubernetes' CEL base environment.
pub fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let mut r = Registry::default();
        super::lib::register_all(&mut r);
        r
    })
}

/// The shape of a runtime value against a declared parameter type, for choosing among
/// overloads when the checker left several (dyn arguments).
pub fn value_fits(t: &Type, v: &Value<'_>) -> bool {
    use super::value::Map;
    match t {
        Type::Dyn | Type::Param(_) | Type::Error => true,
        Type::Null => matches!(v, Value::Null),
        Type::Bool => matches!(v, Value::Bool(_)),
        Type::Int => matches!(v, Value::Int(_)),
        Type::Uint => matches!(v, Value::Uint(_)),
        Type::Double => matches!(v, Value::Double(_)),
        Type::String => matches!(v, Value::Str(_)),
        Type::Bytes => matches!(v, Value::Bytes(_)),
        Type::Timestamp => matches!(v, Value::Timestamp(_)),
        Type::Duration => matches!(v, Value::Duration(_)),
        Type::List(_) => matches!(v, Value::List(_)),
        Type::Map(..) => matches!(v, Value::Map(_)),
        Type::TypeOf(_) => matches!(v, Value::Type(_)),
        Type::Opaque(n, _) if &**n == "optional_type" => matches!(v, Value::Optional(_)),
        Type::Opaque(..) | Type::Struct(_) if v.type_name().as_ref() == t.name() => true,
        Type::Struct(_) => matches!(v, Value::Map(Map::Json(..)) | Value::Struct(_)),
        Type::Opaque(..) => false,
    }
}
