//! ImagePolicyWebhook: pods (and `pods/ephemeralcontainers` updates) are allowed only when an
//! external backend approves their images. The backend is named by a kubeconfig and receives
//! an `imagepolicy.k8s.io/v1alpha1` ImageReview; decisions are cached (allowTTL/denyTTL),
//! calls are retried with exponential backoff, and `defaultAllow` decides when the backend
//! fails. Configuration (upstream's format):
//!
//! ```yaml
//! imagePolicy:
//!   kubeConfigFile: /etc/kubernetes/image-policy.kubeconfig
//!   allowTTL: 50        # seconds (0: default 5m, -1: no caching)
//!   denyTTL: 50         # seconds (0: default 30s, -1: no caching)
//!   retryBackoff: 500   # milliseconds (0: default 500ms, -1: no backoff)
//!   defaultAllow: true
//! ```

use crate::admission::lru::{get_live, ExpiringLru, Lru};
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::{ApiError, ApiResult};
use crate::outbound::kubeconfig::Server;
use crate::util::json::JsonExt;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Audit annotations this plugin adds: `imagepolicywebhook.image-policy.k8s.io/<key>`.
pub const AUDIT_PREFIX: &str = "imagepolicywebhook.image-policy.k8s.io/";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CACHE_SIZE: usize = 1024;

pub struct ImagePolicyWebhook {
    backend: Server,
    allow_ttl: Duration,
    deny_ttl: Duration,
    retry_backoff: Duration,
    default_allow: bool,
    cache: Mutex<ExpiringLru<Value>>,
}

/// Upstream's `normalizeConfigDuration`: -1 disables, 0 takes the default, other values are
/// in `scale` units and must lie within `[min, max]`.
fn duration(
    name_value: Option<&Value>,
    field: &str,
    scale: Duration,
    min: Duration,
    max: Duration,
    default: Duration,
) -> Result<Duration, String> {
    let v = match name_value {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| {
            format!("json: cannot unmarshal {v} into Go struct field imagePolicyWebhookConfig.imagePolicy.{field} of type time.Duration")
        })?,
    };
    match v {
        -1 => Ok(Duration::ZERO),
        0 => Ok(default),
        n => {
            let ns = i128::from(n) * scale.as_nanos() as i128;
            let (lo, hi) = (min.as_nanos() as i128, max.as_nanos() as i128);
            let fmt = |x: i128| crate::util::go_duration(x.clamp(i64::MIN.into(), i64::MAX.into()) as i64);
            if ns < lo || ns > hi {
                return Err(format!(
                    "valid value is between {} and {}, got {}",
                    fmt(lo),
                    fmt(hi),
                    fmt(ns)
                ));
            }
            Ok(Duration::from_nanos(ns as u64))
        }
    }
}

impl ImagePolicyWebhook {
    /// From the plugin's configuration; none, or an invalid one, is refused with upstream's
    /// message.
    pub fn new(config: Option<&Value>) -> Result<ImagePolicyWebhook, String> {
        let Some(cfg) = config.filter(|c| !c.is_null()) else {
            return Err("no config specified".into());
        };
        // Go's JSON decoding matches field names case-insensitively.
        let get = |o: &Value, k: &str| -> Option<Value> {
            o.as_object()?
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let wh = get(cfg, "imagePolicy").unwrap_or(Value::Null);
        let s = Duration::from_secs;
        let retry_backoff = duration(
            get(&wh, "retryBackoff").as_ref(),
            "retryBackoff",
            Duration::from_millis(1),
            Duration::from_nanos(1),
            s(300),
            Duration::from_millis(500),
        )?;
        let allow_ttl = duration(get(&wh, "allowTTL").as_ref(), "allowTTL", s(1), s(1), s(1800), s(300))?;
        let deny_ttl = duration(get(&wh, "denyTTL").as_ref(), "denyTTL", s(1), s(1), s(1800), s(30))?;
        let default_allow = match get(&wh, "defaultAllow") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(v) => {
                return Err(format!(
                    "json: cannot unmarshal {v} into Go struct field imagePolicyWebhookConfig.imagePolicy.defaultAllow of type bool"
                ))
            }
        };
        let file = get(&wh, "kubeConfigFile")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if file.is_empty() {
            return Err(
                "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable"
                    .into(),
            );
        }
        let backend = crate::outbound::kubeconfig::load(std::path::Path::new(&file))?;
        Ok(ImagePolicyWebhook {
            backend,
            allow_ttl,
            deny_ttl,
            retry_backoff,
            default_allow,
            cache: Mutex::new(Lru::new(CACHE_SIZE)),
        })
    }
}

/// The ImageReview spec for a pod write: containers then init containers (or only the
/// ephemeral containers for `pods/ephemeralcontainers`), the `*.image-policy.k8s.io/*`
/// annotations, the namespace — fields omitted when empty, as Go encodes them.
pub fn review_spec(pod: &Value, subresource: &str, namespace: &str) -> Value {
    let lists: &[&str] = if subresource.is_empty() {
        &["containers", "initContainers"]
    } else {
        &["ephemeralContainers"]
    };
    let containers: Vec<Value> = lists
        .iter()
        .filter_map(|l| pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array))
        .flatten()
        .map(|c| {
            let image = c.str_of("image");
            if image.is_empty() {
                json!({})
            } else {
                json!({"image": image})
            }
        })
        .collect();
    let annotations: Map<String, Value> = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.contains(".image-policy.k8s.io/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut spec = Map::new();
    if !containers.is_empty() {
        spec.insert("containers".into(), Value::Array(containers));
    }
    if !annotations.is_empty() {
        spec.insert("annotations".into(), Value::Object(annotations));
    }
    if !namespace.is_empty() {
        spec.insert("namespace".into(), json!(namespace));
    }
    Value::Object(spec)
}

/// client-go's error for a non-2xx answer (`NewGenericServerResponse`), and whether the
/// webhook client retries it (500/504/429, or a Retry-After).
fn server_response_error(code: u16, headers: &http::HeaderMap, body: &Bytes) -> (String, bool) {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let text = ct.is_empty() || ct.starts_with("text/");
    let server_msg = if text {
        String::from_utf8_lossy(&body[..body.len().min(1024)])
            .trim()
            .to_string()
    } else {
        "unknown".to_string()
    };
    let retry_after = headers.contains_key(http::header::RETRY_AFTER);
    let (msg, retry) = match code {
        409 => ("the server reported a conflict".to_string(), false),
        404 => ("the server could not find the requested resource".into(), false),
        400 => ("the server rejected our request for an unknown reason".into(), false),
        401 => (
            "the server has asked for the client to provide credentials".into(),
            false,
        ),
        403 => (server_msg, false),
        405 => (
            "the server does not allow this method on the requested resource".into(),
            false,
        ),
        422 => (
            "the server rejected our request due to an error in our request".into(),
            false,
        ),
        503 => ("the server is currently unable to handle the request".into(), false),
        504 => (
            "the server was unable to return a response in the time allotted, but may still be processing the request"
                .into(),
            true,
        ),
        429 => (
            "the server has received too many requests and has asked us to try again later".into(),
            true,
        ),
        c if c >= 500 => (
            format!(
                "an error on the server ({}) has prevented the request from succeeding",
                crate::util::go_quote(&server_msg)
            ),
            true,
        ),
        c => (
            format!("the server responded with the status code {c} but did not return more information"),
            false,
        ),
    };
    (msg, retry || retry_after)
}

impl ImagePolicyWebhook {
    /// One POST; Err((message, retryable)).
    async fn post_once(&self, body: &Bytes) -> Result<Value, (String, bool)> {
        let b = &self.backend;
        let mut headers = Vec::new();
        if let Some(t) = &b.token {
            headers.push((http::header::AUTHORIZATION, format!("Bearer {t}")));
        }
        let addr = b.addr();
        let tls = b.tls.clone().map(|cfg| (b.host.as_str(), cfg));
        let call = crate::outbound::webhook::post(&addr, tls, &b.path, &headers, body.clone());
        let (code, resp_headers, bytes) = match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
            Err(_) => {
                return Err((
                    format!(
                        "Post {:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                        b.url
                    ),
                    false,
                ))
            }
            Ok(Err(e)) => {
                let reset = e.contains("connection reset");
                return Err((format!("Post {:?}: {e}", b.url), reset));
            }
            Ok(Ok(r)) => r,
        };
        if !(200..300).contains(&code) {
            return Err(server_response_error(code, &resp_headers, &bytes));
        }
        serde_json::from_slice::<Value>(&bytes).map_err(|e| (e.to_string(), false))
    }

    /// The backend's answer, retried as upstream's GenericWebhook (5 tries, backoff ×1.5
    /// with 20% jitter) while the error is transient.
    async fn call(&self, review: &Value) -> Result<Value, String> {
        let body = Bytes::from(review.to_string());
        let mut wait = self.retry_backoff;
        let mut last = String::new();
        for step in 0..5 {
            if step > 0 && !wait.is_zero() {
                let jitter = rand::random::<f64>() * 0.2;
                tokio::time::sleep(wait.mul_f64(1.0 + jitter)).await;
                wait = wait.mul_f64(1.5);
            }
            match self.post_once(&body).await {
                Ok(v) => return Ok(v),
                Err((e, true)) => last = e,
                Err((e, false)) => return Err(e),
            }
        }
        Err(last)
    }

    /// The backend's status for this spec: from the cache, or asked (and cached).
    async fn status(&self, spec: &Value) -> Result<Value, String> {
        let key = spec.to_string();
        if let Some(s) = get_live(
            &mut self.cache.lock().unwrap_or_else(|e| e.into_inner()),
            &key,
            Instant::now(),
        ) {
            return Ok(s);
        }
        let review = json!({
            "kind": "ImageReview",
            "apiVersion": "imagepolicy.k8s.io/v1alpha1",
            "metadata": {"creationTimestamp": null},
            "spec": spec,
            "status": {"allowed": false},
        });
        let answer = self.call(&review).await?;
        let status = answer.get("status").cloned().unwrap_or_else(|| json!({}));
        let allowed = status.get("allowed").and_then(Value::as_bool) == Some(true);
        let ttl = if allowed { self.allow_ttl } else { self.deny_ttl };
        if !ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.insert(&key, (status.clone(), Instant::now() + ttl));
        }
        Ok(status)
    }
}

#[async_trait::async_trait]
impl Plugin for ImagePolicyWebhook {
    fn name(&self) -> &'static str {
        "ImagePolicyWebhook"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        let sub = a.subresource.as_str();
        if !a.is_core("Pod")
            || !(sub.is_empty() || sub == "ephemeralcontainers")
            || !matches!(a.operation, Operation::Create | Operation::Update)
        {
            return Ok(());
        }
        let Some(pod) = a.object.as_ref() else {
            return Err(ApiError::bad_request(
                "Resource was marked with kind Pod but was unable to be converted",
            ));
        };
        let spec = review_spec(pod, sub, &a.namespace);
        let status = match self.status(&spec).await {
            Ok(s) => s,
            Err(e) if self.default_allow => {
                tracing::info!(error = %e, "image policy webhook backend failed; allowed by defaultAllow");
                env.ctx.annotate(format!("{AUDIT_PREFIX}failed-open"), "true");
                return Ok(());
            }
            Err(e) => return Err(a.forbidden(&e)),
        };
        for (k, v) in status
            .get("auditAnnotations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            env.ctx
                .annotate(format!("{AUDIT_PREFIX}{k}"), v.as_str().unwrap_or_default());
        }
        if status.get("allowed").and_then(Value::as_bool) == Some(true) {
            return Ok(());
        }
        let reason = status.str_of("reason");
        Err(a.forbidden(&if reason.is_empty() {
            "one or more images rejected by webhook backend".to_string()
        } else {
            format!("image policy webhook backend denied one or more images: {reason}")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(dir: &std::path::Path) -> String {
        let p = dir.join("kc.yaml");
        std::fs::write(
            &p,
            "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1/review'}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user: {}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        p.to_string_lossy().into_owned()
    }

    /// Upstream's TestConfigNormalization and NewImagePolicyWebhook errors.
    #[test]
    fn configuration() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let kc = kubeconfig(dir.path());
        assert_eq!(
            ImagePolicyWebhook::new(None).err().as_deref(),
            Some("no config specified")
        );
        let p = ImagePolicyWebhook::new(Some(&json!({"imagePolicy": {"kubeConfigFile": kc}})))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.allow_ttl, p.deny_ttl, p.retry_backoff, p.default_allow),
            (
                Duration::from_secs(300),
                Duration::from_secs(30),
                Duration::from_millis(500),
                false
            )
        );
        let p = ImagePolicyWebhook::new(Some(&json!({"ImagePolicy": {"kubeConfigFile": kc, "allowTTL": -1, "denyTTL": 20, "retryBackoff": -1, "defaultAllow": true}})))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.allow_ttl, p.deny_ttl, p.retry_backoff, p.default_allow),
            (Duration::ZERO, Duration::from_secs(20), Duration::ZERO, true)
        );
        let bad = |k: &str, v: i64| {
            ImagePolicyWebhook::new(Some(&json!({"imagePolicy": {"kubeConfigFile": kc, k: v}})))
                .err()
                .unwrap_or_default()
        };
        assert_eq!(bad("allowTTL", 3600), "valid value is between 1s and 30m0s, got 1h0m0s");
        assert_eq!(bad("denyTTL", -5), "valid value is between 1s and 30m0s, got -5s");
        assert_eq!(
            bad("retryBackoff", 400_000),
            "valid value is between 1ns and 5m0s, got 6m40s"
        );
        let e = ImagePolicyWebhook::new(Some(&json!({"imagePolicy": {"kubeConfigFile": "/nonexistent/kc"}})))
            .err()
            .unwrap_or_default();
        assert_eq!(e, "stat /nonexistent/kc: no such file or directory");
    }

    #[test]
    fn review_specs() {
        let pod = json!({"metadata": {"annotations": {"a.image-policy.k8s.io/x": "1", "other": "2"}},
            "spec": {"initContainers": [{"image": "init"}], "containers": [{"image": "app"}], "ephemeralContainers": [{"image": "dbg"}]}});
        assert_eq!(
            review_spec(&pod, "", "ns"),
            json!({"containers": [{"image": "app"}, {"image": "init"}], "annotations": {"a.image-policy.k8s.io/x": "1"}, "namespace": "ns"})
        );
        assert_eq!(
            review_spec(&pod, "ephemeralcontainers", "ns"),
            json!({"containers": [{"image": "dbg"}], "annotations": {"a.image-policy.k8s.io/x": "1"}, "namespace": "ns"})
        );
    }

    #[test]
    fn backend_errors_read_like_client_go() {
        let h = http::HeaderMap::new();
        assert_eq!(
            server_response_error(500, &h, &Bytes::from_static(b"boom\n")),
            (
                "an error on the server (\"boom\") has prevented the request from succeeding".to_string(),
                true
            )
        );
        assert_eq!(
            server_response_error(403, &h, &Bytes::from_static(b"no")),
            ("no".to_string(), false)
        );
        assert!(server_response_error(429, &h, &Bytes::new()).1);
    }
}
