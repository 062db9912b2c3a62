//! The server driven in-process through its router: auth, routing by the
//! discovery document, schema validation, the load-balancer chain,
//! requestId, fingerprints, operations and rate limiting.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use gcp_test_server::{DEFAULT_TOKEN, Discovery, Knobs};
use serde_json::{Value, json};
use tower::ServiceExt;

const P: &str = "/compute/v1/projects/demo-project";

fn discovery() -> Arc<Discovery> {
    static DOC: OnceLock<Arc<Discovery>> = OnceLock::new();
    DOC.get_or_init(gcp_test_server::discovery_for_tests).clone()
}

struct Api {
    router: axum::Router,
    knobs: Knobs,
}

impl Api {
    fn new() -> Self {
        let knobs = Knobs::new();
        Self { router: gcp_test_server::router(discovery(), knobs.clone()), knobs }
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> (u16, Value) {
        let mut req = Request::builder().method(method).uri(path).header("host", "gcp.test");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        let resp = self.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.raw(method, path, body, Some(DEFAULT_TOKEN)).await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {v}");
        v
    }
}

fn reason(v: &Value) -> &str {
    v["error"]["errors"][0]["reason"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn requests_need_the_bearer_token() {
    let api = Api::new();
    let (status, v) = api.raw("GET", &format!("{P}/global/backendBuckets"), None, None).await;
    assert_eq!((status, v["error"]["status"].as_str()), (401, Some("UNAUTHENTICATED")));
    assert_eq!(reason(&v), "required");
    let (status, v) = api.raw("GET", &format!("{P}/global/backendBuckets"), None, Some("wrong")).await;
    assert_eq!((status, reason(&v)), (401, "authError"));
    assert_eq!(api.knobs.count("backendBuckets.list"), 0, "rejected before counting");
}

#[tokio::test]
async fn unknown_paths_methods_and_parameters_are_rejected() {
    let api = Api::new();
    let (status, v) = api.call("GET", &format!("{P}/global/nothingHere"), None).await;
    assert_eq!((status, reason(&v)), (404, "notFound"));
    let (status, _) = api.call("PUT", &format!("{P}/global/backendBuckets"), None).await;
    assert_eq!(status, 404);
    let (status, v) = api.call("GET", &format!("{P}/global/backendBuckets?colour=red"), None).await;
    assert_eq!((status, reason(&v)), (400, "invalid"), "{v}");
    // setUrlMap on HTTPS proxies has no /global/ segment in the discovery document.
    let (status, _) =
        api.call("POST", &format!("{P}/global/targetHttpsProxies/x/setUrlMap"), Some(json!({"urlMap": "u"}))).await;
    assert_eq!(status, 404);
    let (status, v) =
        api.call("POST", &format!("{P}/targetHttpsProxies/x/setUrlMap"), Some(json!({"urlMap": "u"}))).await;
    assert_eq!((status, reason(&v)), (404, "notFound"), "routed, then the proxy is missing: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("targetHttpsProxies/x"));
}

#[tokio::test]
async fn bodies_are_validated_against_the_discovery_schemas() {
    let api = Api::new();
    let url = format!("{P}/global/backendBuckets");
    let (status, v) = api.call("POST", &url, Some(json!({"name": "b", "bucketName": "x", "colour": 1}))).await;
    assert_eq!((status, reason(&v)), (400, "invalid"));
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert!(v["error"]["message"].as_str().unwrap().contains("Unknown name \"colour\""), "{v}");
    let (status, v) = api.call("POST", &url, Some(json!({"name": "b", "bucketName": "x", "enableCdn": "yes"}))).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("'enableCdn' (TYPE_BOOL)"), "{v}");
    let nested = json!({"name": "b", "bucketName": "x", "cdnPolicy": {"cacheMode": "SOMETIMES"}});
    let (status, v) = api.call("POST", &url, Some(nested)).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("cdnPolicy.cacheMode"), "{v}");
    let nested =
        json!({"name": "b", "bucketName": "x", "cdnPolicy": {"cacheMode": "CACHE_ALL_STATIC", "defaultTtl": 3600}});
    api.ok("POST", &url, Some(nested)).await;
    let (status, v) = api.call("POST", &url, Some(json!({"name": "Bad_Name", "bucketName": "x"}))).await;
    assert_eq!((status, reason(&v)), (400, "invalid"));
    let (status, v) = api.call("POST", &url, Some(json!({"name": "b", "bucketName": "x"}))).await;
    assert_eq!((status, reason(&v)), (409, "alreadyExists"));
}

async fn build_chain(api: &Api) {
    api.ok(
        "POST",
        &format!("{P}/global/backendBuckets"),
        Some(json!({"name": "site", "bucketName": "site-bucket", "enableCdn": true})),
    )
    .await;
    api.ok("POST", &format!("{P}/global/urlMaps"), Some(json!({"name": "site-map", "defaultService": format!("https://compute.googleapis.com{P}/global/backendBuckets/site")}))).await;
    api.ok(
        "POST",
        &format!("{P}/global/sslCertificates"),
        Some(json!({"name": "site-cert", "type": "MANAGED", "managed": {"domains": ["example.com"]}})),
    )
    .await;
    api.ok("POST", &format!("{P}/global/targetHttpsProxies"), Some(json!({"name": "site-proxy", "urlMap": "global/urlMaps/site-map", "sslCertificates": ["global/sslCertificates/site-cert"]}))).await;
    api.ok("POST", &format!("{P}/global/addresses"), Some(json!({"name": "site-ip"}))).await;
    api.ok(
        "POST",
        &format!("{P}/global/forwardingRules"),
        Some(json!({"name": "site-rule", "IPAddress": "global/addresses/site-ip", "portRange": "443", "target": "global/targetHttpsProxies/site-proxy", "loadBalancingScheme": "EXTERNAL_MANAGED"})),
    )
    .await;
}

#[tokio::test]
async fn the_load_balancer_chain_is_created_checked_and_torn_down_in_order() {
    let api = Api::new();
    let (status, v) = api
        .call(
            "POST",
            &format!("{P}/global/urlMaps"),
            Some(json!({"name": "m", "defaultService": "global/backendBuckets/missing"})),
        )
        .await;
    assert_eq!((status, reason(&v)), (404, "notFound"), "references must exist");
    build_chain(&api).await;

    let cert = api.ok("GET", &format!("{P}/global/sslCertificates/site-cert"), None).await;
    assert_eq!(cert["managed"]["status"], "PROVISIONING");
    assert_eq!(cert["kind"], "compute#sslCertificate");
    let address = api.ok("GET", &format!("{P}/global/addresses/site-ip"), None).await;
    let rule = api.ok("GET", &format!("{P}/global/forwardingRules/site-rule"), None).await;
    assert_eq!(rule["IPAddress"], address["address"], "the address URL resolves to its literal");
    assert_eq!(rule["portRange"], "443-443");
    assert!(rule["selfLink"].as_str().unwrap().ends_with("/projects/demo-project/global/forwardingRules/site-rule"));

    let list = api.ok("GET", &format!("{P}/global/backendBuckets"), None).await;
    assert_eq!(list["kind"], "compute#backendBucketList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let empty = api.ok("GET", &format!("{P}/global/backendServices"), None).await;
    assert!(empty.get("items").is_none(), "Google omits empty items");

    let (status, v) = api.call("DELETE", &format!("{P}/global/backendBuckets/site"), None).await;
    assert_eq!((status, reason(&v)), (400, "resourceInUseByAnotherResource"));
    let (status, v) = api.call("DELETE", &format!("{P}/global/addresses/site-ip"), None).await;
    assert_eq!((status, reason(&v)), (400, "resourceInUseByAnotherResource"), "{v}");

    for path in [
        "forwardingRules/site-rule",
        "addresses/site-ip",
        "targetHttpsProxies/site-proxy",
        "sslCertificates/site-cert",
        "urlMaps/site-map",
        "backendBuckets/site",
    ] {
        let op = api.ok("DELETE", &format!("{P}/global/{path}"), None).await;
        assert_eq!(op["operationType"], "delete");
        assert_eq!(op["status"], "DONE");
    }
    for coll in ["forwardingRules", "addresses", "targetHttpsProxies", "sslCertificates", "urlMaps", "backendBuckets"] {
        let list = api.ok("GET", &format!("{P}/global/{coll}"), None).await;
        assert!(list.get("items").is_none(), "{coll} left behind: {list}");
    }
}

#[tokio::test]
async fn set_url_map_uses_the_path_without_global() {
    let api = Api::new();
    build_chain(&api).await;
    api.ok("POST", &format!("{P}/global/backendBuckets"), Some(json!({"name": "other", "bucketName": "b2"}))).await;
    api.ok(
        "POST",
        &format!("{P}/global/urlMaps"),
        Some(json!({"name": "other-map", "defaultService": "global/backendBuckets/other"})),
    )
    .await;
    let op = api
        .ok(
            "POST",
            &format!("{P}/targetHttpsProxies/site-proxy/setUrlMap"),
            Some(json!({"urlMap": "global/urlMaps/other-map"})),
        )
        .await;
    assert_eq!(op["operationType"], "setUrlMap");
    let proxy = api.ok("GET", &format!("{P}/global/targetHttpsProxies/site-proxy"), None).await;
    assert_eq!(
        proxy["urlMap"], "http://gcp.test/compute/v1/projects/demo-project/global/urlMaps/other-map",
        "references are answered as full URLs"
    );
}

#[tokio::test]
async fn request_id_makes_a_mutation_happen_once() {
    let api = Api::new();
    let url = format!("{P}/global/backendBuckets?requestId=6f1c2a4e-8b7d-4c1e-9f0a-1b2c3d4e5f60");
    let first = api.ok("POST", &url, Some(json!({"name": "b", "bucketName": "x"}))).await;
    let second = api.ok("POST", &url, Some(json!({"name": "b", "bucketName": "x"}))).await;
    assert_eq!(first["name"], second["name"]);
    assert_eq!(api.knobs.count("deduplicated"), 1);
    let (status, _) = api
        .call(
            "POST",
            &format!("{P}/global/backendBuckets?requestId=not-a-uuid"),
            Some(json!({"name": "c", "bucketName": "x"})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn updates_need_the_current_fingerprint() {
    let api = Api::new();
    build_chain(&api).await;
    let url = format!("{P}/global/urlMaps/site-map");
    let (status, v) = api.call("PATCH", &url, Some(json!({"description": "x"}))).await;
    assert_eq!(
        (status, reason(&v), v["error"]["status"].as_str()),
        (412, "conditionNotMet", Some("FAILED_PRECONDITION"))
    );
    let (status, _) = api.call("PATCH", &url, Some(json!({"description": "x", "fingerprint": "c3RhbGU="}))).await;
    assert_eq!(status, 412);
    let before = api.ok("GET", &url, None).await;
    api.ok("PATCH", &url, Some(json!({"description": "x", "fingerprint": before["fingerprint"]}))).await;
    let after = api.ok("GET", &url, None).await;
    assert_eq!(after["description"], "x");
    assert_eq!(after["defaultService"], before["defaultService"], "patch merges");
    assert_ne!(after["fingerprint"], before["fingerprint"]);
    assert_eq!(after["id"], before["id"]);
    // PUT replaces the whole object.
    let mut body = after.clone();
    body.as_object_mut().unwrap().remove("description");
    api.ok("PUT", &url, Some(body)).await;
    assert!(api.ok("GET", &url, None).await.get("description").is_none());
}

#[tokio::test]
async fn operations_finish_after_the_configured_delay() {
    let api = Api::new();
    api.knobs.set_operation_delay(Duration::from_millis(300));
    let op = api.ok("POST", &format!("{P}/global/backendBuckets"), Some(json!({"name": "b", "bucketName": "x"}))).await;
    assert_eq!(op["status"], "RUNNING");
    let name = op["name"].as_str().unwrap();
    let polled = api.ok("GET", &format!("{P}/global/operations/{name}"), None).await;
    assert_eq!(polled["status"], "RUNNING");
    let waited = api.ok("POST", &format!("{P}/global/operations/{name}/wait"), None).await;
    assert_eq!((waited["status"].as_str(), waited["progress"].as_i64()), (Some("DONE"), Some(100)));
    let list = api.ok("GET", &format!("{P}/global/operations"), None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_rate_limit_knob_answers_429() {
    let api = Api::new();
    api.knobs.rate_limit_next(1);
    let (status, v) = api.call("GET", &format!("{P}/global/backendBuckets"), None).await;
    assert_eq!(
        (status, reason(&v), v["error"]["status"].as_str()),
        (429, "rateLimitExceeded", Some("RESOURCE_EXHAUSTED"))
    );
    api.ok("GET", &format!("{P}/global/backendBuckets"), None).await;
    assert_eq!(api.knobs.count("rate_limited"), 1);
    assert_eq!(api.knobs.count("backendBuckets.list"), 1);
}

#[test]
fn the_binary_prints_its_address_and_serves() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gcp-test-server"))
        .args(["--addr", "127.0.0.1:0", "--token", "t0k"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start gcp-test-server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(conn, "GET /compute/v1/projects/p/global/urlMaps HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer t0k\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("compute#urlMapList"), "{answer}");
}
