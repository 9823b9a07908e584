//! Service ClusterIP and NodePort allocation, as upstream's service REST
//! (`pkg/registry/core/service/storage/alloc.go`) over bitmap allocators
//! (`pkg/registry/core/service/{allocator,ipallocator,portallocator}`).
//!
//! Allocation state lives in storage as `RangeAllocation`-shaped JSON objects (one per range:
//! `/registry/ranges/serviceips`, `/registry/ranges/secondaryserviceips`,
//! `/registry/ranges/servicenodeports`) holding the range and the bitmap (`data`, base64 of the
//! big-endian bytes of the bitmap integer, as upstream's `big.Int.Bytes()`). Every change is a
//! compare-and-swap on the key's revision, retried on conflict, so several servers sharing one
//! storage never hand out the same value.
//!
//! Rules (upstream): IPv4 ranges exclude the network and broadcast addresses; dynamic
//! allocation prefers the upper band of the range (offset `min(max(16, size/16), 256)` for IPs,
//! `min(max(16, size/32), 128)` for ports) and falls back to the lower, static band; the first
//! IP of the primary range is kept for the `kubernetes` Service (never handed out dynamically).

use crate::error::field::FieldError;

/// Where upstream keeps one IPAddress object per allocated Service IP.
const IP_ADDRESSES_PREFIX: &str = "/registry/ipaddresses/";
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::storage::{KeyValue, Storage, StorageError};
use base64::Engine;
use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Storage keys of the three ranges (upstream: `/ranges/serviceips`… under the etcd prefix).
pub const KEY_SERVICE_IPS: &str = "/registry/ranges/serviceips";
pub const KEY_SECONDARY_SERVICE_IPS: &str = "/registry/ranges/secondaryserviceips";
pub const KEY_NODE_PORTS: &str = "/registry/ranges/servicenodeports";
/// Where Services are stored (for [`ServiceAllocators::repair_from_storage`]).
pub const SERVICES_PREFIX: &str = "/registry/services/specs/";

/// Upstream's `DefaultServiceIPCIDR` and `DefaultServiceNodePortRange`.
pub const DEFAULT_SERVICE_CLUSTER_IP_RANGE: &str = "10.0.0.0/24";
pub const DEFAULT_SERVICE_NODE_PORT_RANGE: &str = "30000-32767";

/// Upstream's `numRepairsBeforeLeakCleanup`: a bit set in storage but used by no Service is
/// only freed after this many repair passes (it may belong to a create still in flight).
pub const REPAIRS_BEFORE_LEAK_CLEANUP: u32 = 3;

/// CAS attempts before giving up on a contended range.
const MAX_ATTEMPTS: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Bitmap.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits {
    words: Vec<u64>,
    max: usize,
    count: usize,
}

impl Bits {
    fn new(max: usize) -> Bits {
        Bits {
            words: vec![0; max.div_ceil(64)],
            max,
            count: 0,
        }
    }

    fn get(&self, i: usize) -> bool {
        i < self.max && self.words.get(i / 64).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Set bit `i`; false when it was already set or out of range.
    fn set(&mut self, i: usize) -> bool {
        if i >= self.max || self.get(i) {
            return false;
        }
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1u64 << (i % 64);
            self.count += 1;
            return true;
        }
        false
    }

    fn clear(&mut self, i: usize) -> bool {
        if !self.get(i) {
            return false;
        }
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1u64 << (i % 64));
            self.count -= 1;
            return true;
        }
        false
    }

    fn ones(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.count);
        for (wi, w) in self.words.iter().enumerate() {
            let mut w = *w;
            while w != 0 {
                let b = w.trailing_zeros() as usize;
                out.push(wi * 64 + b);
                w &= w - 1;
            }
        }
        out
    }

    /// Big-endian bytes of the bitmap as an integer, without leading zeros (`big.Int.Bytes()`).
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.words.len() * 8);
        for w in self.words.iter().rev() {
            out.extend_from_slice(&w.to_be_bytes());
        }
        let first = out.iter().position(|b| *b != 0).unwrap_or(out.len());
        out.split_off(first)
    }
}

/// Positions of the set bits of a big-endian integer.
fn bit_positions(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for (j, byte) in bytes.iter().rev().enumerate() {
        for b in 0..8 {
            if byte & (1 << b) != 0 {
                out.push(j * 8 + b);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Ranges.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Space {
    Ip { net: u128, prefix: u8, v6: bool },
    Port,
}

/// A contiguous block of allocatable values (IPs as integers, or ports).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Range {
    space: Space,
    /// The range specifier as upstream prints it (`10.0.0.0/24`, `30000-32767`).
    spec: String,
    /// The value of offset 0.
    base: u128,
    /// Number of allocatable values.
    max: usize,
    /// Size of the static (lower) band.
    offset: usize,
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

/// `min(max(lo, size/step), hi)`, 0 when the range is no bigger than `lo`.
fn band_offset(size: u128, lo: u128, step: u128, hi: u128) -> usize {
    if size <= lo {
        return 0;
    }
    (size / step).clamp(lo, hi) as usize
}

impl Range {
    fn parse(spec: &str) -> Result<Range, String> {
        if spec.contains('/') {
            Range::cidr(spec)
        } else {
            Range::ports(spec)
        }
    }

    fn cidr(s: &str) -> Result<Range, String> {
        let s = s.trim();
        let (addr, bits) = s.split_once('/').ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        let ip: IpAddr = addr.parse().map_err(|_| format!("invalid CIDR address: {s}"))?;
        let prefix: u8 = bits.parse().map_err(|_| format!("invalid CIDR address: {s}"))?;
        let v6 = ip.is_ipv6();
        let width: u8 = if v6 { 128 } else { 32 };
        if prefix > width {
            return Err(format!("invalid CIDR address: {s}"));
        }
        let host_bits = u32::from(width - prefix);
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
        let mut offset = band_offset(size, 16, 16, 256);
        if offset >= max {
            offset = 0;
        }
        Ok(Range {
            space: Space::Ip { net, prefix, v6 },
            spec: format!("{}/{prefix}", u128_to_ip(net, v6)),
            base: net + 1,
            max,
            offset,
        })
    }

    /// `net.ParsePortRange`: `a-b`, `a+n` or a single port.
    fn ports(s: &str) -> Result<Range, String> {
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
        let mut offset = band_offset(size as u128, 16, 32, 128);
        if offset >= size as usize {
            offset = 0;
        }
        Ok(Range {
            space: Space::Port,
            spec: format!("{base}-{}", base + size - 1),
            base: base as u128,
            max: size as usize,
            offset,
        })
    }

    fn is_v6(&self) -> bool {
        matches!(self.space, Space::Ip { v6: true, .. })
    }

    fn family(&self) -> &'static str {
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

    fn value(&self, off: usize) -> u128 {
        self.base + off as u128
    }

    /// The offset of an IP of this range (network/broadcast excluded, family checked).
    fn ip_offset(&self, ip: IpAddr) -> Option<usize> {
        let Space::Ip { net, prefix, v6 } = self.space else {
            return None;
        };
        if ip.is_ipv6() != v6 {
            return None;
        }
        let width = if v6 { 128 } else { 32 };
        let host_bits = width - u32::from(prefix);
        let v = ip_to_u128(ip);
        let in_net = host_bits >= 128 || (v >> host_bits) == (net >> host_bits);
        if !in_net {
            return None;
        }
        self.offset_of(v)
    }

    fn ip_at(&self, off: usize) -> IpAddr {
        u128_to_ip(self.value(off), self.is_v6())
    }

    fn network_ip(&self) -> IpAddr {
        match self.space {
            Space::Ip { net, v6, .. } => u128_to_ip(net, v6),
            Space::Port => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    fn port_offset(&self, port: i64) -> Option<usize> {
        if self.space != Space::Port || port < 0 {
            return None;
        }
        self.offset_of(port as u128)
    }

    /// Same value space (an IP range of the same family, or ports).
    fn compatible(&self, other: &Range) -> bool {
        match (self.space, other.space) {
            (Space::Port, Space::Port) => true,
            (Space::Ip { v6: a, .. }, Space::Ip { v6: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// `randomScanStrategyWithOffset`: a random start in the upper band, scanning forward and
/// wrapping; then the same in the lower band. `skip_first` keeps offset 0 out of reach.
/// A free node port (dynamic band first), or upstream's internal error when the range is full.
fn allocate_dynamic_node_port(b: &mut Bits, r: &Range, allocated: &mut Vec<u16>) -> ApiResult<i64> {
    let Some(off) = next_free(b, r, false) else {
        return Err(ApiError::internal(format!(
            "failed to allocate a nodePort: {}",
            port_error_text(&AllocError::Full, r)
        )));
    };
    b.set(off);
    let np = r.value(off) as i64;
    allocated.push(np as u16);
    Ok(np)
}

fn next_free(bits: &Bits, range: &Range, skip_first: bool) -> Option<usize> {
    let max = range.max;
    if bits.count >= max {
        return None;
    }
    let offset = range.offset.min(max);
    let mut rng = rand::rng();
    let upper = max - offset;
    if upper > 0 {
        let start = rng.random_range(0..upper);
        for i in 0..upper {
            let at = offset + (start + i) % upper;
            if !bits.get(at) && (at != 0 || !skip_first) {
                return Some(at);
            }
        }
    }
    if offset > 0 {
        let start = rng.random_range(0..offset);
        for i in 0..offset {
            let at = (start + i) % offset;
            if !bits.get(at) && (at != 0 || !skip_first) {
                return Some(at);
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Errors, rendered as upstream's allocators and field.Invalid render them.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllocError {
    Full,
    Allocated,
    NotInRange,
}

fn ip_error_text(e: &AllocError, ip: IpAddr, range: &Range) -> String {
    match e {
        AllocError::Full => "range is full".into(),
        AllocError::Allocated => "provided IP is already allocated".into(),
        AllocError::NotInRange => format!(
            "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
            range.spec
        ),
    }
}

fn port_error_text(e: &AllocError, range: &Range) -> String {
    match e {
        AllocError::Full => "range is full".into(),
        AllocError::Allocated => "provided port is already allocated".into(),
        AllocError::NotInRange => format!(
            "provided port is not in the valid range. The range of valid ports is {}",
            range.spec
        ),
    }
}

/// Go's `%#v` of a `[]string`.
fn go_string_slice(items: &[String]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[]string{{{}}}", inner.join(", "))
}

/// A 422 Invalid for one field whose value is already rendered the Go way.
fn invalid_raw(name: &str, field: &str, rendered: &str, detail: &str) -> ApiError {
    let body = format!("Invalid value: {rendered}: {detail}");
    ApiError::new(
        422,
        "Invalid",
        format!("Service \"{name}\" is invalid: {field}: {body}"),
    )
    .with_details(json!({
        "name": name,
        "kind": "Service",
        "causes": [{"reason": "FieldValueInvalid", "message": body, "field": field}],
    }))
}

fn invalid(name: &str, errs: &[FieldError]) -> ApiError {
    ApiError::invalid("Service", "", name, errs)
}

// ---------------------------------------------------------------------------------------------
// Persisted ranges.
// ---------------------------------------------------------------------------------------------

/// One range persisted at one key, with a cached copy of the last state this process saw.
struct Persisted {
    key: &'static str,
    range: Range,
    reserve_first: bool,
    /// (mod revision, bitmap); revision 0 = the key does not exist.
    state: tokio::sync::Mutex<Option<(i64, Bits)>>,
}

enum Step<T> {
    /// Done; the bitmap may have been changed and must be written.
    Done(T),
}

impl Persisted {
    fn new(key: &'static str, range: Range, reserve_first: bool) -> Persisted {
        Persisted {
            key,
            range,
            reserve_first,
            state: tokio::sync::Mutex::new(None),
        }
    }

    fn encode(&self, bits: &Bits) -> Bytes {
        let v = json!({
            "kind": "RangeAllocation",
            "apiVersion": "v1",
            "metadata": {"name": "", "creationTimestamp": null},
            "range": self.range.spec,
            "data": base64::engine::general_purpose::STANDARD.encode(bits.to_bytes()),
        });
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }

    /// Decode a stored range; a range stored with another spec (the flags changed) is carried
    /// over value by value, dropping what is outside the new range.
    fn decode(&self, raw: &[u8]) -> Result<Bits, String> {
        let v: Value = serde_json::from_slice(raw).map_err(|e| format!("{}: {e}", self.key))?;
        let spec = v.get("range").and_then(Value::as_str).unwrap_or("");
        let data = v.get("data").and_then(Value::as_str).unwrap_or("");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("{}: bad data: {e}", self.key))?;
        let mut bits = Bits::new(self.range.max);
        if spec == self.range.spec {
            for p in bit_positions(&bytes) {
                bits.set(p);
            }
            return Ok(bits);
        }
        let Ok(old) = Range::parse(spec) else {
            tracing::warn!(
                key = self.key,
                range = spec,
                "ignoring stored allocations with an unparsable range"
            );
            return Ok(bits);
        };
        if !old.compatible(&self.range) {
            return Ok(bits);
        }
        for p in bit_positions(&bytes) {
            let value = old.value(p);
            let off = match self.range.space {
                Space::Port => self.range.offset_of(value),
                Space::Ip { .. } => self.range.ip_offset(u128_to_ip(value, self.range.is_v6())),
            };
            if let Some(off) = off {
                bits.set(off);
            }
        }
        Ok(bits)
    }

    async fn load(&self, storage: &dyn Storage) -> ApiResult<(i64, Bits)> {
        match storage.get(self.key, 0).await {
            Ok(Some(kv)) => self.decode_kv(&kv),
            Ok(None) => Ok((0, Bits::new(self.range.max))),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    fn decode_kv(&self, kv: &KeyValue) -> ApiResult<(i64, Bits)> {
        let bits = self.decode(&kv.value).map_err(ApiError::internal)?;
        Ok((kv.mod_revision, bits))
    }

    /// Run `f` on the bitmap and persist the result with compare-and-swap, retrying on
    /// conflicts. `f` must be a pure function of its inputs (it may run several times). A
    /// result computed on a cached state is only trusted once a CAS write confirms it.
    async fn modify<T>(
        &self,
        storage: &dyn Storage,
        mut f: impl FnMut(&Range, &mut Bits) -> ApiResult<Step<T>>,
    ) -> ApiResult<T> {
        let mut guard = self.state.lock().await;
        let mut fresh = false;
        for _ in 0..MAX_ATTEMPTS {
            let (rev, bits) = match guard.take() {
                Some(s) => s,
                None => {
                    fresh = true;
                    self.load(storage).await?
                }
            };
            let mut work = bits.clone();
            let out = f(&self.range, &mut work);
            if work == bits || out.is_err() {
                *guard = Some((rev, bits));
                if !fresh {
                    // Unconfirmed outcome on a cached state: read storage and run again.
                    *guard = None;
                    continue;
                }
                return out.map(|Step::Done(t)| t);
            }
            let bytes = self.encode(&work);
            let res = if rev == 0 {
                storage.create(self.key, bytes).await
            } else {
                storage.update(self.key, bytes, rev).await
            };
            match res {
                Ok(new_rev) => {
                    *guard = Some((new_rev, work));
                    return out.map(|Step::Done(t)| t);
                }
                Err(StorageError::Conflict { current: Some(kv), .. }) => {
                    *guard = Some(self.decode_kv(&kv)?);
                    fresh = true;
                }
                Err(StorageError::Conflict { current: None, .. }) | Err(StorageError::NotFound { .. }) => {
                    *guard = Some((0, Bits::new(self.range.max)));
                    fresh = true;
                }
                Err(StorageError::KeyExists { .. }) => {
                    *guard = None;
                }
                Err(e) => return Err(ApiError::internal(e)),
            }
            tokio::task::yield_now().await;
        }
        Err(ApiError::internal(format!(
            "too many concurrent updates of the allocation range {}",
            self.key
        )))
    }

    /// Run `f` on a fresh copy of the bitmap without persisting anything (dry run).
    async fn peek<T>(&self, storage: &dyn Storage, f: impl FnOnce(&Range, &mut Bits) -> ApiResult<T>) -> ApiResult<T> {
        let (_, mut bits) = self.load(storage).await?;
        f(&self.range, &mut bits)
    }

    /// Overwrite the stored bitmap with `f(stored)` (repair).
    async fn replace(&self, storage: &dyn Storage, mut f: impl FnMut(&Range, &Bits) -> Bits) -> ApiResult<()> {
        self.modify(storage, |r, b| {
            *b = f(r, &b.clone());
            Ok(Step::Done(()))
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Service field helpers.
// ---------------------------------------------------------------------------------------------

fn spec(svc: &Value) -> &Value {
    svc.get("spec").unwrap_or(&Value::Null)
}

fn spec_mut(svc: &mut Value) -> &mut Map<String, Value> {
    if !svc.is_object() {
        *svc = json!({});
    }
    if !svc.get("spec").is_some_and(Value::is_object) {
        svc["spec"] = json!({});
    }
    svc["spec"].as_object_mut().expect("spec is an object")
}

fn sstr<'a>(svc: &'a Value, key: &str) -> &'a str {
    spec(svc).get(key).and_then(Value::as_str).unwrap_or("")
}

fn svc_type(svc: &Value) -> &str {
    match sstr(svc, "type") {
        "" => "ClusterIP",
        t => t,
    }
}

fn name_of(svc: &Value) -> String {
    svc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn ns_name(svc: &Value) -> String {
    let ns = svc.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    format!("{ns}/{}", name_of(svc))
}

fn str_list(svc: &Value, key: &str) -> Vec<String> {
    spec(svc)
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

fn set_str_list(svc: &mut Value, key: &str, items: &[String]) {
    spec_mut(svc).insert(key.into(), json!(items));
}

fn policy(svc: &Value) -> Option<String> {
    spec(svc)
        .get("ipFamilyPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn has_selector(svc: &Value) -> bool {
    spec(svc)
        .get("selector")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
}

fn is_headless(svc: &Value) -> bool {
    sstr(svc, "clusterIP") == "None" || str_list(svc, "clusterIPs").first().map(String::as_str) == Some("None")
}

fn needs_node_ports(svc: &Value) -> bool {
    matches!(svc_type(svc), "NodePort" | "LoadBalancer")
}

/// `shouldAllocateNodePorts`.
fn should_allocate_node_ports(svc: &Value) -> bool {
    match svc_type(svc) {
        "NodePort" => true,
        "LoadBalancer" => spec(svc)
            .get("allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    }
}

/// `apiservice.NeedsHealthCheck`.
fn needs_health_check(svc: &Value) -> bool {
    svc_type(svc) == "LoadBalancer" && sstr(svc, "externalTrafficPolicy") == "Local"
}

fn hc_node_port(svc: &Value) -> i64 {
    spec(svc)
        .get("healthCheckNodePort")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
struct PortInfo {
    name: String,
    port: i64,
    protocol: String,
    node_port: i64,
}

fn ports_of(svc: &Value) -> Vec<PortInfo> {
    spec(svc)
        .get("ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| PortInfo {
                    name: p.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                    port: p.get("port").and_then(Value::as_i64).unwrap_or(0),
                    protocol: p.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string(),
                    node_port: p.get("nodePort").and_then(Value::as_i64).unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn set_node_port(svc: &mut Value, i: usize, np: i64) {
    if let Some(p) = spec_mut(svc)
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.get_mut(i))
        .and_then(Value::as_object_mut)
    {
        if np == 0 {
            p.remove("nodePort");
        } else {
            p.insert("nodePort".into(), json!(np));
        }
    }
}

fn node_port_numbers(svc: &Value) -> Vec<i64> {
    ports_of(svc).iter().map(|p| p.node_port).filter(|n| *n != 0).collect()
}

fn family_of(ip: &str) -> &'static str {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => "IPv4",
        Ok(IpAddr::V6(_)) => "IPv6",
        Err(_) => "unknown",
    }
}

fn other_family(f: &str) -> &'static str {
    if f == "IPv4" {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// Copy the values the server allocated from the old object into an update that omits them
/// (upstream `patchAllocatedValues`), and drop type-dependent fields the new type no longer
/// uses when they were left unchanged (upstream `dropTypeDependentFields`).
pub fn prepare_update(old: &Value, new: &mut Value) {
    let needs_ip = |s: &Value| svc_type(s) != "ExternalName";
    if needs_ip(old) && needs_ip(new) {
        if sstr(new, "clusterIP").is_empty() && !sstr(old, "clusterIP").is_empty() {
            let v = sstr(old, "clusterIP").to_string();
            spec_mut(new).insert("clusterIP".into(), json!(v));
        }
        let old_ips = str_list(old, "clusterIPs");
        if str_list(new, "clusterIPs").is_empty() && !old_ips.is_empty() {
            set_str_list(new, "clusterIPs", &old_ips);
        }
    }
    if needs_node_ports(old) && needs_node_ports(new) {
        let old_used: HashSet<i64> = node_port_numbers(old).into_iter().collect();
        let new_used: HashSet<i64> = node_port_numbers(new).into_iter().collect();
        let used: HashSet<i64> = old_used.intersection(&new_used).copied().collect();
        let by_name: HashMap<String, i64> = ports_of(old).into_iter().map(|p| (p.name, p.node_port)).collect();
        for (i, p) in ports_of(new).iter().enumerate() {
            if p.node_port == 0 {
                let v = by_name.get(&p.name).copied().unwrap_or(0);
                if v != 0 && !used.contains(&v) {
                    set_node_port(new, i, v);
                }
            }
        }
    }
    if needs_health_check(old) && needs_health_check(new) && hc_node_port(new) == 0 && hc_node_port(old) != 0 {
        let v = hc_node_port(old);
        spec_mut(new).insert("healthCheckNodePort".into(), json!(v));
    }

    // dropTypeDependentFields
    if svc_type(new) == "ExternalName" && svc_type(old) != "ExternalName" {
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if spec(new).get(k) == spec(old).get(k) {
                spec_mut(new).remove(k);
            }
        }
    }
    if !needs_node_ports(new) && needs_node_ports(old) {
        let old_ports = ports_of(old);
        for (i, p) in ports_of(new).iter().enumerate() {
            if p.node_port != 0 && old_ports.iter().any(|o| o.node_port == p.node_port) {
                set_node_port(new, i, 0);
            }
        }
    }
    if !needs_health_check(new) && needs_health_check(old) && hc_node_port(new) == hc_node_port(old) {
        spec_mut(new).remove("healthCheckNodePort");
    }
}

// ---------------------------------------------------------------------------------------------
// The allocators.
// ---------------------------------------------------------------------------------------------

/// What one operation allocated (to roll back on failure) or must release (after success).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    pub ips: Vec<IpAddr>,
    pub node_ports: Vec<u16>,
}

impl Allocation {
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.node_ports.is_empty()
    }
}

/// What a repair pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// One message per Service value outside the configured ranges.
    pub out_of_range: Vec<String>,
    /// One message per value claimed by more than one Service.
    pub duplicates: Vec<String>,
    /// Values set in storage but used by no Service, kept for now (possibly in flight).
    pub leaked_kept: usize,
    /// Leaked values freed by this pass.
    pub leaked_freed: usize,
}

pub struct ServiceAllocators {
    storage: Arc<dyn Storage>,
    /// Primary range first (`--service-cluster-ip-range[0]`), then the secondary one.
    ips: Vec<Persisted>,
    ports: Persisted,
    /// Leak candidates: (key, offset) → repair passes that saw it.
    leaks: std::sync::Mutex<HashMap<(&'static str, usize), u32>>,
}

/// Node-port work of one create/update, computed against one bitmap.
struct PortPlan {
    node_ports: Vec<i64>,
    health_check: Option<i64>,
    allocated: Vec<u16>,
}

impl ServiceAllocators {
    /// `cluster_ip_ranges`: `--service-cluster-ip-range` (one CIDR, or two of different
    /// families comma-separated; empty = upstream's default); `node_port_range`:
    /// `--service-node-port-range` (empty = `30000-32767`).
    pub fn new(storage: Arc<dyn Storage>, cluster_ip_ranges: &str, node_port_range: &str) -> anyhow::Result<Self> {
        let cidrs: Vec<&str> = if cluster_ip_ranges.trim().is_empty() {
            vec![DEFAULT_SERVICE_CLUSTER_IP_RANGE]
        } else {
            cluster_ip_ranges
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        };
        if cidrs.len() > 2 {
            anyhow::bail!(
                "--service-cluster-ip-range may consist of a maximum of two CIDRs, got {}",
                cidrs.len()
            );
        }
        let mut ranges = Vec::new();
        for (i, c) in cidrs.iter().enumerate() {
            let r = Range::cidr(c).map_err(|e| anyhow::anyhow!("--service-cluster-ip-range[{i}]: {e}"))?;
            let (width, prefix) = match r.space {
                Space::Ip { v6, prefix, .. } => (if v6 { 128u32 } else { 32 }, u32::from(prefix)),
                Space::Port => (32, 32),
            };
            if width - prefix > 20 {
                anyhow::bail!(
                    "specified --service-cluster-ip-range[{i}] is too large; for {width}-bit addresses, the mask must be >= {}",
                    width - 20
                );
            }
            ranges.push(r);
        }
        if ranges.len() == 2 && ranges[0].is_v6() == ranges[1].is_v6() {
            anyhow::bail!(
                "--service-cluster-ip-range[0] and --service-cluster-ip-range[1] must be of different IP family"
            );
        }
        let ports = Range::ports(if node_port_range.trim().is_empty() {
            DEFAULT_SERVICE_NODE_PORT_RANGE
        } else {
            node_port_range
        })
        .map_err(|e| anyhow::anyhow!("--service-node-port-range: {e}"))?;
        let ips = ranges
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let key = if i == 0 {
                    KEY_SERVICE_IPS
                } else {
                    KEY_SECONDARY_SERVICE_IPS
                };
                Persisted::new(key, r, i == 0)
            })
            .collect();
        Ok(ServiceAllocators {
            storage,
            ips,
            ports: Persisted::new(KEY_NODE_PORTS, ports, false),
            leaks: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The first IP of the primary range: the `kubernetes` Service's.
    pub fn first_service_ip(&self) -> IpAddr {
        self.ips[0].range.ip_at(0)
    }

    /// `IPv4` / `IPv6` of `--service-cluster-ip-range[0]`.
    pub fn default_family(&self) -> &'static str {
        self.ips[0].range.family()
    }

    pub fn dual_stack(&self) -> bool {
        self.ips.len() == 2
    }

    fn ip_range(&self, family: &str) -> Option<&Persisted> {
        self.ips.iter().find(|p| p.range.family() == family)
    }

    fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    // ----- IP families -------------------------------------------------------------------

    /// `initIPFamilyFields`.
    fn init_ip_families(&self, svc: &mut Value, old: Option<&Value>) -> ApiResult<()> {
        if svc_type(svc) == "ExternalName" {
            return Ok(());
        }
        let name = name_of(svc);
        // clusterIP and clusterIPs[0] are the same field (v1 conversion keeps them in step).
        let cip = sstr(svc, "clusterIP").to_string();
        let mut cips = str_list(svc, "clusterIPs");
        if cips.is_empty() && !cip.is_empty() {
            cips = vec![cip.clone()];
            set_str_list(svc, "clusterIPs", &cips);
        } else if cip.is_empty() && !cips.is_empty() {
            let first = cips[0].clone();
            spec_mut(svc).insert("clusterIP".into(), json!(first));
        }
        if let Some(old) = old {
            if matching_prefer_dual_stack(svc, old) {
                return Ok(());
            }
        }
        if policy(svc).is_none() {
            let p = match old.and_then(policy) {
                Some(p) => p,
                None if is_headless(svc) && !has_selector(svc) => "RequireDualStack".into(),
                None => "SingleStack".into(),
            };
            spec_mut(svc).insert("ipFamilyPolicy".into(), json!(p));
        }
        let pol = policy(svc).unwrap_or_default();
        let mut errs: Vec<FieldError> = Vec::new();
        if let Some(old) = old {
            if pol == "SingleStack" {
                if str_list(old, "clusterIPs") == str_list(svc, "clusterIPs") && str_list(svc, "clusterIPs").len() > 1 {
                    let first = str_list(svc, "clusterIPs")[..1].to_vec();
                    set_str_list(svc, "clusterIPs", &first);
                }
                if str_list(old, "ipFamilies") == str_list(svc, "ipFamilies") && str_list(svc, "ipFamilies").len() > 1 {
                    let first = str_list(svc, "ipFamilies")[..1].to_vec();
                    set_str_list(svc, "ipFamilies", &first);
                }
            } else {
                let reduced = |k: &str| {
                    let n = str_list(svc, k).len();
                    n != 0 && n < str_list(old, k).len()
                };
                if reduced("clusterIPs") {
                    errs.push(FieldError::invalid(
                        "spec.ipFamilyPolicy",
                        pol.clone(),
                        "must be 'SingleStack' to release the secondary cluster IP",
                    ));
                }
                if reduced("ipFamilies") {
                    errs.push(FieldError::invalid(
                        "spec.ipFamilyPolicy",
                        pol.clone(),
                        "must be 'SingleStack' to release the secondary IP family",
                    ));
                }
            }
        }
        let cips = str_list(svc, "clusterIPs");
        let mut fams = str_list(svc, "ipFamilies");
        if pol == "SingleStack" {
            if cips.len() == 2 {
                errs.push(FieldError::invalid(
                    "spec.ipFamilyPolicy",
                    pol.clone(),
                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
                ));
            }
            if fams.len() == 2 {
                errs.push(FieldError::invalid(
                    "spec.ipFamilyPolicy",
                    pol.clone(),
                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
                ));
            }
        }
        let mut raw_errs: Vec<(String, String)> = Vec::new();
        for (i, ip) in cips.iter().enumerate() {
            if ip == "None" {
                break;
            }
            let fam = family_of(ip);
            if i >= fams.len() {
                if self.ip_range(fam).is_none() {
                    raw_errs.push((
                        format!("spec.clusterIPs[{i}]"),
                        format!("{fam} is not configured on this cluster"),
                    ));
                } else {
                    fams.push(fam.to_string());
                }
            }
        }
        if let Some((field, detail)) = raw_errs.first() {
            return Err(invalid_raw(&name, field, &go_string_slice(&cips), detail));
        }
        if !errs.is_empty() {
            return Err(invalid(&name, &errs));
        }
        if is_headless(svc) && !has_selector(svc) {
            if fams.is_empty() {
                fams.push(self.default_family().to_string());
            }
            if fams.len() < 2 && pol != "SingleStack" {
                let alt = other_family(&fams[0]).to_string();
                fams.push(alt);
            }
            set_str_list(svc, "ipFamilies", &fams);
            return Ok(());
        }
        if pol == "RequireDualStack" && !self.dual_stack() {
            errs.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                pol.clone(),
                "this cluster is not configured for dual-stack services",
            ));
        }
        for (i, f) in fams.iter().enumerate() {
            if self.ip_range(f).is_none() {
                errs.push(FieldError::invalid(
                    format!("spec.ipFamilies[{i}]"),
                    f.clone(),
                    "not configured on this cluster",
                ));
            }
        }
        if !errs.is_empty() {
            return Err(invalid(&name, &errs));
        }
        if fams.is_empty() {
            fams.push(self.default_family().to_string());
        }
        if pol != "SingleStack" && fams.len() == 1 && self.dual_stack() {
            let alt = other_family(&fams[0]).to_string();
            fams.push(alt);
        }
        set_str_list(svc, "ipFamilies", &fams);
        Ok(())
    }

    // ----- IPs ---------------------------------------------------------------------------

    /// Allocate (or, dry run, check) one IP per (family, requested-or-empty).
    async fn alloc_ips(&self, svc: &Value, wanted: &[(String, String)], dry_run: bool) -> ApiResult<Vec<IpAddr>> {
        let name = name_of(svc);
        let mut done: Vec<IpAddr> = Vec::new();
        for (family, want) in wanted {
            let res = self.alloc_ip(svc, &name, family, want, dry_run).await;
            match res {
                Ok(ip) => done.push(ip),
                Err(e) => {
                    if !dry_run {
                        self.release_ips(&done).await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    async fn alloc_ip(&self, svc: &Value, name: &str, family: &str, want: &str, dry_run: bool) -> ApiResult<IpAddr> {
        let Some(p) = self.ip_range(family) else {
            return Err(ApiError::internal(format!("no allocator for IP family {family}")));
        };
        if want.is_empty() {
            if dry_run {
                // Upstream's dry-run allocator hands out the network address without looking.
                return Ok(p.range.network_ip());
            }
            let reserve = p.reserve_first;
            return p
                .modify(self.storage(), |r, b| match next_free(b, r, reserve) {
                    Some(off) => {
                        b.set(off);
                        Ok(Step::Done(r.ip_at(off)))
                    }
                    None => Err(ApiError::internal(format!(
                        "failed to allocate a serviceIP: {}",
                        ip_error_text(&AllocError::Full, r.network_ip(), r)
                    ))),
                })
                .await;
        }
        let Ok(ip) = want.parse::<IpAddr>() else {
            return Err(ApiError::internal(format!("failed to parse service IP {want:?}")));
        };
        let cips = str_list(svc, "clusterIPs");
        let fail = |e: AllocError, r: &Range| {
            invalid_raw(
                name,
                "spec.clusterIPs",
                &go_string_slice(&cips),
                &format!("failed to allocate IP {want}: {}", ip_error_text(&e, ip, r)),
            )
        };
        if dry_run {
            // Upstream's dry run only checks the range.
            return match p.range.ip_offset(ip) {
                Some(_) => Ok(ip),
                None => Err(fail(AllocError::NotInRange, &p.range)),
            };
        }
        p.modify(self.storage(), |r, b| match r.ip_offset(ip) {
            None => Err(fail(AllocError::NotInRange, r)),
            Some(off) if b.get(off) => Err(fail(AllocError::Allocated, r)),
            Some(off) => {
                b.set(off);
                Ok(Step::Done(ip))
            }
        })
        .await
    }

    async fn release_ips(&self, ips: &[IpAddr]) {
        for ip in ips {
            let key = format!("{IP_ADDRESSES_PREFIX}{ip}");
            match self.storage().delete(&key, 0).await {
                Ok(_) | Err(StorageError::NotFound { .. }) => {}
                Err(e) => tracing::warn!(ip = %ip, error = %e, "cannot delete the IPAddress object"),
            }
        }
        for p in &self.ips {
            let offs: Vec<usize> = ips.iter().filter_map(|ip| p.range.ip_offset(*ip)).collect();
            if offs.is_empty() {
                continue;
            }
            let res = p
                .modify(self.storage(), |_, b| {
                    for o in &offs {
                        b.clear(*o);
                    }
                    Ok(Step::Done(()))
                })
                .await;
            if let Err(e) = res {
                tracing::error!(range = p.key, error = %e, "failed to release service IPs; the repair will free them");
            }
        }
    }

    /// `allocClusterIPs`: fill `clusterIPs`/`clusterIP` for the service's families.
    async fn alloc_cluster_ips(&self, svc: &mut Value, dry_run: bool) -> ApiResult<Vec<IpAddr>> {
        if svc_type(svc) == "ExternalName" || is_headless(svc) {
            return Ok(Vec::new());
        }
        let fams = str_list(svc, "ipFamilies");
        let mut cips = str_list(svc, "clusterIPs");
        while cips.len() < fams.len() {
            cips.push(String::new());
        }
        set_str_list(svc, "clusterIPs", &cips);
        let wanted: Vec<(String, String)> = fams.iter().cloned().zip(cips.iter().cloned()).collect();
        let got = self.alloc_ips(svc, &wanted, dry_run).await?;
        for (i, ip) in got.iter().enumerate() {
            if cips[i].is_empty() {
                cips[i] = ip.to_string();
            }
        }
        set_str_list(svc, "clusterIPs", &cips);
        if let Some(first) = cips.first() {
            spec_mut(svc).insert("clusterIP".into(), json!(first));
        }
        if !dry_run {
            self.record_ip_addresses(svc, &got).await;
        }
        // A dry run reserved nothing; report only what must be rolled back.
        Ok(if dry_run { Vec::new() } else { got })
    }

    /// v1.33's allocator (MultiCIDRServiceAllocator, dual write) keeps one
    /// `networking.k8s.io` IPAddress object per allocated ClusterIP beside the bitmap, and
    /// its repair loop "repairs" (with ClusterIPNotAllocated events) every Service IP that has
    /// none: write them as it does, so an upstream server sharing the etcd finds them.
    async fn record_ip_addresses(&self, svc: &Value, ips: &[IpAddr]) {
        let ns = svc.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
        let name = name_of(svc);
        for ip in ips {
            let family = if ip.is_ipv6() { "IPv6" } else { "IPv4" };
            let obj = json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IPAddress",
                "metadata": {
                    "name": ip.to_string(),
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": crate::util::now_rfc3339(),
                    "labels": {
                        "ipaddress.kubernetes.io/ip-family": family,
                        "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
                    },
                },
                "spec": {"parentRef": {"group": "", "resource": "services", "namespace": ns, "name": name}},
            });
            let key = format!("{IP_ADDRESSES_PREFIX}{ip}");
            match self.storage().create(&key, Bytes::from(obj.to_string())).await {
                Ok(_) | Err(StorageError::KeyExists { .. }) => {}
                Err(e) => tracing::warn!(ip = %ip, error = %e, "cannot record the IPAddress object"),
            }
        }
    }

    // ----- node ports --------------------------------------------------------------------

    /// Run a node-port plan: persisted, or (dry run) on a throwaway copy.
    async fn run_port_plan(
        &self,
        dry_run: bool,
        plan: impl Fn(&Range, &mut Bits) -> ApiResult<PortPlan>,
    ) -> ApiResult<PortPlan> {
        if dry_run {
            return self.ports.peek(self.storage(), |r, b| plan(r, b)).await;
        }
        self.ports
            .modify(self.storage(), |r, b| plan(r, b).map(Step::Done))
            .await
    }

    /// `initNodePorts` + `allocHealthCheckNodePort` for a create.
    fn plan_create_ports(name: &str, svc: &Value, r: &Range, b: &mut Bits) -> ApiResult<PortPlan> {
        let ports = ports_of(svc);
        let should = should_allocate_node_ports(svc);
        let mut out: Vec<i64> = ports.iter().map(|p| p.node_port).collect();
        let mut allocated: Vec<u16> = Vec::new();
        let mut by_port: HashMap<i64, i64> = HashMap::new();
        let take = |np: i64, i: usize, b: &mut Bits, allocated: &mut Vec<u16>| -> ApiResult<()> {
            let err = |e: AllocError| {
                invalid(
                    name,
                    &[FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        np,
                        port_error_text(&e, r),
                    )],
                )
            };
            match r.port_offset(np) {
                None => Err(err(AllocError::NotInRange)),
                Some(off) if !b.set(off) => Err(err(AllocError::Allocated)),
                Some(_) => {
                    allocated.push(np as u16);
                    Ok(())
                }
            }
        };
        if needs_node_ports(svc) {
            for (i, p) in ports.iter().enumerate() {
                if p.node_port == 0 && !should {
                    continue;
                }
                let already = by_port.get(&p.port).copied().unwrap_or(0);
                if already == 0 {
                    let requested = ports
                        .iter()
                        .find(|q| q.port == p.port && q.node_port != 0)
                        .map(|q| q.node_port)
                        .unwrap_or(0);
                    if requested != 0 {
                        take(requested, i, b, &mut allocated)?;
                        out[i] = requested;
                        by_port.insert(p.port, requested);
                    } else {
                        let np = allocate_dynamic_node_port(b, r, &mut allocated)?;
                        out[i] = np;
                        by_port.insert(p.port, np);
                    }
                } else if p.node_port != already {
                    if p.node_port == 0 {
                        out[i] = already;
                    } else {
                        take(p.node_port, i, b, &mut allocated)?;
                    }
                }
            }
        }
        let mut health_check = None;
        if needs_health_check(svc) {
            let hc = hc_node_port(svc);
            health_check = Some(Self::alloc_health_check(hc, r, b, &mut allocated)?);
        }
        Ok(PortPlan {
            node_ports: out,
            health_check,
            allocated,
        })
    }

    /// `allocHealthCheckNodePort` (its failures are internal errors upstream).
    fn alloc_health_check(hc: i64, r: &Range, b: &mut Bits, allocated: &mut Vec<u16>) -> ApiResult<i64> {
        if hc != 0 {
            return match r.port_offset(hc) {
                None => Err(ApiError::internal(format!(
                    "failed to allocate requested HealthCheck NodePort {hc}: {}",
                    port_error_text(&AllocError::NotInRange, r)
                ))),
                Some(off) if !b.set(off) => Err(ApiError::internal(format!(
                    "failed to allocate requested HealthCheck NodePort {hc}: {}",
                    port_error_text(&AllocError::Allocated, r)
                ))),
                Some(_) => {
                    allocated.push(hc as u16);
                    Ok(hc)
                }
            };
        }
        match next_free(b, r, false) {
            Some(off) => {
                b.set(off);
                let np = r.value(off) as i64;
                allocated.push(np as u16);
                Ok(np)
            }
            None => Err(ApiError::internal(format!(
                "failed to allocate a HealthCheck NodePort 0: {}",
                port_error_text(&AllocError::Full, r)
            ))),
        }
    }

    /// `updateNodePorts` + `updateHealthCheckNodePort` for an update: allocations only; what
    /// to release afterwards is computed by the caller.
    fn plan_update_ports(name: &str, old: &Value, svc: &Value, r: &Range, b: &mut Bits) -> ApiResult<PortPlan> {
        let ports = ports_of(svc);
        let mut out: Vec<i64> = ports.iter().map(|p| p.node_port).collect();
        let mut allocated: Vec<u16> = Vec::new();
        if needs_node_ports(svc) {
            let old_numbers = node_port_numbers(old);
            let should = should_allocate_node_ports(svc);
            let mut taken_here: HashSet<i64> = HashSet::new();
            let mut seen: Vec<(String, i64)> = Vec::new();
            for (i, p) in ports.iter().enumerate() {
                if p.node_port == 0 && !should {
                    continue;
                }
                let np = if p.node_port != 0 {
                    if !old_numbers.contains(&p.node_port) && !taken_here.contains(&p.node_port) {
                        let err = |e: AllocError| {
                            invalid(
                                name,
                                &[FieldError::invalid(
                                    format!("spec.ports[{i}].nodePort"),
                                    p.node_port,
                                    port_error_text(&e, r),
                                )],
                            )
                        };
                        match r.port_offset(p.node_port) {
                            None => return Err(err(AllocError::NotInRange)),
                            Some(off) if !b.set(off) => return Err(err(AllocError::Allocated)),
                            Some(_) => {
                                allocated.push(p.node_port as u16);
                                taken_here.insert(p.node_port);
                            }
                        }
                    }
                    p.node_port
                } else {
                    let np = allocate_dynamic_node_port(b, r, &mut allocated)?;
                    out[i] = np;
                    np
                };
                let key = (p.protocol.clone(), np);
                if seen.contains(&key) {
                    return Err(ApiError::internal(format!(
                        "duplicate nodePort: {{{} {np}}}",
                        p.protocol
                    )));
                }
                seen.push(key);
            }
        }
        let mut health_check = None;
        if !needs_health_check(old) && needs_health_check(svc) {
            health_check = Some(Self::alloc_health_check(hc_node_port(svc), r, b, &mut allocated)?);
        }
        Ok(PortPlan {
            node_ports: out,
            health_check,
            allocated,
        })
    }

    async fn release_ports(&self, ports: &[u16]) {
        if ports.is_empty() {
            return;
        }
        let res = self
            .ports
            .modify(self.storage(), |r, b| {
                for p in ports {
                    if let Some(off) = r.port_offset(i64::from(*p)) {
                        b.clear(off);
                    }
                }
                Ok(Step::Done(()))
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "failed to release node ports; the repair will free them");
        }
    }

    fn apply_port_plan(svc: &mut Value, plan: &PortPlan) {
        let current = ports_of(svc);
        for (i, np) in plan.node_ports.iter().enumerate() {
            if current.get(i).map(|p| p.node_port) != Some(*np) {
                set_node_port(svc, i, *np);
            }
        }
        if let Some(hc) = plan.health_check {
            spec_mut(svc).insert("healthCheckNodePort".into(), json!(hc));
        }
    }

    // ----- public API --------------------------------------------------------------------

    /// Allocate what a new Service needs (upstream `allocateCreate`): sets `ipFamilyPolicy`,
    /// `ipFamilies`, `clusterIP(s)`, node ports and `healthCheckNodePort` on `svc`. Returns
    /// what was reserved, for [`ServiceAllocators::release`] if the create then fails. A dry
    /// run fills the fields the same way and reserves nothing.
    pub async fn allocate_create(&self, svc: &mut Value, dry_run: bool) -> ApiResult<Allocation> {
        self.init_ip_families(svc, None)?;
        let ips = self.alloc_cluster_ips(svc, dry_run).await?;
        let name = name_of(svc);
        let snapshot = svc.clone();
        let plan = self
            .run_port_plan(dry_run, |r, b| Self::plan_create_ports(&name, &snapshot, r, b))
            .await;
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                self.release_ips(&ips).await;
                return Err(e);
            }
        };
        Self::apply_port_plan(svc, &plan);
        Ok(Allocation {
            ips,
            node_ports: if dry_run { Vec::new() } else { plan.allocated },
        })
    }

    /// Give back what an [`Allocation`] holds (rollback, or the release half of an update).
    pub async fn release(&self, alloc: &Allocation) {
        self.release_ips(&alloc.ips).await;
        self.release_ports(&alloc.node_ports).await;
    }

    /// Allocate for an update (upstream `allocateUpdate`). Returns (what was newly reserved —
    /// release it if the update fails; what the old object held and the new one no longer
    /// uses — release it once the update is stored).
    pub async fn allocate_update(
        &self,
        old: &Value,
        new: &mut Value,
        dry_run: bool,
    ) -> ApiResult<(Allocation, Allocation)> {
        prepare_update(old, new);
        self.init_ip_families(new, Some(old))?;
        let (new_ips, release_ips) = self.update_cluster_ips(old, new, dry_run).await?;
        let name = name_of(new);
        let snapshot = new.clone();
        let plan = self
            .run_port_plan(dry_run, |r, b| Self::plan_update_ports(&name, old, &snapshot, r, b))
            .await;
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                self.release_ips(&new_ips).await;
                return Err(e);
            }
        };
        Self::apply_port_plan(new, &plan);

        let mut release_ports: Vec<u16> = Vec::new();
        let old_numbers = node_port_numbers(old);
        if needs_node_ports(old) && matches!(svc_type(new), "ClusterIP" | "ExternalName") {
            release_ports.extend(old_numbers.iter().map(|n| *n as u16));
        } else if needs_node_ports(new) {
            let new_numbers = node_port_numbers(new);
            release_ports.extend(
                old_numbers
                    .iter()
                    .filter(|n| !new_numbers.contains(n))
                    .map(|n| *n as u16),
            );
        }
        if needs_health_check(old) && !needs_health_check(new) && hc_node_port(old) != 0 {
            release_ports.push(hc_node_port(old) as u16);
        }
        release_ports.sort_unstable();
        release_ports.dedup();
        if dry_run {
            return Ok((Allocation::default(), Allocation::default()));
        }
        Ok((
            Allocation {
                ips: new_ips,
                node_ports: plan.allocated,
            },
            Allocation {
                ips: release_ips,
                node_ports: release_ports,
            },
        ))
    }

    /// `updateClusterIPs`: (newly allocated, to release after success).
    async fn update_cluster_ips(
        &self,
        old: &Value,
        svc: &mut Value,
        dry_run: bool,
    ) -> ApiResult<(Vec<IpAddr>, Vec<IpAddr>)> {
        if matching_prefer_dual_stack(svc, old) {
            return Ok((Vec::new(), Vec::new()));
        }
        let parse_all = |v: &Value| -> Vec<IpAddr> {
            str_list(v, "clusterIPs")
                .iter()
                .filter_map(|s| s.parse::<IpAddr>().ok())
                .collect()
        };
        // A: ExternalName -> a type with cluster IPs.
        if svc_type(old) == "ExternalName" && svc_type(svc) != "ExternalName" {
            let got = self.alloc_cluster_ips(svc, dry_run).await?;
            return Ok((got, Vec::new()));
        }
        if is_headless(old) {
            return Ok((Vec::new(), Vec::new()));
        }
        // B: to ExternalName: release everything.
        if svc_type(old) != "ExternalName" && svc_type(svc) == "ExternalName" {
            return Ok((Vec::new(), parse_all(old)));
        }
        let old_fams = str_list(old, "ipFamilies");
        let new_fams = str_list(svc, "ipFamilies");
        // C: upgrade to dual-stack.
        if old_fams.len() == 1 && new_fams.len() == 2 {
            let mut cips = str_list(svc, "clusterIPs");
            if cips.len() < 2 {
                cips.push(String::new());
                set_str_list(svc, "clusterIPs", &cips);
            }
            let wanted = vec![(new_fams[1].clone(), cips[1].clone())];
            let got = self.alloc_ips(svc, &wanted, dry_run).await?;
            if let Some(ip) = got.first() {
                if cips[1].is_empty() {
                    cips[1] = ip.to_string();
                }
                set_str_list(svc, "clusterIPs", &cips);
            }
            return Ok((if dry_run { Vec::new() } else { got }, Vec::new()));
        }
        // D: downgrade: release the secondary IP.
        if old_fams.len() == 2 && new_fams.len() == 1 {
            let old_ips = str_list(old, "clusterIPs");
            let second = old_ips.get(1).and_then(|s| s.parse::<IpAddr>().ok());
            return Ok((Vec::new(), second.into_iter().collect()));
        }
        Ok((Vec::new(), Vec::new()))
    }

    /// Release everything a deleted Service held (upstream `releaseAllocatedResources`).
    pub async fn release_for(&self, svc: &Value) {
        let mut alloc = Allocation::default();
        if svc_type(svc) != "ExternalName" && !is_headless(svc) {
            alloc.ips = str_list(svc, "clusterIPs")
                .iter()
                .filter_map(|s| s.parse::<IpAddr>().ok())
                .collect();
            if alloc.ips.is_empty() {
                if let Ok(ip) = sstr(svc, "clusterIP").parse::<IpAddr>() {
                    alloc.ips.push(ip);
                }
            }
        }
        alloc.node_ports = node_port_numbers(svc)
            .into_iter()
            .filter_map(|n| u16::try_from(n).ok())
            .collect();
        if needs_health_check(svc) {
            if let Ok(hc) = u16::try_from(hc_node_port(svc)) {
                if hc > 0 {
                    alloc.node_ports.push(hc);
                }
            }
        }
        self.release(&alloc).await;
    }

    // ----- repair ------------------------------------------------------------------------

    /// Rebuild the bitmaps from the existing Services (upstream's repair controllers): every
    /// value a Service uses is marked; values out of the configured ranges and values used
    /// twice are reported (and logged); values marked but used by no Service are freed after
    /// [`REPAIRS_BEFORE_LEAK_CLEANUP`] passes (they may belong to a create in flight).
    pub async fn repair(&self, services: &[Value]) -> ApiResult<RepairReport> {
        let mut report = RepairReport::default();
        let mut ip_sets: Vec<Bits> = self.ips.iter().map(|p| Bits::new(p.range.max)).collect();
        let mut port_set = Bits::new(self.ports.range.max);
        for svc in services {
            let who = ns_name(svc);
            if svc_type(svc) != "ExternalName" && !is_headless(svc) {
                let mut ips = str_list(svc, "clusterIPs");
                if ips.is_empty() && !sstr(svc, "clusterIP").is_empty() {
                    ips.push(sstr(svc, "clusterIP").to_string());
                }
                for ip_s in ips.iter().filter(|s| !s.is_empty()) {
                    let Ok(ip) = ip_s.parse::<IpAddr>() else {
                        let m = format!("the cluster IP {ip_s} for service {who} is not a valid IP; please recreate");
                        tracing::warn!("{m}");
                        report.out_of_range.push(m);
                        continue;
                    };
                    let hit = self
                        .ips
                        .iter()
                        .enumerate()
                        .find_map(|(i, p)| p.range.ip_offset(ip).map(|o| (i, o)));
                    match hit {
                        Some((i, off)) => {
                            if !ip_sets[i].set(off) {
                                let m = format!(
                                    "the cluster IP {ip} for service {who} was assigned to multiple services; please recreate"
                                );
                                tracing::warn!("{m}");
                                report.duplicates.push(m);
                            }
                        }
                        None => {
                            let specs: Vec<&str> = self.ips.iter().map(|p| p.range.spec.as_str()).collect();
                            let m = format!(
                                "the cluster IP {ip} for service {who} is not within the service CIDR {}; please recreate",
                                specs.join(",")
                            );
                            tracing::warn!("{m}");
                            report.out_of_range.push(m);
                        }
                    }
                }
            }
            let mut ports: Vec<i64> = node_port_numbers(svc);
            // One Service may use one node port for TCP and UDP of the same port number.
            ports.sort_unstable();
            ports.dedup();
            if needs_health_check(svc) && hc_node_port(svc) != 0 {
                ports.push(hc_node_port(svc));
            }
            for np in ports {
                match self.ports.range.port_offset(np) {
                    Some(off) => {
                        if !port_set.set(off) {
                            let m = format!(
                                "the node port {np} for service {who} was assigned to multiple services; please recreate"
                            );
                            tracing::warn!("{m}");
                            report.duplicates.push(m);
                        }
                    }
                    None => {
                        let m = format!(
                            "the node port {np} for service {who} is not within the port range {}; please recreate",
                            self.ports.range.spec
                        );
                        tracing::warn!("{m}");
                        report.out_of_range.push(m);
                    }
                }
            }
        }
        let mut targets: Vec<(&Persisted, Bits)> = self.ips.iter().zip(ip_sets).collect();
        targets.push((&self.ports, port_set));
        for (p, used) in targets {
            let mut kept = 0usize;
            let mut freed = 0usize;
            let mut seen_leaks: Vec<usize> = Vec::new();
            p.replace(self.storage(), |_, stored| {
                let mut next = used.clone();
                seen_leaks.clear();
                kept = 0;
                for off in stored.ones() {
                    if !used.get(off) {
                        seen_leaks.push(off);
                    }
                }
                let leaks = self.leaks.lock().unwrap_or_else(|e| e.into_inner());
                freed = 0;
                for off in &seen_leaks {
                    let n = leaks.get(&(p.key, *off)).copied().unwrap_or(0) + 1;
                    if n < REPAIRS_BEFORE_LEAK_CLEANUP {
                        next.set(*off);
                        kept += 1;
                    } else {
                        freed += 1;
                    }
                }
                next
            })
            .await?;
            {
                let mut leaks = self.leaks.lock().unwrap_or_else(|e| e.into_inner());
                let mut fresh: HashMap<(&'static str, usize), u32> = leaks
                    .iter()
                    .filter(|((k, _), _)| *k != p.key)
                    .map(|(k, v)| (*k, *v))
                    .collect();
                for off in &seen_leaks {
                    let n = leaks.get(&(p.key, *off)).copied().unwrap_or(0) + 1;
                    if n < REPAIRS_BEFORE_LEAK_CLEANUP {
                        fresh.insert((p.key, *off), n);
                    } else {
                        let value = match p.range.space {
                            Space::Port => p.range.value(*off).to_string(),
                            Space::Ip { .. } => p.range.ip_at(*off).to_string(),
                        };
                        tracing::info!(range = p.key, value = %value, "freed an allocation no Service uses");
                    }
                }
                *leaks = fresh;
            }
            report.leaked_kept += kept;
            report.leaked_freed += freed;
        }
        Ok(report)
    }

    /// [`ServiceAllocators::repair`] over every Service in storage.
    pub async fn repair_from_storage(&self) -> ApiResult<RepairReport> {
        let mut services = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .storage
                .list(SERVICES_PREFIX, after.as_deref(), 0, 500)
                .await
                .map_err(ApiError::internal)?;
            for kv in &page.items {
                if let Ok(v) = serde_json::from_slice::<Value>(&kv.value) {
                    services.push(v);
                }
            }
            if !page.more || page.items.is_empty() {
                break;
            }
            after = page.items.last().map(|kv| kv.key.clone());
        }
        self.repair(&services).await
    }

    /// Allocated values per range (for tests and diagnostics): IPs of the primary range.
    pub async fn allocated_ips(&self, family: &str) -> ApiResult<Vec<IpAddr>> {
        let Some(p) = self.ip_range(family) else {
            return Ok(Vec::new());
        };
        let (_, bits) = p.load(self.storage()).await?;
        Ok(bits.ones().into_iter().map(|o| p.range.ip_at(o)).collect())
    }

    /// Allocated node ports.
    pub async fn allocated_node_ports(&self) -> ApiResult<Vec<u16>> {
        let (_, bits) = self.ports.load(self.storage()).await?;
        Ok(bits
            .ones()
            .into_iter()
            .filter_map(|o| u16::try_from(self.ports.range.value(o)).ok())
            .collect())
    }
}

/// `isMatchingPreferDualStackClusterIPFields`.
fn matching_prefer_dual_stack(svc: &Value, old: &Value) -> bool {
    let Some(p) = policy(svc) else { return false };
    if svc_type(old) != svc_type(svc) || !matches!(svc_type(svc), "ClusterIP" | "NodePort" | "LoadBalancer") {
        return false;
    }
    if p != "PreferDualStack" || policy(old).is_some_and(|o| o != "PreferDualStack") {
        return false;
    }
    str_list(old, "clusterIPs") == str_list(svc, "clusterIPs")
        && str_list(old, "ipFamilies") == str_list(svc, "ipFamilies")
}

// ---------------------------------------------------------------------------------------------
// default/kubernetes Endpoints and EndpointSlice.
// ---------------------------------------------------------------------------------------------

/// The `Endpoints default/kubernetes` upstream's endpoint reconciler writes for these API
/// servers (sorted, de-duplicated addresses).
pub fn kubernetes_endpoints(addresses: &[IpAddr], port: u16) -> Value {
    let mut ips: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    ips.sort();
    ips.dedup();
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{
            "addresses": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }],
    })
}

/// The matching `EndpointSlice default/kubernetes` (upstream `endpointSliceFromEndpoints`).
pub fn kubernetes_endpoint_slice(addresses: &[IpAddr], port: u16) -> Value {
    let mut ips: Vec<IpAddr> = addresses.to_vec();
    ips.sort_by_key(|ip| ip.to_string());
    ips.dedup();
    let v6 = !ips.is_empty() && ips.iter().all(IpAddr::is_ipv6);
    let endpoints: Vec<Value> = ips
        .iter()
        .filter(|ip| ip.is_ipv6() == v6)
        .map(|ip| json!({"addresses": [ip.to_string()], "conditions": {"ready": true}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": if v6 { "IPv6" } else { "IPv4" },
        "endpoints": endpoints,
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })
}

fn find_def(group: &str, plural: &str) -> Option<&'static crate::api::ResourceDef> {
    crate::api::builtin()
        .iter()
        .find(|d| d.group == group && d.plural == plural && d.version == "v1")
}

/// Create or refresh `Endpoints default/kubernetes` and `EndpointSlice default/kubernetes`
/// with this server's advertise address only (single-server form; see [`EndpointLeases`] for
/// the multi-server lease reconciler).
pub async fn reconcile_kubernetes_endpoints(registry: &Registry, advertise: IpAddr, port: u16) -> ApiResult<()> {
    write_kubernetes_endpoints(registry, &[advertise], port).await
}

/// Write `Endpoints default/kubernetes` and `EndpointSlice default/kubernetes` for these
/// addresses when they differ from what is stored. Refuses an empty list (as upstream: "no API
/// server IP addresses were listed in storage, refusing to erase all endpoints").
pub async fn write_kubernetes_endpoints(registry: &Registry, addresses: &[IpAddr], port: u16) -> ApiResult<()> {
    if addresses.is_empty() {
        return Err(ApiError::internal(
            "no API server IP addresses were listed in storage, refusing to erase all endpoints for the kubernetes Service",
        ));
    }
    let pairs = [
        ("", "endpoints", kubernetes_endpoints(addresses, port)),
        (
            "discovery.k8s.io",
            "endpointslices",
            kubernetes_endpoint_slice(addresses, port),
        ),
    ];
    for (group, plural, want) in pairs {
        let Some(def) = find_def(group, plural) else {
            return Err(ApiError::internal(format!("resource table lacks {plural}")));
        };
        match registry.get(def, Some("default"), "kubernetes", None).await {
            Ok(cur) => {
                let differs = want
                    .as_object()
                    .map(|m| {
                        m.iter().any(|(k, v)| match k.as_str() {
                            "metadata" => cur.value.pointer("/metadata/labels") != v.get("labels"),
                            "apiVersion" | "kind" => false,
                            _ => cur.value.get(k) != Some(v),
                        })
                    })
                    .unwrap_or(false);
                if differs {
                    let mut body = cur.value.clone();
                    if let (Some(b), Some(w)) = (body.as_object_mut(), want.as_object()) {
                        for (k, v) in w {
                            if k == "metadata" {
                                continue;
                            }
                            b.insert(k.clone(), v.clone());
                        }
                    }
                    body["metadata"]["labels"] = want["metadata"]["labels"].clone();
                    // Keep the resourceVersion we read: a concurrent writer (another server)
                    // makes this a conflict, retried on the next pass.
                    registry
                        .update(
                            def,
                            Some("default"),
                            "kubernetes",
                            body,
                            crate::registry::store::Part::Main,
                            false,
                            Some("kube-apiserver"),
                        )
                        .await?;
                }
            }
            Err(e) if e.code == 404 => match registry.create(def, Some("default"), want, false).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// API server leases (upstream's lease endpoint reconciler, `pkg/controlplane/reconcilers/lease.go`).
// ---------------------------------------------------------------------------------------------

/// Where the per-server leases live: `/registry/masterleases/<advertise IP>`.
pub const MASTER_LEASES_PREFIX: &str = "/registry/masterleases/";
/// Upstream's `DefaultEndpointReconcilerInterval`.
pub const ENDPOINT_RECONCILER_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Upstream's `DefaultEndpointReconcilerTTL`.
pub const ENDPOINT_RECONCILER_TTL: std::time::Duration = std::time::Duration::from_secs(15);
/// How often the periodic allocation repair runs (upstream repairs every few minutes).
pub const REPAIR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(180);
/// Annotation on a lease holding its expiry (RFC 3339, microseconds): our storage has no TTLs,
/// so a lease past this time is dead.
pub const LEASE_EXPIRY_ANNOTATION: &str = "capstan.io/lease-expires-at";

/// One API server's lease as stored: an Endpoints-shaped object named after the IP.
pub fn lease_object(ip: IpAddr, port: u16, expires: std::time::SystemTime) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": ip.to_string(),
            "annotations": {LEASE_EXPIRY_ANNOTATION: crate::util::rfc3339_micros(expires)},
        },
        "subsets": [{
            "addresses": [{"ip": ip.to_string()}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }],
    })
}

/// A live lease: (IP, port). `None` for an unparsable or expired lease.
pub fn live_lease(raw: &[u8], now: std::time::SystemTime) -> Option<(IpAddr, u16)> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    let expires = v
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LEASE_EXPIRY_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(crate::util::parse_rfc3339)?;
    if expires <= now {
        return None;
    }
    let ip: IpAddr = v.pointer("/metadata/name").and_then(Value::as_str)?.parse().ok()?;
    let port = v
        .pointer("/subsets/0/ports/0/port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(443);
    Some((ip, port))
}

/// The Endpoints for a set of live leases: all IPs sorted; the port of the lowest IP's lease
/// (every server computes the same answer, so servers on different ports do not flap).
pub fn endpoints_for_leases(leases: &[(IpAddr, u16)]) -> Option<(Vec<IpAddr>, u16)> {
    let mut sorted = leases.to_vec();
    sorted.sort_by_key(|(ip, _)| ip.to_string());
    sorted.dedup_by_key(|(ip, _)| *ip);
    let port = sorted.first()?.1;
    Some((sorted.into_iter().map(|(ip, _)| ip).collect(), port))
}

/// This server's lease and the reconciler that keeps `default/kubernetes` pointing at the live
/// API servers.
pub struct EndpointLeases {
    pub ip: IpAddr,
    pub port: u16,
    pub ttl: std::time::Duration,
    pub interval: std::time::Duration,
}

impl EndpointLeases {
    pub fn new(ip: IpAddr, port: u16) -> EndpointLeases {
        EndpointLeases {
            ip,
            port,
            ttl: ENDPOINT_RECONCILER_TTL,
            interval: ENDPOINT_RECONCILER_INTERVAL,
        }
    }

    fn key(&self) -> String {
        format!("{MASTER_LEASES_PREFIX}{}", self.ip)
    }

    /// Write (or refresh) this server's lease with a new expiry.
    pub async fn refresh(&self, storage: &dyn Storage) -> ApiResult<()> {
        let key = self.key();
        for _ in 0..5 {
            let body = lease_object(self.ip, self.port, std::time::SystemTime::now() + self.ttl);
            let bytes = Bytes::from(serde_json::to_vec(&body).map_err(ApiError::internal)?);
            let res = match storage.get(&key, 0).await.map_err(ApiError::internal)? {
                Some(kv) => storage.update(&key, bytes, kv.mod_revision).await,
                None => storage.create(&key, bytes).await,
            };
            match res {
                Ok(_) => return Ok(()),
                Err(StorageError::Conflict { .. } | StorageError::KeyExists { .. } | StorageError::NotFound { .. }) => {
                    continue
                }
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        Err(ApiError::internal(format!(
            "cannot refresh the lease {key}: too many conflicts"
        )))
    }

    /// Every live lease in storage.
    pub async fn live(storage: &dyn Storage) -> ApiResult<Vec<(IpAddr, u16)>> {
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = storage
                .list(MASTER_LEASES_PREFIX, after.as_deref(), 0, 500)
                .await
                .map_err(ApiError::internal)?;
            out.extend(page.items.iter().filter_map(|kv| live_lease(&kv.value, now)));
            if !page.more || page.items.is_empty() {
                break;
            }
            after = page.items.last().map(|kv| kv.key.clone());
        }
        Ok(out)
    }

    /// One pass: refresh our lease, list the live ones and rewrite `default/kubernetes`.
    pub async fn reconcile(&self, registry: &Registry) -> ApiResult<Vec<IpAddr>> {
        self.refresh(registry.storage.as_ref()).await?;
        let mut leases = Self::live(registry.storage.as_ref()).await?;
        if !leases.iter().any(|(ip, _)| *ip == self.ip) {
            leases.push((self.ip, self.port));
        }
        let Some((ips, port)) = endpoints_for_leases(&leases) else {
            return Ok(Vec::new());
        };
        write_kubernetes_endpoints(registry, &ips, port).await?;
        Ok(ips)
    }

    /// On shutdown: drop our lease and our address from `default/kubernetes` (kept when we are
    /// the last server: the list is never written empty).
    pub async fn remove(&self, registry: &Registry) -> ApiResult<()> {
        let storage = registry.storage.as_ref();
        let key = self.key();
        if let Some(kv) = storage.get(&key, 0).await.map_err(ApiError::internal)? {
            match storage.delete(&key, kv.mod_revision).await {
                Ok(_) | Err(StorageError::NotFound { .. } | StorageError::Conflict { .. }) => {}
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        let leases: Vec<(IpAddr, u16)> = Self::live(storage)
            .await?
            .into_iter()
            .filter(|(ip, _)| *ip != self.ip)
            .collect();
        match endpoints_for_leases(&leases) {
            Some((ips, port)) => write_kubernetes_endpoints(registry, &ips, port).await,
            None => Ok(()),
        }
    }

    /// Reconcile every `interval` until `stop` turns true, then remove our lease (bounded by
    /// twice the interval, as upstream).
    pub async fn run(self, registry: Registry, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            if let Err(e) = self.reconcile(&registry).await {
                tracing::warn!(error = %e.message, "cannot reconcile the default/kubernetes endpoints");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = async { let _ = stop.wait_for(|v| *v).await; } => {}
            }
        }
        match tokio::time::timeout(2 * self.interval, self.remove(&registry)).await {
            Ok(Ok(())) => tracing::info!(ip = %self.ip, "removed this server from the default/kubernetes endpoints"),
            Ok(Err(e)) => tracing::warn!(error = %e.message, "cannot remove this server's endpoint lease"),
            Err(_) => tracing::warn!("timed out removing this server's endpoint lease"),
        }
    }
}

/// Run [`ServiceAllocators::repair_from_storage`] every `interval` (the first pass after one
/// interval: startup already repaired).
pub fn spawn_repair_loop(
    allocators: Arc<ServiceAllocators>,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match allocators.repair_from_storage().await {
                Ok(r) => tracing::debug!(
                    out_of_range = r.out_of_range.len(),
                    duplicates = r.duplicates.len(),
                    leaked_kept = r.leaked_kept,
                    leaked_freed = r.leaked_freed,
                    "service allocation repair pass"
                ),
                Err(e) => tracing::warn!(error = %e.message, "service allocation repair failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    fn store(dir: &tempfile::TempDir) -> Arc<dyn Storage> {
        let s: Arc<dyn Storage> = SqliteStorage::open(&dir.path().join("db.sqlite")).expect("open sqlite");
        s
    }

    fn svc(name: &str, spec: Value) -> Value {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec});
        (crate::api::strategy::core::SERVICE.defaults)(&mut s);
        s
    }

    fn ip_svc(name: &str) -> Value {
        svc(name, json!({"ports": [{"port": 80}]}))
    }

    fn np_svc(name: &str) -> Value {
        svc(name, json!({"type": "NodePort", "ports": [{"port": 80}]}))
    }

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
    }

    #[test]
    fn bitmap_bytes_match_big_int_bytes() {
        let mut b = Bits::new(300);
        b.set(0);
        b.set(9);
        b.set(257);
        let bytes = b.to_bytes();
        // 2^257 + 2^9 + 1 in big-endian, minimal.
        assert_eq!(bytes.len(), 33);
        assert_eq!(bytes[0], 0x02);
        assert_eq!(bytes[31], 0x02);
        assert_eq!(bytes[32], 0x01);
        let mut pos = bit_positions(&bytes);
        pos.sort_unstable();
        assert_eq!(pos, vec![0, 9, 257]);
        assert!(Bits::new(10).to_bytes().is_empty());
    }

    #[tokio::test]
    async fn dynamic_allocation_prefers_upper_band_and_skips_first_ip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        for i in 0..200 {
            let mut s = np_svc(&format!("s{i}"));
            a.allocate_create(&mut s, false).await.expect("allocate");
            let ip: IpAddr = s["spec"]["clusterIP"].as_str().expect("ip").parse().expect("parse");
            let IpAddr::V4(v4) = ip else { panic!("v4") };
            assert!(v4.octets()[3] >= 17, "{ip} in the static band");
            let np = s["spec"]["ports"][0]["nodePort"].as_i64().expect("nodePort");
            assert!((30086..=32767).contains(&np), "{np} in the static band");
            assert_eq!(s["spec"]["clusterIPs"], json!([ip.to_string()]));
            assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
            assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        }
        // Upper band 10.0.0.17-254 has 238 addresses; the rest come from the static band, never .1.
        for i in 200..253 {
            let mut s = ip_svc(&format!("t{i}"));
            a.allocate_create(&mut s, false).await.expect("allocate");
            assert_ne!(s["spec"]["clusterIP"], "10.0.0.1");
        }
        let mut s = ip_svc("full");
        let e = a.allocate_create(&mut s, false).await.expect_err("full");
        assert_eq!(e.code, 500);
        assert_eq!(
            e.message,
            "Internal error occurred: failed to allocate a serviceIP: range is full"
        );
        // The kubernetes Service still gets the first IP.
        let mut k = svc("kubernetes", json!({"clusterIP": "10.0.0.1", "ports": [{"port": 443}]}));
        a.allocate_create(&mut k, false).await.expect("first ip");
        assert_eq!(a.first_service_ip().to_string(), "10.0.0.1");
    }

    #[tokio::test]
    async fn requested_ips_are_checked_with_upstream_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut s = svc("x", json!({"clusterIP": "1.1.1.1", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut s, false).await.expect_err("out of range");
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Service \"x\" is invalid: spec.clusterIPs: Invalid value: []string{\"1.1.1.1\"}: failed to allocate IP 1.1.1.1: the provided IP (1.1.1.1) is not in the valid range. The range of valid IPs is 10.0.0.0/24"
        );
        assert_eq!(
            e.details.as_ref().expect("details")["causes"][0]["field"],
            "spec.clusterIPs"
        );
        let mut s = svc("y", json!({"clusterIP": "10.0.0.10", "ports": [{"port": 80}]}));
        let got = a.allocate_create(&mut s, false).await.expect("in range");
        assert_eq!(got.ips, vec!["10.0.0.10".parse::<IpAddr>().expect("ip")]);
        let mut s = svc("z", json!({"clusterIP": "10.0.0.10", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut s, false).await.expect_err("taken");
        assert_eq!(
            e.message,
            "Service \"z\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.10\"}: failed to allocate IP 10.0.0.10: provided IP is already allocated"
        );
        // Broadcast is not in range.
        let mut s = svc("b", json!({"clusterIP": "10.0.0.255", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut s, false).await.expect_err("broadcast");
        assert!(e.message.ends_with(
            "the provided IP (10.0.0.255) is not in the valid range. The range of valid IPs is 10.0.0.0/24"
        ));
        // Family not configured.
        let mut s = svc("v6", json!({"clusterIP": "fd00::5", "ports": [{"port": 80}]}));
        let e = a.allocate_create(&mut s, false).await.expect_err("v6");
        assert_eq!(
            e.message,
            "Service \"v6\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"fd00::5\"}: IPv6 is not configured on this cluster"
        );
        let mut s = svc(
            "rd",
            json!({"ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 80}]}),
        );
        let e = a.allocate_create(&mut s, false).await.expect_err("dual");
        assert_eq!(
            e.message,
            "Service \"rd\" is invalid: spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"
        );
    }

    #[tokio::test]
    async fn node_ports_requested_taken_out_of_range_and_shared_by_protocols() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut s = svc(
            "a",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
        );
        a.allocate_create(&mut s, false).await.expect("requested");
        assert_eq!(s["spec"]["ports"][0]["nodePort"], 30080);
        let mut s = svc(
            "x",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
        );
        let e = a.allocate_create(&mut s, false).await.expect_err("taken");
        assert_eq!(
            e.message,
            "Service \"x\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
        assert_eq!(e.code, 422);
        // The IP reserved before the port failure was given back.
        assert_eq!(a.allocated_ips("IPv4").await.expect("ips").len(), 1);
        let mut s = svc(
            "y",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]}),
        );
        let e = a.allocate_create(&mut s, false).await.expect_err("range");
        assert_eq!(
            e.message,
            "Service \"y\" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        let mut s = svc(
            "dns",
            json!({"type": "NodePort", "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                {"name": "web", "port": 80}]}),
        );
        let got = a.allocate_create(&mut s, false).await.expect("shared");
        let p = &s["spec"]["ports"];
        assert_eq!(p[0]["nodePort"], p[1]["nodePort"]);
        assert_ne!(p[0]["nodePort"], p[2]["nodePort"]);
        assert_eq!(got.node_ports.len(), 2);
        // LoadBalancer with externalTrafficPolicy Local gets a health check node port.
        let mut lb = svc(
            "lb",
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 443}]}),
        );
        let got = a.allocate_create(&mut lb, false).await.expect("lb");
        let hc = lb["spec"]["healthCheckNodePort"].as_i64().expect("hc");
        assert!(got.node_ports.contains(&(hc as u16)));
        assert_eq!(got.node_ports.len(), 2);
        // Headless and ExternalName get no IP.
        let mut h = svc(
            "h",
            json!({"clusterIP": "None", "selector": {"a": "b"}, "ports": [{"port": 80}]}),
        );
        let got = a.allocate_create(&mut h, false).await.expect("headless");
        assert!(got.ips.is_empty());
        assert_eq!(h["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(h["spec"]["ipFamilies"], json!(["IPv4"]));
        let mut en = svc("en", json!({"type": "ExternalName", "externalName": "example.com"}));
        let got = a.allocate_create(&mut en, false).await.expect("external name");
        assert!(got.is_empty());
        assert!(en["spec"].get("clusterIP").is_none());
    }

    #[tokio::test]
    async fn tiny_node_port_range_exhausts_with_upstream_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-30002").expect("alloc");
        let mut seen = Vec::new();
        for i in 0..3 {
            let mut s = np_svc(&format!("s{i}"));
            a.allocate_create(&mut s, false).await.expect("allocate");
            seen.push(s["spec"]["ports"][0]["nodePort"].as_i64().expect("np"));
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![30000, 30001, 30002]);
        let mut s = np_svc("full");
        let e = a.allocate_create(&mut s, false).await.expect_err("full");
        assert_eq!(e.code, 500);
        assert_eq!(
            e.message,
            "Internal error occurred: failed to allocate a nodePort: range is full"
        );
        // Nothing leaked: three IPs held, the fourth was released.
        assert_eq!(a.allocated_ips("IPv4").await.expect("ips").len(), 3);
    }

    #[tokio::test]
    async fn dry_run_reserves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut s = np_svc("d");
        let got = a.allocate_create(&mut s, true).await.expect("dry");
        assert!(got.is_empty());
        assert!(s["spec"]["ports"][0]["nodePort"].as_i64().is_some());
        assert!(a.allocated_ips("IPv4").await.expect("ips").is_empty());
        assert!(a.allocated_node_ports().await.expect("ports").is_empty());
    }

    #[tokio::test]
    async fn release_then_reallocate_and_update_type_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut s = svc(
            "a",
            json!({"type": "NodePort", "clusterIP": "10.0.0.50", "ports": [{"port": 80, "nodePort": 30100}]}),
        );
        a.allocate_create(&mut s, false).await.expect("create");
        a.release_for(&s).await;
        assert!(a.allocated_ips("IPv4").await.expect("ips").is_empty());
        assert!(a.allocated_node_ports().await.expect("ports").is_empty());
        let mut again = svc(
            "b",
            json!({"type": "NodePort", "clusterIP": "10.0.0.50", "ports": [{"port": 80, "nodePort": 30100}]}),
        );
        a.allocate_create(&mut again, false).await.expect("reallocate");

        // NodePort -> ClusterIP releases the node port after success; the IP is kept.
        let mut to_cip = again.clone();
        to_cip["spec"]["type"] = json!("ClusterIP");
        let (new, rel) = a.allocate_update(&again, &mut to_cip, false).await.expect("update");
        assert!(new.is_empty());
        assert_eq!(rel.node_ports, vec![30100]);
        assert!(to_cip["spec"]["ports"][0].get("nodePort").is_none());
        a.release(&rel).await;
        assert!(a.allocated_node_ports().await.expect("ports").is_empty());
        // ClusterIP -> NodePort allocates one; an update omitting clusterIP keeps the old one.
        let mut to_np = to_cip.clone();
        to_np["spec"]["type"] = json!("NodePort");
        if let Some(m) = to_np["spec"].as_object_mut() {
            m.remove("clusterIP");
            m.remove("clusterIPs");
        }
        let (new, rel) = a.allocate_update(&to_cip, &mut to_np, false).await.expect("update");
        assert_eq!(new.node_ports.len(), 1);
        assert!(rel.is_empty());
        assert_eq!(to_np["spec"]["clusterIP"], "10.0.0.50");
        // -> ExternalName releases the IP and the port.
        let mut to_en = to_np.clone();
        to_en["spec"]["type"] = json!("ExternalName");
        to_en["spec"]["externalName"] = json!("example.com");
        let (_, rel) = a.allocate_update(&to_np, &mut to_en, false).await.expect("update");
        assert_eq!(rel.ips, vec!["10.0.0.50".parse::<IpAddr>().expect("ip")]);
        assert_eq!(rel.node_ports.len(), 1);
        assert!(to_en["spec"].get("clusterIP").is_none());
        // An update to a taken node port fails with the upstream message.
        let mut holder = svc(
            "h",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30200}]}),
        );
        a.allocate_create(&mut holder, false).await.expect("holder");
        let mut moved = to_np.clone();
        moved["spec"]["ports"][0]["nodePort"] = json!(30200);
        let e = a.allocate_update(&to_np, &mut moved, false).await.expect_err("taken");
        assert_eq!(
            e.message,
            "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 30200: provided port is already allocated"
        );
    }

    #[tokio::test]
    async fn thousand_concurrent_allocations_are_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Arc::new(ServiceAllocators::new(store(&dir), "10.1.0.0/16", "30000-32767").expect("alloc"));
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let a = a.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = np_svc(&format!("s{i}"));
                a.allocate_create(&mut s, false).await.map(|_| s)
            }));
        }
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        for t in tasks {
            let s = t.await.expect("join").expect("allocate");
            assert!(ips.insert(s["spec"]["clusterIP"].as_str().expect("ip").to_string()));
            assert!(ports.insert(s["spec"]["ports"][0]["nodePort"].as_i64().expect("np")));
        }
        assert_eq!(ips.len(), 1000);
        assert_eq!(a.allocated_ips("IPv4").await.expect("ips").len(), 1000);
        assert_eq!(a.allocated_node_ports().await.expect("ports").len(), 1000);
    }

    #[tokio::test]
    async fn two_servers_on_one_storage_never_share_an_ip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = store(&dir);
        // A /24 with a full upper band forces both servers onto the same few addresses.
        let a = Arc::new(ServiceAllocators::new(st.clone(), "10.2.0.0/24", "30000-30300").expect("a"));
        let b = Arc::new(ServiceAllocators::new(st.clone(), "10.2.0.0/24", "30000-30300").expect("b"));
        let mut tasks = Vec::new();
        for i in 0..250 {
            let x = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut s = np_svc(&format!("s{i}"));
                x.allocate_create(&mut s, false).await.map(|_| s)
            }));
        }
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        let mut full = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(s) => {
                    assert!(ips.insert(s["spec"]["clusterIP"].as_str().expect("ip").to_string()));
                    assert!(ports.insert(s["spec"]["ports"][0]["nodePort"].as_i64().expect("np")));
                }
                Err(e) => {
                    assert_eq!(
                        e.message,
                        "Internal error occurred: failed to allocate a serviceIP: range is full"
                    );
                    full += 1;
                }
            }
        }
        // 253 allocatable addresses (.1 reserved): all 250 fit.
        assert_eq!((ips.len(), full), (250, 0));
        assert_eq!(b.allocated_ips("IPv4").await.expect("ips").len(), 250);
        // Releases by one server are seen by the other.
        let mut s = svc("r", json!({"clusterIP": "10.2.0.1", "ports": [{"port": 80}]}));
        a.allocate_create(&mut s, false).await.expect("a takes .1");
        let mut t = svc("r2", json!({"clusterIP": "10.2.0.1", "ports": [{"port": 80}]}));
        assert!(b.allocate_create(&mut t, false).await.is_err());
        b.release_for(&s).await;
        a.allocate_create(&mut t, false)
            .await
            .expect("a retakes .1 after b released it");
    }

    #[tokio::test]
    async fn repair_rebuilds_from_services_and_reports_out_of_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = store(&dir);
        let a = ServiceAllocators::new(st.clone(), "10.0.0.0/24", "30000-32767").expect("alloc");
        let mut kept = svc(
            "kept",
            json!({"type": "NodePort", "clusterIP": "10.0.0.20", "ports": [{"port": 80, "nodePort": 30500}]}),
        );
        a.allocate_create(&mut kept, false).await.expect("kept");
        let mut leaked = ip_svc("leaked");
        a.allocate_create(&mut leaked, false).await.expect("leaked");
        // The range moves to a /16 containing the old one; plus a Service outside it.
        let b = ServiceAllocators::new(st.clone(), "10.0.0.0/16", "30000-32767").expect("alloc");
        // The stored /24 bitmap is carried over into the new range.
        assert_eq!(b.allocated_ips("IPv4").await.expect("ips").len(), 2);
        let outside = svc(
            "outside",
            json!({"clusterIP": "192.168.0.9", "clusterIPs": ["192.168.0.9"], "ports": [{"port": 80}]}),
        );
        let report = b.repair(&[kept.clone(), outside]).await.expect("repair");
        assert_eq!(
            report.out_of_range,
            vec!["the cluster IP 192.168.0.9 for service default/outside is not within the service CIDR 10.0.0.0/16; please recreate"]
        );
        assert_eq!(report.leaked_kept, 1);
        let mut ips = b.allocated_ips("IPv4").await.expect("ips");
        ips.sort();
        assert_eq!(ips.len(), 2);
        // After enough passes, the leak is freed; the used values stay.
        b.repair(&[kept.clone()]).await.expect("repair 2");
        let r3 = b.repair(&[kept.clone()]).await.expect("repair 3");
        assert_eq!(r3.leaked_freed, 1);
        assert_eq!(
            b.allocated_ips("IPv4").await.expect("ips"),
            vec!["10.0.0.20".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(b.allocated_node_ports().await.expect("ports"), vec![30500]);
        // Duplicates are reported.
        let twin = svc(
            "twin",
            json!({"clusterIP": "10.0.0.20", "clusterIPs": ["10.0.0.20"], "ports": [{"port": 80}]}),
        );
        let r = b.repair(&[kept, twin]).await.expect("repair dup");
        assert_eq!(
            r.duplicates,
            vec![
                "the cluster IP 10.0.0.20 for service default/twin was assigned to multiple services; please recreate"
            ]
        );
    }

    #[tokio::test]
    async fn dual_stack_allocates_both_families() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ServiceAllocators::new(store(&dir), "10.0.0.0/24,fd00::/112", "30000-32767").expect("alloc");
        let mut s = svc(
            "d",
            json!({"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 80}]}),
        );
        let got = a.allocate_create(&mut s, false).await.expect("dual");
        assert_eq!(got.ips.len(), 2);
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        let cips = str_list(&s, "clusterIPs");
        assert_eq!(family_of(&cips[0]), "IPv4");
        assert_eq!(family_of(&cips[1]), "IPv6");
        let mut single = svc("s", json!({"ipFamilies": ["IPv6"], "ports": [{"port": 80}]}));
        a.allocate_create(&mut single, false).await.expect("v6 only");
        assert_eq!(family_of(sstr(&single, "clusterIP")), "IPv6");
        let st = a.storage.clone();
        assert!(ServiceAllocators::new(st.clone(), "10.0.0.0/24,10.1.0.0/24", "").is_err());
        assert!(ServiceAllocators::new(st, "10.0.0.0/8", "").is_err());
    }

    #[test]
    fn kubernetes_endpoint_objects_match_upstream_shape() {
        let ep = kubernetes_endpoints(&["192.168.1.10".parse().expect("ip")], 6443);
        assert_eq!(
            ep["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"],
            "true"
        );
        assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "192.168.1.10");
        assert_eq!(
            ep["subsets"][0]["ports"][0],
            json!({"name": "https", "port": 6443, "protocol": "TCP"})
        );
        let sl = kubernetes_endpoint_slice(&["fd00::10".parse().expect("ip")], 6443);
        assert_eq!(sl["addressType"], "IPv6");
        assert_eq!(sl["metadata"]["labels"]["kubernetes.io/service-name"], "kubernetes");
        assert_eq!(sl["endpoints"][0]["conditions"]["ready"], true);
    }

    #[test]
    fn leases_expire_and_endpoints_take_the_lowest_ips_port() {
        let now = std::time::SystemTime::now();
        let ip: IpAddr = "192.0.2.10".parse().expect("ip");
        let live = serde_json::to_vec(&lease_object(ip, 6443, now + ENDPOINT_RECONCILER_TTL)).expect("json");
        assert_eq!(live_lease(&live, now), Some((ip, 6443)));
        let dead = serde_json::to_vec(&lease_object(ip, 6443, now - std::time::Duration::from_secs(1))).expect("json");
        assert_eq!(live_lease(&dead, now), None);
        assert_eq!(live_lease(b"not json", now), None);
        let a: IpAddr = "192.0.2.11".parse().expect("ip");
        assert_eq!(
            endpoints_for_leases(&[(a, 7000), (ip, 6443), (a, 7000)]),
            Some((vec![ip, a], 6443))
        );
        assert_eq!(endpoints_for_leases(&[]), None);
        assert_eq!(ENDPOINT_RECONCILER_INTERVAL, std::time::Duration::from_secs(10));
        assert_eq!(ENDPOINT_RECONCILER_TTL, std::time::Duration::from_secs(15));
    }

    async fn registry(storage: Arc<dyn Storage>) -> Registry {
        use crate::storage::cache::{CacheOptions, CacheSet};
        let mut segs: Vec<&str> = crate::api::builtin()
            .iter()
            .map(|r| r.storage)
            .filter(|s| !s.is_empty())
            .collect();
        segs.sort();
        segs.dedup();
        let caches = CacheSet::start(storage.clone(), "/registry/", &segs, CacheOptions::default())
            .await
            .expect("caches");
        let reg = Registry::new(storage, caches);
        let ns = crate::api::builtin()
            .iter()
            .find(|d| d.group.is_empty() && d.plural == "namespaces")
            .expect("namespaces def");
        reg.create(
            ns,
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            false,
        )
        .await
        .expect("default namespace");
        reg
    }

    async fn endpoint_ips(reg: &Registry) -> Vec<String> {
        let def = find_def("", "endpoints").expect("endpoints def");
        let ep = reg
            .get(def, Some("default"), "kubernetes", None)
            .await
            .expect("endpoints");
        let slice_def = find_def("discovery.k8s.io", "endpointslices").expect("slice def");
        let slice = reg
            .get(slice_def, Some("default"), "kubernetes", None)
            .await
            .expect("slice");
        let ips: Vec<String> = ep.value["subsets"][0]["addresses"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["ip"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        let slice_ips: Vec<String> = slice.value["endpoints"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["addresses"][0].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(ips, slice_ips);
        ips
    }

    #[tokio::test]
    async fn lease_reconciler_lists_live_servers_and_removes_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = store(&dir);
        let reg = registry(st.clone()).await;
        let a = EndpointLeases::new("192.0.2.11".parse().expect("ip"), 6443);
        let b = EndpointLeases::new("192.0.2.10".parse().expect("ip"), 6444);
        assert_eq!(a.reconcile(&reg).await.expect("a").len(), 1);
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.11"]);
        b.reconcile(&reg).await.expect("b");
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.10", "192.0.2.11"]);
        assert!(st
            .get("/registry/masterleases/192.0.2.10", 0)
            .await
            .expect("get")
            .is_some());
        // A dead server's lease (expired) no longer counts.
        let stale = lease_object(
            "192.0.2.9".parse().expect("ip"),
            6443,
            std::time::SystemTime::now() - std::time::Duration::from_secs(1),
        );
        st.create(
            "/registry/masterleases/192.0.2.9",
            Bytes::from(serde_json::to_vec(&stale).expect("json")),
        )
        .await
        .expect("stale lease");
        a.reconcile(&reg).await.expect("a again");
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.10", "192.0.2.11"]);
        let def = find_def("", "endpoints").expect("def");
        let ep = reg.get(def, Some("default"), "kubernetes", None).await.expect("ep");
        // The port of the lowest IP's lease.
        assert_eq!(ep.value["subsets"][0]["ports"][0]["port"], 6444);
        // Shutting down removes the lease and the address; the last server stays listed.
        b.remove(&reg).await.expect("remove b");
        assert!(st
            .get("/registry/masterleases/192.0.2.10", 0)
            .await
            .expect("get")
            .is_none());
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.11"]);
        a.remove(&reg).await.expect("remove a");
        assert_eq!(endpoint_ips(&reg).await, vec!["192.0.2.11"]);
        let err = write_kubernetes_endpoints(&reg, &[], 6443).await.expect_err("empty");
        assert!(
            err.message.contains("refusing to erase all endpoints"),
            "{}",
            err.message
        );
    }
}
