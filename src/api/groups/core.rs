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
        served: Served::Pod(PodWrite::Binding),
    },
    SubresourceDef {
        name: "ephemeralcontainers",
        response: None,
        verbs: STATUS_VERBS,
        served: Served::Pod(PodWrite::EphemeralContainers),
    },
    SubresourceDef {
        name: "eviction",
        response: Some(Gvk {
            group: "policy",
            version: "v1",
            kind: "Eviction",
        }),
        verbs: CREATE,
        served: Served::Pod(PodWrite::Eviction),
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
        served: Served::Proxy,
    },
    SubresourceDef {
        name: "resize",
        response: None,
        verbs: STATUS_VERBS,
        served: Served::Store,
    },
    STATUS,
];

pub const ROWS: &[ResourceDef] = &[
    // Legacy pod binding: a virtual create-only resource that writes to pods.
    ResourceDef {
        verbs: CREATE,
        storage: "",
        served: Served::Pod(PodWrite::Binding),
        ..def("", "v1", "Binding", "bindings", "binding", Scope::Namespaced)
    },
    // Deprecated; computed from health probes, never stored.
    ResourceDef {
        short_names: &["cs"],
        verbs: GET_LIST,
        storage: "",
        served: Served::Probed,
        strategy: &COMPONENT_STATUS,
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
        strategy: &CONFIG_MAP,
        ..def("", "v1", "ConfigMap", "configmaps", "configmap", Scope::Namespaced)
    },
    ResourceDef {
        short_names: &["ep"],
        storage: "services/endpoints",
        strategy: &ENDPOINTS,
        ..def("", "v1", "Endpoints", "endpoints", "endpoints", Scope::Namespaced)
    },
    // Core events skip metadata.name validation (legacy rules only), so only the path-segment
    // rule every key obeys applies.
    ResourceDef {
        short_names: &["ev"],
        name_rule: NameRule::PathSegment,
        strategy: &EVENT,
        ..def("", "v1", "Event", "events", "event", Scope::Namespaced)
    },
    ResourceDef {
        short_names: &["limits"],
        strategy: &LIMIT_RANGE,
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
                served: Served::Store,
            },
            STATUS,
        ],
        name_rule: NameRule::Label,
        strategy: &NAMESPACE,
        ..def("", "v1", "Namespace", "namespaces", "namespace", Scope::Cluster)
    },
    ResourceDef {
        short_names: &["no"],
        subresources: &[
            SubresourceDef {
                name: "proxy",
                response: core_kind("NodeProxyOptions"),
                verbs: PROXY_VERBS,
                served: Served::Proxy,
            },
            STATUS,
        ],
        storage: "minions",
        strategy: &NODE,
        ..def("", "v1", "Node", "nodes", "node", Scope::Cluster)
    },
    ResourceDef {
        short_names: &["pvc"],
        subresources: &[STATUS],
        strategy: &PERSISTENT_VOLUME_CLAIM,
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
        strategy: &PERSISTENT_VOLUME,
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
        strategy: &POD,
        ..def("", "v1", "Pod", "pods", "pod", Scope::Namespaced)
    },
    // The pod template strategy starts generation at 1 and bumps it on template changes.
    ResourceDef {
        generation: true,
        strategy: &POD_TEMPLATE,
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
        strategy: &REPLICATION_CONTROLLER,
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
        strategy: &RESOURCE_QUOTA,
        ..def(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            "resourcequota",
            Scope::Namespaced,
        )
    },
    ResourceDef {
        strategy: &SECRET,
        ..def("", "v1", "Secret", "secrets", "secret", Scope::Namespaced)
    },
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
        strategy: &SERVICE_ACCOUNT,
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
                served: Served::Proxy,
            },
            STATUS,
        ],
        storage: "services/specs",
        name_rule: NameRule::Rfc1035Label,
        strategy: &SERVICE,
        ..def("", "v1", "Service", "services", "service", Scope::Namespaced)
    },
];

// Per-kind behaviour of this group's rows.

const COMPONENT_STATUS: Builtin = Builtin {
    printer: &table::COMPONENT_STATUS,
    deprecation: Some("v1 ComponentStatus is deprecated in v1.19+"),
    ..Builtin::DEFAULT
};

const CONFIG_MAP: Builtin = Builtin {
    printer: &table::CONFIG_MAP,
    ..strategy::core::CONFIG_MAP
};

const ENDPOINTS: Builtin = Builtin {
    printer: &table::ENDPOINTS,
    deprecation: Some("v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"),
    ..strategy::core::ENDPOINTS
};

const EVENT: Builtin = Builtin {
    printer: &table::EVENT,
    fields: &fields::EVENT,
    expiry: Expiry::EventTtl,
    ..strategy::core::EVENT
};

const LIMIT_RANGE: Builtin = Builtin {
    ..strategy::core::LIMIT_RANGE
};

const NAMESPACE: Builtin = Builtin {
    printer: &table::NAMESPACE,
    fields: &fields::NAMESPACE,
    returns_deleted_object: true,
    ..strategy::core::NAMESPACE
};

const NODE: Builtin = Builtin {
    printer: &table::NODE,
    fields: &fields::NODE,
    ..strategy::core::NODE
};

const PERSISTENT_VOLUME_CLAIM: Builtin = Builtin {
    printer: &table::PERSISTENT_VOLUME_CLAIM,
    ..strategy::core::PERSISTENT_VOLUME_CLAIM
};

const PERSISTENT_VOLUME: Builtin = Builtin {
    printer: &table::PERSISTENT_VOLUME,
    ..strategy::core::PERSISTENT_VOLUME
};

const POD: Builtin = Builtin {
    printer: &table::POD,
    fields: &fields::POD,
    returns_deleted_object: true,
    grace_period: strategy::core::pod_grace_period,
    ..strategy::core::POD
};

const POD_TEMPLATE: Builtin = Builtin {
    printer: &table::POD_TEMPLATE,
    ..strategy::core::POD_TEMPLATE
};

const REPLICATION_CONTROLLER: Builtin = Builtin {
    printer: &table::REPLICATION_CONTROLLER,
    fields: &fields::REPLICATION_CONTROLLER,
    default_replicas: 1,
    ..strategy::core::REPLICATION_CONTROLLER
};

const RESOURCE_QUOTA: Builtin = Builtin {
    printer: &table::RESOURCE_QUOTA,
    ..strategy::core::RESOURCE_QUOTA
};

const SECRET: Builtin = Builtin {
    printer: &table::SECRET,
    fields: &fields::SECRET,
    ..strategy::core::SECRET
};

const SERVICE_ACCOUNT: Builtin = Builtin {
    printer: &table::SERVICE_ACCOUNT,
    returns_deleted_object: true,
    ..strategy::core::SERVICE_ACCOUNT
};

const SERVICE: Builtin = Builtin {
    printer: &table::SERVICE,
    fields: &fields::SERVICE,
    returns_deleted_object: true,
    ..strategy::core::SERVICE
};
