//! The one table of command-line flags: kube-apiserver's flag names (plus capstan's own), the
//! config-file key each maps to, its type, its default and whether capstan implements it yet.
//!
//! Everything else reads this table: the argv pre-pass, the file/env validation, `config show`
//! and the generated `docs/config-reference.md`.

/// The type of a setting; drives parsing of flag/env text, validation of file values and docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true`/`false` (flags: Go's strconv.ParseBool; files and env also take YAML 1.1 `yes`/`on`…).
    Bool,
    /// A whole number within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    Float,
    Str,
    Path,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A Go duration: `30s`, `5m`, `1h30m`, `250ms`, `0`.
    Duration,
    /// A list of strings: comma-separated on the command line, repeated flags append.
    List,
    /// A list where each flag occurrence is one item (values may contain commas).
    Repeated,
    /// `key=true|false` pairs (`--feature-gates`).
    BoolMap,
    /// `key=value` pairs (`--oidc-required-claim`).
    StrMap,
    /// `key=value` pairs where a bare `key` means `key=` (upstream's `ConfigurationMap`:
    /// `--runtime-config`).
    KeyMap,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// `N1-N2` (or `N1+offset`, or a single port), inclusive.
    PortRange,
    /// One CIDR, or an IPv4,IPv6 dual-stack pair.
    Cidrs,
}

impl Kind {
    /// How the type is named in docs and error messages.
    pub fn describe(&self) -> String {
        match self {
            Kind::Bool => "bool".into(),
            Kind::Int { min, max } if *max == i64::MAX => format!("integer >= {min}"),
            Kind::Int { min, max } => format!("integer {min}-{max}"),
            Kind::Float => "number".into(),
            Kind::Str => "string".into(),
            Kind::Path => "path".into(),
            Kind::Ip => "IP address".into(),
            Kind::Duration => "duration (e.g. 30s, 5m, 1h30m)".into(),
            Kind::List | Kind::Repeated => "list of strings".into(),
            Kind::BoolMap => "map of name to bool".into(),
            Kind::StrMap => "map of name to string".into(),
            Kind::KeyMap => "map of name to string (a bare name means an empty value)".into(),
            Kind::Enum(v) => format!("one of: {}", v.join(", ")),
            Kind::PortRange => "port range N1-N2".into(),
            Kind::Cidrs => "CIDR, or an IPv4,IPv6 pair of CIDRs".into(),
        }
    }

    /// Lists and maps collect repeated flags instead of keeping the last one.
    pub fn accumulates(&self) -> bool {
        matches!(
            self,
            Kind::List | Kind::Repeated | Kind::BoolMap | Kind::StrMap | Kind::KeyMap
        )
    }
}

/// Whether capstan acts on a setting. Every status but `Implemented` and `Capstan` has a
/// [`note`] saying why. There is no "accepted and ignored": a setting either works, has no
/// effect upstream either, or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An upstream kube-apiserver flag that capstan implements.
    Implemented,
    /// Accepted with no effect, and none is lost: it has none upstream either in what capstan
    /// runs (deprecated no-ops, flags of alpha features that are off), or what it tunes does
    /// not arise in capstan (the note says why). Accepted silently.
    NoEffect,
    /// Not implemented: startup fails when it is set to anything but its default or a value
    /// capstan handles (see [`refusal`]), naming the flag.
    Refused,
    /// Implemented for some values (the note says which); startup fails on the others, naming
    /// the flag (see [`refusal`]).
    Partial,
    /// A capstan-only setting (no kube-apiserver equivalent).
    Capstan,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// Flag name without the leading `--`.
    pub name: &'static str,
    /// Dotted config-file key; the environment variable is `CAPSTAN_` + key with `.` → `__`, `-` → `_`.
    pub key: &'static str,
    pub kind: Kind,
    /// Default in command-line syntax; empty means unset.
    pub default: &'static str,
    pub status: Status,
    pub help: &'static str,
}

impl Flag {
    /// The environment variable that sets this key.
    pub fn env_var(&self) -> String {
        format!(
            "CAPSTAN_{}",
            self.key.replace('.', "__").replace('-', "_").to_ascii_uppercase()
        )
    }
    /// Whether setting it changes what capstan does (or would, upstream too).
    pub fn implemented(&self) -> bool {
        self.status != Status::Refused
    }

    /// Why capstan does not implement it (None for implemented and capstan-only flags).
    pub fn note(&self) -> Option<&'static str> {
        note(self.name)
    }
}

/// Why a flag is not implemented, for every flag whose status is not `Implemented`/`Capstan`.
static NOTES: &[(&str, &str)] = &[
    ("allow-metric-labels", "Refused when set: metric label allow-lists are not implemented (capstan's metrics carry no unbounded labels to cap)."),
    ("allow-metric-labels-manifest", "Refused when set: metric label allow-lists are not implemented (capstan's metrics carry no unbounded labels to cap)."),
    ("apiserver-count", "Deprecated upstream; only read by the master-count endpoint reconciler, which capstan refuses (the lease reconciler, upstream's default, ignores it too)."),
    ("authorization-policy-file", "Refused: ABAC is not implemented; use RBAC, Webhook or --authorization-config."),
    ("cert-dir", "Refused when set without --tls-cert-file: upstream writes the serving certificate it generates there; capstan generates its own under --data-dir/pki."),
    ("contention-profiling", "Refused when true: Go block profiling; capstan serves no /debug/pprof to read it from."),
    ("debug-socket-path", "Refused when set: capstan opens no profiling socket."),
    ("default-watch-cache-size", "Deprecated upstream: watch caches are sized automatically (no effect)."),
    ("egress-selector-config-file", "Refused: egress selection (konnectivity) is not implemented; connections to kubelets, webhooks and aggregated APIs would bypass the configured proxies."),
    ("emulated-version", "Refused unless it names 1.33 (kube=1.33): capstan serves the 1.33 API and cannot emulate another version."),
    ("emulation-forward-compatible", "Refused when true: as upstream, it cannot be true when the emulation version is the binary's (capstan emulates only 1.33)."),
    ("enable-garbage-collector", "Refused when false: capstan always runs deletion propagation as with the garbage collector on; with it off, orphan/foreground finalizers would wait for a collector that is not there."),
    ("enable-logs-handler", "Deprecated upstream. Capstan serves no /logs, as with --enable-logs-handler=false: the default exposes less than upstream's, never more."),
    ("etcd-count-metric-poll-period", "Capstan's apiserver_storage_objects comes from the watch caches and is current at every scrape, which any poll period allows; nothing polls etcd."),
    ("etcd-db-metric-poll-interval", "Capstan exports no etcd database size metric (apiserver_storage_size_bytes), so there is nothing to poll."),
    ("etcd-servers-overrides", "Refused: per-resource etcd servers are not implemented; objects would be read from and written to the main etcd instead of the override."),
    // "feature-gates": built from `features::HONOURED` (see `note`).
    ("goaway-chance", "Refused when non-zero: HTTP/2 GOAWAY load spreading is not implemented (clients would stay on their connection)."),
    ("kubelet-read-only-port", "Deprecated upstream and unused by the API server."),
    ("log-flush-frequency", "Capstan writes each log line as it comes (nothing is buffered), which any flush period allows."),
    ("log-json-info-buffer-size", "Refused when non-zero: klog's split-stream info buffering is not implemented."),
    ("log-json-split-stream", "Refused when true: split log streams (info to stdout, errors to stderr) are not implemented; capstan writes every line to one stream (or --log-file)."),
    ("log-text-info-buffer-size", "Refused when non-zero: klog's split-stream info buffering is not implemented."),
    ("log-text-split-stream", "Refused when true: split log streams (info to stdout, errors to stderr) are not implemented; capstan writes every line to one stream (or --log-file)."),
    ("max-connection-bytes-per-sec", "Refused when non-zero: per-connection bandwidth limits on proxy, exec, attach and port-forward streams are not implemented."),
    ("peer-advertise-ip", "Only used with the alpha UnknownVersionInteroperabilityProxy feature, off by default upstream (no effect)."),
    ("peer-advertise-port", "Only used with the alpha UnknownVersionInteroperabilityProxy feature, off by default upstream (no effect)."),
    ("peer-ca-file", "Only used with the alpha UnknownVersionInteroperabilityProxy feature, off by default upstream (no effect)."),
    ("profiling", "Capstan has no Go runtime to profile and serves no /debug/pprof, as with --profiling=false: the default exposes less than upstream's, never more."),
    ("runtime-config-emulation-forward-compatible", "Refused when true: as upstream, it cannot be true when the emulation version is the binary's (capstan emulates only 1.33)."),
    ("service-account-signing-endpoint", "Refused: the external JWT signer (ExternalJWTSigner gRPC API, alpha ExternalServiceAccountTokenSigner gate in 1.33) is not implemented; use --service-account-signing-key-file."),
    ("shutdown-send-retry-after", "Refused when true: answering 429 with Retry-After after --shutdown-delay-duration is not implemented; capstan stops accepting connections then and finishes in-flight requests."),
    ("shutdown-watch-termination-grace-period", "Refused when non-zero: draining watches over a grace period is not implemented; capstan ends every watch at once when it stops (clients resume from their resourceVersion)."),
    ("storage-initialization-timeout", "Refused when not 1m0s: capstan loads every watch cache before it listens, so it cannot become ready with storage still initialising after a timeout."),
    ("tracing-config-file", "Refused when set: OpenTelemetry tracing is not implemented."),
    ("vmodule", "Refused when set: klog's per-file log levels do not exist in capstan; use CAPSTAN_LOG (a tracing filter, e.g. capstan::storage=debug)."),
    ("watch-cache", "Refused when false: capstan always serves lists and watches from its watch cache (consistent with storage); turning it off is not implemented."),
    ("watch-cache-sizes", "Refused when a size is 0: upstream would not cache that resource, and capstan always caches. Non-zero sizes have no effect upstream either (caches are sized automatically); they are accepted after upstream's syntax check."),
];

/// The `--feature-gates` note, naming the gates capstan acts on.
static FEATURE_GATES_NOTE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "Every gate kube-apiserver 1.33 knows is accepted at its 1.33 default (a GA or deprecated one with upstream's warning); an unknown gate, or a locked one set to the other value, fails as upstream. \
         Set to the other value, only the gates capstan acts on work ({}); any other is refused at startup, naming it: capstan serves what 1.33 serves with every other gate at its default.",
        super::features::HONOURED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    )
});

/// Why `name` is not (or only partly) implemented.
pub fn note(name: &str) -> Option<&'static str> {
    if name == "feature-gates" {
        return Some(FEATURE_GATES_NOTE.as_str());
    }
    NOTES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Why capstan refuses to start with `flag` set to `value` (a `Refused` flag set to anything
/// but its default or a value capstan handles), or None. `setting` reads the other merged
/// settings by config key (some refusals depend on them).
pub fn refusal(
    flag: &Flag,
    value: &serde_json::Value,
    setting: &dyn Fn(&str) -> Option<serde_json::Value>,
) -> Option<String> {
    let feature_gates = setting("feature-gates").unwrap_or(serde_json::Value::Null);
    if !matches!(flag.status, Status::Refused | Status::Partial) {
        return None;
    }
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(","),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    let harmless = match flag.name {
        // Known gates at their defaults, and those capstan acts on (`features::HONOURED`).
        "feature-gates" => super::features::check(value).is_ok(),
        // `kube=1.33` (or `1.33`): the version capstan is.
        "emulated-version" => text
            .split(',')
            .all(|v| v.is_empty() || matches!(v.trim(), "1.33" | "kube=1.33" | "kube=v1.33")),
        // Upstream reads it only to generate a serving certificate when none is given.
        "cert-dir" => {
            setting("tls.cert-file").is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())) || text == flag.default
        }
        // Non-zero sizes have no effect upstream either; 0 would turn the cache off.
        // (Malformed entries are reported by `watch_cache_size_errors`.)
        "watch-cache-sizes" => !text
            .split(',')
            .any(|c| c.split_once('#').is_some_and(|(_, n)| n.parse::<i64>() == Ok(0))),
        _ => same_as_default(flag, value, &text),
    };
    if harmless {
        return None;
    }
    let why = match flag.name {
        "emulation-forward-compatible" => {
            "ServerRunOptions.EmulationForwardCompatible cannot be set to true if the emulation version is the same as the binary version".to_string()
        }
        "feature-gates" => super::features::check(value).refusal().unwrap_or_default(),
        "runtime-config-emulation-forward-compatible" => {
            "ServerRunOptions.RuntimeConfigEmulationForwardCompatible cannot be set to true if the emulation version is the same as the binary version".to_string()
        }
        "service-account-signing-endpoint"
            if feature_gates.get("ExternalServiceAccountTokenSigner").and_then(serde_json::Value::as_bool) != Some(true) =>
        {
            "setting `--service-account-signing-endpoint` requires enabling ExternalServiceAccountTokenSigner feature gate (capstan does not implement the external signer either: use --service-account-signing-key-file)".to_string()
        }
        "cert-dir" => "capstan generates its serving certificate under --data-dir/pki when --tls-cert-file is not given; pass --tls-cert-file and --tls-private-key-file, or leave --cert-dir unset".to_string(),
        _ => {
            let n = note(flag.name).unwrap_or("not implemented");
            // The note says when it is refused ("Refused when …: why"); the message says why.
            match n.split_once(": ") {
                Some((head, why)) if head.starts_with("Refused") => why.to_string(),
                _ => n.to_string(),
            }
        }
    };
    Some(format!("--{}={text}: {why}", flag.name))
}

/// `--watch-cache-sizes` entries upstream's `ParseWatchCacheSizes` rejects, with its messages.
pub fn watch_cache_size_errors(entries: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|c| {
            let tokens: Vec<&str> = c.split('#').collect();
            if tokens.len() != 2 {
                return Some(format!("invalid value of watch cache size: {c}"));
            }
            match tokens[1].parse::<i64>() {
                Err(_) => Some(format!("invalid size of watch cache size: {c}")),
                Ok(n) if n < 0 => Some(format!("watch cache size cannot be negative: {c}")),
                Ok(_) => None,
            }
        })
        .collect()
}

/// Upstream's check of `--show-hidden-metrics-for-version`: only the previous minor (1.32).
pub fn show_hidden_metrics_error(version: &str) -> Option<String> {
    (!version.is_empty() && version != "1.32").then(|| {
        "--show-hidden-metrics-for-version must be omitted or have the value '1.32'. Only the previous minor version is allowed".to_string()
    })
}

/// `value` means the flag's default (`0` = `0.0`, `1m` = `1m0s`, `0Ki` = `0`).
fn same_as_default(flag: &Flag, value: &serde_json::Value, text: &str) -> bool {
    if text == flag.default || text.is_empty() && flag.default.is_empty() {
        return true;
    }
    match flag.kind {
        Kind::Float | Kind::Int { .. } => value
            .as_f64()
            .zip(flag.default.parse::<f64>().ok())
            .is_some_and(|(a, b)| a == b),
        Kind::Duration => super::parse_duration(text)
            .ok()
            .is_some_and(|d| super::parse_duration(flag.default).ok() == Some(d)),
        // Quantities (log buffer sizes): any spelling of zero.
        Kind::Str if flag.default == "0" => text.trim_end_matches(|c: char| c.is_ascii_alphabetic()) == "0",
        _ => false,
    }
}

const U16: Kind = Kind::Int { min: 0, max: 65535 };
const NAT: Kind = Kind::Int { min: 0, max: i64::MAX };
const INT: Kind = Kind::Int {
    min: i64::MIN,
    max: i64::MAX,
};
const POS: Kind = Kind::Int { min: 1, max: i64::MAX };
const AUDIT_MODES: &[&str] = &["batch", "blocking", "blocking-strict"];

macro_rules! flags {
    ($( $name:literal => $key:literal, $kind:expr, $default:literal, $status:ident, $help:literal; )*) => {
        /// Every accepted flag, sorted by flag name.
        pub static FLAGS: &[Flag] = &[
            $( Flag { name: $name, key: $key, kind: $kind, default: $default, status: Status::$status, help: $help }, )*
        ];
    };
}

flags! {
    "admission-control" => "admission.control", Kind::List, "", Implemented, "Deprecated: use --enable-admission-plugins or --disable-admission-plugins instead.";
    "admission-control-config-file" => "admission.config-file", Kind::Path, "", Implemented, "File with admission control configuration.";
    "advertise-address" => "advertise-address", Kind::Ip, "", Implemented, "The IP address on which to advertise the apiserver to members of the cluster. If blank, --bind-address is used.";
    "aggregator-reject-forwarding-redirect" => "aggregator-reject-forwarding-redirect", Kind::Bool, "true", Implemented, "Aggregator reject forwarding redirect response back to client.";
    "allow-metric-labels" => "metrics.allow-labels", Kind::Str, "", Refused, "The map from metric-label to value allow-list of this label.";
    "allow-metric-labels-manifest" => "metrics.allow-labels-manifest", Kind::Path, "", Refused, "The path to the manifest file that contains the allow-list mapping.";
    "allow-privileged" => "allow-privileged", Kind::Bool, "false", Implemented, "If true, allow privileged containers (securityContext.privileged, Windows HostProcess); refused with \"disallowed by cluster policy\" otherwise.";
    "anonymous-auth" => "authentication.anonymous-auth", Kind::Bool, "true", Implemented, "Enables anonymous requests to the secure port of the API server.";
    "api-audiences" => "authentication.api-audiences", Kind::List, "", Implemented, "Identifiers of the API; service account tokens must be bound to at least one of them.";
    "apiserver-count" => "apiserver-count", POS, "1", NoEffect, "The number of apiservers running in the cluster (with --endpoint-reconciler-type=master-count).";
    "audit-log-batch-buffer-size" => "audit.log.batch-buffer-size", NAT, "10000", Implemented, "The size of the buffer to store events before batching and writing. Only used in batch mode.";
    "audit-log-batch-max-size" => "audit.log.batch-max-size", NAT, "1", Implemented, "The maximum size of a batch. Only used in batch mode.";
    "audit-log-batch-max-wait" => "audit.log.batch-max-wait", Kind::Duration, "0s", Implemented, "The amount of time to wait before force writing the batch that hadn't reached the max size.";
    "audit-log-batch-throttle-burst" => "audit.log.batch-throttle-burst", NAT, "0", Implemented, "Maximum number of requests sent at the same moment if ThrottleQPS was not utilized before.";
    "audit-log-batch-throttle-enable" => "audit.log.batch-throttle-enable", Kind::Bool, "false", Implemented, "Whether batching throttling is enabled. Only used in batch mode.";
    "audit-log-batch-throttle-qps" => "audit.log.batch-throttle-qps", Kind::Float, "0", Implemented, "Maximum average number of batches per second. Only used in batch mode.";
    "audit-log-compress" => "audit.log.compress", Kind::Bool, "false", Implemented, "If set, the rotated log files will be compressed using gzip.";
    "audit-log-format" => "audit.log.format", Kind::Enum(&["legacy", "json"]), "json", Implemented, "Format of saved audits.";
    "audit-log-maxage" => "audit.log.maxage", NAT, "0", Implemented, "The maximum number of days to retain old audit log files.";
    "audit-log-maxbackup" => "audit.log.maxbackup", NAT, "0", Implemented, "The maximum number of old audit log files to retain (0: no limit).";
    "audit-log-maxsize" => "audit.log.maxsize", NAT, "0", Implemented, "The maximum size in megabytes of the audit log file before it gets rotated.";
    "audit-log-mode" => "audit.log.mode", Kind::Enum(AUDIT_MODES), "blocking", Implemented, "Strategy for sending audit events.";
    "audit-log-path" => "audit.log.path", Kind::Path, "", Implemented, "If set, all requests coming to the apiserver will be logged to this file. '-' means standard out.";
    "audit-log-truncate-enabled" => "audit.log.truncate-enabled", Kind::Bool, "false", Implemented, "Whether event and batch truncating is enabled.";
    "audit-log-truncate-max-batch-size" => "audit.log.truncate-max-batch-size", NAT, "10485760", Implemented, "Maximum size of the batch sent to the underlying backend.";
    "audit-log-truncate-max-event-size" => "audit.log.truncate-max-event-size", NAT, "102400", Implemented, "Maximum size of the audit event sent to the underlying backend.";
    "audit-log-version" => "audit.log.version", Kind::Str, "audit.k8s.io/v1", Implemented, "API group and version used for serializing audit events written to log.";
    "audit-policy-file" => "audit.policy-file", Kind::Path, "", Implemented, "Path to the file that defines the audit policy configuration.";
    "audit-webhook-batch-buffer-size" => "audit.webhook.batch-buffer-size", NAT, "10000", Implemented, "The size of the buffer to store events before batching and writing. Only used in batch mode.";
    "audit-webhook-batch-initial-backoff" => "audit.webhook.batch-initial-backoff", Kind::Duration, "10s", Implemented, "Deprecated alias of --audit-webhook-initial-backoff.";
    "audit-webhook-batch-max-size" => "audit.webhook.batch-max-size", NAT, "400", Implemented, "The maximum size of a batch. Only used in batch mode.";
    "audit-webhook-batch-max-wait" => "audit.webhook.batch-max-wait", Kind::Duration, "30s", Implemented, "The amount of time to wait before force writing the batch that hadn't reached the max size.";
    "audit-webhook-batch-throttle-burst" => "audit.webhook.batch-throttle-burst", NAT, "15", Implemented, "Maximum number of requests sent at the same moment if ThrottleQPS was not utilized before.";
    "audit-webhook-batch-throttle-enable" => "audit.webhook.batch-throttle-enable", Kind::Bool, "true", Implemented, "Whether batching throttling is enabled. Only used in batch mode.";
    "audit-webhook-batch-throttle-qps" => "audit.webhook.batch-throttle-qps", Kind::Float, "10", Implemented, "Maximum average number of batches per second. Only used in batch mode.";
    "audit-webhook-config-file" => "audit.webhook.config-file", Kind::Path, "", Implemented, "Path to a kubeconfig formatted file that defines the audit webhook configuration.";
    "audit-webhook-initial-backoff" => "audit.webhook.initial-backoff", Kind::Duration, "10s", Implemented, "The amount of time to wait before retrying the first failed request.";
    "audit-webhook-mode" => "audit.webhook.mode", Kind::Enum(AUDIT_MODES), "batch", Implemented, "Strategy for sending audit events.";
    "audit-webhook-truncate-enabled" => "audit.webhook.truncate-enabled", Kind::Bool, "false", Implemented, "Whether event and batch truncating is enabled.";
    "audit-webhook-truncate-max-batch-size" => "audit.webhook.truncate-max-batch-size", NAT, "10485760", Implemented, "Maximum size of the batch sent to the underlying backend.";
    "audit-webhook-truncate-max-event-size" => "audit.webhook.truncate-max-event-size", NAT, "102400", Implemented, "Maximum size of the audit event sent to the underlying backend.";
    "audit-webhook-version" => "audit.webhook.version", Kind::Str, "audit.k8s.io/v1", Implemented, "API group and version used for serializing audit events written to webhook.";
    "authentication-config" => "authentication.config-file", Kind::Path, "", Implemented, "File with Authentication Configuration to configure the JWT Token authenticator or the anonymous authenticator (apiserver.config.k8s.io/v1beta1 or v1alpha1; reloaded when it changes).";
    "authentication-token-webhook-cache-ttl" => "authentication.token-webhook.cache-ttl", Kind::Duration, "2m0s", Implemented, "The duration to cache responses from the webhook token authenticator.";
    "authentication-token-webhook-config-file" => "authentication.token-webhook.config-file", Kind::Path, "", Implemented, "File with webhook configuration for token authentication in kubeconfig format.";
    "authentication-token-webhook-version" => "authentication.token-webhook.version", Kind::Enum(&["v1", "v1beta1"]), "v1beta1", Implemented, "The API version of the authentication.k8s.io TokenReview to send to the webhook.";
    "authorization-config" => "authorization.config-file", Kind::Path, "", Implemented, "File with Authorization Configuration to configure the authorizer chain (apiserver.config.k8s.io/v1, v1beta1 or v1alpha1; reloaded when it changes).";
    "authorization-mode" => "authorization.mode", Kind::List, "AlwaysAllow", Implemented, "Ordered list of plug-ins to do authorization on secure port: AlwaysAllow, AlwaysDeny, ABAC, Webhook, RBAC, Node.";
    "authorization-policy-file" => "authorization.policy-file", Kind::Path, "", Refused, "File with authorization policy in json line by line format, used with --authorization-mode=ABAC.";
    "authorization-webhook-cache-authorized-ttl" => "authorization.webhook.cache-authorized-ttl", Kind::Duration, "5m0s", Implemented, "The duration to cache 'authorized' responses from the webhook authorizer.";
    "authorization-webhook-cache-unauthorized-ttl" => "authorization.webhook.cache-unauthorized-ttl", Kind::Duration, "30s", Implemented, "The duration to cache 'unauthorized' responses from the webhook authorizer.";
    "authorization-webhook-config-file" => "authorization.webhook.config-file", Kind::Path, "", Implemented, "File with webhook configuration in kubeconfig format, used with --authorization-mode=Webhook.";
    "authorization-webhook-version" => "authorization.webhook.version", Kind::Enum(&["v1", "v1beta1"]), "v1beta1", Implemented, "The API version of the authorization.k8s.io SubjectAccessReview to send to the webhook.";
    "bind-address" => "bind-address", Kind::Ip, "127.0.0.1", Implemented, "The IP address on which to listen for the --secure-port port (capstan's default is loopback; upstream's is 0.0.0.0).";
    "cert-dir" => "tls.cert-dir", Kind::Path, "/var/run/kubernetes", Refused, "The directory where the TLS certs are located (capstan generates its PKI under --data-dir).";
    "client-ca-file" => "authentication.client-ca-file", Kind::Path, "", Implemented, "Client certificates signed by this CA are authenticated as CommonName (user) and Organization (groups).";
    "contention-profiling" => "contention-profiling", Kind::Bool, "false", Refused, "Enable block profiling, if profiling is enabled.";
    "cors-allowed-origins" => "cors-allowed-origins", Kind::List, "", Implemented, "List of allowed origins for CORS, comma separated.";
    "data-dir" => "data-dir", Kind::Path, "", Capstan, "Where the embedded store and generated PKI live. Unset: $XDG_DATA_HOME/capstan (~/.local/share/capstan), or /var/lib/capstan for root.";
    "debug-socket-path" => "debug-socket-path", Kind::Path, "", Refused, "Use an unprotected (no authn/authz) unix-domain socket for profiling with the given path.";
    "default-not-ready-toleration-seconds" => "default-not-ready-toleration-seconds", NAT, "300", Implemented, "The tolerationSeconds of the notReady:NoExecute toleration added to every pod.";
    "default-unreachable-toleration-seconds" => "default-unreachable-toleration-seconds", NAT, "300", Implemented, "The tolerationSeconds of the unreachable:NoExecute toleration added to every pod.";
    "default-watch-cache-size" => "storage.default-watch-cache-size", NAT, "100", NoEffect, "Default watch cache size.";
    "delete-collection-workers" => "storage.delete-collection-workers", POS, "1", Implemented, "Number of workers spawned for DeleteCollection call.";
    "disable-admission-plugins" => "admission.disable-plugins", Kind::List, "", Implemented, "Admission plugins that should be disabled although they are in the default enabled plugins list.";
    "disable-http2-serving" => "disable-http2-serving", Kind::Bool, "false", Implemented, "If true, HTTP2 serving will be disabled.";
    "disabled-metrics" => "metrics.disabled", Kind::List, "", Implemented, "Fully qualified metric names to disable.";
    "egress-selector-config-file" => "egress-selector-config-file", Kind::Path, "", Refused, "File with apiserver egress selector configuration.";
    "emulated-version" => "emulated-version", Kind::List, "", Refused, "The versions different components emulate their capabilities (APIs, features, ...) of, e.g. kube=1.31.";
    "emulation-forward-compatible" => "emulation-forward-compatible", Kind::Bool, "false", Refused, "If true, for any beta+ APIs enabled by default or by --runtime-config at the emulation version, their future versions with higher priority/stability will be auto enabled even if they introduced after the emulation version.";
    "enable-admission-plugins" => "admission.enable-plugins", Kind::List, "", Implemented, "Admission plugins that should be enabled in addition to default enabled ones.";
    "enable-aggregator-routing" => "enable-aggregator-routing", Kind::Bool, "false", Implemented, "Turns on aggregator routing requests to endpoints IP rather than cluster IP.";
    "enable-bootstrap-token-auth" => "authentication.enable-bootstrap-token-auth", Kind::Bool, "false", Implemented, "Allow secrets of type 'bootstrap.kubernetes.io/token' in 'kube-system' to be used for TLS bootstrapping authentication.";
    "enable-garbage-collector" => "enable-garbage-collector", Kind::Bool, "true", Refused, "Enables the generic garbage collector.";
    "enable-logs-handler" => "logging.enable-logs-handler", Kind::Bool, "true", NoEffect, "If true, install a /logs handler for the apiserver logs (deprecated upstream).";
    "enable-priority-and-fairness" => "enable-priority-and-fairness", Kind::Bool, "true", Implemented, "Replace the max-in-flight handler with one that queues and dispatches with priority and fairness.";
    "encryption-provider-config" => "storage.encryption-provider-config", Kind::Path, "", Implemented, "The file containing configuration for encryption providers to be used for storing secrets.";
    "encryption-provider-config-automatic-reload" => "storage.encryption-provider-config-automatic-reload", Kind::Bool, "false", Implemented, "Reload the file set by --encryption-provider-config when it changes.";
    "endpoint-reconciler-type" => "services.endpoint-reconciler-type", Kind::Enum(&["master-count", "lease", "none"]), "lease", Implemented, "Use an endpoint reconciler (master-count, lease, none).";
    "etcd-cafile" => "etcd.cafile", Kind::Path, "", Implemented, "SSL Certificate Authority file used to secure etcd communication.";
    "etcd-certfile" => "etcd.certfile", Kind::Path, "", Implemented, "SSL certification file used to secure etcd communication.";
    "etcd-compaction-interval" => "etcd.compaction-interval", Kind::Duration, "5m0s", Implemented, "The interval of compaction requests. If 0, compaction is disabled.";
    "etcd-count-metric-poll-period" => "etcd.count-metric-poll-period", Kind::Duration, "1m0s", NoEffect, "Frequency of polling etcd for number of resources per type.";
    "etcd-db-metric-poll-interval" => "etcd.db-metric-poll-interval", Kind::Duration, "30s", NoEffect, "The interval of requests to poll etcd and update metric.";
    "etcd-healthcheck-timeout" => "etcd.healthcheck-timeout", Kind::Duration, "2s", Implemented, "The timeout to use when checking etcd health.";
    "etcd-keyfile" => "etcd.keyfile", Kind::Path, "", Implemented, "SSL key file used to secure etcd communication.";
    "etcd-prefix" => "etcd.prefix", Kind::Str, "/registry", Implemented, "The prefix to prepend to all resource paths in etcd.";
    "etcd-readycheck-timeout" => "etcd.readycheck-timeout", Kind::Duration, "2s", Implemented, "The timeout to use when checking etcd readiness.";
    "etcd-servers" => "etcd.servers", Kind::List, "", Implemented, "List of etcd servers to connect with (scheme://ip:port), comma separated.";
    "etcd-servers-overrides" => "etcd.servers-overrides", Kind::List, "", Refused, "Per-resource etcd servers overrides: group/resource#servers.";
    "event-ttl" => "event-ttl", Kind::Duration, "1h0m0s", Implemented, "Amount of time to retain events.";
    "external-hostname" => "external-hostname", Kind::Str, "", Implemented, "The hostname to use when generating externalized URLs for this control plane.";
    "feature-gates" => "feature-gates", Kind::BoolMap, "", Partial, "A set of key=value pairs that describe feature gates for alpha/experimental features.";
    "goaway-chance" => "goaway-chance", Kind::Float, "0", Refused, "Fraction of HTTP/2 requests that are sent a GOAWAY (0 to 0.02).";
    "http2-max-streams-per-connection" => "http2-max-streams-per-connection", NAT, "0", Implemented, "The limit that the server gives to clients for the maximum number of streams in an HTTP/2 connection.";
    "insecure-allow-non-loopback" => "insecure.allow-non-loopback", Kind::Bool, "false", Capstan, "Allow the insecure port on a non-loopback address (dangerous).";
    "insecure-bind-address" => "insecure.bind-address", Kind::Ip, "127.0.0.1", Capstan, "Address of the plain-HTTP port.";
    "insecure-port" => "insecure.port", U16, "0", Capstan, "Plain-HTTP port with full access, no authentication (0: off; loopback only unless --insecure-allow-non-loopback).";
    "kubelet-certificate-authority" => "kubelet.certificate-authority", Kind::Path, "", Implemented, "Path to a cert file for the certificate authority of kubelets.";
    "kubelet-client-certificate" => "kubelet.client-certificate", Kind::Path, "", Implemented, "Path to a client cert file for TLS to kubelets.";
    "kubelet-client-key" => "kubelet.client-key", Kind::Path, "", Implemented, "Path to a client key file for TLS to kubelets.";
    "kubelet-port" => "kubelet.port", U16, "10250", Implemented, "DEPRECATED: kubelet port.";
    "kubelet-preferred-address-types" => "kubelet.preferred-address-types", Kind::List, "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP", Implemented, "List of the preferred NodeAddressTypes to use for kubelet connections.";
    "kubelet-read-only-port" => "kubelet.read-only-port", U16, "10255", NoEffect, "DEPRECATED: kubelet read-only port.";
    "kubelet-timeout" => "kubelet.timeout", Kind::Duration, "5s", Implemented, "Timeout for kubelet operations.";
    "kubernetes-service-node-port" => "services.kubernetes-service-node-port", U16, "0", Implemented, "If non-zero, the kubernetes Service is of type NodePort, using this as the value of the port.";
    "lease-reuse-duration-seconds" => "storage.lease-reuse-duration-seconds", POS, "60", Implemented, "The time in seconds that each lease is reused.";
    "livez-grace-period" => "livez-grace-period", Kind::Duration, "0s", Implemented, "The maximum time it should take for apiserver to complete its startup sequence and become live.";
    "log-file" => "logging.file", Kind::Path, "", Capstan, "Also write logs to this file, rotated as --log-file-rotation says.";
    "log-file-max-files" => "logging.file-max-files", NAT, "7", Capstan, "Rotated log files kept (0: keep all).";
    "log-file-rotation" => "logging.file-rotation", Kind::Enum(&["never", "minutely", "hourly", "daily"]), "daily", Capstan, "How often --log-file is rotated; rotated files get a date suffix.";
    "log-flush-frequency" => "logging.flush-frequency", Kind::Duration, "5s", NoEffect, "Maximum number of seconds between log flushes.";
    "log-json-info-buffer-size" => "logging.json-info-buffer-size", Kind::Str, "0", Refused, "[Alpha] In JSON format with split output streams, the info messages can be buffered for a while.";
    "log-json-split-stream" => "logging.json-split-stream", Kind::Bool, "false", Refused, "[Alpha] In JSON format, write error messages to stderr and info messages to stdout.";
    "log-text-info-buffer-size" => "logging.text-info-buffer-size", Kind::Str, "0", Refused, "[Alpha] In text format with split output streams, the info messages can be buffered for a while.";
    "log-text-split-stream" => "logging.text-split-stream", Kind::Bool, "false", Refused, "[Alpha] In text format, write error messages to stderr and info messages to stdout.";
    "logging-format" => "logging.format", Kind::Enum(&["text", "json"]), "text", Implemented, "Sets the log format.";
    "max-connection-bytes-per-sec" => "max-connection-bytes-per-sec", NAT, "0", Refused, "If non-zero, throttle each user connection to this number of bytes/sec.";
    "max-mutating-requests-inflight" => "max-mutating-requests-inflight", NAT, "200", Implemented, "The maximum number of mutating requests in flight (0: no limit).";
    "max-request-body-bytes" => "max-request-body-bytes", NAT, "3145728", Capstan, "Largest accepted request body.";
    "max-requests-inflight" => "max-requests-inflight", NAT, "400", Implemented, "The maximum number of non-mutating requests in flight (0: no limit).";
    "min-request-timeout" => "min-request-timeout", NAT, "1800", Implemented, "Minimum number of seconds a watch is kept open; the timeout is random in [min, 2*min).";
    "oidc-ca-file" => "authentication.oidc.ca-file", Kind::Path, "", Implemented, "The OpenID server's certificate is verified by one of the authorities in this file.";
    "oidc-client-id" => "authentication.oidc.client-id", Kind::Str, "", Implemented, "The client ID for the OpenID Connect client, must be set if oidc-issuer-url is set.";
    "oidc-groups-claim" => "authentication.oidc.groups-claim", Kind::Str, "", Implemented, "The name of a custom OpenID Connect claim for specifying user groups.";
    "oidc-groups-prefix" => "authentication.oidc.groups-prefix", Kind::Str, "", Implemented, "All groups will be prefixed with this value.";
    "oidc-issuer-url" => "authentication.oidc.issuer-url", Kind::Str, "", Implemented, "The URL of the OpenID issuer, only HTTPS scheme will be accepted.";
    "oidc-required-claim" => "authentication.oidc.required-claim", Kind::StrMap, "", Implemented, "A key=value pair that describes a required claim in the ID Token.";
    "oidc-signing-algs" => "authentication.oidc.signing-algs", Kind::List, "RS256", Implemented, "Allowed JOSE asymmetric signing algorithms.";
    "oidc-username-claim" => "authentication.oidc.username-claim", Kind::Str, "sub", Implemented, "The OpenID claim to use as the user name.";
    "oidc-username-prefix" => "authentication.oidc.username-prefix", Kind::Str, "", Implemented, "All usernames will be prefixed with this value.";
    "peer-advertise-ip" => "peer.advertise-ip", Kind::Ip, "", NoEffect, "The IP other API servers use to proxy requests to this one (mixed-version proxy).";
    "peer-advertise-port" => "peer.advertise-port", Kind::Str, "", NoEffect, "The port other API servers use to proxy requests to this one (mixed-version proxy).";
    "peer-ca-file" => "peer.ca-file", Kind::Path, "", NoEffect, "CA that verifies serving certificates of peer API servers (mixed-version proxy).";
    "permit-address-sharing" => "permit-address-sharing", Kind::Bool, "false", Implemented, "If true, SO_REUSEADDR will be used when binding the port.";
    "permit-port-sharing" => "permit-port-sharing", Kind::Bool, "false", Implemented, "If true, SO_REUSEPORT will be used when binding the port.";
    "pid-file" => "pid-file", Kind::Path, "", Capstan, "Write the process id to this file while running (removed on exit).";
    "profiling" => "profiling", Kind::Bool, "true", NoEffect, "Enable profiling via web interface host:port/debug/pprof/.";
    "proxy-allow-loopback-targets" => "proxy.allow-loopback-targets", Kind::Bool, "false", Capstan, "Allow nodes/pods/services proxy to loopback and link-local addresses, which upstream refuses (\"address not allowed\"). For single-host test setups only.";
    "proxy-client-cert-file" => "proxy-client.cert-file", Kind::Path, "", Implemented, "Client certificate used to prove the identity of the aggregator or kube-apiserver when it must call out during a request.";
    "proxy-client-key-file" => "proxy-client.key-file", Kind::Path, "", Implemented, "Private key for the client certificate used by the aggregator.";
    "proxy-legacy-paths" => "proxy.legacy-paths", Kind::Bool, "false", Capstan, "Also serve the pre-1.10 proxy paths /api/v1/proxy/nodes/{name}/... and /api/v1/proxy/namespaces/{ns}/{pods|services}/{name}/... (removed upstream; off by default).";
    "request-timeout" => "request-timeout", Kind::Duration, "1m0s", Implemented, "The duration a handler must keep a request open before timing it out.";
    "requestheader-allowed-names" => "authentication.requestheader.allowed-names", Kind::List, "", Implemented, "Client certificate common names allowed to provide usernames in request headers.";
    "requestheader-client-ca-file" => "authentication.requestheader.client-ca-file", Kind::Path, "", Implemented, "Root certificate bundle to verify client certificates before trusting usernames in request headers.";
    "requestheader-extra-headers-prefix" => "authentication.requestheader.extra-headers-prefix", Kind::List, "", Implemented, "List of request header prefixes to inspect. X-Remote-Extra- is suggested.";
    "requestheader-group-headers" => "authentication.requestheader.group-headers", Kind::List, "", Implemented, "List of request headers to inspect for groups. X-Remote-Group is suggested.";
    "requestheader-uid-headers" => "authentication.requestheader.uid-headers", Kind::List, "", Implemented, "List of request headers to inspect for UIDs. X-Remote-Uid is suggested.";
    "requestheader-username-headers" => "authentication.requestheader.username-headers", Kind::List, "", Implemented, "List of request headers to inspect for usernames. X-Remote-User is common.";
    "runtime-config" => "runtime-config", Kind::KeyMap, "", Implemented, "A set of key=value pairs that enable or disable built-in APIs: v1=true|false for the core API group, <group>/<version>=true|false, <group>/<version>/<resource>=true|false, api/all, api/ga, api/beta and api/alpha=true|false (merged over upstream 1.33's defaults as kube-apiserver does). Enabling a group/version that 1.33 serves but capstan does not implement fails startup, naming it.";
    "runtime-config-emulation-forward-compatible" => "runtime-config-emulation-forward-compatible", Kind::Bool, "false", Refused, "If true, APIs identified by group/version that are enabled in the --runtime-config flag will be installed even if it is introduced after the emulation version.";
    "secure-port" => "secure-port", U16, "6443", Implemented, "The port on which to serve HTTPS with authentication and authorization.";
    "service-account-extend-token-expiration" => "service-account.extend-token-expiration", Kind::Bool, "true", Implemented, "Turns on projected service account expiration extension during token generation.";
    "service-account-issuer" => "service-account.issuer", Kind::List, "", Implemented, "Identifier of the service account token issuer; repeat to accept several, the first signs. Default (capstan): https://kubernetes.default.svc.cluster.local.";
    "service-account-jwks-uri" => "service-account.jwks-uri", Kind::Str, "", Implemented, "Overrides the URI for the JSON Web Key Set in the discovery doc.";
    "service-account-key-file" => "service-account.key-file", Kind::List, "", Implemented, "Files containing PEM-encoded public or private keys used to verify ServiceAccount tokens.";
    "service-account-lookup" => "service-account.lookup", Kind::Bool, "true", Implemented, "If true, validate ServiceAccount tokens exist in etcd as part of authentication.";
    "service-account-max-token-expiration" => "service-account.max-token-expiration", Kind::Duration, "0s", Implemented, "The maximum validity duration of a token created by the service account token issuer.";
    "service-account-signing-endpoint" => "service-account.signing-endpoint", Kind::Path, "", Refused, "Path to a socket where an external JWT signer is listening.";
    "service-account-signing-key-file" => "service-account.signing-key-file", Kind::Path, "", Implemented, "Path to the file that contains the current private key of the service account token issuer. Without any service account key flag and with the generated PKI, capstan uses <data-dir>/pki/sa.key (ECDSA P-256, created on first start) and sa.pub.";
    "service-cluster-ip-range" => "services.cluster-ip-range", Kind::Cidrs, "10.0.0.0/24", Implemented, "A CIDR notation IP range from which to assign service cluster IPs (max two, dual-stack).";
    "service-node-port-range" => "services.node-port-range", Kind::PortRange, "30000-32767", Implemented, "A port range to reserve for services with NodePort visibility, inclusive at both ends.";
    "show-hidden-metrics-for-version" => "metrics.show-hidden-for-version", Kind::Str, "", Implemented, "The previous version for which you want to show hidden metrics.";
    "shutdown-delay-duration" => "shutdown-delay-duration", Kind::Duration, "0s", Implemented, "Time to delay the termination: /readyz fails at once, requests are still served, then the server stops.";
    "shutdown-send-retry-after" => "shutdown-send-retry-after", Kind::Bool, "false", Refused, "Keep listening until in-flight requests drain, answering new ones with 429 and Retry-After.";
    "shutdown-watch-termination-grace-period" => "shutdown-watch-termination-grace-period", Kind::Duration, "0s", Refused, "The grace period the server waits for active watch requests to drain.";
    "storage-backend" => "storage.backend", Kind::Enum(&["embedded", "etcd3"]), "", Implemented, "The storage backend: embedded (SQLite under --data-dir) or etcd3. Unset: etcd3 when --etcd-servers is given, else embedded.";
    "storage-initialization-timeout" => "storage.initialization-timeout", Kind::Duration, "1m0s", Refused, "Maximum amount of time to wait for storage initialization before declaring the apiserver ready.";
    "storage-media-type" => "storage.media-type", Kind::Enum(&["application/vnd.kubernetes.protobuf", "application/json"]), "application/vnd.kubernetes.protobuf", Implemented, "The media type to use to store built-in objects in etcd (custom resources, CRDs and APIServices are JSON, as upstream; the embedded store keeps JSON). Values in either encoding are read.";
    "storage-min-history" => "storage.min-history", INT, "0", Capstan, "Revisions the embedded store's compactor keeps beyond upstream's rule (history back to the revision seen one compaction interval earlier).";
    "strict-transport-security-directives" => "strict-transport-security-directives", Kind::List, "", Implemented, "List of directives for HSTS, comma separated.";
    "tls-cert-file" => "tls.cert-file", Kind::Path, "", Implemented, "File containing the default x509 Certificate for HTTPS. Unset: generated under --data-dir/pki.";
    "tls-cipher-suites" => "tls.cipher-suites", Kind::List, "", Implemented, "Comma-separated list of cipher suites for the server.";
    "tls-min-version" => "tls.min-version", Kind::Enum(&["VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"]), "", Implemented, "Minimum TLS version supported.";
    "tls-private-key-file" => "tls.private-key-file", Kind::Path, "", Implemented, "File containing the default x509 private key matching --tls-cert-file.";
    "tls-sni-cert-key" => "tls.sni-cert-key", Kind::Repeated, "", Implemented, "A pair of x509 certificate and private key file paths, optionally suffixed with domain patterns; repeat for several.";
    "token-auth-file" => "authentication.token-auth-file", Kind::Path, "", Implemented, "The file that will be used to secure the secure port of the API server via token authentication.";
    "tracing-config-file" => "tracing-config-file", Kind::Path, "", Refused, "File with apiserver tracing configuration.";
    "v" => "logging.verbosity", Kind::Int { min: 0, max: 255 }, "0", Implemented, "Number for the log level verbosity (1: info, 2-4: debug, 5+: trace).";
    "vmodule" => "logging.vmodule", Kind::Str, "", Refused, "Comma-separated list of pattern=N settings for file-filtered logging.";
    "watch-cache" => "storage.watch-cache", Kind::Bool, "true", Refused, "Enable watch caching in the apiserver (capstan always caches).";
    "watch-cache-sizes" => "storage.watch-cache-sizes", Kind::List, "", Refused, "Watch cache size settings for some resources: resource[.group]#size.";
}

/// The row for a flag name (without `--`).
pub fn by_name(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// The row for a dotted config key.
pub fn by_key(key: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.key == key)
}

/// Whether `prefix` names a section (a proper prefix of some key), e.g. `etcd` or `audit.log`.
pub fn is_section(prefix: &str) -> bool {
    FLAGS
        .iter()
        .any(|f| f.key.len() > prefix.len() && f.key.starts_with(prefix) && f.key.as_bytes()[prefix.len()] == b'.')
}

/// Edit distance, for "did you mean" suggestions.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

/// "did you mean" for an unknown flag name.
pub fn suggest_flag(name: &str) -> Option<&'static str> {
    closest(name, FLAGS.iter().map(|f| f.name))
}

/// "did you mean" for an unknown config key (full dotted path).
pub fn suggest_key(key: &str) -> Option<&'static str> {
    if let Some(f) = by_name(key) {
        // Someone wrote the flag name as a key: point at the key that flag maps to.
        return Some(f.key);
    }
    closest(key, FLAGS.iter().map(|f| f.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_keys_unique() {
        for w in FLAGS.windows(2) {
            assert!(w[0].name < w[1].name, "{} must sort before {}", w[0].name, w[1].name);
        }
        let mut keys: Vec<&str> = FLAGS.iter().map(|f| f.key).collect();
        keys.sort();
        for w in keys.windows(2) {
            assert_ne!(w[0], w[1], "duplicate config key");
        }
        // No key may also be a section (a value and a table at the same path).
        for f in FLAGS {
            assert!(!is_section(f.key), "{} is both a key and a section", f.key);
        }
    }

    #[test]
    fn env_var_names() {
        assert_eq!(
            by_name("etcd-servers").map(|f| f.env_var()).as_deref(),
            Some("CAPSTAN_ETCD__SERVERS")
        );
        assert_eq!(
            by_name("secure-port").map(|f| f.env_var()).as_deref(),
            Some("CAPSTAN_SECURE_PORT")
        );
        assert_eq!(
            by_name("audit-log-maxage").map(|f| f.env_var()).as_deref(),
            Some("CAPSTAN_AUDIT__LOG__MAXAGE")
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_flag("secure-prot"), Some("secure-port"));
        assert_eq!(suggest_flag("etcd-server"), Some("etcd-servers"));
        assert_eq!(suggest_flag("completely-unrelated-thing"), None);
        assert_eq!(suggest_key("secure-prot"), Some("secure-port"));
        assert_eq!(suggest_key("etcd.server"), Some("etcd.servers"));
        assert_eq!(suggest_key("etcd-servers"), Some("etcd.servers"));
    }
}
