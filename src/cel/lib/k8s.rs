//! Kubernetes' list and regex libraries, cel-go's sets and optionals libraries, the map
//! insertion behind two-variable comprehensions, and `jsonpatch.escapeKey`.

use super::{nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::eval::opt_index;
use crate::cel::value::{display, list, string, List, Map, Value};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

const COMPARABLE: &[(&str, &str)] = &[
    ("int", "int"),
    ("uint", "uint"),
    ("double", "double"),
    ("bool", "bool"),
    ("duration", "duration"),
    ("timestamp", "timestamp"),
    ("string", "string"),
    ("bytes", "bytes"),
];

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

pub fn register(r: &mut Registry) {
    for (n, t) in COMPARABLE {
        r.member(
            "isSorted",
            leak(format!("list_{n}_is_sorted_bool")),
            &format!("list({t}) -> bool"),
            |a| {
                let l = list_arg(&a, 0)?;
                let items: Vec<Value<'_>> = l.iter().collect();
                for w in items.windows(2) {
                    if cmp(&w[0], &w[1])? == Ordering::Greater {
                        return Ok(Value::Bool(false));
                    }
                }
                Ok(Value::Bool(true))
            },
        );
        r.member(
            "max",
            leak(format!("list_{n}_max_{n}")),
            &format!("list({t}) -> {t}"),
            |a| extreme(&a, "max"),
        );
        r.member(
            "min",
            leak(format!("list_{n}_min_{n}")),
            &format!("list({t}) -> {t}"),
            |a| extreme(&a, "min"),
        );
    }
    r.member("sum", "list_int_sum_int", "list(int) -> int", |a| {
        sum(&a, Value::Int(0))
    });
    r.member("sum", "list_uint_sum_uint", "list(uint) -> uint", |a| {
        sum(&a, Value::Uint(0))
    });
    r.member("sum", "list_double_sum_double", "list(double) -> double", |a| {
        sum(&a, Value::Double(0.0))
    });
    r.member("sum", "list_duration_sum_duration", "list(duration) -> duration", |a| {
        sum(&a, Value::Duration(crate::cel::time::Duration(0)))
    });
    r.member("indexOf", "list_a_index_of_int", "list(A), A -> int", |a| {
        let l = list_arg(&a, 0)?;
        Ok(Value::Int(
            l.iter().position(|v| v.equals(&a[1])).map(|i| i as i64).unwrap_or(-1),
        ))
    });
    r.member("lastIndexOf", "list_a_last_index_of_int", "list(A), A -> int", |a| {
        let l = list_arg(&a, 0)?;
        let items: Vec<Value<'_>> = l.iter().collect();
        Ok(Value::Int(
            items
                .iter()
                .rposition(|v| v.equals(&a[1]))
                .map(|i| i as i64)
                .unwrap_or(-1),
        ))
    });

    r.member("find", "string_find_string", "string, string -> string", |a| {
        let re = regex(str_arg(&a, 1)?).map_err(|e| format!("Illegal regex: {e}"))?;
        Ok(string(re.find(str_arg(&a, 0)?).map(|m| m.as_str()).unwrap_or("")))
    });
    r.member(
        "findAll",
        "string_find_all_string",
        "string, string -> list(string)",
        |a| find_all(&a, -1),
    );
    r.member(
        "findAll",
        "string_find_all_string_int",
        "string, string, int -> list(string)",
        |a| {
            let n = super::int_arg(&a, 2)?;
            find_all(&a, n)
        },
    );

    r.global(
        "sets.contains",
        "list_sets_contains_list",
        "list(A), list(A) -> bool",
        |a| {
            let (x, y) = (list_arg(&a, 0)?, list_arg(&a, 1)?);
            Ok(Value::Bool(contains_all(x, y)))
        },
    );
    r.global(
        "sets.equivalent",
        "list_sets_equivalent_list",
        "list(A), list(A) -> bool",
        |a| {
            let (x, y) = (list_arg(&a, 0)?, list_arg(&a, 1)?);
            Ok(Value::Bool(contains_all(x, y) && contains_all(y, x)))
        },
    );
    r.global(
        "sets.intersects",
        "list_sets_intersects_list",
        "list(A), list(A) -> bool",
        |a| {
            let (x, y) = (list_arg(&a, 0)?, list_arg(&a, 1)?);
            Ok(Value::Bool(x.iter().any(|v| y.iter().any(|w| v.equals(&w)))))
        },
    );

    optionals(r);

    r.global(
        "cel.@mapInsert",
        "cel_map_insert_key_value",
        "map(K, V), K, V -> map(K, V)",
        |a| {
            let Value::Map(m) = &a[0] else { return nso() };
            insert(m, vec![(a[1].clone(), a[2].clone())])
        },
    );
    r.global(
        "cel.@mapInsert",
        "cel_map_insert_map",
        "map(K, V), map(K, V) -> map(K, V)",
        |a| {
            let (Value::Map(m), Value::Map(u)) = (&a[0], &a[1]) else {
                return nso();
            };
            insert(m, u.entries())
        },
    );
    r.patch_only(|r| {
        r.global(
            "jsonpatch.escapeKey",
            "string_jsonpatch_escapeKey_string",
            "string -> string",
            |a| Ok(string(str_arg(&a, 0)?.replace('~', "~0").replace('/', "~1"))),
        );
    });
}

fn list_arg<'v, 'a>(a: &'v [Value<'a>], i: usize) -> Result<&'v List<'a>, String> {
    match a.get(i) {
        Some(Value::List(l)) => Ok(l),
        _ => nso(),
    }
}

fn cmp(a: &Value<'_>, b: &Value<'_>) -> Result<Ordering, String> {
    a.compare(b).ok_or_else(|| "no such overload".into())
}

fn extreme<'a>(a: &[Value<'a>], op: &str) -> Result<Value<'a>, String> {
    let l = list_arg(a, 0)?;
    let mut best: Option<Value<'a>> = None;
    for v in l.iter() {
        best = Some(match best {
            None => v,
            Some(b) => {
                let c = cmp(&b, &v)?;
                if (op == "max" && c == Ordering::Less) || (op == "min" && c == Ordering::Greater) {
                    v
                } else {
                    b
                }
            }
        });
    }
    best.ok_or_else(|| format!("{op} called on empty list"))
}

fn sum<'a>(a: &[Value<'a>], zero: Value<'a>) -> Result<Value<'a>, String> {
    let mut acc = zero;
    for v in list_arg(a, 0)?.iter() {
        acc = super::stdlib::add(vec![acc, v])?;
    }
    Ok(acc)
}

fn contains_all(x: &List<'_>, y: &List<'_>) -> bool {
    y.iter().all(|w| x.iter().any(|v| v.equals(&w)))
}

fn insert<'a>(m: &Map<'a>, new: Vec<(Value<'a>, Value<'a>)>) -> Result<Value<'a>, String> {
    let mut entries = m.entries();
    for (k, v) in new {
        if entries.iter().any(|(x, _)| x.equals(&k)) {
            return Err(format!("insert failed: key {} already exists", display(&k)));
        }
        entries.push((k, v));
    }
    Ok(Value::Map(Map::Own(Arc::new(entries))))
}

fn find_all<'a>(a: &[Value<'a>], n: i64) -> Result<Value<'a>, String> {
    let re = regex(str_arg(a, 1)?).map_err(|e| format!("Illegal regex: {e}"))?;
    let s = str_arg(a, 0)?;
    let found: Vec<Value<'a>> = if n < 0 {
        re.find_iter(s).map(|m| string(m.as_str())).collect()
    } else {
        re.find_iter(s).take(n as usize).map(|m| string(m.as_str())).collect()
    };
    Ok(list(found))
}

fn optionals(r: &mut Registry) {
    r.global("optional.of", "optional_of", "V -> optional_type(V)", |mut a| {
        Ok(Value::Optional(Some(Box::new(a.remove(0)))))
    });
    r.global(
        "optional.ofNonZeroValue",
        "optional_ofNonZeroValue",
        "V -> optional_type(V)",
        |mut a| {
            let v = a.remove(0);
            Ok(Value::Optional((!v.is_zero()).then(|| Box::new(v))))
        },
    );
    r.global("optional.none", "optional_none", " -> optional_type(V)", |_| {
        Ok(Value::Optional(None))
    });
    r.member("value", "optional_value", "optional_type(V) -> V", |mut a| {
        match a.remove(0) {
            Value::Optional(Some(v)) => Ok(*v),
            Value::Optional(None) => Err("optional.none() dereference".into()),
            _ => nso(),
        }
    });
    r.member(
        "hasValue",
        "optional_hasValue",
        "optional_type(V) -> bool",
        |a| match &a[0] {
            Value::Optional(o) => Ok(Value::Bool(o.is_some())),
            _ => nso(),
        },
    );
    // Short-circuiting: the interpreter evaluates these two itself.
    r.special(
        "or",
        "optional_or_optional",
        true,
        "optional_type(V), optional_type(V) -> optional_type(V)",
    );
    r.special("orValue", "optional_orValue_value", true, "optional_type(V), V -> V");
    r.special(
        "_?._",
        "select_optional_field",
        false,
        "dyn, string -> optional_type(V)",
    );
    for (id, sig) in [
        ("list_optindex_optional_int", "list(V), int -> optional_type(V)"),
        (
            "optional_list_optindex_optional_int",
            "optional_type(list(V)), int -> optional_type(V)",
        ),
        ("map_optindex_optional_value", "map(K, V), K -> optional_type(V)"),
        (
            "optional_map_optindex_optional_value",
            "optional_type(map(K, V)), K -> optional_type(V)",
        ),
    ] {
        r.global("_[?_]", id, sig, |a| opt_index(&a[0], &a[1]));
    }
    for (id, sig) in [
        (
            "optional_list_index_int",
            "optional_type(list(V)), int -> optional_type(V)",
        ),
        (
            "optional_map_index_value",
            "optional_type(map(K, V)), K -> optional_type(V)",
        ),
    ] {
        r.global("_[_]", id, sig, |a| opt_index(&a[0], &a[1]));
    }
    r.member("last", "list_last", "list(V) -> optional_type(V)", |a| {
        let l = list_arg(&a, 0)?;
        Ok(Value::Optional(
            l.len().checked_sub(1).and_then(|i| l.get(i)).map(Box::new),
        ))
    });
    r.member("first", "list_first", "list(V) -> optional_type(V)", |a| {
        let l = list_arg(&a, 0)?;
        Ok(Value::Optional(l.get(0).map(Box::new)))
    });
    r.global(
        "optional.unwrap",
        "optional_unwrap",
        "list(optional_type(V)) -> list(V)",
        unwrap,
    );
    r.member(
        "unwrapOpt",
        "optional_unwrapOpt",
        "list(optional_type(V)) -> list(V)",
        unwrap,
    );
}

fn unwrap<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let l = list_arg(&a, 0)?;
    let mut out = Vec::new();
    for v in l.iter() {
        match v {
            Value::Optional(Some(x)) => out.push(*x),
            Value::Optional(None) => {}
            other => return Err(format!("value {} is not optional", display(&other))),
        }
    }
    Ok(list(out))
}

/// A compiled RE2-syntax pattern (cached per thread). Perl classes (`\d`, `\w`, `\s`, `\b`)
/// are ASCII as in RE2.
pub fn regex(pattern: &str) -> Result<Arc<regex::Regex>, String> {
    thread_local! {
        static CACHE: RefCell<HashMap<String, Arc<regex::Regex>>> = RefCell::new(HashMap::new());
    }
    if let Some(r) = CACHE.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(r);
    }
    let re = regex::RegexBuilder::new(&re2_to_rust(pattern))
        .size_limit(1 << 22)
        .build()
        .map_err(|e| regex_error(pattern, &e))?;
    let re = Arc::new(re);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 512 {
            c.clear();
        }
        c.insert(pattern.to_string(), re.clone());
    });
    Ok(re)
}

fn regex_error(pattern: &str, e: &regex::Error) -> String {
    let detail = e.to_string();
    let why = detail
        .lines()
        .rev()
        .find(|l| l.starts_with("error: "))
        .map(|l| l.trim_start_matches("error: ").to_string())
        .unwrap_or(detail);
    format!("error parsing regexp: {why}: `{pattern}`")
}

/// RE2's ASCII-only Perl classes in Rust's Unicode-aware syntax.
fn re2_to_rust(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut in_class = false;
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = match n {
                    'd' => Some(("0-9", false)),
                    'D' => Some(("0-9", true)),
                    'w' => Some(("0-9A-Za-z_", false)),
                    'W' => Some(("0-9A-Za-z_", true)),
                    's' => Some(("\\t\\n\\f\\r ", false)),
                    'S' => Some(("\\t\\n\\f\\r ", true)),
                    _ => None,
                };
                match (class, in_class) {
                    (Some((set, false)), true) => out.push_str(set),
                    (Some((set, neg)), false) => {
                        out.push('[');
                        if neg {
                            out.push('^');
                        }
                        out.push_str(set);
                        out.push(']');
                    }
                    (Some(_), true) => {
                        out.push('\\');
                        out.push(n);
                    }
                    (None, _) if n == 'b' || n == 'B' => {
                        if in_class {
                            out.push('\\');
                            out.push(n);
                        } else {
                            out.push_str("(?-u:\\");
                            out.push(n);
                            out.push(')');
                        }
                    }
                    (None, _) => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class => {
                if chars.peek() == Some(&':') {
                    out.push('[');
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re2_classes_are_ascii() {
        let re = regex(r"^\d+$").unwrap();
        assert!(re.is_match("123"));
        assert!(!re.is_match("١٢٣"));
        assert!(regex(r"[\w.-]+").unwrap().is_match("a.b-c"));
        assert!(regex("[").unwrap_err().starts_with("error parsing regexp:"));
    }
}
