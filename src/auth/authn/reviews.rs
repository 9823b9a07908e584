//! The authentication.k8s.io review APIs (TokenReview, SelfSubjectReview), TokenRequest
//! (`serviceaccounts/{name}/token`) and the ServiceAccount issuer discovery documents.

use super::serviceaccount::Binding;
use super::Authenticator;
use crate::codec::encode::{self, Encoding, IncludeObject};
use crate::codec::negotiate::{self, Endpoint};
use crate::error::field::FieldError;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::request::{Request, UserInfo};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime};
use warp::reply::Response;

const GROUP: &str = "authentication.k8s.io";
const API_VERSION: &str = "authentication.k8s.io/v1";

/// The body decoded once for the request (the audit log and admission read the same value);
/// protobuf bodies (TokenRequest too) through the generated table.
pub fn decode(req: &Request, body: &Bytes) -> ApiResult<Value> {
    let ct = req.header("content-type");
    let decode = |b: &Bytes| -> ApiResult<Value> { crate::codec::decode_body(ct, b) };
    let v = req.decode_with(decode).cloned().unwrap_or_else(|| decode(body))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    Ok(v)
}

fn respond(req: &Request, v: &Value) -> ApiResult<Response> {
    let query = &req.query;
    let accept = req.headers.get("accept").and_then(|v| v.to_str().ok());
    let output = negotiate::negotiate(accept, Endpoint::Plain, true)?;
    let enc = Encoding {
        output,
        pretty: query.flag("pretty").unwrap_or(false),
        include: IncludeObject::Metadata,
    };
    Ok(encode::value_response(201, v, enc))
}

/// `authentication.k8s.io/v1` UserInfo, fields omitted when empty.
pub fn user_json(u: &UserInfo) -> Value {
    let mut m = Map::new();
    if !u.name.is_empty() {
        m.insert("username".into(), json!(u.name));
    }
    if !u.uid.is_empty() {
        m.insert("uid".into(), json!(u.uid));
    }
    if !u.groups.is_empty() {
        m.insert("groups".into(), json!(u.groups));
    }
    if !u.extra.is_empty() {
        m.insert("extra".into(), json!(u.extra));
    }
    Value::Object(m)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Dispatch for `crate::auth::review`: the authentication.k8s.io resources and
/// `serviceaccounts/token`.
pub async fn review(authn: &Authenticator, reg: &Registry, req: &Request, body: Bytes) -> Option<ApiResult<Response>> {
    let info = &req.info;
    let out = match (info.group.as_str(), info.resource.as_str(), info.subresource.as_deref()) {
        (GROUP, "tokenreviews", None) => token_review(authn, req, &body).await,
        (GROUP, "selfsubjectreviews", None) => self_subject_review(req, &body),
        ("", "serviceaccounts", Some("token")) => token_request(authn, reg, req, &body).await,
        _ => return None,
    };
    Some(out)
}

async fn token_review(authn: &Authenticator, req: &Request, body: &Bytes) -> ApiResult<Response> {
    let mut v = decode(req, body)?;
    let token = v["spec"]["token"].as_str().unwrap_or("").to_string();
    if token.is_empty() {
        return Err(ApiError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    let mut auds = strings(&v["spec"]["audiences"]);
    if auds.is_empty() {
        auds = authn.api_audiences.clone();
    }
    let mut status = json!({"user": {}});
    match authn.authenticate_token(&token, &auds).await {
        Ok(Some((user, got))) => {
            status["authenticated"] = json!(true);
            status["user"] = user_json(&super::with_authenticated(user));
            if !got.is_empty() {
                status["audiences"] = json!(got);
            }
        }
        // As upstream, which runs its request authenticators on a fake `Authorization` header.
        Ok(None) => status["error"] = json!("invalid bearer token"),
        Err(e) => status["error"] = json!(format!("[invalid bearer token, {e}]")),
    }
    v["apiVersion"] = json!(API_VERSION);
    v["kind"] = json!("TokenReview");
    v["metadata"] = json!({"creationTimestamp": null});
    v["status"] = status;
    respond(req, &v)
}

fn self_subject_review(req: &Request, body: &Bytes) -> ApiResult<Response> {
    let _ = decode(req, body)?;
    let nobody = UserInfo::default();
    let user = req.user.as_ref().unwrap_or(&nobody);
    let v = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": API_VERSION,
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": user_json(user)},
    });
    respond(req, &v)
}

/// Live object `(name, uid)` of a core/v1 resource, or its 404.
async fn live(reg: &Registry, plural: &str, ns: Option<&str>, name: &str) -> ApiResult<(String, String, Value)> {
    let def = crate::api::builtin_row("", plural).ok_or_else(|| ApiError::internal(format!("no {plural} resource")))?;
    let obj = reg.get(def, ns, name, None).await?;
    let value = obj.value();
    let uid = value["metadata"]["uid"].as_str().unwrap_or("").to_string();
    Ok((name.to_string(), uid, value))
}

async fn token_request(authn: &Authenticator, reg: &Registry, req: &Request, body: &Bytes) -> ApiResult<Response> {
    let info = &req.info;
    let sa = authn.service_accounts.as_ref().ok_or_else(|| {
        ApiError::not_implemented("serviceaccounts/token (no service account signing key configured)")
    })?;
    let ns = info.namespace.clone().unwrap_or_default();
    let name = info.name.clone().unwrap_or_default();
    let mut v = decode(req, body)?;
    let invalid = |f: FieldError| ApiError::invalid("TokenRequest", GROUP, &name, &[f]);
    if let Some(n) = v["metadata"]["name"].as_str().filter(|n| !n.is_empty() && *n != name) {
        return Err(invalid(FieldError::invalid(
            "metadata.name",
            n,
            "must match the service account name if specified",
        )));
    }
    if let Some(n) = v["metadata"]["namespace"]
        .as_str()
        .filter(|n| !n.is_empty() && *n != ns)
    {
        return Err(invalid(FieldError::invalid(
            "metadata.namespace",
            n,
            "must match the service account namespace if specified",
        )));
    }
    let mut expiration = v["spec"]["expirationSeconds"].as_i64().unwrap_or(3600);
    if expiration < 600 {
        return Err(invalid(FieldError::invalid(
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration less than 10 minutes",
        )));
    }
    if expiration > 1 << 32 {
        return Err(invalid(FieldError::invalid(
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration larger than 2^32 seconds",
        )));
    }
    let (sa_name, sa_uid, _) = live(reg, "serviceaccounts", Some(&ns), &name).await?;
    let mut audiences = strings(&v["spec"]["audiences"]);
    if audiences.is_empty() {
        audiences = sa.audiences.clone();
    }
    let mut bound = Binding::default();
    let reference = v["spec"]["boundObjectRef"].clone();
    if reference.is_object() {
        let kind = reference["kind"].as_str().unwrap_or("");
        let api_version = reference["apiVersion"].as_str().unwrap_or("");
        let ref_name = reference["name"].as_str().unwrap_or("");
        let ref_uid = reference["uid"].as_str().unwrap_or("");
        let (plural, namespaced) = match (api_version, kind) {
            ("v1", "Pod") => ("pods", true),
            ("v1", "Secret") => ("secrets", true),
            ("v1", "Node") => ("nodes", false),
            _ => {
                let (g, ver) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount \"{name}\" to object of type {g}/{ver}, Kind={kind}"
                )));
            }
        };
        let (n, uid, obj) = live(reg, plural, namespaced.then_some(ns.as_str()), ref_name).await?;
        if !ref_uid.is_empty() && ref_uid != uid {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {kind} \"{ref_name}\": the UID in the bound object reference ({ref_uid}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            )
            .with_details(json!({"name": ref_name, "kind": kind})));
        }
        match kind {
            "Pod" => {
                let pod_sa = obj["spec"]["serviceAccountName"].as_str().unwrap_or("default");
                if pod_sa != name {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount \"{name}\" to pod running with different serviceaccount name."
                    )));
                }
                // The pod's node is recorded too (ServiceAccountTokenPodNodeInfo).
                if let Some(node) = obj["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
                    if let Ok((nn, nu, _)) = live(reg, "nodes", None, node).await {
                        bound.node = Some((nn, nu));
                    }
                }
                bound.pod = Some((n, uid));
            }
            "Secret" => bound.secret = Some((n, uid)),
            _ => bound.node = Some((n, uid)),
        }
    }
    let max = sa.max_expiration.as_secs() as i64;
    if max > 0 && expiration > max {
        expiration = max;
    }
    let now = SystemTime::now();
    let (token, _) = sa.issue(&ns, (&sa_name, &sa_uid), &audiences, expiration, &bound)?;
    let expires = now + Duration::from_secs(expiration as u64);
    let mut meta = v["metadata"].as_object().cloned().unwrap_or_default();
    meta.insert("name".into(), json!(name));
    meta.insert("namespace".into(), json!(ns));
    meta.insert("creationTimestamp".into(), json!(crate::util::rfc3339(now)));
    v["apiVersion"] = json!(API_VERSION);
    v["kind"] = json!("TokenRequest");
    v["metadata"] = Value::Object(meta);
    v["spec"]["audiences"] = json!(audiences);
    v["spec"]["expirationSeconds"] = json!(expiration);
    if !reference.is_object() {
        v["spec"]["boundObjectRef"] = Value::Null;
    }
    v["status"] = json!({"token": token, "expirationTimestamp": crate::util::rfc3339(expires)});
    respond(req, &v)
}

/// `/.well-known/openid-configuration` and `/openid/v1/jwks`; None for other paths.
pub fn discovery(authn: &Authenticator, path: &str, accept: Option<&str>) -> Option<ApiResult<Response>> {
    let sa = authn.service_accounts.as_ref();
    let (doc, ct) = match path {
        "/.well-known/openid-configuration" => (sa?.openid_configuration(), "application/json"),
        "/openid/v1/jwks" => (sa?.jwks(), "application/jwk-set+json"),
        _ => return None,
    };
    if !accepts_exactly(accept, ct) {
        return Some(Err(ApiError::new(
            406,
            "NotAcceptable",
            format!("406: Not Acceptable\n\nAvailable representations: {ct}"),
        )
        .with_details(json!({}))));
    }
    let mut r = encode::bytes_response(200, ct, Bytes::from(doc.to_string()));
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=3600"),
    );
    Some(Ok(r))
}

/// Upstream serves these two documents through go-restful, which takes a request only when its
/// Accept is empty, holds `*/*`, or names the document's media type exactly (no `application/*`).
fn accepts_exactly(accept: Option<&str>, media_type: &str) -> bool {
    let accept = accept.unwrap_or("").trim();
    accept.is_empty()
        || accept.contains("*/*")
        || accept
            .split(',')
            .any(|part| part.split(';').next().unwrap_or("").trim() == media_type)
}
