//! `resource.Quantity` as upstream parses and re-serialises it (apimachinery
//! `pkg/api/resource`): the value is exact (a decimal of any size), the text is the canonical
//! form (`1000m` → `1`, `1024Mi` → `1Gi`, `1.5` → `1500m`) unless the client's text already was
//! canonical enough for Go to keep it (`1500m`, `100Ki`, `1e3`, even `01` and `+1`), and
//! `ResourceList` defaulting rounds up to milli-units (`100u` → `1m`).

/// How a quantity prints (Go's `Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// Go's parse errors, word for word.
pub const ERR_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
pub const ERR_SUFFIX: &str = "unable to parse quantity's suffix";
pub const ERR_NUMERIC: &str = "unable to parse numeric part of quantity";

/// An exact decimal: `digits × 10^exp`, digits in ASCII without leading zeros (empty = 0).
#[derive(Debug, Clone, PartialEq)]
struct Dec {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Dec {
    fn new(neg: bool, digits: &[u8], exp: i64) -> Dec {
        let start = digits.iter().position(|&d| d != b'0').unwrap_or(digits.len());
        Dec {
            neg,
            digits: digits[start..].to_vec(),
            exp,
        }
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// `self × 2^k`.
    fn mul_pow2(&mut self, k: u32) {
        for _ in 0..k {
            let mut carry = 0;
            for d in self.digits.iter_mut().rev() {
                let v = (*d - b'0') * 2 + carry;
                *d = b'0' + v % 10;
                carry = v / 10;
            }
            if carry > 0 {
                self.digits.insert(0, b'0' + carry);
            }
        }
    }

    /// Rounds the magnitude up (away from zero) to a multiple of `10^min_exp`.
    fn round_up(&mut self, min_exp: i64) {
        if self.exp >= min_exp || self.is_zero() {
            return;
        }
        let drop = min_exp - self.exp;
        self.exp = min_exp;
        if drop >= self.digits.len() as i64 {
            self.digits = vec![b'1'];
            return;
        }
        let keep = self.digits.len() - drop as usize;
        let inexact = self.digits[keep..].iter().any(|&d| d != b'0');
        self.digits.truncate(keep);
        if inexact {
            let mut i = self.digits.len();
            loop {
                if i == 0 {
                    self.digits.insert(0, b'1');
                    break;
                }
                i -= 1;
                if self.digits[i] == b'9' {
                    self.digits[i] = b'0';
                } else {
                    self.digits[i] += 1;
                    break;
                }
            }
        }
    }

    /// The magnitude's integer part when it fits a u128, and whether a fraction remains.
    fn integer(&self) -> Option<(u128, bool)> {
        let (int, frac): (&[u8], &[u8]) = if self.exp >= 0 {
            (&self.digits, &[])
        } else {
            let cut = self.digits.len().saturating_sub((-self.exp) as usize);
            self.digits.split_at(cut)
        };
        let zeros = self.exp.max(0) as usize;
        if int.len() + zeros > 38 {
            return None;
        }
        let mut n: u128 = 0;
        for &d in int {
            n = n * 10 + u128::from(d - b'0');
        }
        for _ in 0..zeros {
            n *= 10;
        }
        Some((n, frac.iter().any(|&d| d != b'0')))
    }

    /// Whether the magnitude is below `n`.
    fn below(&self, n: u128) -> bool {
        match self.integer() {
            Some((i, _)) => i < n,
            None => false,
        }
    }

    /// Whether the magnitude exceeds `n`.
    fn above(&self, n: u128) -> bool {
        match self.integer() {
            Some((i, frac)) => i > n || (i == n && frac),
            None => true,
        }
    }
}

/// A parsed quantity: its exact value, its format, and the client's text when Go keeps it.
#[derive(Debug, Clone)]
pub struct Quantity {
    value: Dec,
    format: Format,
    /// The client's text when it was in canonical form (Go's cached `s`).
    text: Option<String>,
}

/// Go's `parseQuantityString`: (positive, value, num, denom, suffix).
fn split(s: &str) -> Result<(bool, &str, &str, &str, &str), &'static str> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok((positive, "0", "0", "", ""));
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos >= end {
        return Ok((positive, s, &s[num_start..], "", ""));
    }
    let num = if pos == num_start { "0" } else { &s[num_start..pos] };
    let mut denom = "";
    if b[pos] == b'.' {
        pos += 1;
        let d_start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[d_start..pos];
        if pos >= end {
            return Ok((positive, s, num, denom, ""));
        }
    }
    let value = &s[..pos];
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && matches!(b[pos], b'-' | b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(ERR_FORMAT);
    }
    Ok((positive, value, num, denom, &s[suffix_start..]))
}

/// Go's suffixer: (base, exponent, format).
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSI));
    let bin = |e| Some((2, e, Format::BinarySI));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        s if s.len() > 1 && s.starts_with(['e', 'E']) => {
            // Go parses 64 bits and keeps the low 32.
            let e: i64 = s[1..].parse().ok()?;
            Some((10, e as i32, Format::DecimalExponent))
        }
        _ => None,
    }
}

const MAX_INT64: u128 = i64::MAX as u128;

impl Quantity {
    /// Go's `ParseQuantity` (after `UnmarshalJSON`'s `TrimSpace`).
    pub fn parse(s: &str) -> Result<Quantity, &'static str> {
        if s.is_empty() {
            return Err(ERR_FORMAT);
        }
        if s == "0" {
            return Ok(Quantity {
                value: Dec::new(false, b"", 0),
                format: Format::DecimalSI,
                text: Some(s.to_string()),
            });
        }
        let (positive, value, num, denom, suffix) = split(s)?;
        let (base, exponent, format) = interpret(suffix).ok_or(ERR_SUFFIX)?;
        // (scale, log2 of the binary multiplier, digits of precision left in an int64)
        let (mut scale, shift, precision): (i64, u32, i64) = match format {
            Format::BinarySI if denom.is_empty() => (
                0,
                exponent as u32,
                15 - num.len() as i64 - (exponent as f32 * 3.0 / 10.0) as i64 - 1,
            ),
            Format::BinarySI => (0, 0, -1),
            _ => (i64::from(exponent), 0, 18 - (num.len() + denom.len()) as i64),
        };
        // Go's int64 fast path: exact, and it keeps the client's text when it is canonical.
        if precision >= 0 {
            scale -= denom.len() as i64;
            if scale >= -9 {
                let shifted = format!("{num}{denom}");
                let v: i64 = shifted.parse().map_err(|_| ERR_NUMERIC)?;
                if let Some(result) = v.checked_mul(1i64 << shift) {
                    let keep = match format {
                        Format::BinarySI => v & 7 != 0,
                        _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
                    };
                    return Ok(Quantity {
                        value: Dec::new(!positive, result.to_string().as_bytes(), scale),
                        format,
                        text: keep.then(|| s.to_string()),
                    });
                }
            }
        }
        // Arbitrary precision: rounded up to nano-units, binary capped at 2^63-1.
        if !value.bytes().any(|c| c.is_ascii_digit()) {
            return Err(ERR_NUMERIC);
        }
        let mut d = Dec::new(!positive, format!("{num}{denom}").as_bytes(), -(denom.len() as i64));
        if base == 10 {
            d.exp += i64::from(exponent);
        } else {
            d.mul_pow2(exponent as u32);
        }
        d.round_up(-9);
        let mut format = format;
        if format == Format::BinarySI {
            if d.above(MAX_INT64) {
                d = Dec::new(d.neg, MAX_INT64.to_string().as_bytes(), 0);
            }
            if !d.is_zero() && d.below(1) {
                format = Format::DecimalSI;
            }
        }
        Ok(Quantity {
            value: d,
            format,
            text: None,
        })
    }

    /// `SetDefaults_ResourceList`: `RoundUp(-3)` (the client's text goes when it changes scale).
    pub fn round_up_to_milli(&mut self) {
        if self.value.exp < -3 {
            self.text = None;
            self.value.round_up(-3);
        }
    }

    /// Go's `Quantity.String()`.
    pub fn text(&self) -> String {
        match &self.text {
            Some(t) => t.clone(),
            None => self.canonical(),
        }
    }

    /// Go's `CanonicalizeBytes`.
    fn canonical(&self) -> String {
        let v = &self.value;
        if v.is_zero() {
            return "0".into();
        }
        let sign = if v.neg { "-" } else { "" };
        let mut format = self.format;
        if format == Format::BinarySI {
            match v.integer() {
                Some((n, false)) if (1024..=MAX_INT64).contains(&n) => {
                    let (mut n, mut k) = (n, 0);
                    while n >= 1024 && n % 1024 == 0 {
                        n /= 1024;
                        k += 1;
                    }
                    let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(k).copied().unwrap_or("");
                    return format!("{sign}{n}{suffix}");
                }
                _ => format = Format::DecimalSI,
            }
        }
        let mut digits = v.digits.clone();
        let mut exp = v.exp;
        while digits.len() > 1 && digits.last() == Some(&b'0') {
            digits.pop();
            exp += 1;
        }
        while exp % 3 != 0 {
            digits.push(b'0');
            exp -= 1;
        }
        let suffix = match format {
            Format::DecimalExponent if exp == 0 => String::new(),
            Format::DecimalExponent => format!("e{exp}"),
            // Go finds no suffix beyond E (10^18) and prints none.
            _ => match exp {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                18 => "E",
                _ => "",
            }
            .to_string(),
        };
        format!("{sign}{}{suffix}", String::from_utf8_lossy(&digits))
    }

    /// The value in milli-units when it fits an i128 (quota and limit arithmetic), rounded up.
    pub fn milli(&self) -> Option<i128> {
        let mut d = self.value.clone();
        d.round_up(-3);
        d.exp += 3;
        let (n, _) = d.integer()?;
        let n = i128::try_from(n).ok()?;
        Some(if d.neg { -n } else { n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> Result<String, &'static str> {
        Quantity::parse(s).map(|q| q.text())
    }
    fn listed(s: &str) -> String {
        let mut q = Quantity::parse(s).unwrap();
        q.round_up_to_milli();
        q.text()
    }

    /// Each case as a v1.33 server stored it (`ResourceQuota.spec.hard`, a ResourceList, so the
    /// milli rounding applies), plus the plain parse where the two differ.
    #[test]
    fn canonical_forms_match_upstream() {
        for (input, want) in [
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("1.5", "1500m"),
            ("0.5", "500m"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("2000000", "2M"),
            ("1e3", "1e3"),
            ("1E3", "1E3"),
            ("1e2", "100"),
            ("10e3", "10e3"),
            ("+1", "+1"),
            ("0.1", "100m"),
            ("100Ki", "100Ki"),
            ("128Ki", "128Ki"),
            ("0.5Ki", "512"),
            ("1024", "1024"),
            ("1000", "1k"),
            ("000", "0"),
            ("00", "0"),
            ("01", "01"),
            ("1.", "1."),
            (".5", "500m"),
            ("1n", "1m"),
            ("0.0000000001", "1m"),
            ("1.0000000001", "1001m"),
            ("123456789012345678901", "123456789012345678901"),
            ("1000E", "1"),
            ("1Ei", "1Ei"),
            ("8Ei", "9223372036854775807"),
            ("12345.6789Mi", "12945382598247m"),
            ("1e-3", "1e-3"),
            ("1e-12", "1e-3"),
            ("100u", "1m"),
            ("1100u", "2m"),
            ("1k", "1k"),
            ("5e+3", "5e+3"),
            ("2", "2"),
            ("2.5", "2500m"),
            ("0", "0"),
            ("-1000m", "-1"),
            ("-1.5Gi", "-1536Mi"),
        ] {
            assert_eq!(listed(input), want, "{input}");
        }
        assert_eq!(canon("1n").as_deref(), Ok("1n"));
        assert_eq!(canon("100u").as_deref(), Ok("100u"));
        assert_eq!(canon("1e-12").as_deref(), Ok("1e-9"));
        assert_eq!(canon("1.0000000001").as_deref(), Ok("1000000001n"));
    }

    #[test]
    fn bad_quantities_fail_with_gos_messages() {
        for (input, want) in [
            ("1K", ERR_SUFFIX),
            ("1Gb", ERR_FORMAT),
            ("", ERR_FORMAT),
            ("abc", ERR_FORMAT),
            ("1.5.5", ERR_FORMAT),
            ("1e", ERR_SUFFIX),
            ("1e+", ERR_SUFFIX),
        ] {
            assert_eq!(canon(input), Err(want), "{input}");
        }
    }

    #[test]
    fn milli_values() {
        assert_eq!(Quantity::parse("100m").unwrap().milli(), Some(100));
        assert_eq!(Quantity::parse("1Gi").unwrap().milli(), Some(1_073_741_824_000));
        assert_eq!(Quantity::parse("1n").unwrap().milli(), Some(1));
        assert_eq!(Quantity::parse("-2").unwrap().milli(), Some(-2000));
    }
}
