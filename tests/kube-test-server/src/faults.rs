//! Test knobs: latency, injected faults and per-verb request counters.
//!
//! A [`Knobs`] handle is shared by the server and whoever controls it (the
//! CLI flags, the `/_test/` endpoints, or a Rust test holding a clone).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a request does, for counters and fault filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    /// A PATCH with `application/apply-patch+yaml` (server-side apply).
    Apply,
    Delete,
    /// `/version`, `/api…`, `/apis…` discovery documents and `/openapi`.
    Discovery,
    Other,
}

impl Verb {
    const ALL: [Verb; 10] = [
        Verb::Get,
        Verb::List,
        Verb::Watch,
        Verb::Create,
        Verb::Update,
        Verb::Patch,
        Verb::Apply,
        Verb::Delete,
        Verb::Discovery,
        Verb::Other,
    ];

    fn index(self) -> usize {
        Verb::ALL.iter().position(|v| *v == self).expect("every verb is in ALL")
    }
}

impl std::str::FromStr for Verb {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_lowercase())).map_err(|_| format!("unknown verb {s:?}"))
    }
}

/// How an injected failure manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// HTTP 429 with `Retry-After: 1` and a TooManyRequests Status.
    #[serde(rename = "429", alias = "too-many-requests")]
    TooManyRequests,
    /// HTTP 500 with an InternalError Status.
    #[serde(rename = "500", alias = "internal-error")]
    InternalError,
    /// The TCP connection is closed without any response.
    #[serde(rename = "drop")]
    Drop,
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("unknown fault kind {s:?} (expected 429, 500 or drop)"))
    }
}

/// One fault-injection rule. A request matches when it passes the `verb`
/// and `path` filters; a matching request then fails with `probability`
/// (always, if unset). With `count` set the rule fails that many requests
/// and then disappears; without it, it stays until cleared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<Verb>,
    /// Substring of the request path (query excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl FaultRule {
    /// A rule failing every request until cleared; narrow it with the
    /// builder methods.
    pub fn new(kind: FaultKind) -> Self {
        Self { kind, count: None, probability: None, verb: None, path: None }
    }

    pub fn times(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }

    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    pub fn verb(mut self, verb: Verb) -> Self {
        self.verb = Some(verb);
        self
    }

    pub fn path_contains(mut self, s: impl Into<String>) -> Self {
        self.path = Some(s.into());
        self
    }

    fn matches(&self, verb: Verb, path: &str) -> bool {
        self.verb.is_none_or(|v| v == verb) && self.path.as_deref().is_none_or(|p| path.contains(p))
    }
}

/// Request counts per verb, as served by `GET /_test/counters`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub get: u64,
    pub list: u64,
    pub watch: u64,
    pub create: u64,
    pub update: u64,
    pub patch: u64,
    pub apply: u64,
    pub delete: u64,
    pub discovery: u64,
    pub other: u64,
}

impl Counters {
    pub fn total(&self) -> u64 {
        Verb::ALL.iter().map(|v| self.get(*v)).sum()
    }

    pub fn get(&self, verb: Verb) -> u64 {
        match verb {
            Verb::Get => self.get,
            Verb::List => self.list,
            Verb::Watch => self.watch,
            Verb::Create => self.create,
            Verb::Update => self.update,
            Verb::Patch => self.patch,
            Verb::Apply => self.apply,
            Verb::Delete => self.delete,
            Verb::Discovery => self.discovery,
            Verb::Other => self.other,
        }
    }
}

/// The current knob settings, as served by `GET /_test/knobs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KnobsState {
    pub latency_ms: u64,
    pub faults: Vec<FaultRule>,
}

#[derive(Debug, Default)]
struct Inner {
    latency_ms: AtomicU64,
    faults: Mutex<Vec<FaultRule>>,
    counters: [AtomicU64; Verb::ALL.len()],
}

/// A cheap-to-clone handle on the knobs of one server.
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    inner: Arc<Inner>,
}

impl Knobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Delay added before every API request is handled.
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.inner.latency_ms.store(ms, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.inner.latency_ms.load(Ordering::Relaxed))
    }

    pub fn add_fault(&self, rule: FaultRule) {
        self.faults().push(rule);
    }

    /// Fails the next `n` API requests with `kind`.
    pub fn fail_next(&self, n: u64, kind: FaultKind) {
        self.add_fault(FaultRule::new(kind).times(n));
    }

    pub fn clear_faults(&self) {
        self.faults().clear();
    }

    pub fn state(&self) -> KnobsState {
        KnobsState { latency_ms: self.inner.latency_ms.load(Ordering::Relaxed), faults: self.faults().clone() }
    }

    pub fn counters(&self) -> Counters {
        let c = |v: Verb| self.inner.counters[v.index()].load(Ordering::Relaxed);
        Counters {
            get: c(Verb::Get),
            list: c(Verb::List),
            watch: c(Verb::Watch),
            create: c(Verb::Create),
            update: c(Verb::Update),
            patch: c(Verb::Patch),
            apply: c(Verb::Apply),
            delete: c(Verb::Delete),
            discovery: c(Verb::Discovery),
            other: c(Verb::Other),
        }
    }

    pub fn reset_counters(&self) {
        for c in &self.inner.counters {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Latency zero, no faults, counters zero.
    pub fn reset(&self) {
        self.set_latency(Duration::ZERO);
        self.clear_faults();
        self.reset_counters();
    }

    pub(crate) fn count(&self, verb: Verb) {
        self.inner.counters[verb.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Decides whether this request fails, consuming one use of a counted
    /// rule when it does.
    pub(crate) fn decide(&self, verb: Verb, path: &str) -> Option<FaultKind> {
        let mut faults = self.faults();
        let idx = faults
            .iter()
            .position(|r| r.matches(verb, path) && r.probability.is_none_or(|p| rand::random::<f64>() < p))?;
        let kind = faults[idx].kind;
        if let Some(n) = &mut faults[idx].count {
            *n = n.saturating_sub(1);
            if *n == 0 {
                faults.remove(idx);
            }
        }
        Some(kind)
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        // A panic while holding this lock cannot leave the list invalid.
        self.inner.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rule_expires_and_filters_apply() {
        let k = Knobs::new();
        k.add_fault(FaultRule::new(FaultKind::Drop).times(2).verb(Verb::Get).path_contains("configmaps"));
        assert_eq!(k.decide(Verb::List, "/api/v1/configmaps"), None);
        assert_eq!(k.decide(Verb::Get, "/api/v1/secrets/x"), None);
        assert_eq!(k.decide(Verb::Get, "/api/v1/namespaces/d/configmaps/x"), Some(FaultKind::Drop));
        assert_eq!(k.decide(Verb::Get, "/api/v1/namespaces/d/configmaps/x"), Some(FaultKind::Drop));
        assert_eq!(k.decide(Verb::Get, "/api/v1/namespaces/d/configmaps/x"), None);
        assert!(k.state().faults.is_empty());
    }

    #[test]
    fn probability_zero_never_fires() {
        let k = Knobs::new();
        k.add_fault(FaultRule::new(FaultKind::InternalError).probability(0.0));
        assert!((0..100).all(|_| k.decide(Verb::Get, "/x").is_none()));
    }

    #[test]
    fn rule_json_shape() {
        let r: FaultRule = serde_json::from_str(r#"{"kind":"429","count":3,"verb":"apply"}"#).unwrap();
        assert_eq!(r, FaultRule::new(FaultKind::TooManyRequests).times(3).verb(Verb::Apply));
        assert!(serde_json::from_str::<FaultRule>(r#"{"kind":"418"}"#).is_err());
    }
}
