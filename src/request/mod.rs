//! The request as it arrives, parsed once at the door and carried down the filter chain: method,
//! path, query ([`Query`]), what it is about ([`RequestInfo`]), who sends it ([`UserInfo`]), its
//! body (read once, with the size limit, or streamed when proxied) and a pending connection
//! upgrade. Everything above reads these fields; nothing parses the path or query again.

mod body;
mod info;
mod query;
mod user;

pub use body::{body_stream, read_body, BodyStream};
pub use info::RequestInfo;
pub use query::{dry_run_error, percent_decode, Query};
pub use user::{UserInfo, ANONYMOUS_USER, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP};

use crate::error::ApiResult;
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;
use std::sync::{Arc, Mutex, OnceLock};

/// One API request.
pub struct Request {
    pub method: Method,
    pub path: String,
    /// The query string as sent (proxies forward it unchanged).
    pub raw_query: String,
    pub query: Query,
    pub info: RequestInfo,
    pub headers: HeaderMap,
    /// The identity the connection carried (a verified client certificate, or the insecure port).
    pub conn_user: Option<UserInfo>,
    /// The user the request acts as: set by authentication (and impersonation) before any
    /// handler runs; None only before that.
    pub user: Option<UserInfo>,
    /// The connection's peer address.
    pub remote: Option<std::net::SocketAddr>,
    /// The pending connection upgrade of a `Connection: Upgrade` request.
    pub upgrade: Option<Upgrade>,
    /// The body not read yet: read with the limit, or taken by a proxy to stream it on. An
    /// async lock, so a read cut short (a timeout) leaves the rest here to be drained.
    body_stream: tokio::sync::Mutex<Option<BodyStream>>,
    /// The body once read, and its decoding (JSON, YAML or protobuf) once decoded.
    body: OnceLock<ApiResult<Bytes>>,
    decoded: OnceLock<ApiResult<Value>>,
}

/// The request target parsed: path, query and what they name ([`RequestInfo`]). The
/// connection loop parses it before routing (a watch's stream is ended at shutdown) and hands
/// it on in the request's extensions, so the router does not parse it again.
#[derive(Clone)]
pub struct Target {
    pub path: String,
    /// The query string as sent.
    pub raw_query: String,
    pub query: Query,
    pub info: RequestInfo,
}

impl Target {
    pub fn parse(method: &Method, path: String, raw_query: String) -> Target {
        let query = Query::parse(&raw_query);
        let watch_param = query.flag("watch").unwrap_or(false);
        let info = RequestInfo::parse(method.as_str(), &path, watch_param);
        Target {
            path,
            raw_query,
            query,
            info,
        }
    }

    /// The target of an HTTP request.
    pub fn of<B>(req: &http::Request<B>) -> Target {
        let uri = req.uri();
        Target::parse(
            req.method(),
            uri.path().to_string(),
            uri.query().unwrap_or("").to_string(),
        )
    }

    /// A watch: a `/watch/` path or `?watch=true` (any of Go's true spellings).
    pub fn is_watch(&self) -> bool {
        self.info.watch_path || self.query.flag("watch").unwrap_or(false)
    }
}

impl Request {
    /// Parse path and query once; the body stays unread until a handler asks for it.
    pub fn new(
        method: Method,
        path: String,
        raw_query: String,
        headers: HeaderMap,
        body: Option<BodyStream>,
    ) -> Request {
        let target = Target::parse(&method, path, raw_query);
        Request::with_target(method, target, headers, body)
    }

    /// A request whose path and query are already parsed.
    pub fn with_target(method: Method, target: Target, headers: HeaderMap, body: Option<BodyStream>) -> Request {
        let Target {
            path,
            raw_query,
            query,
            info,
        } = target;
        Request {
            method,
            path,
            raw_query,
            query,
            info,
            headers,
            conn_user: None,
            user: None,
            remote: None,
            upgrade: None,
            body_stream: tokio::sync::Mutex::new(body),
            body: OnceLock::new(),
            decoded: OnceLock::new(),
        }
    }

    /// A request with no body (tests, internal calls).
    pub fn get(path: &str, raw_query: &str) -> Request {
        Request::new(
            Method::GET,
            path.to_string(),
            raw_query.to_string(),
            HeaderMap::new(),
            None,
        )
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `path?query` as sent.
    pub fn uri(&self) -> String {
        if self.raw_query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.raw_query)
        }
    }

    /// The unread body, once: a proxy streams it to its target without the size limit.
    pub fn take_body_stream(&self) -> Option<BodyStream> {
        self.body_stream.try_lock().ok()?.take()
    }

    /// The body, read once with `limit` (413 beyond it); empty when a proxy took the stream.
    pub async fn body(&self, limit: usize) -> ApiResult<Bytes> {
        if let Some(b) = self.body.get() {
            return b.clone();
        }
        let mut stream = self.body_stream.lock().await;
        let read = match stream.as_mut() {
            Some(s) => read_body(s, limit).await,
            None => Ok(Bytes::new()),
        };
        if read.is_ok() {
            *stream = None;
        }
        self.body.get_or_init(|| read).clone()
    }

    /// Read and discard what is left of an unread body (up to `bound` bytes) in the
    /// background, as Go's server does before it answers: a connection closed with unread
    /// request data would be reset and take the response with it.
    pub fn drain_body(&self, bound: usize) {
        let Some(mut stream) = self.take_body_stream() else {
            return;
        };
        tokio::spawn(async move {
            let mut seen = 0;
            while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut stream).await {
                seen += chunk.len();
                if seen > bound {
                    break;
                }
            }
        });
    }

    /// The body as read so far (None when no handler read it).
    pub fn body_if_read(&self) -> Option<&Bytes> {
        self.body.get().and_then(|b| b.as_ref().ok())
    }

    /// Decode the read body once with `decode`: the handler decodes it, the audit log reads
    /// the same value back with [`Request::decoded`]. None when no body was read.
    pub fn decode_with(&self, decode: impl FnOnce(&Bytes) -> ApiResult<Value>) -> Option<&ApiResult<Value>> {
        let body = self.body_if_read()?;
        Some(self.decoded.get_or_init(|| decode(body)))
    }

    /// The body's decoding, when a handler decoded it.
    pub fn decoded(&self) -> Option<&Value> {
        self.decoded.get().and_then(|d| d.as_ref().ok())
    }
}

/// The client connection's pending upgrade, taken from hyper before the router sees the request.
#[derive(Clone, Default)]
pub struct Upgrade(Arc<Mutex<Option<hyper::upgrade::OnUpgrade>>>);

impl Upgrade {
    pub fn take(&self) -> Option<hyper::upgrade::OnUpgrade> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Hook for the connection loop: keep the upgrade future of `Connection: Upgrade` requests.
    pub fn stash<B>(req: &mut http::Request<B>) {
        let wants = req
            .headers()
            .get(http::header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
        if wants {
            let on = hyper::upgrade::on(&mut *req);
            req.extensions_mut().insert(Upgrade(Arc::new(Mutex::new(Some(on)))));
        }
    }
}
