//! Taking the state lock, waiting for it, renewing its lease, releasing it.
//!
//! [`acquire`] tries [`StateBackend::lock`]; while someone else holds the lock it waits up to
//! [`LockOptions::timeout`], retrying after pauses that start at [`LockOptions::first_pause`]
//! and grow by half up to [`LockOptions::max_pause`], each jittered down to half so waiters
//! spread out. It says whom it waits for ([`Event::LockWaiting`], again on
//! [`Event::LockChangedHands`]) and a Ctrl-C (the `cancel` channel above 0) stops the wait.
//!
//! The [`LockGuard`] it returns renews a lease (for backends that have one) three times per
//! lease until it is released, or dropped: a guard dropped without [`LockGuard::release`]
//! (an early return, a cancelled future) still releases the lock, in the background.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Event, Events, OpsError};
use crate::state::{LockInfo, StateBackend, StateError};

/// How to take the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// The command the lock is for, as others see it (`apply`, `state rm`...).
    pub operation: String,
    /// How long to wait while someone else holds it; zero: fail at once.
    pub timeout: Duration,
    /// The first pause between attempts.
    pub first_pause: Duration,
    /// The longest pause between attempts.
    pub max_pause: Duration,
}

impl LockOptions {
    /// `operation`, waiting up to `timeout`, pausing 100 ms growing to 1 s.
    pub fn new(operation: impl Into<String>, timeout: Duration) -> Self {
        LockOptions {
            operation: operation.into(),
            timeout,
            first_pause: Duration::from_millis(100),
            max_pause: Duration::from_secs(1),
        }
    }
}

/// The state lock, held. Release it with [`release`](LockGuard::release) to learn whether the
/// release worked; dropping it releases it in the background.
pub struct LockGuard {
    backend: Arc<dyn StateBackend>,
    id: String,
    renew: Option<JoinHandle<()>>,
    released: bool,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard").field("state", &self.backend.describe()).field("id", &self.id).finish()
    }
}

impl LockGuard {
    /// The lock's id (what `force-unlock` takes).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stops renewing the lease and releases the lock.
    pub async fn release(mut self) -> Result<(), StateError> {
        if let Some(renew) = self.renew.take() {
            renew.abort();
        }
        self.released = true;
        self.backend.unlock(&self.id).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(renew) = self.renew.take() {
            renew.abort();
        }
        if !self.released
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (backend, id) = (self.backend.clone(), std::mem::take(&mut self.id));
            runtime.spawn(async move {
                let _ = backend.unlock(&id).await;
            });
        }
    }
}

/// Releases `guard` if there is one (commands run with `--lock=false` have none).
pub async fn release(guard: Option<LockGuard>) -> Result<(), StateError> {
    match guard {
        Some(g) => g.release().await,
        None => Ok(()),
    }
}

/// Takes the state lock of `backend` for `opts.operation`; see the [module](self) for waiting,
/// cancelling and lease renewal.
///
/// Fails with [`OpsError::Locked`] when the lock is held and no wait was asked for,
/// [`OpsError::LockTimeout`] when the wait ran out, [`OpsError::LockInterrupted`] on Ctrl-C, and
/// [`OpsError::State`] when the backend fails.
pub async fn acquire(
    backend: &Arc<dyn StateBackend>,
    opts: &LockOptions,
    cancel: &watch::Receiver<u32>,
    events: &Events,
) -> Result<LockGuard, OpsError> {
    let started = Instant::now();
    let deadline = started + opts.timeout;
    let info = LockInfo::for_current_process(&opts.operation);
    let mut cancel = cancel.clone();
    let mut holder_seen: Option<String> = None;
    let mut pause = opts.first_pause;
    loop {
        match backend.lock(&info).await {
            Ok(()) => break,
            Err(StateError::Locked { holder }) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(match holder_seen {
                        None => OpsError::Locked { holder },
                        Some(_) => OpsError::LockTimeout { holder, waited: now - started },
                    });
                }
                match &holder_seen {
                    None => events(&Event::LockWaiting { holder: &holder, timeout: opts.timeout }),
                    Some(id) if *id != holder.id => events(&Event::LockChangedHands { holder: &holder }),
                    Some(_) => {}
                }
                holder_seen = Some(holder.id.clone());
                let jittered = pause.mul_f64(rand::rng().random_range(0.5..=1.0));
                tokio::select! {
                    _ = tokio::time::sleep(jittered.min(deadline - now)) => {}
                    changed = cancel.changed() => {
                        if changed.is_ok() && *cancel.borrow() > 0 {
                            return Err(OpsError::LockInterrupted { holder });
                        }
                    }
                }
                pause = pause.mul_f64(1.5).min(opts.max_pause);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if holder_seen.is_some() {
        events(&Event::LockAcquired { waited: started.elapsed() });
    }
    let renew = backend.lease().map(|lease| spawn_renewal(backend.clone(), info.id.clone(), lease, events.clone()));
    Ok(LockGuard { backend: backend.clone(), id: info.id, renew, released: false })
}

/// How often a lease is renewed: three times per lease, at most every 100 ms.
pub fn renewal_interval(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

fn spawn_renewal(backend: Arc<dyn StateBackend>, id: String, lease: Duration, events: Events) -> JoinHandle<()> {
    let every = renewal_interval(lease);
    tokio::spawn(async move {
        let mut warned = false;
        loop {
            tokio::time::sleep(every).await;
            match backend.renew(&id).await {
                Ok(()) => warned = false,
                Err(error) if !warned => {
                    events(&Event::LeaseRenewalFailed { error: &error });
                    warned = true;
                }
                Err(_) => {}
            }
        }
    })
}
