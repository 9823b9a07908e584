//! Kubernetes' URL library (`url`, `isURL`, `getScheme`, `getHost`, `getHostname`, `getPort`,
//! `getEscapedPath`, `getQuery`) over a port of Go's `net/url` parsing: `url()` accepts what
//! `url.ParseRequestURI` does (absolute URIs and absolute paths, no fragments split off).

use super::ext::Ext;
use super::{nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::value::{list, string, Map, Value};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    pub raw: String,
    pub scheme: String,
    pub opaque: String,
    pub host: String,
    pub path: String,
    pub raw_path: String,
    pub raw_query: String,
}

pub fn register(r: &mut Registry) {
    r.global("url", "string_to_url", "string -> kubernetes.URL", |a| {
        let s = str_arg(&a, 0)?;
        parse_request_uri(s)
            .map(|u| Value::Ext(Arc::new(Ext::Url(u))))
            .map_err(|e| format!("URL parse error during conversion from string: {e}"))
    });
    r.global("isURL", "is_url_string", "string -> bool", |a| {
        Ok(Value::Bool(parse_request_uri(str_arg(&a, 0)?).is_ok()))
    });
    r.member("getScheme", "url_get_scheme", "kubernetes.URL -> string", |a| {
        url(&a).map(|u| string(u.scheme.as_str()))
    });
    r.member("getHost", "url_get_host", "kubernetes.URL -> string", |a| {
        url(&a).map(|u| string(u.host.as_str()))
    });
    r.member("getHostname", "url_get_hostname", "kubernetes.URL -> string", |a| {
        url(&a).map(|u| string(hostname(&u.host)))
    });
    r.member("getPort", "url_get_port", "kubernetes.URL -> string", |a| {
        url(&a).map(|u| string(port(&u.host)))
    });
    r.member(
        "getEscapedPath",
        "url_get_escaped_path",
        "kubernetes.URL -> string",
        |a| url(&a).map(|u| string(escaped_path(u))),
    );
    r.member(
        "getQuery",
        "url_get_query",
        "kubernetes.URL -> map(string, list(string))",
        |a| {
            let u = url(&a)?;
            let mut out: Vec<(Value<'_>, Vec<Value<'_>>)> = Vec::new();
            for part in u.raw_query.split('&') {
                if part.is_empty() || part.contains(';') {
                    continue;
                }
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                let (Ok(k), Ok(v)) = (unescape(k, Mode::Query), unescape(v, Mode::Query)) else {
                    continue;
                };
                match out.iter_mut().find(|(x, _)| matches!(x, Value::Str(s) if **s == *k)) {
                    Some((_, vals)) => vals.push(string(v)),
                    None => out.push((string(k), vec![string(v)])),
                }
            }
            Ok(Value::Map(Map::Own(Arc::new(
                out.into_iter().map(|(k, v)| (k, list(v))).collect(),
            ))))
        },
    );
}

fn url<'v>(a: &'v [Value<'_>]) -> Result<&'v Url, String> {
    match a.first() {
        Some(Value::Ext(e)) => match &**e {
            Ext::Url(u) => Ok(u),
            _ => nso(),
        },
        _ => nso(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Host,
    Query,
    Userinfo,
}

fn ishex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Go's `url.unescape`.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::with_capacity(b.len());
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len() || !ishex(b[i + 1]) || !ishex(b[i + 2]) {
                    let end = (i + 3).min(b.len());
                    return Err(format!("invalid URL escape {:?}", &s[i..end]));
                }
                out.push(unhex(b[i + 1]) << 4 | unhex(b[i + 2]));
                i += 3;
            }
            b'+' if mode == Mode::Query => {
                out.push(b' ');
                i += 1;
            }
            c => {
                if mode == Mode::Host && c < 0x80 && !should_keep_in_host(c) {
                    return Err(format!("invalid character {:?} in host name", (c as char).to_string()));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "invalid UTF-8".into())
}

fn should_keep_in_host(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
}

fn should_escape_path(c: u8) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
        ))
}

fn escape_path(s: &str) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        if should_escape_path(c) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

fn valid_encoded(s: &str) -> bool {
    s.bytes().all(|c| {
        !matches!(
            c,
            b' ' | b'#' | b'?' | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        ) && (c >= 0x20 && c != 0x7f)
    }) && s
        .split('%')
        .skip(1)
        .all(|p| p.len() >= 2 && p.bytes().take(2).all(ishex))
}

fn escaped_path(u: &Url) -> String {
    if !u.raw_path.is_empty()
        && valid_encoded(&u.raw_path)
        && unescape(&u.raw_path, Mode::Path).as_deref() == Ok(&u.path)
    {
        return u.raw_path.clone();
    }
    if u.path == "*" {
        return "*".into();
    }
    escape_path(&u.path)
}

fn hostname(host: &str) -> String {
    let (h, _) = split_host_port(host);
    h.trim_start_matches('[').trim_end_matches(']').to_string()
}

fn port(host: &str) -> String {
    split_host_port(host).1.to_string()
}

fn split_host_port(host: &str) -> (&str, &str) {
    if let Some(i) = host.rfind(':') {
        let p = &host[i + 1..];
        if p.bytes().all(|c| c.is_ascii_digit()) && !host[..i].ends_with(|c: char| c != ']' && host.starts_with('[')) {
            return (&host[..i], p);
        }
    }
    (host, "")
}

/// Go's `url.ParseRequestURI`: errors read `parse "<raw>": <why>`.
pub fn parse_request_uri(raw: &str) -> Result<Url, String> {
    parse(raw, true).map_err(|e| format!("parse {}: {e}", crate::util::go_quote(raw)))
}

fn parse(raw: &str, via_request: bool) -> Result<Url, String> {
    if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw.is_empty() && via_request {
        return Err("empty url".into());
    }
    let mut u = Url {
        raw: raw.to_string(),
        scheme: String::new(),
        opaque: String::new(),
        host: String::new(),
        path: String::new(),
        raw_path: String::new(),
        raw_query: String::new(),
    };
    if raw == "*" {
        u.path = "*".into();
        return Ok(u);
    }
    let (scheme, mut rest) = get_scheme(raw)?;
    u.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        u.raw_query = q.to_string();
    }
    if !rest.starts_with('/') {
        if !u.scheme.is_empty() {
            u.opaque = rest.to_string();
            return Ok(u);
        }
        if via_request {
            return Err("invalid URI for request".into());
        }
    }
    if (!u.scheme.is_empty() || !via_request && !rest.starts_with("///")) && rest.starts_with("//") {
        let auth_and_rest = &rest[2..];
        let (authority, r) = match auth_and_rest.find('/') {
            Some(i) => (&auth_and_rest[..i], &auth_and_rest[i..]),
            None => (auth_and_rest, ""),
        };
        u.host = parse_authority(authority)?;
        rest = r;
    }
    u.path = unescape(rest, Mode::Path)?;
    if escape_path(&u.path) != rest {
        u.raw_path = rest.to_string();
    }
    Ok(u)
}

fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' => {
                if i == 0 {
                    return Err("missing protocol scheme".into());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<String, String> {
    let (user, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(u) = user {
        unescape(u, Mode::Userinfo).map_err(|_| "net/url: invalid userinfo".to_string())?;
    }
    parse_host(host)
}

fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        let port = &host[i + 1..];
        if !(port.is_empty() || port.starts_with(':') && port[1..].bytes().all(|c| c.is_ascii_digit())) {
            return Err(format!("invalid port {} after host", crate::util::go_quote(port)));
        }
        return Ok(host.to_string());
    }
    if let Some(i) = host.rfind(':') {
        let port = &host[i..];
        if !port[1..].bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("invalid port {} after host", crate::util::go_quote(port)));
        }
    }
    unescape(host, Mode::Host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let u = parse_request_uri("https://user@example.com:8080/a%20b/c?x=1&y=2&x=3").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(hostname(&u.host), "example.com");
        assert_eq!(port(&u.host), "8080");
        assert_eq!(escaped_path(&u), "/a%20b/c");
        assert_eq!(u.raw_query, "x=1&y=2&x=3");
        let v6 = parse_request_uri("http://[::1]:80/").unwrap();
        assert_eq!(hostname(&v6.host), "::1");
        assert_eq!(port(&v6.host), "80");
        assert!(parse_request_uri("/absolute/path").is_ok());
        assert_eq!(
            parse_request_uri("relative/path").unwrap_err(),
            "parse \"relative/path\": invalid URI for request"
        );
        assert!(parse_request_uri("https://example.com:port/").is_err());
        assert!(parse_request_uri("").is_err());
    }
}
