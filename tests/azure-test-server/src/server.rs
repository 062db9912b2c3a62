//! Request handling in front of the store: the token endpoint, routing by the documents,
//! bearer auth, `api-version`, path and query parameters, body validation, injected faults,
//! ARM's subscription token buckets, latency, counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::arm::{self, Reply, Store};
use crate::error::ApiError;
use crate::knobs::{Bucket, InvalidRequest, Knobs};
use crate::schema::Validator;
use crate::spec::{API_VERSION, At, Operation, Spec};

pub struct App {
    pub(crate) spec: Arc<Spec>,
    pub(crate) knobs: Knobs,
    pub(crate) store: Mutex<Store>,
    /// (subscription, is_write) → (tokens, last refill).
    buckets: Mutex<HashMap<(String, bool), (f64, Instant)>>,
}

impl App {
    pub fn new(spec: Arc<Spec>, knobs: Knobs) -> Arc<App> {
        Arc::new(App { spec, knobs, store: Mutex::new(Store::default()), buckets: Mutex::new(HashMap::new()) })
    }

    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(token))
        .fallback(handle)
        .with_state(app)
}

/// One ARM request as the store sees it.
pub struct Request<'a> {
    pub op: &'a Operation,
    pub vars: BTreeMap<String, String>,
    /// The path as sent (the resource id, in the client's casing).
    pub path: String,
    pub base: String,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
}

async fn handle(State(app): State<Arc<App>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let latency = app.knobs.with(|s| s.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    app.knobs.bump("requests");
    match dispatch(&app, &method, &uri, &headers, &body) {
        Ok(reply) => reply.into_response(),
        Err(e) => {
            app.knobs.bump("rejected");
            e.into_response()
        }
    }
}

fn invalid(app: &App, method: &Method, uri: &Uri, e: ApiError) -> ApiError {
    app.knobs.record_invalid(InvalidRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        message: format!("{}: {}", e.code, e.message),
    });
    e
}

fn dispatch(app: &App, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Result<Reply, ApiError> {
    let path = uri.path().to_string();
    let query = parse_query(uri).map_err(|e| invalid(app, method, uri, e))?;
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let base = format!("http://{host}");
    if let Some(op_id) = arm::operation_path(&path) {
        authenticate(app, headers)?;
        check_api_version(&query).map_err(|e| invalid(app, method, uri, e))?;
        let subscription = path.split('/').nth(2).unwrap_or_default().to_string();
        let remaining = throttle(app, &subscription, false)?;
        app.knobs.bump("operation_polls");
        let mut store = app.store();
        store.settle(&app.knobs);
        let mut reply = store.poll(&op_id, path.ends_with("/result"), &app.knobs)?;
        reply.headers.push(("x-ms-ratelimit-remaining-subscription-reads".into(), remaining.to_string()));
        return Ok(reply);
    }
    let (op, vars) = match app.spec.route(method.as_str(), &path) {
        Ok(found) => found,
        Err(true) => {
            return Err(invalid(
                app,
                method,
                uri,
                ApiError::new(
                    405,
                    "MethodNotAllowed",
                    format!("The requested resource does not support http method '{method}'."),
                ),
            ));
        }
        Err(false) => {
            return Err(invalid(
                app,
                method,
                uri,
                ApiError::new(
                    404,
                    "InvalidResourceType",
                    format!("No operation of the Microsoft.Cdn documents matches '{method} {path}'."),
                ),
            ));
        }
    };
    authenticate(app, headers)?;
    check_api_version(&query).map_err(|e| invalid(app, method, uri, e))?;
    check_params(app, op, &vars, &query).map_err(|e| invalid(app, method, uri, e))?;
    if let Some(fault) = app.knobs.take_fault(method.as_str(), &path) {
        return Err(fault_error(&fault));
    }
    let write = *method != Method::GET;
    let subscription = vars.get("subscriptionId").cloned().unwrap_or_default();
    let remaining = throttle(app, &subscription, write)?;
    app.knobs.bump(&op.id);
    app.knobs.bump(if write { "writes" } else { "reads" });
    let body = parse_body(app, op, body).map_err(|e| invalid(app, method, uri, e))?;
    let request = Request { op, vars, path, base, query, body };
    let mut store = app.store();
    store.settle(&app.knobs);
    let mut reply = store.handle(&request, &app.knobs)?;
    let header = if write {
        "x-ms-ratelimit-remaining-subscription-writes"
    } else {
        "x-ms-ratelimit-remaining-subscription-reads"
    };
    reply.headers.push((header.into(), remaining.to_string()));
    Ok(reply)
}

fn parse_query(uri: &Uri) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(q) = uri.query() else { return Ok(BTreeMap::new()) };
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| ApiError::bad_request(format!("The query string '{q}' is malformed: {e}")))?
        .0;
    Ok(pairs.into_iter().collect())
}

fn check_api_version(query: &BTreeMap<String, String>) -> Result<(), ApiError> {
    match query.get("api-version") {
        None => Err(ApiError::new(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(v) if v == API_VERSION => Ok(()),
        Some(v) => Err(ApiError::new(
            400,
            "InvalidApiVersionParameter",
            format!("The api-version '{v}' is invalid. The supported versions are '{API_VERSION}'."),
        )),
    }
}

/// Path parameters against their declared limits; query parameters must be declared (plus the
/// `$skiptoken` of this server's own `nextLink`s on list operations).
fn check_params(
    app: &App,
    op: &Operation,
    vars: &BTreeMap<String, String>,
    query: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let validator = Validator::new(&app.spec);
    for p in op.params.iter().filter(|p| p.location == "path") {
        let Some(value) = vars.get(&p.name) else { continue };
        let violations = validator.validate(At { file: p.file, schema: &p.spec }, &Value::String(value.clone()));
        if let Some(v) = violations.first() {
            return Err(ApiError::new(
                400,
                "InvalidParameter",
                format!("The value '{value}' of path parameter '{}' is invalid: {}", p.name, v.message),
            ));
        }
    }
    let declared: Vec<&str> = op.params.iter().filter(|p| p.location == "query").map(|p| p.name.as_str()).collect();
    for key in query.keys() {
        let list = op.id.contains("_List");
        if !(declared.contains(&key.as_str()) || list && key == "$skiptoken") {
            return Err(ApiError::bad_request(format!("The query parameter '{key}' is not supported by {}.", op.id)));
        }
    }
    Ok(())
}

fn parse_body(app: &App, op: &Operation, body: &Bytes) -> Result<Option<Value>, ApiError> {
    let Some(param) = op.body() else { return Ok(None) };
    if body.is_empty() {
        if param.required {
            return Err(ApiError::invalid_content(format!(
                "The request content was invalid and could not be deserialized: the body parameter '{}' is required.",
                param.name
            )));
        }
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_content(format!("The request content was invalid and could not be deserialized: '{e}'."))
    })?;
    let schema = param.spec.get("schema").unwrap_or(&Value::Null);
    let violations = Validator::new(&app.spec).validate(At { file: param.file, schema }, &value);
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        return Err(ApiError::bad_request(format!(
            "The request body of {} is invalid against the '{}' schema: {}",
            op.id,
            param.name,
            list.join("; ")
        )));
    }
    Ok(Some(value))
}

fn authenticate(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let challenge = "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header.\"";
    let Some(value) = headers.get("authorization").and_then(|h| h.to_str().ok()) else {
        return Err(ApiError::new(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
        .with_header("www-authenticate", challenge));
    };
    let ok =
        value.strip_prefix("Bearer ").is_some_and(|t| app.knobs.with(|s| t == s.static_token || s.issued.contains(t)));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(401, "InvalidAuthenticationToken", "The access token is invalid.")
            .with_header("www-authenticate", challenge))
    }
}

fn fault_error(fault: &crate::knobs::FaultRule) -> ApiError {
    match fault.status {
        429 => ApiError::new(429, "TooManyRequests", "The request was throttled (injected fault).")
            .with_header("retry-after", fault.retry_after_secs.unwrap_or(1).to_string()),
        503 => ApiError::new(503, "ServiceUnavailable", "The service is temporarily unavailable (injected fault).")
            .with_header("retry-after", fault.retry_after_secs.unwrap_or(1).to_string()),
        s => ApiError::new(s, "InternalServerError", "An internal error occurred (injected fault)."),
    }
}

/// Takes one token from the subscription's read or write bucket; the remaining count, or 429
/// with the seconds until a token is back.
fn throttle(app: &App, subscription: &str, write: bool) -> Result<u64, ApiError> {
    let bucket: Bucket = app.knobs.with(|s| if write { s.writes } else { s.reads });
    let mut buckets = app.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    let entry = buckets.entry((subscription.to_string(), write)).or_insert((bucket.capacity, now));
    entry.0 = (entry.0 + now.duration_since(entry.1).as_secs_f64() * bucket.refill).min(bucket.capacity);
    entry.1 = now;
    if entry.0 >= 1.0 {
        entry.0 -= 1.0;
        return Ok(entry.0.floor() as u64);
    }
    app.knobs.bump("throttled");
    let wait = if bucket.refill > 0.0 { ((1.0 - entry.0) / bucket.refill).ceil().max(1.0) as u64 } else { 60 };
    let kind = if write { "write" } else { "read" };
    let header = if write {
        "x-ms-ratelimit-remaining-subscription-writes"
    } else {
        "x-ms-ratelimit-remaining-subscription-reads"
    };
    Err(ApiError::new(
        429,
        "SubscriptionRequestsThrottled",
        format!(
            "Number of '{kind}' requests for subscription '{subscription}' exceeded. Please try again after '{wait}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information."
        ),
    )
    .with_header("retry-after", wait.to_string())
    .with_header(header, "0"))
}

/// `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant, with a client secret or a
/// federated client assertion (workload identity), as the Microsoft identity platform answers.
async fn token(State(app): State<Arc<App>>, UrlPath(tenant): UrlPath<String>, body: Bytes) -> Response {
    let form: HashMap<String, String> = match axum::extract::Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{}", String::from_utf8_lossy(&body)).parse::<Uri>().unwrap_or_default(),
    ) {
        Ok(q) => q.0,
        Err(_) => return aad_error(400, "invalid_request", 900144, "The request body must contain a form."),
    };
    let (want_tenant, client_id, secret, assertion) = app
        .knobs
        .with(|s| (s.tenant.clone(), s.client_id.clone(), s.client_secret.clone(), s.federated_assertion.clone()));
    if tenant != want_tenant {
        return aad_error(400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
    }
    if !form.get("scope").is_some_and(|s| s.ends_with("/.default")) {
        return aad_error(
            400,
            "invalid_scope",
            1002012,
            "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
        );
    }
    if form.get("client_id") != Some(&client_id) {
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            "Application with the given identifier was not found in the directory.",
        );
    }
    let by_secret = form.get("client_secret").is_some_and(|s| *s == secret);
    let by_assertion = form.get("client_assertion_type").map(String::as_str)
        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        && form.get("client_assertion").is_some_and(|a| *a == assertion);
    if !by_secret && !by_assertion {
        return aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    let token = format!("eyJ0eXAiOiJKV1QifQ.{}.test", uuid::Uuid::new_v4().simple());
    app.knobs.with(|s| s.issued.insert(token.clone()));
    app.knobs.bump("tokens_issued");
    (
        StatusCode::OK,
        axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})),
    )
        .into_response()
}

fn aad_error(status: u16, error: &str, code: u32, description: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description}"),
        "error_codes": [code],
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": uuid::Uuid::new_v4().to_string(),
        "correlation_id": uuid::Uuid::new_v4().to_string(),
    });
    (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), axum::Json(body)).into_response()
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut resp = match self.body {
            Some(b) => (status, axum::Json(b)).into_response(),
            None => status.into_response(),
        };
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(&v)) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp.headers_mut().insert(
            "x-ms-request-id",
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static("0")),
        );
        resp
    }
}
