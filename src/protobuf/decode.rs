//! Protobuf → the JSON value the Go decoder would then marshal.
//!
//! Presence follows what the Go decoder would then marshal to JSON: absent fields are omitted,
//! present zero values are kept (`replicas: 0`) except on Go value fields tagged `omitempty` (the
//! Go marshaller writes those unconditionally, so zero means unset), a zero `Time` is omitted, and
//! fields embedded in Go (`Volume.volumeSource`) are merged into their parent object.

use super::wire::{read_varint, Wire, WireVal};
use super::{message_for, table, Field, Label, Scalar, MAGIC};
use base64::Engine;
use serde_json::{Map, Value};

const MAX_DEPTH: usize = 64;

/// The parts of a `k8s\0` + `runtime.Unknown` envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    /// The object's own message.
    pub raw: &'a [u8],
    pub content_encoding: &'a str,
    pub content_type: &'a str,
}

fn str_of(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|_| "invalid UTF-8 in protobuf string field".to_string())
}

/// Split an envelope into its parts (no decoding of the object).
pub fn unwrap_envelope(body: &[u8]) -> Result<Envelope<'_>, String> {
    let Some(rest) = body.strip_prefix(MAGIC) else {
        return Err("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]".into());
    };
    let mut env = Envelope {
        api_version: "",
        kind: "",
        raw: &[],
        content_encoding: "",
        content_type: "",
    };
    for item in Wire::new(rest) {
        match item? {
            (1, WireVal::Len(tm)) => {
                for item in Wire::new(tm) {
                    match item? {
                        (1, WireVal::Len(b)) => env.api_version = str_of(b)?,
                        (2, WireVal::Len(b)) => env.kind = str_of(b)?,
                        _ => {}
                    }
                }
            }
            (2, WireVal::Len(b)) => env.raw = b,
            (3, WireVal::Len(b)) => env.content_encoding = str_of(b)?,
            (4, WireVal::Len(b)) => env.content_type = str_of(b)?,
            _ => {}
        }
    }
    Ok(env)
}

/// Decode `k8s\0`-enveloped bytes into the JSON object they stand for (apiVersion and kind first).
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let env = unwrap_envelope(body)?;
    if !env.content_encoding.is_empty() {
        return Err(format!(
            "unsupported protobuf content encoding {:?}",
            env.content_encoding
        ));
    }
    if env.kind.is_empty() {
        return Err("Object 'Kind' is missing in protobuf data".into());
    }
    let msg = message_for(env.api_version, env.kind).ok_or_else(|| {
        format!(
            "no kind \"{}\" is registered for version \"{}\"",
            env.kind, env.api_version
        )
    })?;
    let obj = decode_message(msg, env.raw, 0)?;
    let mut out = Map::new();
    // Go's TypeMeta omits an empty apiVersion (`/api`'s APIVersions has none).
    if !env.api_version.is_empty() {
        out.insert("apiVersion".into(), Value::String(env.api_version.to_string()));
    }
    out.insert("kind".into(), Value::String(env.kind.to_string()));
    if let Value::Object(o) = obj {
        for (k, v) in o {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
    }
    Ok(Value::Object(out))
}

thread_local! {
    /// Set while decoding a stored object: unset slices, maps and pointers without omitempty
    /// become JSON null, as kube-apiserver serves them.
    static NULLS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// [`decode`] of a stored object, with the JSON nulls kube-apiserver's Go types marshal for
/// unset fields (`status.currentMetrics: null`), so both servers serve the same JSON. Request
/// bodies use [`decode`], where absent stays absent.
pub fn decode_stored(body: &[u8]) -> Result<Value, String> {
    NULLS.with(|n| n.set(true));
    let out = decode(body);
    NULLS.with(|n| n.set(false));
    out
}

/// Decode one message (no envelope) of the named type.
pub fn decode_message_json(msg: &str, raw: &[u8]) -> Result<Value, String> {
    decode_message(msg, raw, 0)
}

fn utf8(b: &[u8]) -> Result<String, String> {
    str_of(b).map(str::to_string)
}

fn scalar_value(ty: Scalar, v: WireVal<'_>) -> Result<Value, String> {
    Ok(match (ty, v) {
        (Scalar::String, WireVal::Len(b)) => Value::String(utf8(b)?),
        (Scalar::Bytes, WireVal::Len(b)) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        (Scalar::Int32, WireVal::Varint(n)) => Value::from(n as i64 as i32),
        (Scalar::Int64, WireVal::Varint(n)) => Value::from(n as i64),
        (Scalar::Bool, WireVal::Varint(n)) => Value::Bool(n != 0),
        (Scalar::Double, WireVal::Fixed64(n)) => {
            // Go's JSON writes an integral float64 without a fraction (`1`, not `1.0`).
            let x = f64::from_bits(n);
            if x.fract() == 0.0 && x.abs() < 1e15 {
                Value::from(x as i64)
            } else {
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
        }
        (ty, v) => return Err(format!("protobuf wire type mismatch: {ty:?} field got {v:?}")),
    })
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Null => true,
        _ => false,
    }
}

/// A field's value: a scalar, or a decoded message.
fn field_value(f: &Field, v: WireVal<'_>, depth: usize) -> Result<Value, String> {
    match (f.ty, &f.msg) {
        (Scalar::Message, Some(m)) => match v {
            WireVal::Len(b) => decode_message(m, b, depth + 1),
            v => Err(format!("protobuf wire type mismatch: message field got {v:?}")),
        },
        (Scalar::Message, None) => Err("protobuf table: message field without a type".into()),
        (ty, _) => scalar_value(ty, v),
    }
}

/// Packed repeated scalars (`[packed]` varints) as well as one-per-entry encoding.
fn push_repeated(f: &Field, v: WireVal<'_>, out: &mut Vec<Value>, depth: usize) -> Result<(), String> {
    if let (Scalar::Int32 | Scalar::Int64 | Scalar::Bool, WireVal::Len(b)) = (f.ty, v) {
        let mut rest = b;
        while !rest.is_empty() {
            out.push(scalar_value(f.ty, WireVal::Varint(read_varint(&mut rest)?))?);
        }
        return Ok(());
    }
    if let (Scalar::Double, WireVal::Len(b)) = (f.ty, v) {
        for c in b.chunks(8) {
            let mut a = [0u8; 8];
            if c.len() != 8 {
                return Err("unexpected end of protobuf data".into());
            }
            a.copy_from_slice(c);
            out.push(scalar_value(f.ty, WireVal::Fixed64(u64::from_le_bytes(a)))?);
        }
        return Ok(());
    }
    out.push(field_value(f, v, depth)?);
    Ok(())
}

fn map_entry(f: &Field, v: WireVal<'_>, depth: usize) -> Result<(String, Value), String> {
    let WireVal::Len(b) = v else {
        return Err("protobuf wire type mismatch: map entry".into());
    };
    let mut key = String::new();
    let mut val = None;
    for item in Wire::new(b) {
        match item? {
            (1, WireVal::Len(k)) => key = utf8(k)?,
            (2, v) => val = Some(field_value(f, v, depth)?),
            _ => {}
        }
    }
    let val = match val {
        Some(v) => v,
        None => match f.ty {
            Scalar::Message => match &f.msg {
                Some(m) => decode_message(m, &[], depth + 1)?,
                None => Value::Null,
            },
            Scalar::String | Scalar::Bytes => Value::String(String::new()),
            Scalar::Bool => Value::Bool(false),
            _ => Value::from(0),
        },
    };
    Ok((key, val))
}

/// Scalar fields of a small message by tag (for the special types).
fn fields_of(buf: &[u8]) -> Result<Vec<(u64, WireVal<'_>)>, String> {
    Wire::new(buf).collect()
}

fn varint_of(fs: &[(u64, WireVal<'_>)], tag: u64) -> Option<u64> {
    fs.iter().rev().find_map(|(t, v)| match v {
        WireVal::Varint(n) if *t == tag => Some(*n),
        _ => None,
    })
}

fn bytes_of<'a>(fs: &[(u64, WireVal<'a>)], tag: u64) -> Option<&'a [u8]> {
    fs.iter().rev().find_map(|(t, v)| match v {
        WireVal::Len(b) if *t == tag => Some(*b),
        _ => None,
    })
}

/// Embedded JSON (`RawExtension`, `FieldsV1`, apiextensions `JSON`); a nested protobuf object
/// (`k8s\0…`) is decoded too.
fn raw_json(raw: &[u8]) -> Result<Value, String> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(MAGIC) {
        return decode(raw);
    }
    serde_json::from_slice(raw).map_err(|e| format!("error decoding embedded JSON: {e}"))
}

fn decode_message(msg: &str, buf: &[u8], depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("protobuf message nested too deeply".into());
    }
    let short = msg.rsplit('.').next().unwrap_or(msg);
    match msg {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => {
            // Go's zero time is an empty message; {0, 0} is the Unix epoch.
            if buf.is_empty() {
                return Ok(Value::Null);
            }
            let fs = fields_of(buf)?;
            let secs = varint_of(&fs, 1).unwrap_or(0) as i64;
            let nanos = varint_of(&fs, 2).unwrap_or(0) as i64 as i32;
            return Ok(Value::String(format_time(secs, nanos, short == "MicroTime")?));
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.Duration" => {
            let fs = fields_of(buf)?;
            return Ok(Value::String(crate::util::go_duration(
                varint_of(&fs, 1).unwrap_or(0) as i64
            )));
        }
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            let fs = fields_of(buf)?;
            return Ok(if varint_of(&fs, 1).unwrap_or(0) == 1 {
                Value::String(utf8(bytes_of(&fs, 3).unwrap_or_default())?)
            } else {
                Value::from(varint_of(&fs, 2).unwrap_or(0) as i64 as i32)
            });
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            let fs = fields_of(buf)?;
            return Ok(Value::String(utf8(bytes_of(&fs, 1).unwrap_or_default())?));
        }
        "io.k8s.apimachinery.pkg.runtime.RawExtension"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON" => {
            let fs = fields_of(buf)?;
            return raw_json(bytes_of(&fs, 1).unwrap_or_default());
        }
        _ => {}
    }
    let fields = table()
        .msgs
        .get(msg)
        .ok_or_else(|| format!("no protobuf description of {msg}"))?;
    // Collect values per field first (repeated fields and maps span several entries).
    let mut vals: Vec<Option<Value>> = fields.iter().map(|_| None).collect();
    for item in Wire::new(buf) {
        let (tag, v) = item?;
        let Some(i) = fields.iter().position(|f| f.tag == tag) else {
            continue;
        };
        let f = &fields[i];
        match f.label {
            Label::Optional => {
                let new = field_value(f, v, depth)?;
                // Repeated occurrences of a message field merge (proto semantics).
                match (&mut vals[i], new) {
                    (Some(Value::Object(old)), Value::Object(n)) => old.extend(n),
                    (slot, new) => *slot = Some(new),
                }
            }
            Label::Repeated => {
                let slot = vals[i].get_or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = slot {
                    push_repeated(f, v, a, depth)?;
                }
            }
            Label::Map => {
                let (k, val) = map_entry(f, v, depth)?;
                let slot = vals[i].get_or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = slot {
                    o.insert(k, val);
                }
            }
        }
    }
    // Types whose JSON form is not an object.
    if short == "ExtraValue" || short == "Verbs" {
        return Ok(vals.into_iter().flatten().next().unwrap_or(Value::Array(Vec::new())));
    }
    if let Some(v) = json_schema_union(short, msg, fields, &vals) {
        return Ok(v);
    }
    let mut out = Map::new();
    let nulls = NULLS.with(|n| n.get());
    for (f, v) in fields.iter().zip(vals) {
        let Some(v) = v else {
            if nulls && f.json_null && !f.inline {
                out.insert(f.json.clone(), Value::Null);
            }
            continue;
        };
        // A zero `Time` or nil `RawExtension` in a Go value field marshals as JSON null
        // (`template.metadata.creationTimestamp: null`); behind a nil pointer it is omitted.
        if v.is_null() && (f.ptr || f.label != Label::Optional || !null_in_json(f.msg)) {
            continue;
        }
        if f.omitempty && is_zero(&v) {
            continue;
        }
        if f.inline {
            if let Value::Object(o) = v {
                out.extend(o);
            }
            continue;
        }
        out.insert(f.json.clone(), v);
    }
    Ok(Value::Object(out))
}

fn null_in_json(msg: Option<&str>) -> bool {
    matches!(
        msg,
        Some(
            "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
                | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
                | "io.k8s.apimachinery.pkg.runtime.RawExtension"
        )
    )
}

/// apiextensions' `JSONSchemaPropsOrArray`/`OrBool`/`OrStringArray`: a schema, or the other form.
fn json_schema_union(short: &str, msg: &str, fields: &[Field], vals: &[Option<Value>]) -> Option<Value> {
    if !msg.starts_with("io.k8s.apiextensions-apiserver.") {
        return None;
    }
    let by_tag = |t: u64| fields.iter().position(|f| f.tag == t).and_then(|i| vals[i].clone());
    match short {
        "JSONSchemaPropsOrArray" => Some(by_tag(1).or_else(|| by_tag(2)).unwrap_or(Value::Array(Vec::new()))),
        "JSONSchemaPropsOrBool" => Some(by_tag(2).or_else(|| by_tag(1)).unwrap_or(Value::Bool(false))),
        "JSONSchemaPropsOrStringArray" => Some(by_tag(1).or_else(|| by_tag(2)).unwrap_or(Value::Array(Vec::new()))),
        _ => None,
    }
}

/// RFC 3339 in UTC, second precision (`metav1.Time`) or microseconds (`metav1.MicroTime`).
pub(crate) fn format_time(secs: i64, nanos: i32, micros: bool) -> Result<String, String> {
    // Go's time range for RFC 3339: years 0000-9999.
    if !(-62_135_596_800..=253_402_300_799).contains(&secs) {
        return Err(format!("timestamp out of range: {secs}"));
    }
    Ok(crate::util::time::format_utc(
        secs,
        nanos.clamp(0, 999_999_999) as u32,
        micros,
    ))
}
