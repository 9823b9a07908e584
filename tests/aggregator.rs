//! The aggregation layer end to end: an extension API server stand-in (Rust, HTTPS, requiring a
//! client certificate from the front-proxy CA and reading `X-Remote-*`) registered with a
//! Service, an EndpointSlice and an APIService, reached through real kubectl.

mod common;

use base64::Engine;
use bytes::Bytes;
use common::pki::{tls_acceptor, Ca, Cert};
use common::{eventually, local_ip, matching, secs, TestServer};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const GROUP: &str = "wardle.example.com";
const VERSION: &str = "v1alpha1";

/// What the backend saw: path, X-Remote-User, X-Remote-Group values, Authorization present.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    user: String,
    groups: Vec<String>,
    authorization: bool,
}

struct Pki {
    proxy_cert: PathBuf,
    proxy_key: PathBuf,
    front_proxy_ca: String,
    serving_ca: String,
    serving: Cert,
}

/// kubeadm's front-proxy pair (front-proxy-ca → front-proxy-client) and the backend's serving
/// certificate for `api.wardle.svc`, signed by its own CA (the APIService's caBundle).
fn pki(dir: &Path) -> Pki {
    let front_proxy = Ca::new("front-proxy-ca");
    let (proxy_cert, proxy_key) = front_proxy
        .client_cert("front-proxy-client")
        .write(dir, "front-proxy-client");
    let wardle = Ca::new("wardle-ca");
    Pki {
        proxy_cert,
        proxy_key,
        front_proxy_ca: front_proxy.pem,
        serving_ca: wardle.pem.clone(),
        serving: wardle.server_cert(&["api.wardle.svc"]),
    }
}

fn discovery_doc() -> String {
    format!(
        r#"{{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"{GROUP}/{VERSION}","resources":[
{{"name":"flunders","singularName":"flunder","namespaced":true,"kind":"Flunder","verbs":["get","list"],"shortNames":["fl"]}},
{{"name":"flunders/status","singularName":"","namespaced":true,"kind":"Flunder","verbs":["get"]}}]}}"#
    )
}

fn flunder_list() -> String {
    format!(
        r#"{{"kind":"FlunderList","apiVersion":"{GROUP}/{VERSION}","metadata":{{"resourceVersion":"7"}},"items":[
{{"kind":"Flunder","apiVersion":"{GROUP}/{VERSION}","metadata":{{"name":"from-the-backend","namespace":"default"}}}}]}}"#
    )
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let h = req.headers();
    let text = |v: &http::HeaderValue| v.to_str().unwrap_or("").to_string();
    let path = req.uri().path().to_string();
    seen.lock().expect("seen").push(Seen {
        path: path.clone(),
        user: h.get("x-remote-user").map(text).unwrap_or_default(),
        groups: h.get_all("x-remote-group").iter().map(text).collect(),
        authorization: h.contains_key("authorization"),
    });
    let (code, body) = if path == format!("/apis/{GROUP}/{VERSION}") {
        (200, discovery_doc())
    } else if path == format!("/apis/{GROUP}/{VERSION}/namespaces/default/flunders")
        || path == format!("/apis/{GROUP}/{VERSION}/flunders")
    {
        (200, flunder_list())
    } else {
        (
            404,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#.into(),
        )
    };
    let mut r = http::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = http::StatusCode::from_u16(code).expect("status");
    r.headers_mut()
        .insert("content-type", http::HeaderValue::from_static("application/json"));
    Ok(r)
}

/// Start the extension API server stand-in on `ip`; returns its port and the accept task.
async fn start_backend(pki: &Pki, ip: IpAddr, seen: Arc<Mutex<Vec<Seen>>>) -> (u16, tokio::task::JoinHandle<()>) {
    // Only the aggregator's front-proxy client certificate gets in.
    let acceptor = tls_acceptor(&pki.serving, Some(&pki.front_proxy_ca), &[b"http/1.1"]);
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind backend");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper::service::service_fn(move |req| answer(req, seen.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (port, task)
}

/// `status/reason/message` of the Available condition.
const AVAILABLE_JSONPATH: &str = "jsonpath={.status.conditions[?(@.type==\"Available\")].status}/{.status.conditions[?(@.type==\"Available\")].reason}/{.status.conditions[?(@.type==\"Available\")].message}";

/// Namespace, Service, EndpointSlice (the backend's address) and APIService, as one List.
fn registration(ip: IpAddr, port: u16, serving_ca: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[
{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"wardle"}}}},
{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"api","namespace":"wardle"}},"spec":{{"ports":[{{"name":"https","port":443,"targetPort":{port}}}]}}}},
{{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{{"name":"api-1","namespace":"wardle","labels":{{"kubernetes.io/service-name":"api"}}}},
 "addressType":"IPv4","endpoints":[{{"addresses":["{ip}"],"conditions":{{"ready":true}}}}],"ports":[{{"name":"https","port":{port},"protocol":"TCP"}}]}},
{{"apiVersion":"apiregistration.k8s.io/v1","kind":"APIService","metadata":{{"name":"{VERSION}.{GROUP}"}},
 "spec":{{"group":"{GROUP}","version":"{VERSION}","groupPriorityMinimum":1000,"versionPriority":15,
 "service":{{"namespace":"wardle","name":"api","port":443}},"caBundle":"{ca}"}}}}]}}"#,
        ca = base64::engine::general_purpose::STANDARD.encode(serving_ca)
    )
}

#[test]
fn extension_api_server_behind_an_apiservice() {
    common::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let certs = tempfile::tempdir().expect("tempdir");
    let pki = pki(certs.path());
    let ip = local_ip();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (port, backend) = rt.block_on(start_backend(&pki, ip, seen.clone()));
    let s = TestServer::start_with(&[
        "--enable-aggregator-routing=true",
        "--proxy-client-cert-file",
        pki.proxy_cert.to_str().unwrap_or(""),
        "--proxy-client-key-file",
        pki.proxy_key.to_str().unwrap_or(""),
    ]);
    let k = "1.33";
    let f = |name: &str, body: &str| s.write_file(name, body).to_string_lossy().into_owned();

    // Local APIServices exist for the built-ins and are Available (reason Local).
    let apps = s.kubectl_ok(k, &["get", "apiservice", "v1.apps", "-o", "json"]);
    let apps: serde_json::Value = serde_json::from_str(&apps).expect("apiservice json");
    assert_eq!(
        apps["metadata"]["labels"]["kube-aggregator.kubernetes.io/automanaged"],
        "onstart"
    );
    assert_eq!(apps["spec"]["groupPriorityMinimum"], 17800);
    assert_eq!(apps["spec"]["versionPriority"], 15);
    let cond = &apps["status"]["conditions"][0];
    assert_eq!(
        (&cond["type"], &cond["status"], &cond["reason"], &cond["message"]),
        (
            &serde_json::json!("Available"),
            &serde_json::json!("True"),
            &serde_json::json!("Local"),
            &serde_json::json!("Local APIServices are always available")
        )
    );
    s.kubectl_ok(k, &["get", "apiservice", "v1."]);

    // Registration: namespace, Service, EndpointSlice (the backend's address), APIService.
    s.kubectl_ok(
        k,
        &[
            "create",
            "-f",
            &f("wardle.json", &registration(ip, port, &pki.serving_ca)),
        ],
    );
    let name = format!("{VERSION}.{GROUP}");
    let jp = AVAILABLE_JSONPATH;
    let status = || s.kubectl_ok(k, &["get", "apiservice", &name, "-o", jp]);
    eventually("Available=True", secs(20), || {
        matching(status(), |s| s.starts_with("True/Passed/all checks passed"))
    });
    // Proxied resource request, with the admin's identity in the request headers.
    seen.lock().expect("seen").clear();
    let raw = s.kubectl_ok(
        k,
        &[
            "get",
            "--raw",
            &format!("/apis/{GROUP}/{VERSION}/namespaces/default/flunders"),
        ],
    );
    assert!(raw.contains("from-the-backend"), "{raw}");
    let got = seen.lock().expect("seen").clone();
    let req = got
        .iter()
        .find(|r| r.path.ends_with("/namespaces/default/flunders"))
        .unwrap_or_else(|| panic!("backend did not see the request: {got:?}"));
    assert_eq!(req.user, "kubernetes-admin");
    assert!(req.groups.iter().any(|g| g == "system:masters"), "{req:?}");
    assert!(
        !req.authorization,
        "the client's credentials must not reach the backend"
    );

    // Discovery: the group list, the group document, and the proxied version document.
    let apis = s.kubectl_ok(k, &["get", "--raw", "/apis"]);
    let apis: serde_json::Value = serde_json::from_str(&apis).expect("apis json");
    let names: Vec<&str> = apis["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names.first(), Some(&"apiregistration.k8s.io"), "{names:?}");
    assert_eq!(names.get(1), Some(&"apps"), "{names:?}");
    assert!(names.contains(&GROUP), "{names:?}");
    let group = s.kubectl_ok(k, &["get", "--raw", &format!("/apis/{GROUP}")]);
    assert!(
        group.contains(&format!(
            "\"preferredVersion\":{{\"groupVersion\":\"{GROUP}/{VERSION}\""
        )),
        "{group}"
    );
    let gv = s.kubectl_ok(k, &["get", "--raw", &format!("/apis/{GROUP}/{VERSION}")]);
    assert!(gv.contains("\"flunders\""), "{gv}");
    // kubectl 1.27 (aggregated v2beta1) and 1.33 (v2) both list the backend's resource.
    for v in ["1.27", "1.33"] {
        let out = s.kubectl_ok(v, &["api-resources", "--api-group", GROUP]);
        let line = out
            .lines()
            .find(|l| l.starts_with("flunders"))
            .unwrap_or_else(|| panic!("kubectl {v} api-resources:\n{out}"));
        assert!(
            line.contains("fl") && line.contains(&format!("{GROUP}/{VERSION}")) && line.contains("Flunder"),
            "{line}"
        );
    }
    let listed = s.kubectl_ok(k, &["get", "flunders", "-n", "default", "-o", "name"]);
    assert!(
        listed.contains("flunder.wardle.example.com/from-the-backend"),
        "{listed}"
    );

    // The backend goes away: Available turns False and requests get 503.
    backend.abort();
    eventually("Available=False", secs(30), || {
        matching(status(), |s| {
            s.starts_with("False/FailedDiscoveryCheck/failing or missing response from https://")
        })
    });
    let msg = status();
    assert!(msg.contains("connection refused"), "{msg}");
    let err = s.kubectl_err(
        k,
        &[
            "get",
            "--raw",
            &format!("/apis/{GROUP}/{VERSION}/namespaces/default/flunders"),
        ],
    );
    assert!(err.contains("ServiceUnavailable"), "{err}");
    let out = s.kubectl(
        k,
        &["get", "--raw", &format!("/apis/{GROUP}/{VERSION}/flunders"), "-v=8"],
    );
    let log = common::text(&out.stderr);
    assert!(log.contains("503 Service Unavailable"), "{log}");

    // An APIService whose Service does not exist: ServiceNotFound, requests get 503.
    let missing = r#"{"apiVersion":"apiregistration.k8s.io/v1","kind":"APIService","metadata":{"name":"v1beta1.nowhere.example.com"},
 "spec":{"group":"nowhere.example.com","version":"v1beta1","groupPriorityMinimum":900,"versionPriority":9,
 "service":{"namespace":"wardle","name":"missing","port":443},"insecureSkipTLSVerify":true}}"#;
    s.kubectl_ok(k, &["create", "-f", &f("missing.json", missing)]);
    let missing_status = || s.kubectl_ok(k, &["get", "apiservice", "v1beta1.nowhere.example.com", "-o", jp]);
    eventually("ServiceNotFound", secs(20), || {
        matching(missing_status(), |s| {
            s == "False/ServiceNotFound/service/missing in \"wardle\" is not present"
        })
    });
    let out = s.kubectl(k, &["get", "--raw", "/apis/nowhere.example.com/v1beta1/things", "-v=8"]);
    assert!(common::text(&out.stderr).contains("503 Service Unavailable"));

    // CRD groups get automanaged APIServices (priorities 1000/100), removed with the CRD.
    let crd = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"gizmos.stable.example.com"},
 "spec":{"group":"stable.example.com","scope":"Namespaced","names":{"plural":"gizmos","singular":"gizmo","kind":"Gizmo","listKind":"GizmoList"},
 "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}"#;
    s.kubectl_ok(k, &["create", "-f", &f("crd.json", crd)]);
    let crd_svc = || {
        s.kubectl(
            k,
            &[
                "get",
                "apiservice",
                "v1.stable.example.com",
                "-o",
                "jsonpath={.metadata.labels.kube-aggregator\\.kubernetes\\.io/automanaged}/{.spec.groupPriorityMinimum}/{.spec.versionPriority}",
            ],
        )
    };
    eventually("the CRD's APIService", secs(10), || {
        matching(common::text(&crd_svc().stdout), |s| s == "true/1000/100")
    });
    s.kubectl_ok(k, &["delete", "crd", "gizmos.stable.example.com"]);
    eventually("the CRD's APIService removed", secs(10), || {
        matching(crd_svc(), |out| !out.status.success())
    });

    // Removing the APIService removes the group.
    s.kubectl_ok(k, &["delete", "apiservice", &name]);
    eventually("the group removed from /apis", secs(10), || {
        matching(s.kubectl_ok(k, &["get", "--raw", "/apis"]), |apis| {
            !apis.contains(GROUP)
        })
    });
    let gone = s.kubectl_err(k, &["get", "--raw", &format!("/apis/{GROUP}/{VERSION}/flunders")]);
    assert!(gone.contains("NotFound"), "{gone}");
}

/// Without `--proxy-client-*`, a server with bootstrapped PKI generates kubeadm's front-proxy
/// pair and publishes `kube-system/extension-apiserver-authentication`; a backend that trusts
/// the request-header CA from that ConfigMap (as sample-apiserver does) is reachable.
#[test]
fn generated_front_proxy_identity_and_published_trust() {
    common::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let s = TestServer::start_with(&["--enable-aggregator-routing=true"]);
    let k = "1.33";
    let client = std::fs::read_to_string(s.data_dir().join("pki/front-proxy-client.crt")).expect("client cert");
    assert!(client.contains("BEGIN CERTIFICATE"));
    let cm = s.kubectl_ok(
        k,
        &[
            "get",
            "configmap",
            "-n",
            "kube-system",
            "extension-apiserver-authentication",
            "-o",
            "json",
        ],
    );
    let cm: serde_json::Value = serde_json::from_str(&cm).expect("configmap json");
    let data = &cm["data"];
    assert_eq!(data["requestheader-allowed-names"], "[\"front-proxy-client\"]");
    assert_eq!(data["requestheader-username-headers"], "[\"X-Remote-User\"]");
    assert_eq!(data["requestheader-group-headers"], "[\"X-Remote-Group\"]");
    assert_eq!(data["requestheader-extra-headers-prefix"], "[\"X-Remote-Extra-\"]");
    let ca = std::fs::read_to_string(s.data_dir().join("pki/ca.crt")).expect("cluster ca");
    assert_eq!(data["client-ca-file"].as_str(), Some(ca.as_str()));
    let front_proxy_ca = data["requestheader-client-ca-file"]
        .as_str()
        .expect("requestheader CA")
        .to_string();

    let certs = tempfile::tempdir().expect("tempdir");
    let mut pki = pki(certs.path());
    pki.front_proxy_ca = front_proxy_ca;
    let ip = local_ip();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (port, _backend) = rt.block_on(start_backend(&pki, ip, seen.clone()));
    let f = s.write_file("wardle.json", &registration(ip, port, &pki.serving_ca));
    s.kubectl_ok(k, &["create", "-f", &f.to_string_lossy()]);
    let name = format!("{VERSION}.{GROUP}");
    let status = || s.kubectl_ok(k, &["get", "apiservice", &name, "-o", AVAILABLE_JSONPATH]);
    eventually("Available=True", secs(20), || {
        matching(status(), |s| s.starts_with("True/Passed/"))
    });
    let raw = s.kubectl_ok(k, &["get", "--raw", &format!("/apis/{GROUP}/{VERSION}/flunders")]);
    assert!(raw.contains("from-the-backend"), "{raw}");
    let got = seen.lock().expect("seen").clone();
    assert!(
        got.iter()
            .any(|r| r.path.ends_with("/flunders") && r.user == "kubernetes-admin"),
        "{got:?}"
    );
}
