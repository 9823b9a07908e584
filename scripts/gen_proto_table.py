#!/usr/bin/env python3
"""Generate src/server/protobuf/fields.txt: the protobuf field table of the built-in kinds.

Source of the field numbers and types: the prost-generated Rust sources of the `k8s-pb` crate
(crates.io k8s-pb 0.9.0, unpacked by cargo under ~/.cargo/registry/src/*/k8s-pb-0.9.0/src).
Proper (upstream) message names come from the definition names in k8s-openapi's sources (prost
renames `APIService` to `ApiService`); we match them case-insensitively.

Optionally (--go-repo, recommended) the Go API types (git mirrors of k8s.io/api,
k8s.io/apimachinery, k8s.io/apiextensions-apiserver, k8s.io/kube-aggregator) add two facts the
.proto does not carry, matched by protobuf tag number:
  omitempty  the Go field is a value (non-pointer) scalar with `json:",omitempty"`: the Go
             protobuf marshaller always writes it, so a zero value on the wire means "unset"
  inline     the Go field is embedded without a JSON name (Volume.volumeSource): its fields
             belong to the parent JSON object

Output, one line per field:
  <MessageFullName> <tag> <proto_type> <label> <rust_field_name> [<message full name>|map:<k>,<v>] [omitempty] [inline]
label is optional|repeated|map. Plus one line per kind: `kind <group|-> <version> <Kind> <MessageFullName>`.

Usage:
  scripts/gen_proto_table.py [--k8s-pb DIR] [--k8s-openapi DIR] \
      [--go-repo api=/path/to/kubernetes+api/repo ...] > src/server/protobuf/fields.txt
where a --go-repo path is a git directory (bare or not) read at HEAD.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

PREFIX = {
    "api": "io.k8s.api",
    "apimachinery": "io.k8s.apimachinery",
    "apiextensions_apiserver": "io.k8s.apiextensions-apiserver",
    "kube_aggregator": "io.k8s.kube-aggregator",
}

# Go repository → (package prefix, path prefix inside the repository to strip).
GO_REPOS = {
    "api": ("io.k8s.api", ""),
    "apimachinery": ("io.k8s.apimachinery", ""),
    "apiextensions-apiserver": ("io.k8s.apiextensions-apiserver", ""),
    "kube-aggregator": ("io.k8s.kube-aggregator", ""),
}

ATTR = re.compile(r'#\[prost\((.*)\)\]')
STRUCT = re.compile(r'^pub struct (\w+) \{')
FIELD = re.compile(r'^\s*pub (?:r#)?(\w+): (.*),\s*$')
IMPL_RES = re.compile(r'^impl crate::Resource for (\w+) \{')
CONST = re.compile(r'const (GROUP|VERSION|KIND): &\'static str = "([^"]*)";')


def module_path(src, path):
    rel = os.path.relpath(path, src)
    parts = rel.split(os.sep)[:-1]  # drop mod.rs
    return parts


def package(parts):
    if not parts or parts[0] not in PREFIX:
        return None
    return ".".join([PREFIX[parts[0]]] + parts[1:])


def resolve_type(parts, ty):
    """A Rust type path (relative to module `parts`) → (module parts, struct name)."""
    ty = ty.strip()
    for wrap in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while ty.startswith(wrap):
            ty = ty[len(wrap):-1].strip()
    segs = ty.split("::")
    mod = list(parts)
    while segs and segs[0] == "super":
        mod.pop()
        segs.pop(0)
    if segs and segs[0] == "crate":
        mod = []
        segs.pop(0)
    return mod + segs[:-1], segs[-1]


def parse_pb(src):
    msgs = {}  # full name (prost casing) → list of fields
    kinds = []
    for path in sorted(glob.glob(os.path.join(src, "**", "mod.rs"), recursive=True)):
        parts = module_path(src, path)
        pkg = package(parts)
        if pkg is None:
            continue
        cur = None
        attr = None
        res = None
        pending = None
        with open(path) as f:
            for line in f:
                m = STRUCT.match(line)
                if m:
                    cur = pkg + "." + m.group(1)
                    msgs[cur] = []
                    continue
                if line.startswith("}"):
                    cur = None
                    if res is not None and len(res) == 4:
                        kinds.append((res["GROUP"], res["VERSION"], res["KIND"], pkg + "." + res["name"]))
                    res = None
                    continue
                m = IMPL_RES.match(line)
                if m:
                    res = {"name": m.group(1)}
                    continue
                if res is not None:
                    m = CONST.search(line)
                    if m:
                        res[m.group(1)] = m.group(2)
                    continue
                if cur is None:
                    continue
                m = ATTR.search(line)
                if m:
                    attr = m.group(1)
                    continue
                if pending is not None:
                    # A field type split over several lines (rustfmt): join until balanced.
                    pending += " " + line.strip()
                    line = pending
                elif not line.lstrip().startswith("pub "):
                    continue
                if line.count("<") != line.count(">") or not line.rstrip().endswith(","):
                    pending = line.rstrip("\n")
                    continue
                pending = None
                line = re.sub(r'<\s+', '<', re.sub(r',?\s*>', '>', line.strip()))
                m = FIELD.match(line)
                if m and attr is not None:
                    msgs[cur].append(parse_field(parts, attr, m.group(1), m.group(2)))
                    attr = None
    return msgs, kinds


def parse_field(parts, attr, name, rust_ty):
    tag = re.search(r'tag = "(\d+)"', attr).group(1)
    m = re.match(r'btree_map = "(\w+), (\w+)"', attr)
    if m:
        k, v = m.group(1), m.group(2)
        ref = None
        if v == "message":
            inner = rust_ty.split(",", 1)[1].rsplit(">", 1)[0]
            ref = resolve_type(parts, inner)
        return {"tag": int(tag), "type": "map", "label": "map", "name": name, "map": (k, v), "ref": ref}
    kind = attr.split(",")[0].strip()
    if kind.startswith("bytes"):
        kind = "bytes"
    label = "repeated" if "repeated" in attr else "optional"
    ref = resolve_type(parts, rust_ty) if kind == "message" else None
    return {"tag": int(tag), "type": kind, "label": label, "name": name, "map": None, "ref": ref}


def proper_names(openapi_src):
    names = {}
    if not openapi_src:
        return names
    pat = re.compile(r'"(io\.k8s\.[A-Za-z0-9.-]+)"')
    for path in glob.glob(os.path.join(openapi_src, "**", "*.rs"), recursive=True):
        with open(path) as f:
            for n in pat.findall(f.read()):
                names[n.lower()] = n
    return names


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", repo] + list(args), check=True, capture_output=True, text=True).stdout


GO_STRUCT = re.compile(r'^type (\w+) struct \{')
GO_FIELD = re.compile(r'^\s*(?:(\w+)\s+)?([\*\[\]\w\.]+)\s+`(.*)`')


def parse_go(repos):
    """(package, message, tag) → set of flags."""
    flags = {}
    for spec in repos:
        key, path = spec.split("=", 1)
        prefix, strip = GO_REPOS[key]
        gitdir = path if os.path.isdir(os.path.join(path, "objects")) else os.path.join(path, ".git")
        for f in git(gitdir, "ls-tree", "-r", "--name-only", "HEAD").split("\n"):
            if not f.endswith(".go") or f.endswith("_test.go") or "generated" in f or "/internal" in f:
                continue
            d = os.path.dirname(f)
            if not re.search(r'/v\d+((alpha|beta)\d+)?$', d):
                continue
            text = git(gitdir, "show", "HEAD:" + f)
            if "protobuf:\"" not in text:
                continue
            pkg = prefix + "." + d[len(strip):].replace("/", ".")
            cur = None
            for line in text.split("\n"):
                m = GO_STRUCT.match(line)
                if m:
                    cur = m.group(1)
                    continue
                if line.startswith("}"):
                    cur = None
                    continue
                if cur is None:
                    continue
                m = GO_FIELD.match(line)
                if not m:
                    continue
                tags = m.group(3)
                pm = re.search(r'protobuf:"[^,"]*,(\d+),', tags)
                jm = re.search(r'json:"([^"]*)"', tags)
                if not pm or not jm:
                    continue
                ty = m.group(2)
                opts = jm.group(1).split(",")[1:]
                fl = set()
                jname = jm.group(1).split(",")[0]
                if "inline" in opts or (m.group(1) is None and jname == ""):
                    fl.add("inline")
                # Proto scalars are Go scalars or named scalars; messages are filtered out later.
                if "omitempty" in opts and not ty.startswith(("*", "[]", "map[")):
                    fl.add("omitempty")
                flags[(pkg, cur, int(pm.group(1)))] = fl
    return flags


def main():
    ap = argparse.ArgumentParser()
    reg = os.path.expanduser("~/.cargo/registry/src")
    ap.add_argument("--k8s-pb", default=next(iter(glob.glob(reg + "/*/k8s-pb-0.9.0/src")), None))
    ap.add_argument("--k8s-openapi", default=next(iter(sorted(glob.glob(reg + "/*/k8s-openapi-0.*/src"))), None))
    ap.add_argument("--go-repo", action="append", default=[])
    a = ap.parse_args()
    msgs, kinds = parse_pb(a.k8s_pb)
    proper = proper_names(a.k8s_openapi)
    gof = parse_go(a.go_repo)

    def fix(n):
        return proper.get(n.lower(), n)

    def ref_name(ref):
        mod, name = ref
        return package(mod) + "." + name

    # Reachability from every kind (and the meta kinds a body may carry).
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1."
    roots = [k[3] for k in kinds] + [meta + "DeleteOptions", meta + "Status"]
    seen = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n in seen or n not in msgs:
            continue
        seen.add(n)
        for fd in msgs[n]:
            if fd["ref"]:
                stack.append(ref_name(fd["ref"]))
    out = []
    for n in sorted(seen, key=fix):
        full = fix(n)
        pkg, short = full.rsplit(".", 1)
        for fd in sorted(msgs[n], key=lambda x: x["tag"]):
            cols = [full, str(fd["tag"]), fd["type"], fd["label"], fd["name"]]
            if fd["map"]:
                k, v = fd["map"]
                cols.append("map:%s,%s" % (k, fix(ref_name(fd["ref"])) if v == "message" else v))
            elif fd["ref"]:
                cols.append(fix(ref_name(fd["ref"])))
            fl = gof.get((pkg, short, fd["tag"]), set())
            if fd["type"] in ("message", "map") or fd["label"] != "optional":
                fl = fl - {"omitempty"}
            cols += sorted(fl)
            out.append(" ".join(cols))
    for g, v, k, n in sorted(kinds):
        out.append("kind %s %s %s %s" % (g or "-", v, k, fix(n)))
    sys.stdout.write("# Generated by scripts/gen_proto_table.py from k8s-pb 0.9.0; do not edit.\n")
    for spec in a.go_repo:
        key, path = spec.split("=", 1)
        gitdir = path if os.path.isdir(os.path.join(path, "objects")) else os.path.join(path, ".git")
        sys.stdout.write("# Go types: k8s.io/%s@%s\n" % (key, git(gitdir, "rev-parse", "HEAD").strip()))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
