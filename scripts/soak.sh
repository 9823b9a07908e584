#!/usr/bin/env bash
# Soak and fault test: `capstan-load --scenario soak` (kubelets, an admin, controllers'
# list/watch, a tenant flooding LISTs of 10,000 objects, conflicting writers) against a release
# Capstan for DURATION seconds while the storage is broken every FAULT_EVERY seconds:
#   embedded  Capstan itself is killed with SIGKILL and started again on the same data dir;
#   etcd      the leader of a 3-member etcd cluster is killed with SIGKILL and rejoins 5 s later.
# Afterwards the load checks that no acknowledged write is missing and that no watcher saw a
# gap or a duplicate, and reports RSS over time and latency percentiles per traffic class.
# The report (Markdown) goes to stdout, and the JSON report and logs stay in OUT.
#
# Usage: scripts/soak.sh [embedded|etcd|both]     (default: both)
# Environment:
#   DURATION=600 FAULT_EVERY=60       run length and fault period (seconds)
#   NODES=100 NODE_PERIOD_MS=1000     kubelets (node status + lease each period)
#   FLOOD_OBJECTS=10000 FLOOD_WORKERS=32 WRITERS=8 WRITE_KEYS=20 WATCHERS=3
#   SOAK_SKIP_BUILD=1                 use the release binaries already built
#   OUT=/tmp/capstan-soak-...         where reports and logs go (kept)
# Exit status: non-zero when writes were lost, a watcher saw a gap or a duplicate, the
# kubelet-like traffic's p99 was 1 s or more, or the load failed. Only 127.0.0.1 is used.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
MODE="${1:-both}"
DURATION="${DURATION:-600}"
FAULT_EVERY="${FAULT_EVERY:-60}"
NODES="${NODES:-100}"
NODE_PERIOD_MS="${NODE_PERIOD_MS:-1000}"
FLOOD_OBJECTS="${FLOOD_OBJECTS:-10000}"
FLOOD_WORKERS="${FLOOD_WORKERS:-32}"
WRITERS="${WRITERS:-8}"
WRITE_KEYS="${WRITE_KEYS:-20}"
WATCHERS="${WATCHERS:-3}"
OUT="${OUT:-$(mktemp -d /tmp/capstan-soak-XXXXXX)}"
mkdir -p "$OUT"
case "$MODE" in
    embedded | etcd | both) ;;
    *) echo "soak: mode must be embedded, etcd or both, not $MODE" >&2; exit 2 ;;
esac

if [ "${SOAK_SKIP_BUILD:-}" != "1" ]; then
    echo "soak: cargo build --release --bins" >&2
    cargo build --release --bins >&2
fi
BIN="$CARGO_TARGET_DIR/release/capstan"
LOAD="$CARGO_TARGET_DIR/release/capstan-load"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log() { echo "soak: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${ETCD_PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# --- etcd: three members --------------------------------------------------------------------
declare -a ETCD_PIDS ETCD_CLIENT ETCD_PEER
etcd_start() { # index state
    local i="$1" state="$2" cluster="" j
    for j in 0 1 2; do cluster+="m$j=http://127.0.0.1:${ETCD_PEER[$j]},"; done
    ETCD_UNSUPPORTED_ARCH="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" \
        etcd --name "m$i" --data-dir "$RUN/etcd-$i" \
        --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" \
        --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
        --initial-cluster "${cluster%,}" --initial-cluster-state "$state" --initial-cluster-token capstan-soak \
        --heartbeat-interval 100 --election-timeout 1000 >>"$RUN/etcd-$i.log" 2>&1 </dev/null &
    ETCD_PIDS[$i]=$!
}
etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:${ETCD_CLIENT[$1]}/health" | grep -q '"health":"true"'; }
# The member the others follow: its status names itself as leader.
etcd_leader() {
    local i st
    for i in 0 1 2; do
        st="$(curl -fsS --max-time 2 -X POST -d '{}' "http://127.0.0.1:${ETCD_CLIENT[$i]}/v3/maintenance/status" 2>/dev/null)" || continue
        python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("leader") and d["leader"] == d["header"]["member_id"] else 1)' <<<"$st" && { echo "$i"; return 0; }
    done
    return 1
}

# --- capstan ----------------------------------------------------------------------------------
capstan_start() {
    "$BIN" serve --data-dir "$RUN/data" --secure-port "$PORT" --bind-address 127.0.0.1 \
        --authorization-mode=Node,RBAC --pid-file "$RUN/capstan.pid" "${STORAGE_ARGS[@]}" \
        >>"$RUN/capstan.log" 2>&1 </dev/null &
    CAPSTAN_PID=$!
    PIDS+=("$CAPSTAN_PID")
    "$LOAD" --kubeconfig "$RUN/data/admin.kubeconfig" --wait-ready --ready-timeout 120 >/dev/null
}

# A fault window, from the kill to the killed part answering again, as `START END` (Unix
# seconds) in $RUN/faults.txt: the load splits its latencies inside and outside them.
fault_begin() { printf '%s' "$(date +%s.%N)" >>"$RUN/faults.txt"; }
fault_end() { printf ' %s\n' "$(date +%s.%N)" >>"$RUN/faults.txt"; }

run_backend() {
    local backend="$1" faults=0 t0 next
    RUN="$OUT/$backend"
    mkdir -p "$RUN"
    PORT="$(free_port)"
    STORAGE_ARGS=()
    if [ "$backend" = etcd ]; then
        for i in 0 1 2; do ETCD_CLIENT[$i]="$(free_port)"; ETCD_PEER[$i]="$(free_port)"; done
        for i in 0 1 2; do etcd_start "$i" new; done
        for i in 0 1 2; do
            for _ in $(seq 1 150); do etcd_healthy "$i" && break; sleep 0.2; done
        done
        STORAGE_ARGS=(--etcd-servers "http://127.0.0.1:${ETCD_CLIENT[0]},http://127.0.0.1:${ETCD_CLIENT[1]},http://127.0.0.1:${ETCD_CLIENT[2]}")
    fi
    capstan_start
    log "$backend: capstan ready on port $PORT; starting the load for ${DURATION}s"
    "$LOAD" --kubeconfig "$RUN/data/admin.kubeconfig" --scenario soak --duration "$DURATION" \
        --nodes "$NODES" --node-period-ms "$NODE_PERIOD_MS" --flood-objects "$FLOOD_OBJECTS" \
        --flood-workers "$FLOOD_WORKERS" --writers "$WRITERS" --write-keys "$WRITE_KEYS" \
        --watchers "$WATCHERS" --pid-file "$RUN/capstan.pid" --report "$RUN/report.json" \
        --fault-log "$RUN/faults.txt" >"$RUN/report.md" 2>"$RUN/load.log" &
    local load=$!
    until grep -q "soak: running for" "$RUN/load.log" 2>/dev/null; do
        kill -0 "$load" 2>/dev/null || { log "the load ended during setup"; tail -20 "$RUN/load.log" >&2; return 1; }
        sleep 1
    done
    t0="$(date +%s)"
    next=$((t0 + FAULT_EVERY))
    while kill -0 "$load" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$next" ] && [ "$(date +%s)" -lt $((t0 + DURATION - 10)) ]; then
            if [ "$backend" = etcd ]; then
                local leader
                leader="$(etcd_leader)" || { log "no etcd leader found"; leader=0; }
                log "fault $((faults + 1)): SIGKILL of the etcd leader m$leader"
                fault_begin
                kill -KILL "${ETCD_PIDS[$leader]}"
                wait "${ETCD_PIDS[$leader]}" 2>/dev/null || true
                sleep 5
                etcd_start "$leader" existing
                for _ in $(seq 1 150); do etcd_healthy "$leader" && break; sleep 0.2; done
                fault_end
            else
                log "fault $((faults + 1)): SIGKILL of capstan (pid $CAPSTAN_PID)"
                fault_begin
                kill -KILL "$CAPSTAN_PID"
                # Reaped first: a zombie still counts as running for --pid-file.
                wait "$CAPSTAN_PID" 2>/dev/null || true
                capstan_start
                fault_end
            fi
            faults=$((faults + 1))
            next=$((next + FAULT_EVERY))
        fi
        sleep 1
    done
    local status=0
    wait "$load" || status=$?
    echo "### $backend ($(date -u +%F), $FAULTS_LABEL)"
    echo
    echo "Faults injected: $faults ($( [ "$backend" = etcd ] && echo "SIGKILL of the etcd leader, rejoined after 5 s" || echo "SIGKILL of capstan, restarted at once" ))."
    echo
    cat "$RUN/report.md"
    echo
    kill -KILL "$CAPSTAN_PID" 2>/dev/null || true
    for p in "${ETCD_PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
    ETCD_PIDS=()
    if [ "$status" != 0 ]; then log "$backend: the load failed (exit $status); see $RUN/load.log"; return 1; fi
    python3 - "$RUN/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
p99 = r["classes"].get("kubelet", {}).get("p99_ms", 0)
bad = []
if r["writes_lost"] or r["watch_gaps"] or r["watch_duplicates"]:
    bad.append("writes lost, watch gaps or duplicates")
if p99 >= 1000:
    bad.append(f"kubelet p99 {p99} ms is not under 1 s")
for b in bad:
    print(f"soak: FAILED: {b}", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

FAULTS_LABEL="${DURATION} s, a fault every ${FAULT_EVERY} s, ${NODES} kubelets, ${FLOOD_WORKERS} flood workers on ${FLOOD_OBJECTS} objects, ${WRITERS} writers, ${WATCHERS} watchers"
rc=0
if [ "$MODE" = embedded ] || [ "$MODE" = both ]; then run_backend embedded || rc=1; fi
if [ "$MODE" = etcd ] || [ "$MODE" = both ]; then
    if command -v etcd >/dev/null; then run_backend etcd || rc=1; else log "etcd is not installed (scripts/setup.sh)"; rc=1; fi
fi
log "reports and logs in $OUT"
exit "$rc"
