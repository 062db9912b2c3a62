//! The resource verbs: get, list, create, update, patch, apply, delete.
//!
//! Everything here is synchronous and runs under the store lock; the HTTP
//! layer only parses the request and renders the reply.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::finalizers;
use crate::kinds;
use crate::listmap::Lists;
use crate::managed::{self, ApplyRequest, ManagedEntry, Scope};
use crate::patch;
use crate::quantity;
use crate::registry::ResourceType;
use crate::routes::{APPLY_PATCH_TYPE, ResourcePath};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{ObjKey, Store, Stored};
use crate::table;

pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a ResourcePath,
    pub query: &'a HashMap<String, String>,
    pub content_type: &'a str,
    pub accept: &'a str,
    pub user_agent: &'a str,
    pub body: &'a [u8],
}

impl Request<'_> {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }

    /// The manager recorded for non-apply writes: `?fieldManager=`, else the
    /// user agent's product name (as the apiserver does), else "unknown".
    fn update_manager(&self) -> String {
        if let Some(m) = self.param("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        let product = self.user_agent.split('/').next().unwrap_or_default().trim();
        if product.is_empty() { "unknown".into() } else { product.to_string() }
    }

    pub fn wants_table(&self) -> bool {
        self.accept.contains("as=Table")
    }

    /// `Accept: application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`
    /// asks for metadata only (kube-rs `get_metadata`/`list_metadata`).
    pub fn wants_metadata(&self) -> bool {
        self.accept.contains("as=PartialObjectMetadata")
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body }
    }
}

/// The request's target once resolved against the registry.
pub(crate) struct Target {
    pub rt: ResourceType,
    pub version: String,
    pub namespace: Option<String>,
}

impl Target {
    pub fn api_version(&self) -> String {
        self.rt.api_version(&self.version)
    }

    fn key(&self, name: &str) -> ObjKey {
        ObjKey::new(self.namespace.as_deref(), name)
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::NotFound { gr: self.rt.gr(), name: name.to_string() }
    }

    /// Objects are shown in the version they were asked for; custom
    /// resources convert between versions by relabeling (the `None`
    /// conversion strategy).
    pub fn present(&self, obj: &Value) -> Value {
        let mut obj = obj.clone();
        obj["apiVersion"] = self.api_version().into();
        obj
    }
}

/// Resolves the type and scope a path addresses.
pub(crate) fn resolve(store: &Store, p: &ResourcePath) -> ApiResult<Target> {
    let rt = store.registry().lookup(&p.group, &p.version, &p.plural).cloned().ok_or(ApiError::NoResource)?;
    if !rt.namespaced && p.namespace.is_some() {
        return Err(ApiError::NoResource);
    }
    Ok(Target { rt, version: p.version.clone(), namespace: p.namespace.clone() })
}

pub fn handle(store: &mut Store, req: &Request<'_>) -> ApiResult<Reply> {
    let p = req.path;
    let target = resolve(store, p)?;
    let status_sub = match p.subresource.as_deref() {
        None => false,
        Some("status") if target.rt.status_subresource => true,
        Some("scale") if has_scale(&target.rt) => {
            let name = p.name.as_deref().ok_or(ApiError::NoResource)?;
            return scale(store, &target, name, req);
        }
        Some(_) => return Err(ApiError::NoResource),
    };
    // A namespaced object is always addressed within its namespace; only
    // LIST may span all namespaces.
    let object_without_ns = target.rt.namespaced && target.namespace.is_none();
    match (req.method, p.name.as_deref()) {
        (&Method::GET, None) => list(store, &target, req),
        (&Method::DELETE, None) => delete_collection(store, &target, req),
        (&Method::POST, None) if object_without_ns => {
            Err(ApiError::MethodNotAllowed(format!("{} must be created in a namespace", target.rt.plural)))
        }
        (&Method::POST, None) => create(store, &target, req),
        (_, Some(_)) if object_without_ns => Err(ApiError::NoResource),
        (&Method::GET, Some(name)) => get(store, &target, name, req),
        (&Method::PUT, Some(name)) => update(store, &target, name, status_sub, req),
        (&Method::PATCH, Some(name)) if req.content_type.starts_with(APPLY_PATCH_TYPE) => {
            apply(store, &target, name, status_sub, req)
        }
        (&Method::PATCH, Some(name)) => patch(store, &target, name, status_sub, req),
        (&Method::DELETE, Some(name)) => delete(store, &target, name, req),
        (m, _) => Err(ApiError::MethodNotAllowed(format!("method {m} is not supported here"))),
    }
}

/// Built-in kinds merge their keyed lists (containers by name, ...); custom
/// resources keep lists atomic (CRD schemas are not read).
fn lists_of(rt: &ResourceType) -> Lists {
    if rt.from_crd { Lists::Atomic } else { Lists::ByKey }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn get(store: &Store, t: &Target, name: &str, req: &Request<'_>) -> ApiResult<Reply> {
    let stored = store.get(&t.rt, &t.key(name)).ok_or_else(|| t.not_found(name))?;
    let obj = t.present(&stored.obj);
    if req.wants_table() {
        let rv = stored.obj.pointer("/metadata/resourceVersion").cloned();
        return Ok(Reply::ok(table::table(&[obj], rv, None, req.param("includeObject"))));
    }
    if req.wants_metadata() {
        return Ok(Reply::ok(partial_metadata(&obj)));
    }
    Ok(Reply::ok(obj))
}

/// The `meta.k8s.io/v1` PartialObjectMetadata view of an object.
pub(crate) fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Continue tokens are the hex-encoded key of the last returned object:
/// opaque to clients, and pages resume right after it.
fn encode_continue(key: &ObjKey) -> String {
    format!("{}\0{}", key.namespace, key.name).bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> ApiResult<ObjKey> {
    let bad = || ApiError::BadRequest(format!("continue key is not valid: {token:?}"));
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect::<ApiResult<Vec<u8>>>()?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = s.split_once('\0').ok_or_else(bad)?;
    Ok(ObjKey::new(Some(ns), name))
}

pub(crate) struct Selection {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Selection {
    pub fn from(req: &Request<'_>) -> ApiResult<Self> {
        Ok(Self {
            labels: LabelSelector::parse(req.param("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(req.param("fieldSelector").unwrap_or_default())?,
        })
    }

    pub fn matches(&self, key: &ObjKey, obj: &Value) -> bool {
        self.fields.matches(&key.name, &key.namespace)
            && self.labels.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

fn list(store: &Store, t: &Target, req: &Request<'_>) -> ApiResult<Reply> {
    let sel = Selection::from(req)?;
    let limit: usize = match req.param("limit") {
        None | Some("") => 0,
        Some(l) => l.parse().map_err(|_| ApiError::BadRequest(format!("invalid limit {l:?}")))?,
    };
    let after = match req.param("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    let mut items = Vec::new();
    let mut last_key = None;
    let mut remaining = 0u64;
    for (key, stored) in store.range(&t.rt, t.namespace.as_deref(), after.as_ref()) {
        if !sel.matches(key, &stored.obj) {
            continue;
        }
        if limit > 0 && items.len() == limit {
            remaining += 1;
            continue;
        }
        let mut obj = t.present(&stored.obj);
        obj["kind"] = t.rt.kind.clone().into();
        items.push(obj);
        last_key = Some(key);
    }
    let rv = Value::String(store.resource_version().to_string());
    let cont = match (remaining, last_key) {
        (1.., Some(k)) => Some(encode_continue(k)),
        _ => None,
    };
    if req.wants_table() {
        return Ok(Reply::ok(table::table(&items, Some(rv), cont, req.param("includeObject"))));
    }
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), rv);
    if let Some(c) = cont {
        metadata.insert("continue".into(), c.into());
        // Like the apiserver, the count is only given when exact.
        if sel.is_empty() {
            metadata.insert("remainingItemCount".into(), remaining.into());
        }
    }
    if req.wants_metadata() {
        return Ok(Reply::ok(json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": items.iter().map(partial_metadata).collect::<Vec<_>>(),
        })));
    }
    Ok(Reply::ok(json!({
        "kind": t.rt.list_kind,
        "apiVersion": t.api_version(),
        "metadata": metadata,
        "items": items,
    })))
}

/// Parses a request body; YAML is accepted wherever JSON is (JSON is YAML).
fn parse_body(req: &Request<'_>) -> ApiResult<Value> {
    let ct = req.content_type;
    if ct.starts_with("application/vnd.kubernetes.protobuf") {
        return crate::protobuf::decode(req.body);
    }
    if !(ct.is_empty() || ct.starts_with("application/") && (ct.contains("json") || ct.contains("yaml"))) {
        // Protobuf and CBOR are not spoken; a 415 makes client-go fall back
        // to JSON.
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml; got {ct:?}"
        )));
    }
    if req.body.is_empty() {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    serde_json::from_slice(req.body).or_else(|json_err| {
        if req.content_type.contains("yaml") {
            serde_yaml::from_slice(req.body).map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))
        } else {
            Err(ApiError::BadRequest(format!("error decoding request body: {json_err}")))
        }
    })
}

/// Checks that a body's apiVersion/kind (when given) fit the URL.
fn check_type(t: &Target, obj: &Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::BadRequest("the request body must be an object".into()));
    }
    let expected = t.api_version();
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && av != expected
    {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({av}) does not match the expected API version ({expected})"
        )));
    }
    if let Some(kind) = obj.get("kind").and_then(Value::as_str)
        && kind != t.rt.kind
    {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            t.rt.kind
        )));
    }
    Ok(())
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str().filter(|s| !s.is_empty())
}

fn check_namespace(t: &Target, obj: &Value) -> ApiResult<()> {
    match (meta_str(obj, "namespace"), t.namespace.as_deref()) {
        (Some(body), Some(url)) if body != url => Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request".into(),
        )),
        _ => Ok(()),
    }
}

fn check_name(obj: &Value, name: &str) -> ApiResult<()> {
    match meta_str(obj, "name") {
        Some(body) if body != name => Err(ApiError::BadRequest(format!(
            "the name of the object ({body}) does not match the name on the URL ({name})"
        ))),
        _ => Ok(()),
    }
}

fn require_namespace(store: &Store, t: &Target) -> ApiResult<()> {
    match t.namespace.as_deref() {
        Some(ns) if !store.namespace_exists(ns) => {
            Err(ApiError::NotFound { gr: crate::error::GroupResource::new("", "namespaces"), name: ns.to_string() })
        }
        _ => Ok(()),
    }
}

fn scope_of(rt: &ResourceType, status_sub: bool) -> Scope {
    if status_sub {
        Scope::StatusOnly
    } else if rt.status_subresource {
        Scope::MainWithoutStatus
    } else {
        Scope::Whole
    }
}

/// Enforces what a write may change given its scope: the main resource of a
/// kind with a status subresource keeps the stored status, and a status
/// write changes nothing but status.
fn restrict_to_scope(scope: Scope, old: Option<&Value>, new: Value) -> Value {
    let old_status = old.and_then(|o| o.get("status")).cloned();
    match scope {
        Scope::Whole => new,
        Scope::MainWithoutStatus => {
            let mut new = new;
            if let Some(m) = new.as_object_mut() {
                match old_status {
                    Some(s) => {
                        m.insert("status".into(), s);
                    }
                    None => {
                        m.shift_remove("status");
                    }
                }
            }
            new
        }
        Scope::Scale => new,
        Scope::StatusOnly => {
            let mut base = old.cloned().unwrap_or_else(|| json!({}));
            match new.get("status") {
                Some(s) => base["status"] = s.clone(),
                None => {
                    if let Some(m) = base.as_object_mut() {
                        m.shift_remove("status");
                    }
                }
            }
            base
        }
    }
}

/// `metadata.managedFields: [{}]` in a write clears ownership, the
/// apiserver's documented way to reset it.
fn resets_managed_fields(obj: &Value) -> bool {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty))
}

/// Fields the server owns; a client's copy of them is ignored.
const SYSTEM_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

fn without_system_metadata(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in SYSTEM_METADATA {
            meta.shift_remove(*f);
        }
    }
    obj
}

/// Content compared to detect no-op writes and spec changes.
fn strip_volatile(obj: &Value, also_metadata_and_status: bool) -> Value {
    let mut obj = obj.clone();
    if let Some(m) = obj.as_object_mut() {
        if also_metadata_and_status {
            m.shift_remove("metadata");
            m.shift_remove("status");
        } else if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.shift_remove("resourceVersion");
            meta.shift_remove("managedFields");
        }
    }
    obj
}

fn same_ownership(a: &[ManagedEntry], b: &[ManagedEntry]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.manager == y.manager
                && x.operation == y.operation
                && x.subresource == y.subresource
                && x.api_version == y.api_version
                && x.fields == y.fields
        })
}

/// The common tail of every write: identity and system metadata, defaults,
/// validation, ownership rendering, no-op detection, and storing.
fn commit(
    store: &mut Store,
    t: &Target,
    key: ObjKey,
    old: Option<&Stored>,
    mut obj: Value,
    mut managed: Vec<ManagedEntry>,
    dry_run: bool,
) -> ApiResult<Value> {
    let old_obj = old.map(|o| &o.obj);
    {
        let map = obj.as_object_mut().ok_or_else(|| ApiError::BadRequest("the object must be a JSON object".into()))?;
        map.insert("apiVersion".into(), t.api_version().into());
        map.insert("kind".into(), t.rt.kind.clone().into());
    }
    let old_meta = old_obj.and_then(|o| o.get("metadata"));
    let keep = |f: &str| old_meta.and_then(|m| m.get(f)).cloned();
    let meta =
        obj["metadata"].as_object_mut().ok_or_else(|| ApiError::BadRequest("metadata must be an object".into()))?;
    for f in SYSTEM_METADATA {
        meta.shift_remove(*f);
    }
    meta.insert("name".into(), key.name.clone().into());
    if t.rt.namespaced {
        meta.insert("namespace".into(), key.namespace.clone().into());
    } else {
        meta.shift_remove("namespace");
    }
    meta.insert("uid".into(), keep("uid").unwrap_or_else(|| uuid::Uuid::new_v4().to_string().into()));
    meta.insert("creationTimestamp".into(), keep("creationTimestamp").unwrap_or_else(|| now().into()));
    // Once deletion is requested, only the server can end it.
    for f in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
        if let Some(v) = keep(f) {
            meta.insert(f.into(), v);
        }
    }

    kinds::apply_defaults(store, &t.rt, &mut obj, old_obj);
    kinds::validate(&t.rt, &obj)?;
    if let Some(old) = old_obj {
        kinds::validate_update(&t.rt, old, &obj)?;
        finalizers::check_update(&t.rt, old, &obj)?;
    }

    if t.rt.has_generation {
        let old_gen = old_meta.and_then(|m| m.get("generation")).and_then(Value::as_i64).unwrap_or(0);
        let spec_changed = old_obj.is_none_or(|o| strip_volatile(o, true) != strip_volatile(&obj, true));
        obj["metadata"]["generation"] = (old_gen + i64::from(spec_changed)).into();
    }

    managed::prune(&mut managed, &obj);
    if !managed.is_empty() {
        obj["metadata"]["managedFields"] = managed::render(&managed);
    }

    if let Some(old) = old
        && strip_volatile(&old.obj, false) == strip_volatile(&obj, false)
        && same_ownership(&old.managed, &managed)
    {
        // A no-op write changes nothing, not even the resourceVersion.
        return Ok(t.present(&old.obj));
    }
    if dry_run {
        if let Some(rv) = keep("resourceVersion") {
            obj["metadata"]["resourceVersion"] = rv;
        }
        return Ok(t.present(&obj));
    }
    let rv = store.next_resource_version();
    obj["metadata"]["resourceVersion"] = rv.to_string().into();
    store.put(&t.rt, key.clone(), Stored { obj: obj.clone(), managed });
    // The write removed the last finalizer of an object being deleted: it is
    // gone now (after the update, so watchers see both events).
    if finalizers::deletion_done(&obj) {
        store.remove(&t.rt, &key);
    }
    Ok(t.present(&obj))
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5).map(|_| CHARS[rand::random_range(0..CHARS.len())] as char).collect()
}

fn create(store: &mut Store, t: &Target, req: &Request<'_>) -> ApiResult<Reply> {
    let obj = parse_body(req)?;
    check_type(t, &obj)?;
    check_namespace(t, &obj)?;
    let name = match (meta_str(&obj, "name"), meta_str(&obj, "generateName")) {
        (Some(n), _) => n.to_string(),
        (None, Some(prefix)) => format!("{prefix}{}", random_suffix()),
        (None, None) => {
            return Err(ApiError::Invalid {
                group: t.rt.group.clone(),
                kind: t.rt.kind.clone(),
                name: String::new(),
                causes: vec![crate::error::Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            });
        }
    };
    require_namespace(store, t)?;
    let key = t.key(&name);
    if store.get(&t.rt, &key).is_some() {
        return Err(ApiError::AlreadyExists { gr: t.rt.gr(), name });
    }
    let scope = scope_of(&t.rt, false);
    let mut obj = obj;
    quantity::normalise(&t.rt.group, &t.rt.kind, &mut obj)?;
    let obj = restrict_to_scope(scope, None, without_system_metadata(obj));
    let mut managed = Vec::new();
    managed::record_update(
        lists_of(&t.rt),
        &mut managed,
        None,
        &obj,
        &req.update_manager(),
        &t.api_version(),
        &now(),
        scope,
    );
    let obj = commit(store, t, key, None, obj, managed, req.dry_run())?;
    Ok(Reply { status: StatusCode::CREATED, body: obj })
}

/// Shared tail of PUT and non-apply PATCH: `candidate` is the full object
/// the client wants.
fn replace(
    store: &mut Store,
    t: &Target,
    name: &str,
    old: Stored,
    candidate: Value,
    status_sub: bool,
    req: &Request<'_>,
) -> ApiResult<Reply> {
    let stored_rv = meta_str(&old.obj, "resourceVersion").unwrap_or_default();
    if let Some(rv) = meta_str(&candidate, "resourceVersion")
        && rv != stored_rv
    {
        return Err(ApiError::Conflict { gr: t.rt.gr(), name: name.to_string() });
    }
    let mut managed = if resets_managed_fields(&candidate) { Vec::new() } else { old.managed.clone() };
    let mut candidate = candidate;
    quantity::normalise(&t.rt.group, &t.rt.kind, &mut candidate)?;
    let scope = scope_of(&t.rt, status_sub);
    let new = restrict_to_scope(scope, Some(&old.obj), without_system_metadata(candidate));
    managed::record_update(
        lists_of(&t.rt),
        &mut managed,
        Some(&old.obj),
        &new,
        &req.update_manager(),
        &t.api_version(),
        &now(),
        scope,
    );
    let obj = commit(store, t, t.key(name), Some(&old), new, managed, req.dry_run())?;
    Ok(Reply::ok(obj))
}

fn update(store: &mut Store, t: &Target, name: &str, status_sub: bool, req: &Request<'_>) -> ApiResult<Reply> {
    let obj = parse_body(req)?;
    check_type(t, &obj)?;
    check_namespace(t, &obj)?;
    check_name(&obj, name)?;
    let old = store.get(&t.rt, &t.key(name)).cloned().ok_or_else(|| t.not_found(name))?;
    replace(store, t, name, old, obj, status_sub, req)
}

fn patch(store: &mut Store, t: &Target, name: &str, status_sub: bool, req: &Request<'_>) -> ApiResult<Reply> {
    let body = parse_body(req)?;
    let old = store.get(&t.rt, &t.key(name)).cloned().ok_or_else(|| t.not_found(name))?;
    let mut obj = old.obj.clone();
    let ct = req.content_type;
    if ct.starts_with("application/merge-patch+json") {
        patch::merge_patch(&mut obj, &body);
    } else if ct.starts_with("application/strategic-merge-patch+json") {
        patch::strategic_merge_patch(&mut obj, &body);
    } else if ct.starts_with("application/json-patch+json") {
        patch::json_patch(&mut obj, &body)?;
    } else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {ct:?}"
        )));
    }
    check_type(t, &obj)?;
    check_name(&obj, name)?;
    check_namespace(t, &obj)?;
    // The patched object still carries the stored managedFields rendering;
    // `replace` ignores it unless the patch set the `[{}]` reset.
    replace(store, t, name, old, obj, status_sub, req)
}

fn apply(store: &mut Store, t: &Target, name: &str, status_sub: bool, req: &Request<'_>) -> ApiResult<Reply> {
    let manager = req
        .param("fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest("PATCH, application/apply-patch+yaml requests must specify a fieldManager".into())
        })?
        .to_string();
    let force = req.param("force") == Some("true");
    let mut config = parse_body(req)?;
    check_type(t, &config)?;
    // Quantities are compared and stored canonically, so `cpu: 0.5` applied
    // over a stored `500m` is the same value (no conflict, no change).
    quantity::normalise(&t.rt.group, &t.rt.kind, &mut config)?;
    for field in ["apiVersion", "kind"] {
        if config.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ApiError::BadRequest(format!("{field} must be set")));
        }
    }
    check_name(&config, name)?;
    check_namespace(t, &config)?;
    let key = t.key(name);
    let old = store.get(&t.rt, &key).cloned();
    // A resourceVersion in an applied config is a precondition.
    if let Some(rv) = meta_str(&config, "resourceVersion")
        && old.as_ref().is_none_or(|o| meta_str(&o.obj, "resourceVersion") != Some(rv))
    {
        return Err(ApiError::Conflict { gr: t.rt.gr(), name: name.to_string() });
    }
    if old.is_none() {
        if status_sub {
            return Err(t.not_found(name));
        }
        require_namespace(store, t)?;
    }
    let live = match &old {
        Some(o) => o.obj.clone(),
        None => {
            json!({"apiVersion": t.api_version(), "kind": t.rt.kind, "metadata": {"name": name}})
        }
    };
    let mut managed = old.as_ref().map(|o| o.managed.clone()).unwrap_or_default();
    let scope = scope_of(&t.rt, status_sub);
    let now = now();
    let areq = ApplyRequest {
        lists: lists_of(&t.rt),
        manager: &manager,
        api_version: &t.api_version(),
        force,
        now: &now,
        scope,
    };
    let merged = managed::apply(&live, &without_system_metadata(config), &mut managed, &areq).map_err(|conflicts| {
        ApiError::ApplyConflict {
            gr: t.rt.gr(),
            name: name.to_string(),
            message: managed::conflict_message(&conflicts),
            causes: conflicts
                .iter()
                .map(|c| crate::error::Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with {}", c.manager),
                    field: managed::path_string(&c.path),
                })
                .collect(),
        }
    })?;
    let merged = restrict_to_scope(scope, old.as_ref().map(|o| &o.obj), merged);
    let created = old.is_none();
    let obj = commit(store, t, key, old.as_ref(), merged, managed, req.dry_run())?;
    Ok(Reply { status: if created { StatusCode::CREATED } else { StatusCode::OK }, body: obj })
}

/// The parts of DeleteOptions that matter here. `propagationPolicy` and
/// `gracePeriodSeconds` are accepted and ignored: deletion is immediate.
fn delete_options(req: &Request<'_>) -> ApiResult<Value> {
    // Typed clients may send protobuf DeleteOptions; nothing in them is
    // essential, so an undecodable body is ignored.
    if req.body.is_empty() || req.content_type.contains("protobuf") {
        return Ok(json!({}));
    }
    parse_body(req)
}

fn delete(store: &mut Store, t: &Target, name: &str, req: &Request<'_>) -> ApiResult<Reply> {
    let opts = delete_options(req)?;
    let key = t.key(name);
    let old = store.get(&t.rt, &key).ok_or_else(|| t.not_found(name))?;
    let pre = |f: &str| opts.pointer(&format!("/preconditions/{f}")).and_then(Value::as_str);
    for (field, pointer) in [("uid", "uid"), ("resourceVersion", "resourceVersion")] {
        if let Some(want) = pre(field)
            && Some(want) != meta_str(&old.obj, pointer)
        {
            return Err(ApiError::Conflict { gr: t.rt.gr(), name: name.to_string() });
        }
    }
    let uid = meta_str(&old.obj, "uid").unwrap_or_default().to_string();
    let dry_run =
        req.dry_run() || opts.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|v| v == "All"));
    if finalizers::has_finalizers(&old.obj) {
        // Graceful deletion: the object stays, marked, until its finalizers
        // are removed; the apiserver answers with the object itself.
        let obj = finalizers::mark_deleting(store, t, &key, dry_run);
        return Ok(Reply::ok(t.present(&obj)));
    }
    if !dry_run {
        store.remove(&t.rt, &key);
    }
    let mut details = json!({"name": name, "kind": t.rt.plural, "uid": uid});
    if !t.rt.group.is_empty() {
        details["group"] = t.rt.group.clone().into();
    }
    Ok(Reply::ok(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })))
}

fn delete_collection(store: &mut Store, t: &Target, req: &Request<'_>) -> ApiResult<Reply> {
    let sel = Selection::from(req)?;
    let keys: Vec<ObjKey> = store
        .range(&t.rt, t.namespace.as_deref(), None)
        .filter(|(k, s)| sel.matches(k, &s.obj))
        .map(|(k, _)| k.clone())
        .collect();
    let mut items = Vec::new();
    for key in keys {
        if store.get(&t.rt, &key).is_some_and(|s| finalizers::has_finalizers(&s.obj)) {
            let obj = finalizers::mark_deleting(store, t, &key, req.dry_run());
            items.push(t.present(&obj));
            continue;
        }
        let removed = if req.dry_run() { store.get(&t.rt, &key).cloned() } else { store.remove(&t.rt, &key) };
        if let Some(s) = removed {
            items.push(t.present(&s.obj));
        }
    }
    Ok(Reply::ok(json!({
        "kind": t.rt.list_kind,
        "apiVersion": t.api_version(),
        "metadata": {"resourceVersion": store.resource_version().to_string()},
        "items": items,
    })))
}

fn has_scale(rt: &ResourceType) -> bool {
    rt.group == "apps" && rt.kind == "Deployment"
}

/// The autoscaling/v1 Scale view of a Deployment.
fn scale_of(obj: &Value) -> Value {
    let selector: Vec<String> = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
        .unwrap_or_default();
    let meta = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector.join(","),
        },
    })
}

/// GET/PUT/PATCH on `deployments/{name}/scale` (what `kubectl scale` and
/// autoscalers use). Only `spec.replicas` can change.
fn scale(store: &mut Store, t: &Target, name: &str, req: &Request<'_>) -> ApiResult<Reply> {
    let old = store.get(&t.rt, &t.key(name)).cloned().ok_or_else(|| t.not_found(name))?;
    let current = scale_of(&old.obj);
    let wanted = match *req.method {
        Method::GET => return Ok(Reply::ok(current)),
        Method::PUT => parse_body(req)?,
        Method::PATCH => {
            let body = parse_body(req)?;
            let mut s = current.clone();
            if req.content_type.starts_with("application/json-patch+json") {
                patch::json_patch(&mut s, &body)?;
            } else {
                patch::strategic_merge_patch(&mut s, &body);
            }
            s
        }
        ref m => {
            return Err(ApiError::MethodNotAllowed(format!("method {m} is not supported on scale")));
        }
    };
    if let Some(rv) = meta_str(&wanted, "resourceVersion")
        && Some(rv) != meta_str(&old.obj, "resourceVersion")
    {
        return Err(ApiError::Conflict { gr: t.rt.gr(), name: name.to_string() });
    }
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::BadRequest("spec.replicas must be an integer".into()))?;
    let mut new = old.obj.clone();
    new["spec"]["replicas"] = replicas.into();
    let mut managed = old.managed.clone();
    managed::record_update(
        lists_of(&t.rt),
        &mut managed,
        Some(&old.obj),
        &new,
        &req.update_manager(),
        &t.api_version(),
        &now(),
        Scope::Scale,
    );
    let obj = commit(store, t, t.key(name), Some(&old), new, managed, req.dry_run())?;
    Ok(Reply::ok(scale_of(&obj)))
}
