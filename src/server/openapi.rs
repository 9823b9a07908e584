//! `/openapi/v2` (JSON, and gnostic protobuf, which kubectl ≤ 1.28 reads) and `/openapi/v3`
//! (index + one document per group-version), rendered from the built-in schemas
//! (`crate::api::schema`): definitions with `x-kubernetes-group-version-kind`, patch and list
//! metadata, and per resource the get/list/create/replace/patch/delete operations with the
//! `dryRun`/`fieldManager`/`fieldValidation`/`force` parameters (kubectl only uses server-side
//! validation when they are advertised).
//!
//! Nothing is built at startup: each document is rendered on first request and cached.
//! v3 documents are addressed by `?hash=<ETag>`; a request with that hash gets the immutable
//! caching headers upstream sends, a stale hash a 301 to the current one.

use super::App;
use crate::api::schema::openapi_json::{closure, definitions, Dialect};
use crate::api::schema::{self, Schemas};
use crate::api::ResourceDef;
use crate::codec::encode::{bytes_response, error_response};
use crate::error::{ApiError, ApiResult};
use crate::request::Request;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};
use warp::reply::Response;

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

/// The documents of one set of rows; replaced as a whole when CRDs change the rows.
pub struct OpenApi {
    docs: std::sync::RwLock<Arc<Docs>>,
}

impl OpenApi {
    pub fn build(rows: &[ResourceDef]) -> OpenApi {
        OpenApi {
            docs: std::sync::RwLock::new(Arc::new(Docs::build(rows))),
        }
    }

    /// New rows (built-ins plus served CRD versions): documents are rendered afresh on demand.
    pub fn set_rows(&self, rows: &[ResourceDef]) {
        *self.docs.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Docs::build(rows));
    }

    fn current(&self) -> Arc<Docs> {
        self.docs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn v3(&self, gv: &str) -> Option<Bytes> {
        self.current().v3(gv)
    }

    pub fn hashes(&self) -> BTreeMap<String, String> {
        self.current().hashes().clone()
    }

    pub fn index(&self) -> Bytes {
        self.current().index()
    }

    pub fn v2_json(&self) -> Bytes {
        self.current().v2_json()
    }

    pub fn v2_proto(&self) -> (Bytes, String) {
        self.current().v2_proto()
    }
}

struct Docs {
    rows: Vec<ResourceDef>,
    /// `api/v1`, `apis/apps/v1` → hash (content hash of the document), computed on first use.
    hashes: OnceLock<BTreeMap<String, String>>,
    index: OnceLock<Bytes>,
    /// Rendered v3 documents (only those requested).
    docs: Mutex<BTreeMap<String, Bytes>>,
    /// `/openapi/v2`: JSON, gnostic protobuf and the ETag, rendered together once.
    v2: OnceLock<(Bytes, Bytes, String)>,
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `apps` → `Apps`, `rbac.authorization.k8s.io` → `RbacAuthorization`, core → `Core`.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let g = group.strip_suffix(".k8s.io").unwrap_or(group);
    g.split('.')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Paths

fn query_param(d: Dialect, name: &str, description: &str, ty: &str) -> Value {
    match d {
        Dialect::V2 => {
            json!({"uniqueItems": true, "type": ty, "description": description, "name": name, "in": "query"})
        }
        Dialect::V3 => {
            json!({"name": name, "in": "query", "description": description, "schema": {"type": ty, "uniqueItems": true}})
        }
    }
}

fn write_params(d: Dialect, patch: bool) -> Vec<Value> {
    let mut p = vec![
        query_param(d, "dryRun", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed", "string"),
        query_param(d, "fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.", "string"),
        query_param(d, "fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.", "string"),
    ];
    if patch {
        p.push(query_param(d, "force", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.", "boolean"));
    }
    p
}

fn path_param(d: Dialect, name: &str, description: &str) -> Value {
    match d {
        Dialect::V2 => {
            json!({"uniqueItems": true, "type": "string", "description": description, "name": name, "in": "path", "required": true})
        }
        Dialect::V3 => {
            json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "uniqueItems": true}})
        }
    }
}

fn ok_response(d: Dialect, def: Option<&str>, code: &str) -> Value {
    let mut r = Map::new();
    r.insert("description".into(), "OK".into());
    if let Some(def) = def {
        match d {
            Dialect::V2 => {
                r.insert("schema".into(), json!({"$ref": d.reference(def)}));
            }
            Dialect::V3 => {
                let s = json!({"schema": {"$ref": d.reference(def)}});
                // Protobuf only where it is served: built-in kinds (`io.k8s.…`), not custom
                // resources.
                let content = if def.starts_with("io.k8s.") {
                    json!({"application/json": s, "application/yaml": s, "application/vnd.kubernetes.protobuf": s})
                } else {
                    json!({"application/json": s, "application/yaml": s})
                };
                r.insert("content".into(), content);
            }
        }
    }
    let mut m = Map::new();
    m.insert(code.into(), Value::Object(r));
    m.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(m)
}

struct OpSpec<'a> {
    id: String,
    action: &'a str,
    kind: (&'a str, &'a str, &'a str),
    description: String,
    params: Vec<Value>,
    body: Option<(&'a str, bool)>,
    response: Option<&'a str>,
    code: &'a str,
}

fn operation(d: Dialect, o: OpSpec<'_>, tag: &str) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), o.description.into());
    m.insert("operationId".into(), o.id.into());
    m.insert("tags".into(), json!([tag]));
    let mut params = o.params;
    if let Some((def, patch)) = o.body {
        match d {
            Dialect::V2 => {
                let schema = if patch {
                    json!({"$ref": d.reference(&format!("{META}.Patch"))})
                } else {
                    json!({"$ref": d.reference(def)})
                };
                params.insert(
                    0,
                    json!({"name": "body", "in": "body", "required": true, "schema": schema}),
                );
                if patch {
                    m.insert(
                        "consumes".into(),
                        json!([
                            "application/json-patch+json",
                            "application/merge-patch+json",
                            "application/strategic-merge-patch+json",
                            "application/apply-patch+yaml"
                        ]),
                    );
                }
            }
            Dialect::V3 => {
                let content = if patch {
                    let s = json!({"schema": {"$ref": d.reference(&format!("{META}.Patch"))}});
                    json!({"application/json-patch+json": s, "application/merge-patch+json": s, "application/strategic-merge-patch+json": s, "application/apply-patch+yaml": s})
                } else {
                    let s = json!({"schema": {"$ref": d.reference(def)}});
                    json!({"*/*": s})
                };
                m.insert("requestBody".into(), json!({"required": true, "content": content}));
            }
        }
    }
    if !params.is_empty() {
        m.insert("parameters".into(), Value::Array(params));
    }
    m.insert("responses".into(), ok_response(d, o.response, o.code));
    m.insert("x-kubernetes-action".into(), o.action.into());
    let (g, v, k) = o.kind;
    m.insert(
        "x-kubernetes-group-version-kind".into(),
        json!({"group": g, "kind": k, "version": v}),
    );
    Value::Object(m)
}

/// The paths of the resources of `rows` (one group-version).
fn paths(d: Dialect, s: &Schemas, rows: &[&ResourceDef], paths: &mut Map<String, Value>) {
    for r in rows {
        let Some(def) = s.def_name(r.group, r.version, r.kind) else {
            continue;
        };
        let list_def = s.def_name(r.group, r.version, &format!("{}List", r.kind));
        let gvk = (r.group, r.version, r.kind);
        let tag = format!(
            "{}_{}",
            r.group.split('.').next().filter(|g| !g.is_empty()).unwrap_or("core"),
            r.version
        );
        let prefix = format!("{}{}", group_camel(r.group), upper_first(r.version));
        let ns = if r.namespaced() { "Namespaced" } else { "" };
        let gv = gv_path(r.group, r.version);
        let base = if r.namespaced() {
            format!("/{gv}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("/{gv}/{}", r.plural)
        };
        let mut path_params = vec![];
        if r.namespaced() {
            path_params.push(path_param(
                d,
                "namespace",
                "object name and auth scope, such as for teams and projects",
            ));
        }
        let k = r.kind;
        let op = |id: &str,
                  action: &'static str,
                  desc: String,
                  params: Vec<Value>,
                  body: Option<(&'static str, bool)>,
                  resp: Option<&str>,
                  code: &'static str| {
            operation(
                d,
                OpSpec {
                    id: format!("{id}{prefix}{ns}{k}"),
                    action,
                    kind: gvk,
                    description: desc,
                    params,
                    body: body.map(|(_, p)| (def, p)),
                    response: resp.map(|_| def),
                    code,
                },
                &tag,
            )
        };
        // Collection.
        let mut coll = Map::new();
        if r.has_verb("list") {
            let mut o = op(
                "list",
                "list",
                format!("list or watch objects of kind {k}"),
                vec![],
                None,
                None,
                "200",
            );
            if let (Some(l), Some(obj)) = (list_def, o.as_object_mut()) {
                obj.insert("responses".into(), ok_response(d, Some(l), "200"));
            }
            coll.insert("get".into(), o);
        }
        if r.has_verb("create") {
            coll.insert(
                "post".into(),
                op(
                    "create",
                    "post",
                    format!("create a {k}"),
                    write_params(d, false),
                    Some(("", false)),
                    Some(""),
                    "201",
                ),
            );
        }
        if r.has_verb("deletecollection") {
            let id = format!("deleteCollection{prefix}{ns}{k}");
            let mut o = op(
                "delete",
                "deletecollection",
                format!("delete collection of {k}"),
                write_params(d, false),
                None,
                None,
                "200",
            );
            if let Some(obj) = o.as_object_mut() {
                obj.insert("operationId".into(), id.into());
                obj.insert(
                    "responses".into(),
                    ok_response(d, Some(&format!("{META}.Status")), "200"),
                );
            }
            coll.insert("delete".into(), o);
        }
        if !coll.is_empty() {
            if !path_params.is_empty() {
                coll.insert("parameters".into(), Value::Array(path_params.clone()));
            }
            paths.insert(base.clone(), Value::Object(coll));
        }
        // Item.
        let mut item = Map::new();
        if r.has_verb("get") {
            item.insert(
                "get".into(),
                op(
                    "read",
                    "get",
                    format!("read the specified {k}"),
                    vec![],
                    None,
                    Some(""),
                    "200",
                ),
            );
        }
        if r.has_verb("update") {
            item.insert(
                "put".into(),
                op(
                    "replace",
                    "put",
                    format!("replace the specified {k}"),
                    write_params(d, false),
                    Some(("", false)),
                    Some(""),
                    "200",
                ),
            );
        }
        if r.has_verb("patch") {
            item.insert(
                "patch".into(),
                op(
                    "patch",
                    "patch",
                    format!("partially update the specified {k}"),
                    write_params(d, true),
                    Some(("", true)),
                    Some(""),
                    "200",
                ),
            );
        }
        if r.has_verb("delete") {
            item.insert(
                "delete".into(),
                op(
                    "delete",
                    "delete",
                    format!("delete a {k}"),
                    write_params(d, false),
                    None,
                    Some(""),
                    "200",
                ),
            );
        }
        if !item.is_empty() {
            let mut pp = vec![path_param(d, "name", &format!("name of the {k}"))];
            pp.extend(path_params.iter().cloned());
            item.insert("parameters".into(), Value::Array(pp));
            paths.insert(format!("{base}/{{name}}"), Value::Object(item));
        }
        // status / scale.
        for sub in r.subresources {
            if !matches!(sub.name, "status" | "scale") {
                continue;
            }
            let (sg, sv, sk) = match sub.response {
                Some(g) => (g.group, g.version, g.kind),
                None => gvk,
            };
            let Some(sdef) = s.def_name(sg, sv, sk) else { continue };
            let suffix = upper_first(sub.name);
            let mk = |verb: &str, action: &str, params: Vec<Value>, body: Option<bool>| {
                operation(
                    d,
                    OpSpec {
                        id: format!("{verb}{prefix}{ns}{k}{suffix}"),
                        action,
                        kind: (sg, sv, sk),
                        description: format!("{action} {} of the specified {k}", sub.name),
                        params,
                        body: body.map(|p| (sdef, p)),
                        response: Some(sdef),
                        code: "200",
                    },
                    &tag,
                )
            };
            let mut m = Map::new();
            m.insert("get".into(), mk("read", "get", vec![], None));
            m.insert("put".into(), mk("replace", "put", write_params(d, false), Some(false)));
            m.insert("patch".into(), mk("patch", "patch", write_params(d, true), Some(true)));
            let mut pp = vec![path_param(d, "name", &format!("name of the {sk}"))];
            pp.extend(path_params.iter().cloned());
            m.insert("parameters".into(), Value::Array(pp));
            paths.insert(format!("{base}/{{name}}/{}", sub.name), Value::Object(m));
        }
    }
}

fn roots_of(s: &Schemas, rows: &[&ResourceDef]) -> Vec<String> {
    let mut roots = vec![
        format!("{META}.Status"),
        format!("{META}.DeleteOptions"),
        format!("{META}.Patch"),
    ];
    for r in rows {
        let kinds = std::iter::once((r.group, r.version, r.kind.to_string()))
            .chain(std::iter::once((r.group, r.version, format!("{}List", r.kind))))
            .chain(
                r.subresources
                    .iter()
                    .filter_map(|sub| sub.response.map(|g| (g.group, g.version, g.kind.to_string()))),
            );
        for (g, v, k) in kinds {
            if let Some(d) = s.def_name(g, v, &k) {
                roots.push(d.to_string());
            }
        }
    }
    roots
}

fn version() -> String {
    super::version_info()["gitVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// One `/openapi/v3/<gv>` document.
fn v3_doc(rows: &[&ResourceDef]) -> Bytes {
    let s = schema::builtin();
    let mut p = Map::new();
    paths(Dialect::V3, s, rows, &mut p);
    let names = closure(
        s,
        roots_of(s, rows)
            .into_iter()
            .chain(crate::apiext::openapi::meta_roots(rows)),
    );
    let mut defs = definitions(s, Dialect::V3, &names);
    // Custom resources: their CRD's schema.
    crate::apiext::openapi::extend(true, rows, &mut p, &mut defs);
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": version()},
        "paths": p,
        "components": {"schemas": defs},
    });
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
}

fn v2_value(rows: &[ResourceDef]) -> Value {
    let s = schema::builtin();
    let refs: Vec<&ResourceDef> = rows.iter().collect();
    let mut p = Map::new();
    paths(Dialect::V2, s, &refs, &mut p);
    let names: BTreeSet<String> = s.names().cloned().collect();
    let mut defs = definitions(s, Dialect::V2, &names);
    crate::apiext::openapi::extend(false, &refs, &mut p, &mut defs);
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version()},
        "paths": p,
        "definitions": defs,
    })
}

// ---------------------------------------------------------------------------------------------
// gnostic protobuf (openapi.v2.Document)

/// The gnostic OpenAPIv2 messages are written with the shared wire writer.
type Pb = crate::util::protowire::Writer;

fn pb(f: impl FnOnce(&mut Pb)) -> Pb {
    let mut p = Pb::default();
    f(&mut p);
    p
}

/// `NamedAny{name, Any{yaml}}`; JSON is valid YAML, which is what kubectl parses.
fn named_any(name: &str, v: &Value) -> Pb {
    let yaml = match v {
        Value::String(s) => format!("{s}\n"),
        other => format!("{other}\n"),
    };
    pb(|na| {
        na.string(1, name).msg(
            2,
            pb(|any| {
                any.string(2, &yaml);
            }),
        );
    })
}

/// gnostic `Schema` from a v2 JSON schema.
fn schema_pb(v: &Value) -> Pb {
    let mut p = Pb::default();
    let Some(o) = v.as_object() else { return p };
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    if let Some(r) = s("$ref") {
        p.string(1, r);
    }
    if let Some(f) = s("format") {
        p.string(2, f);
    }
    if let Some(d) = s("description") {
        p.string(4, d);
    }
    if let Some(req) = o.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            p.string(19, r);
        }
    }
    if let Some(a) = o.get("additionalProperties") {
        p.msg(
            21,
            pb(|ap| {
                ap.msg(1, schema_pb(a));
            }),
        );
    }
    if let Some(t) = s("type") {
        p.msg(
            22,
            pb(|ti| {
                ti.string(1, t);
            }),
        );
    }
    if let Some(i) = o.get("items") {
        p.msg(
            23,
            pb(|ii| {
                ii.msg(1, schema_pb(i));
            }),
        );
    }
    if let Some(all) = o.get("allOf").and_then(Value::as_array) {
        for a in all {
            p.msg(24, schema_pb(a));
        }
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        p.msg(
            25,
            pb(|pp| {
                for (k, pv) in props {
                    pp.msg(
                        1,
                        pb(|ns| {
                            ns.string(1, k).msg(2, schema_pb(pv));
                        }),
                    );
                }
            }),
        );
    }
    for (k, ev) in o.iter().filter(|(k, _)| k.starts_with("x-")) {
        p.msg(31, named_any(k, ev));
    }
    p
}

fn param_pb(v: &Value) -> Pb {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
    let inner = match s("in") {
        "body" => pb(|bp| {
            bp.string(2, s("name")).string(3, "body").bool(4, true);
            if let Some(sc) = v.get("schema") {
                bp.msg(5, schema_pb(sc));
            }
        }),
        where_ => {
            // NonBodyParameter: query = 3, path = 4 (both: required 1, in 2, description 3, name 4,
            // type 5|6, unique_items 19|20).
            let (field, ty_f, uniq_f) = if where_ == "path" { (4, 5, 19) } else { (3, 6, 20) };
            let sub = pb(|q| {
                if v.get("required").and_then(Value::as_bool) == Some(true) {
                    q.bool(1, true);
                }
                q.string(2, where_).string(3, s("description")).string(4, s("name"));
                q.string(ty_f, s("type")).bool(uniq_f, true);
            });
            pb(|nb| {
                nb.msg(
                    2,
                    pb(|n| {
                        n.msg(field, sub);
                    }),
                );
            })
        }
    };
    // ParametersItem{parameter=1: Parameter{body=1 | non_body=2}}
    let is_body = s("in") == "body";
    pb(|item| {
        item.msg(
            1,
            pb(|p| {
                if is_body {
                    p.msg(1, inner);
                } else {
                    p.append(&inner);
                }
            }),
        );
    })
}

fn operation_pb(v: &Value) -> Pb {
    pb(|op| {
        if let Some(d) = v.get("description").and_then(Value::as_str) {
            op.string(3, d);
        }
        if let Some(id) = v.get("operationId").and_then(Value::as_str) {
            op.string(5, id);
        }
        for c in v.get("consumes").and_then(Value::as_array).into_iter().flatten() {
            op.string(7, c.as_str().unwrap_or_default());
        }
        for p in v.get("parameters").and_then(Value::as_array).into_iter().flatten() {
            op.msg(8, param_pb(p));
        }
        if let Some(resp) = v.get("responses").and_then(Value::as_object) {
            op.msg(
                9,
                pb(|rs| {
                    for (code, r) in resp {
                        rs.msg(
                            1,
                            pb(|nrv| {
                                nrv.string(1, code).msg(
                                    2,
                                    pb(|rv| {
                                        rv.msg(
                                            1,
                                            pb(|rr| {
                                                rr.string(
                                                    1,
                                                    r.get("description").and_then(Value::as_str).unwrap_or_default(),
                                                );
                                                if let Some(sc) = r.get("schema") {
                                                    rr.msg(
                                                        2,
                                                        pb(|si| {
                                                            si.msg(1, schema_pb(sc));
                                                        }),
                                                    );
                                                }
                                            }),
                                        );
                                    }),
                                );
                            }),
                        );
                    }
                }),
            );
        }
        for (k, ev) in v.as_object().into_iter().flatten().filter(|(k, _)| k.starts_with("x-")) {
            op.msg(13, named_any(k, ev));
        }
    })
}

/// gnostic `openapi.v2.Document` of the v2 JSON document.
fn v2_proto(doc: &Value) -> Bytes {
    let d = pb(|d| {
        d.string(1, doc["swagger"].as_str().unwrap_or("2.0")).msg(
            2,
            pb(|i| {
                i.string(1, doc["info"]["title"].as_str().unwrap_or_default())
                    .string(2, doc["info"]["version"].as_str().unwrap_or_default());
            }),
        );
        d.msg(
            8,
            pb(|paths| {
                for (path, item) in doc["paths"].as_object().into_iter().flatten() {
                    let pi = pb(|pi| {
                        for (verb, f) in [("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("patch", 8)] {
                            if let Some(op) = item.get(verb) {
                                pi.msg(f, operation_pb(op));
                            }
                        }
                        for p in item.get("parameters").and_then(Value::as_array).into_iter().flatten() {
                            pi.msg(9, param_pb(p));
                        }
                    });
                    paths.msg(
                        2,
                        pb(|named| {
                            named.string(1, path).msg(2, pi);
                        }),
                    );
                }
            }),
        );
        d.msg(
            9,
            pb(|defs| {
                for (name, sc) in doc["definitions"].as_object().into_iter().flatten() {
                    defs.msg(
                        1,
                        pb(|ns| {
                            ns.string(1, name).msg(2, schema_pb(sc));
                        }),
                    );
                }
            }),
        );
    });
    Bytes::from(d.into_bytes())
}

// ---------------------------------------------------------------------------------------------

impl Docs {
    /// Records the rows; documents are rendered on first request.
    fn build(rows: &[ResourceDef]) -> Docs {
        Docs {
            rows: rows.to_vec(),
            hashes: OnceLock::new(),
            index: OnceLock::new(),
            docs: Mutex::new(BTreeMap::new()),
            v2: OnceLock::new(),
        }
    }

    fn rows_by_gv(&self) -> BTreeMap<String, Vec<&ResourceDef>> {
        let mut m: BTreeMap<String, Vec<&ResourceDef>> = BTreeMap::new();
        for r in &self.rows {
            m.entry(gv_path(r.group, r.version)).or_default().push(r);
        }
        m
    }

    /// The v3 document of a group-version path (`apis/apps/v1`), rendered once.
    pub fn v3(&self, gv: &str) -> Option<Bytes> {
        if let Some(b) = self.docs.lock().ok().and_then(|d| d.get(gv).cloned()) {
            return Some(b);
        }
        let by_gv = self.rows_by_gv();
        let rows = by_gv.get(gv)?;
        let doc = v3_doc(rows);
        crate::util::alloc::trim_heap();
        if let Ok(mut d) = self.docs.lock() {
            d.insert(gv.to_string(), doc.clone());
        }
        Some(doc)
    }

    /// Content hashes of every v3 document (rendering each once; only the requested ones stay cached).
    pub fn hashes(&self) -> &BTreeMap<String, String> {
        self.hashes.get_or_init(|| {
            let cached = self.docs.lock().map(|d| d.clone()).unwrap_or_default();
            let hashes = self
                .rows_by_gv()
                .into_iter()
                .map(|(gv, rows)| {
                    let h = match cached.get(&gv) {
                        Some(b) => crate::util::hash::content_hash(b),
                        None => crate::util::hash::content_hash(&v3_doc(&rows)),
                    };
                    (gv, h)
                })
                .collect();
            crate::util::alloc::trim_heap();
            hashes
        })
    }

    pub fn index(&self) -> Bytes {
        self.index
            .get_or_init(|| {
                let paths: Map<String, Value> = self
                    .hashes()
                    .iter()
                    .map(|(gv, h)| {
                        (
                            gv.clone(),
                            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={h}")}),
                        )
                    })
                    .collect();
                Bytes::from(serde_json::to_vec(&json!({"paths": paths})).unwrap_or_default())
            })
            .clone()
    }

    fn v2(&self) -> &(Bytes, Bytes, String) {
        self.v2.get_or_init(|| {
            let doc = v2_value(&self.rows);
            let json = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
            let proto = v2_proto(&doc);
            drop(doc);
            crate::util::alloc::trim_heap();
            let h = crate::util::hash::content_hash(&proto);
            (json, proto, h)
        })
    }

    pub fn v2_json(&self) -> Bytes {
        self.v2().0.clone()
    }

    /// The gnostic protobuf form and its ETag.
    pub fn v2_proto(&self) -> (Bytes, String) {
        let v = self.v2();
        (v.1.clone(), v.2.clone())
    }
}

/// `Expires` one year ahead, in HTTP date form.
fn expires_in_a_year() -> String {
    let t = std::time::SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600);
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86400) as i64;
    let (y, m, d, h, mi, s) = crate::util::time::civil_from_unix(secs as i64);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days.rem_euclid(7)) as usize];
    let mon = crate::util::time::month_abbrev(m);
    format!("{wd}, {d:02} {mon} {y} {h:02}:{mi:02}:{s:02} GMT")
}

fn set(r: &mut Response, name: http::header::HeaderName, value: &str) {
    if let Ok(v) = http::HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

fn not_modified(req: &Request, etag: &str) -> bool {
    req.headers
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

pub fn respond(app: &Arc<App>, req: &Request, path: &str) -> ApiResult<Response> {
    let openapi = &app.openapi;
    if path == "/openapi/v2" {
        let accept = req.headers.get("accept").and_then(|v| v.to_str().ok()).unwrap_or("");
        let (proto, h) = openapi.v2_proto();
        let etag = format!("\"{h}\"");
        if not_modified(req, &etag) {
            let mut r = bytes_response(304, "application/json", Bytes::new());
            set(&mut r, http::header::ETAG, &etag);
            return Ok(r);
        }
        let mut r = if accept.contains("application/com.github.proto-openapi.spec.v2") {
            bytes_response(200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", proto)
        } else {
            bytes_response(200, "application/json", openapi.v2_json())
        };
        set(&mut r, http::header::ETAG, &etag);
        set(&mut r, http::header::VARY, "Accept");
        return Ok(r);
    }
    if path == "/openapi/v3" || path == "/openapi/v3/" {
        return Ok(bytes_response(200, "application/json", openapi.index()));
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        if let Some(doc) = openapi.v3(gv) {
            let h = openapi
                .hashes()
                .get(gv)
                .cloned()
                .unwrap_or_else(|| crate::util::hash::content_hash(&doc));
            let etag = format!("\"{h}\"");
            let asked = req.query.get("hash").filter(|v| !v.is_empty());
            if let Some(asked) = asked {
                if asked != h {
                    let mut r = bytes_response(301, "text/html; charset=utf-8", Bytes::new());
                    set(&mut r, http::header::LOCATION, &format!("/openapi/v3/{gv}?hash={h}"));
                    return Ok(r);
                }
            }
            if not_modified(req, &etag) {
                let mut r = bytes_response(304, "application/json", Bytes::new());
                set(&mut r, http::header::ETAG, &etag);
                return Ok(r);
            }
            let mut r = bytes_response(200, "application/json", doc);
            set(&mut r, http::header::ETAG, &etag);
            if asked.is_some() {
                set(&mut r, http::header::VARY, "Accept");
                set(&mut r, http::header::CACHE_CONTROL, "public, immutable");
                set(&mut r, http::header::EXPIRES, &expires_in_a_year());
            }
            return Ok(r);
        }
    }
    Ok(error_response(&ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )))
}

#[cfg(test)]
mod tests;
