//! Authorization: the `--authorization-mode` chain (upstream union authorizer behind the
//! `system:masters` privileged-group authorizer). Each authorizer allows or has no opinion; the
//! first Allow wins; no decision is a denial with every reason joined.

pub mod aggregation;
pub mod conditions;
pub mod config;
pub mod escalation;
pub mod impersonation;
pub mod node;
pub mod policy;
pub mod rbac;
pub mod reviews;
pub mod rules;
pub mod webhook;

use crate::error::ApiError;
use crate::registry::Registry;
use crate::request::RequestInfo;
use crate::request::UserInfo;
use serde_json::json;
use std::sync::{Arc, RwLock};

/// What is being asked (upstream `authorizer.Attributes`).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    pub user: &'a UserInfo,
    pub verb: &'a str,
    pub is_resource: bool,
    pub api_group: &'a str,
    pub api_version: &'a str,
    pub namespace: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    /// The request path (non-resource requests).
    pub path: &'a str,
    /// The raw `fieldSelector` of a list/watch (the Node authorizer scopes pod lists by it).
    pub field_selector: &'a str,
}

impl<'a> Attributes<'a> {
    pub fn of(user: &'a UserInfo, info: &'a RequestInfo) -> Attributes<'a> {
        Attributes {
            user,
            verb: &info.verb,
            is_resource: info.is_resource,
            api_group: &info.group,
            api_version: &info.version,
            namespace: info.namespace.as_deref().unwrap_or(""),
            resource: &info.resource,
            subresource: info.subresource.as_deref().unwrap_or(""),
            name: info.name.as_deref().unwrap_or(""),
            path: &info.path,
            field_selector: "",
        }
    }

    /// Attach a list/watch `fieldSelector`. As upstream's RequestInfoFactory, a nameless
    /// list/watch selecting `metadata.name=<x>` is about the object `x`.
    pub fn with_field_selector(mut self, selector: Option<&'a str>) -> Attributes<'a> {
        self.field_selector = selector.unwrap_or("");
        if self.is_resource && self.name.is_empty() && matches!(self.verb, "list" | "watch") {
            if let Some(name) = exact_match(self.field_selector, "metadata.name") {
                self.name = name;
            }
        }
        self
    }
}

/// The value `field` must equal in a field selector (`field=v` or `field==v`), if any.
pub fn exact_match<'a>(selector: &'a str, field: &str) -> Option<&'a str> {
    selector.split(',').find_map(|req| {
        let (f, v) = req.split_once("==").or_else(|| req.split_once('='))?;
        (f.trim() == field && !f.ends_with('!') && !v.is_empty()).then_some(v.trim())
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied, with the reason appended to the 403 message (may be empty).
    Deny(String),
    NoOpinion(String),
}

/// One authorizer of the chain (`--authorization-mode` entry or AuthorizationConfiguration
/// `authorizers[]` item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    AlwaysAllow,
    AlwaysDeny,
    Rbac,
    Node,
    /// The webhook at this index of [`Chain::webhooks`].
    Webhook(usize),
}

/// The outcome of one authorizer or of the chain, with upstream's reason text (what
/// SubjectAccessReviews report). Neither allowed nor denied: no opinion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub allowed: bool,
    pub denied: bool,
    pub reason: String,
    /// An authorizer failed (a webhook call); with no allow, upstream answers 500.
    pub error: Option<String>,
}

impl Verdict {
    pub fn allow(reason: &str) -> Verdict {
        Verdict {
            allowed: true,
            reason: reason.to_string(),
            ..Default::default()
        }
    }
    pub fn deny(reason: &str) -> Verdict {
        Verdict {
            denied: true,
            reason: reason.to_string(),
            ..Default::default()
        }
    }
    pub fn no_opinion(reason: &str) -> Verdict {
        Verdict {
            reason: reason.to_string(),
            ..Default::default()
        }
    }
}

/// The ordered authorizers in effect: replaced as a whole when `--authorization-config`
/// reloads (upstream's reloadable authorizer resolver), so a request sees one chain.
#[derive(Default)]
pub struct Chain {
    pub modes: Vec<Mode>,
    pub webhooks: Vec<Arc<webhook::WebhookAuthorizer>>,
}

/// The configured authorizers. The RBAC and Node authorizers (and their indexes) persist
/// across reloads, as upstream's.
pub struct Authorizer {
    chain: RwLock<Arc<Chain>>,
    pub rbac: Arc<rbac::Rbac>,
    pub node: Arc<node::NodeAuthorizer>,
}

pub const PRIVILEGED_GROUP: &str = "system:masters";

/// Parse `--authorization-mode` (upstream's validation messages).
pub fn parse_modes(modes: &[String]) -> anyhow::Result<Vec<Mode>> {
    let mut out = Vec::new();
    if modes.is_empty() {
        anyhow::bail!("at least one authorization-mode must be passed");
    }
    for m in modes {
        let mode = match m.as_str() {
            "AlwaysAllow" => Mode::AlwaysAllow,
            "AlwaysDeny" => Mode::AlwaysDeny,
            "RBAC" => Mode::Rbac,
            "Node" => Mode::Node,
            "Webhook" => Mode::Webhook(0),
            "ABAC" => anyhow::bail!(
                "authorization-mode \"ABAC\" is not supported by capstan (--authorization-policy-file): use RBAC or Webhook"
            ),
            _ => anyhow::bail!("authorization-mode {m:?} is not a valid mode"),
        };
        if out.contains(&mode) {
            anyhow::bail!("authorization-mode {m:?} has mode specified more than once");
        }
        out.push(mode);
    }
    Ok(out)
}

impl Authorizer {
    /// The chain of `--authorization-mode` without webhooks.
    pub fn new(modes: &[String]) -> anyhow::Result<Authorizer> {
        Ok(Authorizer::with_chain(Chain {
            modes: parse_modes(modes)?,
            webhooks: Vec::new(),
        }))
    }

    pub fn with_chain(chain: Chain) -> Authorizer {
        Authorizer {
            chain: RwLock::new(Arc::new(chain)),
            rbac: Arc::new(rbac::Rbac::default()),
            node: Arc::new(node::NodeAuthorizer::new(policy::node_rules())),
        }
    }

    /// The chain in effect now.
    pub fn chain(&self) -> Arc<Chain> {
        self.chain.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Swap in a reloaded chain; requests already deciding finish on the old one.
    pub fn replace_chain(&self, chain: Chain) {
        *self.chain.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(chain);
    }

    /// Run the chain (upstream's union authorizer): the first Allow or Deny decides; reasons
    /// and errors of the authorizers without an opinion are joined.
    pub async fn decide(&self, attrs: &Attributes<'_>) -> Verdict {
        if attrs.user.in_group(PRIVILEGED_GROUP) {
            return Verdict::allow("");
        }
        let (mut reasons, mut errors) = (Vec::new(), Vec::new());
        let chain = self.chain();
        for mode in &chain.modes {
            let v = match mode {
                Mode::AlwaysAllow => Verdict::allow(""),
                Mode::AlwaysDeny => Verdict::no_opinion("Everything is forbidden."),
                Mode::Rbac => no_opinion_unless(self.rbac.authorize(attrs)),
                Mode::Node => no_opinion_unless(self.node.authorize(attrs)),
                Mode::Webhook(i) => match chain.webhooks.get(*i) {
                    Some(w) => w.authorize(attrs).await,
                    None => Verdict::no_opinion(""),
                },
            };
            if let Some(e) = &v.error {
                errors.push(e.clone());
            }
            if !v.reason.is_empty() {
                reasons.push(v.reason.clone());
            }
            // Upstream returns the deciding authorizer's own reason and error.
            if v.allowed || v.denied {
                return v;
            }
        }
        Verdict {
            allowed: false,
            denied: false,
            reason: reasons.join("\n"),
            error: (!errors.is_empty()).then(|| join_errors(&errors)),
        }
    }

    /// [`Authorizer::decide`] for synchronous callers (admission plugins, escalation checks).
    /// In-memory authorizers answer at once; a webhook call blocks this worker thread (the
    /// server's runtime is multi-threaded). Where blocking is impossible (a current-thread
    /// runtime), the webhook's part is an evaluation error.
    pub fn decide_blocking(&self, attrs: &Attributes<'_>) -> Verdict {
        use futures_util::FutureExt;
        if let Some(v) = self.decide(attrs).now_or_never() {
            return v;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(self.decide(attrs)))
            }
            _ => Verdict {
                error: Some("webhook authorizers cannot be consulted outside the server's runtime".into()),
                ..Verdict::no_opinion("")
            },
        }
    }

    pub async fn authorize(&self, attrs: &Attributes<'_>) -> Decision {
        let v = self.decide(attrs).await;
        if v.allowed {
            Decision::Allow
        } else {
            Decision::NoOpinion(v.reason)
        }
    }

    /// Upstream WithImpersonation: `Impersonate-*` headers make the request act as another
    /// user when `user` may `impersonate` them; otherwise 403. No headers: `user` unchanged.
    pub async fn impersonate(&self, user: UserInfo, headers: &http::HeaderMap) -> Result<UserInfo, ApiError> {
        impersonation::impersonate(self, user, headers).await
    }

    pub fn has(&self, mode: Mode) -> bool {
        self.chain().modes.contains(&mode)
    }
}

fn no_opinion_unless((allowed, reason): (bool, String)) -> Verdict {
    if allowed {
        Verdict::allow(&reason)
    } else {
        Verdict::no_opinion(&reason)
    }
}

/// utilerrors.NewAggregate's text: one error as is, several as `[e1, e2]`.
fn join_errors(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        _ => format!("[{}]", errors.join(", ")),
    }
}

/// Bootstrap policy, authorizer indexes and the clusterrole-aggregation controller; called once
/// at startup before the server reports ready.
pub async fn start(reg: &Registry, az: &Authorizer) -> anyhow::Result<()> {
    policy::ensure(reg).await?;
    let find =
        |g: &str, p: &str| crate::api::builtin_row(g, p).ok_or_else(|| anyhow::anyhow!("resource table lacks {p}"));
    let rbac_group = "rbac.authorization.k8s.io";
    let notify = Arc::new(tokio::sync::Notify::new());
    for (plural, table) in [
        ("roles", rbac::Table::Roles),
        ("clusterroles", rbac::Table::ClusterRoles),
        ("rolebindings", rbac::Table::RoleBindings),
        ("clusterrolebindings", rbac::Table::ClusterRoleBindings),
    ] {
        let idx = az.rbac.clone();
        let n = notify.clone();
        let sink: crate::registry::informer::Sink = Arc::new(move |c| {
            idx.apply(table, c);
            if matches!(table, rbac::Table::ClusterRoles) {
                n.notify_one();
            }
        });
        crate::registry::informer::start(reg.clone(), find(rbac_group, plural)?, sink).await;
    }
    aggregation::spawn(reg.clone(), find(rbac_group, "clusterroles")?, notify);
    if az.has(Mode::Node) {
        for (group, plural, feed) in [
            ("", "pods", node::Feed::Pods),
            ("", "persistentvolumes", node::Feed::PersistentVolumes),
            ("storage.k8s.io", "volumeattachments", node::Feed::VolumeAttachments),
        ] {
            let idx = az.node.clone();
            let sink: crate::registry::informer::Sink = Arc::new(move |c| idx.apply(feed, c));
            crate::registry::informer::start(reg.clone(), find(group, plural)?, sink).await;
        }
        // Upstream feeds slices to the graph only with DynamicResourceAllocation on; the
        // stored (v1beta1) objects are read whichever version is served.
        let slices = ["v1beta2", "v1beta1", "v1alpha3"]
            .iter()
            .find_map(|v| reg.find("resource.k8s.io", v, "resourceslices"));
        if let Some(row) = slices.filter(|_| reg.features.enabled("DynamicResourceAllocation")) {
            let idx = az.node.clone();
            let sink: crate::registry::informer::Sink = Arc::new(move |c| idx.apply(node::Feed::ResourceSlices, c));
            crate::registry::informer::start(reg.clone(), row, sink).await;
        }
    }
    Ok(())
}

/// Upstream's 403 for a denied request (`responsewriters.Forbidden`).
pub fn forbidden(attrs: &Attributes<'_>, reason: &str) -> ApiError {
    let user = &attrs.user.name;
    let mut msg = if attrs.is_resource {
        let resource = if attrs.subresource.is_empty() {
            attrs.resource.to_string()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        // The qualified resource leaves the subresource out (apierrors.NewForbidden).
        let what = if attrs.api_group.is_empty() {
            attrs.resource.to_string()
        } else {
            format!("{}.{}", attrs.resource, attrs.api_group)
        };
        let what = if attrs.name.is_empty() {
            what
        } else {
            format!("{what} \"{}\"", attrs.name)
        };
        let scope = if attrs.namespace.is_empty() {
            " at the cluster scope".to_string()
        } else {
            format!(" in the namespace \"{}\"", attrs.namespace)
        };
        format!(
            "{what} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\"{scope}",
            attrs.verb, attrs.api_group
        )
    } else {
        format!(
            "forbidden: User \"{user}\" cannot {} path \"{}\"",
            attrs.verb, attrs.path
        )
    };
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    let mut details = json!({});
    if attrs.is_resource {
        details["kind"] = json!(attrs.resource);
        if !attrs.api_group.is_empty() {
            details["group"] = json!(attrs.api_group);
        }
        if !attrs.name.is_empty() {
            details["name"] = json!(attrs.name);
        }
    }
    ApiError::new(403, "Forbidden", msg).with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(user: &UserInfo) -> Attributes<'_> {
        Attributes {
            user,
            verb: "get",
            is_resource: true,
            api_group: "",
            api_version: "v1",
            namespace: "default",
            resource: "secrets",
            subresource: "",
            name: "s",
            path: "",
            field_selector: "",
        }
    }

    fn chain(modes: &[&str]) -> Authorizer {
        let modes: Vec<String> = modes.iter().map(|m| m.to_string()).collect();
        Authorizer::new(&modes).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn modes_in_order_with_privileged_group_first() {
        let bob = UserInfo::new("bob", vec!["system:authenticated".into()]);
        let admin = UserInfo::new("root", vec![PRIVILEGED_GROUP.into()]);
        assert!(chain(&["AlwaysAllow"]).decide(&attrs(&bob)).await.allowed);
        let deny = chain(&["AlwaysDeny", "RBAC"]).decide(&attrs(&bob)).await;
        assert_eq!(deny, Verdict::no_opinion("Everything is forbidden."));
        assert!(chain(&["AlwaysDeny"]).decide(&attrs(&admin)).await.allowed);
        assert!(chain(&["RBAC", "AlwaysAllow"]).decide(&attrs(&bob)).await.allowed);
        assert!(!chain(&["Node", "RBAC"]).decide(&attrs(&bob)).await.allowed);
        for (modes, msg) in [
            (
                &["RBAC", "Magic"][..],
                "authorization-mode \"Magic\" is not a valid mode",
            ),
            (
                &["RBAC", "RBAC"][..],
                "authorization-mode \"RBAC\" has mode specified more than once",
            ),
        ] {
            let modes: Vec<String> = modes.iter().map(|m| m.to_string()).collect();
            assert_eq!(
                Authorizer::new(&modes).err().map(|e| e.to_string()),
                Some(msg.to_string())
            );
        }
    }

    #[test]
    fn forbidden_message_shapes() {
        let bob = UserInfo::new("bob", vec![]);
        let e = forbidden(&attrs(&bob), "");
        assert_eq!(
            e.message,
            "secrets \"s\" is forbidden: User \"bob\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
        );
        let mut a = attrs(&bob);
        a.is_resource = false;
        a.path = "/metrics";
        assert_eq!(
            forbidden(&a, "r").message,
            "forbidden: User \"bob\" cannot get path \"/metrics\": r"
        );
        assert_eq!(exact_match("a=b,metadata.name==x", "metadata.name"), Some("x"));
        assert_eq!(exact_match("metadata.name!=x", "metadata.name"), None);
    }
}
