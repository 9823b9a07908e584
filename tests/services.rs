//! Service ClusterIP / NodePort allocation through the real binary and a kube-rs client: one
//! server on the embedded store, and two servers sharing one real etcd.

mod common;

use common::{eventually_async, secs, TestEtcd, TestServer};
use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Endpoints, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

async fn start() -> (TestServer, Client) {
    // Endpoints may not hold loopback addresses (as upstream): advertise a routable one.
    start_with(&["--advertise-address", "192.0.2.10"]).await
}

/// Start `capstan serve` (the default authorizer) with extra flags; returns once the
/// `kubernetes` Service is served.
async fn start_with(extra: &[&str]) -> (TestServer, Client) {
    let server = TestServer::builder()
        .arg("--authorization-mode=AlwaysAllow")
        .args(extra)
        .start();
    let client = server.kube_client().await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    eventually_async("the kubernetes Service", secs(90), || svcs.get("kubernetes")).await;
    (server, client)
}

fn node_port_service(name: &str, node_port: Option<i32>) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("NodePort".into()),
            selector: Some([("app".to_string(), name.to_string())].into()),
            ports: Some(vec![ServicePort {
                port: 80,
                node_port,
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn services_get_cluster_ips_and_node_ports() {
    let (_server, client) = start().await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");

    let k = svcs.get("kubernetes").await.expect("kubernetes service");
    let kspec = k.spec.expect("spec");
    assert_eq!(kspec.cluster_ip.as_deref(), Some("10.0.0.1"));

    let web = svcs
        .create(&PostParams::default(), &node_port_service("web", None))
        .await
        .expect("create web");
    let spec = web.spec.expect("spec");
    let ip: Ipv4Addr = spec.cluster_ip.as_deref().expect("clusterIP").parse().expect("ipv4");
    assert_eq!(ip.octets()[..3], [10, 0, 0]);
    // Dynamic allocation uses the upper band (10.0.0.17 and up for a /24).
    assert!(ip.octets()[3] >= 17, "{ip}");
    assert_eq!(spec.cluster_ips, Some(vec![ip.to_string()]));
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
    assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
    let np = spec.ports.expect("ports")[0].node_port.expect("nodePort");
    assert!((30086..=32767).contains(&np), "{np}");

    // The same node port again is a 422 with upstream's message.
    let err = svcs
        .create(&PostParams::default(), &node_port_service("taken", Some(np)))
        .await
        .expect_err("taken node port");
    let kube::Error::Api(status) = err else {
        panic!("unexpected error {err:?}")
    };
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        format!("Service \"taken\" is invalid: spec.ports[0].nodePort: Invalid value: {np}: provided port is already allocated")
    );
    // The failed create reserved nothing: its name is free and no extra IP is held.
    assert!(svcs.get_opt("taken").await.expect("get").is_none());

    // Out of range.
    let err = svcs
        .create(&PostParams::default(), &node_port_service("far", Some(20000)))
        .await
        .expect_err("out of range");
    let kube::Error::Api(status) = err else {
        panic!("unexpected error {err:?}")
    };
    assert_eq!(
        status.message,
        "Service \"far\" is invalid: spec.ports[0].nodePort: Invalid value: 20000: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );

    // Deleting releases the port (and IP): it can be requested again.
    svcs.delete("web", &DeleteParams::default()).await.expect("delete web");
    let again = svcs
        .create(&PostParams::default(), &node_port_service("again", Some(np)))
        .await
        .expect("node port reusable after delete");
    assert_eq!(again.spec.expect("spec").ports.expect("ports")[0].node_port, Some(np));

    // default/kubernetes Endpoints and EndpointSlice point at this server.
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let ep = eps.get("kubernetes").await.expect("endpoints");
    let subset = &ep.subsets.expect("subsets")[0];
    assert_eq!(subset.addresses.as_ref().expect("addresses")[0].ip, "192.0.2.10");
    assert_eq!(subset.ports.as_ref().expect("ports")[0].name.as_deref(), Some("https"));
    let slices: Api<EndpointSlice> = Api::namespaced(client, "default");
    let slice = slices.get("kubernetes").await.expect("endpointslice");
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice
            .metadata
            .labels
            .expect("labels")
            .get("kubernetes.io/service-name")
            .map(String::as_str),
        Some("kubernetes")
    );
}

/// Create `n` NodePort Services named `<prefix>-<i>` through `clients` (`tasks` concurrent
/// tasks per client); returns every (name, clusterIP, nodePort) the API handed out.
async fn create_concurrently(clients: &[Client], prefix: &str, n: usize, tasks: usize) -> Vec<(String, String, i32)> {
    let mut handles = Vec::new();
    let total = clients.len() * tasks;
    for (ci, client) in clients.iter().enumerate() {
        for t in 0..tasks {
            let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
            let worker = ci * tasks + t;
            let prefix = prefix.to_string();
            handles.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in (worker..n).step_by(total) {
                    let name = format!("{prefix}-{i}");
                    let created = svcs
                        .create(&PostParams::default(), &node_port_service(&name, None))
                        .await
                        .unwrap_or_else(|e| panic!("create {name}: {e}"));
                    let spec = created.spec.expect("spec");
                    let ip = spec.cluster_ip.expect("clusterIP");
                    let np = spec.ports.expect("ports")[0].node_port.expect("nodePort");
                    out.push((name, ip, np));
                }
                out
            }));
        }
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("create task"));
    }
    all
}

fn assert_unique(created: &[(String, String, i32)], n: usize, ip_prefix: &str) {
    assert_eq!(created.len(), n);
    let ips: HashSet<&str> = created.iter().map(|(_, ip, _)| ip.as_str()).collect();
    let ports: HashSet<i32> = created.iter().map(|(_, _, np)| *np).collect();
    assert_eq!(ips.len(), n, "duplicate cluster IPs");
    assert_eq!(ports.len(), n, "duplicate node ports");
    for (name, ip, np) in created {
        assert!(ip.starts_with(ip_prefix), "{name}: {ip} outside the range");
        assert_ne!(ip, &format!("{ip_prefix}0.1"), "{name} got the kubernetes Service IP");
        assert!((30000..=32767).contains(np), "{name}: {np}");
    }
}

/// 1,000 Services created concurrently (16 tasks) through the API get unique IPs and NodePorts,
/// and what the Services hold matches what the creates returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_services_get_unique_ips_and_node_ports() {
    let (_server, client) = start_with(&[
        "--advertise-address",
        "192.0.2.10",
        "--service-cluster-ip-range",
        "10.96.0.0/16",
    ])
    .await;
    let started = Instant::now();
    let created = create_concurrently(std::slice::from_ref(&client), "svc", 1000, 16).await;
    assert_unique(&created, 1000, "10.96.");
    let svcs: Api<Service> = Api::namespaced(client, "default");
    let listed = svcs.list(&Default::default()).await.expect("list");
    let stored: HashSet<String> = listed
        .items
        .iter()
        .filter(|s| s.metadata.name.as_deref() != Some("kubernetes"))
        .filter_map(|s| s.spec.as_ref()?.cluster_ip.clone())
        .collect();
    assert_eq!(stored.len(), 1000);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

async fn etcd_pair(etcd: &TestEtcd) -> ((TestServer, Client), (TestServer, Client)) {
    let servers = etcd.servers_flag();
    let a = start_with(&[
        "--etcd-servers",
        &servers,
        "--advertise-address",
        "192.0.2.10",
        "--service-cluster-ip-range",
        "10.96.0.0/16",
    ])
    .await;
    let b = start_with(&[
        "--etcd-servers",
        &servers,
        "--advertise-address",
        "192.0.2.11",
        "--service-cluster-ip-range",
        "10.96.0.0/16",
    ])
    .await;
    (a, b)
}

/// Two servers on one etcd, creating Services at the same time through both: every ClusterIP
/// and NodePort is handed out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_etcd_never_allocate_the_same_ip() {
    let etcd = TestEtcd::start();
    let ((_a, ca), (_b, cb)) = etcd_pair(&etcd).await;
    let created = create_concurrently(&[ca.clone(), cb.clone()], "pair", 400, 8).await;
    assert_unique(&created, 400, "10.96.");
    // Both servers see the same 400 Services with the same allocations.
    for client in [ca, cb] {
        let svcs: Api<Service> = Api::namespaced(client, "default");
        let listed = svcs.list(&Default::default()).await.expect("list");
        let ips: HashSet<String> = listed
            .items
            .iter()
            .filter(|s| s.metadata.name.as_deref() != Some("kubernetes"))
            .filter_map(|s| s.spec.as_ref()?.cluster_ip.clone())
            .collect();
        let want: HashSet<String> = created.iter().map(|(_, ip, _)| ip.clone()).collect();
        assert_eq!(ips, want);
    }
}

async fn kubernetes_endpoint_ips(client: &Client) -> (Vec<String>, Vec<String>) {
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let ep = eps.get("kubernetes").await.expect("endpoints");
    let ips = ep
        .subsets
        .unwrap_or_default()
        .into_iter()
        .flat_map(|s| s.addresses.unwrap_or_default())
        .map(|a| a.ip)
        .collect();
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let slice = slices.get("kubernetes").await.expect("endpointslice");
    let slice_ips = slice.endpoints.into_iter().flat_map(|e| e.addresses).collect();
    (ips, slice_ips)
}

/// Per-server leases: with two servers on one etcd `default/kubernetes` lists both advertise
/// addresses; after one is killed (no clean shutdown) its lease expires and only the live one
/// stays listed (TTL 15 s, reconciled every 10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_endpoints_follow_the_live_servers() {
    let etcd = TestEtcd::start();
    let ((mut a, _ca), (_b, cb)) = etcd_pair(&etcd).await;
    let both = vec!["192.0.2.10".to_string(), "192.0.2.11".to_string()];
    eventually_async("endpoints listing both servers", secs(15), || async {
        let got = kubernetes_endpoint_ips(&cb).await;
        (got == (both.clone(), both.clone()))
            .then_some(())
            .ok_or(format!("{got:?}"))
    })
    .await;
    let mut raw = etcd.client(&[0]).await;
    let leases = raw
        .get(
            "/registry/masterleases/",
            Some(etcd_client::GetOptions::new().with_prefix().with_keys_only()),
        )
        .await
        .expect("leases");
    let keys: Vec<String> = leases
        .kvs()
        .iter()
        .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
        .collect();
    assert_eq!(
        keys,
        vec!["/registry/masterleases/192.0.2.10", "/registry/masterleases/192.0.2.11"]
    );

    a.kill9();
    let killed = Instant::now();
    let only_b = vec!["192.0.2.11".to_string()];
    eventually_async(
        "the killed server to be dropped from the endpoints",
        secs(30),
        || async {
            let got = kubernetes_endpoint_ips(&cb).await;
            (got == (only_b.clone(), only_b.clone()))
                .then_some(())
                .ok_or(format!("{got:?}"))
        },
    )
    .await;
    // TTL 15 s: not dropped before the dead server's lease expired.
    assert!(
        killed.elapsed() >= Duration::from_secs(4),
        "dropped after {:?}",
        killed.elapsed()
    );
}

/// What a v1.33 kube-apiserver creates on start and beside every ClusterIP: the system
/// PriorityClasses, the default ServiceCIDR `kubernetes` (Ready) from
/// `--service-cluster-ip-range`, and one IPAddress per allocated IP (parentRef the Service) that
/// goes with it; an IP an IPAddress holds is taken. Checked with kubectl 1.33; compared against
/// `kubectl get servicecidrs,ipaddresses,priorityclasses -o yaml` of a real v1.33 server.
#[tokio::test]
async fn system_priority_classes_default_service_cidr_and_ipaddresses() {
    let (mut server, _client) = start_with(&["--service-cluster-ip-range", "10.96.0.0/12"]).await;
    let get = |s: &TestServer, what: &str| -> serde_json::Value {
        serde_json::from_str(&s.kubectl_ok("1.33", &["get", what, "-o", "json"])).expect("json")
    };
    let pcs = get(&server, "priorityclasses");
    let mut classes: Vec<(String, i64, String)> = pcs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["value"].as_i64().unwrap(),
                p["description"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    classes.sort();
    assert_eq!(
        classes,
        [
            ("system-cluster-critical".to_string(), 2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.".to_string()),
            ("system-node-critical".to_string(), 2_000_001_000, "Used for system critical pods that must not be moved from their current node.".to_string()),
        ]
    );
    assert_eq!(pcs["items"][0]["preemptionPolicy"], "PreemptLowerPriority");
    assert_eq!(pcs["items"][0]["metadata"]["generation"], 1);
    let err = server.kubectl_err("1.33", &["delete", "priorityclass", "system-node-critical"]);
    assert!(
        err.contains("priorityclasses.scheduling.k8s.io \"system-node-critical\" is forbidden: this is a system priority class and cannot be deleted"),
        "{err}"
    );

    let cidr = get(&server, "servicecidr/kubernetes");
    assert_eq!(cidr["spec"]["cidrs"], serde_json::json!(["10.96.0.0/12"]));
    let ready = &cidr["status"]["conditions"][0];
    assert_eq!(
        (&ready["type"], &ready["status"], &ready["reason"], &ready["message"]),
        (
            &serde_json::json!("Ready"),
            &serde_json::json!("True"),
            &serde_json::json!(""),
            &serde_json::json!("Kubernetes default Service CIDR is ready")
        )
    );

    let ip = get(&server, "ipaddress/10.96.0.1");
    assert_eq!(
        ip["metadata"]["labels"],
        serde_json::json!({"ipaddress.kubernetes.io/ip-family": "IPv4", "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"})
    );
    assert_eq!(
        ip["spec"]["parentRef"],
        serde_json::json!({"resource": "services", "namespace": "default", "name": "kubernetes"})
    );

    // A Service's IP gets its IPAddress; deleting the Service deletes it.
    server.kubectl_ok("1.33", &["create", "service", "clusterip", "web", "--tcp=80:80"]);
    let web_ip = server.kubectl_ok("1.33", &["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let addr = get(&server, &format!("ipaddress/{web_ip}"));
    assert_eq!(addr["spec"]["parentRef"]["name"], "web");
    server.kubectl_ok("1.33", &["delete", "service", "web"]);
    let out = server.kubectl("1.33", &["get", "ipaddress", &web_ip]);
    assert!(!out.status.success(), "the IPAddress outlived its Service");

    // An IP another IPAddress holds is taken.
    let held = server.write_file(
        "held.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: IPAddress\nmetadata: {name: 10.96.0.50}\nspec:\n  parentRef: {group: gateway.networking.k8s.io, resource: gateways, namespace: default, name: gw}\n",
    );
    server.kubectl_ok("1.33", &["create", "-f", held.to_str().unwrap()]);
    let err = server.kubectl_err(
        "1.33",
        &[
            "create",
            "service",
            "clusterip",
            "db",
            "--tcp=5432:5432",
            "--clusterip=10.96.0.50",
        ],
    );
    assert!(
        err.contains("spec.clusterIPs: Invalid value: []string{\"10.96.0.50\"}: failed to allocate IP 10.96.0.50: provided IP is already allocated"),
        "{err}"
    );

    // A restart creates nothing twice.
    server.restart();
    let _ = server.kube_client().await;
    assert_eq!(get(&server, "priorityclasses")["items"].as_array().unwrap().len(), 2);
    assert_eq!(get(&server, "servicecidrs")["items"].as_array().unwrap().len(), 1);
}
