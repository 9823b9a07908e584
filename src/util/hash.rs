//! Content hashes for ETags, as upstream computes them: SHA-512 in upper-case hex
//! (`fmt.Sprintf("%X", sha512.Sum512(data))` in aggregated discovery and kube-openapi).

use std::fmt::Write;

/// The content hash of `data`: used as the OpenAPI v3 `?hash=` and inside ETags.
pub fn content_hash(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, data);
    let mut out = String::with_capacity(128);
    for b in digest.as_ref() {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// SHA-256 of `data` in lower-case hex (`fmt.Sprintf("%x", sha256.Sum256(data))`).
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The `ETag` header value of a body: its content hash, quoted (`strconv.Quote`).
pub fn etag(data: &[u8]) -> String {
    format!("\"{}\"", content_hash(data))
}

/// kube-apiserver's identity (`APIServerIdentity`, on in 1.33): `apiserver-` and the lower-case,
/// unpadded base32 of the first 16 bytes of SHA-256 over the length-prefixed (u16) hostname
/// and `kube-apiserver` (k8s.io/apiserver `NewConfig`).
pub fn apiserver_id(hostname: &str) -> String {
    let mut data = Vec::with_capacity(hostname.len() + 20);
    for part in [hostname.as_bytes(), b"kube-apiserver"] {
        data.extend_from_slice(&(part.len() as u16).to_be_bytes());
        data.extend_from_slice(part);
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &data);
    format!("apiserver-{}", base32_lower(&digest.as_ref()[..16]))
}

/// RFC 4648 base32, lower case, no padding.
fn base32_lower(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let (mut buf, mut bits) = (0u32, 0u32);
    for b in data {
        buf = (buf << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_and_identity() {
        // RFC 4648 test vectors, lower-cased and unpadded.
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32_lower(b"f"), "my");
        let id = apiserver_id("node-1");
        assert!(
            id.starts_with("apiserver-") && id.len() == "apiserver-".len() + 26,
            "{id}"
        );
    }

    #[test]
    fn sha512_upper_hex() {
        let h = content_hash(b"abc");
        assert_eq!(h.len(), 128);
        assert!(h.starts_with("DDAF35A193617ABACC417349AE204131"));
        assert_eq!(etag(b"abc"), format!("\"{h}\""));
        assert_ne!(content_hash(b"abd"), h);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
