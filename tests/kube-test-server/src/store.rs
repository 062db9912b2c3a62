//! The in-memory object store. One `Mutex<Store>` guards everything; every
//! request does its whole read-modify-write under that lock, which keeps
//! resourceVersions, uniqueness checks and cascades trivially consistent and
//! is plenty fast for thousands of objects.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::GroupResource;
use crate::managed::ManagedEntry;
use crate::registry::{Registry, ResourceType};

/// Objects sort by (namespace, name): the stable order LIST pages follow.
/// Cluster-scoped objects have an empty namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(namespace: Option<&str>, name: &str) -> Self {
        Self { namespace: namespace.unwrap_or_default().to_string(), name: name.to_string() }
    }
}

/// A stored object. `obj` always carries an up-to-date
/// `metadata.managedFields` rendering of `managed`, so reads are a clone.
#[derive(Clone, Debug)]
pub struct Stored {
    pub obj: Value,
    pub managed: Vec<ManagedEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A change, as delivered to watchers. `old` is the previous state of a
/// modified object, so a label-selecting watch can turn an object leaving
/// (or entering) its selection into DELETED (or ADDED).
#[derive(Debug)]
pub struct Event {
    pub gr: GroupResource,
    pub key: ObjKey,
    pub event_type: EventType,
    pub resource_version: u64,
    pub obj: Value,
    pub old: Option<Value>,
}

/// How many past events are kept for watches that resume from an older
/// resourceVersion; older ones get 410 Gone and must re-list.
const EVENT_HISTORY: usize = 10_000;

#[derive(Debug)]
pub struct Store {
    registry: Registry,
    objects: HashMap<GroupResource, BTreeMap<ObjKey, Stored>>,
    resource_version: u64,
    next_cluster_ip: u32,
    history: VecDeque<Arc<Event>>,
    events: tokio::sync::broadcast::Sender<Arc<Event>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Store {
    pub fn new() -> Self {
        let mut store = Self {
            registry: Registry::builtin(),
            objects: HashMap::new(),
            resource_version: 0,
            next_cluster_ip: 1,
            history: VecDeque::new(),
            events: tokio::sync::broadcast::channel(4096).0,
        };
        let gr = GroupResource::new("", "namespaces");
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for ns in INITIAL_NAMESPACES {
            let rv = store.next_resource_version();
            let obj = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "resourceVersion": rv.to_string(),
                    "creationTimestamp": created,
                    "labels": {"kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            store
                .objects
                .entry(gr.clone())
                .or_default()
                .insert(ObjKey::new(None, ns), Stored { obj, managed: Vec::new() });
        }
        store
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The current (latest) resourceVersion, as reported by LIST.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn next_resource_version(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    /// Hands out Service cluster IPs from 10.96.0.0/12, skipping .0 and the
    /// `kubernetes` service's 10.96.0.1.
    pub fn allocate_cluster_ip(&mut self) -> String {
        self.next_cluster_ip += 1;
        let n = self.next_cluster_ip;
        format!("10.{}.{}.{}", 96 + ((n >> 16) & 0x0f), (n >> 8) & 0xff, n & 0xff)
    }

    pub fn get(&self, rt: &ResourceType, key: &ObjKey) -> Option<&Stored> {
        self.objects.get(&rt.gr())?.get(key)
    }

    pub fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.get(&GroupResource::new("", "namespaces")).is_some_and(|m| m.contains_key(&ObjKey::new(None, ns)))
    }

    /// Objects of `rt` (in `namespace`, or all) whose key sorts after
    /// `after`, in key order.
    pub fn range<'a>(
        &'a self,
        rt: &ResourceType,
        namespace: Option<&'a str>,
        after: Option<&ObjKey>,
    ) -> Box<dyn Iterator<Item = (&'a ObjKey, &'a Stored)> + 'a> {
        let Some(map) = self.objects.get(&rt.gr()) else {
            return Box::new(std::iter::empty());
        };
        let start = match (after, namespace) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included(ObjKey::new(Some(ns), "")),
            (None, None) => Bound::Unbounded,
        };
        Box::new(
            map.range((start, Bound::Unbounded)).take_while(move |(k, _)| namespace.is_none_or(|ns| k.namespace == ns)),
        )
    }

    /// Subscribes to future events; with [`Store::history_since`] under the
    /// same lock this gives a gapless view.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Past events newer than `rv`, or `None` if some of them have already
    /// been forgotten (the watch must then fail with 410 Gone).
    pub fn history_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        let oldest_known = self.history.front().map_or(self.resource_version, |e| e.resource_version - 1);
        if rv < oldest_known {
            return None;
        }
        Some(self.history.iter().filter(|e| e.resource_version > rv).cloned().collect())
    }

    fn emit(&mut self, event: Event) {
        let event = Arc::new(event);
        if self.history.len() == EVENT_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    /// Stores an object (the caller has set its resourceVersion). Storing a
    /// CRD re-derives the servable types.
    pub fn put(&mut self, rt: &ResourceType, key: ObjKey, stored: Stored) {
        let rv = self.resource_version;
        let obj = stored.obj.clone();
        let old = self.objects.entry(rt.gr()).or_default().insert(key.clone(), stored);
        self.emit(Event {
            gr: rt.gr(),
            key,
            event_type: if old.is_some() { EventType::Modified } else { EventType::Added },
            resource_version: rv,
            obj,
            old: old.map(|o| o.obj),
        });
        if is_crd(rt) {
            self.rebuild_registry();
        }
    }

    /// Removes one object, stamping it with the deletion's resourceVersion.
    fn remove_one(&mut self, gr: &GroupResource, key: &ObjKey) -> Option<Stored> {
        let mut removed = self.objects.get_mut(gr)?.remove(key)?;
        let rv = self.next_resource_version();
        removed.obj["metadata"]["resourceVersion"] = rv.to_string().into();
        self.emit(Event {
            gr: gr.clone(),
            key: key.clone(),
            event_type: EventType::Deleted,
            resource_version: rv,
            obj: removed.obj.clone(),
            old: None,
        });
        Some(removed)
    }

    /// Removes an object and whatever depends on it: a Namespace takes its
    /// namespaced objects along, a CRD its custom resources. Deletion is
    /// immediate (no finalizers, no Terminating phase).
    pub fn remove(&mut self, rt: &ResourceType, key: &ObjKey) -> Option<Stored> {
        let removed = self.remove_one(&rt.gr(), key)?;
        let mut dependents: Vec<(GroupResource, ObjKey)> = Vec::new();
        if rt.group.is_empty() && rt.plural == "namespaces" {
            for t in self.registry.types().iter().filter(|t| t.namespaced) {
                dependents.extend(self.range(t, Some(&key.name), None).map(|(k, _)| (t.gr(), k.clone())));
            }
        }
        if is_crd(rt) {
            let spec = removed.obj.get("spec");
            let field = |p: &str| spec.and_then(|s| s.pointer(p)).and_then(Value::as_str).unwrap_or_default();
            let gr = GroupResource::new(field("/group"), field("/names/plural"));
            if let Some(objects) = self.objects.get(&gr) {
                dependents.extend(objects.keys().map(|k| (gr.clone(), k.clone())));
            }
        }
        for (gr, k) in dependents {
            self.remove_one(&gr, &k);
        }
        if is_crd(rt) {
            self.rebuild_registry();
        }
        Some(removed)
    }

    fn rebuild_registry(&mut self) {
        let crds = self.objects.get(&GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions"));
        self.registry = Registry::with_crds(crds.into_iter().flat_map(|m| m.values().map(|s| &s.obj)));
    }
}

pub fn is_crd(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
}
