//! Multi-CDN entries: `cdn.<name>` with `strategy: failover | weighted` over other entries
//! (`members`, any provider), fronted by one DNS name.
//!
//! ```yaml
//! cdn:
//!   edge:
//!     strategy: failover
//!     members: [assets, assets-cf]     # other cdn entries; the first is the primary
//!     dns:
//!       provider: route53              # or cloudflare
//!       zone: example.com
//!       record: www.example.com
//!       health_check: { path: /healthz, interval: 30, threshold: 3 }
//! ```
//!
//! Route 53: `cdn.<name>.health.<member>` (`route53_health_check` of the member's domain) and
//! `cdn.<name>.record.<member>` (a CNAME to `${cdn.<member>.domain_name}` with the member as
//! set identifier, PRIMARY/SECONDARY or weighted). Cloudflare: `cdn.<name>.monitor`,
//! `cdn.<name>.pool.<member>` and the DNS-only `load_balancer` at `cdn.<name>`. Changing a
//! weight changes the records (or the load balancer) only. The reference is docs/cdn.md.

mod build;
mod config;
#[cfg(test)]
mod tests;
mod validate;

use schemars::{Schema, SchemaGenerator};
use serde_json::Value;
use strata_sdk::Resource;

pub use config::MultiCdn;
pub use validate::Others;

use crate::spec::{SpecContext, path};

/// Whether a `cdn:` entry is a multi-CDN entry (and so decodes as [`MultiCdn`]).
pub fn is_multi(value: &Value) -> bool {
    value.as_object().is_some_and(|o| o.contains_key("strategy") || o.contains_key("members"))
}

pub fn schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<MultiCdn>()
}

/// Decodes the entry; `None` (reported) when it does not fit the type.
pub fn decode(cx: &mut SpecContext<'_>, name: &str, value: &Value) -> Option<MultiCdn> {
    cx.decode::<MultiCdn>(&path(["cdn", name]), value)
}

/// Validates the entry against the other entries and lowers it.
pub fn lower(cx: &mut SpecContext<'_>, name: &str, entry: &MultiCdn, others: &Others<'_>) -> Vec<Resource> {
    match validate::entry(cx, name, entry, others) {
        Some(checked) => build::entry(cx.project, cx.env, name, entry, &checked),
        None => Vec::new(),
    }
}
