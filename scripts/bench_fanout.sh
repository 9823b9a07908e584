#!/usr/bin/env bash
# Watch fan-out side by side (issue 22): Capstan with 10,000 watchers against upstream
# kube-apiserver v1.33 with 1,000 (and Capstan with 1,000), each on a fresh etcd, in one run.
# Each run: `capstan-load --scenario watch` opens N watches (one TLS connection each) on the
# ConfigMaps of one namespace, then updates UPDATES ConfigMaps at RATE per second; every watcher
# must see every update; latency = event read by the watcher - the update's response read.
#
# Usage: scripts/bench_fanout.sh
#        RUNS="capstan:10000 upstream:1000" UPDATES=100 RATE=10 scripts/bench_fanout.sh
# Environment:
#   RUNS="capstan:10000 capstan:1000 upstream:1000"   SERVER:WATCHERS, in this order
#   UPDATES=100 RATE=10 CONCURRENCY=4                 updates, their pace (per s), writers
#   PER_CONN=1                                        watches per connection: 1 = an HTTP/1.1
#                                                     connection each; N = HTTP/2, N streams each
#   PROFILE=release (CAPSTAN_BIN / LOAD_BIN override the binaries)
#   PERF_DIR=DIR                                      record the server with `perf record -g`
#                                                     during each run (DIR/<server>-<watchers>.data)
# Each step is bounded (etcd 60 s, server readiness 180 s, one load run 600 s). One TCP
# connection per watch on both ends: the open-file limit is raised to the hard limit, which must
# exceed the largest watcher count by ~1,000. Only 127.0.0.1 is used; scratch dirs are deleted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CL_TAG=fanout
source "$ROOT/scripts/lib/cluster.sh"
RUNS="${RUNS:-capstan:10000 capstan:1000 upstream:1000}"
UPDATES="${UPDATES:-100}"
RATE="${RATE:-10}"
CONCURRENCY="${CONCURRENCY:-4}"
PER_CONN="${PER_CONN:-1}"
cl_build_dirs
LOAD="${LOAD_BIN:-$TARGET/$PROFILE/capstan-load}"
[ -x "$CAPSTAN" ] && [ -x "$LOAD" ] || { echo "fanout: missing $CAPSTAN or $LOAD" >&2; exit 1; }
command -v etcd >/dev/null || { echo "fanout: needs etcd (scripts/setup.sh installs etcd-server)" >&2; exit 1; }
KAS="$(bash "$ROOT/scripts/upstream.sh" path kube-apiserver)" ||
    { echo "fanout: upstream kube-apiserver not cached (make upstream)" >&2; exit 1; }
max=0
for r in $RUNS; do
    n="${r#*:}"
    case "${r%%:*}" in capstan | upstream) ;; *) echo "fanout: unknown server in $r" >&2; exit 2 ;; esac
    [ "$n" -le "$max" ] || max="$n"
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((max + 1000)) ]; then
    echo "fanout: open-file limit $(ulimit -n) is too low for $max watchers (raise ulimit -Hn)" >&2
    exit 1
fi

WORK=""
cleanup() {
    cl_stop_all
    [ -z "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm() { awk '$1 == "VmHWM:" { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

echo "- date: $(date -u '+%F %T UTC'); commit $(cd "$ROOT" && git rev-parse --short HEAD); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg); nice $(nice)"
echo "- command: RUNS='$RUNS' UPDATES=$UPDATES RATE=$RATE CONCURRENCY=$CONCURRENCY PER_CONN=$PER_CONN scripts/bench_fanout.sh"
echo "- capstan: $("$CAPSTAN" --version | head -1) ($CAPSTAN); upstream: kube-apiserver $("$KAS" --version | awk '{print $2}'); etcd $(etcd --version | awk '/etcd Version/ {print $3}')"
echo
SUMMARY=("| server | watchers | events delivered | errors | event latency p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | server peak RSS (MiB) | server RSS before the watches (MiB) | server CPU (s) | load tool CPU (s) | load average at start |"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in $RUNS; do
    server="${r%%:*}" watchers="${r#*:}"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/capstan-fanout.XXXXXX")"
    port="$(cl_free_port)"
    cl_pki "$port" || { cat "$WORK/certs.log" >&2; exit 1; }
    cl_etcd
    if [ "$server" = upstream ]; then cl_upstream apiserver "$port" 192.0.2.10; else cl_capstan apiserver "$port" 192.0.2.10; fi
    pid="$LAST_PID"
    load="$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "### $server, $watchers watchers"
    echo
    rc=0
    cpu0="$(cpu_s "$pid")"
    perf_pid=""
    if [ -n "${PERF_DIR:-}" ]; then
        mkdir -p "$PERF_DIR"
        perf record -F 999 -g -p "$pid" -o "$PERF_DIR/$server-$watchers.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    # CPU of the load tool itself (user+system): with thousands of watchers it shares the 2 cores.
    TIMEFORMAT='%U %S'
    { time timeout 600 "$LOAD" --kubeconfig "$WORK/super-admin.conf" --scenario watch --watchers "$watchers" \
        --objects "$UPDATES" --small-objects "$UPDATES" --watch-rate "$RATE" --concurrency "$CONCURRENCY" \
        --watches-per-connection "$PER_CONN" --pid "$pid" >"$WORK/load.md" 2>"$WORK/load.err" || rc=$?; } 2>"$WORK/load.time"
    server_cpu="$(awk -v a="$(cpu_s "$pid")" -v b="$cpu0" 'BEGIN { printf "%.1f", a - b }')"
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" || true; fi
    client_cpu="$(awk '{ printf "%.1f", $1 + $2 }' "$WORK/load.time")"
    cat "$WORK/load.md"
    if [ "$rc" != 0 ]; then
        echo
        echo "**capstan-load exited with status $rc** (124: timed out after 600 s); stderr tail:"
        echo '```'
        tail -n 20 "$WORK/load.err"
        echo '```'
    fi
    echo
    # The row "watch event latency from update response (N watcher(s))":
    # | name | requests | errors | concurrency | throughput | p50 | p90 | p99 | max | notes |
    row="$(grep '^| watch event latency from update response' "$WORK/load.md" || true)"
    before="$(sed -n 's/^| RSS before load | \(.*\) |$/\1/p' "$WORK/load.md")"
    SUMMARY+=("$(awk -F'|' -v s="$server" -v w="$watchers" -v h="$(hwm "$pid")" -v b="${before:-?}" -v l="$load" \
        -v sc="$server_cpu" -v cc="$client_cpu" \
        'NF > 10 { gsub(/ /, "", $3); gsub(/ /, "", $4); printf "| %s | %s | %s | %s |%s|%s|%s|%s| %s | %s | %s | %s | %s |", s, w, $3, $4, $7, $8, $9, $10, h, b, sc, cc, l }' <<<"$row")")
    [ -n "$row" ] || SUMMARY[-1]="| $server | $watchers | – | run failed | – | – | – | – | $(hwm "$pid") | ${before:-?} | $server_cpu | $client_cpu | $load |"
    cl_stop_all
    rm -rf "$WORK"
    WORK=""
done
echo "### Summary"
echo
printf '%s\n' "${SUMMARY[@]}"
