//! Building the authorizer chain from the serve options: `--authorization-mode` with the
//! `--authorization-webhook-*` flags, or the structured `--authorization-config`
//! (AuthorizationConfiguration `apiserver.config.k8s.io/v1`, `v1beta1`, `v1alpha1`), with
//! upstream's validation messages. As kube-apiserver, the file is watched: a changed valid file
//! swaps the chain at once, a bad one is logged and the running chain stays (upstream
//! `pkg/kubeapiserver/authorizer/reload.go`), counted in
//! `apiserver_authorization_config_controller_automatic_reload*`.

use super::webhook::{FailurePolicy, Settings, WebhookAuthorizer};
use super::{Authorizer, Chain, Mode};
use crate::config::ServeOptions;
use crate::metrics::ConfigReloads;
use crate::util::file_poll::{self, Outcome};
use crate::util::json::JsonExt;
use crate::util::strict::Shape;
use anyhow::bail;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Whether some layer (flag, env, file) set `key`, not just the built-in default.
fn is_set(opts: &ServeOptions, key: &str) -> bool {
    opts.sources.get(key).is_some_and(|s| s != "default")
}

/// The chain the options describe; with `--authorization-config` its reloads count in `reloads`.
pub fn from_options(opts: &ServeOptions, reloads: Arc<ConfigReloads>) -> anyhow::Result<Arc<Authorizer>> {
    if let Some(file) = opts.get_path("authorization.config-file") {
        let legacy = [
            "authorization.mode",
            "authorization.webhook.config-file",
            "authorization.webhook.version",
            "authorization.webhook.cache-authorized-ttl",
            "authorization.webhook.cache-unauthorized-ttl",
        ];
        if legacy.iter().any(|k| is_set(opts, k)) {
            bail!("--authorization-config can not be specified when --authorization-mode or --authorization-webhook-* flags are defined");
        }
        return from_file(&file, reloads);
    }
    let modes = opts.get_list("authorization.mode");
    let webhook_file = opts.get_path("authorization.webhook.config-file");
    let mut errs = Vec::new();
    if modes.iter().any(|m| m == "Webhook") && webhook_file.is_none() {
        errs.push("authorization-mode Webhook's authorization config file not passed".to_string());
    }
    if modes.iter().any(|m| m == "ABAC") && opts.get_path("authorization.policy-file").is_none() {
        errs.push("authorization-mode ABAC's authorization policy file not passed".to_string());
    }
    if webhook_file.is_some() && !modes.iter().any(|m| m == "Webhook") {
        errs.push("cannot specify --authorization-webhook-config-file without mode Webhook".to_string());
    }
    if opts.get_path("authorization.policy-file").is_some() && !modes.iter().any(|m| m == "ABAC") {
        errs.push("cannot specify --authorization-policy-file without mode ABAC".to_string());
    }
    if !errs.is_empty() {
        bail!("{}", errs.join(", "));
    }
    let mut chain = Chain {
        modes: super::parse_modes(&modes)?,
        webhooks: Vec::new(),
    };
    if let Some(f) = webhook_file {
        let settings = Settings {
            version: opts.get_str("authorization.webhook.version"),
            authorized_ttl: opts.get_duration("authorization.webhook.cache-authorized-ttl"),
            unauthorized_ttl: opts.get_duration("authorization.webhook.cache-unauthorized-ttl"),
            timeout: Duration::from_secs(30),
            failure_policy: FailurePolicy::NoOpinion,
        };
        let w = WebhookAuthorizer::new("webhook", &f, settings)
            .map_err(|e| anyhow::anyhow!("--authorization-webhook-config-file: {e}"))?;
        chain.webhooks.push(Arc::new(w));
    }
    Ok(Arc::new(Authorizer::with_chain(chain)))
}

const KINDS: &[&str] = &[
    "apiserver.config.k8s.io/v1",
    "apiserver.config.k8s.io/v1beta1",
    "apiserver.config.k8s.io/v1alpha1",
];

/// Decode the file's content (upstream `load.LoadFromData`'s errors).
fn decode(data: &str) -> Result<Value, String> {
    let fail = |e: String| format!("failed to load AuthorizationConfiguration from file: {e}");
    let doc: Value = yaml_serde::from_str(data).map_err(|e| fail(e.to_string()))?;
    let av = doc.str_of("apiVersion");
    let kind = doc.str_of("kind");
    if !KINDS.contains(&av) || kind != "AuthorizationConfiguration" {
        return Err(fail(format!(
            "no kind \"{kind}\" is registered for version \"{av}\" in scheme \"pkg/runtime/scheme.go:110\""
        )));
    }
    let mut rest = doc.as_object().cloned().unwrap_or_default();
    rest.remove("apiVersion");
    rest.remove("kind");
    let version = av.rsplit('/').next().unwrap_or("v1");
    crate::util::strict::check(&rest, SHAPE, "AuthorizationConfiguration", version).map_err(fail)?;
    Ok(doc)
}

/// The kind's fields (`k8s.io/apiserver/pkg/apis/apiserver/v1.AuthorizationConfiguration`; the
/// same in v1beta1 and v1alpha1), for strict decoding.
const SHAPE: &[(&str, Shape)] = &[(
    "authorizers",
    Shape::List(&Shape::Obj(
        "AuthorizerConfiguration",
        &[
            ("type", Shape::Str),
            ("name", Shape::Str),
            ("webhook", Shape::Obj("WebhookConfiguration", WEBHOOK)),
        ],
    )),
)];
const WEBHOOK: &[(&str, Shape)] = &[
    ("authorizedTTL", Shape::Str),
    ("unauthorizedTTL", Shape::Str),
    ("timeout", Shape::Str),
    ("subjectAccessReviewVersion", Shape::Str),
    ("matchConditionSubjectAccessReviewVersion", Shape::Str),
    ("failurePolicy", Shape::Str),
    (
        "connectionInfo",
        Shape::Obj(
            "WebhookConnectionInfo",
            &[("type", Shape::Str), ("kubeConfigFile", Shape::Str)],
        ),
    ),
    (
        "matchConditions",
        Shape::List(&Shape::Obj("WebhookMatchCondition", &[("expression", Shape::Str)])),
    ),
];

/// Load and validate an AuthorizationConfiguration, and watch the file; errors start with the
/// file name.
pub fn from_file(path: &Path, reloads: Arc<ConfigReloads>) -> anyhow::Result<Arc<Authorizer>> {
    let data = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("open {}: {}", path.display(), crate::util::go_io_error(&e)))?;
    let fail = |e: String| anyhow::anyhow!("{}: {e}", path.display());
    let doc = decode(&data).map_err(fail)?;
    let chain = build(&doc, &[]).map_err(|errs| fail(aggregate(&errs)))?;
    // Upstream: every non-webhook authorizer of the first file must stay in later ones.
    let required: Vec<&'static str> = chain.modes.iter().filter_map(|m| type_name(*m)).collect();
    let az = Arc::new(Authorizer::with_chain(chain));
    spawn_reload(path.to_path_buf(), data, doc, required, &az, reloads);
    Ok(az)
}

/// Upstream's `runReload`/`checkFile`: one success counted as the watch starts; then each
/// changed content is validated and, when it describes a different chain, swapped in.
fn spawn_reload(
    path: PathBuf,
    data: String,
    mut loaded: Value,
    required: Vec<&'static str>,
    az: &Arc<Authorizer>,
    reloads: Arc<ConfigReloads>,
) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    reloads.success();
    file_poll::spawn(path, data, Arc::downgrade(az), move |az, read| {
        let outcome = match read {
            Err(e) => {
                tracing::error!(error = %e, "reloading authorization config");
                reloads.failure();
                Outcome::RetryLater
            }
            Ok(data) => {
                tracing::info!("found new authorization config data");
                match reload(&az, &data, &required, &mut loaded) {
                    Ok(false) => {}
                    Ok(true) => {
                        tracing::info!("reloaded authz config");
                        reloads.success();
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reloading authorization config");
                        reloads.failure();
                    }
                }
                Outcome::Settled
            }
        };
        async move { outcome }
    });
}

/// Apply a changed file: Ok(false) when it decodes to the chain already loaded.
fn reload(az: &Authorizer, data: &str, required: &[&'static str], loaded: &mut Value) -> Result<bool, String> {
    let doc = decode(data)?;
    let chain = build(&doc, required).map_err(|errs| aggregate(&errs))?;
    if doc == *loaded {
        return Ok(false);
    }
    tracing::info!("found new authorization config");
    *loaded = doc;
    // The RBAC and Node indexes run only when enabled at startup.
    for ty in chain.modes.iter().filter_map(|m| type_name(*m)) {
        if matches!(ty, "Node" | "RBAC") && !required.contains(&ty) {
            return Err(format!(
                "authorizer type {ty} is not allowed if it was not enabled at initial server startup"
            ));
        }
    }
    az.replace_chain(chain);
    Ok(true)
}

/// The `type` of a non-webhook authorizer.
fn type_name(m: Mode) -> Option<&'static str> {
    match m {
        Mode::AlwaysAllow => Some("AlwaysAllow"),
        Mode::AlwaysDeny => Some("AlwaysDeny"),
        Mode::Rbac => Some("RBAC"),
        Mode::Node => Some("Node"),
        Mode::Webhook(_) => None,
    }
}

/// utilerrors.NewAggregate's text.
fn aggregate(errs: &[String]) -> String {
    match errs {
        [one] => one.clone(),
        _ => format!("[{}]", errs.join(", ")),
    }
}

fn dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn duration(v: Option<&Value>) -> Result<Duration, String> {
    match v {
        None | Some(Value::Null) => Ok(Duration::ZERO),
        Some(Value::String(s)) => crate::config::parse_duration(s).map_err(|_| format!("invalid duration {s:?}")),
        Some(other) => Err(format!("invalid duration {other}")),
    }
}

/// ValidateAuthorizationConfiguration and kube-apiserver's checks (non-webhook authorizers
/// named after their type, the `required` types still present), then the chain.
fn build(doc: &Value, required: &[&str]) -> Result<Chain, Vec<String>> {
    let mut errs = Vec::new();
    let items = doc
        .get("authorizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        errs.push("authorizers: Required value: at least one authorization mode must be defined".to_string());
    }
    let (mut modes, mut webhooks) = (Vec::new(), Vec::new());
    let (mut seen_types, mut seen_names) = (Vec::new(), Vec::new());
    for (i, a) in items.iter().enumerate() {
        let p = format!("authorizers[{i}]");
        let ty = a.str_of("type");
        let name = a.str_of("name");
        if name.is_empty() {
            errs.push(format!("{p}.name: Required value"));
        } else if !dns1123_subdomain(name) {
            errs.push(format!("{p}.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
        } else if seen_names.contains(&name) {
            errs.push(format!("{p}.name: Duplicate value: {name:?}"));
        } else {
            seen_names.push(name);
        }
        let mode = match ty {
            "" => {
                errs.push(format!("{p}.type: Required value"));
                continue;
            }
            "AlwaysAllow" => Mode::AlwaysAllow,
            "AlwaysDeny" => Mode::AlwaysDeny,
            "RBAC" => Mode::Rbac,
            "Node" => Mode::Node,
            "Webhook" => Mode::Webhook(webhooks.len()),
            "ABAC" => {
                errs.push(format!("{p}.type: Unsupported value: \"ABAC\": capstan does not implement ABAC (--authorization-policy-file); use RBAC or Webhook"));
                continue;
            }
            other => {
                errs.push(format!("{p}.type: Unsupported value: {other:?}: supported values: \"AlwaysAllow\", \"AlwaysDeny\", \"Node\", \"RBAC\", \"Webhook\""));
                continue;
            }
        };
        let webhook = a.get("webhook").filter(|w| !w.is_null());
        if ty != "Webhook" {
            if seen_types.contains(&ty) {
                errs.push(format!("{p}.type: Duplicate value: {ty:?}"));
            }
            seen_types.push(ty);
            if webhook.is_some() {
                errs.push(format!(
                    "{p}.webhook: Invalid value: \"non-null\": may only be specified when type=Webhook"
                ));
            }
            modes.push(mode);
            continue;
        }
        let Some(w) = webhook else {
            errs.push(format!("{p}.webhook: Required value: required when type=Webhook"));
            continue;
        };
        match webhook_from(&format!("{p}.webhook"), name, w) {
            Ok(w) => {
                webhooks.push(Arc::new(w));
                modes.push(mode);
            }
            Err(e) => errs.extend(e),
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut seen = Vec::new();
    for a in &items {
        let ty = a.str_of("type");
        let name = a.str_of("name");
        if ty == "Webhook" {
            continue;
        }
        seen.push(ty);
        if name != ty.to_lowercase() {
            errs.push(format!(
                "expected name {} for authorizer {ty} instead of {name}",
                ty.to_lowercase()
            ));
        }
    }
    let mut missing: Vec<&str> = required.iter().copied().filter(|t| !seen.contains(t)).collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        errs.push(format!("missing required types: [{}]", missing.join(" ")));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Chain { modes, webhooks })
}

fn webhook_from(p: &str, name: &str, w: &Value) -> Result<WebhookAuthorizer, Vec<String>> {
    let mut errs = Vec::new();
    let s = |k: &str| w.str_of(k).to_string();
    let mut ttl = |k: &str, default: Duration| match duration(w.get(k)) {
        Ok(d) if d.is_zero() => default,
        Ok(d) => d,
        Err(e) => {
            errs.push(format!("{p}.{k}: Invalid value: {e}"));
            default
        }
    };
    let authorized_ttl = ttl("authorizedTTL", Duration::from_secs(300));
    let unauthorized_ttl = ttl("unauthorizedTTL", Duration::from_secs(30));
    let timeout = match duration(w.get("timeout")) {
        Ok(d) if d.is_zero() => {
            errs.push(format!("{p}.timeout: Required value"));
            d
        }
        Ok(d) if d > Duration::from_secs(30) => {
            errs.push(format!(
                "{p}.timeout: Invalid value: \"{}\": must be > 0s and <= 30s",
                w.str_of("timeout")
            ));
            d
        }
        Ok(d) => d,
        Err(e) => {
            errs.push(format!("{p}.timeout: Invalid value: {e}"));
            Duration::ZERO
        }
    };
    let version = s("subjectAccessReviewVersion");
    match version.as_str() {
        "" => errs.push(format!("{p}.subjectAccessReviewVersion: Required value")),
        "v1" | "v1beta1" => {}
        v => errs.push(format!(
            "{p}.subjectAccessReviewVersion: Unsupported value: {v:?}: supported values: \"v1\", \"v1beta1\""
        )),
    }
    let failure_policy = match s("failurePolicy").as_str() {
        "NoOpinion" => FailurePolicy::NoOpinion,
        "Deny" => FailurePolicy::Deny,
        "" => {
            errs.push(format!("{p}.failurePolicy: Required value"));
            FailurePolicy::NoOpinion
        }
        v => {
            errs.push(format!(
                "{p}.failurePolicy: Unsupported value: {v:?}: supported values: \"Deny\", \"NoOpinion\""
            ));
            FailurePolicy::NoOpinion
        }
    };
    let ci = w.get("connectionInfo").cloned().unwrap_or(Value::Null);
    let ci_type = ci.str_of("type");
    let kubeconfig = ci.str_of("kubeConfigFile");
    match ci_type {
        "KubeConfigFile" if kubeconfig.is_empty() => {
            errs.push(format!("{p}.connectionInfo.kubeConfigFile: Required value"))
        }
        "KubeConfigFile" if !Path::new(kubeconfig).is_absolute() => errs.push(format!(
            "{p}.connectionInfo.kubeConfigFile: Invalid value: {kubeconfig:?}: must be an absolute path"
        )),
        "KubeConfigFile" => {}
        "InClusterConfig" => errs.push(format!(
            "{p}.connectionInfo.type: Unsupported value: \"InClusterConfig\": capstan does not implement in-cluster webhook connections; use KubeConfigFile"
        )),
        "" => errs.push(format!("{p}.connectionInfo.type: Required value")),
        v => errs.push(format!(
            "{p}.connectionInfo.type: Unsupported value: {v:?}: supported values: \"InClusterConfig\", \"KubeConfigFile\""
        )),
    }
    let exprs: Vec<String> = w
        .get("matchConditions")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|c| c.str_of("expression").to_string()).collect())
        .unwrap_or_default();
    if !exprs.is_empty() {
        let mv = s("matchConditionSubjectAccessReviewVersion");
        match mv.as_str() {
            "" => errs.push(format!("{p}.matchConditionSubjectAccessReviewVersion: Required value")),
            "v1" => {}
            v => errs.push(format!(
                "{p}.matchConditionSubjectAccessReviewVersion: Unsupported value: {v:?}: supported values: \"v1\""
            )),
        }
    }
    let conditions = if exprs.is_empty() {
        None
    } else {
        match super::conditions::MatchConditions::compile(&format!("{p}.matchConditions"), &exprs) {
            Ok(c) => Some(c),
            Err(e) => {
                errs.push(e);
                None
            }
        }
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    let settings = Settings {
        version,
        authorized_ttl,
        unauthorized_ttl,
        timeout,
        failure_policy,
    };
    let mut hook = WebhookAuthorizer::new(name, Path::new(kubeconfig), settings)
        .map_err(|e| vec![format!("{p}.connectionInfo.kubeConfigFile: {e}")])?;
    hook.conditions = conditions;
    Ok(hook)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> String {
        let doc: Value = yaml_serde::from_str(yaml).expect("yaml");
        match build(&doc, &[]) {
            Ok(_) => String::new(),
            Err(e) => aggregate(&e),
        }
    }

    #[test]
    fn decoding_is_strict_as_upstream() {
        let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\n";
        assert_eq!(
            decode(&format!("{head}authorizers: [{{type: RBAC, name: rbac, bogus: 1}}]\nextra: true\n")).unwrap_err(),
            "failed to load AuthorizationConfiguration from file: strict decoding error: unknown field \"authorizers[0].bogus\", unknown field \"extra\""
        );
        assert_eq!(
            decode(&format!("{head}authorizers: [{{type: Webhook, name: w, webhook: {{timeout: 3, connectionInfo: {{type: InClusterConfig, file: x}}}}}}]\n")).unwrap_err(),
            "failed to load AuthorizationConfiguration from file: json: cannot unmarshal number into Go struct field WebhookConfiguration.authorizers.webhook.timeout of type string"
        );
        assert!(decode(&format!("{head}authorizers: [{{type: Webhook, name: w, webhook: {{timeout: 3s, matchConditions: [{{expression: 'true'}}], connectionInfo: {{type: KubeConfigFile, kubeConfigFile: /k}}}}}}]\n")).is_ok());
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(
            errors("authorizers: []"),
            "authorizers: Required value: at least one authorization mode must be defined"
        );
        assert_eq!(
            errors("authorizers: [{type: RBAC, name: rbac}, {type: RBAC, name: rbac2}]"),
            "authorizers[1].type: Duplicate value: \"RBAC\""
        );
        assert_eq!(
            errors("authorizers: [{type: Webhook, name: w}]"),
            "authorizers[0].webhook: Required value: required when type=Webhook"
        );
        let e = errors(
            "authorizers: [{type: Webhook, name: w, webhook: {timeout: 40s, failurePolicy: Maybe, subjectAccessReviewVersion: v1, connectionInfo: {type: KubeConfigFile, kubeConfigFile: rel.yaml}, matchConditions: [{expression: 'request.('}]}}]",
        );
        for want in [
            "authorizers[0].webhook.timeout: Invalid value: \"40s\": must be > 0s and <= 30s",
            "authorizers[0].webhook.failurePolicy: Unsupported value: \"Maybe\"",
            "authorizers[0].webhook.connectionInfo.kubeConfigFile: Invalid value: \"rel.yaml\": must be an absolute path",
            "authorizers[0].webhook.matchConditionSubjectAccessReviewVersion: Required value",
            "authorizers[0].webhook.matchConditions[0].expression: Invalid value",
        ] {
            assert!(e.contains(want), "{want} in {e}");
        }
        assert!(errors("authorizers: [{type: Node, name: node}, {type: RBAC, name: rbac}]").is_empty());
    }

    #[test]
    fn kube_apiserver_checks_names_and_kept_types() {
        assert_eq!(
            errors("authorizers: [{type: Node, name: nodex}, {type: AlwaysAllow, name: allow}]"),
            "[expected name node for authorizer Node instead of nodex, expected name alwaysallow for authorizer AlwaysAllow instead of allow]"
        );
        let doc: Value = yaml_serde::from_str("authorizers: [{type: AlwaysDeny, name: alwaysdeny}]").expect("yaml");
        assert_eq!(
            build(&doc, &["RBAC", "Node", "AlwaysDeny"])
                .err()
                .map(|e| aggregate(&e)),
            Some("missing required types: [Node RBAC]".to_string())
        );
        assert_eq!(
            decode("apiVersion: apiserver.config.k8s.io/v2\nkind: AuthorizationConfiguration\n").err(),
            Some("failed to load AuthorizationConfiguration from file: no kind \"AuthorizationConfiguration\" is registered for version \"apiserver.config.k8s.io/v2\" in scheme \"pkg/runtime/scheme.go:110\"".to_string())
        );
    }

    #[test]
    fn reload_swaps_the_chain_only_for_a_changed_valid_file() {
        let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\n";
        let first = format!("{head}authorizers: [{{type: RBAC, name: rbac}}]\n");
        let mut loaded = decode(&first).expect("decode");
        let az = Authorizer::with_chain(build(&loaded, &[]).expect("build"));
        let required = ["RBAC"];
        // Formatting only: the same configuration, nothing reloaded.
        let same = format!("{head}authorizers:\n- type: RBAC\n  name: rbac\n");
        assert_eq!(reload(&az, &same, &required, &mut loaded), Ok(false));
        let more = format!("{head}authorizers: [{{type: AlwaysDeny, name: alwaysdeny}}, {{type: RBAC, name: rbac}}]\n");
        assert_eq!(reload(&az, &more, &required, &mut loaded), Ok(true));
        assert_eq!(az.chain().modes, [Mode::AlwaysDeny, Mode::Rbac]);
        for (bad, want) in [
            (
                format!("{head}authorizers: [{{type: AlwaysAllow, name: alwaysallow}}]\n"),
                "missing required types: [RBAC]",
            ),
            (
                format!("{head}authorizers: [{{type: Node, name: node}}, {{type: RBAC, name: rbac}}]\n"),
                "authorizer type Node is not allowed if it was not enabled at initial server startup",
            ),
            (
                "authorizers: [".to_string(),
                "failed to load AuthorizationConfiguration from file: ",
            ),
        ] {
            let e = reload(&az, &bad, &required, &mut loaded).expect_err(want);
            assert!(e.contains(want), "{want} in {e}");
            assert_eq!(
                az.chain().modes,
                [Mode::AlwaysDeny, Mode::Rbac],
                "the running chain stays"
            );
        }
    }
}
