//! The Cloudflare provider of strata, over API v4 (`https://api.cloudflare.com/client/v4`, or
//! `api_base_url` / `CLOUDFLARE_API_BASE_URL`), authenticated by `CLOUDFLARE_API_TOKEN`.
//!
//! Kinds (attribute shapes in README.md):
//! - `dns_record`: one DNS record of a zone; refresh lists each zone once;
//! - `cache_rules`: strata's rules in a zone's `http_request_cache_settings` phase entrypoint,
//!   merged with the rules made elsewhere (kept as they are);
//! - `worker`: a Worker module script (multipart upload), its content hash in the attributes;
//! - `worker_route`: a Workers route of a zone;
//! - `load_balancer` (zone), `pool` and `monitor` (account).
//!
//! Ownership marks: DNS records carry `strata:<project>/<env>/<address>` in `comment`, load
//! balancing objects in `description`, strata's cache rules have refs starting with
//! `strata:<project>/<env>/<address>/`. Workers and routes cannot carry marks: one recorded
//! in state is ours, one found without a state record is ours only when it equals the desired
//! one (the same code, the same script).

mod cache_rules;
mod client;
mod config;
mod dns;
mod error;
mod objects;
mod plugin;
mod route;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use strata_sdk::{
    Applied, DeleteRequest, KindSchema, Observed, PathPattern, Provider, ProviderError, ReadRequest, ResourceChange,
};

pub use client::Token;
pub use config::{API_BASE_URL_ENV, API_TOKEN_ENV, CloudflareConfig, DEFAULT_API_BASE_URL};
pub use error::CloudflareError;
pub use plugin::CloudflarePlugin;

use client::Client;
use error::Result;

pub const KIND_DNS_RECORD: &str = "dns_record";
pub const KIND_CACHE_RULES: &str = "cache_rules";
pub const KIND_WORKER: &str = "worker";
pub const KIND_WORKER_ROUTE: &str = "worker_route";
pub const KIND_LOAD_BALANCER: &str = "load_balancer";
pub const KIND_POOL: &str = "pool";
pub const KIND_MONITOR: &str = "monitor";
pub const KINDS: &[&str] =
    &[KIND_DNS_RECORD, KIND_CACHE_RULES, KIND_WORKER, KIND_WORKER_ROUTE, KIND_LOAD_BALANCER, KIND_POOL, KIND_MONITOR];

/// The Cloudflare provider. Construction does no I/O; the HTTP client is built on first use.
#[derive(Clone)]
pub struct CloudflareProvider {
    inner: Arc<Inner>,
}

struct Inner {
    config: CloudflareConfig,
    project: String,
    env: String,
    token: Option<Token>,
    base_url: String,
    client: OnceLock<Client>,
    /// Zone name → id, looked up once per provider.
    zones: tokio::sync::Mutex<HashMap<String, String>>,
    /// One lock per zone for read-modify-write of a phase entrypoint (several `cache_rules`
    /// resources of one zone must not overwrite each other's PUT).
    zone_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for CloudflareProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareProvider")
            .field("config", &self.inner.config)
            .field("base_url", &self.inner.base_url)
            .field("token", &self.inner.token)
            .finish()
    }
}

impl CloudflareProvider {
    /// A provider for `config`, marking what it creates with `project` and `env`. The token
    /// and base URL come from the environment (`CLOUDFLARE_API_TOKEN`,
    /// `CLOUDFLARE_API_BASE_URL`) unless set with [`CloudflareProvider::with_token`].
    pub fn new(config: CloudflareConfig, project: &str, env: &str) -> Self {
        let getenv = |k: &str| std::env::var(k).ok();
        let token = getenv(API_TOKEN_ENV).filter(|t| !t.is_empty()).map(Token::new);
        let base_url = config.base_url(&getenv);
        CloudflareProvider {
            inner: Arc::new(Inner {
                config,
                project: project.to_string(),
                env: env.to_string(),
                token,
                base_url,
                client: OnceLock::new(),
                zones: Default::default(),
                zone_locks: Default::default(),
            }),
        }
    }

    /// Uses this token and base URL instead of the environment's (tests, embedders).
    pub fn with_endpoint(self, base_url: &str, token: Token) -> Self {
        let inner = &self.inner;
        let mut config = inner.config.clone();
        config.api_base_url = Some(base_url.to_string());
        CloudflareProvider {
            inner: Arc::new(Inner {
                config,
                project: inner.project.clone(),
                env: inner.env.clone(),
                token: Some(token),
                base_url: base_url.trim_end_matches('/').to_string(),
                client: OnceLock::new(),
                zones: Default::default(),
                zone_locks: Default::default(),
            }),
        }
    }

    pub fn config(&self) -> &CloudflareConfig {
        &self.inner.config
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// HTTP requests sent so far by this provider.
    pub fn requests_sent(&self) -> u64 {
        self.inner.client.get().map_or(0, Client::requests_sent)
    }

    pub(crate) fn client(&self) -> &Client {
        self.inner.client.get_or_init(|| {
            let c = &self.inner.config;
            Client::new(
                self.inner.base_url.clone(),
                self.inner.token.clone(),
                c.requests_per_second,
                c.request_burst,
                Duration::from_secs_f64(c.timeout_secs),
            )
        })
    }

    /// The ownership mark of an address: `strata:<project>/<env>/<address>`.
    pub(crate) fn mark(&self, address: &str) -> String {
        format!("strata:{}/{}/{address}", self.inner.project, self.inner.env)
    }

    pub(crate) fn zone_name(&self, attrs_zone: Option<&str>) -> Result<String> {
        attrs_zone
            .or(self.inner.config.zone.as_deref())
            .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
            .ok_or(CloudflareError::MissingZone)
    }

    pub(crate) fn account_id(&self, attrs_account: Option<&str>) -> Result<String> {
        attrs_account
            .or(self.inner.config.account_id.as_deref())
            .map(str::to_string)
            .ok_or(CloudflareError::MissingAccount)
    }

    /// The id of a zone by name (`GET /zones?name=`), once per provider.
    pub(crate) async fn zone_id(&self, name: &str) -> Result<String> {
        let mut zones = self.inner.zones.lock().await;
        if let Some(id) = zones.get(name) {
            return Ok(id.clone());
        }
        let found = self.client().get("/zones", &[("name", name.to_string())]).await?;
        let id = found
            .as_array()
            .and_then(|zs| zs.iter().find(|z| z["name"] == name))
            .and_then(|z| z["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| CloudflareError::UnknownZone(name.to_string()))?;
        zones.insert(name.to_string(), id.clone());
        Ok(id)
    }

    pub(crate) fn zone_lock(&self, zone_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.zone_locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(zone_id.to_string()).or_default().clone()
    }

    fn check_kind(kind: &str) -> Result<()> {
        if KINDS.contains(&kind) { Ok(()) } else { Err(CloudflareError::UnknownKind(kind.to_string())) }
    }

    /// Purges a zone's cache after a change: `/*` purges everything, a path ending in `*`
    /// purges the prefix, any other path the one URL of `hostname`.
    pub(crate) async fn purge(&self, zone_id: &str, hostname: Option<&str>, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let body = if paths.iter().any(|p| p == "/*" || p == "*") || hostname.is_none() {
            serde_json::json!({"purge_everything": true})
        } else {
            let host = hostname.unwrap_or_default();
            let prefixes: Vec<String> =
                paths.iter().filter_map(|p| p.strip_suffix('*')).map(|p| format!("{host}{p}")).collect();
            let files: Vec<String> =
                paths.iter().filter(|p| !p.ends_with('*')).map(|p| format!("https://{host}{p}")).collect();
            if prefixes.is_empty() {
                serde_json::json!({ "files": files })
            } else if files.is_empty() {
                serde_json::json!({ "prefixes": prefixes })
            } else {
                // One request cannot mix kinds: purge the files first, then the prefixes.
                self.client()
                    .send(
                        reqwest::Method::POST,
                        &format!("/zones/{zone_id}/purge_cache"),
                        &[],
                        client::Body::Json(serde_json::json!({ "files": files })),
                    )
                    .await?;
                serde_json::json!({ "prefixes": prefixes })
            }
        };
        self.client()
            .send(reqwest::Method::POST, &format!("/zones/{zone_id}/purge_cache"), &[], client::Body::Json(body))
            .await?;
        Ok(())
    }
}

fn pattern(p: &str) -> PathPattern {
    PathPattern::new(p)
}

/// Parses attrs into a kind's type, keeping the path of the first bad value.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(kind: &str, attrs: &Value) -> Result<T> {
    serde_path_to_error_lite(attrs).map_err(|m| CloudflareError::invalid(kind, m))
}

fn serde_path_to_error_lite<T: serde::de::DeserializeOwned>(attrs: &Value) -> std::result::Result<T, String> {
    match strata_sdk::decode_settings::<T>(attrs) {
        Ok(t) => Ok(t),
        Err(e) => Err(e.to_string()),
    }
}

#[async_trait]
impl Provider for CloudflareProvider {
    fn name(&self) -> &str {
        "cloudflare"
    }

    fn schema(&self, kind: &str) -> KindSchema {
        match kind {
            KIND_DNS_RECORD | KIND_CACHE_RULES | KIND_WORKER_ROUTE | KIND_LOAD_BALANCER => {
                KindSchema { force_new: vec![pattern("/zone")], ..KindSchema::default() }
            }
            KIND_WORKER => KindSchema {
                force_new: vec![pattern("/name"), pattern("/account_id")],
                // Where the module file is on this machine: the content hash is what counts.
                ignore_changes: vec![pattern("/module/source")],
                ..KindSchema::default()
            },
            KIND_POOL => KindSchema { force_new: vec![pattern("/account_id")], ..KindSchema::default() },
            KIND_MONITOR => KindSchema {
                force_new: vec![pattern("/account_id")],
                // Health check request headers often carry credentials (`Authorization`).
                sensitive: vec![pattern("/header")],
                ..KindSchema::default()
            },
            _ => KindSchema::default(),
        }
    }

    fn validate(&self, kind: &str, attrs: &Value) -> Vec<(Vec<String>, String)> {
        match kind {
            KIND_DNS_RECORD => dns::validate(attrs),
            KIND_CACHE_RULES => cache_rules::validate(attrs),
            KIND_WORKER => worker::validate(attrs),
            KIND_WORKER_ROUTE => route::validate(attrs),
            KIND_LOAD_BALANCER | KIND_POOL | KIND_MONITOR => objects::validate(kind, attrs),
            other => vec![(vec![], CloudflareError::UnknownKind(other.to_string()).to_string())],
        }
    }

    fn outputs(&self, kind: &str) -> Vec<String> {
        let names: &[&str] = match kind {
            KIND_DNS_RECORD => &["id", "hostname", "domain_name", "zone_id"],
            KIND_CACHE_RULES => &["ruleset_id", "zone_id"],
            KIND_WORKER => &["id", "etag"],
            KIND_WORKER_ROUTE => &["id", "zone_id"],
            KIND_LOAD_BALANCER => &["id", "hostname", "domain_name", "zone_id"],
            KIND_POOL | KIND_MONITOR => &["id"],
            _ => &[],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    async fn read(&self, requests: &[ReadRequest<'_>]) -> Vec<std::result::Result<Option<Observed>, ProviderError>> {
        let mut results: Vec<Option<std::result::Result<Option<Observed>, ProviderError>>> =
            (0..requests.len()).map(|_| None).collect();
        let mut by_kind: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        for (i, r) in requests.iter().enumerate() {
            match Self::check_kind(&r.kind) {
                Ok(()) => by_kind.entry(r.kind.as_str()).or_default().push(i),
                Err(e) => results[i] = Some(Err(e.into())),
            }
        }
        for (kind, idx) in by_kind {
            let reqs: Vec<&ReadRequest<'_>> = idx.iter().map(|&i| &requests[i]).collect();
            let out = match kind {
                KIND_DNS_RECORD => self.read_dns(&reqs).await,
                KIND_CACHE_RULES => self.read_cache_rules(&reqs).await,
                KIND_WORKER => self.read_workers(&reqs).await,
                KIND_WORKER_ROUTE => self.read_routes(&reqs).await,
                _ => self.read_objects(kind, &reqs).await,
            };
            for (i, r) in idx.into_iter().zip(out) {
                results[i] = Some(r.map_err(ProviderError::from));
            }
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(ProviderError::other("no result")))).collect()
    }

    async fn create(&self, change: &ResourceChange) -> std::result::Result<Applied, ProviderError> {
        Self::check_kind(&change.kind)?;
        let r = match change.kind.as_str() {
            KIND_DNS_RECORD => self.put_dns(change).await,
            KIND_CACHE_RULES => self.put_cache_rules(change).await,
            KIND_WORKER => self.put_worker(change).await,
            KIND_WORKER_ROUTE => self.put_route(change).await,
            kind => self.put_object(kind, change).await,
        };
        Ok(r?)
    }

    async fn update(&self, change: &ResourceChange) -> std::result::Result<Applied, ProviderError> {
        // Every kind's create finds the object it would create (marks, names) and updates it,
        // so an update is the same call: with a recorded remote id it goes straight to it.
        self.create(change).await
    }

    async fn delete(&self, request: &DeleteRequest) -> std::result::Result<(), ProviderError> {
        Self::check_kind(&request.kind)?;
        let r = match request.kind.as_str() {
            KIND_DNS_RECORD => self.delete_dns(request).await,
            KIND_CACHE_RULES => self.delete_cache_rules(request).await,
            KIND_WORKER => self.delete_worker(request).await,
            KIND_WORKER_ROUTE => self.delete_route(request).await,
            kind => self.delete_object(kind, request).await,
        };
        match r {
            Err(e) if e.is_not_found() => Ok(()),
            other => Ok(other?),
        }
    }
}

/// Splits `a/b` remote ids.
pub(crate) fn split_id<'a>(kind: &str, id: &'a str, expected: &'static str) -> Result<(&'a str, &'a str)> {
    match id.split_once('/') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a, b)),
        _ => Err(CloudflareError::InvalidRemoteId { kind: kind.to_string(), remote_id: id.to_string(), expected }),
    }
}

/// A record or hostname as Cloudflare stores it: `@` is the apex, relative names get the zone.
pub(crate) fn fqdn(name: &str, zone: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name == "@" {
        zone
    } else if name == zone || name.ends_with(&format!(".{zone}")) {
        name
    } else {
        format!("{name}.{zone}")
    }
}

/// Request indexes per key, and the requests whose key could not be found.
pub(crate) type Grouped<K> = (std::collections::BTreeMap<K, Vec<usize>>, Vec<(usize, CloudflareError)>);

/// Groups request indexes by a key (zone, account), keeping the first error per request.
pub(crate) fn group_by<K: Ord + Clone>(n: usize, key: impl Fn(usize) -> Result<K>) -> Grouped<K> {
    let mut groups: std::collections::BTreeMap<K, Vec<usize>> = Default::default();
    let mut errors = Vec::new();
    for i in 0..n {
        match key(i) {
            Ok(k) => groups.entry(k).or_default().push(i),
            Err(e) => errors.push((i, e)),
        }
    }
    (groups, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn construction_is_offline_and_kinds_are_declared() {
        let p = CloudflareProvider::new(CloudflareConfig::default(), "shop", "prod");
        assert_eq!(p.name(), "cloudflare");
        assert!(p.schema(KIND_MONITOR).is_sensitive(&["header".into(), "Authorization".into()]));
        assert!(p.schema(KIND_DNS_RECORD).forces_new(&["zone".into()]));
        assert!(p.outputs(KIND_DNS_RECORD).contains(&"hostname".to_string()));
        assert_eq!(p.validate("zone_setting", &json!({})).len(), 1);
        assert_eq!(p.mark("cdn.site"), "strata:shop/prod/cdn.site");
        assert_eq!(fqdn("@", "example.com"), "example.com");
        assert_eq!(fqdn("www", "example.com."), "www.example.com");
        assert_eq!(fqdn("WWW.example.com.", "example.com"), "www.example.com");
    }
}
