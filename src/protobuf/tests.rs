use super::decode::format_time;
use super::*;
use crate::util::go_duration;
use crate::util::protowire::{put_bytes, Writer};
use serde_json::{json, Value};

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
    let raw = enc(&raw);
    let mut out = b"k8s\0".to_vec();
    let mut unknown = enc(&[(1, P::Msg(vec![(1, P::Str(api_version)), (2, P::Str(kind))]))]);
    put_bytes(&mut unknown, 2, &raw);
    unknown.extend(enc(&[(3, P::Str("")), (4, P::Str(""))]));
    out.extend(unknown);
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
        decode(&body).unwrap(),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "lit", "creationTimestamp": null},
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
    let v = decode(&body).unwrap();
    assert_eq!(v["data"], json!({"p": "czNjcmV0"}));
    assert_eq!(v["type"], json!("Opaque"));
    // `immutable` is a *bool: a present false is kept.
    assert_eq!(v["immutable"], json!(false));
    assert_eq!(v["metadata"], json!({"name": "sec", "creationTimestamp": null}));
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
        decode(&body).unwrap(),
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
        decode(&body).unwrap(),
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
    // JSON names come from the Go tags.
    let t = table();
    let pod_spec = &t.msgs["io.k8s.api.core.v1.PodSpec"];
    let names: Vec<&str> = pod_spec.iter().map(|f| f.json.as_str()).collect();
    assert!(names.contains(&"hostIPC") && names.contains(&"hostPID"), "{names:?}");
    let status = &t.msgs["io.k8s.api.core.v1.PodStatus"];
    assert!(status.iter().any(|f| f.json == "podIP"));
}

#[test]
fn errors() {
    assert!(decode(b"{}").unwrap_err().contains("expected prefix"));
    let mut body = envelope("v1", "ConfigMap", vec![(1, meta("x", vec![]))]);
    body.truncate(body.len() - 3);
    assert!(decode(&body).is_err());
    let body = envelope("v1", "NoSuchKind", vec![]);
    assert_eq!(
        decode(&body).unwrap_err(),
        "no kind \"NoSuchKind\" is registered for version \"v1\""
    );
    // Unknown tags are skipped.
    let body = envelope("v1", "ConfigMap", vec![(1, meta("x", vec![])), (99, P::Str("?"))]);
    assert_eq!(
        decode(&body).unwrap()["metadata"],
        json!({"name": "x", "creationTimestamp": null})
    );
}

/// Objects as upstream kube-apiserver v1.33.13 served them, in JSON and in protobuf (captured
/// with `Accept: application/json` and `Accept: application/vnd.kubernetes.protobuf` at the
/// same resourceVersion; see tests/data/protobuf/README.md).
const GOLDEN: &[(&str, &[u8], &[u8])] = &[
    (
        "configmaps-cm",
        include_bytes!("../../tests/data/protobuf/configmaps-cm.json"),
        include_bytes!("../../tests/data/protobuf/configmaps-cm.pb"),
    ),
    (
        "secrets-sec",
        include_bytes!("../../tests/data/protobuf/secrets-sec.json"),
        include_bytes!("../../tests/data/protobuf/secrets-sec.pb"),
    ),
    (
        "deployments-web",
        include_bytes!("../../tests/data/protobuf/deployments-web.json"),
        include_bytes!("../../tests/data/protobuf/deployments-web.pb"),
    ),
    (
        "services-svc",
        include_bytes!("../../tests/data/protobuf/services-svc.json"),
        include_bytes!("../../tests/data/protobuf/services-svc.pb"),
    ),
    (
        "pods-pod",
        include_bytes!("../../tests/data/protobuf/pods-pod.json"),
        include_bytes!("../../tests/data/protobuf/pods-pod.pb"),
    ),
    (
        "roles-r",
        include_bytes!("../../tests/data/protobuf/roles-r.json"),
        include_bytes!("../../tests/data/protobuf/roles-r.pb"),
    ),
    (
        "leases-l",
        include_bytes!("../../tests/data/protobuf/leases-l.json"),
        include_bytes!("../../tests/data/protobuf/leases-l.pb"),
    ),
    (
        "cronjobs-cj",
        include_bytes!("../../tests/data/protobuf/cronjobs-cj.json"),
        include_bytes!("../../tests/data/protobuf/cronjobs-cj.pb"),
    ),
    (
        "crd",
        include_bytes!("../../tests/data/protobuf/customresourcedefinitions-widgets.example.com.json"),
        include_bytes!("../../tests/data/protobuf/customresourcedefinitions-widgets.example.com.pb"),
    ),
    (
        "endpoints-kubernetes",
        include_bytes!("../../tests/data/protobuf/endpoints-kubernetes.json"),
        include_bytes!("../../tests/data/protobuf/endpoints-kubernetes.pb"),
    ),
    (
        "configmaps-list",
        include_bytes!("../../tests/data/protobuf/configmaps-list.json"),
        include_bytes!("../../tests/data/protobuf/configmaps-list.pb"),
    ),
    (
        "discovery-api",
        include_bytes!("../../tests/data/protobuf/discovery-api.json"),
        include_bytes!("../../tests/data/protobuf/discovery-api.pb"),
    ),
    (
        "discovery-apis-apps",
        include_bytes!("../../tests/data/protobuf/discovery-apis-apps.json"),
        include_bytes!("../../tests/data/protobuf/discovery-apis-apps.pb"),
    ),
    (
        "discovery-apis-events.k8s.io-v1",
        include_bytes!("../../tests/data/protobuf/discovery-apis-events.k8s.io-v1.json"),
        include_bytes!("../../tests/data/protobuf/discovery-apis-events.k8s.io-v1.pb"),
    ),
    (
        "status-404",
        include_bytes!("../../tests/data/protobuf/status-404.json"),
        include_bytes!("../../tests/data/protobuf/status-404.pb"),
    ),
];

/// The paths where two JSON values differ.
fn json_diff(at: &str, a: &Value, b: &Value) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .map(|k| {
                    json_diff(
                        &format!("{at}/{k}"),
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    )
                })
                .collect()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .map(|(i, (p, q))| json_diff(&format!("{at}/{i}"), p, q))
            .collect(),
        _ if a == b => String::new(),
        _ => format!("\n  {at}: ours {a} upstream {b}"),
    }
}

fn hex_diff(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let from = at.saturating_sub(16);
    format!(
        "first difference at byte {at} (len {} vs {}):\n ours {:02x?}\n them {:02x?}",
        a.len(),
        b.len(),
        &a[from..(at + 24).min(a.len())],
        &b[from..(at + 24).min(b.len())]
    )
}

#[test]
fn golden_upstream_bytes_decode_to_upstream_json() {
    for (name, json, pb) in GOLDEN {
        let want: Value = serde_json::from_slice(json).unwrap();
        let got = decode(pb).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == want, "{name}: {}", json_diff("", &got, &want));
    }
}

#[test]
fn golden_upstream_json_encodes_to_upstream_bytes() {
    for (name, json, pb) in GOLDEN {
        let v: Value = serde_json::from_slice(json).unwrap();
        let got = encode(&v).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == *pb, "{name}: {}", hex_diff(&got, pb));
    }
}

/// Values kube-apiserver wrote to etcd: built-in kinds in protobuf (they round-trip to the same
/// bytes), CRDs, APIServices and custom resources in JSON.
#[test]
fn golden_etcd_values() {
    let pb: &[(&str, &[u8])] = &[
        (
            "configmap",
            include_bytes!("../../tests/data/protobuf/etcd-configmaps_gold_cm.bin"),
        ),
        (
            "pod",
            include_bytes!("../../tests/data/protobuf/etcd-pods_gold_pod.bin"),
        ),
        (
            "service",
            include_bytes!("../../tests/data/protobuf/etcd-services_specs_gold_svc.bin"),
        ),
        (
            "deployment",
            include_bytes!("../../tests/data/protobuf/etcd-deployments_gold_web.bin"),
        ),
        (
            "lease",
            include_bytes!("../../tests/data/protobuf/etcd-leases_gold_l.bin"),
        ),
        (
            "secret",
            include_bytes!("../../tests/data/protobuf/etcd-secrets_gold_sec.bin"),
        ),
        (
            "nodeports",
            include_bytes!("../../tests/data/protobuf/etcd-ranges_servicenodeports.bin"),
        ),
    ];
    for (name, raw) in pb {
        let v = decode(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(v.pointer("/metadata/resourceVersion").is_none(), "{name}");
        assert!(
            stored_as_protobuf(v["apiVersion"].as_str().unwrap(), v["kind"].as_str().unwrap()),
            "{name}"
        );
        let again = encode(&v).unwrap();
        assert!(again == *raw, "{name}: {}", hex_diff(&again, raw));
    }
    let nodeports = decode(pb[6].1).unwrap();
    assert_eq!(nodeports["kind"], "RangeAllocation");
    assert_eq!(nodeports["range"], "30000-32767");
    let json: &[(&str, &[u8])] = &[
        (
            "crd",
            include_bytes!(
                "../../tests/data/protobuf/etcd-apiextensions.k8s.io_customresourcedefinitions_widgets.example.com.bin"
            ),
        ),
        (
            "apiservice",
            include_bytes!("../../tests/data/protobuf/etcd-apiregistration.k8s.io_apiservices_v1.apps.bin"),
        ),
        (
            "cr",
            include_bytes!("../../tests/data/protobuf/etcd-example.com_widgets_gold_w1.bin"),
        ),
    ];
    for (name, raw) in json {
        let v: Value = serde_json::from_slice(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !stored_as_protobuf(v["apiVersion"].as_str().unwrap(), v["kind"].as_str().unwrap()),
            "{name}"
        );
    }
}

/// A protobuf watch stream: 4-byte big-endian length frames of `metav1.WatchEvent` messages whose
/// object is an enveloped object.
#[test]
fn golden_watch_frames() {
    let pb: &[u8] = include_bytes!("../../tests/data/protobuf/watch-configmaps.pb");
    let json: &[u8] = include_bytes!("../../tests/data/protobuf/watch-configmaps.json");
    let events: Vec<Value> = json
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let mut rest = pb;
    let mut i = 0;
    while !rest.is_empty() {
        let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let frame = &rest[4..4 + n];
        rest = &rest[4 + n..];
        let ev = decode_message_json("io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent", frame).unwrap();
        assert_eq!(ev["type"], events[i]["type"]);
        let obj = encode(&events[i]["object"]).unwrap();
        let ours = watch_event(events[i]["type"].as_str().unwrap(), &obj);
        assert!(ours == frame, "event {i}: {}", hex_diff(&ours, frame));
        i += 1;
    }
    assert_eq!(i, events.len());
}

#[test]
fn times_and_durations_parse_as_go_does() {
    use super::encode::{parse_duration, parse_time};
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some((0, 0)));
    assert_eq!(parse_time("0001-01-01T00:00:00Z"), Some((-62_135_596_800, 0)));
    assert_eq!(
        parse_time("2024-05-06T07:08:09.123456Z"),
        Some((1_714_979_289, 123_456_000))
    );
    assert_eq!(parse_time("2024-05-06T09:08:09+02:00"), Some((1_714_979_289, 0)));
    assert_eq!(parse_time("2024-05-06 07:08:09Z"), None);
    assert_eq!(parse_duration("1h0m0s"), Some(3_600_000_000_000));
    assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
    assert_eq!(parse_duration("-2µs"), Some(-2_000));
    assert_eq!(parse_duration("0"), Some(0));
    assert_eq!(parse_duration("5x"), None);
}

/// A list assembled from each item's own encoding (how the server serves lists from cached
/// per-object encodings) is byte-identical to what upstream sent.
#[test]
fn list_from_item_encodings_matches_upstream() {
    let json: Value = serde_json::from_slice(include_bytes!("../../tests/data/protobuf/configmaps-list.json")).unwrap();
    let upstream = include_bytes!("../../tests/data/protobuf/configmaps-list.pb");
    let raws: Vec<Vec<u8>> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let mut item = item.clone();
            item["apiVersion"] = json!("v1");
            item["kind"] = json!("ConfigMap");
            let enveloped = encode(&item).unwrap();
            unwrap_envelope(&enveloped).unwrap().raw.to_vec()
        })
        .collect();
    let got = encode_list("v1", "ConfigMapList", &json["metadata"], &raws).unwrap();
    assert!(got == upstream.as_slice(), "{}", hex_diff(&got, upstream));
}
