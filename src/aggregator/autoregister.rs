//! Local APIServices for the built-in group/versions, as upstream's autoregister controller
//! creates them on start (`<version>.<group>`, `v1.` for core, label
//! `kube-aggregator.kubernetes.io/automanaged: onstart`). Idempotent: existing automanaged
//! objects are brought back to the table's spec; objects without the label are left alone.

use crate::registry::Registry;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

pub const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// (group, version) → (groupPriorityMinimum, versionPriority): kube-apiserver 1.33's
/// `apiVersionPriorities` merged over `DefaultGenericAPIServicePriorities`.
pub const PRIORITIES: &[(&str, &str, i64, i64)] = &[
    ("", "v1", 18000, 1),
    ("apiregistration.k8s.io", "v1", 18000, 15),
    ("apps", "v1", 17800, 15),
    ("events.k8s.io", "v1", 17750, 15),
    ("events.k8s.io", "v1beta1", 17750, 5),
    ("authentication.k8s.io", "v1", 17700, 15),
    ("authentication.k8s.io", "v1beta1", 17700, 9),
    ("authentication.k8s.io", "v1alpha1", 17700, 1),
    ("authorization.k8s.io", "v1", 17600, 15),
    ("autoscaling", "v2", 17500, 30),
    ("autoscaling", "v1", 17500, 15),
    ("autoscaling", "v2beta1", 17500, 9),
    ("autoscaling", "v2beta2", 17500, 1),
    ("batch", "v1", 17400, 15),
    ("batch", "v1beta1", 17400, 9),
    ("batch", "v2alpha1", 17400, 9),
    ("certificates.k8s.io", "v1", 17300, 15),
    ("certificates.k8s.io", "v1beta1", 17300, 9),
    ("certificates.k8s.io", "v1alpha1", 17300, 1),
    ("networking.k8s.io", "v1", 17200, 15),
    ("networking.k8s.io", "v1beta1", 17200, 9),
    ("policy", "v1", 17100, 15),
    ("policy", "v1beta1", 17100, 9),
    ("rbac.authorization.k8s.io", "v1", 17000, 15),
    ("storage.k8s.io", "v1", 16800, 15),
    ("storage.k8s.io", "v1beta1", 16800, 9),
    ("storage.k8s.io", "v1alpha1", 16800, 1),
    ("apiextensions.k8s.io", "v1", 16700, 15),
    ("admissionregistration.k8s.io", "v1", 16700, 15),
    ("admissionregistration.k8s.io", "v1beta1", 16700, 12),
    ("admissionregistration.k8s.io", "v1alpha1", 16700, 9),
    ("scheduling.k8s.io", "v1", 16600, 15),
    ("coordination.k8s.io", "v1", 16500, 15),
    ("coordination.k8s.io", "v1beta1", 16500, 13),
    ("coordination.k8s.io", "v1alpha2", 16500, 12),
    ("node.k8s.io", "v1", 16300, 15),
    ("node.k8s.io", "v1beta1", 16300, 9),
    ("node.k8s.io", "v1alpha1", 16300, 1),
    ("discovery.k8s.io", "v1", 16200, 15),
    ("discovery.k8s.io", "v1beta1", 16200, 12),
    ("resource.k8s.io", "v1beta2", 16200, 15),
    ("resource.k8s.io", "v1beta1", 16200, 9),
    ("resource.k8s.io", "v1alpha3", 16200, 1),
    ("flowcontrol.apiserver.k8s.io", "v1", 16100, 21),
    ("flowcontrol.apiserver.k8s.io", "v1beta3", 16100, 18),
    ("flowcontrol.apiserver.k8s.io", "v1beta2", 16100, 15),
    ("flowcontrol.apiserver.k8s.io", "v1beta1", 16100, 12),
    ("flowcontrol.apiserver.k8s.io", "v1alpha1", 16100, 9),
    ("internal.apiserver.k8s.io", "v1alpha1", 16000, 9),
    ("storagemigration.k8s.io", "v1beta1", 15800, 9),
];

pub fn priority(group: &str, version: &str) -> Option<(i64, i64)> {
    PRIORITIES
        .iter()
        .find(|(g, v, _, _)| *g == group && *v == version)
        .map(|(_, _, gp, vp)| (*gp, *vp))
}

/// The APIService name of a group/version.
pub fn name_of(group: &str, version: &str) -> String {
    format!("{version}.{group}")
}

/// The local APIServices upstream would register for the served built-in rows.
pub fn wanted(rows: &[&'static crate::api::ResourceDef]) -> Vec<Value> {
    let mut gvs: Vec<(&str, &str)> = vec![("apiregistration.k8s.io", "v1")];
    for r in rows {
        if !gvs.contains(&(r.group, r.version)) {
            gvs.push((r.group, r.version));
        }
    }
    gvs.into_iter()
        .filter_map(|(g, v)| {
            let (gp, vp) = priority(g, v)?;
            Some(json!({
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": name_of(g, v), "labels": {AUTOMANAGED: "onstart"}},
                "spec": {"group": g, "version": v, "groupPriorityMinimum": gp, "versionPriority": vp},
            }))
        })
        .collect()
}

/// Create (or repair) the local APIServices.
pub async fn ensure(reg: &Registry) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let def = crate::api::builtin_row("apiregistration.k8s.io", "apiservices")
        .ok_or_else(|| anyhow::anyhow!("resource table lacks apiservices"))?;
    let wanted = wanted(reg.resources.builtin_rows());
    // As upstream's autoregister on start: `onstart` APIServices of group/versions no longer
    // served (disabled by --runtime-config) are deleted.
    let stored = reg
        .caches
        .cache(super::SEGMENT)
        .snapshot(&format!("/registry/{}/", super::SEGMENT));
    for o in stored.items.iter().map(|o| o.value()) {
        let name = o.str_at("/metadata/name");
        let onstart = o.opt_str_at("/metadata/labels/kube-aggregator.kubernetes.io~1automanaged") == Some("onstart");
        if !onstart || wanted.iter().any(|w| w.str_at("/metadata/name") == name) {
            continue;
        }
        match reg
            .delete(def, None, name, &crate::registry::options::DeleteOptions::default())
            .await
        {
            Ok(_) | Err(crate::error::ApiError { code: 404 | 409, .. }) => {}
            Err(e) => anyhow::bail!("cannot delete APIService {name} of a disabled API: {e}"),
        }
    }
    // Concurrent, so a first start commits them in a few group commits.
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(wanted)
        .map(|want| ensure_one(reg, def, want))
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()
}

async fn ensure_one(reg: &Registry, def: &'static crate::api::ResourceDef, want: Value) -> anyhow::Result<()> {
    let name = want.str_at("/metadata/name").to_string();
    match reg.get(def, None, &name, None).await {
        Err(e) if e.code == 404 => match reg.create(def, None, want, false).await {
            Ok(_) | Err(crate::error::ApiError { code: 409, .. }) => {}
            Err(e) => anyhow::bail!("cannot create APIService {name}: {e}"),
        },
        Err(e) => anyhow::bail!("cannot read APIService {name}: {e}"),
        Ok(cur) => {
            let mut next = cur.value();
            let managed = cur.attrs.label("kube-aggregator.kubernetes.io/automanaged");
            if managed.is_none() || next.get("spec") == want.get("spec") {
                return Ok(());
            }
            next["spec"] = want["spec"].clone();
            if let Err(e) = reg
                .update(def, None, &name, next, crate::registry::store::Part::Main, false, None)
                .await
            {
                tracing::warn!(apiservice = %name, error = %e.message, "cannot repair automanaged APIService");
            }
        }
    }
    Ok(())
}

/// The CRDs' storage segment.
const CRD_SEGMENT: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// APIServices for the served versions of CRDs (upstream's crdRegistrationController):
/// `<version>.<group>`, priorities 1000/100, label `automanaged: "true"`; ones whose version is
/// no longer served are deleted. `last` holds the CRD fingerprint of the previous call.
pub async fn sync_crds(reg: &Registry, last: &mut Vec<(String, i64)>) {
    let snap = reg
        .caches
        .cache(CRD_SEGMENT)
        .snapshot(&format!("/registry/{CRD_SEGMENT}/"));
    let fp: Vec<(String, i64)> = snap.items.iter().map(|o| (o.key.clone(), o.revision)).collect();
    if fp == *last {
        return;
    }
    let Some(def) = crate::api::builtin_row("apiregistration.k8s.io", "apiservices") else {
        return;
    };
    let mut wanted: Vec<(String, String)> = Vec::new();
    for crd in snap.items.iter().map(|o| o.value()) {
        let group = crd.str_at("/spec/group");
        for v in crd.arr_at("/spec/versions").iter() {
            let name = v.str_of("name");
            if v.get("served").and_then(Value::as_bool) == Some(true) && !group.is_empty() && !name.is_empty() {
                wanted.push((group.to_string(), name.to_string()));
            }
        }
    }
    let mut ok = true;
    for (g, v) in &wanted {
        let obj = json!({
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": name_of(g, v), "labels": {AUTOMANAGED: "true"}},
            "spec": {"group": g, "version": v, "groupPriorityMinimum": 1000, "versionPriority": 100},
        });
        match reg.create(def, None, obj, false).await {
            Ok(_) | Err(crate::error::ApiError { code: 409, .. }) => {}
            Err(e) => {
                ok = false;
                tracing::warn!(group = %g, version = %v, error = %e.message, "cannot register the CRD's APIService");
            }
        }
    }
    let stored = reg
        .caches
        .cache(super::SEGMENT)
        .snapshot(&format!("/registry/{}/", super::SEGMENT));
    for o in stored.items.iter().map(|o| o.value()) {
        let managed = o.opt_str_at("/metadata/labels/kube-aggregator.kubernetes.io~1automanaged");
        let g = o.str_at("/spec/group");
        let v = o.str_at("/spec/version");
        if managed != Some("true") || wanted.iter().any(|(wg, wv)| wg == g && wv == v) {
            continue;
        }
        let name = o.str_at("/metadata/name");
        if let Err(e) = reg
            .delete(def, None, name, &crate::registry::options::DeleteOptions::default())
            .await
        {
            if e.code != 404 {
                ok = false;
            }
        }
    }
    if ok {
        *last = fp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_group_version_gets_a_local_apiservice() {
        let names: Vec<String> = wanted(crate::api::enablement::default_rows())
            .iter()
            .filter_map(|v| v.opt_str_at("/metadata/name").map(str::to_string))
            .collect();
        for n in [
            "v1.",
            "v1.apps",
            "v2.autoscaling",
            "v1.apiregistration.k8s.io",
            "v1.apiextensions.k8s.io",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        assert_eq!(priority("autoscaling", "v2"), Some((17500, 30)));
    }
}
