//! The one harness for the integration tests:
//!
//! - [`TestServer`] (built with [`TestServer::builder`]): a real `capstan serve` process on a free
//!   loopback port with its own data dir; every option the tests use (flags, config file,
//!   environment, program name, data dir reuse, etcd backend), log capture, stop / SIGKILL /
//!   restart / signals, and the clients (kubectl of each version, kube-rs, curl, token kubeconfigs);
//! - [`TestEtcd`]: real etcd, one member or a cluster (shared with the unit tests: `capstan::testing`);
//! - [`eventually`] / [`eventually_async`]: wait for a condition, with a timeout and a clear failure;
//!   never a fixed sleep. A sleep belongs only in a test about time itself, and says so;
//! - [`https_stub`]: a stand-in HTTPS server (webhooks, OIDC issuers) that records requests;
//! - [`pki`]: certificate authorities and certificates for stand-in servers and clients;
//! - [`tool`] / [`require_tool`]: external tools; a missing one fails the test under `CI=true`;
//! - [`python`] and [`go`]: the official Python client and client-go programs as test clients.
#![allow(dead_code)]

pub mod go;
pub mod http;
pub mod https_stub;
pub mod kubectl;
pub mod pki;
pub mod python;
pub mod server;

#[allow(unused_imports)]
pub use capstan::testing::{eventually, eventually_async, free_port, matching, require_tool, require_tools, TestEtcd};
#[allow(unused_imports)]
pub use kubectl::{StreamingKubectl, KUBECTL_TIMEOUT, KUBECTL_VERSIONS};
#[allow(unused_imports)]
pub use server::{TestServer, TestServerBuilder};

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The kinds `kubectl create` makes, which each client tier takes through a read-modify-write.
pub const KUBECTL_CREATE_KINDS: &[&str] = &[
    "Namespace",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Service",
    "ResourceQuota",
    "Deployment",
    "Job",
    "CronJob",
    "Ingress",
    "PodDisruptionBudget",
    "PriorityClass",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
];

/// `Duration::from_secs`, for timeouts.
pub const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The path of a tool the test cannot do without; panics with what is missing (also outside CI:
/// use [`require_tool`] first where a skip is acceptable).
pub fn tool_path(name: &str) -> PathBuf {
    capstan::testing::find_tool(name).unwrap_or_else(|| {
        panic!("this test needs `{name}`, which is not on PATH (install it; scripts/setup.sh installs etcd and the packaging tools)")
    })
}

/// A command for a required tool (see [`tool_path`]).
pub fn tool(name: &str) -> Command {
    Command::new(tool_path(name))
}

/// kube-rs may be built with more than one rustls provider: pick ring explicitly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Stringify command output for assertions.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A non-loopback address of this machine: Endpoints and EndpointSlices may not hold loopback
/// addresses (upstream validation), so stand-in backends listen there.
pub fn local_ip() -> IpAddr {
    interface_ipv4().unwrap_or_else(|| {
        // No global address on any interface: ask the routing table instead.
        let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp bind");
        s.connect("10.255.255.255:1")
            .expect("a non-loopback address or a default route (Endpoints may not hold loopback addresses)");
        let ip = s.local_addr().expect("local addr").ip();
        assert!(
            !ip.is_loopback() && !ip.is_unspecified(),
            "no non-loopback address: {ip}"
        );
        ip
    })
}

/// The first IPv4 address of an interface that is up and not loopback (getifaddrs).
fn interface_ipv4() -> Option<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, which is walked read-only and freed once below.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return None;
        }
        let mut found = None;
        let mut cur = list;
        while !cur.is_null() && found.is_none() {
            let ifa = &*cur;
            let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0;
            let lo = ifa.ifa_flags & (libc::IFF_LOOPBACK as u32) != 0;
            if up && !lo && !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && !ip.is_unspecified() && !ip.is_link_local() {
                    found = Some(IpAddr::V4(ip));
                }
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
        found
    }
}
