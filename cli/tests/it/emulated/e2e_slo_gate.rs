//! Issue 13, the SLO gate end to end: `strata plan/apply --gate slo` asks a real Prometheus
//! (Debian `prometheus`, started here on a loopback port, its data backfilled with
//! `promtool tsdb create-blocks-from openmetrics`) whether the SLO of the service a canary step
//! moves is burning. Burning: the step is refused with the burn rate shown and nothing changes on
//! the server. Healthy: the step is planned and applies. Moving weight back is never gated.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::kube;

use kube::{Cluster, Project, api_spec};
use serde_json::{Value, json};

const CANARY: &str = "split: { v1: 90, v2: 10 }";
const HALF: &str = "split: { v1: 50, v2: 50 }";

fn tool(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("`{name}` is not on PATH: `sudo apt-get install -y {package}` (scripts/test.sh and .ci/run do this)")
        })
}

/// A Prometheus server on a loopback port over backfilled data; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two hours of per-minute counters, ending now: `job="api"` fails 5% of its requests (50× the
/// budget of a 99.9% SLO), `job="healthy"` 0.02% (0.2×).
fn openmetrics() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let start = now - 2 * 3600;
    let mut out = String::new();
    for (job, code, per_minute) in
        [("api", "200", 950.0), ("api", "500", 50.0), ("healthy", "200", 999.8), ("healthy", "500", 0.2)]
    {
        for (i, t) in (start..now).step_by(60).enumerate() {
            out.push_str(&format!(
                "http_requests_total{{job=\"{job}\",code=\"{code}\"}} {} {t}\n",
                per_minute * i as f64
            ));
        }
    }
    out.push_str("# EOF\n");
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn start_prometheus() -> Prometheus {
    let promtool = tool("promtool", "prometheus");
    let prometheus = tool("prometheus", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("series.om");
    std::fs::write(&input, openmetrics()).unwrap();
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "backfill failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global: { evaluation_interval: 1m }\n").unwrap();
    let port = free_port();
    let child = Command::new(&prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=30d")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let p = Prometheus { child, url: url.clone(), _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http_get(&format!("{url}/-/ready"))
        .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
    {
        assert!(Instant::now() < deadline, "Prometheus did not become ready at {url}");
        std::thread::sleep(Duration::from_millis(200));
    }
    p
}

fn observability(url: &str, job: &str) -> String {
    format!(
        "\nobservability:\n  prometheus: {{ url: \"{url}\" }}\n  slos:\n    - name: api-availability\n      service: api\n      objective: 99.9%\n      sli:\n        errors: 'http_requests_total{{job=\"{job}\",code=~\"5..\"}}'\n        total: 'http_requests_total{{job=\"{job}\"}}'\n"
    )
}

fn istio_weights(k: &Cluster) -> Vec<Value> {
    let vs = k.must_get("virtualservice.networking.istio.io", "api", Some("apex"));
    vs["spec"]["http"][2]["route"].as_array().unwrap().iter().map(|r| r["weight"].clone()).collect()
}

#[test]
fn slo_gate_refuses_a_canary_step_while_the_slo_burns() {
    let prom = start_prometheus();
    let k = Cluster::start();
    k.apply_crds(&[
        api_spec("istio/crd-all.gen.yaml"),
        api_spec("prometheus-operator/monitoring.coreos.com_prometheusrules.yaml"),
    ]);
    k.create_namespace("apex", &["istio-injection=enabled"]);
    k.create_namespace("ml", &["istio-injection=enabled"]);
    let p = Project::example(&k, "mesh-istio");
    p.write_spec(&format!("{}{}", p.spec(), observability(&prom.url, "api")));
    p.strata(&["apply", "--auto-approve"]).ok();
    assert_eq!(istio_weights(&k), [json!(90), json!(10)]);

    // A plan without canary step passes the gate without asking.
    let plan = p.strata(&["plan", "--gate", "slo"]).ok();
    assert!(plan.stdout.contains("SLO gate:\n  no canary step in this plan."), "{}", plan.stdout);

    // Burning: the step to 50/50 is refused, with the burn rate; apply changes nothing.
    p.edit(CANARY, HALF);
    let refused = p.strata(&["plan", "--gate", "slo"]).code(1);
    assert!(
        refused.stdout.contains("step mesh.api.virtual-service (api): spec.http[2].route[1].weight 10 -> 50"),
        "{}",
        refused.stdout
    );
    assert!(
        refused.stdout.contains("slo api-availability (api): burn rate 50.00x over 1h: burning, refused"),
        "{}",
        refused.stdout
    );
    assert!(refused.stderr.contains("cli::gate-refused"), "{}", refused.stderr);
    let refused = p.strata(&["apply", "--gate", "slo", "--auto-approve"]).code(1);
    assert!(refused.stderr.contains("burns its error budget at 50.00x"), "{}", refused.stderr);
    assert_eq!(istio_weights(&k), [json!(90), json!(10)]);
    // Without the gate the same plan is just a plan.
    p.strata(&["plan", "--detailed-exitcode"]).code(2);

    // Healthy: the step is planned and applied.
    p.edit("job=\"api\",code", "job=\"healthy\",code");
    p.edit("job=\"api\"}'", "job=\"healthy\"}'");
    let planned = p.strata(&["plan", "--gate", "slo", "--detailed-exitcode"]).code(2);
    assert!(
        planned.stdout.contains("slo api-availability (api): burn rate 0.20x over 1h: healthy"),
        "{}",
        planned.stdout
    );
    p.strata(&["apply", "--gate", "slo", "--auto-approve"]).ok();
    assert_eq!(istio_weights(&k), [json!(50), json!(50)]);

    // Rolling back while burning is not a forward step: not gated.
    p.edit("job=\"healthy\",code", "job=\"api\",code");
    p.edit("job=\"healthy\"}'", "job=\"api\"}'");
    p.edit(HALF, CANARY);
    let back = p.strata(&["apply", "--gate", "slo", "--auto-approve"]).ok();
    assert!(back.stdout.contains("SLO gate:\n  no canary step in this plan."), "{}", back.stdout);
    assert_eq!(istio_weights(&k), [json!(90), json!(10)]);

    // A flag rollout in api's namespace: creating it is not a step; widening it while api's
    // SLO burns is refused, like a mesh step.
    p.write_spec(&format!(
        "{}\nflags:\n  new-checkout:\n    namespace: apex\n    default: false\n    rollout: {{ true: 10% }}\n",
        p.spec()
    ));
    p.strata(&["apply", "--gate", "slo", "--auto-approve"]).ok();
    p.edit("rollout: { true: 10% }", "rollout: { true: 25% }");
    let refused = p.strata(&["plan", "--gate", "slo"]).code(1);
    assert!(refused.stdout.contains("flag new-checkout: "), "{}", refused.stdout);
    assert!(refused.stdout.contains(" 10% -> 25%"), "{}", refused.stdout);
    assert!(
        refused.stdout.contains("slo api-availability (api): burn rate 50.00x over 1h: burning, refused"),
        "{}",
        refused.stdout
    );
    // Narrowing it back is not gated.
    p.edit("rollout: { true: 25% }", "rollout: { true: 5% }");
    let back = p.strata(&["plan", "--gate", "slo"]).ok();
    assert!(back.stdout.contains("no canary step in this plan."), "{}", back.stdout);
    p.strata(&["destroy", "--auto-approve"]).ok();
}
