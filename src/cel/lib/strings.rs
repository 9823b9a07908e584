//! cel-go's strings extension at version 2 (what Kubernetes enables from 1.29): `charAt`,
//! `indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`, `replace`, `split`, `substring`,
//! `trim`, `format`, `strings.quote`, `join`. Indexes count code points, as in Go.

use super::stdlib::string_list;
use super::{int_arg, nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::value::{display, format_double, string, List, Value};

pub fn register(r: &mut Registry) {
    r.member("charAt", "string_char_at_int", "string, int -> string", |a| {
        let (s, i) = (str_arg(&a, 0)?, int_arg(&a, 1)?);
        let runes: Vec<char> = s.chars().collect();
        if i < 0 || i as usize > runes.len() {
            return Err(format!("index out of range: {i}"));
        }
        Ok(string(runes.get(i as usize).map(|c| c.to_string()).unwrap_or_default()))
    });
    r.member("indexOf", "string_index_of_string", "string, string -> int", |a| {
        index_of(str_arg(&a, 0)?, str_arg(&a, 1)?, 0).map(Value::Int)
    });
    r.member(
        "indexOf",
        "string_index_of_string_int",
        "string, string, int -> int",
        |a| index_of(str_arg(&a, 0)?, str_arg(&a, 1)?, int_arg(&a, 2)?).map(Value::Int),
    );
    r.member(
        "lastIndexOf",
        "string_last_index_of_string",
        "string, string -> int",
        |a| {
            let (s, sub) = (str_arg(&a, 0)?, str_arg(&a, 1)?);
            let n = s.chars().count() as i64;
            if sub.is_empty() {
                return Ok(Value::Int(n));
            }
            last_index_of(s, sub, n - 1).map(Value::Int)
        },
    );
    r.member(
        "lastIndexOf",
        "string_last_index_of_string_int",
        "string, string, int -> int",
        |a| last_index_of(str_arg(&a, 0)?, str_arg(&a, 1)?, int_arg(&a, 2)?).map(Value::Int),
    );
    r.member("lowerAscii", "string_lower_ascii", "string -> string", |a| {
        Ok(string(str_arg(&a, 0)?.to_ascii_lowercase()))
    });
    r.member("upperAscii", "string_upper_ascii", "string -> string", |a| {
        Ok(string(str_arg(&a, 0)?.to_ascii_uppercase()))
    });
    r.member(
        "replace",
        "string_replace_string_string",
        "string, string, string -> string",
        |a| Ok(string(replace_n(str_arg(&a, 0)?, str_arg(&a, 1)?, str_arg(&a, 2)?, -1))),
    );
    r.member(
        "replace",
        "string_replace_string_string_int",
        "string, string, string, int -> string",
        |a| {
            Ok(string(replace_n(
                str_arg(&a, 0)?,
                str_arg(&a, 1)?,
                str_arg(&a, 2)?,
                int_arg(&a, 3)?,
            )))
        },
    );
    r.member("split", "string_split_string", "string, string -> list(string)", |a| {
        Ok(string_list(split_n(str_arg(&a, 0)?, str_arg(&a, 1)?, -1)))
    });
    r.member(
        "split",
        "string_split_string_int",
        "string, string, int -> list(string)",
        |a| Ok(string_list(split_n(str_arg(&a, 0)?, str_arg(&a, 1)?, int_arg(&a, 2)?))),
    );
    r.member("substring", "string_substring_int", "string, int -> string", |a| {
        let (s, start) = (str_arg(&a, 0)?, int_arg(&a, 1)?);
        let runes: Vec<char> = s.chars().collect();
        if start < 0 || start as usize > runes.len() {
            return Err(format!("index out of range: {start}"));
        }
        Ok(string(runes[start as usize..].iter().collect::<String>()))
    });
    r.member(
        "substring",
        "string_substring_int_int",
        "string, int, int -> string",
        |a| {
            let (s, start, end) = (str_arg(&a, 0)?, int_arg(&a, 1)?, int_arg(&a, 2)?);
            let runes: Vec<char> = s.chars().collect();
            if start > end {
                return Err(format!("invalid substring range. start: {start}, end: {end}"));
            }
            if start < 0 || start as usize > runes.len() {
                return Err(format!("index out of range: {start}"));
            }
            if end < 0 || end as usize > runes.len() {
                return Err(format!("index out of range: {end}"));
            }
            Ok(string(runes[start as usize..end as usize].iter().collect::<String>()))
        },
    );
    r.member("trim", "string_trim", "string -> string", |a| {
        Ok(string(str_arg(&a, 0)?.trim()))
    });
    r.member("format", "string_format", "string, list(dyn) -> string", |a| {
        let Value::List(args) = &a[1] else { return nso() };
        format(str_arg(&a, 0)?, args).map(string)
    });
    r.global("strings.quote", "strings_quote", "string -> string", |a| {
        Ok(string(quote(str_arg(&a, 0)?)))
    });
    r.member("join", "list_join", "list(string) -> string", |a| join(&a[0], ""));
    r.member("join", "list_join_string", "list(string), string -> string", |a| {
        join(&a[0], str_arg(&a, 1)?)
    });
}

fn index_of(s: &str, sub: &str, off: i64) -> Result<i64, String> {
    if sub.is_empty() {
        return Ok(off);
    }
    if off < 0 {
        return Err(format!("index out of range: {off}"));
    }
    let runes: Vec<char> = s.chars().collect();
    let subr: Vec<char> = sub.chars().collect();
    let off = off as usize;
    if off >= runes.len() {
        return Ok(-1);
    }
    let last = runes.len() as i64 - subr.len() as i64;
    let mut i = off as i64;
    while i <= last {
        if runes[i as usize..i as usize + subr.len()] == subr[..] {
            return Ok(i);
        }
        i += 1;
    }
    Ok(-1)
}

fn last_index_of(s: &str, sub: &str, off: i64) -> Result<i64, String> {
    if sub.is_empty() {
        return Ok(off);
    }
    if off < 0 {
        return Err(format!("index out of range: {off}"));
    }
    let runes: Vec<char> = s.chars().collect();
    let subr: Vec<char> = sub.chars().collect();
    if off as usize >= runes.len() {
        return Ok(-1);
    }
    let mut i = off.min(runes.len() as i64 - subr.len() as i64);
    while i >= 0 {
        if runes[i as usize..i as usize + subr.len()] == subr[..] {
            return Ok(i);
        }
        i -= 1;
    }
    Ok(-1)
}

/// Go's `strings.Replace(s, old, new, n)`.
fn replace_n(s: &str, old: &str, new: &str, n: i64) -> String {
    if n == 0 || old == new {
        return s.to_string();
    }
    if old.is_empty() {
        let mut out = String::new();
        let mut done = 0i64;
        for (i, c) in s.chars().enumerate() {
            if n < 0 || done < n {
                out.push_str(new);
                done += 1;
            }
            out.push(c);
            let _ = i;
        }
        if n < 0 || done < n {
            out.push_str(new);
        }
        return out;
    }
    if n < 0 {
        return s.replace(old, new);
    }
    s.replacen(old, new, n as usize)
}

/// Go's `strings.SplitN(s, sep, n)`.
fn split_n(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(|c| c.to_string()).collect();
        if n > 0 && chars.len() as i64 > n {
            let mut out: Vec<String> = chars[..n as usize - 1].to_vec();
            out.push(chars[n as usize - 1..].concat());
            return out;
        }
        return chars;
    }
    if n < 0 {
        return s.split(sep).map(str::to_string).collect();
    }
    s.splitn(n as usize, sep).map(str::to_string).collect()
}

fn join<'a>(l: &Value<'a>, sep: &str) -> Result<Value<'a>, String> {
    let Value::List(l) = l else { return nso() };
    let mut out = String::new();
    for (i, v) in l.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        match v {
            Value::Str(s) => out.push_str(&s),
            other => return Err(format!("join: invalid input: {}", display(&other))),
        }
    }
    Ok(string(out))
}

/// `strings.quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `format()`: `%s %d %f %e %b %o %x %X %%` with optional precision (`%.2f`).
fn format(f: &str, args: &List<'_>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = f.chars().peekable();
    let mut idx = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(*d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            return Err("unexpected end of format string".into());
        };
        let Some(arg) = args.get(idx) else {
            return Err(format!("index {idx} out of range"));
        };
        idx += 1;
        let s = match verb {
            's' => format_s(&arg),
            'd' => match &arg {
                Value::Int(i) => i.to_string(),
                Value::Uint(u) => u.to_string(),
                Value::Double(d) if d.is_nan() => "NaN".into(),
                Value::Double(d) if d.is_infinite() => if *d > 0.0 { "Infinity" } else { "-Infinity" }.into(),
                other => {
                    return Err(format!(
                        "error during formatting: decimal clause can only be used on integers, was given {}",
                        other.type_name()
                    ))
                }
            },
            'f' | 'e' => {
                let d = match &arg {
                    Value::Int(i) => *i as f64,
                    Value::Uint(u) => *u as f64,
                    Value::Double(d) => *d,
                    Value::Str(s) if matches!(&**s, "NaN" | "Infinity" | "-Infinity") => match &**s {
                        "NaN" => f64::NAN,
                        "Infinity" => f64::INFINITY,
                        _ => f64::NEG_INFINITY,
                    },
                    other => {
                        return Err(format!(
                            "error during formatting: fixed-point clause can only be used on doubles, was given {}",
                            other.type_name()
                        ))
                    }
                };
                let p = prec.unwrap_or(6);
                if d.is_nan() {
                    "NaN".into()
                } else if d.is_infinite() {
                    if d > 0.0 { "Infinity" } else { "-Infinity" }.into()
                } else if verb == 'f' {
                    format!("{d:.p$}")
                } else {
                    let s = format!("{d:.p$e}");
                    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                    let e: i32 = e.parse().unwrap_or(0);
                    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
                }
            }
            'b' => match &arg {
                Value::Int(i) => {
                    if *i < 0 {
                        format!("-{:b}", i.unsigned_abs())
                    } else {
                        format!("{i:b}")
                    }
                }
                Value::Uint(u) => format!("{u:b}"),
                Value::Bool(b) => if *b { "1" } else { "0" }.into(),
                other => {
                    return Err(format!(
                        "error during formatting: only integers and bools can be formatted as binary, was given {}",
                        other.type_name()
                    ))
                }
            },
            'o' => match &arg {
                Value::Int(i) => {
                    if *i < 0 {
                        format!("-{:o}", i.unsigned_abs())
                    } else {
                        format!("{i:o}")
                    }
                }
                Value::Uint(u) => format!("{u:o}"),
                other => {
                    return Err(format!(
                        "error during formatting: octal clause can only be used on integers, was given {}",
                        other.type_name()
                    ))
                }
            },
            'x' | 'X' => {
                let s = match &arg {
                    Value::Int(i) => {
                        if *i < 0 {
                            format!("-{:x}", i.unsigned_abs())
                        } else {
                            format!("{i:x}")
                        }
                    }
                    Value::Uint(u) => format!("{u:x}"),
                    Value::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                    Value::Bytes(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
                    other => return Err(format!("error during formatting: only integers, byte buffers, and strings can be formatted as hex, was given {}", other.type_name())),
                };
                if verb == 'X' {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            v => {
                return Err(format!(
                    "could not parse formatting clause: unrecognized formatting clause \"{v}\""
                ))
            }
        };
        out.push_str(&s);
    }
    Ok(out)
}

fn format_s(v: &Value<'_>) -> String {
    match v {
        Value::Double(d) if d.is_nan() => "NaN".into(),
        Value::Double(d) if d.is_infinite() => if *d > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        Value::Double(d) => format_double(*d),
        Value::List(l) => format!("[{}]", l.iter().map(|x| format_s(&x)).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => {
            let mut e: Vec<(String, String)> = m.entries().iter().map(|(k, v)| (format_s(k), format_s(v))).collect();
            e.sort();
            format!(
                "{{{}}}",
                e.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Value::Type(t) => t.to_string(),
        other => display(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_string_semantics() {
        assert_eq!(split_n("a,b,c", ",", 2), vec!["a", "b,c"]);
        assert_eq!(split_n("abc", "", -1), vec!["a", "b", "c"]);
        assert!(split_n("abc", ",", 0).is_empty());
        assert_eq!(replace_n("aaa", "a", "b", 2), "bba");
        assert_eq!(replace_n("ab", "", "-", -1), "-a-b-");
        assert_eq!(index_of("hello wello", "ello", 2), Ok(7));
        assert_eq!(last_index_of("hello wello", "ello", 10), Ok(7));
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
