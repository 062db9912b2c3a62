use serde_json::Value;
use strata_sdk::Resource;

use crate::diag::Diagnostics;
use crate::lower::cdn::Cdn;
use crate::lower::flags::testutil::workspace_root;

const HEAD: &str = "version: 1\nproject: apex\nproviders: { azure: { resource_group: edge } }\n";

fn lower(text: &str) -> (Vec<Resource>, Diagnostics) {
    crate::lower::lower_for_test(&Cdn::standard(), text, None, &|_| None)
}

fn view(rs: &[Resource]) -> Value {
    let mut out = serde_json::Map::new();
    for r in rs {
        let mut v = serde_json::json!({"attrs": r.attrs});
        if !r.depends_on.is_empty() {
            v["depends_on"] = r.depends_on.iter().map(|a| a.as_str().to_string()).collect();
        }
        out.insert(format!("{} ({})", r.address, r.kind), v);
    }
    Value::Object(out)
}

#[test]
fn example_lowers_to_front_door_resources() {
    let text =
        std::fs::read_to_string(workspace_root().join("examples/cdn-azure/strata.yaml")).expect("the example exists");
    let (rs, d) = lower(&text);
    assert!(d.is_empty(), "{:#?}", d.items);
    insta::assert_yaml_snapshot!("example", view(&rs));
}

#[test]
fn single_origin_minimal_entry() {
    let (rs, d) =
        lower(&format!("{HEAD}cdn:\n  assets:\n    provider: azure\n    origin: {{ domain: o.example.net }}\n"));
    assert!(d.is_empty(), "{:#?}", d.items);
    let kinds: Vec<&str> = rs.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    let main = rs.iter().find(|r| r.address.as_str() == "cdn.assets").unwrap();
    assert_eq!(main.kind, "afd_endpoint");
    assert_eq!(main.attrs["name"], "apex-assets");
    let route = rs.iter().find(|r| r.kind == "route").unwrap();
    assert_eq!(route.attrs["properties"]["originGroup"]["id"], "${cdn.assets.origin-group.id}");
    assert!(route.attrs["properties"].get("cacheConfiguration").is_none());
    assert_eq!(route.depends_on[0].as_str(), "cdn.assets.origin.origin");
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
    let entry = "cdn:\n  a:\n    provider: azure\n";
    let o = "    origin: { domain: o.example.net }\n";
    assert_eq!(one_code(entry), "cdn::missing-origin");
    assert_eq!(one_code(&format!("{entry}    origin: {{ domain: https://o.example.net/x }}\n")), "cdn::invalid-origin");
    assert_eq!(
        one_code(&format!("{entry}{o}    origins: [ {{ name: b, domain: b.example.net }} ]\n")),
        "cdn::origin-conflict"
    );
    assert_eq!(
        one_code(&format!("{entry}    origins: [ {{ name: b, domain: b.example.net, priority: 9 }} ]\n")),
        "spec::invalid-value"
    );
    assert_eq!(
        one_code(&format!("{entry}    origins: [ {{ name: B_1, domain: b.example.net }} ]\n")),
        "cdn::invalid-name"
    );
    assert_eq!(one_code(&format!("{entry}{o}    patterns: [ /a*b ]\n")), "cdn::invalid-path-pattern");
    assert_eq!(
        one_code(&format!("{entry}{o}    cache: {{ rules: [ {{ path: static, ttl: 1d }} ] }}\n")),
        "cdn::invalid-path-pattern"
    );
    assert_eq!(
        one_code(&format!("{entry}{o}    cache: {{ rules: [ {{ path: /s/*, ttl: 1.5s }} ] }}\n")),
        "cdn::invalid-ttl"
    );
    assert_eq!(one_code(&format!("{entry}{o}    response_headers: {{ \"X Bad\": v }}\n")), "cdn::invalid-header");
    assert_eq!(one_code(&format!("{entry}{o}    custom_domain: localhost\n")), "cdn::invalid-hostname");
    assert_eq!(one_code(&format!("{entry}{o}    waf_policy: /subscriptions/x/waf\n")), "cdn::invalid-waf-policy");
    assert_eq!(one_code(&format!("{entry}{o}    tags: {{ strata-project: x }}\n")), "cdn::reserved-tag");
    assert_eq!(one_code(&format!("{entry}{o}    health_check: {{ path: healthz }}\n")), "cdn::invalid-path-pattern");
    assert_eq!(
        one_code(&format!("{entry}{o}    load_balancing: {{ sample_size: 2, successful_samples: 3 }}\n")),
        "spec::invalid-value"
    );
    assert_eq!(one_code(&format!("{entry}{o}    sku: gold\n")), "spec::invalid-value");
}

#[test]
fn waf_policy_links_endpoint_and_domain() {
    let waf = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/sec/providers/Microsoft.Network/frontDoorWebApplicationFirewallPolicies/edgewaf";
    let (rs, d) = lower(&format!(
        "{HEAD}cdn:\n  a:\n    provider: azure\n    origin: {{ domain: o.example.net }}\n    custom_domain: www.example.com\n    waf_policy: {waf}\n"
    ));
    assert!(d.is_empty(), "{:#?}", d.items);
    let sp = rs.iter().find(|r| r.kind == "security_policy").unwrap();
    assert_eq!(sp.attrs["properties"]["parameters"]["wafPolicy"]["id"], waf);
    assert_eq!(sp.attrs["properties"]["parameters"]["associations"][0]["domains"][1]["id"], "${cdn.a.domain.id}");
}
