//! Field-selector fields per kind: upstream's field-label conversion (the check the apiserver
//! runs on every `fieldSelector` term, `runtime.Scheme.ConvertFieldLabel`) and the selectable
//! field sets (`GetAttrs`/`ToSelectableFields` in each registry strategy).
//!
//! Each built-in kind's row carries one [`Fields`] table (through its strategy). How a
//! list/watch handler uses it:
//! 1. `FieldSelector::parse` (400 with the parse error on failure),
//! 2. `selector.transform(|l| def.strategy.convert_field_label(def, l))` (400 `BadRequest` with
//!    the returned message on failure; a term may be renamed, e.g. `spec.host` → `spec.nodeName`),
//! 3. `selector.matches(|f| def.strategy.field_value(obj, f))` per object.
//!
//! Values are taken from the served (external, JSON) object. A field the kind's conversion
//! accepts but whose set lacks it (e.g. `status.podIPs` on pods, `metadata.namespace` on
//! cluster-scoped kinds) matches as `""`, as upstream's `fields.Set.Get` does.

use crate::util::json::JsonExt;
use serde_json::Value;

fn int(obj: &Value, ptr: &str) -> String {
    obj.i64_at(ptr).unwrap_or(0).to_string()
}

fn boolean(obj: &Value, ptr: &str) -> String {
    obj.bool_at(ptr).unwrap_or(false).to_string()
}

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const RC_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
/// events.k8s.io/v1 labels and the core field each maps to (`pkg/apis/events/v1/conversion.go`).
const EVENTS_V1_MAPPING: &[(&str, &str)] = &[
    ("reason", "reason"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    ("regarding.resourceVersion", "involvedObject.resourceVersion"),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("source", "source"),
    ("type", "type"),
    ("metadata.namespace", "metadata.namespace"),
    ("metadata.name", "metadata.name"),
];
const NAMESPACE_FIELDS: &[&str] = &["status.phase", "metadata.name"];
const SECRET_FIELDS: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const SERVICE_FIELDS: &[&str] = &["metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"];
const JOB_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const CSR_FIELDS: &[&str] = &["metadata.name", "spec.signerName"];

/// A kind's selectable fields: upstream's field-label conversion and field set.
pub struct Fields {
    /// `Ok(label)` with the label to match on, or `Err(message)` with upstream's exact text.
    pub convert: fn(&str) -> Result<String, String>,
    /// Values of the kind's own fields (`metadata.name`/`metadata.namespace` are common).
    pub value: fn(&Value, &str) -> Option<String>,
    /// The fields `value` answers for (all but `metadata.*`): the watch cache keeps their
    /// values with each object, so selecting on them never decodes it.
    pub own: &'static [&'static str],
    /// The field the watch cache indexes: what real clients select one value of (every
    /// kubelet lists and watches its pods by `spec.nodeName`), so such a list or watch reads
    /// only the matching objects.
    pub indexed: Option<&'static str>,
}

/// The value of (already converted) `field` in `obj`'s selectable field set, or `None` when the
/// set lacks it (it then matches as `""`).
pub fn value(fields: &Fields, obj: &Value, field: &str) -> Option<String> {
    match field {
        "metadata.name" => Some(obj.text_at("/metadata/name")),
        // Cluster-scoped kinds have no namespace in their set; their objects carry none.
        "metadata.namespace" => obj.opt_str_at("/metadata/namespace").map(str::to_string),
        _ => (fields.value)(obj, field),
    }
}

fn not_supported(label: &str) -> Result<String, String> {
    Err(format!("field label not supported: {label}"))
}

fn accept(list: &[&str], label: &str) -> Result<String, String> {
    if list.contains(&label) {
        Ok(label.to_string())
    } else {
        not_supported(label)
    }
}

fn no_fields(_: &Value, _: &str) -> Option<String> {
    None
}

/// Upstream `runtime.DefaultMetaV1FieldSelectorConversion`, used by every kind without its own
/// conversion (cluster-scoped ones included: they accept `metadata.namespace` and match it as
/// `""`).
pub fn default_conversion(label: &str) -> Result<String, String> {
    match label {
        "metadata.name" | "metadata.namespace" => Ok(label.to_string()),
        _ => Err(format!(
            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            go_quote(label)
        )),
    }
}

pub const DEFAULT: Fields = Fields {
    convert: default_conversion,
    value: no_fields,
    own: &[],
    indexed: None,
};

pub const POD: Fields = Fields {
    convert: |label| match label {
        // Backwards compatibility with old v1 clients.
        "spec.host" => Ok("spec.nodeName".to_string()),
        _ => accept(POD_FIELDS, label),
    },
    value: |obj, field| {
        Some(match field {
            "spec.nodeName" => obj.text_at("/spec/nodeName"),
            "spec.restartPolicy" => obj.text_at("/spec/restartPolicy"),
            "spec.schedulerName" => obj.text_at("/spec/schedulerName"),
            "spec.serviceAccountName" => obj.text_at("/spec/serviceAccountName"),
            "spec.hostNetwork" => boolean(obj, "/spec/hostNetwork"),
            "status.phase" => obj.text_at("/status/phase"),
            "status.podIP" => obj.text_at("/status/podIPs/0/ip"),
            "status.nominatedNodeName" => obj.text_at("/status/nominatedNodeName"),
            _ => return None,
        })
    },
    own: POD_FIELDS.split_at(2).1,
    indexed: Some("spec.nodeName"),
};

pub const NODE: Fields = Fields {
    convert: |label| accept(NODE_FIELDS, label),
    value: |obj, field| (field == "spec.unschedulable").then(|| boolean(obj, "/spec/unschedulable")),
    own: NODE_FIELDS.split_at(1).1,
    indexed: None,
};

pub const REPLICATION_CONTROLLER: Fields = Fields {
    convert: |label| accept(RC_FIELDS, label),
    value: |obj, field| (field == "status.replicas").then(|| int(obj, "/status/replicas")),
    own: RC_FIELDS.split_at(2).1,
    indexed: None,
};

pub const EVENT: Fields = Fields {
    convert: |label| accept(EVENT_FIELDS, label),
    value: event_field,
    own: EVENT_FIELDS.split_at(11).0,
    indexed: None,
};

pub const EVENT_V1: Fields = Fields {
    convert: |label| match EVENTS_V1_MAPPING.iter().find(|(l, _)| *l == label) {
        Some((_, mapped)) => Ok(mapped.to_string()),
        None => not_supported(label),
    },
    value: event_field,
    own: EVENT_FIELDS.split_at(11).0,
    indexed: None,
};

pub const NAMESPACE: Fields = Fields {
    convert: |label| accept(NAMESPACE_FIELDS, label),
    value: |obj, field| match field {
        "status.phase" => Some(obj.text_at("/status/phase")),
        // Upstream keeps this (buggy) legacy field in the namespace set.
        "name" => Some(obj.text_at("/metadata/name")),
        _ => None,
    },
    own: NAMESPACE_FIELDS.split_at(1).0,
    indexed: None,
};

pub const SECRET: Fields = Fields {
    convert: |label| accept(SECRET_FIELDS, label),
    value: |obj, field| (field == "type").then(|| obj.text_at("/type")),
    own: SECRET_FIELDS.split_at(1).0,
    indexed: None,
};

pub const SERVICE: Fields = Fields {
    convert: |label| accept(SERVICE_FIELDS, label),
    value: |obj, field| match field {
        "spec.clusterIP" => Some(obj.text_at("/spec/clusterIP")),
        "spec.type" => Some(obj.text_at("/spec/type")),
        _ => None,
    },
    own: SERVICE_FIELDS.split_at(2).1,
    indexed: None,
};

pub const JOB: Fields = Fields {
    convert: |label| {
        if JOB_FIELDS.contains(&label) {
            Ok(label.to_string())
        } else {
            Err(format!("field label {} not supported for batchv1.Job", go_quote(label)))
        }
    },
    value: |obj, field| (field == "status.successful").then(|| int(obj, "/status/succeeded")),
    own: JOB_FIELDS.split_at(2).1,
    indexed: None,
};

pub const CERTIFICATE_SIGNING_REQUEST: Fields = Fields {
    convert: |label| accept(CSR_FIELDS, label),
    value: |obj, field| (field == "spec.signerName").then(|| obj.text_at("/spec/signerName")),
    own: CSR_FIELDS.split_at(1).1,
    indexed: None,
};

const RESOURCE_SLICE_FIELDS: &[&str] = &["metadata.name", "spec.nodeName", "spec.driver"];

/// `resource.k8s.io` ResourceSlices, per version (the conversion's message names it):
/// `metadata.name`, `spec.nodeName` (indexed, as upstream's watch cache: each kubelet's DRA
/// plugins watch their node's slices) and `spec.driver`; no `metadata.namespace`.
const fn resource_slice(convert: fn(&str) -> Result<String, String>) -> Fields {
    Fields {
        convert,
        value: |obj, field| match field {
            "spec.nodeName" => Some(obj.text_at("/spec/nodeName")),
            "spec.driver" => Some(obj.text_at("/spec/driver")),
            _ => None,
        },
        own: RESOURCE_SLICE_FIELDS.split_at(1).1,
        indexed: Some("spec.nodeName"),
    }
}

fn resource_slice_label(version: &str, label: &str) -> Result<String, String> {
    if RESOURCE_SLICE_FIELDS.contains(&label) {
        Ok(label.to_string())
    } else {
        Err(format!(
            "field label not supported for resource.k8s.io/{version}, Kind=ResourceSlice: {label}"
        ))
    }
}

pub const RESOURCE_SLICE_V1BETA2: Fields = resource_slice(|l| resource_slice_label("v1beta2", l));
pub const RESOURCE_SLICE_V1BETA1: Fields = resource_slice(|l| resource_slice_label("v1beta1", l));
pub const RESOURCE_SLICE_V1ALPHA3: Fields = resource_slice(|l| resource_slice_label("v1alpha3", l));

/// Field-label conversion for a custom resource (apiextensions `crConverter`): `metadata.name`,
/// `metadata.namespace` for namespaced CRDs, and the version's `selectableFields` (given as
/// field labels without the leading dot, e.g. `spec.color`).
pub fn convert_custom_field_label(label: &str, cluster_scoped: bool, selectable: &[String]) -> Result<String, String> {
    if label == "metadata.name"
        || (!cluster_scoped && label == "metadata.namespace")
        || selectable.iter().any(|f| f == label)
    {
        Ok(label.to_string())
    } else {
        not_supported(label)
    }
}

/// The value at a dotted field path (`spec.color`) of a custom resource, formatted as upstream
/// formats selectable-field values (strings as-is, integers and booleans in decimal/`true`).
pub fn value_at_path(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for part in path.trim_start_matches('.').split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Event fields (core names) from either a core/v1 or an events.k8s.io/v1 object.
fn event_field(obj: &Value, field: &str) -> Option<String> {
    let core = obj.get("involvedObject").is_some() || obj.get("regarding").is_none();
    let reference = if core { "/involvedObject" } else { "/regarding" };
    let reporting = if core {
        "/reportingComponent"
    } else {
        "/reportingController"
    };
    Some(match field {
        "involvedObject.kind" => obj.text_at(&format!("{reference}/kind")),
        "involvedObject.namespace" => obj.text_at(&format!("{reference}/namespace")),
        "involvedObject.name" => obj.text_at(&format!("{reference}/name")),
        "involvedObject.uid" => obj.text_at(&format!("{reference}/uid")),
        "involvedObject.apiVersion" => obj.text_at(&format!("{reference}/apiVersion")),
        "involvedObject.resourceVersion" => obj.text_at(&format!("{reference}/resourceVersion")),
        "involvedObject.fieldPath" => obj.text_at(&format!("{reference}/fieldPath")),
        "reason" => obj.text_at("/reason"),
        "reportingComponent" => obj.text_at(reporting),
        "source" => {
            let component = if core {
                obj.text_at("/source/component")
            } else {
                obj.text_at("/deprecatedSource/component")
            };
            if component.is_empty() {
                obj.text_at(reporting)
            } else {
                component
            }
        }
        "type" => obj.text_at("/type"),
        _ => return None,
    })
}

fn go_quote(s: &str) -> String {
    crate::util::go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The cache keeps the values of `own` (selectors then never decode an object): it must
    /// name every field the kind's conversion accepts besides `metadata.*`, and only those.
    #[test]
    fn own_fields_are_the_accepted_non_metadata_fields() {
        let kinds: [(&Fields, &[&str]); 10] = [
            (&POD, POD_FIELDS),
            (&NODE, NODE_FIELDS),
            (&REPLICATION_CONTROLLER, RC_FIELDS),
            (&EVENT, EVENT_FIELDS),
            (&EVENT_V1, EVENT_FIELDS),
            (&NAMESPACE, NAMESPACE_FIELDS),
            (&SECRET, SECRET_FIELDS),
            (&SERVICE, SERVICE_FIELDS),
            (&JOB, JOB_FIELDS),
            (&CERTIFICATE_SIGNING_REQUEST, CSR_FIELDS),
        ];
        for (fields, accepted) in kinds {
            let mut want: Vec<&str> = accepted
                .iter()
                .copied()
                .filter(|f| !f.starts_with("metadata."))
                .collect();
            let mut own = fields.own.to_vec();
            want.sort();
            own.sort();
            assert_eq!(own, want);
        }
        assert!(DEFAULT.own.is_empty());
    }

    #[test]
    fn default_kinds_reject_unknown_fields_with_upstream_text() {
        assert_eq!(
            (DEFAULT.convert)("foo.bar").unwrap_err(),
            "\"foo.bar\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        // cluster-scoped kinds without their own conversion still accept metadata.namespace
        assert_eq!((DEFAULT.convert)("metadata.namespace").unwrap(), "metadata.namespace");
    }

    #[test]
    fn kinds_with_conversions() {
        assert_eq!((POD.convert)("spec.host").unwrap(), "spec.nodeName");
        assert_eq!((POD.convert)("status.podIPs").unwrap(), "status.podIPs");
        assert_eq!(
            (POD.convert)("foo.bar").unwrap_err(),
            "field label not supported: foo.bar"
        );
        assert_eq!(
            (NODE.convert)("metadata.namespace").unwrap_err(),
            "field label not supported: metadata.namespace"
        );
        assert_eq!(
            (JOB.convert)("status.succeeded").unwrap_err(),
            "field label \"status.succeeded\" not supported for batchv1.Job"
        );
        assert_eq!((EVENT_V1.convert)("regarding.name").unwrap(), "involvedObject.name");
        assert_eq!(
            (EVENT_V1.convert)("involvedObject.name").unwrap_err(),
            "field label not supported: involvedObject.name"
        );
        assert_eq!((SERVICE.convert)("spec.clusterIP").unwrap(), "spec.clusterIP");
        assert_eq!(
            convert_custom_field_label("metadata.namespace", true, &[]).unwrap_err(),
            "field label not supported: metadata.namespace"
        );
        assert_eq!(
            convert_custom_field_label("spec.color", false, &["spec.color".to_string()]).unwrap(),
            "spec.color"
        );
    }

    #[test]
    fn pod_field_values() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always"},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}});
        let v = |f: &str| value(&POD, &pod, f);
        assert_eq!(v("metadata.namespace").as_deref(), Some("ns"));
        assert_eq!(v("spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(v("spec.hostNetwork").as_deref(), Some("false"));
        assert_eq!(v("status.podIP").as_deref(), Some("10.0.0.1"));
        assert_eq!(v("status.nominatedNodeName").as_deref(), Some(""));
        assert_eq!(v("status.podIPs"), None);
    }

    #[test]
    fn event_field_values_from_both_apis() {
        let core = json!({"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started",
            "source": {}, "reportingComponent": "kubelet", "type": "Normal"});
        assert_eq!(value(&EVENT, &core, "involvedObject.name").as_deref(), Some("p"));
        assert_eq!(value(&EVENT, &core, "source").as_deref(), Some("kubelet"));
        let v1 = json!({"regarding": {"kind": "Pod", "name": "q"}, "reportingController": "sched",
            "deprecatedSource": {"component": "old"}});
        assert_eq!(value(&EVENT_V1, &v1, "involvedObject.name").as_deref(), Some("q"));
        assert_eq!(value(&EVENT_V1, &v1, "reportingComponent").as_deref(), Some("sched"));
        assert_eq!(value(&EVENT_V1, &v1, "source").as_deref(), Some("old"));
    }

    #[test]
    fn other_field_values() {
        let job = json!({"status": {"succeeded": 3}});
        assert_eq!(value(&JOB, &job, "status.successful").as_deref(), Some("3"));
        let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
        assert_eq!(value(&NODE, &node, "spec.unschedulable").as_deref(), Some("true"));
        assert_eq!(value(&NODE, &node, "metadata.namespace"), None);
        assert_eq!(
            value_at_path(&json!({"spec": {"n": 2}}), ".spec.n").as_deref(),
            Some("2")
        );
    }
}
