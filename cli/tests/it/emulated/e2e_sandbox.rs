//! `strata sandbox`: up → the platform example (`strata init --example platform`: services,
//! Istio mesh with a canary, scaling, a flag, observability, Cloudflare and Google Cloud CDN)
//! validated, planned, applied, re-planned quiet, the canary step as a one-line edit, drift,
//! destroy → down, with the real kubectl reading the objects back from the sandbox's
//! Kubernetes API server. And a multi-CDN entry across three providers' local APIs at once:
//! Cloudflare failing over between Google Cloud CDN (by IP address) and Azure Front Door.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct Sandbox {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Sandbox { dir: tmp.path().join("sandbox"), _tmp: tmp }
    }

    fn strata(&self, cwd: &Path, env: &BTreeMap<String, String>, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .current_dir(cwd)
            .env("STRATA_SANDBOX_DIR", &self.dir)
            .env("NO_COLOR", "1")
            .envs(env)
            .output()
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["sandbox", "down"])
            .env("STRATA_SANDBOX_DIR", &self.dir)
            .output();
    }
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "{}", both(&o));
    o
}

/// The variables of `export A=1 B=2` lines, as a shell would set them.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("export ")) {
        for assignment in line.split_whitespace() {
            let (k, v) = assignment.split_once('=').expect("NAME=value");
            vars.insert(k.to_string(), v.trim_matches('\'').to_string());
        }
    }
    vars
}

fn kubectl(env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    Command::new("kubectl").args(args).envs(env).output().expect("kubectl is on PATH (scripts/test.sh checks)")
}

fn canary_weights(env: &BTreeMap<String, String>) -> Vec<(String, i64)> {
    let o = kubectl(env, &["get", "virtualservice", "api", "-n", "shop", "-o", "json"]);
    assert!(o.status.success(), "{}", both(&o));
    let vs: Value = serde_json::from_slice(&o.stdout).unwrap();
    // The last HTTP route is the split (header routes come first).
    let routes = vs["spec"]["http"].as_array().unwrap();
    routes.last().unwrap()["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["destination"]["subset"].as_str().unwrap().to_string(), r["weight"].as_i64().unwrap()))
        .collect()
}

#[test]
fn sandbox_runs_the_platform_example_end_to_end() {
    let sandbox = Sandbox::new();
    let work = tempfile::tempdir().unwrap();
    let none = BTreeMap::new();

    // Nothing runs yet: `env` is an error that says how to start one.
    let o = sandbox.strata(work.path(), &none, &["sandbox", "env"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(both(&o).contains("cli::sandbox") && both(&o).contains("strata sandbox up"), "{}", both(&o));

    let o = ok(sandbox.strata(work.path(), &none, &["sandbox", "up"]));
    let up = both(&o);
    for server in ["kubernetes", "cloudflare", "gcp", "azure"] {
        assert!(up.contains(server), "{up}");
    }
    // A second `up` finds the running one instead of starting another.
    let again = both(&ok(sandbox.strata(work.path(), &none, &["sandbox", "up"])));
    assert!(again.contains("already running"), "{again}");
    let env =
        parse_env(&String::from_utf8(ok(sandbox.strata(work.path(), &none, &["sandbox", "env"])).stdout).unwrap());
    for key in [
        "KUBECONFIG",
        "CLOUDFLARE_API_BASE_URL",
        "CLOUDFLARE_API_TOKEN",
        "STRATA_GCP_COMPUTE_URL",
        "STRATA_AZURE_ARM_URL",
    ] {
        assert!(env.contains_key(key), "{key} in {env:?}");
    }
    // The CRDs strata's sections need are registered: kubectl discovers them.
    let o = kubectl(&env, &["api-resources", "-o", "name"]);
    assert!(o.status.success(), "{}", both(&o));
    let kinds = String::from_utf8_lossy(&o.stdout);
    for crd in [
        "virtualservices.networking.istio.io",
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
        "opentelemetrycollectors.opentelemetry.io",
    ] {
        assert!(kinds.contains(crd), "{crd} registered:\n{kinds}");
    }

    let run = |args: &[&str]| sandbox.strata(work.path(), &env, args);
    ok(run(&["init", "--example", "platform"]));
    let o = ok(run(&["validate"]));
    assert!(both(&o).contains("The spec is valid"), "{}", both(&o));

    let plan: Value = serde_json::from_slice(&ok(run(&["plan", "--json"])).stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| c["action"] == "create"), "{plan:#}");
    let sections: std::collections::BTreeSet<&str> =
        changes.iter().map(|c| c["address"].as_str().unwrap().split('.').next().unwrap()).collect();
    assert_eq!(
        sections.into_iter().collect::<Vec<_>>(),
        ["cdn", "flags", "mesh", "observability", "resources", "scaling"],
        "every section of the example lowers to something"
    );

    let o = ok(run(&["apply", "--auto-approve"]));
    assert!(both(&o).contains(&format!("Resources: {} added", changes.len())), "{}", both(&o));
    ok(run(&["plan", "--detailed-exitcode"]));
    assert_eq!(canary_weights(&env), [("v1".to_string(), 90), ("v2".to_string(), 10)]);
    for (kind, name) in [("servicemonitor", "api"), ("prometheusrule", "slo-api-availability"), ("hpa", "api")] {
        let o = kubectl(&env, &["get", kind, name, "-n", "shop"]);
        assert!(o.status.success(), "kubectl get {kind} {name}: {}", both(&o));
    }

    // The canary step: one line of the spec, one object updated.
    let spec = work.path().join("strata.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains("split: { v1: 90, v2: 10 }"));
    std::fs::write(&spec, text.replace("split: { v1: 90, v2: 10 }", "split: { v1: 75, v2: 25 }")).unwrap();
    let plan: Value = serde_json::from_slice(&ok(run(&["plan", "--json"])).stdout).unwrap();
    let changed: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| (c["address"].as_str().unwrap(), c["action"].as_str().unwrap()))
        .collect();
    assert_eq!(changed, [("mesh.api.virtual-service", "update")]);
    ok(run(&["apply", "--auto-approve"]));
    assert_eq!(canary_weights(&env), [("v1".to_string(), 75), ("v2".to_string(), 25)]);

    // Drift: none, then someone deletes the HPA by hand.
    ok(run(&["drift"]));
    let o = kubectl(&env, &["delete", "hpa", "api", "-n", "shop"]);
    assert!(o.status.success(), "{}", both(&o));
    let o = run(&["drift"]);
    assert_eq!(o.status.code(), Some(2), "{}", both(&o));
    assert!(both(&o).contains("scaling.api.hpa"), "{}", both(&o));
    ok(run(&["apply", "--auto-approve"]));

    let o = ok(run(&["destroy", "--auto-approve"]));
    assert!(both(&o).contains(&format!("{} destroyed", changes.len())), "{}", both(&o));
    let o = kubectl(&env, &["get", "namespace", "shop"]);
    assert!(!o.status.success() && both(&o).contains("NotFound"), "{}", both(&o));

    let status = both(&ok(sandbox.strata(work.path(), &none, &["sandbox", "status"])));
    assert!(status.contains("running"), "{status}");
    let down = both(&ok(sandbox.strata(work.path(), &none, &["sandbox", "down"])));
    assert!(down.contains("stopped"), "{down}");
    let o = sandbox.strata(work.path(), &none, &["sandbox", "env"]);
    assert_eq!(o.status.code(), Some(1), "{}", both(&o));
    assert!(!sandbox.dir.join("pid").exists());
}

/// Starts the sandbox and returns its environment.
fn up(sandbox: &Sandbox, cwd: &Path) -> BTreeMap<String, String> {
    let none = BTreeMap::new();
    ok(sandbox.strata(cwd, &none, &["sandbox", "up"]));
    parse_env(&String::from_utf8(ok(sandbox.strata(cwd, &none, &["sandbox", "env"])).stdout).unwrap())
}

/// `GET` on the sandbox's Cloudflare API.
fn cloudflare_get(env: &BTreeMap<String, String>, path: &str) -> Value {
    let url = format!("{}{path}", env["CLOUDFLARE_API_BASE_URL"]);
    // reqwest is built without a default crypto provider (the CLI installs ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(&url)
            .bearer_auth(&env["CLOUDFLARE_API_TOKEN"])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    })
}

#[test]
fn multicdn_fails_over_from_google_cloud_cdn_to_front_door_through_cloudflare() {
    let sandbox = Sandbox::new();
    let work = tempfile::tempdir().unwrap();
    let env = up(&sandbox, work.path());
    let account = cloudflare_test_server::DEFAULT_ACCOUNT_ID;
    std::fs::write(
        work.path().join("strata.yaml"),
        format!(
            "version: 1
project: shop
providers:
  cloudflare: {{ account_id: {account}, zone: example.com }}
  gcp: {{ project: shop-sandbox-1 }}
  azure: {{ subscription_id: 00000000-0000-0000-0000-000000000001, resource_group: shop-edge }}
cdn:
  lb:
    provider: gcp
    hostnames: [www.example.com]
    origin: {{ bucket: shop-assets }}
  fd:
    provider: azure
    origin: {{ domain: app.example.net }}
    custom_domain: www.example.com
  edge:
    strategy: failover
    members: [lb, fd]
    dns: {{ provider: cloudflare, zone: example.com, record: www, health_check: {{ path: /healthz }} }}
"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| sandbox.strata(work.path(), &env, args);
    ok(run(&["validate"]));
    ok(run(&["apply", "--auto-approve"]));
    ok(run(&["plan", "--detailed-exitcode"]));

    // One pool per member, in failover order: Google's by the load balancer's IP address, Front
    // Door's by its endpoint host.
    let pools = cloudflare_get(&env, &format!("/accounts/{account}/load_balancers/pools"));
    let pools = pools["result"].as_array().unwrap();
    let origin = |member: &str| {
        let pool =
            pools.iter().find(|p| p["name"] == format!("shop-edge-{member}")).unwrap_or_else(|| panic!("{pools:#?}"));
        (pool["id"].as_str().unwrap().to_string(), pool["origins"][0]["address"].as_str().unwrap().to_string())
    };
    let (lb_pool, lb_address) = origin("lb");
    let (fd_pool, fd_address) = origin("fd");
    assert!(lb_address.parse::<std::net::Ipv4Addr>().is_ok(), "an IP address: {lb_address}");
    assert!(fd_address.ends_with(".azurefd.net"), "the Front Door endpoint: {fd_address}");
    let show: Value = serde_json::from_slice(&ok(run(&["show", "--json"])).stdout).unwrap();
    assert!(show.to_string().contains(&lb_address), "the GCP address recorded in state");

    let zone = cloudflare_get(&env, "/zones?name=example.com")["result"][0]["id"].as_str().unwrap().to_string();
    let lbs = cloudflare_get(&env, &format!("/zones/{zone}/load_balancers"));
    let lb =
        lbs["result"].as_array().unwrap().iter().find(|l| l["name"] == "www.example.com").expect("the load balancer");
    assert_eq!(lb["default_pools"], serde_json::json!([lb_pool, fd_pool]));
    assert_eq!(lb["fallback_pool"], fd_pool.as_str());
    assert_eq!(lb["steering_policy"], "off");

    ok(run(&["destroy", "--auto-approve"]));
    let pools = cloudflare_get(&env, &format!("/accounts/{account}/load_balancers/pools"));
    assert_eq!(pools["result"].as_array().map(Vec::len), Some(0), "{pools}");
}
