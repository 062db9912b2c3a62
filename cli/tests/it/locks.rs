//! Locks and interrupts, end to end: a killed holder's local lock, Ctrl-C at the confirmation
//! prompt, during refresh and during apply. Each test runs the real binary as a child process and
//! signals it (`kill -KILL`, `kill -INT`), with no terminal.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// Longest any wait in these tests may take before the test fails instead of hanging.
const HANG: Duration = Duration::from_secs(30);

const TOKEN: &str = "tok-5e3cr3t-value";

/// Three resources (`app-config` depends on `bucket`), each provider call taking `latency_ms`.
fn spec(latency_ms: u64) -> String {
    format!(
        r#"version: 1
project: apex
providers:
  test: {{ store: store.json, latency_ms: {latency_ms} }}
resources:
  - name: bucket
    test: {{ kind: widget, size: 1 }}
  - name: app-config
    test: {{ kind: widget, upstream: "${{resources.bucket.endpoint}}" }}
  - name: api-credential
    test: {{ kind: widget, token: "${{env.API_TOKEN}}" }}
"#
    )
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

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(STRATA);
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("STRATA_ENABLE_TEST_PROVIDER", "1")
            .env("API_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("STRATA_ENV");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Starts `strata args...` with piped stdout and stderr, collected in the background.
    fn spawn(&self, args: &[&str], stdin: Stdio, env: &[(&str, &str)]) -> Running {
        let mut cmd = self.cmd(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Running { child, stdout, stderr }
    }

    /// The holder named in the lock file, once it is there and complete.
    fn lock_file(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(self.path(".strata/state.json.lock")).ok()?).ok()
    }

    fn store(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_slice(&std::fs::read(self.path("store.json")).ok()?).ok()
    }

    fn state(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(self.path(".strata/state.json")).ok()?).ok()
    }
}

/// Reads a pipe to its end on a thread; the text so far is always available.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let t = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            t.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn all(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr.lock().unwrap())
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for the process to exit (killing it after [`HANG`]); its exit code, `None` when a
    /// signal ended it.
    fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("strata did not exit within {HANG:?}:\n{}", self.all());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn all(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Issue 11, item 13: the local lock dies with its holder. While the holder lives, others are
/// refused with its details; after `kill -9` the next run proceeds without `force-unlock`.
#[test]
fn a_killed_local_holder_does_not_block_the_next_run() {
    let p = Project::new(&spec(60_000));
    let mut holder = p.spawn(&["apply", "--auto-approve"], Stdio::null(), &[]);
    let pid = holder.child.id();
    wait_until("the apply to hold the lock", || p.lock_file().is_some_and(|l| l["pid"] == pid));
    let id = p.lock_file().unwrap()["id"].as_str().unwrap().to_string();

    // A live holder blocks, with its details.
    let o = p.run(&["plan", "--refresh=false"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the state is locked") && err.contains(&format!("pid {pid}")), "{err}");
    assert!(err.contains("`apply`") && err.contains(&format!("strata force-unlock {id}")), "{err}");
    let o = p.run(&["lock", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["lock"]["pid"], pid, "{status}");

    holder.signal("-KILL");
    assert_eq!(holder.wait(), None, "killed by the signal");

    // The dead holder's lock is free: no force-unlock needed.
    let o = p.run(&["lock", "status"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("is not locked"), "{}", all(&o));
    let o = p.run(&["plan", "--refresh=false"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    std::fs::write(p.path("strata.yaml"), spec(0)).unwrap();
    let o = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(!p.path(".strata/state.json.lock").exists(), "released");
}

/// Issue 11, item 14: Ctrl-C at the confirmation prompt cancels at once, releases the lock and
/// exits 1. stdin is a pipe that stays open (nothing is ever typed); `STRATA_TEST_PROMPT_STDIN`
/// makes a test build ask on it although it is not a terminal.
#[test]
fn ctrl_c_at_the_prompt_cancels_at_once_and_releases_the_lock() {
    let p = Project::new(&spec(0));
    let mut run = p.spawn(&["apply"], Stdio::piped(), &[("STRATA_TEST_PROMPT_STDIN", "1")]);
    wait_until("the confirmation prompt", || run.stdout().contains("Enter a value:"));
    assert!(run.stdout().contains("Do you want to perform these actions?"), "{}", run.all());
    assert!(p.lock_file().is_some(), "the lock is held while asking");
    run.signal("-INT");
    let started = Instant::now();
    assert_eq!(run.wait(), Some(1), "{}", run.all());
    assert!(started.elapsed() < Duration::from_secs(5), "cancelled at once, not after {:?}", started.elapsed());
    assert!(run.stdout().contains("Apply cancelled."), "{}", run.all());
    assert!(p.store().is_none_or(|s| s.is_empty()), "nothing applied");

    // The lock was released: the next command sees no holder and works.
    assert!(!p.path(".strata/state.json.lock").exists(), "lock file removed");
    let o = p.run(&["lock", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(status["lock"].is_null(), "{status}");
    let o = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 2, "{}", all(&o));
}

/// Ctrl-C during refresh: the refresh finishes, nothing is applied, the lock is released,
/// exit 1 (docs/architecture.md, the apply walk: "Ctrl-C").
#[test]
fn ctrl_c_during_refresh_applies_nothing_and_releases_the_lock() {
    let p = Project::new(&spec(1_500));
    let mut run = p.spawn(&["apply", "--auto-approve"], Stdio::null(), &[]);
    // The lock is taken just before the refresh starts.
    wait_until("the apply to hold the lock", || p.lock_file().is_some());
    run.signal("-INT");
    assert_eq!(run.wait(), Some(1), "{}", run.all());
    assert!(p.store().is_none_or(|s| s.is_empty()), "nothing applied: {:?}", p.store());
    assert!(!p.path(".strata/state.json.lock").exists(), "lock released\n{}", run.all());
}

/// Ctrl-C during apply: calls in flight finish and are recorded, nothing new starts, the lock
/// is released, exit 1.
#[test]
fn ctrl_c_during_apply_finishes_in_flight_work_and_releases_the_lock() {
    let p = Project::new(&spec(800));
    let mut run = p.spawn(&["apply", "--auto-approve"], Stdio::null(), &[]);
    wait_until("the first creates to start", || run.stdout().contains("Creating..."));
    run.signal("-INT");
    assert_eq!(run.wait(), Some(1), "{}", run.all());
    let out = run.stdout();
    assert!(out.contains("resources.bucket: Creation complete"), "in-flight work finished:\n{}", run.all());
    assert!(out.contains("Apply interrupted!") && out.contains("1 not started"), "{}", run.all());
    let state = p.state().expect("state written");
    assert!(state["resources"]["resources.bucket"].is_object(), "{state}");
    assert!(state["resources"].get("resources.app-config").is_none(), "{state}");
    assert!(!p.path(".strata/state.json.lock").exists(), "lock released\n{}", run.all());
    // A second Ctrl-C was never needed, and the next run continues from the state.
    std::fs::write(p.path("strata.yaml"), spec(0)).unwrap();
    let o = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 added"), "{}", all(&o));
}
