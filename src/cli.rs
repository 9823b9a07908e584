//! Command line: `capstan serve`, `capstan --version`; invoked as `kube-apiserver` (argv[0])
//! it behaves as `capstan serve`.

use crate::config::ServeOptions;
use clap::{Parser, Subcommand};

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
    /// Run the API server.
    Serve(ServeOptions),
}

#[derive(Debug, Parser)]
#[command(name = "kube-apiserver", version)]
struct KubeApiserver {
    #[command(flatten)]
    serve: ServeOptions,
}

fn init_logging(verbosity: u8) {
    let default = match verbosity {
        0..=1 => "info",
        2..=4 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAPSTAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("capstan={default},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Entry point for the binary. Returns the process exit code.
pub fn main() -> i32 {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let invoked_as = std::path::Path::new(&argv0)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("capstan")
        .to_string();
    let opts = if invoked_as == "kube-apiserver" {
        KubeApiserver::parse().serve
    } else {
        match Cli::parse().command {
            Command::Serve(o) => o,
        }
    };
    init_logging(opts.verbosity);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("capstan: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(crate::server::run(opts)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("capstan: {e:#}");
            1
        }
    }
}
