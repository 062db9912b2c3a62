//! Builds the Cloudflare provider's resources of one validated entry.

use serde_json::{Value, json};
use strata_sdk::{Address, Resource};

use super::config::CloudflareCdn;
use super::validate::Checked;
use crate::lower::cdn::cloudfront::Ttl;

const PROVIDER: &str = "cloudflare";
const DEFAULT_COMPATIBILITY_DATE: &str = "2024-09-01";

fn resource(segments: &[&str], kind: &str, attrs: Value) -> Resource {
    Resource {
        address: Address::from_segments(segments.iter().copied()).expect("cdn names are DNS labels"),
        provider: PROVIDER.into(),
        kind: kind.into(),
        attrs,
        depends_on: vec![],
    }
}

/// `set_cache_settings` parameters for a TTL: `0` bypasses the cache.
fn cache_parameters(ttl: &Ttl) -> Value {
    let secs = ttl.0.as_secs();
    if secs == 0 {
        json!({"cache": false})
    } else {
        // `status_code_ttl` is required by the API document's schema of `edge_ttl`.
        json!({"cache": true, "edge_ttl": {"mode": "override_origin", "default": secs, "status_code_ttl": []}})
    }
}

/// A Worker script name: `<project>-<name>` (`<project>-<env>-<name>` outside the default
/// environment), lowercase letters, digits, `-` and `_`.
fn script_name(project: &str, env: &str, name: &str) -> String {
    let raw = if env == "default" { format!("{project}-{name}") } else { format!("{project}-{env}-{name}") };
    raw.to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect()
}

pub fn entry(project: &str, env: &str, name: &str, e: &CloudflareCdn, c: &Checked) -> Vec<Resource> {
    let mut out = Vec::new();
    let zone = &c.zone;
    let host = &c.hostname;

    if let Some(o) = &e.origin {
        out.push(resource(
            &["cdn", name],
            "dns_record",
            json!({"zone": zone, "name": host, "type": "CNAME", "content": o.domain, "proxied": true}),
        ));
    } else {
        let check = e.health_check.as_ref();
        out.push(resource(
            &["cdn", name, "monitor"],
            "monitor",
            json!({
                "type": "https",
                "method": "GET",
                "path": check.map_or("/", |h| h.path.as_str()),
                "expected_codes": check.and_then(|h| h.expected_codes.clone()).unwrap_or_else(|| "200".into()),
                "interval": 60,
                "retries": 2,
                "timeout": 5,
            }),
        ));
        let mut pools = Vec::new();
        for o in &e.origins {
            out.push(resource(
                &["cdn", name, "pool", &o.name],
                "pool",
                json!({
                    "name": script_name(project, env, &format!("{name}-{}", o.name)),
                    "origins": [{"name": o.name, "address": o.domain, "weight": 1, "enabled": true}],
                    "monitor": format!("${{cdn.{name}.monitor.id}}"),
                    "minimum_origins": 1,
                }),
            ));
            pools.push(format!("${{cdn.{name}.pool.{}.id}}", o.name));
        }
        let fallback = pools.last().cloned().unwrap_or_default();
        out.push(resource(
            &["cdn", name],
            "load_balancer",
            json!({
                "zone": zone,
                "name": host,
                "default_pools": pools,
                "fallback_pool": fallback,
                "steering_policy": "off",
                "proxied": true,
            }),
        ));
    }

    let mut rules = Vec::new();
    let host_expr = format!("http.host eq \"{host}\"");
    if let Some(ttl) = &e.cache.default_ttl {
        rules.push(json!({"ref": "default", "expression": host_expr, "action_parameters": cache_parameters(ttl)}));
    }
    for (i, r) in e.cache.rules.iter().enumerate() {
        let prefix = r.path.strip_suffix('*').unwrap_or(&r.path);
        let path_expr = if r.path.ends_with('*') {
            format!("starts_with(http.request.uri.path, \"{prefix}\")")
        } else {
            format!("http.request.uri.path eq \"{prefix}\"")
        };
        rules.push(json!({
            "ref": format!("rule-{i}"),
            "description": format!("{} ({})", r.path, if r.ttl.0.as_secs() == 0 { "bypass".to_string() } else { format!("{}s", r.ttl.0.as_secs()) }),
            "expression": format!("{host_expr} and {path_expr}"),
            "action_parameters": cache_parameters(&r.ttl),
        }));
    }
    if !rules.is_empty() {
        let mut attrs = json!({"zone": zone, "rules": rules, "hostname": host});
        if !e.invalidate_on_change.is_empty() {
            attrs["invalidate_on_change"] = json!(e.invalidate_on_change);
        }
        out.push(resource(&["cdn", name, "cache-rules"], "cache_rules", attrs));
    }

    if let (Some(f), Some((module_name, source, sha))) = (&e.edge_function, &c.module) {
        out.push(resource(
            &["cdn", name, "worker"],
            "worker",
            json!({
                "name": script_name(project, env, name),
                "module": {"name": module_name, "source": source, "sha256": sha},
                "compatibility_date": f.compatibility_date.clone().unwrap_or_else(|| DEFAULT_COMPATIBILITY_DATE.into()),
            }),
        ));
        out.push(resource(
            &["cdn", name, "route"],
            "worker_route",
            json!({"zone": zone, "pattern": format!("{host}/*"), "script": format!("${{cdn.{name}.worker.id}}")}),
        ));
    }
    out
}
