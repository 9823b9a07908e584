use super::*;
use serde_json::{json, Value};

fn s() -> &'static Schemas {
    builtin()
}

fn path<'a>(root: &'a Node, fields: &[&str]) -> &'a Node {
    let mut n = root;
    for f in fields {
        let next = if *f == "[]" { s().elem(n) } else { s().field(n, f) };
        n = next.unwrap_or_else(|| panic!("no {f} in path {fields:?}"));
    }
    n
}

#[test]
fn every_row_of_the_resource_table_has_a_schema() {
    let mut missing = Vec::new();
    for r in crate::api::builtin() {
        if s().root_for(r.group, r.version, r.kind).is_none() {
            missing.push(format!("{}/{} {}", r.group, r.version, r.kind));
        }
        if r.verbs.contains(&"list") && s().root_for(r.group, r.version, &format!("{}List", r.kind)).is_none() {
            missing.push(format!("{}/{} {}List", r.group, r.version, r.kind));
        }
    }
    assert!(missing.is_empty(), "no schema for {missing:?}");
    assert_eq!(
        s().def_name("apps", "v1", "Deployment"),
        Some("io.k8s.api.apps.v1.Deployment")
    );
    assert_eq!(s().def_name("", "v1", "Pod"), Some("io.k8s.api.core.v1.Pod"));
    assert_eq!(
        s().def_name("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        Some("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
    );
}

#[test]
fn patch_meta_table_matches_definitions() {
    let unmatched = generate::unmatched_patch_meta();
    // Definitions k8s-openapi does not generate for v1_33 GA kinds are fine (alpha/beta/internal types),
    // but every line for a definition that exists must land on a field.
    let bad: Vec<_> = unmatched
        .iter()
        .filter(|l| {
            let def = l.split_whitespace().next().unwrap_or_default();
            s().contains(def)
        })
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn pod_spec_containers_metadata() {
    let pod = s().root_for("", "v1", "Pod").expect("pod");
    let spec = path(pod, &["spec"]);
    let containers = path(spec, &["containers"]);
    assert_eq!(containers.ty, Ty::Array);
    assert_eq!(containers.list_type, ListType::Map);
    assert_eq!(containers.map_keys, vec!["name".to_string()]);
    assert_eq!(containers.patch_strategy, PatchStrategy::Merge);
    assert_eq!(containers.merge_key.as_deref(), Some("name"));
    let ports = path(containers, &["[]", "ports"]);
    assert_eq!(
        ports.map_keys,
        vec!["containerPort".to_string(), "protocol".to_string()]
    );
    assert_eq!(ports.merge_key.as_deref(), Some("containerPort"));
    let env = path(containers, &["[]", "env"]);
    assert_eq!((env.list_type, env.merge_key.as_deref()), (ListType::Map, Some("name")));
    let tol = path(spec, &["tolerations"]);
    assert_eq!(
        (tol.list_type, tol.patch_strategy),
        (ListType::Atomic, PatchStrategy::None)
    );
    let volumes = path(spec, &["volumes"]);
    assert_eq!(volumes.patch_strategy, PatchStrategy::MergeRetainKeys);
    let ns = path(spec, &["nodeSelector"]);
    assert_eq!((ns.ty, ns.map_type), (Ty::Object, MapType::Atomic));
    assert_eq!(path(ns, &["[]"]).ty, Ty::String);
    let probe = path(containers, &["[]", "livenessProbe"]);
    assert!(probe.fields.contains_key("httpGet"));
    let port = path(probe, &["httpGet", "port"]);
    assert_eq!(port.ty, Ty::IntOrString);
    assert_eq!(pod.required, Vec::<String>::new());
    assert!(
        s().elem(spec).is_none(),
        "an object with properties has no element schema"
    );
}

#[test]
fn object_meta_and_other_groups() {
    let deploy = s().root_for("apps", "v1", "Deployment").expect("deployment");
    let meta = path(deploy, &["metadata"]);
    let owners = path(meta, &["ownerReferences"]);
    assert_eq!(
        (owners.list_type, owners.merge_key.as_deref()),
        (ListType::Map, Some("uid"))
    );
    let fin = path(meta, &["finalizers"]);
    assert_eq!(
        (fin.list_type, fin.patch_strategy),
        (ListType::Set, PatchStrategy::Merge)
    );
    assert_eq!(path(meta, &["managedFields"]).list_type, ListType::Atomic);
    let sel = path(deploy, &["spec", "selector"]);
    assert_eq!(sel.map_type, MapType::Atomic);
    assert_eq!(
        path(deploy, &["spec"]).required,
        vec!["selector".to_string(), "template".to_string()]
    );
    let strategy = path(deploy, &["spec", "strategy"]);
    assert!(strategy.fields.contains_key("rollingUpdate"));
    let role = s().root_for("rbac.authorization.k8s.io", "v1", "Role").expect("role");
    assert_eq!(path(role, &["rules"]).list_type, ListType::Atomic);
    let svc = s().root_for("", "v1", "Service").expect("svc");
    let ports = path(svc, &["spec", "ports"]);
    assert_eq!(ports.map_keys, vec!["port".to_string(), "protocol".to_string()]);
    assert_eq!(ports.merge_key.as_deref(), Some("port"));
    let cond = path(deploy, &["status", "conditions"]);
    assert_eq!(
        (cond.list_type, cond.merge_key.as_deref()),
        (ListType::Map, Some("type"))
    );
    let list = s().root_for("apps", "v1", "DeploymentList").expect("list");
    assert!(
        matches!(list.fields.get("items").and_then(|r| s().resolve(r)).and_then(|n| n.items.as_deref()),
        Some(TypeRef::Named(n)) if n == "io.k8s.api.apps.v1.Deployment")
    );
    let docs = &path(deploy, &["spec", "template", "spec", "containers", "[]"]).field_docs;
    assert!(docs["livenessProbe"]
        .as_str()
        .starts_with("Periodic probe of container liveness."));
    let crd = s()
        .root_for("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
        .expect("crd");
    let schema = path(crd, &["spec", "versions", "[]", "schema", "openAPIV3Schema", "default"]);
    assert_eq!(schema.ty, Ty::Any);
}

#[test]
fn unknown_fields_use_upstream_paths() {
    let deploy = s().root_for("apps", "v1", "Deployment").expect("deployment");
    let obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "labels": {"a": "b"}, "bogus": 1},
        "spec": {
            "foo": 1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                {"name": "a", "image": "i", "ports": [{"containerPort": 80, "hostPortx": 1}]},
                {"name": "b", "image": "i", "unknownNested": true,
                 "livenessProbe": {"httpGet": {"port": "http", "extra": 1}}}
            ]}}
        }
    });
    let mut got = unknown_fields(s(), deploy, &obj);
    got.sort();
    assert_eq!(
        got,
        vec![
            "metadata.bogus",
            "spec.foo",
            "spec.template.spec.containers[0].ports[0].hostPortx",
            "spec.template.spec.containers[1].livenessProbe.httpGet.extra",
            "spec.template.spec.containers[1].unknownNested",
        ]
    );
}

#[test]
fn field_validation_strict_warn_ignore() {
    let body =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}, "foo": 1});
    let mut o = body.clone();
    let e = field_validation("", "v1", "ConfigMap", &mut o, "Strict").expect_err("strict");
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"foo\""
    );
    let mut o = body.clone();
    let w = field_validation("", "v1", "ConfigMap", &mut o, "").expect("warn");
    assert_eq!(w, vec!["unknown field \"foo\"".to_string()]);
    assert!(o.get("foo").is_none(), "pruned");
    assert_eq!(o["data"]["k"], "v");
    let mut o = body.clone();
    assert!(field_validation("", "v1", "ConfigMap", &mut o, "Ignore")
        .expect("ignore")
        .is_empty());
    assert!(o.get("foo").is_none(), "pruned even with Ignore");
    // Custom resources (no built-in schema) pass unchanged.
    let mut o = body.clone();
    assert!(field_validation("example.com", "v1", "Widget", &mut o, "Strict")
        .expect("cr")
        .is_empty());
    assert_eq!(o, body);
    // Opaque content (RawExtension, FieldsV1) is kept.
    let mut cr = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r",
        "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]}, "revision": 1, "data": {"anything": {"x": 1}}});
    let before = cr.clone();
    assert!(field_validation("apps", "v1", "ControllerRevision", &mut cr, "Strict")
        .expect("cr")
        .is_empty());
    assert_eq!(cr, before);
}

#[test]
fn duplicate_fields_from_raw_body() {
    let raw = br#"{"metadata": {"name": "a", "labels": {"x": "1", "x": "2"}, "name": "b"},
        "spec": {"containers": [{"name": "c", "image": "i", "image": "j"}]}, "kind": "Pod", "kind": "Pod"}"#;
    assert_eq!(
        duplicate_fields(raw),
        vec!["metadata.labels.x", "metadata.name", "spec.containers[0].image", "kind"]
    );
    assert!(duplicate_fields(b"kind: Pod\nkind: Pod\n").is_empty());
    assert!(duplicate_fields(b"{\"a\": [1, {\"b\": \"\\\"}\", \"b\": 2}]}").contains(&"a[1].b".to_string()));
    let mut o = serde_json::from_slice::<Value>(raw).expect("json");
    let e = field_validation_raw("", "v1", "Pod", &mut o, Some(raw), "Strict").expect_err("strict");
    assert!(
        e.message.starts_with(
            "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: duplicate field \"metadata.labels.x\", duplicate field \"metadata.name\""
        ),
        "{}",
        e.message
    );
}

/// Upstream's decoder reports unknown and duplicate fields in the order it meets them
/// (the "unknown and duplicate fields of a typed object" conformance test).
#[test]
fn strict_problems_in_body_order() {
    let raw = br#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"unknownField": "foo", "replicas": 2, "replicas": 3,
                 "selector": {"matchLabels": {"app": "x"}}, "bogus": 1}}"#;
    let mut o = serde_json::from_slice::<Value>(raw).expect("json");
    let e = field_validation_raw("apps", "v1", "Deployment", &mut o, Some(raw), "Strict").expect_err("strict");
    assert_eq!(
        e.message,
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.unknownField\", duplicate field \"spec.replicas\", unknown field \"spec.bogus\""
    );
}

/// What the server decodes is exactly what k8s-openapi and `patch_meta.txt` yield today, with
/// every description (build.rs and this test run the same generator).
#[test]
fn decoded_builtin_schemas_equal_a_fresh_generation() {
    let fresh = generate::build();
    let decoded = builtin();
    assert_eq!(decoded.kinds, fresh.kinds);
    assert_eq!(decoded.len(), fresh.len());
    for name in fresh.names() {
        assert!(decoded.def(name) == fresh.def(name), "definition {name} differs");
    }
    let (structure, docs) = codec::encode(&fresh);
    assert_eq!(structure, BUILTIN_STRUCTURE, "the encoding is deterministic");
    assert_eq!(docs, builtin_docs());
    assert!(
        codec::decode(&BUILTIN_STRUCTURE[..BUILTIN_STRUCTURE.len() - 1]).is_none(),
        "a truncated encoding is refused"
    );
}

#[test]
fn building_costs_little_memory() {
    fn rss_kb() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0)
    }
    let before = rss_kb();
    let t = std::time::Instant::now();
    let n = codec::decode(BUILTIN_STRUCTURE).expect("decodes");
    let names: Vec<String> = n.names().cloned().collect();
    for name in &names {
        n.def(name);
    }
    let took = t.elapsed();
    let after = rss_kb();
    eprintln!(
        "schema decode: {} definitions, {} kinds, {:?}, RSS {} kB -> {} kB (+{} kB)",
        n.len(),
        n.kinds.len(),
        took,
        before,
        after,
        after.saturating_sub(before)
    );
    assert!(n.len() > 400);
}
