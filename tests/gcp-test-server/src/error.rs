//! Google's JSON error envelope, as Compute Engine sends it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One API error: the HTTP code, the `errors[].reason`, the canonical
/// `status` and the message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub status: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { code: 400, reason: "invalid", status: "INVALID_ARGUMENT", message: message.into() }
    }
    pub fn required(message: impl Into<String>) -> Self {
        Self { code: 400, reason: "required", status: "INVALID_ARGUMENT", message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { code: 404, reason: "notFound", status: "NOT_FOUND", message: message.into() }
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self { code: 409, reason: "alreadyExists", status: "ALREADY_EXISTS", message: message.into() }
    }
    pub fn condition_not_met(message: impl Into<String>) -> Self {
        Self { code: 412, reason: "conditionNotMet", status: "FAILED_PRECONDITION", message: message.into() }
    }
    pub fn in_use(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: "resourceInUseByAnotherResource",
            status: "FAILED_PRECONDITION",
            message: message.into(),
        }
    }
    pub fn unauthenticated(reason: &'static str, message: impl Into<String>) -> Self {
        Self { code: 401, reason, status: "UNAUTHENTICATED", message: message.into() }
    }
    pub fn rate_limited() -> Self {
        Self {
            code: 429,
            reason: "rateLimitExceeded",
            status: "RESOURCE_EXHAUSTED",
            message: "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com'.".into(),
        }
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self { code: 501, reason: "notImplemented", status: "UNIMPLEMENTED", message: message.into() }
    }

    pub fn body(&self) -> serde_json::Value {
        let domain = if self.code == 429 { "usageLimits" } else { "global" };
        json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{ "message": self.message, "domain": domain, "reason": self.reason }],
                "status": self.status,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, axum::Json(self.body())).into_response()
    }
}
