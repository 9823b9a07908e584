//! The official Python client (`kubernetes` on PyPI, pinned in `common::python`, installed into
//! a venv by the test itself) as a test client beside kubectl, kube-rs and client-go: the
//! read-modify-write cycle for each kind `kubectl create` makes (the client sends times as
//! `…+00:00` and every field it read back), list pagination with `_continue`, a watch with
//! bookmarks, server-side apply and strategic merge patch. A missing python3 fails in CI.

mod common;

use common::{python, TestServer};

const SCRIPT: &str = r#"
import json, sys
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
config.load_kube_config()
core, apps, batch = client.CoreV1Api(), client.AppsV1Api(), client.BatchV1Api()
net, policy, sched, rbac = client.NetworkingV1Api(), client.PolicyV1Api(), client.SchedulingV1Api(), client.RbacAuthorizationV1Api()
ns = "pyclient"
M = client.V1ObjectMeta
core.create_namespace(client.V1Namespace(metadata=M(name=ns)))

def rmw(kind, read, replace, *ns_arg):
    obj = read(*ns_arg)
    before = obj.metadata.resource_version
    obj.metadata.labels = dict(obj.metadata.labels or {}, cycle="updated")
    out = replace(*ns_arg, obj)
    assert out.metadata.labels["cycle"] == "updated" and out.metadata.resource_version != before, (kind, out.metadata)
    print("rmw", kind)

def named(create, read, replace, kind, body, namespaced=True):
    name = body.metadata.name
    if namespaced:
        create(ns, body)
        rmw(kind, read, replace, name, ns)
    else:
        create(body)
        rmw(kind, read, replace, name)

sel = client.V1LabelSelector(match_labels={"app": "py"})
def template(restart):
    return client.V1PodTemplateSpec(metadata=M(labels={"app": "py"}), spec=client.V1PodSpec(restart_policy=restart,
        containers=[client.V1Container(name="c", image="busybox",
            resources=client.V1ResourceRequirements(requests={"cpu": "0.1", "memory": "64Mi"}))]))
rules = [client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get"])]
subjects = [client.RbacV1Subject(kind="ServiceAccount", name="sa", namespace=ns)]

rmw("Namespace", core.read_namespace, core.replace_namespace, ns)
named(core.create_namespaced_config_map, core.read_namespaced_config_map, core.replace_namespaced_config_map,
    "ConfigMap", client.V1ConfigMap(metadata=M(name="cm"), data={"a": "1"}, binary_data={"b": "AAEC"}))
named(core.create_namespaced_secret, core.read_namespaced_secret, core.replace_namespaced_secret,
    "Secret", client.V1Secret(metadata=M(name="sec"), data={"k": "dgD/"}, string_data={"s": "plain"}))
sec = core.read_namespaced_secret("sec", ns)
assert sec.data == {"k": "dgD/", "s": "cGxhaW4="}, sec.data
named(core.create_namespaced_service_account, core.read_namespaced_service_account, core.replace_namespaced_service_account,
    "ServiceAccount", client.V1ServiceAccount(metadata=M(name="sa")))
named(core.create_namespaced_service, core.read_namespaced_service, core.replace_namespaced_service,
    "Service", client.V1Service(metadata=M(name="svc"), spec=client.V1ServiceSpec(selector={"app": "py"},
        ports=[client.V1ServicePort(port=80, target_port=8080)])))
named(core.create_namespaced_resource_quota, core.read_namespaced_resource_quota, core.replace_namespaced_resource_quota,
    "ResourceQuota", client.V1ResourceQuota(metadata=M(name="quota"), spec=client.V1ResourceQuotaSpec(hard={"pods": "100", "requests.cpu": "10"})))
named(apps.create_namespaced_deployment, apps.read_namespaced_deployment, apps.replace_namespaced_deployment,
    "Deployment", client.V1Deployment(metadata=M(name="dep"), spec=client.V1DeploymentSpec(replicas=1, selector=sel, template=template("Always"))))
named(batch.create_namespaced_job, batch.read_namespaced_job, batch.replace_namespaced_job,
    "Job", client.V1Job(metadata=M(name="job"), spec=client.V1JobSpec(template=template("Never"))))
named(batch.create_namespaced_cron_job, batch.read_namespaced_cron_job, batch.replace_namespaced_cron_job,
    "CronJob", client.V1CronJob(metadata=M(name="cj"), spec=client.V1CronJobSpec(schedule="*/5 * * * *",
        job_template=client.V1JobTemplateSpec(spec=client.V1JobSpec(template=template("OnFailure"))))))
named(net.create_namespaced_ingress, net.read_namespaced_ingress, net.replace_namespaced_ingress,
    "Ingress", client.V1Ingress(metadata=M(name="ing"), spec=client.V1IngressSpec(rules=[client.V1IngressRule(host="a.example.com",
        http=client.V1HTTPIngressRuleValue(paths=[client.V1HTTPIngressPath(path="/", path_type="Prefix",
            backend=client.V1IngressBackend(service=client.V1IngressServiceBackend(name="svc",
                port=client.V1ServiceBackendPort(number=80))))]))])))
named(policy.create_namespaced_pod_disruption_budget, policy.read_namespaced_pod_disruption_budget, policy.replace_namespaced_pod_disruption_budget,
    "PodDisruptionBudget", client.V1PodDisruptionBudget(metadata=M(name="pdb"), spec=client.V1PodDisruptionBudgetSpec(min_available=1, selector=sel)))
named(sched.create_priority_class, sched.read_priority_class, sched.replace_priority_class,
    "PriorityClass", client.V1PriorityClass(metadata=M(name="py-pc"), value=1000), namespaced=False)
named(rbac.create_namespaced_role, rbac.read_namespaced_role, rbac.replace_namespaced_role,
    "Role", client.V1Role(metadata=M(name="role"), rules=rules))
named(rbac.create_namespaced_role_binding, rbac.read_namespaced_role_binding, rbac.replace_namespaced_role_binding,
    "RoleBinding", client.V1RoleBinding(metadata=M(name="rb"), subjects=subjects,
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="role")))
named(rbac.create_cluster_role, rbac.read_cluster_role, rbac.replace_cluster_role,
    "ClusterRole", client.V1ClusterRole(metadata=M(name="py-cr"), rules=rules), namespaced=False)
named(rbac.create_cluster_role_binding, rbac.read_cluster_role_binding, rbac.replace_cluster_role_binding,
    "ClusterRoleBinding", client.V1ClusterRoleBinding(metadata=M(name="py-crb"), subjects=subjects,
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="py-cr")), namespaced=False)

# A stale write is a 409 Conflict.
stale = core.read_namespaced_config_map("cm", ns)
fresh = core.read_namespaced_config_map("cm", ns)
fresh.data["a"] = "2"
core.replace_namespaced_config_map("cm", ns, fresh)
try:
    core.replace_namespaced_config_map("cm", ns, stale)
    sys.exit("stale update succeeded")
except ApiException as e:
    assert e.status == 409 and json.loads(e.body)["reason"] == "Conflict", e
print("stale update conflicts")

# Pagination: limit and _continue.
for i in range(7):
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=M(name=f"page-{i}", labels={"page": "yes"})))
names, token, pages = [], None, 0
while True:
    page = core.list_namespaced_config_map(ns, label_selector="page=yes", limit=3, _continue=token)
    pages += 1
    names += [c.metadata.name for c in page.items]
    token = page.metadata._continue
    if not token:
        break
assert names == [f"page-{i}" for i in range(7)] and pages == 3, (names, pages)
print("paged list:", len(names), "items in", pages, "pages")

# Watch from a list's resourceVersion with bookmarks.
rv = core.list_namespaced_config_map(ns, label_selector="watch=yes").metadata.resource_version
created = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=M(name="watched", labels={"watch": "yes"})))
seen = []
for ev in watch.Watch().stream(core.list_namespaced_config_map, ns, label_selector="watch=yes",
        resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=4):
    if ev["type"] == "BOOKMARK":
        # The client leaves a bookmark's object as the raw JSON (kind, apiVersion, metadata).
        o = ev["object"]
        assert o["kind"] == "ConfigMap" and o["apiVersion"] == "v1", o
        seen.append(("BOOKMARK", None, int(o["metadata"]["resourceVersion"])))
    else:
        seen.append((ev["type"], ev["object"].metadata.name, int(ev["object"].metadata.resource_version)))
assert seen[0] == ("ADDED", "watched", int(created.metadata.resource_version)), seen
bookmarks = [s for s in seen if s[0] == "BOOKMARK"]
assert bookmarks and bookmarks[-1][2] >= seen[0][2], seen
print("watch: ADDED then BOOKMARK")

# Server-side apply (the dynamic client, over discovery): ownership, conflict, force.
from kubernetes import dynamic
from kubernetes.dynamic.exceptions import ConflictError
dyn = dynamic.DynamicClient(client.ApiClient())
cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
def apply(data, manager, force=None):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": data}
    return dyn.server_side_apply(cms, body=body, namespace=ns, field_manager=manager, force_conflicts=force)
out = apply({"x": "1", "y": "2"}, "py-a")
assert [(f.manager, f.operation) for f in out.metadata.managedFields] == [("py-a", "Apply")], out.metadata
try:
    apply({"x": "other"}, "py-b")
    sys.exit("conflicting apply succeeded")
except ConflictError as e:
    assert e.status == 409, e
    assert 'conflict with \\"py-a\\": .data.x' in e.body.decode() or 'conflict with "py-a": .data.x' in json.loads(e.body)["message"], e.body
out = apply({"x": "other"}, "py-b", force=True)
assert dict(out.data) == {"x": "other", "y": "2"}, out.data
print("server-side apply: conflict, force")

# Strategic merge patch (the client's default for a dict body): containers merge by name.
out = apps.patch_namespaced_deployment("dep", ns,
    {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "nginx"}]}}}})
assert [c.name for c in out.spec.template.spec.containers] == ["side", "c"], out.spec.template.spec.containers
out = apps.patch_namespaced_deployment("dep", ns, [{"op": "replace", "path": "/spec/replicas", "value": 2}])
assert out.spec.replicas == 2 and len(out.spec.template.spec.containers) == 2, out.spec
print("strategic merge patch and json patch")
print("OK")
"#;

#[test]
fn python_client_read_modify_write_watch_apply_patch() {
    let Some(py) = python::python() else { return };
    let s = TestServer::start();
    let out = python::run_ok(&py, &s, SCRIPT);
    assert!(out.ends_with("OK\n"), "{out}");
    for kind in common::KUBECTL_CREATE_KINDS {
        assert!(out.contains(&format!("rmw {kind}\n")), "{kind}: {out}");
    }
    assert!(out.contains("paged list: 7 items in 3 pages\n"), "{out}");
}
