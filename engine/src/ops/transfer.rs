//! Moving the state document as a whole: `state pull` (read it raw), `state push` (replace it)
//! and `state migrate` (copy it between a local file and the configured backend).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use super::lock::{LockOptions, acquire, release};
use super::{Events, OpsError, backend_warnings};
use crate::state::{State, StateBackend, StateError};

/// The stored state as is. Fails with [`OpsError::NothingToPull`] when there is none.
pub async fn pull(backend: &dyn StateBackend) -> Result<State, OpsError> {
    backend.pull().await?.ok_or_else(|| OpsError::NothingToPull { place: backend.describe() })
}

/// A push that happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    /// What was stored (its serial may have been raised, see `replaced_serial`).
    pub state: State,
    /// With `force`, a push of an older serial of the same lineage (a rollback) is stored as the
    /// replaced serial + 1, so plans saved against the replaced state do not match it: the
    /// replaced serial, when that happened.
    pub replaced_serial: Option<u64>,
}

/// Replaces the stored state with `state`: only the same lineage at a higher serial unless
/// `force` ([`StateBackend::push`]); the write is fenced like any other. The caller holds the
/// lock. Fails with [`OpsError::State`] (`Rejected`, `Fenced`...).
pub async fn push(
    backend: &dyn StateBackend,
    mut state: State,
    force: bool,
    events: &Events,
) -> Result<Pushed, OpsError> {
    let current = backend.read().await?;
    backend_warnings(backend, events).await;
    let mut replaced_serial = None;
    if let (true, Some(c)) = (force, &current)
        && c.lineage == state.lineage
        && state.serial <= c.serial
    {
        replaced_serial = Some(c.serial);
        state.serial = c.serial + 1;
    }
    backend.push(&state, force).await?;
    Ok(Pushed { state, replaced_serial })
}

/// Which way `state migrate` copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the local file into the configured backend.
    FromLocal,
    /// From the configured backend into the local file.
    ToLocal,
}

/// How to migrate.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub direction: Direction,
    /// Replace a different state at the destination.
    pub force: bool,
    /// Lock both ends (source first); `None`: no locking (`--lock=false`).
    pub lock: Option<LockOptions>,
}

/// A migration's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// The destination already held exactly this state.
    AlreadyThere { lineage: String, serial: u64 },
    /// Copied and read back.
    Copied { lineage: String, serial: u64, resources: usize },
}

/// Copies the state between `local` and the `configured` backend, keeping lineage and serial,
/// with both ends locked until the copy has been read back through the destination. The
/// destination must be empty or already hold exactly this state, unless `opts.force`.
///
/// Fails with [`OpsError::MigrateToItself`], a lock error, [`OpsError::NothingToMigrate`],
/// [`OpsError::DestinationNotEmpty`] or [`OpsError::State`] (a read-back that differs is a
/// `StateError::Io`).
pub async fn migrate(
    configured: Arc<dyn StateBackend>,
    local: Arc<dyn StateBackend>,
    opts: &MigrateOptions,
    cancel: &watch::Receiver<u32>,
    events: &Events,
) -> Result<Migrated, OpsError> {
    if same_place(configured.as_ref(), local.as_ref()) {
        return Err(OpsError::MigrateToItself { local: local.describe() });
    }
    let (from, to) = match opts.direction {
        Direction::FromLocal => (local, configured),
        Direction::ToLocal => (configured, local),
    };
    // Source first, then destination; both held until the copy is verified.
    let (from_guard, to_guard) = match &opts.lock {
        None => (None, None),
        Some(lock) => {
            let from_guard = acquire(&from, lock, cancel, events).await?;
            match acquire(&to, lock, cancel, events).await {
                Ok(g) => (Some(from_guard), Some(g)),
                Err(e) => {
                    from_guard.release().await?;
                    return Err(e);
                }
            }
        }
    };
    let result = copy(from.as_ref(), to.as_ref(), opts.force, events).await;
    let r1 = release(to_guard).await;
    let r2 = release(from_guard).await;
    let migrated = result?;
    r1?;
    r2?;
    Ok(migrated)
}

async fn copy(
    from: &dyn StateBackend,
    to: &dyn StateBackend,
    force: bool,
    events: &Events,
) -> Result<Migrated, OpsError> {
    let Some(state) = from.read().await? else {
        return Err(OpsError::NothingToMigrate { place: from.describe() });
    };
    let existing = to.read().await?;
    backend_warnings(to, events).await;
    match &existing {
        Some(e) if *e == state => {
            return Ok(Migrated::AlreadyThere { lineage: e.lineage.clone(), serial: e.serial });
        }
        Some(e) if !force => {
            return Err(OpsError::DestinationNotEmpty {
                to: to.describe(),
                from: from.describe(),
                lineage: e.lineage.clone(),
                serial: e.serial,
                resources: e.resources.len(),
            });
        }
        _ => {}
    }
    to.push(&state, true).await?;
    // Read it back through the destination: what a later command will see.
    let copied = to.read().await?;
    if copied.as_ref() != Some(&state) {
        return Err(OpsError::State(StateError::Io {
            location: to.describe(),
            message: "the migrated state read back differs from what was written; the source is unchanged".into(),
        }));
    }
    Ok(Migrated::Copied { lineage: state.lineage.clone(), serial: state.serial, resources: state.resources.len() })
}

/// Whether two backends are the same storage (a migration from a place to itself).
pub fn same_place(a: &dyn StateBackend, b: &dyn StateBackend) -> bool {
    let canon = |d: String| {
        let p = PathBuf::from(&d);
        std::fs::canonicalize(&p).ok().or_else(|| std::path::absolute(&p).ok()).unwrap_or(p)
    };
    a.describe() == b.describe() || canon(a.describe()) == canon(b.describe())
}
