//! A kubelet stand-in for the proxy tests: HTTPS on loopback that requires a client certificate
//! from our CA, serving `/containerLogs`, `/stats/summary` and `/exec` over WebSocket
//! (`v5.channel.k8s.io`/`v4.channel.k8s.io`); plus a plain HTTP "pod". Every request's path
//! and whether it carried an Authorization header are recorded for assertions.
#![allow(dead_code)]

mod spdy;

use crate::common::pki::{tls_acceptor, Ca, Cert};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Certificates: a CA, the kubelet's serving cert (IP SAN 127.0.0.1), the API server's client cert.
pub struct Pki {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    server: Cert,
    ca_pem: String,
}

pub fn pki(dir: &Path) -> Pki {
    let ca = Ca::new("kubelet-test-ca");
    let (client_cert, client_key) = ca
        .client_cert("kube-apiserver-kubelet-client")
        .write(dir, "kubelet-client");
    Pki {
        ca: ca.write(dir, "kubelet-ca.crt"),
        client_cert,
        client_key,
        server: ca.server_cert(&["127.0.0.1"]),
        ca_pem: ca.pem,
    }
}

/// What the stand-in saw: (path with query, had Authorization header).
pub type Seen = Arc<Mutex<Vec<(String, bool)>>>;

pub struct Kubelet {
    pub port: u16,
    pub seen: Seen,
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).map_err(|never| match never {}).boxed()
}

/// Start the kubelet stand-in on a free loopback port (TLS, client certificate required).
pub async fn start_kubelet(pki: &Pki) -> Kubelet {
    let acceptor = tls_acceptor(&pki.server, Some(&pki.ca_pem), &[b"http/1.1"]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind kubelet");
    let port = listener.local_addr().expect("addr").port();
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req| kubelet_request(req, seen.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Kubelet { port, seen }
}

async fn kubelet_request(
    mut req: http::Request<hyper::body::Incoming>,
    seen: Seen,
) -> Result<http::Response<Body>, std::convert::Infallible> {
    let pq = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    seen.lock()
        .unwrap()
        .push((pq.clone(), req.headers().contains_key("authorization")));
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if path.starts_with("/containerLogs/") {
        if query.contains("follow=true") {
            // Three lines, spaced out, then the end of the stream (a stand-in for a log that is
            // still being written: the spacing is the behaviour under test, not a wait).
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
            tokio::spawn(async move {
                for i in 1..=3 {
                    let _ = tx
                        .send(Ok(Frame::data(Bytes::from(format!("follow line {i}\n")))))
                        .await;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            });
            let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
            return Ok(http::Response::new(BodyExt::boxed(body)));
        }
        let container = path.rsplit('/').next().unwrap_or("");
        let text = if query.contains("tailLines=1") {
            "second line\n".to_string()
        } else {
            format!("hello from {container}\nsecond line\n")
        };
        return Ok(http::Response::new(full(text)));
    }
    if path == "/stats/summary" {
        return Ok(http::Response::new(full(r#"{"node":{"nodeName":"kubelet-standin"}}"#)));
    }
    let spdy_upgrade = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case("SPDY/3.1"));
    // exec answers "ran: <argv>", attach "attached to <container>".
    let streams = path.starts_with("/exec/") || path.starts_with("/attach/");
    let greeting = match path.strip_prefix("/attach/") {
        Some(rest) => format!("attached to {}\n", rest.rsplit('/').next().unwrap_or("")),
        None => {
            let words: Vec<String> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("command="))
                .map(|c| c.replace("%20", " "))
                .collect();
            format!("ran: {}\n", words.join(" "))
        }
    };
    if spdy_upgrade && (streams || path.starts_with("/portForward/")) {
        return Ok(spdy_upgrade_response(&mut req, streams, query, greeting));
    }
    if streams {
        let protocols = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let chosen = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
            .into_iter()
            .find(|p| protocols.split(',').any(|o| o.trim() == *p));
        let (Some(chosen), Some(key)) = (chosen, req.headers().get("sec-websocket-key").cloned()) else {
            let mut r = http::Response::new(full("stand-in kubelet: only WebSocket exec is served\n"));
            *r.status_mut() = http::StatusCode::BAD_REQUEST;
            return Ok(r);
        };
        let accept = websocket_accept(key.as_bytes());
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(up) = on.await else { return };
            let mut io = TokioIo::new(up);
            let out = greeting;
            let _ = io.write_all(&ws_frame(2, &[&[1u8][..], out.as_bytes()].concat())).await;
            let status = br#"{"metadata":{},"status":"Success"}"#;
            let _ = io.write_all(&ws_frame(2, &[&[3u8][..], &status[..]].concat())).await;
            let _ = io.write_all(&ws_frame(8, &1000u16.to_be_bytes())).await;
            let _ = io.flush().await;
            // Like a kubelet, keep the connection a moment after the close frame rather than
            // resetting it under the client's last read (stand-in behaviour, not a wait).
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        let r = http::Response::builder()
            .status(101)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", accept)
            .header("sec-websocket-protocol", chosen)
            .body(full(""))
            .unwrap_or_else(|_| http::Response::new(full("")));
        return Ok(r);
    }
    let mut r = http::Response::new(full("not found\n"));
    *r.status_mut() = http::StatusCode::NOT_FOUND;
    Ok(r)
}

fn websocket_accept(key: &[u8]) -> String {
    let mut data = key.to_vec();
    data.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &data);
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// One unmasked server frame with FIN set.
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n < 65536 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// A plain HTTP "pod" on loopback: answers `pod saw <METHOD> <path?query> auth=<bool> body=<body>`;
/// `/duplex` echoes each request body chunk as it arrives (a streamed response).
pub async fn start_pod() -> SocketAddr {
    start_pod_on(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)).await
}

/// The same "pod" on `ip`.
pub async fn start_pod_on(ip: std::net::IpAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind pod");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    if req.uri().path() == "/page" {
                        let html = r#"<html><a href="/docs/">docs</a><img src="rel.png"></html>"#;
                        let mut r = http::Response::new(full(html));
                        r.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("text/html; charset=utf-8"),
                        );
                        r.headers_mut()
                            .insert("access-control-allow-origin", http::HeaderValue::from_static("*"));
                        return Ok(r);
                    }
                    if req.uri().path() == "/duplex" {
                        // Every chunk goes back at once: the sender sees its first bytes echoed
                        // only if the proxy forwarded them before the upload ended.
                        let frames = req.into_body().into_data_stream();
                        let echoed =
                            futures_util::StreamExt::map(frames, |r| r.map(Frame::data).map_err(std::io::Error::other));
                        return Ok(http::Response::new(StreamBody::new(echoed).boxed()));
                    }
                    if req.uri().path() == "/go" {
                        let mut r = http::Response::new(full(""));
                        *r.status_mut() = http::StatusCode::FOUND;
                        r.headers_mut()
                            .insert("location", http::HeaderValue::from_static("/login"));
                        return Ok(r);
                    }
                    let method = req.method().to_string();
                    let pq = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
                    let auth = req.headers().contains_key("authorization");
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let text = format!(
                        "pod saw {method} {pq} auth={auth} body={}",
                        String::from_utf8_lossy(&body)
                    );
                    Ok::<_, std::convert::Infallible>(http::Response::new(full(text)))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

/// Answer a SPDY/3.1 upgrade for exec (`v4.channel.k8s.io`) or port-forward and serve it.
fn spdy_upgrade_response(
    req: &mut http::Request<hyper::body::Incoming>,
    exec: bool,
    query: String,
    greeting: String,
) -> http::Response<Body> {
    let offered: Vec<String> = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .collect();
    let want = if exec {
        "v4.channel.k8s.io"
    } else {
        "portforward.k8s.io"
    };
    if !offered.iter().any(|p| p == want) {
        let mut r = http::Response::new(full(format!("stand-in kubelet: none of {offered:?} supported\n")));
        *r.status_mut() = http::StatusCode::FORBIDDEN;
        return r;
    }
    let on = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(up) = on.await else { return };
        let io = TokioIo::new(up);
        if exec {
            serve_spdy_exec(io, &query, &greeting).await;
        } else {
            serve_spdy_portforward(io).await;
        }
    });
    http::Response::builder()
        .status(101)
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .header("x-stream-protocol-version", want)
        .body(full(""))
        .unwrap_or_else(|_| http::Response::new(full("")))
}

async fn serve_spdy_exec<IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    io: IO,
    query: &str,
    greeting: &str,
) {
    let mut expected = vec!["error"];
    for (param, ty) in [
        ("input=1", "stdin"),
        ("output=1", "stdout"),
        ("error=1", "stderr"),
        ("tty=1", "resize"),
    ] {
        if query.split('&').any(|kv| kv == param) {
            expected.push(ty);
        }
    }
    let mut streams: std::collections::HashMap<String, u32> = Default::default();
    let mut done = false;
    let mut conn = spdy::Conn::new(io);
    while let Some(ev) = conn.next().await {
        let w = &mut conn.w;
        if let spdy::Event::Stream(id, h) = ev {
            streams.insert(h.get("streamtype").cloned().unwrap_or_default(), id);
        }
        if !done && expected.iter().all(|t| streams.contains_key(*t)) {
            done = true;
            if let Some(id) = streams.get("stdout") {
                let _ = w.data(*id, greeting.as_bytes(), true).await;
            }
            if let Some(id) = streams.get("stderr") {
                let _ = w.data(*id, b"", true).await;
            }
            if let Some(id) = streams.get("error") {
                let _ = w.data(*id, br#"{"metadata":{},"status":"Success"}"#, true).await;
            }
        }
    }
}

/// Port-forward: every chunk on a data stream comes back as `pong:<chunk>`.
async fn serve_spdy_portforward<IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(io: IO) {
    // stream id -> (type, requestid)
    let mut streams: std::collections::HashMap<u32, (String, String)> = Default::default();
    let mut conn = spdy::Conn::new(io);
    while let Some(ev) = conn.next().await {
        let w = &mut conn.w;
        match ev {
            spdy::Event::Stream(id, h) => {
                let ty = h.get("streamtype").cloned().unwrap_or_default();
                let rid = h.get("requestid").cloned().unwrap_or_default();
                streams.insert(id, (ty, rid));
            }
            spdy::Event::Data(id, data, fin) => {
                let is_data = streams.get(&id).is_some_and(|(t, _)| t == "data");
                if is_data && !data.is_empty() {
                    let _ = w.data(id, &[&b"pong:"[..], &data[..]].concat(), false).await;
                }
                if is_data && fin {
                    let rid = streams.get(&id).map(|(_, r)| r.clone()).unwrap_or_default();
                    let _ = w.data(id, b"", true).await;
                    let err_id = streams
                        .iter()
                        .find(|(_, (t, r))| t == "error" && *r == rid)
                        .map(|(i, _)| *i);
                    if let Some(e) = err_id {
                        let _ = w.data(e, b"", true).await;
                    }
                }
            }
        }
    }
}

/// A non-loopback address of this machine (service backends listen there).
pub use crate::common::local_ip;
