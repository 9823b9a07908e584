//! Admission webhooks (MutatingWebhookConfiguration / ValidatingWebhookConfiguration,
//! admissionregistration.k8s.io/v1): AdmissionReview v1 POSTed over HTTPS (hyper + rustls,
//! the `caBundle` as the only root) to a URL or a Service resolved to an endpoint address.
//!
//! Matching: rules (operations, apiGroups, apiVersions, resources incl. `x/*` subresources,
//! scope), namespaceSelector, objectSelector, matchConditions (CEL: `object`, `oldObject`,
//! `request`). Calls honour `timeoutSeconds` (default 10), `failurePolicy` (default Fail),
//! `sideEffects` on dry-run requests, and `reinvocationPolicy: IfNeeded`. Mutating responses
//! are JSONPatch; warnings become Warning headers; auditAnnotations are recorded as
//! `<webhook name>/<key>`. matchPolicy Equivalent (the default) also matches a rule naming
//! another version of the group/resource or a built-in sharing its storage; the object is
//! sent as requested (not converted to the rule's version). Validating webhooks run in
//! parallel.

use super::{Attributes, Env, Operation};
use crate::api::selector::selects;
use crate::cel::Type;
use crate::error::{ApiError, ApiResult};
use crate::util::json::JsonExt;
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Dispatcher;

/// A webhook definition with the configuration it came from.
struct Hook {
    name: String,
    /// The configuration object it belongs to, and its position among all webhooks of its
    /// kind (the `index` of upstream's audit annotation keys).
    config: String,
    index: usize,
    spec: Value,
}

async fn hooks(env: &Env<'_>, plural: &str) -> ApiResult<Vec<Hook>> {
    let mut configs = env.list_cached("admissionregistration.k8s.io", plural, None).await?;
    configs.sort_by(|a, b| a.str_at("/metadata/name").cmp(b.str_at("/metadata/name")));
    let mut out = Vec::new();
    for c in configs {
        for w in c.get("webhooks").and_then(Value::as_array).into_iter().flatten() {
            out.push(Hook {
                name: w.str_of("name").to_string(),
                config: c.str_at("/metadata/name").to_string(),
                index: out.len(),
                spec: w.clone(),
            });
        }
    }
    Ok(out)
}

fn list_has(v: Option<&Value>, want: &str) -> bool {
    v.and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("*") || x.as_str() == Some(want)))
}

fn resource_matches(pattern: &str, resource: &str, sub: &str) -> bool {
    let (pr, ps) = pattern.split_once('/').unwrap_or((pattern, ""));
    let res_ok = pr == "*" || pr == resource;
    let sub_ok = if pattern.contains('/') {
        ps == "*" || ps == sub
    } else {
        sub.is_empty()
    };
    res_ok && sub_ok
}

/// A resource as a rule names it: group, version, plural and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub kind: String,
}

impl Gvr {
    pub fn of(d: &crate::api::ResourceDef) -> Gvr {
        Gvr {
            group: d.group.into(),
            version: d.version.into(),
            resource: d.plural.into(),
            kind: d.kind.into(),
        }
    }
}

/// Does one rule match the request?
pub fn rule_matches(rule: &Value, a: &Attributes) -> bool {
    rule_matches_as(rule, a, &Gvr::of(&a.def))
}

/// Does one rule match the request made as `r` (the requested resource or an equivalent)?
fn rule_matches_as(rule: &Value, a: &Attributes, r: &Gvr) -> bool {
    if !list_has(rule.get("operations"), a.operation.as_str()) {
        return false;
    }
    if !list_has(rule.get("apiGroups"), &r.group) || !list_has(rule.get("apiVersions"), &r.version) {
        return false;
    }
    let res_ok = rule.get("resources").and_then(Value::as_array).is_some_and(|rs| {
        rs.iter()
            .filter_map(Value::as_str)
            .any(|p| resource_matches(p, &r.resource, &a.subresource))
    });
    if !res_ok {
        return false;
    }
    match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "Cluster" => !a.def.namespaced(),
        "Namespaced" => a.def.namespaced(),
        _ => true,
    }
}

/// Kinds webhooks never see (so a bad webhook can't lock itself in).
fn exempt(a: &Attributes) -> bool {
    a.def.group == "admissionregistration.k8s.io"
}

fn labels_of(v: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
    v.and_then(|o| o.pointer("/metadata/labels")).and_then(Value::as_object)
}

/// Resources upstream treats as the same as the requested one (`matchPolicy: Equivalent`):
/// other versions of the same group and resource (custom resources, multi-version built-ins)
/// and built-ins sharing its storage (core and events.k8s.io events).
pub fn equivalents(a: &Attributes) -> Vec<Gvr> {
    let d = &a.def;
    // The rows a default server serves (an off-by-default version a webhook names is not
    // installed, so upstream's RESTMapper knows no equivalence to it).
    let mut out: Vec<Gvr> = crate::api::enablement::default_rows()
        .iter()
        .filter(|r| !d.storage.is_empty() && r.storage == d.storage && (r.group, r.version) != (d.group, d.version))
        .map(|r| Gvr::of(r))
        .collect();
    // Another version of the same group/resource, whether served or not (a CRD's versions).
    out.push(Gvr {
        group: d.group.into(),
        version: "*".into(),
        resource: d.plural.into(),
        kind: d.kind.into(),
    });
    out
}

/// The resource a webhook's rules match the request as: the requested one, or (unless
/// `matchPolicy: Exact`) an equivalent. None: no rule matches.
pub(crate) fn matched_resource(spec: &Value, a: &Attributes) -> Option<Gvr> {
    let rules: Vec<&Value> = spec
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let own = Gvr::of(&a.def);
    if rules.iter().any(|r| rule_matches_as(r, a, &own)) {
        return Some(own);
    }
    if spec.get("matchPolicy").and_then(Value::as_str) == Some("Exact") {
        return None;
    }
    for eq in equivalents(a) {
        if eq.version != "*" {
            if rules.iter().any(|r| rule_matches_as(r, a, &eq)) {
                return Some(eq);
            }
            continue;
        }
        // Any other version a rule names for this group/resource.
        for r in &rules {
            for v in r.get("apiVersions").and_then(Value::as_array).into_iter().flatten() {
                let Some(v) = v.as_str().filter(|v| *v != "*" && *v != a.def.version) else {
                    continue;
                };
                let cand = Gvr {
                    version: v.to_string(),
                    ..eq.clone()
                };
                if rule_matches_as(r, a, &cand) {
                    return Some(cand);
                }
            }
        }
    }
    None
}

async fn matches(h: &Hook, a: &Attributes, env: &Env<'_>) -> ApiResult<Option<Gvr>> {
    let Some(gvr) = matched_resource(&h.spec, a) else {
        return Ok(None);
    };
    Ok(selectors_match(&h.spec, a, env).await?.then_some(gvr))
}

/// A webhook's objectSelector or namespaceSelector: unset (upstream defaults it to `{}`)
/// selects everything.
fn hook_selects(sel: Option<&Value>, labels: Option<&serde_json::Map<String, Value>>) -> bool {
    sel.filter(|s| s.is_object()).is_none_or(|s| selects(Some(s), labels))
}

/// The `objectSelector` and `namespaceSelector` of a webhook or an admission policy's
/// match resources.
pub(crate) async fn selectors_match(spec: &Value, a: &Attributes, env: &Env<'_>) -> ApiResult<bool> {
    // objectSelector: the new or the old object may match.
    let osel = spec.get("objectSelector");
    let new_ok = hook_selects(osel, labels_of(a.object.as_ref()));
    let old_ok = a.old.is_some() && hook_selects(osel, labels_of(a.old.as_ref()));
    if !new_ok && !old_ok {
        return Ok(false);
    }
    let nsel = spec
        .get("namespaceSelector")
        .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()));
    if let Some(nsel) = nsel {
        let ns_labels = if a.is_core("Namespace") {
            a.object
                .as_ref()
                .or(a.old.as_ref())
                .and_then(|o| o.pointer("/metadata/labels"))
                .cloned()
        } else if a.def.namespaced() && !a.namespace.is_empty() {
            env.get("", "namespaces", None, &a.namespace)
                .await?
                .and_then(|n| n.pointer("/metadata/labels").cloned())
        } else {
            // Cluster-scoped objects always match a namespaceSelector.
            return Ok(true);
        };
        if !hook_selects(Some(nsel), ns_labels.as_ref().and_then(Value::as_object)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// matchConditions (upstream `matchconditions.Matcher` in `ShouldCallHook`): Ok(false) when
/// one is false, or when one failed under failurePolicy Ignore; Err with upstream's error text
/// when one failed under Fail. Expressions see `object`, `oldObject`, `request`, the
/// authorizer (`authz`: `authorizer` and `authorizer.requestResource`) and
/// `namespaceObject`, which upstream declares but never binds for webhooks (null).
pub fn conditions_match<'a>(
    spec: &'a Value,
    request: &'a Value,
    authz: Vec<(&'a str, crate::cel::Value<'a>)>,
) -> Result<bool, String> {
    use crate::cel::Value as Cel;
    let env = crate::cel::policy::webhook_match_env(crate::cel::Mode::Stored);
    let conditions: Vec<(String, crate::cel::policy::Compiled)> = spec
        .get("matchConditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let expr = c.str_of("expression");
            (
                c.str_at("/name").to_string(),
                crate::cel::policy::compile(&env, expr, &[Type::Bool]),
            )
        })
        .collect();
    if conditions.is_empty() {
        return Ok(true);
    }
    let j = |v: &'static str| match &request[v] {
        Value::Null => Cel::Null,
        v => Cel::json(v, None),
    };
    let mut base = vec![
        ("object", j("object")),
        ("oldObject", j("oldObject")),
        ("request", Cel::json(request, None)),
        ("namespaceObject", Cel::Null),
    ];
    base.extend(authz);
    let vars = super::policy::Vars::new(&[], base);
    vars.link();
    let fail = spec.get("failurePolicy").and_then(Value::as_str) != Some("Ignore");
    super::policy::conditions(&conditions, &vars, fail)
}

/// The group/version/kind of a subresource's object when it is not the resource's kind.
fn subresource_kind(a: &Attributes) -> Option<(String, String, String)> {
    if a.subresource.is_empty() {
        return None;
    }
    let o = a.object.as_ref()?;
    let kind = o.get("kind").and_then(Value::as_str)?;
    let av = o.get("apiVersion").and_then(Value::as_str)?;
    if kind == a.def.kind {
        return None;
    }
    let (g, v) = av.split_once('/').unwrap_or(("", av));
    Some((g.to_string(), v.to_string(), kind.to_string()))
}

/// The AdmissionReview v1 request for these attributes.
pub fn review(a: &Attributes, uid: &str) -> Value {
    review_as(a, uid, None)
}

/// The AdmissionReview for a webhook that matched the request as `matched` (an equivalent
/// resource): `kind`/`resource` name it, `requestKind`/`requestResource` the request.
pub fn review_as(a: &Attributes, uid: &str, matched: Option<&Gvr>) -> Value {
    let d = &a.def;
    let mut gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
    // Subresources with their own kind (Scale, PodExecOptions…): the object's kind.
    if let Some((g, v, k)) = subresource_kind(a) {
        gvk = json!({"group": g, "version": v, "kind": k});
    }
    let gvr = json!({"group": d.group, "version": d.version, "resource": d.plural});
    let (req_gvk, req_gvr) = (gvk.clone(), gvr.clone());
    let (gvk, gvr) = match matched {
        Some(m) if (m.group.as_str(), m.version.as_str(), m.resource.as_str()) != (d.group, d.version, d.plural) => {
            let mut k = json!({"group": m.group, "version": m.version, "kind": m.kind});
            if subresource_kind(a).is_some() {
                k = gvk;
            }
            (
                k,
                json!({"group": m.group, "version": m.version, "resource": m.resource}),
            )
        }
        _ => (gvk, gvr),
    };
    let options = match a.operation {
        Operation::Create => json!({"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}),
        Operation::Update => json!({"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"}),
        Operation::Delete => json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}),
        Operation::Connect => Value::Null,
    };
    let mut user = json!({"username": a.user.name, "groups": a.user.groups});
    if !a.user.uid.is_empty() {
        user["uid"] = json!(a.user.uid);
    }
    if !a.user.extra.is_empty() {
        user["extra"] = json!(a.user.extra);
    }
    let mut req = json!({
        "uid": uid,
        "kind": gvk, "resource": gvr,
        "requestKind": req_gvk, "requestResource": req_gvr,
        "name": a.object_name(),
        "operation": a.operation.as_str(),
        "userInfo": user,
        "object": a.object.clone().unwrap_or(Value::Null),
        "oldObject": a.old.clone().unwrap_or(Value::Null),
        "dryRun": a.dry_run,
        "options": options,
    });
    if !a.namespace.is_empty() {
        req["namespace"] = json!(a.namespace);
    }
    if !a.subresource.is_empty() {
        req["subResource"] = json!(a.subresource);
        req["requestSubResource"] = json!(a.subresource);
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
}

use crate::outbound::webhook::{parse_url, post_json, Target};

/// A Service reference → its first ready endpoint.
async fn resolve_service(svc: &Value, env: &Env<'_>) -> Result<Target, String> {
    crate::outbound::webhook::resolve_service(env.registry, svc).await
}

/// POST the review; the response body as JSON.
async fn post(t: &Target, ca_bundle: &str, body: Vec<u8>, timeout: Duration) -> Result<Value, String> {
    let (status, bytes) = post_json(t, ca_bundle, body, timeout).await?;
    if !(200..300).contains(&status) {
        return Err(format!("expected response status 200, got {status}"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("failed to decode response: {e}"))
}

/// The `reason` of a denial Status as a static string (ApiError keeps static reasons).
fn static_reason(r: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "Forbidden",
        "BadRequest",
        "Invalid",
        "NotFound",
        "Conflict",
        "AlreadyExists",
        "Unauthorized",
        "InternalError",
        "TooManyRequests",
        "ServiceUnavailable",
    ];
    KNOWN.iter().find(|k| **k == r).copied().unwrap_or("")
}

/// Upstream's `webhookerrors.ToStatusErr`.
pub fn denial(name: &str, status: Option<&Value>) -> ApiError {
    let st = status.cloned().unwrap_or(Value::Null);
    let code = st.get("code").and_then(Value::as_u64).unwrap_or(0).clamp(400, 599) as u16;
    let message = st.str_of("message");
    let reason = st.str_of("reason");
    let denied = format!("admission webhook {name:?} denied the request");
    let text = if !message.is_empty() {
        format!("{denied}: {message}")
    } else if !reason.is_empty() {
        format!("{denied}: {reason}")
    } else {
        format!("{denied} without explanation")
    };
    let mut e = ApiError::new(code, static_reason(reason), text);
    if let Some(d) = st.get("details").filter(|d| d.is_object()) {
        e = e.with_details(d.clone());
    }
    e
}

enum Outcome {
    /// Allowed; Some(patched object) when a mutating webhook changed it.
    Allowed(Option<Value>),
    Skipped,
}

/// Upstream's `mutation.webhook.admission.k8s.io/round_<r>_index_<i>` audit annotation of a
/// mutating webhook that answered: its configuration, name and whether it changed the object.
fn annotate_mutation(env: &Env<'_>, h: &Hook, round: usize, outcome: &Outcome, before: Option<&Value>) {
    let mutated = match outcome {
        Outcome::Allowed(Some(obj)) => before != Some(obj),
        Outcome::Allowed(None) => false,
        Outcome::Skipped => return,
    };
    // Field order as Go's struct (configuration, webhook, mutated).
    let info = format!(
        "{{\"configuration\":{},\"webhook\":{},\"mutated\":{mutated}}}",
        Value::from(h.config.as_str()),
        Value::from(h.name.as_str())
    );
    env.ctx.annotate(
        format!("mutation.webhook.admission.k8s.io/round_{round}_index_{}", h.index),
        info,
    );
}

/// A mutating webhook's patched object becomes the request's and is defaulted, as upstream's
/// dispatcher runs the `ObjectDefaulter` after each patch (the next webhook sees the
/// defaults). A subresource with a kind of its own (Scale) has no defaults. Whether the patch
/// changed the object, compared before defaulting as upstream does.
fn take_patched(a: &mut Attributes, mut obj: Value) -> bool {
    let changed = a.object.as_ref() != Some(&obj);
    if subresource_kind(a).is_none() {
        crate::apiext::apply_defaults(&a.def, &mut obj);
    }
    a.object = Some(obj);
    changed
}

impl Dispatcher {
    /// One call; `round` is 0, or 1 for a reinvocation (audit annotation keys).
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        h: &Hook,
        m: &Gvr,
        a: &Attributes,
        env: &Env<'_>,
        mutating: bool,
        round: usize,
    ) -> ApiResult<Outcome> {
        let spec = &h.spec;
        let uid = uuid::Uuid::new_v4().to_string();
        let doc = review_as(a, &uid, Some(m));
        let fail_open = spec.get("failurePolicy").and_then(Value::as_str) == Some("Ignore");
        let authz = super::policy::AuthzBinding::of(a, env);
        let authz_vars = authz.as_ref().map(|b| b.vars(a).to_vec()).unwrap_or_default();
        // Upstream's matcher builds `request` from the request's own resource (with the
        // matched version's kind): `request.resource` differs from the review's under
        // matchPolicy Equivalent.
        let mut request = doc["request"].clone();
        request["resource"] = request["requestResource"].clone();
        match conditions_match(spec, &request, authz_vars) {
            Ok(true) => {}
            Ok(false) => return Ok(Outcome::Skipped),
            // Upstream fails closed with a Forbidden on the request's resource.
            Err(e) => {
                tracing::warn!(webhook = %h.name, error = %e, "failed evaluating match conditions, failing closed");
                return Err(ApiError::forbidden(a.def.plural, a.def.group, &a.object_name(), &e));
            }
        }
        if a.dry_run {
            let se = spec.get("sideEffects").and_then(Value::as_str).unwrap_or("Unknown");
            if !matches!(se, "None" | "NoneOnDryRun") {
                return Err(ApiError::bad_request(format!(
                    "admission webhook {:?} does not support dry run",
                    h.name
                )));
            }
        }
        let timeout = Duration::from_secs(
            spec.get("timeoutSeconds")
                .and_then(Value::as_u64)
                .unwrap_or(10)
                .clamp(1, 30),
        );
        let cc = spec.get("clientConfig").cloned().unwrap_or(Value::Null);
        let ca = cc.str_of("caBundle").to_string();
        let target = match (cc.get("url").and_then(Value::as_str), cc.get("service")) {
            (Some(u), _) => parse_url(u),
            (None, Some(s)) => resolve_service(s, env).await.map_err(|e| {
                let ns = s.str_of("namespace");
                let name = s.str_of("name");
                let port = s.get("port").and_then(Value::as_i64).unwrap_or(443);
                let path = s.get("path").and_then(Value::as_str).unwrap_or("/");
                format!(
                    "failed to call webhook: Post \"https://{name}.{ns}.svc:{port}{path}?timeout={}s\": {e}",
                    timeout.as_secs()
                )
            }),
            _ => Err("no clientConfig url or service".to_string()),
        };
        let body = serde_json::to_vec(&doc).map_err(ApiError::internal)?;
        let result = match target {
            Err(e) => Err(e),
            Ok(t) => match tokio::time::timeout(timeout, post(&t, &ca, body, timeout)).await {
                Ok(r) => r.map_err(|e| {
                    format!(
                        "failed to call webhook: Post \"{}?timeout={}s\": {e}",
                        t.url,
                        timeout.as_secs()
                    )
                }),
                Err(_) => Err(format!(
                    "failed to call webhook: Post \"{}?timeout={}s\": context deadline exceeded",
                    t.url,
                    timeout.as_secs()
                )),
            },
        };
        let resp = match result {
            Ok(r) => r,
            Err(e) if fail_open => {
                tracing::warn!(webhook = %h.name, error = %e, "failed calling webhook; failurePolicy Ignore");
                env.ctx.annotate(
                    format!(
                        "failed-open.{}.webhook.admission.k8s.io/round_{round}_index_{}",
                        if mutating { "mutation" } else { "validating" },
                        h.index
                    ),
                    h.name.clone(),
                );
                return Ok(Outcome::Skipped);
            }
            Err(e) => return Err(ApiError::internal(format!("failed calling webhook {:?}: {e}", h.name))),
        };
        let r = resp.get("response").cloned().unwrap_or(Value::Null);
        let bad = |why: &str| -> ApiResult<Outcome> {
            if fail_open {
                tracing::warn!(webhook = %h.name, why, "bad webhook response; failurePolicy Ignore");
                Ok(Outcome::Skipped)
            } else {
                Err(ApiError::internal(format!(
                    "failed calling webhook {:?}: {why}",
                    h.name
                )))
            }
        };
        if r.get("uid").and_then(Value::as_str) != Some(uid.as_str()) {
            return bad(&format!("expected response.uid={uid:?}, got {:?}", r.str_of("uid")));
        }
        for w in r.get("warnings").and_then(Value::as_array).into_iter().flatten() {
            if let Some(w) = w.as_str() {
                env.ctx.warn(w);
            }
        }
        for (k, v) in r
            .get("auditAnnotations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            env.ctx
                .annotate(format!("{}/{k}", h.name), v.as_str().unwrap_or("").to_string());
        }
        if r.get("allowed").and_then(Value::as_bool) != Some(true) {
            return Err(denial(&h.name, r.get("status")));
        }
        let Some(patch) = r.get("patch").and_then(Value::as_str).filter(|_| mutating) else {
            return Ok(Outcome::Allowed(None));
        };
        if r.get("patchType").and_then(Value::as_str) != Some("JSONPatch") {
            return bad("webhook returned a patch without patchType JSONPatch");
        }
        let ops: Value = match base64::engine::general_purpose::STANDARD
            .decode(patch)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(v) => v,
            None => return bad("webhook returned an undecodable patch"),
        };
        let mut obj = a.object.clone().unwrap_or(Value::Null);
        if let Err(e) = crate::patch::json_patch(&mut obj, &ops) {
            return Err(ApiError::internal(format!("JSON Patch: {e}")));
        }
        // The patched object is decoded into its kind: typed values as the decoder leaves them.
        crate::api::typed::normalize_any(&mut obj).map_err(ApiError::internal)?;
        Ok(Outcome::Allowed(Some(obj)))
    }

    /// Mutating webhooks in order; IfNeeded webhooks run once more when a later one changed
    /// the object.
    pub async fn mutate(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if exempt(a) {
            return Ok(());
        }
        let all = hooks(env, "mutatingwebhookconfigurations").await?;
        let mut called: Vec<(usize, bool)> = Vec::new(); // (index, changed the object since)
        let mut matched: Vec<Option<Gvr>> = Vec::new();
        for (i, h) in all.iter().enumerate() {
            let Some(m) = matches(h, a, env).await? else {
                matched.push(None);
                continue;
            };
            let outcome = self.call(h, &m, a, env, true, 0).await?;
            matched.push(Some(m));
            annotate_mutation(env, h, 0, &outcome, a.object.as_ref());
            if let Outcome::Allowed(Some(obj)) = outcome {
                if take_patched(a, obj) {
                    for c in called.iter_mut() {
                        c.1 = true;
                    }
                }
            }
            called.push((i, false));
        }
        for (i, changed_after) in called {
            let h = &all[i];
            if !changed_after || h.spec.get("reinvocationPolicy").and_then(Value::as_str) != Some("IfNeeded") {
                continue;
            }
            let Some(Some(m)) = matched.get(i) else { continue };
            let outcome = self.call(h, m, a, env, true, 1).await?;
            annotate_mutation(env, h, 1, &outcome, a.object.as_ref());
            if let Outcome::Allowed(Some(obj)) = outcome {
                take_patched(a, obj);
            }
        }
        Ok(())
    }

    /// The chain's reinvocation round after a MutatingAdmissionPolicy changed the object
    /// again: every matching `reinvocationPolicy: IfNeeded` webhook is called once more.
    pub async fn reinvoke(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if exempt(a) {
            return Ok(());
        }
        for h in hooks(env, "mutatingwebhookconfigurations").await? {
            if h.spec.get("reinvocationPolicy").and_then(Value::as_str) != Some("IfNeeded") {
                continue;
            }
            let Some(m) = matches(&h, a, env).await? else { continue };
            let outcome = self.call(&h, &m, a, env, true, 1).await?;
            annotate_mutation(env, &h, 1, &outcome, a.object.as_ref());
            if let Outcome::Allowed(Some(obj)) = outcome {
                take_patched(a, obj);
            }
        }
        Ok(())
    }

    /// Validating webhooks, called in parallel as upstream; any denial fails the request
    /// (the first in configuration order is reported).
    pub async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if exempt(a) {
            return Ok(());
        }
        let mut relevant = Vec::new();
        for h in hooks(env, "validatingwebhookconfigurations").await? {
            if let Some(m) = matches(&h, a, env).await? {
                relevant.push((h, m));
            }
        }
        let calls = relevant.iter().map(|(h, m)| self.call(h, m, a, env, false, 0));
        for r in futures_util::future::join_all(calls).await {
            r?;
        }
        Ok(())
    }
}

/// Service resolution for unit tests: (address, TLS server name, path).
#[cfg(test)]
pub(crate) async fn resolve_for_test(svc: &Value, env: &Env<'_>) -> Result<(String, String, String), String> {
    resolve_service(svc, env).await.map(|t| (t.addr, t.server_name, t.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_patterns() {
        assert!(resource_matches("pods", "pods", ""));
        assert!(!resource_matches("pods", "pods", "status"));
        assert!(resource_matches("pods/*", "pods", "status"));
        assert!(resource_matches("*/status", "deployments", "status"));
        assert!(resource_matches("*", "configmaps", ""));
        assert!(!resource_matches("*", "configmaps", "status"));
        assert!(resource_matches("*/*", "configmaps", "status"));
    }

    #[test]
    fn denial_messages_as_upstream() {
        let e = denial("deny.example.com", Some(&json!({"code": 403, "message": "no way"})));
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "admission webhook \"deny.example.com\" denied the request: no way"
        );
        let e = denial("w", None);
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "admission webhook \"w\" denied the request without explanation"
        );
    }

    #[test]
    fn match_conditions_cel() {
        let spec = json!({"name": "w", "matchConditions": [{"name": "skip", "expression": "object.metadata.name != 'skip-me'"}]});
        assert_eq!(
            conditions_match(
                &spec,
                &json!({"object": {"metadata": {"name": "a"}}, "oldObject": null}),
                Vec::new()
            ),
            Ok(true)
        );
        assert_eq!(
            conditions_match(
                &spec,
                &json!({"object": {"metadata": {"name": "skip-me"}}, "oldObject": null}),
                Vec::new()
            ),
            Ok(false)
        );
    }
}
