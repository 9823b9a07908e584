//! The Kubernetes library object types as CEL values: URL, IP, CIDR, Quantity, Semver, a
//! named format, and the authorizer builder values.

use super::authz::AuthzVal;
use super::format::NamedFormat;
use super::net::Cidr;
use super::semver::Semver;
use super::url::Url;
use crate::util::quantity::Quantity;
use std::fmt;
use std::net::IpAddr;

#[derive(Debug)]
pub enum Ext {
    Url(Url),
    Ip(IpAddr),
    Cidr(Cidr),
    Quantity(Quantity),
    Semver(Semver),
    Format(&'static NamedFormat),
    Authz(AuthzVal),
}

impl Ext {
    pub fn type_name(&self) -> &'static str {
        match self {
            Ext::Url(_) => "kubernetes.URL",
            Ext::Ip(_) => "net.IP",
            Ext::Cidr(_) => "net.CIDR",
            Ext::Quantity(_) => "kubernetes.Quantity",
            Ext::Semver(_) => "kubernetes.Semver",
            Ext::Format(_) => "kubernetes.NamedFormat",
            Ext::Authz(a) => a.type_name(),
        }
    }

    pub fn equals(&self, o: &Ext) -> bool {
        match (self, o) {
            (Ext::Url(a), Ext::Url(b)) => a.raw == b.raw,
            (Ext::Ip(a), Ext::Ip(b)) => a == b,
            (Ext::Cidr(a), Ext::Cidr(b)) => a == b,
            (Ext::Quantity(a), Ext::Quantity(b)) => a == b,
            (Ext::Semver(a), Ext::Semver(b)) => a == b,
            (Ext::Format(a), Ext::Format(b)) => a.name == b.name,
            (Ext::Authz(a), Ext::Authz(b)) => a.same(b),
            _ => false,
        }
    }
}

impl fmt::Display for Ext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ext::Url(u) => f.write_str(&u.raw),
            Ext::Ip(ip) => write!(f, "{ip}"),
            Ext::Cidr(c) => write!(f, "{c}"),
            Ext::Quantity(q) => write!(f, "{q}"),
            Ext::Semver(s) => write!(f, "{s}"),
            Ext::Format(n) => f.write_str(n.name),
            Ext::Authz(a) => f.write_str(a.type_name()),
        }
    }
}
