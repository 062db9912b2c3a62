//! The `attrs` documents of each resource kind, as serde types.
//!
//! These are the provider's public, stable shapes (documented in the crate README): the engine's
//! lowering produces them, state stores them, and `read` maps AWS's answers back into them so
//! that a fresh read after an apply diffs clean. Field names are snake_case; every optional field
//! has a documented default, so a minimal document is short.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::managed;

/// A validation problem: the path of keys into `attrs`, and a message.
pub type Problem = (Vec<String>, String);

fn yes() -> bool {
    true
}

/// Deserializes an attrs document, reporting the path of the first offending key.
pub fn parse<T: DeserializeOwned>(attrs: &Value) -> Result<T, Problem> {
    let de = attrs.clone();
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        (path, e.into_inner().to_string())
    })
}

/// Serializes an attrs document (never fails for these types).
pub fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn p(segs: &[&str]) -> Vec<String> {
    segs.iter().map(|s| s.to_string()).collect()
}

fn one_of(out: &mut Vec<Problem>, path: Vec<String>, value: &str, allowed: &[&str], what: &str) {
    if !allowed.contains(&value) {
        out.push((path, format!("invalid {what} `{value}`; expected one of: {}", allowed.join(", "))));
    }
}

// ---------------------------------------------------------------------------------------------
// cloudfront_distribution
// ---------------------------------------------------------------------------------------------

/// `cloudfront_distribution` attrs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionAttrs {
    /// Idempotency key of CreateDistribution. The engine fills it from the state lineage and
    /// the address; when absent the provider derives it from project, env and address.
    /// Immutable after create (changes are ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_reference: Option<String>,
    /// Free-text comment (max 128 characters). Default "".
    #[serde(default)]
    pub comment: String,
    /// Whether the distribution serves traffic. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Alternate domain names (CNAMEs). Default none.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// TLS certificate for the aliases; absent = the `*.cloudfront.net` default certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewer_certificate: Option<ViewerCertificateAttrs>,
    /// Object returned for `/` (`index.html`). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_root_object: Option<String>,
    /// At least one origin.
    pub origins: Vec<OriginAttrs>,
    /// The behavior for requests no ordered behavior matches (`path_pattern` must be absent).
    pub default_cache_behavior: CacheBehaviorAttrs,
    /// Path-based behaviors, in precedence order (`path_pattern` required).
    #[serde(default)]
    pub cache_behaviors: Vec<CacheBehaviorAttrs>,
    /// Custom error pages (SPA fallbacks). Default none.
    #[serde(default)]
    pub custom_error_responses: Vec<CustomErrorResponseAttrs>,
    /// `PriceClass_100` | `PriceClass_200` | `PriceClass_All` (default) | `None`.
    #[serde(default = "default_price_class")]
    pub price_class: String,
    /// `http1.1` | `http2` (default) | `http3` | `http2and3`.
    #[serde(default = "default_http_version")]
    pub http_version: String,
    /// Answer AAAA queries. Default true.
    #[serde(default = "yes")]
    pub ipv6: bool,
    /// Standard (legacy) access logs to an S3 bucket. Absent = off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingAttrs>,
    /// WAF web ACL: a WAFv2 ARN or a WAF Classic id. Absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_acl_id: Option<String>,
    /// Paths to invalidate after an update that changed the distribution config (`["/*"]`).
    /// Not a remote attribute: reads echo the desired value.
    #[serde(default)]
    pub invalidate_on_change: Vec<String>,
    /// User tags. strata adds its ownership tags on top; they never appear here.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_price_class() -> String {
    "PriceClass_All".into()
}
fn default_http_version() -> String {
    "http2".into()
}

/// The viewer certificate: an ACM certificate (in us-east-1) for the aliases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerCertificateAttrs {
    pub acm_certificate_arn: String,
    /// Default `TLSv1.2_2021`.
    #[serde(default = "default_min_tls")]
    pub minimum_protocol_version: String,
    /// `sni-only` (default) | `vip` | `static-ip`.
    #[serde(default = "default_ssl_support")]
    pub ssl_support_method: String,
}

fn default_min_tls() -> String {
    "TLSv1.2_2021".into()
}
fn default_ssl_support() -> String {
    "sni-only".into()
}

/// One origin. Exactly one of `s3` and `custom` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginAttrs {
    /// Unique within the distribution; behaviors point at it with `target_origin_id`.
    pub id: String,
    /// `bucket.s3.us-east-1.amazonaws.com`, `api.example.com`, ...
    pub domain_name: String,
    /// Prefix added to request paths (`/v2`). Default "".
    #[serde(default)]
    pub origin_path: String,
    /// An S3 bucket origin (REST endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3OriginAttrs>,
    /// Any HTTP origin (ALB, API Gateway, S3 website endpoint, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomOriginAttrs>,
    /// Region of the Origin Shield layer; absent = Origin Shield off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_shield_region: Option<String>,
    /// Headers CloudFront adds to origin requests. Default none.
    #[serde(default)]
    pub custom_headers: BTreeMap<String, String>,
    /// 1-3, AWS default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_attempts: Option<i32>,
    /// Seconds, 1-10, AWS default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_timeout: Option<i32>,
}

/// S3 origin settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3OriginAttrs {
    /// Origin access control (OAC) id: CloudFront signs requests to the bucket.
    /// Absent = the bucket must be public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_access_control_id: Option<String>,
}

/// Custom (HTTP) origin settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomOriginAttrs {
    /// `http-only` | `https-only` (default) | `match-viewer`.
    #[serde(default = "default_origin_protocol")]
    pub protocol_policy: String,
    /// Default 80.
    #[serde(default = "default_http_port")]
    pub http_port: i32,
    /// Default 443.
    #[serde(default = "default_https_port")]
    pub https_port: i32,
    /// Default `["TLSv1.2"]`.
    #[serde(default = "default_ssl_protocols")]
    pub ssl_protocols: Vec<String>,
    /// Seconds, default 30.
    #[serde(default = "default_read_timeout")]
    pub read_timeout: i32,
    /// Seconds, default 5.
    #[serde(default = "default_keepalive")]
    pub keepalive_timeout: i32,
}

fn default_origin_protocol() -> String {
    "https-only".into()
}
fn default_http_port() -> i32 {
    80
}
fn default_https_port() -> i32 {
    443
}
fn default_ssl_protocols() -> Vec<String> {
    vec!["TLSv1.2".into()]
}
fn default_read_timeout() -> i32 {
    30
}
fn default_keepalive() -> i32 {
    5
}

/// A cache behavior: the default one or an ordered, path-based one.
///
/// Caching is controlled by a cache policy: `managed_cache_policy` (an AWS managed policy by
/// name) or `cache_policy_id` (any policy, e.g. `${cdn.assets.cache_policy.id}` of a
/// `cloudfront_cache_policy` resource); neither = `CachingOptimized`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheBehaviorAttrs {
    /// `/api/*`; required for ordered behaviors, absent for the default behavior.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_pattern: Option<String>,
    /// The `id` of one of the origins.
    pub target_origin_id: String,
    /// `allow-all` | `https-only` | `redirect-to-https` (default).
    #[serde(default = "default_viewer_protocol")]
    pub viewer_protocol_policy: String,
    /// `["GET","HEAD"]` (default), `["GET","HEAD","OPTIONS"]` or all seven methods.
    #[serde(default = "default_methods")]
    pub allowed_methods: Vec<String>,
    /// `["GET","HEAD"]` (default) or `["GET","HEAD","OPTIONS"]`.
    #[serde(default = "default_methods")]
    pub cached_methods: Vec<String>,
    /// Compress responses (gzip/brotli). Default true.
    #[serde(default = "yes")]
    pub compress: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_policy_id: Option<String>,
    /// `CachingOptimized`, `CachingDisabled`, ... (see README for the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_cache_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_request_policy_id: Option<String>,
    /// `AllViewer`, `CORS-S3Origin`, ... (see README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_origin_request_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_headers_policy_id: Option<String>,
    /// `SecurityHeadersPolicy`, `SimpleCORS`, ... (see README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_response_headers_policy: Option<String>,
    /// CloudFront Functions (viewer-request / viewer-response).
    #[serde(default)]
    pub function_associations: Vec<FunctionAssociationAttrs>,
    /// Lambda@Edge functions (versioned ARNs).
    #[serde(default)]
    pub lambda_associations: Vec<LambdaAssociationAttrs>,
}

fn default_viewer_protocol() -> String {
    "redirect-to-https".into()
}
fn default_methods() -> Vec<String> {
    vec!["GET".into(), "HEAD".into()]
}

/// A CloudFront Function attached to a behavior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionAssociationAttrs {
    /// `viewer-request` | `viewer-response`.
    pub event_type: String,
    /// `arn:aws:cloudfront::123456789012:function/name`.
    pub function_arn: String,
}

/// A Lambda@Edge function attached to a behavior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaAssociationAttrs {
    /// `viewer-request` | `viewer-response` | `origin-request` | `origin-response`.
    pub event_type: String,
    /// A versioned function ARN (`...:function:name:3`).
    pub lambda_arn: String,
    /// Expose the request body to the function. Default false.
    #[serde(default)]
    pub include_body: bool,
}

/// A custom error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomErrorResponseAttrs {
    /// The origin's HTTP status (403, 404, 500, ...).
    pub error_code: i32,
    /// Status returned to the viewer instead (200 for SPA fallbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<i32>,
    /// Object returned instead (`/index.html`); required with `response_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_page_path: Option<String>,
    /// Seconds the error is cached (AWS default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_caching_min_ttl: Option<i64>,
}

/// Standard access logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingAttrs {
    /// `logs-bucket.s3.amazonaws.com`.
    pub bucket: String,
    /// Default "".
    #[serde(default)]
    pub prefix: String,
    /// Default false.
    #[serde(default)]
    pub include_cookies: bool,
}

const VIEWER_PROTOCOLS: &[&str] = &["allow-all", "https-only", "redirect-to-https"];
const METHODS: &[&str] = &["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"];
const PRICE_CLASSES: &[&str] = &["PriceClass_100", "PriceClass_200", "PriceClass_All", "None"];
const HTTP_VERSIONS: &[&str] = &["http1.1", "http2", "http3", "http2and3"];
const ORIGIN_PROTOCOLS: &[&str] = &["http-only", "https-only", "match-viewer"];
const SSL_PROTOCOLS: &[&str] = &["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"];
const SSL_SUPPORT: &[&str] = &["sni-only", "vip", "static-ip"];
const MIN_PROTOCOLS: &[&str] = &[
    "SSLv3",
    "TLSv1",
    "TLSv1_2016",
    "TLSv1.1_2016",
    "TLSv1.2_2018",
    "TLSv1.2_2019",
    "TLSv1.2_2021",
    "TLSv1.2_2025",
    "TLSv1.3_2025",
];
const FUNCTION_EVENTS: &[&str] = &["viewer-request", "viewer-response"];
const LAMBDA_EVENTS: &[&str] = &["viewer-request", "viewer-response", "origin-request", "origin-response"];

impl DistributionAttrs {
    /// Offline checks beyond the shape: enums, references between origins and behaviors,
    /// mutually exclusive fields.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.comment.chars().count() > 128 {
            out.push((p(&["comment"]), "comment is limited to 128 characters".into()));
        }
        one_of(&mut out, p(&["price_class"]), &self.price_class, PRICE_CLASSES, "price class");
        one_of(&mut out, p(&["http_version"]), &self.http_version, HTTP_VERSIONS, "HTTP version");
        if let Some(c) = &self.viewer_certificate {
            if !c.acm_certificate_arn.starts_with("arn:") {
                out.push((
                    p(&["viewer_certificate", "acm_certificate_arn"]),
                    "must be an ACM certificate ARN (arn:aws:acm:us-east-1:...)".into(),
                ));
            }
            one_of(
                &mut out,
                p(&["viewer_certificate", "minimum_protocol_version"]),
                &c.minimum_protocol_version,
                MIN_PROTOCOLS,
                "minimum protocol version",
            );
            one_of(
                &mut out,
                p(&["viewer_certificate", "ssl_support_method"]),
                &c.ssl_support_method,
                SSL_SUPPORT,
                "SSL support method",
            );
        } else if !self.aliases.is_empty() {
            out.push((
                p(&["viewer_certificate"]),
                "aliases need a viewer_certificate (an ACM certificate covering them)".into(),
            ));
        }
        if self.origins.is_empty() {
            out.push((p(&["origins"]), "at least one origin is required".into()));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, o) in self.origins.iter().enumerate() {
            let idx = i.to_string();
            if !ids.insert(o.id.as_str()) {
                out.push((p(&["origins", &idx, "id"]), format!("duplicate origin id `{}`", o.id)));
            }
            if o.domain_name.is_empty() {
                out.push((p(&["origins", &idx, "domain_name"]), "domain_name cannot be empty".into()));
            }
            if !o.origin_path.is_empty() && (!o.origin_path.starts_with('/') || o.origin_path.ends_with('/')) {
                out.push((
                    p(&["origins", &idx, "origin_path"]),
                    "origin_path must start with `/` and not end with `/`".into(),
                ));
            }
            match (&o.s3, &o.custom) {
                (Some(_), Some(_)) => {
                    out.push((p(&["origins", &idx]), "an origin is either `s3` or `custom`, not both".into()))
                }
                (None, None) => out.push((p(&["origins", &idx]), "an origin needs `s3: {}` or `custom: {...}`".into())),
                _ => {}
            }
            if let Some(c) = &o.custom {
                one_of(
                    &mut out,
                    p(&["origins", &idx, "custom", "protocol_policy"]),
                    &c.protocol_policy,
                    ORIGIN_PROTOCOLS,
                    "origin protocol policy",
                );
                for (j, s) in c.ssl_protocols.iter().enumerate() {
                    one_of(
                        &mut out,
                        p(&["origins", &idx, "custom", "ssl_protocols", &j.to_string()]),
                        s,
                        SSL_PROTOCOLS,
                        "SSL protocol",
                    );
                }
                for (name, port) in [("http_port", c.http_port), ("https_port", c.https_port)] {
                    if !(1..=65535).contains(&port) {
                        out.push((p(&["origins", &idx, "custom", name]), format!("port {port} is out of range")));
                    }
                }
            }
        }
        self.default_cache_behavior.problems(&mut out, p(&["default_cache_behavior"]), &ids, true);
        let mut patterns = std::collections::BTreeSet::new();
        for (i, b) in self.cache_behaviors.iter().enumerate() {
            let path = p(&["cache_behaviors", &i.to_string()]);
            b.problems(&mut out, path.clone(), &ids, false);
            if let Some(pp) = &b.path_pattern
                && !patterns.insert(pp.as_str())
            {
                let mut at = path;
                at.push("path_pattern".into());
                out.push((at, format!("duplicate path_pattern `{pp}`")));
            }
        }
        for (i, r) in self.custom_error_responses.iter().enumerate() {
            if !(400..=599).contains(&r.error_code) {
                out.push((
                    p(&["custom_error_responses", &i.to_string(), "error_code"]),
                    "error_code must be a 4xx or 5xx status".into(),
                ));
            }
            if r.response_code.is_some() != r.response_page_path.is_some() {
                out.push((
                    p(&["custom_error_responses", &i.to_string()]),
                    "response_code and response_page_path go together".into(),
                ));
            }
        }
        if let Some(l) = &self.logging
            && l.bucket.is_empty()
        {
            out.push((p(&["logging", "bucket"]), "bucket cannot be empty".into()));
        }
        for (i, path) in self.invalidate_on_change.iter().enumerate() {
            if !path.starts_with('/') {
                out.push((
                    p(&["invalidate_on_change", &i.to_string()]),
                    "invalidation paths start with `/` (`/*`)".into(),
                ));
            }
        }
        for k in self.tags.keys() {
            if strata_sdk::is_ownership_key(k) {
                out.push((p(&["tags", k]), "this tag key is reserved for strata's ownership marks".into()));
            }
        }
        out
    }
}

impl CacheBehaviorAttrs {
    fn problems(
        &self,
        out: &mut Vec<Problem>,
        at: Vec<String>,
        origin_ids: &std::collections::BTreeSet<&str>,
        is_default: bool,
    ) {
        let sub = |s: &str| {
            let mut v = at.clone();
            v.push(s.to_string());
            v
        };
        match (&self.path_pattern, is_default) {
            (Some(_), true) => out.push((sub("path_pattern"), "the default cache behavior has no path_pattern".into())),
            (None, false) => out.push((sub("path_pattern"), "ordered cache behaviors need a path_pattern".into())),
            _ => {}
        }
        if !origin_ids.contains(self.target_origin_id.as_str()) {
            out.push((sub("target_origin_id"), format!("no origin has id `{}`", self.target_origin_id)));
        }
        one_of(
            out,
            sub("viewer_protocol_policy"),
            &self.viewer_protocol_policy,
            VIEWER_PROTOCOLS,
            "viewer protocol policy",
        );
        let allowed_sets: [&[&str]; 3] = [&["GET", "HEAD"], &["GET", "HEAD", "OPTIONS"], METHODS];
        let same_set =
            |v: &[String], set: &[&str]| v.len() == set.len() && set.iter().all(|m| v.iter().any(|x| x == m));
        if !allowed_sets.iter().any(|s| same_set(&self.allowed_methods, s)) {
            out.push((
                sub("allowed_methods"),
                "allowed_methods must be [GET, HEAD], [GET, HEAD, OPTIONS] or all of GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE".into(),
            ));
        }
        if !allowed_sets[..2].iter().any(|s| same_set(&self.cached_methods, s)) {
            out.push((sub("cached_methods"), "cached_methods must be [GET, HEAD] or [GET, HEAD, OPTIONS]".into()));
        } else if !self.cached_methods.iter().all(|m| self.allowed_methods.contains(m)) {
            out.push((sub("cached_methods"), "cached_methods must be a subset of allowed_methods".into()));
        }
        check_policy_pair(
            out,
            &sub("cache_policy_id"),
            &sub("managed_cache_policy"),
            self.cache_policy_id.as_deref(),
            self.managed_cache_policy.as_deref(),
            managed::CACHE_POLICIES,
            "cache",
        );
        check_policy_pair(
            out,
            &sub("origin_request_policy_id"),
            &sub("managed_origin_request_policy"),
            self.origin_request_policy_id.as_deref(),
            self.managed_origin_request_policy.as_deref(),
            managed::ORIGIN_REQUEST_POLICIES,
            "origin request",
        );
        check_policy_pair(
            out,
            &sub("response_headers_policy_id"),
            &sub("managed_response_headers_policy"),
            self.response_headers_policy_id.as_deref(),
            self.managed_response_headers_policy.as_deref(),
            managed::RESPONSE_HEADERS_POLICIES,
            "response headers",
        );
        for (i, f) in self.function_associations.iter().enumerate() {
            let mut at = sub("function_associations");
            at.push(i.to_string());
            let mut ev = at.clone();
            ev.push("event_type".into());
            one_of(out, ev, &f.event_type, FUNCTION_EVENTS, "function event type");
            if !f.function_arn.starts_with("arn:") {
                at.push("function_arn".into());
                out.push((at, "must be a CloudFront Function ARN".into()));
            }
        }
        for (i, f) in self.lambda_associations.iter().enumerate() {
            let mut at = sub("lambda_associations");
            at.push(i.to_string());
            let mut ev = at.clone();
            ev.push("event_type".into());
            one_of(out, ev, &f.event_type, LAMBDA_EVENTS, "Lambda@Edge event type");
            if !f.lambda_arn.starts_with("arn:") {
                at.push("lambda_arn".into());
                out.push((at, "must be a versioned Lambda function ARN".into()));
            }
        }
    }

    /// The cache policy id this behavior uses (`CachingOptimized` when none is named).
    pub fn effective_cache_policy_id(&self) -> String {
        self.cache_policy_id
            .clone()
            .or_else(|| {
                self.managed_cache_policy
                    .as_deref()
                    .and_then(|n| managed::id_by_name(managed::CACHE_POLICIES, n))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| {
                managed::id_by_name(managed::CACHE_POLICIES, "CachingOptimized").unwrap_or_default().to_string()
            })
    }

    pub fn effective_origin_request_policy_id(&self) -> Option<String> {
        self.origin_request_policy_id.clone().or_else(|| {
            self.managed_origin_request_policy
                .as_deref()
                .and_then(|n| managed::id_by_name(managed::ORIGIN_REQUEST_POLICIES, n))
                .map(str::to_string)
        })
    }

    pub fn effective_response_headers_policy_id(&self) -> Option<String> {
        self.response_headers_policy_id.clone().or_else(|| {
            self.managed_response_headers_policy
                .as_deref()
                .and_then(|n| managed::id_by_name(managed::RESPONSE_HEADERS_POLICIES, n))
                .map(str::to_string)
        })
    }
}

fn check_policy_pair(
    out: &mut Vec<Problem>,
    id_path: &[String],
    name_path: &[String],
    id: Option<&str>,
    name: Option<&str>,
    table: &[(&str, &'static str)],
    what: &str,
) {
    if id.is_some() && name.is_some() {
        out.push((
            id_path.to_vec(),
            format!("set either the {what} policy id or the managed {what} policy name, not both"),
        ));
    }
    if let Some(id) = id
        && id.is_empty()
    {
        out.push((id_path.to_vec(), format!("{what} policy id cannot be empty")));
    }
    if let Some(n) = name
        && managed::id_by_name(table, n).is_none()
    {
        let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        out.push((name_path.to_vec(), format!("unknown managed {what} policy `{n}`; known: {}", known.join(", "))));
    }
}

// ---------------------------------------------------------------------------------------------
// cloudfront_cache_policy / cloudfront_origin_request_policy
// ---------------------------------------------------------------------------------------------

/// Which headers, cookies or query strings a policy includes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionAttrs {
    /// `none` (default) | `whitelist` | `allExcept` | `all` | (headers of origin request
    /// policies also: `allViewer`, `allViewerAndWhitelistCloudFront`).
    #[serde(default = "default_behavior")]
    pub behavior: String,
    /// Names for `whitelist` / `allExcept` / `allViewerAndWhitelistCloudFront`.
    #[serde(default)]
    pub items: Vec<String>,
}

fn default_behavior() -> String {
    "none".into()
}

impl Default for SelectionAttrs {
    fn default() -> Self {
        SelectionAttrs { behavior: default_behavior(), items: Vec::new() }
    }
}

impl SelectionAttrs {
    fn problems(&self, out: &mut Vec<Problem>, field: &str, allowed: &[&str]) {
        one_of(out, p(&[field, "behavior"]), &self.behavior, allowed, "behavior");
        let takes_items =
            matches!(self.behavior.as_str(), "whitelist" | "allExcept" | "allViewerAndWhitelistCloudFront");
        if takes_items && self.items.is_empty() {
            out.push((p(&[field, "items"]), format!("behavior `{}` needs at least one item", self.behavior)));
        }
        if !takes_items && !self.items.is_empty() {
            out.push((p(&[field, "items"]), format!("behavior `{}` takes no items", self.behavior)));
        }
    }
}

/// `cloudfront_cache_policy` attrs: a custom cache policy (TTLs and cache key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePolicyAttrs {
    /// Unique in the account; the policy's identity when strata has no remote id yet.
    pub name: String,
    #[serde(default)]
    pub comment: String,
    /// Seconds. Default 0.
    #[serde(default)]
    pub min_ttl: i64,
    /// Seconds. Default 86400.
    #[serde(default = "default_default_ttl")]
    pub default_ttl: i64,
    /// Seconds. Default 31536000.
    #[serde(default = "default_max_ttl")]
    pub max_ttl: i64,
    /// Headers in the cache key: `none` | `whitelist`.
    #[serde(default)]
    pub headers: SelectionAttrs,
    /// Cookies in the cache key: `none` | `whitelist` | `allExcept` | `all`.
    #[serde(default)]
    pub cookies: SelectionAttrs,
    /// Query strings in the cache key: `none` | `whitelist` | `allExcept` | `all`.
    #[serde(default)]
    pub query_strings: SelectionAttrs,
    /// Default true.
    #[serde(default = "yes")]
    pub enable_accept_encoding_gzip: bool,
    /// Default true.
    #[serde(default = "yes")]
    pub enable_accept_encoding_brotli: bool,
}

fn default_default_ttl() -> i64 {
    86_400
}
fn default_max_ttl() -> i64 {
    31_536_000
}

impl CachePolicyAttrs {
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        policy_name_problems(&mut out, &self.name, &self.comment);
        if self.min_ttl < 0 {
            out.push((p(&["min_ttl"]), "TTLs cannot be negative".into()));
        }
        if self.default_ttl < self.min_ttl {
            out.push((p(&["default_ttl"]), "default_ttl must be >= min_ttl".into()));
        }
        if self.max_ttl < self.default_ttl {
            out.push((p(&["max_ttl"]), "max_ttl must be >= default_ttl".into()));
        }
        self.headers.problems(&mut out, "headers", &["none", "whitelist"]);
        self.cookies.problems(&mut out, "cookies", &["none", "whitelist", "allExcept", "all"]);
        self.query_strings.problems(&mut out, "query_strings", &["none", "whitelist", "allExcept", "all"]);
        out
    }
}

/// `cloudfront_origin_request_policy` attrs: what CloudFront forwards to the origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginRequestPolicyAttrs {
    /// Unique in the account.
    pub name: String,
    #[serde(default)]
    pub comment: String,
    /// `none` | `whitelist` | `allViewer` | `allViewerAndWhitelistCloudFront` | `allExcept`.
    #[serde(default)]
    pub headers: SelectionAttrs,
    /// `none` | `whitelist` | `all` | `allExcept`.
    #[serde(default)]
    pub cookies: SelectionAttrs,
    /// `none` | `whitelist` | `all` | `allExcept`.
    #[serde(default)]
    pub query_strings: SelectionAttrs,
}

impl OriginRequestPolicyAttrs {
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        policy_name_problems(&mut out, &self.name, &self.comment);
        self.headers.problems(
            &mut out,
            "headers",
            &["none", "whitelist", "allViewer", "allViewerAndWhitelistCloudFront", "allExcept"],
        );
        self.cookies.problems(&mut out, "cookies", &["none", "whitelist", "all", "allExcept"]);
        self.query_strings.problems(&mut out, "query_strings", &["none", "whitelist", "all", "allExcept"]);
        out
    }
}

fn policy_name_problems(out: &mut Vec<Problem>, name: &str, comment: &str) {
    if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        out.push((p(&["name"]), "name must be 1-128 characters of letters, digits, `-` and `_`".into()));
    }
    if comment.chars().count() > 128 {
        out.push((p(&["comment"]), "comment is limited to 128 characters".into()));
    }
}

// ---------------------------------------------------------------------------------------------
// route53_record
// ---------------------------------------------------------------------------------------------

/// `route53_record` attrs: one record set (name + type) in a hosted zone found by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordAttrs {
    /// The hosted zone's name (`example.com`), looked up with ListHostedZonesByName.
    pub zone: String,
    /// Pick the private zone of that name instead of the public one. Default false.
    #[serde(default)]
    pub private_zone: bool,
    /// The record name: a fully qualified name inside the zone (`cdn.example.com`), a name
    /// relative to the zone (`cdn`), or `@` for the apex.
    pub name: String,
    /// `A` | `AAAA` | `CNAME` | `TXT` | `MX` | `NS` | `SRV` | `CAA` | ...
    #[serde(rename = "type")]
    pub record_type: String,
    /// Seconds, for plain records (default 300); not used with `alias`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// Values of a plain record. TXT values are given unquoted; strata quotes them.
    #[serde(default)]
    pub records: Vec<String>,
    /// An alias record (A/AAAA) to an AWS target, typically a CloudFront distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasAttrs>,
    /// Tells apart the records of one name and type under failover or weighted routing
    /// (`SetIdentifier`). Absent = simple routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    /// Failover routing: `PRIMARY` or `SECONDARY` (needs `set_identifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
    /// Weighted routing: 0-255, relative to the other records of the name (needs
    /// `set_identifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// The health check whose status decides whether Route 53 answers with this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
}

/// An alias target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasAttrs {
    /// The target's DNS name (`d111111abcdef8.cloudfront.net`).
    pub dns_name: String,
    /// The target's hosted zone; default `Z2FDTNDATAQYW2` (every CloudFront distribution).
    #[serde(default = "cloudfront_zone")]
    pub hosted_zone_id: String,
    /// Default false (CloudFront targets do not support health evaluation).
    #[serde(default)]
    pub evaluate_target_health: bool,
}

/// The hosted zone id of every CloudFront distribution, for alias records.
pub const CLOUDFRONT_HOSTED_ZONE_ID: &str = "Z2FDTNDATAQYW2";

fn cloudfront_zone() -> String {
    CLOUDFRONT_HOSTED_ZONE_ID.into()
}

const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP", "SVCB",
    "TLSA", "TXT",
];

impl RecordAttrs {
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.zone.trim_end_matches('.').is_empty() {
            out.push((p(&["zone"]), "zone cannot be empty".into()));
        }
        if self.name.is_empty() {
            out.push((p(&["name"]), "name cannot be empty (use `@` for the apex)".into()));
        }
        one_of(&mut out, p(&["type"]), &self.record_type, RECORD_TYPES, "record type");
        match &self.alias {
            Some(a) => {
                if !self.records.is_empty() {
                    out.push((p(&["records"]), "an alias record has no records".into()));
                }
                if self.ttl.is_some() {
                    out.push((p(&["ttl"]), "an alias record has no ttl (the target's is used)".into()));
                }
                if a.dns_name.is_empty() {
                    out.push((p(&["alias", "dns_name"]), "dns_name cannot be empty".into()));
                }
                if !matches!(
                    self.record_type.as_str(),
                    "A" | "AAAA" | "CNAME" | "TXT" | "MX" | "SRV" | "CAA" | "NAPTR" | "PTR" | "SPF" | "HTTPS" | "SVCB"
                ) {
                    out.push((p(&["type"]), format!("type {} cannot be an alias", self.record_type)));
                }
            }
            None => {
                if self.records.is_empty() {
                    out.push((p(&["records"]), "a record needs `records` or an `alias`".into()));
                }
                if let Some(t) = self.ttl
                    && !(0..=2_147_483_647).contains(&t)
                {
                    out.push((p(&["ttl"]), "ttl out of range".into()));
                }
                if self.record_type == "CNAME" && self.records.len() > 1 {
                    out.push((p(&["records"]), "a CNAME record has exactly one value".into()));
                }
            }
        }
        self.routing_problems(&mut out);
        out
    }

    fn routing_problems(&self, out: &mut Vec<Problem>) {
        if let Some(id) = &self.set_identifier
            && (id.is_empty() || id.len() > 128)
        {
            out.push((p(&["set_identifier"]), "set_identifier must be 1-128 characters".into()));
        }
        if let Some(f) = &self.failover {
            one_of(out, p(&["failover"]), f, &["PRIMARY", "SECONDARY"], "failover role");
        }
        if let Some(w) = self.weight
            && !(0..=255).contains(&w)
        {
            out.push((p(&["weight"]), format!("weight {w} is out of range 0-255")));
        }
        if self.failover.is_some() && self.weight.is_some() {
            out.push((p(&["weight"]), "a record is either failover or weighted, not both".into()));
        }
        let routed = self.failover.is_some() || self.weight.is_some();
        if routed != self.set_identifier.is_some() {
            out.push((
                p(&["set_identifier"]),
                "failover and weighted records need a set_identifier, and only they take one".into(),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// route53_health_check
// ---------------------------------------------------------------------------------------------

/// `route53_health_check` attrs: an HTTP(S) check of one endpoint by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckAttrs {
    /// The endpoint checked (`d111111abcdef8.cloudfront.net`).
    pub fqdn: String,
    /// `HTTPS` | `HTTP` | `HTTPS_STR_MATCH` | `HTTP_STR_MATCH` | `TCP`. Default `HTTPS`.
    /// Immutable.
    #[serde(default = "https", rename = "type")]
    pub check_type: String,
    /// The path requested (`/healthz`). Default `/`.
    #[serde(default = "slash")]
    pub resource_path: String,
    /// Default 443 for HTTPS, 80 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Seconds between checks from each checker: 10 or 30. Default 30. Immutable.
    #[serde(default = "thirty")]
    pub request_interval: i32,
    /// Consecutive failures (or successes) that flip the status: 1-10. Default 3.
    #[serde(default = "three")]
    pub failure_threshold: i32,
    /// Send the host name in the TLS handshake (SNI). Default true for HTTPS.
    #[serde(default = "yes")]
    pub enable_sni: bool,
}

fn https() -> String {
    "HTTPS".into()
}
fn slash() -> String {
    "/".into()
}
fn thirty() -> i32 {
    30
}
fn three() -> i32 {
    3
}

const HEALTH_CHECK_TYPES: &[&str] = &["HTTPS", "HTTP", "HTTPS_STR_MATCH", "HTTP_STR_MATCH", "TCP"];

impl HealthCheckAttrs {
    /// The port checked: the explicit one, else the scheme's.
    pub fn effective_port(&self) -> i32 {
        self.port.unwrap_or(if self.check_type.starts_with("HTTPS") { 443 } else { 80 })
    }

    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.fqdn.is_empty() || self.fqdn.len() > 255 {
            out.push((p(&["fqdn"]), "fqdn must be 1-255 characters".into()));
        }
        one_of(&mut out, p(&["type"]), &self.check_type, HEALTH_CHECK_TYPES, "health check type");
        if !self.resource_path.starts_with('/') || self.resource_path.len() > 255 {
            out.push((p(&["resource_path"]), "resource_path starts with `/` and has at most 255 characters".into()));
        }
        if let Some(port) = self.port
            && !(1..=65535).contains(&port)
        {
            out.push((p(&["port"]), format!("port {port} is out of range 1-65535")));
        }
        if !matches!(self.request_interval, 10 | 30) {
            out.push((p(&["request_interval"]), "request_interval is 10 or 30 seconds".into()));
        }
        if !(1..=10).contains(&self.failure_threshold) {
            out.push((p(&["failure_threshold"]), "failure_threshold is 1-10".into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minimal_distribution_fills_defaults() {
        let d: DistributionAttrs = parse(&json!({
            "origins": [{"id": "web", "domain_name": "b.s3.us-east-1.amazonaws.com", "s3": {}}],
            "default_cache_behavior": {"target_origin_id": "web"}
        }))
        .unwrap();
        assert!(d.enabled && d.ipv6);
        assert_eq!(d.http_version, "http2");
        assert_eq!(d.default_cache_behavior.viewer_protocol_policy, "redirect-to-https");
        assert_eq!(d.default_cache_behavior.effective_cache_policy_id(), "658327ea-f89d-4fab-a63d-7e88639e58f6");
        assert!(d.problems().is_empty(), "{:?}", d.problems());
    }

    #[test]
    fn reports_paths_of_shape_errors() {
        let e = parse::<DistributionAttrs>(&json!({
            "origins": [{"id": "web", "domain_name": "x", "s3": {"oac": "E1"}}],
            "default_cache_behavior": {"target_origin_id": "web"}
        }))
        .unwrap_err();
        assert_eq!(e.0, vec!["origins", "0", "s3", "oac"]);
    }

    #[test]
    fn reports_semantic_problems() {
        let d: DistributionAttrs = parse(&json!({
            "aliases": ["cdn.example.com"],
            "origins": [
                {"id": "web", "domain_name": "x", "s3": {}, "custom": {}},
                {"id": "web", "domain_name": "y", "custom": {"protocol_policy": "ftp"}}
            ],
            "default_cache_behavior": {"target_origin_id": "nope", "managed_cache_policy": "Fast",
                "allowed_methods": ["GET"]},
            "cache_behaviors": [{"target_origin_id": "web",
                "function_associations": [{"event_type": "origin-request", "function_arn": "arn:x"}]}],
            "tags": {"strata.dev/address": "x"}
        }))
        .unwrap();
        let problems: Vec<String> = d.problems().into_iter().map(|(p, _)| p.join(".")).collect();
        for want in [
            "viewer_certificate",
            "origins.0",
            "origins.1.id",
            "origins.1.custom.protocol_policy",
            "default_cache_behavior.target_origin_id",
            "default_cache_behavior.managed_cache_policy",
            "default_cache_behavior.allowed_methods",
            "cache_behaviors.0.path_pattern",
            "cache_behaviors.0.function_associations.0.event_type",
            "tags.strata.dev/address",
        ] {
            assert!(problems.contains(&want.to_string()), "{want} missing from {problems:?}");
        }
    }

    #[test]
    fn policies_and_records_validate() {
        let c: CachePolicyAttrs = parse(&json!({
            "name": "assets", "default_ttl": 60, "max_ttl": 30,
            "headers": {"behavior": "whitelist"}
        }))
        .unwrap();
        let probs: Vec<String> = c.problems().into_iter().map(|(p, _)| p.join(".")).collect();
        assert!(probs.contains(&"max_ttl".to_string()));
        assert!(probs.contains(&"headers.items".to_string()));
        let r: RecordAttrs = parse(&json!({
            "zone": "example.com", "name": "cdn", "type": "A",
            "alias": {"dns_name": "d1.cloudfront.net"}
        }))
        .unwrap();
        assert!(r.problems().is_empty());
        assert_eq!(r.alias.unwrap().hosted_zone_id, CLOUDFRONT_HOSTED_ZONE_ID);
        let bad: RecordAttrs = parse(&json!({"zone": "example.com", "name": "x", "type": "A"})).unwrap();
        assert_eq!(bad.problems()[0].0, vec!["records"]);
    }

    #[test]
    fn routed_records_and_health_checks() {
        let r: RecordAttrs = parse(&json!({
            "zone": "example.com", "name": "www", "type": "CNAME", "ttl": 60, "records": ["a.example.net"],
            "set_identifier": "a", "failover": "PRIMARY", "health_check_id": "abc"
        }))
        .unwrap();
        assert!(r.problems().is_empty(), "{:?}", r.problems());
        let w: RecordAttrs = parse(&json!({
            "zone": "example.com", "name": "www", "type": "CNAME", "records": ["a.example.net"], "weight": 300
        }))
        .unwrap();
        let paths: Vec<_> = w.problems().into_iter().map(|(p, _)| p.join(".")).collect();
        assert_eq!(paths, ["weight", "set_identifier"]);
        let h: HealthCheckAttrs = parse(&json!({"fqdn": "d1.cloudfront.net", "resource_path": "/healthz"})).unwrap();
        assert!(h.problems().is_empty());
        assert_eq!((h.check_type.as_str(), h.effective_port(), h.request_interval), ("HTTPS", 443, 30));
        let bad: HealthCheckAttrs = parse(&json!({"fqdn": "x", "request_interval": 20})).unwrap();
        assert_eq!(bad.problems()[0].0, vec!["request_interval"]);
    }
}
