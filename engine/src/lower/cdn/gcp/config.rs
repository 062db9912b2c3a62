//! Typed configuration of one `cdn.<name>` entry served by Google Cloud CDN. The JSON Schema of
//! the entry is generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::lower::cdn::cloudfront::Ttl;

/// `cdn.<name>` with `provider: gcp`: a global external HTTPS load balancer with Cloud CDN on
/// Cloud Storage backend buckets: a URL map routing paths to buckets, a Google-managed
/// certificate for the hostnames, an HTTPS proxy, a static IP and its forwarding rule, and an
/// HTTP-to-HTTPS redirect on port 80.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnGcp")]
pub struct GcpCdn {
    /// The CDN that serves this entry: `gcp`.
    #[allow(dead_code)] // checked by the section before decoding; here for the schema
    pub provider: CdnProvider,
    /// The host names served (`static.example.com`): the managed certificate's domains (at most
    /// 100). Point their DNS at `${cdn.<name>.ip.address}`; the certificate stays PROVISIONING until
    /// then.
    pub hostnames: Vec<String>,
    /// The single origin: a Cloud Storage bucket.
    #[serde(default)]
    pub origin: Option<BucketOrigin>,
    /// Several origins by name; `cache.origin` names the default one, `cache.rules` route paths
    /// to the others.
    #[serde(default)]
    pub origins: BTreeMap<String, BucketOrigin>,
    /// Cloud CDN caching of every backend bucket, and the path rules of the URL map.
    #[serde(default)]
    pub cache: GcpCache,
    /// Answer plain HTTP on port 80 with a redirect to HTTPS (a second URL map, HTTP proxy and
    /// forwarding rule on the same IP). Default `true`.
    #[serde(default = "yes")]
    pub http_redirect: bool,
}

fn yes() -> bool {
    true
}

/// This target's `provider:` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "CdnGcpProvider")]
pub enum CdnProvider {
    Gcp,
}

/// A Cloud Storage bucket origin.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnGcpBucketOrigin")]
pub struct BucketOrigin {
    /// The bucket's name (`shop-assets`), without `gs://`.
    pub bucket: String,
}

/// How Cloud CDN decides what to cache (`cdnPolicy.cacheMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "CdnGcpCacheMode")]
pub enum CacheMode {
    /// Static content (by content type) and whatever the origin marks cacheable.
    #[default]
    CacheAllStatic,
    /// Only what the origin's `Cache-Control` allows; no TTLs may be set.
    UseOriginHeaders,
    /// Every successful response, ignoring `private`/`no-store`: only for public content.
    ForceCacheAll,
}

impl CacheMode {
    pub fn api(self) -> &'static str {
        match self {
            CacheMode::CacheAllStatic => "CACHE_ALL_STATIC",
            CacheMode::UseOriginHeaders => "USE_ORIGIN_HEADERS",
            CacheMode::ForceCacheAll => "FORCE_CACHE_ALL",
        }
    }
}

/// `cache:`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnGcpCache")]
pub struct GcpCache {
    /// The origin of requests no rule matches (with `origins`). Default: the only origin.
    #[serde(default)]
    pub origin: Option<String>,
    /// Default `cache_all_static`.
    #[serde(default)]
    pub mode: CacheMode,
    /// TTL of responses without caching headers (Google's default 1h). Not with
    /// `use_origin_headers`.
    #[serde(default)]
    pub default_ttl: Option<Ttl>,
    /// Upper bound of the TTL the origin may ask for (Google's default 1d). Only with
    /// `cache_all_static`.
    #[serde(default)]
    pub max_ttl: Option<Ttl>,
    /// Upper bound of the `max-age` sent to browsers. Not with `use_origin_headers`.
    #[serde(default)]
    pub client_ttl: Option<Ttl>,
    /// Cache 404/410/301... responses for a short time. Default: Google's (off).
    #[serde(default)]
    pub negative_caching: Option<bool>,
    /// Keep serving a stale response this long while the origin is unreachable (at most 1d).
    #[serde(default)]
    pub serve_while_stale: Option<Ttl>,
    /// Path rules of the URL map: requests matching `path` go to `origin`.
    #[serde(default)]
    pub rules: Vec<PathRule>,
}

/// One path rule.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnGcpPathRule")]
pub struct PathRule {
    /// A path, with an optional `/*` at the end (`/media/*`).
    pub path: String,
    /// The origin (a name under `origins`) that serves it.
    pub origin: String,
}
