//! The AWS provider of strata.
//!
//! Kinds:
//! - `cloudfront_distribution`: a CloudFront distribution (asynchronous: `wait` polls until
//!   `Deployed`),
//! - `cloudfront_cache_policy` and `cloudfront_origin_request_policy`: custom policies that
//!   distributions reference by id,
//! - `route53_record`: one record set in a hosted zone looked up by name (simple, failover or
//!   weighted routing),
//! - `route53_health_check`: an HTTP(S) health check that failover and weighted records use.
//!
//! The `attrs` shape of each kind is a serde type in [`attrs`], documented in the crate README.
//! [`AwsProvider::new`] does no I/O: the AWS configuration (credentials chain, profile files)
//! is loaded on the first call that needs it, so offline planning works.

mod cloudfront;
mod config;
pub mod diff;
mod error;
mod health_check;
mod plugin;
mod route53;
mod tags;

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use serde_json::Value;
use strata_sdk::{
    Applied, DeleteRequest, KindSchema, Observed, PathPattern, Provider, ProviderError, ReadRequest, ResourceChange,
};
use tokio::sync::OnceCell;

pub use aws_sdk_cloudfront::config::Credentials;
pub use config::AwsConfig;
pub use error::AwsError;
pub use plugin::AwsPlugin;
pub use tags::OwnerMarks;

pub use strata_aws_model::{
    KIND_CACHE_POLICY, KIND_DISTRIBUTION, KIND_HEALTH_CHECK, KIND_ORIGIN_REQUEST_POLICY, KIND_RECORD, KINDS, attrs,
    managed,
};

/// An AWS configuration loader with strata's HTTPS client: rustls on ring, the TLS stack the rest
/// of strata (kube) uses. The SDK's default client would bring rustls on aws-lc-rs too, and two
/// crypto providers in one process leave rustls unable to pick a process default.
/// Everything that talks to AWS (this provider, the S3 state backend) starts from here.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// strata's HTTPS client for the AWS SDK (see [`sdk_loader`]), for clients configured by hand.
pub fn https_client() -> aws_sdk_cloudfront::config::SharedHttpClient {
    use aws_smithy_http_client::{Builder, tls};
    Builder::new().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring)).build_https()
}

/// The SDK clients, built once on first use.
pub(crate) struct Clients {
    pub cf: aws_sdk_cloudfront::Client,
    pub r53: aws_sdk_route53::Client,
}

/// The AWS provider. Cheap to construct; clones share the lazily built clients.
#[derive(Clone)]
pub struct AwsProvider {
    inner: Arc<Inner>,
}

struct Inner {
    config: AwsConfig,
    marks: OwnerMarks,
    credentials: Option<Credentials>,
    clients: OnceCell<Clients>,
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider")
            .field("config", &self.inner.config)
            .field("marks", &self.inner.marks)
            .field("static_credentials", &self.inner.credentials.is_some())
            .finish()
    }
}

impl AwsProvider {
    /// A provider for `config`, tagging what it creates with `marks`. No I/O happens here.
    pub fn new(config: AwsConfig, marks: OwnerMarks) -> Self {
        Self::build(config, marks, None)
    }

    /// Parses the spec's `providers.aws` section (`null` = defaults) and builds the provider.
    pub fn from_value(config: &Value, marks: OwnerMarks) -> Result<Self, AwsError> {
        Ok(Self::new(AwsConfig::from_value(config)?, marks))
    }

    /// Uses fixed credentials instead of the default chain (tests against moto, embedders
    /// with their own credential source).
    pub fn with_credentials(self, credentials: Credentials) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|arc| Inner {
            config: arc.config.clone(),
            marks: arc.marks.clone(),
            credentials: arc.credentials.clone(),
            clients: OnceCell::new(),
        });
        Self::build(inner.config, inner.marks, Some(credentials))
    }

    fn build(config: AwsConfig, marks: OwnerMarks, credentials: Option<Credentials>) -> Self {
        AwsProvider { inner: Arc::new(Inner { config, marks, credentials, clients: OnceCell::new() }) }
    }

    /// The configuration this provider was built with.
    pub fn config(&self) -> &AwsConfig {
        &self.inner.config
    }

    pub(crate) fn marks(&self) -> &OwnerMarks {
        &self.inner.marks
    }

    /// Whether the SDK clients have been built (i.e. some call needed the network).
    pub fn is_connected(&self) -> bool {
        self.inner.clients.initialized()
    }

    pub(crate) async fn clients(&self) -> &Clients {
        self.inner
            .clients
            .get_or_init(|| async {
                let cfg = &self.inner.config;
                let mut loader = sdk_loader();
                if let Some(r) = &cfg.region {
                    loader = loader.region(aws_config::Region::new(r.clone()));
                }
                if let Some(p) = &cfg.profile {
                    loader = loader.profile_name(p);
                }
                if let Some(e) = &cfg.endpoint {
                    loader = loader.endpoint_url(e);
                }
                if let Some(c) = &self.inner.credentials {
                    loader = loader.credentials_provider(c.clone());
                }
                if let Some(n) = cfg.max_attempts {
                    loader = loader.retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(n));
                }
                let sdk = loader.load().await;
                // CloudFront and Route 53 are global; any region signs correctly.
                let region = sdk.region().cloned().unwrap_or_else(|| aws_config::Region::new("us-east-1"));
                let cf = aws_sdk_cloudfront::Client::from_conf(
                    aws_sdk_cloudfront::config::Builder::from(&sdk).region(region.clone()).build(),
                );
                let r53 = aws_sdk_route53::Client::from_conf(
                    aws_sdk_route53::config::Builder::from(&sdk).region(region).build(),
                );
                Clients { cf, r53 }
            })
            .await
    }

    fn check_kind(kind: &str) -> Result<(), AwsError> {
        if KINDS.contains(&kind) { Ok(()) } else { Err(AwsError::UnknownKind(kind.to_string())) }
    }
}

fn pattern(p: &str) -> PathPattern {
    PathPattern::new(p)
}

#[async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &str {
        "aws"
    }

    fn schema(&self, kind: &str) -> KindSchema {
        match kind {
            KIND_DISTRIBUTION => KindSchema {
                force_new: vec![],
                sensitive: vec![pattern("/origins/*/custom_headers")],
                ignore_changes: vec![pattern("/caller_reference")],
                asynchronous: true,
                ..KindSchema::default()
            },
            KIND_CACHE_POLICY | KIND_ORIGIN_REQUEST_POLICY => KindSchema::default(),
            KIND_RECORD => KindSchema {
                force_new: vec![
                    pattern("/zone"),
                    pattern("/private_zone"),
                    pattern("/name"),
                    pattern("/type"),
                    pattern("/set_identifier"),
                ],
                ..KindSchema::default()
            },
            // UpdateHealthCheck cannot change the type or the request interval.
            KIND_HEALTH_CHECK => {
                KindSchema { force_new: vec![pattern("/type"), pattern("/request_interval")], ..KindSchema::default() }
            }
            _ => KindSchema::default(),
        }
    }

    fn validate(&self, kind: &str, attrs: &Value) -> Vec<(Vec<String>, String)> {
        match kind {
            KIND_DISTRIBUTION => match attrs::parse::<attrs::DistributionAttrs>(attrs) {
                Ok(a) => a.problems(),
                Err(p) => vec![p],
            },
            KIND_CACHE_POLICY => match attrs::parse::<attrs::CachePolicyAttrs>(attrs) {
                Ok(a) => a.problems(),
                Err(p) => vec![p],
            },
            KIND_ORIGIN_REQUEST_POLICY => match attrs::parse::<attrs::OriginRequestPolicyAttrs>(attrs) {
                Ok(a) => a.problems(),
                Err(p) => vec![p],
            },
            KIND_RECORD => match attrs::parse::<attrs::RecordAttrs>(attrs) {
                Ok(a) => a.problems(),
                Err(p) => vec![p],
            },
            KIND_HEALTH_CHECK => match attrs::parse::<attrs::HealthCheckAttrs>(attrs) {
                Ok(a) => a.problems(),
                Err(p) => vec![p],
            },
            other => vec![(vec![], AwsError::UnknownKind(other.to_string()).to_string())],
        }
    }

    fn outputs(&self, kind: &str) -> Vec<String> {
        let names: &[&str] = match kind {
            KIND_DISTRIBUTION => &["id", "arn", "domain_name", "status", "hosted_zone_id"],
            KIND_CACHE_POLICY | KIND_ORIGIN_REQUEST_POLICY => &["id", "name"],
            KIND_RECORD => &["zone_id", "fqdn"],
            KIND_HEALTH_CHECK => &["id"],
            _ => &[],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    async fn read(&self, requests: &[ReadRequest<'_>]) -> Vec<Result<Option<Observed>, ProviderError>> {
        let mut results: Vec<Option<Result<Option<Observed>, ProviderError>>> =
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
                KIND_DISTRIBUTION => self.read_distributions(&reqs).await,
                KIND_CACHE_POLICY => self.read_cache_policies(&reqs).await,
                KIND_ORIGIN_REQUEST_POLICY => self.read_origin_request_policies(&reqs).await,
                KIND_HEALTH_CHECK => self.read_health_checks(&reqs).await,
                _ => self.read_records(&reqs).await,
            };
            for (i, r) in idx.into_iter().zip(out) {
                results[i] = Some(r.map_err(ProviderError::from));
            }
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(ProviderError::other("no result")))).collect()
    }

    async fn create(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        Self::check_kind(&change.kind)?;
        let r = match change.kind.as_str() {
            KIND_DISTRIBUTION => self.create_distribution(change).await,
            KIND_CACHE_POLICY => self.create_cache_policy(change).await,
            KIND_ORIGIN_REQUEST_POLICY => self.create_origin_request_policy(change).await,
            KIND_HEALTH_CHECK => self.create_health_check(change).await,
            _ => self.upsert_record(change, true).await,
        };
        Ok(r?)
    }

    async fn update(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        Self::check_kind(&change.kind)?;
        if change.prior.is_none() && change.kind != KIND_RECORD {
            // No recorded remote id: the engine found the object by reading (a crashed run
            // created it and never wrote state) and asks to update it. Distributions and
            // policies are addressed by id, which only a create can recover here: create is
            // idempotent (the caller reference, or the identical policy of that name), so it
            // adopts the existing object and brings it to the desired document.
            return self.create(change).await;
        }
        let r = match change.kind.as_str() {
            KIND_DISTRIBUTION => self.update_distribution(change).await,
            KIND_CACHE_POLICY => self.update_cache_policy(change).await,
            KIND_ORIGIN_REQUEST_POLICY => self.update_origin_request_policy(change).await,
            KIND_HEALTH_CHECK => self.update_health_check(change).await,
            _ => self.upsert_record(change, false).await,
        };
        Ok(r?)
    }

    async fn delete(&self, request: &DeleteRequest) -> Result<(), ProviderError> {
        Self::check_kind(&request.kind)?;
        let r = match request.kind.as_str() {
            KIND_DISTRIBUTION => self.delete_distribution(request).await,
            KIND_CACHE_POLICY => self.delete_cache_policy(request).await,
            KIND_ORIGIN_REQUEST_POLICY => self.delete_origin_request_policy(request).await,
            KIND_HEALTH_CHECK => self.delete_health_check(request).await,
            _ => self.delete_record(request).await,
        };
        Ok(r?)
    }

    async fn wait(&self, kind: &str, applied: &Applied) -> Result<Applied, ProviderError> {
        if kind != KIND_DISTRIBUTION || self.inner.config.no_wait {
            return Ok(applied.clone());
        }
        let outputs = self.wait_deployed(&applied.remote_id).await?;
        Ok(Applied { remote_id: applied.remote_id.clone(), attrs: applied.attrs.clone(), outputs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn construction_is_lazy_and_schemas_are_declared() {
        let p = AwsProvider::from_value(
            &json!({"region": "us-east-1", "profile": "does-not-exist"}),
            OwnerMarks::new("shop", "prod"),
        )
        .unwrap();
        assert!(!p.is_connected());
        assert_eq!(p.name(), "aws");
        assert!(p.schema(KIND_DISTRIBUTION).asynchronous);
        assert!(!p.schema(KIND_RECORD).asynchronous);
        assert!(p.schema(KIND_RECORD).forces_new(&["name".to_string()]));
        assert!(p.outputs(KIND_DISTRIBUTION).contains(&"domain_name".to_string()));
        let problems = p.validate("s3_bucket", &json!({}));
        assert_eq!(problems.len(), 1);
        let problems = p.validate(KIND_DISTRIBUTION, &json!({"origins": []}));
        assert!(problems[0].1.contains("default_cache_behavior"), "{problems:?}");
        let p = p.with_credentials(Credentials::new("a", "b", None, None, "test"));
        assert!(!p.is_connected());
    }
}
