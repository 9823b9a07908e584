use super::*;
use serde_json::json;

#[test]
fn times_in_every_place_of_a_pod_are_canonical() {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "p", "creationTimestamp": "2026-12-06T02:26:10+00:00",
            "managedFields": [{"manager": "py", "time": "2026-12-06T03:26:10.5+01:00"}]
        },
        "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}}}]},
        "status": {
            "startTime": "2026-12-06T02:26:10.123Z",
            "conditions": [{"type": "Ready", "lastTransitionTime": "2026-12-06T02:26:10-00:30"}],
            "containerStatuses": [{"name": "c", "state": {"running": {"startedAt": "2026-12-06T02:26:10+00:00"}}}]
        }
    });
    normalize("", "v1", "Pod", &mut pod).unwrap();
    assert_eq!(pod["metadata"]["creationTimestamp"], "2026-12-06T02:26:10Z");
    assert_eq!(pod["metadata"]["managedFields"][0]["time"], "2026-12-06T02:26:10Z");
    assert_eq!(pod["status"]["startTime"], "2026-12-06T02:26:10Z");
    assert_eq!(
        pod["status"]["conditions"][0]["lastTransitionTime"],
        "2026-12-06T02:56:10Z"
    );
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"],
        "2026-12-06T02:26:10Z"
    );
    assert_eq!(
        pod["spec"]["containers"][0]["resources"]["limits"],
        json!({"cpu": "1", "memory": "1Gi"})
    );
}

#[test]
fn micro_times_and_byte_fields() {
    let mut lease = json!({"spec": {"renewTime": "2026-12-06T02:26:10.123456+00:00", "holderIdentity": "x"}});
    normalize("coordination.k8s.io", "v1", "Lease", &mut lease).unwrap();
    assert_eq!(lease["spec"]["renewTime"], "2026-12-06T02:26:10.123456Z");

    let mut secret = json!({"data": {"a": "aGVs\nbG8=", "b": [104, 105], "c": null}, "stringData": {"d": "x"}});
    normalize("", "v1", "Secret", &mut secret).unwrap();
    assert_eq!(secret["data"], json!({"a": "aGVsbG8=", "b": "aGk=", "c": null}));
    assert_eq!(secret["stringData"]["d"], "x");
}

#[test]
fn errors_are_gos_and_a_bad_time_beats_a_bad_base64() {
    let mut s = json!({"data": {"a": "!!"}, "metadata": {"creationTimestamp": "bad"}});
    assert_eq!(
        normalize("", "v1", "Secret", &mut s).unwrap_err(),
        "parsing time \"bad\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"bad\" as \"2006\""
    );
    let mut s = json!({"data": {"a": "aGVsbG8"}});
    assert_eq!(
        normalize("", "v1", "Secret", &mut s).unwrap_err(),
        "illegal base64 data at input byte 4"
    );
    let mut s = json!({"data": {"a": 5}});
    assert_eq!(
        normalize("", "v1", "Secret", &mut s).unwrap_err(),
        "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"
    );
    let mut csr = json!({"spec": {"request": 5}});
    assert_eq!(
        normalize("certificates.k8s.io", "v1", "CertificateSigningRequest", &mut csr).unwrap_err(),
        "json: cannot unmarshal number into Go struct field CertificateSigningRequestSpec.spec.request of type []uint8"
    );
    let mut cm = json!({"metadata": {"managedFields": [{"time": true}]}});
    assert_eq!(
        normalize("", "v1", "ConfigMap", &mut cm).unwrap_err(),
        "json: cannot unmarshal bool into Go struct field ManagedFieldsEntry.metadata.managedFields.time of type string"
    );
    let mut q = json!({"spec": {"hard": {"cpu": true}}});
    assert_eq!(
        normalize("", "v1", "ResourceQuota", &mut q).unwrap_err(),
        quantity::ERR_FORMAT
    );
}

#[test]
fn resource_lists_round_to_milli_only_where_upstream_defaults_them() {
    let mut q = json!({"spec": {"hard": {"cpu": "100u", "memory": null}}});
    normalize("", "v1", "ResourceQuota", &mut q).unwrap();
    assert_eq!(q["spec"]["hard"], json!({"cpu": "1m", "memory": "0"}));
    let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1n"}}}]}}}});
    normalize("apps", "v1", "Deployment", &mut d).unwrap();
    assert_eq!(
        d.pointer("/spec/template/spec/containers/0/resources/requests/cpu"),
        Some(&json!("1m"))
    );
    // RuntimeClass overhead: a ResourceList upstream does not default.
    let mut rc = json!({"handler": "h", "overhead": {"podFixed": {"cpu": "1n"}}});
    normalize("node.k8s.io", "v1", "RuntimeClass", &mut rc).unwrap();
    assert_eq!(rc["overhead"]["podFixed"]["cpu"], "1n");
    // A single Quantity is never rounded; a null one stays unset.
    let mut p = json!({"spec": {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1.5Gi"}}, {"name": "w", "emptyDir": {"sizeLimit": null}}]}});
    normalize("", "v1", "Pod", &mut p).unwrap();
    assert_eq!(p["spec"]["volumes"][0]["emptyDir"]["sizeLimit"], "1536Mi");
    assert_eq!(p["spec"]["volumes"][1]["emptyDir"]["sizeLimit"], Value::Null);
}

#[test]
fn custom_resources_and_unknown_kinds_are_left_alone() {
    let mut cr = json!({"spec": {"when": "2026-12-06T02:26:10+00:00"}});
    let before = cr.clone();
    normalize("example.com", "v1", "Widget", &mut cr).unwrap();
    assert_eq!(cr, before);
}
