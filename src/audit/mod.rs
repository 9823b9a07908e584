//! Auditing (`audit.k8s.io/v1`): the policy decides a level per request, the handler builds
//! one [`Event`] per request and emits it at each stage, and the log backend writes it.
//!
//! Each backend (log, webhook) has its own truncation (`--audit-<backend>-truncate-*`). The
//! handler adds the authorization decision, impersonated user and admission annotations as the
//! request passes those filters. The policy is reloaded when its file changes.

pub mod log;
pub mod policy;
pub mod webhook;

use crate::config::ServeOptions;
use policy::{Attributes, Decision, Level, Policy, Stage};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `audit.k8s.io/v1` Event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub level: &'static str,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: &'static str,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: String,
    pub user: User,
    #[serde(rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    pub request_received_timestamp: String,
    pub stage_timestamp: String,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub annotations: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct User {
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

impl From<&crate::request::UserInfo> for User {
    fn from(u: &crate::request::UserInfo) -> User {
        User {
            username: u.name.clone(),
            uid: u.uid.clone(),
            groups: u.groups.clone(),
            extra: u.extra.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// What the handler knows about a request when it arrives.
pub struct RequestMeta<'a> {
    pub audit_id: Option<&'a str>,
    pub uri: String,
    pub verb: &'a str,
    pub user: &'a str,
    pub groups: &'a [String],
    pub source_ips: Vec<String>,
    pub user_agent: &'a str,
    pub is_resource: bool,
    pub object_ref: ObjectRef,
    pub path: &'a str,
}

/// The configured auditing: policy plus backend.
pub struct Auditor {
    policy: std::sync::RwLock<Arc<Policy>>,
    backend: log::Backend,
    truncate: Option<Truncate>,
    /// `--audit-webhook-truncate-*`.
    webhook_truncate: Option<Truncate>,
    /// `--audit-log-format=legacy`: one text line per event instead of JSON (log backend only).
    legacy: bool,
    /// The webhook backend, if configured (JSON, does not count events twice).
    webhook: Option<log::Backend>,
}

/// `--audit-<backend>-truncate-*` (upstream `plugin/pkg/audit/truncate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncate {
    pub max_event_size: usize,
    pub max_batch_size: usize,
}

impl Truncate {
    /// Upstream's `AuditTruncateOptions.Validate` for `plugin` (`log` or `webhook`).
    pub fn new(plugin: &str, max_event_size: u64, max_batch_size: u64) -> Result<Truncate, String> {
        if max_event_size == 0 {
            return Err(format!(
                "invalid audit truncate {plugin} max event size {max_event_size}, must be a positive number"
            ));
        }
        if max_batch_size < max_event_size {
            return Err(format!(
                "invalid audit truncate {plugin} max batch size {max_batch_size}, must be greater than max event size ({max_event_size})"
            ));
        }
        Ok(Truncate {
            max_event_size: max_event_size as usize,
            max_batch_size: max_batch_size as usize,
        })
    }
}

/// The annotation upstream puts on an event whose objects were dropped to fit.
pub const TRUNCATED_ANNOTATION: &str = "audit.k8s.io/truncated";

impl Auditor {
    pub fn new(policy: Policy, backend: log::Backend, truncate: Option<Truncate>) -> Auditor {
        Auditor {
            policy: std::sync::RwLock::new(Arc::new(policy)),
            backend,
            truncate,
            webhook_truncate: None,
            legacy: false,
            webhook: None,
        }
    }

    /// Also send every event to `b` (the webhook backend).
    pub fn with_webhook(mut self, b: log::Backend) -> Auditor {
        self.webhook = Some(b.without_event_count());
        self
    }

    /// Write the legacy text format (`--audit-log-format=legacy`).
    pub fn with_legacy_format(mut self, legacy: bool) -> Auditor {
        self.legacy = legacy;
        self
    }

    fn current_policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-read the policy file; a broken policy keeps the old one.
    pub fn reload_policy(&self, path: &std::path::Path) -> Result<(), String> {
        let p = Policy::load(path)?;
        if let Ok(mut cur) = self.policy.write() {
            *cur = Arc::new(p);
        }
        Ok(())
    }

    /// Poll the policy file and reload it when it changes (every `every`; stops with the auditor).
    pub fn watch_policy(self: &Arc<Self>, path: std::path::PathBuf, every: Duration) {
        let weak = Arc::downgrade(self);
        let stamp = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
        let mut last = stamp(&path);
        let _ = std::thread::Builder::new()
            .name("audit-policy".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                let Some(a) = weak.upgrade() else {
                    return;
                };
                let now = stamp(&path);
                if now == last {
                    continue;
                }
                last = now;
                match a.reload_policy(&path) {
                    Ok(()) => tracing::info!("audit policy reloaded from {}", path.display()),
                    Err(e) => tracing::warn!("audit policy not reloaded, keeping the previous policy: {e}"),
                }
            });
    }

    /// From `--audit-policy-file` and `--audit-log-*`. None when auditing is off (no policy
    /// file, or no log path: the webhook backend is not implemented).
    pub fn from_options(
        opts: &ServeOptions,
        counters: Arc<crate::metrics::AuditCounters>,
    ) -> anyhow::Result<Option<Arc<Auditor>>> {
        let s = |k: &str| opts.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |k: &str, d: u64| opts.get(k).and_then(Value::as_u64).unwrap_or(d);
        let b = |k: &str, d: bool| opts.get(k).and_then(Value::as_bool).unwrap_or(d);
        let dur = |k: &str, d: Duration| -> anyhow::Result<Duration> {
            Ok(match opts.get(k) {
                Some(Value::String(v)) => crate::config::parse_duration(v).map_err(|e| anyhow::anyhow!("{k}: {e}"))?,
                Some(Value::Number(ns)) => Duration::from_secs(ns.as_u64().unwrap_or(0)),
                _ => d,
            })
        };
        let mode_of = |k: &str, d: log::Mode| -> anyhow::Result<log::Mode> {
            match s(k).as_str() {
                "" => Ok(d),
                m => log::Mode::parse(m).map_err(anyhow::Error::msg),
            }
        };
        // `<prefix>.batch-*` with upstream's per-backend defaults.
        let batch_of = |prefix: &str, max: u64, wait: Duration, throttle: bool, qps: f64, burst: u64| {
            anyhow::Ok(log::BatchConfig {
                buffer_size: n(&format!("{prefix}.batch-buffer-size"), 10000) as usize,
                max_size: n(&format!("{prefix}.batch-max-size"), max) as usize,
                max_wait: dur(&format!("{prefix}.batch-max-wait"), wait)?,
                throttle: b(&format!("{prefix}.batch-throttle-enable"), throttle).then(|| {
                    (
                        opts.get(&format!("{prefix}.batch-throttle-qps"))
                            .and_then(Value::as_f64)
                            .unwrap_or(qps),
                        n(&format!("{prefix}.batch-throttle-burst"), burst),
                    )
                }),
                max_bytes: None,
            })
        };
        let policy_file = s("audit.policy-file");
        let log_path = s("audit.log.path");
        let webhook_file = s("audit.webhook.config-file");
        if policy_file.is_empty() || (log_path.is_empty() && webhook_file.is_empty()) {
            return Ok(None);
        }
        let policy = Policy::load(std::path::Path::new(&policy_file)).map_err(anyhow::Error::msg)?;
        let legacy = match s("audit.log.format").as_str() {
            "" | "json" => false,
            "legacy" => true,
            f => anyhow::bail!("invalid audit log format {f:?}, allowed formats are \"legacy,json\""),
        };
        for (key, flag) in [
            ("audit.log.version", "--audit-log-version"),
            ("audit.webhook.version", "--audit-webhook-version"),
        ] {
            match s(key).as_str() {
                "" | "audit.k8s.io/v1" => {}
                v => anyhow::bail!("{flag}: unsupported audit API version {v:?}, supported: audit.k8s.io/v1"),
            }
        }
        let truncate_of = |plugin: &str| -> anyhow::Result<Option<Truncate>> {
            if !b(&format!("audit.{plugin}.truncate-enabled"), false) {
                return Ok(None);
            }
            Truncate::new(
                plugin,
                n(&format!("audit.{plugin}.truncate-max-event-size"), 102400),
                n(&format!("audit.{plugin}.truncate-max-batch-size"), 10485760),
            )
            .map(Some)
            .map_err(anyhow::Error::msg)
        };
        let truncate = truncate_of("log")?;
        let webhook_truncate = truncate_of("webhook")?;
        let backend = if log_path.is_empty() {
            // Webhook only: a log backend that is never written to would skew nothing, but keep
            // one so the Auditor shape stays simple.
            log::Backend::discard(counters.clone())
        } else {
            let mode = mode_of("audit.log.mode", log::Mode::Blocking)?;
            let mut batch = batch_of("audit.log", 1, Duration::ZERO, false, 0.0, 0)?;
            batch.max_bytes = truncate.map(|t| t.max_batch_size);
            if mode == log::Mode::Batch {
                batch.validate().map_err(anyhow::Error::msg)?;
            }
            let rot = log::Rotation {
                max_size_mb: n("audit.log.maxsize", 0),
                max_backups: n("audit.log.maxbackup", 0) as usize,
                max_age_days: n("audit.log.maxage", 0),
                compress: b("audit.log.compress", false),
            };
            let sink = log::LogFile::open(std::path::Path::new(&log_path), rot)
                .map_err(|e| anyhow::anyhow!("failed to open audit log file {log_path:?}: {e}"))?;
            tracing::info!("audit: policy {policy_file}, log {log_path}, mode {mode:?}");
            log::Backend::new(Box::new(sink), mode, batch, counters.clone())
        };
        let webhook = if webhook_file.is_empty() {
            None
        } else {
            let mode = mode_of("audit.webhook.mode", log::Mode::Batch)?;
            let mut batch = batch_of("audit.webhook", 400, Duration::from_secs(30), true, 10.0, 15)?;
            batch.max_bytes = webhook_truncate.map(|t| t.max_batch_size);
            if mode == log::Mode::Batch {
                batch
                    .validate()
                    .map_err(|e| anyhow::anyhow!(e.replace(" log ", " webhook ")))?;
            }
            // The deprecated --audit-webhook-batch-initial-backoff counts when only it was set.
            let alias_set = opts
                .sources
                .get("audit.webhook.batch-initial-backoff")
                .is_some_and(|l| l != "default");
            let main_set = opts
                .sources
                .get("audit.webhook.initial-backoff")
                .is_some_and(|l| l != "default");
            let backoff = if alias_set && !main_set {
                dur("audit.webhook.batch-initial-backoff", Duration::from_secs(10))?
            } else {
                dur("audit.webhook.initial-backoff", Duration::from_secs(10))?
            };
            let sink = webhook::Webhook::from_kubeconfig(std::path::Path::new(&webhook_file), backoff)
                .map_err(|e| anyhow::anyhow!("audit webhook: {e}"))?;
            tracing::info!("audit: webhook {webhook_file}, mode {mode:?}");
            Some(log::Backend::new(Box::new(sink), mode, batch, counters.clone()))
        };
        let mut a = Auditor::new(policy, backend, truncate).with_legacy_format(legacy);
        a.webhook_truncate = webhook_truncate;
        if let Some(w) = webhook {
            a = a.with_webhook(w);
        }
        let a = Arc::new(a);
        a.watch_policy(std::path::PathBuf::from(policy_file), Duration::from_secs(1));
        Ok(Some(a))
    }

    pub fn mode(&self) -> log::Mode {
        self.backend.mode()
    }

    pub fn shutdown(&self) {
        self.backend.shutdown();
        if let Some(w) = &self.webhook {
            w.shutdown();
        }
    }

    /// Evaluate the policy and start the event. Always returns the audit ID to send back;
    /// the event is None at level None.
    pub fn begin(&self, m: RequestMeta) -> (String, Option<RequestAudit>) {
        let audit_id = m
            .audit_id
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let or = &m.object_ref;
        let decision = self.current_policy().evaluate(&Attributes {
            user: m.user,
            groups: m.groups,
            verb: m.verb,
            is_resource: m.is_resource,
            api_group: &or.api_group,
            namespace: &or.namespace,
            resource: &or.resource,
            subresource: &or.subresource,
            name: &or.name,
            path: m.path,
        });
        if decision.level == Level::None {
            return (audit_id, None);
        }
        let now = crate::util::rfc3339_micros(SystemTime::now());
        let annotations = serde_json::Map::new();
        let mut ua = m.user_agent.to_string();
        if ua.len() > 1024 {
            let mut cut = 1024;
            while !ua.is_char_boundary(cut) {
                cut -= 1;
            }
            ua.truncate(cut);
            ua.push_str("...TRUNCATED");
        }
        let event = Event {
            kind: "Event",
            api_version: "audit.k8s.io/v1",
            level: decision.level.as_str(),
            audit_id: audit_id.clone(),
            stage: Stage::RequestReceived.as_str(),
            request_uri: m.uri,
            verb: m.verb.to_string(),
            user: User {
                username: m.user.to_string(),
                groups: m.groups.to_vec(),
                ..Default::default()
            },
            source_ips: m.source_ips,
            user_agent: ua,
            impersonated_user: None,
            object_ref: m.is_resource.then_some(m.object_ref),
            response_status: None,
            request_object: None,
            response_object: None,
            request_received_timestamp: now.clone(),
            stage_timestamp: now,
            annotations,
        };
        (audit_id, Some(RequestAudit { event, decision }))
    }

    /// Write the event at `stage` unless the policy omits it. False when it should have been
    /// written and was not.
    pub fn emit(&self, ra: &mut RequestAudit, stage: Stage) -> bool {
        if ra.decision.omits(stage) {
            return true;
        }
        ra.event.stage = stage.as_str();
        ra.event.stage_timestamp = crate::util::rfc3339_micros(SystemTime::now());
        let Ok(json) = serde_json::to_vec(&ra.event) else {
            return false;
        };
        if let Some(w) = &self.webhook {
            match truncated(&ra.event, &json, self.webhook_truncate) {
                Some((_, j)) => {
                    w.process(j);
                }
                None => w.drop_event(),
            }
        }
        let Some((event, json)) = truncated(&ra.event, &json, self.truncate) else {
            self.backend.drop_event();
            return false;
        };
        let line = if self.legacy {
            legacy_line(&event).into_bytes()
        } else {
            json
        };
        self.backend.process(line)
    }
}

/// `event` as `json`, or without its request/response objects when it exceeds the backend's
/// event size limit; None when even that is too large (upstream drops it with an error).
fn truncated<'e>(
    event: &'e Event,
    json: &[u8],
    limit: Option<Truncate>,
) -> Option<(std::borrow::Cow<'e, Event>, Vec<u8>)> {
    let Some(t) = limit.filter(|t| json.len() > t.max_event_size) else {
        return Some((std::borrow::Cow::Borrowed(event), json.to_vec()));
    };
    let mut small = event.clone();
    small.request_object = None;
    small.response_object = None;
    small
        .annotations
        .insert(TRUNCATED_ANNOTATION.into(), Value::String("true".into()));
    match serde_json::to_vec(&small) {
        Ok(l) if l.len() <= t.max_event_size => Some((std::borrow::Cow::Owned(small), l)),
        _ => {
            tracing::error!(
                "Error in audit plugin 'truncate' affecting 1 audit events: event is too large even after truncation"
            );
            None
        }
    }
}

/// Audit annotations a handler attaches to its response (admission plugins and webhooks);
/// the server copies them into the request's audit event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditAnnotations(pub Vec<(String, String)>);

/// One request's event in progress.
pub struct RequestAudit {
    pub event: Event,
    pub decision: Decision,
}

impl RequestAudit {
    pub fn level(&self) -> Level {
        self.decision.level
    }

    /// Add an annotation (authorization decision, admission plugins…) to later stages.
    pub fn annotate(&mut self, key: &str, value: &str) {
        self.event.annotations.insert(key.into(), Value::String(value.into()));
    }

    /// The full authenticated user (uid, extra) replaces the name/groups from `begin`.
    pub fn set_user(&mut self, user: &crate::request::UserInfo) {
        self.event.user = user.into();
    }

    /// The user the request acts as through `Impersonate-*` headers.
    pub fn set_impersonated_user(&mut self, user: &crate::request::UserInfo) {
        self.event.impersonated_user = Some(user.into());
    }

    /// Record the request body (JSON only) at level Request and above.
    /// Like upstream, an empty `objectRef` namespace/name is filled from the object (at any level).
    pub fn set_request_object(&mut self, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            self.set_request_value(v);
        }
    }

    /// [`RequestAudit::set_request_object`] for a body already decoded (YAML, protobuf).
    pub fn set_request_value(&mut self, mut v: Value) {
        {
            if let Some(or) = self.event.object_ref.as_mut() {
                let md = v.get("metadata");
                let field = |k: &str| {
                    md.and_then(|m| m.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                if or.namespace.is_empty() {
                    or.namespace = field("namespace");
                }
                if or.name.is_empty() {
                    or.name = field("name");
                }
            }
            if self.decision.level < Level::Request {
                return;
            }
            if self.decision.omit_managed_fields {
                strip_managed_fields(&mut v);
            }
            self.event.request_object = Some(v);
        }
    }

    /// Record the response: its status (and a Status body's fields), and at level
    /// RequestResponse the body itself (JSON only).
    pub fn set_response(&mut self, code: u16, body: Option<&[u8]>) {
        let parsed = body.and_then(|b| match b.starts_with(crate::protobuf::MAGIC) {
            true => crate::protobuf::decode(b).ok(),
            false => serde_json::from_slice::<Value>(b).ok(),
        });
        let mut status = serde_json::Map::new();
        status.insert("metadata".into(), Value::Object(Default::default()));
        if let Some(Value::Object(o)) = &parsed {
            if o.get("kind").and_then(Value::as_str) == Some("Status") {
                for k in ["status", "message", "reason", "details"] {
                    if let Some(v) = o.get(k) {
                        status.insert(k.into(), v.clone());
                    }
                }
            }
        }
        status.insert("code".into(), Value::from(code));
        self.event.response_status = Some(Value::Object(status));
        if self.decision.level == Level::RequestResponse {
            if let Some(mut v) = parsed {
                if self.decision.omit_managed_fields {
                    strip_managed_fields(&mut v);
                }
                self.event.response_object = Some(v);
            }
        }
    }
}

/// Emits `ResponseComplete` when a streamed response (a watch) ends or its client goes away.
struct CompleteOnDrop {
    auditor: Arc<Auditor>,
    ra: RequestAudit,
}

impl Drop for CompleteOnDrop {
    fn drop(&mut self) {
        self.auditor.emit(&mut self.ra, Stage::ResponseComplete);
    }
}

/// Finish a request's event with its response. Buffered (non-streamed) JSON bodies are read
/// for `responseStatus` details and, at RequestResponse, `responseObject`; streamed bodies
/// (watches, chunked lists) and non-JSON bodies (protobuf, YAML, table) are not recorded.
/// Long-running streamed requests get `ResponseStarted` now and `ResponseComplete` when the
/// stream ends.
pub async fn finish(
    auditor: Arc<Auditor>,
    mut ra: RequestAudit,
    resp: warp::reply::Response,
    long_running: bool,
) -> warp::reply::Response {
    use futures_util::StreamExt;
    use warp::Reply;
    let code = resp.status().as_u16();
    let buffered = hyper::body::Body::size_hint(resp.body()).exact().is_some();
    if buffered {
        let json = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("json"));
        if !json {
            ra.set_response(code, None);
            auditor.emit(&mut ra, Stage::ResponseComplete);
            return resp;
        }
        let (parts, body) = resp.into_parts();
        let bytes = http_body_util::BodyExt::collect(body)
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        ra.set_response(code, Some(&bytes));
        auditor.emit(&mut ra, Stage::ResponseComplete);
        return warp::reply::Response::from_parts(parts, bytes.into());
    }
    ra.set_response(code, None);
    if long_running {
        auditor.emit(&mut ra, Stage::ResponseStarted);
    }
    let guard = CompleteOnDrop { auditor, ra };
    let (parts, body) = resp.into_parts();
    let stream = http_body_util::BodyStream::new(body).map(move |frame| {
        let _until_done = &guard;
        frame.map(|f| f.into_data().unwrap_or_default())
    });
    let mut r = warp::reply::stream(stream).into_response();
    *r.status_mut() = parts.status;
    *r.headers_mut() = parts.headers;
    r
}

/// Upstream's legacy text line (`pkg/audit/format.go EventString`).
pub fn legacy_line(e: &Event) -> String {
    let (user, groups) = if e.user.username.is_empty() {
        ("<none>".to_string(), "<none>".to_string())
    } else if e.user.groups.is_empty() {
        (e.user.username.clone(), "<none>".to_string())
    } else {
        let g: Vec<String> = e.user.groups.iter().map(|g| format!("{g:?}")).collect();
        (e.user.username.clone(), g.join(","))
    };
    let namespace = e
        .object_ref
        .as_ref()
        .map(|o| o.namespace.as_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("<none>");
    let response = e
        .response_status
        .as_ref()
        .and_then(|s| s.get("code"))
        .and_then(Value::as_u64)
        .map(|c| c.to_string())
        .unwrap_or_else(|| "<deferred>".into());
    let ip = e.source_ips.first().map(String::as_str).unwrap_or("<unknown>");
    // RFC3339Nano drops trailing zeros of the fraction.
    let ts = match e.request_received_timestamp.split_once('.') {
        Some((secs, frac)) => {
            let digits = frac.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{secs}Z")
            } else {
                format!("{secs}.{digits}Z")
            }
        }
        None => e.request_received_timestamp.clone(),
    };
    format!(
        "{ts} AUDIT: id={:?} stage={:?} ip={ip:?} method={:?} user={user:?} groups={groups:?} as=\"<self>\" asgroups=\"<lookup>\" user-agent={:?} namespace={namespace:?} uri={:?} response=\"{response}\"",
        e.audit_id, e.stage, e.verb, e.user_agent, e.request_uri
    )
}

/// Drop `metadata.managedFields` from an object and from a list's items.
fn strip_managed_fields(v: &mut Value) {
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("managedFields");
    }
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        for i in items {
            if let Some(md) = i.get_mut("metadata").and_then(Value::as_object_mut) {
                md.remove("managedFields");
            }
        }
    }
}

/// `sourceIPs` as upstream's `utilnet.SourceIPs`: `X-Forwarded-For`, then `X-Real-Ip`, then
/// the connection's peer address.
pub fn source_ips(headers: &http::HeaderMap, peer: Option<std::net::SocketAddr>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(xff) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        for p in xff.split(',') {
            let p = p.trim();
            if p.parse::<std::net::IpAddr>().is_ok() && !out.iter().any(|o| o == p) {
                out.push(p.to_string());
            }
        }
    }
    if let Some(x) = headers.get("x-real-ip").and_then(|v| v.to_str().ok()).map(str::trim) {
        if x.parse::<std::net::IpAddr>().is_ok() && !out.iter().any(|o| o == x) {
            out.push(x.to_string());
        }
    }
    if let Some(p) = peer.map(|p| p.ip().to_string()) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Mem(Arc<Mutex<Vec<Vec<u8>>>>);
    impl log::Sink for Mem {
        fn write_batch(&mut self, lines: &[Vec<u8>]) -> std::io::Result<()> {
            if let Ok(mut g) = self.0.lock() {
                g.extend(lines.iter().cloned());
            }
            Ok(())
        }
    }

    fn auditor(policy: &str) -> (Auditor, Arc<Mutex<Vec<Vec<u8>>>>) {
        auditor_with(policy, None)
    }

    /// A blocking backend writing into `lines`.
    fn mem_backend(lines: &Arc<Mutex<Vec<Vec<u8>>>>) -> log::Backend {
        let one_at_a_time = log::BatchConfig {
            buffer_size: 1,
            max_size: 1,
            max_wait: Duration::ZERO,
            throttle: None,
            max_bytes: None,
        };
        log::Backend::new(
            Box::new(Mem(lines.clone())),
            log::Mode::Blocking,
            one_at_a_time,
            Arc::default(),
        )
    }

    fn auditor_with(policy: &str, truncate: Option<Truncate>) -> (Auditor, Arc<Mutex<Vec<Vec<u8>>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let b = mem_backend(&got);
        (Auditor::new(Policy::parse(policy).expect("policy"), b, truncate), got)
    }

    fn meta<'a>(verb: &'a str, groups: &'a [String]) -> RequestMeta<'a> {
        RequestMeta {
            audit_id: None,
            uri: "/api/v1/namespaces/default/configmaps".into(),
            verb,
            user: "admin",
            groups,
            source_ips: vec!["10.0.0.1".into()],
            user_agent: "kubectl/v1.33.0",
            is_resource: true,
            object_ref: ObjectRef {
                resource: "configmaps".into(),
                namespace: "default".into(),
                api_version: "v1".into(),
                ..Default::default()
            },
            path: "/api/v1/namespaces/default/configmaps",
        }
    }

    #[test]
    fn event_shape_and_levels() {
        let (a, got) = auditor(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: RequestResponse\n  verbs: [create]\n  omitManagedFields: true\n- level: Metadata\n",
        );
        let groups = vec!["system:masters".to_string()];
        let (id, ra) = a.begin(meta("create", &groups));
        assert_eq!(uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()).ok(), Some(4));
        let mut ra = ra.expect("audited");
        assert!(a.emit(&mut ra, Stage::RequestReceived));
        ra.set_request_object(br#"{"kind":"ConfigMap","metadata":{"name":"x","managedFields":[{}]}}"#);
        ra.set_response(
            201,
            Some(br#"{"kind":"ConfigMap","metadata":{"name":"x","managedFields":[{}]},"data":{"a":"b"}}"#),
        );
        assert!(a.emit(&mut ra, Stage::ResponseComplete));
        let lines = got.lock().expect("lock").clone();
        assert_eq!(lines.len(), 1, "RequestReceived is omitted");
        let v: Value = serde_json::from_slice(&lines[0]).expect("json");
        assert_eq!(v["kind"], "Event");
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(v["level"], "RequestResponse");
        assert_eq!(v["auditID"], id.as_str());
        assert_eq!(v["stage"], "ResponseComplete");
        assert_eq!(v["verb"], "create");
        assert_eq!(
            v["user"],
            serde_json::json!({"username": "admin", "groups": ["system:masters"]})
        );
        assert_eq!(v["sourceIPs"], serde_json::json!(["10.0.0.1"]));
        assert_eq!(
            v["objectRef"],
            serde_json::json!({"resource": "configmaps", "namespace": "default", "name": "x", "apiVersion": "v1"})
        );
        assert_eq!(v["responseStatus"], serde_json::json!({"metadata": {}, "code": 201}));
        assert_eq!(
            v["requestObject"],
            serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "x"}})
        );
        assert_eq!(v["responseObject"]["data"], serde_json::json!({"a": "b"}));
        assert!(v["responseObject"]["metadata"].get("managedFields").is_none());
        // The authorization filter adds its decision later; `begin` does not invent one.
        assert!(v.get("annotations").is_none(), "{v}");
        let ts = v["stageTimestamp"].as_str().unwrap_or_default();
        assert_eq!(ts.len(), "2026-11-24T09:40:30.123456Z".len(), "{ts}");
        assert!(v["requestReceivedTimestamp"].as_str().is_some_and(|t| t.ends_with('Z')));

        // Metadata: no objects; a Status body fills responseStatus.
        let (_, ra) = a.begin(meta("get", &groups));
        let mut ra = ra.expect("audited");
        ra.set_request_object(br#"{"a":1}"#);
        ra.set_response(
            404,
            Some(br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"configmaps"},"code":404}"#),
        );
        assert!(a.emit(&mut ra, Stage::ResponseComplete));
        let v: Value = serde_json::from_slice(&got.lock().expect("lock")[1]).expect("json");
        assert_eq!(v["level"], "Metadata");
        assert!(v.get("requestObject").is_none() && v.get("responseObject").is_none());
        assert_eq!(
            v["responseStatus"],
            serde_json::json!({"metadata": {}, "status": "Failure", "message": "configmaps \"x\" not found",
                "reason": "NotFound", "details": {"name": "x", "kind": "configmaps"}, "code": 404})
        );
    }

    #[test]
    fn audit_id_header_is_reused_and_none_level_is_silent() {
        let (a, got) = auditor("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n");
        let mut m = meta("get", &[]);
        m.audit_id = Some("my-id");
        let (id, ra) = a.begin(m);
        assert_eq!(id, "my-id");
        assert!(ra.is_none());
        assert!(got.lock().expect("lock").is_empty());
    }

    #[test]
    fn source_ips_from_proxy_headers() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            http::HeaderValue::from_static("1.2.3.4, 5.6.7.8, bogus"),
        );
        h.insert("x-real-ip", http::HeaderValue::from_static("5.6.7.8"));
        assert_eq!(source_ips(&h, None), vec!["1.2.3.4", "5.6.7.8"]);
        assert_eq!(
            source_ips(&h, "9.9.9.9:1".parse().ok()),
            vec!["1.2.3.4", "5.6.7.8", "9.9.9.9"]
        );
    }

    #[test]
    fn each_backend_truncates_by_its_own_limits() {
        let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n";
        let (mut a, log_lines) = auditor_with(policy, None);
        let hook_lines = Arc::new(Mutex::new(Vec::new()));
        a = a.with_webhook(mem_backend(&hook_lines));
        a.webhook_truncate = Some(Truncate::new("webhook", 2000, 2000).expect("valid"));
        let big =
            serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "x".repeat(5000)}});
        let big = serde_json::to_vec(&big).expect("json");
        let (_, ra) = a.begin(meta("create", &[]));
        let mut ra = ra.expect("audited");
        ra.set_request_object(&big);
        assert!(a.emit(&mut ra, Stage::ResponseComplete));
        let logged: Value = serde_json::from_slice(&log_lines.lock().expect("lock")[0]).expect("json");
        assert_eq!(logged["requestObject"]["data"]["k"].as_str().map(str::len), Some(5000));
        assert!(logged["annotations"].get(TRUNCATED_ANNOTATION).is_none());
        let hooked: Value = serde_json::from_slice(&hook_lines.lock().expect("lock")[0]).expect("json");
        assert!(hooked.get("requestObject").is_none(), "{hooked}");
        assert_eq!(hooked["annotations"][TRUNCATED_ANNOTATION], "true");
    }

    #[test]
    fn truncation_drops_objects_then_the_event() {
        assert_eq!(
            Truncate::new("log", 0, 10).unwrap_err(),
            "invalid audit truncate log max event size 0, must be a positive number"
        );
        assert_eq!(
            Truncate::new("webhook", 200, 100).unwrap_err(),
            "invalid audit truncate webhook max batch size 100, must be greater than max event size (200)"
        );
        let t = Truncate::new("log", 102400, 10485760).expect("defaults are valid");
        let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n";
        let (a, got) = auditor_with(policy, Some(t));
        let big =
            serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "x".repeat(200_000)}});
        let big = serde_json::to_vec(&big).expect("json");
        let (_, ra) = a.begin(meta("create", &[]));
        let mut ra = ra.expect("audited");
        ra.set_request_object(&big);
        ra.set_response(201, Some(&big));
        assert!(a.emit(&mut ra, Stage::ResponseComplete));
        let line = got.lock().expect("lock")[0].clone();
        assert!(line.len() <= 102400);
        let v: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(v["annotations"][TRUNCATED_ANNOTATION], "true");
        assert!(v.get("requestObject").is_none() && v.get("responseObject").is_none());
        assert_eq!(v["objectRef"]["name"], "big");
        assert_eq!(v["responseStatus"]["code"], 201);
        // A small event passes untouched.
        let (_, ra) = a.begin(meta("create", &[]));
        let mut ra = ra.expect("audited");
        ra.set_request_object(br#"{"metadata":{"name":"small"}}"#);
        assert!(a.emit(&mut ra, Stage::ResponseComplete));
        let v: Value = serde_json::from_slice(&got.lock().expect("lock")[1]).expect("json");
        assert!(v["annotations"].get(TRUNCATED_ANNOTATION).is_none());
        assert_eq!(v["requestObject"]["metadata"]["name"], "small");

        // Too large even without objects: dropped and counted.
        let (a, got) = auditor_with(policy, Some(Truncate::new("log", 100, 100).expect("valid")));
        let (_, ra) = a.begin(meta("get", &[]));
        let mut ra = ra.expect("audited");
        assert!(!a.emit(&mut ra, Stage::ResponseComplete));
        assert!(got.lock().expect("lock").is_empty());
        assert_eq!(a.backend.counters.errors.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(a.backend.counters.events.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn policy_reload_keeps_old_policy_when_broken() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        let (a, _) = auditor("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n");
        std::fs::write(&path, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n").expect("write");
        assert!(a
            .reload_policy(&path)
            .is_err_and(|e| e.ends_with("loaded illegal policy with 0 rules")));
        assert_eq!(a.begin(meta("get", &[])).1.map(|r| r.level()), Some(Level::Metadata));
        std::fs::write(
            &path,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n",
        )
        .expect("write");
        assert_eq!(a.reload_policy(&path), Ok(()));
        assert_eq!(a.begin(meta("get", &[])).1.map(|r| r.level()), Some(Level::Request));
    }

    #[test]
    fn legacy_format_line() {
        let (a, got) = auditor("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n");
        let a = a.with_legacy_format(true);
        let groups = vec!["system:masters".to_string(), "system:authenticated".to_string()];
        let mut m = meta("get", &groups);
        m.audit_id = Some("abc");
        let (_, ra) = a.begin(m);
        let mut ra = ra.expect("audited");
        ra.event.request_received_timestamp = "2026-11-24T09:40:30.120000Z".into();
        assert!(a.emit(&mut ra, Stage::RequestReceived));
        ra.set_response(200, None);
        assert!(a.emit(&mut ra, Stage::ResponseComplete));
        let got = got.lock().expect("lock");
        assert_eq!(
            String::from_utf8_lossy(&got[0]),
            "2026-11-24T09:40:30.12Z AUDIT: id=\"abc\" stage=\"RequestReceived\" ip=\"10.0.0.1\" method=\"get\" user=\"admin\" groups=\"\\\"system:masters\\\",\\\"system:authenticated\\\"\" as=\"<self>\" asgroups=\"<lookup>\" user-agent=\"kubectl/v1.33.0\" namespace=\"default\" uri=\"/api/v1/namespaces/default/configmaps\" response=\"<deferred>\""
        );
        assert!(String::from_utf8_lossy(&got[1]).ends_with(" response=\"200\""));
    }
}
