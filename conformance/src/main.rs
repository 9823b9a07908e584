//! capstan-conformance: run API-server conformance cases against any Kubernetes API server.

mod cases;
mod client;
mod suite;

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use client::{Ctx, Env, Kubectl};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(name = "capstan-conformance", about = "Kubernetes API server conformance runner")]
struct Args {
    /// Kubeconfig of the server under test (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: current-context).
    #[arg(long)]
    context: Option<String>,
    /// Only run cases whose name matches this regex.
    #[arg(long)]
    focus: Option<String>,
    /// Do not run cases whose name matches this regex.
    #[arg(long)]
    skip: Option<String>,
    /// Cases run at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Where junit_01.xml (and kubectl caches) go.
    #[arg(long, default_value = "_artifacts")]
    output_dir: PathBuf,
    /// Directory holding kubectl.1.NN binaries (default: directory of `readlink -f $(which kubectl)`).
    #[arg(long)]
    kubectl_dir: Option<PathBuf>,
    /// Comma-separated kubectl versions to run kubectl cases with, e.g. 1.27,1.33 (default: all found).
    #[arg(long, value_delimiter = ',')]
    kubectl_versions: Vec<String>,
    /// Only list the selected case names.
    #[arg(long)]
    list: bool,
}

fn default_kubectl_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        let p = dir.join("kubectl");
        if p.is_file() {
            return std::fs::canonicalize(&p).ok()?.parent().map(Path::to_path_buf);
        }
    }
    None
}

/// `kubectl.1.NN` binaries in `dir`, sorted by minor; falls back to a plain `kubectl` labelled "default".
fn find_kubectls(dir: Option<&Path>, wanted: &[String]) -> Vec<Kubectl> {
    let Some(dir) = dir else { return Vec::new() };
    let mut found: Vec<(u32, Kubectl)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = name.strip_prefix("kubectl.") {
                if let Some(minor) = v.strip_prefix("1.").and_then(|m| m.parse::<u32>().ok()) {
                    found.push((
                        minor,
                        Kubectl {
                            version: v.to_string(),
                            path: e.path(),
                        },
                    ));
                }
            }
        }
    }
    found.sort_by_key(|(m, _)| *m);
    let mut out: Vec<Kubectl> = found.into_iter().map(|(_, k)| k).collect();
    if out.is_empty() && dir.join("kubectl").is_file() {
        out.push(Kubectl {
            version: "default".into(),
            path: dir.join("kubectl"),
        });
    }
    if !wanted.is_empty() {
        out.retain(|k| wanted.iter().any(|w| w.trim() == k.version));
    }
    out
}

async fn detect(
    client: kube::Client,
    kubeconfig: PathBuf,
    context: Option<String>,
    output_dir: PathBuf,
) -> Result<Env> {
    let mut env = Env {
        client,
        kubeconfig,
        context,
        output_dir,
        is_capstan: false,
        has_kubelet: false,
        has_controller_manager: false,
        git_version: String::new(),
    };
    let probe = Ctx {
        env: Arc::new(env),
        ns: String::new(),
        kubectl: None,
    };
    let version = probe.get("/version").await?.expect(200).context("GET /version")?;
    let git_version = version["gitVersion"].as_str().unwrap_or("").to_string();
    let nodes = probe.get("/api/v1/nodes").await?.json().unwrap_or_default();
    let has_kubelet = nodes["items"].as_array().is_some_and(|items| {
        items.iter().any(|n| {
            n["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
    });
    let lease = probe
        .get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager")
        .await?;
    let has_controller_manager = lease.status == 200
        && lease
            .json()
            .is_ok_and(|l| l["spec"]["holderIdentity"].as_str().is_some_and(|h| !h.is_empty()));
    env = match Arc::try_unwrap(probe.env) {
        Ok(e) => e,
        Err(_) => bail!("internal: environment still shared"),
    };
    env.is_capstan = git_version.to_lowercase().contains("capstan");
    env.git_version = git_version;
    env.has_kubelet = has_kubelet;
    env.has_controller_manager = has_controller_manager;
    Ok(env)
}

async fn real_main() -> Result<i32> {
    let args = Args::parse();
    let filter = suite::Filter::new(args.focus.as_deref(), args.skip.as_deref()).context("bad --focus/--skip")?;
    let kubectl_dir = args.kubectl_dir.clone().or_else(default_kubectl_dir);
    let kubectls = find_kubectls(kubectl_dir.as_deref(), &args.kubectl_versions);
    let all = cases::all(&kubectls);
    let selected: Vec<suite::Case> = all.into_iter().filter(|c| filter.selects(&c.name)).collect();
    if args.list {
        for c in &selected {
            println!("{}", c.name);
        }
        return Ok(0);
    }

    let kubeconfig = match &args.kubeconfig {
        Some(p) => p.clone(),
        None => match std::env::var_os("KUBECONFIG") {
            Some(k) => PathBuf::from(k),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".kube/config"),
        },
    };
    let kubeconfig =
        std::fs::canonicalize(&kubeconfig).with_context(|| format!("kubeconfig {}", kubeconfig.display()))?;
    let kc = Kubeconfig::read_from(&kubeconfig).with_context(|| format!("reading {}", kubeconfig.display()))?;
    let opts = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &opts).await?;
    let client = kube::Client::try_from(config)?;
    std::fs::create_dir_all(&args.output_dir)?;
    let output_dir = std::fs::canonicalize(&args.output_dir)?;

    let env = detect(client, kubeconfig, args.context.clone(), output_dir.clone()).await?;
    println!(
        "server {} (capstan: {}, ready node: {}, kube-controller-manager: {}); kubectl: {}",
        env.git_version,
        env.is_capstan,
        env.has_kubelet,
        env.has_controller_manager,
        if kubectls.is_empty() {
            "none found".to_string()
        } else {
            kubectls
                .iter()
                .map(|k| k.version.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }
    );
    println!("running {} cases, {} at a time", selected.len(), args.parallel);
    let start = Instant::now();
    let outcomes = suite::run(Arc::new(env), selected, args.parallel).await;
    let total = start.elapsed();
    let junit = suite::junit_xml("capstan-conformance", &outcomes, total);
    let junit_path = output_dir.join("junit_01.xml");
    std::fs::write(&junit_path, junit).with_context(|| format!("writing {}", junit_path.display()))?;
    println!("\n{}", suite::summary(&outcomes, total));
    println!("JUnit report: {}", junit_path.display());
    let failed = outcomes.iter().any(|o| matches!(o.status, suite::Status::Failed(_)));
    Ok(if failed { 1 } else { 0 })
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match real_main().await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("capstan-conformance: {e:#}");
            std::process::exit(2);
        }
    }
}
