#!/usr/bin/env bash
# Protobuf vs JSON on the wire, and storage size in etcd, for Capstan and upstream kube-apiserver
# v1.33 side by side in one run (scripts/upstream.sh binaries), each on its own fresh etcd:
#   - LIST of $PODS pods (client-go, resourceVersion=0), 3 rounds per encoding
#   - a watch of $UPDATES updates of one pod, per encoding
#   - for each: wall time seen by the client (client-go decodes), bytes on the wire, and the
#     server's CPU seconds (/proc/<pid>/stat)
#   - etcd: bytes per pod value under /registry/pods/
# The client is tests/clients/go/protobuf (bench.go). Prints JSON lines and a Markdown table.
#
# Usage: scripts/bench_wire.sh            (PODS=10000 UPDATES=1000 by default)
# Env:   CAPSTAN=path (default: $CARGO_TARGET_DIR/release/capstan, else debug)
#        SERVERS="capstan upstream"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CL_TAG=bench-wire
source "$ROOT/scripts/lib/cluster.sh"
PODS="${PODS:-10000}"
UPDATES="${UPDATES:-1000}"
SERVERS="${SERVERS:-capstan upstream}"
T="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
CAPSTAN="${CAPSTAN:-$([ -x "$T/release/capstan" ] && echo "$T/release/capstan" || echo "$T/debug/capstan")}"
command -v etcd >/dev/null || { echo "bench-wire: needs etcd" >&2; exit 1; }
bash "$ROOT/scripts/upstream.sh" build >&2
KAS="$(bash "$ROOT/scripts/upstream.sh" path kube-apiserver)"
CLIENT="$HOME/.cache/capstan/clients/bench-client"
(cd "$ROOT/tests/clients/go" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -o "$CLIENT" ./protobuf)
BASE="$(mktemp -d /tmp/capstan-bench-wire.XXXXXX)"
trap 'cl_stop_all; rm -rf "$BASE"' EXIT
OUT="$BASE/results.jsonl"
for s in $SERVERS; do
    WORK="$BASE/$s"
    mkdir -p "$WORK"
    PORT="$(cl_free_port)"
    cl_pki "$PORT"
    cl_etcd
    if [ "$s" = capstan ]; then
        cl_capstan "$s" "$PORT" 192.0.2.10
        VERSION="capstan ($(basename "$(dirname "$CAPSTAN")") build)"
    else
        cl_upstream "$s" "$PORT" 192.0.2.10
        VERSION="kube-apiserver $("$KAS" --version | awk '{print $2}')"
    fi
    cl_log "$VERSION: $PODS pods, $UPDATES updates"
    "$CLIENT" --kubeconfig "$WORK/super-admin.conf" --namespace bench --bench-pods "$PODS" \
        --bench-updates "$UPDATES" --server-pid "$LAST_PID" | sed "s/^{/{\"server\":\"$VERSION\",/" | tee -a "$OUT"
    # etcd: size of the stored pods.
    curl -s "$ETCD_URL/v3/kv/range" -d "{\"key\":\"$(printf /registry/pods/bench/ | base64 -w0)\",\"range_end\":\"$(printf /registry/pods/bench0 | base64 -w0)\"}" |
        python3 -c "
import sys, json, base64
kvs = json.load(sys.stdin).get('kvs', [])
sizes = [len(base64.b64decode(k['value'])) for k in kvs]
print(json.dumps({'server': '$VERSION', 'measure': 'etcd', 'items': len(sizes), 'bytes_per_object': sum(sizes) / max(1, len(sizes)),
                  'encoding': 'protobuf' if kvs and base64.b64decode(kvs[0]['value']).startswith(b'k8s') else 'json'}))" | tee -a "$OUT"
    cl_stop_all
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("\n| server | measure | encoding | items | client s | bytes | server CPU s |")
print("|---|---|---|---:|---:|---:|---:|")
for r in rows:
    if r["measure"] == "etcd":
        print("| %s | etcd value | %s | %d | | %.0f B/object | |" % (r["server"], r["encoding"], r["items"], r["bytes_per_object"]))
    elif r["measure"] != "create":
        print("| %s | %s | %s | %d | %.3f | %d | %.2f |" % (r["server"], r["measure"], r["encoding"], r["items"], r["seconds"], r["bytes"], r["server_cpu_seconds"]))
PY
