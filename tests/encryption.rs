//! Encryption at rest end to end: a real `capstan serve` with `--encryption-provider-config`,
//! driven by kubectl, with the stored bytes checked where they live — in the embedded store's
//! SQLite file and in etcd — for every provider (aescbc, aesgcm and secretbox on both stores),
//! including KMS v2 with a test plugin (a gRPC server on a unix socket, `common/kms_plugin.rs`). Key rotation, re-encryption by
//! `kubectl get secrets -A -o json | kubectl replace -f -`, automatic reload, the
//! `kms-providers` health check and refusals of bad config files.

mod common;
#[path = "common/kms_plugin.rs"]
mod kms_plugin;

use base64::Engine as _;
use common::{eventually, eventually_async, secs, TestEtcd, TestServer};
use kms_plugin::KmsPlugin;
use prost::Message as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

const K: &str = "1.33";
/// `supersecret`, base64 as it sits in the Secret's JSON.
const SECRET_B64: &str = "c3VwZXJzZWNyZXQ=";

fn key(b: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([b; 32])
}

fn config(rules: &str) -> String {
    format!("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n{rules}")
}

fn provider(kind: &str, name: &str, secret: &str) -> String {
    format!("  - {kind}:\n      keys:\n      - name: {name}\n        secret: {secret}\n")
}

/// The newest stored value of `key` in the embedded store.
fn sqlite_value(data_dir: &Path, key: &str) -> Vec<u8> {
    let db =
        rusqlite::Connection::open_with_flags(data_dir.join("capstan.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open capstan.db");
    db.query_row(
        "SELECT value FROM kine WHERE name = ?1 ORDER BY id DESC LIMIT 1",
        [key],
        |r| r.get::<_, Vec<u8>>(0),
    )
    .unwrap_or_else(|e| panic!("{key} in capstan.db: {e}"))
}

async fn etcd_value(etcd: &TestEtcd, key: &str) -> Vec<u8> {
    let mut c = etcd.client(&[0]).await;
    let r = c.get(key, None).await.expect("etcd get");
    r.kvs()
        .first()
        .unwrap_or_else(|| panic!("{key} not in etcd"))
        .value()
        .to_vec()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A health endpoint as the admin (anonymous users may read only `/healthz`, `/livez`,
/// `/readyz` themselves, as upstream's system:public-info-viewer says).
fn health(s: &TestServer, path: &str) -> (u16, String) {
    let (cert, key) = s.admin_cert();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    s.curl_status(&["--cert", &cert, "--key", &key], path)
}

fn create_secret(s: &TestServer, name: &str) {
    s.kubectl_ok(
        K,
        &[
            "create",
            "secret",
            "generic",
            name,
            "--from-literal=password=supersecret",
        ],
    );
}

fn read_secret(s: &TestServer, name: &str) -> String {
    s.kubectl_ok(K, &["get", "secret", name, "-o", "jsonpath={.data.password}"])
}

/// `kubectl get secrets -A -o json | kubectl replace -f -`, as the upstream docs re-encrypt.
fn replace_all_secrets(s: &TestServer) -> String {
    let list = s.kubectl_ok(K, &["get", "secrets", "-A", "-o", "json"]);
    let mut cmd = s.kubectl_command(K, &["replace", "-f", "-"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn kubectl replace");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(list.as_bytes())
        .expect("feed kubectl replace");
    let out = child.wait_with_output().expect("kubectl replace");
    assert!(
        out.status.success(),
        "kubectl replace failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// aescbc, aesgcm and secretbox, each with a key.
fn local_providers() -> [(&'static str, String); 3] {
    [
        ("aescbc", key(1)),
        ("aesgcm", base64::engine::general_purpose::STANDARD.encode([2u8; 16])),
        ("secretbox", key(3)),
    ]
}

/// An encryption config for Secrets only: `kind` with key `key1` first, then identity.
fn secrets_only(b: &common::TestServerBuilder, kind: &str, secret: &str) -> std::path::PathBuf {
    b.write_file(
        "enc.yaml",
        &config(&format!(
            "- resources: [secrets]\n  providers:\n{}  - identity: {{}}\n",
            provider(kind, "key1", secret)
        )),
    )
}

/// Secret `s1` and ConfigMap `c1`, both holding "supersecret".
fn create_secret_and_configmap(s: &TestServer) {
    create_secret(s, "s1");
    s.kubectl_ok(K, &["create", "configmap", "c1", "--from-literal=password=supersecret"]);
}

/// The stored Secret carries upstream's `k8s:enc:<kind>:v1:key1:` prefix and no plaintext; the
/// ConfigMap (not listed in the config) is stored plain.
fn assert_only_the_secret_encrypted(kind: &str, secret: &[u8], configmap: &[u8]) {
    let prefix = format!("k8s:enc:{kind}:v1:key1:");
    assert!(
        secret.starts_with(prefix.as_bytes()),
        "{kind}: stored {:?}",
        String::from_utf8_lossy(&secret[..40.min(secret.len())])
    );
    assert!(
        !contains(secret, SECRET_B64) && !contains(secret, "supersecret"),
        "{kind}: plaintext in the store"
    );
    assert!(
        contains(configmap, "supersecret"),
        "configmaps are not listed, so plain"
    );
}

/// aescbc, aesgcm and secretbox: Secrets are stored encrypted in the SQLite file with
/// upstream's prefix, other resources stay plain, and kubectl reads the Secret back.
#[test]
fn each_provider_encrypts_secrets_in_the_embedded_store() {
    for (kind, secret) in local_providers() {
        let b = TestServer::builder();
        let file = secrets_only(&b, kind, &secret);
        let mut s = b
            .arg(format!("--encryption-provider-config={}", file.display()))
            .start();
        create_secret_and_configmap(&s);
        assert_only_the_secret_encrypted(
            kind,
            &sqlite_value(&s.data_dir(), "/registry/secrets/default/s1"),
            &sqlite_value(&s.data_dir(), "/registry/configmaps/default/c1"),
        );
        assert_eq!(read_secret(&s, "s1"), SECRET_B64, "{kind}");
        // And after a restart (read from the store, not the cache).
        s.restart();
        assert_eq!(read_secret(&s, "s1"), SECRET_B64, "{kind} after restart");
    }
}

/// The same three providers on etcd: each writes `k8s:enc:<provider>:v1:<key name>:` and
/// ciphertext to etcd (one etcd, a prefix per provider), and reads back, also after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_provider_encrypts_secrets_in_etcd() {
    let etcd = TestEtcd::start();
    for (kind, secret) in local_providers() {
        let b = TestServer::builder();
        let file = secrets_only(&b, kind, &secret);
        let root = format!("/registry-{kind}");
        let mut s = b
            .etcd(&etcd)
            .arg(format!("--etcd-prefix={root}"))
            .arg(format!("--encryption-provider-config={}", file.display()))
            .start();
        create_secret_and_configmap(&s);
        assert_only_the_secret_encrypted(
            kind,
            &etcd_value(&etcd, &format!("{root}/secrets/default/s1")).await,
            &etcd_value(&etcd, &format!("{root}/configmaps/default/c1")).await,
        );
        assert_eq!(read_secret(&s, "s1"), SECRET_B64, "{kind}");
        s.restart();
        assert_eq!(read_secret(&s, "s1"), SECRET_B64, "{kind} after restart");
    }
}

/// Rotation with automatic reload: a new first key writes, the old one still reads; a rewrite
/// of every Secret re-encrypts them (even unchanged ones: stale reads are written again); then
/// the old key can go.
#[test]
fn rotation_reload_and_reencryption_by_replace() {
    let b = TestServer::builder();
    let one = config(&format!(
        "- resources: [secrets]\n  providers:\n{}",
        provider("aescbc", "k1", &key(1))
    ));
    let file = b.write_file("enc.yaml", &one);
    let mut s = b
        .arg(format!("--encryption-provider-config={}", file.display()))
        .arg("--encryption-provider-config-automatic-reload")
        .start();
    for n in ["a", "b"] {
        create_secret(&s, n);
    }
    s.kubectl_ok(K, &["create", "namespace", "other"]);
    s.kubectl_ok(
        K,
        &[
            "-n",
            "other",
            "create",
            "secret",
            "generic",
            "c",
            "--from-literal=password=supersecret",
        ],
    );
    let old_rv = s.kubectl_ok(K, &["get", "secret", "a", "-o", "jsonpath={.metadata.resourceVersion}"]);
    // The `k8s:enc:<provider>:v1:<key>:` prefix of a stored value.
    let stored_with = |s: &TestServer, key: &str| {
        let raw = sqlite_value(&s.data_dir(), key);
        let end = raw
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b':')
            .nth(4)
            .map_or(0, |(i, _)| i + 1);
        String::from_utf8_lossy(&raw[..end]).into_owned()
    };
    assert_eq!(stored_with(&s, "/registry/secrets/default/a"), "k8s:enc:aescbc:v1:k1:");
    // k2 first, k1 still there to read.
    let two = config(&format!(
        "- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k2\n        secret: {}\n      - name: k1\n        secret: {}\n",
        key(2),
        key(1)
    ));
    std::fs::write(&file, two).unwrap();
    eventually("the reloaded config to write with k2", secs(30), || {
        let n = format!(
            "probe-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        create_secret(&s, &n);
        let with = stored_with(&s, &format!("/registry/secrets/default/{n}"));
        if with == "k8s:enc:aescbc:v1:k2:" {
            Ok(())
        } else {
            Err(with)
        }
    });
    assert_eq!(stored_with(&s, "/registry/secrets/default/a"), "k8s:enc:aescbc:v1:k1:");
    assert_eq!(read_secret(&s, "a"), SECRET_B64);
    let replaced = replace_all_secrets(&s);
    assert!(replaced.contains("secret/a replaced"), "{replaced}");
    for k in [
        "/registry/secrets/default/a",
        "/registry/secrets/default/b",
        "/registry/secrets/other/c",
    ] {
        assert_eq!(stored_with(&s, k), "k8s:enc:aescbc:v1:k2:", "{k} re-encrypted");
    }
    let new_rv = s.kubectl_ok(K, &["get", "secret", "a", "-o", "jsonpath={.metadata.resourceVersion}"]);
    assert_ne!(old_rv, new_rv, "an unchanged but stale Secret is written again");
    // A second rewrite of current data is a no-op, as upstream.
    replace_all_secrets(&s);
    let same_rv = s.kubectl_ok(K, &["get", "secret", "a", "-o", "jsonpath={.metadata.resourceVersion}"]);
    assert_eq!(new_rv, same_rv);
    // k1 can go: everything reads with k2 alone, also after a restart.
    std::fs::write(
        &file,
        config(&format!(
            "- resources: [secrets]\n  providers:\n{}",
            provider("aescbc", "k2", &key(2))
        )),
    )
    .unwrap();
    s.restart();
    assert_eq!(read_secret(&s, "b"), SECRET_B64);
    assert_eq!(
        s.kubectl_ok(
            K,
            &["-n", "other", "get", "secret", "c", "-o", "jsonpath={.data.password}"]
        ),
        SECRET_B64
    );
    // A broken file is reported and the config in force stays.
    std::fs::write(&file, "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: [{resources: [secrets], providers: []}]\n").unwrap();
    eventually("the reload error in the log", secs(30), || {
        let log = s.log();
        if log.contains("error processing encryption config file")
            && log.contains("resources[0].providers: Required value")
        {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    });
    create_secret(&s, "after-bad-file");
    assert_eq!(
        stored_with(&s, "/registry/secrets/default/after-bad-file"),
        "k8s:enc:aescbc:v1:k2:"
    );
}

/// KMS v2 on etcd with the test plugin: the envelope in etcd, DEK caching, key ID rotation
/// (stale → rewrite), the `kms-providers` health check, and a plugin that is away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_v2_on_etcd() {
    let etcd = TestEtcd::start();
    let dir = tempfile::tempdir().unwrap();
    let mut plugin = KmsPlugin::start(&dir.path().join("kms.sock"), "key-1").await;
    let b = TestServer::builder();
    let file = b.write_file(
        "enc.yaml",
        &config(&format!(
            "- resources: [secrets, '*.apps']\n  providers:\n  - kms:\n      apiVersion: v2\n      name: test-kms\n      endpoint: {}\n      timeout: 3s\n  - identity: {{}}\n",
            plugin.endpoint()
        )),
    );
    let mut s = b
        .etcd(&etcd)
        .arg(format!("--encryption-provider-config={}", file.display()))
        .start();
    create_secret(&s, "s1");
    create_secret(&s, "s2");
    let raw = etcd_value(&etcd, "/registry/secrets/default/s1").await;
    let prefix = b"k8s:enc:kms:v2:test-kms:";
    assert!(raw.starts_with(prefix), "{:?}", String::from_utf8_lossy(&raw[..30]));
    let obj =
        capstan::storage::encryption::kms_api::EncryptedObject::decode(&raw[prefix.len()..]).expect("EncryptedObject");
    assert_eq!(obj.key_id, "key-1");
    assert_eq!(obj.encrypted_dek_source_type, 1, "HKDF seed, as 1.33 writes");
    assert_eq!(
        obj.annotations.get("plugin.kms.capstan.test").map(Vec::as_slice),
        Some(&b"v1"[..])
    );
    assert!(!contains(&raw, SECRET_B64));
    // One seed for both writes; reads need no plugin call (the seed is cached).
    assert_eq!(plugin.encrypts(), 1);
    assert_eq!(read_secret(&s, "s2"), SECRET_B64);
    assert_eq!(plugin.decrypts(), 0);
    // Health: /healthz and /readyz carry kms-providers, /livez does not.
    assert_eq!(health(&s, "/healthz/kms-providers"), (200, "ok".to_string()));
    let (_, readyz) = health(&s, "/readyz?verbose");
    assert!(readyz.contains("[+]kms-providers ok"), "{readyz}");
    let (_, livez) = health(&s, "/livez?verbose");
    assert!(!livez.contains("kms"), "{livez}");

    // The plugin moves to a new key: after a restart (a fresh Status probe) new writes use it,
    // old data still reads (one Decrypt for the old seed), and a rewrite re-encrypts.
    plugin.set_key_id("key-2");
    s.restart();
    create_secret(&s, "s3");
    let raw3 = etcd_value(&etcd, "/registry/secrets/default/s3").await;
    let obj3 = capstan::storage::encryption::kms_api::EncryptedObject::decode(&raw3[prefix.len()..]).unwrap();
    assert_eq!(obj3.key_id, "key-2");
    assert_eq!(read_secret(&s, "s1"), SECRET_B64);
    assert_eq!(plugin.decrypts(), 1, "the old seed is decrypted once and cached");
    replace_all_secrets(&s);
    for n in ["s1", "s2", "s3"] {
        let raw = etcd_value(&etcd, &format!("/registry/secrets/default/{n}")).await;
        let o = capstan::storage::encryption::kms_api::EncryptedObject::decode(&raw[prefix.len()..]).unwrap();
        assert_eq!(o.key_id, "key-2", "{n} re-encrypted under the new key");
    }
    // Deployments are covered by '*.apps'.
    s.kubectl_ok(K, &["create", "deployment", "web", "--image=nginx"]);
    assert!(etcd_value(&etcd, "/registry/deployments/default/web")
        .await
        .starts_with(prefix));

    // The plugin goes away: the check fails (within its 20 s memo) with the reason.
    plugin.stop().await;
    let url = "/readyz/kms-providers";
    let body = eventually("kms-providers to fail", secs(40), || {
        let (code, body) = health(&s, url);
        if code == 500 {
            Ok(body)
        } else {
            Err(format!("{code} {body}"))
        }
    });
    // Upstream's wording: the reason, wrapped on the call that saw it, bare while memoized.
    assert!(
        body.starts_with("internal server error: kms-provider-0: ") && body.contains("rpc error: code = "),
        "{body}"
    );
    let (code, verbose) = health(&s, "/readyz?verbose");
    assert_eq!(code, 500);
    assert!(
        verbose.contains("[-]kms-providers failed: reason withheld"),
        "{verbose}"
    );
    // Back again: healthy within the negative memo.
    plugin.restart().await;
    eventually_async("kms-providers to recover", secs(30), || async {
        let (code, body) = health(&s, url);
        if code == 200 {
            Ok(())
        } else {
            Err(format!("{code} {body}"))
        }
    })
    .await;
    create_secret(&s, "s4");
}

/// A server started while its KMS plugin is away serves, reports the plugin unhealthy and
/// refuses writes it cannot encrypt; once the plugin is up, everything works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_plugin_away_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("kms.sock");
    let b = TestServer::builder();
    let file = b.write_file(
        "enc.yaml",
        &config(&format!(
            "- resources: [secrets]\n  providers:\n  - kms: {{apiVersion: v2, name: later, endpoint: 'unix://{}', timeout: 1s}}\n",
            sock.display()
        )),
    );
    let s = b
        .arg(format!("--encryption-provider-config={}", file.display()))
        .start();
    let (code, body) = health(&s, "/healthz/kms-providers");
    assert_eq!(code, 500, "{body}");
    let err = s.kubectl_err(K, &["create", "secret", "generic", "x", "--from-literal=a=b"]);
    assert!(
        err.contains("Internal error occurred") && err.contains("got unexpected nil transformer"),
        "{err}"
    );
    let plugin = KmsPlugin::start(&sock, "key-1").await;
    eventually("the plugin to be seen", secs(30), || {
        let (code, body) = health(&s, "/healthz/kms-providers");
        if code == 200 {
            Ok(())
        } else {
            Err(format!("{code} {body}"))
        }
    });
    create_secret(&s, "x");
    assert!(sqlite_value(&s.data_dir(), "/registry/secrets/default/x").starts_with(b"k8s:enc:kms:v2:later:"));
    assert!(plugin.encrypts() >= 1);
}

/// Bad files and flag combinations fail at startup, naming the file, the field and the fix.
#[test]
fn bad_configs_fail_at_startup() {
    let cases: &[(&str, &[&str])] = &[
        (
            "- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k1\n        secret: dG9vc2hvcnQ=\n",
            &["resources[0].providers[0].aescbc.keys[0].secret", "secret is not of the expected length, got 8", "fix:"],
        ),
        (
            "- resources: [secrets]\n  providers:\n  - aesgcm:\n      kyes: []\n",
            &["unknown field \"resources[0].providers[0].aesgcm.kyes\"", "did you mean \"keys\"?"],
        ),
        (
            "- resources: [secrets]\n  providers:\n  - kms: {name: k, endpoint: 'unix:///tmp/x.sock'}\n",
            &["resources[0].providers[0].kms.apiVersion", "KMSv1 is deprecated", "fix: set apiVersion: v2"],
        ),
        (
            "- resources: ['*.*']\n  providers: [{identity: {}}]\n- resources: [secrets]\n  providers: [{identity: {}}]\n",
            &["resource \"secrets\" is masked by earlier rule \"*.*\"", "fix: move this rule above"],
        ),
    ];
    for (rules, want) in cases {
        let b = TestServer::builder();
        let file = b.write_file("bad.yaml", &config(rules));
        let out = b
            .arg(format!("--encryption-provider-config={}", file.display()))
            .start_fails();
        assert!(
            out.contains(&format!("--encryption-provider-config {}", file.display())),
            "{out}"
        );
        for w in *want {
            assert!(out.contains(w), "missing {w:?} in:\n{out}");
        }
    }
    let out = TestServer::builder()
        .arg("--encryption-provider-config=/nonexistent/enc.yaml")
        .start_fails();
    assert!(
        out.contains("/nonexistent/enc.yaml") && out.contains("No such file"),
        "{out}"
    );
    let out = TestServer::builder()
        .arg("--encryption-provider-config-automatic-reload")
        .start_fails();
    assert!(
        out.contains("--encryption-provider-config-automatic-reload must be set with --encryption-provider-config"),
        "{out}"
    );
}
