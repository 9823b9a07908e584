#!/usr/bin/env bash
# Idle memory and CPU per request of one or more release builds, embedded store: for an A/B on a
# busy machine, where throughput is noise but the server's own CPU time per request is not.
#
# Usage: scripts/bench-idle-cpu.sh DIR...   (each DIR holds `capstan` and `capstan-load`)
# Prints per DIR: the server's CPU ticks (10 ms) from exec to ready on a warm restart, idle RSS
# 5 s after it (VmRSS, RssAnon, RssFile in MiB), the server
# CPU ticks (10 ms) for 10,000 creates + 30,000 GETs and the GET req/s of the last 10,000, and the
# CPU ticks for 20 LISTs of 10,000 ConfigMaps. Every server runs on 127.0.0.1 on a free port and
# is stopped on exit.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/capstan-idle-cpu.XXXXXX")"
PID=""
cleanup() { [ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
for dir in "$@"; do
    bin="$dir/capstan" load="$dir/capstan-load" data="$WORK/$(basename "$dir")-$RANDOM" port=$(free_port)
    start() {
        "$bin" serve --data-dir "$data" --secure-port "$port" --bind-address 127.0.0.1 >>"$data.log" 2>&1 &
        PID=$!
        "$load" --wait-ready --ready-timeout 60 --kubeconfig "$data/admin.kubeconfig" >/dev/null
    }
    stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
    mkdir -p "$data"
    start; stop; start # the second start is the warm one
    ready_cpu=$(cpu)
    sleep 5 # "idle": five seconds after ready, as scripts/bench.sh measures it
    idle=$(awk '/VmRSS|RssAnon|RssFile/ { printf "%s %.1f  ", $1, $2 / 1024 }' "/proc/$PID/status")
    kc="$data/admin.kubeconfig"
    c0=$(cpu)
    "$load" --kubeconfig "$kc" --scenario create --objects 10000 >"$data.create" 2>&1
    "$load" --kubeconfig "$kc" --scenario get --small-objects 20000 >"$data.get" 2>&1
    c1=$(cpu)
    gets=$(awk -F'|' '/^\| get configmap/ { gsub(/ /, "", $6); print $6 }' "$data.get")
    for _ in $(seq 20); do
        kubectl --kubeconfig "$kc" get --raw /api/v1/namespaces/capstan-load/configmaps >/dev/null
    done
    c2=$(cpu)
    echo "$dir: CPU ticks to ready $ready_cpu | idle $idle| CPU ticks, 10k creates + 30k GETs: $((c1 - c0)) (GET req/s $gets) | 20 LISTs of 10k: $((c2 - c1))"
    stop
done
