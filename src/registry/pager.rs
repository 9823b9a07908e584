//! List pagination: continue tokens in upstream's format and page cutting.

use crate::error::{ApiError, ApiResult};
use crate::storage::cache::CachedObject;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Arc;

/// `{"v":"meta.k8s.io/v1","rv":N,"start":"<key after the resource prefix>"}`, base64url
/// without padding (apiserver `pkg/storage/continue.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueToken {
    pub rv: i64,
    pub start: String,
}

impl ContinueToken {
    pub fn encode(&self) -> String {
        let raw = json!({"v": "meta.k8s.io/v1", "rv": self.rv, "start": self.start}).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(token: &str) -> ApiResult<ContinueToken> {
        let bad = || {
            ApiError::bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            )
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token))
            .map_err(|_| bad())?;
        let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        if v["v"] != "meta.k8s.io/v1" {
            return Err(ApiError::bad_request(
                "continue key is not valid: server does not recognize this encoded key",
            ));
        }
        let rv = v["rv"].as_i64().ok_or_else(bad)?;
        let start = v["start"].as_str().ok_or_else(bad)?.to_string();
        if start.contains("..") || start.starts_with('/') {
            return Err(bad());
        }
        if rv == 0 {
            return Err(bad());
        }
        Ok(ContinueToken { rv, start })
    }
}

pub struct Page {
    pub items: Vec<Arc<CachedObject>>,
    pub last_key: Option<String>,
    /// More keys follow the page (matching or not).
    pub more: bool,
    /// Keys read to fill the page (matching or not), up to and including its last item.
    pub scanned: usize,
}

/// Take up to `limit` (0 = all) matching objects from a key-ordered iterator, reading no
/// further than the page needs plus one key (to tell whether more follow).
pub fn take_page<'a>(
    mut iter: impl Iterator<Item = &'a Arc<CachedObject>>,
    limit: usize,
    matches: &dyn Fn(&CachedObject) -> bool,
) -> Page {
    let mut items = Vec::new();
    let mut last_key = None;
    let mut scanned = 0;
    for obj in iter.by_ref() {
        scanned += 1;
        if matches(obj) {
            last_key = Some(obj.key.clone());
            items.push(obj.clone());
            if items.len() == limit {
                break;
            }
        }
    }
    let more = limit > 0 && items.len() == limit && iter.next().is_some();
    Page {
        items,
        last_key,
        more,
        scanned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip_and_rejects_garbage() {
        let t = ContinueToken {
            rv: 42,
            start: "default/web\u{0}".into(),
        };
        assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
        assert_eq!(ContinueToken::decode("!!!").unwrap_err().code, 400);
    }
}
