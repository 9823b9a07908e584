//! What upstream's bootstrap controller creates on first start: the system namespaces and the
//! `default/kubernetes` Service (its IP allocation is finished in the [config] issue); and, in
//! [`endpoints`], the reconciler that keeps that Service's Endpoints and EndpointSlice pointing
//! at the live API servers.

pub mod endpoints;

use super::App;
use serde_json::json;
use std::net::IpAddr;

pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

pub async fn ensure_defaults(app: &App, first_service_ip: IpAddr, secure_port: u16) -> anyhow::Result<()> {
    let find = |plural: &str| {
        crate::api::builtin_row("", plural).ok_or_else(|| anyhow::anyhow!("resource table lacks core {plural}"))
    };
    let namespaces = find("namespaces")?;
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match app.registry.create(namespaces, None, obj, false).await {
            Ok(_) => tracing::info!(namespace = ns, "created system namespace"),
            Err(e) if e.code == 409 => {}
            Err(e) => anyhow::bail!("cannot create namespace {ns}: {e}"),
        }
    }
    crate::auth::authz::start(&app.registry, &app.auth.authorizer).await?;
    let services = find("services")?;
    let family = if first_service_ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let svc = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": first_service_ip.to_string(),
            "clusterIPs": [first_service_ip.to_string()],
            "ipFamilies": [family],
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": secure_port}],
        },
    });
    match app.registry.create(services, Some("default"), svc, false).await {
        Ok(_) | Err(crate::error::ApiError { code: 409, .. }) => Ok(()),
        Err(e) => anyhow::bail!("cannot create the kubernetes Service: {e}"),
    }
}
