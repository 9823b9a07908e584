//! Admission of CONNECT requests, which have no strategy step (`pods/exec|attach|portforward|
//! proxy`, `services/proxy`, `nodes/proxy`): the object admission sees is the connect options
//! kind built from the query, as upstream's connect REST storage decodes it.

use super::{Attributes, Context, Operation};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::request::{Query, Request};
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
pub async fn admit_connect_request(
    chain: &super::AdmissionChain,
    reg: &Registry,
    authorizer: &std::sync::Arc<crate::auth::authz::Authorizer>,
    req: &Request,
) -> Option<ApiError> {
    let info = &req.info;
    if !info.group.is_empty() || !info.is_resource {
        return None;
    }
    let sub = info.subresource.as_deref()?;
    let object = connect_options(&info.resource, sub, &req.query)?;
    let def = crate::api::builtin_row("", &info.resource)?;
    let ctx = Context::for_request(authorizer, req.user.as_ref(), Some(sub));
    let mut a = Attributes::new(
        &ctx,
        Operation::Connect,
        def,
        info.namespace.as_deref(),
        info.name.as_deref()?,
    );
    a.subresource = sub.to_string();
    a.object = Some(object);
    chain.admit_connect(reg, &ctx, &mut a).await.err()
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
