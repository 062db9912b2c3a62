//! Builds the AWS resources of one `cdn.<name>` entry from its decoded configuration: the
//! `cloudfront_distribution`, a `cloudfront_cache_policy` / `cloudfront_origin_request_policy`
//! for each behavior whose settings no AWS managed policy fits, and `route53_record` aliases.
//!
//! The decisions (TTL defaults, which managed policy fits, where forwarded values go) are
//! functions here, shared with validation, so what is checked is what is built.

use serde_json::{Map, Value, json};
use strata_aws_model::attrs::{self as aws_attrs, CLOUDFRONT_HOSTED_ZONE_ID};
use strata_aws_model::{KIND_CACHE_POLICY, KIND_DISTRIBUTION, KIND_ORIGIN_REQUEST_POLICY, KIND_RECORD, managed};
use strata_sdk::{Address, Resource};

use super::Entry;
use super::config::{
    Behavior, CloudFrontCdn, EdgeFunction, Method, OriginProtocol, OriginSpec, OriginTls, OriginType, RuleSpec,
    Selection,
};
use crate::spec::units::Duration;

/// CloudFront's defaults for a new cache policy, which are also the managed `CachingOptimized`.
pub const DEFAULT_MIN_TTL: u64 = 1;
pub const DEFAULT_TTL: u64 = 86_400;
pub const DEFAULT_MAX_TTL: u64 = 31_536_000;

/// The name of the default behavior in addresses and policy names.
pub const DEFAULT_BEHAVIOR: &str = "default";

pub fn secs(d: Duration) -> u64 {
    d.millis / 1000
}

/// The TTLs of a behavior, in seconds, after defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    pub min: u64,
    pub default: u64,
    pub max: u64,
}

impl Ttls {
    pub fn caching_disabled(&self) -> bool {
        self.min == 0 && self.default == 0 && self.max == 0
    }
}

/// `ttl` sets all three; otherwise unset ones default around the set ones (the default TTL
/// never above an explicit maximum, the minimum never above the default).
pub fn ttls(b: &Behavior<'_>) -> Ttls {
    if let Some(t) = b.ttl {
        let s = secs(t);
        return Ttls { min: s, default: s, max: s };
    }
    let default = b.default_ttl.map(secs).unwrap_or_else(|| DEFAULT_TTL.min(b.max_ttl.map(secs).unwrap_or(u64::MAX)));
    let max = b.max_ttl.map(secs).unwrap_or_else(|| DEFAULT_MAX_TTL.max(default));
    let min = b.min_ttl.map(secs).unwrap_or_else(|| DEFAULT_MIN_TTL.min(default));
    Ttls { min, default, max }
}

/// `bucket.s3.amazonaws.com`, `bucket.s3.us-east-1.amazonaws.com`, `bucket.s3-us-west-2...`,
/// `bucket.s3.dualstack.us-east-1.amazonaws.com`: a bucket's REST endpoint.
pub fn is_s3_rest_endpoint(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    let Some(rest) = d.strip_suffix(".amazonaws.com").or_else(|| d.strip_suffix(".amazonaws.com.cn")) else {
        return false;
    };
    // The service label comes after the bucket name, which may itself contain dots.
    let labels: Vec<&str> = rest.split('.').collect();
    labels
        .iter()
        .rposition(|l| *l == "s3" || l.starts_with("s3-"))
        .is_some_and(|i| i >= 1 && !labels[i].starts_with("s3-website"))
}

/// `bucket.s3-website-us-east-1.amazonaws.com`, `bucket.s3-website.eu-west-1.amazonaws.com`.
pub fn is_s3_website_endpoint(domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    d.contains(".s3-website") && (d.ends_with(".amazonaws.com") || d.ends_with(".amazonaws.com.cn"))
}

pub fn origin_type(o: &OriginSpec) -> OriginType {
    o.kind.unwrap_or(if is_s3_rest_endpoint(&o.domain) { OriginType::S3 } else { OriginType::Custom })
}

/// The protocol CloudFront uses to a custom origin: website endpoints speak HTTP only.
pub fn origin_protocol(o: &OriginSpec) -> OriginProtocol {
    o.protocol.unwrap_or(if is_s3_website_endpoint(&o.domain) {
        OriginProtocol::HttpOnly
    } else {
        OriginProtocol::HttpsOnly
    })
}

/// A rule's name when it gives none: its path's words joined by `-` (`/api/v2/*` → `api-v2`).
pub fn slug(path: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            dash = false;
        } else {
            dash = true;
        }
    }
    out.truncate(40);
    out.trim_end_matches('-').to_string()
}

/// Names of the rules, in order: the explicit `name`, else [`slug`] of the path, else
/// `rule-<index>`.
pub fn rule_names(rules: &[(usize, RuleSpec)]) -> Vec<String> {
    rules
        .iter()
        .map(|(i, r)| {
            r.name.clone().unwrap_or_else(|| {
                let s = slug(&r.path);
                if s.is_empty() || s == DEFAULT_BEHAVIOR { format!("rule-{i}") } else { s }
            })
        })
        .collect()
}

/// `<project>-<env>-<entry>-<behavior>`: unique per account as long as projects are.
pub fn policy_name(project: &str, env: &str, entry: &str, behavior: &str) -> String {
    let raw = format!("{project}-{env}-{entry}-{behavior}");
    let mut name: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    name.truncate(128);
    name
}

fn policy_comment(entry: &str, what: &str) -> String {
    let mut c = format!("cdn.{entry} {what} (managed by strata)");
    if c.chars().count() > 128 {
        c = c.chars().take(128).collect();
    }
    c
}

fn is_authorization(h: &str) -> bool {
    h.eq_ignore_ascii_case("authorization")
}

/// Where a behavior's caching and forwarding settings go.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheChoice {
    /// An AWS managed cache policy, by name.
    Managed(String),
    /// A custom cache policy with these attrs.
    Custom(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyRef {
    Managed(String),
    Id(String),
    Custom(Value),
}

/// The decisions for one behavior.
#[derive(Debug, Clone, PartialEq)]
pub struct BehaviorPlan {
    pub ttls: Ttls,
    pub cache: CacheChoice,
    pub origin_request: Option<PolicyRef>,
    pub headers: Option<PolicyRef>,
}

/// Headers, cookies and query strings of a cache key or an origin request policy.
fn selection(sel: &Selection, all: &str) -> Value {
    match sel.normalized() {
        Selection::None => json!({"behavior": "none"}),
        Selection::All => json!({"behavior": all}),
        Selection::Only(items) => {
            let mut seen: Vec<String> = Vec::new();
            for i in items {
                if !seen.iter().any(|s| s.eq_ignore_ascii_case(&i)) {
                    seen.push(i);
                }
            }
            json!({"behavior": "whitelist", "items": seen})
        }
    }
}

/// A managed policy id or name written by the user: `(managed name, id)`.
pub fn policy_ref(table: &[(&'static str, &'static str)], value: &str) -> Option<PolicyRef> {
    if managed::id_by_name(table, value).is_some() {
        return Some(PolicyRef::Managed(value.to_string()));
    }
    looks_like_policy_id(value).then(|| PolicyRef::Id(value.to_string()))
}

/// CloudFront policy ids are UUIDs.
pub fn looks_like_policy_id(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Decides the cache policy, origin request policy and response headers policy of a behavior.
///
/// - Caching on (a maximum TTL above 0): forwarded headers (by name), cookies and query
///   strings become the cache key, so responses that depend on them are cached apart; `headers:
///   all` cannot be a cache key and goes to an origin request policy (`allViewer`).
/// - Caching off (every TTL 0): nothing may be in the cache key, so everything forwarded goes to
///   an origin request policy. CloudFront refuses `Authorization` there (it would let the cache
///   answer unauthorized requests), and takes it only in a cache key, which needs a maximum TTL
///   above 0: with `Authorization` forwarded the maximum TTL becomes 1s (default TTL 0, so
///   nothing is cached unless the origin asks for it, and then for at most a second).
/// - The AWS managed `CachingOptimized`, `CachingOptimizedForUncompressedObjects` and
///   `CachingDisabled` are used when the settings are exactly theirs; `AllViewer` likewise for
///   origin requests.
pub fn plan_behavior(project: &str, env: &str, entry: &str, behavior: &str, b: &Behavior<'_>) -> BehaviorPlan {
    let headers = b.headers_policy.and_then(|h| policy_ref(managed::RESPONSE_HEADERS_POLICIES, h));
    let explicit_orp = b.origin_request_policy.and_then(|o| policy_ref(managed::ORIGIN_REQUEST_POLICIES, o));
    if let Some(p) = b.policy {
        return BehaviorPlan {
            ttls: ttls(b),
            cache: CacheChoice::Managed(p.to_string()),
            origin_request: explicit_orp,
            headers,
        };
    }
    let compress = b.compress.unwrap_or(true);
    let forward = b.forward.cloned().unwrap_or_default();
    let (fh, fc, fq) = (forward.headers.normalized(), forward.cookies.normalized(), forward.query.normalized());
    let mut t = ttls(b);
    let auth = matches!(&fh, Selection::Only(h) if h.iter().any(|h| is_authorization(h)));
    if t.caching_disabled() && auth {
        t.max = 1;
    }
    let name = policy_name(project, env, entry, behavior);
    let (cache_key, orp_fields) = if t.max == 0 {
        (None, Some((fh.clone(), fc.clone(), fq.clone())))
    } else {
        let key_headers = if fh == Selection::All { Selection::None } else { fh.clone() };
        let orp = (fh == Selection::All).then(|| (Selection::All, fc.clone(), fq.clone()));
        (Some((key_headers, fc.clone(), fq.clone())), orp)
    };
    let key_empty = cache_key
        .as_ref()
        .is_none_or(|(h, c, q)| *h == Selection::None && *c == Selection::None && *q == Selection::None);
    let encoding = compress && t.max > 0;
    let fits = |min, default, max| t == Ttls { min, default, max } && key_empty;
    let cache = if fits(0, 0, 0) {
        CacheChoice::Managed("CachingDisabled".into())
    } else if fits(DEFAULT_MIN_TTL, DEFAULT_TTL, DEFAULT_MAX_TTL) {
        CacheChoice::Managed(
            if encoding { "CachingOptimized" } else { "CachingOptimizedForUncompressedObjects" }.to_string(),
        )
    } else {
        let (h, c, q) = cache_key.unwrap_or_default();
        CacheChoice::Custom(json!({
            "name": name,
            "comment": policy_comment(entry, &format!("{behavior} behavior cache key and TTLs")),
            "min_ttl": t.min,
            "default_ttl": t.default,
            "max_ttl": t.max,
            "headers": selection(&h, "none"),
            "cookies": selection(&c, "all"),
            "query_strings": selection(&q, "all"),
            "enable_accept_encoding_gzip": encoding,
            "enable_accept_encoding_brotli": encoding,
        }))
    };
    let origin_request = match orp_fields {
        Some((h, c, q)) if !(h == Selection::None && c == Selection::None && q == Selection::None) => {
            if h == Selection::All && c == Selection::All && q == Selection::All {
                Some(PolicyRef::Managed("AllViewer".into()))
            } else {
                Some(PolicyRef::Custom(json!({
                    "name": name,
                    "comment": policy_comment(entry, &format!("{behavior} behavior origin requests")),
                    "headers": selection(&h, "allViewer"),
                    "cookies": selection(&c, "all"),
                    "query_strings": selection(&q, "all"),
                })))
            }
        }
        _ => explicit_orp,
    };
    BehaviorPlan { ttls: t, cache, origin_request, headers }
}

/// Whether a behavior's `forward` needs an origin request policy of its own.
pub fn forward_needs_origin_request_policy(b: &Behavior<'_>) -> bool {
    let plan = plan_behavior("p", "e", "n", "b", &Behavior { origin_request_policy: None, ..*b });
    plan.origin_request.is_some()
}

/// CloudFront Function or Lambda@Edge, from the ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Function,
    Lambda,
}

pub fn edge_kind(arn: &str) -> Option<EdgeKind> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return None;
    }
    match parts[2] {
        "cloudfront" if parts[5].starts_with("function/") && parts[5].len() > "function/".len() => {
            Some(EdgeKind::Function)
        }
        "lambda" if parts[5].starts_with("function:") => Some(EdgeKind::Lambda),
        _ => None,
    }
}

/// The functions of a behavior: its own `edge_function`, else the entry's.
pub fn behavior_functions<'a>(spec: &'a CloudFrontCdn, b: &Behavior<'a>) -> &'a [EdgeFunction] {
    match b.edge_function.or(spec.edge_function.as_ref()) {
        Some(f) => &f.items,
        None => &[],
    }
}

fn associations(functions: &[EdgeFunction]) -> (Vec<Value>, Vec<Value>) {
    let mut cf = Vec::new();
    let mut lambda = Vec::new();
    for f in functions {
        let Some(arn) = &f.arn else { continue };
        match edge_kind(arn) {
            Some(EdgeKind::Function) => cf.push(json!({"event_type": f.event.as_str(), "function_arn": arn})),
            Some(EdgeKind::Lambda) => lambda.push(json!({
                "event_type": f.event.as_str(),
                "lambda_arn": arn,
                "include_body": f.include_body,
            })),
            None => {}
        }
    }
    (cf, lambda)
}

/// Allowed methods in CloudFront's canonical order; cached methods.
pub fn methods(b: &Behavior<'_>) -> (Vec<&'static str>, Vec<&'static str>) {
    let allowed: Vec<Method> = b.methods.map(|m| m.0.clone()).unwrap_or_else(|| vec![Method::Get, Method::Head]);
    let allowed: Vec<&'static str> = Method::ALL.iter().filter(|m| allowed.contains(m)).map(|m| m.as_str()).collect();
    let mut cached = vec!["GET", "HEAD"];
    if b.cache_options {
        cached.push("OPTIONS");
    }
    (allowed, cached)
}

/// The origin a behavior targets: the named one, else (for rules) the default behavior's, else
/// the only one.
pub fn target_origin<'a>(entry: &'a Entry, b: &Behavior<'a>) -> Option<&'a str> {
    match b.origin.or(entry.spec.cache.origin.as_deref()) {
        Some(o) => Some(o),
        None if entry.origins.len() == 1 => Some(entry.origins[0].0.as_str()),
        None => None,
    }
}

fn origin_json(id: &str, o: &OriginSpec) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("domain_name".into(), json!(o.domain));
    m.insert("origin_path".into(), json!(o.path.clone().unwrap_or_default()));
    match origin_type(o) {
        OriginType::S3 => {
            let mut s3 = Map::new();
            if let Some(oac) = &o.access_control {
                s3.insert("origin_access_control_id".into(), json!(oac));
            }
            m.insert("s3".into(), Value::Object(s3));
        }
        OriginType::Custom => {
            let tls: Vec<&str> =
                o.tls.clone().unwrap_or_else(|| vec![OriginTls::Tls12]).iter().map(|t| t.as_str()).collect();
            m.insert(
                "custom".into(),
                json!({
                    "protocol_policy": origin_protocol(o).as_str(),
                    "http_port": o.http_port.unwrap_or(80),
                    "https_port": o.https_port.unwrap_or(443),
                    "ssl_protocols": tls,
                    "read_timeout": o.read_timeout.map(secs).unwrap_or(30),
                    "keepalive_timeout": o.keepalive_timeout.map(secs).unwrap_or(5),
                }),
            );
        }
    }
    if let Some(r) = &o.shield {
        m.insert("origin_shield_region".into(), json!(r));
    }
    m.insert("custom_headers".into(), json!(o.headers));
    if let Some(n) = o.connection_attempts {
        m.insert("connection_attempts".into(), json!(n));
    }
    if let Some(t) = o.connection_timeout {
        m.insert("connection_timeout".into(), json!(secs(t)));
    }
    Value::Object(m)
}

fn policy_field(m: &mut Map<String, Value>, managed_key: &str, id_key: &str, p: &PolicyRef, custom_ref: &str) {
    match p {
        PolicyRef::Managed(n) => m.insert(managed_key.into(), json!(n)),
        PolicyRef::Id(id) => m.insert(id_key.into(), json!(id)),
        PolicyRef::Custom(_) => m.insert(id_key.into(), json!(custom_ref)),
    };
}

struct Built {
    resources: Vec<Resource>,
}

impl Built {
    fn push(&mut self, segments: &[&str], kind: &str, attrs: Value) {
        if let Ok(address) = Address::from_segments(std::iter::once("cdn").chain(segments.iter().copied())) {
            self.resources.push(Resource {
                address,
                provider: "aws".into(),
                kind: kind.into(),
                attrs,
                depends_on: Vec::new(),
            });
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn behavior_json(
    out: &mut Built,
    project: &str,
    env: &str,
    name: &str,
    entry: &Entry,
    behavior_name: &str,
    path_pattern: Option<&str>,
    b: &Behavior<'_>,
) -> Value {
    let spec = &entry.spec;
    let plan = plan_behavior(project, env, name, behavior_name, b);
    let mut m = Map::new();
    if let Some(p) = path_pattern {
        m.insert("path_pattern".into(), json!(p));
    }
    m.insert("target_origin_id".into(), json!(target_origin(entry, b).unwrap_or_default()));
    m.insert(
        "viewer_protocol_policy".into(),
        json!(b.viewer_protocol.map(|v| v.as_str()).unwrap_or("redirect-to-https")),
    );
    let (allowed, cached) = methods(b);
    m.insert("allowed_methods".into(), json!(allowed));
    m.insert("cached_methods".into(), json!(cached));
    m.insert("compress".into(), json!(b.compress.unwrap_or(true)));
    match &plan.cache {
        CacheChoice::Managed(n) => {
            m.insert("managed_cache_policy".into(), json!(n));
        }
        CacheChoice::Custom(attrs) => {
            out.push(&[name, "cache", behavior_name], KIND_CACHE_POLICY, attrs.clone());
            m.insert("cache_policy_id".into(), json!(format!("${{cdn.{name}.cache.{behavior_name}.id}}")));
        }
    }
    if let Some(p) = &plan.origin_request {
        if let PolicyRef::Custom(attrs) = p {
            out.push(&[name, "origin_request", behavior_name], KIND_ORIGIN_REQUEST_POLICY, attrs.clone());
        }
        let r = format!("${{cdn.{name}.origin_request.{behavior_name}.id}}");
        policy_field(&mut m, "managed_origin_request_policy", "origin_request_policy_id", p, &r);
    }
    if let Some(p) = &plan.headers {
        policy_field(&mut m, "managed_response_headers_policy", "response_headers_policy_id", p, "");
    }
    let (cf, lambda) = associations(behavior_functions(spec, b));
    m.insert("function_associations".into(), Value::Array(cf));
    m.insert("lambda_associations".into(), Value::Array(lambda));
    Value::Object(m)
}

/// Default comment of a distribution.
pub fn default_comment(project: &str, env: &str, name: &str) -> String {
    let c = format!("{project}/{env} cdn.{name} (managed by strata)");
    c.chars().take(128).collect()
}

/// The S3 domain of a logging bucket given by name or domain.
pub fn logging_bucket(bucket: &str) -> String {
    if bucket.ends_with(".amazonaws.com") || bucket.ends_with(".amazonaws.com.cn") {
        bucket.to_string()
    } else {
        format!("{bucket}.s3.amazonaws.com")
    }
}

/// Lowercase, no trailing dot.
pub fn normalize_host(h: &str) -> String {
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// A record's name relative to its zone (`@` for the apex), or `None` when it lies outside.
pub fn relative_name(fqdn: &str, zone: &str) -> Option<String> {
    let (f, z) = (normalize_host(fqdn), normalize_host(zone));
    if f == z {
        return Some("@".into());
    }
    f.strip_suffix(&format!(".{z}")).filter(|r| !r.is_empty()).map(str::to_string)
}

/// The hosts that get alias records.
pub fn dns_hosts(spec: &CloudFrontCdn) -> Vec<String> {
    let Some(dns) = &spec.dns else { return Vec::new() };
    dns.records.clone().unwrap_or_else(|| spec.aliases.clone())
}

/// Every resource of one entry. When validation failed (`valid` false), resources the AWS
/// provider's own checks would also reject are left out: their problem is already reported
/// where the user wrote it, and a second report at the entry would only repeat it.
pub fn entry(project: &str, env: &str, name: &str, entry: &Entry, valid: bool) -> Vec<Resource> {
    let spec = &entry.spec;
    let mut out = Built { resources: Vec::new() };
    let origins: Vec<Value> = entry.origins.iter().map(|(id, _, o)| origin_json(id, o)).collect();
    let default_behavior =
        behavior_json(&mut out, project, env, name, entry, DEFAULT_BEHAVIOR, None, &spec.cache.behavior());
    let names = rule_names(&entry.rules);
    let mut behaviors = Vec::new();
    for ((_, rule), rule_name) in entry.rules.iter().zip(&names) {
        behaviors.push(behavior_json(
            &mut out,
            project,
            env,
            name,
            entry,
            rule_name,
            Some(&rule.path),
            &rule.behavior(),
        ));
    }
    let mut d = Map::new();
    d.insert("comment".into(), json!(spec.comment.clone().unwrap_or_else(|| default_comment(project, env, name))));
    d.insert("enabled".into(), json!(spec.enabled));
    d.insert("aliases".into(), json!(spec.aliases));
    if let Some(c) = &spec.certificate {
        d.insert(
            "viewer_certificate".into(),
            json!({
                "acm_certificate_arn": c.0.arn,
                "minimum_protocol_version": c.0.minimum_tls.map(|m| m.as_str()).unwrap_or("TLSv1.2_2021"),
                "ssl_support_method": c.0.ssl_support.map(|s| s.as_str()).unwrap_or("sni-only"),
            }),
        );
    }
    if let Some(o) = &spec.default_root_object {
        d.insert("default_root_object".into(), json!(o));
    }
    d.insert("origins".into(), Value::Array(origins));
    d.insert("default_cache_behavior".into(), default_behavior);
    d.insert("cache_behaviors".into(), Value::Array(behaviors));
    let errors: Vec<Value> = spec
        .errors
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("error_code".into(), json!(e.code));
            if let Some(page) = &e.page {
                m.insert("response_code".into(), json!(e.status.unwrap_or(e.code)));
                m.insert("response_page_path".into(), json!(page));
            }
            if let Some(t) = e.ttl {
                m.insert("error_caching_min_ttl".into(), json!(secs(t.0)));
            }
            Value::Object(m)
        })
        .collect();
    d.insert("custom_error_responses".into(), Value::Array(errors));
    d.insert("price_class".into(), json!(spec.price_class.aws()));
    let http = match (spec.http2, spec.http3) {
        (true, true) => "http2and3",
        (true, false) => "http2",
        (false, true) => "http3",
        (false, false) => "http1.1",
    };
    d.insert("http_version".into(), json!(http));
    d.insert("ipv6".into(), json!(spec.ipv6));
    if let Some(l) = &spec.logging {
        d.insert(
            "logging".into(),
            json!({"bucket": logging_bucket(&l.bucket), "prefix": l.prefix, "include_cookies": l.cookies}),
        );
    }
    if let Some(w) = &spec.web_acl {
        d.insert("web_acl_id".into(), json!(w));
    }
    d.insert("invalidate_on_change".into(), json!(spec.invalidate_on_change));
    d.insert("tags".into(), json!(spec.tags));
    out.push(&[name], KIND_DISTRIBUTION, Value::Object(d));

    if let Some(dns) = &spec.dns {
        for host in dns_hosts(spec) {
            let Some(rel) = relative_name(&host, &dns.zone) else { continue };
            let segment = rel.replace('.', "_");
            let mut types = vec!["A"];
            if spec.ipv6 {
                types.push("AAAA");
            }
            for t in types {
                out.push(
                    &[name, "dns", &segment, &t.to_ascii_lowercase()],
                    KIND_RECORD,
                    json!({
                        "zone": dns.zone,
                        "private_zone": dns.private,
                        "name": normalize_host(&host),
                        "type": t,
                        "alias": {
                            "dns_name": format!("${{cdn.{name}.domain_name}}"),
                            "hosted_zone_id": CLOUDFRONT_HOSTED_ZONE_ID,
                            "evaluate_target_health": false,
                        },
                    }),
                );
            }
        }
    }
    let mut resources = out.resources;
    if !valid {
        resources.retain(provider_accepts);
    }
    resources
}

/// The AWS provider's offline checks of a resource pass.
fn provider_accepts(r: &Resource) -> bool {
    match r.kind.as_str() {
        KIND_DISTRIBUTION => {
            aws_attrs::parse::<aws_attrs::DistributionAttrs>(&r.attrs).is_ok_and(|a| a.problems().is_empty())
        }
        KIND_CACHE_POLICY => {
            aws_attrs::parse::<aws_attrs::CachePolicyAttrs>(&r.attrs).is_ok_and(|a| a.problems().is_empty())
        }
        KIND_ORIGIN_REQUEST_POLICY => {
            aws_attrs::parse::<aws_attrs::OriginRequestPolicyAttrs>(&r.attrs).is_ok_and(|a| a.problems().is_empty())
        }
        KIND_RECORD => aws_attrs::parse::<aws_attrs::RecordAttrs>(&r.attrs).is_ok_and(|a| a.problems().is_empty()),
        _ => true,
    }
}
