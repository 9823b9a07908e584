//! `capstan-test-kms-plugin`: the KMS v2 plugin of the tests (`tests/common/kms_plugin.rs`) as a
//! process, for benchmarks and manual runs against capstan or kube-apiserver. NOT a real KMS:
//! its key-encryption keys are derived from the key ID.
//!
//! ```sh
//! capstan-test-kms-plugin --socket /run/kms.sock --key-id key-1
//! ```
//! Serves `v2.KeyManagementService` on the socket until SIGTERM/SIGINT.

#[path = "../../tests/common/kms_plugin.rs"]
mod kms_plugin;

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "capstan-test-kms-plugin", about = "KMS v2 test plugin (not for production)")]
struct Args {
    /// The unix socket to serve on (the EncryptionConfiguration's endpoint is unix://<socket>).
    #[arg(long)]
    socket: PathBuf,
    /// The key ID Status and Encrypt report.
    #[arg(long, default_value = "key-1")]
    key_id: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let plugin = kms_plugin::KmsPlugin::start(&args.socket, &args.key_id).await;
    eprintln!("capstan-test-kms-plugin: serving on {}", plugin.endpoint());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!(
        "capstan-test-kms-plugin: {} Encrypt, {} Decrypt calls",
        plugin.encrypts(),
        plugin.decrypts()
    );
}
