//! Bytes in and out: content negotiation (`Accept`, `Content-Type`), request body decoding
//! (JSON, YAML, protobuf), and the encoders (JSON, YAML, Table, PartialObjectMetadata, watch
//! frames) every dispatcher answers with.

pub mod encode;
pub mod negotiate;
pub mod yaml_strict;

use crate::api::ResourceDef;
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use negotiate::BodyType;
use serde_json::{json, Value};

/// Request body encodings we decode.
pub const BODY_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// Decode a request body by its Content-Type: YAML, protobuf, else JSON (patch types are
/// JSON documents).
pub fn decode_body(content_type: Option<&str>, body: &[u8]) -> ApiResult<Value> {
    match negotiate::body_type(content_type) {
        Ok(BodyType::Yaml) => yaml_serde::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}"))),
        Ok(BodyType::Protobuf) => crate::protobuf::decode(body).map_err(ApiError::bad_request),
        _ => serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding JSON: {e}"))),
    }
}

/// Decode an object body of the row's kind: JSON, YAML or protobuf (415 for anything else),
/// then [`check_kind`].
pub fn decode_object(def: &ResourceDef, content_type: Option<&str>, body: &[u8]) -> ApiResult<Value> {
    let bt = negotiate::body_type(content_type).map_err(|ct| ApiError::unsupported_media_type(&ct, BODY_TYPES))?;
    if !matches!(bt, BodyType::Json | BodyType::Yaml | BodyType::Protobuf) {
        return Err(ApiError::unsupported_media_type("", BODY_TYPES));
    }
    let mut v = decode_body(content_type, body)?;
    check_kind(def, &mut v)?;
    crate::api::typed::normalize(def.group, def.version, def.kind, &mut v)
        .map_err(|e| ApiError::cannot_handle(def.kind, def.version, &e))?;
    Ok(v)
}

/// A body that names its own kind (a subresource's `Scale`, `Binding`, `Eviction`): typed values
/// normalised as the decoder of that kind does ([`crate::api::typed`]).
pub fn normalize_any(v: &mut Value) -> ApiResult<()> {
    crate::api::typed::normalize_any(v).map_err(|e| {
        let kind = v.str_of("kind");
        let av = v.str_of("apiVersion");
        ApiError::cannot_handle(kind, av.rsplit('/').next().unwrap_or(av), &e)
    })
}

/// The result of a JSON, merge or strategic merge patch decoded into the row's kind: typed
/// values normalised; a value the decoder rejects is upstream's 422 on the field `patch`, whose
/// value is the patched object (JSON and merge patch) or Go's print of the patch (strategic).
pub fn normalize_patched(def: &ResourceDef, v: &mut Value, strategic_patch: Option<&Value>) -> ApiResult<()> {
    crate::api::typed::normalize(def.group, def.version, def.kind, v).map_err(|e| {
        let shown = match strategic_patch {
            Some(p) => crate::util::go_sprint(p),
            None => serde_json::to_string(v).unwrap_or_default(),
        };
        ApiError::invalid(
            "",
            "",
            "",
            &[crate::error::field::FieldError::invalid("patch", shown, e)],
        )
    })
}

/// The object a server-side apply produced, decoded into the row's kind: typed values
/// normalised; a value the decoder rejects is upstream's reason-less 500 from the field manager.
pub fn normalize_applied(def: &ResourceDef, v: &mut Value, applied: &Value) -> ApiResult<()> {
    crate::api::typed::normalize(def.group, def.version, def.kind, v).map_err(|e| {
        let s = |p: &str| applied.str_at(p).to_string();
        let gvk = format!("{}/{}, Kind={}", def.group, def.version, def.kind);
        ApiError::new(
            500,
            "",
            format!(
                "failed to convert new object ({}/{}; {gvk}) to proper version: unable to convert unstructured object to {gvk}: {e}",
                s("/metadata/namespace"),
                s("/metadata/name"),
            ),
        )
    })
}

/// The body's apiVersion/kind must match the URL (missing ones default from it), and
/// metadata must be an object.
pub fn check_kind(def: &ResourceDef, v: &mut Value) -> ApiResult<()> {
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    };
    let want_av = def.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )))
        }
        _ => {}
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("kind".into(), json!(def.kind));
        }
        Some(k) if k != def.kind => {
            return Err(ApiError::bad_request(format!(
                "{k} in version \"{}\" cannot be handled as a {}: the kind in the data ({k}) does not match the expected kind ({})",
                def.version, def.kind, def.kind
            )))
        }
        _ => {}
    }
    if obj.get("metadata").is_some_and(|m| !m.is_object() && !m.is_null()) {
        return Err(ApiError::cannot_handle(
            def.kind,
            def.version,
            "metadata must be an object",
        ));
    }
    Ok(())
}
