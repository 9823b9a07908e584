//! The protobuf form of a TokenRequest body (kubectl 1.32+ sends `serviceaccounts/token` as
//! protobuf; the generated field table does not cover this subresource type). Only the fields
//! the API reads are decoded: metadata name/namespace, spec audiences / expirationSeconds /
//! boundObjectRef.

use crate::util::protowire::{fields, WireValue};
use serde_json::{json, Map, Value};

const MAGIC: &[u8] = b"k8s\x00";

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in protobuf string".to_string())
}

/// Strings of a message by field number (`names[i]` = JSON name of field i+1; "" skips).
fn strings_of(b: &[u8], names: &[&str]) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        if let (Some(name), WireValue::Len(s)) = (names.get((n as usize).wrapping_sub(1)), f) {
            if !name.is_empty() {
                m.insert(name.to_string(), json!(text(s)?));
            }
        }
    }
    Ok(m)
}

/// Decode a protobuf TokenRequest body into its JSON form; None when `body` is not protobuf
/// for `authentication.k8s.io/v1` TokenRequest.
pub fn decode(body: &[u8]) -> Option<Result<Value, String>> {
    let rest = body.strip_prefix(MAGIC)?;
    let mut raw: &[u8] = &[];
    let mut type_meta = Map::new();
    for (n, f) in fields(rest).ok()? {
        match (n, f) {
            (1, WireValue::Len(tm)) => type_meta = strings_of(tm, &["apiVersion", "kind"]).ok()?,
            (2, WireValue::Len(r)) => raw = r,
            _ => {}
        }
    }
    if type_meta.get("kind") != Some(&json!("TokenRequest")) {
        return None;
    }
    Some(decode_raw(raw, type_meta))
}

fn decode_raw(raw: &[u8], type_meta: Map<String, Value>) -> Result<Value, String> {
    let mut v = Value::Object(type_meta);
    v["metadata"] = json!({});
    v["spec"] = json!({});
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, WireValue::Len(m)) => {
                // ObjectMeta: 1 name, 3 namespace.
                v["metadata"] = Value::Object(strings_of(m, &["name", "", "namespace"])?);
            }
            (2, WireValue::Len(spec)) => {
                let mut auds = Vec::new();
                for (sn, sf) in fields(spec)? {
                    match (sn, sf) {
                        (1, WireValue::Len(a)) => auds.push(json!(text(a)?)),
                        (3, WireValue::Len(r)) => {
                            v["spec"]["boundObjectRef"] =
                                Value::Object(strings_of(r, &["kind", "apiVersion", "name", "uid"])?)
                        }
                        (4, WireValue::Varint(e)) => v["spec"]["expirationSeconds"] = json!(e as i64),
                        _ => {}
                    }
                }
                if !auds.is_empty() {
                    v["spec"]["audiences"] = Value::Array(auds);
                }
            }
            _ => {}
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_kubectl_133_body() {
        // `kubectl create token bot --duration 20m` (kubectl 1.33, captured).
        let body: &[u8] = &[
            0x6b, 0x38, 0x73, 0x00, 0x0a, 0x28, 0x0a, 0x18, 0x61, 0x75, 0x74, 0x68, 0x65, 0x6e, 0x74, 0x69, 0x63, 0x61,
            0x74, 0x69, 0x6f, 0x6e, 0x2e, 0x6b, 0x38, 0x73, 0x2e, 0x69, 0x6f, 0x2f, 0x76, 0x31, 0x12, 0x0c, 0x54, 0x6f,
            0x6b, 0x65, 0x6e, 0x52, 0x65, 0x71, 0x75, 0x65, 0x73, 0x74, 0x12, 0x1d, 0x0a, 0x10, 0x0a, 0x00, 0x12, 0x00,
            0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x03, 0x20, 0xb0, 0x09, 0x1a,
            0x04, 0x0a, 0x00, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00,
        ];
        let v = super::decode(body).unwrap().unwrap();
        assert_eq!(v["kind"], "TokenRequest");
        assert_eq!(v["apiVersion"], "authentication.k8s.io/v1");
        assert_eq!(v["spec"]["expirationSeconds"], 1200);
        assert_eq!(v["metadata"]["name"], "");
        assert!(super::decode(b"{}").is_none());
    }
}
