//! JWS compact tokens: key loading (PEM RSA / ECDSA P-256 or P-384, public or private),
//! signing and verification with `ring` — RS256/384/512, PS256/384/512, ES256/384 — plus
//! ES512 (P-521, which ring lacks) verified by [`super::p521`]; key ids and JWKS as upstream
//! (`kid` = base64url(sha256(PKIX DER of the public key))).

use anyhow::{anyhow, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use serde_json::{json, Value};
use std::path::Path;

/// A JWS signing algorithm (go-oidc's list: every one upstream's OIDC authenticator allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
}

impl Alg {
    /// Sorted by name, as upstream's `AllValidSigningAlgorithms`.
    pub const ALL: &'static [Alg] = &[
        Alg::ES256,
        Alg::ES384,
        Alg::ES512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
        }
    }

    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.iter().copied().find(|a| a.name() == name)
    }

    fn is_rsa(self) -> bool {
        !matches!(self, Alg::ES256 | Alg::ES384 | Alg::ES512)
    }
}

/// A verification key: PKCS#1 RSAPublicKey DER (`alg` RS256) or the uncompressed EC point
/// (`alg` ES256, ES384 or ES512 by its curve). `alg` is the key's own algorithm (what a
/// service-account key signs with); an RSA key verifies every RS* and PS* token.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub alg: Alg,
    pub kid: String,
    raw: Vec<u8>,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// The issuer's private key.
pub struct SigningKey {
    signer: Signer,
    pub public: PublicKey,
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// (ES algorithm, curve OID, JWK `crv`, coordinate bytes) of the EC keys.
const CURVES: &[(Alg, &[u8], &str, usize)] = &[
    (Alg::ES256, OID_P256, "P-256", 32),
    (Alg::ES384, OID_P384, "P-384", 48),
    (Alg::ES512, OID_P521, "P-521", 66),
];

fn curve(alg: Alg) -> Option<&'static (Alg, &'static [u8], &'static str, usize)> {
    CURVES.iter().find(|c| c.0 == alg)
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(body);
    out
}

/// Split one DER TLV off `input`: (tag, content, rest).
fn der_take(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = len.checked_mul(256)? + *b as usize;
        }
        (len, 2 + n)
    };
    let body = input.get(hdr..hdr.checked_add(len)?)?;
    Some((tag, body, &input[hdr + len..]))
}

impl PublicKey {
    fn new(alg: Alg, raw: Vec<u8>) -> PublicKey {
        let mut k = PublicKey {
            alg,
            kid: String::new(),
            raw,
        };
        k.kid = B64.encode(ring::digest::digest(&ring::digest::SHA256, &k.spki()));
        k
    }

    /// PKIX SubjectPublicKeyInfo DER.
    pub fn spki(&self) -> Vec<u8> {
        let alg = match curve(self.alg) {
            None => [der(0x06, OID_RSA), vec![0x05, 0x00]].concat(),
            Some((_, oid, ..)) => [der(0x06, OID_EC), der(0x06, oid)].concat(),
        };
        let bits = [&[0u8][..], &self.raw].concat();
        der(0x30, &[der(0x30, &alg), der(0x03, &bits)].concat())
    }

    /// From a PKIX SubjectPublicKeyInfo.
    pub fn from_spki(spki: &[u8]) -> anyhow::Result<PublicKey> {
        let (_, seq, _) = der_take(spki).ok_or_else(|| anyhow!("malformed public key"))?;
        let (_, alg, rest) = der_take(seq).ok_or_else(|| anyhow!("malformed public key"))?;
        let (_, bits, _) = der_take(rest).ok_or_else(|| anyhow!("malformed public key"))?;
        let (_, oid, params) = der_take(alg).ok_or_else(|| anyhow!("malformed public key"))?;
        let raw = bits.get(1..).ok_or_else(|| anyhow!("malformed public key"))?.to_vec();
        if oid == OID_RSA {
            return Ok(PublicKey::new(Alg::RS256, raw));
        }
        if oid == OID_EC {
            if let Some((alg, ..)) = der_take(params).and_then(|(_, c, _)| CURVES.iter().find(|k| k.1 == c)) {
                return Ok(PublicKey::new(*alg, raw));
            }
        }
        Err(anyhow!(
            "unsupported public key type (want RSA or ECDSA P-256, P-384, P-521)"
        ))
    }

    /// The JWK upstream publishes at `/openid/v1/jwks`.
    pub fn jwk(&self) -> Value {
        match curve(self.alg) {
            None => {
                let (n, e) = rsa_components(&self.raw).unwrap_or_default();
                json!({"use": "sig", "kty": "RSA", "kid": self.kid, "alg": self.alg.name(), "n": B64.encode(n), "e": B64.encode(e)})
            }
            Some((alg, _, crv, len)) => {
                let (x, y) = if self.raw.len() == 1 + 2 * len {
                    (&self.raw[1..1 + len], &self.raw[1 + len..])
                } else {
                    (&[][..], &[][..])
                };
                json!({"use": "sig", "kty": "EC", "kid": self.kid, "crv": crv, "alg": alg.name(), "x": B64.encode(x), "y": B64.encode(y)})
            }
        }
    }

    /// Whether this key can have made an `alg` signature: RSA keys RS* and PS*, EC keys their
    /// curve's ES* (as go-jose picks the verifier by key type and header).
    pub fn accepts(&self, alg: Alg) -> bool {
        if self.alg.is_rsa() {
            alg.is_rsa()
        } else {
            alg == self.alg
        }
    }

    fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        if !self.accepts(alg) {
            return false;
        }
        let ring_alg: &dyn signature::VerificationAlgorithm = match alg {
            Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Alg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Alg::ES512 => return super::p521::verify(&self.raw, msg, sig),
        };
        UnparsedPublicKey::new(ring_alg, &self.raw).verify(msg, sig).is_ok()
    }
}

impl PublicKey {
    /// From a JWK (`kty` RSA with `n`/`e`, or EC P-256 with `x`/`y`), as an OIDC issuer
    /// publishes them; the `kid` is the JWK's. Other key types: an error naming them.
    pub fn from_jwk(jwk: &Value) -> Result<PublicKey, String> {
        let field = |k: &str| -> Result<Vec<u8>, String> {
            let v = jwk
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("JWK lacks {k:?}"))?;
            B64.decode(v.trim_end_matches('='))
                .map_err(|e| format!("JWK {k:?}: {e}"))
        };
        let mut key = match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
            (Some("RSA"), _) => {
                let int = |mut v: Vec<u8>| {
                    if v.first().is_some_and(|b| *b >= 0x80) {
                        v.insert(0, 0);
                    }
                    der(0x02, &v)
                };
                let body = [int(field("n")?), int(field("e")?)].concat();
                PublicKey::new(Alg::RS256, der(0x30, &body))
            }
            (Some("EC"), Some(crv)) if CURVES.iter().any(|c| c.2 == crv) => {
                let (alg, _, _, len) = CURVES.iter().find(|c| c.2 == crv).copied().unwrap_or(CURVES[0]);
                let (x, y) = (field("x")?, field("y")?);
                if x.len() != len || y.len() != len {
                    return Err(format!("JWK: bad {crv} point"));
                }
                PublicKey::new(alg, [&[4u8][..], &x, &y].concat())
            }
            (kty, crv) => {
                return Err(format!(
                    "unsupported JWK kty={kty:?} crv={crv:?} (RSA or EC P-256, P-384, P-521)"
                ))
            }
        };
        if let Some(kid) = jwk.get("kid").and_then(Value::as_str) {
            key.kid = kid.to_string();
        }
        Ok(key)
    }
}

/// The JOSE header of a compact JWS (None: not a JWT).
pub fn peek_header(token: &str) -> Option<Value> {
    let header = token.split('.').next()?;
    serde_json::from_slice(&B64.decode(header).ok()?).ok()
}

/// Modulus and exponent of a PKCS#1 RSAPublicKey, without leading zero bytes.
fn rsa_components(pkcs1: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, seq, _) = der_take(pkcs1)?;
    let (_, n, rest) = der_take(seq)?;
    let (_, e, _) = der_take(rest)?;
    let strip = |v: &[u8]| v.iter().copied().skip_while(|b| *b == 0).collect::<Vec<u8>>();
    Some((strip(n), strip(e)))
}

/// SEC1 `EC PRIVATE KEY` wrapped as PKCS#8 (what ring reads), for the curve `oid`.
fn sec1_to_pkcs8(sec1: &[u8], oid: &[u8]) -> Vec<u8> {
    let alg = der(0x30, &[der(0x06, OID_EC), der(0x06, oid)].concat());
    der(0x30, &[vec![0x02, 0x01, 0x00], alg, der(0x04, sec1)].concat())
}

impl SigningKey {
    fn rsa(k: RsaKeyPair) -> SigningKey {
        let public = PublicKey::new(Alg::RS256, k.public().as_ref().to_vec());
        SigningKey {
            signer: Signer::Rsa(k),
            public,
        }
    }

    fn ec(alg: Alg, k: EcdsaKeyPair) -> SigningKey {
        let public = PublicKey::new(alg, k.public_key().as_ref().to_vec());
        SigningKey {
            signer: Signer::Ec(k),
            public,
        }
    }

    fn from_item(item: rustls_pemfile::Item) -> anyhow::Result<Option<SigningKey>> {
        use rustls_pemfile::Item;
        let rng = SystemRandom::new();
        let ec = |pkcs8: &[u8]| {
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map(|k| SigningKey::ec(Alg::ES256, k))
                .or_else(|_| {
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8, &rng)
                        .map(|k| SigningKey::ec(Alg::ES384, k))
                })
                .map_err(|e| anyhow!("unsupported EC private key (want P-256 or P-384): {e}"))
        };
        // A SEC1 key names its curve inside; try both curves ring signs with.
        let sec1 = |der: &[u8]| ec(&sec1_to_pkcs8(der, OID_P256)).or_else(|_| ec(&sec1_to_pkcs8(der, OID_P384)));
        Ok(Some(match item {
            Item::Pkcs1Key(k) => SigningKey::rsa(
                RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(|e| anyhow!("invalid RSA private key: {e}"))?,
            ),
            Item::Sec1Key(k) => sec1(k.secret_sec1_der())?,
            Item::Pkcs8Key(k) => match RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()) {
                Ok(r) => SigningKey::rsa(r),
                Err(_) => ec(k.secret_pkcs8_der())?,
            },
            _ => return Ok(None),
        }))
    }

    /// The first private key of a PEM file (`--service-account-signing-key-file`).
    pub fn load(path: &Path) -> anyhow::Result<SigningKey> {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for item in rustls_pemfile::read_all(&mut &pem[..]) {
            let item = item.with_context(|| format!("parsing {}", path.display()))?;
            if let Some(k) = SigningKey::from_item(item).with_context(|| path.display().to_string())? {
                return Ok(k);
            }
        }
        Err(anyhow!("no private key found in {}", path.display()))
    }

    /// Sign `claims` as a compact JWS (header `{"alg":..,"kid":..}`) with the key's own
    /// algorithm.
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        self.sign_as(self.public.alg, claims)
    }

    /// Sign with `alg` (RSA keys: any RS* or PS*; EC keys: their curve's).
    pub fn sign_as(&self, alg: Alg, claims: &Value) -> anyhow::Result<String> {
        if !self.public.accepts(alg) {
            return Err(anyhow!("a {} key cannot sign {}", self.public.alg.name(), alg.name()));
        }
        let header = json!({"alg": alg.name(), "kid": self.public.kid});
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header)?),
            B64.encode(serde_json::to_vec(claims)?)
        );
        let rng = SystemRandom::new();
        let sig = match &self.signer {
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    Alg::RS384 => &signature::RSA_PKCS1_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                k.sign(padding, &rng, input.as_bytes(), &mut sig)
                    .map_err(|_| anyhow!("RSA signing failed"))?;
                sig
            }
            Signer::Ec(k) => k
                .sign(&rng, input.as_bytes())
                .map_err(|_| anyhow!("ECDSA signing failed"))?
                .as_ref()
                .to_vec(),
        };
        Ok(format!("{input}.{}", B64.encode(sig)))
    }
}

/// Every key of the PEM files (`--service-account-key-file`): public keys, certificates, or
/// private keys (their public half).
pub fn load_public_keys(path: &Path) -> anyhow::Result<Vec<PublicKey>> {
    use rustls_pemfile::Item;
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for item in rustls_pemfile::read_all(&mut &pem[..]) {
        let item = item.with_context(|| format!("parsing {}", path.display()))?;
        let key = match item {
            Item::SubjectPublicKeyInfo(k) => PublicKey::from_spki(k.as_ref()),
            Item::X509Certificate(c) => x509_parser::parse_x509_certificate(c.as_ref())
                .map_err(|e| anyhow!("bad certificate: {e}"))
                .and_then(|(_, c)| PublicKey::from_spki(c.tbs_certificate.subject_pki.raw)),
            other => match SigningKey::from_item(other)? {
                Some(k) => Ok(k.public),
                None => continue,
            },
        };
        out.push(key.with_context(|| path.display().to_string())?);
    }
    if out.is_empty() {
        return Err(anyhow!("no public key found in {}", path.display()));
    }
    Ok(out)
}

/// A generated ECDSA P-256 key pair as PEM (private PKCS#8, public PKIX).
pub fn generate_pem() -> anyhow::Result<(String, String)> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow!("cannot generate a key"))?;
    let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| anyhow!("cannot read the generated key"))?;
    let public = PublicKey::new(Alg::ES256, key.public_key().as_ref().to_vec());
    Ok((pem("PRIVATE KEY", pkcs8.as_ref()), pem("PUBLIC KEY", &public.spki())))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The claims of a compact JWS, unverified (to pick the validator by issuer). None: not a JWT.
pub fn peek_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, payload, _, extra) = (parts.next()?, parts.next()?, parts.next()?, parts.next());
    if extra.is_some() {
        return None;
    }
    serde_json::from_slice(&B64.decode(payload).ok()?).ok()
}

/// Verify the signature of `token` with any of `keys` (those matching the header's `alg`; the
/// `kid` is a hint, as upstream tries every key). Returns the claims.
pub fn verify(token: &str, keys: &[PublicKey]) -> Result<Value, String> {
    let invalid = || "square/go-jose: error in cryptographic primitive".to_string();
    let (input, sig) = token.rsplit_once('.').ok_or_else(invalid)?;
    let (header, payload) = input.split_once('.').ok_or_else(invalid)?;
    let header: Value = B64
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(invalid)?;
    let sig = B64.decode(sig).map_err(|_| invalid())?;
    let alg = Alg::from_name(header["alg"].as_str().unwrap_or("")).ok_or_else(invalid)?;
    let ok = keys.iter().any(|k| k.verify(alg, input.as_bytes(), &sig));
    if !ok {
        return Err(invalid());
    }
    B64.decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Run openssl in `dir`; it must succeed.
    fn openssl(dir: &Path, args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn roundtrip(key: &SigningKey, public: &[PublicKey]) {
        let claims = json!({"iss": "x", "sub": "y"});
        let tok = key.sign(&claims).unwrap();
        assert_eq!(verify(&tok, public).unwrap(), claims);
        // A changed payload no longer verifies.
        let mut parts: Vec<String> = tok.split('.').map(str::to_string).collect();
        parts[1] = B64.encode(br#"{"iss":"x","sub":"z"}"#);
        assert!(verify(&parts.join("."), public).is_err());
        assert_eq!(peek_claims(&tok).unwrap()["sub"], "y");
    }

    #[test]
    fn keys_round_trip_through_jwks() {
        let dir = tempfile::tempdir().unwrap();
        let (private, _) = generate_pem().unwrap();
        let key = SigningKey::load(&write(dir.path(), "k", &private)).unwrap();
        let back = PublicKey::from_jwk(&key.public.jwk()).unwrap();
        assert_eq!(back.kid, key.public.kid);
        roundtrip(&key, &[back]);
        assert!(PublicKey::from_jwk(&json!({"kty": "oct", "k": "x"})).is_err());
        assert_eq!(peek_header(&key.sign(&json!({})).unwrap()).unwrap()["alg"], "ES256");
    }

    #[test]
    fn ecdsa_generated_sign_verify_and_jwk() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate_pem().unwrap();
        let key = SigningKey::load(&write(dir.path(), "sa.key", &private)).unwrap();
        let pubs = load_public_keys(&write(dir.path(), "sa.pub", &public)).unwrap();
        assert_eq!(pubs[0].kid, key.public.kid);
        assert_eq!(key.public.alg, Alg::ES256);
        roundtrip(&key, &pubs);
        let jwk = pubs[0].jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(B64.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
        // A different key does not verify.
        let (other, _) = generate_pem().unwrap();
        let other = SigningKey::load(&write(dir.path(), "o.key", &other)).unwrap();
        assert!(verify(&other.sign(&json!({})).unwrap(), &pubs).is_err());
    }

    /// Every algorithm upstream's OIDC authenticator allows: RSA keys sign RS* and PS* with
    /// ring, a P-384 key ES384; ES512 tokens are signed by openssl (ring has no P-521), which
    /// also checks our P-521 verifier against an independent implementation.
    #[test]
    fn every_upstream_algorithm_signs_and_verifies() {
        if !crate::testing::require_tool("openssl") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| openssl(dir.path(), args);
        run(&["genrsa", "-out", "rsa.key", "2048"]);
        run(&["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "p384.key"]);
        run(&["ecparam", "-name", "secp521r1", "-genkey", "-noout", "-out", "p521.key"]);
        run(&["ec", "-in", "p521.key", "-pubout", "-out", "p521.pub"]);
        let rsa = SigningKey::load(&dir.path().join("rsa.key")).unwrap();
        let p384 = SigningKey::load(&dir.path().join("p384.key")).unwrap();
        assert_eq!(p384.public.alg, Alg::ES384);
        let rsa_jwk = PublicKey::from_jwk(&rsa.public.jwk()).unwrap();
        let p384_jwk = PublicKey::from_jwk(&p384.public.jwk()).unwrap();
        let keys = [rsa_jwk, p384_jwk];
        for alg in [Alg::RS256, Alg::RS384, Alg::RS512, Alg::PS256, Alg::PS384, Alg::PS512] {
            let tok = rsa.sign_as(alg, &json!({"a": alg.name()})).unwrap();
            assert_eq!(peek_header(&tok).unwrap()["alg"], alg.name());
            assert_eq!(verify(&tok, &keys).unwrap()["a"], alg.name(), "{alg:?}");
            // The header names the algorithm: the same signature under another name fails.
            let other = if alg == Alg::RS256 { Alg::PS256 } else { Alg::RS256 };
            let (_, rest) = tok.split_once('.').unwrap();
            let header = B64.encode(serde_json::to_vec(&json!({"alg": other.name(), "kid": rsa.public.kid})).unwrap());
            assert!(
                verify(&format!("{header}.{rest}"), &keys).is_err(),
                "{alg:?} as {other:?}"
            );
        }
        let tok = p384.sign_as(Alg::ES384, &json!({"a": 1})).unwrap();
        assert_eq!(verify(&tok, &keys).unwrap()["a"], 1);
        assert!(p384.sign_as(Alg::ES256, &json!({})).is_err());
        assert!(rsa.sign_as(Alg::ES256, &json!({})).is_err());

        // ES512: the P-521 key's public half through PEM and JWK; openssl signs.
        let p521 = load_public_keys(&dir.path().join("p521.pub")).unwrap().remove(0);
        assert_eq!(p521.alg, Alg::ES512);
        let jwk = p521.jwk();
        assert_eq!(
            (jwk["crv"].as_str(), jwk["alg"].as_str()),
            (Some("P-521"), Some("ES512"))
        );
        let p521 = PublicKey::from_jwk(&jwk).unwrap();
        let es512 = |claims: &Value| {
            let input = format!(
                "{}.{}",
                B64.encode(br#"{"alg":"ES512"}"#),
                B64.encode(serde_json::to_vec(claims).unwrap())
            );
            std::fs::write(dir.path().join("msg"), &input).unwrap();
            run(&["dgst", "-sha512", "-sign", "p521.key", "-out", "sig.der", "msg"]);
            let der_sig = std::fs::read(dir.path().join("sig.der")).unwrap();
            // ECDSA-Sig-Value (SEQUENCE of two INTEGERs) → r‖s, 66 bytes each.
            let (_, seq, _) = der_take(&der_sig).unwrap();
            let (_, r, rest) = der_take(seq).unwrap();
            let (_, s, _) = der_take(rest).unwrap();
            let fixed = |v: &[u8]| {
                let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
                [vec![0u8; 66 - v.len()], v].concat()
            };
            format!("{input}.{}", B64.encode([fixed(r), fixed(s)].concat()))
        };
        for i in 0..3 {
            let tok = es512(&json!({"n": i}));
            let keys = [keys[0].clone(), p521.clone()];
            assert_eq!(verify(&tok, &keys).unwrap()["n"], i);
            // A changed payload or signature fails.
            let mut parts: Vec<String> = tok.split('.').map(str::to_string).collect();
            parts[1] = B64.encode(br#"{"n":99}"#);
            assert!(verify(&parts.join("."), &keys).is_err());
            let mut sig = B64.decode(tok.rsplit('.').next().unwrap()).unwrap();
            sig[70] ^= 1;
            let bad = format!("{}.{}", tok.rsplit_once('.').unwrap().0, B64.encode(sig));
            assert!(verify(&bad, &keys).is_err());
        }
    }

    #[test]
    fn rsa_and_sec1_keys_from_openssl() {
        if !crate::testing::require_tool("openssl") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| openssl(dir.path(), args);
        run(&["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
        run(&["rsa", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"]);
        run(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key"]);
        run(&["ec", "-in", "ec.key", "-pubout", "-out", "ec.pub"]);
        let rsa = SigningKey::load(&dir.path().join("rsa.key")).unwrap();
        assert_eq!(rsa.public.alg, Alg::RS256);
        let rsa_pub = load_public_keys(&dir.path().join("rsa.pub")).unwrap();
        assert_eq!(rsa_pub[0].kid, rsa.public.kid, "kid is the hash of the same PKIX DER");
        roundtrip(&rsa, &rsa_pub);
        assert_eq!(rsa_pub[0].jwk()["e"], "AQAB");
        let ec = SigningKey::load(&dir.path().join("ec.key")).unwrap();
        let ec_pub = load_public_keys(&dir.path().join("ec.pub")).unwrap();
        assert_eq!(ec_pub[0].kid, ec.public.kid);
        // Both keys in the verification set; an RSA token is not checked against the EC key.
        let both = [ec_pub.clone(), rsa_pub.clone()].concat();
        roundtrip(&ec, &both);
        roundtrip(&rsa, &both);
        // A private key in --service-account-key-file contributes its public half.
        assert_eq!(
            load_public_keys(&dir.path().join("rsa.key")).unwrap()[0].kid,
            rsa.public.kid
        );
    }
}
