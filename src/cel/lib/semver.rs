//! Kubernetes' semver library (blang/semver v4 parsing and ordering), new in 1.33 and so only
//! in the stored-expressions environment of a 1.33 server (its compatibility version is 1.32).

use super::ext::Ext;
use super::{nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::value::Value;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Semver {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Pre>,
    build: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pre {
    Num(u64),
    Str(String),
}

impl PartialEq for Semver {
    fn eq(&self, o: &Semver) -> bool {
        self.compare(o) == Ordering::Equal
    }
}

impl Semver {
    pub fn compare(&self, o: &Semver) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => {
                    for (a, b) in self.pre.iter().zip(&o.pre) {
                        let c = match (a, b) {
                            (Pre::Num(x), Pre::Num(y)) => x.cmp(y),
                            (Pre::Num(_), Pre::Str(_)) => Ordering::Less,
                            (Pre::Str(_), Pre::Num(_)) => Ordering::Greater,
                            (Pre::Str(x), Pre::Str(y)) => x.cmp(y),
                        };
                        if c != Ordering::Equal {
                            return c;
                        }
                    }
                    self.pre.len().cmp(&o.pre.len())
                }
            })
    }
}

impl fmt::Display for Semver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            let p: Vec<String> = self
                .pre
                .iter()
                .map(|p| match p {
                    Pre::Num(n) => n.to_string(),
                    Pre::Str(s) => s.clone(),
                })
                .collect();
            write!(f, "-{}", p.join("."))?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build.join("."))?;
        }
        Ok(())
    }
}

fn only(s: &str, f: impl Fn(char) -> bool) -> bool {
    s.chars().all(f)
}
fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn num(part: &str, what: &str) -> Result<u64, String> {
    let q = crate::util::go_quote(part);
    if !only(part, |c| c.is_ascii_digit()) {
        return Err(format!("Invalid character(s) found in {what} number {q}"));
    }
    if part.len() > 1 && part.starts_with('0') {
        let w = format!("{}{}", what[..1].to_uppercase(), &what[1..]);
        return Err(format!("{w} number must not contain leading zeroes {q}"));
    }
    part.parse()
        .map_err(|_| format!("strconv.ParseUint: parsing {q}: invalid syntax"))
}

/// blang/semver `Parse`.
pub fn parse(s: &str) -> Result<Semver, String> {
    if s.is_empty() {
        return Err("Version string empty".into());
    }
    let parts: Vec<&str> = s.splitn(3, '.').collect();
    if parts.len() != 3 {
        return Err("No Major.Minor.Patch elements found".into());
    }
    let major = num(parts[0], "major")?;
    let minor = num(parts[1], "minor")?;
    let mut rest = parts[2];
    let mut build = Vec::new();
    if let Some((p, b)) = rest.split_once('+') {
        build = b.split('.').map(str::to_string).collect();
        rest = p;
    }
    let mut pre_s: Vec<&str> = Vec::new();
    if let Some((p, pr)) = rest.split_once('-') {
        pre_s = pr.split('.').collect();
        rest = p;
    }
    let patch = num(rest, "patch")?;
    let mut pre = Vec::new();
    for p in pre_s {
        if p.is_empty() {
            return Err("Prerelease is empty".into());
        }
        if only(p, |c| c.is_ascii_digit()) {
            if p.len() > 1 && p.starts_with('0') {
                return Err(format!(
                    "Numeric PreRelease version must not contain leading zeroes {}",
                    crate::util::go_quote(p)
                ));
            }
            pre.push(Pre::Num(p.parse().map_err(|_| "bad prerelease".to_string())?));
        } else if only(p, alnum) {
            pre.push(Pre::Str(p.to_string()));
        } else {
            return Err(format!(
                "Invalid character(s) found in prerelease {}",
                crate::util::go_quote(p)
            ));
        }
    }
    for b in &build {
        if b.is_empty() {
            return Err("Build meta data is empty".into());
        }
        if !only(b, alnum) {
            return Err(format!(
                "Invalid character(s) found in build meta data {}",
                crate::util::go_quote(b)
            ));
        }
    }
    Ok(Semver {
        major,
        minor,
        patch,
        pre,
        build,
    })
}

/// Upstream `normalizeAndParse`: `v` prefix, leading zeros and missing parts tolerated.
fn normalize_and_parse(s: &str) -> Result<Semver, String> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts: Vec<String> = s.splitn(3, '.').map(str::to_string).collect();
    for p in parts.iter_mut() {
        if p.len() > 1 {
            let mut t = p.trim_start_matches('0').to_string();
            if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit()) {
                t = format!("0{t}");
            }
            *p = t;
        }
    }
    if parts.len() < 3 {
        if parts.last().is_some_and(|l| l.contains(['+', '-'])) {
            return Err("short version cannot contain PreRelease/Build meta data".into());
        }
        while parts.len() < 3 {
            parts.push("0".into());
        }
    }
    parse(&parts.join("."))
}

fn sv(a: &[Value<'_>], i: usize) -> Result<Semver, String> {
    match a.get(i) {
        Some(Value::Ext(e)) => match &**e {
            Ext::Semver(s) => Ok(s.clone()),
            _ => nso(),
        },
        _ => nso(),
    }
}

fn parse_with(a: &[Value<'_>]) -> Result<Semver, String> {
    let s = str_arg(a, 0)?;
    match a.get(1) {
        Some(Value::Bool(true)) => normalize_and_parse(s),
        Some(Value::Bool(false)) | None => parse(s),
        _ => nso(),
    }
}

pub fn register(r: &mut Registry) {
    r.global("semver", "string_to_semver", "string -> kubernetes.Semver", |a| {
        parse_with(&a).map(|s| Value::Ext(Arc::new(Ext::Semver(s))))
    });
    r.global(
        "semver",
        "string_bool_to_semver",
        "string, bool -> kubernetes.Semver",
        |a| parse_with(&a).map(|s| Value::Ext(Arc::new(Ext::Semver(s)))),
    );
    r.global("isSemver", "is_semver_string", "string -> bool", |a| {
        Ok(Value::Bool(parse_with(&a).is_ok()))
    });
    r.global("isSemver", "is_semver_string_bool", "string, bool -> bool", |a| {
        Ok(Value::Bool(parse_with(&a).is_ok()))
    });
    r.member(
        "isGreaterThan",
        "semver_is_greater_than",
        "kubernetes.Semver, kubernetes.Semver -> bool",
        |a| Ok(Value::Bool(sv(&a, 0)?.compare(&sv(&a, 1)?) == Ordering::Greater)),
    );
    r.member(
        "isLessThan",
        "semver_is_less_than",
        "kubernetes.Semver, kubernetes.Semver -> bool",
        |a| Ok(Value::Bool(sv(&a, 0)?.compare(&sv(&a, 1)?) == Ordering::Less)),
    );
    r.member(
        "compareTo",
        "semver_compare_to",
        "kubernetes.Semver, kubernetes.Semver -> int",
        |a| {
            Ok(Value::Int(match sv(&a, 0)?.compare(&sv(&a, 1)?) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            }))
        },
    );
    r.member("major", "semver_major", "kubernetes.Semver -> int", |a| {
        Ok(Value::Int(sv(&a, 0)?.major as i64))
    });
    r.member("minor", "semver_minor", "kubernetes.Semver -> int", |a| {
        Ok(Value::Int(sv(&a, 0)?.minor as i64))
    });
    r.member("patch", "semver_patch", "kubernetes.Semver -> int", |a| {
        Ok(Value::Int(sv(&a, 0)?.patch as i64))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_like_blang() {
        assert!(parse("1.2.3").unwrap().compare(&parse("1.2.10").unwrap()) == Ordering::Less);
        assert!(parse("1.0.0-alpha").unwrap().compare(&parse("1.0.0").unwrap()) == Ordering::Less);
        assert!(parse("1.0.0-2").unwrap().compare(&parse("1.0.0-10").unwrap()) == Ordering::Less);
        assert_eq!(
            parse("01.2.3").unwrap_err(),
            "Major number must not contain leading zeroes \"01\""
        );
        assert_eq!(parse("1.2").unwrap_err(), "No Major.Minor.Patch elements found");
        assert_eq!(normalize_and_parse("v1.2").unwrap().to_string(), "1.2.0");
    }
}
