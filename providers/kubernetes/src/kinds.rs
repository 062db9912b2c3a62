//! Kind strings (`apps/v1/Deployment`), what strata knows offline about built-in kinds (scope,
//! immutable fields, sensitive fields), and the [`KindSchema`] the engine diffs with.

use strata_sdk::{KindSchema, PathPattern};

/// The kind of a CustomResourceDefinition, whose objects make new kinds available.
pub const CRD_GROUP: &str = "apiextensions.k8s.io";
/// Kind name of a CustomResourceDefinition.
pub const CRD_KIND: &str = "CustomResourceDefinition";

/// The prefix of a *field-managed* kind (`fields:v1/Namespace`): strata applies only the fields
/// in the resource's attrs to an object that already exists, claims no ownership of the object,
/// and on delete removes those fields, never the object. See [`crate::fields`].
pub const FIELDS_PREFIX: &str = "fields:";

/// How strata manages the object of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Management {
    /// The whole object: created, marked with strata's ownership marks, deleted.
    Owned,
    /// Only the fields the resource sets, on an object someone else owns (`fields:` kinds).
    Fields,
}

/// Splits a `Resource.kind` into how it is managed and the Kubernetes kind string:
/// `fields:v1/Namespace` is `(Fields, "v1/Namespace")`, `v1/ConfigMap` is `(Owned, "v1/ConfigMap")`.
pub fn split_management(kind: &str) -> (Management, &str) {
    match kind.strip_prefix(FIELDS_PREFIX) {
        Some(base) => (Management::Fields, base),
        None => (Management::Owned, kind),
    }
}

/// A parsed `Resource.kind`: `"{apiVersion}/{Kind}"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindRef {
    /// API group; empty for the core group (`v1`).
    pub group: String,
    /// API version within the group (`v1`, `v1beta1`).
    pub version: String,
    /// The object kind (`Deployment`).
    pub kind: String,
}

impl KindRef {
    /// Parses `v1/ConfigMap`, `apps/v1/Deployment`, `networking.istio.io/v1/VirtualService`.
    /// Returns `None` when the string does not have that shape.
    pub fn parse(s: &str) -> Option<KindRef> {
        let mut parts = s.split('/');
        let (group, version, kind) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(v), Some(k), None, None) => ("", v, k),
            (Some(g), Some(v), Some(k), None) => (g, v, k),
            _ => return None,
        };
        let ok_word =
            |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !ok_word(version) || !ok_word(kind) || (!group.is_empty() && !ok_word(group)) {
            return None;
        }
        if !kind.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        // `v1` alone is the core group; a one-part group like `apps` needs a version after it.
        Some(KindRef { group: group.to_string(), version: version.to_string(), kind: kind.to_string() })
    }

    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// True for CustomResourceDefinition kinds (any version).
    pub fn is_crd(&self) -> bool {
        self.group == CRD_GROUP && self.kind == CRD_KIND
    }
}

impl std::fmt::Display for KindRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.api_version(), self.kind)
    }
}

/// Built-in kinds whose objects live in a namespace, as `(group, Kind)`.
const NAMESPACED: &[(&str, &str)] = &[
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "Pod"),
    ("", "PodTemplate"),
    ("", "PersistentVolumeClaim"),
    ("", "Endpoints"),
    ("", "Event"),
    ("", "LimitRange"),
    ("", "ResourceQuota"),
    ("", "ReplicationController"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("apps", "ControllerRevision"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("policy", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("coordination.k8s.io", "Lease"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("events.k8s.io", "Event"),
    ("storage.k8s.io", "CSIStorageCapacity"),
];

/// Built-in kinds that are cluster-scoped, as `(group, Kind)`.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    (CRD_GROUP, CRD_KIND),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("apiregistration.k8s.io", "APIService"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
];

/// Whether a built-in kind is namespaced: `Some(true)` / `Some(false)` for kinds strata knows,
/// `None` for custom and unknown kinds (their scope comes from discovery at run time).
pub fn builtin_namespaced(kind: &KindRef) -> Option<bool> {
    let key = (kind.group.as_str(), kind.kind.as_str());
    if NAMESPACED.contains(&key) {
        Some(true)
    } else if CLUSTER_SCOPED.contains(&key) {
        Some(false)
    } else {
        None
    }
}

/// How `metadata.name` is validated for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 label: at most 63 lowercase alphanumerics or `-` (Namespace).
    Dns1123Label,
    /// RFC 1035 label: an RFC 1123 label starting with a letter (Service).
    Dns1035Label,
    /// RFC 1123 subdomain: at most 253 characters of lowercase alphanumerics, `-` and `.`.
    Dns1123Subdomain,
    /// Any string without `/` or `%` other than `.` and `..` (RBAC objects, `system:foo`).
    PathSegment,
}

/// The name rule the API server applies to a kind.
pub fn name_rule(kind: &KindRef) -> NameRule {
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Namespace") => NameRule::Dns1123Label,
        ("", "Service") => NameRule::Dns1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Dns1123Subdomain,
    }
}

fn patterns(ps: &[&str]) -> Vec<PathPattern> {
    ps.iter().map(|p| PathPattern::new(*p)).collect()
}

/// The diff facts for a Kubernetes kind.
///
/// * `force_new`: `/metadata/name` and `/metadata/namespace` for every kind (they are the
///   object's identity), plus the fields the API server refuses to change on built-in kinds
///   (`/spec/selector` of workloads, `/spec/clusterIP` of a Service, `/spec/template` of a Job,
///   the class, access modes and volume of a PersistentVolumeClaim, `roleRef` of bindings, ...).
/// * `sensitive`: a Secret's `/data` and `/stringData`, and the `last-applied-configuration`
///   annotation that `kubectl apply` leaves on it (it holds the data in clear).
/// * `ignore_changes`: nothing by default. In particular `apps/v1/Deployment` `/spec/replicas`
///   is **not** ignored: when an HPA scales a Deployment, leave `replicas` out of the spec (the
///   engine only diffs attributes the spec sets) instead of relying on an ignore rule.
///
/// A field-managed kind (`fields:…`) keeps the base kind's sensitive paths, but only its
/// identity forces a new resource: strata cannot recreate an object it does not own, and
/// "replacing" its fields (remove, then apply again) would not change an immutable field.
pub fn kind_schema(kind: &str) -> KindSchema {
    let (management, base) = split_management(kind);
    let mut schema = owned_kind_schema(base);
    if management == Management::Fields {
        schema.force_new = patterns(&["/metadata/name", "/metadata/namespace"]);
        schema.fields_only = true;
    }
    schema
}

fn owned_kind_schema(kind: &str) -> KindSchema {
    let mut force_new = vec!["/metadata/name", "/metadata/namespace"];
    let mut sensitive: Vec<&str> = Vec::new();
    let Some(k) = KindRef::parse(kind) else {
        return KindSchema { force_new: patterns(&force_new), ..KindSchema::default() };
    };
    match (k.group.as_str(), k.kind.as_str()) {
        ("apps", "Deployment") | ("apps", "DaemonSet") | ("apps", "ReplicaSet") => {
            force_new.push("/spec/selector");
        }
        ("apps", "StatefulSet") => force_new.extend([
            "/spec/selector",
            "/spec/serviceName",
            "/spec/volumeClaimTemplates",
            "/spec/podManagementPolicy",
        ]),
        ("batch", "Job") => force_new.extend(["/spec/template", "/spec/selector"]),
        ("", "Service") => force_new.push("/spec/clusterIP"),
        ("", "PersistentVolumeClaim") => force_new.extend([
            "/spec/storageClassName",
            "/spec/accessModes",
            "/spec/volumeName",
            "/spec/volumeMode",
            "/spec/selector",
            "/spec/dataSource",
        ]),
        ("", "Secret") => {
            force_new.push("/type");
            sensitive.extend([
                "/data",
                "/stringData",
                "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
            ]);
        }
        ("rbac.authorization.k8s.io", "RoleBinding") | ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            force_new.push("/roleRef")
        }
        ("storage.k8s.io", "StorageClass") => {
            force_new.extend(["/provisioner", "/parameters", "/reclaimPolicy", "/volumeBindingMode"])
        }
        (CRD_GROUP, CRD_KIND) => force_new.extend(["/spec/group", "/spec/scope"]),
        _ => {}
    }
    KindSchema {
        force_new: patterns(&force_new),
        sensitive: patterns(&sensitive),
        ignore_changes: Vec::new(),
        asynchronous: false,
        fields_only: false,
    }
}

/// The outputs every Kubernetes kind exposes.
pub const OUTPUTS: [&str; 4] = ["uid", "resourceVersion", "name", "namespace"];

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        strata_sdk::value::pointer_segments(s)
    }

    #[test]
    fn parses_kind_strings() {
        let cm = KindRef::parse("v1/ConfigMap").unwrap();
        assert_eq!((cm.group.as_str(), cm.version.as_str()), ("", "v1"));
        assert_eq!(cm.api_version(), "v1");
        let d = KindRef::parse("apps/v1/Deployment").unwrap();
        assert_eq!(d.api_version(), "apps/v1");
        assert_eq!(d.to_string(), "apps/v1/Deployment");
        let vs = KindRef::parse("networking.istio.io/v1/VirtualService").unwrap();
        assert_eq!(vs.group, "networking.istio.io");
        assert!(KindRef::parse("ConfigMap").is_none());
        assert!(KindRef::parse("a/b/c/D").is_none());
        assert!(KindRef::parse("v1/").is_none());
        assert!(KindRef::parse("apps/v1/1Deployment").is_none());
        assert!(KindRef::parse("apiextensions.k8s.io/v1/CustomResourceDefinition").unwrap().is_crd());
    }

    #[test]
    fn knows_builtin_scopes() {
        let k = |s| KindRef::parse(s).unwrap();
        assert_eq!(builtin_namespaced(&k("v1/ConfigMap")), Some(true));
        assert_eq!(builtin_namespaced(&k("autoscaling/v2/HorizontalPodAutoscaler")), Some(true));
        assert_eq!(builtin_namespaced(&k("v1/Namespace")), Some(false));
        assert_eq!(builtin_namespaced(&k("rbac.authorization.k8s.io/v1/ClusterRole")), Some(false));
        assert_eq!(builtin_namespaced(&k("networking.istio.io/v1/VirtualService")), None);
    }

    #[test]
    fn schema_of_builtin_kinds() {
        let d = kind_schema("apps/v1/Deployment");
        assert!(d.forces_new(&path("/metadata/name")));
        assert!(d.forces_new(&path("/spec/selector/matchLabels/app")));
        assert!(!d.forces_new(&path("/spec/replicas")));
        assert!(!d.is_ignored(&path("/spec/replicas")));
        assert!(kind_schema("v1/Service").forces_new(&path("/spec/clusterIP")));
        assert!(kind_schema("batch/v1/Job").forces_new(&path("/spec/template/spec/containers/0/image")));
        assert!(kind_schema("v1/PersistentVolumeClaim").forces_new(&path("/spec/storageClassName")));
        let s = kind_schema("v1/Secret");
        assert!(s.is_sensitive(&path("/data/password")));
        assert!(s.is_sensitive(&path("/stringData/token")));
        assert!(!s.is_sensitive(&path("/metadata/name")));
        let hpa = kind_schema("autoscaling/v2/HorizontalPodAutoscaler");
        assert!(hpa.ignore_changes.is_empty());
        // Field-managed: sensitive as the base kind, only the identity forces a new resource.
        let fs = kind_schema("fields:v1/Secret");
        assert!(fs.is_sensitive(&path("/data/password")));
        assert!(!fs.forces_new(&path("/type")));
        assert!(fs.forces_new(&path("/metadata/name")));
        assert_eq!(split_management("fields:v1/Namespace"), (Management::Fields, "v1/Namespace"));
        assert_eq!(split_management("v1/Namespace"), (Management::Owned, "v1/Namespace"));
        let unknown = kind_schema("example.com/v1/Widget");
        assert!(unknown.forces_new(&path("/metadata/namespace")));
        assert!(unknown.sensitive.is_empty());
    }
}
