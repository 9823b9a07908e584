//! The proxy subresources end to end with real kubectl: a Rust kubelet stand-in (HTTPS with a
//! client-certificate check) registered as a Node, and a plain HTTP "pod", all on loopback.

mod common;
mod proxy_support;

use common::{eventually, secs, TestServer};

const NODE: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}"#;

fn pod(port: u16) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"web","namespace":"default","labels":{{"app":"web"}}}},
"spec":{{"containers":[{{"name":"app","image":"x","ports":[{{"containerPort":{port}}}]}},{{"name":"side","image":"y"}}]}}}}"#
    )
}

const BINDING: &str = r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},"target":{"apiVersion":"v1","kind":"Node","name":"n1"}}"#;
const EVICTION: &str =
    r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web","namespace":"default"}}"#;
const PDB: &str = r#"{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web-pdb","namespace":"default"},"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}}}"#;
const SVC: &str = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"lonely","namespace":"default"},"spec":{"ports":[{"name":"http","port":80}]}}"#;

/// Verb `proxy` on nodes for bob (the legacy path's attributes), nothing on `nodes/proxy`.
const LEGACY_PROXY_RBAC: &str = r#"{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"legacy-proxy"},
 "rules":[{"apiGroups":[""],"resources":["nodes"],"verbs":["proxy"]}]},
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"legacy-proxy"},
 "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"legacy-proxy"},
 "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"bob"}]}]}"#;

#[test]
fn kubelet_pod_and_service_proxying_with_kubectl() {
    common::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let certs = tempfile::tempdir().expect("tempdir");
    let pki = proxy_support::pki(certs.path());
    let kubelet = rt.block_on(proxy_support::start_kubelet(&pki));
    let pod_addr = rt.block_on(proxy_support::start_pod());
    let s = TestServer::start_with(&[
        "--kubelet-client-certificate",
        pki.client_cert.to_str().unwrap_or(""),
        "--kubelet-client-key",
        pki.client_key.to_str().unwrap_or(""),
        "--kubelet-certificate-authority",
        pki.ca.to_str().unwrap_or(""),
        "--proxy-allow-loopback-targets=true",
        "--proxy-legacy-paths=true",
    ]);
    let k = "1.33";
    let f = |name: &str, body: &str| s.write_file(name, body).to_string_lossy().into_owned();

    // The node and its kubelet endpoint.
    s.kubectl_ok(k, &["create", "-f", &f("node.json", NODE)]);
    let node_status = format!(
        r#"{{"status":{{"addresses":[{{"type":"InternalIP","address":"127.0.0.1"}}],"daemonEndpoints":{{"kubeletEndpoint":{{"Port":{}}}}}}}}}"#,
        kubelet.port
    );
    s.kubectl_ok(
        k,
        &[
            "patch",
            "node",
            "n1",
            "--subresource=status",
            "--type=merge",
            "-p",
            &node_status,
        ],
    );
    s.kubectl_ok(k, &["create", "-f", &f("pod.json", &pod(pod_addr.port()))]);

    // Not scheduled: logs are an empty stream, exec names the missing host.
    assert_eq!(s.kubectl_ok(k, &["logs", "web", "-c", "app"]), "");

    // Binding: once, then 409 as upstream.
    let binding = f("binding.json", BINDING);
    s.kubectl_ok(
        k,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/web/binding",
            "-f",
            &binding,
        ],
    );
    let err = s.kubectl_err(
        k,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/web/binding",
            "-f",
            &binding,
        ],
    );
    assert!(
        err.contains(r#"Operation cannot be fulfilled on pods "web": pod web is already assigned to node "n1""#),
        "{err}"
    );
    assert_eq!(
        s.kubectl_ok(k, &["get", "pod", "web", "-o", "jsonpath={.spec.nodeName}"]),
        "n1"
    );
    let running = r#"{"status":{"phase":"Running","podIP":"127.0.0.1","podIPs":[{"ip":"127.0.0.1"}],"conditions":[{"type":"Ready","status":"True"}]}}"#;
    s.kubectl_ok(
        k,
        &[
            "patch",
            "pod",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            running,
        ],
    );

    // Logs through the kubelet (client certificate checked by the stand-in).
    assert_eq!(
        s.kubectl_ok(k, &["logs", "web", "-c", "app"]),
        "hello from app\nsecond line\n"
    );
    assert_eq!(
        s.kubectl_ok("1.27", &["logs", "web", "-c", "side", "--tail=1"]),
        "second line\n"
    );
    assert_eq!(
        s.kubectl_ok(k, &["logs", "-f", "web", "-c", "app"]),
        "follow line 1\nfollow line 2\nfollow line 3\n"
    );
    let err = s.kubectl_err(k, &["get", "--raw", "/api/v1/namespaces/default/pods/web/log"]);
    assert!(
        err.contains("a container name must be specified for pod web, choose one of: [app side]"),
        "{err}"
    );
    let err = s.kubectl_err(k, &["logs", "web", "-c", "nope"]);
    assert!(err.contains("container nope is not valid for pod web"), "{err}");
    {
        let seen = kubelet.seen.lock().unwrap();
        assert!(
            seen.iter()
                .any(|(p, _)| p == "/containerLogs/default/web/side?tailLines=1"),
            "{seen:?}"
        );
        assert!(seen.iter().all(|(_, auth)| !auth));
    }

    // nodes/proxy (and the opt-in legacy path) to the kubelet.
    let out = s.kubectl_ok(k, &["get", "--raw", "/api/v1/nodes/n1/proxy/stats/summary"]);
    assert_eq!(out, r#"{"node":{"nodeName":"kubelet-standin"}}"#);
    let out = s.kubectl_ok(k, &["get", "--raw", "/api/v1/proxy/nodes/n1/stats/summary"]);
    assert_eq!(out, r#"{"node":{"nodeName":"kubelet-standin"}}"#);
    // RBAC sees the legacy path as upstream's RequestInfo does: verb `proxy` on `nodes`, which
    // is not `get` on `nodes/proxy`.
    s.kubectl_ok(k, &["create", "-f", &f("legacy-rbac.json", LEGACY_PROXY_RBAC)]);
    let out = s.kubectl_ok(k, &["--as=bob", "get", "--raw", "/api/v1/proxy/nodes/n1/stats/summary"]);
    assert_eq!(out, r#"{"node":{"nodeName":"kubelet-standin"}}"#);
    let err = s.kubectl_err(k, &["--as=bob", "get", "--raw", "/api/v1/nodes/n1/proxy/stats/summary"]);
    assert!(
        err.contains(r#"User "bob" cannot get resource "nodes/proxy" in API group "" at the cluster scope"#),
        "{err}"
    );

    // pods/proxy: default port from the first container port, explicit name:port, bodies both ways.
    let out = s.kubectl_ok(
        k,
        &["get", "--raw", "/api/v1/namespaces/default/pods/web/proxy/hello?x=1"],
    );
    assert_eq!(out, "pod saw GET /hello?x=1 auth=false body=");
    let path = format!(
        "/api/v1/namespaces/default/pods/http:web:{}/proxy/submit",
        pod_addr.port()
    );
    let out = s.kubectl_ok(k, &["create", "--raw", &path, "-f", &f("payload.json", r#"{"a":1}"#)]);
    assert_eq!(out, r#"pod saw POST /submit auth=false body={"a":1}"#);

    // Upstream's response rewriting: same-host links in HTML and redirects get the proxy path.
    let out = s.kubectl_ok(k, &["get", "--raw", "/api/v1/namespaces/default/pods/web/proxy/page"]);
    assert_eq!(
        out,
        r#"<html><a href="/api/v1/namespaces/default/pods/web/proxy/docs/">docs</a><img src="rel.png"></html>"#
    );
    let out = s.kubectl_ok(k, &["get", "--raw", "/api/v1/namespaces/default/pods/web/proxy/go"]);
    assert_eq!(out, "pod saw GET /login auth=false body=");

    // services/proxy with no endpoints: 503 as upstream.
    s.kubectl_ok(k, &["create", "-f", &f("svc.json", SVC)]);
    let err = s.kubectl_err(
        k,
        &["get", "--raw", "/api/v1/namespaces/default/services/lonely:http/proxy/"],
    );
    assert!(
        err.contains(r#"no endpoints available for service \"lonely\""#)
            || err.contains(r#"no endpoints available for service "lonely""#),
        "{err}"
    );

    // kubectl debug adds an ephemeral container through pods/ephemeralcontainers.
    s.kubectl_ok(k, &["debug", "web", "--image=busybox", "--container=dbg"]);
    assert_eq!(
        s.kubectl_ok(
            k,
            &[
                "get",
                "pod",
                "web",
                "-o",
                "jsonpath={.spec.ephemeralContainers[*].name}"
            ]
        ),
        "dbg"
    );
    assert_eq!(
        s.kubectl_ok(k, &["logs", "web", "-c", "dbg"]),
        "hello from dbg\nsecond line\n"
    );
    // exec without an upgrade: upstream's 400.
    let err = s.kubectl_err(
        k,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/web/exec?command=ls&container=app&stdout=true",
            "-f",
            &binding,
        ],
    );
    assert!(err.contains("Upgrade request required"), "{err}");

    // Eviction: blocked by a budget with no disruptions allowed (429), then allowed.
    s.kubectl_ok(k, &["create", "-f", &f("pdb.json", PDB)]);
    let blocked = r#"{"status":{"observedGeneration":1,"disruptionsAllowed":0,"currentHealthy":1,"desiredHealthy":1,"expectedPods":1}}"#;
    s.kubectl_ok(
        k,
        &[
            "patch",
            "pdb",
            "web-pdb",
            "--subresource=status",
            "--type=merge",
            "-p",
            blocked,
        ],
    );
    let eviction = f("eviction.json", EVICTION);
    let err = s.kubectl_err(
        k,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/web/eviction",
            "-f",
            &eviction,
        ],
    );
    assert!(
        err.contains("(TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    let allowed = r#"{"status":{"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2}}"#;
    s.kubectl_ok(
        k,
        &[
            "patch",
            "pdb",
            "web-pdb",
            "--subresource=status",
            "--type=merge",
            "-p",
            allowed,
        ],
    );
    s.kubectl_ok(
        k,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/web/eviction",
            "-f",
            &eviction,
        ],
    );
    assert_eq!(
        s.kubectl_ok(
            k,
            &[
                "get",
                "pdb",
                "web-pdb",
                "-o",
                "jsonpath={.status.disruptionsAllowed} {.status.disruptedPods.web}"
            ]
        )
        .split(' ')
        .next(),
        Some("0")
    );
    let reason = s.kubectl(
        k,
        &[
            "get",
            "pod",
            "web",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="DisruptionTarget")].reason}"#,
        ],
    );
    let (out, err) = (common::text(&reason.stdout), common::text(&reason.stderr));
    assert!(
        out == "EvictionByEvictionAPI" || err.contains("NotFound"),
        "{out} {err}"
    );
    drop(rt);
}

/// A node whose kubelet is the SPDY-only stand-in, and a pod `web` bound to it.
fn node_and_pod(s: &TestServer, kubelet_port: u16) {
    let k = "1.33";
    let f = |name: &str, body: &str| s.write_file(name, body).to_string_lossy().into_owned();
    s.kubectl_ok(k, &["create", "-f", &f("node.json", NODE)]);
    let node_status = format!(
        r#"{{"status":{{"addresses":[{{"type":"InternalIP","address":"127.0.0.1"}}],"daemonEndpoints":{{"kubeletEndpoint":{{"Port":{kubelet_port}}}}}}}}}"#
    );
    s.kubectl_ok(
        k,
        &[
            "patch",
            "node",
            "n1",
            "--subresource=status",
            "--type=merge",
            "-p",
            &node_status,
        ],
    );
    s.kubectl_ok(k, &["create", "-f", &f("pod.json", &pod(8080))]);
    let binding = f("binding.json", BINDING);
    s.kubectl_ok(
        k,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/web/binding",
            "-f",
            &binding,
        ],
    );
    let running = r#"{"status":{"phase":"Running","podIP":"127.0.0.1"}}"#;
    s.kubectl_ok(
        k,
        &[
            "patch",
            "pod",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            running,
        ],
    );
}

/// kubectl with `input` on its stdin.
fn kubectl_fed(s: &TestServer, version: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    let path = s.scratch().join(format!("stdin-{}", common::free_port()));
    std::fs::write(&path, input).expect("write stdin");
    let mut cmd = s.kubectl_command(version, args);
    cmd.stdin(std::fs::File::open(&path).expect("open stdin"));
    common::kubectl::run_with_timeout(cmd, s.scratch(), secs(60)).unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
}

/// The value of a counter line in `/metrics` (0 when absent).
fn counter(s: &TestServer, line_prefix: &str) -> u64 {
    let metrics = s.kubectl_ok("1.33", &["get", "--raw", "/metrics"]);
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line_prefix).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

/// kubectl 1.33 speaks WebSocket for exec/attach (`v5.channel.k8s.io`) and port-forward (SPDY
/// tunnelled in WebSocket); the kubelet speaks SPDY/3.1 only, so the API server translates.
/// kubectl 1.27 upgrades straight to SPDY and is piped through. The translator and tunnel
/// counters prove 1.33 did not fall back to SPDY.
#[test]
fn exec_attach_port_forward_and_cp_reach_an_spdy_only_kubelet() {
    common::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let certs = tempfile::tempdir().expect("tempdir");
    let pki = proxy_support::pki(certs.path());
    let kubelet = rt.block_on(proxy_support::start_kubelet(&pki));
    let s = TestServer::start_with(&[
        "--kubelet-client-certificate",
        pki.client_cert.to_str().unwrap_or(""),
        "--kubelet-client-key",
        pki.client_key.to_str().unwrap_or(""),
        "--kubelet-certificate-authority",
        pki.ca.to_str().unwrap_or(""),
    ]);
    node_and_pod(&s, kubelet.port);
    let translated = |code: &str| {
        counter(
            &s,
            &format!("apiserver_stream_translator_requests_total{{code=\"{code}\"}}"),
        )
    };
    let tunneled = |code: &str| {
        counter(
            &s,
            &format!("apiserver_stream_tunnel_requests_total{{code=\"{code}\"}}"),
        )
    };

    for v in ["1.33", "1.27"] {
        // exec without stdin; stdout and stderr kept apart.
        let out = s.kubectl(
            v,
            &["exec", "web", "-c", "app", "--", "sh", "-c", "echo out; echo err >&2"],
        );
        assert!(out.status.success(), "kubectl {v}: {}", common::text(&out.stderr));
        assert_eq!(common::text(&out.stdout), "out\n", "kubectl {v}");
        assert_eq!(common::text(&out.stderr), "err\n", "kubectl {v}");
        // exec with stdin: everything sent arrives, and stdin's end (v5: the close signal) ends `cat`.
        let input: Vec<u8> = (0..200_000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let out = kubectl_fed(
            &s,
            v,
            &["exec", "-i", "web", "-c", "app", "--", "sh", "-c", "cat | wc -c"],
            &input,
        );
        assert!(out.status.success(), "kubectl {v}: {}", common::text(&out.stderr));
        assert_eq!(common::text(&out.stdout).trim(), input.len().to_string(), "kubectl {v}");
        // The command's exit code comes back through the error stream.
        let out = s.kubectl(v, &["exec", "web", "-c", "app", "--", "sh", "-c", "exit 3"]);
        assert_eq!(out.status.code(), Some(3), "kubectl {v}: {}", common::text(&out.stderr));
        assert!(
            common::text(&out.stderr).contains("command terminated with exit code 3"),
            "kubectl {v}: {}",
            common::text(&out.stderr)
        );
        // attach, without and with stdin.
        assert_eq!(
            s.kubectl_ok(v, &["attach", "web", "-c", "side"]),
            "attached to side\n",
            "kubectl {v}"
        );
        let out = kubectl_fed(&s, v, &["attach", "-i", "web", "-c", "side"], b"typed\n");
        assert_eq!(
            common::text(&out.stdout),
            "attached to side\ntyped\n",
            "kubectl {v}: {}",
            common::text(&out.stderr)
        );
        // port-forward: bytes both ways.
        assert_eq!(port_forward_roundtrip(&s, v), "pong:ping", "kubectl {v}");
        // cp both ways (tar over exec, with stdin for the upload).
        let dir = tempfile::tempdir().expect("tempdir");
        let local = dir.path().join("local.txt");
        let content = format!("copied by kubectl {v}\n").repeat(5000);
        std::fs::write(&local, &content).expect("write");
        let remote = dir.path().join("in-pod");
        std::fs::create_dir(&remote).expect("mkdir");
        let target = format!("web:{}/copy.txt", remote.display());
        s.kubectl_ok(v, &["cp", "-c", "app", local.to_str().unwrap_or(""), &target]);
        assert_eq!(
            std::fs::read_to_string(remote.join("copy.txt")).ok().as_deref(),
            Some(content.as_str())
        );
        let back = dir.path().join("back.txt");
        s.kubectl_ok(v, &["cp", "-c", "app", &target, back.to_str().unwrap_or("")]);
        assert_eq!(
            std::fs::read_to_string(&back).ok().as_deref(),
            Some(content.as_str()),
            "kubectl {v}"
        );
    }
    // 1.33 went through the translator (exit codes count as 200) and the tunnel; 1.27 did not:
    // five exec/attach sessions and three for cp (`test -d`, `tar x`, `tar c`).
    assert_eq!(
        translated("200"),
        8,
        "{}",
        s.kubectl_ok("1.33", &["get", "--raw", "/metrics"])
    );
    assert_eq!(tunneled("101"), 1);
    {
        let seen = kubelet.seen.lock().unwrap();
        assert!(
            seen.iter()
                .any(|(p, _)| p == "/exec/default/web/app?command=sh&command=-c&command=exit%203&output=1&error=1"),
            "{seen:?}"
        );
    }

    // A TTY (kubectl needs a terminal: `script` gives it one): the terminal size reaches the
    // kubelet's resize stream, and stdin and output flow.
    if !common::require_tool("script") {
        return;
    }
    for v in ["1.33", "1.27"] {
        let kubectl = common::kubectl::kubectl_path(v);
        let line = format!(
            "stty cols 91 rows 27; {} --kubeconfig {} exec -it web -c app -- sh -c 'read x; echo got $x'",
            kubectl.display(),
            s.kubeconfig().display()
        );
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]).env("HOME", s.scratch());
        let before = kubelet.resizes.lock().unwrap().len();
        let path = s.scratch().join(format!("tty-{v}"));
        std::fs::write(&path, "hello\n").expect("write");
        cmd.stdin(std::fs::File::open(&path).expect("open"));
        let out = common::kubectl::run_with_timeout(cmd, s.scratch(), secs(60)).expect("script");
        assert!(
            common::text(&out.stdout).contains("got hello"),
            "kubectl {v}: {} {}",
            common::text(&out.stdout),
            common::text(&out.stderr)
        );
        let resizes = kubelet.resizes.lock().unwrap().clone();
        assert!(resizes[before..].contains(&(91, 27)), "kubectl {v}: {resizes:?}");
    }
    drop(rt);
}

/// Run `kubectl port-forward pod/web <free>:8080`, send "ping" through it and read the answer.
fn port_forward_roundtrip(s: &TestServer, version: &str) -> String {
    use std::io::{Read, Write};
    let local = common::free_port();
    // Killed on return (or panic).
    let forward = capstan::testing::LoggedChild::spawn(
        s.kubectl_command(version, &["port-forward", "pod/web", &format!("{local}:8080")]),
        &s.scratch().join(format!("port-forward-{version}-{local}.log")),
    );
    let mut c = eventually("kubectl port-forward to listen", secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", local)).map_err(|e| format!("{e}; kubectl: {}", forward.log()))
    });
    let mut answer = String::new();
    let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let _ = c.write_all(b"ping");
    let mut buf = [0u8; 64];
    if let Ok(n) = c.read(&mut buf) {
        answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    drop(forward);
    answer
}

/// Without `--proxy-allow-loopback-targets`, loopback targets are refused as upstream does, and
/// the legacy `/api/v1/proxy/...` paths are not served.
#[test]
fn loopback_targets_and_legacy_paths_are_refused_by_default() {
    let s = TestServer::start();
    let k = "1.33";
    let f = |name: &str, body: &str| s.write_file(name, body).to_string_lossy().into_owned();
    s.kubectl_ok(k, &["create", "-f", &f("node.json", NODE)]);
    let status = r#"{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}]}}"#;
    s.kubectl_ok(
        k,
        &[
            "patch",
            "node",
            "n1",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ],
    );
    s.kubectl_ok(k, &["create", "-f", &f("pod.json", &pod(8080))]);
    let running = r#"{"status":{"phase":"Running","podIP":"127.0.0.1"}}"#;
    s.kubectl_ok(
        k,
        &[
            "patch",
            "pod",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            running,
        ],
    );
    for path in [
        "/api/v1/namespaces/default/pods/web/proxy/",
        "/api/v1/nodes/n1/proxy/stats/summary",
    ] {
        let err = s.kubectl_err(k, &["get", "--raw", path]);
        assert!(err.contains("(BadRequest): address not allowed"), "{path}: {err}");
    }
    let err = s.kubectl_err(k, &["get", "--raw", "/api/v1/proxy/nodes/n1/stats/summary"]);
    assert!(err.contains("(NotFound)"), "{err}");
    // exec on a pod without a node.
    let err = s.kubectl_err(
        k,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/web/exec?command=ls&container=app",
            "-f",
            &f("b.json", "{}"),
        ],
    );
    assert!(err.contains("pod web does not have a host assigned"), "{err}");
}

/// Proxied bodies stream both ways, unbuffered and not limited by --max-request-body-bytes (as
/// upstream), while other requests keep the limit; services/proxy reaches a live endpoint
/// through its Endpoints (non-loopback, so no loopback allowance is needed).
#[test]
fn proxied_bodies_stream_and_services_reach_endpoints() {
    use std::io::{Read, Write};
    common::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ip = proxy_support::local_ip();
    let pod_addr = rt.block_on(proxy_support::start_pod_on(ip));
    let insecure = capstan::testing::free_port();
    let s = TestServer::start_with(&[
        "--max-request-body-bytes=1024",
        "--insecure-port",
        &insecure.to_string(),
    ]);
    let k = "1.33";
    let f = |name: &str, body: &str| s.write_file(name, body).to_string_lossy().into_owned();
    s.kubectl_ok(k, &["create", "-f", &f("pod.json", &pod(pod_addr.port()))]);
    let running = format!(
        r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"True"}}]}}}}"#
    );
    s.kubectl_ok(
        k,
        &[
            "patch",
            "pod",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            &running,
        ],
    );

    // A 64 KiB body through pods/proxy, echoed back intact; the same size elsewhere is a 413.
    let big: String = (0..65536).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let big_file = f("big.txt", &big);
    let out = s.kubectl_ok(
        k,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/web/proxy/submit",
            "-f",
            &big_file,
        ],
    );
    assert_eq!(out, format!("pod saw POST /submit auth=false body={big}"));
    let cm = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"k":"{big}"}}}}"#);
    let err = s.kubectl_err(k, &["create", "-f", &f("cm.json", &cm)]);
    assert!(err.contains("Request entity too large: limit is 1024"), "{err}");

    // A slow chunked upload: its first chunk reaches the pod (and comes back) before the rest
    // is sent, so the proxy forwarded it without waiting for the end of the body.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", insecure)).expect("connect insecure port");
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(
        b"POST /api/v1/namespaces/default/pods/web/proxy/duplex HTTP/1.1\r\nHost: capstan\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
    )
    .expect("send head and first chunk");
    let read_until = |c: &mut std::net::TcpStream, seen: &mut String, want: &str| {
        let mut buf = [0u8; 4096];
        while !seen.contains(want) {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    };
    let mut seen = String::new();
    read_until(&mut c, &mut seen, "first");
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.contains("first"),
        "first chunk not echoed before the upload ended: {seen:?}"
    );
    c.write_all(b"6\r\nsecond\r\n0\r\n\r\n").expect("send the rest");
    read_until(&mut c, &mut seen, "second");
    assert!(seen.contains("second"), "{seen:?}");

    // services/proxy via the Endpoints object (upstream's ResourceLocation): the address must
    // point at a pod holding that IP; an address without a pod target is skipped.
    let svc = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"ports":[{"name":"http","port":80}]}}"#;
    s.kubectl_ok(k, &["create", "-f", &f("svc.json", svc)]);
    let eps = format!(
        r#"{{"apiVersion":"v1","kind":"Endpoints","metadata":{{"name":"web","namespace":"default"}},"subsets":[{{"addresses":[{{"ip":"{ip}","targetRef":{{"kind":"Pod","namespace":"default","name":"web"}}}}],"ports":[{{"name":"http","port":{}}}]}}]}}"#,
        pod_addr.port()
    );
    s.kubectl_ok(k, &["create", "-f", &f("eps.json", &eps)]);
    for path in [
        "/api/v1/namespaces/default/services/web:http/proxy/hello?x=1",
        "/api/v1/namespaces/default/services/web/proxy/hello?x=1",
    ] {
        assert_eq!(
            s.kubectl_ok(k, &["get", "--raw", path]),
            "pod saw GET /hello?x=1 auth=false body=",
            "{path}"
        );
    }
    let bare = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"bare","namespace":"default"},"spec":{"ports":[{"name":"http","port":80}]}}"#;
    s.kubectl_ok(k, &["create", "-f", &f("bare.json", bare)]);
    let bare_eps = format!(
        r#"{{"apiVersion":"v1","kind":"Endpoints","metadata":{{"name":"bare","namespace":"default"}},"subsets":[{{"addresses":[{{"ip":"{ip}"}}],"ports":[{{"name":"http","port":{}}}]}}]}}"#,
        pod_addr.port()
    );
    s.kubectl_ok(k, &["create", "-f", &f("bare-eps.json", &bare_eps)]);
    let err = s.kubectl_err(k, &["get", "--raw", "/api/v1/namespaces/default/services/bare/proxy/"]);
    assert!(
        err.contains(r#"no endpoints available for service \"bare\""#)
            || err.contains(r#"no endpoints available for service "bare""#),
        "{err}"
    );
    // Without an Endpoints object, the service's EndpointSlices stand in.
    let sliced = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"sliced","namespace":"default"},"spec":{"ports":[{"name":"http","port":80}]}}"#;
    s.kubectl_ok(k, &["create", "-f", &f("sliced.json", sliced)]);
    let slice = format!(
        r#"{{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{{"name":"sliced-1","namespace":"default","labels":{{"kubernetes.io/service-name":"sliced"}}}},"addressType":"IPv4","endpoints":[{{"addresses":["{ip}"],"conditions":{{"ready":true}}}}],"ports":[{{"name":"http","port":{}}}]}}"#,
        pod_addr.port()
    );
    s.kubectl_ok(k, &["create", "-f", &f("slice.json", &slice)]);
    assert_eq!(
        s.kubectl_ok(
            k,
            &[
                "get",
                "--raw",
                "/api/v1/namespaces/default/services/sliced:http/proxy/x"
            ]
        ),
        "pod saw GET /x auth=false body="
    );
    drop(rt);
}
