//! `[]byte` fields (`format: byte`: Secret `data`, ConfigMap `binaryData`, CA bundles, CSR
//! requests): Go's `encoding/json` decodes them with `base64.StdEncoding` (padding required,
//! `\r` and `\n` skipped, stray low bits ignored) and encodes them back in standard form, so a
//! value is stored as its canonical base64 and a bad one is Go's `illegal base64 data at input
//! byte N`.

use base64::Engine;

/// The standard alphabet's value of `c`.
fn sextet(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

fn corrupt(at: usize) -> String {
    format!("illegal base64 data at input byte {at}")
}

/// Go's `base64.StdEncoding.DecodeString`, quantum by quantum (`decodeQuantum`), with its
/// error offsets.
pub fn decode(src: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut buf = [0u8; 4];
        let mut len = 4;
        let mut j = 0;
        let mut done = false;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // Padding is required: a short final quantum is corrupt.
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = sextet(c) {
                buf[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(corrupt(si - 1));
            }
            // Padding: only after two or three symbols.
            match j {
                0 | 1 => return Err(corrupt(si - 1)),
                2 => {
                    while si < src.len() && matches!(src[si], b'\n' | b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(corrupt(src.len()));
                    }
                    if src[si] != b'=' {
                        return Err(corrupt(si - 1));
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && matches!(src[si], b'\n' | b'\r') {
                si += 1;
            }
            if si < src.len() {
                return Err(corrupt(si));
            }
            len = j;
            done = true;
            break;
        }
        let v = u32::from(buf[0]) << 18 | u32::from(buf[1]) << 12 | u32::from(buf[2]) << 6 | u32::from(buf[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if done {
            break;
        }
    }
    Ok(out)
}

/// The canonical text of a base64 value as upstream stores it.
pub fn canonical(s: &str) -> Result<String, String> {
    decode(s.as_bytes()).map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case as a v1.33 server answered it for a Secret's `data`.
    #[test]
    fn decodes_and_fails_as_go() {
        for (input, want) in [
            ("aGVsbG8=", Ok("aGVsbG8=")),
            ("aGVsbG8", Err(4)),
            ("aGVs\nbG8=", Ok("aGVsbG8=")),
            ("aGVsbG9=", Ok("aGVsbG8=")),
            ("!!!", Err(0)),
            ("aGVsbG8==", Err(8)),
            ("aGVs bG8=", Err(4)),
            ("aGVs\rbG8=", Ok("aGVsbG8=")),
            ("", Ok("")),
            ("====", Err(0)),
            ("YQ", Err(0)),
            ("YQ==", Ok("YQ==")),
            ("YQ=", Err(3)),
            ("YWJj\n", Ok("YWJj")),
        ] {
            let got = canonical(input);
            match want {
                Ok(s) => assert_eq!(got.as_deref(), Ok(s), "{input:?}"),
                Err(at) => assert_eq!(got, Err(corrupt(at)), "{input:?}"),
            }
        }
    }
}
