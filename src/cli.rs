//! Command line: `capstan serve`, `capstan --version`; argv[0] `kube-apiserver` = serve.
