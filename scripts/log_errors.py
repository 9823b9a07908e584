#!/usr/bin/env python3
"""Error lines of kube-controller-manager / kube-scheduler logs, normalised and diffed.

Usage: scripts/log_errors.py CAPSTAN_LOG UPSTREAM_LOG [UPSTREAM_LOG ...]

Each klog error line (`E1207 01:11:18.004357 32371 file.go:276] ...`) is reduced to its source
location and message, with what differs from run to run (namespaces and names with random
suffixes, numbers, UIDs, quoted names) replaced by placeholders. Which spec's namespace a race
lands in differs from run to run too, so the namespace of "in namespace X" and "namespace: X" is
a placeholder. Several upstream logs (several runs) together are the reference: a kind counts
as upstream's when any of them has it. Prints the count of each kind per log and exits 1 when a
kind appears only in the first log: the e2e yardstick (issue 18) asks that the control plane
logs no error against Capstan that it does not log against upstream.
"""
import collections
import re
import sys

KLOG = re.compile(r"^E\d{4} [\d:.]+\s+\d+ ([\w./-]+):\d+\] (.*)$")
MESSAGE = re.compile(r'^"((?:[^"\\]|\\.)*)"')
PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
# What differs from run to run inside a message: UIDs, quoted names (e2e-rq-status-5bjhv,
# pv-5608/pvc-ctvlj), generated names, numbers.
VARYING = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uid>"),
    (re.compile(r'\\"[^"\\]*\\"'), '"<name>"'),
    # A Go struct dump (&Node{ObjectMeta:...}) is the object, not the error.
    (re.compile(r"&[A-Z]\w*\{.*"), "&{...}"),
    # The object a storage error names: "Key: /registry/replicasets/ns/test-rs,".
    (re.compile(r"Key: [^ ,]+"), "Key: <key>"),
    # The spec whose namespace a race hits: "in namespace replicaset-8411", "namespace: pods-12".
    (re.compile(r"\b(in namespace|for namespace|namespace:) [a-z0-9-]+"), r"\1 <ns>"),
    (re.compile(r"\b[a-z0-9]+(?:-[a-z0-9]+)*-[a-z0-9]{5}\b"), "<name>"),
    (re.compile(r"\d+"), "<n>"),
]


def normalise(text):
    for pat, rep in VARYING:
        text = pat.sub(rep, text)
    return text


def kinds(path):
    """Counter of `file.go: message [err=...] [logger=...]`, varying parts replaced."""
    out = collections.Counter()
    with open(path, errors="replace") as f:
        for line in f:
            m = KLOG.match(line.rstrip("\n"))
            if not m:
                continue
            where, rest = m.groups()
            msg = MESSAGE.match(rest)
            parts = [msg.group(1) if msg else normalise(rest)[:200]]
            for key, value in PAIR.findall(rest[msg.end():] if msg else ""):
                if key in ("err", "logger"):
                    parts.append(f"{key}={normalise(value)[:200]}")
            out[f"{where}: {' '.join(parts)}"] += 1
    return out


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ours = kinds(sys.argv[1])
    runs = [kinds(path) for path in sys.argv[2:]]
    theirs = collections.Counter()
    for run in runs:
        theirs.update(run)
    only = sorted(k for k in ours if k not in theirs)
    print(
        f"error kinds: {len(ours)} in {sys.argv[1]}, {len(theirs)} in {', '.join(sys.argv[2:])};"
        f" {len(only)} only in the first"
    )
    for k in sorted(set(ours) | set(theirs), key=lambda k: (-ours[k], k)):
        mark = "ONLY HERE " if k in only else ""
        counts = " ".join(f"{run[k]:5d}" for run in runs)
        print(f"{ours[k]:5d} {counts}  {mark}{k}")
    return 1 if only else 0


if __name__ == "__main__":
    sys.exit(main())
