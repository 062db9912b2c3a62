//! Measures the S3 backend against moto and prints a table: lock acquire/release latency and
//! the cost of reading and writing a 10 000-resource state. Numbers are for a local moto (no
//! network latency; moto itself is the slow part); run with `--release --nocapture` for
//! optimized numbers. Asserts only that everything works.

#[path = "../../../tests/support/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use base64::Engine;
use moto::Moto;
use strata_backend_s3::{EncryptionConfig, LockKind, S3Backend, S3Options, S3StateConfig};
use strata_engine::state::{LockInfo, ResourceState, State, StateLocking, StateStorage};

const REGION: &str = "us-east-1";

fn config(bucket: &str, endpoint: &str) -> S3StateConfig {
    S3StateConfig {
        bucket: bucket.into(),
        key: "measure/state.json".into(),
        region: Some(REGION.into()),
        endpoint: Some(endpoint.into()),
        profile: None,
        lock: None,
        dynamodb_table: None,
        encryption: None,
        sse: None,
        kms_key_id: None,
        lease_seconds: Some(300),
    }
}

fn options(moto: &Moto, dir: &std::path::Path) -> S3Options {
    S3Options {
        credentials: Some(("test".into(), "test".into())),
        recovery_dir: Some(dir.to_path_buf()),
        dynamodb_endpoint: Some(moto.endpoint.clone()),
        env: Some(std::sync::Arc::new(|name: &str| {
            (name == "MEASURE_KEY").then(|| base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
        })),
        ..S3Options::default()
    }
}

fn big_state(n: usize) -> State {
    let mut s = State::new();
    s.serial = 1;
    for i in 0..n {
        s.resources.insert(
            format!("mesh.route_{i}").parse().unwrap(),
            ResourceState {
                provider: "kubernetes".into(),
                kind: "VirtualService".into(),
                remote_id: format!("networking.istio.io/v1/VirtualService/shop/route-{i}"),
                attrs: serde_json::json!({
                    "hosts": [format!("svc-{i}.shop.svc.cluster.local")],
                    "http": [{"route": [
                        {"destination": {"host": format!("svc-{i}"), "subset": "v1"}, "weight": 90},
                        {"destination": {"host": format!("svc-{i}"), "subset": "v2"}, "weight": 10}
                    ], "timeout": "5s", "retries": {"attempts": 3}}],
                    "labels": {"app.kubernetes.io/managed-by": "strata"}
                }),
                outputs: serde_json::json!({"uid": format!("6f1c-{i:06}"), "resourceVersion": "12345"}),
                depends_on: vec![format!("services.svc_{i}").parse().unwrap()],
                sensitive: vec![],
            },
        );
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn lock_latency(b: &S3Backend, rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    let (mut acquire, mut release) = (Vec::new(), Vec::new());
    // One warm-up round: connection set-up and credential loading are not lock latency.
    let warm = LockInfo::for_current_process("apply");
    b.lock(&warm).await.unwrap();
    b.unlock(&warm.id).await.unwrap();
    for _ in 0..rounds {
        let info = LockInfo::for_current_process("apply");
        let t = Instant::now();
        b.lock(&info).await.unwrap();
        acquire.push(t.elapsed());
        let t = Instant::now();
        b.unlock(&info.id).await.unwrap();
        release.push(t.elapsed());
    }
    (acquire, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_lock_latency_and_large_state_cost() {
    let moto = Moto::shared();
    let bucket = format!("measure-{}", std::process::id());
    let admin = moto.s3_admin();
    admin.create_bucket().bucket(&bucket).send().await.unwrap();
    let table = format!("measure-locks-{}", std::process::id());
    moto.create_lock_table(&table).await;
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    const ROUNDS: usize = 50;

    let s3 = S3Backend::with_options(&config(&bucket, &moto.endpoint), "m", options(moto, dir.path())).unwrap();
    let (acq, rel) = lock_latency(&s3, ROUNDS).await;
    rows.push(("lock acquire (s3: PutObject If-None-Match)".into(), ms(median(acq.clone())), ms(p90(acq)), "".into()));
    rows.push((
        "lock release (s3: GetObject + DeleteObject If-Match)".into(),
        ms(median(rel.clone())),
        ms(p90(rel)),
        "".into(),
    ));

    let mut c = config(&bucket, &moto.endpoint);
    c.lock = Some(LockKind::Dynamodb);
    c.dynamodb_table = Some(table);
    let ddb = S3Backend::with_options(&c, "m", options(moto, dir.path())).unwrap();
    let (acq, rel) = lock_latency(&ddb, ROUNDS).await;
    rows.push((
        "lock acquire (dynamodb: conditional PutItem)".into(),
        ms(median(acq.clone())),
        ms(p90(acq)),
        "".into(),
    ));
    rows.push((
        "lock release (dynamodb: GetItem + DeleteItem)".into(),
        ms(median(rel.clone())),
        ms(p90(rel)),
        "".into(),
    ));

    let state = big_state(10_000);
    for (label, encrypted) in [("plain", false), ("AES-256-GCM", true)] {
        let mut c = config(&bucket, &moto.endpoint);
        c.key = format!("measure/big-{label}.json");
        if encrypted {
            c.encryption = Some(EncryptionConfig { key_env: "MEASURE_KEY".into() });
        }
        let b = S3Backend::with_options(&c, "m", options(moto, dir.path())).unwrap();
        b.read().await.unwrap();
        let t = Instant::now();
        let bytes = b.encode(&state).len();
        let encode = t.elapsed();
        let (mut writes, mut reads) = (Vec::new(), Vec::new());
        let mut s = state.clone();
        for _ in 0..5 {
            s.serial += 1;
            let t = Instant::now();
            b.write(&s).await.unwrap();
            writes.push(t.elapsed());
            let t = Instant::now();
            let back = b.read().await.unwrap().unwrap();
            reads.push(t.elapsed());
            assert_eq!(back.resources.len(), 10_000);
        }
        let size = format!("{:.2} MB", bytes as f64 / 1e6);
        rows.push((
            format!("serialize{} 10k resources", if encrypted { " + encrypt" } else { "" }),
            ms(encode),
            "".into(),
            size.clone(),
        ));
        rows.push((
            format!("write 10k-resource state ({label}, PutObject If-Match)"),
            ms(median(writes.clone())),
            ms(p90(writes)),
            size.clone(),
        ));
        rows.push((format!("read 10k-resource state ({label})"), ms(median(reads.clone())), ms(p90(reads)), size));
    }

    println!(
        "\nS3 state backend against moto ({} build, {ROUNDS} lock rounds, 5 state rounds)",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    println!("{:<58} {:>11} {:>11} {:>10}", "operation", "median ms", "p90 ms", "size");
    println!("{}", "-".repeat(93));
    for (op, med, p, size) in rows {
        println!("{op:<58} {med:>11} {p:>11} {size:>10}");
    }
}
