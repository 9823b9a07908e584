//! Per-case context: raw HTTP through kube-rs (TLS and credentials from the kubeconfig),
//! newline-delimited watch streams, and a kubectl runner.

use anyhow::{anyhow, bail, Context as _, Result};
use futures_util::io::AsyncBufReadExt;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, Method, Request};
use serde_json::Value;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Facts about the server under test, detected once at start.
pub struct Env {
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    pub context: Option<String>,
    pub output_dir: PathBuf,
    pub is_capstan: bool,
    pub has_kubelet: bool,
    pub has_controller_manager: bool,
    pub git_version: String,
}

/// Everything a case gets: the environment, its own namespace and (for kubectl cases) a kubectl.
#[derive(Clone)]
pub struct Ctx {
    pub env: Arc<Env>,
    pub ns: String,
    pub kubectl: Option<Kubectl>,
}

#[derive(Clone, Debug)]
pub struct Kubectl {
    pub version: String,
    pub path: PathBuf,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("response is not JSON: {}", self.text()))
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    /// The texts of all `Warning: 299 - "<text>"` headers, unquoted (RFC 7234 quoted-string).
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(warning_text)
            .collect()
    }

    /// Assert a 2xx-or-given status code and return the JSON body.
    pub fn expect(&self, code: u16) -> Result<Value> {
        if self.status != code {
            bail!("expected HTTP {code}, got {}: {}", self.status, self.text());
        }
        self.json()
    }

    /// Assert a failure `Status` object with this code and reason.
    pub fn expect_status(&self, code: u16, reason: &str) -> Result<Value> {
        let v = self.expect(code)?;
        check_eq(&v["kind"], "Status", "kind")?;
        check_eq(&v["apiVersion"], "v1", "apiVersion")?;
        check_eq(&v["status"], "Failure", "status")?;
        check_eq(&v["code"], code, "code")?;
        check_eq(&v["reason"], reason, "reason")?;
        Ok(v)
    }
}

/// `299 - "unknown field \"spec\""` -> `unknown field "spec"`.
pub fn warning_text(header: &str) -> String {
    let Some(q) = header.find('"') else {
        return header.to_string();
    };
    let inner = header[q + 1..].strip_suffix('"').unwrap_or(&header[q + 1..]);
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Compare a JSON value with an expected one, with a readable error.
pub fn check_eq(got: &Value, want: impl Into<Value>, what: &str) -> Result<()> {
    let want = want.into();
    if *got != want {
        bail!("{what}: expected {want}, got {got}");
    }
    Ok(())
}

pub fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if !cond {
        bail!("{}", msg());
    }
    Ok(())
}

impl Ctx {
    pub async fn req(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Result<Resp> {
        let mut b = Request::builder().method(method.clone()).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(kube::client::Body::from(body))?;
        let resp = self
            .env
            .client
            .send(req)
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect_bytes().await?.to_vec();
        Ok(Resp { status, headers, body })
    }

    pub async fn get(&self, path: &str) -> Result<Resp> {
        self.req(Method::GET, path, &[("Accept", "application/json")], Vec::new())
            .await
    }

    pub async fn get_accept(&self, path: &str, accept: &str) -> Result<Resp> {
        self.req(Method::GET, path, &[("Accept", accept)], Vec::new()).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Result<Resp> {
        self.req(
            method,
            path,
            &[("Content-Type", "application/json")],
            serde_json::to_vec(body)?,
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Resp> {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Resp> {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Result<Resp> {
        self.req(Method::DELETE, path, &[], Vec::new()).await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> Result<Resp> {
        self.req(
            Method::PATCH,
            path,
            &[("Content-Type", content_type)],
            serde_json::to_vec(body)?,
        )
        .await
    }

    /// Create and return the created object (expects 201).
    pub async fn create(&self, path: &str, body: &Value) -> Result<Value> {
        self.post(path, body).await?.expect(201)
    }

    /// Path of a namespaced collection in this case's namespace, e.g. `ns_path("", "v1", "configmaps")`.
    pub fn ns_path(&self, group: &str, version: &str, resource: &str) -> String {
        if group.is_empty() {
            format!("/api/{version}/namespaces/{}/{resource}", self.ns)
        } else {
            format!("/apis/{group}/{version}/namespaces/{}/{resource}", self.ns)
        }
    }

    pub fn cms(&self) -> String {
        self.ns_path("", "v1", "configmaps")
    }

    /// Open a watch (`path` must carry the query, `watch=true` is added).
    pub async fn watch(&self, path: &str) -> Result<Watch> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let uri = format!("{path}{sep}watch=true");
        let req = Request::builder()
            .method(Method::GET)
            .uri(&uri)
            .header("Accept", "application/json")
            .body(Vec::new())?;
        let reader = self
            .env
            .client
            .request_stream(req)
            .await
            .with_context(|| format!("watch {uri}"))?;
        Ok(Watch {
            lines: Box::pin(reader.lines()),
        })
    }

    /// Run the case's kubectl with `--kubeconfig`, `--context`, a per-version cache dir and `-n <ns>`.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<KubectlOut> {
        let k = self.kubectl.as_ref().ok_or_else(|| anyhow!("case has no kubectl"))?;
        let mut cmd = tokio::process::Command::new(&k.path);
        cmd.arg("--kubeconfig").arg(&self.env.kubeconfig);
        if let Some(c) = &self.env.context {
            cmd.arg("--context").arg(c);
        }
        cmd.arg("--cache-dir")
            .arg(self.env.output_dir.join(format!("kubectl-cache-{}", k.version)));
        cmd.arg("-n").arg(&self.ns).args(args);
        cmd.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("spawn {}", k.path.display()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            pipe.write_all(input.as_bytes()).await?;
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .map_err(|_| anyhow!("kubectl {} timed out", args.join(" ")))??;
        Ok(KubectlOut {
            args: args.join(" "),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run kubectl and require exit code 0; returns stdout.
    pub async fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let out = self.kubectl(args, stdin).await?;
        if out.code != 0 {
            bail!("kubectl {} exited {}: {}{}", out.args, out.code, out.stdout, out.stderr);
        }
        Ok(out.stdout)
    }
}

pub struct KubectlOut {
    pub args: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

type Lines = Pin<Box<dyn Stream<Item = std::io::Result<String>> + Send>>;

pub struct Watch {
    lines: Lines,
}

impl Watch {
    /// Next non-bookmark event `(type, object)`; fails on timeout or end of stream.
    pub async fn next(&mut self, within: Duration) -> Result<(String, Value)> {
        match self.next_opt(within).await? {
            Some(ev) => Ok(ev),
            None => bail!("no watch event within {within:?}"),
        }
    }

    /// Next non-bookmark event, or `None` if nothing arrives in time.
    pub async fn next_opt(&mut self, within: Duration) -> Result<Option<(String, Value)>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("watch stream ended"),
                Ok(Some(l)) => l?,
            };
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line).with_context(|| format!("watch event is not JSON: {line}"))?;
            let ty = v["type"].as_str().unwrap_or("").to_string();
            if ty == "BOOKMARK" {
                continue;
            }
            if ty == "ERROR" {
                bail!("watch ERROR event: {}", v["object"]);
            }
            return Ok(Some((ty, v["object"].clone())));
        }
    }

    /// Expect the next event to be `ty` for object `name`; returns the object.
    pub async fn expect(&mut self, ty: &str, name: &str) -> Result<Value> {
        let (t, o) = self.next(Duration::from_secs(20)).await?;
        if t != ty || o["metadata"]["name"] != name {
            bail!(
                "expected {ty} {name}, got {t} {} (rv {})",
                o["metadata"]["name"],
                o["metadata"]["resourceVersion"]
            );
        }
        Ok(o)
    }

    /// Expect no event for a short while.
    pub async fn expect_quiet(&mut self, within: Duration) -> Result<()> {
        if let Some((t, o)) = self.next_opt(within).await? {
            bail!("expected no event, got {t} {}", o["metadata"]["name"]);
        }
        Ok(())
    }
}

pub fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string()
}

pub fn cm(name: &str, labels: Value, data: Value) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": data})
}

#[cfg(test)]
mod tests {
    #[test]
    fn warning_header_text_is_unquoted() {
        assert_eq!(
            super::warning_text(r#"299 - "unknown field \"spec\"""#),
            r#"unknown field "spec""#
        );
        assert_eq!(super::warning_text("plain"), "plain");
    }
}
