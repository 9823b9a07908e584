//! Typed scalar values in objects of built-in kinds, decoded and re-encoded as upstream's typed
//! decoding does before anything compares or stores them: `metav1.Time` / `MicroTime` (any form
//! Go's parser takes → UTC, seconds or microseconds), `resource.Quantity` (canonical text,
//! `ResourceList`s rounded up to milli-units) and `[]byte` (canonical base64). Which fields are
//! which comes from the built-in schemas ([`crate::api::schema`]), so every kind and every
//! subresource write gets it from one walk.
//!
//! Errors are Go's `encoding/json` ones: a bad time or quantity stops the decode at once; a bad
//! base64 value or a non-string `[]byte` is remembered and reported only when nothing worse
//! follows. Durations (`metav1.Duration`) appear in no served built-in kind; int-or-string values
//! keep their JSON type upstream too.

pub mod bytes;
pub mod quantity;
pub mod time;

use super::schema::{self, Node, Schemas, Ty, TypeRef};
use crate::util::json::JsonExt;
use serde_json::Value;
use time::Precision;

const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// Normalises every typed value of `obj`, a body of the given built-in kind (kinds without a
/// built-in schema, i.e. custom resources, are left as they are). The error is the text after
/// `<Kind> in version "<v>" cannot be handled as a <Kind>: `.
pub fn normalize(group: &str, version: &str, kind: &str, obj: &mut Value) -> Result<(), String> {
    let s = schema::builtin();
    let Some(def) = s.def_name(group, version, kind) else {
        return Ok(());
    };
    let Some(root) = s.def(def) else {
        return Ok(());
    };
    let mut w = Walk {
        s,
        round_lists: rounds_resource_lists(group),
        saved: None,
        path: Vec::new(),
        strukt: short(def),
    };
    w.node(root, obj)?;
    w.saved.map_or(Ok(()), Err)
}

/// [`normalize`] for a body that names its own kind (`apiVersion`, `kind`).
pub fn normalize_any(obj: &mut Value) -> Result<(), String> {
    let av = obj.str_of("apiVersion").to_string();
    let kind = obj.str_of("kind").to_string();
    let (group, version) = av.rsplit_once('/').unwrap_or(("", &av));
    normalize(group, version, &kind, obj)
}

/// `SetDefaults_ResourceList` (round up to milli-units) runs for every `ResourceList` of the
/// core, apps, batch and storage groups' kinds (their generated defaulters); node.k8s.io's
/// RuntimeClass overhead is not rounded.
fn rounds_resource_lists(group: &str) -> bool {
    matches!(group, "" | "apps" | "batch" | "storage.k8s.io")
}

/// The Go type name of a definition (`io.k8s.api.core.v1.PodSpec` → `PodSpec`).
fn short(def: &str) -> &str {
    def.rsplit('.').next().unwrap_or(def)
}

struct Walk<'a> {
    s: &'a Schemas,
    round_lists: bool,
    /// The first deferred error (Go's `saveError`).
    saved: Option<String>,
    /// JSON field names from the root (Go's error context `FieldStack`).
    path: Vec<&'a str>,
    /// The innermost Go struct being decoded.
    strukt: &'a str,
}

impl<'a> Walk<'a> {
    fn type_error(&self, v: &Value, go_type: &str) -> String {
        format!(
            "json: cannot unmarshal {} into Go struct field {}.{} of type {go_type}",
            crate::util::json::go_json_type(v),
            self.strukt,
            self.path.join(".")
        )
    }

    fn node(&mut self, node: &'a Node, v: &mut Value) -> Result<(), String> {
        if node.ty == Ty::String && node.format == "byte" {
            self.bytes(v);
            return Ok(());
        }
        match v {
            Value::Object(m) if node.ty == Ty::Object => {
                if !node.fields.is_empty() {
                    for (k, fv) in m.iter_mut() {
                        if let Some((name, r)) = node.fields.get_key_value(k.as_str()) {
                            self.path.push(name);
                            self.field(r, fv, false)?;
                            self.path.pop();
                        }
                    }
                } else if let Some(r) = node.additional.as_deref() {
                    let list = self.round_lists && matches!(r, TypeRef::Named(n) if n == QUANTITY);
                    for fv in m.values_mut() {
                        self.field(r, fv, list)?;
                    }
                }
            }
            Value::Array(items) if node.ty == Ty::Array => {
                if let Some(r) = node.items.as_deref() {
                    for item in items {
                        self.field(r, item, false)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A value whose schema is `r`; `resource_list` when it is a `ResourceList` entry.
    fn field(&mut self, r: &'a TypeRef, v: &mut Value, resource_list: bool) -> Result<(), String> {
        match r {
            TypeRef::Named(n) if n == TIME => self.time(v, Precision::Seconds),
            TypeRef::Named(n) if n == MICRO_TIME => self.time(v, Precision::Micros),
            TypeRef::Named(n) if n == QUANTITY => self.quantity(v, resource_list),
            TypeRef::Named(n) => {
                let Some(node) = self.s.def(n) else {
                    return Ok(());
                };
                self.within(short(n), node, v)
            }
            TypeRef::Inline(node) => match node.copy_of.as_deref() {
                Some(n) => self.within(short(n), node, v),
                None => self.node(node, v),
            },
        }
    }

    fn within(&mut self, strukt: &'a str, node: &'a Node, v: &mut Value) -> Result<(), String> {
        let outer = std::mem::replace(&mut self.strukt, strukt);
        let r = self.node(node, v);
        self.strukt = outer;
        r
    }

    fn time(&mut self, v: &mut Value, p: Precision) -> Result<(), String> {
        match v {
            Value::Null => Ok(()),
            Value::String(s) => {
                *v = time::canonical(s, p)?.map_or(Value::Null, Value::String);
                Ok(())
            }
            other => Err(self.type_error(other, "string")),
        }
    }

    fn quantity(&mut self, v: &mut Value, resource_list: bool) -> Result<(), String> {
        // Go hands the raw JSON to `UnmarshalJSON`: a number is parsed by its text, `null` is
        // zero (kept as `null` where a pointer field leaves it unset).
        let text = match &*v {
            Value::Null if resource_list => "0".to_string(),
            Value::Null => return Ok(()),
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        let mut q = quantity::Quantity::parse(&text)?;
        if resource_list {
            q.round_up_to_milli();
        }
        *v = Value::String(q.text());
        Ok(())
    }

    fn bytes(&mut self, v: &mut Value) {
        let result = match &*v {
            Value::Null => return,
            Value::String(s) => bytes::canonical(s),
            // Go decodes a JSON array of numbers into a []byte element by element.
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_u64().filter(|n| *n <= 255).map(|n| n as u8))
                .collect::<Option<Vec<u8>>>()
                .map(|b| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(b)
                })
                .ok_or_else(|| self.type_error(&Value::Array(Vec::new()), "[]uint8")),
            other => Err(self.type_error(other, "[]uint8")),
        };
        match result {
            Ok(s) => *v = Value::String(s),
            Err(e) => {
                self.saved.get_or_insert(e);
            }
        }
    }
}

#[cfg(test)]
mod tests;
