#!/usr/bin/env bash
# Start Capstan on a temp data dir and free port, run capstan-conformance against it with every
# kubectl version found, stop the server, and exit with the suite's status.
# BACKEND=embedded (default) or BACKEND=etcd (a throwaway etcd on free loopback ports).
# SERVER=upstream runs the same cases against upstream kube-apiserver (the binary cached by
# scripts/upstream.sh, on a throwaway etcd, PKI from `capstan certs`): the suite must encode
# upstream's behaviour, not Capstan's.
# Extra arguments are passed to capstan-conformance (e.g. --focus Watchers).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
CARGO="${CARGO:-cargo}"
OUT="${CONFORMANCE_OUTPUT_DIR:-$CARGO_TARGET_DIR/conformance}"

(cd "$ROOT" && $CARGO build --bins -p capstan -p capstan-conformance)

DATA="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PORT="$(free_port)"
LOG="$DATA/capstan.log"
EXTRA=()
ETCD_PID=""
if [ "${SERVER:-capstan}" = upstream ]; then BACKEND=etcd; fi
if [ "${BACKEND:-embedded}" = "etcd" ]; then
  CP="$(free_port)"; PP="$(free_port)"
  etcd --name conf --data-dir "$DATA/etcd" --listen-client-urls "http://127.0.0.1:$CP" \
    --advertise-client-urls "http://127.0.0.1:$CP" --listen-peer-urls "http://127.0.0.1:$PP" \
    --initial-advertise-peer-urls "http://127.0.0.1:$PP" --initial-cluster "conf=http://127.0.0.1:$PP" \
    >"$DATA/etcd.log" 2>&1 &
  ETCD_PID=$!
  EXTRA=(--etcd-servers "http://127.0.0.1:$CP")
fi
cleanup() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
PID=""
trap cleanup EXIT
if [ -n "$ETCD_PID" ]; then
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$CP/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
KUBECONFIG_FILE="$DATA/admin.kubeconfig"
if [ "${SERVER:-capstan}" = upstream ]; then
  KAS="$(bash "$ROOT/scripts/upstream.sh" path kube-apiserver)"
  CAPSTAN="$CARGO_TARGET_DIR/debug/capstan"
  "$CAPSTAN" certs init --dir "$DATA/pki" --kubeconfig-dir "$DATA" --node-name conformance \
    --advertise-address 127.0.0.1 >/dev/null
  "$CAPSTAN" kubeconfig --dir "$DATA/pki" --kubeconfig-dir "$DATA" --node-name conformance \
    --advertise-address 127.0.0.1 --secure-port "$PORT" >/dev/null
  KUBECONFIG_FILE="$DATA/admin.conf"
  "$KAS" --advertise-address=192.0.2.10 --authorization-mode=Node,RBAC --bind-address=127.0.0.1 \
    --client-ca-file="$DATA/pki/ca.crt" --secure-port="$PORT" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$DATA/pki/sa.pub" --service-account-signing-key-file="$DATA/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/12 --tls-cert-file="$DATA/pki/apiserver.crt" \
    --tls-private-key-file="$DATA/pki/apiserver.key" "${EXTRA[@]}" >"$LOG" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    kubectl --kubeconfig "$DATA/super-admin.conf" get --raw /readyz >/dev/null 2>&1 && break
    if ! kill -0 "$PID" 2>/dev/null; then echo "kube-apiserver exited:"; tail -n 30 "$LOG"; exit 1; fi
    sleep 0.1
  done
  # kubeadm's binding for admin.conf's group (kubeadm creates it the same way).
  kubectl --kubeconfig "$DATA/super-admin.conf" create clusterrolebinding kubeadm:cluster-admins \
    --clusterrole=cluster-admin --group=kubeadm:cluster-admins >/dev/null
else
  "$CARGO_TARGET_DIR/debug/capstan" serve --data-dir "$DATA" --secure-port "$PORT" --bind-address 127.0.0.1 \
    --allow-privileged=true --authorization-mode=Node,RBAC \
    "${EXTRA[@]}" >"$LOG" 2>&1 &
  PID=$!

  for _ in $(seq 1 300); do
    if grep -q "capstan: serving on" "$LOG" 2>/dev/null && [ -f "$DATA/admin.kubeconfig" ]; then break; fi
    if ! kill -0 "$PID" 2>/dev/null; then echo "capstan exited:"; cat "$LOG"; exit 1; fi
    sleep 0.1
  done
  grep "capstan: serving on" "$LOG" || { echo "capstan did not become ready:"; cat "$LOG"; exit 1; }
fi

mkdir -p "$OUT"
set +e
"$CARGO_TARGET_DIR/debug/capstan-conformance" --kubeconfig "$KUBECONFIG_FILE" --output-dir "$OUT" \
  --parallel "${CONFORMANCE_PARALLEL:-4}" "$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "--- ${SERVER:-capstan} log (tail) ---"; tail -n 50 "$LOG"; fi
exit $rc
