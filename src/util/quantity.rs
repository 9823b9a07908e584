//! `resource.Quantity`, exactly: upstream's parser (suffixes `n u m k M G T P E`, `Ki … Ei`,
//! exponents `e3`/`E-3`), its rounding (up to a whole nano, away from zero), its cap (a binary
//! quantity at 2^63-1), comparison by value, and its canonical form (`1.5` → `1500m`,
//! `1.5Gi` → `1536Mi`, `1e3` → `1e3`).
//!
//! A value is a decimal `digits × 10^exp` of any size, so nothing is lost to floating point or
//! to an integer's range.
//!
//! ```
//! use capstan::util::quantity::Quantity;
//! let a: Quantity = "1.5Gi".parse().unwrap();
//! assert_eq!(a.to_string(), "1536Mi");
//! assert!(a > "1G".parse().unwrap());
//! assert_eq!("100m".parse::<Quantity>().unwrap().milli_value(), Some(100));
//! ```

use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// Upstream `ErrFormatWrong`'s text.
pub const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Why a string is not a quantity (upstream's three parse errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityError {
    /// `ErrFormatWrong`.
    Format,
    /// `ErrNumeric`.
    Numeric,
    /// `ErrSuffix`.
    Suffix,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantityError::Format => FORMAT_ERROR,
            QuantityError::Numeric => "unable to parse numeric part of quantity",
            QuantityError::Suffix => "unable to parse quantity's suffix",
        })
    }
}

impl std::error::Error for QuantityError {}

/// How a quantity is written back (upstream `Format`): the kind of suffix it was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `12e6`.
    DecimalExponent,
    /// `12Mi`.
    BinarySI,
    /// `12M`.
    DecimalSI,
}

/// A parsed quantity. Equality and order are by value (`1Ki == 1024`), whatever the format.
#[derive(Debug, Clone)]
pub struct Quantity {
    neg: bool,
    /// The magnitude's decimal digits, most significant first, without leading or trailing
    /// zeros; empty for zero.
    digits: Vec<u8>,
    /// The magnitude is `digits × 10^exp`; never below -9 (values are whole nanos).
    exp: i32,
    format: Format,
}

/// Values of more than this many decimal digits before the point are refused (upstream keeps
/// any size; this bounds the memory a sum of two quantities can take).
const MAX_ORDER: i64 = 100_000;

/// 2^63-1, the cap of a binary quantity.
const MAX_INT64: &[u8] = b"9223372036854775807";

impl Quantity {
    /// Upstream `ParseQuantity` (the string as given: no trimming).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse_keeping_text(s).map(|(q, _)| q)
    }

    /// [`Quantity::parse`], and whether Go keeps the client's text as the quantity's string
    /// (its int64 fast path caches `s` when the text is already canonical: `1500m`, `100Ki`,
    /// `1e3`, even `01` and `+1`), so a stored object shows it instead of the canonical form.
    pub fn parse_keeping_text(s: &str) -> Result<(Quantity, bool), QuantityError> {
        if s == "0" {
            return Ok((Quantity::zero(Format::DecimalSI), true));
        }
        if s.is_empty() {
            return Err(QuantityError::Format);
        }
        let b = s.as_bytes();
        let mut pos = 0;
        let mut neg = false;
        match b[0] {
            b'-' => {
                neg = true;
                pos = 1;
            }
            b'+' => pos = 1,
            _ => {}
        }
        let zeros_start = pos;
        while pos < b.len() && b[pos] == b'0' {
            pos += 1;
        }
        let had_zero = pos > zeros_start;
        if pos == b.len() {
            return Ok((Quantity::zero(Format::DecimalSI), false));
        }
        let digits_run = |pos: &mut usize| {
            let start = *pos;
            while *pos < b.len() && b[*pos].is_ascii_digit() {
                *pos += 1;
            }
            &s[start..*pos]
        };
        let num = digits_run(&mut pos);
        let mut denom = "";
        if pos < b.len() && b[pos] == b'.' {
            pos += 1;
            denom = digits_run(&mut pos);
        }
        let suffix_start = pos;
        while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
            pos += 1;
        }
        if pos < b.len() && matches!(b[pos], b'-' | b'+') {
            pos += 1;
        }
        digits_run(&mut pos);
        if pos != b.len() {
            return Err(QuantityError::Format);
        }
        let (base, exponent, mut format) = interpret(&s[suffix_start..]).ok_or(QuantityError::Suffix)?;
        let keep = go_keeps_text(if num.is_empty() { "0" } else { num }, denom, exponent, format);
        let scale = i64::from(exponent) - denom.len() as i64;
        if base == 10 && scale < -9 && num.is_empty() && denom.is_empty() && !had_zero {
            // Upstream's slow path reads the number with inf.Dec, which wants a digit.
            return Err(QuantityError::Numeric);
        }
        let mut digits: Vec<u8> = num.bytes().chain(denom.bytes()).map(|c| c - b'0').collect();
        let mut exp = -(denom.len() as i64);
        if base == 10 {
            exp += i64::from(exponent);
        } else {
            digits = mul_small(&digits, 1u64 << exponent);
        }
        let (mut digits, exp) = normalize(digits, exp);
        if !digits.is_empty() && digits.len() as i64 + exp > MAX_ORDER {
            return Err(QuantityError::Numeric);
        }
        let (digits_r, exp) = round_up(digits, exp, -9);
        digits = digits_r;
        let mut q = Quantity {
            neg: false,
            digits,
            exp: exp as i32,
            format,
        };
        if format == Format::BinarySI {
            let max = Quantity::from_int_digits(MAX_INT64);
            if q.cmp_magnitude(&max) == Ordering::Greater {
                q = Quantity { format, ..max };
            }
            if !q.is_zero() && q.cmp_magnitude(&Quantity::from_int_digits(b"1")) == Ordering::Less {
                format = Format::DecimalSI;
            }
        }
        q.format = format;
        q.neg = neg && !q.is_zero();
        Ok((q, keep))
    }

    /// Upstream `RoundUp(scale)` on the value: away from zero to a multiple of `10^min_exp`.
    /// Whether the value had finer digits (Go then drops a kept text).
    pub fn round_up_to(&mut self, min_exp: i32) -> bool {
        if self.is_zero() || self.exp >= min_exp {
            return false;
        }
        let (digits, exp) = round_up(
            std::mem::take(&mut self.digits),
            i64::from(self.exp),
            i64::from(min_exp),
        );
        self.digits = digits;
        self.exp = exp as i32;
        true
    }

    /// A quantity as it appears in an object: a string (surrounding white space trimmed, as
    /// upstream's `UnmarshalJSON` does) or a JSON number.
    pub fn from_json(v: &Value) -> Option<Quantity> {
        match v {
            Value::String(s) => Quantity::parse(s.trim()).ok(),
            Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
            _ => None,
        }
    }

    fn zero(format: Format) -> Quantity {
        Quantity {
            neg: false,
            digits: Vec::new(),
            exp: 0,
            format,
        }
    }

    fn from_int_digits(d: &[u8]) -> Quantity {
        let (digits, exp) = normalize(d.iter().map(|c| c - b'0').collect(), 0);
        Quantity {
            neg: false,
            digits,
            exp: exp as i32,
            format: Format::DecimalSI,
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// -1, 0 or 1.
    pub fn signum(&self) -> i32 {
        match (self.is_zero(), self.neg) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }

    /// Upstream `MilliValue`: the value in thousandths, rounded away from zero; None when it
    /// does not fit an i128.
    pub fn milli_value(&self) -> Option<i128> {
        if self.is_zero() {
            return Some(0);
        }
        if self.digits.len() as i64 + i64::from(self.exp) + 3 > 38 {
            return None;
        }
        let (digits, exp) = round_up(self.digits.clone(), i64::from(self.exp) + 3, 0);
        let mut n: i128 = 0;
        for d in digits.iter().copied().chain(std::iter::repeat_n(0, exp as usize)) {
            n = n.checked_mul(10)?.checked_add(i128::from(d))?;
        }
        Some(if self.neg { -n } else { n })
    }

    /// Upstream `Quantity.Add`: the sum keeps this quantity's format, or the other's when this
    /// one is zero.
    pub fn add(&self, other: &Quantity) -> Quantity {
        let format = if self.is_zero() { other.format } else { self.format };
        let (neg, digits, exp) = if self.neg == other.neg {
            let (d, e) = add_mag(&self.digits, self.exp, &other.digits, other.exp);
            (self.neg, d, e)
        } else {
            match self.cmp_magnitude(other) {
                Ordering::Equal => (false, Vec::new(), 0),
                Ordering::Greater => {
                    let (d, e) = sub_mag(&self.digits, self.exp, &other.digits, other.exp);
                    (self.neg, d, e)
                }
                Ordering::Less => {
                    let (d, e) = sub_mag(&other.digits, other.exp, &self.digits, self.exp);
                    (other.neg, d, e)
                }
            }
        };
        let (digits, exp) = normalize(digits, i64::from(exp));
        Quantity {
            neg: neg && !digits.is_empty(),
            digits,
            exp: exp as i32,
            format,
        }
    }

    /// `-q` (upstream `Neg`), keeping the format.
    pub fn neg(&self) -> Quantity {
        Quantity {
            neg: !self.neg && !self.is_zero(),
            ..self.clone()
        }
    }

    /// Upstream `Sub`.
    pub fn sub(&self, other: &Quantity) -> Quantity {
        let mut r = self.add(&other.neg());
        if self.is_zero() {
            r.format = other.format;
        }
        r
    }

    /// A whole number as a quantity in `DecimalExponent` format (upstream
    /// `NewQuantity(n, DecimalExponent)`).
    pub fn from_i64(n: i64) -> Quantity {
        let mut q = Quantity::from_int_digits(n.unsigned_abs().to_string().as_bytes());
        q.neg = n < 0;
        q.format = Format::DecimalExponent;
        q
    }

    /// Upstream `AsInt64`: the value when it is a whole number within an int64.
    pub fn as_i64(&self) -> Option<i64> {
        if self.is_zero() {
            return Some(0);
        }
        if self.exp < 0 || self.digits.len() as i64 + i64::from(self.exp) > 19 {
            return None;
        }
        let mut n: i128 = 0;
        for d in self
            .digits
            .iter()
            .copied()
            .chain(std::iter::repeat_n(0, self.exp as usize))
        {
            n = n * 10 + i128::from(d);
        }
        let n = if self.neg { -n } else { n };
        i64::try_from(n).ok()
    }

    /// Upstream `AsApproximateFloat64`.
    pub fn approx_f64(&self) -> f64 {
        let text: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        let v: f64 = format!(
            "{}{}e{}",
            if self.neg { "-" } else { "" },
            if text.is_empty() { "0" } else { &text },
            self.exp
        )
        .parse()
        .unwrap_or(0.0);
        v
    }

    fn cmp_magnitude(&self, other: &Quantity) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let order = |q: &Quantity| q.digits.len() as i64 + i64::from(q.exp);
        order(self)
            .cmp(&order(other))
            .then_with(|| self.digits.cmp(&other.digits))
    }

    /// Upstream `CanonicalizeBytes`: the number and suffix the quantity is written as.
    fn canonical(&self) -> (String, String) {
        if self.is_zero() {
            return ("0".into(), String::new());
        }
        let mut format = self.format;
        if format == Format::BinarySI
            && (self.cmp_magnitude(&Quantity::from_int_digits(b"1024")) == Ordering::Less || self.exp < 0)
        {
            // Small or fractional binary values are shown in decimal, without rounding.
            format = Format::DecimalSI;
        }
        let sign = if self.neg { "-" } else { "" };
        let text = |d: &[u8]| d.iter().map(|c| char::from(b'0' + c)).collect::<String>();
        if format == Format::BinarySI {
            let mut n = self.digits.clone();
            n.extend(std::iter::repeat_n(0, self.exp as usize));
            let mut k = 0;
            while k < 6 {
                let (q, r) = div_small(&n, 1024);
                if r != 0 {
                    break;
                }
                n = q;
                k += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
            return (format!("{sign}{}", text(&n)), suffix.into());
        }
        let e3 = self.exp.div_euclid(3) * 3;
        let mut n = self.digits.clone();
        n.extend(std::iter::repeat_n(0, (self.exp - e3) as usize));
        let suffix = match (format, e3) {
            (_, 0) => String::new(),
            (Format::DecimalSI, -9) => "n".into(),
            (Format::DecimalSI, -6) => "u".into(),
            (Format::DecimalSI, -3) => "m".into(),
            (Format::DecimalSI, 3) => "k".into(),
            (Format::DecimalSI, 6) => "M".into(),
            (Format::DecimalSI, 9) => "G".into(),
            (Format::DecimalSI, 12) => "T".into(),
            (Format::DecimalSI, 15) => "P".into(),
            (Format::DecimalSI, 18) => "E".into(),
            (Format::DecimalExponent, _) => format!("e{e3}"),
            // v1.33 finds no decimal suffix beyond `E` and prints none (`1000E` → `1`).
            _ => String::new(),
        };
        (format!("{sign}{}", text(&n)), suffix)
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl fmt::Display for Quantity {
    /// The canonical form (upstream `String()` of a quantity that was not parsed from it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, s) = self.canonical();
        write!(f, "{n}{s}")
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.signum(), other.signum()) {
            (a, b) if a != b => a.cmp(&b),
            (-1, _) => other.cmp_magnitude(self),
            _ => self.cmp_magnitude(other),
        }
    }
}

/// The value of `v` (a quantity string or number) in thousandths, for quota and limit
/// arithmetic (`100m` = 100, `1` = 1000, `1Gi` = 1073741824000).
pub fn milli(v: &Value) -> Option<i128> {
    Quantity::from_json(v)?.milli_value()
}

/// A sum in thousandths as quota status and limit-range messages print it: `500m` when not
/// whole, a binary suffix when one divides it exactly (`1Gi`), else the plain number.
pub fn format_milli(milli: i128) -> String {
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

/// Whether Go's `ParseQuantity` caches the text: its int64 fast path applies (the digits fit,
/// the scale is at least nano, the binary multiple does not overflow) and the text is in
/// canonical form. `num` has no leading zeros ("0" when none are left).
fn go_keeps_text(num: &str, denom: &str, exponent: i32, format: Format) -> bool {
    let (mut scale, shift, precision): (i64, u32, i64) = match format {
        Format::BinarySI if denom.is_empty() => (
            0,
            exponent as u32,
            15 - num.len() as i64 - (exponent as f32 * 3.0 / 10.0) as i64 - 1,
        ),
        Format::BinarySI => (0, 0, -1),
        _ => (i64::from(exponent), 0, 18 - (num.len() + denom.len()) as i64),
    };
    if precision < 0 {
        return false;
    }
    scale -= denom.len() as i64;
    if scale < -9 {
        return false;
    }
    let shifted = format!("{num}{denom}");
    let Ok(v) = shifted.parse::<i64>() else {
        return false;
    };
    if v.checked_mul(1i64 << shift).is_none() {
        return false;
    }
    match format {
        Format::BinarySI => v & 7 != 0,
        _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
    }
}

/// Upstream `suffixHandler.interpret`: (base, exponent, format) of a suffix.
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
            // Go parses 64 bits and keeps the low 32 (values too large are then refused by
            // `MAX_ORDER`).
            let e: i64 = s[1..].parse().ok()?;
            Some((10, e as i32, Format::DecimalExponent))
        }
        _ => None,
    }
}

/// Strip leading zeros, and trailing zeros into the exponent.
fn normalize(mut digits: Vec<u8>, mut exp: i64) -> (Vec<u8>, i64) {
    let lead = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..lead);
    while digits.last() == Some(&0) {
        digits.pop();
        exp += 1;
    }
    if digits.is_empty() {
        exp = 0;
    }
    (digits, exp)
}

/// Round the magnitude `digits × 10^exp` up to a multiple of `10^min_exp`.
fn round_up(digits: Vec<u8>, exp: i64, min_exp: i64) -> (Vec<u8>, i64) {
    if digits.is_empty() || exp >= min_exp {
        return (digits, exp);
    }
    let drop = (min_exp - exp) as usize;
    if drop >= digits.len() {
        return (vec![1], min_exp);
    }
    let keep = digits.len() - drop;
    let mut out = digits[..keep].to_vec();
    if digits[keep..].iter().any(|d| *d != 0) {
        out = add_mag(&out, 0, &[1], 0).0;
    }
    normalize(out, min_exp)
}

/// `digits × m` for a small `m`.
fn mul_small(digits: &[u8], m: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(digits.len() + 20);
    let mut carry: u128 = 0;
    for d in digits.iter().rev() {
        let v = u128::from(*d) * u128::from(m) + carry;
        out.push((v % 10) as u8);
        carry = v / 10;
    }
    while carry > 0 {
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    out.reverse();
    out
}

/// `digits / d` and the remainder, for a small `d`.
fn div_small(digits: &[u8], d: u64) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(digits.len());
    let mut rem: u64 = 0;
    for x in digits {
        let v = rem * 10 + u64::from(*x);
        out.push((v / d) as u8);
        rem = v % d;
    }
    let lead = out.iter().take_while(|x| **x == 0).count();
    out.drain(..lead);
    (out, rem)
}

/// Both magnitudes as digit vectors at the smaller exponent.
fn aligned(a: &[u8], ae: i32, b: &[u8], be: i32) -> (Vec<u8>, Vec<u8>, i32) {
    let e = ae.min(be);
    let pad = |d: &[u8], de: i32| {
        let mut v = d.to_vec();
        v.extend(std::iter::repeat_n(0, (de - e) as usize));
        v
    };
    let (mut x, mut y) = (pad(a, ae), pad(b, be));
    let n = x.len().max(y.len());
    x.splice(0..0, std::iter::repeat_n(0, n - x.len()));
    y.splice(0..0, std::iter::repeat_n(0, n - y.len()));
    (x, y, e)
}

fn add_mag(a: &[u8], ae: i32, b: &[u8], be: i32) -> (Vec<u8>, i32) {
    let (x, y, e) = aligned(a, ae, b, be);
    let mut out = Vec::with_capacity(x.len() + 1);
    let mut carry = 0;
    for (p, q) in x.iter().rev().zip(y.iter().rev()) {
        let v = p + q + carry;
        out.push(v % 10);
        carry = v / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out.reverse();
    (out, e)
}

/// `a - b` for `a ≥ b`.
fn sub_mag(a: &[u8], ae: i32, b: &[u8], be: i32) -> (Vec<u8>, i32) {
    let (x, y, e) = aligned(a, ae, b, be);
    let mut out = Vec::with_capacity(x.len());
    let mut borrow = 0;
    for (p, q) in x.iter().rev().zip(y.iter().rev()) {
        let mut v = i16::from(*p) - i16::from(*q) - borrow;
        borrow = i16::from(v < 0);
        if v < 0 {
            v += 10;
        }
        out.push(v as u8);
    }
    out.reverse();
    (out, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn canonical_forms_are_upstreams() {
        // Cases from upstream's quantity_test.go (TestQuantityParse / canonical forms).
        for (input, want) in [
            ("0", "0"),
            ("0n", "0"),
            ("0Ki", "0"),
            ("-0", "0"),
            ("1", "1"),
            ("+1", "1"),
            ("001", "1"),
            ("1.5", "1500m"),
            ("1.5Gi", "1536Mi"),
            ("1Ki", "1Ki"),
            ("1024", "1024"),
            ("1000", "1k"),
            ("1k", "1k"),
            ("1000k", "1M"),
            ("100m", "100m"),
            ("0.1", "100m"),
            ("1n", "1n"),
            ("0.9n", "1n"),
            ("1e3", "1e3"),
            ("1E3", "1e3"),
            ("1e-3", "1e-3"),
            ("1500e-3", "1500e-3"),
            ("12e6", "12e6"),
            ("1M", "1M"),
            ("5Mi", "5Mi"),
            ("1024Ki", "1Mi"),
            ("1023Ki", "1023Ki"),
            ("1.1Ki", "1126400m"),
            ("0.5Ki", "512"),
            ("0.0001Ki", "102400u"),
            ("-5Gi", "-5Gi"),
            ("-100m", "-100m"),
            ("8Ei", "9223372036854775807"),
            ("9223372036854775807", "9223372036854775807"),
            ("10E", "10E"),
            // v1.33's CanonicalizeBytes has no suffix for 10^21 and drops it.
            ("1000E", "1"),
            (".5", "500m"),
            ("5.", "5"),
            (".", "0"),
            ("-", "0"),
            ("1.G", "1G"),
            ("1e+3", "1e3"),
        ] {
            assert_eq!(q(input).to_string(), want, "{input}");
        }
    }

    #[test]
    fn bad_strings_are_refused_with_upstreams_errors() {
        for bad in ["", "1.1.M", "1+1.0M", "aoeu", "1 ", " 1", "1i ", "-3.01e-", "1e", "1x"] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Quantity::parse("1.1.M").err(), Some(QuantityError::Format));
        assert_eq!(Quantity::parse("0.1mi").err(), Some(QuantityError::Suffix));
        assert_eq!(Quantity::parse("1i").err(), Some(QuantityError::Suffix));
        assert_eq!(Quantity::parse(".e-10").err(), Some(QuantityError::Numeric));
        assert_eq!(QuantityError::Format.to_string(), FORMAT_ERROR);
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("-1") < q("0"));
        assert!(q("-2") < q("-1"));
        assert!(q("100m") < q("0.2"));
        assert!(q("1e3") == q("1k"));
        assert!(q("0.000000001") == q("1n"));
        // No float rounding: these differ in the 19th digit.
        assert!(q("1000000000000000001") > q("1e18"));
        assert_eq!(q("1").signum(), 1);
        assert_eq!(q("-1m").signum(), -1);
        assert_eq!(q("0").signum(), 0);
    }

    #[test]
    fn adds_exactly() {
        assert_eq!(q("100m").add(&q("900m")), q("1"));
        assert_eq!(q("1Gi").add(&q("1Gi")).to_string(), "2Gi");
        assert_eq!(q("0").add(&q("1Mi")).to_string(), "1Mi");
        assert_eq!(q("1").add(&q("-1")).signum(), 0);
        assert_eq!(q("-3").add(&q("1")), q("-2"));
        assert_eq!(
            q("1e20").add(&q("1n")).milli_value(),
            Some(100_000_000_000_000_000_000_001)
        );
    }

    #[test]
    fn milli_values_round_away_from_zero() {
        for (input, want) in [
            ("100m", Some(100)),
            ("1", Some(1000)),
            ("0.5", Some(500)),
            ("1Gi", Some(1_073_741_824_000)),
            ("1k", Some(1_000_000)),
            ("1e3", Some(1_000_000)),
            ("1n", Some(1)),
            ("-1n", Some(-1)),
            ("1.0001m", Some(2)),
            ("1e40", None),
        ] {
            assert_eq!(q(input).milli_value(), want, "{input}");
        }
        assert_eq!(milli(&serde_json::json!("250m")), Some(250));
        assert_eq!(milli(&serde_json::json!(2)), Some(2000));
        assert_eq!(milli(&serde_json::json!(1.5)), Some(1500));
        assert_eq!(milli(&serde_json::json!(" 1 ")), Some(1000));
        assert_eq!(milli(&serde_json::json!("abc")), None);
        assert_eq!(format_milli(100), "100m");
        assert_eq!(format_milli(2000), "2");
        assert_eq!(format_milli(1_073_741_824_000), "1Gi");
        assert_eq!(format_milli(0), "0");
    }
}
