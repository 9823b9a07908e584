//! resource.k8s.io (Dynamic Resource Allocation) through real kubectl, against what
//! kube-apiserver v1.33.13 answers with the same `--runtime-config` (the expected documents and
//! messages below were captured from it): served only when enabled, every kind in every
//! version, objects converted losslessly between v1beta1 and v1beta2, upstream's validation
//! text, ResourceSlice field selectors and printers, and the gated fields dropped as upstream's
//! strategies drop them — pods' claim references too while DynamicResourceAllocation is off.

mod common;

use common::{TestEtcd, TestServer};
use serde_json::{json, Value};

const K: &str = "1.33";
const ALL_VERSIONS: &str =
    "--runtime-config=resource.k8s.io/v1beta1=true,resource.k8s.io/v1beta2=true,resource.k8s.io/v1alpha3=true";

const OBJECTS: &str = r#"apiVersion: resource.k8s.io/v1beta1
kind: DeviceClass
metadata: {name: gpu.example.com}
spec:
  selectors:
  - cel: {expression: 'device.driver == "gpu.example.com"'}
---
apiVersion: resource.k8s.io/v1beta1
kind: ResourceClaim
metadata: {name: c1, namespace: default}
spec:
  devices:
    requests:
    - name: gpu
      deviceClassName: gpu.example.com
      tolerations: [{key: k}]
      selectors:
      - cel: {expression: 'device.attributes["gpu.example.com"].model == "a100"'}
---
apiVersion: resource.k8s.io/v1beta1
kind: ResourceSlice
metadata: {name: n1-gpu}
spec:
  driver: gpu.example.com
  nodeName: n1
  pool: {name: n1, resourceSliceCount: 1}
  devices:
  - name: d0
    basic:
      attributes: {model: {string: a100}}
      capacity: {memory: {value: 40Gi}}
      taints: [{key: k, effect: NoSchedule}]
  - name: d1
---
apiVersion: resource.k8s.io/v1alpha3
kind: DeviceTaintRule
metadata: {name: t1}
spec:
  taint: {key: k, value: v, effect: NoExecute}
"#;

const INVALID: &str = r#"apiVersion: resource.k8s.io/v1beta1
kind: DeviceClass
metadata: {name: bad-class}
spec:
  selectors:
  - cel: {expression: 'device.driver'}
  - cel: {expression: 'device.nosuch == 1'}
  - {}
---
apiVersion: resource.k8s.io/v1beta2
kind: ResourceClaim
metadata: {name: bad, namespace: default}
spec:
  devices:
    requests:
    - name: Gpu
      exactly: {deviceClassName: gpu.example.com, allocationMode: All, count: 2}
    - name: gpu2
    constraints:
    - requests: [nope]
      matchAttribute: model
---
apiVersion: resource.k8s.io/v1beta1
kind: ResourceSlice
metadata: {name: bad-slice}
spec:
  driver: gpu.example.com
  pool: {name: p, resourceSliceCount: 0}
  devices:
  - name: d0
    basic:
      attributes: {model: {}, v: {version: "1.0"}}
  - name: d0
"#;

fn get_json(s: &TestServer, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = s.kubectl_ok(K, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// On etcd, stored as upstream stores it (protobuf v1beta1), so served documents carry the
/// same zero values as upstream's.
#[test]
fn resource_api_matches_upstream_in_every_version() {
    let etcd = TestEtcd::start();
    let s = TestServer::start_on_etcd(&etcd, &[ALL_VERSIONS]);
    // Discovery: v1beta2 preferred, DeviceTaintRule only in v1alpha3; old kubectl sees it too.
    for k in ["1.33", "1.27"] {
        let res = s.kubectl_ok(k, &["api-resources", "--api-group=resource.k8s.io"]);
        for line in [
            "deviceclasses                         resource.k8s.io/v1beta2    false        DeviceClass",
            "devicetaintrules                      resource.k8s.io/v1alpha3   false        DeviceTaintRule",
            "resourceclaims                        resource.k8s.io/v1beta2    true         ResourceClaim",
            "resourceslices                        resource.k8s.io/v1beta2    false        ResourceSlice",
        ] {
            assert!(res.contains(line), "kubectl {k}: {line} missing:\n{res}");
        }
    }
    let objs = s.write_file("objs.yaml", OBJECTS);
    s.kubectl_ok(K, &["create", "-f", &objs.display().to_string()]);

    // The claim as upstream serves it in both versions (defaults applied once, on write).
    let v1 = get_json(&s, &["resourceclaims.v1beta1.resource.k8s.io", "c1"]);
    let v2 = get_json(&s, &["resourceclaims.v1beta2.resource.k8s.io", "c1"]);
    let expr = r#"device.attributes["gpu.example.com"].model == "a100""#;
    assert_eq!(
        v1["spec"],
        json!({"devices":{"requests":[{"allocationMode":"ExactCount","count":1,"deviceClassName":"gpu.example.com","name":"gpu",
            "selectors":[{"cel":{"expression":expr}}],"tolerations":[{"key":"k","operator":"Equal"}]}]}})
    );
    assert_eq!(
        v2["spec"],
        json!({"devices":{"requests":[{"exactly":{"allocationMode":"ExactCount","count":1,"deviceClassName":"gpu.example.com",
            "selectors":[{"cel":{"expression":expr}}],"tolerations":[{"key":"k","operator":"Equal"}]},"name":"gpu"}]}})
    );
    assert_eq!(v2["metadata"]["resourceVersion"], v1["metadata"]["resourceVersion"]);

    // Round trip: the v1beta2 form written back as a new claim reads as the same v1beta1.
    let mut again = v2.clone();
    again["metadata"] = json!({"name": "c2", "namespace": "default"});
    let f = s.write_file("c2.json", &again.to_string());
    s.kubectl_ok(K, &["create", "-f", &f.display().to_string()]);
    assert_eq!(
        get_json(&s, &["resourceclaims.v1beta1.resource.k8s.io", "c2"])["spec"],
        v1["spec"]
    );
    assert_eq!(
        get_json(&s, &["resourceclaims.v1beta2.resource.k8s.io", "c2"])["spec"],
        v2["spec"]
    );

    // Slices: `basic` lifted in v1beta2, bare quantities in v1alpha3; the device taint is
    // dropped (DRADeviceTaints is off).
    let slice2 = get_json(&s, &["resourceslices.v1beta2.resource.k8s.io", "n1-gpu"]);
    assert_eq!(
        slice2["spec"],
        json!({"devices":[{"attributes":{"model":{"string":"a100"}},"capacity":{"memory":{"value":"40Gi"}},"name":"d0"},{"name":"d1"}],
               "driver":"gpu.example.com","nodeName":"n1","pool":{"generation":0,"name":"n1","resourceSliceCount":1}})
    );
    assert_eq!(slice2["metadata"]["generation"], 1);
    let slice3 = get_json(&s, &["resourceslices.v1alpha3.resource.k8s.io", "n1-gpu"]);
    assert_eq!(
        slice3["spec"],
        json!({"devices":[{"basic":{"attributes":{"model":{"string":"a100"}},"capacity":{"memory":"40Gi"}},"name":"d0"},{"basic":{},"name":"d1"}],
               "driver":"gpu.example.com","nodeName":"n1","pool":{"generation":0,"name":"n1","resourceSliceCount":1}})
    );
    let rule = get_json(&s, &["devicetaintrules", "t1"]);
    assert!(rule["spec"]["taint"]["timeAdded"].is_string(), "{rule}");
    assert_eq!(rule["metadata"]["generation"], 1);

    // Printers.
    let table = s.kubectl_ok(
        K,
        &["get", "resourceslices,resourceclaims,deviceclasses,devicetaintrules"],
    );
    for want in [
        "NAME                                   NODE   DRIVER            POOL   AGE",
        "resourceslice.resource.k8s.io/n1-gpu   n1     gpu.example.com   n1",
        "NAME                                          AGE",
        "NAME                                 KEY   VALUE   EFFECT      TIMEADDED   AGE",
    ] {
        assert!(table.contains(want), "{want} missing:\n{table}");
    }
    let claims = s.kubectl_ok(K, &["get", "resourceclaims"]);
    assert!(claims.starts_with("NAME   STATE     AGE\nc1     pending"), "{claims}");

    // Field selectors: spec.nodeName and spec.driver; others refused in upstream's words.
    let names = s.kubectl_ok(
        K,
        &[
            "get",
            "resourceslices",
            "--field-selector",
            "spec.nodeName=n1,spec.driver=gpu.example.com",
            "-o",
            "name",
        ],
    );
    assert_eq!(names.trim(), "resourceslice.resource.k8s.io/n1-gpu");
    let none = s.kubectl_ok(
        K,
        &[
            "get",
            "resourceslices",
            "--field-selector",
            "spec.nodeName=n2",
            "-o",
            "name",
        ],
    );
    assert_eq!(none.trim(), "");
    let err = s.kubectl_err(K, &["get", "resourceslices", "--field-selector", "spec.foo=x"]);
    assert!(
        err.contains("field label not supported for resource.k8s.io/v1beta2, Kind=ResourceSlice: spec.foo"),
        "{err}"
    );
    let err = s.kubectl_err(
        K,
        &[
            "get",
            "resourceslices.v1beta1.resource.k8s.io",
            "--field-selector",
            "metadata.namespace=x",
        ],
    );
    assert!(
        err.contains("field label not supported for resource.k8s.io/v1beta1, Kind=ResourceSlice: metadata.namespace"),
        "{err}"
    );

    // Validation, message for message as upstream.
    let bad = s.write_file("bad.yaml", INVALID);
    let err = s.kubectl_err(K, &["create", "-f", &bad.display().to_string()]);
    for want in [
        "DeviceClass.resource.k8s.io \"bad-class\" is invalid: [spec.selectors[0].cel.expression: Invalid value: \"device.driver\": must evaluate to bool or the unknown type, not string, spec.selectors[1].cel.expression: Invalid value: \"device.nosuch == 1\": compilation failed: ERROR: <input>:1:7: undefined field 'nosuch'\n | device.nosuch == 1\n | ......^, spec.selectors[2].cel: Required value]",
        "ResourceClaim.resource.k8s.io \"bad\" is invalid: [spec.devices.requests[0].name: Invalid value: \"Gpu\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'), spec.devices.requests[0].exactly.count: Invalid value: 2: must not be specified when allocationMode is 'All', spec.devices.requests[1]: Required value: exactly one of `exactly` or `firstAvailable` is required, spec.devices.constraints[0].requests[0]: Invalid value: \"nope\": must be the name of a request in the claim or the name of a request and a subrequest separated by '/', spec.devices.constraints[0].matchAttribute: Invalid value: \"model\": must include a domain]",
        "ResourceSlice.resource.k8s.io \"bad-slice\" is invalid: [spec.pool.resourceSliceCount: Invalid value: 0: must be greater than zero, spec: Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, spec.devices[0].attributes[model]: Required value: exactly one value must be specified, spec.devices[0].attributes[v].version: Invalid value: \"1.0\": must be a string compatible with semver.org spec 2.0.0, spec.devices[1].name: Duplicate value: \"d0\"]",
    ] {
        assert!(err.contains(want), "{want}\nmissing from:\n{err}");
    }

    // The spec is immutable; the status subresource takes an allocation once.
    let err = s.kubectl_err(
        K,
        &[
            "patch",
            "resourceclaim",
            "c1",
            "--type=merge",
            "-p",
            r#"{"spec":{"devices":{"requests":[{"name":"x","exactly":{"deviceClassName":"y"}}]}}}"#,
        ],
    );
    assert!(
        err.contains("The ResourceClaim \"c1\" is invalid: spec: Invalid value: ")
            && err.contains("field is immutable"),
        "{err}"
    );
    let alloc = r#"{"status":{"allocation":{"devices":{"results":[{"request":"gpu","driver":"gpu.example.com","pool":"n1","device":"d0"}]}},"reservedFor":[{"resource":"pods","name":"p","uid":"u1"}]}}"#;
    s.kubectl_ok(
        K,
        &[
            "patch",
            "resourceclaim",
            "c1",
            "--subresource=status",
            "--type=merge",
            "-p",
            alloc,
        ],
    );
    let claims = s.kubectl_ok(K, &["get", "resourceclaims", "c1"]);
    assert!(claims.contains("allocated,reserved"), "{claims}");
    let err = s.kubectl_err(
        K,
        &[
            "patch",
            "resourceclaim",
            "c1",
            "--subresource=status",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/status/allocation/devices/results/0/device","value":"d1"}]"#,
        ],
    );
    assert!(
        err.contains("status.allocation: Invalid value: ") && err.contains("field is immutable"),
        "{err}"
    );

    // OpenAPI has the group's schemas.
    let (cert, key) = s.admin_cert();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let (code, body) = s.curl_status(
        &["--cert", &cert, "--key", &key],
        "/openapi/v3/apis/resource.k8s.io/v1beta2",
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("io.k8s.api.resource.v1beta2.ResourceClaim"),
        "not the v1beta2 schemas"
    );
}

/// Off by default: no resource.k8s.io anywhere; one version alone serves its four kinds (the
/// objects still stored as v1beta1). Pods lose their claim references while
/// DynamicResourceAllocation is off (its default) and keep them with the gate on.
#[test]
fn resource_api_off_by_default_and_pod_claims_follow_the_gate() {
    let pod = r#"apiVersion: v1
kind: Pod
metadata: {name: p1, namespace: default}
spec:
  resourceClaims: [{name: gpu, resourceClaimName: c1}]
  containers:
  - name: c
    image: busybox
    resources: {claims: [{name: gpu}]}
"#;
    let claims_of = |s: &TestServer| {
        let p = get_json(s, &["pod", "p1"]);
        (
            p["spec"]["resourceClaims"].clone(),
            p["spec"]["containers"][0]["resources"].clone(),
        )
    };

    let s = TestServer::start();
    let versions = s.kubectl_ok(K, &["api-versions"]);
    assert!(!versions.contains("resource.k8s.io"), "{versions}");
    let (cert, key) = s.admin_cert();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let (code, _) = s.curl_status(&["--cert", &cert, "--key", &key], "/apis/resource.k8s.io/v1beta1");
    assert_eq!(code, 404);
    let (_, v3) = s.curl_status(&["--cert", &cert, "--key", &key], "/openapi/v3");
    assert!(!v3.contains("resource.k8s.io"), "{v3}");
    let _ = s.kubectl_run(K, &["create", "serviceaccount", "default"]);
    let f = s.write_file("pod.yaml", pod);
    s.kubectl_ok(K, &["create", "-f", &f.display().to_string()]);
    assert_eq!(
        claims_of(&s),
        (Value::Null, json!({})),
        "dropped as upstream with the gate off"
    );
    // Workload pod templates too (DropDisabledTemplateFields).
    let deploy = s.write_file(
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: default}\nspec:\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n    spec:\n      resourceClaims: [{name: gpu, resourceClaimTemplateName: t}]\n      containers: [{name: c, image: busybox, resources: {claims: [{name: gpu}]}}]\n",
    );
    s.kubectl_ok(K, &["create", "-f", &deploy.display().to_string()]);
    let d = get_json(&s, &["deployment", "d"]);
    assert_eq!(d["spec"]["template"]["spec"]["resourceClaims"], Value::Null, "{d}");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({}),
        "{d}"
    );
    drop(s);

    let s = TestServer::start_with(&[
        "--runtime-config=resource.k8s.io/v1beta2=true",
        "--feature-gates=DynamicResourceAllocation=true",
    ]);
    let res = s.kubectl_ok(K, &["api-resources", "--api-group=resource.k8s.io", "-o", "name"]);
    assert_eq!(
        res.lines().collect::<Vec<_>>(),
        [
            "deviceclasses.resource.k8s.io",
            "resourceclaims.resource.k8s.io",
            "resourceclaimtemplates.resource.k8s.io",
            "resourceslices.resource.k8s.io"
        ]
    );
    let _ = s.kubectl_run(K, &["create", "serviceaccount", "default"]);
    let f = s.write_file("pod.yaml", pod);
    s.kubectl_ok(K, &["create", "-f", &f.display().to_string()]);
    assert_eq!(
        claims_of(&s),
        (
            json!([{"name": "gpu", "resourceClaimName": "c1"}]),
            json!({"claims": [{"name": "gpu"}]})
        )
    );
}

/// DRAAdminAccess on: `adminAccess` is kept, and allowed only in namespaces labelled
/// `resource.k8s.io/admin-access: "true"` — on create of claims and templates and on a status
/// write granting it — with the 422 kube-apiserver v1.33.13 answered (captured with
/// `--feature-gates=DRAAdminAccess=true,DynamicResourceAllocation=true
/// --runtime-config=resource.k8s.io/v1beta1=true`). Off: the field is dropped.
#[test]
fn admin_access_needs_the_namespace_label_with_the_gate() {
    let claim = |ns: &str| {
        json!({"apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceClaim",
            "metadata": {"name": "c1", "namespace": ns},
            "spec": {"devices": {"requests": [{"name": "r", "deviceClassName": "gpu", "adminAccess": true}]}}})
    };
    let template = |ns: &str| {
        json!({"apiVersion": "resource.k8s.io/v1beta2", "kind": "ResourceClaimTemplate",
            "metadata": {"name": "t1", "namespace": ns},
            "spec": {"spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "gpu", "adminAccess": true}}]}}}})
    };
    let msg =
        "admin access to devices requires the `resource.k8s.io/admin-access: true` label on the containing namespace";
    let status = |kind: &str, name: &str, field: &str| {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("{kind}.resource.k8s.io \"{name}\" is invalid: {field}: Forbidden: {msg}"),
            "reason": "Invalid",
            "details": {"name": name, "group": "resource.k8s.io", "kind": kind,
                "causes": [{"reason": "FieldValueForbidden", "message": format!("Forbidden: {msg}"), "field": field}]},
            "code": 422})
    };

    let s = TestServer::start_with(&[
        "--runtime-config=resource.k8s.io/v1beta1=true,resource.k8s.io/v1beta2=true",
        "--feature-gates=DRAAdminAccess=true,DynamicResourceAllocation=true",
    ]);
    let (cert, key) = s.admin_cert();
    let post = |path: &str, body: &Value| -> (u16, Value) {
        let body = body.to_string();
        let (code, out) = s.curl_status(
            &[
                "--cert",
                cert.to_str().expect("path"),
                "--key",
                key.to_str().expect("path"),
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                &body,
            ],
            path,
        );
        (
            code,
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")),
        )
    };
    s.kubectl_ok(K, &["create", "namespace", "plain"]);
    s.kubectl_ok(K, &["create", "namespace", "adm"]);
    s.kubectl_ok(K, &["label", "namespace", "adm", "resource.k8s.io/admin-access=true"]);

    let claims = "/apis/resource.k8s.io/v1beta1/namespaces/plain/resourceclaims";
    assert_eq!(
        post(claims, &claim("plain")),
        (
            422,
            status("ResourceClaim", "c1", "spec.devices.requests[0].adminAccess")
        )
    );
    let templates = "/apis/resource.k8s.io/v1beta2/namespaces/plain/resourceclaimtemplates";
    assert_eq!(
        post(templates, &template("plain")),
        (
            422,
            status("ResourceClaimTemplate", "t1", "spec.devices.requests[0].adminAccess")
        )
    );
    // In the labelled namespace both are stored with the field (kubectl, both versions).
    let f = s.write_file("adm.json", &claim("adm").to_string());
    s.kubectl_ok(K, &["create", "-f", &f.display().to_string()]);
    let f = s.write_file("adm-t.json", &template("adm").to_string());
    s.kubectl_ok(K, &["create", "-f", &f.display().to_string()]);
    assert_eq!(
        get_json(&s, &["resourceclaims.v1beta1.resource.k8s.io", "c1", "-n", "adm"])["spec"]["devices"]["requests"][0]
            ["adminAccess"],
        true
    );
    assert_eq!(
        get_json(
            &s,
            &["resourceclaimtemplates.v1beta1.resource.k8s.io", "t1", "-n", "adm"]
        )["spec"]["spec"]["devices"]["requests"][0]["adminAccess"],
        true
    );

    // A status write granting admin access in an unlabelled namespace is refused.
    let mut plain = claim("plain");
    plain["spec"]["devices"]["requests"][0]
        .as_object_mut()
        .expect("request")
        .remove("adminAccess");
    let f = s.write_file("plain.json", &plain.to_string());
    s.kubectl_ok(K, &["create", "-f", &f.display().to_string()]);
    let grant = r#"{"status":{"allocation":{"devices":{"results":[{"request":"r","driver":"d.example.com","pool":"p","device":"d0","adminAccess":true}]}}}}"#;
    let err = s.kubectl_err(
        K,
        &[
            "patch",
            "resourceclaim",
            "c1",
            "-n",
            "plain",
            "--subresource=status",
            "--type=merge",
            "-p",
            grant,
        ],
    );
    assert!(
        err.contains(&format!(
            "status.allocation.devices.results[0].adminAccess: Forbidden: {msg}"
        )),
        "{err}"
    );
    s.kubectl_ok(
        K,
        &[
            "patch",
            "resourceclaim",
            "c1",
            "-n",
            "adm",
            "--subresource=status",
            "--type=merge",
            "-p",
            grant,
        ],
    );
    drop(s);

    // Gate off (its default): dropped, wherever the claim lives.
    let s = TestServer::start_with(&["--runtime-config=resource.k8s.io/v1beta1=true"]);
    let f = s.write_file("c.json", &claim("default").to_string());
    s.kubectl_ok(K, &["create", "-f", &f.display().to_string()]);
    let got = get_json(&s, &["resourceclaims.v1beta1.resource.k8s.io", "c1"]);
    assert!(
        got["spec"]["devices"]["requests"][0].get("adminAccess").is_none(),
        "{got}"
    );
}
