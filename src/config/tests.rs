//! Layering, validation and flag-compatibility tests for the configuration.

use super::*;
use serde_json::json;
use std::path::Path;

fn s(a: &[&str]) -> Vec<String> {
    a.iter().map(|x| x.to_string()).collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn write(path: &Path, text: &str) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// A default config path that does not exist.
fn nowhere(dir: &Path) -> PathBuf {
    dir.join("absent/config.yaml")
}

fn err_of<T: std::fmt::Debug>(r: Result<T, ConfigError>) -> String {
    r.expect_err("expected a configuration error").to_string()
}

/// The same keys set at every layer: each step up the ladder overrides the one below, and the
/// source names the layer.
#[test]
fn layer_precedence_default_file_dropin_env_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let dropin = dir.path().join("config.yaml.d/50-site.yaml");
    let cases: &[(&str, &str, [&str; 4], [Json; 4])] = &[
        (
            "secure-port",
            "secure-port",
            ["secure-port: 1001", "secure-port: 1002", "1003", "--secure-port=1004"],
            [json!(1001), json!(1002), json!(1003), json!(1004)],
        ),
        (
            "etcd.servers",
            "etcd-servers",
            [
                "etcd:\n  servers: [https://file:2379]",
                "etcd:\n  servers: https://dropin:2379",
                "https://env:2379,https://env2:2379",
                "--etcd-servers=https://flag:2379",
            ],
            [
                json!(["https://file:2379"]),
                json!(["https://dropin:2379"]),
                json!(["https://env:2379", "https://env2:2379"]),
                json!(["https://flag:2379"]),
            ],
        ),
        (
            "logging.format",
            "logging-format",
            [
                "logging:\n  format: json",
                "logging:\n  format: text",
                "json",
                "--logging-format=text",
            ],
            [json!("json"), json!("text"), json!("json"), json!("text")],
        ),
    ];
    for (key, flag, inputs, want) in cases {
        let _ = std::fs::remove_file(&cfg);
        let _ = std::fs::remove_file(&dropin);
        let var = flags::by_key(key).unwrap().env_var();
        let default = flags::by_key(key).unwrap().default;

        // 0: built-in default only.
        let (_, m) = load_merged(&[], &[], &cfg).unwrap();
        let want_default = if default.is_empty() {
            None
        } else {
            Some(value::from_text(&flags::by_key(key).unwrap().kind, default, true).unwrap())
        };
        assert_eq!(m.values.get(key).cloned(), want_default, "{key}: default");

        // 1: config file.
        write(&cfg, inputs[0]);
        let (_, m) = load_merged(&[], &[], &cfg).unwrap();
        assert_eq!(m.values[key], want[0], "{key}: file");
        assert_eq!(m.sources[key], format!("file {}", cfg.display()));

        // 2: drop-in beats the file.
        write(&dropin, inputs[1]);
        let (_, m) = load_merged(&[], &[], &cfg).unwrap();
        assert_eq!(m.values[key], want[1], "{key}: drop-in");
        assert_eq!(m.sources[key], format!("file {}", dropin.display()));

        // 3: environment beats files.
        let e = env(&[(var.as_str(), inputs[2])]);
        let (_, m) = load_merged(&[], &e, &cfg).unwrap();
        assert_eq!(m.values[key], want[2], "{key}: env");
        assert_eq!(m.sources[key], format!("environment variable {var}"));

        // 4: flags beat everything.
        let (_, m) = load_merged(&s(&[inputs[3]]), &e, &cfg).unwrap();
        assert_eq!(m.values[key], want[3], "{key}: flag");
        assert_eq!(m.sources[key], format!("flag --{flag}"));
    }
}

#[test]
fn typed_options_follow_the_layers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    write(
        &cfg,
        "data-dir: /srv/capstan\nsecure-port: 7443\nshutdown-delay-duration: 15s\nservices:\n  node-port-range: 31000-31999\n",
    );
    let (_, o) = load(
        &s(&["--config", cfg.to_str().unwrap(), "--v=3"]),
        &[],
        &nowhere(dir.path()),
    )
    .unwrap();
    assert_eq!(o.data_dir, Some(PathBuf::from("/srv/capstan")));
    assert_eq!(o.secure_port, 7443);
    assert_eq!(o.shutdown_delay_duration, Duration::from_secs(15));
    assert_eq!(o.service_node_port_range, "31000-31999");
    assert_eq!(o.verbosity, 3);
    assert_eq!(o.config_files, vec![cfg.clone()]);
    // Untouched settings keep the table's defaults.
    let d = ServeOptions::default();
    assert_eq!(d.secure_port, 6443);
    assert_eq!(d.bind_address, IpAddr::from([127, 0, 0, 1]));
    assert_eq!(d.service_cluster_ip_range, "10.0.0.0/24");
    assert_eq!(d.service_node_port_range, "30000-32767");
    assert_eq!(d.compaction_interval, Duration::from_secs(300));
    assert_eq!(d.min_request_timeout, 1800);
    assert_eq!(d.max_requests_inflight, 400);
    assert_eq!(d.max_mutating_requests_inflight, 200);
    assert_eq!(d.max_request_body_bytes, 3 * 1024 * 1024);
    assert_eq!(d.etcd_prefix, "/registry");
    assert_eq!(d.backend(), "embedded");
}

#[test]
fn env_nested_keys() {
    let dir = tempfile::tempdir().unwrap();
    let e = env(&[
        ("CAPSTAN_ETCD__SERVERS", "https://a:2379,https://b:2379"),
        ("CAPSTAN_AUDIT__LOG__MAXAGE", "7"),
        ("CAPSTAN_INSECURE__ALLOW_NON_LOOPBACK", "yes"),
        ("CAPSTAN_PROFILING", "false"),
        // Not settings: reserved names, and other programs' variables.
        ("CAPSTAN_LOG", "capstan=trace"),
        ("CAPSTAN_CONFIG", ""),
        ("HOME", "/root"),
    ]);
    let (_, o) = load(&[], &e, &nowhere(dir.path())).unwrap();
    assert_eq!(o.etcd_servers, vec!["https://a:2379", "https://b:2379"]);
    assert_eq!(o.backend(), "etcd3");
    assert_eq!(o.get("audit.log.maxage"), Some(&json!(7)));
    assert!(o.insecure_allow_non_loopback);
    assert_eq!(o.get("profiling"), Some(&json!(false)));

    // Unknown names are warned about, not refused: the variables a kubelet injects for a
    // Service named `capstan` must not stop the server in a pod.
    let (_, o) = load(
        &[],
        &env(&[
            ("CAPSTAN_SECURE_PROT", "1"),
            ("CAPSTAN_SERVICE_HOST", "10.96.0.7"),
            ("CAPSTAN_PORT_443_TCP", "tcp://10.96.0.7:443"),
            ("CAPSTAN_SECURE_PORT", "7443"),
        ]),
        &nowhere(dir.path()),
    )
    .unwrap();
    assert_eq!(o.secure_port, 7443);
    assert_eq!(o.config_warnings.len(), 3, "{:?}", o.config_warnings);
    assert!(o.config_warnings.contains(
        &"environment variable CAPSTAN_SECURE_PROT is not a setting, ignoring it (did you mean CAPSTAN_SECURE_PORT?)"
            .to_string()
    ));
    assert!(o
        .config_warnings
        .iter()
        .any(|w| w.starts_with("environment variable CAPSTAN_SERVICE_HOST is not a setting, ignoring it")));
    assert_eq!(
        err_of(load(&[], &env(&[("CAPSTAN_SECURE_PORT", "https")]), &nowhere(dir.path()))),
        "environment variable CAPSTAN_SECURE_PORT (key \"secure-port\"): expected integer 0-65535, got \"https\" (string)"
    );
}

#[test]
fn dropins_apply_in_lexical_order() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    write(&cfg, "secure-port: 1\nmin-request-timeout: 10\n");
    let d = dir.path().join("config.yaml.d");
    write(&d.join("20-b.yaml"), "secure-port: 20\n");
    write(&d.join("10-a.toml"), "secure-port = 10\nmax-requests-inflight = 5\n");
    write(&d.join("30-c.yaml.bak"), "secure-port: 30\n");
    write(&d.join(".hidden.yaml"), "secure-port: 40\n");
    let (_, m) = load_merged(&[], &[], &cfg).unwrap();
    assert_eq!(m.values["secure-port"], json!(20));
    assert_eq!(m.values["max-requests-inflight"], json!(5));
    assert_eq!(m.values["min-request-timeout"], json!(10));
    assert_eq!(m.files, vec![cfg.clone(), d.join("10-a.toml"), d.join("20-b.yaml")]);
    assert_eq!(
        m.sources["max-requests-inflight"],
        format!("file {}", d.join("10-a.toml").display())
    );
    // Drop-ins next to the default path apply even when the main file is absent.
    std::fs::remove_file(&cfg).unwrap();
    let (_, m) = load_merged(&[], &[], &cfg).unwrap();
    assert_eq!(m.values["secure-port"], json!(20));
}

#[test]
fn yaml_11_scalars_are_read_sanely() {
    let l = layers::file_layer_from_str(
        "c.yaml",
        "insecure:\n  allow-non-loopback: yes\nallow-privileged: on\nenable-garbage-collector: Off\nprofiling: n\netcd:\n  prefix: on\nsecure-port: \"6444\"\nfeature-gates:\n  A: yes\n  B: false\n",
        false,
    )
    .unwrap();
    assert_eq!(l.values["insecure.allow-non-loopback"], json!(true));
    assert_eq!(l.values["allow-privileged"], json!(true));
    assert_eq!(l.values["enable-garbage-collector"], json!(false));
    assert_eq!(l.values["profiling"], json!(false));
    // A string setting keeps the word (YAML 1.2: `on` is a string).
    assert_eq!(l.values["etcd.prefix"], json!("on"));
    assert_eq!(l.values["secure-port"], json!(6444));
    assert_eq!(l.values["feature-gates"], json!({"A": true, "B": false}));
    // `null` leaves the key to lower layers.
    let l = layers::file_layer_from_str("c.yaml", "secure-port: ~\n", false).unwrap();
    assert!(l.values.is_empty());
    // An empty file is fine.
    assert!(layers::file_layer_from_str("c.yaml", "", false)
        .unwrap()
        .values
        .is_empty());
}

#[test]
fn bad_values_name_file_line_key_and_type() {
    let e = err_of(layers::file_layer_from_str(
        "/etc/capstan/config.yaml",
        "data-dir: /x\nsecure-port: abc\netcd:\n  servers: [a]\n  prefix: [x, y]\nlogging:\n  format: xml\n",
        false,
    ));
    assert_eq!(
        e,
        "3 configuration errors:\n  \
         /etc/capstan/config.yaml:2: key \"secure-port\" (flag --secure-port): expected integer 0-65535, got \"abc\" (string)\n  \
         /etc/capstan/config.yaml:5: key \"etcd.prefix\" (flag --etcd-prefix): expected string, got a list\n  \
         /etc/capstan/config.yaml:7: key \"logging.format\" (flag --logging-format): expected one of: text, json, got \"xml\" (string)"
    );
    let e = err_of(layers::file_layer_from_str(
        "/etc/capstan/config.toml",
        "[etcd]\ncompaction-interval = 5\n",
        true,
    ));
    assert_eq!(
        e,
        "/etc/capstan/config.toml:2: key \"etcd.compaction-interval\" (flag --etcd-compaction-interval): expected duration (e.g. 30s, 5m, 1h30m), got 5 (number)"
    );
    let e = err_of(layers::file_layer_from_str("c.yaml", "etcd: https://x:2379\n", false));
    assert_eq!(
        e,
        "c.yaml:1: key \"etcd\" is a section: expected a mapping of etcd.* settings, got \"https://x:2379\" (string)"
    );
    let e = err_of(layers::file_layer_from_str("c.yaml", "- a\n- b\n", false));
    assert_eq!(
        e,
        "c.yaml: expected a mapping of settings (key: value) at the top level, got a list"
    );
    // Syntax errors keep the parser's position.
    let e = err_of(layers::file_layer_from_str("c.yaml", "a: [1, 2\nb: 3\n", false));
    assert!(e.starts_with("c.yaml: cannot parse YAML: "), "{e}");
    assert!(e.contains("line"), "{e}");
    let e = err_of(layers::file_layer_from_str("c.toml", "a = = 1\n", true));
    assert!(e.starts_with("c.toml: cannot parse TOML: "), "{e}");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn unknown_keys_suggest_the_right_one() {
    let e = err_of(layers::file_layer_from_str("c.yaml", "secure-prot: 1\n", false));
    assert_eq!(
        e,
        "c.yaml:1: unknown key \"secure-prot\" (did you mean \"secure-port\"?)"
    );
    let e = err_of(layers::file_layer_from_str(
        "c.yaml",
        "etcd:\n  prefix: /r\n  serverz: [a]\n",
        false,
    ));
    assert_eq!(
        e,
        "c.yaml:3: unknown key \"etcd.serverz\" (did you mean \"etcd.servers\"?)"
    );
    let e = err_of(layers::file_layer_from_str(
        "c.yaml",
        "frobnicate-everything: 1\n",
        false,
    ));
    assert_eq!(
        e,
        "c.yaml:1: unknown key \"frobnicate-everything\" (see docs/config-reference.md for the accepted keys)"
    );
}

#[test]
fn explicit_config_must_exist_and_default_is_optional() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let e = err_of(load(
        &s(&["--config", missing.to_str().unwrap()]),
        &[],
        &nowhere(dir.path()),
    ));
    assert_eq!(
        e,
        format!(
            "config file {} (from --config) does not exist or is not a file",
            missing.display()
        )
    );
    let e = err_of(load(
        &[],
        &env(&[("CAPSTAN_CONFIG", missing.to_str().unwrap())]),
        &nowhere(dir.path()),
    ));
    assert!(e.contains("(from CAPSTAN_CONFIG)"), "{e}");
    // The default path is used when present.
    let def = dir.path().join("etc/config.yaml");
    write(&def, "secure-port: 9443\n");
    let (_, o) = load(&[], &[], &def).unwrap();
    assert_eq!(o.secure_port, 9443);
    assert_eq!(o.sources["secure-port"], format!("file {}", def.display()));
}

/// kubeadm's kube-apiserver command line (apiserver-facts.md §1.2) parses, and capstan acts on
/// every flag of it.
#[test]
fn kubeadm_flag_set_parses() {
    let dir = tempfile::tempdir().unwrap();
    let args = s(&[
        "--advertise-address=192.168.1.10",
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        "--client-ca-file=/etc/kubernetes/pki/ca.crt",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
        "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
        "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
        "--etcd-servers=https://127.0.0.1:2379",
        "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
        "--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        "--secure-port=6443",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
        "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
        "--service-cluster-ip-range=10.96.0.0/12",
        "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
        "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
    ]);
    let (_, o) = load(&args, &[], &nowhere(dir.path())).unwrap();
    assert_eq!(o.advertise_address, Some(IpAddr::from([192, 168, 1, 10])));
    assert_eq!(o.client_ca_file, Some(PathBuf::from("/etc/kubernetes/pki/ca.crt")));
    assert_eq!(o.etcd_servers, vec!["https://127.0.0.1:2379"]);
    assert_eq!(o.backend(), "etcd3");
    assert_eq!(o.etcd_cafile, Some(PathBuf::from("/etc/kubernetes/pki/etcd/ca.crt")));
    assert_eq!(o.service_cluster_ip_range, "10.96.0.0/12");
    assert_eq!(o.first_service_ip(), Ok(IpAddr::from([10, 96, 0, 1])));
    assert_eq!(
        o.tls_cert_file,
        Some(PathBuf::from("/etc/kubernetes/pki/apiserver.crt"))
    );
    assert_eq!(
        o.tls_private_key_file,
        Some(PathBuf::from("/etc/kubernetes/pki/apiserver.key"))
    );
    // Stored for later work.
    assert_eq!(o.get("authorization.mode"), Some(&json!(["Node", "RBAC"])));
    assert_eq!(o.get("authentication.enable-bootstrap-token-auth"), Some(&json!(true)));
    assert_eq!(
        o.get("kubelet.preferred-address-types"),
        Some(&json!(["InternalIP", "ExternalIP", "Hostname"]))
    );
    // No flag is accepted and ignored: each works, has no effect, or is refused.
    assert!(flags::FLAGS
        .iter()
        .all(|f| f.status != flags::Status::Refused || f.note().is_some()));
    assert!(load(
        &s(&["--profiling=false", "--goaway-chance=0"]),
        &[],
        &nowhere(dir.path())
    )
    .is_ok());
    let e = load(&s(&["--goaway-chance=0.01"]), &[], &nowhere(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--goaway-chance=0.01: HTTP/2 GOAWAY load spreading is not implemented"),
        "{e}"
    );
}

/// `--feature-gates` as kube-apiserver 1.33 takes it: unknown names and locked gates fail with
/// upstream's errors, gates at their defaults pass (GA and deprecated ones with upstream's
/// warning), the gates capstan acts on work at either value, and any other gate set to the other
/// value is refused, naming the layer and the gate.
#[test]
fn feature_gates_follow_upstream_and_refuse_what_capstan_does_not_implement() {
    let dir = tempfile::tempdir().unwrap();
    let load_with = |args: &[&str], vars: &[(&str, &str)]| load(&s(args), &env(vars), &nowhere(dir.path()));
    // Unknown: upstream's text, the layer, and the nearest known name.
    let e = err_of(load_with(&["--feature-gates=SidecarContainer=true"], &[]));
    assert_eq!(
        e,
        "flag --feature-gates: --feature-gates=SidecarContainer=true: unrecognized feature gate: SidecarContainer (did you mean SidecarContainers?)"
    );
    let e = err_of(load_with(&[], &[("CAPSTAN_FEATURE_GATES", "Foo=true")]));
    assert_eq!(
        e,
        "environment variable CAPSTAN_FEATURE_GATES: --feature-gates=Foo=true: unrecognized feature gate: Foo"
    );
    // Locked to its default.
    let e = err_of(load_with(&["--feature-gates=SidecarContainers=false"], &[]));
    assert!(
        e.ends_with("--feature-gates=SidecarContainers=false: cannot set feature gate SidecarContainers to false, feature is locked to true"),
        "{e}"
    );
    // At their defaults: accepted, with upstream's warnings for GA and deprecated gates.
    let (_, o) = load_with(
        &[
            "--feature-gates=SidecarContainers=true,APIResponseCompression=true",
            "--feature-gates=kube:AllowInsecureKubeletCertificateSigningRequests=false,AllAlpha=false",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        o.config_warnings,
        vec![
            "Setting GA feature gate SidecarContainers=true. It will be removed in a future release.",
            "Setting deprecated feature gate AllowInsecureKubeletCertificateSigningRequests=false. It will be removed in a future release.",
        ]
    );
    // Known, not implemented, set to the other value: refused, naming it.
    let e = err_of(load_with(
        &["--feature-gates=APIResponseCompression=false,SidecarContainers=true"],
        &[],
    ));
    assert!(
        e.starts_with("flag --feature-gates: --feature-gates=APIResponseCompression=false,SidecarContainers=true: capstan does not implement the feature gate APIResponseCompression=false (")
            && e.contains("VolumeAttributesClass, DRAAdminAccess, DRAResourceClaimDeviceStatus;"),
        "{e}"
    );
    // Honoured: works as before.
    let (_, o) = load_with(
        &["--feature-gates=PodTopologyLabelsAdmission=true,VolumeAttributesClass=true"],
        &[],
    )
    .unwrap();
    let g = features::FeatureGates::from_options(&o);
    assert!(g.enabled("PodTopologyLabelsAdmission") && g.enabled("VolumeAttributesClass"));
    assert!(o.config_warnings.is_empty(), "{:?}", o.config_warnings);
    // The note (and so the reference) names every gate capstan acts on.
    let note = flags::by_name("feature-gates").and_then(|f| f.note()).unwrap();
    for (name, _) in features::HONOURED {
        assert!(note.contains(name), "{name}: {note}");
    }
}

/// Flags whose being ignored would weaken security or lose data fail at load, naming the flag,
/// the layer and why; their defaults and harmless values pass.
#[test]
fn refused_flags_fail_unless_default() {
    let dir = tempfile::tempdir().unwrap();
    let err = |args: &[&str]| load(&s(args), &[], &nowhere(dir.path())).unwrap_err().to_string();
    let e = err(&["--egress-selector-config-file=/etc/egress.yaml"]);
    assert!(e.contains("flag --egress-selector-config-file: --egress-selector-config-file=/etc/egress.yaml: egress selection (konnectivity) is not implemented"), "{e}");
    let e = err(&["--service-account-signing-endpoint=/run/signer.sock"]);
    assert!(
        e.contains("requires enabling ExternalServiceAccountTokenSigner feature gate"),
        "{e}"
    );
    let e = err(&["--emulation-forward-compatible=true"]);
    assert!(e.contains("EmulationForwardCompatible cannot be set to true if the emulation version is the same as the binary version"), "{e}");
    let e = err(&["--emulated-version=kube=1.31"]);
    assert!(
        e.contains("--emulated-version=kube=1.31: capstan serves the 1.33 API"),
        "{e}"
    );
    let e = err(&["--enable-garbage-collector=false"]);
    assert!(
        e.contains("--enable-garbage-collector=false: capstan always runs deletion propagation"),
        "{e}"
    );
    let e = err(&[
        "--max-connection-bytes-per-sec=1000",
        "--etcd-servers-overrides=/events#http://127.0.0.1:4002",
    ]);
    assert!(
        e.contains("--max-connection-bytes-per-sec=1000") && e.contains("--etcd-servers-overrides="),
        "{e}"
    );
    let e = err(&[
        "--feature-gates=ImageVolume=true,WatchList=false",
        "--runtime-config=batch/v9=true",
    ]);
    assert!(
        e.contains("--feature-gates=ImageVolume=true,WatchList=false: capstan does not implement the feature gate ImageVolume=true (it acts on PodTopologyLabelsAdmission,")
            && e.contains("--runtime-config: group version batch/v9 that has not been registered"),
        "{e}"
    );
    let e = err(&["--authorization-policy-file=/etc/abac.jsonl"]);
    assert!(
        e.contains("--authorization-policy-file=/etc/abac.jsonl: ABAC is not implemented"),
        "{e}"
    );
    // The flags capstan does not implement fail when set, with upstream's syntax errors first.
    let e = err(&["--watch-cache-sizes=pods#0,nodes#x,secrets"]);
    assert!(
        e.contains("--watch-cache-sizes: invalid size of watch cache size: nodes#x")
            && e.contains("--watch-cache-sizes: invalid value of watch cache size: secrets")
            && e.contains("--watch-cache-sizes=pods#0,nodes#x,secrets: upstream would not cache that resource"),
        "{e}"
    );
    let e = err(&["--watch-cache=false"]);
    assert!(
        e.contains("--watch-cache=false: capstan always serves lists and watches from its watch cache"),
        "{e}"
    );
    let e = err(&["--show-hidden-metrics-for-version=1.31"]);
    assert!(e.contains("--show-hidden-metrics-for-version must be omitted or have the value '1.32'. Only the previous minor version is allowed"), "{e}");
    let e = err(&["--kubernetes-service-node-port=443"]);
    assert!(
        e.contains("kubernetes service node port range 30000-32767 doesn't contain 443"),
        "{e}"
    );
    let e = err(&["--cert-dir=/srv/certs"]);
    assert!(
        e.contains("--cert-dir=/srv/certs: capstan generates its serving certificate under --data-dir/pki"),
        "{e}"
    );
    for (flag, why) in [
        (
            "--storage-initialization-timeout=2m",
            "capstan loads every watch cache before it listens",
        ),
        ("--shutdown-send-retry-after=true", "answering 429 with Retry-After"),
        (
            "--shutdown-watch-termination-grace-period=30s",
            "draining watches over a grace period",
        ),
        ("--vmodule=foo=4", "klog's per-file log levels"),
        (
            "--tracing-config-file=/etc/t.yaml",
            "OpenTelemetry tracing is not implemented",
        ),
        ("--log-text-split-stream=true", "split log streams"),
        ("--allow-metric-labels=a,b='x'", "metric label allow-lists"),
        ("--contention-profiling=true", "Go block profiling"),
    ] {
        let e = err(&[flag]);
        assert!(e.contains(why), "{flag}: {e}");
    }
    let e = err(&["--endpoint-reconciler-type=master-count"]);
    assert!(
        e.contains("capstan implements the lease (default) and none reconcilers"),
        "{e}"
    );
    for ok in [
        &[
            "--emulated-version=kube=1.33",
            "--enable-garbage-collector=true",
            "--max-connection-bytes-per-sec=0",
            "--feature-gates=PodTopologyLabelsAdmission=true",
        ][..],
        &[
            "--emulation-forward-compatible=false",
            "--endpoint-reconciler-type=none",
        ],
        // Spellings of the defaults, and values that are harmless.
        &[
            "--storage-initialization-timeout=60s",
            "--log-json-info-buffer-size=0Ki",
            "--watch-cache-sizes=pods#1000,deployments.apps#50",
            "--watch-cache=true",
            "--show-hidden-metrics-for-version=1.32",
            "--kubernetes-service-node-port=30443",
        ],
        &[
            "--cert-dir=/srv/certs",
            "--tls-cert-file=/etc/s.crt",
            "--tls-private-key-file=/etc/s.key",
        ],
    ] {
        assert!(load(&s(ok), &[], &nowhere(dir.path())).is_ok(), "{ok:?}");
    }
    // Every flag that is not implemented says why; no implemented flag has a note.
    for f in flags::FLAGS {
        let needs = !matches!(f.status, flags::Status::Implemented | flags::Status::Capstan);
        assert_eq!(f.note().is_some(), needs, "--{}: note and status disagree", f.name);
    }
}

#[test]
fn show_renders_a_valid_config_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    write(&cfg, "etcd:\n  prefix: /kube\n");
    let (_, m) = load_merged(
        &s(&[
            "--config",
            cfg.to_str().unwrap(),
            "--secure-port=7443",
            "--audit-log-batch-throttle-qps=0.01",
        ]),
        &env(&[("CAPSTAN_ETCD__SERVERS", "https://e:2379")]),
        &nowhere(dir.path()),
    )
    .unwrap();
    let plain = show::render_yaml(&m, false);
    assert!(plain.contains("secure-port: 7443\n"), "{plain}");
    assert!(plain.contains("etcd:\n"), "{plain}");
    assert!(plain.contains("  prefix: /kube\n"), "{plain}");
    // The output is itself a valid config file that reproduces every value.
    let back = layers::file_layer_from_str("shown.yaml", &plain, false).unwrap();
    let want: BTreeMap<&str, Json> = m.values.iter().map(|(k, v)| (*k, v.clone())).collect();
    let got: BTreeMap<&str, Json> = back.values.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(got, want);

    let with = show::render_yaml(&m, true);
    assert!(with.contains("secure-port: 7443  # flag --secure-port\n"), "{with}");
    assert!(
        with.contains(&format!("  prefix: /kube  # file {}\n", cfg.display())),
        "{with}"
    );
    assert!(
        with.contains("  servers: [\"https://e:2379\"]  # environment variable CAPSTAN_ETCD__SERVERS\n"),
        "{with}"
    );
    assert!(with.contains("min-request-timeout: 1800  # default\n"), "{with}");
    assert!(
        with.contains("    batch-throttle-qps: 0.01  # flag --audit-log-batch-throttle-qps\n"),
        "{with}"
    );
}

#[test]
fn validate_file_checks_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    write(&good, "secure-port = 6443\n[etcd]\nservers = [\"https://a:2379\"]\n");
    assert_eq!(validate_file(&good).unwrap(), vec!["etcd.servers", "secure-port"]);
    let bad = dir.path().join("bad.yaml");
    write(&bad, "audit:\n  log:\n    maxage: -1\n");
    assert_eq!(
        err_of(validate_file(&bad)),
        format!(
            "{}:3: key \"audit.log.maxage\" (flag --audit-log-maxage): expected integer >= 0, got -1 (number)",
            bad.display()
        )
    );
}

/// `--runtime-config` from every layer, merged entry by entry; bad keys fail with upstream's text
/// and the layer that set them.
#[test]
fn runtime_config_layers_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, "runtime-config:\n  batch/v1: false\n  api/beta: \"true\"\n").unwrap();
    let env = [("CAPSTAN_RUNTIME_CONFIG".to_string(), "apps/v1/deployments".to_string())];
    let (_, o) = load(
        &s(&[
            "--config",
            file.to_str().unwrap(),
            "--runtime-config=batch/v1/jobs=true",
        ]),
        &env,
        &nowhere(dir.path()),
    )
    .unwrap();
    let en = &o.api_enablement;
    assert!(en.resource_enabled("batch", "v1", "jobs") && !en.resource_enabled("batch", "v1", "cronjobs"));
    assert!(en.version_enabled("networking.k8s.io", "v1beta1"));
    assert!(en.resource_enabled("apps", "v1", "deployments"));
    let e = load(&s(&["--runtime-config=api/all=false"]), &[], &nowhere(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("flag --runtime-config: --runtime-config: invalid key with only api/all=false")
            || e.contains("--runtime-config: invalid key with only api/all=false"),
        "{e}"
    );
    let bad = [("CAPSTAN_RUNTIME_CONFIG".to_string(), "foo.io/v1=true".to_string())];
    let e = load(&[], &bad, &nowhere(dir.path())).unwrap_err().to_string();
    assert!(
        e.contains("CAPSTAN_RUNTIME_CONFIG") && e.contains("unknown api groups foo.io"),
        "{e}"
    );
}

#[test]
fn flag_table_covers_the_issue_list() {
    for name in [
        "feature-gates",
        "runtime-config",
        "v",
        "profiling",
        "max-requests-inflight",
        "max-mutating-requests-inflight",
        "request-timeout",
        "min-request-timeout",
        "shutdown-delay-duration",
        "goaway-chance",
        "service-node-port-range",
        "audit-policy-file",
        "audit-log-path",
        "audit-webhook-config-file",
        "anonymous-auth",
        "token-auth-file",
        "oidc-issuer-url",
        "encryption-provider-config",
        "tls-min-version",
        "disable-admission-plugins",
        "admission-control-config-file",
    ] {
        assert!(flags::by_name(name).is_some(), "--{name} missing from the flag table");
    }
}

#[test]
fn flag_names_are_keys_in_files() {
    let l = layers::file_layer_from_str(
        "c.yaml",
        "service-node-port-range: 30000-31000\netcd-servers: [https://e:2379]\nsecure-port: 7443\n",
        false,
    )
    .unwrap();
    assert_eq!(l.values["services.node-port-range"], json!("30000-31000"));
    assert_eq!(l.values["etcd.servers"], json!(["https://e:2379"]));
    assert_eq!(l.values["secure-port"], json!(7443));
    let l = layers::file_layer_from_str("c.toml", "etcd-prefix = \"/k\"\n", true).unwrap();
    assert_eq!(l.values["etcd.prefix"], json!("/k"));
    // The same setting twice (flag name and key) is refused, naming both.
    let e = layers::file_layer_from_str(
        "c.yaml",
        "services:\n  node-port-range: 30000-31000\nservice-node-port-range: 30000-32000\n",
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("sets --service-node-port-range (key \"services.node-port-range\") a second time"),
        "{e}"
    );
    // Inside a section a flag name is no key.
    let e = layers::file_layer_from_str("c.yaml", "etcd:\n  etcd-servers: [a]\n", false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown key \"etcd.etcd-servers\""), "{e}");
    // No flag's name is another flag's key, so an alias never shadows a key.
    for f in flags::FLAGS {
        assert!(flags::by_key(f.name).is_none_or(|k| k.name == f.name), "--{}", f.name);
    }
}
