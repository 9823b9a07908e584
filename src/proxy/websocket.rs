//! The server side of a WebSocket upgrade (RFC 6455) for the streams the API server terminates
//! itself: the handshake answer, subprotocol parsing as upstream reads it, and the framed stream
//! over the upgraded connection.

use base64::Engine;
use http::{HeaderMap, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use warp::reply::Response;

/// exec/attach with the stream-close signal (remotecommand v5).
pub const V5_CHANNEL: &str = "v5.channel.k8s.io";
/// Port-forward tunnelling: the WebSocket subprotocol is this prefix plus the SPDY one.
pub const SPDY_TUNNEL_PREFIX: &str = "SPDY/3.1+";

/// An upgraded client connection speaking WebSocket frames.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// `Upgrade: websocket` on a `Connection: Upgrade` request (upstream's `IsWebSocketRequest`).
pub fn is_websocket(h: &HeaderMap) -> bool {
    super::forward::is_upgrade(h)
        && h.get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// The subprotocols offered in the first `Sec-WebSocket-Protocol` header, trimmed, in order.
pub fn protocols(h: &HeaderMap) -> Vec<String> {
    h.get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// A WebSocket exec/attach request offering v5 (upstream's `IsWebSocketRequestWithStreamCloseProtocol`).
pub fn wants_v5(h: &HeaderMap) -> bool {
    is_websocket(h) && protocols(h).iter().any(|p| p == V5_CHANNEL)
}

/// A WebSocket port-forward request offering a tunnelled SPDY protocol (upstream's
/// `IsWebSocketRequestWithTunnelingProtocol`).
pub fn wants_tunnel(h: &HeaderMap) -> bool {
    is_websocket(h) && !tunneled_spdy_protocols(h).is_empty()
}

/// The SPDY protocols carried in `SPDY/3.1+<protocol>.k8s.io` subprotocols.
pub fn tunneled_spdy_protocols(h: &HeaderMap) -> Vec<String> {
    protocols(h)
        .iter()
        .filter(|p| p.ends_with(".k8s.io"))
        .filter_map(|p| p.strip_prefix(SPDY_TUNNEL_PREFIX))
        .map(str::to_string)
        .collect()
}

fn plain(code: u16, msg: &str) -> Response {
    let mut r = crate::codec::encode::bytes_response(code, "text/plain; charset=utf-8", format!("{msg}\n").into());
    r.headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

/// The 101 answer to the client's handshake choosing `protocol`, or the 400 a Go WebSocket
/// server gives a malformed handshake.
pub fn accept(h: &HeaderMap, protocol: Option<&str>) -> Result<Response, Box<Response>> {
    let version_ok = h
        .get_all(http::header::SEC_WEBSOCKET_VERSION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim() == "13"));
    if !version_ok {
        let mut r = plain(
            400,
            "Bad Request: websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header",
        );
        r.headers_mut()
            .insert(http::header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(Box::new(r));
    }
    let key = h
        .get(http::header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| {
            base64::engine::general_purpose::STANDARD
                .decode(k)
                .is_ok_and(|b| b.len() == 16)
        });
    let Some(key) = key else {
        return Err(Box::new(plain(
            400,
            "Bad Request: websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length",
        )));
    };
    let mut r = crate::codec::encode::bytes_response(101, "", bytes::Bytes::new());
    let out = r.headers_mut();
    out.clear();
    out.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(http::header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept_key(key)) {
        out.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(v) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        out.insert(http::header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    Ok(r)
}

/// `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(key: &str) -> String {
    let mut data = key.as_bytes().to_vec();
    data.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &data);
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// Largest message a client may send: stdin and port-forward chunks are 32 KiB in client-go.
const MAX_MESSAGE: usize = 4 << 20;

/// The server end of an upgraded connection, with bounded message sizes.
pub async fn server(upgraded: hyper::upgrade::Upgraded) -> Socket {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn upgrade_kinds_are_told_apart_like_upstream() {
        let ws = [("connection", "Upgrade"), ("upgrade", "websocket")];
        let v5 = headers(&[
            ws[0],
            ws[1],
            ("sec-websocket-protocol", "v5.channel.k8s.io, v4.channel.k8s.io"),
        ]);
        assert!(wants_v5(&v5) && !wants_tunnel(&v5));
        let v4 = headers(&[ws[0], ws[1], ("sec-websocket-protocol", "v4.channel.k8s.io")]);
        assert!(!wants_v5(&v4));
        let pf = headers(&[ws[0], ws[1], ("sec-websocket-protocol", "SPDY/3.1+portforward.k8s.io")]);
        assert!(wants_tunnel(&pf) && !wants_v5(&pf));
        assert_eq!(tunneled_spdy_protocols(&pf), ["portforward.k8s.io"]);
        let spdy = headers(&[("connection", "Upgrade"), ("upgrade", "SPDY/3.1")]);
        assert!(!wants_v5(&spdy) && !wants_tunnel(&spdy));
    }

    #[test]
    fn handshake_answer_follows_rfc6455() {
        // The RFC's own example key.
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let ok = headers(&[
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        let r = accept(&ok, Some(V5_CHANNEL)).expect("101");
        assert_eq!(r.status(), 101);
        assert_eq!(r.headers()["sec-websocket-protocol"], V5_CHANNEL);
        let old = headers(&[
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert_eq!(accept(&old, None).map(|_| ()).unwrap_err().status(), 400);
        let nokey = headers(&[("sec-websocket-version", "13")]);
        assert_eq!(accept(&nokey, None).map(|_| ()).unwrap_err().status(), 400);
    }
}
