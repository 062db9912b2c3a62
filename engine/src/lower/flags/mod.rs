//! `flags:` — feature flags served by flagd (OpenFeature).
//!
//! ```yaml
//! flags:
//!   namespace: apex                        # optional; default: the first service's namespace
//!   new-checkout: { default: false, rollout: { true: 10% } }
//!   model-tier:
//!     variants: { small: gpt-small, large: gpt-large }
//!     default: small
//!     rules: [ { if: { email_ends_with: "@apex.dev" }, then: large } ]
//! ```
//!
//! Every flag compiles to a flagd flag definition (state, variants, defaultVariant, JSONLogic
//! targeting with `fractional` rollouts); the flags of one namespace go into one ConfigMap,
//! `<project>-flags`, data key `flags.json`, address `flags.<namespace>`, which the namespace's
//! flagd sidecars read. [`evaluate`] evaluates a flag of such a document as flagd would (for
//! `strata flags eval`). The reference is docs/flags.md.

mod build;
mod config;
mod eval;
mod murmur3;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
mod validate;

use std::collections::BTreeMap;

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::Value;
use strata_sdk::Resource;

pub use config::FlagSpec;
pub use eval::{EvalError, Evaluation, Reason, context_from_pairs, evaluate, evaluate_at, flags_from_resources};
pub use murmur3::murmur3_32;

use super::{Section, Sections};
use crate::spec::{SpecContext, is_dns_label, path};

/// Data key of the flag ConfigMap.
pub const DATA_KEY: &str = "flags.json";
/// `$schema` of the generated flagd documents.
pub const SCHEMA_URL: &str = "https://flagd.dev/schema/v0/flags.json";
/// The key inside `flags:` that sets the default namespace; no flag can be named like it.
pub const NAMESPACE_KEY: &str = "namespace";

/// The `flags:` section.
pub struct Flags;

/// The decoded `flags:` section. Flags that did not decode are reported and left out.
#[derive(Debug, Default)]
pub struct FlagsConfig {
    /// `flags.namespace`, or else the namespace of the first service.
    pub default_namespace: Option<String>,
    /// Each flag in spec order, with the indexes of the rules left out because they use an
    /// operator flagd does not have (already reported).
    pub flags: Vec<(String, FlagSpec, Vec<usize>)>,
}

impl Section for Flags {
    type Config = FlagsConfig;

    fn name(&self) -> &'static str {
        "flags"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        let flag = generator.subschema_for::<FlagSpec>();
        json_schema!({
            "description": "Feature flags served by flagd. Keys are flag keys; the reserved key `namespace` sets where the flag ConfigMap goes.",
            "type": "object",
            "properties": {
                "namespace": {
                    "description": "Namespace of the flag ConfigMap for flags that set none (default: the first service's namespace).",
                    "type": "string"
                }
            },
            "additionalProperties": flag,
        })
    }

    fn decode(&self, cx: &mut SpecContext<'_>, section: &Value) -> Option<FlagsConfig> {
        let Some(entries) = section.as_object() else {
            cx.error(
                &path(["flags"]),
                "spec::wrong-type",
                "Wrong type",
                "`flags` must be a map of flag keys to their definitions.",
                None,
            );
            return None;
        };
        let mut config = FlagsConfig { default_namespace: default_namespace(cx, entries), flags: Vec::new() };
        for (key, raw) in entries {
            if key == NAMESPACE_KEY {
                continue;
            }
            let here = path(["flags", key.as_str()]);
            let (cleaned, stripped) = validate::strip_unknown_operators(cx, key, raw);
            if let Some(spec) = cx.decode::<FlagSpec>(&here, &cleaned) {
                config.flags.push((key.clone(), spec, stripped));
            }
        }
        Some(config)
    }

    fn lower(&self, cx: &mut SpecContext<'_>, config: &FlagsConfig, _sections: &Sections) -> Vec<Resource> {
        let mut by_ns: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for (key, spec, stripped) in &config.flags {
            let here = path(["flags", key.as_str()]);
            let ns = match (&spec.namespace, &config.default_namespace) {
                (Some(ns), _) => {
                    if !is_dns_label(ns) {
                        cx.error(
                            &path(["flags", key.as_str(), "namespace"]),
                            "flags::invalid-namespace",
                            "Invalid namespace",
                            format!("`{ns}` is not a valid namespace name: use lowercase letters, digits and `-`, at most 63 characters."),
                            None,
                        );
                        None
                    } else {
                        Some(ns.clone())
                    }
                }
                (None, Some(ns)) => Some(ns.clone()),
                (None, None) => {
                    cx.key_error(
                        &here,
                        "flags::no-namespace",
                        "No namespace for flag",
                        format!("Flag `{key}` sets no `namespace`, and there is neither `flags.namespace` nor a service whose namespace could hold the flag ConfigMap."),
                        Some("add `namespace: <ns>` under `flags:`".into()),
                    );
                    None
                }
            };
            let Some(checked) = validate::flag(cx, key, spec, stripped) else {
                continue;
            };
            if let Some(ns) = ns {
                by_ns.entry(ns).or_default().insert(key.clone(), build::flag(spec, &checked));
            }
        }
        by_ns.iter().filter_map(|(ns, flags)| build::configmap(cx.project, ns, flags)).collect()
    }
}

/// `flags.namespace`, else the namespace of the first service in `services:` (document order).
fn default_namespace(cx: &mut SpecContext<'_>, entries: &serde_json::Map<String, Value>) -> Option<String> {
    match entries.get(NAMESPACE_KEY) {
        Some(Value::String(ns)) if is_dns_label(ns) => return Some(ns.clone()),
        Some(Value::String(ns)) => {
            cx.error(
                &path(["flags", NAMESPACE_KEY]),
                "flags::invalid-namespace",
                "Invalid namespace",
                format!("`{ns}` is not a valid namespace name: use lowercase letters, digits and `-`, at most 63 characters."),
                None,
            );
            return None;
        }
        Some(Value::Null) | None => {}
        Some(_) => {
            cx.error(
                &path(["flags", NAMESPACE_KEY]),
                "spec::wrong-type",
                "Wrong type",
                "`flags.namespace` must be a namespace name (a flag cannot be called `namespace`).",
                None,
            );
            return None;
        }
    }
    let first = cx
        .doc
        .get("services")
        .and_then(Value::as_object)
        .and_then(|m| m.keys().find(|k| cx.services.contains_key(*k)))?;
    cx.services.get(first).map(|s| s.namespace.clone())
}
