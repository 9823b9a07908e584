#!/usr/bin/env bash
# Density run with the real control plane (issue 22): for each API server in SERVERS, one after
# the other, a fresh etcd, the API server (kubeadm's flags), upstream kube-controller-manager and
# kube-scheduler v1.33 (client QPS/burst raised as clusterloader2's density runs do, the same for
# both servers) and kwok faking NODES nodes; then DEPLOYMENTS Deployments totalling PODS pods.
# Measured per server:
#   - pod startup latency: creationTimestamp -> the pod watched with status.phase=Running, by a
#     small watcher (scripts/lib/density.py) that lists+watches the namespace from before the
#     first create; also "first watched -> Running" (ms resolution; creationTimestamp has 1 s)
#   - time from the first Deployment create to the last pod Running
#   - API call latency p50/p99, mutating (POST/PUT/PATCH/DELETE/APPLY) and read-only (GET/LIST),
#     from the server's own apiserver_request_duration_seconds (upstream's SLI): the difference of
#     a /metrics scrape just before the first create and one after the last pod is Running,
#     quantiles as Prometheus' histogram_quantile computes them
#   - peak RSS (VmHWM) of the API server and etcd, CPU seconds (pod phase and whole run)
#
# Usage: scripts/density.sh             (or `make density`)
#        NODES=20 PODS=500 scripts/density.sh
# Environment:
#   SERVERS="capstan upstream"   in this order; capstan-embedded = Capstan on its embedded store
#   NODES=1000 PODS=30000        kwok nodes (110 pods each at most) and pods
#   DEPLOYMENTS=                 how many Deployments share the pods (default: one per 3,000 pods)
#   CLIENT_QPS=100 CLIENT_BURST=200   --kube-api-qps/--kube-api-burst of KCM and the scheduler
#   KCM_ARGS=                    more kube-controller-manager flags, e.g.
#                                --vmodule=replica_set_utils=4 (logs each ReplicaSet status write)
#   KWOK_PARALLELISM=64          kwok's pod/node stage and lease parallelism (its default is 4)
#   POD_TIMEOUT=1200             seconds allowed from the first create to all pods Running
#   PROFILE=release              which Capstan build (CAPSTAN_BIN=path overrides)
#   DENSITY_OUTPUT_DIR=DIR       results (default $CARGO_TARGET_DIR/density/<time>)
#   DENSITY_STRICT=1             exit 1 unless every pod went Running and the metrics were scraped
#                                on every server (the CI short form)
#   WATCHLAG=N WATCHLAG_PAUSE=300ms   also time, during the pod phase, how long a client-go
#                                informer takes to see its own status write (N writes, one at a
#                                time: conformance/e2e/watchlag, built with Go into
#                                ~/.cache/capstan/watchlag on first use) -> DIR/<server>/watchlag.txt
#   KEEP=1                       keep the scratch dirs (etcd data, PKI)
# Output: DIR/report.md (the side-by-side table) and DIR/<server>/ (pods.json, metrics before and
# after, run.json, component logs). Every process started here is stopped on exit, on
# 127.0.0.1 free ports only; scratch dirs are deleted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CL_TAG=density
source "$ROOT/scripts/lib/cluster.sh"
PY="$ROOT/scripts/lib/density.py"

SERVERS="${SERVERS:-capstan upstream}"
NODES="${NODES:-1000}"
PODS="${PODS:-30000}"
DEPLOYMENTS="${DEPLOYMENTS:-$(((PODS + 2999) / 3000))}"
CLIENT_QPS="${CLIENT_QPS:-100}"
CLIENT_BURST="${CLIENT_BURST:-200}"
KWOK_PARALLELISM="${KWOK_PARALLELISM:-64}"
POD_TIMEOUT="${POD_TIMEOUT:-1200}"
cl_build_dirs
OUT="${DENSITY_OUTPUT_DIR:-$TARGET/density/$(date +%Y%m%d-%H%M%S)}"
for s in $SERVERS; do
    case "$s" in capstan | capstan-embedded | upstream) ;; *) echo "density: unknown server $s" >&2; exit 2 ;; esac
done
[ "$PODS" -le $((NODES * 110)) ] || { echo "density: $PODS pods do not fit on $NODES nodes (110 each)" >&2; exit 2; }
[ -x "$CAPSTAN" ] || { echo "density: no capstan binary at $CAPSTAN" >&2; exit 1; }
command -v etcd >/dev/null || { echo "density: needs etcd (scripts/setup.sh installs etcd-server)" >&2; exit 1; }
UP() { bash "$ROOT/scripts/upstream.sh" path "$1"; }
KAS="$(UP kube-apiserver)" && KCM="$(UP kube-controller-manager)" && SCHED="$(UP kube-scheduler)" &&
    KUBECTL="$(UP kubectl)" && KWOK="$(UP kwok)" ||
    { echo "density: upstream binaries not cached (make upstream)" >&2; exit 1; }
K8S_VERSION="$(bash "$ROOT/scripts/upstream.sh" version)"
WATCHLAG_BIN="$HOME/.cache/capstan/watchlag"
if [ -n "${WATCHLAG:-}" ] && [ ! -x "$WATCHLAG_BIN" ]; then
    echo "density: building conformance/e2e/watchlag into $WATCHLAG_BIN" >&2
    (cd "$ROOT/conformance/e2e" && go build -mod=readonly -o "$WATCHLAG_BIN" ./watchlag) ||
        { echo "density: could not build watchlag (WATCHLAG=$WATCHLAG)" >&2; exit 1; }
fi
# One watch per component and informer, plus the watcher: far below any limit, but kwok opens one
# connection per node lease when NODES is large.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ADVERTISE="${ADVERTISE_ADDRESS:-$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}' | head -1)}"
ADVERTISE="${ADVERTISE:-192.0.2.10}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK=""
cleanup() {
    cl_stop_all
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "${KEEP:-}" = 1 ]; then cl_log "kept $WORK"; else rm -rf "$WORK"; fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_s() { # user+system CPU seconds of a pid (0 if gone)
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
status_mib() { # /proc/PID/status field in MiB
    awk -v f="$2:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"
}
healthz() { [ "$(curl -sk --max-time 5 "https://127.0.0.1:$1/healthz")" = ok ]; }

# run_one SERVER: the whole cluster for one API server; results in $OUT/$SERVER.
run_one() {
    local server="$1" dir="$OUT/$1" port kcm_port sched_port kwok_port server_pid etcd_pid="" t
    mkdir -p "$dir"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/capstan-density.XXXXXX")"
    port="$(cl_free_port)"
    cl_pki "$port" || { cl_log "PKI failed"; cat "$WORK/certs.log" >&2; return 1; }
    local extra=()
    if [ "$server" = capstan-embedded ]; then
        ETCD_URL=""
        extra=(--data-dir="$WORK/data")
    else
        cl_etcd || return 1
        etcd_pid="$ETCD_PID"
    fi
    case "$server" in
        upstream) cl_upstream apiserver "$port" "$ADVERTISE" || return 1 ;;
        *) cl_capstan apiserver "$port" "$ADVERTISE" "${extra[@]}" || return 1 ;;
    esac
    server_pid="$LAST_PID"
    local kc=("$KUBECTL" --kubeconfig="$WORK/admin.conf")
    "$KUBECTL" --kubeconfig="$WORK/super-admin.conf" create clusterrolebinding kubeadm:cluster-admins \
        --clusterrole=cluster-admin --group=kubeadm:cluster-admins >&2 || return 1

    kcm_port="$(cl_free_port)"
    cl_start kube-controller-manager "$WORK/kube-controller-manager.log" "$KCM" \
        --authentication-kubeconfig="$WORK/controller-manager.conf" \
        --authorization-kubeconfig="$WORK/controller-manager.conf" --bind-address=127.0.0.1 \
        --client-ca-file="$WORK/pki/ca.crt" --cluster-name=kubernetes \
        --cluster-signing-cert-file="$WORK/pki/ca.crt" --cluster-signing-key-file="$WORK/pki/ca.key" \
        --controllers='*,bootstrapsigner,tokencleaner' --kubeconfig="$WORK/controller-manager.conf" \
        --leader-elect=true --requestheader-client-ca-file="$WORK/pki/front-proxy-ca.crt" \
        --root-ca-file="$WORK/pki/ca.crt" --secure-port="$kcm_port" \
        --service-account-private-key-file="$WORK/pki/sa.key" --use-service-account-credentials=true \
        --kube-api-qps="$CLIENT_QPS" --kube-api-burst="$CLIENT_BURST" ${KCM_ARGS:-}
    local kcm_pid="${CL_PIDS[-1]}"
    sched_port="$(cl_free_port)"
    cl_start kube-scheduler "$WORK/kube-scheduler.log" "$SCHED" \
        --authentication-kubeconfig="$WORK/scheduler.conf" --authorization-kubeconfig="$WORK/scheduler.conf" \
        --bind-address=127.0.0.1 --kubeconfig="$WORK/scheduler.conf" --leader-elect=true \
        --secure-port="$sched_port" --kube-api-qps="$CLIENT_QPS" --kube-api-burst="$CLIENT_BURST"
    local sched_pid="${CL_PIDS[-1]}"
    cl_wait kube-controller-manager "$kcm_pid" 120 healthz "$kcm_port" || return 1
    cl_wait kube-scheduler "$sched_pid" 120 healthz "$sched_port" || return 1
    has_lease() { "${kc[@]}" -n kube-system get lease "$1" -o jsonpath='{.spec.holderIdentity}' | grep -q .; }
    cl_wait "kube-controller-manager lease" "$kcm_pid" 120 has_lease kube-controller-manager || return 1
    cl_wait "kube-scheduler lease" "$sched_pid" 120 has_lease kube-scheduler || return 1

    kwok_port="$(cl_free_port)"
    # kwok's default of 4 parallel pod-status patches per process (one kubelet's worth) caps the
    # whole run at 4 / patch latency; 1,000 real kubelets patch in parallel.
    cat >"$WORK/kwok.yaml" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: $KWOK_PARALLELISM
  nodePlayStageParallelism: $KWOK_PARALLELISM
  nodeLeaseParallelism: $KWOK_PARALLELISM
  podsOnNodeSyncParallelism: $KWOK_PARALLELISM
EOF
    cl_start kwok "$WORK/kwok.log" "$KWOK" --config="$WORK/kwok.yaml" --kubeconfig="$WORK/admin.conf" --manage-all-nodes=false \
        --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --manage-nodes-with-label-selector= \
        --disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom \
        --disregard-status-with-label-selector= --cidr=10.0.0.0/8 --node-ip=127.0.0.1 \
        --node-lease-duration-seconds=40 --server-address="127.0.0.1:$kwok_port"
    local kwok_pid="${CL_PIDS[-1]}"
    cl_wait kwok "$kwok_pid" 60 curl -fsS --max-time 2 "http://127.0.0.1:$kwok_port/healthz" || return 1
    cl_kwok_nodes "$NODES" >"$WORK/nodes.yaml"
    local i
    t=$(date +%s)
    "${kc[@]}" create -f "$WORK/nodes.yaml" >/dev/null || return 1
    nodes_ready() { [ "$("${kc[@]}" get nodes --no-headers | grep -c ' Ready ')" -ge "$NODES" ]; }
    cl_wait "kwok nodes" "$kwok_pid" 600 nodes_ready || return 1
    cl_log "$server: $NODES kwok nodes Ready ($(($(date +%s) - t)) s)"

    "${kc[@]}" create namespace density >&2 || return 1
    # The ServiceAccount admission plugin refuses pods until KCM made the namespace's `default`.
    cl_wait "default ServiceAccount" "$kcm_pid" 60 "${kc[@]}" -n density get serviceaccount default || return 1
    rm -f "$WORK/watch-ready"
    cl_start watcher "$dir/watcher.log" python3 "$PY" watch "$WORK/admin.conf" density "$PODS" \
        "$dir/pods.json" "$WORK/watch-ready" "$POD_TIMEOUT"
    local watch_pid="${CL_PIDS[-1]}"
    cl_wait watcher "$watch_pid" 60 test -e "$WORK/watch-ready" || return 1

    python3 "$PY" metrics "$WORK/admin.conf" "https://127.0.0.1:$port/metrics" "$dir/metrics-before.txt" || return 1
    local cpu0 ecpu0=0 load
    cpu0="$(cpu_s "$server_pid")"
    [ -z "$etcd_pid" ] || ecpu0="$(cpu_s "$etcd_pid")"
    local kcm0 sched0 kwok0
    kcm0="$(cpu_s "$kcm_pid")" sched0="$(cpu_s "$sched_pid")" kwok0="$(cpu_s "$kwok_pid")"
    load="$(cut -d' ' -f1-3 /proc/loadavg)"
    local per=$((PODS / DEPLOYMENTS)) extra_pods=$((PODS % DEPLOYMENTS)) n
    for ((i = 0; i < DEPLOYMENTS; i++)); do
        n=$per
        [ "$i" -ge "$extra_pods" ] || n=$((n + 1))
        cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: density-$i, namespace: density}
spec:
  replicas: $n
  selector: {matchLabels: {app: density-$i}}
  template:
    metadata: {labels: {app: density-$i, group: density}}
    spec:
      nodeSelector: {type: kwok}
      containers:
      - {name: pause, image: registry.k8s.io/pause:3.10, resources: {requests: {cpu: 1m, memory: 10Mi}}}
---
EOF
    done >"$WORK/deployments.yaml"
    local t0
    t0="$(date +%s.%N)"
    "${kc[@]}" create -f "$WORK/deployments.yaml" >&2 || return 1
    cl_log "$server: $DEPLOYMENTS Deployments, $PODS pods created at $(date -u +%T); waiting up to $POD_TIMEOUT s for all Running"
    local lag_pid=""
    if [ -n "${WATCHLAG:-}" ]; then
        cl_start watchlag "$dir/watchlag.txt" "$WATCHLAG_BIN" "$WORK/admin.conf" "$WATCHLAG" "${WATCHLAG_PAUSE:-300ms}"
        lag_pid="${CL_PIDS[-1]}"
    fi
    local rc=0
    wait "$watch_pid" || rc=$?
    # The lag probe is over long before the pods are (or it is cut off: its line is then missing).
    [ -z "$lag_pid" ] || ! kill -0 "$lag_pid" 2>/dev/null || { cl_log "$server: watchlag still running; stopped"; kill "$lag_pid" 2>/dev/null || true; }
    python3 "$PY" metrics "$WORK/admin.conf" "https://127.0.0.1:$port/metrics" "$dir/metrics-after.txt" || rc=1
    local cpu1 ecpu1=0
    cpu1="$(cpu_s "$server_pid")"
    [ -z "$etcd_pid" ] || ecpu1="$(cpu_s "$etcd_pid")"
    local kcm1 sched1 kwok1
    kcm1="$(cpu_s "$kcm_pid")" sched1="$(cpu_s "$sched_pid")" kwok1="$(cpu_s "$kwok_pid")"
    # The components' own view (scheduling attempts, work queues), scraped with the admin
    # client certificate; a component that exited has none.
    python3 "$PY" metrics "$WORK/admin.conf" "https://127.0.0.1:$sched_port/metrics" "$dir/scheduler-metrics-after.txt" || true
    python3 "$PY" metrics "$WORK/admin.conf" "https://127.0.0.1:$kcm_port/metrics" "$dir/kcm-metrics-after.txt" || true
    # A component that lost its leader lease (the server too slow to renew it) exits; nothing
    # restarts it here as a kubelet would, so the run stalls: record it.
    local exited=""
    kill -0 "$kcm_pid" 2>/dev/null || exited+="kube-controller-manager "
    kill -0 "$sched_pid" 2>/dev/null || exited+="kube-scheduler "
    kill -0 "$kwok_pid" 2>/dev/null || exited+="kwok "
    local last=""
    [ ! -f "$dir/pods.json" ] || last="$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["last_running"]; print(v if v else "")' "$dir/pods.json")"
    local version
    if [ "$server" = upstream ]; then version="kube-apiserver $("$KAS" --version | awk '{print $2}')"
    else version="$("$CAPSTAN" --version | head -1) (tree $(cd "$ROOT" && git rev-parse --short HEAD))"; fi
    cat >"$dir/run.json" <<EOF
{"server": "$server", "version": "$version",
 "all_running_s": $([ -n "$last" ] && awk -v a="$last" -v b="$t0" 'BEGIN{printf "%.1f", a-b}' || echo null),
 "server_hwm_mib": "$(status_mib "$server_pid" VmHWM)", "server_rss_mib": "$(status_mib "$server_pid" VmRSS)",
 "server_cpu_s": $(cpu_s "$server_pid"), "server_cpu_pods_s": $(awk -v a="$cpu1" -v b="$cpu0" 'BEGIN{printf "%.1f", a-b}'),
 "etcd_hwm_mib": "$([ -n "$etcd_pid" ] && status_mib "$etcd_pid" VmHWM || echo –)",
 "etcd_cpu_pods_s": $(awk -v a="$ecpu1" -v b="$ecpu0" 'BEGIN{printf "%.1f", a-b}'),
 "components_cpu_pods_s": $(awk -v a="$kcm1" -v b="$kcm0" -v c="$sched1" -v d="$sched0" -v e="$kwok1" -v f="$kwok0" 'BEGIN{printf "%.1f", a-b+c-d+e-f}'),
 "kcm_cpu_pods_s": $(awk -v a="$kcm1" -v b="$kcm0" 'BEGIN{printf "%.1f", a-b}'),
 "scheduler_cpu_pods_s": $(awk -v a="$sched1" -v b="$sched0" 'BEGIN{printf "%.1f", a-b}'),
 "kwok_cpu_pods_s": $(awk -v a="$kwok1" -v b="$kwok0" 'BEGIN{printf "%.1f", a-b}'),
 "components_exited": "${exited:-none}", "loadavg": "$load"}
EOF
    cl_log "$server: $(cat "$dir/run.json" | tr -d '\n')"
    cl_stop_all
    cp "$WORK"/*.log "$dir/" 2>/dev/null || true
    if [ "${KEEP:-}" = 1 ]; then cl_log "kept $WORK"; else rm -rf "$WORK"; fi
    WORK=""
    return "$rc"
}

{
    echo "date: $(date -u '+%F %T UTC')"
    echo "commit: $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git status --porcelain -- src | grep -q . && echo ' (uncommitted changes in src)' || true)"
    echo "capstan: $CAPSTAN ($PROFILE)"
    echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), load average at start $(cut -d' ' -f1-3 /proc/loadavg), nice $(nice)"
    echo "components: kube-controller-manager, kube-scheduler $K8S_VERSION (--kube-api-qps=$CLIENT_QPS --kube-api-burst=$CLIENT_BURST), $("$KWOK" --version | awk '{print $1, $3}') (parallelism $KWOK_PARALLELISM), etcd $(etcd --version | awk '/etcd Version/ {print $3}')"
    echo "command: SERVERS='$SERVERS' NODES=$NODES PODS=$PODS DEPLOYMENTS=$DEPLOYMENTS POD_TIMEOUT=$POD_TIMEOUT scripts/density.sh"
} >"$OUT/run-info.txt"
cat "$OUT/run-info.txt" >&2
FAILED=()
for s in $SERVERS; do
    cl_log "=== $s: $NODES nodes, $PODS pods in $DEPLOYMENTS Deployments"
    if ! run_one "$s"; then
        FAILED+=("$s")
        cl_log "$s: the run did not complete (logs in $OUT/$s)"
        cl_stop_all
        [ -z "$WORK" ] || { [ "${KEEP:-}" = 1 ] || rm -rf "$WORK"; WORK=""; }
    fi
done
{
    cat "$OUT/run-info.txt"
    echo
    # shellcheck disable=SC2086
    python3 "$PY" report "$OUT" $SERVERS
    [ ${#FAILED[@]} -eq 0 ] || echo "- did not complete: ${FAILED[*]}"
} >"$OUT/report.md"
cat "$OUT/report.md"
cl_log "report: $OUT/report.md"
if [ "${DENSITY_STRICT:-}" = 1 ]; then
    [ ${#FAILED[@]} -eq 0 ] || exit 1
    for s in $SERVERS; do
        grep -q '^apiserver_request_duration_seconds_bucket' "$OUT/$s/metrics-after.txt" ||
            { echo "density: $s: no apiserver_request_duration_seconds in /metrics" >&2; exit 1; }
    done
fi
