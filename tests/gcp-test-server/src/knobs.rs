//! Test controls shared between a test and its server: operation delay,
//! rate limiting, the accepted token, and request counters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct KnobsState {
    /// How long a mutation's Operation stays RUNNING before it is DONE.
    pub operation_delay: Duration,
    /// Added before every answer (the round trip to a far region).
    pub latency: Duration,
    /// The next N authenticated requests get 429 rateLimitExceeded.
    pub rate_limit_next: u64,
    /// The next N update/patch requests get 412 conditionNotMet, as if someone else had
    /// changed the object since the client read its fingerprint.
    pub fingerprint_conflict_next: u64,
    /// The bearer token the server accepts.
    pub token: String,
    /// Seconds a token from the token endpoint or the metadata server is valid.
    pub token_lifetime: u64,
    /// The service account the token endpoint knows: its email and RSA public key (PKCS#1 DER).
    pub service_account: Option<(String, Vec<u8>)>,
    /// The gcloud user the token endpoint knows: client id, client secret, refresh token.
    pub authorized_user: Option<(String, String, String)>,
    /// Requests per `resource.method` (`backendBuckets.insert`), plus `requests` (every
    /// request received, whatever its answer),
    /// `rejected` (any error answer), `rate_limited` and `deduplicated`
    /// (a mutation answered from its earlier `requestId`).
    pub counters: BTreeMap<String, u64>,
}

/// The live knobs; clones share state.
#[derive(Debug, Clone)]
pub struct Knobs(Arc<Mutex<KnobsState>>);

/// The token servers accept unless told otherwise.
pub const DEFAULT_TOKEN: &str = "gcp-test-server-token";

impl Default for Knobs {
    fn default() -> Self {
        Self::new()
    }
}

impl Knobs {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(KnobsState {
            operation_delay: Duration::ZERO,
            latency: Duration::ZERO,
            rate_limit_next: 0,
            fingerprint_conflict_next: 0,
            token: DEFAULT_TOKEN.to_string(),
            token_lifetime: 3600,
            service_account: None,
            authorized_user: None,
            counters: BTreeMap::new(),
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut KnobsState) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub fn set_operation_delay(&self, delay: Duration) {
        self.with(|s| s.operation_delay = delay);
    }
    pub fn operation_delay(&self) -> Duration {
        self.with(|s| s.operation_delay)
    }
    pub fn set_latency(&self, latency: Duration) {
        self.with(|s| s.latency = latency);
    }
    pub fn latency(&self) -> Duration {
        self.with(|s| s.latency)
    }
    pub fn rate_limit_next(&self, n: u64) {
        self.with(|s| s.rate_limit_next = n);
    }
    pub fn fingerprint_conflict_next(&self, n: u64) {
        self.with(|s| s.fingerprint_conflict_next = n);
    }
    /// Takes one fingerprint-conflict slot if any are left.
    pub(crate) fn take_fingerprint_conflict(&self) -> bool {
        self.with(|s| {
            if s.fingerprint_conflict_next > 0 {
                s.fingerprint_conflict_next -= 1;
                true
            } else {
                false
            }
        })
    }
    pub fn set_token(&self, token: impl Into<String>) {
        let token = token.into();
        self.with(|s| s.token = token);
    }
    pub fn token(&self) -> String {
        self.with(|s| s.token.clone())
    }
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.with(|s| s.token_lifetime = seconds);
    }
    pub fn token_lifetime(&self) -> u64 {
        self.with(|s| s.token_lifetime)
    }
    /// Registers the service account whose assertions the token endpoint accepts.
    pub fn set_service_account(&self, email: impl Into<String>, public_key_der: Vec<u8>) {
        let email = email.into();
        self.with(|s| s.service_account = Some((email, public_key_der)));
    }
    pub fn service_account(&self) -> Option<(String, Vec<u8>)> {
        self.with(|s| s.service_account.clone())
    }
    /// Registers the gcloud user credentials the token endpoint accepts.
    pub fn set_authorized_user(&self, client_id: &str, client_secret: &str, refresh_token: &str) {
        self.with(|s| s.authorized_user = Some((client_id.into(), client_secret.into(), refresh_token.into())));
    }
    pub fn authorized_user(&self) -> Option<(String, String, String)> {
        self.with(|s| s.authorized_user.clone())
    }
    /// A snapshot of the request counters.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.with(|s| s.counters.clone())
    }
    /// The counter `name` (0 when never hit).
    pub fn count(&self, name: &str) -> u64 {
        self.with(|s| s.counters.get(name).copied().unwrap_or(0))
    }
    pub fn reset_counters(&self) {
        self.with(|s| s.counters.clear());
    }
    pub(crate) fn bump(&self, name: &str) {
        self.with(|s| *s.counters.entry(name.to_string()).or_default() += 1);
    }
    /// Takes one rate-limit slot if any are left.
    pub(crate) fn take_rate_limit(&self) -> bool {
        self.with(|s| {
            if s.rate_limit_next > 0 {
                s.rate_limit_next -= 1;
                true
            } else {
                false
            }
        })
    }
}
