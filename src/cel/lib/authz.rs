//! Kubernetes' authz library: `authorizer.group(g).resource(r)…check(verb)` and
//! `authorizer.path(p).check(verb)` ask the server's authorizer (through [`Authorizer`], so
//! this layer knows nothing of RBAC) on behalf of the request's user or, after
//! `serviceAccount(ns, name)`, of a service account. `authorizer.requestResource` is the
//! request's own resource.

use super::ext::Ext;
use super::{nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::value::{string, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The user a check is made for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthzUser {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// One authorization question.
#[derive(Debug, Clone, Default)]
pub struct AuthzRequest {
    pub verb: String,
    pub resource_request: bool,
    pub path: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub field_selector: String,
    pub label_selector: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthzDecision {
    pub allowed: bool,
    pub reason: String,
    pub error: Option<String>,
}

/// The server's authorizer as CEL sees it.
pub trait Authorizer: Send + Sync {
    fn authorize(&self, user: &AuthzUser, req: &AuthzRequest) -> AuthzDecision;
}

#[derive(Clone)]
pub struct Base {
    pub az: Arc<dyn Authorizer>,
    pub user: Arc<AuthzUser>,
}

impl std::fmt::Debug for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authorizer({})", self.user.name)
    }
}

#[derive(Debug, Clone)]
pub enum AuthzVal {
    Authorizer(Base),
    Path(Base, String),
    Group(Base, String),
    Resource(Base, AuthzRequest),
    Decision(AuthzDecision),
}

impl AuthzVal {
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthzVal::Authorizer(_) => "kubernetes.authorization.Authorizer",
            AuthzVal::Path(..) => "kubernetes.authorization.PathCheck",
            AuthzVal::Group(..) => "kubernetes.authorization.GroupCheck",
            AuthzVal::Resource(..) => "kubernetes.authorization.ResourceCheck",
            AuthzVal::Decision(_) => "kubernetes.authorization.Decision",
        }
    }
    /// Upstream compares these values by type only.
    pub fn same(&self, o: &AuthzVal) -> bool {
        self.type_name() == o.type_name()
    }
}

/// The `authorizer` variable for a request's user.
pub fn authorizer_value<'a>(az: Arc<dyn Authorizer>, user: AuthzUser) -> Value<'a> {
    wrap(AuthzVal::Authorizer(Base {
        az,
        user: Arc::new(user),
    }))
}

/// `authorizer.requestResource`: a resource check of the request's own resource.
pub fn request_resource_value<'a>(
    az: Arc<dyn Authorizer>,
    user: AuthzUser,
    group: &str,
    resource: &str,
    subresource: &str,
    namespace: &str,
    name: &str,
) -> Value<'a> {
    wrap(AuthzVal::Resource(
        Base {
            az,
            user: Arc::new(user),
        },
        AuthzRequest {
            resource_request: true,
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: name.into(),
            ..Default::default()
        },
    ))
}

fn wrap<'a>(v: AuthzVal) -> Value<'a> {
    Value::Ext(Arc::new(Ext::Authz(v)))
}

fn arg(a: &[Value<'_>], i: usize) -> Result<AuthzVal, String> {
    match a.get(i) {
        Some(Value::Ext(e)) => match &**e {
            Ext::Authz(v) => Ok(v.clone()),
            _ => nso(),
        },
        _ => nso(),
    }
}

fn resource_update<'a>(a: &[Value<'a>], f: fn(&mut AuthzRequest, &str)) -> Result<Value<'a>, String> {
    let AuthzVal::Resource(b, mut r) = arg(a, 0)? else {
        return nso();
    };
    f(&mut r, str_arg(a, 1)?);
    Ok(wrap(AuthzVal::Resource(b, r)))
}

fn decision(a: &[Value<'_>]) -> Result<AuthzDecision, String> {
    match arg(a, 0)? {
        AuthzVal::Decision(d) => Ok(d),
        _ => nso(),
    }
}

pub fn register(r: &mut Registry) {
    const AZ: &str = "kubernetes.authorization.Authorizer";
    r.member(
        "path",
        "authorizer_path",
        &format!("{AZ}, string -> kubernetes.authorization.PathCheck"),
        |a| {
            let AuthzVal::Authorizer(b) = arg(&a, 0)? else {
                return nso();
            };
            let p = str_arg(&a, 1)?;
            if p.trim().is_empty() {
                return Err("path must not be empty".into());
            }
            Ok(wrap(AuthzVal::Path(b, p.to_string())))
        },
    );
    r.member(
        "group",
        "authorizer_group",
        &format!("{AZ}, string -> kubernetes.authorization.GroupCheck"),
        |a| {
            let AuthzVal::Authorizer(b) = arg(&a, 0)? else {
                return nso();
            };
            Ok(wrap(AuthzVal::Group(b, str_arg(&a, 1)?.to_string())))
        },
    );
    r.member(
        "serviceAccount",
        "authorizer_serviceaccount",
        &format!("{AZ}, string, string -> {AZ}"),
        |a| {
            let AuthzVal::Authorizer(b) = arg(&a, 0)? else {
                return nso();
            };
            let (ns, name) = (str_arg(&a, 1)?, str_arg(&a, 2)?);
            if !crate::util::names::is_dns1123_subdomain(name).is_empty() {
                return Err("Invalid service account name".into());
            }
            if !crate::util::names::is_dns1123_label(ns).is_empty() {
                return Err("Invalid service account namespace".into());
            }
            let user = AuthzUser {
                name: format!("system:serviceaccount:{ns}:{name}"),
                uid: String::new(),
                groups: vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")],
                extra: BTreeMap::new(),
            };
            Ok(wrap(AuthzVal::Authorizer(Base {
                az: b.az,
                user: Arc::new(user),
            })))
        },
    );
    const RC: &str = "kubernetes.authorization.ResourceCheck";
    r.member(
        "resource",
        "groupcheck_resource",
        &format!("kubernetes.authorization.GroupCheck, string -> {RC}"),
        |a| {
            let AuthzVal::Group(b, g) = arg(&a, 0)? else {
                return nso();
            };
            let res = str_arg(&a, 1)?;
            if res.trim().is_empty() {
                return Err("resource must not be empty".into());
            }
            Ok(wrap(AuthzVal::Resource(
                b,
                AuthzRequest {
                    resource_request: true,
                    group: g,
                    resource: res.to_string(),
                    ..Default::default()
                },
            )))
        },
    );
    r.member(
        "subresource",
        "resourcecheck_subresource",
        &format!("{RC}, string -> {RC}"),
        |a| resource_update(&a, |r, v| r.subresource = v.into()),
    );
    r.member(
        "namespace",
        "resourcecheck_namespace",
        &format!("{RC}, string -> {RC}"),
        |a| resource_update(&a, |r, v| r.namespace = v.into()),
    );
    r.member("name", "resourcecheck_name", &format!("{RC}, string -> {RC}"), |a| {
        resource_update(&a, |r, v| r.name = v.into())
    });
    r.member(
        "fieldSelector",
        "authorizer_fieldselector",
        &format!("{RC}, string -> {RC}"),
        |a| resource_update(&a, |r, v| r.field_selector = v.into()),
    );
    r.member(
        "labelSelector",
        "authorizer_labelselector",
        &format!("{RC}, string -> {RC}"),
        |a| resource_update(&a, |r, v| r.label_selector = v.into()),
    );
    r.member(
        "check",
        "pathcheck_check",
        "kubernetes.authorization.PathCheck, string -> kubernetes.authorization.Decision",
        |a| {
            let AuthzVal::Path(b, p) = arg(&a, 0)? else {
                return nso();
            };
            let req = AuthzRequest {
                verb: str_arg(&a, 1)?.to_string(),
                path: p,
                ..Default::default()
            };
            Ok(wrap(AuthzVal::Decision(b.az.authorize(&b.user, &req))))
        },
    );
    r.member(
        "check",
        "resourcecheck_check",
        &format!("{RC}, string -> kubernetes.authorization.Decision"),
        |a| {
            let AuthzVal::Resource(b, mut req) = arg(&a, 0)? else {
                return nso();
            };
            req.verb = str_arg(&a, 1)?.to_string();
            Ok(wrap(AuthzVal::Decision(b.az.authorize(&b.user, &req))))
        },
    );
    const DT: &str = "kubernetes.authorization.Decision";
    r.member("errored", "decision_errored", &format!("{DT} -> bool"), |a| {
        Ok(Value::Bool(decision(&a)?.error.is_some()))
    });
    r.member("error", "decision_error", &format!("{DT} -> string"), |a| {
        Ok(string(decision(&a)?.error.unwrap_or_default()))
    });
    r.member("allowed", "decision_allowed", &format!("{DT} -> bool"), |a| {
        Ok(Value::Bool(decision(&a)?.allowed))
    });
    r.member("reason", "decision_reason", &format!("{DT} -> string"), |a| {
        Ok(string(decision(&a)?.reason))
    });
}
