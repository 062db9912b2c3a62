//! The set of servable resource types: the built-in kinds plus whatever the
//! stored CustomResourceDefinitions declare.

use std::cmp::Ordering;

use serde_json::Value;

/// One resource type (e.g. `deployments` in group `apps`).
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceType {
    pub group: String,
    /// Served versions, most preferred first.
    pub versions: Vec<String>,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists. When it does, writes to the
    /// main resource leave `.status` alone, as in the real apiserver.
    pub status_subresource: bool,
    /// Whether `metadata.generation` is maintained (core/v1 kinds have none).
    pub has_generation: bool,
    /// Set for types that come from a CRD (their objects always carry
    /// `apiVersion`/`kind`, and versions are converted by relabeling).
    pub from_crd: bool,
}

impl ResourceType {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() { version.to_string() } else { format!("{}/{}", self.group, version) }
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    pub fn gr(&self) -> crate::error::GroupResource {
        crate::error::GroupResource::new(&self.group, &self.plural)
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        namespaced: false,
        short: &["ns"],
        status: true,
    },
    Builtin {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        namespaced: true,
        short: &["cm"],
        status: false,
    },
    Builtin {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        namespaced: true,
        short: &[],
        status: false,
    },
    Builtin {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        namespaced: true,
        short: &["svc"],
        status: true,
    },
    Builtin {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        namespaced: true,
        short: &["sa"],
        status: false,
    },
    Builtin {
        group: "",
        version: "v1",
        kind: "ResourceQuota",
        plural: "resourcequotas",
        namespaced: true,
        short: &["quota"],
        status: true,
    },
    Builtin {
        group: "",
        version: "v1",
        kind: "LimitRange",
        plural: "limitranges",
        namespaced: true,
        short: &["limits"],
        status: false,
    },
    Builtin {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        namespaced: true,
        short: &["deploy"],
        status: true,
    },
    Builtin {
        group: "batch",
        version: "v1",
        kind: "CronJob",
        plural: "cronjobs",
        namespaced: true,
        short: &["cj"],
        status: true,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        plural: "roles",
        namespaced: true,
        short: &[],
        status: false,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        namespaced: true,
        short: &[],
        status: false,
    },
    Builtin {
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        namespaced: true,
        short: &["hpa"],
        status: true,
    },
    Builtin {
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
        namespaced: true,
        short: &["pdb"],
        status: true,
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        namespaced: false,
        short: &["crd", "crds"],
        status: true,
    },
];

/// Registered types, in discovery order (built-ins first, then CRDs by name).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    pub fn builtin() -> Self {
        let types = BUILTINS
            .iter()
            .map(|b| ResourceType {
                group: b.group.into(),
                versions: vec![b.version.into()],
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_lowercase(),
                list_kind: format!("{}List", b.kind),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: match b.kind {
                    "Service" | "Deployment" | "HorizontalPodAutoscaler" => vec!["all".into()],
                    "CustomResourceDefinition" => vec!["api-extensions".into()],
                    _ => vec![],
                },
                status_subresource: b.status,
                has_generation: !b.group.is_empty(),
                from_crd: false,
            })
            .collect();
        Self { types }
    }

    /// Rebuilds the registry from the built-ins and the given CRD objects.
    pub fn with_crds<'a>(crds: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut reg = Self::builtin();
        let mut extra: Vec<ResourceType> = crds.into_iter().filter_map(type_from_crd).collect();
        extra.sort_by(|a, b| (&a.group, &a.plural).cmp(&(&b.group, &b.plural)));
        for t in extra {
            // A CRD may not shadow a built-in type.
            if reg.find(&t.group, &t.plural).is_none() {
                reg.types.push(t);
            }
        }
        reg
    }

    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    pub fn find(&self, group: &str, plural: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.group == group && t.plural == plural)
    }

    /// Looks up a type served at `group/version` under `plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.find(group, plural).filter(|t| t.serves(version))
    }

    /// Groups (excluding core) with their served versions, most preferred
    /// first, in discovery order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            let idx = match out.iter().position(|(g, _)| *g == t.group) {
                Some(i) => i,
                None => {
                    out.push((t.group.clone(), Vec::new()));
                    out.len() - 1
                }
            };
            for v in &t.versions {
                if !out[idx].1.contains(v) {
                    out[idx].1.push(v.clone());
                }
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by(|a, b| compare_versions(b, a));
        }
        out
    }

    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.types.iter().any(|t| t.group == group && t.serves(version))
    }
}

/// Derives a resource type from a CRD object. Returns `None` for a CRD that
/// is malformed (validation rejects those before they are stored) or that
/// serves no version.
fn type_from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let names = spec.get("names")?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let group = s(spec, "group")?;
    let kind = s(names, "kind")?;
    let plural = s(names, "plural")?;
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let mut versions = Vec::new();
    let mut status = false;
    for v in spec.get("versions")?.as_array()? {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        versions.push(s(v, "name")?);
        status |= v.pointer("/subresources/status").is_some();
    }
    if versions.is_empty() {
        return None;
    }
    versions.sort_by(|a, b| compare_versions(b, a));
    Some(ResourceType {
        group,
        versions,
        singular: s(names, "singular").unwrap_or_else(|| kind.to_lowercase()),
        list_kind: s(names, "listKind").unwrap_or_else(|| format!("{kind}List")),
        kind,
        plural,
        namespaced: s(spec, "scope").as_deref() != Some("Cluster"),
        short_names: strs(names.get("shortNames")),
        categories: strs(names.get("categories")),
        status_subresource: status,
        has_generation: true,
        from_crd: true,
    })
}

/// Kubernetes version priority: GA > beta > alpha, then by major and minor
/// number; anything not of the form `vN[(alpha|beta)M]` sorts last,
/// alphabetically.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn key(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let major: u64 = rest[..digits_end].parse().ok()?;
        let tail = &rest[digits_end..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (prefix, rank) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = tail.strip_prefix(prefix) {
                return Some((rank, major, n.parse().ok()?));
            }
        }
        None
    }
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => b.cmp(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority() {
        let mut v = vec!["v1alpha1", "foo", "v1beta2", "v2", "v1", "v1beta1", "v10alpha1"];
        v.sort_by(|a, b| compare_versions(b, a));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v10alpha1", "v1alpha1", "foo"]);
    }
}
