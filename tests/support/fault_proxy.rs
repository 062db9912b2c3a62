//! An HTTP/1.1 proxy for tests that sits in front of a server (moto) and injects faults into a
//! fraction of requests: S3 `503 SlowDown` answers (valid S3 XML error bodies), connections
//! dropped before the request is forwarded, and connections dropped *after* the upstream applied
//! the request (the response is lost: the case where a retried conditional write meets its own
//! earlier success).
//!
//! It also forwards state-changing requests (PUT, POST, DELETE) to the upstream one at a time.
//! moto evaluates conditional requests (`If-None-Match: *`, `If-Match`, DynamoDB condition
//! expressions) check-then-act in a threaded server without a lock, so two concurrent
//! conditional PUTs can both succeed there (measured with moto 5.2.5: 16 concurrent
//! `If-None-Match: *` PUTs on one key had more than one winner in 2 of 100 rounds, `If-Match`
//! PUTs in 7 of 100). S3 evaluates them atomically; serializing the writes makes moto do the
//! same, while clients stay fully concurrent.
//!
//! Include with `#[path = "../../tests/support/fault_proxy.rs"] mod fault_proxy;`. Needs tokio,
//! hyper (http1, server, client), hyper-util (tokio), http-body-util and bytes. Listens on
//! 127.0.0.1 only; runs until dropped.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// Fault rates, each a fraction of requests (decided per request, independently of the others).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Answer `503 SlowDown` without forwarding.
    pub slow_down: f64,
    /// Close the connection without forwarding or answering.
    pub drop_before: f64,
    /// Forward, let the upstream apply the request, then close without answering.
    pub drop_after: f64,
    /// Deterministic: the next this many PUT/POST/DELETE requests are forwarded (applied) and
    /// their connections then closed without an answer. Other requests pass.
    pub lose_next_write_responses: u32,
    /// Deterministic: the next this many requests (any method) are answered `503 SlowDown`
    /// without forwarding (throttling, for the provider conformance suite).
    pub throttle_next: u32,
    /// A `Retry-After` (seconds) sent with every `503 SlowDown` answer.
    pub retry_after_secs: Option<u32>,
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub forwarded: AtomicU64,
    pub slow_down: AtomicU64,
    pub dropped_before: AtomicU64,
    pub dropped_after: AtomicU64,
}

impl Stats {
    pub fn summary(&self) -> String {
        format!(
            "{} requests: {} forwarded, {} SlowDown, {} dropped before forwarding, {} dropped after the upstream applied them",
            self.requests.load(Ordering::Relaxed),
            self.forwarded.load(Ordering::Relaxed),
            self.slow_down.load(Ordering::Relaxed),
            self.dropped_before.load(Ordering::Relaxed),
            self.dropped_after.load(Ordering::Relaxed),
        )
    }
}

pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub stats: Arc<Stats>,
    faults: Arc<Mutex<Faults>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A small deterministic generator (xorshift64*), so a failing run can be reproduced.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

enum Action {
    Forward,
    SlowDown,
    DropBefore,
    DropAfter,
}

/// An error that makes hyper close the connection without a response.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

fn slow_down(n: u64, retry_after_secs: Option<u32>) -> Response<Full<Bytes>> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>FAULT{n:08}</RequestId><HostId>fault-proxy</HostId></Error>"
    );
    let mut builder = Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header("content-type", "application/xml")
        .header("x-amz-request-id", format!("FAULT{n:08}"));
    if let Some(secs) = retry_after_secs {
        builder = builder.header("retry-after", secs.to_string());
    }
    builder.body(Full::new(Bytes::from(body))).expect("valid response")
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

struct Shared {
    stats: Arc<Stats>,
    faults: Arc<Mutex<Faults>>,
    rng: Arc<Mutex<Rng>>,
    upstream: String,
    writes: Arc<tokio::sync::Mutex<()>>,
}

async fn handle(s: Shared, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, BoxError> {
    let n = s.stats.requests.fetch_add(1, Ordering::Relaxed);
    let is_write = matches!(req.method().as_str(), "PUT" | "POST" | "DELETE");
    let _one_at_a_time = if is_write { Some(s.writes.clone().lock_owned().await) } else { None };
    let (action, retry_after_secs) = {
        let mut faults = s.faults.lock().unwrap();
        let f = *faults;
        let r = s.rng.lock().unwrap().next_f64();
        let action = if f.throttle_next > 0 {
            faults.throttle_next -= 1;
            Action::SlowDown
        } else if is_write && f.lose_next_write_responses > 0 {
            faults.lose_next_write_responses -= 1;
            Action::DropAfter
        } else if r < f.slow_down {
            Action::SlowDown
        } else if r < f.slow_down + f.drop_before {
            Action::DropBefore
        } else if r < f.slow_down + f.drop_before + f.drop_after {
            Action::DropAfter
        } else {
            Action::Forward
        };
        (action, f.retry_after_secs)
    };
    match action {
        Action::SlowDown => {
            s.stats.slow_down.fetch_add(1, Ordering::Relaxed);
            Ok(slow_down(n, retry_after_secs))
        }
        Action::DropBefore => {
            s.stats.dropped_before.fetch_add(1, Ordering::Relaxed);
            Err(Box::new(Dropped))
        }
        Action::DropAfter => {
            let _ = forward(&s.upstream, req).await;
            s.stats.dropped_after.fetch_add(1, Ordering::Relaxed);
            Err(Box::new(Dropped))
        }
        Action::Forward => {
            s.stats.forwarded.fetch_add(1, Ordering::Relaxed);
            match forward(&s.upstream, req).await {
                Ok(resp) => Ok(resp),
                Err(e) => Ok(Response::builder()
                    .status(StatusCode::BAD_GATEWAY)
                    .body(Full::new(Bytes::from(e.to_string())))
                    .expect("valid response")),
            }
        }
    }
}

async fn forward(upstream: &str, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, BoxError> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(Request::from_parts(parts, Full::new(body))).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

impl FaultProxy {
    /// A proxy without faults: only serializes writes (see the module docs).
    pub async fn linearizing(upstream: &str) -> FaultProxy {
        FaultProxy::start(upstream, Faults::default(), 1).await
    }

    /// Starts a proxy to `upstream` (`host:port` or `http://host:port`) on a free loopback port.
    /// `seed` makes the fault sequence reproducible. Must be called inside a tokio runtime.
    pub async fn start(upstream: &str, faults: Faults, seed: u64) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(Stats::default());
        let faults = Arc::new(Mutex::new(faults));
        let rng = Arc::new(Mutex::new(Rng(seed | 1)));
        let writes = Arc::new(tokio::sync::Mutex::new(()));
        let (s, f) = (stats.clone(), faults.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (stats, faults, rng, upstream) = (s.clone(), f.clone(), rng.clone(), upstream.clone());
                let writes = writes.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let shared = Shared {
                            stats: stats.clone(),
                            faults: faults.clone(),
                            rng: rng.clone(),
                            upstream: upstream.clone(),
                            writes: writes.clone(),
                        };
                        handle(shared, req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { endpoint, stats, faults, task }
    }

    /// Changes the fault rates from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// Changes some fault settings from now on, keeping the others.
    pub fn update_faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.faults.lock().unwrap());
    }
}
