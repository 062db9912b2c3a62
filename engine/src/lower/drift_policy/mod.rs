//! `drift:` — drift the spec accepts. Each rule names a resource (or `prefix*`), the attribute
//! paths whose differences are expected, and why; `strata drift` reports those differences as
//! accepted, with the reason, and does not count them.
//!
//! ```yaml
//! drift:
//!   ignore:
//!     - address: resources.web
//!       paths: [spec.replicas]            # dotted, `*` matches one segment; covers below
//!       reason: scaled by the on-call runbook
//! ```
//!
//! The section lowers nothing; `drift::detect` reads the rules from the merged document.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::Value;
use strata_sdk::{Address, Resource};

use super::{Section, Sections};
use crate::spec::{SpecContext, path};

/// The `drift:` section.
pub struct Drift;

/// `drift:`
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DriftPolicy")]
pub struct DriftPolicy {
    /// Differences `strata drift` accepts instead of reporting as drift.
    #[serde(default)]
    pub ignore: Vec<IgnoreRule>,
}

/// One accepted difference.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DriftIgnoreRule")]
pub struct IgnoreRule {
    /// The resource's address (`resources.web`), or a prefix ending in `*` (`cdn.assets.*`).
    pub address: String,
    /// Attribute paths, dotted (`spec.replicas`, `metadata.annotations`, `tags.*`); a path
    /// covers everything below it, and `*` matches one segment.
    pub paths: Vec<String>,
    /// Why this drift is expected; shown next to it.
    pub reason: String,
}

impl IgnoreRule {
    fn matches_address(&self, address: &Address) -> bool {
        match self.address.strip_suffix('*') {
            Some(prefix) => address.as_str().starts_with(prefix),
            None => self.address == address.as_str(),
        }
    }

    fn matches_pointer(&self, pointer: &[String]) -> bool {
        self.paths.iter().any(|p| {
            let segs: Vec<&str> = p.split('.').collect();
            segs.len() <= pointer.len() && segs.iter().zip(pointer).all(|(s, q)| *s == "*" || s == q)
        })
    }
}

impl DriftPolicy {
    /// The rules of a merged document (already validated when it loaded).
    pub fn from_doc(doc: &Value) -> DriftPolicy {
        doc.get("drift").and_then(|d| serde_json::from_value(d.clone()).ok()).unwrap_or_default()
    }

    /// The reason of the first rule accepting a difference at `pointer` of `address`.
    pub fn reason_for(&self, address: &Address, pointer: &[String]) -> Option<&str> {
        self.ignore.iter().find(|r| r.matches_address(address) && r.matches_pointer(pointer)).map(|r| r.reason.as_str())
    }
}

impl Section for Drift {
    type Config = DriftPolicy;

    fn name(&self) -> &'static str {
        "drift"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<DriftPolicy>()
    }

    fn decode(&self, cx: &mut SpecContext<'_>, value: &Value) -> Option<DriftPolicy> {
        let policy: DriftPolicy = cx.decode(&path(["drift"]), value)?;
        for (i, rule) in policy.ignore.iter().enumerate() {
            let at = |k: &str| path(["drift", "ignore", &i.to_string(), k]);
            let address = rule.address.strip_suffix('*').unwrap_or(&rule.address);
            let valid = if rule.address.ends_with('*') {
                !address.is_empty() && !address.contains(['$', '{', '}', ' '])
            } else {
                Address::parse(address).is_ok()
            };
            if !valid {
                cx.error(
                    &at("address"),
                    "drift::invalid-ignore",
                    "Invalid drift rule",
                    format!(
                        "`{}` is not a resource address (`resources.web`) or a prefix ending in `*`.",
                        rule.address
                    ),
                    None,
                );
            }
            if rule.paths.is_empty() || rule.paths.iter().any(|p| p.is_empty() || p.split('.').any(str::is_empty)) {
                cx.error(
                    &at("paths"),
                    "drift::invalid-ignore",
                    "Invalid drift rule",
                    "A rule accepts drift at one or more dotted attribute paths (`spec.replicas`), none empty.",
                    Some("write `paths: [spec.replicas]`".into()),
                );
            }
            if rule.reason.trim().is_empty() {
                cx.error(
                    &at("reason"),
                    "drift::invalid-ignore",
                    "Invalid drift rule",
                    "Accepted drift needs a reason: it is shown in every drift report.",
                    None,
                );
            }
        }
        Some(policy)
    }

    fn lower(&self, _cx: &mut SpecContext<'_>, _config: &DriftPolicy, _sections: &Sections) -> Vec<Resource> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lower(text: &str) -> crate::diag::Diagnostics {
        crate::lower::lower_for_test(&Drift, text, None, &|_| None).1
    }

    #[test]
    fn rules_match_addresses_and_paths() {
        let policy: DriftPolicy = serde_json::from_value(serde_json::json!({"ignore": [
            {"address": "resources.web", "paths": ["spec.replicas"], "reason": "runbook"},
            {"address": "cdn.*", "paths": ["tags.*"], "reason": "cost tags"},
        ]}))
        .unwrap();
        let a = |s: &str| Address::parse(s).unwrap();
        let p = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(policy.reason_for(&a("resources.web"), &p("spec.replicas")), Some("runbook"));
        assert_eq!(policy.reason_for(&a("resources.web"), &p("spec.template")), None);
        assert_eq!(policy.reason_for(&a("resources.webx"), &p("spec.replicas")), None);
        assert_eq!(policy.reason_for(&a("cdn.assets"), &p("tags.team")), Some("cost tags"));
        assert_eq!(policy.reason_for(&a("cdn.assets"), &p("tags")), None);
    }

    #[test]
    fn bad_rules_are_located() {
        let head = "version: 1\nproject: apex\n";
        let d = lower(&format!(
            "{head}drift:\n  ignore:\n    - {{ address: 'a b', paths: [], reason: ' ' }}\n    - {{ address: resources.x, paths: [x], reasn: y }}\n"
        ));
        let codes: Vec<&str> = d.items.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["spec::unknown-key"], "{:#?}", d.items);
        let d = lower(&format!("{head}drift:\n  ignore:\n    - {{ address: 'a b', paths: [], reason: ' ' }}\n"));
        let codes: Vec<&str> = d.items.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["drift::invalid-ignore"; 3], "{:#?}", d.items);
        assert!(d.items.iter().all(|d| d.span.is_some()));
    }
}
