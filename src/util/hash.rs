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
    }
}
