//! `cdn:` — content delivery. Each entry names its CDN with `provider:`, and the CDN target of
//! that name ([`CdnTarget`]) lowers it: `cloudfront` ([`cloudfront`]: distributions, cache and
//! origin request policies, Route 53 alias records), `cloudflare` ([`cloudflare`]: proxied
//! DNS record or load balancer, cache rules, Worker and route), `gcp` ([`gcp`]: a global
//! external HTTPS load balancer with Cloud CDN on backend buckets), `azure` ([`azure`]: Front
//! Door profile, endpoint, origin group and origins, route, rule set, custom domain, security
//! policy). An entry with `strategy:` ([`multi`]) fronts other entries with one DNS name:
//! failover or weighted, with health checks.
//!
//! ```yaml
//! cdn:
//!   assets:
//!     provider: cloudfront
//!     origin: { domain: apex-assets.s3.us-east-1.amazonaws.com }
//!     aliases: [static.example.com]
//! ```
//!
//! The section checks what every entry shares (its name, that it is a map, the provider) and
//! hands the entry to its target. Addresses start with `cdn.<name>`; the reference is
//! docs/cdn.md.

pub mod azure;
pub mod cloudflare;
pub mod cloudfront;
pub mod gcp;
pub mod multi;
mod target;

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};
use strata_sdk::Resource;

pub use azure::Azure;
pub use cloudflare::Cloudflare;
pub use cloudfront::CloudFront;
pub use gcp::Gcp;
pub use target::CdnTarget;

use super::{Section, Sections};
use crate::diag::did_you_mean;
use crate::spec::{SpecContext, is_dns_label, path};

/// Every CDN the spec format names. A name here without a registered target is reported as "not
/// supported yet in this build" rather than as a typo.
pub const SPEC_PROVIDERS: &[&str] = &["cloudfront", "cloudflare", "gcp", "azure"];

/// The `cdn:` section, with the CDNs it can lower to.
pub struct Cdn {
    targets: Vec<Box<dyn CdnTarget>>,
}

/// The decoded `cdn:` section: each entry whose name and provider are valid, in spec order.
#[derive(Debug, Default)]
pub struct CdnConfig {
    pub entries: Vec<CdnEntry>,
    /// Multi-CDN entries (`strategy:` over other entries) that decoded, by name.
    pub multi: Vec<(String, multi::MultiCdn)>,
    /// Every name under `cdn:`, decoded or not.
    pub names: Vec<String>,
    /// Names of every multi-CDN entry, decoded or not.
    pub multi_names: Vec<String>,
}

/// One `cdn.<name>` entry, as the section reads it: the target's own settings are decoded by
/// the target when it lowers the entry.
#[derive(Debug, Clone)]
pub struct CdnEntry {
    pub name: String,
    /// The registered target that serves it (`cloudfront`).
    pub provider: String,
    /// The entry's whole map, `provider` included.
    pub settings: Map<String, Value>,
}

impl Cdn {
    /// No targets yet: add them with [`Cdn::target`].
    pub fn new() -> Self {
        Cdn { targets: Vec::new() }
    }

    /// The CDNs built into strata. A new CDN target is one line here.
    pub fn standard() -> Self {
        Cdn::new().target(CloudFront).target(Cloudflare).target(Gcp).target(Azure)
    }

    pub fn target(mut self, target: impl CdnTarget + 'static) -> Self {
        self.targets.push(Box::new(target));
        self
    }

    fn find(&self, name: &str) -> Option<&dyn CdnTarget> {
        self.targets.iter().find(|t| t.name() == name).map(|t| t.as_ref())
    }

    fn names(&self) -> Vec<&'static str> {
        self.targets.iter().map(|t| t.name()).collect()
    }

    /// Checks the entry's name, shape and provider; `None` (reported) when it cannot be lowered.
    fn decode_entry(&self, cx: &mut SpecContext<'_>, name: &str, value: &Value) -> Option<CdnEntry> {
        let here = path(["cdn", name]);
        let example = self.names().first().map_or("cloudfront", |n| n).to_string();
        if !is_dns_label(name) {
            cx.key_error(
                &here,
                "cdn::invalid-name",
                "Invalid name",
                format!("`{name}` cannot be a CDN name: it names the distribution's resources and policies, so use lowercase letters, digits and `-`, at most 63 characters."),
                None,
            );
            return None;
        }
        let Some(obj) = value.as_object() else {
            cx.error(
                &here,
                "spec::wrong-type",
                "Wrong type",
                format!("`cdn.{name}` must be a map of settings."),
                Some(format!("write `{{ provider: {example}, origin: {{ domain: ... }} }}`")),
            );
            return None;
        };
        let supported = self.names().join(", ");
        match obj.get("provider") {
            None => {
                cx.key_error(
                    &here,
                    "spec::missing-key",
                    "Missing required key",
                    format!("`cdn.{name}` needs the key `provider`: the CDN that serves it."),
                    Some(format!("add `provider: {example}` under `cdn.{name}`")),
                );
                None
            }
            Some(Value::String(p)) if self.find(p).is_some() => {
                Some(CdnEntry { name: name.to_string(), provider: p.clone(), settings: obj.clone() })
            }
            Some(Value::String(p)) if SPEC_PROVIDERS.contains(&p.as_str()) => {
                cx.error(
                    &path(["cdn", name, "provider"]),
                    "cdn::unsupported-provider",
                    "Provider not supported yet",
                    format!(
                        "cdn provider `{p}` is not supported yet in this build; supported: {supported}. Nothing would be created for `cdn.{name}`."
                    ),
                    Some(format!("use `provider: {example}`, or remove the entry until its provider is supported")),
                );
                None
            }
            Some(Value::String(p)) => {
                let known: Vec<&str> = SPEC_PROVIDERS.iter().copied().chain(self.names()).collect();
                let help = did_you_mean(p, known.iter().copied()).or_else(|| Some(format!("supported: {supported}")));
                cx.error(
                    &path(["cdn", name, "provider"]),
                    "spec::invalid-value",
                    "Invalid value",
                    format!("`{p}` is not a CDN provider strata knows."),
                    help,
                );
                None
            }
            Some(_) => {
                cx.error(
                    &path(["cdn", name, "provider"]),
                    "spec::wrong-type",
                    "Wrong type",
                    format!("`cdn.{name}.provider` must be a string, like `{example}`."),
                    None,
                );
                None
            }
        }
    }
}

impl Default for Cdn {
    fn default() -> Self {
        Cdn::standard()
    }
}

impl Section for Cdn {
    type Config = CdnConfig;

    fn name(&self) -> &'static str {
        "cdn"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        let mut entries: Vec<Schema> = self.targets.iter().map(|t| t.entry_schema(generator)).collect();
        entries.push(multi::schema(generator));
        let entry = match entries.len() {
            1 => entries.into_iter().next().expect("one"),
            _ => json_schema!({ "oneOf": entries }),
        };
        json_schema!({
            "description": "CDN entries by name. Each names the CDN that serves it with `provider:` (see each provider's entry for what it becomes), or fronts other entries with `strategy:` (multi-CDN).",
            "type": "object",
            "propertyNames": {"pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
            "additionalProperties": entry,
        })
    }

    fn decode(&self, cx: &mut SpecContext<'_>, section: &Value) -> Option<CdnConfig> {
        let Some(entries) = section.as_object() else {
            let example = self.names().first().map_or("cloudfront", |n| n).to_string();
            cx.error(
                &path(["cdn"]),
                "spec::wrong-type",
                "Wrong type",
                "`cdn` must be a map of CDN names to their settings.",
                Some(format!("write `cdn: {{ assets: {{ provider: {example}, origin: {{ domain: ... }} }} }}`")),
            );
            return None;
        };
        let mut config = CdnConfig { names: entries.keys().cloned().collect(), ..CdnConfig::default() };
        for (name, value) in entries {
            if is_dns_label(name) && multi::is_multi(value) {
                config.multi_names.push(name.clone());
                if let Some(m) = multi::decode(cx, name, value) {
                    config.multi.push((name.clone(), m));
                }
            } else if let Some(e) = self.decode_entry(cx, name, value) {
                config.entries.push(e);
            }
        }
        Some(config)
    }

    fn lower(&self, cx: &mut SpecContext<'_>, config: &CdnConfig, _sections: &Sections) -> Vec<Resource> {
        let mut out = Vec::new();
        for entry in &config.entries {
            if let Some(target) = self.find(&entry.provider) {
                out.extend(target.lower_entry(cx, &entry.name, &entry.settings));
            }
        }
        let others = multi::Others { entries: &config.entries, multi: &config.multi_names, all: &config.names };
        for (name, m) in &config.multi {
            out.extend(multi::lower(cx, name, m, &others));
        }
        out.sort_by(|a, b| a.address.cmp(&b.address));
        out
    }
}

/// How a target words its origins for [`check_origin_choice`].
pub(crate) struct OriginWording {
    /// What an origin is: "the host Front Door fetches from".
    pub what: &'static str,
    /// The entry, for "… has one or the other": "an Azure entry".
    pub entry: &'static str,
    /// Help for a missing origin.
    pub add: &'static str,
    /// Help for both.
    pub keep: &'static str,
}

/// An entry has exactly one of `origin` (one) and `origins` (several): `cdn::missing-origin` at
/// the entry without either, `cdn::origin-conflict` at `origins` with both.
pub(crate) fn check_origin_choice(
    cx: &mut SpecContext<'_>,
    name: &str,
    has_origin: bool,
    has_origins: bool,
    p: &dyn Fn(&[&str]) -> Vec<String>,
    w: &OriginWording,
) {
    match (has_origin, has_origins) {
        (false, false) => cx.key_error(
            &p(&[]),
            "cdn::missing-origin",
            "Missing origin",
            format!("`cdn.{name}` needs an origin: {}.", w.what),
            Some(w.add.into()),
        ),
        (true, true) => cx.key_error(
            &p(&["origins"]),
            "cdn::origin-conflict",
            "Conflicting origins",
            format!("`cdn.{name}` has both `origin` and `origins`; {} has one or the other.", w.entry),
            Some(w.keep.into()),
        ),
        _ => {}
    }
}
