//! Value transformers, byte-compatible with upstream's (`k8s.io/apiserver/pkg/storage/value`):
//! a value is stored as `k8s:enc:<provider>:v1:<key name>:` followed by the provider's
//! ciphertext, so an etcd written by kube-apiserver reads here and back.
//!
//! - aescbc: 16-byte random IV, AES-CBC, PKCS#7 padding.
//! - aesgcm: 12-byte random nonce, AES-GCM, the etcd key as authenticated data.
//! - secretbox: 24-byte random nonce, NaCl secretbox (XSalsa20-Poly1305).
//! - identity: the bytes as they are; refuses values that carry the encrypted prefix.

use super::config::Key;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use async_trait::async_trait;
use std::sync::Arc;

/// A transform error; its text is what upstream reports.
pub type TransformError = String;

/// One way of turning stored bytes into plain bytes and back. `aad` is the etcd key.
#[async_trait]
pub trait Transformer: Send + Sync {
    /// The plain bytes, and whether they were written by anything other than the transformer
    /// that writes now (a rewrite re-encrypts them: "stale"). Upstream's name
    /// (TransformFromStorage), hence the allow.
    #[allow(clippy::wrong_self_convention)]
    async fn from_storage(&self, data: &[u8], aad: &[u8]) -> Result<(Vec<u8>, bool), TransformError>;
    async fn to_storage(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransformError>;
}

/// A transformer chosen by the prefix of the stored bytes; the first one writes.
pub struct Prefixed {
    pub entries: Vec<(Vec<u8>, Arc<dyn Transformer>)>,
    /// Reported when no prefix matches.
    pub no_match: &'static str,
}

#[async_trait]
impl Transformer for Prefixed {
    async fn from_storage(&self, data: &[u8], aad: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        let mut errs: Vec<String> = Vec::new();
        for (i, (prefix, t)) in self.entries.iter().enumerate() {
            if !data.starts_with(prefix) {
                continue;
            }
            match t.from_storage(&data[prefix.len()..], aad).await {
                Ok((out, stale)) => return Ok((out, stale || i != 0)),
                // The identity transformer (empty prefix) gives way to later ones.
                Err(_) if prefix.is_empty() => continue,
                Err(e) => errs.push(e),
            }
        }
        match errs.len() {
            0 => Err(self.no_match.to_string()),
            1 => Err(errs.remove(0)),
            _ => Err(format!("[{}]", errs.join(", "))),
        }
    }

    async fn to_storage(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        let (prefix, t) = self.entries.first().ok_or("no transformer configured")?;
        let body = t.to_storage(data, aad).await?;
        let mut out = Vec::with_capacity(prefix.len() + body.len());
        out.extend_from_slice(prefix);
        out.extend_from_slice(&body);
        Ok(out)
    }
}

/// The identity provider: stores plain bytes, refuses to read encrypted ones.
pub struct Identity;

const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";

#[async_trait]
impl Transformer for Identity {
    async fn from_storage(&self, data: &[u8], _aad: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        if data.starts_with(ENCRYPTED_PREFIX) {
            return Err("identity transformer tried to read encrypted data".into());
        }
        Ok((data.to_vec(), false))
    }
    async fn to_storage(&self, data: &[u8], _aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        Ok(data.to_vec())
    }
}

/// Cryptographically secure random bytes.
pub fn random(buf: &mut [u8]) -> Result<(), TransformError> {
    use ring::rand::SecureRandom as _;
    ring::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| "unable to read sufficient random bytes".to_string())
}

/// AES with a 16, 24 or 32-byte key.
#[derive(Clone)]
enum AesBlock {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl AesBlock {
    fn new(key: &[u8]) -> Result<AesBlock, TransformError> {
        use aes::cipher::KeyInit as _;
        let bad = |_| format!("crypto/aes: invalid key size {}", key.len());
        Ok(match key.len() {
            16 => AesBlock::A128(aes::Aes128::new_from_slice(key).map_err(bad)?),
            24 => AesBlock::A192(aes::Aes192::new_from_slice(key).map_err(bad)?),
            32 => AesBlock::A256(aes::Aes256::new_from_slice(key).map_err(bad)?),
            n => return Err(format!("crypto/aes: invalid key size {n}")),
        })
    }
    fn encrypt(&self, b: &mut [u8; 16]) {
        use aes::cipher::BlockEncrypt as _;
        let b = aes::Block::from_mut_slice(b);
        match self {
            AesBlock::A128(c) => c.encrypt_block(b),
            AesBlock::A192(c) => c.encrypt_block(b),
            AesBlock::A256(c) => c.encrypt_block(b),
        }
    }
    fn decrypt(&self, b: &mut [u8; 16]) {
        use aes::cipher::BlockDecrypt as _;
        let b = aes::Block::from_mut_slice(b);
        match self {
            AesBlock::A128(c) => c.decrypt_block(b),
            AesBlock::A192(c) => c.decrypt_block(b),
            AesBlock::A256(c) => c.decrypt_block(b),
        }
    }
}

/// AES-CBC with PKCS#7 padding, the IV in front (upstream's `aes.cbc`).
pub struct AesCbc {
    block: AesBlock,
}

impl AesCbc {
    pub fn new(key: &[u8]) -> Result<AesCbc, TransformError> {
        Ok(AesCbc {
            block: AesBlock::new(key)?,
        })
    }

    fn open(&self, data: &[u8]) -> Result<Vec<u8>, TransformError> {
        if data.len() < 16 {
            return Err("the stored data was shorter than the required size".into());
        }
        let (iv, body) = data.split_at(16);
        if body.len() % 16 != 0 {
            return Err("the stored data is not a multiple of the block size".into());
        }
        let mut out = body.to_vec();
        let mut prev: [u8; 16] = iv.try_into().map_err(|_| "bad IV")?;
        for chunk in out.chunks_exact_mut(16) {
            let mut b: [u8; 16] = (&*chunk).try_into().map_err(|_| "bad block")?;
            let cipher = b;
            self.block.decrypt(&mut b);
            for (x, p) in b.iter_mut().zip(prev) {
                *x ^= p;
            }
            chunk.copy_from_slice(&b);
            prev = cipher;
        }
        let pad = *out.last().ok_or("invalid PKCS7 data (empty or not padded)")? as usize;
        if pad == 0 || pad > out.len() {
            return Err("invalid PKCS7 data (empty or not padded)".into());
        }
        let size = out.len() - pad;
        if out[size..].iter().any(|&b| b as usize != pad) {
            return Err("invalid padding on input".into());
        }
        out.truncate(size);
        Ok(out)
    }

    fn seal(&self, data: &[u8]) -> Result<Vec<u8>, TransformError> {
        let pad = 16 - data.len() % 16;
        let mut out = vec![0u8; 16 + data.len() + pad];
        random(&mut out[..16])?;
        out[16..16 + data.len()].copy_from_slice(data);
        for b in &mut out[16 + data.len()..] {
            *b = pad as u8;
        }
        let (iv, body) = out.split_at_mut(16);
        let mut prev: [u8; 16] = (&*iv).try_into().map_err(|_| "bad IV")?;
        for chunk in body.chunks_exact_mut(16) {
            let mut b: [u8; 16] = (&*chunk).try_into().map_err(|_| "bad block")?;
            for (x, p) in b.iter_mut().zip(prev) {
                *x ^= p;
            }
            self.block.encrypt(&mut b);
            chunk.copy_from_slice(&b);
            prev = b;
        }
        Ok(out)
    }
}

#[async_trait]
impl Transformer for AesCbc {
    async fn from_storage(&self, data: &[u8], _aad: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        self.open(data).map(|d| (d, false))
    }
    async fn to_storage(&self, data: &[u8], _aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        self.seal(data)
    }
}

type Aes192Gcm = aes_gcm::AesGcm<aes::Aes192, aes_gcm::aead::consts::U12>;

enum GcmCipher {
    A128(Box<aes_gcm::Aes128Gcm>),
    A192(Box<Aes192Gcm>),
    A256(Box<aes_gcm::Aes256Gcm>),
}

/// AES-GCM with a random 12-byte nonce in front and the etcd key as authenticated data
/// (upstream's `aes.gcm`; also the data cipher of KMS v2).
pub struct AesGcm {
    cipher: GcmCipher,
}

const GCM_NONCE: usize = 12;

impl AesGcm {
    pub fn new(key: &[u8]) -> Result<AesGcm, TransformError> {
        let bad = |_| format!("crypto/aes: invalid key size {}", key.len());
        let cipher = match key.len() {
            16 => GcmCipher::A128(Box::new(aes_gcm::Aes128Gcm::new_from_slice(key).map_err(bad)?)),
            24 => GcmCipher::A192(Box::new(Aes192Gcm::new_from_slice(key).map_err(bad)?)),
            32 => GcmCipher::A256(Box::new(aes_gcm::Aes256Gcm::new_from_slice(key).map_err(bad)?)),
            n => return Err(format!("crypto/aes: invalid key size {n}")),
        };
        Ok(AesGcm { cipher })
    }

    pub fn open(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        if data.len() < GCM_NONCE {
            return Err("the stored data was shorter than the required size".into());
        }
        let (nonce, body) = data.split_at(GCM_NONCE);
        let nonce = aes_gcm::Nonce::from_slice(nonce);
        let p = Payload { msg: body, aad };
        let r = match &self.cipher {
            GcmCipher::A128(c) => c.decrypt(nonce, p),
            GcmCipher::A192(c) => c.decrypt(nonce, p),
            GcmCipher::A256(c) => c.decrypt(nonce, p),
        };
        r.map_err(|_| "cipher: message authentication failed".to_string())
    }

    pub fn seal(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        let mut nonce = [0u8; GCM_NONCE];
        random(&mut nonce)?;
        let n = aes_gcm::Nonce::from_slice(&nonce);
        let p = Payload { msg: data, aad };
        let body = match &self.cipher {
            GcmCipher::A128(c) => c.encrypt(n, p),
            GcmCipher::A192(c) => c.encrypt(n, p),
            GcmCipher::A256(c) => c.encrypt(n, p),
        }
        .map_err(|_| "failed to encrypt with AES-GCM".to_string())?;
        let mut out = Vec::with_capacity(GCM_NONCE + body.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }
}

#[async_trait]
impl Transformer for AesGcm {
    async fn from_storage(&self, data: &[u8], aad: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        self.open(data, aad).map(|d| (d, false))
    }
    async fn to_storage(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        self.seal(data, aad)
    }
}

/// NaCl secretbox: a random 24-byte nonce, then the Poly1305 tag and the XSalsa20 ciphertext.
pub struct Secretbox {
    cipher: crypto_secretbox::XSalsa20Poly1305,
}

const SECRETBOX_NONCE: usize = 24;
const SECRETBOX_OVERHEAD: usize = 16;

impl Secretbox {
    pub fn new(key: &[u8]) -> Result<Secretbox, TransformError> {
        let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(key)
            .map_err(|_| format!("expected key size 32 for secretbox provider, got {}", key.len()))?;
        Ok(Secretbox { cipher })
    }
}

#[async_trait]
impl Transformer for Secretbox {
    async fn from_storage(&self, data: &[u8], _aad: &[u8]) -> Result<(Vec<u8>, bool), TransformError> {
        if data.len() < SECRETBOX_NONCE + SECRETBOX_OVERHEAD {
            return Err("the stored data was shorter than the required size".into());
        }
        let (nonce, body) = data.split_at(SECRETBOX_NONCE);
        let nonce = crypto_secretbox::Nonce::from_slice(nonce);
        use crypto_secretbox::aead::Aead as _;
        self.cipher
            .decrypt(nonce, body)
            .map(|d| (d, false))
            .map_err(|_| "output array was not large enough for encryption".to_string())
    }
    async fn to_storage(&self, data: &[u8], _aad: &[u8]) -> Result<Vec<u8>, TransformError> {
        let mut nonce = [0u8; SECRETBOX_NONCE];
        random(&mut nonce)?;
        use crypto_secretbox::aead::Aead as _;
        let body = self
            .cipher
            .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), data)
            .map_err(|_| "failed to encrypt with secretbox".to_string())?;
        let mut out = Vec::with_capacity(SECRETBOX_NONCE + body.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }
}

/// `k8s:enc:<kind>:v1:` + one entry per key (`<name>:`), the first key writing.
pub fn keyed(
    kind: &str,
    keys: &[Key],
    make: impl Fn(&[u8]) -> Result<Arc<dyn Transformer>, TransformError>,
    no_match: &'static str,
) -> Result<(Vec<u8>, Arc<dyn Transformer>), TransformError> {
    let mut entries = Vec::with_capacity(keys.len());
    for k in keys {
        let t = make(&k.secret).map_err(|e| format!("error while creating cipher for named key {}: {e}", k.name))?;
        entries.push((format!("{}:", k.name).into_bytes(), t));
    }
    Ok((
        format!("k8s:enc:{kind}:v1:").into_bytes(),
        Arc::new(Prefixed { entries, no_match }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::hex_bytes;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn round_trips_and_tamper_detection() {
        run(async {
            for len in [16, 24, 32] {
                let key = vec![3u8; len];
                let ts: Vec<Arc<dyn Transformer>> = vec![
                    Arc::new(AesCbc::new(&key).unwrap()),
                    Arc::new(AesGcm::new(&key).unwrap()),
                ];
                for t in ts {
                    for msg in [&b""[..], b"x", b"0123456789abcdef", b"{\"kind\":\"Secret\"}"] {
                        let c = t.to_storage(msg, b"/registry/secrets/a/b").await.unwrap();
                        assert_ne!(&c[..], msg);
                        let (p, stale) = t.from_storage(&c, b"/registry/secrets/a/b").await.unwrap();
                        assert_eq!(p, msg);
                        assert!(!stale);
                    }
                }
            }
            let gcm = AesGcm::new(&[1; 32]).unwrap();
            let c = gcm.to_storage(b"data", b"/registry/secrets/a/b").await.unwrap();
            // The etcd key is authenticated: a value copied to another key does not open.
            assert_eq!(
                gcm.from_storage(&c, b"/registry/secrets/a/c").await.unwrap_err(),
                "cipher: message authentication failed"
            );
            let sb = Secretbox::new(&[9; 32]).unwrap();
            let c = sb.to_storage(b"hello", b"").await.unwrap();
            assert_eq!(c.len(), 24 + 16 + 5);
            assert_eq!(sb.from_storage(&c, b"").await.unwrap().0, b"hello");
            let mut bad = c.clone();
            bad[30] ^= 1;
            assert!(sb.from_storage(&bad, b"").await.is_err());
            let cbc = AesCbc::new(&[1; 32]).unwrap();
            assert_eq!(
                cbc.from_storage(&[0; 20], b"").await.unwrap_err(),
                "the stored data is not a multiple of the block size"
            );
        });
    }

    /// Go's crypto/cipher CBC with a known key and IV (NIST SP 800-38A F.2.5, first block).
    #[test]
    fn cbc_matches_the_standard_vector() {
        let key = hex_bytes("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        let iv = hex_bytes("000102030405060708090a0b0c0d0e0f");
        let plain = hex_bytes("6bc1bee22e409f96e93d7e117393172a");
        let want = hex_bytes("f58c4c04d6e5f1ba779eabfb5f7bfbd6");
        let cbc = AesCbc::new(&key).unwrap();
        // Encrypt the padded block by hand through `open` of a crafted value: IV + cipher + pad.
        let mut block: [u8; 16] = plain.clone().try_into().unwrap();
        for (b, v) in block.iter_mut().zip(&iv) {
            *b ^= v;
        }
        cbc.block.encrypt(&mut block);
        assert_eq!(block.to_vec(), want);
    }

    #[test]
    fn prefixes_pick_the_reader_and_mark_stale() {
        run(async {
            let (p1, t1) = keyed(
                "aescbc",
                &[
                    Key {
                        name: "new".into(),
                        secret: vec![1; 32],
                    },
                    Key {
                        name: "old".into(),
                        secret: vec![2; 32],
                    },
                ],
                |k| Ok(Arc::new(AesCbc::new(k)?) as Arc<dyn Transformer>),
                "no matching key was found for the provided AES transformer",
            )
            .unwrap();
            let all = Prefixed {
                entries: vec![(p1, t1), (vec![], Arc::new(Identity))],
                no_match: "no matching prefix found",
            };
            let c = all.to_storage(b"v", b"k").await.unwrap();
            assert!(c.starts_with(b"k8s:enc:aescbc:v1:new:"));
            assert_eq!(all.from_storage(&c, b"k").await.unwrap(), (b"v".to_vec(), false));
            // Plain data reads through identity and is stale (not what writes now).
            assert_eq!(all.from_storage(b"{}", b"k").await.unwrap(), (b"{}".to_vec(), true));
            // A value under the second key is stale too.
            let old = AesCbc::new(&[2; 32]).unwrap().seal(b"w").unwrap();
            let mut v = b"k8s:enc:aescbc:v1:old:".to_vec();
            v.extend_from_slice(&old);
            assert_eq!(all.from_storage(&v, b"k").await.unwrap(), (b"w".to_vec(), true));
            // An unknown key name.
            let mut v = b"k8s:enc:aescbc:v1:gone:".to_vec();
            v.extend_from_slice(&old);
            assert_eq!(
                all.from_storage(&v, b"k").await.unwrap_err(),
                "no matching key was found for the provided AES transformer"
            );
            // Encrypted data with only identity configured.
            let plain_only = Prefixed {
                entries: vec![(vec![], Arc::new(Identity))],
                no_match: "no matching prefix found",
            };
            assert_eq!(
                plain_only.from_storage(&c, b"k").await.unwrap_err(),
                "no matching prefix found"
            );
        });
    }
}
