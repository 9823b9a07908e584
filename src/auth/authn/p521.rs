//! ECDSA P-521 / SHA-512 signature verification (JWS `ES512`), which `ring` lacks. Verification
//! only, over public data, so plain big-integer arithmetic (no constant-time needs): Jacobian
//! coordinates on secp521r1 (SEC 2 §2.6.1), FIPS 186-4 §6.4.2 verification.

use num_bigint::BigUint;
use std::sync::OnceLock;

struct Curve {
    p: BigUint,
    n: BigUint,
    b: BigUint,
    g: (BigUint, BigUint),
}

fn hex(s: &str) -> BigUint {
    BigUint::parse_bytes(s.as_bytes(), 16).unwrap_or_default()
}

fn curve() -> &'static Curve {
    static C: OnceLock<Curve> = OnceLock::new();
    C.get_or_init(|| Curve {
        p: (BigUint::from(1u8) << 521u32) - 1u8,
        n: hex("01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"),
        b: hex("0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00"),
        g: (
            hex("00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66"),
            hex("011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650"),
        ),
    })
}

/// A point in Jacobian coordinates (X/Z², Y/Z³); Z = 0 is the point at infinity.
#[derive(Clone)]
struct Jac {
    x: BigUint,
    y: BigUint,
    z: BigUint,
}

struct Field<'a>(&'a BigUint);

impl Field<'_> {
    fn mul(&self, a: &BigUint, b: &BigUint) -> BigUint {
        (a * b) % self.0
    }
    fn add(&self, a: &BigUint, b: &BigUint) -> BigUint {
        (a + b) % self.0
    }
    fn sub(&self, a: &BigUint, b: &BigUint) -> BigUint {
        ((a + self.0) - b) % self.0
    }
    fn small(&self, k: u32, a: &BigUint) -> BigUint {
        (a * k) % self.0
    }

    /// dbl-2001-b (a = -3).
    fn double(&self, q: &Jac) -> Jac {
        if q.z == BigUint::ZERO || q.y == BigUint::ZERO {
            return infinity();
        }
        let delta = self.mul(&q.z, &q.z);
        let gamma = self.mul(&q.y, &q.y);
        let beta = self.mul(&q.x, &gamma);
        let alpha = self.small(3, &self.mul(&self.sub(&q.x, &delta), &self.add(&q.x, &delta)));
        let x = self.sub(&self.mul(&alpha, &alpha), &self.small(8, &beta));
        let yz = self.add(&q.y, &q.z);
        let z = self.sub(&self.sub(&self.mul(&yz, &yz), &gamma), &delta);
        let y = self.sub(
            &self.mul(&alpha, &self.sub(&self.small(4, &beta), &x)),
            &self.small(8, &self.mul(&gamma, &gamma)),
        );
        Jac { x, y, z }
    }

    /// add-2007-bl.
    fn add_points(&self, a: &Jac, b: &Jac) -> Jac {
        if a.z == BigUint::ZERO {
            return b.clone();
        }
        if b.z == BigUint::ZERO {
            return a.clone();
        }
        let z1z1 = self.mul(&a.z, &a.z);
        let z2z2 = self.mul(&b.z, &b.z);
        let u1 = self.mul(&a.x, &z2z2);
        let u2 = self.mul(&b.x, &z1z1);
        let s1 = self.mul(&self.mul(&a.y, &b.z), &z2z2);
        let s2 = self.mul(&self.mul(&b.y, &a.z), &z1z1);
        if u1 == u2 {
            return if s1 == s2 { self.double(a) } else { infinity() };
        }
        let h = self.sub(&u2, &u1);
        let i = self.small(4, &self.mul(&h, &h));
        let j = self.mul(&h, &i);
        let r = self.small(2, &self.sub(&s2, &s1));
        let v = self.mul(&u1, &i);
        let x = self.sub(&self.sub(&self.mul(&r, &r), &j), &self.small(2, &v));
        let y = self.sub(&self.mul(&r, &self.sub(&v, &x)), &self.small(2, &self.mul(&s1, &j)));
        let zz = self.add(&a.z, &b.z);
        let z = self.mul(&self.sub(&self.sub(&self.mul(&zz, &zz), &z1z1), &z2z2), &h);
        Jac { x, y, z }
    }

    /// u1·G + u2·Q in one pass (Shamir's trick).
    fn twin_mul(&self, u1: &BigUint, g: &Jac, u2: &BigUint, q: &Jac) -> Jac {
        let gq = self.add_points(g, q);
        let mut acc = infinity();
        for i in (0..u1.bits().max(u2.bits())).rev() {
            acc = self.double(&acc);
            match (u1.bit(i), u2.bit(i)) {
                (true, true) => acc = self.add_points(&acc, &gq),
                (true, false) => acc = self.add_points(&acc, g),
                (false, true) => acc = self.add_points(&acc, q),
                (false, false) => {}
            }
        }
        acc
    }

    fn inverse(&self, a: &BigUint) -> BigUint {
        a.modpow(&(self.0 - 2u8), self.0)
    }
}

fn infinity() -> Jac {
    Jac {
        x: BigUint::from(1u8),
        y: BigUint::from(1u8),
        z: BigUint::ZERO,
    }
}

/// Verify `sig` (r‖s, 66 bytes each, as JWS encodes it) over `msg` with the uncompressed public
/// point `public` (0x04‖x‖y).
pub fn verify(public: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let c = curve();
    if public.len() != 133 || public[0] != 4 || sig.len() != 132 {
        return false;
    }
    let (qx, qy) = (
        BigUint::from_bytes_be(&public[1..67]),
        BigUint::from_bytes_be(&public[67..]),
    );
    let fp = Field(&c.p);
    // The point must be on y² = x³ − 3x + b.
    if qx >= c.p || qy >= c.p {
        return false;
    }
    let rhs = fp.add(&fp.sub(&fp.mul(&fp.mul(&qx, &qx), &qx), &fp.small(3, &qx)), &c.b);
    if fp.mul(&qy, &qy) != rhs {
        return false;
    }
    let (r, s) = (BigUint::from_bytes_be(&sig[..66]), BigUint::from_bytes_be(&sig[66..]));
    if r == BigUint::ZERO || s == BigUint::ZERO || r >= c.n || s >= c.n {
        return false;
    }
    // SHA-512 is shorter than n: the whole digest is e.
    let e = BigUint::from_bytes_be(ring::digest::digest(&ring::digest::SHA512, msg).as_ref());
    let fnn = Field(&c.n);
    let w = fnn.inverse(&s);
    let (u1, u2) = (fnn.mul(&e, &w), fnn.mul(&r, &w));
    let one = BigUint::from(1u8);
    let g = Jac {
        x: c.g.0.clone(),
        y: c.g.1.clone(),
        z: one.clone(),
    };
    let q = Jac { x: qx, y: qy, z: one };
    let p = fp.twin_mul(&u1, &g, &u2, &q);
    if p.z == BigUint::ZERO {
        return false;
    }
    let zinv = fp.inverse(&p.z);
    let x = fp.mul(&p.x, &fp.mul(&zinv, &zinv));
    x % &c.n == r
}
