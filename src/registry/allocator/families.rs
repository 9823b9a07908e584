//! IP family fields of a Service (upstream `initIPFamilyFields`): `ipFamilyPolicy` defaulted,
//! `ipFamilies` filled from the requested cluster IPs and the cluster's configured ranges, and
//! the policy/family combinations this cluster cannot serve rejected.

use super::errors::{go_string_slice, invalid, invalid_raw};
use super::fields::{
    family_of, has_selector, is_headless, name_of, other_family, policy, set_str_list, spec_mut, str_list, svc_type,
};
use super::ServiceAllocators;
use crate::error::field::FieldError;
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

impl ServiceAllocators {
    /// `initIPFamilyFields`.
    pub(super) fn init_ip_families(&self, svc: &mut Value, old: Option<&Value>) -> ApiResult<()> {
        if svc_type(svc) == "ExternalName" {
            return Ok(());
        }
        let name = name_of(svc);
        // clusterIP and clusterIPs[0] are the same field (v1 conversion keeps them in step).
        let cip = svc.str_at("/spec/clusterIP").to_string();
        let mut cips = str_list(svc, "clusterIPs");
        if cips.is_empty() && !cip.is_empty() {
            cips = vec![cip.clone()];
            set_str_list(svc, "clusterIPs", &cips);
        } else if cip.is_empty() && !cips.is_empty() {
            let first = cips[0].clone();
            spec_mut(svc).insert("clusterIP".into(), json!(first));
        }
        if let Some(old) = old {
            if matching_prefer_dual_stack(svc, old) {
                return Ok(());
            }
        }
        if policy(svc).is_none() {
            let p = match old.and_then(policy) {
                Some(p) => p,
                None if is_headless(svc) && !has_selector(svc) => "RequireDualStack".into(),
                None => "SingleStack".into(),
            };
            spec_mut(svc).insert("ipFamilyPolicy".into(), json!(p));
        }
        let pol = policy(svc).unwrap_or_default();
        let mut errs: Vec<FieldError> = Vec::new();
        if let Some(old) = old {
            if pol == "SingleStack" {
                if str_list(old, "clusterIPs") == str_list(svc, "clusterIPs") && str_list(svc, "clusterIPs").len() > 1 {
                    let first = str_list(svc, "clusterIPs")[..1].to_vec();
                    set_str_list(svc, "clusterIPs", &first);
                }
                if str_list(old, "ipFamilies") == str_list(svc, "ipFamilies") && str_list(svc, "ipFamilies").len() > 1 {
                    let first = str_list(svc, "ipFamilies")[..1].to_vec();
                    set_str_list(svc, "ipFamilies", &first);
                }
            } else {
                let reduced = |k: &str| {
                    let n = str_list(svc, k).len();
                    n != 0 && n < str_list(old, k).len()
                };
                if reduced("clusterIPs") {
                    errs.push(FieldError::invalid(
                        "spec.ipFamilyPolicy",
                        pol.clone(),
                        "must be 'SingleStack' to release the secondary cluster IP",
                    ));
                }
                if reduced("ipFamilies") {
                    errs.push(FieldError::invalid(
                        "spec.ipFamilyPolicy",
                        pol.clone(),
                        "must be 'SingleStack' to release the secondary IP family",
                    ));
                }
            }
        }
        let cips = str_list(svc, "clusterIPs");
        let mut fams = str_list(svc, "ipFamilies");
        if pol == "SingleStack" {
            if cips.len() == 2 {
                errs.push(FieldError::invalid(
                    "spec.ipFamilyPolicy",
                    pol.clone(),
                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
                ));
            }
            if fams.len() == 2 {
                errs.push(FieldError::invalid(
                    "spec.ipFamilyPolicy",
                    pol.clone(),
                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
                ));
            }
        }
        let mut raw_errs: Vec<(String, String)> = Vec::new();
        for (i, ip) in cips.iter().enumerate() {
            if ip == "None" {
                break;
            }
            let fam = family_of(ip);
            if i >= fams.len() {
                if self.ip_range(fam).is_none() {
                    raw_errs.push((
                        format!("spec.clusterIPs[{i}]"),
                        format!("{fam} is not configured on this cluster"),
                    ));
                } else {
                    fams.push(fam.to_string());
                }
            }
        }
        if let Some((field, detail)) = raw_errs.first() {
            return Err(invalid_raw(&name, field, &go_string_slice(&cips), detail));
        }
        if !errs.is_empty() {
            return Err(invalid(&name, &errs));
        }
        if is_headless(svc) && !has_selector(svc) {
            if fams.is_empty() {
                fams.push(self.default_family().to_string());
            }
            if fams.len() < 2 && pol != "SingleStack" {
                let alt = other_family(&fams[0]).to_string();
                fams.push(alt);
            }
            set_str_list(svc, "ipFamilies", &fams);
            return Ok(());
        }
        if pol == "RequireDualStack" && !self.dual_stack() {
            errs.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                pol.clone(),
                "this cluster is not configured for dual-stack services",
            ));
        }
        for (i, f) in fams.iter().enumerate() {
            if self.ip_range(f).is_none() {
                errs.push(FieldError::invalid(
                    format!("spec.ipFamilies[{i}]"),
                    f.clone(),
                    "not configured on this cluster",
                ));
            }
        }
        if !errs.is_empty() {
            return Err(invalid(&name, &errs));
        }
        if fams.is_empty() {
            fams.push(self.default_family().to_string());
        }
        if pol != "SingleStack" && fams.len() == 1 && self.dual_stack() {
            let alt = other_family(&fams[0]).to_string();
            fams.push(alt);
        }
        set_str_list(svc, "ipFamilies", &fams);
        Ok(())
    }
}

/// `isMatchingPreferDualStackClusterIPFields`.
pub(super) fn matching_prefer_dual_stack(svc: &Value, old: &Value) -> bool {
    let Some(p) = policy(svc) else { return false };
    if svc_type(old) != svc_type(svc) || !matches!(svc_type(svc), "ClusterIP" | "NodePort" | "LoadBalancer") {
        return false;
    }
    if p != "PreferDualStack" || policy(old).is_some_and(|o| o != "PreferDualStack") {
        return false;
    }
    str_list(old, "clusterIPs") == str_list(svc, "clusterIPs")
        && str_list(old, "ipFamilies") == str_list(svc, "ipFamilies")
}
