# Shared pieces for scripts that run upstream kube-apiserver and/or Capstan on one etcd:
# sourced by scripts/interop.sh and scripts/density.sh (and usable by hand: `source scripts/lib/cluster.sh`).
# Needs: WORK (a scratch dir), CAPSTAN (the capstan binary). Every process started with
# `cl_start` is remembered in CL_PIDS and stopped by `cl_stop_all`.

CL_PIDS=()
CL_NAMES=()

# cl_build_dirs: PROFILE (default release), TARGET (its cargo target dir: $CARGO_TARGET_DIR, else
# the shared release or debug cache) and CAPSTAN (the binary; CAPSTAN_BIN overrides).
cl_build_dirs() {
    PROFILE="${PROFILE:-release}"
    if [ "$PROFILE" = release ]; then
        TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target-release}"
    else
        TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}"
    fi
    CAPSTAN="${CAPSTAN_BIN:-$TARGET/$PROFILE/capstan}"
}

cl_log() { echo "${CL_TAG:-cluster}: $*" >&2; }

cl_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# cl_start NAME LOGFILE CMD...: a background process group, remembered for cl_stop_all.
cl_start() {
    local name="$1" logf="$2"
    shift 2
    setsid "$@" >>"$logf" 2>&1 </dev/null &
    CL_PIDS+=($!)
    CL_NAMES+=("$name")
    cl_log "started $name (pid $!), log $logf"
}

# cl_stop PID: TERM the process group, then KILL after 20 s.
cl_stop() {
    local pid="$1" i
    kill -TERM -- "-$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
}

cl_stop_all() {
    local i
    for ((i = ${#CL_PIDS[@]} - 1; i >= 0; i--)); do cl_stop "${CL_PIDS[$i]}"; done
    CL_PIDS=()
    CL_NAMES=()
}

# cl_wait NAME PID TIMEOUT_S CMD...: poll CMD until it succeeds; fail if PID exits or on timeout.
cl_wait() {
    local name="$1" pid="$2" timeout="$3"
    shift 3
    local deadline=$(($(date +%s) + timeout))
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then cl_log "$name exited before it was ready"; return 1; fi
        if [ "$(date +%s)" -ge "$deadline" ]; then cl_log "$name not ready within $timeout s"; return 1; fi
        sleep 0.2
    done
}

# cl_pki PORT: kubeadm-style PKI and kubeconfigs in $WORK (admin.conf, super-admin.conf, ...).
cl_pki() {
    "$CAPSTAN" certs init --dir "$WORK/pki" --kubeconfig-dir "$WORK" --node-name cp \
        --advertise-address 127.0.0.1 >"$WORK/certs.log" 2>&1 || return 1
    "$CAPSTAN" kubeconfig --dir "$WORK/pki" --kubeconfig-dir "$WORK" --node-name cp \
        --advertise-address 127.0.0.1 --secure-port "$1" >>"$WORK/certs.log" 2>&1
}

# cl_etcd: a throwaway etcd in $WORK/etcd; sets ETCD_URL and ETCD_PID.
cl_etcd() {
    local cp pp
    cp="$(cl_free_port)"; pp="$(cl_free_port)"
    cl_start etcd "$WORK/etcd.log" env ETCD_UNSUPPORTED_ARCH="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" \
        etcd --name cl --data-dir "$WORK/etcd" \
        --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "cl=http://127.0.0.1:$pp" --initial-cluster-state new
    ETCD_PID="${CL_PIDS[-1]}"
    ETCD_URL="http://127.0.0.1:$cp"
    cl_wait etcd "$ETCD_PID" 60 sh -c "curl -fsS --max-time 2 $ETCD_URL/health | grep -q '\"health\":\"true\"'"
}

# cl_apiserver_args PORT ADVERTISE: kubeadm's kube-apiserver flags on $ETCD_URL (if set).
cl_apiserver_args() {
    local p="$WORK/pki"
    CL_ARGS=(
        --advertise-address="$2" --allow-privileged=true --authorization-mode=Node,RBAC
        --bind-address=127.0.0.1 --client-ca-file="$p/ca.crt" --enable-admission-plugins=NodeRestriction
        --enable-bootstrap-token-auth=true
        --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" --kubelet-client-key="$p/apiserver-kubelet-client.key"
        --proxy-client-cert-file="$p/front-proxy-client.crt" --proxy-client-key-file="$p/front-proxy-client.key"
        --requestheader-allowed-names=front-proxy-client --requestheader-client-ca-file="$p/front-proxy-ca.crt"
        --requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group
        --requestheader-username-headers=X-Remote-User --secure-port="$1"
        --service-account-issuer=https://kubernetes.default.svc.cluster.local
        --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key"
        --service-cluster-ip-range=10.96.0.0/12
        --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key"
    )
    # Without ETCD_URL Capstan runs on its embedded store (the caller passes --data-dir).
    [ -z "${ETCD_URL:-}" ] || CL_ARGS+=(--etcd-servers="$ETCD_URL")
}

# cl_upstream NAME PORT ADVERTISE: upstream kube-apiserver; sets LAST_PID. Waits for /readyz.
cl_upstream() {
    cl_apiserver_args "$2" "$3"
    cl_start "$1" "$WORK/$1.log" "$KAS" "${CL_ARGS[@]}"
    LAST_PID="${CL_PIDS[-1]}"
    cl_wait "$1" "$LAST_PID" 180 sh -c "[ \"\$(curl -sk --max-time 5 https://127.0.0.1:$2/readyz)\" = ok ]"
}

# cl_capstan NAME PORT ADVERTISE [extra flags]: Capstan with the same flags; sets LAST_PID.
cl_capstan() {
    local name="$1" port="$2" adv="$3"
    shift 3
    cl_apiserver_args "$port" "$adv"
    local unset=() v
    for v in $(compgen -e | grep '^CAPSTAN_' || true); do unset+=(-u "$v"); done
    cl_start "$name" "$WORK/$name.log" env "${unset[@]}" "$CAPSTAN" serve "${CL_ARGS[@]}" "$@"
    LAST_PID="${CL_PIDS[-1]}"
    cl_wait "$name" "$LAST_PID" 180 sh -c "[ \"\$(curl -sk --max-time 5 https://127.0.0.1:$port/readyz)\" = ok ]"
}

# cl_kwok_nodes COUNT: YAML of COUNT Nodes kwok-node-0.. that kwok (started with
# --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake) manages, labelled type=kwok.
cl_kwok_nodes() {
    local i
    for ((i = 0; i < $1; i++)); do
        cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 100Gi}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 100Gi}
---
EOF
    done
}
