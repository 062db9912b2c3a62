//! Engine-level tests of the lock operations: the local backend, and an in-memory backend whose
//! lock and lease the tests control, under tokio's paused clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::time::Instant;

use super::lock::{LockOptions, acquire, renewal_interval};
use super::{Event, Events, OpsError};
use crate::state::{LocalBackend, LockInfo, State, StateBackend, StateError, StateLocking, StateStorage};

/// An in-memory backend: one lock, an optional lease, renewals recorded with their time.
#[derive(Default)]
struct TestBackend {
    holder: Mutex<Option<LockInfo>>,
    lease: Option<Duration>,
    renewals: Mutex<Vec<Instant>>,
    fail_renewals: AtomicBool,
}

#[async_trait]
impl StateStorage for TestBackend {
    fn describe(&self) -> String {
        "test".into()
    }
    async fn read(&self) -> Result<Option<State>, StateError> {
        Ok(None)
    }
    async fn write(&self, _: &State) -> Result<(), StateError> {
        Ok(())
    }
}

#[async_trait]
impl StateLocking for TestBackend {
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let mut holder = self.holder.lock().unwrap();
        match &*holder {
            Some(h) => Err(StateError::Locked { holder: Box::new(h.clone()) }),
            None => {
                *holder = Some(info.clone());
                Ok(())
            }
        }
    }
    async fn renew(&self, _id: &str) -> Result<(), StateError> {
        self.renewals.lock().unwrap().push(Instant::now());
        if self.fail_renewals.load(Ordering::SeqCst) {
            return Err(StateError::Io { location: "test".into(), message: "renewal refused".into() });
        }
        Ok(())
    }
    fn lease(&self) -> Option<Duration> {
        self.lease
    }
    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let mut holder = self.holder.lock().unwrap();
        match &*holder {
            Some(h) if h.id == id => {
                *holder = None;
                Ok(())
            }
            current => Err(StateError::LockMismatch { given: id.into(), current: current.clone().map(Box::new) }),
        }
    }
    async fn lock_status(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self.holder.lock().unwrap().clone())
    }
    async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        self.unlock(id).await
    }
}

/// Events as text, in order.
fn recorder() -> (Events, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let events: Events = Arc::new(move |e: &Event<'_>| {
        let line = match e {
            Event::LockWaiting { holder, timeout } => format!("waiting {:?} for {}", timeout, holder.id),
            Event::LockChangedHands { holder } => format!("changed hands to {}", holder.id),
            Event::LockAcquired { waited } => format!("acquired after {}s", waited.as_secs()),
            Event::LeaseRenewalFailed { error } => format!("renewal failed: {error}"),
            Event::BackendWarning { message } => format!("warning: {message}"),
        };
        s.lock().unwrap().push(line);
    });
    (events, seen)
}

fn held_by(id: &str) -> LockInfo {
    LockInfo { id: id.into(), ..LockInfo::for_current_process("apply") }
}

fn no_cancel() -> (watch::Sender<u32>, watch::Receiver<u32>) {
    watch::channel(0)
}

#[tokio::test]
async fn a_held_local_lock_fails_at_once_naming_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let holder = LocalBackend::new(&path);
    let theirs = LockInfo::for_current_process("apply");
    holder.lock(&theirs).await.unwrap();
    let backend: Arc<dyn StateBackend> = Arc::new(LocalBackend::new(&path));
    let (events, seen) = recorder();
    let (_tx, cancel) = no_cancel();
    match acquire(&backend, &LockOptions::new("plan", Duration::ZERO), &cancel, &events).await {
        Err(OpsError::Locked { holder }) => assert_eq!(*holder, theirs),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(seen.lock().unwrap().is_empty(), "no wait, nothing said");
    let help = miette::Diagnostic::help(&OpsError::Locked { holder: Box::new(theirs.clone()) }).unwrap().to_string();
    assert!(help.contains(&format!("strata force-unlock {}", theirs.id)), "{help}");
}

#[tokio::test]
async fn a_local_lock_is_taken_once_its_holder_releases_it_and_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let holder: Arc<dyn StateBackend> = Arc::new(LocalBackend::new(&path));
    let (_tx, cancel) = no_cancel();
    let theirs =
        acquire(&holder, &LockOptions::new("apply", Duration::ZERO), &cancel, &super::no_events()).await.unwrap();
    let backend: Arc<dyn StateBackend> = Arc::new(LocalBackend::new(&path));
    let (events, seen) = recorder();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        theirs.release().await.unwrap();
    });
    let mine = acquire(&backend, &LockOptions::new("plan", Duration::from_secs(10)), &cancel, &events).await.unwrap();
    release.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen[0].starts_with("waiting 10s for "), "{seen:?}");
    assert!(seen.last().unwrap().starts_with("acquired after"), "{seen:?}");
    assert_eq!(backend.lock_status().await.unwrap().map(|l| l.operation), Some("plan".into()));
    // Dropped without release (an early return): released in the background.
    drop(mine);
    for _ in 0..100 {
        if backend.lock_status().await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(backend.lock_status().await.unwrap(), None);
    assert!(!LocalBackend::new(&path).lock_path().exists(), "the lock file is removed");
}

#[tokio::test(start_paused = true)]
async fn waiting_gives_up_at_the_timeout_naming_the_last_holder() {
    let backend = Arc::new(TestBackend::default());
    *backend.holder.lock().unwrap() = Some(held_by("first"));
    let b = backend.clone();
    // The lock changes hands while we wait.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        *b.holder.lock().unwrap() = Some(held_by("second"));
    });
    let dyn_backend: Arc<dyn StateBackend> = backend.clone();
    let (events, seen) = recorder();
    let (_tx, cancel) = no_cancel();
    let started = Instant::now();
    let err =
        acquire(&dyn_backend, &LockOptions::new("apply", Duration::from_secs(5)), &cancel, &events).await.unwrap_err();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(5) && waited < Duration::from_secs(6), "{waited:?}");
    match &err {
        OpsError::LockTimeout { holder, waited } => {
            assert_eq!(holder.id, "second");
            assert!(*waited >= Duration::from_secs(5));
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(err.to_string().starts_with("gave up waiting for the state lock after 5."), "{err}");
    assert_eq!(*seen.lock().unwrap(), vec!["waiting 5s for first".to_string(), "changed hands to second".into()]);
}

#[tokio::test(start_paused = true)]
async fn attempts_back_off_from_100ms_to_1s_with_jitter() {
    /// Counts lock attempts.
    struct Counting(TestBackend, Mutex<Vec<Instant>>);
    #[async_trait]
    impl StateStorage for Counting {
        fn describe(&self) -> String {
            self.0.describe()
        }
        async fn read(&self) -> Result<Option<State>, StateError> {
            self.0.read().await
        }
        async fn write(&self, s: &State) -> Result<(), StateError> {
            self.0.write(s).await
        }
    }

    #[async_trait]
    impl StateLocking for Counting {
        async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
            self.1.lock().unwrap().push(Instant::now());
            self.0.lock(info).await
        }
        async fn unlock(&self, id: &str) -> Result<(), StateError> {
            self.0.unlock(id).await
        }
        async fn lock_status(&self) -> Result<Option<LockInfo>, StateError> {
            self.0.lock_status().await
        }
        async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
            self.0.force_unlock(id).await
        }
    }
    let counting = Arc::new(Counting(TestBackend::default(), Mutex::new(Vec::new())));
    *counting.0.holder.lock().unwrap() = Some(held_by("them"));
    let backend: Arc<dyn StateBackend> = counting.clone();
    let (_tx, cancel) = no_cancel();
    let _ = acquire(&backend, &LockOptions::new("apply", Duration::from_secs(20)), &cancel, &super::no_events()).await;
    let times = counting.1.lock().unwrap().clone();
    let pauses: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(pauses[0] >= Duration::from_millis(50) && pauses[0] <= Duration::from_millis(100), "{pauses:?}");
    assert!(pauses.iter().all(|p| *p <= Duration::from_secs(1)), "{pauses:?}");
    // Grown to the cap: later pauses are jittered within [0.5 s, 1 s].
    assert!(pauses[10..pauses.len() - 1].iter().all(|p| *p >= Duration::from_millis(500)), "{pauses:?}");
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_stops_the_wait() {
    let backend = Arc::new(TestBackend::default());
    *backend.holder.lock().unwrap() = Some(held_by("them"));
    let dyn_backend: Arc<dyn StateBackend> = backend.clone();
    let (tx, cancel) = watch::channel(0u32);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        tx.send(1).unwrap();
        // Keep the sender alive so the channel does not close.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    let started = Instant::now();
    let err = acquire(&dyn_backend, &LockOptions::new("apply", Duration::from_secs(600)), &cancel, &super::no_events())
        .await
        .unwrap_err();
    assert!(matches!(&err, OpsError::LockInterrupted { holder } if holder.id == "them"), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert_eq!(backend.holder.lock().unwrap().as_ref().map(|h| h.id.clone()), Some("them".into()), "theirs untouched");
}

#[tokio::test(start_paused = true)]
async fn a_lease_is_renewed_three_times_per_lease_until_release() {
    let backend = Arc::new(TestBackend { lease: Some(Duration::from_secs(30)), ..TestBackend::default() });
    let dyn_backend: Arc<dyn StateBackend> = backend.clone();
    let (_tx, cancel) = no_cancel();
    let started = Instant::now();
    let guard =
        acquire(&dyn_backend, &LockOptions::new("apply", Duration::ZERO), &cancel, &super::no_events()).await.unwrap();
    assert_eq!(renewal_interval(Duration::from_secs(30)), Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(95)).await;
    let renewals: Vec<Duration> = backend.renewals.lock().unwrap().iter().map(|t| *t - started).collect();
    assert_eq!(renewals.len(), 9, "{renewals:?}");
    for (i, at) in renewals.iter().enumerate() {
        assert_eq!(at.as_secs(), 10 * (i as u64 + 1), "{renewals:?}");
    }
    guard.release().await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(backend.renewals.lock().unwrap().len(), 9, "no renewals after release");
    assert!(backend.holder.lock().unwrap().is_none(), "released");
}

#[tokio::test(start_paused = true)]
async fn a_failing_renewal_is_reported_once_per_run_of_failures_and_dropping_stops_renewing() {
    let backend = Arc::new(TestBackend { lease: Some(Duration::from_secs(3)), ..TestBackend::default() });
    backend.fail_renewals.store(true, Ordering::SeqCst);
    let dyn_backend: Arc<dyn StateBackend> = backend.clone();
    let (events, seen) = recorder();
    let (_tx, cancel) = no_cancel();
    let guard = acquire(&dyn_backend, &LockOptions::new("apply", Duration::ZERO), &cancel, &events).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await; // 3 failed renewals
    backend.fail_renewals.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await; // 2 good ones
    backend.fail_renewals.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await; // failing again
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "renewal failed: state storage error at test: renewal refused".to_string(),
            "renewal failed: state storage error at test: renewal refused".into()
        ]
    );
    drop(guard);
    tokio::task::yield_now().await;
    let n = backend.renewals.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(backend.renewals.lock().unwrap().len(), n, "no renewals after drop");
    assert!(backend.holder.lock().unwrap().is_none(), "released on drop");
}
