//! End to end: the built `strata` binary against moto (CloudFront and Route 53 over their real
//! wire protocols) and the in-process Kubernetes API server.
//!
//! - `cdn_lifecycle`: a `cdn:` entry (distribution + Route 53 alias records) and a raw ConfigMap
//!   holding `${cdn.assets.domain_name}`: plan, apply (the ConfigMap after the distribution, with
//!   its real domain), a no-op re-plan, a TTL change planned as a one-attribute update and
//!   applied (with the invalidation), an out-of-band change through the SDK caught by `drift`
//!   and healed, destroy.
//! - `crash_after_create_is_adopted`: strata is killed (SIGKILL) after CloudFront accepted the
//!   create and before the state write; the next apply adopts the distribution through its
//!   CallerReference, and moto holds exactly one.
//!
//! Cache and origin request policies are not exercised here: moto has no API for them (they are
//! covered by the contract tests in providers/aws/tests/contract.rs), so the spec uses managed
//! policies, which need no API.

use crate::moto;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_cloudfront::config::Credentials;
use serde_json::{Value, json};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/8d8f5c1e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";
const ZONE: &str = "example.com";

/// The spec under test: one distribution with an alias in `example.com` (A and AAAA alias
/// records), and a ConfigMap that needs the distribution's outputs.
fn spec(kube: &str, error_ttl: &str) -> String {
    format!(
        r#"version: 1
project: shop
providers:
  aws: {{ region: us-east-1, wait_poll_interval_secs: 0.2, wait_timeout_secs: 600, max_attempts: 2 }}
  kubernetes: {{ server: "{kube}" }}
cdn:
  assets:
    provider: cloudfront
    comment: shop assets
    origin: {{ domain: shop-assets.s3.us-east-1.amazonaws.com, shield: us-east-1 }}
    aliases: [static.example.com]
    certificate: {CERT}
    default_root_object: index.html
    cache:
      default_ttl: 1d
      headers_policy: SecurityHeadersPolicy
      rules:
        - {{ path: /api/*, policy: CachingDisabled, origin_request_policy: AllViewerExceptHostHeader, methods: all, viewer_protocol: https-only }}
    errors:
      - {{ code: 404, page: /index.html, status: 200, ttl: {error_ttl} }}
    price_class: 100
    http3: true
    logging: {{ bucket: shop-logs, prefix: cdn/ }}
    dns: {{ zone: {ZONE} }}
    invalidate_on_change: ["/*"]
    tags: {{ team: web }}
resources:
  - name: shop-namespace
    kubernetes: {{ apiVersion: v1, kind: Namespace, metadata: {{ name: shop }} }}
  - name: edge-config
    kubernetes:
      apiVersion: v1
      kind: ConfigMap
      metadata: {{ name: shop-edge, namespace: shop }}
      data:
        cdn_domain: "${{cdn.assets.domain_name}}"
        cdn_id: "${{cdn.assets.id}}"
        cdn_arn: "${{cdn.assets.arn}}"
"#
    )
}

struct World {
    moto: moto::Moto,
    kube: strata_testkit::kube::TestServer,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    cf: aws_sdk_cloudfront::Client,
    r53: aws_sdk_route53::Client,
    zone_id: String,
}

impl World {
    fn new() -> World {
        let moto = moto::Moto::start().unwrap_or_else(|e| panic!("{e}"));
        let kube = strata_testkit::kube::server();
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sdk = rt.block_on(
            strata_provider_aws::sdk_loader()
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&moto.endpoint)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
                .load(),
        );
        let cf = aws_sdk_cloudfront::Client::new(&sdk);
        let r53 = aws_sdk_route53::Client::new(&sdk);
        let zone = rt
            .block_on(r53.create_hosted_zone().name(ZONE).caller_reference("e2e-zone").send())
            .expect("create the hosted zone in moto");
        let zone_id = zone.hosted_zone.unwrap().id.trim_start_matches("/hostedzone/").to_string();
        let w = World { moto, kube, dir, rt, cf, r53, zone_id };
        w.write_spec("10s");
        w
    }

    fn write_spec(&self, error_ttl: &str) {
        std::fs::write(self.dir.path().join("strata.yaml"), spec(self.kube.url(), error_ttl)).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(STRATA);
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.path().join("no-aws-credentials"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("STRATA_ENV");
        cmd
    }

    /// Runs strata; returns the output and how long it took.
    fn run(&self, args: &[&str]) -> (Output, Duration) {
        let start = Instant::now();
        let out = self.command(args).output().unwrap();
        (out, start.elapsed())
    }

    fn state(&self) -> Option<Value> {
        std::fs::read(self.dir.path().join(".strata/state.json")).ok().map(|b| serde_json::from_slice(&b).unwrap())
    }

    fn distributions(&self) -> Vec<aws_sdk_cloudfront::types::DistributionSummary> {
        let out = self.rt.block_on(self.cf.list_distributions().send()).unwrap();
        out.distribution_list.and_then(|l| l.items).unwrap_or_default()
    }

    fn config(&self, id: &str) -> (aws_sdk_cloudfront::types::DistributionConfig, String) {
        let out = self.rt.block_on(self.cf.get_distribution_config().id(id).send()).unwrap();
        (out.distribution_config.unwrap(), out.e_tag.unwrap())
    }

    /// `(name, type, alias target)` of the zone's alias records.
    fn alias_records(&self) -> Vec<(String, String, String)> {
        let out = self.rt.block_on(self.r53.list_resource_record_sets().hosted_zone_id(&self.zone_id).send()).unwrap();
        let mut v: Vec<(String, String, String)> = out
            .resource_record_sets
            .into_iter()
            .filter_map(|r| {
                let target = r.alias_target?;
                Some((
                    r.name.trim_end_matches('.').to_string(),
                    r.r#type.as_str().to_string(),
                    target.dns_name.trim_end_matches('.').to_ascii_lowercase(),
                ))
            })
            .collect();
        v.sort();
        v
    }

    fn configmap(&self) -> (u16, Value) {
        let (status, body) = http(self.kube.url(), "GET", "/api/v1/namespaces/shop/configmaps/shop-edge", None);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Sets how moto moves distributions from InProgress to Deployed (`None`: at once).
    fn deploy_after(&self, seconds: Option<u64>) {
        let (path, body) = match seconds {
            Some(s) => (
                "/moto-api/state-manager/set-transition",
                json!({"model_name": "cloudfront::distribution", "transition": {"progression": "time", "seconds": s}}),
            ),
            None => ("/moto-api/state-manager/unset-transition", json!({"model_name": "cloudfront::distribution"})),
        };
        let (status, text) = http(&self.moto.endpoint, "POST", path, Some(&body.to_string()));
        assert!((200..300).contains(&status), "moto state manager: {status} {text}");
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A plain HTTP/1.1 request (`Connection: close`), for the Kubernetes API and moto's control API.
fn http(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    (status, if chunked { dechunk(rest) } else { rest.to_string() })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn line_index(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with `{needle}` in:\n{text}"))
}

#[test]
fn cdn_lifecycle() {
    let w = World::new();
    let mut timings: Vec<(&str, Duration)> = Vec::new();

    let (o, _) = w.run(&["validate"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // Plan: everything to create; what the distribution produces is known after apply.
    let (o, t) = w.run(&["plan", "--detailed-exitcode"]);
    timings.push(("plan (empty state)", t));
    assert_eq!(code(&o), 2, "{}", both(&o));
    let out = stdout(&o);
    assert!(out.contains("Plan: 5 to add, 0 to change, 0 to replace, 0 to destroy."), "{out}");
    assert!(out.contains("cdn_domain") && out.contains("(known after apply)"), "{out}");

    // Apply.
    let (o, t) = w.run(&["apply", "--auto-approve"]);
    timings.push(("apply (create 5)", t));
    assert_eq!(code(&o), 0, "{}", both(&o));
    let out = stdout(&o);
    assert!(out.contains("Apply complete! Resources: 5 added"), "{out}");
    let done = line_index(&out, "cdn.assets: Creation complete");
    assert!(done < line_index(&out, "resources.edge-config: Creating..."), "ConfigMap after the distribution:\n{out}");
    assert!(done < line_index(&out, "cdn.assets.dns.static.a: Creating..."), "record after the distribution:\n{out}");

    let dists = w.distributions();
    assert_eq!(dists.len(), 1, "exactly one distribution");
    let (id, domain, arn) = (dists[0].id.clone(), dists[0].domain_name.clone(), dists[0].arn.clone());
    assert!(domain.ends_with(".cloudfront.net"), "{domain}");
    let (cfg, _) = w.config(&id);
    assert_eq!(cfg.comment, "shop assets");
    assert_eq!(cfg.caller_reference, "strata:shop:default:cdn.assets");
    assert_eq!(cfg.aliases.as_ref().and_then(|a| a.items.clone()), Some(vec!["static.example.com".to_string()]));
    assert_eq!(cfg.price_class.as_ref().map(|p| p.as_str()), Some("PriceClass_100"));
    assert_eq!(cfg.http_version.as_ref().map(|h| h.as_str()), Some("http2and3"));
    let behaviors = cfg.cache_behaviors.as_ref().and_then(|b| b.items.clone()).unwrap_or_default();
    assert_eq!(behaviors.len(), 1);
    assert_eq!(behaviors[0].path_pattern, "/api/*");
    assert_eq!(
        behaviors[0].cache_policy_id.as_deref(),
        Some("4135ea2d-6df8-44a3-9df3-4b5a84be39ad"),
        "CachingDisabled"
    );
    let errors = cfg.custom_error_responses.as_ref().and_then(|e| e.items.clone()).unwrap_or_default();
    assert_eq!(errors[0].error_caching_min_ttl, Some(10));
    assert_eq!(
        w.alias_records(),
        [
            ("static.example.com".to_string(), "A".to_string(), domain.to_ascii_lowercase()),
            ("static.example.com".to_string(), "AAAA".to_string(), domain.to_ascii_lowercase()),
        ]
    );
    let (status, cm) = w.configmap();
    assert_eq!(status, 200, "{cm}");
    assert_eq!(cm["data"], json!({"cdn_domain": domain, "cdn_id": id, "cdn_arn": arn}));
    let state = w.state().expect("state written");
    assert_eq!(state["resources"]["cdn.assets"]["remote_id"], json!(id));

    // Re-plan: nothing to do.
    let (o, t) = w.run(&["plan", "--detailed-exitcode"]);
    timings.push(("re-plan (no changes)", t));
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(stdout(&o).contains("No changes."), "{}", stdout(&o));

    // A TTL change is a one-attribute update of the distribution.
    w.write_spec("1m");
    let (o, _) = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", both(&o));
    let out = stdout(&o);
    assert!(out.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."), "{out}");
    let line = &out.lines().find(|l| l.contains("error_caching_min_ttl")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("custom_error_responses[0].error_caching_min_ttl") && line.contains("10 -> 60"), "{out}");
    let (o, _) = w.run(&["plan", "--json"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changed: Vec<&Value> = plan["changes"].as_array().unwrap().iter().filter(|c| c["action"] != "no-op").collect();
    assert_eq!(changed.len(), 1, "{plan:#}");
    assert_eq!(changed[0]["address"], "cdn.assets");
    assert_eq!(changed[0]["action"], "update");
    let attrs = changed[0]["attributes"].as_array().unwrap();
    assert_eq!(attrs.len(), 1, "{attrs:#?}");
    assert_eq!(attrs[0]["pointer"], json!(["custom_error_responses", "0", "error_caching_min_ttl"]));
    assert_eq!((attrs[0]["before"].clone(), attrs[0]["after"].clone()), (json!(10), json!(60)));
    let (o, t) = w.run(&["apply", "--auto-approve"]);
    timings.push(("apply (1 update)", t));
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(stdout(&o).contains("0 added, 1 changed"), "{}", stdout(&o));
    let (cfg, _) = w.config(&id);
    let errors = cfg.custom_error_responses.as_ref().and_then(|e| e.items.clone()).unwrap_or_default();
    assert_eq!(errors[0].error_caching_min_ttl, Some(60));
    let inv = w.rt.block_on(w.cf.list_invalidations().distribution_id(&id).send()).unwrap();
    assert_eq!(inv.invalidation_list.map(|l| l.quantity), Some(1), "invalidate_on_change after the update");
    assert_eq!(w.distributions().len(), 1, "updated in place");
    let (o, _) = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // Someone edits the distribution by hand: drift sees it, apply takes it back.
    let (mut cfg, etag) = w.config(&id);
    cfg.comment = "edited in the console".into();
    w.rt.block_on(w.cf.update_distribution().id(&id).if_match(etag).distribution_config(cfg).send()).unwrap();
    let (o, t) = w.run(&["drift"]);
    timings.push(("drift (1 drifted)", t));
    assert_eq!(code(&o), 2, "{}", both(&o));
    let out = stdout(&o);
    assert!(out.contains("cdn.assets") && out.contains("comment") && out.contains("edited in the console"), "{out}");
    let (o, _) = w.run(&["drift", "--json"]);
    let drift: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(drift["drifted"].as_array().unwrap().len(), 1, "{drift:#}");
    assert_eq!(drift["drifted"][0]["address"], "cdn.assets");
    let (o, _) = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert_eq!(w.config(&id).0.comment, "shop assets");
    let (o, _) = w.run(&["drift"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    // Destroy: the records, the ConfigMap and the distribution are gone.
    let (o, t) = w.run(&["destroy", "--auto-approve"]);
    timings.push(("destroy (5)", t));
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(w.distributions().is_empty(), "the distribution is deleted");
    assert!(w.alias_records().is_empty(), "the records are deleted");
    assert_eq!(w.configmap().0, 404);
    let state = w.state().unwrap();
    assert_eq!(state["resources"], json!({}), "{state:#}");
    let (o, _) = w.run(&["plan", "--destroy", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    for (what, t) in timings {
        eprintln!("e2e_aws timing: {what}: {:.2}s", t.as_secs_f64());
    }
}

#[test]
fn crash_after_create_is_adopted() {
    let w = World::new();
    // Distributions stay InProgress, so strata sits in its wait after the create call.
    w.deploy_after(Some(600));
    let mut child =
        w.command(&["apply", "--auto-approve"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pipe = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("cdn.assets: waiting until it is ready") {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("strata never reached the wait after the create:\n{seen}");
            }
        }
    }
    // The remote create happened; the state write has not. SIGKILL: no cleanup of any kind.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let before = w.distributions();
    assert_eq!(before.len(), 1, "the create reached CloudFront");
    let id = before[0].id.clone();
    let recorded = w.state().is_some_and(|s| s["resources"].get("cdn.assets").is_some());
    assert!(!recorded, "the distribution is not in state: {:?}", w.state());
    w.deploy_after(None);

    // The dead run's local lock died with it (an OS lock): nothing to force-unlock.
    let (o, _) = w.run(&["lock", "status", "--json"]);
    let lock: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(lock["lock"].is_null(), "no live holder: {lock}");

    // The plan finds the distribution by its ownership tags and records it; the apply adopts it
    // through the same CallerReference instead of creating a second one.
    let (o, _) = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", both(&o));
    assert!(stdout(&o).contains("missing from state"), "{}", stdout(&o));
    let (o, t) = w.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    eprintln!("e2e_aws timing: apply after the crash (adopt + 4 creates): {:.2}s", t.as_secs_f64());
    let after = w.distributions();
    assert_eq!(after.len(), 1, "moto holds exactly one distribution");
    assert_eq!(after[0].id, id, "the same distribution");
    let state = w.state().unwrap();
    assert_eq!(state["resources"]["cdn.assets"]["remote_id"], json!(id));
    let (status, cm) = w.configmap();
    assert_eq!(status, 200);
    assert_eq!(cm["data"]["cdn_domain"], json!(after[0].domain_name));
    let (o, _) = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", both(&o));

    let (o, _) = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", both(&o));
    assert!(w.distributions().is_empty());
}
