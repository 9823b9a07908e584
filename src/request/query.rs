//! The query string, decoded once per request.

use crate::error::field::FieldError;
use crate::error::{ApiError, ApiResult};

/// Decoded query parameters (last value wins, as Go's `url.Values.Get` takes the first; we
/// follow Go and keep the first).
#[derive(Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Query(pairs)
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn flag(&self, key: &str) -> ApiResult<bool> {
        match self.get(key) {
            None | Some("") | Some("false") | Some("0") | Some("False") | Some("FALSE") | Some("f") | Some("F") => {
                Ok(false)
            }
            Some("true") | Some("1") | Some("True") | Some("TRUE") | Some("t") | Some("T") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "strconv.ParseBool: parsing \"{other}\": invalid syntax"
            ))),
        }
    }
    /// `dryRun` of a write: true for `All`; any other value is upstream's 422 on the write's
    /// options kind (`CreateOptions`, `UpdateOptions`, `PatchOptions`, `DeleteOptions`).
    pub fn dry_run(&self, options: &str) -> ApiResult<bool> {
        let values = self.all("dryRun");
        match dry_run_error(&values) {
            Some(e) => Err(ApiError::invalid(options, "meta.k8s.io", "", &[e])),
            None => Ok(!values.is_empty()),
        }
    }
}

/// Upstream's `ValidateDryRun`: every value must be `All`.
pub fn dry_run_error<S: AsRef<str>>(values: &[S]) -> Option<FieldError> {
    values
        .iter()
        .any(|v| v.as_ref() != "All")
        .then(|| FieldError::not_supported_raw("dryRun", &crate::util::go_string_slice(values), &["All"]))
}

/// A query parameter's key or value, decoded as Go's `url.QueryUnescape` (`+` is a space).
pub fn percent_decode(s: &str) -> String {
    crate::util::percent::decode(s, true, crate::util::percent::Invalid::Keep).unwrap_or_default()
}
