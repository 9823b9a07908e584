//! Front-proxy (request-header) authentication: a client certificate that chains to
//! `--requestheader-client-ca-file` (and has an allowed CN, when the list is non-empty) may
//! name the user in headers (`--requestheader-username-headers` etc.), as the aggregator does.

use crate::request::UserInfo;
use http::HeaderMap;

/// Key the TLS layer puts in the connection identity's `extra` when the certificate chains to
/// the request-header CA (value: the certificate CN). Never taken from a request.
pub const VERIFIED_CN: &str = "capstan.internal/requestheader-verified-cn";

pub struct RequestHeader {
    pub allowed_names: Vec<String>,
    pub username_headers: Vec<String>,
    pub uid_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_prefixes: Vec<String>,
}

fn values<'a>(h: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    h.get_all(name.trim())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// Go's url.PathUnescape for extra keys (`%2F` → `/`); invalid escapes leave the key as is.
fn unescape(s: &str) -> String {
    crate::util::percent::decode(s, false, crate::util::percent::Invalid::Fail).unwrap_or_else(|| s.to_string())
}

impl RequestHeader {
    /// The user named by the headers when `cn` (the verified front-proxy CN) may name one.
    /// None: not decided here (no user header, or a CN outside the allowed list).
    pub fn authenticate(&self, cn: &str, headers: &HeaderMap) -> Option<UserInfo> {
        if !self.allowed_names.is_empty() && !self.allowed_names.iter().any(|n| n == cn) {
            tracing::debug!(
                cn,
                "front-proxy client certificate CN is not in --requestheader-allowed-names"
            );
            return None;
        }
        let name = self.username_headers.iter().find_map(|h| values(headers, h).next())?;
        let mut user = UserInfo::new(name, Vec::new());
        user.uid = self
            .uid_headers
            .iter()
            .find_map(|h| values(headers, h).next())
            .unwrap_or("")
            .into();
        user.groups = self
            .group_headers
            .iter()
            .flat_map(|h| values(headers, h))
            .map(str::to_string)
            .collect();
        for (k, v) in headers {
            let key = k.as_str();
            let Some(p) = self
                .extra_prefixes
                .iter()
                .find(|p| key.starts_with(&p.trim().to_ascii_lowercase()))
            else {
                continue;
            };
            let Ok(v) = v.to_str() else { continue };
            let extra_key = unescape(&key[p.trim().len()..]);
            if !extra_key.is_empty() {
                user.extra.entry(extra_key).or_default().push(v.to_string());
            }
        }
        Some(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rh(allowed: &[&str]) -> RequestHeader {
        RequestHeader {
            allowed_names: allowed.iter().map(|s| s.to_string()).collect(),
            username_headers: vec!["X-Remote-User".into()],
            uid_headers: vec!["X-Remote-Uid".into()],
            group_headers: vec!["X-Remote-Group".into()],
            extra_prefixes: vec!["X-Remote-Extra-".into()],
        }
    }

    #[test]
    fn reads_user_groups_uid_and_extra() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", "alice".parse().unwrap());
        h.insert("x-remote-uid", "42".parse().unwrap());
        h.append("x-remote-group", "a".parse().unwrap());
        h.append("x-remote-group", "b".parse().unwrap());
        h.insert("x-remote-extra-acme.com%2Fscopes", "s1".parse().unwrap());
        let u = rh(&[]).authenticate("front-proxy-client", &h).unwrap();
        assert_eq!((u.name.as_str(), u.uid.as_str()), ("alice", "42"));
        assert_eq!(u.groups, vec!["a", "b"]);
        assert_eq!(u.extra["acme.com/scopes"], vec!["s1"]);
        assert!(rh(&["front-proxy-client"])
            .authenticate("front-proxy-client", &h)
            .is_some());
        assert!(rh(&["other"]).authenticate("front-proxy-client", &h).is_none());
        assert!(rh(&[]).authenticate("x", &HeaderMap::new()).is_none());
    }
}
