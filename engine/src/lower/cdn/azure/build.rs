//! Builds the Azure provider's resources of one validated entry.

use serde_json::{Value, json};
use strata_sdk::{Address, Resource};

use super::config::{AzureCdn, ForwardingProtocol, ProbeProtocol, QueryString, Sku};
use crate::lower::cdn::cloudfront::Ttl;

const PROVIDER: &str = "azure";
/// The origin group, route, rule set and security policy names inside the entry's profile
/// (rule set and rule names are letters and digits only).
const ORIGIN_GROUP: &str = "default";
const ROUTE: &str = "default";
const RULE_SET: &str = "strata";
const SECURITY_POLICY: &str = "waf";
/// What Front Door compresses when `cache.compression` is on.
const COMPRESSED: &[&str] = &[
    "text/html",
    "text/css",
    "text/plain",
    "text/xml",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/xml",
    "image/svg+xml",
];

fn resource(segments: &[&str], kind: &str, attrs: Value) -> Resource {
    Resource {
        address: Address::from_segments(segments.iter().copied()).expect("cdn names are DNS labels"),
        provider: PROVIDER.into(),
        kind: kind.into(),
        attrs,
        depends_on: vec![],
    }
}

/// The profile and endpoint name: `<project>-<name>` (`<project>-<env>-<name>` outside the
/// default environment), letters, digits and `-`.
pub fn profile_name(project: &str, env: &str, name: &str) -> String {
    let raw = if env == "default" { format!("{project}-{name}") } else { format!("{project}-{env}-{name}") };
    let cleaned: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    cleaned.trim_matches('-').to_string()
}

/// ARM's `d.hh:mm:ss` duration.
fn timespan(ttl: &Ttl) -> String {
    let s = ttl.0.as_secs();
    let (d, h, m, s) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 { format!("{d}.{h:02}:{m:02}:{s:02}") } else { format!("{h:02}:{m:02}:{s:02}") }
}

fn cache_rule(order: usize, path: &str, ttl: &Ttl) -> Value {
    let (operator, value) = match path.strip_suffix('*') {
        Some(prefix) => ("BeginsWith", prefix),
        None => ("Equal", path),
    };
    let mut parameters = json!({"typeName": "DeliveryRuleCacheExpirationActionParameters", "cacheType": "All"});
    if ttl.0.as_secs() == 0 {
        parameters["cacheBehavior"] = json!("BypassCache");
    } else {
        parameters["cacheBehavior"] = json!("Override");
        parameters["cacheDuration"] = json!(timespan(ttl));
    }
    json!({
        "order": order,
        "conditions": [{"name": "UrlPath", "parameters": {
            "typeName": "DeliveryRuleUrlPathMatchConditionParameters", "operator": operator, "matchValues": [value], "transforms": []}}],
        "actions": [{"name": "CacheExpiration", "parameters": parameters}],
        "matchProcessingBehavior": "Continue",
    })
}

/// The rule set and its rules (cache rules, then response headers); whether there is one.
fn rules(name: &str, profile: &str, e: &AzureCdn, out: &mut Vec<Resource>) -> bool {
    let cache_rules: &[super::config::CacheRule] = e.cache.as_ref().map_or(&[], |c| &c.rules);
    let has_rules = !cache_rules.is_empty() || !e.response_headers.is_empty();
    if has_rules {
        out.push(resource(&["cdn", name, "rule-set"], "rule_set", json!({"name": RULE_SET, "profile": profile})));
        for (i, r) in cache_rules.iter().enumerate() {
            out.push(resource(
                &["cdn", name, "rule", &format!("cache-{}", i + 1)],
                "rule",
                json!({"name": format!("cache{}", i + 1), "profile": profile, "rule_set": RULE_SET, "properties": cache_rule(i + 1, &r.path, &r.ttl)}),
            ));
        }
        if !e.response_headers.is_empty() {
            let actions: Vec<Value> = e
                .response_headers
                .iter()
                .map(|(h, v)| json!({"name": "ModifyResponseHeader", "parameters": {
                    "typeName": "DeliveryRuleHeaderActionParameters", "headerAction": "Overwrite", "headerName": h, "value": v}}))
                .collect();
            out.push(resource(
                &["cdn", name, "rule", "headers"],
                "rule",
                json!({"name": "headers", "profile": profile, "rule_set": RULE_SET, "properties": {
                    "order": cache_rules.len() + 1, "conditions": [], "actions": actions, "matchProcessingBehavior": "Continue"}}),
            ));
        }
    }
    has_rules
}

/// The route: patterns, protocols, cache configuration, links to the group, rules and domain.
fn route(name: &str, profile: &str, e: &AzureCdn, has_rules: bool, origin_addresses: Vec<Address>) -> Resource {
    let patterns: Vec<&str> =
        if e.patterns.is_empty() { vec!["/*"] } else { e.patterns.iter().map(String::as_str).collect() };
    let mut route = json!({
        "originGroup": {"id": format!("${{cdn.{name}.origin-group.id}}")},
        "patternsToMatch": patterns,
        "supportedProtocols": ["Http", "Https"],
        "forwardingProtocol": match e.forwarding_protocol {
            ForwardingProtocol::HttpsOnly => "HttpsOnly",
            ForwardingProtocol::HttpOnly => "HttpOnly",
            ForwardingProtocol::MatchRequest => "MatchRequest",
        },
        "httpsRedirect": if e.https_redirect { "Enabled" } else { "Disabled" },
        "linkToDefaultDomain": "Enabled",
        "enabledState": "Enabled",
        "customDomains": e.custom_domain.iter().map(|_| json!({"id": format!("${{cdn.{name}.domain.id}}")})).collect::<Vec<_>>(),
        "ruleSets": if has_rules { vec![json!({"id": format!("${{cdn.{name}.rule-set.id}}")})] } else { vec![] },
    });
    if let Some(c) = &e.cache {
        route["cacheConfiguration"] = json!({
            "queryStringCachingBehavior": match c.query_string { QueryString::Ignore => "IgnoreQueryString", QueryString::Use => "UseQueryString" },
            "compressionSettings": {"isCompressionEnabled": c.compression, "contentTypesToCompress": if c.compression { COMPRESSED.to_vec() } else { vec![] }},
        });
    }
    let mut r = resource(
        &["cdn", name, "route"],
        "route",
        json!({"name": ROUTE, "profile": profile, "endpoint": profile, "properties": route}),
    );
    // Front Door needs an origin in the group before a route can send traffic to it.
    r.depends_on = origin_addresses;
    r
}

pub fn entry(project: &str, env: &str, name: &str, e: &AzureCdn) -> Vec<Resource> {
    let mut out = Vec::new();
    let profile = profile_name(project, env, name);
    let tags = (!e.tags.is_empty()).then(|| json!(e.tags));
    let mut profile_doc = json!({"name": profile, "sku": {"name": match e.sku { Sku::Standard => "Standard_AzureFrontDoor", Sku::Premium => "Premium_AzureFrontDoor" }}});
    let mut endpoint_doc = json!({"name": profile, "profile": profile, "properties": {"enabledState": "Enabled"}});
    if let Some(t) = &tags {
        profile_doc["tags"] = t.clone();
        endpoint_doc["tags"] = t.clone();
    }
    out.push(resource(&["cdn", name, "profile"], "profile", profile_doc));
    out.push(resource(&["cdn", name], "afd_endpoint", endpoint_doc));

    let lb = e.load_balancing.as_ref();
    let mut group = json!({
        "loadBalancingSettings": {
            "sampleSize": lb.and_then(|l| l.sample_size).unwrap_or(4),
            "successfulSamplesRequired": lb.and_then(|l| l.successful_samples).unwrap_or(3),
            "additionalLatencyInMilliseconds": lb.and_then(|l| l.latency_sensitivity_ms).unwrap_or(50),
        },
        "sessionAffinityState": "Disabled",
    });
    if let Some(h) = &e.health_check {
        group["healthProbeSettings"] = json!({
            "probePath": h.path,
            "probeRequestType": "HEAD",
            "probeProtocol": match h.protocol { ProbeProtocol::Http => "Http", ProbeProtocol::Https => "Https" },
            "probeIntervalInSeconds": h.interval.unwrap_or(100),
        });
    }
    out.push(resource(
        &["cdn", name, "origin-group"],
        "origin_group",
        json!({"name": ORIGIN_GROUP, "profile": profile, "properties": group}),
    ));

    let origins: Vec<(String, &str, Option<&String>, u32, u32)> = match &e.origin {
        Some(o) => vec![("origin".into(), o.domain.as_str(), o.host_header.as_ref(), 1, 1000)],
        None => e
            .origins
            .iter()
            .map(|o| {
                (
                    o.name.clone(),
                    o.domain.as_str(),
                    o.host_header.as_ref(),
                    o.priority.unwrap_or(1),
                    o.weight.unwrap_or(1000),
                )
            })
            .collect(),
    };
    let mut origin_addresses = Vec::new();
    for (oname, domain, host_header, priority, weight) in origins {
        let r = resource(
            &["cdn", name, "origin", &oname],
            "origin",
            json!({"name": oname, "profile": profile, "origin_group": ORIGIN_GROUP, "properties": {
                "hostName": domain,
                "originHostHeader": host_header.map_or(domain, String::as_str),
                "httpPort": 80,
                "httpsPort": 443,
                "priority": priority,
                "weight": weight,
                "enabledState": "Enabled",
            }}),
        );
        origin_addresses.push(r.address.clone());
        out.push(r);
    }

    let has_rules = rules(name, &profile, e, &mut out);
    if let Some(d) = &e.custom_domain {
        out.push(resource(
            &["cdn", name, "domain"],
            "custom_domain",
            json!({"name": d.replace('.', "-"), "profile": profile, "properties": {
                "hostName": d, "tlsSettings": {"certificateType": "ManagedCertificate", "minimumTlsVersion": "TLS12"}}}),
        ));
    }

    out.push(route(name, &profile, e, has_rules, origin_addresses));
    if let Some(w) = &e.waf_policy {
        let mut domains = vec![json!({"id": format!("${{cdn.{name}.id}}")})];
        if e.custom_domain.is_some() {
            domains.push(json!({"id": format!("${{cdn.{name}.domain.id}}")}));
        }
        out.push(resource(
            &["cdn", name, "security-policy"],
            "security_policy",
            json!({"name": SECURITY_POLICY, "profile": profile, "properties": {"parameters": {
                "type": "WebApplicationFirewall",
                "wafPolicy": {"id": w},
                "associations": [{"domains": domains, "patternsToMatch": ["/*"]}],
            }}}),
        ));
    }
    out
}
