#!/usr/bin/env bash
# Watch-cache memory benchmark (issue 22): RSS holding OBJECTS realistic ConfigMaps (LABELS
# labels, DATA_KEYS data keys, ~500 B–1 KiB of JSON each) against the sum of their encoded sizes,
# idle RSS, and LIST / WATCH throughput, on the embedded store or a throwaway etcd.
#
#   1. idle: a fresh server on an empty store, RSS once /readyz answers and 2 s later.
#   2. load: OBJECTS ConfigMaps created in one namespace (`capstan-load --scenario create`).
#   3. hold: the server restarted on the same store (the cache filled from its first list):
#      RSS, the encoded size (sum of each item's JSON in a full LIST, as served), the ratio.
#   4. list: `capstan-load --scenario list` (full LIST of all OBJECTS and a paged traversal).
#   5. watch: `capstan-load --scenario watch` (WATCH_EVENTS updates, each seen by a watcher).
#   6. LISTs of all OBJECTS as JSON, and with the encoders that read more than the cached
#      JSON: Table and protobuf (curl, three each; the first protobuf LIST also makes each
#      object's protobuf encoding, kept from then on).
#
# Usage: scripts/bench-cache-memory.sh
# Environment:
#   BIN            the capstan binary (default: $CARGO_TARGET_DIR/debug/capstan); point it at
#                  an older build for "before" numbers
#   LOAD           capstan-load (default: next to this tree's build; needs --labels/--data-keys)
#   BACKEND        embedded (default) | etcd (Debian's etcd on free loopback ports)
#   OBJECTS=100000 LABELS=3 DATA_KEYS=4 VALUE_BYTES=120 REPEATS=3 WATCH_EVENTS=2000
#   SKIP_IDLE=1, SKIP_LOAD=1   leave out step 1, steps 4-5
#   WORK=DIR       where the store lives, kept (default: a new dir under $HOME/.cache/capstan,
#                  removed); a second run on the same WORK reuses its ConfigMaps, so another
#                  BIN measures the same collection
# Only 127.0.0.1 is used; every step is bounded.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
BIN="${BIN:-$CARGO_TARGET_DIR/debug/capstan}"
LOAD="${LOAD:-$CARGO_TARGET_DIR/debug/capstan-load}"
BACKEND="${BACKEND:-embedded}"
OBJECTS="${OBJECTS:-100000}"
LABELS="${LABELS:-3}"
DATA_KEYS="${DATA_KEYS:-4}"
VALUE_BYTES="${VALUE_BYTES:-120}"
REPEATS="${REPEATS:-3}"
WATCH_EVENTS="${WATCH_EVENTS:-2000}"
KUBECTL="${KUBECTL:-/usr/lib/google-cloud-sdk/bin/kubectl.1.33}"
for t in "$BIN" "$LOAD" "$KUBECTL"; do [ -x "$t" ] || { echo "bench-cache-memory: missing $t" >&2; exit 1; }; done
[ "$BACKEND" != etcd ] || command -v etcd >/dev/null || { echo "bench-cache-memory: no etcd" >&2; exit 1; }

KEEP="${WORK:-}"
WORK="${WORK:-$(mktemp -d "$HOME/.cache/capstan/cachemem-bench.XXXXXX")}"
mkdir -p "$WORK"
SERVER=""
ETCD=""
stop() {
    local p="$1"
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
}
cleanup() {
    stop "$SERVER"
    stop "$ETCD"
    [ -n "$KEEP" ] || rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER/status"; }

# start_store DIR: etcd for BACKEND=etcd (its URL in STORE_ARGS), else the embedded store.
start_store() {
    if [ "$BACKEND" = etcd ]; then
        local cp pp
        cp="$(free_port)"; pp="$(free_port)"
        ETCD_UNSUPPORTED_ARCH="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" \
            etcd --name b --data-dir "$1/etcd" --quota-backend-bytes 8589934592 \
            --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
            --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
            --initial-cluster "b=http://127.0.0.1:$pp" >"$1/etcd.log" 2>&1 &
        ETCD=$!
        timeout 60 bash -c "until curl -sf http://127.0.0.1:$cp/health >/dev/null; do sleep 0.1; done"
        STORE_ARGS=(--etcd-servers "http://127.0.0.1:$cp")
    else
        STORE_ARGS=()
    fi
}
# start_server DIR: capstan on DIR's PKI (and store), ready.
start_server() {
    local port
    port="$(free_port)"
    env -u CAPSTAN_CONFIG "$BIN" serve --data-dir "$1/data" --secure-port "$port" --bind-address 127.0.0.1 \
        "${STORE_ARGS[@]}" >>"$1/server.log" 2>&1 &
    SERVER=$!
    "$LOAD" --wait-ready --ready-timeout 300 --kubeconfig "$1/data/admin.kubeconfig" >/dev/null
}
load() {
    timeout 3600 "$LOAD" --kubeconfig "$WORK/run/data/admin.kubeconfig" --namespace bench-cache \
        --labels "$LABELS" --data-keys "$DATA_KEYS" --value-bytes "$VALUE_BYTES" "$@"
}

echo "## bench-cache-memory: $(basename "$BIN") on $BACKEND ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), $(nproc) cores"
echo

# 1. Idle.
if [ -z "${SKIP_IDLE:-}" ]; then
    mkdir -p "$WORK/idle"
    start_store "$WORK/idle"
    start_server "$WORK/idle"
    idle_ready="$(rss)"
    sleep 2
    echo "Idle RSS: $idle_ready MiB when ready, $(rss) MiB 2 s later."
    stop "$SERVER"; stop "$ETCD"; SERVER=""; ETCD=""
fi

# 2. Load (not measured here), 3. hold after a restart.
mkdir -p "$WORK/run"
start_store "$WORK/run"
start_server "$WORK/run"
if [ -e "$WORK/run/created" ]; then
    echo "(The $OBJECTS ConfigMaps of an earlier run in $WORK are reused.)"
else
    load --scenario create --objects "$OBJECTS" --small-objects 1 --concurrency 8 >"$WORK/create.txt"
    grep -q '| create configmap |' "$WORK/create.txt" || { cat "$WORK/create.txt" >&2; exit 1; }
    touch "$WORK/run/created"
    echo "RSS after creating $OBJECTS ConfigMaps (same process): $(rss) MiB"
fi
stop "$SERVER"
start_server "$WORK/run"
sleep 2
held="$(rss)"
encoded="$(timeout 600 "$KUBECTL" --kubeconfig "$WORK/run/data/admin.kubeconfig" get --raw \
    "/api/v1/namespaces/bench-cache/configmaps" | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
size = sum(len(json.dumps(i, separators=(",", ":"), ensure_ascii=False).encode()) for i in items)
print(len(items), size)')"
read -r count bytes <<<"$encoded"
echo "RSS holding $count ConfigMaps after a restart: $held MiB; their JSON: $(python3 -c "print(f'{$bytes/1048576:.1f}')") MiB ($((bytes / count)) B each); RSS / encoded = $(python3 -c "print(f'{$held*1048576/$bytes:.2f}')")"
echo "RSS after one full LIST: $(rss) MiB"
echo

# 4. LIST, 5. WATCH.
if [ -z "${SKIP_LOAD:-}" ]; then
    load --scenario list --objects "$OBJECTS" --small-objects "$OBJECTS" --list-repeats "$REPEATS" --pid "$SERVER"
    echo
    load --scenario watch --small-objects "$WATCH_EVENTS" --pid "$SERVER"
    echo
fi

# 6. Table and protobuf LISTs.
python3 - "$WORK/run/data/admin.kubeconfig" "$WORK/run" <<'PY'
import base64, re, sys
text = open(sys.argv[1]).read()
for field, out in [("certificate-authority-data", "ca.crt"), ("client-certificate-data", "client.crt"),
                   ("client-key-data", "client.key")]:
    open(f"{sys.argv[2]}/{out}", "wb").write(base64.b64decode(re.search(field + r": (\S+)", text).group(1)))
open(f"{sys.argv[2]}/server", "w").write(re.search(r"server: (\S+)", text).group(1))
PY
url="$(cat "$WORK/run/server")/api/v1/namespaces/bench-cache/configmaps"
echo "| LIST of $OBJECTS as | run 1 (s) | run 2 (s) | run 3 (s) | bytes |"
echo "|---|---:|---:|---:|---:|"
for accept in "application/json" "application/json;as=Table;v=v1;g=meta.k8s.io" "application/vnd.kubernetes.protobuf"; do
    row="| $accept |"
    for _ in 1 2 3; do
        out="$(curl -sS --max-time 600 -o /dev/null -w '%{time_total} %{size_download}' --cacert "$WORK/run/ca.crt" \
            --cert "$WORK/run/client.crt" --key "$WORK/run/client.key" -H "Accept: $accept" "$url")"
        row+=" ${out% *} |"
    done
    echo "$row ${out#* } |"
done
echo
echo "RSS at the end: $(rss) MiB"
