//! Typed configuration of a multi-CDN entry: `cdn.<name>` with `strategy:` over other entries.
//! The JSON Schema of the entry is generated from these types.

use schemars::JsonSchema;
use serde::Deserialize;

/// `cdn.<name>` with `strategy:`: DNS in front of other CDN entries (`members`), sending
/// traffic to the primary while it is healthy (`failover`) or spreading it by weight
/// (`weighted`), with a health check per member.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnMulti")]
pub struct MultiCdn {
    /// `failover`: the primary serves while healthy, then the next member; `weighted`: each
    /// healthy member gets its share of `weight`.
    pub strategy: Strategy,
    /// Other `cdn:` entries, by name (any provider), in failover order; with `weighted`, each
    /// as `{ name, weight }`.
    pub members: Vec<Member>,
    /// The member that serves while healthy (`failover`). Default: the first member.
    #[serde(default)]
    pub primary: Option<String>,
    /// The DNS name that fronts the members, and where it lives.
    pub dns: MultiDns,
}

/// `strategy:`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "CdnMultiStrategy")]
pub enum Strategy {
    Failover,
    Weighted,
}

/// One member: an entry name, or `{ name, weight }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "CdnMultiMember")]
pub enum Member {
    /// The name of another `cdn:` entry.
    Name(String),
    /// The name of another `cdn:` entry and its weight.
    Weighted(WeightedMember),
}

/// `{ name, weight }`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnMultiWeightedMember")]
pub struct WeightedMember {
    /// The name of another `cdn:` entry.
    pub name: String,
    /// Share of traffic relative to the other members, 0-255 (`weighted` only); 0 sends none.
    #[serde(default)]
    pub weight: Option<i64>,
}

impl Member {
    pub fn name(&self) -> &str {
        match self {
            Member::Name(n) => n,
            Member::Weighted(w) => &w.name,
        }
    }

    pub fn weight(&self) -> Option<i64> {
        match self {
            Member::Name(_) => None,
            Member::Weighted(w) => w.weight,
        }
    }
}

/// `dns:`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnMultiDns")]
pub struct MultiDns {
    /// Who answers for the name: `route53` (failover or weighted record sets with health
    /// checks) or `cloudflare` (a DNS-only load balancer with one pool per member).
    pub provider: DnsProvider,
    /// The zone (`example.com`).
    pub zone: String,
    /// The name that fronts the members (`www.example.com`, or `www` relative to the zone);
    /// not the zone apex, which cannot be a CNAME.
    pub record: String,
    /// TTL of the answers in seconds. Default 60.
    #[serde(default)]
    pub ttl: Option<i64>,
    /// How each member's health is checked.
    #[serde(default)]
    pub health_check: HealthCheck,
}

/// `dns.provider:`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "CdnMultiDnsProvider")]
pub enum DnsProvider {
    Route53,
    Cloudflare,
}

/// `dns.health_check:`
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CdnMultiHealthCheck")]
pub struct HealthCheck {
    /// The path requested over HTTPS on each member's domain. Default `/`.
    #[serde(default = "slash")]
    pub path: String,
    /// Seconds between checks: 10 or 30. Default 30.
    #[serde(default = "thirty")]
    pub interval: i64,
    /// Consecutive failed checks before a member is unhealthy: 1-10. Default 3.
    #[serde(default = "three")]
    pub threshold: i64,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck { path: slash(), interval: thirty(), threshold: three() }
    }
}

fn slash() -> String {
    "/".into()
}
fn thirty() -> i64 {
    30
}
fn three() -> i64 {
    3
}
