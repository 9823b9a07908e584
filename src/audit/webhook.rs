//! The webhook backend: batches of events POSTed as an `audit.k8s.io/v1` EventList to the
//! server named by a kubeconfig (`--audit-webhook-config-file`), retried with exponential
//! backoff (`--audit-webhook-initial-backoff`, factor 1.5, 5 steps, as upstream).
//! Runs on the batch thread of [`super::log::Backend`], so it never blocks requests in batch mode.

use super::log::Sink;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Webhook {
    server: crate::outbound::kubeconfig::Server,
    initial_backoff: Duration,
}

impl Webhook {
    /// Read the kubeconfig (its current context, else the first cluster and user).
    pub fn from_kubeconfig(path: &std::path::Path, initial_backoff: Duration) -> Result<Webhook, String> {
        Ok(Webhook {
            server: crate::outbound::kubeconfig::load(path)?,
            initial_backoff,
        })
    }

    fn post_once(&self, body: &[u8]) -> io::Result<()> {
        let srv = &self.server;
        let tcp = TcpStream::connect((srv.host.as_str(), srv.port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            srv.path,
            srv.host,
            srv.port,
            body.len()
        );
        if let Some(t) = &srv.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        let mut resp = Vec::new();
        match (&srv.tls, srv.https) {
            (Some(cfg), true) => {
                let name = rustls::pki_types::ServerName::try_from(srv.host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
                let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                s.write_all(head.as_bytes())?;
                s.write_all(body)?;
                s.flush()?;
                let _ = s.read_to_end(&mut resp);
            }
            _ => {
                let mut s = tcp;
                s.write_all(head.as_bytes())?;
                s.write_all(body)?;
                s.flush()?;
                let _ = s.read_to_end(&mut resp);
            }
        }
        let line = resp.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let code: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        if (200..300).contains(&code) {
            Ok(())
        } else {
            Err(io::Error::other(format!("webhook answered {:?}", line.trim())))
        }
    }
}

/// `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[...]}`.
pub fn event_list(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":["#.to_vec();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(l);
    }
    out.extend_from_slice(b"]}");
    out
}

impl Sink for Webhook {
    fn write_batch(&mut self, lines: &[Vec<u8>]) -> io::Result<()> {
        let body = event_list(lines);
        let mut wait = self.initial_backoff;
        let mut last = None;
        for step in 0..5 {
            if step > 0 {
                std::thread::sleep(wait);
                wait = wait.mul_f64(1.5);
            }
            match self.post_once(&body) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("webhook failed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A one-thread HTTP receiver: answers `codes` in turn and hands over each body.
    fn receiver(codes: Vec<u16>) -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for code in codes {
                let Ok((s, _)) = l.accept() else { return };
                let mut r = io::BufReader::new(s);
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let _ = tx.send(body);
                let _ = r.get_mut().write_all(
                    format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                );
            }
        });
        (port, rx)
    }

    #[test]
    fn posts_event_lists_and_retries() {
        let (port, rx) = receiver(vec![500, 200]);
        let dir = tempfile::tempdir().expect("tempdir");
        let kc = dir.path().join("webhook.kubeconfig");
        std::fs::write(
            &kc,
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: sink\n  cluster:\n    server: http://127.0.0.1:{port}/audit\ncontexts:\n- name: c\n  context: {{cluster: sink, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: secret}}\n"),
        )
        .expect("write");
        let mut w = Webhook::from_kubeconfig(&kc, Duration::from_millis(10)).expect("kubeconfig");
        assert_eq!(w.server.path, "/audit");
        w.write_batch(&[br#"{"auditID":"a"}"#.to_vec(), br#"{"auditID":"b"}"#.to_vec()])
            .expect("delivered after a retry");
        let first = rx.recv().expect("first attempt");
        let second = rx.recv().expect("retry");
        assert_eq!(first, second);
        let v: serde_json::Value = serde_json::from_slice(&second).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
                "items": [{"auditID": "a"}, {"auditID": "b"}]})
        );
    }

    #[test]
    fn dead_webhook_in_batch_mode_never_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kc = dir.path().join("kc");
        // Nothing listens on port 1.
        std::fs::write(
            &kc,
            "clusters:\n- name: x\n  cluster:\n    server: http://127.0.0.1:1/\n",
        )
        .expect("write");
        let w = Webhook::from_kubeconfig(&kc, Duration::from_millis(5)).expect("kubeconfig");
        let b = super::super::log::Backend::new(
            Box::new(w),
            super::super::log::Mode::Batch,
            super::super::log::BatchConfig {
                buffer_size: 100,
                max_size: 400,
                max_wait: Duration::from_millis(10),
                throttle: None,
                max_bytes: None,
            },
            std::sync::Arc::default(),
        );
        let t = std::time::Instant::now();
        let accepted = (0..1000).filter(|_| b.process(b"{}".to_vec())).count();
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!((100..=1000).contains(&accepted));
        b.shutdown();
        let c = &b.counters;
        assert_eq!(c.events.load(std::sync::atomic::Ordering::Relaxed), 1000);
        // Every event was either dropped at the buffer or failed delivery.
        assert_eq!(c.errors.load(std::sync::atomic::Ordering::Relaxed), 1000);
    }
}
