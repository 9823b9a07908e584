//! Strategies for the `core` group: defaults (`pkg/apis/core/v1/defaults.go` plus the parts of
//! the registry strategies and admission plugins we stand in for) and validation
//! (`pkg/apis/core/validation/validation.go`).

use super::Strategy;
use crate::api::field::{FieldError, FieldErrors};
use crate::api::validation as v;
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

fn join(path: &str, child: &str) -> String {
    if path.is_empty() {
        child.to_string()
    } else {
        format!("{path}.{child}")
    }
}

/// Read an optional string field, reporting a wrong type. Absent/null → None.
fn get_str<'a>(m: &'a Value, key: &str, path: &str, errs: &mut FieldErrors) -> Option<&'a str> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            errs.push(FieldError::type_invalid(
                join(path, key),
                other.clone(),
                "expected string",
            ));
            None
        }
    }
}

/// String field or "" (wrong types reported).
fn str_or_empty<'a>(m: &'a Value, key: &str, path: &str, errs: &mut FieldErrors) -> &'a str {
    get_str(m, key, path, errs).unwrap_or("")
}

fn get_int(m: &Value, key: &str, path: &str, errs: &mut FieldErrors) -> Option<i64> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(other) => {
            errs.push(FieldError::type_invalid(
                join(path, key),
                other.clone(),
                "expected integer",
            ));
            None
        }
    }
}

fn get_arr<'a>(m: &'a Value, key: &str, path: &str, errs: &mut FieldErrors) -> &'a [Value] {
    match m.get(key) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(other) => {
            errs.push(FieldError::type_invalid(
                join(path, key),
                other.clone(),
                "expected array",
            ));
            &[]
        }
    }
}

fn get_obj<'a>(m: &'a Value, key: &str, path: &str, errs: &mut FieldErrors) -> Option<&'a Map<String, Value>> {
    v::as_object(m.get(key), &join(path, key), errs)
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
    if let Some(n) = get_int(val, key, path, errs) {
        if n < 0 {
            errs.push(FieldError::invalid(
                join(path, key),
                n,
                "must be greater than or equal to 0",
            ));
        }
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

// ---------------------------------------------------------------------------------------------
// Quantities (`resource.Quantity`), enough for validation and QoS comparisons.
// ---------------------------------------------------------------------------------------------

const QUANTITY_REGEX_MSG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Parse a quantity (string or JSON number) into a float value.
pub fn parse_quantity(val: &Value) -> Option<f64> {
    match val {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_quantity_str(s),
        _ => None,
    }
}

fn parse_quantity_str(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() || num.matches('.').count() > 1 || num[1..].contains(['+', '-']) {
        return None;
    }
    if !num.bytes().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let base: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0f64.powi(2),
        "Gi" => 1024.0f64.powi(3),
        "Ti" => 1024.0f64.powi(4),
        "Pi" => 1024.0f64.powi(5),
        "Ei" => 1024.0f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..].parse().ok()?;
            10f64.powi(e)
        }
        _ => return None,
    };
    Some(base * mult)
}

fn quantity_text(val: &Value) -> Value {
    match val {
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

/// Validate a quantity value; returns the parsed value when valid and ≥ 0.
fn validate_quantity(val: &Value, path: &str, errs: &mut FieldErrors) -> Option<f64> {
    match parse_quantity(val) {
        None => {
            errs.push(FieldError::invalid(path, quantity_text(val), QUANTITY_REGEX_MSG));
            None
        }
        Some(q) if q < 0.0 => {
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
    let limits = get_obj(res, "limits", path, errs).unwrap_or(&empty);
    let requests = get_obj(res, "requests", path, errs).unwrap_or(&empty);
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
        if let Some(&l) = lim_vals.get(name) {
            let lim_text = limits
                .get(name)
                .map(quantity_text)
                .and_then(|v| v.as_str().map(String::from));
            let lim_text = lim_text.unwrap_or_default();
            if x != l && !overcommit_allowed(name) {
                errs.push(FieldError::invalid(
                    &req_path,
                    quantity_text(q),
                    format!("must be equal to {name} limit of {lim_text}"),
                ));
            } else if x > l {
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
        let image = m.get("image").and_then(Value::as_str).unwrap_or("");
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

/// `qos.GetPodQOS` over containers and init containers (cpu and memory only).
pub fn pod_qos_class(spec: &Value) -> &'static str {
    let mut requests: std::collections::BTreeMap<&str, f64> = Default::default();
    let mut limits: std::collections::BTreeMap<&str, f64> = Default::default();
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
                if let (n @ ("cpu" | "memory"), Some(x)) = (name.as_str(), parse_quantity(q)) {
                    if x > 0.0 {
                        *requests.entry(n).or_default() += x;
                    }
                }
            }
        }
        let mut found = (false, false);
        if let Some(lim) = res.and_then(|r| r.get("limits")).and_then(Value::as_object) {
            for (name, q) in lim {
                if let (n @ ("cpu" | "memory"), Some(x)) = (name.as_str(), parse_quantity(q)) {
                    if x > 0.0 {
                        if n == "cpu" {
                            found.0 = true;
                        } else {
                            found.1 = true;
                        }
                        *limits.entry(n).or_default() += x;
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
                Some(l) if (l - req).abs() <= f64::EPSILON * l.abs().max(1.0) => {}
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
    if let Some(mode) = get_int(val, key, path, errs) {
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
        match get_int(port, "containerPort", &ip, errs) {
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
        if let Some(n) = get_int(port, "hostPort", &ip, errs).filter(|n| *n != 0) {
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
        for (key, what) in [("configMapKeyRef", "configMap"), ("secretKeyRef", "secret")] {
            if let Some(r) = vf.get(key).filter(|x| !x.is_null()) {
                sources += 1;
                let rp = format!("{vp}.{key}");
                let k = str_or_empty(r, "key", &rp, errs);
                if k.is_empty() {
                    errs.push(FieldError::required(format!("{rp}.key"), ""));
                } else {
                    v::push_msgs(errs, &format!("{rp}.key"), k, v::is_config_map_key(k));
                }
                let _ = what;
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
        if let Some(n) = get_int(probe, "successThreshold", path, errs) {
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
        if get_arr(e, "command", &format!("{path}.exec"), errs).is_empty() {
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
        validate_container_ports(get_arr(c, "ports", &ip, errs), &format!("{ip}.ports"), errs);
        validate_env(get_arr(c, "env", &ip, errs), &format!("{ip}.env"), errs);
        validate_volume_mounts(
            get_arr(c, "volumeMounts", &ip, errs),
            volumes,
            &format!("{ip}.volumeMounts"),
            errs,
        );
        if let Some(res) = c.get("resources").filter(|x| !x.is_null()) {
            validate_container_resources(res, &format!("{ip}.resources"), errs);
        }
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

fn validate_tolerations(tols: &[Value], path: &str, errs: &mut FieldErrors) {
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
    let volumes = validate_volumes(get_arr(spec, "volumes", path, errs), &join(path, "volumes"), errs);
    let containers = get_arr(spec, "containers", path, errs);
    let mut names = Vec::new();
    if containers.is_empty() {
        errs.push(FieldError::required(join(path, "containers"), ""));
    }
    validate_container_list(containers, &join(path, "containers"), &volumes, &mut names, false, errs);
    let inits = get_arr(spec, "initContainers", path, errs);
    validate_container_list(inits, &join(path, "initContainers"), &volumes, &mut names, true, errs);
    validate_restart_policy(spec, path, errs);
    validate_dns_policy(spec, path, errs);
    if let Some(ns) = spec.get("nodeSelector").filter(|x| !x.is_null()) {
        v::validate_labels(ns, &join(path, "nodeSelector"), errs);
    }
    for (i, s) in get_arr(spec, "imagePullSecrets", path, errs).iter().enumerate() {
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
    if let Some(ads) = get_int(spec, "activeDeadlineSeconds", path, errs) {
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
        get_arr(spec, "tolerations", path, errs),
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
        if let Some(x) = spec.get(key).filter(|x| !x.is_null() && !x.is_boolean()) {
            errs.push(FieldError::type_invalid(join(path, key), x.clone(), "expected boolean"));
        }
    }
    let _ = get_int(spec, "terminationGracePeriodSeconds", path, errs);
}

/// `ValidatePodTemplateSpec`: template labels/annotations (upstream reports them at
/// `<path>.labels`, without `metadata`) and the pod spec.
pub fn validate_pod_template(tpl: &Value, path: &str, errs: &mut FieldErrors) {
    if tpl.is_null() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    if !is_obj(tpl, path, errs) {
        return;
    }
    if let Some(meta) = tpl.get("metadata").filter(|x| x.is_object()) {
        if let Some(l) = meta.get("labels").filter(|x| !x.is_null()) {
            v::validate_labels(l, &join(path, "labels"), errs);
        }
        if let Some(a) = meta.get("annotations").filter(|x| !x.is_null()) {
            v::validate_annotations(a, &join(path, "annotations"), errs);
        }
    }
    let spec = tpl.get("spec").unwrap_or(&Value::Null);
    validate_pod_spec(spec, &join(path, "spec"), errs);
}

// ---------------------------------------------------------------------------------------------
// Dispatch.
// ---------------------------------------------------------------------------------------------

fn no_op(_: &mut Value) {}
fn no_validate(_: &Value, _: &mut FieldErrors) {}
fn no_validate_update(_: &Value, _: &Value, _: &mut FieldErrors) {}

pub fn strategy_for(kind: &str) -> Option<&'static Strategy> {
    match kind {
        "Pod" => Some(&POD),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Pod.
// ---------------------------------------------------------------------------------------------

static POD: Strategy = Strategy {
    defaults: pod_defaults,
    prepare_create: pod_prepare_create,
    validate: pod_validate,
    validate_update: pod_validate_update,
    keep_status_on_create: false,
};

fn pod_defaults(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    default_pod_spec(spec);
    default_requests_from_limits(spec);
    let Some(m) = spec.as_object_mut() else { return };
    default_val(m, "enableServiceLinks", json!(true));
    // Stand-ins for admission plugins we do not run yet: ServiceAccount (serviceAccountName),
    // Priority (priority, preemptionPolicy).
    default_str(m, "serviceAccountName", "default");
    default_str(m, "serviceAccount", "default");
    default_val(m, "priority", json!(0));
    default_val(m, "preemptionPolicy", json!("PreemptLowerPriority"));
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
