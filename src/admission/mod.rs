//! Admission control (upstream's `k8s.io/apiserver/pkg/admission` + `plugin/pkg/admission`):
//! an ordered chain of built-in plugins and admission webhooks that the registry runs on every
//! write. Mutating admission runs after decoding/defaulting, validating admission after the
//! strategy's validation, both with the stored object available on update/delete.
//!
//! ```text
//! handler ─► Registry::create_with(.., Some(&ctx)) ─► chain.mutate ─► strategy ─► chain.validate ─► storage
//! ```

pub mod connect;
pub mod plugins;
pub mod quantity;
pub mod selector;
pub mod webhook;

use crate::api::ResourceDef;
use crate::auth::UserInfo;
use crate::config::{ConfigError, ServeOptions};
use crate::error::{ApiError, ApiResult};
use crate::registry::options::ListOptions;
use crate::registry::Registry;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`, as AdmissionReview spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// One admission request: who does what to which object.
#[derive(Debug, Clone)]
pub struct Attributes {
    pub user: UserInfo,
    pub operation: Operation,
    pub def: ResourceDef,
    /// "" for the main resource, else `status`, `finalize`, `exec`…
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub dry_run: bool,
    /// The stored object (update, delete).
    pub old: Option<Value>,
    /// The incoming object (create, update); mutating plugins change it in place.
    pub object: Option<Value>,
}

impl Attributes {
    pub fn new(ctx: &Context, operation: Operation, def: &ResourceDef, ns: Option<&str>, name: &str) -> Attributes {
        Attributes {
            user: ctx.user.clone(),
            operation,
            def: *def,
            subresource: String::new(),
            namespace: ns.unwrap_or("").to_string(),
            name: name.to_string(),
            dry_run: false,
            old: None,
            object: None,
        }
    }

    /// Is this the core-group kind `kind` on its main resource?
    pub fn is_core(&self, kind: &str) -> bool {
        self.def.group.is_empty() && self.def.kind == kind
    }

    /// The object's name, or its generateName for creates without one.
    pub fn object_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        self.object
            .as_ref()
            .and_then(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    }

    /// Upstream's `admission.NewForbidden`: `<resource> "<name>" is forbidden: <why>`.
    pub fn forbidden(&self, why: &str) -> ApiError {
        ApiError::forbidden(self.def.plural, self.def.group, &self.object_name(), why)
    }
}

/// A quota charge made during validation, undone when the write fails.
#[derive(Debug, Clone)]
pub struct Charge {
    pub namespace: String,
    pub quota: String,
    pub delta: BTreeMap<String, i128>,
}

/// The authorizer as plugins see it (CertificateApproval/Signing ask it about signers).
#[derive(Clone)]
pub struct AuthzHandle(pub Arc<crate::auth::authz::Authorizer>);

impl std::fmt::Debug for AuthzHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthzHandle")
    }
}

/// Per-request admission state the handler creates and reads back (warnings, annotations).
#[derive(Debug, Default)]
pub struct Context {
    pub user: UserInfo,
    /// The subresource the URL named when the store writes it as another part (`approval`
    /// is stored as a main update); admission sees this name, as upstream.
    pub subresource: Option<String>,
    authorizer: Option<AuthzHandle>,
    warnings: Mutex<Vec<String>>,
    annotations: Mutex<BTreeMap<String, String>>,
    charges: Mutex<Vec<Charge>>,
}

impl Context {
    pub fn new(user: UserInfo) -> Context {
        Context {
            user,
            ..Default::default()
        }
    }
    /// The context of an API request: the effective user, the URL's subresource and the
    /// server's authorizer.
    pub fn for_request(app: &crate::server::App, user: Option<&UserInfo>, sub: Option<&str>) -> Context {
        let a = &app.auth.authorizer;
        // A handle sharing the authorizer's indexes (the App owns the Authorizer itself).
        let handle = crate::auth::authz::Authorizer {
            modes: a.modes.clone(),
            rbac: a.rbac.clone(),
            node: a.node.clone(),
        };
        Context {
            user: user.cloned().unwrap_or_default(),
            subresource: sub.map(str::to_string),
            authorizer: Some(AuthzHandle(Arc::new(handle))),
            ..Default::default()
        }
    }
    pub fn with_authorizer(mut self, a: Arc<crate::auth::authz::Authorizer>) -> Context {
        self.authorizer = Some(AuthzHandle(a));
        self
    }
    /// May this request's user `verb` the resource `group/resource` named `name`
    /// (cluster-wide, any version)? Without an authorizer (internal writes, unit tests):
    /// yes.
    pub fn authorized(&self, verb: &str, group: &str, resource: &str, name: &str) -> bool {
        let Some(AuthzHandle(az)) = self.authorizer.as_ref() else {
            return true;
        };
        az.decide(&crate::auth::authz::Attributes {
            user: &self.user,
            verb,
            is_resource: true,
            api_group: group,
            api_version: "*",
            namespace: "",
            resource,
            subresource: "",
            name,
            path: "",
            field_selector: "",
        })
        .allowed
    }
    pub fn warn(&self, w: impl Into<String>) {
        if let Ok(mut v) = self.warnings.lock() {
            v.push(w.into());
        }
    }
    /// Warnings for the response's `Warning` headers.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|v| v.clone()).unwrap_or_default()
    }
    pub fn annotate(&self, k: impl Into<String>, v: impl Into<String>) {
        if let Ok(mut m) = self.annotations.lock() {
            m.insert(k.into(), v.into());
        }
    }
    /// Audit annotations plugins and webhooks added.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.annotations.lock().map(|m| m.clone()).unwrap_or_default()
    }
    /// The annotations for the audit event, as the response extension the server reads.
    pub fn audit_annotations(&self) -> crate::audit::AuditAnnotations {
        crate::audit::AuditAnnotations(self.annotations().into_iter().collect())
    }
    /// Attach the audit annotations to a response (nothing when there are none).
    pub fn annotate_response<B>(&self, resp: &mut http::Response<B>) {
        let a = self.audit_annotations();
        if !a.0.is_empty() {
            resp.extensions_mut().insert(a);
        }
    }
    pub(crate) fn record_charge(&self, c: Charge) {
        if let Ok(mut v) = self.charges.lock() {
            v.push(c);
        }
    }
    fn take_charges(&self) -> Vec<Charge> {
        self.charges
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
    /// The write succeeded: charges stay.
    pub fn commit(&self) {
        self.take_charges();
    }
}

/// What plugins may read: the registry and the request context.
pub struct Env<'a> {
    pub registry: &'a Registry,
    pub ctx: &'a Context,
    pub config: &'a BTreeMap<String, Value>,
}

/// The built-in row for a core/group resource.
pub fn row(group: &str, plural: &str) -> Option<&'static ResourceDef> {
    crate::api::builtin()
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

impl Env<'_> {
    /// One object (live read), None if missing.
    pub async fn get(&self, group: &str, plural: &str, ns: Option<&str>, name: &str) -> ApiResult<Option<Value>> {
        let Some(def) = row(group, plural) else { return Ok(None) };
        match self.registry.get(def, ns, name, None).await {
            Ok(o) => Ok(Some(o.value.clone())),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Every object of a resource (from the watch cache), optionally in one namespace.
    pub async fn list(&self, group: &str, plural: &str, ns: Option<&str>) -> ApiResult<Vec<Value>> {
        let Some(def) = row(group, plural) else {
            return Ok(Vec::new());
        };
        // A consistent read (the cache once caught up): an object created just before is seen.
        let l = self.registry.list(def, ns, &ListOptions::default()).await?;
        Ok(l.items.iter().map(|o| o.value.clone()).collect())
    }
    /// This plugin's configuration from the AdmissionConfiguration file (Null when none).
    pub fn plugin_config(&self, name: &str) -> Value {
        self.config.get(name).cloned().unwrap_or(Value::Null)
    }
}

/// A built-in admission plugin. Mutating plugins implement `admit`, validating ones `validate`.
#[async_trait::async_trait]
pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;
    async fn admit(&self, _a: &mut Attributes, _env: &Env<'_>) -> ApiResult<()> {
        Ok(())
    }
    async fn validate(&self, _a: &Attributes, _env: &Env<'_>) -> ApiResult<()> {
        Ok(())
    }
}

/// Every plugin name upstream v1.33 knows, in its execution order (`AllOrderedPlugins`), and
/// whether it is on by default.
pub const ORDERED_PLUGINS: &[(&str, bool)] = &[
    ("AlwaysAdmit", false),
    ("NamespaceAutoProvision", false),
    ("NamespaceLifecycle", true),
    ("NamespaceExists", false),
    ("LimitPodHardAntiAffinityTopology", false),
    ("LimitRanger", true),
    ("ServiceAccount", true),
    ("NodeRestriction", false),
    ("TaintNodesByCondition", true),
    ("AlwaysPullImages", false),
    ("ImagePolicyWebhook", false),
    ("PodSecurity", true),
    ("PodNodeSelector", false),
    ("Priority", true),
    ("DefaultTolerationSeconds", true),
    ("PodTolerationRestriction", false),
    ("EventRateLimit", false),
    ("ExtendedResourceToleration", false),
    ("DefaultStorageClass", true),
    ("StorageObjectInUseProtection", true),
    ("OwnerReferencesPermissionEnforcement", false),
    ("PersistentVolumeClaimResize", true),
    ("RuntimeClass", true),
    ("CertificateApproval", true),
    ("CertificateSigning", true),
    ("ClusterTrustBundleAttest", true),
    ("CertificateSubjectRestriction", true),
    ("DefaultIngressClass", true),
    ("DenyServiceExternalIPs", false),
    ("PodTopologyLabels", true),
    ("MutatingAdmissionPolicy", false),
    ("MutatingAdmissionWebhook", true),
    ("ValidatingAdmissionPolicy", true),
    ("ValidatingAdmissionWebhook", true),
    ("ResourceQuota", true),
    ("AlwaysDeny", false),
];

/// One step of the chain.
enum Step {
    Builtin(Box<dyn Plugin>),
    MutatingWebhooks,
    ValidatingWebhooks,
}

/// The configured chain, in upstream order.
pub struct AdmissionChain {
    steps: Vec<Step>,
    /// Names of enabled plugins, in order (for logs and tests).
    pub enabled: Vec<&'static str>,
    /// Per-plugin configuration from `--admission-control-config-file`.
    config: BTreeMap<String, Value>,
    webhooks: webhook::Dispatcher,
}

fn unknown(layer_key: &str, opts: &ServeOptions, flag: &str, name: &str) -> ConfigError {
    let src = opts.sources.get(layer_key).map(String::as_str).unwrap_or("default");
    ConfigError(vec![format!(
        "{src}: key \"{layer_key}\": {flag} plugin \"{name}\" is unknown"
    )])
}

impl AdmissionChain {
    /// From `admission.enable-plugins` / `admission.disable-plugins` / the legacy
    /// `admission.control` and `admission.config-file`. Unknown names are errors.
    pub fn from_options(opts: &ServeOptions) -> Result<AdmissionChain, ConfigError> {
        let enable = opts.get_list("admission.enable-plugins");
        let disable = opts.get_list("admission.disable-plugins");
        let legacy = opts.get_list("admission.control");
        for (key, flag, list) in [
            ("admission.enable-plugins", "enable-admission-plugins", &enable),
            ("admission.disable-plugins", "disable-admission-plugins", &disable),
            ("admission.control", "admission-control", &legacy),
        ] {
            if let Some(n) = list.iter().find(|n| !ORDERED_PLUGINS.iter().any(|(p, _)| p == n)) {
                return Err(unknown(key, opts, flag, n));
            }
        }
        if let Some(n) = enable.iter().find(|n| disable.contains(n)) {
            return Err(ConfigError(vec![format!(
                "key \"admission.enable-plugins\": {n} in enable-admission-plugins and disable-admission-plugins overlapped"
            )]));
        }
        let names: Vec<&'static str> = ORDERED_PLUGINS
            .iter()
            .filter(|(n, on)| {
                let wanted = if legacy.is_empty() {
                    *on || enable.iter().any(|e| e == n)
                } else {
                    legacy.iter().any(|e| e == n) || enable.iter().any(|e| e == n)
                };
                wanted && !disable.iter().any(|d| d == n)
            })
            .map(|(n, _)| *n)
            .collect();
        let config = match opts.get_path("admission.config-file") {
            Some(p) => load_config_file(&p).map_err(|e| {
                let src = opts
                    .sources
                    .get("admission.config-file")
                    .map(String::as_str)
                    .unwrap_or("default");
                ConfigError(vec![format!("{src}: key \"admission.config-file\": {e}")])
            })?,
            None => BTreeMap::new(),
        };
        Ok(AdmissionChain::with_plugins(&names, config))
    }

    /// A chain of exactly these plugins (upstream order is applied).
    pub fn with_plugins(names: &[&str], config: BTreeMap<String, Value>) -> AdmissionChain {
        let mut steps = Vec::new();
        let mut enabled = Vec::new();
        for (n, _) in ORDERED_PLUGINS {
            if !names.contains(n) {
                continue;
            }
            enabled.push(*n);
            match *n {
                "MutatingAdmissionWebhook" => steps.push(Step::MutatingWebhooks),
                "ValidatingAdmissionWebhook" => steps.push(Step::ValidatingWebhooks),
                other => match plugins::build(other) {
                    Some(p) => steps.push(Step::Builtin(p)),
                    None => tracing::debug!(plugin = other, "admission plugin has no effect in capstan"),
                },
            }
        }
        AdmissionChain {
            steps,
            enabled,
            config,
            webhooks: webhook::Dispatcher,
        }
    }

    /// Run the mutating half of the chain; `a.object` is changed in place.
    pub async fn mutate(&self, reg: &Registry, ctx: &Context, a: &mut Attributes) -> ApiResult<()> {
        let env = Env {
            registry: reg,
            ctx,
            config: &self.config,
        };
        for s in &self.steps {
            match s {
                Step::Builtin(p) => p.admit(a, &env).await?,
                Step::MutatingWebhooks => self.webhooks.mutate(a, &env).await?,
                Step::ValidatingWebhooks => {}
            }
        }
        Ok(())
    }

    /// Run the validating half of the chain.
    pub async fn validate(&self, reg: &Registry, ctx: &Context, a: &Attributes) -> ApiResult<()> {
        let env = Env {
            registry: reg,
            ctx,
            config: &self.config,
        };
        for s in &self.steps {
            let res = match s {
                Step::Builtin(p) => p.validate(a, &env).await,
                Step::ValidatingWebhooks => self.webhooks.validate(a, &env).await,
                Step::MutatingWebhooks => Ok(()),
            };
            if let Err(e) = res {
                rollback(reg, ctx).await;
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Undo this request's quota charges (the write failed after validation).
pub async fn rollback(reg: &Registry, ctx: &Context) {
    for c in ctx.take_charges() {
        plugins::resource_quota::refund(reg, &c).await;
    }
}

/// Run mutation then validation for a request that has no strategy step (CONNECT).
pub async fn admit_connect(reg: &Registry, ctx: &Context, a: &mut Attributes) -> ApiResult<()> {
    let Some(chain) = reg.admission.as_ref() else {
        return Ok(());
    };
    chain.mutate(reg, ctx, a).await?;
    chain.validate(reg, ctx, a).await?;
    ctx.commit();
    Ok(())
}

/// The subresource admission reports: the URL's when the store writes it as the main
/// resource (`approval`), else the store's.
fn request_subresource(ctx: &Context, store_sub: &str) -> String {
    match ctx.subresource.as_deref() {
        Some(s) if store_sub.is_empty() && !s.is_empty() => s.to_string(),
        _ => store_sub.to_string(),
    }
}

/// Store hook: mutating admission of an incoming object (create/update). Without a chain or
/// a request context (internal writes) it does nothing. The kind's defaults run again when
/// admission changed the object, as upstream decodes and defaults webhook output.
#[allow(clippy::too_many_arguments)]
pub async fn mutate_object(
    reg: &Registry,
    ctx: Option<&Context>,
    op: Operation,
    def: &ResourceDef,
    ns: Option<&str>,
    subresource: &str,
    obj: &mut Value,
    old: Option<&Value>,
    dry_run: bool,
) -> ApiResult<()> {
    let (Some(chain), Some(ctx)) = (reg.admission.as_ref(), ctx) else {
        return Ok(());
    };
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut a = Attributes::new(ctx, op, def, ns, &name);
    a.subresource = request_subresource(ctx, subresource);
    a.dry_run = dry_run;
    a.old = old.cloned();
    a.object = Some(obj.clone());
    chain.mutate(reg, ctx, &mut a).await?;
    if let Some(new) = a.object {
        if new != *obj {
            *obj = new;
            (crate::api::strategy::strategy_for(def.group, def.kind).defaults)(obj);
        }
    }
    Ok(())
}

/// Store hook: validating admission after the strategy's validation (create/update), or the
/// whole chain for a delete (`obj` None, `old` the stored object).
#[allow(clippy::too_many_arguments)]
pub async fn validate_object(
    reg: &Registry,
    ctx: Option<&Context>,
    op: Operation,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    subresource: &str,
    obj: Option<&Value>,
    old: Option<&Value>,
    dry_run: bool,
) -> ApiResult<()> {
    let (Some(chain), Some(ctx)) = (reg.admission.as_ref(), ctx) else {
        return Ok(());
    };
    let mut a = Attributes::new(ctx, op, def, ns, name);
    a.subresource = request_subresource(ctx, subresource);
    a.dry_run = dry_run;
    a.old = old.cloned();
    a.object = obj.cloned();
    if op == Operation::Delete {
        chain.mutate(reg, ctx, &mut a).await?;
    }
    chain.validate(reg, ctx, &a).await
}

/// Store hook after the write: keep the charges on success, refund them on failure.
pub async fn finish(reg: &Registry, ctx: Option<&Context>, ok: bool) {
    match ctx {
        Some(c) if ok => c.commit(),
        Some(c) => rollback(reg, c).await,
        None => {}
    }
}

/// Store hook after an object is gone for good: its quota usage is released.
pub async fn deleted(reg: &Registry, def: &ResourceDef, obj: &Value) {
    if reg
        .admission
        .as_ref()
        .is_some_and(|c| c.enabled.contains(&"ResourceQuota"))
    {
        plugins::resource_quota::release(reg, def, obj).await;
    }
}

/// An `AdmissionConfiguration` (apiserver.config.k8s.io/v1, YAML or JSON): plugin name →
/// its `configuration` (inline) or the content of its `path`.
pub fn load_config_file(path: &std::path::Path) -> Result<BTreeMap<String, Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: Value = yaml_serde::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "AdmissionConfiguration" {
        return Err(format!(
            "{}: expected kind AdmissionConfiguration, got {kind:?}",
            path.display()
        ));
    }
    let mut out = BTreeMap::new();
    for p in doc.get("plugins").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            return Err(format!("{}: a plugin entry has no name", path.display()));
        };
        if !ORDERED_PLUGINS.iter().any(|(n, _)| *n == name) {
            return Err(format!("{}: plugin \"{name}\" is unknown", path.display()));
        }
        let cfg = match (p.get("configuration"), p.get("path").and_then(Value::as_str)) {
            (Some(c), _) => c.clone(),
            (None, Some(file)) => {
                let full = path.parent().unwrap_or(std::path::Path::new(".")).join(file);
                let t = std::fs::read_to_string(&full).map_err(|e| format!("cannot read {}: {e}", full.display()))?;
                yaml_serde::from_str(&t).map_err(|e| format!("cannot parse {}: {e}", full.display()))?
            }
            (None, None) => Value::Null,
        };
        out.insert(name.to_string(), cfg);
    }
    Ok(out)
}

/// Shared handle type the registry keeps.
pub type SharedChain = Arc<AdmissionChain>;

#[cfg(test)]
mod tests;
