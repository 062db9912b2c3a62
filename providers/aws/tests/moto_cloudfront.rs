//! CloudFront distributions against moto: create with tags, read back with no diff, update via
//! ETag with an invalidation, disable + delete, idempotent create, foreign objects.
//!
//! moto does not store function or Lambda@Edge associations nor origin access control ids on
//! origins, and ignores If-Match values; those parts are covered by `contract.rs`.

mod support;

use serde_json::{Value, json};
use strata_provider_aws::diff::subset_diff;
use strata_sdk::{Address, Applied, DeleteRequest, Observed, Ownership, Provider, ReadRequest, ResourceChange};
use support::{Moto, cloudfront_client, provider, provider_with};

const KIND: &str = "cloudfront_distribution";

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn desired() -> Value {
    json!({
        "caller_reference": "lineage-0001/cdn.assets",
        "comment": "assets for shop",
        "aliases": ["cdn.example.com", "static.example.com"],
        "viewer_certificate": {
            "acm_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/1234abcd",
            "minimum_protocol_version": "TLSv1.2_2021",
            "ssl_support_method": "sni-only"
        },
        "default_root_object": "index.html",
        "origins": [
            {"id": "assets", "domain_name": "shop-assets.s3.us-east-1.amazonaws.com", "s3": {}},
            {"id": "api", "domain_name": "api.example.com", "origin_path": "/v1",
             "custom": {"protocol_policy": "https-only", "ssl_protocols": ["TLSv1.2"]},
             "origin_shield_region": "us-east-1",
             "custom_headers": {"X-From-CDN": "yes"}}
        ],
        "default_cache_behavior": {
            "target_origin_id": "assets",
            "viewer_protocol_policy": "redirect-to-https",
            "compress": true,
            "managed_cache_policy": "CachingOptimized"
        },
        "cache_behaviors": [{
            "path_pattern": "/api/*",
            "target_origin_id": "api",
            "viewer_protocol_policy": "https-only",
            "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
            "cached_methods": ["GET", "HEAD"],
            "compress": false,
            "managed_cache_policy": "CachingDisabled",
            "managed_origin_request_policy": "AllViewerExceptHostHeader"
        }],
        "custom_error_responses": [
            {"error_code": 404, "response_code": 200, "response_page_path": "/index.html", "error_caching_min_ttl": 10}
        ],
        "price_class": "PriceClass_100",
        "http_version": "http2and3",
        "ipv6": true,
        "logging": {"bucket": "shop-logs.s3.amazonaws.com", "prefix": "cdn/"},
        "web_acl_id": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop/abcd",
        "invalidate_on_change": ["/*"],
        "tags": {"team": "web", "cost-center": "42"}
    })
}

fn change(address: &str, attrs: Value, prior: Option<Applied>) -> ResourceChange {
    ResourceChange { address: addr(address), kind: KIND.into(), attrs, prior }
}

async fn read_one(p: &impl Provider, address: &str, remote_id: Option<&str>, attrs: &Value) -> Option<Observed> {
    let mut out = p
        .read(&[ReadRequest {
            address: addr(address),
            kind: KIND.into(),
            remote_id: remote_id.map(str::to_string),
            attrs: Some(attrs),
        }])
        .await;
    assert_eq!(out.len(), 1);
    out.remove(0).expect("read succeeds")
}

fn assert_no_diff(desired: &Value, observed: &Observed) {
    let diffs = subset_diff(desired, &observed.attrs);
    assert!(
        diffs.is_empty(),
        "read after apply differs on keys the desired document sets: {diffs:#?}\nobserved: {:#}",
        observed.attrs
    );
}

#[tokio::test]
async fn distribution_lifecycle() {
    let moto = Moto::start();
    let p = provider(&moto.endpoint);
    let cf = cloudfront_client(&moto.endpoint).await;
    let want = desired();
    assert!(p.validate(KIND, &want).is_empty(), "{:?}", p.validate(KIND, &want));

    // Create, with tags and strata's ownership marks.
    let applied = p.create(&change("cdn.assets", want.clone(), None)).await.expect("create");
    let id = applied.remote_id.clone();
    assert!(!id.is_empty());
    assert_eq!(applied.outputs["id"], json!(id));
    assert!(applied.outputs["domain_name"].as_str().unwrap().ends_with(".cloudfront.net"));
    assert!(applied.outputs["arn"].as_str().unwrap().ends_with(&format!("distribution/{id}")));
    assert_eq!(applied.outputs["hosted_zone_id"], json!("Z2FDTNDATAQYW2"));
    assert_eq!(applied.attrs["caller_reference"], json!("lineage-0001/cdn.assets"));
    let tags = cf.list_tags_for_resource().resource(applied.outputs["arn"].as_str().unwrap()).send().await.unwrap();
    let tags: std::collections::BTreeMap<String, String> = tags
        .tags
        .and_then(|t| t.items)
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value.unwrap_or_default()))
        .collect();
    assert_eq!(tags.get("app.kubernetes.io/managed-by").map(String::as_str), Some("strata"));
    assert_eq!(tags.get("strata.dev/project").map(String::as_str), Some("shop"));
    assert_eq!(tags.get("strata.dev/env").map(String::as_str), Some("prod"));
    assert_eq!(tags.get("strata.dev/address").map(String::as_str), Some("cdn.assets"));
    assert_eq!(tags.get("team").map(String::as_str), Some("web"));

    // Asynchronous kind: wait polls until Deployed.
    let waited = p.wait(KIND, &applied).await.expect("wait");
    assert_eq!(waited.outputs["status"], json!("Deployed"));

    // Read back by id: same shape, no diff on what the desired document sets.
    let observed = read_one(&p, "cdn.assets", Some(&id), &want).await.expect("found");
    assert_eq!(observed.remote_id, id);
    assert_eq!(observed.ownership, Ownership::Ours);
    assert_no_diff(&want, &observed);
    assert_eq!(observed.attrs["tags"], json!({"team": "web", "cost-center": "42"}));
    // Managed policies come back with their ids too.
    assert_eq!(
        observed.attrs["default_cache_behavior"]["cache_policy_id"],
        json!("658327ea-f89d-4fab-a63d-7e88639e58f6")
    );
    // Also with the state lost (crash between create and the state write): found by tags.
    let found = read_one(&p, "cdn.assets", None, &want).await.expect("found by tags");
    assert_eq!(found.remote_id, id);
    assert_eq!(found.ownership, Ownership::Ours);
    // Another address with the same document is not this object.
    assert!(read_one(&p, "cdn.other", None, &want).await.is_none());

    // Update through GetDistributionConfig/ETag/UpdateDistribution, then an invalidation.
    let mut next = want.clone();
    next["comment"] = json!("assets for shop, v2");
    next["default_cache_behavior"]["managed_cache_policy"] = json!("Managed-UseOriginCacheControlHeaders");
    next["cache_behaviors"][0]["path_pattern"] = json!("/api/v2/*");
    next["tags"] = json!({"team": "platform"});
    let updated = p.update(&change("cdn.assets", next.clone(), Some(applied.clone()))).await.expect("update");
    assert_eq!(updated.remote_id, id);
    let invalidations = cf.list_invalidations().distribution_id(&id).send().await.unwrap();
    let list = invalidations.invalidation_list.unwrap();
    assert_eq!(list.quantity, 1, "one invalidation after the update");
    let inv = cf
        .get_invalidation()
        .distribution_id(&id)
        .id(&list.items.unwrap()[0].id)
        .send()
        .await
        .unwrap()
        .invalidation
        .unwrap();
    let batch = inv.invalidation_batch.unwrap();
    assert_eq!(batch.paths.unwrap().items.unwrap(), vec!["/*".to_string()]);
    assert!(batch.caller_reference.starts_with(&format!("strata:{id}:")));

    let observed = read_one(&p, "cdn.assets", Some(&id), &next).await.expect("found");
    assert_no_diff(&next, &observed);
    assert_eq!(observed.attrs["tags"], json!({"team": "platform"}), "removed user tags are untagged");
    assert_eq!(observed.ownership, Ownership::Ours, "ownership marks survive tag sync");

    // An update that changes nothing sends no UpdateDistribution and no invalidation.
    let same = p.update(&change("cdn.assets", next.clone(), Some(updated.clone()))).await.expect("no-op update");
    assert_eq!(same.remote_id, id);
    let list = cf.list_invalidations().distribution_id(&id).send().await.unwrap().invalidation_list.unwrap();
    assert_eq!(list.quantity, 1, "no invalidation for a no-op update");

    // Delete: disable, wait for Deployed, delete with the fresh ETag.
    p.delete(&DeleteRequest {
        address: addr("cdn.assets"),
        kind: KIND.into(),
        remote_id: id.clone(),
        attrs: next.clone(),
    })
    .await
    .expect("delete");
    assert!(read_one(&p, "cdn.assets", Some(&id), &next).await.is_none());
    // Deleting again is a no-op.
    p.delete(&DeleteRequest { address: addr("cdn.assets"), kind: KIND.into(), remote_id: id.clone(), attrs: next })
        .await
        .expect("delete of a gone distribution");
}

#[tokio::test]
async fn create_is_idempotent_by_caller_reference() {
    let moto = Moto::start();
    let p = provider(&moto.endpoint);
    let cf = cloudfront_client(&moto.endpoint).await;
    let mut want = desired();
    want["aliases"] = json!([]);
    want.as_object_mut().unwrap().remove("viewer_certificate");

    let first = p.create(&change("cdn.assets", want.clone(), None)).await.expect("first create");
    // The run crashed before recording `first`; the next run creates again.
    let second = p.create(&change("cdn.assets", want.clone(), None)).await.expect("second create adopts");
    assert_eq!(first.remote_id, second.remote_id);
    // Even with a changed document, the same caller reference adopts and updates.
    let mut changed = want.clone();
    changed["comment"] = json!("changed while we were down");
    let third = p.create(&change("cdn.assets", changed.clone(), None)).await.expect("third create adopts");
    assert_eq!(third.remote_id, first.remote_id);
    let list = cf.list_distributions().send().await.unwrap().distribution_list.unwrap();
    assert_eq!(list.quantity, 1, "exactly one distribution");
    let observed = read_one(&p, "cdn.assets", Some(&first.remote_id), &changed).await.unwrap();
    assert_no_diff(&changed, &observed);
    // The engine recovers such a crash by reading the object back and asking for an update
    // without prior state (no recorded id): that adopts the same distribution as well.
    let fourth = p.update(&change("cdn.assets", want.clone(), None)).await.expect("update without prior adopts");
    assert_eq!(fourth.remote_id, first.remote_id);
    let list = cf.list_distributions().send().await.unwrap().distribution_list.unwrap();
    assert_eq!(list.quantity, 1, "still exactly one distribution");
    let observed = read_one(&p, "cdn.assets", Some(&first.remote_id), &want).await.unwrap();
    assert_no_diff(&want, &observed);

    // Without a caller_reference in attrs, one is derived from project, env and address.
    let mut derived = want.clone();
    derived.as_object_mut().unwrap().remove("caller_reference");
    derived["origins"][0]["domain_name"] = json!("other-bucket.s3.us-east-1.amazonaws.com");
    let a = p.create(&change("cdn.other", derived.clone(), None)).await.unwrap();
    assert_eq!(a.attrs["caller_reference"], json!("strata:shop:prod:cdn.other"));
    let b = p.create(&change("cdn.other", derived, None)).await.unwrap();
    assert_eq!(a.remote_id, b.remote_id);
    let list = cf.list_distributions().send().await.unwrap().distribution_list.unwrap();
    assert_eq!(list.quantity, 2);
}

#[tokio::test]
async fn foreign_and_batched_reads() {
    let moto = Moto::start();
    let p = provider(&moto.endpoint);
    let mut want = desired();
    want["aliases"] = json!([]);
    want.as_object_mut().unwrap().remove("viewer_certificate");
    let ours = p.create(&change("cdn.assets", want.clone(), None)).await.unwrap();

    // Someone else's distribution (another project's marks) with a similar document.
    let foreign_provider = strata_provider_aws::AwsProvider::from_value(
        &json!({"region": "us-east-1", "endpoint": moto.endpoint, "max_attempts": 1}),
        strata_provider_aws::OwnerMarks::new("someone-else", "prod"),
    )
    .unwrap()
    .with_credentials(support::fake_credentials());
    let mut theirs_doc = want.clone();
    theirs_doc["caller_reference"] = json!("their-ref");
    let theirs = foreign_provider.create(&change("cdn.assets", theirs_doc, None)).await.unwrap();

    // One read call for several requests: ours by id, theirs by id (foreign), a missing id,
    // and ours again by tags.
    let reqs = vec![
        ReadRequest {
            address: addr("cdn.assets"),
            kind: KIND.into(),
            remote_id: Some(ours.remote_id.clone()),
            attrs: Some(&want),
        },
        ReadRequest {
            address: addr("cdn.assets"),
            kind: KIND.into(),
            remote_id: Some(theirs.remote_id.clone()),
            attrs: Some(&want),
        },
        ReadRequest {
            address: addr("cdn.gone"),
            kind: KIND.into(),
            remote_id: Some("E000000000000".into()),
            attrs: Some(&want),
        },
        ReadRequest { address: addr("cdn.assets"), kind: KIND.into(), remote_id: None, attrs: Some(&want) },
    ];
    let out = p.read(&reqs).await;
    assert_eq!(out.len(), 4);
    let first = out[0].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(first.ownership, Ownership::Ours);
    let second = out[1].as_ref().unwrap().as_ref().unwrap();
    assert!(
        matches!(&second.ownership, Ownership::Foreign { detail } if detail.contains("someone-else")),
        "{:?}",
        second.ownership
    );
    assert!(out[2].as_ref().unwrap().is_none());
    let fourth = out[3].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(fourth.remote_id, ours.remote_id, "the tag search picks ours, not theirs");

    // no_wait: wait returns at once with what it was given.
    let nw = provider_with(&moto.endpoint, json!({"no_wait": true}));
    let w = nw.wait(KIND, &ours).await.unwrap();
    assert_eq!(w, ours);
}
