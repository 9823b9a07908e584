//! Server configuration: the options `capstan serve` takes, with upstream kube-apiserver flag
//! names. (Layered config files and environment come with the [config] issue.)

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeOptions {
    /// Where the embedded store and generated PKI live. Default: $XDG_DATA_HOME/capstan
    /// (~/.local/share/capstan), or /var/lib/capstan for root.
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// HTTPS port.
    #[arg(long = "secure-port", default_value_t = 6443)]
    pub secure_port: u16,
    /// Address the HTTPS listener binds to.
    #[arg(long = "bind-address", default_value = "127.0.0.1")]
    pub bind_address: IpAddr,
    /// Address advertised to clients (discovery, kubernetes Service).
    #[arg(long = "advertise-address")]
    pub advertise_address: Option<IpAddr>,
    /// Serving certificate (PEM). Generated under DATA_DIR/pki when unset.
    #[arg(long = "tls-cert-file")]
    pub tls_cert_file: Option<PathBuf>,
    #[arg(long = "tls-private-key-file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA that signs client certificates (CN = user, O = groups).
    #[arg(long = "client-ca-file")]
    pub client_ca_file: Option<PathBuf>,
    /// Service ClusterIP range; its first address goes to the `kubernetes` Service.
    #[arg(long = "service-cluster-ip-range", default_value = "10.0.0.0/24")]
    pub service_cluster_ip_range: String,
    /// Plain-HTTP port with full access (off unless set; loopback only unless overridden).
    #[arg(long = "insecure-port", default_value_t = 0)]
    pub insecure_port: u16,
    #[arg(long = "insecure-bind-address", default_value = "127.0.0.1")]
    pub insecure_bind_address: IpAddr,
    /// Allow the insecure port on a non-loopback address (dangerous).
    #[arg(long = "insecure-allow-non-loopback", default_value_t = false)]
    pub insecure_allow_non_loopback: bool,
    /// Storage backend: `embedded` (SQLite under the data dir) or `etcd3`. Unset: etcd3 when
    /// --etcd-servers is given, else embedded.
    #[arg(long = "storage-backend")]
    pub storage_backend: Option<String>,
    /// etcd endpoints (comma-separated or repeated).
    #[arg(long = "etcd-servers", value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    /// Key prefix in etcd.
    #[arg(long = "etcd-prefix", default_value = "/registry")]
    pub etcd_prefix: String,
    #[arg(long = "etcd-cafile")]
    pub etcd_cafile: Option<PathBuf>,
    #[arg(long = "etcd-certfile")]
    pub etcd_certfile: Option<PathBuf>,
    #[arg(long = "etcd-keyfile")]
    pub etcd_keyfile: Option<PathBuf>,
    /// How often old revisions are compacted (upstream --etcd-compaction-interval).
    #[arg(long = "etcd-compaction-interval", default_value = "5m", value_parser = parse_duration)]
    pub compaction_interval: Duration,
    /// Revisions always kept by compaction.
    #[arg(long = "storage-min-history", default_value_t = 1000)]
    pub min_history: i64,
    /// Watch timeouts are random in [min, 2*min) unless the client asks (seconds).
    #[arg(long = "min-request-timeout", default_value_t = 1800)]
    pub min_request_timeout: u64,
    /// Largest accepted request body.
    #[arg(long = "max-request-body-bytes", default_value_t = 3 * 1024 * 1024)]
    pub max_request_body_bytes: usize,
    /// Log verbosity (klog style).
    #[arg(long = "v", short = 'v', default_value_t = 0)]
    pub verbosity: u8,
}

/// Go-style durations: `5m`, `30s`, `1h30m`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
    }
    if !num.is_empty() {
        return Err(format!("invalid duration {s:?}: missing unit"));
    }
    Ok(Duration::from_secs_f64(total))
}

impl ServeOptions {
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
        // SAFETY-free check of root: geteuid never fails.
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
            IpAddr::V4(v4) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4) + 1)),
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) + 1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").is_err());
    }
}
