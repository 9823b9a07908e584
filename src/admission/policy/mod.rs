//! ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) as upstream 1.33's
//! `plugin/policy/validating`, and MutatingAdmissionPolicy (v1alpha1, `plugin/policy/mutating`,
//! in [`mutate`]) on the same matcher, params and CEL: policies and bindings are read from the watch cache into an
//! [`Index`] (rebuilt when either changes, compiled once), so a request only meets the
//! bindings whose policy names its resource — the cost per write stays flat in the number of
//! policies that do not match it.
//!
//! Per matching (policy, binding, param): matchConditions, then validations with lazily
//! evaluated variables, each within the per-call cost limit and the binding's runtime budget;
//! failures become Deny (403/422/… with upstream's message), Warn (a Warning header) or Audit
//! (the `validation.policy.admission.k8s.io/validation_failure` audit annotation) as the
//! binding's validationActions say; evaluation errors follow the policy's failurePolicy.

mod authz;
pub mod compile;
mod eval;
mod mutate;
mod params;
pub mod typecheck;

use super::webhook::{self, Gvr};
use super::{Attributes, Env};
use crate::cel::Mode;
use crate::error::ApiResult;
use crate::registry::Registry;
use crate::util::json::JsonExt;
use compile::Policy;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub(crate) use authz::Binding as AuthzBinding;
pub(crate) use eval::{conditions, Vars};
pub use mutate::Reinvocation;

pub const GROUP: &str = "admissionregistration.k8s.io";

/// Which policies an engine enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    #[default]
    Validating,
    Mutating,
}

impl Kind {
    /// (version, policies, bindings).
    fn resources(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Validating => ("v1", "validatingadmissionpolicies", "validatingadmissionpolicybindings"),
            Kind::Mutating => (
                "v1alpha1",
                "mutatingadmissionpolicies",
                "mutatingadmissionpolicybindings",
            ),
        }
    }
}
/// How often the index looks for changed policies or bindings (a cache snapshot compare).
const RESYNC: Duration = Duration::from_millis(100);

/// A binding with its compiled policy.
pub struct Bound {
    pub policy: Arc<Policy>,
    pub name: String,
    pub spec: Value,
    pub deny: bool,
    pub warn: bool,
    pub audit: bool,
}

/// The bindings by the resources their policy's rules name.
#[derive(Default)]
pub struct Index {
    fingerprint: Vec<(String, i64)>,
    by_resource: HashMap<String, Vec<Arc<Bound>>>,
    /// Bindings of policies whose rules name `*`.
    any: Vec<Arc<Bound>>,
}

impl Index {
    fn build(policies: &[Value], bindings: &[Value], fingerprint: Vec<(String, i64)>, kind: Kind) -> Index {
        let mut compiled: HashMap<String, Arc<Policy>> = HashMap::new();
        for p in policies {
            let name = p.str_at("/metadata/name").to_string();
            let policy = Policy::compile(p, Mode::Stored, kind == Kind::Mutating);
            let prev = compiled.insert(name, Arc::new(policy));
            debug_assert!(prev.is_none());
        }
        let mut idx = Index {
            fingerprint,
            ..Default::default()
        };
        for b in bindings {
            let spec = b.get("spec").cloned().unwrap_or(Value::Null);
            let Some(policy) = compiled.get(spec.str_at("/policyName")) else {
                continue;
            };
            let actions: Vec<&str> = spec
                .get("validationActions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let bound = Arc::new(Bound {
                policy: policy.clone(),
                name: b.str_at("/metadata/name").to_string(),
                deny: actions.contains(&"Deny"),
                warn: actions.contains(&"Warn"),
                audit: actions.contains(&"Audit"),
                spec,
            });
            let mut names: Vec<&str> = policy
                .match_constraints
                .get("resourceRules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|r| r.get("resources").and_then(Value::as_array).into_iter().flatten())
                .filter_map(Value::as_str)
                .map(|r| r.split('/').next().unwrap_or(r))
                .collect();
            names.sort_unstable();
            names.dedup();
            if names.contains(&"*") {
                idx.any.push(bound);
            } else {
                for n in names {
                    idx.by_resource.entry(n.to_string()).or_default().push(bound.clone());
                }
            }
        }
        idx
    }

    fn candidates(&self, resource: &str) -> impl Iterator<Item = &Arc<Bound>> {
        self.by_resource
            .get(resource)
            .into_iter()
            .flatten()
            .chain(self.any.iter())
    }
}

/// The engine one admission chain holds per policy kind: the index and the task that keeps
/// it current.
#[derive(Default)]
pub struct Engine {
    kind: Kind,
    index: RwLock<Arc<Index>>,
    started: tokio::sync::OnceCell<()>,
}

fn snapshot(reg: &Registry, version: &str, plural: &str) -> (Vec<Value>, Vec<(String, i64)>) {
    let Some(def) = reg.find(GROUP, version, plural) else {
        return (Vec::new(), Vec::new());
    };
    let snap = reg.caches.cache(def.storage).snapshot(&reg.key_prefix(def, None));
    let fp = snap.items.iter().map(|o| (o.key.clone(), o.revision)).collect();
    (snap.items.iter().map(|o| o.value()).collect(), fp)
}

impl Engine {
    pub fn new(kind: Kind) -> Engine {
        Engine {
            kind,
            ..Default::default()
        }
    }

    /// Rebuild the index when a policy or binding changed.
    fn sync(&self, reg: &Registry) {
        let (version, policies, bindings) = self.kind.resources();
        let (policies, mut fp) = snapshot(reg, version, policies);
        let (bindings, bfp) = snapshot(reg, version, bindings);
        fp.extend(bfp);
        if self.current().fingerprint == fp {
            return;
        }
        let idx = Arc::new(Index::build(&policies, &bindings, fp, self.kind));
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = idx;
    }

    fn current(&self) -> Arc<Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The index, following the watch cache from the first request on (also writing
    /// ValidatingAdmissionPolicies' status.typeChecking).
    async fn index(self: &Arc<Self>, reg: &Registry) -> Arc<Index> {
        self.started
            .get_or_init(|| async {
                let (version, policies, bindings) = self.kind.resources();
                for plural in [policies, bindings] {
                    if let Some(def) = reg.find(GROUP, version, plural) {
                        reg.caches.ensure(def.storage).await;
                    }
                }
                let typecheck = self.kind == Kind::Validating;
                self.sync(reg);
                let (me, reg) = (Arc::downgrade(self), reg.clone());
                tokio::spawn(async move {
                    let mut checker = typecheck::Checker::default();
                    loop {
                        tokio::time::sleep(RESYNC).await;
                        let Some(me) = me.upgrade() else { return };
                        me.sync(&reg);
                        if typecheck {
                            checker.run(&reg).await;
                        }
                    }
                });
            })
            .await;
        self.current()
    }

    /// ValidatingAdmissionPolicy's validating admission of one request.
    pub async fn validate(self: &Arc<Self>, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        // Upstream exempts the admission configuration kinds themselves.
        if a.def.group == GROUP {
            return Ok(());
        }
        let idx = self.index(env.registry).await;
        let mut run = eval::Run::new(a, env);
        for (b, matched) in matching_bindings(&idx, a, env).await? {
            run.binding(&b, &matched).await?;
        }
        run.finish()
    }
}

/// The bindings whose policy's matchConstraints and own matchResources match the request,
/// with the resource it matched as.
async fn matching_bindings(idx: &Index, a: &Attributes, env: &Env<'_>) -> ApiResult<Vec<(Arc<Bound>, Gvr)>> {
    let mut out = Vec::new();
    for b in idx.candidates(a.def.plural) {
        let Some(matched) = matches(&b.policy.match_constraints, a, env).await? else {
            continue;
        };
        if let Some(mr) = b.spec.get("matchResources").filter(|m| m.is_object()) {
            if matches(mr, a, env).await?.is_none() {
                continue;
            }
        }
        out.push((b.clone(), matched));
    }
    Ok(out)
}

/// `matchConstraints` / a binding's `matchResources` (upstream `matching.Matcher`): resource
/// rules (with resourceNames), excludeResourceRules, matchPolicy, namespace and object
/// selectors. The resource the request matched as, or None.
async fn matches(m: &Value, a: &Attributes, env: &Env<'_>) -> ApiResult<Option<Gvr>> {
    let name = a.object_name();
    let named = |r: &Value| {
        r.get("resourceNames")
            .and_then(Value::as_array)
            .filter(|n| !n.is_empty())
            .is_none_or(|n| n.iter().any(|x| x.as_str() == Some(name.as_str())))
    };
    let rules = |field: &str| -> Vec<Value> {
        m.get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| named(r))
            .cloned()
            .collect()
    };
    let policy = m.get("matchPolicy").cloned().unwrap_or(Value::Null);
    // No resourceRules (a binding's matchResources may omit them): no constraint.
    let gvr = if m
        .get("resourceRules")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        Gvr::of(&a.def)
    } else {
        let include = serde_json::json!({"rules": rules("resourceRules"), "matchPolicy": policy.clone()});
        let Some(gvr) = webhook::matched_resource(&include, a) else {
            return Ok(None);
        };
        gvr
    };
    // The same matchPolicy for excluded resources (upstream `matching.Matcher`): under
    // Equivalent an exclusion also covers the resource's equivalents.
    let exclude = serde_json::json!({"rules": rules("excludeResourceRules"), "matchPolicy": policy});
    if webhook::matched_resource(&exclude, a).is_some() {
        return Ok(None);
    }
    Ok(webhook::selectors_match(m, a, env).await?.then_some(gvr))
}
