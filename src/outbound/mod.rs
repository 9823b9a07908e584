//! Calls the API server makes to other servers: admission and conversion webhooks, kubelets,
//! extension API servers, the audit, token-authentication and authorization webhooks. One TLS client builder and one webhook client, so
//! every caller verifies certificates, resolves Services and reports errors the same way.

pub mod endpoints;
pub mod kubeconfig;
pub mod tls;
pub mod webhook;
