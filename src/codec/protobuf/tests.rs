use super::*;
use crate::util::go_duration;
use crate::util::protowire::Writer;
use serde_json::json;

/// A tiny protobuf encoder: a message is a list of (field number, value).
enum P {
    Str(&'static str),
    Bytes(&'static [u8]),
    Int(i64),
    Msg(Vec<(u64, P)>),
}

fn enc(fields: &[(u64, P)]) -> Vec<u8> {
    let mut w = Writer::default();
    for (tag, v) in fields {
        let tag = *tag as u32;
        match v {
            P::Int(n) => w.uint(tag, *n as u64),
            P::Str(s) => w.string(tag, s),
            P::Bytes(b) => w.bytes(tag, b),
            P::Msg(m) => w.bytes(tag, &enc(m)),
        };
    }
    w.into_bytes()
}

/// `k8s\0` + runtime.Unknown{typeMeta, raw}.
fn envelope(api_version: &'static str, kind: &'static str, raw: Vec<(u64, P)>) -> Vec<u8> {
    let mut unknown = Writer::default();
    unknown
        .bytes(1, &enc(&[(1, P::Str(api_version)), (2, P::Str(kind))]))
        .bytes(2, &enc(&raw))
        .string(3, "")
        .string(4, "");
    let mut out = b"k8s\0".to_vec();
    out.extend(unknown.into_bytes());
    out
}

fn entry(k: &'static str, v: P) -> P {
    P::Msg(vec![(1, P::Str(k)), (2, v)])
}

/// ObjectMeta as the Go marshaller writes it: every value field, empty or not.
fn meta(name: &'static str, labels: Vec<(u64, P)>) -> P {
    let mut m = vec![
        (1, P::Str(name)),
        (2, P::Str("")),
        (3, P::Str("")),
        (4, P::Str("")),
        (5, P::Str("")),
        (6, P::Str("")),
        (7, P::Int(0)),
        (8, P::Msg(vec![])),
    ];
    m.extend(labels);
    P::Msg(m)
}

#[test]
fn configmap() {
    let body = envelope(
        "v1",
        "ConfigMap",
        vec![
            (1, meta("lit", vec![])),
            (2, entry("a", P::Str("1"))),
            (2, entry("b", P::Str(""))),
            (3, entry("bin", P::Bytes(b"\x00\xff"))),
        ],
    );
    assert_eq!(
        decode_body(&body).unwrap(),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "lit"},
            "data": {"a": "1", "b": ""},
            "binaryData": {"bin": "AP8="},
        })
    );
}

#[test]
fn secret_bytes_data() {
    let body = envelope(
        "v1",
        "Secret",
        vec![
            (1, meta("sec", vec![])),
            (2, entry("p", P::Bytes(b"s3cret"))),
            (3, P::Str("Opaque")),
            (5, P::Int(0)),
        ],
    );
    let v = decode_body(&body).unwrap();
    assert_eq!(v["data"], json!({"p": "czNjcmV0"}));
    assert_eq!(v["type"], json!("Opaque"));
    // `immutable` is a *bool: a present false is kept.
    assert_eq!(v["immutable"], json!(false));
    assert_eq!(v["metadata"], json!({"name": "sec"}));
}

#[test]
fn deployment() {
    let container = P::Msg(vec![
        (1, P::Str("nginx")),
        (2, P::Str("nginx:1.25")),
        (8, P::Msg(vec![])),    // resources {}
        (13, P::Str("")),       // terminationMessagePath (omitempty)
        (16, P::Int(0)),        // stdin false (omitempty)
        (14, P::Str("Always")), // imagePullPolicy
    ]);
    let pod_spec = P::Msg(vec![
        (
            1,
            P::Msg(vec![(1, P::Str("data")), (2, P::Msg(vec![(2, P::Msg(vec![]))]))]),
        ), // emptyDir
        (
            1,
            P::Msg(vec![
                (1, P::Str("cm")),
                (
                    2,
                    P::Msg(vec![(19, P::Msg(vec![(1, P::Msg(vec![(1, P::Str("lit"))]))]))]),
                ),
            ]),
        ),
        (2, container),
        (3, P::Str("")), // restartPolicy
        (11, P::Int(1)), // hostNetwork
        (13, P::Int(0)), // hostIPC false (omitempty)
        (3, P::Str("Always")),
    ]);
    let strategy = P::Msg(vec![
        (1, P::Str("RollingUpdate")),
        (
            2,
            P::Msg(vec![
                (1, P::Msg(vec![(1, P::Int(1)), (3, P::Str("25%"))])),
                (2, P::Msg(vec![(1, P::Int(0)), (2, P::Int(2))])),
            ]),
        ),
    ]);
    let body = envelope(
        "apps/v1",
        "Deployment",
        vec![
            (
                1,
                P::Msg(vec![
                    (1, P::Str("dep")),
                    (3, P::Str("default")),
                    (7, P::Int(0)),
                    (8, P::Msg(vec![(1, P::Int(1_136_214_245))])),
                    (11, entry("app", P::Str("dep"))),
                ]),
            ),
            (
                2,
                P::Msg(vec![
                    (1, P::Int(0)),
                    (2, P::Msg(vec![(1, entry("app", P::Str("dep")))])),
                    (
                        3,
                        P::Msg(vec![
                            (1, P::Msg(vec![(11, entry("app", P::Str("dep")))])),
                            (2, pod_spec),
                        ]),
                    ),
                    (4, strategy),
                    (5, P::Int(0)),
                    (7, P::Int(0)),
                ]),
            ),
            (3, P::Msg(vec![(1, P::Int(0)), (2, P::Int(0))])),
        ],
    );
    assert_eq!(
        decode_body(&body).unwrap(),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "dep",
                "namespace": "default",
                "creationTimestamp": "2006-01-02T15:04:05Z",
                "labels": {"app": "dep"},
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "dep"}},
                "template": {
                    "metadata": {"labels": {"app": "dep"}},
                    "spec": {
                        "volumes": [
                            {"name": "data", "emptyDir": {}},
                            {"name": "cm", "configMap": {"name": "lit"}},
                        ],
                        "containers": [{
                            "name": "nginx",
                            "image": "nginx:1.25",
                            "resources": {},
                            "imagePullPolicy": "Always",
                        }],
                        "restartPolicy": "Always",
                        "hostNetwork": true,
                    },
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2},
                },
            },
            "status": {},
        })
    );
}

#[test]
fn delete_options_in_any_group() {
    let body = envelope(
        "apps/v1",
        "DeleteOptions",
        vec![(1, P::Int(0)), (4, P::Str("Foreground"))],
    );
    assert_eq!(
        decode_body(&body).unwrap(),
        json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Foreground"})
    );
}

#[test]
fn special_types() {
    assert_eq!(format_time(0, 0, false).unwrap(), "1970-01-01T00:00:00Z");
    assert_eq!(format_time(951_782_400, 0, false).unwrap(), "2000-02-29T00:00:00Z");
    assert_eq!(
        format_time(1_136_214_245, 123_456_789, true).unwrap(),
        "2006-01-02T15:04:05.123456Z"
    );
    assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
    assert_eq!(go_duration(90_000_000_000), "1m30s");
    assert_eq!(go_duration(1_500_000_000), "1.5s");
    assert_eq!(go_duration(500_000_000), "500ms");
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(-2_000), "-2µs");
    // Field names that are not the camelCase of the prost name.
    let t = table();
    let pod_spec = &t.msgs["io.k8s.api.core.v1.PodSpec"];
    let names: Vec<&str> = pod_spec.iter().map(|f| f.json.as_str()).collect();
    assert!(names.contains(&"hostIPC") && names.contains(&"hostPID"), "{names:?}");
    let status = &t.msgs["io.k8s.api.core.v1.PodStatus"];
    assert!(status.iter().any(|f| f.json == "podIP"));
}

#[test]
fn errors() {
    assert!(decode_body(b"{}").unwrap_err().contains("expected prefix"));
    let mut body = envelope("v1", "ConfigMap", vec![(1, meta("x", vec![]))]);
    body.truncate(body.len() - 3);
    assert!(decode_body(&body).is_err());
    let body = envelope("v1", "NoSuchKind", vec![]);
    assert_eq!(
        decode_body(&body).unwrap_err(),
        "no kind \"NoSuchKind\" is registered for version \"v1\""
    );
    // Unknown tags are skipped.
    let body = envelope("v1", "ConfigMap", vec![(1, meta("x", vec![])), (99, P::Str("?"))]);
    assert_eq!(decode_body(&body).unwrap()["metadata"], json!({"name": "x"}));
}
