//! [`OpsError`]: how an operation fails, with a diagnostic code and help for each case.

use std::fmt;

use miette::Diagnostic;
use strata_sdk::{Address, ProviderError};

use super::human_duration;
use crate::plan::PlanError;
use crate::state::{LockInfo, StateError};

/// Everything an operation in [`crate::ops`] can fail with. Messages are complete sentences
/// fragments for `Error: ...`; [`Diagnostic::help`] says what to do, [`Diagnostic::code`] names
/// the case (`ops::lock::held`...).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Someone else holds the state lock and no wait was asked for (`--lock-timeout 0s`).
    #[error("the state is locked: {}", holder.describe())]
    Locked { holder: Box<LockInfo> },
    /// The wait for the lock (`--lock-timeout`) ran out with the lock still held.
    #[error("gave up waiting for the state lock after {}: it is {}", human_duration(*waited), holder.describe())]
    LockTimeout { holder: Box<LockInfo>, waited: std::time::Duration },
    /// Ctrl-C while waiting for the lock.
    #[error("interrupted while waiting for the state lock ({})", holder.describe())]
    LockInterrupted { holder: Box<LockInfo> },
    /// The saved plan no longer matches the state, the spec or the remote objects.
    #[error("the saved plan is stale: {detail}")]
    StalePlan { detail: String },
    /// Re-planning (for a saved plan's check) failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The address is not a resource of the spec (import).
    #[error("`{address}` is not a resource in the spec")]
    NotInSpec { address: Address, suggestion: Option<String> },
    /// The address is already in the state (import).
    #[error("`{address}` is already managed (it is in the state)")]
    AlreadyManaged { address: Address },
    /// The provider could not adopt the object (import).
    #[error("importing `{address}` failed: {}", source.message)]
    AdoptFailed {
        address: Address,
        #[source]
        source: ProviderError,
    },
    /// The address is not in the state (`state rm`, `state mv`).
    #[error("`{address}` is not in the state")]
    NotInState { address: Address, suggestion: Option<String> },
    /// `state mv` onto an address the state already has.
    #[error("`{address}` already exists in the state")]
    DestinationExists { address: Address },
    /// `state pull` with no state stored.
    #[error("there is no state at {place} yet: nothing to pull")]
    NothingToPull { place: String },
    /// `state migrate` from a place with no state.
    #[error("there is no state at {place}: nothing to migrate")]
    NothingToMigrate { place: String },
    /// `state migrate` between a place and itself.
    #[error("{local} is the state this spec already uses: there is nothing to migrate")]
    MigrateToItself { local: String },
    /// `state migrate` into a place that holds another state, without `force`.
    #[error(
        "{to} already holds a state (lineage {lineage}, serial {serial}, {resources} resources); migrate only fills an empty backend"
    )]
    DestinationNotEmpty { to: String, from: String, lineage: String, serial: u64, resources: usize },
    /// The state backend failed or refused.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Help for a state backend error, as every command shows it.
pub fn state_help(e: &StateError) -> Option<String> {
    match e {
        StateError::Locked { holder } => Some(lock_help(holder)),
        StateError::Fenced { recovery_file: Some(f), .. } => Some(format!(
            "the state this run wanted to write was saved to {f}; compare it with `strata state pull`, then `strata plan` (objects it created are found again and recorded) or `strata state push {f}`"
        )),
        StateError::LockMismatch { .. } => Some("`strata lock status` shows the current lock and its id".into()),
        _ => None,
    }
}

fn lock_help(holder: &LockInfo) -> String {
    format!(
        "wait for it to finish, retry with `--lock-timeout 5m`, or if the holder is dead run `strata force-unlock {}`",
        holder.id
    )
}

impl Diagnostic for OpsError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self {
            OpsError::Locked { .. } => "ops::lock::held",
            OpsError::LockTimeout { .. } => "ops::lock::timeout",
            OpsError::LockInterrupted { .. } => "ops::lock::interrupted",
            OpsError::StalePlan { .. } => "ops::plan::stale",
            OpsError::Plan(_) => "ops::plan::failed",
            OpsError::NotInSpec { .. } => "ops::import::not-in-spec",
            OpsError::AlreadyManaged { .. } => "ops::import::already-managed",
            OpsError::AdoptFailed { .. } => "ops::import::adopt-failed",
            OpsError::NotInState { .. } => "ops::state::not-in-state",
            OpsError::DestinationExists { .. } => "ops::state::destination-exists",
            OpsError::NothingToPull { .. } => "ops::state::nothing-to-pull",
            OpsError::NothingToMigrate { .. } => "ops::migrate::no-source",
            OpsError::MigrateToItself { .. } => "ops::migrate::same-place",
            OpsError::DestinationNotEmpty { .. } => "ops::migrate::destination-not-empty",
            OpsError::State(_) => "ops::state::backend",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help = match self {
            OpsError::Locked { holder } | OpsError::LockTimeout { holder, .. } => Some(lock_help(holder)),
            OpsError::LockInterrupted { .. } => Some("run the command again to take the lock".into()),
            OpsError::StalePlan { .. } => Some("make a new plan with `strata plan -o FILE` and apply that".into()),
            OpsError::Plan(PlanError::UnknownTarget { suggestion, .. }) => suggestion.clone(),
            OpsError::Plan(_) => None,
            OpsError::NotInSpec { suggestion, .. } => suggestion.clone(),
            OpsError::AlreadyManaged { .. } => Some("`strata state show ADDR` shows what the state records".into()),
            OpsError::AdoptFailed { .. } => None,
            OpsError::NotInState { suggestion, .. } => suggestion.clone(),
            OpsError::DestinationExists { .. } => {
                Some("remove it first with `strata state rm` if it is a leftover".into())
            }
            OpsError::NothingToPull { .. } => None,
            OpsError::NothingToMigrate { .. } => None,
            OpsError::MigrateToItself { .. } => Some(
                "switch the spec's `state:` to the new backend first (for --from-local), or name another file".into(),
            ),
            OpsError::DestinationNotEmpty { from, .. } => Some(format!(
                "keep it: use `strata state pull` to inspect it; replace it: `strata state migrate ... --force` (the copy from {from} wins)"
            )),
            OpsError::State(e) => state_help(e),
        };
        help.map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}

impl OpsError {
    /// The [`Diagnostic::help`] text, for callers that print errors without miette.
    pub fn help_text(&self) -> Option<String> {
        Diagnostic::help(self).map(|h| h.to_string())
    }
}
