//! Cloudflare's error envelope: `{success: false, errors: [{code, message}], messages: [],
//! result: null}` with the HTTP status the real API uses for the case.

use serde_json::{Value, json};

/// One API error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: u32,
    pub message: String,
    /// Seconds for a `Retry-After` header (429 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: u32, message: &str) -> Self {
        ApiError { status, code, message: message.to_string(), retry_after: None }
    }

    /// No operation of the document has this path (Cloudflare: 400, code 7003 for a path that
    /// names an object that does not exist, 7000 for no route at all).
    pub fn no_route() -> Self {
        Self::new(400, 7000, "No route for that URI")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(405, 10000, "Method not allowed for this route")
    }

    /// A zone or account id the server does not know.
    pub fn route_not_found(path: &str) -> Self {
        Self::new(404, 7003, &format!("Could not route to {path}, perhaps your object identifier is invalid?"))
    }

    pub fn unauthenticated() -> Self {
        Self::new(403, 10000, "Authentication error")
    }

    pub fn invalid_body(message: &str) -> Self {
        Self::new(400, 10026, message)
    }

    pub fn malformed_json(message: &str) -> Self {
        Self::new(400, 6007, &format!("Malformed JSON in request body: {message}"))
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError {
            status: 429,
            code: 971,
            message: "Please wait and consider throttling your request speed".into(),
            retry_after: Some(retry_after.max(1)),
        }
    }

    pub fn dns_not_found() -> Self {
        Self::new(404, 81044, "Record does not exist.")
    }

    pub fn no_entrypoint(phase: &str) -> Self {
        Self::new(404, 10003, &format!("could not find entrypoint ruleset in the {phase} phase"))
    }

    pub fn script_not_found() -> Self {
        Self::new(404, 10007, "workers.api.error.script_not_found")
    }

    pub fn route_missing() -> Self {
        Self::new(404, 10005, "Route not found")
    }

    pub fn lb_not_found(what: &str) -> Self {
        Self::new(404, 1003, &format!("{what} not found"))
    }

    pub fn envelope(&self) -> Value {
        json!({
            "success": false,
            "errors": [{ "code": self.code, "message": self.message }],
            "messages": [],
            "result": null,
        })
    }
}
