//! The HTTP layer: hyper serving each connection, so an injected "drop" fault can close the
//! connection without an answer. Every API request passes, in order: counters, latency,
//! faults, authentication, the rate limit, validation against the OpenAPI document, then the
//! store. `/__admin/` requests skip all of that.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::error::ApiError;
use crate::knobs::{FaultKind, FaultRule, InvalidRequest, Knobs, RateLimit};
use crate::multipart;
use crate::spec::{RouteError, Spec};
use crate::store::{Call, Store};

/// Requests bodies above this are refused (Workers scripts are at most 10 MiB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What a server is started with.
#[derive(Clone)]
pub struct ServerConfig {
    /// The API token clients must send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The account every zone belongs to.
    pub account_id: String,
    /// Zones served from the start (more can be added through `/__admin/zones`).
    pub zones: Vec<String>,
    pub spec: Arc<Spec>,
}

/// The token tests use unless they pick one.
pub const DEFAULT_TOKEN: &str = "local-test-token";
/// The account id of a default server.
pub const DEFAULT_ACCOUNT_ID: &str = "0d37909e38d3e99c29fa2cd343ac421a";

pub(crate) struct App {
    pub config: ServerConfig,
    pub knobs: Knobs,
    pub store: Mutex<Store>,
}

impl App {
    pub fn new(config: ServerConfig, knobs: Knobs) -> Arc<App> {
        let mut store = Store::default();
        store.accounts.entry(config.account_id.clone()).or_default();
        for z in &config.zones {
            store.add_zone(z, &config.account_id);
        }
        Arc::new(App { config, knobs, store: Mutex::new(store) })
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        // A panicking handler would leave the store as it was before the write began.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The service failing with this makes hyper close the connection with no answer.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection drop")
    }
}

impl std::error::Error for DropConnection {}

pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(app.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

type Resp = Response<Full<Bytes>>;

fn json_response(status: u16, body: &Value, retry_after: Option<u64>) -> Resp {
    let mut b = Response::builder().status(status).header("content-type", "application/json");
    if let Some(s) = retry_after {
        b = b.header("retry-after", s.to_string());
    }
    b.body(Full::new(Bytes::from(body.to_string()))).expect("valid response")
}

fn error_response(e: &ApiError) -> Resp {
    json_response(e.status, &e.envelope(), e.retry_after)
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Resp, DropConnection> {
    let method = req.method().as_str().to_string();
    let raw_path = req.uri().path().to_string();
    let path = raw_path.strip_prefix("/client/v4").unwrap_or(&raw_path).to_string();
    let query = parse_query(req.uri().query().unwrap_or_default());
    let headers = req.headers().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(DropConnection),
    };
    if let Some(admin) = path.strip_prefix("/__admin/") {
        return Ok(admin_request(&app, &method, admin, &query, &body));
    }

    let op = app.config.spec.find(&method, &path);
    let route_key = match &op {
        Ok(o) => format!("{method} {}", o.template),
        Err(_) => format!("{method} (no route)"),
    };
    app.knobs.count(&route_key);
    let latency = app.knobs.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match app.knobs.decide(&method, &path) {
        Some((FaultKind::Drop, _)) => return Err(DropConnection),
        Some((FaultKind::TooManyRequests, after)) => return Ok(error_response(&ApiError::rate_limited(after))),
        Some((FaultKind::InternalError, _)) => {
            return Ok(error_response(&ApiError::new(500, 10001, "Internal server error (injected)")));
        }
        Some((FaultKind::Unavailable, _)) => {
            return Ok(error_response(&ApiError::new(503, 10001, "Service unavailable (injected)")));
        }
        None => {}
    }

    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token.filter(|t| *t == app.config.token) else {
        return Ok(error_response(&ApiError::unauthenticated()));
    };
    if let Err(wait) = app.knobs.admit(token) {
        return Ok(error_response(&ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)));
    }

    let invalid = |e: ApiError| {
        app.knobs.record_invalid(InvalidRequest {
            method: method.clone(),
            path: raw_path.clone(),
            status: e.status,
            code: e.code,
            message: e.message.clone(),
        });
        error_response(&e)
    };
    let op = match op {
        Ok(op) => op,
        Err(RouteError::NoRoute) => return Ok(invalid(ApiError::no_route())),
        Err(RouteError::MethodNotAllowed) => return Ok(invalid(ApiError::method_not_allowed())),
    };
    let problems = op.check_parameters(&query);
    if !problems.is_empty() {
        return Ok(invalid(ApiError::invalid_body(&format!("invalid request parameters: {}", problems.join("; ")))));
    }

    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let media = op.body_media_types();
    let mut json_body: Option<Value> = None;
    let mut parts: Option<Vec<multipart::Part>> = None;
    if body.len() > MAX_BODY {
        return Ok(invalid(ApiError::new(413, 10027, "request body too large")));
    }
    if body.is_empty() {
        // A body the document requires but gives no schema for (the DELETE operations) is
        // optional in practice: Cloudflare's own clients send none.
        if op.body_required() && op.body_has_schema() {
            return Ok(invalid(ApiError::invalid_body("this operation needs a request body")));
        }
    } else if media.is_empty() {
        return Ok(invalid(ApiError::invalid_body("this operation takes no request body")));
    } else if let Some(b) = multipart::boundary(&content_type) {
        if !media.iter().any(|m| m == "multipart/form-data") {
            return Ok(invalid(ApiError::invalid_body(&format!("unsupported content type {content_type}"))));
        }
        let ps = match multipart::parse(&body, &b) {
            Ok(ps) => ps,
            Err(e) => return Ok(invalid(ApiError::invalid_body(&format!("malformed multipart body: {e}")))),
        };
        if let Some(meta) = ps.iter().find(|p| p.name == "metadata") {
            let value: Value = match serde_json::from_slice(&meta.data) {
                Ok(v) => v,
                Err(e) => return Ok(invalid(ApiError::malformed_json(&e.to_string()))),
            };
            let violations = op.check_multipart_part("metadata", &value);
            if !violations.is_empty() {
                let list: Vec<String> = violations.iter().map(|v| format!("metadata{v}")).collect();
                return Ok(invalid(ApiError::invalid_body(&format!("invalid request body: {}", list.join("; ")))));
            }
        }
        parts = Some(ps);
    } else if content_type.split(';').next().is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json")) {
        if !media.iter().any(|m| m == "application/json") {
            return Ok(invalid(ApiError::invalid_body("this operation does not take JSON")));
        }
        let value: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return Ok(invalid(ApiError::malformed_json(&e.to_string()))),
        };
        let violations = op.check_json_body(&value);
        if !violations.is_empty() {
            let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
            return Ok(invalid(ApiError::invalid_body(&format!("invalid request body: {}", list.join("; ")))));
        }
        json_body = Some(value);
    } else {
        return Ok(invalid(ApiError::invalid_body(&format!(
            "unsupported content type `{content_type}`; this operation takes {}",
            media.join(", ")
        ))));
    }

    let operation_id = op.operation_id().to_string();
    let call = Call {
        operation_id: &operation_id,
        params: &op.params,
        query: &query,
        body: json_body.as_ref(),
        multipart: parts.as_deref(),
    };
    let reply = app.store().handle(&call);
    match reply {
        Ok(r) if operation_id == "worker-script-download-worker" => Ok(Response::builder()
            .status(200)
            .header("content-type", "application/javascript+module")
            .body(Full::new(Bytes::from(r.result.as_str().unwrap_or_default().to_string())))
            .expect("valid response")),
        Ok(r) => {
            let mut env = json!({"success": true, "errors": [], "messages": [], "result": r.result});
            if let Some(info) = r.result_info {
                env["result_info"] = info;
            }
            Ok(json_response(r.status, &env, None))
        }
        // Semantic refusals (a duplicate record, a missing pool) are the API's answers to
        // valid requests; they are not recorded as invalid.
        Err(e) => Ok(error_response(&e)),
    }
}

fn admin_request(app: &App, method: &str, path: &str, query: &[(String, String)], body: &[u8]) -> Resp {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let ok = |v: Value| json_response(200, &v, None);
    let bad = |m: String| json_response(400, &json!({"error": m}), None);
    match (method, path) {
        ("GET", "invalid") => ok(serde_json::to_value(app.knobs.invalid_requests()).unwrap_or_default()),
        ("GET", "counters") => ok(json!({
            "total": app.knobs.total_requests(),
            "rate_limited": app.knobs.rate_limited(),
            "routes": app.knobs.counters(),
        })),
        ("POST", "reset-counters") => {
            app.knobs.reset_counters();
            ok(json!({}))
        }
        ("PUT", "latency") => match body.get("ms").and_then(Value::as_u64) {
            Some(ms) => {
                app.knobs.set_latency(std::time::Duration::from_millis(ms));
                ok(json!({"ms": ms}))
            }
            None => bad("send {\"ms\": N}".into()),
        },
        ("POST", "faults") => match serde_json::from_value::<FaultRule>(body) {
            Ok(rule) => {
                app.knobs.add_fault(rule);
                ok(json!({}))
            }
            Err(e) => bad(e.to_string()),
        },
        ("DELETE", "faults") => {
            app.knobs.clear_faults();
            ok(json!({}))
        }
        ("PUT", "rate-limit") => {
            match (body.get("limit").and_then(Value::as_u64), body.get("window_secs").and_then(Value::as_f64)) {
                (Some(limit), Some(w)) if w > 0.0 => {
                    app.knobs.set_rate_limit(RateLimit { limit, window: std::time::Duration::from_secs_f64(w) });
                    ok(json!({}))
                }
                _ => bad("send {\"limit\": N, \"window_secs\": S}".into()),
            }
        }
        ("POST", "zones") => match body.get("name").and_then(Value::as_str) {
            Some(name) => {
                let id = app.store().add_zone(name, &app.config.account_id);
                ok(json!({"id": id, "name": name}))
            }
            None => bad("send {\"name\": \"example.com\"}".into()),
        },
        ("GET", "purges") => {
            let store = app.store();
            let zone = query.iter().find(|(k, _)| k == "zone_id").map(|(_, v)| v.as_str());
            let purges: Vec<Value> = store
                .zones
                .values()
                .filter(|z| zone.is_none_or(|id| z.id == id))
                .flat_map(|z| z.purges.clone())
                .collect();
            ok(Value::Array(purges))
        }
        _ => json_response(404, &json!({"error": format!("no admin endpoint {method} /__admin/{path}")}), None),
    }
}

/// `a=1&b=x%20y` → pairs, percent- and `+`-decoded.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
