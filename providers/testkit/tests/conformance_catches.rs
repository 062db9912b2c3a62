//! Every conformance check can fail: each test here runs one check against the test provider
//! with one contract violation injected (a wrapper that breaks one call) and expects that check
//! to fail, naming itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use strata_sdk::{
    Address, Applied, DeleteRequest, ErrorClass, KindSchema, Observed, Ownership, PathPattern, Provider, ProviderError,
    ReadRequest, Resource, ResourceChange,
};
use strata_testkit::conformance::{self, Fixture, Sample, SensitiveSample};
use strata_testkit::{FailSpec, TestProvider};

/// One contract violation.
#[derive(Clone, Copy, PartialEq)]
enum Flaw {
    /// read returns a document that differs from what was created.
    ReadMangles,
    /// read returns its results in reverse order.
    ReadReversed,
    /// update answers Ok without changing anything.
    UpdateIgnored,
    /// read always shows the first document (an update is never seen as applied).
    ReadStale,
    /// delete answers Ok without deleting.
    DeleteIgnored,
    /// a missing object reads as a not_found error instead of Ok(None).
    MissingIsError,
    /// every create makes a new object id (not idempotent).
    CreateNotIdempotent,
    /// throttling errors lose their Retry-After.
    DropsRetryAfter,
    /// throttling errors are classified `other`.
    ThrottleNotRetryable,
    /// the kind's schema forgets its sensitive paths.
    ForgetsSensitive,
    /// a read of an object strata created calls it foreign.
    OwnsNothing,
}

struct Broken {
    inner: TestProvider,
    flaw: Flaw,
    ids: AtomicUsize,
    first_docs: std::sync::Mutex<std::collections::HashMap<String, Value>>,
}

#[async_trait]
impl Provider for Broken {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn schema(&self, kind: &str) -> KindSchema {
        if self.flaw == Flaw::ForgetsSensitive { KindSchema::default() } else { self.inner.schema(kind) }
    }

    async fn read(&self, requests: &[ReadRequest<'_>]) -> Vec<Result<Option<Observed>, ProviderError>> {
        let mut out = self.inner.read(requests).await;
        for (r, res) in requests.iter().zip(out.iter_mut()) {
            match (self.flaw, res) {
                (Flaw::ReadMangles, Ok(Some(o))) => o.attrs["size"] = json!(99),
                (Flaw::ReadStale, Ok(Some(o))) => {
                    if let Some(first) = self.first_docs.lock().unwrap().get(r.address.as_str()) {
                        o.attrs = first.clone();
                    }
                }
                (Flaw::OwnsNothing, Ok(Some(o))) => o.ownership = Ownership::Foreign { detail: "not ours".into() },
                (Flaw::MissingIsError, res @ Ok(None)) => *res = Err(ProviderError::not_found("gone")),
                (Flaw::DropsRetryAfter, Err(e)) => e.retry_after = None,
                (Flaw::ThrottleNotRetryable, Err(e)) => e.class = ErrorClass::Other,
                _ => {}
            }
        }
        if self.flaw == Flaw::ReadReversed {
            out.reverse();
        }
        out
    }

    async fn create(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        self.first_docs.lock().unwrap().entry(change.address.to_string()).or_insert_with(|| change.attrs.clone());
        let mut applied = self.inner.create(change).await.map_err(|mut e| {
            match self.flaw {
                Flaw::DropsRetryAfter => e.retry_after = None,
                Flaw::ThrottleNotRetryable => e.class = ErrorClass::Other,
                _ => {}
            }
            e
        })?;
        if self.flaw == Flaw::CreateNotIdempotent {
            applied.remote_id = format!("{}-{}", applied.remote_id, self.ids.fetch_add(1, Ordering::Relaxed));
        }
        Ok(applied)
    }

    async fn update(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        if self.flaw == Flaw::UpdateIgnored {
            return Ok(change.prior.clone().expect("an update has a prior"));
        }
        self.inner.update(change).await
    }

    async fn delete(&self, request: &DeleteRequest) -> Result<(), ProviderError> {
        if self.flaw == Flaw::DeleteIgnored {
            return Ok(());
        }
        self.inner.delete(request).await
    }
}

struct BrokenFixture {
    provider: Arc<Broken>,
}

impl BrokenFixture {
    fn new(flaw: Flaw) -> Self {
        let vault = KindSchema { sensitive: vec![PathPattern::new("/password")], ..KindSchema::default() };
        let inner = TestProvider::new().with_schema("vault", vault);
        BrokenFixture {
            provider: Arc::new(Broken { inner, flaw, ids: AtomicUsize::new(0), first_docs: Default::default() }),
        }
    }
}

fn resource(name: &str, kind: &str, attrs: Value) -> Resource {
    Resource {
        address: Address::from_segments(["resources", name]).unwrap(),
        provider: "test".into(),
        kind: kind.into(),
        attrs,
        depends_on: vec![],
    }
}

impl Fixture for BrokenFixture {
    fn describe(&self) -> String {
        "a deliberately broken test provider".into()
    }

    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn sample(&self, name: &str) -> Sample {
        Sample {
            resource: resource(name, "widget", json!({"size": 1, "label": name})),
            update: json!({"size": 2, "label": name}),
        }
    }

    fn sensitive_sample(&self, name: &str) -> Option<SensitiveSample> {
        Some(SensitiveSample {
            sample: Sample {
                resource: resource(name, "vault", json!({"password": "hunter2-first"})),
                update: json!({"password": "hunter2-second"}),
            },
            pointer: "/password".into(),
        })
    }

    fn throttle(&self, address: &Address, requests: u32) -> Option<Duration> {
        let after = Duration::from_millis(50);
        self.provider.inner.fail(
            address.as_str(),
            FailSpec { times: requests, class: ErrorClass::Retryable, retry_after: Some(after), op: Some("*") },
        );
        Some(after)
    }
}

#[tokio::test]
#[should_panic(expected = "conformance check `create` failed")]
async fn create_catches_a_read_that_differs() {
    conformance::create(&BrokenFixture::new(Flaw::ReadMangles)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `create` failed")]
async fn create_catches_foreign_ownership() {
    conformance::create(&BrokenFixture::new(Flaw::OwnsNothing)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `read_batched` failed")]
async fn read_batched_catches_results_out_of_order() {
    conformance::read_batched(&BrokenFixture::new(Flaw::ReadReversed)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `update` failed")]
async fn update_catches_an_ignored_update() {
    conformance::update(&BrokenFixture::new(Flaw::UpdateIgnored)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `noop_replan` failed")]
async fn noop_replan_catches_a_stale_read() {
    conformance::noop_replan(&BrokenFixture::new(Flaw::ReadStale)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `delete` failed")]
async fn delete_catches_an_ignored_delete() {
    conformance::delete(&BrokenFixture::new(Flaw::DeleteIgnored)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `read_missing` failed")]
async fn read_missing_catches_not_found_errors() {
    conformance::read_missing(&BrokenFixture::new(Flaw::MissingIsError)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `adoption_after_crash` failed")]
async fn adoption_catches_a_create_that_is_not_idempotent() {
    conformance::adoption_after_crash(&BrokenFixture::new(Flaw::CreateNotIdempotent)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `adoption_after_crash` failed")]
async fn adoption_catches_foreign_ownership() {
    conformance::adoption_after_crash(&BrokenFixture::new(Flaw::OwnsNothing)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `throttling` failed")]
async fn throttling_catches_a_lost_retry_after() {
    conformance::throttling(&BrokenFixture::new(Flaw::DropsRetryAfter)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `throttling` failed")]
async fn throttling_catches_a_wrong_class() {
    conformance::throttling(&BrokenFixture::new(Flaw::ThrottleNotRetryable)).await;
}

#[tokio::test]
#[should_panic(expected = "conformance check `secrets_masked` failed")]
async fn secrets_masked_catches_an_undeclared_secret() {
    conformance::secrets_masked(&BrokenFixture::new(Flaw::ForgetsSensitive)).await;
}
