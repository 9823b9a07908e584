//! The objects a pod references by name (upstream's `podutil.VisitPodSecretNames` /
//! `VisitPodConfigmapNames`, all containers): what the Node authorizer lets a kubelet read and
//! what NodeRestriction forbids in mirror pods.

use crate::util::json::JsonExt;
use serde_json::Value;

/// The non-empty string at `p`: a reference, or none.
pub fn name_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.opt_str_at(p).filter(|s| !s.is_empty())
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["/spec/initContainers", "/spec/containers", "/spec/ephemeralContainers"]
        .into_iter()
        .flat_map(move |l| pod.arr_at(l))
}

/// Secrets: image pull secrets, container env/envFrom, and volume sources.
pub fn secret_names(pod: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = pod
        .arr_at("/spec/imagePullSecrets")
        .iter()
        .filter_map(|s| name_at(s, "/name"))
        .collect();
    for c in containers(pod) {
        out.extend(
            c.arr_at("/envFrom")
                .iter()
                .filter_map(|e| name_at(e, "/secretRef/name")),
        );
        out.extend(
            c.arr_at("/env")
                .iter()
                .filter_map(|e| name_at(e, "/valueFrom/secretKeyRef/name")),
        );
    }
    for vol in pod.arr_at("/spec/volumes") {
        for p in [
            "/azureFile/secretName",
            "/cephfs/secretRef/name",
            "/cinder/secretRef/name",
            "/flexVolume/secretRef/name",
            "/rbd/secretRef/name",
            "/secret/secretName",
            "/scaleIO/secretRef/name",
            "/iscsi/secretRef/name",
            "/storageos/secretRef/name",
            "/csi/nodePublishSecretRef/name",
        ] {
            out.extend(name_at(vol, p));
        }
        out.extend(
            vol.arr_at("/projected/sources")
                .iter()
                .filter_map(|s| name_at(s, "/secret/name")),
        );
    }
    out
}

/// ConfigMaps: container env/envFrom and volume sources.
pub fn configmap_names(pod: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for c in containers(pod) {
        out.extend(
            c.arr_at("/envFrom")
                .iter()
                .filter_map(|e| name_at(e, "/configMapRef/name")),
        );
        out.extend(
            c.arr_at("/env")
                .iter()
                .filter_map(|e| name_at(e, "/valueFrom/configMapKeyRef/name")),
        );
    }
    for vol in pod.arr_at("/spec/volumes") {
        out.extend(name_at(vol, "/configMap/name"));
        out.extend(
            vol.arr_at("/projected/sources")
                .iter()
                .filter_map(|s| name_at(s, "/configMap/name")),
        );
    }
    out
}

/// PersistentVolumeClaims: claim volumes and the `<pod>-<volume>` claims of ephemeral volumes.
pub fn pvc_names(pod: &Value) -> Vec<String> {
    let pod_name = name_at(pod, "/metadata/name").unwrap_or("");
    let mut out = Vec::new();
    for vol in pod.arr_at("/spec/volumes") {
        if let Some(c) = name_at(vol, "/persistentVolumeClaim/claimName") {
            out.push(c.to_string());
        }
        if vol.get("ephemeral").is_some_and(|e| !e.is_null()) {
            if let Some(v) = name_at(vol, "/name") {
                out.push(format!("{pod_name}-{v}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_reference() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "imagePullSecrets": [{"name": "pull"}],
            "initContainers": [{"envFrom": [{"secretRef": {"name": "init-env"}}]}],
            "containers": [{"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}},
                                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "k"}}}]}],
            "ephemeralContainers": [{"envFrom": [{"configMapRef": {"name": "dbg"}}]}],
            "volumes": [{"name": "s", "secret": {"secretName": "vol"}},
                        {"name": "c", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi"}}},
                        {"name": "pr", "projected": {"sources": [{"secret": {"name": "proj"}}, {"configMap": {"name": "proj-cm"}}]}},
                        {"name": "cm", "configMap": {"name": "vol-cm"}},
                        {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}},
                        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}],
        }});
        assert_eq!(secret_names(&pod), ["pull", "init-env", "env", "vol", "csi", "proj"]);
        assert_eq!(configmap_names(&pod), ["cm-env", "dbg", "proj-cm", "vol-cm"]);
        assert_eq!(pvc_names(&pod), ["data", "p-scratch"]);
    }
}
