//! OpenID Connect ID tokens (`--oidc-*` flags), as upstream's JWT authenticator configured from
//! the legacy flags: tokens whose `iss` is the issuer URL are verified against the issuer's JWKS
//! (discovered at `<issuer>/.well-known/openid-configuration` over HTTPS, trusting
//! `--oidc-ca-file` or the system roots), checked for audience (`--oidc-client-id`), expiry and
//! `nbf`, required claims, then mapped to a user by the username and groups claims and prefixes.
//! Keys are fetched in the background until the first success (tokens fail with
//! `oidc: authenticator not initialized` meanwhile) and refetched when a token names an unknown
//! key id, at most every [`REFRESH_MIN`].
//!
//! Distributed groups (OIDC Core §5.6.2): when the groups claim is mapped from a claim and the
//! token names it in `_claim_names` instead, the JWT at its `_claim_sources` endpoint is fetched
//! (with the source's `access_token`), verified against its own issuer (discovered as above, in
//! the background; same audiences and algorithms) and its groups claim used, as upstream's
//! `claimResolver`.

use super::jwt::{self, PublicKey};
use super::TokenResult;
use crate::auth::expressions::Expr;
use crate::config::ServeOptions;
use crate::request::UserInfo;
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Discovery retry interval (upstream polls every 10 s until the provider answers).
const RETRY: Duration = Duration::from_secs(10);
/// Least time between two JWKS fetches for unknown key ids.
const REFRESH_MIN: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// go-oidc's allowed clock skew for `exp` and `nbf`.
const SKEW: i64 = 300;

/// How a user attribute comes from the claims: a claim (with a prefix) or a CEL expression.
#[derive(Clone)]
pub enum Mapping {
    Claim { claim: String, prefix: String },
    Cel(Expr),
}

/// A claim validation rule: a claim with a required string value, or a CEL condition.
#[derive(Clone)]
pub enum ClaimRule {
    Required { claim: String, value: String },
    Cel { expr: Expr, message: String },
}

/// One JWT issuer (a `jwt[]` entry of AuthenticationConfiguration, or the `--oidc-*` flags).
pub struct Jwt {
    pub issuer: String,
    /// Where discovery is read instead of `<issuer>/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    /// Tokens must name at least one (`audienceMatchPolicy: MatchAny`).
    pub audiences: Vec<String>,
    pub username: Mapping,
    pub groups: Option<Mapping>,
    pub uid: Option<Mapping>,
    pub extra: Vec<(String, Expr)>,
    pub claim_rules: Vec<ClaimRule>,
    /// CEL conditions over `user` with their messages.
    pub user_rules: Vec<(Expr, String)>,
    pub signing_algs: Vec<String>,
}

/// A JWT authenticator: the issuer's settings and its keys.
pub struct Oidc {
    cfg: Jwt,
    tls: Arc<rustls::ClientConfig>,
    keys: RwLock<Option<Vec<PublicKey>>>,
    last_fetch: std::sync::Mutex<Option<Instant>>,
    /// Verifiers of distributed-claim issuers, by issuer (created on first use).
    claim_issuers: std::sync::Mutex<std::collections::BTreeMap<String, Arc<Oidc>>>,
}

/// At most this many distributed-claim issuers are remembered (upstream keeps every one; the
/// issuers come from endpoints the trusted tokens name, so a handful is the real case).
const MAX_CLAIM_ISSUERS: usize = 16;

/// Whether any `--oidc-*` flag was set by a layer (not the built-in defaults).
pub fn any_set(opts: &ServeOptions) -> bool {
    opts.sources
        .iter()
        .any(|(k, src)| k.starts_with("authentication.oidc.") && src != "default")
}

/// The system trust store (as Go reads it), for issuers without `--oidc-ca-file`.
fn system_roots() -> Vec<u8> {
    let env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let known = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ];
    env.into_iter()
        .chain(known.iter().map(std::path::PathBuf::from))
        .find_map(|p| std::fs::read(p).ok())
        .unwrap_or_default()
}

impl Oidc {
    /// An authenticator trusting `ca` (PEM; empty: the system roots) for discovery and JWKS.
    pub fn new(cfg: Jwt, ca: &[u8]) -> Result<Oidc, String> {
        let roots = if ca.is_empty() { system_roots() } else { ca.to_vec() };
        let tls = crate::outbound::tls::client_config(crate::outbound::tls::Trust::Roots(&roots), None)
            .map_err(|e| e.to_string())?;
        Ok(Oidc {
            cfg,
            tls: Arc::new(tls),
            keys: RwLock::new(None),
            last_fetch: std::sync::Mutex::new(None),
            claim_issuers: Default::default(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.cfg.issuer
    }

    /// From the flags; None when no `--oidc-*` flag is set. Errors as upstream's validation.
    pub fn from_options(opts: &ServeOptions) -> anyhow::Result<Option<Arc<Oidc>>> {
        let key = |k: &str| format!("authentication.oidc.{k}");
        let issuer = opts.get_str(&key("issuer-url"));
        let client_id = opts.get_str(&key("client-id"));
        if !any_set(opts) {
            return Ok(None);
        }
        if opts.get_path("authentication.config-file").is_some() {
            anyhow::bail!("authentication-config file and oidc-* flags are mutually exclusive");
        }
        if issuer.is_empty() || client_id.is_empty() {
            anyhow::bail!(
                "oidc-issuer-url and oidc-client-id must be specified together when any oidc-* flags are set"
            );
        }
        if !issuer.starts_with("https://") {
            anyhow::bail!("--oidc-issuer-url: Invalid value: {issuer:?}: URL scheme must be https");
        }
        let mut signing_algs = opts.get_list(&key("signing-algs"));
        if signing_algs.is_empty() {
            signing_algs.push("RS256".into());
        }
        // go-oidc's list (RS*, ES*, PS*), as upstream's `allowedSigningAlgs`.
        for a in &signing_algs {
            if jwt::Alg::from_name(a).is_none() {
                anyhow::bail!("oidc-signing-algs: {a:?} is not a supported signing algorithm");
            }
        }
        let username_claim = opts.get_str(&key("username-claim"));
        let username_claim = if username_claim.is_empty() {
            "sub".to_string()
        } else {
            username_claim
        };
        let mut username_prefix = opts.get_str(&key("username-prefix"));
        if username_prefix.is_empty() && username_claim != "email" {
            // Legacy flag behaviour: claims other than email are prefixed with the issuer.
            username_prefix = format!("{issuer}#");
        }
        if username_prefix == "-" {
            username_prefix.clear();
        }
        let mut required: Vec<(String, String)> = match opts.get(&key("required-claim")) {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
            _ => Vec::new(),
        };
        required.sort();
        let ca = match opts.get_path(&key("ca-file")) {
            Some(p) => std::fs::read(&p).map_err(|e| anyhow::anyhow!("--oidc-ca-file {}: {e}", p.display()))?,
            None => Vec::new(),
        };
        let groups_claim = opts.get_str(&key("groups-claim"));
        let cfg = Jwt {
            issuer,
            discovery_url: None,
            audiences: vec![client_id],
            username: Mapping::Claim {
                claim: username_claim,
                prefix: username_prefix,
            },
            groups: (!groups_claim.is_empty()).then(|| Mapping::Claim {
                claim: groups_claim,
                prefix: opts.get_str(&key("groups-prefix")),
            }),
            uid: None,
            extra: Vec::new(),
            claim_rules: required
                .into_iter()
                .map(|(claim, value)| ClaimRule::Required { claim, value })
                .collect(),
            user_rules: Vec::new(),
            signing_algs,
        };
        let o = Oidc::new(cfg, &ca).map_err(|e| anyhow::anyhow!("--oidc-ca-file: {e}"))?;
        Ok(Some(Arc::new(o)))
    }

    /// Discover the issuer and load its keys, retrying until it answers.
    pub fn spawn_discovery(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(o) = me.upgrade() else { return };
                match o.fetch_keys().await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::error!(issuer = %o.cfg.issuer, error = %e, "oidc authenticator: initializing plugin")
                    }
                }
                drop(o);
                tokio::time::sleep(RETRY).await;
            }
        });
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let (code, body) = crate::outbound::webhook::get(url, self.tls.clone(), FETCH_TIMEOUT).await?;
        if code != 200 {
            return Err(format!("{code} {}: {}", url, String::from_utf8_lossy(&body).trim()));
        }
        serde_json::from_slice(&body).map_err(|e| format!("oidc: failed to decode provider discovery object: {e}"))
    }

    /// Fetch discovery and the JWKS once.
    pub async fn fetch_keys(&self) -> Result<(), String> {
        *self.last_fetch.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let issuer = &self.cfg.issuer;
        let url = match &self.cfg.discovery_url {
            Some(u) => u.clone(),
            None => format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')),
        };
        let disco = self.get_json(&url).await?;
        let got = disco.str_of("issuer");
        if got != issuer {
            return Err(format!(
                "oidc: issuer did not match the issuer returned by provider, expected {issuer:?} got {got:?}"
            ));
        }
        let jwks_uri = disco
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("oidc: provider discovery object has no jwks_uri")?;
        let jwks = self.get_json(jwks_uri).await?;
        let keys: Vec<PublicKey> = jwks
            .get("keys")
            .and_then(Value::as_array)
            .map(|ks| ks.iter().filter_map(|k| PublicKey::from_jwk(k).ok()).collect())
            .unwrap_or_default();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Some(keys);
        Ok(())
    }

    /// Whether this authenticator owns the token (its `iss` is the issuer URL).
    pub fn owns(&self, claims: &Value) -> bool {
        claims.get("iss").and_then(Value::as_str) == Some(self.cfg.issuer.as_str())
    }

    pub async fn authenticate(&self, token: &str) -> TokenResult {
        if self.keys.read().unwrap_or_else(|p| p.into_inner()).is_none() {
            return Err("oidc: authenticator not initialized".into());
        }
        let mut claims = self
            .verify_token(token)
            .await
            .map_err(|e| format!("oidc: verify token: {e}"))?;
        self.expand_distributed(&mut claims)
            .await
            .map_err(|e| format!("oidc: could not expand distributed claims: {e}"))?;
        self.map_user(&claims)
    }

    /// Signature (an allowed algorithm, a key of the issuer), then time and audience: go-oidc's
    /// `Verify`. The claims, or the error after upstream's `oidc: verify token: ` prefix.
    async fn verify_token(&self, token: &str) -> Result<Value, String> {
        let header = jwt::peek_header(token).unwrap_or(Value::Null);
        let alg = header.str_of("alg");
        if !self.cfg.signing_algs.iter().any(|a| a == alg) {
            return Err(format!(
                "oidc: id token signed with unsupported algorithm, expected {:?} got {alg:?}",
                self.cfg.signing_algs
            ));
        }
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(mut keys) = keys else {
            return Err("oidc: authenticator not initialized".into());
        };
        let kid = header.str_of("kid");
        if !kid.is_empty() && !keys.iter().any(|k| k.kid == kid) && self.may_refresh() {
            // A key the cached set lacks: the issuer may have rotated.
            if self.fetch_keys().await.is_ok() {
                keys = self
                    .keys
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .unwrap_or_default();
            }
        }
        let claims = jwt::verify(token, &keys).map_err(|e| format!("failed to verify signature: {e}"))?;
        self.verify_claims(&claims, crate::util::unix_now() as i64)?;
        Ok(claims)
    }

    /// Upstream's `claimResolver.expand` for the groups claim.
    async fn expand_distributed(&self, c: &mut Value) -> Result<(), String> {
        let Some(Mapping::Claim { claim, .. }) = &self.cfg.groups else {
            return Ok(());
        };
        if c.get(claim).is_some() {
            return Ok(());
        }
        let Some(names) = c.get("_claim_names") else {
            return Ok(());
        };
        let names: std::collections::BTreeMap<String, String> = serde_json::from_value(names.clone())
            .map_err(|e| format!("oidc: error parsing distributed claim names: {e}"))?;
        let sources = c.get("_claim_sources").ok_or("oidc: no claim sources")?;
        let sources: std::collections::BTreeMap<String, ClaimSource> =
            serde_json::from_value(sources.clone()).map_err(|e| format!("oidc: could not parse claim sources: {e}"))?;
        let Some(src) = names.get(claim) else {
            return Ok(());
        };
        let ep = sources
            .get(src)
            .ok_or_else(|| format!("id token _claim_names contained a source {src} missing in _claims_sources"))?;
        if ep.endpoint.is_empty() {
            // An aggregated claim (`JWT`): not supported upstream either.
            return Ok(());
        }
        let value = self.resolve(claim, ep).await?;
        c[claim.as_str()] = value;
        Ok(())
    }

    /// Fetch the source's JWT, verify it with its issuer's verifier, take the claim.
    async fn resolve(&self, claim: &str, ep: &ClaimSource) -> Result<Value, String> {
        let bearer = format!("Bearer {}", ep.access_token);
        let headers: &[(&str, &str)] = if ep.access_token.is_empty() {
            &[]
        } else {
            &[("authorization", bearer.as_str())]
        };
        let (code, body) = crate::outbound::webhook::get_with(&ep.endpoint, self.tls.clone(), FETCH_TIMEOUT, headers)
            .await
            .map_err(|e| format!("while getting distributed claim {claim:?}: {e}"))?;
        if !(200..=226).contains(&code) {
            let reason = http::StatusCode::from_u16(code)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("");
            return Err(format!(
                "while getting distributed claim {claim:?}: error while getting distributed claim JWT: {code} {reason}"
            ));
        }
        let token = String::from_utf8_lossy(&body).into_owned();
        let iss = untrusted_issuer(&token).map_err(|e| {
            format!(
                "getting untrusted issuer from endpoint {} failed for claim {claim:?}: {e}",
                ep.endpoint
            )
        })?;
        let verifier = self.claim_issuer(&iss)?;
        if verifier.keys.read().unwrap_or_else(|p| p.into_inner()).is_none() {
            return Err(format!(
                "verifying untrusted issuer {iss} failed: verifier not initialized for issuer: {iss:?}"
            ));
        }
        let dist = verifier
            .verify_token(&token)
            .await
            .map_err(|e| format!("verify distributed claim token: {e}"))?;
        dist.get(claim).cloned().ok_or_else(|| {
            format!(
                "jwt returned by distributed claim endpoint {:?} did not contain claim: {claim}",
                ep.endpoint
            )
        })
    }

    /// The verifier of a distributed-claim issuer: created (and its discovery started) on
    /// first use, as upstream's `asyncIDTokenVerifier`.
    fn claim_issuer(&self, iss: &str) -> Result<Arc<Oidc>, String> {
        let mut all = self.claim_issuers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = all.get(iss) {
            return Ok(v.clone());
        }
        if all.len() >= MAX_CLAIM_ISSUERS {
            return Err(format!(
                "verifying untrusted issuer {iss} failed: too many distributed claim issuers"
            ));
        }
        let cfg = Jwt {
            issuer: iss.to_string(),
            discovery_url: None,
            audiences: self.cfg.audiences.clone(),
            username: Mapping::Claim {
                claim: "sub".into(),
                prefix: String::new(),
            },
            groups: None,
            uid: None,
            extra: Vec::new(),
            claim_rules: Vec::new(),
            user_rules: Vec::new(),
            signing_algs: self.cfg.signing_algs.clone(),
        };
        let v = Arc::new(Oidc {
            cfg,
            tls: self.tls.clone(),
            keys: RwLock::new(None),
            last_fetch: std::sync::Mutex::new(None),
            claim_issuers: Default::default(),
        });
        v.spawn_discovery();
        all.insert(iss.to_string(), v.clone());
        Ok(v)
    }

    fn may_refresh(&self) -> bool {
        let last = *self.last_fetch.lock().unwrap_or_else(|p| p.into_inner());
        last.is_none_or(|t| t.elapsed() >= REFRESH_MIN)
    }

    /// Everything after the signature, in upstream's order: time and audience (the verifier),
    /// then the user mapping.
    #[cfg(test)]
    fn check(&self, c: &Value, now: i64) -> TokenResult {
        self.verify_claims(c, now)
            .map_err(|e| format!("oidc: verify token: {e}"))?;
        self.map_user(c)
    }

    /// go-oidc's time and audience checks (errors without the `oidc: verify token: ` prefix).
    fn verify_claims(&self, c: &Value, now: i64) -> Result<(), String> {
        let num = |k: &str| c.get(k).and_then(Value::as_f64).map(|f| f as i64);
        let exp = num("exp").unwrap_or(0);
        if now > exp + SKEW {
            return Err(format!("oidc: token is expired (Token Expiry: {})", time(exp)));
        }
        if let Some(nbf) = num("nbf") {
            if now + SKEW < nbf {
                return Err(format!(
                    "oidc: current time {} before the nbf (not before) time: {}",
                    time(now),
                    time(nbf)
                ));
            }
        }
        let auds: Vec<&str> = match c.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !self.cfg.audiences.iter().any(|a| auds.contains(&a.as_str())) {
            let mut want: Vec<&str> = self.cfg.audiences.iter().map(String::as_str).collect();
            want.sort();
            return Err(format!(
                "oidc: expected audience in {} got {}",
                go_q_list(&want),
                go_q_list(&auds)
            ));
        }
        Ok(())
    }

    /// Username, groups, uid, extra, required claims, claim validation rules, user rules.
    fn map_user(&self, c: &Value) -> TokenResult {
        let cel_claims = [("claims", c)];
        let name = self.username(c)?;
        let groups = match &self.cfg.groups {
            None => Vec::new(),
            Some(Mapping::Claim { claim, prefix }) => match c.get(claim) {
                None => Vec::new(),
                Some(Value::String(g)) => vec![format!("{prefix}{g}")],
                Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|g| format!("{prefix}{g}"))
                    .collect(),
                Some(_) => {
                    return Err(format!(
                        "oidc: parse groups claim {claim:?}: json: cannot unmarshal into Go value of type []string"
                    ))
                }
            },
            Some(Mapping::Cel(e)) => e
                .eval(&cel_claims)
                .and_then(string_list)
                .map_err(|e| format!("oidc: error evaluating group claim expression: {e}"))?,
        };
        let uid = match &self.cfg.uid {
            None => String::new(),
            Some(Mapping::Claim { claim, .. }) => match c.get(claim) {
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(format!(
                        "oidc: parse uid claim {claim:?}: json: cannot unmarshal into Go value of type string"
                    ))
                }
                None => return Err(format!("oidc: parse uid claim {claim:?}: claim not present")),
            },
            Some(Mapping::Cel(e)) => match e.eval(&cel_claims) {
                Ok(Value::String(s)) => s,
                Ok(_) => {
                    return Err(
                        "oidc: error evaluating uid claim expression: uid claim expression must return a string".into(),
                    )
                }
                Err(e) => return Err(format!("oidc: error evaluating uid claim expression: {e}")),
            },
        };
        let mut extra = std::collections::BTreeMap::new();
        if let Some(Value::String(jti)) = c.get("jti") {
            extra.insert(CREDENTIAL_ID_KEY.to_string(), vec![format!("JTI={jti}")]);
        }
        for (key, e) in &self.cfg.extra {
            let values = e
                .eval(&cel_claims)
                .and_then(string_list)
                .map_err(|err| format!("oidc: error evaluating extra claim expression: {}: {err}", e.source))?;
            if !values.is_empty() {
                extra.insert(key.clone(), values);
            }
        }
        for rule in &self.cfg.claim_rules {
            match rule {
                ClaimRule::Required { claim, value } => match c.get(claim) {
                    None => return Err(format!("oidc: required claim {claim} not present in ID token")),
                    Some(Value::String(got)) if got == value => {}
                    Some(Value::String(got)) => {
                        return Err(format!(
                            "oidc: required claim {claim} value does not match. Got = {got}, want = {value}"
                        ))
                    }
                    Some(_) => {
                        return Err(format!(
                            "oidc: parse claim {claim}: json: cannot unmarshal into Go value of type string"
                        ))
                    }
                },
                ClaimRule::Cel { expr, message } => validation_rule(expr, message, &cel_claims)
                    .map_err(|e| format!("oidc: error evaluating claim validation expression: {e}"))?,
            }
        }
        let user = UserInfo {
            name,
            uid,
            groups,
            extra,
        };
        if !self.cfg.user_rules.is_empty() {
            let u = json!({"username": user.name, "uid": user.uid, "groups": user.groups, "extra": user.extra});
            for (expr, message) in &self.cfg.user_rules {
                validation_rule(expr, message, &[("user", &u)])
                    .map_err(|e| format!("oidc: error evaluating user info validation rule: {e}"))?;
            }
        }
        Ok(Some((user, Vec::new())))
    }

    fn username(&self, c: &Value) -> Result<String, String> {
        let (claim, prefix) = match &self.cfg.username {
            Mapping::Cel(e) => return match e.eval(&[("claims", c)]) {
                Ok(Value::String(s)) if s.is_empty() => {
                    Err("oidc: empty username via CEL expression is not allowed".into())
                }
                Ok(Value::String(s)) => Ok(s),
                Ok(_) => Err(
                    "oidc: error evaluating username claim expression: username claim expression must return a string"
                        .into(),
                ),
                Err(e) => Err(format!("oidc: error evaluating username claim expression: {e}")),
            },
            Mapping::Claim { claim, prefix } => (claim, prefix),
        };
        let username = match c.get(claim) {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(format!(
                    "oidc: parse username claims {claim:?}: json: cannot unmarshal into Go value of type string"
                ))
            }
            None => return Err(format!("oidc: parse username claims {claim:?}: claim not present")),
        };
        if claim == "email" {
            match c.get("email_verified") {
                None | Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) => return Err("oidc: email not verified".into()),
                Some(_) => {
                    return Err(
                        "oidc: parse 'email_verified' claim: json: cannot unmarshal into Go value of type bool".into(),
                    )
                }
            }
        }
        Ok(format!("{prefix}{username}"))
    }
}

/// One `_claim_sources` entry (`endpoint`, optional `access_token`; `JWT` aggregated claims
/// are ignored, as upstream).
#[derive(serde::Deserialize)]
struct ClaimSource {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    access_token: String,
}

/// The unverified `iss` of a compact JWT (upstream `untrustedIssuer`).
fn untrusted_issuer(token: &str) -> Result<String, String> {
    if token.trim_start().starts_with('{') {
        return Err("token is not compact JWT".into());
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err("malformed token".into());
    }
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .map_err(|e| format!("error decoding token: {e}"))?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|e| format!("while unmarshaling token: {e}"))?;
    let iss = claims.str_of("iss");
    // Google's legacy issuer, coalesced as upstream does.
    Ok(if iss == "accounts.google.com" {
        "https://accounts.google.com".to_string()
    } else {
        iss.to_string()
    })
}

/// The user's extra key for the token's `jti` (upstream `user.CredentialIDKey`).
const CREDENTIAL_ID_KEY: &str = "authentication.kubernetes.io/credential-id";

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_q_list(items: &[&str]) -> String {
    let q: Vec<String> = items.iter().map(|s| crate::util::go_quote(s)).collect();
    format!("[{}]", q.join(" "))
}

/// A CEL result as upstream's `convertCELValueToStringList`: a string or a list of strings;
/// empty strings and null are absent.
fn string_list(v: Value) -> Result<Vec<String>, String> {
    const MSG: &str = "expression must return a string or a list of strings";
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(if s.is_empty() { Vec::new() } else { vec![s] }),
        Value::Array(a) => a
            .into_iter()
            .filter(|v| v.as_str() != Some(""))
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(MSG.to_string()),
            })
            .collect(),
        _ => Err(MSG.into()),
    }
}

/// One validation condition: false is an error naming the expression and its message.
fn validation_rule(expr: &Expr, message: &str, vars: &[(&str, &Value)]) -> Result<(), String> {
    match expr.eval(vars)? {
        Value::Bool(true) => Ok(()),
        Value::Bool(false) => Err(format!("validation expression '{}' failed: {message}", expr.source)),
        _ => Err("validation expression must return a boolean".into()),
    }
}

fn time(secs: i64) -> String {
    crate::util::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oidc(claim: &str, prefix: &str) -> Oidc {
        let cfg = Jwt {
            issuer: "https://idp".into(),
            discovery_url: None,
            audiences: vec!["kube".into()],
            username: Mapping::Claim {
                claim: claim.into(),
                prefix: prefix.into(),
            },
            groups: Some(Mapping::Claim {
                claim: "groups".into(),
                prefix: "oidc:".into(),
            }),
            uid: None,
            extra: Vec::new(),
            claim_rules: vec![ClaimRule::Required {
                claim: "hd".into(),
                value: "example.com".into(),
            }],
            user_rules: Vec::new(),
            signing_algs: vec!["RS256".into()],
        };
        Oidc::new(cfg, b"").expect("oidc")
    }

    fn claims_expr(src: &str, want: Option<crate::cel::Type>) -> Expr {
        let claims = crate::cel::types::map(crate::cel::Type::String, crate::cel::Type::Dyn);
        Expr::compile_typed(&[("claims", claims)], src, want).expect("compiles")
    }

    #[test]
    fn cel_mappings_and_rules_as_upstream() {
        let mut o = oidc("sub", "");
        o.cfg.audiences = vec!["b".into(), "a".into()];
        o.cfg.username = Mapping::Cel(claims_expr("'u:' + claims.sub", None));
        o.cfg.groups = Some(Mapping::Cel(claims_expr("claims.roles.map(r, 'r:' + r)", None)));
        o.cfg.uid = Some(Mapping::Cel(claims_expr("claims.sub", None)));
        o.cfg.extra = vec![("example.com/tier".into(), claims_expr("claims.tier", None))];
        o.cfg.claim_rules = vec![ClaimRule::Cel {
            expr: claims_expr("claims.tier != 'banned'", Some(crate::cel::Type::Bool)),
            message: "banned tier".into(),
        }];
        let user = crate::cel::user_info_type();
        o.cfg.user_rules = vec![(
            Expr::compile_typed(&[("user", user)], "!user.username.startsWith('u:root')", None).expect("compiles"),
            "no root".into(),
        )];
        let now = 1_000_000;
        let c = json!({"iss": "https://idp", "aud": "a", "exp": now + 60, "sub": "42", "roles": ["x", ""],
            "tier": "gold", "jti": "j1"});
        let (u, _) = o.check(&c, now).expect("ok").expect("user");
        assert_eq!((u.name.as_str(), u.uid.as_str()), ("u:42", "42"));
        assert_eq!(u.groups, vec!["r:x", "r:"]);
        assert_eq!(u.extra["example.com/tier"], vec!["gold"]);
        assert_eq!(u.extra[CREDENTIAL_ID_KEY], vec!["JTI=j1"]);
        let mut bad = c.clone();
        bad["tier"] = json!("banned");
        assert_eq!(
            o.check(&bad, now).unwrap_err(),
            "oidc: error evaluating claim validation expression: validation expression 'claims.tier != 'banned'' failed: banned tier"
        );
        bad = c.clone();
        bad["sub"] = json!("root");
        assert_eq!(
            o.check(&bad, now).unwrap_err(),
            "oidc: error evaluating user info validation rule: validation expression '!user.username.startsWith('u:root')' failed: no root"
        );
        bad = c.clone();
        bad["aud"] = json!(["z", "y"]);
        assert_eq!(
            o.check(&bad, now).unwrap_err(),
            r#"oidc: verify token: oidc: expected audience in ["a" "b"] got ["z" "y"]"#
        );
        o.cfg.username = Mapping::Cel(claims_expr("claims.tier == 'gold' ? '' : 'x'", None));
        assert_eq!(
            o.check(&c, now).unwrap_err(),
            "oidc: empty username via CEL expression is not allowed"
        );
    }

    #[test]
    fn claims_become_users_as_upstream() {
        let o = oidc("sub", "https://idp#");
        let now = 1_000_000;
        let good = json!({"iss": "https://idp", "aud": ["kube", "x"], "exp": now + 60, "sub": "42",
            "groups": ["admins", "devs"], "hd": "example.com"});
        let (u, _) = o.check(&good, now).expect("ok").expect("user");
        assert_eq!(u.name, "https://idp#42");
        assert_eq!(u.groups, vec!["oidc:admins", "oidc:devs"]);
        let mut c = good.clone();
        c["exp"] = json!(now - 400);
        assert!(o.check(&c, now).unwrap_err().contains("oidc: token is expired"));
        let mut c = good.clone();
        c["aud"] = json!("other");
        assert!(o
            .check(&c, now)
            .unwrap_err()
            .contains(r#"expected audience in ["kube"] got ["other"]"#));
        let mut c = good.clone();
        c["hd"] = json!("evil.com");
        assert_eq!(
            o.check(&c, now).unwrap_err(),
            "oidc: required claim hd value does not match. Got = evil.com, want = example.com"
        );
        let mut c = good.clone();
        c["groups"] = json!("solo");
        assert_eq!(o.check(&c, now).expect("ok").expect("user").0.groups, vec!["oidc:solo"]);
        let e = oidc("email", "");
        let mut c = good.clone();
        c["email"] = json!("jane@example.com");
        c["email_verified"] = json!(false);
        assert_eq!(e.check(&c, now).unwrap_err(), "oidc: email not verified");
        c["email_verified"] = json!(true);
        assert_eq!(e.check(&c, now).expect("ok").expect("user").0.name, "jane@example.com");
        assert!(o.owns(&good) && !o.owns(&json!({"iss": "https://other"})));
    }
}
