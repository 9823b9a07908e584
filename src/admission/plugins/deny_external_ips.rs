//! DenyServiceExternalIPs: no new `spec.externalIPs` on Services; an update may keep or drop
//! the addresses it already had (upstream's mitigation of CVE-2020-8554).

use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use serde_json::Value;

pub struct DenyServiceExternalIPs;

fn external_ips(svc: Option<&Value>) -> Vec<&str> {
    svc.and_then(|s| s.pointer("/spec/externalIPs"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Every address of the new Service was already on the old one (none is a subset of anything).
fn is_subset(new: Option<&Value>, old: Option<&Value>) -> bool {
    let new = external_ips(new);
    if new.is_empty() {
        return true;
    }
    if old.is_none() {
        return false;
    }
    let old = external_ips(old);
    new.iter().all(|ip| old.contains(ip))
}

#[async_trait::async_trait]
impl Plugin for DenyServiceExternalIPs {
    fn name(&self) -> &'static str {
        "DenyServiceExternalIPs"
    }
    async fn validate(&self, a: &Attributes, _env: &Env<'_>) -> ApiResult<()> {
        if !a.is_core("Service")
            || !a.subresource.is_empty()
            || !matches!(a.operation, Operation::Create | Operation::Update)
        {
            return Ok(());
        }
        if is_subset(a.object.as_ref(), a.old.as_ref()) {
            return Ok(());
        }
        Err(a.forbidden("Use of external IPs is denied by admission control"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ips: &[&str]) -> Value {
        json!({"spec": {"externalIPs": ips}})
    }

    /// Upstream's TestAdmission table.
    #[test]
    fn only_known_addresses_pass() {
        let none = json!({"spec": {}});
        assert!(is_subset(Some(&none), None));
        assert!(!is_subset(Some(&svc(&["1.1.1.1"])), None));
        assert!(is_subset(Some(&none), Some(&svc(&["1.1.1.1"]))));
        assert!(is_subset(Some(&svc(&["1.1.1.1"])), Some(&svc(&["1.1.1.1", "2.2.2.2"]))));
        assert!(is_subset(
            Some(&svc(&["2.2.2.2", "1.1.1.1"])),
            Some(&svc(&["1.1.1.1", "2.2.2.2"]))
        ));
        assert!(!is_subset(
            Some(&svc(&["1.1.1.1", "3.3.3.3"])),
            Some(&svc(&["1.1.1.1"]))
        ));
        assert!(!is_subset(Some(&svc(&["1.1.1.1"])), Some(&none)));
    }
}
