//! Test controls shared between a test and its server: latency, long-running-operation delay,
//! throttling buckets, injected faults, accepted credentials, request counters and the log of
//! requests found invalid against the documents.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bearer token every server accepts unless told otherwise (besides the ones its token
/// endpoint issues).
pub const DEFAULT_TOKEN: &str = "azure-test-server-token";
/// The tenant, client id and secret the token endpoint accepts by default.
pub const DEFAULT_TENANT: &str = "00000000-0000-0000-0000-00000000aaaa";
pub const DEFAULT_CLIENT_ID: &str = "00000000-0000-0000-0000-00000000bbbb";
pub const DEFAULT_CLIENT_SECRET: &str = "azure-test-server-client-secret";
/// The federated assertion (workload identity token file content) accepted by default.
pub const DEFAULT_FEDERATED_ASSERTION: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c3RyYXRhIn0.c2lnbmF0dXJl";

/// One token bucket (ARM: per subscription, reads and writes apart).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub capacity: f64,
    /// Tokens added per second.
    pub refill: f64,
}

/// ARM's documented buckets: 250 reads refilled at 25/s, 200 writes at 10/s.
pub const ARM_READS: Bucket = Bucket { capacity: 250.0, refill: 25.0 };
pub const ARM_WRITES: Bucket = Bucket { capacity: 200.0, refill: 10.0 };

/// An injected fault: the next `count` (all when `None`) matching requests get `status`
/// (429 carries `Retry-After: retry_after_secs`, default 1).
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub status: u16,
    pub count: Option<u64>,
    /// Only this HTTP method (`PUT`).
    pub method: Option<String>,
    /// Only paths containing this text (case-insensitive).
    pub path: Option<String>,
    pub retry_after_secs: Option<u64>,
}

/// A request the server refused as invalid against the documents (400 with a validation
/// message, or an unknown route/method/api-version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    pub method: String,
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct KnobsState {
    pub latency: Duration,
    /// How long a long-running operation stays `InProgress`.
    pub operation_delay: Duration,
    /// The `Retry-After` (seconds) sent with 201/202 and with InProgress polls.
    pub poll_retry_after_secs: u64,
    /// The next N long-running operations end `Failed`.
    pub fail_operations_next: u64,
    pub reads: Bucket,
    pub writes: Bucket,
    pub faults: Vec<FaultRule>,
    /// Items per list page (the rest follows `nextLink`).
    pub page_size: usize,
    pub static_token: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    pub federated_assertion: String,
    /// Tokens the token endpoint issued.
    pub issued: BTreeSet<String>,
    pub counters: BTreeMap<String, u64>,
    pub invalid: Vec<InvalidRequest>,
}

/// The live knobs; clones share state.
#[derive(Debug, Clone)]
pub struct Knobs(Arc<Mutex<KnobsState>>);

impl Default for Knobs {
    fn default() -> Self {
        Self::new()
    }
}

impl Knobs {
    pub fn new() -> Self {
        Knobs(Arc::new(Mutex::new(KnobsState {
            latency: Duration::ZERO,
            operation_delay: Duration::ZERO,
            poll_retry_after_secs: 1,
            fail_operations_next: 0,
            reads: ARM_READS,
            writes: ARM_WRITES,
            faults: Vec::new(),
            page_size: 100,
            static_token: DEFAULT_TOKEN.into(),
            tenant: DEFAULT_TENANT.into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            federated_assertion: DEFAULT_FEDERATED_ASSERTION.into(),
            issued: BTreeSet::new(),
            counters: BTreeMap::new(),
            invalid: Vec::new(),
        })))
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut KnobsState) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub fn set_latency(&self, d: Duration) {
        self.with(|s| s.latency = d);
    }
    pub fn set_operation_delay(&self, d: Duration) {
        self.with(|s| s.operation_delay = d);
    }
    pub fn set_poll_retry_after(&self, secs: u64) {
        self.with(|s| s.poll_retry_after_secs = secs);
    }
    pub fn fail_operations_next(&self, n: u64) {
        self.with(|s| s.fail_operations_next = n);
    }
    pub fn set_buckets(&self, reads: Bucket, writes: Bucket) {
        self.with(|s| {
            s.reads = reads;
            s.writes = writes;
        });
    }
    pub fn set_page_size(&self, n: usize) {
        self.with(|s| s.page_size = n.max(1));
    }
    pub fn add_fault(&self, rule: FaultRule) {
        self.with(|s| s.faults.push(rule));
    }
    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }
    pub fn set_static_token(&self, token: impl Into<String>) {
        let t = token.into();
        self.with(|s| s.static_token = t);
    }
    /// The tenant, client id and secret the token endpoint accepts.
    pub fn set_client(&self, tenant: &str, client_id: &str, secret: &str) {
        self.with(|s| {
            s.tenant = tenant.into();
            s.client_id = client_id.into();
            s.client_secret = secret.into();
        });
    }
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.with(|s| s.counters.clone())
    }
    /// The counter `name` (an operationId such as `AFDOriginGroups_ListByProfile`, or
    /// `requests`, `reads`, `writes`, `throttled`, `rejected`, `operation_polls`, `tokens_issued`).
    pub fn count(&self, name: &str) -> u64 {
        self.with(|s| s.counters.get(name).copied().unwrap_or(0))
    }
    pub fn reset_counters(&self) {
        self.with(|s| s.counters.clear());
    }
    pub(crate) fn bump(&self, name: &str) {
        self.with(|s| *s.counters.entry(name.to_string()).or_default() += 1);
    }
    pub fn invalid_requests(&self) -> Vec<InvalidRequest> {
        self.with(|s| s.invalid.clone())
    }
    pub(crate) fn record_invalid(&self, r: InvalidRequest) {
        self.with(|s| s.invalid.push(r));
    }
    /// Takes a matching fault, if any.
    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultRule> {
        self.with(|s| {
            let lower = path.to_ascii_lowercase();
            let i = s.faults.iter().position(|f| {
                f.count != Some(0)
                    && f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                    && f.path.as_deref().is_none_or(|p| lower.contains(&p.to_ascii_lowercase()))
            })?;
            let rule = s.faults[i].clone();
            if let Some(c) = s.faults[i].count.as_mut() {
                *c -= 1;
            }
            Some(rule)
        })
    }
    pub(crate) fn take_operation_failure(&self) -> bool {
        self.with(|s| {
            if s.fail_operations_next > 0 {
                s.fail_operations_next -= 1;
                true
            } else {
                false
            }
        })
    }
}
