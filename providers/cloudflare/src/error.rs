//! The provider's errors, and how each becomes a [`ProviderError`] the engine can act on.

use std::time::Duration;

use strata_sdk::ProviderError;

/// Everything that can go wrong in this provider.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CloudflareError {
    /// The API answered with an error envelope (`success: false`) or an error status.
    #[error("Cloudflare API error {code} ({operation}, HTTP {status}): {message}")]
    Api { operation: String, status: u16, code: u64, message: String, retry_after: Option<Duration> },
    /// The request did not get an answer (connection refused or dropped, timeout).
    #[error("Cloudflare API request failed ({operation}): {message}")]
    Transport { operation: String, message: String },
    /// The answer was not the documented JSON.
    #[error("unexpected Cloudflare API answer ({operation}): {message}")]
    Decode { operation: String, message: String },
    /// `CLOUDFLARE_API_TOKEN` is not set.
    #[error("CLOUDFLARE_API_TOKEN is not set: create an API token in the Cloudflare dashboard and export it")]
    MissingToken,
    /// A resource needs an account id and neither it nor the settings give one.
    #[error("no Cloudflare account id: set `providers.cloudflare.account_id` or `account_id` on the resource")]
    MissingAccount,
    /// A resource needs a zone and neither it nor the settings give one.
    #[error("no Cloudflare zone: set `providers.cloudflare.zone` or `zone` on the resource")]
    MissingZone,
    /// No zone of that name is visible to the token.
    #[error("the zone `{0}` does not exist or the API token cannot see it")]
    UnknownZone(String),
    /// A resource document does not fit its kind.
    #[error("invalid `{kind}` attributes: {message}")]
    InvalidAttrs { kind: String, message: String },
    /// A remote id in state does not have this kind's shape.
    #[error("remote id `{remote_id}` of a `{kind}` is not of the form {expected}")]
    InvalidRemoteId { kind: String, remote_id: String, expected: &'static str },
    /// A kind this provider does not have.
    #[error(
        "the cloudflare provider has no kind `{0}` (kinds: dns_record, cache_rules, worker, worker_route, load_balancer, pool, monitor)"
    )]
    UnknownKind(String),
    /// A Worker module file cannot be read or changed since the plan.
    #[error("Worker module {path}: {message}")]
    Module { path: String, message: String },
    /// An object exists without strata's marks for this address.
    #[error("{0}")]
    Conflict(String),
}

impl CloudflareError {
    pub fn invalid(kind: &str, message: impl Into<String>) -> Self {
        CloudflareError::InvalidAttrs { kind: kind.to_string(), message: message.into() }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CloudflareError::Api { status: 404, .. })
    }
}

impl From<CloudflareError> for ProviderError {
    fn from(e: CloudflareError) -> Self {
        let message = e.to_string();
        match e {
            CloudflareError::Api { status, retry_after, .. } => {
                let pe = ProviderError::from_http_status(status, message);
                match retry_after {
                    Some(d) => pe.with_retry_after(d),
                    None => pe,
                }
            }
            CloudflareError::Transport { .. } => ProviderError::retryable(message),
            CloudflareError::MissingToken => ProviderError::auth(message),
            CloudflareError::Conflict(_) => ProviderError::conflict(message),
            CloudflareError::Decode { .. } => ProviderError::other(message),
            _ => ProviderError::invalid(message),
        }
    }
}

pub type Result<T> = std::result::Result<T, CloudflareError>;
