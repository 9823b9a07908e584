#!/usr/bin/env bash
# Paged-LIST and kubelet-list benchmark (issue 22): start `capstan serve` on a data dir, then
# `capstan-load --scenario list` (full and limit=PAGE traversals at SMALL and OBJECTS
# ConfigMaps, per-page and per-traversal latency, server RSS) and `--scenario node-pods`
# (PODS pods over NODES nodes, LISTs by fieldSelector=spec.nodeName).
#
# Usage: scripts/bench_paging.sh
# Environment:
#   OBJECTS=100000 SMALL=10000 PAGE=500 REPEATS=3 PODS=10000 NODES=100
#   BIN, LOAD      the capstan and capstan-load binaries (default: $CARGO_TARGET_DIR/debug/…;
#                  point them at an older build to compare before/after on the same data)
#   DATA=DIR       data dir to use and keep (objects created by an earlier run are reused, so a
#                  second binary measures the same collection); default: a temp dir, removed
# Only 127.0.0.1 is used. Every step is bounded (readiness 120 s, load 3600 s).
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
OBJECTS="${OBJECTS:-100000}"
SMALL="${SMALL:-10000}"
PAGE="${PAGE:-500}"
REPEATS="${REPEATS:-3}"
PODS="${PODS:-10000}"
NODES="${NODES:-100}"
BIN="${BIN:-$CARGO_TARGET_DIR/debug/capstan}"
LOAD="${LOAD:-$CARGO_TARGET_DIR/debug/capstan-load}"
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "bench_paging: missing $BIN or $LOAD" >&2; exit 1; }

if [ -n "${DATA:-}" ]; then
    WORK="$DATA"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/capstan-paging.XXXXXX")"
fi
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
    fi
    [ -n "${DATA:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --data-dir "$WORK" --secure-port "$port" --bind-address 127.0.0.1 >>"$WORK/server.log" 2>&1 &
PID=$!
"$LOAD" --wait-ready --ready-timeout 120 --kubeconfig "$WORK/admin.kubeconfig" >/dev/null
rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status"; }

echo "## bench_paging: $(basename "$BIN") ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), $(nproc) cores"
echo
echo "RSS at start (data loaded): $(rss) MiB"
echo
timeout 3600 "$LOAD" --kubeconfig "$WORK/admin.kubeconfig" --scenario list --objects "$OBJECTS" \
    --small-objects "$SMALL" --page-size "$PAGE" --list-repeats "$REPEATS" --pid "$PID"
echo
timeout 3600 "$LOAD" --kubeconfig "$WORK/admin.kubeconfig" --scenario node-pods --namespace capstan-pods \
    --objects "$PODS" --nodes "$NODES" --list-repeats "$REPEATS"
echo
echo "RSS at the end: $(rss) MiB"
