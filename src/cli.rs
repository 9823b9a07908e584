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
    if let Some(w) = opts.ignored_warning() {
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
    }
}
