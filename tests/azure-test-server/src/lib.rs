//! A local, stateful Azure Resource Manager server for tests, serving the Microsoft.Cdn Front
//! Door Standard/Premium API (api-version 2025-06-01): profiles, AFD endpoints, origin groups,
//! origins, routes, rule sets, rules, custom domains, security policies and secrets.
//!
//! Every request is validated against the official Swagger 2.0 documents (`afdx.json` and
//! `cdn.json` under `$STRATA_API_SPECS/azure/...`, with their `$ref`s into ARM's
//! `common-types`): path template and method, path parameters, `api-version`, query
//! parameters, and the body schema (discriminated subtypes included). Errors use ARM's
//! envelope `{"error": {"code", "message"}}`. PUT/PATCH/DELETE are long-running operations
//! answered with `Azure-AsyncOperation` and `Location` headers and `Retry-After`, completed
//! after a configurable delay. Reads and writes draw from ARM's per-subscription token buckets
//! (429 `SubscriptionRequestsThrottled` + `Retry-After`, `x-ms-ratelimit-remaining-subscription-
//! reads/writes` on every answer). Requests need a bearer token: the static test token, or one
//! issued by the minimal Microsoft identity endpoint `POST /{tenant}/oauth2/v2.0/token`
//! (client credentials with a secret or a federated assertion). See README.md.
//!
//! ```no_run
//! let server = azure_test_server::spawn_for_tests();
//! // point a client at server.url() with azure_test_server::DEFAULT_TOKEN ...
//! assert!(server.knobs().invalid_requests().is_empty());
//! ```

mod arm;
mod error;
mod knobs;
pub mod schema;
mod server;
pub mod spec;

use std::net::SocketAddr;
use std::sync::Arc;

pub use error::ApiError;
pub use knobs::{
    ARM_READS, ARM_WRITES, Bucket, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_FEDERATED_ASSERTION,
    DEFAULT_TENANT, DEFAULT_TOKEN, FaultRule, InvalidRequest, Knobs,
};
pub use spec::{API_VERSION, Spec, default_spec_dir};

/// The subscription tests use by default (any subscription id is served).
pub const DEFAULT_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000001";
/// The resource group tests use by default (any resource group is served).
pub const DEFAULT_RESOURCE_GROUP: &str = "strata-test";

/// The API as an axum router (for in-process tests).
pub fn router(spec: Arc<Spec>, knobs: Knobs) -> axum::Router {
    server::router(server::App::new(spec, knobs))
}

fn serve_app(
    listener: tokio::net::TcpListener,
    app: Arc<server::App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> impl std::future::Future<Output = std::io::Result<()>> {
    axum::serve(listener, server::router(app)).with_graceful_shutdown(shutdown).into_future()
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    spec: Arc<Spec>,
    knobs: Knobs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(spec, knobs)).with_graceful_shutdown(shutdown).await
}

/// Loads the documents from [`default_spec_dir`].
///
/// # Panics
/// If they cannot be read: a test without its oracle fails, it does not skip.
pub fn spec_for_tests() -> Arc<Spec> {
    Spec::load(&default_spec_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// A server on its own thread and runtime; dropping it stops the server.
pub struct TestServer {
    addr: SocketAddr,
    url: String,
    knobs: Knobs,
    app: Arc<server::App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a server on a free loopback port with default knobs.
pub fn spawn_for_tests() -> TestServer {
    spawn_with_knobs(Knobs::new())
}

/// Like [`spawn_for_tests`], sharing the given knobs.
pub fn spawn_with_knobs(knobs: Knobs) -> TestServer {
    let spec = spec_for_tests();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("make the listener non-blocking");
    let addr = listener.local_addr().expect("listener address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = server::App::new(spec, knobs.clone());
    let served = app.clone();
    let thread = std::thread::Builder::new()
        .name(format!("azure-test-server-{}", addr.port()))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("build the server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("register the listener");
                let stop = async {
                    let _ = rx.await;
                };
                if let Err(e) = serve_app(listener, served, stop).await {
                    eprintln!("azure-test-server stopped: {e}");
                }
            });
        })
        .expect("spawn the server thread");
    TestServer { addr, url: format!("http://{addr}"), knobs, app, shutdown: Some(tx), thread: Some(thread) }
}

impl TestServer {
    /// `http://127.0.0.1:PORT` (both the ARM endpoint and the identity authority).
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }
    /// Resources the server holds (profiles and every child): zero after a full destroy.
    pub fn resource_count(&self) -> usize {
        let mut store = self.app.store();
        store.settle(&self.knobs);
        store.resources.len()
    }

    /// The stored document of a resource id (as GET returns it).
    pub fn resource(&self, id: &str) -> Option<serde_json::Value> {
        let mut store = self.app.store();
        store.settle(&self.knobs);
        store.resources.get(&id.to_ascii_lowercase()).map(|r| r.value.clone())
    }

    /// The resource group scope: `/subscriptions/S/resourceGroups/RG/providers/Microsoft.Cdn`.
    pub fn scope(subscription: &str, resource_group: &str) -> String {
        format!("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Cdn")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
