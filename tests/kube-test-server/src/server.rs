//! The HTTP layer: a hand-rolled accept loop around an axum router.
//!
//! axum::serve is not used because an injected "drop" fault must close the
//! TCP connection without writing a response; serving each connection with
//! hyper directly lets the service fail the connection instead.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Json, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::api;
use crate::discovery;
use crate::error::ApiError;
use crate::faults::{FaultKind, FaultRule, Knobs};
use crate::openapi;
use crate::routes::{self, Route};
use crate::store::Store;
use crate::watch;

/// Request bodies up to this size are accepted (CRDs with large schemas are
/// big; the whole Istio bundle is under 1 MiB, a single CRD far less).
const MAX_BODY: usize = 64 * 1024 * 1024;

struct AppState {
    store: Mutex<Store>,
    knobs: Knobs,
    address: String,
    log: bool,
}

impl AppState {
    fn store(&self) -> MutexGuard<'_, Store> {
        // Handlers do not panic mid-write in practice; if one did, serving
        // the possibly half-written state beats failing every later test.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The service erroring with this makes hyper close the connection without
/// a response: that is the "drop" fault.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection drop")
    }
}

impl std::error::Error for DropConnection {}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    knobs: Knobs,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let address = listener.local_addr()?.to_string();
    let state = Arc::new(AppState {
        store: Mutex::new(Store::new()),
        knobs: knobs.clone(),
        address,
        log: std::env::var_os("KUBE_TEST_SERVER_LOG").is_some_and(|v| !v.is_empty()),
    });
    let app = router(state);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Transient (e.g. out of file descriptors): keep serving.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let knobs = knobs.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                handle_with_knobs(app.clone(), knobs.clone(), req.map(Body::new))
            });
            // Errors here are clients going away or injected drops.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Applies counters, latency and faults, then runs the router. `/_test/`
/// requests bypass all three so tests can always reach the controls.
async fn handle_with_knobs(app: Router, knobs: Knobs, req: Request) -> Result<Response, DropConnection> {
    let route = routes::route(req.uri().path());
    if route != Route::Test {
        let content_type = header_str(req.headers(), header::CONTENT_TYPE);
        let verb = routes::classify(req.method(), &route, req.uri().query().unwrap_or_default(), content_type);
        knobs.count(verb);
        let latency = knobs.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match knobs.decide(verb, req.uri().path()) {
            Some(FaultKind::Drop) => return Err(DropConnection),
            Some(FaultKind::TooManyRequests) => {
                return Ok(ApiError::TooManyRequests.into_response());
            }
            Some(FaultKind::InternalError) => {
                return Ok(ApiError::Internal("Internal error occurred: injected fault".into()).into_response());
            }
            None => {}
        }
    }
    Ok(app.oneshot(req).await.unwrap_or_else(|never| match never {}))
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/_test/knobs", get(get_knobs))
        .route("/_test/latency", post(set_latency))
        .route("/_test/faults", get(get_knobs).post(add_fault).delete(clear_faults))
        .route("/_test/counters", get(get_counters))
        .route("/_test/reset-counters", post(reset_counters))
        .route("/_test/reset", post(reset_knobs))
        .route("/_test/reset-store", post(reset_store))
        .fallback(dispatch)
        .with_state(state)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

async fn dispatch(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method == Method::GET
        && let Route::Resource(path) = routes::route(uri.path())
        && is_watch(&uri)
    {
        return watch_response(&state, &uri, &headers, &path);
    }
    let result = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => serve_api(&state, &method, &uri, &headers, &bytes),
        Err(e) => Err(ApiError::BadRequest(format!("reading the request body: {e}"))),
    };
    let (status, body) = match result {
        Ok(ok) => ok,
        Err(e) => (e.code(), e.to_status()),
    };
    if state.log {
        eprintln!("{method} {uri} -> {}", status.as_u16());
    }
    json_response(status, &body)
}

fn serve_api(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(StatusCode, Value), ApiError> {
    let route = routes::route(uri.path());
    let ok = |v: Value| Ok((StatusCode::OK, v));
    let discovery_get = |v: Option<Value>| -> Result<(StatusCode, Value), ApiError> {
        if method != Method::GET {
            return Err(ApiError::MethodNotAllowed(format!("{method} is not supported on discovery endpoints")));
        }
        v.map(|v| (StatusCode::OK, v)).ok_or(ApiError::NoResource)
    };
    match route {
        Route::Version => ok(discovery::version()),
        Route::OpenApi => {
            let path = uri.path().trim_start_matches('/');
            let reg_doc = |reg: &crate::registry::Registry| match path.strip_prefix("openapi/v3") {
                Some("" | "/") => Some(openapi::root(reg)),
                Some(gv) => openapi::group_version_doc(reg, gv.trim_start_matches('/')),
                // `/openapi/v2`: no schemas are served.
                None => None,
            };
            discovery_get(reg_doc(state.store().registry()))
        }
        Route::Unknown | Route::Test => Err(ApiError::NoResource),
        Route::CoreVersions => discovery_get(Some(discovery::core_versions(&state.address))),
        Route::GroupList => discovery_get(Some(discovery::group_list(state.store().registry()))),
        Route::Group(g) => discovery_get(discovery::group(state.store().registry(), &g)),
        Route::ResourceList { group, version } => {
            discovery_get(discovery::resource_list(state.store().registry(), &group, &version))
        }
        Route::Resource(path) => {
            let query = query_map(uri)?;
            if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                return Err(ApiError::MethodNotAllowed("watch is not supported by this test server".into()));
            }
            let req = api::Request {
                method,
                path: &path,
                query: &query,
                content_type: header_str(headers, header::CONTENT_TYPE),
                accept: header_str(headers, header::ACCEPT),
                user_agent: header_str(headers, header::USER_AGENT),
                body,
            };
            let reply = api::handle(&mut state.store(), &req)?;
            Ok((reply.status, reply.body))
        }
    }
}

fn query_map(uri: &Uri) -> Result<HashMap<String, String>, ApiError> {
    Query::try_from_uri(uri).map(|Query(q)| q).map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))
}

fn is_watch(uri: &Uri) -> bool {
    query_map(uri).is_ok_and(|q| q.get("watch").is_some_and(|w| w == "true" || w == "1"))
}

/// Streams watch events; the body ends when the watch does.
fn watch_response(state: &AppState, uri: &Uri, headers: &HeaderMap, path: &routes::ResourcePath) -> Response {
    let started = query_map(uri).and_then(|query| {
        let req = api::Request {
            method: &Method::GET,
            path,
            query: &query,
            content_type: "",
            accept: header_str(headers, header::ACCEPT),
            user_agent: header_str(headers, header::USER_AGENT),
            body: &[],
        };
        watch::start(&state.store(), &req)
    });
    if state.log {
        eprintln!("WATCH {uri} -> {}", started.as_ref().map_or_else(|e| e.code().as_u16(), |_| 200));
    }
    match started {
        Ok(w) => {
            let stream = futures::stream::unfold(w, |mut w| async move {
                w.next().await.map(|line| (Ok::<_, std::convert::Infallible>(line), w))
            });
            let mut resp = Body::from_stream(stream).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn get_knobs(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, &json!(state.knobs.state()))
}

#[derive(serde::Deserialize)]
struct LatencyBody {
    ms: u64,
}

async fn set_latency(State(state): State<Arc<AppState>>, Json(body): Json<LatencyBody>) -> Response {
    state.knobs.set_latency(std::time::Duration::from_millis(body.ms));
    get_knobs(State(state)).await
}

async fn add_fault(State(state): State<Arc<AppState>>, Json(rule): Json<FaultRule>) -> Response {
    state.knobs.add_fault(rule);
    get_knobs(State(state)).await
}

async fn clear_faults(State(state): State<Arc<AppState>>) -> Response {
    state.knobs.clear_faults();
    get_knobs(State(state)).await
}

async fn get_counters(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, &json!(state.knobs.counters()))
}

async fn reset_counters(State(state): State<Arc<AppState>>) -> Response {
    state.knobs.reset_counters();
    get_counters(State(state)).await
}

/// Forgets every object (back to the initial namespaces) and ends all
/// watches, so one server process can be reused between test cases.
async fn reset_store(State(state): State<Arc<AppState>>) -> Response {
    *state.store() = Store::new();
    json_response(StatusCode::OK, &json!({}))
}

async fn reset_knobs(State(state): State<Arc<AppState>>) -> Response {
    state.knobs.reset();
    get_knobs(State(state)).await
}
