#!/usr/bin/env python3
"""Helpers of scripts/density.sh (standard library only).

  density.py watch KUBECONFIG NAMESPACE EXPECT OUT_JSON READY_FILE TIMEOUT_S
      Lists, then watches the pods of NAMESPACE (JSON, bookmarks, resumes from the last
      resourceVersion, relists on 410) and records per pod the creationTimestamp, the moment
      this watcher first saw it and the moment it first saw it with status.phase=Running.
      Touches READY_FILE once the watch is open; exits when EXPECT pods were seen Running
      (or after TIMEOUT_S) and writes the per-pod times and their percentiles to OUT_JSON.
  density.py metrics KUBECONFIG URL OUT_FILE
      GET URL (/metrics) with the kubeconfig's client certificate into OUT_FILE.
  density.py report DIR SERVER...
      Reads DIR/<server>/{pods.json,metrics-before.txt,metrics-after.txt,run.json} and prints
      the Markdown table side by side (API call latency from the servers'
      apiserver_request_duration_seconds, the difference of two scrapes).
"""

import base64
import http.client
import json
import math
import os
import re
import ssl
import sys
import tempfile
import time
from datetime import datetime, timezone

MUTATING = {"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"}
READ_ONLY = {"GET", "LIST"}


def kubeconfig(path):
    """(host, port, ssl context) from a kubeconfig with embedded certificates (kubeadm's)."""
    text = open(path).read()

    def field(name):
        m = re.search(r"^\s*" + re.escape(name) + r":\s*(\S+)\s*$", text, re.M)
        if not m:
            raise SystemExit(f"density: {name} not in {path}")
        return m.group(1)

    server = field("server")
    m = re.match(r"https://([^:/]+):(\d+)", server)
    if not m:
        raise SystemExit(f"density: unsupported server {server}")
    ctx = ssl.create_default_context(cadata=base64.b64decode(field("certificate-authority-data")).decode())
    ctx.check_hostname = False
    with tempfile.TemporaryDirectory() as d:
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        with open(cert, "wb") as f:
            f.write(base64.b64decode(field("client-certificate-data")))
        with open(key, "wb") as f:
            f.write(base64.b64decode(field("client-key-data")))
        ctx.load_cert_chain(cert, key)
    return m.group(1), int(m.group(2)), ctx


def get(conn_args, path, timeout=60):
    host, port, ctx = conn_args
    c = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
    c.request("GET", path, headers={"Accept": "application/json"})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def parse_ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def quantiles(values):
    v = sorted(values)
    if not v:
        return {}

    def q(p):  # nearest rank
        return v[max(0, min(len(v) - 1, math.ceil(p * len(v)) - 1))]

    return {"n": len(v), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": v[-1]}


def watch(kc, ns, expect, out, ready_file, timeout):
    conn = kubeconfig(kc)
    deadline = time.time() + timeout
    pods = {}  # uid -> [name, creation ts, first seen, running seen]

    def see(obj, now):
        md = obj.get("metadata", {})
        uid = md.get("uid")
        if not uid:
            return
        p = pods.get(uid)
        if p is None:
            p = pods[uid] = [md.get("name"), parse_ts(md["creationTimestamp"]), now, None]
        if p[3] is None and obj.get("status", {}).get("phase") == "Running":
            p[3] = now

    def running():
        return sum(1 for p in pods.values() if p[3] is not None)

    def relist():
        status, body = get(conn, f"/api/v1/namespaces/{ns}/pods")
        if status != 200:
            raise SystemExit(f"density: list pods: HTTP {status}: {body[:300]!r}")
        lst = json.loads(body)
        now = time.time()
        for item in lst.get("items", []):
            see(item, now)
        return lst["metadata"]["resourceVersion"]

    rv = relist()
    opened = False
    while running() < expect and time.time() < deadline:
        host, port, ctx = conn
        c = http.client.HTTPSConnection(host, port, context=ctx, timeout=max(5, deadline - time.time()))
        left = int(max(1, min(3600, deadline - time.time())))
        c.request("GET", f"/api/v1/namespaces/{ns}/pods?watch=1&allowWatchBookmarks=true"
                  f"&resourceVersion={rv}&timeoutSeconds={left}", headers={"Accept": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            body = r.read()
            c.close()
            if r.status == 410:
                rv = relist()
                continue
            raise SystemExit(f"density: watch pods: HTTP {r.status}: {body[:300]!r}")
        if not opened:
            open(ready_file, "w").close()
            opened = True
        try:
            while running() < expect:
                line = r.readline()
                if not line:
                    break
                now = time.time()
                ev = json.loads(line)
                obj = ev.get("object", {})
                if ev.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        rv = relist()
                    break
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if ev.get("type") in ("ADDED", "MODIFIED"):
                    see(obj, now)
        except (OSError, http.client.HTTPException, ValueError) as e:
            print(f"density: watch interrupted ({e}); resuming from {rv}", file=sys.stderr)
        c.close()
    startup = [p[3] - p[1] for p in pods.values() if p[3] is not None]
    seen_to_running = [p[3] - p[2] for p in pods.values() if p[3] is not None]
    created = [p[1] for p in pods.values()]
    runs = [p[3] for p in pods.values() if p[3] is not None]
    result = {
        "expected": expect,
        "seen": len(pods),
        "running": len(runs),
        "first_created": min(created) if created else None,
        "last_running": max(runs) if runs else None,
        "startup_s": quantiles(startup),
        "seen_to_running_s": quantiles(seen_to_running),
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    if len(runs) < expect:
        print(f"density: only {len(runs)} of {expect} pods seen Running before the timeout", file=sys.stderr)
        sys.exit(1)


def metrics(kc, url, out):
    """GET url's /metrics with kc's client certificate: the API server's (checked against kc's
    CA) or a component's on another port (its serving certificate is self-signed)."""
    host, port, ctx = kubeconfig(kc)
    m = re.match(r"https://([^:/]+):(\d+)(/.*)$", url)
    if not m:
        raise SystemExit(f"density: unsupported URL {url}")
    if int(m.group(2)) != port:
        host, port = m.group(1), int(m.group(2))
        ctx.verify_mode = ssl.CERT_NONE
    status, body = get((host, port, ctx), m.group(3), timeout=120)
    if status != 200:
        raise SystemExit(f"density: GET {url}: HTTP {status}: {body[:300]!r}")
    with open(out, "wb") as f:
        f.write(body)


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def buckets(path):
    """{(verb, resource, subresource, scope): {le: cumulative count}} of the request latency."""
    out = {}
    keys = ("verb", "resource", "subresource", "scope", "le")
    for (*key, le), n in counter(path, "apiserver_request_duration_seconds_bucket", keys).items():
        out.setdefault(tuple(key), {})[float("inf") if le == "+Inf" else float(le)] = n
    return out


def counter(path, name, keys):
    """{tuple of the `keys` labels: summed value} of counter (or histogram series) `name`."""
    out = {}
    prefix = name + "{"
    for line in open(path):
        if not line.startswith(prefix):
            continue
        body, _, value = line.rpartition("} ")
        labels = dict(LABEL.findall(body[len(prefix):]))
        key = tuple(labels.get(k, "") for k in keys)
        out[key] = out.get(key, 0) + float(value)
    return out


def pod_phase(d, name, keys):
    """What counter `name` gained during the pod phase, by `keys`, largest first."""
    before = counter(os.path.join(d, "metrics-before.txt"), name, keys)
    after = counter(os.path.join(d, "metrics-after.txt"), name, keys)
    gained = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    return sorted(gained.items(), key=lambda kv: -kv[1])


def traffic(d):
    """Watch events sent per kind (count, MB) and the requests that show informers lagging or
    re-listing: LISTs and 409 Conflicts per resource, over the pod phase."""
    sizes = dict(pod_phase(d, "apiserver_watch_events_sizes_sum", ("kind",)))
    events = [(k[0], n, sizes.get(k, 0) / 1e6) for k, n in pod_phase(d, "apiserver_watch_events_total", ("kind",))]
    requests = pod_phase(d, "apiserver_request_total", ("verb", "resource", "subresource", "code"))
    lists = [("/".join(x for x in k[1:3] if x), n) for k, n in requests if k[0] == "LIST"]
    conflicts = [(f"{k[0]} " + "/".join(x for x in k[1:3] if x), n) for k, n in requests if k[3] == "409"]
    return {"events": events, "lists": lists, "conflicts": conflicts}


def hist_quantile(q, b):
    """Prometheus histogram_quantile over {le: cumulative count}."""
    les = sorted(b)
    total = b[les[-1]] if les else 0
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = b[le]
        if c >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-12)
        prev_le, prev_c = le, c
    return les[-1]


def api_latency(d):
    before, after = buckets(os.path.join(d, "metrics-before.txt")), buckets(os.path.join(d, "metrics-after.txt"))
    groups = {"mutating": {}, "read-only": {}}
    per_key = {}
    for key, b in after.items():
        b0 = before.get(key, {})
        diff = {le: c - b0.get(le, 0) for le, c in b.items()}
        if not diff or diff[max(diff)] <= 0:
            continue
        per_key[key] = diff
        g = "mutating" if key[0] in MUTATING else "read-only" if key[0] in READ_ONLY else None
        if g:
            for le, c in diff.items():
                groups[g][le] = groups[g].get(le, 0) + c
    res = {}
    for g, b in groups.items():
        res[g] = {"count": int(b[max(b)]) if b else 0,
                  "p50": hist_quantile(0.5, b) if b else None,
                  "p99": hist_quantile(0.99, b) if b else None}
    worst = []
    for key, b in per_key.items():
        if key[0] in MUTATING or key[0] in READ_ONLY:
            worst.append((hist_quantile(0.99, b), int(b[max(b)]), key))
    worst.sort(reverse=True)
    res["worst"] = [{"p99": w[0], "count": w[1], "key": "/".join(x for x in w[2] if x)} for w in worst[:5]]
    return res


def report(d, servers):
    cols = {}
    for s in servers:
        sd = os.path.join(d, s)
        col = {"run": {}, "pods": {}, "api": {}}
        for name, key in (("run.json", "run"), ("pods.json", "pods")):
            p = os.path.join(sd, name)
            if os.path.exists(p):
                col[key] = json.load(open(p))
        if os.path.exists(os.path.join(sd, "metrics-after.txt")) and os.path.exists(os.path.join(sd, "metrics-before.txt")):
            col["api"] = api_latency(sd)
            col["traffic"] = traffic(sd)
        cols[s] = col

    def ms(v):
        return "–" if v is None else f"{v * 1000:,.0f}" if v >= 0.1 else f"{v * 1000:,.1f}"

    def sec(v):
        return "–" if v is None else f"{v:,.1f}"

    rows = []
    rows.append(("pods Running / expected", lambda c: f"{c['pods'].get('running', 0):,} / {c['pods'].get('expected', 0):,}"))
    rows.append(("time from first Deployment create to all pods Running (s)",
                 lambda c: sec(c["run"].get("all_running_s"))))
    for q in ("p50", "p90", "p99", "max"):
        rows.append((f"pod startup latency {q} (creationTimestamp → watched Running, ms)",
                     lambda c, q=q: ms(c["pods"].get("startup_s", {}).get(q))))
    rows.append(("pod startup p99, first watched → Running (ms; creationTimestamp has 1 s resolution)",
                 lambda c: ms(c["pods"].get("seen_to_running_s", {}).get("p99"))))
    for g in ("mutating", "read-only"):
        for q in ("p50", "p99"):
            rows.append((f"API call latency, {g} {q} (ms, apiserver_request_duration_seconds)",
                         lambda c, g=g, q=q: ms(c["api"].get(g, {}).get(q))))
        rows.append((f"API calls, {g} (count during the pod phase)",
                     lambda c, g=g: f"{c['api'].get(g, {}).get('count', 0):,}"))
    rows.append(("API server peak RSS (MiB, VmHWM)", lambda c: c["run"].get("server_hwm_mib", "–")))
    rows.append(("API server RSS at the end (MiB)", lambda c: c["run"].get("server_rss_mib", "–")))
    rows.append(("API server CPU during the pod phase (s)", lambda c: sec(c["run"].get("server_cpu_pods_s"))))
    rows.append(("API server CPU, whole run (s)", lambda c: sec(c["run"].get("server_cpu_s"))))
    rows.append(("etcd peak RSS (MiB, VmHWM)", lambda c: c["run"].get("etcd_hwm_mib", "–")))
    rows.append(("etcd CPU during the pod phase (s)", lambda c: sec(c["run"].get("etcd_cpu_pods_s"))))
    rows.append(("kube-controller-manager + kube-scheduler + kwok CPU, pod phase (s)",
                 lambda c: sec(c["run"].get("components_cpu_pods_s"))))
    for name, key in (("kube-controller-manager", "kcm"), ("kube-scheduler", "scheduler"), ("kwok", "kwok")):
        rows.append((f"{name} CPU, pod phase (s)", lambda c, key=key: sec(c["run"].get(f"{key}_cpu_pods_s"))))
    rows.append(("components that exited during the pod phase (lost their leader lease)",
                 lambda c: c["run"].get("components_exited", "–")))
    rows.append(("load average at the start of the pod phase", lambda c: c["run"].get("loadavg", "–")))
    print("| measurement | " + " | ".join(servers) + " |")
    print("|---|" + "---:|" * len(servers))
    for label, f in rows:
        print(f"| {label} | " + " | ".join(str(f(cols[s])) for s in servers) + " |")
    print()
    for s in servers:
        worst = cols[s]["api"].get("worst", [])
        if worst:
            print(f"- {s}: highest p99 per verb/resource: " + ", ".join(
                f"{w['key']} {ms(w['p99'])} ms (n={w['count']:,})" for w in worst))
    for s in servers:
        sched = os.path.join(d, s, "scheduler-metrics-after.txt")
        if os.path.exists(sched):
            attempts = counter(sched, "scheduler_schedule_attempts_total", ("result",))
            took = counter(sched, "scheduler_scheduling_attempt_duration_seconds_sum", ())
            n = sum(attempts.values())
            print(f"- {s}: kube-scheduler attempts: " + ", ".join(f"{k[0]} {v:,.0f}" for k, v in sorted(attempts.items()))
                  + (f"; mean attempt {sum(took.values()) / n * 1000:,.0f} ms" if n else ""))
        kcm = os.path.join(d, s, "kcm-metrics-after.txt")
        if os.path.exists(kcm):
            for what in ("adds", "retries"):
                q = sorted(counter(kcm, f"workqueue_{what}_total", ("name",)).items(), key=lambda kv: -kv[1])
                print(f"- {s}: kube-controller-manager work queue {what}: " + (", ".join(
                    f"{k[0]} {v:,.0f}" for k, v in q[:6] if v) or "none"))
    for s in servers:
        lag = os.path.join(d, s, "watchlag.txt")
        if os.path.exists(lag):
            line = next((l.strip() for l in open(lag) if l.startswith("updates ")), "no result (cut off)")
            print(f"- {s}: a client-go informer seeing its own status write during the pod phase (watchlag): {line}")
    for s in servers:
        t = cols[s].get("traffic")
        if not t:
            continue
        print(f"- {s}: watch events sent in the pod phase: " + (", ".join(
            f"{k} {n:,.0f} ({mb:,.1f} MB)" for k, n, mb in t["events"][:8]) or "none recorded"))
        print(f"- {s}: LISTs in the pod phase: " + (", ".join(f"{k} {n:,.0f}" for k, n in t["lists"][:8]) or "none"))
        print(f"- {s}: 409 Conflicts in the pod phase: " + (", ".join(f"{k} {n:,.0f}" for k, n in t["conflicts"][:8]) or "none"))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "watch" and len(sys.argv) == 8:
        watch(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], float(sys.argv[7]))
    elif cmd == "metrics" and len(sys.argv) == 5:
        metrics(*sys.argv[2:5])
    elif cmd == "report" and len(sys.argv) >= 4:
        report(sys.argv[2], sys.argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
