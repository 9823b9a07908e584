//! The command-line pre-pass: parses kube-apiserver-style flags the way pflag does
//! (`--f=v`, `--f v`, bare `--f` for booleans, `--f=false`, repeated list/map flags, `-v N`),
//! driven by the flag table, so every upstream flag is accepted whether or not capstan
//! implements it.

use super::flags::{self, Flag, Kind};
use super::value;
use serde_json::Value as Json;
use std::path::PathBuf;

/// What the command line said.
#[derive(Debug, Default)]
pub struct ParsedArgs {
    /// Flags in first-seen order, repeated occurrences already combined.
    pub values: Vec<(&'static Flag, Json)>,
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    pub help: bool,
    pub version: bool,
}

impl ParsedArgs {
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.values.iter().find(|(f, _)| f.name == name).map(|(_, v)| v)
    }

    fn set(&mut self, flag: &'static Flag, raw: &str) -> Result<(), String> {
        let v = value::from_text(&flag.kind, raw, true)
            .map_err(|e| format!("invalid argument {raw:?} for \"--{}\" flag: {e}", flag.name))?;
        if let Some(slot) = self.values.iter_mut().find(|(f, _)| f.name == flag.name) {
            let prev = std::mem::take(&mut slot.1);
            slot.1 = value::accumulate(&flag.kind, prev, v);
        } else {
            self.values.push((flag, v));
        }
        Ok(())
    }
}

fn unknown(name: &str) -> String {
    match flags::suggest_flag(name) {
        Some(s) => format!("unknown flag: --{name} (did you mean --{s}?)"),
        None => format!("unknown flag: --{name} (see --help for the accepted flags)"),
    }
}

/// Parse the arguments after `serve` (or after `kube-apiserver`).
pub fn parse_args(args: &[String]) -> Result<ParsedArgs, String> {
    let mut out = ParsedArgs::default();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            match name {
                "help" => {
                    out.help = true;
                    continue;
                }
                "version" => {
                    // pflag's version flag is `--version[=true|raw]`.
                    out.version = inline.as_deref().map(|v| v != "false").unwrap_or(true);
                    continue;
                }
                "config" => {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            let v = args.get(i).ok_or("flag needs an argument: --config")?;
                            i += 1;
                            v.clone()
                        }
                    };
                    out.config = Some(PathBuf::from(v));
                    continue;
                }
                _ => {}
            }
            let flag = flags::by_name(name).ok_or_else(|| unknown(name))?;
            let raw = match inline {
                Some(v) => v,
                None if flag.kind == Kind::Bool => "true".to_string(),
                None => {
                    let v = args.get(i).ok_or_else(|| format!("flag needs an argument: --{name}"))?;
                    i += 1;
                    v.clone()
                }
            };
            out.set(flag, &raw)?;
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            // Shorthands: -h, -v N / -v=N / -vN.
            if short == "h" {
                out.help = true;
                continue;
            }
            if let Some(rest) = short.strip_prefix('v') {
                let flag = flags::by_name("v").ok_or("flag table has no --v")?;
                let raw = if let Some(v) = rest.strip_prefix('=') {
                    v.to_string()
                } else if !rest.is_empty() {
                    rest.to_string()
                } else {
                    let v = args.get(i).ok_or("flag needs an argument: 'v' in -v")?;
                    i += 1;
                    v.clone()
                };
                out.set(flag, &raw)?;
                continue;
            }
            let c = short.chars().next().unwrap_or('-');
            let mut msg = format!("unknown shorthand flag: '{c}' in {arg}");
            if let Some(s) = flags::suggest_flag(short.split('=').next().unwrap_or(short)) {
                msg.push_str(&format!(" (did you mean --{s}?)"));
            }
            return Err(msg);
        } else {
            positional.push(arg.clone());
        }
    }
    if let Some(p) = positional.iter().find(|p| !p.is_empty()) {
        return Err(format!(
            "the server does not take any arguments, got {p:?} (flags start with --)"
        ));
    }
    Ok(out)
}

/// `--help` text, generated from the table.
pub fn help_text(program: &str) -> String {
    let mut s = format!(
        "Usage: {program} [flags]\n\nRun the API server. Settings come from (lowest to highest): built-in defaults, the config\nfile (--config FILE, default /etc/capstan/config.yaml when present), drop-ins in <config>.d/,\nCAPSTAN_* environment variables, then these flags. See docs/config-reference.md.\n\nFlags:\n      --config string   Config file (YAML or TOML); also CAPSTAN_CONFIG\n  -h, --help            Help for {program}\n      --version         Print version information and quit\n"
    );
    for f in flags::FLAGS {
        let ty = match f.kind {
            Kind::Bool => String::new(),
            Kind::Int { .. } => " int".into(),
            Kind::Float => " float".into(),
            Kind::Duration => " duration".into(),
            Kind::List | Kind::Repeated => " strings".into(),
            Kind::BoolMap | Kind::StrMap | Kind::KeyMap => " key=value,...".into(),
            _ => " string".into(),
        };
        let short = if f.name == "v" { "  -v," } else { "     " };
        let mut line = format!("{short} --{}{ty}", f.name);
        line = format!("{line:<48} {}", f.help);
        if !f.default.is_empty() {
            line.push_str(&format!(" (default {})", f.default));
        }
        match f.status {
            flags::Status::NoEffect => line.push_str(" [no effect]"),
            flags::Status::Refused => line.push_str(" [not supported: refused unless default]"),
            flags::Status::Partial => line.push_str(" [partly supported: some values refused]"),
            _ => {}
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pflag_forms() {
        let p = parse_args(&args(&[
            "--secure-port=7443",
            "--bind-address",
            "127.0.0.2",
            "--anonymous-auth=false",
            "--allow-privileged",
            "--etcd-servers=https://a:2379,https://b:2379",
            "--etcd-servers",
            "https://c:2379",
            "--feature-gates=A=true",
            "--feature-gates=B=false",
            "-v",
            "4",
            "--config",
            "/tmp/c.yaml",
        ]))
        .unwrap();
        assert_eq!(p.get("secure-port"), Some(&json!(7443)));
        assert_eq!(p.get("bind-address"), Some(&json!("127.0.0.2")));
        assert_eq!(p.get("anonymous-auth"), Some(&json!(false)));
        assert_eq!(p.get("allow-privileged"), Some(&json!(true)));
        assert_eq!(
            p.get("etcd-servers"),
            Some(&json!(["https://a:2379", "https://b:2379", "https://c:2379"]))
        );
        assert_eq!(p.get("feature-gates"), Some(&json!({"A": true, "B": false})));
        assert_eq!(p.get("v"), Some(&json!(4)));
        assert_eq!(p.config, Some(PathBuf::from("/tmp/c.yaml")));
        for (form, want) in [("-v=3", 3), ("-v2", 2), ("--v=5", 5)] {
            assert_eq!(
                parse_args(&args(&[form])).unwrap().get("v"),
                Some(&json!(want)),
                "{form}"
            );
        }
        // Scalars: last one wins, as pflag.
        let p = parse_args(&args(&["--secure-port=1", "--secure-port=2"])).unwrap();
        assert_eq!(p.get("secure-port"), Some(&json!(2)));
    }

    #[test]
    fn errors_name_the_flag() {
        assert_eq!(
            parse_args(&args(&["--secure-prot=1"])).unwrap_err(),
            "unknown flag: --secure-prot (did you mean --secure-port?)"
        );
        assert_eq!(
            parse_args(&args(&["--no-such-thing-at-all"])).unwrap_err(),
            "unknown flag: --no-such-thing-at-all (see --help for the accepted flags)"
        );
        assert_eq!(
            parse_args(&args(&["--secure-port=abc"])).unwrap_err(),
            "invalid argument \"abc\" for \"--secure-port\" flag: expected integer 0-65535, got \"abc\" (string)"
        );
        assert_eq!(
            parse_args(&args(&["--allow-privileged=maybe"])).unwrap_err(),
            "invalid argument \"maybe\" for \"--allow-privileged\" flag: expected bool, got \"maybe\" (string)"
        );
        assert_eq!(
            parse_args(&args(&["--secure-port"])).unwrap_err(),
            "flag needs an argument: --secure-port"
        );
        assert!(parse_args(&args(&["stray"])).unwrap_err().contains("\"stray\""));
    }

    #[test]
    fn help_lists_every_flag() {
        let h = help_text("kube-apiserver");
        for f in flags::FLAGS {
            assert!(h.contains(&format!("--{}", f.name)), "{}", f.name);
        }
    }
}
