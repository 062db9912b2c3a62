use serde_json::{Value, json};
use strata_sdk::Resource;

use crate::diag::{Diagnostics, SpecDiagnostic};
use crate::lower::cdn::Cdn;
use crate::lower::flags::testutil::{python, workspace_root};

const HEAD: &str = "version: 1\nproject: apex\n";
const CERT: &str = "arn:aws:acm:us-east-1:123456789012:certificate/8d8f5c1e-1b2a-4c3d-9e8f-0a1b2c3d4e5f";

fn example() -> String {
    let p = workspace_root().join("examples/cdn-cloudfront/strata.yaml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn getenv(name: &str) -> Option<String> {
    name.starts_with("STRATA_EXAMPLE_").then(|| "example-secret-value".to_string())
}

/// Parses `text` for `env` and lowers its `cdn:` section.
fn lower_env(text: &str, env: Option<&str>) -> (Vec<Resource>, Diagnostics) {
    crate::lower::lower_for_test(&Cdn::standard(), text, env, &getenv)
}

fn lower(body: &str) -> (Vec<Resource>, Diagnostics, String) {
    let text = format!("{HEAD}{body}");
    let (r, d) = lower_env(&text, None);
    (r, d, text)
}

fn ok(body: &str) -> Vec<Resource> {
    let (r, d, _) = lower(body);
    assert!(d.is_empty(), "{:#?}", d.items);
    r
}

fn span_text<'a>(text: &'a str, d: &SpecDiagnostic) -> &'a str {
    let s = d.span.unwrap_or_else(|| panic!("no span on {d:?}"));
    &text[s.offset..s.offset + s.len]
}

/// The only diagnostic, which must have `code` and point at `span`.
fn expect_one(body: &str, code: &str, span: &str) -> SpecDiagnostic {
    let (_, d, text) = lower(body);
    assert_eq!(d.len(), 1, "expected one diagnostic, got {:#?}", d.items);
    let diag = d.items[0].clone();
    assert_eq!(diag.code, code, "{diag:#?}");
    assert_eq!(span_text(&text, &diag), span, "{diag:#?}");
    if !diag.code.starts_with("spec::") {
        assert!(diag.detail.ends_with('.'), "detail is a sentence: {}", diag.detail);
    }
    diag
}

fn by_address<'a>(rs: &'a [Resource], a: &str) -> &'a Resource {
    rs.iter().find(|r| r.address.as_str() == a).unwrap_or_else(|| panic!("no {a} in {:#?}", addresses(rs)))
}

fn addresses(rs: &[Resource]) -> Vec<&str> {
    rs.iter().map(|r| r.address.as_str()).collect()
}

/// A one-origin entry with `extra` YAML lines under it (indented by four spaces).
fn entry(extra: &str) -> String {
    format!(
        "cdn:\n  assets:\n    provider: cloudfront\n    origin: {{ domain: apex-assets.s3.us-east-1.amazonaws.com }}\n{extra}"
    )
}

#[test]
fn minimal_entry_uses_the_managed_caching_optimized_policy() {
    let rs = ok(&entry(""));
    assert_eq!(addresses(&rs), ["cdn.assets"]);
    let d = &rs[0];
    assert_eq!((d.provider.as_str(), d.kind.as_str()), ("aws", "cloudfront_distribution"));
    assert_eq!(d.attrs["comment"], "apex/default cdn.assets (managed by strata)");
    assert_eq!(
        d.attrs["origins"],
        json!([{"id": "assets", "domain_name": "apex-assets.s3.us-east-1.amazonaws.com", "origin_path": "", "s3": {}, "custom_headers": {}}])
    );
    assert_eq!(
        d.attrs["default_cache_behavior"],
        json!({
            "target_origin_id": "assets",
            "viewer_protocol_policy": "redirect-to-https",
            "allowed_methods": ["GET", "HEAD"],
            "cached_methods": ["GET", "HEAD"],
            "compress": true,
            "managed_cache_policy": "CachingOptimized",
            "function_associations": [],
            "lambda_associations": [],
        })
    );
    assert_eq!(d.attrs["price_class"], "PriceClass_All");
    assert_eq!(d.attrs["http_version"], "http2");
    assert_eq!(d.attrs["ipv6"], true);
    // CloudFront's own defaults written out: `default_ttl: 1d` alone is still CachingOptimized.
    let rs = ok(&entry("    cache: { default_ttl: 1d, max_ttl: 365d }\n"));
    assert_eq!(rs[0].attrs["default_cache_behavior"]["managed_cache_policy"], "CachingOptimized");
    let rs = ok(&entry("    cache: { compress: false }\n"));
    assert_eq!(rs[0].attrs["default_cache_behavior"]["managed_cache_policy"], "CachingOptimizedForUncompressedObjects");
    let rs = ok(&entry("    cache: { ttl: 0 }\n"));
    assert_eq!(rs[0].attrs["default_cache_behavior"]["managed_cache_policy"], "CachingDisabled");
}

#[test]
fn origin_types_follow_the_endpoint() {
    use super::build::{is_s3_rest_endpoint, is_s3_website_endpoint};
    for d in [
        "b.s3.amazonaws.com",
        "b.s3.us-east-1.amazonaws.com",
        "my.dotted.bucket.s3.eu-west-1.amazonaws.com",
        "b.s3-us-west-2.amazonaws.com",
        "b.s3.dualstack.us-east-1.amazonaws.com",
        "b.s3.cn-north-1.amazonaws.com.cn",
    ] {
        assert!(is_s3_rest_endpoint(d), "{d}");
    }
    for d in ["b.s3-website-us-east-1.amazonaws.com", "b.s3-website.eu-west-1.amazonaws.com"] {
        assert!(!is_s3_rest_endpoint(d) && is_s3_website_endpoint(d), "{d}");
    }
    for d in ["api.example.com", "s3.example.com", "elb.us-east-1.amazonaws.com"] {
        assert!(!is_s3_rest_endpoint(d), "{d}");
    }
}

#[test]
fn custom_ttls_create_a_cache_policy_the_distribution_references() {
    let rs = ok(&entry("    cache: { default_ttl: 1h, max_ttl: 1d, forward: { query: [v], cookies: [session] } }\n"));
    assert_eq!(addresses(&rs), ["cdn.assets", "cdn.assets.cache.default"]);
    let policy = by_address(&rs, "cdn.assets.cache.default");
    assert_eq!(policy.kind, "cloudfront_cache_policy");
    assert_eq!(
        policy.attrs,
        json!({
            "name": "apex-default-assets-default",
            "comment": "cdn.assets default behavior cache key and TTLs (managed by strata)",
            "min_ttl": 1,
            "default_ttl": 3600,
            "max_ttl": 86400,
            "headers": {"behavior": "none"},
            "cookies": {"behavior": "whitelist", "items": ["session"]},
            "query_strings": {"behavior": "whitelist", "items": ["v"]},
            "enable_accept_encoding_gzip": true,
            "enable_accept_encoding_brotli": true,
        })
    );
    let b = &by_address(&rs, "cdn.assets").attrs["default_cache_behavior"];
    assert_eq!(b["cache_policy_id"], "${cdn.assets.cache.default.id}");
    assert!(b.get("managed_cache_policy").is_none());
}

#[test]
fn uncached_rules_forward_through_an_origin_request_policy() {
    let rs = ok(&entry(
        "    cache:\n      rules:\n        - { path: /search/*, ttl: 0, forward: { headers: [Accept-Language], query: all } }\n",
    ));
    assert_eq!(addresses(&rs), ["cdn.assets", "cdn.assets.origin_request.search"]);
    let orp = by_address(&rs, "cdn.assets.origin_request.search");
    assert_eq!(orp.kind, "cloudfront_origin_request_policy");
    assert_eq!(orp.attrs["headers"], json!({"behavior": "whitelist", "items": ["Accept-Language"]}));
    assert_eq!(orp.attrs["query_strings"], json!({"behavior": "all"}));
    let b = &by_address(&rs, "cdn.assets").attrs["cache_behaviors"][0];
    assert_eq!(b["path_pattern"], "/search/*");
    assert_eq!(b["managed_cache_policy"], "CachingDisabled");
    assert_eq!(b["origin_request_policy_id"], "${cdn.assets.origin_request.search.id}");
    // Everything forwarded, nothing cached: the managed AllViewer policy fits.
    let rs = ok(&entry(
        "    cache:\n      rules:\n        - { path: /api/*, ttl: 0, forward: { headers: all, cookies: all, query: all } }\n",
    ));
    assert_eq!(addresses(&rs), ["cdn.assets"]);
    assert_eq!(rs[0].attrs["cache_behaviors"][0]["managed_origin_request_policy"], "AllViewer");
}

#[test]
fn authorization_goes_into_the_cache_key_even_with_ttl_0() {
    // CloudFront refuses Authorization in origin request policies and takes a cache key only
    // with a maximum TTL above 0.
    let rs = ok(&entry(
        "    cache:\n      rules:\n        - { path: /api/*, ttl: 0, forward: { headers: [Authorization], query: all } }\n",
    ));
    assert_eq!(addresses(&rs), ["cdn.assets", "cdn.assets.cache.api"]);
    let p = by_address(&rs, "cdn.assets.cache.api");
    assert_eq!(
        (p.attrs["min_ttl"].clone(), p.attrs["default_ttl"].clone(), p.attrs["max_ttl"].clone()),
        (json!(0), json!(0), json!(1))
    );
    assert_eq!(p.attrs["headers"], json!({"behavior": "whitelist", "items": ["Authorization"]}));
    assert_eq!(p.attrs["query_strings"], json!({"behavior": "all"}));
    let b = &by_address(&rs, "cdn.assets").attrs["cache_behaviors"][0];
    assert_eq!(b["cache_policy_id"], "${cdn.assets.cache.api.id}");
    assert!(b.get("origin_request_policy_id").is_none());
}

#[test]
fn all_headers_are_forwarded_but_never_part_of_the_cache_key() {
    let rs = ok(&entry("    cache: { default_ttl: 1h, forward: { headers: all, query: [q] } }\n"));
    assert_eq!(addresses(&rs), ["cdn.assets", "cdn.assets.cache.default", "cdn.assets.origin_request.default"]);
    assert_eq!(by_address(&rs, "cdn.assets.cache.default").attrs["headers"], json!({"behavior": "none"}));
    let orp = by_address(&rs, "cdn.assets.origin_request.default");
    assert_eq!(orp.attrs["headers"], json!({"behavior": "allViewer"}));
}

#[test]
fn origins_edge_functions_and_distribution_settings() {
    let rs = ok(&format!(
        "cdn:\n  web:\n    provider: cloudfront\n    origins:\n      site: {{ domain: apex-site.s3-website-us-east-1.amazonaws.com }}\n      api: {{ domain: api.example.com, path: /v2, http_port: 8080, tls: [TLSv1.2, TLSv1.1], read_timeout: 45s, connection_attempts: 2, connection_timeout: 5s, headers: {{ X-Key: k }} }}\n    aliases: [www.example.com]\n    certificate: {{ arn: {CERT}, minimum_tls: TLSv1.2_2019 }}\n    cache:\n      origin: site\n      rules:\n        - {{ path: /api/*, origin: api, methods: all, viewer_protocol: https-only, edge_function: {{ arn: \"arn:aws:lambda:us-east-1:123456789012:function:auth:7\", event: origin-request, include_body: true }} }}\n    edge_function: {{ arn: \"arn:aws:cloudfront::123456789012:function/rewrite\", event: viewer-request }}\n    errors: [ {{ code: 404, page: /404.html }}, {{ code: 503, ttl: 0 }} ]\n    price_class: 200\n    http2: false\n    http3: true\n    ipv6: false\n    logging: {{ bucket: apex-logs, prefix: web/, cookies: true }}\n    web_acl: arn:aws:wafv2:us-east-1:123456789012:global/webacl/apex/3f5a9c2e-7d41-4b8a-9f2e-1c6d8b7a5e40\n    invalidate_on_change: [\"/*\"]\n    tags: {{ team: web }}\n"
    ));
    let d = &by_address(&rs, "cdn.web").attrs;
    // Sorted by name; the website endpoint is a custom origin over HTTP.
    assert_eq!(d["origins"][0]["id"], "api");
    assert_eq!(
        d["origins"][0]["custom"],
        json!({"protocol_policy": "https-only", "http_port": 8080, "https_port": 443, "ssl_protocols": ["TLSv1.2", "TLSv1.1"], "read_timeout": 45, "keepalive_timeout": 5})
    );
    assert_eq!(d["origins"][0]["origin_path"], "/v2");
    assert_eq!(
        (d["origins"][0]["connection_attempts"].clone(), d["origins"][0]["connection_timeout"].clone()),
        (json!(2), json!(5))
    );
    assert_eq!(d["origins"][1]["custom"]["protocol_policy"], "http-only");
    assert_eq!(d["viewer_certificate"]["minimum_protocol_version"], "TLSv1.2_2019");
    assert_eq!(d["viewer_certificate"]["ssl_support_method"], "sni-only");
    assert_eq!(d["default_cache_behavior"]["target_origin_id"], "site");
    assert_eq!(
        d["default_cache_behavior"]["function_associations"],
        json!([{"event_type": "viewer-request", "function_arn": "arn:aws:cloudfront::123456789012:function/rewrite"}])
    );
    let api = &d["cache_behaviors"][0];
    assert_eq!(api["target_origin_id"], "api");
    assert_eq!(api["allowed_methods"], json!(["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]));
    assert_eq!(api["viewer_protocol_policy"], "https-only");
    assert_eq!(api["function_associations"], json!([]), "a behavior's own edge_function replaces the entry's");
    assert_eq!(
        api["lambda_associations"],
        json!([{"event_type": "origin-request", "lambda_arn": "arn:aws:lambda:us-east-1:123456789012:function:auth:7", "include_body": true}])
    );
    assert_eq!(
        d["custom_error_responses"],
        json!([{"error_code": 404, "response_code": 404, "response_page_path": "/404.html"}, {"error_code": 503, "error_caching_min_ttl": 0}])
    );
    assert_eq!(
        (d["price_class"].clone(), d["http_version"].clone(), d["ipv6"].clone()),
        (json!("PriceClass_200"), json!("http3"), json!(false))
    );
    assert_eq!(
        d["logging"],
        json!({"bucket": "apex-logs.s3.amazonaws.com", "prefix": "web/", "include_cookies": true})
    );
    assert!(d["web_acl_id"].as_str().unwrap().starts_with("arn:aws:wafv2:"));
    assert_eq!(d["invalidate_on_change"], json!(["/*"]));
    assert_eq!(d["tags"], json!({"team": "web"}));
}

#[test]
fn dns_creates_alias_records_in_the_zone() {
    let rs = ok(&format!(
        "cdn:\n  assets:\n    provider: cloudfront\n    origin: {{ domain: b.s3.amazonaws.com }}\n    aliases: [static.example.com, example.com, a.b.example.com]\n    certificate: {CERT}\n    dns: {{ zone: example.com }}\n"
    ));
    assert_eq!(
        addresses(&rs),
        [
            "cdn.assets",
            "cdn.assets.dns.@.a",
            "cdn.assets.dns.@.aaaa",
            "cdn.assets.dns.a_b.a",
            "cdn.assets.dns.a_b.aaaa",
            "cdn.assets.dns.static.a",
            "cdn.assets.dns.static.aaaa"
        ]
    );
    let r = by_address(&rs, "cdn.assets.dns.static.aaaa");
    assert_eq!(r.kind, "route53_record");
    assert_eq!(
        r.attrs,
        json!({
            "zone": "example.com",
            "private_zone": false,
            "name": "static.example.com",
            "type": "AAAA",
            "alias": {"dns_name": "${cdn.assets.domain_name}", "hosted_zone_id": "Z2FDTNDATAQYW2", "evaluate_target_health": false},
        })
    );
    // Only the listed records, and no AAAA without IPv6.
    let rs = ok(&format!(
        "cdn:\n  assets:\n    provider: cloudfront\n    origin: {{ domain: b.s3.amazonaws.com }}\n    aliases: [static.example.com, static.example.org]\n    certificate: {CERT}\n    ipv6: false\n    dns: {{ zone: example.org, records: [static.example.org] }}\n"
    ));
    assert_eq!(addresses(&rs), ["cdn.assets", "cdn.assets.dns.static.a"]);
}

#[test]
fn other_providers_are_reported_not_ignored() {
    // A build without the GCP and Azure targets (as with `--no-default-features`) names what it has.
    let partial = Cdn::new().target(crate::lower::cdn::CloudFront).target(crate::lower::cdn::Cloudflare);
    for p in ["gcp", "azure"] {
        let text = format!("{HEAD}cdn:\n  assets-cf:\n    provider: {p}\n    origin: {{ domain: apex-assets.s3.amazonaws.com }}\n");
        let (rs, d) = crate::lower::lower_for_test(&partial, &text, None, &getenv);
        assert!(rs.is_empty());
        assert_eq!(d.len(), 1, "{:#?}", d.items);
        assert_eq!(d.items[0].code, "cdn::unsupported-provider");
        assert_eq!(span_text(&text, &d.items[0]), p);
        let want = format!("cdn provider `{p}` is not supported yet in this build; supported: cloudfront, cloudflare.");
        assert!(d.items[0].detail.starts_with(&want), "{}", d.items[0].detail);
    }
    // A multi-CDN entry without `dns` is decoded as one (tests in cdn/multi).
    expect_one(
        "cdn:\n  global:\n    strategy: failover\n    members: [assets, assets-cf]\n",
        "spec::missing-key",
        "global",
    );
    let d = expect_one("cdn:\n  x:\n    provider: cloudfrnt\n", "spec::invalid-value", "cloudfrnt");
    assert_eq!(d.help.as_deref(), Some("did you mean `cloudfront`?"));
    expect_one("cdn:\n  x:\n    origin: { domain: a.example.com }\n", "spec::missing-key", "x");
    let d = expect_one(
        &format!(
            "cdn:\n  a:\n    provider: cloudfront\n    origin: {{ domain: b.s3.amazonaws.com }}\n    aliases: [x.example.com]\n    certificate: {CERT}\n    dns: {{ provider: cloudflare, zone: example.com }}\n"
        ),
        "cdn::unsupported-dns-provider",
        "cloudflare",
    );
    assert!(d.detail.contains("not supported yet"), "{}", d.detail);
}

#[test]
fn bad_ttls_are_reported_at_their_values() {
    let d = expect_one(&entry("    cache: { default_ttl: 1x }\n"), "spec::invalid-value", "1x");
    assert!(d.help.as_deref().unwrap_or_default().contains("30s"), "{d:?}");
    let d = expect_one(&entry("    cache: { max_ttl: 600 }\n"), "spec::invalid-value", "600");
    assert!(d.detail.contains("has no unit"), "{}", d.detail);
    expect_one(&entry("    cache: { ttl: 1500ms }\n"), "cdn::invalid-ttl", "1500ms");
    let d = expect_one(&entry("    cache: { min_ttl: 2h, default_ttl: 1h }\n"), "cdn::ttl-order", "2h");
    assert!(d.detail.contains("(2h) is above the default TTL (1h)"), "{}", d.detail);
    expect_one(&entry("    cache: { default_ttl: 2d, max_ttl: 1d }\n"), "cdn::ttl-order", "1d");
    expect_one(&entry("    cache: { ttl: 1h, max_ttl: 1d }\n"), "cdn::ttl-conflict", "max_ttl");
    expect_one(&entry("    cache:\n      rules:\n        - { path: /x/*, ttl: 5ms }\n"), "cdn::invalid-ttl", "5ms");
    expect_one(&entry("    errors: [ { code: 404, ttl: 1.5s } ]\n"), "cdn::invalid-ttl", "1.5s");
}

#[test]
fn unknown_keys_get_did_you_mean() {
    let d = expect_one(&entry("    alises: [a.example.com]\n"), "spec::unknown-key", "alises");
    assert_eq!(d.help.as_deref(), Some("did you mean `aliases`?"));
    let d = expect_one(&entry("    cache: { defualt_ttl: 1h }\n"), "spec::unknown-key", "defualt_ttl");
    assert_eq!(d.help.as_deref(), Some("did you mean `default_ttl`?"));
    let d = expect_one(
        &entry("    cache:\n      rules:\n        - { path: /a/*, forwrd: { query: all } }\n"),
        "spec::unknown-key",
        "forwrd",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `forward`?"));
    let d = expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origin: { domian: b.s3.amazonaws.com }\n",
        "spec::unknown-key",
        "domian",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `domain`?"));
}

#[test]
fn edge_function_problems() {
    let d = expect_one(
        &entry("    edge_function: { arn: \"arn:aws:cloudfront::1:function/f\", event: viewer-reqest }\n"),
        "spec::invalid-value",
        "viewer-reqest",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `viewer-request`?"));
    expect_one(
        &entry("    edge_function: { arn: \"arn:aws:cloudfront::1:function/f\", event: origin-request }\n"),
        "cdn::unsupported-edge-event",
        "origin-request",
    );
    let d = expect_one(
        &entry("    edge_function: { code: edge/rewrite.js, event: viewer-request }\n"),
        "cdn::edge-function-code",
        "code",
    );
    assert!(d.detail.contains("not supported yet"), "{}", d.detail);
    expect_one(
        &entry("    edge_function: { arn: \"arn:aws:lambda:us-east-1:1:function:auth\", event: origin-request }\n"),
        "cdn::invalid-edge-arn",
        "\"arn:aws:lambda:us-east-1:1:function:auth\"",
    );
    expect_one(
        &entry("    edge_function: { arn: \"arn:aws:lambda:eu-west-1:1:function:auth:3\", event: origin-request }\n"),
        "cdn::invalid-edge-arn",
        "\"arn:aws:lambda:eu-west-1:1:function:auth:3\"",
    );
    expect_one(
        &entry(
            "    edge_function:\n      - { arn: \"arn:aws:cloudfront::1:function/a\", event: viewer-request }\n      - { arn: \"arn:aws:lambda:us-east-1:1:function:b:1\", event: viewer-request }\n",
        ),
        "cdn::duplicate-edge-event",
        "viewer-request",
    );
}

#[test]
fn aliases_certificates_and_dns() {
    let d = expect_one(
        &entry("    aliases: [static.example.com]\n"),
        "cdn::alias-without-certificate",
        "static.example.com",
    );
    assert!(d.help.as_deref().unwrap().contains("us-east-1"), "{d:?}");
    expect_one(
        &entry(
            "    aliases: [static.example.com]\n    certificate: arn:aws:acm:eu-west-1:123456789012:certificate/x\n",
        ),
        "cdn::certificate-region",
        "arn:aws:acm:eu-west-1:123456789012:certificate/x",
    );
    expect_one(
        &entry(
            "    aliases: [static.example.com]\n    certificate: { arn: \"arn:aws:iam::1:server-certificate/x\" }\n",
        ),
        "cdn::invalid-certificate",
        "\"arn:aws:iam::1:server-certificate/x\"",
    );
    let d = expect_one(
        &entry(&format!(
            "    aliases: [static.example.com, cdn.example.org]\n    certificate: {CERT}\n    dns: {{ zone: example.com }}\n"
        )),
        "cdn::record-outside-zone",
        "cdn.example.org",
    );
    assert!(d.detail.contains("not inside the zone `example.com`"), "{}", d.detail);
    expect_one(
        &entry(&format!(
            "    aliases: [static.example.com]\n    certificate: {CERT}\n    dns: {{ zone: example.com, records: [other.example.com] }}\n"
        )),
        "cdn::record-not-an-alias",
        "other.example.com",
    );
    expect_one(&entry("    dns: { zone: example.com }\n"), "cdn::dns-without-aliases", "dns");
    expect_one(
        &entry(&format!("    aliases: [\"a..example.com\"]\n    certificate: {CERT}\n")),
        "cdn::invalid-alias",
        "\"a..example.com\"",
    );
}

#[test]
fn origin_problems() {
    let d = expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origin: { domain: \"https://api.example.com/v1\" }\n",
        "cdn::invalid-origin",
        "\"https://api.example.com/v1\"",
    );
    assert_eq!(d.help.as_deref(), Some("write `domain: api.example.com`"));
    expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origin: { domain: b.s3.amazonaws.com, protocol: http-only }\n",
        "cdn::origin-setting-mismatch",
        "protocol",
    );
    expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origin: { domain: api.example.com, access_control: E1 }\n",
        "cdn::origin-setting-mismatch",
        "access_control",
    );
    expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origin: { domain: b.s3.amazonaws.com, shield: us-east }\n",
        "cdn::invalid-region",
        "us-east",
    );
    expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origin: { domain: b.s3.amazonaws.com, path: v2/ }\n",
        "cdn::invalid-origin-path",
        "v2/",
    );
    expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origin: { domain: api.example.com, https_port: 444 }\n",
        "cdn::invalid-port",
        "444",
    );
    expect_one("cdn:\n  a:\n    provider: cloudfront\n", "cdn::missing-origin", "a");
    let d = expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origins: { s3: { domain: b.s3.amazonaws.com }, api: { domain: api.example.com } }\n    cache: { origin: apii }\n",
        "cdn::unknown-origin",
        "apii",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `api`?"));
    expect_one(
        "cdn:\n  a:\n    provider: cloudfront\n    origins: { s3: { domain: b.s3.amazonaws.com }, api: { domain: api.example.com } }\n",
        "cdn::ambiguous-origin",
        "origins",
    );
}

#[test]
fn policy_and_rule_problems() {
    let d = expect_one(&entry("    cache: { policy: CachingOptimised }\n"), "cdn::unknown-policy", "CachingOptimised");
    assert_eq!(d.help.as_deref(), Some("did you mean `CachingOptimized`?"));
    expect_one(&entry("    cache: { policy: CachingDisabled, ttl: 0 }\n"), "cdn::policy-conflict", "ttl");
    expect_one(&entry("    cache: { headers_policy: SecurityHeaders }\n"), "cdn::unknown-policy", "SecurityHeaders");
    expect_one(
        &entry("    cache: { ttl: 0, forward: { query: all }, origin_request_policy: CORS-S3Origin }\n"),
        "cdn::policy-conflict",
        "origin_request_policy",
    );
    expect_one(
        &entry("    cache: { forward: { headers: [Accept-Encoding] } }\n"),
        "cdn::invalid-forward",
        "Accept-Encoding",
    );
    expect_one(&entry("    cache: { forward: { headers: [Origin, Cookie] } }\n"), "cdn::invalid-forward", "Cookie");
    expect_one(&entry("    cache: { forward: { query: [v, v] } }\n"), "cdn::invalid-forward", "v");
    expect_one(&entry("    cache: { methods: [GET, POST] }\n"), "cdn::invalid-methods", "methods");
    expect_one(&entry("    cache: { cache_options: true }\n"), "cdn::invalid-methods", "cache_options");
    let d = expect_one(
        &entry(
            "    cache:\n      rules:\n        - { path: /api/*, ttl: 0 }\n        - { path: /api/v2/*, ttl: 1h }\n",
        ),
        "cdn::shadowed-rule",
        "/api/v2/*",
    );
    assert_eq!(d.help.as_deref(), Some("move this rule above rule 0"));
    expect_one(
        &entry("    cache:\n      rules:\n        - { path: /api/*, ttl: 0 }\n        - { path: /api*, ttl: 1h }\n"),
        "cdn::duplicate-rule-name",
        "/api*",
    );
    expect_one(&entry("    cache:\n      rules:\n        - { path: \"/*\" }\n"), "cdn::invalid-path-pattern", "\"/*\"");
    expect_one(&entry("    errors: [ { code: 418, page: /x.html } ]\n"), "cdn::invalid-error-code", "418");
    expect_one(&entry("    errors: [ { code: 404, status: 200 } ]\n"), "cdn::invalid-error-response", "status");
    expect_one(&entry("    invalidate_on_change: [\"*\"]\n"), "cdn::invalid-invalidation-path", "\"*\"");
    expect_one(&entry("    tags: { strata.dev/address: x }\n"), "cdn::reserved-tag", "strata.dev/address");
    expect_one(
        &entry("    web_acl: arn:aws:wafv2:us-east-1:1:regional/webacl/a/b\n"),
        "cdn::invalid-web-acl",
        "arn:aws:wafv2:us-east-1:1:regional/webacl/a/b",
    );
    expect_one(&entry("    price_class: 150\n"), "spec::invalid-value", "150");
}

#[test]
fn one_pass_reports_every_problem() {
    let (rs, d, text) = lower(&format!(
        "cdn:\n  a:\n    provider: cloudfront\n    origins:\n      s3: {{ domain: b.s3.amazonaws.com, protocol: http-only }}\n      api: {{ domain: api.example.com, read_tmeout: 5s }}\n    aliases: [x.example.com]\n    cache:\n      origin: s3\n      default_ttl: 1y\n      rules:\n        - {{ path: /a/*, ttl: 0.5s }}\n        - {{ path: /b/*, methods: [PUT] }}\n  b:\n    provider: fastly\n  c:\n    provider: cloudfront\n    origin: {{ domain: c.s3.amazonaws.com }}\n    certificate: {CERT}\n"
    ));
    let got: Vec<(&str, &str)> = d.items.iter().map(|d| (d.code, span_text(&text, d))).collect();
    assert_eq!(
        got,
        [
            ("cdn::origin-setting-mismatch", "protocol"),
            ("spec::unknown-key", "read_tmeout"),
            ("cdn::alias-without-certificate", "x.example.com"),
            ("spec::invalid-value", "1y"),
            ("cdn::invalid-ttl", "0.5s"),
            ("cdn::invalid-methods", "methods"),
            ("spec::invalid-value", "fastly"),
        ]
    );
    // The valid entry still lowers; the one with undecodable pieces is checked but not built.
    assert_eq!(addresses(&rs), ["cdn.c"]);

    // A bad entry setting is left out and the others still checked; checks that depend on it
    // are not (a certificate that did not decode is not "missing").
    let (rs, d, text) = lower(
        "cdn:\n  a:\n    provider: cloudfront\n    origin: { domain: b.s3.amazonaws.com }\n    aliases: [x.example.com]\n    certificate: { arn: \"arn:aws:acm:us-east-1:1:certificate/c\", minimum_tls: TLS1.2 }\n    edge_function: { arn: \"arn:aws:cloudfront::1:function/f\", event: viewer-reqest }\n    prise_class: 100\n    dns: { zone: example.org }\n",
    );
    let got: Vec<(&str, &str)> = d.items.iter().map(|d| (d.code, span_text(&text, d))).collect();
    assert_eq!(
        got,
        [
            ("cdn::record-outside-zone", "x.example.com"),
            ("spec::invalid-value", "TLS1.2"),
            ("spec::invalid-value", "viewer-reqest"),
            ("spec::unknown-key", "prise_class"),
        ]
    );
    assert!(rs.is_empty());
}

#[test]
fn environment_overlays_merge_into_entries() {
    let text = example();
    let dist = |env| {
        let (rs, d) = lower_env(&text, env);
        assert!(d.is_empty(), "{env:?}: {:?}", d.items);
        by_address(&rs, "cdn.assets").attrs.clone()
    };
    let base = dist(None);
    assert_eq!(base["price_class"], "PriceClass_100");
    assert!(base.get("web_acl_id").is_some());
    let dev = dist(Some("dev"));
    assert!(dev.get("web_acl_id").is_none(), "null in the overlay removes the key");
    assert_eq!(dev["invalidate_on_change"], json!([]));
    assert_eq!(dist(Some("prod"))["price_class"], "PriceClass_All");
}

/// The example's resources, golden.
#[test]
fn example_snapshot() {
    let (rs, d) = lower_env(&example(), None);
    assert!(d.is_empty(), "{:?}", d.items);
    let view: Vec<Value> = rs
        .iter()
        .map(|r| json!({"address": r.address.as_str(), "provider": r.provider, "kind": r.kind, "attrs": r.attrs}))
        .collect();
    insta::assert_yaml_snapshot!("example", view);
}

/// The example against the committed JSON Schema (generated from the types above), with a
/// real validator; and the schema rejects what the lowering rejects at the type level.
#[test]
fn schema_accepts_the_example_and_rejects_other_providers() {
    let schema = workspace_root().join("schemas/strata.schema.json");
    let (root, _) = crate::spec::yaml::parse(&example()).unwrap();
    let good = root.to_value();
    let mut bad = good.clone();
    bad["cdn"]["assets"]["provider"] = json!("gcp");
    let mut typo = good.clone();
    typo["cdn"]["assets"]["cache"]["defualt_ttl"] = json!("1h");
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs.json");
    std::fs::write(&docs, serde_json::to_string(&json!([good, bad, typo])).unwrap()).unwrap();
    let script = "import json, sys\nfrom jsonschema import Draft202012Validator as V\nschema = json.load(open(sys.argv[1]))\nV.check_schema(schema)\nv = V(schema)\nprint(json.dumps([sorted(e.message for e in v.iter_errors(d)) for d in json.load(open(sys.argv[2]))]))\n";
    let out = std::process::Command::new(python()).arg("-c").arg(script).arg(&schema).arg(&docs).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let errors: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(errors[0].is_empty(), "the example is valid: {:?}", errors[0]);
    assert!(!errors[1].is_empty(), "provider gcp is outside the schema");
    assert!(errors[2].iter().any(|e| e.contains("defualt_ttl")), "{:?}", errors[2]);
}
