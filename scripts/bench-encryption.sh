#!/usr/bin/env bash
# Encryption-at-rest benchmark: Secret create and get throughput with identity (no encryption),
# aescbc, aesgcm, secretbox and KMS v2 (capstan-test-kms-plugin on a unix socket), measured with
# `capstan-load --resource secrets` against release binaries, on the embedded store and on a
# throwaway etcd. Prints a Markdown table (BENCHMARKS.md, "Encryption at rest").
#
# Usage: scripts/bench-encryption.sh
# Environment:
#   BACKENDS="embedded etcd"   which stores
#   OBJECTS=5000 GETS=5000 CONCURRENCY=8 VALUE_BYTES=1024   load shape
#   BENCH_SKIP_BUILD=1         use the release binaries already built
# Only 127.0.0.1 and unix sockets in a temp dir are used; every step is bounded in time.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
BACKENDS="${BACKENDS:-embedded etcd}"
OBJECTS="${OBJECTS:-5000}"
GETS="${GETS:-5000}"
CONCURRENCY="${CONCURRENCY:-8}"
VALUE_BYTES="${VALUE_BYTES:-1024}"
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --bins >&2
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
key() { head -c 32 /dev/urandom | base64; }

"$BIN/capstan-test-kms-plugin" --socket "$WORK/kms.sock" --key-id bench-key 2>"$WORK/kms.log" &
PIDS+=($!)

provider() {
    case "$1" in
        identity) echo "  - identity: {}" ;;
        aescbc | aesgcm | secretbox) echo "  - $1: {keys: [{name: k1, secret: $(key)}]}" ;;
        kmsv2) echo "  - kms: {apiVersion: v2, name: bench, endpoint: 'unix://$WORK/kms.sock'}" ;;
    esac
}

# row REPORT SCENARIO -> "throughput|p50|p99" of capstan-load's row for SCENARIO.
row() { grep "^| $2 " <<<"$1" | awk -F'|' '{gsub(/ /,""); print $6"|"$7"|"$9"|"$4}'; }

echo "| Backend | Provider | create req/s | create p50 / p99 (ms) | get req/s | get p50 / p99 (ms) |"
echo "|---|---|---:|---:|---:|---:|"
for backend in $BACKENDS; do
    for p in identity aescbc aesgcm secretbox kmsv2; do
        run="$WORK/$backend-$p"
        mkdir -p "$run"
        printf 'apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n%s\n' "$(provider "$p")" >"$run/enc.yaml"
        extra=()
        if [ "$backend" = etcd ]; then
            cp="$(free_port)"; pp="$(free_port)"
            etcd --name b --data-dir "$run/etcd" --listen-client-urls "http://127.0.0.1:$cp" \
                --advertise-client-urls "http://127.0.0.1:$cp" --listen-peer-urls "http://127.0.0.1:$pp" \
                --initial-advertise-peer-urls "http://127.0.0.1:$pp" --initial-cluster "b=http://127.0.0.1:$pp" \
                >"$run/etcd.log" 2>&1 &
            PIDS+=($!)
            timeout 30 bash -c "until curl -sf http://127.0.0.1:$cp/health >/dev/null; do sleep 0.1; done"
            extra=(--etcd-servers "http://127.0.0.1:$cp")
        fi
        port="$(free_port)"
        env -u CAPSTAN_CONFIG "$BIN/capstan" serve --data-dir "$run/data" --secure-port "$port" --bind-address 127.0.0.1 \
            --encryption-provider-config "$run/enc.yaml" "${extra[@]}" >"$run/capstan.log" 2>&1 &
        server=$!
        PIDS+=($server)
        "$BIN/capstan-load" --kubeconfig "$run/data/admin.kubeconfig" --wait-ready --ready-timeout 60 >/dev/null
        load() {
            timeout 600 "$BIN/capstan-load" --kubeconfig "$run/data/admin.kubeconfig" --resource secrets \
                --scenario "$1" --objects "$2" --small-objects "$2" --concurrency "$CONCURRENCY" \
                --value-bytes "$VALUE_BYTES" --namespace "bench-$1"
        }
        c="$(row "$(load create "$OBJECTS")" "create secret")"
        g="$(row "$(load get "$GETS")" "get secret")"
        IFS='|' read -r ct cp50 cp99 cerr <<<"$c"
        IFS='|' read -r gt gp50 gp99 gerr <<<"$g"
        [ "$cerr" = 0 ] && [ "$gerr" = 0 ] || { echo "errors with $p on $backend: $cerr/$gerr" >&2; exit 1; }
        echo "| $backend | $p | $ct | $cp50 / $cp99 | $gt | $gp50 / $gp99 |"
        kill "$server"; wait "$server" 2>/dev/null || true
        if [ "$backend" = etcd ]; then kill "${PIDS[-2]}" 2>/dev/null || true; wait "${PIDS[-2]}" 2>/dev/null || true; fi
    done
done
echo
echo "$OBJECTS creates then $GETS gets of Secrets with a $VALUE_BYTES-byte value over $CONCURRENCY connections (capstan-load, release build)."
