//! Server configuration, layered (lowest to highest): built-in defaults < config file
//! (`--config`, default `/etc/capstan/config.yaml`) < drop-ins (`<config>.d/`) < `CAPSTAN_*`
//! environment < command-line flags with upstream kube-apiserver names.
//!
//! ```no_run
//! let args: Vec<String> = vec!["--secure-port=7443".into()];
//! let env: Vec<(String, String)> = std::env::vars().collect();
//! let (_parsed, opts) = capstan::config::load(&args, &env, std::path::Path::new("/etc/capstan/config.yaml"))?;
//! assert_eq!(opts.secure_port, 7443);
//! # Ok::<(), capstan::config::ConfigError>(())
//! ```
//!
//! The flag ↔ key ↔ type ↔ default table is [`flags::FLAGS`]; docs/config-reference.md is
//! generated from it ([`show::reference_markdown`]).

pub mod argv;
mod feature_gates_v133;
pub mod features;
pub mod flags;
pub mod layers;
pub mod runtime_config;
pub mod show;
pub mod value;

pub use argv::{parse_args, ParsedArgs};
pub use layers::{ConfigError, Merged, DEFAULT_CONFIG};
pub use value::{parse_duration, parse_loose_bool};

use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The resolved settings `capstan serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `--data-dir`; see [`ServeOptions::data_dir`] for the default.
    pub data_dir: Option<PathBuf>,
    pub secure_port: u16,
    pub bind_address: IpAddr,
    pub advertise_address: Option<IpAddr>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_private_key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
    /// `--service-cluster-ip-range`: one CIDR or an IPv4,IPv6 pair.
    pub service_cluster_ip_range: String,
    /// `--service-node-port-range`, e.g. `30000-32767`.
    pub service_node_port_range: String,
    pub insecure_port: u16,
    pub insecure_bind_address: IpAddr,
    pub insecure_allow_non_loopback: bool,
    pub storage_backend: Option<String>,
    pub etcd_servers: Vec<String>,
    pub etcd_prefix: String,
    /// `--storage-media-type`: how built-in kinds are written to etcd.
    pub storage_media_type: String,
    pub etcd_cafile: Option<PathBuf>,
    pub etcd_certfile: Option<PathBuf>,
    pub etcd_keyfile: Option<PathBuf>,
    /// `--etcd-compaction-interval`.
    pub compaction_interval: Duration,
    /// `--storage-min-history`.
    pub min_history: i64,
    /// `--min-request-timeout` in seconds.
    pub min_request_timeout: u64,
    pub max_request_body_bytes: usize,
    /// `--max-requests-inflight` (0: unlimited).
    pub max_requests_inflight: usize,
    /// `--max-mutating-requests-inflight` (0: unlimited).
    pub max_mutating_requests_inflight: usize,
    /// `--enable-priority-and-fairness`: API Priority and Fairness instead of the two limits.
    pub enable_priority_and_fairness: bool,
    /// `--event-ttl`: how long Events live after their last write.
    pub event_ttl: Duration,
    pub shutdown_delay_duration: Duration,
    /// `--v`.
    pub verbosity: u8,
    /// `--logging-format`: `text` or `json`.
    pub logging_format: String,
    pub log_file: Option<PathBuf>,
    /// `--log-file-rotation`: never, minutely, hourly, daily.
    pub log_file_rotation: String,
    pub log_file_max_files: usize,
    pub pid_file: Option<PathBuf>,
    pub feature_gates: BTreeMap<String, bool>,
    pub runtime_config: BTreeMap<String, String>,
    /// `--runtime-config` merged over upstream's defaults: which built-in APIs are enabled.
    pub api_enablement: runtime_config::ApiEnablement,
    /// Every setting by config key (including ones capstan does not implement yet), merged.
    pub settings: BTreeMap<String, Json>,
    /// Config key → the layer that set it.
    pub sources: BTreeMap<String, String>,
    /// Config files read, in merge order.
    pub config_files: Vec<PathBuf>,
    /// What the configuration ignored (unknown `CAPSTAN_*` variables), logged at start.
    pub config_warnings: Vec<String>,
    /// The command-line flags these options came from (to load again on SIGHUP).
    pub args: Vec<String>,
    /// The config file used when neither `--config` nor `CAPSTAN_CONFIG` names one.
    pub default_config: PathBuf,
}

impl Default for ServeOptions {
    /// The built-in defaults alone.
    fn default() -> Self {
        let merged = layers::defaults_layer()
            .and_then(|d| layers::merge(&[d]))
            .unwrap_or_default();
        // The defaults are checked by unit tests; an error here would be a bug in the table.
        ServeOptions::from_merged(&merged).unwrap_or_else(|e| panic!("built-in defaults are invalid: {e}"))
    }
}

struct Get<'a>(&'a Merged);

impl Get<'_> {
    fn raw(&self, key: &str) -> Option<&Json> {
        self.0.values.get(key)
    }
    fn err(&self, key: &str, what: &str) -> ConfigError {
        let src = self.0.sources.get(key).map(String::as_str).unwrap_or("default");
        ConfigError(vec![format!("{src}: key \"{key}\": {what}")])
    }
    fn str(&self, key: &str) -> String {
        match self.raw(key) {
            Some(Json::String(s)) => s.clone(),
            Some(other) if !other.is_null() => other.to_string(),
            _ => String::new(),
        }
    }
    fn opt_str(&self, key: &str) -> Option<String> {
        Some(self.str(key)).filter(|s| !s.is_empty())
    }
    fn path(&self, key: &str) -> Option<PathBuf> {
        self.opt_str(key).map(PathBuf::from)
    }
    fn int(&self, key: &str) -> Result<i64, ConfigError> {
        self.raw(key)
            .and_then(Json::as_i64)
            .ok_or_else(|| self.err(key, "expected an integer"))
    }
    fn uint<T: TryFrom<i64>>(&self, key: &str) -> Result<T, ConfigError> {
        T::try_from(self.int(key)?).map_err(|_| self.err(key, "value out of range"))
    }
    fn bool(&self, key: &str) -> bool {
        self.raw(key).and_then(Json::as_bool).unwrap_or(false)
    }
    fn ip(&self, key: &str) -> Result<Option<IpAddr>, ConfigError> {
        match self.opt_str(key) {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| self.err(key, &format!("invalid IP address {s:?}"))),
        }
    }
    fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        match self.opt_str(key) {
            None => Ok(Duration::ZERO),
            Some(s) => parse_duration(&s).map_err(|e| self.err(key, &e)),
        }
    }
    fn list(&self, key: &str) -> Vec<String> {
        match self.raw(key) {
            Some(Json::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    }
}

impl ServeOptions {
    /// Typed settings from merged layers.
    pub fn from_merged(m: &Merged) -> Result<ServeOptions, ConfigError> {
        let g = Get(m);
        let feature_gates = match g.raw("feature-gates") {
            Some(Json::Object(o)) => o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_bool()?))).collect(),
            _ => BTreeMap::new(),
        };
        let runtime_config = match g.raw("runtime-config") {
            Some(Json::Object(o)) => o
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        // Flags whose being ignored would weaken security or lose data fail here, naming the
        // flag and the layer that set it.
        let setting = |k: &str| g.raw(k).cloned();
        let mut refused = Vec::new();
        for f in flags::FLAGS {
            if let Some(why) = g.raw(f.key).and_then(|v| flags::refusal(f, v, &setting)) {
                let src = m.sources.get(f.key).map(String::as_str).unwrap_or("default");
                refused.push(format!("{src}: {why}"));
            }
        }
        let src_of = |k: &str| m.sources.get(k).map(String::as_str).unwrap_or("default").to_string();
        for e in flags::watch_cache_size_errors(&g.list("storage.watch-cache-sizes")) {
            refused.push(format!(
                "{}: --watch-cache-sizes: {e}",
                src_of("storage.watch-cache-sizes")
            ));
        }
        let kube_node_port = g
            .raw("services.kubernetes-service-node-port")
            .and_then(Json::as_u64)
            .unwrap_or(0);
        let node_ports = g.str("services.node-port-range");
        let node_ports = if node_ports.is_empty() {
            "30000-32767".to_string()
        } else {
            node_ports
        };
        if kube_node_port > 0
            && value::port_range_bounds(&node_ports)
                .is_some_and(|(a, b)| !(a as u64..=b as u64).contains(&kube_node_port))
        {
            refused.push(format!(
                "{}: kubernetes service node port range {node_ports} doesn't contain {kube_node_port}",
                src_of("services.kubernetes-service-node-port")
            ));
        }
        if let Some(e) = flags::show_hidden_metrics_error(&g.str("metrics.show-hidden-for-version")) {
            refused.push(format!("{}: {e}", src_of("metrics.show-hidden-for-version")));
        }
        if g.str("services.endpoint-reconciler-type") == "master-count" {
            refused.push(format!(
                "{}: --endpoint-reconciler-type=master-count: capstan implements the lease (default) and none reconcilers",
                m.sources.get("services.endpoint-reconciler-type").map(String::as_str).unwrap_or("default")
            ));
        }
        let api_enablement =
            runtime_config::ApiEnablement::parse(&runtime_config, g.bool("enable-priority-and-fairness"))
                .unwrap_or_else(|errs| {
                    let src = m.sources.get("runtime-config").map(String::as_str).unwrap_or("default");
                    refused.extend(errs.into_iter().map(|e| format!("{src}: --runtime-config: {e}")));
                    Default::default()
                });
        if !refused.is_empty() {
            return Err(ConfigError(refused));
        }
        let loopback = IpAddr::from([127, 0, 0, 1]);
        Ok(ServeOptions {
            data_dir: g.path("data-dir"),
            secure_port: g.uint("secure-port")?,
            bind_address: g.ip("bind-address")?.unwrap_or(loopback),
            advertise_address: g.ip("advertise-address")?,
            tls_cert_file: g.path("tls.cert-file"),
            tls_private_key_file: g.path("tls.private-key-file"),
            client_ca_file: g.path("authentication.client-ca-file"),
            service_cluster_ip_range: g.str("services.cluster-ip-range"),
            service_node_port_range: g.str("services.node-port-range"),
            insecure_port: g.uint("insecure.port")?,
            insecure_bind_address: g.ip("insecure.bind-address")?.unwrap_or(loopback),
            insecure_allow_non_loopback: g.bool("insecure.allow-non-loopback"),
            storage_backend: g.opt_str("storage.backend"),
            etcd_servers: g.list("etcd.servers"),
            etcd_prefix: g.str("etcd.prefix"),
            storage_media_type: g.str("storage.media-type"),
            etcd_cafile: g.path("etcd.cafile"),
            etcd_certfile: g.path("etcd.certfile"),
            etcd_keyfile: g.path("etcd.keyfile"),
            compaction_interval: g.duration("etcd.compaction-interval")?,
            min_history: g.int("storage.min-history")?,
            min_request_timeout: g.uint("min-request-timeout")?,
            max_request_body_bytes: g.uint("max-request-body-bytes")?,
            max_requests_inflight: g.uint("max-requests-inflight")?,
            max_mutating_requests_inflight: g.uint("max-mutating-requests-inflight")?,
            enable_priority_and_fairness: g.bool("enable-priority-and-fairness"),
            event_ttl: g.duration("event-ttl")?,
            shutdown_delay_duration: g.duration("shutdown-delay-duration")?,
            verbosity: g.uint("logging.verbosity")?,
            logging_format: g.opt_str("logging.format").unwrap_or_else(|| "text".into()),
            log_file: g.path("logging.file"),
            log_file_rotation: g.opt_str("logging.file-rotation").unwrap_or_else(|| "daily".into()),
            log_file_max_files: g.uint("logging.file-max-files")?,
            pid_file: g.path("pid-file"),
            feature_gates,
            runtime_config,
            api_enablement,
            settings: m.values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            sources: m.sources.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            config_files: m.files.clone(),
            config_warnings: m
                .warnings
                .iter()
                .cloned()
                .chain(features::check(g.raw("feature-gates").unwrap_or(&Json::Null)).warnings)
                .collect(),
            args: Vec::new(),
            default_config: PathBuf::from(DEFAULT_CONFIG),
        })
    }

    /// Any setting by config key (e.g. `audit.policy-file`), as merged from all layers.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.settings.get(key)
    }

    /// A string setting by config key ("" when unset).
    pub fn get_str(&self, key: &str) -> String {
        match self.get(key) {
            Some(Json::String(s)) => s.clone(),
            Some(v) if !v.is_null() => v.to_string(),
            _ => String::new(),
        }
    }

    /// A path setting by config key (None when unset or empty).
    pub fn get_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.get_str(key)).filter(|s| !s.is_empty()).map(PathBuf::from)
    }

    /// A list setting by config key (empty when unset).
    pub fn get_list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Json::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        }
    }

    /// A boolean setting by config key (false when unset).
    pub fn get_bool(&self, key: &str) -> bool {
        self.get(key).and_then(Json::as_bool).unwrap_or(false)
    }

    /// A duration setting by config key (zero when unset; the table validated its syntax).
    pub fn get_duration(&self, key: &str) -> Duration {
        parse_duration(&self.get_str(key)).unwrap_or(Duration::ZERO)
    }

    /// `--external-hostname` as upstream's ExternalAddress: with the secure port unless it
    /// names one (None: unset; callers fall back to the advertised address).
    pub fn external_address(&self) -> Option<String> {
        let host = self.get_str("external-hostname");
        if host.is_empty() {
            return None;
        }
        let has_port = host
            .rsplit_once(':')
            .is_some_and(|(h, p)| p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')));
        Some(if has_port {
            host
        } else if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.secure_port)
        } else {
            format!("{host}:{}", self.secure_port)
        })
    }

    /// The storage backend in effect.
    pub fn backend(&self) -> &str {
        match self.storage_backend.as_deref() {
            Some(b) => b,
            None if !self.etcd_servers.is_empty() => "etcd3",
            None => "embedded",
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return d.clone();
        }
        // SAFETY: geteuid has no preconditions and never fails.
        if unsafe { libc::geteuid() } == 0 {
            return PathBuf::from("/var/lib/capstan");
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(x).join("capstan");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".local/share/capstan")
    }

    /// First address of the service range (reserved for the `kubernetes` Service).
    pub fn first_service_ip(&self) -> Result<IpAddr, String> {
        let primary = self.service_cluster_ip_range.split(',').next().unwrap_or("").trim();
        let (addr, bits) = primary
            .split_once('/')
            .ok_or_else(|| format!("--service-cluster-ip-range: {primary:?} is not a CIDR (e.g. 10.96.0.0/12)"))?;
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("--service-cluster-ip-range: invalid address {addr:?}"))?;
        let _: u8 = bits
            .parse()
            .map_err(|_| format!("--service-cluster-ip-range: invalid prefix length {bits:?}"))?;
        Ok(match ip {
            IpAddr::V4(v4) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4).wrapping_add(1))),
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6).wrapping_add(1))),
        })
    }
}

/// Parse `args` (the flags after `serve`), find the config files, read `env`, merge everything.
pub fn load(
    args: &[String],
    env: &[(String, String)],
    default_config: &Path,
) -> Result<(ParsedArgs, ServeOptions), ConfigError> {
    let parsed = parse_args(args).map_err(ConfigError::from)?;
    let (_, merged) = layers::resolve(&parsed, env, default_config)?;
    let mut opts = ServeOptions::from_merged(&merged)?;
    opts.args = args.to_vec();
    opts.default_config = default_config.to_path_buf();
    Ok((parsed, opts))
}

/// Like [`load`], also returning the merge (for `config show`).
pub fn load_merged(
    args: &[String],
    env: &[(String, String)],
    default_config: &Path,
) -> Result<(ParsedArgs, Merged), ConfigError> {
    let parsed = parse_args(args).map_err(ConfigError::from)?;
    let (_, merged) = layers::resolve(&parsed, env, default_config)?;
    ServeOptions::from_merged(&merged)?;
    Ok((parsed, merged))
}

/// `capstan config validate FILE`: check one file on its own. Returns the keys it sets.
pub fn validate_file(path: &Path) -> Result<Vec<&'static str>, ConfigError> {
    let layer = layers::file_layer(path)?;
    let defaults = layers::defaults_layer()?;
    let merged = layers::merge(&[defaults, layer.clone()])?;
    ServeOptions::from_merged(&merged)?;
    Ok(layer.values.keys().copied().collect())
}

#[cfg(test)]
mod tests;
