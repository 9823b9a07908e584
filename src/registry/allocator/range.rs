//! A range of allocatable values: a Service CIDR (network and, for IPv4, broadcast excluded) or
//! a node-port range, with upstream's sizes and the bound between the static (lower) and the
//! dynamic (upper) band.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Space {
    Ip { net: u128, prefix: u8, v6: bool },
    Port,
}

/// A contiguous block of allocatable values (IPs as integers, or ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Range {
    space: Space,
    /// The range specifier as upstream prints it (`10.0.0.0/24`, `30000-32767`).
    pub(super) spec: String,
    /// The value of offset 0.
    base: u128,
    /// Number of allocatable values.
    pub(super) max: usize,
    /// Size of the static (lower) band.
    pub(super) offset: usize,
}

fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn u128_to_ip(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    }
}

/// Bits of an address: 32 for IPv4, 128 for IPv6.
fn addr_bits(v6: bool) -> u32 {
    if v6 {
        128
    } else {
        32
    }
}

/// Size of the static band of a range of `size` values, `max` of them allocatable:
/// `min(max(lo, size/step), hi)`; 0 when the range is no bigger than `lo` or the band would
/// leave no dynamic values.
fn band_offset(size: u128, max: usize, lo: u128, step: u128, hi: u128) -> usize {
    if size <= lo {
        return 0;
    }
    let offset = (size / step).clamp(lo, hi) as usize;
    if offset >= max {
        0
    } else {
        offset
    }
}

impl Range {
    pub(super) fn parse(spec: &str) -> Result<Range, String> {
        if spec.contains('/') {
            Range::cidr(spec)
        } else {
            Range::ports(spec)
        }
    }

    pub(super) fn cidr(s: &str) -> Result<Range, String> {
        let s = s.trim();
        let (addr, bits) = s.split_once('/').ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        let ip: IpAddr = addr.parse().map_err(|_| format!("invalid CIDR address: {s}"))?;
        let prefix: u8 = bits.parse().map_err(|_| format!("invalid CIDR address: {s}"))?;
        let v6 = ip.is_ipv6();
        if u32::from(prefix) > addr_bits(v6) {
            return Err(format!("invalid CIDR address: {s}"));
        }
        let host_bits = addr_bits(v6) - u32::from(prefix);
        let mask: u128 = if host_bits >= 128 {
            0
        } else {
            let all = if v6 { u128::MAX } else { u32::MAX as u128 };
            all & !((1u128 << host_bits) - 1)
        };
        let net = ip_to_u128(ip) & mask;
        // netutils.RangeSize
        let size: u128 = if (!v6 && host_bits >= 31) || (v6 && host_bits >= 127) {
            0
        } else if host_bits >= 63 {
            i64::MAX as u128
        } else {
            1u128 << host_bits
        };
        let mut max: i128 = size as i128;
        if v6 {
            max = max.min(65536);
        } else {
            max -= 1; // broadcast
        }
        max -= 1; // network address
        let max = max.max(0) as usize;
        Ok(Range {
            space: Space::Ip { net, prefix, v6 },
            spec: format!("{}/{prefix}", u128_to_ip(net, v6)),
            base: net + 1,
            max,
            offset: band_offset(size, max, 16, 16, 256),
        })
    }

    /// `net.ParsePortRange`: `a-b`, `a+n` or a single port.
    pub(super) fn ports(s: &str) -> Result<Range, String> {
        let s = s.trim();
        let bad = || format!("unable to parse port range: {s}");
        let (base, size): (u32, u32) = if let Some((a, b)) = s.split_once('-') {
            let a: u32 = a.trim().parse().map_err(|_| bad())?;
            let b: u32 = b.trim().parse().map_err(|_| bad())?;
            if b < a {
                return Err(format!("end port {b} must be greater than or equal to base port {a}"));
            }
            (a, b - a + 1)
        } else if let Some((a, n)) = s.split_once('+') {
            let a: u32 = a.trim().parse().map_err(|_| bad())?;
            let n: u32 = n.trim().parse().map_err(|_| bad())?;
            (a, n)
        } else {
            let a: u32 = s.parse().map_err(|_| bad())?;
            (a, 1)
        };
        if base > 65535 || (base + size).saturating_sub(1) > 65535 || size == 0 {
            return Err(bad());
        }
        Ok(Range {
            space: Space::Port,
            spec: format!("{base}-{}", base + size - 1),
            base: base as u128,
            max: size as usize,
            offset: band_offset(size as u128, size as usize, 16, 32, 128),
        })
    }

    pub(super) fn is_v6(&self) -> bool {
        matches!(self.space, Space::Ip { v6: true, .. })
    }

    /// Bits of an address of this range (32 for a port range).
    pub(super) fn addr_bits(&self) -> u32 {
        addr_bits(self.is_v6())
    }

    /// Bits of the host part of an IP range (0 for a port range).
    pub(super) fn host_bits(&self) -> u32 {
        match self.space {
            Space::Ip { prefix, v6, .. } => addr_bits(v6) - u32::from(prefix),
            Space::Port => 0,
        }
    }

    pub(super) fn family(&self) -> &'static str {
        if self.is_v6() {
            "IPv6"
        } else {
            "IPv4"
        }
    }

    fn offset_of(&self, v: u128) -> Option<usize> {
        if v < self.base {
            return None;
        }
        let off = v - self.base;
        (off < self.max as u128).then_some(off as usize)
    }

    pub(super) fn value(&self, off: usize) -> u128 {
        self.base + off as u128
    }

    /// The offset of an IP of this range (network/broadcast excluded, family checked).
    pub(super) fn ip_offset(&self, ip: IpAddr) -> Option<usize> {
        let Space::Ip { net, v6, .. } = self.space else {
            return None;
        };
        if ip.is_ipv6() != v6 {
            return None;
        }
        let host_bits = self.host_bits();
        let v = ip_to_u128(ip);
        let in_net = host_bits >= 128 || (v >> host_bits) == (net >> host_bits);
        if !in_net {
            return None;
        }
        self.offset_of(v)
    }

    pub(super) fn ip_at(&self, off: usize) -> IpAddr {
        u128_to_ip(self.value(off), self.is_v6())
    }

    pub(super) fn network_ip(&self) -> IpAddr {
        match self.space {
            Space::Ip { net, v6, .. } => u128_to_ip(net, v6),
            Space::Port => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    pub(super) fn port_offset(&self, port: i64) -> Option<usize> {
        if self.space != Space::Port || port < 0 {
            return None;
        }
        self.offset_of(port as u128)
    }

    /// The value at `off` as upstream prints it: an IP, or a port number.
    pub(super) fn show(&self, off: usize) -> String {
        match self.space {
            Space::Port => self.value(off).to_string(),
            Space::Ip { .. } => self.ip_at(off).to_string(),
        }
    }

    /// The offset in this range of the value at `off` of `old` (the same value space, e.g.
    /// the range before a flag change); None when this range does not hold it.
    pub(super) fn carry(&self, old: &Range, off: usize) -> Option<usize> {
        let value = old.value(off);
        match self.space {
            Space::Port => self.offset_of(value),
            Space::Ip { v6, .. } => self.ip_offset(u128_to_ip(value, v6)),
        }
    }

    /// Same value space (an IP range of the same family, or ports).
    pub(super) fn compatible(&self, other: &Range) -> bool {
        match (self.space, other.space) {
            (Space::Port, Space::Port) => true,
            (Space::Ip { v6: a, .. }, Space::Ip { v6: b, .. }) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_upstream_sizes_and_bands() {
        let r = Range::cidr("10.0.0.0/24").expect("cidr");
        assert_eq!((r.max, r.offset, r.spec.as_str()), (254, 16, "10.0.0.0/24"));
        assert_eq!(r.ip_at(0), "10.0.0.1".parse::<IpAddr>().expect("ip"));
        assert_eq!(r.ip_offset("10.0.0.255".parse().expect("ip")), None);
        assert_eq!(r.ip_offset("10.0.0.0".parse().expect("ip")), None);
        let big = Range::cidr("10.96.0.0/12").expect("cidr");
        assert_eq!(big.offset, 256);
        let small = Range::cidr("10.0.0.0/28").expect("cidr");
        assert_eq!((small.max, small.offset), (14, 0));
        let v6 = Range::cidr("fd00::/108").expect("cidr");
        assert_eq!((v6.max, v6.offset), (65535, 256));
        let p = Range::ports("30000-32767").expect("ports");
        assert_eq!((p.max, p.offset, p.spec.as_str()), (2768, 86, "30000-32767"));
        let tiny = Range::ports("30000-30002").expect("ports");
        assert_eq!((tiny.max, tiny.offset), (3, 0));
        assert_eq!(Range::ports("30000+100").expect("ports").spec, "30000-30099");
        assert_eq!(
            (r.addr_bits(), r.host_bits(), r.show(0)),
            (32, 8, "10.0.0.1".to_string())
        );
        assert_eq!((v6.addr_bits(), v6.host_bits()), (128, 20));
        assert_eq!((p.host_bits(), p.show(0)), (0, "30000".to_string()));
        // A value carried into a wider range keeps its address.
        let wide = Range::cidr("10.0.0.0/16").expect("cidr");
        assert_eq!(wide.carry(&r, 9).map(|o| wide.ip_at(o)), Some(r.ip_at(9)));
        assert_eq!(r.carry(&wide, 300), None);
    }
}
