//! The provider's errors, and how each becomes a [`ProviderError`] the engine can act on.

use std::time::Duration;

use strata_sdk::ProviderError;

/// Everything that can go wrong in this provider. Messages never hold a secret or a token:
/// [`crate::auth::Credential`] masks them before an error is built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AzureError {
    /// ARM answered with an error status and its envelope `{"error": {"code", "message"}}`.
    #[error("Azure API error {code} ({operation}, HTTP {status}): {message}")]
    Api { operation: String, status: u16, code: String, message: String, retry_after: Option<Duration> },
    /// The request got no answer (connection refused or dropped, timeout).
    #[error("Azure API request failed ({operation}): {message}")]
    Transport { operation: String, message: String },
    /// The answer was not the documented JSON.
    #[error("unexpected Azure API answer ({operation}): {message}")]
    Decode { operation: String, message: String },
    /// No usable credential in the environment, or the identity platform refused it.
    #[error("Azure credentials: {0}")]
    Credentials(String),
    /// `subscription_id` or `resource_group` is missing from the settings.
    #[error("`providers.azure.{0}` is not set")]
    MissingSetting(&'static str),
    /// A long-running operation ended `Failed` or `Canceled`.
    #[error("Azure operation on {resource} ended {status}: {message}")]
    Operation { resource: String, status: String, message: String },
    /// A resource document does not fit its kind.
    #[error("invalid `{kind}` attributes: {message}")]
    InvalidAttrs { kind: String, message: String },
    /// A kind this provider does not have.
    #[error("the azure provider has no kind `{0}` (kinds: {kinds})", kinds = crate::kinds::KIND_NAMES.join(", "))]
    UnknownKind(String),
}

impl AzureError {
    pub fn invalid(kind: &str, message: impl Into<String>) -> Self {
        AzureError::InvalidAttrs { kind: kind.to_string(), message: message.into() }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, AzureError::Api { status: 404, .. })
    }
}

impl From<AzureError> for ProviderError {
    fn from(e: AzureError) -> Self {
        let message = e.to_string();
        match e {
            AzureError::Api { status, retry_after, .. } => {
                let pe = ProviderError::from_http_status(status, message);
                match retry_after {
                    Some(d) => pe.with_retry_after(d),
                    None => pe,
                }
            }
            AzureError::Transport { .. } => ProviderError::retryable(message),
            AzureError::Credentials(_) => ProviderError::auth(message),
            AzureError::Decode { .. } | AzureError::Operation { .. } => ProviderError::other(message),
            _ => ProviderError::invalid(message),
        }
    }
}

pub type Result<T> = std::result::Result<T, AzureError>;
