//! OpenAPI schemas as CEL types (upstream `apiserver/pkg/cel/common.SchemaDeclType` and
//! `DeclType`): objects become struct types named by their path (`selfType1.spec`), lists and
//! maps carry the most elements a request can hold (`maxItems`/`maxProperties`/`maxLength`,
//! else estimated from the 3 MiB request limit and the smallest serialized element) for cost
//! estimation, and the value semantics a schema gives (`format`, list types, int-or-string).

use super::types::{self, Fields, StructType, Type};
use crate::util::json::JsonExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Upstream `MaxRequestSizeBytes`.
pub const MAX_REQUEST_SIZE_BYTES: i64 = 3 * 1024 * 1024;
const MIN_STRING_SIZE: i64 = 2;
const MIN_BOOL_SIZE: i64 = 4;
const MIN_NUMBER_SIZE: i64 = 1;
const MIN_DURATION_SIZE_JSON: i64 = 3;
const JSON_DATE_SIZE: i64 = 12;
const MIN_DATETIME_SIZE_JSON: i64 = 21;
const MAX_DURATION_SIZE_JSON: i64 = 32;
const MAX_DATETIME_SIZE_JSON: i64 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Atomic,
    Set,
    Map,
}

#[derive(Debug, Clone)]
pub enum DeclKind {
    Object,
    List,
    Map,
    /// A scalar CEL type (int, string, timestamp…) or dyn (int-or-string).
    Scalar(Type),
}

#[derive(Debug, Clone)]
pub struct DeclField {
    pub ty: Arc<DeclType>,
    pub required: bool,
    /// The property's JSON name (the map key is its CEL-escaped form).
    pub json_name: String,
}

#[derive(Debug, Clone)]
pub struct DeclType {
    pub kind: DeclKind,
    /// Struct name for objects (`selfType1.spec`), else the kind's name.
    pub name: String,
    pub fields: BTreeMap<String, DeclField>,
    pub elem: Option<Arc<DeclType>>,
    pub max_elements: i64,
    pub min_serialized_size: i64,
    /// String `format` (byte, date, date-time, duration) — decides the value's CEL type.
    pub format: String,
    pub list_kind: ListKind,
    pub map_keys: Vec<String>,
}

impl DeclType {
    fn new(kind: DeclKind, name: &str) -> DeclType {
        DeclType {
            kind,
            name: name.into(),
            fields: BTreeMap::new(),
            elem: None,
            max_elements: 0,
            min_serialized_size: 2,
            format: String::new(),
            list_kind: ListKind::Atomic,
            map_keys: Vec::new(),
        }
    }

    pub fn scalar(t: Type, min_size: i64, max_elements: i64) -> DeclType {
        let mut d = DeclType::new(DeclKind::Scalar(t.clone()), t.name());
        d.min_serialized_size = min_size;
        d.max_elements = max_elements;
        d
    }

    pub fn list(elem: Arc<DeclType>, max_items: i64) -> DeclType {
        let mut d = DeclType::new(DeclKind::List, "list");
        d.elem = Some(elem);
        d.max_elements = max_items;
        d
    }

    pub fn map(elem: Arc<DeclType>, max_properties: i64) -> DeclType {
        let mut d = DeclType::new(DeclKind::Map, "map");
        d.elem = Some(elem);
        d.max_elements = max_properties;
        d
    }

    pub fn object(name: &str, fields: BTreeMap<String, DeclField>, min_size: i64) -> DeclType {
        let mut d = DeclType::new(DeclKind::Object, name);
        d.fields = fields;
        d.min_serialized_size = min_size;
        d
    }

    pub fn is_object(&self) -> bool {
        matches!(self.kind, DeclKind::Object)
    }

    /// The CEL type values of this declaration have.
    pub fn cel_type(self: &Arc<Self>) -> Type {
        match &self.kind {
            DeclKind::Object => StructType::new(self.name.clone(), Fields::Decl(self.clone())),
            DeclKind::List => types::list(self.elem.as_ref().map(|e| e.cel_type()).unwrap_or(Type::Dyn)),
            DeclKind::Map => types::map(
                Type::String,
                self.elem.as_ref().map(|e| e.cel_type()).unwrap_or(Type::Dyn),
            ),
            DeclKind::Scalar(t) => t.clone(),
        }
    }

    /// The declaration of property `json` (its JSON name) of an object.
    pub fn property(&self, json: &str) -> Option<&Arc<DeclType>> {
        match escape(json) {
            Some(e) => self.fields.get(&e).map(|f| &f.ty),
            None => None,
        }
    }
}

/// Where `$ref`s of built-in schemas point (`#/definitions/…` or `#/components/schemas/…`).
pub type Resolver<'a> = &'a dyn Fn(&str) -> Option<&'a Value>;

/// Upstream `SchemaDeclType(s, isResourceRoot).MaybeAssignTypeName(name)` for an OpenAPI v3
/// schema in JSON. None when the schema has no CEL type (an array without items…).
pub fn from_openapi(
    s: &Value,
    resource_root: bool,
    name: &str,
    resolve: Option<Resolver<'_>>,
) -> Option<Arc<DeclType>> {
    build(s, resource_root, name, resolve, 0).map(Arc::new)
}

fn flag(s: &Value, k: &str) -> bool {
    s.get(k).and_then(Value::as_bool) == Some(true)
}

fn int(s: &Value, k: &str) -> Option<i64> {
    s.get(k).and_then(Value::as_i64)
}

fn deref<'a, 'r: 'a>(s: &'a Value, resolve: Option<Resolver<'r>>) -> &'a Value {
    let mut cur = s;
    for _ in 0..8 {
        let r = cur
            .get("$ref")
            .or_else(|| cur.get("allOf").and_then(|a| a.get(0)).and_then(|a| a.get("$ref")))
            .and_then(Value::as_str);
        match (r, resolve) {
            (Some(r), Some(f)) => match f(r) {
                Some(t) => cur = t,
                None => return cur,
            },
            _ => return cur,
        }
    }
    cur
}

fn schema_type(s: &Value) -> &str {
    match s.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(a)) => a.iter().find_map(Value::as_str).unwrap_or(""),
        _ => "",
    }
}

fn build<'r>(s: &Value, root: bool, name: &str, resolve: Option<Resolver<'r>>, depth: usize) -> Option<DeclType> {
    let s = deref(s, resolve);
    if depth > 48 {
        return Some(DeclType::scalar(Type::Dyn, 1, MAX_REQUEST_SIZE_BYTES - 2));
    }
    // Built-in kinds say int-or-string with the format, CRDs with the extension (upstream
    // `isXIntOrString` checks both).
    if flag(s, "x-kubernetes-int-or-string") || s.get("format").and_then(Value::as_str) == Some("int-or-string") {
        return Some(DeclType::scalar(Type::Dyn, 1, MAX_REQUEST_SIZE_BYTES - 2));
    }
    let ty = schema_type(s);
    let ty = if ty.is_empty() && (root || s.get("properties").is_some()) {
        "object"
    } else {
        ty
    };
    match ty {
        "array" => {
            let items = s.get("items")?;
            let is = deref(items, resolve);
            let elem = build(
                is,
                flag(is, "x-kubernetes-embedded-resource"),
                &format!("{name}.@idx"),
                resolve,
                depth + 1,
            )?;
            let max = match int(s, "maxItems") {
                Some(m) => m.max(0),
                None => (MAX_REQUEST_SIZE_BYTES - 2) / (elem.min_serialized_size + 1),
            };
            let mut d = DeclType::list(Arc::new(elem), max);
            d.list_kind = match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListKind::Set,
                Some("map") => ListKind::Map,
                _ => ListKind::Atomic,
            };
            d.map_keys = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            Some(d)
        }
        "object" => {
            if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
                let aps = deref(ap, resolve);
                let elem = build(
                    aps,
                    flag(aps, "x-kubernetes-embedded-resource"),
                    &format!("{name}.@elem"),
                    resolve,
                    depth + 1,
                )?;
                let max = match int(s, "maxProperties") {
                    Some(m) => m.max(0),
                    None => (MAX_REQUEST_SIZE_BYTES - 2) / (elem.min_serialized_size + 6),
                };
                return Some(DeclType::map(Arc::new(elem), max));
            }
            let mut props: Vec<(String, Value)> = s
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            if root {
                with_type_and_object_meta(&mut props, resolve);
            }
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut fields = BTreeMap::new();
            let mut min_size = 2;
            for (pname, p) in &props {
                let ps = deref(p, resolve);
                let Some(esc) = escape(pname) else { continue };
                let Some(ft) = build(
                    ps,
                    flag(ps, "x-kubernetes-embedded-resource"),
                    &format!("{name}.{esc}"),
                    resolve,
                    depth + 1,
                ) else {
                    continue;
                };
                let req = required.contains(&pname.as_str());
                if req && ps.get("default").is_none() {
                    min_size += pname.len() as i64 + ft.min_serialized_size + 4;
                }
                fields.insert(
                    esc,
                    DeclField {
                        ty: Arc::new(ft),
                        required: req,
                        json_name: pname.clone(),
                    },
                );
            }
            Some(DeclType::object(name, fields, min_size))
        }
        "string" => {
            let fmt = s.str_of("format");
            let per_request = match fmt {
                "duration" => MAX_DURATION_SIZE_JSON,
                "date" => JSON_DATE_SIZE,
                "date-time" => MAX_DATETIME_SIZE_JSON,
                _ => MAX_REQUEST_SIZE_BYTES - 2,
            };
            let mut d = match fmt {
                "byte" => DeclType::scalar(
                    Type::Bytes,
                    MIN_STRING_SIZE,
                    int(s, "maxLength").map(|m| m.max(0)).unwrap_or(per_request),
                ),
                "duration" => DeclType::scalar(Type::Duration, MIN_DURATION_SIZE_JSON, per_request),
                "date" => DeclType::scalar(Type::Timestamp, JSON_DATE_SIZE, per_request),
                "date-time" => DeclType::scalar(Type::Timestamp, MIN_DATETIME_SIZE_JSON, per_request),
                _ => {
                    let max = match int(s, "maxLength") {
                        Some(m) => m.max(0) * 4,
                        None => match s.get("enum").and_then(Value::as_array) {
                            Some(e) if !e.is_empty() => e
                                .iter()
                                .filter_map(Value::as_str)
                                .map(|x| x.len() as i64)
                                .max()
                                .unwrap_or(0),
                            _ => per_request,
                        },
                    };
                    DeclType::scalar(Type::String, MIN_STRING_SIZE, max)
                }
            };
            d.format = fmt.to_string();
            Some(d)
        }
        "boolean" => Some(DeclType::scalar(Type::Bool, MIN_BOOL_SIZE, 0)),
        "number" => Some(DeclType::scalar(Type::Double, MIN_NUMBER_SIZE, 0)),
        "integer" => Some(DeclType::scalar(Type::Int, MIN_NUMBER_SIZE, 0)),
        _ => None,
    }
}

/// Upstream `WithTypeAndObjectMeta`: a resource root always has `kind`, `apiVersion` and
/// `metadata.name`/`generateName` as strings (references resolved first, as upstream inlines
/// them: a built-in kind keeps its whole ObjectMeta).
fn with_type_and_object_meta(props: &mut Vec<(String, Value)>, resolve: Option<Resolver<'_>>) {
    let has = |props: &Vec<(String, Value)>, k: &str, t: &str| {
        props.iter().any(|(n, v)| n == k && schema_type(deref(v, resolve)) == t)
    };
    let meta_ok = props.iter().any(|(n, v)| {
        let v = deref(v, resolve);
        n == "metadata"
            && schema_type(v) == "object"
            && v.pointer("/properties/name/type").and_then(Value::as_str) == Some("string")
            && v.pointer("/properties/generateName/type").and_then(Value::as_str) == Some("string")
    });
    if has(props, "kind", "string") && has(props, "apiVersion", "string") && meta_ok {
        return;
    }
    props.retain(|(n, _)| !matches!(n.as_str(), "kind" | "apiVersion" | "metadata"));
    let string = serde_json::json!({"type": "string"});
    props.push(("kind".into(), string.clone()));
    props.push(("apiVersion".into(), string.clone()));
    props.push((
        "metadata".into(),
        serde_json::json!({"type": "object", "properties": {"name": string, "generateName": string}}),
    ));
}

/// CEL's reserved words (no identifier may be one).
pub const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Upstream `cel.Escape`: a property name as a CEL identifier, None when it cannot be one.
pub fn escape(ident: &str) -> Option<String> {
    let first = ident.chars().next()?;
    if first.is_ascii_digit() {
        return None;
    }
    if RESERVED.contains(&ident) {
        return Some(format!("__{ident}__"));
    }
    let mut out = String::with_capacity(ident.len());
    let b = ident.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c == '_' && b.get(i + 1) == Some(&b'_') {
            out.push_str("__underscores__");
            i += 2;
            continue;
        }
        match c {
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
            _ => return None,
        }
        i += 1;
    }
    Some(out)
}

/// Upstream `cel.Unescape`.
pub fn unescape(escaped: &str) -> String {
    if escaped.len() > 4 && escaped.starts_with("__") && escaped.ends_with("__") {
        let inner = &escaped[2..escaped.len() - 2];
        if RESERVED.contains(&inner) {
            return inner.to_string();
        }
    }
    if !escaped.contains("__") {
        return escaped.to_string();
    }
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(pos) = rest.find("__") {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let mut matched = false;
        for (pat, rep) in [
            ("__underscores__", "__"),
            ("__dot__", "."),
            ("__dash__", "-"),
            ("__slash__", "/"),
        ] {
            if let Some(after) = tail.strip_prefix(pat) {
                out.push_str(rep);
                rest = after;
                matched = true;
                break;
            }
        }
        if !matched {
            out.push_str("__");
            rest = &tail[2..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaping_round_trips() {
        for (raw, esc) in [
            ("foo-bar", "foo__dash__bar"),
            ("a.b/c", "a__dot__b__slash__c"),
            ("x__y", "x__underscores__y"),
            ("namespace", "__namespace__"),
            ("plain_name", "plain_name"),
        ] {
            assert_eq!(escape(raw).as_deref(), Some(esc));
            assert_eq!(unescape(esc), raw);
        }
        assert_eq!(escape("1abc"), None);
        assert_eq!(escape("a b"), None);
    }

    #[test]
    fn sizes_follow_upstream() {
        let s = json!({"type": "object", "properties": {
            "names": {"type": "array", "items": {"type": "string"}},
            "short": {"type": "array", "maxItems": 4, "items": {"type": "string", "maxLength": 10}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "when": {"type": "string", "format": "date-time"},
        }});
        let d = from_openapi(&s, false, "selfType", None).unwrap();
        let names = d.property("names").unwrap();
        assert_eq!(names.max_elements, (MAX_REQUEST_SIZE_BYTES - 2) / 3);
        let short = d.property("short").unwrap();
        assert_eq!(short.max_elements, 4);
        assert_eq!(short.elem.as_ref().unwrap().max_elements, 40);
        assert_eq!(
            d.property("labels").unwrap().max_elements,
            (MAX_REQUEST_SIZE_BYTES - 2) / 8
        );
        assert_eq!(d.property("when").unwrap().cel_type().to_string(), "timestamp");
        assert_eq!(d.cel_type().to_string(), "selfType");
        assert_eq!(d.property("names").unwrap().cel_type().to_string(), "list(string)");
    }
}
