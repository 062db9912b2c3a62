//! Route 53 records against moto: hosted zone lookup by name, alias and plain records via
//! UPSERT, batched reads, foreign records, delete.

mod support;

use serde_json::{Value, json};
use strata_provider_aws::diff::subset_diff;
use strata_sdk::{Address, DeleteRequest, ErrorClass, Ownership, Provider, ReadRequest, ResourceChange};
use support::{Moto, provider, route53_client};

const KIND: &str = "route53_record";

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn change(address: &str, attrs: Value) -> ResourceChange {
    ResourceChange { address: addr(address), kind: KIND.into(), attrs, prior: None }
}

fn req<'a>(address: &str, remote_id: Option<&str>, attrs: &'a Value) -> ReadRequest<'a> {
    ReadRequest {
        address: addr(address),
        kind: KIND.into(),
        remote_id: remote_id.map(str::to_string),
        attrs: Some(attrs),
    }
}

async fn create_zone(r53: &aws_sdk_route53::Client, name: &str) -> String {
    let out = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("test-{name}"))
        .send()
        .await
        .expect("create hosted zone");
    out.hosted_zone.unwrap().id.trim_start_matches("/hostedzone/").to_string()
}

#[tokio::test]
async fn records_lifecycle() {
    let moto = Moto::start();
    let p = provider(&moto.endpoint);
    let r53 = route53_client(&moto.endpoint).await;
    // A decoy zone sorting next to ours, and ours.
    create_zone(&r53, "example.org").await;
    let zone_id = create_zone(&r53, "example.com").await;

    let alias = json!({
        "zone": "example.com",
        "name": "cdn",
        "type": "A",
        "alias": {"dns_name": "d111111abcdef8.cloudfront.net"}
    });
    let alias6 = json!({
        "zone": "example.com",
        "name": "cdn.example.com",
        "type": "AAAA",
        "alias": {"dns_name": "d111111abcdef8.cloudfront.net", "hosted_zone_id": "Z2FDTNDATAQYW2"}
    });
    let cname =
        json!({"zone": "example.com", "name": "www", "type": "CNAME", "ttl": 60, "records": ["cdn.example.com"]});
    let txt = json!({"zone": "example.com", "name": "@", "type": "TXT", "records": ["v=spf1 include:example.net -all", "hello \"world\""]});
    for (a, doc) in [("cdn.dns", &alias), ("cdn.dns6", &alias6), ("cdn.www", &cname), ("cdn.txt", &txt)] {
        assert!(p.validate(KIND, doc).is_empty(), "{a}: {:?}", p.validate(KIND, doc));
    }

    let a = p.create(&change("cdn.dns", alias.clone())).await.expect("alias A");
    assert_eq!(a.remote_id, format!("{zone_id}/cdn.example.com/A"));
    assert_eq!(a.outputs["fqdn"], json!("cdn.example.com"));
    let a6 = p.create(&change("cdn.dns6", alias6.clone())).await.expect("alias AAAA");
    let c = p.create(&change("cdn.www", cname.clone())).await.expect("CNAME");
    let t = p.create(&change("cdn.txt", txt.clone())).await.expect("TXT");
    assert_eq!(t.remote_id, format!("{zone_id}/example.com/TXT"));

    // The values Route 53 holds: TXT quoted, alias to CloudFront's zone.
    let sets = r53.list_resource_record_sets().hosted_zone_id(&zone_id).send().await.unwrap();
    let txt_set = sets.resource_record_sets.iter().find(|r| r.r#type.as_str() == "TXT").unwrap();
    let values: Vec<&str> = txt_set.resource_records().iter().map(|r| r.value()).collect();
    assert_eq!(values, vec!["\"v=spf1 include:example.net -all\"", "\"hello \\\"world\\\"\""]);
    let a_set = sets.resource_record_sets.iter().find(|r| r.r#type.as_str() == "A").unwrap();
    assert_eq!(a_set.alias_target.as_ref().unwrap().hosted_zone_id, "Z2FDTNDATAQYW2");

    // One batched read of all four (by id), plus one by name only: no diffs, all ours.
    let out = p
        .read(&[
            req("cdn.dns", Some(&a.remote_id), &alias),
            req("cdn.dns6", Some(&a6.remote_id), &alias6),
            req("cdn.www", Some(&c.remote_id), &cname),
            req("cdn.txt", Some(&t.remote_id), &txt),
            req("cdn.dns", None, &alias),
        ])
        .await;
    for (r, doc) in out.iter().zip([&alias, &alias6, &cname, &txt, &alias]) {
        let o = r.as_ref().expect("read ok").as_ref().expect("found");
        assert_eq!(o.ownership, Ownership::Ours);
        let diffs = subset_diff(doc, &o.attrs);
        assert!(diffs.is_empty(), "{diffs:#?}\nobserved {:#}", o.attrs);
    }
    assert_eq!(out[4].as_ref().unwrap().as_ref().unwrap().remote_id, a.remote_id);

    // Update (UPSERT): a new TTL and target.
    let mut cname2 = cname.clone();
    cname2["ttl"] = json!(300);
    cname2["records"] = json!(["cdn2.example.com"]);
    let mut upd = change("cdn.www", cname2.clone());
    upd.prior = Some(c.clone());
    let c2 = p.update(&upd).await.expect("update");
    assert_eq!(c2.remote_id, c.remote_id);
    let o = p.read(&[req("cdn.www", Some(&c.remote_id), &cname2)]).await.remove(0).unwrap().unwrap();
    assert!(subset_diff(&cname2, &o.attrs).is_empty(), "{:#}", o.attrs);

    // Creating an identical record again (crash before the state write) adopts it.
    let again = p.create(&change("cdn.dns", alias.clone())).await.expect("identical create");
    assert_eq!(again.remote_id, a.remote_id);

    // Delete: the exact current record set; then gone; deleting again is fine.
    for (address, applied, doc) in [("cdn.dns", &a, &alias), ("cdn.www", &c2, &cname2)] {
        let del = DeleteRequest {
            address: addr(address),
            kind: KIND.into(),
            remote_id: applied.remote_id.clone(),
            attrs: doc.clone(),
        };
        p.delete(&del).await.expect("delete");
        assert!(p.read(&[req(address, Some(&applied.remote_id), doc)]).await.remove(0).unwrap().is_none());
        p.delete(&del).await.expect("second delete");
    }
    let left = r53.list_resource_record_sets().hosted_zone_id(&zone_id).send().await.unwrap();
    let types: Vec<&str> = left.resource_record_sets.iter().map(|r| r.r#type.as_str()).collect();
    assert!(!types.contains(&"CNAME") && !types.contains(&"A"), "{types:?}");
}

#[tokio::test]
async fn foreign_records_and_missing_zones() {
    let moto = Moto::start();
    let p = provider(&moto.endpoint);
    let r53 = route53_client(&moto.endpoint).await;
    let zone_id = create_zone(&r53, "example.com").await;
    // A record someone else made.
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            aws_sdk_route53::types::ChangeBatch::builder()
                .changes(
                    aws_sdk_route53::types::Change::builder()
                        .action(aws_sdk_route53::types::ChangeAction::Create)
                        .resource_record_set(
                            aws_sdk_route53::types::ResourceRecordSet::builder()
                                .name("api.example.com")
                                .r#type(aws_sdk_route53::types::RrType::A)
                                .ttl(60)
                                .resource_records(
                                    aws_sdk_route53::types::ResourceRecord::builder()
                                        .value("192.0.2.1")
                                        .build()
                                        .unwrap(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let doc = json!({"zone": "example.com", "name": "api", "type": "A", "ttl": 60, "records": ["192.0.2.99"]});
    let o = p.read(&[req("dns.api", None, &doc)]).await.remove(0).unwrap().expect("found");
    assert!(matches!(o.ownership, Ownership::Foreign { .. }), "{:?}", o.ownership);
    let err = p.create(&change("dns.api", doc.clone())).await.expect_err("must not overwrite");
    assert_eq!(err.class, ErrorClass::Conflict, "{err}");

    // The same values are taken as ours (what a crashed create of ours would leave).
    let same = json!({"zone": "example.com", "name": "api", "type": "A", "ttl": 60, "records": ["192.0.2.1"]});
    let o = p.read(&[req("dns.api", None, &same)]).await.remove(0).unwrap().unwrap();
    assert_eq!(o.ownership, Ownership::Ours);

    // A zone that does not exist: reads find nothing, creates fail as not found.
    let nozone = json!({"zone": "nope.example", "name": "x", "type": "A", "records": ["192.0.2.1"]});
    assert!(p.read(&[req("dns.x", None, &nozone)]).await.remove(0).unwrap().is_none());
    let err = p.create(&change("dns.x", nozone)).await.expect_err("no zone");
    assert_eq!(err.class, ErrorClass::NotFound, "{err}");

    // Invalid documents are rejected before any call.
    let err = p
        .create(&change("dns.bad", json!({"zone": "example.com", "name": "x", "type": "A"})))
        .await
        .expect_err("no records");
    assert_eq!(err.class, ErrorClass::Invalid);
}

/// Health checks and failover / weighted records: create (a retried create adopts the check
/// by its CallerReference), batched read with no diff, a weight change as one UPSERT, delete.
#[tokio::test]
async fn health_checks_and_routed_records() {
    let moto = Moto::start();
    let p = provider(&moto.endpoint);
    let r53 = route53_client(&moto.endpoint).await;
    let zone_id = create_zone(&r53, "example.com").await;

    let hc = |fqdn: &str| json!({"fqdn": fqdn, "type": "HTTPS", "resource_path": "/healthz", "request_interval": 10, "failure_threshold": 2});
    let hc_change = |address: &str, doc: Value| ResourceChange {
        address: addr(address),
        kind: "route53_health_check".into(),
        attrs: doc,
        prior: None,
    };
    let a_doc = hc("a.cdn.example.net");
    let a = p.create(&hc_change("cdn.edge.health.a", a_doc.clone())).await.expect("health check");
    let again = p.create(&hc_change("cdn.edge.health.a", a_doc.clone())).await.expect("retried create");
    assert_eq!(again.remote_id, a.remote_id, "a retried create adopts the check");
    let b = p.create(&hc_change("cdn.edge.health.b", hc("b.cdn.example.net"))).await.unwrap();
    let listed = r53.list_health_checks().send().await.unwrap().health_checks;
    assert_eq!(listed.len(), 2);
    let got = r53.get_health_check().health_check_id(&a.remote_id).send().await.unwrap().health_check.unwrap();
    let cfg = got.health_check_config.unwrap();
    assert_eq!((cfg.request_interval, cfg.failure_threshold, cfg.port), (Some(10), Some(2), Some(443)));
    assert_eq!(cfg.resource_path.as_deref(), Some("/healthz"));
    let tags = r53
        .list_tags_for_resource()
        .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
        .resource_id(&a.remote_id)
        .send()
        .await
        .unwrap();
    let tags = tags.resource_tag_set.unwrap().tags.unwrap_or_default();
    assert!(tags.iter().any(|t| t.key() == Some("strata.dev/address") && t.value() == Some("cdn.edge.health.a")));

    // Read without an id (a crash before the state write) finds it by CallerReference.
    let read = ReadRequest {
        address: addr("cdn.edge.health.a"),
        kind: "route53_health_check".into(),
        remote_id: None,
        attrs: Some(&a_doc),
    };
    let o = p.read(&[read]).await.remove(0).unwrap().expect("found");
    assert_eq!(o.remote_id, a.remote_id);
    assert!(subset_diff(&a_doc, &o.attrs).is_empty(), "{:#}", o.attrs);

    let record = |set: &str, extra: Value, check: &str| {
        let mut r = json!({"zone": "example.com", "name": "www", "type": "CNAME", "ttl": 60,
            "records": [format!("{set}.cdn.example.net")], "set_identifier": set, "health_check_id": check});
        r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        r
    };
    let primary = record("a", json!({"failover": "PRIMARY"}), &a.remote_id);
    let secondary = record("b", json!({"failover": "SECONDARY"}), &b.remote_id);
    assert!(p.validate(KIND, &primary).is_empty(), "{:?}", p.validate(KIND, &primary));
    let ra = p.create(&change("cdn.edge.record.a", primary.clone())).await.expect("primary");
    let rb = p.create(&change("cdn.edge.record.b", secondary.clone())).await.expect("secondary");
    assert_eq!(ra.remote_id, format!("{zone_id}/www.example.com/CNAME/a"));
    let sets = r53.list_resource_record_sets().hosted_zone_id(&zone_id).send().await.unwrap().resource_record_sets;
    let www: Vec<_> = sets.iter().filter(|r| r.name.starts_with("www.")).collect();
    assert_eq!(www.len(), 2);
    let pa = www.iter().find(|r| r.set_identifier.as_deref() == Some("a")).unwrap();
    assert_eq!(pa.failover.as_ref().map(|f| f.as_str()), Some("PRIMARY"));
    assert_eq!(pa.health_check_id.as_deref(), Some(a.remote_id.as_str()));
    let out = p
        .read(&[req("cdn.edge.record.a", Some(&ra.remote_id), &primary), req("cdn.edge.record.b", None, &secondary)])
        .await;
    for (r, doc) in out.iter().zip([&primary, &secondary]) {
        let o = r.as_ref().unwrap().as_ref().expect("found");
        assert!(subset_diff(doc, &o.attrs).is_empty(), "{:#}", o.attrs);
    }

    // Weighted: a weight change is one UPSERT of that record.
    let w1 = record("w", json!({"weight": 200}), &a.remote_id);
    let mut w1 = w1;
    w1["name"] = json!("api");
    let rw = p.create(&change("cdn.api.record.w", w1.clone())).await.expect("weighted");
    let mut w2 = w1.clone();
    w2["weight"] = json!(50);
    let mut upd = change("cdn.api.record.w", w2.clone());
    upd.prior = Some(rw.clone());
    p.update(&upd).await.expect("weight change");
    let o = p.read(&[req("cdn.api.record.w", Some(&rw.remote_id), &w2)]).await.remove(0).unwrap().unwrap();
    assert_eq!(o.attrs["weight"], json!(50));

    // Delete the records, then the checks; deleting twice is fine.
    for (address, applied, doc) in
        [("cdn.edge.record.a", &ra, &primary), ("cdn.edge.record.b", &rb, &secondary), ("cdn.api.record.w", &rw, &w2)]
    {
        let del = DeleteRequest {
            address: addr(address),
            kind: KIND.into(),
            remote_id: applied.remote_id.clone(),
            attrs: doc.clone(),
        };
        p.delete(&del).await.expect("delete record");
    }
    for (address, applied) in [("cdn.edge.health.a", &a), ("cdn.edge.health.b", &b)] {
        let del = DeleteRequest {
            address: addr(address),
            kind: "route53_health_check".into(),
            remote_id: applied.remote_id.clone(),
            attrs: json!({}),
        };
        p.delete(&del).await.expect("delete check");
        p.delete(&del).await.expect("second delete");
    }
    assert!(r53.list_health_checks().send().await.unwrap().health_checks.is_empty());
    let sets = r53.list_resource_record_sets().hosted_zone_id(&zone_id).send().await.unwrap().resource_record_sets;
    assert!(sets.iter().all(|r| r.set_identifier.is_none()), "{sets:?}");
}
