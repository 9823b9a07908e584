//! `spec.securityContext.sysctls` of a pod, as upstream's `validateSysctls`: names in the
//! kernel's dotted or slashed form, no duplicates, and no namespaced sysctl on a pod that
//! shares that namespace with the host.

use crate::error::field::{FieldError, FieldErrors};
use crate::util::json::JsonExt;
use regex::Regex;
use serde_json::Value;
use std::sync::OnceLock;

const MAX_LENGTH: usize = 253;
/// Upstream's `SysctlContainSlashFmt`, anchored (its message quotes it so).
const PATTERN: &str = r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

fn valid_name(name: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    name.len() <= MAX_LENGTH
        && RE
            .get_or_init(|| Regex::new(PATTERN).expect("sysctl pattern"))
            .is_match(name)
}

/// The kernel namespace a sysctl lives in (component-helpers' `GetNamespace`).
#[derive(Debug, PartialEq, Eq)]
enum Namespace {
    Ipc,
    Net,
    Unknown,
}

/// `net/ipv4/conf/eno2.100/rp_filter` → `net.ipv4.conf.eno2/100.rp_filter`.
fn normalize(name: &str) -> String {
    match name.find(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'/' => name
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => name.to_string(),
    }
}

fn namespace_of(name: &str) -> Namespace {
    let mut n = normalize(name);
    if let Some(i) = n.find('*') {
        n.truncate(i);
    }
    const IPC: &[&str] = &[
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.shm",
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.msg",
    ];
    if IPC.contains(&n.as_str()) || n.starts_with("fs.mqueue.") {
        Namespace::Ipc
    } else if n.starts_with("net.") {
        Namespace::Net
    } else {
        Namespace::Unknown
    }
}

/// Validate the pod's sysctls. `host_sysctls_allowed`: an update of a pod that already had a
/// namespaced sysctl with host networking/IPC (upstream keeps such pods updatable).
pub fn validate(spec: &Value, path: &str, host_sysctls_allowed: bool, errs: &mut FieldErrors) {
    let Some(list) = spec.pointer("/securityContext/sysctls").and_then(Value::as_array) else {
        return;
    };
    let host_network = spec.pointer("/hostNetwork").and_then(Value::as_bool).unwrap_or(false);
    let host_ipc = spec.pointer("/hostIPC").and_then(Value::as_bool).unwrap_or(false);
    let mut seen = std::collections::HashSet::new();
    for (i, s) in list.iter().enumerate() {
        let field = format!("{path}.securityContext.sysctls[{i}].name");
        let name = s.str_of("name");
        if name.is_empty() {
            errs.push(FieldError::required(&field, ""));
        } else if !valid_name(name) {
            errs.push(FieldError::invalid(
                &field,
                name,
                format!("must have at most {MAX_LENGTH} characters and match regex {PATTERN}"),
            ));
        } else if seen.contains(name) {
            errs.push(FieldError::duplicate(&field, name));
        }
        if !host_sysctls_allowed {
            match namespace_of(name) {
                Namespace::Net if host_network => errs.push(FieldError::invalid(
                    &field,
                    name,
                    "may not be specified when 'hostNetwork' is true",
                )),
                Namespace::Ipc if host_ipc => errs.push(FieldError::invalid(
                    &field,
                    name,
                    "may not be specified when 'hostIPC' is true",
                )),
                _ => {}
            }
        }
        seen.insert(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&spec, "spec", false, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    /// The names of upstream's "should reject invalid sysctls" conformance test.
    #[test]
    fn invalid_names_are_rejected_and_valid_ones_kept() {
        let spec = json!({"securityContext": {"sysctls": [
            {"name": "foo-", "value": "bar"},
            {"name": "kernel.shmmax", "value": "100000000"},
            {"name": "safe-and-unsafe", "value": "100000000"},
            {"name": "bar..", "value": "42"},
        ]}});
        let errs = errors(spec).join("\n");
        assert!(errs.contains(r#"Invalid value: "foo-""#), "{errs}");
        assert!(errs.contains(r#"Invalid value: "bar..""#), "{errs}");
        assert!(
            !errs.contains("safe-and-unsafe") && !errs.contains("kernel.shmmax"),
            "{errs}"
        );
    }

    #[test]
    fn duplicates_and_host_namespaces() {
        let spec = json!({"hostNetwork": true, "hostIPC": true, "securityContext": {"sysctls": [
            {"name": "net/ipv4/ip_forward", "value": "1"},
            {"name": "kernel.msgmax", "value": "1"},
            {"name": "kernel.msgmax", "value": "2"},
            {"name": "vm.swappiness", "value": "1"},
        ]}});
        let errs = errors(spec);
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(
            errs[0].contains("may not be specified when 'hostNetwork' is true"),
            "{errs:?}"
        );
        assert!(errs[2].contains("Duplicate value"), "{errs:?}");
    }
}
