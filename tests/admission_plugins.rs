//! The admission plugins beyond the default set, through a real server started with
//! `--enable-admission-plugins=...` (and `--admission-control-config-file`), driven by real
//! kubectl: each plugin's effect and upstream's refusal messages, the plugins that refuse to
//! start without a valid configuration, ImagePolicyWebhook against an HTTPS backend served by
//! the test, and NodeRestriction for a kubelet identified by a client certificate signed by the
//! server's CA.

mod common;

use common::{pki, TestServer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const K: &str = "1.33";

fn file(s: &TestServer, name: &str, yaml: &str) -> String {
    s.write_file(name, yaml).to_string_lossy().into_owned()
}

/// `kubectl create -f` of `yaml`: Ok(stdout) or Err(stderr).
fn create(s: &TestServer, name: &str, yaml: &str, extra: &[&str]) -> Result<String, String> {
    let f = file(s, name, yaml);
    let out = s.kubectl(K, &[extra, &["create", "-f", &f]].concat());
    if out.status.success() {
        Ok(common::text(&out.stdout))
    } else {
        Err(common::text(&out.stderr))
    }
}

fn jsonpath(s: &TestServer, args: &[&str], path: &str) -> String {
    let jp = format!("jsonpath={path}");
    s.kubectl_ok(K, &[&["get"], args, &["-o", &jp]].concat())
}

fn pod(name: &str, ns: &str, spec_extra: &str, container_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{spec_extra}  containers:\n  - name: c\n    image: nginx\n{container_extra}"
    )
}

fn expect_err(res: Result<String, String>, want: &str) {
    match res {
        Ok(out) => panic!("expected an error containing {want:?}, got success: {out}"),
        Err(e) => assert!(e.contains(want), "expected {want:?} in:\n{e}"),
    }
}

#[test]
fn pod_and_service_plugins() {
    let b = TestServer::builder();
    let cfg = b.write_file(
        "admission.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
         - name: PodNodeSelector\n  configuration:\n    podNodeSelectorPluginConfig:\n      clusterDefaultNodeSelector: env=dev\n      restricted: env=prod,team=a\n\
         - name: PodTolerationRestriction\n  path: tolerations.yaml\n",
    );
    b.write_file(
        "tolerations.yaml",
        "apiVersion: podtolerationrestriction.admission.k8s.io/v1alpha1\nkind: Configuration\ndefault:\n- {key: cluster-default, operator: Exists, effect: NoSchedule}\n",
    );
    let s = b
        .arg("--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction,ExtendedResourceToleration,LimitPodHardAntiAffinityTopology,DenyServiceExternalIPs")
        .arg(format!("--admission-control-config-file={}", cfg.display()))
        .start();
    for ns in ["dev", "sel", "restricted", "tol"] {
        s.kubectl_ok(K, &["create", "namespace", ns]);
    }
    let annotate = |ns: &str, kv: &str| s.kubectl_ok(K, &["annotate", "namespace", ns, kv]);

    // PodNodeSelector: the cluster default, a namespace's annotation, conflicts, the whitelist.
    create(&s, "p1.yaml", &pod("p1", "dev", "", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        jsonpath(&s, &["pod", "p1", "-n", "dev"], "{.spec.nodeSelector}"),
        "{\"env\":\"dev\"}"
    );
    annotate("sel", "scheduler.alpha.kubernetes.io/node-selector=team=a");
    create(
        &s,
        "p2.yaml",
        &pod("p2", "sel", "  nodeSelector: {disk: ssd}\n", ""),
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        jsonpath(&s, &["pod", "p2", "-n", "sel"], "{.spec.nodeSelector}"),
        "{\"disk\":\"ssd\",\"team\":\"a\"}"
    );
    expect_err(
        create(&s, "p3.yaml", &pod("p3", "sel", "  nodeSelector: {team: b}\n", ""), &[]),
        "pods \"p3\" is forbidden: pod node label selector conflicts with its namespace node label selector",
    );
    annotate("restricted", "scheduler.alpha.kubernetes.io/node-selector=env=prod");
    create(
        &s,
        "p4.yaml",
        &pod("p4", "restricted", "  nodeSelector: {team: a}\n", ""),
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    expect_err(
        create(
            &s,
            "p5.yaml",
            &pod("p5", "restricted", "  nodeSelector: {team: b}\n", ""),
            &[],
        ),
        "pods \"p5\" is forbidden: pod node label selector labels conflict with its namespace whitelist",
    );

    // PodTolerationRestriction: cluster default, namespace default, namespace whitelist;
    // pods that are not BestEffort also tolerate memory pressure.
    create(&s, "t1.yaml", &pod("t1", "dev", "", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    let keys = jsonpath(&s, &["pod", "t1", "-n", "dev"], "{.spec.tolerations[*].key}");
    // After DefaultTolerationSeconds' two (it runs first, as upstream).
    assert!(keys.split(' ').any(|k| k == "cluster-default"), "{keys}");
    annotate(
        "tol",
        "scheduler.alpha.kubernetes.io/defaultTolerations=[{\"key\": \"ns-default\", \"operator\": \"Exists\", \"effect\": \"NoSchedule\"}]",
    );
    annotate(
        "tol",
        "scheduler.alpha.kubernetes.io/tolerationsWhitelist=[{\"key\": \"ns-default\", \"operator\": \"Exists\"}, {\"operator\": \"Exists\", \"effect\": \"NoExecute\"}, {\"key\": \"node.kubernetes.io/memory-pressure\", \"operator\": \"Exists\"}]",
    );
    let burstable = "    resources:\n      requests: {cpu: 100m}\n";
    create(&s, "t2.yaml", &pod("t2", "tol", "", burstable), &[]).unwrap_or_else(|e| panic!("{e}"));
    let keys = jsonpath(&s, &["pod", "t2", "-n", "tol"], "{.spec.tolerations[*].key}");
    assert!(
        keys.contains("ns-default")
            && keys.contains("node.kubernetes.io/memory-pressure")
            && !keys.contains("cluster-default"),
        "{keys}"
    );
    expect_err(
        create(
            &s,
            "t3.yaml",
            &pod(
                "t3",
                "tol",
                "  tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]\n",
                "",
            ),
            &[],
        ),
        "pod tolerations (possibly merged with namespace default tolerations) conflict with its namespace whitelist",
    );

    // ExtendedResourceToleration.
    let gpu = "    resources:\n      requests: {example.com/gpu: \"1\"}\n      limits: {example.com/gpu: \"1\"}\n";
    create(&s, "g.yaml", &pod("g", "dev", "", gpu), &[]).unwrap_or_else(|e| panic!("{e}"));
    let tols = jsonpath(&s, &["pod", "g", "-n", "dev"], "{.spec.tolerations}");
    assert!(
        tols.contains("{\"effect\":\"NoSchedule\",\"key\":\"example.com/gpu\",\"operator\":\"Exists\"}"),
        "{tols}"
    );

    // LimitPodHardAntiAffinityTopology.
    let anti = "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: x}}\n        topologyKey: topology.kubernetes.io/zone\n";
    expect_err(
        create(&s, "a.yaml", &pod("a", "dev", anti, ""), &[]),
        "pods \"a\" is forbidden: affinity.PodAntiAffinity.RequiredDuringScheduling has TopologyKey topology.kubernetes.io/zone but only key kubernetes.io/hostname is allowed",
    );

    // DenyServiceExternalIPs: no new external IPs; keeping or dropping old ones is fine.
    s.kubectl_ok(
        K,
        &["create", "service", "clusterip", "web", "-n", "dev", "--tcp=80:80"],
    );
    let err = s.kubectl_err(
        K,
        &[
            "patch",
            "service",
            "web",
            "-n",
            "dev",
            "--type=merge",
            "-p",
            r#"{"spec":{"externalIPs":["192.0.2.1"]}}"#,
        ],
    );
    assert!(
        err.contains("services \"web\" is forbidden: Use of external IPs is denied by admission control"),
        "{err}"
    );

    // DefaultIngressClass (default-on): a class-less Ingress gets the default class.
    create(
        &s,
        "ic.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: nginx\n  annotations:\n    ingressclass.kubernetes.io/is-default-class: \"true\"\nspec:\n  controller: example.com/nginx\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    s.kubectl_ok(
        K,
        &["create", "ingress", "web", "-n", "dev", "--rule=example.com/=web:80"],
    );
    assert_eq!(
        jsonpath(&s, &["ingress", "web", "-n", "dev"], "{.spec.ingressClassName}"),
        "nginx"
    );

    // PodTopologyLabels is on by default but acts only under its (alpha) gate.
    create(
        &s,
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {topology.k8s.io/zone: z1}\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    create(&s, "bound.yaml", &pod("bound", "dev", "  nodeName: n1\n", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(jsonpath(&s, &["pod", "bound", "-n", "dev"], "{.metadata.labels}"), "");
}

#[test]
fn owner_references_and_event_rate_limit() {
    let b = TestServer::builder();
    let cfg = b.write_file(
        "admission.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: EventRateLimit\n  configuration:\n    apiVersion: eventratelimit.admission.k8s.io/v1alpha1\n    kind: Configuration\n    limits:\n    - {type: Namespace, qps: 1, burst: 3}\n",
    );
    let s = b
        .arg("--enable-admission-plugins=OwnerReferencesPermissionEnforcement,EventRateLimit")
        .arg(format!("--admission-control-config-file={}", cfg.display()))
        .start();
    s.kubectl_ok(K, &["create", "namespace", "o"]);
    // bob may create and update ConfigMaps, but not delete them or set finalizers.
    create(
        &s,
        "rbac.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: cm, namespace: o}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, create, update, patch]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: cm, namespace: o}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm}\nsubjects:\n- {apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    s.kubectl_ok(K, &["create", "configmap", "owner", "-n", "o"]);
    let uid = jsonpath(&s, &["configmap", "owner", "-n", "o"], "{.metadata.uid}");
    let owned = |name: &str, block: bool| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: o\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}, blockOwnerDeletion: {block}}}\n"
        )
    };
    let bob = ["--as=bob"];
    // Creating with an owner reference is allowed; blocking the owner's deletion is not.
    create(&s, "c1.yaml", &owned("c1", false), &bob).unwrap_or_else(|e| panic!("{e}"));
    expect_err(
        create(&s, "c2.yaml", &owned("c2", true), &bob),
        "configmaps \"c2\" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: , <nil>",
    );
    // Changing owner references needs delete on the object.
    s.kubectl_ok(K, &["create", "configmap", "plain", "-n", "o"]);
    let err = s.kubectl_err(
        K,
        &[
            "--as=bob",
            "patch",
            "configmap",
            "plain",
            "-n",
            "o",
            "--type=merge",
            "-p",
            &format!(r#"{{"metadata":{{"ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{uid}"}}]}}}}"#),
        ],
    );
    assert!(
        err.contains(
            "configmaps \"plain\" is forbidden: cannot set an ownerRef on a resource you can't delete: , <nil>"
        ),
        "{err}"
    );
    // The admin may (all of it).
    create(&s, "c3.yaml", &owned("c3", true), &[]).unwrap_or_else(|e| panic!("{e}"));

    // EventRateLimit: a burst of 3 core Events per namespace, then 1 a second. Ten events in
    // one kubectl run go out far faster than the refill.
    let events: Vec<String> = (0..10)
        .map(|i| {
            format!("apiVersion: v1\nkind: Event\nmetadata:\n  name: e{i}\n  namespace: o\ninvolvedObject:\n  kind: ConfigMap\n  name: owner\n  namespace: o\nreason: Test\nmessage: m\n")
        })
        .collect();
    let err = create(&s, "events.yaml", &events.join("---\n"), &[])
        .err()
        .unwrap_or_default();
    assert!(
        err.contains("Error from server (TooManyRequests): error when creating")
            && err.contains("Too many requests: limit reached on type Namespace for key o"),
        "{err}"
    );
    let made = s.kubectl_ok(K, &["get", "events", "-n", "o", "-o", "name"]);
    let n = made.lines().count();
    assert!((3..10).contains(&n), "{n} events admitted:\n{made}");
    // Other namespaces have their own bucket; dry runs are not counted.
    s.kubectl_ok(K, &["create", "namespace", "o2"]);
    let other = events[0].replace("namespace: o\n", "namespace: o2\n");
    create(&s, "e-o2.yaml", &other, &["--dry-run=server"]).unwrap_or_else(|e| panic!("{e}"));
    create(&s, "e-o2b.yaml", &other, &[]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn namespace_plugins_and_refusals_at_startup() {
    // NamespaceAutoProvision: a create into a missing namespace creates it.
    let s = TestServer::start_with(&["--enable-admission-plugins=NamespaceAutoProvision"]);
    s.kubectl_ok(K, &["create", "configmap", "x", "-n", "auto"]);
    assert_eq!(jsonpath(&s, &["namespace", "auto"], "{.status.phase}"), "Active");
    // A dry run does not (upstream returns early), so NamespaceLifecycle finds no namespace.
    let err = s.kubectl_err(K, &["create", "configmap", "x", "-n", "dry", "--dry-run=server"]);
    assert!(err.contains("namespaces \"dry\" not found"), "{err}");
    let err = s.kubectl_err(K, &["get", "namespace", "dry"]);
    assert!(err.contains("namespaces \"dry\" not found"), "{err}");
    drop(s);

    // NamespaceExists on every write, here without NamespaceLifecycle.
    let s = TestServer::start_with(&[
        "--enable-admission-plugins=NamespaceExists",
        "--disable-admission-plugins=NamespaceLifecycle",
    ]);
    let err = s.kubectl_err(K, &["create", "configmap", "x", "-n", "nope"]);
    assert!(err.contains("namespaces \"nope\" not found"), "{err}");
    s.kubectl_ok(K, &["create", "configmap", "x", "-n", "default"]);
    drop(s);

    // Plugins that need a configuration refuse to start without a valid one, naming the layer,
    // the key and the plugin.
    let err = TestServer::builder()
        .arg("--enable-admission-plugins=EventRateLimit")
        .start_fails();
    assert!(
        err.contains("flag --enable-admission-plugins: key \"admission.enable-plugins\": couldn't init admission plugin \"EventRateLimit\": limits: Invalid value: []eventratelimit.Limit(nil): must not be empty"),
        "{err}"
    );
    let err = TestServer::builder()
        .arg("--enable-admission-plugins=ImagePolicyWebhook")
        .start_fails();
    assert!(
        err.contains("couldn't init admission plugin \"ImagePolicyWebhook\": no config specified"),
        "{err}"
    );
    let b = TestServer::builder();
    let cfg = b.write_file(
        "admission.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodTolerationRestriction\n  configuration:\n    apiVersion: podtolerationrestriction.admission.k8s.io/v1alpha1\n    kind: Configuration\n    whitelist: [{operator: Equal, value: x}]\n",
    );
    let err = b
        .arg("--enable-admission-plugins=PodTolerationRestriction")
        .arg(format!("--admission-control-config-file={}", cfg.display()))
        .start_fails();
    assert!(
        err.contains("key \"admission.config-file\": couldn't init admission plugin \"PodTolerationRestriction\": invalid config: [podtolerationrestriction.whitelist[0].operator: Invalid value: \"Equal\""),
        "{err}"
    );
}

#[test]
fn pod_topology_labels_under_its_gate() {
    let s = TestServer::start_with(&["--feature-gates=PodTopologyLabelsAdmission=true"]);
    assert!(
        !s.log().contains("--feature-gates"),
        "the gate is honoured, not ignored:\n{}",
        s.log()
    );
    create(
        &s,
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {topology.k8s.io/zone: z1, topology.k8s.io/region: r1, other: x}\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Bound by the scheduler's write (pods/binding): the Binding carries the labels over.
    create(&s, "p.yaml", &pod("p", "default", "", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    let binding = file(
        &s,
        "binding.json",
        r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}}"#,
    );
    s.kubectl_ok(
        K,
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/pods/p/binding",
            "-f",
            &binding,
        ],
    );
    assert_eq!(jsonpath(&s, &["pod", "p"], "{.spec.nodeName}"), "n1");
    assert_eq!(
        jsonpath(&s, &["pod", "p"], "{.metadata.labels}"),
        "{\"topology.k8s.io/region\":\"r1\",\"topology.k8s.io/zone\":\"z1\"}"
    );
    // Created already bound.
    create(&s, "q.yaml", &pod("q", "default", "  nodeName: n1\n", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        jsonpath(&s, &["pod", "q"], "{.metadata.labels.topology\\.k8s\\.io/zone}"),
        "z1"
    );
}

// ---------------------------------------------------------------------------------------------
// ImagePolicyWebhook against an HTTPS backend.

/// An ImageReview backend: denies images containing "evil", annotates every answer, counts
/// the reviews it gets.
struct ImageBackend {
    port: u16,
    ca: pki::Ca,
    calls: Arc<AtomicUsize>,
    rt: Option<tokio::runtime::Runtime>,
}

fn image_backend() -> ImageBackend {
    let ca = pki::Ca::new("image-policy-ca");
    let acceptor = pki::tls_acceptor(&ca.server_cert(&["127.0.0.1"]), None, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let review: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        counter.fetch_add(1, Ordering::SeqCst);
                        let evil = review
                            .pointer("/spec/containers")
                            .and_then(|c| c.as_array())
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c.get("image").and_then(|i| i.as_str()))
                            .find(|i| i.contains("evil"))
                            .map(str::to_string);
                        let status = match evil {
                            Some(i) => serde_json::json!({"allowed": false, "reason": format!("image {i} is not allowed"), "auditAnnotations": {"checked": "denied"}}),
                            None => serde_json::json!({"allowed": true, "auditAnnotations": {"checked": "allowed"}}),
                        };
                        let out = serde_json::json!({"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": status});
                        http::Response::builder()
                            .header("content-type", "application/json")
                            .body(http_body_util::Full::new(bytes::Bytes::from(out.to_string())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    ImageBackend {
        port,
        ca,
        calls,
        rt: Some(rt),
    }
}

/// A builder with ImagePolicyWebhook pointed at `port` (a kubeconfig trusting `ca_pem`), and
/// an audit log of pod writes at Metadata level.
fn image_policy_server(port: u16, ca_pem: &str, default_allow: bool) -> TestServer {
    let b = TestServer::builder();
    let ca = b.write_file("backend-ca.crt", ca_pem);
    let kc = b.write_file(
        "image-policy.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: images\n  cluster:\n    server: https://127.0.0.1:{port}/review\n    certificate-authority: {}\nusers:\n- name: apiserver\n  user: {{}}\ncontexts:\n- name: c\n  context: {{cluster: images, user: apiserver}}\ncurrent-context: c\n",
            ca.display()
        ),
    );
    let cfg = b.write_file(
        "admission.yaml",
        &format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: ImagePolicyWebhook\n  configuration:\n    imagePolicy:\n      kubeConfigFile: {}\n      allowTTL: 60\n      denyTTL: 5\n      retryBackoff: 10\n      defaultAllow: {default_allow}\n",
            kc.display()
        ),
    );
    let policy = b.write_file(
        "audit-policy.yaml",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n  resources: [{group: \"\", resources: [pods]}]\n",
    );
    let log = b.scratch().join("audit.log");
    b.arg("--enable-admission-plugins=ImagePolicyWebhook")
        .arg(format!("--admission-control-config-file={}", cfg.display()))
        .arg(format!("--audit-policy-file={}", policy.display()))
        .arg(format!("--audit-log-path={}", log.display()))
        .start()
}

fn audit_log(s: &TestServer) -> String {
    std::fs::read_to_string(s.scratch().join("audit.log")).unwrap_or_default()
}

#[test]
fn image_policy_webhook() {
    let mut backend = image_backend();
    let s = image_policy_server(backend.port, &backend.ca.pem, false);
    create(&s, "ok.yaml", &pod("ok", "default", "", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(backend.calls.load(Ordering::SeqCst), 1);
    let log = audit_log(&s);
    assert!(
        log.contains("\"imagepolicywebhook.image-policy.k8s.io/checked\":\"allowed\""),
        "{log}"
    );
    // The same images in the same namespace: answered from the cache (allowTTL).
    create(&s, "ok2.yaml", &pod("ok2", "default", "", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(backend.calls.load(Ordering::SeqCst), 1);
    // Denied, with the backend's reason.
    let evil = pod("bad", "default", "", "").replace("image: nginx", "image: evil:1");
    expect_err(
        create(&s, "bad.yaml", &evil, &[]),
        "pods \"bad\" is forbidden: image policy webhook backend denied one or more images: image evil:1 is not allowed",
    );
    // kubectl debug adds an ephemeral container: reviewed as well.
    let err = s.kubectl_err(K, &["debug", "ok", "--image=evil:2", "--container=dbg"]);
    assert!(
        err.contains("image policy webhook backend denied one or more images: image evil:2 is not allowed"),
        "{err}"
    );
    // The backend gone and defaultAllow false: refused with the transport error.
    if let Some(rt) = backend.rt.take() {
        rt.shutdown_timeout(std::time::Duration::from_secs(5));
    }
    let other = pod("other", "default", "", "").replace("image: nginx", "image: redis");
    expect_err(
        create(&s, "other.yaml", &other, &[]),
        &format!(
            "pods \"other\" is forbidden: Post \"https://127.0.0.1:{}/review\": dial tcp 127.0.0.1:{}: connect: connection refused",
            backend.port, backend.port
        ),
    );
    drop(s);

    // defaultAllow: a failing backend admits, with the failed-open audit annotation.
    let dead = common::free_port();
    let s = image_policy_server(dead, &backend.ca.pem, true);
    create(&s, "open.yaml", &pod("open", "default", "", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    let log = audit_log(&s);
    assert!(
        log.contains("\"imagepolicywebhook.image-policy.k8s.io/failed-open\":\"true\""),
        "{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// NodeRestriction for a kubelet with a client certificate.

#[test]
fn node_restriction_for_a_kubelet_certificate() {
    let s = TestServer::start_with(&["--enable-admission-plugins=NodeRestriction"]);
    let ca = s.ca();
    let kc = s.cert_kubeconfig("n1", &ca.client_cert_in("system:node:n1", &["system:nodes"]));
    let kc = kc.to_string_lossy().into_owned();
    let node = ["--kubeconfig", kc.as_str()];
    let as_node = |args: &[&str]| s.kubectl(K, &[&node[..], args].concat());
    let node_err = |args: &[&str]| {
        let out = as_node(args);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            common::text(&out.stdout)
        );
        common::text(&out.stderr)
    };
    let node_ok = |args: &[&str]| {
        let out = as_node(args);
        assert!(out.status.success(), "{args:?}: {}", common::text(&out.stderr));
        common::text(&out.stdout)
    };
    let whoami = node_ok(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert_eq!(whoami, "system:node:n1");

    // Registering: kubelet labels only.
    let n1 = |labels: &str| format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {{{labels}}}\n");
    expect_err(
        create(&s, "n1-bad.yaml", &n1("kubernetes.io/hostname: n1, node-restriction.kubernetes.io/pool: a"), &node),
        "nodes \"n1\" is forbidden: node \"n1\" is not allowed to set the following labels: node-restriction.kubernetes.io/pool",
    );
    create(
        &s,
        "n1.yaml",
        &n1("kubernetes.io/hostname: n1, kubernetes.io/os: linux"),
        &node,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Its own taints and restricted labels stay the admin's.
    let err = node_err(&["taint", "node", "n1", "dedicated=x:NoSchedule"]);
    assert!(
        err.contains("nodes \"n1\" is forbidden: node \"n1\" is not allowed to modify taints"),
        "{err}"
    );
    let err = node_err(&["label", "node", "n1", "node-role.kubernetes.io/control-plane="]);
    assert!(
        err.contains(
            "nodes \"n1\" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane"
        ),
        "{err}"
    );
    node_ok(&["label", "node", "n1", "example.com/rack=r1"]);
    // Another node is not its to change.
    create(
        &s,
        "n2.yaml",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n2\n",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // A PUT (the Node authorizer lets a node read only its own Node, so no kubectl GET first).
    let n2 = s.kubectl_ok(K, &["get", "node", "n2", "-o", "json"]);
    let mut n2: serde_json::Value = serde_json::from_str(&n2).unwrap_or_else(|e| panic!("{e}"));
    n2["metadata"]["labels"] = serde_json::json!({"a": "b"});
    let n2 = file(&s, "n2-put.json", &n2.to_string());
    let err = node_err(&["replace", "--raw", "/api/v1/nodes/n2", "-f", &n2]);
    assert!(
        err.contains("nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""),
        "{err}"
    );

    // Mirror pods: owned by its Node, referencing nothing else.
    let uid = jsonpath(&s, &["node", "n1"], "{.metadata.uid}");
    let mirror = |name: &str, extra: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\n  annotations: {{kubernetes.io/config.mirror: x}}\n  ownerReferences:\n  - {{apiVersion: v1, kind: Node, name: n1, uid: {uid}, controller: true}}\nspec:\n  nodeName: n1\n  containers:\n  - name: c\n    image: nginx\n{extra}"
        )
    };
    create(&s, "m1.yaml", &mirror("static-web", ""), &node).unwrap_or_else(|e| panic!("{e}"));
    expect_err(
        create(
            &s,
            "m2.yaml",
            &mirror("static-db", "    envFrom: [{secretRef: {name: db}}]\n"),
            &node,
        ),
        "pods \"static-db\" is forbidden: node \"n1\" can not create pods that reference secrets",
    );
    expect_err(
        create(&s, "m3.yaml", &pod("plain", "default", "  nodeName: n1\n", ""), &node),
        "pods \"plain\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" annotation, node \"n1\" can only create mirror pods",
    );

    // Pods of other nodes: no evictions; tokens only for pods on itself.
    s.kubectl_ok(K, &["create", "serviceaccount", "sa1"]);
    for (p, n) in [("p1", "n1"), ("p2", "n2")] {
        create(
            &s,
            &format!("{p}.yaml"),
            &pod(
                p,
                "default",
                &format!("  nodeName: {n}\n  serviceAccountName: sa1\n"),
                "",
            ),
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let eviction = file(
        &s,
        "evict.json",
        r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"p2","namespace":"default"}}"#,
    );
    let err = node_err(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/pods/p2/eviction",
        "-f",
        &eviction,
    ]);
    assert!(
        err.contains("node n1 can only evict pods with spec.nodeName set to itself"),
        "{err}"
    );
    let (u1, u2) = (
        jsonpath(&s, &["pod", "p1"], "{.metadata.uid}"),
        jsonpath(&s, &["pod", "p2"], "{.metadata.uid}"),
    );
    let token = |pod: &str, uid: &str, extra: &[&str]| {
        [
            &[
                "create",
                "token",
                "sa1",
                "--bound-object-kind=Pod",
                &format!("--bound-object-name={pod}"),
                &format!("--bound-object-uid={uid}"),
            ][..],
            extra,
        ]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| as_node(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run(token("p1", &u1, &[]));
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let out = run(token("p2", &u2, &[]));
    let err = common::text(&out.stderr);
    assert!(
        err.contains(
            "serviceaccounts \"sa1\" is forbidden: node requested token bound to a pod scheduled on a different node"
        ),
        "{err}"
    );
    let out = run(token("p1", &u1, &["--audience=vault"]));
    let err = common::text(&out.stderr);
    assert!(
        err.contains("audience \"vault\" not found in pod spec volume, system:node:n1 is not authorized to request tokens for this audience"),
        "{err}"
    );

    // Its own Lease only; kubelet CSRs only for itself.
    let lease = |name: &str| {
        format!("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {name}\n  namespace: kube-node-lease\nspec:\n  holderIdentity: {name}\n")
    };
    create(&s, "l1.yaml", &lease("n1"), &node).unwrap_or_else(|e| panic!("{e}"));
    expect_err(
        create(&s, "l2.yaml", &lease("n2"), &node),
        "leases.coordination.k8s.io \"n2\" is forbidden: can only access node lease with the same name as the requesting node",
    );
    use base64::Engine;
    let req = base64::engine::general_purpose::STANDARD.encode(pki::csr("system:node:n2"));
    expect_err(
        create(
            &s,
            "csr.yaml",
            &format!("apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: serving-n2\nspec:\n  signerName: kubernetes.io/kubelet-serving\n  usages: [digital signature, server auth]\n  request: {req}\n"),
            &node,
        ),
        "certificatesigningrequests.certificates.k8s.io \"serving-n2\" is forbidden: can only create a node CSR with CN=system:node:n1",
    );
}
