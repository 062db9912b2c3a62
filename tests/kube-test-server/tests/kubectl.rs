//! Conformance: the real `kubectl` against an in-process server.
//!
//! kubectl is found through `KUBECTL` or `PATH`, and the Istio CRD bundle
//! through `STRATA_API_SPECS` (default: `shared/api-specs` next to the
//! workspace). Both are required: CI installs them, and a missing one fails
//! the test instead of silently skipping it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube_test_server::{TestServer, spawn_for_tests};
use serde_json::Value;

fn kubectl_binary() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECTL").filter(|k| !k.is_empty()) {
        return PathBuf::from(k);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("kubectl")).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("kubectl not found: install it or set KUBECTL to its path (this test needs the real kubectl)")
        })
}

fn api_specs() -> PathBuf {
    let dir = std::env::var_os("STRATA_API_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/api-specs"));
    let bundle = dir.join("istio/crd-all.gen.yaml");
    assert!(
        bundle.is_file(),
        "Istio CRD bundle not found at {}: set STRATA_API_SPECS to the api-specs directory",
        bundle.display()
    );
    dir
}

/// kubectl with a private kubeconfig, HOME and discovery cache, so nothing
/// from the machine's ~/.kube leaks in (or gets written).
struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
    _server: TestServer,
}

impl Kubectl {
    fn new() -> Self {
        let server = spawn_for_tests();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig()).unwrap();
        Self { bin: kubectl_binary(), dir, _server: server }
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .arg(format!("--cache-dir={}", self.dir.path().join("cache").display()))
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("HOME", self.dir.path())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.bin.display()))
    }

    /// Runs kubectl, expecting success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("kubectl printed JSON")
    }
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: x}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  labels: {app: x}
data:
  key: value
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated
  labels: {app: other}
";

const VIRTUAL_SERVICE: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
";

#[test]
fn kubectl_conformance() {
    let k = Kubectl::new();
    let specs = api_specs();

    // Discovery and version.
    let version = k.json(&["version", "-o", "json"]);
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.32.0");

    // Server-side apply of built-in kinds (validation left on).
    let deploy = k.file("deployment.yaml", DEPLOYMENT);
    let out = k.ok(&["apply", "--server-side", "-f", deploy.to_str().unwrap()]);
    assert_eq!(
        out,
        "deployment.apps/web serverside-applied\nconfigmap/web-config serverside-applied\nconfigmap/unrelated serverside-applied\n"
    );
    // Idempotent.
    k.ok(&["apply", "--server-side", "-f", deploy.to_str().unwrap()]);

    let deployments = k.json(&["get", "deployments", "-o", "json", "--show-managed-fields"]);
    assert_eq!(deployments["items"].as_array().unwrap().len(), 1);
    let d = &deployments["items"][0];
    assert_eq!(d["metadata"]["name"], "web");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    assert_eq!(d["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(d["metadata"]["managedFields"][0]["operation"], "Apply");

    // Label selection with the default (table) output.
    let table = k.ok(&["get", "cm", "-l", "app=x"]);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("NAME"), "{table}");
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows[1].starts_with("web-config "), "{table}");
    assert_eq!(k.ok(&["get", "cm", "-l", "app", "-o", "name"]), "configmap/unrelated\nconfigmap/web-config\n");

    // An imperative change, then a conflicting apply, then a forced one.
    k.ok(&["scale", "deployment/web", "--replicas=5"]);
    let conflict = k.run(&["apply", "--server-side", "-f", deploy.to_str().unwrap()]);
    assert!(!conflict.status.success());
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"),
        "{stderr}"
    );
    k.ok(&["apply", "--server-side", "--force-conflicts", "-f", deploy.to_str().unwrap()]);
    assert_eq!(k.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "2");

    // The Istio CRD bundle (large multi-document YAML), then a custom resource.
    let crds = specs.join("istio/crd-all.gen.yaml");
    let out = k.ok(&["apply", "--server-side", "-f", crds.to_str().unwrap()]);
    assert!(
        out.contains(
            "customresourcedefinition.apiextensions.k8s.io/virtualservices.networking.istio.io serverside-applied"
        ),
        "{out}"
    );
    let established =
        k.ok(&["wait", "--for=condition=Established", "crd/virtualservices.networking.istio.io", "--timeout=10s"]);
    assert!(established.contains("condition met"), "{established}");
    let vs = k.file("vs.yaml", VIRTUAL_SERVICE);
    assert_eq!(
        k.ok(&["apply", "--server-side", "-f", vs.to_str().unwrap()]),
        "virtualservice.networking.istio.io/reviews serverside-applied\n"
    );
    let got = k.json(&["get", "virtualservices", "reviews", "-o", "json"]);
    assert_eq!(got["apiVersion"], "networking.istio.io/v1");
    assert_eq!(got["spec"]["hosts"][0], "reviews");
    assert_eq!(k.ok(&["get", "vs", "-o", "name"]), "virtualservice.networking.istio.io/reviews\n");
    // Served in older versions too.
    let beta = k.json(&["get", "virtualservices.v1beta1.networking.istio.io", "reviews", "-o", "json"]);
    assert_eq!(beta["apiVersion"], "networking.istio.io/v1beta1");

    // A server-side diff sees no change for the applied manifest.
    let diff = k.run(&["diff", "--server-side", "-f", vs.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stdout));

    // Client-side apply and strategic-merge patches work too.
    k.ok(&["apply", "-f", deploy.to_str().unwrap()]);
    k.ok(&["patch", "cm", "web-config", "-p", r#"{"data":{"extra":"1"}}"#]);
    assert_eq!(k.ok(&["get", "cm", "web-config", "-o", "jsonpath={.data.extra}"]), "1");

    // Typed `kubectl create` commands (protobuf bodies) for the simple kinds.
    assert_eq!(k.ok(&["create", "namespace", "team"]), "namespace/team created\n");
    k.ok(&["create", "configmap", "settings", "-n", "team", "--from-literal=mode=fast"]);
    k.ok(&["create", "secret", "generic", "creds", "-n", "team", "--from-literal=pw=hunter2"]);
    k.ok(&["create", "serviceaccount", "bot", "-n", "team"]);
    assert_eq!(k.ok(&["get", "secret", "creds", "-n", "team", "-o", "jsonpath={.data.pw}"]), "aHVudGVyMg==");
    assert_eq!(k.ok(&["get", "cm", "settings", "-n", "team", "-o", "jsonpath={.data.mode}"]), "fast");
    assert_eq!(k.ok(&["delete", "namespace", "team"]), "namespace \"team\" deleted\n");
    assert_eq!(k.ok(&["get", "cm", "--all-namespaces", "-o", "name"]), "configmap/unrelated\nconfigmap/web-config\n");

    // Deletion.
    assert_eq!(
        k.ok(&["delete", "-f", vs.to_str().unwrap()]),
        "virtualservice.networking.istio.io \"reviews\" deleted\n"
    );
    assert_eq!(k.ok(&["delete", "deployment", "web"]), "deployment.apps \"web\" deleted\n");
    assert_eq!(k.json(&["get", "deployments", "-o", "json"])["items"], serde_json::json!([]));
    let missing = k.run(&["delete", "cm", "nope"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("configmaps \"nope\" not found"));
    k.ok(&["delete", "cm", "-l", "app"]);
    assert_eq!(k.ok(&["get", "cm", "-o", "name"]), "");
}

/// Issue 11 item 12: what the server must be strict about, seen through kubectl: keyed lists
/// merge per entry across managers, quantities are canonical, immutable fields are refused,
/// finalizers hold a deletion.
#[test]
fn kubectl_sees_a_strict_server() {
    let k = Kubectl::new();
    let ours = k.file(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        resources:\n          limits: {cpu: 0.5, memory: 1024Mi}\n",
    );
    let theirs = k.file(
        "proxy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: proxy\n        image: proxy:2\n",
    );
    let ours = ours.to_str().unwrap();
    k.ok(&["apply", "--server-side", "--field-manager=strata", "-f", ours]);
    k.ok(&["apply", "--server-side", "--field-manager=injector", "-f", theirs.to_str().unwrap()]);
    k.ok(&["apply", "--server-side", "--field-manager=strata", "-f", ours]);
    let live = k.json(&["get", "deployment", "web", "-o", "json"]);
    let containers = &live["spec"]["template"]["spec"]["containers"];
    let names: Vec<&str> = containers.as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["web", "proxy"], "the other manager's container survives strata's apply");
    assert_eq!(containers[0]["resources"]["limits"], serde_json::json!({"cpu": "500m", "memory": "1Gi"}));

    let frozen = k.file(
        "frozen.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n  finalizers: [example.com/hold]\ndata: {k: v}\nimmutable: true\n",
    );
    k.ok(&["create", "-f", frozen.to_str().unwrap()]);
    let out = k.run(&["patch", "configmap", "frozen", "--type=merge", "-p", r#"{"data":{"k":"w"}}"#]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data: Forbidden: field is immutable when `immutable` is set"), "{err}");

    k.ok(&["delete", "configmap", "frozen", "--wait=false"]);
    let live = k.json(&["get", "configmap", "frozen", "-o", "json"]);
    assert!(live["metadata"]["deletionTimestamp"].is_string(), "{live}");
    k.ok(&["patch", "configmap", "frozen", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    let out = k.run(&["get", "configmap", "frozen"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound"), "{}", String::from_utf8_lossy(&out.stderr));
}
