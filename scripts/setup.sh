#!/usr/bin/env bash
# Install what the build and tests need on a Debian machine, once, non-interactively; a second
# run finds everything and installs nothing. `make test` and `make unit` run it first, so on a
# fresh machine `make test` is the only set-up step.
#   - Debian packages: etcd, protoc (+ well-known types), rpm/cpio (packaging tests), python3 with
#     venv (the Python client tier creates its own venv), curl;
#   - Go >= 1.24 for the client-go programs in tests/clients/go (from go.dev when apt's is older);
#   - kubectl 1.27 … 1.33 side by side (`kubectl.1.NN` next to `kubectl`), from dl.k8s.io.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/timestamp.proto ] || need+=(libprotobuf-dev)
command -v rpmbuild >/dev/null 2>&1 || need+=(rpm)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Go: the client-go programs' go.mod needs 1.24 or newer.
GO_VERSION=1.24.0
go_ok() {
  command -v go >/dev/null 2>&1 || return 1
  local v
  v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  [ "$(printf '%s\n%s\n' 1.24 "$v" | sort -V | head -1)" = 1.24 ]
}
if ! go_ok; then
  echo "setup: installing Go $GO_VERSION into /usr/local/go"
  curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" -o /tmp/go.tgz
  $SUDO rm -rf /usr/local/go
  $SUDO tar -C /usr/local -xzf /tmp/go.tgz
  rm -f /tmp/go.tgz
  $SUDO ln -sf /usr/local/go/bin/go /usr/local/bin/go
fi

# kubectl of each version the tests run, next to the `kubectl` on PATH.
KUBECTLS="1.27.16 1.28.15 1.29.14 1.30.13 1.31.9 1.32.5 1.33.1"
kdir=""
if command -v kubectl >/dev/null 2>&1; then
  kdir=$(dirname "$(readlink -f "$(command -v kubectl)")")
fi
missing=()
for v in $KUBECTLS; do
  minor=${v%.*}
  [ -n "$kdir" ] && [ -x "$kdir/kubectl.$minor" ] || missing+=("$v")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ -z "$kdir" ]; then
    kdir=/usr/local/lib/capstan-kubectl
    $SUDO mkdir -p "$kdir"
  fi
  for v in "${missing[@]}"; do
    echo "setup: installing kubectl $v as $kdir/kubectl.${v%.*}"
    curl -fsSL "https://dl.k8s.io/release/v$v/bin/linux/amd64/kubectl" -o /tmp/kubectl.dl
    $SUDO install -m 0755 /tmp/kubectl.dl "$kdir/kubectl.${v%.*}"
    rm -f /tmp/kubectl.dl
  done
  command -v kubectl >/dev/null 2>&1 || $SUDO ln -sf "$kdir/kubectl.1.33" /usr/local/bin/kubectl
fi
echo "setup: done"
