//! Contract tests: the exact requests strata sends where moto cannot check them (cache and
//! origin request policies, which moto does not implement; If-Match/PreconditionFailed
//! handling, which moto ignores; function and Lambda@Edge associations and origin access
//! control ids, which moto drops), against a scripted local HTTP server. Paths, methods,
//! headers and XML elements follow the CloudFront API version 2020-05-31.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use strata_sdk::{Address, Applied, DeleteRequest, ErrorClass, Provider, ReadRequest, ResourceChange};
use support::{FakeServer, Recorded, Reply, provider, provider_with, xml_text};

const NS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn change(kind: &str, address: &str, attrs: Value, prior: Option<&str>) -> ResourceChange {
    ResourceChange {
        address: addr(address),
        kind: kind.into(),
        attrs,
        prior: prior.map(|id| Applied { remote_id: id.into(), attrs: json!({}), outputs: json!({}) }),
    }
}

/// The text at a nested element path (`["Origins", "Items", "Origin", "Id"]`): each step
/// narrows to the first matching element inside the previous one.
fn at(body: &str, path: &[&str]) -> Option<String> {
    let mut cur = body.to_string();
    for p in path {
        cur = xml_text(&cur, p)?;
    }
    Some(cur)
}

/// Every text of `<name>` elements directly findable in `body`, in order.
fn all(body: &str, name: &str) -> Vec<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(s) = rest.find(&open) {
        let after = &rest[s + open.len()..];
        let Some(e) = after.find(&close) else { break };
        out.push(after[..e].to_string());
        rest = &after[e + close.len()..];
    }
    out
}

fn assert_signed(r: &Recorded) {
    let auth = r.header("authorization").expect("signed request");
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=testing/"), "{auth}");
    assert!(auth.contains("/cloudfront/aws4_request") || auth.contains("/route53/aws4_request"), "{auth}");
}

fn cache_policy_xml(id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CachePolicy xmlns=\"{NS}\"><Id>{id}</Id><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime><CachePolicyConfig><Name>assets-long-ttl</Name><MinTTL>1</MinTTL></CachePolicyConfig></CachePolicy>"
    )
}

fn origin_request_policy_xml(id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><OriginRequestPolicy xmlns=\"{NS}\"><Id>{id}</Id><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime><OriginRequestPolicyConfig><Name>api</Name><HeadersConfig><HeaderBehavior>none</HeaderBehavior></HeadersConfig><CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>none</QueryStringBehavior></QueryStringsConfig></OriginRequestPolicyConfig></OriginRequestPolicy>"
    )
}

fn distribution_xml(id: &str, status: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Distribution xmlns=\"{NS}\"><Id>{id}</Id><ARN>arn:aws:cloudfront::123456789012:distribution/{id}</ARN><Status>{status}</Status><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime><InProgressInvalidationBatches>0</InProgressInvalidationBatches><DomainName>d111111abcdef8.cloudfront.net</DomainName></Distribution>"
    )
}

fn distribution_config_xml(enabled: bool) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DistributionConfig xmlns=\"{NS}\"><CallerReference>remote-ref-1</CallerReference><Aliases><Quantity>0</Quantity></Aliases><DefaultRootObject></DefaultRootObject><Origins><Quantity>1</Quantity><Items><Origin><Id>web</Id><DomainName>web.s3.us-east-1.amazonaws.com</DomainName><OriginPath></OriginPath><S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity></S3OriginConfig></Origin></Items></Origins><DefaultCacheBehavior><TargetOriginId>web</TargetOriginId><ViewerProtocolPolicy>redirect-to-https</ViewerProtocolPolicy><CachePolicyId>658327ea-f89d-4fab-a63d-7e88639e58f6</CachePolicyId></DefaultCacheBehavior><Comment>old comment</Comment><Restrictions><GeoRestriction><RestrictionType>whitelist</RestrictionType><Quantity>1</Quantity><Items><Location>DE</Location></Items></GeoRestriction></Restrictions><Enabled>{enabled}</Enabled></DistributionConfig>"
    )
}

fn tags_xml(tags: &[(&str, &str)]) -> String {
    let items: String = tags.iter().map(|(k, v)| format!("<Tag><Key>{k}</Key><Value>{v}</Value></Tag>")).collect();
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Tags xmlns=\"{NS}\"><Items>{items}</Items></Tags>")
}

fn invalidation_xml() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Invalidation xmlns=\"{NS}\"><Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status><CreateTime>2024-01-01T00:00:00Z</CreateTime><InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/*</Path></Items></Paths><CallerReference>x</CallerReference></InvalidationBatch></Invalidation>"
    )
}

fn unexpected(r: &Recorded) -> Reply {
    Reply::error(400, "UnexpectedRequest", &format!("the contract test did not expect {} {}", r.method, r.target))
}

fn cache_policy_doc() -> Value {
    json!({
        "name": "assets-long-ttl", "comment": "static assets",
        "min_ttl": 1, "default_ttl": 3600, "max_ttl": 86400,
        "headers": {"behavior": "whitelist", "items": ["Origin", "Accept"]},
        "cookies": {"behavior": "none"},
        "query_strings": {"behavior": "allExcept", "items": ["utm_source"]},
        "enable_accept_encoding_brotli": false
    })
}

/// A one-policy `ListCachePolicies` answer holding exactly [`cache_policy_doc`] as `cp-123`.
fn cache_policy_list_xml() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CachePolicyList xmlns=\"{NS}\"><MaxItems>100</MaxItems><Quantity>1</Quantity><Items><CachePolicySummary><Type>custom</Type><CachePolicy><Id>cp-123</Id><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime><CachePolicyConfig><Comment>static assets</Comment><Name>assets-long-ttl</Name><DefaultTTL>3600</DefaultTTL><MaxTTL>86400</MaxTTL><MinTTL>1</MinTTL><ParametersInCacheKeyAndForwardedToOrigin><EnableAcceptEncodingGzip>true</EnableAcceptEncodingGzip><EnableAcceptEncodingBrotli>false</EnableAcceptEncodingBrotli><HeadersConfig><HeaderBehavior>whitelist</HeaderBehavior><Headers><Quantity>2</Quantity><Items><Name>Accept</Name><Name>Origin</Name></Items></Headers></HeadersConfig><CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>allExcept</QueryStringBehavior><QueryStrings><Quantity>1</Quantity><Items><Name>utm_source</Name></Items></QueryStrings></QueryStringsConfig></ParametersInCacheKeyAndForwardedToOrigin></CachePolicyConfig></CachePolicy></CachePolicySummary></Items></CachePolicyList>"
    )
}

// ---------------------------------------------------------------------------------------------
// Cache policies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cache_policy_create_sends_the_config() {
    let server = FakeServer::start(|r, _| match (r.method.as_str(), r.path()) {
        ("POST", "/2020-05-31/cache-policy") => Reply::xml(201, cache_policy_xml("cp-123"))
            .with_header("ETag", "E1")
            .with_header("Location", "https://cloudfront.amazonaws.com/2020-05-31/cache-policy/cp-123"),
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let applied = p
        .create(&change("cloudfront_cache_policy", "cdn.assets.cache", cache_policy_doc(), None))
        .await
        .expect("create");
    assert_eq!(applied.remote_id, "cp-123");
    assert_eq!(applied.outputs, json!({"id": "cp-123", "name": "assets-long-ttl"}));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_signed(r);
    assert_eq!((r.method.as_str(), r.path()), ("POST", "/2020-05-31/cache-policy"));
    assert!(r.body.contains(&format!("<CachePolicyConfig xmlns=\"{NS}\">")), "{}", r.body);
    let b = &r.body;
    assert_eq!(at(b, &["CachePolicyConfig", "Name"]).as_deref(), Some("assets-long-ttl"));
    assert_eq!(at(b, &["CachePolicyConfig", "Comment"]).as_deref(), Some("static assets"));
    assert_eq!(at(b, &["MinTTL"]).as_deref(), Some("1"));
    assert_eq!(at(b, &["DefaultTTL"]).as_deref(), Some("3600"));
    assert_eq!(at(b, &["MaxTTL"]).as_deref(), Some("86400"));
    let params = at(b, &["ParametersInCacheKeyAndForwardedToOrigin"]).unwrap();
    assert_eq!(at(&params, &["EnableAcceptEncodingGzip"]).as_deref(), Some("true"));
    assert_eq!(at(&params, &["EnableAcceptEncodingBrotli"]).as_deref(), Some("false"));
    assert_eq!(at(&params, &["HeadersConfig", "HeaderBehavior"]).as_deref(), Some("whitelist"));
    assert_eq!(at(&params, &["HeadersConfig", "Headers", "Quantity"]).as_deref(), Some("2"));
    assert_eq!(all(&at(&params, &["HeadersConfig", "Headers", "Items"]).unwrap(), "Name"), vec!["Origin", "Accept"]);
    assert_eq!(at(&params, &["CookiesConfig", "CookieBehavior"]).as_deref(), Some("none"));
    assert!(at(&params, &["CookiesConfig", "Cookies"]).is_none());
    assert_eq!(at(&params, &["QueryStringsConfig", "QueryStringBehavior"]).as_deref(), Some("allExcept"));
    assert_eq!(
        all(&at(&params, &["QueryStringsConfig", "QueryStrings", "Items"]).unwrap(), "Name"),
        vec!["utm_source"]
    );
}

#[tokio::test]
async fn cache_policy_update_uses_etag_and_retries_precondition_failed() {
    let server = FakeServer::start(|r, i| match (i, r.method.as_str(), r.path()) {
        (0, "GET", "/2020-05-31/cache-policy/cp-123") => {
            Reply::xml(200, cache_policy_xml("cp-123")).with_header("ETag", "E1")
        }
        (1, "PUT", "/2020-05-31/cache-policy/cp-123") => Reply::error(
            412,
            "PreconditionFailed",
            "The precondition given in one or more of the request-header fields evaluated to false.",
        ),
        (2, "GET", "/2020-05-31/cache-policy/cp-123") => {
            Reply::xml(200, cache_policy_xml("cp-123")).with_header("ETag", "E2")
        }
        (3, "PUT", "/2020-05-31/cache-policy/cp-123") => {
            Reply::xml(200, cache_policy_xml("cp-123")).with_header("ETag", "E3")
        }
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let mut doc = cache_policy_doc();
    doc["default_ttl"] = json!(600);
    let applied =
        p.update(&change("cloudfront_cache_policy", "cdn.assets.cache", doc, Some("cp-123"))).await.expect("update");
    assert_eq!(applied.remote_id, "cp-123");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "{reqs:#?}");
    assert_eq!(reqs[1].header("if-match"), Some("E1"));
    assert_eq!(reqs[3].header("if-match"), Some("E2"), "the retry uses the fresh ETag");
    assert_eq!(at(&reqs[3].body, &["DefaultTTL"]).as_deref(), Some("600"));
    assert!(reqs[3].body.contains(&format!("<CachePolicyConfig xmlns=\"{NS}\">")));
}

#[tokio::test]
async fn persistent_precondition_failures_are_conflicts() {
    let server = FakeServer::start(|r, _| match r.method.as_str() {
        "GET" => Reply::xml(200, cache_policy_xml("cp-123")).with_header("ETag", "E1"),
        "PUT" => Reply::error(412, "PreconditionFailed", "changed under us"),
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let err = p
        .update(&change("cloudfront_cache_policy", "cdn.assets.cache", cache_policy_doc(), Some("cp-123")))
        .await
        .expect_err("gives up");
    assert_eq!(err.class, ErrorClass::Conflict);
    assert!(err.message.contains("PreconditionFailed"), "{}", err.message);
    let puts = server.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 3, "one try and two retries");
}

#[tokio::test]
async fn cache_policy_delete_uses_etag_and_tolerates_absence() {
    let server = FakeServer::start(|r, _| match (r.method.as_str(), r.path()) {
        ("GET", "/2020-05-31/cache-policy/cp-123") => {
            Reply::xml(200, cache_policy_xml("cp-123")).with_header("ETag", "E7")
        }
        ("DELETE", "/2020-05-31/cache-policy/cp-123") => Reply::empty(204),
        ("GET", "/2020-05-31/cache-policy/cp-gone") => {
            Reply::error(404, "NoSuchCachePolicy", "The cache policy does not exist.")
        }
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    for id in ["cp-123", "cp-gone"] {
        p.delete(&DeleteRequest {
            address: addr("cdn.assets.cache"),
            kind: "cloudfront_cache_policy".into(),
            remote_id: id.into(),
            attrs: cache_policy_doc(),
        })
        .await
        .expect("delete");
    }
    let reqs = server.requests();
    let summary: Vec<(String, String)> = reqs.iter().map(|r| (r.method.clone(), r.path().to_string())).collect();
    assert_eq!(
        summary,
        vec![
            ("GET".into(), "/2020-05-31/cache-policy/cp-123".into()),
            ("DELETE".into(), "/2020-05-31/cache-policy/cp-123".into()),
            ("GET".into(), "/2020-05-31/cache-policy/cp-gone".into()),
        ]
    );
    assert_eq!(reqs[1].header("if-match"), Some("E7"));
}

#[tokio::test]
async fn cache_policy_in_use_is_a_conflict() {
    let server = FakeServer::start(|r, _| match r.method.as_str() {
        "GET" => Reply::xml(200, cache_policy_xml("cp-123")).with_header("ETag", "E7"),
        _ => Reply::error(
            409,
            "CachePolicyInUse",
            "Cannot delete cache policy, it is attached to one or more cache behaviors.",
        ),
    })
    .await;
    let p = provider(&server.endpoint);
    let err = p
        .delete(&DeleteRequest {
            address: addr("cdn.assets.cache"),
            kind: "cloudfront_cache_policy".into(),
            remote_id: "cp-123".into(),
            attrs: cache_policy_doc(),
        })
        .await
        .expect_err("in use");
    assert_eq!(err.class, ErrorClass::Conflict);
}

#[tokio::test]
async fn cache_policies_are_read_with_one_list() {
    let list = cache_policy_list_xml();
    let server = FakeServer::start(move |r, _| match (r.method.as_str(), r.path()) {
        ("GET", "/2020-05-31/cache-policy") => Reply::xml(200, list.clone()),
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let doc = cache_policy_doc();
    let mut other = doc.clone();
    other["name"] = json!("not-there");
    let reqs = [
        ReadRequest {
            address: addr("cdn.a.cache"),
            kind: "cloudfront_cache_policy".into(),
            remote_id: Some("cp-123".into()),
            attrs: Some(&doc),
        },
        ReadRequest {
            address: addr("cdn.b.cache"),
            kind: "cloudfront_cache_policy".into(),
            remote_id: None,
            attrs: Some(&doc),
        },
        ReadRequest {
            address: addr("cdn.c.cache"),
            kind: "cloudfront_cache_policy".into(),
            remote_id: None,
            attrs: Some(&other),
        },
    ];
    let out = p.read(&reqs).await;
    let first = out[0].as_ref().unwrap().as_ref().unwrap();
    let diffs = strata_provider_aws::diff::subset_diff(&doc, &first.attrs);
    assert!(diffs.is_empty(), "{diffs:#?}");
    assert_eq!(first.ownership, strata_sdk::Ownership::Ours);
    // Found by name with the identical config: what a crashed create leaves, so ours.
    assert_eq!(out[1].as_ref().unwrap().as_ref().unwrap().ownership, strata_sdk::Ownership::Ours);
    assert!(out[2].as_ref().unwrap().is_none());
    let calls = server.requests();
    assert_eq!(calls.len(), 1, "one list for all requests");
    assert!(calls[0].query().contains("Type=custom"), "{}", calls[0].target);
}

#[tokio::test]
async fn cache_policy_update_without_prior_adopts_the_identical_policy() {
    // A crashed create leaves the policy without a state record; the engine finds it by name
    // (identical config: ours) and asks for an update without prior state. The provider goes
    // through its idempotent create: AlreadyExists, list, adopt. No PUT is sent.
    let server = FakeServer::start(|r, _| match (r.method.as_str(), r.path()) {
        ("POST", "/2020-05-31/cache-policy") => {
            Reply::error(409, "CachePolicyAlreadyExists", "A cache policy with this name already exists.")
        }
        ("GET", "/2020-05-31/cache-policy") => Reply::xml(200, cache_policy_list_xml()),
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let applied = p
        .update(&change("cloudfront_cache_policy", "cdn.assets.cache", cache_policy_doc(), None))
        .await
        .expect("adopted");
    assert_eq!(applied.remote_id, "cp-123");
    let calls: Vec<(String, String)> =
        server.requests().iter().map(|r| (r.method.clone(), r.path().to_string())).collect();
    assert_eq!(
        calls,
        vec![("POST".into(), "/2020-05-31/cache-policy".into()), ("GET".into(), "/2020-05-31/cache-policy".into())]
    );
}

// ---------------------------------------------------------------------------------------------
// Origin request policies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn origin_request_policy_create_update_delete() {
    let server = FakeServer::start(|r, _| match (r.method.as_str(), r.path()) {
        ("POST", "/2020-05-31/origin-request-policy") => {
            Reply::xml(201, origin_request_policy_xml("orp-1")).with_header("ETag", "E1")
        }
        ("GET", "/2020-05-31/origin-request-policy/orp-1") => {
            Reply::xml(200, origin_request_policy_xml("orp-1")).with_header("ETag", "E2")
        }
        ("PUT", "/2020-05-31/origin-request-policy/orp-1") => {
            Reply::xml(200, origin_request_policy_xml("orp-1")).with_header("ETag", "E3")
        }
        ("DELETE", "/2020-05-31/origin-request-policy/orp-1") => Reply::empty(204),
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let kind = "cloudfront_origin_request_policy";
    let doc = json!({
        "name": "api",
        "headers": {"behavior": "allViewerAndWhitelistCloudFront", "items": ["CloudFront-Viewer-Country"]},
        "cookies": {"behavior": "whitelist", "items": ["session"]},
        "query_strings": {"behavior": "all"}
    });
    assert!(p.validate(kind, &doc).is_empty());
    let created = p.create(&change(kind, "cdn.api.orp", doc.clone(), None)).await.expect("create");
    assert_eq!(created.remote_id, "orp-1");
    let mut doc2 = doc.clone();
    doc2["query_strings"] = json!({"behavior": "whitelist", "items": ["page"]});
    p.update(&change(kind, "cdn.api.orp", doc2, Some("orp-1"))).await.expect("update");
    p.delete(&DeleteRequest { address: addr("cdn.api.orp"), kind: kind.into(), remote_id: "orp-1".into(), attrs: doc })
        .await
        .expect("delete");

    let reqs = server.requests();
    let methods: Vec<&str> = reqs.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, vec!["POST", "GET", "PUT", "GET", "DELETE"]);
    let create = &reqs[0].body;
    assert!(create.contains(&format!("<OriginRequestPolicyConfig xmlns=\"{NS}\">")), "{create}");
    assert_eq!(at(create, &["OriginRequestPolicyConfig", "Name"]).as_deref(), Some("api"));
    assert_eq!(at(create, &["HeadersConfig", "HeaderBehavior"]).as_deref(), Some("allViewerAndWhitelistCloudFront"));
    assert_eq!(
        all(&at(create, &["HeadersConfig", "Headers", "Items"]).unwrap(), "Name"),
        vec!["CloudFront-Viewer-Country"]
    );
    assert_eq!(at(create, &["CookiesConfig", "CookieBehavior"]).as_deref(), Some("whitelist"));
    assert_eq!(all(&at(create, &["CookiesConfig", "Cookies", "Items"]).unwrap(), "Name"), vec!["session"]);
    assert_eq!(at(create, &["QueryStringsConfig", "QueryStringBehavior"]).as_deref(), Some("all"));
    assert_eq!(reqs[2].header("if-match"), Some("E2"));
    assert_eq!(at(&reqs[2].body, &["QueryStringsConfig", "QueryStringBehavior"]).as_deref(), Some("whitelist"));
    assert_eq!(reqs[4].header("if-match"), Some("E2"));
}

// ---------------------------------------------------------------------------------------------
// Distributions
// ---------------------------------------------------------------------------------------------

fn full_distribution() -> Value {
    json!({
        "caller_reference": "lineage-42/cdn.site",
        "comment": "site",
        "aliases": ["www.example.com"],
        "viewer_certificate": {"acm_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"},
        "origins": [
            {"id": "site", "domain_name": "site.s3.us-east-1.amazonaws.com",
             "s3": {"origin_access_control_id": "E2QWRUHAPOMQZL"}, "origin_shield_region": "eu-west-1"},
            {"id": "api", "domain_name": "api.example.com",
             "custom": {"protocol_policy": "match-viewer", "http_port": 8080, "https_port": 8443}}
        ],
        "default_cache_behavior": {
            "target_origin_id": "site",
            "function_associations": [{"event_type": "viewer-request",
                "function_arn": "arn:aws:cloudfront::123456789012:function/spa-rewrite"}],
            "managed_response_headers_policy": "SecurityHeadersPolicy"
        },
        "cache_behaviors": [{
            "path_pattern": "/api/*",
            "target_origin_id": "api",
            "allowed_methods": ["GET", "HEAD", "OPTIONS"],
            "cache_policy_id": "cp-custom-1",
            "origin_request_policy_id": "orp-custom-1",
            "lambda_associations": [{"event_type": "origin-request",
                "lambda_arn": "arn:aws:lambda:us-east-1:123456789012:function:auth:7", "include_body": true}]
        }],
        "http_version": "http2and3",
        "price_class": "PriceClass_200",
        "logging": {"bucket": "logs.s3.amazonaws.com", "prefix": "site/", "include_cookies": true},
        "web_acl_id": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/site/1",
        "tags": {"team": "web"}
    })
}

#[tokio::test]
async fn distribution_create_sends_the_full_config_with_tags() {
    let server = FakeServer::start(|r, _| match (r.method.as_str(), r.path()) {
        ("POST", "/2020-05-31/distribution") if r.query() == "WithTags" => {
            Reply::xml(201, distribution_xml("EDFDVBD6EXAMPLE", "InProgress")).with_header("ETag", "E1")
        }
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let doc = full_distribution();
    assert!(
        p.validate("cloudfront_distribution", &doc).is_empty(),
        "{:?}",
        p.validate("cloudfront_distribution", &doc)
    );
    let applied = p.create(&change("cloudfront_distribution", "cdn.site", doc, None)).await.expect("create");
    assert_eq!(applied.remote_id, "EDFDVBD6EXAMPLE");
    assert_eq!(applied.outputs["status"], json!("InProgress"));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let b = &reqs[0].body;
    assert_signed(&reqs[0]);
    assert!(b.contains(&format!("<DistributionConfigWithTags xmlns=\"{NS}\">")), "{b}");
    let cfg = at(b, &["DistributionConfig"]).unwrap();
    assert_eq!(at(&cfg, &["CallerReference"]).as_deref(), Some("lineage-42/cdn.site"));
    assert_eq!(at(&cfg, &["Enabled"]).as_deref(), Some("true"));
    assert_eq!(at(&cfg, &["Aliases", "Quantity"]).as_deref(), Some("1"));
    assert_eq!(all(&at(&cfg, &["Aliases"]).unwrap(), "CNAME"), vec!["www.example.com"]);
    // Origins: S3 with OAC and Origin Shield; custom with ports and protocol policy.
    let origins = all(&cfg, "Origin");
    assert_eq!(origins.len(), 2);
    assert_eq!(at(&origins[0], &["OriginAccessControlId"]).as_deref(), Some("E2QWRUHAPOMQZL"));
    assert_eq!(at(&origins[0], &["S3OriginConfig", "OriginAccessIdentity"]).as_deref(), Some(""));
    assert_eq!(at(&origins[0], &["OriginShield", "Enabled"]).as_deref(), Some("true"));
    assert_eq!(at(&origins[0], &["OriginShield", "OriginShieldRegion"]).as_deref(), Some("eu-west-1"));
    assert_eq!(at(&origins[1], &["CustomOriginConfig", "OriginProtocolPolicy"]).as_deref(), Some("match-viewer"));
    assert_eq!(at(&origins[1], &["CustomOriginConfig", "HTTPPort"]).as_deref(), Some("8080"));
    assert_eq!(at(&origins[1], &["CustomOriginConfig", "HTTPSPort"]).as_deref(), Some("8443"));
    assert_eq!(at(&origins[1], &["OriginShield", "Enabled"]).as_deref(), Some("false"));
    // Default behavior: managed CachingOptimized by default, a CloudFront Function, a managed
    // response headers policy.
    let dcb = at(&cfg, &["DefaultCacheBehavior"]).unwrap();
    assert_eq!(at(&dcb, &["CachePolicyId"]).as_deref(), Some("658327ea-f89d-4fab-a63d-7e88639e58f6"));
    assert_eq!(at(&dcb, &["ResponseHeadersPolicyId"]).as_deref(), Some("67f7725c-6f97-4210-82d7-5512b31e9d03"));
    assert_eq!(at(&dcb, &["ViewerProtocolPolicy"]).as_deref(), Some("redirect-to-https"));
    assert_eq!(at(&dcb, &["Compress"]).as_deref(), Some("true"));
    assert_eq!(at(&dcb, &["FunctionAssociations", "Quantity"]).as_deref(), Some("1"));
    assert_eq!(
        at(&dcb, &["FunctionAssociations", "FunctionAssociation", "FunctionARN"]).as_deref(),
        Some("arn:aws:cloudfront::123456789012:function/spa-rewrite")
    );
    assert_eq!(at(&dcb, &["FunctionAssociation", "EventType"]).as_deref(), Some("viewer-request"));
    assert_eq!(at(&dcb, &["LambdaFunctionAssociations", "Quantity"]).as_deref(), Some("0"));
    assert!(!dcb.contains("<ForwardedValues>"), "no legacy cache settings with a cache policy");
    // Ordered behavior: custom policies by id, Lambda@Edge with body.
    let cb = at(&cfg, &["CacheBehaviors"]).unwrap();
    assert_eq!(at(&cb, &["Quantity"]).as_deref(), Some("1"));
    assert_eq!(at(&cb, &["PathPattern"]).as_deref(), Some("/api/*"));
    assert_eq!(at(&cb, &["CachePolicyId"]).as_deref(), Some("cp-custom-1"));
    assert_eq!(at(&cb, &["OriginRequestPolicyId"]).as_deref(), Some("orp-custom-1"));
    assert_eq!(all(&at(&cb, &["AllowedMethods"]).unwrap(), "Method")[..3], ["GET", "HEAD", "OPTIONS"]);
    let lambda = at(&cb, &["LambdaFunctionAssociation"]).unwrap();
    assert_eq!(
        at(&lambda, &["LambdaFunctionARN"]).as_deref(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:auth:7")
    );
    assert_eq!(at(&lambda, &["EventType"]).as_deref(), Some("origin-request"));
    assert_eq!(at(&lambda, &["IncludeBody"]).as_deref(), Some("true"));
    // Certificate, logging, WAF, HTTP version, price class, IPv6.
    let vc = at(&cfg, &["ViewerCertificate"]).unwrap();
    assert_eq!(at(&vc, &["CloudFrontDefaultCertificate"]).as_deref(), Some("false"));
    assert_eq!(at(&vc, &["ACMCertificateArn"]).as_deref(), Some("arn:aws:acm:us-east-1:123456789012:certificate/abc"));
    assert_eq!(at(&vc, &["SSLSupportMethod"]).as_deref(), Some("sni-only"));
    assert_eq!(at(&vc, &["MinimumProtocolVersion"]).as_deref(), Some("TLSv1.2_2021"));
    assert_eq!(at(&cfg, &["Logging", "Enabled"]).as_deref(), Some("true"));
    assert_eq!(at(&cfg, &["Logging", "IncludeCookies"]).as_deref(), Some("true"));
    assert_eq!(at(&cfg, &["Logging", "Bucket"]).as_deref(), Some("logs.s3.amazonaws.com"));
    assert_eq!(at(&cfg, &["Logging", "Prefix"]).as_deref(), Some("site/"));
    assert_eq!(at(&cfg, &["WebACLId"]).as_deref(), Some("arn:aws:wafv2:us-east-1:123456789012:global/webacl/site/1"));
    assert_eq!(at(&cfg, &["HttpVersion"]).as_deref(), Some("http2and3"));
    assert_eq!(at(&cfg, &["PriceClass"]).as_deref(), Some("PriceClass_200"));
    assert_eq!(at(&cfg, &["IsIPV6Enabled"]).as_deref(), Some("true"));
    // Tags: the user's plus strata's ownership marks.
    let tags = at(b, &["Tags"]).unwrap();
    let keys = all(&tags, "Key");
    let values = all(&tags, "Value");
    let pairs: Vec<(String, String)> = keys.into_iter().zip(values).collect();
    for (k, v) in [
        ("app.kubernetes.io/managed-by", "strata"),
        ("strata.dev/project", "shop"),
        ("strata.dev/env", "prod"),
        ("strata.dev/address", "cdn.site"),
        ("team", "web"),
    ] {
        assert!(pairs.contains(&(k.to_string(), v.to_string())), "{k}={v} missing from {pairs:?}");
    }
}

#[tokio::test]
async fn distribution_update_retries_precondition_failed_syncs_tags_and_invalidates() {
    let config_gets = Arc::new(AtomicUsize::new(0));
    let puts = Arc::new(AtomicUsize::new(0));
    let (g, pc) = (config_gets.clone(), puts.clone());
    let server = FakeServer::start(move |r, _| match (r.method.as_str(), r.path()) {
        ("GET", "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config") => {
            let n = g.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::xml(200, distribution_config_xml(true)).with_header("ETag", &format!("E-v{n}"))
        }
        ("PUT", "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config") => {
            if pc.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::error(
                    412,
                    "PreconditionFailed",
                    "The precondition given in one or more of the request-header fields evaluated to false.",
                )
            } else {
                Reply::xml(200, distribution_xml("EDFDVBD6EXAMPLE", "InProgress")).with_header("ETag", "E-v3")
            }
        }
        ("GET", "/2020-05-31/tagging") => Reply::xml(
            200,
            tags_xml(&[
                ("app.kubernetes.io/managed-by", "strata"),
                ("strata.dev/project", "shop"),
                ("strata.dev/env", "prod"),
                ("strata.dev/address", "cdn.site"),
                ("old", "tag"),
            ]),
        ),
        ("POST", "/2020-05-31/tagging") => Reply::empty(204),
        ("POST", "/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation") => Reply::xml(201, invalidation_xml())
            .with_header(
                "Location",
                "https://cloudfront.amazonaws.com/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation/I2J0I21PCUYOIK",
            ),
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let mut doc = full_distribution();
    doc["caller_reference"] = json!("ignored-on-update");
    doc["invalidate_on_change"] = json!(["/*", "/index.html"]);
    let applied =
        p.update(&change("cloudfront_distribution", "cdn.site", doc, Some("EDFDVBD6EXAMPLE"))).await.expect("update");
    assert_eq!(applied.remote_id, "EDFDVBD6EXAMPLE");
    assert_eq!(applied.attrs["caller_reference"], json!("remote-ref-1"), "the caller reference is immutable");

    let reqs = server.requests();
    let summary: Vec<String> = reqs.iter().map(|r| format!("{} {}", r.method, r.target)).collect();
    assert_eq!(
        summary,
        vec![
            "GET /2020-05-31/distribution/EDFDVBD6EXAMPLE/config",
            "PUT /2020-05-31/distribution/EDFDVBD6EXAMPLE/config",
            "GET /2020-05-31/distribution/EDFDVBD6EXAMPLE/config",
            "PUT /2020-05-31/distribution/EDFDVBD6EXAMPLE/config",
            "GET /2020-05-31/tagging?Resource=arn%3Aaws%3Acloudfront%3A%3A123456789012%3Adistribution%2FEDFDVBD6EXAMPLE",
            "POST /2020-05-31/tagging?Operation=Tag&Resource=arn%3Aaws%3Acloudfront%3A%3A123456789012%3Adistribution%2FEDFDVBD6EXAMPLE",
            "POST /2020-05-31/tagging?Operation=Untag&Resource=arn%3Aaws%3Acloudfront%3A%3A123456789012%3Adistribution%2FEDFDVBD6EXAMPLE",
            "POST /2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation",
        ],
        "{summary:#?}"
    );
    assert_eq!(reqs[1].header("if-match"), Some("E-v1"));
    assert_eq!(reqs[3].header("if-match"), Some("E-v2"), "retried with the re-read ETag");
    let put = &reqs[3].body;
    assert!(put.contains(&format!("<DistributionConfig xmlns=\"{NS}\">")), "{put}");
    assert_eq!(at(put, &["CallerReference"]).as_deref(), Some("remote-ref-1"));
    assert_eq!(at(put, &["Comment"]).as_deref(), Some("site"));
    // Fields strata does not model are kept from the remote config.
    assert_eq!(at(put, &["Restrictions", "GeoRestriction", "RestrictionType"]).as_deref(), Some("whitelist"));
    assert_eq!(all(&at(put, &["GeoRestriction", "Items"]).unwrap(), "Location"), vec!["DE"]);
    // Tags: only the missing user tag is set, the stale one removed, marks untouched.
    let tag = &reqs[5].body;
    assert_eq!(all(tag, "Key"), vec!["team"]);
    assert_eq!(all(&reqs[6].body, "Key"), vec!["old"]);
    // The invalidation: the configured paths, a caller reference tied to the new ETag.
    let inv = &reqs[7].body;
    assert!(inv.contains(&format!("<InvalidationBatch xmlns=\"{NS}\">")), "{inv}");
    assert_eq!(at(inv, &["Paths", "Quantity"]).as_deref(), Some("2"));
    assert_eq!(all(inv, "Path"), vec!["/*", "/index.html"]);
    assert_eq!(at(inv, &["CallerReference"]).as_deref(), Some("strata:EDFDVBD6EXAMPLE:E-v3"));
}

#[tokio::test]
async fn wait_polls_until_deployed_and_times_out() {
    let gets = Arc::new(AtomicUsize::new(0));
    let g = gets.clone();
    let server = FakeServer::start(move |r, _| match (r.method.as_str(), r.path()) {
        ("GET", "/2020-05-31/distribution/EDFDVBD6EXAMPLE") => {
            let n = g.fetch_add(1, Ordering::SeqCst);
            let status = if n < 2 { "InProgress" } else { "Deployed" };
            Reply::xml(200, distribution_xml("EDFDVBD6EXAMPLE", status)).with_header("ETag", "E1")
        }
        ("GET", "/2020-05-31/distribution/ESTUCK") => {
            Reply::xml(200, distribution_xml("ESTUCK", "InProgress")).with_header("ETag", "E1")
        }
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let applied =
        Applied { remote_id: "EDFDVBD6EXAMPLE".into(), attrs: json!({}), outputs: json!({"status": "InProgress"}) };
    let done = p.wait("cloudfront_distribution", &applied).await.expect("wait");
    assert_eq!(done.outputs["status"], json!("Deployed"));
    assert_eq!(gets.load(Ordering::SeqCst), 3);

    let quick = provider_with(&server.endpoint, json!({"wait_timeout_secs": 0.2, "wait_poll_interval_secs": 0.05}));
    let stuck = Applied { remote_id: "ESTUCK".into(), ..applied.clone() };
    let started = std::time::Instant::now();
    let err = quick.wait("cloudfront_distribution", &stuck).await.expect_err("times out");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.class, ErrorClass::Retryable);
    assert!(err.message.contains("still InProgress"), "{}", err.message);

    // Other kinds and no_wait return at once without calls.
    let before = server.requests().len();
    assert_eq!(p.wait("route53_record", &applied).await.unwrap(), applied);
    let nw = provider_with(&server.endpoint, json!({"no_wait": true}));
    assert_eq!(nw.wait("cloudfront_distribution", &applied).await.unwrap(), applied);
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn delete_disables_waits_then_deletes_with_the_fresh_etag() {
    let dist_gets = Arc::new(AtomicUsize::new(0));
    let g = dist_gets.clone();
    let server = FakeServer::start(move |r, _| match (r.method.as_str(), r.path()) {
        ("GET", "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config") => {
            Reply::xml(200, distribution_config_xml(true)).with_header("ETag", "E-enabled")
        }
        ("PUT", "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config") => {
            Reply::xml(200, distribution_xml("EDFDVBD6EXAMPLE", "InProgress")).with_header("ETag", "E-disabled")
        }
        ("GET", "/2020-05-31/distribution/EDFDVBD6EXAMPLE") => {
            let n = g.fetch_add(1, Ordering::SeqCst);
            let status = if n == 0 { "InProgress" } else { "Deployed" };
            Reply::xml(200, distribution_xml("EDFDVBD6EXAMPLE", status)).with_header("ETag", "E-disabled")
        }
        ("DELETE", "/2020-05-31/distribution/EDFDVBD6EXAMPLE") => Reply::empty(204),
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    p.delete(&DeleteRequest {
        address: addr("cdn.site"),
        kind: "cloudfront_distribution".into(),
        remote_id: "EDFDVBD6EXAMPLE".into(),
        attrs: full_distribution(),
    })
    .await
    .expect("delete");
    let reqs = server.requests();
    let summary: Vec<String> = reqs.iter().map(|r| format!("{} {}", r.method, r.path())).collect();
    assert_eq!(
        summary,
        vec![
            "GET /2020-05-31/distribution/EDFDVBD6EXAMPLE/config",
            "PUT /2020-05-31/distribution/EDFDVBD6EXAMPLE/config",
            "GET /2020-05-31/distribution/EDFDVBD6EXAMPLE",
            "GET /2020-05-31/distribution/EDFDVBD6EXAMPLE",
            "GET /2020-05-31/distribution/EDFDVBD6EXAMPLE",
            "DELETE /2020-05-31/distribution/EDFDVBD6EXAMPLE",
        ]
    );
    assert_eq!(reqs[1].header("if-match"), Some("E-enabled"));
    assert_eq!(at(&reqs[1].body, &["DistributionConfig", "Enabled"]).as_deref(), Some("false"));
    assert_eq!(at(&reqs[1].body, &["Comment"]).as_deref(), Some("old comment"), "only Enabled changes");
    assert_eq!(reqs[5].header("if-match"), Some("E-disabled"));
}

// ---------------------------------------------------------------------------------------------
// Error classification over the wire
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn errors_are_classified() {
    let server = FakeServer::start(|r, _| match (r.method.as_str(), r.path()) {
        ("GET", "/2020-05-31/distribution") => {
            Reply::error(400, "Throttling", "Rate exceeded").with_header("Retry-After", "7")
        }
        ("GET", "/2020-05-31/cache-policy") => Reply::error(403, "AccessDenied", "User is not authorized"),
        ("GET", "/2020-05-31/origin-request-policy") => Reply::error(503, "ServiceUnavailable", "try later"),
        ("POST", "/2020-05-31/cache-policy") => Reply::error(400, "InvalidArgument", "MaxTTL is too large"),
        _ => unexpected(r),
    })
    .await;
    let p = provider(&server.endpoint);
    let read = |kind: &str| ReadRequest {
        address: addr("cdn.x"),
        kind: kind.into(),
        remote_id: Some("id-1".into()),
        attrs: None,
    };
    let out = p
        .read(&[
            read("cloudfront_distribution"),
            read("cloudfront_cache_policy"),
            read("cloudfront_origin_request_policy"),
            read("s3_bucket"),
        ])
        .await;
    let throttled = out[0].as_ref().unwrap_err();
    assert_eq!(throttled.class, ErrorClass::Retryable);
    assert_eq!(throttled.retry_after, Some(Duration::from_secs(7)));
    assert!(throttled.message.contains("Rate exceeded"), "{}", throttled.message);
    assert_eq!(out[1].as_ref().unwrap_err().class, ErrorClass::Auth);
    assert_eq!(out[2].as_ref().unwrap_err().class, ErrorClass::Retryable);
    assert_eq!(out[3].as_ref().unwrap_err().class, ErrorClass::Invalid, "unknown kind");
    let err =
        p.create(&change("cloudfront_cache_policy", "cdn.x", cache_policy_doc(), None)).await.expect_err("invalid");
    assert_eq!(err.class, ErrorClass::Invalid);

    // Nothing listening: a dispatch failure, retryable.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = provider(&format!("http://127.0.0.1:{port}"));
    let out = down.read(&[read("cloudfront_distribution")]).await;
    let e = out[0].as_ref().unwrap_err();
    assert_eq!(e.class, ErrorClass::Retryable, "{}", e.message);
}
