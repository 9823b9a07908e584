//! MutatingAdmissionPolicy (admissionregistration.k8s.io/v1alpha1) end to end with real
//! kubectl 1.33 against a server started as upstream needs it (the `MutatingAdmissionPolicy`
//! feature gate and `--runtime-config=admissionregistration.k8s.io/v1alpha1=true`):
//! ApplyConfiguration (merged as server-side apply: a container merged by name) and JSONPatch
//! (`jsonpatch.escapeKey`) mutations on created Deployments, params from a ConfigMap,
//! matchConditions, upstream's defaults and printer columns, write-time validation, runtime
//! failures (denied or ignored per failurePolicy) and `reinvocationPolicy: IfNeeded`. Every
//! expected text was taken from upstream kube-apiserver v1.33.13 started with the same flags
//! on the same fixtures (`tests/fixtures/map`).

mod common;

use common::kubectl::last_response_body;
use common::{eventually, matching, secs, TestServer};
use serde_json::{json, Value};
use std::path::PathBuf;

const V: &str = "1.33";

fn fixture(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "map", name]
        .iter()
        .collect();
    p.to_str().expect("utf-8 path").to_string()
}

fn server() -> TestServer {
    TestServer::start_with(&[
        "--feature-gates=MutatingAdmissionPolicy=true",
        "--runtime-config=admissionregistration.k8s.io/v1alpha1=true",
    ])
}

/// `deploy.yaml` in namespace `ns`, written beside the server.
fn deployment_in(s: &TestServer, ns: &str) -> String {
    let y = std::fs::read_to_string(fixture("deploy.yaml"))
        .expect("fixture")
        .replace("namespace: map-ns", &format!("namespace: {ns}"));
    s.write_file(&format!("deploy-{ns}.yaml"), &y)
        .to_str()
        .expect("utf-8")
        .to_string()
}

fn run(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    s.kubectl_run(V, args)
}

fn get_json(s: &TestServer, args: &[&str]) -> Value {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&s.kubectl_ok(V, &a)).expect("JSON")
}

/// What the test looks at in a Deployment.
fn summary(d: &Value) -> Value {
    let containers: Vec<Value> = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!({"name": c["name"], "image": c["image"], "imagePullPolicy": c["imagePullPolicy"]}))
        .collect();
    json!({
        "labels": d["metadata"]["labels"],
        "annotations": d["metadata"]["annotations"],
        "replicas": d["spec"]["replicas"],
        "containers": containers,
    })
}

#[test]
fn apply_configuration_and_json_patch_through_kubectl() {
    let s = server();
    let out = s.kubectl_ok(V, &["apply", "-f", &fixture("policies.yaml")]);
    assert_eq!(
        out.trim(),
        "namespace/map-ns created\nconfigmap/team-params created\n\
         mutatingadmissionpolicy.admissionregistration.k8s.io/team-defaults created\n\
         mutatingadmissionpolicybinding.admissionregistration.k8s.io/team-defaults created\n\
         mutatingadmissionpolicy.admissionregistration.k8s.io/owner-annotation created\n\
         mutatingadmissionpolicybinding.admissionregistration.k8s.io/owner-annotation created"
    );
    let web = fixture("deploy.yaml");
    // Probed with server-side dry runs until both policies are in force.
    let probe = eventually("the policies mutate", secs(10), || {
        let (ok, out, _) = run(&s, &["create", "-f", &web, "--dry-run=server", "-o", "json"]);
        let d: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
        matching(d, |d| {
            ok && d["metadata"]["labels"]["team"] == "blue" && d["metadata"]["annotations"].is_object()
        })
    });
    let want = json!({
        "labels": {"team": "blue"},
        "annotations": {"example.com/owner": "ops"},
        "replicas": 2,
        "containers": [
            {"name": "c", "image": "nginx:1.27", "imagePullPolicy": "Always"},
            {"name": "sidecar", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"},
        ],
    });
    assert_eq!(summary(&probe), want);
    assert_eq!(
        s.kubectl_ok(V, &["create", "-f", &web]).trim(),
        "deployment.apps/web created"
    );
    assert_eq!(summary(&get_json(&s, &["deployment", "-n", "map-ns", "web"])), want);

    // A false matchCondition: neither policy applies.
    let skip = std::fs::read_to_string(&web)
        .expect("fixture")
        .replace("name: web", "name: skip-me");
    let skip = s.write_file("skip-me.yaml", &skip);
    s.kubectl_ok(V, &["create", "-f", skip.to_str().expect("utf-8")]);
    let d = get_json(&s, &["deployment", "-n", "map-ns", "skip-me"]);
    assert_eq!(summary(&d)["labels"], Value::Null);
    assert_eq!(summary(&d)["annotations"], Value::Null);
    assert_eq!(summary(&d)["replicas"], 1);

    // JSONPatch on update, where the object already has annotations: the key is added.
    s.kubectl_ok(V, &["annotate", "deployment", "-n", "map-ns", "skip-me", "a=b"]);
    let d = get_json(&s, &["deployment", "-n", "map-ns", "skip-me"]);
    assert_eq!(d["metadata"]["annotations"], json!({"a": "b"}));

    // Upstream's defaults, and its printer columns.
    let p = get_json(&s, &["mutatingadmissionpolicy", "team-defaults"]);
    assert_eq!(p["spec"]["failurePolicy"], "Fail");
    assert_eq!(
        p["spec"]["matchConstraints"],
        json!({"matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {}, "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"], "scope": "*"}]})
    );
    let b = get_json(&s, &["mutatingadmissionpolicybinding", "team-defaults"]);
    assert_eq!(
        b["spec"],
        json!({"matchResources": {"matchPolicy": "Equivalent", "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "map-ns"}}, "objectSelector": {}}, "paramRef": {"name": "team-params", "namespace": "map-ns", "parameterNotFoundAction": "Deny"}, "policyName": "team-defaults"})
    );
    let table = s.kubectl_ok(
        V,
        &[
            "get",
            "mutatingadmissionpolicies,mutatingadmissionpolicybindings",
            "--no-headers",
        ],
    );
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .map(|mut r| {
            r.pop(); // AGE
            r
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![
                "mutatingadmissionpolicy.admissionregistration.k8s.io/owner-annotation",
                "1",
                "<unset>"
            ],
            vec![
                "mutatingadmissionpolicy.admissionregistration.k8s.io/team-defaults",
                "1",
                "v1/ConfigMap"
            ],
            vec![
                "mutatingadmissionpolicybinding.admissionregistration.k8s.io/owner-annotation",
                "owner-annotation",
                "<unset>"
            ],
            vec![
                "mutatingadmissionpolicybinding.admissionregistration.k8s.io/team-defaults",
                "team-defaults",
                "map-ns/team-params"
            ],
        ]
    );

    // Deleting the binding stops the mutation (within a second, watch-driven).
    s.kubectl_ok(V, &["delete", "mutatingadmissionpolicybinding", "owner-annotation"]);
    let other = std::fs::read_to_string(&web)
        .expect("fixture")
        .replace("name: web", "name: other");
    let other = s.write_file("other.yaml", &other);
    let other = other.to_str().expect("utf-8");
    eventually("the unbound policy stops", secs(10), || {
        let (ok, out, _) = run(&s, &["create", "-f", other, "--dry-run=server", "-o", "json"]);
        let d: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
        matching(d, |d| ok && d["metadata"]["annotations"].is_null())
    });
}

#[test]
fn invalid_policies_are_refused_with_upstreams_messages() {
    let s = server();
    let (ok, _, err) = run(&s, &["create", "-f", &fixture("bad_policy.yaml")]);
    assert!(!ok);
    let file = fixture("bad_policy.yaml");
    let expected = format!(
        r#"Error from server (Invalid): error when creating "{file}": MutatingAdmissionPolicy.admissionregistration.k8s.io "bad" is invalid: [spec.failurePolicy: Unsupported value: "Sometimes": supported values: "Fail", "Ignore", spec.matchConstraints.resourceRules.operations: Unsupported value: "DELETE": supported values: "*", "CONNECT", "CREATE", "UPDATE", spec.mutations[0].applyConfiguration.expression: Invalid value: "object.metadata": must evaluate to Object but got dyn, spec.mutations[1].jsonPatch.expression: Invalid value: "Object{{}}": must evaluate to list(JSONPatch) but got Object, spec.mutations[2].jsonPatch: Required value: must be specified when patchType is JSONPatch, spec.mutations[2].applyConfiguration: Invalid value: "{{applyConfiguration}}": must not be specified when patchType is JSONPatch, spec.mutations[3].patchType: Unsupported value: "Merge": supported values: "ApplyConfiguration", "JSONPatch", spec.mutations[4].applyConfiguration.expression: Invalid value: "Object{{spec: 1 + 'a'}}": compilation failed: ERROR: <input>:1:16: found no matching overload for '_+_' applied to '(int, string)'
 | Object{{spec: 1 + 'a'}}
 | ...............^, spec.mutations[5].jsonPatch.expression: Invalid value: "[JSONPatch{{op: 'add', path: '/data/x', valu: 'y'}}]": compilation failed: ERROR: <input>:1:44: expected type of field 'valu' is '' but provided type is 'string'
 | [JSONPatch{{op: 'add', path: '/data/x', valu: 'y'}}]
 | ...........................................^, spec.reinvocationPolicy: Unsupported value: "Sometimes": supported values: "IfNeeded", "Never"]
Error from server (Invalid): error when creating "{file}": MutatingAdmissionPolicy.admissionregistration.k8s.io "bad2" is invalid: [spec.matchConstraints.resourceRules: Required value, spec.mutations: Required value: mutations must contain at least one item, spec.reinvocationPolicy: Required value]
Error from server (Invalid): error when creating "{file}": MutatingAdmissionPolicyBinding.admissionregistration.k8s.io "bad" is invalid: [spec.policyName: Required value, spec.paramRef.name: Forbidden: name and selector are mutually exclusive, spec.paramRef.selector: Forbidden: name and selector are mutually exclusive, spec.paramRef.parameterNotFoundAction: Unsupported value: "Maybe": supported values: "Deny", "Allow", spec.matchResources.resourceRules.operations: Unsupported value: "DELETE": supported values: "*", "CONNECT", "CREATE", "UPDATE"]"#
    );
    assert_eq!(err.trim(), expected);
}

#[test]
fn runtime_failures_and_reinvocation() {
    let s = server();
    s.kubectl_ok(V, &["apply", "-f", &fixture("runtime.yaml")]);
    let create = |ns: &str| run(&s, &["create", "-f", &deployment_in(&s, ns)]);
    // The last policy of the fixture in force: a dry run in its namespace is mutated.
    eventually("the policies are in force", secs(10), || {
        let file = deployment_in(&s, "reinvoked");
        let (ok, out, _) = run(&s, &["create", "-f", &file, "--dry-run=server", "-o", "json"]);
        let d: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
        matching(d, |d| ok && d["metadata"]["labels"]["calls"].is_string())
    });

    // A JSON patch that does not apply: 403 with reason Invalid (kubectl says "is invalid").
    let (ok, _, err) = create("patch-fails");
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "The deployments \"web\" is invalid: : policy 'replace-missing' with binding 'replace-missing' denied request: JSON Patch: replace operation does not apply: doc is missing path: /spec/paused/x: missing value"
    );
    // The raw Status, as upstream's: code 403, reason Invalid, the message as a cause.
    let o = s.kubectl(V, &["create", "-f", &deployment_in(&s, "patch-fails"), "-v=8"]);
    let msg = "policy 'replace-missing' with binding 'replace-missing' denied request: JSON Patch: replace operation does not apply: doc is missing path: /spec/paused/x: missing value";
    assert_eq!(
        last_response_body(&String::from_utf8_lossy(&o.stderr)),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":msg,"reason":"Invalid","details":{"name":"web","group":"apps","kind":"deployments","causes":[{"message":msg}]},"code":403})
    );

    // An ApplyConfiguration may not set an atomic list.
    let (ok, _, err) = create("atomic-list");
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "The deployments \"web\" is invalid: : policy 'set-args' with binding 'set-args' denied request: error applying patch: invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: .spec.template.spec.containers[0].args"
    );

    // Params that are not there, with parameterNotFoundAction Deny: reason Forbidden and the
    // policy's message alone.
    let file = deployment_in(&s, "no-params");
    let (ok, _, err) = create("no-params");
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!("Error from server (Forbidden): error when creating \"{file}\": policy 'needs-params' with binding 'needs-params' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction")
    );

    // A nested Object type must be named after its field path.
    let (ok, _, err) = run(
        &s,
        &["create", "configmap", "-n", "typename", "c", "--from-literal=x=yes"],
    );
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: policy 'wrong-type-name' with binding 'wrong-type-name' denied request: type mismatch: unexpected type name \"Object.spec\", expected \"Object.metadata\", which matches field name path from root Object type"
    );

    // failurePolicy Ignore: the failing mutation is skipped, the next one applies.
    let (ok, _, err) = create("ignored");
    assert!(ok, "{err}");
    let d = get_json(&s, &["deployment", "-n", "ignored", "web"]);
    assert_eq!(d["metadata"]["labels"], json!({"after": "yes"}));

    // reinvocationPolicy IfNeeded: as upstream, a policy that applied a patch runs once more
    // in the chain's reinvocation round.
    let (ok, _, err) = create("reinvoked");
    assert!(ok, "{err}");
    let d = get_json(&s, &["deployment", "-n", "reinvoked", "web"]);
    assert_eq!(d["metadata"]["labels"], json!({"calls": "2"}));
}

/// As upstream 1.33: `--runtime-config=admissionregistration.k8s.io/v1alpha1=true` serves the
/// API (its storage checks no gate); the `MutatingAdmissionPolicy` gate turns on the plugin
/// that enforces the policies, so with the runtime-config alone they are stored, not applied.
/// The gate alone serves nothing.
#[test]
fn the_runtime_config_serves_the_api_and_the_gate_enforces_it() {
    for args in [&[][..], &["--feature-gates=MutatingAdmissionPolicy=true"][..]] {
        let s = TestServer::start_with(args);
        let (ok, _, err) = run(&s, &["get", "mutatingadmissionpolicies"]);
        assert!(!ok, "{args:?}");
        assert!(
            err.contains("the server doesn't have a resource type \"mutatingadmissionpolicies\""),
            "{args:?}: {err}"
        );
    }
    let s = TestServer::start_with(&["--runtime-config=admissionregistration.k8s.io/v1alpha1=true"]);
    s.kubectl_ok(V, &["apply", "-f", &fixture("policies.yaml")]);
    assert!(s
        .kubectl_ok(V, &["get", "mutatingadmissionpolicies"])
        .contains("team-defaults"));
    // No MutatingAdmissionPolicy step in the admission chain without the gate.
    s.kubectl_ok(V, &["create", "-f", &fixture("deploy.yaml")]);
    let d = get_json(&s, &["deployment", "-n", "map-ns", "web"]);
    assert!(d["metadata"]["labels"].get("team").is_none(), "{d}");
}

/// A MutatingAdmissionPolicy and a mutating webhook, both `reinvocationPolicy: IfNeeded`:
/// the policy runs first and sees no webhook label; the webhook adds one; in the chain's
/// reinvocation round the policy runs again (and now sees it), and because that changed the
/// object the webhook is called once more (upstream's `reinvoker` and reinvocation contexts).
#[test]
fn reinvocation_with_a_mutating_webhook() {
    use base64::Engine as _;
    use common::https_stub::HttpsStub;
    let hook = HttpsStub::start(|seen| {
        let uid = seen.body["request"]["uid"].clone();
        let patch = json!([{"op": "add", "path": "/metadata/labels/hook", "value": "yes"}]);
        let patch = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
        (
            200,
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, "allowed": true, "patchType": "JSONPatch", "patch": patch}}),
        )
    });
    let s = server();
    let ca = base64::engine::general_purpose::STANDARD.encode(&hook.ca_pem);
    let url = hook.url("/mutate");
    let config = format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: hooked}}
---
apiVersion: admissionregistration.k8s.io/v1alpha1
kind: MutatingAdmissionPolicy
metadata: {{name: sees-hook}}
spec:
  matchConstraints:
    resourceRules:
    - {{apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["deployments"]}}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >
        Object{{metadata: Object.metadata{{labels: {{"policy-saw-hook": object.metadata.?labels.?hook.orValue("none")}}}}}}
  reinvocationPolicy: IfNeeded
---
apiVersion: admissionregistration.k8s.io/v1alpha1
kind: MutatingAdmissionPolicyBinding
metadata: {{name: sees-hook}}
spec:
  policyName: sees-hook
  matchResources:
    namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: hooked}}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {{name: add-hook-label}}
webhooks:
- name: add-hook-label.example.com
  clientConfig: {{url: "{url}", caBundle: "{ca}"}}
  rules:
  - {{apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["deployments"]}}
  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: hooked}}}}
  sideEffects: None
  admissionReviewVersions: ["v1"]
  reinvocationPolicy: IfNeeded
"#
    );
    let file = s.write_file("hooked.yaml", &config);
    s.kubectl_ok(V, &["apply", "-f", file.to_str().expect("utf-8")]);
    let deploy = deployment_in(&s, "hooked");
    eventually("the policy is in force", secs(10), || {
        let (ok, out, _) = run(&s, &["create", "-f", &deploy, "--dry-run=server", "-o", "json"]);
        let d: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
        matching(d, |d| ok && d["metadata"]["labels"]["policy-saw-hook"].is_string())
    });
    let before = hook.count("/mutate");
    s.kubectl_ok(V, &["create", "-f", &deploy]);
    let d = get_json(&s, &["deployment", "-n", "hooked", "web"]);
    assert_eq!(
        d["metadata"]["labels"],
        json!({"hook": "yes", "policy-saw-hook": "yes"})
    );
    let calls: Vec<Value> = hook.seen()[before..]
        .iter()
        .map(|c| c.body["request"]["object"]["metadata"]["labels"].clone())
        .collect();
    assert_eq!(
        calls,
        vec![
            json!({"policy-saw-hook": "none"}),
            json!({"hook": "yes", "policy-saw-hook": "yes"}),
        ]
    );
}

/// Write-time validation of policies and bindings against a table of objects, each sent as a
/// server-side dry-run create; the expected answers (422 Status bodies, or a create) are
/// upstream kube-apiserver v1.33.13's for the same objects (`tests/fixtures/map/invalid_table.json`):
/// matchResources and their rules (wildcards, subresources, resourceNames, scope), paramKind,
/// paramRef, matchCondition names and expressions (no `variables`, `params` only with a
/// paramKind, `authorizer` declared), variable names, mutations, reinvocationPolicy. As upstream, a costly
/// expression is not refused at write time (its cost is limited when it runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_time_validation_matches_upstream_table() {
    let s = server();
    let client = s.kube_client().await;
    let table: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("invalid_table.json")).expect("fixture")).expect("JSON");
    let diffs = common::http::diff_with_upstream_table(&client, &table, |kind| {
        let plural = match kind {
            "MutatingAdmissionPolicy" => "mutatingadmissionpolicies",
            _ => "mutatingadmissionpolicybindings",
        };
        format!("/apis/admissionregistration.k8s.io/v1alpha1/{plural}")
    })
    .await;
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Upstream evaluates a policy's variables lazily for each mutation (every mutation's
/// activation has its own variables), so a variable read by two mutations sees the object as
/// each finds it: the first saw no `stage` label, the second the one the first set.
#[test]
fn variables_are_evaluated_per_mutation() {
    let s = server();
    s.kubectl_ok(V, &["apply", "-f", &fixture("variables.yaml")]);
    let labels = eventually("the policy is in force", secs(10), || {
        let (ok, out, err) = run(
            &s,
            &[
                "create",
                "configmap",
                "-n",
                "vars",
                "c",
                "--from-literal=a=b",
                "--dry-run=server",
                "-o",
                "json",
            ],
        );
        let d: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out} {err}"))?;
        matching(d["metadata"]["labels"].clone(), |l| ok && l.is_object())
    });
    assert_eq!(
        labels,
        json!({"first-saw": "none", "second-saw": "one", "stage": "one"})
    );
}

/// The kind's defaults run after every mutation (upstream `dispatchOne`), so the next
/// mutation sees them: a container added by a JSON patch has its imagePullPolicy when the
/// second mutation reads it; on a custom resource the CRD schema's defaults apply the same
/// way, and its `x-kubernetes-list-type: map` list is merged by key (schema-less, the list
/// would be replaced). Expected values are upstream's on the same fixture.
#[test]
fn defaults_after_each_mutation_and_custom_resource_merge_keys() {
    let s = server();
    s.kubectl_ok(V, &["apply", "-f", &fixture("per_mutation.yaml")]);
    let deploy = s.write_file(
        "d.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: defaults}\nspec:\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n    spec:\n      containers:\n      - {name: main, image: nginx}\n",
    );
    let deploy = deploy.to_str().expect("utf-8");
    let d = eventually("the deployment policy is in force", secs(10), || {
        let (ok, out, err) = run(&s, &["create", "-f", deploy, "--dry-run=server", "-o", "json"]);
        let d: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out} {err}"))?;
        matching(d, |d| ok && d["metadata"]["labels"].is_object())
    });
    assert_eq!(d["metadata"]["labels"], json!({"added-pull-policy": "IfNotPresent"}));
    let pulls: Vec<Value> = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| json!([c["name"], c["imagePullPolicy"]]))
        .collect();
    assert_eq!(pulls, vec![json!(["main", "Always"]), json!(["added", "IfNotPresent"])]);

    let gadget = s.write_file(
        "g.yaml",
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g, namespace: default}\nspec:\n  ports:\n  - {name: web, port: 80}\n  tags: [a]\n",
    );
    let gadget = gadget.to_str().expect("utf-8");
    let g = eventually("the gadget policy is in force", secs(20), || {
        let (ok, out, err) = run(&s, &["create", "-f", gadget, "--dry-run=server", "-o", "json"]);
        let g: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out} {err}"))?;
        matching(g, |g| ok && g["metadata"]["labels"].is_object())
    });
    assert_eq!(g["metadata"]["labels"], json!({"metrics-protocol": "TCP"}));
    assert_eq!(
        g["spec"],
        json!({"ports": [{"name": "web", "port": 80, "protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "TCP"}], "tags": ["a"]})
    );
}

/// `authorizer` in matchConditions, variables and mutations asks the server's authorizer (RBAC
/// here) for the request's user, or for a service account after `serviceAccount(…)`;
/// `authorizer.requestResource` checks the request's own resource. Expected labels are
/// upstream's for the same fixture and user (cluster admin).
#[test]
fn authorizer_checks_in_expressions() {
    let s = server();
    s.kubectl_ok(V, &["apply", "-f", &fixture("authorizer.yaml")]);
    let labels = eventually("the policy is in force", secs(10), || {
        let (ok, out, err) = run(
            &s,
            &[
                "create",
                "configmap",
                "-n",
                "authz",
                "c",
                "--from-literal=a=b",
                "--dry-run=server",
                "-o",
                "json",
            ],
        );
        let d: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out} {err}"))?;
        matching(d["metadata"]["labels"].clone(), |l| ok && l.is_object())
    });
    assert_eq!(
        labels,
        json!({"sa-lists-secrets": "false", "sa-reason-empty": "true", "user-lists-secrets": "true"})
    );
}
