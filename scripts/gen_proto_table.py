#!/usr/bin/env python3
"""Generate src/protobuf/fields.txt: the protobuf field table of every built-in kind.

Source: the Go API modules at the release we match (k8s.io/api, k8s.io/apimachinery,
k8s.io/apiextensions-apiserver, k8s.io/kube-aggregator, all v0.33.13), read from the Go module
cache that `scripts/upstream.sh build` fills. Each package's `generated.proto` gives messages,
field numbers, types and labels; the Go struct tags in the package's `*.go` give, matched by
protobuf field number, what the .proto does not carry:
  json name  the field's JSON property (`-` for an embedded field without one)
  ptr        the Go field is a pointer (or []byte): gogo's marshaller writes it only when set;
             every other singular field is always written (zero values and empty messages too)
  omitempty  a value (non-pointer) scalar with `json:",omitempty"`: zero on the wire means unset
  inline     an embedded field without a JSON name (Volume.volumeSource): its fields belong to
             the parent JSON object
  jsonnull   a slice, map or pointer without omitempty: Go marshals it unset as JSON null
Kinds are the structs embedding `metav1.TypeMeta`; their group is the package's `GroupName`.

Output, one line per field (ascending field number within a message):
  <Message> <number> <type> <label> <json> [<Message>|map:string,<value type or Message>] [flags]
type: string bytes int32 int64 bool double message map; label: optional repeated map.
A message without fields is one line `<Message> - empty`. One line per kind:
  kind <group|-> <version> <Kind> <Message>

Usage: scripts/gen_proto_table.py [--modcache DIR] [--version v0.33.13] > src/protobuf/fields.txt
"""

import argparse
import os
import re
import subprocess
import sys

MODULES = ["api", "apimachinery", "apiextensions-apiserver", "kube-aggregator"]
# apimachinery packages that hold messages the API kinds use.
APIMACHINERY = ["pkg/apis/meta/v1", "pkg/apis/meta/v1beta1", "pkg/runtime", "pkg/util/intstr", "pkg/api/resource"]

MESSAGE = re.compile(r'^message (\w+) \{')
PFIELD = re.compile(r'^\s*(optional|repeated)?\s*(map<\s*string\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)')
PACKAGE = re.compile(r'^package ([\w.]+);')
GO_STRUCT = re.compile(r'^type (\w+) struct \{')
GO_FIELD = re.compile(r'^\s*(?:(\w+)\s+)?([\*\[\]\w\.]+(?:\[[\w\.]+\][\*\w\.]+)?)\s+`(.*)`')
GROUP = re.compile(r'^const GroupName = "([^"]*)"', re.M)
SCALARS = {"string", "bytes", "int32", "int64", "bool", "double"}


def our_name(proto_full):
    """`k8s.io.api.core.v1.Pod` → `io.k8s.api.core.v1.Pod` (the OpenAPI definition name)."""
    parts = proto_full.lstrip(".").split(".")
    assert parts[0] == "k8s" and parts[1] == "io", proto_full
    return ".".join(["io", "k8s", parts[2].replace("_", "-")] + parts[3:])


def parse_proto(path):
    pkg = None
    msgs = {}
    cur = None
    depth = 0
    with open(path) as f:
        for line in f:
            s = line.split("//", 1)[0]
            m = PACKAGE.match(s)
            if m:
                pkg = m.group(1)
                continue
            if cur is None:
                m = MESSAGE.match(s)
                if m:
                    cur = m.group(1)
                    msgs[cur] = []
                    depth = 1
                continue
            depth += s.count("{") - s.count("}")
            if depth <= 0:
                cur = None
                continue
            m = PFIELD.match(s)
            if m:
                label, ty, mapval, name, num = m.groups()
                msgs[cur].append({"label": label or "optional", "type": ty, "map": mapval, "name": name, "num": int(num)})
    return pkg, msgs


def parse_go(dirpath):
    """struct → {number → (json name, flags)}; the set of kinds (structs embedding TypeMeta)."""
    fields, kinds = {}, set()
    for fn in sorted(os.listdir(dirpath)):
        if not fn.endswith(".go") or fn.endswith("_test.go") or fn.startswith(("zz_", "generated")):
            continue
        cur = None
        with open(os.path.join(dirpath, fn)) as f:
            for line in f:
                m = GO_STRUCT.match(line)
                if m:
                    cur = m.group(1)
                    fields.setdefault(cur, {})
                    continue
                if line.startswith("}"):
                    cur = None
                    continue
                if cur is None:
                    continue
                m = GO_FIELD.match(line)
                if not m:
                    continue
                name, ty, tags = m.groups()
                jm = re.search(r'json:"([^"]*)"', tags)
                if name is None and ty.endswith("TypeMeta") and jm and ",inline" in jm.group(1):
                    kinds.add(cur)
                pm = re.search(r'protobuf:"(\w+),(\d+),', tags)
                if not pm:
                    continue
                jparts = (jm.group(1) if jm else "").split(",")
                jname = jparts[0]
                fl = set()
                if ty.startswith("*") or ty == "[]byte":
                    fl.add("ptr")
                if jname == "" and ("inline" in jparts[1:] or name is None):
                    fl.add("inline")
                if "omitempty" in jparts[1:] and not ty.startswith(("*", "[]", "map[")):
                    fl.add("omitempty")
                if "omitempty" not in jparts[1:] and jname != "":
                    fl.add("jsonnull")
                fields[cur][int(pm.group(2))] = (jname or "-", fl)
    return fields, kinds


def packages(modcache, version):
    """(module dir, package dir relative to it) of every package with a generated.proto."""
    out = []
    for mod in MODULES:
        root = os.path.join(modcache, "k8s.io", "%s@%s" % (mod, version))
        if not os.path.isdir(root):
            sys.exit("gen_proto_table: %s is missing; run scripts/upstream.sh build (fills the Go module cache)" % root)
        if mod == "apimachinery":
            rels = APIMACHINERY
        else:
            rels = []
            for d, _, files in os.walk(root):
                if "generated.proto" in files and "/testdata" not in d and "/internal" not in d:
                    rels.append(os.path.relpath(d, root))
        out += [(root, r) for r in sorted(rels)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modcache", default=None)
    ap.add_argument("--version", default="v0.33.13")
    a = ap.parse_args()
    modcache = a.modcache or subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    msgs = {}  # our full name → fields
    kinds = []
    pkgs = packages(modcache, a.version)
    parsed = {rel: parse_go(os.path.join(root, rel)) for root, rel in pkgs}
    # Aliases of another version's struct (`type MatchCondition v1.MatchCondition`): that version's tags.
    by_name = {}
    for rel, (gof, _) in sorted(parsed.items()):
        for name, fds in gof.items():
            if fds:
                by_name.setdefault((rel.split("/")[0], name), fds)
    for root, rel in pkgs:
        d = os.path.join(root, rel)
        pkg, pmsgs = parse_proto(os.path.join(d, "generated.proto"))
        gof, gokinds = parsed[rel]
        for name in pmsgs:
            if not gof.get(name):
                gof[name] = by_name.get((rel.split("/")[0], name), {})
        group = None
        reg = os.path.join(d, "register.go")
        if os.path.exists(reg):
            m = GROUP.search(open(reg).read())
            group = m.group(1) if m else None
        version = os.path.basename(rel)
        for name, fds in pmsgs.items():
            full = our_name(pkg + "." + name)
            rows = []
            for fd in sorted(fds, key=lambda x: x["num"]):
                jname, fl = gof.get(name, {}).get(fd["num"], (None, set()))
                if jname is None:
                    # Wrapper messages of non-struct Go types (ExtraValue []string: `items`).
                    print("gen_proto_table: no Go field for %s.%s in %s" % (name, fd["name"], rel), file=sys.stderr)
                    jname = fd["name"]
                ty, ref = fd["type"], None
                if fd["map"]:
                    v = fd["map"]
                    vref = v if v in SCALARS else our_name(v if "." in v else pkg + "." + v)
                    rows.append([str(fd["num"]), "map", "map", jname, "map:string," + vref] + sorted(fl - {"omitempty", "ptr"}))
                    continue
                if ty not in SCALARS:
                    ref = our_name(ty if "." in ty else pkg + "." + ty)
                    ty = "message"
                if fd["label"] == "repeated" or ty == "message":
                    fl = fl - {"omitempty"}
                if fd["label"] == "repeated":
                    fl = fl - {"ptr"}
                # `jsonnull`: Go marshals the unset field as JSON null (a slice, map or pointer
                # without omitempty); value fields are always on the wire anyway.
                if fd["label"] == "optional" and "ptr" not in fl:
                    fl = fl - {"jsonnull"}
                rows.append([str(fd["num"]), ty, fd["label"], jname] + ([ref] if ref else []) + sorted(fl))
            msgs[full] = rows
            if name in gokinds and group is not None and rel.split("/")[-2:-1] != ["meta"]:
                kinds.append((group, version, name, full))
    out = ["# Generated by scripts/gen_proto_table.py from the Go API modules at %s; do not edit." % a.version]
    for full in sorted(msgs):
        if not msgs[full]:
            out.append("%s - empty" % full)
        for r in msgs[full]:
            out.append(" ".join([full] + r))
    for g, v, k, n in sorted(set(kinds)):
        out.append("kind %s %s %s %s" % (g or "-", v, k, n))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
