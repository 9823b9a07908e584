//! Renderings of the configuration: `capstan config show` (YAML, optionally with the layer
//! that set each value) and the generated reference, docs/config-reference.md.

use super::flags::{self, Kind, Status};
use super::layers::Merged;
use serde_json::Value as Json;
use std::collections::BTreeMap;

enum Node {
    Leaf(&'static str),
    Section(BTreeMap<String, Node>),
}

fn insert(root: &mut BTreeMap<String, Node>, key: &'static str) {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = root;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| Node::Section(BTreeMap::new()));
        match entry {
            Node::Section(m) => cur = m,
            Node::Leaf(_) => return,
        }
    }
    if let Some(last) = parts.last() {
        cur.insert(last.to_string(), Node::Leaf(key));
    }
}

fn scalar(v: &Json) -> String {
    match v {
        Json::String(s) => yaml_serde::to_string(s)
            .map(|t| t.trim_end().to_string())
            .unwrap_or_else(|_| format!("{s:?}")),
        Json::Array(_) | Json::Object(_) => serde_json::to_string(v).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn emit(out: &mut String, nodes: &BTreeMap<String, Node>, indent: usize, merged: &Merged, sources: bool) {
    let pad = " ".repeat(indent);
    for (name, node) in nodes {
        match node {
            Node::Section(children) => {
                out.push_str(&format!("{pad}{name}:\n"));
                emit(out, children, indent + 2, merged, sources);
            }
            Node::Leaf(key) => {
                let Some(v) = merged.values.get(key) else { continue };
                let comment = if sources {
                    merged.sources.get(key).map(|s| format!("  # {s}")).unwrap_or_default()
                } else {
                    String::new()
                };
                match v {
                    Json::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{name}:{comment}\n"));
                        for (k, val) in m {
                            out.push_str(&format!(
                                "{pad}  {}: {}\n",
                                scalar(&Json::String(k.clone())),
                                scalar(val)
                            ));
                        }
                    }
                    Json::Object(_) => out.push_str(&format!("{pad}{name}: {{}}{comment}\n")),
                    other => out.push_str(&format!("{pad}{name}: {}{comment}\n", scalar(other))),
                }
            }
        }
    }
}

/// The effective configuration as YAML (itself a valid config file). With `sources`, each value
/// carries a `# <layer>` comment: `default`, `file <path>`, `environment variable <NAME>`, `flag --<name>`.
pub fn render_yaml(merged: &Merged, sources: bool) -> String {
    let mut root = BTreeMap::new();
    for key in merged.values.keys() {
        insert(&mut root, key);
    }
    let mut out = String::new();
    if sources {
        out.push_str("# layers, lowest to highest: default");
        for f in &merged.files {
            out.push_str(&format!(" < file {}", f.display()));
        }
        out.push_str(" < environment (CAPSTAN_*) < flags\n");
    }
    emit(&mut out, &root, 0, merged, sources);
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// docs/config-reference.md, generated from the flag table.
pub fn reference_markdown() -> String {
    let mut s = String::from(
        "<!-- Generated from src/config/flags.rs by `capstan config reference > docs/config-reference.md`\n     (or `UPDATE_DOCS=1 cargo test --lib config::`). Do not edit by hand. -->\n\
# Capstan configuration reference\n\n\
Capstan accepts every kube-apiserver flag below with upstream's name and meaning, and each flag\n\
has a config-file key and an environment variable. Settings are layered, lowest to highest:\n\n\
1. built-in defaults (the *Default* column);\n\
2. the config file: `--config FILE`, else `$CAPSTAN_CONFIG`, else `/etc/capstan/config.yaml` when it exists;\n\
3. drop-in files in `<config>.d/` (for example `/etc/capstan/config.yaml.d/*.yaml`), `*.yaml`, `*.yml`,\n   `*.json` or `*.toml`, applied in lexical order of their file names;\n\
4. environment variables `CAPSTAN_<KEY>`: the config key upper-cased, `.` written as `__` and `-` as `_`\n   (`etcd.servers` → `CAPSTAN_ETCD__SERVERS`);\n\
5. command-line flags.\n\n\
Files are YAML (or JSON) unless the name ends in `.toml`. Keys are nested by their dots; a dotted key is also\n\
accepted as written (`etcd.servers: [...]`), and at the top level so is the flag's name (`etcd-servers: [...]`,\n\
`service-node-port-range: ...`, as a k3s config file writes them; `config show` prints the key). Lists take a YAML list or a comma-separated string; repeated list\n\
flags append and repeated map flags (`--feature-gates`) merge. Booleans in files and the environment also\n\
accept YAML 1.1 words (`yes`/`no`, `on`/`off`); on the command line they follow Go's strconv.ParseBool.\n\
Unknown keys and flags are errors, with a suggestion. A `CAPSTAN_*` variable that is no setting is logged as a\n\
warning and ignored (a kubelet defines `CAPSTAN_PORT`, `CAPSTAN_SERVICE_HOST`, ... in pods beside a Service named\n\
`capstan`); a malformed value of a setting is an error. A value set to `null` in a file leaves the key to the\n\
lower layers.\n\n\
`capstan config show [--sources] [flags]` prints the effective configuration (and which layer set each\n\
value); `capstan config validate FILE` checks one file.\n\n\
Example (`/etc/capstan/config.yaml`):\n\n\
```yaml\n\
data-dir: /var/lib/capstan\n\
secure-port: 6443\n\
bind-address: 0.0.0.0\n\
etcd:\n  servers: [https://127.0.0.1:2379]\n  cafile: /etc/kubernetes/pki/etcd/ca.crt\n\
logging:\n  format: json\n  verbosity: 2\n\
feature-gates:\n  PodTopologyLabelsAdmission: true\n\
```\n\n\
*Status* — every upstream kube-apiserver 1.33 flag is listed:\n\n\
- **yes** — implemented as upstream;\n\
- **capstan** — a capstan-only setting;\n\
- **no effect** — accepted, and nothing is lost: it has no effect upstream either in what capstan runs\n  (deprecated no-ops, flags of alpha features that are off), or what it tunes does not arise in capstan\n  (the description says why);\n\
- **partial** — implemented for some values (the description says which): startup fails with a message\n  naming the flag on the others;\n\
- **refused** — not implemented: startup fails with a message naming the flag when it is set to anything\n  but its default (or a value capstan handles).\n\n\
No flag is accepted and then ignored.\n\n\
The *Description* says why for every flag that is not implemented. `--config`, `--help` and `--version` are\n\
command-line only.\n\n\
| Flag | Config key | Environment variable | Type | Default | Status | Description |\n\
|---|---|---|---|---|---|---|\n",
    );
    for f in flags::FLAGS {
        let flag = if f.name == "v" {
            "`-v`, `--v`".to_string()
        } else {
            format!("`--{}`", f.name)
        };
        let note = f.note().unwrap_or("");
        let status = match f.status {
            Status::Implemented => "yes",
            Status::Capstan => "capstan",
            Status::NoEffect => "no effect",
            Status::Refused => "refused",
            Status::Partial => "partial",
        };
        let help = if note.is_empty() {
            f.help.to_string()
        } else {
            format!("{} *Capstan:* {note}", f.help)
        };
        let ty = match f.kind {
            Kind::Enum(v) => format!("enum: {}", v.join(", ")),
            k => k.describe(),
        };
        let default = if f.default.is_empty() {
            String::new()
        } else {
            format!("`{}`", f.default)
        };
        s.push_str(&format!(
            "| {flag} | `{}` | `{}` | {} | {} | {status} | {} |\n",
            f.key,
            f.env_var(),
            cell(&ty),
            cell(&default),
            cell(&help)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/config-reference.md must match the table. Regenerate with
    /// `capstan config reference > docs/config-reference.md` or `UPDATE_DOCS=1 cargo test --lib config::`.
    #[test]
    fn reference_doc_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config-reference.md");
        let want = reference_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &want).expect("write docs/config-reference.md");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/config-reference.md is out of date with src/config/flags.rs; regenerate it with \
             `cargo run -- config reference > docs/config-reference.md` or `UPDATE_DOCS=1 cargo test --lib config::`"
        );
    }
}
