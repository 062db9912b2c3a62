//! Operations on state that commands run, without a terminal: taking and holding the state lock
//! ([`lock`]), checking a saved plan against the state ([`saved_plan`]), adopting an existing
//! object ([`import`]), editing the state ([`edit`]: `rm`, `mv`) and moving it ([`transfer`]:
//! `pull`, `push`, `migrate`).
//!
//! Each takes plain options and a backend, reports progress as [`Event`]s to a callback instead
//! of printing, and fails with an [`OpsError`], a miette diagnostic with a code and help. The CLI
//! turns arguments into options and events into lines, asks questions, and picks exit codes.

pub mod edit;
mod error;
pub mod import;
pub mod lock;
pub mod saved_plan;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use crate::state::{LockInfo, StateBackend, StateError};

pub use error::{OpsError, state_help};
pub use lock::{LockGuard, LockOptions, acquire};

/// Something an operation reports while it runs; the caller decides whether and how to show it.
#[derive(Debug)]
pub enum Event<'a> {
    /// The lock is held by someone else; the operation waits up to `timeout` for it.
    LockWaiting { holder: &'a LockInfo, timeout: Duration },
    /// While waiting, the lock passed to another holder.
    LockChangedHands { holder: &'a LockInfo },
    /// The lock was taken after waiting for it (not sent when it was free at once).
    LockAcquired { waited: Duration },
    /// Renewing the lock's lease failed (sent once per run of failures): if the lease runs out
    /// someone else may take the lock, and this run's writes will then be fenced.
    LeaseRenewalFailed { error: &'a StateError },
    /// Something the backend says the user should know (S3 versioning off...), sent after the
    /// operation's first read.
    BackendWarning { message: &'a str },
}

/// Where operations send their [`Event`]s.
pub type Events = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// An [`Events`] that drops everything.
pub fn no_events() -> Events {
    Arc::new(|_| {})
}

/// Sends the backend's warnings as [`Event::BackendWarning`].
pub(crate) async fn backend_warnings(backend: &dyn StateBackend, events: &Events) {
    for message in backend.warnings().await {
        events(&Event::BackendWarning { message: &message });
    }
}

/// `12.3s` under a minute, `4m05s` above: how long was waited, in messages.
pub fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests;
