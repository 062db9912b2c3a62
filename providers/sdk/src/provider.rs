use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Address, KindSchema, ProviderError};

/// Label (Kubernetes) or tag (clouds) marking an object as managed by strata.
pub const OWNERSHIP_MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const OWNERSHIP_MANAGED_BY_VALUE: &str = "strata";
/// Label/tag holding the project name.
pub const OWNERSHIP_PROJECT_KEY: &str = "strata.dev/project";
/// Label/tag holding the environment name (`default` when none is selected).
pub const OWNERSHIP_ENV_KEY: &str = "strata.dev/env";
/// Annotation/tag holding the resource address.
pub const OWNERSHIP_ADDRESS_KEY: &str = "strata.dev/address";

/// Whether a label, annotation or tag key is one of strata's ownership marks (never a user's).
pub fn is_ownership_key(key: &str) -> bool {
    [OWNERSHIP_MANAGED_BY_KEY, OWNERSHIP_PROJECT_KEY, OWNERSHIP_ENV_KEY, OWNERSHIP_ADDRESS_KEY].contains(&key)
}

/// One desired resource, as lowered from the spec. `attrs` is the provider's own document
/// (a Kubernetes manifest, a CloudFront DistributionConfig as JSON, ...). Before the engine hands
/// it to `create`/`update`, every `${...}` reference inside has been resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub address: Address,
    /// Provider name: `kubernetes`, `aws`, `cloudflare`, `gcp`, `azure`, `test`.
    pub provider: String,
    /// Kind within the provider (`apps/v1/Deployment`, `cloudfront_distribution`).
    pub kind: String,
    pub attrs: Value,
    /// Explicit ordering in addition to references found in `attrs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
}

/// A batched-read request for one resource. `remote_id` comes from state when strata created the
/// object; `attrs` (the desired document) lets providers with deterministic names find an object
/// a crashed run created before its state write.
///
/// `attrs` is borrowed from the engine, as written in the spec (`${...}` references to other
/// resources unresolved): a refresh of 100k resources does not copy every desired document.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRequest<'a> {
    pub address: Address,
    pub kind: String,
    pub remote_id: Option<String>,
    pub attrs: Option<&'a Value>,
}

/// Whether an object found remotely belongs to this resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ownership {
    /// Carries strata's marks for this project, environment and address.
    Ours,
    /// Exists without our marks (or with another project's): never adopted silently.
    Foreign { detail: String },
}

/// What a read found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub remote_id: String,
    /// The remote document, in the same shape as `Resource::attrs`; may hold server defaults
    /// the engine ignores because the spec does not set them.
    pub attrs: Value,
    /// Values only the remote side knows (`domain_name`, `arn`, `uid`).
    #[serde(default)]
    pub outputs: Value,
    pub ownership: Ownership,
}

/// The result of a successful create or update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub remote_id: String,
    /// The attributes as applied (what the engine will diff against next time).
    pub attrs: Value,
    #[serde(default)]
    pub outputs: Value,
}

/// A create or update, with references resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChange {
    pub address: Address,
    pub kind: String,
    pub attrs: Value,
    /// What state recorded before (update only).
    pub prior: Option<Applied>,
}

/// A delete of a resource that state records.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteRequest {
    pub address: Address,
    pub kind: String,
    pub remote_id: String,
    pub attrs: Value,
}

/// A provider: a set of resource kinds behind one remote API.
///
/// Implementations must make `create` idempotent (deterministic names or the API's own
/// idempotency key), so a crash between the remote call and the state write is healed by the
/// next run. All methods may be called concurrently; the engine bounds concurrency and rate.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name, as used in `Resource::provider`.
    fn name(&self) -> &str;

    /// Diff-relevant facts about a kind. Unknown kinds get the defaults.
    fn schema(&self, kind: &str) -> KindSchema;

    /// Offline validation of one desired document (no network), as `(path, message)` pairs
    /// where `path` is a list of keys into `attrs`.
    fn validate(&self, _kind: &str, _attrs: &Value) -> Vec<(Vec<String>, String)> {
        Vec::new()
    }

    /// Names of the outputs a kind exposes (`domain_name`), so references can be checked.
    fn outputs(&self, _kind: &str) -> Vec<String> {
        Vec::new()
    }

    /// Ordering this provider's kinds imply beyond references (a namespace before the objects
    /// in it, a CRD before its custom resources), as `(dependent, dependency)` pairs.
    fn implicit_dependencies(&self, _resources: &[&Resource]) -> Vec<(Address, Address)> {
        Vec::new()
    }

    /// Reads many resources at once. Returns one entry per request, in order: `Ok(None)` when
    /// the object does not exist. Providers should batch (one LIST per kind and namespace).
    async fn read(&self, requests: &[ReadRequest<'_>]) -> Vec<Result<Option<Observed>, ProviderError>>;

    async fn create(&self, change: &ResourceChange) -> Result<Applied, ProviderError>;

    async fn update(&self, change: &ResourceChange) -> Result<Applied, ProviderError>;

    async fn delete(&self, request: &DeleteRequest) -> Result<(), ProviderError>;

    /// Adopts an existing object that lacks strata's marks (`strata import`): adds the marks
    /// and returns it as applied. Providers that cannot adopt say so.
    async fn adopt(&self, resource: &Resource) -> Result<Applied, ProviderError> {
        Err(ProviderError::invalid(format!(
            "the `{}` provider cannot import existing objects ({})",
            self.name(),
            resource.address
        )))
    }

    /// For asynchronous kinds: waits until the object is ready and returns its final outputs.
    async fn wait(&self, _kind: &str, applied: &Applied) -> Result<Applied, ProviderError> {
        Ok(applied.clone())
    }
}
