#!/usr/bin/env bash
# Upstream's own e2e [Conformance] suite against Capstan or upstream kube-apiserver, with the real
# control plane around it: kube-controller-manager and kube-scheduler (upstream v1.33, kubeadm's
# flags and kubeconfigs) and kwok faking nodes and pod lifecycles (no kubelet: pods go Running,
# nothing is executed, so tests that exec into pods or send traffic fail on either server).
#
# Usage: scripts/e2e.sh                      (or `make e2e`)
#        SERVER=upstream BACKEND=etcd scripts/e2e.sh
# Environment:
#   SERVER=capstan|upstream     API server under test (default capstan)
#   BACKEND=embedded|etcd       Capstan's embedded store (default for capstan) or a throwaway etcd
#                               (Debian's etcd) on free loopback ports (the only one for upstream)
#   FOCUS='\[Conformance\]'     ginkgo --focus regexp
#   FOCUS=baseline              exactly the specs that PASS in $BASELINE (the yardstick: every one of
#                               them must pass on Capstan; the others fail on upstream too)
#   E2E_STRICT=1                exit 1 when a spec that passes in $BASELINE does not pass here,
#                               not even when re-run alone once (E2E_RERUN=0: no re-run)
#   CAPSTAN_BIN=PATH            the capstan binary (default: the debug build)
#   SKIP='\[Serial\]|\[Disruptive\]'   ginkgo --skip regexp
#   PARALLEL=16                 ginkgo processes: the specs mostly wait (no kubelet: many wait out
#                               5-minute timeouts), so more processes than cores; upstream uses 25
#   NODES=3                     kwok-faked nodes
#   E2E_TIMEOUT=3h              ginkgo suite timeout
#   E2E_OUTPUT_DIR=DIR          results (default $CARGO_TARGET_DIR/e2e/<server>-<backend>-<time>)
#   BASELINE=conformance/baseline-v1.33.txt   compared against when SERVER=capstan
#   WRITE_BASELINE=FILE         write the results as a baseline file (header + PASS|FAIL lines)
#   E2E_SKIP_BUILD=1            use the binaries already built (no cargo build / upstream.sh build)
#   CAPSTAN_BIN=PATH            the capstan binary (default $CARGO_TARGET_DIR/debug/capstan)
#   VERBOSE=1                   also stream the ginkgo output to the terminal
#   E2E_SCHEDULER_RBAC_WORKAROUND=1   grant system:kube-scheduler the v1.33 volumeattachments rule
#                               before it starts (Capstan's bootstrap policy lacks it)
#   ADVERTISE_ADDRESS=IP        --advertise-address (default: the default route's source address)
#   E2E_EXTRA_ARGS=...          extra e2e.test flags (word-split)
#   E2E_AUDIT=1                 the API server (either) writes an audit log of every write
#                               (Metadata level) to audit.log: trace a control-plane race request
#                               by request, the same way on both servers
#   E2E_AUDIT_POLICY=FILE       with E2E_AUDIT=1: this audit policy instead (e.g. Request level
#                               for one resource, to see the resourceVersions a controller sends)
# Outputs in the output dir: junit_01.xml, e2e.log (ginkgo), results.txt (PASS|FAIL <test>,
# sorted), failures.txt (<test> TAB <first failure line>), diff-vs-baseline.txt (tests that pass
# in the baseline and not here), and the logs of every component (apiserver, etcd,
# kube-controller-manager, kube-scheduler, kwok). Prints "N passed, N failed".
# `scripts/e2e.sh report DIR` rewrites those result files from DIR/junit_01.xml.
# Exit status: 0 when the suite ran (whatever the counts), 1 when the cluster could not start.
# Every process started here is stopped on exit. Only 127.0.0.1 is used; ports are free ones.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
SERVER="${SERVER:-capstan}"
case "$SERVER" in
    capstan) BACKEND="${BACKEND:-embedded}" ;;
    upstream) BACKEND="${BACKEND:-etcd}" ;;
    *) echo "e2e: SERVER must be capstan or upstream, not $SERVER" >&2; exit 2 ;;
esac
case "$SERVER/$BACKEND" in
    capstan/embedded | capstan/etcd | upstream/etcd) ;;
    *) echo "e2e: SERVER=$SERVER does not run on BACKEND=$BACKEND" >&2; exit 2 ;;
esac
FOCUS="${FOCUS:-\[Conformance\]}"
SKIP="${SKIP:-\[Serial\]|\[Disruptive\]}"
PARALLEL="${PARALLEL:-16}"
NODES="${NODES:-3}"
E2E_TIMEOUT="${E2E_TIMEOUT:-3h}"
BASELINE="${BASELINE:-$ROOT/conformance/baseline-v1.33.txt}"
if [ "$FOCUS" = baseline ]; then
    # One alternation of the baseline's PASS names, regexp metacharacters escaped.
    FOCUS="($(sed -n 's/^PASS //p' "$BASELINE" | sed 's/[][(){}.*+?^$|\\]/\\&/g' | paste -sd '|'))"
    [ "$FOCUS" != "()" ] || { echo "e2e: no PASS lines in $BASELINE" >&2; exit 2; }
fi
OUT="${E2E_OUTPUT_DIR:-$CARGO_TARGET_DIR/e2e/$SERVER-$BACKEND-$(date +%Y%m%d-%H%M%S)}"
if [ "$BACKEND" = etcd ] && ! command -v etcd >/dev/null; then
    echo "e2e: BACKEND=etcd needs etcd (Debian package etcd-server)" >&2
    exit 1
fi

log() { echo "e2e: $*" >&2; }

# report: results.txt, failures.txt, diff-vs-baseline.txt (SERVER=capstan) and the optional
# baseline file from $OUT/junit_01.xml; prints "N passed, N failed".
report() {
    [ -f "$OUT/junit_01.xml" ] || { log "no JUnit report ($OUT/junit_01.xml); tail of e2e.log:"; tail -n 40 "$OUT/e2e.log" >&2; exit 1; }
python3 - "$OUT" "$BASELINE" "$SERVER" "${WRITE_BASELINE:-}" <<'PY'
import os, sys, xml.etree.ElementTree as ET
out, baseline, server, write_baseline = sys.argv[1:5]
results, first, full = {}, {}, {}
for case in ET.parse(os.path.join(out, "junit_01.xml")).getroot().iter("testcase"):
    name = case.get("name", "")
    if name.startswith("[It] "):
        name = name[len("[It] "):]
    if name.startswith("[SynchronizedBeforeSuite]") or name.startswith("[SynchronizedAfterSuite]") \
            or name.startswith("[ReportAfterSuite]") or name.startswith("[ReportBeforeSuite]"):
        continue
    if case.find("skipped") is not None:
        continue
    bad = case.find("failure")
    if bad is None:
        bad = case.find("error")
    if bad is None:
        results[name] = "PASS"
    else:
        results[name] = "FAIL"
        text = (bad.get("message") or "") + "\n" + (bad.text or "")
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        first[name] = lines[0] if lines else "(no failure message)"
        full[name] = lines[:25]
with open(os.path.join(out, "results.txt"), "w") as f:
    for name in sorted(results):
        f.write(f"{results[name]} {name}\n")
with open(os.path.join(out, "failures.txt"), "w") as f:
    for name in sorted(first):
        f.write(f"{name}\t{first[name]}\n")
npass = sum(1 for v in results.values() if v == "PASS")
nfail = len(results) - npass
if write_baseline:
    info = open(os.path.join(out, "run-info.txt")).read().splitlines()
    with open(write_baseline, "w") as f:
        f.write("# Upstream e2e [Conformance] results (PASS|FAIL <test>, sorted), written by scripts/e2e.sh.\n")
        f.write("# Nodes are kwok fakes (no kubelet, no pod network): tests that need a running container fail.\n")
        for line in info:
            f.write(f"# {line}\n")
        f.write(f"# {npass} passed, {nfail} failed\n")
        for name in sorted(results):
            f.write(f"{results[name]} {name}\n")
    print(f"e2e: wrote baseline {write_baseline}", file=sys.stderr)
if server == "capstan" and os.path.exists(baseline):
    base = {}
    for line in open(baseline):
        if line.startswith("#") or not line.strip():
            continue
        status, name = line.rstrip("\n").split(" ", 1)
        base[name] = status
    lost = sorted(n for n, s in base.items() if s == "PASS" and results.get(n) != "PASS")
    gained = sorted(n for n, s in results.items() if s == "PASS" and base.get(n) != "PASS")
    with open(os.path.join(out, "diff-vs-baseline.txt"), "w") as f:
        f.write(f"# {len(lost)} tests pass in {os.path.basename(baseline)} and not here; first failure line of each\n")
        for n in lost:
            why = full.get(n) or ["not run" if n not in results else ""]
            f.write(n + "\n" + "".join(f"    {l}\n" for l in why))
        if gained:
            f.write(f"# {len(gained)} tests pass here and not in the baseline\n")
            for n in gained:
                f.write(f"{n}\n")
    print(f"e2e: {len(lost)} tests pass in the baseline and not here: {os.path.join(out, 'diff-vs-baseline.txt')}", file=sys.stderr)
print(f"{npass} passed, {nfail} failed")
PY
    log "results: $OUT/results.txt, failures: $OUT/failures.txt"
}

# ginkgo_cmd PROCESSES FOCUS REPORT_DIR: the suite's command line, in GINKGO_CMD.
ginkgo_cmd() {
    GINKGO_CMD=("$GINKGO" --nodes="$1" --timeout="$E2E_TIMEOUT" --no-color
        --focus="$2" --skip="$SKIP"
        "$E2E_TEST" --
        --provider=skeleton
        --kubeconfig="$ADMIN"
        --kubectl-path="$KUBECTL"
        --report-dir="$3"
        --e2e-output-dir="$3"
        --num-nodes="$NODES"
        ${E2E_EXTRA_ARGS:-})
}

# The specs that pass in the baseline and did not here (names, one per line).
lost_specs() {
    [ -f "$OUT/diff-vs-baseline.txt" ] && grep '^\[' "$OUT/diff-vs-baseline.txt" || true
}

# E2E_STRICT: every spec of the baseline must pass. What failed is printed whole (CI keeps only
# this output), then re-run alone once (E2E_RERUN=0 skips that): a spec can lose a race with
# another spec of the parallel run (the kubectl describe spec describes the first Node listed,
# which can be the Node Lifecycle spec's node, deleted a moment later). One that passes alone
# is reported as flaky in $OUT/flaky.txt; one that fails again fails the run.
strict_check() {
    [ "${E2E_STRICT:-}" = 1 ] && [ -n "$(lost_specs)" ] || return 0
    log "E2E_STRICT: specs that pass upstream failed here:"
    grep -v '^#' "$OUT/diff-vs-baseline.txt" >&2
    if [ -f "$OUT/apiserver.log" ]; then
        log "the API server's last warnings and errors:"
        grep -E ' (WARN|ERROR) ' "$OUT/apiserver.log" | tail -n 30 >&2 || true
    fi
    [ "${E2E_RERUN:-1}" = 1 ] && [ -n "${GINKGO_PID:-}" ] || exit 1
    local focus n
    n="$(lost_specs | wc -l)"
    focus="($(lost_specs | sed 's/[][(){}.*+?^$|\\]/\\&/g' | paste -sd '|'))"
    log "re-running the $n spec(s) alone, once"
    mkdir -p "$OUT/rerun"
    ginkgo_cmd 1 "$focus" "$OUT/rerun"
    (cd "$WORK" && "${GINKGO_CMD[@]}" >"$OUT/rerun/e2e.log" 2>&1) || true
    local passed
    passed="$(python3 - "$OUT/rerun/junit_01.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    sys.exit(0)
for case in root.iter("testcase"):
    name = case.get("name", "")
    if name.startswith("[It] ") and case.find("failure") is None and case.find("error") is None \
            and case.find("skipped") is None:
        print(name[len("[It] "):])
PY
)"
    local still=()
    while IFS= read -r spec; do
        grep -qxF -- "$spec" <<<"$passed" || still+=("$spec")
    done < <(lost_specs)
    if [ ${#still[@]} -gt 0 ]; then
        log "E2E_STRICT: still failing when re-run alone ($OUT/rerun/e2e.log):"
        printf '%s\n' "${still[@]}" >&2
        exit 1
    fi
    lost_specs >"$OUT/flaky.txt"
    log "flaky: $n spec(s) failed in the parallel run and passed alone ($OUT/flaky.txt):"
    cat "$OUT/flaky.txt" >&2
}

# `scripts/e2e.sh report DIR`: redo the results of an earlier run's output dir.
if [ "${1:-}" = report ]; then
    OUT="${2:?usage: scripts/e2e.sh report OUTPUT_DIR}"
    SERVER="$(sed -n 's/^invocation: SERVER=\([a-z]*\).*/\1/p' "$OUT/run-info.txt" 2>/dev/null || true)"
    SERVER="${SERVER:-capstan}"
    report
    strict_check
    exit 0
fi

if [ "${E2E_SKIP_BUILD:-}" != "1" ]; then
    log "building upstream binaries (cached after the first build)"
    "$ROOT/scripts/upstream.sh" build
    log "cargo build --bin capstan"
    (cd "$ROOT" && cargo build --bin capstan >&2)
fi
UP() { "$ROOT/scripts/upstream.sh" path "$1"; }
CAPSTAN="${CAPSTAN_BIN:-$CARGO_TARGET_DIR/debug/capstan}"
[ -x "$CAPSTAN" ] || { echo "e2e: $CAPSTAN is not built (cargo build --bin capstan)" >&2; exit 1; }
KAS="$(UP kube-apiserver)"
KCM="$(UP kube-controller-manager)"
SCHED="$(UP kube-scheduler)"
KUBECTL="$(UP kubectl)"
GINKGO="$(UP ginkgo)"
E2E_TEST="$(UP e2e.test)"
KWOK="$(UP kwok)"
K8S_VERSION="$("$ROOT/scripts/upstream.sh" version)"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/capstan-e2e.XXXXXX")"
PIDS=()   # started processes, stopped in reverse order
NAMES=()

# Each process is started in its own session (setsid), so its pid is also its process group:
# stopping the group also stops what it started (ginkgo's parallel e2e.test processes).
stop_all() {
    local i pid n
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid="${PIDS[$i]}"
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for n in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "${NAMES[$i]} (pid $pid) did not exit 15 s after SIGTERM; killing it"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        kill -KILL -- "-$pid" 2>/dev/null || true   # leftovers of the group
    done
    PIDS=()
    if [ "${KEEP:-}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start NAME LOGFILE CMD...: background process, remembered for the exit trap.
start() {
    local name="$1" logf="$2"
    shift 2
    setsid "$@" >"$logf" 2>&1 </dev/null &
    PIDS+=($!)
    NAMES+=("$name")
    log "started $name (pid $!), log $logf"
}

# wait_for NAME PID TIMEOUT_S CMD...: poll CMD every 0.2 s until it succeeds; fail if PID exits.
wait_for() {
    local name="$1" pid="$2" timeout="$3"
    shift 3
    local deadline=$(($(date +%s) + timeout))
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before it was ready"
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "$name not ready within $timeout s"
            return 1
        fi
        sleep 0.2
    done
}

fail_start() {
    local f
    log "$1; log tails:"
    for f in "$OUT"/*.log; do echo "--- $f" >&2; tail -n 25 "$f" >&2; done
    exit 1
}

# --- PKI and kubeconfigs (kubeadm layout, from capstan) ---------------------------------------
PORT="$(free_port)"
PKI="$WORK/pki"
"$CAPSTAN" certs init --dir "$PKI" --kubeconfig-dir "$WORK" --node-name e2e-control-plane \
    --advertise-address 127.0.0.1 >"$OUT/certs.log" 2>&1 || fail_start "capstan certs init failed"
"$CAPSTAN" kubeconfig --dir "$PKI" --kubeconfig-dir "$WORK" --node-name e2e-control-plane \
    --advertise-address 127.0.0.1 --secure-port "$PORT" >>"$OUT/certs.log" 2>&1 ||
    fail_start "capstan kubeconfig failed"
ADMIN="$WORK/admin.conf"

# --- storage ---------------------------------------------------------------------------------
STORAGE_ARGS=()
if [ "$BACKEND" = etcd ]; then
    ECP="$(free_port)"
    EPP="$(free_port)"
    start etcd "$OUT/etcd.log" env ETCD_UNSUPPORTED_ARCH="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" \
        etcd --name e2e --data-dir "$WORK/etcd" \
        --listen-client-urls "http://127.0.0.1:$ECP" --advertise-client-urls "http://127.0.0.1:$ECP" \
        --listen-peer-urls "http://127.0.0.1:$EPP" --initial-advertise-peer-urls "http://127.0.0.1:$EPP" \
        --initial-cluster "e2e=http://127.0.0.1:$EPP" --initial-cluster-state new
    etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$ECP/health" | grep -q '"health":"true"'; }
    wait_for etcd "${PIDS[-1]}" 60 etcd_healthy || fail_start "etcd did not start"
    STORAGE_ARGS=(--etcd-servers="http://127.0.0.1:$ECP")
else
    STORAGE_ARGS=(--data-dir="$WORK/data")
fi

# --- API server: kubeadm's kube-apiserver flags (stacked etcd without TLS, loopback only) ------
# The advertise address goes into the `kubernetes` Endpoints, which refuse loopback addresses:
# use the host's default-route source address as kubeadm does (the server still binds 127.0.0.1
# only), or a TEST-NET address when there is none.
ADVERTISE="${ADVERTISE_ADDRESS:-$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}' | head -1)}"
ADVERTISE="${ADVERTISE:-192.0.2.10}"
APISERVER_ARGS=(
    --advertise-address="$ADVERTISE"
    --allow-privileged=true
    --authorization-mode=Node,RBAC
    --bind-address=127.0.0.1
    --client-ca-file="$PKI/ca.crt"
    --enable-admission-plugins=NodeRestriction
    --enable-bootstrap-token-auth=true
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname
    --proxy-client-cert-file="$PKI/front-proxy-client.crt"
    --proxy-client-key-file="$PKI/front-proxy-client.key"
    --requestheader-allowed-names=front-proxy-client
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt"
    --requestheader-extra-headers-prefix=X-Remote-Extra-
    --requestheader-group-headers=X-Remote-Group
    --requestheader-username-headers=X-Remote-User
    --secure-port="$PORT"
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$PKI/sa.pub"
    --service-account-signing-key-file="$PKI/sa.key"
    --service-cluster-ip-range=10.96.0.0/12
    --tls-cert-file="$PKI/apiserver.crt"
    --tls-private-key-file="$PKI/apiserver.key"
    "${STORAGE_ARGS[@]}"
)
if [ "${E2E_AUDIT:-0}" = 1 ]; then
    cat >"$WORK/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
POLICY
    [ -z "${E2E_AUDIT_POLICY:-}" ] || cp "$E2E_AUDIT_POLICY" "$WORK/audit-policy.yaml"
    APISERVER_ARGS+=(--audit-policy-file="$WORK/audit-policy.yaml" --audit-log-path="$OUT/audit.log")
fi
if [ "$SERVER" = capstan ]; then
    COMMIT="$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(cd "$ROOT" && git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null || true)" ]; then
        COMMIT+=", uncommitted changes in src"
    fi
    SERVER_VERSION="$("$CAPSTAN" --version 2>/dev/null | head -1) (tree $COMMIT)"
    # Capstan reads CAPSTAN_* settings from the environment and refuses unknown ones
    # (CAPSTAN_BIN, CAPSTAN_UPSTREAM_DIR): the server gets its flags only.
    UNSET=()
    for v in $(compgen -e | grep '^CAPSTAN_' || true); do UNSET+=(-u "$v"); done
    start apiserver "$OUT/apiserver.log" env "${UNSET[@]}" "$CAPSTAN" serve "${APISERVER_ARGS[@]}"
else
    SERVER_VERSION="kube-apiserver $("$KAS" --version | awk '{print $2}')"
    start apiserver "$OUT/apiserver.log" "$KAS" "${APISERVER_ARGS[@]}"
fi
APISERVER_PID="${PIDS[-1]}"
api_ready() { [ "$(curl -sk --max-time 5 "https://127.0.0.1:$PORT/readyz")" = ok ]; }
wait_for apiserver "$APISERVER_PID" 180 api_ready || fail_start "API server did not become ready"
log "API server ready at https://127.0.0.1:$PORT ($SERVER_VERSION, $BACKEND)"
KC=("$KUBECTL" --kubeconfig="$ADMIN")
# kubeadm init binds its admin group with super-admin.conf (system:masters) once the server is up.
SUPER=("$KUBECTL" --kubeconfig="$WORK/super-admin.conf")
if ! "${SUPER[@]}" get clusterrolebinding kubeadm:cluster-admins >/dev/null 2>&1; then
    "${SUPER[@]}" create clusterrolebinding kubeadm:cluster-admins --clusterrole=cluster-admin \
        --group=kubeadm:cluster-admins >&2 || fail_start "creating the kubeadm:cluster-admins binding failed"
fi
"${KC[@]}" get ns >&2 || fail_start "kubectl get ns with admin.conf failed"

# --- kube-controller-manager and kube-scheduler: kubeadm's flags ------------------------------
KCM_PORT="$(free_port)"
start kube-controller-manager "$OUT/kube-controller-manager.log" "$KCM" \
    --authentication-kubeconfig="$WORK/controller-manager.conf" \
    --authorization-kubeconfig="$WORK/controller-manager.conf" \
    --bind-address=127.0.0.1 \
    --client-ca-file="$PKI/ca.crt" \
    --cluster-name=kubernetes \
    --cluster-signing-cert-file="$PKI/ca.crt" \
    --cluster-signing-key-file="$PKI/ca.key" \
    --controllers='*,bootstrapsigner,tokencleaner' \
    --kubeconfig="$WORK/controller-manager.conf" \
    --leader-elect=true \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --root-ca-file="$PKI/ca.crt" \
    --secure-port="$KCM_PORT" \
    --service-account-private-key-file="$PKI/sa.key" \
    --use-service-account-credentials=true
KCM_PID="${PIDS[-1]}"
if [ "${E2E_SCHEDULER_RBAC_WORKAROUND:-}" = 1 ]; then
    # Capstan's bootstrap policy predates v1.33's `system:kube-scheduler` rule on
    # storage.k8s.io/volumeattachments; a v1.33 scheduler waits for that informer forever.
    "${SUPER[@]}" apply -f - >&2 <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "e2e-workaround:kube-scheduler-volumeattachments"}
rules:
- {apiGroups: [storage.k8s.io], resources: [volumeattachments], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "e2e-workaround:kube-scheduler-volumeattachments"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "e2e-workaround:kube-scheduler-volumeattachments"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:kube-scheduler"}
EOF
    WORKAROUND="E2E_SCHEDULER_RBAC_WORKAROUND=1: granted system:kube-scheduler get/list/watch on volumeattachments"
    log "$WORKAROUND"
fi
SCHED_PORT="$(free_port)"
start kube-scheduler "$OUT/kube-scheduler.log" "$SCHED" \
    --authentication-kubeconfig="$WORK/scheduler.conf" \
    --authorization-kubeconfig="$WORK/scheduler.conf" \
    --bind-address=127.0.0.1 \
    --kubeconfig="$WORK/scheduler.conf" \
    --leader-elect=true \
    --secure-port="$SCHED_PORT"
SCHED_PID="${PIDS[-1]}"
healthz() { [ "$(curl -sk --max-time 5 "https://127.0.0.1:$1/healthz")" = ok ]; }
wait_for kube-controller-manager "$KCM_PID" 120 healthz "$KCM_PORT" || fail_start "kube-controller-manager not healthy"
wait_for kube-scheduler "$SCHED_PID" 120 healthz "$SCHED_PORT" || fail_start "kube-scheduler not healthy"
# Both hold their leases once leader election succeeded: they are working, not just serving.
has_lease() { "${KC[@]}" -n kube-system get lease "$1" -o jsonpath='{.spec.holderIdentity}' | grep -q .; }
# A component that never takes its lease (e.g. the scheduler waiting for an informer it is not
# allowed to list) is a result, not a harness failure: warn, record it and run the suite anyway.
WARNINGS=()
for c in kube-controller-manager kube-scheduler; do
    pid="$KCM_PID"
    [ "$c" = kube-scheduler ] && pid="$SCHED_PID"
    if ! wait_for "$c" "$pid" 120 has_lease "$c"; then
        kill -0 "$pid" 2>/dev/null || fail_start "$c exited"
        WARNINGS+=("$c did not take its leader lease within 120 s (see $c.log)")
        log "WARNING: ${WARNINGS[-1]}; running the suite anyway"
    fi
done
log "kube-controller-manager and kube-scheduler $K8S_VERSION running"

# --- kwok: fake nodes with its default stages (node heartbeat, pods Running/Succeeded) --------
KWOK_PORT="$(free_port)"
start kwok "$OUT/kwok.log" "$KWOK" \
    --kubeconfig="$ADMIN" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --manage-nodes-with-label-selector= \
    --disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom \
    --disregard-status-with-label-selector= \
    --cidr=10.244.0.0/16 \
    --node-ip=127.0.0.1 \
    --node-lease-duration-seconds=40 \
    --server-address="127.0.0.1:$KWOK_PORT"
KWOK_PID="${PIDS[-1]}"
kwok_up() { curl -fsS --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz"; }
wait_for kwok "$KWOK_PID" 60 kwok_up || fail_start "kwok did not start"
for i in $(seq 0 $((NODES - 1))); do
    cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    beta.kubernetes.io/arch: amd64
    beta.kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 100Gi}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 100Gi}
  nodeInfo:
    architecture: amd64
    kubeProxyVersion: $K8S_VERSION
    kubeletVersion: $K8S_VERSION
    operatingSystem: linux
---
EOF
done >"$WORK/nodes.yaml"
"${KC[@]}" apply -f "$WORK/nodes.yaml" >&2 || fail_start "creating the kwok nodes failed"
nodes_ready() { "${KC[@]}" wait --for=condition=Ready node --all --timeout=5s; }
wait_for "kwok nodes" "$KWOK_PID" 120 nodes_ready || fail_start "kwok nodes did not become Ready"
log "$NODES kwok nodes Ready"

# --- the suite ------------------------------------------------------------------------------
{
    echo "date: $(date -u +%FT%TZ)"
    echo "server: $SERVER_VERSION"
    echo "backend: $BACKEND$([ "$BACKEND" = etcd ] && echo " ($(etcd --version | awk '/etcd Version/ {print $3}'))")"
    echo "control plane: kube-controller-manager, kube-scheduler, e2e.test $K8S_VERSION; $("$KWOK" --version 2>/dev/null | head -1); $NODES nodes"
    [ -n "${WORKAROUND:-}" ] && echo "workaround: $WORKAROUND"
    for w in "${WARNINGS[@]}"; do echo "warning: $w"; done
    echo "invocation: SERVER=$SERVER BACKEND=$BACKEND PARALLEL=$PARALLEL NODES=$NODES scripts/e2e.sh"
    echo "command: ginkgo --nodes=$PARALLEL --focus='$FOCUS' --skip='$SKIP' e2e.test -- --provider=skeleton ${E2E_EXTRA_ARGS:-}"
} >"$OUT/run-info.txt"
log "running e2e.test: focus '$FOCUS' skip '$SKIP', $PARALLEL ginkgo processes; output $OUT/e2e.log"
T0=$(date +%s)
ginkgo_cmd "$PARALLEL" "$FOCUS" "$OUT"
# In the background, so that a signal to this script stops the suite and the cluster at once.
cd "$WORK"
start ginkgo "$OUT/e2e.log" "${GINKGO_CMD[@]}"
GINKGO_PID="${PIDS[-1]}"
cd "$ROOT"
TAIL_PID=""
if [ "${VERBOSE:-}" = 1 ]; then
    tail -n +1 -f "$OUT/e2e.log" &
    TAIL_PID=$!
fi
RC=0
wait "$GINKGO_PID" || RC=$?
if [ -n "$TAIL_PID" ]; then kill "$TAIL_PID" 2>/dev/null || true; wait "$TAIL_PID" 2>/dev/null || true; fi
ELAPSED=$(($(date +%s) - T0))
echo "duration: ${ELAPSED}s (ginkgo exit $RC)" >>"$OUT/run-info.txt"
log "e2e.test finished in ${ELAPSED}s (ginkgo exit $RC)"

# --- results ---------------------------------------------------------------------------------
report
strict_check
