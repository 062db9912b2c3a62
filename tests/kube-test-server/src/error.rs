//! The one error type of the server, rendered as a Kubernetes `Status`.
//!
//! Clients (kubectl, kube-rs) branch on `reason` and `code`, and kubectl
//! prints `message` verbatim, so the texts mimic the real apiserver's.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A resource name qualified by its API group, printed like the apiserver
/// does: `configmaps` for the core group, `deployments.apps` otherwise.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        Self { group: group.to_string(), resource: resource.to_string() }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() { f.write_str(&self.resource) } else { write!(f, "{}.{}", self.resource, self.group) }
    }
}

/// One entry of `details.causes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{gr} \"{name}\" not found")]
    NotFound { gr: GroupResource, name: String },
    /// An unknown path, type or version (the apiserver's generic 404).
    #[error("the server could not find the requested resource")]
    NoResource,
    #[error("{gr} \"{name}\" already exists")]
    AlreadyExists { gr: GroupResource, name: String },
    /// Optimistic-concurrency failure (stale resourceVersion or a failed
    /// precondition).
    #[error(
        "Operation cannot be fulfilled on {gr} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { gr: GroupResource, name: String },
    /// Server-side apply ownership conflict; `message` is preformatted.
    #[error("{message}")]
    ApplyConflict { gr: GroupResource, name: String, message: String, causes: Vec<Cause> },
    /// Validation failure (HTTP 422). `kind` is the object's Kind.
    #[error("{kind} \"{name}\" is invalid: {}", join_causes(.causes))]
    Invalid { group: String, kind: String, name: String, causes: Vec<Cause> },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the server has received too many requests and has asked us to try again later")]
    TooManyRequests,
    #[error("{0}")]
    Internal(String),
}

fn join_causes(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
    if parts.len() == 1 { parts[0].clone() } else { format!("[{}]", parts.join(", ")) }
}

impl ApiError {
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::NoResource => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => {
                StatusCode::CONFLICT
            }
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoResource => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooManyRequests => "TooManyRequests",
            ApiError::Internal(_) => "InternalError",
        }
    }

    /// The `details` object, shaped like the apiserver's: `kind` holds the
    /// resource (plural) for most errors but the Kind for `Invalid`.
    fn details(&self) -> Value {
        let causes_json = |causes: &[Cause]| -> Value {
            causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect()
        };
        let mut d = match self {
            ApiError::NotFound { gr, name }
            | ApiError::AlreadyExists { gr, name }
            | ApiError::Conflict { gr, name } => {
                json!({"name": name, "kind": gr.resource, "group": gr.group})
            }
            ApiError::ApplyConflict { gr, name, causes, .. } => {
                json!({"name": name, "kind": gr.resource, "group": gr.group, "causes": causes_json(causes)})
            }
            ApiError::Invalid { group, kind, name, causes } => {
                json!({"name": name, "kind": kind, "group": group, "causes": causes_json(causes)})
            }
            ApiError::TooManyRequests => json!({"retryAfterSeconds": 1}),
            _ => json!({}),
        };
        // The apiserver omits an empty group.
        if let Some(map) = d.as_object_mut()
            && map.get("group").and_then(Value::as_str) == Some("")
        {
            map.remove("group");
        }
        d
    }

    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "details": self.details(),
            "code": self.code().as_u16(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        let mut resp = (self.code(), body).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if matches!(self, ApiError::TooManyRequests) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
