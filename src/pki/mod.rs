//! Certificate and kubeconfig bootstrap (rcgen), and the rustls server configuration.
//!
//! Layout follows kubeadm (`cmd/kubeadm/app/phases/certs/certlist.go`):
//! `DIR/pki/ca.{crt,key}`, `DIR/pki/apiserver.{crt,key}`, `DIR/pki/admin.{crt,key}` and
//! `DIR/admin.kubeconfig`. Keys are ECDSA P-256 in PKCS#8 PEM ("PRIVATE KEY"), mode 0600.

mod bootstrap;
pub mod certs;
mod files;
mod kubeconfig;
mod tls;

pub use bootstrap::{bootstrap, serving_alt_names, BootstrapOptions, PkiPaths};
pub use kubeconfig::write_kubeconfig;
pub use tls::{identity_from_der, load_certs, load_private_key, server_tls_config};

#[cfg(test)]
mod tests;
