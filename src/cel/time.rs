//! CEL `timestamp` and `duration` values with Go's text forms: RFC 3339 (`RFC3339Nano` on
//! output), Go duration strings (`1h2m3.5s`) on input and seconds (`3723.5s`) on output, and
//! time zones as UTC, fixed offsets (`+05:30`) or IANA names read from the system's zoneinfo.

use std::fmt;

/// Seconds from 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range CEL allows.
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s[..n].iter().fold(0, |a, c| a * 10 + u32::from(c - b'0')))
}

impl Timestamp {
    pub fn new(secs: i64, nanos: u32) -> Result<Timestamp, String> {
        if !(MIN_SECS..=MAX_SECS).contains(&secs) {
            return Err("timestamp overflow".into());
        }
        Ok(Timestamp { secs, nanos })
    }

    /// RFC 3339 as Go's `time.Parse(time.RFC3339, s)` reads it.
    pub fn parse(s: &str) -> Result<Timestamp, String> {
        let err = || format!("parsing time \"{s}\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"{s}\" as \"2006\"");
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(err());
        }
        let y = digits(b, 4).ok_or_else(err)?;
        let mo = digits(&b[5..], 2).ok_or_else(err)?;
        let d = digits(&b[8..], 2).ok_or_else(err)?;
        let h = digits(&b[11..], 2).ok_or_else(err)?;
        let mi = digits(&b[14..], 2).ok_or_else(err)?;
        let se = digits(&b[17..], 2).ok_or_else(err)?;
        if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(i64::from(y), mo) || h > 23 || mi > 59 || se > 59 {
            return Err(format!("parsing time \"{s}\": day out of range"));
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &s[start..i];
            if frac.is_empty() {
                return Err(err());
            }
            let mut f = frac.to_string();
            f.truncate(9);
            while f.len() < 9 {
                f.push('0');
            }
            nanos = f.parse().map_err(|_| err())?;
        }
        let offset = match b.get(i) {
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
            Some(c @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
                let oh = digits(&b[i + 1..], 2).ok_or_else(err)? as i64;
                let om = digits(&b[i + 4..], 2).ok_or_else(err)? as i64;
                let o = oh * 3600 + om * 60;
                if *c == b'-' {
                    -o
                } else {
                    o
                }
            }
            _ => return Err(err()),
        };
        let days = days_from_civil(i64::from(y), mo, d);
        let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se) - offset;
        Timestamp::new(secs, nanos)
    }

    /// `date` format (`2006-01-02`).
    pub fn parse_date(s: &str) -> Result<Timestamp, String> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(format!("invalid date {s:?}"));
        }
        let (y, m, d) = (
            digits(b, 4).ok_or("bad date")?,
            digits(&b[5..], 2).ok_or("bad date")?,
            digits(&b[8..], 2).ok_or("bad date")?,
        );
        Timestamp::new(days_from_civil(i64::from(y), m, d) * 86_400, 0)
    }

    pub fn from_unix(secs: i64) -> Result<Timestamp, String> {
        Timestamp::new(secs, 0)
    }

    pub fn add(&self, d: Duration) -> Result<Timestamp, String> {
        let total = i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos) + i128::from(d.0);
        let secs = total.div_euclid(1_000_000_000);
        let nanos = total.rem_euclid(1_000_000_000) as u32;
        i64::try_from(secs)
            .map_err(|_| "timestamp overflow".to_string())
            .and_then(|s| Timestamp::new(s, nanos))
    }

    pub fn sub(&self, o: &Timestamp) -> Result<Duration, String> {
        let a = i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos);
        let b = i128::from(o.secs) * 1_000_000_000 + i128::from(o.nanos);
        i64::try_from(a - b)
            .map(Duration)
            .map_err(|_| "duration overflow".to_string())
    }

    /// (year, month, day, hour, minute, second, day of week 0=Sunday, day of year 0-based) at
    /// `offset` seconds east of UTC.
    pub fn civil(&self, offset: i64) -> (i64, u32, u32, u32, u32, u32, u32, u32) {
        let s = self.secs + offset;
        let days = s.div_euclid(86_400);
        let (y, m, d) = crate::util::time::civil_from_days(days);
        let rem = s.rem_euclid(86_400) as u32;
        let dow = (days + 4).rem_euclid(7) as u32;
        let doy = (days - days_from_civil(y, 1, 1)) as u32;
        (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, dow, doy)
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Timestamp {
    /// Go's `RFC3339Nano` in UTC (trailing zeros of the fraction dropped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, h, mi, s, ..) = self.civil(0);
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

impl Duration {
    /// Go's `time.ParseDuration`.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let err = || format!("time: invalid duration \"{s}\"");
        let mut rest = s;
        let neg = if let Some(r) = rest.strip_prefix('-') {
            rest = r;
            true
        } else {
            rest = rest.strip_prefix('+').unwrap_or(rest);
            false
        };
        if rest == "0" {
            return Ok(Duration(0));
        }
        if rest.is_empty() {
            return Err(err());
        }
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let num = &rest[..num_end];
            if num.is_empty() || num == "." {
                return Err(err());
            }
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            let scale: i128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "" => return Err(format!("time: missing unit in duration \"{s}\"")),
                u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
            };
            let (int, frac) = num.split_once('.').unwrap_or((num, ""));
            let iv: i128 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| err())?
            };
            let mut v = iv.checked_mul(scale).ok_or_else(err)?;
            let mut sc = scale;
            for c in frac.chars() {
                sc /= 10;
                v += i128::from(c.to_digit(10).ok_or_else(err)?) * sc;
            }
            total = total.checked_add(v).ok_or_else(err)?;
            if total > i128::from(i64::MAX) + 1 {
                return Err(err());
            }
        }
        let total = if neg { -total } else { total };
        i64::try_from(total).map(Duration).map_err(|_| err())
    }

    pub fn checked_add(self, o: Duration) -> Result<Duration, String> {
        self.0
            .checked_add(o.0)
            .map(Duration)
            .ok_or_else(|| "duration overflow".to_string())
    }
    pub fn checked_sub(self, o: Duration) -> Result<Duration, String> {
        self.0
            .checked_sub(o.0)
            .map(Duration)
            .ok_or_else(|| "duration overflow".to_string())
    }
    pub fn checked_neg(self) -> Result<Duration, String> {
        self.0
            .checked_neg()
            .map(Duration)
            .ok_or_else(|| "duration overflow".to_string())
    }
}

impl fmt::Display for Duration {
    /// CEL's `string(duration)`: seconds, shortest form, `s` suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let n = i128::from(self.0).unsigned_abs();
        let (s, ns) = (n / 1_000_000_000, n % 1_000_000_000);
        if neg {
            f.write_str("-")?;
        }
        if ns == 0 {
            write!(f, "{s}s")
        } else {
            let frac = format!("{ns:09}");
            write!(f, "{s}.{}s", frac.trim_end_matches('0'))
        }
    }
}

/// The offset (seconds east of UTC) of time zone `tz` at `t`: `UTC`, `+HH:MM`/`-HH:MM`, or an
/// IANA name from the system zoneinfo.
pub fn zone_offset(tz: &str, t: &Timestamp) -> Result<i64, String> {
    if tz.is_empty() || tz == "UTC" || tz == "Z" {
        return Ok(0);
    }
    let b = tz.as_bytes();
    if matches!(b[0], b'+' | b'-') && b.len() == 6 && b[3] == b':' {
        let h = digits(&b[1..], 2).ok_or("invalid tz")?;
        let m = digits(&b[4..], 2).ok_or("invalid tz")?;
        let o = i64::from(h) * 3600 + i64::from(m) * 60;
        return Ok(if b[0] == b'-' { -o } else { o });
    }
    if tz.contains("..") || tz.starts_with('/') {
        return Err(format!("unknown time zone {tz}"));
    }
    let data = std::fs::read(format!("/usr/share/zoneinfo/{tz}")).map_err(|_| format!("unknown time zone {tz}"))?;
    tzif_offset(&data, t.secs).ok_or_else(|| format!("unknown time zone {tz}"))
}

/// The UTC offset at `secs` from a TZif file (the 64-bit block when present).
fn tzif_offset(d: &[u8], secs: i64) -> Option<i64> {
    if d.len() < 44 || &d[..4] != b"TZif" {
        return None;
    }
    let be32 = |o: usize| -> Option<u32> { Some(u32::from_be_bytes(d.get(o..o + 4)?.try_into().ok()?)) };
    let counts = |o: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = be32(o + 20 + 4 * i)? as usize;
        }
        Some(c)
    };
    let c1 = counts(0)?;
    let v1_len = c1[3] * 5 + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0];
    let (base, c, tsize) = if d[4] >= b'2' {
        let o = 44 + v1_len;
        (o, counts(o)?, 8)
    } else {
        (0, c1, 4)
    };
    let [_isutc, _isstd, leap, timecnt, typecnt, _charcnt] = c;
    let times = base + 44;
    let idx = times + timecnt * tsize;
    let types = idx + timecnt;
    let _ = leap;
    let read_time = |i: usize| -> Option<i64> {
        let o = times + i * tsize;
        if tsize == 8 {
            Some(i64::from_be_bytes(d.get(o..o + 8)?.try_into().ok()?))
        } else {
            Some(i64::from(i32::from_be_bytes(d.get(o..o + 4)?.try_into().ok()?)))
        }
    };
    let ttinfo = |k: usize| -> Option<i64> {
        let o = types + k * 6;
        Some(i64::from(i32::from_be_bytes(d.get(o..o + 4)?.try_into().ok()?)))
    };
    if typecnt == 0 {
        return None;
    }
    let mut k = 0usize;
    for i in 0..timecnt {
        if read_time(i)? > secs {
            break;
        }
        k = *d.get(idx + i)? as usize;
    }
    ttinfo(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_and_print_like_go() {
        let t = Timestamp::parse("2023-11-14T22:13:20Z").unwrap();
        assert_eq!(t.secs, 1_700_000_000);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20Z");
        let t = Timestamp::parse("2023-11-14T23:13:20.5+01:00").unwrap();
        assert_eq!((t.secs, t.nanos), (1_700_000_000, 500_000_000));
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.5Z");
        assert!(Timestamp::parse("2023-13-01T00:00:00Z").is_err());
        assert!(Timestamp::parse("nope").is_err());
        assert_eq!(Timestamp::parse("0001-01-01T00:00:00Z").unwrap().secs, MIN_SECS);
    }

    #[test]
    fn durations_parse_and_print_like_go() {
        assert_eq!(Duration::parse("1h2m3.5s").unwrap().0, 3_723_500_000_000);
        assert_eq!(Duration::parse("-1.5h").unwrap().0, -5_400_000_000_000);
        assert_eq!(Duration::parse("300ms").unwrap().to_string(), "0.3s");
        assert_eq!(Duration::parse("1h").unwrap().to_string(), "3600s");
        assert!(Duration::parse("1x").is_err());
        assert!(Duration::parse("").is_err());
    }

    #[test]
    fn civil_fields() {
        let t = Timestamp::parse("2024-03-01T10:20:30Z").unwrap();
        let (y, m, d, h, mi, s, dow, doy) = t.civil(0);
        assert_eq!((y, m, d, h, mi, s, dow, doy), (2024, 3, 1, 10, 20, 30, 5, 60));
        assert_eq!(zone_offset("+05:30", &t).unwrap(), 19_800);
    }
}
