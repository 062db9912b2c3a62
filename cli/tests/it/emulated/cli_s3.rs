//! End-to-end tests of the built `strata` binary with `state: { backend: s3 }` against moto:
//! plan/apply through `endpoint` and `AWS_ENDPOINT_URL`, 16 processes racing for one state, a
//! holder killed with SIGKILL mid-apply, lock status / force-unlock, a fenced write's recovery
//! file, lease renewal, encryption, and `state pull` / `push` / `migrate`.
//!
//! The test provider keeps its "remote" objects in a JSON file (`store.json` in each project's
//! directory), so separate runs see the same objects. Nothing here asserts on elapsed time: the
//! tests wait for *conditions* (an object in the store, a state object in S3), with a generous
//! deadline that only guards against a hang.

use crate::fault_proxy;
use crate::moto;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fault_proxy::FaultProxy;
use moto::Moto;
use serde_json::Value;

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const REGION: &str = "us-east-1";
const TOKEN: &str = "tok-5e3cr3t-value";
/// Only guards against a hang; never reached when things work.
const HANG: Duration = Duration::from_secs(60);

/// A runtime for the S3 admin client and the proxy; its workers keep serving while a test
/// waits on child processes.
fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
    })
}

fn admin() -> aws_sdk_s3::Client {
    Moto::shared().s3_admin()
}

fn new_bucket(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let bucket = format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    rt().block_on(admin().create_bucket().bucket(&bucket).send()).expect("create bucket");
    bucket
}

/// The object's bytes, or `None` if it does not exist.
fn get_object(bucket: &str, key: &str) -> Option<Vec<u8>> {
    rt().block_on(async {
        match admin().get_object().bucket(bucket).key(key).send().await {
            Ok(out) => Some(out.body.collect().await.expect("object body").into_bytes().to_vec()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => None,
            Err(e) => panic!("GetObject s3://{bucket}/{key}: {e:?}"),
        }
    })
}

fn put_object(bucket: &str, key: &str, body: Vec<u8>) {
    rt().block_on(admin().put_object().bucket(bucket).key(key).body(body.into()).send()).expect("put object");
}

fn s3_state(bucket: &str, key: &str) -> Option<Value> {
    get_object(bucket, key).map(|b| serde_json::from_slice(&b).expect("the stored state is JSON"))
}

/// Waits for `cond` (polling), panicking after [`HANG`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(spec: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("strata.yaml"), spec).unwrap();
        Project { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn write_spec(&self, spec: &str) {
        std::fs::write(self.path("strata.yaml"), spec).unwrap();
    }

    /// `strata ARGS` in this project, with test credentials and nothing from the host's AWS
    /// configuration.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(STRATA);
        cmd.current_dir(self.dir.path()).args(args);
        for var in [
            "STRATA_ENV",
            "STRATA_LOG",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_DYNAMODB",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("STRATA_ENABLE_TEST_PROVIDER", "1")
            .env("NO_COLOR", "1")
            .env("API_TOKEN", TOKEN)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.path("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("no-aws-credentials"));
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.cmd(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// The test provider's objects (`None` while missing or half-written).
    fn store(&self) -> Option<BTreeMap<String, Value>> {
        serde_json::from_slice(&std::fs::read(self.path("store.json")).ok()?).ok()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn all(o: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", stdout(o), stderr(o))
}

fn s3_state_yaml(bucket: &str, key: &str, endpoint: Option<&str>, extra: &str) -> String {
    let endpoint = endpoint.map(|e| format!(", endpoint: \"{e}\"")).unwrap_or_default();
    format!("state: {{ backend: s3, bucket: {bucket}, key: \"{key}\", region: {REGION}{endpoint}{extra} }}\n")
}

/// Three resources (one depends on another, one holds a secret), with `state`.
fn spec(state: &str) -> String {
    format!(
        r#"version: 1
project: apex
{state}providers:
  test: {{ store: store.json, sensitive: {{ credential: [/token] }} }}
resources:
  - name: bucket
    test: {{ kind: widget, size: 1 }}
  - name: app-config
    test: {{ kind: widget, upstream: "${{resources.bucket.endpoint}}" }}
  - name: api-credential
    test: {{ kind: credential, token: "${{env.API_TOKEN}}" }}
environments:
  dev: {{}}
"#
    )
}

/// A chain `a <- b <- c <- ...` of `n` resources, each call taking `latency_ms`.
fn chain_spec(state: &str, n: usize, latency_ms: u64) -> String {
    let mut s = format!(
        "version: 1\nproject: apex\n{state}providers:\n  test: {{ store: store.json, latency_ms: {latency_ms} }}\nresources:\n"
    );
    for i in 0..n {
        let name = (b'a' + i as u8) as char;
        if i == 0 {
            s.push_str(&format!("  - name: {name}\n    test: {{ kind: widget, size: {i} }}\n"));
        } else {
            let prev = (b'a' + i as u8 - 1) as char;
            s.push_str(&format!(
                "  - name: {name}\n    test: {{ kind: widget, upstream: \"${{resources.{prev}.endpoint}}\" }}\n"
            ));
        }
    }
    s
}

fn lock_status_json(p: &Project) -> Value {
    let o = p.run(&["lock", "status", "--json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    serde_json::from_slice(&o.stdout).expect("lock status --json")
}

/// One `STRATA_LOG=debug` trace line.
#[derive(Debug)]
struct Trace {
    op: String,
    start: chrono::DateTime<chrono::FixedOffset>,
    end: chrono::DateTime<chrono::FixedOffset>,
    ms: f64,
    fields: BTreeMap<String, String>,
}

fn traces(stderr: &str) -> Vec<Trace> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("strata-trace "))
        .map(|l| {
            let fields: BTreeMap<String, String> =
                l.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let time = |k: &str| chrono::DateTime::parse_from_rfc3339(&fields[k]).expect("rfc3339 time");
            Trace {
                op: fields["op"].clone(),
                start: time("start"),
                end: time("end"),
                ms: fields["ms"].parse().unwrap(),
                fields: fields.clone(),
            }
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn plan_apply_replan_through_the_spec_endpoint_and_aws_endpoint_url() {
    let moto = Moto::shared();
    let bucket = new_bucket("e2e");

    // 1. `endpoint:` in the spec; `${env}` in the key is the default environment.
    let p = Project::new(&spec(&s3_state_yaml(&bucket, "apex/${env}/state.json", Some(&moto.endpoint), "")));
    let o = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", all(&o));
    assert!(stdout(&o).contains("Plan: 3 to add"), "{}", all(&o));
    assert!(!stderr(&o).contains("versioning is off"), "plan writes no state: no warning\n{}", all(&o));
    assert!(get_object(&bucket, "apex/default/state.json").is_none(), "plan writes nothing");

    let o = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).contains("Apply complete! Resources: 3 added"), "{}", all(&o));
    assert_eq!(stderr(&o).matches("versioning is off on bucket").count(), 1, "warned once\n{}", all(&o));
    assert!(!all(&o).contains(TOKEN), "secret leaked into apply output");
    let state = s3_state(&bucket, "apex/default/state.json").expect("state in S3");
    assert_eq!(state["serial"], 1);
    assert_eq!(state["resources"].as_object().unwrap().len(), 3);
    assert!(get_object(&bucket, "apex/default/state.json.lock").is_none(), "lock released");
    assert!(!p.path(".strata/state.json").exists(), "no local state");

    let o = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).contains("No changes."), "{}", all(&o));
    let o = p.run(&["show"]);
    assert!(stdout(&o).contains(&format!("s3://{bucket}/apex/default/state.json")), "{}", all(&o));
    assert!(!stdout(&o).contains(TOKEN), "show masks secrets");

    // 2. No endpoint in the spec: AWS_ENDPOINT_URL points the SDK at moto; `--env dev` picks
    // the key.
    let q = Project::new(&spec(&s3_state_yaml(&bucket, "apex/${env}/state.json", None, "")));
    let env = [("AWS_ENDPOINT_URL", moto.endpoint.as_str())];
    let o = q.run_env(&["--env", "dev", "apply", "--auto-approve"], &env);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let state = s3_state(&bucket, "apex/dev/state.json").expect("state under the dev key");
    assert_eq!(state["serial"], 1);
    let o = q.run_env(&["--env", "dev", "plan", "--detailed-exitcode"], &env);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = q.run_env(&["--env", "dev", "state", "list"], &env);
    assert_eq!(stdout(&o).lines().count(), 3, "{}", all(&o));
    // The default environment's state is untouched by dev's apply.
    assert_eq!(s3_state(&bucket, "apex/default/state.json").unwrap()["serial"], 1);
}

/// 16 `strata apply` processes start at once against one S3 state.
///
/// Design: all 16 specs declare the same 16 resources `r00`..`r15`; process N applies only its
/// own with `--target resources.rNN`, so every successful apply adds exactly one resource and
/// must keep the 15 others whatever their order (a targeted apply leaves the rest of the state
/// alone, it does not plan them). Each process has its own directory and test-provider store,
/// so the remote side of each apply is independent and the state is the only shared thing.
/// `--lock-timeout 1m` makes them queue. Every process runs with `STRATA_LOG=debug`, whose
/// `lock.acquire` end and `lock.release` start bound the time it certainly held the lock.
///
/// Asserted: every process succeeds; those hold intervals never overlap (at most one holder at
/// any moment); the serials written are exactly 1..=16, one per process (no two applies built
/// on the same state); the final state has serial 16 and all 16 resources, each with the
/// remote id its own process's provider returned (no lost update); no lock is left behind.
///
/// moto evaluates conditional requests non-atomically under concurrency (S3 does not), so the
/// processes reach it through the linearizing proxy (see tests/support/fault_proxy.rs).
#[test]
fn sixteen_processes_race_for_one_state_and_no_update_is_lost() {
    const N: usize = 16;
    let moto = Moto::shared();
    let bucket = new_bucket("race");
    let proxy = rt().block_on(FaultProxy::linearizing(&moto.endpoint));
    let mut spec = format!(
        "version: 1\nproject: race\n{}providers:\n  test: {{ store: store.json }}\nresources:\n",
        s3_state_yaml(&bucket, "race/state.json", Some(&proxy.endpoint), "")
    );
    for i in 0..N {
        spec.push_str(&format!("  - name: r{i:02}\n    test: {{ kind: widget, n: {i} }}\n"));
    }
    let projects: Vec<Project> = (0..N).map(|_| Project::new(&spec)).collect();
    let started = Instant::now();
    let children: Vec<(Child, u32)> = projects
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let target = format!("resources.r{i:02}");
            let mut cmd = p.cmd(&["apply", "--auto-approve", "--target", &target, "--lock-timeout", "1m"]);
            cmd.env("STRATA_LOG", "debug").stdout(Stdio::piped()).stderr(Stdio::piped());
            let child = cmd.spawn().unwrap();
            let pid = child.id();
            (child, pid)
        })
        .collect();
    let outputs: Vec<(Output, u32)> = children
        .into_iter()
        .map(|(c, pid)| std::thread::spawn(move || (c.wait_with_output().unwrap(), pid)))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let wall = started.elapsed();

    let failed: Vec<String> = outputs
        .iter()
        .enumerate()
        .filter(|(_, (o, _))| code(o) != 0)
        .map(|(i, (o, _))| format!("process {i}:\n{}", all(o)))
        .collect();
    assert!(failed.is_empty(), "{} of {N} applies failed:\n{}", failed.len(), failed.join("\n"));

    // Hold intervals, from each process's own trace.
    let mut holds = Vec::new();
    let mut written_serials = BTreeMap::new();
    let (mut acquire_ms, mut release_ms, mut busy_attempts, mut waited) = (Vec::new(), Vec::new(), 0, 0);
    for (i, (o, pid)) in outputs.iter().enumerate() {
        let t = traces(&stderr(o));
        let acquired: Vec<&Trace> = t.iter().filter(|t| t.op == "lock.acquire" && t.fields["result"] == "ok").collect();
        let released: Vec<&Trace> = t.iter().filter(|t| t.op == "lock.release" && t.fields["result"] == "ok").collect();
        assert_eq!((acquired.len(), released.len()), (1, 1), "process {i} took the lock once:\n{}", all(o));
        busy_attempts += t.iter().filter(|t| t.op == "lock.acquire" && t.fields["result"] == "locked").count();
        if stderr(o).contains("Waiting up to 1m for the state lock, held by") {
            waited += 1;
            assert!(stderr(o).contains("Acquired the state lock after waiting"), "{}", all(o));
        }
        acquire_ms.push(acquired[0].ms);
        release_ms.push(released[0].ms);
        holds.push((acquired[0].end, released[0].start, i, *pid));
        let writes: BTreeSet<u64> = t
            .iter()
            .filter(|t| t.op == "state.write" && t.fields["result"] == "ok")
            .map(|t| t.fields["serial"].parse().unwrap())
            .collect();
        assert_eq!(writes.len(), 1, "process {i} wrote one serial: {writes:?}");
        written_serials.insert(*writes.iter().next().unwrap(), i);
    }
    holds.sort();
    for w in holds.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "process {} (pid {}) took the lock at {} while process {} (pid {}) held it until {}",
            w[1].2,
            w[1].3,
            w[1].0,
            w[0].2,
            w[0].3,
            w[0].1
        );
    }
    assert_eq!(
        written_serials.keys().copied().collect::<Vec<_>>(),
        (1..=N as u64).collect::<Vec<_>>(),
        "each apply wrote the serial after the previous one: {written_serials:?}"
    );

    let state = s3_state(&bucket, "race/state.json").expect("state");
    assert_eq!(state["serial"], N as u64, "final serial == successful applies");
    let resources = state["resources"].as_object().unwrap();
    assert_eq!(resources.len(), N, "{:?}", resources.keys().collect::<Vec<_>>());
    for (i, p) in projects.iter().enumerate() {
        let addr = format!("resources.r{i:02}");
        let store = p.store().expect("store");
        assert_eq!(store.len(), 1, "process {i} created only its own resource");
        assert_eq!(resources[&addr]["remote_id"], store[&addr][1]["id"], "{addr} recorded as its process created it");
    }
    assert!(get_object(&bucket, "race/state.json.lock").is_none(), "no lock left behind");

    acquire_ms.sort_by(f64::total_cmp);
    release_ms.sort_by(f64::total_cmp);
    println!(
        "race: {N} processes in {wall:?}; {waited} waited for the lock; {busy_attempts} refused lock attempts; \
         successful acquire p50 {:.1} ms / max {:.1} ms; release p50 {:.1} ms / max {:.1} ms; proxy: {}",
        percentile(&acquire_ms, 0.5),
        percentile(&acquire_ms, 1.0),
        percentile(&release_ms, 0.5),
        percentile(&release_ms, 1.0),
        proxy.stats.summary()
    );
}

/// A holder killed with SIGKILL mid-apply leaves its lock: the next run is refused naming it,
/// `lock status` shows it, a wrong id cannot remove it, the right one can; then the next plan
/// records what the dead run created instead of creating it again.
#[test]
fn a_killed_holder_leaves_a_named_lock_and_its_objects_are_recovered_not_duplicated() {
    let moto = Moto::shared();
    let bucket = new_bucket("kill");
    let key = "k/state.json";
    let p = Project::new(&chain_spec(&s3_state_yaml(&bucket, key, Some(&moto.endpoint), ""), 4, 300));
    let mut child = p.spawn(&["apply", "--auto-approve"]);
    let pid = child.id();
    // In flight: the first object exists, the next is being created.
    wait_until("the first object in the store", || p.store().is_some_and(|s| s.contains_key("resources.a")));
    child.kill().unwrap(); // SIGKILL
    let killed = child.wait_with_output().unwrap();
    assert!(!killed.status.success());
    let before = p.store().expect("store");
    assert!(before.len() < 4, "killed before finishing: {:?}", before.keys());

    let status = lock_status_json(&p);
    let lock = &status["lock"];
    assert_eq!(lock["pid"], pid, "the dead process holds the lock: {status}");
    assert_eq!(lock["operation"], "apply");
    let id = lock["id"].as_str().unwrap().to_string();

    // Default --lock-timeout 0s: refused at once, naming the holder.
    let o = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    let err = stderr(&o);
    assert!(err.contains("the state is locked"), "{err}");
    assert!(err.contains(&format!("pid {pid}")) && err.contains("`apply`") && err.contains(&id), "{err}");
    assert!(err.contains(&format!("strata force-unlock {id}")), "{err}");
    // With a timeout it waits, says for whom, then gives up.
    let o = p.run(&["plan", "--lock-timeout", "1s"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("Waiting up to 1s for the state lock, held by"), "{}", all(&o));
    assert!(stderr(&o).contains("gave up waiting for the state lock") && stderr(&o).contains(&id), "{}", all(&o));

    let o = p.run(&["lock", "status"]);
    let out = stdout(&o);
    assert!(out.contains("is locked") && out.contains(&id) && out.contains(&format!("pid:       {pid}")), "{out}");
    let o = p.run(&["force-unlock", "not-the-id"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("does not match the current lock") && stderr(&o).contains(&id), "{}", all(&o));
    assert_eq!(lock_status_json(&p)["lock"]["id"], id.as_str(), "a wrong id leaves the lock");
    let o = p.run(&["force-unlock", &id]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(lock_status_json(&p)["lock"].is_null());
    assert!(get_object(&bucket, &format!("{key}.lock")).is_none());

    // The next plan: what reached the provider is recorded (from the dead run's checkpoint) or
    // found again and adopted; never planned as a create.
    let state = s3_state(&bucket, key);
    let recorded: BTreeSet<String> =
        state.as_ref().map(|s| s["resources"].as_object().unwrap().keys().cloned().collect()).unwrap_or_default();
    let o = p.run(&["plan", "--json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    for c in plan["changes"].as_array().unwrap() {
        let addr = c["address"].as_str().unwrap();
        match (before.get(addr), recorded.contains(addr)) {
            (Some(obj), false) => {
                assert_eq!(c["action"], "update", "{addr} exists remotely: adopt it: {c}");
                assert_eq!(c["recovered_remote_id"], obj[1]["id"], "{c}");
            }
            (Some(_), true) => assert_eq!(c["action"], "no-op", "{addr} is recorded: {c}"),
            (None, _) => assert_eq!(c["action"], "create", "{c}"),
        }
    }
    let o = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    for addr in before.keys() {
        assert!(!stdout(&o).contains(&format!("{addr}: Creating")), "{addr} created twice:\n{}", all(&o));
    }
    let after = p.store().unwrap();
    assert_eq!(after.len(), 4);
    for (addr, obj) in &before {
        assert_eq!(after[addr][1]["id"], obj[1]["id"], "{addr} kept its remote object");
    }
    let state = s3_state(&bucket, key).unwrap();
    assert_eq!(state["resources"].as_object().unwrap().len(), 4);
    let o = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
}

/// Someone else writes the state while an apply is in flight (a lock broken by hand): the
/// apply's next write is refused, and what it wanted to write is kept under the spec's
/// `.strata/recovery`, the path printed.
#[test]
fn a_fenced_write_keeps_a_recovery_file_beside_the_spec() {
    let moto = Moto::shared();
    let bucket = new_bucket("fence");
    let key = "f/state.json";
    let p = Project::new(&chain_spec(&s3_state_yaml(&bucket, key, Some(&moto.endpoint), ""), 3, 400));
    let child = p.spawn(&["apply", "--auto-approve"]);
    // The first checkpoint is written; the next resource is still being created.
    wait_until("the first checkpoint", || get_object(&bucket, key).is_some());
    let mut intruder: Value = s3_state(&bucket, key).unwrap();
    intruder["serial"] = 42.into();
    intruder["resources"] = serde_json::json!({});
    put_object(&bucket, key, serde_json::to_vec(&intruder).unwrap());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 1, "{}", all(&o));
    let err = stderr(&o);
    assert!(err.contains("refusing to overwrite it"), "{err}");
    let dir = std::fs::canonicalize(p.path(".strata/recovery")).expect("recovery dir beside the spec");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&name), "the recovery file is named: {err}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert!(saved["resources"]["resources.b"].is_object(), "{saved}");
    assert_eq!(s3_state(&bucket, key).unwrap()["serial"], 42, "the other writer's state survives");
    assert!(get_object(&bucket, &format!("{key}.lock")).is_none(), "the lock is released after the error");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

/// With `lease_seconds`, a live holder renews its lease often enough that a long apply keeps
/// the lock well past one lease.
#[test]
fn a_live_holder_keeps_a_short_lease() {
    let moto = Moto::shared();
    let bucket = new_bucket("lease");
    let key = "l/state.json";
    let state = s3_state_yaml(&bucket, key, Some(&moto.endpoint), ", lease_seconds: 1");
    let p = Project::new(&chain_spec(&state, 4, 500));
    let mut cmd = p.cmd(&["apply", "--auto-approve"]);
    cmd.env("STRATA_LOG", "debug").stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    // Refresh + a + b + c: at least two seconds (two leases) after the lock was taken.
    wait_until("the third object", || p.store().is_some_and(|s| s.contains_key("resources.c")));
    let o = p.run(&["plan"]);
    let holder_still_running = p.store().is_some_and(|s| !s.contains_key("resources.d"));
    let applied = child.wait_with_output().unwrap();
    assert_eq!(code(&applied), 0, "{}", all(&applied));
    if holder_still_running {
        assert_eq!(code(&o), 1, "the lease was taken over from a live holder:\n{}", all(&o));
        assert!(stderr(&o).contains(&format!("pid {pid}")), "{}", all(&o));
    }
    let renewals =
        traces(&stderr(&applied)).iter().filter(|t| t.op == "lock.renew" && t.fields["result"] == "ok").count();
    assert!(renewals >= 2, "renewed {renewals} times:\n{}", all(&applied));
}

fn new_lock_table() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let table = format!("locks-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    rt().block_on(Moto::shared().create_lock_table(&table));
    table
}

/// `lock: dynamodb`, with the table's endpoint from `AWS_ENDPOINT_URL_DYNAMODB`.
#[test]
fn dynamodb_lock_through_the_cli() {
    let moto = Moto::shared();
    let bucket = new_bucket("ddb");
    let table = new_lock_table();
    let key = "d/state.json";
    let extra = format!(", lock: dynamodb, dynamodb_table: {table}");
    let p = Project::new(&chain_spec(&s3_state_yaml(&bucket, key, Some(&moto.endpoint), &extra), 3, 300));
    let mut cmd = p.cmd(&["apply", "--auto-approve"]);
    cmd.env("AWS_ENDPOINT_URL_DYNAMODB", &moto.endpoint).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let env = [("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint.as_str())];
    wait_until("the first object", || p.store().is_some_and(|s| s.contains_key("resources.a")));
    let o = p.run_env(&["lock", "status", "--json"], &env);
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    let held_during_apply = p.store().is_some_and(|s| !s.contains_key("resources.c"));
    if held_during_apply {
        assert_eq!(status["lock"]["pid"], pid, "{status}");
        assert_eq!(status["lock"]["operation"], "apply", "{status}");
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(get_object(&bucket, &format!("{key}.lock")).is_none(), "the lock is in DynamoDB, not S3");
    let o = p.run_env(&["lock", "status"], &env);
    assert!(stdout(&o).contains("is not locked"), "{}", all(&o));
    let o = p.run_env(&["plan", "--detailed-exitcode"], &env);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(s3_state(&bucket, key).unwrap()["resources"].as_object().unwrap().len(), 3);
}

#[test]
fn client_side_encryption_through_the_cli() {
    let moto = Moto::shared();
    let bucket = new_bucket("enc");
    let key = "e/state.json";
    let extra = ", encryption: { key_env: STRATA_STATE_KEY }";
    let p = Project::new(&spec(&s3_state_yaml(&bucket, key, Some(&moto.endpoint), extra)));
    let o = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 1, "no key: refused before anything is applied\n{}", all(&o));
    assert!(stderr(&o).contains("$STRATA_STATE_KEY is not set"), "{}", all(&o));
    assert!(p.store().is_none());

    let k = [("STRATA_STATE_KEY", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")];
    let o = p.run_env(&["apply", "--auto-approve"], &k);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let raw = String::from_utf8(get_object(&bucket, key).unwrap()).unwrap();
    assert!(
        raw.contains("strata-encrypted-state") && !raw.contains(TOKEN) && !raw.contains("resources.bucket"),
        "{raw}"
    );
    let o = p.run_env(&["plan", "--detailed-exitcode"], &k);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = p.run_env(&["state", "pull"], &k);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let pulled: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pulled["serial"], 1);
    assert_eq!(pulled["resources"]["resources.api-credential"]["attrs"]["token"], TOKEN, "pull is the raw state");
    assert!(!stderr(&o).contains(TOKEN));

    // Changing the key, as docs/state.md says: pull with the old key, remove the object, push
    // with the new one.
    let o = p.run_env(&["state", "pull", "-o", "state.json"], &k);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let new_key = [("STRATA_STATE_KEY", "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=")];
    let o = p.run_env(&["state", "list"], &new_key);
    assert_eq!(code(&o), 1, "the wrong key is an error, not garbage\n{}", all(&o));
    assert!(stderr(&o).contains("key id"), "{}", all(&o));
    rt().block_on(admin().delete_object().bucket(&bucket).key(key).send()).unwrap();
    let o = p.run_env(&["state", "push", "state.json"], &new_key);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = p.run_env(&["plan", "--detailed-exitcode"], &new_key);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = p.run_env(&["show"], &k);
    assert_eq!(code(&o), 1, "the old key no longer opens it\n{}", all(&o));
    let o = p.run_env(&["show", "--json"], &new_key);
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (shown["lineage"].clone(), shown["serial"].clone()),
        (pulled["lineage"].clone(), pulled["serial"].clone())
    );
}

#[test]
fn pull_push_and_migrate_round_trip_keep_lineage_and_serial() {
    let moto = Moto::shared();
    let bucket = new_bucket("migrate");
    let key = "m/state.json";
    let s3 = spec(&s3_state_yaml(&bucket, key, Some(&moto.endpoint), ""));

    // Start local.
    let p = Project::new(&spec(""));
    let o = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let local: Value = serde_json::from_slice(&std::fs::read(p.path(".strata/state.json")).unwrap()).unwrap();
    let lineage = local["lineage"].as_str().unwrap().to_string();
    assert_eq!(local["serial"], 1);

    // Local -> S3.
    p.write_spec(&s3);
    let o = p.run(&["state", "pull"]);
    assert_eq!(code(&o), 1, "nothing in S3 yet\n{}", all(&o));
    assert!(stderr(&o).contains("no state at"), "{}", all(&o));
    let o = p.run(&["state", "migrate", "--from-local", ".strata/state.json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).contains(&format!("lineage {lineage}, serial 1")), "{}", all(&o));
    let stored = s3_state(&bucket, key).unwrap();
    assert_eq!(stored, local, "the same document: lineage, serial and resources");
    assert!(!p.path(".strata/state.json.lock").exists() && get_object(&bucket, &format!("{key}.lock")).is_none());
    let o = p.run(&["state", "migrate", "--from-local", ".strata/state.json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).contains("already holds this state"), "{}", all(&o));
    let o = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "the migrated state matches what exists\n{}", all(&o));

    // pull: the raw document.
    let o = p.run(&["state", "pull"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let pulled: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pulled, stored);
    let o = p.run(&["state", "pull", "-o", "backup.json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(!stdout(&o).contains(TOKEN));
    let backup: Value = serde_json::from_slice(&std::fs::read(p.path("backup.json")).unwrap()).unwrap();
    assert_eq!(backup, stored);

    // push: same serial refused, newer accepted, other lineage refused, --force replaces.
    let write = |name: &str, v: &Value| std::fs::write(p.path(name), serde_json::to_vec(v).unwrap()).unwrap();
    let o = p.run(&["state", "push", "backup.json"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("a push must be newer"), "{}", all(&o));
    let mut newer = backup.clone();
    newer["serial"] = 2.into();
    write("newer.json", &newer);
    let o = p.run(&["state", "push", "newer.json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(s3_state(&bucket, key).unwrap()["serial"], 2);
    let o = p.run(&["state", "push", "backup.json"]);
    assert_eq!(code(&o), 1, "a lower serial is refused\n{}", all(&o));
    let mut other = backup.clone();
    other["lineage"] = "0b5e55ed-0000-4000-8000-000000000000".into();
    other["serial"] = 9.into();
    write("other.json", &other);
    let o = p.run(&["state", "push", "other.json"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("lineage") && stderr(&o).contains("--force"), "{}", all(&o));
    assert_eq!(s3_state(&bucket, key).unwrap()["lineage"], lineage.as_str(), "refused pushes change nothing");
    let o = p.run(&["state", "push", "other.json", "--force"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(s3_state(&bucket, key).unwrap()["lineage"], other["lineage"]);
    // Back to our lineage (forced), then a forced rollback to serial 1 is stored as serial 3.
    let o = p.run(&["state", "push", "newer.json", "--force"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = p.run(&["state", "push", "backup.json", "--force"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(stdout(&o).contains("stored as serial 3"), "{}", all(&o));
    let stored = s3_state(&bucket, key).unwrap();
    assert_eq!((stored["lineage"].as_str().unwrap(), stored["serial"].as_u64().unwrap()), (lineage.as_str(), 3));
    let o = p.run(&["state", "push", "-"]);
    assert_eq!(code(&o), 1, "empty stdin is not a state\n{}", all(&o));

    // S3 -> local; a different state already at the destination is kept unless --force.
    write("taken.json", &other);
    let o = p.run(&["state", "migrate", "--to-local", "taken.json"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("already holds a state"), "{}", all(&o));
    let o = p.run(&["state", "migrate", "--to-local", "back/state.json"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let back: Value = serde_json::from_slice(&std::fs::read(p.path("back/state.json")).unwrap()).unwrap();
    assert_eq!(back, stored, "same lineage, serial and resources");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.path("back/state.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a state file holds secrets: owner only");
    }
    p.write_spec(&spec("state: { backend: local, path: back/state.json }\n"));
    let o = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = p.run(&["show"]);
    assert!(stdout(&o).contains(&format!("lineage {lineage}, serial 3")), "{}", all(&o));
    // Migrating a state onto itself is refused.
    let o = p.run(&["state", "migrate", "--from-local", "back/state.json"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stderr(&o).contains("nothing to migrate"), "{}", all(&o));
}
