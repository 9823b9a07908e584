//! The availability controller (upstream's local and remote `AvailableConditionController`):
//! keeps `status.conditions[type=Available]` of every APIService. Local ones are always
//! available; a service-backed one must have its Service, a ready endpoint on the port, and
//! answer `GET /apis/<group>/<version>` (which also gives us its discovery document).
//! Re-checked when APIServices, Services or endpoints change, and every 10s.

use super::proxy::{connect, join_host_port, ready_endpoints, resolve, set_user_headers};
use super::{Aggregator, ApiService, ServiceRef, SEGMENT};
use crate::outbound::send_http1;
use crate::registry::store::Part;
use crate::registry::Registry;
use crate::util::json::JsonExt;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often every APIService is checked again, whatever changed.
pub const RESYNC: Duration = Duration::from_secs(10);
/// How often the watched objects are compared for changes.
const POLL: Duration = Duration::from_millis(300);
/// The discovery probe's bound (upstream: 5s client timeout).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery document kept from a backend.
const MAX_DOC: usize = 4 << 20;

/// The outcome of one check: the Available condition's status, reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

impl Verdict {
    fn new(ok: bool, reason: &str, message: String) -> Verdict {
        Verdict {
            status: if ok { "True" } else { "False" },
            reason: reason.to_string(),
            message,
        }
    }
}

/// The stored APIServices (from the watch cache).
fn stored(reg: &Registry) -> Vec<Arc<crate::storage::cache::CachedObject>> {
    reg.caches
        .cache(SEGMENT)
        .snapshot(&format!("/registry/{SEGMENT}/"))
        .items
}

/// A cheap fingerprint of everything a check depends on: the APIServices and the Services,
/// EndpointSlices and Endpoints of the namespaces they point into.
fn fingerprint(reg: &Registry, services: &[ApiService]) -> Vec<(String, i64)> {
    let mut fp: Vec<(String, i64)> = stored(reg).iter().map(|o| (o.key.clone(), o.revision)).collect();
    let mut namespaces: Vec<&str> = services
        .iter()
        .filter_map(|s| s.service.as_ref().map(|r| r.namespace.as_str()))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    for (g, plural) in [
        ("", "services"),
        ("discovery.k8s.io", "endpointslices"),
        ("", "endpoints"),
    ] {
        let Some(def) = crate::api::builtin_row(g, plural) else {
            continue;
        };
        for ns in &namespaces {
            let prefix = reg.key_prefix(def, Some(ns));
            let snap = reg.caches.cache(def.storage).snapshot(&prefix);
            fp.extend(snap.items.iter().map(|o| (o.key.clone(), o.revision)));
        }
    }
    fp
}

/// Run the controller: one pass now (so local APIServices are Available before we report
/// ready), then follow changes.
pub async fn start(reg: Registry, agg: Arc<Aggregator>) {
    let mut last = Memory::default();
    pass(&reg, &agg, &mut last).await;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            pass(&reg, &agg, &mut last).await;
        }
    });
}

/// What the previous pass saw.
#[derive(Default)]
struct Memory {
    /// Fingerprint of the checked objects and when the checks ran.
    checked: Option<(Vec<(String, i64)>, Instant)>,
    /// Fingerprint of the CRDs whose APIServices are registered.
    crds: Vec<(String, i64)>,
}

async fn pass(reg: &Registry, agg: &Arc<Aggregator>, last: &mut Memory) {
    super::autoregister::sync_crds(reg, &mut last.crds).await;
    let objs = stored(reg);
    let services: Vec<ApiService> = objs.iter().filter_map(|o| ApiService::from_value(&o.value())).collect();
    agg.set_services(services.clone());
    let fp = fingerprint(reg, &services);
    if let Some((old, at)) = last.checked.as_ref() {
        if *old == fp && at.elapsed() < RESYNC {
            return;
        }
    }
    last.checked = Some((fp, Instant::now()));
    let checks = objs.iter().map(|o| {
        let reg = reg.clone();
        let agg = agg.clone();
        async move {
            let stored = o.value();
            let Some(svc) = ApiService::from_value(&stored) else {
                return;
            };
            let (verdict, doc) = match &svc.service {
                None => (
                    Verdict::new(true, "Local", "Local APIServices are always available".into()),
                    None,
                ),
                Some(r) => check(&reg, &agg, &svc, r).await,
            };
            agg.set_available(&svc.name, verdict.status == "True", doc);
            write_status(&reg, &stored, &verdict).await;
        }
    });
    futures_util::future::join_all(checks).await;
}

/// Store the Available condition when it changed (lastTransitionTime moves only with the status).
async fn write_status(reg: &Registry, obj: &Value, v: &Verdict) {
    let conds = obj.arr_at("/status/conditions").to_vec();
    let old = conds.iter().find(|c| c.str_at("/type") == "Available");
    if let Some(o) = old {
        if o.str_at("/status") == v.status && o.str_at("/reason") == v.reason && o.str_at("/message") == v.message {
            return;
        }
    }
    let time = match old {
        Some(o) if o.str_at("/status") == v.status => o.get("lastTransitionTime").cloned().unwrap_or(Value::Null),
        _ => json!(crate::util::now_rfc3339()),
    };
    let cond = json!({"type": "Available", "status": v.status, "lastTransitionTime": time, "reason": v.reason, "message": v.message});
    let mut others: Vec<Value> = conds.into_iter().filter(|c| c.str_at("/type") != "Available").collect();
    others.insert(0, cond);
    let mut next = obj.clone();
    next["status"] = json!({"conditions": others});
    let Some(def) = crate::api::builtin_row("apiregistration.k8s.io", "apiservices") else {
        return;
    };
    let name = obj.str_at("/metadata/name").to_string();
    if let Err(e) = reg.update(def, None, &name, next, Part::Status, false, None).await {
        // A conflict means someone changed it: the next pass sees the new object.
        tracing::debug!(apiservice = %name, error = %e.message, "cannot update APIService status");
    } else if v.status != "True" {
        tracing::info!(apiservice = %name, reason = %v.reason, message = %v.message, "APIService not available");
    }
}

/// Whether any EndpointSlice (or, for servers without slice mirroring, an Endpoints object)
/// belongs to the service.
async fn has_endpoint_objects(reg: &Registry, r: &ServiceRef) -> bool {
    if let Some(def) = crate::api::builtin_row("discovery.k8s.io", "endpointslices") {
        let prefix = reg.key_prefix(def, Some(&r.namespace));
        let snap = reg.caches.cache(def.storage).snapshot(&prefix);
        if snap
            .items
            .iter()
            .any(|o| o.attrs.label("kubernetes.io/service-name") == Some(r.name.as_str()))
        {
            return true;
        }
    }
    match crate::api::builtin_row("", "endpoints") {
        Some(def) => reg.get(def, Some(&r.namespace), &r.name, Some(0)).await.is_ok(),
        None => false,
    }
}

/// Upstream's remote checks, in order; on success the backend's discovery document.
pub async fn check(reg: &Registry, agg: &Aggregator, svc: &ApiService, r: &ServiceRef) -> (Verdict, Option<Value>) {
    let fail = |reason: &str, message: String| (Verdict::new(false, reason, message), None);
    let def = crate::api::builtin_row("", "services");
    let service = match def {
        Some(d) => reg.get(d, Some(&r.namespace), &r.name, Some(0)).await.ok(),
        None => None,
    };
    let Some(service) = service.map(|s| s.value()) else {
        return fail(
            "ServiceNotFound",
            format!("service/{} in \"{}\" is not present", r.name, r.namespace),
        );
    };
    if matches!(service.str_at("/spec/type"), "" | "ClusterIP") {
        let port = service
            .arr_at("/spec/ports")
            .iter()
            .find(|p| p.get("port").and_then(Value::as_u64) == Some(r.port as u64));
        let Some(port) = port else {
            return fail(
                "ServicePortError",
                format!(
                    "service/{} in \"{}\" is not listening on port {}",
                    r.name, r.namespace, r.port
                ),
            );
        };
        let port_name = port.str_at("/name");
        if !has_endpoint_objects(reg, r).await {
            return fail(
                "EndpointsNotFound",
                format!(
                    "cannot find endpointslices for service/{} in \"{}\"",
                    r.name, r.namespace
                ),
            );
        }
        if ready_endpoints(reg, &r.namespace, &r.name, port_name).await.is_empty() {
            return fail(
                "MissingEndpoints",
                format!(
                    "endpointslices for service/{} in \"{}\" have no addresses with port name \"{port_name}\"",
                    r.name, r.namespace
                ),
            );
        }
    }
    match probe(reg, agg, svc, r).await {
        Ok(doc) => (Verdict::new(true, "Passed", "all checks passed".into()), doc),
        Err(e) => fail("FailedDiscoveryCheck", e),
    }
}

/// `GET /apis/<group>/<version>` as `system:kube-aggregator` (group system:masters), without
/// verifying the server (as upstream), with the proxy client certificate.
async fn probe(reg: &Registry, agg: &Aggregator, svc: &ApiService, r: &ServiceRef) -> Result<Option<Value>, String> {
    let (host, port) = resolve(reg, agg.routing, r).await?;
    let path = if svc.name == "v1." {
        format!("/api/{}", svc.version)
    } else {
        format!("/apis/{}/{}", svc.group, svc.version)
    };
    let url = format!("https://{}{path}", join_host_port(&host, port));
    let tls = agg
        .client_config(None, true, &svc.name)
        .map_err(|e| format!("failing or missing response from {url}: {e}"))?;
    let work = async {
        let server_name = format!("{}.{}.svc", r.name, r.namespace);
        let io = connect(&host, port, &server_name, Arc::new(tls), PROBE_TIMEOUT).await?;
        let mut req = http::Request::builder()
            .method("GET")
            .uri(&path)
            .header("host", join_host_port(&host, port))
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        set_user_headers(
            req.headers_mut(),
            "system:kube-aggregator",
            &["system:masters".into()],
            &[],
        );
        let resp = send_http1(io, req, "aggregated API connection").await?;
        let code = resp.status().as_u16();
        if !(200..300).contains(&code) {
            return Err(format!("bad status from {url}: {code}"));
        }
        let body = http_body_util::Limited::new(resp.into_body(), MAX_DOC)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok(serde_json::from_slice::<Value>(&body)
            .ok()
            .filter(|d| d.get("resources").is_some()))
    };
    match tokio::time::timeout(PROBE_TIMEOUT + Duration::from_secs(1), work).await {
        Err(_) => Err(format!("timed out waiting for {url}")),
        Ok(Err(e)) if e.starts_with("bad status") => Err(format!("failing or missing response from {url}: {e}")),
        Ok(Err(e)) => Err(format!("failing or missing response from {url}: Get \"{url}\": {e}")),
        Ok(Ok(doc)) => Ok(doc),
    }
}
