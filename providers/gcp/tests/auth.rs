//! Credentials against gcp-test-server's token endpoint and metadata server: a service
//! account key (an RS256-signed JWT assertion, verified by the server with the key's public
//! half), gcloud user credentials (a refresh token), the metadata server; tokens are cached
//! until near expiry, and no secret reaches an error.

use std::path::PathBuf;

use gcp_test_server::TestServer;
use serde_json::{Value, json};
use strata_provider_gcp::{GcpConfig, GcpProvider, OwnerMarks, TokenSource};
use strata_sdk::{Address, Provider, ReadRequest};

const EMAIL: &str = "strata-test@strata-test.iam.gserviceaccount.com";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gcp")
}

/// A temp dir holding `name` with `doc` in it.
fn write_file(name: &str, doc: &Value) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    (dir, path)
}

fn service_account(server: &TestServer) -> Value {
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("service-account.json")).unwrap()).unwrap();
    doc["token_uri"] = json!(format!("{}/token", server.url()));
    doc
}

fn register_key(server: &TestServer) {
    let public = std::fs::read(fixtures().join("service-account.pub.der")).unwrap();
    server.knobs().set_service_account(EMAIL, public);
}

fn provider(server: &TestServer, token: TokenSource) -> GcpProvider {
    let config = GcpConfig {
        project: "demo-project".into(),
        api_base_url: Some(server.compute_url()),
        credentials_file: None,
        requests_per_second: None,
    };
    GcpProvider::new(&config, OwnerMarks::new("demo".into(), "default".into()), token)
}

/// One read of a bucket that does not exist: an authenticated request, or the error.
async fn read_once(p: &GcpProvider) -> Result<(), String> {
    let attrs = json!({"name": "nothing-here"});
    let requests = [ReadRequest {
        address: Address::from_segments(["resources", "x"]).unwrap(),
        kind: "backend_bucket".into(),
        remote_id: None,
        attrs: Some(&attrs),
    }];
    match p.read(&requests).await.pop().unwrap() {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err("found".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn a_service_account_key_is_exchanged_once_for_a_cached_token() {
    let server = gcp_test_server::spawn_for_tests();
    register_key(&server);
    let (_dir, file) = write_file("sa.json", &service_account(&server));
    let p = provider(&server, TokenSource::from_file(&file));
    for _ in 0..3 {
        read_once(&p).await.unwrap();
    }
    assert_eq!(server.knobs().count("oauth.jwt_bearer"), 1, "{:?}", server.knobs().counters());
}

#[tokio::test]
async fn a_token_near_expiry_is_renewed() {
    let server = gcp_test_server::spawn_for_tests();
    register_key(&server);
    // Valid 30 s: inside the renewal margin, so every request fetches a new one.
    server.knobs().set_token_lifetime(30);
    let (_dir, file) = write_file("sa.json", &service_account(&server));
    let p = provider(&server, TokenSource::from_file(&file));
    read_once(&p).await.unwrap();
    read_once(&p).await.unwrap();
    assert_eq!(server.knobs().count("oauth.jwt_bearer"), 2);
}

#[tokio::test]
async fn an_assertion_signed_by_another_key_is_refused_without_leaking_the_key() {
    let server = gcp_test_server::spawn_for_tests();
    // The server knows the email with a different public key: the signature does not verify.
    server.knobs().set_service_account(EMAIL, vec![0x30, 0x03, 0x02, 0x01, 0x01]);
    let doc = service_account(&server);
    let (_dir, file) = write_file("sa.json", &doc);
    let err = read_once(&provider(&server, TokenSource::from_file(&file))).await.unwrap_err();
    assert!(err.contains("Invalid JWT Signature"), "{err}");
    let key_body = doc["private_key"].as_str().unwrap().lines().nth(1).unwrap();
    assert!(!err.contains(key_body), "the error shows the private key: {err}");
    assert_eq!(server.knobs().count("backendBuckets.list"), 0, "no API call without a token");
}

#[tokio::test]
async fn gcloud_user_credentials_use_their_refresh_token() {
    let server = gcp_test_server::spawn_for_tests();
    server.knobs().set_authorized_user("client-1.apps.googleusercontent.com", "client-secret-1", "refresh-1");
    let doc = json!({
        "type": "authorized_user",
        "client_id": "client-1.apps.googleusercontent.com",
        "client_secret": "client-secret-1",
        "refresh_token": "refresh-1",
        "token_uri": format!("{}/token", server.url()),
    });
    let (_dir, file) = write_file("adc.json", &doc);
    read_once(&provider(&server, TokenSource::from_file(&file))).await.unwrap();
    assert_eq!(server.knobs().count("oauth.refresh_token"), 1);

    let mut revoked = doc.clone();
    revoked["refresh_token"] = json!("refresh-revoked");
    let (_dir2, file) = write_file("adc.json", &revoked);
    let err = read_once(&provider(&server, TokenSource::from_file(&file))).await.unwrap_err();
    assert!(err.contains("invalid_grant"), "{err}");
    assert!(!err.contains("refresh-revoked") && !err.contains("client-secret-1"), "{err}");
}

#[tokio::test]
async fn the_metadata_server_gives_the_token_on_gcp() {
    let server = gcp_test_server::spawn_for_tests();
    let host = server.url().trim_start_matches("http://").to_string();
    read_once(&provider(&server, TokenSource::metadata_server(host))).await.unwrap();
    assert_eq!(server.knobs().count("metadata.token"), 1);
}

#[tokio::test]
async fn no_metadata_server_is_a_credentials_error_saying_what_to_set() {
    let server = gcp_test_server::spawn_for_tests();
    // A closed port: nothing answers, as off GCP.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = read_once(&provider(&server, TokenSource::metadata_server(closed.to_string()))).await.unwrap_err();
    assert!(err.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{err}");
}
