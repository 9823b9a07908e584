//! ServiceAccount tokens: issuing (TokenRequest), validating bound and legacy tokens against the
//! live ServiceAccount / Pod / Secret / Node, and the issuer discovery documents.

use super::jwt::{self, PublicKey, SigningKey};
use crate::error::ApiError;
use crate::registry::Registry;
use crate::request::UserInfo;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Upstream's `https://kubernetes.default.svc.<domain>` default when no issuer is configured.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Issuer of secret-based (legacy) tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";
/// kubelet's default request: tokens of exactly this lifetime are extended (warnafter).
const WARN_ONLY_SECONDS: i64 = 3607;
/// The extended lifetime (one year).
const EXTENDED_SECONDS: i64 = 365 * 24 * 3600;

pub struct ServiceAccounts {
    pub signing: Option<SigningKey>,
    pub keys: Vec<PublicKey>,
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub max_expiration: Duration,
    pub extend_expiration: bool,
    pub lookup: bool,
    /// `--service-account-jwks-uri` or `https://<advertise>:<port>/openid/v1/jwks`.
    pub jwks_uri: String,
}

/// Load `sa.key`/`sa.pub` from `dir`, generating them (ECDSA P-256) the first time.
pub fn default_key_pair(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let (key, public) = (dir.join("sa.key"), dir.join("sa.pub"));
    if !key.exists() || !public.exists() {
        let (k, p) = jwt::generate_pem()?;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key)?;
        f.write_all(k.as_bytes())?;
        std::fs::write(&public, p)?;
    }
    Ok((key, public))
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn now() -> i64 {
    unix(SystemTime::now())
}

/// What a token is bound to besides the ServiceAccount.
#[derive(Debug, Default, Clone)]
pub struct Binding {
    pub pod: Option<(String, String)>,
    pub secret: Option<(String, String)>,
    pub node: Option<(String, String)>,
}

fn name_uid(r: &(String, String)) -> Value {
    json!({"name": r.0, "uid": r.1})
}

/// Kubernetes username of a ServiceAccount.
pub fn username(ns: &str, name: &str) -> String {
    format!("system:serviceaccount:{ns}:{name}")
}

impl ServiceAccounts {
    /// Sign a bound token; returns (token, expiry as unix seconds).
    pub fn issue(
        &self,
        ns: &str,
        sa: (&str, &str),
        audiences: &[String],
        expiration: i64,
        bound: &Binding,
    ) -> Result<(String, i64), ApiError> {
        let key = self
            .signing
            .as_ref()
            .ok_or_else(|| ApiError::internal("no service account signing key is configured"))?;
        let iat = now();
        let (mut exp, mut warnafter) = (expiration, None);
        if self.max_expiration.as_secs() > 0 && exp > self.max_expiration.as_secs() as i64 {
            exp = self.max_expiration.as_secs() as i64;
        }
        if self.extend_expiration && bound.pod.is_some() && expiration == WARN_ONLY_SECONDS {
            warnafter = Some(iat + WARN_ONLY_SECONDS);
            exp = EXTENDED_SECONDS;
        }
        let mut k8s = json!({"namespace": ns, "serviceaccount": {"name": sa.0, "uid": sa.1}});
        if let Some(p) = &bound.pod {
            k8s["pod"] = name_uid(p);
        }
        if let Some(s) = &bound.secret {
            k8s["secret"] = name_uid(s);
        }
        if let Some(n) = &bound.node {
            k8s["node"] = name_uid(n);
        }
        if let Some(w) = warnafter {
            k8s["warnafter"] = json!(w);
        }
        let claims = json!({
            "iss": self.issuers.first().map(String::as_str).unwrap_or(DEFAULT_ISSUER),
            "sub": username(ns, sa.0),
            "aud": audiences,
            "iat": iat,
            "nbf": iat,
            "exp": iat + exp,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
        });
        let token = key.sign(&claims).map_err(ApiError::internal)?;
        Ok((token, iat + exp))
    }

    /// Whether this authenticator should decide on `claims` (its issuer is ours or legacy).
    pub fn owns(&self, claims: &Value) -> bool {
        let iss = claims["iss"].as_str().unwrap_or("");
        iss == LEGACY_ISSUER || self.issuers.iter().any(|i| i == iss)
    }

    /// Validate a JWT we own: signature, time, audience, and the live objects it names.
    /// Returns the user and the token's audiences that matched `want`.
    pub async fn authenticate(
        &self,
        reg: Option<&Registry>,
        token: &str,
        want: &[String],
    ) -> Result<(UserInfo, Vec<String>), String> {
        let claims = jwt::verify(token, &self.keys)?;
        if claims["iss"] == LEGACY_ISSUER {
            return self.legacy(reg, token, &claims, want).await;
        }
        let t = now();
        let leeway = 60;
        if claims["exp"].as_i64().is_some_and(|e| t > e + leeway) {
            return Err("service account token has expired".into());
        }
        if claims["nbf"].as_i64().is_some_and(|n| t + leeway < n) {
            return Err("service account token is not valid yet".into());
        }
        if claims["iat"].as_i64().is_some_and(|i| t + leeway < i) {
            return Err("service account token issued in the future".into());
        }
        let auds: Vec<String> = match &claims["aud"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => vec![],
        };
        let matched: Vec<String> = auds.iter().filter(|a| want.contains(a)).cloned().collect();
        if matched.is_empty() {
            return Err(format!(
                "token audiences {} is invalid for the target audiences {}",
                go_quote_list(&auds),
                go_quote_list(want)
            ));
        }
        let k = &claims["kubernetes.io"];
        let ns = k["namespace"].as_str().unwrap_or("");
        let sa_name = k["serviceaccount"]["name"].as_str().unwrap_or("");
        let sa_uid = k["serviceaccount"]["uid"].as_str().unwrap_or("");
        if ns.is_empty() || sa_name.is_empty() || claims["sub"].as_str() != Some(&username(ns, sa_name)) {
            return Err("service account token claims are invalid".into());
        }
        if let Some(reg) = reg {
            check_live(reg, "serviceaccounts", Some(ns), sa_name, sa_uid, "serviceaccount").await?;
            for (plural, key, namespaced) in [
                ("pods", "pod", true),
                ("secrets", "secret", true),
                ("nodes", "node", false),
            ] {
                if let (Some(n), Some(u)) = (k[key]["name"].as_str(), k[key]["uid"].as_str()) {
                    check_live(reg, plural, namespaced.then_some(ns), n, u, key).await?;
                }
            }
        }
        let mut user = UserInfo::new(
            username(ns, sa_name),
            vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")],
        );
        user.uid = sa_uid.to_string();
        if let Some(j) = claims["jti"].as_str() {
            user.extra.insert(
                "authentication.kubernetes.io/credential-id".into(),
                vec![format!("JTI={j}")],
            );
        }
        for (key, field) in [("pod", "pod"), ("node", "node")] {
            for part in ["name", "uid"] {
                if let Some(v) = k[field][part].as_str() {
                    user.extra.insert(
                        format!("authentication.kubernetes.io/{key}-{part}"),
                        vec![v.to_string()],
                    );
                }
            }
        }
        Ok((user, matched))
    }

    /// Secret-based tokens (`kubernetes.io/service-account-token` Secrets): accepted while the
    /// Secret holds this token and the ServiceAccount exists (`--service-account-lookup`).
    async fn legacy(
        &self,
        reg: Option<&Registry>,
        token: &str,
        claims: &Value,
        want: &[String],
    ) -> Result<(UserInfo, Vec<String>), String> {
        let s = |k: &str| {
            claims[format!("kubernetes.io/serviceaccount/{k}")]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        let (ns, secret, sa, uid) = (
            s("namespace"),
            s("secret.name"),
            s("service-account.name"),
            s("service-account.uid"),
        );
        if ns.is_empty() || secret.is_empty() || sa.is_empty() || claims["sub"].as_str() != Some(&username(&ns, &sa)) {
            return Err("service account token claims are invalid".into());
        }
        if let (Some(reg), true) = (reg, self.lookup) {
            let def = crate::api::builtin_row("", "secrets").ok_or("no secrets resource")?;
            let obj = reg
                .get_cached_or_live(def, Some(&ns), &secret)
                .await
                .map_err(|_| format!("secrets \"{secret}\" not found"))?;
            let secret = obj.value();
            let stored = secret["data"]["token"].as_str().unwrap_or("");
            let decoded =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, stored).unwrap_or_default();
            if decoded != token.as_bytes() || secret["metadata"]["deletionTimestamp"].is_string() {
                return Err("token does not match secret, or secret is being deleted".into());
            }
            check_live(reg, "serviceaccounts", Some(&ns), &sa, &uid, "serviceaccount").await?;
        }
        let mut user = UserInfo::new(
            username(&ns, &sa),
            vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")],
        );
        user.uid = uid;
        Ok((user, want.to_vec()))
    }

    /// `/.well-known/openid-configuration`.
    pub fn openid_configuration(&self) -> Value {
        let mut algs: Vec<&str> = self.keys.iter().map(|k| k.alg.name()).collect();
        algs.sort();
        algs.dedup();
        json!({
            "issuer": self.issuers.first().map(String::as_str).unwrap_or(DEFAULT_ISSUER),
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
        })
    }

    /// `/openid/v1/jwks`.
    pub fn jwks(&self) -> Value {
        json!({"keys": self.keys.iter().map(PublicKey::jwk).collect::<Vec<_>>()})
    }
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| serde_json::to_string(s).unwrap_or_default()).collect();
    format!("[{}]", items.join(" "))
}

/// The named object must exist with `uid` (when given) and not be terminating.
async fn check_live(
    reg: &Registry,
    plural: &str,
    ns: Option<&str>,
    name: &str,
    uid: &str,
    what: &str,
) -> Result<(), String> {
    let def = crate::api::builtin_row("", plural).ok_or_else(|| format!("no {plural} resource"))?;
    let obj = // The watch cache first, as upstream's token getter reads its listers: a storage read per
    // authenticated request would put an etcd round trip before every controller call.
    match reg.get_cached_or_live(def, ns, name).await {
        Ok(o) => o,
        Err(e) if e.code == 404 => return Err(format!("{what} {name} has been deleted")),
        Err(e) => return Err(e.message),
    };
    let meta = &obj.metadata();
    let live_uid = meta["uid"].as_str().unwrap_or("");
    if !uid.is_empty() && live_uid != uid {
        return Err(format!("{what} UID ({live_uid}) does not match claim ({uid})"));
    }
    if meta["deletionTimestamp"].is_string() && what != "pod" {
        return Err(format!("{what} {name} is being deleted"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (ServiceAccounts, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (k, p) = default_key_pair(dir.path()).unwrap();
        let sa = ServiceAccounts {
            signing: Some(SigningKey::load(&k).unwrap()),
            keys: jwt::load_public_keys(&p).unwrap(),
            issuers: vec!["https://a".into(), "https://b".into()],
            audiences: vec!["https://a".into()],
            max_expiration: Duration::ZERO,
            extend_expiration: true,
            lookup: true,
            jwks_uri: "https://127.0.0.1:6443/openid/v1/jwks".into(),
        };
        (sa, dir)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn issued_token_validates_with_upstream_identity() {
        let (sa, _d) = setup();
        let bound = Binding {
            pod: Some(("p".into(), "pu".into())),
            ..Default::default()
        };
        let (tok, exp) = sa.issue("ns", ("default", "u1"), &sa.audiences, 3600, &bound).unwrap();
        assert!((exp - now() - 3600).abs() <= 1);
        let claims = jwt::peek_claims(&tok).unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:ns:default");
        assert_eq!(claims["iss"], "https://a");
        assert_eq!(claims["kubernetes.io"]["pod"]["uid"], "pu");
        assert!(sa.owns(&claims));
        let (u, auds) = block_on(sa.authenticate(None, &tok, &sa.audiences)).unwrap();
        assert_eq!(u.name, "system:serviceaccount:ns:default");
        assert_eq!(u.uid, "u1");
        assert_eq!(u.groups, vec!["system:serviceaccounts", "system:serviceaccounts:ns"]);
        assert_eq!(u.extra["authentication.kubernetes.io/pod-name"], vec!["p"]);
        assert!(u.extra["authentication.kubernetes.io/credential-id"][0].starts_with("JTI="));
        assert_eq!(auds, vec!["https://a"]);
    }

    #[test]
    fn rejects_wrong_audience_expired_and_foreign_issuer() {
        let (sa, _d) = setup();
        let (tok, _) = sa
            .issue("ns", ("x", "u"), &["other".into()], 3600, &Binding::default())
            .unwrap();
        let e = block_on(sa.authenticate(None, &tok, &sa.audiences)).unwrap_err();
        assert_eq!(
            e,
            "token audiences [\"other\"] is invalid for the target audiences [\"https://a\"]"
        );
        let key = sa.signing.as_ref().unwrap();
        let base = json!({"iss": "https://b", "sub": "system:serviceaccount:ns:x", "aud": ["https://a"],
            "kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "x", "uid": "u"}}});
        let mut expired = base.clone();
        expired["exp"] = json!(now() - 120);
        let e = block_on(sa.authenticate(None, &key.sign(&expired).unwrap(), &sa.audiences)).unwrap_err();
        assert_eq!(e, "service account token has expired");
        let mut early = base.clone();
        early["nbf"] = json!(now() + 600);
        let e = block_on(sa.authenticate(None, &key.sign(&early).unwrap(), &sa.audiences)).unwrap_err();
        assert_eq!(e, "service account token is not valid yet");
        // The second issuer is accepted; an unknown one is not ours to judge.
        assert!(block_on(sa.authenticate(None, &key.sign(&base).unwrap(), &sa.audiences)).is_ok());
        let mut foreign = base.clone();
        foreign["iss"] = json!("https://elsewhere");
        assert!(!sa.owns(&foreign));
    }

    #[test]
    fn kubelet_lifetime_is_extended_and_max_caps() {
        let (mut sa, _d) = setup();
        let pod = Binding {
            pod: Some(("p".into(), "u".into())),
            ..Default::default()
        };
        let (tok, exp) = sa.issue("ns", ("x", "u"), &[], 3607, &pod).unwrap();
        assert!(exp - now() > 3600 * 24 * 300);
        let c = jwt::peek_claims(&tok).unwrap();
        assert!(c["kubernetes.io"]["warnafter"].as_i64().unwrap() - now() <= 3607);
        sa.max_expiration = Duration::from_secs(1800);
        let (_, exp) = sa.issue("ns", ("x", "u"), &[], 7200, &Binding::default()).unwrap();
        assert!(exp - now() <= 1800);
    }

    #[test]
    fn discovery_documents() {
        let (sa, _d) = setup();
        let c = sa.openid_configuration();
        assert_eq!(c["issuer"], "https://a");
        assert_eq!(c["id_token_signing_alg_values_supported"], json!(["ES256"]));
        assert_eq!(sa.jwks()["keys"][0]["kid"], sa.keys[0].kid.as_str());
    }
}
