//! The cloudflare-test-server launcher (feature `cloudflare`): an in-process local Cloudflare
//! API v4 server on a free loopback port, validating every request against the official
//! OpenAPI document (`STRATA_API_SPECS`; a missing document fails the test).

pub use cloudflare_test_server::{
    DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, DEFAULT_ZONE, FaultKind, FaultRule, InvalidRequest, Knobs, RateLimit, TestServer,
};

/// Starts a server with the default token, account and zone (`example.com`). It runs on its
/// own thread and runtime and stops when dropped.
pub fn server() -> TestServer {
    cloudflare_test_server::spawn_for_tests()
}

/// Panics listing every request the server found invalid (tests call it at their end).
#[track_caller]
pub fn assert_no_invalid_requests(server: &TestServer) {
    let invalid = server.knobs().invalid_requests();
    assert!(invalid.is_empty(), "the local Cloudflare API refused {} invalid request(s): {invalid:#?}", invalid.len());
}
