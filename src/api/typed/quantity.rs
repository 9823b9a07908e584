//! `resource.Quantity` as a v1.33 server re-serialises what a client sent: the value and its
//! canonical form come from [`crate::util::quantity`] (`1000m` → `1`, `1024Mi` → `1Gi`, `1.5` →
//! `1500m`); the client's text stays when Go keeps it (`1500m`, `100Ki`, `1e3`, even `01` and
//! `+1`), and `ResourceList` defaulting rounds up to milli-units (`100u` → `1m`).

use crate::util::quantity as exact;

/// Go's parse errors, word for word.
pub const ERR_FORMAT: &str = exact::FORMAT_ERROR;

/// A parsed quantity and the client's text when Go keeps it (Go's cached `s`).
#[derive(Debug, Clone)]
pub struct Quantity {
    value: exact::Quantity,
    text: Option<String>,
}

impl Quantity {
    /// Go's `ParseQuantity` (after `UnmarshalJSON`'s `TrimSpace`); Err is Go's message.
    pub fn parse(s: &str) -> Result<Quantity, String> {
        let (value, keep) = exact::Quantity::parse_keeping_text(s).map_err(|e| e.to_string())?;
        Ok(Quantity {
            value,
            text: keep.then(|| s.to_string()),
        })
    }

    /// `SetDefaults_ResourceList`: `RoundUp(-3)` (the client's text goes when it changes scale).
    pub fn round_up_to_milli(&mut self) {
        if self.value.round_up_to(-3) {
            self.text = None;
        }
    }

    /// Go's `Quantity.String()`.
    pub fn text(&self) -> String {
        match &self.text {
            Some(t) => t.clone(),
            None => self.value.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERR_SUFFIX: &str = "unable to parse quantity's suffix";

    fn canon(s: &str) -> Result<String, String> {
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
            assert_eq!(canon(input), Err(want.to_string()), "{input}");
        }
    }
}
