//! Command line: `capstan serve [kube-apiserver flags]`, `capstan config show|validate|reference`,
//! `capstan --version`. Invoked as `kube-apiserver` (argv[0]) it behaves as `capstan serve`.
//!
//! Server flags are not declared to clap: the config pre-pass ([`crate::config::argv`]) parses
//! them from the flag table, so every upstream flag is accepted and no clap default can shadow a
//! value from the config file or the environment.

use crate::config::{self, DEFAULT_CONFIG};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "capstan",
    version,
    about = "A Kubernetes API server, drop-in for kube-apiserver"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (kube-apiserver flags; `capstan serve --help` lists them).
    #[command(disable_help_flag = true)]
    Serve {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Inspect the layered configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// kubeadm-style PKI: `certs init`, `certs check-expiration`, `certs renew <name>|all`.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Write kubeadm's kubeconfig files (admin.conf, super-admin.conf, kubelet.conf,
    /// controller-manager.conf, scheduler.conf) with client certificates signed by the CA.
    Kubeconfig(KubeconfigArgs),
    /// Stored data: `storage migrate [serve flags]`.
    #[command(subcommand)]
    Storage(StorageCommand),
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Rewrite every stored value in the layout `serve` writes with the same flags: built-in
    /// kinds as `--storage-media-type` (protobuf) in etcd, CRDs in their v1beta1 storage
    /// version. Values are read in either encoding anyway; this converts them in one pass
    /// (safe while servers run: each rewrite is a compare-and-swap).
    #[command(disable_help_flag = true)]
    Migrate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

/// Where the PKI and the kubeconfigs live.
#[derive(Debug, clap::Args)]
pub struct DirArgs {
    /// Certificate directory.
    #[arg(long = "dir", visible_alias = "cert-dir", default_value = crate::pki::certs::DEFAULT_CERT_DIR)]
    pub dir: PathBuf,
    /// Kubeconfig directory.
    #[arg(long, default_value = crate::pki::certs::DEFAULT_KUBECONFIG_DIR)]
    pub kubeconfig_dir: PathBuf,
}

/// Node identity and addresses used for SANs and kubeconfig server URLs.
#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// Node name (default: the lower-cased host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Advertise address (default: the source address of the default route, else 127.0.0.1).
    #[arg(long)]
    pub advertise_address: Option<std::net::IpAddr>,
    /// Stable host[:port] for the control plane (a SAN; server of admin/super-admin/kubelet kubeconfigs).
    #[arg(long)]
    pub control_plane_endpoint: Option<String>,
    /// Regenerate files that already exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create the kubeadm PKI (CAs, apiserver, kubelet/etcd/front-proxy clients, etcd, sa key pair).
    Init {
        #[command(flatten)]
        dirs: DirArgs,
        #[command(flatten)]
        node: NodeArgs,
        /// Extra SANs (IPs or DNS names) for the apiserver serving certificate, comma separated.
        #[arg(long, value_delimiter = ',')]
        apiserver_cert_extra_sans: Vec<String>,
        /// Service CIDR; its first IP is an apiserver SAN.
        #[arg(long, default_value = "10.96.0.0/12")]
        service_cidr: String,
        /// Cluster DNS domain.
        #[arg(long, default_value = "cluster.local")]
        dns_domain: String,
    },
    /// Print the expiry of every certificate and CA (like `kubeadm certs check-expiration`).
    CheckExpiration {
        #[command(flatten)]
        dirs: DirArgs,
    },
    /// Renew a certificate (or `all`) with the existing CA, keeping subject and SANs.
    Renew {
        /// admin.conf, apiserver, apiserver-etcd-client, apiserver-kubelet-client,
        /// controller-manager.conf, etcd-healthcheck-client, etcd-peer, etcd-server,
        /// front-proxy-client, scheduler.conf, super-admin.conf or all.
        name: String,
        #[command(flatten)]
        dirs: DirArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    pub dirs: DirArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    /// Port of the API server in the kubeconfig server URLs.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as YAML: `config show [--sources] [serve flags...]`.
    /// With --sources, each value names the layer that set it.
    #[command(disable_help_flag = true)]
    Show {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Check one config file (YAML or TOML): unknown keys, types, values.
    Validate { file: PathBuf },
    /// Print the configuration reference (docs/config-reference.md) generated from the flag table.
    Reference,
}

fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn kubernetes_version() -> String {
    crate::server::version_info()["gitVersion"]
        .as_str()
        .unwrap_or("unknown")
        .to_string()
}

/// `capstan storage migrate [serve flags]`.
fn storage_migrate(args: &[String]) -> i32 {
    let (_, opts) = match config::load(args, &process_env(), Path::new(DEFAULT_CONFIG)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("capstan: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(crate::server::migrate_storage(opts)) {
        Ok(m) => {
            println!(
                "checked {} values, rewrote {}, {} changed concurrently (run again to convert them)",
                m.checked, m.rewritten, m.conflicts
            );
            0
        }
        Err(e) => {
            eprintln!("capstan: {e:#}");
            1
        }
    }
}

/// `capstan serve` / `kube-apiserver`.
fn serve(program: &str, args: &[String]) -> i32 {
    let parsed = match config::parse_args(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    if parsed.help {
        print!("{}", config::argv::help_text(program));
        return 0;
    }
    if parsed.version {
        println!("Kubernetes {}", kubernetes_version());
        return 0;
    }
    let (_, opts) = match config::load(args, &process_env(), Path::new(DEFAULT_CONFIG)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let _log_guard = match crate::server::lifecycle::init_logging(&opts) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return 1;
        }
    };
    for f in &opts.config_files {
        tracing::info!(file = %f.display(), "read config file");
    }
    for w in &opts.config_warnings {
        tracing::warn!("{w}");
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("capstan: cannot start the runtime: {e}");
            return 1;
        }
    };
    let code = match rt.block_on(crate::server::run(opts)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("capstan: {e:#}");
            1
        }
    };
    // Don't wait for connection tasks still parked on the runtime.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

fn config_show(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "Usage: capstan config show [--sources] [serve flags...]\n\nPrints the effective configuration (built-in defaults < config file < drop-ins < CAPSTAN_* environment < flags)\nas YAML. --sources adds the layer that set each value as a comment."
        );
        return 0;
    }
    let sources = args.iter().any(|a| a == "--sources" || a == "--sources=true");
    let rest: Vec<String> = args.iter().filter(|a| !a.starts_with("--sources")).cloned().collect();
    match config::load_merged(&rest, &process_env(), Path::new(DEFAULT_CONFIG)) {
        Ok((_, merged)) => {
            for w in &merged.warnings {
                eprintln!("Warning: {w}");
            }
            print!("{}", config::show::render_yaml(&merged, sources));
            0
        }
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

fn config_validate(file: &Path) -> i32 {
    match config::validate_file(file) {
        Ok(keys) => {
            println!("{}: valid ({} settings)", file.display(), keys.len());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn certs_options(dirs: DirArgs, node: NodeArgs) -> crate::pki::certs::CertsOptions {
    let defaults = crate::pki::certs::CertsOptions::default();
    crate::pki::certs::CertsOptions {
        cert_dir: dirs.dir,
        kubeconfig_dir: dirs.kubeconfig_dir,
        node_name: node
            .node_name
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or(defaults.node_name),
        advertise_address: node.advertise_address.unwrap_or(defaults.advertise_address),
        control_plane_endpoint: node.control_plane_endpoint,
        force: node.force,
        ..defaults
    }
}

fn print_lines(result: anyhow::Result<Vec<String>>) -> i32 {
    match result {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn certs(cmd: CertsCommand) -> i32 {
    use crate::pki::certs;
    match cmd {
        CertsCommand::Init {
            dirs,
            node,
            apiserver_cert_extra_sans,
            service_cidr,
            dns_domain,
        } => {
            let opts = certs::CertsOptions {
                extra_sans: apiserver_cert_extra_sans,
                service_cidr,
                dns_domain,
                ..certs_options(dirs, node)
            };
            print_lines(certs::init(&opts))
        }
        CertsCommand::CheckExpiration { dirs } => match certs::check_expiration_now(&dirs.dir, &dirs.kubeconfig_dir) {
            Ok(table) => {
                print!("{table}");
                0
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
        CertsCommand::Renew { name, dirs } => print_lines(certs::renew(&dirs.dir, &dirs.kubeconfig_dir, &name)),
    }
}

/// Entry point for the binary. Returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let invoked_as = args
        .first()
        .map(Path::new)
        .and_then(|p| p.file_name())
        .and_then(|s| s.to_str())
        .unwrap_or("capstan")
        .to_string();
    if invoked_as == "kube-apiserver" {
        return serve("kube-apiserver", args.get(1..).unwrap_or(&[]));
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        Command::Serve { args } => serve("capstan serve", &args),
        Command::Config(ConfigCommand::Show { args }) => config_show(&args),
        Command::Config(ConfigCommand::Validate { file }) => config_validate(&file),
        Command::Config(ConfigCommand::Reference) => {
            print!("{}", config::show::reference_markdown());
            0
        }
        Command::Certs(cmd) => certs(cmd),
        Command::Storage(StorageCommand::Migrate { args }) => storage_migrate(&args),
        Command::Kubeconfig(args) => {
            let opts = crate::pki::certs::CertsOptions {
                secure_port: args.secure_port,
                ..certs_options(args.dirs, args.node)
            };
            print_lines(crate::pki::certs::write_kubeconfigs(&opts))
        }
    }
}
