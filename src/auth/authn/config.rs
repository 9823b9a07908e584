//! `--authentication-config`: the structured AuthenticationConfiguration
//! (`apiserver.config.k8s.io/v1beta1` and `v1alpha1`; 1.33 does not register `v1`), as
//! kube-apiserver 1.33 reads it: strict decoding, upstream's validation (field paths and
//! messages of `k8s.io/apiserver/pkg/apis/apiserver/validation`), JWT authenticators built on
//! [`super::oidc`] with CEL from [`crate::auth::expressions`], the anonymous authenticator's
//! path conditions, and automatic reload: the file is polled, a changed valid file replaces the
//! JWT authenticators once their issuers answer, a bad one is logged and the old config stays.

use super::oidc::{ClaimRule, Jwt, Mapping, Oidc};
use crate::auth::expressions::Expr;
use crate::cel::Type;
use crate::error::field::FieldError;
use crate::util::json::JsonExt;
use crate::util::strict::Shape;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The versions kube-apiserver 1.33 decodes the kind from.
const VERSIONS: &[&str] = &["apiserver.config.k8s.io/v1alpha1", "apiserver.config.k8s.io/v1beta1"];
/// The longest a reload waits for a new issuer's keys (upstream `UpdateAuthenticationConfigTimeout`).
const UPDATE_TIMEOUT: Duration = Duration::from_secs(10);
/// Upstream's cap on `jwt` entries.
const MAX_JWT: usize = 64;

/// The file's anonymous authenticator: on, and (when non-empty) only for these exact paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anonymous {
    pub enabled: bool,
    pub paths: Vec<String>,
}

/// A validated configuration.
pub struct Config {
    pub jwt: Vec<Arc<Oidc>>,
    pub anonymous: Option<Anonymous>,
}

/// The JWT authenticators now in effect; replaced as a whole on reload.
#[derive(Default)]
pub struct JwtSet {
    current: RwLock<Arc<Vec<Arc<Oidc>>>>,
}

impl JwtSet {
    pub fn new(jwt: Vec<Arc<Oidc>>) -> JwtSet {
        JwtSet {
            current: RwLock::new(Arc::new(jwt)),
        }
    }

    pub fn current(&self) -> Arc<Vec<Arc<Oidc>>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace(&self, jwt: Vec<Arc<Oidc>>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(jwt);
    }

    /// Fetch each issuer's keys in the background until it answers.
    pub fn spawn_discovery(&self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            for o in self.current().iter() {
                o.spawn_discovery();
            }
        }
    }
}

/// Read, decode and validate the file. Errors are upstream's text.
pub fn load(path: &Path, disallowed_issuers: &[String]) -> Result<(Config, String), String> {
    let data = std::fs::read_to_string(path).map_err(|e| format!("open {}: {}", path.display(), io_text(&e)))?;
    let cfg = from_data(&data, disallowed_issuers)?;
    Ok((cfg, data))
}

/// Go's text for the common open errors.
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

pub fn from_data(data: &str, disallowed_issuers: &[String]) -> Result<Config, String> {
    let doc = decode(data)?;
    build(&doc, disallowed_issuers).map_err(|errs| aggregate(&errs))
}

/// `utilerrors.NewAggregate` of field errors (duplicates dropped, as `ToAggregate`).
fn aggregate(errs: &[FieldError]) -> String {
    let mut seen = HashSet::new();
    let msgs: Vec<String> = errs
        .iter()
        .map(|e| e.to_string())
        .filter(|m| seen.insert(m.clone()))
        .collect();
    match msgs.as_slice() {
        [one] => one.clone(),
        _ => format!("[{}]", msgs.join(", ")),
    }
}

/// YAML or JSON to the object, with the kind check and strict field checking of upstream's
/// `serializer.EnableStrict` codec.
fn decode(data: &str) -> Result<Value, String> {
    if data.is_empty() {
        return Err("empty config data".into());
    }
    let mut doc: Value = yaml_serde::from_str(data).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    // Go reads the file as YAML 1.1: `enabled: yes` is a boolean there.
    if let Some(e) = doc.pointer_mut("/anonymous/enabled") {
        if let Some(b) = e.as_str().and_then(crate::config::parse_loose_bool) {
            *e = Value::Bool(b);
        }
    }
    let Value::Object(obj) = &doc else {
        return Err("couldn't get version/kind; json parse error: json: cannot unmarshal into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }".into());
    };
    let av = obj.str_of("apiVersion");
    let kind = obj.str_of("kind");
    if kind.is_empty() {
        return Err(format!("Object 'Kind' is missing in '{data}'"));
    }
    if av.is_empty() {
        return Err(format!("Object 'apiVersion' is missing in '{data}'"));
    }
    if !VERSIONS.contains(&av) || kind != "AuthenticationConfiguration" {
        return Err(format!(
            "no kind {kind:?} is registered for version {av:?} in scheme \"pkg/runtime/scheme.go:110\""
        ));
    }
    let version = av.rsplit('/').next().unwrap_or("v1beta1");
    let mut rest = obj.clone();
    rest.remove("apiVersion");
    rest.remove("kind");
    crate::util::strict::check(&rest, ROOT, "AuthenticationConfiguration", version)?;
    Ok(doc)
}

const ROOT: &[(&str, Shape)] = &[
    ("jwt", Shape::List(&Shape::Obj("JWTAuthenticator", JWT))),
    ("anonymous", Shape::Obj("AnonymousAuthConfig", ANONYMOUS)),
];
const ANONYMOUS: &[(&str, Shape)] = &[
    ("enabled", Shape::Bool),
    (
        "conditions",
        Shape::List(&Shape::Obj("AnonymousAuthCondition", &[("path", Shape::Str)])),
    ),
];
const JWT: &[(&str, Shape)] = &[
    ("issuer", Shape::Obj("Issuer", ISSUER)),
    (
        "claimValidationRules",
        Shape::List(&Shape::Obj(
            "ClaimValidationRule",
            &[
                ("claim", Shape::Str),
                ("requiredValue", Shape::Str),
                ("expression", Shape::Str),
                ("message", Shape::Str),
            ],
        )),
    ),
    ("claimMappings", Shape::Obj("ClaimMappings", MAPPINGS)),
    (
        "userValidationRules",
        Shape::List(&Shape::Obj(
            "UserValidationRule",
            &[("expression", Shape::Str), ("message", Shape::Str)],
        )),
    ),
];
const ISSUER: &[(&str, Shape)] = &[
    ("url", Shape::Str),
    ("discoveryURL", Shape::Str),
    ("certificateAuthority", Shape::Str),
    ("audiences", Shape::List(&Shape::Str)),
    ("audienceMatchPolicy", Shape::Str),
];
const PREFIXED: &[(&str, Shape)] = &[
    ("claim", Shape::Str),
    ("prefix", Shape::Str),
    ("expression", Shape::Str),
];
const MAPPINGS: &[(&str, Shape)] = &[
    ("username", Shape::Obj("PrefixedClaimOrExpression", PREFIXED)),
    ("groups", Shape::Obj("PrefixedClaimOrExpression", PREFIXED)),
    (
        "uid",
        Shape::Obj(
            "ClaimOrExpression",
            &[("claim", Shape::Str), ("expression", Shape::Str)],
        ),
    ),
    (
        "extra",
        Shape::List(&Shape::Obj(
            "ExtraMapping",
            &[("key", Shape::Str), ("valueExpression", Shape::Str)],
        )),
    ),
];

fn claims_type() -> Type {
    crate::cel::types::map(Type::String, Type::Dyn)
}

/// Compile a CEL expression; the error is a field error at `path` (upstream's
/// `convertCELErrorToValidationError`).
fn compile(path: &str, var: &str, src: &str, want: Option<Type>) -> Result<Expr, FieldError> {
    let t = if var == "user" {
        crate::cel::user_info_type()
    } else {
        claims_type()
    };
    Expr::compile_typed(&[(var, t)], src, want).map_err(|e| FieldError::invalid(path, src, e))
}

/// ValidateAuthenticationConfiguration, then the authenticators.
fn build(doc: &Value, disallowed: &[String]) -> Result<Config, Vec<FieldError>> {
    let mut errs = Vec::new();
    let jwts = doc.arr_of("jwt");
    if jwts.len() > MAX_JWT {
        return Err(vec![FieldError::too_many("jwt", jwts.len(), MAX_JWT)]);
    }
    let mut out = Vec::new();
    let (mut issuers, mut discovery) = (HashSet::new(), HashSet::new());
    for (i, a) in jwts.iter().enumerate() {
        let p = format!("jwt[{i}]");
        let built = jwt(a, &p, disallowed, &mut errs);
        let issuer = a.get("issuer").cloned().unwrap_or(Value::Null);
        let url = issuer.str_of("url");
        if !issuers.insert(url.to_string()) {
            errs.push(FieldError::duplicate(format!("{p}.issuer.url"), url));
        }
        let d = issuer.str_of("discoveryURL");
        if !d.is_empty() && !discovery.insert(d.to_string()) {
            errs.push(FieldError::duplicate(format!("{p}.issuer.discoveryURL"), d));
        }
        out.extend(built);
    }
    let anonymous = match doc.get("anonymous").filter(|v| !v.is_null()) {
        None => None,
        Some(a) => {
            let enabled = a.get("enabled").and_then(Value::as_bool).unwrap_or(false);
            let paths: Vec<String> = a
                .arr_of("conditions")
                .iter()
                .map(|c| c.str_of("path").to_string())
                .collect();
            if !enabled && !paths.is_empty() {
                let conds: Vec<String> = paths
                    .iter()
                    .map(|p| format!("apiserver.AnonymousAuthCondition{{Path:{}}}", crate::util::go_quote(p)))
                    .collect();
                errs.push(FieldError::invalid_raw(
                    "anonymous.conditions",
                    &format!("[]apiserver.AnonymousAuthCondition{{{}}}", conds.join(", ")),
                    "enabled should be set to true when conditions are defined",
                ));
            }
            Some(Anonymous { enabled, paths })
        }
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Config { jwt: out, anonymous })
}

/// One `jwt[]` entry: its errors go to `errs`; the authenticator when it has none.
fn jwt(a: &Value, p: &str, disallowed: &[String], errs: &mut Vec<FieldError>) -> Option<Arc<Oidc>> {
    let before = errs.len();
    let issuer = a.get("issuer").cloned().unwrap_or(Value::Null);
    let ip = format!("{p}.issuer");
    let url = issuer.str_of("url");
    if url.is_empty() {
        errs.push(FieldError::required(format!("{ip}.url"), "URL is required"));
    } else {
        validate_url(url, disallowed, &format!("{ip}.url"), errs);
    }
    let discovery_url = issuer.str_of("discoveryURL");
    if !discovery_url.is_empty() {
        let dp = format!("{ip}.discoveryURL");
        if !url.is_empty() && url.trim_end_matches('/') == discovery_url.trim_end_matches('/') {
            errs.push(FieldError::invalid(
                &dp,
                discovery_url,
                "discoveryURL must be different from URL",
            ));
        }
        validate_url(discovery_url, &[], &dp, errs);
    }
    let audiences: Vec<String> = issuer
        .arr_of("audiences")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    let policy = issuer.str_of("audienceMatchPolicy");
    let ap = format!("{ip}.audiences");
    if audiences.is_empty() {
        errs.push(FieldError::required(&ap, format!("at least one {ap} is required")));
    } else {
        let mut seen = HashSet::new();
        for (i, aud) in audiences.iter().enumerate() {
            if aud.is_empty() {
                errs.push(FieldError::required(format!("{ap}[{i}]"), "audience can't be empty"));
            }
            if !seen.insert(aud.as_str()) {
                errs.push(FieldError::duplicate(format!("{ap}[{i}]"), aud.as_str()));
            }
        }
        let pp = format!("{ip}.audienceMatchPolicy");
        if audiences.len() > 1 && policy != "MatchAny" {
            errs.push(FieldError::invalid(
                &pp,
                policy,
                "audienceMatchPolicy must be MatchAny for multiple audiences",
            ));
        }
        if audiences.len() == 1 && !policy.is_empty() && policy != "MatchAny" {
            errs.push(FieldError::invalid(
                &pp,
                policy,
                "audienceMatchPolicy must be empty or MatchAny for single audience",
            ));
        }
    }
    let ca = issuer.str_of("certificateAuthority");
    if !ca.is_empty() {
        let certs = rustls_pemfile::certs(&mut ca.as_bytes()).collect::<Result<Vec<_>, _>>();
        if !certs.is_ok_and(|c| !c.is_empty()) {
            errs.push(FieldError::invalid_raw(
                format!("{ip}.certificateAuthority"),
                "\"<omitted>\"",
                "data does not contain any valid RSA or ECDSA certificates",
            ));
        }
    }

    // claimValidationRules
    let mut uses_email_verified = false;
    let mut claim_rules = Vec::new();
    let (mut seen_claims, mut seen_exprs) = (HashSet::new(), HashSet::new());
    for (i, r) in a.arr_of("claimValidationRules").iter().enumerate() {
        let rp = format!("{p}.claimValidationRules[{i}]");
        let (claim, expr, message, required) = (
            r.str_of("claim"),
            r.str_of("expression"),
            r.str_of("message"),
            r.str_of("requiredValue"),
        );
        match (claim.is_empty(), expr.is_empty()) {
            (false, false) => errs.push(FieldError::invalid(
                &rp,
                claim,
                "claim and expression can't both be set",
            )),
            (true, true) => errs.push(FieldError::required(&rp, "claim or expression is required")),
            (false, true) => {
                if !message.is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{rp}.message"),
                        message,
                        "message can't be set when claim is set",
                    ));
                }
                if !seen_claims.insert(claim) {
                    errs.push(FieldError::duplicate(format!("{rp}.claim"), claim));
                }
                claim_rules.push(ClaimRule::Required {
                    claim: claim.into(),
                    value: required.into(),
                });
            }
            (true, false) => {
                if !required.is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{rp}.requiredValue"),
                        required,
                        "requiredValue can't be set when expression is set",
                    ));
                }
                if !seen_exprs.insert(expr) {
                    errs.push(FieldError::duplicate(format!("{rp}.expression"), expr));
                    continue;
                }
                match compile(&format!("{rp}.expression"), "claims", expr, Some(Type::Bool)) {
                    Ok(e) => {
                        uses_email_verified |= e.selects("claims", "email_verified");
                        claim_rules.push(ClaimRule::Cel {
                            expr: e,
                            message: message.into(),
                        });
                    }
                    Err(e) => errs.push(e),
                }
            }
        }
    }

    // claimMappings
    let m = a.get("claimMappings").cloned().unwrap_or(Value::Null);
    let mp = format!("{p}.claimMappings");
    let null = Value::Null;
    let username = prefixed(
        m.get("username").unwrap_or(&null),
        &format!("{mp}.username"),
        true,
        errs,
    );
    let uses_email = matches!(&username, Some(Mapping::Cel(e)) if e.selects("claims", "email"));
    if let Some(Mapping::Cel(e)) = &username {
        uses_email_verified |= e.selects("claims", "email_verified");
    }
    let groups = prefixed(m.get("groups").unwrap_or(&null), &format!("{mp}.groups"), false, errs);
    let uid_v = m.get("uid").unwrap_or(&null);
    let uid = match (uid_v.str_of("claim"), uid_v.str_of("expression")) {
        (c, e) if !c.is_empty() && !e.is_empty() => {
            errs.push(FieldError::invalid(
                format!("{mp}.uid"),
                "",
                "claim and expression can't both be set",
            ));
            None
        }
        (_, e) if !e.is_empty() => match compile(&format!("{mp}.uid.expression"), "claims", e, None) {
            Ok(e) => Some(Mapping::Cel(e)),
            Err(e) => {
                errs.push(e);
                None
            }
        },
        (c, _) if !c.is_empty() => Some(Mapping::Claim {
            claim: c.into(),
            prefix: String::new(),
        }),
        _ => None,
    };
    let mut extra = Vec::new();
    let mut seen_keys = HashSet::new();
    for (i, x) in m.arr_of("extra").iter().enumerate() {
        let xp = format!("{mp}.extra[{i}]");
        let key = x.str_of("key");
        let kp = format!("{xp}.key");
        domain_prefixed_path(&kp, key, errs);
        if key != key.to_lowercase() {
            errs.push(FieldError::invalid(&kp, key, "key must be lowercase"));
        }
        if is_kubernetes_domain(key) {
            errs.push(FieldError::invalid(
                &kp,
                key,
                "k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use",
            ));
        }
        if !seen_keys.insert(key) {
            errs.push(FieldError::duplicate(&kp, key));
            continue;
        }
        let ve = x.str_of("valueExpression");
        if ve.is_empty() {
            errs.push(FieldError::required(
                format!("{xp}.valueExpression"),
                "valueExpression is required",
            ));
            continue;
        }
        match compile(&format!("{xp}.valueExpression"), "claims", ve, None) {
            Ok(e) => {
                uses_email_verified |= e.selects("claims", "email_verified");
                extra.push((key.to_string(), e));
            }
            Err(e) => errs.push(e),
        }
    }
    if uses_email && !uses_email_verified {
        let src = (m.get("username").unwrap_or(&null)).str_of("expression");
        errs.push(FieldError::invalid(
            format!("{mp}.username.expression"),
            src,
            "claims.email_verified must be used in claimMappings.username.expression or claimMappings.extra[*].valueExpression or claimValidationRules[*].expression when claims.email is used in claimMappings.username.expression",
        ));
    }

    // userValidationRules
    let mut user_rules = Vec::new();
    let mut seen = HashSet::new();
    for (i, r) in a.arr_of("userValidationRules").iter().enumerate() {
        let rp = format!("{p}.userValidationRules[{i}]");
        let expr = r.str_of("expression");
        if expr.is_empty() {
            errs.push(FieldError::required(
                format!("{rp}.expression"),
                "expression is required",
            ));
            continue;
        }
        if !seen.insert(expr) {
            errs.push(FieldError::duplicate(format!("{rp}.expression"), expr));
            continue;
        }
        match compile(&format!("{rp}.expression"), "user", expr, Some(Type::Bool)) {
            Ok(e) => user_rules.push((e, r.str_of("message").to_string())),
            Err(e) => errs.push(e),
        }
    }

    if errs.len() > before {
        return None;
    }
    let cfg = Jwt {
        issuer: url.to_string(),
        discovery_url: (!discovery_url.is_empty()).then(|| discovery_url.to_string()),
        audiences,
        username: username?,
        groups,
        uid,
        extra,
        claim_rules,
        user_rules,
        // Every algorithm when the file configures the issuers (`AllValidSigningAlgorithms`).
        signing_algs: super::jwt::Alg::ALL.iter().map(|a| a.name().to_string()).collect(),
    };
    match Oidc::new(cfg, ca.as_bytes()) {
        Ok(o) => Some(Arc::new(o)),
        Err(e) => {
            errs.push(FieldError::invalid_raw(
                format!("{ip}.certificateAuthority"),
                "\"<omitted>\"",
                &e,
            ));
            None
        }
    }
}

/// A `PrefixedClaimOrExpression` (username, groups).
fn prefixed(v: &Value, p: &str, required: bool, errs: &mut Vec<FieldError>) -> Option<Mapping> {
    let (claim, expr) = (v.str_of("claim"), v.str_of("expression"));
    let prefix = v.get("prefix").and_then(Value::as_str);
    match (claim.is_empty(), expr.is_empty()) {
        (false, false) => {
            errs.push(FieldError::invalid(p, "", "claim and expression can't both be set"));
            None
        }
        (true, true) => {
            if required {
                errs.push(FieldError::required(p, "claim or expression is required"));
            }
            None
        }
        (true, false) => {
            if let Some(pre) = prefix {
                errs.push(FieldError::invalid(
                    format!("{p}.prefix"),
                    pre,
                    "prefix can't be set when expression is set",
                ));
            }
            match compile(&format!("{p}.expression"), "claims", expr, None) {
                Ok(e) => Some(Mapping::Cel(e)),
                Err(e) => {
                    errs.push(e);
                    None
                }
            }
        }
        (false, true) => match prefix {
            None => {
                errs.push(FieldError::required(
                    format!("{p}.prefix"),
                    "prefix is required when claim is set. It can be set to an empty string to disable prefixing",
                ));
                None
            }
            Some(pre) => Some(Mapping::Claim {
                claim: claim.into(),
                prefix: pre.into(),
            }),
        },
    }
}

/// Upstream's `validateURL` (Go's url.Parse, then https, no user info, query or fragment).
fn validate_url(url: &str, disallowed: &[String], p: &str, errs: &mut Vec<FieldError>) {
    if disallowed.iter().any(|d| d == url) {
        let mut d = disallowed.to_vec();
        d.sort();
        errs.push(FieldError::invalid(
            p,
            url,
            format!("URL must not overlap with disallowed issuers: [{}]", d.join(" ")),
        ));
    }
    let (scheme, rest) = match url.split_once(':') {
        Some((s, r)) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => (s, r),
        _ => ("", url),
    };
    if !scheme.eq_ignore_ascii_case("https") {
        errs.push(FieldError::invalid(p, url, "URL scheme must be https"));
    }
    let (before_fragment, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (before_query, query) = before_fragment.split_once('?').unwrap_or((before_fragment, ""));
    let authority = before_query
        .strip_prefix("//")
        .map(|a| a.split('/').next().unwrap_or(""))
        .unwrap_or("");
    if authority.contains('@') {
        errs.push(FieldError::invalid(
            p,
            url,
            "URL must not contain a username or password",
        ));
    }
    if !query.is_empty() {
        errs.push(FieldError::invalid(p, url, "URL must not contain a query"));
    }
    if !fragment.is_empty() {
        errs.push(FieldError::invalid(p, url, "URL must not contain a fragment"));
    }
}

/// `utilvalidation.IsDomainPrefixedPath`.
fn domain_prefixed_path(p: &str, key: &str, errs: &mut Vec<FieldError>) {
    if key.is_empty() {
        errs.push(FieldError::required(p, ""));
        return;
    }
    let Some((host, path)) = key.split_once('/').filter(|(h, r)| !h.is_empty() && !r.is_empty()) else {
        errs.push(FieldError::invalid(
            p,
            key,
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        ));
        return;
    };
    for m in crate::util::names::is_dns1123_subdomain(host) {
        errs.push(FieldError::invalid(p, host, m));
    }
    let ok = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c));
    if !ok {
        errs.push(FieldError::invalid(
            p,
            path,
            "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
    }
}

fn is_kubernetes_domain(key: &str) -> bool {
    let Some((d, _)) = key.split_once('/') else {
        return false;
    };
    d == "kubernetes.io" || d.ends_with(".kubernetes.io") || d == "k8s.io" || d.ends_with(".k8s.io")
}

/// Watch the file ([`crate::util::file_poll`]); a changed, valid file replaces the JWT
/// authenticators once every new issuer has answered. As upstream: a file that fails to decode
/// or validate is logged and not retried until it changes again; the anonymous section may not
/// change. Each attempt counts in `reloads` (`apiserver_authentication_config_controller_*`)
/// as upstream's controller.
pub fn spawn_reload(
    path: PathBuf,
    data: String,
    set: Arc<JwtSet>,
    anonymous: Option<Anonymous>,
    disallowed: Vec<String>,
    reloads: Arc<crate::metrics::ConfigReloads>,
) {
    use crate::util::file_poll::{self, Outcome};
    let shown = path.display().to_string();
    file_poll::spawn(path, data, Arc::downgrade(&set), move |set, read| {
        let (anonymous, disallowed, reloads, shown) =
            (anonymous.clone(), disallowed.clone(), reloads.clone(), shown.clone());
        async move {
            let now = match read {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "failed to read authentication config file");
                    // Retried: the file may come back.
                    reloads.failure();
                    return Outcome::RetryLater;
                }
            };
            let cfg = match from_data(&now, &disallowed) {
                Ok(c) if c.anonymous != anonymous => {
                    Err("anonymous: Forbidden: changed from initial configuration file".to_string())
                }
                other => other,
            };
            let cfg = match cfg {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "failed to load authentication config");
                    reloads.failure();
                    return Outcome::Settled;
                }
            };
            let mut ready = true;
            for o in &cfg.jwt {
                match tokio::time::timeout(UPDATE_TIMEOUT, o.fetch_keys()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(issuer = %o.issuer(), error = %e, "failed to update authentication config");
                        ready = false;
                    }
                    Err(_) => {
                        tracing::error!(issuer = %o.issuer(), "failed to update authentication config: timed out");
                        ready = false;
                    }
                }
            }
            if !ready {
                reloads.failure();
                return Outcome::RetryLater;
            }
            set.replace(cfg.jwt);
            reloads.success();
            tracing::info!(path = %shown, "reloaded authentication config");
            Outcome::Settled
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> String {
        match from_data(yaml, &["https://kubernetes.default.svc.cluster.local".to_string()]) {
            Ok(_) => String::new(),
            Err(e) => e,
        }
    }

    const HEAD: &str = "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: AuthenticationConfiguration\n";

    #[test]
    fn decoding_as_upstream() {
        assert_eq!(errors(""), "empty config data");
        assert_eq!(
            errors("apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n"),
            "no kind \"AuthenticationConfiguration\" is registered for version \"apiserver.config.k8s.io/v1\" in scheme \"pkg/runtime/scheme.go:110\""
        );
        assert_eq!(
            errors(&format!(
                "{HEAD}anonymous:\n  enabled: true\n  foo: 1\njwt:\n- issuer:\n    bar: x\n"
            )),
            "strict decoding error: unknown field \"anonymous.foo\", unknown field \"jwt[0].issuer.bar\""
        );
        assert_eq!(
            errors(&format!(
                "{HEAD}jwt:\n- issuer:\n    url: https://a\n    audiences: a\n"
            )),
            "json: cannot unmarshal string into Go struct field Issuer.jwt.issuer.audiences of type []string"
        );
        assert_eq!(errors(&format!("{HEAD}anonymous:\n  enabled: true\n")), "");
        let c = from_data(&format!("{HEAD}anonymous:\n  enabled: yes\n"), &[]).expect("YAML 1.1 bool");
        assert!(c.anonymous.is_some_and(|a| a.enabled));
        assert_eq!(
            errors("kind: AuthenticationConfiguration\n"),
            "Object 'apiVersion' is missing in 'kind: AuthenticationConfiguration\n'"
        );
    }

    #[test]
    fn validation_as_upstream() {
        // The text kube-apiserver v1.33.13 printed for this file.
        let yaml = format!(
            "{HEAD}{}",
            r#"jwt:
- issuer:
    url: http://idp.example.com
    audiences: [a, b]
    audienceMatchPolicy: MatchAll
  claimValidationRules:
  - expression: "claims.sub"
  - claim: hd
    message: x
  claimMappings:
    username:
      claim: sub
    extra:
    - key: Example.com/Foo
      valueExpression: "claims.x"
    - key: k8s.io/x
      valueExpression: "claims.x"
  userValidationRules:
  - expression: "user.foo == 1"
- issuer:
    url: https://idp2
    audiences: [a]
  claimMappings:
    username:
      expression: "claims.email"
anonymous:
  enabled: false
  conditions:
  - path: /healthz
"#
        );
        let want = r#"[jwt[0].issuer.url: Invalid value: "http://idp.example.com": URL scheme must be https, jwt[0].issuer.audienceMatchPolicy: Invalid value: "MatchAll": audienceMatchPolicy must be MatchAny for multiple audiences, jwt[0].claimValidationRules[0].expression: Invalid value: "claims.sub": must evaluate to bool, jwt[0].claimValidationRules[1].message: Invalid value: "x": message can't be set when claim is set, jwt[0].claimMappings.username.prefix: Required value: prefix is required when claim is set. It can be set to an empty string to disable prefixing, jwt[0].claimMappings.extra[0].key: Invalid value: "Example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), jwt[0].claimMappings.extra[0].key: Invalid value: "Example.com/Foo": key must be lowercase, jwt[0].claimMappings.extra[1].key: Invalid value: "k8s.io/x": k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use, jwt[0].userValidationRules[0].expression: Invalid value: "user.foo == 1": compilation failed: ERROR: <input>:1:5: undefined field 'foo'
 | user.foo == 1
 | ....^, jwt[1].claimMappings.username.expression: Invalid value: "claims.email": claims.email_verified must be used in claimMappings.username.expression or claimMappings.extra[*].valueExpression or claimValidationRules[*].expression when claims.email is used in claimMappings.username.expression, anonymous.conditions: Invalid value: []apiserver.AnonymousAuthCondition{apiserver.AnonymousAuthCondition{Path:"/healthz"}}: enabled should be set to true when conditions are defined]"#;
        assert_eq!(errors(&yaml), want);
        let more = format!(
            "{HEAD}{}",
            r#"jwt:
- issuer:
    url: https://kubernetes.default.svc.cluster.local
    discoveryURL: https://kubernetes.default.svc.cluster.local/
    audiences: ["", x, x]
  claimMappings:
    username: {claim: sub, expression: claims.sub}
    uid: {claim: sub, expression: claims.sub}
    extra:
    - key: example.com/a
- issuer:
    url: https://u:p@idp?x=1#f
    audiences: [a]
    certificateAuthority: nope
  claimMappings:
    username: {expression: "claims.sub", prefix: "p:"}
"#
        );
        let got = errors(&more);
        for want in [
            r#"jwt[0].issuer.url: Invalid value: "https://kubernetes.default.svc.cluster.local": URL must not overlap with disallowed issuers: [https://kubernetes.default.svc.cluster.local]"#,
            r#"jwt[0].issuer.discoveryURL: Invalid value: "https://kubernetes.default.svc.cluster.local/": discoveryURL must be different from URL"#,
            r#"jwt[0].issuer.audiences[0]: Required value: audience can't be empty"#,
            r#"jwt[0].issuer.audiences[2]: Duplicate value: "x""#,
            r#"jwt[0].issuer.audienceMatchPolicy: Invalid value: "": audienceMatchPolicy must be MatchAny for multiple audiences"#,
            r#"jwt[0].claimMappings.username: Invalid value: "": claim and expression can't both be set"#,
            r#"jwt[0].claimMappings.uid: Invalid value: "": claim and expression can't both be set"#,
            r#"jwt[0].claimMappings.extra[0].valueExpression: Required value: valueExpression is required"#,
            r#"jwt[1].issuer.url: Invalid value: "https://u:p@idp?x=1#f": URL must not contain a username or password"#,
            r#"jwt[1].issuer.url: Invalid value: "https://u:p@idp?x=1#f": URL must not contain a query"#,
            r#"jwt[1].issuer.url: Invalid value: "https://u:p@idp?x=1#f": URL must not contain a fragment"#,
            r#"jwt[1].issuer.certificateAuthority: Invalid value: "<omitted>": data does not contain any valid RSA or ECDSA certificates"#,
            r#"jwt[1].claimMappings.username.prefix: Invalid value: "p:": prefix can't be set when expression is set"#,
        ] {
            assert!(got.contains(want), "want {want}\nin {got}");
        }
        let ok = format!(
            "{HEAD}{}",
            r#"jwt:
- issuer: {url: "https://a", audiences: [x, y], audienceMatchPolicy: MatchAny}
  claimValidationRules: [{expression: "claims.email_verified == true"}]
  claimMappings:
    username: {expression: "claims.email"}
    groups: {claim: groups, prefix: ""}
anonymous: {enabled: true, conditions: [{path: /healthz}, {path: /livez}]}
"#
        );
        let c = from_data(&ok, &[]).expect("valid");
        assert_eq!(c.jwt.len(), 1);
        assert_eq!(
            c.anonymous,
            Some(Anonymous {
                enabled: true,
                paths: vec!["/healthz".into(), "/livez".into()]
            })
        );
    }
}
