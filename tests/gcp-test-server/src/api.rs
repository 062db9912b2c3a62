//! Request handling: routing by the discovery document, auth, rate
//! limiting, body validation, and the stateful collections.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::discovery::{Discovery, Matched};
use crate::error::ApiError;
use crate::knobs::Knobs;

/// How long `globalOperations.wait` blocks at most (the real API: ~2 min).
const WAIT_LIMIT: Duration = Duration::from_secs(120);

/// Per served collection: discovery resource, URL segment under
/// `global/`, request schema, and the path variable naming one item.
struct Collection {
    resource: &'static str,
    segment: &'static str,
    schema: &'static str,
    var: &'static str,
}

const COLLECTIONS: &[Collection] = &[
    Collection { resource: "backendBuckets", segment: "backendBuckets", schema: "BackendBucket", var: "backendBucket" },
    Collection {
        resource: "backendServices",
        segment: "backendServices",
        schema: "BackendService",
        var: "backendService",
    },
    Collection { resource: "urlMaps", segment: "urlMaps", schema: "UrlMap", var: "urlMap" },
    Collection {
        resource: "targetHttpsProxies",
        segment: "targetHttpsProxies",
        schema: "TargetHttpsProxy",
        var: "targetHttpsProxy",
    },
    Collection {
        resource: "targetHttpProxies",
        segment: "targetHttpProxies",
        schema: "TargetHttpProxy",
        var: "targetHttpProxy",
    },
    Collection {
        resource: "sslCertificates",
        segment: "sslCertificates",
        schema: "SslCertificate",
        var: "sslCertificate",
    },
    Collection {
        resource: "globalForwardingRules",
        segment: "forwardingRules",
        schema: "ForwardingRule",
        var: "forwardingRule",
    },
    Collection { resource: "globalAddresses", segment: "addresses", schema: "Address", var: "address" },
];

fn collection(resource: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.resource == resource)
}

fn collection_by_segment(segment: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.segment == segment)
}

struct Operation {
    body: Value,
    done_at: Instant,
}

#[derive(Default)]
struct Project {
    /// resource → name → stored object.
    items: BTreeMap<&'static str, BTreeMap<String, Value>>,
    operations: BTreeMap<String, Operation>,
    /// requestId → operation name.
    request_ids: HashMap<String, String>,
}

#[derive(Default)]
struct Store {
    projects: BTreeMap<String, Project>,
    next_id: u64,
}

pub struct Server {
    discovery: Arc<Discovery>,
    knobs: Knobs,
    store: Mutex<Store>,
}

impl Server {
    pub fn new(discovery: Arc<Discovery>, knobs: Knobs) -> Self {
        Self { discovery, knobs, store: Mutex::new(Store::default()) }
    }
}

/// The whole API as one axum router.
pub fn router(server: Arc<Server>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(server)
}

async fn handle(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server.knobs.bump("requests");
    let latency = server.knobs.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    if method == Method::POST && uri.path() == "/token" {
        let (status, body) = crate::oauth::token(&server.knobs, &headers, &body, &format!("http://{host}/token"));
        return (status, axum::Json(body)).into_response();
    }
    if method == Method::GET && uri.path() == "/computeMetadata/v1/instance/service-accounts/default/token" {
        let (status, body) = crate::oauth::metadata_token(&server.knobs, &headers);
        return (status, axum::Json(body)).into_response();
    }
    match dispatch(&server, &method, &uri, &headers, &body).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            server.knobs.bump("rejected");
            e.into_response()
        }
    }
}

async fn dispatch(
    server: &Server,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, ApiError> {
    let Some(path) = uri.path().strip_prefix("/compute/v1/") else {
        return Err(ApiError::not_found(format!("The requested URL {} was not found on this server.", uri.path())));
    };
    let matched = server.discovery.route(method.as_str(), path)?;
    authenticate(server, headers)?;
    if server.knobs.take_rate_limit() {
        server.knobs.bump("rate_limited");
        return Err(ApiError::rate_limited());
    }
    server.knobs.bump(&format!("{}.{}", matched.spec.resource, matched.spec.method));
    let query: Vec<(String, String)> = match uri.query() {
        Some(_) => Query::<Vec<(String, String)>>::try_from_uri(uri).map_err(|e| ApiError::invalid(e.to_string()))?.0,
        None => Vec::new(),
    };
    server.discovery.check_query(matched.spec, query.iter().map(|(k, _)| k.clone()))?;
    let query: BTreeMap<String, String> = query.into_iter().collect();
    let request = match &matched.spec.request_schema {
        Some(schema) => {
            if body.is_empty() {
                return Err(ApiError::required("Required field 'resource' not specified"));
            }
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
            server.discovery.validate(schema, &v)?;
            Some(v)
        }
        None => None,
    };
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let ctx = Ctx { base: format!("http://{host}/compute/v1"), query, matched };
    if ctx.matched.spec.resource == "globalOperations" {
        return operations(server, &ctx).await;
    }
    let coll =
        collection(&ctx.matched.spec.resource).ok_or_else(|| ApiError::not_implemented("unsupported collection"))?;
    match ctx.matched.spec.method.as_str() {
        "get" => get(server, &ctx, coll),
        "list" => list(server, &ctx, coll),
        "insert" | "update" | "patch" | "delete" | "setUrlMap" | "setSslCertificates" | "setTarget" => {
            mutate(server, &ctx, coll, request.unwrap_or(Value::Null))
        }
        other => Err(ApiError::not_implemented(format!(
            "{}.{other} is in the Compute Engine API but not implemented by gcp-test-server",
            coll.resource
        ))),
    }
}

fn authenticate(server: &Server, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get("authorization").and_then(|h| h.to_str().ok()) else {
        return Err(ApiError::unauthenticated(
            "required",
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        ));
    };
    match value.strip_prefix("Bearer ") {
        Some(token) if token == server.knobs.token() => Ok(()),
        _ => Err(ApiError::unauthenticated("authError", "Invalid Credentials")),
    }
}

struct Ctx<'a> {
    base: String,
    query: BTreeMap<String, String>,
    matched: Matched<'a>,
}

impl Ctx<'_> {
    fn var(&self, name: &str) -> Result<&str, ApiError> {
        self.matched
            .vars
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::invalid(format!("missing path parameter {name}")))
    }
    fn project(&self) -> Result<&str, ApiError> {
        self.var("project")
    }
    fn self_link(&self, coll: &Collection, name: &str) -> Result<String, ApiError> {
        Ok(format!("{}/projects/{}/global/{}/{name}", self.base, self.project()?, coll.segment))
    }
}

fn lock(server: &Server) -> std::sync::MutexGuard<'_, Store> {
    server.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn not_found(project: &str, coll: &Collection, name: &str) -> ApiError {
    ApiError::not_found(format!("The resource 'projects/{project}/global/{}/{name}' was not found", coll.segment))
}

fn get(server: &Server, ctx: &Ctx, coll: &Collection) -> Result<Value, ApiError> {
    let project = ctx.project()?;
    let name = ctx.var(coll.var)?;
    let store = lock(server);
    store
        .projects
        .get(project)
        .and_then(|p| p.items.get(coll.resource))
        .and_then(|m| m.get(name))
        .cloned()
        .ok_or_else(|| not_found(project, coll, name))
}

fn list(server: &Server, ctx: &Ctx, coll: &Collection) -> Result<Value, ApiError> {
    let project = ctx.project()?;
    let items: Vec<Value> = lock(server)
        .projects
        .get(project)
        .and_then(|p| p.items.get(coll.resource))
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    let kind = server.discovery.kind_of(coll.schema).unwrap_or_default();
    let id = format!("projects/{project}/global/{}", coll.segment);
    let link = format!("{}/{id}", ctx.base);
    page(ctx, items, &format!("{kind}List"), &id, &link)
}

/// `maxResults`/`pageToken` paging; `filter` and `orderBy` are refused
/// rather than ignored, so a client relying on them notices.
fn page(ctx: &Ctx, items: Vec<Value>, kind: &str, id: &str, link: &str) -> Result<Value, ApiError> {
    for unsupported in ["filter", "orderBy"] {
        if ctx.query.contains_key(unsupported) {
            return Err(ApiError::not_implemented(format!(
                "gcp-test-server does not implement the {unsupported} list parameter"
            )));
        }
    }
    let max = match ctx.query.get("maxResults") {
        Some(m) => m.parse::<usize>().ok().filter(|m| *m <= 500).ok_or_else(|| {
            ApiError::invalid(format!("Invalid value for field 'maxResults': '{m}'. Must be less than or equal to 500"))
        })?,
        None => 500,
    };
    let start = match ctx.query.get("pageToken") {
        Some(t) => {
            t.parse::<usize>().map_err(|_| ApiError::invalid(format!("Invalid value for field 'pageToken': '{t}'.")))?
        }
        None => 0,
    };
    let end = (start + max).min(items.len());
    let mut out = json!({ "kind": kind, "id": id, "selfLink": link });
    let slice: Vec<Value> = items.get(start..end).map(<[Value]>::to_vec).unwrap_or_default();
    // Google omits `items` when the page is empty.
    if !slice.is_empty() {
        out["items"] = Value::Array(slice);
    }
    if end < items.len() {
        out["nextPageToken"] = Value::String(end.to_string());
    }
    Ok(out)
}

/// A reference to a served global resource, from a full or partial URL.
fn parse_reference(text: &str, project: &str) -> Option<(String, &'static Collection, String)> {
    let rest = match text.find("projects/") {
        Some(i) => &text[i + "projects/".len()..],
        None if text.starts_with("global/") => return parse_reference(&format!("projects/{project}/{text}"), project),
        None => return None,
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [p, "global", segment, name] => collection_by_segment(segment).map(|c| (p.to_string(), c, name.to_string())),
        _ => None,
    }
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn fingerprint() -> String {
    base64(&rand::random::<[u8; 8]>())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 7386 JSON merge patch (what Compute Engine's PATCH methods use).
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

const OUTPUT_ONLY: &[&str] =
    &["id", "creationTimestamp", "selfLink", "kind", "selfLinkWithId", "status", "users", "region"];

fn mutate(server: &Server, ctx: &Ctx, coll: &'static Collection, request: Value) -> Result<Value, ApiError> {
    let project = ctx.project()?.to_string();
    let request_id = ctx.query.get("requestId").cloned();
    if let Some(id) = &request_id
        && uuid::Uuid::parse_str(id).map(|u| u.is_nil()).unwrap_or(true)
    {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'requestId': '{id}'. The request ID must be a valid UUID, and not the zero UUID."
        )));
    }
    let method = ctx.matched.spec.method.clone();
    let delay = server.knobs.operation_delay();
    let mut store = lock(server);
    if let Some(id) = &request_id
        && let Some(op_name) = store.projects.get(&project).and_then(|p| p.request_ids.get(id)).cloned()
    {
        server.knobs.bump("deduplicated");
        let op = &store.projects[&project].operations[&op_name];
        return Ok(op_view(op));
    }
    store.next_id += 1;
    let serial = store.next_id;
    let name = match method.as_str() {
        "insert" => request
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::required("Required field 'resource.name' not specified"))?,
        _ => ctx.var(coll.var)?.to_string(),
    };
    let self_link = ctx.self_link(coll, &name)?;
    let existing =
        store.projects.get(&project).and_then(|p| p.items.get(coll.resource)).and_then(|m| m.get(&name)).cloned();
    let new_value = match method.as_str() {
        "insert" => {
            if !valid_name(&name) {
                return Err(ApiError::invalid(format!(
                    "Invalid value for field 'resource.name': '{name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'"
                )));
            }
            if existing.is_some() {
                return Err(ApiError::already_exists(format!(
                    "The resource 'projects/{project}/global/{}/{name}' already exists",
                    coll.segment
                )));
            }
            let mut v = request;
            strip_output_only(&mut v);
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
            let obj = v.as_object_mut().ok_or_else(|| ApiError::invalid("body must be an object"))?;
            obj.insert("id".into(), Value::String((5_000_000_000_000_000_000u64 + serial).to_string()));
            obj.insert("creationTimestamp".into(), Value::String(now));
            Some(v)
        }
        "update" | "patch" => {
            let current = existing.ok_or_else(|| not_found(&project, coll, &name))?;
            if let Some(body_name) = request.get("name").and_then(Value::as_str)
                && body_name != name
            {
                return Err(ApiError::invalid(format!(
                    "Invalid value for field 'resource.name': '{body_name}'. Resource names cannot be changed."
                )));
            }
            if server.discovery.has_property(coll.schema, "fingerprint") {
                let sent = request.get("fingerprint").and_then(Value::as_str);
                let injected = server.knobs.take_fingerprint_conflict();
                if injected || sent.is_none() || sent != current.get("fingerprint").and_then(Value::as_str) {
                    return Err(ApiError::condition_not_met(
                        "Invalid fingerprint. The fingerprint must be provided and match the resource's current fingerprint.",
                    ));
                }
            }
            let mut v = if method == "patch" {
                let mut merged = current.clone();
                merge_patch(&mut merged, &request);
                merged
            } else {
                request
            };
            strip_output_only(&mut v);
            let obj = v.as_object_mut().ok_or_else(|| ApiError::invalid("body must be an object"))?;
            for keep in ["id", "creationTimestamp"] {
                if let Some(x) = current.get(keep) {
                    obj.insert(keep.into(), x.clone());
                }
            }
            obj.insert("name".into(), Value::String(name.clone()));
            Some(v)
        }
        "setUrlMap" | "setSslCertificates" | "setTarget" => {
            let mut current = existing.ok_or_else(|| not_found(&project, coll, &name))?;
            let field = match method.as_str() {
                "setUrlMap" => "urlMap",
                "setSslCertificates" => "sslCertificates",
                _ => "target",
            };
            let value = request
                .get(field)
                .cloned()
                .ok_or_else(|| ApiError::required(format!("Required field '{field}' not specified")))?;
            current[field] = value;
            Some(current)
        }
        "delete" => {
            let current = existing.ok_or_else(|| not_found(&project, coll, &name))?;
            if let Some(user) = user_of(&store, &project, coll, &name, &current) {
                return Err(ApiError::in_use(format!(
                    "The {} resource 'projects/{project}/global/{}/{name}' is already being used by '{user}'",
                    coll.schema, coll.segment
                )));
            }
            None
        }
        _ => unreachable!("mutate is only called for mutation methods"),
    };
    let target_id = if let Some(mut v) = new_value {
        check_references(&store, &project, &v)?;
        apply_defaults(&store, &project, coll, &name, &mut v, serial)?;
        absolutize_references(&mut v, &ctx.base, &project);
        let obj = v.as_object_mut().ok_or_else(|| ApiError::invalid("body must be an object"))?;
        obj.insert("selfLink".into(), Value::String(self_link.clone()));
        if let Some(kind) = server.discovery.kind_of(coll.schema) {
            obj.insert("kind".into(), Value::String(kind));
        }
        if server.discovery.has_property(coll.schema, "fingerprint") {
            obj.insert("fingerprint".into(), Value::String(fingerprint()));
        }
        let id = obj.get("id").cloned().unwrap_or(Value::Null);
        let p = store.projects.entry(project.clone()).or_default();
        p.items.entry(coll.resource).or_default().insert(name.clone(), v);
        id
    } else {
        let p = store.projects.entry(project.clone()).or_default();
        let removed = p.items.get_mut(coll.resource).and_then(|m| m.remove(&name));
        removed.and_then(|r| r.get("id").cloned()).unwrap_or(Value::Null)
    };
    let now = chrono::Utc::now();
    let op_name = format!("operation-{}-{}", now.timestamp_millis(), &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    let body = json!({
        "kind": "compute#operation",
        "id": (7_000_000_000_000_000_000u64 + serial).to_string(),
        "name": op_name,
        "operationType": method,
        "targetLink": self_link,
        "targetId": target_id,
        "status": "RUNNING",
        "user": "strata-test@gcp-test-server.invalid",
        "progress": 0,
        "insertTime": stamp,
        "startTime": stamp,
        "selfLink": format!("{}/projects/{project}/global/operations/{op_name}", ctx.base),
    });
    let op = Operation { body, done_at: Instant::now() + delay };
    let view = op_view(&op);
    let p = store.projects.entry(project).or_default();
    p.operations.insert(op_name.clone(), op);
    if let Some(id) = request_id {
        p.request_ids.insert(id, op_name);
    }
    Ok(view)
}

/// Compute Engine answers references as full URLs, whatever spelling the request used.
fn absolutize_references(v: &mut Value, base: &str, project: &str) {
    match v {
        Value::String(s) => {
            if let Some((p, coll, name)) = parse_reference(s, project) {
                *s = format!("{base}/projects/{p}/global/{}/{name}", coll.segment);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| absolutize_references(x, base, project)),
        Value::Object(o) => o.values_mut().for_each(|x| absolutize_references(x, base, project)),
        _ => {}
    }
}

fn strip_output_only(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        for k in OUTPUT_ONLY {
            obj.remove(*k);
        }
    }
}

/// Every served URL in `v` must name an existing resource.
fn check_references(store: &Store, project: &str, v: &Value) -> Result<(), ApiError> {
    let mut found = Vec::new();
    strings(v, &mut found);
    for s in found {
        if let Some((p, coll, name)) = parse_reference(s, project) {
            let exists =
                store.projects.get(&p).and_then(|x| x.items.get(coll.resource)).is_some_and(|m| m.contains_key(&name));
            if !exists {
                return Err(not_found(&p, coll, &name));
            }
        }
    }
    Ok(())
}

/// Who still uses the resource `name`, if anyone: a reference to its
/// URL, or (for an address) a forwarding rule holding its IP literal.
fn user_of(store: &Store, project: &str, coll: &Collection, name: &str, current: &Value) -> Option<String> {
    let p = store.projects.get(project)?;
    let literal =
        if coll.resource == "globalAddresses" { current.get("address").and_then(Value::as_str) } else { None };
    for (resource, items) in &p.items {
        let Some(other) = collection(resource) else { continue };
        for (other_name, v) in items {
            if other.resource == coll.resource && other_name == name {
                continue;
            }
            let mut found = Vec::new();
            strings(v, &mut found);
            let by_url = found.iter().any(|s| {
                parse_reference(s, project)
                    .is_some_and(|(rp, rc, rn)| rp == project && rc.resource == coll.resource && rn == name)
            });
            let by_ip = literal.is_some()
                && other.resource == "globalForwardingRules"
                && v.get("IPAddress").and_then(Value::as_str) == literal;
            if by_url || by_ip {
                return Some(format!("projects/{project}/global/{}/{other_name}", other.segment));
            }
        }
    }
    None
}

/// Server-side defaults and per-kind rules, as Compute Engine applies them.
fn apply_defaults(
    store: &Store,
    project: &str,
    coll: &Collection,
    name: &str,
    v: &mut Value,
    serial: u64,
) -> Result<(), ApiError> {
    let obj: &mut Map<String, Value> = v.as_object_mut().ok_or_else(|| ApiError::invalid("body must be an object"))?;
    match coll.resource {
        "backendBuckets" => {
            let named = obj.get("bucketName").and_then(Value::as_str).is_some_and(|b| !b.is_empty());
            ensure(named, || ApiError::required("Required field 'resource.bucketName' not specified"))?;
        }
        "backendServices" => {
            default(obj, "protocol", json!("HTTP"));
            default(obj, "port", json!(80));
            default(obj, "portName", json!("http"));
            default(obj, "timeoutSec", json!(30));
            default(obj, "loadBalancingScheme", json!("EXTERNAL"));
            default(obj, "sessionAffinity", json!("NONE"));
            default(obj, "affinityCookieTtlSec", json!(0));
            default(obj, "connectionDraining", json!({ "drainingTimeoutSec": 0 }));
        }
        "urlMaps" => {
            let has_default =
                ["defaultService", "defaultUrlRedirect", "defaultRouteAction"].iter().any(|k| obj.contains_key(*k));
            ensure(has_default, || {
                ApiError::invalid(format!(
                    "Invalid value for field 'resource': URL map '{name}' needs one of defaultService, defaultUrlRedirect or defaultRouteAction."
                ))
            })?;
        }
        "targetHttpsProxies" => {
            if !obj.contains_key("urlMap") {
                return Err(ApiError::required("Required field 'resource.urlMap' not specified"));
            }
            let certs = obj.get("sslCertificates").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
            if !certs && !obj.contains_key("certificateMap") {
                return Err(ApiError::required("Required field 'resource.sslCertificates' not specified"));
            }
            default(obj, "quicOverride", json!("NONE"));
        }
        "targetHttpProxies" => {
            ensure(obj.contains_key("urlMap"), || {
                ApiError::required("Required field 'resource.urlMap' not specified")
            })?;
        }
        "sslCertificates" => {
            let ty =
                obj.get("type").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| {
                    if obj.contains_key("managed") { "MANAGED".into() } else { "SELF_MANAGED".into() }
                });
            obj.insert("type".into(), Value::String(ty.clone()));
            if ty == "MANAGED" {
                let domains: Vec<String> = obj
                    .get("managed")
                    .and_then(|m| m.get("domains"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                if domains.is_empty() {
                    return Err(ApiError::required("Required field 'resource.managed.domains' not specified"));
                }
                let status: Map<String, Value> = domains.iter().map(|d| (d.clone(), json!("PROVISIONING"))).collect();
                obj.insert(
                    "managed".into(),
                    json!({ "domains": domains, "status": "PROVISIONING", "domainStatus": status }),
                );
                obj.insert("subjectAlternativeNames".into(), json!(domains));
            } else {
                for k in ["certificate", "privateKey"] {
                    if !obj.contains_key(k) {
                        return Err(ApiError::required(format!("Required field 'resource.{k}' not specified")));
                    }
                }
                // The private key is write-only: never returned.
                obj.remove("privateKey");
            }
        }
        "globalForwardingRules" => {
            if !obj.contains_key("target") {
                return Err(ApiError::required("Required field 'resource.target' not specified"));
            }
            if let Some(range) = obj.get("portRange").and_then(Value::as_str)
                && !range.contains('-')
            {
                // The real API stores a single port as a range.
                let normalized = format!("{range}-{range}");
                obj.insert("portRange".into(), Value::String(normalized));
            }
            // An address URL is resolved to its IP literal, as Compute Engine does.
            let ip = match obj.get("IPAddress").and_then(Value::as_str) {
                Some(s) => match parse_reference(s, project) {
                    Some((p, c, n)) if c.resource == "globalAddresses" => store.projects[&p].items[c.resource][&n]
                        .get("address")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    _ => s.to_string(),
                },
                None => ephemeral_ip(serial),
            };
            obj.insert("IPAddress".into(), Value::String(ip));
            default(obj, "IPProtocol", json!("TCP"));
            default(obj, "loadBalancingScheme", json!("EXTERNAL"));
            default(obj, "networkTier", json!("PREMIUM"));
            default(obj, "labelFingerprint", json!("42WmSpB8rSM="));
        }
        "globalAddresses" => {
            default(obj, "addressType", json!("EXTERNAL"));
            default(obj, "ipVersion", json!("IPV4"));
            default(obj, "networkTier", json!("PREMIUM"));
            default(obj, "labelFingerprint", json!("42WmSpB8rSM="));
            obj.entry("address".to_string()).or_insert_with(|| Value::String(ephemeral_ip(serial)));
            obj.insert("status".into(), json!("RESERVED"));
        }
        _ => {}
    }
    Ok(())
}

fn ensure(condition: bool, error: impl FnOnce() -> ApiError) -> Result<(), ApiError> {
    if condition { Ok(()) } else { Err(error()) }
}

fn default(obj: &mut Map<String, Value>, key: &str, value: Value) {
    obj.entry(key.to_string()).or_insert(value);
}

fn ephemeral_ip(serial: u64) -> String {
    format!("34.120.{}.{}", (serial / 250) % 250, serial % 250 + 1)
}

fn op_view(op: &Operation) -> Value {
    let mut v = op.body.clone();
    if Instant::now() >= op.done_at {
        v["status"] = json!("DONE");
        v["progress"] = json!(100);
        v["endTime"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false));
    }
    v
}

async fn operations(server: &Server, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let project = ctx.project()?.to_string();
    let method = ctx.matched.spec.method.as_str();
    if method == "list" {
        let items: Vec<Value> = lock(server)
            .projects
            .get(&project)
            .map(|p| p.operations.values().map(op_view).collect())
            .unwrap_or_default();
        let id = format!("projects/{project}/global/operations");
        return page(ctx, items, "compute#operationList", &id, &format!("{}/{id}", ctx.base));
    }
    let name = ctx.var("operation")?.to_string();
    let missing =
        || ApiError::not_found(format!("The resource 'projects/{project}/global/operations/{name}' was not found"));
    let done_at = lock(server)
        .projects
        .get(&project)
        .and_then(|p| p.operations.get(&name))
        .map(|o| o.done_at)
        .ok_or_else(missing)?;
    match method {
        "get" => {}
        "wait" => {
            let until = done_at.min(Instant::now() + WAIT_LIMIT);
            tokio::time::sleep_until(until.into()).await;
        }
        "delete" => {
            lock(server).projects.get_mut(&project).and_then(|p| p.operations.remove(&name)).ok_or_else(missing)?;
            return Ok(Value::Object(Map::new()));
        }
        other => {
            return Err(ApiError::not_implemented(format!(
                "globalOperations.{other} is not implemented by gcp-test-server"
            )));
        }
    }
    lock(server).projects.get(&project).and_then(|p| p.operations.get(&name)).map(op_view).ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(&[0, 0, 0, 0, 0, 0, 0, 0]), "AAAAAAAAAAA=");
    }

    #[test]
    fn references_parse_from_full_and_partial_urls() {
        let full =
            parse_reference("https://compute.googleapis.com/compute/v1/projects/p1/global/backendBuckets/b", "x")
                .unwrap();
        assert_eq!((full.0.as_str(), full.1.resource, full.2.as_str()), ("p1", "backendBuckets", "b"));
        let partial = parse_reference("global/urlMaps/m", "p2").unwrap();
        assert_eq!((partial.0.as_str(), partial.1.resource), ("p2", "urlMaps"));
        assert!(parse_reference("projects/p/global/networks/default", "p").is_none());
        assert!(parse_reference("www.example.com", "p").is_none());
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut t, &json!({"a": null, "b": {"c": 5}}));
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}}));
    }
}
