//! A minimal OpenAPI v3 surface: per group-version documents that list each resource's PATCH
//! operation with `x-kubernetes-group-version-kind` and the `fieldValidation`/`dryRun`/
//! `fieldManager` parameters, so kubectl uses server-side field validation; and the same for
//! `/openapi/v2` (JSON and gnostic protobuf, which kubectl ≤ 1.28 reads). Full schemas and
//! `kubectl explain` come with the [patch] issue.

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
    /// `/openapi/v2` as JSON and as gnostic protobuf (what kubectl ≤ 1.28 fetches).
    v2_json: Bytes,
    v2_proto: Bytes,
    v2_etag: String,
}

/// Minimal protobuf writer for the few gnostic OpenAPIv2 messages we emit.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.varint(((field as u64) << 3) | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn string(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }
    fn msg(&mut self, field: u32, m: Pb) -> &mut Self {
        self.bytes(field, &m.0)
    }
    fn bool(&mut self, field: u32, b: bool) -> &mut Self {
        self.varint((field as u64) << 3);
        self.varint(b as u64);
        self
    }
}

fn pb(f: impl FnOnce(&mut Pb)) -> Pb {
    let mut p = Pb::default();
    f(&mut p);
    p
}

/// gnostic `openapi.v2.Document` with, per resource, a PATCH operation carrying
/// `x-kubernetes-group-version-kind` and the query parameters kubectl's verifier looks for.
fn v2_proto(rows: &[ResourceDef], version: &str) -> Bytes {
    let mut paths = Pb::default();
    for r in rows {
        let path = v2_item_path(r);
        let gvk_yaml = format!("group: \"{}\"\nkind: {}\nversion: {}\n", r.group, r.kind, r.version);
        let op = pb(|op| {
            op.string(5, &format!("patch{}", r.kind));
            for name in ["dryRun", "fieldManager", "fieldValidation", "force"] {
                let q = pb(|q| {
                    q.string(2, "query").string(4, name).string(6, "string").bool(20, true);
                });
                let item = pb(|i| {
                    i.msg(
                        1,
                        pb(|p| {
                            p.msg(
                                2,
                                pb(|nb| {
                                    nb.msg(3, q);
                                }),
                            );
                        }),
                    );
                });
                op.msg(8, item);
            }
            op.msg(
                13,
                pb(|ext| {
                    ext.string(1, "x-kubernetes-group-version-kind").msg(
                        2,
                        pb(|any| {
                            any.string(2, &gvk_yaml);
                        }),
                    );
                }),
            );
        });
        let item = pb(|pi| {
            pi.msg(8, op);
        });
        paths.msg(
            2,
            pb(|named| {
                named.string(1, &path).msg(2, item);
            }),
        );
    }
    let doc = pb(|d| {
        d.string(1, "2.0").msg(
            2,
            pb(|i| {
                i.string(1, "Kubernetes").string(2, version);
            }),
        );
        d.msg(8, paths);
    });
    Bytes::from(doc.0)
}

fn v2_item_path(r: &ResourceDef) -> String {
    let gv = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if r.namespaced() {
        format!("{gv}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
    } else {
        format!("{gv}/{}/{{name}}", r.plural)
    }
}

fn v2_json(rows: &[ResourceDef], version: &str) -> Bytes {
    let mut paths = serde_json::Map::new();
    for r in rows {
        let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .iter()
            .map(|n| json!({"uniqueItems": true, "type": "string", "name": n, "in": "query"}))
            .collect();
        paths.insert(
            v2_item_path(r),
            json!({"patch": {
                "operationId": format!("patch{}", r.kind),
                "parameters": params,
                "x-kubernetes-group-version-kind": {"group": r.group, "kind": r.kind, "version": r.version},
                "responses": {"200": {"description": "OK"}},
            }}),
        );
    }
    let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": paths, "definitions": {}});
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
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
        let version = super::version_info()["gitVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let v2_proto = v2_proto(rows, &version);
        let v2_etag = format!("\"{}\"", hash(&v2_proto));
        OpenApi {
            docs,
            index,
            v2_json: v2_json(rows, &version),
            v2_proto,
            v2_etag,
        }
    }
}

pub fn respond(app: &Arc<App>, req: &RawRequest, path: &str) -> ApiResult<Response> {
    let openapi = &app.openapi;
    if path == "/openapi/v2" {
        let accept = req.headers.get("accept").and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut r = if accept.contains("application/com.github.proto-openapi.spec.v2") {
            bytes_response(
                200,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                openapi.v2_proto.clone(),
            )
        } else {
            bytes_response(200, "application/json", openapi.v2_json.clone())
        };
        if let Ok(v) = http::HeaderValue::from_str(&openapi.v2_etag) {
            r.headers_mut().insert(http::header::ETAG, v);
        }
        return Ok(r);
    }
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
