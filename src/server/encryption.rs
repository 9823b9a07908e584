//! Wiring of encryption at rest: `--encryption-provider-config` and
//! `--encryption-provider-config-automatic-reload` put a [`crate::storage::encryption::Encrypted`]
//! wrapper around the backend, with the resource table telling which resource a key holds.

use crate::config::ServeOptions;
use crate::storage::encryption::config::GroupResource;
use crate::storage::encryption::{Encrypted, Encryption, ResourceIndex};
use crate::storage::Storage;
use std::sync::Arc;
use std::time::Duration;

/// How often the file is checked with automatic reload (upstream polls every minute; a hash
/// of a small file every few seconds costs nothing and makes rotations take effect sooner).
const RELOAD_POLL: Duration = Duration::from_secs(2);

/// Storage segment → group/resource, from the built-in rows, plus the keys upstream stores
/// outside the REST resources (which `*.` and `*.*` cover as upstream's do).
pub fn resource_index() -> ResourceIndex {
    let mut index = ResourceIndex::default();
    for r in crate::api::builtin() {
        if r.storage.is_empty() {
            continue;
        }
        // Rows sharing a segment share data; the core row names it (events.k8s.io events are
        // stored as core events, as upstream's config validation says).
        let gr = GroupResource::new(r.group, r.plural);
        index
            .segments
            .entry(r.storage.to_string())
            .and_modify(|have| {
                if r.group.is_empty() {
                    *have = gr.clone();
                }
            })
            .or_insert(gr);
    }
    for (segment, resource) in [
        ("ranges/serviceips", "serviceipallocations"),
        ("ranges/secondaryserviceips", "serviceipallocations"),
        ("ranges/servicenodeports", "servicenodeportallocations"),
        ("masterleases", "apiserveripinfo"),
    ] {
        index
            .segments
            .insert(segment.to_string(), GroupResource::new("", resource));
    }
    index
}

/// Load the config (when set) and wrap `storage`. Errors name the flag, the file, the field
/// and the fix.
pub async fn wrap(
    opts: &ServeOptions,
    storage: Arc<dyn Storage>,
) -> anyhow::Result<(Arc<dyn Storage>, Option<Arc<Encryption>>)> {
    let reload = opts.get_bool("storage.encryption-provider-config-automatic-reload");
    let Some(path) = opts.get_path("storage.encryption-provider-config") else {
        if reload {
            anyhow::bail!(
                "--encryption-provider-config-automatic-reload must be set with --encryption-provider-config"
            );
        }
        return Ok((storage, None));
    };
    let enc = Encryption::load(&path, reload).await.map_err(anyhow::Error::msg)?;
    if reload {
        enc.spawn_reloader(RELOAD_POLL);
    }
    // The authenticated data is the physical etcd key (`--etcd-prefix`).
    let root = if opts.backend() == "etcd3" {
        opts.etcd_prefix.clone()
    } else {
        "/registry".to_string()
    };
    let wrapped: Arc<dyn Storage> = Encrypted::new(storage, enc.clone(), resource_index(), &root);
    tracing::info!(file = %path.display(), reload, "encryption at rest enabled");
    Ok((wrapped, Some(enc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_knows_upstream_names() {
        let ix = resource_index();
        let of = |k: &str| ix.resource_of(k);
        assert_eq!(of("/registry/secrets/ns/a"), GroupResource::new("", "secrets"));
        assert_eq!(of("/registry/events/ns/a"), GroupResource::new("", "events"));
        assert_eq!(of("/registry/minions/n"), GroupResource::new("", "nodes"));
        assert_eq!(of("/registry/services/specs/ns/a"), GroupResource::new("", "services"));
        assert_eq!(
            of("/registry/services/endpoints/ns/a"),
            GroupResource::new("", "endpoints")
        );
        assert_eq!(
            of("/registry/deployments/ns/a"),
            GroupResource::new("apps", "deployments")
        );
        assert_eq!(
            of("/registry/ingress/ns/a"),
            GroupResource::new("networking.k8s.io", "ingresses")
        );
        assert_eq!(
            of("/registry/apiregistration.k8s.io/apiservices/v1.apps"),
            GroupResource::new("apiregistration.k8s.io", "apiservices")
        );
        assert_eq!(
            of("/registry/ranges/serviceips"),
            GroupResource::new("", "serviceipallocations")
        );
    }
}
