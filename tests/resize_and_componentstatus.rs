//! Two answers a v1.33 kube-apiserver gives that kubectl users meet: `pods/resize` (in-place
//! resize, beta and on in 1.33: only container cpu/memory change, with upstream's validation)
//! and `componentstatuses` (deprecated, but `kubectl get cs` still lists the scheduler, the
//! controller-manager and etcd, probed at each read). Each case was compared with a real
//! v1.33.13 server.

mod common;

use common::TestServer;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: rs}
spec:
  nodeName: n1
  containers:
  - name: c
    image: busybox
    resources: {requests: {cpu: 500m, memory: 128Mi}, limits: {cpu: 500m, memory: 128Mi}}
"#;

#[test]
fn pods_resize_through_kubectl() {
    let s = TestServer::start();
    let pod = s.write_file("pod.yaml", POD);
    s.kubectl_ok("1.33", &["apply", "-f", pod.to_str().unwrap()]);
    let resize = |patch: &str| {
        s.kubectl(
            "1.33",
            &[
                "patch",
                "pod",
                "rs",
                "--subresource",
                "resize",
                "--patch",
                patch,
                "-o",
                "json",
            ],
        )
    };
    let out = resize(
        r#"{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"800m"},"limits":{"cpu":"800m"}}}]}}"#,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        p["spec"]["containers"][0]["resources"],
        serde_json::json!({"limits": {"cpu": "800m", "memory": "128Mi"}, "requests": {"cpu": "800m", "memory": "128Mi"}})
    );
    assert_eq!(p["metadata"]["generation"], 2);
    // Anything but resources is dropped, not refused.
    let out = resize(
        r#"{"spec":{"containers":[{"name":"c","image":"nginx","resources":{"limits":{"cpu":"1"},"requests":{"cpu":"1"}}}]}}"#,
    );
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["spec"]["containers"][0]["image"], "busybox");
    assert_eq!(p["spec"]["containers"][0]["resources"]["limits"]["cpu"], "1");
    // Upstream's refusals.
    for (patch, want) in [
        (
            r#"{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"64Mi"},"requests":{"memory":"64Mi"}}}]}}"#,
            r#"The Pod "rs" is invalid: spec.containers[0].resources.limits[memory]: Forbidden: memory limits cannot be decreased unless resizePolicy is RestartContainer"#,
        ),
        (
            r#"{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"2"}}}]}}"#,
            r#"The Pod "rs" is invalid: spec: Invalid value: "Guaranteed": Pod QOS Class may not change as a result of resizing"#,
        ),
    ] {
        let out = resize(patch);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{patch}: {err}");
    }
    let err = s.kubectl_err(
        "1.33",
        &[
            "patch",
            "pod",
            "rs",
            "--subresource",
            "resize",
            "--type=json",
            "--patch",
            r#"[{"op":"replace","path":"/spec/containers/0/name","value":"d"}]"#,
        ],
    );
    assert!(
        err.contains(r#"spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize"#),
        "{err}"
    );
    let name = s.kubectl_ok(
        "1.33",
        &[
            "get",
            "pod",
            "rs",
            "--subresource",
            "resize",
            "-o",
            "jsonpath={.metadata.name}",
        ],
    );
    assert_eq!(name, "rs");
}

/// A stand-in health endpoint on `port` answering `ok`, as a controller-manager's `/healthz`.
fn healthz_on(port: u16) -> Option<tokio::runtime::Runtime> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).ok()?;
    let ca = common::pki::Ca::new("kcm-ca");
    let acceptor = common::pki::tls_acceptor(&ca.server_cert(&["127.0.0.1"]), None, &[]);
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper::service::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(b"ok"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Some(rt)
}

#[test]
fn kubectl_get_componentstatuses() {
    let s = TestServer::start();
    // The controller-manager's default secure port, when free on this machine: healthy.
    let kcm = healthz_on(10257);
    let out = s.kubectl("1.33", &["get", "componentstatuses"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Warning: v1 ComponentStatus is deprecated in v1.19+"),
        "{stderr}"
    );
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("STATUS")
            && lines[0].contains("MESSAGE")
            && lines[0].contains("ERROR"),
        "{table}"
    );
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {table}"))
            .to_string()
    };
    assert!(
        row("etcd-0").contains("Healthy") && row("etcd-0").contains("ok"),
        "{table}"
    );
    let sched = row("scheduler");
    // Nothing answers the scheduler's port here (or something does: then it is probed as such).
    assert!(
        sched.contains("Unhealthy   Get \"https://127.0.0.1:10259/healthz\": dial tcp 127.0.0.1:10259: connect: connection refused")
            || sched.contains("Healthy"),
        "{table}"
    );
    if kcm.is_some() {
        let r = row("controller-manager");
        assert!(r.contains(" Healthy ") && r.contains("ok"), "{table}");
    }
    let one: serde_json::Value =
        serde_json::from_str(&s.kubectl_ok("1.33", &["get", "cs", "etcd-0", "-o", "json"])).unwrap();
    assert_eq!(
        one,
        serde_json::json!({"apiVersion": "v1", "kind": "ComponentStatus",
            "metadata": {"name": "etcd-0", "creationTimestamp": null},
            "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]})
    );
    let err = s.kubectl_err("1.33", &["get", "cs", "nope"]);
    assert!(err.contains(r#"componentstatus "nope" not found"#), "{err}");
    let names = s.kubectl_ok(
        "1.33",
        &["get", "cs", "--field-selector", "metadata.name=etcd-0", "-o", "name"],
    );
    assert_eq!(names.trim(), "componentstatus/etcd-0");
    let err = s.kubectl_err("1.33", &["get", "cs", "--field-selector", "spec.x=y"]);
    assert!(
        err.contains(r#""spec.x" is not a known field selector: only "metadata.name", "metadata.namespace""#),
        "{err}"
    );
}
