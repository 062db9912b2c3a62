//! A local Kubernetes API server for tests.
//!
//! It speaks enough of the real API for `kubectl` and kube-rs: discovery,
//! CRUD with label/field selectors and paging, merge/JSON patches,
//! server-side apply with field ownership (`managedFields`), and
//! CustomResourceDefinitions that make their kinds servable. Plain HTTP, no
//! auth, everything in memory. See the crate README (`README.md`) for the
//! exact behaviour and its simplifications.
//!
//! Tests start it in-process:
//!
//! ```no_run
//! let server = kube_test_server::spawn_for_tests();
//! server.knobs().fail_next(1, kube_test_server::FaultKind::TooManyRequests);
//! // … point a client at server.url() …
//! assert_eq!(server.knobs().counters().get, 0);
//! ```

mod api;
mod discovery;
mod error;
mod faults;
mod finalizers;
mod kinds;
mod listmap;
mod managed;
mod openapi;
mod patch;
mod protobuf;
mod quantity;
mod registry;
mod routes;
mod selectors;
mod server;
mod store;
mod table;
mod watch;

use std::net::SocketAddr;

pub use faults::{Counters, FaultKind, FaultRule, Knobs, KnobsState, Verb};
pub use server::serve_with_shutdown;

/// Serves the API on `listener` forever (until the task is dropped).
pub async fn serve(listener: tokio::net::TcpListener, knobs: Knobs) -> std::io::Result<()> {
    serve_with_shutdown(listener, knobs, std::future::pending()).await
}

/// A server running on its own thread and runtime, so it works from both
/// plain `#[test]`s and async tests. Dropping it stops the server.
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
/// If no loopback port can be bound or the thread cannot be started.
pub fn spawn_for_tests() -> TestServer {
    spawn_with_knobs(Knobs::new())
}

/// Like [`spawn_for_tests`], sharing the given knobs (set them up before
/// the first request, or keep a clone to change them later).
///
/// # Panics
/// If no loopback port can be bound or the thread cannot be started.
pub fn spawn_with_knobs(knobs: Knobs) -> TestServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("make the listener non-blocking");
    let addr = listener.local_addr().expect("listener address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server_knobs = knobs.clone();
    let thread = std::thread::Builder::new()
        .name(format!("kube-test-server-{}", addr.port()))
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
                if let Err(e) = serve_with_shutdown(listener, server_knobs, stop).await {
                    eprintln!("kube-test-server stopped: {e}");
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

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The live knobs of this server.
    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }

    /// A kubeconfig (YAML) pointing at this server, for clients that want
    /// one (`KUBECONFIG=…`, `kube::Config::from_custom_kubeconfig`).
    pub fn kubeconfig(&self) -> String {
        kubeconfig_for(&self.url)
    }
}

/// A minimal kubeconfig with a single context for `url`, namespace
/// `default`, and no credentials.
pub fn kubeconfig_for(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\ncurrent-context: test\nusers:\n- name: test\n  user: {{}}\n"
    )
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
