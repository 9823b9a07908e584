//! `exec`/`attach` for WebSocket clients speaking `v5.channel.k8s.io` (kubectl 1.30+), as
//! upstream's StreamTranslator: the API server answers the WebSocket upgrade itself and runs the
//! session on the kubelet over SPDY/3.1, which is all a kubelet serves. v5 channels (one byte
//! before each binary message: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; `255, n` closes
//! the client's stream n) map onto SPDY streams; the kubelet's error stream becomes the final
//! Status on channel 3, then a normal close.

use super::kubelet::{self, Location};
use super::spdy::{self, Frame};
use super::websocket::{self, Socket};
use super::ProxyConfig;
use crate::error::{ApiError, ApiResult};
use crate::request::Request;
use crate::util::json::JsonExt;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use warp::reply::Response;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5: `[255, channel]` half-closes the client's stream on that channel.
const CLOSE_SIGNAL: u8 = 255;

/// The SPDY protocols offered to the kubelet (upstream's SPDY executor offers v1 too; a kubelet
/// that could only answer v1 predates 1.5). Over SPDY, v5 behaves as v4.
const SPDY_PROTOCOLS: &[&str] = &[
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
];
/// Upstream's translator pings the kubelet this often.
const PING_PERIOD: Duration = Duration::from_secs(5);
/// The error stream carries one Status; more than this is a protocol error.
const MAX_ERROR_STREAM: usize = 1 << 20;
/// How long the final Status write and the client's closing handshake may take.
const CLOSE_DEADLINE: Duration = Duration::from_secs(10);

/// The streams the client asked for (the `PodExecOptions`/`PodAttachOptions` flags).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// The kubelet endpoint the session runs on.
pub struct Target {
    pub loc: Location,
    pub tls: Arc<rustls::ClientConfig>,
    pub timeout: Duration,
    /// `/exec|/attach/{ns}/{pod}/{container}?...`.
    pub path_and_query: String,
}

/// Answer the client's WebSocket upgrade and run the session in the background.
pub fn serve(cfg: &ProxyConfig, req: &Request, target: Target, opts: Options) -> ApiResult<Response> {
    let response = match websocket::accept(&req.headers, Some(websocket::V5_CHANNEL)) {
        Ok(r) => r,
        Err(r) => {
            cfg.streams.translated(400);
            return Ok(*r);
        }
    };
    let Some(on) = req.upgrade.as_ref().and_then(|u| u.take()) else {
        return Err(ApiError::internal("connection cannot be upgraded"));
    };
    let counters = cfg.streams.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on.await else {
            counters.translated(400);
            return;
        };
        let code = session(websocket::server(upgraded).await, target, opts).await;
        counters.translated(code);
    });
    Ok(response)
}

/// A Kubernetes Status as upstream's translator writes it on the error channel (field order
/// of `metav1.Status`; no kind/apiVersion).
#[derive(Serialize)]
struct Status {
    metadata: serde_json::Map<String, serde_json::Value>,
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
}

#[derive(Serialize)]
struct Details {
    causes: Vec<Cause>,
}

#[derive(Serialize)]
struct Cause {
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
    message: String,
}

/// What ends a session: the Status for the client (already JSON) and the metric's code.
struct Outcome {
    status: Vec<u8>,
    code: u16,
}

impl Outcome {
    fn of(s: &Status, code: u16) -> Outcome {
        Outcome {
            status: serde_json::to_vec(s).unwrap_or_default(),
            code,
        }
    }

    fn success() -> Outcome {
        Outcome::of(
            &Status {
                metadata: Default::default(),
                status: "Success",
                message: String::new(),
                reason: String::new(),
                details: None,
                code: None,
            },
            200,
        )
    }

    /// `apierrors.NewInternalError(err)`.
    fn internal(err: &str) -> Outcome {
        Outcome::of(
            &Status {
                metadata: Default::default(),
                status: "Failure",
                message: format!("Internal error occurred: {err}"),
                reason: "InternalError".into(),
                details: Some(Details {
                    causes: vec![Cause {
                        reason: String::new(),
                        message: err.into(),
                    }],
                }),
                code: Some(500),
            },
            500,
        )
    }

    /// The command's non-zero exit code (upstream's `codeExitToStatusError`; counted as 200).
    fn exit_code(rc: u8) -> Outcome {
        Outcome::of(
            &Status {
                metadata: Default::default(),
                status: "Failure",
                message: format!("command terminated with non-zero exit code: command terminated with exit code {rc}"),
                reason: "NonZeroExitCode".into(),
                details: Some(Details {
                    causes: vec![Cause {
                        reason: "ExitCode".into(),
                        message: rc.to_string(),
                    }],
                }),
                code: None,
            },
            200,
        )
    }
}

/// The kubelet's error stream read as client-go's SPDY executor reads it (v4 decodes a Status;
/// v2/v3 carry the error text).
fn decode_error_stream(protocol: &str, msg: &[u8]) -> Outcome {
    if msg.is_empty() {
        return Outcome::success();
    }
    if !matches!(protocol, "v4.channel.k8s.io" | "v5.channel.k8s.io") {
        return Outcome::internal(&String::from_utf8_lossy(msg));
    }
    let text = String::from_utf8_lossy(msg);
    let status: serde_json::Value = match serde_json::from_slice(msg) {
        Ok(v) => v,
        Err(e) => return Outcome::internal(&format!("error stream protocol error: {e} in {text:?}")),
    };
    let field = |k: &str| status.str_of(k);
    match field("status") {
        "Success" => Outcome::success(),
        "Failure" if field("reason") == "NonZeroExitCode" => {
            let Some(causes) = status.pointer("/details/causes").and_then(serde_json::Value::as_array) else {
                return Outcome::internal("error stream protocol error: details must be set");
            };
            let Some(cause) = causes
                .iter()
                .find(|c| c.get("reason").and_then(serde_json::Value::as_str) == Some("ExitCode"))
            else {
                return Outcome::internal("error stream protocol error: no ExitCode cause given");
            };
            let m = cause.str_of("message");
            match m.parse::<u8>() {
                Ok(rc) => Outcome::exit_code(rc),
                Err(_) => Outcome::internal(&format!("error stream protocol error: invalid exit code value {m:?}")),
            }
        }
        "Failure" => Outcome::internal(field("message")),
        _ => Outcome::internal("error stream protocol error: unknown error"),
    }
}

type Sink = SplitSink<Socket, Message>;
type Kubelet = Box<dyn kubelet::Io>;

fn channel_message(channel: u8, data: &[u8]) -> Message {
    let mut m = Vec::with_capacity(1 + data.len());
    m.push(channel);
    m.extend_from_slice(data);
    Message::Binary(Bytes::from(m))
}

/// One session; returns the metric's code.
async fn session(ws: Socket, target: Target, opts: Options) -> u16 {
    let (mut sink, source) = ws.split();
    // An empty message on the lowest writable channel tells the client the connection is up.
    let first = if opts.stdout {
        STDOUT
    } else if opts.stderr {
        STDERR
    } else {
        ERROR
    };
    if sink.send(channel_message(first, &[])).await.is_err() {
        return 400;
    }
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let (outcome, reader) = match dial(&target).await {
        Err(msg) => (Some(Outcome::internal(&msg)), None),
        Ok((io, protocol)) => {
            let (r, w) = tokio::io::split(io);
            let ids = Ids::new(&opts, &protocol);
            let out = Arc::new(Mutex::new(SpdyOut {
                w,
                deflater: spdy::Deflater::default(),
                stdin_open: ids.stdin.is_some(),
            }));
            let opened = out.lock().await.open_streams(&ids).await;
            match opened {
                Err(e) => (Some(Outcome::internal(&e.to_string())), None),
                Ok(()) => {
                    let reader = tokio::spawn(client_to_kubelet(source, out.clone(), ids, done_rx));
                    let pinger = tokio::spawn(ping(out.clone()));
                    let outcome = kubelet_to_client(r, &out, &ids, &protocol, &mut sink).await;
                    pinger.abort();
                    let mut o = out.lock().await;
                    let _ = o.w.write_all(&spdy::goaway_frame(0)).await;
                    let _ = o.w.shutdown().await;
                    (outcome, Some(reader))
                }
            }
        }
    };
    let _ = done_tx.send(true);
    let Some(outcome) = outcome else {
        // The client is gone; nothing more can reach it.
        return 200;
    };
    let _ = tokio::time::timeout(CLOSE_DEADLINE, async {
        sink.send(channel_message(ERROR, &outcome.status)).await?;
        sink.send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await
    })
    .await;
    // Read on until the client's close answer so that nothing unread resets the connection.
    if let Some(Ok(mut source)) = match reader {
        Some(r) => Some(r.await),
        None => None,
    } {
        let _ = tokio::time::timeout(CLOSE_DEADLINE, async { while let Some(Ok(_)) = source.next().await {} }).await;
    }
    outcome.code
}

/// SPDY stream ids of the session (client streams are odd).
#[derive(Debug, Clone, Copy)]
struct Ids {
    error: u32,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<u32>,
}

impl Ids {
    /// The streams client-go's SPDY executor opens, in its order: error, stdin, stdout, stderr
    /// (not with a TTY), resize (TTY, v3 and later).
    fn new(opts: &Options, protocol: &str) -> Ids {
        let mut next = 1u32;
        let mut take = |want: bool| {
            want.then(|| {
                let id = next;
                next += 2;
                id
            })
        };
        let error = take(true).unwrap_or(1);
        Ids {
            error,
            stdin: take(opts.stdin),
            stdout: take(opts.stdout),
            stderr: take(opts.stderr && !opts.tty),
            resize: take(opts.tty && protocol != "v2.channel.k8s.io"),
        }
    }
}

/// The write half toward the kubelet, shared by the stdin pump, the pinger and the reader.
struct SpdyOut {
    w: WriteHalf<Kubelet>,
    deflater: spdy::Deflater,
    stdin_open: bool,
}

impl SpdyOut {
    async fn open_streams(&mut self, ids: &Ids) -> std::io::Result<()> {
        let mut frames = Vec::new();
        for (id, ty) in [
            (Some(ids.error), "error"),
            (ids.stdin, "stdin"),
            (ids.stdout, "stdout"),
            (ids.stderr, "stderr"),
            (ids.resize, "resize"),
        ] {
            if let Some(id) = id {
                frames.extend_from_slice(&self.deflater.syn_stream(id, &[("streamtype", ty)], false));
            }
        }
        self.w.write_all(&frames).await?;
        self.w.flush().await
    }

    async fn data(&mut self, stream: u32, data: &[u8]) -> std::io::Result<()> {
        for chunk in data.chunks(spdy::MAX_DATA) {
            self.w.write_all(&spdy::data_frame(stream, chunk, false)).await?;
        }
        self.w.flush().await
    }

    /// Half-close stdin (once), as the executor's `remoteStdin.Close()`.
    async fn close_stdin(&mut self, ids: &Ids) -> std::io::Result<()> {
        match ids.stdin {
            Some(id) if self.stdin_open => {
                self.stdin_open = false;
                self.w.write_all(&spdy::data_frame(id, &[], true)).await?;
                self.w.flush().await
            }
            _ => Ok(()),
        }
    }
}

/// Open the SPDY/3.1 connection to the kubelet; the protocol it chose, or the error message
/// upstream's SPDY executor gives.
async fn dial(t: &Target) -> Result<(Kubelet, String), String> {
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .uri(&t.path_and_query)
        .header(http::header::HOST, t.loc.authority())
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "SPDY/3.1");
    for p in SPDY_PROTOCOLS {
        req = req.header("x-stream-protocol-version", *p);
    }
    let req = req
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| format!("error creating request: {e}"))?;
    let sent = async {
        let io = kubelet::connect(&t.loc, &t.tls, t.timeout).await?;
        kubelet::send(io, req).await
    };
    let mut resp = match tokio::time::timeout(t.timeout.max(Duration::from_secs(30)), sent).await {
        Err(_) => return Err("error sending request: timeout awaiting response headers".into()),
        Ok(Err(e)) => return Err(format!("error sending request: {}", e.message)),
        Ok(Ok(r)) => r,
    };
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let upgraded_ok = resp.status() == http::StatusCode::SWITCHING_PROTOCOLS
        && header("connection").contains("upgrade")
        && header("upgrade").contains("spdy/3.1");
    if !upgraded_ok {
        let body = http_body_util::Limited::new(resp.into_body(), 64 << 10).collect().await;
        let text = match body {
            Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
            Err(_) => "unable to read error from server response".into(),
        };
        return Err(format!("unable to upgrade connection: {text}"));
    }
    let protocol = resp
        .headers()
        .get("x-stream-protocol-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !SPDY_PROTOCOLS.contains(&protocol.as_str()) {
        return Err(format!("unsupported streaming protocol {protocol:?}"));
    }
    let upgraded = hyper::upgrade::on(&mut resp)
        .await
        .map_err(|e| format!("error sending request: {e}"))?;
    Ok((Box::new(hyper_util::rt::TokioIo::new(upgraded)), protocol))
}

/// Keep the kubelet connection alive (odd ids: ours).
async fn ping(out: Arc<Mutex<SpdyOut>>) {
    let mut id = 1u32;
    let mut tick = tokio::time::interval(PING_PERIOD);
    tick.tick().await;
    loop {
        tick.tick().await;
        let mut o = out.lock().await;
        if o.w.write_all(&spdy::ping_frame(id)).await.is_err() || o.w.flush().await.is_err() {
            return;
        }
        id = id.wrapping_add(2) & 0x7fff_ffff;
    }
}

/// Client messages to kubelet streams until the client closes or the session is over; then
/// stdin is closed, as upstream's closed channels end the executor's stdin copy.
async fn client_to_kubelet(
    mut source: SplitStream<Socket>,
    out: Arc<Mutex<SpdyOut>>,
    ids: Ids,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> SplitStream<Socket> {
    let mut resize = ids.resize.map(|id| (id, Vec::<u8>::new()));
    loop {
        let msg = tokio::select! {
            m = source.next() => m,
            _ = done.changed() => break,
        };
        let data = match msg {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Text(t))) => Bytes::copy_from_slice(t.as_bytes()),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            _ => break,
        };
        let Some((&channel, payload)) = data.split_first() else {
            continue;
        };
        let sent = match channel {
            CLOSE_SIGNAL if payload.len() != 1 => break,
            CLOSE_SIGNAL if payload[0] == STDIN => out.lock().await.close_stdin(&ids).await,
            STDIN => match ids.stdin {
                Some(id) => {
                    let mut o = out.lock().await;
                    if o.stdin_open {
                        o.data(id, payload).await
                    } else {
                        Ok(())
                    }
                }
                None => Ok(()),
            },
            RESIZE => match resize.as_mut() {
                Some((id, buf)) => match next_sizes(buf, payload) {
                    Some(frames) if !frames.is_empty() => out.lock().await.data(*id, &frames).await,
                    Some(_) => Ok(()),
                    None => {
                        // Upstream stops reading resizes at the first undecodable one.
                        resize = None;
                        Ok(())
                    }
                },
                None => Ok(()),
            },
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = out.lock().await.close_stdin(&ids).await;
    source
}

/// Terminal sizes decoded from the resize channel (JSON objects, possibly split across
/// messages), re-encoded one per line as the SPDY executor writes them; None when undecodable.
fn next_sizes(buf: &mut Vec<u8>, payload: &[u8]) -> Option<Vec<u8>> {
    #[derive(serde::Deserialize, Serialize)]
    struct Size {
        #[serde(rename = "Width", default)]
        width: u16,
        #[serde(rename = "Height", default)]
        height: u16,
    }
    buf.extend_from_slice(payload);
    if buf.len() > 4096 {
        return None;
    }
    let mut out = Vec::new();
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Size>();
    let mut used = 0;
    loop {
        match it.next() {
            Some(Ok(size)) => {
                used = it.byte_offset();
                out.extend_from_slice(&serde_json::to_vec(&size).ok()?);
                out.push(b'\n');
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => return None,
            None => break,
        }
    }
    buf.drain(..used);
    Some(out)
}

/// Kubelet frames to client channels until stdout, stderr and the error stream have ended;
/// the Status to send, or None when the client can no longer be written to.
async fn kubelet_to_client(
    mut r: ReadHalf<Kubelet>,
    out: &Arc<Mutex<SpdyOut>>,
    ids: &Ids,
    protocol: &str,
    sink: &mut Sink,
) -> Option<Outcome> {
    let mut inflater = spdy::Inflater::default();
    let mut outputs: Vec<u32> = [ids.stdout, ids.stderr].into_iter().flatten().collect();
    let mut error_open = true;
    let mut error = Vec::new();
    while error_open || !outputs.is_empty() {
        let (stream, data, fin) = match spdy::read_frame(&mut r).await {
            Ok(Some(Frame::Data { stream, fin, data })) => (stream, data, fin),
            Ok(Some(Frame::Control { kind, payload, .. })) => {
                let ended = match kind {
                    spdy::RST_STREAM => spdy::stream_of(&payload),
                    spdy::SYN_REPLY | spdy::HEADERS => inflater.skip_block(&payload).err().map(|_| 0),
                    spdy::SYN_STREAM => inflater.syn_stream_headers(&payload).err().map(|_| 0),
                    spdy::PING if payload.get(3).is_some_and(|b| b % 2 == 0) => {
                        // The kubelet's ping (even id): answer it.
                        let mut o = out.lock().await;
                        let _ = o.w.write_all(&spdy::control_frame(spdy::PING, 0, &payload)).await;
                        let _ = o.w.flush().await;
                        None
                    }
                    _ => None,
                };
                match ended {
                    // A broken header block: the connection is unusable.
                    Some(0) => break,
                    Some(id) => (id, Vec::new(), true),
                    None => continue,
                }
            }
            // The connection ended: every stream ends with it.
            Ok(None) | Err(_) => break,
        };
        if Some(stream) == ids.stdout || Some(stream) == ids.stderr {
            if !data.is_empty() {
                let ch = if Some(stream) == ids.stdout { STDOUT } else { STDERR };
                sink.send(channel_message(ch, &data)).await.ok()?;
            }
            if fin {
                outputs.retain(|s| *s != stream);
            }
        } else if stream == ids.error {
            if error.len() + data.len() > MAX_ERROR_STREAM {
                return Some(Outcome::internal("error stream protocol error: message too large"));
            }
            error.extend_from_slice(&data);
            error_open &= !fin;
        } else if Some(stream) == ids.stdin && fin {
            // The kubelet closed stdin: close ours too (the executor's second `once.Do`).
            let _ = out.lock().await.close_stdin(ids).await;
        }
    }
    Some(decode_error_stream(protocol, &error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(o: &Outcome) -> String {
        String::from_utf8_lossy(&o.status).into_owned()
    }

    #[test]
    fn error_stream_becomes_upstreams_status() {
        let ok = decode_error_stream("v4.channel.k8s.io", br#"{"metadata":{},"status":"Success"}"#);
        assert_eq!(
            (text(&ok).as_str(), ok.code),
            (r#"{"metadata":{},"status":"Success"}"#, 200)
        );
        assert_eq!(
            text(&decode_error_stream("v4.channel.k8s.io", b"")),
            r#"{"metadata":{},"status":"Success"}"#
        );
        let exit = decode_error_stream(
            "v4.channel.k8s.io",
            br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#,
        );
        assert_eq!(
            text(&exit),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        assert_eq!(exit.code, 200);
        let failed = decode_error_stream(
            "v4.channel.k8s.io",
            br#"{"metadata":{},"status":"Failure","message":"container not found (\"x\")","reason":"InternalError"}"#,
        );
        assert_eq!(
            text(&failed),
            r#"{"metadata":{},"status":"Failure","message":"Internal error occurred: container not found (\"x\")","reason":"InternalError","details":{"causes":[{"message":"container not found (\"x\")"}]},"code":500}"#
        );
        let bad = decode_error_stream(
            "v4.channel.k8s.io",
            br#"{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"300"}]}}"#,
        );
        assert!(
            text(&bad).contains(r#"invalid exit code value \"300\""#),
            "{}",
            text(&bad)
        );
        let v3 = decode_error_stream("v3.channel.k8s.io", b"oops");
        assert!(text(&v3).contains("Internal error occurred: oops"));
    }

    #[test]
    fn streams_are_opened_in_the_executors_order() {
        let all = Options {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        let ids = Ids::new(&all, "v4.channel.k8s.io");
        assert_eq!(
            (ids.error, ids.stdin, ids.stdout, ids.stderr, ids.resize),
            (1, Some(3), Some(5), Some(7), None)
        );
        let tty = Ids::new(&Options { tty: true, ..all }, "v4.channel.k8s.io");
        assert_eq!((tty.stderr, tty.resize), (None, Some(7)));
        let out_only = Ids::new(
            &Options {
                stdin: false,
                stderr: false,
                ..all
            },
            "v4.channel.k8s.io",
        );
        assert_eq!((out_only.stdin, out_only.stdout), (None, Some(3)));
    }

    #[test]
    fn resize_messages_are_reencoded_and_may_be_split() {
        let mut buf = Vec::new();
        assert_eq!(next_sizes(&mut buf, br#"{"Width":80,"#).as_deref(), Some(&b""[..]));
        assert_eq!(
            next_sizes(&mut buf, br#""Height":24}{"Width":1,"Height":2}"#).as_deref(),
            Some(&b"{\"Width\":80,\"Height\":24}\n{\"Width\":1,\"Height\":2}\n"[..])
        );
        assert!(buf.is_empty());
        assert!(next_sizes(&mut buf, b"nonsense").is_none());
    }
}
