#!/usr/bin/env bash
# Upstream Kubernetes components, built from Go modules and cached as version-stamped binaries:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, e2e.test (upstream's e2e suite,
# compiled from conformance/e2e/e2e_test.go), ginkgo (the suite's parallel runner, the version the
# suite links) and kwok (fake nodes and pod lifecycles). Nothing of upstream's source is copied
# into this repository: conformance/e2e/go.mod requires k8s.io/kubernetes at a v1.33 patch release
# and pins every k8s.io/* staging module to the matching v0.33 release with `replace`.
#
# Usage:
#   scripts/upstream.sh build          build what is missing or stale (seconds when cached)
#   scripts/upstream.sh path NAME      print the cached binary's path; exit 1 if not built
#   scripts/upstream.sh bindir         print the cache's bin directory
#   scripts/upstream.sh version        print the Kubernetes version the module pins
#   scripts/upstream.sh gomod vX.Y.Z   regenerate conformance/e2e/go.mod + go.sum for another
#                                      release (needs the Go module proxy; commit the result)
# Environment:
#   CAPSTAN_UPSTREAM_DIR   cache root (default ~/.cache/capstan/upstream); binaries go to
#                          $CAPSTAN_UPSTREAM_DIR/<version>/bin
#   GO                     the go command (default: go on PATH, else /usr/local/go/bin/go)
#
# After the first build (which fills the Go module cache) a build needs no network: the module's
# go.sum pins every dependency, `-mod=readonly` refuses to change it, and kwok is installed at an
# exact version. Measured on 2 cores shared with a cargo build: cold 18 min (servers + kubectl +
# ginkgo 12 min, e2e.test 2.5 min, kwok 3.5 min); from warm Go caches with GOPROXY=off 28 s, with
# bit-identical binaries; with everything cached `build` is a stamp check (0.1 s).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD_DIR="$ROOT/conformance/e2e"
KWOK_VERSION="v0.7.0"
CACHE_ROOT="${CAPSTAN_UPSTREAM_DIR:-$HOME/.cache/capstan/upstream}"
SERVER_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
ALL_BINS=("${SERVER_BINS[@]}" ginkgo e2e.test kwok)

if [ -z "${GO:-}" ]; then
    if command -v go >/dev/null 2>&1; then GO=go; else GO=/usr/local/go/bin/go; fi
fi
export GOTOOLCHAIN=local CGO_ENABLED=0
# The module cache is the only source a rebuild needs; never rewrite go.mod/go.sum implicitly.
export GOFLAGS="-mod=readonly -buildvcs=false"

die() { echo "upstream.sh: $*" >&2; exit 1; }

k8s_version() {
    local v
    v="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$MOD_DIR/go.mod" 2>/dev/null || true)"
    [ -n "$v" ] || die "no 'k8s.io/kubernetes vX.Y.Z' requirement in $MOD_DIR/go.mod"
    echo "$v"
}

bin_dir() { echo "$CACHE_ROOT/$(k8s_version)/bin"; }

# Everything a build depends on; a change to any of it rebuilds.
build_inputs_hash() {
    {
        "$GO" version
        echo "kwok $KWOK_VERSION"
        echo "recipe 1"
        cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum" "$MOD_DIR"/*.go
    } | sha256sum | cut -d' ' -f1
}

cmd_path() {
    local name="${1:-}"
    [ -n "$name" ] || die "usage: upstream.sh path NAME (one of: ${ALL_BINS[*]})"
    local p
    p="$(bin_dir)/$name"
    if [ ! -x "$p" ]; then
        {
            echo "=================================================================="
            echo "upstream.sh: $name is not built: $p does not exist."
            echo "Run: scripts/upstream.sh build   (or: make upstream)"
            echo "=================================================================="
        } >&2
        exit 1
    fi
    echo "$p"
}

cmd_build() {
    local ver bin stamp want t0 t
    ver="$(k8s_version)"
    bin="$(bin_dir)"
    stamp="$bin/.build-stamp"
    want="$(build_inputs_hash)"
    local missing=0 b
    for b in "${ALL_BINS[@]}"; do [ -x "$bin/$b" ] || missing=1; done
    if [ "$missing" = 0 ] && [ -f "$stamp" ] && [ "$(head -1 "$stamp")" = "$want" ]; then
        echo "upstream.sh: $ver binaries up to date in $bin" >&2
        return 0
    fi
    mkdir -p "$bin"
    BUILD_TMP="$(mktemp -d "$CACHE_ROOT/$ver/.build.XXXXXX")"
    trap 'rm -rf "$BUILD_TMP"' EXIT
    local tmp="$BUILD_TMP"

    local major minor date
    major="$(echo "${ver#v}" | cut -d. -f1)"
    minor="$(echo "${ver#v}" | cut -d. -f2)"
    # The release's publication time from the module proxy's .info, for a reproducible buildDate.
    date="$("$GO" mod download -json "k8s.io/kubernetes@$ver" | sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' | head -1)"
    date="${date:-1970-01-01T00:00:00Z}"
    local ldflags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit= -X $pkg.buildDate=$date"
    done

    t0=$(date +%s)
    echo "upstream.sh: building ${SERVER_BINS[*]} ginkgo $ver into $bin" >&2
    (cd "$MOD_DIR" && "$GO" build -trimpath -ldflags "$ldflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver \
        k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler \
        k8s.io/kubernetes/cmd/kubectl \
        github.com/onsi/ginkgo/v2/ginkgo)
    t=$(date +%s); echo "upstream.sh: servers + kubectl + ginkgo: $((t - t0)) s" >&2
    echo "upstream.sh: building e2e.test (go test -c) $ver" >&2
    (cd "$MOD_DIR" && "$GO" test -c -vet=off -trimpath -ldflags "$ldflags" -o "$tmp/e2e.test" .)
    echo "upstream.sh: e2e.test: $(( $(date +%s) - t )) s" >&2
    t=$(date +%s)
    echo "upstream.sh: go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
    # `go install pkg@version` also looks the module up for deprecation notices: the module
    # cache's download dir answers that first, so a rebuild works offline (GOPROXY=off too).
    local modcache
    modcache="$("$GO" env GOMODCACHE)"
    (cd "$tmp" && GOFLAGS=-buildvcs=false GOBIN="$tmp" \
        GOPROXY="file://$modcache/cache/download,$("$GO" env GOPROXY)" \
        "$GO" install -trimpath "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
    echo "upstream.sh: kwok: $(( $(date +%s) - t )) s" >&2

    "$tmp/kube-apiserver" --version | grep -qx "Kubernetes $ver" || die "kube-apiserver --version is not 'Kubernetes $ver'"
    for b in "${ALL_BINS[@]}"; do mv -f "$tmp/$b" "$bin/$b"; done
    { echo "$want"; echo "k8s $ver kwok $KWOK_VERSION $("$GO" version) built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 )) s"; } >"$stamp"
    rm -rf "$tmp"
    trap - EXIT
    echo "upstream.sh: $ver built in $(( $(date +%s) - t0 )) s: $bin" >&2
}

# Regenerate conformance/e2e/go.mod for release $1 (vX.Y.Z): require k8s.io/kubernetes at it and
# replace every staging module (the `./staging/src/k8s.io/*` replaces in its own go.mod) with the
# matching v0.Y.Z, or, where the proxy does not serve that version, the newest v0.Y.* it serves.
cmd_gomod() {
    local ver="${1:-}"
    [[ "$ver" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "usage: upstream.sh gomod v1.MINOR.PATCH"
    local minor="${BASH_REMATCH[1]}" patch="${BASH_REMATCH[2]}"
    local dir
    dir="$(GOFLAGS= "$GO" mod download -json "k8s.io/kubernetes@$ver" | sed -n 's/.*"GoMod": *"\([^"]*\)".*/\1/p')"
    [ -f "$dir" ] || die "the module proxy does not serve k8s.io/kubernetes@$ver"
    local staging
    staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$dir")"
    {
        echo "// Generated by scripts/upstream.sh gomod $ver: upstream's e2e suite and control plane,"
        echo "// built from Go modules. Staging modules are pinned to the matching v0.$minor release."
        echo "module capstan/conformance/e2e"
        echo
        echo "go 1.24.0"
        echo
        echo "require k8s.io/kubernetes $ver"
        echo
        echo "tool ("
        echo "	github.com/onsi/ginkgo/v2/ginkgo"
        echo "	k8s.io/kubernetes/cmd/kube-apiserver"
        echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
        echo "	k8s.io/kubernetes/cmd/kube-scheduler"
        echo "	k8s.io/kubernetes/cmd/kubectl"
        echo ")"
        echo
        echo "replace ("
        local m v
        for m in $staging; do
            v="v0.$minor.$patch"
            # `go mod download`, not `go list -m`: the proxy may serve a version's .info but
            # not its zip (k8s.io/sample-apiserver v0.33.13).
            if ! GOFLAGS= "$GO" mod download "$m@$v" >/dev/null 2>&1; then
                v="$( (GOFLAGS= "$GO" list -m -versions "$m" 2>/dev/null || true) | tr ' ' '\n' |
                    grep -E "^v0\.$minor\.[0-9]+$" | sort -t. -k3,3n | tail -1 || true)"
                if [ -z "$v" ]; then
                    # e.g. k8s.io/sample-cli-plugin: nothing in the build imports it.
                    echo "upstream.sh: the module proxy serves no v0.$minor release of $m; not replaced" >&2
                    echo "	// $m: no v0.$minor release on the module proxy (not used by the build)"
                    continue
                fi
                echo "upstream.sh: $m v0.$minor.$patch is not served; using $v" >&2
                echo "	// v0.$minor.$patch is not served by the module proxy"
            fi
            echo "	$m => $m $v"
        done
        echo ")"
    } >"$MOD_DIR/go.mod.new"
    mv "$MOD_DIR/go.mod.new" "$MOD_DIR/go.mod"
    rm -f "$MOD_DIR/go.sum"
    (cd "$MOD_DIR" && GOFLAGS=-mod=mod "$GO" mod tidy)
    echo "upstream.sh: wrote $MOD_DIR/go.mod and go.sum for $ver" >&2
}

case "${1:-}" in
    build) cmd_build ;;
    path) cmd_path "${2:-}" ;;
    bindir) bin_dir ;;
    version) k8s_version ;;
    gomod) cmd_gomod "${2:-}" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
