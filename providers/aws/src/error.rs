//! The crate's one error type and its classification into [`strata_sdk::ProviderError`].

use std::time::Duration;

use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::RequestId;
use strata_sdk::{ErrorClass, ProviderError};

/// Everything that can go wrong in the AWS provider.
///
/// Every variant maps onto one [`ErrorClass`] (see [`AwsError::class`]); the conversion into
/// [`ProviderError`] keeps the message verbatim and carries `Retry-After` when AWS sent one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AwsError {
    /// The `providers.aws` section of the spec is not a valid [`crate::AwsConfig`].
    #[error("invalid aws provider configuration: {0}")]
    Config(String),

    /// The resource kind is not one this provider knows.
    #[error(
        "unknown aws resource kind `{0}` (known: cloudfront_distribution, cloudfront_cache_policy, cloudfront_origin_request_policy, route53_record, route53_health_check)"
    )]
    UnknownKind(String),

    /// A resource's `attrs` document does not fit the kind's shape (see the README).
    #[error("invalid attributes for {kind}: {message}")]
    InvalidAttrs { kind: String, message: String },

    /// A `remote_id` recorded in state is not of the form this kind uses.
    #[error("invalid remote id `{remote_id}` for {kind}: expected {expected}")]
    InvalidRemoteId { kind: String, remote_id: String, expected: &'static str },

    /// An AWS API answered with an error. `code` is the AWS error code (`PreconditionFailed`,
    /// `NoSuchDistribution`, `Throttling`, ...), `status` the HTTP status.
    #[error("{operation}: {}{message}{}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default(), request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Api {
        operation: &'static str,
        code: Option<String>,
        message: String,
        status: Option<u16>,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },

    /// The request never got an answer: connection refused, DNS failure, timeout, a response
    /// that could not be read. Always retryable.
    #[error("{operation}: request failed before AWS answered: {message}")]
    Transport { operation: &'static str, message: String },

    /// The request could not be built (a required field missing). A bug or an invalid document.
    #[error("{operation}: could not build the request: {message}")]
    Build { operation: &'static str, message: String },

    /// The remote object was changed by someone else between our read and our write, more
    /// times than we retry (`PreconditionFailed` on every attempt), or an object with our
    /// identity exists but belongs to someone else.
    #[error("{0}")]
    Conflict(String),

    /// The object does not exist (or no longer does).
    #[error("{0}")]
    NotFound(String),

    /// `wait` gave up: the distribution was still not `Deployed` after the configured timeout.
    #[error("distribution {id} is still {status} after {waited:?}; it keeps deploying, run again to keep waiting")]
    WaitTimeout { id: String, status: String, waited: Duration },
}

/// AWS error codes that mean "slow down / try again".
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
    "DistributionNotDisabled",
];

/// AWS error codes that mean "someone else changed or owns this".
const CONFLICT_CODES: &[&str] = &[
    "PreconditionFailed",
    "InvalidIfMatchVersion",
    "DistributionAlreadyExists",
    "CNAMEAlreadyExists",
    "CachePolicyAlreadyExists",
    "OriginRequestPolicyAlreadyExists",
    "CachePolicyInUse",
    "OriginRequestPolicyInUse",
    "IllegalDelete",
    "IllegalUpdate",
    "ConcurrentModification",
    "HostedZoneAlreadyExists",
    "ResourceInUse",
];

/// AWS error codes that mean "bad credentials or not allowed".
const AUTH_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "MissingAuthenticationToken",
    "InvalidSignatureException",
    "IncompleteSignature",
    "AuthFailure",
    "NotAuthorized",
];

impl AwsError {
    /// How the engine should treat this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            AwsError::Config(_)
            | AwsError::UnknownKind(_)
            | AwsError::InvalidAttrs { .. }
            | AwsError::InvalidRemoteId { .. }
            | AwsError::Build { .. } => ErrorClass::Invalid,
            AwsError::Transport { .. } | AwsError::WaitTimeout { .. } => ErrorClass::Retryable,
            AwsError::Conflict(_) => ErrorClass::Conflict,
            AwsError::NotFound(_) => ErrorClass::NotFound,
            AwsError::Api { code, status, .. } => classify(code.as_deref(), *status),
        }
    }

    /// The AWS error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// True for an API error with this exact code.
    pub fn is_code(&self, wanted: &str) -> bool {
        self.code() == Some(wanted)
    }

    pub(crate) fn is_not_found(&self) -> bool {
        self.class() == ErrorClass::NotFound
    }

    pub(crate) fn invalid_attrs(kind: &str, message: impl Into<String>) -> Self {
        AwsError::InvalidAttrs { kind: kind.to_string(), message: message.into() }
    }

    /// Converts an SDK error from any CloudFront or Route 53 operation.
    pub(crate) fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: RawResponse + std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(ctx) => {
                let raw = ctx.raw();
                let e = ctx.err();
                let code = e.code().map(str::to_string);
                let message = e.message().map(str::to_string).unwrap_or_else(|| e.to_string());
                AwsError::Api {
                    operation,
                    code,
                    message,
                    status: Some(raw.status_code()),
                    retry_after: raw.retry_after(),
                    request_id: e.meta().request_id().map(str::to_string),
                }
            }
            SdkError::ConstructionFailure(_) => {
                AwsError::Build { operation, message: aws_sdk_cloudfront::error::DisplayErrorContext(&err).to_string() }
            }
            SdkError::ResponseError(ctx) => {
                let status = ctx.raw().status_code();
                if status >= 300 {
                    // An error response we could not parse: still classify by status.
                    AwsError::Api {
                        operation,
                        code: None,
                        message: format!("HTTP {status} with an unreadable body"),
                        status: Some(status),
                        retry_after: ctx.raw().retry_after(),
                        request_id: None,
                    }
                } else {
                    AwsError::Transport {
                        operation,
                        message: aws_sdk_cloudfront::error::DisplayErrorContext(&err).to_string(),
                    }
                }
            }
            _ => AwsError::Transport {
                operation,
                message: aws_sdk_cloudfront::error::DisplayErrorContext(&err).to_string(),
            },
        }
    }
}

fn classify(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    if let Some(code) = code {
        if RETRYABLE_CODES.contains(&code) {
            return ErrorClass::Retryable;
        }
        if CONFLICT_CODES.contains(&code) {
            return ErrorClass::Conflict;
        }
        if AUTH_CODES.contains(&code) {
            return ErrorClass::Auth;
        }
        if code.starts_with("NoSuch") || code == "EntityNotFound" {
            return ErrorClass::NotFound;
        }
        if code.starts_with("Invalid")
            || code.starts_with("TooMany")
            || code.starts_with("Malformed")
            || code.starts_with("Missing")
            || code == "ValidationError"
            || code == "IllegalFieldLevelEncryptionConfigAssociationWithCacheBehavior"
            || code == "InconsistentQuantities"
        {
            return ErrorClass::Invalid;
        }
    }
    match status {
        Some(s) => ProviderError::from_http_status(s, "").class,
        None => ErrorClass::Other,
    }
}

impl From<AwsError> for ProviderError {
    fn from(e: AwsError) -> Self {
        let retry_after = match &e {
            AwsError::Api { retry_after, .. } => *retry_after,
            _ => None,
        };
        let mut p = ProviderError::new(e.class(), e.to_string());
        if let Some(after) = retry_after {
            p = p.with_retry_after(after);
        }
        p
    }
}

/// The bits of a raw HTTP response the classifier needs; implemented for the SDK's response.
pub(crate) trait RawResponse {
    fn status_code(&self) -> u16;
    fn retry_after(&self) -> Option<Duration>;
}

impl RawResponse for aws_sdk_cloudfront::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
    fn retry_after(&self) -> Option<Duration> {
        self.headers().get("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
    }
}

pub(crate) type Result<T, E = AwsError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, status: u16) -> AwsError {
        AwsError::Api {
            operation: "Op",
            code: Some(code.to_string()),
            message: "m".into(),
            status: Some(status),
            retry_after: None,
            request_id: None,
        }
    }

    #[test]
    fn classifies_aws_codes() {
        assert_eq!(api("Throttling", 400).class(), ErrorClass::Retryable);
        assert_eq!(api("PriorRequestNotComplete", 400).class(), ErrorClass::Retryable);
        assert_eq!(api("PreconditionFailed", 412).class(), ErrorClass::Conflict);
        assert_eq!(api("CNAMEAlreadyExists", 409).class(), ErrorClass::Conflict);
        assert_eq!(api("NoSuchDistribution", 404).class(), ErrorClass::NotFound);
        assert_eq!(api("NoSuchHostedZone", 404).class(), ErrorClass::NotFound);
        assert_eq!(api("AccessDenied", 403).class(), ErrorClass::Auth);
        assert_eq!(api("InvalidArgument", 400).class(), ErrorClass::Invalid);
        assert_eq!(api("InvalidChangeBatch", 400).class(), ErrorClass::Invalid);
        assert_eq!(api("SomethingNew", 503).class(), ErrorClass::Retryable);
        assert_eq!(api("SomethingNew", 418).class(), ErrorClass::Invalid);
        let t = AwsError::Transport { operation: "Op", message: "connection refused".into() };
        assert!(ProviderError::from(t).is_retryable());
    }

    #[test]
    fn keeps_retry_after_and_message() {
        let e = AwsError::Api {
            operation: "ListDistributions",
            code: Some("Throttling".into()),
            message: "Rate exceeded".into(),
            status: Some(400),
            retry_after: Some(Duration::from_secs(3)),
            request_id: Some("abc".into()),
        };
        let p = ProviderError::from(e);
        assert!(p.is_retryable());
        assert_eq!(p.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(p.message, "ListDistributions: Throttling: Rate exceeded (request id abc)");
    }
}
