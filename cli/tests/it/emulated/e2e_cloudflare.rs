//! End to end: the built `strata` binary against the local Cloudflare API
//! (tests/cloudflare-test-server, validating every request against the official OpenAPI
//! document) with examples/cdn-cloudflare: apply, a no-op re-plan, a one-attribute change
//! planned and applied as one update (with the cache purge), an out-of-band change caught by
//! `drift` (exit 2) and repaired, destroy leaving nothing. The API token never appears in
//! plans, state, output or errors.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cloudflare_test_server::{Knobs, ServerConfig, Spec, TestServer};
use serde_json::{Value, json};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
/// A token distinctive enough that any leak is found by a substring search.
const TOKEN: &str = "cf-e2e-T0KEN-d6f1c2a9b8e7";

struct World {
    server: TestServer,
    dir: tempfile::TempDir,
}

fn example_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cdn-cloudflare")
}

impl World {
    fn new() -> World {
        let spec = Spec::load(&cloudflare_test_server::default_spec_path()).unwrap_or_else(|e| panic!("{e}"));
        let config = ServerConfig {
            token: TOKEN.into(),
            account_id: cloudflare_test_server::DEFAULT_ACCOUNT_ID.into(),
            zones: vec!["example.com".into()],
            spec,
        };
        let server = cloudflare_test_server::spawn(config, Knobs::new());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("edge")).unwrap();
        std::fs::copy(example_dir().join("strata.yaml"), dir.path().join("strata.yaml")).unwrap();
        std::fs::copy(example_dir().join("edge/worker.js"), dir.path().join("edge/worker.js")).unwrap();
        World { server, dir }
    }

    fn command(&self, args: &[&str], token: &str) -> Command {
        let mut cmd = Command::new(STRATA);
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("CLOUDFLARE_API_TOKEN", token)
            .env("CLOUDFLARE_API_BASE_URL", self.server.url())
            .env_remove("STRATA_ENV");
        cmd
    }

    fn run_with_token(&self, args: &[&str], token: &str) -> Output {
        Command::new(STRATA)
            .current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("CLOUDFLARE_API_TOKEN", token)
            .env("CLOUDFLARE_API_BASE_URL", self.server.url())
            .env_remove("STRATA_ENV")
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        let o = self.run_with_token(args, TOKEN);
        let all = both(&o);
        assert!(!all.contains(TOKEN), "the token leaked in `strata {}`:\n{all}", args.join(" "));
        o
    }

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join(".strata/state.json")).unwrap();
        assert!(!text.contains(TOKEN), "the token is in the state");
        serde_json::from_str(&text).unwrap()
    }

    fn edit_spec(&self, from: &str, to: &str) {
        let p = self.dir.path().join("strata.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from));
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut r = reqwest::Client::new()
                .request(method.parse().unwrap(), format!("{}{path}", self.server.url()))
                .bearer_auth(TOKEN);
            if let Some(b) = body {
                r = r.json(&b);
            }
            r.send().await.unwrap().json().await.unwrap()
        })
    }
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn cloudflare_example_lifecycle() {
    let w = World::new();
    let zone = w.server.zone_id("example.com");

    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", both(&o));
    assert!(both(&o).contains("Plan: 8 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", both(&o));

    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("Apply complete! Resources: 8 added"), "{}", both(&o));
    let state = w.state();
    assert_eq!(state["resources"]["cdn.assets"]["outputs"]["domain_name"], "static.example.com");
    assert_eq!(state["resources"]["cdn.api"]["outputs"]["domain_name"], "api.example.com");
    let records = w.api("GET", &format!("/zones/{zone}/dns_records?name=static.example.com"), None);
    assert_eq!(records["result"][0]["content"], "apex-assets.s3.amazonaws.com");
    assert_eq!(records["result"][0]["proxied"], true);
    let lbs = w.api("GET", &format!("/zones/{zone}/load_balancers"), None);
    assert_eq!(lbs["result"].as_array().unwrap().len(), 1);
    assert_eq!(lbs["result"][0]["default_pools"].as_array().unwrap().len(), 2);
    let routes = w.api("GET", &format!("/zones/{zone}/workers/routes"), None);
    assert_eq!(routes["result"][0]["script"], "apex-assets");
    assert_eq!(w.server.object_count(), 8 + 2, "8 resources; the cache rules resource holds 3 rules");

    // No-op re-plan.
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("No changes."), "{}", both(&o));

    // One attribute: the default TTL is one update of the cache rules, then a purge.
    w.edit_spec("default_ttl: 1d", "default_ttl: 2d");
    let o = w.run(&["plan", "--json"]);
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", both(&o)));
    let changed: Vec<&Value> = plan["changes"].as_array().unwrap().iter().filter(|c| c["action"] != "no-op").collect();
    assert_eq!(changed.len(), 1, "{plan:#}");
    assert_eq!(changed[0]["address"], "cdn.assets.cache-rules");
    assert_eq!(changed[0]["action"], "update");
    assert_eq!(changed[0]["attributes"].as_array().unwrap().len(), 1, "{:#}", changed[0]);
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(both(&o).contains("0 added, 1 changed"), "{}", both(&o));
    assert_eq!(w.server.purges(&zone), vec![json!({"purge_everything": true})]);
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // A code change is an update of the Worker.
    let worker = w.dir.path().join("edge/worker.js");
    let code_text = std::fs::read_to_string(&worker).unwrap();
    std::fs::write(&worker, code_text.replace("max-age=31536000", "max-age=63072000")).unwrap();
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", both(&o));
    assert!(both(&o).contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."), "{}", both(&o));
    assert!(both(&o).contains("cdn.assets.worker"), "{}", both(&o));
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // Out of band: someone repoints the record in the dashboard. Drift (exit 2), then repair.
    let id = records["result"][0]["id"].as_str().unwrap();
    w.api(
        "PATCH",
        &format!("/zones/{zone}/dns_records/{id}"),
        Some(json!({"type": "CNAME", "name": "static.example.com", "content": "evil.example.net"})),
    );
    let o = w.run(&["drift"]);
    assert_eq!(code(&o), 2, "{}", both(&o));
    assert!(both(&o).contains("cdn.assets") && both(&o).contains("evil.example.net"), "{}", both(&o));
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let records = w.api("GET", &format!("/zones/{zone}/dns_records?name=static.example.com"), None);
    assert_eq!(records["result"][0]["content"], "apex-assets.s3.amazonaws.com");
    let o = w.run(&["drift"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // A wrong token: an error naming Cloudflare's code, never the token.
    let wrong = "wrong-T0KEN-5a5a5a5a";
    let o = w.run_with_token(&["plan"], wrong);
    assert_eq!(code(&o), 1, "{}", both(&o));
    assert!(both(&o).contains("10000"), "{}", both(&o));
    assert!(!both(&o).contains(wrong), "{}", both(&o));

    // Destroy leaves nothing.
    let o = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.server.object_count(), 0);
    assert_eq!(w.state()["resources"], json!({}));

    let invalid = w.server.knobs().invalid_requests();
    assert!(invalid.is_empty(), "requests the OpenAPI document refuses: {invalid:#?}");
}

/// `kill -9` in the middle of an apply, then a rerun: every object exists once (the marks and
/// the deterministic names find what the killed run made), nothing is orphaned, and a re-plan
/// is a no-op.
#[test]
fn killed_apply_then_rerun_leaves_no_duplicate() {
    let w = World::new();
    // Slow answers, so the kill lands while requests are in flight.
    w.server.knobs().set_latency(Duration::from_millis(300));
    let mut child =
        w.command(&["apply", "--auto-approve"], TOKEN).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
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
    let made = w.server.object_count();
    assert!(made >= 1, "the killed run created something");
    w.server.knobs().set_latency(Duration::ZERO);

    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let zone = w.server.zone_id("example.com");
    let account = cloudflare_test_server::DEFAULT_ACCOUNT_ID;
    let count = |path: &str| w.api("GET", path, None)["result"].as_array().map_or(0, Vec::len);
    assert_eq!(count(&format!("/zones/{zone}/dns_records")), 1);
    assert_eq!(count(&format!("/zones/{zone}/load_balancers")), 1);
    assert_eq!(count(&format!("/zones/{zone}/workers/routes")), 1);
    assert_eq!(count(&format!("/accounts/{account}/load_balancers/pools")), 2);
    assert_eq!(count(&format!("/accounts/{account}/load_balancers/monitors")), 1);
    assert_eq!(count(&format!("/accounts/{account}/workers/scripts")), 1);
    assert_eq!(w.server.object_count(), 10, "8 resources, 3 cache rules in one");
    assert_eq!(w.state()["resources"].as_object().unwrap().len(), 8);
    let o = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let o = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.server.object_count(), 0);
    let invalid = w.server.knobs().invalid_requests();
    assert!(invalid.is_empty(), "requests the OpenAPI document refuses: {invalid:#?}");
}

/// The refresh benchmark of docs/benchmarks.md: 500 `dns_record` resources, then `strata plan`
/// (a full refresh) with 50 ms added to every API answer. Asserts the batching (a handful of
/// requests, not one per record) and prints requests and wall time. The setup apply runs with
/// the provider's request limit raised (`requests_per_second: 1000`); the default would take
/// 500 / 3.5 ≈ 143 s to create them, as it should against the real API.
#[test]
fn refresh_of_500_records_is_batched() {
    let w = World::new();
    let mut spec = String::from(
        "version: 1\nproject: bench\nproviders:\n  cloudflare: { account_id: 0d37909e38d3e99c29fa2cd343ac421a, zone: example.com, requests_per_second: 1000, request_burst: 1000 }\nresources:\n",
    );
    for i in 0..500 {
        spec.push_str(&format!(
            "  - name: r{i}\n    cloudflare: {{ kind: dns_record, name: r{i}, type: A, content: 192.0.2.{}, ttl: 300 }}\n",
            i % 250 + 1
        ));
    }
    std::fs::write(w.dir.path().join("strata.yaml"), spec).unwrap();
    let o = w.run(&["apply", "--auto-approve", "--parallelism", "20"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    w.server.knobs().set_latency(Duration::from_millis(50));
    w.server.knobs().reset_counters();
    let started = Instant::now();
    let o = w.run(&["plan", "--detailed-exitcode"]);
    let took = started.elapsed();
    assert_eq!(code(&o), 0, "{}", both(&o));
    let requests = w.server.knobs().total_requests();
    eprintln!(
        "cloudflare refresh benchmark: 500 dns_record resources, 50 ms latency: {requests} requests, {:.2}s wall (process start included); {:?}",
        took.as_secs_f64(),
        w.server.knobs().counters()
    );
    assert!(requests <= 3, "refresh is batched per zone: {:?}", w.server.knobs().counters());
    let invalid = w.server.knobs().invalid_requests();
    assert!(invalid.is_empty(), "{invalid:#?}");
}

/// `node`: `STRATA_NODE`, else `node` on PATH; a missing one fails the test with what to install.
fn node_binary() -> std::path::PathBuf {
    if let Some(n) = std::env::var_os("STRATA_NODE").filter(|n| !n.is_empty()) {
        return n.into();
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("node")).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("node not found: install Node.js (Debian: apt-get install nodejs npm; .ci/run does) or set STRATA_NODE; this test runs the Worker in miniflare and is not skipped without it")
        })
}

/// The module strata uploaded for the example's Worker, downloaded back from the API, runs in
/// miniflare (workerd, Cloudflare's runtime): it answers `/healthz` itself and forwards other
/// requests to the origin with its security headers added.
#[test]
fn uploaded_worker_runs_in_miniflare() {
    let miniflare = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/miniflare");
    assert!(
        miniflare.join("node_modules/miniflare").is_dir(),
        "miniflare is not installed in {}: run `npm ci --prefix tests/miniflare` (scripts/test.sh does)",
        miniflare.display()
    );
    let w = World::new();
    let o = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let account = cloudflare_test_server::DEFAULT_ACCOUNT_ID;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let uploaded = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
            .get(format!("{}/accounts/{account}/workers/scripts/apex-assets", w.server.url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(uploaded, std::fs::read_to_string(example_dir().join("edge/worker.js")).unwrap());
    let module = w.dir.path().join("uploaded-worker.js");
    std::fs::write(&module, &uploaded).unwrap();
    let out = Command::new(node_binary()).current_dir(&miniflare).arg("run-worker.mjs").arg(&module).output().unwrap();
    assert!(out.status.success(), "miniflare refused the module:\n{}", both(&out));
    let answers: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", both(&out)));
    assert_eq!(answers["/healthz"]["status"], 200);
    assert_eq!(answers["/healthz"]["body"], "ok");
    assert_eq!(answers["/assets/app.js"]["body"], "origin saw /assets/app.js");
    assert_eq!(answers["/assets/app.js"]["headers"]["x-content-type-options"], "nosniff");
    assert_eq!(answers["/assets/app.js"]["headers"]["x-origin"], "stub");
}
