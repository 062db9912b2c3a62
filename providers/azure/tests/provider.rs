//! The Azure provider against azure-test-server, beyond the conformance suite: the identity
//! flows (client secret, federated token file) and that the secret never shows, refresh
//! batching (one GET per profile, one list per child collection), long-running operations,
//! ARM throttling.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strata_provider_azure::{AzureConfig, AzureProvider, Credential};
use strata_sdk::{Address, ErrorClass, Provider, ReadRequest, ResourceChange};
use strata_testkit::azure::{
    ARM_WRITES, Bucket, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_FEDERATED_ASSERTION, DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION, DEFAULT_TENANT, DEFAULT_TOKEN, TestServer, assert_no_invalid_requests, server,
};

fn config() -> AzureConfig {
    AzureConfig {
        subscription_id: Some(DEFAULT_SUBSCRIPTION.into()),
        resource_group: Some(DEFAULT_RESOURCE_GROUP.into()),
        reads_per_second: 25.0,
        writes_per_second: 10.0,
        request_burst: 200,
        ..AzureConfig::default()
    }
}

fn provider(s: &TestServer, credential: Credential) -> AzureProvider {
    // Polls follow the server's Retry-After; 0 keeps these tests fast.
    s.knobs().set_poll_retry_after(0);
    AzureProvider::with_endpoint(config(), "proj", "default", s.url(), credential)
}

fn change(name: &str, kind: &str, attrs: Value) -> ResourceChange {
    ResourceChange {
        address: Address::from_segments(["resources", name]).unwrap(),
        kind: kind.into(),
        attrs,
        prior: None,
    }
}

async fn apply(p: &AzureProvider, c: &ResourceChange) -> strata_sdk::Applied {
    let a = p.create(c).await.unwrap_or_else(|e| panic!("create {}: {e}", c.address));
    if p.schema(&c.kind).asynchronous { p.wait(&c.kind, &a).await.expect("wait") } else { a }
}

fn profile_doc(name: &str) -> Value {
    json!({"name": name, "sku": {"name": "Standard_AzureFrontDoor"}})
}

#[tokio::test]
async fn client_secret_and_federated_credentials_get_tokens_and_the_secret_never_shows() {
    let s = server();
    let secret = Credential::ClientSecret {
        tenant: DEFAULT_TENANT.into(),
        client_id: DEFAULT_CLIENT_ID.into(),
        secret: DEFAULT_CLIENT_SECRET.into(),
    };
    let p = provider(&s, secret);
    let applied = apply(&p, &change("p1", "profile", profile_doc("p1"))).await;
    assert!(applied.outputs["front_door_id"].is_string());
    apply(&p, &change("p2", "profile", profile_doc("p2"))).await;
    assert_eq!(s.knobs().count("tokens_issued"), 1, "the token is cached");
    assert!(!format!("{p:?}").contains(DEFAULT_CLIENT_SECRET));

    let wrong_secret = "wrong-client-secret-value";
    let bad = provider(
        &s,
        Credential::ClientSecret {
            tenant: DEFAULT_TENANT.into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            secret: wrong_secret.into(),
        },
    );
    let e = bad.create(&change("p3", "profile", profile_doc("p3"))).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Auth);
    assert!(e.message.contains("AADSTS7000215"), "{}", e.message);
    assert!(!e.message.contains(wrong_secret));

    let file = std::env::temp_dir().join(format!("strata-azure-federated-{}", std::process::id()));
    std::fs::write(&file, DEFAULT_FEDERATED_ASSERTION).unwrap();
    let federated = provider(
        &s,
        Credential::Federated {
            tenant: DEFAULT_TENANT.into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            token_file: file.display().to_string(),
        },
    );
    apply(&federated, &change("p4", "profile", profile_doc("p4"))).await;
    assert_eq!(s.knobs().count("tokens_issued"), 2);
    let _ = std::fs::remove_file(&file);
    assert_no_invalid_requests(&s);
}

#[tokio::test]
async fn refresh_lists_each_collection_once_per_parent() {
    let s = server();
    let p = provider(&s, Credential::Static(DEFAULT_TOKEN.into()));
    let mut docs = vec![("p", "profile", profile_doc("p"))];
    for g in ["og1", "og2"] {
        docs.push((g, "origin_group", json!({"name": g, "profile": "p", "properties": {}})));
        for o in ["a", "b", "c"] {
            docs.push((o, "origin", json!({"name": format!("{g}{o}"), "profile": "p", "origin_group": g, "properties": {"hostName": format!("{o}.example.com")}})));
        }
    }
    docs.push(("web", "afd_endpoint", json!({"name": "web", "profile": "p"})));
    let changes: Vec<ResourceChange> =
        docs.iter().enumerate().map(|(i, (_, k, d))| change(&format!("r{i}"), k, d.clone())).collect();
    for c in &changes {
        apply(&p, c).await;
    }
    let requests: Vec<ReadRequest> = changes
        .iter()
        .map(|c| ReadRequest {
            address: c.address.clone(),
            kind: c.kind.clone(),
            remote_id: None,
            attrs: Some(&c.attrs),
        })
        .collect();
    s.knobs().reset_counters();
    let before = p.requests_sent();
    let results = p.read(&requests).await;
    assert!(
        results.iter().all(|r| matches!(r, Ok(Some(o)) if o.ownership == strata_sdk::Ownership::Ours)),
        "{results:?}"
    );
    // 10 resources: 1 profile GET + origin groups + 2 origin lists + endpoints.
    assert_eq!(p.requests_sent() - before, 5);
    assert_eq!(s.knobs().count("Profiles_Get"), 1);
    assert_eq!(s.knobs().count("AFDOrigins_ListByOriginGroup"), 2);
    assert_eq!(s.knobs().count("AFDOriginGroups_ListByProfile"), 1);
    assert_no_invalid_requests(&s);
}

#[tokio::test]
async fn long_running_operations_are_waited_for_and_failures_reported() {
    let s = server();
    s.knobs().set_operation_delay(Duration::from_millis(300));
    s.knobs().set_poll_retry_after(0);
    let p = provider(&s, Credential::Static(DEFAULT_TOKEN.into()));
    let c = change("p", "profile", profile_doc("p"));
    let started = Instant::now();
    let created = p.create(&c).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300), "create returns before the operation ends");
    let done = p.wait("profile", &created).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(done.outputs.get("pending_operation").is_none());
    assert!(s.knobs().count("operation_polls") >= 1);
    // A rerun of the same create converges on the same object.
    let again = p.create(&c).await.unwrap();
    assert_eq!(again.remote_id, created.remote_id);
    p.wait("profile", &again).await.unwrap();
    s.knobs().fail_operations_next(1);
    let og =
        p.create(&change("og", "origin_group", json!({"name": "og", "profile": "p", "properties": {}}))).await.unwrap();
    let e = p.wait("origin_group", &og).await.unwrap_err();
    assert!(e.message.contains("ended Failed"), "{}", e.message);
    assert_no_invalid_requests(&s);
}

#[tokio::test]
async fn throttled_reads_are_retryable_with_retry_after() {
    let s = server();
    let p = provider(&s, Credential::Static(DEFAULT_TOKEN.into()));
    apply(&p, &change("p", "profile", profile_doc("p"))).await;
    s.knobs().set_buckets(Bucket { capacity: 1.0, refill: 0.5 }, ARM_WRITES);
    let c = change("p", "profile", profile_doc("p"));
    let request =
        [ReadRequest { address: c.address.clone(), kind: c.kind.clone(), remote_id: None, attrs: Some(&c.attrs) }];
    let _ = p.read(&request).await;
    let second = p.read(&request).await.remove(0).unwrap_err();
    assert!(second.is_retryable());
    assert_eq!(second.retry_after, Some(Duration::from_secs(2)));
    assert!(second.message.contains("SubscriptionRequestsThrottled"));
}

#[tokio::test]
async fn security_policy_links_a_waf_policy_to_endpoint_and_domain() {
    let s = server();
    let p = provider(&s, Credential::Static(DEFAULT_TOKEN.into()));
    apply(&p, &change("p", "profile", json!({"name": "p", "sku": {"name": "Premium_AzureFrontDoor"}}))).await;
    let endpoint = apply(&p, &change("e", "afd_endpoint", json!({"name": "web", "profile": "p"}))).await;
    assert!(endpoint.outputs["domain_name"].as_str().unwrap().ends_with(".azurefd.net"));
    let domain = apply(
        &p,
        &change(
            "d",
            "custom_domain",
            json!({"name": "www", "profile": "p", "properties": {"hostName": "www.example.com",
                "tlsSettings": {"certificateType": "ManagedCertificate", "minimumTlsVersion": "TLS12"}}}),
        ),
    )
    .await;
    assert_eq!(domain.outputs["validation_token"].as_str().unwrap().len(), 32);
    let waf = format!(
        "/subscriptions/{DEFAULT_SUBSCRIPTION}/resourceGroups/sec/providers/Microsoft.Network/frontDoorWebApplicationFirewallPolicies/edgewaf"
    );
    let policy = json!({"name": "waf", "profile": "p", "properties": {"parameters": {
        "type": "WebApplicationFirewall",
        "wafPolicy": {"id": waf},
        "associations": [{"domains": [{"id": endpoint.remote_id}, {"id": domain.remote_id}], "patternsToMatch": ["/*"]}],
    }}});
    let applied = apply(&p, &change("w", "security_policy", policy.clone())).await;
    let c = change("w", "security_policy", policy);
    let read = p
        .read(&[ReadRequest {
            address: c.address.clone(),
            kind: c.kind.clone(),
            remote_id: Some(applied.remote_id),
            attrs: Some(&c.attrs),
        }])
        .await
        .remove(0)
        .unwrap()
        .unwrap();
    assert_eq!(read.attrs["properties"]["parameters"]["wafPolicy"]["id"], waf);
    // The domain is in use by the policy: ARM refuses to delete it first.
    let e = p
        .delete(&strata_sdk::DeleteRequest {
            address: c.address.clone(),
            kind: "custom_domain".into(),
            remote_id: domain.remote_id.clone(),
            attrs: Value::Null,
        })
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Conflict);
    assert_no_invalid_requests(&s);
}
