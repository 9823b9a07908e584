//! Parsing and checking one setting's value against its [`Kind`]: text from flags and the
//! environment, or already-typed values from YAML/TOML files. Every accepted value is normalized
//! (lists become arrays, YAML 1.1 booleans become booleans…) so later layers merge cleanly.

use super::flags::Kind;
use serde_json::{Map, Value as Json};
use std::net::IpAddr;

/// Go's strconv.ParseBool, which pflag uses for boolean flags.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Booleans in files and environment: Go's set plus YAML 1.1 words (`yes`, `on`, `y`…), the way
/// Go's YAML 1.1 parsers read a config written for them.
pub fn parse_loose_bool(s: &str) -> Option<bool> {
    if let Some(b) = parse_go_bool(s) {
        return Some(b);
    }
    match s.to_ascii_lowercase().as_str() {
        "yes" | "y" | "on" | "true" => Some(true),
        "no" | "n" | "off" | "false" => Some(false),
        _ => None,
    }
}

/// Go-style durations: `5m`, `30s`, `1h30m`, `250ms`, `1.5h`, `0`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(format!("invalid duration {s:?}"));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = t.chars().peekable();
    let mut saw_unit = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' {
                break;
            }
            unit.push(n);
            chars.next();
        }
        let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        num.clear();
        let scale = match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += n * scale;
        saw_unit = true;
    }
    if !num.is_empty() || !saw_unit {
        return Err(format!("invalid duration {s:?}: missing unit (s, m, h, ms)"));
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| format!("invalid duration {s:?}"))
}

/// A short rendering of a value for error messages: `"abc" (string)`, `12 (number)`.
pub fn show(v: &Json) -> String {
    match v {
        Json::String(s) => format!("{s:?} (string)"),
        Json::Number(n) => format!("{n} (number)"),
        Json::Bool(b) => format!("{b} (bool)"),
        Json::Array(_) => "a list".into(),
        Json::Object(_) => "a mapping".into(),
        Json::Null => "null".into(),
    }
}

fn expected(kind: &Kind, got: &Json) -> String {
    format!("expected {}, got {}", kind.describe(), show(got))
}

fn split_list(s: &str) -> Vec<Json> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Json::String(p.to_string()))
        .collect()
}

fn check_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    bits <= if ip.is_ipv4() { 32 } else { 128 }
}

fn check_port_range(s: &str) -> bool {
    port_range_bounds(s).is_some()
}

/// The first and last port of `a-b`, `a+offset` or a single port (Go's `net.ParsePortRange`).
pub fn port_range_bounds(s: &str) -> Option<(u32, u32)> {
    let port = |p: &str| p.trim().parse::<u32>().ok().filter(|n| *n <= 65535);
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (port(a)?, port(b)?);
        (a <= b).then_some((a, b))
    } else if let Some((a, off)) = s.split_once('+') {
        let (a, o) = (port(a)?, port(off)?);
        (a + o <= 65535).then_some((a, a + o))
    } else {
        port(s).map(|p| (p, p))
    }
}

fn map_from_pairs(kind: &Kind, s: &str, strict_bool: bool) -> Result<Json, String> {
    let mut m = Map::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not a key=value pair (expected {})", kind.describe()))?;
        let k = k.trim().to_string();
        let v = v.trim();
        let val = if *kind == Kind::BoolMap {
            let b = if strict_bool {
                parse_go_bool(v)
            } else {
                parse_loose_bool(v)
            };
            Json::Bool(b.ok_or_else(|| format!("invalid value of {k}: {v}, err: expected true or false"))?)
        } else {
            Json::String(v.to_string())
        };
        m.insert(k, val);
    }
    Ok(Json::Object(m))
}

/// Parse text from the command line (`strict_bool`: Go's ParseBool only) or an environment
/// variable (YAML 1.1 booleans too).
pub fn from_text(kind: &Kind, s: &str, strict_bool: bool) -> Result<Json, String> {
    from_json_inner(kind, &Json::String(s.to_string()), strict_bool)
}

/// Check a value read from a file. `Ok(None)` for null (the key is left unset at that layer).
pub fn from_json(kind: &Kind, v: &Json) -> Result<Option<Json>, String> {
    if v.is_null() {
        return Ok(None);
    }
    from_json_inner(kind, v, false).map(Some)
}

fn scalar_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn from_json_inner(kind: &Kind, v: &Json, strict_bool: bool) -> Result<Json, String> {
    let err = || expected(kind, v);
    match kind {
        Kind::Bool => match v {
            Json::Bool(b) => Ok(Json::Bool(*b)),
            Json::String(s) => {
                let b = if strict_bool {
                    parse_go_bool(s)
                } else {
                    parse_loose_bool(s)
                };
                b.map(Json::Bool).ok_or_else(err)
            }
            _ => Err(err()),
        },
        Kind::Int { min, max } => {
            let n = match v {
                Json::Number(n) => n.as_i64().ok_or_else(err)?,
                Json::String(s) => s.trim().parse::<i64>().map_err(|_| err())?,
                _ => return Err(err()),
            };
            if n < *min || n > *max {
                return Err(err());
            }
            Ok(Json::from(n))
        }
        Kind::Float => {
            let f = match v {
                Json::Number(n) => n.as_f64().ok_or_else(err)?,
                Json::String(s) => s.trim().parse::<f64>().map_err(|_| err())?,
                _ => return Err(err()),
            };
            if !f.is_finite() {
                return Err(err());
            }
            Ok(Json::from(f))
        }
        Kind::Str | Kind::Path => scalar_text(v).map(Json::String).ok_or_else(err),
        Kind::Ip => {
            let s = scalar_text(v).ok_or_else(err)?;
            if s.is_empty() {
                return Ok(Json::String(s));
            }
            s.trim().parse::<IpAddr>().map_err(|_| err())?;
            Ok(Json::String(s.trim().to_string()))
        }
        Kind::Duration => {
            let s = match v {
                Json::String(s) => s.clone(),
                // A bare 0 is a valid Go duration; other bare numbers lack a unit.
                Json::Number(n) if n.as_i64() == Some(0) => "0".into(),
                _ => return Err(err()),
            };
            parse_duration(&s).map_err(|_| err())?;
            Ok(Json::String(s))
        }
        Kind::List => match v {
            Json::Array(items) => items
                .iter()
                .map(|i| scalar_text(i).map(Json::String).ok_or_else(err))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            other => scalar_text(other).map(|s| Json::Array(split_list(&s))).ok_or_else(err),
        },
        Kind::Repeated => match v {
            Json::Array(items) => items
                .iter()
                .map(|i| scalar_text(i).map(Json::String).ok_or_else(err))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            other => scalar_text(other)
                .map(|s| Json::Array(if s.is_empty() { vec![] } else { vec![Json::String(s)] }))
                .ok_or_else(err),
        },
        Kind::BoolMap | Kind::StrMap => match v {
            Json::Object(m) => {
                let mut out = Map::new();
                for (k, val) in m {
                    let norm = if *kind == Kind::BoolMap {
                        match val {
                            Json::Bool(b) => Json::Bool(*b),
                            Json::String(s) => Json::Bool(
                                parse_loose_bool(s)
                                    .ok_or_else(|| format!("{k}: expected true or false, got {}", show(val)))?,
                            ),
                            _ => return Err(format!("{k}: expected true or false, got {}", show(val))),
                        }
                    } else {
                        Json::String(
                            scalar_text(val).ok_or_else(|| format!("{k}: expected a string, got {}", show(val)))?,
                        )
                    };
                    out.insert(k.clone(), norm);
                }
                Ok(Json::Object(out))
            }
            Json::String(s) => map_from_pairs(kind, s, strict_bool),
            _ => Err(err()),
        },
        Kind::Enum(allowed) => {
            let s = scalar_text(v).ok_or_else(err)?;
            if s.is_empty() || allowed.contains(&s.as_str()) {
                Ok(Json::String(s))
            } else {
                Err(err())
            }
        }
        Kind::PortRange => {
            let s = scalar_text(v).ok_or_else(err)?;
            if check_port_range(&s) {
                Ok(Json::String(s))
            } else {
                Err(err())
            }
        }
        Kind::Cidrs => {
            let s = match v {
                Json::Array(items) => items.iter().filter_map(scalar_text).collect::<Vec<_>>().join(","),
                other => scalar_text(other).ok_or_else(err)?,
            };
            let parts: Vec<&str> = s.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
            if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| check_cidr(p)) {
                return Err(err());
            }
            Ok(Json::String(parts.join(",")))
        }
    }
}

/// Combine a repeated flag with its earlier occurrences: lists append, maps merge, scalars: last wins.
pub fn accumulate(kind: &Kind, prev: Json, next: Json) -> Json {
    match (kind.accumulates(), prev, next) {
        (true, Json::Array(mut a), Json::Array(b)) => {
            a.extend(b);
            Json::Array(a)
        }
        (true, Json::Object(mut a), Json::Object(b)) => {
            a.extend(b);
            Json::Object(a)
        }
        (_, _, next) => next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5m"), Ok(std::time::Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(std::time::Duration::from_secs(5400)));
        assert_eq!(parse_duration("1m0s"), Ok(std::time::Duration::from_secs(60)));
        assert_eq!(parse_duration("250ms"), Ok(std::time::Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(std::time::Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn bools_from_flags_are_go_strict_files_are_yaml11_lenient() {
        assert_eq!(from_text(&Kind::Bool, "false", true), Ok(json!(false)));
        assert_eq!(from_text(&Kind::Bool, "T", true), Ok(json!(true)));
        assert!(from_text(&Kind::Bool, "yes", true).is_err());
        assert_eq!(from_text(&Kind::Bool, "yes", false), Ok(json!(true)));
        assert_eq!(from_json(&Kind::Bool, &json!("on")), Ok(Some(json!(true))));
        assert_eq!(from_json(&Kind::Bool, &json!("Off")), Ok(Some(json!(false))));
        assert_eq!(
            from_json(&Kind::Bool, &json!(3)),
            Err("expected bool, got 3 (number)".to_string())
        );
    }

    #[test]
    fn lists_maps_and_ranges() {
        assert_eq!(from_text(&Kind::List, "a, b,,c", true), Ok(json!(["a", "b", "c"])));
        assert_eq!(
            from_text(&Kind::Repeated, "a.crt,a.key:*.a.com", true),
            Ok(json!(["a.crt,a.key:*.a.com"]))
        );
        assert_eq!(
            from_text(&Kind::BoolMap, "A=true,B=false", true),
            Ok(json!({"A": true, "B": false}))
        );
        assert_eq!(
            from_text(&Kind::StrMap, "api/all=true,batch/v1=false", true),
            Ok(json!({"api/all": "true", "batch/v1": "false"}))
        );
        assert!(from_text(&Kind::BoolMap, "A=maybe", true).is_err());
        assert_eq!(
            from_text(&Kind::PortRange, "30000-32767", true),
            Ok(json!("30000-32767"))
        );
        assert!(from_text(&Kind::PortRange, "32767-30000", true).is_err());
        assert_eq!(
            from_text(&Kind::Cidrs, "10.96.0.0/12,fd00::/108", true),
            Ok(json!("10.96.0.0/12,fd00::/108"))
        );
        assert!(from_text(&Kind::Cidrs, "10.96.0.0", true).is_err());
        assert_eq!(
            from_text(&Kind::Int { min: 0, max: 65535 }, "70000", true),
            Err("expected integer 0-65535, got \"70000\" (string)".to_string())
        );
        assert_eq!(accumulate(&Kind::List, json!(["a"]), json!(["b"])), json!(["a", "b"]));
        assert_eq!(accumulate(&Kind::Str, json!("a"), json!("b")), json!("b"));
    }
}
