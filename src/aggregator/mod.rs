//! The aggregation layer (kube-aggregator, `apiregistration.k8s.io/v1`): APIServices that name a
//! Service are proxied to that extension API server (`proxy`), their groups join discovery
//! (`discovery`), an availability controller keeps `status.conditions[Available]` (`available`)
//! and the built-in group/versions get local APIServices on start (`autoregister`).
//!
//! State is a snapshot of the stored APIServices (refreshed by the controller) plus the
//! discovery documents fetched from each backend during its health check.

pub mod autoregister;
pub mod available;
pub mod discovery;
pub mod frontproxy;
pub mod proxy;

use crate::config::ServeOptions;
use crate::error::ApiResult;
use crate::registry::Registry;
use crate::request::Request;
use crate::util::json::JsonExt;
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use warp::reply::Response;

/// The APIServices resource's storage segment.
pub const SEGMENT: &str = "apiregistration.k8s.io/apiservices";

/// The service an APIService points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    pub port: u16,
}

/// One APIService as the aggregator uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiService {
    pub name: String,
    pub group: String,
    pub version: String,
    pub group_priority: i64,
    pub version_priority: i64,
    /// None: served locally.
    pub service: Option<ServiceRef>,
    pub ca_bundle: Option<Vec<u8>>,
    pub insecure: bool,
    /// `status.conditions[Available]` is True.
    pub available: bool,
    pub resource_version: String,
}

impl ApiService {
    pub fn from_value(v: &Value) -> Option<ApiService> {
        let s = |p: &str| v.str_at(p).to_string();
        let name = s("/metadata/name");
        if name.is_empty() {
            return None;
        }
        let service = v
            .pointer("/spec/service")
            .filter(|x| x.is_object())
            .map(|svc| ServiceRef {
                namespace: svc.str_of("namespace").to_string(),
                name: svc.str_of("name").to_string(),
                port: svc.get("port").and_then(Value::as_u64).unwrap_or(443) as u16,
            });
        let ca_bundle = v.opt_str_at("/spec/caBundle").filter(|b| !b.is_empty()).and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        });
        let available = v.arr_at("/status/conditions").iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Available")
                && c.get("status").and_then(Value::as_str) == Some("True")
        });
        Some(ApiService {
            name,
            group: s("/spec/group"),
            version: s("/spec/version"),
            group_priority: v.i64_at("/spec/groupPriorityMinimum").unwrap_or(0),
            version_priority: v.i64_at("/spec/versionPriority").unwrap_or(0),
            service,
            ca_bundle,
            insecure: v.bool_at("/spec/insecureSkipTLSVerify").unwrap_or(false),
            available,
            resource_version: s("/metadata/resourceVersion"),
        })
    }
}

#[derive(Default)]
struct State {
    services: Vec<ApiService>,
    /// (group, version) → index in `services` of the service-backed ones: every resource
    /// request asks whether its group/version is remote.
    remote: HashMap<(String, String), usize>,
    /// (group, version) → the backend's `APIResourceList`, from its last successful check.
    discovery: HashMap<(String, String), Value>,
    /// Bumped on every change, so merged discovery documents know when to re-render.
    generation: u64,
}

/// The aggregator's settings and state (one per server).
pub struct Aggregator {
    /// `--enable-aggregator-routing`: endpoints instead of the ClusterIP.
    pub routing: bool,
    /// `--aggregator-reject-forwarding-redirect` (default true): a redirect from an aggregated
    /// API server is not passed on to the client.
    pub reject_redirects: bool,
    /// `--proxy-client-cert-file`/`--proxy-client-key-file` (PEM chain, PEM key).
    identity: Option<(Vec<u8>, Vec<u8>)>,
    state: RwLock<State>,
    merged: discovery::MergedCache,
    /// The data of `kube-system/extension-apiserver-authentication`.
    authentication: serde_json::Map<String, Value>,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

impl Aggregator {
    pub fn from_options(opts: &ServeOptions) -> anyhow::Result<Aggregator> {
        let identity = match (
            opts.get_path("proxy-client.cert-file"),
            opts.get_path("proxy-client.key-file"),
        ) {
            (Some(c), Some(k)) => Some((read(&c)?, read(&k)?)),
            (None, None) => None,
            _ => anyhow::bail!("--proxy-client-cert-file and --proxy-client-key-file must be given together"),
        };
        // A server that bootstraps its own PKI also gets kubeadm's front-proxy pair.
        let mut generated_ca = None;
        let identity = match identity {
            None if opts.tls_cert_file.is_none() && opts.tls_private_key_file.is_none() => {
                let fp = frontproxy::ensure(&opts.data_dir())?;
                generated_ca = Some(fp.ca.clone());
                Some((read(&fp.client_cert)?, read(&fp.client_key)?))
            }
            other => other,
        };
        let mut agg = Aggregator::new(opts.get_bool("enable-aggregator-routing"), identity);
        agg.reject_redirects = opts.get_bool("aggregator-reject-forwarding-redirect");
        agg.authentication = frontproxy::authentication_data(opts, generated_ca.as_deref());
        // Fail at start on unreadable PEM, not on the first proxied request.
        agg.client_config(None, true, "check")?;
        Ok(agg)
    }

    pub fn new(routing: bool, identity: Option<(Vec<u8>, Vec<u8>)>) -> Aggregator {
        Aggregator {
            routing,
            reject_redirects: true,
            identity,
            state: RwLock::new(State::default()),
            merged: discovery::MergedCache::default(),
            authentication: serde_json::Map::new(),
        }
    }

    /// The remote (service-backed) APIService serving `group/version`, if any.
    pub fn remote(&self, group: &str, version: &str) -> Option<ApiService> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        if st.remote.is_empty() {
            return None;
        }
        let i = *st.remote.get(&(group.to_string(), version.to_string()))?;
        st.services.get(i).cloned()
    }

    /// All known APIServices.
    pub fn services(&self) -> Vec<ApiService> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).services.clone()
    }

    fn generation(&self) -> u64 {
        self.state.read().unwrap_or_else(|e| e.into_inner()).generation
    }

    /// Replace the APIService snapshot (and forget discovery of gone backends).
    pub fn set_services(&self, services: Vec<ApiService>) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if st.services == services {
            return;
        }
        st.discovery.retain(|(g, v), _| {
            services
                .iter()
                .any(|s| &s.group == g && &s.version == v && s.service.is_some())
        });
        st.remote = services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.service.is_some())
            .map(|(i, s)| ((s.group.clone(), s.version.clone()), i))
            .collect();
        st.services = services;
        st.generation += 1;
    }

    /// Record the availability of one APIService (and its backend's discovery document).
    pub fn set_available(&self, name: &str, available: bool, doc: Option<Value>) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        let mut gv = None;
        if let Some(s) = st.services.iter_mut().find(|s| s.name == name) {
            changed |= s.available != available;
            s.available = available;
            gv = Some((s.group.clone(), s.version.clone()));
        }
        if let (Some(gv), Some(doc)) = (gv, doc) {
            if st.discovery.get(&gv) != Some(&doc) {
                st.discovery.insert(gv, doc);
                changed = true;
            }
        }
        if changed {
            st.generation += 1;
        }
    }

    fn discovery_doc(&self, group: &str, version: &str) -> Option<Value> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        st.discovery.get(&(group.to_string(), version.to_string())).cloned()
    }

    /// TLS toward a backend: verified with `ca` (server name `<svc>.<ns>.svc`) unless
    /// `insecure`, presenting the proxy client certificate when one is configured.
    pub fn client_config(&self, ca: Option<&[u8]>, insecure: bool, what: &str) -> anyhow::Result<rustls::ClientConfig> {
        tls::client_config(ca, insecure, self.identity.as_ref(), what)
    }
}

mod tls;

/// Start the aggregator: local APIServices for the built-ins, then the availability controller
/// (its first pass runs before we report ready).
pub async fn start(reg: Registry, agg: Arc<Aggregator>) -> anyhow::Result<()> {
    autoregister::ensure(&reg).await?;
    frontproxy::publish(&reg, agg.authentication.clone()).await;
    available::start(reg, agg).await;
    Ok(())
}

impl Aggregator {
    /// `/apis/<group>` and `/apis/<group>/<version>` of service-backed APIServices: the group
    /// document, or the request proxied. None: not an aggregated group.
    pub async fn non_resource(&self, reg: &Registry, req: &Request) -> Option<ApiResult<Response>> {
        let segs: Vec<&str> = req.path.trim_end_matches('/').trim_matches('/').split('/').collect();
        match segs.as_slice() {
            ["apis", group] => {
                let doc = discovery::group_doc(self, group)?;
                Some(Ok(crate::codec::encode::bytes_response(200, "application/json", doc)))
            }
            ["apis", group, version] => {
                let svc = self.remote(group, version)?;
                Some(Ok(proxy::serve(reg, self, req, &svc).await))
            }
            _ => None,
        }
    }

    /// Proxy a request to the backend of the service-backed APIService `svc`.
    pub async fn proxy(&self, reg: &Registry, req: &Request, svc: &ApiService) -> Response {
        proxy::serve(reg, self, req, svc).await
    }

    /// The `/apis` group list (legacy) with APIService ordering and remote groups.
    pub fn group_list(&self, local: &Bytes) -> Bytes {
        discovery::group_list(self, local)
    }

    /// The aggregated `/apis` document (`/api` is never aggregated).
    pub fn aggregated(&self, root: &str, version: &str, local: &(Bytes, String)) -> (Bytes, String) {
        if root == "apis" {
            discovery::aggregated(self, local, version)
        } else {
            local.clone()
        }
    }
}
