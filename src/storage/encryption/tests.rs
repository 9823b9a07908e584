use super::*;
use crate::storage::sqlite::SqliteStorage;
use base64::Engine as _;

fn key(b: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([b; 32])
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("enc.yaml");
    std::fs::write(
        &p,
        format!("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n{body}"),
    )
    .unwrap();
    p
}

fn index() -> ResourceIndex {
    let mut segments = HashMap::new();
    segments.insert("deployments".to_string(), GroupResource::new("apps", "deployments"));
    segments.insert("services/specs".to_string(), GroupResource::new("", "services"));
    ResourceIndex { segments }
}

async fn setup(dir: &Path, body: &str) -> (Arc<dyn Storage>, Arc<Encryption>, Arc<dyn Storage>) {
    let raw: Arc<dyn Storage> = SqliteStorage::open(&dir.join("db.sqlite")).unwrap();
    let enc = Encryption::load(&write_config(dir, body), false).await.unwrap();
    let s: Arc<dyn Storage> = Encrypted::new(raw.clone(), enc.clone(), index(), "/registry");
    (s, enc, raw)
}

#[test]
fn keys_map_to_resources() {
    let ix = index();
    assert_eq!(
        ix.resource_of("/registry/secrets/ns/a"),
        GroupResource::new("", "secrets")
    );
    assert_eq!(
        ix.resource_of("/registry/deployments/ns/a"),
        GroupResource::new("apps", "deployments")
    );
    assert_eq!(
        ix.resource_of("/registry/services/specs/ns/a"),
        GroupResource::new("", "services")
    );
    assert_eq!(
        ix.resource_of("/registry/stable.example.com/crontabs/ns/a"),
        GroupResource::new("stable.example.com", "crontabs")
    );
}

#[tokio::test]
async fn first_provider_writes_all_read_and_rewrites_re_encrypt() {
    let dir = tempfile::tempdir().unwrap();
    // Plain data written before encryption was configured.
    let raw: Arc<dyn Storage> = SqliteStorage::open(&dir.path().join("db.sqlite")).unwrap();
    let r0 = raw
        .create("/registry/secrets/ns/old", Bytes::from_static(b"{\"old\":1}"))
        .await
        .unwrap();
    drop(raw);
    let (s, _enc, raw) = setup(
        dir.path(),
        &format!(
            "- resources: [secrets]\n  providers:\n  - aesgcm: {{keys: [{{name: k1, secret: {}}}]}}\n  - identity: {{}}\n",
            key(1)
        ),
    )
    .await;
    s.create("/registry/secrets/ns/a", Bytes::from_static(b"{\"a\":1}"))
        .await
        .unwrap();
    s.create("/registry/configmaps/ns/a", Bytes::from_static(b"{\"c\":1}"))
        .await
        .unwrap();
    let stored = raw.get("/registry/secrets/ns/a", 0).await.unwrap().unwrap();
    assert!(stored.value.starts_with(b"k8s:enc:aesgcm:v1:k1:"), "{:?}", stored.value);
    assert!(!stored.value.windows(5).any(|w| w == b"\"a\":1"));
    // Not listed: plain.
    assert_eq!(
        &raw.get("/registry/configmaps/ns/a", 0).await.unwrap().unwrap().value[..],
        b"{\"c\":1}"
    );
    let got = s.get("/registry/secrets/ns/a", 0).await.unwrap().unwrap();
    assert_eq!((&got.value[..], got.stale), (&b"{\"a\":1}"[..], false));
    // The plain one reads through identity, marked stale; a rewrite encrypts it.
    let old = s.get("/registry/secrets/ns/old", 0).await.unwrap().unwrap();
    assert_eq!((&old.value[..], old.stale), (&b"{\"old\":1}"[..], true));
    s.update("/registry/secrets/ns/old", old.value.clone(), r0)
        .await
        .unwrap();
    assert!(raw
        .get("/registry/secrets/ns/old", 0)
        .await
        .unwrap()
        .unwrap()
        .value
        .starts_with(b"k8s:enc:aesgcm:v1:k1:"));
    let page = s.list("/registry/secrets/", None, 0, 0).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.items.iter().all(|kv| !kv.stale && kv.value.starts_with(b"{")));
    // The etcd key is authenticated: a value moved to another key does not open.
    raw.create("/registry/secrets/ns/moved", stored.value.clone())
        .await
        .unwrap();
    let e = s.get("/registry/secrets/ns/moved", 0).await.unwrap_err();
    assert!(e.to_string().contains("message authentication failed"), "{e}");
}

#[tokio::test]
async fn wildcards_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _enc, raw) = setup(
        dir.path(),
        &format!(
            "- resources: [events]\n  providers: [{{identity: {{}}}}]\n- resources: ['*.apps']\n  providers:\n  - secretbox: {{keys: [{{name: sb, secret: {}}}]}}\n- resources: ['*.*']\n  providers:\n  - aescbc: {{keys: [{{name: all, secret: {}}}]}}\n",
            key(2),
            key(3)
        ),
    )
    .await;
    for k in [
        "/registry/events/ns/e",
        "/registry/deployments/ns/d",
        "/registry/secrets/ns/s",
        "/registry/stable.example.com/crontabs/ns/c",
    ] {
        s.create(k, Bytes::from_static(b"{}")).await.unwrap();
    }
    let raw_of = |k: &'static str| {
        let raw = raw.clone();
        async move { raw.get(k, 0).await.unwrap().unwrap().value }
    };
    assert_eq!(&raw_of("/registry/events/ns/e").await[..], b"{}");
    assert!(raw_of("/registry/deployments/ns/d")
        .await
        .starts_with(b"k8s:enc:secretbox:v1:sb:"));
    assert!(raw_of("/registry/secrets/ns/s")
        .await
        .starts_with(b"k8s:enc:aescbc:v1:all:"));
    assert!(raw_of("/registry/stable.example.com/crontabs/ns/c")
        .await
        .starts_with(b"k8s:enc:aescbc:v1:all:"));
}

#[tokio::test]
async fn key_rotation_marks_old_data_stale_and_watch_sees_plain_values() {
    let dir = tempfile::tempdir().unwrap();
    let one = format!(
        "- resources: [secrets]\n  providers:\n  - aescbc: {{keys: [{{name: k1, secret: {}}}]}}\n",
        key(1)
    );
    let (s, _enc, raw) = setup(dir.path(), &one).await;
    let rev = s
        .create("/registry/secrets/ns/a", Bytes::from_static(b"{\"v\":1}"))
        .await
        .unwrap();
    // Rotate: k2 writes, k1 still reads.
    let two = format!(
        "- resources: [secrets]\n  providers:\n  - aescbc: {{keys: [{{name: k2, secret: {}}}, {{name: k1, secret: {}}}]}}\n",
        key(2),
        key(1)
    );
    let enc2 = Encryption::load(&write_config(dir.path(), &two), false).await.unwrap();
    let s2: Arc<dyn Storage> = Encrypted::new(raw.clone(), enc2, index(), "/registry");
    let mut w = s2.watch("/registry/secrets/", rev).await.unwrap();
    let kv = s2.get("/registry/secrets/ns/a", 0).await.unwrap().unwrap();
    assert!(kv.stale);
    s2.update("/registry/secrets/ns/a", kv.value, rev).await.unwrap();
    assert!(raw
        .get("/registry/secrets/ns/a", 0)
        .await
        .unwrap()
        .unwrap()
        .value
        .starts_with(b"k8s:enc:aescbc:v1:k2:"));
    match w.recv().await.unwrap().unwrap() {
        WatchItem::Event(ev) => {
            assert_eq!(&ev.value[..], b"{\"v\":1}");
            assert_eq!(ev.prev_value.as_deref(), Some(&b"{\"v\":1}"[..]));
        }
        other => panic!("{other:?}"),
    }
    // The old server (k1 only) cannot read k2 data.
    let e = s.get("/registry/secrets/ns/a", 0).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("no matching key was found for the provided AES transformer"),
        "{e}"
    );
}

#[tokio::test]
async fn reload_switches_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let raw: Arc<dyn Storage> = SqliteStorage::open(&dir.path().join("db.sqlite")).unwrap();
    let path = write_config(
        dir.path(),
        &format!(
            "- resources: [secrets]\n  providers:\n  - aesgcm: {{keys: [{{name: k1, secret: {}}}]}}\n",
            key(1)
        ),
    );
    let enc = Encryption::load(&path, true).await.unwrap();
    assert!(enc.has_health_check());
    assert_eq!(enc.check().await, Ok(()));
    let s: Arc<dyn Storage> = Encrypted::new(raw.clone(), enc.clone(), index(), "/registry");
    assert_eq!(enc.reload_if_changed().await, Ok(false));
    write_config(
        dir.path(),
        &format!(
            "- resources: [secrets]\n  providers:\n  - secretbox: {{keys: [{{name: s1, secret: {}}}]}}\n  - aesgcm: {{keys: [{{name: k1, secret: {}}}]}}\n",
            key(4),
            key(1)
        ),
    );
    assert_eq!(enc.reload_if_changed().await, Ok(true));
    s.create("/registry/secrets/ns/a", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert!(raw
        .get("/registry/secrets/ns/a", 0)
        .await
        .unwrap()
        .unwrap()
        .value
        .starts_with(b"k8s:enc:secretbox:v1:s1:"));
    // A bad file keeps the config in force and says what is wrong.
    std::fs::write(
        &path,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n",
    )
    .unwrap();
    let e = enc.reload_if_changed().await.unwrap_err();
    assert!(e.contains("enc.yaml") && e.contains("resources: Required value"), "{e}");
    s.create("/registry/secrets/ns/b", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert!(raw
        .get("/registry/secrets/ns/b", 0)
        .await
        .unwrap()
        .unwrap()
        .value
        .starts_with(b"k8s:enc:secretbox:v1:s1:"));
}

#[tokio::test]
async fn physical_prefix_is_the_authenticated_data() {
    let dir = tempfile::tempdir().unwrap();
    let raw: Arc<dyn Storage> = SqliteStorage::open(&dir.path().join("db.sqlite")).unwrap();
    let enc = Encryption::load(
        &write_config(
            dir.path(),
            &format!(
                "- resources: [secrets]\n  providers:\n  - aesgcm: {{keys: [{{name: k, secret: {}}}]}}\n",
                key(1)
            ),
        ),
        false,
    )
    .await
    .unwrap();
    let custom = Encrypted::new(raw.clone(), enc.clone(), index(), "/capstan/");
    assert_eq!(custom.aad("/registry/secrets/ns/a"), b"/capstan/secrets/ns/a");
    custom
        .create("/registry/secrets/ns/a", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let default = Encrypted::new(raw, enc, index(), "/registry");
    assert!(default.get("/registry/secrets/ns/a", 0).await.is_err());
    assert!(custom.get("/registry/secrets/ns/a", 0).await.is_ok());
}
