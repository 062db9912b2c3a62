//! The server against a real HTTP client: stateful CRUD, validation against the OpenAPI
//! document, authentication, the rate limit with Retry-After, faults and counters.
//! One server per test (each is cheap: the document is parsed once per process).

use std::time::Duration;

use cloudflare_test_server::{FaultKind, RateLimit, TestServer, spawn_for_tests};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn call(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = client().request(method, format!("{}{path}", s.url())).bearer_auth(s.token());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

#[tokio::test]
async fn dns_records_are_stateful_and_paginated() {
    let s = spawn_for_tests();
    let zone = s.zone_id("example.com");
    let base = format!("/zones/{zone}/dns_records");
    let mut ids = Vec::new();
    for i in 0..5 {
        let (st, body, _) = call(
            &s,
            reqwest::Method::POST,
            &base,
            Some(json!({"type": "CNAME", "name": format!("r{i}"), "content": "origin.example.net", "proxied": true, "comment": "c"})),
        )
        .await;
        assert_eq!(st, 200, "{body}");
        assert_eq!(body["result"]["name"], format!("r{i}.example.com"));
        assert_eq!(body["result"]["ttl"], 1, "proxied records have the automatic TTL");
        ids.push(body["result"]["id"].as_str().unwrap().to_string());
    }
    let (_, page, _) = call(&s, reqwest::Method::GET, &format!("{base}?per_page=2&page=3"), None).await;
    assert_eq!(page["result"].as_array().unwrap().len(), 1);
    assert_eq!(page["result_info"]["total_count"], 5);
    assert_eq!(page["result_info"]["total_pages"], 3);
    let (_, one, _) = call(&s, reqwest::Method::GET, &format!("{base}?name=r3.example.com&type=CNAME"), None).await;
    assert_eq!(one["result"][0]["id"], ids[3].as_str());

    let (st, patched, _) = call(
        &s,
        reqwest::Method::PATCH,
        &format!("{base}/{}", ids[0]),
        Some(json!({"type": "CNAME", "name": "r0", "content": "other.example.net"})),
    )
    .await;
    assert_eq!(st, 200, "{patched}");
    assert_eq!(patched["result"]["content"], "other.example.net");
    assert_eq!(patched["result"]["proxied"], true, "PATCH keeps what it does not send");

    let (st, dup, _) =
        call(&s, reqwest::Method::POST, &base, Some(json!({"type": "A", "name": "r1", "content": "192.0.2.1"}))).await;
    assert_eq!(st, 400);
    assert_eq!(dup["errors"][0]["code"], 81053);

    let (st, _, _) = call(&s, reqwest::Method::DELETE, &format!("{base}/{}", ids[1]), None).await;
    assert_eq!(st, 200);
    let (st, gone, _) = call(&s, reqwest::Method::GET, &format!("{base}/{}", ids[1]), None).await;
    assert_eq!(st, 404);
    assert_eq!(gone["success"], false);
    assert!(s.knobs().invalid_requests().is_empty(), "{:?}", s.knobs().invalid_requests());
    assert_eq!(s.knobs().counters()[&"POST /zones/{zone_id}/dns_records".to_string()], 6);
}

#[tokio::test]
async fn invalid_requests_get_the_envelope_and_are_recorded() {
    let s = spawn_for_tests();
    let zone = s.zone_id("example.com");
    // `ttl` must be a number, `type` one of the record types.
    let (st, body, _) = call(
        &s,
        reqwest::Method::POST,
        &format!("/zones/{zone}/dns_records"),
        Some(json!({"type": "CNAME", "name": "x", "content": "y.example.net", "ttl": "auto"})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["result"], Value::Null);
    assert!(body["errors"][0]["code"].is_u64());
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("/ttl"), "{body}");
    // Unknown query parameter, unknown route, wrong method.
    let (st, _, _) = call(&s, reqwest::Method::GET, &format!("/zones/{zone}/dns_records?colour=red"), None).await;
    assert_eq!(st, 400);
    let (st, _, _) = call(&s, reqwest::Method::GET, "/zones/nope/nothing/here", None).await;
    assert_eq!(st, 400);
    let (st, _, _) = call(&s, reqwest::Method::DELETE, &format!("/zones/{zone}/dns_records"), None).await;
    assert_eq!(st, 405);
    // A cache rule with an unknown action is refused by the discriminated schema.
    let (st, body, _) = call(
        &s,
        reqwest::Method::PUT,
        &format!("/zones/{zone}/rulesets/phases/http_request_cache_settings/entrypoint"),
        Some(json!({"rules": [{"action": "explode", "expression": "true"}]})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(s.knobs().invalid_requests().len(), 5, "{:?}", s.knobs().invalid_requests());
    // Bad JSON.
    let resp = client()
        .post(format!("{}/zones/{zone}/dns_records", s.url()))
        .bearer_auth(s.token())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(s.knobs().invalid_requests().len(), 6);
}

#[tokio::test]
async fn authentication_is_required() {
    let s = spawn_for_tests();
    let zone = s.zone_id("example.com");
    let resp = client().get(format!("{}/zones/{zone}/dns_records", s.url())).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], 10000);
    let resp = client().get(format!("{}/zones/{zone}/dns_records", s.url())).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_then_blocks() {
    let s = spawn_for_tests();
    s.knobs().set_rate_limit(RateLimit { limit: 3, window: Duration::from_secs(2) });
    let zone = s.zone_id("example.com");
    let path = format!("/zones/{zone}/dns_records");
    for _ in 0..3 {
        assert_eq!(call(&s, reqwest::Method::GET, &path, None).await.0, 200);
    }
    let (st, body, headers) = call(&s, reqwest::Method::GET, &path, None).await;
    assert_eq!(st, 429);
    assert_eq!(body["errors"][0]["code"], 971);
    assert_eq!(headers["retry-after"], "2");
    // Still blocked until the window after the breach has passed.
    assert_eq!(call(&s, reqwest::Method::GET, &path, None).await.0, 429);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(call(&s, reqwest::Method::GET, &path, None).await.0, 200);
    assert_eq!(s.knobs().rate_limited(), 2);
}

#[tokio::test]
async fn faults_and_latency() {
    let s = spawn_for_tests();
    let zone = s.zone_id("example.com");
    let path = format!("/zones/{zone}/dns_records");
    s.knobs().fail_next(1, FaultKind::Unavailable, Some("dns_records"));
    assert_eq!(call(&s, reqwest::Method::GET, &path, None).await.0, 503);
    assert_eq!(call(&s, reqwest::Method::GET, &path, None).await.0, 200);
    s.knobs().fail_next(1, FaultKind::Drop, None);
    let err = client().get(format!("{}{path}", s.url())).bearer_auth(s.token()).send().await;
    assert!(err.is_err(), "a dropped connection is an error, not an answer");
    s.knobs().set_latency(Duration::from_millis(100));
    let t = std::time::Instant::now();
    call(&s, reqwest::Method::GET, &path, None).await;
    assert!(t.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn entrypoint_ruleset_keeps_ids_and_versions() {
    let s = spawn_for_tests();
    let zone = s.zone_id("example.com");
    let path = format!("/zones/{zone}/rulesets/phases/http_request_cache_settings/entrypoint");
    let (st, _, _) = call(&s, reqwest::Method::GET, &path, None).await;
    assert_eq!(st, 404, "no entrypoint before the first PUT");
    let rule = json!({"ref": "a", "action": "set_cache_settings", "expression": "true",
        "action_parameters": {"cache": true, "edge_ttl": {"mode": "override_origin", "default": 60, "status_code_ttl": []}}});
    let (st, put, _) = call(&s, reqwest::Method::PUT, &path, Some(json!({"rules": [rule]}))).await;
    assert_eq!(st, 200, "{put}");
    assert_eq!(put["result"]["version"], "1");
    let id = put["result"]["rules"][0]["id"].as_str().unwrap().to_string();
    let mut again = put["result"]["rules"][0].clone();
    again.as_object_mut().unwrap().retain(|k, _| !["version", "last_updated"].contains(&k.as_str()));
    let (st, put2, _) = call(
        &s,
        reqwest::Method::PUT,
        &path,
        Some(json!({"rules": [again, {"ref": "a", "action": "set_cache_settings", "expression": "false"}]})),
    )
    .await;
    assert_eq!(st, 400, "duplicate refs are refused: {put2}");
    assert_eq!(put2["errors"][0]["code"], 20217);
    let (_, got, _) = call(&s, reqwest::Method::GET, &path, None).await;
    assert_eq!(got["result"]["rules"][0]["id"], id.as_str());
    assert!(s.knobs().invalid_requests().is_empty(), "{:?}", s.knobs().invalid_requests());
}

#[tokio::test]
async fn workers_upload_is_multipart_with_a_main_module() {
    let s = spawn_for_tests();
    let account = s.account_id().to_string();
    let zone = s.zone_id("example.com");
    let upload = |code: &'static str, main: &'static str| {
        let form = reqwest::multipart::Form::new()
            .part(
                "metadata",
                reqwest::multipart::Part::text(
                    json!({"main_module": main, "compatibility_date": "2024-08-01"}).to_string(),
                )
                .mime_str("application/json")
                .unwrap(),
            )
            .part(
                "worker.js",
                reqwest::multipart::Part::bytes(code.as_bytes().to_vec())
                    .file_name("worker.js")
                    .mime_str("application/javascript+module")
                    .unwrap(),
            );
        client()
            .put(format!("{}/accounts/{account}/workers/scripts/edge", s.url()))
            .bearer_auth(s.token())
            .multipart(form)
            .send()
    };
    let r = upload("export default { fetch() { return new Response('a') } }", "worker.js").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let first: Value = r.json().await.unwrap();
    let r = upload("export default { fetch() { return new Response('b') } }", "worker.js").await.unwrap();
    let second: Value = r.json().await.unwrap();
    assert_ne!(first["result"]["etag"], second["result"]["etag"], "new code, new etag");
    let r = upload("export default {}", "missing.js").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (st, route, _) = call(
        &s,
        reqwest::Method::POST,
        &format!("/zones/{zone}/workers/routes"),
        Some(json!({"pattern": "example.com/*", "script": "edge"})),
    )
    .await;
    assert_eq!(st, 200, "{route}");
    let (_, list, _) = call(&s, reqwest::Method::GET, &format!("/accounts/{account}/workers/scripts"), None).await;
    assert_eq!(list["result"][0]["id"], "edge");
    assert!(s.knobs().invalid_requests().is_empty(), "{:?}", s.knobs().invalid_requests());
}

#[tokio::test]
async fn load_balancers_reference_pools_and_monitors() {
    let s = spawn_for_tests();
    let account = s.account_id().to_string();
    let zone = s.zone_id("example.com");
    let (st, m, _) = call(
        &s,
        reqwest::Method::POST,
        &format!("/accounts/{account}/load_balancers/monitors"),
        Some(json!({"type": "https", "path": "/healthz", "expected_codes": "200", "description": "m"})),
    )
    .await;
    assert_eq!(st, 200, "{m}");
    let monitor = m["result"]["id"].as_str().unwrap().to_string();
    let (st, p, _) = call(
        &s,
        reqwest::Method::POST,
        &format!("/accounts/{account}/load_balancers/pools"),
        Some(
            json!({"name": "primary", "monitor": monitor, "origins": [{"name": "a", "address": "origin.example.net"}]}),
        ),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    let pool = p["result"]["id"].as_str().unwrap().to_string();
    let (st, lb, _) = call(
        &s,
        reqwest::Method::POST,
        &format!("/zones/{zone}/load_balancers"),
        Some(json!({"name": "www", "default_pools": [pool], "fallback_pool": pool, "steering_policy": "off"})),
    )
    .await;
    assert_eq!(st, 200, "{lb}");
    assert_eq!(lb["result"]["name"], "www.example.com");
    let (st, _, _) =
        call(&s, reqwest::Method::DELETE, &format!("/accounts/{account}/load_balancers/pools/{pool}"), None).await;
    assert_eq!(st, 400, "a pool in use cannot be deleted");
    let (st, _, _) =
        call(&s, reqwest::Method::POST, &format!("/zones/{zone}/purge_cache"), Some(json!({"purge_everything": true})))
            .await;
    assert_eq!(st, 200);
    assert_eq!(s.purges(&zone).len(), 1);
    assert!(s.knobs().invalid_requests().is_empty(), "{:?}", s.knobs().invalid_requests());
}

#[test]
fn binary_prints_its_address() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cloudflare-test-server"))
        .args(["--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    child.kill().ok();
    child.wait().ok();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
}
