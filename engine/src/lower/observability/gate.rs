//! The SLO gate (`--gate slo`): which planned changes move a canary forward, and the PromQL that
//! tells whether the SLOs of the service being moved are burning. The query itself is the
//! CLI's (it owns the network); this is the pure part.
//!
//! A mesh split moves forward when a backend after the first (versions are ordered by name, so
//! the first is the stable one: `v1` before `v2`) gains weight. A flag rollout moves forward
//! when a variant other than the flag's default gains share in one of its `fractional` splits;
//! it is checked against the SLOs of every service in the flag's namespace (a flag names no
//! service, and flagd serves the whole namespace). The gate asks for the burn rate
//! of each SLO of the service over the last hour, computed from the raw SLI series (so it needs
//! no recording rules to be evaluated yet), and refuses the step when any burn rate is above 1:
//! the error budget is being spent faster than the objective allows.

use std::collections::BTreeMap;

use serde_json::Value;

use super::config::ObservabilityConfig;
use super::slo::{error_ratio, ratio};
use crate::plan::{Action, Plan};
use crate::spec::Service;

/// The window the gate measures the burn rate over.
pub const GATE_WINDOW: &str = "1h";
/// Above this burn rate an SLO is burning.
pub const MAX_BURN_RATE: f64 = 1.0;

/// A planned change that moves a canary forward.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardedStep {
    /// Address of the change.
    pub address: String,
    /// The service whose traffic it moves.
    pub service: String,
    /// `spec.http[2].route[1].weight 10 -> 50`.
    pub what: String,
}

/// The changes of `plan` that move a mesh split or a flag rollout forward.
pub fn forward_steps(plan: &Plan, services: &BTreeMap<String, Service>) -> Vec<GuardedStep> {
    let mut out = mesh_steps(plan);
    out.extend(flag_steps(plan, services));
    out
}

/// The changes of `plan` that move a mesh split forward.
fn mesh_steps(plan: &Plan) -> Vec<GuardedStep> {
    let mut out = Vec::new();
    for c in &plan.changes {
        if !matches!(c.action, Action::Update | Action::Replace) {
            continue;
        }
        let segments: Vec<&str> = c.address.as_str().split('.').collect();
        if segments.len() < 3 || segments[0] != "mesh" {
            continue;
        }
        for a in &c.attributes {
            if a.pointer.last().map(String::as_str) != Some("weight") {
                continue;
            }
            // The index of the backend: the last list index before `weight`.
            let backend = a.pointer.iter().rev().skip(1).find_map(|s| s.parse::<usize>().ok());
            let before = a.before.as_ref().and_then(|v| v.as_f64()).unwrap_or(0.0);
            let after = a.after.as_ref().and_then(|v| v.as_f64()).unwrap_or(0.0);
            if backend.is_some_and(|i| i > 0) && after > before {
                out.push(GuardedStep {
                    address: c.address.as_str().to_string(),
                    service: segments[1].to_string(),
                    what: format!("{} {before} -> {after}", a.path),
                });
            }
        }
    }
    out
}

/// The changes of `plan` that move a flag rollout forward, one step per service of the flag's
/// namespace.
fn flag_steps(plan: &Plan, services: &BTreeMap<String, Service>) -> Vec<GuardedStep> {
    let mut out = Vec::new();
    for c in plan.changes.iter().filter(|c| c.action == Action::Update) {
        let segments: Vec<&str> = c.address.as_str().split('.').collect();
        if segments.len() != 2 || segments[0] != "flags" {
            continue;
        }
        let Some(a) = c.attributes.iter().find(|a| a.pointer == ["data", "flags.json"]) else { continue };
        let parse = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).and_then(|t| serde_json::from_str(t).ok());
        let (Some(before), Some(after)) = (parse(&a.before), parse(&a.after)) else { continue };
        let namespace = c
            .after
            .as_ref()
            .and_then(|m| m.pointer("/metadata/namespace"))
            .and_then(Value::as_str)
            .unwrap_or(segments[1]);
        for moved in rollouts_forward(&before, &after) {
            for (name, _) in services.iter().filter(|(_, s)| s.namespace == namespace) {
                out.push(GuardedStep {
                    address: c.address.as_str().to_string(),
                    service: name.clone(),
                    what: moved.clone(),
                });
            }
        }
    }
    out
}

/// `flag new-checkout: on 10% -> 25%` for each flag of a flagd document whose non-default
/// variant gains share in one of its `fractional` splits (split `i` before against split `i`
/// after; a targeting that is one variant counts as that variant at 100%).
pub fn rollouts_forward(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(flags) = after.get("flags").and_then(Value::as_object) else { return out };
    for (key, flag) in flags {
        let default = flag.get("defaultVariant").and_then(Value::as_str).unwrap_or_default();
        let old_flag = before.pointer(&format!("/flags/{}", key.replace('~', "~0").replace('/', "~1")));
        let old = old_flag.map(|f| splits(f.get("targeting"))).unwrap_or_default();
        for (i, new) in splits(flag.get("targeting")).iter().enumerate() {
            for (variant, share) in new {
                if variant == default {
                    continue;
                }
                let was = old.get(i).and_then(|o| o.get(variant)).copied().unwrap_or(0.0);
                if *share > was + 1e-9 {
                    out.push(format!("flag {key}: {variant} {} -> {}", percent(was), percent(*share)));
                }
            }
        }
    }
    out
}

fn percent(share: f64) -> String {
    let p = (share * 10_000.0).round() / 100.0;
    format!("{p}%")
}

/// The shares of each `fractional` split of a targeting rule, in document order.
fn splits(targeting: Option<&Value>) -> Vec<BTreeMap<String, f64>> {
    let mut out = Vec::new();
    match targeting {
        Some(Value::String(variant)) => out.push(BTreeMap::from([(variant.clone(), 1.0)])),
        Some(t) => collect_fractional(t, &mut out),
        None => {}
    }
    out
}

fn collect_fractional(v: &Value, out: &mut Vec<BTreeMap<String, f64>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "fractional"
                    && let Some(args) = child.as_array()
                {
                    // Buckets are `[variant, weight]`; the optional first argument is the
                    // bucketing expression (an object).
                    let buckets: Vec<(String, f64)> = args
                        .iter()
                        .filter_map(|b| {
                            let b = b.as_array()?;
                            Some((b.first()?.as_str()?.to_string(), b.get(1).and_then(Value::as_f64).unwrap_or(1.0)))
                        })
                        .collect();
                    let total: f64 = buckets.iter().map(|(_, w)| w).sum();
                    if total > 0.0 {
                        let mut shares = BTreeMap::new();
                        for (variant, w) in buckets {
                            *shares.entry(variant).or_insert(0.0) += w / total;
                        }
                        out.push(shares);
                    }
                } else {
                    collect_fractional(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_fractional(i, out)),
        _ => {}
    }
}

/// One SLO to ask Prometheus about.
#[derive(Debug, Clone, PartialEq)]
pub struct SloQuery {
    pub slo: String,
    pub service: String,
    /// The burn rate over [`GATE_WINDOW`]: the error ratio divided by the error budget.
    pub promql: String,
}

/// The burn-rate queries for the SLOs of `service`.
pub fn queries(config: &ObservabilityConfig, service: &str) -> Vec<SloQuery> {
    config
        .slos
        .iter()
        .filter(|s| s.service == service)
        .map(|s| {
            let budget = 1.0 - s.objective.value() / 100.0;
            SloQuery {
                slo: s.name.clone(),
                service: s.service.clone(),
                promql: format!("(\n{}\n)\n/ {}", error_ratio(&s.service, &s.sli, GATE_WINDOW), ratio(budget)),
            }
        })
        .collect()
}

/// The services among `steps` with at least one SLO, in order.
pub fn services_to_check<'a>(
    steps: &'a [GuardedStep],
    config: &ObservabilityConfig,
    services: &BTreeMap<String, Service>,
) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for s in steps {
        if services.contains_key(&s.service)
            && config.slos.iter().any(|o| o.service == s.service)
            && !out.contains(&s.service.as_str())
        {
            out.push(&s.service);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::rollouts_forward;

    fn doc(targeting: serde_json::Value) -> serde_json::Value {
        json!({"flags": {"new-checkout": {"defaultVariant": "off", "variants": {"on": true, "off": false}, "targeting": targeting}}})
    }

    #[test]
    fn a_rollout_moves_forward_when_a_non_default_variant_gains_share() {
        let ten = doc(json!({"fractional": [["on", 10], ["off", 90]]}));
        let quarter = doc(json!({"fractional": [["on", 25], ["off", 75]]}));
        assert_eq!(rollouts_forward(&ten, &quarter), ["flag new-checkout: on 10% -> 25%"]);
        // Back is never gated.
        assert!(rollouts_forward(&quarter, &ten).is_empty());
        // Everyone: the targeting becomes the variant itself.
        assert_eq!(rollouts_forward(&quarter, &doc(json!("on"))), ["flag new-checkout: on 25% -> 100%"]);
        // A new rollout (no targeting before), behind a bucketing expression.
        let bucketed = doc(
            json!({"if": [{"missing": ["userId"]}, null, {"fractional": [{"var": "userId"}, ["on", 5], ["off", 95]]}]}),
        );
        assert_eq!(rollouts_forward(&doc(json!(null)), &bucketed), ["flag new-checkout: on 0% -> 5%"]);
        // Unchanged: nothing.
        assert!(rollouts_forward(&ten, &ten).is_empty());
    }
}
