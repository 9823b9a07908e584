//! Port-forward over WebSocket (kubectl 1.31+, `PortForwardWebsockets`): the client speaks
//! SPDY inside binary WebSocket messages (subprotocol `SPDY/3.1+portforward.k8s.io`). As
//! upstream's TunnelingHandler, the API server makes the SPDY/3.1 upgrade to the kubelet on the
//! client's behalf and, once the kubelet agrees, answers the WebSocket handshake and carries the
//! bytes between the two unchanged; a refusal from the kubelet is passed back as it came.

use super::forward::{stream_body, OutBody, DROP_RESPONSE};
use super::kubelet::{self, Location};
use super::websocket::{self, Socket};
use super::ProxyConfig;
use crate::error::{ApiError, ApiResult};
use crate::request::Request;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use warp::reply::Response;
use warp::Reply;

/// Client headers that belong to its WebSocket handshake, not to the kubelet's SPDY one.
const WEBSOCKET_ONLY: &[&str] = &[
    "sec-websocket-protocol",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "upgrade",
    "x-stream-protocol-version",
];

/// Tunnel the client's WebSocket port-forward to the kubelet's SPDY `/portForward/...`.
/// `headers`: the client's headers as the plain proxy would send them on.
pub async fn serve(
    cfg: &ProxyConfig,
    req: &Request,
    loc: &Location,
    mut headers: http::HeaderMap,
    path_and_query: &str,
    body: OutBody,
) -> ApiResult<Response> {
    let protocols = websocket::tunneled_spdy_protocols(&req.headers);
    if protocols.is_empty() {
        cfg.streams.tunneled(400);
        return Ok(crate::codec::encode::bytes_response(
            400,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"unable to upgrade: no tunneling spdy protocols provided\n"),
        ));
    }
    for h in WEBSOCKET_ONLY {
        headers.remove(*h);
    }
    headers.insert(http::header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(http::header::CONNECTION, HeaderValue::from_static("Upgrade"));
    for p in &protocols {
        if let Ok(v) = HeaderValue::from_str(p) {
            headers.append("x-stream-protocol-version", v);
        }
    }
    let mut out = http::Request::builder()
        .method(http::Method::POST)
        .uri(path_and_query)
        .body(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    *out.headers_mut() = headers;
    let io = kubelet::connect(loc, &cfg.kubelet_tls, cfg.timeout).await?;
    let mut resp = kubelet::send(io, out).await?;
    if resp.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        // The kubelet's refusal, passed back as it came.
        cfg.streams.tunneled(resp.status().as_u16());
        let status = resp.status();
        let from = resp.headers().clone();
        let mut r = stream_body(resp.into_body()).into_response();
        *r.status_mut() = status;
        for (k, v) in from.iter() {
            if !DROP_RESPONSE.contains(&k.as_str()) {
                r.headers_mut().append(k.clone(), v.clone());
            }
        }
        return Ok(r);
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    if !header("connection").to_ascii_lowercase().contains("upgrade")
        || !header("upgrade").to_ascii_lowercase().contains("spdy/3.1")
    {
        cfg.streams.tunneled(500);
        return Ok(crate::codec::encode::bytes_response(
            500,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"unable to upgrade: missing upgrade headers in response\n"),
        ));
    }
    // The kubelet's SPDY protocol, as the WebSocket subprotocol the client offered for it.
    let chosen = header("x-stream-protocol-version");
    let subprotocol = format!("{}{chosen}", websocket::SPDY_TUNNEL_PREFIX);
    let offered = websocket::protocols(&req.headers);
    let answer = (!chosen.is_empty() && offered.contains(&subprotocol)).then_some(subprotocol.as_str());
    let response = match websocket::accept(&req.headers, answer) {
        Ok(r) => r,
        Err(r) => {
            cfg.streams.tunneled(500);
            return Ok(*r);
        }
    };
    let Some(client) = req.upgrade.as_ref().and_then(|u| u.take()) else {
        return Err(ApiError::internal("connection cannot be upgraded"));
    };
    cfg.streams.tunneled(101);
    let backend = hyper::upgrade::on(&mut resp);
    tokio::spawn(async move {
        let (Ok(c), Ok(b)) = (client.await, backend.await) else {
            tracing::debug!("port-forward tunnel: upgrade did not complete");
            return;
        };
        carry(websocket::server(c).await, TokioIo::new(b)).await;
    });
    Ok(response)
}

/// Bytes both ways until either side ends; the kubelet's end closes the WebSocket normally.
async fn carry<B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send>(ws: Socket, backend: B) {
    let (mut sink, mut source) = ws.split();
    let (mut br, mut bw) = tokio::io::split(backend);
    let up = async {
        while let Some(Ok(msg)) = source.next().await {
            match msg {
                Message::Binary(b) => {
                    if bw.write_all(&b).await.is_err() || bw.flush().await.is_err() {
                        break;
                    }
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                // Text or close: the tunnel carries binary messages only.
                _ => break,
            }
        }
        let _ = bw.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 32 << 10];
        loop {
            match br.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink
                        .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
    };
    tokio::pin!(up, down);
    tokio::select! {
        _ = &mut up => {}
        // Give the client a moment to answer the close, so nothing unread resets the connection.
        _ = &mut down => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut up).await;
        }
    }
}
