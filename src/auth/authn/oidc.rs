//! OpenID Connect ID tokens (`--oidc-*` flags), as upstream's JWT authenticator configured from
//! the legacy flags: tokens whose `iss` is the issuer URL are verified against the issuer's JWKS
//! (discovered at `<issuer>/.well-known/openid-configuration` over HTTPS, trusting
//! `--oidc-ca-file` or the system roots), checked for audience (`--oidc-client-id`), expiry and
//! `nbf`, required claims, then mapped to a user by the username and groups claims and prefixes.
//! Keys are fetched in the background until the first success (tokens fail with
//! `oidc: authenticator not initialized` meanwhile) and refetched when a token names an unknown
//! key id, at most every [`REFRESH_MIN`].

use super::jwt::{self, PublicKey};
use super::TokenResult;
use crate::config::ServeOptions;
use crate::request::UserInfo;
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Discovery retry interval (upstream polls every 10 s until the provider answers).
const RETRY: Duration = Duration::from_secs(10);
/// Least time between two JWKS fetches for unknown key ids.
const REFRESH_MIN: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// go-oidc's allowed clock skew for `exp` and `nbf`.
const SKEW: i64 = 300;
const SUPPORTED_ALGS: &[&str] = &["RS256", "ES256"];
/// Algorithms upstream accepts that capstan cannot verify.
const UPSTREAM_ONLY_ALGS: &[&str] = &["RS384", "RS512", "ES384", "ES512", "PS256", "PS384", "PS512"];

pub struct Oidc {
    issuer: String,
    client_id: String,
    username_claim: String,
    username_prefix: String,
    groups_claim: String,
    groups_prefix: String,
    required_claims: Vec<(String, String)>,
    signing_algs: Vec<String>,
    tls: Arc<rustls::ClientConfig>,
    keys: RwLock<Option<Vec<PublicKey>>>,
    last_fetch: std::sync::Mutex<Option<Instant>>,
}

/// Whether any `--oidc-*` flag was set by a layer (not the built-in defaults).
fn any_set(opts: &ServeOptions) -> bool {
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
        for a in &signing_algs {
            if UPSTREAM_ONLY_ALGS.contains(&a.as_str()) {
                anyhow::bail!("--oidc-signing-algs: {a:?} is not supported by capstan (supported: RS256, ES256)");
            }
            if !SUPPORTED_ALGS.contains(&a.as_str()) {
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
        let mut required_claims: Vec<(String, String)> = match opts.get(&key("required-claim")) {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
            _ => Vec::new(),
        };
        required_claims.sort();
        let ca = match opts.get_path(&key("ca-file")) {
            Some(p) => std::fs::read(&p).map_err(|e| anyhow::anyhow!("--oidc-ca-file {}: {e}", p.display()))?,
            None => system_roots(),
        };
        let tls = crate::outbound::tls::client_config(crate::outbound::tls::Trust::Roots(&ca), None)
            .map_err(|e| anyhow::anyhow!("--oidc-ca-file: {e}"))?;
        Ok(Some(Arc::new(Oidc {
            issuer,
            client_id,
            username_claim,
            username_prefix,
            groups_claim: opts.get_str(&key("groups-claim")),
            groups_prefix: opts.get_str(&key("groups-prefix")),
            required_claims,
            signing_algs,
            tls: Arc::new(tls),
            keys: RwLock::new(None),
            last_fetch: std::sync::Mutex::new(None),
        })))
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
                        tracing::error!(issuer = %o.issuer, error = %e, "oidc authenticator: initializing plugin")
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

    async fn fetch_keys(&self) -> Result<(), String> {
        *self.last_fetch.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let disco = self
            .get_json(&format!(
                "{}/.well-known/openid-configuration",
                self.issuer.trim_end_matches('/')
            ))
            .await?;
        let got = disco.get("issuer").and_then(Value::as_str).unwrap_or("");
        if got != self.issuer {
            return Err(format!(
                "oidc: issuer did not match the issuer returned by provider, expected {:?} got {got:?}",
                self.issuer
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
        claims.get("iss").and_then(Value::as_str) == Some(self.issuer.as_str())
    }

    pub async fn authenticate(&self, token: &str) -> TokenResult {
        let header = jwt::peek_header(token).unwrap_or(Value::Null);
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if !self.signing_algs.iter().any(|a| a == alg) {
            return Err(format!(
                "oidc: verify token: oidc: id token signed with unsupported algorithm, expected {:?} got {alg:?}",
                self.signing_algs
            ));
        }
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(mut keys) = keys else {
            return Err("oidc: authenticator not initialized".into());
        };
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
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
        let claims =
            jwt::verify(token, &keys).map_err(|e| format!("oidc: verify token: failed to verify signature: {e}"))?;
        self.check(&claims, crate::util::unix_now() as i64)
    }

    fn may_refresh(&self) -> bool {
        let last = *self.last_fetch.lock().unwrap_or_else(|p| p.into_inner());
        last.is_none_or(|t| t.elapsed() >= REFRESH_MIN)
    }

    /// Everything after the signature: time, audience, required claims, the user.
    fn check(&self, c: &Value, now: i64) -> TokenResult {
        let num = |k: &str| c.get(k).and_then(Value::as_f64).map(|f| f as i64);
        let exp = num("exp").unwrap_or(0);
        if now > exp + SKEW {
            return Err(format!(
                "oidc: verify token: oidc: token is expired (Token Expiry: {})",
                time(exp)
            ));
        }
        if let Some(nbf) = num("nbf") {
            if now + SKEW < nbf {
                return Err(format!(
                    "oidc: verify token: oidc: current time {} before the nbf (not before) time: {}",
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
        if !auds.contains(&self.client_id.as_str()) {
            return Err(format!(
                "oidc: verify token: oidc: expected audience {:?} got {auds:?}",
                self.client_id
            ));
        }
        for (k, want) in &self.required_claims {
            match c.get(k) {
                None => return Err(format!("oidc: required claim {k} not present in ID token")),
                Some(Value::String(got)) if got == want => {}
                Some(got) => {
                    let got = got.as_str().map(str::to_string).unwrap_or_else(|| got.to_string());
                    return Err(format!(
                        "oidc: required claim {k} value does not match. Got = {got}, want = {want}"
                    ));
                }
            }
        }
        let username = match c.get(&self.username_claim) {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(format!(
                    "oidc: parse username claims {:?}: json: cannot unmarshal into Go value of type string",
                    self.username_claim
                ))
            }
            None => {
                return Err(format!(
                    "oidc: parse username claims {:?}: claim not present",
                    self.username_claim
                ))
            }
        };
        if self.username_claim == "email" {
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
        let groups: Vec<String> = if self.groups_claim.is_empty() {
            Vec::new()
        } else {
            match c.get(&self.groups_claim) {
                None => Vec::new(),
                Some(Value::String(g)) => vec![g.clone()],
                Some(Value::Array(a)) => a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect(),
                Some(_) => {
                    return Err(format!(
                        "oidc: parse groups claim {:?}: json: cannot unmarshal into Go value of type []string",
                        self.groups_claim
                    ))
                }
            }
        };
        let user = UserInfo {
            name: format!("{}{username}", self.username_prefix),
            uid: String::new(),
            groups: groups
                .into_iter()
                .map(|g| format!("{}{g}", self.groups_prefix))
                .collect(),
            extra: Default::default(),
        };
        Ok(Some((user, Vec::new())))
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
        Oidc {
            issuer: "https://idp".into(),
            client_id: "kube".into(),
            username_claim: claim.into(),
            username_prefix: prefix.into(),
            groups_claim: "groups".into(),
            groups_prefix: "oidc:".into(),
            required_claims: vec![("hd".into(), "example.com".into())],
            signing_algs: vec!["RS256".into()],
            tls: Arc::new(
                crate::outbound::tls::client_config(crate::outbound::tls::Trust::Roots(b""), None).expect("tls"),
            ),
            keys: RwLock::new(None),
            last_fetch: std::sync::Mutex::new(None),
        }
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
        assert!(o.check(&c, now).unwrap_err().contains("expected audience \"kube\""));
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
