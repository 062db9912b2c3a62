//! Builds the DNS resources of one validated multi-CDN entry: Route 53 health checks and
//! routed records, or a Cloudflare monitor, pools and load balancer.

use serde_json::{Value, json};
use strata_sdk::{Address, Resource};

use super::config::{DnsProvider, MultiCdn, Strategy};
use super::validate::{Checked, CheckedMember};

/// TTL of the answers unless `dns.ttl` says otherwise: short, so failover takes effect soon.
const DEFAULT_TTL: i64 = 60;

fn resource(provider: &str, segments: &[&str], kind: &str, attrs: Value) -> Resource {
    Resource {
        address: Address::from_segments(segments.iter().copied()).expect("cdn names are DNS labels"),
        provider: provider.into(),
        kind: kind.into(),
        attrs,
        depends_on: vec![],
    }
}

/// `${cdn.<member>.domain_name}`: what every CDN target outputs at its main resource.
fn domain_of(member: &str) -> String {
    format!("${{cdn.{member}.domain_name}}")
}

/// What a Cloudflare pool's origin points at: the hostname, or for Google Cloud CDN (whose
/// `domain_name` is the site's own name) the load balancer's IP address.
fn origin_address(member: &CheckedMember) -> String {
    match member.provider.as_str() {
        "gcp" => format!("${{cdn.{}.ip.address}}", member.name),
        _ => domain_of(&member.name),
    }
}

pub fn entry(project: &str, env: &str, name: &str, m: &MultiCdn, c: &Checked) -> Vec<Resource> {
    match m.dns.provider {
        DnsProvider::Route53 => route53(name, m, c),
        DnsProvider::Cloudflare => cloudflare(project, env, name, m, c),
    }
}

/// Per member: an HTTPS health check of its domain, and a CNAME to its domain in the record's
/// set (set identifier = the member), PRIMARY/SECONDARY or weighted, answered only while the
/// health check passes.
fn route53(name: &str, m: &MultiCdn, c: &Checked) -> Vec<Resource> {
    let h = &m.dns.health_check;
    let mut out = Vec::new();
    for (i, member) in c.members.iter().enumerate() {
        let mname = member.name.as_str();
        out.push(resource(
            "aws",
            &["cdn", name, "health", mname],
            "route53_health_check",
            json!({
                "fqdn": domain_of(mname),
                "type": "HTTPS",
                "resource_path": h.path,
                "request_interval": h.interval,
                "failure_threshold": h.threshold,
            }),
        ));
        let mut record = json!({
            "zone": c.zone,
            "name": c.fqdn,
            "type": "CNAME",
            "ttl": m.dns.ttl.unwrap_or(DEFAULT_TTL),
            "records": [domain_of(mname)],
            "set_identifier": mname,
            "health_check_id": format!("${{cdn.{name}.health.{mname}.id}}"),
        });
        match m.strategy {
            Strategy::Failover => record["failover"] = json!(if i == 0 { "PRIMARY" } else { "SECONDARY" }),
            Strategy::Weighted => record["weight"] = json!(member.weight.unwrap_or(0)),
        }
        out.push(resource("aws", &["cdn", name, "record", mname], "route53_record", record));
    }
    out
}

/// A pool name: `<project>-<name>-<member>` (`<project>-<env>-...` outside the default
/// environment), lowercase letters, digits, `-` and `_`.
fn pool_name(project: &str, env: &str, name: &str, member: &str) -> String {
    let raw = if env == "default" {
        format!("{project}-{name}-{member}")
    } else {
        format!("{project}-{env}-{name}-{member}")
    };
    raw.to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect()
}

/// One monitor (HTTPS on each member's domain), one pool per member, and a DNS-only load
/// balancer on the record: `steering_policy: off` walks the pools in order (failover),
/// `random` picks pools by weight (weights scaled from 0-255 to 0-1).
fn cloudflare(project: &str, env: &str, name: &str, m: &MultiCdn, c: &Checked) -> Vec<Resource> {
    let h = &m.dns.health_check;
    let mut out = vec![resource(
        "cloudflare",
        &["cdn", name, "monitor"],
        "monitor",
        json!({
            "type": "https",
            "method": "GET",
            "path": h.path,
            "expected_codes": "2xx",
            "interval": h.interval,
            "timeout": 5,
            "retries": 0,
            "consecutive_down": h.threshold,
            "consecutive_up": h.threshold,
        }),
    )];
    let mut pools = Vec::new();
    let mut weights = Vec::new();
    for member in &c.members {
        let mname = member.name.as_str();
        out.push(resource(
            "cloudflare",
            &["cdn", name, "pool", mname],
            "pool",
            json!({
                "name": pool_name(project, env, name, mname),
                "origins": [{"name": mname, "address": origin_address(member), "weight": 1, "enabled": true}],
                "monitor": format!("${{cdn.{name}.monitor.id}}"),
                "minimum_origins": 1,
            }),
        ));
        let pool = format!("${{cdn.{name}.pool.{mname}.id}}");
        if let Some(w) = member.weight {
            let scaled = (w as f64 / 255.0 * 10_000.0).round() / 10_000.0;
            weights.push(json!({"pool": pool, "weight": scaled}));
        }
        pools.push(pool);
    }
    let mut lb = json!({
        "zone": c.zone,
        "name": c.fqdn,
        "default_pools": pools,
        "fallback_pool": pools.last().cloned().unwrap_or_default(),
        "proxied": false,
        "ttl": m.dns.ttl.unwrap_or(DEFAULT_TTL),
    });
    match m.strategy {
        Strategy::Failover => lb["steering_policy"] = json!("off"),
        Strategy::Weighted => {
            lb["steering_policy"] = json!("random");
            lb["pool_weights"] = json!(weights);
        }
    }
    out.push(resource("cloudflare", &["cdn", name], "load_balancer", lb));
    out
}
