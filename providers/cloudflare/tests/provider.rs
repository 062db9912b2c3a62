//! Behaviour beyond the conformance suite, against the local Cloudflare API: foreign cache
//! rules survive strata's writes, refresh batches per zone, envelope errors carry Cloudflare's
//! code, the token never shows, purge on change.

use std::sync::Arc;

use serde_json::{Value, json};
use strata_provider_cloudflare::{CloudflareConfig, CloudflareProvider, Token};
use strata_sdk::{Address, DeleteRequest, ErrorClass, Provider, ReadRequest, ResourceChange};
use strata_testkit::cloudflare::{TestServer, assert_no_invalid_requests, server};

fn provider(s: &TestServer) -> Arc<CloudflareProvider> {
    let config = CloudflareConfig {
        account_id: Some(s.account_id().to_string()),
        zone: Some("example.com".into()),
        requests_per_second: 1000.0,
        request_burst: 1000,
        ..CloudflareConfig::default()
    };
    Arc::new(CloudflareProvider::new(config, "shop", "prod").with_endpoint(s.url(), Token::new(s.token())))
}

fn change(address: &str, kind: &str, attrs: Value) -> ResourceChange {
    ResourceChange { address: Address::parse(address).unwrap(), kind: kind.into(), attrs, prior: None }
}

async fn api(s: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut r = reqwest::Client::new().request(method, format!("{}{path}", s.url())).bearer_auth(s.token());
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap().json().await.unwrap()
}

fn rules(ttl: u64) -> Value {
    json!({"rules": [{"ref": "assets", "expression": "http.request.uri.path matches \"^/assets/\"",
        "action_parameters": {"cache": true, "edge_ttl": {"mode": "override_origin", "default": ttl, "status_code_ttl": []}}}],
        "invalidate_on_change": ["/*"], "hostname": "static.example.com"})
}

#[tokio::test]
async fn foreign_cache_rules_survive_and_drift_shows_only_ours() {
    let s = server();
    let p = provider(&s);
    let zone = s.zone_id("example.com");
    let entry = format!("/zones/{zone}/rulesets/phases/http_request_cache_settings/entrypoint");
    // A rule made in the dashboard.
    let foreign = json!({"ref": "dashboard", "action": "set_cache_settings", "expression": "http.host eq \"x.example.com\"", "action_parameters": {"cache": false}});
    api(&s, reqwest::Method::PUT, &entry, Some(json!({"rules": [foreign]}))).await;

    let c = change("cdn.assets.cache-rules", "cache_rules", rules(3600));
    let applied = p.create(&c).await.unwrap();
    let ruleset = api(&s, reqwest::Method::GET, &entry, None).await;
    let refs: Vec<&str> =
        ruleset["result"]["rules"].as_array().unwrap().iter().map(|r| r["ref"].as_str().unwrap()).collect();
    assert_eq!(refs, ["dashboard", "strata:shop/prod/cdn.assets.cache-rules/assets"]);
    assert!(s.purges(&zone).is_empty(), "no purge on the first create");

    let read = p
        .read(&[ReadRequest {
            address: c.address.clone(),
            kind: c.kind.clone(),
            remote_id: Some(applied.remote_id.clone()),
            attrs: Some(&c.attrs),
        }])
        .await;
    let observed = read[0].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(observed.attrs["rules"].as_array().unwrap().len(), 1, "only strata's rules: {}", observed.attrs);
    assert_eq!(observed.attrs["rules"][0]["ref"], "assets");

    // An update changes our rule, keeps the dashboard's, and purges.
    let mut u = change("cdn.assets.cache-rules", "cache_rules", rules(60));
    u.prior = Some(applied.clone());
    p.update(&u).await.unwrap();
    let ruleset = api(&s, reqwest::Method::GET, &entry, None).await;
    assert_eq!(ruleset["result"]["rules"][0]["ref"], "dashboard");
    assert_eq!(ruleset["result"]["rules"][1]["action_parameters"]["edge_ttl"]["default"], 60);
    assert_eq!(s.purges(&zone), vec![json!({"purge_everything": true})]);

    // Delete removes only ours.
    p.delete(&DeleteRequest {
        address: c.address.clone(),
        kind: c.kind.clone(),
        remote_id: applied.remote_id,
        attrs: c.attrs.clone(),
    })
    .await
    .unwrap();
    let ruleset = api(&s, reqwest::Method::GET, &entry, None).await;
    assert_eq!(ruleset["result"]["rules"].as_array().unwrap().len(), 1);
    assert_eq!(ruleset["result"]["rules"][0]["ref"], "dashboard");
    assert_no_invalid_requests(&s);
}

#[tokio::test]
async fn dns_refresh_lists_each_zone_once() {
    let s = server();
    let p = provider(&s);
    let mut changes = Vec::new();
    for i in 0..40 {
        let c = change(
            &format!("resources.r{i}"),
            "dns_record",
            json!({"name": format!("r{i}"), "type": "A", "content": "192.0.2.10"}),
        );
        let a = p.create(&c).await.unwrap();
        changes.push((c, a));
    }
    s.knobs().reset_counters();
    let reqs: Vec<ReadRequest<'_>> = changes
        .iter()
        .map(|(c, a)| ReadRequest {
            address: c.address.clone(),
            kind: c.kind.clone(),
            remote_id: Some(a.remote_id.clone()),
            attrs: Some(&c.attrs),
        })
        .collect();
    let out = p.read(&reqs).await;
    assert!(out.iter().all(|o| matches!(o, Ok(Some(_)))));
    assert_eq!(s.knobs().total_requests(), 1, "{:?}", s.knobs().counters());
    assert_no_invalid_requests(&s);
}

#[tokio::test]
async fn envelope_errors_name_the_code_and_never_the_token() {
    let s = server();
    let p = provider(&s);
    p.create(&change("resources.a", "dns_record", json!({"name": "www", "type": "CNAME", "content": "o.example.net"})))
        .await
        .unwrap();
    // A second CNAME of the same name is refused by Cloudflare with 81053.
    let e = p
        .create(&change("resources.b", "dns_record", json!({"name": "www", "type": "A", "content": "192.0.2.1"})))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Invalid);
    assert!(e.message.contains("81053"), "{e}");
    assert!(!e.message.contains(s.token()));

    let wrong = CloudflareProvider::new(
        CloudflareConfig { zone: Some("example.com".into()), ..Default::default() },
        "shop",
        "prod",
    )
    .with_endpoint(s.url(), Token::new("not-the-token-123"));
    let e = wrong
        .create(&change("resources.c", "dns_record", json!({"name": "c", "type": "A", "content": "192.0.2.1"})))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Auth);
    assert!(e.message.contains("10000"), "{e}");
    assert!(!e.message.contains("not-the-token-123"));
    assert!(!format!("{wrong:?}").contains("not-the-token-123"));
}

/// `pool_weights` (strata's list) goes out as `random_steering.pool_weights` keyed by pool id,
/// reads back in the desired order with no difference, and a weight change is one PUT of the
/// load balancer.
#[tokio::test]
async fn weighted_load_balancer_round_trips_pool_weights() {
    let s = server();
    let p = provider(&s);
    let mut pools = Vec::new();
    for name in ["a", "b"] {
        let c = change(
            &format!("cdn.edge.pool.{name}"),
            "pool",
            json!({"name": format!("shop-edge-{name}"), "origins": [{"name": name, "address": format!("{name}.example.net"), "weight": 1, "enabled": true}], "minimum_origins": 1}),
        );
        pools.push(p.create(&c).await.unwrap().outputs["id"].as_str().unwrap().to_string());
    }
    let lb = |wa: f64, wb: f64| {
        json!({"zone": "example.com", "name": "www.example.com", "default_pools": pools, "fallback_pool": pools[1],
            "steering_policy": "random", "proxied": false, "ttl": 60,
            "pool_weights": [{"pool": pools[1], "weight": wb}, {"pool": pools[0], "weight": wa}]})
    };
    assert!(p.validate("load_balancer", &lb(0.8, 0.2)).is_empty());
    let bad = json!({"zone": "example.com", "name": "x", "default_pools": [], "fallback_pool": "p", "pool_weights": [{"pool": "p", "weight": 2}]});
    assert_eq!(p.validate("load_balancer", &bad)[0].0, ["pool_weights", "0"]);
    let c = change("cdn.edge", "load_balancer", lb(0.8, 0.2));
    let applied = p.create(&c).await.unwrap();
    let (zone_id, id) = applied.remote_id.split_once('/').unwrap();
    let remote = api(&s, reqwest::Method::GET, &format!("/zones/{zone_id}/load_balancers/{id}"), None).await;
    assert_eq!(remote["result"]["random_steering"]["pool_weights"][&pools[0]], json!(0.8));
    assert_eq!(remote["result"]["steering_policy"], "random");

    let desired = lb(0.8, 0.2);
    let req = ReadRequest {
        address: c.address.clone(),
        kind: "load_balancer".into(),
        remote_id: Some(applied.remote_id.clone()),
        attrs: Some(&desired),
    };
    let observed = p.read(std::slice::from_ref(&req)).await.remove(0).unwrap().unwrap();
    assert_eq!(observed.attrs["pool_weights"], desired["pool_weights"]);

    s.knobs().reset_counters();
    let prior = strata_sdk::Applied {
        remote_id: applied.remote_id.clone(),
        attrs: desired.clone(),
        outputs: applied.outputs.clone(),
    };
    let update = ResourceChange { prior: Some(prior), ..change("cdn.edge", "load_balancer", lb(0.5, 0.5)) };
    p.update(&update).await.unwrap();
    assert_eq!(s.knobs().total_requests(), 1, "{:?}", s.knobs().counters());
    let remote = api(&s, reqwest::Method::GET, &format!("/zones/{zone_id}/load_balancers/{id}"), None).await;
    assert_eq!(remote["result"]["random_steering"]["pool_weights"][&pools[1]], json!(0.5));
    assert_no_invalid_requests(&s);
}
