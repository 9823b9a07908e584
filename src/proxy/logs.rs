//! `pods/{name}/log`: container defaulting and option checks as upstream's `LogLocation`, then
//! the kubelet's `/containerLogs/{ns}/{pod}/{container}` streamed back as `text/plain`.

use super::kubelet::{self, Location};
use super::ProxyConfig;
use crate::error::field::FieldError;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::request::Query;
use crate::request::Request;
use crate::util::json::JsonExt;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use warp::reply::Response;
use warp::Reply;

/// The container a request is about: given and present, or the only one.
pub fn container(pod: &Value, name: &str, given: Option<&str>) -> ApiResult<String> {
    let containers = pod.names_at("/spec/containers");
    match given.filter(|c| !c.is_empty()) {
        Some(c) => {
            let all = [
                containers.clone(),
                pod.names_at("/spec/initContainers"),
                pod.names_at("/spec/ephemeralContainers"),
            ]
            .concat();
            if all.iter().any(|n| n == c) {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None => match containers.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            many => {
                let mut msg = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    many.join(" ")
                );
                let init = pod.names_at("/spec/initContainers");
                if !init.is_empty() {
                    msg.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
                }
                Err(ApiError::bad_request(msg))
            }
        },
    }
}

/// The kubelet of the node a pod runs on (None: not scheduled yet).
pub async fn kubelet_of(reg: &Registry, cfg: &ProxyConfig, pod: &Value) -> ApiResult<Option<Location>> {
    let node_name = pod.str_at("/spec/nodeName");
    if node_name.is_empty() {
        return Ok(None);
    }
    let nodes = crate::api::builtin_row("", "nodes").ok_or_else(|| ApiError::internal("no nodes resource"))?;
    let node = reg.get(nodes, None, node_name, Some(0)).await?.value();
    Ok(Some(Location {
        scheme: "https".into(),
        host: kubelet::node_address(&node, &cfg.address_types)?,
        port: kubelet::kubelet_port(&node, cfg.kubelet_port),
    }))
}

/// Upstream's PodLogOptions validation, in its field order.
fn validate(q: &Query) -> ApiResult<Vec<(&'static str, String)>> {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    for (key, min) in [("tailLines", 0i64), ("limitBytes", 1), ("sinceSeconds", 1)] {
        if let Some(v) = q.get(key) {
            let n: i64 = v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("strconv.ParseInt: parsing {v:?}: invalid syntax")))?;
            if n < min {
                let msg = if min == 0 {
                    "must be greater than or equal to 0"
                } else {
                    "must be greater than 0"
                };
                errs.push(FieldError::invalid(key, n, msg));
            }
            out.push((key, n.to_string()));
        }
    }
    if q.get("sinceSeconds").is_some() && q.get("sinceTime").is_some() {
        errs.push(FieldError::forbidden(
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid("PodLogOptions", "", "", &errs));
    }
    if let Some(t) = q.get("sinceTime") {
        out.push(("sinceTime", t.to_string()));
    }
    for flag in ["follow", "previous", "timestamps"] {
        if q.flag(flag)? {
            out.push((flag, "true".into()));
        }
    }
    Ok(out)
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub async fn serve(reg: &Registry, cfg: &ProxyConfig, req: &Request) -> ApiResult<Response> {
    let info = &req.info;
    if info.verb != "get" {
        return Err(ApiError::method_not_allowed(&info.verb, "pods/log", ""));
    }
    let q = &req.query;
    let name = info.name.as_deref().unwrap_or("");
    let ns = info.namespace.as_deref().unwrap_or("");
    let params = validate(q)?;
    let pods = crate::api::builtin_row("", "pods").ok_or_else(|| ApiError::internal("no pods resource"))?;
    let pod = reg.get(pods, Some(ns), name, None).await?.value();
    let c = container(&pod, name, q.get("container"))?;
    let Some(loc) = kubelet_of(reg, cfg, &pod).await? else {
        // Not scheduled: upstream answers an empty stream.
        return Ok(crate::codec::encode::bytes_response(200, "text/plain", Bytes::new()));
    };
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    let path = format!(
        "/containerLogs/{}/{}/{}{}",
        encode(ns),
        encode(name),
        encode(&c),
        if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        }
    );
    let tls = if q.flag("insecureSkipTLSVerifyBackend")? {
        &cfg.kubelet_insecure_tls
    } else {
        &cfg.kubelet_tls
    };
    let io = kubelet::connect(&loc, tls, cfg.timeout).await?;
    let req = http::Request::get(&path)
        .header(http::header::HOST, loc.authority())
        .body(Full::new(Bytes::new()))
        .map_err(ApiError::internal)?;
    let resp = kubelet::send(io, req).await?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).trim().to_string();
        let reason = match status {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            _ => "InternalError",
        };
        return Err(ApiError::new(status, reason, text));
    }
    let stream = http_body_util::BodyDataStream::new(resp.into_body()).map(|r| r.map_err(std::io::Error::other));
    let mut r = warp::reply::stream(stream).into_response();
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_defaulting_as_upstream() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(
            container(&pod, "web", None).err().map(|e| e.message),
            Some("a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [i]".into())
        );
        assert_eq!(container(&pod, "web", Some("i")).ok().as_deref(), Some("i"));
        assert_eq!(
            container(&pod, "web", Some("z")).err().map(|e| e.message),
            Some("container z is not valid for pod web".into())
        );
        let one = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(container(&one, "p", None).ok().as_deref(), Some("only"));
    }

    #[test]
    fn option_validation() {
        let e = validate(&Query::parse("tailLines=-1")).err().map(|e| e.code);
        assert_eq!(e, Some(422));
        let ok = validate(&Query::parse("follow=true&tailLines=3")).ok();
        assert_eq!(
            ok,
            Some(vec![("tailLines", "3".to_string()), ("follow", "true".to_string())])
        );
    }
}
