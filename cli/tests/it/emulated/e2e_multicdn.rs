//! End to end: a multi-CDN entry (`strategy:` over two CloudFront entries) with Route 53 DNS,
//! the built `strata` binary against moto.
//!
//! Weighted first: apply creates two distributions, one HTTPS health check per member and two
//! weighted CNAMEs (set identifier per member, each with its health check); a weight change
//! plans exactly one record update and applies it; switching to failover updates the two
//! records to PRIMARY/SECONDARY; destroy removes records, checks and distributions. And a
//! Cloudflare-fronted weighted entry against the local Cloudflare API.

use crate::moto;

use std::process::{Command, Output};

use aws_sdk_cloudfront::config::Credentials;
use serde_json::Value;

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/8d8f5c1e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";

fn member(name: &str) -> String {
    format!(
        "  {name}:\n    provider: cloudfront\n    origin: {{ domain: shop-{name}.s3.us-east-1.amazonaws.com }}\n    aliases: [www.example.com]\n    certificate: {CERT}\n"
    )
}

fn spec(edge: &str) -> String {
    format!(
        "version: 1\nproject: shop\nproviders:\n  aws: {{ region: us-east-1, wait_poll_interval_secs: 0.2, max_attempts: 2 }}\ncdn:\n{}{}{edge}",
        member("blue"),
        member("green")
    )
}

fn weighted(blue: u32, green: u32) -> String {
    format!(
        "  edge:\n    strategy: weighted\n    members: [ {{ name: blue, weight: {blue} }}, {{ name: green, weight: {green} }} ]\n    dns:\n      provider: route53\n      zone: example.com\n      record: www\n      health_check: {{ path: /healthz, interval: 10, threshold: 2 }}\n"
    )
}

const FAILOVER: &str = "  edge:\n    strategy: failover\n    members: [blue, green]\n    dns:\n      provider: route53\n      zone: example.com\n      record: www\n      health_check: { path: /healthz, interval: 10, threshold: 2 }\n";

struct World {
    moto: moto::Moto,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    cf: aws_sdk_cloudfront::Client,
    r53: aws_sdk_route53::Client,
    zone_id: String,
}

impl World {
    fn new() -> World {
        let moto = moto::Moto::start().unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sdk = rt.block_on(
            strata_provider_aws::sdk_loader()
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&moto.endpoint)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
                .load(),
        );
        let cf = aws_sdk_cloudfront::Client::new(&sdk);
        let r53 = aws_sdk_route53::Client::new(&sdk);
        let zone = rt
            .block_on(r53.create_hosted_zone().name("example.com").caller_reference("e2e-zone").send())
            .expect("create the hosted zone in moto");
        let zone_id = zone.hosted_zone.unwrap().id.trim_start_matches("/hostedzone/").to_string();
        World { moto, dir, rt, cf, r53, zone_id }
    }

    fn write(&self, text: &str) {
        std::fs::write(self.dir.path().join("strata.yaml"), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(STRATA)
            .current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.path().join("no-aws-credentials"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("STRATA_ENV")
            .output()
            .unwrap()
    }

    /// `(domain name, id)` of each distribution, by its first origin's bucket.
    fn distribution_domain(&self, member: &str) -> String {
        let out = self.rt.block_on(self.cf.list_distributions().send()).unwrap();
        let items = out.distribution_list.and_then(|l| l.items).unwrap_or_default();
        items
            .iter()
            .find(|d| {
                d.origins
                    .as_ref()
                    .is_some_and(|o| o.items.iter().any(|o| o.domain_name.contains(&format!("shop-{member}."))))
            })
            .map(|d| d.domain_name.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no distribution for {member}"))
    }

    fn health_checks(&self) -> Vec<aws_sdk_route53::types::HealthCheck> {
        self.rt.block_on(self.r53.list_health_checks().send()).unwrap().health_checks
    }

    /// The routed record sets of `www.example.com`, by set identifier.
    fn www(&self) -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
        let out = self.rt.block_on(self.r53.list_resource_record_sets().hosted_zone_id(&self.zone_id).send()).unwrap();
        let mut v: Vec<_> = out
            .resource_record_sets
            .into_iter()
            .filter(|r| r.name.trim_end_matches('.') == "www.example.com")
            .collect();
        v.sort_by(|a, b| a.set_identifier.cmp(&b.set_identifier));
        v
    }
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    o
}

#[test]
fn multicdn_route53_weighted_then_failover() {
    let w = World::new();
    w.write(&spec(&weighted(200, 55)));
    ok(w.run(&["validate"]));
    let out = ok(w.run(&["apply", "--auto-approve"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Resources: 6 added"), "{}", both(&out));

    // One HTTPS health check per member, on its distribution's domain.
    let checks = w.health_checks();
    assert_eq!(checks.len(), 2, "{checks:?}");
    let mut by_fqdn = std::collections::BTreeMap::new();
    for c in &checks {
        let cfg = c.health_check_config.as_ref().unwrap();
        assert_eq!(cfg.r#type.as_str(), "HTTPS");
        assert_eq!(cfg.resource_path.as_deref(), Some("/healthz"));
        assert_eq!((cfg.request_interval, cfg.failure_threshold), (Some(10), Some(2)));
        by_fqdn.insert(cfg.fully_qualified_domain_name.clone().unwrap().to_ascii_lowercase(), c.id.clone());
    }
    let (blue, green) = (w.distribution_domain("blue"), w.distribution_domain("green"));
    // Weighted CNAMEs, each to its member's domain and with its member's health check.
    let records = w.www();
    assert_eq!(records.len(), 2, "{records:?}");
    for (r, (set, weight, domain)) in records.iter().zip([("blue", 200, &blue), ("green", 55, &green)]) {
        assert_eq!(r.set_identifier.as_deref(), Some(set));
        assert_eq!(r.r#type.as_str(), "CNAME");
        assert_eq!(r.weight, Some(weight));
        assert_eq!(r.resource_records()[0].value.trim_end_matches('.'), domain.as_str());
        assert_eq!(r.health_check_id.as_ref(), by_fqdn.get(domain.as_str()), "{r:?}");
    }
    let o = ok(w.run(&["plan", "--detailed-exitcode"]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("No changes."), "{}", both(&o));

    // A weight change: exactly one record update, nothing else.
    w.write(&spec(&weighted(150, 55)));
    let o = ok(w.run(&["plan", "--json"]));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changed: Vec<&Value> = plan["changes"].as_array().unwrap().iter().filter(|c| c["action"] != "no-op").collect();
    assert_eq!(changed.len(), 1, "{plan:#}");
    assert_eq!(
        (changed[0]["address"].as_str(), changed[0]["action"].as_str()),
        (Some("cdn.edge.record.blue"), Some("update"))
    );
    let attrs = changed[0]["attributes"].as_array().unwrap();
    assert_eq!(attrs.len(), 1, "{attrs:#?}");
    assert_eq!(attrs[0]["pointer"], serde_json::json!(["weight"]));
    ok(w.run(&["apply", "--auto-approve"]));
    assert_eq!(w.www()[0].weight, Some(150));
    assert_eq!(w.health_checks().len(), 2, "the checks are untouched");

    // Failover: the same two records, now PRIMARY (first member) and SECONDARY.
    w.write(&spec(FAILOVER));
    let o = ok(w.run(&["plan", "--json"]));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changed: Vec<String> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| format!("{} {}", c["action"].as_str().unwrap(), c["address"].as_str().unwrap()))
        .collect();
    assert_eq!(changed, ["update cdn.edge.record.blue", "update cdn.edge.record.green"], "{plan:#}");
    ok(w.run(&["apply", "--auto-approve"]));
    let roles: Vec<(Option<String>, Option<String>, Option<i64>)> = w
        .www()
        .iter()
        .map(|r| (r.set_identifier.clone(), r.failover.as_ref().map(|f| f.as_str().to_string()), r.weight))
        .collect();
    assert_eq!(
        roles,
        [(Some("blue".into()), Some("PRIMARY".into()), None), (Some("green".into()), Some("SECONDARY".into()), None)]
    );

    // Destroy: records, then health checks, then the distributions.
    ok(w.run(&["destroy", "--auto-approve"]));
    assert!(w.www().is_empty(), "{:?}", w.www());
    assert!(w.health_checks().is_empty());
    let left = w.rt.block_on(w.cf.list_distributions().send()).unwrap();
    assert!(left.distribution_list.and_then(|l| l.items).unwrap_or_default().is_empty());
}

/// A multi-CDN entry fronted by a Cloudflare load balancer, against the local Cloudflare API
/// (every request validated against the official OpenAPI document): two Cloudflare members,
/// weighted; apply creates a monitor, one pool per member and a `random`-steered load balancer
/// with pool weights; a weight change plans exactly one update of the load balancer.
#[test]
fn multicdn_cloudflare_weighted_load_balancer() {
    use cloudflare_test_server::{Knobs, ServerConfig, Spec};
    const TOKEN: &str = "cf-multicdn-T0KEN-0a9b8c7d";
    let spec = Spec::load(&cloudflare_test_server::default_spec_path()).unwrap_or_else(|e| panic!("{e}"));
    let server = cloudflare_test_server::spawn(
        ServerConfig {
            token: TOKEN.into(),
            account_id: cloudflare_test_server::DEFAULT_ACCOUNT_ID.into(),
            zones: vec!["example.com".into()],
            spec,
        },
        Knobs::new(),
    );
    let dir = tempfile::tempdir().unwrap();
    let write = |blue: u32, green: u32| {
        let text = format!(
            "version: 1\nproject: shop\nproviders:\n  cloudflare: {{ account_id: {}, zone: example.com }}\ncdn:\n  blue:\n    provider: cloudflare\n    hostname: blue.example.com\n    origin: {{ domain: blue.origin.example.net }}\n  green:\n    provider: cloudflare\n    hostname: green.example.com\n    origin: {{ domain: green.origin.example.net }}\n  edge:\n    strategy: weighted\n    members: [ {{ name: blue, weight: {blue} }}, {{ name: green, weight: {green} }} ]\n    dns:\n      provider: cloudflare\n      zone: example.com\n      record: www\n      health_check: {{ path: /healthz, interval: 30, threshold: 2 }}\n",
            cloudflare_test_server::DEFAULT_ACCOUNT_ID
        );
        std::fs::write(dir.path().join("strata.yaml"), text).unwrap();
    };
    let run = |args: &[&str]| {
        let o = Command::new(STRATA)
            .current_dir(dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("CLOUDFLARE_API_TOKEN", TOKEN)
            .env("CLOUDFLARE_API_BASE_URL", server.url())
            .env_remove("STRATA_ENV")
            .output()
            .unwrap();
        assert!(!both(&o).contains(TOKEN), "token leaked");
        o
    };
    let api = |path: &str| -> Value {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            reqwest::Client::new()
                .get(format!("{}{path}", server.url()))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    };
    write(200, 55);
    let o = ok(run(&["apply", "--auto-approve"]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Resources: 6 added"), "{}", both(&o));
    let zone = server.zone_id("example.com");
    let lbs = api(&format!("/zones/{zone}/load_balancers"));
    let lb = lbs["result"].as_array().unwrap().iter().find(|l| l["name"] == "www.example.com").expect("the LB");
    assert_eq!(lb["steering_policy"], "random");
    assert_eq!(lb["proxied"], false);
    let pools = api(&format!("/accounts/{}/load_balancers/pools", cloudflare_test_server::DEFAULT_ACCOUNT_ID));
    let pools = pools["result"].as_array().unwrap();
    let pool_id = |member: &str| {
        pools.iter().find(|p| p["name"] == format!("shop-edge-{member}")).unwrap()["id"].as_str().unwrap().to_string()
    };
    let (blue, green) = (pool_id("blue"), pool_id("green"));
    assert_eq!(pools.iter().find(|p| p["id"] == blue.as_str()).unwrap()["origins"][0]["address"], "blue.example.com");
    assert_eq!(lb["default_pools"], serde_json::json!([blue, green]));
    assert_eq!(lb["random_steering"]["pool_weights"][&blue], serde_json::json!(0.7843));
    let o = ok(run(&["plan", "--detailed-exitcode"]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("No changes."), "{}", both(&o));

    write(100, 155);
    let o = ok(run(&["plan", "--json"]));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changed: Vec<String> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| format!("{} {}", c["action"].as_str().unwrap(), c["address"].as_str().unwrap()))
        .collect();
    assert_eq!(changed, ["update cdn.edge"], "{plan:#}");
    ok(run(&["apply", "--auto-approve"]));
    let lbs = api(&format!("/zones/{zone}/load_balancers"));
    let lb = lbs["result"].as_array().unwrap().iter().find(|l| l["name"] == "www.example.com").unwrap();
    assert_eq!(lb["random_steering"]["pool_weights"][&green], serde_json::json!(0.6078));
    ok(run(&["destroy", "--auto-approve"]));
    assert!(server.knobs().invalid_requests().is_empty(), "{:#?}", server.knobs().invalid_requests());
}
