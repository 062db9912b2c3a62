use serde_json::Value;
use strata_sdk::Resource;

use crate::diag::Diagnostics;
use crate::lower::cdn::Cdn;
use crate::lower::flags::testutil::workspace_root;

const HEAD: &str = "version: 1\nproject: shop\nproviders: { gcp: { project: p1 } }\n";

fn lower(text: &str) -> (Vec<Resource>, Diagnostics) {
    crate::lower::lower_for_test(&Cdn::standard(), text, None, &|_| None)
}

fn example() -> String {
    std::fs::read_to_string(workspace_root().join("examples/cdn-gcp/strata.yaml")).expect("the example exists")
}

/// Resources as `address (kind): attrs`.
fn view(rs: &[Resource]) -> Value {
    Value::Object(rs.iter().map(|r| (format!("{} ({})", r.address, r.kind), r.attrs.clone())).collect())
}

#[test]
fn example_lowers_to_a_load_balancer_with_cloud_cdn() {
    let (rs, d) = lower(&example());
    assert!(d.is_empty(), "{:#?}", d.items);
    insta::assert_yaml_snapshot!("example", view(&rs));
    let main = rs.iter().find(|r| r.address.as_str() == "cdn.assets-gcp").unwrap();
    assert_eq!(main.kind, "global_forwarding_rule");
    assert_eq!(main.attrs["portRange"], "443");
}

#[test]
fn single_bucket_without_redirect_is_six_resources() {
    let (rs, d) = lower(&format!(
        "{HEAD}cdn:\n  web:\n    provider: gcp\n    hostnames: [www.example.com]\n    origin: {{ bucket: web-site }}\n    http_redirect: false\n"
    ));
    assert!(d.is_empty(), "{:#?}", d.items);
    let kinds: Vec<(&str, &str)> = rs.iter().map(|r| (r.address.as_str(), r.kind.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("cdn.web", "global_forwarding_rule"),
            ("cdn.web.bucket.default", "backend_bucket"),
            ("cdn.web.certificate", "managed_ssl_certificate"),
            ("cdn.web.https-proxy", "target_https_proxy"),
            ("cdn.web.ip", "global_address"),
            ("cdn.web.url-map", "url_map"),
        ]
    );
    let bucket = &rs[1];
    assert_eq!(bucket.address.as_str(), "cdn.web.bucket.default");
    assert_eq!(bucket.attrs["cdnPolicy"], serde_json::json!({"cacheMode": "CACHE_ALL_STATIC"}));
    assert!(rs[5].attrs.get("hostRules").is_none());
}

#[test]
fn a_new_host_set_is_a_new_certificate_name() {
    let one = |hosts: &str| {
        let (rs, d) = lower(&format!(
            "{HEAD}cdn:\n  web:\n    provider: gcp\n    hostnames: [{hosts}]\n    origin: {{ bucket: web-site }}\n"
        ));
        assert!(d.is_empty(), "{:#?}", d.items);
        rs.iter().find(|r| r.kind == "managed_ssl_certificate").unwrap().attrs["name"].clone()
    };
    assert_ne!(one("a.example.com"), one("a.example.com, b.example.com"));
    assert_eq!(one("a.example.com"), one("A.example.com."));
}

fn codes(body: &str) -> Vec<String> {
    let (_, d) = lower(&format!("{HEAD}{body}"));
    d.items.iter().map(|i| i.code.to_string()).collect()
}

#[test]
fn invalid_entries_are_located_errors() {
    let base = "cdn:\n  web:\n    provider: gcp\n    hostnames: [www.example.com]\n";
    let cases = [
        ("", "cdn::missing-origin"),
        ("    origin: { bucket: gs://site }\n", "cdn::invalid-origin"),
        ("    origin: { bucket: site-one }\n    origins: { a: { bucket: site-two } }\n", "cdn::origin-conflict"),
        ("    origins: { a: { bucket: site-one }, b: { bucket: site-two } }\n", "cdn::ambiguous-origin"),
        ("    origins: { a: { bucket: site-one } }\n    cache: { origin: b }\n", "cdn::unknown-origin"),
        (
            "    origins: { a: { bucket: site-one } }\n    cache: { rules: [ { path: /m/*x, origin: a } ] }\n",
            "cdn::invalid-path-pattern",
        ),
        (
            "    origins: { a: { bucket: site-one } }\n    cache: { rules: [ { path: /m/*, origin: a }, { path: /m/*, origin: a } ] }\n",
            "cdn::duplicate-rule",
        ),
        (
            "    origin: { bucket: site-one }\n    cache: { mode: use_origin_headers, default_ttl: 1h }\n",
            "cdn::ttl-conflict",
        ),
        ("    origin: { bucket: site-one }\n    cache: { mode: force_cache_all, max_ttl: 1h }\n", "cdn::ttl-conflict"),
        ("    origin: { bucket: site-one }\n    cache: { max_ttl: 1h, client_ttl: 2h }\n", "cdn::ttl-order"),
        ("    origin: { bucket: site-one }\n    cache: { serve_while_stale: 2d }\n", "cdn::invalid-ttl"),
        (
            "    origin: { bucket: site-one }\n    cache: { rules: [ { path: /m/*, origin: default } ] }\n",
            "cdn::origin-setting-mismatch",
        ),
    ];
    for (extra, code) in cases {
        assert_eq!(codes(&format!("{base}{extra}")), [code], "{extra}");
    }
    assert_eq!(
        codes("cdn:\n  web:\n    provider: gcp\n    hostnames: ['*.example.com']\n    origin: { bucket: site-one }\n"),
        ["cdn::invalid-hostname"]
    );
    assert_eq!(
        codes("cdn:\n  web:\n    provider: gcp\n    hostnames: []\n    origin: { bucket: site-one }\n"),
        ["cdn::invalid-hostname"]
    );
}

#[test]
fn a_misspelt_key_gets_a_suggestion() {
    let (_, d) = lower(&format!(
        "{HEAD}cdn:\n  web:\n    provider: gcp\n    hostnames: [www.example.com]\n    origin: {{ bucket: site-one }}\n    http_redirects: false\n"
    ));
    let help = d.items.iter().filter_map(|i| i.help.clone()).collect::<Vec<_>>().join("\n");
    assert!(help.contains("http_redirect"), "{help}");
}
