//! PodSecurity (Pod Security Admission): the namespace labels
//! `pod-security.kubernetes.io/{enforce,audit,warn}[-version]` pick a level (privileged,
//! baseline, restricted); pods violating the enforce level are rejected with upstream's
//! `violates PodSecurity "<level>:<version>": <check> (<detail>), ...` message, warn
//! violations become Warning headers, audit violations audit annotations. Workload templates
//! are only warned/audited, as upstream. Defaults and exemptions come from the plugin's
//! AdmissionConfiguration (`defaults`, `exemptions.{usernames,namespaces,runtimeClasses}`).

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::Value;

pub struct PodSecurity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// One failed check: reason and detail, as upstream's CheckResult.
pub type Failure = (String, String);

const DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const RESTRICTED_VOLUMES_OK: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// `container "a"` / `containers "a", "b"`.
fn containers_phrase(names: &[String]) -> String {
    if names.len() == 1 {
        format!("container {}", quoted(names))
    } else {
        format!("containers {}", quoted(names))
    }
}

fn sc<'a>(c: &'a Value, field: &str) -> Option<&'a Value> {
    c.get("securityContext").and_then(|s| s.get(field))
}

/// Evaluate a pod spec (with its metadata) against a level; failures in upstream's order
/// (baseline checks, then restricted ones, each by check ID).
pub fn evaluate(level: Level, spec: &Value) -> Vec<Failure> {
    let mut out: Vec<Failure> = Vec::new();
    if level == Level::Privileged {
        return out;
    }
    let all: Vec<&Value> = super::containers(spec).into_iter().map(|(_, _, c)| c).collect();
    let name = |c: &Value| c.str_of("name").to_string();
    let restricted = level == Level::Restricted;
    // capabilities_baseline (overridden by capabilities_restricted)
    if !restricted {
        let mut who = Vec::new();
        let mut caps = Vec::new();
        for c in &all {
            let mut bad = false;
            for cap in sc(c, "capabilities")
                .and_then(|x| x.get("add"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let cap = cap.as_str().unwrap_or("").to_string();
                if !DEFAULT_CAPS.contains(&cap.as_str()) {
                    bad = true;
                    if !caps.contains(&cap) {
                        caps.push(cap);
                    }
                }
            }
            if bad {
                who.push(name(c));
            }
        }
        if !who.is_empty() {
            out.push((
                "non-default capabilities".into(),
                format!(
                    "{} must not include {} in securityContext.capabilities.add",
                    containers_phrase(&who),
                    quoted(&caps)
                ),
            ));
        }
    }
    // hostNamespaces
    let hosts: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|f| spec.get(**f).and_then(Value::as_bool) == Some(true))
        .map(|f| format!("{f}=true"))
        .collect();
    if !hosts.is_empty() {
        out.push(("host namespaces".into(), hosts.join(", ")));
    }
    // hostPathVolumes
    let vols = spec
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let host_paths: Vec<String> = vols
        .iter()
        .filter(|v| v.get("hostPath").is_some())
        .map(|v| v.str_at("/name").to_string())
        .collect();
    if !host_paths.is_empty() {
        let noun = if host_paths.len() == 1 { "volume" } else { "volumes" };
        out.push(("hostPath volumes".into(), format!("{noun} {}", quoted(&host_paths))));
    }
    // hostPorts
    let mut who = Vec::new();
    let mut ports = Vec::new();
    for c in &all {
        let mut uses = false;
        for p in c.get("ports").and_then(Value::as_array).into_iter().flatten() {
            if let Some(hp) = p.get("hostPort").and_then(Value::as_i64).filter(|p| *p != 0) {
                uses = true;
                let s = hp.to_string();
                if !ports.contains(&s) {
                    ports.push(s);
                }
            }
        }
        if uses {
            who.push(name(c));
        }
    }
    if !who.is_empty() {
        let (verb, noun) = if who.len() == 1 {
            ("uses", if ports.len() == 1 { "hostPort" } else { "hostPorts" })
        } else {
            ("use", "hostPorts")
        };
        out.push((
            "hostPort".into(),
            format!("{} {verb} {noun} {}", containers_phrase(&who), ports.join(", ")),
        ));
    }
    // privileged
    let who: Vec<String> = all
        .iter()
        .filter(|c| sc(c, "privileged").and_then(Value::as_bool) == Some(true))
        .map(|c| name(c))
        .collect();
    if !who.is_empty() {
        out.push((
            "privileged".into(),
            format!(
                "{} must not set securityContext.privileged=true",
                containers_phrase(&who)
            ),
        ));
    }
    // procMount
    let who: Vec<String> = all
        .iter()
        .filter(|c| {
            sc(c, "procMount")
                .and_then(Value::as_str)
                .is_some_and(|p| p != "Default")
        })
        .map(|c| name(c))
        .collect();
    if !who.is_empty() {
        out.push((
            "procMount".into(),
            format!(
                "{} must not set securityContext.procMount to \"Unmasked\"",
                containers_phrase(&who)
            ),
        ));
    }
    // seccompProfile_baseline (overridden by the restricted check)
    let seccomp = |v: &Value| v.opt_str_at("/securityContext/seccompProfile/type").map(str::to_string);
    if !restricted {
        let mut parts = Vec::new();
        if seccomp(spec).as_deref() == Some("Unconfined") {
            parts.push("pod must not set securityContext.seccompProfile.type to \"Unconfined\"".to_string());
        }
        let who: Vec<String> = all
            .iter()
            .filter(|c| seccomp(c).as_deref() == Some("Unconfined"))
            .map(|c| name(c))
            .collect();
        if !who.is_empty() {
            parts.push(format!(
                "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
                containers_phrase(&who)
            ));
        }
        if !parts.is_empty() {
            out.push(("seccompProfile".into(), parts.join("; ")));
        }
    }
    // sysctls
    let bad: Vec<String> = spec
        .arr_at("/securityContext/sysctls")
        .iter()
        .map(|s| s.str_at("/name").to_string())
        .filter(|n| !SAFE_SYSCTLS.contains(&n.as_str()))
        .collect();
    if !bad.is_empty() {
        out.push(("forbidden sysctls".into(), bad.join(", ")));
    }
    if !restricted {
        return out;
    }
    // allowPrivilegeEscalation
    let who: Vec<String> = all
        .iter()
        .filter(|c| sc(c, "allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false))
        .map(|c| name(c))
        .collect();
    if !who.is_empty() {
        out.push((
            "allowPrivilegeEscalation != false".into(),
            format!(
                "{} must set securityContext.allowPrivilegeEscalation=false",
                containers_phrase(&who)
            ),
        ));
    }
    // capabilities_restricted
    let mut no_drop = Vec::new();
    let mut adders = Vec::new();
    let mut added = Vec::new();
    for c in &all {
        let caps = sc(c, "capabilities");
        let drops_all = caps
            .and_then(|x| x.get("drop"))
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "ALL"));
        if !drops_all {
            no_drop.push(name(c));
        }
        let mut bad = false;
        for cap in caps
            .and_then(|x| x.get("add"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cap = cap.as_str().unwrap_or("").to_string();
            if cap != "NET_BIND_SERVICE" {
                bad = true;
                if !added.contains(&cap) {
                    added.push(cap);
                }
            }
        }
        if bad {
            adders.push(name(c));
        }
    }
    let mut parts = Vec::new();
    if !no_drop.is_empty() {
        parts.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&no_drop)
        ));
    }
    if !adders.is_empty() {
        parts.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adders),
            quoted(&added)
        ));
    }
    if !parts.is_empty() {
        out.push(("unrestricted capabilities".into(), parts.join("; ")));
    }
    // restrictedVolumes
    let mut parts = Vec::new();
    for v in &vols {
        if let Some(t) = v.as_object().and_then(|m| m.keys().find(|k| *k != "name")) {
            if !RESTRICTED_VOLUMES_OK.contains(&t.as_str()) {
                parts.push(format!(
                    "volume {:?} uses restricted volume type {t:?}",
                    v.str_at("/name")
                ));
            }
        }
    }
    if !parts.is_empty() {
        out.push(("restricted volume types".into(), parts.join("; ")));
    }
    // runAsNonRoot
    let pod_nonroot = spec.bool_at("/securityContext/runAsNonRoot");
    let mut parts = Vec::new();
    if pod_nonroot == Some(false) {
        parts.push("pod must not set securityContext.runAsNonRoot=false".to_string());
    }
    let explicit_false: Vec<String> = all
        .iter()
        .filter(|c| sc(c, "runAsNonRoot").and_then(Value::as_bool) == Some(false))
        .map(|c| name(c))
        .collect();
    if !explicit_false.is_empty() {
        parts.push(format!(
            "{} must not set securityContext.runAsNonRoot=false",
            containers_phrase(&explicit_false)
        ));
    }
    if pod_nonroot != Some(true) {
        let unset: Vec<String> = all
            .iter()
            .filter(|c| sc(c, "runAsNonRoot").and_then(Value::as_bool).is_none())
            .map(|c| name(c))
            .collect();
        if !unset.is_empty() && pod_nonroot.is_none() {
            parts.push(format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&unset)
            ));
        }
    }
    if !parts.is_empty() {
        out.push(("runAsNonRoot != true".into(), parts.join("; ")));
    }
    // runAsUser
    let mut parts = Vec::new();
    if spec.i64_at("/securityContext/runAsUser") == Some(0) {
        parts.push("pod must not set runAsUser=0".to_string());
    }
    let zero: Vec<String> = all
        .iter()
        .filter(|c| sc(c, "runAsUser").and_then(Value::as_i64) == Some(0))
        .map(|c| name(c))
        .collect();
    if !zero.is_empty() {
        parts.push(format!("{} must not set runAsUser=0", containers_phrase(&zero)));
    }
    if !parts.is_empty() {
        out.push(("runAsUser=0".into(), parts.join("; ")));
    }
    // seccompProfile_restricted
    let ok = |t: Option<String>| matches!(t.as_deref(), Some("RuntimeDefault") | Some("Localhost"));
    let pod_t = seccomp(spec);
    let mut parts = Vec::new();
    if pod_t.as_deref() == Some("Unconfined") {
        parts.push("pod must not set securityContext.seccompProfile.type to \"Unconfined\"".to_string());
    }
    let bad: Vec<String> = all
        .iter()
        .filter(|c| seccomp(c).is_some_and(|t| !ok(Some(t))))
        .map(|c| name(c))
        .collect();
    if !bad.is_empty() {
        parts.push(format!(
            "{} must not set securityContext.seccompProfile.type to \"Unconfined\"",
            containers_phrase(&bad)
        ));
    }
    if !ok(pod_t) {
        let unset: Vec<String> = all.iter().filter(|c| seccomp(c).is_none()).map(|c| name(c)).collect();
        if !unset.is_empty() {
            parts.push(format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&unset)
            ));
        }
    }
    if !parts.is_empty() {
        out.push(("seccompProfile".into(), parts.join("; ")));
    }
    out
}

pub fn render(failures: &[Failure]) -> String {
    failures
        .iter()
        .map(|(r, d)| if d.is_empty() { r.clone() } else { format!("{r} ({d})") })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pod spec inside an object: a pod's own, or a workload's template.
fn pod_spec<'a>(a: &Attributes, obj: &'a Value) -> Option<(&'a Value, bool)> {
    let (g, k) = (a.def.group, a.def.kind);
    match (g, k) {
        ("", "Pod") => Some((obj.get("spec")?, true)),
        ("", "ReplicationController") | ("apps", _) | ("batch", "Job") => {
            Some((obj.pointer("/spec/template/spec")?, false))
        }
        ("", "PodTemplate") => Some((obj.pointer("/template/spec")?, false)),
        ("batch", "CronJob") => Some((obj.pointer("/spec/jobTemplate/spec/template/spec")?, false)),
        _ => None,
    }
}

struct Policy {
    mode: &'static str,
    level: Level,
    version: String,
}

fn policies(ns: &Value, defaults: &Value) -> Vec<Policy> {
    let labels = ns.pointer("/metadata/labels");
    let get = |k: &str| {
        labels
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut out = Vec::new();
    for mode in ["enforce", "audit", "warn"] {
        let level = get(&format!("pod-security.kubernetes.io/{mode}"))
            .or_else(|| defaults.get(mode).and_then(Value::as_str).map(str::to_string))
            .and_then(|l| Level::parse(&l))
            .unwrap_or(Level::Privileged);
        let version = get(&format!("pod-security.kubernetes.io/{mode}-version"))
            .or_else(|| {
                defaults
                    .get(format!("{mode}-version"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "latest".into());
        out.push(Policy { mode, level, version });
    }
    out
}

fn listed(cfg: &Value, key: &str, v: &str) -> bool {
    cfg.pointer(&format!("/exemptions/{key}"))
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(v)))
}

#[async_trait::async_trait]
impl Plugin for PodSecurity {
    fn name(&self) -> &'static str {
        "PodSecurity"
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        let relevant = match a.operation {
            Operation::Create => a.subresource.is_empty(),
            Operation::Update => {
                a.subresource == "ephemeralcontainers" || (a.subresource.is_empty() && !a.is_core("Pod"))
            }
            _ => false,
        };
        if !relevant || a.namespace.is_empty() {
            return Ok(());
        }
        let Some(obj) = a.object.as_ref() else { return Ok(()) };
        let Some((spec, is_pod)) = pod_spec(a, obj) else {
            return Ok(());
        };
        if let Some(old) = a.old.as_ref().and_then(|o| pod_spec(a, o)) {
            if old.0 == spec {
                return Ok(()); // metadata-only updates are not re-evaluated
            }
        }
        let cfg = env.plugin_config("PodSecurity");
        // Exempt requests carry the reason as an audit annotation (upstream's `exempt`).
        for (key, reason, v) in [
            ("namespaces", "namespace", a.namespace.as_str()),
            ("usernames", "user", a.user.name.as_str()),
            ("runtimeClasses", "runtimeClass", spec.str_at("/runtimeClassName")),
        ] {
            if listed(&cfg, key, v) {
                env.ctx.annotate("pod-security.kubernetes.io/exempt", reason);
                return Ok(());
            }
        }
        let Some(ns) = env.get("", "namespaces", None, &a.namespace).await? else {
            return Ok(());
        };
        let defaults = cfg.get("defaults").cloned().unwrap_or(Value::Null);
        let all = policies(&ns, &defaults);
        if is_pod {
            // The enforced policy of every evaluated pod (`<level>:<version>`).
            if let Some(p) = all.iter().find(|p| p.mode == "enforce") {
                env.ctx.annotate(
                    "pod-security.kubernetes.io/enforce-policy",
                    format!("{}:{}", p.level.as_str(), p.version),
                );
            }
        }
        for p in all {
            let failures = evaluate(p.level, spec);
            if failures.is_empty() {
                continue;
            }
            let tag = format!("{}:{}", p.level.as_str(), p.version);
            let text = render(&failures);
            match p.mode {
                "enforce" if is_pod => {
                    return Err(a.forbidden(&format!("violates PodSecurity {tag:?}: {text}")));
                }
                "enforce" | "warn" => {
                    let w = format!("would violate PodSecurity {tag:?}: {text}");
                    if !env.ctx.warnings().contains(&w) {
                        env.ctx.warn(w);
                    }
                }
                _ => env.ctx.annotate(
                    "pod-security.kubernetes.io/audit-violations",
                    format!("would violate PodSecurity {tag:?}: {text}"),
                ),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restricted_privileged_pod_message() {
        let spec = json!({"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]});
        assert_eq!(
            render(&evaluate(Level::Restricted, &spec)),
            "privileged (container \"c\" must not set securityContext.privileged=true), \
allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), \
runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), \
seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
        assert_eq!(
            render(&evaluate(Level::Baseline, &spec)),
            "privileged (container \"c\" must not set securityContext.privileged=true)"
        );
        assert!(evaluate(Level::Privileged, &spec).is_empty());
    }

    #[test]
    fn restricted_compliant_pod_passes() {
        let spec = json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]});
        assert!(evaluate(Level::Restricted, &spec).is_empty());
        let host = json!({"hostNetwork": true, "volumes": [{"name": "h", "hostPath": {"path": "/"}}], "containers": [{"name": "a"}, {"name": "b", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}]});
        assert_eq!(
            render(&evaluate(Level::Baseline, &host)),
            "non-default capabilities (container \"b\" must not include \"NET_ADMIN\" in securityContext.capabilities.add), host namespaces (hostNetwork=true), hostPath volumes (volume \"h\")"
        );
    }
}
