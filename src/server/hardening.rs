//! Connection and request limits against slow or greedy clients, with kube-apiserver's values
//! (k8s.io/apiserver/pkg/server/secure_serving.go): HTTP/1 headers must arrive within 32s
//! (`ReadHeaderTimeout`), HTTP/2 gets `--http2-max-streams-per-connection` (default 100) and
//! 256 KiB frames/stream windows; non-long-running requests end with a 504 after
//! `--request-timeout` (filters/timeout.go).

use crate::error::ApiError;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

/// Go's `http.Server.ReadHeaderTimeout` in kube-apiserver ("just shy of requestTimeoutUpperBound").
pub const READ_HEADER_TIMEOUT: Duration = Duration::from_secs(32);
/// Upstream's default `MaxConcurrentStreams` when the flag is 0 (matches Go clients' initial value).
const DEFAULT_H2_STREAMS: u32 = 100;
/// `resourceBody99Percentile`: h2 frame size and per-stream receive window.
const H2_WINDOW: u32 = 256 * 1024;
/// Dead HTTP/2 peers are found by pings (hyper has no h2 idle timeout like Go's 90s).
const H2_PING_EVERY: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `--request-timeout`; zero disables it.
    pub request_timeout: Duration,
    pub h2_max_streams: u32,
    /// `--disable-http2-serving`: HTTP/1.1 only (also for prior-knowledge h2 on plain ports).
    pub http1_only: bool,
}

impl Limits {
    pub fn from_options(opts: &crate::config::ServeOptions) -> Limits {
        let streams = opts
            .get_str("http2-max-streams-per-connection")
            .parse::<u32>()
            .unwrap_or(0);
        Limits {
            request_timeout: opts.get_duration("request-timeout"),
            h2_max_streams: if streams == 0 { DEFAULT_H2_STREAMS } else { streams },
            http1_only: opts.get_bool("disable-http2-serving"),
        }
    }

    /// The hyper connection builder with these limits.
    pub fn builder(&self) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
        let mut b = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        b.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(READ_HEADER_TIMEOUT);
        b.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.h2_max_streams)
            .max_frame_size(H2_WINDOW)
            .initial_stream_window_size(H2_WINDOW)
            .initial_connection_window_size(H2_WINDOW.saturating_mul(self.h2_max_streams))
            .keep_alive_interval(H2_PING_EVERY)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        if self.http1_only {
            return b.http1_only();
        }
        b
    }
}

/// The deadline of a request: `--request-timeout`, shortened by a valid `?timeout=` (upstream
/// WithRequestDeadline). None when there is none.
pub fn request_deadline(limit: Duration, query_timeout: Option<&str>) -> Option<Duration> {
    let asked = query_timeout
        .and_then(|t| crate::config::parse_duration(t).ok())
        .filter(|d| !d.is_zero());
    match (limit.is_zero(), asked) {
        (true, _) => None,
        (false, Some(a)) if a < limit => Some(a),
        (false, _) => Some(limit),
    }
}

/// Upstream's Status for a request cut off by the timeout filter.
pub fn timed_out() -> ApiError {
    // NewTimeoutError(msg, 0): an empty details object (retryAfterSeconds 0 is omitted).
    ApiError::timeout("Timeout: request did not complete within the allotted timeout")
        .with_details(serde_json::json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_timeout_only_shortens() {
        let m = Duration::from_secs(60);
        assert_eq!(request_deadline(m, None), Some(m));
        assert_eq!(request_deadline(m, Some("5s")), Some(Duration::from_secs(5)));
        assert_eq!(request_deadline(m, Some("2m")), Some(m));
        assert_eq!(request_deadline(m, Some("junk")), Some(m));
        assert_eq!(request_deadline(Duration::ZERO, Some("5s")), None);
    }

    #[test]
    fn timeout_status_is_upstreams() {
        let e = timed_out();
        assert_eq!(e.code, 504);
        assert_eq!(e.reason, "Timeout");
        assert_eq!(
            e.message,
            "Timeout: request did not complete within the allotted timeout"
        );
    }
}
