//! Request info: what a request is about, parsed once from method and path
//! (upstream's `RequestInfoFactory`).

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    pub is_resource: bool,
    /// `get list watch create update patch delete deletecollection`, or the lower-case HTTP
    /// method for non-resource paths.
    pub verb: String,
    pub api_prefix: String,
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub subresource: Option<String>,
    pub name: Option<String>,
    /// Path segments after the subresource (proxy paths).
    pub rest: Vec<String>,
    /// The legacy `/watch/` path prefix was used.
    pub watch_path: bool,
    pub path: String,
}

const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Percent-decode one path segment (`+` stays `+` in paths, unlike in queries).
fn decode_segment(seg: &str) -> String {
    crate::util::percent::decode(seg, false, crate::util::percent::Invalid::Keep).unwrap_or_default()
}

impl RequestInfo {
    pub fn parse(method: &str, path: &str, watch_param: bool) -> RequestInfo {
        let mut info = RequestInfo {
            verb: method.to_ascii_lowercase(),
            path: path.to_string(),
            ..Default::default()
        };
        let decoded: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode_segment)
            .collect();
        let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let (prefix, rest) = match parts.as_slice() {
            ["api", version, rest @ ..] => {
                info.version = version.to_string();
                ("api", rest)
            }
            ["apis", group, version, rest @ ..] => {
                info.group = group.to_string();
                info.version = version.to_string();
                ("apis", rest)
            }
            _ => return info,
        };
        if rest.is_empty() {
            // /api/v1 and /apis/g/v are discovery documents.
            return info;
        }
        info.api_prefix = prefix.to_string();
        info.is_resource = true;
        let mut cur: Vec<&str> = rest.to_vec();
        if cur[0] == "watch" {
            info.watch_path = true;
            cur.remove(0);
        }
        // The deprecated `/proxy/` prefix is a verb upstream (`proxy`, no subresource).
        let proxy_verb = !info.watch_path && cur[0] == "proxy" && cur.len() >= 2;
        if proxy_verb {
            cur.remove(0);
        }
        if cur.first() == Some(&"namespaces") && cur.len() > 1 {
            info.namespace = Some(cur[1].to_string());
            if cur.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&cur[2]) {
                cur.drain(0..2);
            }
        }
        if let Some(r) = cur.first() {
            info.resource = r.to_string();
        }
        if let Some(n) = cur.get(1) {
            info.name = Some(n.to_string());
        }
        if let Some(s) = cur.get(2).filter(|_| !proxy_verb) {
            info.subresource = Some(s.to_string());
        }
        info.rest = cur
            .iter()
            .skip(if proxy_verb { 2 } else { 3 })
            .map(|s| s.to_string())
            .collect();
        // The namespace object itself: /api/v1/namespaces/{name}[/status|/finalize].
        if info.resource == "namespaces" {
            info.namespace = None;
        }
        if proxy_verb {
            info.verb = "proxy".into();
            return info;
        }
        info.verb = match method {
            "GET" | "HEAD" => {
                if info.watch_path || watch_param {
                    "watch"
                } else if info.name.is_some() {
                    "get"
                } else {
                    "list"
                }
            }
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => {
                if info.name.is_some() {
                    "delete"
                } else {
                    "deletecollection"
                }
            }
            other => {
                return RequestInfo {
                    verb: other.to_ascii_lowercase(),
                    ..info
                }
            }
        }
        .to_string();
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resource_paths_like_upstream() {
        let r = RequestInfo::parse("GET", "/api/v1/namespaces/default/pods/web/status", false);
        assert_eq!(
            (r.verb.as_str(), r.namespace.as_deref(), r.resource.as_str()),
            ("get", Some("default"), "pods")
        );
        assert_eq!(
            (r.name.as_deref(), r.subresource.as_deref()),
            (Some("web"), Some("status"))
        );

        let r = RequestInfo::parse("GET", "/apis/apps/v1/deployments", true);
        assert_eq!(
            (r.verb.as_str(), r.group.as_str(), r.namespace),
            ("watch", "apps", None)
        );

        let r = RequestInfo::parse("GET", "/api/v1/watch/namespaces/ns1/configmaps", false);
        assert_eq!(
            (r.verb.as_str(), r.namespace.as_deref(), r.resource.as_str()),
            ("watch", Some("ns1"), "configmaps")
        );

        let r = RequestInfo::parse("PUT", "/api/v1/namespaces/ns1/finalize", false);
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref(), r.subresource.as_deref()),
            ("namespaces", Some("ns1"), Some("finalize"))
        );

        let r = RequestInfo::parse("DELETE", "/api/v1/namespaces/ns1/pods", false);
        assert_eq!(r.verb, "deletecollection");
        assert!(!RequestInfo::parse("GET", "/apis/apps/v1", false).is_resource);
        let r = RequestInfo::parse(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Anode",
            false,
        );
        assert_eq!(r.name.as_deref(), Some("system:node"));
        assert_eq!(
            RequestInfo::parse("GET", "/api/v1/namespaces/a/pods/x+y", false)
                .name
                .as_deref(),
            Some("x+y")
        );
        assert!(!RequestInfo::parse("GET", "/healthz", false).is_resource);

        // The deprecated proxy prefix: verb `proxy` on the resource, no subresource.
        let r = RequestInfo::parse("POST", "/api/v1/proxy/namespaces/ns1/pods/web/a/b", false);
        assert_eq!(
            (r.verb.as_str(), r.namespace.as_deref(), r.resource.as_str()),
            ("proxy", Some("ns1"), "pods")
        );
        assert_eq!((r.name.as_deref(), r.subresource.as_deref()), (Some("web"), None));
        assert_eq!(r.rest, ["a", "b"]);
        let r = RequestInfo::parse("GET", "/api/v1/proxy/nodes/n1/stats/summary", false);
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str(), r.name.as_deref()),
            ("proxy", "nodes", Some("n1"))
        );
    }
}
