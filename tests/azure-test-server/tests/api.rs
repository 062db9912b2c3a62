//! azure-test-server over HTTP: validation against the official documents, ARM's error
//! envelope, the long-running-operation protocol, throttling, auth and the token endpoint.

use std::time::Duration;

use azure_test_server::{Bucket, DEFAULT_TOKEN, FaultRule, TestServer, spawn_for_tests};
use serde_json::{Value, json};

const V: &str = "api-version=2025-06-01";

fn scope() -> String {
    TestServer::scope(azure_test_server::DEFAULT_SUBSCRIPTION, "rg-1")
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Answer {
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!("{}{path}{sep}{V}", s.url());
    send(s, method, &url, body, Some(DEFAULT_TOKEN)).await
}

async fn send(_s: &TestServer, method: &str, url: &str, body: Option<Value>, token: Option<&str>) -> Answer {
    let mut req = client().request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    Answer { status, headers, body }
}

fn header(a: &Answer, name: &str) -> Option<String> {
    a.headers.get(name).map(|v| v.to_str().unwrap().to_string())
}

async fn profile(s: &TestServer, name: &str) {
    let a = call(
        s,
        "PUT",
        &format!("{}/profiles/{name}", scope()),
        Some(json!({"location": "Global", "sku": {"name": "Standard_AzureFrontDoor"}})),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
}

#[tokio::test]
async fn requests_are_validated_against_the_documents() {
    let s = spawn_for_tests();
    profile(&s, "p1").await;
    // An unknown property, a wrong enum value, a wrong type.
    let a = call(
        &s,
        "PUT",
        &format!("{}/profiles/p1/originGroups/og/origins/o", scope()),
        Some(json!({"properties": {"hostName": "a.example.com", "priority": 9, "weight": "x", "bogus": 1}})),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"]["code"], "BadRequest");
    let msg = a.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("/properties/bogus: unknown property"), "{msg}");
    assert!(msg.contains("/properties/priority: 9 is above the maximum 5"), "{msg}");
    assert!(msg.contains("/properties/weight: expected integer"), "{msg}");
    // A discriminated subtype: an action's parameters must be of its own kind.
    call(&s, "PUT", &format!("{}/profiles/p1/ruleSets/rs", scope()), None).await;
    let rule = |type_name: &str| {
        json!({"properties": {"order": 1, "actions": [{"name": "CacheExpiration", "parameters":
            {"typeName": type_name, "cacheBehavior": "Override", "cacheType": "All", "cacheDuration": "01:00:00"}}]}})
    };
    let bad = call(
        &s,
        "PUT",
        &format!("{}/profiles/p1/ruleSets/rs/rules/r", scope()),
        Some(rule("DeliveryRuleHeaderActionParameters")),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let good = call(
        &s,
        "PUT",
        &format!("{}/profiles/p1/ruleSets/rs/rules/r", scope()),
        Some(rule("DeliveryRuleCacheExpirationActionParameters")),
    )
    .await;
    assert_eq!(good.status, 201, "{}", good.body);
    // Unknown subtype of a discriminated base.
    let unknown = call(
        &s,
        "PUT",
        &format!("{}/profiles/p1/ruleSets/rs/rules/r2", scope()),
        Some(json!({"properties": {"order": 2, "actions": [{"name": "Teleport", "parameters": {}}]}})),
    )
    .await;
    assert_eq!(unknown.status, 400);
    // api-version, routes, path parameters, query parameters.
    let url = format!("{}{}/profiles/p1", s.url(), scope());
    let missing = send(&s, "GET", &url, None, Some(DEFAULT_TOKEN)).await;
    assert_eq!(missing.body["error"]["code"], "MissingApiVersionParameter");
    let wrong = send(&s, "GET", &format!("{url}?api-version=2020-09-01"), None, Some(DEFAULT_TOKEN)).await;
    assert_eq!(wrong.body["error"]["code"], "InvalidApiVersionParameter");
    let route = call(&s, "GET", &format!("{}/profiles/p1/teleporters", scope()), None).await;
    assert_eq!(route.status, 404);
    assert_eq!(route.body["error"]["code"], "InvalidResourceType");
    let method = call(&s, "POST", &format!("{}/profiles/p1/originGroups/og", scope()), None).await;
    assert_eq!(method.status, 405);
    let name = call(&s, "GET", &format!("{}/profiles/-bad-/afdEndpoints", scope()), None).await;
    assert_eq!(name.status, 400, "{}", name.body);
    let query = call(&s, "GET", &format!("{}/profiles/p1?$expand=all", scope()), None).await;
    assert_eq!(query.status, 400);
    let sub =
        call(&s, "GET", "/subscriptions/not-a-uuid/resourceGroups/rg/providers/Microsoft.Cdn/profiles", None).await;
    assert_eq!(sub.status, 400);
    assert!(sub.body["error"]["message"].as_str().unwrap().contains("is not a UUID"));
    // Cross-file $refs: `location` is required by common-types' TrackedResource, and a
    // route's `originGroup` is cdn.json's ResourceReference.
    let no_location =
        call(&s, "PUT", &format!("{}/profiles/p1/afdEndpoints/e", scope()), Some(json!({"properties": {}}))).await;
    assert!(
        no_location.body["error"]["message"].as_str().unwrap().contains("missing required property `location`"),
        "{}",
        no_location.body
    );
    let bad_ref = call(
        &s,
        "PUT",
        &format!("{}/profiles/p1/afdEndpoints/e/routes/r", scope()),
        Some(json!({"properties": {"originGroup": {"id": 7}}})),
    )
    .await;
    assert!(
        bad_ref.body["error"]["message"].as_str().unwrap().contains("/properties/originGroup/id: expected string"),
        "{}",
        bad_ref.body
    );
    // Every refusal above is on record.
    assert_eq!(s.knobs().invalid_requests().len(), 12, "{:#?}", s.knobs().invalid_requests());
}

#[tokio::test]
async fn long_running_operations_follow_azure_async_operation() {
    let s = spawn_for_tests();
    s.knobs().set_operation_delay(Duration::from_millis(400));
    s.knobs().set_poll_retry_after(0);
    let a = call(
        &s,
        "PUT",
        &format!("{}/profiles/p1", scope()),
        Some(json!({"location": "Global", "sku": {"name": "Premium_AzureFrontDoor"}})),
    )
    .await;
    assert_eq!(a.status, 201);
    assert_eq!(a.body["properties"]["provisioningState"], "Creating");
    assert_eq!(header(&a, "retry-after").as_deref(), Some("0"));
    let op = header(&a, "azure-asyncoperation").expect("Azure-AsyncOperation");
    let location = header(&a, "location").expect("Location");
    let running = send(&s, "GET", &op, None, Some(DEFAULT_TOKEN)).await;
    assert_eq!(running.body["status"], "InProgress");
    assert_eq!(send(&s, "GET", &location, None, Some(DEFAULT_TOKEN)).await.status, 202);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let done = send(&s, "GET", &op, None, Some(DEFAULT_TOKEN)).await;
    assert_eq!(done.body["status"], "Succeeded");
    let result = send(&s, "GET", &location, None, Some(DEFAULT_TOKEN)).await;
    assert_eq!(result.status, 200);
    assert_eq!(result.body["properties"]["provisioningState"], "Succeeded");
    // Children and deletes.
    let e = call(&s, "PUT", &format!("{}/profiles/p1/afdEndpoints/web", scope()), Some(json!({"location": "Global"})))
        .await;
    assert!(e.body["properties"]["hostName"].as_str().unwrap().ends_with(".z01.azurefd.net"));
    let d = call(&s, "DELETE", &format!("{}/profiles/p1", scope()), None).await;
    assert_eq!(d.status, 202);
    assert_eq!(
        call(&s, "GET", &format!("{}/profiles/p1", scope()), None).await.body["properties"]["provisioningState"],
        "Deleting"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(call(&s, "GET", &format!("{}/profiles/p1", scope()), None).await.status, 404);
    // The endpoint went with its profile.
    assert_eq!(call(&s, "GET", &format!("{}/profiles/p1/afdEndpoints/web", scope()), None).await.status, 404);
    assert_eq!(call(&s, "DELETE", &format!("{}/profiles/p1", scope()), None).await.status, 204);
    // A failed operation.
    s.knobs().set_operation_delay(Duration::ZERO);
    s.knobs().fail_operations_next(1);
    let f = call(
        &s,
        "PUT",
        &format!("{}/profiles/p2", scope()),
        Some(json!({"location": "Global", "sku": {"name": "Premium_AzureFrontDoor"}})),
    )
    .await;
    let status = send(&s, "GET", &header(&f, "azure-asyncoperation").unwrap(), None, Some(DEFAULT_TOKEN)).await;
    assert_eq!(status.body["status"], "Failed");
    assert_eq!(status.body["error"]["code"], "InternalServerError");
    assert!(s.knobs().invalid_requests().is_empty());
}

#[tokio::test]
async fn references_parents_and_in_use_objects() {
    let s = spawn_for_tests();
    let orphan =
        call(&s, "PUT", &format!("{}/profiles/nope/originGroups/og", scope()), Some(json!({"properties": {}}))).await;
    assert_eq!(orphan.status, 404);
    assert_eq!(orphan.body["error"]["code"], "ParentResourceNotFound");
    profile(&s, "p1").await;
    call(&s, "PUT", &format!("{}/profiles/p1/afdEndpoints/web", scope()), Some(json!({"location": "Global"}))).await;
    let og_id = format!("{}/profiles/p1/originGroups/og", scope());
    let route = json!({"properties": {"originGroup": {"id": og_id}, "patternsToMatch": ["/*"]}});
    let missing =
        call(&s, "PUT", &format!("{}/profiles/p1/afdEndpoints/web/routes/r", scope()), Some(route.clone())).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    call(&s, "PUT", &og_id, Some(json!({"properties": {}}))).await;
    assert_eq!(
        call(&s, "PUT", &format!("{}/profiles/p1/afdEndpoints/web/routes/r", scope()), Some(route.clone()))
            .await
            .status,
        201
    );
    let dup = call(&s, "PUT", &format!("{}/profiles/p1/afdEndpoints/web/routes/r2", scope()), Some(route)).await;
    assert_eq!(dup.status, 400, "same pattern twice on one endpoint");
    let in_use = call(&s, "DELETE", &og_id, None).await;
    assert_eq!(in_use.status, 409);
    assert_eq!(in_use.body["error"]["code"], "Conflict");
    // A custom domain carries its DNS TXT validation token.
    let d = call(&s, "PUT", &format!("{}/profiles/p1/customDomains/www", scope()),
        Some(json!({"properties": {"hostName": "www.example.com", "tlsSettings": {"certificateType": "ManagedCertificate", "minimumTlsVersion": "TLS12"}}}))).await;
    assert_eq!(d.status, 201, "{}", d.body);
    assert_eq!(d.body["properties"]["validationProperties"]["validationToken"].as_str().unwrap().len(), 32);
    // Front Door's naming rule for rule sets.
    let bad_name = call(&s, "PUT", &format!("{}/profiles/p1/ruleSets/my-rules", scope()), None).await;
    assert_eq!(bad_name.status, 400);
    // PATCH merges properties and tags, as a long-running operation.
    let patched = call(
        &s,
        "PATCH",
        &format!("{}/profiles/p1/afdEndpoints/web", scope()),
        Some(json!({"tags": {"team": "edge"}, "properties": {"enabledState": "Disabled"}})),
    )
    .await;
    assert_eq!(patched.status, 202, "{}", patched.body);
    assert!(header(&patched, "location").is_some());
    let web = call(&s, "GET", &format!("{}/profiles/p1/afdEndpoints/web", scope()), None).await;
    assert_eq!(web.body["tags"]["team"], "edge");
    assert_eq!(web.body["properties"]["enabledState"], "Disabled");
    assert!(web.body["properties"]["hostName"].is_string());
    let bad_patch = call(
        &s,
        "PATCH",
        &format!("{}/profiles/p1/afdEndpoints/web", scope()),
        Some(json!({"properties": {"hostName": 1}})),
    )
    .await;
    assert_eq!(bad_patch.status, 400, "the update schema has no writable hostName of that type");
    // Lists page with nextLink.
    s.knobs().set_page_size(1);
    for n in ["a", "b", "c"] {
        call(&s, "PUT", &format!("{}/profiles/p1/ruleSets/{n}", scope()), None).await;
    }
    let first = call(&s, "GET", &format!("{}/profiles/p1/ruleSets", scope()), None).await;
    assert_eq!(first.body["value"].as_array().unwrap().len(), 1);
    let next = first.body["nextLink"].as_str().unwrap().to_string();
    let second = send(&s, "GET", &next, None, Some(DEFAULT_TOKEN)).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["value"][0]["name"], "b");
    assert_eq!(s.knobs().invalid_requests().len(), 1, "only the bad PATCH: {:#?}", s.knobs().invalid_requests());
}

#[tokio::test]
async fn throttling_and_faults() {
    let s = spawn_for_tests();
    s.knobs().set_buckets(Bucket { capacity: 3.0, refill: 1.0 }, Bucket { capacity: 1.0, refill: 0.5 });
    let path = format!("{}/profiles", scope());
    let first = call(&s, "GET", &path, None).await;
    assert_eq!(header(&first, "x-ms-ratelimit-remaining-subscription-reads").as_deref(), Some("2"));
    call(&s, "GET", &path, None).await;
    call(&s, "GET", &path, None).await;
    let limited = call(&s, "GET", &path, None).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["error"]["code"], "SubscriptionRequestsThrottled");
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("1"));
    // Writes have their own bucket.
    profile(&s, "p1").await;
    let w = call(
        &s,
        "PUT",
        &format!("{}/profiles/p2", scope()),
        Some(json!({"location": "Global", "sku": {"name": "Standard_AzureFrontDoor"}})),
    )
    .await;
    assert_eq!(w.status, 429);
    assert_eq!(header(&w, "retry-after").as_deref(), Some("2"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call(&s, "GET", &path, None).await.status, 200);
    s.knobs().add_fault(FaultRule {
        status: 503,
        count: Some(1),
        method: Some("GET".into()),
        path: Some("/profiles/p1".into()),
        retry_after_secs: Some(3),
    });
    let fault = call(&s, "GET", &format!("{}/profiles/p1", scope()), None).await;
    assert_eq!(fault.status, 503);
    assert_eq!(header(&fault, "retry-after").as_deref(), Some("3"));
    assert_eq!(s.knobs().count("throttled"), 2);
}

#[tokio::test]
async fn auth_and_the_token_endpoint() {
    let s = spawn_for_tests();
    let url = format!("{}{}/profiles?{V}", s.url(), scope());
    let none = send(&s, "GET", &url, None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["error"]["code"], "AuthenticationFailed");
    assert!(header(&none, "www-authenticate").is_some());
    assert_eq!(send(&s, "GET", &url, None, Some("forged")).await.body["error"]["code"], "InvalidAuthenticationToken");
    let token_url = format!("{}/{}/oauth2/v2.0/token", s.url(), azure_test_server::DEFAULT_TENANT);
    let form = |secret: &str| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", azure_test_server::DEFAULT_CLIENT_ID.to_string()),
            ("client_secret", secret.to_string()),
            ("scope", "https://management.azure.com/.default".to_string()),
        ]
    };
    let bad = client().post(&token_url).form(&form("wrong")).send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"], "invalid_client");
    assert!(bad["error_description"].as_str().unwrap().starts_with("AADSTS7000215"));
    let ok: Value = client()
        .post(&token_url)
        .form(&form(azure_test_server::DEFAULT_CLIENT_SECRET))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["token_type"], "Bearer");
    let issued = ok["access_token"].as_str().unwrap();
    assert_eq!(send(&s, "GET", &url, None, Some(issued)).await.status, 200);
    // Workload identity: a federated assertion instead of a secret.
    let federated = vec![
        ("grant_type", "client_credentials"),
        ("client_id", azure_test_server::DEFAULT_CLIENT_ID),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", azure_test_server::DEFAULT_FEDERATED_ASSERTION),
        ("scope", "https://management.azure.com/.default"),
    ];
    let fed = client().post(&token_url).form(&federated).send().await.unwrap();
    assert_eq!(fed.status().as_u16(), 200);
    let other_tenant =
        client().post(format!("{}/other/oauth2/v2.0/token", s.url())).form(&form("x")).send().await.unwrap();
    assert_eq!(other_tenant.status().as_u16(), 400);
    assert_eq!(s.knobs().count("tokens_issued"), 2);
}
