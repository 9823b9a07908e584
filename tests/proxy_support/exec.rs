//! The stand-in kubelet's remotecommand server (`v4.channel.k8s.io` over SPDY/3.1), as a 1.33
//! kubelet runs it: it waits for the streams the query asks for (error; stdin `input=1`; stdout
//! `output=1`; stderr `error=1` unless `tty=1`; resize with `tty=1`), runs the session, writes the
//! Status on the error stream and closes. `exec` runs the command for real on this machine
//! (stdin/stdout/stderr piped; with a TTY, stderr goes to stdout, as a terminal would merge them);
//! `attach` greets with `attached to <container>` and echoes stdin.

use super::spdy::{self, SharedWriter};
use super::Resizes;
use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The session's streams by type.
type Streams = HashMap<String, u32>;

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => out.push(v),
                    Err(_) => out.extend_from_slice(&b[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn serve<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: IO,
    path: &str,
    query: &str,
    resizes: Resizes,
) {
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect();
    let on = |k: &str| pairs.iter().any(|(n, v)| n == k && v == "1");
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let tty = on("tty");
    let mut expected = vec!["error"];
    for (flag, ty) in [
        ("input", "stdin"),
        ("output", "stdout"),
        ("error", "stderr"),
        ("tty", "resize"),
    ] {
        if on(flag) && !(ty == "stderr" && tty) {
            expected.push(ty);
        }
    }
    let attach = path
        .strip_prefix("/attach/")
        .map(|rest| rest.rsplit('/').next().unwrap_or("").to_string());

    let mut conn = spdy::Conn::new(io);
    let w = conn.w.clone();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<Streams>();
    let (stdin_tx, stdin_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    // Frames in: streams until all expected are open, then stdin data and terminal sizes.
    let reader = tokio::spawn(async move {
        let mut streams = Streams::new();
        let mut started = Some(started_tx);
        let mut stdin = Some(stdin_tx);
        let mut resize_buf = Vec::new();
        while let Some(ev) = conn.next().await {
            match ev {
                spdy::Event::Stream(id, h) => {
                    let ty = h.iter().find(|(k, _)| k == "streamtype").map(|(_, v)| v.clone());
                    streams.insert(ty.unwrap_or_default(), id);
                    if expected.iter().all(|t| streams.contains_key(*t)) {
                        if let Some(tx) = started.take() {
                            let _ = tx.send(streams.clone());
                        }
                    }
                }
                spdy::Event::Data(id, data, fin) => {
                    if Some(&id) == streams.get("stdin") {
                        if let Some(tx) = &stdin {
                            if !data.is_empty() && tx.send(data).await.is_err() {
                                stdin = None;
                            }
                        }
                        if fin {
                            stdin = None;
                        }
                    } else if Some(&id) == streams.get("resize") {
                        resize_buf.extend_from_slice(&data);
                        while let Some(n) = resize_buf.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = resize_buf.drain(..=n).collect();
                            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
                                let dim = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0) as u16;
                                resizes.lock().unwrap().push((dim("Width"), dim("Height")));
                            }
                        }
                    }
                }
                spdy::Event::Reset(id) => {
                    if Some(&id) == streams.get("stdin") {
                        stdin = None;
                    }
                }
            }
        }
    });
    if let Ok(streams) = started_rx.await {
        let status = match attach {
            Some(container) => run_attach(&w, &streams, &container, stdin_rx).await,
            None => run_exec(&w, &streams, &command, tty, stdin_rx).await,
        };
        let mut out = w.lock().await;
        for ty in ["stdout", "stderr"] {
            if let Some(id) = streams.get(ty) {
                let _ = out.data(*id, b"", true).await;
            }
        }
        if let Some(id) = streams.get("error") {
            let _ = out.data(*id, status.as_bytes(), true).await;
        }
        out.close().await;
    }
    // The client closes its side once it has read everything; then the connection is done.
    let abort = reader.abort_handle();
    if tokio::time::timeout(Duration::from_secs(10), reader).await.is_err() {
        abort.abort();
    }
}

const SUCCESS: &str = r#"{"metadata":{},"status":"Success"}"#;

async fn run_attach(
    w: &SharedWriter<impl AsyncRead + AsyncWrite + Unpin>,
    streams: &Streams,
    container: &str,
    mut stdin: tokio::sync::mpsc::Receiver<Vec<u8>>,
) -> String {
    let out = streams.get("stdout").copied();
    if let Some(id) = out {
        let _ = w
            .lock()
            .await
            .data(id, format!("attached to {container}\n").as_bytes(), false)
            .await;
    }
    if streams.contains_key("stdin") {
        while let Some(chunk) = stdin.recv().await {
            if let Some(id) = out {
                let _ = w.lock().await.data(id, &chunk, false).await;
            }
        }
    }
    SUCCESS.to_string()
}

async fn run_exec(
    w: &SharedWriter<impl AsyncRead + AsyncWrite + Unpin + Send + 'static>,
    streams: &Streams,
    command: &[String],
    tty: bool,
    mut stdin: tokio::sync::mpsc::Receiver<Vec<u8>>,
) -> String {
    let Some((program, args)) = command.split_first() else {
        return failure("command is required");
    };
    let piped = |want: bool| if want { Stdio::piped() } else { Stdio::null() };
    let stdout_id = streams.get("stdout").copied();
    let stderr_id = if tty { stdout_id } else { streams.get("stderr").copied() };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(piped(streams.contains_key("stdin")))
        .stdout(piped(stdout_id.is_some()))
        .stderr(piped(stderr_id.is_some()))
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return failure(&format!("failed to exec in container: {program}: {e}")),
    };
    if let Some(mut pipe) = child.stdin.take() {
        tokio::spawn(async move {
            while let Some(chunk) = stdin.recv().await {
                if pipe.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
    }
    let mut pumps = Vec::new();
    for (pipe, id) in [
        (
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn AsyncRead + Unpin + Send>),
            stdout_id,
        ),
        (
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn AsyncRead + Unpin + Send>),
            stderr_id,
        ),
    ] {
        let (Some(mut pipe), Some(id)) = (pipe, id) else {
            continue;
        };
        let w = w.clone();
        pumps.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 << 10];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 || w.lock().await.data(id, &buf[..n], false).await.is_err() {
                    return;
                }
            }
        }));
    }
    let status = child.wait().await;
    for p in pumps {
        let _ = p.await;
    }
    match status.ok().and_then(|s| s.code()) {
        Some(0) => SUCCESS.to_string(),
        Some(rc) => serde_json::json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {rc}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": rc.to_string()}]}
        })
        .to_string(),
        None => failure("command was killed"),
    }
}

fn failure(msg: &str) -> String {
    serde_json::json!({"metadata": {}, "status": "Failure", "message": msg, "reason": "InternalError", "code": 500})
        .to_string()
}
