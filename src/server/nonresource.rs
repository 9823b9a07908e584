//! Non-resource paths (upstream's `NonGoRestfulMux`): `/healthz` `/livez` `/readyz`,
//! `/version`, discovery (`/api`, `/apis`, per group/version), `/openapi/*`, `/metrics`, and
//! `/debug/api_priority_and_fairness/dump_*`.

use super::App;
use crate::codec::encode::{self, Encoding, IncludeObject};
use crate::codec::negotiate::{self, Endpoint, Output};
use crate::error::{ApiError, ApiResult};
use crate::request::Request;
use bytes::Bytes;
use http::{HeaderValue, Method};
use serde_json::Value;
use std::sync::Arc;
use warp::reply::Response;

/// The server's own endpoints: health, version, discovery, OpenAPI, metrics, the
/// ServiceAccount issuer documents, and aggregated groups' discovery.
pub async fn serve(app: &Arc<App>, req: &Request) -> ApiResult<Response> {
    let query = &req.query;
    let accept = req.header("accept");
    let disco = app.discovery.current();
    let path = req.path.trim_end_matches('/');
    if req.method != Method::GET && req.method != Method::HEAD {
        return Err(ApiError::method_not_allowed(req.method.as_str(), path, ""));
    }
    if let Some(r) = crate::auth::authn::reviews::discovery(&app.auth.authenticator, path, accept) {
        return r;
    }
    let plain = |o: Output| Encoding {
        output: o,
        pretty: query.flag("pretty").unwrap_or(false),
        include: IncludeObject::Metadata,
    };
    match path {
        "/healthz" | "/livez" | "/readyz" => return Ok(super::health::respond(&app.health, path, None, query).await),
        p if p.starts_with("/healthz/") || p.starts_with("/livez/") || p.starts_with("/readyz/") => {
            let (root, check) = p[1..].split_once('/').unwrap_or((p, ""));
            return Ok(super::health::respond(&app.health, &format!("/{root}"), Some(check), query).await);
        }
        p if p.starts_with("/debug/api_priority_and_fairness/") => {
            if let crate::flowcontrol::Gate::Apf(apf) = &app.flow {
                let dump = match p.trim_start_matches("/debug/api_priority_and_fairness/") {
                    "dump_priority_levels" => Some(crate::flowcontrol::debug::priority_levels(apf)),
                    "dump_queues" => Some(crate::flowcontrol::debug::queues(apf)),
                    "dump_requests" => Some(crate::flowcontrol::debug::requests(
                        apf,
                        query.get("includeRequestDetails").is_some_and(|v| !v.is_empty()),
                    )),
                    _ => None,
                };
                if let Some(text) = dump {
                    return Ok(encode::bytes_response(
                        200,
                        "text/plain; charset=utf-8",
                        Bytes::from(text),
                    ));
                }
            }
            return Ok(encode::bytes_response(
                404,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"404 page not found\n"),
            ));
        }
        "/version" => {
            // JSON only, as upstream's route: a protobuf-only Accept gets 406.
            negotiate::negotiate(accept, Endpoint::Plain, false)?;
            let v = super::version_info();
            return Ok(encode::value_response(200, &v, plain(Output::Json)));
        }
        "/api" | "/apis" => {
            let root = if path == "/api" { "api" } else { "apis" };
            let out = negotiate::negotiate(accept, Endpoint::DiscoveryRoot, true)?;
            if let Output::Discovery(v) = out {
                // APIService ordering and aggregated APIs' groups (src/aggregator).
                let (doc, etag) = &app.aggregator.aggregated(root, v, &disco.aggregated[&(root, v)]);
                let mut r = if req.header("if-none-match") == Some(etag.as_str()) {
                    encode::bytes_response(304, &out.content_type(), Bytes::new())
                } else {
                    encode::bytes_response(200, &out.content_type(), doc.clone())
                };
                if let Ok(v) = HeaderValue::from_str(etag) {
                    r.headers_mut().insert(http::header::ETAG, v);
                }
                r.headers_mut()
                    .insert(http::header::VARY, HeaderValue::from_static("Accept"));
                return Ok(r);
            }
            let doc = if root == "api" {
                &disco.api_versions
            } else {
                &app.aggregator.group_list(&disco.group_list)
            };
            return Ok(doc_response(doc, out));
        }
        p if p.starts_with("/openapi/") || p == "/openapi" => return super::openapi::respond(app, req, p),
        "/metrics" => {
            let mut text = app.metrics.render(&app.object_counts());
            if let crate::flowcontrol::Gate::Apf(apf) = &app.flow {
                apf.metrics.render(&mut text);
            }
            let text = app.metrics.without_disabled(text);
            return Ok(encode::bytes_response(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                Bytes::from(text),
            ));
        }
        _ => {}
    }
    // `/apis/<group>[/<version>]` of aggregated APIs: served or proxied by src/aggregator.
    if let Some(r) = app.aggregator.non_resource(&app.registry, req).await {
        return r;
    }
    let key = path.trim_start_matches("/apis/").trim_start_matches("/api/");
    if path.starts_with("/api/") || path.starts_with("/apis/") {
        if let Some(doc) = disco.docs.get(key) {
            let out = negotiate::negotiate(accept, Endpoint::Plain, true)?;
            return Ok(doc_response(doc, out));
        }
    }
    Err(crate::rest::not_found())
}

/// A discovery document (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`, kept as
/// JSON) in the negotiated encoding; upstream serves all of them in protobuf too.
fn doc_response(doc: &Bytes, out: Output) -> Response {
    match out {
        Output::Protobuf => {
            let v: Value = serde_json::from_slice(doc).unwrap_or(Value::Null);
            match crate::protobuf::encode(&v) {
                Ok(b) => encode::bytes_response(200, crate::protobuf::MEDIA_TYPE, Bytes::from(b)),
                Err(e) => encode::error_response_as(
                    &ApiError::internal(format!("encoding a discovery document: {e}")),
                    Output::Json,
                ),
            }
        }
        Output::Yaml => {
            let v: Value = serde_json::from_slice(doc).unwrap_or(Value::Null);
            encode::value_response(
                200,
                &v,
                Encoding {
                    output: Output::Yaml,
                    pretty: false,
                    include: IncludeObject::Metadata,
                },
            )
        }
        _ => encode::bytes_response(200, "application/json", doc.clone()),
    }
}
