//! End to end: the built `strata` binary against the local Azure Resource Manager
//! (tests/azure-test-server, validating every request against the official Swagger documents,
//! long-running operations on every PUT/DELETE) with examples/cdn-azure, authenticated by the
//! client-credentials flow against the server's identity endpoint: apply, a no-op re-plan, a
//! one-attribute change planned and applied as one update, an out-of-band change caught by
//! `drift` (exit 2) and repaired, destroy leaving nothing. The client secret never appears in
//! plans, state, output or errors. Also: `kill -9` mid-apply then a rerun, and the refresh
//! benchmark of docs/benchmarks.md.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use azure_test_server::{Bucket, Knobs, TestServer};
use serde_json::{Value, json};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
/// A secret distinctive enough that any leak is found by a substring search.
const SECRET: &str = "az-e2e-S3CRET-7c1d9e2f4a6b";
const SUB: &str = "00000000-0000-0000-0000-000000000001";
const RG: &str = "shop-edge";

struct World {
    server: TestServer,
    dir: tempfile::TempDir,
}

fn example_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cdn-azure")
}

fn scope() -> String {
    TestServer::scope(SUB, RG)
}

impl World {
    fn new() -> World {
        let knobs = Knobs::new();
        knobs.set_client(azure_test_server::DEFAULT_TENANT, azure_test_server::DEFAULT_CLIENT_ID, SECRET);
        knobs.set_operation_delay(Duration::from_millis(100));
        knobs.set_poll_retry_after(0);
        let server = azure_test_server::spawn_with_knobs(knobs);
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(example_dir().join("strata.yaml"), dir.path().join("strata.yaml")).unwrap();
        World { server, dir }
    }

    fn command(&self, args: &[&str], secret: &str) -> Command {
        let mut cmd = Command::new(STRATA);
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("AZURE_TENANT_ID", azure_test_server::DEFAULT_TENANT)
            .env("AZURE_CLIENT_ID", azure_test_server::DEFAULT_CLIENT_ID)
            .env("AZURE_CLIENT_SECRET", secret)
            .env("STRATA_AZURE_ARM_URL", self.server.url())
            .env("STRATA_AZURE_AUTHORITY_URL", self.server.url())
            .env_remove("AZURE_FEDERATED_TOKEN_FILE")
            .env_remove("STRATA_AZURE_TOKEN")
            .env_remove("STRATA_ENV");
        cmd
    }

    fn run_with_secret(&self, args: &[&str], secret: &str) -> Output {
        self.command(args, secret).output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        let o = self.run_with_secret(args, SECRET);
        let all = both(&o);
        assert!(!all.contains(SECRET), "the client secret leaked in `strata {}`:\n{all}", args.join(" "));
        o
    }

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join(".strata/state.json")).unwrap();
        assert!(!text.contains(SECRET), "the client secret is in the state");
        serde_json::from_str(&text).unwrap()
    }

    fn edit_spec(&self, from: &str, to: &str) {
        let p = self.dir.path().join("strata.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from));
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    /// An ARM call with the server's static token (someone else's change, out of band).
    fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut r = reqwest::Client::new()
                .request(method.parse().unwrap(), format!("{}{path}?api-version=2025-06-01", self.server.url()))
                .bearer_auth(azure_test_server::DEFAULT_TOKEN);
            if let Some(b) = body {
                r = r.json(&b);
            }
            let resp = r.send().await.unwrap();
            let bytes = resp.bytes().await.unwrap();
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() }
        })
    }

    /// Nothing strata wrote (state, backups, logs, locks) holds the secret.
    fn assert_no_secret_in_files(&self) {
        let mut dirs = vec![self.dir.path().to_path_buf()];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
                let p = entry.path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    let bytes = std::fs::read(&p).unwrap();
                    assert!(!String::from_utf8_lossy(&bytes).contains(SECRET), "the secret is in {}", p.display());
                }
            }
        }
    }

    fn assert_no_invalid_requests(&self) {
        let invalid = self.server.knobs().invalid_requests();
        assert!(invalid.is_empty(), "requests the Swagger documents refuse: {invalid:#?}");
    }
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The example's resources: profile, endpoint, origin group, 2 origins, rule set, 3 rules,
/// custom domain, route.
const EXAMPLE_RESOURCES: usize = 11;

#[test]
fn azure_example_lifecycle() {
    let w = World::new();
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", both(&o));
    assert!(both(&o).contains("Plan: 11 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", both(&o));

    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("Apply complete! Resources: 11 added"), "{}", both(&o));
    let state = w.state();
    let host = state["resources"]["cdn.web"]["outputs"]["domain_name"].as_str().unwrap().to_string();
    assert!(host.starts_with("shop-web-") && host.ends_with(".z01.azurefd.net"), "{host}");
    let token = state["resources"]["cdn.web.domain"]["outputs"]["validation_token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(state["resources"]["cdn.web.profile"]["outputs"]["id"].as_str().unwrap().ends_with("/profiles/shop-web"));
    assert_eq!(w.server.resource_count(), EXAMPLE_RESOURCES);
    let route = w.api("GET", &format!("{}/profiles/shop-web/afdEndpoints/shop-web/routes/default", scope()), None);
    assert_eq!(route["properties"]["originGroup"]["id"], format!("{}/profiles/shop-web/originGroups/default", scope()));
    assert_eq!(route["properties"]["provisioningState"], "Succeeded");
    let profile = w.api("GET", &format!("{}/profiles/shop-web", scope()), None);
    assert_eq!(profile["tags"]["strata-address"], "cdn.web.profile");
    assert_eq!(profile["tags"]["team"], "storefront");

    // No-op re-plan.
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("No changes."), "{}", both(&o));

    // One attribute: the west origin's priority is one update.
    w.edit_spec("priority: 2", "priority: 3");
    let o = w.run(&["plan", "--json"]);
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", both(&o)));
    let changed: Vec<&Value> = plan["changes"].as_array().unwrap().iter().filter(|c| c["action"] != "no-op").collect();
    assert_eq!(changed.len(), 1, "{plan:#}");
    assert_eq!(changed[0]["address"], "cdn.web.origin.west");
    assert_eq!(changed[0]["action"], "update");
    assert_eq!(changed[0]["attributes"].as_array().unwrap().len(), 1, "{:#}", changed[0]);
    let puts = w.server.knobs().count("AFDOrigins_Create");
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("0 added, 1 changed"), "{}", both(&o));
    assert_eq!(w.server.knobs().count("AFDOrigins_Create"), puts + 1);
    let west = w.api("GET", &format!("{}/profiles/shop-web/originGroups/default/origins/west", scope()), None);
    assert_eq!(west["properties"]["priority"], 3);
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // Out of band: someone repoints the east origin in the portal. Drift (exit 2), then repair.
    let east = format!("{}/profiles/shop-web/originGroups/default/origins/east", scope());
    w.api("PUT", &east, Some(json!({"properties": {"hostName": "evil.example.net", "priority": 1, "weight": 1000}})));
    std::thread::sleep(Duration::from_millis(150));
    let o = w.run(&["drift"]);
    assert_eq!(code(&o), 2, "{}", both(&o));
    assert!(both(&o).contains("cdn.web.origin.east") && both(&o).contains("evil.example.net"), "{}", both(&o));
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.api("GET", &east, None)["properties"]["hostName"], "app-east.example.net");
    let o = w.run(&["drift"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // Workload identity: the federated token file instead of the secret, same result.
    let token_file = w.dir.path().join("federated-token");
    std::fs::write(&token_file, azure_test_server::DEFAULT_FEDERATED_ASSERTION).unwrap();
    let o = w
        .command(&["plan", "--detailed-exitcode"], "")
        .env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", both(&o));
    std::fs::remove_file(&token_file).unwrap();

    // A wrong secret: the identity platform's error, never the secret.
    let wrong = "wrong-S3CRET-5a5a5a5a5a";
    let o = w.run_with_secret(&["plan"], wrong);
    assert_eq!(code(&o), 1, "{}", both(&o));
    assert!(both(&o).contains("AADSTS7000215"), "{}", both(&o));
    assert!(!both(&o).contains(wrong), "{}", both(&o));

    // Destroy leaves nothing.
    let o = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.server.resource_count(), 0);
    assert_eq!(w.state()["resources"], json!({}));
    w.assert_no_secret_in_files();
    w.assert_no_invalid_requests();
}

/// `kill -9` in the middle of an apply, then a rerun: every object exists once (deterministic
/// names, PUT by name), nothing is orphaned, and a re-plan is a no-op.
#[test]
fn azure_killed_apply_then_rerun_leaves_no_duplicate() {
    let w = World::new();
    // Slow answers, so the kill lands while requests and operations are in flight.
    w.server.knobs().set_latency(Duration::from_millis(200));
    let mut child =
        w.command(&["apply", "--auto-approve"], SECRET).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pipe = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("Creation complete") {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("strata never completed a create:\n{seen}");
            }
        }
    }
    // SIGKILL: no cleanup, no final state write.
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    let made = w.server.resource_count();
    assert!((1..EXAMPLE_RESOURCES).contains(&made), "the killed run created part of the example: {made}");
    w.server.knobs().set_latency(Duration::ZERO);

    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let count = |path: &str| w.api("GET", &format!("{}{path}", scope()), None)["value"].as_array().map_or(0, Vec::len);
    assert_eq!(count("/profiles"), 1);
    assert_eq!(count("/profiles/shop-web/afdEndpoints"), 1);
    assert_eq!(count("/profiles/shop-web/originGroups"), 1);
    assert_eq!(count("/profiles/shop-web/originGroups/default/origins"), 2);
    assert_eq!(count("/profiles/shop-web/ruleSets/strata/rules"), 3);
    assert_eq!(count("/profiles/shop-web/customDomains"), 1);
    assert_eq!(count("/profiles/shop-web/afdEndpoints/shop-web/routes"), 1);
    assert_eq!(w.server.resource_count(), EXAMPLE_RESOURCES);
    assert_eq!(w.state()["resources"].as_object().unwrap().len(), EXAMPLE_RESOURCES);
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let o = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.server.resource_count(), 0);
    w.assert_no_invalid_requests();
}

/// The refresh benchmark of docs/benchmarks.md: one profile, 10 origin groups and 489 origins
/// (500 resources), then `strata plan` (a full refresh) with 50 ms added to every ARM answer.
/// Asserts the batching (one GET per profile, one list per collection and parent) and prints
/// requests and wall time. The setup apply runs with ARM's throttling and the provider's limits
/// raised (at ARM's 10 writes/s it would take ~50 s, as it should against the real API).
#[test]
fn azure_refresh_of_500_resources_is_batched() {
    let w = World::new();
    w.server.knobs().set_operation_delay(Duration::ZERO);
    w.server.knobs().set_buckets(Bucket { capacity: 1e6, refill: 1e6 }, Bucket { capacity: 1e6, refill: 1e6 });
    let mut spec = format!(
        "version: 1\nproject: bench\nproviders:\n  azure: {{ subscription_id: {SUB}, resource_group: {RG}, reads_per_second: 1000, writes_per_second: 1000, request_burst: 1000 }}\nresources:\n  - name: p\n    azure: {{ kind: profile, name: bench, sku: {{ name: Standard_AzureFrontDoor }} }}\n"
    );
    for g in 0..10 {
        spec.push_str(&format!(
            "  - name: g{g}\n    azure: {{ kind: origin_group, name: g{g}, profile: bench, properties: {{}} }}\n"
        ));
    }
    for i in 0..489 {
        spec.push_str(&format!(
            "  - name: o{i}\n    azure: {{ kind: origin, name: o{i}, profile: bench, origin_group: g{}, properties: {{ hostName: o{i}.example.net }} }}\n",
            i % 10
        ));
    }
    std::fs::write(w.dir.path().join("strata.yaml"), spec).unwrap();
    let o = w.run(&["apply", "--auto-approve", "--parallelism", "20"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.server.resource_count(), 500);

    // ARM's own buckets again, and 50 ms on every answer.
    w.server.knobs().set_buckets(azure_test_server::ARM_READS, azure_test_server::ARM_WRITES);
    w.server.knobs().set_latency(Duration::from_millis(50));
    w.server.knobs().reset_counters();
    let started = Instant::now();
    let o = w.run(&["plan", "--detailed-exitcode"]);
    let took = started.elapsed();
    assert_eq!(code(&o), 0, "{}", both(&o));
    let requests = w.server.knobs().count("requests");
    let tokens = w.server.knobs().count("tokens_issued");
    eprintln!(
        "azure refresh benchmark: 500 resources (1 profile, 10 origin groups, 489 origins), 50 ms latency: {requests} ARM requests (+{tokens} token request), {:.2}s wall (process start included); {:?}",
        took.as_secs_f64(),
        w.server.knobs().counters()
    );
    // 1 profile GET + 1 origin group list + 10 origin lists.
    assert_eq!(requests, 12, "{:?}", w.server.knobs().counters());
    w.assert_no_invalid_requests();
}

/// A bad entry is a located diagnostic, exit 1, and no request reaches ARM or the identity
/// endpoint.
#[test]
fn azure_bad_entry_is_reported_before_any_remote_call() {
    let w = World::new();
    w.edit_spec("priority: 2", "priority: 9");
    w.edit_spec("path: /static/*", "path: static");
    for cmd in [&["validate"][..], &["plan"][..]] {
        let o = w.run(cmd);
        assert_eq!(code(&o), 1, "{}", both(&o));
        let text = both(&o);
        assert!(text.contains("spec::invalid-value") && text.contains("an origin priority is 1 to 5, not 9"), "{text}");
        assert!(text.contains("cdn::invalid-path-pattern") && text.contains("strata.yaml:"), "{text}");
    }
    assert_eq!(w.server.knobs().count("requests"), 0);
    assert_eq!(w.server.knobs().count("tokens_issued"), 0);
}
