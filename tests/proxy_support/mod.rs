//! A kubelet stand-in for the proxy tests: HTTPS on loopback that requires a client certificate
//! from our CA, serving `/containerLogs`, `/stats/summary`, and `/exec`, `/attach` and
//! `/portForward` over SPDY/3.1 only, as a 1.33 kubelet does (exec runs the command for real on
//! this machine); plus a plain HTTP "pod". Every request's path and whether it carried an
//! Authorization header are recorded for assertions, and every terminal size received.
#![allow(dead_code)]

mod exec;
mod spdy;

use crate::common::pki::{tls_acceptor, Ca, Cert};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
/// Terminal sizes received on resize streams: (width, height).
pub type Resizes = Arc<Mutex<Vec<(u16, u16)>>>;

pub struct Kubelet {
    pub port: u16,
    pub seen: Seen,
    pub resizes: Resizes,
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
    let resizes: Resizes = Arc::default();
    let resizes2 = resizes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            let resizes = resizes2.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req| kubelet_request(req, seen.clone(), resizes.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Kubelet { port, seen, resizes }
}

async fn kubelet_request(
    mut req: http::Request<hyper::body::Incoming>,
    seen: Seen,
    resizes: Resizes,
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
    let streams = path.starts_with("/exec/") || path.starts_with("/attach/");
    if streams || path.starts_with("/portForward/") {
        if !spdy_upgrade {
            // A 1.33 kubelet serves these over SPDY/3.1 only: a WebSocket upgrade is refused.
            let mut r = http::Response::new(full("stand-in kubelet: only SPDY/3.1 upgrades are served\n"));
            *r.status_mut() = http::StatusCode::BAD_REQUEST;
            return Ok(r);
        }
        return Ok(spdy_upgrade_response(&mut req, path, query, resizes));
    }
    let mut r = http::Response::new(full("not found\n"));
    *r.status_mut() = http::StatusCode::NOT_FOUND;
    Ok(r)
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

/// Answer a SPDY/3.1 upgrade for exec/attach (`v4.channel.k8s.io`) or port-forward and serve it.
fn spdy_upgrade_response(
    req: &mut http::Request<hyper::body::Incoming>,
    path: String,
    query: String,
    resizes: Resizes,
) -> http::Response<Body> {
    let offered: Vec<String> = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .collect();
    let forward = path.starts_with("/portForward/");
    let want = if forward {
        "portforward.k8s.io"
    } else {
        "v4.channel.k8s.io"
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
        if forward {
            serve_spdy_portforward(io).await;
        } else {
            exec::serve(io, &path, &query, resizes).await;
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

/// Port-forward: every chunk on a data stream comes back as `pong:<chunk>`.
async fn serve_spdy_portforward<IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(io: IO) {
    // stream id -> (type, requestid)
    let mut streams: std::collections::HashMap<u32, (String, String)> = Default::default();
    let mut conn = spdy::Conn::new(io);
    while let Some(ev) = conn.next().await {
        match ev {
            spdy::Event::Stream(id, h) => {
                let get = |k: &str| {
                    h.iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                streams.insert(id, (get("streamtype"), get("requestid")));
            }
            spdy::Event::Data(id, data, fin) => {
                let mut w = conn.w.lock().await;
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
            spdy::Event::Reset(_) => {}
        }
    }
}

/// A non-loopback address of this machine (service backends listen there).
pub use crate::common::local_ip;
