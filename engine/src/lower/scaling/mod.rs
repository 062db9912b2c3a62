//! `scaling:` — horizontal and vertical autoscaling, disruption budgets and namespace quotas.
//!
//! ```yaml
//! scaling:
//!   api:                                   # a service from `services:`
//!     replicas: { min: 2, max: 20 }        # -> HorizontalPodAutoscaler (autoscaling/v2)
//!     target: { cpu: 70%, memory: 80% }
//!     metrics: [ { pods: { name: requests_per_second, average: "100" } } ]
//!     scale_up: { stabilization: 0s, policies: [ { pods: 4, period: 15s } ] }
//!     scale_down: { stabilization: 5m, policies: [ { percent: 10%, period: 1m } ] }
//!     disruption: { min_available: 1 }     # -> PodDisruptionBudget (policy/v1)
//!     vpa: { mode: recommend }             # -> VerticalPodAutoscaler (autoscaling.k8s.io/v1)
//!   quotas:                                # reserved key: namespaces, not services
//!     apex: { cpu: "40", memory: 80Gi, pods: 200, default_request: { cpu: 100m } }
//! ```
//!
//! Addresses: `scaling.<service>.hpa|pdb|vpa`, `scaling.quota.<namespace>` (ResourceQuota) and
//! `scaling.limits.<namespace>` (LimitRange). The reference is docs/scaling.md.

mod build;
mod config;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::Value;
use strata_sdk::Resource;

pub use config::{QuotaSpec, ServiceScaling};

use super::{Section, Sections};
use crate::diag::did_you_mean;
use crate::spec::{SpecContext, is_dns_label, path};

/// The key inside `scaling:` that holds per-namespace quotas; no service can be named like it.
pub const QUOTAS_KEY: &str = "quotas";

/// The `scaling:` section.
pub struct Scaling;

/// The decoded `scaling:` section. Entries that did not decode are reported and left out.
#[derive(Debug, Default)]
pub struct ScalingConfig {
    /// Per-service settings, in spec order.
    pub services: Vec<(String, ServiceScaling)>,
    /// `quotas:`, per namespace.
    pub quotas: Vec<(String, QuotaSpec)>,
}

impl Section for Scaling {
    type Config = ScalingConfig;

    fn name(&self) -> &'static str {
        "scaling"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        let service = generator.subschema_for::<ServiceScaling>();
        let quota = generator.subschema_for::<QuotaSpec>();
        json_schema!({
            "description": "Autoscaling, disruption budgets and quotas. Keys are service names from `services:`; the reserved key `quotas` maps namespaces to quotas.",
            "type": "object",
            "properties": {
                "quotas": {
                    "description": "ResourceQuota and LimitRange per namespace.",
                    "type": "object",
                    "additionalProperties": quota,
                }
            },
            "additionalProperties": service,
        })
    }

    fn decode(&self, cx: &mut SpecContext<'_>, section: &Value) -> Option<ScalingConfig> {
        let Some(entries) = section.as_object() else {
            cx.error(
                &path(["scaling"]),
                "spec::wrong-type",
                "Wrong type",
                "`scaling` must be a map of service names (and `quotas`) to their settings.",
                None,
            );
            return None;
        };
        let mut config = ScalingConfig::default();
        for (name, value) in entries {
            if name == QUOTAS_KEY {
                config.quotas = decode_quotas(cx, value);
                continue;
            }
            let here = path(["scaling", name.as_str()]);
            if !cx.services.contains_key(name) {
                let help = did_you_mean(name, cx.services.keys().map(String::as_str))
                    .or_else(|| Some(format!("declare `{name}` under `services:` first")));
                cx.key_error(
                    &here,
                    "scaling::unknown-service",
                    "Unknown service",
                    format!("`{name}` is not a service declared in `services`, so strata does not know its namespace or workload."),
                    help,
                );
            }
            // Metrics decode one by one, so each bad entry is reported at its own span.
            let mut value = value.clone();
            let metrics = value.as_object_mut().and_then(|m| m.remove("metrics"));
            let Some(mut spec) = cx.decode::<ServiceScaling>(&here, &value) else {
                continue;
            };
            spec.metrics = decode_metrics(cx, name, metrics.as_ref());
            config.services.push((name.clone(), spec));
        }
        Some(config)
    }

    fn lower(&self, cx: &mut SpecContext<'_>, config: &ScalingConfig, _sections: &Sections) -> Vec<Resource> {
        let mut out = Vec::new();
        // (namespace, apiVersion, kind, name) of each HPA/VPA target -> the entry that owns it.
        let mut targets: BTreeMap<(String, String, String, String), String> = BTreeMap::new();
        let services = cx.services;
        for (name, spec) in &config.services {
            let here = path(["scaling", name.as_str()]);
            validate::service(cx, name, spec);
            let Some(service) = services.get(name) else { continue };
            if spec.replicas.is_some() || spec.vpa.is_some() {
                let (api_version, kind, target) = build::target_of(name, spec.target_ref.as_ref());
                let key = (service.namespace.clone(), api_version, kind.clone(), target.clone());
                if let Some(first) = targets.get(&key) {
                    cx.key_error(
                        &here,
                        "scaling::duplicate-target",
                        "Workload scaled twice",
                        format!("`scaling.{name}` and `scaling.{first}` both autoscale the {kind} `{target}` in namespace `{}`; two autoscalers on one workload overwrite each other.", service.namespace),
                        Some("point `target_ref` of one of them at another workload".into()),
                    );
                } else {
                    targets.insert(key, name.clone());
                }
            }
            out.extend(build::service(name, service, spec));
        }
        for (ns, spec) in &config.quotas {
            validate::quota(cx, ns, spec);
            out.extend(build::quota(cx.project, ns, spec));
        }
        out.sort_by(|a, b| a.address.cmp(&b.address));
        out
    }
}

const METRIC_KINDS: &[&str] = &["pods", "external"];

fn decode_metrics(cx: &mut SpecContext<'_>, name: &str, raw: Option<&Value>) -> Vec<config::Metric> {
    let here = path(["scaling", name, "metrics"]);
    let items = match raw {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            cx.error(
                &here,
                "spec::wrong-type",
                "Wrong type",
                format!("`scaling.{name}.metrics` must be a list of metrics."),
                Some("write `metrics: [ { pods: { name: rps, average: \"100\" } } ]`".into()),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let idx = i.to_string();
        if let Some(m) = item.as_object()
            && let Some(kind) = m.keys().find(|k| !METRIC_KINDS.contains(&k.as_str()))
        {
            let help =
                did_you_mean(kind, METRIC_KINDS.iter().copied()).or_else(|| Some("use `pods` or `external`".into()));
            cx.key_error(
                &path(["scaling", name, "metrics", idx.as_str(), kind.as_str()]),
                "spec::unknown-key",
                "Unknown key",
                format!("`{kind}` is not a kind of metric: a metric is `pods` or `external`."),
                help,
            );
            continue;
        }
        if let Some(m) = cx.decode(&path(["scaling", name, "metrics", idx.as_str()]), item) {
            out.push(m);
        }
    }
    out
}

fn decode_quotas(cx: &mut SpecContext<'_>, value: &Value) -> Vec<(String, QuotaSpec)> {
    let Some(namespaces) = value.as_object() else {
        cx.error(
            &path(["scaling", QUOTAS_KEY]),
            "spec::wrong-type",
            "Wrong type",
            "`scaling.quotas` must be a map of namespace names to quotas.",
            Some("write `quotas: { apex: { cpu: \"40\", memory: 80Gi } }`".into()),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (ns, q) in namespaces {
        let here = path(["scaling", QUOTAS_KEY, ns.as_str()]);
        if !is_dns_label(ns) {
            cx.key_error(
                &here,
                "scaling::invalid-namespace",
                "Invalid namespace",
                format!("`{ns}` is not a valid namespace name: use lowercase letters, digits and `-`, at most 63 characters."),
                None,
            );
            continue;
        }
        if let Some(spec) = cx.decode::<QuotaSpec>(&here, q) {
            out.push((ns.clone(), spec));
        }
    }
    out
}
