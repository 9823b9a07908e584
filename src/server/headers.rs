//! Response headers set around the whole filter chain, as upstream's `WithCORS` and
//! `WithHSTS` (k8s.io/apiserver/pkg/server/filters):
//!
//! - `--cors-allowed-origins`: an `Origin` matching one of the regular expressions gets the
//!   `Access-Control-*` headers; a preflight (`OPTIONS`) is answered 204 right there, before
//!   authentication. Expressions must pin the host's start (`^` or `//`) and end (`$` or `:`).
//! - `--strict-transport-security-directives`: `Strict-Transport-Security` on every response.

use crate::config::ServeOptions;
use http::{HeaderMap, HeaderValue, Method};
use regex::Regex;
use warp::reply::Response;

const ALLOW_METHODS: &str = "POST, GET, OPTIONS, PUT, DELETE, PATCH";
const ALLOW_HEADERS: &str =
    "Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, X-Requested-With, If-Modified-Since";
const CORS_HELP: &str = "List of allowed origins for CORS, comma separated. An allowed origin can be a regular expression to support subdomain matching. If this list is empty CORS will not be enabled. Please ensure each expression matches the entire hostname by anchoring to the start with '^' or including the '//' prefix, and by anchoring to the end with '$' or including the ':' port separator suffix. Examples of valid expressions are '//example\\.com(:|$)' and '^https://example\\.com(:|$)'";

#[derive(Clone, Default)]
pub struct SecurityHeaders {
    cors: Vec<Regex>,
    hsts: Option<HeaderValue>,
}

impl SecurityHeaders {
    /// From the flags, validated with upstream's rules and messages.
    pub fn from_options(opts: &ServeOptions) -> anyhow::Result<SecurityHeaders> {
        let mut errs = Vec::new();
        let mut cors = Vec::new();
        for o in opts.get_list("cors-allowed-origins") {
            if o.is_empty() {
                errs.push(format!("empty value in --cors-allowed-origins, help: {CORS_HELP}"));
                continue;
            }
            let re = match Regex::new(&o) {
                Ok(re) => re,
                Err(e) => {
                    errs.push(format!(
                        "--cors-allowed-origins has an invalid regular expression: {e}, help: {CORS_HELP}"
                    ));
                    continue;
                }
            };
            let pin_start = o.contains('^') || o.contains("//");
            let pin_end = o.contains('$') || o.contains(':');
            if !pin_start || !pin_end {
                errs.push(format!("--cors-allowed-origins has an invalid regular expression: regular expression does not pin to start/end of host in the origin header, help: {CORS_HELP}"));
                continue;
            }
            cors.push(re);
        }
        let directives = opts.get_list("strict-transport-security-directives");
        for d in &directives {
            if d.trim().is_empty() {
                errs.push("empty value in strict-transport-security-directives".into());
            } else if d != "includeSubDomains" && d != "preload" {
                let parts: Vec<&str> = d.split('=').collect();
                if parts.len() != 2 || parts[0] != "max-age" {
                    errs.push("--strict-transport-security-directives invalid, allowed values: max-age=expireTime, includeSubDomains, preload. see https://tools.ietf.org/html/rfc6797#section-6.1 for more information".into());
                }
            }
        }
        if !errs.is_empty() {
            anyhow::bail!(errs.join("\n"));
        }
        let hsts = if directives.is_empty() {
            None
        } else {
            Some(HeaderValue::from_str(&directives.join("; "))?)
        };
        Ok(SecurityHeaders { cors, hsts })
    }

    /// The request's `Origin` when CORS is on and it is allowed (read before the request goes
    /// down the chain).
    pub fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        if self.cors.is_empty() {
            return None;
        }
        let origin = headers.get("origin")?;
        let text = origin.to_str().ok().filter(|o| !o.is_empty())?;
        self.cors.iter().any(|re| re.is_match(text)).then(|| origin.clone())
    }

    /// The answer to a CORS preflight from an allowed origin (204, before authentication).
    pub fn preflight(&self, method: &Method, origin: Option<&HeaderValue>) -> Option<Response> {
        if method != Method::OPTIONS {
            return None;
        }
        let origin = origin?.clone();
        let mut r = Response::new(Default::default());
        *r.status_mut() = http::StatusCode::NO_CONTENT;
        // HSTS wraps CORS upstream, so the preflight carries it too.
        self.apply(Some(origin), &mut r);
        Some(r)
    }

    fn add_cors(&self, h: &mut HeaderMap, origin: HeaderValue) {
        h.insert("access-control-allow-origin", origin);
        h.insert("access-control-allow-methods", HeaderValue::from_static(ALLOW_METHODS));
        h.insert("access-control-allow-headers", HeaderValue::from_static(ALLOW_HEADERS));
        h.insert("access-control-expose-headers", HeaderValue::from_static("Date"));
        h.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
    }

    /// Add the headers to a response (`origin`: from [`SecurityHeaders::allowed_origin`]).
    pub fn apply(&self, origin: Option<HeaderValue>, resp: &mut Response) {
        if let Some(origin) = origin {
            self.add_cors(resp.headers_mut(), origin);
        }
        if let Some(v) = &self.hsts {
            resp.headers_mut()
                .entry("strict-transport-security")
                .or_insert_with(|| v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> ServeOptions {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        crate::config::load(&args, &[], std::path::Path::new("/nonexistent/capstan.yaml"))
            .unwrap()
            .1
    }

    #[test]
    fn upstream_validation() {
        let e = SecurityHeaders::from_options(&opts(&["--cors-allowed-origins=example.com"]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("--cors-allowed-origins has an invalid regular expression: regular expression does not pin to start/end of host in the origin header"), "{e}");
        let e = SecurityHeaders::from_options(&opts(&["--strict-transport-security-directives=max-age"]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("--strict-transport-security-directives invalid"), "{e}");
        assert!(SecurityHeaders::from_options(&opts(&[
            "--cors-allowed-origins=//example\\.com(:|$)",
            "--strict-transport-security-directives=max-age=31536000,includeSubDomains,preload"
        ]))
        .is_ok());
    }

    #[test]
    fn headers() {
        let h = SecurityHeaders::from_options(&opts(&[
            "--cors-allowed-origins=^https://ok\\.example(:|$)",
            "--strict-transport-security-directives=max-age=31536000,includeSubDomains",
        ]))
        .unwrap();
        let mut req = HeaderMap::new();
        req.insert("origin", HeaderValue::from_static("https://ok.example"));
        let origin = h.allowed_origin(&req);
        let pre = h.preflight(&Method::OPTIONS, origin.as_ref()).unwrap();
        assert_eq!(pre.status(), 204);
        assert_eq!(pre.headers()["access-control-allow-origin"], "https://ok.example");
        assert!(h.preflight(&Method::GET, origin.as_ref()).is_none());
        let mut r = Response::new(Default::default());
        h.apply(origin, &mut r);
        assert_eq!(r.headers()["access-control-allow-credentials"], "true");
        assert_eq!(
            r.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
        req.insert("origin", HeaderValue::from_static("https://ok.example.evil"));
        let origin = h.allowed_origin(&req);
        assert!(origin.is_none());
        let mut r = Response::new(Default::default());
        h.apply(origin, &mut r);
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
}
