//! Resource quantities as exact integers of milli-units, for quota and limit arithmetic
//! (`100m` = 100, `1` = 1000, `1Gi` = 1073741824000); parsing is upstream's
//! ([`crate::api::typed::quantity`]).

use serde_json::Value;

/// Parse a quantity string (or JSON number) into milli-units.
pub fn parse(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n.as_i64().map(|i| i128::from(i) * 1000),
        Value::String(s) => parse_str(s),
        _ => None,
    }
}

/// The value of a quantity string in milli-units, rounded up (upstream's `MilliValue`).
pub fn parse_str(s: &str) -> Option<i128> {
    crate::api::typed::quantity::Quantity::parse(s.trim()).ok()?.milli()
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
