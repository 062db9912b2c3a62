//! State: what strata applied, where, and who may change it now.
//!
//! The document is JSON (format version, lineage fixed at first apply, serial +1 per write, one
//! entry per resource). Backends implement [`StateBackend`]; every backend runs the same
//! conformance suite ([`suite`]) so S3 and the local file behave alike.

mod local;
mod plugin;

pub mod suite;
pub mod trace;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_sdk::{Address, Applied};

pub use local::LocalBackend;
pub use plugin::{BackendContext, DEFAULT_BACKEND, LocalPlugin, LocalStateConfig, StateBackendPlugin, decode_settings};

/// Current state document format.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Identifies this state's history; plans and pushes must match it.
    pub lineage: String,
    /// Incremented on every write.
    pub serial: u64,
    /// strata version that last wrote the state.
    #[serde(default)]
    pub strata_version: String,
    #[serde(default)]
    pub resources: BTreeMap<Address, ResourceState>,
}

impl State {
    /// A new, empty state with a fresh lineage.
    pub fn new() -> Self {
        State {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            strata_version: env!("CARGO_PKG_VERSION").to_string(),
            resources: BTreeMap::new(),
        }
    }

    /// Parses a state document, refusing newer formats instead of misreading them.
    pub fn from_json(bytes: &[u8]) -> Result<Self, StateError> {
        let state: State = serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt { message: e.to_string() })?;
        if state.format_version > FORMAT_VERSION {
            return Err(StateError::Corrupt {
                message: format!(
                    "state format {} is newer than this strata understands ({FORMAT_VERSION}); upgrade strata",
                    state.format_version
                ),
            });
        }
        Ok(state)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("state serializes")
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// One resource as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub provider: String,
    pub kind: String,
    pub remote_id: String,
    /// Attributes as applied (references resolved): the baseline for drift and diffs.
    pub attrs: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub outputs: Value,
    /// What it depended on when applied: deletes run in the reverse of this order even after
    /// the spec no longer mentions the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    /// Pointer patterns of sensitive attributes (masked in `state show`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
}

impl ResourceState {
    pub fn applied(&self) -> Applied {
        Applied { remote_id: self.remote_id.clone(), attrs: self.attrs.clone(), outputs: self.outputs.clone() }
    }
}

/// Who holds a state lock and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    /// `user@host`.
    pub who: String,
    pub host: String,
    pub pid: u32,
    /// The command holding the lock: `apply`, `plan`, `destroy`, `state rm`...
    pub operation: String,
    /// RFC 3339.
    pub started: String,
    /// RFC 3339 lease expiry; a live holder renews it. `None`: held until released.
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub version: String,
}

impl LockInfo {
    /// Describes the current process as a lock holder.
    pub fn for_current_process(operation: &str) -> Self {
        let host = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "unknown".into());
        let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into());
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            who: format!("{user}@{host}"),
            host,
            pid: std::process::id(),
            operation: operation.to_string(),
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            expires: None,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// One line for messages: "held by alice@ci-7 (pid 4121) for apply since ...".
    pub fn describe(&self) -> String {
        format!(
            "held by {} (pid {}) for `{}` since {}, lock id {}",
            self.who, self.pid, self.operation, self.started, self.id
        )
    }
}

/// Errors from state backends. Each says what happened and what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Someone else holds the lock.
    #[error("the state is locked: {}", holder.describe())]
    Locked { holder: Box<LockInfo> },
    /// `force-unlock` with an id that is not the current lock's.
    #[error("lock id `{given}` does not match the current lock ({})", current.as_ref().map_or("no lock is held".to_string(), |c| c.id.clone()))]
    LockMismatch { given: String, current: Option<Box<LockInfo>> },
    /// The stored state changed since this process read it (another writer, or our lock was
    /// broken): writing would lose their changes.
    #[error("the stored state changed since it was read ({detail}); refusing to overwrite it")]
    Fenced { detail: String, recovery_file: Option<String> },
    /// The state document does not parse.
    #[error("the state document is unreadable: {message}")]
    Corrupt { message: String },
    /// Reading or writing failed.
    #[error("state storage error at {location}: {message}")]
    Io { location: String, message: String },
    /// The backend's configuration cannot work (a missing encryption key, `lock: dynamodb`
    /// without a table...); nothing was read or written.
    #[error("state backend configuration: {message}")]
    Config { message: String },
    /// The backend refused an operation that would lose data: a push of a state from another
    /// lineage or not newer than the stored one (without force).
    #[error("refusing to replace the stored state: {reason}")]
    Rejected { reason: String },
}

impl miette::Diagnostic for StateError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let code = match self {
            StateError::Locked { .. } => "state::locked",
            StateError::LockMismatch { .. } => "state::lock-mismatch",
            StateError::Fenced { .. } => "state::fenced",
            StateError::Corrupt { .. } => "state::corrupt",
            StateError::Io { .. } => "state::io",
            StateError::Config { .. } => "state::config",
            StateError::Rejected { .. } => "state::rejected",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = crate::ops::state_help(self).or_else(|| match self {
            StateError::Fenced { .. } => Some("run `strata plan` again: it starts from the stored state".to_string()),
            StateError::Corrupt { .. } => Some(
                "`strata state pull` prints the stored document; fix it, or restore a backup with `strata state push`"
                    .into(),
            ),
            StateError::Io { .. } => {
                Some("check that the location exists and is readable and writable, then run the command again".into())
            }
            StateError::Config { .. } => Some("fix the `state:` section of the spec".into()),
            StateError::Rejected { .. } => Some("`strata state push --force` replaces it anyway".into()),
            _ => None,
        });
        help.map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// Where the state document is kept: read, fenced write, pull/push. One half of a
/// [`StateBackend`]; the other is [`StateLocking`].
#[async_trait]
pub trait StateStorage: Send + Sync {
    /// Where the state lives, for messages (`.strata/state.json`, `s3://bucket/key`).
    fn describe(&self) -> String;

    /// Reads the stored state, or `None` if there is none yet. Remembers what was read, so a
    /// later write can detect a concurrent writer.
    async fn read(&self) -> Result<Option<State>, StateError>;

    /// Stores `state`, conditional on the stored state being what this backend last read or
    /// wrote (fencing). The previous version is kept as a backup where the backend can.
    async fn write(&self, state: &State) -> Result<(), StateError>;

    /// The stored state as is, for `state pull`.
    async fn pull(&self) -> Result<Option<State>, StateError> {
        self.read().await
    }

    /// Replaces the stored state with `state` (`state push`): only a state of the same lineage
    /// with a higher serial, unless `force`. The write itself is fenced like any other.
    async fn push(&self, state: &State, force: bool) -> Result<(), StateError> {
        let current = self.read().await?;
        if let (Some(current), false) = (&current, force) {
            if current.lineage != state.lineage {
                return Err(StateError::Rejected {
                    reason: format!(
                        "{} has lineage {}, the pushed state has lineage {} (use --force to replace it anyway)",
                        self.describe(),
                        current.lineage,
                        state.lineage
                    ),
                });
            }
            if state.serial <= current.serial {
                return Err(StateError::Rejected {
                    reason: format!(
                        "{} is at serial {}, the pushed state at serial {}: a push must be newer (use --force to replace it anyway)",
                        self.describe(),
                        current.serial,
                        state.serial
                    ),
                });
            }
        }
        self.write(state).await
    }

    /// Reads a state document from a file given to `state push`: a plain state, or what this
    /// backend itself writes to files (the S3 backend's recovery files are encrypted with the
    /// state key when encryption is on).
    fn decode_file(&self, bytes: &[u8]) -> Result<State, StateError> {
        State::from_json(bytes)
    }

    /// Things the user should know about this backend (S3 versioning off...). Never fails.
    async fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Who may change the state now: a lock with holder details, an optional lease, and the
/// operator's `force-unlock`. Kept apart from [`StateStorage`] so a backend can pair its storage
/// with another lock (the S3 backend locks with an object or a DynamoDB item).
#[async_trait]
pub trait StateLocking: Send + Sync {
    /// Takes the lock, or fails at once with [`StateError::Locked`] naming the holder.
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError>;

    /// Extends a held lock's lease (no-op for backends without leases).
    async fn renew(&self, _id: &str) -> Result<(), StateError> {
        Ok(())
    }

    /// The lease a lock taken through this backend carries, if any: a holder must call
    /// [`renew`](StateBackend::renew) well within it. `None`: locks are held until released.
    fn lease(&self) -> Option<std::time::Duration> {
        None
    }

    /// Releases a lock this process holds.
    async fn unlock(&self, id: &str) -> Result<(), StateError>;

    /// The current holder, if any.
    async fn lock_status(&self) -> Result<Option<LockInfo>, StateError>;

    /// Removes the lock only if `id` matches it.
    async fn force_unlock(&self, id: &str) -> Result<(), StateError>;
}

/// A place to keep state, with locking: storage and locking together, which is what commands
/// open. Implemented for every type that implements both halves.
pub trait StateBackend: StateStorage + StateLocking {}

impl<T: StateStorage + StateLocking + ?Sized> StateBackend for T {}
