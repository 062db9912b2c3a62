//! The GCP provider against an in-process gcp-test-server: the whole load-balancer chain,
//! batched reads (one list per collection), operations that take time, requestId on every
//! mutation, and credentials that never show in errors.

use std::time::Duration;

use serde_json::{Value, json};
use strata_provider_gcp::{GcpConfig, GcpProvider, OwnerMarks, TokenSource};
use strata_sdk::{Address, Applied, DeleteRequest, ErrorClass, Provider, ReadRequest, ResourceChange};

fn provider(server: &gcp_test_server::TestServer, token: &str) -> GcpProvider {
    let config = GcpConfig {
        project: "demo-project".into(),
        api_base_url: Some(server.compute_url()),
        credentials_file: None,
        requests_per_second: None,
    };
    GcpProvider::new(&config, OwnerMarks::new("demo".into(), "default".into()), TokenSource::Static(token.into()))
}

fn change(name: &str, kind: &str, attrs: Value) -> ResourceChange {
    ResourceChange {
        address: Address::from_segments(["resources", name]).unwrap(),
        kind: kind.into(),
        attrs,
        prior: None,
    }
}

fn chain() -> Vec<ResourceChange> {
    vec![
        change("bucket", "backend_bucket", json!({"name": "site", "bucketName": "site-assets", "enableCdn": true})),
        change("map", "url_map", json!({"name": "site-map", "defaultService": "global/backendBuckets/site"})),
        change(
            "cert",
            "managed_ssl_certificate",
            json!({"name": "site-cert", "managed": {"domains": ["example.com"]}}),
        ),
        change(
            "proxy",
            "target_https_proxy",
            json!({"name": "site-proxy", "urlMap": "global/urlMaps/site-map", "sslCertificates": ["global/sslCertificates/site-cert"]}),
        ),
        change("ip", "global_address", json!({"name": "site-ip"})),
        change(
            "rule",
            "global_forwarding_rule",
            json!({"name": "site-rule", "IPAddress": "global/addresses/site-ip", "portRange": "443",
                   "target": "global/targetHttpsProxies/site-proxy", "loadBalancingScheme": "EXTERNAL_MANAGED"}),
        ),
    ]
}

#[tokio::test]
async fn the_load_balancer_chain_is_created_read_updated_and_deleted() {
    let server = gcp_test_server::spawn_for_tests();
    server.knobs().set_operation_delay(Duration::from_millis(150));
    let p = provider(&server, &server.knobs().token());
    let mut applied: Vec<Applied> = Vec::new();
    for c in chain() {
        let a = p.create(&c).await.unwrap_or_else(|e| panic!("create {}: {e:?}", c.kind));
        assert_eq!(a.attrs, c.attrs, "{} reads back as written", c.kind);
        applied.push(a);
    }
    let counters = server.knobs().counters();
    assert_eq!(counters.get("backendBuckets.insert"), Some(&1));
    assert!(counters.get("globalOperations.get").copied().unwrap_or(0) >= 6, "operations were polled: {counters:?}");

    // Refresh: one list per collection, however many objects.
    server.knobs().reset_counters();
    let chain = chain();
    let requests: Vec<ReadRequest> = chain
        .iter()
        .zip(&applied)
        .map(|(c, a)| ReadRequest {
            address: c.address.clone(),
            kind: c.kind.clone(),
            remote_id: Some(a.remote_id.clone()),
            attrs: Some(&c.attrs),
        })
        .collect();
    let read = p.read(&requests).await;
    for (r, c) in read.iter().zip(&chain) {
        let o = r.as_ref().unwrap().as_ref().unwrap_or_else(|| panic!("{} missing", c.kind));
        assert_eq!(o.attrs, c.attrs, "{} has no diff", c.kind);
        assert_eq!(o.ownership, strata_sdk::Ownership::Ours);
    }
    let counters = server.knobs().counters();
    let lists: u64 = counters.iter().filter(|(k, _)| k.ends_with(".list")).map(|(_, v)| v).sum();
    assert_eq!(lists, 6, "one list per collection: {counters:?}");
    assert_eq!(counters["requests"], 6, "and nothing else: {counters:?}");

    // An in-place update sends the fingerprint (the server demands it).
    let mut map = chain[1].clone();
    map.attrs["defaultService"] = json!("global/backendBuckets/site");
    map.attrs["hostRules"] = json!([{"hosts": ["example.com"], "pathMatcher": "all"}]);
    map.attrs["pathMatchers"] = json!([{"name": "all", "defaultService": "global/backendBuckets/site"}]);
    map.prior = Some(applied[1].clone());
    let updated = p.update(&map).await.expect("update the URL map");
    assert_eq!(updated.remote_id, applied[1].remote_id);
    assert_eq!(updated.attrs, map.attrs);
    assert_eq!(server.knobs().count("urlMaps.patch"), 1);

    for (c, a) in chain.iter().zip(&applied).rev() {
        let req = DeleteRequest {
            address: c.address.clone(),
            kind: c.kind.clone(),
            remote_id: a.remote_id.clone(),
            attrs: a.attrs.clone(),
        };
        p.delete(&req).await.unwrap_or_else(|e| panic!("delete {}: {e:?}", c.kind));
    }
    let gone = p.read(&requests).await;
    assert!(gone.iter().all(|r| matches!(r, Ok(None))), "{gone:?}");
}

#[tokio::test]
async fn a_stale_fingerprint_is_re_read_and_retried_once() {
    let server = gcp_test_server::spawn_for_tests();
    let p = provider(&server, &server.knobs().token());
    let chain = chain();
    p.create(&chain[0]).await.unwrap();
    let created = p.create(&chain[1]).await.unwrap();
    let mut map = chain[1].clone();
    map.attrs["defaultService"] = json!("global/backendBuckets/site");
    map.prior = Some(created);
    server.knobs().fingerprint_conflict_next(1);
    p.update(&map).await.expect("one 412 is retried after a re-read");
    assert_eq!(server.knobs().count("urlMaps.patch"), 2);
    server.knobs().fingerprint_conflict_next(2);
    let err = p.update(&map).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Conflict, "a second 412 is reported: {err:?}");
    assert_eq!(server.knobs().count("urlMaps.patch"), 4);
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error_that_does_not_show_the_token() {
    let server = gcp_test_server::spawn_for_tests();
    let p = provider(&server, "ya29.secret-token-value");
    let err = p.create(&chain()[0]).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err:?}");
    assert!(!format!("{err:?} {err}").contains("secret-token-value"));
}

#[tokio::test]
async fn a_create_of_an_existing_object_of_ours_adopts_it() {
    let server = gcp_test_server::spawn_for_tests();
    let p = provider(&server, &server.knobs().token());
    let first = p.create(&chain()[0]).await.unwrap();
    let second = p.create(&chain()[0]).await.unwrap();
    assert_eq!(first.remote_id, second.remote_id);
    // Someone else's object of the same name is a conflict, not a takeover.
    let other = GcpProvider::new(
        &GcpConfig {
            project: "demo-project".into(),
            api_base_url: Some(server.compute_url()),
            credentials_file: None,
            requests_per_second: None,
        },
        OwnerMarks::new("another".into(), "default".into()),
        TokenSource::Static(server.knobs().token()),
    );
    let err = other.create(&chain()[0]).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Conflict, "{err:?}");
}
