//! The `cloudflare` CDN target: `cdn.<name>` entries with `provider: cloudflare` become
//! resources of the Cloudflare provider.
//!
//! ```yaml
//! cdn:
//!   assets-cf:
//!     provider: cloudflare
//!     zone: example.com                       # default: providers.cloudflare.zone
//!     hostname: static.example.com            # default: <name>.<zone>
//!     origin: { domain: apex-assets.s3.amazonaws.com }
//!     cache:
//!       default_ttl: 1d
//!       rules: [ { path: /api/*, ttl: 0 } ]
//!     edge_function: { code: edge/worker.js }  # a Worker module, relative to strata.yaml
//!     invalidate_on_change: ["/*"]
//! ```
//!
//! Addresses: `cdn.<name>` is the proxied `dns_record` (one `origin`) or the `load_balancer`
//! (`origins` in failover order, with `cdn.<name>.monitor` and `cdn.<name>.pool.<origin>`);
//! both output `domain_name` (the hostname), so `${cdn.<name>.domain_name}` works as for
//! CloudFront. `cdn.<name>.cache-rules` (`cache_rules`), `cdn.<name>.worker` (`worker`) and
//! `cdn.<name>.route` (`worker_route`). The reference is docs/cdn.md.

mod build;
mod config;
#[cfg(test)]
mod tests;
mod validate;

use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value};
use strata_sdk::Resource;

pub use config::CloudflareCdn;

use super::CdnTarget;
use crate::spec::{SpecContext, path};

/// The `cloudflare` CDN target.
pub struct Cloudflare;

impl CdnTarget for Cloudflare {
    fn name(&self) -> &'static str {
        "cloudflare"
    }

    fn entry_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<CloudflareCdn>()
    }

    fn lower_entry(&self, cx: &mut SpecContext<'_>, name: &str, settings: &Map<String, Value>) -> Vec<Resource> {
        let here = path(["cdn", name]);
        let Some(entry) = cx.decode::<CloudflareCdn>(&here, &Value::Object(settings.clone())) else {
            return Vec::new();
        };
        match validate::entry(cx, name, &entry) {
            Some(checked) => build::entry(cx.project, cx.env, name, &entry, &checked),
            None => Vec::new(),
        }
    }
}
