//! The pure parts of the batched read: where each request's object lives, grouping requests
//! into one LIST per (kind, namespace), and shaping live objects into [`strata_sdk::Observed`].

use std::collections::BTreeMap;

use serde_json::{Value, json};
use strata_sdk::{ProviderError, ReadRequest};

/// Where one object lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// `"{namespace}/{name}"` for namespaced objects, `"{name}"` for cluster-scoped ones.
    pub fn remote_id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Parses a remote id for a kind of the given scope; a namespaced id without a namespace
    /// gets `default_namespace`.
    pub fn from_remote_id(id: &str, namespaced: bool, default_namespace: &str) -> ObjectKey {
        let (ns, name) = match id.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, id),
        };
        ObjectKey { namespace: namespaced.then(|| ns.unwrap_or(default_namespace).to_string()), name: name.to_string() }
    }

    /// The identity a manifest names (`metadata.name`, `metadata.namespace` or the default).
    pub fn from_manifest(attrs: &Value, namespaced: bool, default_namespace: &str) -> Result<ObjectKey, String> {
        let meta = attrs.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| "the manifest has no metadata.name".to_string())?;
        let namespace = if namespaced {
            Some(
                meta.and_then(|m| m.get("namespace"))
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(default_namespace)
                    .to_string(),
            )
        } else {
            None
        };
        Ok(ObjectKey { namespace, name: name.to_string() })
    }
}

/// Where a read request points: its `remote_id` when state has one, else its desired manifest.
pub fn target_of(req: &ReadRequest<'_>, namespaced: bool, default_namespace: &str) -> Result<ObjectKey, String> {
    match (&req.remote_id, &req.attrs) {
        (Some(id), _) => Ok(ObjectKey::from_remote_id(id, namespaced, default_namespace)),
        (None, Some(attrs)) => ObjectKey::from_manifest(attrs, namespaced, default_namespace),
        (None, None) => Err(format!("cannot read `{}`: neither a remote id nor a manifest", req.address)),
    }
}

/// One LIST: every request of one kind in one namespace (`None`: cluster-scoped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadGroup {
    pub kind: String,
    pub namespace: Option<String>,
    /// `(index into the requests, object name)`.
    pub members: Vec<(usize, String)>,
}

/// What the grouping decided for a request that needs no LIST.
pub type Settled = (usize, Result<Option<strata_sdk::Observed>, ProviderError>);

/// Groups read requests into one LIST per (kind, namespace), in a stable order.
///
/// `scope(kind)` says whether a kind is namespaced: `Ok(Some(_))` from discovery, `Ok(None)`
/// when the cluster does not serve the kind (its objects cannot exist: settled as `Ok(None)`),
/// or an error (settled as that error).
pub fn group_reads<F>(
    requests: &[ReadRequest<'_>],
    mut scope: F,
    default_namespace: &str,
) -> (Vec<ReadGroup>, Vec<Settled>)
where
    F: FnMut(&str) -> Result<Option<bool>, ProviderError>,
{
    type Members = Vec<(usize, String)>;
    let mut groups: BTreeMap<(String, Option<String>), Members> = BTreeMap::new();
    let mut settled = Vec::new();
    for (i, req) in requests.iter().enumerate() {
        let namespaced = match scope(&req.kind) {
            Ok(Some(n)) => n,
            Ok(None) => {
                settled.push((i, Ok(None)));
                continue;
            }
            Err(e) => {
                settled.push((i, Err(e)));
                continue;
            }
        };
        match target_of(req, namespaced, default_namespace) {
            Ok(key) => groups.entry((req.kind.clone(), key.namespace)).or_default().push((i, key.name)),
            Err(msg) => settled.push((i, Err(ProviderError::invalid(msg)))),
        }
    }
    let groups =
        groups.into_iter().map(|((kind, namespace), members)| ReadGroup { kind, namespace, members }).collect();
    (groups, settled)
}

/// Metadata fields owned by the server, removed from observed attributes.
const SERVER_METADATA: &[&str] =
    &["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"];

/// Removes server-owned fields (`metadata.managedFields`, `resourceVersion`, `uid`,
/// `creationTimestamp`, `generation`, `selfLink`, and `status`) from a live object.
pub fn strip_server_fields(obj: &mut Value) {
    if let Some(root) = obj.as_object_mut() {
        root.remove("status");
        if let Some(meta) = root.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in SERVER_METADATA {
                meta.remove(*k);
            }
        }
    }
}

/// The outputs of a live object: `{uid, resourceVersion, name, namespace}` (`namespace` is
/// null for cluster-scoped objects).
pub fn outputs_of(obj: &Value) -> Value {
    // Only the four fields are copied, not the whole metadata (managedFields is most of it).
    let meta = obj.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).cloned().unwrap_or(Value::Null);
    json!({
        "uid": field("uid"),
        "resourceVersion": field("resourceVersion"),
        "name": field("name"),
        "namespace": field("namespace"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_sdk::Address;

    fn req<'a>(addr: &str, kind: &str, remote_id: Option<&str>, attrs: Option<&'a Value>) -> ReadRequest<'a> {
        ReadRequest {
            address: Address::parse(addr).unwrap(),
            kind: kind.into(),
            remote_id: remote_id.map(str::to_string),
            attrs,
        }
    }

    fn cm(name: &str, ns: Option<&str>) -> Value {
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        if let Some(ns) = ns {
            v["metadata"]["namespace"] = json!(ns);
        }
        v
    }

    #[test]
    fn remote_ids_round_trip() {
        let k = ObjectKey::from_remote_id("apex/edge", true, "default");
        assert_eq!(k.namespace.as_deref(), Some("apex"));
        assert_eq!(k.remote_id(), "apex/edge");
        let k = ObjectKey::from_remote_id("edge", true, "default");
        assert_eq!(k.remote_id(), "default/edge");
        let k = ObjectKey::from_remote_id("apex", false, "default");
        assert_eq!((k.namespace, k.name.as_str()), (None, "apex"));
    }

    #[test]
    fn groups_by_kind_and_namespace() {
        let (b, c) = (cm("b", Some("apex")), cm("c", None));
        let (ns2, bad) = (json!({"metadata": {"name": "beta"}}), json!({"metadata": {}}));
        let requests = vec![
            req("r.a", "v1/ConfigMap", Some("apex/a"), None),
            req("r.b", "v1/ConfigMap", None, Some(&b)),
            req("r.c", "v1/ConfigMap", None, Some(&c)), // default namespace
            req("r.d", "v1/Secret", Some("apex/d"), None),
            req("r.ns", "v1/Namespace", Some("apex"), None),
            req("r.ns2", "v1/Namespace", None, Some(&ns2)),
            req("r.vs", "example.com/v1/Widget", Some("apex/w"), None), // not served
            req("r.bad", "v1/ConfigMap", None, Some(&bad)),
            req("r.err", "broken/v1/Thing", Some("x"), None),
        ];
        let scope = |k: &str| match k {
            "v1/Namespace" => Ok(Some(false)),
            "example.com/v1/Widget" => Ok(None),
            "broken/v1/Thing" => Err(ProviderError::retryable("discovery failed")),
            _ => Ok(Some(true)),
        };
        let (groups, settled) = group_reads(&requests, scope, "default");
        let summary: Vec<_> =
            groups.iter().map(|g| (g.kind.as_str(), g.namespace.as_deref(), g.members.clone())).collect();
        assert_eq!(
            summary,
            vec![
                ("v1/ConfigMap", Some("apex"), vec![(0, "a".to_string()), (1, "b".to_string())]),
                ("v1/ConfigMap", Some("default"), vec![(2, "c".to_string())]),
                ("v1/Namespace", None, vec![(4, "apex".to_string()), (5, "beta".to_string())]),
                ("v1/Secret", Some("apex"), vec![(3, "d".to_string())]),
            ]
        );
        assert_eq!(settled.len(), 3);
        assert_eq!(settled[0], (6, Ok(None)));
        assert_eq!(settled[1].0, 7);
        assert!(settled[1].1.as_ref().unwrap_err().message.contains("metadata.name"));
        assert!(settled[2].1.as_ref().unwrap_err().is_retryable());
    }

    #[test]
    fn strips_server_owned_fields() {
        let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n", "uid": "u-1", "resourceVersion": "7",
                "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z",
                "managedFields": [{"manager": "strata"}], "labels": {"x": "y"}},
            "data": {"k": "v"}, "status": {"phase": "Active"}});
        let outputs = outputs_of(&live);
        assert_eq!(outputs, json!({"uid": "u-1", "resourceVersion": "7", "name": "a", "namespace": "n"}));
        strip_server_fields(&mut live);
        assert_eq!(
            live,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "n", "labels": {"x": "y"}},
                "data": {"k": "v"}})
        );
        assert_eq!(outputs_of(&json!({"metadata": {"name": "ns"}}))["namespace"], Value::Null);
    }
}
