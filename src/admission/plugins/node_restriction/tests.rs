//! Upstream's TestAdmitPod/TestAdmitNode/... cases (plugin/pkg/admission/noderestriction),
//! against a real registry.

use super::*;
use crate::admission::Context;
use crate::registry::Registry;
use crate::request::UserInfo;
use serde_json::json;
use std::sync::Arc;

fn node_user(name: &str) -> UserInfo {
    UserInfo {
        name: format!("system:node:{name}"),
        groups: vec!["system:nodes".into(), "system:authenticated".into()],
        ..Default::default()
    }
}

struct Fixture {
    reg: Registry,
    _dir: tempfile::TempDir,
    node_uid: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let reg = crate::admission::tests::registry_for(dir.path()).await;
    let row = |g: &str, p: &str| crate::api::builtin_row(g, p).unwrap_or_else(|| panic!("{p} row"));
    let made = reg
        .create(
            row("", "nodes"),
            None,
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "mynode"}}),
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let node_uid = made.value()["metadata"]["uid"].as_str().unwrap_or("").to_string();
    reg.create(
        row("", "nodes"),
        None,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "othernode"}}),
        false,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for (name, node) in [("mine", "mynode"), ("theirs", "othernode")] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "t"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}],
                     "volumes": [{"name": "tok", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]}});
        reg.create(row("", "pods"), Some("t"), pod, false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    Fixture {
        reg,
        _dir: dir,
        node_uid,
    }
}

impl Fixture {
    async fn admit(&self, ctx: &Context, mut a: Attributes) -> Result<(), String> {
        let cfg = Default::default();
        let env = Env {
            registry: &self.reg,
            ctx,
            config: &cfg,
        };
        NodeRestriction::new(&FeatureGates::default())
            .admit(&mut a, &env)
            .await
            .map_err(|e| e.message)
    }
}

fn attrs(
    ctx: &Context,
    op: Operation,
    group: &str,
    plural: &str,
    ns: Option<&str>,
    name: &str,
    sub: &str,
) -> Attributes {
    let def = crate::api::builtin_row(group, plural).unwrap_or_else(|| panic!("{plural} row"));
    let mut a = Attributes::new(ctx, op, def, ns, name);
    a.subresource = sub.to_string();
    a
}

fn mirror_pod(node_uid: &str) -> Value {
    json!({"metadata": {"name": "m", "namespace": "t", "annotations": {MIRROR: "x"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "mynode", "uid": node_uid, "controller": true}]},
        "spec": {"nodeName": "mynode", "containers": [{"name": "c", "image": "i"}]}})
}

#[tokio::test]
async fn mirror_pods() {
    let f = fixture().await;
    let ctx = Context::new(node_user("mynode"));
    let create = |pod: Value| {
        let mut a = attrs(&ctx, Operation::Create, "", "pods", Some("t"), "m", "");
        a.object = Some(pod);
        a
    };
    let good = mirror_pod(&f.node_uid);
    assert_eq!(f.admit(&ctx, create(good.clone())).await, Ok(()));
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|p| p["metadata"]["annotations"] = json!({})),
            "pod does not have \"kubernetes.io/config.mirror\" annotation, node \"mynode\" can only create mirror pods",
        ),
        (
            Box::new(|p| p["spec"]["nodeName"] = json!("othernode")),
            "node \"mynode\" can only create pods with spec.nodeName set to itself",
        ),
        (
            Box::new(|p| p["metadata"]["ownerReferences"] = json!([])),
            "node \"mynode\" can only create pods with an owner reference set to itself",
        ),
        (
            Box::new(|p| {
                let r = p["metadata"]["ownerReferences"][0].clone();
                p["metadata"]["ownerReferences"] = json!([r.clone(), r])
            }),
            "node \"mynode\" can only create pods with a single owner reference set to itself",
        ),
        (
            Box::new(|p| p["metadata"]["ownerReferences"][0]["name"] = json!("othernode")),
            "node \"mynode\" can only create pods with an owner reference set to itself",
        ),
        (
            Box::new(|p| p["metadata"]["ownerReferences"][0]["controller"] = json!(false)),
            "node \"mynode\" can only create pods with a controller owner reference set to itself",
        ),
        (
            Box::new(|p| p["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = json!(true)),
            "node \"mynode\" must not set blockOwnerDeletion on an owner reference",
        ),
        (
            Box::new(|p| p["spec"]["serviceAccountName"] = json!("foo")),
            "node \"mynode\" can not create pods that reference a service account",
        ),
        (
            Box::new(|p| p["spec"]["volumes"] = json!([{"name": "s", "secret": {"secretName": "foo"}}])),
            "node \"mynode\" can not create pods that reference secrets",
        ),
        (
            Box::new(|p| p["spec"]["containers"][0]["envFrom"] = json!([{"configMapRef": {"name": "foo"}}])),
            "node \"mynode\" can not create pods that reference configmaps",
        ),
        (
            Box::new(|p| p["spec"]["volumes"] = json!([{"name": "c", "persistentVolumeClaim": {"claimName": "foo"}}])),
            "node \"mynode\" can not create pods that reference persistentvolumeclaims",
        ),
        (
            Box::new(|p| {
                p["spec"]["volumes"] = json!([{"name": "c", "projected": {"sources": [{"clusterTrustBundle": {"path": "x", "name": "b"}}]}}])
            }),
            "node \"mynode\" can not create pods that reference clustertrustbundles",
        ),
        (
            Box::new(|p| p["spec"]["resourceClaims"] = json!([{"name": "r"}])),
            "node \"mynode\" can not create pods that reference resourceclaims",
        ),
    ];
    for (change, want) in cases {
        let mut pod = good.clone();
        change(&mut pod);
        assert_eq!(
            f.admit(&ctx, create(pod)).await,
            Err(format!("pods \"m\" is forbidden: {want}"))
        );
    }
    let mut pod = good.clone();
    pod["metadata"]["ownerReferences"][0]["uid"] = json!("nope");
    let e = f.admit(&ctx, create(pod)).await.err().unwrap_or_default();
    assert!(
        e.contains(&format!("node mynode UID mismatch: expected nope got {}", f.node_uid)),
        "{e}"
    );
    // Not a node: not restricted. A node group member without a node name: refused.
    let other = Context::new(UserInfo {
        name: "alice".into(),
        ..Default::default()
    });
    let mut a = attrs(&other, Operation::Create, "", "pods", Some("t"), "m", "");
    a.object = Some(json!({"metadata": {"name": "m"}}));
    assert_eq!(f.admit(&other, a).await, Ok(()));
    let nameless = Context::new(node_user(""));
    let mut a = attrs(&nameless, Operation::Create, "", "pods", Some("t"), "m", "");
    a.object = Some(good);
    assert_eq!(
        f.admit(&nameless, a).await,
        Err("pods \"m\" is forbidden: could not determine node from user \"system:node:\"".into())
    );
}

#[tokio::test]
async fn pod_updates_deletes_evictions_and_status() {
    let f = fixture().await;
    let ctx = Context::new(node_user("mynode"));
    let pod = |name: &str, node: &str| json!({"metadata": {"name": name, "namespace": "t", "labels": {"a": "b"}}, "spec": {"nodeName": node}});
    // Delete: own pods only.
    let mut a = attrs(&ctx, Operation::Delete, "", "pods", Some("t"), "theirs", "");
    a.old = Some(pod("theirs", "othernode"));
    assert_eq!(
        f.admit(&ctx, a).await,
        Err(
            "pods \"theirs\" is forbidden: node \"mynode\" can only delete pods with spec.nodeName set to itself"
                .into()
        )
    );
    let mut a = attrs(&ctx, Operation::Delete, "", "pods", Some("t"), "mine", "");
    a.old = Some(pod("mine", "mynode"));
    assert_eq!(f.admit(&ctx, a).await, Ok(()));
    // Update of the pod itself: never.
    let mut a = attrs(&ctx, Operation::Update, "", "pods", Some("t"), "mine", "");
    a.object = Some(pod("mine", "mynode"));
    assert_eq!(
        f.admit(&ctx, a).await,
        Err("pods \"mine\" is forbidden: unexpected operation \"UPDATE\", node \"mynode\" can only create and delete mirror pods".into())
    );
    // Status: own pods, labels unchanged.
    let status = |old: Value, new: Value| {
        let mut a = attrs(&ctx, Operation::Update, "", "pods", Some("t"), "mine", "status");
        a.old = Some(old);
        a.object = Some(new);
        a
    };
    assert_eq!(
        f.admit(&ctx, status(pod("mine", "mynode"), pod("mine", "mynode")))
            .await,
        Ok(())
    );
    assert_eq!(
        f.admit(&ctx, status(pod("mine", "othernode"), pod("mine", "othernode"))).await,
        Err("pods \"mine\" is forbidden: node \"mynode\" can only update pod status for pods with spec.nodeName set to itself".into())
    );
    let mut relabeled = pod("mine", "mynode");
    relabeled["metadata"]["labels"]["a"] = json!("c");
    assert_eq!(
        f.admit(&ctx, status(pod("mine", "mynode"), relabeled)).await,
        Err("pods \"mine\" is forbidden: node \"mynode\" cannot update labels through pod status".into())
    );
    let mut claims = pod("mine", "mynode");
    claims["status"] = json!({"resourceClaimStatuses": [{"name": "r", "resourceClaimName": "x"}]});
    assert_eq!(
        f.admit(&ctx, status(pod("mine", "mynode"), claims)).await,
        Err("pods \"mine\" is forbidden: node \"mynode\" cannot update resource claim statues".into())
    );
    // Eviction: pods bound to itself; the pod must exist.
    let evict = |name: &str| {
        let mut a = attrs(&ctx, Operation::Create, "", "pods", Some("t"), name, "eviction");
        a.object =
            Some(json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "t"}}));
        a
    };
    assert_eq!(f.admit(&ctx, evict("mine")).await, Ok(()));
    assert_eq!(
        f.admit(&ctx, evict("theirs")).await,
        Err("pods \"theirs\" is forbidden: node mynode can only evict pods with spec.nodeName set to itself".into())
    );
    assert_eq!(
        f.admit(&ctx, evict("gone")).await,
        Err("pods \"gone\" not found".into())
    );
    // Other pod subresources are refused.
    let mut a = attrs(&ctx, Operation::Create, "", "pods", Some("t"), "mine", "binding");
    a.object = Some(json!({"target": {"kind": "Node", "name": "mynode"}}));
    assert_eq!(
        f.admit(&ctx, a).await,
        Err("pods \"mine\" is forbidden: unexpected pod subresource \"binding\", only 'status' and 'eviction' are allowed".into())
    );
}

#[tokio::test]
async fn own_node_labels_taints_and_config_source() {
    let f = fixture().await;
    let ctx = Context::new(node_user("mynode"));
    let node = |labels: Value| json!({"metadata": {"name": "mynode", "labels": labels}, "spec": {}});
    let create = |n: Value| {
        let mut a = attrs(&ctx, Operation::Create, "", "nodes", None, "mynode", "");
        a.object = Some(n);
        a
    };
    let allowed = json!({"kubernetes.io/hostname": "h", "topology.kubernetes.io/zone": "z", "node.kubernetes.io/instance-type": "t",
        "kubelet.kubernetes.io/x": "1", "foo.node.kubernetes.io/y": "1", "example.com/custom": "1", "nokubernetes.io/z": "1"});
    assert_eq!(f.admit(&ctx, create(node(allowed.clone()))).await, Ok(()));
    let forbidden = json!({"node-restriction.kubernetes.io/a": "1", "a.node-restriction.kubernetes.io/b": "1",
        "kubernetes.io/other": "1", "k8s.io/x": "1", "sub.k8s.io/y": "1", "node-role.kubernetes.io/master": ""});
    assert_eq!(
        f.admit(&ctx, create(node(forbidden))).await,
        Err("nodes \"mynode\" is forbidden: node \"mynode\" is not allowed to set the following labels: a.node-restriction.kubernetes.io/b, k8s.io/x, kubernetes.io/other, node-restriction.kubernetes.io/a, node-role.kubernetes.io/master, sub.k8s.io/y".into())
    );
    let mut with_source = node(json!({}));
    with_source["spec"]["configSource"] = json!({"configMap": {"name": "c"}});
    assert_eq!(
        f.admit(&ctx, create(with_source)).await,
        Err(
            "nodes \"mynode\" is forbidden: node \"mynode\" is not allowed to create pods with a non-nil configSource"
                .into()
        )
    );
    let mut other = create(json!({"metadata": {"name": "othernode"}}));
    other.name = "othernode".into();
    assert_eq!(
        f.admit(&ctx, other).await,
        Err("nodes \"othernode\" is forbidden: node \"mynode\" is not allowed to modify node \"othernode\"".into())
    );
    let update = |old: Value, new: Value| {
        let mut a = attrs(&ctx, Operation::Update, "", "nodes", None, "mynode", "");
        a.old = Some(old);
        a.object = Some(new);
        a
    };
    let mut tainted = node(json!({}));
    tainted["spec"]["taints"] = json!([{"key": "k", "effect": "NoSchedule"}]);
    assert_eq!(
        f.admit(&ctx, update(tainted, node(json!({})))).await,
        Err("nodes \"mynode\" is forbidden: node \"mynode\" is not allowed to modify taints".into())
    );
    let mut owned = node(json!({}));
    owned["metadata"]["ownerReferences"] = json!([{"uid": "1"}]);
    assert_eq!(
        f.admit(&ctx, update(node(json!({})), owned)).await,
        Err("nodes \"mynode\" is forbidden: node \"mynode\" is not allowed to modify ownerReferences".into())
    );
    assert_eq!(
        f.admit(&ctx, update(node(json!({"kubernetes.io/role": "a"})), node(json!({}))))
            .await,
        Err("nodes \"mynode\" is forbidden: is not allowed to modify labels: kubernetes.io/role".into())
    );
    // Unchanged forbidden labels and allowed changes pass.
    assert_eq!(
        f.admit(
            &ctx,
            update(
                node(json!({"kubernetes.io/role": "a", "x": "1"})),
                node(json!({"kubernetes.io/role": "a", "x": "2", "kubernetes.io/os": "linux"}))
            )
        )
        .await,
        Ok(())
    );
}

#[tokio::test]
async fn leases_csinodes_pvcs_and_csrs() {
    let f = fixture().await;
    let ctx = Context::new(node_user("mynode"));
    let lease = |ns: &str, name: &str| {
        let mut a = attrs(
            &ctx,
            Operation::Update,
            "coordination.k8s.io",
            "leases",
            Some(ns),
            name,
            "",
        );
        a.object = Some(json!({"metadata": {"name": name}}));
        a
    };
    assert_eq!(f.admit(&ctx, lease("kube-node-lease", "mynode")).await, Ok(()));
    assert_eq!(
        f.admit(&ctx, lease("default", "mynode")).await,
        Err("leases.coordination.k8s.io \"mynode\" is forbidden: can only access leases in the \"kube-node-lease\" system namespace".into())
    );
    assert_eq!(
        f.admit(&ctx, lease("kube-node-lease", "othernode")).await,
        Err("leases.coordination.k8s.io \"othernode\" is forbidden: can only access node lease with the same name as the requesting node".into())
    );
    let mut a = attrs(
        &ctx,
        Operation::Create,
        "storage.k8s.io",
        "csinodes",
        None,
        "othernode",
        "",
    );
    a.object = Some(json!({"metadata": {"name": "othernode"}}));
    assert_eq!(
        f.admit(&ctx, a).await,
        Err("csinodes.storage.k8s.io \"othernode\" is forbidden: can only access CSINode with the same name as the requesting node".into())
    );
    // PVC status: capacity and conditions only.
    let pvc = json!({"metadata": {"name": "c", "resourceVersion": "1"}, "spec": {"volumeName": "v"}, "status": {"phase": "Bound"}});
    let status = |new: Value| {
        let mut a = attrs(
            &ctx,
            Operation::Update,
            "",
            "persistentvolumeclaims",
            Some("t"),
            "c",
            "status",
        );
        a.old = Some(pvc.clone());
        a.object = Some(new);
        a
    };
    let mut grown = pvc.clone();
    grown["status"]["capacity"] = json!({"storage": "2Gi"});
    grown["metadata"]["resourceVersion"] = json!("");
    assert_eq!(f.admit(&ctx, status(grown)).await, Ok(()));
    let mut relabeled = pvc.clone();
    relabeled["metadata"]["labels"] = json!({"a": "b"});
    let e = f.admit(&ctx, status(relabeled)).await.err().unwrap_or_default();
    assert!(e.starts_with("persistentvolumeclaims \"c\" is forbidden: node \"mynode\" is not allowed to update fields other than status.quantity and status.conditions: "), "{e}");
    let mut a = attrs(
        &ctx,
        Operation::Update,
        "",
        "persistentvolumeclaims",
        Some("t"),
        "c",
        "",
    );
    a.object = Some(pvc.clone());
    assert_eq!(
        f.admit(&ctx, a).await,
        Err("persistentvolumeclaims \"c\" is forbidden: may only update PVC status".into())
    );
    // Kubelet CSRs: CN must be the node.
    let csr = |cn: &str, signer: &str| {
        use base64::Engine;
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let pem = p
            .serialize_request(&key)
            .and_then(|r| r.pem())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut a = attrs(
            &ctx,
            Operation::Create,
            "certificates.k8s.io",
            "certificatesigningrequests",
            None,
            "csr",
            "",
        );
        a.object = Some(json!({"metadata": {"name": "csr"}, "spec": {"signerName": signer,
            "request": base64::engine::general_purpose::STANDARD.encode(pem)}}));
        a
    };
    assert_eq!(
        f.admit(&ctx, csr("system:node:mynode", "kubernetes.io/kubelet-serving"))
            .await,
        Ok(())
    );
    assert_eq!(
        f.admit(&ctx, csr("system:node:othernode", "kubernetes.io/kube-apiserver-client-kubelet")).await,
        Err("certificatesigningrequests.certificates.k8s.io \"csr\" is forbidden: can only create a node CSR with CN=system:node:mynode".into())
    );
    assert_eq!(f.admit(&ctx, csr("anything", "example.com/other")).await, Ok(()));
}

#[tokio::test]
async fn service_account_tokens() {
    let f = fixture().await;
    let authz = Arc::new(
        crate::auth::authz::Authorizer::new(&["Node".into(), "RBAC".into()]).unwrap_or_else(|e| panic!("{e}")),
    );
    let ctx = Context::new(node_user("mynode")).with_authorizer(authz);
    let row = crate::api::builtin_row("", "pods").unwrap_or_else(|| panic!("pods row"));
    let uid = |name: &str| {
        let reg = f.reg.clone();
        let name = name.to_string();
        async move {
            reg.get(row, Some("t"), &name, None)
                .await
                .map(|o| o.value()["metadata"]["uid"].as_str().unwrap_or("").to_string())
                .unwrap_or_default()
        }
    };
    let (mine, theirs) = (uid("mine").await, uid("theirs").await);
    let token = |bound: Value, audiences: Value| {
        let mut a = attrs(
            &ctx,
            Operation::Create,
            "",
            "serviceaccounts",
            Some("t"),
            "mysa",
            "token",
        );
        a.object = Some(json!({"spec": {"boundObjectRef": bound, "audiences": audiences}}));
        a
    };
    let pod_ref = |name: &str, uid: &str| json!({"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid});
    let err = |m: &str| Err(format!("serviceaccounts \"mysa\" is forbidden: {m}"));
    assert_eq!(f.admit(&ctx, token(pod_ref("mine", &mine), json!(null))).await, Ok(()));
    assert_eq!(
        f.admit(&ctx, token(Value::Null, json!(null))).await,
        err("node requested token not bound to a pod")
    );
    assert_eq!(
        f.admit(
            &ctx,
            token(
                json!({"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "1"}),
                json!(null)
            )
        )
        .await,
        err("node requested token not bound to a pod")
    );
    assert_eq!(
        f.admit(&ctx, token(pod_ref("mine", ""), json!(null))).await,
        err("node requested token with a pod binding without a uid")
    );
    assert_eq!(
        f.admit(&ctx, token(pod_ref("theirs", &theirs), json!(null))).await,
        err("node requested token bound to a pod scheduled on a different node")
    );
    assert_eq!(
        f.admit(&ctx, token(pod_ref("mine", "stale"), json!(null))).await,
        err("the UID in the bound object reference (stale) does not match the UID in record. The object might have been deleted and then recreated")
    );
    // ServiceAccountNodeAudienceRestriction (on by default in 1.33).
    assert_eq!(
        f.admit(&ctx, token(pod_ref("mine", &mine), json!(["a", "b"]))).await,
        err("node may only request 0 or 1 audiences")
    );
    assert_eq!(
        f.admit(&ctx, token(pod_ref("mine", &mine), json!(["foo"]))).await,
        err("audience \"foo\" not found in pod spec volume, system:node:mynode is not authorized to request tokens for this audience")
    );
}

#[test]
fn label_rules() {
    let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert!(forbidden_labels(&set(&[
        "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "x.kubelet.kubernetes.io/y"
    ]))
    .is_empty());
    assert_eq!(
        forbidden_labels(&set(&["node-restriction.kubernetes.io/x"])),
        ["node-restriction.kubernetes.io/x"]
    );
}
