//! The Webhook authorizer: a SubjectAccessReview (`authorization.k8s.io/v1` or `v1beta1`) POSTed
//! to the server of a kubeconfig, as upstream's `plugin/pkg/authorizer/webhook`. Answers are
//! cached by the review's spec: allowed ones for the authorized TTL, the rest for the
//! unauthorized TTL. A failed call yields the failure policy's decision (NoOpinion for the
//! `--authorization-webhook-*` flags) with the error, which becomes a 500 when nothing allows.

use super::{Attributes, Verdict};
use crate::outbound::kubeconfig::{self, Server};
use crate::util::json::JsonExt;
use crate::util::ttl_cache::TtlCache;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Cached answers at most.
const CACHE_SIZE: usize = 8192;

/// The decision when the webhook cannot be asked (`failurePolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    NoOpinion,
    Deny,
}

pub struct Settings {
    pub version: String,
    pub authorized_ttl: Duration,
    pub unauthorized_ttl: Duration,
    pub timeout: Duration,
    pub failure_policy: FailurePolicy,
}

pub struct WebhookAuthorizer {
    /// The authorizer's name in an AuthorizationConfiguration (`webhook` for the flags).
    pub name: String,
    server: Server,
    settings: Settings,
    /// `(allowed, denied, reason)` by the JSON of the review's spec.
    cache: TtlCache<(bool, bool, String)>,
    /// CEL `matchConditions`: the webhook is asked only when all are true.
    pub conditions: Option<super::conditions::MatchConditions>,
}

impl WebhookAuthorizer {
    pub fn new(name: &str, config: &Path, settings: Settings) -> Result<WebhookAuthorizer, String> {
        if !matches!(settings.version.as_str(), "v1" | "v1beta1") {
            return Err(format!(
                "unsupported webhook authorizer version {:?}, supported versions are \"v1\", \"v1beta1\"",
                settings.version
            ));
        }
        Ok(WebhookAuthorizer {
            name: name.to_string(),
            server: kubeconfig::load(config)?,
            settings,
            cache: TtlCache::new(CACHE_SIZE),
            conditions: None,
        })
    }

    /// The review's spec for `attrs` (v1beta1 names the groups `group`).
    pub fn spec(&self, attrs: &Attributes<'_>) -> Value {
        review_spec(attrs, &self.settings.version)
    }

    pub async fn authorize(&self, attrs: &Attributes<'_>) -> Verdict {
        let spec = self.spec(attrs);
        if let Some(conds) = &self.conditions {
            match conds.matches(&review_spec(attrs, "v1")) {
                Ok(true) => {}
                Ok(false) => return Verdict::no_opinion(""),
                Err(e) => return self.failed(e),
            }
        }
        let key = spec.to_string();
        let (allowed, denied, reason) = match self.cache.get(&key) {
            Some(hit) => hit,
            None => {
                let review = json!({"kind": "SubjectAccessReview",
                    "apiVersion": format!("authorization.k8s.io/{}", self.settings.version),
                    "metadata": {"creationTimestamp": null}, "spec": spec, "status": {"allowed": false}});
                let resp = match self
                    .server
                    .review(
                        &review,
                        self.settings.timeout,
                        "subjectaccessreviews.authorization.k8s.io",
                    )
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return self.failed(e),
                };
                let st = resp.get("status").cloned().unwrap_or(Value::Null);
                let flag = |k: &str| st.get(k).and_then(Value::as_bool).unwrap_or(false);
                let answer = (flag("allowed"), flag("denied"), st.str_of("reason").to_string());
                let ttl = if answer.0 {
                    self.settings.authorized_ttl
                } else {
                    self.settings.unauthorized_ttl
                };
                self.cache.insert(key, answer.clone(), ttl);
                answer
            }
        };
        match (allowed, denied) {
            (true, true) => Verdict {
                error: Some("webhook subject access review returned both allow and deny response".into()),
                ..Verdict::deny(&reason)
            },
            (_, true) => Verdict::deny(&reason),
            (true, _) => Verdict::allow(&reason),
            _ => Verdict::no_opinion(&reason),
        }
    }

    fn failed(&self, e: String) -> Verdict {
        tracing::error!(authorizer = %self.name, error = %e, "Failed to make webhook authorizer request");
        let v = match self.settings.failure_policy {
            FailurePolicy::NoOpinion => Verdict::no_opinion(""),
            FailurePolicy::Deny => Verdict::deny(""),
        };
        Verdict { error: Some(e), ..v }
    }
}

/// Upstream's SubjectAccessReviewSpec of the request's attributes.
pub fn review_spec(attrs: &Attributes<'_>, version: &str) -> Value {
    let u = attrs.user;
    let mut spec = json!({"user": u.name});
    if !u.uid.is_empty() {
        spec["uid"] = json!(u.uid);
    }
    if !u.groups.is_empty() {
        spec[if version == "v1beta1" { "group" } else { "groups" }] = json!(u.groups);
    }
    if !u.extra.is_empty() {
        spec["extra"] = json!(u.extra);
    }
    if attrs.is_resource {
        let mut ra = serde_json::Map::new();
        for (k, v) in [
            ("namespace", attrs.namespace),
            ("verb", attrs.verb),
            ("group", attrs.api_group),
            ("version", attrs.api_version),
            ("resource", attrs.resource),
            ("subresource", attrs.subresource),
            ("name", attrs.name),
        ] {
            if !v.is_empty() {
                ra.insert(k.into(), json!(v));
            }
        }
        spec["resourceAttributes"] = Value::Object(ra);
    } else {
        spec["nonResourceAttributes"] = json!({"path": attrs.path, "verb": attrs.verb});
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::UserInfo;

    #[test]
    fn specs_as_upstream_sends_them() {
        let mut u = UserInfo::new("jane", vec!["devs".into()]);
        u.extra.insert("scopes".into(), vec!["x".into()]);
        let a = Attributes {
            user: &u,
            verb: "list",
            is_resource: true,
            api_group: "apps",
            api_version: "v1",
            namespace: "ns",
            resource: "deployments",
            subresource: "",
            name: "",
            path: "/apis/apps/v1/namespaces/ns/deployments",
            field_selector: "",
        };
        assert_eq!(
            review_spec(&a, "v1"),
            json!({"user": "jane", "groups": ["devs"], "extra": {"scopes": ["x"]},
                "resourceAttributes": {"namespace": "ns", "verb": "list", "group": "apps", "version": "v1", "resource": "deployments"}})
        );
        let n = Attributes {
            is_resource: false,
            path: "/healthz",
            verb: "get",
            ..a
        };
        let s = review_spec(&n, "v1beta1");
        assert_eq!(s["group"], json!(["devs"]));
        assert_eq!(s["nonResourceAttributes"], json!({"path": "/healthz", "verb": "get"}));
    }
}
