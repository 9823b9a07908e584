//! Kubernetes' IP and CIDR libraries (Go `net/netip` semantics): IPv4-mapped IPv6 addresses
//! and zones are refused, CIDRs keep their unmasked address (`cidr('10.0.0.1/8').ip()`).

use super::ext::Ext;
use super::{nso, str_arg};
use crate::cel::decls::Registry;
use crate::cel::value::{string, Value};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub bits: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

fn mask(a: IpAddr, bits: u8) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(v) & m))
        }
        IpAddr::V6(v) => {
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(v) & m))
        }
    }
}

impl Cidr {
    fn contains(&self, ip: &IpAddr) -> bool {
        self.addr.is_ipv4() == ip.is_ipv4() && mask(self.addr, self.bits) == mask(*ip, self.bits)
    }
    fn contains_cidr(&self, o: &Cidr) -> bool {
        if self.addr.is_ipv4() != o.addr.is_ipv4() {
            return false;
        }
        let min = self.bits.min(o.bits);
        mask(self.addr, min) == mask(o.addr, min) && self.bits <= o.bits
    }
}

fn netip_parse(raw: &str) -> Result<IpAddr, String> {
    let why = |w: &str| format!("ParseAddr({}): {w}", crate::util::go_quote(raw));
    if raw.is_empty() {
        return Err(why("unable to parse IP"));
    }
    if raw.contains(':') {
        if let Some((a, z)) = raw.split_once('%') {
            if z.is_empty() {
                return Err(why("zone must be a non-empty string"));
            }
            return a
                .parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| why("unable to parse IP"))
                .and(Err("zone".into()));
        }
        return raw
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| why("unable to parse IP"));
    }
    if raw.split('.').any(|o| o.len() > 1 && o.starts_with('0')) {
        return Err(why("IPv4 field has octet with leading zero"));
    }
    raw.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .map_err(|_| why("unable to parse IP"))
}

fn is_4in6(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v) if v.to_ipv4_mapped().is_some())
}

/// Upstream `parseIPAddr`.
pub fn parse_ip(raw: &str) -> Result<IpAddr, String> {
    let a = match netip_parse(raw) {
        Ok(a) => a,
        Err(e) if e == "zone" => {
            return Err(format!(
                "IP address {} with zone value is not allowed",
                crate::util::go_quote(raw)
            ))
        }
        Err(e) => {
            return Err(format!(
                "IP Address {} parse error during conversion from string: {e}",
                crate::util::go_quote(raw)
            ))
        }
    };
    if is_4in6(&a) {
        return Err(format!(
            "IPv4-mapped IPv6 address {} is not allowed",
            crate::util::go_quote(raw)
        ));
    }
    Ok(a)
}

/// Upstream `parseCIDR`.
pub fn parse_cidr(raw: &str) -> Result<Cidr, String> {
    let err = |w: &str| {
        format!(
            "network address parse error during conversion from string: netip.ParsePrefix({}): {w}",
            crate::util::go_quote(raw)
        )
    };
    let Some((a, b)) = raw.rsplit_once('/') else {
        return Err(err("no '/'"));
    };
    if a.contains('%') {
        return Err(err("IPv6 zones cannot be present in a prefix"));
    }
    let addr = netip_parse(a).map_err(|e| err(&e))?;
    if b.is_empty() || !b.bytes().all(|c| c.is_ascii_digit()) || (b.len() > 1 && b.starts_with('0')) {
        return Err(err(&format!("bad bits after slash: {}", crate::util::go_quote(b))));
    }
    let bits: u32 = b.parse().map_err(|_| err("bad bits after slash"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(err("prefix length out of range"));
    }
    if is_4in6(&addr) {
        return Err(format!(
            "IPv4-mapped IPv6 address {} is not allowed",
            crate::util::go_quote(raw)
        ));
    }
    Ok(Cidr { addr, bits: bits as u8 })
}

fn ip_val<'a>(a: IpAddr) -> Value<'a> {
    Value::Ext(Arc::new(Ext::Ip(a)))
}

fn ip_arg(a: &[Value<'_>], i: usize) -> Result<IpAddr, String> {
    match a.get(i) {
        Some(Value::Ext(e)) => match &**e {
            Ext::Ip(ip) => Ok(*ip),
            _ => nso(),
        },
        _ => nso(),
    }
}

fn cidr_arg(a: &[Value<'_>], i: usize) -> Result<Cidr, String> {
    match a.get(i) {
        Some(Value::Ext(e)) => match &**e {
            Ext::Cidr(c) => Ok(*c),
            _ => nso(),
        },
        _ => nso(),
    }
}

fn link_local_multicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v) => v.segments()[0] & 0xff0f == 0xff02,
    }
}

fn link_local_unicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.octets()[..2] == [169, 254],
        IpAddr::V6(v) => v.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn global_unicast(a: &IpAddr) -> bool {
    if let IpAddr::V4(v) = a {
        if *v == Ipv4Addr::BROADCAST {
            return false;
        }
    }
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || link_local_unicast(a))
}

pub fn register(r: &mut Registry) {
    r.global("ip", "string_to_ip", "string -> net.IP", |a| {
        parse_ip(str_arg(&a, 0)?).map(ip_val)
    });
    r.member("family", "ip_family", "net.IP -> int", |a| {
        Ok(Value::Int(if ip_arg(&a, 0)?.is_ipv4() { 4 } else { 6 }))
    });
    r.global("ip.isCanonical", "ip_is_canonical", "string -> bool", |a| {
        let s = str_arg(&a, 0)?;
        Ok(Value::Bool(parse_ip(s)?.to_string() == s))
    });
    r.member("isUnspecified", "ip_is_unspecified", "net.IP -> bool", |a| {
        Ok(Value::Bool(ip_arg(&a, 0)?.is_unspecified()))
    });
    r.member("isLoopback", "ip_is_loopback", "net.IP -> bool", |a| {
        Ok(Value::Bool(ip_arg(&a, 0)?.is_loopback()))
    });
    r.member(
        "isLinkLocalMulticast",
        "ip_is_link_local_multicast",
        "net.IP -> bool",
        |a| Ok(Value::Bool(link_local_multicast(&ip_arg(&a, 0)?))),
    );
    r.member(
        "isLinkLocalUnicast",
        "ip_is_link_local_unicast",
        "net.IP -> bool",
        |a| Ok(Value::Bool(link_local_unicast(&ip_arg(&a, 0)?))),
    );
    r.member("isGlobalUnicast", "ip_is_global_unicast", "net.IP -> bool", |a| {
        Ok(Value::Bool(global_unicast(&ip_arg(&a, 0)?)))
    });
    r.global("isIP", "is_ip", "string -> bool", |a| {
        Ok(Value::Bool(parse_ip(str_arg(&a, 0)?).is_ok()))
    });
    r.global("string", "ip_to_string", "net.IP -> string", |a| {
        Ok(string(ip_arg(&a, 0)?.to_string()))
    });

    r.global("cidr", "string_to_cidr", "string -> net.CIDR", |a| {
        parse_cidr(str_arg(&a, 0)?).map(|c| Value::Ext(Arc::new(Ext::Cidr(c))))
    });
    r.member(
        "containsIP",
        "cidr_contains_ip_string",
        "net.CIDR, string -> bool",
        |a| {
            let c = cidr_arg(&a, 0)?;
            Ok(Value::Bool(c.contains(&parse_ip(str_arg(&a, 1)?)?)))
        },
    );
    r.member("containsIP", "cidr_contains_ip_ip", "net.CIDR, net.IP -> bool", |a| {
        Ok(Value::Bool(cidr_arg(&a, 0)?.contains(&ip_arg(&a, 1)?)))
    });
    r.member(
        "containsCIDR",
        "cidr_contains_cidr_string",
        "net.CIDR, string -> bool",
        |a| {
            let c = cidr_arg(&a, 0)?;
            Ok(Value::Bool(c.contains_cidr(&parse_cidr(str_arg(&a, 1)?)?)))
        },
    );
    r.member(
        "containsCIDR",
        "cidr_contains_cidr",
        "net.CIDR, net.CIDR -> bool",
        |a| Ok(Value::Bool(cidr_arg(&a, 0)?.contains_cidr(&cidr_arg(&a, 1)?))),
    );
    r.member("ip", "cidr_ip", "net.CIDR -> net.IP", |a| {
        Ok(ip_val(cidr_arg(&a, 0)?.addr))
    });
    r.member("prefixLength", "cidr_prefix_length", "net.CIDR -> int", |a| {
        Ok(Value::Int(i64::from(cidr_arg(&a, 0)?.bits)))
    });
    r.member("masked", "cidr_masked", "net.CIDR -> net.CIDR", |a| {
        let c = cidr_arg(&a, 0)?;
        Ok(Value::Ext(Arc::new(Ext::Cidr(Cidr {
            addr: mask(c.addr, c.bits),
            bits: c.bits,
        }))))
    });
    r.global("isCIDR", "is_cidr", "string -> bool", |a| {
        Ok(Value::Bool(parse_cidr(str_arg(&a, 0)?).is_ok()))
    });
    r.global("string", "cidr_to_string", "net.CIDR -> string", |a| {
        Ok(string(cidr_arg(&a, 0)?.to_string()))
    });
}
