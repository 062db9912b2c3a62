//! Drift detection: a refresh-only comparison of what exists against what strata last applied
//! (state), on the attributes strata manages. Fields owned by controllers (a kind's
//! `ignore_changes`, such as an HPA-managed replica count) never count as drift.

use std::sync::Arc;

use strata_sdk::{Provider, ReadRequest};

use crate::config::Config;
use crate::plan::{AttrChange, PlanError, diff, mask_change, refresh, with_recorded_sensitive};
use crate::retry::RetryPolicy;
use crate::state::State;

/// Drift: resources whose remote objects no longer match what strata applied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriftReport {
    pub project: String,
    pub env: String,
    pub checked: usize,
    pub drifted: Vec<DriftedResource>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DriftedResource {
    pub address: String,
    pub kind: String,
    /// `changed` or `deleted`.
    pub status: &'static str,
    pub attributes: Vec<AttrChange>,
}

/// Compares every resource in state with what its provider reads now.
pub async fn detect(config: &Config, state: &State, retry: &RetryPolicy) -> Result<DriftReport, PlanError> {
    let redactor = &config.redactor;
    let mut requests: Vec<(Arc<dyn Provider>, ReadRequest<'_>)> = Vec::new();
    for (address, r) in &state.resources {
        let p = config
            .providers
            .get(&r.provider)
            .ok_or_else(|| PlanError::MissingProvider { address: address.to_string(), provider: r.provider.clone() })?;
        requests.push((
            p.clone(),
            ReadRequest {
                address: address.clone(),
                kind: r.kind.clone(),
                remote_id: Some(r.remote_id.clone()),
                attrs: Some(&r.attrs),
            },
        ));
    }
    let observed = refresh(requests, retry).await?;
    let mut drifted = Vec::new();
    for (address, r) in &state.resources {
        let mut schema = config.providers.get(&r.provider).map(|p| p.schema(&r.kind)).unwrap_or_default();
        with_recorded_sensitive(&mut schema, &r.sensitive);
        match observed.get(address).cloned().flatten() {
            None => drifted.push(DriftedResource {
                address: address.to_string(),
                kind: r.kind.clone(),
                status: "deleted",
                attributes: Vec::new(),
            }),
            Some(o) => {
                // "desired" here is what was applied; before = applied, after = now.
                let changes: Vec<AttrChange> = diff(&r.attrs, None, &o.attrs, &schema)
                    .into_iter()
                    .map(|mut c| {
                        std::mem::swap(&mut c.before, &mut c.after);
                        let mut c = mask_change(c, &schema, redactor);
                        c.forces_replacement = false;
                        c
                    })
                    .collect();
                if !changes.is_empty() {
                    drifted.push(DriftedResource {
                        address: address.to_string(),
                        kind: r.kind.clone(),
                        status: "changed",
                        attributes: changes,
                    });
                }
            }
        }
    }
    Ok(DriftReport {
        project: config.parsed.project.clone(),
        env: config.parsed.env.clone(),
        checked: state.resources.len(),
        drifted,
    })
}
