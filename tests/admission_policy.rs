//! ValidatingAdmissionPolicy end to end with real kubectl 1.33: Deny (status, reason and
//! message as upstream v1.33.13 prints them), Warn (kubectl prints the warning), Audit (the
//! audit log carries `validation.policy.admission.k8s.io/validation_failure` and the policy's
//! audit annotations), params from a ConfigMap and from a custom resource, write-time
//! compilation errors, status.typeChecking against a CRD's and built-in kinds' schemas, and a CRD rule whose
//! estimated cost is over budget. Every expected text below was taken from upstream
//! kube-apiserver v1.33.13 (and its kube-controller-manager for typeChecking) on the same
//! fixtures (`tests/fixtures/policy`).

mod common;

use common::kubectl::last_response_body;
use common::{eventually, matching, secs, TestServer};
use serde_json::Value;
use std::path::PathBuf;

const V: &str = "1.33";

fn fixture(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "policy", name]
        .iter()
        .collect();
    p.to_str().expect("utf-8 path").to_string()
}

fn deployment(s: &TestServer, name: &str, ns: &str, replicas: u32) -> String {
    let y = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: x}}}}\n  template:\n    metadata: {{labels: {{app: x}}}}\n    spec: {{containers: [{{name: c, image: nginx}}]}}\n"
    );
    s.write_file(&format!("{name}-{ns}.yaml"), &y)
        .to_str()
        .expect("utf-8")
        .to_string()
}

fn run(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    s.kubectl_run(V, args)
}

fn audit_events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn deny_warn_and_audit_through_kubectl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("audit-policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
    )
    .expect("write");
    let log = dir.path().join("audit.log");
    let s = TestServer::start_with(&[
        "--audit-policy-file",
        policy.to_str().expect("utf-8"),
        "--audit-log-path",
        log.to_str().expect("utf-8"),
    ]);
    s.kubectl_ok(V, &["apply", "-f", &fixture("deny_warn_audit.yaml")]);

    // Deny with the validation's reason (Forbidden) and its messageExpression.
    let web = deployment(&s, "web", "deny-ns", 10);
    // Probed with server-side dry runs, so nothing is created before the policy is in force.
    eventually("the policy denies", secs(10), || {
        let (ok, _, err) = run(&s, &["create", "-f", &web, "--dry-run=server"]);
        matching(err, |e| !ok && e.contains("denied request"))
    });
    let (ok, _, err) = run(&s, &["create", "-f", &web]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "Error from server (Forbidden): error when creating \"".to_string()
            + &web
            + "\": deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-deny' denied request: replicas must be at most 5, got 10"
    );
    // The raw Status: upstream's code, reason, details and cause.
    let status = s.kubectl(V, &["create", "-f", &web, "-v=8"]);
    let text = String::from_utf8_lossy(&status.stderr).into_owned();
    assert_eq!(
        last_response_body(&text),
        serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"web\" is forbidden: ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-deny' denied request: replicas must be at most 5, got 10","reason":"Forbidden","details":{"name":"web","group":"apps","kind":"deployments","causes":[{"message":"ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-deny' denied request: replicas must be at most 5, got 10"}]},"code":403})
    );
    // No reason: Invalid (422), and the failed expression as the message.
    let bad = deployment(&s, "bad", "deny-ns", 1);
    let (ok, _, err) = run(&s, &["create", "-f", &bad]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "The deployments \"bad\" is invalid: : ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-deny' denied request: failed expression: object.metadata.name != 'bad'"
    );
    // Within the limits: admitted.
    s.kubectl_ok(V, &["create", "-f", &deployment(&s, "small", "deny-ns", 2)]);

    // Warn + Audit: admitted, kubectl prints the warning, the audit log has the annotations.
    let (ok, out, err) = run(&s, &["create", "-f", &deployment(&s, "web", "warn-ns", 10)]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "deployment.apps/web created");
    assert_eq!(
        err.trim(),
        "Warning: Validation failed for ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-warn': replicas must be at most 5, got 10"
    );
    let event = eventually("the audited create", secs(10), || {
        audit_events(&log).into_iter().find(|e| {
            e["stage"] == "ResponseComplete"
                && e["verb"] == "create"
                && e["objectRef"]["resource"] == "deployments"
                && e["objectRef"]["namespace"] == "warn-ns"
        })
    });
    assert_eq!(
        event["annotations"]["validation.policy.admission.k8s.io/validation_failure"],
        r#"[{"message":"replicas must be at most 5, got 10","policy":"max-replicas","binding":"max-replicas-warn","expressionIndex":0,"validationActions":["Warn","Audit"]}]"#
    );
    assert_eq!(event["annotations"]["max-replicas/replicas"], "replicas=10");

    // Expressions are compiled when the policy is written.
    let err = s.kubectl_err(V, &["apply", "-f", &fixture("bad_expressions.yaml")]);
    assert_eq!(
        err.trim(),
        r#"The ValidatingAdmissionPolicy "bad-expr" is invalid: 
* spec.validations[0].expression: Invalid value: "object.data.x + 1": must evaluate to bool but got int
* spec.validations[1].expression: Invalid value: "1 + 'a' == 2": compilation failed: ERROR: <input>:1:3: found no matching overload for '_+_' applied to '(int, string)'
 | 1 + 'a' == 2
 | ..^
* spec.validations[2].expression: Invalid value: "object.foo(": compilation failed: ERROR: <input>:1:12: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', ')', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}
 | object.foo(
 | ...........^"#
    );

    // Deleting the binding lifts the denial.
    s.kubectl_ok(V, &["delete", "validatingadmissionpolicybinding", "max-replicas-deny"]);
    eventually("the binding is gone", secs(10), || {
        run(&s, &["create", "-f", &deployment(&s, "web", "deny-ns", 10)]).0
    });
}

#[test]
fn params_from_a_configmap_and_a_custom_resource() {
    let s = TestServer::start();
    s.kubectl_ok(V, &["apply", "-f", &fixture("params_configmap.yaml")]);
    s.kubectl_ok(V, &["create", "namespace", "pns"]);
    // No ConfigMap yet: parameterNotFoundAction Deny.
    let err = eventually("no params denies", secs(10), || {
        let (ok, _, err) = run(
            &s,
            &[
                "create",
                "secret",
                "generic",
                "foo",
                "-n",
                "pns",
                "--from-literal=a=b",
                "--dry-run=server",
            ],
        );
        matching(err, |e| !ok && e.contains("denied request"))
    });
    assert_eq!(
        err.trim(),
        "error: failed to create secret secrets \"foo\" is forbidden: ValidatingAdmissionPolicy 'cm-limit' with binding 'cm-limit' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"
    );
    s.kubectl_ok(
        V,
        &[
            "create",
            "configmap",
            "limits",
            "-n",
            "pns",
            "--from-literal=prefix=ok-",
        ],
    );
    let err = eventually("the ConfigMap's prefix is enforced", secs(10), || {
        let (ok, _, err) = run(
            &s,
            &[
                "create",
                "secret",
                "generic",
                "foo",
                "-n",
                "pns",
                "--from-literal=a=b",
                "--dry-run=server",
            ],
        );
        matching(err, |e| !ok && e.contains("must start with"))
    });
    assert_eq!(
        err.trim(),
        "error: failed to create secret secrets \"foo\" is forbidden: ValidatingAdmissionPolicy 'cm-limit' with binding 'cm-limit' denied request: name must start with ok-"
    );
    s.kubectl_ok(
        V,
        &[
            "create",
            "secret",
            "generic",
            "ok-foo",
            "-n",
            "pns",
            "--from-literal=a=b",
        ],
    );

    // Params of a CRD kind, selected by label; none selected: Allow.
    s.kubectl_ok(V, &["apply", "-f", &fixture("limits_crd.yaml")]);
    eventually("the Limit kind is served", secs(20), || {
        run(&s, &["get", "limits.example.com", "-A"]).0
    });
    s.kubectl_ok(V, &["apply", "-f", &fixture("params_crd.yaml")]);
    s.kubectl_ok(
        V,
        &[
            "create",
            "cm",
            "a",
            "-n",
            "sized",
            "--from-literal=a=1",
            "--from-literal=b=2",
            "--from-literal=c=3",
        ],
    );
    s.kubectl_ok(V, &["apply", "-f", &fixture("limit_params.yaml")]);
    let err = eventually("the selected Limit is enforced", secs(10), || {
        let (ok, _, err) = run(
            &s,
            &[
                "create",
                "cm",
                "b",
                "-n",
                "sized",
                "--from-literal=a=1",
                "--from-literal=b=2",
                "--from-literal=c=3",
                "--dry-run=server",
            ],
        );
        matching(err, |e| !ok && e.contains("denied request"))
    });
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"b\" is forbidden: ValidatingAdmissionPolicy 'data-size' with binding 'data-size' denied request: at most 2 keys (two)"
    );
    s.kubectl_ok(
        V,
        &[
            "create",
            "cm",
            "c",
            "-n",
            "sized",
            "--from-literal=a=1",
            "--from-literal=b=2",
        ],
    );
}

#[test]
fn type_checking_status_and_cost_overrun() {
    let s = TestServer::start();
    s.kubectl_ok(V, &["apply", "-f", &fixture("limits_crd.yaml")]);
    eventually("the Limit kind is served", secs(20), || {
        run(&s, &["get", "limits.example.com", "-A"]).0
    });
    s.kubectl_ok(V, &["apply", "-f", &fixture("typed.yaml")]);
    let status = eventually("status.typeChecking", secs(10), || {
        let out = s.kubectl_ok(V, &["get", "validatingadmissionpolicy", "typed", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).expect("json");
        matching(v["status"].clone(), |st| st.get("typeChecking").is_some())
    });
    assert_eq!(
        status,
        serde_json::json!({"observedGeneration": 1, "typeChecking": {"expressionWarnings": [
            {"fieldRef": "spec.validations[0].expression", "warning": "example.com/v1, Kind=Limit: ERROR: <input>:1:12: undefined field 'maxSiz'\n | object.spec.maxSiz > 1\n | ...........^\n"},
            {"fieldRef": "spec.validations[1].expression", "warning": "example.com/v1, Kind=Limit: ERROR: <input>:1:21: found no matching overload for '_>_' applied to '(int, string)'\n | object.spec.maxSize > 'a'\n | ....................^\n"}
        ]}})
    );

    // Built-in kinds: expressions typed by the served OpenAPI schemas (ConfigMap, Deployment,
    // ReplicaSet; params by ConfigMap's), variables by their expressions; rules with wildcard
    // groups or versions are not checked. Expected: upstream's controller on the same fixture.
    s.kubectl_ok(V, &["apply", "-f", &fixture("typed_builtin.yaml")]);
    assert_statuses(&s, "typed_builtin_status.json");

    // A CRD rule over the cost budget is refused when the CRD is written.
    let err = s.kubectl_err(V, &["apply", "-f", &fixture("costly_crd.yaml")]);
    assert_eq!(
        err.trim(),
        r#"The CustomResourceDefinition "costly.example.com" is invalid: 
* spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)
* spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema
* spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"#
    );
}

/// `authorizer` and `authorizer.requestResource` ask the server's authorizer for the request's
/// (here impersonated) user in matchConditions, variables and validations; messageExpressions
/// may not use it (rejected at write time) and auditAnnotations compile with it but are
/// evaluated without it. Expected texts: upstream kube-apiserver v1.33.13 on the same fixtures.
#[test]
fn authorizer_checks_in_policy_expressions() {
    let s = TestServer::start();
    s.kubectl_ok(V, &["apply", "-f", &fixture("authz_policy.yaml")]);
    let err = s.kubectl_err(V, &["apply", "-f", &fixture("authz_message.yaml")]);
    assert_eq!(
        err.trim(),
        "The ValidatingAdmissionPolicy \"authz-message\" is invalid: spec.validations[0].messageExpression: Invalid value: \"authorizer.requestResource.check('get').reason()\": compilation failed: ERROR: <input>:1:1: undeclared reference to 'authorizer' (in container '')\n | authorizer.requestResource.check('get').reason()\n | ^"
    );
    let create = |user: &str| {
        run(
            &s,
            &[
                "--as",
                user,
                "create",
                "cm",
                &format!("x-{user}"),
                "-n",
                "authz",
                "--dry-run=server",
            ],
        )
    };
    // bob may create and update configmaps but not list them: the variable's check denies.
    let err = eventually("the policy asks the authorizer", secs(10), || {
        let (ok, _, err) = create("bob");
        matching(err, |e| !ok && e.contains("denied request"))
    });
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"x-bob\" is forbidden: ValidatingAdmissionPolicy 'authz-checks' with binding 'authz-checks' denied request: must be able to list configmaps"
    );
    // carol may not update: `authorizer.requestResource` denies, with the messageExpression.
    let (ok, _, err) = create("carol");
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"x-carol\" is forbidden: ValidatingAdmissionPolicy 'authz-checks' with binding 'authz-checks' denied request: update on configmaps is needed for carol"
    );
    // alice holds every verb asked.
    let (ok, out, err) = create("alice");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "configmap/x-alice created (server dry run)");
    // The auditAnnotation has no authorizer at run time: under failurePolicy Fail it denies.
    let (ok, _, err) = run(
        &s,
        &[
            "create",
            "secret",
            "generic",
            "s",
            "-n",
            "authz",
            "--from-literal=a=b",
            "--dry-run=server",
        ],
    );
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "error: failed to create secret secrets \"s\" is forbidden: ValidatingAdmissionPolicy 'authz-audit' with binding 'authz-audit' denied request: expression 'authorizer.requestResource.check('get').allowed() ? 'yes' : 'no'' resulted in error: no such attribute(s): authorizer.requestResource"
    );
}

/// status.typeChecking with params typed by the paramKind's schema: a custom resource's
/// structural schema (its fields, list element types, `metadata`, variables built on params),
/// a paramKind with no schema (`params` undeclared, as upstream), and `authorizer` (declared;
/// `authorizer.requestResource` is not). Expected: upstream's controller on the same fixture.
#[test]
fn type_checking_params_by_param_kind_schema() {
    let s = TestServer::start();
    s.kubectl_ok(V, &["apply", "-f", &fixture("limits_crd.yaml")]);
    eventually("the Limit kind is served", secs(20), || {
        run(&s, &["get", "limits.example.com", "-A"]).0
    });
    s.kubectl_ok(V, &["apply", "-f", &fixture("typed_params.yaml")]);
    assert_statuses(&s, "typed_params_status.json");
}

/// Each policy's status (once typeChecking is written) equals the one upstream's controller
/// wrote, recorded in the fixture `recorded` (policy name → status).
fn assert_statuses(s: &TestServer, recorded: &str) {
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(recorded)).expect("recorded status")).expect("json");
    for (name, want) in want.as_object().expect("object") {
        let status = eventually(&format!("{name} status.typeChecking"), secs(10), || {
            let out = s.kubectl_ok(V, &["get", "validatingadmissionpolicy", name, "-o", "json"]);
            let v: Value = serde_json::from_str(&out).expect("json");
            matching(v["status"].clone(), |st| st.get("typeChecking").is_some())
        });
        assert_eq!(&status, want, "{name}");
    }
}

/// Upstream validator texts through kubectl (recorded on kube-apiserver v1.33.13 with the same
/// fixture): a failing variable is reported by the expression that used it, as a composited
/// variable error (nested for variables using variables); `namespaceObject` is the trimmed
/// Namespace (no kind, no managedFields); auditAnnotations typed dyn or int are refused.
#[test]
fn validator_texts_as_upstream() {
    let s = TestServer::start();
    s.kubectl_ok(V, &["apply", "-f", &fixture("validator_texts.yaml")]);
    let create = |name: &str| {
        run(
            &s,
            &[
                "create",
                "cm",
                name,
                "-n",
                "vtexts",
                "--from-literal=x=a,b",
                "--dry-run=server",
            ],
        )
    };
    let err = eventually("the policies deny", secs(10), || {
        let (ok, _, err) = create("ns-dump");
        matching(err, |e| !ok && e.contains("denied request"))
    });
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"ns-dump\" is forbidden: ValidatingAdmissionPolicy 'nsobj' with binding 'nsobj' denied request: 3 6 false false z"
    );
    let (_, _, err) = create("vars-a");
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"vars-a\" is forbidden: ValidatingAdmissionPolicy 'vars' with binding 'vars' denied request: expression 'object.metadata.name != 'vars-a' || variables.idx == 'q'' resulted in error: composited variable \"idx\" fails to evaluate: index out of bounds: 5"
    );
    let (_, _, err) = create("vars-b");
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"vars-b\" is forbidden: ValidatingAdmissionPolicy 'vars' with binding 'vars' denied request: expression 'object.metadata.name != 'vars-b' || variables.outer == 'q'' resulted in error: composited variable \"outer\" fails to evaluate: composited variable \"idx\" fails to evaluate: index out of bounds: 5"
    );
    let err = s.kubectl_err(V, &["apply", "-f", &fixture("audit_annotation_types.yaml")]);
    assert_eq!(
        err.trim(),
        "The ValidatingAdmissionPolicy \"notes-dyn\" is invalid: \n* spec.auditAnnotations[0].valueExpression: Invalid value: \"object.metadata.name\": must evaluate to one of [string null_type] but got dyn\n* spec.auditAnnotations[1].valueExpression: Invalid value: \"{'a': 1}['a']\": must evaluate to one of [string null_type] but got int"
    );
}

/// Write-time validation of ValidatingAdmissionPolicies and their bindings against a table of
/// objects, each sent as a server-side dry-run create (or, with `before`, update); the
/// expected answers (422 Status bodies, or an accepted write) are upstream kube-apiserver
/// v1.33.13's for the same objects (`tests/fixtures/policy/invalid_table.json`):
/// failurePolicy, paramKind, matchConstraints and their rules, matchConditions, variables,
/// validations (expression, message, messageExpression, reason; fieldPath is not checked),
/// auditAnnotations (keys qualified with the policy's name and unique, valueExpression, at
/// most 20); a binding's policyName, validationActions (required, known, unique, not both
/// Deny and Warn), paramRef (name or selector, parameterNotFoundAction, not defaulted in v1)
/// and matchResources; nulls defaulted as upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_time_validation_matches_upstream_table() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    let table: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("invalid_table.json")).expect("fixture")).expect("JSON");
    let diffs = common::http::diff_with_upstream_table(&client, &table, |kind| {
        let plural = match kind {
            "ValidatingAdmissionPolicy" => "validatingadmissionpolicies",
            _ => "validatingadmissionpolicybindings",
        };
        format!("/apis/admissionregistration.k8s.io/v1/{plural}")
    })
    .await;
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Upstream's v1 defaults: a policy's failurePolicy Fail and its matchConstraints'
/// matchPolicy Equivalent, empty selectors and rule scope `*` (excluded rules too); a
/// binding's matchResources the same, its paramRef untouched. Each stored spec is the one
/// upstream kube-apiserver v1.33.13 stored for the same object
/// (`tests/fixtures/policy/defaults.json`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_as_upstream() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    let recorded: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("defaults.json")).expect("fixture")).expect("JSON");
    for row in &recorded {
        let o = &row["object"];
        let plural = match o["kind"].as_str() {
            Some("ValidatingAdmissionPolicy") => "validatingadmissionpolicies",
            _ => "validatingadmissionpolicybindings",
        };
        let path = format!("/apis/admissionregistration.k8s.io/v1/{plural}");
        let r = common::http::send_json(&client, http::Method::POST, &path, o.clone()).await;
        assert_eq!(r.status.as_u16(), 201, "{}", r.text());
        let name = o["metadata"]["name"].as_str().expect("name");
        let stored = common::http::get(&client, &format!("{path}/{name}"), None).await.json();
        assert_eq!(stored["spec"], row["spec"], "{name}");
    }
}

/// A policy's objectSelector (unlabelled objects are not checked), its excludeResourceRules
/// under matchPolicy Equivalent (excluding events.k8s.io events also excludes core v1 events,
/// their equivalent; under Exact the core event would be refused, as upstream does), and
/// failurePolicy Ignore (an expression that errors at run time is ignored; the same policy
/// under Fail denies with the error). Expected texts: upstream kube-apiserver v1.33.13 on the
/// same fixture.
#[test]
fn object_selector_equivalent_exclusions_and_ignored_errors() {
    let s = TestServer::start();
    s.kubectl_ok(V, &["apply", "-f", &fixture("match_and_ignore.yaml")]);
    // The runtime error under failurePolicy Fail denies (the last policy applied: once it is
    // in force, so are the others).
    let err = eventually("erroring-fail denies", secs(10), || {
        let (ok, _, err) = run(
            &s,
            &[
                "create",
                "cm",
                "plain",
                "-n",
                "fail-ns",
                "--from-literal=a=b",
                "--dry-run=server",
            ],
        );
        matching(err, |e| !ok && e.contains("denied request"))
    });
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"plain\" is forbidden: ValidatingAdmissionPolicy 'erroring-fail' with binding 'erroring-fail' denied request: expression 'object.data.missing == 'x'' resulted in error: no such key: missing"
    );
    let labelled = s.write_file(
        "labelled.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: labelled, namespace: match-ns, labels: {checked: \"yes\"}}\ndata: {a: b}\n",
    );
    let (ok, _, err) = run(&s, &["create", "-f", labelled.to_str().expect("utf-8")]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "The configmaps \"labelled\" is invalid: : ValidatingAdmissionPolicy 'labelled-only' with binding 'labelled-only' denied request: labelled objects are refused"
    );
    // Unlabelled: not selected; erroring-ignore's runtime error is ignored.
    let (ok, out, err) = run(&s, &["create", "cm", "plain", "-n", "match-ns", "--from-literal=a=b"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "configmap/plain created");
    // A labelled core v1 Event: excluded as the equivalent of events.k8s.io/v1 events.
    let event = |name: &str| {
        let y = format!("apiVersion: v1\nkind: Event\nmetadata: {{name: {name}, namespace: match-ns, labels: {{checked: \"yes\"}}}}\ninvolvedObject: {{kind: ConfigMap, name: x, namespace: match-ns}}\nreason: Test\nmessage: hello\ntype: Normal\n");
        s.write_file(&format!("{name}.yaml"), &y)
            .to_str()
            .expect("utf-8")
            .to_string()
    };
    let (ok, out, err) = run(&s, &["create", "-f", &event("ev")]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "event/ev created");
    // Under Exact the exclusion names only events.k8s.io events: the core one is refused.
    s.kubectl_ok(
        V,
        &[
            "patch",
            "validatingadmissionpolicies",
            "labelled-only",
            "--type=merge",
            "-p",
            r#"{"spec":{"matchConstraints":{"matchPolicy":"Exact"}}}"#,
        ],
    );
    let err = eventually("the core event is refused under Exact", secs(10), || {
        let (ok, _, err) = run(&s, &["create", "-f", &event("ev2"), "--dry-run=server"]);
        matching(err, |e| !ok && e.contains("denied request"))
    });
    assert_eq!(
        err.trim(),
        "The events \"ev2\" is invalid: : ValidatingAdmissionPolicy 'labelled-only' with binding 'labelled-only' denied request: labelled objects are refused"
    );
}
