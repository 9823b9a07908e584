//! Forwarding: `nodes|pods|services/{name}/proxy/{path}` and the kubelet's
//! `exec`/`attach`/`portForward`. Upgrade requests (WebSocket, SPDY/3.1) are sent to the
//! target with the same upgrade headers; on 101 both connections are piped byte for byte.

use super::kubelet::{self, Location};
use super::logs::{container, kubelet_of};
use super::ProxyConfig;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::request::Request;
use crate::util::json::JsonExt;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use warp::reply::Response;
use warp::Reply;

/// Hop-by-hop headers a proxy does not pass on (RFC 7230 §6.1), plus the client's credentials.
const DROP_REQUEST: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "host",
    "content-length",
];
/// Response headers a proxy does not pass back (hop-by-hop, and the length it re-frames).
pub const DROP_RESPONSE: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// `Connection: upgrade` with an `Upgrade` header.
pub fn is_upgrade(h: &HeaderMap) -> bool {
    h.get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
        && h.contains_key(http::header::UPGRADE)
}

/// A streamed response body: the target's body pumped through a bounded channel.
pub fn stream_body(body: hyper::body::Incoming) -> impl Reply {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let item = match frame {
                Ok(f) => match f.into_data() {
                    Ok(d) => Ok(d),
                    Err(_) => continue,
                },
                Err(e) => Err(std::io::Error::other(e)),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    warp::reply::stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A request body as sent on: the client's stream, or bytes already read.
pub type OutBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

fn full(b: Bytes) -> OutBody {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}

/// The body to send on: the client's stream (proxied requests are never buffered and have no
/// size limit, as upstream), else what was read already. A stream of undeclared length
/// is peeked so that an empty body goes out as none rather than as an empty chunked one.
pub async fn outbound_body(req: &Request) -> Result<OutBody, std::io::Error> {
    let Some(mut stream) = req.take_body_stream() else {
        return Ok(full(req.body_if_read().cloned().unwrap_or_default()));
    };
    let declared = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let first = match declared {
        Some(0) => return Ok(full(Bytes::new())),
        Some(_) => None,
        None => match stream.next().await {
            None => return Ok(full(Bytes::new())),
            Some(chunk) => Some(chunk?),
        },
    };
    let chained = futures_util::stream::iter(first.map(Ok)).chain(stream);
    Ok(StreamBody::new(chained.map(|r| r.map(Frame::data))).boxed_unsync())
}

/// Send on the client's declared length with a streamed body (hyper chunks it otherwise).
pub fn keep_content_length(body: &OutBody, from: &HeaderMap, to: &mut HeaderMap) {
    if body.size_hint().exact().is_none() {
        if let Some(v) = from.get(http::header::CONTENT_LENGTH) {
            to.insert(http::header::CONTENT_LENGTH, v.clone());
        }
    }
}

/// Largest HTML body buffered for link rewriting; bigger ones pass through unchanged.
const MAX_REWRITE: usize = 16 << 20;

/// Send the request to `loc` and answer with its response: streamed, or upgraded and piped.
/// `prepend`: the proxy path, for upstream's response rewriting (proxy subresources only).
#[allow(clippy::too_many_arguments)]
async fn forward(
    cfg: &ProxyConfig,
    req: &Request,
    loc: &Location,
    tls: &Arc<rustls::ClientConfig>,
    method: Method,
    path_and_query: &str,
    body: OutBody,
    prepend: Option<&str>,
) -> ApiResult<Response> {
    let upgrade = is_upgrade(&req.headers);
    let mut headers = request_headers(req, loc, upgrade, prepend.is_some());
    keep_content_length(&body, &req.headers, &mut headers);
    let mut out = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .body(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    *out.headers_mut() = headers;
    let io = kubelet::connect(loc, tls, cfg.timeout).await?;
    let mut resp = kubelet::send(io, out).await?;
    if upgrade && resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        let client = req.upgrade.as_ref().and_then(|s| s.take());
        let Some(client) = client else {
            return Err(ApiError::internal("connection cannot be upgraded"));
        };
        let mut r = warp::reply::with_status(warp::reply(), http::StatusCode::SWITCHING_PROTOCOLS).into_response();
        *r.headers_mut() = resp.headers().clone();
        let backend = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (Ok(c), Ok(b)) = (client.await, backend.await) else {
                tracing::debug!("upgrade did not complete");
                return;
            };
            let (mut c, mut b) = (TokioIo::new(c), TokioIo::new(b));
            if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut b).await {
                tracing::debug!(error = %e, "upgraded stream ended");
            }
        });
        return Ok(r);
    }
    let status = resp.status();
    let mut headers = resp.headers().clone();
    if let Some(prepend) = prepend {
        for h in super::rewrite::CORS_HEADERS {
            headers.remove(*h);
        }
        let backend_host = loc.authority();
        let request_host = req
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if let Some(l) = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()) {
            let new = super::rewrite::rewrite_url(l, prepend, &backend_host, &request_host);
            if let Ok(v) = HeaderValue::from_str(&new) {
                headers.insert(http::header::LOCATION, v);
            }
        } else if is_html(&headers) && !is_upgrade(&req.headers) {
            let encoding = headers
                .get(http::header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let limited = http_body_util::Limited::new(resp.into_body(), MAX_REWRITE);
            let body = limited
                .collect()
                .await
                .map_err(|e| ApiError::new(503, "ServiceUnavailable", format!("error trying to reach service: {e}")))?
                .to_bytes();
            let out = super::rewrite::rewrite_body(&body, encoding.as_deref(), prepend, &backend_host, &request_host)
                .unwrap_or(body);
            let mut r = crate::codec::encode::bytes_response(status.as_u16(), "text/html", out);
            copy_headers(&headers, r.headers_mut());
            return Ok(r);
        }
    }
    let mut r = stream_body(resp.into_body()).into_response();
    *r.status_mut() = status;
    copy_headers(&headers, r.headers_mut());
    Ok(r)
}

/// The headers sent to `loc`: the client's (see `outbound_headers`), `Host`, the client's
/// address appended to `X-Forwarded-For`, and on proxy paths `X-Forwarded-Uri`.
fn request_headers(req: &Request, loc: &Location, upgrade: bool, forwarded_uri: bool) -> HeaderMap {
    let mut h = outbound_headers(&req.headers, upgrade);
    if let Ok(v) = HeaderValue::from_str(&loc.authority()) {
        h.insert(http::header::HOST, v);
    }
    if let Some(ip) = req.remote.map(|r| r.ip().to_string()) {
        if let Ok(v) = HeaderValue::from_str(&ip) {
            h.append("x-forwarded-for", v);
        }
    }
    if forwarded_uri {
        if let Ok(v) = HeaderValue::from_str(&req.path) {
            h.insert("x-forwarded-uri", v);
        }
    }
    h
}

/// The client's headers as sent on: never its credentials (Authorization, impersonation),
/// never hop-by-hop headers except the upgrade pair on upgrade requests.
fn outbound_headers(from: &HeaderMap, upgrade: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in from.iter() {
        let name = k.as_str();
        if DROP_REQUEST.contains(&name) || name.starts_with("impersonate-") {
            continue;
        }
        if !upgrade && (name == "connection" || name == "upgrade") {
            continue;
        }
        h.append(k.clone(), v.clone());
    }
    h
}

fn is_html(h: &HeaderMap) -> bool {
    h.get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("text/html")
        })
}

/// The target's response headers minus hop-by-hop ones, replacing ours.
fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    to.clear();
    for (k, v) in from.iter() {
        if !DROP_RESPONSE.contains(&k.as_str()) {
            to.append(k.clone(), v.clone());
        }
    }
}

/// The raw path after the first `skip` segments (keeps a trailing slash).
fn raw_rest(path: &str, skip: usize) -> String {
    let trimmed = path.trim_start_matches('/');
    let mut parts = trimmed.splitn(skip + 1, '/');
    for _ in 0..skip {
        parts.next();
    }
    parts.next().unwrap_or("").to_string()
}

/// `scheme:name:port`, `name:port` or `name` (upstream's `SplitSchemeNamePort`).
fn split_scheme_name_port(id: &str) -> ApiResult<(String, String, String)> {
    let parts: Vec<&str> = id.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [n] => ("", *n, ""),
        [n, p] => ("", *n, *p),
        [s, n, p] => (*s, *n, *p),
        _ => ("", "", ""),
    };
    if name.is_empty() || !matches!(scheme, "" | "http" | "https") {
        return Err(ApiError::bad_request(format!("invalid request {id:?}")));
    }
    Ok((scheme.to_string(), name.to_string(), port.to_string()))
}

/// Upstream refuses loopback, link-local and multicast targets ("address not allowed").
fn check_proxyable(cfg: &ProxyConfig, host: &str) -> ApiResult<()> {
    if cfg.allow_loopback {
        return Ok(());
    }
    let bad = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback() || a.is_link_local() || a.is_multicast() || a.is_unspecified(),
        Ok(IpAddr::V6(a)) => {
            a.is_loopback() || a.is_multicast() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => host == "localhost",
    };
    if bad {
        return Err(ApiError::bad_request("address not allowed"));
    }
    Ok(())
}

fn target_path(rest: &str, query: &str) -> String {
    let mut p = format!("/{rest}");
    if !query.is_empty() {
        p.push('?');
        p.push_str(query);
    }
    p
}

/// Answer a proxy request (also the legacy `/api/v1/proxy/...` form when enabled).
pub async fn proxy(reg: &Registry, cfg: &ProxyConfig, req: &Request) -> ApiResult<Response> {
    let info = &req.info;
    let ns = info.namespace.as_deref().unwrap_or("");
    let id = info.name.as_deref().unwrap_or("");
    // Segments before the proxied path: api/v1/[namespaces/ns/]<resource>/<name>/proxy.
    let skip = if info.resource == "nodes" { 5 } else { 7 };
    let rest = raw_rest(&req.path, skip);
    proxy_to(reg, cfg, req, &info.resource, ns, id, &rest).await
}

/// `/api/v1/proxy/nodes/{name}/...`, `/api/v1/proxy/namespaces/{ns}/{pods|services}/{name}/...`
/// (removed upstream in 1.10; served when `--proxy-legacy-paths` is on).
pub async fn legacy(reg: &Registry, cfg: &ProxyConfig, req: &Request) -> ApiResult<Response> {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", "v1", "proxy", "nodes", name, ..] => {
            let rest = raw_rest(&req.path, 5);
            proxy_to(reg, cfg, req, "nodes", "", name, &rest).await
        }
        ["api", "v1", "proxy", "namespaces", ns, res @ ("pods" | "services"), name, ..] => {
            let rest = raw_rest(&req.path, 7);
            proxy_to(reg, cfg, req, res, ns, name, &rest).await
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

#[allow(clippy::too_many_arguments)]
async fn proxy_to(
    reg: &Registry,
    cfg: &ProxyConfig,
    req: &Request,
    resource: &str,
    ns: &str,
    id: &str,
    rest: &str,
) -> ApiResult<Response> {
    let (scheme, name, port) = split_scheme_name_port(id)?;
    let (loc, tls) = match resource {
        "nodes" => node_location(reg, cfg, &scheme, &name, &port).await?,
        "pods" => (pod_location(reg, cfg, ns, &scheme, &name, &port).await?, &cfg.plain_tls),
        _ => (
            service_location(reg, cfg, ns, &scheme, &name, &port).await?,
            &cfg.plain_tls,
        ),
    };
    if rest.is_empty() && !req.path.ends_with('/') && !is_upgrade(&req.headers) {
        // Upstream redirects an empty proxied path to the same path with a slash.
        let q = if req.raw_query.is_empty() {
            String::new()
        } else {
            format!("?{}", req.raw_query)
        };
        let mut r = crate::codec::encode::bytes_response(301, "text/html; charset=utf-8", Bytes::new());
        if let Ok(v) = HeaderValue::from_str(&format!("{}/{q}", req.path)) {
            r.headers_mut().insert(http::header::LOCATION, v);
        }
        return Ok(r);
    }
    // The proxy path before the target path (upstream's `PathPrepend`).
    let prepend = req
        .path
        .strip_suffix(&format!("/{rest}"))
        .unwrap_or(&req.path)
        .trim_end_matches('/')
        .to_string();
    let body = outbound_body(req)
        .await
        .map_err(|e| ApiError::bad_request(format!("error reading request body: {e}")))?;
    forward(
        cfg,
        req,
        &loc,
        tls,
        req.method.clone(),
        &target_path(rest, &req.raw_query),
        body,
        Some(&prepend),
    )
    .await
}

async fn get(reg: &Registry, group: &str, plural: &str, ns: Option<&str>, name: &str) -> ApiResult<Value> {
    let def =
        crate::api::builtin_row(group, plural).ok_or_else(|| ApiError::internal(format!("no {plural} resource")))?;
    Ok(reg.get(def, ns, name, None).await?.value())
}

/// The kubelet (its own port: client certificate) or another port on the node (plain).
async fn node_location<'a>(
    reg: &Registry,
    cfg: &'a ProxyConfig,
    scheme: &str,
    name: &str,
    port: &str,
) -> ApiResult<(Location, &'a Arc<rustls::ClientConfig>)> {
    let node = get(reg, "", "nodes", None, name).await?;
    let host = kubelet::node_address(&node, &cfg.address_types)?;
    check_proxyable(cfg, &host)?;
    let kport = kubelet::kubelet_port(&node, cfg.kubelet_port);
    if port.is_empty() || port == kport.to_string() {
        let scheme = if scheme.is_empty() { "https" } else { scheme };
        return Ok((
            Location {
                scheme: scheme.into(),
                host,
                port: kport,
            },
            &cfg.kubelet_tls,
        ));
    }
    let p: u16 = port
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid port {port:?}")))?;
    let scheme = if scheme.is_empty() { "http" } else { scheme };
    Ok((
        Location {
            scheme: scheme.into(),
            host,
            port: p,
        },
        &cfg.plain_tls,
    ))
}

/// The pod IP and the given (or first declared container) port.
async fn pod_location(
    reg: &Registry,
    cfg: &ProxyConfig,
    ns: &str,
    scheme: &str,
    name: &str,
    port: &str,
) -> ApiResult<Location> {
    let pod = get(reg, "", "pods", Some(ns), name).await?;
    let mut port = port.to_string();
    if port.is_empty() {
        let first = pod
            .arr_at("/spec/containers")
            .iter()
            .find_map(|c| c.pointer("/ports/0/containerPort").and_then(Value::as_u64));
        port = first.map(|p| p.to_string()).unwrap_or_else(|| "80".into());
    }
    let ip = pod.str_at("/status/podIP");
    if ip.parse::<IpAddr>().is_err() {
        return Err(ApiError::bad_request("address not allowed"));
    }
    check_proxyable(cfg, ip)?;
    Ok(Location {
        scheme: if scheme.is_empty() { "http" } else { scheme }.into(),
        host: ip.into(),
        port: port
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid port {port:?}")))?,
    })
}

/// A ready endpoint of the service port named (or numbered) `port` (the first when empty),
/// from its Endpoints (upstream's `ResourceLocation`).
async fn service_location(
    reg: &Registry,
    cfg: &ProxyConfig,
    ns: &str,
    scheme: &str,
    name: &str,
    port: &str,
) -> ApiResult<Location> {
    let svc = get(reg, "", "services", Some(ns), name).await?;
    let ports = svc.arr_at("/spec/ports").to_vec();
    let svc_port = ports.iter().find(|p| {
        let pname = p.str_of("name");
        port.is_empty()
            || pname == port
            || p.get("port").and_then(Value::as_u64).map(|n| n.to_string()).as_deref() == Some(port)
    });
    let Some(svc_port) = svc_port else {
        return Err(ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no service port {port:?} found for service {name:?}"),
        ));
    };
    let port_name = svc_port.str_of("name").to_string();
    // Upstream reads the Endpoints object; without one (no endpoints controller mirrors them
    // here) the EndpointSlices of the service stand in.
    let candidates = match get(reg, "", "endpoints", Some(ns), name).await {
        Ok(eps) => endpoints_candidates(reg, ns, &eps, &port_name).await,
        Err(e) if e.code == 404 => slice_candidates(reg, ns, name, &port_name).await?,
        Err(e) => return Err(e),
    };
    if candidates.is_empty() {
        return Err(ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service {name:?}"),
        ));
    }
    let start = rand::random::<u32>() as usize % candidates.len();
    for i in 0..candidates.len() {
        let (ip, p) = &candidates[(start + i) % candidates.len()];
        if check_proxyable(cfg, ip).is_ok() {
            return Ok(Location {
                scheme: if scheme.is_empty() { "http" } else { scheme }.into(),
                host: ip.clone(),
                port: *p,
            });
        }
    }
    Err(ApiError::bad_request("address not allowed"))
}

/// Ready addresses of the Endpoints subsets serving `port_name`, each checked as upstream's
/// `isValidAddress`: a Pod target in this namespace whose pod IPs hold the address.
async fn endpoints_candidates(reg: &Registry, ns: &str, eps: &Value, port_name: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for (addr, ip, port) in crate::outbound::endpoints::from_endpoints(eps, port_name) {
        if valid_address(reg, ns, addr, &ip).await {
            out.push((ip, port));
        }
    }
    out
}

async fn valid_address(reg: &Registry, ns: &str, addr: &Value, ip: &str) -> bool {
    let Some(target) = addr.get("targetRef") else {
        return false;
    };
    if target.str_of("namespace") != ns {
        return false;
    }
    let pod_name = target.str_of("name");
    let Ok(pod) = get(reg, "", "pods", Some(ns), pod_name).await else {
        return false;
    };
    pod.arr_at("/status/podIPs")
        .iter()
        .any(|p| p.get("ip").and_then(Value::as_str) == Some(ip))
}

/// Ready endpoints of the service's EndpointSlices serving `port_name`.
async fn slice_candidates(reg: &Registry, ns: &str, name: &str, port_name: &str) -> ApiResult<Vec<(String, u16)>> {
    let slices_def = crate::api::builtin_row("discovery.k8s.io", "endpointslices")
        .ok_or_else(|| ApiError::internal("no endpointslices resource"))?;
    let list = reg
        .list(slices_def, Some(ns), &crate::registry::options::ListOptions::default())
        .await?;
    Ok(crate::outbound::endpoints::from_slices(
        list.items.iter().map(|o| o.value()).collect::<Vec<_>>().iter(),
        name,
        port_name,
    ))
}

/// `exec`, `attach`, `portforward`: upgrade required; forwarded to the kubelet's
/// `/exec|/attach/{ns}/{pod}/{container}` or `/portForward/{ns}/{pod}`.
pub async fn kubelet_stream(reg: &Registry, cfg: &ProxyConfig, req: &Request) -> ApiResult<Response> {
    let info = &req.info;
    let ns = info.namespace.as_deref().unwrap_or("");
    let name = info.name.as_deref().unwrap_or("");
    let q = &req.query;
    let pod = get(reg, "", "pods", Some(ns), name).await?;
    let sub = info.subresource.as_deref().unwrap_or("");
    let mut params: Vec<(&str, String)> = Vec::new();
    let path = if sub == "portforward" {
        for p in q.all("ports") {
            params.push(("port", p.to_string()));
        }
        format!("/portForward/{ns}/{name}")
    } else {
        let c = container(&pod, name, q.get("container"))?;
        if sub == "exec" {
            for c in q.all("command") {
                params.push(("command", c.to_string()));
            }
        }
        for (from, to) in [
            ("stdin", "input"),
            ("stdout", "output"),
            ("stderr", "error"),
            ("tty", "tty"),
        ] {
            if q.flag(from)? {
                params.push((to, "1".into()));
            }
        }
        format!("/{sub}/{ns}/{name}/{c}")
    };
    let Some(loc) = kubelet_of(reg, cfg, &pod).await? else {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    };
    if !is_upgrade(&req.headers) {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", percent(v))).collect();
    let pq = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    // WebSocket forms a kubelet does not serve: translated (exec/attach v5) or tunnelled
    // (port-forward); everything else, SPDY included, is piped as it comes.
    if sub == "portforward" && super::websocket::wants_tunnel(&req.headers) {
        let headers = request_headers(req, &loc, true, false);
        return super::tunnel::serve(cfg, req, &loc, headers, &pq, full(Bytes::new())).await;
    }
    if sub != "portforward" && super::websocket::wants_v5(&req.headers) {
        let opts = super::translate::Options {
            stdin: q.flag("stdin")?,
            stdout: q.flag("stdout")?,
            stderr: q.flag("stderr")?,
            tty: q.flag("tty")?,
        };
        let target = super::translate::Target {
            loc,
            tls: cfg.kubelet_tls.clone(),
            timeout: cfg.timeout,
            path_and_query: pq,
        };
        return super::translate::serve(cfg, req, target, opts);
    }
    forward(
        cfg,
        req,
        &loc,
        &cfg.kubelet_tls,
        req.method.clone(),
        &pq,
        full(Bytes::new()),
        None,
    )
    .await
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_are_not_forwarded() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer secret"),
            ("impersonate-user", "bob"),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", "v5.channel.k8s.io"),
            ("accept", "text/html"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        let up = outbound_headers(&h, true);
        let names: Vec<&str> = up.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["connection", "upgrade", "sec-websocket-protocol", "accept"]);
        let plain = outbound_headers(&h, false);
        let names: Vec<&str> = plain.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["sec-websocket-protocol", "accept"]);
    }

    #[test]
    fn scheme_name_port_and_paths() {
        assert_eq!(
            split_scheme_name_port("https:web:8443").ok(),
            Some(("https".into(), "web".into(), "8443".into()))
        );
        assert_eq!(
            split_scheme_name_port("web:http").ok(),
            Some(("".into(), "web".into(), "http".into()))
        );
        assert!(split_scheme_name_port("ftp:web:1").is_err());
        assert_eq!(raw_rest("/api/v1/nodes/n1/proxy/stats/summary", 5), "stats/summary");
        assert_eq!(raw_rest("/api/v1/namespaces/d/pods/p/proxy/", 7), "");
        assert_eq!(raw_rest("/api/v1/namespaces/d/pods/p/proxy/a/", 7), "a/");
    }
}
