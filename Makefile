# Capstan — common tasks. CARGO_TARGET_DIR defaults to a persistent cache so CI and
# developers reuse builds across fresh clones.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/capstan/target
CARGO ?= cargo
DATA_DIR ?=

.PHONY: rpm build release run test unit fmt fmt-check lint bench bench-wire bench-fanout density density-short soak setup clean conformance conformance-upstream interop

build:
	$(CARGO) build --bins

release:
	$(CARGO) build --release --bins

## Start the API server on the embedded store (TLS on 127.0.0.1:6443, admin kubeconfig in the data dir).
run: build
	$(CARGO_TARGET_DIR)/debug/capstan serve --authorization-mode=Node,RBAC $(if $(DATA_DIR),--data-dir $(DATA_DIR),)

## Every test: unit tests, integration tests against the real binary with real kubectl, kube-rs,
## client-go and the Python client. Installs what is missing first (scripts/setup.sh; a no-op
## once everything is there), so on a fresh Debian machine this is the only set-up step.
test: setup
	$(CARGO) test --workspace --all-targets

unit: setup
	$(CARGO) test --workspace --lib

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint: fmt-check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Start Capstan on a temp dir and free port and run the conformance suite with every kubectl (conformance/README.md).
conformance:
	bash conformance/run.sh
	BACKEND=etcd bash conformance/run.sh

## The same cases against upstream kube-apiserver (needs `make upstream` first): they must pass there too.
conformance-upstream:
	SERVER=upstream bash conformance/run.sh

bench: release
	bash scripts/bench.sh

## Soak and fault test: mixed load while Capstan (embedded) or the etcd leader is killed (BENCHMARKS.md).
soak: release
	SOAK_SKIP_BUILD=1 bash scripts/soak.sh

## Protobuf vs JSON (LIST 10,000 pods, watch 1,000 updates) and etcd bytes per object, Capstan beside upstream.
bench-wire: release
	bash scripts/bench_wire.sh

## Density run (issue 22): real kube-controller-manager, kube-scheduler and kwok nodes (NODES=1000,
## PODS=30000 by default) against Capstan and upstream kube-apiserver in turn; pod startup and API
## call latency, peak RSS, CPU side by side (scripts/density.sh; BENCHMARKS.md).
density: release upstream
	bash scripts/density.sh

## Its short form (CI, when the upstream binaries are cached): 10 nodes, 200 pods, debug build; fails
## unless every pod went Running on both servers and /metrics had the request-latency histogram.
density-short: build
	NODES=10 PODS=200 POD_TIMEOUT=300 PROFILE=debug DENSITY_STRICT=1 bash scripts/density.sh

## Watch fan-out: Capstan with 10,000 watchers beside upstream with 1,000 (scripts/bench_fanout.sh).
bench-fanout: release upstream
	bash scripts/bench_fanout.sh

## Capstan and upstream kube-apiserver v1.33 on one etcd, and the real scheduler/controller-manager
## against Capstan (scripts/interop.sh; needs Go for scripts/upstream.sh, skips loudly without it).
# Built as conformance builds it (same packages, same features): in .ci/run no rebuild.
interop:
	$(CARGO) build --bins -p capstan -p capstan-conformance
	INTEROP_REQUIRED=$${INTEROP_REQUIRED:-} bash scripts/interop.sh
	$(CARGO) test --test encryption_upstream -- --ignored

## Install what the build and tests need on a Debian machine (etcd, protoc, python3-venv, Go, kubectl 1.27-1.33).
setup:
	bash scripts/setup.sh

clean:
	$(CARGO) clean

# --- Deployment (certs, deb, install) -------------------------------------------------------
.PHONY: certs deb install
PREFIX ?= /usr/local
DESTDIR ?=
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
SYSCONF_DIR ?= /etc
## kubeadm-style PKI and kubeconfigs: CERTS_DIR/pki and CERTS_DIR/*.conf (flags: CERTS_ARGS for
## `certs init`, e.g. --node-name/--advertise-address/--apiserver-cert-extra-sans; KUBECONFIG_ARGS for `kubeconfig`).
CERTS_DIR ?= /etc/kubernetes
CERTS_ARGS ?=
KUBECONFIG_ARGS ?=

certs: build
	$(CARGO_TARGET_DIR)/debug/capstan certs init --dir $(CERTS_DIR)/pki --kubeconfig-dir $(CERTS_DIR) $(CERTS_ARGS)
	$(CARGO_TARGET_DIR)/debug/capstan kubeconfig --dir $(CERTS_DIR)/pki --kubeconfig-dir $(CERTS_DIR) $(KUBECONFIG_ARGS)

## Debian package built with dpkg-deb from a staged tree (cargo-deb is not used: it takes ~13 min to compile).
deb: release
	bash packaging/build-deb.sh $(CARGO_TARGET_DIR)/release/capstan target/deb

## RPM built with rpmbuild from the prebuilt binary (cargo-generate-rpm takes ~21 min to compile).
rpm: release
	bash packaging/build-rpm.sh $(CARGO_TARGET_DIR)/release/capstan target/rpm

## Install the binary, the kube-apiserver symlink, the systemd units and (if absent) the default config.
install: release
	install -D -m 0755 $(CARGO_TARGET_DIR)/release/capstan $(DESTDIR)$(PREFIX)/bin/capstan
	ln -sf capstan $(DESTDIR)$(PREFIX)/bin/kube-apiserver
	install -d -m 0755 $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(SYSCONF_DIR)/capstan
	for u in capstan.service capstan-certs.service; do \
		sed 's#/usr/bin/capstan#$(PREFIX)/bin/capstan#g' systemd/$$u > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u; \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/$$u; \
	done
	[ -e $(DESTDIR)$(SYSCONF_DIR)/capstan/config.yaml ] || install -m 0644 packaging/config.yaml $(DESTDIR)$(SYSCONF_DIR)/capstan/config.yaml
	[ -e $(DESTDIR)$(SYSCONF_DIR)/capstan/capstan.env ] || install -m 0644 systemd/capstan.env $(DESTDIR)$(SYSCONF_DIR)/capstan/capstan.env

# --- Upstream components and upstream's e2e suite (scripts/upstream.sh, scripts/e2e.sh) ---------
.PHONY: upstream e2e e2e-baseline
## Build and cache upstream v1.33 kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
## e2e.test, ginkgo and kwok under ~/.cache/capstan/upstream (CAPSTAN_UPSTREAM_DIR); seconds when cached.
upstream:
	bash scripts/upstream.sh build

## Upstream's e2e [Conformance] suite (minus [Serial]/[Disruptive]) against SERVER=capstan|upstream
## on BACKEND=embedded|etcd with real kube-controller-manager, kube-scheduler and kwok nodes.
## FOCUS/SKIP/PARALLEL/NODES override; Capstan's results are diffed against conformance/baseline-v1.33.txt.
e2e: upstream build
	E2E_SKIP_BUILD=1 bash scripts/e2e.sh

## The yardstick: exactly the [Conformance] specs that pass on upstream (conformance/baseline-v1.33.txt),
## failing when one of them does not pass on Capstan (BACKEND=embedded|etcd). ~25 min on 2 cores.
e2e-baseline: build
	FOCUS=baseline E2E_STRICT=1 PARALLEL=$${PARALLEL:-12} E2E_SKIP_BUILD=1 bash scripts/e2e.sh
