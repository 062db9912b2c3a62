//! Builds the GCP provider's resources of one validated entry: the pieces of a global external
//! HTTPS load balancer (Compute Engine v1 bodies, camelCase).

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use strata_sdk::{Address, Resource};

use super::config::GcpCdn;
use super::validate::Checked;

const PROVIDER: &str = "gcp";

fn resource(segments: &[&str], kind: &str, attrs: Value) -> Resource {
    Resource {
        address: Address::from_segments(segments.iter().copied()).expect("cdn names are DNS labels"),
        provider: PROVIDER.into(),
        kind: kind.into(),
        attrs,
        depends_on: vec![],
    }
}

fn self_link(name: &str, segments: &[&str]) -> String {
    format!("${{cdn.{name}.{}.selfLink}}", segments.join("."))
}

/// `cdnPolicy` of every backend bucket: only what the spec sets, so Google's defaults apply to
/// the rest and a re-plan is quiet.
fn cdn_policy(e: &GcpCdn) -> Value {
    let c = &e.cache;
    let mut p = Map::new();
    p.insert("cacheMode".into(), json!(c.mode.api()));
    let ttls = [
        ("defaultTtl", &c.default_ttl),
        ("maxTtl", &c.max_ttl),
        ("clientTtl", &c.client_ttl),
        ("serveWhileStale", &c.serve_while_stale),
    ];
    for (key, ttl) in ttls {
        if let Some(t) = ttl {
            p.insert(key.into(), json!(t.0.as_secs()));
        }
    }
    if let Some(n) = c.negative_caching {
        p.insert("negativeCaching".into(), json!(n));
    }
    Value::Object(p)
}

/// A managed certificate cannot change its domains: a new set is a new certificate, named by
/// the set's hash so the old and new can exist side by side while the proxy switches.
fn certificate_name(prefix: &str, hostnames: &[String]) -> String {
    let hash = Sha256::digest(hostnames.join(",").as_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{short}")
}

pub fn entry(name: &str, e: &GcpCdn, c: &Checked) -> Vec<Resource> {
    let prefix = &c.prefix;
    let mut out = Vec::new();

    for (origin, bucket) in &c.origins {
        out.push(resource(
            &["cdn", name, "bucket", origin],
            "backend_bucket",
            json!({
                "name": format!("{prefix}-{origin}"),
                "bucketName": bucket,
                "enableCdn": true,
                "cdnPolicy": cdn_policy(e),
            }),
        ));
    }

    let default_service = self_link(name, &["bucket", &c.default_origin]);
    let mut url_map = json!({"name": prefix, "defaultService": default_service});
    if !e.cache.rules.is_empty() {
        let rules: Vec<Value> = e
            .cache
            .rules
            .iter()
            .map(|r| json!({"paths": [r.path], "service": self_link(name, &["bucket", &r.origin])}))
            .collect();
        url_map["hostRules"] = json!([{"hosts": c.hostnames, "pathMatcher": "paths"}]);
        url_map["pathMatchers"] = json!([{"name": "paths", "defaultService": default_service, "pathRules": rules}]);
    }
    out.push(resource(&["cdn", name, "url-map"], "url_map", url_map));

    out.push(resource(
        &["cdn", name, "certificate"],
        "managed_ssl_certificate",
        json!({
            "name": certificate_name(prefix, &c.hostnames),
            "type": "MANAGED",
            "managed": {"domains": c.hostnames},
        }),
    ));
    out.push(resource(
        &["cdn", name, "https-proxy"],
        "target_https_proxy",
        json!({
            "name": prefix,
            "urlMap": self_link(name, &["url-map"]),
            "sslCertificates": [self_link(name, &["certificate"])],
        }),
    ));
    out.push(resource(&["cdn", name, "ip"], "global_address", json!({"name": prefix})));
    let ip = format!("${{cdn.{name}.ip.address}}");
    out.push(resource(
        &["cdn", name],
        "global_forwarding_rule",
        json!({
            "name": format!("{prefix}-https"),
            "IPAddress": ip,
            "IPProtocol": "TCP",
            "portRange": "443",
            "loadBalancingScheme": "EXTERNAL_MANAGED",
            "target": self_link(name, &["https-proxy"]),
        }),
    ));

    if e.http_redirect {
        out.push(resource(
            &["cdn", name, "redirect-map"],
            "url_map",
            json!({
                "name": format!("{prefix}-redirect"),
                "defaultUrlRedirect": {"httpsRedirect": true, "redirectResponseCode": "MOVED_PERMANENTLY_DEFAULT"},
            }),
        ));
        out.push(resource(
            &["cdn", name, "http-proxy"],
            "target_http_proxy",
            json!({"name": format!("{prefix}-http"), "urlMap": self_link(name, &["redirect-map"])}),
        ));
        out.push(resource(
            &["cdn", name, "http"],
            "global_forwarding_rule",
            json!({
                "name": format!("{prefix}-http"),
                "IPAddress": ip,
                "IPProtocol": "TCP",
                "portRange": "80",
                "loadBalancingScheme": "EXTERNAL_MANAGED",
                "target": self_link(name, &["http-proxy"]),
            }),
        ));
    }
    out
}
