//! `metav1.Time` and `metav1.MicroTime` as upstream decodes and encodes them: Go's
//! `time.Parse` with the layouts `2006-01-02T15:04:05Z07:00` (Time) and
//! `2006-01-02T15:04:05.000000Z07:00` (MicroTime), its error texts included, and output in UTC
//! at second (Time) or microsecond (MicroTime) precision, truncated as Go's `Format` does.
//!
//! Go's generic parser is more lenient than RFC 3339 for Time (a one-digit hour, `,` before the
//! fraction, offsets up to ±24:60) and stricter for MicroTime (exactly six fraction digits);
//! both are what a v1.33 server accepts.

/// Which of the two metav1 time types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `metav1.Time`: seconds.
    Seconds,
    /// `metav1.MicroTime`: microseconds, exactly six fraction digits on input.
    Micros,
}

impl Precision {
    fn layout(self) -> &'static str {
        match self {
            Precision::Seconds => "2006-01-02T15:04:05Z07:00",
            Precision::Micros => "2006-01-02T15:04:05.000000Z07:00",
        }
    }
}

/// Seconds from 1970-01-01T00:00:00Z of Go's zero `time.Time` (0001-01-01T00:00:00Z), which
/// metav1 encodes as `null`.
const GO_ZERO_UNIX: i64 = -62_135_596_800;

/// One element of the layout: a literal or a value.
#[derive(Clone, Copy)]
enum Chunk {
    Lit(&'static str),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Frac6,
    Zone,
}

impl Chunk {
    fn text(self) -> &'static str {
        match self {
            Chunk::Lit(s) => s,
            Chunk::Year => "2006",
            Chunk::Month => "01",
            Chunk::Day => "02",
            Chunk::Hour => "15",
            Chunk::Minute => "04",
            Chunk::Second => "05",
            Chunk::Frac6 => ".000000",
            Chunk::Zone => "Z07:00",
        }
    }
}

const TIME_CHUNKS: &[Chunk] = &[
    Chunk::Year,
    Chunk::Lit("-"),
    Chunk::Month,
    Chunk::Lit("-"),
    Chunk::Day,
    Chunk::Lit("T"),
    Chunk::Hour,
    Chunk::Lit(":"),
    Chunk::Minute,
    Chunk::Lit(":"),
    Chunk::Second,
    Chunk::Zone,
];
const MICRO_CHUNKS: &[Chunk] = &[
    Chunk::Year,
    Chunk::Lit("-"),
    Chunk::Month,
    Chunk::Lit("-"),
    Chunk::Day,
    Chunk::Lit("T"),
    Chunk::Hour,
    Chunk::Lit(":"),
    Chunk::Minute,
    Chunk::Lit(":"),
    Chunk::Second,
    Chunk::Frac6,
    Chunk::Zone,
];

/// Parses `value` as Go's `time.Parse(layout, value)` does and returns its canonical JSON
/// form: `None` for Go's zero time (encoded as `null`), else the UTC text.
pub fn canonical(value: &str, p: Precision) -> Result<Option<String>, String> {
    let (secs, nanos) = parse(value, p)?;
    if secs == GO_ZERO_UNIX && nanos == 0 {
        return Ok(None);
    }
    Ok(Some(format(secs, nanos, p)))
}

/// The UTC text of a Unix time at `p`'s precision ([`crate::util::time::format_utc`]).
pub fn format(secs: i64, nanos: u32, p: Precision) -> String {
    crate::util::time::format_utc(secs, nanos, p == Precision::Micros)
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digit(v: &[u8], i: usize) -> bool {
    v.get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `getnum`: one or two digits (two when `fixed`).
fn getnum(v: &[u8], fixed: bool) -> Option<(u32, &[u8])> {
    if !digit(v, 0) {
        return None;
    }
    if !digit(v, 1) {
        return (!fixed).then(|| (u32::from(v[0] - b'0'), &v[1..]));
    }
    Some((u32::from(v[0] - b'0') * 10 + u32::from(v[1] - b'0'), &v[2..]))
}

/// Go's `atoi` (an optional sign, then digits only).
fn atoi(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 18 {
        return None;
    }
    let n: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// Go's `parseNanoseconds`: `value[0]` is `.` or `,`, then `n - 1` digits (at most nine used).
fn nanoseconds(v: &[u8], n: usize) -> Result<u32, Bad> {
    if !matches!(v[0], b'.' | b',') {
        return Err(Bad::Syntax);
    }
    let n = n.min(10);
    let ns = atoi(&v[1..n]).ok_or(Bad::Syntax)?;
    if ns < 0 {
        return Err(Bad::Range("fractional second"));
    }
    Ok((ns * 10i64.pow((10 - n) as u32)) as u32)
}

enum Bad {
    Syntax,
    Range(&'static str),
}

/// Go's `quote` of the time package: `"` and `\` escaped, other bytes outside printable ASCII
/// as `\xNN`.
fn quote(v: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in v {
        if !(b' '..0x80).contains(&b) {
            out.push_str(&format!("\\x{b:02x}"));
        } else {
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(b as char);
        }
    }
    out.push('"');
    out
}

/// Go's `time.Parse` for the two metav1 layouts: Unix seconds and nanoseconds, or Go's error.
pub fn parse(value: &str, p: Precision) -> Result<(i64, u32), String> {
    let layout = p.layout();
    let whole = value.as_bytes();
    let cannot = |elem: &[u8], layout_elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            quote(whole),
            quote(layout.as_bytes()),
            quote(elem),
            quote(layout_elem.as_bytes())
        )
    };
    let range = |what: &str| format!("parsing time {}: {what} out of range", quote(whole));
    let chunks = match p {
        Precision::Seconds => TIME_CHUNKS,
        Precision::Micros => MICRO_CHUNKS,
    };
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nsec) =
        (0i64, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32);
    let mut offset: i64 = 0;
    let mut v = whole;
    for (i, &chunk) in chunks.iter().enumerate() {
        if let Chunk::Lit(lit) = chunk {
            match v.strip_prefix(lit.as_bytes()) {
                Some(rest) => v = rest,
                None => return Err(cannot(v, lit)),
            }
            continue;
        }
        let hold = v;
        let step: Result<&[u8], Bad> = (|| match chunk {
            Chunk::Year => {
                if v.len() < 4 || !digit(v, 0) {
                    return Err(Bad::Syntax);
                }
                year = atoi(&v[..4]).ok_or(Bad::Syntax)?;
                Ok(&v[4..])
            }
            Chunk::Month => {
                let (n, rest) = getnum(v, true).ok_or(Bad::Syntax)?;
                if !(1..=12).contains(&n) {
                    return Err(Bad::Range("month"));
                }
                month = n;
                Ok(rest)
            }
            Chunk::Day => {
                let (n, rest) = getnum(v, true).ok_or(Bad::Syntax)?;
                day = n;
                Ok(rest)
            }
            Chunk::Hour => {
                let (n, rest) = getnum(v, false).ok_or(Bad::Syntax)?;
                if n >= 24 {
                    return Err(Bad::Range("hour"));
                }
                hour = n;
                Ok(rest)
            }
            Chunk::Minute => {
                let (n, rest) = getnum(v, true).ok_or(Bad::Syntax)?;
                if n >= 60 {
                    return Err(Bad::Range("minute"));
                }
                min = n;
                Ok(rest)
            }
            Chunk::Second => {
                let (n, mut rest) = getnum(v, true).ok_or(Bad::Syntax)?;
                if n >= 60 {
                    return Err(Bad::Range("second"));
                }
                sec = n;
                // A fraction the layout does not name is taken anyway (Time only: MicroTime's
                // layout names its own).
                let layout_has_fraction = matches!(chunks.get(i + 1), Some(Chunk::Frac6));
                if !layout_has_fraction && rest.len() >= 2 && matches!(rest[0], b'.' | b',') && digit(rest, 1) {
                    let mut n = 2;
                    while digit(rest, n) {
                        n += 1;
                    }
                    nsec = nanoseconds(rest, n)?;
                    rest = &rest[n..];
                }
                Ok(rest)
            }
            Chunk::Frac6 => {
                if v.len() < 7 {
                    return Err(Bad::Syntax);
                }
                nsec = nanoseconds(v, 7)?;
                Ok(&v[7..])
            }
            Chunk::Zone => {
                if v.first() == Some(&b'Z') {
                    return Ok(&v[1..]);
                }
                if v.len() < 6 || v[3] != b':' {
                    return Err(Bad::Syntax);
                }
                let hr = getnum(&v[1..3], true).map(|(n, _)| n);
                let mm = hr.and_then(|_| getnum(&v[4..6], true).map(|(n, _)| n));
                let (h, m) = (hr.unwrap_or(0), mm.unwrap_or(0));
                // Go checks the ranges before the syntax (`>`: some write offsets of 24 h).
                if m > 60 {
                    return Err(Bad::Range("time zone offset minute"));
                }
                if h > 24 {
                    return Err(Bad::Range("time zone offset hour"));
                }
                if hr.is_none() || mm.is_none() {
                    return Err(Bad::Syntax);
                }
                offset = i64::from((h * 60 + m) * 60);
                match v[0] {
                    b'+' => {}
                    b'-' => offset = -offset,
                    _ => return Err(Bad::Syntax),
                }
                Ok(&v[6..])
            }
            Chunk::Lit(_) => Ok(v),
        })();
        match step {
            Ok(rest) => v = rest,
            Err(Bad::Range(what)) => return Err(range(what)),
            Err(Bad::Syntax) => return Err(cannot(hold, chunk.text())),
        }
    }
    if !v.is_empty() {
        return Err(format!("parsing time {}: extra text: {}", quote(whole), quote(v)));
    }
    if day < 1 || day > days_in(month, year) {
        return Err(range("day"));
    }
    let secs = crate::util::time::days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + min * 60 + sec)
        - offset;
    Ok((secs, nsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Result<Option<String>, String> {
        canonical(s, Precision::Seconds)
    }
    fn m(s: &str) -> Result<Option<String>, String> {
        canonical(s, Precision::Micros)
    }
    fn ok(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    /// Each case as a v1.33 server answered it (Time via `metadata.creationTimestamp` of a
    /// ConfigMap, MicroTime via a Lease's `spec.acquireTime`).
    #[test]
    fn time_accepts_what_go_accepts_and_prints_utc_seconds() {
        assert_eq!(t("2026-12-06T02:26:10+00:00"), Ok(ok("2026-12-06T02:26:10Z")));
        assert_eq!(t("2026-12-06T02:26:10.987654321+02:00"), Ok(ok("2026-12-06T00:26:10Z")));
        assert_eq!(t("2026-12-06T02:26:10.5Z"), Ok(ok("2026-12-06T02:26:10Z")));
        assert_eq!(t("2026-12-06T2:26:10Z"), Ok(ok("2026-12-06T02:26:10Z")));
        assert_eq!(t("2026-12-06T02:26:10,5Z"), Ok(ok("2026-12-06T02:26:10Z")));
        assert_eq!(t("2026-12-06T02:26:10+23:59"), Ok(ok("2026-12-05T02:27:10Z")));
        assert_eq!(t("2026-01-01T00:30:00+01:00"), Ok(ok("2025-12-31T23:30:00Z")));
        assert_eq!(t("2024-02-29T12:00:00-05:30"), Ok(ok("2024-02-29T17:30:00Z")));
        assert_eq!(t("0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(t("0001-01-01T01:00:00+01:00"), Ok(None));
        assert_eq!(t("9999-12-31T23:59:59-01:00"), Ok(ok("10000-01-01T00:59:59Z")));
    }

    #[test]
    fn time_errors_are_gos() {
        let lay = "\"2006-01-02T15:04:05Z07:00\"";
        assert_eq!(
            t("garbage"),
            Err(format!(
                "parsing time \"garbage\" as {lay}: cannot parse \"garbage\" as \"2006\""
            ))
        );
        assert_eq!(
            t(""),
            Err(format!("parsing time \"\" as {lay}: cannot parse \"\" as \"2006\""))
        );
        assert_eq!(
            t("2026-12-06 02:26:10Z"),
            Err(format!(
                "parsing time \"2026-12-06 02:26:10Z\" as {lay}: cannot parse \" 02:26:10Z\" as \"T\""
            ))
        );
        assert_eq!(
            t("2026-12-06t02:26:10z"),
            Err(format!(
                "parsing time \"2026-12-06t02:26:10z\" as {lay}: cannot parse \"t02:26:10z\" as \"T\""
            ))
        );
        assert_eq!(
            t("2026-13-06T02:26:10Z"),
            Err("parsing time \"2026-13-06T02:26:10Z\": month out of range".into())
        );
        assert_eq!(
            t("2026-02-30T02:26:10Z"),
            Err("parsing time \"2026-02-30T02:26:10Z\": day out of range".into())
        );
        assert_eq!(
            t("2026-12-06T02:26:10Zjunk"),
            Err("parsing time \"2026-12-06T02:26:10Zjunk\": extra text: \"junk\"".into())
        );
        assert_eq!(
            t("2026-12-06T02:26:10+25:00"),
            Err("parsing time \"2026-12-06T02:26:10+25:00\": time zone offset hour out of range".into())
        );
        assert_eq!(
            t("2026-12-06T02:26:10.Z"),
            Err(format!(
                "parsing time \"2026-12-06T02:26:10.Z\" as {lay}: cannot parse \".Z\" as \"Z07:00\""
            ))
        );
        assert_eq!(
            t("2026-12-06T02:26:10+0000"),
            Err(format!(
                "parsing time \"2026-12-06T02:26:10+0000\" as {lay}: cannot parse \"+0000\" as \"Z07:00\""
            ))
        );
        assert_eq!(
            t("2026-12-06T02:26:60Z"),
            Err("parsing time \"2026-12-06T02:26:60Z\": second out of range".into())
        );
        assert_eq!(
            t("2026-12-06T24:00:00Z"),
            Err("parsing time \"2026-12-06T24:00:00Z\": hour out of range".into())
        );
        assert_eq!(
            t("-001-12-06T02:26:10Z"),
            Err(format!(
                "parsing time \"-001-12-06T02:26:10Z\" as {lay}: cannot parse \"-001-12-06T02:26:10Z\" as \"2006\""
            ))
        );
        assert_eq!(
            t("2026-1-06T02:26:10Z"),
            Err(format!(
                "parsing time \"2026-1-06T02:26:10Z\" as {lay}: cannot parse \"1-06T02:26:10Z\" as \"01\""
            ))
        );
        assert_eq!(
            t("2026-12-06T02:06:1Z"),
            Err(format!(
                "parsing time \"2026-12-06T02:06:1Z\" as {lay}: cannot parse \"1Z\" as \"05\""
            ))
        );
        // Multi-byte input never splits a character (Go quotes the bytes).
        assert_eq!(
            t("2026-12-06T02:26:10é"),
            Err(format!(
                "parsing time \"2026-12-06T02:26:10\\xc3\\xa9\" as {lay}: cannot parse \"\\xc3\\xa9\" as \"Z07:00\""
            ))
        );
    }

    #[test]
    fn micro_time_needs_six_fraction_digits() {
        let lay = "\"2006-01-02T15:04:05.000000Z07:00\"";
        assert_eq!(
            m("2026-12-06T02:26:10.123456+00:00"),
            Ok(ok("2026-12-06T02:26:10.123456Z"))
        );
        assert_eq!(
            m("2026-12-06T02:26:10.999999-05:30"),
            Ok(ok("2026-12-06T07:56:10.999999Z"))
        );
        assert_eq!(m("2026-12-06T2:26:10.123456Z"), Ok(ok("2026-12-06T02:26:10.123456Z")));
        assert_eq!(m("2026-12-06T02:26:10,123456Z"), Ok(ok("2026-12-06T02:26:10.123456Z")));
        assert_eq!(m("0001-01-01T00:00:00.000000Z"), Ok(None));
        assert_eq!(
            m("2026-12-06T02:26:10+00:00"),
            Err(format!(
                "parsing time \"2026-12-06T02:26:10+00:00\" as {lay}: cannot parse \"+00:00\" as \".000000\""
            ))
        );
        assert_eq!(
            m("2026-12-06T02:26:10.987654321+02:00"),
            Err(format!(
                "parsing time \"2026-12-06T02:26:10.987654321+02:00\" as {lay}: cannot parse \"321+02:00\" as \"Z07:00\""
            ))
        );
        assert_eq!(
            m("2026-12-06T02:26:10.5Z"),
            Err(format!(
                "parsing time \"2026-12-06T02:26:10.5Z\" as {lay}: cannot parse \".5Z\" as \".000000\""
            ))
        );
    }

    #[test]
    fn format_round_trips_the_epoch_range() {
        for secs in [0i64, 1, 86_399, 951_782_400, 1_796_530_000, GO_ZERO_UNIX + 1, -1] {
            let s = format(secs, 0, Precision::Seconds);
            assert_eq!(parse(&s, Precision::Seconds), Ok((secs, 0)), "{s}");
        }
        assert_eq!(
            format(-1, 500_000_000, Precision::Micros),
            "1969-12-31T23:59:59.500000Z"
        );
    }
}
