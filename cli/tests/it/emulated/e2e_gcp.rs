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
        Self::with_example("gcp-load-balancer")
    }

    fn with_example(example: &str) -> World {
        let server = gcp_test_server::spawn_for_tests();
        server.knobs().set_token(TOKEN);
        server.knobs().set_operation_delay(std::time::Duration::from_millis(100));
        let dir = tempfile::tempdir().unwrap();
        let path = format!("{}/../examples/{example}/strata.yaml", env!("CARGO_MANIFEST_DIR"));
        std::fs::write(dir.path().join("strata.yaml"), std::fs::read_to_string(path).unwrap()).unwrap();
        World { server, dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(STRATA);
        c.current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("STRATA_GCP_COMPUTE_URL", self.server.compute_url())
            .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("STRATA_ENV");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
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

/// One request to the server's HTTP API, as an out-of-band client would send it.
fn api(w: &World, method: &str, path: &str) -> Value {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(w.server.addr()).unwrap();
    write!(
        conn,
        "{method} /compute/v1/projects/shop-prod-123/{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        w.server.addr()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

const COLLECTIONS: [&str; 7] = [
    "backendBuckets",
    "urlMaps",
    "sslCertificates",
    "targetHttpsProxies",
    "targetHttpProxies",
    "addresses",
    "forwardingRules",
];

/// Items per collection, straight from the server's HTTP API.
fn strata_provider_gcp_lists(w: &World) -> Vec<(&'static str, usize)> {
    COLLECTIONS
        .into_iter()
        .map(|coll| (coll, api(w, "GET", &format!("global/{coll}"))["items"].as_array().map_or(0, Vec::len)))
        .collect()
}

/// The `cdn:` entry of examples/cdn-gcp (two buckets, path rule, managed certificate, HTTPS
/// and redirect forwarding rules on one IP): apply, outputs, no-op re-plan, a TTL change as
/// updates of the buckets only, drift after an out-of-band delete (exit 2) and its repair,
/// destroy leaving nothing.
#[test]
fn gcp_cdn_entry_lifecycle() {
    let w = World::with_example("cdn-gcp");
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("10 added"), "{}", both(&o));
    assert_eq!(w.server.knobs().count("rejected"), 0, "{:?}", w.server.knobs().counters());
    let counts = strata_provider_gcp_lists(&w);
    assert_eq!(counts.iter().map(|(_, n)| n).collect::<Vec<_>>(), [&2, &2, &1, &1, &1, &1, &2], "{counts:?}");
    let state: Value = serde_json::from_str(&w.state_text()).unwrap();
    let main = &state["resources"]["cdn.assets-gcp"]["outputs"];
    assert_eq!(main["domain_name"], "static.example.com", "{state:#}");
    let ip = main["ip"].as_str().unwrap();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    assert_eq!(state["resources"]["cdn.assets-gcp.http"]["outputs"]["ip"], ip, "one IP for both rules");
    assert_eq!(state["resources"]["cdn.assets-gcp.certificate"]["outputs"]["status"], "PROVISIONING");

    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // A cache TTL is in every bucket's cdnPolicy: two in-place updates, nothing else.
    w.edit("default_ttl: 1h", "default_ttl: 2h");
    let o = w.run(&["plan", "--json"]);
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changed: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| (c["address"].as_str().unwrap(), c["action"].as_str().unwrap()))
        .collect();
    assert_eq!(changed, [("cdn.assets-gcp.bucket.assets", "update"), ("cdn.assets-gcp.bucket.media", "update")]);
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.server.knobs().count("backendBuckets.patch"), 2);

    // Someone deletes the redirect's forwarding rule: drift (exit 2), and apply puts it back.
    let op = api(&w, "DELETE", "global/forwardingRules/shop-assets-gcp-http");
    assert_eq!(op["kind"], "compute#operation", "{op}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = w.run(&["drift"]);
    assert_eq!(code(&o), 2, "{}", both(&o));
    assert!(both(&o).contains("cdn.assets-gcp.http"), "{}", both(&o));
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    let o = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let left = strata_provider_gcp_lists(&w);
    assert!(left.iter().all(|(_, n)| *n == 0), "left behind: {left:?}");
    assert!(!w.state_text().contains(TOKEN));
}

/// kill -9 in the middle of an apply whose operations take a second each, then a rerun: every
/// object exists once (the rerun adopts what the killed run created, by its ownership mark),
/// and a re-plan is quiet.
#[test]
fn gcp_kill_mid_apply_then_rerun_leaves_no_duplicate_and_no_orphan() {
    let w = World::with_example("cdn-gcp");
    w.server.knobs().set_operation_delay(std::time::Duration::from_millis(1000));
    let mut child = w.command(&["apply", "--auto-approve"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while w.server.knobs().count("backendBuckets.insert") < 2 {
        assert!(std::time::Instant::now() < deadline, "the apply never created the buckets");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    w.server.knobs().set_operation_delay(std::time::Duration::from_millis(50));

    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let counts = strata_provider_gcp_lists(&w);
    assert_eq!(counts.iter().map(|(_, n)| n).collect::<Vec<_>>(), [&2, &2, &1, &1, &1, &1, &2], "{counts:?}");
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let o = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(strata_provider_gcp_lists(&w).iter().all(|(_, n)| *n == 0));
}

/// Benchmark (docs/benchmarks.md): 500 backend buckets applied, then every answer delayed 50 ms
/// and `strata plan` refreshes all 500: requests sent vs resources, and wall time. Prints the
/// numbers (`-- --nocapture`).
#[test]
fn refresh_of_500_resources_is_batched() {
    let w = World::new();
    let mut spec = String::from(
        "version: 1\nproject: bench\nproviders:\n  gcp: { project: shop-prod-123, requests_per_second: 1000 }\nresources:\n",
    );
    for i in 0..500 {
        spec.push_str(&format!(
            "  - name: b{i}\n    gcp: {{ kind: backend_bucket, name: bench-{i}, bucketName: bench-bucket-{i}, enableCdn: true }}\n"
        ));
    }
    std::fs::write(w.dir.path().join("strata.yaml"), spec).unwrap();
    w.server.knobs().set_operation_delay(std::time::Duration::ZERO);
    let o = w.run(&["apply", "--auto-approve", "--parallelism", "20"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    w.server.knobs().set_latency(std::time::Duration::from_millis(50));
    w.server.knobs().reset_counters();
    let started = std::time::Instant::now();
    let o = w.run(&["plan", "--detailed-exitcode"]);
    let took = started.elapsed();
    assert_eq!(code(&o), 0, "{}", both(&o));
    let requests = w.server.knobs().count("requests");
    eprintln!(
        "gcp refresh benchmark: 500 backend_bucket resources, 50 ms latency: {requests} requests, {:.2}s wall (process start included); {:?}",
        took.as_secs_f64(),
        w.server.knobs().counters()
    );
    // One page of 500 per list: the whole refresh is one request.
    assert!(requests <= 2, "refresh is one list per collection: {:?}", w.server.knobs().counters());
    assert_eq!(w.server.knobs().count("rejected"), 0);
}
