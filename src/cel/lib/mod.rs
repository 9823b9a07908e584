//! The function libraries of Kubernetes' CEL base environment (upstream
//! `apiserver/pkg/cel/environment/base.go` at 1.33): CEL's standard library, cel-go's
//! extensions Kubernetes enables (strings v2, sets, optionals, two-variable comprehensions)
//! and Kubernetes' own (lists, regex, URLs, quantity, IP/CIDR, format, semver, authz,
//! JSON patch keys).

pub mod authz;
pub mod ext;
pub mod format;
pub mod k8s;
pub mod net;
pub mod quantity;
pub mod semver;
pub mod stdlib;
pub mod strings;
pub mod url;

use super::decls::Registry;
use super::value::Value;

pub fn register_all(r: &mut Registry) {
    stdlib::register(r);
    strings::register(r);
    k8s::register(r);
    url::register(r);
    net::register(r);
    quantity::register(r);
    format::register(r);
    authz::register(r);
    r.stored_only(semver::register);
}

/// cel-go's error for arguments no overload accepts at run time.
pub fn nso<T>() -> Result<T, String> {
    Err("no such overload".into())
}

/// The string argument `i`.
pub fn str_arg<'v>(a: &'v [Value<'_>], i: usize) -> Result<&'v str, String> {
    match a.get(i) {
        Some(Value::Str(s)) => Ok(s),
        _ => nso(),
    }
}

pub fn int_arg(a: &[Value<'_>], i: usize) -> Result<i64, String> {
    match a.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        _ => nso(),
    }
}
