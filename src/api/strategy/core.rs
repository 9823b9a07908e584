//! Strategies for the `core` group: defaults (`pkg/apis/core/v1/defaults.go` plus the parts of
//! the registry strategies and admission plugins we stand in for) and validation
//! (`pkg/apis/core/validation/validation.go`).

use super::apps::util as apps_util;
use super::{Builtin, StatusWrite};
use crate::api::selector::LabelSelector;
use crate::api::validation::{self as v, get_bool, get_i64, get_list, get_map, get_str, str_or_empty};
use crate::error::field::{join, FieldError, FieldErrors};
use crate::util::json::JsonExt;
use crate::util::quantity::{self, Quantity};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Small JSON helpers (tolerant of wrong types: they never panic).
// ---------------------------------------------------------------------------------------------

fn obj_mut<'a>(val: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    val.get_mut(key).and_then(Value::as_object_mut)
}

fn arr_mut<'a>(val: &'a mut Value, key: &str) -> Option<&'a mut Vec<Value>> {
    val.get_mut(key).and_then(Value::as_array_mut)
}

fn absent(m: &Map<String, Value>, key: &str) -> bool {
    matches!(m.get(key), None | Some(Value::Null))
}

fn empty_str(m: &Map<String, Value>, key: &str) -> bool {
    match m.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// Set a string field when absent, null or "" (Go's zero-value check for strings).
fn default_str(m: &mut Map<String, Value>, key: &str, val: &str) {
    if empty_str(m, key) {
        m.insert(key.into(), Value::String(val.into()));
    }
}

/// Set a pointer-ish field when absent or null.
fn default_val(m: &mut Map<String, Value>, key: &str, val: Value) {
    if absent(m, key) {
        m.insert(key.into(), val);
    }
}

/// Ensure `m[key]` is an object (when absent/null) and return it.
fn ensure_obj<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    if absent(m, key) {
        m.insert(key.into(), json!({}));
    }
    m.get_mut(key).and_then(Value::as_object_mut)
}

fn is_obj(val: &Value, path: &str, errs: &mut FieldErrors) -> bool {
    match val {
        Value::Object(_) => true,
        other => {
            errs.push(FieldError::type_invalid(path, other.clone(), "expected object"));
            false
        }
    }
}

fn push_dns_label(errs: &mut FieldErrors, path: &str, value: &str) {
    v::push_msgs(errs, path, value, v::is_dns1123_label(value));
}

fn push_subdomain(errs: &mut FieldErrors, path: &str, value: &str) {
    v::push_msgs(errs, path, value, v::is_dns1123_subdomain(value));
}

fn nonnegative(errs: &mut FieldErrors, val: &Value, key: &str, path: &str) {
    if let Some(n) = get_i64(val, key, path, errs) {
        if n < 0 {
            errs.push(FieldError::invalid(
                join(path, key),
                n,
                "must be greater than or equal to 0",
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Quantities (`resource.Quantity`), enough for validation and QoS comparisons.
// ---------------------------------------------------------------------------------------------

fn quantity_text(val: &Value) -> Value {
    match val {
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

/// Validate a quantity value; returns the parsed value when valid and ≥ 0.
fn validate_quantity(val: &Value, path: &str, errs: &mut FieldErrors) -> Option<Quantity> {
    match Quantity::from_json(val) {
        None => {
            errs.push(FieldError::invalid(path, quantity_text(val), quantity::FORMAT_ERROR));
            None
        }
        Some(q) if q.signum() < 0 => {
            errs.push(FieldError::invalid(
                path,
                quantity_text(val),
                "must be greater than or equal to 0",
            ));
            None
        }
        Some(q) => Some(q),
    }
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

/// `IsOvercommitAllowed`: native resources other than hugepages.
fn overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.starts_with("kubernetes.io/");
    native && !name.starts_with("hugepages-")
}

fn validate_container_resources(res: &Value, path: &str, errs: &mut FieldErrors) {
    if !is_obj(res, path, errs) {
        return;
    }
    let lim_path = join(path, "limits");
    let req_path = join(path, "requests");
    let empty = Map::new();
    let limits = get_map(res, "limits", path, errs).unwrap_or(&empty);
    let requests = get_map(res, "requests", path, errs).unwrap_or(&empty);
    let mut lim_vals = std::collections::BTreeMap::new();
    for (name, q) in limits {
        let p = format!("{lim_path}[{name}]");
        validate_resource_name(name, &p, errs);
        if let Some(x) = validate_quantity(q, &p, errs) {
            lim_vals.insert(name.clone(), x);
        }
    }
    for (name, q) in requests {
        let p = format!("{req_path}[{name}]");
        validate_resource_name(name, &p, errs);
        let Some(x) = validate_quantity(q, &p, errs) else {
            continue;
        };
        if let Some(l) = lim_vals.get(name) {
            let lim_text = limits
                .get(name)
                .map(quantity_text)
                .and_then(|v| v.as_str().map(String::from));
            let lim_text = lim_text.unwrap_or_default();
            if &x != l && !overcommit_allowed(name) {
                errs.push(FieldError::invalid(
                    &req_path,
                    quantity_text(q),
                    format!("must be equal to {name} limit of {lim_text}"),
                ));
            } else if &x > l {
                errs.push(FieldError::invalid(
                    &req_path,
                    quantity_text(q),
                    format!("must be less than or equal to {name} limit of {lim_text}"),
                ));
            }
        } else if !limits.contains_key(name) && !overcommit_allowed(name) {
            errs.push(FieldError::required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            ));
        }
    }
}

fn validate_resource_name(name: &str, path: &str, errs: &mut FieldErrors) {
    let msgs = v::is_qualified_name(name);
    if !msgs.is_empty() {
        v::push_msgs(errs, path, name, msgs);
        return;
    }
    if !name.contains('/') && !is_standard_container_resource(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource for containers",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Pod spec defaults.
// ---------------------------------------------------------------------------------------------

/// `ParseImageName` tag extraction: no tag and no digest means `latest`.
fn image_tag(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag.to_string(),
        None if digest.is_some() => String::new(),
        None => "latest".into(),
    }
}

fn default_probe(probe: &mut Value) {
    let Some(m) = probe.as_object_mut() else { return };
    default_val(m, "timeoutSeconds", json!(1));
    default_val(m, "periodSeconds", json!(10));
    default_val(m, "successThreshold", json!(1));
    default_val(m, "failureThreshold", json!(3));
    default_handler(m);
}

fn default_handler(m: &mut Map<String, Value>) {
    if let Some(h) = m.get_mut("httpGet").and_then(Value::as_object_mut) {
        default_str(h, "path", "/");
        default_str(h, "scheme", "HTTP");
    }
}

fn default_object_field_selector(fr: Option<&mut Value>) {
    if let Some(m) = fr.and_then(Value::as_object_mut) {
        default_str(m, "apiVersion", "v1");
    }
}

fn default_container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    if empty_str(m, "imagePullPolicy") {
        let image = m.str_of("image");
        let policy = if !image.is_empty() && image_tag(image) == "latest" {
            "Always"
        } else {
            "IfNotPresent"
        };
        m.insert("imagePullPolicy".into(), json!(policy));
    }
    default_str(m, "terminationMessagePath", "/dev/termination-log");
    default_str(m, "terminationMessagePolicy", "File");
    ensure_obj(m, "resources");
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default_str(p, "protocol", "TCP");
        }
    }
    if let Some(env) = m.get_mut("env").and_then(Value::as_array_mut) {
        for e in env.iter_mut() {
            if let Some(vf) = e.get_mut("valueFrom") {
                default_object_field_selector(vf.get_mut("fieldRef"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(probe) {
            default_probe(p);
        }
    }
    if let Some(lc) = m.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(hook).and_then(Value::as_object_mut) {
                default_handler(h);
            }
        }
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn default_volume(vol: &mut Value) {
    let Some(m) = vol.as_object_mut() else { return };
    if VOLUME_SOURCES.iter().all(|s| absent(m, s)) {
        m.insert("emptyDir".into(), json!({}));
    }
    for src in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = m.get_mut(src).and_then(Value::as_object_mut) {
            default_val(s, "defaultMode", json!(420));
        }
    }
    if let Some(h) = m.get_mut("hostPath").and_then(Value::as_object_mut) {
        default_val(h, "type", json!(""));
    }
    if let Some(items) = m.get_mut("downwardAPI").and_then(|d| arr_mut(d, "items")) {
        for it in items.iter_mut() {
            default_object_field_selector(it.get_mut("fieldRef"));
        }
    }
    if let Some(sources) = m.get_mut("projected").and_then(|p| arr_mut(p, "sources")) {
        for s in sources.iter_mut() {
            if let Some(t) = s.get_mut("serviceAccountToken").and_then(Value::as_object_mut) {
                default_val(t, "expirationSeconds", json!(3600));
            }
            if let Some(items) = s.get_mut("downwardAPI").and_then(|d| arr_mut(d, "items")) {
                for it in items.iter_mut() {
                    default_object_field_selector(it.get_mut("fieldRef"));
                }
            }
        }
    }
    if let Some(i) = m.get_mut("iscsi").and_then(Value::as_object_mut) {
        default_str(i, "iscsiInterface", "default");
    }
    if let Some(r) = m.get_mut("rbd").and_then(Value::as_object_mut) {
        default_str(r, "pool", "rbd");
        default_str(r, "user", "admin");
        default_str(r, "keyring", "/etc/ceph/keyring");
    }
    if let Some(a) = m.get_mut("azureDisk").and_then(Value::as_object_mut) {
        default_val(a, "cachingMode", json!("ReadWrite"));
        default_val(a, "fsType", json!("ext4"));
        default_val(a, "readOnly", json!(false));
        default_val(a, "kind", json!("Shared"));
    }
}

/// Apply PodSpec defaults (containers, restartPolicy, dnsPolicy…) to a PodSpec value.
/// This is `SetDefaults_PodSpec` plus the container/volume/probe defaults that apply to pod
/// templates as well as pods; pod-only defaults live in the Pod strategy.
pub fn default_pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else { return };
    default_str(m, "dnsPolicy", "ClusterFirst");
    default_str(m, "restartPolicy", "Always");
    default_val(m, "securityContext", json!({}));
    default_val(m, "terminationGracePeriodSeconds", json!(30));
    default_str(m, "schedulerName", "default-scheduler");
    // v1 <-> internal conversion keeps the deprecated `serviceAccount` alias in step.
    let sa_name = m
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from);
    let sa_old = m
        .get("serviceAccount")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from);
    if let Some(name) = sa_name.or(sa_old) {
        m.insert("serviceAccountName".into(), json!(name));
        m.insert("serviceAccount".into(), json!(name));
    }
    let host_network = m.get("hostNetwork").and_then(Value::as_bool).unwrap_or(false);
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(cs) = m.get_mut(key).and_then(Value::as_array_mut) {
            for c in cs.iter_mut() {
                default_container(c);
                if host_network && key != "ephemeralContainers" {
                    default_host_network_ports(c);
                }
            }
        }
    }
    if let Some(vols) = m.get_mut("volumes").and_then(Value::as_array_mut) {
        for vol in vols.iter_mut() {
            default_volume(vol);
        }
    }
}

/// With hostNetwork, `hostPort` defaults to `containerPort`.
fn default_host_network_ports(c: &mut Value) {
    if let Some(ports) = arr_mut(c, "ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            let unset = match p.get("hostPort") {
                None | Some(Value::Null) => true,
                Some(x) => x.as_i64() == Some(0),
            };
            if unset {
                if let Some(cp) = p.get("containerPort").cloned() {
                    p.insert("hostPort".into(), cp);
                }
            }
        }
    }
}

/// `SetDefaults_Pod`: requests default to limits for each container.
fn default_requests_from_limits(spec: &mut Value) {
    for key in ["containers", "initContainers"] {
        let Some(cs) = arr_mut(spec, key) else { continue };
        for c in cs.iter_mut() {
            let Some(res) = obj_mut(c, "resources") else { continue };
            let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
                continue;
            };
            let Some(req) = ensure_obj(res, "requests") else {
                continue;
            };
            for (k, q) in limits {
                req.entry(k).or_insert(q);
            }
        }
    }
}

fn add_to<'a>(sums: &mut std::collections::BTreeMap<&'a str, Quantity>, name: &'a str, q: &Quantity) {
    let sum = match sums.get(name) {
        Some(s) => s.add(q),
        None => q.clone(),
    };
    sums.insert(name, sum);
}

/// `qos.GetPodQOS` over containers and init containers (cpu and memory only).
pub fn pod_qos_class(spec: &Value) -> &'static str {
    let mut requests: std::collections::BTreeMap<&str, Quantity> = Default::default();
    let mut limits: std::collections::BTreeMap<&str, Quantity> = Default::default();
    let mut guaranteed = true;
    let all = ["initContainers", "containers"].iter().flat_map(|k| {
        spec.get(*k)
            .and_then(Value::as_array)
            .map(|a| a.as_slice())
            .unwrap_or(&[])
    });
    for c in all {
        let res = c.get("resources");
        if let Some(req) = res.and_then(|r| r.get("requests")).and_then(Value::as_object) {
            for (name, q) in req {
                if let (n @ ("cpu" | "memory"), Some(x)) = (name.as_str(), Quantity::from_json(q)) {
                    if x.signum() > 0 {
                        add_to(&mut requests, n, &x);
                    }
                }
            }
        }
        let mut found = (false, false);
        if let Some(lim) = res.and_then(|r| r.get("limits")).and_then(Value::as_object) {
            for (name, q) in lim {
                if let (n @ ("cpu" | "memory"), Some(x)) = (name.as_str(), Quantity::from_json(q)) {
                    if x.signum() > 0 {
                        if n == "cpu" {
                            found.0 = true;
                        } else {
                            found.1 = true;
                        }
                        add_to(&mut limits, n, &x);
                    }
                }
            }
        }
        if !(found.0 && found.1) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        for (name, req) in &requests {
            match limits.get(name) {
                Some(l) if l == req => {}
                _ => {
                    guaranteed = false;
                    break;
                }
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

// ---------------------------------------------------------------------------------------------
// Pod spec validation.
// ---------------------------------------------------------------------------------------------

const PORT_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn validate_restart_policy(val: &Value, path: &str, errs: &mut FieldErrors) {
    let p = join(path, "restartPolicy");
    match get_str(val, "restartPolicy", path, errs) {
        None | Some("") => errs.push(FieldError::required(p, "")),
        Some("Always" | "OnFailure" | "Never") => {}
        Some(other) => errs.push(FieldError::not_supported(p, other, &["Always", "OnFailure", "Never"])),
    }
}

fn validate_dns_policy(val: &Value, path: &str, errs: &mut FieldErrors) {
    let p = join(path, "dnsPolicy");
    match get_str(val, "dnsPolicy", path, errs) {
        None | Some("") => errs.push(FieldError::required(p, "")),
        Some("ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None") => {}
        Some(other) => errs.push(FieldError::not_supported(
            p,
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
}

/// Volumes: names (DNS labels, unique) and exactly one source. Returns the volume names.
fn validate_volumes(vols: &[Value], path: &str, errs: &mut FieldErrors) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, vol) in vols.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        if !is_obj(vol, &ip, errs) {
            continue;
        }
        let np = format!("{ip}.name");
        let name = str_or_empty(vol, "name", &ip, errs);
        if name.is_empty() {
            errs.push(FieldError::required(&np, ""));
        } else {
            push_dns_label(errs, &np, name);
        }
        if names.iter().any(|n| n == name) {
            errs.push(FieldError::duplicate(&np, name));
        } else {
            names.push(name.to_string());
        }
        let present: Vec<&str> = VOLUME_SOURCES
            .iter()
            .copied()
            .filter(|s| vol.get(*s).is_some_and(|x| !x.is_null()))
            .collect();
        if present.is_empty() {
            errs.push(FieldError::required(&ip, "must specify a volume type"));
        }
        for extra in present.iter().skip(1) {
            errs.push(FieldError::forbidden(
                format!("{ip}.{extra}"),
                "may not specify more than 1 volume type",
            ));
        }
        validate_volume_source(vol, &ip, errs);
    }
    names
}

fn validate_volume_source(vol: &Value, path: &str, errs: &mut FieldErrors) {
    if let Some(s) = vol.get("secret").filter(|x| x.is_object()) {
        let p = join(path, "secret");
        if get_str(s, "secretName", &p, errs).is_some_and(str::is_empty) {
            errs.push(FieldError::required(join(&p, "secretName"), ""));
        }
        validate_mode(s, "defaultMode", &p, errs);
    }
    if let Some(s) = vol.get("configMap").filter(|x| x.is_object()) {
        let p = join(path, "configMap");
        validate_mode(s, "defaultMode", &p, errs);
    }
    if let Some(s) = vol.get("persistentVolumeClaim").filter(|x| x.is_object()) {
        let p = join(path, "persistentVolumeClaim");
        if str_or_empty(s, "claimName", &p, errs).is_empty() {
            errs.push(FieldError::required(join(&p, "claimName"), ""));
        }
    }
    if let Some(s) = vol.get("hostPath").filter(|x| x.is_object()) {
        let p = join(path, "hostPath");
        if str_or_empty(s, "path", &p, errs).is_empty() {
            errs.push(FieldError::required(join(&p, "path"), ""));
        }
        let types = [
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
        ];
        if let Some(t) = get_str(s, "type", &p, errs) {
            if !types.contains(&t) {
                errs.push(FieldError::not_supported(join(&p, "type"), t, &types));
            }
        }
    }
    if let Some(s) = vol.get("nfs").filter(|x| x.is_object()) {
        let p = join(path, "nfs");
        if str_or_empty(s, "server", &p, errs).is_empty() {
            errs.push(FieldError::required(join(&p, "server"), ""));
        }
        let np = str_or_empty(s, "path", &p, errs);
        if np.is_empty() {
            errs.push(FieldError::required(join(&p, "path"), ""));
        } else if !np.starts_with('/') {
            errs.push(FieldError::invalid(join(&p, "path"), np, "must be an absolute path"));
        }
    }
}

/// File modes: 0..=0777.
fn validate_mode(val: &Value, key: &str, path: &str, errs: &mut FieldErrors) {
    if let Some(mode) = get_i64(val, key, path, errs) {
        if !(0..=0o777).contains(&mode) {
            errs.push(FieldError::invalid(
                join(path, key),
                mode,
                "must be a number between 0 and 0777 (octal), both inclusive",
            ));
        }
    }
}

fn validate_container_ports(ports: &[Value], path: &str, errs: &mut FieldErrors) {
    let mut names: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        if !is_obj(port, &ip, errs) {
            continue;
        }
        if let Some(name) = get_str(port, "name", &ip, errs).filter(|n| !n.is_empty()) {
            let msgs = v::is_valid_port_name(name);
            if !msgs.is_empty() {
                v::push_msgs(errs, &format!("{ip}.name"), name, msgs);
            } else if names.contains(&name) {
                errs.push(FieldError::duplicate(format!("{ip}.name"), name));
            } else {
                names.push(name);
            }
        }
        match get_i64(port, "containerPort", &ip, errs) {
            None | Some(0) => {
                if !port
                    .get("containerPort")
                    .is_some_and(|x| !x.is_null() && x.as_i64().is_none())
                {
                    errs.push(FieldError::required(format!("{ip}.containerPort"), ""));
                }
            }
            Some(n) => {
                for m in v::is_valid_port_num(n) {
                    errs.push(FieldError::invalid(format!("{ip}.containerPort"), n, m));
                }
            }
        }
        if let Some(n) = get_i64(port, "hostPort", &ip, errs).filter(|n| *n != 0) {
            for m in v::is_valid_port_num(n) {
                errs.push(FieldError::invalid(format!("{ip}.hostPort"), n, m));
            }
        }
        validate_protocol(port, &ip, errs);
    }
}

fn validate_protocol(port: &Value, ip: &str, errs: &mut FieldErrors) {
    match get_str(port, "protocol", ip, errs) {
        None | Some("") => errs.push(FieldError::required(format!("{ip}.protocol"), "")),
        Some(p) if PORT_PROTOCOLS.contains(&p) => {}
        Some(p) => errs.push(FieldError::not_supported(format!("{ip}.protocol"), p, PORT_PROTOCOLS)),
    }
}

fn validate_env(env: &[Value], path: &str, errs: &mut FieldErrors) {
    for (i, ev) in env.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        if !is_obj(ev, &ip, errs) {
            continue;
        }
        let name = str_or_empty(ev, "name", &ip, errs);
        if name.is_empty() {
            errs.push(FieldError::required(format!("{ip}.name"), ""));
        } else {
            v::push_msgs(errs, &format!("{ip}.name"), name, v::is_relaxed_env_var_name(name));
        }
        let value = str_or_empty(ev, "value", &ip, errs);
        let Some(vf) = ev.get("valueFrom").filter(|x| !x.is_null()) else {
            continue;
        };
        let vp = format!("{ip}.valueFrom");
        if !is_obj(vf, &vp, errs) {
            continue;
        }
        let mut sources = 0;
        if let Some(fr) = vf.get("fieldRef").filter(|x| !x.is_null()) {
            sources += 1;
            let fp = format!("{vp}.fieldRef");
            if str_or_empty(fr, "fieldPath", &fp, errs).is_empty() {
                errs.push(FieldError::required(format!("{fp}.fieldPath"), ""));
            }
        }
        if let Some(rr) = vf.get("resourceFieldRef").filter(|x| !x.is_null()) {
            sources += 1;
            let rp = format!("{vp}.resourceFieldRef");
            if str_or_empty(rr, "resource", &rp, errs).is_empty() {
                errs.push(FieldError::required(format!("{rp}.resource"), ""));
            }
        }
        for key in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(r) = vf.get(key).filter(|x| !x.is_null()) {
                sources += 1;
                let rp = format!("{vp}.{key}");
                let k = str_or_empty(r, "key", &rp, errs);
                if k.is_empty() {
                    errs.push(FieldError::required(format!("{rp}.key"), ""));
                } else {
                    v::push_msgs(errs, &format!("{rp}.key"), k, v::is_config_map_key(k));
                }
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !value.is_empty() {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn validate_volume_mounts(mounts: &[Value], volumes: &[String], path: &str, errs: &mut FieldErrors) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, mnt) in mounts.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        if !is_obj(mnt, &ip, errs) {
            continue;
        }
        let name = str_or_empty(mnt, "name", &ip, errs);
        if name.is_empty() {
            errs.push(FieldError::required(format!("{ip}.name"), ""));
        }
        if !volumes.iter().any(|n| n == name) {
            errs.push(FieldError::not_found(format!("{ip}.name"), name));
        }
        let mp = str_or_empty(mnt, "mountPath", &ip, errs);
        if mp.is_empty() {
            errs.push(FieldError::required(format!("{ip}.mountPath"), ""));
        }
        if seen.contains(&mp) {
            errs.push(FieldError::invalid(format!("{ip}.mountPath"), mp, "must be unique"));
        }
        seen.push(mp);
        let sub = str_or_empty(mnt, "subPath", &ip, errs);
        if !sub.is_empty() {
            if sub.starts_with('/') {
                errs.push(FieldError::invalid(
                    format!("{ip}.subPath"),
                    sub,
                    "must be a relative path",
                ));
            }
            if sub.split('/').any(|seg| seg == "..") {
                errs.push(FieldError::invalid(
                    format!("{ip}.subPath"),
                    sub,
                    "must not contain '..'",
                ));
            }
        }
    }
}

fn validate_probe(probe: &Value, path: &str, liveness_or_startup: bool, errs: &mut FieldErrors) {
    if !is_obj(probe, path, errs) {
        return;
    }
    let handlers: Vec<&str> = ["exec", "httpGet", "tcpSocket", "grpc"]
        .into_iter()
        .filter(|h| probe.get(*h).is_some_and(|x| !x.is_null()))
        .collect();
    if handlers.is_empty() {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    for extra in handlers.iter().skip(1) {
        errs.push(FieldError::forbidden(
            format!("{path}.{extra}"),
            "may not specify more than 1 handler type",
        ));
    }
    for key in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        nonnegative(errs, probe, key, path);
    }
    if liveness_or_startup {
        if let Some(n) = get_i64(probe, "successThreshold", path, errs) {
            if n != 1 {
                errs.push(FieldError::invalid(format!("{path}.successThreshold"), n, "must be 1"));
            }
        }
    }
    if let Some(h) = probe.get("httpGet").filter(|x| x.is_object()) {
        validate_port_num_or_name(h.get("port"), &format!("{path}.httpGet.port"), errs);
        let scheme = str_or_empty(h, "scheme", &format!("{path}.httpGet"), errs);
        if !scheme.is_empty() && scheme != "HTTP" && scheme != "HTTPS" {
            errs.push(FieldError::not_supported(
                format!("{path}.httpGet.scheme"),
                scheme,
                &["HTTP", "HTTPS"],
            ));
        }
    }
    if let Some(t) = probe.get("tcpSocket").filter(|x| x.is_object()) {
        validate_port_num_or_name(t.get("port"), &format!("{path}.tcpSocket.port"), errs);
    }
    if let Some(e) = probe.get("exec").filter(|x| x.is_object()) {
        if get_list(e, "command", &format!("{path}.exec"), errs).is_empty() {
            errs.push(FieldError::required(format!("{path}.exec.command"), ""));
        }
    }
}

/// `ValidatePortNumOrName` for int-or-string ports.
fn validate_port_num_or_name(port: Option<&Value>, path: &str, errs: &mut FieldErrors) {
    match port {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(x) => {
                for m in v::is_valid_port_num(x) {
                    errs.push(FieldError::invalid(path, x, m));
                }
            }
            None => errs.push(FieldError::type_invalid(
                path,
                Value::Number(n.clone()),
                "expected integer",
            )),
        },
        Some(Value::String(s)) => {
            if s.is_empty() {
                errs.push(FieldError::required(path, ""));
            } else {
                v::push_msgs(errs, path, s, v::is_valid_port_name(s));
            }
        }
        None | Some(Value::Null) => errs.push(FieldError::required(path, "")),
        Some(other) => errs.push(FieldError::type_invalid(
            path,
            other.clone(),
            "expected integer or string",
        )),
    }
}

/// Common container checks (`validateContainerCommon` + `validateContainers`).
/// `--allow-privileged`: process-wide, as upstream's `capabilities.AllowPrivileged` (set once
/// at startup; upstream's default is false).
static ALLOW_PRIVILEGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set `--allow-privileged` for this process.
pub fn set_allow_privileged(allow: bool) {
    ALLOW_PRIVILEGED.store(allow, std::sync::atomic::Ordering::Relaxed);
}

pub fn allow_privileged() -> bool {
    ALLOW_PRIVILEGED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Upstream's `ValidateSecurityContext` privileged rule: `securityContext.privileged: true` is
/// "disallowed by cluster policy" unless `--allow-privileged`.
pub fn validate_privileged(c: &Value, container_path: &str, allow: bool, errs: &mut FieldErrors) {
    if !allow && c.bool_at("/securityContext/privileged") == Some(true) {
        errs.push(FieldError::forbidden(
            format!("{container_path}.securityContext.privileged"),
            "disallowed by cluster policy",
        ));
    }
}

/// Upstream's Windows HostProcess rule for `--allow-privileged`: a pod with any HostProcess
/// container (set on the container or inherited from the pod) is refused unless it is set.
fn validate_host_process(spec: &Value, path: &str, allow: bool, errs: &mut FieldErrors) {
    if allow {
        return;
    }
    let hp = |v: &Value| v.bool_at("/securityContext/windowsOptions/hostProcess");
    let pod_level = hp(spec).unwrap_or(false);
    let any = ["containers", "initContainers", "ephemeralContainers"].iter().any(|k| {
        spec.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| hp(c).unwrap_or(pod_level)))
    });
    if any {
        errs.push(FieldError::forbidden(
            path,
            "hostProcess containers are disallowed by cluster policy",
        ));
    }
}

fn validate_container_list(
    list: &[Value],
    path: &str,
    volumes: &[String],
    all_names: &mut Vec<String>,
    init: bool,
    errs: &mut FieldErrors,
) {
    for (i, c) in list.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        if !is_obj(c, &ip, errs) {
            continue;
        }
        let np = format!("{ip}.name");
        let name = str_or_empty(c, "name", &ip, errs);
        if name.is_empty() {
            errs.push(FieldError::required(&np, ""));
        } else {
            push_dns_label(errs, &np, name);
        }
        if all_names.iter().any(|n| n == name) {
            errs.push(FieldError::duplicate(&np, name));
        } else {
            all_names.push(name.to_string());
        }
        if str_or_empty(c, "image", &ip, errs).is_empty() {
            errs.push(FieldError::required(format!("{ip}.image"), ""));
        }
        match get_str(c, "imagePullPolicy", &ip, errs) {
            None | Some("") => errs.push(FieldError::required(format!("{ip}.imagePullPolicy"), "")),
            Some("Always" | "IfNotPresent" | "Never") => {}
            Some(p) => errs.push(FieldError::not_supported(
                format!("{ip}.imagePullPolicy"),
                p,
                &["Always", "IfNotPresent", "Never"],
            )),
        }
        match get_str(c, "terminationMessagePolicy", &ip, errs) {
            None | Some("") => errs.push(FieldError::required(
                format!("{ip}.terminationMessagePolicy"),
                "must be 'File' or 'FallbackToLogsOnError'",
            )),
            Some("File" | "FallbackToLogsOnError") => {}
            Some(p) => errs.push(FieldError::invalid(
                format!("{ip}.terminationMessagePolicy"),
                p,
                "must be 'File' or 'FallbackToLogsOnError'",
            )),
        }
        validate_container_ports(get_list(c, "ports", &ip, errs), &format!("{ip}.ports"), errs);
        validate_env(get_list(c, "env", &ip, errs), &format!("{ip}.env"), errs);
        validate_volume_mounts(
            get_list(c, "volumeMounts", &ip, errs),
            volumes,
            &format!("{ip}.volumeMounts"),
            errs,
        );
        if let Some(res) = c.get("resources").filter(|x| !x.is_null()) {
            validate_container_resources(res, &format!("{ip}.resources"), errs);
        }
        validate_privileged(c, &ip, allow_privileged(), errs);
        let sidecar = init && c.get("restartPolicy").and_then(Value::as_str) == Some("Always");
        if init {
            if let Some(rp) = get_str(c, "restartPolicy", &ip, errs) {
                if rp != "Always" {
                    errs.push(FieldError::not_supported(
                        format!("{ip}.restartPolicy"),
                        rp,
                        &["Always"],
                    ));
                }
            }
        } else if c.get("restartPolicy").is_some_and(|x| !x.is_null()) {
            errs.push(FieldError::forbidden(
                format!("{ip}.restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            let Some(p) = c.get(probe).filter(|x| !x.is_null()) else {
                continue;
            };
            let pp = format!("{ip}.{probe}");
            if init && !sidecar {
                errs.push(FieldError::forbidden(
                    &pp,
                    "may not be set for init containers without restartPolicy=Always",
                ));
                continue;
            }
            validate_probe(p, &pp, probe != "readinessProbe", errs);
        }
    }
}

/// Upstream's `ValidateTolerations` (pod specs, PodTolerationRestriction's configuration).
pub fn validate_tolerations(tols: &[Value], path: &str, errs: &mut FieldErrors) {
    for (i, t) in tols.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        if !is_obj(t, &ip, errs) {
            continue;
        }
        let key = str_or_empty(t, "key", &ip, errs);
        let op = str_or_empty(t, "operator", &ip, errs);
        let value = str_or_empty(t, "value", &ip, errs);
        let effect = str_or_empty(t, "effect", &ip, errs);
        if !key.is_empty() {
            v::push_msgs(errs, &format!("{ip}.key"), key, v::is_qualified_name(key));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                format!("{ip}.operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.get("tolerationSeconds").is_some_and(|x| !x.is_null()) && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                format!("{ip}.effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = v::is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(format!("{ip}.operator"), value, msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{ip}.operator"),
                        t.clone(),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{ip}.operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() {
            validate_taint_effect(effect, true, &format!("{ip}.effect"), errs);
        }
    }
}

fn validate_taint_effect(effect: &str, allow_empty: bool, path: &str, errs: &mut FieldErrors) {
    if effect.is_empty() {
        if !allow_empty {
            errs.push(FieldError::required(path, ""));
        }
        return;
    }
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        errs.push(FieldError::not_supported(
            path,
            effect,
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        ));
    }
}

/// Validate a PodSpec at `path` (e.g. `spec` or `spec.template.spec`); used by workload kinds.
/// Covers the common subset of upstream `ValidatePodSpec`.
pub fn validate_pod_spec(spec: &Value, path: &str, errs: &mut FieldErrors) {
    if spec.is_null() {
        errs.push(FieldError::required(join(path, "containers"), ""));
        return;
    }
    if !is_obj(spec, path, errs) {
        return;
    }
    let volumes = validate_volumes(get_list(spec, "volumes", path, errs), &join(path, "volumes"), errs);
    let containers = get_list(spec, "containers", path, errs);
    let mut names = Vec::new();
    if containers.is_empty() {
        errs.push(FieldError::required(join(path, "containers"), ""));
    }
    validate_container_list(containers, &join(path, "containers"), &volumes, &mut names, false, errs);
    let inits = get_list(spec, "initContainers", path, errs);
    validate_container_list(inits, &join(path, "initContainers"), &volumes, &mut names, true, errs);
    validate_restart_policy(spec, path, errs);
    validate_dns_policy(spec, path, errs);
    super::sysctls::validate(spec, path, false, errs);
    if let Some(ns) = spec.get("nodeSelector").filter(|x| !x.is_null()) {
        v::validate_labels(ns, &join(path, "nodeSelector"), errs);
    }
    for (i, s) in get_list(spec, "imagePullSecrets", path, errs).iter().enumerate() {
        let ip = format!("{}[{i}]", join(path, "imagePullSecrets"));
        if is_obj(s, &ip, errs) && str_or_empty(s, "name", &ip, errs).is_empty() {
            errs.push(FieldError::required(format!("{ip}.name"), ""));
        }
    }
    if let Some(sa) = get_str(spec, "serviceAccountName", path, errs).filter(|s| !s.is_empty()) {
        push_subdomain(errs, &join(path, "serviceAccountName"), sa);
    }
    if let Some(n) = get_str(spec, "nodeName", path, errs).filter(|s| !s.is_empty()) {
        push_subdomain(errs, &join(path, "nodeName"), n);
    }
    if let Some(ads) = get_i64(spec, "activeDeadlineSeconds", path, errs) {
        if !(1..=i32::MAX as i64).contains(&ads) {
            errs.push(FieldError::invalid(
                join(path, "activeDeadlineSeconds"),
                ads,
                v::inclusive_range_error(1, i32::MAX as i64),
            ));
        }
    }
    for key in ["hostname", "subdomain"] {
        if let Some(h) = get_str(spec, key, path, errs).filter(|s| !s.is_empty()) {
            push_dns_label(errs, &join(path, key), h);
        }
    }
    validate_tolerations(
        get_list(spec, "tolerations", path, errs),
        &join(path, "tolerations"),
        errs,
    );
    if let Some(pc) = get_str(spec, "priorityClassName", path, errs).filter(|s| !s.is_empty()) {
        push_subdomain(errs, &join(path, "priorityClassName"), pc);
    }
    if let Some(pp) = get_str(spec, "preemptionPolicy", path, errs) {
        if pp != "Never" && pp != "PreemptLowerPriority" {
            errs.push(FieldError::not_supported(
                join(path, "preemptionPolicy"),
                pp,
                &["Never", "PreemptLowerPriority"],
            ));
        }
    }
    if let Some(os) = spec.get("os").filter(|x| x.is_object()) {
        let op = join(path, "os");
        match str_or_empty(os, "name", &op, errs) {
            "" => errs.push(FieldError::required(join(&op, "name"), "")),
            "linux" | "windows" => {}
            other => errs.push(FieldError::not_supported(
                join(&op, "name"),
                other,
                &["linux", "windows"],
            )),
        }
    }
    for key in [
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "enableServiceLinks",
        "automountServiceAccountToken",
    ] {
        let _ = get_bool(spec, key, path, errs);
    }
    let _ = get_i64(spec, "terminationGracePeriodSeconds", path, errs);
    validate_host_process(spec, path, allow_privileged(), errs);
}

/// Upstream `ValidatePodTemplateSpec`, the one check of a pod template for every kind that
/// holds one (ReplicationController, PodTemplate, Deployment, ReplicaSet, StatefulSet,
/// DaemonSet, Job, CronJob): the template's labels and annotations (reported at
/// `<path>.labels`, without `metadata`, as upstream does), its pod spec, and no ephemeral
/// containers.
///
/// Every Go type but the ReplicationController's holds its template by value, so a missing or
/// null template reads as the zero template `{}`; the ReplicationController reports its nil
/// template itself (`ValidatePodTemplateSpecForRC`).
pub fn validate_pod_template(tpl: &Value, path: &str, errs: &mut FieldErrors) {
    let empty = Value::Object(Map::new());
    let tpl = if tpl.is_null() { &empty } else { tpl };
    if !is_obj(tpl, path, errs) {
        return;
    }
    if let Some(meta) = get_map(tpl, "metadata", path, errs) {
        if let Some(l) = meta.get("labels").filter(|x| !x.is_null()) {
            v::validate_labels(l, &join(path, "labels"), errs);
        }
        if let Some(a) = meta.get("annotations").filter(|x| !x.is_null()) {
            v::validate_annotations(a, &join(path, "annotations"), errs);
        }
    }
    let spec_path = join(path, "spec");
    let spec = tpl.get("spec").unwrap_or(&Value::Null);
    validate_pod_spec(spec, &spec_path, errs);
    if spec
        .get("ephemeralContainers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        errs.push(FieldError::forbidden(
            join(&spec_path, "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch.
// ---------------------------------------------------------------------------------------------

fn no_op(_: &mut Value) {}
fn no_validate_update(_: &Value, _: &Value, _: &mut FieldErrors) {}

// ---------------------------------------------------------------------------------------------
// Pod.
// ---------------------------------------------------------------------------------------------

pub const POD: Builtin = Builtin {
    defaults: pod_defaults,
    prepare_create: pod_prepare_create,
    drop_disabled: drop_disabled_pod_fields,
    validate: pod_validate,
    validate_update: pod_validate_update,
    keep_status_on_create: false,
    status_write: StatusWrite::Pod,
    ..Builtin::DEFAULT
};

/// `dropDisabledDynamicResourceAllocationFields` on the pod spec at `ptr`: with
/// DynamicResourceAllocation off, claim references go unless the stored object's spec already
/// has `resourceClaims`. Returns whether they went.
pub fn drop_claims_at(
    gates: &crate::config::features::FeatureGates,
    obj: &mut Value,
    old: Option<&Value>,
    ptr: &str,
) -> bool {
    let in_use = old
        .and_then(|o| o.pointer(&format!("{ptr}/resourceClaims")))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if gates.enabled("DynamicResourceAllocation") || in_use {
        return false;
    }
    if let Some(spec) = obj.pointer_mut(ptr).and_then(Value::as_object_mut) {
        spec.remove("resourceClaims");
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(r) = c.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("claims");
                }
            }
        }
    }
    true
}

/// Pods: the spec's claim references and, as `dropDisabledPodStatusFields`,
/// `status.resourceClaimStatuses` (`pkg/api/pod/util.go`).
pub fn drop_disabled_pod_fields(gates: &crate::config::features::FeatureGates, pod: &mut Value, old: Option<&Value>) {
    if drop_claims_at(gates, pod, old, "/spec") {
        if let Some(st) = pod.get_mut("status").and_then(Value::as_object_mut) {
            st.remove("resourceClaimStatuses");
        }
    }
}

/// Pod templates of workloads (`DropDisabledTemplateFields`).
pub fn drop_disabled_template_fields(
    gates: &crate::config::features::FeatureGates,
    obj: &mut Value,
    old: Option<&Value>,
) {
    drop_claims_at(gates, obj, old, "/spec/template/spec");
}

/// PodTemplates.
fn drop_disabled_pod_template_fields(
    gates: &crate::config::features::FeatureGates,
    obj: &mut Value,
    old: Option<&Value>,
) {
    drop_claims_at(gates, obj, old, "/template/spec");
}

/// Pods bound to a node terminate gracefully (the kubelet finishes the delete); unbound or
/// finished pods go at once. The grace period when the delete must wait.
pub fn pod_grace_period(obj: &Value, requested: Option<i64>) -> Option<i64> {
    let node = obj.str_at("/spec/nodeName");
    let phase = obj.str_at("/status/phase");
    if node.is_empty() || phase == "Succeeded" || phase == "Failed" {
        return None;
    }
    let grace = requested
        .or_else(|| obj.i64_at("/spec/terminationGracePeriodSeconds"))
        .unwrap_or(30);
    (grace > 0).then_some(grace)
}

fn pod_defaults(obj: &mut Value) {
    pod_status_ips(obj);
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    default_pod_spec(spec);
    default_requests_from_limits(spec);
    let Some(m) = spec.as_object_mut() else { return };
    default_val(m, "enableServiceLinks", json!(true));
    // serviceAccountName, priority and preemptionPolicy are not defaults: the ServiceAccount
    // and Priority admission plugins set them (after the field manager has recorded the
    // creator's fields), and leave them unset when disabled, as upstream.
}

/// The v1 ⇄ internal conversion every write goes through keeps `status.podIP` and
/// `status.podIPs` in step: podIP wins when both are set and differ (older kubelets and kwok
/// send only podIP), and podIP is podIPs[0] on the way out.
fn pod_status_ips(obj: &mut Value) {
    let Some(st) = obj.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    let nonempty = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(String::from);
    let ip = nonempty(st.get("podIP").and_then(Value::as_str));
    let first = nonempty(st.get("podIPs").and_then(|ips| ips.opt_str_at("/0/ip")));
    match (ip, first) {
        (Some(ip), first) if first.as_deref() != Some(ip.as_str()) => {
            st.insert("podIPs".into(), json!([{ "ip": ip }]));
        }
        (None, Some(first)) => {
            st.insert("podIP".into(), json!(first));
        }
        (None, None) => {
            st.remove("podIP");
        }
        _ => {}
    }
}

fn pod_prepare_create(obj: &mut Value) {
    let qos = pod_qos_class(obj.get("spec").unwrap_or(&Value::Null));
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), json!({"phase": "Pending", "qosClass": qos}));
    }
}

fn pod_validate(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    validate_pod_spec(spec, "spec", errs);
    // validateContainersOnlyForPod: no leading/trailing whitespace in images.
    for key in ["containers", "initContainers"] {
        let Some(cs) = spec.get(key).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in cs.iter().enumerate() {
            if let Some(img) = c.get("image").and_then(Value::as_str) {
                if img.trim() != img {
                    errs.push(FieldError::invalid(
                        format!("spec.{key}[{i}].image"),
                        img,
                        "must not have leading or trailing whitespace",
                    ));
                }
            }
        }
    }
}

const POD_UPDATABLE: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn pod_validate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (Some(ns), Some(os)) = (new.get("spec"), old.get("spec")) else {
        return;
    };
    // Mask the mutable fields with the new values, then require equality.
    let mut munged = os.clone();
    if let (Some(m), Some(nm)) = (munged.as_object_mut(), ns.as_object()) {
        for key in ["containers", "initContainers"] {
            if let (Some(oc), Some(nc)) = (
                m.get_mut(key).and_then(Value::as_array_mut),
                nm.get(key).and_then(Value::as_array),
            ) {
                if oc.len() == nc.len() {
                    for (o, n) in oc.iter_mut().zip(nc) {
                        if let (Some(om), Some(img)) = (o.as_object_mut(), n.get("image")) {
                            om.insert("image".into(), img.clone());
                        }
                    }
                }
            }
        }
        let old_tols = m
            .get("tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let new_tols = nm
            .get("tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if old_tols.iter().all(|t| new_tols.contains(t)) {
            set_or_remove(m, "tolerations", nm.get("tolerations"));
        }
        let old_ads = m.get("activeDeadlineSeconds").and_then(Value::as_i64);
        let new_ads = nm.get("activeDeadlineSeconds").and_then(Value::as_i64);
        match (old_ads, new_ads) {
            (None, Some(_)) => set_or_remove(m, "activeDeadlineSeconds", nm.get("activeDeadlineSeconds")),
            (Some(o), Some(n)) if n <= o => set_or_remove(m, "activeDeadlineSeconds", nm.get("activeDeadlineSeconds")),
            (Some(_), Some(n)) => errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                n,
                "must be less than or equal to previous value",
            )),
            _ => {}
        }
        if m.get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .is_some_and(|x| x < 0)
            && nm.get("terminationGracePeriodSeconds").and_then(Value::as_i64) == Some(1)
        {
            m.insert("terminationGracePeriodSeconds".into(), json!(1));
        }
        // Scheduling gates may only be removed.
        let old_gates = m
            .get("schedulingGates")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let new_gates = nm
            .get("schedulingGates")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if new_gates.iter().all(|g| old_gates.contains(g)) {
            set_or_remove(m, "schedulingGates", nm.get("schedulingGates"));
        }
    }
    if &munged != ns {
        errs.push(FieldError::forbidden(
            "spec",
            format!("pod updates may not change fields other than {POD_UPDATABLE}"),
        ));
    }
}

fn set_or_remove(m: &mut Map<String, Value>, key: &str, val: Option<&Value>) {
    match val {
        Some(x) => {
            m.insert(key.into(), x.clone());
        }
        None => {
            m.remove(key);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Namespace.
// ---------------------------------------------------------------------------------------------

pub const NAMESPACE: Builtin = Builtin {
    defaults: namespace_defaults,
    prepare_create: namespace_prepare_create,
    validate: namespace_validate,
    validate_update: no_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

/// `SetDefaults_Namespace` (the `kubernetes.io/metadata.name` label) and
/// `SetDefaults_NamespaceStatus`.
fn namespace_defaults(obj: &mut Value) {
    let name = obj.opt_str_at("/metadata/name").map(String::from);
    if let (Some(name), Some(meta)) = (name, obj_mut(obj, "metadata")) {
        if let Some(labels) = ensure_obj(meta, "labels") {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    if let Some(status) = obj_mut(obj, "status") {
        default_str(status, "phase", "Active");
    }
}

/// Namespace strategy `PrepareForCreate`: phase Active, `kubernetes` finalizer present.
fn namespace_prepare_create(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    m.insert("status".into(), json!({"phase": "Active"}));
    let Some(spec) = ensure_obj(m, "spec") else { return };
    if !spec.get("finalizers").is_some_and(Value::is_array) {
        spec.insert("finalizers".into(), json!([]));
    }
    if let Some(f) = spec.get_mut("finalizers").and_then(Value::as_array_mut) {
        if !f.iter().any(|x| x == "kubernetes") {
            f.push(json!("kubernetes"));
        }
    }
}

fn namespace_validate(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = obj.get("spec").filter(|s| !s.is_null()) else {
        return;
    };
    if !is_obj(spec, "spec", errs) {
        return;
    }
    for (i, f) in get_list(spec, "finalizers", "spec", errs).iter().enumerate() {
        let p = format!("spec.finalizers[{i}]");
        match f.as_str() {
            Some(s) => {
                let msgs = v::is_qualified_name(s);
                if !msgs.is_empty() {
                    v::push_msgs(errs, &p, s, msgs);
                } else if !s.contains('/') && !matches!(s, "kubernetes" | "orphan" | "foregroundDeletion") {
                    errs.push(FieldError::invalid(
                        &p,
                        s,
                        "name is neither a standard finalizer name nor is it fully qualified",
                    ));
                }
            }
            None => errs.push(FieldError::type_invalid(&p, f.clone(), "expected string")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Service.
// ---------------------------------------------------------------------------------------------

pub const SERVICE: Builtin = Builtin {
    defaults: service_defaults,
    prepare_create: no_op,
    validate: service_validate,
    validate_update: service_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

/// `SetDefaults_Service`. `ipFamilyPolicy`, `clusterIP(s)` and `ipFamilies` are the service
/// allocator's (upstream's service REST, after the field manager has recorded the creator).
fn service_defaults(obj: &mut Value) {
    let Some(spec) = obj_mut(obj, "spec") else { return };
    default_str(spec, "sessionAffinity", "None");
    if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP") {
        if let Some(cfg) = ensure_obj(spec, "sessionAffinityConfig") {
            if let Some(cip) = ensure_obj(cfg, "clientIP") {
                default_val(cip, "timeoutSeconds", json!(10800));
            }
        }
    }
    default_str(spec, "type", "ClusterIP");
    let ty = spec.str_of("type").to_string();
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default_str(p, "protocol", "TCP");
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if unset {
                if let Some(port) = p.get("port").cloned() {
                    p.insert("targetPort".into(), port);
                }
            }
        }
    }
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible = ty == "LoadBalancer" || ty == "NodePort" || (ty == "ClusterIP" && has_external_ips);
    if externally_accessible {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_val(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default_val(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty == "LoadBalancer" {
        if let Some(ing) = obj
            .pointer_mut("/status/loadBalancer/ingress")
            .and_then(Value::as_array_mut)
        {
            for i in ing.iter_mut().filter_map(Value::as_object_mut) {
                if !empty_str(i, "ip") {
                    default_val(i, "ipMode", json!("VIP"));
                }
            }
        }
    }
}

fn service_validate(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if !spec.is_null() && !is_obj(spec, "spec", errs) {
        return;
    }
    let ty = get_str(spec, "type", "spec", errs).unwrap_or("");
    let cluster_ip = get_str(spec, "clusterIP", "spec", errs).unwrap_or("");
    let headless = cluster_ip == "None";
    let ports = get_list(spec, "ports", "spec", errs);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match ty {
        "ClusterIP" | "ExternalName" | "LoadBalancer" | "NodePort" => {}
        "" => errs.push(FieldError::required("spec.type", "")),
        other => errs.push(FieldError::not_supported(
            "spec.type",
            other,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    if ty == "ExternalName" {
        let en = str_or_empty(spec, "externalName", "spec", errs);
        if en.is_empty() {
            errs.push(FieldError::required("spec.externalName", ""));
        } else {
            let clean = en.strip_suffix('.').unwrap_or(en);
            let msgs = v::is_dns1123_subdomain(clean);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid("spec.externalName", clean, msgs.join(",")));
            } else if clean.split('.').count() < 2 {
                errs.push(FieldError::invalid(
                    "spec.externalName",
                    clean,
                    "should be a domain with at least two segments separated by dots",
                ));
            }
        }
    }
    let require_name = ports.len() > 1;
    let mut names: Vec<&str> = Vec::new();
    let mut seen: Vec<(i64, &str)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = format!("spec.ports[{i}]");
        if !is_obj(p, &ip, errs) {
            continue;
        }
        let name = str_or_empty(p, "name", &ip, errs);
        if require_name && name.is_empty() {
            errs.push(FieldError::required(format!("{ip}.name"), ""));
        } else if !name.is_empty() {
            push_dns_label(errs, &format!("{ip}.name"), name);
            if names.contains(&name) {
                errs.push(FieldError::duplicate(format!("{ip}.name"), name));
            } else {
                names.push(name);
            }
        }
        let port = get_i64(p, "port", &ip, errs).unwrap_or(0);
        for m in v::is_valid_port_num(port) {
            errs.push(FieldError::invalid(format!("{ip}.port"), port, m));
        }
        validate_protocol(p, &ip, errs);
        let proto = p.str_of("protocol");
        if ty != "ExternalName" || p.get("targetPort").is_some() {
            validate_port_num_or_name(p.get("targetPort"), &format!("{ip}.targetPort"), errs);
        }
        if let Some(np) = get_i64(p, "nodePort", &ip, errs).filter(|n| *n != 0) {
            if ty == "ClusterIP" || ty == "ExternalName" {
                errs.push(FieldError::forbidden(
                    format!("{ip}.nodePort"),
                    format!("may not be used when `type` is '{ty}'"),
                ));
            } else {
                for m in v::is_valid_port_num(np) {
                    errs.push(FieldError::invalid(format!("{ip}.nodePort"), np, m));
                }
            }
        }
        if let Some(ap) = get_str(p, "appProtocol", &ip, errs) {
            v::push_msgs(errs, &format!("{ip}.appProtocol"), ap, v::is_qualified_name(ap));
        }
        if seen.contains(&(port, proto)) {
            errs.push(FieldError::duplicate(&ip, json!({"port": port, "protocol": proto})));
        } else {
            seen.push((port, proto));
        }
    }
    if let Some(sel) = spec.get("selector").filter(|x| !x.is_null()) {
        v::validate_labels(sel, "spec.selector", errs);
    }
    match get_str(spec, "sessionAffinity", "spec", errs) {
        None | Some("") => errs.push(FieldError::required("spec.sessionAffinity", "")),
        Some("ClientIP" | "None") => {}
        Some(other) => errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            other,
            &["ClientIP", "None"],
        )),
    }
    if let Some(t) = spec.i64_at("/sessionAffinityConfig/clientIP/timeoutSeconds") {
        if !(1..=86400).contains(&t) {
            errs.push(FieldError::invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                t,
                v::inclusive_range_error(1, 86400),
            ));
        }
    }
    if let Some(p) = get_str(spec, "ipFamilyPolicy", "spec", errs) {
        if !matches!(p, "SingleStack" | "PreferDualStack" | "RequireDualStack") {
            errs.push(FieldError::not_supported(
                "spec.ipFamilyPolicy",
                p,
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
            ));
        }
    }
    for key in ["externalTrafficPolicy", "internalTrafficPolicy"] {
        if let Some(p) = get_str(spec, key, "spec", errs).filter(|s| !s.is_empty()) {
            if p != "Cluster" && p != "Local" {
                errs.push(FieldError::not_supported(
                    format!("spec.{key}"),
                    p,
                    &["Cluster", "Local"],
                ));
            }
        }
    }
    if !cluster_ip.is_empty() && !headless && !v::is_valid_ip(cluster_ip) {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            cluster_ip,
            "must be empty, 'None', or a valid IP address",
        ));
    }
    for (i, ip) in get_list(spec, "externalIPs", "spec", errs).iter().enumerate() {
        let p = format!("spec.externalIPs[{i}]");
        match ip.as_str() {
            Some(s) => v::push_msgs(errs, &p, s, v::is_valid_ip_msgs(s)),
            None => errs.push(FieldError::type_invalid(&p, ip.clone(), "expected string")),
        }
    }
}

fn service_validate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let ip = |o: &Value| o.str_at("/spec/clusterIP").to_string();
    let ty = |o: &Value| o.str_at("/spec/type").to_string();
    let (n, o) = (ip(new), ip(old));
    if !n.is_empty() && !o.is_empty() && n != o && ty(new) != "ExternalName" && ty(old) != "ExternalName" {
        errs.push(FieldError::invalid("spec.clusterIPs[0]", n, "may not change once set"));
    }
}

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret.
// ---------------------------------------------------------------------------------------------

/// `core.MaxSecretSize`.
const MAX_SECRET_SIZE: usize = 1024 * 1024;

pub const CONFIG_MAP: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: config_map_validate,
    validate_update: config_map_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn config_map_validate(obj: &Value, errs: &mut FieldErrors) {
    let empty = Map::new();
    let data = get_map(obj, "data", "", errs).unwrap_or(&empty);
    let binary = get_map(obj, "binaryData", "", errs).unwrap_or(&empty);
    let mut total = 0usize;
    for (k, val) in data {
        let p = format!("data[{k}]");
        v::push_msgs(errs, &p, k, v::is_config_map_key(k));
        if binary.contains_key(k) {
            errs.push(FieldError::invalid(
                &p,
                k.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        match val {
            Value::String(s) => total += s.len(),
            other => errs.push(FieldError::type_invalid(&p, other.clone(), "expected string")),
        }
    }
    for (k, val) in binary {
        let p = format!("binaryData[{k}]");
        v::push_msgs(errs, &p, k, v::is_config_map_key(k));
        if data.contains_key(k) {
            errs.push(FieldError::invalid(&p, k.as_str(), "duplicate of key present in data"));
        }
        total += decoded_len(val, &p, errs);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
}

/// Length of a base64 `[]byte` field; reports non-strings and bad base64.
fn decoded_len(val: &Value, path: &str, errs: &mut FieldErrors) -> usize {
    use base64::Engine;
    match val {
        Value::String(s) => match base64::engine::general_purpose::STANDARD.decode(s) {
            Ok(b) => b.len(),
            Err(e) => {
                errs.push(FieldError::invalid(
                    path,
                    "<value omitted>",
                    format!("illegal base64 data: {e}"),
                ));
                0
            }
        },
        Value::Null => 0,
        other => {
            errs.push(FieldError::type_invalid(path, other.clone(), "expected base64 string"));
            0
        }
    }
}

/// Immutable ConfigMaps/Secrets: `immutable` may not be unset, data may not change.
fn validate_immutable_data(new: &Value, old: &Value, keys: &[&str], errs: &mut FieldErrors) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    const MSG: &str = "field is immutable when `immutable` is set";
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(FieldError::forbidden("immutable", MSG));
    }
    for key in keys {
        let norm = |o: &Value| {
            o.get(*key)
                .filter(|x| !x.is_null() && x.as_object().is_none_or(|m| !m.is_empty()))
                .cloned()
        };
        if norm(new) != norm(old) {
            errs.push(FieldError::forbidden(*key, MSG));
        }
    }
}

fn config_map_validate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    validate_immutable_data(new, old, &["data", "binaryData"], errs);
}

pub const SECRET: Builtin = Builtin {
    defaults: secret_defaults,
    prepare_create: no_op,
    validate: secret_validate,
    validate_update: secret_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

/// v1 conversion folds `stringData` into `data` (stringData wins) and drops it;
/// `SetDefaults_Secret` sets `type: Opaque`.
fn secret_defaults(obj: &mut Value) {
    use base64::Engine;
    let Some(m) = obj.as_object_mut() else { return };
    default_str(m, "type", "Opaque");
    let Some(sd) = m.get("stringData").and_then(Value::as_object).cloned() else {
        if m.get("stringData").is_some_and(Value::is_null) {
            m.remove("stringData");
        }
        return;
    };
    // Non-string values are left in place so validation can report them.
    if sd.values().any(|x| !x.is_string()) {
        return;
    }
    m.remove("stringData");
    if sd.is_empty() {
        return;
    }
    let Some(data) = ensure_obj(m, "data") else { return };
    for (k, val) in sd {
        let s = val.as_str().unwrap_or("");
        data.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(s.as_bytes())));
    }
}

fn secret_validate(obj: &Value, errs: &mut FieldErrors) {
    if let Some(sd) = get_map(obj, "stringData", "", errs) {
        for (k, val) in sd {
            if !val.is_string() {
                errs.push(FieldError::type_invalid(
                    format!("stringData[{k}]"),
                    val.clone(),
                    "expected string",
                ));
            }
        }
    }
    let empty = Map::new();
    let data = get_map(obj, "data", "", errs).unwrap_or(&empty);
    let mut total = 0usize;
    for (k, val) in data {
        let p = format!("data[{k}]");
        v::push_msgs(errs, &p, k, v::is_config_map_key(k));
        total += decoded_len(val, &p, errs);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let ty = get_str(obj, "type", "", errs).unwrap_or("");
    let decoded = |k: &str| -> Option<Vec<u8>> {
        use base64::Engine;
        data.get(k)
            .and_then(Value::as_str)
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
    };
    match ty {
        "kubernetes.io/service-account-token" => {
            let name = obj.opt_str_at("/metadata/annotations/kubernetes.io~1service-account.name");
            if name.is_none_or(str::is_empty) {
                errs.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if ty == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            let p = format!("data[{key}]");
            if !data.contains_key(key) {
                errs.push(FieldError::required(p, ""));
            } else if let Some(bytes) = decoded(key) {
                if let Err(e) = serde_json::from_slice::<Map<String, Value>>(&bytes) {
                    errs.push(FieldError::invalid(p, "<secret contents redacted>", e.to_string()));
                }
            }
        }
        "kubernetes.io/basic-auth" if !data.contains_key("username") && !data.contains_key("password") => {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if decoded("ssh-privatekey").is_none_or(|b| b.is_empty()) => {
            errs.push(FieldError::required("data[ssh-privatekey]", ""));
        }
        "kubernetes.io/tls" => {
            if !data.contains_key("tls.crt") {
                errs.push(FieldError::required("data[tls.crt]", ""));
            }
            if !data.contains_key("tls.key") {
                errs.push(FieldError::required("data[tls.key]", ""));
            }
        }
        _ => {}
    }
}

fn secret_validate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let ty = |o: &Value| o.str_of("type").to_string();
    if ty(new) != ty(old) {
        errs.push(FieldError::invalid("type", ty(new), "field is immutable"));
    }
    validate_immutable_data(new, old, &["data"], errs);
}

// ---------------------------------------------------------------------------------------------
// ServiceAccount.
// ---------------------------------------------------------------------------------------------

pub const SERVICE_ACCOUNT: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: service_account_validate,
    validate_update: no_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn service_account_validate(obj: &Value, errs: &mut FieldErrors) {
    for key in ["secrets", "imagePullSecrets"] {
        for (i, s) in get_list(obj, key, "", errs).iter().enumerate() {
            let _ = is_obj(s, &format!("{key}[{i}]"), errs);
        }
    }
    let _ = get_bool(obj, "automountServiceAccountToken", "", errs);
}

// ---------------------------------------------------------------------------------------------
// Node.
// ---------------------------------------------------------------------------------------------

pub const NODE: Builtin = Builtin {
    defaults: node_defaults,
    prepare_create: no_op,
    validate: node_validate,
    validate_update: node_validate_update,
    keep_status_on_create: true,
    ..Builtin::DEFAULT
};

/// `SetDefaults_NodeStatus` (allocatable = capacity) and the v1 `podCIDR`/`podCIDRs` pairing.
fn node_defaults(obj: &mut Value) {
    if let Some(spec) = obj_mut(obj, "spec") {
        let cidrs_empty = spec
            .get("podCIDRs")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
        let cidr = spec
            .get("podCIDR")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        if cidrs_empty {
            if let Some(c) = cidr {
                spec.insert("podCIDRs".into(), json!([c]));
            }
        } else if let Some(first) = spec.get("podCIDRs").and_then(|a| a.get(0)).cloned() {
            spec.insert("podCIDR".into(), first);
        }
    }
    if let Some(status) = obj_mut(obj, "status") {
        if absent(status, "allocatable") {
            if let Some(cap) = status.get("capacity").filter(|c| c.is_object()).cloned() {
                status.insert("allocatable".into(), cap);
            }
        }
    }
}

fn node_validate(obj: &Value, errs: &mut FieldErrors) {
    let Some(spec) = obj.get("spec").filter(|s| !s.is_null()) else {
        return;
    };
    if !is_obj(spec, "spec", errs) {
        return;
    }
    let cidrs = get_list(spec, "podCIDRs", "spec", errs);
    for (i, c) in cidrs.iter().enumerate() {
        let p = format!("spec.podCIDRs[{i}]");
        match c.as_str() {
            Some(s) if v::is_valid_cidr(s) => {}
            Some(s) => errs.push(FieldError::invalid(
                &p,
                s,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            )),
            None => errs.push(FieldError::type_invalid(&p, c.clone(), "expected string")),
        }
    }
    if cidrs.len() > 1 {
        let v6 = cidrs
            .iter()
            .filter(|c| c.as_str().is_some_and(|s| s.contains(':')))
            .count();
        if cidrs.len() > 2 || v6 != 1 {
            errs.push(FieldError::invalid(
                "spec.podCIDRs",
                Value::Array(cidrs.to_vec()),
                "may specify no more than one CIDR for each IP family",
            ));
        }
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    for (i, t) in get_list(spec, "taints", "spec", errs).iter().enumerate() {
        let ip = format!("spec.taints[{i}]");
        if !is_obj(t, &ip, errs) {
            continue;
        }
        let key = str_or_empty(t, "key", &ip, errs);
        v::push_msgs(errs, &format!("{ip}.key"), key, v::is_qualified_name(key));
        let value = str_or_empty(t, "value", &ip, errs);
        let msgs = v::is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(format!("{ip}.value"), value, msgs.join(";")));
        }
        let effect = str_or_empty(t, "effect", &ip, errs);
        validate_taint_effect(effect, false, &format!("{ip}.effect"), errs);
        let pair = (key.to_string(), effect.to_string());
        if seen.contains(&pair) {
            let mut e = FieldError::duplicate(&ip, t.clone());
            e.detail = "taints must be unique by key and effect pair".into();
            errs.push(e);
        } else {
            seen.push(pair);
        }
    }
}

fn node_validate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    // podCIDRs may be set once, then never changed.
    let cidrs = |o: &Value| o.arr_at("/spec/podCIDRs").to_vec();
    let (n, o) = (cidrs(new), cidrs(old));
    if !o.is_empty() && n != o {
        errs.push(FieldError::forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let id = |o: &Value| o.str_at("/spec/providerID").to_string();
    if !id(old).is_empty() && id(new) != id(old) {
        errs.push(FieldError::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Event (core/v1, legacy validation).
// ---------------------------------------------------------------------------------------------

pub const EVENT: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: event_validate,
    validate_update: no_validate_update,
    keep_status_on_create: true,
    ..Builtin::DEFAULT
};

fn event_validate(obj: &Value, errs: &mut FieldErrors) {
    let ns = obj.str_at("/metadata/namespace");
    let involved = obj.get("involvedObject").unwrap_or(&Value::Null);
    if !involved.is_null() && !is_obj(involved, "involvedObject", errs) {
        return;
    }
    let ins = str_or_empty(involved, "namespace", "involvedObject", errs);
    let event_time_set = obj
        .get("eventTime")
        .is_some_and(|t| t.as_str().is_some_and(|s| !s.is_empty()));
    if !event_time_set {
        if ins.is_empty() {
            if !ns.is_empty() && ns != "default" {
                errs.push(FieldError::invalid(
                    "involvedObject.namespace",
                    ins,
                    "does not match event.namespace",
                ));
            }
        } else if ns != ins {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                ins,
                "does not match event.namespace",
            ));
        }
    } else {
        if ins.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(FieldError::invalid(
                "involvedObject.namespace",
                ins,
                "does not match event.namespace",
            ));
        }
        let rc = str_or_empty(obj, "reportingComponent", "", errs);
        if rc.is_empty() {
            errs.push(FieldError::required("source", ""));
        }
        v::push_msgs(errs, "source", rc, v::is_qualified_name(rc));
        let ri = str_or_empty(obj, "reportingInstance", "", errs);
        if ri.is_empty() {
            errs.push(FieldError::required("reportingInstance", ""));
        }
        if ri.len() > 128 {
            errs.push(FieldError::invalid(
                "reportingInstance",
                "",
                "can have at most 128 characters",
            ));
        }
    }
    v::push_msgs(errs, "namespace", ns, v::is_dns1123_subdomain(ns));
}

// ---------------------------------------------------------------------------------------------
// Endpoints.
// ---------------------------------------------------------------------------------------------

pub const ENDPOINTS: Builtin = Builtin {
    defaults: endpoints_defaults,
    prepare_create: no_op,
    validate: endpoints_validate,
    validate_update: no_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn endpoints_defaults(obj: &mut Value) {
    let Some(subsets) = arr_mut(obj, "subsets") else { return };
    for ss in subsets.iter_mut() {
        if let Some(ports) = arr_mut(ss, "ports") {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                default_str(p, "protocol", "TCP");
            }
        }
    }
}

fn non_special_ip(ip: &str) -> Option<&'static str> {
    if let Ok(a) = ip.parse::<std::net::Ipv4Addr>() {
        if a.is_unspecified() {
            return Some("may not be unspecified (0.0.0.0)");
        }
        if a.is_loopback() {
            return Some("may not be in the loopback range (127.0.0.0/8, ::1/128)");
        }
        if a.is_link_local() {
            return Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)");
        }
        if a.octets()[..3] == [224, 0, 0] {
            return Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
        }
    } else if let Ok(a) = ip.parse::<std::net::Ipv6Addr>() {
        if a.is_unspecified() {
            return Some("may not be unspecified (::)");
        }
        if a.is_loopback() {
            return Some("may not be in the loopback range (127.0.0.0/8, ::1/128)");
        }
        if a.segments()[0] & 0xffc0 == 0xfe80 {
            return Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)");
        }
        if a.segments()[0] & 0xff0f == 0xff02 {
            return Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
        }
    }
    None
}

fn endpoints_validate(obj: &Value, errs: &mut FieldErrors) {
    for (i, ss) in get_list(obj, "subsets", "", errs).iter().enumerate() {
        let sp = format!("subsets[{i}]");
        if !is_obj(ss, &sp, errs) {
            continue;
        }
        let addrs = get_list(ss, "addresses", &sp, errs);
        let not_ready = get_list(ss, "notReadyAddresses", &sp, errs);
        if addrs.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(
                &sp,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (key, list) in [("addresses", addrs), ("notReadyAddresses", not_ready)] {
            for (j, a) in list.iter().enumerate() {
                let ap = format!("{sp}.{key}[{j}]");
                if !is_obj(a, &ap, errs) {
                    continue;
                }
                let ip = str_or_empty(a, "ip", &ap, errs);
                if !v::is_valid_ip(ip) {
                    errs.push(FieldError::invalid(
                        format!("{ap}.ip"),
                        ip,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                } else if let Some(m) = non_special_ip(ip) {
                    errs.push(FieldError::invalid(format!("{ap}.ip"), ip, m));
                }
                if let Some(h) = get_str(a, "hostname", &ap, errs).filter(|s| !s.is_empty()) {
                    push_dns_label(errs, &format!("{ap}.hostname"), h);
                }
                if let Some(n) = get_str(a, "nodeName", &ap, errs) {
                    push_subdomain(errs, &format!("{ap}.nodeName"), n);
                }
            }
        }
        let ports = get_list(ss, "ports", &sp, errs);
        let require_name = ports.len() > 1;
        for (j, p) in ports.iter().enumerate() {
            let pp = format!("{sp}.ports[{j}]");
            if !is_obj(p, &pp, errs) {
                continue;
            }
            let name = str_or_empty(p, "name", &pp, errs);
            if require_name && name.is_empty() {
                errs.push(FieldError::required(format!("{pp}.name"), ""));
            } else if !name.is_empty() {
                push_dns_label(errs, &format!("{pp}.name"), name);
            }
            let port = get_i64(p, "port", &pp, errs).unwrap_or(0);
            for m in v::is_valid_port_num(port) {
                errs.push(FieldError::invalid(format!("{pp}.port"), port, m));
            }
            validate_protocol(p, &pp, errs);
            if let Some(ap) = get_str(p, "appProtocol", &pp, errs) {
                v::push_msgs(errs, &format!("{pp}.appProtocol"), ap, v::is_qualified_name(ap));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PersistentVolume and PersistentVolumeClaim.
// ---------------------------------------------------------------------------------------------

const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];

const PV_SOURCES: &[&str] = &[
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "hostPath",
    "glusterfs",
    "nfs",
    "rbd",
    "quobyte",
    "iscsi",
    "cinder",
    "cephfs",
    "fc",
    "flocker",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "local",
    "storageos",
    "csi",
];

fn validate_access_modes(spec: &Value, required_detail: &str, errs: &mut FieldErrors) {
    let modes = get_list(spec, "accessModes", "spec", errs);
    if modes.is_empty() {
        errs.push(FieldError::required("spec.accessModes", required_detail));
    }
    let mut rwop = false;
    for m in modes {
        match m.as_str() {
            Some(s) if ACCESS_MODES.contains(&s) => rwop |= s == "ReadWriteOncePod",
            Some(s) => errs.push(FieldError::not_supported("spec.accessModes", s, ACCESS_MODES)),
            None => errs.push(FieldError::type_invalid(
                "spec.accessModes",
                m.clone(),
                "expected string",
            )),
        }
    }
    if rwop && modes.len() > 1 {
        errs.push(FieldError::forbidden(
            "spec.accessModes",
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
}

fn validate_volume_mode(spec: &Value, errs: &mut FieldErrors) {
    if let Some(m) = get_str(spec, "volumeMode", "spec", errs) {
        if m != "Block" && m != "Filesystem" {
            errs.push(FieldError::not_supported(
                "spec.volumeMode",
                m,
                &["Block", "Filesystem"],
            ));
        }
    }
}

fn validate_storage_class_name(spec: &Value, errs: &mut FieldErrors) {
    if let Some(sc) = get_str(spec, "storageClassName", "spec", errs).filter(|s| !s.is_empty()) {
        push_subdomain(errs, "spec.storageClassName", sc);
    }
}

pub const PERSISTENT_VOLUME: Builtin = Builtin {
    defaults: pv_defaults,
    prepare_create: pv_prepare_create,
    drop_disabled: drop_volume_attributes_class,
    validate: pv_validate,
    validate_update: pv_validate_update,
    validate_gated: Some(pv_validate_vac),
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

/// Without the VolumeAttributesClass gate (beta, off in 1.33): PV and PVC
/// `spec.volumeAttributesClassName`, PVC `status.currentVolumeAttributesClassName` and
/// `status.modifyVolumeStatus` are dropped unless the stored object has them
/// (`DropDisabledSpecFields`, `DropDisabledFields`, `DropDisabledFieldsFromStatus`).
fn drop_volume_attributes_class(gates: &crate::config::features::FeatureGates, obj: &mut Value, old: Option<&Value>) {
    if gates.enabled(VAC_GATE) {
        return;
    }
    for (parent, field) in [
        ("spec", "volumeAttributesClassName"),
        ("status", "currentVolumeAttributesClassName"),
        ("status", "modifyVolumeStatus"),
    ] {
        let in_use = old
            .and_then(|o| o.get(parent))
            .and_then(|p| p.get(field))
            .is_some_and(|v| !v.is_null());
        if !in_use {
            if let Some(p) = obj.get_mut(parent).and_then(Value::as_object_mut) {
                p.remove(field);
            }
        }
    }
}

const VAC_GATE: &str = "VolumeAttributesClass";
const VAC_PATH: &str = "spec.volumeAttributesClassName";

fn vac_name(o: &Value) -> Option<&Value> {
    o.pointer("/spec/volumeAttributesClassName").filter(|v| !v.is_null())
}

/// `EnableVolumeAttributesClass` of upstream's validation options: the gate, or a stored
/// object that already has a class.
fn vac_enabled(gates: &crate::config::features::FeatureGates, old: Option<&Value>) -> bool {
    gates.enabled(VAC_GATE) || old.and_then(vac_name).is_some()
}

/// The update rules of `spec.volumeAttributesClassName` (`ValidatePersistentVolumeUpdate`,
/// `ValidatePersistentVolumeClaimUpdate`): a change needs the gate; a class once set may not
/// be removed (`pvc`: nor emptied).
fn vac_name_update(
    gates: &crate::config::features::FeatureGates,
    new: &Value,
    old: &Value,
    pvc: bool,
    errs: &mut FieldErrors,
) {
    let (n, o) = (vac_name(new), vac_name(old));
    if n == o {
        return;
    }
    if !gates.enabled(VAC_GATE) {
        errs.push(FieldError::forbidden(
            VAC_PATH,
            "update is forbidden when the VolumeAttributesClass feature gate is disabled",
        ));
    }
    if o.is_some() {
        match n {
            None => errs.push(FieldError::forbidden(
                VAC_PATH,
                "update from non-nil value to nil is forbidden",
            )),
            Some(v) if pvc && v == "" => errs.push(FieldError::forbidden(
                VAC_PATH,
                "update from non-nil value to an empty string is forbidden",
            )),
            Some(_) => {}
        }
    }
}

/// A class name's own rules (`ValidateClassName`: a DNS subdomain).
fn vac_name_valid(name: &Value, errs: &mut FieldErrors) {
    match name.as_str() {
        Some(s) => push_subdomain(errs, VAC_PATH, s),
        None => errs.push(FieldError::invalid(VAC_PATH, name.clone(), "must be a string")),
    }
}

/// PV rules of VolumeAttributesClass (`ValidatePersistentVolumeSpec`, update rules).
fn pv_validate_vac(
    gates: &crate::config::features::FeatureGates,
    obj: &Value,
    old: Option<&Value>,
    errs: &mut FieldErrors,
) {
    if let Some(name) = vac_name(obj).filter(|_| vac_enabled(gates, old)) {
        if name == "" {
            errs.push(FieldError::required(VAC_PATH, "an empty string is disallowed"));
        } else {
            vac_name_valid(name, errs);
        }
        if obj.pointer("/spec/csi").is_none_or(Value::is_null) {
            errs.push(FieldError::required(
                "spec.csi",
                "has to be specified when using volumeAttributesClassName",
            ));
        }
    }
    if let Some(old) = old {
        vac_name_update(gates, obj, old, false, errs);
    }
}

/// PVC rules of VolumeAttributesClass (`ValidatePersistentVolumeClaimSpec`, update rules).
fn pvc_validate_vac(
    gates: &crate::config::features::FeatureGates,
    obj: &Value,
    old: Option<&Value>,
    errs: &mut FieldErrors,
) {
    if let Some(name) = vac_name(obj).filter(|n| *n != "" && vac_enabled(gates, old)) {
        vac_name_valid(name, errs);
    }
    if let Some(old) = old {
        vac_name_update(gates, obj, old, true, errs);
    }
}

fn pv_defaults(obj: &mut Value) {
    if let Some(spec) = obj_mut(obj, "spec") {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_val(spec, "volumeMode", json!("Filesystem"));
    }
    if let Some(status) = obj_mut(obj, "status") {
        default_str(status, "phase", "Pending");
    }
}

fn pv_prepare_create(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert(
            "status".into(),
            json!({"phase": "Pending", "lastPhaseTransitionTime": crate::util::now_rfc3339()}),
        );
    }
}

fn pv_validate(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if !spec.is_null() && !is_obj(spec, "spec", errs) {
        return;
    }
    validate_access_modes(spec, "", errs);
    let empty = Map::new();
    let cap = get_map(spec, "capacity", "spec", errs).unwrap_or(&empty);
    if cap.is_empty() {
        errs.push(FieldError::required("spec.capacity", ""));
    }
    if !cap.contains_key("storage") || cap.len() > 1 {
        errs.push(FieldError::not_supported(
            "spec.capacity",
            Value::Object(cap.clone()),
            &["storage"],
        ));
    }
    for (r, q) in cap {
        let p = format!("spec.capacity[{r}]");
        if let Some(x) = validate_quantity(q, &p, errs) {
            if x.signum() <= 0 {
                errs.push(FieldError::invalid(&p, quantity_text(q), "must be greater than zero"));
            }
        }
    }
    validate_storage_class_name(spec, errs);
    validate_volume_mode(spec, errs);
    if let Some(rp) = get_str(spec, "persistentVolumeReclaimPolicy", "spec", errs).filter(|s| !s.is_empty()) {
        if !matches!(rp, "Delete" | "Recycle" | "Retain") {
            errs.push(FieldError::not_supported(
                "spec.persistentVolumeReclaimPolicy",
                rp,
                &["Delete", "Recycle", "Retain"],
            ));
        }
    }
    let present: Vec<&str> = PV_SOURCES
        .iter()
        .copied()
        .filter(|s| spec.get(*s).is_some_and(|x| !x.is_null()))
        .collect();
    if present.is_empty() {
        errs.push(FieldError::required("spec", "must specify a volume type"));
    }
    for extra in present.iter().skip(1) {
        errs.push(FieldError::forbidden(
            format!("spec.{extra}"),
            "may not specify more than 1 volume type",
        ));
    }
    if let Some(h) = spec.get("hostPath").filter(|x| x.is_object()) {
        if str_or_empty(h, "path", "spec.hostPath", errs).is_empty() {
            errs.push(FieldError::required("spec.hostPath.path", ""));
        }
    }
    if let Some(l) = spec.get("local").filter(|x| x.is_object()) {
        if str_or_empty(l, "path", "spec.local", errs).is_empty() {
            errs.push(FieldError::required("spec.local.path", ""));
        }
        if spec.get("nodeAffinity").is_none_or(Value::is_null) {
            errs.push(FieldError::required(
                "spec.nodeAffinity",
                "Local volume requires node affinity",
            ));
        }
    }
    if let Some(c) = spec.get("csi").filter(|x| x.is_object()) {
        if str_or_empty(c, "driver", "spec.csi", errs).is_empty() {
            errs.push(FieldError::required("spec.csi.driver", ""));
        }
        if str_or_empty(c, "volumeHandle", "spec.csi", errs).is_empty() {
            errs.push(FieldError::required("spec.csi.volumeHandle", ""));
        }
    }
}

fn pv_validate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let src = |o: &Value| -> Value {
        let mut m = Map::new();
        for s in PV_SOURCES {
            if let Some(x) = o.pointer(&format!("/spec/{s}")).filter(|x| !x.is_null()) {
                m.insert((*s).into(), x.clone());
            }
        }
        Value::Object(m)
    };
    if src(new) != src(old) {
        errs.push(FieldError::forbidden(
            "spec.persistentvolumesource",
            "spec.persistentvolumesource is forbidden.",
        ));
    }
    let vm = |o: &Value| o.pointer("/spec/volumeMode").cloned().unwrap_or(Value::Null);
    if vm(new) != vm(old) {
        errs.push(FieldError::invalid("spec.volumeMode", vm(new), "field is immutable"));
    }
    let na = |o: &Value| o.pointer("/spec/nodeAffinity").filter(|x| !x.is_null()).cloned();
    if na(old).is_some() && na(new) != na(old) {
        errs.push(FieldError::invalid(
            "spec.nodeAffinity",
            na(new).unwrap_or(Value::Null),
            "field is immutable",
        ));
    }
}

pub const PERSISTENT_VOLUME_CLAIM: Builtin = Builtin {
    defaults: pvc_defaults,
    prepare_create: pvc_prepare_create,
    drop_disabled: drop_volume_attributes_class,
    validate: pvc_validate,
    validate_update: pvc_validate_update,
    validate_gated: Some(pvc_validate_vac),
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn pvc_defaults(obj: &mut Value) {
    if let Some(spec) = obj_mut(obj, "spec") {
        default_val(spec, "volumeMode", json!("Filesystem"));
    }
    if let Some(status) = obj_mut(obj, "status") {
        default_str(status, "phase", "Pending");
    }
}

fn pvc_prepare_create(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), json!({"phase": "Pending"}));
    }
}

fn pvc_validate(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if !spec.is_null() && !is_obj(spec, "spec", errs) {
        return;
    }
    validate_access_modes(spec, "at least 1 access mode is required", errs);
    if let Some(sel) = spec.get("selector").filter(|x| !x.is_null()) {
        v::validate_label_selector(sel, "spec.selector", errs);
    }
    let storage = spec.pointer("/resources/requests/storage");
    match storage {
        None | Some(Value::Null) => errs.push(FieldError::required("spec.resources[storage]", "")),
        Some(q) => {
            if let Some(x) = validate_quantity(q, "spec.resources[storage]", errs) {
                if x.signum() <= 0 {
                    errs.push(FieldError::invalid(
                        "spec.resources[storage]",
                        quantity_text(q),
                        "must be greater than zero",
                    ));
                }
            }
        }
    }
    validate_storage_class_name(spec, errs);
    validate_volume_mode(spec, errs);
}

fn pvc_validate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (Some(ns), Some(os)) = (new.get("spec"), old.get("spec")) else {
        return;
    };
    let mut n = ns.clone();
    let mut o = os.clone();
    // volumeName may be set once.
    if os.get("volumeName").and_then(Value::as_str).is_none_or(str::is_empty) {
        if let (Some(om), Some(vn)) = (o.as_object_mut(), ns.get("volumeName")) {
            om.insert("volumeName".into(), vn.clone());
        }
    }
    let bound = new.opt_str_at("/status/phase") == Some("Bound");
    if bound {
        let old_storage = os.pointer("/resources/requests/storage").cloned();
        if let Some(req) = n.pointer_mut("/resources/requests").and_then(Value::as_object_mut) {
            match old_storage {
                Some(s) => {
                    req.insert("storage".into(), s);
                }
                None => {
                    req.remove("storage");
                }
            }
        }
        // A bound claim may change its class, not drop it (upstream resets only a set one).
        let set = ns.get("volumeAttributesClassName").is_some_and(|v| !v.is_null());
        if let (Some(nm), Some(om), true) = (n.as_object_mut(), o.as_object(), set) {
            set_or_remove(nm, "volumeAttributesClassName", om.get("volumeAttributesClassName"));
        }
    }
    if n != o {
        errs.push(FieldError::forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
    let q = |v: &Value, p: &str| v.pointer(p).and_then(Quantity::from_json);
    if let (Some(new_size), Some(old_size)) = (
        q(ns, "/resources/requests/storage"),
        q(os, "/resources/requests/storage"),
    ) {
        if new_size < old_size {
            let status_size = q(old, "/status/capacity/storage");
            if status_size.is_none_or(|s| new_size <= s) {
                errs.push(FieldError::forbidden(
                    "spec.resources.requests.storage",
                    "field can not be less than status.capacity",
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ReplicationController and PodTemplate.
// ---------------------------------------------------------------------------------------------

pub const REPLICATION_CONTROLLER: Builtin = Builtin {
    drop_disabled: drop_disabled_template_fields,
    defaults: rc_defaults,
    prepare_create: no_op,
    validate: rc_validate,
    validate_update: no_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

/// `SetDefaults_ReplicationController`: selector and metadata.labels from the template
/// labels, replicas 1; pod template defaults.
fn rc_defaults(obj: &mut Value) {
    let tpl_labels = obj
        .obj_at("/spec/template/metadata/labels")
        .filter(|m| !m.is_empty())
        .cloned();
    if let Some(labels) = tpl_labels {
        if let Some(spec) = obj_mut(obj, "spec") {
            if spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
            {
                spec.insert("selector".into(), Value::Object(labels.clone()));
            }
        }
        if let Some(meta) = obj_mut(obj, "metadata") {
            if meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
            {
                meta.insert("labels".into(), Value::Object(labels));
            }
        }
    }
    if let Some(spec) = obj_mut(obj, "spec") {
        default_val(spec, "replicas", json!(1));
    }
    if let Some(ps) = obj.pointer_mut("/spec/template/spec").filter(|s| s.is_object()) {
        default_pod_spec(ps);
    }
}

fn rc_validate(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if !spec.is_null() && !is_obj(spec, "spec", errs) {
        return;
    }
    nonnegative(errs, spec, "minReadySeconds", "spec");
    let empty = Map::new();
    let selector = get_map(spec, "selector", "spec", errs).unwrap_or(&empty);
    if selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    } else {
        v::validate_labels(&Value::Object(selector.clone()), "spec.selector", errs);
    }
    nonnegative(errs, spec, "replicas", "spec");
    let tpl = spec.get("template").unwrap_or(&Value::Null);
    if tpl.is_null() {
        errs.push(FieldError::required("spec.template", ""));
        return;
    }
    if !selector.is_empty() {
        let labels = tpl.pointer("/metadata/labels");
        if !LabelSelector::from_set(selector).matches(labels.and_then(Value::as_object)) {
            // Upstream renders the label map as Go's `%#v`, as for every controller.
            errs.push(apps_util::invalid_raw(
                "spec.template.metadata.labels",
                apps_util::go_string_map(labels),
                "`selector` does not match template `labels`",
            ));
        }
    }
    validate_pod_template(tpl, "spec.template", errs);
    if let Some(rp) = tpl.opt_str_at("/spec/restartPolicy") {
        if rp != "Always" {
            errs.push(FieldError::not_supported(
                "spec.template.spec.restartPolicy",
                rp,
                &["Always"],
            ));
        }
    }
    if tpl.pointer("/spec/activeDeadlineSeconds").is_some_and(|x| !x.is_null()) {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
}

pub const POD_TEMPLATE: Builtin = Builtin {
    drop_disabled: drop_disabled_pod_template_fields,
    defaults: pod_template_defaults,
    prepare_create: no_op,
    validate: pod_template_validate,
    validate_update: no_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn pod_template_defaults(obj: &mut Value) {
    if let Some(ps) = obj.pointer_mut("/template/spec").filter(|s| s.is_object()) {
        default_pod_spec(ps);
    }
}

fn pod_template_validate(obj: &Value, errs: &mut FieldErrors) {
    validate_pod_template(obj.get("template").unwrap_or(&Value::Null), "template", errs);
}

// ---------------------------------------------------------------------------------------------
// LimitRange and ResourceQuota (basic shape).
// ---------------------------------------------------------------------------------------------

pub const LIMIT_RANGE: Builtin = Builtin {
    defaults: limit_range_defaults,
    prepare_create: no_op,
    validate: limit_range_validate,
    validate_update: no_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

/// `SetDefaults_LimitRangeItem`: for Container items, default and defaultRequest fall back to
/// max, and defaultRequest to default.
fn limit_range_defaults(obj: &mut Value) {
    let Some(limits) = obj.pointer_mut("/spec/limits").and_then(Value::as_array_mut) else {
        return;
    };
    for item in limits.iter_mut().filter_map(Value::as_object_mut) {
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let max = item.get("max").and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(def) = ensure_obj(item, "default") {
            for (k, q) in &max {
                def.entry(k.clone()).or_insert_with(|| q.clone());
            }
        }
        let def = item
            .get("default")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(dr) = ensure_obj(item, "defaultRequest") {
            for (k, q) in &def {
                dr.entry(k.clone()).or_insert_with(|| q.clone());
            }
        }
        for key in ["default", "defaultRequest"] {
            if item.get(key).and_then(Value::as_object).is_some_and(|m| m.is_empty()) {
                item.remove(key);
            }
        }
    }
}

fn limit_range_validate(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    for (i, item) in get_list(spec, "limits", "spec", errs).iter().enumerate() {
        let ip = format!("spec.limits[{i}]");
        if !is_obj(item, &ip, errs) {
            continue;
        }
        match str_or_empty(item, "type", &ip, errs) {
            "Pod" | "Container" | "PersistentVolumeClaim" => {}
            "" => errs.push(FieldError::required(format!("{ip}.type"), "")),
            other => errs.push(FieldError::not_supported(
                format!("{ip}.type"),
                other,
                &["Container", "PersistentVolumeClaim", "Pod"],
            )),
        }
        for key in ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"] {
            if let Some(m) = get_map(item, key, &ip, errs) {
                for (r, q) in m {
                    let _ = validate_quantity(q, &format!("{ip}.{key}[{r}]"), errs);
                }
            }
        }
    }
}

pub const RESOURCE_QUOTA: Builtin = Builtin {
    defaults: no_op,
    prepare_create: no_op,
    validate: resource_quota_validate,
    validate_update: no_validate_update,
    keep_status_on_create: false,
    ..Builtin::DEFAULT
};

fn resource_quota_validate(obj: &Value, errs: &mut FieldErrors) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if !spec.is_null() && !is_obj(spec, "spec", errs) {
        return;
    }
    if let Some(hard) = get_map(spec, "hard", "spec", errs) {
        for (r, q) in hard {
            let p = format!("spec.hard[{r}]");
            v::push_msgs(errs, &p, r, v::is_qualified_name(r));
            let _ = validate_quantity(q, &p, errs);
        }
    }
    const SCOPES: &[&str] = &[
        "BestEffort",
        "CrossNamespacePodAffinity",
        "NotBestEffort",
        "NotTerminating",
        "PriorityClass",
        "Terminating",
        "VolumeAttributesClass",
    ];
    for s in get_list(spec, "scopes", "spec", errs) {
        match s.as_str() {
            Some(x) if SCOPES.contains(&x) => {}
            Some(x) => errs.push(FieldError::not_supported("spec.scopes", x, SCOPES)),
            None => errs.push(FieldError::type_invalid("spec.scopes", s.clone(), "expected string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileged_and_host_process_need_allow_privileged() {
        let c = json!({"name": "c", "securityContext": {"privileged": true}});
        let mut errs = Vec::new();
        validate_privileged(&c, "spec.containers[0]", false, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.containers[0].securityContext.privileged");
        assert_eq!(errs[0].detail, "disallowed by cluster policy");
        let mut errs = Vec::new();
        validate_privileged(&c, "spec.containers[0]", true, &mut errs);
        assert!(errs.is_empty());
        // HostProcess, set on the pod and inherited.
        let spec = json!({"securityContext": {"windowsOptions": {"hostProcess": true}}, "containers": [{"name": "c"}]});
        let mut errs = Vec::new();
        validate_host_process(&spec, "spec", false, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].detail,
            "hostProcess containers are disallowed by cluster policy"
        );
        let spec = json!({"securityContext": {"windowsOptions": {"hostProcess": true}}, "containers": [{"name": "c", "securityContext": {"windowsOptions": {"hostProcess": false}}}]});
        let mut errs = Vec::new();
        validate_host_process(&spec, "spec", false, &mut errs);
        assert!(errs.is_empty());
    }

    fn strat(kind: &str) -> &'static Builtin {
        match kind {
            "Pod" => &POD,
            "Namespace" => &NAMESPACE,
            "Service" => &SERVICE,
            "ConfigMap" => &CONFIG_MAP,
            "Secret" => &SECRET,
            "ServiceAccount" => &SERVICE_ACCOUNT,
            "Node" => &NODE,
            "Event" => &EVENT,
            "Endpoints" => &ENDPOINTS,
            "PersistentVolume" => &PERSISTENT_VOLUME,
            "PersistentVolumeClaim" => &PERSISTENT_VOLUME_CLAIM,
            "ReplicationController" => &REPLICATION_CONTROLLER,
            "PodTemplate" => &POD_TEMPLATE,
            "LimitRange" => &LIMIT_RANGE,
            "ResourceQuota" => &RESOURCE_QUOTA,
            other => panic!("no rules for {other}"),
        }
    }

    fn errors(kind: &str, obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        (strat(kind).validate)(obj, &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    fn defaulted(kind: &str, mut obj: Value) -> Value {
        (strat(kind).defaults)(&mut obj);
        obj
    }

    /// The `spec.template` errors of a controller, after its defaults, sorted.
    fn template_errors(s: &Builtin, mut obj: Value) -> Vec<String> {
        (s.defaults)(&mut obj);
        let mut errs = Vec::new();
        (s.validate)(&obj, &mut errs);
        let mut out: Vec<String> = errs
            .iter()
            .map(|e| e.to_string())
            .filter(|e| e.starts_with("spec.template"))
            .collect();
        out.sort();
        out
    }

    /// One `ValidatePodTemplateSpec` for every kind: a ReplicationController and a Deployment
    /// with the same bad template get the same template errors. (There were two validators:
    /// only the Deployment's rejected ephemeral containers or a non-object `metadata`.)
    #[test]
    fn rc_and_deployment_templates_get_the_same_errors() {
        let bad_templates = [
            json!({
                "metadata": {"labels": {"app": "x"}, "annotations": {"bad key!": "v"}},
                "spec": {
                    "containers": [{"name": "c", "image": "nginx"}],
                    "ephemeralContainers": [{"name": "debug", "image": "busybox"}],
                },
            }),
            json!({
                "metadata": {"labels": {"app": "x", "tier": "not a label value!"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}], "restartPolicy": "OnFailure"},
            }),
            json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}),
            json!({"metadata": "labels", "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
        ];
        for template in bad_templates {
            let rc = json!({
                "apiVersion": "v1", "kind": "ReplicationController",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"selector": {"app": "x"}, "template": template},
            });
            let deployment = json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template},
            });
            let rc_errs = template_errors(&REPLICATION_CONTROLLER, rc);
            let deployment_errs = template_errors(&super::super::apps::DEPLOYMENT, deployment);
            assert!(!rc_errs.is_empty(), "{template}");
            assert_eq!(rc_errs, deployment_errs, "{template}");
        }
        let rc = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "x"}, "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}], "ephemeralContainers": [{"name": "e", "image": "busybox"}]},
            }},
        });
        assert_eq!(
            template_errors(&REPLICATION_CONTROLLER, rc),
            vec!["spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"]
        );
    }

    /// A ReplicationController's template is a pointer upstream (nil is `Required`); a
    /// PodTemplate's is a value, so a missing one is the zero template.
    #[test]
    fn missing_templates_are_upstreams() {
        let rc = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "x"}}});
        assert_eq!(
            template_errors(&REPLICATION_CONTROLLER, rc),
            vec!["spec.template: Required value"]
        );
        let pt = defaulted(
            "PodTemplate",
            json!({"metadata": {"name": "t", "namespace": "default"}}),
        );
        assert_eq!(
            errors("PodTemplate", &pt),
            vec!["template.spec.containers: Required value"]
        );
        let rc = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "x"}, "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}], "activeDeadlineSeconds": 5},
            }},
        });
        assert_eq!(
            template_errors(&REPLICATION_CONTROLLER, rc),
            vec!["spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is not Supported"]
        );
    }

    #[test]
    fn pod_ip_and_pod_ips_kept_in_step_as_upstreams_conversion() {
        let ips =
            |status: Value| defaulted("Pod", json!({"metadata": {"name": "p"}, "status": status}))["status"].clone();
        // kwok and older kubelets send podIP alone.
        assert_eq!(
            ips(json!({"podIP": "10.0.0.5"})),
            json!({"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]})
        );
        // podIP wins when the two differ; podIPs[0] fills an absent podIP.
        assert_eq!(
            ips(json!({"podIP": "10.0.0.6", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]})),
            json!({"podIP": "10.0.0.6", "podIPs": [{"ip": "10.0.0.6"}]})
        );
        let dual = json!({"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]});
        assert_eq!(ips(dual.clone()), dual);
        assert_eq!(
            ips(json!({"podIPs": [{"ip": "fd00::5"}]})),
            json!({"podIP": "fd00::5", "podIPs": [{"ip": "fd00::5"}]})
        );
        assert_eq!(
            ips(json!({"podIP": "", "phase": "Pending"})),
            json!({"phase": "Pending"})
        );
    }

    #[test]
    fn pod_defaults_match_upstream() {
        let mut pod = defaulted(
            "Pod",
            json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {
                "containers": [
                    {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
                    {"name": "b", "image": "nginx:1.25"},
                    {"name": "c", "image": "reg:5000/nginx@sha256:abc"},
                    {"name": "d", "image": "nginx:latest", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
                ],
                "volumes": [{"name": "x"}, {"name": "y", "configMap": {"name": "cm"}}]
            }}),
        );
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        // Admission's (Priority, ServiceAccount), not defaults: upstream's SetDefaults_Pod leaves them.
        for admitted in ["preemptionPolicy", "priority", "serviceAccountName", "serviceAccount"] {
            assert!(spec.get(admitted).is_none(), "{admitted} is not a default");
        }
        let c = &spec["containers"];
        assert_eq!(c[0]["imagePullPolicy"], "Always");
        assert_eq!(c[1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[2]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[3]["imagePullPolicy"], "Always");
        assert_eq!(c[0]["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c[0]["terminationMessagePolicy"], "File");
        assert_eq!(c[0]["resources"], json!({}));
        assert_eq!(c[0]["ports"][0]["protocol"], "TCP");
        assert_eq!(c[3]["resources"]["requests"], json!({"cpu": "1", "memory": "1Gi"}));
        assert_eq!(spec["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(spec["volumes"][1]["configMap"]["defaultMode"], 420);
        assert!(errors("Pod", &pod).is_empty(), "{:?}", errors("Pod", &pod));
        (strat("Pod").prepare_create)(&mut pod);
        assert_eq!(pod["status"], json!({"phase": "Pending", "qosClass": "Burstable"}));
    }

    #[test]
    fn qos_classes() {
        let be = json!({"containers": [{"name": "a", "resources": {}}]});
        assert_eq!(pod_qos_class(&be), "BestEffort");
        let g = json!({"containers": [{"resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "0.5", "memory": "128Mi"}}}]});
        assert_eq!(pod_qos_class(&g), "Guaranteed");
        let b = json!({"containers": [{"resources": {"requests": {"cpu": "100m"}}}]});
        assert_eq!(pod_qos_class(&b), "Burstable");
    }

    #[test]
    fn template_defaults_skip_pod_only_fields() {
        let mut spec = json!({"containers": [{"name": "a", "image": "busybox"}]});
        default_pod_spec(&mut spec);
        assert!(spec.get("enableServiceLinks").is_none());
        assert!(spec.get("serviceAccountName").is_none());
        assert_eq!(spec["restartPolicy"], "Always");
    }

    #[test]
    fn pod_validation_messages() {
        let mut errs = Vec::new();
        validate_pod_spec(
            &json!({"restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}),
            "spec",
            &mut errs,
        );
        assert_eq!(errs[0].to_string(), "spec.containers: Required value");

        let pod = defaulted(
            "Pod",
            json!({"spec": {"restartPolicy": "Sometimes", "dnsPolicy": "Weird", "containers": [
                {"name": "Web", "image": "", "ports": [{"containerPort": 70000, "protocol": "HTTP", "name": "http"}, {"containerPort": 81, "name": "http"}],
                 "env": [{"name": "A=B"}], "volumeMounts": [{"name": "missing", "mountPath": "/x"}]},
                {"name": "Web", "image": " nginx"}
            ]}}),
        );
        let out = errors("Pod", &pod);
        let expect = [
            "spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.containers[0].image: Required value",
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[0].ports[1].name: Duplicate value: \"http\"",
            "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
            "spec.containers[1].name: Duplicate value: \"Web\"",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            "spec.dnsPolicy: Unsupported value: \"Weird\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            "spec.containers[1].image: Invalid value: \" nginx\": must not have leading or trailing whitespace",
        ];
        for e in expect {
            assert!(out.iter().any(|o| o == e), "missing {e}\n got {out:#?}");
        }

        // Wrong JSON types do not panic.
        let out = errors(
            "Pod",
            &json!({"spec": {"containers": [{"name": 5, "image": ["x"], "ports": "no"}], "volumes": 3}}),
        );
        assert!(
            out.iter()
                .any(|o| o == "spec.containers[0].name: Invalid value: 5: expected string"),
            "{out:?}"
        );
        assert!(
            out.iter()
                .any(|o| o == "spec.volumes: Invalid value: 3: expected array"),
            "{out:?}"
        );
        let _ = errors("Pod", &json!({"spec": "x"}));
        let _ = errors("Pod", &json!([1, 2]));
        let mut junk = json!({"spec": {"containers": "x", "volumes": [1]}});
        (strat("Pod").defaults)(&mut junk);
        (strat("Pod").prepare_create)(&mut junk);
    }

    #[test]
    fn pod_resources_and_update() {
        let pod = defaulted(
            "Pod",
            json!({"spec": {"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2", "memory": "-1"}}}]}}),
        );
        let out = errors("Pod", &pod);
        assert!(out.contains(&"spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1".to_string()), "{out:?}");
        assert!(out.contains(&"spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0".to_string()), "{out:?}");

        let old = defaulted("Pod", json!({"spec": {"containers": [{"name": "a", "image": "x:1"}]}}));
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("x:2");
        let mut errs = Vec::new();
        (strat("Pod").validate_update)(&new, &old, &mut errs);
        assert!(errs.is_empty());
        new["spec"]["restartPolicy"] = json!("Never");
        (strat("Pod").validate_update)(&new, &old, &mut errs);
        assert!(errs[0]
            .to_string()
            .starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"));
    }

    #[test]
    fn namespace_defaults_and_finalizers() {
        let mut ns = defaulted("Namespace", json!({"metadata": {"name": "team"}}));
        (strat("Namespace").prepare_create)(&mut ns);
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team");
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
    }

    #[test]
    fn service_defaults_and_validation() {
        let svc = defaulted(
            "Service",
            json!({"spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}),
        );
        let spec = &svc["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["ports"][0]["targetPort"], 80);
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert!(spec.get("ipFamilyPolicy").is_none(), "the allocator's, not a default");
        assert!(spec.get("externalTrafficPolicy").is_none());
        assert!(errors("Service", &svc).is_empty());
        let np = defaulted(
            "Service",
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}}),
        );
        assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(np["spec"]["ports"][0]["targetPort"], "http");

        let bad = defaulted("Service", json!({"spec": {"type": "Weird"}}));
        assert_eq!(
            errors("Service", &bad),
            vec![
                "spec.ports: Required value",
                "spec.type: Unsupported value: \"Weird\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            ]
        );
        let bad = defaulted(
            "Service",
            json!({"spec": {"ports": [{"port": 0}, {"port": 80, "name": "a"}]}}),
        );
        let out = errors("Service", &bad);
        assert!(
            out.contains(&"spec.ports[0].name: Required value".to_string()),
            "{out:?}"
        );
        assert!(
            out.contains(&"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive".to_string())
        );
        let en = defaulted("Service", json!({"spec": {"type": "ExternalName"}}));
        assert_eq!(errors("Service", &en), vec!["spec.externalName: Required value"]);
        assert!(en["spec"].get("ipFamilyPolicy").is_none());
    }

    #[test]
    fn config_map_rules() {
        assert_eq!(
            errors("ConfigMap", &json!({"data": {"a b": "x", "k": "v"}, "binaryData": {"k": "dg=="}})),
            vec![
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data[k]: Invalid value: \"k\": duplicate of key present in binaryData",
                "binaryData[k]: Invalid value: \"k\": duplicate of key present in data",
            ]
        );
        let big = json!({"data": {"a": "x".repeat(MAX_SECRET_SIZE), "b": "y"}});
        assert_eq!(
            errors("ConfigMap", &big),
            vec![": Too long: may not be more than 1048576 bytes"]
        );
        let mut errs = Vec::new();
        (strat("ConfigMap").validate_update)(
            &json!({"data": {"a": "2"}}),
            &json!({"immutable": true, "data": {"a": "1"}}),
            &mut errs,
        );
        let out: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            out,
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set"
            ]
        );
    }

    #[test]
    fn secret_rules() {
        let s = defaulted(
            "Secret",
            json!({"data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "z"}}),
        );
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"], json!({"a": "eg==", "b": "aGVsbG8="}));
        assert!(s.get("stringData").is_none());
        assert!(errors("Secret", &s).is_empty());
        let sa = defaulted("Secret", json!({"type": "kubernetes.io/service-account-token"}));
        assert_eq!(
            errors("Secret", &sa),
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        let dc = defaulted(
            "Secret",
            json!({"type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": "{"}}),
        );
        let out = errors("Secret", &dc);
        assert!(
            out[0].starts_with("data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": "),
            "{out:?}"
        );
        let dc = defaulted("Secret", json!({"type": "kubernetes.io/dockerconfigjson"}));
        assert_eq!(errors("Secret", &dc), vec!["data[.dockerconfigjson]: Required value"]);
        let tls = defaulted("Secret", json!({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}}));
        assert_eq!(errors("Secret", &tls), vec!["data[tls.key]: Required value"]);
        let mut errs = Vec::new();
        (strat("Secret").validate_update)(
            &json!({"type": "kubernetes.io/tls"}),
            &json!({"type": "Opaque"}),
            &mut errs,
        );
        assert_eq!(
            errs[0].to_string(),
            "type: Invalid value: \"kubernetes.io/tls\": field is immutable"
        );
    }

    #[test]
    fn node_rules() {
        assert!(strat("Node").keep_status_on_create);
        let n = defaulted(
            "Node",
            json!({"spec": {"podCIDR": "10.244.0.0/24"}, "status": {"capacity": {"cpu": "2"}}}),
        );
        assert_eq!(n["spec"]["podCIDRs"], json!(["10.244.0.0/24"]));
        assert_eq!(n["status"]["allocatable"], json!({"cpu": "2"}));
        assert!(errors("Node", &n).is_empty());
        let bad = json!({"spec": {"podCIDRs": ["10.0.0.0/40"], "taints": [{"key": "k", "effect": "Sometimes"}, {"key": "k", "effect": "Sometimes"}]}});
        let out = errors("Node", &bad);
        assert_eq!(out[0], "spec.podCIDRs[0]: Invalid value: \"10.0.0.0/40\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
        assert_eq!(out[1], "spec.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"");
        assert!(out[3].starts_with("spec.taints[1]: Duplicate value: "));
        assert!(out[3].ends_with("taints must be unique by key and effect pair"));
    }

    #[test]
    fn event_endpoints_rules() {
        let ev =
            json!({"metadata": {"name": "e", "namespace": "a"}, "involvedObject": {"kind": "Pod", "namespace": "b"}});
        assert_eq!(
            errors("Event", &ev),
            vec!["involvedObject.namespace: Invalid value: \"b\": does not match event.namespace"]
        );
        let ev = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Node"}});
        assert!(errors("Event", &ev).is_empty());
        let ep = defaulted(
            "Endpoints",
            json!({"subsets": [{"addresses": [{"ip": "10.0.0.300"}, {"ip": "127.0.0.1"}], "ports": [{"port": 80}]}, {}]}),
        );
        assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(
            errors("Endpoints", &ep),
            vec![
                "subsets[0].addresses[0].ip: Invalid value: \"10.0.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                "subsets[0].addresses[1].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)",
                "subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`",
            ]
        );
    }

    #[test]
    fn pv_pvc_rules() {
        let mut pv = defaulted(
            "PersistentVolume",
            json!({"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}}}),
        );
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert!(errors("PersistentVolume", &pv).is_empty());
        (strat("PersistentVolume").prepare_create)(&mut pv);
        assert_eq!(pv["status"]["phase"], "Pending");
        let bad = defaulted("PersistentVolume", json!({"spec": {}}));
        assert_eq!(
            errors("PersistentVolume", &bad),
            vec![
                "spec.accessModes: Required value",
                "spec.capacity: Required value",
                "spec.capacity: Unsupported value: {}: supported values: \"storage\"",
                "spec: Required value: must specify a volume type",
            ]
        );
        let mut pvc = defaulted(
            "PersistentVolumeClaim",
            json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        );
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert!(errors("PersistentVolumeClaim", &pvc).is_empty());
        (strat("PersistentVolumeClaim").prepare_create)(&mut pvc);
        assert_eq!(pvc["status"], json!({"phase": "Pending"}));
        let bad = defaulted("PersistentVolumeClaim", json!({"spec": {}}));
        assert_eq!(
            errors("PersistentVolumeClaim", &bad),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value",
            ]
        );
        // Unbound claims: volumeName may be set, requests may not change.
        let mut new = pvc.clone();
        new["spec"]["volumeName"] = json!("pv1");
        let mut errs = Vec::new();
        (strat("PersistentVolumeClaim").validate_update)(&new, &pvc, &mut errs);
        assert!(errs.is_empty());
        new["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        (strat("PersistentVolumeClaim").validate_update)(&new, &pvc, &mut errs);
        assert_eq!(errs[0].to_string(), "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims");
        let mut errs = Vec::new();
        new["status"]["phase"] = json!("Bound");
        (strat("PersistentVolumeClaim").validate_update)(&new, &pvc, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");

        // The VolumeAttributesClass gate is off: its fields go unless already stored.
        let pvcs = strat("PersistentVolumeClaim");
        let mut with = pvc.clone();
        with["spec"]["volumeAttributesClassName"] = json!("gold");
        with["status"]["currentVolumeAttributesClassName"] = json!("gold");
        let mut created = with.clone();
        let gates = crate::config::features::FeatureGates::default();
        (pvcs.drop_disabled)(&gates, &mut created, None);
        assert!(created["spec"].get("volumeAttributesClassName").is_none());
        assert!(created["status"].get("currentVolumeAttributesClassName").is_none());
        let mut kept = with.clone();
        (pvcs.drop_disabled)(&gates, &mut kept, Some(&with));
        assert_eq!(kept, with);
        let mut errs = Vec::new();
        let mut cleared = with.clone();
        cleared["spec"]["volumeAttributesClassName"] = json!("");
        let vac = pvcs.validate_gated.expect("VolumeAttributesClass rules");
        vac(&gates, &cleared, Some(&with), &mut errs);
        let texts: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(texts.contains(&"spec.volumeAttributesClassName: Forbidden: update is forbidden when the VolumeAttributesClass feature gate is disabled".to_string()), "{texts:?}");
        assert!(
            texts.contains(
                &"spec.volumeAttributesClassName: Forbidden: update from non-nil value to an empty string is forbidden"
                    .to_string()
            ),
            "{texts:?}"
        );
        // The gate on: kept on create, the name validated, changes allowed.
        let on = crate::config::features::FeatureGates::with(&[("VolumeAttributesClass", true)]);
        let mut created = with.clone();
        (pvcs.drop_disabled)(&on, &mut created, None);
        assert_eq!(created, with);
        let mut errs = Vec::new();
        let mut bad = with.clone();
        bad["spec"]["volumeAttributesClassName"] = json!("Gold!");
        vac(&on, &bad, None, &mut errs);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].to_string().starts_with(
                "spec.volumeAttributesClassName: Invalid value: \"Gold!\": a lowercase RFC 1123 subdomain"
            ),
            "{errs:?}"
        );
        let mut errs = Vec::new();
        let mut silver = with.clone();
        silver["spec"]["volumeAttributesClassName"] = json!("silver");
        vac(&on, &silver, Some(&with), &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        vac(&on, &cleared, Some(&with), &mut errs);
        assert_eq!(
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            ["spec.volumeAttributesClassName: Forbidden: update from non-nil value to an empty string is forbidden"]
        );
    }

    #[test]
    fn replication_controller_rules() {
        let rc = defaulted(
            "ReplicationController",
            json!({"metadata": {"name": "r"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
        );
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(rc["spec"]["selector"], json!({"app": "x"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(rc["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(errors("ReplicationController", &rc).is_empty());
        let mut bad = rc.clone();
        bad["spec"]["selector"] = json!({"app": "y"});
        bad["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
        assert_eq!(
            errors("ReplicationController", &bad),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`",
                "spec.template.spec.containers[0].image: Required value",
            ]
        );
    }
}
