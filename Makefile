# Capstan — common tasks. CARGO_TARGET_DIR defaults to a persistent cache so CI and
# developers reuse builds across fresh clones.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/capstan/target
CARGO ?= cargo
DATA_DIR ?=

.PHONY: build release run test unit fmt fmt-check lint bench setup clean conformance

build:
	$(CARGO) build --bins

release:
	$(CARGO) build --release --bins

## Start the API server on the embedded store (TLS on 127.0.0.1:6443, admin kubeconfig in the data dir).
run: build
	$(CARGO_TARGET_DIR)/debug/capstan serve $(if $(DATA_DIR),--data-dir $(DATA_DIR),)

## Every test: unit tests, integration tests against the real binary with real kubectl and kube-rs.
test:
	$(CARGO) test --workspace --all-targets

unit:
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

bench: release
	bash scripts/bench.sh

## Install what the build and tests need on a Debian machine (etcd-server, protobuf-compiler).
setup:
	bash scripts/setup.sh

clean:
	$(CARGO) clean
