//! The `azure` CDN target: `cdn.<name>` entries with `provider: azure` become resources of the
//! Azure provider (Azure Front Door Standard/Premium).
//!
//! ```yaml
//! cdn:
//!   web:
//!     provider: azure
//!     sku: standard
//!     origins:
//!       - { name: east, domain: app-east.example.net, priority: 1 }
//!       - { name: west, domain: app-west.example.net, priority: 2 }
//!     health_check: { path: /healthz }
//!     cache:
//!       query_string: ignore
//!       rules: [ { path: /static/*, ttl: 7d }, { path: /api/*, ttl: 0 } ]
//!     response_headers: { X-Frame-Options: DENY }
//!     custom_domain: www.example.com
//! ```
//!
//! Addresses: `cdn.<name>` is the `afd_endpoint` (outputs `domain_name`/`host_name`, the
//! `*.azurefd.net` name, so `${cdn.<name>.domain_name}` works as for CloudFront);
//! `cdn.<name>.profile`, `cdn.<name>.origin-group`, `cdn.<name>.origin.<origin>`,
//! `cdn.<name>.route`, `cdn.<name>.rule-set`, `cdn.<name>.rule.cache-<n>` and
//! `cdn.<name>.rule.headers`, `cdn.<name>.domain` (`custom_domain`, output
//! `validation_token`), `cdn.<name>.security-policy`. The reference is docs/cdn.md.

mod build;
mod config;
#[cfg(test)]
mod tests;
mod validate;

use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value};
use strata_sdk::Resource;

pub use build::profile_name;
pub use config::AzureCdn;

use super::CdnTarget;
use crate::spec::{SpecContext, path};

/// The `azure` CDN target.
pub struct Azure;

impl CdnTarget for Azure {
    fn name(&self) -> &'static str {
        "azure"
    }

    fn entry_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<AzureCdn>()
    }

    fn lower_entry(&self, cx: &mut SpecContext<'_>, name: &str, settings: &Map<String, Value>) -> Vec<Resource> {
        let here = path(["cdn", name]);
        let Some(entry) = cx.decode::<AzureCdn>(&here, &Value::Object(settings.clone())) else {
            return Vec::new();
        };
        if validate::entry(cx, name, &entry) { build::entry(cx.project, cx.env, name, &entry) } else { Vec::new() }
    }
}
