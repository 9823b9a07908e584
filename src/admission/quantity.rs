//! Resource quantities as exact integers of milli-units, for quota and limit arithmetic
//! (`100m` = 100, `1` = 1000, `1Gi` = 1073741824000).

use serde_json::Value;

/// Parse a quantity string (or JSON number) into milli-units.
pub fn parse(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n.as_i64().map(|i| i128::from(i) * 1000),
        Value::String(s) => parse_str(s),
        _ => None,
    }
}

pub fn parse_str(s: &str) -> Option<i128> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (neg, num) = match num.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Value in units of 10^-9 (nano) to keep `n`/`u` exact before rounding up to milli.
    let (mul_num, mul_exp10): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        e if e.starts_with(['e', 'E']) => (1, e[1..].parse().ok()?),
        _ => return None,
    };
    let digits = format!("{int}{frac}");
    let mut n: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    let mut exp = mul_exp10 - frac.len() as i32 + 3; // to milli
    n = n.checked_mul(mul_num)?;
    while exp > 0 {
        n = n.checked_mul(10)?;
        exp -= 1;
    }
    while exp < 0 {
        // Round up, as upstream's MilliValue does.
        n = n / 10 + i128::from(n % 10 != 0);
        exp += 1;
    }
    Some(if neg { -n } else { n })
}

/// Canonical text for milli-units: `500m`, `2`, `1Gi` (binary when it divides evenly).
pub fn format(milli: i128) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let n = milli / 1000;
    if n != 0 {
        for (suf, shift) in [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
            let unit = 1i128 << shift;
            if n % unit == 0 && n.abs() >= unit {
                return format!("{}{suf}", n / unit);
            }
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_str("100m"), Some(100));
        assert_eq!(parse_str("1"), Some(1000));
        assert_eq!(parse_str("0.5"), Some(500));
        assert_eq!(parse_str("1Gi"), Some(1_073_741_824_000));
        assert_eq!(parse_str("1k"), Some(1_000_000));
        assert_eq!(parse_str("1e3"), Some(1_000_000));
        assert_eq!(parse_str("1n"), Some(1));
        assert_eq!(parse_str("abc"), None);
        assert_eq!(format(100), "100m");
        assert_eq!(format(2000), "2");
        assert_eq!(format(1_073_741_824_000), "1Gi");
        assert_eq!(format(0), "0");
    }
}
