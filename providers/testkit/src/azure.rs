//! The azure-test-server launcher (feature `azure`): an in-process local Azure Resource Manager
//! (Microsoft.Cdn, Front Door) on a free loopback port, validating every request against the
//! official Swagger documents (`STRATA_API_SPECS`; missing documents fail the test).

pub use azure_test_server::{
    ARM_READS, ARM_WRITES, Bucket, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_FEDERATED_ASSERTION,
    DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, DEFAULT_TENANT, DEFAULT_TOKEN, FaultRule, InvalidRequest, Knobs,
    TestServer,
};

/// Starts a server with default knobs. It runs on its own thread and runtime and stops when
/// dropped.
pub fn server() -> TestServer {
    azure_test_server::spawn_for_tests()
}

/// Panics listing every request the server found invalid (tests call it at their end).
#[track_caller]
pub fn assert_no_invalid_requests(server: &TestServer) {
    let invalid = server.knobs().invalid_requests();
    assert!(invalid.is_empty(), "the local Azure API refused {} invalid request(s): {invalid:#?}", invalid.len());
}
