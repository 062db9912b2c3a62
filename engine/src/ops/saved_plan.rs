//! Saved plans (`strata plan -o FILE`, `strata apply FILE`): the file format and the checks
//! that a saved plan still applies exactly.

use serde::{Deserialize, Serialize};

use super::OpsError;
use crate::apply::{ApplyError, check_plan_is_current};
use crate::config::Config;
use crate::plan::{Action, Plan, PlanOptions, plan_salted};
use crate::retry::RetryPolicy;
use crate::state::State;

/// A saved plan file: the plan plus what is needed to load the same spec again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    /// The spec file the plan was made from, as it was given.
    pub spec_file: String,
    /// The environment (`--env`), if any.
    pub env: Option<String>,
    pub plan: Plan,
}

/// Checks that `saved` still applies exactly to `state` under `config`: the state has the
/// lineage and serial it was made against, and re-planning the same way (same targets, refresh,
/// destroy and digest salt) gives the same actions on the same documents.
///
/// Fails with [`OpsError::StalePlan`] naming what differs, or [`OpsError::Plan`] when the
/// re-plan fails.
pub async fn check(config: &Config, state: &State, saved: &Plan) -> Result<(), OpsError> {
    check_plan_is_current(saved, state).map_err(|e| match e {
        ApplyError::StalePlan { detail } => OpsError::StalePlan { detail },
        ApplyError::State(e) => OpsError::State(e),
    })?;
    let opts = PlanOptions {
        refresh: saved.refreshed,
        targets: saved.targets.clone(),
        destroy: saved.destroy,
        retry: RetryPolicy::default(),
    };
    let fresh = plan_salted(config, state, &opts, &saved.salt).await?;
    let differs = differences(saved, &fresh);
    if !differs.is_empty() {
        return Err(OpsError::StalePlan {
            detail: format!(
                "the spec or the remote objects changed since the plan was made ({}); run `strata plan` again",
                differs.join(", ")
            ),
        });
    }
    Ok(())
}

/// What a fresh plan does differently from a saved one, one phrase per resource.
pub fn differences(saved: &Plan, fresh: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for c in &saved.changes {
        match fresh.change(&c.address) {
            None => out.push(format!("`{}` is no longer planned", c.address)),
            Some(f) if f.action != c.action => {
                out.push(format!("`{}` would now be {:?}, not {:?}", c.address, f.action, c.action))
            }
            Some(f) if f.digest != c.digest => out.push(format!("`{}` changed", c.address)),
            _ => {}
        }
    }
    for c in &fresh.changes {
        if saved.change(&c.address).is_none() && c.action != Action::NoOp {
            out.push(format!("`{}` is newly planned", c.address));
        }
    }
    out
}
