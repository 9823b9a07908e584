//! EventRateLimit: token buckets on core/v1 Event writes, per server, namespace, user or
//! event source+object, configured by (upstream's format):
//!
//! ```yaml
//! apiVersion: eventratelimit.admission.k8s.io/v1alpha1
//! kind: Configuration
//! limits:
//! - type: Namespace        # Server | Namespace | User | SourceAndObject
//!   qps: 50
//!   burst: 100
//!   cacheSize: 2000        # LRU of buckets (not for Server); default 4096
//! ```
//!
//! A refused write is a 429 `Too many requests: limit reached on type <T> for key <k>`. A bucket
//! evicted from its LRU starts full again, as upstream's.

use crate::admission::lru::Lru;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::field::FieldError;
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use serde_json::Value;
use std::sync::Mutex;
use std::time::Instant;

const DEFAULT_CACHE_SIZE: usize = 4096;
const TYPES: &[&str] = &["Namespace", "Server", "SourceAndObject", "User"];

/// golang.org/x/time/rate's limiter as `flowcontrol.NewTokenBucketRateLimiter` uses it: starts
/// full, refills `qps` tokens a second up to `burst`.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            last: now,
        }
    }
    fn try_accept(&mut self, qps: f64, burst: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * qps).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Limit {
    kind: &'static str,
    qps: f64,
    burst: f64,
    /// The Server limit's one bucket, or the others' LRU.
    buckets: Mutex<Lru<Bucket>>,
}

impl Limit {
    fn key(&self, a: &Attributes) -> String {
        match self.kind {
            "Server" => String::new(),
            "Namespace" => a.namespace.clone(),
            "User" => a.user.name.clone(),
            _ => {
                let Some(ev) = a.object.as_ref() else {
                    return String::new();
                };
                let s = |p: &str| ev.str_at(p).to_string();
                [
                    "/source/component",
                    "/source/host",
                    "/involvedObject/kind",
                    "/involvedObject/namespace",
                    "/involvedObject/name",
                    "/involvedObject/uid",
                    "/involvedObject/apiVersion",
                ]
                .iter()
                .map(|p| s(p))
                .collect()
            }
        }
    }

    fn accept(&self, a: &Attributes, now: Instant) -> Result<(), String> {
        let key = self.key(a);
        let mut lru = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let burst = self.burst;
        if lru
            .get_or_insert_with(&key, || Bucket::full(burst, now))
            .try_accept(self.qps, burst, now)
        {
            Ok(())
        } else {
            Err(format!("limit reached on type {} for key {key}", self.kind))
        }
    }
}

pub struct EventRateLimit {
    limits: Vec<Limit>,
}

/// Go's `errors.NewAggregate(...).Error()`: one message as is, several as `[a, b]`.
fn aggregate(msgs: &[String]) -> String {
    match msgs {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

impl EventRateLimit {
    /// From the plugin's configuration; a missing or invalid one is refused with upstream's
    /// message (upstream requires at least one limit).
    pub fn new(config: Option<&Value>) -> Result<EventRateLimit, String> {
        let empty = Value::Null;
        let cfg = match config.filter(|c| !c.is_null()) {
            Some(c) => super::typed_config(c, "eventratelimit.admission.k8s.io", "Configuration")?,
            None => &empty,
        };
        let mut errs = Vec::new();
        let limits = match cfg.get("limits") {
            None | Some(Value::Null) => {
                errs.push("limits: Invalid value: []eventratelimit.Limit(nil): must not be empty".to_string());
                Vec::new()
            }
            Some(Value::Array(a)) if a.is_empty() => {
                errs.push("limits: Invalid value: []eventratelimit.Limit{}: must not be empty".to_string());
                Vec::new()
            }
            Some(Value::Array(a)) => a.clone(),
            Some(other) => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go struct field Configuration.limits of type []v1alpha1.Limit",
                    json_type(other)
                ))
            }
        };
        let mut out = Vec::new();
        for (i, l) in limits.iter().enumerate() {
            let p = format!("limits[{i}]");
            let kind = l.str_of("type");
            let int = |k: &str| -> Result<i64, String> {
                match l.get(k) {
                    None | Some(Value::Null) => Ok(0),
                    Some(v) => v.as_i64().filter(|n| i32::try_from(*n).is_ok()).ok_or_else(|| {
                        format!(
                            "json: cannot unmarshal {} into Go struct field Limit.limits.{k} of type int32",
                            json_type(v)
                        )
                    }),
                }
            };
            let (qps, burst, cache) = (int("qps")?, int("burst")?, int("cacheSize")?);
            let kind = match TYPES.iter().find(|t| **t == kind) {
                Some(t) => *t,
                None => {
                    errs.push(FieldError::not_supported(format!("{p}.type"), kind, TYPES).to_string());
                    ""
                }
            };
            if burst <= 0 {
                errs.push(FieldError::invalid(format!("{p}.burst"), burst, "must be positive").to_string());
            }
            if qps <= 0 {
                errs.push(FieldError::invalid(format!("{p}.qps"), qps, "must be positive").to_string());
            }
            if kind != "Server" && cache < 0 {
                errs.push(FieldError::invalid(format!("{p}.cacheSize"), cache, "must not be negative").to_string());
            }
            let cap = match (kind, cache) {
                ("Server", _) => 1,
                (_, 0) => DEFAULT_CACHE_SIZE,
                (_, n) => usize::try_from(n).unwrap_or(DEFAULT_CACHE_SIZE),
            };
            out.push(Limit {
                kind,
                qps: qps as f64,
                burst: burst as f64,
                buckets: Mutex::new(Lru::new(cap)),
            });
        }
        if !errs.is_empty() {
            return Err(aggregate(&errs));
        }
        Ok(EventRateLimit { limits: out })
    }

    fn check(&self, a: &Attributes, now: Instant) -> ApiResult<()> {
        let refused: Vec<String> = self.limits.iter().filter_map(|l| l.accept(a, now).err()).collect();
        if refused.is_empty() {
            return Ok(());
        }
        Err(ApiError::new(
            429,
            "TooManyRequests",
            format!("Too many requests: {}", aggregate(&refused)),
        ))
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

#[async_trait::async_trait]
impl Plugin for EventRateLimit {
    fn name(&self) -> &'static str {
        "EventRateLimit"
    }
    async fn validate(&self, a: &Attributes, _env: &Env<'_>) -> ApiResult<()> {
        // Core Events only (upstream compares the kind with core's Event), dry runs excepted.
        if !a.is_core("Event") || a.dry_run || !matches!(a.operation, Operation::Create | Operation::Update) {
            return Ok(());
        }
        self.check(a, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Context;
    use crate::request::UserInfo;
    use serde_json::json;
    use std::time::Duration;

    fn cfg(limits: Value) -> Value {
        json!({"apiVersion": "eventratelimit.admission.k8s.io/v1alpha1", "kind": "Configuration", "limits": limits})
    }

    fn event(ns: &str, user: &str, component: &str) -> Attributes {
        let ctx = Context::new(UserInfo {
            name: user.into(),
            ..Default::default()
        });
        let Some(def) = crate::api::builtin_row("", "events") else {
            panic!("events row")
        };
        let mut a = Attributes::new(&ctx, Operation::Create, def, Some(ns), "e");
        a.object = Some(json!({"source": {"component": component}, "involvedObject": {"kind": "Pod", "name": "p"}}));
        a
    }

    #[test]
    fn configuration_errors_match_upstream() {
        assert_eq!(
            EventRateLimit::new(None).err().as_deref(),
            Some("limits: Invalid value: []eventratelimit.Limit(nil): must not be empty")
        );
        let e = EventRateLimit::new(Some(&cfg(
            json!([{"type": "Bogus", "qps": 0, "burst": 1, "cacheSize": -1}]),
        )))
        .err();
        assert_eq!(
            e.as_deref(),
            Some("[limits[0].type: Unsupported value: \"Bogus\": supported values: \"Namespace\", \"Server\", \"SourceAndObject\", \"User\", limits[0].qps: Invalid value: 0: must be positive, limits[0].cacheSize: Invalid value: -1: must not be negative]")
        );
        assert!(EventRateLimit::new(Some(&json!({"limits": []}))).is_err());
        assert!(EventRateLimit::new(Some(&cfg(json!([{"type": "Server", "qps": 1, "burst": 1}])))).is_ok());
    }

    /// Upstream's TestEventRateLimiting: burst, then refill at qps; per-namespace,
    /// per-user and per-source buckets are independent.
    #[test]
    fn buckets_per_type() {
        let p = EventRateLimit::new(Some(&cfg(json!([
            {"type": "Server", "qps": 1, "burst": 3},
            {"type": "Namespace", "qps": 1, "burst": 2},
        ]))))
        .unwrap_or_else(|e| panic!("{e}"));
        let t0 = Instant::now();
        assert!(p.check(&event("a", "u", "c"), t0).is_ok());
        assert!(p.check(&event("a", "u", "c"), t0).is_ok());
        let e = p.check(&event("a", "u", "c"), t0).err();
        assert_eq!(
            e.map(|e| (e.code, e.reason, e.message)),
            Some((
                429,
                "TooManyRequests",
                "Too many requests: limit reached on type Namespace for key a".into()
            ))
        );
        // The third event of namespace a still took the server's third token.
        let e = p.check(&event("b", "u", "c"), t0).err();
        assert_eq!(
            e.map(|e| e.message),
            Some("Too many requests: limit reached on type Server for key ".into())
        );
        // A second later one token each is back, and both limits refuse the next one.
        let t1 = t0 + Duration::from_secs(1);
        assert!(p.check(&event("a", "u", "c"), t1).is_ok());
        let both = p.check(&event("a", "u", "c"), t1).err();
        assert_eq!(
            both.map(|e| e.message),
            Some(
                "Too many requests: [limit reached on type Server for key , limit reached on type Namespace for key a]"
                    .into()
            )
        );
        let src = EventRateLimit::new(Some(&cfg(json!([{"type": "SourceAndObject", "qps": 1, "burst": 1}]))))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(src.check(&event("a", "u", "kubelet"), t0).is_ok());
        assert!(src.check(&event("a", "u", "scheduler"), t0).is_ok());
        assert!(src.check(&event("a", "u", "kubelet"), t0).is_err());
    }
}
