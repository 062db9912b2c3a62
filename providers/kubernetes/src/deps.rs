//! Ordering the engine cannot see in references: a namespaced object needs its Namespace, a
//! custom resource needs the CustomResourceDefinition that defines its kind.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use strata_sdk::{Address, Resource};

use crate::kinds::{KindRef, split_management};

/// The provider name these helpers look at in `Resource::provider`.
pub const PROVIDER_NAME: &str = "kubernetes";

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |cur, k| cur.get(*k)).and_then(Value::as_str)
}

/// Implicit `(dependent, dependency)` edges among Kubernetes resources:
///
/// * an object with `metadata.namespace: X` depends on the `v1/Namespace` resource named `X`,
///   when that Namespace is in the list, and on a field-managed `fields:v1/Namespace` named `X`;
/// * an object of kind `group/version/Kind` depends on the CustomResourceDefinition resource
///   whose `spec.group` and `spec.names.kind` are that group and Kind, when it is in the list
///   (any served version of the CRD counts).
///
/// Resources of other providers are ignored. Edges come out in input order, without
/// duplicates and without self-edges.
pub fn implicit_dependencies(resources: &[Resource]) -> Vec<(Address, Address)> {
    let ours: Vec<(&Resource, KindRef)> = resources
        .iter()
        .filter(|r| r.provider == PROVIDER_NAME)
        .filter_map(|r| KindRef::parse(split_management(&r.kind).1).map(|k| (r, k)))
        .collect();

    // A field-managed Namespace (`fields:v1/Namespace`, e.g. the mesh's injection label) counts
    // too: the objects in it must be created after the label is set.
    let mut namespaces: HashMap<&str, Vec<&Address>> = HashMap::new();
    let mut crds: HashMap<(&str, &str), &Address> = HashMap::new();
    for (r, k) in &ours {
        if k.group.is_empty() && k.kind == "Namespace" {
            if let Some(name) = str_at(&r.attrs, &["metadata", "name"]) {
                namespaces.entry(name).or_default().push(&r.address);
            }
        } else if k.is_crd()
            && let (Some(group), Some(kind)) =
                (str_at(&r.attrs, &["spec", "group"]), str_at(&r.attrs, &["spec", "names", "kind"]))
        {
            crds.entry((group, kind)).or_insert(&r.address);
        }
    }

    let mut seen = BTreeSet::new();
    let mut edges = Vec::new();
    for (r, k) in &ours {
        let mut push = |dep: &Address| {
            if *dep != r.address && seen.insert((r.address.clone(), dep.clone())) {
                edges.push((r.address.clone(), dep.clone()));
            }
        };
        if let Some(ns) = str_at(&r.attrs, &["metadata", "namespace"])
            && let Some(deps) = namespaces.get(ns)
        {
            for dep in deps {
                push(dep);
            }
        }
        if let Some(dep) = crds.get(&(k.group.as_str(), k.kind.as_str())) {
            push(dep);
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(addr: &str, kind: &str, attrs: Value) -> Resource {
        Resource {
            address: Address::parse(addr).unwrap(),
            provider: PROVIDER_NAME.into(),
            kind: kind.into(),
            attrs,
            depends_on: vec![],
        }
    }
    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn namespaced_objects_depend_on_their_namespace() {
        let rs = vec![
            res("r.cm", "v1/ConfigMap", json!({"metadata": {"name": "c", "namespace": "apex"}})),
            res("r.ns", "v1/Namespace", json!({"metadata": {"name": "apex"}})),
            res("r.other", "v1/ConfigMap", json!({"metadata": {"name": "c", "namespace": "kube-system"}})),
            res("r.cm2", "v1/ConfigMap", json!({"metadata": {"name": "d", "namespace": "apex"}})),
        ];
        assert_eq!(implicit_dependencies(&rs), vec![(a("r.cm"), a("r.ns")), (a("r.cm2"), a("r.ns"))]);
    }

    #[test]
    fn objects_depend_on_a_field_managed_namespace() {
        let rs = vec![
            res("r.dep", "apps/v1/Deployment", json!({"metadata": {"name": "d", "namespace": "market"}})),
            res("mesh.inject", "fields:v1/Namespace", json!({"metadata": {"name": "market"}})),
        ];
        assert_eq!(implicit_dependencies(&rs), vec![(a("r.dep"), a("mesh.inject"))]);
    }

    #[test]
    fn custom_resources_depend_on_their_crd() {
        let crd = res(
            "r.crd",
            "apiextensions.k8s.io/v1/CustomResourceDefinition",
            json!({"metadata": {"name": "widgets.example.com"},
                   "spec": {"group": "example.com", "scope": "Namespaced",
                            "names": {"kind": "Widget", "plural": "widgets"}}}),
        );
        let w = res("r.w", "example.com/v1/Widget", json!({"metadata": {"name": "w", "namespace": "apex"}}));
        let ns = res("r.ns", "v1/Namespace", json!({"metadata": {"name": "apex"}}));
        let gadget = res("r.g", "example.com/v1/Gadget", json!({"metadata": {"name": "g"}}));
        let mut foreign = res("aws.w", "example.com/v1/Widget", json!({}));
        foreign.provider = "aws".into();
        let edges = implicit_dependencies(&[w, gadget, foreign, ns, crd]);
        assert_eq!(edges, vec![(a("r.w"), a("r.ns")), (a("r.w"), a("r.crd"))]);
    }
}
