//! OpenAPI v2/v3 entries for served custom resources (upstream's CRD OpenAPI builder, in
//! brief): a definition `<reversed group>.<version>.<Kind>` from the version's schema with
//! `apiVersion`, `kind`, `metadata` (ObjectMeta) and `x-kubernetes-group-version-kind`, the
//! `<Kind>List` definition, and the resource's paths with their operations.

use crate::api::ResourceDef;
use serde_json::{json, Map, Value};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

/// `example.com` → `com.example`.
fn reversed(group: &str) -> String {
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

pub fn def_name(def: &ResourceDef, kind: &str) -> String {
    format!("{}.{}.{kind}", reversed(def.group), def.version)
}

/// The rows of `rows` that are custom resources.
pub fn custom_rows<'a>(rows: &[&'a ResourceDef]) -> Vec<&'a ResourceDef> {
    rows.iter().copied().filter(|r| super::lookup(r).is_some()).collect()
}

/// Built-in definitions the custom entries reference (for a v3 document's closure).
pub fn meta_roots(rows: &[&ResourceDef]) -> Vec<String> {
    if custom_rows(rows).is_empty() {
        return vec![];
    }
    ["ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch"]
        .iter()
        .map(|k| format!("{META}.{k}"))
        .chain(std::iter::once("io.k8s.api.autoscaling.v1.Scale".to_string()))
        .collect()
}

fn reference(v3: bool, name: &str) -> Value {
    if v3 {
        json!({"$ref": format!("#/components/schemas/{name}")})
    } else {
        json!({"$ref": format!("#/definitions/{name}")})
    }
}

/// The schema as published: v3 as written; v2 through upstream's `ToStructuralOpenAPIV2`
/// (no junctors or CEL rules; nullable and preserve-unknown-fields nodes lose what kubectl
/// cannot cope with).
fn for_dialect(v3: bool, s: &Value) -> Value {
    if v3 {
        s.clone()
    } else {
        v2_schema(s)
    }
}

fn v2_schema(s: &Value) -> Value {
    let Value::Object(m) = s else {
        return s.clone();
    };
    let mut o = m.clone();
    for k in ["allOf", "oneOf", "anyOf", "not", "x-kubernetes-validations"] {
        o.remove(k);
    }
    let truthy = |v: Option<&Value>| v == Some(&Value::Bool(true));
    let preserve = truthy(o.get("x-kubernetes-preserve-unknown-fields"));
    if truthy(o.remove("nullable").as_ref()) {
        for k in ["type", "items", "properties"] {
            o.remove(k);
        }
    }
    if preserve {
        o.remove("items");
        o.remove("properties");
    }
    let ty = o.get("type").and_then(Value::as_str).map(str::to_string);
    if (ty.as_deref() == Some("array") && !o.contains_key("items")) || (preserve && ty.as_deref() == Some("object")) {
        o.remove("type");
    }
    // Nullable properties are not required in v2; a nullable additionalProperties drops them all.
    let nullable_props: Vec<String> = o
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .filter(|(_, v)| truthy(v.get("nullable")))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if o.get("additionalProperties").is_some_and(|a| truthy(a.get("nullable"))) {
        o.remove("required");
    } else if let Some(Value::Array(req)) = o.get_mut("required") {
        req.retain(|r| !r.as_str().is_some_and(|r| nullable_props.iter().any(|n| n == r)));
    }
    if let Some(Value::Object(p)) = o.get_mut("properties") {
        for v in p.values_mut() {
            *v = v2_schema(v);
        }
    }
    for k in ["items", "additionalProperties"] {
        if let Some(v) = o.get_mut(k).filter(|v| v.is_object()) {
            *v = v2_schema(v);
        }
    }
    Value::Object(o)
}

fn object_schema(v3: bool, def: &ResourceDef, schema: Option<&Value>) -> Value {
    let mut s = schema
        .map(|s| for_dialect(v3, s))
        .unwrap_or_else(|| json!({"type": "object"}));
    // v2 of a root that keeps unknown fields is a bare object (upstream's buildKubeNative:
    // published properties would make kubectl refuse the unknown ones).
    let root_preserves = schema.and_then(|s| s.get("x-kubernetes-preserve-unknown-fields")) == Some(&json!(true));
    if !s.is_object() || (!v3 && root_preserves) {
        s = json!({"type": "object"});
        s["x-kubernetes-group-version-kind"] = json!([{"group": def.group, "kind": def.kind, "version": def.version}]);
        return s;
    }
    let props = s
        .as_object_mut()
        .map(|o| o.entry("properties").or_insert_with(|| json!({})));
    if let Some(Value::Object(p)) = props {
        p.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}));
        p.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}));
        let mut meta = reference(v3, &format!("{META}.ObjectMeta"));
        meta["description"] = json!("Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata");
        if v3 {
            meta =
                json!({"allOf": [reference(true, &format!("{META}.ObjectMeta"))], "description": meta["description"]});
        }
        p.insert("metadata".into(), meta);
    }
    s["x-kubernetes-group-version-kind"] = json!([{"group": def.group, "kind": def.kind, "version": def.version}]);
    s
}

fn list_schema(v3: bool, def: &ResourceDef) -> Value {
    json!({
        "description": format!("{} is a list of {}", format!("{}List", def.kind), def.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": reference(v3, &def_name(def, def.kind))},
            "metadata": reference(v3, &format!("{META}.ListMeta")),
        },
        "x-kubernetes-group-version-kind": [{"group": def.group, "kind": format!("{}List", def.kind), "version": def.version}],
    })
}

fn op(v3: bool, id: String, action: &str, def: &ResourceDef, resp: &str, body: bool) -> Value {
    let mut o = json!({
        "operationId": id,
        "tags": [format!("{}_{}", reversed(def.group).replace('.', ""), def.version)],
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": def.group, "kind": def.kind, "version": def.version},
    });
    let r = reference(v3, resp);
    // The write parameters: kubectl validates server-side only when `fieldValidation` is listed.
    if matches!(action, "post" | "put" | "patch") {
        let mut names = vec!["dryRun", "fieldManager", "fieldValidation"];
        if action == "patch" {
            names.push("force");
        }
        let params: Vec<Value> = names
            .into_iter()
            .map(|n| {
                let ty = if n == "force" { "boolean" } else { "string" };
                if v3 {
                    json!({"name": n, "in": "query", "schema": {"type": ty, "uniqueItems": true}})
                } else {
                    json!({"name": n, "in": "query", "type": ty, "uniqueItems": true})
                }
            })
            .collect();
        o["parameters"] = Value::Array(params);
    }
    if v3 {
        o["responses"]["200"]["content"] = json!({"application/json": {"schema": r}});
        if body {
            o["requestBody"] =
                json!({"content": {"*/*": {"schema": reference(true, &def_name(def, def.kind))}}, "required": true});
        }
    } else {
        o["responses"]["200"]["schema"] = r;
        o["produces"] = json!(["application/json", "application/yaml"]);
        if body {
            let b = json!({"name": "body", "in": "body", "required": true, "schema": reference(false, &def_name(def, def.kind))});
            match o.get_mut("parameters").and_then(Value::as_array_mut) {
                Some(ps) => ps.insert(0, b),
                None => o["parameters"] = json!([b]),
            }
        }
    }
    o
}

fn param(v3: bool, name: &str, desc: &str) -> Value {
    if v3 {
        json!({"name": name, "in": "path", "description": desc, "required": true, "schema": {"type": "string", "uniqueItems": true}})
    } else {
        json!({"name": name, "in": "path", "description": desc, "required": true, "type": "string", "uniqueItems": true})
    }
}

/// Add paths and definitions of the custom rows among `rows`.
pub fn extend(v3: bool, rows: &[&ResourceDef], paths: &mut Map<String, Value>, defs: &mut Map<String, Value>) {
    for def in custom_rows(rows) {
        let Some(cv) = super::lookup(def) else { continue };
        let obj = def_name(def, def.kind);
        let list = def_name(def, &format!("{}List", def.kind));
        let mut schema = object_schema(v3, def, cv.schema.as_ref());
        if !cv.selectable.is_empty() {
            // Upstream advertises the version's selectableFields as field labels.
            schema["x-kubernetes-selectable-fields"] = cv
                .selectable
                .iter()
                .map(|f| json!({"fieldPath": f}))
                .collect::<Vec<_>>()
                .into();
        }
        defs.insert(obj.clone(), schema);
        defs.insert(list.clone(), list_schema(v3, def));
        let camel = format!(
            "{}{}",
            def.group
                .split('.')
                .map(|p| {
                    let mut c = p.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<String>(),
            {
                let mut c = def.version.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            }
        );
        let ns = if def.namespaced() { "Namespaced" } else { "" };
        let base = if def.namespaced() {
            format!(
                "/apis/{}/{}/namespaces/{{namespace}}/{}",
                def.group, def.version, def.plural
            )
        } else {
            format!("/apis/{}/{}/{}", def.group, def.version, def.plural)
        };
        let mut common = vec![];
        if def.namespaced() {
            common.push(param(
                v3,
                "namespace",
                "object name and auth scope, such as for teams and projects",
            ));
        }
        let k = def.kind;
        let status = format!("{META}.Status");
        let mut coll = Map::new();
        coll.insert(
            "get".into(),
            op(v3, format!("list{camel}{ns}{k}"), "list", def, &list, false),
        );
        coll.insert(
            "post".into(),
            op(v3, format!("create{camel}{ns}{k}"), "post", def, &obj, true),
        );
        coll.insert(
            "delete".into(),
            op(
                v3,
                format!("deletecollection{camel}{ns}{k}"),
                "deletecollection",
                def,
                &status,
                false,
            ),
        );
        coll.insert("parameters".into(), Value::Array(common.clone()));
        paths.insert(base.clone(), Value::Object(coll));
        let mut one = Map::new();
        one.insert(
            "get".into(),
            op(v3, format!("read{camel}{ns}{k}"), "get", def, &obj, false),
        );
        one.insert(
            "put".into(),
            op(v3, format!("replace{camel}{ns}{k}"), "put", def, &obj, true),
        );
        one.insert(
            "patch".into(),
            op(v3, format!("patch{camel}{ns}{k}"), "patch", def, &obj, false),
        );
        one.insert(
            "delete".into(),
            op(v3, format!("delete{camel}{ns}{k}"), "delete", def, &status, false),
        );
        let mut named = vec![param(v3, "name", &format!("name of the {k}"))];
        named.extend(common.iter().cloned());
        one.insert("parameters".into(), Value::Array(named.clone()));
        paths.insert(format!("{base}/{{name}}"), Value::Object(one));
        for sub in def.subresources {
            let resp = if sub.name == "scale" {
                "io.k8s.api.autoscaling.v1.Scale".to_string()
            } else {
                obj.clone()
            };
            let sk = if sub.name == "scale" { "Scale" } else { "Status" };
            let mut m = Map::new();
            m.insert(
                "get".into(),
                op(v3, format!("read{camel}{ns}{k}{sk}"), "get", def, &resp, false),
            );
            m.insert(
                "put".into(),
                op(v3, format!("replace{camel}{ns}{k}{sk}"), "put", def, &resp, true),
            );
            m.insert(
                "patch".into(),
                op(v3, format!("patch{camel}{ns}{k}{sk}"), "patch", def, &resp, false),
            );
            m.insert("parameters".into(), Value::Array(named.clone()));
            paths.insert(format!("{base}/{{name}}/{}", sub.name), Value::Object(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's `ToStructuralOpenAPIV2` cases (apiextensions-apiserver `openapi/v2`).
    #[test]
    fn v2_drops_what_kubectl_cannot_use() {
        let s = json!({
            "type": "object",
            "required": ["a", "n"],
            "properties": {
                "a": {"type": "string", "anyOf": [{"minLength": 1}], "x-kubernetes-validations": [{"rule": "true"}]},
                "n": {"type": "object", "nullable": true, "properties": {"x": {"type": "string"}}},
                "p": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"y": {"type": "string"}}},
                "l": {"type": "array", "x-kubernetes-preserve-unknown-fields": true, "items": {"type": "string"}},
            }
        });
        assert_eq!(
            v2_schema(&s),
            json!({
                "type": "object",
                "required": ["a"],
                "properties": {
                    "a": {"type": "string"},
                    "n": {},
                    "p": {"x-kubernetes-preserve-unknown-fields": true},
                    "l": {"x-kubernetes-preserve-unknown-fields": true},
                }
            })
        );
        // v3 publishes the schema as written.
        assert_eq!(for_dialect(true, &s), s);
    }
}
