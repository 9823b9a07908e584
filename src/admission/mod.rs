//! Admission control (upstream's `k8s.io/apiserver/pkg/admission` + `plugin/pkg/admission`):
//! an ordered chain of built-in plugins and admission webhooks that the registry runs on every
//! write. Mutating admission runs after decoding/defaulting, validating admission after the
//! strategy's validation, both with the stored object available on update/delete.
//!
//! ```text
//! handler ─► Registry::create_with(.., Some(&chain.request(&ctx))) ─► chain.mutate ─► strategy ─► chain.validate ─► storage
//! ```
//!
//! The store knows admission only as `registry::admission::Admission`, which [`Request`]
//! (a chain bound to one request's [`Context`]) implements.

pub mod connect;
pub mod lru;
pub mod plugins;
pub mod policy;
pub mod webhook;

use crate::api::ResourceDef;
use crate::config::{ConfigError, ServeOptions};
use crate::error::{ApiError, ApiResult};
use crate::registry::admission::Write;
use crate::registry::options::ListOptions;
use crate::registry::Registry;
use crate::request::UserInfo;
use crate::util::json::JsonExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use crate::registry::admission::Operation;

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
            .and_then(|o| o.opt_str_at("/metadata/name"))
            .unwrap_or("")
            .to_string()
    }

    /// Upstream's `admission.NewForbidden`: `<resource> "<name>" is forbidden: <why>`, the
    /// name being the request's, else the object's name or generateName, else "Unknown".
    pub fn forbidden(&self, why: &str) -> ApiError {
        let mut name = self.object_name();
        if name.is_empty() {
            name = self
                .object
                .as_ref()
                .and_then(|o| o.pointer("/metadata/generateName").and_then(Value::as_str))
                .filter(|g| !g.is_empty())
                .unwrap_or("Unknown")
                .to_string();
        }
        ApiError::forbidden(self.def.plural, self.def.group, &name, why)
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
    pub fn for_request(
        authorizer: &Arc<crate::auth::authz::Authorizer>,
        user: Option<&UserInfo>,
        sub: Option<&str>,
    ) -> Context {
        Context {
            user: user.cloned().unwrap_or_default(),
            subresource: sub.map(str::to_string),
            authorizer: Some(AuthzHandle(authorizer.clone())),
            ..Default::default()
        }
    }
    /// The server's authorizer (None for internal writes).
    pub fn authorizer_handle(&self) -> Option<&AuthzHandle> {
        self.authorizer.as_ref()
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
        az.decide_blocking(&crate::auth::authz::Attributes {
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
    /// The authorizer's verdict on `attrs` (whose user should be this request's). Without an
    /// authorizer (internal writes, unit tests): allowed.
    pub async fn decide(&self, attrs: &crate::auth::authz::Attributes<'_>) -> crate::auth::authz::Verdict {
        match self.authorizer.as_ref() {
            Some(AuthzHandle(az)) => az.decide(attrs).await,
            None => crate::auth::authz::Verdict::allow(""),
        }
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

impl Env<'_> {
    /// One object, None if missing: from the watch cache (upstream's plugins read listers),
    /// then — only when the cache has not got it — from storage, as upstream's plugins fall
    /// back to a live lookup for an object created a moment ago.
    pub async fn get(&self, group: &str, plural: &str, ns: Option<&str>, name: &str) -> ApiResult<Option<Value>> {
        let Some(def) = crate::api::builtin_row(group, plural) else {
            return Ok(None);
        };
        match self.registry.get_cached_or_live(def, ns, name).await {
            Ok(o) => Ok(Some(o.value())),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Every object of a resource as the watch cache holds it now, as upstream's plugins read
    /// their informers' listers: no storage round trip (these run on every write).
    pub async fn list_cached(&self, group: &str, plural: &str, ns: Option<&str>) -> ApiResult<Vec<Value>> {
        let Some(def) = crate::api::builtin_row(group, plural) else {
            return Ok(Vec::new());
        };
        let items = self.registry.list_cached(def, ns).await?;
        Ok(items.iter().map(|o| o.value()).collect())
    }
    /// [`Env::list_cached`], and when the cache has none, a live lookup (upstream's LimitRanger
    /// and ResourceQuota): [`Registry::list_cached_or_live`].
    pub async fn list_cached_or_live(&self, group: &str, plural: &str, ns: Option<&str>) -> ApiResult<Vec<Value>> {
        let Some(def) = crate::api::builtin_row(group, plural) else {
            return Ok(Vec::new());
        };
        let items = self.registry.list_cached_or_live(def, ns).await?;
        Ok(items.iter().map(|o| o.value()).collect())
    }
    /// Every object of a resource (from the watch cache), optionally in one namespace.
    pub async fn list(&self, group: &str, plural: &str, ns: Option<&str>) -> ApiResult<Vec<Value>> {
        let Some(def) = crate::api::builtin_row(group, plural) else {
            return Ok(Vec::new());
        };
        // A consistent read (the cache once caught up): an object created just before is seen.
        let l = self.registry.list(def, ns, &ListOptions::default()).await?;
        Ok(l.items.iter().map(|o| o.value()).collect())
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
/// whether it is on by default (`DefaultOffAdmissionPlugins`). Each name is built by
/// [`plugins::build`]: implemented, or refused at startup — never accepted and ignored.
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
    ("MutatingAdmissionPolicy", true),
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
    /// `ValidatingAdmissionPolicy` / `MutatingAdmissionPolicy`, at upstream's place in the
    /// order. `mutating`: MutatingAdmissionPolicy (else ValidatingAdmissionPolicy).
    Policy {
        mutating: bool,
    },
}

/// The configured chain, in upstream order.
pub struct AdmissionChain {
    steps: Vec<Step>,
    /// Names of enabled plugins, in order (for logs and tests).
    pub enabled: Vec<&'static str>,
    /// Per-plugin configuration from `--admission-control-config-file`.
    config: BTreeMap<String, Value>,
    webhooks: webhook::Dispatcher,
    /// The ValidatingAdmissionPolicy engine (its index follows the watch cache).
    policies: Arc<policy::Engine>,
    /// The MutatingAdmissionPolicy engine.
    mutating_policies: Arc<policy::Engine>,
    /// The feature gates in effect (the binding storage asks about PodTopologyLabelsAdmission).
    pub features: crate::config::features::FeatureGates,
}

/// `<layer>: key "<key>": <what>`, naming the layer that set `key`.
fn config_error(opts: &ServeOptions, key: &str, what: &str) -> ConfigError {
    let src = opts.sources.get(key).map(String::as_str).unwrap_or("default");
    ConfigError(vec![format!("{src}: key \"{key}\": {what}")])
}

impl AdmissionChain {
    /// From `admission.enable-plugins` / `admission.disable-plugins` / the legacy
    /// `admission.control` and `admission.config-file`. Unknown names, plugins capstan refuses
    /// and invalid plugin configurations are errors naming the layer, the key and the plugin.
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
                return Err(config_error(opts, key, &format!("{flag} plugin \"{n}\" is unknown")));
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
        let mut config = match opts.get_path("admission.config-file") {
            Some(p) => load_config_file(&p).map_err(|e| config_error(opts, "admission.config-file", &e))?,
            None => BTreeMap::new(),
        };
        // Plugins' own flags, as upstream registers them with the plugin.
        let secs = |key: &str| opts.get(key).and_then(Value::as_i64).unwrap_or(300);
        config.insert(
            "DefaultTolerationSeconds".into(),
            serde_json::json!({
                "notReady": secs("default-not-ready-toleration-seconds"),
                "unreachable": secs("default-unreachable-toleration-seconds"),
            }),
        );
        let features = crate::config::features::FeatureGates::from_options(opts);
        AdmissionChain::build(&names, config, features).map_err(|(name, e)| {
            // The key that brought the plugin in: its configuration, else the list naming it.
            let key = if opts.get_path("admission.config-file").is_some() {
                "admission.config-file"
            } else if !legacy.is_empty() && legacy.iter().any(|n| n == name) {
                "admission.control"
            } else {
                "admission.enable-plugins"
            };
            config_error(opts, key, &e)
        })
    }

    /// A chain of exactly these plugins (upstream order is applied); Err names the plugin
    /// that cannot start and why.
    pub fn build(
        names: &[&str],
        config: BTreeMap<String, Value>,
        features: crate::config::features::FeatureGates,
    ) -> Result<AdmissionChain, (&'static str, String)> {
        let mut steps = Vec::new();
        let mut enabled = Vec::new();
        for (n, _) in ORDERED_PLUGINS {
            if !names.contains(n) {
                continue;
            }
            let init = plugins::Init {
                config: config.get(*n),
                features: &features,
            };
            if let Some(why) = plugins::refusal(n) {
                return Err((*n, format!("admission plugin {n:?} is not supported by capstan: {why}")));
            }
            let built =
                plugins::build(n, &init).map_err(|e| (*n, format!("couldn't init admission plugin {n:?}: {e}")))?;
            let step = match built {
                plugins::Built::Plugin(p) => Step::Builtin(p),
                plugins::Built::MutatingWebhooks => Step::MutatingWebhooks,
                plugins::Built::ValidatingWebhooks => Step::ValidatingWebhooks,
                // Upstream's plugin is enabled by default and does nothing unless its
                // feature gate is on (`InspectFeatureGates`).
                plugins::Built::Policy("MutatingAdmissionPolicy") if !features.enabled("MutatingAdmissionPolicy") => {
                    enabled.push(*n);
                    continue;
                }
                plugins::Built::Policy(kind) => Step::Policy {
                    mutating: kind == "MutatingAdmissionPolicy",
                },
            };
            steps.push(step);
            enabled.push(*n);
        }
        Ok(AdmissionChain {
            steps,
            enabled,
            config,
            webhooks: webhook::Dispatcher,
            features,
            policies: Arc::new(policy::Engine::new(policy::Kind::Validating)),
            mutating_policies: Arc::new(policy::Engine::new(policy::Kind::Mutating)),
        })
    }

    /// A chain of these plugins with default feature gates (tests, tools).
    pub fn with_plugins(names: &[&str], config: BTreeMap<String, Value>) -> Result<AdmissionChain, String> {
        AdmissionChain::build(names, config, Default::default()).map_err(|(_, e)| e)
    }

    /// Run the mutating half of the chain; `a.object` is changed in place. When a
    /// MutatingAdmissionPolicy changed the object, the reinvocable plugins run once more
    /// (upstream's `reinvoker`): the IfNeeded policies, then, if they changed the object
    /// again, the IfNeeded webhooks.
    pub async fn mutate(&self, reg: &Registry, ctx: &Context, a: &mut Attributes) -> ApiResult<()> {
        let env = Env {
            registry: reg,
            ctx,
            config: &self.config,
        };
        let mut re = policy::Reinvocation::default();
        for s in &self.steps {
            match s {
                Step::Builtin(p) => p.admit(a, &env).await?,
                Step::MutatingWebhooks => self.webhooks.mutate(a, &env).await?,
                Step::Policy { mutating: true } => self.mutating_policies.mutate(a, &env, &mut re).await?,
                Step::Policy { mutating: false } | Step::ValidatingWebhooks => {}
            }
        }
        if re.should_reinvoke() {
            re.begin_round2();
            let before = a.object.clone();
            self.mutating_policies.mutate(a, &env, &mut re).await?;
            let webhooks = self.steps.iter().any(|s| matches!(s, Step::MutatingWebhooks));
            if webhooks && a.object != before {
                self.webhooks.reinvoke(a, &env).await?;
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
                Step::Policy { mutating: false } => self.policies.validate(a, &env).await,
                Step::Policy { mutating: true } | Step::MutatingWebhooks => Ok(()),
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

impl AdmissionChain {
    /// The chain bound to one request: what the store runs on that request's writes.
    pub fn request<'a>(&'a self, ctx: &'a Context) -> Request<'a> {
        Request { chain: self, ctx }
    }

    /// Run mutation then validation for a request that has no strategy step (CONNECT).
    pub async fn admit_connect(&self, reg: &Registry, ctx: &Context, a: &mut Attributes) -> ApiResult<()> {
        self.admit_write(reg, ctx, a).await?;
        ctx.commit();
        Ok(())
    }

    /// Mutation then validation of a write the store does not admit itself (`pods/binding`,
    /// `pods/eviction`, `pods/ephemeralcontainers`, `serviceaccounts/token`); `a.object` comes
    /// back as admitted. The caller ends with `ctx.commit()` once the write is done, or
    /// [`rollback`] when it fails.
    pub async fn admit_write(&self, reg: &Registry, ctx: &Context, a: &mut Attributes) -> ApiResult<()> {
        self.mutate(reg, ctx, a).await?;
        self.validate(reg, ctx, a).await
    }
}

/// The subresource admission reports: the URL's when the store writes it as the main
/// resource (`approval`), else the store's.
fn request_subresource(ctx: &Context, store_sub: &str) -> String {
    match ctx.subresource.as_deref() {
        Some(s) if store_sub.is_empty() && !s.is_empty() => s.to_string(),
        _ => store_sub.to_string(),
    }
}

/// The chain bound to one request's context.
pub struct Request<'a> {
    chain: &'a AdmissionChain,
    ctx: &'a Context,
}

impl Request<'_> {
    fn attributes(&self, w: &Write<'_>, name: &str, old: Option<&Value>) -> Attributes {
        let mut a = Attributes::new(self.ctx, w.operation, w.def, w.namespace, name);
        a.subresource = request_subresource(self.ctx, w.subresource);
        a.dry_run = w.dry_run;
        a.old = old.cloned();
        a
    }
}

#[async_trait::async_trait]
impl crate::registry::admission::Admission for Request<'_> {
    /// Mutating admission of an incoming object (webhooks and MutatingAdmissionPolicies default
    /// what they patch themselves, after each patch, as upstream).
    async fn mutate(&self, reg: &Registry, w: &Write<'_>, obj: &mut Value, old: Option<&Value>) -> ApiResult<()> {
        // RBAC escalation prevention (upstream's policy-based RBAC storage) before any plugin.
        if let Some(AuthzHandle(az)) = &self.ctx.authorizer {
            crate::auth::authz::escalation::check(az, Some(&self.ctx.user), w.def, w.namespace, obj)?;
        }
        let name = obj.str_at("/metadata/name").to_string();
        let mut a = self.attributes(w, &name, old);
        a.object = Some(obj.clone());
        self.chain.mutate(reg, self.ctx, &mut a).await?;
        if let Some(new) = a.object {
            *obj = new;
        }
        Ok(())
    }

    async fn validate(&self, reg: &Registry, w: &Write<'_>, obj: Option<&Value>, old: Option<&Value>) -> ApiResult<()> {
        let mut a = self.attributes(w, w.name, old);
        a.object = obj.cloned();
        if w.operation == Operation::Delete {
            self.chain.mutate(reg, self.ctx, &mut a).await?;
        }
        self.chain.validate(reg, self.ctx, &a).await
    }

    async fn finish(&self, reg: &Registry, ok: bool) {
        if ok {
            self.ctx.commit();
        } else {
            rollback(reg, self.ctx).await;
        }
    }

    async fn admit_scale(&self, reg: &Registry, w: &Write<'_>, scale: &mut Value, old: &Value) -> ApiResult<()> {
        let mut a = Attributes::new(self.ctx, Operation::Update, w.def, w.namespace, w.name);
        a.subresource = "scale".into();
        a.dry_run = w.dry_run;
        a.old = Some(old.clone());
        a.object = Some(scale.clone());
        self.chain.mutate(reg, self.ctx, &mut a).await?;
        self.chain.validate(reg, self.ctx, &a).await?;
        if let Some(new) = a.object {
            *scale = new;
        }
        Ok(())
    }
}

/// An `AdmissionConfiguration` (apiserver.config.k8s.io/v1, YAML or JSON): plugin name →
/// its `configuration` (inline) or the content of its `path`.
pub fn load_config_file(path: &std::path::Path) -> Result<BTreeMap<String, Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: Value = yaml_serde::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
    let kind = doc.str_of("kind");
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

#[cfg(test)]
pub(crate) mod tests;
