//! A local, stateful Compute Engine v1 API server for tests, covering the
//! global external load-balancing collections strata's GCP provider uses:
//! backendBuckets, backendServices, urlMaps, targetHttpsProxies,
//! targetHttpProxies, sslCertificates, globalForwardingRules,
//! globalAddresses and globalOperations.
//!
//! Routes, query parameters and request bodies are checked against Google's
//! discovery document (`$STRATA_API_SPECS/gcp/compute.v1.json`); errors use
//! Google's JSON envelope. Mutations answer with Operations that turn DONE
//! after a configurable delay; `requestId` deduplicates; `fingerprint` is
//! required and checked on update/patch (412 conditionNotMet); a bearer
//! token is required. See README.md for the exact behaviour.
//!
//! ```no_run
//! let server = gcp_test_server::spawn_for_tests();
//! server.knobs().rate_limit_next(1);
//! // … point a client at server.url() with server.knobs().token() …
//! assert_eq!(server.knobs().count("backendBuckets.insert"), 0);
//! ```

mod api;
mod discovery;
mod error;
mod knobs;
mod oauth;

use std::net::SocketAddr;
use std::sync::Arc;

pub use discovery::Discovery;
pub use error::ApiError;
pub use knobs::{DEFAULT_TOKEN, Knobs, KnobsState};

/// The API as an axum router (for in-process tests).
pub fn router(discovery: Arc<Discovery>, knobs: Knobs) -> axum::Router {
    api::router(Arc::new(api::Server::new(discovery, knobs)))
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    discovery: Arc<Discovery>,
    knobs: Knobs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(discovery, knobs)).with_graceful_shutdown(shutdown).await
}

/// Loads the discovery document from `$STRATA_API_SPECS/gcp/compute.v1.json`.
///
/// # Panics
/// If `STRATA_API_SPECS` is unset or the document cannot be read: a test
/// without its oracle fails, it does not skip.
pub fn discovery_for_tests() -> Arc<Discovery> {
    let path =
        Discovery::default_path().expect("STRATA_API_SPECS must point at the official API specs (see scripts/test.sh)");
    Arc::new(Discovery::load(&path).unwrap_or_else(|e| panic!("{e}")))
}

/// A server on its own thread and runtime; dropping it stops the server.
pub struct TestServer {
    addr: SocketAddr,
    url: String,
    knobs: Knobs,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a server on a free loopback port with default knobs.
///
/// # Panics
/// See [`discovery_for_tests`]; also if no loopback port can be bound.
pub fn spawn_for_tests() -> TestServer {
    spawn_with_knobs(Knobs::new())
}

/// Like [`spawn_for_tests`], sharing the given knobs.
///
/// # Panics
/// As [`spawn_for_tests`].
pub fn spawn_with_knobs(knobs: Knobs) -> TestServer {
    let discovery = discovery_for_tests();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("make the listener non-blocking");
    let addr = listener.local_addr().expect("listener address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server_knobs = knobs.clone();
    let thread = std::thread::Builder::new()
        .name(format!("gcp-test-server-{}", addr.port()))
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
                if let Err(e) = serve_with_shutdown(listener, discovery, server_knobs, stop).await {
                    eprintln!("gcp-test-server stopped: {e}");
                }
            });
        })
        .expect("spawn the server thread");
    TestServer { addr, url: format!("http://{addr}"), knobs, shutdown: Some(tx), thread: Some(thread) }
}

impl TestServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The Compute API base: `http://127.0.0.1:PORT/compute/v1`.
    pub fn compute_url(&self) -> String {
        format!("{}/compute/v1", self.url)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn knobs(&self) -> &Knobs {
        &self.knobs
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
