//! End to end: the built `strata` binary applies examples/gcp-load-balancer (six raw `gcp`
//! resources chained by `${...selfLink}` references) to an in-process gcp-test-server, whose
//! every request body is checked against Compute Engine's discovery document: apply, a no-op
//! re-plan, a one-attribute change planned and applied as one update, destroy leaving nothing.
//! The access token never appears in plan output, state or errors.

use std::process::{Command, Output};

use serde_json::Value;

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const TOKEN: &str = "ya29.e2e-secret-access-token";

struct World {
    server: gcp_test_server::TestServer,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let server = gcp_test_server::spawn_for_tests();
        server.knobs().set_token(TOKEN);
        server.knobs().set_operation_delay(std::time::Duration::from_millis(100));
        let dir = tempfile::tempdir().unwrap();
        let example =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/gcp-load-balancer/strata.yaml"))
                .unwrap();
        std::fs::write(dir.path().join("strata.yaml"), example).unwrap();
        World { server, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(STRATA)
            .current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("STRATA_GCP_COMPUTE_URL", self.server.compute_url())
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .env_remove("STRATA_ENV")
            .output()
            .unwrap()
    }

    fn edit(&self, from: &str, to: &str) {
        let path = self.dir.path().join("strata.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from} not in the spec");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn state_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(".strata/state.json")).unwrap_or_default()
    }
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn gcp_load_balancer_lifecycle() {
    let w = World::new();
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("6 added"), "{}", both(&o));
    let counters = w.server.knobs().counters();
    for insert in [
        "backendBuckets",
        "urlMaps",
        "sslCertificates",
        "targetHttpsProxies",
        "globalAddresses",
        "globalForwardingRules",
    ] {
        assert_eq!(counters.get(&format!("{insert}.insert")), Some(&1), "{counters:?}");
    }
    assert_eq!(counters.get("rejected"), None, "no request was rejected: {counters:?}");

    // Re-plan: nothing to do.
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("No changes."), "{}", both(&o));

    // One attribute: one in-place update (a PATCH with the bucket's current state).
    w.edit("defaultTtl: 3600", "defaultTtl: 600");
    let o = w.run(&["plan", "--json"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changed: Vec<&Value> = plan["changes"].as_array().unwrap().iter().filter(|c| c["action"] != "no-op").collect();
    assert_eq!(changed.len(), 1, "{plan:#}");
    assert_eq!(
        (changed[0]["address"].as_str(), changed[0]["action"].as_str()),
        (Some("resources.assets"), Some("update"))
    );
    assert_eq!(changed[0]["attributes"].as_array().unwrap().len(), 1, "{plan:#}");
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.server.knobs().count("backendBuckets.patch"), 1);
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // Destroy: nothing left on the server, nothing in state.
    let o = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let state: Value = serde_json::from_str(&w.state_text()).unwrap();
    assert_eq!(state["resources"], serde_json::json!({}), "{state:#}");
    assert!(!w.state_text().contains(TOKEN));
    let p = strata_provider_gcp_lists(&w);
    assert!(p.iter().all(|(_, n)| *n == 0), "left behind: {p:?}");

    // A wrong token: an auth error that does not print the token.
    let o = Command::new(STRATA)
        .current_dir(w.dir.path())
        .args(["plan"])
        .env("NO_COLOR", "1")
        .env("STRATA_GCP_COMPUTE_URL", w.server.compute_url())
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.wrong-secret")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", both(&o));
    assert!(!both(&o).contains("wrong-secret") && !both(&o).contains(TOKEN), "{}", both(&o));
}

/// Items per collection, straight from the server's HTTP API.
fn strata_provider_gcp_lists(w: &World) -> Vec<(&'static str, usize)> {
    use std::io::{Read, Write};
    ["backendBuckets", "urlMaps", "sslCertificates", "targetHttpsProxies", "addresses", "forwardingRules"]
        .into_iter()
        .map(|coll| {
            let mut conn = std::net::TcpStream::connect(w.server.addr()).unwrap();
            write!(
                conn,
                "GET /compute/v1/projects/shop-prod-123/global/{coll} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n",
                w.server.addr()
            )
            .unwrap();
            let mut answer = String::new();
            conn.read_to_string(&mut answer).unwrap();
            let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
            let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
            (coll, v["items"].as_array().map_or(0, Vec::len))
        })
        .collect()
}
