//! Admission of requests that have no strategy step: CONNECT (`pods/exec|attach|portforward|
//! proxy`, `services/proxy`, `nodes/proxy`) and the `scale` subresource, whose object is an
//! `autoscaling/v1` Scale rather than the stored kind (as upstream's scale REST storage).

use super::{row, Attributes, Context, Operation};
use crate::error::{ApiError, ApiResult};
use crate::registry::options::Query;
use crate::registry::Registry;
use crate::server::handler::RawRequest;
use crate::server::request::RequestInfo;
use serde_json::{json, Value};

/// The options object a CONNECT request carries (upstream's `*Options` kinds, built from the
/// query as the connect REST storage decodes them). None: not a connect subresource.
pub fn connect_options(resource: &str, sub: &str, q: &Query) -> Option<Value> {
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let path = q.get("path").unwrap_or("");
    let obj = match (resource, sub) {
        ("pods", "exec") => json!({
            "kind": "PodExecOptions", "apiVersion": "v1",
            "stdin": flag("stdin"), "stdout": flag("stdout"), "stderr": flag("stderr"), "tty": flag("tty"),
            "container": q.get("container").unwrap_or(""), "command": q.all("command"),
        }),
        ("pods", "attach") => json!({
            "kind": "PodAttachOptions", "apiVersion": "v1",
            "stdin": flag("stdin"), "stdout": flag("stdout"), "stderr": flag("stderr"), "tty": flag("tty"),
            "container": q.get("container").unwrap_or(""),
        }),
        ("pods", "portforward") => {
            let ports: Vec<i64> = q.all("ports").iter().filter_map(|p| p.parse().ok()).collect();
            json!({"kind": "PodPortForwardOptions", "apiVersion": "v1", "ports": ports})
        }
        ("pods", "proxy") => json!({"kind": "PodProxyOptions", "apiVersion": "v1", "path": path}),
        ("services", "proxy") => json!({"kind": "ServiceProxyOptions", "apiVersion": "v1", "path": path}),
        ("nodes", "proxy") => json!({"kind": "NodeProxyOptions", "apiVersion": "v1", "path": path}),
        _ => return None,
    };
    Some(obj)
}

/// Run the chain for a CONNECT request (mutation, then validation). None: admitted (or
/// not a connect request).
pub async fn admit_connect_request(app: &crate::server::App, req: &RawRequest, info: &RequestInfo) -> Option<ApiError> {
    if !info.group.is_empty() || !info.is_resource {
        return None;
    }
    let sub = info.subresource.as_deref()?;
    let q = Query::parse(&req.query);
    let object = connect_options(&info.resource, sub, &q)?;
    let def = row("", &info.resource)?;
    let ctx = Context::for_request(app, req.user.as_ref(), Some(sub));
    let mut a = Attributes::new(
        &ctx,
        Operation::Connect,
        def,
        info.namespace.as_deref(),
        info.name.as_deref()?,
    );
    a.subresource = sub.to_string();
    a.object = Some(object);
    super::admit_connect(&app.registry, &ctx, &mut a).await.err()
}

/// Admission of an update through `*/scale`: `scale` (the new Scale) may be changed by
/// mutating admission; `old` is the Scale before.
#[allow(clippy::too_many_arguments)]
pub async fn admit_scale(
    reg: &Registry,
    ctx: Option<&Context>,
    def: &crate::api::ResourceDef,
    ns: Option<&str>,
    name: &str,
    scale: &mut Value,
    old: &Value,
    dry_run: bool,
) -> ApiResult<()> {
    let (Some(chain), Some(ctx)) = (reg.admission.as_ref(), ctx) else {
        return Ok(());
    };
    let mut a = Attributes::new(ctx, Operation::Update, def, ns, name);
    a.subresource = "scale".into();
    a.dry_run = dry_run;
    a.old = Some(old.clone());
    a.object = Some(scale.clone());
    chain.mutate(reg, ctx, &mut a).await?;
    chain.validate(reg, ctx, &a).await?;
    if let Some(new) = a.object {
        *scale = new;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_options_from_query() {
        let q = Query::parse("command=ls&command=-l&container=c&stdout=true&tty=1");
        let o = connect_options("pods", "exec", &q);
        assert_eq!(
            o,
            Some(
                json!({"kind": "PodExecOptions", "apiVersion": "v1", "stdin": false, "stdout": true,
                "stderr": false, "tty": true, "container": "c", "command": ["ls", "-l"]})
            )
        );
        assert!(connect_options("pods", "log", &q).is_none());
        assert_eq!(
            connect_options("pods", "portforward", &Query::parse("ports=80&ports=x")).map(|o| o["ports"].clone()),
            Some(json!([80]))
        );
    }
}
