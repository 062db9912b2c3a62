//! A local Cloudflare API v4 server for tests and for a sandbox without an account.
//!
//! It serves the operations strata's Cloudflare provider uses (zones lookup, DNS records,
//! phase entrypoint rulesets, Workers script uploads and routes, load balancers, pools,
//! monitors, cache purge), keeps what is created, and validates every request against the
//! official OpenAPI document (`shared/api-specs/cloudflare/openapi.json`): path, method,
//! path and query parameters, and the JSON (or multipart) body. Invalid requests get
//! Cloudflare's error envelope and are recorded ([`Knobs::invalid_requests`]), so a test can
//! fail on any. Requests need `Authorization: Bearer <token>`; a rate limit (1,200 requests
//! per five minutes per token, as Cloudflare's) answers 429 with `Retry-After`; knobs add
//! latency and faults and count requests per route. See README.md.
//!
//! ```no_run
//! let server = cloudflare_test_server::spawn_for_tests();
//! // point a client at server.url() with server.token() ...
//! assert!(server.knobs().invalid_requests().is_empty());
//! ```

mod error;
mod knobs;
mod multipart;
pub mod schema;
mod server;
mod spec;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;

pub use error::ApiError;
pub use knobs::{FaultKind, FaultRule, InvalidRequest, Knobs, RateLimit};
pub use server::{DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, ServerConfig};
pub use spec::{Spec, default_spec_path};
pub use store::zone_id_for;

/// The zone a default server serves.
pub const DEFAULT_ZONE: &str = "example.com";

impl ServerConfig {
    /// The default token, account and zone, with the document at [`default_spec_path`].
    pub fn from_default_spec() -> Result<ServerConfig, String> {
        Ok(ServerConfig {
            token: DEFAULT_TOKEN.into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            zones: vec![DEFAULT_ZONE.into()],
            spec: Spec::load(&default_spec_path())?,
        })
    }
}

/// Serves on `listener` until `shutdown` completes.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    knobs: Knobs,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    server::serve(listener, server::App::new(config, knobs), shutdown).await
}

/// A server on its own thread and runtime (plain and async tests alike); dropping it stops it.
pub struct TestServer {
    addr: SocketAddr,
    url: String,
    config: ServerConfig,
    knobs: Knobs,
    app: Arc<server::App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a server with the default config on a free loopback port.
///
/// # Panics
/// When the OpenAPI document cannot be read (set `STRATA_API_SPECS`) or no port can be bound.
pub fn spawn_for_tests() -> TestServer {
    let config = ServerConfig::from_default_spec().unwrap_or_else(|e| panic!("{e}"));
    spawn(config, Knobs::new())
}

/// Starts a server with `config` and `knobs` on a free loopback port.
pub fn spawn(config: ServerConfig, knobs: Knobs) -> TestServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let addr = listener.local_addr().expect("listener address");
    let app = server::App::new(config.clone(), knobs.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    let thread = std::thread::Builder::new()
        .name(format!("cloudflare-test-server-{}", addr.port()))
        .spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("register the listener");
                let stop = async {
                    let _ = rx.await;
                };
                if let Err(e) = server::serve(listener, served, stop).await {
                    eprintln!("cloudflare-test-server stopped: {e}");
                }
            });
        })
        .expect("spawn the server thread");
    TestServer {
        addr,
        url: format!("http://{addr}/client/v4"),
        config,
        knobs,
        app,
        shutdown: Some(tx),
        thread: Some(thread),
    }
}

impl TestServer {
    /// The API base URL: `http://127.0.0.1:PORT/client/v4`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token requests must carry.
    pub fn token(&self) -> &str {
        &self.config.token
    }

    pub fn account_id(&self) -> &str {
        &self.config.account_id
    }

    /// The id of a zone this server serves (added when it was not yet).
    pub fn zone_id(&self, name: &str) -> String {
        self.app.store().add_zone(name, &self.config.account_id)
    }

    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }

    /// Purge request bodies received for a zone, in order.
    pub fn purges(&self, zone_id: &str) -> Vec<serde_json::Value> {
        self.app.store().zones.get(zone_id).map(|z| z.purges.clone()).unwrap_or_default()
    }

    /// Number of objects the server holds (DNS records, entrypoint rules, routes, load
    /// balancers, scripts, pools, monitors): zero after a full destroy.
    pub fn object_count(&self) -> usize {
        let s = self.app.store();
        let zones: usize = s
            .zones
            .values()
            .map(|z| {
                z.dns_records.len()
                    + z.rulesets.values().map(|r| r["rules"].as_array().map_or(0, Vec::len)).sum::<usize>()
                    + z.routes.len()
                    + z.load_balancers.len()
            })
            .sum();
        let accounts: usize = s.accounts.values().map(|a| a.scripts.len() + a.pools.len() + a.monitors.len()).sum();
        zones + accounts
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
