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
