//! Server-side Table printing (`meta.k8s.io/v1 Table`): upstream's columns and cells per kind
//! (`pkg/printers/internalversion/printers.go` `AddHandlers`) and the default Name/Created At
//! table for kinds without a printer.
//!
//! The apiserver always prints with `Wide: true`, so every row carries a cell for every column
//! (priority-1 columns included); `rows[].cells` follow `columnDefinitions` order. Cells are JSON
//! strings, except where upstream puts an integer or a boolean in the cell.
//!
//! ```
//! use capstan::api::table::{human_duration, CONFIG_MAP};
//! use std::time::{Duration, SystemTime};
//! let p = &CONFIG_MAP;
//! assert_eq!(p.columns[1].name, "Data");
//! let cm = serde_json::json!({"metadata": {"name": "c"}, "data": {"a": "1"}});
//! assert_eq!((p.cells)(&cm, SystemTime::now())[1], 1);
//! assert_eq!(human_duration(Duration::from_secs(200)), "3m20s");
//! ```

use crate::api::selector::{format_label_selector, format_labels, label_selector_string};
use crate::util::json::JsonExt;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

impl Column {
    pub fn definition(&self) -> Value {
        json!({"name": self.name, "type": self.type_, "format": self.format,
               "description": self.description, "priority": self.priority})
    }
}

pub struct Printer {
    pub columns: &'static [Column],
    /// Cells of one row, in column order.
    pub cells: fn(&Value, SystemTime) -> Vec<Value>,
    /// `rows[].conditions` upstream sets for the row (None: no conditions).
    pub conditions: fn(&Value) -> Option<Value>,
}

fn no_conditions(_: &Value) -> Option<Value> {
    None
}

const fn c(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// A priority-1 ("wide") column.
const fn w(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: D_NAME,
    priority: 0,
};
const AGE: Column = c("Age", "string", D_AGE);
const CONTAINERS: Column = w("Containers", "string", "Names of each container in the template.");
const IMAGES: Column = w(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

// Descriptions: upstream takes them from the types' swagger docs (`SwaggerDoc()`), the same text
// as the OpenAPI field descriptions.
pub const D_NAME: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub const D_AGE: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const D_POD_IP: &str =
    "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.";
const D_POD_NODE: &str = "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename";
const D_POD_NOMINATED: &str = "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.";
const D_POD_GATES: &str = "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates";
const D_NODE_SELECTOR: &str = "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/";
const D_RC_SPEC_REPLICAS: &str = "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller";
const D_RC_SELECTOR: &str = "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const D_RC_STATUS_REPLICAS: &str = "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller";
const D_RC_READY: &str = "The number of ready replicas for this replication controller.";
const D_RS_SPEC_REPLICAS: &str = "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const D_RS_SELECTOR: &str = "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const D_RS_STATUS_REPLICAS: &str = "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset";
const D_RS_READY: &str = "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.";
const D_DS_DESIRED: &str = "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
const D_DS_CURRENT: &str = "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/";
const D_DS_READY: &str = "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.";
const D_DS_UPDATED: &str = "The total number of nodes that are running updated daemon pod";
const D_DS_AVAILABLE: &str = "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)";
const D_DS_SELECTOR: &str = "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const D_DEPLOY_UPDATED: &str =
    "Total number of non-terminating pods targeted by this deployment that have the desired template spec.";
const D_DEPLOY_AVAILABLE: &str =
    "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.";
const D_DEPLOY_SELECTOR: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.";
const D_JOB_SUCCEEDED: &str = "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.";
const D_JOB_SELECTOR: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";
const D_CJ_SCHEDULE: &str = "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.";
const D_CJ_TIMEZONE: &str = "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones";
const D_CJ_SUSPEND: &str = "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.";
const D_CJ_ACTIVE: &str = "A list of pointers to currently running jobs.";
const D_CJ_LAST: &str = "Information when was the last time the job was successfully scheduled.";
const D_SVC_TYPE: &str = "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types";
const D_SVC_CLUSTER_IP: &str = "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const D_SVC_EXTERNAL_IPS: &str = "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.";
const D_SVC_PORTS: &str = "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies";
const D_SVC_SELECTOR: &str = "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/";
const D_EP_SUBSETS: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";
const D_NODE_KUBELET: &str = "Kubelet Version reported by the node.";
const D_NODE_ADDRESSES: &str = "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).";
const D_NODE_OS: &str = "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).";
const D_NODE_KERNEL: &str = "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).";
const D_NODE_CRI: &str =
    "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).";
const D_EV_LAST: &str = "The time at which the most recent occurrence of this event was recorded.";
const D_EV_TYPE: &str = "Type of this event (Normal, Warning), new types could be added in the future";
const D_EV_REASON: &str = "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.";
const D_EV_OBJECT: &str = "The object that this event is about.";
const D_EV_SUBOBJECT: &str = "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers\\[2\\]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers\\[2\\]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.";
const D_EV_SOURCE: &str = "The component reporting this event. Should be a short machine understandable string.";
const D_EV_MESSAGE: &str = "A human-readable description of the status of this operation.";
const D_EV_FIRST: &str = "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)";
const D_EV_COUNT: &str = "The number of times this event has occurred.";
const D_SECRET_TYPE: &str = "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types";
const D_SECRET_DATA: &str = "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4";
const D_SA_SECRETS: &str = "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret";
const D_CM_DATA: &str = "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.";
const D_PV_CAPACITY: &str = "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity";
const D_PV_ACCESS: &str = "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes";
const D_PV_RECLAIM: &str = "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming";
const D_PV_PHASE: &str = "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase";
const D_PV_CLAIM: &str = "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding";
const D_PV_REASON: &str = "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.";
const D_PV_MODE: &str = "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.";
const D_PVC_PHASE: &str = "phase represents the current phase of PersistentVolumeClaim.";
const D_PVC_VOLUME: &str = "volumeName is the binding reference to the PersistentVolume backing this claim.";
const D_PVC_CAPACITY: &str = "capacity represents the actual resources of the underlying volume.";
const D_PVC_ACCESS: &str = "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1";
const D_PVC_MODE: &str = "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.";
const D_HPA_REF: &str = "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.";
const D_HPA_METRICS: &str = "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond. If not set, the default metric will be set to 80% average CPU utilization.";
const D_HPA_MIN: &str = "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.";
const D_HPA_MAX: &str = "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.";
const D_HPA_CURRENT: &str =
    "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.";
const D_NP_POD_SELECTOR: &str = "podSelector selects the pods to which this NetworkPolicy object applies. The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.";
const D_RB_ROLEREF: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";
const D_CRB_ROLEREF: &str = "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.";
const D_LEASE_HOLDER: &str = "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.";
const D_SC_PROVISIONER: &str = "provisioner indicates the type of the provisioner.";
const D_SC_RECLAIM: &str = "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.";
const D_SC_BINDING: &str = "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.";
const D_SC_EXPANSION: &str = "allowVolumeExpansion shows whether the storage class allow volume expand.";
const D_PC_VALUE: &str = "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.";
const D_PC_DEFAULT: &str = "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.";
const D_PC_PREEMPTION: &str = "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.";
const D_ES_ADDRESS_TYPE: &str = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name. (Deprecated) The EndpointSlice controller only generates, and kube-proxy only processes, slices of addressType \"IPv4\" and \"IPv6\". No semantics are defined for the \"FQDN\" type.";
const D_ES_PORTS: &str = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. Each slice may include a maximum of 100 ports. Services always have at least 1 port, so EndpointSlices generated by the EndpointSlice controller will likewise always have at least 1 port. EndpointSlices used for other purposes may have an empty ports list.";
const D_ES_ENDPOINTS: &str =
    "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.";
const D_CSR_SIGNER: &str = "signerName indicates the requested signer, and is a qualified name.\n\nList/watch requests for CertificateSigningRequests can filter on this field using a \"spec.signerName=NAME\" fieldSelector.\n\nWell-known Kubernetes signers are:\n 1. \"kubernetes.io/kube-apiserver-client\": issues client certificates that can be used to authenticate to kube-apiserver.\n  Requests for this signer are never auto-approved by kube-controller-manager, can be issued by the \"csrsigning\" controller in kube-controller-manager.\n 2. \"kubernetes.io/kube-apiserver-client-kubelet\": issues client certificates that kubelets use to authenticate to kube-apiserver.\n  Requests for this signer can be auto-approved by the \"csrapproving\" controller in kube-controller-manager, and can be issued by the \"csrsigning\" controller in kube-controller-manager.\n 3. \"kubernetes.io/kubelet-serving\" issues serving certificates that kubelets use to serve TLS endpoints, which kube-apiserver can connect to securely.\n  Requests for this signer are never auto-approved by kube-controller-manager, and can be issued by the \"csrsigning\" controller in kube-controller-manager.\n\nMore details are available at https://k8s.io/docs/reference/access-authn-authz/certificate-signing-requests/#kubernetes-signers\n\nCustom signerNames can also be specified. The signer defines:\n 1. Trust distribution: how trust (CA bundles) are distributed.\n 2. Permitted subjects: and behavior when a disallowed subject is requested.\n 3. Required, permitted, or forbidden x509 extensions in the request (including whether subjectAltNames are allowed, which types, restrictions on allowed values) and behavior when a disallowed extension is requested.\n 4. Required, permitted, or forbidden key usages / extended key usages.\n 5. Expiration/certificate lifetime: whether it is fixed by the signer, configurable by the admin.\n 6. Whether or not requests for CA certificates are allowed.";
const D_CSR_REQUEST: &str = "request contains an x509 certificate signing request encoded in a \"CERTIFICATE REQUEST\" PEM block. When serialized as JSON or YAML, the data is additionally base64-encoded.";
const D_CSR_DURATION: &str = "expirationSeconds is the requested duration of validity of the issued certificate. The certificate signer may issue a certificate with a different validity duration so a client must check the delta between the notBefore and and notAfter fields in the issued certificate to determine the actual duration.\n\nThe v1.22+ in-tree implementations of the well-known Kubernetes signers will honor this field as long as the requested duration is not greater than the maximum duration they will honor per the --cluster-signing-duration CLI flag to the Kubernetes controller manager.\n\nCertificate signers may not honor this field for various reasons:\n\n  1. Old signer that is unaware of the field (such as the in-tree\n     implementations prior to v1.22)\n  2. Signer whose configured maximum is shorter than the requested duration\n  3. Signer whose configured minimum is longer than the requested duration\n\nThe minimum valid value for expirationSeconds is 600, i.e. 10 minutes.";
const D_CSR_CONDITIONS: &str =
    "conditions applied to the request. Known conditions are \"Approved\", \"Denied\", and \"Failed\".";
const D_CR_REVISION: &str = "Revision indicates the revision of the state represented by Data.";
const D_SVCCIDR_CIDRS: &str = "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or \"2001:db8::/64\") from which to assign service cluster IPs. Max of two CIDRs is allowed, one of each IP family. This field is immutable.";
const D_IPADDR_PARENT: &str =
    "ParentRef references the resource that an IPAddress is attached to. An IPAddress must reference a parent object.";
const D_VA_ATTACHER: &str = "attacher indicates the name of the volume driver that MUST handle this request. This is the name returned by GetPluginName().";
const D_VA_PV: &str = "persistentVolumeName represents the name of the persistent volume to attach.";
const D_VA_NODE: &str = "nodeName represents the node that the volume should be attached to.";
const D_VA_ATTACHED: &str = "attached indicates the volume is successfully attached. This field must only be set by the entity completing the attach operation, i.e. the external-attacher.";

static DEFAULT_COLUMNS: &[Column] = &[NAME, c("Created At", "date", D_AGE)];

fn default_cells(obj: &Value, _now: SystemTime) -> Vec<Value> {
    vec![
        obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
        obj.pointer("/metadata/creationTimestamp")
            .cloned()
            .unwrap_or(Value::Null),
    ]
}

/// The Name / Created At table of kinds without a printer (roles, limit ranges, CRs without
/// printer columns, …).
pub static DEFAULT: Printer = Printer {
    columns: DEFAULT_COLUMNS,
    cells: default_cells,
    conditions: no_conditions,
};

// ---------------------------------------------------------------------------------------------
// Durations and value helpers
// ---------------------------------------------------------------------------------------------

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    human_duration_nanos(i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

/// `HumanDuration` for a signed duration in nanoseconds (`<invalid>` below -1s, `0s` just
/// below zero, to tolerate clock skew).
pub fn human_duration_nanos(nanos: i128) -> String {
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

fn nanos_between(later: SystemTime, earlier: SystemTime) -> i128 {
    match later.duration_since(earlier) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

fn time_at(obj: &Value, ptr: &str) -> Option<SystemTime> {
    obj.opt_str_at(ptr).and_then(crate::util::parse_rfc3339)
}

/// Upstream `translateTimestampSince`: `<unknown>` for a missing time.
fn since(t: Option<SystemTime>, now: SystemTime) -> String {
    match t {
        Some(t) => human_duration_nanos(nanos_between(now, t)),
        None => "<unknown>".to_string(),
    }
}

/// The Age cell: time since `metadata.creationTimestamp`.
pub fn age(obj: &Value, now: SystemTime) -> Value {
    json!(since(time_at(obj, "/metadata/creationTimestamp"), now))
}

fn opt_st(obj: &Value, ptr: &str) -> Option<String> {
    obj.pointer(ptr).filter(|v| !v.is_null()).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn num(obj: &Value, ptr: &str) -> i64 {
    obj.i64_at(ptr).unwrap_or(0)
}

fn flag(obj: &Value, ptr: &str) -> bool {
    obj.bool_at(ptr).unwrap_or(false)
}

fn len_of(obj: &Value, ptr: &str) -> usize {
    match obj.pointer(ptr) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn name(obj: &Value) -> Value {
    json!(obj.text_at("/metadata/name"))
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

/// A `resource.Quantity` cell: the stored canonical string, `"0"` when absent.
fn quantity(obj: &Value, ptr: &str) -> String {
    opt_st(obj, ptr).unwrap_or_else(|| "0".to_string())
}

/// `intstr.IntOrString.String()`.
fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Upstream `layoutContainerCells`: names and images joined by `,`.
fn layout_containers(obj: &Value, ptr: &str) -> (Value, Value) {
    let cs = obj.arr_at(ptr);
    let names: Vec<String> = cs.iter().map(|c| c.text_at("/name")).collect();
    let images: Vec<String> = cs.iter().map(|c| c.text_at("/image")).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

fn print_bool_ptr(v: Option<&Value>) -> String {
    match v.and_then(Value::as_bool) {
        Some(true) => "True".to_string(),
        Some(false) => "False".to_string(),
        None => "<unset>".to_string(),
    }
}

/// Upstream `listWithMoreString`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count.saturating_sub(max));
    }
    if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

/// `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `sets.NewString(ips or hostnames).List()` joined — the load-balancer column, wide (unclipped).
fn load_balancer_status(obj: &Value, ptr: &str) -> String {
    let mut set = BTreeSet::new();
    for ing in obj.arr_at(ptr) {
        let ip = ing.text_at("/ip");
        let host = ing.text_at("/hostname");
        if !ip.is_empty() {
            set.insert(ip);
        } else if !host.is_empty() {
            set.insert(host);
        }
    }
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn condition_true(conds: &[Value], type_: &str) -> bool {
    conds
        .iter()
        .find(|c| c.text_at("/type") == type_)
        .is_some_and(|c| c.text_at("/status") == "True")
}

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

static POD_COLUMNS: &[Column] = &[
    NAME,
    c("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    c("Status", "string", "The aggregate status of the containers in this pod."),
    c(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    w("IP", "string", D_POD_IP),
    w("Node", "string", D_POD_NODE),
    w("Nominated Node", "string", D_POD_NOMINATED),
    w("Readiness Gates", "string", D_POD_GATES),
];

/// Later of two "last restart" times (Go's `Before` on zero times).
fn later(candidate: Option<SystemTime>, current: Option<SystemTime>) -> Option<SystemTime> {
    match (candidate, current) {
        (Some(a), Some(b)) if a > b => Some(a),
        (Some(a), None) => Some(a),
        (_, cur) => cur,
    }
}

fn terminated_reason(t: &Value, prefix: &str) -> String {
    let reason = t.text_at("/reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = num(t, "/signal");
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", num(t, "/exitCode"))
    }
}

fn pod_cells(pod: &Value, now: SystemTime) -> Vec<Value> {
    let init_specs = pod.arr_at("/spec/initContainers");
    let is_restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| c.text_at("/name") == name && c.text_at("/restartPolicy") == "Always")
    };
    let mut total = pod.arr_at("/spec/containers").len();
    total += init_specs
        .iter()
        .filter(|c| c.text_at("/restartPolicy") == "Always")
        .count();
    let conditions = pod.arr_at("/status/conditions");

    let phase = pod.text_at("/status/phase");
    let mut reason = phase.clone();
    let status_reason = pod.text_at("/status/reason");
    if !status_reason.is_empty() {
        reason = status_reason.clone();
    }
    if conditions
        .iter()
        .any(|c| c.text_at("/type") == "PodScheduled" && c.text_at("/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }

    let mut restarts: i64 = 0;
    let mut restartable_restarts: i64 = 0;
    let mut last_restart: Option<SystemTime> = None;
    let mut last_restartable_restart: Option<SystemTime> = None;
    let mut ready = 0;
    let mut initializing = false;
    for (i, cs) in pod.arr_at("/status/initContainerStatuses").iter().enumerate() {
        let count = num(cs, "/restartCount");
        restarts += count;
        let finished = cs
            .pointer("/lastState/terminated")
            .filter(|t| t.is_object())
            .map(|t| time_at(t, "/finishedAt"));
        if let Some(f) = finished {
            last_restart = later(f, last_restart);
        }
        let restartable = is_restartable(&cs.text_at("/name"));
        if restartable {
            restartable_restarts += count;
            if let Some(f) = finished {
                last_restartable_restart = later(f, last_restartable_restart);
            }
        }
        let terminated = cs.pointer("/state/terminated").filter(|t| t.is_object());
        let waiting_reason = cs
            .pointer("/state/waiting")
            .filter(|w| w.is_object())
            .map(|w| w.text_at("/reason"));
        if terminated.is_some_and(|t| num(t, "/exitCode") == 0) {
            continue;
        }
        if restartable && cs.get("started").and_then(Value::as_bool) == Some(true) {
            if flag(cs, "/ready") {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = terminated_reason(t, "Init:");
        } else if let Some(wr) = waiting_reason.filter(|r| !r.is_empty() && r != "PodInitializing") {
            reason = format!("Init:{wr}");
        } else {
            reason = format!("Init:{}/{}", i, init_specs.len());
        }
        initializing = true;
        break;
    }

    let initialized = conditions
        .iter()
        .find(|c| c.text_at("/type") == "Initialized")
        .is_some_and(|c| c.text_at("/status") == "True");
    if !initializing || initialized {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for cs in pod.arr_at("/status/containerStatuses").iter().rev() {
            restarts += num(cs, "/restartCount");
            if let Some(t) = cs.pointer("/lastState/terminated").filter(|t| t.is_object()) {
                last_restart = later(time_at(t, "/finishedAt"), last_restart);
            }
            let waiting = cs.pointer("/state/waiting").filter(|w| w.is_object());
            let terminated = cs.pointer("/state/terminated").filter(|t| t.is_object());
            let running = cs.pointer("/state/running").is_some_and(|r| r.is_object());
            if let Some(wr) = waiting.map(|w| w.text_at("/reason")).filter(|r| !r.is_empty()) {
                reason = wr;
            } else if let Some(t) = terminated {
                reason = terminated_reason(t, "");
            } else if flag(cs, "/ready") && running {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    let deleting = pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".to_string();
    }

    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let gates = pod.arr_at("/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = g.text_at("/conditionType");
                conditions
                    .iter()
                    .find(|c| c.text_at("/type") == t)
                    .is_some_and(|c| c.text_at("/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };

    vec![
        name(pod),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_str),
        age(pod, now),
        json!(or_none(pod.text_at("/status/podIPs/0/ip"))),
        json!(or_none(pod.text_at("/spec/nodeName"))),
        json!(or_none(pod.text_at("/status/nominatedNodeName"))),
        json!(readiness_gates),
    ]
}

pub static POD: Printer = Printer {
    columns: POD_COLUMNS,
    cells: pod_cells,
    conditions: pod_conditions,
};

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

static POD_TEMPLATE_COLUMNS: &[Column] = &[
    NAME,
    c("Containers", "string", "Names of each container in the template."),
    c(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    ),
    c("Pod Labels", "string", "The labels for the pod template."),
];

fn pod_template_cells(obj: &Value, _now: SystemTime) -> Vec<Value> {
    let (names, images) = layout_containers(obj, "/template/spec/containers");
    vec![
        name(obj),
        names,
        images,
        json!(format_labels(obj.pointer("/template/metadata/labels"))),
    ]
}

pub static POD_TEMPLATE: Printer = Printer {
    columns: POD_TEMPLATE_COLUMNS,
    cells: pod_template_cells,
    conditions: no_conditions,
};

/// `spec.replicas` as decoded with defaults (1 when unset).
fn spec_replicas(obj: &Value) -> i64 {
    obj.i64_at("/spec/replicas").unwrap_or(1)
}

static RC_COLUMNS: &[Column] = &[
    NAME,
    c("Desired", "integer", D_RC_SPEC_REPLICAS),
    c("Current", "integer", D_RC_STATUS_REPLICAS),
    c("Ready", "integer", D_RC_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    w("Selector", "string", D_RC_SELECTOR),
];

/// Desired/Current/Ready/Age/Containers/Images/Selector rows of RCs and ReplicaSets; they differ
/// only in how the selector is printed (a plain map vs a LabelSelector).
fn replica_cells(obj: &Value, now: SystemTime, selector: String) -> Vec<Value> {
    let (names, images) = layout_containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(spec_replicas(obj)),
        json!(num(obj, "/status/replicas")),
        json!(num(obj, "/status/readyReplicas")),
        age(obj, now),
        names,
        images,
        json!(selector),
    ]
}

fn rc_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    replica_cells(obj, now, format_labels(obj.pointer("/spec/selector")))
}

pub static REPLICATION_CONTROLLER: Printer = Printer {
    columns: RC_COLUMNS,
    cells: rc_cells,
    conditions: no_conditions,
};

static RS_COLUMNS: &[Column] = &[
    NAME,
    c("Desired", "integer", D_RS_SPEC_REPLICAS),
    c("Current", "integer", D_RS_STATUS_REPLICAS),
    c("Ready", "integer", D_RS_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    w("Selector", "string", D_RS_SELECTOR),
];

fn rs_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    replica_cells(obj, now, format_label_selector(obj.pointer("/spec/selector")))
}

pub static REPLICA_SET: Printer = Printer {
    columns: RS_COLUMNS,
    cells: rs_cells,
    conditions: no_conditions,
};

static DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    c("Up-to-date", "string", D_DEPLOY_UPDATED),
    c("Available", "string", D_DEPLOY_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    w("Selector", "string", D_DEPLOY_SELECTOR),
];

fn deployment_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let (names, images) = layout_containers(obj, "/spec/template/spec/containers");
    let selector = label_selector_string(obj.pointer("/spec/selector")).unwrap_or_else(|_| "<invalid>".to_string());
    vec![
        name(obj),
        json!(format!("{}/{}", num(obj, "/status/readyReplicas"), spec_replicas(obj))),
        json!(num(obj, "/status/updatedReplicas")),
        json!(num(obj, "/status/availableReplicas")),
        age(obj, now),
        names,
        images,
        json!(selector),
    ]
}

pub static DEPLOYMENT: Printer = Printer {
    columns: DEPLOYMENT_COLUMNS,
    cells: deployment_cells,
    conditions: no_conditions,
};

static STATEFUL_SET_COLUMNS: &[Column] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn stateful_set_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let (names, images) = layout_containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(format!("{}/{}", num(obj, "/status/readyReplicas"), spec_replicas(obj))),
        age(obj, now),
        names,
        images,
    ]
}

pub static STATEFUL_SET: Printer = Printer {
    columns: STATEFUL_SET_COLUMNS,
    cells: stateful_set_cells,
    conditions: no_conditions,
};

static DAEMON_SET_COLUMNS: &[Column] = &[
    NAME,
    c("Desired", "integer", D_DS_DESIRED),
    c("Current", "integer", D_DS_CURRENT),
    c("Ready", "integer", D_DS_READY),
    c("Up-to-date", "integer", D_DS_UPDATED),
    c("Available", "integer", D_DS_AVAILABLE),
    c("Node Selector", "string", D_NODE_SELECTOR),
    AGE,
    CONTAINERS,
    IMAGES,
    w("Selector", "string", D_DS_SELECTOR),
];

fn daemon_set_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let (names, images) = layout_containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(num(obj, "/status/desiredNumberScheduled")),
        json!(num(obj, "/status/currentNumberScheduled")),
        json!(num(obj, "/status/numberReady")),
        json!(num(obj, "/status/updatedNumberScheduled")),
        json!(num(obj, "/status/numberAvailable")),
        json!(format_labels(obj.pointer("/spec/template/spec/nodeSelector"))),
        age(obj, now),
        names,
        images,
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

pub static DAEMON_SET: Printer = Printer {
    columns: DAEMON_SET_COLUMNS,
    cells: daemon_set_cells,
    conditions: no_conditions,
};

static CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    NAME,
    c("Controller", "string", "Controller of the object"),
    c("Revision", "string", D_CR_REVISION),
    AGE,
];

fn controller_revision_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let controller = obj
        .arr_at("/metadata/ownerReferences")
        .iter()
        .find(|r| flag(r, "/controller"))
        .map(|r| {
            let api_version = r.text_at("/apiVersion");
            let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            let kind = r.text_at("/kind");
            let gk = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            if gk.is_empty() {
                r.text_at("/name")
            } else {
                format!("{}/{}", gk.to_lowercase(), r.text_at("/name"))
            }
        })
        .unwrap_or_else(|| "<none>".to_string());
    vec![
        name(obj),
        json!(controller),
        json!(num(obj, "/revision")),
        age(obj, now),
    ]
}

pub static CONTROLLER_REVISION: Printer = Printer {
    columns: CONTROLLER_REVISION_COLUMNS,
    cells: controller_revision_cells,
    conditions: no_conditions,
};

static JOB_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "Status of the job."),
    c("Completions", "string", D_JOB_SUCCEEDED),
    c("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    w("Selector", "string", D_JOB_SELECTOR),
];

fn job_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let succeeded = num(obj, "/status/succeeded");
    let completions = match obj.i64_at("/spec/completions") {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = num(obj, "/spec/parallelism");
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = time_at(obj, "/status/startTime");
    let duration = match (start, time_at(obj, "/status/completionTime")) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration_nanos(nanos_between(now, s)),
        (Some(s), Some(c)) => human_duration_nanos(nanos_between(c, s)),
    };
    let conds = obj.arr_at("/status/conditions");
    let status = if condition_true(conds, "Complete") {
        "Complete"
    } else if condition_true(conds, "Failed") {
        "Failed"
    } else if obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        "Terminating"
    } else if condition_true(conds, "Suspended") {
        "Suspended"
    } else if condition_true(conds, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = layout_containers(obj, "/spec/template/spec/containers");
    vec![
        name(obj),
        json!(status),
        json!(completions),
        json!(duration),
        age(obj, now),
        names,
        images,
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

pub static JOB: Printer = Printer {
    columns: JOB_COLUMNS,
    cells: job_cells,
    conditions: no_conditions,
};

static CRON_JOB_COLUMNS: &[Column] = &[
    NAME,
    c("Schedule", "string", D_CJ_SCHEDULE),
    c("Timezone", "string", D_CJ_TIMEZONE),
    c("Suspend", "boolean", D_CJ_SUSPEND),
    c("Active", "integer", D_CJ_ACTIVE),
    c("Last Schedule", "string", D_CJ_LAST),
    AGE,
    CONTAINERS,
    IMAGES,
    w("Selector", "string", D_JOB_SELECTOR),
];

fn cron_job_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let last = match obj.pointer("/status/lastScheduleTime").filter(|v| !v.is_null()) {
        Some(_) => since(time_at(obj, "/status/lastScheduleTime"), now),
        None => "<none>".to_string(),
    };
    let (names, images) = layout_containers(obj, "/spec/jobTemplate/spec/template/spec/containers");
    vec![
        name(obj),
        json!(obj.text_at("/spec/schedule")),
        json!(opt_st(obj, "/spec/timeZone").unwrap_or_else(|| "<none>".to_string())),
        json!(print_bool_ptr(obj.pointer("/spec/suspend"))),
        json!(obj.arr_at("/status/active").len()),
        json!(last),
        age(obj, now),
        names,
        images,
        json!(format_label_selector(obj.pointer("/spec/jobTemplate/spec/selector"))),
    ]
}

pub static CRON_JOB: Printer = Printer {
    columns: CRON_JOB_COLUMNS,
    cells: cron_job_cells,
    conditions: no_conditions,
};

static PDB_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    c(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    c(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

fn pdb_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let field = |p: &str| {
        obj.pointer(p)
            .filter(|v| !v.is_null())
            .map(int_or_string)
            .unwrap_or_else(|| "N/A".to_string())
    };
    vec![
        name(obj),
        json!(field("/spec/minAvailable")),
        json!(field("/spec/maxUnavailable")),
        json!(num(obj, "/status/disruptionsAllowed")),
        age(obj, now),
    ]
}

pub static POD_DISRUPTION_BUDGET: Printer = Printer {
    columns: PDB_COLUMNS,
    cells: pdb_cells,
    conditions: no_conditions,
};

static HPA_COLUMNS: &[Column] = &[
    NAME,
    c("Reference", "string", D_HPA_REF),
    c("Targets", "string", D_HPA_METRICS),
    c("MinPods", "string", D_HPA_MIN),
    c("MaxPods", "string", D_HPA_MAX),
    c("Replicas", "string", D_HPA_CURRENT),
    AGE,
];

/// Upstream `formatHPAMetrics` over autoscaling/v2 `spec.metrics` / `status.currentMetrics`
/// (an autoscaling/v1 object's CPU target is read as the equivalent Resource metric).
fn format_hpa_metrics(obj: &Value) -> String {
    let (specs, statuses): (Vec<Value>, Vec<Value>) = if obj.pointer("/spec/metrics").is_some() {
        (
            obj.arr_at("/spec/metrics").to_vec(),
            obj.arr_at("/status/currentMetrics").to_vec(),
        )
    } else if let Some(cpu) = obj.i64_at("/spec/targetCPUUtilizationPercentage") {
        let spec = json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": cpu}}});
        let status = match obj.i64_at("/status/currentCPUUtilizationPercentage") {
            Some(cur) => vec![json!({"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": cur}}})],
            None => Vec::new(),
        };
        (vec![spec], status)
    } else {
        (Vec::new(), Vec::new())
    };
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let unknown = || "<unknown>".to_string();
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let status_src = |key: &str| status.and_then(|s| s.get(key)).filter(|v| v.is_object());
        let entry = match spec.text_at("/type").as_str() {
            "External" | "Object" => {
                let key = if spec.text_at("/type") == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = spec
                    .get(key)
                    .and_then(|m| m.get("target"))
                    .cloned()
                    .unwrap_or(Value::Null);
                if let Some(avg) = opt_st(&target, "/averageValue") {
                    let cur = status_src(key)
                        .and_then(|s| opt_st(s, "/current/averageValue"))
                        .unwrap_or_else(unknown);
                    format!("{cur}/{avg} (avg)")
                } else {
                    let cur = status_src(key)
                        .map(|s| quantity(s, "/current/value"))
                        .unwrap_or_else(unknown);
                    format!("{cur}/{}", quantity(&target, "/value"))
                }
            }
            "Pods" => {
                let cur = status_src("pods")
                    .map(|s| quantity(s, "/current/averageValue"))
                    .unwrap_or_else(unknown);
                format!("{cur}/{}", quantity(spec, "/pods/target/averageValue"))
            }
            t @ ("Resource" | "ContainerResource") => {
                let key = if t == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let m = spec.get(key).cloned().unwrap_or(Value::Null);
                let res = m.text_at("/name");
                if let Some(avg) = opt_st(&m, "/target/averageValue") {
                    let cur = status_src(key)
                        .map(|s| quantity(s, "/current/averageValue"))
                        .unwrap_or_else(unknown);
                    format!("{res}: {cur}/{avg}")
                } else {
                    let cur = status_src(key)
                        .and_then(|s| s.i64_at("/current/averageUtilization"))
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(unknown);
                    let target = m
                        .i64_at("/target/averageUtilization")
                        .map(|u| format!("{u}%"))
                        .unwrap_or_else(|| "<auto>".to_string());
                    format!("{res}: {cur}/{target}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let max = 2;
    let count = list.len();
    if count > max {
        list.truncate(max);
        return format!("{} + {} more...", list.join(", "), count - max);
    }
    list.join(", ")
}

fn hpa_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        obj.text_at("/spec/scaleTargetRef/kind"),
        obj.text_at("/spec/scaleTargetRef/name")
    );
    let min = obj
        .i64_at("/spec/minReplicas")
        .map(|m| m.to_string())
        .unwrap_or_else(|| "<unset>".to_string());
    vec![
        name(obj),
        json!(reference),
        json!(format_hpa_metrics(obj)),
        json!(min),
        json!(num(obj, "/spec/maxReplicas")),
        json!(num(obj, "/status/currentReplicas")),
        age(obj, now),
    ]
}

pub static HORIZONTAL_POD_AUTOSCALER: Printer = Printer {
    columns: HPA_COLUMNS,
    cells: hpa_cells,
    conditions: no_conditions,
};

// ---------------------------------------------------------------------------------------------
// Services and networking
// ---------------------------------------------------------------------------------------------

static SERVICE_COLUMNS: &[Column] = &[
    NAME,
    c("Type", "string", D_SVC_TYPE),
    c("Cluster-IP", "string", D_SVC_CLUSTER_IP),
    c("External-IP", "string", D_SVC_EXTERNAL_IPS),
    c("Port(s)", "string", D_SVC_PORTS),
    AGE,
    w("Selector", "string", D_SVC_SELECTOR),
];

fn service_external_ip(svc: &Value) -> String {
    let external: Vec<String> = svc.arr_at("/spec/externalIPs").iter().map(|v| v.text_at("")).collect();
    match svc.text_at("/spec/type").as_str() {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_status(svc, "/status/loadBalancer/ingress");
            if !external.is_empty() {
                let mut all: Vec<String> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').map(String::from).collect()
                };
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => svc.text_at("/spec/externalName"),
        _ => "<unknown>".to_string(),
    }
}

/// Upstream `makePortString`: `80/TCP` or `80:30080/TCP`, joined by `,`.
pub fn service_ports(svc: &Value) -> String {
    svc.arr_at("/spec/ports")
        .iter()
        .map(|p| {
            let port = num(p, "/port");
            let proto = p.text_at("/protocol");
            let node_port = num(p, "/nodePort");
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn service_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let cluster_ip = opt_st(obj, "/spec/clusterIPs/0")
        .or_else(|| opt_st(obj, "/spec/clusterIP").filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "<none>".to_string());
    vec![
        name(obj),
        json!(obj.text_at("/spec/type")),
        json!(cluster_ip),
        json!(service_external_ip(obj)),
        json!(or_none(service_ports(obj))),
        age(obj, now),
        json!(format_labels(obj.pointer("/spec/selector"))),
    ]
}

pub static SERVICE: Printer = Printer {
    columns: SERVICE_COLUMNS,
    cells: service_cells,
    conditions: no_conditions,
};

static ENDPOINTS_COLUMNS: &[Column] = &[NAME, c("Endpoints", "string", D_EP_SUBSETS), AGE];

/// Upstream `formatEndpoints` (all ports): up to 3 `ip:port`, then ` + N more...`.
pub fn format_endpoints(obj: &Value) -> String {
    let subsets = obj.arr_at("/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addrs = ss.arr_at("/addresses");
        let ports = ss.arr_at("/ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(a.text_at("/ip"));
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(join_host_port(&a.text_at("/ip"), num(p, "/port")));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

fn endpoints_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), json!(format_endpoints(obj)), age(obj, now)]
}

pub static ENDPOINTS: Printer = Printer {
    columns: ENDPOINTS_COLUMNS,
    cells: endpoints_cells,
    conditions: no_conditions,
};

static ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    c("AddressType", "string", D_ES_ADDRESS_TYPE),
    c("Ports", "string", D_ES_PORTS),
    c("Endpoints", "string", D_ES_ENDPOINTS),
    AGE,
];

fn endpoint_slice_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let max = 3;
    let (mut ports, mut more, mut count) = (Vec::new(), false, 0);
    for p in obj.arr_at("/ports") {
        if ports.len() < max {
            let n = match (p.get("port").and_then(Value::as_i64), opt_st(p, "/name")) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name,
                (None, None) => "*".to_string(),
            };
            ports.push(n);
        } else if ports.len() == max {
            more = true;
        }
        count += 1;
    }
    let ports = list_with_more(&ports, more, count, max);
    let (mut addrs, mut more, mut count) = (Vec::new(), false, 0);
    for ep in obj.arr_at("/endpoints") {
        for a in ep.arr_at("/addresses") {
            if addrs.len() < max {
                addrs.push(a.text_at(""));
            } else if addrs.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    let endpoints = list_with_more(&addrs, more, count, max);
    vec![
        name(obj),
        json!(obj.text_at("/addressType")),
        json!(ports),
        json!(endpoints),
        age(obj, now),
    ]
}

pub static ENDPOINT_SLICE: Printer = Printer {
    columns: ENDPOINT_SLICE_COLUMNS,
    cells: endpoint_slice_cells,
    conditions: no_conditions,
};

static INGRESS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    c(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    c(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    c("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

fn ingress_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let rules = obj.arr_at("/spec/rules");
    let max = 3;
    let mut hosts: Vec<String> = Vec::new();
    let mut more = false;
    for r in rules {
        if hosts.len() == max {
            more = true;
        }
        let h = r.text_at("/host");
        if !more && !h.is_empty() {
            hosts.push(h);
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - max)
    } else {
        hosts.join(",")
    };
    let ports = if obj.arr_at("/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(obj),
        json!(opt_st(obj, "/spec/ingressClassName").unwrap_or_else(|| "<none>".to_string())),
        json!(hosts),
        json!(load_balancer_status(obj, "/status/loadBalancer/ingress")),
        json!(ports),
        age(obj, now),
    ]
}

pub static INGRESS: Printer = Printer {
    columns: INGRESS_COLUMNS,
    cells: ingress_cells,
    conditions: no_conditions,
};

static INGRESS_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    c(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

fn ingress_class_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let params = match obj.pointer("/spec/parameters").filter(|v| v.is_object()) {
        Some(p) => {
            let mut s = p.text_at("/kind");
            if let Some(g) = opt_st(p, "/apiGroup") {
                s = format!("{s}.{g}");
            }
            format!("{s}/{}", p.text_at("/name"))
        }
        None => "<none>".to_string(),
    };
    vec![
        name(obj),
        json!(obj.text_at("/spec/controller")),
        json!(params),
        age(obj, now),
    ]
}

pub static INGRESS_CLASS: Printer = Printer {
    columns: INGRESS_CLASS_COLUMNS,
    cells: ingress_class_cells,
    conditions: no_conditions,
};

static NETWORK_POLICY_COLUMNS: &[Column] = &[NAME, c("Pod-Selector", "string", D_NP_POD_SELECTOR), AGE];

fn network_policy_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    // podSelector is a struct (never nil) upstream: missing means the empty selector.
    let empty = json!({});
    let sel = obj
        .pointer("/spec/podSelector")
        .filter(|v| !v.is_null())
        .unwrap_or(&empty);
    vec![name(obj), json!(format_label_selector(Some(sel))), age(obj, now)]
}

pub static NETWORK_POLICY: Printer = Printer {
    columns: NETWORK_POLICY_COLUMNS,
    cells: network_policy_cells,
    conditions: no_conditions,
};

static SERVICE_CIDR_COLUMNS: &[Column] = &[NAME, c("CIDRs", "string", D_SVCCIDR_CIDRS), AGE];

fn service_cidr_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let cidrs: Vec<String> = obj.arr_at("/spec/cidrs").iter().map(|v| v.text_at("")).collect();
    vec![name(obj), json!(cidrs.join(",")), age(obj, now)]
}

pub static SERVICE_CIDR: Printer = Printer {
    columns: SERVICE_CIDR_COLUMNS,
    cells: service_cidr_cells,
    conditions: no_conditions,
};

// Upstream declares only two columns but prints an Age cell too; we keep the declared columns
// and their cells aligned.
static IP_ADDRESS_COLUMNS: &[Column] = &[NAME, c("ParentRef", "string", D_IPADDR_PARENT)];

fn ip_address_cells(obj: &Value, _now: SystemTime) -> Vec<Value> {
    let parent = match obj.pointer("/spec/parentRef").filter(|v| v.is_object()) {
        Some(p) => {
            let group = p.text_at("/group");
            let resource = p.text_at("/resource");
            let mut s = if group.is_empty() {
                resource
            } else {
                format!("{resource}.{group}")
            }
            .to_lowercase();
            let ns = p.text_at("/namespace");
            if !ns.is_empty() {
                s = format!("{s}/{ns}");
            }
            format!("{s}/{}", p.text_at("/name"))
        }
        None => "<none>".to_string(),
    };
    vec![name(obj), json!(parent)]
}

pub static IP_ADDRESS: Printer = Printer {
    columns: IP_ADDRESS_COLUMNS,
    cells: ip_address_cells,
    conditions: no_conditions,
};

// ---------------------------------------------------------------------------------------------
// Cluster objects
// ---------------------------------------------------------------------------------------------

static NODE_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "The status of the node"),
    c("Roles", "string", "The roles of the node"),
    AGE,
    c("Version", "string", D_NODE_KUBELET),
    w("Internal-IP", "string", D_NODE_ADDRESSES),
    w("External-IP", "string", D_NODE_ADDRESSES),
    w("OS-Image", "string", D_NODE_OS),
    w("Kernel-Version", "string", D_NODE_KERNEL),
    w("Container-Runtime", "string", D_NODE_CRI),
];

fn node_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    // The last condition of a type wins (upstream builds a map).
    let ready = obj
        .arr_at("/status/conditions")
        .iter()
        .rev()
        .find(|c| c.text_at("/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if c.text_at("/status") == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    }];
    if flag(obj, "/spec/unschedulable") {
        status.push("SchedulingDisabled".to_string());
    }
    let mut roles = BTreeSet::new();
    if let Some(labels) = obj.obj_at("/metadata/labels") {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role" {
                if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                    roles.insert(v.to_string());
                }
            }
        }
    }
    let roles = or_none(roles.into_iter().collect::<Vec<_>>().join(","));
    let address = |t: &str| {
        obj.arr_at("/status/addresses")
            .iter()
            .find(|a| a.text_at("/type") == t)
            .map(|a| a.text_at("/address"))
            .unwrap_or_else(|| "<none>".to_string())
    };
    let unknown = |p: &str| {
        let v = obj.text_at(p);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v
        }
    };
    vec![
        name(obj),
        json!(status.join(",")),
        json!(roles),
        age(obj, now),
        json!(obj.text_at("/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(unknown("/status/nodeInfo/osImage")),
        json!(unknown("/status/nodeInfo/kernelVersion")),
        json!(unknown("/status/nodeInfo/containerRuntimeVersion")),
    ]
}

pub static NODE: Printer = Printer {
    columns: NODE_COLUMNS,
    cells: node_cells,
    conditions: no_conditions,
};

static NAMESPACE_COLUMNS: &[Column] = &[NAME, c("Status", "string", "The status of the namespace"), AGE];

fn namespace_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), json!(obj.text_at("/status/phase")), age(obj, now)]
}

pub static NAMESPACE: Printer = Printer {
    columns: NAMESPACE_COLUMNS,
    cells: namespace_cells,
    conditions: no_conditions,
};

static EVENT_COLUMNS: &[Column] = &[
    c("Last Seen", "string", D_EV_LAST),
    c("Type", "string", D_EV_TYPE),
    c("Reason", "string", D_EV_REASON),
    c("Object", "string", D_EV_OBJECT),
    w("Subobject", "string", D_EV_SUBOBJECT),
    w("Source", "string", D_EV_SOURCE),
    c("Message", "string", D_EV_MESSAGE),
    w("First Seen", "string", D_EV_FIRST),
    w("Count", "string", D_EV_COUNT),
    Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: D_NAME,
        priority: 1,
    },
];

/// Upstream `printEvent` over a core/v1 or an events.k8s.io/v1 Event.
fn event_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let core = obj.get("involvedObject").is_some() || obj.get("regarding").is_none();
    let pick = |core_name: &str, v1_name: &str| {
        if core {
            core_name.to_string()
        } else {
            v1_name.to_string()
        }
    };
    let reference = obj
        .get(if core { "involvedObject" } else { "regarding" })
        .cloned()
        .unwrap_or(Value::Null);
    let first_ts = time_at(obj, &pick("/firstTimestamp", "/deprecatedFirstTimestamp"));
    let first = match first_ts {
        Some(t) => since(Some(t), now),
        None => since(time_at(obj, "/eventTime"), now),
    };
    let mut last = match time_at(obj, &pick("/lastTimestamp", "/deprecatedLastTimestamp")) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = num(obj, &pick("/count", "/deprecatedCount"));
    if let Some(series) = obj.get("series").filter(|s| s.is_object()) {
        last = since(time_at(series, "/lastObservedTime"), now);
        count = num(series, "/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = reference.text_at("/kind").to_lowercase();
    let ref_name = reference.text_at("/name");
    let target = if ref_name.is_empty() {
        kind
    } else {
        format!("{kind}/{ref_name}")
    };
    let source = obj
        .get(if core { "source" } else { "deprecatedSource" })
        .cloned()
        .unwrap_or(Value::Null);
    let component = Some(source.text_at("/component"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| obj.text_at(&pick("/reportingComponent", "/reportingController")));
    let instance = Some(source.text_at("/host"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| obj.text_at("/reportingInstance"));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(obj.text_at("/type")),
        json!(obj.text_at("/reason")),
        json!(target),
        json!(reference.text_at("/fieldPath")),
        json!(source),
        json!(obj.text_at(&pick("/message", "/note")).trim()),
        json!(first),
        json!(count),
        name(obj),
    ]
}

pub static EVENT: Printer = Printer {
    columns: EVENT_COLUMNS,
    cells: event_cells,
    conditions: no_conditions,
};

static COMPONENT_STATUS_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "Status of the component conditions"),
    c("Message", "string", "Message of the component conditions"),
    c("Error", "string", "Error of the component conditions"),
];

fn component_status_cells(obj: &Value, _now: SystemTime) -> Vec<Value> {
    let (mut status, mut message, mut error) = ("Unknown".to_string(), String::new(), String::new());
    if let Some(c) = obj
        .arr_at("/conditions")
        .iter()
        .find(|c| c.text_at("/type") == "Healthy")
    {
        status = if c.text_at("/status") == "True" {
            "Healthy"
        } else {
            "Unhealthy"
        }
        .to_string();
        message = c.text_at("/message");
        error = c.text_at("/error");
    }
    vec![name(obj), json!(status), json!(message), json!(error)]
}

pub static COMPONENT_STATUS: Printer = Printer {
    columns: COMPONENT_STATUS_COLUMNS,
    cells: component_status_cells,
    conditions: no_conditions,
};

// ---------------------------------------------------------------------------------------------
// Config and storage
// ---------------------------------------------------------------------------------------------

static CONFIG_MAP_COLUMNS: &[Column] = &[NAME, c("Data", "string", D_CM_DATA), AGE];

fn config_map_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(obj),
        json!(len_of(obj, "/data") + len_of(obj, "/binaryData")),
        age(obj, now),
    ]
}

pub static CONFIG_MAP: Printer = Printer {
    columns: CONFIG_MAP_COLUMNS,
    cells: config_map_cells,
    conditions: no_conditions,
};

static SECRET_COLUMNS: &[Column] = &[
    NAME,
    c("Type", "string", D_SECRET_TYPE),
    c("Data", "string", D_SECRET_DATA),
    AGE,
];

fn secret_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(obj),
        json!(obj.text_at("/type")),
        json!(len_of(obj, "/data")),
        age(obj, now),
    ]
}

pub static SECRET: Printer = Printer {
    columns: SECRET_COLUMNS,
    cells: secret_cells,
    conditions: no_conditions,
};

static SERVICE_ACCOUNT_COLUMNS: &[Column] = &[NAME, c("Secrets", "string", D_SA_SECRETS), AGE];

fn service_account_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), json!(len_of(obj, "/secrets")), age(obj, now)]
}

pub static SERVICE_ACCOUNT: Printer = Printer {
    columns: SERVICE_ACCOUNT_COLUMNS,
    cells: service_account_cells,
    conditions: no_conditions,
};

static RESOURCE_QUOTA_COLUMNS: &[Column] = &[
    NAME,
    c("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
    c(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

fn resource_quota_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let mut resources: Vec<String> = obj
        .obj_at("/status/hard")
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    resources.sort();
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    for r in resources {
        let key = r.replace('~', "~0").replace('/', "~1");
        let entry = format!(
            "{r}: {}/{}",
            quantity(obj, &format!("/status/used/{key}")),
            quantity(obj, &format!("/status/hard/{key}"))
        );
        let pieces: Vec<&str> = r.split('.').collect();
        if pieces.len() > 1 && pieces[0] == "limits" {
            limit.push(entry);
        } else {
            request.push(entry);
        }
    }
    vec![
        name(obj),
        json!(request.join(", ")),
        json!(limit.join(", ")),
        age(obj, now),
    ]
}

pub static RESOURCE_QUOTA: Printer = Printer {
    columns: RESOURCE_QUOTA_COLUMNS,
    cells: resource_quota_cells,
    conditions: no_conditions,
};

/// Upstream `helper.GetAccessModesAsString`.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| has(m))
    .map(|(_, s)| *s)
    .collect::<Vec<_>>()
    .join(",")
}

/// The beta storage-class annotation wins over `spec.storageClassName`.
fn storage_class(obj: &Value) -> String {
    opt_st(obj, "/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .unwrap_or_else(|| obj.text_at("/spec/storageClassName"))
}

static PV_COLUMNS: &[Column] = &[
    NAME,
    c("Capacity", "string", D_PV_CAPACITY),
    c("Access Modes", "string", D_PV_ACCESS),
    c("Reclaim Policy", "string", D_PV_RECLAIM),
    c("Status", "string", D_PV_PHASE),
    c("Claim", "string", D_PV_CLAIM),
    c("StorageClass", "string", "StorageClass of the pv"),
    c("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    c("Reason", "string", D_PV_REASON),
    AGE,
    w("VolumeMode", "string", D_PV_MODE),
];

fn pv_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let claim = match obj.pointer("/spec/claimRef").filter(|v| v.is_object()) {
        Some(r) => format!("{}/{}", r.text_at("/namespace"), r.text_at("/name")),
        None => String::new(),
    };
    let mut phase = obj.text_at("/status/phase");
    if obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        phase = "Terminating".to_string();
    }
    vec![
        name(obj),
        json!(quantity(obj, "/spec/capacity/storage")),
        json!(access_modes(obj.arr_at("/spec/accessModes"))),
        json!(obj.text_at("/spec/persistentVolumeReclaimPolicy")),
        json!(phase),
        json!(claim),
        json!(storage_class(obj)),
        json!(opt_st(obj, "/spec/volumeAttributesClassName").unwrap_or_else(|| "<unset>".to_string())),
        json!(obj.text_at("/status/reason")),
        age(obj, now),
        json!(opt_st(obj, "/spec/volumeMode").unwrap_or_else(|| "<unset>".to_string())),
    ]
}

pub static PERSISTENT_VOLUME: Printer = Printer {
    columns: PV_COLUMNS,
    cells: pv_cells,
    conditions: no_conditions,
};

static PVC_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", D_PVC_PHASE),
    c("Volume", "string", D_PVC_VOLUME),
    c("Capacity", "string", D_PVC_CAPACITY),
    c("Access Modes", "string", D_PVC_ACCESS),
    c("StorageClass", "string", "StorageClass of the pvc"),
    c("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    AGE,
    w("VolumeMode", "string", D_PVC_MODE),
];

fn pvc_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let mut phase = obj.text_at("/status/phase");
    if obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        phase = "Terminating".to_string();
    }
    let volume = obj.text_at("/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(obj, "/status/capacity/storage"),
            access_modes(obj.arr_at("/status/accessModes")),
        )
    };
    vec![
        name(obj),
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(storage_class(obj)),
        json!(opt_st(obj, "/spec/volumeAttributesClassName").unwrap_or_else(|| "<unset>".to_string())),
        age(obj, now),
        json!(opt_st(obj, "/spec/volumeMode").unwrap_or_else(|| "<unset>".to_string())),
    ]
}

pub static PERSISTENT_VOLUME_CLAIM: Printer = Printer {
    columns: PVC_COLUMNS,
    cells: pvc_cells,
    conditions: no_conditions,
};

static STORAGE_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c("Provisioner", "string", D_SC_PROVISIONER),
    c("ReclaimPolicy", "string", D_SC_RECLAIM),
    c("VolumeBindingMode", "string", D_SC_BINDING),
    c("AllowVolumeExpansion", "string", D_SC_EXPANSION),
    AGE,
];

fn storage_class_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let annotation = |k: &str| obj.text_at(&format!("/metadata/annotations/{}", k.replace('/', "~1")));
    let default = annotation("storageclass.kubernetes.io/is-default-class") == "true"
        || annotation("storageclass.beta.kubernetes.io/is-default-class") == "true";
    let mut n = obj.text_at("/metadata/name");
    if default {
        n.push_str(" (default)");
    }
    vec![
        json!(n),
        json!(obj.text_at("/provisioner")),
        json!(opt_st(obj, "/reclaimPolicy").unwrap_or_else(|| "Delete".to_string())),
        json!(opt_st(obj, "/volumeBindingMode").unwrap_or_else(|| "Immediate".to_string())),
        json!(flag(obj, "/allowVolumeExpansion")),
        age(obj, now),
    ]
}

pub static STORAGE_CLASS: Printer = Printer {
    columns: STORAGE_CLASS_COLUMNS,
    cells: storage_class_cells,
    conditions: no_conditions,
};

static CSI_NODE_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Drivers",
        "integer",
        "Drivers indicates the number of CSI drivers registered on the node",
    ),
    AGE,
];

fn csi_node_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), json!(len_of(obj, "/spec/drivers")), age(obj, now)]
}

pub static CSI_NODE: Printer = Printer {
    columns: CSI_NODE_COLUMNS,
    cells: csi_node_cells,
    conditions: no_conditions,
};

static VOLUME_ATTACHMENT_COLUMNS: &[Column] = &[
    NAME,
    Column {
        name: "Attacher",
        type_: "string",
        format: "name",
        description: D_VA_ATTACHER,
        priority: 0,
    },
    c("PV", "string", D_VA_PV),
    c("Node", "string", D_VA_NODE),
    c("Attached", "boolean", D_VA_ATTACHED),
    AGE,
];

fn volume_attachment_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(obj),
        json!(obj.text_at("/spec/attacher")),
        json!(obj.text_at("/spec/source/persistentVolumeName")),
        json!(obj.text_at("/spec/nodeName")),
        json!(flag(obj, "/status/attached")),
        age(obj, now),
    ]
}

pub static VOLUME_ATTACHMENT: Printer = Printer {
    columns: VOLUME_ATTACHMENT_COLUMNS,
    cells: volume_attachment_cells,
    conditions: no_conditions,
};

// ---------------------------------------------------------------------------------------------
// RBAC, coordination, scheduling, certificates, admission
// ---------------------------------------------------------------------------------------------

static ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    c("Role", "string", D_RB_ROLEREF),
    AGE,
    w("Users", "string", "Users in the roleBinding"),
    w("Groups", "string", "Groups in the roleBinding"),
    w("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
];

static CLUSTER_ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    c("Role", "string", D_CRB_ROLEREF),
    AGE,
    w("Users", "string", "Users in the clusterRoleBinding"),
    w("Groups", "string", "Groups in the clusterRoleBinding"),
    w("ServiceAccounts", "string", "ServiceAccounts in the clusterRoleBinding"),
];

fn binding_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in obj.arr_at("/subjects") {
        match s.text_at("/kind").as_str() {
            "ServiceAccount" => sas.push(format!("{}/{}", s.text_at("/namespace"), s.text_at("/name"))),
            "User" => users.push(s.text_at("/name")),
            "Group" => groups.push(s.text_at("/name")),
            _ => {}
        }
    }
    vec![
        name(obj),
        json!(format!(
            "{}/{}",
            obj.text_at("/roleRef/kind"),
            obj.text_at("/roleRef/name")
        )),
        age(obj, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

pub static ROLE_BINDING: Printer = Printer {
    columns: ROLE_BINDING_COLUMNS,
    cells: binding_cells,
    conditions: no_conditions,
};
pub static CLUSTER_ROLE_BINDING: Printer = Printer {
    columns: CLUSTER_ROLE_BINDING_COLUMNS,
    cells: binding_cells,
    conditions: no_conditions,
};

// flowcontrol.apiserver.k8s.io: upstream's FlowSchema and PriorityLevelConfiguration printers.
static FLOW_SCHEMA_COLUMNS: &[Column] = &[
    NAME,
    c(
        "PriorityLevel",
        "string",
        "`name` is the name of the priority level configuration being referenced Required.",
    ),
    c(
        "MatchingPrecedence",
        "string",
        "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request. The chosen FlowSchema is among those with the numerically lowest (which we take to be logically highest) MatchingPrecedence.  Each MatchingPrecedence value must be ranged in [1,10000]. Note that if the precedence is not specified, it will be set to 1000 as default.",
    ),
    c(
        "DistinguisherMethod",
        "string",
        "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this schema. `nil` specifies that the distinguisher is disabled and thus will always be the empty string.",
    ),
    AGE,
    c(
        "MissingPL",
        "string",
        "references a broken or non-existent PriorityLevelConfiguration",
    ),
];

fn flow_schema_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let method = opt_st(obj, "/spec/distinguisherMethod/type").unwrap_or_else(|| "<none>".into());
    let missing = obj
        .arr_at("/status/conditions")
        .iter()
        .find(|c| c.text_at("/type") == "Dangling")
        .map(|c| c.text_at("/status"))
        .unwrap_or_else(|| "?".into());
    vec![
        name(obj),
        json!(obj.text_at("/spec/priorityLevelConfiguration/name")),
        json!(num(obj, "/spec/matchingPrecedence")),
        json!(method),
        age(obj, now),
        json!(missing),
    ]
}

pub static FLOW_SCHEMA: Printer = Printer {
    columns: FLOW_SCHEMA_COLUMNS,
    cells: flow_schema_cells,
    conditions: no_conditions,
};

static PRIORITY_LEVEL_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Type",
        "string",
        "`type` indicates whether this priority level is subject to limitation on request execution.  A value of `\"Exempt\"` means that requests of this priority level are not subject to a limit (and thus are never queued) and do not detract from the capacity made available to other priority levels.  A value of `\"Limited\"` means that (a) requests of this priority level _are_ subject to limits and (b) some of the server's limited capacity is made available exclusively to this priority level. Required.",
    ),
    c(
        "NominalConcurrencyShares",
        "string",
        "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) of this level. This is the number of execution seats available at this priority level. This is used both for requests dispatched from this priority level as well as requests dispatched from other priority levels borrowing seats from this level. The server's concurrency limit (ServerCL) is divided among the Limited priority levels in proportion to their NCS values:\n\nNominalCL(i)  = ceil( ServerCL * NCS(i) / sum_ncs ) sum_ncs = sum[priority level k] NCS(k)\n\nBigger numbers mean a larger nominal concurrency limit, at the expense of every other priority level.\n\nIf not specified, this field defaults to a value of 30.\n\nSetting this field to zero supports the construction of a \"jail\" for this priority level that is used to hold some request(s)",
    ),
    c(
        "Queues",
        "string",
        "`queues` is the number of queues for this priority level. The queues exist independently at each apiserver. The value must be positive.  Setting it to 1 effectively precludes shufflesharding and thus makes the distinguisher method of associated flow schemas irrelevant.  This field has a default value of 64.",
    ),
    c(
        "HandSize",
        "string",
        "`handSize` is a small positive number that configures the shuffle sharding of requests into queues.  When enqueuing a request at this priority level the request's flow identifier (a string pair) is hashed and the hash value is used to shuffle the list of queues and deal a hand of the size specified here.  The request is put into one of the shortest queues in that hand. `handSize` must be no larger than `queues`, and should be significantly smaller (so that a few heavy flows do not saturate most of the queues).  See the user-facing documentation for more extensive guidance on setting this field.  This field has a default value of 8.",
    ),
    c(
        "QueueLengthLimit",
        "string",
        "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue of this priority level at a time; excess requests are rejected.  This value must be positive.  If not specified, it will be defaulted to 50.",
    ),
    AGE,
];

fn priority_level_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let none = || json!("<none>");
    let (mut ncs, mut queues, mut hand, mut qll) = (none(), none(), none(), none());
    if let Some(l) = obj.pointer("/spec/limited").filter(|v| v.is_object()) {
        ncs = l.get("nominalConcurrencyShares").cloned().unwrap_or(json!(0));
        if let Some(q) = l.pointer("/limitResponse/queuing").filter(|v| v.is_object()) {
            queues = json!(num(q, "/queues"));
            hand = json!(num(q, "/handSize"));
            qll = json!(num(q, "/queueLengthLimit"));
        }
    }
    vec![
        name(obj),
        json!(obj.text_at("/spec/type")),
        ncs,
        queues,
        hand,
        qll,
        age(obj, now),
    ]
}

pub static PRIORITY_LEVEL: Printer = Printer {
    columns: PRIORITY_LEVEL_COLUMNS,
    cells: priority_level_cells,
    conditions: no_conditions,
};

static LEASE_COLUMNS: &[Column] = &[NAME, c("Holder", "string", D_LEASE_HOLDER), AGE];

fn lease_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), json!(obj.text_at("/spec/holderIdentity")), age(obj, now)]
}

pub static LEASE: Printer = Printer {
    columns: LEASE_COLUMNS,
    cells: lease_cells,
    conditions: no_conditions,
};

// resource.k8s.io (upstream's printers read the internal type; the stored v1beta1 object has
// these fields at the same paths).
const D_SLICE_NODE: &str = "NodeName identifies the node which provides the resources in this pool. A field selector can be used to list only ResourceSlice objects belonging to a certain node.\n\nThis field can be used to limit access from nodes to ResourceSlices with the same node name. It also indicates to autoscalers that adding new nodes of the same type as some old node might also make new resources available.\n\nExactly one of NodeName, NodeSelector, AllNodes, and PerDeviceNodeSelection must be set. This field is immutable.";
const D_SLICE_DRIVER: &str = "Driver identifies the DRA driver providing the capacity information. A field selector can be used to list only ResourceSlice objects with a certain driver name.\n\nMust be a DNS subdomain and should end with a DNS domain owned by the vendor of the driver. This field is immutable.";
const D_POOL_NAME: &str = "Name is used to identify the pool. For node-local devices, this is often the node name, but this is not required.\n\nIt must not be longer than 253 characters and must consist of one or more DNS sub-domains separated by slashes. This field is immutable.";
const D_TAINT_KEY: &str = "The taint key to be applied to a device. Must be a label name.";
const D_TAINT_VALUE: &str = "The taint value corresponding to the taint key. Must be a label value.";
const D_TAINT_EFFECT: &str = "The effect of the taint on claims that do not tolerate the taint and through such claims on the pods using them. Valid effects are NoSchedule and NoExecute. PreferNoSchedule as used for nodes is not valid here.";
const D_TAINT_ADDED: &str = "TimeAdded represents the time at which the taint was added. Added automatically during create or update if not set.";

static NAME_AGE_COLUMNS: &[Column] = &[NAME, AGE];

fn name_age_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), age(obj, now)]
}

/// DeviceClasses and ResourceClaimTemplates: Name and Age.
pub static NAME_AGE: Printer = Printer {
    columns: NAME_AGE_COLUMNS,
    cells: name_age_cells,
    conditions: no_conditions,
};

static RESOURCE_CLAIM_COLUMNS: &[Column] = &[
    NAME,
    c(
        "State",
        "string",
        "A summary of the current state (allocated, pending, reserved, etc.).",
    ),
    AGE,
];

/// Upstream `resourceClaimState`.
fn resource_claim_state(obj: &Value) -> String {
    let deleted = obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    let mut states = Vec::new();
    if deleted {
        states.push("deleted");
    }
    if obj.pointer("/status/allocation").is_none_or(Value::is_null) {
        if !deleted {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if !obj.arr_at("/status/reservedFor").is_empty() {
            states.push("reserved");
        }
    }
    states.join(",")
}

fn resource_claim_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), json!(resource_claim_state(obj)), age(obj, now)]
}

pub static RESOURCE_CLAIM: Printer = Printer {
    columns: RESOURCE_CLAIM_COLUMNS,
    cells: resource_claim_cells,
    conditions: no_conditions,
};

static RESOURCE_SLICE_COLUMNS: &[Column] = &[
    NAME,
    c("Node", "string", D_SLICE_NODE),
    c("Driver", "string", D_SLICE_DRIVER),
    c("Pool", "string", D_POOL_NAME),
    AGE,
];

fn resource_slice_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(obj),
        json!(obj.text_at("/spec/nodeName")),
        json!(obj.text_at("/spec/driver")),
        json!(obj.text_at("/spec/pool/name")),
        age(obj, now),
    ]
}

pub static RESOURCE_SLICE: Printer = Printer {
    columns: RESOURCE_SLICE_COLUMNS,
    cells: resource_slice_cells,
    conditions: no_conditions,
};

static DEVICE_TAINT_RULE_COLUMNS: &[Column] = &[
    NAME,
    c("Key", "string", D_TAINT_KEY),
    c("Value", "string", D_TAINT_VALUE),
    c("Effect", "string", D_TAINT_EFFECT),
    c("TimeAdded", "string", D_TAINT_ADDED),
    AGE,
];

fn device_taint_rule_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let added = match time_at(obj, "/spec/taint/timeAdded") {
        Some(t) => since(Some(t), now),
        None => String::new(),
    };
    vec![
        name(obj),
        json!(obj.text_at("/spec/taint/key")),
        json!(obj.text_at("/spec/taint/value")),
        json!(obj.text_at("/spec/taint/effect")),
        json!(added),
        age(obj, now),
    ]
}

pub static DEVICE_TAINT_RULE: Printer = Printer {
    columns: DEVICE_TAINT_RULE_COLUMNS,
    cells: device_taint_rule_cells,
    conditions: no_conditions,
};

static LEASE_CANDIDATE_COLUMNS: &[Column] = &[
    NAME,
    c(
        "LeaseName",
        "string",
        "LeaseName is the name of the lease for which this candidate is contending. This field is immutable.",
    ),
    // Upstream takes these two descriptions from ObjectMeta's swagger docs, which have none.
    c("BinaryVersion", "string", ""),
    c("EmulationVersion", "string", ""),
    AGE,
];

fn lease_candidate_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(obj),
        json!(obj.text_at("/spec/leaseName")),
        json!(obj.text_at("/spec/binaryVersion")),
        json!(obj.text_at("/spec/emulationVersion")),
        age(obj, now),
    ]
}

pub static LEASE_CANDIDATE: Printer = Printer {
    columns: LEASE_CANDIDATE_COLUMNS,
    cells: lease_candidate_cells,
    conditions: no_conditions,
};

static VOLUME_ATTRIBUTES_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "DriverName",
        "string",
        "Name of the CSI driver This field is immutable.",
    ),
    AGE,
];

/// The name gets ` (default)` with the alpha default-class annotation, as upstream prints it.
fn volume_attributes_class_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let mut n = obj.text_at("/metadata/name");
    if obj.text_at("/metadata/annotations/volumeattributesclass.alpha.kubernetes.io~1is-default-class") == "true" {
        n.push_str(" (default)");
    }
    vec![json!(n), json!(obj.text_at("/driverName")), age(obj, now)]
}

pub static VOLUME_ATTRIBUTES_CLASS: Printer = Printer {
    columns: VOLUME_ATTRIBUTES_CLASS_COLUMNS,
    cells: volume_attributes_class_cells,
    conditions: no_conditions,
};

static STORAGE_VERSION_COLUMNS: &[Column] = &[
    NAME,
    c(
        "CommonEncodingVersion",
        "string",
        "If all API server instances agree on the same encoding storage version, then this field is set to that version. Otherwise this field is left empty. API servers should finish updating its storageVersionStatus entry before serving write operations, so that this field will be in sync with the reality.",
    ),
    c("StorageVersions", "string", "The reported versions per API server instance."),
    AGE,
];

/// `<unset>` without a common version; at most three `server=version` pairs.
fn storage_version_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let all: Vec<String> = obj
        .pointer("/status/storageVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|sv| format!("{}={}", sv.text_at("/apiServerID"), sv.text_at("/encodingVersion")))
        .collect();
    let max = 3;
    let shown = &all[..all.len().min(max)];
    vec![
        name(obj),
        json!(opt_st(obj, "/status/commonEncodingVersion").unwrap_or_else(|| "<unset>".to_string())),
        json!(list_with_more(shown, all.len() > max, all.len(), max)),
        age(obj, now),
    ]
}

pub static STORAGE_VERSION: Printer = Printer {
    columns: STORAGE_VERSION_COLUMNS,
    cells: storage_version_cells,
    conditions: no_conditions,
};

// kube-aggregator's APIService printer: SERVICE is `Local` or `namespace/name`, AVAILABLE the
// `Available` condition (`False (Reason)` when not true and a reason is set, `Unknown` without).
static API_SERVICE_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Service",
        "string",
        "The reference to the service that hosts this API endpoint.",
    ),
    c("Available", "string", "Whether this service is available."),
    AGE,
];

fn api_service_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let service = match obj.pointer("/spec/service").filter(|s| s.is_object()) {
        Some(_) => format!(
            "{}/{}",
            obj.text_at("/spec/service/namespace"),
            obj.text_at("/spec/service/name")
        ),
        None => "Local".to_string(),
    };
    let available = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"))
        .map(|c| {
            let status = c.text_at("/status");
            let reason = c.text_at("/reason");
            if status == "True" || reason.is_empty() {
                status
            } else {
                format!("{status} ({reason})")
            }
        })
        .unwrap_or_else(|| "Unknown".to_string());
    vec![name(obj), json!(service), json!(available), age(obj, now)]
}

pub static API_SERVICE: Printer = Printer {
    columns: API_SERVICE_COLUMNS,
    cells: api_service_cells,
    conditions: no_conditions,
};

static PRIORITY_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c("Value", "integer", D_PC_VALUE),
    c("Global-Default", "boolean", D_PC_DEFAULT),
    AGE,
    c("PreemptionPolicy", "string", D_PC_PREEMPTION),
];

fn priority_class_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![
        name(obj),
        json!(num(obj, "/value")),
        json!(flag(obj, "/globalDefault")),
        age(obj, now),
        json!(obj.text_at("/preemptionPolicy")),
    ]
}

pub static PRIORITY_CLASS: Printer = Printer {
    columns: PRIORITY_CLASS_COLUMNS,
    cells: priority_class_cells,
    conditions: no_conditions,
};

// Upstream describes Handler with `ObjectMeta{}.SwaggerDoc()["handler"]`, which is empty.
static RUNTIME_CLASS_COLUMNS: &[Column] = &[NAME, c("Handler", "string", ""), AGE];

fn runtime_class_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), json!(obj.text_at("/handler")), age(obj, now)]
}

pub static RUNTIME_CLASS: Printer = Printer {
    columns: RUNTIME_CLASS_COLUMNS,
    cells: runtime_class_cells,
    conditions: no_conditions,
};

static CSR_COLUMNS: &[Column] = &[
    NAME,
    AGE,
    c("SignerName", "string", D_CSR_SIGNER),
    c("Requestor", "string", D_CSR_REQUEST),
    c("RequestedDuration", "string", D_CSR_DURATION),
    c("Condition", "string", D_CSR_CONDITIONS),
];

fn csr_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let conds = obj.arr_at("/status/conditions");
    let has = |t: &str| conds.iter().any(|c| c.text_at("/type") == t);
    let mut status = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !obj.text_at("/status/certificate").is_empty() {
        status.push_str(",Issued");
    }
    let duration = obj
        .i64_at("/spec/expirationSeconds")
        .map(|s| human_duration_nanos(i128::from(s) * 1_000_000_000))
        .unwrap_or_else(|| "<none>".to_string());
    vec![
        name(obj),
        age(obj, now),
        json!(or_none(obj.text_at("/spec/signerName"))),
        json!(obj.text_at("/spec/username")),
        json!(duration),
        json!(status),
    ]
}

pub static CERTIFICATE_SIGNING_REQUEST: Printer = Printer {
    columns: CSR_COLUMNS,
    cells: csr_cells,
    conditions: no_conditions,
};

static WEBHOOK_CONFIGURATION_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

fn webhook_configuration_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    vec![name(obj), json!(len_of(obj, "/webhooks")), age(obj, now)]
}

pub static WEBHOOK_CONFIGURATION: Printer = Printer {
    columns: WEBHOOK_CONFIGURATION_COLUMNS,
    cells: webhook_configuration_cells,
    conditions: no_conditions,
};

static VAP_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Validations",
        "integer",
        "Validations indicates the number of validation rules defined in this configuration",
    ),
    c(
        "ParamKind",
        "string",
        "ParamKind specifies the kind of resources used to parameterize this policy",
    ),
    AGE,
];

fn vap_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let param_kind = match obj.pointer("/spec/paramKind").filter(|v| v.is_object()) {
        Some(p) => format!("{}/{}", p.text_at("/apiVersion"), p.text_at("/kind")),
        None => "<unset>".to_string(),
    };
    vec![
        name(obj),
        json!(len_of(obj, "/spec/validations")),
        json!(param_kind),
        age(obj, now),
    ]
}

pub static VALIDATING_ADMISSION_POLICY: Printer = Printer {
    columns: VAP_COLUMNS,
    cells: vap_cells,
    conditions: no_conditions,
};

static VAP_BINDING_COLUMNS: &[Column] = &[
    NAME,
    c(
        "PolicyName",
        "string",
        "PolicyName indicates the policy definition which the policy binding binded to",
    ),
    c(
        "ParamRef",
        "string",
        "ParamRef indicates the param resource which sets the configration param",
    ),
    AGE,
];

fn vap_binding_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let param = match obj.pointer("/spec/paramRef").filter(|v| v.is_object()) {
        Some(p) => {
            let n = p.text_at("/name");
            if !n.is_empty() {
                let ns = p.text_at("/namespace");
                if ns.is_empty() {
                    format!("*/{n}")
                } else {
                    format!("{ns}/{n}")
                }
            } else if let Some(sel) = p.get("selector").filter(|v| v.is_object()) {
                label_selector_string(Some(sel)).unwrap_or_default()
            } else {
                "<unset>".to_string()
            }
        }
        None => "<unset>".to_string(),
    };
    vec![
        name(obj),
        json!(obj.text_at("/spec/policyName")),
        json!(param),
        age(obj, now),
    ]
}

pub static VALIDATING_ADMISSION_POLICY_BINDING: Printer = Printer {
    columns: VAP_BINDING_COLUMNS,
    cells: vap_binding_cells,
    conditions: no_conditions,
};

static MAP_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Mutations",
        "integer",
        "Mutation indicates the number of mutations rules defined in this configuration",
    ),
    c(
        "ParamKind",
        "string",
        "ParamKind specifies the kind of resources used to parameterize this policy",
    ),
    AGE,
];

fn map_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let mut cells = vap_cells(obj, now);
    cells[1] = json!(len_of(obj, "/spec/mutations"));
    cells
}

pub static MUTATING_ADMISSION_POLICY: Printer = Printer {
    columns: MAP_COLUMNS,
    cells: map_cells,
    conditions: no_conditions,
};

/// Pods in a terminal phase are marked `Completed`, as upstream's row conditions.
fn pod_conditions(obj: &Value) -> Option<Value> {
    let (reason, message) = match obj.text_at("/status/phase").as_str() {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    // 2024-01-01T00:00:00Z
    const T0: u64 = 1_704_067_200;
    const T0S: &str = "2024-01-01T00:00:00Z";

    #[test]
    fn human_duration_matches_upstream() {
        let h = |s: u64| human_duration(Duration::from_secs(s));
        assert_eq!(h(0), "0s");
        assert_eq!(h(5), "5s");
        assert_eq!(h(119), "119s");
        assert_eq!(h(120), "2m");
        assert_eq!(h(3 * 60 + 20), "3m20s");
        assert_eq!(h(10 * 60 + 59), "10m");
        assert_eq!(h(179 * 60), "179m");
        assert_eq!(h(3 * 3600), "3h");
        assert_eq!(h(3 * 3600 + 30 * 60), "3h30m");
        assert_eq!(h(8 * 3600 + 59 * 60), "8h");
        assert_eq!(h(36 * 3600), "36h");
        assert_eq!(h(48 * 3600), "2d");
        assert_eq!(h(50 * 3600), "2d2h");
        assert_eq!(h(51 * 3600), "2d3h");
        assert_eq!(h(8 * 86400), "8d");
        assert_eq!(h(729 * 86400), "729d");
        assert_eq!(h(730 * 86400), "2y");
        assert_eq!(h(740 * 86400), "2y10d");
        assert_eq!(h(9 * 365 * 86400), "9y");
        assert_eq!(human_duration_nanos(-1_500_000_000), "0s");
        assert_eq!(human_duration_nanos(-2_000_000_000), "<invalid>");
    }

    #[test]
    fn age_cell() {
        let obj = json!({"metadata": {"creationTimestamp": T0S}});
        assert_eq!(age(&obj, at(T0 + 200)), json!("3m20s"));
        assert_eq!(age(&json!({"metadata": {}}), at(T0)), json!("<unknown>"));
    }

    #[test]
    fn every_printer_has_one_cell_per_column() {
        for r in crate::api::builtin() {
            let s = r.strategy;
            for obj in [
                json!({}),
                json!({"metadata": {"name": "x", "creationTimestamp": T0S}}),
                json!(null),
            ] {
                assert_eq!(
                    s.cells(&obj, at(T0)).len(),
                    s.column_definitions().len(),
                    "{}/{}",
                    r.group,
                    r.kind
                );
            }
            assert!(
                s.column_definitions()
                    .iter()
                    .any(|c| c["name"] == "Name" && c["format"] == "name"),
                "{}/{}",
                r.group,
                r.kind
            );
        }
        let role = crate::api::builtin()
            .iter()
            .find(|r| r.kind == "ClusterRole")
            .expect("row");
        assert_eq!(role.strategy.column_definitions()[1]["name"], "Created At");
    }

    fn pod(status: Value) -> Value {
        json!({"metadata": {"name": "p", "creationTimestamp": T0S},
               "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeName": "n1"},
               "status": status})
    }

    #[test]
    fn running_pod_row() {
        let p = pod(json!({"phase": "Running", "podIPs": [{"ip": "10.1.0.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": T0S}}}]}));
        let cells = (POD.cells)(&p, at(T0 + 65));
        assert_eq!(
            cells,
            vec![
                json!("p"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("65s"),
                json!("10.1.0.5"),
                json!("n1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        assert_eq!(
            POD.columns.iter().map(|c| c.priority).collect::<Vec<_>>(),
            vec![0, 0, 0, 0, 0, 1, 1, 1, 1]
        );
    }

    #[test]
    fn pod_status_variants() {
        let now = at(T0 + 3600);
        let status = |p: &Value| (POD.cells)(p, now)[2].clone();
        // Terminating
        let mut p = pod(json!({"phase": "Running"}));
        p["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:30:00Z");
        assert_eq!(status(&p), json!("Terminating"));
        // NodeLost while deleting → Unknown
        let mut p = pod(json!({"phase": "Running", "reason": "NodeLost"}));
        p["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:30:00Z");
        assert_eq!(status(&p), json!("Unknown"));
        // Waiting reason, restarts with last termination time
        let p = pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "c", "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:55:00Z"}}}]}),
        );
        let cells = (POD.cells)(&p, now);
        assert_eq!(cells[1], json!("0/1"));
        assert_eq!(cells[2], json!("CrashLoopBackOff"));
        assert_eq!(cells[3], json!("4 (5m ago)"));
        // Terminated without reason
        let p = pod(json!({"phase": "Failed", "containerStatuses": [{"name": "c",
            "state": {"terminated": {"exitCode": 137}}}]}));
        assert_eq!(status(&p), json!("ExitCode:137"));
        assert_eq!(
            pod_conditions(&p),
            Some(json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]))
        );
        // Init containers
        let mut p = pod(json!({"phase": "Pending", "initContainerStatuses": [{"name": "init",
            "state": {"waiting": {"reason": "PodInitializing"}}}]}));
        p["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox"}]);
        assert_eq!(status(&p), json!("Init:0/1"));
        p["status"]["initContainerStatuses"][0]["state"] = json!({"waiting": {"reason": "ImagePullBackOff"}});
        assert_eq!(status(&p), json!("Init:ImagePullBackOff"));
        p["status"]["initContainerStatuses"][0]["state"] = json!({"terminated": {"exitCode": 2}});
        assert_eq!(status(&p), json!("Init:ExitCode:2"));
        // Scheduling gated
        let p = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "SchedulingGated"}]}),
        );
        assert_eq!(status(&p), json!("SchedulingGated"));
        // A sidecar (restartable init container) counts toward READY's total
        let mut p = pod(
            json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "side", "started": true, "ready": true,
                "state": {"running": {}}}],
            "containerStatuses": [{"name": "c", "ready": true, "state": {"running": {}}}]}),
        );
        p["spec"]["initContainers"] = json!([{"name": "side", "restartPolicy": "Always"}]);
        assert_eq!((POD.cells)(&p, now)[1], json!("2/2"));
        // Readiness gates
        let mut p = pod(json!({"phase": "Running", "conditions": [{"type": "g1", "status": "True"}]}));
        p["spec"]["readinessGates"] = json!([{"conditionType": "g1"}, {"conditionType": "g2"}]);
        assert_eq!((POD.cells)(&p, now)[8], json!("1/2"));
    }

    #[test]
    fn service_rows() {
        let svc = json!({"metadata": {"name": "s", "creationTimestamp": T0S},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "nodePort": 30443, "protocol": "TCP"}],
                "selector": {"app": "web"}}});
        let cells = (SERVICE.cells)(&svc, at(T0 + 10));
        assert_eq!(
            cells,
            vec![
                json!("s"),
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80/TCP,443:30443/TCP"),
                json!("10s"),
                json!("app=web")
            ]
        );
        let lb = json!({"spec": {"type": "LoadBalancer", "clusterIPs": ["10.0.0.1"]}});
        assert_eq!((SERVICE.cells)(&lb, at(T0))[3], json!("<pending>"));
        assert_eq!((SERVICE.cells)(&lb, at(T0))[4], json!("<none>"));
        assert_eq!((SERVICE.cells)(&lb, at(T0))[6], json!("<none>"));
        let lb = json!({"spec": {"type": "LoadBalancer", "externalIPs": ["5.6.7.8"]},
            "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}, {"hostname": "lb.example.com"}]}}});
        assert_eq!((SERVICE.cells)(&lb, at(T0))[3], json!("9.9.9.9,lb.example.com,5.6.7.8"));
        let en = json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        assert_eq!((SERVICE.cells)(&en, at(T0))[3], json!("db.example.com"));
    }

    #[test]
    fn endpoints_and_slices() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "1.2.3.4"}, {"ip": "1.2.3.5"}, {"ip": "fd00::1"},
            {"ip": "1.2.3.7"}], "ports": [{"port": 80}]}]});
        assert_eq!(format_endpoints(&ep), "1.2.3.4:80,1.2.3.5:80,[fd00::1]:80 + 1 more...");
        assert_eq!(format_endpoints(&json!({})), "<none>");
        let es = json!({"addressType": "IPv4", "ports": [{"port": 80}, {"name": "https"}],
            "endpoints": [{"addresses": ["10.0.0.1"]}]});
        let cells = (ENDPOINT_SLICE.cells)(&es, at(T0));
        assert_eq!(cells[1..4], [json!("IPv4"), json!("80,https"), json!("10.0.0.1")]);
        assert_eq!((ENDPOINT_SLICE.cells)(&json!({}), at(T0))[2], json!("<unset>"));
    }

    #[test]
    fn workload_rows() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": T0S},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "a", "image": "i1"}, {"name": "b", "image": "i2"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            (DEPLOYMENT.cells)(&d, at(T0 + 120)),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2m"),
                json!("a,b"),
                json!("i1,i2"),
                json!("app=web")
            ]
        );
        let job = json!({"metadata": {"name": "j"}, "spec": {"completions": 1, "parallelism": 1},
            "status": {"succeeded": 1, "startTime": T0S, "completionTime": "2024-01-01T00:00:42Z",
                "conditions": [{"type": "Complete", "status": "True"}]}});
        let cells = (JOB.cells)(&job, at(T0 + 600));
        assert_eq!(cells[1..4], [json!("Complete"), json!("1/1"), json!("42s")]);
        let job = json!({"spec": {"parallelism": 3}, "status": {}});
        let cells = (JOB.cells)(&job, at(T0));
        assert_eq!(cells[1..4], [json!("Running"), json!("0/1 of 3"), json!("")]);
        let cj = json!({"spec": {"schedule": "*/5 * * * *", "suspend": false}, "status": {}});
        let cells = (CRON_JOB.cells)(&cj, at(T0));
        assert_eq!(
            cells[1..6],
            [
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(0),
                json!("<none>")
            ]
        );
        let ds = json!({"spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}}});
        assert_eq!((DAEMON_SET.cells)(&ds, at(T0))[6], json!("kubernetes.io/os=linux"));
        let sts = json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 1}});
        assert_eq!((STATEFUL_SET.cells)(&sts, at(T0))[1], json!("1/2"));
    }

    #[test]
    fn node_event_and_misc_rows() {
        let node = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": "",
                "kubernetes.io/role": "master"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0"}}});
        let cells = (NODE.cells)(&node, at(T0));
        assert_eq!(
            cells[1..3],
            [json!("Ready,SchedulingDisabled"), json!("control-plane,master")]
        );
        assert_eq!(
            cells[4..8],
            [
                json!("v1.33.0"),
                json!("192.168.1.2"),
                json!("<none>"),
                json!("<unknown>")
            ]
        );

        let ev = json!({"metadata": {"name": "e1"}, "type": "Normal", "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "assigned \n",
            "source": {"component": "default-scheduler"},
            "firstTimestamp": T0S, "lastTimestamp": "2024-01-01T00:01:00Z"});
        assert_eq!(
            (EVENT.cells)(&ev, at(T0 + 120)),
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Scheduled"),
                json!("pod/p"),
                json!(""),
                json!("default-scheduler"),
                json!("assigned"),
                json!("2m"),
                json!(1),
                json!("e1")
            ]
        );
        let ev1 = json!({"metadata": {"name": "e2"}, "type": "Warning", "reason": "X", "note": "n",
            "regarding": {"kind": "Node", "name": "n1"}, "eventTime": "2024-01-01T00:00:00.000000Z",
            "reportingController": "ctl", "reportingInstance": "i1", "series": {"count": 5,
            "lastObservedTime": "2024-01-01T00:00:30.000000Z"}});
        let cells = (EVENT.cells)(&ev1, at(T0 + 60));
        assert_eq!(cells[0], json!("30s"));
        assert_eq!(cells[3], json!("node/n1"));
        assert_eq!(cells[5], json!("ctl, i1"));
        assert_eq!(cells[8], json!(5));

        let cm = json!({"data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
        assert_eq!((CONFIG_MAP.cells)(&cm, at(T0))[1], json!(3));
        let secret = json!({"type": "Opaque", "data": {"a": "MQ=="}});
        assert_eq!((SECRET.cells)(&secret, at(T0))[1..3], [json!("Opaque"), json!(1)]);
        let rb = json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"}, {"kind": "User", "name": "bob"}]});
        let cells = (ROLE_BINDING.cells)(&rb, at(T0));
        assert_eq!(cells[1], json!("ClusterRole/view"));
        assert_eq!(cells[3..6], [json!("alice, bob"), json!("devs"), json!("ns/sa")]);
        let sc = json!({"metadata": {"name": "std", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "p"});
        assert_eq!(
            (STORAGE_CLASS.cells)(&sc, at(T0))[0..5],
            [
                json!("std (default)"),
                json!("p"),
                json!("Delete"),
                json!("Immediate"),
                json!(false)
            ]
        );
        let pvc = json!({"spec": {"volumeName": "pv1", "storageClassName": "std"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}});
        let cells = (PERSISTENT_VOLUME_CLAIM.cells)(&pvc, at(T0));
        assert_eq!(
            cells[1..7],
            [
                json!("Bound"),
                json!("pv1"),
                json!("1Gi"),
                json!("RWO,ROX"),
                json!("std"),
                json!("<unset>")
            ]
        );
        let hpa = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
            "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
            "current": {"averageUtilization": 50}}}]}});
        let cells = (HORIZONTAL_POD_AUTOSCALER.cells)(&hpa, at(T0));
        assert_eq!(
            cells[1..6],
            [
                json!("Deployment/web"),
                json!("cpu: 50%/80%"),
                json!("<unset>"),
                json!(5),
                json!(2)
            ]
        );
        let csr = json!({"spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "u",
            "expirationSeconds": 3600}, "status": {"conditions": [{"type": "Approved"}], "certificate": "Zm9v"}});
        let cells = (CERTIFICATE_SIGNING_REQUEST.cells)(&csr, at(T0));
        assert_eq!(cells[4..6], [json!("60m"), json!("Approved,Issued")]);
        let rq = json!({"status": {"hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1"},
            "used": {"pods": "1", "requests.cpu": "500m"}}});
        let cells = (RESOURCE_QUOTA.cells)(&rq, at(T0));
        assert_eq!(
            cells[1..3],
            [json!("pods: 1/10, requests.cpu: 500m/1"), json!("limits.cpu: 0/2")]
        );
    }
}
