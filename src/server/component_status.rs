//! `componentstatuses` (deprecated, still answered by 1.33; upstream's
//! `pkg/registry/core/componentstatus`): never stored, computed at each read by probing the
//! scheduler's and the controller-manager's health endpoints on their default secure ports
//! (`https://127.0.0.1:10259/healthz`, `:10257/healthz`, certificates not verified, as upstream)
//! and the storage (`etcd-0`: the etcd backend's health, or the embedded store's).

use super::App;
use crate::api::ResourceDef;
use crate::codec::encode::{self, Encoding, IncludeObject};
use crate::codec::negotiate::{self, Endpoint};
use crate::error::{ApiError, ApiResult};
use crate::outbound::probe::{self, Outcome};
use crate::registry::options::ListOptions;
use crate::registry::store::ListResult;
use crate::request::Request;
use crate::storage::cache::CachedObject;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use warp::reply::Response;

/// Upstream's `probeTimeOut`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The components upstream probes: (name, port of its secure `/healthz` on 127.0.0.1).
const COMPONENTS: &[(&str, u16)] = &[("scheduler", 10259), ("controller-manager", 10257)];

/// A ComponentStatus with its one `Healthy` condition.
fn component_status(name: &str, status: &str, message: &str, error: &str) -> Value {
    let mut condition = json!({"type": "Healthy", "status": status});
    if !message.is_empty() {
        condition["message"] = json!(message);
    }
    if !error.is_empty() {
        condition["error"] = json!(error);
    }
    json!({
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": null},
        "conditions": [condition],
    })
}

async fn probe_component(name: &str, port: u16) -> Value {
    match probe::https_get("127.0.0.1", port, "/healthz", PROBE_TIMEOUT).await {
        Outcome::Success(body) => component_status(name, "True", &body, ""),
        Outcome::Failure(msg) => component_status(name, "False", &msg, ""),
        Outcome::Warning(msg) => component_status(name, "Unknown", &msg, ""),
    }
}

async fn probe_storage(app: &App) -> Value {
    match app.registry.storage.health().await {
        Ok(()) => component_status("etcd-0", "True", "ok", ""),
        Err(e) => component_status("etcd-0", "False", "", &e),
    }
}

/// Every component's status, probed concurrently.
async fn statuses(app: &App) -> Vec<Value> {
    let (s, c, e) = tokio::join!(
        probe_component(COMPONENTS[0].0, COMPONENTS[0].1),
        probe_component(COMPONENTS[1].0, COMPONENTS[1].1),
        probe_storage(app),
    );
    vec![s, c, e]
}

fn as_cached(v: Value) -> Arc<CachedObject> {
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let json = bytes::Bytes::from(serde_json::to_vec(&v).unwrap_or_default());
    Arc::new(CachedObject {
        key: name,
        attrs: crate::storage::cache::Attrs::of(&v, None),
        json,
        revision: 0,
        protobuf: Default::default(),
    })
}

/// `get` one component or `list` them (label and field selectors apply; only `metadata.name`
/// and `metadata.namespace` are fields).
pub async fn serve(app: &Arc<App>, req: &Request, def: &'static ResourceDef) -> ApiResult<Response> {
    let info = &req.info;
    if info.namespace.is_some() {
        return Err(crate::rest::not_found());
    }
    let output = negotiate::negotiate(req.header("accept"), Endpoint::Read, true)?;
    let enc = Encoding {
        output,
        pretty: req.query.flag("pretty").unwrap_or(false),
        include: IncludeObject::parse(req.query.get("includeObject")),
    };
    match info.verb.as_str() {
        "get" => {
            let name = info.name.as_deref().unwrap_or("");
            if !COMPONENTS.iter().any(|(n, _)| *n == name) && name != "etcd-0" {
                return Err(ApiError::not_found("componentstatus", "", name));
            }
            let found = statuses(app)
                .await
                .into_iter()
                .find(|s| s["metadata"]["name"] == name)
                .ok_or_else(|| ApiError::not_found("componentstatus", "", name))?;
            Ok(encode::object_response(200, def, &as_cached(found), enc))
        }
        "list" => {
            let opts = ListOptions::from_query(&req.query, false)?;
            for r in &opts.field_selector.requirements {
                if !matches!(r.field.as_str(), "metadata.name" | "metadata.namespace") {
                    return Err(ApiError::bad_request(format!(
                        "\"{}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                        r.field
                    )));
                }
            }
            let items = statuses(app)
                .await
                .into_iter()
                .filter(|s| {
                    let name = s["metadata"]["name"].as_str().unwrap_or("").to_string();
                    opts.label_selector.matches(None)
                        && opts.field_selector.matches(|f| match f {
                            "metadata.name" => Some(name.clone()),
                            "metadata.namespace" => Some(String::new()),
                            _ => None,
                        })
                })
                .map(as_cached)
                .collect();
            let list = ListResult {
                revision: 0,
                items,
                continue_token: None,
                remaining: None,
            };
            Ok(encode::list_response(def, list, enc))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    }
}
