#!/usr/bin/env bash
# Create throughput under admission policies: for N in $COUNTS, a fresh `capstan serve`
# (embedded store) gets N policies + bindings, then `capstan-load --scenario create` creates
# $OBJECTS ConfigMaps. Two series: policies that match the ConfigMap creates, and policies on
# another resource (they never match: the per-write cost must stay flat in N, as the index only
# hands a request the bindings naming its resource).
# KIND=vap: ValidatingAdmissionPolicies, each one CEL validation per write (Deny).
# KIND=map: MutatingAdmissionPolicies (server started with the MutatingAdmissionPolicy gate and
#   admissionregistration.k8s.io/v1alpha1), each one ApplyConfiguration mutation per write that
#   sets its own label (reinvocationPolicy Never).
#
# Usage: scripts/bench_policy.sh            (release binaries from `cargo build --release --bins`)
# Environment:
#   PROFILE=release|debug   which build of capstan and capstan-load (default release)
#   COUNTS="0 10 100"       policy counts
#   OBJECTS=2000            ConfigMaps created per run
#   CONCURRENCY=8           capstan-load workers
#   KIND=vap|map            validating (default) or mutating policies
# The report (Markdown) goes to stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE="${PROFILE:-release}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/$PROFILE/capstan"
LOAD="$TARGET/$PROFILE/capstan-load"
COUNTS="${COUNTS:-0 10 100}"
OBJECTS="${OBJECTS:-2000}"
CONCURRENCY="${CONCURRENCY:-8}"
KIND="${KIND:-vap}"
case "$KIND" in
    vap) SERVE_FLAGS=() ;;
    map) SERVE_FLAGS=(--feature-gates=MutatingAdmissionPolicy=true --runtime-config=admissionregistration.k8s.io/v1alpha1=true) ;;
    *) echo "bench_policy: KIND must be vap or map" >&2; exit 1 ;;
esac
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "bench_policy: missing $BIN or $LOAD" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "bench_policy: kubectl is required" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/capstan-bench-policy.XXXXXX")"
PID=""
stop_server() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

# validating_policies N RESOURCE: N policies whose single validation reads the object, each
# bound with Deny.
validating_policies() {
    local n="$1" res="$2" i
    for i in $(seq 1 "$n"); do
        cat <<EOF
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: p$i}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["$res"]}
  validations:
  - expression: "!has(object.data) || size(object.data) < 100"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: p$i}
spec: {policyName: p$i, validationActions: [Deny]}
EOF
    done
}

# mutating_policies N RESOURCE: N policies whose single ApplyConfiguration sets label p<i>.
mutating_policies() {
    local n="$1" res="$2" i
    for i in $(seq 1 "$n"); do
        cat <<EOF
---
apiVersion: admissionregistration.k8s.io/v1alpha1
kind: MutatingAdmissionPolicy
metadata: {name: p$i}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["$res"]}
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: 'Object{metadata: Object.metadata{labels: {"p$i": "y"}}}'
  reinvocationPolicy: Never
---
apiVersion: admissionregistration.k8s.io/v1alpha1
kind: MutatingAdmissionPolicyBinding
metadata: {name: p$i}
spec: {policyName: p$i}
EOF
    done
}

# in_force DIR N KIND: the last policy applies (server-side dry runs of a probe object).
in_force() {
    local dir="$1" n="$2" kind="$3" k
    { echo "apiVersion: v1"; echo "kind: $kind"; echo "metadata: {name: probe, namespace: default}"
      echo "data:"; for k in $(seq 1 100); do echo "  k$k: dg=="; done; } >"$dir/probe.yaml"
    for _ in $(seq 1 150); do
        if [ "$KIND" = vap ]; then
            # A 100-key object is denied.
            kubectl --kubeconfig "$dir/admin.kubeconfig" create --dry-run=server -f "$dir/probe.yaml" \
                >/dev/null 2>&1 || return 0
        else
            # The last policy's label is set.
            kubectl --kubeconfig "$dir/admin.kubeconfig" create --dry-run=server -f "$dir/probe.yaml" \
                -o "jsonpath={.metadata.labels.p$n}" 2>/dev/null | grep -q y && return 0
        fi
        sleep 0.2
    done
    echo "bench_policy: $n policies not in force after 30 s" >&2
    return 1
}

echo "$PROFILE build, $KIND policies, build of $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown), $OBJECTS ConfigMap creates per run, $CONCURRENCY workers, $(nproc) cores, load average at start: $(cut -d" " -f1-3 /proc/loadavg)."
echo
echo "| Policies | Matching the write | Creates | Errors | Throughput (creates/s) | p50 (ms) | p99 (ms) |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for series in configmaps secrets; do
    for n in $COUNTS; do
        [ "$n" = 0 ] && [ "$series" = secrets ] && continue
        dir="$WORK/$series-$n"
        mkdir -p "$dir"
        port="$(free_port)"
        "$BIN" serve --data-dir "$dir" --secure-port "$port" --bind-address 127.0.0.1 "${SERVE_FLAGS[@]}" \
            >"$dir/server.log" 2>&1 &
        PID=$!
        "$LOAD" --wait-ready --ready-timeout 60 --kubeconfig "$dir/admin.kubeconfig" >/dev/null
        if [ "$n" -gt 0 ]; then
            if [ "$KIND" = vap ]; then
                validating_policies "$n" "$series" >"$dir/policies.yaml"
            else
                mutating_policies "$n" "$series" >"$dir/policies.yaml"
            fi
            kubectl --kubeconfig "$dir/admin.kubeconfig" apply -f "$dir/policies.yaml" >/dev/null
            kind=ConfigMap; [ "$series" = secrets ] && kind=Secret
            in_force "$dir" "$n" "$kind"
        fi
        out="$("$LOAD" --kubeconfig "$dir/admin.kubeconfig" --scenario create --objects "$OBJECTS" \
            --concurrency "$CONCURRENCY" --namespace "bench-$n")"
        row="$(echo "$out" | grep '^| create configmap' | head -1)"
        # | Scenario | Requests | Errors | Concurrency | Throughput | p50 | p90 | p99 | max | Notes |
        IFS='|' read -r _ _ reqs errs _ tput p50 _ p99 _ <<<"$row"
        match=no
        [ "$series" = configmaps ] && [ "$n" -gt 0 ] && match=yes
        [ "$n" = 0 ] && match="-"
        echo "| $n | $match | ${reqs// /} | ${errs// /} | ${tput// /} | ${p50// /} | ${p99// /} |"
        stop_server
    done
done
