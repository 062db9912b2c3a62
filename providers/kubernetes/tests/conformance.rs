//! The provider conformance suite (`strata_testkit::conformance`) for the Kubernetes provider,
//! against an in-process kube-test-server: ConfigMaps as the sample kind, a Secret for the
//! sensitive-attribute check, and the server's fault knobs (HTTP 429 with `Retry-After: 1`) for
//! throttling. Each test starts its own server.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use strata_provider_kubernetes::{KubernetesConfig, KubernetesProvider, OwnershipMarks};
use strata_sdk::{Address, Provider, Resource, ResourceChange};
use strata_testkit::conformance::{self, ENV, Fixture, PROJECT, Sample, SensitiveSample};
use strata_testkit::kube::{FaultKind, FaultRule, TestServer};

const NAMESPACE: &str = "conformance";

struct KubeFixture {
    server: TestServer,
    provider: Arc<KubernetesProvider>,
}

impl KubeFixture {
    /// A fresh server with the namespace the samples live in.
    async fn new() -> Self {
        let server = strata_testkit::kube::server();
        let config =
            KubernetesConfig { delete_timeout: Duration::from_secs(10), ..KubernetesConfig::for_server(server.url()) };
        let provider = Arc::new(KubernetesProvider::new(config, OwnershipMarks::new(PROJECT, ENV)).expect("provider"));
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
        let change = ResourceChange { address: address("ns"), kind: "v1/Namespace".into(), attrs: ns, prior: None };
        provider.create(&change).await.expect("create the samples' namespace");
        KubeFixture { server, provider }
    }
}

fn address(name: &str) -> Address {
    Address::from_segments(["resources", name]).expect("valid address")
}

fn resource(name: &str, kind: &str, attrs: Value) -> Resource {
    Resource { address: address(name), provider: "kubernetes".into(), kind: kind.into(), attrs, depends_on: vec![] }
}

fn config_map(name: &str, team: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"team": team}},
        "data": data,
    })
}

fn secret(name: &str, password: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "type": "Opaque",
        "data": {"password": password, "user": "YXBw"},
    })
}

impl Fixture for KubeFixture {
    fn describe(&self) -> String {
        "kubernetes v1/ConfigMap (kube-test-server)".into()
    }

    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn sample(&self, name: &str) -> Sample {
        Sample {
            resource: resource(name, "v1/ConfigMap", config_map(name, "web", json!({"mode": "a", "size": "1"}))),
            update: config_map(name, "edge", json!({"mode": "b", "size": "1", "extra": "x"})),
        }
    }

    fn sensitive_sample(&self, name: &str) -> Option<SensitiveSample> {
        Some(SensitiveSample {
            sample: Sample {
                // base64 of conformance-secret-one and conformance-secret-two
                resource: resource(name, "v1/Secret", secret(name, "Y29uZm9ybWFuY2Utc2VjcmV0LW9uZQ==")),
                update: secret(name, "Y29uZm9ybWFuY2Utc2VjcmV0LXR3bw=="),
            },
            pointer: "/data/password".into(),
        })
    }

    /// The next `requests` requests on ConfigMaps (GET, LIST, apply, DELETE) answer 429 with
    /// `Retry-After: 1`; discovery is left alone.
    fn throttle(&self, _address: &Address, requests: u32) -> Option<Duration> {
        self.server.knobs().add_fault(
            FaultRule::new(FaultKind::TooManyRequests).times(u64::from(requests)).path_contains("/configmaps"),
        );
        Some(Duration::from_secs(1))
    }
}

#[tokio::test]
async fn create() {
    conformance::create(&KubeFixture::new().await).await;
}

#[tokio::test]
async fn read_batched() {
    conformance::read_batched(&KubeFixture::new().await).await;
}

#[tokio::test]
async fn update() {
    conformance::update(&KubeFixture::new().await).await;
}

#[tokio::test]
async fn noop_replan() {
    conformance::noop_replan(&KubeFixture::new().await).await;
}

#[tokio::test]
async fn delete() {
    conformance::delete(&KubeFixture::new().await).await;
}

#[tokio::test]
async fn read_missing() {
    conformance::read_missing(&KubeFixture::new().await).await;
}

#[tokio::test]
async fn adoption_after_crash() {
    conformance::adoption_after_crash(&KubeFixture::new().await).await;
}

#[tokio::test]
async fn throttling() {
    conformance::throttling(&KubeFixture::new().await).await;
}

#[tokio::test]
async fn secrets_masked() {
    conformance::secrets_masked(&KubeFixture::new().await).await;
}
