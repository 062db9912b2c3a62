//! Typed configuration of one `cdn.<name>` entry served by Cloudflare. The JSON Schema of the
//! entry is generated from these types.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::lower::cdn::cloudfront::Ttl;

/// `cdn.<name>` with `provider: cloudflare`: a proxied DNS record for the hostname (or, with
/// several origins, a load balancer failing over between one pool per origin), cache rules in
/// the zone's cache phase, and optionally a Worker on the hostname.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCloudflare")]
pub struct CloudflareCdn {
    /// The CDN that serves this entry: `cloudflare`.
    #[allow(dead_code)] // checked by the section before decoding; here for the schema
    pub provider: CdnProvider,
    /// The zone (`example.com`). Default: `providers.cloudflare.zone`.
    #[serde(default)]
    pub zone: Option<String>,
    /// The hostname Cloudflare serves (`static.example.com`, inside the zone). Default
    /// `<name>.<zone>`.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The single origin: a proxied CNAME from the hostname to it.
    #[serde(default)]
    pub origin: Option<Origin>,
    /// Several origins in failover order: a load balancer with one pool per origin, the first
    /// healthy one serving (the last is the fallback).
    #[serde(default)]
    pub origins: Vec<NamedOrigin>,
    /// Health checks of the origins (with `origins`).
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// Edge caching: `default_ttl` for the hostname, and path `rules` in precedence order.
    #[serde(default)]
    pub cache: CacheSpec,
    /// A Worker module run on every request of the hostname.
    #[serde(default)]
    pub edge_function: Option<EdgeFunction>,
    /// Paths purged from the cache after an update of the cache rules: `/*` purges everything.
    #[serde(default)]
    pub invalidate_on_change: Vec<String>,
}

/// This target's `provider:` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "CdnCloudflareProvider")]
pub enum CdnProvider {
    Cloudflare,
}

/// One origin host.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCloudflareOrigin")]
pub struct Origin {
    /// Host name of the origin, without scheme or path.
    pub domain: String,
}

/// One origin of a failover list.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCloudflareNamedOrigin")]
pub struct NamedOrigin {
    /// Names its pool: lowercase letters, digits and `-`.
    pub name: String,
    /// Host name of the origin, without scheme or path.
    pub domain: String,
}

/// The health check of a failover entry's origins.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCloudflareHealthCheck")]
pub struct HealthCheck {
    /// The path requested over HTTPS (`/healthz`).
    pub path: String,
    /// Expected status code or range (`200`, `2xx`). Default `200`.
    #[serde(default)]
    pub expected_codes: Option<String>,
}

/// `cache:`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCloudflareCache")]
pub struct CacheSpec {
    /// How long the edge keeps responses of the hostname (`1d`); `0` bypasses the cache.
    #[serde(default)]
    pub default_ttl: Option<Ttl>,
    /// Path rules, later ones winning where several match.
    #[serde(default)]
    pub rules: Vec<CacheRule>,
}

/// One path rule.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCloudflareCacheRule")]
pub struct CacheRule {
    /// A path prefix, with an optional trailing `*` (`/api/*`).
    pub path: String,
    /// Edge TTL for matching requests; `0` bypasses the cache.
    pub ttl: Ttl,
}

/// `edge_function:`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnCloudflareEdgeFunction")]
pub struct EdgeFunction {
    /// The Worker module file (ES module exporting `fetch`), relative to strata.yaml.
    pub code: String,
    /// Workers runtime compatibility date. Default `2024-09-01`.
    #[serde(default)]
    pub compatibility_date: Option<String>,
}
