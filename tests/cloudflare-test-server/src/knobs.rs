//! Test knobs: latency, injected faults, the rate limit, per-route request counters and the
//! record of invalid requests. A [`Knobs`] handle is shared by the server and whoever controls
//! it (CLI flags, the `/__admin/` endpoints, or a Rust test holding a clone).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How an injected failure shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// HTTP 429 with `Retry-After` and Cloudflare's rate-limit error (code 971).
    #[serde(rename = "429")]
    TooManyRequests,
    /// HTTP 500 with an internal error envelope.
    #[serde(rename = "500")]
    InternalError,
    /// HTTP 503 with a service-unavailable envelope.
    #[serde(rename = "503")]
    Unavailable,
    /// The TCP connection is closed without a response.
    #[serde(rename = "drop")]
    Drop,
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("unknown fault kind {s:?} (expected 429, 500, 503 or drop)"))
    }
}

/// One fault rule: requests whose method and path match fail, `count` times (always when
/// unset), each with `probability` (always when unset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    pub kind: FaultKind,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub probability: Option<f64>,
    /// Only requests of this HTTP method (`GET`, `PUT`, ...).
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path contains this string.
    #[serde(default)]
    pub path: Option<String>,
    /// `Retry-After` seconds sent with a 429 (default 1).
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

/// An invalid request the server answered with an error: tests assert there are none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub code: u32,
    pub message: String,
}

/// The rate limit: `limit` requests per `window` per token; a breach blocks the token until
/// `window` has passed since the breach (as Cloudflare blocks for five minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub window: Duration,
}

impl Default for RateLimit {
    /// Cloudflare's global API limit: 1,200 requests per five minutes per user.
    fn default() -> Self {
        RateLimit { limit: 1200, window: Duration::from_secs(300) }
    }
}

#[derive(Default)]
struct TokenWindow {
    /// Times of the requests inside the current window (sliding).
    recent: std::collections::VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

#[derive(Default)]
struct State {
    latency: Duration,
    faults: Vec<FaultRule>,
    rate_limit: RateLimit,
    windows: HashMap<String, TokenWindow>,
    /// Requests per `METHOD template` (the matched OpenAPI path), including rejected ones.
    counters: BTreeMap<String, u64>,
    total: u64,
    invalid: Vec<InvalidRequest>,
    rate_limited: u64,
}

/// Shared, cloneable handle on the knobs.
#[derive(Clone, Default)]
pub struct Knobs {
    state: Arc<Mutex<State>>,
}

impl Knobs {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    pub fn add_fault(&self, rule: FaultRule) {
        self.lock().faults.push(rule);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Fails the next `n` requests whose path contains `path` with `kind`.
    pub fn fail_next(&self, n: u64, kind: FaultKind, path: Option<&str>) {
        self.add_fault(FaultRule {
            kind,
            count: Some(n),
            probability: None,
            method: None,
            path: path.map(str::to_string),
            retry_after_secs: None,
        });
    }

    pub fn set_rate_limit(&self, limit: RateLimit) {
        let mut s = self.lock();
        s.rate_limit = limit;
        s.windows.clear();
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.lock().rate_limit
    }

    /// The fault to inject for this request, if any (consumes one of a rule's `count`).
    pub(crate) fn decide(&self, method: &str, path: &str) -> Option<(FaultKind, u64)> {
        let mut s = self.lock();
        let mut fired = None;
        for rule in s.faults.iter_mut() {
            if rule.method.as_deref().is_some_and(|m| !m.eq_ignore_ascii_case(method)) {
                continue;
            }
            if rule.path.as_deref().is_some_and(|p| !path.contains(p)) {
                continue;
            }
            if rule.count == Some(0) {
                continue;
            }
            if let Some(p) = rule.probability
                && rand::random::<f64>() >= p
            {
                continue;
            }
            if let Some(c) = rule.count.as_mut() {
                *c -= 1;
            }
            fired = Some((rule.kind, rule.retry_after_secs.unwrap_or(1)));
            break;
        }
        s.faults.retain(|r| r.count != Some(0));
        fired
    }

    /// Counts one request of `token` against the rate limit: `Err(retry_after)` when refused.
    pub(crate) fn admit(&self, token: &str) -> Result<(), Duration> {
        let mut s = self.lock();
        let limit = s.rate_limit;
        let now = Instant::now();
        let w = s.windows.entry(token.to_string()).or_default();
        if let Some(until) = w.blocked_until {
            if now < until {
                let wait = until - now;
                s.rate_limited += 1;
                return Err(wait);
            }
            w.blocked_until = None;
            w.recent.clear();
        }
        while w.recent.front().is_some_and(|t| now.duration_since(*t) >= limit.window) {
            w.recent.pop_front();
        }
        if w.recent.len() as u64 >= limit.limit {
            w.blocked_until = Some(now + limit.window);
            s.rate_limited += 1;
            return Err(limit.window);
        }
        w.recent.push_back(now);
        Ok(())
    }

    pub(crate) fn count(&self, route: &str) {
        let mut s = self.lock();
        s.total += 1;
        *s.counters.entry(route.to_string()).or_default() += 1;
    }

    pub(crate) fn record_invalid(&self, r: InvalidRequest) {
        self.lock().invalid.push(r);
    }

    /// Every invalid request answered so far.
    pub fn invalid_requests(&self) -> Vec<InvalidRequest> {
        self.lock().invalid.clone()
    }

    /// Requests per `METHOD /path/template`.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.lock().counters.clone()
    }

    /// All API requests received (admin requests excluded).
    pub fn total_requests(&self) -> u64 {
        self.lock().total
    }

    /// Requests refused by the rate limit.
    pub fn rate_limited(&self) -> u64 {
        self.lock().rate_limited
    }

    /// Zeroes the counters and forgets invalid requests (state and faults stay).
    pub fn reset_counters(&self) {
        let mut s = self.lock();
        s.counters.clear();
        s.total = 0;
        s.invalid.clear();
        s.rate_limited = 0;
    }
}
