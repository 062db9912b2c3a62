//! End-to-end helpers: the built `strata` binary and the real `kubectl` against an in-process
//! kube-test-server.
//!
//! Include with `#[path = "../../tests/support/kube.rs"] mod kube;` from a test of strata-cli.
//!
//! * [`Cluster::start`] starts a kube-test-server on a free port and gives kubectl a private
//!   kubeconfig, HOME and discovery cache (nothing from the machine's `~/.kube` is read or
//!   written): the launcher is `strata_testkit::kube::Cluster` (feature `kube`). kubectl comes
//!   from `KUBECTL`, else `PATH`; the API specs (CRD bundles) from
//!   `STRATA_API_SPECS`, else `<workspace>/../shared/api-specs`. A missing one fails the test
//!   with what to install: these tests never skip silently.
//! * [`Project`] is a temporary directory holding a `strata.yaml` pointed at the server
//!   (`providers.kubernetes.server`), in which `strata` runs with `NO_COLOR=1`.

#![allow(dead_code)]

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
pub use strata_testkit::kube::kubectl_binary;

/// The `strata` binary cargo built for this test.
pub const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// The workspace root (the directory holding `cli/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf()
}

/// The API specs directory: `STRATA_API_SPECS`, else `<workspace>/../shared/api-specs`.
pub fn api_specs() -> PathBuf {
    let dir = std::env::var_os("STRATA_API_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/api-specs"));
    assert!(
        dir.is_dir(),
        "API specs (CRD bundles) not found at {}: set STRATA_API_SPECS to the api-specs directory",
        dir.display()
    );
    dir
}

/// A file under the API specs directory, which must exist.
pub fn api_spec(relative: &str) -> PathBuf {
    let p = api_specs().join(relative);
    assert!(p.is_file(), "{} not found: set STRATA_API_SPECS to a complete api-specs directory", p.display());
    p
}

/// An example spec, `examples/<name>/strata.yaml`.
pub fn example(name: &str) -> String {
    let p = workspace_root().join("examples").join(name).join("strata.yaml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Points a spec at `url`: replaces the quickstart's `http://127.0.0.1:8765` and `{{server}}`
/// placeholders, else inserts `providers: { kubernetes: { server: URL } }` after `project:`.
pub fn with_server(spec: &str, url: &str) -> String {
    if spec.contains("http://127.0.0.1:8765") || spec.contains("{{server}}") {
        return spec.replace("http://127.0.0.1:8765", url).replace("{{server}}", url);
    }
    assert!(
        !spec.lines().any(|l| l.starts_with("providers:")),
        "the spec has a providers section without a server placeholder; add `server: {{{{server}}}}`"
    );
    let mut out = String::new();
    let mut inserted = false;
    for line in spec.lines() {
        out.push_str(line);
        out.push('\n');
        if !inserted && line.starts_with("project:") {
            out.push_str(&format!("\nproviders:\n  kubernetes:\n    server: {url}\n"));
            inserted = true;
        }
    }
    assert!(inserted, "the spec has no top-level `project:` line");
    out
}

/// A finished process, with its output as text.
#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(what: String, o: Output) -> Self {
        Run {
            what,
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing everything the process printed when it differs.
    #[track_caller]
    pub fn code(self, expected: i32) -> Self {
        assert_eq!(self.code, expected, "`{}` exited {} (expected {expected}):\n{}", self.what, self.code, self.both());
        self
    }

    /// Asserts success (exit 0).
    #[track_caller]
    pub fn ok(self) -> Self {
        self.code(0)
    }

    /// stdout then stderr.
    pub fn both(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}` did not print JSON ({e}):\n{}", self.what, self.both()))
    }
}

/// A kube-test-server with a private kubectl setup (`strata_testkit::kube::Cluster`; its
/// `server`, `url()`, `knobs()` are reachable through `Deref`).
pub struct Cluster(strata_testkit::kube::Cluster);

impl Deref for Cluster {
    type Target = strata_testkit::kube::Cluster;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Cluster {
    /// Starts the server (and checks that kubectl exists).
    pub fn start() -> Self {
        Cluster(strata_testkit::kube::Cluster::with_kubectl())
    }

    /// Writes `content` to a file in the cluster's private directory.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir().join(name);
        std::fs::write(&p, content).expect("write file");
        p
    }

    /// Runs kubectl (`--server` the test server, private kubeconfig, HOME and cache).
    pub fn kubectl(&self, args: &[&str]) -> Run {
        let out = self
            .kubectl_command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", kubectl_binary().display()));
        Run::from(format!("kubectl {}", args.join(" ")), out)
    }

    /// Runs kubectl, expecting success; returns stdout.
    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        self.kubectl(args).ok().stdout
    }

    /// `kubectl get ARGS -o json`.
    #[track_caller]
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json", "--show-managed-fields"]);
        self.kubectl(&all).ok().json()
    }

    /// One object (`kind`, `name`, namespace or `None`), or `None` when it does not exist.
    #[track_caller]
    pub fn object(&self, kind: &str, name: &str, namespace: Option<&str>) -> Option<Value> {
        let mut args = vec!["get", kind, name, "-o", "json", "--show-managed-fields", "--ignore-not-found"];
        if let Some(ns) = namespace {
            args.extend_from_slice(&["-n", ns]);
        }
        let run = self.kubectl(&args).ok();
        if run.stdout.trim().is_empty() { None } else { Some(run.json()) }
    }

    /// Like [`Self::object`], for an object that must exist.
    #[track_caller]
    pub fn must_get(&self, kind: &str, name: &str, namespace: Option<&str>) -> Value {
        self.object(kind, name, namespace)
            .unwrap_or_else(|| panic!("{kind} {name} (namespace {namespace:?}) does not exist on the server"))
    }

    /// `kubectl get KINDS -A -o name`: every object of these kinds, sorted.
    #[track_caller]
    pub fn names(&self, kinds: &str) -> Vec<String> {
        let out = self.kubectl_ok(&["get", kinds, "-A", "-o", "name"]);
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    }

    /// `kubectl apply --server-side -f FILE` for each file (CRD bundles), then waits until every
    /// CustomResourceDefinition is Established.
    #[track_caller]
    pub fn apply_crds(&self, files: &[PathBuf]) {
        for f in files {
            self.kubectl_ok(&["apply", "--server-side", "-f", f.to_str().expect("utf-8 path")]);
        }
        self.kubectl_ok(&["wait", "--for=condition=Established", "crd", "--all", "--timeout=20s"]);
    }

    /// Creates a namespace with kubectl (for examples that expect it to exist).
    #[track_caller]
    pub fn create_namespace(&self, name: &str, labels: &[&str]) {
        self.kubectl_ok(&["create", "namespace", name]);
        if !labels.is_empty() {
            let mut args = vec!["label", "namespace", name];
            args.extend_from_slice(labels);
            self.kubectl_ok(&args);
        }
    }

    /// The managers of an object's `metadata.managedFields` that own `field` (a FieldsV1 path
    /// such as `["f:data", "f:mode"]`), as `manager/operation`.
    pub fn owners(obj: &Value, field: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for m in obj["metadata"]["managedFields"].as_array().into_iter().flatten() {
            let mut at = &m["fieldsV1"];
            for f in field {
                at = &at[*f];
            }
            if !at.is_null() {
                out.push(format!(
                    "{}/{}",
                    m["manager"].as_str().unwrap_or("?"),
                    m["operation"].as_str().unwrap_or("?")
                ));
            }
        }
        out.sort();
        out
    }
}

/// A temporary project directory with a `strata.yaml`.
pub struct Project {
    dir: tempfile::TempDir,
    url: String,
}

impl Project {
    /// Writes `spec`, pointed at `cluster` (see [`with_server`]).
    pub fn new(cluster: &Cluster, spec: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Project { dir, url: cluster.url().to_string() };
        p.write_spec(spec);
        p
    }

    /// A copy of `examples/<name>/strata.yaml`, pointed at `cluster`.
    pub fn example(cluster: &Cluster, name: &str) -> Self {
        Self::new(cluster, &example(name))
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The spec as written (with the server URL).
    pub fn spec(&self) -> String {
        std::fs::read_to_string(self.path("strata.yaml")).expect("read strata.yaml")
    }

    /// Replaces the spec (pointed at the server again).
    pub fn write_spec(&self, spec: &str) {
        let text = if spec.contains(&self.url) { spec.to_string() } else { with_server(spec, &self.url) };
        std::fs::write(self.path("strata.yaml"), text).expect("write strata.yaml");
    }

    /// Replaces `from` by `to` in the spec; `from` must occur.
    #[track_caller]
    pub fn edit(&self, from: &str, to: &str) {
        let spec = self.spec();
        assert!(spec.contains(from), "the spec does not contain {from:?}:\n{spec}");
        std::fs::write(self.path("strata.yaml"), spec.replacen(from, to, 1)).expect("write strata.yaml");
    }

    /// Runs `strata ARGS` in the project directory with `NO_COLOR=1`, a private HOME and no
    /// STRATA_* settings from the environment.
    pub fn strata(&self, args: &[&str]) -> Run {
        let out = Command::new(STRATA)
            .current_dir(self.dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("HOME", self.dir.path())
            .env_remove("STRATA_ENV")
            .env_remove("STRATA_FILE")
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .expect("run strata");
        Run::from(format!("strata {}", args.join(" ")), out)
    }

    /// The local state document of the default environment (`.strata/state.json`), or of `env`.
    pub fn state(&self, env: Option<&str>) -> Value {
        let p = match env {
            None => self.path(".strata/state.json"),
            Some(e) => self.path(&format!(".strata/{e}/state.json")),
        };
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())))
            .expect("state is JSON")
    }

    /// The addresses in a state document (none when there is no state file yet).
    pub fn state_addresses(&self, env: Option<&str>) -> Vec<String> {
        let file = match env {
            None => self.path(".strata/state.json"),
            Some(e) => self.path(&format!(".strata/{e}/state.json")),
        };
        if !file.exists() {
            return Vec::new();
        }
        self.state(env)["resources"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }
}

/// The changes of a `plan --json` document that do something, as `(address, action)`.
pub fn actions(plan: &Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .expect("plan has changes")
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| (c["address"].as_str().unwrap().to_string(), c["action"].as_str().unwrap().to_string()))
        .collect()
}

/// The change of `address` in a `plan --json` document.
#[track_caller]
pub fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .expect("plan has changes")
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change for {address} in the plan:\n{plan:#}"))
}

/// `(path, before, after)` of a change's attributes.
pub fn attributes(change: &Value) -> Vec<(String, Value, Value)> {
    change["attributes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| (x["path"].as_str().unwrap().to_string(), x["before"].clone(), x["after"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The lines of `text` from the first line containing `start` through the next line that is
/// exactly `end` (after trimming), for comparing a block of plan output.
#[track_caller]
pub fn block(text: &str, start: &str, end: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.iter().position(|l| l.contains(start)).unwrap_or_else(|| panic!("no {start:?} in:\n{text}"));
    let to = lines[from..]
        .iter()
        .position(|l| l.trim() == end)
        .map(|i| from + i)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?} in:\n{text}"));
    lines[from..=to].iter().map(|l| l.to_string()).collect()
}
