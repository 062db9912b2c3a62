//! The S3 state backend against moto (the real S3 and DynamoDB wire protocols): the shared
//! backend suite, concurrent writers, fencing of a stale lock holder, injected faults,
//! encryption, SSE, versioning, push/pull and the SDK's environment configuration.

#[path = "../../../tests/support/fault_proxy.rs"]
mod fault_proxy;
#[path = "../../../tests/support/moto.rs"]
mod moto;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use fault_proxy::{FaultProxy, Faults};
use moto::Moto;
use strata_backend_s3::{EncryptionConfig, LockKind, S3Backend, S3Options, S3StateConfig};
use strata_engine::state::{LockInfo, ResourceState, State, StateError, StateLocking, StateStorage, suite};

const REGION: &str = "us-east-1";

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

async fn new_bucket(moto: &Moto, prefix: &str) -> String {
    let bucket = unique(prefix);
    moto.s3_admin().create_bucket().bucket(&bucket).send().await.expect("create bucket");
    bucket
}

async fn new_lock_table(moto: &Moto) -> String {
    let table = unique("locks");
    moto.create_lock_table(&table).await;
    table
}

fn config(bucket: &str, key: &str, endpoint: &str) -> S3StateConfig {
    S3StateConfig {
        bucket: bucket.into(),
        key: key.into(),
        region: Some(REGION.into()),
        endpoint: Some(endpoint.into()),
        profile: None,
        lock: None,
        dynamodb_table: None,
        encryption: None,
        sse: None,
        kms_key_id: None,
        lease_seconds: None,
    }
}

fn options(recovery: &Path) -> S3Options {
    S3Options {
        credentials: Some(("test".into(), "test".into())),
        recovery_dir: Some(recovery.to_path_buf()),
        initial_backoff: Duration::from_millis(20),
        ..S3Options::default()
    }
}

fn backend(config: &S3StateConfig, options: S3Options) -> S3Backend {
    S3Backend::with_options(config, "test", options).expect("valid backend config")
}

fn entry(id: &str) -> ResourceState {
    ResourceState {
        provider: "test".into(),
        kind: "thing".into(),
        remote_id: id.into(),
        attrs: serde_json::json!({"name": id, "size": 3}),
        outputs: serde_json::Value::Null,
        depends_on: vec![],
        sensitive: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_passes_the_suite() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "suite").await;
    let dir = tempfile::tempdir().unwrap();
    let make = |key: &str| Box::new(backend(&config(&bucket, key, &moto.endpoint), options(dir.path())));
    let mut n = 0;
    suite::run(
        || {
            n += 1;
            make(&format!("s{n}/state.json"))
        },
        |first| {
            let key = first
                .describe()
                .strip_prefix(&format!("s3://{bucket}/"))
                .expect("describe is s3://bucket/key")
                .to_string();
            make(&key)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_lock_passes_the_suite() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "ddb-suite").await;
    let table = new_lock_table(moto).await;
    let dir = tempfile::tempdir().unwrap();
    let make = |key: &str| {
        let mut c = config(&bucket, key, &moto.endpoint);
        c.lock = Some(LockKind::Dynamodb);
        c.dynamodb_table = Some(table.clone());
        let mut o = options(dir.path());
        o.dynamodb_endpoint = Some(moto.endpoint.clone());
        Box::new(backend(&c, o))
    };
    let mut n = 0;
    suite::run(
        || {
            n += 1;
            make(&format!("s{n}/state.json"))
        },
        |first| {
            let key = first.describe().strip_prefix(&format!("s3://{bucket}/")).unwrap().to_string();
            make(&key)
        },
    )
    .await;
}

/// One "apply": lock (waiting for it), read, add `name`, serial + 1, write, unlock.
async fn apply(
    b: &S3Backend,
    name: &str,
    inside: &AtomicUsize,
    overlaps: &AtomicUsize,
    deadline: Instant,
) -> Result<(), String> {
    let info = LockInfo::for_current_process("apply");
    let mut wait = 5u64;
    loop {
        match b.lock(&info).await {
            Ok(()) => break,
            Err(StateError::Locked { .. }) if Instant::now() < deadline => {
                let jitter = rand_ms(wait);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                wait = (wait * 2).min(80);
            }
            Err(e) => return Err(format!("{name}: lock: {e}")),
        }
    }
    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
        overlaps.fetch_add(1, Ordering::SeqCst);
    }
    let result = async {
        let mut state = b.read().await.map_err(|e| format!("{name}: read: {e}"))?.unwrap_or_default();
        state.serial += 1;
        state.resources.insert(format!("resources.{name}").parse().unwrap(), entry(name));
        // Hold the lock a moment: a broken lock would show as overlaps.
        tokio::time::sleep(Duration::from_millis(2)).await;
        b.write(&state).await.map_err(|e| format!("{name}: write: {e}"))
    }
    .await;
    inside.fetch_sub(1, Ordering::SeqCst);
    b.unlock(&info.id).await.map_err(|e| format!("{name}: unlock: {e}"))?;
    result
}

fn rand_ms(max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(max);
    1 + h.finish() % max.max(1)
}

/// `writers` tasks, each with its own backend, `per_writer` applies each. Returns the names
/// applied.
async fn race(make: impl Fn() -> S3Backend, writers: usize, per_writer: usize) -> (Vec<String>, Vec<String>, usize) {
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let b = make();
        let (inside, overlaps) = (inside.clone(), overlaps.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            for i in 0..per_writer {
                let name = format!("w{w}_{i}");
                match apply(&b, &name, &inside, &overlaps, deadline).await {
                    Ok(()) => ok.push(name),
                    Err(e) => failed.push(e),
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok.extend(o);
        failed.extend(f);
    }
    (ok, failed, overlaps.load(Ordering::SeqCst))
}

async fn check_race_result(reader: &S3Backend, ok: &[String], failed: &[String], overlaps: usize) {
    assert_eq!(overlaps, 0, "two applies held the lock at once");
    assert!(failed.is_empty(), "applies failed: {failed:#?}");
    let state = reader.read().await.unwrap().expect("state written");
    assert_eq!(state.serial as usize, ok.len(), "one serial per apply");
    let present: BTreeSet<String> = state.resources.keys().map(|a| a.to_string()).collect();
    for name in ok {
        assert!(present.contains(&format!("resources.{name}")), "{name} was applied but is missing: lost update");
    }
    assert_eq!(present.len(), ok.len());
    assert!(reader.lock_status().await.unwrap().is_none(), "lock left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_writers_s3_lock() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "race").await;
    let dir = tempfile::tempdir().unwrap();
    // Through a proxy that forwards writes to moto one at a time: moto's conditional requests are
    // not atomic under concurrency, S3's are (see tests/support/fault_proxy.rs).
    let proxy = FaultProxy::linearizing(&moto.endpoint).await;
    let c = config(&bucket, "race/state.json", &proxy.endpoint);
    let started = Instant::now();
    let (ok, failed, overlaps) = race(|| backend(&c, options(dir.path())), 16, 3).await;
    println!("16 writers x 3 applies (s3 lock): {:?}", started.elapsed());
    check_race_result(&backend(&c, options(dir.path())), &ok, &failed, overlaps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_writers_dynamodb_lock() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "race-ddb").await;
    let table = new_lock_table(moto).await;
    let dir = tempfile::tempdir().unwrap();
    // Through a proxy that forwards writes to moto one at a time: moto's conditional requests are
    // not atomic under concurrency, S3's are (see tests/support/fault_proxy.rs).
    let proxy = FaultProxy::linearizing(&moto.endpoint).await;
    let mut c = config(&bucket, "race/state.json", &proxy.endpoint);
    c.lock = Some(LockKind::Dynamodb);
    c.dynamodb_table = Some(table);
    let opts = || {
        let mut o = options(dir.path());
        o.dynamodb_endpoint = Some(proxy.endpoint.clone());
        o
    };
    let started = Instant::now();
    let (ok, failed, overlaps) = race(|| backend(&c, opts()), 16, 2).await;
    println!("16 writers x 2 applies (dynamodb lock): {:?}", started.elapsed());
    check_race_result(&backend(&c, opts()), &ok, &failed, overlaps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_succeed_through_slowdowns_and_dropped_connections() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "faults").await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(
        &moto.endpoint,
        Faults { slow_down: 0.08, drop_before: 0.04, drop_after: 0.04, ..Faults::default() },
        0x5eed,
    )
    .await;
    let c = config(&bucket, "faults/state.json", &proxy.endpoint);
    let opts = || S3Options {
        // 16% of requests fail: 8 attempts make a request failing every time (0.16^8) vanishingly
        // rare; the production default is 5.
        max_attempts: 8,
        ..options(dir.path())
    };
    let started = Instant::now();
    let (ok, failed, overlaps) = race(|| backend(&c, opts()), 8, 3).await;
    println!("8 writers x 3 applies through the fault proxy: {:?}; {}", started.elapsed(), proxy.stats.summary());
    let direct = backend(&config(&bucket, "faults/state.json", &moto.endpoint), options(dir.path()));
    check_race_result(&direct, &ok, &failed, overlaps).await;
    let s = &proxy.stats;
    assert!(s.slow_down.load(Ordering::Relaxed) > 0, "{}", s.summary());
    assert!(s.dropped_before.load(Ordering::Relaxed) > 0, "{}", s.summary());
    assert!(s.dropped_after.load(Ordering::Relaxed) > 0, "{}", s.summary());
    assert!(std::fs::read_dir(dir.path()).map_or(true, |d| d.count() == 0), "no write may have needed a recovery file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lock_holder_is_fenced_and_its_state_saved() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "stale").await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&bucket, "stale/state.json", &moto.endpoint);
    c.lease_seconds = Some(2);
    let a = backend(&c, options(dir.path()));
    c.lease_seconds = Some(60);
    let b = backend(&c, options(dir.path()));

    // a takes the lock and reads; then stalls past its lease.
    let la = LockInfo::for_current_process("apply");
    a.lock(&la).await.unwrap();
    let status = b.lock_status().await.unwrap().unwrap();
    assert!(status.expires.is_some(), "a leased lock says when it expires");
    let lb = LockInfo::for_current_process("apply");
    assert!(matches!(b.lock(&lb).await, Err(StateError::Locked { .. })));
    let mut stale = a.read().await.unwrap().unwrap_or_default();
    let expires = chrono::DateTime::parse_from_rfc3339(status.expires.as_deref().unwrap()).unwrap();
    let left = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;

    // b takes the expired lock over and writes.
    b.lock(&lb).await.expect("an expired lease can be taken over");
    let mut fresh = b.read().await.unwrap().unwrap_or_default();
    fresh.lineage = stale.lineage.clone();
    fresh.serial = 1;
    fresh.resources.insert("resources.b".parse().unwrap(), entry("b"));
    b.write(&fresh).await.unwrap();

    // a wakes up: renewing tells it the lock is gone, and its write is fenced.
    assert!(matches!(
        a.renew(&la.id).await,
        Err(StateError::LockMismatch { current: Some(ref h), .. }) if h.id == lb.id
    ));
    stale.serial = 1;
    stale.resources.insert("resources.a".parse().unwrap(), entry("a"));
    let err = a.write(&stale).await.unwrap_err();
    let StateError::Fenced { detail, recovery_file: Some(file) } = &err else {
        panic!("expected Fenced with a recovery file, got {err:?}");
    };
    assert!(detail.contains("serial 1"), "{detail}");
    let saved = State::from_json(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(saved, stale, "the recovery file holds the state that was refused");
    let name = Path::new(file).file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with(&format!("state-{}-1-", stale.lineage)), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "recovery files are private");
    }
    assert_eq!(b.read().await.unwrap().unwrap(), fresh, "b's state survives");
    // a cannot release b's lock either; b can.
    assert!(matches!(a.unlock(&la.id).await, Err(StateError::LockMismatch { .. })));
    b.renew(&lb.id).await.unwrap();
    b.unlock(&lb.id).await.unwrap();
    assert!(a.lock_status().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_of_many_takers_wins_an_expired_lock() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "takeover").await;
    let dir = tempfile::tempdir().unwrap();
    // Through a proxy that forwards writes to moto one at a time: moto's conditional requests are
    // not atomic under concurrency, S3's are (see tests/support/fault_proxy.rs).
    let proxy = FaultProxy::linearizing(&moto.endpoint).await;
    let mut c = config(&bucket, "t/state.json", &proxy.endpoint);
    c.lease_seconds = Some(1);
    let old = backend(&c, options(dir.path()));
    old.lock(&LockInfo::for_current_process("apply")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The takers hold for a minute: a winner's own lease must not expire during the test.
    c.lease_seconds = Some(60);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let b = backend(&c, options(dir.path()));
        tasks.push(tokio::spawn(async move {
            let info = LockInfo::for_current_process("apply");
            (b.lock(&info).await, info.id)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (Ok(()), id) => winners.push(id),
            (Err(StateError::Locked { .. }), _) => {}
            (Err(e), _) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one taker wins: {winners:?}");
    assert_eq!(old.lock_status().await.unwrap().unwrap().id, winners[0]);
}

/// A conditional request that S3 applied but whose answer was lost is retried by the SDK and
/// then fails its own precondition (412): that must count as success, not as a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_our_own_conditional_request_is_not_a_conflict() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "lost").await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(&moto.endpoint, Faults::default(), 11).await;
    let mut c = config(&bucket, "l/state.json", &proxy.endpoint);
    c.lease_seconds = Some(60);
    let b = backend(&c, options(dir.path()));
    let lose_next = || proxy.set_faults(Faults { lose_next_write_responses: 1, ..Faults::default() });
    let lost = || proxy.stats.dropped_after.load(Ordering::Relaxed);

    let info = LockInfo::for_current_process("apply");
    lose_next();
    b.lock(&info).await.expect("lock (If-None-Match) applied, answer lost");
    assert_eq!(lost(), 1);
    lose_next();
    b.renew(&info.id).await.expect("renew (If-Match) applied, answer lost");
    assert_eq!(lost(), 2);

    assert!(b.read().await.unwrap().is_none());
    let mut s = State::new();
    lose_next();
    b.write(&s).await.expect("create (If-None-Match) applied, answer lost");
    assert_eq!(lost(), 3);
    s.serial = 1;
    lose_next();
    b.write(&s).await.expect("update (If-Match) applied, answer lost");
    assert_eq!(lost(), 4);
    s.serial = 2;
    b.write(&s).await.expect("the next write is conditional on the right ETag");
    assert_eq!(b.read().await.unwrap().unwrap(), s);

    lose_next();
    b.unlock(&info.id).await.expect("unlock (If-Match delete) applied, answer lost");
    assert_eq!(lost(), 5);
    assert!(b.lock_status().await.unwrap().is_none());
    assert!(std::fs::read_dir(dir.path()).map_or(true, |d| d.count() == 0), "no recovery files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_an_error_not_an_empty_state() {
    let moto = Moto::shared();
    let dir = tempfile::tempdir().unwrap();
    let b = backend(&config(&unique("no-such-bucket"), "x/state.json", &moto.endpoint), options(dir.path()));
    let err = b.read().await.unwrap_err();
    assert!(matches!(err, StateError::Io { .. }) && err.to_string().contains("NoSuchBucket"), "{err}");
    assert!(b.lock_status().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_saves_a_recovery_file() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "netfail").await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(&moto.endpoint, Faults::default(), 7).await;
    let c = config(&bucket, "n/state.json", &proxy.endpoint);
    let b = backend(&c, S3Options { max_attempts: 3, ..options(dir.path()) });
    assert!(b.read().await.unwrap().is_none());
    proxy.set_faults(Faults { drop_before: 1.0, ..Faults::default() });
    let mut s = State::new();
    s.serial = 1;
    let err = b.write(&s).await.unwrap_err();
    let StateError::Io { message, .. } = &err else {
        panic!("expected an Io error, got {err:?}");
    };
    assert!(message.contains("saved to"), "{message}");
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    assert!(message.contains(&files[0].display().to_string()), "{message}");
    assert_eq!(State::from_json(&std::fs::read(&files[0]).unwrap()).unwrap(), s);
    // 3 attempts, each one request.
    assert_eq!(proxy.stats.dropped_before.load(Ordering::Relaxed), 3);
}

fn key_b64(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn with_key(dir: &Path, var: &str, key: Option<String>) -> S3Options {
    let var = var.to_string();
    S3Options { env: Some(Arc::new(move |name: &str| if name == var { key.clone() } else { None })), ..options(dir) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_round_trips_and_names_wrong_keys() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "enc").await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&bucket, "e/state.json", &moto.endpoint);
    c.encryption = Some(EncryptionConfig { key_env: "STATE_KEY".into() });
    let b = backend(&c, with_key(dir.path(), "STATE_KEY", Some(key_b64(1))));
    b.read().await.unwrap();
    let mut s = State::new();
    s.serial = 1;
    s.resources.insert("resources.secret".parse().unwrap(), entry("very-secret-name"));
    b.write(&s).await.unwrap();
    assert_eq!(b.read().await.unwrap().unwrap(), s);

    // What is stored is an envelope, not the state.
    let raw = moto
        .s3_admin()
        .get_object()
        .bucket(&bucket)
        .key("e/state.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("very-secret-name"), "{text}");
    let envelope: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(envelope["format"], "strata-encrypted-state");
    assert_eq!(envelope["algorithm"], "AES-256-GCM");
    let our_id = b.key_id().unwrap().to_string();
    assert_eq!(envelope["key_id"], our_id.as_str());

    // A wrong key: an error naming both key ids, never garbage.
    let wrong = backend(&c, with_key(dir.path(), "STATE_KEY", Some(key_b64(2))));
    let err = wrong.read().await.unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&our_id) && msg.contains(wrong.key_id().unwrap()) && msg.contains("$STATE_KEY"), "{msg}");

    // No key configured: says the state is encrypted, and with which key.
    let plain = backend(&config(&bucket, "e/state.json", &moto.endpoint), options(dir.path()));
    let msg = plain.read().await.unwrap_err().to_string();
    assert!(msg.contains("encrypted") && msg.contains(&our_id), "{msg}");

    // The key variable unset: a configuration error at construction.
    let err = S3Backend::with_options(&c, "test", with_key(dir.path(), "STATE_KEY", None)).unwrap_err();
    assert!(matches!(err, StateError::Config { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_state_is_accepted_with_a_key_and_encrypted_on_the_next_write() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "migrate").await;
    let dir = tempfile::tempdir().unwrap();
    let plain_cfg = config(&bucket, "m/state.json", &moto.endpoint);
    let plain = backend(&plain_cfg, options(dir.path()));
    plain.read().await.unwrap();
    let mut s = State::new();
    s.serial = 4;
    plain.write(&s).await.unwrap();

    let mut c = plain_cfg.clone();
    c.encryption = Some(EncryptionConfig { key_env: "K".into() });
    let enc = backend(&c, with_key(dir.path(), "K", Some(key_b64(9))));
    assert_eq!(enc.read().await.unwrap().unwrap(), s);
    let warnings = enc.warnings().await;
    assert!(warnings.iter().any(|w| w.contains("unencrypted")), "{warnings:?}");
    s.serial = 5;
    enc.write(&s).await.unwrap();
    // Now encrypted: the plain reader is told so.
    assert!(plain.read().await.unwrap_err().to_string().contains("encrypted"));
    assert_eq!(enc.read().await.unwrap().unwrap().serial, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_settings_are_passed_through() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "sse").await;
    let dir = tempfile::tempdir().unwrap();
    let admin = moto.s3_admin();
    for (sse, kms, key) in
        [("AES256", None, "aes/state.json"), ("aws:kms", Some("alias/strata-state"), "kms/state.json")]
    {
        let mut c = config(&bucket, key, &moto.endpoint);
        c.sse = Some(sse.into());
        c.kms_key_id = kms.map(str::to_string);
        let b = backend(&c, options(dir.path()));
        b.read().await.unwrap();
        b.write(&State::new()).await.unwrap();
        let info = LockInfo::for_current_process("apply");
        b.lock(&info).await.unwrap();
        for object in [key.to_string(), format!("{key}.lock")] {
            let head = admin.head_object().bucket(&bucket).key(&object).send().await.unwrap();
            assert_eq!(head.server_side_encryption().map(|s| s.as_str()), Some(sse), "{object}");
            assert_eq!(head.ssekms_key_id(), kms, "{object}");
        }
        b.unlock(&info.id).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warns_when_bucket_versioning_is_off() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "versioning").await;
    let dir = tempfile::tempdir().unwrap();
    let b = backend(&config(&bucket, "v/state.json", &moto.endpoint), options(dir.path()));
    let warning = b.versioning_warning().await.expect("versioning is off");
    assert!(warning.contains(&bucket) && warning.contains("put-bucket-versioning"), "{warning}");
    moto.s3_admin()
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(b.versioning_warning().await, None);
    assert!(b.warnings().await.is_empty());
    // Conditional writes work on a versioned bucket too.
    b.read().await.unwrap();
    let mut s = State::new();
    b.write(&s).await.unwrap();
    s.serial = 1;
    b.write(&s).await.unwrap();
    let other = backend(&config(&bucket, "v/state.json", &moto.endpoint), options(dir.path()));
    other.read().await.unwrap();
    s.serial = 2;
    b.write(&s).await.unwrap();
    s.serial = 3;
    assert!(matches!(other.write(&s).await, Err(StateError::Fenced { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_needs_the_same_lineage_and_a_newer_serial_unless_forced() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "push").await;
    let dir = tempfile::tempdir().unwrap();
    let c = config(&bucket, "p/state.json", &moto.endpoint);
    let b = backend(&c, options(dir.path()));
    assert!(b.pull().await.unwrap().is_none());
    let mut s = State::new();
    s.serial = 3;
    b.push(&s, false).await.expect("push to an empty backend");
    assert_eq!(b.pull().await.unwrap().unwrap(), s);

    let older = State { serial: 3, ..s.clone() };
    assert!(matches!(b.push(&older, false).await, Err(StateError::Rejected { .. })));
    let other = State { serial: 10, ..State::new() };
    let err = b.push(&other, false).await.unwrap_err();
    assert!(matches!(err, StateError::Rejected { .. }) && err.to_string().contains("lineage"));
    let newer = State { serial: 4, ..s.clone() };
    b.push(&newer, false).await.unwrap();
    b.push(&other, true).await.expect("force replaces");
    assert_eq!(b.pull().await.unwrap().unwrap(), other);
}

// ---- the SDK's own configuration sources, in a child process with its own environment ----

/// Runs one `#[ignore]`d child test of this binary with `env`.
fn run_child(test: &str, env: &[(&str, String)]) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    for var in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ] {
        cmd.env_remove(var);
    }
    // Never look for instance credentials on this machine.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child {test} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_endpoint_url_credentials_and_key_come_from_the_environment() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "envcfg").await;
    let dir = tempfile::tempdir().unwrap();
    run_child(
        "child_configured_by_environment",
        &[
            ("STRATA_CHILD_BUCKET", bucket.clone()),
            ("STRATA_CHILD_DIR", dir.path().display().to_string()),
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "env-key".into()),
            ("AWS_SECRET_ACCESS_KEY", "env-secret".into()),
            ("STRATA_CHILD_STATE_KEY", key_b64(3)),
        ],
    );
    // What the child wrote is there, encrypted with the key from its environment.
    let c = S3StateConfig {
        encryption: Some(EncryptionConfig { key_env: "K".into() }),
        ..config(&bucket, "env/child/state.json", &moto.endpoint)
    };
    let b = backend(&c, with_key(dir.path(), "K", Some(key_b64(3))));
    assert_eq!(b.read().await.unwrap().unwrap().serial, 7);
}

#[tokio::test]
#[ignore = "run by aws_endpoint_url_credentials_and_key_come_from_the_environment"]
async fn child_configured_by_environment() {
    let bucket = std::env::var("STRATA_CHILD_BUCKET").expect("run by the parent test");
    let c = S3StateConfig {
        bucket,
        key: "env/${env}/state.json".into(),
        region: None,
        endpoint: None,
        profile: None,
        lock: None,
        dynamodb_table: None,
        encryption: Some(EncryptionConfig { key_env: "STRATA_CHILD_STATE_KEY".into() }),
        sse: None,
        kms_key_id: None,
        lease_seconds: None,
    };
    let b = S3Backend::with_options(
        &c,
        "child",
        S3Options { recovery_dir: Some(std::env::var("STRATA_CHILD_DIR").unwrap().into()), ..S3Options::default() },
    )
    .unwrap();
    assert!(b.read().await.unwrap().is_none());
    let mut s = State::new();
    s.serial = 7;
    b.write(&s).await.unwrap();
    let info = LockInfo::for_current_process("apply");
    b.lock(&info).await.unwrap();
    b.unlock(&info.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_profile_supplies_credentials() {
    let moto = Moto::shared();
    let bucket = new_bucket(moto, "profile").await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(&creds, "[strata-test]\naws_access_key_id = profile-key\naws_secret_access_key = profile-secret\n")
        .unwrap();
    let conf = dir.path().join("config");
    std::fs::write(&conf, "[profile strata-test]\nregion = eu-west-1\n").unwrap();
    run_child(
        "child_configured_by_profile",
        &[
            ("STRATA_CHILD_BUCKET", bucket.clone()),
            ("STRATA_CHILD_ENDPOINT", moto.endpoint.clone()),
            ("STRATA_CHILD_DIR", dir.path().display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
            ("AWS_CONFIG_FILE", conf.display().to_string()),
        ],
    );
    let b = backend(&config(&bucket, "profile/state.json", &moto.endpoint), options(dir.path()));
    assert_eq!(b.read().await.unwrap().unwrap().serial, 2);
}

#[tokio::test]
#[ignore = "run by a_named_profile_supplies_credentials"]
async fn child_configured_by_profile() {
    let c = S3StateConfig {
        bucket: std::env::var("STRATA_CHILD_BUCKET").expect("run by the parent test"),
        key: "profile/state.json".into(),
        region: None,
        endpoint: Some(std::env::var("STRATA_CHILD_ENDPOINT").unwrap()),
        profile: Some("strata-test".into()),
        lock: None,
        dynamodb_table: None,
        encryption: None,
        sse: None,
        kms_key_id: None,
        lease_seconds: None,
    };
    let b = S3Backend::with_options(
        &c,
        "child",
        S3Options { recovery_dir: Some(std::env::var("STRATA_CHILD_DIR").unwrap().into()), ..S3Options::default() },
    )
    .unwrap();
    b.read().await.unwrap();
    let mut s = State::new();
    s.serial = 2;
    b.write(&s).await.unwrap();
}
