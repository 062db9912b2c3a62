//! The `gcp` CDN target: `cdn.<name>` entries with `provider: gcp` become a global external
//! HTTPS load balancer with Cloud CDN, as resources of the GCP provider.
//!
//! ```yaml
//! cdn:
//!   assets-gcp:
//!     provider: gcp
//!     hostnames: [static.example.com]
//!     origins:
//!       assets: { bucket: shop-assets }
//!       media: { bucket: shop-media }
//!     cache:
//!       origin: assets
//!       mode: cache_all_static
//!       default_ttl: 1h
//!       rules: [ { path: /media/*, origin: media } ]
//! ```
//!
//! Addresses: `cdn.<name>` is the HTTPS `global_forwarding_rule` (outputs `ip` and
//! `domain_name`, the first host of its certificate), `cdn.<name>.bucket.<origin>`
//! (`backend_bucket`), `cdn.<name>.url-map`, `cdn.<name>.certificate`
//! (`managed_ssl_certificate`), `cdn.<name>.https-proxy`, `cdn.<name>.ip` (`global_address`),
//! and with `http_redirect` `cdn.<name>.redirect-map`, `cdn.<name>.http-proxy`,
//! `cdn.<name>.http`. The reference is docs/cdn.md.

mod build;
mod config;
#[cfg(test)]
mod tests;
mod validate;

use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value};
use strata_sdk::Resource;

pub use config::GcpCdn;

use super::CdnTarget;
use crate::spec::{SpecContext, path};

/// The `gcp` CDN target.
pub struct Gcp;

impl CdnTarget for Gcp {
    fn name(&self) -> &'static str {
        "gcp"
    }

    fn entry_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<GcpCdn>()
    }

    fn lower_entry(&self, cx: &mut SpecContext<'_>, name: &str, settings: &Map<String, Value>) -> Vec<Resource> {
        let here = path(["cdn", name]);
        let Some(entry) = cx.decode::<GcpCdn>(&here, &Value::Object(settings.clone())) else {
            return Vec::new();
        };
        match validate::entry(cx, name, &entry) {
            Some(checked) => build::entry(name, &entry, &checked),
            None => Vec::new(),
        }
    }
}
