//! A minimal OpenAPI v3 surface: per group-version documents that list each resource's PATCH
//! operation with `x-kubernetes-group-version-kind` and the `fieldValidation`/`dryRun`/
//! `fieldManager` parameters, so kubectl uses server-side field validation. Full schemas,
//! `/openapi/v2` and `kubectl explain` come with the [patch] issue.

use super::encode::{bytes_response, error_response};
use super::handler::RawRequest;
use super::App;
use crate::api::ResourceDef;
use crate::error::{ApiError, ApiResult};
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use warp::reply::Response;

pub struct OpenApi {
    /// `api/v1`, `apis/apps/v1` → (document, hash).
    docs: BTreeMap<String, (Bytes, String)>,
    index: Bytes,
}

fn hash(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}{:016X}", h.rotate_left(17) ^ 0x9e3779b97f4a7c15)
}

fn params() -> Value {
    json!([
        {"name": "dryRun", "in": "query", "description": "When present, indicates that modifications should not be persisted.", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "description": "fieldManager is a name associated with the actor or entity that is making these changes.", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "description": "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields.", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
    ])
}

impl OpenApi {
    pub fn build(rows: &[ResourceDef]) -> OpenApi {
        let mut per_gv: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
        for r in rows {
            let gv_path = if r.group.is_empty() {
                format!("api/{}", r.version)
            } else {
                format!("apis/{}/{}", r.group, r.version)
            };
            let base = if r.namespaced() {
                format!("/{gv_path}/namespaces/{{namespace}}/{}", r.plural)
            } else {
                format!("/{gv_path}/{}", r.plural)
            };
            let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
            let op = |verb: &str| {
                json!({
                    "operationId": format!("{verb}{}", r.kind),
                    "x-kubernetes-action": verb,
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": params(),
                    "responses": {"200": {"description": "OK"}},
                })
            };
            let paths = per_gv.entry(gv_path).or_default();
            paths.insert(
                format!("{base}/{{name}}"),
                json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
            );
            paths.insert(base, json!({"get": op("list"), "post": op("post")}));
        }
        let mut docs = BTreeMap::new();
        let mut index = serde_json::Map::new();
        for (gv, paths) in per_gv {
            let doc = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": super::version_info()["gitVersion"]},
                "paths": paths,
                "components": {"schemas": {}},
            });
            let bytes = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
            let h = hash(&bytes);
            index.insert(
                gv.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={h}")}),
            );
            docs.insert(gv, (bytes, h));
        }
        let index = Bytes::from(serde_json::to_vec(&json!({"paths": index})).unwrap_or_default());
        OpenApi { docs, index }
    }
}

pub fn respond(app: &Arc<App>, req: &RawRequest, path: &str) -> ApiResult<Response> {
    let openapi = &app.openapi;
    if path == "/openapi/v3" {
        return Ok(bytes_response(200, "application/json", openapi.index.clone()));
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        if let Some((doc, h)) = openapi.docs.get(gv) {
            let mut r = bytes_response(200, "application/json", doc.clone());
            let immutable = req.query.split('&').any(|p| p == format!("hash={h}"));
            let cc = if immutable {
                "public, immutable"
            } else {
                "no-cache, private"
            };
            if let Ok(v) = http::HeaderValue::from_str(cc) {
                r.headers_mut().insert(http::header::CACHE_CONTROL, v);
            }
            if let Ok(v) = http::HeaderValue::from_str(&format!("\"{h}\"")) {
                r.headers_mut().insert(http::header::ETAG, v);
            }
            return Ok(r);
        }
    }
    Ok(error_response(&ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )))
}
