//! `STRATA_LOG=debug`: one line on stderr per state and lock operation, with wall-clock start
//! and end times, so that what several strata processes did to one state can be put in order
//! (who held the lock when, how long each call took). Lines never carry state contents.
//!
//! ```text
//! strata-trace pid=4121 op=lock.acquire start=2026-05-01T10:00:00.120001Z end=2026-05-01T10:00:00.131210Z ms=11.2 result=ok id=6f0c...
//! ```
//!
//! For a lock the interval from `lock.acquire`'s `end` to `lock.release`'s `start` lies inside
//! the time the lock was really held (taken before the first, released after the second).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{LockInfo, State, StateBackend, StateError, StateLocking, StateStorage};
use crate::redact::Redactor;

/// The variable that turns tracing on.
pub const LOG_ENV: &str = "STRATA_LOG";

/// Whether `STRATA_LOG` asks for state tracing (`debug`, `trace` or `state`).
pub fn enabled() -> bool {
    std::env::var(LOG_ENV).is_ok_and(|v| {
        v.split(',').any(|p| matches!(p.trim().to_ascii_lowercase().as_str(), "debug" | "trace" | "state"))
    })
}

/// A backend that reports every call on stderr.
pub struct Traced {
    inner: Arc<dyn StateBackend>,
    redactor: Redactor,
}

impl Traced {
    pub fn new(inner: Arc<dyn StateBackend>) -> Self {
        Traced { inner, redactor: Redactor::default() }
    }

    /// Lines go through `redactor` (an error message may echo a secret).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }
}

fn stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Times `f` and prints one line describing it with `detail`.
async fn traced<T, F>(
    redactor: &Redactor,
    op: &str,
    f: F,
    detail: impl FnOnce(&Result<T, StateError>) -> String,
) -> Result<T, StateError>
where
    F: std::future::Future<Output = Result<T, StateError>>,
{
    let (start, t0) = (stamp(), Instant::now());
    let result = f.await;
    let elapsed = t0.elapsed();
    let end = stamp();
    let line = format!(
        "strata-trace pid={} op={op} start={start} end={end} ms={:.1} {}",
        std::process::id(),
        ms(elapsed),
        detail(&result)
    );
    eprintln!("{}", redactor.redact_str(&line));
    result
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn err(e: &StateError) -> String {
    let kind = match e {
        StateError::Locked { holder } => {
            return format!("result=locked holder={} holder_pid={}", holder.id, holder.pid);
        }
        StateError::LockMismatch { .. } => "lock-mismatch",
        StateError::Fenced { .. } => "fenced",
        StateError::Corrupt { .. } => "corrupt",
        StateError::Io { .. } => "io",
        StateError::Config { .. } => "config",
        StateError::Rejected { .. } => "rejected",
    };
    format!("result=error kind={kind} message={:?}", e.to_string())
}

fn state_detail(r: &Result<Option<State>, StateError>) -> String {
    match r {
        Ok(Some(s)) => format!("result=ok lineage={} serial={} resources={}", s.lineage, s.serial, s.resources.len()),
        Ok(None) => "result=none".into(),
        Err(e) => err(e),
    }
}

fn unit_detail(r: &Result<(), StateError>, extra: String) -> String {
    match r {
        Ok(()) => format!("result=ok {extra}"),
        Err(e) => format!("{} {extra}", err(e)),
    }
}

#[async_trait]
impl StateStorage for Traced {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn read(&self) -> Result<Option<State>, StateError> {
        traced(&self.redactor, "state.read", self.inner.read(), state_detail).await
    }

    async fn write(&self, state: &State) -> Result<(), StateError> {
        let extra = format!("lineage={} serial={} resources={}", state.lineage, state.serial, state.resources.len());
        traced(&self.redactor, "state.write", self.inner.write(state), |r| unit_detail(r, extra)).await
    }

    async fn pull(&self) -> Result<Option<State>, StateError> {
        traced(&self.redactor, "state.pull", self.inner.pull(), state_detail).await
    }

    async fn push(&self, state: &State, force: bool) -> Result<(), StateError> {
        let extra = format!("lineage={} serial={} force={force}", state.lineage, state.serial);
        traced(&self.redactor, "state.push", self.inner.push(state, force), |r| unit_detail(r, extra)).await
    }

    async fn warnings(&self) -> Vec<String> {
        self.inner.warnings().await
    }

    fn decode_file(&self, bytes: &[u8]) -> Result<State, StateError> {
        self.inner.decode_file(bytes)
    }
}

#[async_trait]
impl StateLocking for Traced {
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let extra = format!("id={} operation={:?}", info.id, info.operation);
        traced(&self.redactor, "lock.acquire", self.inner.lock(info), |r| match r {
            Err(e @ StateError::Locked { .. }) => format!("{} {extra}", err(e)),
            r => unit_detail(r, extra),
        })
        .await
    }

    async fn renew(&self, id: &str) -> Result<(), StateError> {
        traced(&self.redactor, "lock.renew", self.inner.renew(id), |r| unit_detail(r, format!("id={id}"))).await
    }

    fn lease(&self) -> Option<Duration> {
        self.inner.lease()
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        traced(&self.redactor, "lock.release", self.inner.unlock(id), |r| unit_detail(r, format!("id={id}"))).await
    }

    async fn lock_status(&self) -> Result<Option<LockInfo>, StateError> {
        traced(&self.redactor, "lock.status", self.inner.lock_status(), |r| match r {
            Ok(Some(l)) => format!("result=held id={} pid={}", l.id, l.pid),
            Ok(None) => "result=free".into(),
            Err(e) => err(e),
        })
        .await
    }

    async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        traced(&self.redactor, "lock.force_unlock", self.inner.force_unlock(id), |r| unit_detail(r, format!("id={id}")))
            .await
    }
}
