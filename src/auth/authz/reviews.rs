//! authorization.k8s.io/v1 review APIs, answered by the authorizer chain and never stored:
//! SubjectAccessReview, SelfSubjectAccessReview, LocalSubjectAccessReview (what `kubectl auth
//! can-i` sends) and SelfSubjectRulesReview (`kubectl auth can-i --list`).

use super::rules::Rule;
use super::{Attributes, Authorizer, Mode};
use crate::api::ResourceDef;
use crate::codec::encode::{self, Encoding, IncludeObject};
use crate::codec::negotiate::{self, Endpoint};
use crate::error::field::FieldError;
use crate::error::{ApiError, ApiResult};
use crate::request::{Request, UserInfo};
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The body decoded once for the request (the audit log reads the same value).
fn decode(req: &Request, body: &bytes::Bytes) -> ApiResult<Value> {
    let ct = req.header("content-type");
    let v = req
        .decode_with(|b| crate::codec::decode_body(ct, b))
        .cloned()
        .unwrap_or_else(|| crate::codec::decode_body(ct, body))?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    Ok(v)
}

/// Upstream ValidateSubjectAccessReviewSpec (the user/group check only for full SARs).
fn validate_spec(spec: &Value, need_subject: bool, errs: &mut Vec<FieldError>) {
    let res = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    if let (Some(_), Some(n)) = (res, non) {
        errs.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            n.clone(),
            "cannot be specified in combination with resourceAttributes",
        ));
    }
    if res.is_none() && non.is_none() {
        errs.push(FieldError::invalid(
            "spec.resourceAttributes",
            Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    if need_subject && spec.str_at("/user").is_empty() && spec.strings_at("/groups").is_empty() {
        errs.push(FieldError::invalid(
            "spec.user",
            json!(""),
            "at least one of user or group must be specified",
        ));
    }
}

/// The decision for `spec` as `user`: upstream SubjectAccessReviewStatus.
async fn status(az: &Authorizer, user: &UserInfo, spec: &Value) -> Value {
    let res = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let attrs = match res {
        Some(r) => Attributes {
            user,
            verb: r.str_at("/verb"),
            is_resource: true,
            api_group: r.str_at("/group"),
            api_version: r.str_at("/version"),
            namespace: r.str_at("/namespace"),
            resource: r.str_at("/resource"),
            subresource: r.str_at("/subresource"),
            name: r.str_at("/name"),
            path: "",
            field_selector: r.str_at("/fieldSelector/rawSelector"),
        },
        None => Attributes {
            user,
            verb: spec.str_at("/nonResourceAttributes/verb"),
            is_resource: false,
            api_group: "",
            api_version: "",
            namespace: "",
            resource: "",
            subresource: "",
            name: "",
            path: spec.str_at("/nonResourceAttributes/path"),
            field_selector: "",
        },
    };
    let v = az.decide(&attrs).await;
    let mut st = json!({"allowed": v.allowed});
    if v.denied {
        st["denied"] = json!(true);
    }
    if !v.reason.is_empty() {
        st["reason"] = json!(v.reason);
    }
    if let Some(e) = v.error {
        st["evaluationError"] = json!(e);
    }
    st
}

/// Upstream's union RuleResolver over the chain: (rules, incomplete, evaluation errors).
fn rules_for(az: &Authorizer, user: &UserInfo, ns: &str) -> (Vec<Rule>, bool, Vec<String>) {
    let (mut rules, mut incomplete, mut errors) = (Vec::new(), false, Vec::new());
    for mode in &az.chain().modes {
        match mode {
            Mode::AlwaysAllow => {
                rules.push(Rule {
                    verbs: vec!["*".into()],
                    api_groups: vec!["*".into()],
                    resources: vec!["*".into()],
                    ..Default::default()
                });
                rules.push(Rule {
                    verbs: vec!["*".into()],
                    non_resource_urls: vec!["*".into()],
                    ..Default::default()
                });
            }
            Mode::AlwaysDeny => {}
            Mode::Rbac => {
                let (r, e) = az.rbac.rules_for(user, ns);
                rules.extend(r);
                if !e.is_empty() {
                    errors.push(super::rbac::aggregate(&e));
                }
            }
            Mode::Node => {
                if super::node::node_identity(user).is_some() {
                    incomplete = true;
                    errors.push("node authorizer does not support user rule resolution".into());
                }
            }
            Mode::Webhook(_) => {
                incomplete = true;
                errors.push("webhook authorizer does not support user rule resolution".into());
            }
        }
    }
    (rules, incomplete, errors)
}

fn rules_review(az: &Authorizer, user: &UserInfo, obj: &mut Value) -> ApiResult<()> {
    let ns = obj.str_at("/spec/namespace").to_string();
    if ns.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    let (rules, incomplete, errors) = rules_for(az, user, &ns);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for r in rules {
        if !r.non_resource_urls.is_empty() {
            non_resource_rules.push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
        if !r.resources.is_empty() || !r.api_groups.is_empty() {
            let mut o = json!({"verbs": r.verbs});
            for (k, v) in [
                ("apiGroups", &r.api_groups),
                ("resources", &r.resources),
                ("resourceNames", &r.resource_names),
            ] {
                if !v.is_empty() {
                    o[k] = json!(v);
                }
            }
            resource_rules.push(o);
        }
    }
    obj["status"] = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": incomplete,
    });
    if !errors.is_empty() {
        obj["status"]["evaluationError"] = json!(super::rbac::aggregate(&errors));
    }
    Ok(())
}

/// Answer a review request; None for resources this module does not own.
pub async fn review(
    az: &Authorizer,
    req: &Request,
    def: &'static ResourceDef,
    body: bytes::Bytes,
) -> Option<ApiResult<warp::reply::Response>> {
    if !matches!(
        def.plural,
        "subjectaccessreviews" | "selfsubjectaccessreviews" | "localsubjectaccessreviews" | "selfsubjectrulesreviews"
    ) {
        return None;
    }
    Some(answer(az, req, def, &body).await)
}

async fn answer(
    az: &Authorizer,
    req: &Request,
    def: &ResourceDef,
    body: &bytes::Bytes,
) -> ApiResult<warp::reply::Response> {
    let info = &req.info;
    if info.verb != "create" {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({})));
    }
    let mut obj = decode(req, body)?;
    let want_av = def.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(want_av),
        Some(av) if av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )))
        }
        _ => {}
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(def.kind),
        Some(k) if k != def.kind => {
            return Err(ApiError::bad_request(format!(
                "{k} in version \"{}\" cannot be handled as a {}: the kind in the data ({k}) does not match the expected kind ({})",
                def.version, def.kind, def.kind
            )))
        }
        _ => {}
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["creationTimestamp"] = Value::Null;
    let nobody = UserInfo::default();
    let me = req.user.as_ref().unwrap_or(&nobody);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let mut errs = Vec::new();
    match def.plural {
        "selfsubjectrulesreviews" => {
            rules_review(az, me, &mut obj)?;
            return respond(req, &obj);
        }
        "subjectaccessreviews" => validate_spec(&spec, true, &mut errs),
        "selfsubjectaccessreviews" => validate_spec(&spec, false, &mut errs),
        _ => {
            let url_ns = info.namespace.as_deref().unwrap_or("");
            match obj.opt_str_at("/metadata/namespace") {
                None | Some("") => obj["metadata"]["namespace"] = json!(url_ns),
                Some(ns) if ns != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => {}
            }
            validate_spec(&spec, true, &mut errs);
            let meta_extra = obj["metadata"].as_object().is_some_and(|m| {
                m.iter()
                    .any(|(k, v)| k != "namespace" && k != "creationTimestamp" && !v.is_null())
            });
            if meta_extra {
                errs.push(FieldError::invalid(
                    "metadata",
                    obj["metadata"].clone(),
                    "must be empty except for namespace",
                ));
            }
            if let Some(n) = spec.get("nonResourceAttributes").filter(|v| !v.is_null()) {
                errs.push(FieldError::invalid(
                    "spec.nonResourceAttributes",
                    n.clone(),
                    "disallowed on this kind of request",
                ));
            }
        }
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid(def.kind, def.group, "", &errs));
    }
    if def.plural == "localsubjectaccessreviews" {
        let url_ns = info.namespace.as_deref().unwrap_or("");
        if url_ns.is_empty() {
            return Err(ApiError::bad_request(format!(
                "namespace is required on this type: {url_ns}"
            )));
        }
        if obj.str_at("/metadata/namespace") != url_ns {
            return Err(ApiError::bad_request(format!(
                "spec.resourceAttributes.namespace must match namespace: {url_ns}"
            )));
        }
    }
    let subject = if def.plural == "selfsubjectaccessreviews" {
        me.clone()
    } else {
        let extra: BTreeMap<String, Vec<String>> = spec
            .get("extra")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.strings_at(""))).collect())
            .unwrap_or_default();
        UserInfo {
            name: spec.str_at("/user").to_string(),
            uid: spec.str_at("/uid").to_string(),
            groups: spec.strings_at("/groups"),
            extra,
        }
    };
    obj["status"] = status(az, &subject, &spec).await;
    respond(req, &obj)
}

fn respond(req: &Request, obj: &Value) -> ApiResult<warp::reply::Response> {
    let accept = req.headers.get("accept").and_then(|v| v.to_str().ok());
    // A review has no Table or metadata form: `as=Table` alone is 406, as upstream.
    let output = negotiate::negotiate(accept, Endpoint::Plain, true)?;
    Ok(encode::value_response(
        201,
        obj,
        Encoding {
            output,
            pretty: false,
            include: IncludeObject::Metadata,
        },
    ))
}
