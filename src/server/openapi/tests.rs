use super::*;
use crate::util::protowire::WireValue;

/// (field, payload) of each top-level field; a varint's payload is its low byte.
fn fields(b: &[u8]) -> Vec<(u32, Vec<u8>)> {
    crate::util::protowire::fields(b)
        .expect("protobuf")
        .into_iter()
        .map(|(f, v)| {
            let payload = match v {
                WireValue::Varint(n) => vec![n as u8],
                WireValue::Len(b) => b.to_vec(),
                other => panic!("unexpected wire value {other:?}"),
            };
            (f as u32, payload)
        })
        .collect()
}

fn get(b: &[u8], field: u32) -> Vec<Vec<u8>> {
    fields(b)
        .into_iter()
        .filter(|(f, _)| *f == field)
        .map(|(_, v)| v)
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("utf8")
}

/// NamedX{name=1, value=2} entries of a repeated field as (name, value bytes).
fn named(b: &[u8], field: u32) -> BTreeMap<String, Vec<u8>> {
    get(b, field)
        .into_iter()
        .map(|e| (text(&get(&e, 1)[0]), get(&e, 2).into_iter().next().unwrap_or_default()))
        .collect()
}

fn rows() -> Vec<ResourceDef> {
    crate::api::enablement::default_rows().iter().map(|r| **r).collect()
}

#[test]
fn v2_protobuf_has_definitions_with_gvk_and_patch_metadata() {
    let api = OpenApi::build(&rows());
    let (doc, etag) = api.v2_proto();
    assert!(!etag.is_empty());
    assert_eq!(text(&get(&doc, 1)[0]), "2.0");
    let defs = named(&get(&doc, 9)[0], 1);
    let deploy = &defs["io.k8s.api.apps.v1.Deployment"];
    let ext = named(deploy, 31);
    let gvk_any = &ext["x-kubernetes-group-version-kind"];
    let yaml = text(&get(gvk_any, 2)[0]);
    assert_eq!(
        yaml,
        "[{\"group\":\"apps\",\"kind\":\"Deployment\",\"version\":\"v1\"}]\n"
    );
    let ty = get(&get(deploy, 22)[0], 1);
    assert_eq!(text(&ty[0]), "object");
    // PodSpec.containers: type array, items $ref Container, merge key name.
    let podspec = &defs["io.k8s.api.core.v1.PodSpec"];
    let props = named(&get(podspec, 25)[0], 1);
    let containers = &props["containers"];
    let items = get(&get(containers, 23)[0], 1);
    assert_eq!(
        text(&get(&items[0], 1)[0]),
        "#/definitions/io.k8s.api.core.v1.Container"
    );
    let ext = named(containers, 31);
    assert_eq!(text(&get(&ext["x-kubernetes-patch-merge-key"], 2)[0]), "name\n");
    assert_eq!(text(&get(&ext["x-kubernetes-patch-strategy"], 2)[0]), "merge\n");
    assert_eq!(text(&get(&ext["x-kubernetes-list-map-keys"], 2)[0]), "[\"name\"]\n");
    // A $ref field keeps its own description next to the $ref (v2 style).
    let container = &defs["io.k8s.api.core.v1.Container"];
    let probe = &named(&get(container, 25)[0], 1)["livenessProbe"];
    assert_eq!(text(&get(probe, 1)[0]), "#/definitions/io.k8s.api.core.v1.Probe");
    assert!(text(&get(probe, 4)[0]).starts_with("Periodic probe of container liveness."));
    // The PATCH operation of deployments advertises fieldValidation and the GVK.
    let paths = named(&get(&doc, 8)[0], 2);
    let item = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    let patch = &get(item, 8)[0];
    let names: Vec<String> = get(patch, 8)
        .iter()
        .filter_map(|p| {
            let param = &get(p, 1)[0];
            let nb = get(param, 2).into_iter().next()?;
            let q = get(&nb, 3).into_iter().next()?;
            Some(text(&get(&q, 4)[0]))
        })
        .collect();
    assert_eq!(names, vec!["dryRun", "fieldManager", "fieldValidation", "force"]);
    let ext = named(patch, 13);
    assert_eq!(
        text(&get(&ext["x-kubernetes-group-version-kind"], 2)[0]),
        "{\"group\":\"apps\",\"kind\":\"Deployment\",\"version\":\"v1\"}\n"
    );
}

#[test]
fn v3_documents_per_group_version() {
    let api = OpenApi::build(&rows());
    let index: Value = serde_json::from_slice(&api.index()).expect("index");
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .expect("url");
    let h = api.hashes()["apis/apps/v1"].clone();
    assert_eq!(url, format!("/openapi/v3/apis/apps/v1?hash={h}"));
    assert!(index["paths"]["api/v1"].is_object());
    let doc: Value = serde_json::from_slice(&api.v3("apis/apps/v1").expect("doc")).expect("json");
    assert_eq!(
        crate::util::hash::content_hash(&api.v3("apis/apps/v1").expect("doc")),
        h
    );
    let schemas = &doc["components"]["schemas"];
    let d = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        d["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        d["properties"]["metadata"]["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}])
    );
    let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    assert_eq!(
        strategy["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
    );
    let c = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(c["x-kubernetes-list-type"], "map");
    assert_eq!(c["x-kubernetes-list-map-keys"], json!(["name"]));
    assert_eq!(c["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(c["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Container");
    assert!(
        schemas["io.k8s.api.core.v1.Pod"].is_null(),
        "core kinds are not in apps/v1 roots"
    );
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    let names: Vec<&str> = patch["parameters"]
        .as_array()
        .expect("params")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, vec!["dryRun", "fieldManager", "fieldValidation", "force"]);
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
    assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
    assert!(schemas["io.k8s.api.autoscaling.v1.Scale"].is_object());
    let rbac: Value = serde_json::from_slice(&api.v3("apis/rbac.authorization.k8s.io/v1").expect("doc")).expect("json");
    assert_eq!(
        rbac["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["operationId"],
        "listRbacAuthorizationV1ClusterRole"
    );
    assert!(api.v3("apis/nope/v1").is_none());
}

#[test]
fn expires_is_an_http_date() {
    let e = expires_in_a_year();
    let re = regex::Regex::new(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$").expect("re");
    assert!(re.is_match(&e), "{e}");
}
