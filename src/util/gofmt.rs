//! Go's `fmt` `%v` of a decoded JSON value (`map[string]interface{}` and friends), for the
//! few upstream messages that print a client's document that way.

use serde_json::Value;

/// `%v` of what `encoding/json` decodes `v` into: maps with sorted keys (`map[a:1 b:x]`),
/// slices (`[1 2]`), numbers as float64 (`%g`: `3`, `1.5`, `1e+06`), `<nil>` for null.
pub fn value(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write(&m[k], out);
            }
            out.push(']');
        }
    }
}

/// Go's `%v` of a float64: the shortest digits, in exponent form when the decimal exponent is
/// below -4 or at least 6 (with at least two exponent digits).
fn float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: `1.5e6`, `3e0`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    // Plain form: Rust's Display is also shortest and never uses an exponent.
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go() {
        assert_eq!(value(&json!({"spec": {"foo": 3}})), "map[spec:map[foo:3]]");
        assert_eq!(
            value(&json!({"b": [1, "x", null, true], "a": 1.5})),
            "map[a:1.5 b:[1 x <nil> true]]"
        );
        assert_eq!(value(&json!(1000000)), "1e+06");
        assert_eq!(value(&json!(123456)), "123456");
        assert_eq!(value(&json!(0.0001)), "0.0001");
        assert_eq!(value(&json!(0.00001)), "1e-05");
        assert_eq!(value(&json!(-2.5e10)), "-2.5e+10");
    }
}
