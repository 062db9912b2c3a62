//! [`KubernetesProvider`]: the [`strata_sdk::Provider`] over kube-rs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::discovery::Scope;
use kube::core::{ApiResource, DynamicObject, GroupVersion};
use serde_json::{Map, Value, json};
use strata_sdk::{
    Applied, DeleteRequest, KindSchema, Observed, Ownership, Provider, ProviderError, ReadRequest, Resource,
    ResourceChange,
};
use tokio::sync::{Mutex, OnceCell};

use crate::config::KubernetesConfig;
use crate::error::{
    Error, classify, classify_apply, conflicting_managers, conflicts_only_with_updaters, is_apply_conflict,
};
use crate::fields;
use crate::kinds::{KindRef, Management, OUTPUTS, kind_schema, split_management};
use crate::normalize;
use crate::ownership::{OwnershipMarks, Refused, apply_marks, describe, evaluate_ownership, refusal};
use crate::read::{ObjectKey, ReadGroup, group_reads, outputs_of, strip_server_fields};
use crate::validate::{check_label_value, validate_manifest};

/// Page size of the batched LIST.
pub const LIST_PAGE_SIZE: u32 = 500;
/// How many LISTs (one per kind and namespace) run at once within one `read`.
const LIST_CONCURRENCY: usize = 32;
/// How many fallback GETs (names a LIST did not return) run at once within one group.
const READ_CONCURRENCY: usize = 8;
/// How often a write reads, checks and writes again when the object changed in between.
const WRITE_ATTEMPTS: usize = 3;
/// How long a write waits for a kind whose CustomResourceDefinition this run applied to
/// appear in discovery.
const CRD_DISCOVERY_WAIT: Duration = Duration::from_secs(60);

/// A kind the cluster serves, as discovery found it.
#[derive(Debug, Clone)]
pub(crate) struct ServedKind {
    pub kind: KindRef,
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// The resources one group-version serves, by Kind.
type GroupVersionKinds = Arc<HashMap<String, ServedKind>>;

struct Conn {
    client: kube::Client,
    default_namespace: String,
}

/// The Kubernetes provider: any kind, core or custom, through discovery; server-side apply
/// with strata's field manager and ownership marks; one LIST per (kind, namespace) on read.
///
/// Construction is offline; the kubeconfig is read and the client built on the first call
/// that needs the cluster, so `strata plan --refresh=false` works without one.
pub struct KubernetesProvider {
    config: KubernetesConfig,
    marks: OwnershipMarks,
    conn: OnceCell<Conn>,
    /// Discovery cache for this provider instance (one run), by apiVersion.
    discovery: Mutex<HashMap<String, GroupVersionKinds>>,
    /// `(group, Kind)` of CustomResourceDefinitions applied by this instance.
    crds_applied: StdMutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for KubernetesProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesProvider")
            .field("config", &self.config)
            .field("marks", &self.marks)
            .field("connected", &self.conn.initialized())
            .finish()
    }
}

impl KubernetesProvider {
    /// Creates the provider. Offline and cheap: it checks the section (server URL, field
    /// manager) and that the project and environment names can be label values; the
    /// kubeconfig is only read on first use.
    pub fn new(config: KubernetesConfig, marks: OwnershipMarks) -> Result<Self, Error> {
        config.check()?;
        for (what, value) in [("project", &marks.project), ("environment", &marks.env)] {
            let why = if value.is_empty() { Some("must not be empty".to_string()) } else { check_label_value(value) };
            if let Some(reason) = why {
                return Err(Error::InvalidMark { what, value: value.clone(), reason });
            }
        }
        Ok(KubernetesProvider {
            config,
            marks,
            conn: OnceCell::new(),
            discovery: Mutex::new(HashMap::new()),
            crds_applied: StdMutex::new(HashSet::new()),
        })
    }

    /// Creates the provider over an existing client (its default namespace is used unless
    /// `config.namespace` is set). `config.server`, `kubeconfig` and `context` are ignored.
    pub fn with_client(client: kube::Client, config: KubernetesConfig, marks: OwnershipMarks) -> Result<Self, Error> {
        let default_namespace = config.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
        let p = Self::new(KubernetesConfig { server: None, ..config }, marks)?;
        p.conn.set(Conn { client, default_namespace }).ok();
        Ok(p)
    }

    /// The configuration this provider was built with.
    pub fn config(&self) -> &KubernetesConfig {
        &self.config
    }

    /// The ownership marks this provider writes.
    pub fn marks(&self) -> &OwnershipMarks {
        &self.marks
    }

    /// Resolves the configuration and builds the client now (reading the kubeconfig, no
    /// request). Returns the configuration errors that calls would otherwise report lazily.
    pub async fn connect(&self) -> Result<(), Error> {
        self.conn_inner().await.map(|_| ())
    }

    /// The namespace used for namespaced objects that name none (connects first).
    pub async fn default_namespace(&self) -> Result<String, ProviderError> {
        Ok(self.conn().await?.default_namespace.clone())
    }

    async fn conn_inner(&self) -> Result<&Conn, Error> {
        self.conn
            .get_or_try_init(|| async {
                let kc = crate::config::resolve(&self.config).await?;
                let default_namespace = kc.default_namespace.clone();
                let client = crate::client::build(kc)?;
                Ok(Conn { client, default_namespace })
            })
            .await
    }

    async fn conn(&self) -> Result<&Conn, ProviderError> {
        self.conn_inner().await.map_err(ProviderError::from)
    }

    fn api(&self, conn: &Conn, served: &ServedKind, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if served.namespaced => Api::namespaced_with(conn.client.clone(), ns, &served.resource),
            _ => Api::all_with(conn.client.clone(), &served.resource),
        }
    }

    // ---- discovery ------------------------------------------------------------------------

    /// Discovers one group-version: its kinds, or an empty map when the cluster does not
    /// serve it (404).
    async fn discover_group_version(&self, conn: &Conn, kind: &KindRef) -> Result<GroupVersionKinds, ProviderError> {
        let gv = GroupVersion::gv(&kind.group, &kind.version);
        match kube::discovery::pinned_group(&conn.client, &gv).await {
            Ok(group) => {
                let kinds = group
                    .versioned_resources(&kind.version)
                    .into_iter()
                    .map(|(resource, caps)| {
                        let served = ServedKind {
                            kind: KindRef {
                                group: kind.group.clone(),
                                version: kind.version.clone(),
                                kind: resource.kind.clone(),
                            },
                            namespaced: matches!(caps.scope, Scope::Namespaced),
                            resource,
                        };
                        (served.kind.kind.clone(), served)
                    })
                    .collect();
                Ok(Arc::new(kinds))
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Arc::new(HashMap::new())),
            Err(e) => Err(classify(&e)),
        }
    }

    /// Finds a kind through discovery, cached per instance; a kind missing from a cached
    /// group-version refreshes that group-version once (a CRD may have been created since).
    /// `Ok(None)`: the cluster does not serve the kind.
    pub(crate) async fn resolve_kind(&self, kind: &str) -> Result<Option<ServedKind>, ProviderError> {
        let kind = split_management(kind).1;
        let k = KindRef::parse(kind).ok_or_else(|| {
            ProviderError::invalid(format!("`{kind}` is not a Kubernetes kind of the form {{apiVersion}}/{{Kind}}"))
        })?;
        let conn = self.conn().await?;
        let api_version = k.api_version();
        let mut cache = self.discovery.lock().await;
        if let Some(found) = cache.get(&api_version).and_then(|m| m.get(&k.kind)) {
            return Ok(Some(found.clone()));
        }
        let fresh = self.discover_group_version(conn, &k).await?;
        cache.insert(api_version, fresh.clone());
        Ok(fresh.get(&k.kind).cloned())
    }

    /// [`Self::resolve_kind`] for every kind of a batch: the group-versions that are not cached
    /// (or lack one of the kinds) are discovered concurrently, one request each, instead of one
    /// after the other.
    async fn resolve_kinds<'r>(
        &self,
        conn: &Conn,
        requests: &'r [ReadRequest<'_>],
    ) -> HashMap<&'r str, Result<Option<ServedKind>, ProviderError>> {
        let mut kinds: HashMap<&'r str, Result<Option<ServedKind>, ProviderError>> = HashMap::new();
        // Per group-version to discover: the kinds of the batch in it.
        let mut to_discover: HashMap<String, (KindRef, Vec<&'r str>)> = HashMap::new();
        {
            let cache = self.discovery.lock().await;
            let mut distinct: Vec<&'r str> = requests.iter().map(|r| r.kind.as_str()).collect();
            distinct.sort_unstable();
            distinct.dedup();
            for kind in distinct {
                let Some(k) = KindRef::parse(split_management(kind).1) else {
                    kinds.insert(
                        kind,
                        Err(ProviderError::invalid(format!(
                            "`{kind}` is not a Kubernetes kind of the form {{apiVersion}}/{{Kind}}"
                        ))),
                    );
                    continue;
                };
                let api_version = k.api_version();
                match cache.get(&api_version).and_then(|m| m.get(&k.kind)) {
                    Some(found) => {
                        kinds.insert(kind, Ok(Some(found.clone())));
                    }
                    None => to_discover.entry(api_version).or_insert_with(|| (k, Vec::new())).1.push(kind),
                }
            }
        }
        let mut discoveries = Vec::with_capacity(to_discover.len());
        for (api_version, (k, batch_kinds)) in to_discover {
            discoveries.push(async move { (api_version, batch_kinds, self.discover_group_version(conn, &k).await) });
        }
        let discovered = futures::future::join_all(discoveries).await;
        let mut cache = self.discovery.lock().await;
        for (api_version, batch_kinds, fresh) in discovered {
            for kind in batch_kinds {
                let name = KindRef::parse(split_management(kind).1).expect("parsed above").kind;
                kinds.insert(kind, fresh.as_ref().map(|m| m.get(&name).cloned()).map_err(Clone::clone));
            }
            if let Ok(fresh) = fresh {
                cache.insert(api_version, fresh);
            }
        }
        kinds
    }

    /// Like [`Self::resolve_kind`], for writes: a kind the cluster does not serve is an error,
    /// except that a kind whose CRD this run applied is waited for (with backoff, up to a
    /// minute) until the API server serves it.
    async fn resolve_kind_for_write(&self, kind: &str) -> Result<ServedKind, ProviderError> {
        if let Some(s) = self.resolve_kind(kind).await? {
            return Ok(s);
        }
        let kind = split_management(kind).1;
        let k = KindRef::parse(kind).expect("resolve_kind parsed it");
        let pending = self.crds_applied.lock().map(|s| s.contains(&(k.group.clone(), k.kind.clone()))).unwrap_or(false);
        if pending {
            let deadline = Instant::now() + CRD_DISCOVERY_WAIT;
            let mut delay = Duration::from_millis(100);
            while Instant::now() < deadline {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                if let Some(s) = self.resolve_kind(kind).await? {
                    return Ok(s);
                }
            }
        }
        Err(ProviderError::invalid(format!(
            "the cluster does not serve {kind}: no such kind in API group version {}{}",
            k.api_version(),
            if k.group.is_empty() || k.group.ends_with(".k8s.io") || !k.group.contains('.') {
                String::new()
            } else if pending {
                " (its CustomResourceDefinition was applied but is not served yet)".to_string()
            } else {
                " (is its CustomResourceDefinition installed?)".to_string()
            }
        )))
    }

    /// Records an applied CRD: its kind may be written next, and cached discovery for its
    /// group is stale.
    async fn note_crd(&self, manifest: &Value) {
        let group = manifest.pointer("/spec/group").and_then(Value::as_str);
        let kind = manifest.pointer("/spec/names/kind").and_then(Value::as_str);
        if let (Some(group), Some(kind)) = (group, kind) {
            if let Ok(mut s) = self.crds_applied.lock() {
                s.insert((group.to_string(), kind.to_string()));
            }
            let prefix = format!("{group}/");
            self.discovery.lock().await.retain(|api_version, _| !api_version.starts_with(&prefix));
        }
    }

    // ---- read -----------------------------------------------------------------------------

    fn observe(&self, obj: &DynamicObject, served: &ServedKind, req: &ReadRequest<'_>) -> Observed {
        let mut live = object_value(obj, served);
        let outputs = outputs_of(&live);
        let key = key_of(&live);
        // A field-managed object is someone else's; strata manages the fields it sets, and the
        // engine diffs only those.
        let ownership = match split_management(&req.kind).0 {
            Management::Owned => evaluate_ownership(&live, &self.marks, &req.address),
            Management::Fields => Ownership::Ours,
        };
        strip_server_fields(&mut live);
        if let Some(desired) = req.attrs {
            normalize::toward_desired(&mut live, desired);
        }
        Observed { remote_id: key.remote_id(), attrs: live, outputs, ownership }
    }

    /// One group: LIST pages with the ownership label selector, then a GET for each name the
    /// LIST did not return (to tell "absent" from "exists without our labels").
    async fn read_group(
        &self,
        conn: &Conn,
        served: &ServedKind,
        group: &ReadGroup,
        requests: &[ReadRequest<'_>],
    ) -> Vec<(usize, Result<Option<Observed>, ProviderError>)> {
        let api = self.api(conn, served, group.namespace.as_deref());
        let wanted: HashSet<&str> = group.members.iter().map(|(_, n)| n.as_str()).collect();
        let mut found: HashMap<String, DynamicObject> = HashMap::new();
        let selector = self.marks.label_selector();
        let mut token: Option<String> = None;
        let mut restarted = false;
        loop {
            let mut lp = ListParams::default().labels(&selector).limit(LIST_PAGE_SIZE);
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            match api.list(&lp).await {
                Ok(list) => {
                    for mut item in list.items {
                        if let Some(name) = item.metadata.name.as_deref()
                            && wanted.contains(name)
                        {
                            // Stripped from observed objects anyway; not converted at all.
                            item.metadata.managed_fields = None;
                            found.insert(name.to_string(), item);
                        }
                    }
                    token = list.metadata.continue_.filter(|t| !t.is_empty());
                    if token.is_none() {
                        break;
                    }
                }
                // The continue token expired between pages: start over once.
                Err(kube::Error::Api(s)) if s.code == 410 && token.is_some() && !restarted => {
                    restarted = true;
                    token = None;
                    found.clear();
                }
                // Nothing to list there (a namespace or kind that vanished).
                Err(kube::Error::Api(s)) if s.code == 404 => break,
                Err(e) => {
                    let err = classify(&e);
                    return group.members.iter().map(|(i, _)| (*i, Err(err.clone()))).collect();
                }
            }
        }

        let mut out = Vec::with_capacity(group.members.len());
        let mut missing = Vec::new();
        for (i, name) in &group.members {
            match found.get(name) {
                Some(obj) => out.push((*i, Ok(Some(self.observe(obj, served, &requests[*i]))))),
                None => missing.push((*i, name.clone())),
            }
        }
        let gets: Vec<_> = missing
            .into_iter()
            .map(|(i, name)| {
                let api = api.clone();
                async move {
                    let r = match api.get_opt(&name).await {
                        Ok(Some(mut obj)) => {
                            obj.metadata.managed_fields = None;
                            Ok(Some(self.observe(&obj, served, &requests[i])))
                        }
                        Ok(None) => Ok(None),
                        Err(e) => Err(classify(&e)),
                    };
                    (i, r)
                }
            })
            .collect();
        let gets = stream::iter(gets).buffer_unordered(READ_CONCURRENCY).collect::<Vec<_>>().await;
        out.extend(gets);
        out
    }

    async fn read_all(&self, requests: &[ReadRequest<'_>]) -> Vec<Result<Option<Observed>, ProviderError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let conn = match self.conn().await {
            Ok(c) => c,
            Err(e) => return vec![Err(e); requests.len()],
        };
        let kinds = self.resolve_kinds(conn, requests).await;
        let (groups, settled) = group_reads(
            requests,
            |k| match &kinds[k] {
                Ok(s) => Ok(s.as_ref().map(|s| s.namespaced)),
                Err(e) => Err(e.clone()),
            },
            &conn.default_namespace,
        );
        let mut results: Vec<Option<Result<Option<Observed>, ProviderError>>> = vec![None; requests.len()];
        for (i, r) in settled {
            results[i] = Some(r);
        }
        let reads: Vec<_> = groups
            .iter()
            .map(|g| {
                let served =
                    kinds[g.kind.as_str()].as_ref().ok().and_then(Option::as_ref).expect("grouped kinds are served");
                self.read_group(conn, served, g, requests)
            })
            .collect();
        let outs = stream::iter(reads).buffer_unordered(LIST_CONCURRENCY).collect::<Vec<_>>().await;
        for (i, r) in outs.into_iter().flatten() {
            results[i] = Some(r);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ProviderError::other("internal error: request not read"))))
            .collect()
    }

    // ---- apply ----------------------------------------------------------------------------

    /// The manifest strata sends: the desired attrs with apiVersion/kind filled in, the
    /// ownership marks, and the namespace defaulted for namespaced kinds.
    fn prepare_manifest(
        &self,
        conn: &Conn,
        served: &ServedKind,
        change: &ResourceChange,
    ) -> Result<(ObjectKey, Value), ProviderError> {
        let Some(attrs) = change.attrs.as_object() else {
            return Err(ProviderError::invalid(format!("the manifest of `{}` is not a mapping", change.address)));
        };
        let api_version = served.kind.api_version();
        for (field, expected) in [("apiVersion", api_version.as_str()), ("kind", served.kind.kind.as_str())] {
            if let Some(v) = attrs.get(field)
                && v.as_str() != Some(expected)
            {
                return Err(ProviderError::invalid(format!(
                    "{field} {v} of `{}` does not match its kind {} (expected {expected:?})",
                    change.address, change.kind
                )));
            }
        }
        let mut manifest = Map::new();
        manifest.insert("apiVersion".into(), json!(api_version));
        manifest.insert("kind".into(), json!(served.kind.kind));
        for (k, v) in attrs {
            manifest.insert(k.clone(), v.clone());
        }
        let mut manifest = Value::Object(manifest);
        if split_management(&change.kind).0 == Management::Owned {
            apply_marks(&mut manifest, &self.marks, &change.address);
        }
        let key = ObjectKey::from_manifest(&manifest, served.namespaced, &conn.default_namespace)
            .map_err(|m| ProviderError::invalid(format!("`{}`: {m}", change.address)))?;
        let meta = manifest
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ProviderError::invalid(format!("`{}`: metadata is not a mapping", change.address)))?;
        match (&key.namespace, meta.get("namespace")) {
            (Some(ns), None) => {
                meta.insert("namespace".into(), json!(ns));
            }
            (None, Some(_)) => {
                return Err(ProviderError::invalid(format!(
                    "{} is cluster-scoped: remove metadata.namespace from `{}`",
                    served.kind.kind, change.address
                )));
            }
            _ => {}
        }
        Ok((key, manifest))
    }

    fn patch_params(&self, manager: &str, force: bool, dry_run: bool) -> PatchParams {
        let mut pp = PatchParams::apply(manager);
        if force {
            pp = pp.force();
        }
        if dry_run {
            pp = pp.dry_run();
        }
        pp
    }

    async fn apply(&self, change: &ResourceChange, dry_run: bool) -> Result<(ObjectKey, Value, Value), ProviderError> {
        let conn = self.conn().await?;
        let served = self.resolve_kind_for_write(&change.kind).await?;
        let (key, manifest) = self.prepare_manifest(conn, &served, change)?;
        let api = self.api(conn, &served, key.namespace.as_deref());
        let live = match split_management(&change.kind).0 {
            Management::Owned => {
                // Ownership is checked again right before the write, whatever the plan said: a
                // plan made with `--refresh=false` never saw the object, and marks can change
                // after a plan. An object with strata's marks for this address (one an
                // interrupted run created) is updated; anything else is refused.
                let check = |live: Option<&DynamicObject>| match live {
                    None => Ok(()),
                    Some(o) => match evaluate_ownership(&object_value(o, &served), &self.marks, &change.address) {
                        Ownership::Ours => Ok(()),
                        Ownership::Foreign { detail } => Err(refusal(
                            Refused::Write,
                            &detail,
                            &managers_of(o, &self.config.field_manager),
                            &change.address,
                        )),
                    },
                };
                self.guarded_apply(&api, &key, &manifest, &self.config.field_manager, dry_run, check).await?
            }
            Management::Fields => {
                let manager = fields::field_manager(&self.config.field_manager, &change.address);
                let check = |live: Option<&DynamicObject>| match live {
                    Some(_) => Ok(()),
                    None => Err(ProviderError::not_found(format!(
                        "{} does not exist: `{}` ({}) sets fields of an existing object and never creates it",
                        describe(&manifest),
                        change.address,
                        change.kind
                    ))),
                };
                self.guarded_apply(&api, &key, &manifest, &manager, dry_run, check).await?
            }
        };
        if served.kind.is_crd() && !dry_run {
            self.note_crd(&manifest).await;
        }
        Ok((key, manifest, object_value(&live, &served)))
    }

    /// Reads the object, lets `check` refuse the write, then applies `manifest` with the read
    /// `resourceVersion` as a precondition, so the write lands only on the object `check` saw.
    /// When the object changed (or appeared) in between, it is read and checked again.
    ///
    /// A conflict only with `Update` writers (`kubectl edit`, `patch`, `scale`, a controller's
    /// update) on an object that existed is drift of fields strata applies: applying again,
    /// forced, takes the fields back. Conflicts with another applier are reported (unless
    /// `force_conflicts`).
    async fn guarded_apply(
        &self,
        api: &Api<DynamicObject>,
        key: &ObjectKey,
        manifest: &Value,
        manager: &str,
        dry_run: bool,
        check: impl Fn(Option<&DynamicObject>) -> Result<(), ProviderError>,
    ) -> Result<DynamicObject, ProviderError> {
        for _ in 0..WRITE_ATTEMPTS {
            let live = api.get_opt(&key.name).await.map_err(|e| classify(&e))?;
            check(live.as_ref())?;
            let rv = live.as_ref().and_then(|o| o.metadata.resource_version.clone());
            let mut body = manifest.clone();
            if let (Some(rv), Some(meta)) = (&rv, body.get_mut("metadata").and_then(Value::as_object_mut)) {
                meta.insert("resourceVersion".into(), json!(rv));
            }
            let pp = self.patch_params(manager, self.config.force_conflicts, dry_run);
            let result = match api.patch(&key.name, &pp, &Patch::Apply(&body)).await {
                Err(e) if rv.is_some() && conflicts_only_with_updaters(&e) => {
                    api.patch(&key.name, &self.patch_params(manager, true, dry_run), &Patch::Apply(&body)).await
                }
                r => r,
            };
            match result {
                Ok(live) => return Ok(live),
                // The precondition failed (someone wrote the object since the read), or the
                // object appeared since the read (a conflict on create): decide again.
                Err(e) if is_apply_conflict(&e) && (conflicting_managers(&e).is_empty() || rv.is_none()) => continue,
                Err(e) => return Err(classify_apply(&e)),
            }
        }
        Err(ProviderError::conflict(format!(
            "{} kept changing while strata was writing it ({WRITE_ATTEMPTS} attempts); try again",
            describe(manifest)
        )))
    }

    /// Server-side apply with `dryRun=All`: what the object would look like after this change
    /// (server defaults and admission mutations included, server-owned fields stripped as in
    /// [`Observed::attrs`]). Nothing is persisted. For plan accuracy.
    pub async fn dry_run_apply(&self, change: &ResourceChange) -> Result<Value, ProviderError> {
        let (_, _, mut live) = self.apply(change, true).await?;
        strip_server_fields(&mut live);
        Ok(live)
    }

    /// Adopts an existing object for `resource`: applies only strata's labels and address
    /// annotation to it (server-side apply, forced, so no other manager's fields are touched or
    /// conflict), after which reads report it as ours. The returned `attrs` are what strata
    /// applied, without the marks (as for every applied resource): the object's identity
    /// (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`), so the next plan shows
    /// just the spec's differences from the live object and no field of it as "removed". Fails
    /// with `NotFound` when the object does not exist.
    ///
    /// A later update takes over fields that `Update` writers (`kubectl create/edit/patch`) set
    /// to other values, but still conflicts on fields another applier owns with a different
    /// value than the spec's, unless `force_conflicts` is set.
    pub async fn adopt(&self, resource: &Resource) -> Result<Applied, ProviderError> {
        if split_management(&resource.kind).0 == Management::Fields {
            return Err(ProviderError::invalid(format!(
                "`{}` is field-managed ({}): strata sets its fields on the existing object without owning it, so there is nothing to import",
                resource.address, resource.kind
            )));
        }
        let conn = self.conn().await?;
        let served = self.resolve_kind_for_write(&resource.kind).await?;
        let change = ResourceChange {
            address: resource.address.clone(),
            kind: resource.kind.clone(),
            attrs: resource.attrs.clone(),
            prior: None,
        };
        let (key, full) = self.prepare_manifest(conn, &served, &change)?;
        let api = self.api(conn, &served, key.namespace.as_deref());
        if api.get_opt(&key.name).await.map_err(|e| classify(&e))?.is_none() {
            return Err(ProviderError::not_found(format!("cannot adopt {}: it does not exist", describe(&full))));
        }
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(key.name));
        if let Some(ns) = &key.namespace {
            metadata.insert("namespace".into(), json!(ns));
        }
        metadata.insert(
            "labels".into(),
            json!(Map::from_iter(self.marks.labels().iter().map(|(k, v)| (k.to_string(), json!(v))))),
        );
        metadata.insert("annotations".into(), json!({ strata_sdk::OWNERSHIP_ADDRESS_KEY: resource.address.as_str() }));
        let marks_only = json!({
            "apiVersion": full["apiVersion"],
            "kind": full["kind"],
            "metadata": metadata,
        });
        let live = api
            .patch(&key.name, &self.patch_params(&self.config.field_manager, true, false), &Patch::Apply(&marks_only))
            .await
            .map_err(|e| classify_apply(&e))?;
        let live = object_value(&live, &served);
        let mut identity = Map::new();
        identity.insert("name".into(), json!(key.name));
        if let Some(ns) = &key.namespace {
            identity.insert("namespace".into(), json!(ns));
        }
        let attrs = json!({"apiVersion": full["apiVersion"], "kind": full["kind"], "metadata": identity});
        Ok(Applied { remote_id: key.remote_id(), attrs, outputs: outputs_of(&live) })
    }

    async fn apply_change(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        let (key, manifest, live) = self.apply(change, false).await?;
        Ok(Applied { remote_id: key.remote_id(), attrs: manifest, outputs: outputs_of(&live) })
    }

    // ---- delete ---------------------------------------------------------------------------

    async fn delete_object(&self, req: &DeleteRequest) -> Result<(), ProviderError> {
        let conn = self.conn().await?;
        // A kind the cluster no longer serves has no objects left to delete.
        let Some(served) = self.resolve_kind(&req.kind).await? else {
            return Ok(());
        };
        let key = ObjectKey::from_remote_id(&req.remote_id, served.namespaced, &conn.default_namespace);
        let api = self.api(conn, &served, key.namespace.as_deref());
        let deadline = Instant::now() + self.config.delete_timeout;
        if split_management(&req.kind).0 == Management::Fields {
            return self.remove_fields(&api, &served, &key, req, deadline).await;
        }
        for _ in 0..WRITE_ATTEMPTS {
            // Ownership is checked right before the delete: an object whose marks were changed
            // or removed since strata applied it is no longer strata's to delete.
            let Some(live) = get_retrying(&api, &key.name, deadline).await? else {
                return Ok(());
            };
            if let Ownership::Foreign { detail } =
                evaluate_ownership(&object_value(&live, &served), &self.marks, &req.address)
            {
                return Err(refusal(
                    Refused::Delete,
                    &detail,
                    &managers_of(&live, &self.config.field_manager),
                    &req.address,
                ));
            }
            // Preconditions make the delete hit exactly the object that was checked.
            let mut dp = DeleteParams::foreground();
            dp.preconditions = Some(Preconditions {
                uid: live.metadata.uid.clone(),
                resource_version: live.metadata.resource_version.clone(),
            });
            return match api.delete(&key.name, &dp).await {
                Ok(_) => self.wait_gone(&api, &served, &key, live.metadata.uid, deadline).await,
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                // Changed since the check: check again.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => Err(classify(&e)),
            };
        }
        Err(ProviderError::conflict(format!(
            "{} {} kept changing while strata was deleting it ({WRITE_ATTEMPTS} attempts); try again",
            served.kind.kind,
            key.remote_id()
        )))
    }

    /// Deletes a field-managed resource: applies an empty intent with its field manager, so the
    /// API server removes the fields only this resource owned. The object stays.
    async fn remove_fields(
        &self,
        api: &Api<DynamicObject>,
        served: &ServedKind,
        key: &ObjectKey,
        req: &DeleteRequest,
        deadline: Instant,
    ) -> Result<(), ProviderError> {
        let manager = fields::field_manager(&self.config.field_manager, &req.address);
        let mut identity = json!({"apiVersion": served.kind.api_version(), "kind": served.kind.kind,
            "metadata": {"name": key.name}});
        if let Some(ns) = &key.namespace {
            identity["metadata"]["namespace"] = json!(ns);
        }
        let intent = fields::empty_intent(&identity);
        for _ in 0..WRITE_ATTEMPTS {
            let Some(live) = get_retrying(api, &key.name, deadline).await? else {
                return Ok(());
            };
            let mut body = intent.clone();
            // The precondition keeps the apply from re-creating an object deleted meanwhile.
            body["metadata"]["resourceVersion"] = json!(live.metadata.resource_version);
            match api.patch(&key.name, &self.patch_params(&manager, false, false), &Patch::Apply(&body)).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
                Err(e) if is_apply_conflict(&e) => continue,
                Err(e) => return Err(classify(&e)),
            }
        }
        Err(ProviderError::conflict(format!(
            "{} {} kept changing while strata was removing the fields of `{}` ({WRITE_ATTEMPTS} attempts); try again",
            served.kind.kind,
            key.remote_id(),
            req.address
        )))
    }

    /// Waits until a deleted object is gone (foreground deletion: after its dependents and
    /// finalizers), up to `deadline`.
    async fn wait_gone(
        &self,
        api: &Api<DynamicObject>,
        served: &ServedKind,
        key: &ObjectKey,
        uid: Option<String>,
        deadline: Instant,
    ) -> Result<(), ProviderError> {
        let what = format!("{} {}", served.kind.kind, key.remote_id());
        let timeout = self.config.delete_timeout;
        let mut delay = Duration::from_millis(50);
        loop {
            let last = match api.get_opt(&key.name).await {
                Ok(None) => return Ok(()),
                // Deleted and created again by someone else meanwhile: ours is gone.
                Ok(Some(o)) if uid.is_some() && o.metadata.uid != uid => return Ok(()),
                Ok(Some(o)) => Some(o),
                Err(e) => {
                    let e = classify(&e);
                    if !e.is_retryable() {
                        return Err(e);
                    }
                    None
                }
            };
            let now = Instant::now();
            if now >= deadline {
                let finalizers = last
                    .and_then(|o| o.metadata.finalizers)
                    .filter(|f| !f.is_empty())
                    .map(|f| format!(" (finalizers: {})", f.join(", ")))
                    .unwrap_or_default();
                return Err(ProviderError::other(format!(
                    "{what} still exists {}s after its deletion was requested{finalizers}; it is being deleted in the foreground and goes away once its dependents and finalizers are done (providers.kubernetes.delete_timeout)",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

/// GET that retries transient errors (with backoff) until `deadline`: a delete is one call for
/// the engine, and its checks should not fail it on a blip.
async fn get_retrying(
    api: &Api<DynamicObject>,
    name: &str,
    deadline: Instant,
) -> Result<Option<DynamicObject>, ProviderError> {
    let mut delay = Duration::from_millis(50);
    loop {
        match api.get_opt(name).await {
            Ok(o) => return Ok(o),
            Err(e) => {
                let e = classify(&e);
                let now = Instant::now();
                if !e.is_retryable() || now >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(delay.min(deadline - now)).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The field managers of an object other than strata's own (`kubectl-create`, `helm`), for
/// messages that say who owns it.
fn managers_of(obj: &DynamicObject, ours: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in obj.metadata.managed_fields.iter().flatten() {
        if let Some(name) = &m.manager
            && name != ours
            && !out.contains(name)
        {
            out.push(name.clone());
        }
    }
    out
}

/// The live object as JSON, with apiVersion and kind first (LIST items may lack them).
fn object_value(obj: &DynamicObject, served: &ServedKind) -> Value {
    let v = serde_json::to_value(obj).unwrap_or(Value::Null);
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(served.kind.api_version()));
    out.insert("kind".into(), json!(served.kind.kind));
    if let Value::Object(m) = v {
        for (k, v) in m {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

fn key_of(live: &Value) -> ObjectKey {
    let s = |p: &str| live.pointer(p).and_then(Value::as_str).map(str::to_string);
    ObjectKey { namespace: s("/metadata/namespace"), name: s("/metadata/name").unwrap_or_default() }
}

#[async_trait]
impl Provider for KubernetesProvider {
    fn name(&self) -> &str {
        crate::deps::PROVIDER_NAME
    }

    fn implicit_dependencies(&self, resources: &[&Resource]) -> Vec<(strata_sdk::Address, strata_sdk::Address)> {
        let owned: Vec<Resource> = resources.iter().map(|r| (*r).clone()).collect();
        crate::deps::implicit_dependencies(&owned)
    }

    async fn adopt(&self, resource: &Resource) -> Result<Applied, ProviderError> {
        KubernetesProvider::adopt(self, resource).await
    }

    fn schema(&self, kind: &str) -> KindSchema {
        kind_schema(kind)
    }

    fn validate(&self, kind: &str, attrs: &Value) -> Vec<(Vec<String>, String)> {
        validate_manifest(kind, attrs, self.config.namespace.is_some())
    }

    fn outputs(&self, _kind: &str) -> Vec<String> {
        OUTPUTS.iter().map(|s| s.to_string()).collect()
    }

    async fn read(&self, requests: &[ReadRequest<'_>]) -> Vec<Result<Option<Observed>, ProviderError>> {
        self.read_all(requests).await
    }

    async fn create(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        self.apply_change(change).await
    }

    async fn update(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        self.apply_change(change).await
    }

    async fn delete(&self, request: &DeleteRequest) -> Result<(), ProviderError> {
        self.delete_object(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_sdk::ErrorClass;

    fn marks() -> OwnershipMarks {
        OwnershipMarks::new("apex", "prod")
    }

    #[test]
    fn construction_is_offline_and_checks_marks() {
        // No cluster, no kubeconfig needed.
        let p = KubernetesProvider::new(KubernetesConfig::default(), marks()).unwrap();
        assert_eq!(p.name(), "kubernetes");
        assert_eq!(p.outputs("v1/ConfigMap"), vec!["uid", "resourceVersion", "name", "namespace"]);
        let e =
            KubernetesProvider::new(KubernetesConfig::default(), OwnershipMarks::new("Apex Corp", "prod")).unwrap_err();
        assert!(e.to_string().contains("project name \"Apex Corp\""), "{e}");
        assert!(KubernetesProvider::new(KubernetesConfig::default(), OwnershipMarks::new("apex", "")).is_err());
    }

    #[tokio::test]
    async fn config_errors_surface_on_first_call() {
        let dir = tempfile::tempdir().unwrap();
        let config = KubernetesConfig { kubeconfig: Some(dir.path().join("missing")), ..Default::default() };
        let p = KubernetesProvider::new(config, marks()).unwrap();
        let req = ReadRequest {
            address: strata_sdk::Address::parse("resources.cm").unwrap(),
            kind: "v1/ConfigMap".into(),
            remote_id: Some("apex/cm".into()),
            attrs: None,
        };
        let out = p.read(&[req]).await;
        let e = out[0].as_ref().unwrap_err();
        assert_eq!(e.class, ErrorClass::Invalid);
        assert!(e.message.contains("does not exist"), "{}", e.message);
    }

    #[tokio::test]
    async fn unreachable_servers_are_retryable() {
        // Port 9 (discard) on loopback: connection refused.
        let p = KubernetesProvider::new(KubernetesConfig::for_server("http://127.0.0.1:9"), marks()).unwrap();
        let req = ReadRequest {
            address: strata_sdk::Address::parse("resources.cm").unwrap(),
            kind: "v1/ConfigMap".into(),
            remote_id: Some("apex/cm".into()),
            attrs: None,
        };
        let out = p.read(&[req]).await;
        let e = out[0].as_ref().unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
    }
}
