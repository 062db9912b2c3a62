use serde_json::Value;
use strata_sdk::Resource;

use crate::diag::Diagnostics;
use crate::lower::cdn::Cdn;

const HEAD: &str = "version: 1\nproject: apex\nproviders: { cloudflare: { zone: example.com } }\n";

/// Two members: a CloudFront distribution serving `www.example.com` and a Cloudflare hostname.
const MEMBERS: &str = "cdn:
  assets:
    provider: cloudfront
    origin: { domain: apex-assets.s3.us-east-1.amazonaws.com }
    aliases: [www.example.com]
    certificate: arn:aws:acm:us-east-1:123456789012:certificate/8d8f5c1e-1b2a-4c3d-9e8f-0a1b2c3d4e5f
  assets-cf:
    provider: cloudflare
    hostname: cf.example.com
    origin: { domain: apex-assets.s3.amazonaws.com }
";

fn lower(text: &str) -> (Vec<Resource>, Diagnostics) {
    crate::lower::lower_for_test(&Cdn::standard(), text, None, &|_| None)
}

fn with(multi: &str) -> String {
    format!("{HEAD}{MEMBERS}{multi}")
}

/// The multi entry's resources only, as `address (provider kind): attrs`.
fn view(rs: &[Resource], name: &str) -> Value {
    let mut out = serde_json::Map::new();
    for r in rs.iter().filter(|r| r.address.as_str().starts_with(&format!("cdn.{name}"))) {
        out.insert(format!("{} ({} {})", r.address, r.provider, r.kind), r.attrs.clone());
    }
    Value::Object(out)
}

const FAILOVER: &str = "  edge:
    strategy: failover
    members: [assets, assets-cf]
    dns:
      provider: route53
      zone: example.com
      record: www
      health_check: { path: /healthz, interval: 10, threshold: 2 }
";

#[test]
fn route53_failover_lowers_to_health_checks_and_primary_secondary_records() {
    let (rs, d) = lower(&with(FAILOVER));
    assert!(d.is_empty(), "{:#?}", d.items);
    insta::assert_yaml_snapshot!("route53_failover", view(&rs, "edge"));
}

#[test]
fn explicit_primary_goes_first() {
    let (rs, d) = lower(&with(&FAILOVER.replace("    members:", "    primary: assets-cf\n    members:")));
    assert!(d.is_empty(), "{:#?}", d.items);
    let primary = rs.iter().find(|r| r.address.as_str() == "cdn.edge.record.assets-cf").unwrap();
    assert_eq!(primary.attrs["failover"], "PRIMARY");
    let secondary = rs.iter().find(|r| r.address.as_str() == "cdn.edge.record.assets").unwrap();
    assert_eq!(secondary.attrs["failover"], "SECONDARY");
}

const WEIGHTED: &str = "  edge:
    strategy: weighted
    members: [ { name: assets, weight: 200 }, { name: assets-cf, weight: 55 } ]
    dns: { provider: route53, zone: example.com, record: www.example.com }
";

#[test]
fn route53_weighted_records_carry_the_weights() {
    let (rs, d) = lower(&with(WEIGHTED));
    assert!(d.is_empty(), "{:#?}", d.items);
    insta::assert_yaml_snapshot!("route53_weighted", view(&rs, "edge"));
}

#[test]
fn cloudflare_load_balancer_fails_over_or_steers_by_weight() {
    let failover = FAILOVER.replace("provider: route53", "provider: cloudflare");
    let (rs, d) = lower(&with(&failover));
    assert!(d.is_empty(), "{:#?}", d.items);
    insta::assert_yaml_snapshot!("cloudflare_failover", view(&rs, "edge"));
    let weighted = WEIGHTED.replace("provider: route53", "provider: cloudflare");
    let (rs, d) = lower(&with(&weighted));
    assert!(d.is_empty(), "{:#?}", d.items);
    let lb = rs.iter().find(|r| r.address.as_str() == "cdn.edge").unwrap();
    assert_eq!(lb.attrs["steering_policy"], "random");
    assert_eq!(lb.attrs["pool_weights"][0]["weight"], 0.7843);
    assert_eq!(lb.attrs["pool_weights"][1]["pool"], "${cdn.edge.pool.assets-cf.id}");
}

/// The single diagnostic of `multi`, with its code and the text it points at.
fn one(multi: &str) -> (String, String) {
    let text = with(multi);
    let (_, d) = lower(&text);
    assert_eq!(d.len(), 1, "{:#?}", d.items);
    let diag = &d.items[0];
    let span = diag.span.expect("located");
    (diag.code.to_string(), text[span.offset..span.offset + span.len].to_string())
}

#[test]
fn problems_are_located_diagnostics() {
    let edit = |from: &str, to: &str| FAILOVER.replace(from, to);
    assert_eq!(one(&edit("[assets, assets-cf]", "[assets, assetz]")), ("cdn::unknown-member".into(), "assetz".into()));
    assert_eq!(one(&edit("[assets, assets-cf]", "[assets, edge]")), ("cdn::invalid-member".into(), "edge".into()));
    assert_eq!(one(&edit("[assets, assets-cf]", "[assets, assets]")).0, "cdn::invalid-member");
    assert_eq!(one(&edit("[assets, assets-cf]", "[assets]")), ("cdn::invalid-member".into(), "members".into()));
    assert_eq!(one(&edit("interval: 10", "interval: 20")), ("cdn::invalid-health-check".into(), "20".into()));
    assert_eq!(one(&edit("threshold: 2", "threshold: 11")).0, "cdn::invalid-health-check");
    assert_eq!(one(&edit("path: /healthz", "path: healthz")).0, "cdn::invalid-health-check");
    assert_eq!(one(&edit("record: www", "record: www.example.org")).0, "cdn::record-outside-zone");
    assert_eq!(one(&edit("record: www", "record: \"@\"")).0, "cdn::record-at-apex");
    assert_eq!(one(&edit("zone: example.com", "zone: \"exa mple\"")).0, "cdn::invalid-zone");
    assert_eq!(
        one(&edit("    members:", "    primary: nope\n    members:")),
        ("cdn::invalid-primary".into(), "nope".into())
    );
    assert_eq!(
        one(&edit("[assets, assets-cf]", "[assets, { name: assets-cf, weight: 3 }]")),
        ("cdn::invalid-weight".into(), "weight".into())
    );
    assert_eq!(one(&edit("provider: route53", "provider: powerdns")).0, "spec::invalid-value");
    // Route 53 failover is one PRIMARY and one SECONDARY.
    let three = format!(
        "  third:\n    provider: cloudflare\n    hostname: third.example.com\n    origin: {{ domain: o.example.net }}\n{}",
        edit("[assets, assets-cf]", "[assets, assets-cf, third]")
    );
    assert_eq!(one(&three).0, "cdn::failover-members");
    // Weighted: every weight in range, and one needed per member.
    let w = |from: &str, to: &str| WEIGHTED.replace(from, to);
    assert_eq!(one(&w("weight: 200", "weight: 256")), ("cdn::invalid-weight".into(), "256".into()));
    assert_eq!(one(&w("{ name: assets, weight: 200 }", "assets")), ("cdn::invalid-weight".into(), "assets".into()));
    assert_eq!(one(&w("    members:", "    primary: assets\n    members:")).0, "cdn::invalid-primary");
}

#[test]
fn members_are_checked_against_their_own_dns() {
    // A CloudFront member that does not serve the name.
    let (_, d) = lower(&with(&FAILOVER.replace("record: www", "record: shop")));
    assert_eq!(d.items.iter().map(|d| d.code.to_string()).collect::<Vec<_>>(), ["cdn::record-not-an-alias"]);
    // A member publishing the name itself.
    let text = with(FAILOVER).replace("hostname: cf.example.com", "hostname: www.example.com");
    let (_, d) = lower(&text);
    assert_eq!(d.items.iter().map(|d| d.code.to_string()).collect::<Vec<_>>(), ["cdn::dns-conflict"]);
    // Nested multi-CDN entries.
    let nested = format!(
        "{FAILOVER}  outer:\n    strategy: failover\n    members: [edge, assets]\n    dns: {{ provider: cloudflare, zone: example.com, record: www }}\n"
    );
    let (_, d) = lower(&with(&nested));
    assert!(d.items.iter().any(|d| d.code == "cdn::invalid-member"), "{:#?}", d.items);
}

/// examples/cdn-multi lowers cleanly, and the committed JSON Schema accepts it and refuses a
/// multi-CDN entry with a `provider:` or an unknown strategy.
#[test]
fn the_example_lowers_and_matches_the_committed_schema() {
    use crate::lower::flags::testutil::workspace_root;
    let root = workspace_root();
    let text = std::fs::read_to_string(root.join("examples/cdn-multi/strata.yaml")).unwrap();
    let (rs, d) = lower(&text);
    assert!(d.is_empty(), "{:#?}", d.items);
    assert!(rs.iter().any(|r| r.address.as_str() == "cdn.www.record.assets-cloudfront"));
    assert!(rs.iter().any(|r| r.address.as_str() == "cdn.assets" && r.kind == "load_balancer"));

    let (node, _) = crate::spec::yaml::parse(&text).unwrap();
    let good = node.to_value();
    let mut bad = good.clone();
    bad["cdn"]["www"]["strategy"] = serde_json::json!("latency");
    let mut mixed = good.clone();
    mixed["cdn"]["www"]["provider"] = serde_json::json!("cloudfront");
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs.json");
    std::fs::write(&docs, serde_json::to_string(&serde_json::json!([good, bad, mixed])).unwrap()).unwrap();
    let python = std::env::var_os("STRATA_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    let script = "import json, sys\nfrom jsonschema import Draft202012Validator as V\nschema = json.load(open(sys.argv[1]))\nv = V(schema)\nprint(json.dumps([len(list(v.iter_errors(d))) for d in json.load(open(sys.argv[2]))]))\n";
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(root.join("schemas/strata.schema.json"))
        .arg(&docs)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (set STRATA_PYTHON)", python.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let errors: Vec<usize> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(errors[0], 0, "the example is valid");
    assert!(errors[1] > 0 && errors[2] > 0, "{errors:?}");
}

/// A Google Cloud CDN entry and a Front Door entry, both serving `www.example.com`.
const GCP_AND_AZURE: &str = "cdn:
  lb:
    provider: gcp
    hostnames: [www.example.com]
    origin: { bucket: apex-assets }
  fd:
    provider: azure
    origin: { domain: app.example.net }
    custom_domain: www.example.com
";

fn gcp_and_azure(dns: &str) -> String {
    format!(
        "{HEAD}{GCP_AND_AZURE}  edge:\n    strategy: failover\n    members: [lb, fd]\n    dns: {{ provider: {dns}, zone: example.com, record: www }}\n"
    )
}

#[test]
fn google_members_are_pooled_by_address_and_refused_in_route53_sets() {
    // Cloudflare pools take the load balancer's IP address; Front Door keeps its hostname.
    let (rs, d) = lower(&gcp_and_azure("cloudflare"));
    assert!(d.is_empty(), "{:#?}", d.items);
    let pool = |m: &str| rs.iter().find(|r| r.address.as_str() == format!("cdn.edge.pool.{m}")).unwrap();
    assert_eq!(pool("lb").attrs["origins"][0]["address"], "${cdn.lb.ip.address}");
    assert_eq!(pool("fd").attrs["origins"][0]["address"], "${cdn.fd.domain_name}");
    // A Route 53 set is CNAMEs: an address-only member is reported where it is listed.
    let text = gcp_and_azure("route53");
    let (rs, d) = lower(&text);
    assert_eq!(d.len(), 1, "{:#?}", d.items);
    assert_eq!(d.items[0].code, "cdn::member-needs-address");
    let s = d.items[0].span.expect("located");
    assert_eq!(&text[s.offset..s.offset + s.len], "lb");
    assert!(!rs.iter().any(|r| r.address.as_str().starts_with("cdn.edge")));
}

#[test]
fn google_and_front_door_members_must_serve_the_name() {
    let text = gcp_and_azure("cloudflare")
        .replace("hostnames: [www.example.com]", "hostnames: [static.example.com]")
        .replace("custom_domain: www.example.com", "custom_domain: app.example.com");
    let (_, d) = lower(&text);
    let got: Vec<(&str, Option<&str>)> = d.items.iter().map(|d| (d.code, d.help.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("cdn::record-not-an-alias", Some("add `www.example.com` to `cdn.lb.hostnames`")),
            ("cdn::record-not-an-alias", Some("set `cdn.fd.custom_domain: www.example.com`")),
        ]
    );
}
