//! The layers and their merge: built-in defaults < config file < drop-ins (`<config>.d/`, lexical
//! order) < `CAPSTAN_*` environment < command-line flags. Each layer is checked against the flag
//! table on its own (so errors name the file and line, the variable or the flag), then figment
//! merges them and remembers which layer supplied each value.

use super::argv::ParsedArgs;
use super::flags::{self, Flag, Kind};
use super::value;
use figment::providers::{Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the config file is looked for when neither `--config` nor `CAPSTAN_CONFIG` is given.
pub const DEFAULT_CONFIG: &str = "/etc/capstan/config.yaml";

/// `CAPSTAN_*` variables that are not settings.
pub const RESERVED_ENV: &[&str] = &["CAPSTAN_CONFIG", "CAPSTAN_LOG", "CAPSTAN_GIT_COMMIT"];

/// A configuration problem; each line names the layer (file:line, variable or flag), the key,
/// and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} configuration errors:", many.len())?;
                for m in many {
                    write!(f, "\n  {m}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<String> for ConfigError {
    fn from(s: String) -> Self {
        ConfigError(vec![s])
    }
}

/// One source of settings, already checked and normalized, keyed by config key.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `default`, `file /etc/capstan/config.yaml`, `environment variable CAPSTAN_X`, `flag --x`.
    pub name: String,
    pub values: BTreeMap<&'static str, Json>,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let tree = nest(self.values.iter().map(|(k, v)| (*k, v.clone())));
        let dict = figment::value::Value::serialize(&tree)?
            .into_dict()
            .ok_or_else(|| figment::Error::from(format!("{}: not a mapping", self.name)))?;
        Ok(Profile::Default.collect(dict))
    }
}

/// Flat dotted keys → nested mapping.
pub fn nest<'a>(values: impl IntoIterator<Item = (&'a str, Json)>) -> Json {
    fn put(map: &mut serde_json::Map<String, Json>, parts: &[&str], v: Json) {
        match parts {
            [] => {}
            [last] => {
                map.insert(last.to_string(), v);
            }
            [first, rest @ ..] => {
                let entry = map
                    .entry(first.to_string())
                    .or_insert_with(|| Json::Object(serde_json::Map::new()));
                if !entry.is_object() {
                    *entry = Json::Object(serde_json::Map::new());
                }
                if let Json::Object(next) = entry {
                    put(next, rest, v);
                }
            }
        }
    }
    let mut root = serde_json::Map::new();
    for (key, v) in values {
        let parts: Vec<&str> = key.split('.').collect();
        put(&mut root, &parts, v);
    }
    Json::Object(root)
}

/// The built-in defaults from the table.
pub fn defaults_layer() -> Result<Layer, ConfigError> {
    let mut values = BTreeMap::new();
    for f in flags::FLAGS.iter().filter(|f| !f.default.is_empty()) {
        let v = value::from_text(&f.kind, f.default, true)
            .map_err(|e| format!("built-in default of --{} is invalid: {e}", f.name))?;
        values.insert(f.key, v);
    }
    Ok(Layer {
        name: "default".into(),
        values,
    })
}

/// YAML through yaml_serde (YAML 1.2; booleans written the YAML 1.1 way are accepted for bool
/// settings by [`value::from_json`]).
pub struct Yaml;

impl Format for Yaml {
    type Error = yaml_serde::Error;
    const NAME: &'static str = "YAML";

    fn from_str<T: serde::de::DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        yaml_serde::from_str(string)
    }
}

fn is_toml(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("toml")
}

/// Read, parse and check one config file.
pub fn file_layer(path: &Path) -> Result<Layer, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("config file {shown}: cannot read: {e}"))?;
    file_layer_from_str(&shown, &text, is_toml(path))
}

/// Parse and check config text (`name` is what errors call it, usually the path).
pub fn file_layer_from_str(name: &str, text: &str, toml: bool) -> Result<Layer, ConfigError> {
    let parsed: Result<Json, String> = if toml {
        <Toml as Format>::from_str::<Json>(text).map_err(|e| e.to_string())
    } else {
        <Yaml as Format>::from_str::<Json>(text).map_err(|e| e.to_string())
    };
    let tree = parsed.map_err(|e| {
        format!(
            "{name}: cannot parse {}: {}",
            if toml { "TOML" } else { "YAML" },
            e.trim()
        )
    })?;
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    match &tree {
        Json::Null => {}
        Json::Object(m) => walk(name, text, toml, "", m, &mut values, &mut errors),
        other => errors.push(format!(
            "{name}: expected a mapping of settings (key: value) at the top level, got {}",
            value::show(other)
        )),
    }
    // Report in file order: `name:LINE: …` sorts by its line number.
    errors.sort_by_key(|e| {
        e.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    });
    if errors.is_empty() {
        Ok(Layer {
            name: format!("file {name}"),
            values,
        })
    } else {
        Err(ConfigError(errors))
    }
}

fn walk(
    name: &str,
    text: &str,
    toml: bool,
    prefix: &str,
    m: &serde_json::Map<String, Json>,
    out: &mut BTreeMap<&'static str, Json>,
    errors: &mut Vec<String>,
) {
    for (k, v) in m {
        let full = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let at = || {
            let segs: Vec<&str> = full.split('.').collect();
            let line = if toml {
                locate_toml(text, &segs)
            } else {
                locate_yaml(text, &segs)
            };
            match line {
                Some(n) => format!("{name}:{n}"),
                None => name.to_string(),
            }
        };
        // A key, or at the top level a kube-apiserver flag name standing for its key
        // (`service-node-port-range` for `services.node-port-range`, the k3s convention).
        let setting = flags::by_key(&full).or_else(|| flags::by_name(&full).filter(|_| prefix.is_empty()));
        if let Some(flag) = setting {
            if out.contains_key(flag.key) {
                errors.push(format!(
                    "{}: key \"{full}\" sets --{} (key \"{}\") a second time",
                    at(),
                    flag.name,
                    flag.key
                ));
                continue;
            }
            match value::from_json(&flag.kind, v) {
                Ok(Some(norm)) => {
                    out.insert(flag.key, norm);
                }
                Ok(None) => {}
                Err(e) => errors.push(format!("{}: key \"{full}\" (flag --{}): {e}", at(), flag.name)),
            }
        } else if flags::is_section(&full) {
            match v {
                Json::Object(sub) => walk(name, text, toml, &full, sub, out, errors),
                Json::Null => {}
                other => errors.push(format!(
                    "{}: key \"{full}\" is a section: expected a mapping of {full}.* settings, got {}",
                    at(),
                    value::show(other)
                )),
            }
        } else {
            let mut msg = format!("{}: unknown key \"{full}\"", at());
            match flags::suggest_key(&full) {
                Some(s) => msg.push_str(&format!(" (did you mean \"{s}\"?)")),
                None => msg.push_str(" (see docs/config-reference.md for the accepted keys)"),
            }
            errors.push(msg);
        }
    }
}

fn yaml_key(trimmed: &str) -> Option<String> {
    let idx = trimmed.find(':')?;
    let after = &trimmed[idx + 1..];
    if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
        return None;
    }
    Some(
        trimmed[..idx]
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string(),
    )
}

/// The 1-based line of a (block-style) YAML key path, or of its deepest parent found.
pub fn locate_yaml(text: &str, path: &[&str]) -> Option<usize> {
    let mut depth = 0usize;
    let mut parent_indent: isize = -1;
    let mut child_indent: Option<isize> = None;
    let mut best = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let indent = (line.len() - trimmed.len()) as isize;
        if depth > 0 && indent <= parent_indent {
            break;
        }
        if child_indent.is_some_and(|ci| ci != indent) {
            continue;
        }
        let Some(key) = yaml_key(trimmed) else { continue };
        child_indent = Some(indent);
        if key == path[depth..].join(".") {
            return Some(n + 1);
        }
        if key == path[depth] {
            best = Some(n + 1);
            depth += 1;
            parent_indent = indent;
            child_indent = None;
            if depth == path.len() {
                return best;
            }
        }
    }
    best
}

/// The 1-based line of a TOML key path (`a.b = ` under `[x]`, or the `[x.y]` header).
pub fn locate_toml(text: &str, path: &[&str]) -> Option<usize> {
    let full = path.join(".");
    let mut section = String::new();
    let mut best = None;
    for (n, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').trim().replace(['"', '\''], "");
            if section == full || full.starts_with(&format!("{section}.")) {
                best = Some(n + 1);
            }
            continue;
        }
        if let Some((k, _)) = t.split_once('=') {
            let k = k.trim().replace(['"', '\''], "");
            let fk = if section.is_empty() {
                k
            } else {
                format!("{section}.{k}")
            };
            if fk == full {
                return Some(n + 1);
            }
        }
    }
    best
}

/// The config file (explicit or default) and its drop-ins, in merge order.
pub fn config_files(
    parsed: &ParsedArgs,
    env: &[(String, String)],
    default_config: &Path,
) -> Result<Vec<PathBuf>, ConfigError> {
    let from_env = env
        .iter()
        .find(|(k, v)| k == "CAPSTAN_CONFIG" && !v.is_empty())
        .map(|(_, v)| PathBuf::from(v));
    let (main, explicit) = match (&parsed.config, from_env) {
        (Some(p), _) => (p.clone(), Some("--config")),
        (None, Some(p)) => (p, Some("CAPSTAN_CONFIG")),
        (None, None) => (default_config.to_path_buf(), None),
    };
    let mut files = Vec::new();
    if main.is_file() {
        files.push(main.clone());
    } else if let Some(how) = explicit {
        return Err(format!(
            "config file {} (from {how}) does not exist or is not a file",
            main.display()
        )
        .into());
    }
    let dropins = PathBuf::from(format!("{}.d", main.display()));
    if let Ok(rd) = std::fs::read_dir(&dropins) {
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).unwrap_or(".").starts_with('.'))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "toml" | "json")
                )
            })
            .collect();
        found.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        files.extend(found);
    }
    Ok(files)
}

/// One layer per `CAPSTAN_*` variable (sorted by name), so sources name the variable, and a
/// warning for each variable that is no setting: a kubelet injects `CAPSTAN_PORT`,
/// `CAPSTAN_SERVICE_HOST`, … into pods beside a Service named `capstan`, so such a name is no
/// reason to refuse to start. A malformed value of a real setting is an error.
pub fn env_layers(env: &[(String, String)]) -> Result<(Vec<Layer>, Vec<String>), ConfigError> {
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, v)| k.starts_with("CAPSTAN_") && !RESERVED_ENV.contains(&k.as_str()) && !v.is_empty())
        .collect();
    vars.sort();
    let mut layers = Vec::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for (k, v) in vars {
        let Some(flag) = flags::FLAGS.iter().find(|f| f.env_var() == *k) else {
            let names: Vec<String> = flags::FLAGS.iter().map(Flag::env_var).collect();
            let mut msg = format!("environment variable {k} is not a setting, ignoring it");
            match flags::closest(k, names.iter().map(String::as_str)) {
                Some(s) => msg.push_str(&format!(" (did you mean {s}?)")),
                None => msg.push_str(
                    " (settings are CAPSTAN_<KEY> with '.' written as '__' and '-' as '_', e.g. CAPSTAN_ETCD__SERVERS)",
                ),
            }
            warnings.push(msg);
            continue;
        };
        match value::from_text(&flag.kind, v, false) {
            Ok(norm) => layers.push(Layer {
                name: format!("environment variable {k}"),
                values: BTreeMap::from([(flag.key, norm)]),
            }),
            Err(e) => errors.push(format!("environment variable {k} (key \"{}\"): {e}", flag.key)),
        }
    }
    if errors.is_empty() {
        Ok((layers, warnings))
    } else {
        Err(ConfigError(errors))
    }
}

/// One layer per flag given on the command line.
pub fn flag_layers(parsed: &ParsedArgs) -> Vec<Layer> {
    parsed
        .values
        .iter()
        .map(|(f, v)| Layer {
            name: format!("flag --{}", f.name),
            values: BTreeMap::from([(f.key, v.clone())]),
        })
        .collect()
}

/// The merged settings and where each came from.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// Config key → value, for every key some layer set (defaults included).
    pub values: BTreeMap<&'static str, Json>,
    /// Config key → the layer that set it (`default`, `file …`, `environment variable …`, `flag --…`).
    pub sources: BTreeMap<&'static str, String>,
    /// Files read, in merge order.
    pub files: Vec<PathBuf>,
    /// What was ignored (unknown `CAPSTAN_*` variables), for the log.
    pub warnings: Vec<String>,
}

/// Merge layers (lowest first) with figment.
pub fn merge(layers: &[Layer]) -> Result<Merged, ConfigError> {
    let mut fig = Figment::new();
    for l in layers {
        fig = fig.merge(l.clone());
    }
    let tree: Json = fig
        .extract()
        .map_err(|e| ConfigError(e.into_iter().map(|e| e.to_string()).collect()))?;
    let mut merged = Merged::default();
    flatten("", &tree, &mut merged.values);
    for key in merged.values.keys() {
        let flag = flags::by_key(key);
        let source = if matches!(flag.map(|f| f.kind), Some(Kind::BoolMap | Kind::StrMap | Kind::KeyMap)) {
            // Maps merge entry by entry: name every layer that contributed.
            let names: Vec<&str> = layers
                .iter()
                .rev()
                .filter(|l| {
                    l.values
                        .get(key)
                        .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
                })
                .map(|l| l.name.as_str())
                .collect();
            if names.is_empty() {
                "default".to_string()
            } else {
                names.join(" + ")
            }
        } else {
            fig.find_metadata(key)
                .map(|m| m.name.to_string())
                .unwrap_or_else(|| "default".into())
        };
        merged.sources.insert(key, source);
    }
    Ok(merged)
}

fn flatten(prefix: &str, v: &Json, out: &mut BTreeMap<&'static str, Json>) {
    if let Some(f) = flags::by_key(prefix) {
        out.insert(f.key, v.clone());
        return;
    }
    if let Json::Object(m) = v {
        for (k, sub) in m {
            let full = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            flatten(&full, sub, out);
        }
    }
}

/// Everything `serve` and `config show` need: the layers in order and their merge.
pub fn resolve(
    parsed: &ParsedArgs,
    env: &[(String, String)],
    default_config: &Path,
) -> Result<(Vec<Layer>, Merged), ConfigError> {
    let mut layers = vec![defaults_layer()?];
    let files = config_files(parsed, env, default_config)?;
    let mut errors = Vec::new();
    for f in &files {
        match file_layer(f) {
            Ok(l) => layers.push(l),
            Err(e) => errors.extend(e.0),
        }
    }
    let mut warnings = Vec::new();
    match env_layers(env) {
        Ok((ls, w)) => {
            layers.extend(ls);
            warnings = w;
        }
        Err(e) => errors.extend(e.0),
    }
    if !errors.is_empty() {
        return Err(ConfigError(errors));
    }
    layers.extend(flag_layers(parsed));
    let mut merged = merge(&layers)?;
    merged.files = files;
    merged.warnings = warnings;
    Ok((layers, merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_yaml_keys() {
        let text = "# c\nsecure-port: 1\netcd:\n  prefix: /x\n  servers:\n    - a\naudit:\n  log:\n    maxage: 3\n";
        assert_eq!(locate_yaml(text, &["secure-port"]), Some(2));
        assert_eq!(locate_yaml(text, &["etcd", "servers"]), Some(5));
        assert_eq!(locate_yaml(text, &["audit", "log", "maxage"]), Some(9));
        assert_eq!(locate_yaml(text, &["etcd", "nope"]), Some(3));
        assert_eq!(locate_yaml("etcd.servers: [a]\n", &["etcd", "servers"]), Some(1));
    }

    #[test]
    fn locates_toml_keys() {
        let text = "secure-port = 1\n[etcd]\nprefix = \"/x\"\n[audit.log]\nmaxage = 3\n";
        assert_eq!(locate_toml(text, &["secure-port"]), Some(1));
        assert_eq!(locate_toml(text, &["etcd", "prefix"]), Some(3));
        assert_eq!(locate_toml(text, &["audit", "log", "maxage"]), Some(5));
    }

    #[test]
    fn all_defaults_parse() {
        let d = defaults_layer().unwrap();
        assert_eq!(d.values.get("secure-port"), Some(&serde_json::json!(6443)));
        assert_eq!(
            d.values.get("services.node-port-range"),
            Some(&serde_json::json!("30000-32767"))
        );
    }
}
