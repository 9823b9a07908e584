//! Authentication: the chain of authenticators upstream runs — request-header (front proxy),
//! x509 client certificates, bearer tokens (token file, ServiceAccount JWTs, bootstrap tokens),
//! then anonymous. The first that recognises the request decides; a presented but invalid
//! bearer token is a 401 even when anonymous access is on (upstream's FailOnError union).

pub mod bootstrap;
pub mod config;
pub mod jwt;
pub mod oidc;
mod p521;
pub mod requestheader;
pub mod reviews;
pub mod serviceaccount;
pub mod token_file;
pub mod webhook;

use crate::config::ServeOptions;
use crate::error::ApiError;
use crate::registry::Registry;
use crate::request::{Request, UserInfo, AUTHENTICATED_GROUP};
use anyhow::Context;
use base64::Engine;
use std::sync::Arc;
use std::time::Duration;

/// The configured authenticators.
#[derive(Default)]
pub struct Authenticator {
    /// `--anonymous-auth` (after upstream's reset to false under AlwaysAllow), or the
    /// `anonymous` section of `--authentication-config`.
    pub anonymous: bool,
    /// With the file's `anonymous.conditions`: the only paths anonymous requests may use.
    pub anonymous_paths: std::collections::HashSet<String>,
    pub tokens: Option<Arc<token_file::TokenFile>>,
    pub service_accounts: Option<serviceaccount::ServiceAccounts>,
    /// `--enable-bootstrap-token-auth`.
    pub bootstrap_tokens: bool,
    pub requestheader: Option<requestheader::RequestHeader>,
    /// `--api-audiences` (default: the issuers): what request tokens must be meant for.
    pub api_audiences: Vec<String>,
    /// JWT issuers: the `--oidc-*` flags' one, or `--authentication-config`'s (reloadable).
    pub jwt: Option<Arc<config::JwtSet>>,
    /// `--authentication-token-webhook-config-file`: asked last.
    pub webhook: Option<webhook::TokenWebhook>,
    /// Live objects that tokens are checked against (bound tokens, bootstrap Secrets); None
    /// when the authenticator runs without storage (unit tests).
    pub registry: Option<Registry>,
}

/// A bearer token's result: the user and the audiences it was accepted for.
pub type TokenResult = Result<Option<(UserInfo, Vec<String>)>, String>;

/// Upstream's WebSocket bearer subprotocol prefix.
const WS_PROTOCOL_PREFIX: &str = "base64url.bearer.authorization.k8s.io.";

impl Authenticator {
    /// Build from the serve options; `anonymous` is already reconciled with the authorizer.
    pub fn from_options(
        opts: &ServeOptions,
        anonymous: bool,
        registry: Option<Registry>,
        reloads: Arc<crate::metrics::ConfigReloads>,
    ) -> anyhow::Result<Authenticator> {
        let tokens = match opts.get_path("authentication.token-auth-file") {
            Some(p) => {
                let t = token_file::TokenFile::load(&p)?;
                t.spawn_watchers(Duration::from_secs(2));
                Some(t)
            }
            None => None,
        };
        let requestheader =
            opts.get_path("authentication.requestheader.client-ca-file")
                .map(|_| requestheader::RequestHeader {
                    allowed_names: opts.get_list("authentication.requestheader.allowed-names"),
                    username_headers: opts.get_list("authentication.requestheader.username-headers"),
                    uid_headers: opts.get_list("authentication.requestheader.uid-headers"),
                    group_headers: opts.get_list("authentication.requestheader.group-headers"),
                    extra_prefixes: opts.get_list("authentication.requestheader.extra-headers-prefix"),
                });
        let service_accounts = service_accounts(opts)?;
        let mut api_audiences = opts.get_list("authentication.api-audiences");
        if api_audiences.is_empty() {
            api_audiences = service_accounts.as_ref().map(|s| s.issuers.clone()).unwrap_or_default();
        }
        let service_accounts = service_accounts.map(|mut s| {
            s.audiences = api_audiences.clone();
            s
        });
        let webhook = match opts.get_path("authentication.token-webhook.config-file") {
            Some(p) => Some(
                webhook::TokenWebhook::new(
                    &p,
                    &opts.get_str("authentication.token-webhook.version"),
                    opts.get_duration("authentication.token-webhook.cache-ttl"),
                    &api_audiences,
                )
                .map_err(|e| anyhow::anyhow!("--authentication-token-webhook-config-file: {e}"))?,
            ),
            None => None,
        };
        let disallowed = service_accounts.as_ref().map(|s| s.issuers.clone()).unwrap_or_default();
        let (jwt, anonymous, anonymous_paths) = match opts.get_path("authentication.config-file") {
            Some(path) => {
                let (j, a, p) = from_config_file(opts, &path, &disallowed, anonymous, reloads)?;
                (Some(j), a, p)
            }
            None => {
                let jwt = oidc::Oidc::from_options(opts)?.map(|o| Arc::new(config::JwtSet::new(vec![o])));
                (jwt, anonymous, Default::default())
            }
        };
        if let Some(j) = &jwt {
            j.spawn_discovery();
        }
        Ok(Authenticator {
            jwt,
            webhook,
            anonymous,
            anonymous_paths,
            tokens,
            service_accounts,
            bootstrap_tokens: opts.get_bool("authentication.enable-bootstrap-token-auth"),
            requestheader,
            api_audiences,
            registry,
        })
    }

    /// Re-read reloadable credentials (the token file); also done on SIGHUP and file change.
    pub fn reload(&self) {
        if let Some(t) = &self.tokens {
            t.reload();
        }
    }

    /// Who sent `req`: `Ok(user)` (possibly anonymous), or a 401 `Unauthorized` Status when a
    /// credential was presented but is invalid, or none was and anonymous access is off.
    pub async fn authenticate(&self, req: &Request) -> Result<UserInfo, ApiError> {
        if let Some(u) = &req.conn_user {
            let mut u = u.clone();
            // Front proxy: a certificate from the request-header CA may name the user.
            if let Some(cn) = u.extra.remove(requestheader::VERIFIED_CN) {
                let cn = cn.first().map(String::as_str).unwrap_or("");
                if let Some(user) = self
                    .requestheader
                    .as_ref()
                    .and_then(|r| r.authenticate(cn, &req.headers))
                {
                    return Ok(with_authenticated(user));
                }
            }
            if !u.name.is_empty() {
                return Ok(with_authenticated(u));
            }
        }
        if let Some(token) = bearer_token(&req.headers) {
            return match self.authenticate_token(&token, &self.api_audiences).await {
                Ok(Some((user, _))) => Ok(with_authenticated(user)),
                Ok(None) => Err(unauthorized()),
                Err(e) => {
                    tracing::debug!(error = %format!("[invalid bearer token, {e}]"), "Unable to authenticate the request");
                    Err(unauthorized())
                }
            };
        }
        if self.anonymous && (self.anonymous_paths.is_empty() || self.anonymous_paths.contains(&req.path)) {
            return Ok(UserInfo::anonymous());
        }
        Err(unauthorized())
    }

    /// The token authenticators in upstream's order: token file, ServiceAccount (legacy and
    /// bound), bootstrap tokens, OIDC, the webhook. Ok(None): no authenticator recognised the token.
    pub async fn authenticate_token(&self, token: &str, audiences: &[String]) -> TokenResult {
        let reg = self.registry.as_ref();
        if let Some(u) = self.tokens.as_ref().and_then(|t| t.lookup(token)) {
            return Ok(Some((u, audiences.to_vec())));
        }
        if let Some(sa) = &self.service_accounts {
            if let Some(claims) = jwt::peek_claims(token) {
                if sa.owns(&claims) {
                    return sa.authenticate(reg, token, audiences).await.map(Some);
                }
            }
        }
        if self.bootstrap_tokens {
            if let Some(reg) = reg {
                if let Some(u) = bootstrap::authenticate(reg, token).await {
                    return Ok(Some((u, audiences.to_vec())));
                }
            }
        }
        if let Some(set) = &self.jwt {
            if let Some(claims) = jwt::peek_claims(token) {
                if let Some(o) = set.current().iter().find(|o| o.owns(&claims)) {
                    return o
                        .authenticate(token)
                        .await
                        .map(|r| r.map(|(u, _)| (u, audiences.to_vec())));
                }
            }
        }
        if let Some(w) = &self.webhook {
            return w.authenticate(token, audiences).await;
        }
        Ok(None)
    }
}

/// `--authentication-config`: upstream's checks against the flags, the file (errors name it),
/// its reload; the JWT set and the anonymous setting in effect.
fn from_config_file(
    opts: &ServeOptions,
    path: &std::path::Path,
    disallowed: &[String],
    flag_anonymous: bool,
    reloads: Arc<crate::metrics::ConfigReloads>,
) -> anyhow::Result<(Arc<config::JwtSet>, bool, std::collections::HashSet<String>)> {
    let gates = crate::config::features::FeatureGates::from_options(opts);
    if !gates.enabled("StructuredAuthenticationConfiguration") {
        anyhow::bail!(
            "set --feature-gates=StructuredAuthenticationConfiguration=true to use authentication-config file"
        );
    }
    if oidc::any_set(opts) {
        anyhow::bail!("authentication-config file and oidc-* flags are mutually exclusive");
    }
    let fail = |e: String| anyhow::anyhow!("--authentication-config {}: {e}", path.display());
    let (cfg, data) = config::load(path, disallowed).map_err(fail)?;
    let anonymous_flag_set = opts
        .sources
        .get("authentication.anonymous-auth")
        .is_some_and(|s| s != "default");
    if cfg.anonymous.is_some() {
        if !gates.enabled("AnonymousAuthConfigurableEndpoints") {
            return Err(fail("anonymous: Forbidden: anonymous is not supported when AnonymousAuthConfigurableEnpoints feature gate is disabled".into()));
        }
        if anonymous_flag_set {
            // Upstream's text, typo included.
            return Err(fail("anonymous: Forbidden: --anonynous-auth flag cannot be set when anonymous field is configured in authentication configuration file".into()));
        }
    }
    let (anonymous, paths) = match &cfg.anonymous {
        Some(a) => (a.enabled, a.paths.iter().cloned().collect()),
        None => (flag_anonymous, Default::default()),
    };
    let set = Arc::new(config::JwtSet::new(cfg.jwt));
    config::spawn_reload(
        path.to_path_buf(),
        data,
        set.clone(),
        cfg.anonymous,
        disallowed.to_vec(),
        reloads,
    );
    Ok((set, anonymous, paths))
}

/// Every authenticated user is in `system:authenticated`.
fn with_authenticated(mut u: UserInfo) -> UserInfo {
    if !u.in_group(AUTHENTICATED_GROUP) {
        u.groups.push(AUTHENTICATED_GROUP.into());
    }
    u
}

/// `Authorization: Bearer <token>`, or the WebSocket subprotocol form on upgrade requests.
fn bearer_token(h: &http::HeaderMap) -> Option<String> {
    if let Some(auth) = h.get("authorization").and_then(|v| v.to_str().ok()) {
        let mut parts = auth.trim().splitn(3, ' ');
        if let (Some(scheme), Some(tok)) = (parts.next(), parts.next()) {
            if scheme.eq_ignore_ascii_case("bearer") && !tok.is_empty() {
                return Some(tok.to_string());
            }
        }
    }
    let upgrade = h
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return None;
    }
    h.get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_PROTOCOL_PREFIX).map(str::to_string))
        .and_then(|enc| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(enc).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|t| !t.is_empty())
}

/// ServiceAccount token settings. Without any key flag and with the generated PKI, a key pair
/// `pki/sa.key` / `pki/sa.pub` in the data dir is used (created on first start).
fn service_accounts(opts: &ServeOptions) -> anyhow::Result<Option<serviceaccount::ServiceAccounts>> {
    let mut signing = opts.get_path("service-account.signing-key-file");
    let mut key_files: Vec<std::path::PathBuf> = opts
        .get_list("service-account.key-file")
        .into_iter()
        .map(Into::into)
        .collect();
    if signing.is_none() && key_files.is_empty() {
        if opts.tls_cert_file.is_some() {
            return Ok(None);
        }
        let (k, p) = serviceaccount::default_key_pair(&opts.data_dir().join("pki"))?;
        signing = Some(k);
        key_files.push(p);
    }
    if key_files.is_empty() {
        key_files.extend(signing.clone());
    }
    let signing = signing
        .map(|p| jwt::SigningKey::load(&p).context("--service-account-signing-key-file"))
        .transpose()?;
    let mut keys = Vec::new();
    for f in &key_files {
        keys.extend(jwt::load_public_keys(f).context("--service-account-key-file")?);
    }
    let mut issuers = opts.get_list("service-account.issuer");
    if issuers.is_empty() {
        issuers.push(serviceaccount::DEFAULT_ISSUER.to_string());
    }
    let mut jwks_uri = opts.get_str("service-account.jwks-uri");
    if let Some(external) = opts.external_address().filter(|_| jwks_uri.is_empty()) {
        jwks_uri = format!("https://{external}/openid/v1/jwks");
    }
    if jwks_uri.is_empty() {
        let host = opts.advertise_address.unwrap_or(opts.bind_address);
        let host = if host.is_unspecified() {
            "127.0.0.1".to_string()
        } else if host.is_ipv6() {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        jwks_uri = format!("https://{host}:{}/openid/v1/jwks", opts.secure_port);
    }
    Ok(Some(serviceaccount::ServiceAccounts {
        signing,
        keys,
        issuers,
        audiences: Vec::new(),
        max_expiration: opts.get_duration("service-account.max-token-expiration"),
        extend_expiration: opts.get_bool("service-account.extend-token-expiration"),
        lookup: opts.get_bool("service-account.lookup"),
        jwks_uri,
    }))
}

/// Upstream's 401: `{"reason":"Unauthorized","message":"Unauthorized","code":401}`.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_forms() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h).as_deref(), Some("abc"));
        h.insert("authorization", "bearer  x".parse().unwrap());
        assert_eq!(bearer_token(&h), None, "an empty second field is no token");
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert("upgrade", "websocket".parse().unwrap());
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("tok");
        h.insert(
            "sec-websocket-protocol",
            format!("v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.{enc}")
                .parse()
                .unwrap(),
        );
        assert_eq!(bearer_token(&h).as_deref(), Some("tok"));
    }
}
