//! Service ClusterIP / NodePort allocation through the real binary and a kube-rs client.

use k8s_openapi::api::core::v1::{Endpoints, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start() -> (Server, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--secure-port", &port.to_string(), "--bind-address", "127.0.0.1"])
        // Endpoints may not hold loopback addresses (as upstream): advertise a routable one.
        .args(["--advertise-address", "192.0.2.10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn capstan");
    let kubeconfig = dir.path().join("admin.kubeconfig");
    let server = Server {
        child,
        _dir: dir,
        kubeconfig,
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "capstan did not become ready");
        if server.kubeconfig.exists() {
            if let Ok(kc) = Kubeconfig::read_from(&server.kubeconfig) {
                if let Ok(cfg) = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await {
                    if let Ok(client) = Client::try_from(cfg) {
                        let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
                        if svcs.get("kubernetes").await.is_ok() {
                            return (server, client);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
