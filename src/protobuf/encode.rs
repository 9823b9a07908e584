//! JSON value → protobuf, byte for byte what gogo's generated `Marshal` writes in kube-apiserver:
//! fields in ascending number; every non-pointer singular field written even when zero (an
//! absent JSON property is Go's zero value: `""`, `0`, an empty message); pointer fields, and
//! repeated and map fields, only when set; map entries in key order (Go `sortkeys`).

use super::wire::{put_bytes, put_key, put_nested, put_varint};
use super::{message_for, table, Field, Label, Scalar, MAGIC};
use crate::util::json::JsonExt;
use base64::Engine;
use serde_json::{Map, Value};

const MAX_DEPTH: usize = 64;
const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

type Res = Result<(), String>;

/// `k8s\0` + `runtime.Unknown{typeMeta, raw, contentEncoding: "", contentType: ""}`.
pub fn encode_envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + api_version.len() + kind.len() + 16);
    out.extend_from_slice(MAGIC);
    let _ = put_nested::<()>(&mut out, 1, |o| {
        put_bytes(o, 1, api_version.as_bytes());
        put_bytes(o, 2, kind.as_bytes());
        Ok(())
    });
    put_bytes(&mut out, 2, raw);
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    out
}

/// An object (with `apiVersion` and `kind`) in its envelope.
pub fn encode(obj: &Value) -> Result<Vec<u8>, String> {
    let av = obj.str_of("apiVersion");
    let kind = obj.str_of("kind");
    let msg = message_for(av, kind).ok_or_else(|| format!("no protobuf encoding for {kind} in version {av:?}"))?;
    Ok(encode_envelope(av, kind, &encode_message(msg, obj)?))
}

/// One message (no envelope) of the named type from its JSON form.
pub fn encode_message(msg: &str, v: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(256);
    body(msg, Some(v), &mut out, 0)?;
    Ok(out)
}

/// A `<Kind>List` in its envelope: {1 ListMeta from `meta`, 2 each item's own message}, the
/// items already encoded (a list is assembled from per-object cached encodings).
pub fn encode_list<T: AsRef<[u8]>>(
    api_version: &str,
    list_kind: &str,
    meta: &Value,
    items: &[T],
) -> Result<Vec<u8>, String> {
    let items_len: usize = items.iter().map(|i| i.as_ref().len() + 6).sum();
    let mut raw = Vec::with_capacity(items_len + 64);
    put_nested(&mut raw, 1, |o| body(&format!("{META}ListMeta"), Some(meta), o, 0))?;
    for item in items {
        put_bytes(&mut raw, 2, item.as_ref());
    }
    Ok(encode_envelope(api_version, list_kind, &raw))
}

/// A `metav1.WatchEvent` message (no envelope): {1 type, 2 RawExtension{1 the object's envelope}}.
pub fn watch_event(ty: &str, object: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(object.len() + ty.len() + 12);
    put_bytes(&mut out, 1, ty.as_bytes());
    let _ = put_nested::<()>(&mut out, 2, |o| {
        put_bytes(o, 1, object);
        Ok(())
    });
    out
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// The body of message `msg` from its JSON form (`None`: Go's zero value).
fn body(msg: &str, v: Option<&Value>, out: &mut Vec<u8>, depth: usize) -> Res {
    if depth > MAX_DEPTH {
        return Err("object nested too deeply for protobuf".into());
    }
    let v = present(v);
    if let Some(short) = msg.strip_prefix(META) {
        match short {
            "Time" | "MicroTime" => {
                if let Some(v) = v {
                    let s = v
                        .as_str()
                        .ok_or_else(|| format!("{short}: expected a string, got {v}"))?;
                    let (secs, nanos) = parse_time(s).ok_or_else(|| format!("{short}: cannot parse {s:?}"))?;
                    let nanos = if short == "Time" { nanos } else { nanos / 1000 * 1000 };
                    // Go's zero time marshals as an empty message.
                    if secs != ZERO_TIME || nanos != 0 {
                        put_key(out, 1, 0);
                        put_varint(out, secs as u64);
                        put_key(out, 2, 0);
                        put_varint(out, i64::from(nanos) as u64);
                    }
                }
                return Ok(());
            }
            "Duration" => {
                let ns = match v {
                    None => 0,
                    Some(Value::String(s)) => {
                        parse_duration(s).ok_or_else(|| format!("Duration: cannot parse {s:?}"))?
                    }
                    Some(v) => return Err(format!("Duration: expected a string, got {v}")),
                };
                put_key(out, 1, 0);
                put_varint(out, ns as u64);
                return Ok(());
            }
            "FieldsV1" => return raw_json(v, out),
            "Verbs" => return string_items(msg, v, out),
            _ => {}
        }
    }
    match msg {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            let (ty, i, s) = match v {
                None => (0, 0, ""),
                Some(Value::String(s)) => (1, 0, s.as_str()),
                Some(Value::Number(n)) => (
                    0,
                    n.as_i64()
                        .ok_or_else(|| format!("IntOrString: {n} is not an integer"))?,
                    "",
                ),
                Some(v) => return Err(format!("IntOrString: expected a string or an integer, got {v}")),
            };
            put_key(out, 1, 0);
            put_varint(out, ty);
            put_key(out, 2, 0);
            put_varint(out, i as i32 as i64 as u64);
            put_bytes(out, 3, s.as_bytes());
            return Ok(());
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            let s = match v {
                None => "0".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(v) => return Err(format!("Quantity: expected a string, got {v}")),
            };
            put_bytes(out, 1, s.as_bytes());
            return Ok(());
        }
        "io.k8s.apimachinery.pkg.runtime.RawExtension"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON"
        | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSON" => return raw_json(v, out),
        _ => {}
    }
    let short = msg.rsplit('.').next().unwrap_or(msg);
    if short == "ExtraValue" {
        return string_items(msg, v, out);
    }
    if msg.starts_with("io.k8s.apiextensions-apiserver.") && short.starts_with("JSONSchemaPropsOr") {
        return schema_union(msg, short, v, out, depth);
    }
    let fields = table()
        .msgs
        .get(msg)
        .ok_or_else(|| format!("no protobuf description of {msg}"))?;
    let empty = Map::new();
    let obj = match v {
        None => &empty,
        Some(Value::Object(o)) => o,
        Some(v) => return Err(format!("{short}: expected an object, got {v}")),
    };
    fields_of(fields, obj, out, depth)
}

fn fields_of(fields: &[Field], obj: &Map<String, Value>, out: &mut Vec<u8>, depth: usize) -> Res {
    for f in fields {
        if f.inline {
            let m = f.msg.ok_or("protobuf table: inline field without a type")?;
            let fs = table()
                .msgs
                .get(m)
                .ok_or_else(|| format!("no protobuf description of {m}"))?;
            put_nested(out, f.tag, |o| fields_of(fs, obj, o, depth + 1))?;
            continue;
        }
        let v = present(obj.get(&f.json));
        match f.label {
            Label::Repeated => {
                let Some(v) = v else { continue };
                let a = v
                    .as_array()
                    .ok_or_else(|| format!("{}: expected an array, got {v}", f.json))?;
                for e in a {
                    single(f, Some(e), out, depth)?;
                }
            }
            Label::Map => {
                let Some(v) = v else { continue };
                let m = v
                    .as_object()
                    .ok_or_else(|| format!("{}: expected an object, got {v}", f.json))?;
                // serde_json's map is ordered by key: Go's sortkeys order (bytewise).
                for (k, e) in m {
                    put_nested(out, f.tag, |o| {
                        put_bytes(o, 1, k.as_bytes());
                        single_tagged(f, 2, Some(e), o, depth)
                    })?;
                }
            }
            Label::Optional => {
                if v.is_none() && f.ptr {
                    continue;
                }
                single(f, v, out, depth)?;
            }
        }
    }
    Ok(())
}

fn single(f: &Field, v: Option<&Value>, out: &mut Vec<u8>, depth: usize) -> Res {
    single_tagged(f, f.tag, v, out, depth)
}

/// One value of field `f` under number `tag` (a map entry's value is field 2).
fn single_tagged(f: &Field, tag: u64, v: Option<&Value>, out: &mut Vec<u8>, depth: usize) -> Res {
    let v = present(v);
    let name = &f.json;
    match f.ty {
        Scalar::Message => {
            let m = f.msg.ok_or("protobuf table: message field without a type")?;
            put_nested(out, tag, |o| body(m, v, o, depth + 1))
        }
        Scalar::String => {
            let s = match v {
                None => "",
                Some(Value::String(s)) => s,
                Some(v) => return Err(format!("{name}: expected a string, got {v}")),
            };
            put_bytes(out, tag, s.as_bytes());
            Ok(())
        }
        Scalar::Bytes => {
            let b = match v {
                None => Vec::new(),
                Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| format!("{name}: illegal base64 data: {e}"))?,
                Some(v) => return Err(format!("{name}: expected a base64 string, got {v}")),
            };
            put_bytes(out, tag, &b);
            Ok(())
        }
        Scalar::Int32 | Scalar::Int64 => {
            let n = match v {
                None => 0,
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(i) => i,
                    None => n
                        .as_f64()
                        .filter(|x| x.fract() == 0.0)
                        .map(|x| x as i64)
                        .ok_or_else(|| format!("{name}: {n} is not an integer"))?,
                },
                Some(v) => return Err(format!("{name}: expected an integer, got {v}")),
            };
            let n = if f.ty == Scalar::Int32 { i64::from(n as i32) } else { n };
            put_key(out, tag, 0);
            put_varint(out, n as u64);
            Ok(())
        }
        Scalar::Bool => {
            let b = match v {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => return Err(format!("{name}: expected a boolean, got {v}")),
            };
            put_key(out, tag, 0);
            put_varint(out, u64::from(b));
            Ok(())
        }
        Scalar::Double => {
            let x = match v {
                None => 0.0,
                Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
                Some(v) => return Err(format!("{name}: expected a number, got {v}")),
            };
            put_key(out, tag, 1);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
            Ok(())
        }
    }
}

/// `RawExtension`, `FieldsV1`, apiextensions `JSON`: {1 raw bytes} holding compact JSON (absent
/// when Go's `Raw` is nil).
fn raw_json(v: Option<&Value>, out: &mut Vec<u8>) -> Res {
    if let Some(v) = v {
        let b = serde_json::to_vec(v).map_err(|e| e.to_string())?;
        put_bytes(out, 1, &b);
    }
    Ok(())
}

/// `ExtraValue`, `Verbs`: a string list, {1 repeated string}.
fn string_items(msg: &str, v: Option<&Value>, out: &mut Vec<u8>) -> Res {
    let Some(v) = v else { return Ok(()) };
    let a = v
        .as_array()
        .ok_or_else(|| format!("{msg}: expected an array, got {v}"))?;
    for e in a {
        let s = e.as_str().ok_or_else(|| format!("{msg}: expected strings, got {e}"))?;
        put_bytes(out, 1, s.as_bytes());
    }
    Ok(())
}

/// apiextensions' `JSONSchemaPropsOrArray`/`OrBool`/`OrStringArray`: Go unmarshals an object
/// into `Schema` (and `Allows: true`), the other JSON form into the other field.
fn schema_union(msg: &str, short: &str, v: Option<&Value>, out: &mut Vec<u8>, depth: usize) -> Res {
    let props = msg.replace(short, "JSONSchemaProps");
    let schema = |o: &mut Vec<u8>, tag: u64, v: &Value| put_nested(o, tag, |o| body(&props, Some(v), o, depth + 1));
    match (short, v) {
        (_, None) => {
            if short == "JSONSchemaPropsOrBool" {
                put_key(out, 1, 0);
                put_varint(out, 0);
            }
            Ok(())
        }
        ("JSONSchemaPropsOrBool", Some(Value::Bool(b))) => {
            put_key(out, 1, 0);
            put_varint(out, u64::from(*b));
            Ok(())
        }
        ("JSONSchemaPropsOrBool", Some(v @ Value::Object(_))) => {
            put_key(out, 1, 0);
            put_varint(out, 1);
            schema(out, 2, v)
        }
        ("JSONSchemaPropsOrArray", Some(Value::Array(a))) => {
            for e in a {
                schema(out, 2, e)?;
            }
            Ok(())
        }
        ("JSONSchemaPropsOrStringArray", Some(Value::Array(a))) => string_items_tagged(a, 2, out),
        (_, Some(v @ Value::Object(_))) => schema(out, 1, v),
        (_, Some(v)) => Err(format!("{short}: unexpected {v}")),
    }
}

fn string_items_tagged(a: &[Value], tag: u64, out: &mut Vec<u8>) -> Res {
    for e in a {
        let s = e.as_str().ok_or_else(|| format!("expected strings, got {e}"))?;
        put_bytes(out, tag, s.as_bytes());
    }
    Ok(())
}

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z).
const ZERO_TIME: i64 = -62_135_596_800;

/// Days from civil date (proleptic Gregorian) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 (`2006-01-02T15:04:05.999999999Z07:00`) → (unix seconds, nanoseconds).
pub(crate) fn parse_time(s: &str) -> Option<(i64, i32)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset, nanos as i32))
}

/// Go's `time.ParseDuration` ("1h2m3.5s", "500ms", "-2µs") → nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let x: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += x * unit;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}
