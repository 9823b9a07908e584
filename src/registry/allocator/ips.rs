//! ClusterIP allocation: requested IPs checked against the ranges, free IPs picked from the
//! dynamic band first (the primary range's first IP is kept for the `kubernetes` Service),
//! dual-stack upgrades and downgrades on update, and release.

use super::addresses::Claim;
use super::errors::{go_string_slice, invalid_raw, ip_error_text, AllocError};
use super::families::matching_prefer_dual_stack;
use super::fields::{cluster_ips, is_headless, name_of, set_str_list, spec_mut, str_list, svc_type};
use super::range::Range;
use super::ServiceAllocators;
use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::net::IpAddr;

/// Free IPs tried when IPAddress objects of other parents hold the ones picked.
const CLAIM_ATTEMPTS: usize = 16;

impl ServiceAllocators {
    /// Allocate (or, dry run, check) one IP per (family, requested-or-empty).
    async fn alloc_ips(&self, svc: &Value, wanted: &[(String, String)], dry_run: bool) -> ApiResult<Vec<IpAddr>> {
        let name = name_of(svc);
        let mut done: Vec<IpAddr> = Vec::new();
        for (family, want) in wanted {
            let res = self.alloc_ip(svc, &name, family, want, dry_run).await;
            match res {
                Ok(ip) => done.push(ip),
                Err(e) => {
                    if !dry_run {
                        self.release_ips(&done).await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    async fn alloc_ip(&self, svc: &Value, name: &str, family: &str, want: &str, dry_run: bool) -> ApiResult<IpAddr> {
        let Some(p) = self.ip_range(family) else {
            return Err(ApiError::internal(format!("no allocator for IP family {family}")));
        };
        if want.is_empty() {
            if dry_run {
                // Upstream's dry-run allocator hands out the network address without looking.
                return Ok(p.range.network_ip());
            }
            let reserve = p.reserve_first;
            for _ in 0..CLAIM_ATTEMPTS {
                let ip = p
                    .modify(self.storage(), |r, b| match b.take_free(r, reserve) {
                        Some(off) => Ok(r.ip_at(off)),
                        None => Err(ApiError::internal(format!(
                            "failed to allocate a serviceIP: {}",
                            ip_error_text(&AllocError::Full, r.network_ip(), r)
                        ))),
                    })
                    .await?;
                match self.claim_address(svc, ip).await {
                    Ok(Claim::Ours) => return Ok(ip),
                    // An IPAddress of another parent holds it: its bit stays set; pick again.
                    Ok(Claim::Taken) => continue,
                    Err(e) => {
                        self.release_ips(&[ip]).await;
                        return Err(e);
                    }
                }
            }
            return Err(ApiError::internal(format!(
                "failed to allocate a serviceIP: {}",
                ip_error_text(&AllocError::Allocated, p.range.network_ip(), &p.range)
            )));
        }
        let Ok(ip) = want.parse::<IpAddr>() else {
            return Err(ApiError::internal(format!("failed to parse service IP {want:?}")));
        };
        let cips = str_list(svc, "clusterIPs");
        let fail = |e: AllocError, r: &Range| {
            invalid_raw(
                name,
                "spec.clusterIPs",
                &go_string_slice(&cips),
                &format!("failed to allocate IP {want}: {}", ip_error_text(&e, ip, r)),
            )
        };
        if dry_run {
            // Upstream's dry run only checks the range.
            return match p.range.ip_offset(ip) {
                Some(_) => Ok(ip),
                None => Err(fail(AllocError::NotInRange, &p.range)),
            };
        }
        p.modify(self.storage(), |r, b| match b.take(r.ip_offset(ip)) {
            Ok(_) => Ok(ip),
            Err(e) => Err(fail(e, r)),
        })
        .await?;
        match self.claim_address(svc, ip).await {
            Ok(Claim::Ours) => Ok(ip),
            // Held by an IPAddress of another parent: taken (its bit stays set).
            Ok(Claim::Taken) => Err(fail(AllocError::Allocated, &p.range)),
            Err(e) => {
                self.release_ips(&[ip]).await;
                Err(e)
            }
        }
    }

    pub(super) async fn release_ips(&self, ips: &[IpAddr]) {
        for p in &self.ips {
            let offs: Vec<usize> = ips.iter().filter_map(|ip| p.range.ip_offset(*ip)).collect();
            if offs.is_empty() {
                continue;
            }
            if let Err(e) = p.clear(self.storage(), &offs).await {
                tracing::error!(range = p.key, error = %e, "failed to release service IPs; the repair will free them");
            }
        }
        self.drop_addresses(ips).await;
    }

    /// `allocClusterIPs`: fill `clusterIPs`/`clusterIP` for the service's families.
    pub(super) async fn alloc_cluster_ips(&self, svc: &mut Value, dry_run: bool) -> ApiResult<Vec<IpAddr>> {
        if svc_type(svc) == "ExternalName" || is_headless(svc) {
            return Ok(Vec::new());
        }
        let fams = str_list(svc, "ipFamilies");
        let mut cips = str_list(svc, "clusterIPs");
        while cips.len() < fams.len() {
            cips.push(String::new());
        }
        set_str_list(svc, "clusterIPs", &cips);
        let wanted: Vec<(String, String)> = fams.iter().cloned().zip(cips.iter().cloned()).collect();
        let got = self.alloc_ips(svc, &wanted, dry_run).await?;
        for (i, ip) in got.iter().enumerate() {
            if cips[i].is_empty() {
                cips[i] = ip.to_string();
            }
        }
        set_str_list(svc, "clusterIPs", &cips);
        if let Some(first) = cips.first() {
            spec_mut(svc).insert("clusterIP".into(), json!(first));
        }
        // A dry run reserved nothing; report only what must be rolled back.
        Ok(if dry_run { Vec::new() } else { got })
    }

    /// `updateClusterIPs`: (newly allocated, to release after success).
    pub(super) async fn update_cluster_ips(
        &self,
        old: &Value,
        svc: &mut Value,
        dry_run: bool,
    ) -> ApiResult<(Vec<IpAddr>, Vec<IpAddr>)> {
        if matching_prefer_dual_stack(svc, old) {
            return Ok((Vec::new(), Vec::new()));
        }
        // A: ExternalName -> a type with cluster IPs.
        if svc_type(old) == "ExternalName" && svc_type(svc) != "ExternalName" {
            let got = self.alloc_cluster_ips(svc, dry_run).await?;
            return Ok((got, Vec::new()));
        }
        if is_headless(old) {
            return Ok((Vec::new(), Vec::new()));
        }
        // B: to ExternalName: release everything.
        if svc_type(old) != "ExternalName" && svc_type(svc) == "ExternalName" {
            return Ok((Vec::new(), cluster_ips(old)));
        }
        let old_fams = str_list(old, "ipFamilies");
        let new_fams = str_list(svc, "ipFamilies");
        // C: upgrade to dual-stack.
        if old_fams.len() == 1 && new_fams.len() == 2 {
            let mut cips = str_list(svc, "clusterIPs");
            if cips.len() < 2 {
                cips.push(String::new());
                set_str_list(svc, "clusterIPs", &cips);
            }
            let wanted = vec![(new_fams[1].clone(), cips[1].clone())];
            let got = self.alloc_ips(svc, &wanted, dry_run).await?;
            if let Some(ip) = got.first() {
                if cips[1].is_empty() {
                    cips[1] = ip.to_string();
                }
                set_str_list(svc, "clusterIPs", &cips);
            }
            return Ok((if dry_run { Vec::new() } else { got }, Vec::new()));
        }
        // D: downgrade: release the secondary IP.
        if old_fams.len() == 2 && new_fams.len() == 1 {
            let old_ips = str_list(old, "clusterIPs");
            let second = old_ips.get(1).and_then(|s| s.parse::<IpAddr>().ok());
            return Ok((Vec::new(), second.into_iter().collect()));
        }
        Ok((Vec::new(), Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fields::{family_of, str_list};
    use super::super::fixtures::{ip_svc, np_svc, store, svc};
    use super::super::ServiceAllocators;
    use crate::util::json::JsonExt;
    use serde_json::json;
    use std::net::IpAddr;

    #[tokio::test]
    async fn dynamic_allocation_prefers_upper_band_and_skips_first_ip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        for i in 0..200 {
            let mut s = np_svc(&format!("s{i}"));
            a.allocate_create(&mut s, false).await.expect("allocate");
            let ip: IpAddr = s["spec"]["clusterIP"].as_str().expect("ip").parse().expect("parse");
            let IpAddr::V4(v4) = ip else { panic!("v4") };
            assert!(v4.octets()[3] >= 17, "{ip} in the static band");
            let np = s["spec"]["ports"][0]["nodePort"].as_i64().expect("nodePort");
            assert!((30086..=32767).contains(&np), "{np} in the static band");
            assert_eq!(s["spec"]["clusterIPs"], json!([ip.to_string()]));
            assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
            assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        }
        // Upper band 10.0.0.17-254 has 238 addresses; the rest come from the static band, never .1.
        for i in 200..253 {
            let mut s = ip_svc(&format!("t{i}"));
            a.allocate_create(&mut s, false).await.expect("allocate");
            assert_ne!(s["spec"]["clusterIP"], "10.0.0.1");
        }
        let mut s = ip_svc("full");
        let e = a.allocate_create(&mut s, false).await.expect_err("full");
        assert_eq!(e.code, 500);
        assert_eq!(
            e.message,
            "Internal error occurred: failed to allocate a serviceIP: range is full"
        );
        // The kubernetes Service still gets the first IP.
        let mut k = svc("kubernetes", json!({"clusterIP": "10.0.0.1", "ports": [{"port": 443}]}));
        a.allocate_create(&mut k, false).await.expect("first ip");
        assert_eq!(a.first_service_ip().to_string(), "10.0.0.1");
    }

    #[tokio::test]
    async fn requested_ips_are_checked_with_upstream_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut s = svc("x", json!({"clusterIP": "1.1.1.1", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut s, false).await.expect_err("out of range");
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Service \"x\" is invalid: spec.clusterIPs: Invalid value: []string{\"1.1.1.1\"}: failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 10.0.0.0/24"
        );
        assert_eq!(
            e.details.as_ref().expect("details")["causes"][0]["field"],
            "spec.clusterIPs"
        );
        let mut s = svc("y", json!({"clusterIP": "10.0.0.10", "ports": [{"port": 80}]}));
        let got = a.allocate_create(&mut s, false).await.expect("in range");
        assert_eq!(got.ips, vec!["10.0.0.10".parse::<IpAddr>().expect("ip")]);
        let mut s = svc("z", json!({"clusterIP": "10.0.0.10", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut s, false).await.expect_err("taken");
        assert_eq!(
            e.message,
            "Service \"z\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.10\"}: failed to allocate IP 10.0.0.10: provided IP is already allocated"
        );
        // Broadcast is not in range.
        let mut s = svc("b", json!({"clusterIP": "10.0.0.255", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut s, false).await.expect_err("broadcast");
        assert!(e.message.ends_with(
            "the provided IP (10.0.0.255) is not in the valid range. The range of valid IPs is 10.0.0.0/24"
        ));
        // Family not configured.
        let mut s = svc("v6", json!({"clusterIP": "fd00::5", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut s, false).await.expect_err("v6");
        assert_eq!(
            e.message,
            "Service \"v6\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"fd00::5\"}: IPv6 is not configured on this cluster"
        );
        let mut s = svc(
            "rd",
            json!({"ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 80}]}),
        );
        let e = a.allocate_create(&mut s, false).await.expect_err("dual");
        assert_eq!(
            e.message,
            "Service \"rd\" is invalid: spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"
        );
    }

    #[tokio::test]
    async fn dual_stack_allocates_both_families() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24,fd00::/112", "30000-32767").expect("alloc");
        let mut s = svc(
            "d",
            json!({"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 80}]}),
        );
        let got = a.allocate_create(&mut s, false).await.expect("dual");
        assert_eq!(got.ips.len(), 2);
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        let cips = str_list(&s, "clusterIPs");
        assert_eq!(family_of(&cips[0]), "IPv4");
        assert_eq!(family_of(&cips[1]), "IPv6");
        let mut single = svc("s", json!({"ipFamilies": ["IPv6"], "ports": [{"port": 80}]}));
        a.allocate_create(&mut single, false).await.expect("v6 only");
        assert_eq!(family_of(single.str_at("/spec/clusterIP")), "IPv6");
        let st = a.storage.clone();
        assert!(ServiceAllocators::new(st.clone(), "10.0.0.0/24,10.1.0.0/24", "").is_err());
        assert!(ServiceAllocators::new(st, "10.0.0.0/8", "").is_err());
    }
}
