//! The provider conformance suite (`strata_testkit::conformance`) against the local Cloudflare
//! API (cloudflare-test-server), for `dns_record`, `cache_rules`, `worker`, `pool` and
//! `monitor` (its `header` is sensitive). Throttling is the server's own 429 with
//! `Retry-After`. Every test ends by asserting the server found no request invalid against
//! the official OpenAPI document. `worker_route` and `load_balancer` need other objects first
//! and are covered end to end (cli/tests/it/emulated/cloudflare.rs).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use strata_provider_cloudflare::{CloudflareConfig, CloudflareProvider, Token};
use strata_sdk::{Address, Provider, Resource};
use strata_testkit::cloudflare::{FaultKind, FaultRule, TestServer, assert_no_invalid_requests, server};
use strata_testkit::conformance::{self, ENV, Fixture, PROJECT, Sample, SensitiveSample};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Dns,
    CacheRules,
    Worker,
    Pool,
    Monitor,
}

struct CfFixture {
    kind: Kind,
    server: TestServer,
    provider: Arc<CloudflareProvider>,
    dir: tempfile::TempDir,
}

impl CfFixture {
    fn new(kind: Kind) -> Self {
        let server = server();
        let config = CloudflareConfig {
            account_id: Some(server.account_id().to_string()),
            zone: Some("example.com".into()),
            // The suite's checks run back to back; the provider's own limit is tested apart.
            requests_per_second: 1000.0,
            request_burst: 1000,
            ..CloudflareConfig::default()
        };
        let provider =
            CloudflareProvider::new(config, PROJECT, ENV).with_endpoint(server.url(), Token::new(server.token()));
        CfFixture { kind, server, provider: Arc::new(provider), dir: tempfile::tempdir().expect("tempdir") }
    }

    fn module(&self, name: &str, body: &str) -> Value {
        let path = self.dir.path().join(format!("{name}-{}.js", body.len()));
        let code = format!("export default {{ async fetch() {{ return new Response({body:?}); }} }};\n");
        std::fs::write(&path, &code).expect("write the module");
        let sha: String = {
            use sha2::Digest;
            sha2::Sha256::digest(code.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
        };
        json!({"name": "worker.js", "source": path.display().to_string(), "sha256": sha})
    }
}

fn resource(name: &str, kind: &str, attrs: Value) -> Resource {
    Resource {
        address: Address::from_segments(["resources", name]).expect("valid address"),
        provider: "cloudflare".into(),
        kind: kind.into(),
        attrs,
        depends_on: vec![],
    }
}

impl Fixture for CfFixture {
    fn describe(&self) -> String {
        format!("cloudflare {:?} (cloudflare-test-server)", self.kind)
    }

    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn sample(&self, name: &str) -> Sample {
        match self.kind {
            Kind::Dns => {
                let doc = |content: &str, proxied: bool| json!({"name": name, "type": "CNAME", "content": content, "proxied": proxied});
                Sample {
                    resource: resource(name, "dns_record", doc("origin.example.net", true)),
                    update: doc("other.example.net", false),
                }
            }
            Kind::CacheRules => {
                let doc = |ttl: u64| {
                    json!({"rules": [{
                        "ref": "static",
                        "expression": format!("http.request.uri.path matches \"^/{name}/\""),
                        "action_parameters": {"cache": true, "edge_ttl": {"mode": "override_origin", "default": ttl, "status_code_ttl": []}},
                    }]})
                };
                Sample { resource: resource(name, "cache_rules", doc(3600)), update: doc(60) }
            }
            Kind::Worker => {
                let doc = |body: &str| json!({"name": name, "module": self.module(name, body), "compatibility_date": "2024-09-01"});
                Sample { resource: resource(name, "worker", doc("first")), update: doc("second version") }
            }
            Kind::Pool => {
                let doc = |address: &str| json!({"name": name, "origins": [{"name": "origin-a", "address": address, "weight": 1}], "minimum_origins": 1});
                Sample {
                    resource: resource(name, "pool", doc("origin-a.example.net")),
                    update: doc("origin-b.example.net"),
                }
            }
            Kind::Monitor => {
                let doc = |path: &str| json!({"type": "https", "path": path, "expected_codes": "200", "interval": 60});
                Sample { resource: resource(name, "monitor", doc("/healthz")), update: doc("/ready") }
            }
        }
    }

    fn sensitive_sample(&self, name: &str) -> Option<SensitiveSample> {
        match self.kind {
            Kind::Monitor => {
                let doc = |secret: &str| {
                    json!({"type": "https", "path": "/healthz", "expected_codes": "200",
                        "header": {"Authorization": [format!("Bearer {secret}")]}})
                };
                Some(SensitiveSample {
                    sample: Sample {
                        resource: resource(name, "monitor", doc("first-secret-value")),
                        update: doc("second-secret-value"),
                    },
                    pointer: "/header/Authorization/0".into(),
                })
            }
            _ => None,
        }
    }

    fn throttle(&self, _address: &Address, requests: u32) -> Option<Duration> {
        self.server.knobs().add_fault(FaultRule {
            kind: FaultKind::TooManyRequests,
            count: Some(u64::from(requests)),
            probability: None,
            method: None,
            path: None,
            retry_after_secs: Some(1),
        });
        Some(Duration::from_secs(1))
    }
}

async fn run(kind: Kind) {
    let f = CfFixture::new(kind);
    conformance::run_all(&f).await;
    assert_no_invalid_requests(&f.server);
}

#[tokio::test]
async fn dns_record() {
    run(Kind::Dns).await;
}

#[tokio::test]
async fn cache_rules() {
    run(Kind::CacheRules).await;
}

#[tokio::test]
async fn worker() {
    run(Kind::Worker).await;
}

#[tokio::test]
async fn pool() {
    run(Kind::Pool).await;
}

#[tokio::test]
async fn monitor() {
    run(Kind::Monitor).await;
}
