//! Webhook token authentication (`--authentication-token-webhook-config-file`): a TokenReview
//! (`authentication.k8s.io/v1` or `v1beta1`, `--authentication-token-webhook-version`) POSTed to
//! the server of a kubeconfig; answers cached for `--authentication-token-webhook-cache-ttl`
//! (successes and failures alike, as upstream's token cache), keyed by a hash of the audiences
//! and the token so no token is held in memory.

use super::TokenResult;
use crate::outbound::kubeconfig::{self, Server};
use crate::request::UserInfo;
use crate::util::json::JsonExt;
use crate::util::ttl_cache::TtlCache;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Upstream's webhook request timeout.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Cached answers at most.
const CACHE_SIZE: usize = 4096;

pub struct TokenWebhook {
    server: Server,
    api_version: String,
    ttl: Duration,
    /// What a review without `status.audiences` is taken to be valid for (`--api-audiences`).
    implicit_audiences: Vec<String>,
    cache: TtlCache<TokenResult>,
}

impl TokenWebhook {
    pub fn new(config: &Path, version: &str, ttl: Duration, api_audiences: &[String]) -> Result<TokenWebhook, String> {
        if !matches!(version, "v1" | "v1beta1") {
            return Err(format!(
                "unsupported authentication webhook version {version:?}, supported versions are \"v1\", \"v1beta1\""
            ));
        }
        Ok(TokenWebhook {
            server: kubeconfig::load(config)?,
            api_version: format!("authentication.k8s.io/{version}"),
            ttl,
            implicit_audiences: api_audiences.to_vec(),
            cache: TtlCache::new(CACHE_SIZE),
        })
    }

    /// Ok(None): the webhook does not authenticate the token (or not for these audiences).
    pub async fn authenticate(&self, token: &str, audiences: &[String]) -> TokenResult {
        let key = crate::util::hash::sha256_hex(format!("{}\0{token}", audiences.join("\0")).as_bytes());
        if let Some(hit) = self.cache.get(&key) {
            return hit;
        }
        let out = self.call(token, audiences).await;
        self.cache.insert(key, out.clone(), self.ttl);
        out
    }

    async fn call(&self, token: &str, audiences: &[String]) -> TokenResult {
        let mut spec = json!({"token": token});
        if !audiences.is_empty() {
            spec["audiences"] = json!(audiences);
        }
        let review = json!({"kind": "TokenReview", "apiVersion": self.api_version,
            "metadata": {"creationTimestamp": null}, "spec": spec, "status": {"user": {}}});
        let resp = self
            .server
            .review(&review, TIMEOUT, "tokenreviews.authentication.k8s.io")
            .await?;
        decide(&resp, audiences, &self.implicit_audiences)
    }
}

/// Upstream's reading of a TokenReview answer.
fn decide(resp: &Value, want: &[String], implicit: &[String]) -> TokenResult {
    let status = resp.get("status").cloned().unwrap_or(Value::Null);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let mut auds = Vec::new();
    if !want.is_empty() {
        let got = strings(status.get("audiences"));
        let got = if got.is_empty() { implicit.to_vec() } else { got };
        auds = want.iter().filter(|a| got.contains(a)).cloned().collect();
        if auds.is_empty() {
            return Ok(None);
        }
    }
    if status.get("authenticated").and_then(Value::as_bool) != Some(true) {
        return match status.get("error").and_then(Value::as_str).filter(|e| !e.is_empty()) {
            Some(e) => Err(e.to_string()),
            None => Ok(None),
        };
    }
    let user = status.get("user").cloned().unwrap_or(Value::Null);
    let extra: BTreeMap<String, Vec<String>> = user
        .get("extra")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(Some(v)))).collect())
        .unwrap_or_default();
    let info = UserInfo {
        name: user.str_of("username").to_string(),
        uid: user.str_of("uid").to_string(),
        groups: strings(user.get("groups")),
        extra,
    };
    Ok(Some((info, auds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_are_read_as_upstream() {
        let api = vec!["api".to_string()];
        let ok = json!({"status": {"authenticated": true, "user": {"username": "jane", "uid": "1",
            "groups": ["devs"], "extra": {"scopes": ["a", "b"]}}}});
        let (u, auds) = decide(&ok, &api, &api).expect("ok").expect("user");
        assert_eq!(
            (u.name.as_str(), u.uid.as_str(), u.groups.clone()),
            ("jane", "1", vec!["devs".to_string()])
        );
        assert_eq!(u.extra["scopes"], vec!["a", "b"]);
        assert_eq!(auds, api, "no status.audiences: the implicit ones");
        let other = json!({"status": {"authenticated": true, "audiences": ["other"], "user": {"username": "x"}}});
        assert_eq!(decide(&other, &api, &api), Ok(None), "audiences do not intersect");
        assert_eq!(
            decide(&other, &[], &api).map(|r| r.map(|(u, _)| u.name)),
            Ok(Some("x".into()))
        );
        let bad = json!({"status": {"authenticated": false, "error": "expired"}});
        assert_eq!(decide(&bad, &api, &api), Err("expired".to_string()));
        assert_eq!(decide(&json!({"status": {}}), &api, &api), Ok(None));
    }
}
