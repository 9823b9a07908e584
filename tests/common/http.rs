//! Raw HTTP through kube-rs' transport (TLS and client certificate from the kubeconfig).

use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }

    pub fn content_type(&self) -> String {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    /// Assert the status code and that the body is a `Status` with `reason`.
    pub fn expect_status(&self, code: u16, reason: &str) -> Value {
        assert_eq!(self.status.as_u16(), code, "unexpected status; body: {}", self.text());
        let v = self.json();
        assert_eq!(v["kind"], "Status", "body: {v}");
        assert_eq!(v["apiVersion"], "v1", "body: {v}");
        assert_eq!(v["status"], "Failure", "body: {v}");
        assert_eq!(v["code"], code, "body: {v}");
        assert_eq!(v["reason"], reason, "body: {v}");
        v
    }
}

pub async fn raw(client: &kube::Client, method: Method, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(kube::client::Body::from(body)).expect("build request");
    let resp = client.send(req).await.unwrap_or_else(|e| panic!("send {path}: {e}"));
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect_bytes().await.expect("read body").to_vec();
    Resp { status, headers, body }
}

pub async fn get(client: &kube::Client, path: &str, accept: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = accept.map(|a| vec![("Accept", a)]).unwrap_or_default();
    raw(client, Method::GET, path, &headers, Vec::new()).await
}

/// A request with a JSON body (`Value::Null`: no body).
pub async fn send_json(client: &kube::Client, method: Method, path: &str, body: Value) -> Resp {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).expect("encode body")
    };
    raw(client, method, path, &[("Content-Type", "application/json")], bytes).await
}

/// Compare writes with upstream's recorded answers. Each row of `table` has an `object` and
/// the `response` upstream gave for it: a `Status` body, or `{"created": true}` /
/// `{"updated": true}` for an accepted write. A row with `before` is an update: `before` is
/// created, then `object` is sent as its server-side dry-run PUT (and `before` deleted);
/// otherwise `object` is sent as a server-side dry-run POST. `collection` maps an object's
/// kind to its collection path (`/apis/<group>/<version>/<plural>`). Returns one line per
/// row whose answer differs from upstream's.
pub async fn diff_with_upstream_table(
    client: &kube::Client,
    table: &[Value],
    collection: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut diffs = Vec::new();
    for row in table {
        let o = &row["object"];
        let path = collection(o["kind"].as_str().unwrap_or(""));
        let name = o["metadata"]["name"].as_str().unwrap_or("");
        let (r, accepted) = match row.get("before") {
            None => (
                send_json(client, Method::POST, &format!("{path}?dryRun=All"), o.clone()).await,
                serde_json::json!({"created": true}),
            ),
            Some(before) => {
                let created = send_json(client, Method::POST, &path, before.clone()).await;
                assert!(created.status.is_success(), "create {name}: {}", created.text());
                let mut new = o.clone();
                new["metadata"]["resourceVersion"] = created.json()["metadata"]["resourceVersion"].clone();
                let item = format!("{path}/{name}");
                let r = send_json(client, Method::PUT, &format!("{item}?dryRun=All"), new).await;
                send_json(client, Method::DELETE, &item, Value::Null).await;
                (r, serde_json::json!({"updated": true}))
            }
        };
        let body = r.json();
        let got = if body["kind"] == "Status" { body } else { accepted };
        if got != row["response"] {
            diffs.push(format!("{name}:\n  upstream: {}\n  capstan:  {got}", row["response"]));
        }
    }
    diffs
}
