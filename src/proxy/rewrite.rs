//! What upstream's proxy transport rewrites on `nodes|pods|services/proxy` responses
//! (apimachinery `proxy.Transport` + `corsRemovingTransport`): same-host absolute links in
//! `text/html` bodies and the `Location` header get the proxy path prepended; CORS headers go.

use bytes::Bytes;
use std::io::{Read, Write};

/// Tag → attributes holding URLs (upstream's `atomsToAttrs`).
const URL_ATTRS: &[(&str, &[&str])] = &[
    ("a", &["href"]),
    ("applet", &["codebase"]),
    ("area", &["href"]),
    ("audio", &["src"]),
    ("base", &["href"]),
    ("blockquote", &["cite"]),
    ("body", &["background"]),
    ("button", &["formaction"]),
    ("command", &["icon"]),
    ("del", &["cite"]),
    ("embed", &["src"]),
    ("form", &["action"]),
    ("frame", &["longdesc", "src"]),
    ("head", &["profile"]),
    ("html", &["manifest"]),
    ("iframe", &["longdesc", "src"]),
    ("img", &["longdesc", "src", "usemap"]),
    ("input", &["src", "usemap", "formaction"]),
    ("ins", &["cite"]),
    ("link", &["href"]),
    ("object", &["classid", "codebase", "data", "usemap"]),
    ("q", &["cite"]),
    ("script", &["src"]),
    ("source", &["src"]),
    ("video", &["poster", "src"]),
];

pub const CORS_HEADERS: &[&str] = &[
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
];

/// Rewrite one URL as upstream's `rewriteURL` with an empty transport scheme/host (the API
/// server's own requests carry none): relative and other-host URLs stay; same-host absolute
/// paths get `prepend` unless they already start with it.
pub fn rewrite_url(target: &str, prepend: &str, backend_host: &str, request_host: &str) -> String {
    let (host, path, rest) = split_url(target);
    let other_host = !host.is_empty() && host != backend_host && host != request_host;
    if other_host || !path.starts_with('/') {
        return target.to_string();
    }
    if path.starts_with(prepend) {
        return format!("{path}{rest}");
    }
    let mut joined = format!("{}/{}", prepend.trim_end_matches('/'), path.trim_start_matches('/'));
    if !path.ends_with('/') {
        joined = joined.trim_end_matches('/').to_string();
    }
    format!("{joined}{rest}")
}

/// (host, path, query+fragment) of an absolute or relative URL.
fn split_url(u: &str) -> (&str, &str, &str) {
    let after_scheme = match u.find("://") {
        Some(i) if u[..i].chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => &u[i + 3..],
        _ if u.starts_with("//") => &u[2..],
        _ => {
            let end = u.find(['?', '#']).unwrap_or(u.len());
            return ("", &u[..end], &u[end..]);
        }
    };
    let host_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let host = &after_scheme[..host_end];
    let rest = &after_scheme[host_end..];
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    (host, &rest[..end], &rest[end..])
}

/// Rewrite URL attributes in an HTML document (a small tag scanner: text, comments and
/// everything else pass through unchanged).
pub fn rewrite_html(html: &str, prepend: &str, backend_host: &str, request_host: &str) -> String {
    let mut out = String::with_capacity(html.len() + 64);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").map(|e| e + 3).unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let Some(gt) = tag_end(rest) else {
            break;
        };
        out.push_str(&rewrite_tag(&rest[..=gt], prepend, backend_host, request_host));
        rest = &rest[gt + 1..];
    }
    out.push_str(rest);
    out
}

/// Index of the `>` closing the tag at the start of `s` (quotes respected).
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn rewrite_tag(tag: &str, prepend: &str, backend_host: &str, request_host: &str) -> String {
    let name: String = tag[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let Some((_, attrs)) = URL_ATTRS.iter().find(|(t, _)| *t == name) else {
        return tag.to_string();
    };
    let mut out = String::with_capacity(tag.len() + 32);
    let mut i = 1 + name.len();
    out.push_str(&tag[..i]);
    let b = tag.as_bytes();
    while i < tag.len() {
        // Copy whitespace and stray characters up to an attribute name.
        let start = i;
        while i < tag.len() && !(b[i] as char).is_ascii_alphabetic() {
            i += 1;
        }
        out.push_str(&tag[start..i]);
        let name_start = i;
        while i < tag.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b':') {
            i += 1;
        }
        let attr = tag[name_start..i].to_ascii_lowercase();
        out.push_str(&tag[name_start..i]);
        if i >= tag.len() || b[i] != b'=' {
            continue;
        }
        out.push('=');
        i += 1;
        let (value, raw_end, quote) = match b.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let end = tag[i + 1..].find(q as char).map(|e| i + 1 + e).unwrap_or(tag.len() - 1);
                (&tag[i + 1..end], end + 1, Some(q as char))
            }
            _ => {
                let end = tag[i..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .map(|e| i + e)
                    .unwrap_or(tag.len());
                (&tag[i..end], end, None)
            }
        };
        let new = if attrs.contains(&attr.as_str()) {
            rewrite_url(value, prepend, backend_host, request_host)
        } else {
            value.to_string()
        };
        match quote {
            Some(q) => {
                out.push(q);
                out.push_str(&new);
                out.push(q);
            }
            None => out.push_str(&new),
        }
        i = raw_end.min(tag.len());
    }
    out
}

/// Rewrite an HTML body, decoding and re-encoding `gzip`/`deflate` as upstream does. None:
/// an encoding we cannot handle (the body passes through unchanged).
pub fn rewrite_body(
    body: &[u8],
    encoding: Option<&str>,
    prepend: &str,
    backend_host: &str,
    request_host: &str,
) -> Option<Bytes> {
    let mut plain = Vec::new();
    match encoding.map(str::trim) {
        None | Some("") => plain.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body).read_to_end(&mut plain).ok()?;
        }
        Some("deflate") => {
            flate2::read::ZlibDecoder::new(body).read_to_end(&mut plain).ok()?;
        }
        _ => return None,
    }
    let html = String::from_utf8_lossy(&plain);
    let out = rewrite_html(&html, prepend, backend_host, request_host);
    let bytes = match encoding.map(str::trim) {
        Some("gzip") => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(out.as_bytes()).ok()?;
            e.finish().ok()?
        }
        Some("deflate") => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(out.as_bytes()).ok()?;
            e.finish().ok()?
        }
        _ => out.into_bytes(),
    };
    Some(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/api/v1/namespaces/default/pods/web/proxy";

    #[test]
    fn urls_like_upstream() {
        assert_eq!(
            rewrite_url("/static/app.js", P, "10.0.0.5:80", "h:6443"),
            format!("{P}/static/app.js")
        );
        assert_eq!(rewrite_url("/", P, "10.0.0.5:80", "h:6443"), format!("{P}/"));
        assert_eq!(rewrite_url("app.js", P, "10.0.0.5:80", "h:6443"), "app.js");
        assert_eq!(
            rewrite_url("http://example.com/x", P, "10.0.0.5:80", "h"),
            "http://example.com/x"
        );
        assert_eq!(
            rewrite_url("http://10.0.0.5:80/x?a=1", P, "10.0.0.5:80", "h"),
            format!("{P}/x?a=1")
        );
        assert_eq!(rewrite_url(&format!("{P}/y"), P, "b", "h"), format!("{P}/y"));
    }

    #[test]
    fn html_attributes() {
        let html = r#"<html><!-- <a href="/no"> --><a class=x href="/docs/">d</a><img src='/i.png' alt="/keep"><p data-x="/y">t</p></html>"#;
        let out = rewrite_html(html, P, "b", "h");
        assert_eq!(
            out,
            format!(
                r#"<html><!-- <a href="/no"> --><a class=x href="{P}/docs/">d</a><img src='{P}/i.png' alt="/keep"><p data-x="/y">t</p></html>"#
            )
        );
    }
}
