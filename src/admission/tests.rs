//! Chain configuration: default set, enable/disable, legacy flag, unknown names, config file.

use super::*;
use crate::api::builtin_row as row;
use serde_json::json;

fn opts(pairs: &[(&str, Value)]) -> ServeOptions {
    let mut o = ServeOptions::default();
    for (k, v) in pairs {
        o.settings.insert(k.to_string(), v.clone());
        o.sources.insert(k.to_string(), "command line".into());
    }
    o
}

#[test]
fn default_plugins_in_upstream_order() {
    let c = AdmissionChain::from_options(&opts(&[])).map_err(|e| e.to_string());
    let Ok(c) = c else { panic!("default chain") };
    assert_eq!(c.enabled.first(), Some(&"NamespaceLifecycle"));
    assert_eq!(c.enabled.last(), Some(&"ResourceQuota"));
    assert!(c.enabled.contains(&"PodSecurity"));
    assert!(!c.enabled.contains(&"NodeRestriction"));
    assert!(!c.enabled.contains(&"AlwaysDeny"));
    let pos = |n: &str| c.enabled.iter().position(|p| *p == n);
    assert!(pos("MutatingAdmissionWebhook") < pos("ValidatingAdmissionWebhook"));
    assert!(pos("LimitRanger") < pos("ServiceAccount"));
}

#[test]
fn enable_disable_and_legacy() {
    let c = AdmissionChain::from_options(&opts(&[
        (
            "admission.enable-plugins",
            json!(["NodeRestriction", "AlwaysPullImages"]),
        ),
        ("admission.disable-plugins", json!(["PodSecurity"])),
    ]));
    let Ok(c) = c else { panic!("chain") };
    assert!(c.enabled.contains(&"NodeRestriction") && c.enabled.contains(&"AlwaysPullImages"));
    assert!(!c.enabled.contains(&"PodSecurity"));
    let Ok(c) = AdmissionChain::from_options(&opts(&[(
        "admission.control",
        json!(["AlwaysDeny", "NamespaceLifecycle"]),
    )])) else {
        panic!("legacy chain")
    };
    assert_eq!(c.enabled, ["NamespaceLifecycle", "AlwaysDeny"]);
}

#[test]
fn unknown_plugin_is_an_error_naming_it() {
    let e = AdmissionChain::from_options(&opts(&[(
        "admission.enable-plugins",
        json!(["NamespaceLifecycle", "Bogus"]),
    )]))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        e.contains("enable-admission-plugins plugin \"Bogus\" is unknown"),
        "{e}"
    );
    assert!(e.contains("admission.enable-plugins"), "{e}");
    assert!(e.contains("command line"), "{e}");
}

/// Every upstream name is built (with a configuration where upstream requires one) or
/// refused; the plugins needing a configuration refuse to start without one, naming the
/// layer, the key and the plugin.
#[test]
fn every_upstream_name_is_built_or_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kc = dir.path().join("kc.yaml");
    std::fs::write(
        &kc,
        "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1/'}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user: {}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut config = BTreeMap::new();
    config.insert(
        "EventRateLimit".to_string(),
        json!({"apiVersion": "eventratelimit.admission.k8s.io/v1alpha1", "kind": "Configuration", "limits": [{"type": "Server", "qps": 1, "burst": 1}]}),
    );
    config.insert(
        "ImagePolicyWebhook".to_string(),
        json!({"imagePolicy": {"kubeConfigFile": kc}}),
    );
    for (name, _) in ORDERED_PLUGINS {
        let built = AdmissionChain::build(&[name], config.clone(), Default::default());
        match plugins::refusal(name) {
            Some(why) => {
                let e = built.err().map(|e| e.1).unwrap_or_default();
                assert!(
                    e.contains("is not supported by capstan") && e.contains(why),
                    "{name}: {e}"
                );
            }
            None => assert!(built.is_ok(), "{name}: {:?}", built.err()),
        }
    }
    for (name, want) in [
        (
            "EventRateLimit",
            "limits: Invalid value: []eventratelimit.Limit(nil): must not be empty",
        ),
        ("ImagePolicyWebhook", "no config specified"),
    ] {
        let e = AdmissionChain::from_options(&opts(&[("admission.enable-plugins", json!([name]))]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains(&format!(
                "command line: key \"admission.enable-plugins\": couldn't init admission plugin \"{name}\": {want}"
            )),
            "{e}"
        );
    }
    // Default-on plugins are in the default chain, policies included (their hook).
    let Ok(c) = AdmissionChain::from_options(&opts(&[])) else {
        panic!("default chain")
    };
    for n in [
        "DefaultIngressClass",
        "ClusterTrustBundleAttest",
        "PodTopologyLabels",
        "ValidatingAdmissionPolicy",
        "MutatingAdmissionPolicy",
    ] {
        assert!(c.enabled.contains(&n), "{n}");
    }
}

#[test]
fn config_file_per_plugin() {
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let Ok(dir) = dir else { panic!("tempdir") };
    let cfg = dir.path().join("admission.yaml");
    let ps = dir.path().join("ps.yaml");
    std::fs::write(&ps, "defaults:\n  enforce: baseline\n").ok();
    std::fs::write(
        &cfg,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: ps.yaml\n- name: ResourceQuota\n  configuration: {a: 1}\n",
    )
    .ok();
    let m = load_config_file(&cfg).unwrap_or_default();
    assert_eq!(
        m.get("PodSecurity"),
        Some(&json!({"defaults": {"enforce": "baseline"}}))
    );
    assert_eq!(m.get("ResourceQuota"), Some(&json!({"a": 1})));
    std::fs::write(&cfg, "kind: AdmissionConfiguration\nplugins:\n- name: Nope\n").ok();
    assert!(load_config_file(&cfg)
        .err()
        .unwrap_or_default()
        .contains("plugin \"Nope\" is unknown"));
}

/// A registry over a fresh SQLite store (every built-in resource cached), with namespace `t`.
pub(crate) async fn registry_for(dir: &std::path::Path) -> Registry {
    registry(dir, &[]).await.0
}

/// A registry over a fresh SQLite store, a chain of these plugins, and one namespace.
async fn registry(dir: &std::path::Path, plugins: &[&str]) -> (Registry, Arc<AdmissionChain>) {
    let storage: Arc<dyn crate::storage::Storage> =
        match crate::storage::sqlite::SqliteStorage::open(&dir.join("db.sqlite")) {
            Ok(s) => s,
            Err(e) => panic!("open sqlite: {e}"),
        };
    let chain = match AdmissionChain::with_plugins(plugins, BTreeMap::new()) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("{e}"),
    };
    (crate::registry::test_registry(storage, "t").await, chain)
}

/// The built-in plugin behind `name`, with no configuration and default gates.
pub(crate) fn builtin(name: &str) -> Box<dyn Plugin> {
    let features = Default::default();
    let init = plugins::Init {
        config: None,
        features: &features,
    };
    match plugins::build(name, &init) {
        Ok(plugins::Built::Plugin(p)) => p,
        Ok(_) => panic!("{name} is not a built-in plugin"),
        Err(e) => panic!("{name}: {e}"),
    }
}

fn admin() -> Context {
    Context::new(UserInfo {
        name: "admin".into(),
        groups: vec!["system:masters".into()],
        ..Default::default()
    })
}

#[tokio::test]
async fn concurrent_creates_never_exceed_quota() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let (reg, chain) = registry(dir.path(), &["NamespaceLifecycle", "ResourceQuota"]).await;
    let (Some(q), Some(cm)) = (row("", "resourcequotas"), row("", "configmaps")) else {
        panic!("rows")
    };
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"configmaps": "3"}}});
    assert!(reg
        .create_with(q, Some("t"), quota, false, Some(&chain.request(&admin())))
        .await
        .is_ok());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (reg, chain) = (reg.clone(), chain.clone());
        tasks.push(tokio::spawn(async move {
            let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}});
            reg.create_with(cm, Some("t"), obj, false, Some(&chain.request(&admin())))
                .await
        }));
    }
    let mut ok = 0;
    let mut denied = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => denied.push(e),
            Err(e) => panic!("join: {e}"),
        }
    }
    assert_eq!(ok, 3, "{denied:?}");
    assert!(
        denied
            .iter()
            .all(|e| e.code == 403 && e.message.contains("exceeded quota: q")),
        "{denied:?}"
    );
    let Ok(stored) = reg.get(q, Some("t"), "q", None).await else {
        panic!("quota")
    };
    assert_eq!(
        stored.value().pointer("/status/used/configmaps").cloned(),
        Some(json!("3"))
    );
    // A create into a missing namespace is refused by NamespaceLifecycle before quota.
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let e = reg
        .create_with(cm, Some("gone"), obj, false, Some(&chain.request(&admin())))
        .await
        .err();
    assert_eq!(e.map(|e| e.message), Some("namespaces \"gone\" not found".to_string()));
}

#[tokio::test]
async fn webhook_service_resolves_through_endpoint_slices() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let (reg, _) = registry(dir.path(), &[]).await;
    let (Some(svc), Some(eps)) = (row("", "services"), row("discovery.k8s.io", "endpointslices")) else {
        panic!("rows")
    };
    let s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hook"},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 8443}]}});
    assert!(reg.create(svc, Some("t"), s, false).await.is_ok());
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "hook-1", "labels": {"kubernetes.io/service-name": "hook"}},
        "addressType": "IPv4", "ports": [{"name": "https", "port": 8443}],
        "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": false}}, {"addresses": ["10.1.2.4"]}]});
    let made = reg.create(eps, Some("t"), slice, false).await;
    assert!(made.is_ok(), "{made:?}");
    let ctx = admin();
    let config = BTreeMap::new();
    let env = Env {
        registry: &reg,
        ctx: &ctx,
        config: &config,
    };
    let t = webhook::resolve_for_test(&json!({"namespace": "t", "name": "hook", "path": "/m"}), &env).await;
    assert_eq!(
        t,
        Ok(("10.1.2.4:8443".to_string(), "hook.t.svc".to_string(), "/m".to_string()))
    );
    let t = webhook::resolve_for_test(&json!({"namespace": "t", "name": "nope"}), &env).await;
    assert_eq!(t, Err("service \"nope\" not found".to_string()));
}

#[tokio::test]
async fn pod_security_audit_annotations_reach_the_response() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let (reg, chain) = registry(dir.path(), &["PodSecurity"]).await;
    let (Some(nsd), Some(pods)) = (row("", "namespaces"), row("", "pods")) else {
        panic!("rows")
    };
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "audited",
        "labels": {"pod-security.kubernetes.io/audit": "restricted"}}});
    assert!(reg.create(nsd, None, ns, false).await.is_ok());
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "nginx"}]}});
    let ctx = admin();
    let made = reg
        .create_with(pods, Some("audited"), pod, false, Some(&chain.request(&ctx)))
        .await;
    assert!(made.is_ok(), "{made:?}");
    let ann = ctx.annotations();
    assert_eq!(
        ann.get("pod-security.kubernetes.io/enforce-policy").map(String::as_str),
        Some("privileged:latest")
    );
    let Some(v) = ann.get("pod-security.kubernetes.io/audit-violations") else {
        panic!("no audit-violations: {ann:?}")
    };
    assert!(
        v.starts_with("would violate PodSecurity \"restricted:latest\": host namespaces (hostNetwork=true)"),
        "{v}"
    );
    // The handler hands them to the audit layer as a response extension.
    let mut resp = http::Response::new(());
    ctx.annotate_response(&mut resp);
    let Some(ext) = resp.extensions().get::<crate::audit::AuditAnnotations>() else {
        panic!("no extension")
    };
    assert!(ext
        .0
        .iter()
        .any(|(k, v)| k == "pod-security.kubernetes.io/enforce-policy" && v == "privileged:latest"));
    // No annotations: no extension.
    let mut resp = http::Response::new(());
    admin().annotate_response(&mut resp);
    assert!(resp.extensions().get::<crate::audit::AuditAnnotations>().is_none());
}

fn user_ctx(name: &str, modes: &[&str]) -> Context {
    let modes: Vec<String> = modes.iter().map(|m| m.to_string()).collect();
    let Ok(az) = crate::auth::authz::Authorizer::new(&modes) else {
        panic!("authorizer")
    };
    Context::new(UserInfo {
        name: name.into(),
        groups: vec!["system:authenticated".into()],
        ..Default::default()
    })
    .with_authorizer(Arc::new(az))
}

#[tokio::test]
async fn certificate_approval_and_signing_ask_the_authorizer() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let (reg, _) = registry(dir.path(), &[]).await;
    let Some(def) = row("certificates.k8s.io", "certificatesigningrequests") else {
        panic!("csr row")
    };
    let csr = json!({"metadata": {"name": "x"}, "spec": {"signerName": "example.com/s"}});
    let signed = json!({"metadata": {"name": "x"}, "spec": {"signerName": "example.com/s"}, "status": {"certificate": "Y2VydA=="}});
    let config = BTreeMap::new();
    let run = |plugin: &'static str, sub: &'static str, ctx: Context, obj: Value| {
        let reg = &reg;
        let config = &config;
        let csr = csr.clone();
        async move {
            let env = Env {
                registry: reg,
                ctx: &ctx,
                config,
            };
            let mut a = Attributes::new(&ctx, Operation::Update, def, None, "x");
            a.subresource = sub.into();
            a.old = Some(csr);
            a.object = Some(obj);
            let p = builtin(plugin);
            p.validate(&a, &env).await.err().map(|e| (e.code, e.message))
        }
    };
    let denied = run(
        "CertificateApproval",
        "approval",
        user_ctx("alice", &["RBAC"]),
        csr.clone(),
    )
    .await;
    assert_eq!(
        denied,
        Some((
            403,
            "certificatesigningrequests.certificates.k8s.io \"x\" is forbidden: user not permitted to approve requests with signerName \"example.com/s\"".to_string()
        ))
    );
    let allowed = run(
        "CertificateApproval",
        "approval",
        user_ctx("alice", &["AlwaysAllow"]),
        csr.clone(),
    )
    .await;
    assert_eq!(allowed, None);
    // Signing: only a changed certificate is checked.
    let denied = run("CertificateSigning", "status", user_ctx("bob", &["RBAC"]), signed).await;
    assert_eq!(
        denied.map(|d| d.1),
        Some("certificatesigningrequests.certificates.k8s.io \"x\" is forbidden: user not permitted to sign requests with signerName \"example.com/s\"".to_string())
    );
    assert_eq!(
        run("CertificateSigning", "status", user_ctx("bob", &["RBAC"]), csr.clone()).await,
        None
    );
}

#[test]
fn match_policy_equivalent_and_subresource_kinds() {
    let (Some(core_ev), Some(deploy)) = (row("", "events"), row("apps", "deployments")) else {
        panic!("rows")
    };
    let ctx = admin();
    let mut a = Attributes::new(&ctx, Operation::Create, core_ev, Some("t"), "e");
    a.object = Some(json!({"metadata": {"name": "e"}}));
    let rule = json!({"operations": ["CREATE"], "apiGroups": ["events.k8s.io"], "apiVersions": ["v1"], "resources": ["events"]});
    assert!(!webhook::rule_matches(&rule, &a));
    let eq = webhook::equivalents(&a);
    assert!(
        eq.iter().any(|g| g.group == "events.k8s.io" && g.version == "v1"),
        "{eq:?}"
    );
    let hook = |policy: &str| json!({"matchPolicy": policy, "rules": [rule.clone()]});
    assert_eq!(
        webhook::matched_resource(&hook("Equivalent"), &a).map(|g| g.group),
        Some("events.k8s.io".to_string())
    );
    assert_eq!(webhook::matched_resource(&hook("Exact"), &a), None);
    // Another version of the same group/resource (as a CRD's versions) is equivalent.
    let mut d = Attributes::new(&ctx, Operation::Create, deploy, Some("t"), "d");
    d.object = Some(json!({}));
    let old_version = json!({"rules": [{"operations": ["*"], "apiGroups": ["apps"], "apiVersions": ["v1beta2"], "resources": ["deployments"]}]});
    assert_eq!(
        webhook::matched_resource(&old_version, &d).map(|g| g.version),
        Some("v1beta2".to_string())
    );
    // The review names the matched resource; requestResource the one requested.
    let m = eq.iter().find(|g| g.group == "events.k8s.io");
    let r = webhook::review_as(&a, "u", m);
    assert_eq!(r.pointer("/request/resource/group"), Some(&json!("events.k8s.io")));
    assert_eq!(r.pointer("/request/requestResource/group"), Some(&json!("")));
    // The scale subresource is reviewed as autoscaling/v1 Scale.
    let mut a = Attributes::new(&ctx, Operation::Update, deploy, Some("t"), "d");
    a.subresource = "scale".into();
    a.object = Some(json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 3}}));
    let r = webhook::review(&a, "u");
    assert_eq!(
        r.pointer("/request/kind"),
        Some(&json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}))
    );
    assert_eq!(r.pointer("/request/resource/resource"), Some(&json!("deployments")));
    assert_eq!(r.pointer("/request/subResource"), Some(&json!("scale")));
}
