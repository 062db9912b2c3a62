//! The provider's one error type.

use strata_sdk::ProviderError;

/// What can go wrong talking to Compute Engine. Messages never contain the access token.
#[derive(Debug, thiserror::Error)]
pub enum GcpError {
    /// The API answered with an error status (Google's envelope decoded: reason and message).
    #[error("Compute Engine answered {status} {reason}: {message}")]
    Api { status: u16, reason: String, message: String, retry_after: Option<std::time::Duration> },
    /// The request did not get an answer (connection, TLS, timeout).
    #[error("cannot reach Compute Engine: {0}")]
    Transport(String),
    /// No access token is available.
    #[error("no Google credentials: {0}")]
    Credentials(String),
    /// An Operation finished with an error.
    #[error("operation {operation} failed: {message}")]
    Operation { operation: String, message: String },
    /// The API answered something this provider cannot read.
    #[error("unexpected answer from Compute Engine: {0}")]
    Unexpected(String),
}

impl GcpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            GcpError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// 403 reasons that mean "slow down", not "forbidden".
const RATE_LIMIT_REASONS: &[&str] = &["rateLimitExceeded", "userRateLimitExceeded"];

impl From<GcpError> for ProviderError {
    fn from(e: GcpError) -> Self {
        let message = e.to_string();
        match &e {
            GcpError::Api { status, retry_after, reason, .. } => {
                // Compute Engine answers some rate limits as 403 with these reasons.
                let rate_limited = *status == 403 && RATE_LIMIT_REASONS.contains(&reason.as_str());
                let err = if rate_limited {
                    ProviderError::retryable(message)
                } else {
                    ProviderError::from_http_status(*status, message)
                };
                match retry_after {
                    Some(after) => err.with_retry_after(*after),
                    None => err,
                }
            }
            GcpError::Transport(_) => ProviderError::retryable(message),
            GcpError::Credentials(_) => ProviderError::auth(message),
            GcpError::Operation { .. } | GcpError::Unexpected(_) => ProviderError::other(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_rate_limit_is_retryable_and_other_403s_are_auth() {
        let api =
            |reason: &str| GcpError::Api { status: 403, reason: reason.into(), message: "m".into(), retry_after: None };
        assert!(ProviderError::from(api("rateLimitExceeded")).is_retryable());
        assert!(ProviderError::from(api("userRateLimitExceeded")).is_retryable());
        assert!(!ProviderError::from(api("forbidden")).is_retryable());
    }
}
