//! The conformance suite every state backend must pass. Backends call [`run`] from their own
//! tests with a factory for fresh, isolated backends and one for a second handle on the same
//! state (another process, as far as the backend can tell).

use super::{LockInfo, State, StateBackend, StateError};

/// Runs every check. `fresh` returns a backend over empty storage; `same` returns another
/// handle on the storage of the backend it is given.
pub async fn run<F, G>(mut fresh: F, mut same: G)
where
    F: FnMut() -> Box<dyn StateBackend>,
    G: FnMut(&dyn StateBackend) -> Box<dyn StateBackend>,
{
    empty_reads_as_none(fresh().as_ref()).await;
    round_trips(fresh().as_ref()).await;
    let a = fresh();
    let b = same(a.as_ref());
    lock_excludes_others(a.as_ref(), b.as_ref()).await;
    let a = fresh();
    let b = same(a.as_ref());
    stale_writer_is_fenced(a.as_ref(), b.as_ref()).await;
}

async fn empty_reads_as_none(b: &dyn StateBackend) {
    assert!(b.read().await.unwrap().is_none(), "{}: a new backend has no state", b.describe());
    assert!(b.lock_status().await.unwrap().is_none());
}

async fn round_trips(b: &dyn StateBackend) {
    b.read().await.unwrap();
    let mut s = State::new();
    s.serial = 1;
    s.resources.insert(
        "resources.x".parse().unwrap(),
        super::ResourceState {
            provider: "test".into(),
            kind: "thing".into(),
            remote_id: "x-1".into(),
            attrs: serde_json::json!({"size": 3, "name": "ünïcode"}),
            outputs: serde_json::json!({"id": "x-1"}),
            depends_on: vec![],
            sensitive: vec![],
        },
    );
    b.write(&s).await.unwrap();
    assert_eq!(b.read().await.unwrap(), Some(s.clone()));
    s.serial = 2;
    b.write(&s).await.unwrap();
    assert_eq!(b.read().await.unwrap().unwrap().serial, 2);
}

async fn lock_excludes_others(a: &dyn StateBackend, b: &dyn StateBackend) {
    let la = LockInfo::for_current_process("apply");
    a.lock(&la).await.unwrap();
    let status = b.lock_status().await.unwrap().expect("lock is visible to others");
    assert_eq!(status.id, la.id);
    assert_eq!(status.operation, "apply");
    let lb = LockInfo::for_current_process("plan");
    match b.lock(&lb).await {
        Err(StateError::Locked { holder }) => assert_eq!(holder.id, la.id),
        other => panic!("second lock must fail naming the holder, got {other:?}"),
    }
    assert!(matches!(b.force_unlock("not-the-id").await, Err(StateError::LockMismatch { .. })));
    assert!(a.lock_status().await.unwrap().is_some(), "a wrong id must not remove the lock");
    b.force_unlock(&la.id).await.unwrap();
    assert!(a.lock_status().await.unwrap().is_none());
    b.lock(&lb).await.unwrap();
    b.unlock(&lb.id).await.unwrap();
    assert!(a.lock_status().await.unwrap().is_none());
}

async fn stale_writer_is_fenced(a: &dyn StateBackend, b: &dyn StateBackend) {
    a.read().await.unwrap();
    let mut s = State::new();
    a.write(&s).await.unwrap();
    // b reads, then a writes a newer serial: b's view is stale.
    let mut seen_by_b = b.read().await.unwrap().unwrap();
    s.serial = 1;
    a.write(&s).await.unwrap();
    seen_by_b.serial = 1;
    seen_by_b.resources.clear();
    match b.write(&seen_by_b).await {
        Err(StateError::Fenced { .. }) => {}
        other => panic!("a stale writer must be fenced, got {other:?}"),
    }
    assert_eq!(a.read().await.unwrap().unwrap(), s, "the newer state survives");
}
