//! The Azure provider of strata: Azure Front Door Standard/Premium over Azure Resource Manager
//! (`Microsoft.Cdn`, api-version 2025-06-01), at `https://management.azure.com` (or `arm_url` /
//! `STRATA_AZURE_ARM_URL`), authenticated with client credentials or workload identity
//! federation against the Microsoft identity platform (see [`auth`]).
//!
//! Kinds (documents keep ARM's `properties`; see README.md): `profile`, `afd_endpoint`,
//! `origin_group`, `origin`, `route`, `rule_set`, `rule`, `custom_domain`, `security_policy`.
//!
//! - Creates and updates are PUTs by name (ARM's create-or-update): a retry or a rerun after a
//!   crash converges on the same object, never a duplicate.
//! - PUT/DELETE are long-running: `create`/`update` return after ARM accepted the PUT, with the
//!   `Azure-AsyncOperation` URL in the outputs; the kinds are `asynchronous`, so the engine
//!   calls [`Provider::wait`] without holding an apply slot, and `wait` polls at the
//!   `Retry-After` ARM gives. `delete` polls before returning (the engine orders deletes by
//!   dependencies, so a parent's delete must not start before its children are gone).
//! - Refresh GETs each profile once and lists each child collection once per parent.
//! - Ownership: profiles and endpoints carry strata's marks as tags (`strata-managed-by`,
//!   `strata-project`, `strata-env`, `strata-address`); the other kinds are ARM proxy resources
//!   without tags and belong to whoever owns their profile.

pub mod auth;
mod client;
mod config;
mod error;
pub mod kinds;
mod plugin;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use strata_sdk::{
    Address, Applied, DeleteRequest, KindSchema, Observed, Ownership, PathPattern, Provider, ProviderError,
    ReadRequest, Resource, ResourceChange,
};

pub use auth::Credential;
pub use client::API_VERSION;
pub use config::{ARM_URL_ENV, AUTHORITY_URL_ENV, AzureConfig, DEFAULT_ARM_URL, DEFAULT_AUTHORITY_URL, DEFAULT_SCOPE};
pub use error::AzureError;
pub use plugin::AzurePlugin;

use client::Client;
use error::Result;
use kinds::{Kind, Locator};

/// The output key holding a pending operation's URL between `create` and `wait`.
const PENDING_OPERATION: &str = "pending_operation";
const PENDING_RETRY_AFTER: &str = "pending_retry_after_secs";

/// The Azure provider. Construction does no I/O; the HTTP client is built on first use.
#[derive(Clone)]
pub struct AzureProvider {
    inner: Arc<Inner>,
}

struct Inner {
    config: AzureConfig,
    project: String,
    env: String,
    arm_url: String,
    authority_url: String,
    credential: Credential,
    client: OnceLock<Client>,
}

impl std::fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureProvider")
            .field("config", &self.inner.config)
            .field("arm_url", &self.inner.arm_url)
            .field("credential", &self.inner.credential)
            .finish()
    }
}

impl AzureProvider {
    /// A provider for `config`, marking what it creates with `project` and `env`; endpoints and
    /// credentials from the settings and the environment.
    pub fn new(config: AzureConfig, project: &str, env: &str) -> Self {
        let getenv = |k: &str| std::env::var(k).ok();
        let credential = Credential::from_env(&getenv);
        let arm_url = config.arm_url(&getenv);
        let authority_url = config.authority_url(&getenv);
        Self::build(config, project, env, arm_url, authority_url, credential)
    }

    /// Uses these endpoints and this credential instead of the environment's (tests, embedders).
    pub fn with_endpoint(config: AzureConfig, project: &str, env: &str, url: &str, credential: Credential) -> Self {
        let url = url.trim_end_matches('/').to_string();
        Self::build(config, project, env, url.clone(), url, credential)
    }

    fn build(
        config: AzureConfig,
        project: &str,
        env: &str,
        arm_url: String,
        authority_url: String,
        credential: Credential,
    ) -> Self {
        AzureProvider {
            inner: Arc::new(Inner {
                config,
                project: project.to_string(),
                env: env.to_string(),
                arm_url,
                authority_url,
                credential,
                client: OnceLock::new(),
            }),
        }
    }

    pub fn config(&self) -> &AzureConfig {
        &self.inner.config
    }

    /// HTTP requests sent to ARM so far (token requests excluded).
    pub fn requests_sent(&self) -> u64 {
        self.inner.client.get().map_or(0, Client::requests_sent)
    }

    fn client(&self) -> &Client {
        self.inner.client.get_or_init(|| {
            let c = &self.inner.config;
            let tokens = auth::TokenSource::new(
                self.inner.credential.clone(),
                self.inner.authority_url.clone(),
                DEFAULT_SCOPE.to_string(),
            );
            Client::new(
                self.inner.arm_url.clone(),
                tokens,
                (c.reads_per_second, c.request_burst),
                (c.writes_per_second, c.request_burst),
                Duration::from_secs_f64(c.timeout_secs),
            )
        })
    }

    /// `/subscriptions/S/resourceGroups/RG/providers/Microsoft.Cdn`.
    fn scope(&self) -> Result<String> {
        let c = &self.inner.config;
        let sub = c.subscription_id.as_deref().ok_or(AzureError::MissingSetting("subscription_id"))?;
        let rg = c.resource_group.as_deref().ok_or(AzureError::MissingSetting("resource_group"))?;
        Ok(format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Cdn"))
    }

    fn is_ours_profile(&self, profile: &Value) -> bool {
        let tags = &profile["tags"];
        tags[kinds::TAG_MANAGED_BY] == "strata"
            && tags[kinds::TAG_PROJECT] == self.inner.project.as_str()
            && tags[kinds::TAG_ENV] == self.inner.env.as_str()
    }

    fn ownership(&self, k: Kind, address: &Address, remote: &Value, profile: &Value) -> Ownership {
        if k.tracked {
            let tags = &remote["tags"];
            if self.is_ours_profile(remote) && tags[kinds::TAG_ADDRESS] == address.as_str() {
                return Ownership::Ours;
            }
            let owner = tags[kinds::TAG_ADDRESS].as_str().map_or_else(
                || "no strata marks".to_string(),
                |a| format!("marks of `{a}` in project `{}`", tags[kinds::TAG_PROJECT].as_str().unwrap_or("?")),
            );
            return Ownership::Foreign {
                detail: format!("the {} `{}` exists with {owner}", k.name, remote["name"].as_str().unwrap_or("?")),
            };
        }
        if self.is_ours_profile(profile) {
            Ownership::Ours
        } else {
            Ownership::Foreign {
                detail: format!(
                    "the {} `{}` is in the profile `{}`, which strata does not manage for this project and environment",
                    k.name,
                    remote["name"].as_str().unwrap_or("?"),
                    profile["name"].as_str().unwrap_or("?")
                ),
            }
        }
    }

    /// PUT by name; the answer's outputs carry the pending operation for `wait`.
    async fn put(&self, change: &ResourceChange) -> Result<Applied> {
        let k = kinds::kind(&change.kind)?;
        let loc = Locator::from_attrs(k, &change.attrs)?;
        let path = loc.path(&self.scope()?);
        let marks = kinds::marks(&self.inner.project, &self.inner.env, change.address.as_str());
        let body = kinds::body(k, &change.attrs, marks);
        let answer = self.client().send(Method::PUT, &path, body.as_ref()).await?;
        let mut outputs = kinds::outputs(k, &answer.body);
        if outputs["id"].is_null() {
            outputs["id"] = json!(path);
        }
        if let Some(op) =
            answer.operation.filter(|_| answer.status == 201 || answer.status == 202 || answer.status == 200)
        {
            outputs[PENDING_OPERATION] = json!(op);
            outputs[PENDING_RETRY_AFTER] = json!(answer.retry_after.map(|d| d.as_secs_f64()));
        }
        Ok(Applied { remote_id: path, attrs: change.attrs.clone(), outputs })
    }

    /// Reads one profile's requested objects: one GET of the profile, one list per collection.
    async fn read_profile(
        &self,
        scope: &str,
        profile: &str,
        requests: &[(usize, Kind, Locator)],
        addresses: &[Address],
    ) -> Vec<(usize, std::result::Result<Option<Observed>, ProviderError>)> {
        let profile_path = format!("{scope}/profiles/{profile}");
        let client = self.client();
        let remote_profile = match client.send(Method::GET, &profile_path, None).await {
            Ok(a) => Some(a.body),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                let pe = ProviderError::from(e);
                return requests.iter().map(|(i, _, _)| (*i, Err(pe.clone()))).collect();
            }
        };
        let Some(remote_profile) = remote_profile else {
            return requests.iter().map(|(i, _, _)| (*i, Ok(None))).collect();
        };
        let collections: BTreeSet<String> = requests
            .iter()
            .filter(|(_, k, _)| k.name != kinds::PROFILE.name)
            .map(|(_, _, l)| l.collection(scope))
            .collect();
        let concurrency = self.inner.config.read_concurrency as usize;
        let listed: HashMap<String, std::result::Result<Vec<Value>, ProviderError>> =
            futures::stream::iter(collections)
                .map(|c| async move {
                    let r = match client.list(&c).await {
                        Ok(items) => Ok(items),
                        // A missing parent (origin group, endpoint, rule set): nothing below it.
                        Err(e) if e.is_not_found() => Ok(Vec::new()),
                        Err(e) => Err(ProviderError::from(e)),
                    };
                    (c.to_ascii_lowercase(), r)
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        requests
            .iter()
            .map(|(i, k, loc)| {
                let found = if k.name == kinds::PROFILE.name {
                    Ok(Some(remote_profile.clone()))
                } else {
                    match listed.get(&loc.collection(scope).to_ascii_lowercase()) {
                        Some(Ok(items)) => Ok(items
                            .iter()
                            .find(|it| it["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&loc.name)))
                            .cloned()),
                        Some(Err(e)) => Err(e.clone()),
                        None => Ok(None),
                    }
                };
                let observed = found.map(|o| {
                    o.map(|remote| Observed {
                        remote_id: remote["id"].as_str().map_or_else(|| loc.path(scope), str::to_string),
                        attrs: kinds::project(*k, loc, &remote),
                        outputs: kinds::outputs(*k, &remote),
                        ownership: self.ownership(*k, &addresses[*i], &remote, &remote_profile),
                    })
                });
                (*i, observed)
            })
            .collect()
    }
}

#[async_trait]
impl Provider for AzureProvider {
    fn name(&self) -> &str {
        "azure"
    }

    fn schema(&self, kind: &str) -> KindSchema {
        let Ok(k) = kinds::kind(kind) else { return KindSchema::default() };
        let mut force_new = vec![PathPattern::new("/name")];
        if k.name != kinds::PROFILE.name {
            force_new.push(PathPattern::new("/profile"));
        }
        if let Some((key, _)) = k.parent {
            force_new.push(PathPattern::new(format!("/{key}")));
        }
        match k.name {
            // A PUT cannot change the tier (ARM has a separate upgrade operation).
            "profile" => force_new.push(PathPattern::new("/sku")),
            "custom_domain" => force_new.push(PathPattern::new("/properties/hostName")),
            _ => {}
        }
        KindSchema { force_new, asynchronous: k.name != kinds::RULE_SET.name, ..KindSchema::default() }
    }

    fn validate(&self, kind: &str, attrs: &Value) -> Vec<(Vec<String>, String)> {
        match kinds::kind(kind) {
            Ok(k) => kinds::validate(k, attrs),
            Err(e) => vec![(vec![], e.to_string())],
        }
    }

    fn outputs(&self, kind: &str) -> Vec<String> {
        kinds::kind(kind).map(kinds::output_names).unwrap_or_default()
    }

    fn implicit_dependencies(&self, resources: &[&Resource]) -> Vec<(Address, Address)> {
        // A child after its profile and its parent, when both are in the spec by plain name.
        let mut by_name: HashMap<(&str, String), &Address> = HashMap::new();
        for r in resources {
            if let Some(name) = r.attrs.get("name").and_then(Value::as_str) {
                let profile = if r.kind == "profile" { name } else { r.attrs["profile"].as_str().unwrap_or_default() };
                by_name.insert((r.kind.as_str(), format!("{profile}/{name}")), &r.address);
            }
        }
        let mut out = Vec::new();
        for r in resources {
            let Ok(k) = kinds::kind(&r.kind) else { continue };
            let Some(profile) = r.attrs.get("profile").and_then(Value::as_str) else { continue };
            if let Some(p) = by_name.get(&("profile", format!("{profile}/{profile}"))) {
                out.push((r.address.clone(), (*p).clone()));
            }
            if let Some((key, _)) = k.parent
                && let Some(parent) = r.attrs.get(key).and_then(Value::as_str)
            {
                let parent_kind = match key {
                    "origin_group" => "origin_group",
                    "endpoint" => "afd_endpoint",
                    _ => "rule_set",
                };
                if let Some(p) = by_name.get(&(parent_kind, format!("{profile}/{parent}"))) {
                    out.push((r.address.clone(), (*p).clone()));
                }
            }
        }
        out
    }

    async fn read(&self, requests: &[ReadRequest<'_>]) -> Vec<std::result::Result<Option<Observed>, ProviderError>> {
        let mut results: Vec<Option<std::result::Result<Option<Observed>, ProviderError>>> = vec![None; requests.len()];
        let scope = match self.scope() {
            Ok(s) => s,
            Err(e) => return requests.iter().map(|_| Err(ProviderError::from(e.clone()))).collect(),
        };
        let mut by_profile: BTreeMap<String, Vec<(usize, Kind, Locator)>> = BTreeMap::new();
        for (i, r) in requests.iter().enumerate() {
            let located = kinds::kind(&r.kind).and_then(|k| {
                let loc = match (&r.remote_id, r.attrs) {
                    (Some(id), _) => Locator::from_id(k, id)?,
                    (None, Some(attrs)) => Locator::from_attrs(k, attrs)?,
                    (None, None) => {
                        return Err(AzureError::invalid(k.name, "neither a remote id nor a document to read by"));
                    }
                };
                Ok((k, loc))
            });
            match located {
                // A name still holding a `${...}` reference cannot exist remotely yet.
                Ok((_, loc))
                    if [Some(&loc.profile), loc.parent.as_ref(), Some(&loc.name)]
                        .iter()
                        .flatten()
                        .any(|s| s.contains("${")) =>
                {
                    results[i] = Some(Ok(None))
                }
                Ok((k, loc)) => by_profile.entry(loc.profile.to_ascii_lowercase()).or_default().push((i, k, loc)),
                Err(e) => results[i] = Some(Err(e.into())),
            }
        }
        let addresses: Vec<Address> = requests.iter().map(|r| r.address.clone()).collect();
        let concurrency = self.inner.config.read_concurrency as usize;
        let (scope, addresses) = (&scope, &addresses);
        let futures: Vec<_> = by_profile
            .into_values()
            .map(|group| async move {
                let profile = group[0].2.profile.clone();
                self.read_profile(scope, &profile, &group, addresses).await
            })
            .collect();
        let done: Vec<Vec<_>> =
            futures::stream::iter(futures).buffer_unordered(concurrency.div_ceil(4).max(1)).collect().await;
        for (i, r) in done.into_iter().flatten() {
            results[i] = Some(r);
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(None))).collect()
    }

    async fn create(&self, change: &ResourceChange) -> std::result::Result<Applied, ProviderError> {
        Ok(self.put(change).await?)
    }

    async fn update(&self, change: &ResourceChange) -> std::result::Result<Applied, ProviderError> {
        // ARM's PUT is create-or-replace: the document is the whole desired state, so an
        // attribute the spec no longer sets goes back to its default.
        Ok(self.put(change).await?)
    }

    async fn wait(&self, kind: &str, applied: &Applied) -> std::result::Result<Applied, ProviderError> {
        let k = kinds::kind(kind)?;
        let mut out = applied.clone();
        let Some(op) = applied.outputs.get(PENDING_OPERATION).and_then(Value::as_str) else { return Ok(out) };
        let first = applied.outputs[PENDING_RETRY_AFTER].as_f64().map(Duration::from_secs_f64);
        let client = self.client();
        client.wait(op, &applied.remote_id, first).await?;
        let remote = client.send(Method::GET, &applied.remote_id, None).await?;
        out.outputs = kinds::outputs(k, &remote.body);
        Ok(out)
    }

    async fn delete(&self, request: &DeleteRequest) -> std::result::Result<(), ProviderError> {
        let k = kinds::kind(&request.kind)?;
        Locator::from_id(k, &request.remote_id)?;
        let client = self.client();
        match client.send(Method::DELETE, &request.remote_id, None).await {
            Ok(answer) => {
                if let (202, Some(op)) = (answer.status, answer.operation.as_deref()) {
                    client.wait(op, &request.remote_id, answer.retry_after).await?;
                }
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn adopt(&self, resource: &Resource) -> std::result::Result<Applied, ProviderError> {
        // A PUT with the document adds the marks (tracked kinds) and converges the rest.
        let change = ResourceChange {
            address: resource.address.clone(),
            kind: resource.kind.clone(),
            attrs: resource.attrs.clone(),
            prior: None,
        };
        let applied = self.put(&change).await?;
        if self.schema(&resource.kind).asynchronous { self.wait(&resource.kind, &applied).await } else { Ok(applied) }
    }
}
