//! Bootstrap tokens (`--enable-bootstrap-token-auth`): `<id>.<secret>` checked against the
//! `bootstrap-token-<id>` Secret (type `bootstrap.kubernetes.io/token`) in kube-system.

use crate::registry::Registry;
use crate::request::UserInfo;
use base64::Engine;
use serde_json::Value;

const BOOTSTRAPPERS: &str = "system:bootstrappers";

/// `([a-z0-9]{6})\.([a-z0-9]{16})`.
fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

fn data(secret: &Value, key: &str) -> Option<String> {
    let b = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][key].as_str()?)
        .ok()?;
    String::from_utf8(b).ok()
}

/// The bootstrap user for `token`, or None when it is not a valid bootstrap token (upstream
/// never errors here: the request falls through to the next authenticator, then 401).
pub async fn authenticate(reg: &Registry, token: &str) -> Option<UserInfo> {
    let (id, secret) = split(token)?;
    let def = crate::api::builtin_row("", "secrets")?;
    let obj = reg
        .get(def, Some("kube-system"), &format!("bootstrap-token-{id}"), Some(0))
        .await
        .ok()?;
    let s = &obj.value();
    if s["metadata"]["deletionTimestamp"].is_string() || s["type"] != "bootstrap.kubernetes.io/token" {
        return None;
    }
    let stored = data(s, "token-secret")?;
    if !ring_eq(stored.as_bytes(), secret.as_bytes()) || data(s, "token-id").is_some_and(|i| i != id) {
        return None;
    }
    if let Some(exp) = data(s, "expiration") {
        let t = crate::util::parse_rfc3339(&exp)?;
        if t < std::time::SystemTime::now() {
            tracing::debug!(id, "bootstrap token has expired");
            return None;
        }
    }
    if data(s, "usage-bootstrap-authentication").as_deref() != Some("true") {
        return None;
    }
    let mut groups = vec![BOOTSTRAPPERS.to_string()];
    if let Some(extra) = data(s, "auth-extra-groups") {
        for g in extra.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            // Upstream only accepts groups under system:bootstrappers:.
            if !g.starts_with("system:bootstrappers:") {
                return None;
            }
            if !groups.iter().any(|x| x == g) {
                groups.push(g.to_string());
            }
        }
    }
    groups.sort();
    Some(UserInfo::new(format!("system:bootstrap:{id}"), groups))
}

/// Constant-time comparison of the secret part.
fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_shape() {
        assert_eq!(
            super::split("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        assert!(super::split("abcdef.0123456789abcde").is_none());
        assert!(super::split("ABCDEF.0123456789abcdef").is_none());
        assert!(super::split("abcdef0123456789abcdef").is_none());
    }
}
