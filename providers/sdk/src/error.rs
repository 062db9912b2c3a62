use std::time::Duration;

/// How the engine should treat a failed provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Throttling, 429, 5xx, dropped connections: retried with backoff.
    Retryable,
    /// The remote object changed under us or another writer owns a field.
    Conflict,
    /// The object does not exist.
    NotFound,
    /// The request was rejected as invalid; retrying cannot help.
    Invalid,
    /// Credentials missing, expired or insufficient.
    Auth,
    /// Anything else; not retried.
    Other,
}

/// An error from a provider call, classified so the engine can decide to retry, skip dependents
/// or stop. The provider's own message is kept verbatim: users need it to fix the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// What the engine should do about it.
    pub class: ErrorClass,
    /// The remote API's message (never containing secret values).
    pub message: String,
    /// A server-supplied delay before retrying (HTTP `Retry-After`), honoured over backoff.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        ProviderError { class, message: message.into(), retry_after: None }
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Retryable, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Conflict, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::NotFound, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Invalid, message)
    }
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Auth, message)
    }
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Other, message)
    }
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }
    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
    /// Classifies an HTTP status the way every REST provider should (429/5xx retryable, 409
    /// conflict, 404 not found, 401/403 auth, other 4xx invalid).
    pub fn from_http_status(status: u16, message: impl Into<String>) -> Self {
        let class = match status {
            429 | 500..=599 => ErrorClass::Retryable,
            409 | 412 => ErrorClass::Conflict,
            404 | 410 => ErrorClass::NotFound,
            401 | 403 => ErrorClass::Auth,
            400..=499 => ErrorClass::Invalid,
            _ => ErrorClass::Other,
        };
        Self::new(class, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_http_statuses() {
        assert!(ProviderError::from_http_status(429, "slow down").is_retryable());
        assert!(ProviderError::from_http_status(503, "unavailable").is_retryable());
        assert_eq!(ProviderError::from_http_status(409, "x").class, ErrorClass::Conflict);
        assert_eq!(ProviderError::from_http_status(404, "x").class, ErrorClass::NotFound);
        assert_eq!(ProviderError::from_http_status(403, "x").class, ErrorClass::Auth);
        assert_eq!(ProviderError::from_http_status(422, "x").class, ErrorClass::Invalid);
    }
}
