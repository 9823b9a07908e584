//! Builds [`Schemas`] for every built-in kind from k8s-openapi's schemars output (structure and
//! descriptions, upstream definition names) and our patch-metadata table (`patch_meta.txt`,
//! generated from upstream Go struct tags and `+listType`/`+mapType`/`+structType` markers). Run by `build.rs`
//! (which stores the result with `codec.rs`) and by the unit tests; the server binary does not
//! contain k8s-openapi.

use super::convert::{apply_meta, to_node};
use super::{Node, Schemas, Ty, TypeRef};
use k8s_openapi::schemars::{generate::SchemaSettings, JsonSchema, SchemaGenerator};
use k8s_openapi::Resource;

/// Upstream field metadata: `<definition> <field|.> [patch=] [key=] [list=] [keys=] [map=]`.
const PATCH_META: &str = include_str!("patch_meta.txt");

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1";

struct Collect<'a> {
    gen: SchemaGenerator,
    /// (group, version, kind, definition name)
    kinds: Vec<(&'static str, &'static str, &'static str, String)>,
    sink: Option<&'a mut Schemas>,
}

impl Collect<'_> {
    fn kind<T: JsonSchema + Resource>(&mut self) {
        self.def::<T>();
        self.kinds
            .push((T::GROUP, T::VERSION, T::KIND, T::schema_name().into_owned()));
    }
    fn def<T: JsonSchema>(&mut self) {
        let _ = self.gen.subschema_for::<T>();
        if let Some(s) = self.sink.as_deref_mut() {
            drain_into(&mut self.gen, s);
        }
    }
}

macro_rules! kinds {
    ($c:ident; $($p:path),* $(,)?) => { $( $c.kind::<$p>(); )* };
}

fn register(c: &mut Collect<'_>) {
    use k8s_openapi::api as a;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apireg;
    kinds!(c;
        a::core::v1::Binding, a::core::v1::ComponentStatus, a::core::v1::ConfigMap, a::core::v1::Endpoints,
        a::core::v1::Event, a::core::v1::LimitRange, a::core::v1::Namespace, a::core::v1::Node,
        a::core::v1::PersistentVolume, a::core::v1::PersistentVolumeClaim, a::core::v1::Pod,
        a::core::v1::PodTemplate, a::core::v1::ReplicationController, a::core::v1::ResourceQuota,
        a::core::v1::Secret, a::core::v1::Service, a::core::v1::ServiceAccount,
        a::admissionregistration::v1::MutatingWebhookConfiguration,
        a::admissionregistration::v1::ValidatingAdmissionPolicy,
        a::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        a::admissionregistration::v1::ValidatingWebhookConfiguration,
        a::admissionregistration::v1beta1::ValidatingAdmissionPolicy,
        a::admissionregistration::v1beta1::ValidatingAdmissionPolicyBinding,
        a::admissionregistration::v1alpha1::MutatingAdmissionPolicy,
        a::admissionregistration::v1alpha1::MutatingAdmissionPolicyBinding,
        a::apps::v1::ControllerRevision, a::apps::v1::DaemonSet, a::apps::v1::Deployment, a::apps::v1::ReplicaSet,
        a::apps::v1::StatefulSet,
        a::authentication::v1::SelfSubjectReview, a::authentication::v1::TokenRequest,
        a::authentication::v1::TokenReview,
        a::authorization::v1::LocalSubjectAccessReview, a::authorization::v1::SelfSubjectAccessReview,
        a::authorization::v1::SelfSubjectRulesReview, a::authorization::v1::SubjectAccessReview,
        a::autoscaling::v1::HorizontalPodAutoscaler, a::autoscaling::v1::Scale, a::autoscaling::v2::HorizontalPodAutoscaler,
        a::batch::v1::CronJob, a::batch::v1::Job,
        a::certificates::v1::CertificateSigningRequest,
        a::coordination::v1::Lease,
        a::coordination::v1beta1::LeaseCandidate, a::coordination::v1alpha2::LeaseCandidate,
        a::discovery::v1::EndpointSlice,
        a::events::v1::Event,
        a::flowcontrol::v1::FlowSchema, a::flowcontrol::v1::PriorityLevelConfiguration,
        a::networking::v1::Ingress, a::networking::v1::IngressClass, a::networking::v1::IPAddress,
        a::networking::v1::NetworkPolicy, a::networking::v1::ServiceCIDR,
        a::networking::v1beta1::IPAddress, a::networking::v1beta1::ServiceCIDR,
        a::node::v1::RuntimeClass,
        a::policy::v1::Eviction, a::policy::v1::PodDisruptionBudget,
        a::resource::v1beta2::DeviceClass, a::resource::v1beta2::ResourceClaim,
        a::resource::v1beta2::ResourceClaimTemplate, a::resource::v1beta2::ResourceSlice,
        a::resource::v1beta1::DeviceClass, a::resource::v1beta1::ResourceClaim,
        a::resource::v1beta1::ResourceClaimTemplate, a::resource::v1beta1::ResourceSlice,
        a::resource::v1alpha3::DeviceClass, a::resource::v1alpha3::DeviceTaintRule,
        a::resource::v1alpha3::ResourceClaim, a::resource::v1alpha3::ResourceClaimTemplate,
        a::resource::v1alpha3::ResourceSlice,
        a::rbac::v1::ClusterRole, a::rbac::v1::ClusterRoleBinding, a::rbac::v1::Role, a::rbac::v1::RoleBinding,
        a::scheduling::v1::PriorityClass,
        a::storage::v1::CSIDriver, a::storage::v1::CSINode, a::storage::v1::CSIStorageCapacity,
        a::storage::v1::StorageClass, a::storage::v1::VolumeAttachment,
        a::storage::v1beta1::VolumeAttributesClass, a::storage::v1alpha1::VolumeAttributesClass,
        a::apiserverinternal::v1alpha1::StorageVersion,
        apiext::CustomResourceDefinition,
        apireg::APIService,
        meta::Status,
    );
    c.def::<meta::DeleteOptions>();
    c.def::<meta::ListMeta>();
    c.def::<meta::Patch>();
    c.def::<meta::WatchEvent<serde_json::Value>>();
}

/// Converts the generator's definitions into `s`, dropping each JSON schema as it goes.
fn drain_into(gen: &mut SchemaGenerator, s: &mut Schemas) {
    for (name, v) in gen.take_definitions(false) {
        if s.contains(&name) {
            continue;
        }
        let mut node = to_node(&v);
        // apiextensions JSON holds any JSON value, not only objects.
        if name.ends_with(".apiextensions.v1.JSON") {
            node.ty = Ty::Any;
        }
        s.insert(name, node);
    }
}

/// Every registered definition, converted kind by kind so the intermediate JSON never holds more
/// than one kind's closure, and the kinds' (group, version, kind, definition name).
fn collect() -> (Schemas, Vec<(&'static str, &'static str, &'static str, String)>) {
    let mut s = Schemas::default();
    let mut c = Collect {
        gen: SchemaGenerator::new(SchemaSettings::draft2020_12()),
        kinds: Vec::new(),
        sink: Some(&mut s),
    };
    register(&mut c);
    let kinds = std::mem::take(&mut c.kinds);
    drop(c);
    (s, kinds)
}

/// Builds the schemas of every built-in kind.
pub(super) fn build() -> Schemas {
    let (mut s, kinds) = collect();
    for (g, v, k, def) in kinds {
        // k8s-openapi requires `metadata` (its Rust field is not optional); upstream does not.
        if let Some(n) = s.def_mut(&def) {
            n.required.retain(|r| r != "metadata");
        }
        s.kinds
            .insert((g.to_string(), v.to_string(), k.to_string()), def.clone());
        if !listable(k) {
            continue;
        }
        let list_name = format!("{def}List");
        s.insert(list_name.clone(), list_def(&def, k));
        s.kinds
            .insert((g.to_string(), v.to_string(), format!("{k}List")), list_name);
    }
    let _ = apply_patch_meta(&mut s, PATCH_META);
    s
}

/// The patch-metadata lines that match no definition (for tests).
#[allow(dead_code)]
pub(super) fn unmatched_patch_meta() -> Vec<String> {
    apply_patch_meta(&mut collect().0, PATCH_META)
}

/// Applies the patch-metadata table; returns the lines that matched nothing (for tests).
fn apply_patch_meta(s: &mut Schemas, table: &str) -> Vec<String> {
    let mut unmatched = Vec::new();
    for line in table.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [def, field, attrs @ ..] = parts.as_slice() else {
            continue;
        };
        // Metadata on a field whose schema is a shared definition: the field gets its own copy.
        let copy = match s.def(def).and_then(|n| n.fields.get(*field)) {
            Some(TypeRef::Named(name)) if attrs.iter().any(|a| !a.starts_with("list=")) => {
                s.def(name).map(|target| (name.clone(), target.clone()))
            }
            _ => None,
        };
        let Some(node) = s.def_mut(def) else {
            unmatched.push(line.to_string());
            continue;
        };
        if *field == "." {
            apply_meta(node, attrs);
            continue;
        }
        if let Some((name, mut target)) = copy {
            if let Some(d) = node.field_docs.remove(*field) {
                target.description = d;
            }
            target.copy_of = Some(name);
            apply_meta(&mut target, attrs);
            node.fields.insert(field.to_string(), TypeRef::Inline(Box::new(target)));
            continue;
        }
        match node.fields.get_mut(*field) {
            Some(TypeRef::Inline(n)) => apply_meta(n, attrs),
            // `+listType` on a struct field (meta/v1 Status.details) has no effect upstream either.
            Some(TypeRef::Named(_)) => {}
            None => unmatched.push(line.to_string()),
        }
    }
    unmatched
}

/// `<Kind>List` definitions (k8s-openapi has no schema for its generic `List<T>`).
fn list_def(kind_def: &str, kind: &str) -> Node {
    let mut n = Node {
        ty: Ty::Object,
        description: format!("{kind}List is a list of {kind} objects.").into(),
        required: vec!["items".to_string()],
        ..Default::default()
    };
    let s = |d: &str| {
        TypeRef::Inline(Box::new(Node {
            ty: Ty::String,
            description: d.into(),
            ..Default::default()
        }))
    };
    n.fields.insert(
        "apiVersion".into(),
        s("APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"),
    );
    n.fields.insert(
        "kind".into(),
        s("Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"),
    );
    n.fields.insert(
        "items".into(),
        TypeRef::Inline(Box::new(Node {
            ty: Ty::Array,
            description: format!("List of {kind} objects.").into(),
            items: Some(Box::new(TypeRef::Named(kind_def.to_string()))),
            ..Default::default()
        })),
    );
    n.fields
        .insert("metadata".into(), TypeRef::Named(format!("{META}.ListMeta")));
    n.field_docs.insert(
        "metadata".into(),
        "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds".into(),
    );
    n
}

/// Kinds upstream serves lists of (reviews, subresource and status kinds have none).
fn listable(kind: &str) -> bool {
    !(kind.ends_with("Review") || matches!(kind, "Status" | "Eviction" | "Binding" | "Scale" | "TokenRequest"))
}
