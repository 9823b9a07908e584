//! Version, discovery, CRUD and Status errors, chunking, field validation, Table, namespaces, quota.

use crate::client::{check, check_eq, cm, rv, Ctx};
use crate::suite::{case, Case, Needs};
use anyhow::{bail, Result};
use http::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const AM: &str = "[sig-api-machinery]";
const AGG_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGG_V2BETA1: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
const TABLE_ACCEPT: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

pub fn cases() -> Vec<Case> {
    let n = |s: &str| format!("{AM} {s}");
    vec![
        case(&n("server version should find the server version [Conformance]"), server_version),
        case(&n("Discovery should validate PreferredVersion for each APIGroup [Conformance]"), preferred_version),
        case(
            &n("Discovery should locate the groupVersion and a resource within each discovered group [Conformance]"),
            group_versions,
        ),
        case(&n("Discovery should serve the legacy /api APIVersions document"), legacy_api),
        case(
            &n("AggregatedDiscovery should support raw aggregated discovery endpoint Accept headers [Conformance]"),
            aggregated_accept,
        ),
        case(&n("AggregatedDiscovery should support aggregated discovery interface [Conformance]"), aggregated_interface),
        case(&n("API Status errors should return 404 NotFound for a missing object"), not_found),
        case(&n("API Status errors should return 409 AlreadyExists for a duplicate create"), already_exists),
        case(&n("API Status errors should return 409 Conflict for an update with a stale resourceVersion"), conflict),
        case(&n("API Status errors should return 422 Invalid with causes for an invalid object"), invalid),
        case("[sig-node] ConfigMap should run through a ConfigMap lifecycle [Conformance]", configmap_lifecycle),
        case("[sig-node] ConfigMap should fail to create ConfigMap with empty key [Conformance]", configmap_empty_key),
        case(
            &n("Servers with support for API chunking should return chunks of results for list calls [Conformance]"),
            chunking,
        ),
        case(
            &n("Servers with support for API chunking should support continue listing from the last key if the original version has been compacted away, though the list is inconsistent [Slow] [Conformance]"),
            chunking,
        )
        .needs(Needs::Disabled("[Slow] waits for storage compaction; not run")),
        case(&n("FieldValidation should detect unknown and duplicate fields of a typed object [Conformance]"), fv_typed),
        case(&n("FieldValidation should detect unknown metadata fields of a typed object [Conformance]"), fv_metadata),
        case(&n("FieldValidation should honor Strict, Warn and Ignore on create, update and patch"), fv_modes),
        case(
            &n("Servers with support for Table transformation should return a 406 for an unsupported as= media type"),
            table_406,
        ),
        case(&n("Servers with support for Table transformation should return Table for built-in resources"), table_builtin),
        case(&n("Namespaces [Serial] should apply an update to a Namespace [Conformance]"), ns_update),
        case(&n("Namespaces [Serial] should patch a Namespace [Conformance]"), ns_patch),
        case(&n("Namespaces [Serial] should apply changes to a namespace status [Conformance]"), ns_status),
        case(&n("Namespaces [Serial] should apply a finalizer to a Namespace [Conformance]"), ns_finalizer),
        case(
            &n("Namespaces [Serial] should ensure that all services are removed when a namespace is deleted [Conformance]"),
            ns_services_removed,
        )
        .needs(Needs::ControllerManager),
        case(
            &n("Namespaces [Serial] should ensure that all pods are removed when a namespace is deleted [Conformance]"),
            noop,
        )
        .needs(Needs::Disabled("needs a kubelet (running pods); not implemented by this suite yet")),
        case(&n("ResourceQuota should apply changes to a resourcequota status [Conformance]"), rq_status),
        case(&n("ResourceQuota should be able to update and delete ResourceQuota. [Conformance]"), rq_update_delete),
        case(&n("ResourceQuota should manage the lifecycle of a ResourceQuota [Conformance]"), rq_lifecycle),
        case(
            &n("ResourceQuota should create a ResourceQuota and ensure its status is promptly calculated. [Conformance]"),
            rq_promptly_calculated,
        )
        .needs(Needs::ControllerManager),
        case(
            &n("ResourceQuota should create a ResourceQuota and capture the life of a configMap. [Conformance]"),
            rq_configmap_life,
        )
        .needs(Needs::ControllerManager),
        case(
            &n("Garbage collector should delete RS created by deployment when not orphaning [Conformance]"),
            gc_deployment_rs,
        )
        .needs(Needs::ControllerManager),
        case(&n("Garbage collector should orphan pods created by rc if delete options say so [Conformance]"), noop)
            .needs(Needs::Disabled("needs kube-controller-manager and a kubelet; not implemented by this suite yet")),
        case("[Capstan] server version should identify Capstan in gitVersion", capstan_version).needs(Needs::Capstan),
    ]
}

/// Placeholder body for cases that are only registered to be reported as skipped.
async fn noop(_c: Ctx) -> Result<()> {
    bail!("this case needs a component the suite does not drive yet")
}

async fn server_version(c: Ctx) -> Result<()> {
    let v = c.get("/version").await?.expect(200)?;
    for f in ["major", "minor"] {
        let s = v[f].as_str().unwrap_or("");
        let digits = s.trim_end_matches('+');
        check(digits.parse::<u32>().is_ok(), || {
            format!("/version {f} {s:?} is not an integer")
        })?;
    }
    let gv = v["gitVersion"].as_str().unwrap_or("");
    check(regex::Regex::new(r"^v\d+\.\d+\.\d+")?.is_match(gv), || {
        format!("gitVersion {gv:?}")
    })?;
    for f in ["gitCommit", "goVersion", "platform", "buildDate", "compiler"] {
        check(v[f].is_string(), || format!("/version lacks {f}: {v}"))?;
    }
    Ok(())
}

async fn capstan_version(c: Ctx) -> Result<()> {
    let v = c.get("/version").await?.expect(200)?;
    check(v["gitVersion"].as_str().unwrap_or("").contains("capstan"), || {
        format!("{v}")
    })
}

async fn legacy_api(c: Ctx) -> Result<()> {
    let v = c.get("/api").await?.expect(200)?;
    check_eq(&v["kind"], "APIVersions", "kind")?;
    check(
        v["versions"].as_array().is_some_and(|a| a.iter().any(|x| x == "v1")),
        || format!("{v}"),
    )?;
    check(v["serverAddressByClientCIDRs"].is_array(), || {
        format!("serverAddressByClientCIDRs: {v}")
    })
}

async fn preferred_version(c: Ctx) -> Result<()> {
    let list = c.get("/apis").await?.expect(200)?;
    check_eq(&list["kind"], "APIGroupList", "kind")?;
    let groups = list["groups"].as_array().cloned().unwrap_or_default();
    check(!groups.is_empty(), || "no API groups".into())?;
    for g in groups {
        let name = g["name"].as_str().unwrap_or("");
        let one = c.get(&format!("/apis/{name}")).await?.expect(200)?;
        check_eq(&one["kind"], "APIGroup", "kind")?;
        check_eq(
            &one["preferredVersion"],
            g["preferredVersion"].clone(),
            &format!("{name} preferredVersion"),
        )?;
        let pref = &one["preferredVersion"]["groupVersion"];
        check(
            one["versions"]
                .as_array()
                .is_some_and(|vs| vs.iter().any(|v| &v["groupVersion"] == pref)),
            || format!("{name}: preferred {pref} not among versions"),
        )?;
    }
    Ok(())
}

async fn group_versions(c: Ctx) -> Result<()> {
    let list = c.get("/apis").await?.expect(200)?;
    let mut gvs = vec!["v1".to_string()];
    for g in list["groups"].as_array().cloned().unwrap_or_default() {
        for v in g["versions"].as_array().cloned().unwrap_or_default() {
            gvs.push(v["groupVersion"].as_str().unwrap_or("").to_string());
        }
    }
    for gv in &gvs {
        let path = if gv == "v1" {
            "/api/v1".to_string()
        } else {
            format!("/apis/{gv}")
        };
        let doc = c.get(&path).await?.expect(200)?;
        check_eq(&doc["kind"], "APIResourceList", &format!("{path} kind"))?;
        check_eq(&doc["groupVersion"], gv.as_str(), &format!("{path} groupVersion"))?;
    }
    let find = |doc: &Value, name: &str| -> Option<Value> {
        doc["resources"].as_array()?.iter().find(|r| r["name"] == name).cloned()
    };
    let core = c.get("/api/v1").await?.expect(200)?;
    let cmr = find(&core, "configmaps").ok_or_else(|| anyhow::anyhow!("/api/v1 lacks configmaps"))?;
    check_eq(&cmr["kind"], "ConfigMap", "configmaps kind")?;
    check_eq(&cmr["namespaced"], true, "configmaps namespaced")?;
    let apps = c.get("/apis/apps/v1").await?.expect(200)?;
    for r in ["deployments", "deployments/status", "deployments/scale"] {
        check(find(&apps, r).is_some(), || format!("/apis/apps/v1 lacks {r}"))?;
    }
    Ok(())
}

const EXPECTED_GVR: &[(&str, &str, &str)] = &[
    ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
    ("apiregistration.k8s.io", "v1", "apiservices"),
    ("apps", "v1", "deployments"),
    ("authentication.k8s.io", "v1", "tokenreviews"),
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews"),
    ("autoscaling", "v1", "horizontalpodautoscalers"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("batch", "v1", "jobs"),
    ("certificates.k8s.io", "v1", "certificatesigningrequests"),
    ("coordination.k8s.io", "v1", "leases"),
    ("discovery.k8s.io", "v1", "endpointslices"),
    ("events.k8s.io", "v1", "events"),
    ("networking.k8s.io", "v1", "ingresses"),
    ("node.k8s.io", "v1", "runtimeclasses"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("scheduling.k8s.io", "v1", "priorityclasses"),
    ("storage.k8s.io", "v1", "csinodes"),
];

fn gvr_present(doc: &Value, g: &str, v: &str, r: &str) -> bool {
    doc["items"].as_array().is_some_and(|items| {
        items
            .iter()
            .filter(|i| i["metadata"]["name"].as_str().unwrap_or("") == g)
            .any(|i| {
                i["versions"].as_array().is_some_and(|vs| {
                    vs.iter().filter(|x| x["version"] == v).any(|x| {
                        x["resources"]
                            .as_array()
                            .is_some_and(|rs| rs.iter().any(|y| y["resource"] == r))
                    })
                })
            })
    })
}

/// Check an aggregated document and its Content-Type for `version` (v2 or v2beta1).
fn check_aggregated(r: &crate::client::Resp, version: &str, legacy: bool) -> Result<Value> {
    let v = r.expect(200)?;
    let ct = r.header("content-type");
    check(
        ct.contains("g=apidiscovery.k8s.io")
            && ct.contains(&format!("v={version}"))
            && ct.contains("as=APIGroupDiscoveryList"),
        || format!("Content-Type {ct:?} for aggregated {version}"),
    )?;
    check_eq(&v["kind"], "APIGroupDiscoveryList", "kind")?;
    check_eq(&v["apiVersion"], format!("apidiscovery.k8s.io/{version}"), "apiVersion")?;
    if legacy {
        check(gvr_present(&v, "", "v1", "namespaces"), || {
            "aggregated /api lacks v1 namespaces".into()
        })?;
    } else {
        for (g, ver, res) in EXPECTED_GVR {
            check(gvr_present(&v, g, ver, res), || {
                format!("aggregated /apis lacks {g}/{ver} {res}")
            })?;
        }
    }
    Ok(v)
}

async fn aggregated_accept(c: Ctx) -> Result<()> {
    // 1. What the upstream conformance test sends.
    for (path, legacy) in [("/apis", false), ("/api", true)] {
        check_aggregated(&c.get_accept(path, AGG_V2).await?, "v2", legacy)?;
    }
    // 2. kubectl 1.30-1.33: v2, then v2beta1, then plain JSON -> v2.
    let accept_130 = format!("{AGG_V2},{AGG_V2BETA1},application/json");
    for (path, legacy) in [("/apis", false), ("/api", true)] {
        check_aggregated(&c.get_accept(path, &accept_130).await?, "v2", legacy)?;
    }
    // 3. kubectl 1.27-1.29: v2beta1 then plain JSON. Servers that still serve v2beta1 answer with it,
    // others fall back to the legacy document; either way Content-Type must match the body.
    let accept_127 = format!("{AGG_V2BETA1},application/json");
    for (path, legacy) in [("/apis", false), ("/api", true)] {
        let r = c.get_accept(path, &accept_127).await?;
        if r.header("content-type").contains("as=APIGroupDiscoveryList") {
            check_aggregated(&r, "v2beta1", legacy)?;
        } else {
            let v = r.expect(200)?;
            check_eq(
                &v["kind"],
                if legacy { "APIVersions" } else { "APIGroupList" },
                "legacy fallback kind",
            )?;
        }
    }
    Ok(())
}

async fn aggregated_interface(c: Ctx) -> Result<()> {
    // What client-go's AggregatedDiscoveryInterface does: /api and /apis with the aggregated Accept header,
    // then every served GV must carry resources, and every expected GVR must be listed.
    let accept = format!("{AGG_V2},{AGG_V2BETA1},application/json");
    let apis = check_aggregated(&c.get_accept("/apis", &accept).await?, "v2", false)?;
    check_aggregated(&c.get_accept("/api", &accept).await?, "v2", true)?;
    for item in apis["items"].as_array().cloned().unwrap_or_default() {
        for v in item["versions"].as_array().cloned().unwrap_or_default() {
            for r in v["resources"].as_array().cloned().unwrap_or_default() {
                for f in ["resource", "scope", "verbs"] {
                    check(!r[f].is_null(), || {
                        format!("{} {} resource lacks {f}: {r}", item["metadata"]["name"], v["version"])
                    })?;
                }
                check(r["scope"] == "Namespaced" || r["scope"] == "Cluster", || {
                    format!("bad scope in {r}")
                })?;
            }
        }
    }
    Ok(())
}

async fn not_found(c: Ctx) -> Result<()> {
    let v = c
        .get(&format!("{}/missing", c.cms()))
        .await?
        .expect_status(404, "NotFound")?;
    check_eq(&v["message"], "configmaps \"missing\" not found", "message")?;
    check_eq(&v["details"]["name"], "missing", "details.name")?;
    check_eq(&v["details"]["kind"], "configmaps", "details.kind")?;
    let v = c
        .get(&format!("{}/missing", c.ns_path("apps", "v1", "deployments")))
        .await?
        .expect_status(404, "NotFound")?;
    check_eq(&v["message"], "deployments.apps \"missing\" not found", "message")?;
    check_eq(&v["details"]["group"], "apps", "details.group")
}

async fn already_exists(c: Ctx) -> Result<()> {
    let body = cm("dup", json!({}), json!({"a": "b"}));
    c.create(&c.cms(), &body).await?;
    let v = c.post(&c.cms(), &body).await?.expect_status(409, "AlreadyExists")?;
    check_eq(&v["message"], "configmaps \"dup\" already exists", "message")?;
    check_eq(&v["details"]["name"], "dup", "details.name")?;
    check_eq(&v["details"]["kind"], "configmaps", "details.kind")
}

async fn conflict(c: Ctx) -> Result<()> {
    let created = c.create(&c.cms(), &cm("cas", json!({}), json!({"a": "1"}))).await?;
    let path = format!("{}/cas", c.cms());
    let mut first = created.clone();
    first["data"]["a"] = json!("2");
    c.put(&path, &first).await?.expect(200)?;
    let mut stale = created;
    stale["data"]["a"] = json!("3");
    let v = c.put(&path, &stale).await?.expect_status(409, "Conflict")?;
    check_eq(
        &v["message"],
        "Operation cannot be fulfilled on configmaps \"cas\": the object has been modified; please apply your changes to the latest version and try again",
        "message",
    )?;
    check_eq(&v["details"]["kind"], "configmaps", "details.kind")
}

async fn invalid(c: Ctx) -> Result<()> {
    let v = c
        .post(&c.cms(), &cm("Bad_Name", json!({}), json!({})))
        .await?
        .expect_status(422, "Invalid")?;
    let msg = v["message"].as_str().unwrap_or("");
    check(
        msg.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        || format!("message {msg:?}"),
    )?;
    check_eq(&v["details"]["kind"], "ConfigMap", "details.kind")?;
    check_eq(&v["details"]["name"], "Bad_Name", "details.name")?;
    let causes = v["details"]["causes"].as_array().cloned().unwrap_or_default();
    check(
        causes
            .iter()
            .any(|c| c["reason"] == "FieldValueInvalid" && c["field"] == "metadata.name"),
        || format!("causes {causes:?}"),
    )
}

async fn configmap_lifecycle(c: Ctx) -> Result<()> {
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "e2e-cm-test", "labels": {"test-configmap-static": "true"}},
        "data": {"valueName": "value"}});
    c.create(&c.cms(), &body).await?;
    let path = format!("{}/e2e-cm-test", c.cms());
    let patched = c
        .patch(
            &path,
            "application/strategic-merge-patch+json",
            &json!({"metadata": {"labels": {"test-configmap": "patched"}}, "data": {"valueName": "value1"}}),
        )
        .await?
        .expect(200)?;
    check_eq(
        &patched["metadata"]["labels"]["test-configmap"],
        "patched",
        "patched label",
    )?;
    check_eq(&patched["data"]["valueName"], "value1", "patched data")?;
    let all = c
        .get("/api/v1/configmaps?labelSelector=test-configmap-static%3Dtrue")
        .await?
        .expect(200)?;
    check(
        all["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|x| x["metadata"]["namespace"] == c.ns.as_str())),
        || "cluster-wide list by label lacks the ConfigMap".into(),
    )?;
    let coll = c
        .req(
            Method::DELETE,
            &format!("{}?labelSelector=test-configmap-static%3Dtrue", c.cms()),
            &[],
            Vec::new(),
        )
        .await?;
    coll.expect(200)?;
    let left = c
        .get(&format!("{}?labelSelector=test-configmap-static%3Dtrue", c.cms()))
        .await?
        .expect(200)?;
    check(left["items"].as_array().is_some_and(|i| i.is_empty()), || {
        format!("left after deletecollection: {left}")
    })
}

async fn configmap_empty_key(c: Ctx) -> Result<()> {
    let v = c
        .post(&c.cms(), &cm("empty-key", json!({}), json!({"": "value-1"})))
        .await?
        .expect_status(422, "Invalid")?;
    let causes = v["details"]["causes"].as_array().cloned().unwrap_or_default();
    check(causes.iter().any(|c| c["field"] == "data[]"), || {
        format!("causes {causes:?}")
    })
}

async fn chunking(c: Ctx) -> Result<()> {
    let path = c.ns_path("", "v1", "podtemplates");
    let total = 37;
    for i in 0..total {
        let t = json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": format!("template-{i:04}")},
            "template": {"spec": {"containers": [{"name": "test", "image": "registry.k8s.io/pause:3.9"}]}}});
        c.create(&path, &t).await?;
    }
    let mut names = BTreeSet::new();
    let mut cont = String::new();
    let mut first_rv: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = if cont.is_empty() {
            format!("{path}?limit=10")
        } else {
            format!("{path}?limit=10&continue={cont}")
        };
        let page = c.get(&q).await?.expect(200)?;
        pages += 1;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        check(items.len() <= 10, || {
            format!("page has {} items > limit 10", items.len())
        })?;
        let page_rv = page["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
        match &first_rv {
            None => first_rv = Some(page_rv),
            Some(f) => check(*f == page_rv, || format!("page rv {page_rv} != first page rv {f}"))?,
        }
        for it in &items {
            check(
                names.insert(it["metadata"]["name"].as_str().unwrap_or("").to_string()),
                || "duplicate item".into(),
            )?;
        }
        cont = page["metadata"]["continue"].as_str().unwrap_or("").to_string();
        if cont.is_empty() {
            check(page["metadata"]["remainingItemCount"].is_null(), || {
                "remainingItemCount on last page".into()
            })?;
            break;
        }
        check(items.len() == 10, || {
            format!("non-final page has {} items", items.len())
        })?;
        if let Some(rem) = page["metadata"]["remainingItemCount"].as_i64() {
            check(rem as usize == total - names.len(), || {
                format!("remainingItemCount {rem}, seen {}", names.len())
            })?;
        }
        if pages > 10 {
            bail!("too many pages");
        }
    }
    check(names.len() == total, || format!("listed {} of {total}", names.len()))?;
    check(pages == 4, || format!("{pages} pages for {total} items with limit 10"))
}

fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}}})
}

async fn fv_typed(c: Ctx) -> Result<()> {
    let path = c.ns_path("apps", "v1", "deployments");
    // A body with an unknown field and a duplicated field (raw JSON: serde_json cannot express duplicates).
    let raw = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"deployment","labels":{"app":"nginx"}},
        "spec":{"unknownField":"foo","replicas":0,"replicas":0,"selector":{"matchLabels":{"app":"nginx"}},
        "template":{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","image":"nginx:latest"}]}}}}"#;
    let r = c
        .req(
            Method::POST,
            &format!("{path}?fieldValidation=Strict"),
            &[("Content-Type", "application/json")],
            raw.as_bytes().to_vec(),
        )
        .await?;
    let v = r.expect_status(400, "BadRequest")?;
    let msg = v["message"].as_str().unwrap_or("");
    // Upstream's decoder reports the problems in the order it meets them in the body.
    check(
        msg.contains(r#"strict decoding error: unknown field "spec.unknownField", duplicate field "spec.replicas""#),
        || format!("message {msg:?}"),
    )
}

async fn fv_metadata(c: Ctx) -> Result<()> {
    let path = c.ns_path("apps", "v1", "deployments");
    let mut d = deployment("deployment");
    d["metadata"]["unknownMeta"] = json!("foo");
    let r = c.post(&format!("{path}?fieldValidation=Strict"), &d).await?;
    let v = r.expect_status(400, "BadRequest")?;
    let msg = v["message"].as_str().unwrap_or("");
    check(msg.contains(r#"unknown field "metadata.unknownMeta""#), || {
        format!("message {msg:?}")
    })
}

async fn fv_modes(c: Ctx) -> Result<()> {
    let path = c.cms();
    let mut body = cm("fv", json!({}), json!({"a": "b"}));
    body["spec"] = json!({"foo": 1});
    let unknown = r#"unknown field "spec""#;
    // Create.
    c.post(&format!("{path}?fieldValidation=Strict"), &body)
        .await?
        .expect_status(400, "BadRequest")?;
    let r = c.post(&format!("{path}?fieldValidation=Warn"), &body).await?;
    r.expect(201)?;
    check(r.warnings().iter().any(|w| w.contains(unknown)), || {
        format!("Warn create warnings {:?}", r.warnings())
    })?;
    body["metadata"]["name"] = json!("fv2");
    let r = c.post(&format!("{path}?fieldValidation=Ignore"), &body).await?;
    let created = r.expect(201)?;
    check(r.warnings().is_empty(), || {
        format!("Ignore create warnings {:?}", r.warnings())
    })?;
    check(created["spec"].is_null(), || "unknown field persisted".into())?;
    // Update.
    let mut upd = created.clone();
    upd["spec"] = json!({"foo": 2});
    let item = format!("{path}/fv2");
    c.put(&format!("{item}?fieldValidation=Strict"), &upd)
        .await?
        .expect_status(400, "BadRequest")?;
    let r = c.put(&format!("{item}?fieldValidation=Warn"), &upd).await?;
    r.expect(200)?;
    check(r.warnings().iter().any(|w| w.contains(unknown)), || {
        format!("Warn update warnings {:?}", r.warnings())
    })?;
    // Patch (merge patch): upstream's patcher reports the patched object, 422 on `patch`.
    let p = json!({"spec": {"foo": 3}});
    let v = c
        .patch(
            &format!("{item}?fieldValidation=Strict"),
            "application/merge-patch+json",
            &p,
        )
        .await?
        .expect_status(422, "Invalid")?;
    check_eq(&v["details"]["causes"][0]["field"], "patch", "cause field")?;
    check(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(" \"\" is invalid: patch: Invalid value: ") && m.ends_with(unknown)),
        || format!("strict patch message {}", v["message"]),
    )?;
    let r = c
        .patch(
            &format!("{item}?fieldValidation=Warn"),
            "application/merge-patch+json",
            &p,
        )
        .await?;
    r.expect(200)?;
    check(r.warnings().iter().any(|w| w.contains(unknown)), || {
        format!("Warn patch warnings {:?}", r.warnings())
    })?;
    let r = c
        .patch(
            &format!("{item}?fieldValidation=Ignore"),
            "application/merge-patch+json",
            &p,
        )
        .await?;
    r.expect(200)?;
    check(r.warnings().is_empty(), || {
        format!("Ignore patch warnings {:?}", r.warnings())
    })
}

async fn table_406(c: Ctx) -> Result<()> {
    c.create(&c.cms(), &cm("t", json!({}), json!({}))).await?;
    let r = c
        .get_accept(&c.cms(), "application/json;as=NotATable;v=v1;g=meta.k8s.io")
        .await?;
    r.expect_status(406, "NotAcceptable")?;
    let r = c
        .get_accept(
            &format!("{}/t", c.cms()),
            "application/json;as=Table;v=v9;g=meta.k8s.io",
        )
        .await?;
    r.expect_status(406, "NotAcceptable")?;
    Ok(())
}

async fn table_builtin(c: Ctx) -> Result<()> {
    c.create(&c.cms(), &cm("tbl", json!({}), json!({"a": "1", "b": "2"})))
        .await?;
    let r = c.get_accept(&c.cms(), TABLE_ACCEPT).await?;
    let t = r.expect(200)?;
    check_eq(&t["kind"], "Table", "kind")?;
    check_eq(&t["apiVersion"], "meta.k8s.io/v1", "apiVersion")?;
    let cols: Vec<String> = t["columnDefinitions"]
        .as_array()
        .map(|a| a.iter().map(|c| c["name"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default();
    check(cols.first().map(String::as_str) == Some("Name"), || {
        format!("columns {cols:?}")
    })?;
    check(
        cols.iter().any(|c| c == "Data") && cols.iter().any(|c| c == "Age"),
        || format!("columns {cols:?}"),
    )?;
    let rows = t["rows"].as_array().cloned().unwrap_or_default();
    let row = rows
        .iter()
        .find(|r| r["cells"][0] == "tbl")
        .ok_or_else(|| anyhow::anyhow!("no row for tbl: {t}"))?;
    check_eq(&row["cells"][1], 2, "Data cell")?;
    check_eq(&row["object"]["kind"], "PartialObjectMetadata", "row object kind")?;
    // Single object.
    let one = c
        .get_accept(&format!("{}/tbl", c.cms()), TABLE_ACCEPT)
        .await?
        .expect(200)?;
    check_eq(&one["kind"], "Table", "kind")?;
    check(one["rows"].as_array().is_some_and(|r| r.len() == 1), || {
        format!("{one}")
    })
}

fn ns_path(c: &Ctx) -> String {
    format!("/api/v1/namespaces/{}", c.ns)
}

async fn ns_update(c: Ctx) -> Result<()> {
    let mut ns = c.get(&ns_path(&c)).await?.expect(200)?;
    ns["metadata"]["labels"]["e2e-update"] = json!("updated");
    let v = c.put(&ns_path(&c), &ns).await?.expect(200)?;
    check_eq(&v["metadata"]["labels"]["e2e-update"], "updated", "label")?;
    let v = c.get(&ns_path(&c)).await?.expect(200)?;
    check_eq(&v["metadata"]["labels"]["e2e-update"], "updated", "label after GET")
}

async fn ns_patch(c: Ctx) -> Result<()> {
    let p = json!({"metadata": {"labels": {"testLabel": "testValue"}}});
    c.patch(&ns_path(&c), "application/strategic-merge-patch+json", &p)
        .await?
        .expect(200)?;
    let v = c.get(&ns_path(&c)).await?.expect(200)?;
    check_eq(&v["metadata"]["labels"]["testLabel"], "testValue", "patched label")?;
    check_eq(
        &v["metadata"]["labels"]["e2e-framework"],
        "capstan-conformance",
        "kept label",
    )
}

async fn ns_status(c: Ctx) -> Result<()> {
    let st = c.get(&format!("{}/status", ns_path(&c))).await?.expect(200)?;
    check_eq(&st["kind"], "Namespace", "kind")?;
    check_eq(&st["status"]["phase"], "Active", "phase")?;
    let cond = json!({"type": "StatusPatch", "status": "True", "reason": "E2E", "message": "Patched by an e2e test"});
    let p = json!({"status": {"conditions": [cond]}});
    let v = c
        .patch(&format!("{}/status", ns_path(&c)), "application/merge-patch+json", &p)
        .await?
        .expect(200)?;
    check(
        v["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|x| x["type"] == "StatusPatch")),
        || format!("patched status {}", v["status"]),
    )?;
    // A status patch may change labels (only spec is the main resource's), as upstream.
    let p = json!({"metadata": {"labels": {"via-status": "yes"}}});
    let v = c
        .patch(&format!("{}/status", ns_path(&c)), "application/merge-patch+json", &p)
        .await?
        .expect(200)?;
    check_eq(
        &v["metadata"]["labels"]["via-status"],
        "yes",
        "label set through status",
    )?;
    // Update via PUT on /status.
    let mut cur = c.get(&ns_path(&c)).await?.expect(200)?;
    cur["status"]["conditions"] =
        json!([{"type": "StatusUpdate", "status": "True", "reason": "E2E", "message": "Updated by an e2e test"}]);
    let v = c.put(&format!("{}/status", ns_path(&c)), &cur).await?.expect(200)?;
    check(
        v["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|x| x["type"] == "StatusUpdate")),
        || format!("updated status {}", v["status"]),
    )
}

async fn ns_finalizer(c: Ctx) -> Result<()> {
    const FAKE: &str = "e2e.example.com/fakeFinalizer";
    let mut ns = c.get(&ns_path(&c)).await?.expect(200)?;
    let before = ns["spec"]["finalizers"].as_array().cloned().unwrap_or_default();
    let mut with = before.clone();
    with.push(json!(FAKE));
    ns["spec"]["finalizers"] = json!(with);
    let v = c.put(&format!("{}/finalize", ns_path(&c)), &ns).await?.expect(200)?;
    check(
        v["spec"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == FAKE)),
        || format!("finalize result lacks {FAKE}: {}", v["spec"]),
    )?;
    // A plain update cannot change spec.finalizers.
    let mut plain = c.get(&ns_path(&c)).await?.expect(200)?;
    plain["spec"]["finalizers"] = json!(before.clone());
    let v = c.put(&ns_path(&c), &plain).await?.expect(200)?;
    check(
        v["spec"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == FAKE)),
        || "plain update removed a finalizer".into(),
    )?;
    // Remove it again through /finalize.
    let mut cur = c.get(&ns_path(&c)).await?.expect(200)?;
    cur["spec"]["finalizers"] = json!(before);
    let v = c.put(&format!("{}/finalize", ns_path(&c)), &cur).await?.expect(200)?;
    check(
        !v["spec"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == FAKE)),
        || "finalizer not removed".into(),
    )
}

fn quota(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "labels": {"e2e-rq": name}},
        "spec": {"hard": {"cpu": "500m", "memory": "500Mi"}}})
}

async fn rq_status(c: Ctx) -> Result<()> {
    let path = c.ns_path("", "v1", "resourcequotas");
    let created = c.create(&path, &quota("e2e-rq-status")).await?;
    check_eq(&created["spec"]["hard"]["cpu"], "500m", "spec.hard.cpu")?;
    let item = format!("{path}/e2e-rq-status");
    let mut upd = created.clone();
    upd["status"] = json!({"hard": {"cpu": "500m", "memory": "500Mi"}, "used": {"cpu": "0", "memory": "0"}});
    let v = c.put(&format!("{item}/status"), &upd).await?.expect(200)?;
    check_eq(&v["status"]["hard"]["cpu"], "500m", "status.hard.cpu after update")?;
    let p = json!({"status": {"hard": {"cpu": "1", "memory": "1Gi"}}});
    let v = c
        .patch(&format!("{item}/status"), "application/merge-patch+json", &p)
        .await?
        .expect(200)?;
    check_eq(&v["status"]["hard"]["cpu"], "1", "status.hard.cpu after patch")?;
    check_eq(&v["spec"]["hard"]["cpu"], "500m", "spec untouched by status patch")?;
    let g = c.get(&format!("{item}/status")).await?.expect(200)?;
    check_eq(&g["kind"], "ResourceQuota", "GET status kind")
}

async fn rq_update_delete(c: Ctx) -> Result<()> {
    let path = c.ns_path("", "v1", "resourcequotas");
    c.create(&path, &quota("test-quota")).await?;
    let item = format!("{path}/test-quota");
    let mut q = c.get(&item).await?.expect(200)?;
    q["spec"]["hard"]["cpu"] = json!("1");
    let v = c.put(&item, &q).await?.expect(200)?;
    check_eq(&v["spec"]["hard"]["cpu"], "1", "updated spec.hard.cpu")?;
    let v = c.get(&item).await?.expect(200)?;
    check_eq(&v["spec"]["hard"]["cpu"], "1", "spec.hard.cpu after GET")?;
    check_eq(&v["spec"]["hard"]["memory"], "500Mi", "spec.hard.memory after GET")?;
    c.delete(&item).await?.expect(200)?;
    c.get(&item).await?.expect_status(404, "NotFound")?;
    Ok(())
}

async fn rq_lifecycle(c: Ctx) -> Result<()> {
    let path = c.ns_path("", "v1", "resourcequotas");
    let created = c.create(&path, &quota("e2e-quota")).await?;
    let list = c
        .get(&format!("{path}?labelSelector=e2e-rq%3De2e-quota"))
        .await?
        .expect(200)?;
    check(list["items"].as_array().is_some_and(|i| i.len() == 1), || {
        format!("list: {list}")
    })?;
    let all = c
        .get("/api/v1/resourcequotas?labelSelector=e2e-rq%3De2e-quota")
        .await?
        .expect(200)?;
    check(
        all["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|x| x["metadata"]["namespace"] == c.ns.as_str())),
        || "not in the all-namespaces list".into(),
    )?;
    let p = json!({"metadata": {"labels": {"e2e-rq-patched": "true"}}, "spec": {"hard": {"memory": "750Mi"}}});
    let v = c
        .patch(
            &format!("{path}/e2e-quota"),
            "application/strategic-merge-patch+json",
            &p,
        )
        .await?
        .expect(200)?;
    check_eq(&v["spec"]["hard"]["memory"], "750Mi", "patched memory")?;
    check_eq(&v["spec"]["hard"]["cpu"], "500m", "kept cpu")?;
    check(rv(&v) != rv(&created), || "resourceVersion did not change".into())?;
    let r = c
        .req(
            Method::DELETE,
            &format!("{path}?labelSelector=e2e-rq-patched%3Dtrue"),
            &[],
            Vec::new(),
        )
        .await?;
    r.expect(200)?;
    let left = c
        .get(&format!("{path}?labelSelector=e2e-rq%3De2e-quota"))
        .await?
        .expect(200)?;
    check(left["items"].as_array().is_some_and(|i| i.is_empty()), || {
        format!("left: {left}")
    })
}

/// Poll `f` every 500ms until it returns `Some`, for at most `secs` seconds.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if std::time::Instant::now() > deadline {
            bail!("timed out after {secs}s waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn rq_promptly_calculated(c: Ctx) -> Result<()> {
    let path = c.ns_path("", "v1", "resourcequotas");
    let q = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "test-quota"},
        "spec": {"hard": {"configmaps": "10", "secrets": "10"}}});
    c.create(&path, &q).await?;
    let item = format!("{path}/test-quota");
    eventually(60, "status.used to be calculated", || async {
        let v = c.get(&item).await?.expect(200)?;
        Ok((v["status"]["hard"]["configmaps"] == "10" && !v["status"]["used"]["configmaps"].is_null()).then_some(()))
    })
    .await
}

async fn rq_configmap_life(c: Ctx) -> Result<()> {
    let path = c.ns_path("", "v1", "resourcequotas");
    let q = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "test-quota"},
        "spec": {"hard": {"configmaps": "10"}}});
    c.create(&path, &q).await?;
    let item = format!("{path}/test-quota");
    let used = |c: Ctx, item: String| async move {
        let v = c.get(&item).await?.expect(200)?;
        let s = v["status"]["used"]["configmaps"].as_str().unwrap_or("").to_string();
        anyhow::Ok(s.parse::<i64>().ok())
    };
    let base = eventually(60, "initial usage", || used(c.clone(), item.clone())).await?;
    c.create(&c.cms(), &cm("test-configmap", json!({}), json!({"a": "b"})))
        .await?;
    eventually(60, "usage to count the ConfigMap", || async {
        Ok(used(c.clone(), item.clone()).await?.filter(|n| *n == base + 1))
    })
    .await?;
    c.delete(&format!("{}/test-configmap", c.cms())).await?.expect(200)?;
    eventually(60, "usage to drop after delete", || async {
        Ok(used(c.clone(), item.clone()).await?.filter(|n| *n == base))
    })
    .await?;
    Ok(())
}

async fn ns_services_removed(c: Ctx) -> Result<()> {
    let ns = format!("{}-nsdel", c.ns);
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    c.create("/api/v1/namespaces", &body).await?;
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "test-service"},
        "spec": {"ports": [{"port": 80, "targetPort": 80}], "selector": {"foo": "bar"}}});
    c.create(&format!("/api/v1/namespaces/{ns}/services"), &svc).await?;
    c.delete(&format!("/api/v1/namespaces/{ns}")).await?.expect(200)?;
    eventually(120, "the namespace to be removed", || async {
        Ok((c.get(&format!("/api/v1/namespaces/{ns}")).await?.status == 404).then_some(()))
    })
    .await?;
    c.get(&format!("/api/v1/namespaces/{ns}/services/test-service"))
        .await?
        .expect_status(404, "NotFound")?;
    Ok(())
}

async fn gc_deployment_rs(c: Ctx) -> Result<()> {
    let deps = c.ns_path("apps", "v1", "deployments");
    let rss = c.ns_path("apps", "v1", "replicasets");
    c.create(&deps, &deployment("gc-deploy")).await?;
    eventually(60, "the deployment to create a ReplicaSet", || async {
        let l = c.get(&rss).await?.expect(200)?;
        Ok(l["items"].as_array().is_some_and(|i| !i.is_empty()).then_some(()))
    })
    .await?;
    let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
    c.send_json(Method::DELETE, &format!("{deps}/gc-deploy"), &opts)
        .await?
        .expect(200)?;
    eventually(60, "the ReplicaSet to be garbage collected", || async {
        let l = c.get(&rss).await?.expect(200)?;
        Ok(l["items"].as_array().is_some_and(|i| i.is_empty()).then_some(()))
    })
    .await
}
