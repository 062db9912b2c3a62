//! The `cloudfront` CDN target: `cdn.<name>` entries with `provider: cloudfront` become
//! CloudFront distributions, their cache and origin request policies, and Route 53 alias records
//! for their domain names.
//!
//! ```yaml
//! cdn:
//!   assets:
//!     provider: cloudfront
//!     origin: { domain: apex-assets.s3.us-east-1.amazonaws.com, shield: us-east-1 }
//!     aliases: [static.example.com]
//!     certificate: arn:aws:acm:us-east-1:123456789012:certificate/...
//!     cache:
//!       default_ttl: 1d                     # fits the managed CachingOptimized policy
//!       rules:
//!         - { path: /api/*, origin: api, ttl: 0, forward: { headers: [Authorization], query: all } }
//!     edge_function: { arn: "arn:aws:cloudfront::123456789012:function/rewrite", event: viewer-request }
//!     dns: { zone: example.com }            # Route 53 alias A/AAAA records for the aliases
//!     invalidate_on_change: ["/*"]
//! ```
//!
//! Addresses: `cdn.<name>` (the `cloudfront_distribution`; its outputs `id`, `arn`,
//! `domain_name`, `hosted_zone_id` and `status` are what `${cdn.<name>.domain_name}` refers to),
//! `cdn.<name>.cache.<behavior>` (`cloudfront_cache_policy`),
//! `cdn.<name>.origin_request.<behavior>` (`cloudfront_origin_request_policy`), where
//! `<behavior>` is `default` or a rule's name, and `cdn.<name>.dns.<record>.a|aaaa`
//! (`route53_record`, `<record>` relative to the zone, `@` for the apex). The reference is
//! docs/cdn.md.

mod build;
mod config;
#[cfg(test)]
mod tests;
mod validate;

use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value};
use strata_sdk::Resource;

pub use config::{CacheSpec, CloudFrontCdn, OriginSpec, RuleSpec, Ttl};

use super::CdnTarget;
use crate::spec::{SpecContext, path};

/// The `cloudfront` CDN target.
pub struct CloudFront;

impl CdnTarget for CloudFront {
    fn name(&self) -> &'static str {
        "cloudfront"
    }

    fn entry_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<CloudFrontCdn>()
    }

    fn lower_entry(&self, cx: &mut SpecContext<'_>, name: &str, settings: &Map<String, Value>) -> Vec<Resource> {
        let Some(entry) = decode_entry(cx, name, settings) else {
            return Vec::new();
        };
        let valid = validate::entry(cx, name, &entry);
        if entry.complete { build::entry(cx.project, cx.env, name, &entry, valid) } else { Vec::new() }
    }
}

/// A decoded entry: the CloudFront settings and its rules with their index in the source (a
/// rule that failed to decode is reported and left out, so indexes may skip).
pub struct Entry {
    pub spec: CloudFrontCdn,
    pub rules: Vec<(usize, RuleSpec)>,
    /// `(origin id, its path in the spec, settings)`, in address order.
    pub origins: Vec<(String, Vec<String>, OriginSpec)>,
    /// Every origin the spec names decoded (otherwise references to origins are not checked).
    pub origins_complete: bool,
    /// `cache` decoded (otherwise the default behavior is not checked).
    pub cache_complete: bool,
    /// Entry keys left out because their values did not decode (already reported); checks that
    /// depend on them are skipped.
    pub removed: Vec<String>,
    /// Every piece decoded: only then are resources built.
    pub complete: bool,
}

/// Decodes the pieces of one entry separately (entry, origins, default behavior, each rule), so
/// one bad piece does not hide the others.
fn decode_entry(cx: &mut SpecContext<'_>, name: &str, obj: &Map<String, Value>) -> Option<Entry> {
    let here = path(["cdn", name]);
    let mut rest = obj.clone();
    let origin = rest.shift_remove("origin");
    let origins = rest.shift_remove("origins");
    let cache = rest.shift_remove("cache");
    let (spec, removed) = decode_settings(cx, &here, rest);

    let mut decoded_origins = Vec::new();
    let mut origins_complete = true;
    match &origin {
        None | Some(Value::Null) => {}
        Some(v) => {
            let p = path(["cdn", name, "origin"]);
            match cx.decode::<OriginSpec>(&p, v) {
                Some(o) => decoded_origins.push((name.to_string(), p, o)),
                None => origins_complete = false,
            }
        }
    }
    match &origins {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (id, v) in m {
                let p = path(["cdn", name, "origins", id.as_str()]);
                match cx.decode::<OriginSpec>(&p, v) {
                    Some(o) => decoded_origins.push((id.clone(), p, o)),
                    None => origins_complete = false,
                }
            }
        }
        Some(_) => {
            origins_complete = false;
            cx.error(
                &path(["cdn", name, "origins"]),
                "spec::wrong-type",
                "Wrong type",
                format!("`cdn.{name}.origins` must be a map of origin names to origins."),
                Some("write `origins: { assets: { domain: ... }, api: { domain: ... } }`".into()),
            )
        }
    }

    let mut rules = Vec::new();
    let cache_spec = match &cache {
        None | Some(Value::Null) => Some(CacheSpec::default()),
        Some(Value::Object(m)) => {
            let mut m = m.clone();
            let raw_rules = m.shift_remove("rules");
            let decoded = cx.decode::<CacheSpec>(&path(["cdn", name, "cache"]), &Value::Object(m));
            match raw_rules {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let p = path(["cdn", name, "cache", "rules", &i.to_string()]);
                        if let Some(r) = cx.decode::<RuleSpec>(&p, item) {
                            rules.push((i, r));
                        }
                    }
                }
                Some(_) => cx.error(
                    &path(["cdn", name, "cache", "rules"]),
                    "spec::wrong-type",
                    "Wrong type",
                    format!("`cdn.{name}.cache.rules` must be a list of path rules."),
                    Some("write `rules: [ { path: /api/*, ttl: 0 } ]`".into()),
                ),
            }
            decoded
        }
        Some(_) => {
            cx.error(
                &path(["cdn", name, "cache"]),
                "spec::wrong-type",
                "Wrong type",
                format!("`cdn.{name}.cache` must be a map of cache settings."),
                Some("write `cache: { default_ttl: 1d }`".into()),
            );
            None
        }
    };
    let mut spec = spec?;
    let cache_complete = cache_spec.is_some();
    spec.cache = cache_spec.unwrap_or_default();
    decoded_origins.sort_by(|a, b| a.0.cmp(&b.0));
    let rules_complete = match &cache {
        Some(Value::Object(m)) => match m.get("rules") {
            Some(Value::Array(items)) => items.len() == rules.len(),
            None | Some(Value::Null) => true,
            Some(_) => false,
        },
        _ => true,
    };
    let complete = origins_complete && cache_complete && rules_complete && removed.is_empty();
    Some(Entry { spec, rules, origins: decoded_origins, origins_complete, cache_complete, removed, complete })
}

/// Decodes the entry's own settings. A key whose value does not decode is reported, left out,
/// and the rest decoded again, so the other settings are still checked in the same run.
fn decode_settings(
    cx: &mut SpecContext<'_>,
    here: &[String],
    mut rest: serde_json::Map<String, Value>,
) -> (Option<CloudFrontCdn>, Vec<String>) {
    let mut removed = Vec::new();
    loop {
        let value = Value::Object(rest.clone());
        let err = match serde_path_to_error::deserialize::<_, CloudFrontCdn>(&value) {
            Ok(spec) => return (Some(spec), removed),
            Err(e) => e,
        };
        let key = match err.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => err
                .inner()
                .to_string()
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_string),
        };
        // Reports the error with its span and "did you mean".
        let _ = cx.decode::<CloudFrontCdn>(here, &value);
        match key {
            Some(k) if rest.shift_remove(&k).is_some() => removed.push(k),
            _ => return (None, removed),
        }
    }
}
