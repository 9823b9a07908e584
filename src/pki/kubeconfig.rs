//! Minimal kubeconfig (`apiVersion: v1`, `kind: Config`) writer with embedded credentials.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

#[derive(Serialize)]
struct Config<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    clusters: Vec<NamedCluster<'a>>,
    contexts: Vec<NamedContext<'a>>,
    #[serde(rename = "current-context")]
    current_context: String,
    kind: &'a str,
    preferences: Preferences,
    users: Vec<NamedUser<'a>>,
}

#[derive(Serialize)]
struct Preferences {}

#[derive(Serialize)]
struct NamedCluster<'a> {
    cluster: Cluster<'a>,
    name: &'a str,
}

#[derive(Serialize)]
struct Cluster<'a> {
    #[serde(rename = "certificate-authority-data")]
    certificate_authority_data: String,
    server: &'a str,
}

#[derive(Serialize)]
struct NamedContext<'a> {
    context: ContextEntry<'a>,
    name: String,
}

#[derive(Serialize)]
struct ContextEntry<'a> {
    cluster: &'a str,
    user: &'a str,
}

#[derive(Serialize)]
struct NamedUser<'a> {
    name: &'a str,
    user: User,
}

#[derive(Serialize)]
struct User {
    #[serde(rename = "client-certificate-data")]
    client_certificate_data: String,
    #[serde(rename = "client-key-data")]
    client_key_data: String,
}

/// Render a kubeconfig with one cluster, one user and the context `<user>@<cluster>` selected.
pub(crate) fn render(
    cluster: &str,
    server_url: &str,
    ca_pem: &str,
    user: &str,
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<String> {
    let context_name = format!("{user}@{cluster}");
    let config = Config {
        api_version: "v1",
        clusters: vec![NamedCluster {
            cluster: Cluster {
                certificate_authority_data: STANDARD.encode(ca_pem),
                server: server_url,
            },
            name: cluster,
        }],
        contexts: vec![NamedContext {
            context: ContextEntry { cluster, user },
            name: context_name.clone(),
        }],
        current_context: context_name,
        kind: "Config",
        preferences: Preferences {},
        users: vec![NamedUser {
            name: user,
            user: User {
                client_certificate_data: STANDARD.encode(cert_pem),
                client_key_data: STANDARD.encode(key_pem),
            },
        }],
    };
    yaml_serde::to_string(&config).context("serializing kubeconfig")
}

/// Whether an existing kubeconfig's current context already points at `server_url` with the
/// given CA and the given user's client certificate and key.
pub(crate) fn matches(text: &str, server_url: &str, ca_pem: &str, user: &str, cert_pem: &str, key_pem: &str) -> bool {
    let Ok(doc) = yaml_serde::from_str::<serde_json::Value>(text) else {
        return false;
    };
    let current = doc.get("current-context").and_then(|v| v.as_str()).unwrap_or("");
    let find = |list: &str, name: &str| -> Option<serde_json::Value> {
        doc.get(list)?
            .as_array()?
            .iter()
            .find(|item| item.get("name").and_then(|n| n.as_str()) == Some(name))
            .cloned()
    };
    let Some(context) = find("contexts", current) else {
        return false;
    };
    let ctx_cluster = context
        .pointer("/context/cluster")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let ctx_user = context.pointer("/context/user").and_then(|v| v.as_str()).unwrap_or("");
    if ctx_user != user {
        return false;
    }
    let (Some(cluster), Some(user_entry)) = (find("clusters", ctx_cluster), find("users", ctx_user)) else {
        return false;
    };
    let str_at =
        |value: &serde_json::Value, pointer: &str| value.pointer(pointer).and_then(|v| v.as_str()).map(str::to_owned);
    str_at(&cluster, "/cluster/server").as_deref() == Some(server_url)
        && str_at(&cluster, "/cluster/certificate-authority-data") == Some(STANDARD.encode(ca_pem))
        && str_at(&user_entry, "/user/client-certificate-data") == Some(STANDARD.encode(cert_pem))
        && str_at(&user_entry, "/user/client-key-data") == Some(STANDARD.encode(key_pem))
}

/// Write a kubeconfig (mode 0600) for a server URL, CA PEM and client certificate/key PEM.
/// The context is named `<user>@<cluster>` and is made current.
pub fn write_kubeconfig(
    path: &Path,
    cluster: &str,
    server_url: &str,
    ca_pem: &str,
    user: &str,
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<()> {
    let text = render(cluster, server_url, ca_pem, user, cert_pem, key_pem)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    super::files::write_file(path, text.as_bytes(), 0o600)
}
