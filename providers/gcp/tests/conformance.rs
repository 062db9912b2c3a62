//! The provider conformance suite (`strata_testkit::conformance`) for the GCP provider against
//! an in-process gcp-test-server (Compute Engine v1, schemas from the discovery document):
//! backend buckets as the sample kind; the server's 429 knob for throttling (Compute Engine
//! sends no `Retry-After`). Each test starts its own server.

use std::sync::Arc;
use std::time::Duration;

use gcp_test_server::TestServer;
use serde_json::{Value, json};
use strata_provider_gcp::{GcpConfig, GcpProvider, OwnerMarks, TokenSource};
use strata_sdk::{Address, Provider, Resource};
use strata_testkit::conformance::{self, ENV, Fixture, PROJECT, Sample};

struct GcpFixture {
    server: TestServer,
    provider: Arc<GcpProvider>,
}

impl GcpFixture {
    fn new() -> Self {
        let server = gcp_test_server::spawn_for_tests();
        let config = GcpConfig {
            project: "conformance-project".into(),
            api_base_url: Some(server.compute_url()),
            credentials_file: None,
            requests_per_second: None,
        };
        let token = TokenSource::Static(server.knobs().token());
        let provider = Arc::new(GcpProvider::new(&config, OwnerMarks::new(PROJECT.into(), ENV.into()), token));
        GcpFixture { server, provider }
    }
}

fn bucket(name: &str, cdn: bool) -> Value {
    json!({"name": name, "bucketName": format!("{name}-assets"), "enableCdn": cdn})
}

impl Fixture for GcpFixture {
    fn describe(&self) -> String {
        "gcp backend_bucket (gcp-test-server)".into()
    }

    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn sample(&self, name: &str) -> Sample {
        Sample {
            resource: Resource {
                address: Address::from_segments(["resources", name]).expect("valid address"),
                provider: "gcp".into(),
                kind: "backend_bucket".into(),
                attrs: bucket(name, false),
                depends_on: vec![],
            },
            update: bucket(name, true),
        }
    }

    fn throttle(&self, _address: &Address, requests: u32) -> Option<Duration> {
        self.server.knobs().rate_limit_next(u64::from(requests));
        None
    }
}

#[tokio::test]
async fn create() {
    conformance::create(&GcpFixture::new()).await;
}

#[tokio::test]
async fn read_batched() {
    conformance::read_batched(&GcpFixture::new()).await;
}

#[tokio::test]
async fn update() {
    conformance::update(&GcpFixture::new()).await;
}

#[tokio::test]
async fn noop_replan() {
    conformance::noop_replan(&GcpFixture::new()).await;
}

#[tokio::test]
async fn delete() {
    conformance::delete(&GcpFixture::new()).await;
}

#[tokio::test]
async fn read_missing() {
    conformance::read_missing(&GcpFixture::new()).await;
}

#[tokio::test]
async fn adoption_after_crash() {
    conformance::adoption_after_crash(&GcpFixture::new()).await;
}

#[tokio::test]
async fn throttling() {
    conformance::throttling(&GcpFixture::new()).await;
}

#[tokio::test]
async fn secrets_masked() {
    conformance::secrets_masked(&GcpFixture::new()).await;
}
