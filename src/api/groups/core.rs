//! Core group (`/api/v1`), in the alphabetical order `/api/v1` lists them.
//!
//! Sources: `api/discovery/api__v1.json` (verbs, short names, categories, subresource kinds),
//! `pkg/registry/core/rest/storage_core.go` (which subresources a 1.33 server installs:
//! `pods/resize` is there because `InPlacePodVerticalScaling` is beta and on in 1.33) and
//! `test/integration/etcd/data.go` (etcd key layout).

use super::{core_kind, def, CREATE, CREATE_GET, GET, GET_LIST, PROXY_VERBS, UPDATE};
use crate::api::*;

const POD_SUBRESOURCES: &[SubresourceDef] = &[
    SubresourceDef {
        name: "attach",
        response: core_kind("PodAttachOptions"),
        verbs: CREATE_GET,
        served: Served::Connect,
    },
    SubresourceDef {
        name: "binding",
        response: core_kind("Binding"),
        verbs: CREATE,
        served: Served::Connect,
    },
    SubresourceDef {
        name: "ephemeralcontainers",
        response: None,
        verbs: STATUS_VERBS,
        served: Served::Connect,
    },
    SubresourceDef {
        name: "eviction",
        response: Some(Gvk {
            group: "policy",
            version: "v1",
            kind: "Eviction",
        }),
        verbs: CREATE,
        served: Served::Connect,
    },
    SubresourceDef {
        name: "exec",
        response: core_kind("PodExecOptions"),
        verbs: CREATE_GET,
        served: Served::Connect,
    },
    SubresourceDef {
        name: "log",
        response: None,
        verbs: GET,
        served: Served::Connect,
    },
    SubresourceDef {
        name: "portforward",
        response: core_kind("PodPortForwardOptions"),
        verbs: CREATE_GET,
        served: Served::Connect,
    },
    SubresourceDef {
        name: "proxy",
        response: core_kind("PodProxyOptions"),
        verbs: PROXY_VERBS,
        served: Served::Connect,
    },
    SubresourceDef {
        name: "resize",
        response: None,
        verbs: STATUS_VERBS,
        served: Served::NotYet("core-pods"),
    },
    STATUS,
];

pub const ROWS: &[ResourceDef] = &[
    // Legacy pod binding: a virtual create-only resource that writes to pods.
    ResourceDef {
        verbs: CREATE,
        storage: "",
        served: Served::Connect,
        ..def("", "v1", "Binding", "bindings", "binding", Scope::Namespaced)
    },
    // Deprecated; computed from health probes, never stored.
    ResourceDef {
        short_names: &["cs"],
        verbs: GET_LIST,
        storage: "",
        served: Served::NotYet("core"),
        ..def(
            "",
            "v1",
            "ComponentStatus",
            "componentstatuses",
            "componentstatus",
            Scope::Cluster,
        )
    },
    ResourceDef {
        short_names: &["cm"],
        ..def("", "v1", "ConfigMap", "configmaps", "configmap", Scope::Namespaced)
    },
    ResourceDef {
        short_names: &["ep"],
        storage: "services/endpoints",
        ..def("", "v1", "Endpoints", "endpoints", "endpoints", Scope::Namespaced)
    },
    // Core events skip metadata.name validation (legacy rules only), so only the path-segment
    // rule every key obeys applies.
    ResourceDef {
        short_names: &["ev"],
        name_rule: NameRule::PathSegment,
        ..def("", "v1", "Event", "events", "event", Scope::Namespaced)
    },
    ResourceDef {
        short_names: &["limits"],
        ..def("", "v1", "LimitRange", "limitranges", "limitrange", Scope::Namespaced)
    },
    ResourceDef {
        short_names: &["ns"],
        verbs: NO_COLLECTION_DELETE,
        subresources: &[
            // Stored: an update that only replaces spec.finalizers.
            SubresourceDef {
                name: "finalize",
                response: None,
                verbs: UPDATE,
                served: Served::Stored,
            },
            STATUS,
        ],
        name_rule: NameRule::Label,
        ..def("", "v1", "Namespace", "namespaces", "namespace", Scope::Cluster)
    },
    ResourceDef {
        short_names: &["no"],
        subresources: &[
            SubresourceDef {
                name: "proxy",
                response: core_kind("NodeProxyOptions"),
                verbs: PROXY_VERBS,
                served: Served::Connect,
            },
            STATUS,
        ],
        storage: "minions",
        ..def("", "v1", "Node", "nodes", "node", Scope::Cluster)
    },
    ResourceDef {
        short_names: &["pvc"],
        subresources: &[STATUS],
        ..def(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        short_names: &["pv"],
        subresources: &[STATUS],
        ..def(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            "persistentvolume",
            Scope::Cluster,
        )
    },
    // 1.33 sets metadata.generation on pods unconditionally (KEP-5067).
    ResourceDef {
        short_names: &["po"],
        categories: &["all"],
        subresources: POD_SUBRESOURCES,
        generation: true,
        ..def("", "v1", "Pod", "pods", "pod", Scope::Namespaced)
    },
    // The pod template strategy starts generation at 1 and bumps it on template changes.
    ResourceDef {
        generation: true,
        ..def(
            "",
            "v1",
            "PodTemplate",
            "podtemplates",
            "podtemplate",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        short_names: &["rc"],
        categories: &["all"],
        subresources: &[SCALE, STATUS],
        storage: "controllers",
        generation: true,
        ..def(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            "replicationcontroller",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        short_names: &["quota"],
        subresources: &[STATUS],
        ..def(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            "resourcequota",
            Scope::Namespaced,
        )
    },
    def("", "v1", "Secret", "secrets", "secret", Scope::Namespaced),
    ResourceDef {
        short_names: &["sa"],
        subresources: &[SubresourceDef {
            name: "token",
            response: Some(Gvk {
                group: "authentication.k8s.io",
                version: "v1",
                kind: "TokenRequest",
            }),
            verbs: CREATE,
            served: Served::Review,
        }],
        ..def(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            "serviceaccount",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[
            SubresourceDef {
                name: "proxy",
                response: core_kind("ServiceProxyOptions"),
                verbs: PROXY_VERBS,
                served: Served::Connect,
            },
            STATUS,
        ],
        storage: "services/specs",
        name_rule: NameRule::Rfc1035Label,
        ..def("", "v1", "Service", "services", "service", Scope::Namespaced)
    },
];
