//! End-to-end tests of the built `strata` binary: exit codes, output, state on disk.
//! The test provider keeps its objects in a JSON file so separate runs see the same "remote".

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

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

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(STRATA);
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("STRATA_ENABLE_TEST_PROVIDER", "1")
            .env("NO_COLOR", "1")
            .env_remove("STRATA_ENV");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn store(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path("store.json")).unwrap()).unwrap()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path(".strata/state.json")).unwrap()).unwrap()
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

const SPEC: &str = r#"version: 1
project: apex
providers:
  test: { store: store.json, sensitive: { credential: [/token] } }
resources:
  - name: bucket
    test: { kind: widget, size: 1, description: "assets" }
  - name: app-config
    test: { kind: widget, upstream: "${resources.bucket.endpoint}" }
  - name: api-credential
    test: { kind: credential, token: "${env.API_TOKEN}" }
"#;

const TOKEN: &str = "tok-5e3cr3t-value";

#[test]
fn validate_reports_problems_with_exit_1_and_touches_nothing() {
    let p = Project::new("version: 1\nproject: apex\nservces: {}\n");
    let o = p.run(&["validate"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("did you mean `services`?"), "{err}");
    assert!(err.contains("strata.yaml:3:1"), "{err}");
    assert!(!p.path(".strata").exists(), "no state touched");
    let o = p.run(&["validate", "--json"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["diagnostics"][0]["code"], "spec::unknown-key");
    assert_eq!(v["diagnostics"][0]["line"], 3);
}

#[test]
fn plan_apply_replan_drift_and_destroy() {
    let p = Project::new(SPEC);
    let env = [("API_TOKEN", TOKEN)];

    // Nothing applied yet: `show --json` is still JSON.
    let o = p.run_env(&["show", "--json"], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(), serde_json::Value::Null);

    // A misspelt flag is an error (1), never "changes present" (2).
    let o = p.run_env(&["plan", "--taget", "resources.bucket"], &env);
    assert_eq!(code(&o), 1, "{}", stderr(&o));

    // Plan: changes present -> 2 with --detailed-exitcode.
    let o = p.run_env(&["plan", "--detailed-exitcode"], &env);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy."), "{out}");
    assert!(out.contains("upstream = (known after apply)"), "{out}");
    assert!(!out.contains(TOKEN), "secret leaked into the plan:\n{out}");

    // Non-interactive apply without --auto-approve is refused.
    let o = p.run_env(&["apply"], &env);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("--auto-approve"), "{}", stderr(&o));
    assert!(!p.path("store.json").exists(), "nothing applied");

    let o = p.run_env(&["apply", "--auto-approve"], &env);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o) + &stderr(&o);
    assert!(out.contains("Apply complete! Resources: 3 added"), "{out}");
    assert!(out.contains("resources.bucket: Creation complete after"), "{out}");
    assert!(!out.contains(TOKEN), "secret leaked into apply output");
    assert_eq!(p.store()["resources.app-config"][0]["upstream"], "resources-bucket.test.example");
    assert_eq!(p.state()["serial"], 1);
    assert!(!p.path(".strata/state.json.lock").exists(), "lock released");

    // Re-plan: no changes, exit 0.
    let o = p.run_env(&["plan", "--detailed-exitcode"], &env);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("No changes."));
    let o = p.run_env(&["apply", "--auto-approve", "--json"], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["apply"].is_null() && v["plan"]["summary"]["no_op"] == 3, "{v}");

    // Out-of-band change: drift exits 2 and names the attribute.
    let mut store = p.store();
    store["resources.bucket"][0]["size"] = serde_json::json!(5);
    std::fs::write(p.path("store.json"), serde_json::to_vec(&store).unwrap()).unwrap();
    let o = p.run_env(&["drift"], &env);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stdout(&o).contains("size = 1 -> 5"), "{}", stdout(&o));
    let o = p.run_env(&["drift", "--json"], &env);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["drifted"][0]["address"], "resources.bucket");

    // show / state list / state show mask the secret.
    let o = p.run_env(&["state", "list"], &env);
    assert_eq!(stdout(&o).lines().count(), 3);
    let o = p.run_env(&["state", "show", "resources.api-credential"], &env);
    assert!(!stdout(&o).contains(TOKEN) && stdout(&o).contains("(sensitive)"), "{}", stdout(&o));
    let o = p.run_env(&["show", "--json"], &env);
    assert!(!stdout(&o).contains(TOKEN));

    // Apply restores the spec.
    let o = p.run_env(&["apply", "--auto-approve"], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(p.store()["resources.bucket"][0]["size"], 1);

    // Destroy removes everything, dependents first.
    let o = p.run_env(&["destroy", "--auto-approve"], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(p.store().as_object().unwrap().len(), 0);
    assert_eq!(p.state()["resources"].as_object().unwrap().len(), 0);
}

#[test]
fn saved_plans_apply_once_and_refuse_when_stale() {
    let p = Project::new(SPEC);
    let env = [("API_TOKEN", TOKEN)];
    let o = p.run_env(&["plan", "-o", "plan.json"], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let saved = std::fs::read_to_string(p.path("plan.json")).unwrap();
    assert!(!saved.contains(TOKEN), "secret in the saved plan");
    let o = p.run_env(&["apply", "plan.json"], &env);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // The state moved on: the same plan is now stale.
    let o = p.run_env(&["apply", "plan.json"], &env);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("stale"), "{}", stderr(&o));

    // A plan made, then the spec edited: refused too, even though the saved plan had nothing
    // to do, because applying it would no longer match what the spec says.
    let o = p.run_env(&["plan", "-o", "plan2.json"], &env);
    assert_eq!(code(&o), 0);
    p.write_spec(&SPEC.replace("size: 1", "size: 2"));
    let o = p.run_env(&["apply", "plan2.json"], &env);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stderr(&o).contains("changed since the plan was made"), "{}", stderr(&o));
    assert_eq!(p.store()["resources.bucket"][0]["size"], 1, "nothing applied");
}

/// A lock file no live process holds (its holder was killed) does not block: `lock status`
/// says the state is not locked, and `force-unlock` still removes the file by its id. (A live
/// holder blocking with its details: `locks::a_killed_local_holder_does_not_block_the_next_run`.)
#[test]
fn a_dead_holders_lock_file_does_not_block_and_force_unlock_removes_it() {
    let p = Project::new(SPEC);
    std::fs::create_dir_all(p.path(".strata")).unwrap();
    let lock = serde_json::json!({"id": "lock-123", "who": "alice@ci-7", "host": "ci-7", "pid": 4121, "operation": "apply", "started": "2026-11-23T10:00:00Z"});
    std::fs::write(p.path(".strata/state.json.lock"), lock.to_string()).unwrap();
    let env = [("API_TOKEN", TOKEN)];
    let o = p.run_env(&["lock", "status"], &env);
    assert!(stdout(&o).contains("is not locked"), "{}", stdout(&o));
    let o = p.run_env(&["force-unlock", "wrong-id"], &env);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("does not match the current lock (lock-123)"), "{}", stderr(&o));
    let o = p.run_env(&["force-unlock", "lock-123"], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!p.path(".strata/state.json.lock").exists());
    // A stale file left again: the next apply takes the lock over.
    std::fs::write(p.path(".strata/state.json.lock"), lock.to_string()).unwrap();
    let o = p.run_env(&["apply", "--auto-approve"], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!p.path(".strata/state.json.lock").exists(), "released");
}

#[test]
fn failures_exit_1_and_state_keeps_what_happened() {
    let spec = SPEC.replace("store: store.json,", "store: store.json, fail: { resources.app-config: -1 },");
    let p = Project::new(&spec);
    let o = p.run_env(&["apply", "--auto-approve"], &[("API_TOKEN", TOKEN)]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(out.contains("Error: resources.app-config"), "{out}");
    let state = p.state();
    let mut addrs: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    addrs.sort();
    assert_eq!(addrs, vec!["resources.api-credential", "resources.bucket"]);
}

#[test]
fn markdown_and_json_plans() {
    let p = Project::new(SPEC);
    let env = [("API_TOKEN", TOKEN)];
    let o = p.run_env(&["plan", "--format", "markdown"], &env);
    let md = stdout(&o);
    assert!(md.starts_with("### strata plan for `apex`"), "{md}");
    assert!(md.contains("| `+` | `resources.bucket` | `widget` |"), "{md}");
    let o = p.run_env(&["plan", "--json"], &env);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["create"], 3);
    assert_eq!(v["changes"][0]["action"], "create");
    assert!(!stdout(&o).contains(TOKEN));
}

#[test]
fn state_rm_and_mv() {
    let p = Project::new(SPEC);
    let env = [("API_TOKEN", TOKEN)];
    assert_eq!(code(&p.run_env(&["apply", "--auto-approve"], &env)), 0);
    let o = p.run_env(&["state", "mv", "resources.bucket", "resources.assets"], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(p.state()["resources"]["resources.assets"].is_object());
    let o = p.run_env(&["state", "rm", "resources.nope"], &env);
    assert_eq!(code(&o), 1);
    let o = p.run_env(&["state", "rm", "resources.assets"], &env);
    assert_eq!(code(&o), 0);
    assert!(p.state()["resources"].get("resources.assets").is_none());
}

#[test]
fn graph_schema_version_and_init() {
    let p = Project::new(SPEC);
    let o = p.run_env(&["graph"], &[("API_TOKEN", TOKEN)]);
    assert!(stdout(&o).contains("\"resources.app-config\" -> \"resources.bucket\""));
    let o = p.run(&["schema"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["title"], "strata.yaml");
    let o = p.run(&["version"]);
    assert!(stdout(&o).starts_with("strata "));
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(STRATA).args(["init", dir.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(code(&o), 0);
    let o = Command::new(STRATA)
        .args(["-f", &dir.path().join("strata.yaml").display().to_string(), "plan", "--refresh=false"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(Path::new(&dir.path().join("strata.yaml")).exists());
}

#[test]
fn flags_eval_serves_what_flagd_would() {
    let spec =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scaling-flags/strata.yaml"))
            .unwrap();
    let p = Project::new(&spec);
    // A targeting rule: the `@apex.dev` email gets the large model.
    let o = p.run(&["flags", "eval", "model-tier", "-c", "email=ana@apex.dev", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["variant"].as_str(), v["value"].as_str(), v["reason"].as_str()),
        (Some("large"), Some("gpt-large"), Some("TARGETING_MATCH"))
    );
    // No rule matches: the default variant, reason DEFAULT (targeting ran and returned null).
    let o = p.run(&["flags", "eval", "model-tier", "-c", "email=bo@example.com"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "model-tier = \"gpt-small\" (variant `small`, reason DEFAULT)");
    // The dev overlay rolls new-checkout out to 100%: on for every targeting key.
    for key in ["u-1", "u-2", "someone-else"] {
        let o =
            p.run(&["--env", "dev", "flags", "eval", "new-checkout", "-c", &format!("targetingKey={key}"), "--json"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["value"], true, "{key}");
        assert_eq!(v["env"], "dev");
    }
    // Mistakes: an unknown flag (with a suggestion) and a malformed context pair.
    let o = p.run(&["flags", "eval", "new-checkot"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("FLAG_NOT_FOUND") && stderr(&o).contains("new-checkout"), "{}", stderr(&o));
    let o = p.run(&["flags", "eval", "new-checkout", "-c", "no-equals-sign"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("is not `key=value`"), "{}", stderr(&o));
}

#[test]
fn secrets_stay_hidden_after_rotation_and_in_validate_output() {
    // A secret with a quote and a backslash ends up in a diagnostic, JSON-escaped.
    let p = Project::new(
        "version: 1\nproject: apex\nservices:\n  api: { namespace: apex, port: \"${secret.API_PORT}\" }\n",
    );
    let env = [("API_PORT", r#"x"s3cret\y"#)];
    for args in [&["validate", "--json"][..], &["validate"][..]] {
        let o = p.run_env(args, &env);
        assert_eq!(code(&o), 1);
        let out = stdout(&o) + &stderr(&o);
        assert!(out.contains("spec::wrong-type") || out.contains("wrong-type"), "{out}");
        assert!(!out.contains("s3cret"), "secret in `{}`:\n{out}", args.join(" "));
    }

    // A secret applied, then rotated: `show`, `state show` and `plan` hide the old value too.
    let spec = r#"version: 1
project: apex
providers:
  test: { store: store.json }
resources:
  - name: db
    test: { kind: widget, password: "${secret.DB_ROOT}", size: 1 }
"#;
    let p = Project::new(spec);
    let o = p.run_env(&["apply", "--auto-approve"], &[("DB_ROOT", "old-r00t-value")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(p.state()["resources"]["resources.db"]["sensitive"], serde_json::json!(["/password"]));
    let rotated = [("DB_ROOT", "new-r00t-value")];
    for args in [&["show"][..], &["show", "--json"], &["state", "show", "resources.db"], &["plan"], &["plan", "--json"]]
    {
        let o = p.run_env(args, &rotated);
        let out = stdout(&o) + &stderr(&o);
        assert!(!out.contains("r00t-value"), "secret in `{}`:\n{out}", args.join(" "));
    }
}
