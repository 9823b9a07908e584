//! ServiceAccount: pods run as `default` unless they name an account; the account must exist;
//! when token automount is on (the account's `automountServiceAccountToken`, overridden by the
//! pod's), a projected `kube-api-access-<rand>` volume is added and mounted in every container
//! at `/var/run/secrets/kubernetes.io/serviceaccount`.
//!
//! Capstan runs no service-account controller, so a missing `default` account is tolerated
//! (nothing is mounted); a missing named account is rejected as upstream.

use super::containers_mut;
use crate::admission::{Attributes, Env, Operation, Plugin};
use crate::error::ApiResult;
use crate::util::json::JsonExt;
use serde_json::{json, Value};

pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

pub struct ServiceAccount;

fn applies(a: &Attributes) -> bool {
    a.is_core("Pod") && a.subresource.is_empty() && a.operation == Operation::Create
}

fn is_mirror(pod: &Value) -> bool {
    pod.obj_at("/metadata/annotations")
        .is_some_and(|m| m.contains_key(MIRROR_ANNOTATION))
}

/// The projected token volume upstream's plugin adds.
pub fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
            ],
        },
    })
}

/// Add the token volume and mounts (containers that already mount the path keep theirs).
pub fn mount_token(pod: &mut Value, suffix: &str) {
    let spec = &mut pod["spec"];
    let vols = spec
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if vols.iter().any(|v| v.str_at("/name").starts_with("kube-api-access-")) {
        return;
    }
    let name = format!("kube-api-access-{suffix}");
    let mut mounted = false;
    containers_mut(spec, |_, c| {
        let mounts = c.get("volumeMounts").and_then(Value::as_array);
        if mounts.is_some_and(|m| m.iter().any(|m| m.str_at("/mountPath") == TOKEN_MOUNT_PATH)) {
            return;
        }
        if !c.get("volumeMounts").is_some_and(Value::is_array) {
            c["volumeMounts"] = json!([]);
        }
        if let Some(m) = c["volumeMounts"].as_array_mut() {
            m.push(json!({"name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH}));
            mounted = true;
        }
    });
    if mounted {
        let mut vols = vols;
        vols.push(token_volume(&name));
        spec["volumes"] = Value::Array(vols);
    }
}

/// With `kubernetes.io/enforce-mountable-secrets: "true"` on the account, a pod may only use
/// secrets the account lists: upstream's message for the first one it doesn't.
pub fn unmountable_secret(pod: &Value, sa: &Value, sa_name: &str) -> Option<String> {
    let enforce = sa.opt_str_at("/metadata/annotations/kubernetes.io~1enforce-mountable-secrets");
    if enforce != Some("true") {
        return None;
    }
    let allowed: Vec<&str> = sa
        .get("secrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .collect();
    let tail = format!("is not allowed because service account {sa_name} does not reference that secret");
    for v in pod.arr_at("/spec/volumes").iter() {
        let name = v.str_at("/secret/secretName");
        if !name.is_empty() && !allowed.contains(&name) {
            return Some(format!("volume with secret.secretName=\"{name}\" {tail}"));
        }
    }
    for (list, _, c) in super::containers(&pod["spec"]) {
        let kind = match list {
            "initContainers" => "init container",
            "ephemeralContainers" => "ephemeral container",
            _ => "container",
        };
        let cname = c.str_at("/name");
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            let name = e.str_at("/valueFrom/secretKeyRef/name");
            if !name.is_empty() && !allowed.contains(&name) {
                return Some(format!(
                    "{kind} {cname} with envVar {} referencing secret.secretName=\"{name}\" {tail}",
                    e.str_at("/name")
                ));
            }
        }
        for e in c.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
            let name = e.str_at("/secretRef/name");
            if !name.is_empty() && !allowed.contains(&name) {
                return Some(format!(
                    "{kind} {cname} with envFrom referencing secret.secretName=\"{name}\" {tail}"
                ));
            }
        }
    }
    None
}

#[async_trait::async_trait]
impl Plugin for ServiceAccount {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }
    async fn admit(&self, a: &mut Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let ns = a.namespace.clone();
        let Some(pod) = a.object.as_mut() else { return Ok(()) };
        if is_mirror(pod) {
            return Ok(());
        }
        if pod.str_at("/spec/serviceAccountName").is_empty() {
            pod["spec"]["serviceAccountName"] = json!("default");
            // v1's deprecated alias, as upstream's conversion writes it.
            pod["spec"]["serviceAccount"] = json!("default");
        }
        let sa_name = pod.str_at("/spec/serviceAccountName").to_string();
        let Some(sa) = env.get("", "serviceaccounts", Some(&ns), &sa_name).await? else {
            return Ok(()); // validate() rejects a missing named account
        };
        // The account's imagePullSecrets apply when the pod names none.
        let pod_pulls = pod
            .pointer("/spec/imagePullSecrets")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if let Some(pulls) = sa
            .get("imagePullSecrets")
            .filter(|p| p.as_array().is_some_and(|a| !a.is_empty()))
        {
            if !pod_pulls {
                pod["spec"]["imagePullSecrets"] = pulls.clone();
            }
        }
        let automount = pod
            .bool_at("/spec/automountServiceAccountToken")
            .or_else(|| sa.get("automountServiceAccountToken").and_then(Value::as_bool))
            .unwrap_or(true);
        if automount {
            mount_token(pod, &crate::util::random_suffix(5));
        }
        Ok(())
    }
    async fn validate(&self, a: &Attributes, env: &Env<'_>) -> ApiResult<()> {
        if !applies(a) {
            return Ok(());
        }
        let Some(pod) = a.object.as_ref() else { return Ok(()) };
        if is_mirror(pod) {
            if !pod.str_at("/spec/serviceAccountName").is_empty() {
                return Err(a.forbidden("a mirror pod may not reference service accounts"));
            }
            return Ok(());
        }
        let sa = pod.str_at("/spec/serviceAccountName");
        if sa.is_empty() {
            return Ok(());
        }
        if sa == "default" {
            // No controller creates it: only check mountable secrets when it exists.
            if let Some(account) = env.get("", "serviceaccounts", Some(&a.namespace), sa).await? {
                if let Some(why) = unmountable_secret(pod, &account, sa) {
                    return Err(a.forbidden(&why));
                }
            }
            return Ok(());
        }
        let Some(account) = env.get("", "serviceaccounts", Some(&a.namespace), sa).await? else {
            return Err(a.forbidden(&format!(
                "error looking up service account {}/{sa}: serviceaccount \"{sa}\" not found",
                a.namespace
            )));
        };
        match unmountable_secret(pod, &account, sa) {
            Some(why) => Err(a.forbidden(&why)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforce_mountable_secrets() {
        let sa = json!({"metadata": {"annotations": {"kubernetes.io/enforce-mountable-secrets": "true"}}, "secrets": [{"name": "ok"}]});
        let pod = json!({"spec": {"volumes": [{"name": "v", "secret": {"secretName": "ok"}}],
            "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "other"}}]}]}});
        assert_eq!(
            unmountable_secret(&pod, &sa, "default").as_deref(),
            Some("container c with envFrom referencing secret.secretName=\"other\" is not allowed because service account default does not reference that secret")
        );
        assert_eq!(unmountable_secret(&pod, &json!({}), "default"), None);
    }

    #[test]
    fn mounts_token_in_every_container_once() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a"},
            {"name": "b", "volumeMounts": [{"name": "x", "mountPath": TOKEN_MOUNT_PATH}]},
        ], "initContainers": [{"name": "i"}]}});
        mount_token(&mut pod, "abcde");
        assert_eq!(pod["spec"]["volumes"][0], token_volume("kube-api-access-abcde"));
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0],
            json!({"name": "kube-api-access-abcde", "readOnly": true, "mountPath": TOKEN_MOUNT_PATH})
        );
        assert_eq!(
            pod["spec"]["containers"][1]["volumeMounts"].as_array().map(Vec::len),
            Some(1)
        );
        assert_eq!(
            pod["spec"]["initContainers"][0]["volumeMounts"][0]["name"],
            "kube-api-access-abcde"
        );
        // A second pass adds nothing.
        mount_token(&mut pod, "zzzzz");
        assert_eq!(pod["spec"]["volumes"].as_array().map(Vec::len), Some(1));
    }
}
