//! What upstream's kube-apiserver creates on start: the system namespaces and the
//! `default/kubernetes` Service (bootstrap controller), the system PriorityClasses
//! (`scheduling/bootstrap-system-priority-classes`), the default ServiceCIDR `kubernetes` from
//! `--service-cluster-ip-range` (default-servicecidr controller; the Service's IPAddress comes
//! with its allocation); in [`endpoints`], the reconciler that keeps the Service's
//! Endpoints and EndpointSlice pointing at the live API servers; in [`token_tracking`], the
//! legacy ServiceAccount token tracking ConfigMap.

pub mod endpoints;
pub mod token_tracking;

use super::App;
use crate::api::ResourceDef;
use crate::error::ApiResult;
use crate::registry::store::{Part, Registry};
use serde_json::{json, Value};
use std::net::IpAddr;

pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

pub(super) async fn ensure_defaults(
    app: &App,
    hooks: &super::StartupHooks,
    first_service_ip: IpAddr,
    secure_port: u16,
    node_port: u16,
) -> anyhow::Result<()> {
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
    hooks.namespaces.done();
    // Tests hold this back (debug builds only) to see `poststarthook/rbac/bootstrap-roles` fail.
    crate::util::fault::wait_while("rbac-bootstrap-hold").await;
    crate::auth::authz::start(&app.registry, &app.auth.authorizer).await?;
    hooks.rbac.done();
    ensure_system_priority_classes(app).await?;
    if let Some(al) = &app.registry.allocators {
        ensure_default_service_cidr(app, al.cluster_ip_ranges()).await?;
    }
    let services = find("services")?;
    let family = if first_service_ip.is_ipv4() { "IPv4" } else { "IPv6" };
    // `--kubernetes-service-node-port`: NodePort on that port instead of ClusterIP, as
    // upstream's `createPortAndServiceSpec`.
    let (ports, svc_type) = kubernetes_service_ports(secure_port, node_port);
    let mut svc = json!({
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
            "ports": ports,
        },
    });
    if svc_type == "NodePort" {
        svc["spec"]["type"] = json!("NodePort");
        svc["spec"]["externalTrafficPolicy"] = json!("Cluster");
    }
    match app.registry.create(services, Some("default"), svc, false).await {
        Ok(_) => Ok(()),
        Err(crate::error::ApiError { code: 409, .. }) => {
            reconcile_kubernetes_service(app, services, &ports, svc_type).await
        }
        Err(e) => anyhow::bail!("cannot create the kubernetes Service: {e}"),
    }
}

/// The kubernetes Service's ports and type for the secure port and `--kubernetes-service-node-port`.
fn kubernetes_service_ports(secure_port: u16, node_port: u16) -> (Value, &'static str) {
    let mut port = json!({"name": "https", "protocol": "TCP", "port": 443, "targetPort": secure_port});
    if node_port == 0 {
        return (json!([port]), "ClusterIP");
    }
    port["nodePort"] = json!(node_port);
    (json!([port]), "NodePort")
}

/// An existing kubernetes Service whose ports or type differ from this server's is rewritten
/// (upstream's `getMasterServiceUpdateIfNeeded`); one that matches is left alone.
async fn reconcile_kubernetes_service(
    app: &App,
    services: &ResourceDef,
    ports: &Value,
    svc_type: &str,
) -> anyhow::Result<()> {
    let current = app
        .registry
        .get(services, Some("default"), "kubernetes", None)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the kubernetes Service: {e}"))?
        .value();
    let spec = current.get("spec");
    let same_type = spec.and_then(|s| s.get("type")).and_then(Value::as_str) == Some(svc_type);
    if same_type && spec.and_then(|s| s.get("ports")) == Some(ports) {
        return Ok(());
    }
    let mut svc = current;
    svc["spec"]["ports"] = ports.clone();
    svc["spec"]["type"] = json!(svc_type);
    match svc_type {
        "NodePort" => svc["spec"]["externalTrafficPolicy"] = json!("Cluster"),
        _ => {
            if let Some(spec) = svc["spec"].as_object_mut() {
                spec.remove("externalTrafficPolicy");
            }
        }
    }
    tracing::info!(
        svc_type,
        "updating the kubernetes Service to this server's ports and type"
    );
    match app
        .registry
        .update(services, Some("default"), "kubernetes", svc, Part::Main, false, None)
        .await
    {
        Ok(_) | Err(crate::error::ApiError { code: 409, .. }) => Ok(()),
        Err(e) => anyhow::bail!("cannot update the kubernetes Service: {e}"),
    }
}

/// A create by the kube-apiserver itself: decoded (defaulted), its `Update` managedFields entry,
/// then the registry.
async fn create_as_apiserver(reg: &Registry, def: &ResourceDef, ns: Option<&str>, mut obj: Value) -> ApiResult<()> {
    def.strategy.defaults(&mut obj);
    let schemas = crate::api::schema::builtin();
    let root = schemas.root_for(def.group, def.version, def.kind);
    crate::patch::record_update(
        None,
        &mut obj,
        "kube-apiserver",
        &def.api_version(),
        None,
        schemas,
        root,
    );
    reg.create(def, ns, obj, false).await.map(|_| ())
}

fn row(group: &str, plural: &str) -> anyhow::Result<&'static ResourceDef> {
    crate::api::builtin_row(group, plural).ok_or_else(|| anyhow::anyhow!("resource table lacks {plural}"))
}

/// `system-node-critical` and `system-cluster-critical`, created when missing.
async fn ensure_system_priority_classes(app: &App) -> anyhow::Result<()> {
    use crate::api::strategy::scheduling::{system_priority_class, SYSTEM_PRIORITY_CLASSES};
    let def = row("scheduling.k8s.io", "priorityclasses")?;
    for (name, value, description) in SYSTEM_PRIORITY_CLASSES {
        match create_as_apiserver(
            &app.registry,
            def,
            None,
            system_priority_class(name, *value, description),
        )
        .await
        {
            Ok(()) => tracing::info!(priority_class = name, "created system priority class"),
            Err(e) if e.code == 409 => {}
            Err(e) => anyhow::bail!("cannot create priority class {name}: {e}"),
        }
    }
    Ok(())
}

/// Upstream's message on the default ServiceCIDR's Ready condition.
const DEFAULT_SERVICE_CIDR_READY: &str = "Kubernetes default Service CIDR is ready";

/// The ServiceCIDR `kubernetes` holding `--service-cluster-ip-range`, Ready. An existing one
/// with other CIDRs is left as it is (upstream reports the inconsistency and changes nothing).
async fn ensure_default_service_cidr(app: &App, cidrs: Vec<String>) -> anyhow::Result<()> {
    let def = row("networking.k8s.io", "servicecidrs")?;
    let obj = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": "kubernetes"},
        "spec": {"cidrs": cidrs},
    });
    match create_as_apiserver(&app.registry, def, None, obj).await {
        Ok(()) => tracing::info!(?cidrs, "created the default ServiceCIDR"),
        Err(e) if e.code == 409 => {}
        Err(e) => anyhow::bail!("cannot create the default ServiceCIDR: {e}"),
    }
    let current = app.registry.get(def, None, "kubernetes", None).await?.value();
    if current.pointer("/spec/cidrs") != Some(&json!(cidrs)) {
        tracing::warn!(
            configured = ?cidrs,
            stored = %current.pointer("/spec/cidrs").unwrap_or(&serde_json::Value::Null),
            "the default ServiceCIDR \"kubernetes\" does not match --service-cluster-ip-range; leaving it unchanged"
        );
    }
    let ready = current
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    if !ready {
        let mut with_status = current;
        with_status["status"] = json!({"conditions": [{
            "type": "Ready",
            "status": "True",
            "lastTransitionTime": crate::util::now_rfc3339(),
            "reason": "",
            "message": DEFAULT_SERVICE_CIDR_READY,
        }]});
        app.registry
            .update(
                def,
                None,
                "kubernetes",
                with_status,
                Part::Status,
                false,
                Some("kubernetes-service-cidr-controller"),
            )
            .await?;
    }
    Ok(())
}
