//! Certificate and kubeconfig bootstrap (rcgen), and the rustls server configuration.
