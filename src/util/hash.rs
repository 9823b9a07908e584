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

#[cfg(test)]
mod tests {
    use super::*;

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
