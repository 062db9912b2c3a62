use serde_json::{Value, json};
use strata_sdk::Resource;

use crate::diag::Diagnostics;
use crate::lower::cdn::Cdn;
use crate::lower::flags::testutil::workspace_root;

const HEAD: &str = "version: 1\nproject: apex\nproviders: { cloudflare: { zone: example.com } }\n";

fn lower(text: &str) -> (Vec<Resource>, Diagnostics) {
    crate::lower::lower_for_test(&Cdn::standard(), text, None, &|_| None)
}

/// The example, with its Worker path made absolute (tests load it as `strata.yaml` in the
/// engine's directory).
fn example() -> String {
    let dir = workspace_root().join("examples/cdn-cloudflare");
    let text = std::fs::read_to_string(dir.join("strata.yaml")).expect("the example exists");
    text.replace("code: edge/worker.js", &format!("code: {}", dir.join("edge/worker.js").display()))
}

/// Resources as `address (kind): attrs`, the machine-specific module path replaced.
fn view(rs: &[Resource]) -> Value {
    let mut out = serde_json::Map::new();
    for r in rs {
        let mut attrs = r.attrs.clone();
        if let Some(m) = attrs.pointer_mut("/module/source") {
            *m = json!("<examples/cdn-cloudflare/edge/worker.js>");
        }
        out.insert(format!("{} ({})", r.address, r.kind), attrs);
    }
    Value::Object(out)
}

#[test]
fn example_lowers_to_cloudflare_resources() {
    let (rs, d) = lower(&example());
    assert!(d.is_empty(), "{:#?}", d.items);
    insta::assert_yaml_snapshot!("example", view(&rs));
    let worker = rs.iter().find(|r| r.kind == "worker").unwrap();
    let sha = worker.attrs["module"]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
}

#[test]
fn single_origin_defaults_the_hostname_from_the_zone() {
    let (rs, d) = lower(&format!(
        "{HEAD}cdn:\n  assets-cf:\n    provider: cloudflare\n    origin: {{ domain: o.example.net }}\n    cache: {{ default_ttl: 1d }}\n"
    ));
    assert!(d.is_empty(), "{:#?}", d.items);
    let main = rs.iter().find(|r| r.address.as_str() == "cdn.assets-cf").unwrap();
    assert_eq!(main.kind, "dns_record");
    assert_eq!(main.attrs["name"], "assets-cf.example.com");
    assert_eq!(main.attrs["proxied"], true);
    let rules = rs.iter().find(|r| r.kind == "cache_rules").unwrap();
    assert_eq!(rules.attrs["rules"][0]["action_parameters"]["edge_ttl"]["default"], 86400);
}

fn one_code(body: &str) -> String {
    let (_, d) = lower(&format!("{HEAD}{body}"));
    assert_eq!(d.len(), 1, "{:#?}", d.items);
    let diag = &d.items[0];
    assert!(diag.span.is_some(), "{diag:?}");
    diag.code.to_string()
}

#[test]
fn problems_are_located_diagnostics() {
    let entry = "cdn:\n  a:\n    provider: cloudflare\n";
    assert_eq!(one_code(entry), "cdn::missing-origin");
    assert_eq!(one_code(&format!("{entry}    origin: {{ domain: https://o.example.net/x }}\n")), "cdn::invalid-origin");
    assert_eq!(
        one_code(&format!("{entry}    origin: {{ domain: o.example.net }}\n    hostname: www.other.org\n")),
        "cdn::invalid-hostname"
    );
    assert_eq!(
        one_code(&format!(
            "{entry}    origin: {{ domain: o.example.net }}\n    cache: {{ rules: [ {{ path: api/*, ttl: 0 }} ] }}\n"
        )),
        "cdn::invalid-path-pattern"
    );
    assert_eq!(
        one_code(&format!(
            "{entry}    origin: {{ domain: o.example.net }}\n    edge_function: {{ code: no/such/file.js }}\n"
        )),
        "cdn::edge-function-file"
    );
    assert_eq!(
        one_code(&format!("{entry}    origin: {{ domain: o.example.net }}\n    health_check: {{ path: /healthz }}\n")),
        "cdn::origin-setting-mismatch"
    );
    let (_, d) = lower(
        "version: 1\nproject: apex\ncdn:\n  a:\n    provider: cloudflare\n    origin: { domain: o.example.net }\n",
    );
    assert_eq!(d.items[0].code, "cdn::missing-zone");
}
