//! The ARM client: bearer auth, `api-version`, the provider's own read and write rate limits
//! kept in step with ARM's `x-ms-ratelimit-remaining-subscription-*` headers, the error
//! envelope, `nextLink` paging, and the polling of long-running operations.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use crate::auth::TokenSource;
use crate::error::{AzureError, Result};

pub const API_VERSION: &str = "2025-06-01";
/// The longest a long-running operation is waited for.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(3600);
/// The poll interval when ARM gives no `Retry-After` (or 0).
const DEFAULT_POLL: Duration = Duration::from_millis(500);

/// A token bucket; `sync` lowers it to what the server says is left.
struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(rate: f64, burst: u32) -> Self {
        Bucket { rate, burst: f64::from(burst), state: Mutex::new((f64::from(burst), Instant::now())) }
    }

    async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(self.burst);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.0) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The subscription's bucket is shared with every other client of it: when ARM reports
    /// fewer tokens left than we think we have, we have fewer.
    fn sync(&self, remaining: f64) {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if remaining < s.0 {
            s.0 = remaining;
        }
    }
}

/// One ARM answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// `Azure-AsyncOperation`, else `Location`, when the operation continues.
    pub operation: Option<String>,
    pub retry_after: Option<Duration>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    tokens: TokenSource,
    reads: Bucket,
    writes: Bucket,
    sent: AtomicU64,
}

fn header_secs(resp: &reqwest::Response, name: &str) -> Option<Duration> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
}

/// `GET /subscriptions/{}/.../originGroups/{}` for messages (names are not secrets, but the
/// template keeps messages stable).
fn operation_name(method: &Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let tail: Vec<&str> = path.split("/providers/Microsoft.Cdn/").nth(1).unwrap_or(path).split('/').collect();
    format!("{method} {}", tail.join("/"))
}

impl Client {
    pub fn new(base: String, tokens: TokenSource, reads: (f64, u32), writes: (f64, u32), timeout: Duration) -> Client {
        // The process-wide crypto provider is ring (the CLI installs it too).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Client {
            http,
            base,
            tokens,
            reads: Bucket::new(reads.0, reads.1),
            writes: Bucket::new(writes.0, writes.1),
            sent: AtomicU64::new(0),
        }
    }

    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn mask(&self, message: String) -> String {
        self.tokens.mask(message)
    }

    /// `path` is an ARM path (`/subscriptions/...`) or a full URL ARM gave us (`nextLink`,
    /// `Azure-AsyncOperation`), which already carries its `api-version`.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer> {
        let operation = operation_name(&method, path);
        let token = self.tokens.token(&self.http).await?;
        let write = method != Method::GET;
        if write {
            self.writes.acquire().await
        } else {
            self.reads.acquire().await
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}?api-version={API_VERSION}", self.base)
        };
        let mut req = self.http.request(method, &url).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| AzureError::Transport { operation: operation.clone(), message: self.mask(error_chain(&e)) })?;
        let status = resp.status().as_u16();
        let header = if write {
            "x-ms-ratelimit-remaining-subscription-writes"
        } else {
            "x-ms-ratelimit-remaining-subscription-reads"
        };
        if let Some(left) = resp.headers().get(header).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<f64>().ok())
        {
            if write { self.writes.sync(left) } else { self.reads.sync(left) }
        }
        let retry_after = header_secs(&resp, "retry-after");
        let operation_url = ["azure-asyncoperation", "location"]
            .iter()
            .find_map(|h| resp.headers().get(*h).and_then(|v| v.to_str().ok()).map(str::to_string));
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| AzureError::Transport { operation: operation.clone(), message: self.mask(error_chain(&e)) })?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| AzureError::Decode {
                operation: operation.clone(),
                message: format!("HTTP {status}, not JSON: {e}"),
            })?
        };
        if (200..300).contains(&status) {
            return Ok(Answer { status, body, operation: operation_url, retry_after });
        }
        Err(AzureError::Api {
            operation,
            status,
            code: body["error"]["code"].as_str().unwrap_or("Unknown").to_string(),
            message: self.mask(body["error"]["message"].as_str().unwrap_or("(no message)").to_string()),
            retry_after,
        })
    }

    /// Every item of a collection, following `nextLink`.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = path.to_string();
        loop {
            let page = self.send(Method::GET, &next, None).await?;
            items.extend(page.body["value"].as_array().cloned().unwrap_or_default());
            match page.body["nextLink"].as_str() {
                Some(link) if !link.is_empty() => next = link.to_string(),
                _ => return Ok(items),
            }
        }
    }

    /// Polls an operation URL until it ends, honouring `Retry-After` (also on 429: polling is
    /// not retried by the engine, so throttling is waited out here).
    pub async fn wait(&self, url: &str, resource: &str, first_delay: Option<Duration>) -> Result<()> {
        let deadline = Instant::now() + OPERATION_TIMEOUT;
        let mut delay = first_delay.unwrap_or(DEFAULT_POLL);
        loop {
            tokio::time::sleep(if delay.is_zero() { Duration::from_millis(50) } else { delay }).await;
            let answer = match self.send(Method::GET, url, None).await {
                Ok(a) => a,
                Err(AzureError::Api { status, retry_after, .. }) if status == 429 || status >= 500 => {
                    delay = retry_after.unwrap_or(DEFAULT_POLL);
                    if Instant::now() > deadline {
                        return Err(timeout(resource));
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Azure-AsyncOperation answers a status document; a Location URL answers 202 while
            // running and 200/204 when done.
            let status = answer.body["status"].as_str().map(str::to_string);
            match status.as_deref() {
                Some("Succeeded") => return Ok(()),
                Some(s @ ("Failed" | "Canceled")) => {
                    return Err(AzureError::Operation {
                        resource: resource.to_string(),
                        status: s.to_string(),
                        message: self
                            .mask(answer.body["error"]["message"].as_str().unwrap_or("(no message)").to_string()),
                    });
                }
                None if answer.status != 202 => return Ok(()),
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(timeout(resource));
            }
            delay = answer.retry_after.unwrap_or(DEFAULT_POLL);
        }
    }
}

fn timeout(resource: &str) -> AzureError {
    AzureError::Operation {
        resource: resource.into(),
        status: "unfinished".into(),
        message: "not done after an hour".into(),
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bucket_follows_what_arm_says_is_left() {
        let b = Bucket::new(20.0, 10);
        let started = Instant::now();
        b.acquire().await;
        assert!(started.elapsed() < Duration::from_millis(20), "a full bucket answers at once");
        // ARM reports nothing left for the subscription: the next request waits a refill.
        b.sync(0.0);
        b.acquire().await;
        assert!(started.elapsed() >= Duration::from_millis(45), "{:?}", started.elapsed());
        // A higher remaining count never adds tokens.
        b.sync(1000.0);
        assert!(b.state.lock().unwrap().0 < 1.0);
    }
}
