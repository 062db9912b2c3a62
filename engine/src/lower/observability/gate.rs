//! The SLO gate (`--gate slo`): which planned changes move a canary forward, and the PromQL that
//! tells whether the SLOs of the service being moved are burning. The query itself is the
//! CLI's (it owns the network); this is the pure part.
//!
//! A mesh split moves forward when a backend after the first (versions are ordered by name, so
//! the first is the stable one: `v1` before `v2`) gains weight. The gate asks for the burn rate
//! of each SLO of the service over the last hour, computed from the raw SLI series (so it needs
//! no recording rules to be evaluated yet), and refuses the step when any burn rate is above 1:
//! the error budget is being spent faster than the objective allows.

use std::collections::BTreeMap;

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

/// The changes of `plan` that move a mesh split forward.
pub fn forward_steps(plan: &Plan) -> Vec<GuardedStep> {
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
