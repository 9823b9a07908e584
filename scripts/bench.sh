#!/usr/bin/env bash
# Capstan benchmark: build release binaries, start `capstan serve` on a temporary data dir and a
# free 127.0.0.1 port, measure time-to-ready (process start -> GET /readyz 200) and idle RSS,
# run `capstan-load --scenario all` against it, then a watch fan-out run (many watchers on one
# resource), record RSS after the load, stop and clean up.
#
# Usage: scripts/bench.sh            (or `make bench`)
#        BACKEND=etcd scripts/bench.sh
# Environment:
#   BACKEND=embedded|etcd        storage: the embedded SQLite store, or a throwaway etcd
#                                (Debian's etcd-server) on free 127.0.0.1 ports with a temp data
#                                dir, passed with --etcd-servers and stopped at the end
#   OBJECTS=10000 SMALL_OBJECTS=1000 CONCURRENCY=8 WATCHERS=1   load shape
#   FANOUT_WATCHERS=1000 FANOUT_UPDATES=200 FANOUT_RATE=50 FANOUT_CONCURRENCY=4
#                                watch fan-out: watchers on the ConfigMaps of one namespace,
#                                updates paced at FANOUT_RATE per second (FANOUT_WATCHERS=0 skips)
#   READY_RUNS=3                 how many cold and warm starts to time
#   BENCH_SKIP_BUILD=1           use the binaries already in $CARGO_TARGET_DIR/release
#   KEEP=1                       keep the temporary data dir and server log
# Every step is bounded (etcd 30 s, readiness 60 s, load 420 s, fan-out 240 s, shutdown 20 s).
# With the default shape a run takes 1-2 min once the binaries are built. Only 127.0.0.1 is used.
# One TCP connection per watch: the open-file limit is raised to the hard limit (the server
# started here inherits it).
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
OBJECTS="${OBJECTS:-10000}"
SMALL_OBJECTS="${SMALL_OBJECTS:-1000}"
CONCURRENCY="${CONCURRENCY:-8}"
WATCHERS="${WATCHERS:-1}"
READY_RUNS="${READY_RUNS:-3}"
BACKEND="${BACKEND:-embedded}"
FANOUT_WATCHERS="${FANOUT_WATCHERS:-1000}"
FANOUT_UPDATES="${FANOUT_UPDATES:-200}"
FANOUT_RATE="${FANOUT_RATE:-50}"
FANOUT_CONCURRENCY="${FANOUT_CONCURRENCY:-4}"
case "$BACKEND" in
    embedded | etcd) ;;
    *) echo "bench: BACKEND must be embedded or etcd, not $BACKEND" >&2; exit 2 ;;
esac
if [ "$BACKEND" = "etcd" ] && ! command -v etcd >/dev/null; then
    echo "bench: BACKEND=etcd needs etcd (Debian package etcd-server; scripts/setup.sh installs it)" >&2
    exit 1
fi
# Each watcher holds a connection on both ends: allow ~2 fds per watcher plus headroom.
want_fds=$((2 * FANOUT_WATCHERS + 1024))
if [ "$(ulimit -n)" != "unlimited" ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [ "$(ulimit -n)" != "unlimited" ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
        echo "bench: open-file limit $(ulimit -n) < $want_fds; the fan-out run may fail (raise ulimit -Hn)" >&2
    fi
fi

if [ "${BENCH_SKIP_BUILD:-}" != "1" ]; then
    echo "bench: cargo build --release --bins" >&2
    cargo build --release --bins >&2
fi
BIN="$CARGO_TARGET_DIR/release/capstan"
LOAD="$CARGO_TARGET_DIR/release/capstan-load"
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "bench: missing $BIN or $LOAD" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/capstan-bench.XXXXXX")"
PID=""
ETCD_PID=""
ETCD_ARGS=()
stop_etcd() {
    if [ -n "$ETCD_PID" ] && kill -0 "$ETCD_PID" 2>/dev/null; then
        kill -TERM "$ETCD_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$ETCD_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$ETCD_PID" 2>/dev/null || true
        wait "$ETCD_PID" 2>/dev/null || true
    fi
    ETCD_PID=""
}
stop_server() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 200); do
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$PID" 2>/dev/null; then
            echo "bench: server $PID did not exit within 20 s of SIGTERM; killing it" >&2
            kill -KILL "$PID" 2>/dev/null || true
        fi
        wait "$PID" 2>/dev/null || true
    fi
    PID=""
}
cleanup() {
    stop_server
    stop_etcd
    if [ "${KEEP:-}" = "1" ]; then
        echo "bench: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "bench: no free port found" >&2
    return 1
}

rss_mib() { # VmRSS of a pid in MiB
    awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"
}

# start_server DIR PORT: starts capstan in the background; sets PID and READY_MS (ms from the
# process start until GET /readyz answered 200).
start_server() {
    local dir="$1" port="$2" t0 ready
    mkdir -p "$dir"
    t0=$(date +%s%N)
    "$BIN" serve --data-dir "$dir" --secure-port "$port" --bind-address 127.0.0.1 "${ETCD_ARGS[@]}" \
        >>"$dir/server.log" 2>&1 &
    PID=$!
    ready=$("$LOAD" --wait-ready --ready-timeout 60 --kubeconfig "$dir/admin.kubeconfig" \
        | sed -n 's/^ready_epoch_ns=//p' || true)
    if [ -z "$ready" ]; then
        echo "bench: server did not become ready within 60 s; log tail:" >&2
        tail -20 "$dir/server.log" >&2
        exit 1
    fi
    READY_MS=$(awk -v a="$ready" -v b="$t0" 'BEGIN { printf "%.1f", (a - b) / 1e6 }')
}

# start_etcd: one etcd member on two free loopback ports with a data dir under $WORK; sets
# ETCD_PID and ETCD_ARGS (the serve flags) once GET /health answers {"health":"true"}.
start_etcd() {
    local client peer dir="$WORK/etcd"
    client=$(free_port)
    peer=$(free_port)
    while [ "$peer" = "$client" ]; do peer=$(free_port); done
    mkdir -p "$dir"
    ETCD_UNSUPPORTED_ARCH="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" etcd --name bench \
        --data-dir "$dir/data" \
        --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "bench=http://127.0.0.1:$peer" --initial-cluster-state new >"$dir/etcd.log" 2>&1 &
    ETCD_PID=$!
    for _ in $(seq 1 300); do
        if curl -fsS --max-time 1 "http://127.0.0.1:$client/health" 2>/dev/null | grep -q '"health":"true"'; then
            ETCD_ARGS=(--etcd-servers "http://127.0.0.1:$client")
            ETCD_URL="http://127.0.0.1:$client"
            return 0
        fi
        kill -0 "$ETCD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench: etcd did not become healthy within 30 s; log tail:" >&2
    tail -20 "$dir/etcd.log" >&2
    exit 1
}

if [ "$BACKEND" = "etcd" ]; then
    start_etcd
fi

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(git status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)' || true)"
echo "# Capstan benchmark run"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- commit: $COMMIT$DIRTY"
echo "- machine: $(nproc) CPU(s), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr)"
echo "- cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "- data dir filesystem: $(df -T "$WORK" | awk 'NR == 2 { print $2 " on " $1 }')"
if [ "$BACKEND" = "etcd" ]; then
    echo "- backend: etcd $(etcd --version 2>/dev/null | awk '/etcd Version/ { print $3 }'), one member at $ETCD_URL (data dir on the same disk, pid $ETCD_PID)"
else
    echo "- backend: embedded (SQLite)"
fi
echo "- load: objects=$OBJECTS small_objects=$SMALL_OBJECTS concurrency=$CONCURRENCY watchers=$WATCHERS"
echo

# 1. Time to ready: cold (fresh data dir: CA, certs, kubeconfig, schema) and warm (restart).
echo "## Startup"
echo
echo "| Start | Run | Time to /readyz 200 (ms) | RSS at ready (MiB) |"
echo "|---|---:|---:|---:|"
for i in $(seq 1 "$READY_RUNS"); do
    port=$(free_port)
    start_server "$WORK/cold$i" "$port"
    echo "| cold (empty data dir) | $i | $READY_MS | $(rss_mib "$PID") |"
    stop_server
done
DATA="$WORK/cold1"
for i in $(seq 1 "$READY_RUNS"); do
    port=$(free_port)
    start_server "$DATA" "$port"
    echo "| warm (existing data dir) | $i | $READY_MS | $(rss_mib "$PID") |"
    [ "$i" = "$READY_RUNS" ] || stop_server
done
echo

# 2. Idle RSS: the last warm server, left alone for 5 s.
sleep 5
IDLE="$(rss_mib "$PID")"
echo "## Idle memory"
echo
echo "- idle RSS 5 s after ready: **$IDLE MiB** (pid $PID)"
if [ -n "$ETCD_PID" ]; then
    echo "- etcd RSS at the same moment: $(rss_mib "$ETCD_PID") MiB (pid $ETCD_PID)"
fi
echo

# 3. Load.
echo "## Load (capstan-load --scenario all)"
echo
LOAD_OUT="$WORK/load.md"
set +e
timeout 420 "$LOAD" --kubeconfig "$DATA/admin.kubeconfig" --scenario all --objects "$OBJECTS" \
    --small-objects "$SMALL_OBJECTS" --concurrency "$CONCURRENCY" --watchers "$WATCHERS" --pid "$PID" \
    >"$LOAD_OUT" 2>"$WORK/load.err"
rc=$?
set -e
cat "$LOAD_OUT"
if [ "$rc" != "0" ]; then
    echo
    echo "**capstan-load exited with status $rc** (124 = timed out after 420 s). stderr tail:"
    echo
    echo '```'
    tail -20 "$WORK/load.err"
    echo '```'
fi
echo

# 4. Watch fan-out: FANOUT_WATCHERS watches on the ConfigMaps of one namespace, paced updates.
if [ "$FANOUT_WATCHERS" -gt 0 ]; then
    echo "## Watch fan-out ($FANOUT_WATCHERS watchers, $FANOUT_UPDATES updates at $FANOUT_RATE/s)"
    echo
    FAN_OUT="$WORK/fanout.md"
    set +e
    timeout 240 "$LOAD" --kubeconfig "$DATA/admin.kubeconfig" --scenario watch --objects "$FANOUT_UPDATES" \
        --small-objects "$FANOUT_UPDATES" --concurrency "$FANOUT_CONCURRENCY" --watchers "$FANOUT_WATCHERS" \
        --watch-rate "$FANOUT_RATE" --pid "$PID" >"$FAN_OUT" 2>"$WORK/fanout.err"
    rc=$?
    set -e
    cat "$FAN_OUT"
    if [ "$rc" != "0" ]; then
        echo
        echo "**capstan-load (fan-out) exited with status $rc** (124 = timed out after 240 s). stderr tail:"
        echo
        echo '```'
        tail -20 "$WORK/fanout.err"
        echo '```'
    fi
    echo
fi

# 5. After the load.
sleep 5
echo "## After the load"
echo
echo "- RSS 5 s after the load: $(rss_mib "$PID") MiB"
if [ -n "$ETCD_PID" ]; then
    echo "- etcd RSS 5 s after the load: $(rss_mib "$ETCD_PID") MiB; etcd data dir: $(du -sh "$WORK/etcd/data" | cut -f1)"
    echo "- Capstan data dir size: $(du -sh "$DATA" | cut -f1) (PKI and kubeconfig only)"
else
    echo "- data dir size: $(du -sh "$DATA" | cut -f1) (SQLite database and PKI)"
fi
t0=$(date +%s%N)
stop_server
t1=$(date +%s%N)
echo "- shutdown (SIGTERM to exit): $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.0f", (a - b) / 1e6 }') ms"
if grep -qiE 'panic|error' "$DATA/server.log"; then
    echo "- server log lines with panic/error: $(grep -ciE 'panic|error' "$DATA/server.log")"
fi
