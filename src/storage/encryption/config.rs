//! `--encryption-provider-config`: the EncryptionConfiguration file
//! (`apiserver.config.k8s.io/v1`), decoded strictly and validated with upstream's rules and
//! messages (`k8s.io/apiserver/pkg/apis/apiserver/validation/validation_encryption.go`). Every
//! error names the file, the field path and how to fix it.

use crate::error::field::join;
use serde_json::{Map, Value as Json};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A `group/resource` pair as `schema.ParseGroupResource` reads `resource.group`
/// (`secrets` → ("", "secrets"), `*.apps` → ("apps", "*"), `*.*` → ("*", "*")).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> GroupResource {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }

    pub fn parse(s: &str) -> GroupResource {
        match s.split_once('.') {
            Some((r, g)) => GroupResource::new(g, r),
            None => GroupResource::new("", s),
        }
    }

    /// How the config file spells it (`*.` for every core resource).
    pub fn yaml(&self) -> String {
        match (self.group.as_str(), self.resource.as_str()) {
            ("", "*") => "*.".into(),
            ("", r) => r.into(),
            (g, r) => format!("{r}.{g}"),
        }
    }
}

/// One named key of an aescbc, aesgcm or secretbox provider.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub secret: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key {{ name: {:?}, secret: [REDACTED] }}", self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsConfig {
    pub name: String,
    /// `unix:///path/to/socket` (or `unix:///@abstract`).
    pub endpoint: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    Identity,
    AesCbc(Vec<Key>),
    AesGcm(Vec<Key>),
    Secretbox(Vec<Key>),
    Kms(KmsConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRule {
    pub resources: Vec<String>,
    pub providers: Vec<Provider>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionConfig {
    pub resources: Vec<ResourceRule>,
    /// Upstream's content hash (`k8s:enc:unstable:1:<sha256 hex>`), to notice changes on reload.
    pub hash: String,
}

/// What is wrong with the file: each line names a field and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub errors: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--encryption-provider-config {}: ", self.file.display())?;
        if self.errors.len() == 1 {
            return f.write_str(&self.errors[0]);
        }
        write!(f, "{} errors:", self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

const API_VERSION: &str = "apiserver.config.k8s.io/v1";
const KIND: &str = "EncryptionConfiguration";
const DEFAULT_KMS_TIMEOUT: Duration = Duration::from_secs(3);
const AES_KEY_SIZES: &[usize] = &[16, 24, 32];
const SECRETBOX_KEY_SIZES: &[usize] = &[32];
const KEY_FIX: &str = "generate one with `head -c 32 /dev/urandom | base64`";

/// Upstream's hash of the file content.
pub fn content_hash(data: &[u8]) -> String {
    format!("k8s:enc:unstable:1:{}", crate::util::hash::sha256_hex(data))
}

/// Read, decode and validate the file. `reload`: validation as for automatic reload (KMS
/// provider names must be unique across the file).
pub fn load(path: &Path, reload: bool) -> Result<EncryptionConfig, ConfigError> {
    let err = |m: String| ConfigError {
        file: path.to_path_buf(),
        errors: vec![m],
    };
    let data = std::fs::read(path).map_err(|e| {
        err(format!(
            "error reading encryption provider configuration file: {e} (fix: point the flag at a readable EncryptionConfiguration file)"
        ))
    })?;
    parse(&data, reload).map_err(|errors| ConfigError {
        file: path.to_path_buf(),
        errors,
    })
}

/// Decode and validate file content.
pub fn parse(data: &[u8], reload: bool) -> Result<EncryptionConfig, Vec<String>> {
    if data.is_empty() {
        return Err(vec![format!(
            "encryption provider configuration file is empty (fix: write an EncryptionConfiguration, apiVersion: {API_VERSION})"
        )]);
    }
    let text = std::str::from_utf8(data).map_err(|_| vec!["the file is not UTF-8 text".to_string()])?;
    let doc: Json = yaml_serde::from_str(text).map_err(|e| {
        vec![format!(
            "error decoding encryption provider configuration file: {e} (fix: write valid YAML or JSON)"
        )]
    })?;
    let mut d = Decoder::default();
    let cfg = d.config(&doc);
    if !d.errors.is_empty() {
        return Err(d.errors);
    }
    let mut errs = validate(&cfg, reload);
    if errs.is_empty() {
        errs = check_masking(&cfg);
    }
    if errs.is_empty() {
        Ok(EncryptionConfig {
            hash: content_hash(data),
            ..cfg
        })
    } else {
        Err(errs)
    }
}

/// Strict decoding (upstream's decoder rejects unknown and mistyped fields), with paths.
#[derive(Default)]
struct Decoder {
    errors: Vec<String>,
}

impl Decoder {
    fn fail(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn object<'a>(&mut self, v: &'a Json, path: &str, known: &[&str]) -> Option<&'a Map<String, Json>> {
        let Json::Object(o) = v else {
            if !v.is_null() {
                self.fail(format!(
                    "{path}: expected an object, got {}",
                    crate::config::value::show(v)
                ));
            }
            return None;
        };
        for k in o.keys() {
            if !known.contains(&k.as_str()) {
                let at = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let hint = crate::config::flags::closest(k, known.iter().copied())
                    .map(|s| format!("did you mean {s:?}?"))
                    .unwrap_or_else(|| format!("known fields: {}", known.join(", ")));
                self.fail(format!(
                    "strict decoding error: unknown field {at:?} (fix: remove it; {hint})"
                ));
            }
        }
        Some(o)
    }

    fn string(&mut self, o: &Map<String, Json>, key: &str, path: &str) -> String {
        match o.get(key) {
            None | Some(Json::Null) => String::new(),
            Some(Json::String(s)) => s.clone(),
            Some(other) => {
                self.fail(format!(
                    "{}: expected a string, got {}",
                    join(path, key),
                    crate::config::value::show(other)
                ));
                String::new()
            }
        }
    }

    fn list<'a>(&mut self, o: &'a Map<String, Json>, key: &str, path: &str) -> &'a [Json] {
        match o.get(key) {
            None | Some(Json::Null) => &[],
            Some(Json::Array(a)) => a,
            Some(other) => {
                self.fail(format!(
                    "{}: expected a list, got {}",
                    join(path, key),
                    crate::config::value::show(other)
                ));
                &[]
            }
        }
    }

    fn config(&mut self, doc: &Json) -> EncryptionConfig {
        let mut cfg = EncryptionConfig {
            resources: Vec::new(),
            hash: String::new(),
        };
        let Some(o) = self.object(doc, "", &["kind", "apiVersion", "resources"]) else {
            if doc.is_null() {
                self.fail(format!(
                    "the file holds no object (fix: write an EncryptionConfiguration, apiVersion: {API_VERSION})"
                ));
            }
            return cfg;
        };
        let api_version = self.string(o, "apiVersion", "");
        let kind = self.string(o, "kind", "");
        if api_version.is_empty() {
            self.fail(format!(
                "Object 'apiVersion' is missing (fix: add apiVersion: {API_VERSION})"
            ));
        } else if kind.is_empty() {
            self.fail(format!("Object 'Kind' is missing (fix: add kind: {KIND})"));
        } else if api_version != API_VERSION || kind != KIND {
            self.fail(format!(
                "no kind {kind:?} is registered for version {api_version:?} (fix: use apiVersion: {API_VERSION} and kind: {KIND})"
            ));
        }
        for (i, r) in self.list(o, "resources", "").iter().enumerate() {
            let path = format!("resources[{i}]");
            let Some(ro) = self.object(r, &path, &["resources", "providers"]) else {
                cfg.resources.push(ResourceRule {
                    resources: vec![],
                    providers: vec![],
                });
                continue;
            };
            let mut rule = ResourceRule {
                resources: Vec::new(),
                providers: Vec::new(),
            };
            for (j, name) in self.list(ro, "resources", &path).iter().enumerate() {
                match name {
                    Json::String(s) => rule.resources.push(s.clone()),
                    other => self.fail(format!(
                        "{path}.resources[{j}]: expected a string, got {}",
                        crate::config::value::show(other)
                    )),
                }
            }
            for (j, p) in self.list(ro, "providers", &path).iter().enumerate() {
                let ppath = format!("{path}.providers[{j}]");
                if let Some(p) = self.provider(p, &ppath) {
                    rule.providers.push(p);
                }
            }
            cfg.resources.push(rule);
        }
        cfg
    }

    fn provider(&mut self, v: &Json, path: &str) -> Option<Provider> {
        let o = self.object(v, path, &["aesgcm", "aescbc", "secretbox", "identity", "kms"])?;
        // A field set to null (`- identity:`) is no provider, as in upstream's decoding.
        let set: Vec<&String> = o.keys().filter(|k| !o[k.as_str()].is_null()).collect();
        if set.is_empty() {
            self.fail(format!(
                "{path}: Invalid value: provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity (fix: set exactly one of aescbc, aesgcm, secretbox, kms, identity)"
            ));
            return None;
        }
        if set.len() > 1 {
            self.fail(format!(
                "{path}: Invalid value: more than one provider specified in a single element, should split into different list elements (fix: give each of {} its own list item)",
                set.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
            return None;
        }
        let name = set[0].as_str();
        let body = &o[name];
        let ppath = format!("{path}.{name}");
        Some(match name {
            "identity" => {
                self.object(body, &ppath, &[]);
                Provider::Identity
            }
            "aescbc" => Provider::AesCbc(self.keys(body, &ppath, AES_KEY_SIZES)),
            "aesgcm" => Provider::AesGcm(self.keys(body, &ppath, AES_KEY_SIZES)),
            "secretbox" => Provider::Secretbox(self.keys(body, &ppath, SECRETBOX_KEY_SIZES)),
            _ => self.kms(body, &ppath)?,
        })
    }

    fn keys(&mut self, v: &Json, path: &str, sizes: &[usize]) -> Vec<Key> {
        let mut out = Vec::new();
        let Some(o) = self.object(v, path, &["keys"]) else {
            return out;
        };
        let list = self.list(o, "keys", path);
        if list.is_empty() {
            self.fail(format!(
                "{path}.keys: Required value: at least one keys is required (fix: add a key: keys: [{{name: key1, secret: <base64 key>}}]; {KEY_FIX})"
            ));
        }
        for (i, k) in list.iter().enumerate() {
            let kpath = format!("{path}.keys[{i}]");
            let Some(ko) = self.object(k, &kpath, &["name", "secret"]) else {
                continue;
            };
            let name = self.string(ko, "name", &kpath);
            let secret = self.string(ko, "secret", &kpath);
            if name.is_empty() {
                self.fail(format!(
                    "{kpath}.name: Required value: name is a mandatory field for a key (fix: name the key; the name is stored in front of every value it encrypts)"
                ));
            }
            if secret.is_empty() {
                self.fail(format!(
                    "{kpath}.secret: Required value: secret is a mandatory field for a key (fix: {KEY_FIX})"
                ));
                continue;
            }
            use base64::Engine as _;
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(secret.as_bytes()) else {
                self.fail(format!(
                    "{kpath}.secret: Invalid value: \"REDACTED\": secrets must be base64 encoded (fix: {KEY_FIX})"
                ));
                continue;
            };
            if !sizes.contains(&bytes.len()) {
                let want = sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" ");
                self.fail(format!(
                    "{kpath}.secret: Invalid value: \"REDACTED\": secret is not of the expected length, got {}, expected one of [{want}] (fix: {KEY_FIX})",
                    bytes.len()
                ));
                continue;
            }
            out.push(Key { name, secret: bytes });
        }
        out
    }

    fn kms(&mut self, v: &Json, path: &str) -> Option<Provider> {
        let o = self.object(v, path, &["apiVersion", "name", "cachesize", "endpoint", "timeout"])?;
        let mut api_version = self.string(o, "apiVersion", path);
        if api_version.is_empty() {
            // Upstream's default, which 1.33 refuses unless --feature-gates=KMSv1=true.
            api_version = "v1".into();
        }
        let name = self.string(o, "name", path);
        let endpoint = self.string(o, "endpoint", path);
        let timeout = match o.get("timeout") {
            None | Some(Json::Null) => DEFAULT_KMS_TIMEOUT,
            Some(Json::String(s)) => match crate::config::parse_duration(s) {
                Ok(d) => d,
                Err(e) => {
                    self.fail(format!("{path}.timeout: {e} (fix: a Go duration such as 3s)"));
                    DEFAULT_KMS_TIMEOUT
                }
            },
            Some(other) => {
                self.fail(format!(
                    "{path}.timeout: expected a duration string such as \"3s\", got {}",
                    crate::config::value::show(other)
                ));
                DEFAULT_KMS_TIMEOUT
            }
        };
        let mut ok = true;
        if name.is_empty() {
            ok = false;
            self.fail(format!("{path}.name: Required value: name is a mandatory field for a provider (fix: name the KMS provider; the name is stored in front of every value it encrypts)"));
        } else if api_version != "v1" && name.contains(':') {
            ok = false;
            self.fail(format!(
                "{path}.name: Invalid value: {name:?}: invalid KMS provider name {name}, must not contain ':' (fix: drop the ':')"
            ));
        }
        if timeout.is_zero() {
            ok = false;
            self.fail(format!(
                "{path}.timeout: Invalid value: \"0s\": timeout should be a positive value (fix: e.g. timeout: 3s)"
            ));
        }
        ok &= self.kms_endpoint(&endpoint, path);
        if let Some(c) = o.get("cachesize").filter(|c| !c.is_null()) {
            if api_version != "v1" {
                ok = false;
                self.fail(format!(
                    "{path}.cachesize: Invalid value: {c}: cachesize is not supported in v2 (fix: remove cachesize; KMS v2 caches data keys itself)"
                ));
            }
        }
        match api_version.as_str() {
            "v2" => {}
            "v1" => {
                ok = false;
                self.fail(format!(
                    "{path}.apiVersion: KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead. (fix: set apiVersion: v2 and use a KMS v2 plugin; capstan does not implement the deprecated KMS v1 API)"
                ));
            }
            other => {
                ok = false;
                self.fail(format!(
                    "{path}.apiVersion: Invalid value: {other:?}: unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported (fix: apiVersion: v2)"
                ));
            }
        }
        ok.then_some(Provider::Kms(KmsConfig {
            name,
            endpoint,
            timeout,
        }))
    }

    fn kms_endpoint(&mut self, endpoint: &str, path: &str) -> bool {
        if endpoint.is_empty() {
            self.fail(format!(
                "{path}.endpoint: Invalid value: \"\": endpoint is a mandatory field for a kms (fix: endpoint: unix:///var/run/kms-plugin/socket.sock)"
            ));
            return false;
        }
        let scheme = endpoint.split_once("://").map(|(s, _)| s).unwrap_or("");
        if scheme != "unix" {
            self.fail(format!(
                "{path}.endpoint: Invalid value: {endpoint:?}: unsupported scheme {scheme:?} for KMS provider, only unix is supported (fix: endpoint: unix:///path/to/plugin.sock)"
            ));
            return false;
        }
        true
    }
}

fn quoted_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", q.join(", "))
}

/// The rules of `ValidateEncryptationConfiguration` that need the whole decoded file.
fn validate(cfg: &EncryptionConfig, reload: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if cfg.resources.is_empty() {
        errs.push("resources: Required value: at least one resources is required (fix: add a rule, e.g. resources: [{resources: [secrets], providers: [{aescbc: {keys: [...]}}, {identity: {}}]}])".to_string());
        return errs;
    }
    let mut kms_names: Vec<&str> = Vec::new();
    for (i, rule) in cfg.resources.iter().enumerate() {
        let r = format!("resources[{i}].resources");
        if rule.resources.is_empty() {
            errs.push(format!(
                "{r}: Required value: at least one {r} is required (fix: list the resources to encrypt, e.g. secrets, or '*.*' for all)"
            ));
        }
        errs.extend(validate_overlap(&rule.resources, &r));
        errs.extend(validate_names(&rule.resources, &r));
        if rule.providers.is_empty() {
            let p = format!("resources[{i}].providers");
            errs.push(format!(
                "{p}: Required value: at least one {p} is required (fix: add a provider, e.g. {{aescbc: {{keys: [...]}}}}, and {{identity: {{}}}} last to read data written before)"
            ));
        }
        for (j, p) in rule.providers.iter().enumerate() {
            if let Provider::Kms(k) = p {
                let _ = reload; // KMS v2 names are unique with and without reload.
                if kms_names.contains(&k.name.as_str()) {
                    errs.push(format!(
                        "resources[{i}].providers[{j}].kms.name: Invalid value: {:?}: duplicate KMS provider name {}, names must be unique (fix: give each KMS provider its own name)",
                        k.name, k.name
                    ));
                }
                kms_names.push(&k.name);
            }
        }
    }
    errs
}

fn validate_overlap(resources: &[String], path: &str) -> Vec<String> {
    if resources.len() < 2 {
        return vec![];
    }
    let any = GroupResource::new("*", "*");
    let r: Vec<GroupResource> = resources.iter().map(|s| GroupResource::parse(s)).collect();
    let (mut overlap, mut duplicate) = (false, false);
    for (i, r1) in r.iter().enumerate() {
        for (j, r2) in r.iter().enumerate() {
            if i == j {
                continue;
            }
            if r1 == r2 && !duplicate {
                duplicate = true;
                continue;
            }
            if overlap {
                continue;
            }
            if *r1 == any {
                overlap = true;
                continue;
            }
            if r1.group != r2.group {
                continue;
            }
            if r1.resource == "*" || r2.resource == "*" {
                overlap = true;
            }
        }
    }
    let mut errs = Vec::new();
    let shown = quoted_list(resources);
    if duplicate {
        errs.push(format!(
            "{path}: Invalid value: {shown}: the same resource cannot be specified multiple times (fix: list each resource once)"
        ));
    }
    if overlap {
        errs.push(format!("{path}: Invalid value: {shown}: using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked (fix: keep either the wildcard or the names)"));
    }
    errs
}

fn validate_names(resources: &[String], path: &str) -> Vec<String> {
    let mut errs = Vec::new();
    for (j, res) in resources.iter().enumerate() {
        let at = format!("{path}[{j}]: Invalid value: {res:?}");
        let gr = GroupResource::parse(res);
        let msg = if res.to_lowercase() != *res {
            "resource name should not contain capital letters (fix: use the lower-case plural, e.g. secrets, deployments.apps)"
        } else if res == "*" {
            "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"
        } else if matches!(
            res.as_str(),
            "apiserveripinfo" | "serviceipallocations" | "servicenodeportallocations"
        ) {
            "resources which do not have REST API/s cannot be encrypted (fix: remove it)"
        } else if gr.group == "events.k8s.io" {
            "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file"
        } else if gr.group == "extensions" {
            "'extensions' group has been removed and cannot be used for encryption (fix: use the group the resource moved to, e.g. ingresses.networking.k8s.io)"
        } else if gr.group == "*" && gr.resource != "*" {
            "encrypting the same resource across groups is not supported (fix: name the group, e.g. secrets or deployments.apps, or use '*.*')"
        } else {
            continue;
        };
        errs.push(format!("{at}: {msg}"));
    }
    errs
}

/// Upstream's build-time check: a rule after `*.<group>` or `*.*` for resources they cover
/// would never apply.
fn check_masking(cfg: &EncryptionConfig) -> Vec<String> {
    let mut seen: Vec<GroupResource> = Vec::new();
    let any = GroupResource::new("*", "*");
    for (i, rule) in cfg.resources.iter().enumerate() {
        for (j, res) in rule.resources.iter().enumerate() {
            let gr = GroupResource::parse(res);
            let group_any = GroupResource::new(&gr.group, "*");
            for earlier in [&group_any, &any] {
                if seen.contains(earlier) {
                    return vec![format!(
                        "resources[{i}].resources[{j}]: resource {:?} is masked by earlier rule {:?} (fix: move this rule above the wildcard rule)",
                        gr.yaml(),
                        earlier.yaml()
                    )];
                }
            }
        }
        for res in &rule.resources {
            seen.push(GroupResource::parse(res));
        }
    }
    vec![]
}

#[cfg(test)]
mod tests {
    use super::*;

    const K32: &str = "c2VjcmV0IGlzIHNlY3VyZSwgSSB0aGluaywgcmVhbGx5"; // 33 bytes: wrong on purpose below
    fn key32() -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    }

    fn errs(yaml: &str) -> Vec<String> {
        parse(yaml.as_bytes(), false).unwrap_err()
    }

    #[test]
    fn parses_every_provider_and_defaults() {
        let y = format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets, '*.apps']\n  providers:\n  - aescbc: {{keys: [{{name: a, secret: {k}}}]}}\n  - aesgcm: {{keys: [{{name: g, secret: {k}}}]}}\n  - secretbox: {{keys: [{{name: s, secret: {k}}}]}}\n  - kms: {{apiVersion: v2, name: k, endpoint: 'unix:///tmp/k.sock'}}\n  - identity: {{}}\n",
            k = key32()
        );
        let c = parse(y.as_bytes(), false).unwrap();
        assert_eq!(c.resources[0].resources, vec!["secrets", "*.apps"]);
        let p = &c.resources[0].providers;
        assert!(matches!(&p[0], Provider::AesCbc(k) if k[0].name == "a" && k[0].secret == vec![7; 32]));
        assert!(matches!(&p[3], Provider::Kms(k) if k.timeout == Duration::from_secs(3)));
        assert_eq!(p[4], Provider::Identity);
        assert!(c.hash.starts_with("k8s:enc:unstable:1:"));
        // JSON is YAML.
        let j = r#"{"apiVersion":"apiserver.config.k8s.io/v1","kind":"EncryptionConfiguration","resources":[{"resources":["secrets"],"providers":[{"identity":{}}]}]}"#;
        assert!(parse(j.as_bytes(), false).is_ok());
    }

    #[test]
    fn errors_name_the_field_and_the_fix() {
        let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";
        let e = errs(&format!(
            "{head}resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {{keys: [{{name: a, secret: {K32}}}]}}\n"
        ));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 33, expected one of [16 24 32] (fix: "), "{e:?}");
        let e = errs(&format!(
            "{head}resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {{kyes: []}}\n"
        ));
        assert!(
            e[0].contains("unknown field \"resources[0].providers[0].aescbc.kyes\"")
                && e[0].contains("did you mean \"keys\"?"),
            "{e:?}"
        );
        let e = errs(&format!(
            "{head}resources:\n- resources: [Secrets, '*', '*.events.k8s.io']\n  providers: [{{identity: {{}}}}]\n"
        ));
        // Upstream also calls `Secrets` and `*` (both core) an overlap.
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("overlapping"));
        assert!(e[2].starts_with("resources[0].resources[1]: Invalid value: \"*\": use '*.' to encrypt"));
        let e = errs(&format!(
            "{head}resources:\n- resources: [secrets, '*.']\n  providers: [{{identity: {{}}}}]\n"
        ));
        assert!(e[0].contains("overlapping resources"), "{e:?}");
        let e = errs(&format!(
            "{head}resources:\n- resources: ['*.*']\n  providers: [{{identity: {{}}}}]\n- resources: [secrets]\n  providers: [{{identity: {{}}}}]\n"
        ));
        assert!(
            e[0].starts_with("resources[1].resources[0]: resource \"secrets\" is masked by earlier rule \"*.*\""),
            "{e:?}"
        );
        let e = errs(&format!(
            "{head}resources:\n- resources: [secrets]\n  providers:\n  - kms: {{name: k, endpoint: 'tcp://x'}}\n"
        ));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("unsupported scheme \"tcp\""));
        assert!(e[1].contains("KMSv1 is deprecated"));
        let e = errs(&format!(
            "{head}resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {{keys: [{{name: a, secret: {}}}]}}\n    identity: {{}}\n",
            key32()
        ));
        assert!(e[0].contains("more than one provider"), "{e:?}");
        assert!(errs("kind: EncryptionConfiguration\nresources: []\n")[0].contains("apiVersion"));
        assert!(errs("apiVersion: v1\nkind: EncryptionConfig\n")[0].contains("no kind \"EncryptionConfig\""));
        assert!(errs("")[0].contains("is empty"));
        assert!(errs(&format!("{head}resources: []\n"))[0].starts_with("resources: Required value"));
    }

    #[test]
    fn group_resource_parsing() {
        assert_eq!(GroupResource::parse("secrets"), GroupResource::new("", "secrets"));
        assert_eq!(GroupResource::parse("*."), GroupResource::new("", "*"));
        assert_eq!(GroupResource::parse("*.*"), GroupResource::new("*", "*"));
        assert_eq!(
            GroupResource::parse("pandas.awesome.bears.example"),
            GroupResource::new("awesome.bears.example", "pandas")
        );
        assert_eq!(GroupResource::new("", "*").yaml(), "*.");
    }
}
