//! strata's Google Cloud provider: the global external HTTPS load-balancer building blocks of
//! Compute Engine v1 (backend buckets and services, URL maps, HTTPS proxies, managed
//! certificates, global forwarding rules and addresses), over its REST API.
//!
//! Attributes are the API's own resource bodies (camelCase, as in the discovery document), so
//! what a spec says is what Compute Engine receives. The provider owns `description`: it holds
//! the ownership mark (`strata:project=…;env=…;address=…`). Every mutation carries a fresh
//! `requestId` and is followed until its Operation is DONE; updates send the current
//! `fingerprint` and re-read once on 412.

mod auth;
mod client;
mod error;
mod plugin;

use std::collections::BTreeMap;

use async_trait::async_trait;
use reqwest::Method;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use strata_sdk::{
    Address, Applied, DeleteRequest, KindSchema, Observed, Ownership, PathPattern, Provider, ProviderError,
    ReadRequest, ResourceChange,
};

pub use auth::{CREDENTIALS_ENV, DEFAULT_TOKEN_URI, METADATA_HOST_ENV, TOKEN_ENV, TokenSource};
pub use client::{Compute, DEFAULT_COMPUTE_URL};
pub use error::GcpError;
pub use plugin::GcpPlugin;

/// The env var that overrides the Compute API base URL (tests point it at gcp-test-server).
pub const COMPUTE_URL_ENV: &str = "STRATA_GCP_COMPUTE_URL";

/// `providers.gcp` settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GcpConfig {
    /// The Google Cloud project id that holds the resources.
    pub project: String,
    /// The Compute Engine v1 base URL (default `https://compute.googleapis.com/compute/v1`;
    /// the env var `STRATA_GCP_COMPUTE_URL` overrides both).
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// A credentials file (service account key or gcloud user credentials), relative to the
    /// working directory. Default: Application Default Credentials (`GOOGLE_OAUTH_ACCESS_TOKEN`,
    /// `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's application default login, the metadata
    /// server).
    #[serde(default)]
    pub credentials_file: Option<String>,
    /// The provider's pace: API requests per second (default 10, burst 20), below the project's
    /// quota so that strata is not the client that gets throttled.
    #[serde(default)]
    pub requests_per_second: Option<f64>,
}

impl GcpConfig {
    pub fn base_url(&self) -> String {
        std::env::var(COMPUTE_URL_ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.api_base_url.clone())
            .unwrap_or_else(|| DEFAULT_COMPUTE_URL.to_string())
    }
}

/// A kind and the global collection that stores it.
#[derive(Debug, Clone, Copy)]
struct KindInfo {
    kind: &'static str,
    collection: &'static str,
    /// Whether the API has a PATCH for it (otherwise every change replaces the object).
    patchable: bool,
}

const KINDS: &[KindInfo] = &[
    KindInfo { kind: "backend_bucket", collection: "backendBuckets", patchable: true },
    KindInfo { kind: "backend_service", collection: "backendServices", patchable: true },
    KindInfo { kind: "url_map", collection: "urlMaps", patchable: true },
    KindInfo { kind: "target_https_proxy", collection: "targetHttpsProxies", patchable: true },
    KindInfo { kind: "target_http_proxy", collection: "targetHttpProxies", patchable: true },
    KindInfo { kind: "managed_ssl_certificate", collection: "sslCertificates", patchable: false },
    KindInfo { kind: "global_forwarding_rule", collection: "forwardingRules", patchable: false },
    KindInfo { kind: "global_address", collection: "addresses", patchable: false },
];

fn kind_info(kind: &str) -> Result<KindInfo, ProviderError> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.kind == kind)
        .ok_or_else(|| ProviderError::invalid(format!("the gcp provider has no kind `{kind}`")))
}

/// Fields the server sets; never part of the desired document.
const SERVER_FIELDS: &[&str] = &[
    "id",
    "kind",
    "selfLink",
    "creationTimestamp",
    "fingerprint",
    "labelFingerprint",
    "status",
    "users",
    "description",
];

/// The ownership marks written into `description`.
#[derive(Debug, Clone)]
pub struct OwnerMarks {
    project: String,
    env: String,
}

impl OwnerMarks {
    pub fn new(project: String, env: String) -> Self {
        OwnerMarks { project, env }
    }
    fn description(&self, address: &Address) -> String {
        format!("strata:project={};env={};address={}", self.project, self.env, address.as_str())
    }
    fn ownership(&self, description: Option<&str>) -> Ownership {
        let prefix = format!("strata:project={};env={};", self.project, self.env);
        match description {
            Some(d) if d.starts_with(&prefix) => Ownership::Ours,
            Some(d) => {
                Ownership::Foreign { detail: format!("its description is {d:?}, not a strata mark of this project") }
            }
            None => Ownership::Foreign { detail: "it has no strata ownership mark in its description".into() },
        }
    }
}

#[derive(Debug)]
pub struct GcpProvider {
    compute: Compute,
    marks: OwnerMarks,
}

impl GcpProvider {
    pub fn new(config: &GcpConfig, marks: OwnerMarks, token: TokenSource) -> Self {
        let compute = Compute::new(config.base_url(), config.project.clone(), token);
        let compute = match config.requests_per_second {
            Some(rate) if rate > 0.0 => compute.with_rate(rate),
            _ => compute,
        };
        GcpProvider { compute, marks }
    }

    fn remote_id(&self, info: KindInfo, name: &str) -> String {
        format!("projects/{}/global/{}/{name}", self.compute.project, info.collection)
    }

    fn body(&self, change: &ResourceChange) -> Result<Value, ProviderError> {
        let mut body = change.attrs.clone();
        let obj = body.as_object_mut().ok_or_else(|| ProviderError::invalid("attributes must be a map"))?;
        obj.insert("description".into(), Value::String(self.marks.description(&change.address)));
        if change.kind == "managed_ssl_certificate" {
            obj.insert("type".into(), json!("MANAGED"));
        }
        Ok(body)
    }

    async fn get(&self, info: KindInfo, name: &str) -> Result<Option<Value>, GcpError> {
        match self.compute.call(Method::GET, &format!("global/{}/{name}", info.collection), &[], None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn mutate(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, GcpError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let op = self.compute.call(method, path, &[("requestId", request_id)], body).await?;
        self.compute.wait(op).await
    }

    async fn applied(&self, info: KindInfo, remote: &Value, desired: &Value) -> Result<Applied, GcpError> {
        let name = remote["name"].as_str().unwrap_or_default();
        let mut outputs = outputs(remote);
        if let Some(domain) = self.domain_of(remote).await? {
            outputs["domain_name"] = domain;
        }
        Ok(Applied { remote_id: self.remote_id(info, name), attrs: project(remote, desired), outputs })
    }

    /// [`rule_domain`] for one forwarding rule, by GETting its proxy and certificate.
    async fn domain_of(&self, rule: &Value) -> Result<Option<Value>, GcpError> {
        let Some(target) = rule.get("target").and_then(Value::as_str).filter(|t| t.contains("/targetHttpsProxies/"))
        else {
            return Ok(None);
        };
        let proxies_info = kind_info("target_https_proxy").expect("a known kind");
        let Some(proxy) = self.get(proxies_info, last_segment(target)).await? else { return Ok(None) };
        let cert = proxy.pointer("/sslCertificates/0").and_then(Value::as_str).map(last_segment).map(str::to_string);
        let certificates_info = kind_info("managed_ssl_certificate").expect("a known kind");
        let certificate = match cert {
            Some(c) => self.get(certificates_info, &c).await?,
            None => None,
        };
        let proxies = BTreeMap::from([(last_segment(target).to_string(), proxy)]);
        let certificates: BTreeMap<String, Value> =
            certificate.into_iter().filter_map(|c| Some((c["name"].as_str()?.to_string(), c))).collect();
        Ok(rule_domain(rule, &proxies, &certificates))
    }

    async fn patch(&self, info: KindInfo, name: &str, body: &Value) -> Result<(), GcpError> {
        let path = format!("global/{}/{name}", info.collection);
        for attempt in 0..2 {
            let current = self.get(info, name).await?.ok_or_else(|| GcpError::Api {
                status: 404,
                reason: "notFound".into(),
                message: format!("{} {name} disappeared during the update", info.kind),
                retry_after: None,
            })?;
            let mut body = body.clone();
            // Only kinds whose schema has a fingerprint take one (backend buckets do not).
            if let Some(fingerprint) = current.get("fingerprint") {
                body["fingerprint"] = fingerprint.clone();
            }
            match self.mutate(Method::PATCH, &path, Some(&body)).await {
                // Someone changed it between our read and our write: re-read once.
                Err(e) if e.status() == Some(412) && attempt == 0 => continue,
                other => return other.map(|_| ()),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }
}

fn name_of(attrs: &Value) -> Option<&str> {
    attrs.get("name").and_then(Value::as_str)
}

/// What the engine may reference besides the attributes: the API's ids and links, `ip` (a
/// forwarding rule's or an address's IP), a managed certificate's `status`, and a forwarding
/// rule's `domain_name` (see [`rule_domain`]), filled in by the caller.
fn outputs(remote: &Value) -> Value {
    let mut out = Map::new();
    for k in ["selfLink", "id", "address", "IPAddress"] {
        if let Some(v) = remote.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    if let Some(ip) = remote.get("IPAddress").or_else(|| remote.get("address")) {
        out.insert("ip".into(), ip.clone());
    }
    if let Some(status) = remote.pointer("/managed/status") {
        out.insert("status".into(), status.clone());
    }
    Value::Object(out)
}

/// The last segment of a resource URL (`.../targetHttpsProxies/web` → `web`).
fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// A forwarding rule's host name: the first domain of the managed certificate of the HTTPS
/// proxy it forwards to, looked up in `proxies` and `certificates` (by name). `None` for a
/// rule that does not forward to an HTTPS proxy with a managed certificate.
fn rule_domain(
    rule: &Value,
    proxies: &BTreeMap<String, Value>,
    certificates: &BTreeMap<String, Value>,
) -> Option<Value> {
    let target = rule.get("target")?.as_str()?;
    if !target.contains("/targetHttpsProxies/") {
        return None;
    }
    let proxy = proxies.get(last_segment(target))?;
    let cert = proxy.get("sslCertificates")?.as_array()?.first()?.as_str()?;
    certificates.get(last_segment(cert))?.pointer("/managed/domains/0").cloned()
}

/// The remote object seen through the desired document: only the keys the spec sets, with the
/// API's normalisations (full URLs for references, `443-443` for `443`, an address reference
/// resolved to its IP) mapped back to the spelling the spec used. Without a desired document,
/// everything but server-set fields.
fn project(remote: &Value, desired: &Value) -> Value {
    match (remote, desired) {
        (Value::Object(r), Value::Object(d)) => {
            let mut out = Map::new();
            for (k, dv) in d {
                if let Some(rv) = r.get(k) {
                    out.insert(k.clone(), project(rv, dv));
                }
            }
            Value::Object(out)
        }
        (Value::Object(r), Value::Null) => Value::Object(
            r.iter()
                .filter(|(k, _)| !SERVER_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        (Value::Array(r), Value::Array(d)) if r.len() == d.len() => {
            Value::Array(r.iter().zip(d).map(|(rv, dv)| project(rv, dv)).collect())
        }
        (Value::String(r), Value::String(d)) if same_string(r, d) => Value::String(d.clone()),
        _ => remote.clone(),
    }
}

fn same_string(remote: &str, desired: &str) -> bool {
    if remote == desired {
        return true;
    }
    // References: the API may answer a full URL for a partial one.
    if desired.contains('/') && remote.ends_with(&format!("/{}", desired.trim_start_matches('/'))) {
        return true;
    }
    // A single port is stored as a range.
    if remote == format!("{desired}-{desired}") {
        return true;
    }
    // A global address reference is stored as the address's IP literal.
    desired.contains("/addresses/") && remote.parse::<std::net::IpAddr>().is_ok()
}

#[async_trait]
impl Provider for GcpProvider {
    fn name(&self) -> &str {
        "gcp"
    }

    fn schema(&self, kind: &str) -> KindSchema {
        let Ok(info) = kind_info(kind) else { return KindSchema::default() };
        let force_new = if info.patchable { vec![PathPattern::new("/name")] } else { vec![PathPattern::new("")] };
        KindSchema { force_new, asynchronous: true, ..KindSchema::default() }
    }

    fn validate(&self, kind: &str, attrs: &Value) -> Vec<(Vec<String>, String)> {
        let mut problems = Vec::new();
        if kind_info(kind).is_err() {
            let kinds: Vec<&str> = KINDS.iter().map(|k| k.kind).collect();
            problems.push((Vec::new(), format!("unknown gcp kind `{kind}`; the kinds are {}", kinds.join(", "))));
            return problems;
        }
        match attrs.get("name") {
            Some(Value::String(n)) if valid_name(n) => {}
            Some(Value::String(n)) => problems.push((
                vec!["name".into()],
                format!("`{n}` is not a Compute Engine name: 1-63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen"),
            )),
            _ => problems.push((vec!["name".into()], "a gcp resource needs a `name` string".into())),
        }
        if attrs.get("description").is_some() {
            problems.push((
                vec!["description".into()],
                "`description` is managed by strata (it holds the ownership mark); remove it".into(),
            ));
        }
        problems
    }

    fn outputs(&self, kind: &str) -> Vec<String> {
        let mut out = vec!["selfLink".to_string(), "id".into()];
        match kind {
            "global_forwarding_rule" => out.extend(["IPAddress".into(), "ip".into(), "domain_name".into()]),
            "global_address" => out.extend(["address".into(), "ip".into()]),
            "managed_ssl_certificate" => out.push("status".into()),
            _ => {}
        }
        out
    }

    async fn read(&self, requests: &[ReadRequest<'_>]) -> Vec<Result<Option<Observed>, ProviderError>> {
        // One list per collection in the batch, not one GET per object. A forwarding rule's
        // `domain_name` comes from its proxy's certificate: those collections are listed too.
        let mut collections: Vec<&'static str> =
            requests.iter().filter_map(|r| kind_info(&r.kind).ok()).map(|i| i.collection).collect();
        if collections.contains(&"forwardingRules") {
            collections.extend(["targetHttpsProxies", "sslCertificates"]);
        }
        let mut lists: BTreeMap<&'static str, Result<BTreeMap<String, Value>, ProviderError>> = BTreeMap::new();
        for collection in collections {
            if !lists.contains_key(collection) {
                let listed = self.compute.list(collection).await.map_err(ProviderError::from).map(|items| {
                    items.into_iter().filter_map(|i| Some((i["name"].as_str()?.to_string(), i))).collect()
                });
                lists.insert(collection, listed);
            }
        }
        let empty = BTreeMap::new();
        let listed_or_empty = |c: &str| lists.get(c).and_then(|l| l.as_ref().ok()).unwrap_or(&empty);
        let (proxies, certificates) = (listed_or_empty("targetHttpsProxies"), listed_or_empty("sslCertificates"));
        requests
            .iter()
            .map(|r| {
                let info = kind_info(&r.kind)?;
                let name = match (&r.remote_id, r.attrs) {
                    (Some(id), _) => id.rsplit('/').next().unwrap_or_default().to_string(),
                    (None, Some(attrs)) => match name_of(attrs) {
                        Some(n) => n.to_string(),
                        None => return Ok(None),
                    },
                    (None, None) => return Ok(None),
                };
                let listed = lists[info.collection].as_ref().map_err(Clone::clone)?;
                Ok(listed.get(&name).map(|remote| {
                    let mut outputs = outputs(remote);
                    if let Some(domain) = rule_domain(remote, proxies, certificates) {
                        outputs["domain_name"] = domain;
                    }
                    Observed {
                        remote_id: self.remote_id(info, &name),
                        attrs: project(remote, r.attrs.unwrap_or(&Value::Null)),
                        outputs,
                        ownership: self.marks.ownership(remote["description"].as_str()),
                    }
                }))
            })
            .collect()
    }

    async fn create(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        let info = kind_info(&change.kind)?;
        let name =
            name_of(&change.attrs).ok_or_else(|| ProviderError::invalid("a gcp resource needs a `name`"))?.to_string();
        let body = self.body(change)?;
        match self.mutate(Method::POST, &format!("global/{}", info.collection), Some(&body)).await {
            Ok(_) => {}
            // Created before (a crash between create and the state write): adopt ours, refuse others.
            Err(e) if e.status() == Some(409) => {
                let current = self.get(info, &name).await?.ok_or_else(|| ProviderError::from(e))?;
                if let Ownership::Foreign { detail } = self.marks.ownership(current["description"].as_str()) {
                    return Err(ProviderError::conflict(format!(
                        "{} {name} already exists and is not ours: {detail}",
                        info.kind
                    )));
                }
                if project(&current, &change.attrs) != change.attrs {
                    return self.update(change).await;
                }
            }
            Err(e) => return Err(e.into()),
        }
        let remote = self
            .get(info, &name)
            .await?
            .ok_or_else(|| ProviderError::other(format!("{} {name} is missing right after its creation", info.kind)))?;
        Ok(self.applied(info, &remote, &change.attrs).await?)
    }

    async fn update(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        let info = kind_info(&change.kind)?;
        let name =
            name_of(&change.attrs).ok_or_else(|| ProviderError::invalid("a gcp resource needs a `name`"))?.to_string();
        if !info.patchable {
            // An "update" without changes records an object an interrupted run created (the
            // engine adopts it by its marks): nothing to send. A real change is a replacement,
            // which the plan makes; reaching here with one is a bug worth saying clearly.
            if let Some(current) = self.get(info, &name).await?
                && project(&current, &change.attrs) == change.attrs
            {
                return Ok(self.applied(info, &current, &change.attrs).await?);
            }
            return Err(ProviderError::invalid(format!("{} cannot be changed in place; it is replaced", info.kind)));
        }
        let mut body = self.body(change)?;
        // PATCH merges: attributes the spec dropped since the last apply are cleared explicitly.
        if let (Some(prior), Some(obj)) =
            (change.prior.as_ref().and_then(|p| p.attrs.as_object()), body.as_object_mut())
        {
            for k in prior.keys() {
                obj.entry(k.clone()).or_insert(Value::Null);
            }
        }
        self.patch(info, &name, &body).await?;
        let remote = self
            .get(info, &name)
            .await?
            .ok_or_else(|| ProviderError::not_found(format!("{} {name} is gone after its update", info.kind)))?;
        Ok(self.applied(info, &remote, &change.attrs).await?)
    }

    async fn delete(&self, request: &DeleteRequest) -> Result<(), ProviderError> {
        let info = kind_info(&request.kind)?;
        let name = request.remote_id.rsplit('/').next().unwrap_or_default();
        match self.mutate(Method::DELETE, &format!("global/{}/{name}", info.collection), None).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn adopt(&self, resource: &strata_sdk::Resource) -> Result<Applied, ProviderError> {
        let info = kind_info(&resource.kind)?;
        let name = name_of(&resource.attrs).ok_or_else(|| ProviderError::invalid("a gcp resource needs a `name`"))?;
        let remote = self
            .get(info, name)
            .await?
            .ok_or_else(|| ProviderError::not_found(format!("{} {name} does not exist", info.kind)))?;
        Ok(self.applied(info, &remote, &resource.attrs).await?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_maps_api_normalisations_back_to_the_spec_spelling() {
        let remote = json!({"name": "r", "portRange": "443-443", "target": "https://x/compute/v1/projects/p/global/targetHttpsProxies/t",
                            "IPAddress": "34.1.2.3", "id": "9", "managed": {"domains": ["a"], "status": "ACTIVE"}});
        let desired = json!({"name": "r", "portRange": "443", "target": "global/targetHttpsProxies/t",
                             "IPAddress": "global/addresses/a", "managed": {"domains": ["a"]}});
        assert_eq!(project(&remote, &desired), desired);
        assert_eq!(
            project(&json!({"portRange": "80-80"}), &json!({"portRange": "443"})),
            json!({"portRange": "80-80"})
        );
    }

    #[test]
    fn ownership_comes_from_the_description_mark() {
        let marks = OwnerMarks::new("p".into(), "e".into());
        let a = Address::parse("resources.x").unwrap();
        assert_eq!(marks.ownership(Some(&marks.description(&a))), Ownership::Ours);
        assert!(matches!(marks.ownership(Some("hand made")), Ownership::Foreign { .. }));
        assert!(matches!(
            OwnerMarks::new("q".into(), "e".into()).ownership(Some(&marks.description(&a))),
            Ownership::Foreign { .. }
        ));
    }

    #[test]
    fn token_source_debug_never_shows_the_token() {
        assert!(!format!("{:?}", TokenSource::Static("sekrit".into())).contains("sekrit"));
    }
}
