//! PATCH: JSON patch, JSON merge patch, strategic merge patch (schema-driven) and server-side
//! apply (`application/apply-patch+yaml`, with managedFields), retried on conflicts as
//! upstream's patcher does.

use super::{part_of, respond, Rest};
use crate::api::ResourceDef;
use crate::codec::encode::{self, Encoding};
use crate::codec::negotiate::{self, BodyType};
use crate::error::{ApiError, ApiResult};
use crate::patch;
use crate::registry::store::CONFLICT_RETRIES;
use crate::request::Request;
use crate::util::json::JsonExt;
use bytes::Bytes;
use serde_json::{json, Value};
use warp::reply::Response;

const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

/// PATCH: JSON patch, merge patch, strategic merge patch, or server-side apply.
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    rest: &Rest<'_>,
    req: &Request,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    enc: Encoding,
) -> ApiResult<Response> {
    let query = &req.query;
    let bt = negotiate::body_type(req.header("content-type"))
        .map_err(|ct| ApiError::unsupported_media_type(&ct, PATCH_TYPES))?;
    if matches!(bt, BodyType::Json | BodyType::Yaml | BodyType::Protobuf) {
        return Err(ApiError::unsupported_media_type("", PATCH_TYPES));
    }
    let is_apply = bt == BodyType::ApplyPatch;
    // PatchOptions: fieldManager (required for apply), force (apply only).
    let field_manager = query.get("fieldManager").unwrap_or("");
    let mut opt_errs = Vec::new();
    if !is_apply && query.get("force").is_some() {
        opt_errs.push(crate::error::field::FieldError::forbidden(
            "force",
            "may not be specified for non-apply patch",
        ));
    }
    if is_apply && field_manager.is_empty() {
        opt_errs.push(crate::error::field::FieldError::required(
            "fieldManager",
            "is required for apply patch",
        ));
    }
    let dry_run = super::write_options(query, "PatchOptions", opt_errs)?;
    let directive = query.get("fieldValidation").unwrap_or("");
    let force = query.flag("force")?;
    let manager = if field_manager.is_empty() {
        patch::apply::manager_from_user_agent(req.header("user-agent"))
    } else {
        field_manager.to_string()
    };
    // The schema drives strategic merge patch and apply; kinds without one (custom resources)
    // take no strategic merge patch, as upstream. (While no schema is built in at all, patches
    // run schema-less.)
    let schemas = crate::api::schema::builtin();
    let root = if sub == Some("scale") {
        schemas.root_for("autoscaling", "v1", "Scale")
    } else {
        schemas.root_for(def.group, def.version, def.kind)
    };
    if bt == BodyType::StrategicMergePatch && root.is_none() && sub != Some("scale") && !schemas.kinds.is_empty() {
        return Err(ApiError::unsupported_media_type(
            "application/strategic-merge-patch+json",
            PATCH_TYPES,
        ));
    }
    let api_version = def.api_version();
    let reg = rest.registry;
    let body = rest.body(req).await?;
    if is_apply {
        let ctx = rest.admission_context(req, sub);
        let apply = Apply {
            def,
            ns,
            name,
            sub,
            dry_run,
            enc,
            manager: &manager,
            force,
            root,
            directive,
        };
        return apply_resource(rest, req, &apply, &body, &ctx).await;
    }
    let patch_doc: Value = req
        .decode_with(|b| {
            serde_json::from_slice(b).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
        })
        .cloned()
        .unwrap_or_else(|| {
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
        })?;
    let apply = |target: &mut Value| -> ApiResult<()> {
        match bt {
            BodyType::MergePatch => {
                patch::merge_patch(target, &patch_doc);
                Ok(())
            }
            BodyType::JsonPatch => patch::json_patch(target, &patch_doc).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            }),
            BodyType::StrategicMergePatch => {
                *target = patch::strategic_merge(target, &patch_doc, schemas, root).map_err(ApiError::bad_request)?;
                Ok(())
            }
            _ => Err(ApiError::unsupported_media_type("", PATCH_TYPES)),
        }
    };
    let explicit_rv = patch_doc.pointer("/metadata/resourceVersion").is_some();
    for attempt in 0..CONFLICT_RETRIES {
        if sub == Some("scale") {
            let mut scale = reg.scale(def, ns, name).await?;
            apply(&mut scale)?;
            let ctx = rest.admission_context(req, sub);
            // Like any patch, a scale patch re-applies to a fresh read when a controller wrote
            // in between (upstream's GuaranteedUpdate), unless it named a resourceVersion.
            match reg
                .update_scale(def, ns, name, &scale, dry_run, Some(&rest.admission.request(&ctx)))
                .await
            {
                Ok(scale) => return Ok(respond(encode::value_response(200, &scale, enc), Vec::new(), &ctx)),
                Err(e) if e.is_conflict() && !explicit_rv => continue,
                Err(e) => return Err(e),
            }
        }
        let current = reg.get_for_write(def, ns, name, attempt == 0 && !dry_run).await?;
        let live = encode::served_value(def, &current).unwrap_or_else(|| current.value());
        let mut target = live.clone();
        apply(&mut target)?;
        crate::codec::check_kind(def, &mut target)?;
        let strategic = (bt == BodyType::StrategicMergePatch).then_some(&patch_doc);
        crate::codec::normalize_patched(def, &mut target, strategic)?;
        // Unknown fields in the patched object: pruned; Strict fails as upstream's patchers do
        // (422 on field `patch`), Warn returns warnings.
        let mode =
            crate::api::schema::FieldValidation::parse(directive).unwrap_or(crate::api::schema::FieldValidation::Warn);
        let strict = mode == crate::api::schema::FieldValidation::Strict;
        // Upstream shows the document it decoded: the patch itself for a strategic merge, the
        // patched object otherwise.
        let decoded = strict.then(|| match bt {
            BodyType::StrategicMergePatch => crate::util::gofmt::value(&patch_doc),
            _ => target.to_string(),
        });
        let mut warnings = Vec::new();
        if let Some(r) = root {
            if mode != crate::api::schema::FieldValidation::Ignore {
                warnings = crate::api::schema::unknown_fields(schemas, r, &target)
                    .into_iter()
                    .map(|p| format!("unknown field \"{p}\""))
                    .collect();
            }
            crate::api::schema::prune(schemas, r, &mut target);
        }
        if mode != crate::api::schema::FieldValidation::Ignore {
            // Custom resources: unknown to their CRD's schema.
            if let Some(unknown) = def.strategy.unknown_fields(&target) {
                warnings.extend(unknown.into_iter().map(|p| format!("unknown field \"{p}\"")));
            }
        }
        if let Some(decoded) = decoded.filter(|_| !warnings.is_empty()) {
            let detail = format!("strict decoding error: {}", warnings.join(", "));
            return Err(ApiError::invalid(
                "",
                "",
                "",
                &[crate::error::field::FieldError::invalid("patch", decoded, detail)],
            ));
        }
        if mode != crate::api::schema::FieldValidation::Warn {
            warnings.clear();
        }
        // The patched object is decoded (defaulted) before the field manager compares it.
        def.strategy.defaults(&mut target);
        // Managed fields follow the kind's merge schema (a custom resource's CRD list types).
        let merge = crate::api::schema::merge_root(def).filter(|_| sub != Some("scale"));
        let merge_root = merge.as_ref().map(|m| m.node()).or(root);
        patch::record_update(
            Some(&live),
            &mut target,
            &manager,
            &api_version,
            sub,
            schemas,
            merge_root,
        );
        // The patch applies to what was read: keep that resourceVersion unless the patch set one.
        if target.pointer("/metadata/resourceVersion").is_none() {
            target["metadata"]["resourceVersion"] = json!(current.revision.to_string());
        }
        let ctx = rest.admission_context(req, sub);
        match reg
            .update_with(
                def,
                ns,
                name,
                target,
                part_of(sub),
                dry_run,
                None,
                Some(&rest.admission.request(&ctx)),
                None,
            )
            .await
        {
            Ok(updated) => {
                return Ok(respond(
                    encode::object_response(200, def, &updated, enc),
                    warnings,
                    &ctx,
                ))
            }
            Err(e) if e.is_conflict() && !explicit_rv => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(
        def.plural,
        def.group,
        name,
        "too many concurrent patches",
    ))
}

/// The target of a server-side apply.
struct Apply<'a> {
    def: &'a ResourceDef,
    ns: Option<&'a str>,
    name: &'a str,
    sub: Option<&'a str>,
    dry_run: bool,
    enc: Encoding,
    manager: &'a str,
    force: bool,
    root: Option<&'a crate::api::schema::Node>,
    /// `fieldValidation` as given.
    directive: &'a str,
}

/// Upstream's strict YAML check of an apply body (after the typed conversion): keys repeated in
/// a mapping refuse a `Strict` apply (400) and become one warning each under `Warn` (the
/// default).
fn strict_yaml(body: &Bytes, directive: &str, ctx: &crate::admission::Context) -> ApiResult<()> {
    use crate::api::schema::FieldValidation;
    let mode = FieldValidation::parse(directive).unwrap_or(FieldValidation::Warn);
    if mode == FieldValidation::Ignore {
        return Ok(());
    }
    let repeats = crate::codec::yaml_strict::duplicate_keys(body);
    if repeats.is_empty() {
        return Ok(());
    }
    if mode == FieldValidation::Strict {
        let lines: String = repeats.iter().map(|l| format!("\n  {l}")).collect();
        return Err(ApiError::bad_request(format!(
            "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:{lines}"
        )));
    }
    for l in repeats {
        ctx.warn(l);
    }
    Ok(())
}

/// `application/apply-patch+yaml`: server-side apply; creates the object when it is missing.
async fn apply_resource(
    rest: &Rest<'_>,
    req: &Request,
    a: &Apply<'_>,
    body: &Bytes,
    ctx: &crate::admission::Context,
) -> ApiResult<Response> {
    let Apply {
        def,
        ns,
        name,
        sub,
        dry_run,
        enc,
        manager,
        force,
        root,
        directive,
    } = *a;
    if sub == Some("scale") {
        return Err(ApiError::unsupported_media_type(
            "application/apply-patch+yaml",
            PATCH_TYPES,
        ));
    }
    let schemas = crate::api::schema::builtin();
    let api_version = def.api_version();
    let yaml = |b: &Bytes| -> ApiResult<Value> {
        yaml_serde::from_slice(b).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
    };
    let applied = req.decode_with(yaml).cloned().unwrap_or_else(|| yaml(body))?;
    let applied = &applied;
    if !applied.is_object() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            String::from_utf8_lossy(body).trim()
        )));
    }
    let av = applied.str_of("apiVersion");
    let kind = applied.str_of("kind");
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            String::from_utf8_lossy(body).trim()
        )));
    }
    if av != api_version {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {api_version}"
        )));
    }
    let mut checked = applied.clone();
    crate::codec::check_kind(def, &mut checked)?;
    let obj_name = applied.str_at("/metadata/name");
    if obj_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({obj_name}) does not match the name on the URL ({name})"
        )));
    }
    if let (Some(url_ns), Some(obj_ns)) = (ns, applied.opt_str_at("/metadata/namespace")) {
        if !obj_ns.is_empty() && obj_ns != url_ns {
            return Err(ApiError::bad_request(format!(
                "the namespace of the object ({obj_ns}) does not match the namespace on the request ({url_ns})"
            )));
        }
    }
    // Apply always requires the configuration to fit the schema (structured-merge-diff's typed
    // conversion), whatever `fieldValidation` says.
    let mut undeclared = patch::apply::undeclared_fields(applied, schemas, root);
    if let Some(unknown) = def.strategy.unknown_fields(applied) {
        // Custom resources: fields their CRD's schema does not declare.
        undeclared.extend(unknown.iter().map(|p| format!(".{p}: field not declared in schema")));
    }
    if !undeclared.is_empty() {
        return Err(patch::apply::typed_patch_error(applied, &undeclared));
    }
    strict_yaml(body, directive, ctx)?;
    // Apply merges by the kind's schema: for a custom resource its CRD's list types and map
    // keys (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`).
    let merge = crate::api::schema::merge_root(def);
    let merge_root = merge.as_ref().map(|m| m.node()).or(root);
    let explicit_rv = applied.pointer("/metadata/resourceVersion").is_some();
    let reg = rest.registry;
    let adm = rest.admission.request(ctx);
    for attempt in 0..CONFLICT_RETRIES {
        let live = match reg.get_for_write(def, ns, name, attempt == 0 && !dry_run).await {
            Ok(current) => Some((
                encode::served_value(def, &current).unwrap_or_else(|| current.value()),
                current.revision,
            )),
            Err(e) if e.code == 404 && sub.is_none() => None,
            Err(e) => return Err(e),
        };
        let Some((live, revision)) = live else {
            let mut obj = patch::apply(None, applied, manager, force, &api_version, sub, schemas, merge_root)
                .map_err(|e| e.to_api_error())?;
            crate::codec::normalize_applied(def, &mut obj, applied)?;
            match reg.create_with(def, ns, obj, dry_run, Some(&adm)).await {
                Ok(created) => {
                    return Ok(respond(
                        encode::object_response(201, def, &created, enc),
                        Vec::new(),
                        ctx,
                    ))
                }
                Err(e) if e.is_already_exists() => continue,
                Err(e) => return Err(e),
            }
        };
        let mut target = patch::apply(
            Some(&live),
            applied,
            manager,
            force,
            &api_version,
            sub,
            schemas,
            merge_root,
        )
        .map_err(|e| e.to_api_error())?;
        crate::codec::normalize_applied(def, &mut target, applied)?;
        if !explicit_rv {
            target["metadata"]["resourceVersion"] = json!(revision.to_string());
        }
        match reg
            .update_with(def, ns, name, target, part_of(sub), dry_run, None, Some(&adm), None)
            .await
        {
            Ok(updated) => {
                return Ok(respond(
                    encode::object_response(200, def, &updated, enc),
                    Vec::new(),
                    ctx,
                ))
            }
            Err(e) if e.is_conflict() && !explicit_rv => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(
        def.plural,
        def.group,
        name,
        "too many concurrent patches",
    ))
}
