//! The provider conformance suite (`strata_testkit::conformance`) against the local ARM
//! (azure-test-server) for `profile`, `afd_endpoint`, `origin_group` and `rule`: the child
//! kinds live in a profile the fixture creates first through the provider (so it carries the
//! suite's ownership marks). Throttling is the server's own 429 with `Retry-After`; long-running
//! operations take 50 ms. Every test ends by asserting the server found no request invalid
//! against the official Swagger documents.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use strata_provider_azure::{AzureConfig, AzureProvider, Credential};
use strata_sdk::{Address, Provider, Resource, ResourceChange};
use strata_testkit::azure::{
    DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, DEFAULT_TOKEN, FaultRule, TestServer, assert_no_invalid_requests,
    server,
};
use strata_testkit::conformance::{self, ENV, Fixture, PROJECT, Sample};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Profile,
    Endpoint,
    OriginGroup,
    Rule,
}

struct AzFixture {
    kind: Kind,
    server: TestServer,
    provider: Arc<AzureProvider>,
}

fn config() -> AzureConfig {
    AzureConfig {
        subscription_id: Some(DEFAULT_SUBSCRIPTION.into()),
        resource_group: Some(DEFAULT_RESOURCE_GROUP.into()),
        // The suite's checks run back to back; the provider's own limits are tested apart.
        reads_per_second: 25.0,
        writes_per_second: 10.0,
        request_burst: 200,
        ..AzureConfig::default()
    }
}

fn resource(name: &str, kind: &str, attrs: Value) -> Resource {
    Resource {
        address: Address::from_segments(["resources", name]).expect("valid address"),
        provider: "azure".into(),
        kind: kind.into(),
        attrs,
        depends_on: vec![],
    }
}

impl AzFixture {
    async fn new(kind: Kind) -> Self {
        let server = server();
        server.knobs().set_operation_delay(Duration::from_millis(50));
        server.knobs().set_poll_retry_after(0);
        let provider = Arc::new(AzureProvider::with_endpoint(
            config(),
            PROJECT,
            ENV,
            server.url(),
            Credential::Static(DEFAULT_TOKEN.into()),
        ));
        let f = AzFixture { kind, server, provider };
        if !matches!(kind, Kind::Profile) {
            // The parent objects, made through the provider so they carry the suite's marks.
            let setup = [
                ("profile", json!({"name": "shared", "sku": {"name": "Premium_AzureFrontDoor"}})),
                ("rule_set", json!({"name": "rules", "profile": "shared"})),
            ];
            for (kind, attrs) in setup {
                let r = resource(&format!("setup-{kind}").replace('_', "-"), kind, attrs);
                let change = ResourceChange { address: r.address, kind: r.kind.clone(), attrs: r.attrs, prior: None };
                let applied = f.provider.create(&change).await.expect("setup create");
                f.provider.wait(&r.kind, &applied).await.expect("setup wait");
            }
        }
        f
    }
}

impl Fixture for AzFixture {
    fn describe(&self) -> String {
        format!("azure {:?} (azure-test-server)", self.kind)
    }

    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }

    fn sample(&self, name: &str) -> Sample {
        match self.kind {
            Kind::Profile => {
                let doc = |timeout: u64| {
                    json!({"name": name, "sku": {"name": "Standard_AzureFrontDoor"}, "tags": {"team": "web"},
                        "properties": {"originResponseTimeoutSeconds": timeout}})
                };
                Sample { resource: resource(name, "profile", doc(60)), update: doc(120) }
            }
            Kind::Endpoint => {
                let doc =
                    |state: &str| json!({"name": name, "profile": "shared", "properties": {"enabledState": state}});
                Sample { resource: resource(name, "afd_endpoint", doc("Enabled")), update: doc("Disabled") }
            }
            Kind::OriginGroup => {
                let doc = |samples: u64| {
                    json!({"name": name, "profile": "shared", "properties": {
                        "loadBalancingSettings": {"sampleSize": 4, "successfulSamplesRequired": samples, "additionalLatencyInMilliseconds": 50},
                        "healthProbeSettings": {"probePath": "/healthz", "probeRequestType": "HEAD", "probeProtocol": "Https", "probeIntervalInSeconds": 100},
                        "sessionAffinityState": "Disabled"}})
                };
                Sample { resource: resource(name, "origin_group", doc(3)), update: doc(2) }
            }
            Kind::Rule => {
                let doc = |duration: &str| {
                    json!({"name": name.replace('-', ""), "profile": "shared", "rule_set": "rules", "properties": {
                        "order": 1,
                        "conditions": [{"name": "UrlPath", "parameters": {"typeName": "DeliveryRuleUrlPathMatchConditionParameters", "operator": "BeginsWith", "matchValues": ["/static/"]}}],
                        "actions": [{"name": "CacheExpiration", "parameters": {"typeName": "DeliveryRuleCacheExpirationActionParameters", "cacheBehavior": "Override", "cacheType": "All", "cacheDuration": duration}}]}})
                };
                Sample { resource: resource(name, "rule", doc("1.00:00:00")), update: doc("02:00:00") }
            }
        }
    }

    fn throttle(&self, _address: &Address, requests: u32) -> Option<Duration> {
        self.server.knobs().add_fault(FaultRule {
            status: 429,
            count: Some(u64::from(requests)),
            method: None,
            path: None,
            retry_after_secs: Some(1),
        });
        Some(Duration::from_secs(1))
    }
}

async fn run(kind: Kind) {
    let f = AzFixture::new(kind).await;
    conformance::run_all(&f).await;
    assert_no_invalid_requests(&f.server);
}

#[tokio::test]
async fn profile() {
    run(Kind::Profile).await;
}

#[tokio::test]
async fn afd_endpoint() {
    run(Kind::Endpoint).await;
}

#[tokio::test]
async fn origin_group() {
    run(Kind::OriginGroup).await;
}

#[tokio::test]
async fn rule() {
    run(Kind::Rule).await;
}
