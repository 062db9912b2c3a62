//! The provider conformance suite against the in-memory test provider: the suite's own
//! reference run (no emulator: the provider is its own remote side).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use strata_sdk::{Address, ErrorClass, KindSchema, PathPattern, Provider, Resource};
use strata_testkit::conformance::{self, Fixture, Sample, SensitiveSample};
use strata_testkit::{FailSpec, TestProvider};

/// The Retry-After the fixture's throttled calls carry.
const RETRY_AFTER: Duration = Duration::from_millis(200);

struct TestFixture {
    provider: Arc<TestProvider>,
}

impl TestFixture {
    fn new() -> Self {
        let vault = KindSchema { sensitive: vec![PathPattern::new("/password")], ..KindSchema::default() };
        TestFixture { provider: Arc::new(TestProvider::new().with_schema("vault", vault)) }
    }
}

fn resource(name: &str, kind: &str, attrs: serde_json::Value) -> Resource {
    Resource {
        address: Address::from_segments(["resources", name]).unwrap(),
        provider: "test".into(),
        kind: kind.into(),
        attrs,
        depends_on: vec![],
    }
}

impl Fixture for TestFixture {
    fn describe(&self) -> String {
        "test widget (in-memory)".into()
    }

    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn sample(&self, name: &str) -> Sample {
        Sample {
            resource: resource(name, "widget", json!({"size": 1, "label": name, "tags": {"team": "web"}})),
            update: json!({"size": 2, "label": name, "tags": {"team": "edge"}}),
        }
    }

    fn sensitive_sample(&self, name: &str) -> Option<SensitiveSample> {
        Some(SensitiveSample {
            sample: Sample {
                resource: resource(name, "vault", json!({"user": "app", "password": "hunter2-first"})),
                update: json!({"user": "app", "password": "hunter2-second"}),
            },
            pointer: "/password".into(),
        })
    }

    fn throttle(&self, address: &Address, requests: u32) -> Option<Duration> {
        self.provider.fail(
            address.as_str(),
            FailSpec { times: requests, class: ErrorClass::Retryable, retry_after: Some(RETRY_AFTER), op: Some("*") },
        );
        Some(RETRY_AFTER)
    }
}

#[tokio::test]
async fn create() {
    conformance::create(&TestFixture::new()).await;
}

#[tokio::test]
async fn read_batched() {
    conformance::read_batched(&TestFixture::new()).await;
}

#[tokio::test]
async fn update() {
    conformance::update(&TestFixture::new()).await;
}

#[tokio::test]
async fn noop_replan() {
    conformance::noop_replan(&TestFixture::new()).await;
}

#[tokio::test]
async fn delete() {
    conformance::delete(&TestFixture::new()).await;
}

#[tokio::test]
async fn read_missing() {
    conformance::read_missing(&TestFixture::new()).await;
}

#[tokio::test]
async fn adoption_after_crash() {
    conformance::adoption_after_crash(&TestFixture::new()).await;
}

#[tokio::test]
async fn throttling() {
    conformance::throttling(&TestFixture::new()).await;
}

#[tokio::test]
async fn secrets_masked() {
    conformance::secrets_masked(&TestFixture::new()).await;
}

/// All checks in sequence on one provider instance (one shared remote side).
#[tokio::test]
async fn run_all() {
    conformance::run_all(&TestFixture::new()).await;
}
