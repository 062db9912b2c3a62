//! Typed configuration of one `cdn.<name>` entry served by Azure Front Door. The JSON Schema of
//! the entry is generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::lower::cdn::cloudfront::Ttl;

/// `cdn.<name>` with `provider: azure`: an Azure Front Door Standard/Premium profile with one
/// endpoint (`*.azurefd.net`), an origin group with its origins, one route, cache rules and
/// response headers in a rule set, optionally a custom domain with a managed certificate and a
/// WAF policy linked by a security policy.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnAzure")]
pub struct AzureCdn {
    /// The CDN that serves this entry: `azure`.
    #[allow(dead_code)] // checked by the section before decoding; here for the schema
    pub provider: CdnProvider,
    /// The Front Door tier. Default `standard`; `premium` adds private link origins and managed
    /// WAF rule sets.
    #[serde(default)]
    pub sku: Sku,
    /// The single origin.
    #[serde(default)]
    pub origin: Option<Origin>,
    /// Several origins: traffic goes to the healthy ones with the lowest `priority`, split by
    /// `weight`.
    #[serde(default)]
    pub origins: Vec<NamedOrigin>,
    /// Health probes of the origins.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// How Front Door picks among healthy origins.
    #[serde(default)]
    pub load_balancing: Option<LoadBalancing>,
    /// Path patterns the route serves. Default `["/*"]`.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// The protocol Front Door uses to reach the origins. Default `https_only`.
    #[serde(default)]
    pub forwarding_protocol: ForwardingProtocol,
    /// Redirect HTTP requests to HTTPS. Default `true`.
    #[serde(default = "yes")]
    pub https_redirect: bool,
    /// Edge caching; without it the route does not cache.
    #[serde(default)]
    pub cache: Option<CacheSpec>,
    /// Response headers set on every answer (`X-Frame-Options: DENY`).
    #[serde(default)]
    pub response_headers: BTreeMap<String, String>,
    /// A custom domain (`www.example.com`) with a Front Door managed certificate; its DNS TXT
    /// validation token is the output `${cdn.<name>.domain.validation_token}`.
    #[serde(default)]
    pub custom_domain: Option<String>,
    /// The ARM id of a Front Door WAF policy
    /// (`/subscriptions/../providers/Microsoft.Network/frontDoorWebApplicationFirewallPolicies/..`)
    /// applied to the endpoint (and the custom domain) by a security policy.
    #[serde(default)]
    pub waf_policy: Option<String>,
    /// Tags of the profile and endpoint.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// This target's `provider:` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "CdnAzureProvider")]
pub enum CdnProvider {
    Azure,
}

/// The Front Door tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "CdnAzureSku")]
pub enum Sku {
    #[default]
    Standard,
    Premium,
}

/// `forwarding_protocol:`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "CdnAzureForwardingProtocol")]
pub enum ForwardingProtocol {
    #[default]
    HttpsOnly,
    HttpOnly,
    MatchRequest,
}

/// One origin host.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnAzureOrigin")]
pub struct Origin {
    /// Host name of the origin, without scheme or path.
    pub domain: String,
    /// The Host header sent to the origin. Default: the origin's host name.
    #[serde(default)]
    pub host_header: Option<String>,
}

/// One origin of several.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnAzureNamedOrigin")]
pub struct NamedOrigin {
    /// Names the origin: lowercase letters, digits and `-`.
    pub name: String,
    /// Host name of the origin, without scheme or path.
    pub domain: String,
    /// 1 (preferred) to 5. Default 1.
    #[serde(default)]
    pub priority: Option<u32>,
    /// 1 to 1000, among origins of one priority. Default 1000.
    #[serde(default)]
    pub weight: Option<u32>,
    /// The Host header sent to the origin. Default: the origin's host name.
    #[serde(default)]
    pub host_header: Option<String>,
}

/// Probe protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "CdnAzureProbeProtocol")]
pub enum ProbeProtocol {
    Http,
    #[default]
    Https,
}

/// `health_check:`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnAzureHealthCheck")]
pub struct HealthCheck {
    /// The path probed (`/healthz`).
    pub path: String,
    /// Default `https`.
    #[serde(default)]
    pub protocol: ProbeProtocol,
    /// Seconds between probes, 1 to 255. Default 100.
    #[serde(default)]
    pub interval: Option<u32>,
}

/// `load_balancing:`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnAzureLoadBalancing")]
pub struct LoadBalancing {
    /// Probe results considered per decision. Default 4.
    #[serde(default)]
    pub sample_size: Option<u32>,
    /// Of those, successes needed for an origin to be healthy. Default 3.
    #[serde(default)]
    pub successful_samples: Option<u32>,
    /// Milliseconds of extra latency within which origins count as equally fast. Default 50.
    #[serde(default)]
    pub latency_sensitivity_ms: Option<u32>,
}

/// Query strings in the cache key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "CdnAzureQueryString")]
pub enum QueryString {
    /// One cached copy whatever the query string.
    #[default]
    Ignore,
    /// Each query string its own copy.
    Use,
}

/// `cache:`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnAzureCache")]
pub struct CacheSpec {
    /// Default `ignore`.
    #[serde(default)]
    pub query_string: QueryString,
    /// Compress text content types at the edge. Default `true`.
    #[serde(default = "yes")]
    pub compression: bool,
    /// Path rules overriding the origin's cache lifetime, in order.
    #[serde(default)]
    pub rules: Vec<CacheRule>,
}

/// One path rule.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnAzureCacheRule")]
pub struct CacheRule {
    /// A path (`/index.html`) or a prefix with a trailing `*` (`/static/*`).
    pub path: String,
    /// How long the edge keeps matching responses; `0` bypasses the cache.
    pub ttl: Ttl,
}
