//! Response encoders: objects, lists (streamed from cached JSON, never re-serialised),
//! Tables, PartialObjectMetadata, watch events, Status errors.

use super::negotiate::Output;
use crate::api::ResourceDef;
use crate::error::ApiError;
use crate::registry::store::{ListResult, WatchOut};
use crate::storage::cache::{CacheEventType, CachedObject};
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;
use warp::reply::Response;
use warp::Reply;

/// `?includeObject=` for Tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> IncludeObject {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Encoding {
    pub output: Output,
    pub pretty: bool,
    pub include: IncludeObject,
}

pub fn bytes_response(code: u16, content_type: &str, body: Bytes) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// Render a JSON value in the negotiated plain encoding (JSON, YAML or protobuf).
pub fn value_response(code: u16, v: &Value, enc: Encoding) -> Response {
    match enc.output {
        Output::Protobuf | Output::ProtobufPartialMetadata(_) => match crate::protobuf::encode(v) {
            Ok(b) => bytes_response(code, crate::protobuf::MEDIA_TYPE, Bytes::from(b)),
            // A document without a protobuf form (none is expected): JSON, which clients
            // decode by the Content-Type.
            Err(e) => {
                tracing::warn!(error = %e, "no protobuf encoding; answering JSON");
                value_response(
                    code,
                    v,
                    Encoding {
                        output: Output::Json,
                        ..enc
                    },
                )
            }
        },
        Output::Yaml => {
            let text = yaml_serde::to_string(v).unwrap_or_default();
            bytes_response(code, "application/yaml", Bytes::from(text))
        }
        _ => {
            let body = if enc.pretty {
                serde_json::to_vec_pretty(v)
            } else {
                serde_json::to_vec(v)
            };
            bytes_response(code, "application/json", Bytes::from(body.unwrap_or_default()))
        }
    }
}

pub fn error_response(e: &ApiError) -> Response {
    error_response_as(e, Output::Json)
}

/// The error's `Status` in the negotiated encoding (protobuf when the client negotiated it,
/// as upstream's `ErrorNegotiated`), else JSON.
pub fn error_response_as(e: &ApiError, output: Output) -> Response {
    let status = e.to_status();
    let mut r = match output
        .is_protobuf()
        .then(|| crate::protobuf::encode(&status).ok())
        .flatten()
    {
        Some(b) => bytes_response(e.code, crate::protobuf::MEDIA_TYPE, Bytes::from(b)),
        None => bytes_response(e.code, "application/json", Bytes::from(status.to_string())),
    };
    if let Some(secs) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    r
}

/// The object as this row serves it (rows sharing storage across versions rewrite apiVersion);
/// None: as cached. Only an object a row rewrites is decoded.
pub fn served_value(def: &ResourceDef, obj: &CachedObject) -> Option<Value> {
    let decoded = def.strategy.rewrites_served().then(|| obj.value());
    if let Some(v) = decoded.as_ref().and_then(|v| def.strategy.served_form(def, v)) {
        return Some(v);
    }
    let want = def.api_version();
    if obj.attrs.api_version() == want && obj.attrs.kind() == def.kind {
        return None;
    }
    let mut v = decoded.unwrap_or_else(|| obj.value());
    v["apiVersion"] = json!(want);
    v["kind"] = json!(def.kind);
    Some(v)
}

fn served_json(def: &ResourceDef, obj: &CachedObject) -> Bytes {
    match served_value(def, obj) {
        None => obj.json.clone(),
        Some(v) => Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
    }
}

fn partial_metadata(obj: &CachedObject, version: &str) -> Value {
    partial_metadata_of(obj.metadata(), version)
}

/// PartialObjectMetadata of an object's `metadata` (Null: none).
fn partial_metadata_of(metadata: Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": match metadata {
            Value::Null => json!({}),
            m => m,
        },
    })
}

/// One Table row of `obj` (`stored`: it decoded).
fn table_row(
    def: &ResourceDef,
    obj: &CachedObject,
    stored: Value,
    include: IncludeObject,
    version: &str,
    now: SystemTime,
) -> Value {
    // Built-in printers read the stored form (core Events); custom columns the served one
    // (schema defaults applied on read). The served form is built only when something uses it.
    let from_served = def.strategy.cells_from_served();
    let served = (from_served || include == IncludeObject::Object)
        .then(|| served_value(def, obj))
        .flatten();
    let cells_from = match &served {
        Some(v) if from_served => v,
        _ => &stored,
    };
    let mut row = json!({"cells": def.strategy.cells(cells_from, now)});
    if let Some(c) = def.strategy.row_conditions(&stored) {
        row["conditions"] = c;
    }
    match include {
        IncludeObject::None => {}
        // From the tree decoded for the cells (not a second parse of the JSON).
        IncludeObject::Metadata => {
            let metadata = match stored {
                Value::Object(mut m) => m.remove("metadata").unwrap_or(Value::Null),
                _ => Value::Null,
            };
            row["object"] = partial_metadata_of(metadata, version)
        }
        IncludeObject::Object => row["object"] = served.unwrap_or(stored),
    }
    row
}

fn table(def: &ResourceDef, items: &[Arc<CachedObject>], meta: Value, include: IncludeObject, version: &str) -> Value {
    let now = SystemTime::now();
    // Printers read the tree: each object is decoded once, for its row (and the sort).
    let mut decoded: Vec<(Value, &Arc<CachedObject>)> = items.iter().map(|o| (o.value(), o)).collect();
    if let Some(order) = def.strategy.table_order() {
        decoded.sort_by(|a, b| order(&a.0, &b.0));
    }
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": meta,
        "columnDefinitions": def.strategy.column_definitions(),
        "rows": decoded.into_iter().map(|(v, o)| table_row(def, o, v, include, version, now)).collect::<Vec<_>>(),
    })
}

/// One object in the negotiated form.
pub fn object_response(code: u16, def: &ResourceDef, obj: &CachedObject, enc: Encoding) -> Response {
    // Custom resources with a conversion webhook: converted first (its failure is a 500).
    let converted = match convert_for_serving(def, obj) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let obj = converted.as_deref().unwrap_or(obj);
    match enc.output {
        Output::Json if !enc.pretty => match served_value(def, obj) {
            None => bytes_response(code, "application/json", obj.json.clone()),
            Some(v) => value_response(code, &v, enc),
        },
        Output::Protobuf => match served_value(def, obj) {
            None => match obj.protobuf() {
                Some(b) => bytes_response(code, crate::protobuf::MEDIA_TYPE, b.clone()),
                None => value_response(code, &obj.value(), enc),
            },
            Some(v) => value_response(code, &v, enc),
        },
        Output::ProtobufPartialMetadata(v) => value_response(code, &partial_metadata(obj, v), enc),
        Output::Table(v) => {
            let meta = json!({"resourceVersion": resource_version(obj)});
            value_response(
                code,
                &table(
                    def,
                    std::slice::from_ref(&Arc::new(clone_obj(obj))),
                    meta,
                    enc.include,
                    v,
                ),
                enc,
            )
        }
        Output::PartialMetadata(v) => value_response(code, &partial_metadata(obj, v), enc),
        _ => value_response(code, &served_value(def, obj).unwrap_or_else(|| obj.value()), enc),
    }
}

/// One object converted by the row's conversion webhook (None: serve it as stored).
fn convert_for_serving(def: &ResourceDef, obj: &CachedObject) -> Result<Option<Arc<CachedObject>>, ApiError> {
    Ok(def.strategy.convert_for_serving(def, &[obj])?.and_then(|mut v| v.pop()))
}

fn clone_obj(o: &CachedObject) -> CachedObject {
    o.with_attrs(o.attrs.clone())
}

/// `metadata.resourceVersion` as the cached object carries it (stamped from its revision; a
/// stripped object, e.g. a dry-run result, has none).
fn resource_version(obj: &CachedObject) -> Value {
    obj.metadata().get("resourceVersion").cloned().unwrap_or(Value::Null)
}

fn list_meta(list: &ListResult) -> Value {
    let mut m = Map::new();
    // Revision 0: a list not read from storage (componentstatuses) carries none.
    if list.revision != 0 {
        m.insert("resourceVersion".into(), json!(list.revision.to_string()));
    }
    if let Some(c) = &list.continue_token {
        m.insert("continue".into(), json!(c));
    }
    if let Some(r) = list.remaining {
        m.insert("remainingItemCount".into(), json!(r));
    }
    Value::Object(m)
}

/// A list. Plain JSON is streamed from each object's cached encoding, so memory does not
/// grow with the size of the result beyond the shared object references.
pub fn list_response(def: &ResourceDef, list: ListResult, enc: Encoding) -> Response {
    // Custom resources with a conversion webhook: all items in one ConversionReview.
    let mut list = list;
    let items: Vec<&CachedObject> = list.items.iter().map(|o| o.as_ref()).collect();
    match def.strategy.convert_for_serving(def, &items) {
        Ok(Some(items)) => list.items = items,
        Ok(None) => {}
        Err(e) => return error_response(&e),
    }
    let meta = list_meta(&list);
    match enc.output {
        Output::Table(v) => value_response(200, &table(def, &list.items, meta, enc.include, v), enc),
        Output::Protobuf => protobuf_list(def, &list.items, &meta, enc),
        Output::PartialMetadata(v) | Output::ProtobufPartialMetadata(v) => {
            let items: Vec<Value> = list.items.iter().map(|o| partial_metadata(o, v)).collect();
            let doc = json!({"kind": "PartialObjectMetadataList", "apiVersion": format!("meta.k8s.io/{v}"), "metadata": meta, "items": items});
            value_response(200, &doc, enc)
        }
        Output::Json if !enc.pretty => {
            let head = format!(
                "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
                def.kind,
                def.api_version(),
                meta
            );
            let def = *def;
            let items = list.items;
            let n = items.len();
            let chunks = std::iter::once(Bytes::from(head))
                .chain(items.into_iter().enumerate().flat_map(move |(i, o)| {
                    let sep = if i + 1 < n {
                        Some(Bytes::from_static(b","))
                    } else {
                        None
                    };
                    std::iter::once(served_json(&def, &o)).chain(sep)
                }))
                .chain(std::iter::once(Bytes::from_static(b"]}")))
                .map(Ok::<Bytes, Infallible>);
            let mut r = warp::reply::stream(futures_util::stream::iter(chunks.collect::<Vec<_>>())).into_response();
            r.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        _ => {
            let items: Vec<Value> = list
                .items
                .iter()
                .map(|o| served_value(def, o).unwrap_or_else(|| o.value()))
                .collect();
            let doc = json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(), "metadata": meta, "items": items});
            value_response(200, &doc, enc)
        }
    }
}

/// An object's own protobuf message (no envelope), from its cached encoding when served as
/// stored.
fn protobuf_raw(def: &ResourceDef, obj: &CachedObject) -> Result<Bytes, String> {
    let enveloped = match served_value(def, obj) {
        None => obj
            .protobuf()
            .cloned()
            .ok_or_else(|| format!("{} has no protobuf form", def.kind))?,
        Some(v) => Bytes::from(crate::protobuf::encode(&v)?),
    };
    let env = crate::protobuf::unwrap_envelope(&enveloped)?;
    Ok(enveloped.slice_ref(env.raw))
}

/// `<Kind>List` in protobuf, items from their cached encodings.
fn protobuf_list(def: &ResourceDef, items: &[Arc<CachedObject>], meta: &Value, enc: Encoding) -> Response {
    let list_kind = format!("{}List", def.kind);
    let encoded = items
        .iter()
        .map(|o| protobuf_raw(def, o))
        .collect::<Result<Vec<Bytes>, String>>()
        .and_then(|raws| crate::protobuf::encode_list(&def.api_version(), &list_kind, meta, &raws));
    match encoded {
        Ok(b) => bytes_response(200, crate::protobuf::MEDIA_TYPE, Bytes::from(b)),
        Err(e) => {
            tracing::warn!(error = %e, kind = def.kind, "no protobuf encoding for a list; answering JSON");
            let items: Vec<Value> = items
                .iter()
                .map(|o| served_value(def, o).unwrap_or_else(|| o.value()))
                .collect();
            let doc = json!({"kind": list_kind, "apiVersion": def.api_version(), "metadata": meta, "items": items});
            value_response(
                200,
                &doc,
                Encoding {
                    output: Output::Json,
                    ..enc
                },
            )
        }
    }
}

/// One watch event in protobuf: a 4-byte big-endian length, then a `metav1.WatchEvent` whose
/// object is the enveloped object (upstream's length-delimited framer).
fn protobuf_watch_frame(def: &ResourceDef, out: &WatchOut, enc: Encoding) -> WatchFrame {
    let (ty, object): (&str, Result<Bytes, String>) = match out {
        WatchOut::Event(kind, obj) => {
            let converted = match convert_for_serving(def, obj) {
                Ok(c) => c,
                Err(e) => return protobuf_watch_frame(def, &WatchOut::Error(e), enc),
            };
            let obj = converted.as_ref().unwrap_or(obj);
            let object = match enc.output {
                Output::ProtobufPartialMetadata(v) => {
                    crate::protobuf::encode(&partial_metadata(obj, v)).map(Bytes::from)
                }
                _ => match served_value(def, obj) {
                    None => obj
                        .protobuf()
                        .cloned()
                        .ok_or_else(|| format!("{} has no protobuf form", def.kind)),
                    Some(v) => crate::protobuf::encode(&v).map(Bytes::from),
                },
            };
            (kind.as_str(), object)
        }
        WatchOut::Bookmark(rv, initial_events_end) => {
            let mut v = match enc.output {
                Output::ProtobufPartialMetadata(v) => {
                    json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{v}"), "metadata": {"resourceVersion": rv.to_string()}})
                }
                _ => {
                    json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": {"resourceVersion": rv.to_string()}})
                }
            };
            if *initial_events_end {
                v["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            ("BOOKMARK", crate::protobuf::encode(&v).map(Bytes::from))
        }
        WatchOut::Error(e) => ("ERROR", crate::protobuf::encode(&e.to_status()).map(Bytes::from)),
    };
    let object = match object {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::internal(format!("encoding a watch event: {e}"));
            Bytes::from(crate::protobuf::encode(&err.to_status()).unwrap_or_default())
        }
    };
    let ev = crate::protobuf::watch_event(ty, &object);
    let mut b = Vec::with_capacity(ev.len() + 4);
    b.extend_from_slice(&(ev.len() as u32).to_be_bytes());
    b.extend_from_slice(&ev);
    WatchFrame {
        bytes: Bytes::from(b),
        object_len: object.len(),
    }
}

/// One encoded watch event, and the size of the object it carries (upstream's
/// `apiserver_watch_events_sizes` observes the object, not the frame).
pub struct WatchFrame {
    pub bytes: Bytes,
    pub object_len: usize,
}

impl WatchFrame {
    /// `{"type":"<ty>","object":<object>}` and a newline, in upstream's field order.
    fn json(ty: &str, object: &[u8]) -> WatchFrame {
        let mut b = Vec::with_capacity(object.len() + ty.len() + 24);
        b.extend_from_slice(b"{\"type\":\"");
        b.extend_from_slice(ty.as_bytes());
        b.extend_from_slice(b"\",\"object\":");
        b.extend_from_slice(object);
        b.extend_from_slice(b"}\n");
        WatchFrame {
            bytes: Bytes::from(b),
            object_len: object.len(),
        }
    }
}

/// One watch event as a newline-terminated JSON frame, or a length-prefixed protobuf frame.
pub fn watch_frame(def: &ResourceDef, out: &WatchOut, enc: Encoding) -> WatchFrame {
    if enc.output.is_protobuf() {
        return protobuf_watch_frame(def, out, enc);
    }
    let (ty, object) = match out {
        WatchOut::Event(kind, obj) => {
            let ty = kind.as_str();
            let converted = match convert_for_serving(def, obj) {
                Ok(c) => c,
                Err(e) => return watch_frame(def, &WatchOut::Error(e), enc),
            };
            let obj = converted.as_ref().unwrap_or(obj);
            let object = match enc.output {
                Output::Table(v) => {
                    let meta = json!({"resourceVersion": resource_version(obj)});
                    table(def, std::slice::from_ref(obj), meta, enc.include, v)
                }
                Output::PartialMetadata(v) => partial_metadata(obj, v),
                _ => {
                    // Fast path: splice the cached encoding without re-serialising.
                    match served_value(def, obj) {
                        Some(converted) => converted,
                        None => return WatchFrame::json(ty, &obj.json),
                    }
                }
            };
            (ty, object)
        }
        WatchOut::Bookmark(rv, initial_events_end) => {
            let mut object = match enc.output {
                Output::Table(v) => {
                    json!({"kind": "Table", "apiVersion": format!("meta.k8s.io/{v}"), "metadata": {"resourceVersion": rv.to_string()}, "columnDefinitions": null, "rows": null})
                }
                _ => {
                    json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": {"resourceVersion": rv.to_string(), "creationTimestamp": null}})
                }
            };
            if *initial_events_end {
                object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            ("BOOKMARK", object)
        }
        WatchOut::Error(e) => ("ERROR", e.to_status()),
    };
    WatchFrame::json(ty, &serde_json::to_vec(&object).unwrap_or_default())
}

/// Status `Success` returned by deletes of kinds that don't return the object.
pub fn delete_status(def: &ResourceDef, obj: &CachedObject) -> Value {
    let meta = obj.metadata();
    let mut details = json!({"name": meta.get("name"), "kind": def.plural, "uid": meta.get("uid")});
    if !def.group.is_empty() {
        details["group"] = json!(def.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub fn is_deleted(kind: CacheEventType) -> bool {
    kind == CacheEventType::Deleted
}
