//! `examples/drift-cronjob/`: the manifests validate against the official Kubernetes schemas
//! (kubernetes-validate, strict) and apply to kube-test-server with the real kubectl; the
//! CronJob's Indexed Job gives each pod `--shard $(JOB_COMPLETION_INDEX)/N` with N the number
//! of completions, so the shards cover every resource once.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn example_dir() -> PathBuf {
    crate::kube::workspace_root().join("examples/drift-cronjob")
}

fn files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(example_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn drift_cronjob_manifests_validate_and_apply() {
    let root = crate::kube::workspace_root();
    let python = std::env::var_os("STRATA_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    let out = Command::new(&python)
        .arg(root.join("tests/validate/validate_manifests.py"))
        .args(files())
        .env("STRATA_API_SPECS", crate::kube::api_specs())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e} (set STRATA_PYTHON)", python.display()));
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}");
    for kind in ["CronJob", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Namespace"] {
        assert!(report.contains(kind), "{kind} was validated:\n{report}");
    }

    // The CronJob's shards: --shard $(JOB_COMPLETION_INDEX)/N with N = completions = parallelism.
    let text = std::fs::read_to_string(example_dir().join("cronjob.yaml")).unwrap();
    let (node, _) = strata_engine::spec::yaml::parse(&text).unwrap();
    let cron = node.to_value();
    let job = &cron["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    let n = job["completions"].as_u64().unwrap();
    assert_eq!(job["parallelism"].as_u64(), Some(n));
    let args = &job["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args.as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(args.contains(&format!("--shard=$(JOB_COMPLETION_INDEX)/{n}").as_str()), "{args:?}");
    assert_eq!(args[0], "drift");

    // Apply to kube-test-server with kubectl (namespaces first), and read the CronJob back.
    let cluster = strata_testkit::kube::Cluster::with_kubectl();
    let kubectl = |args: &[&str]| {
        let o = cluster.kubectl_command().args(args).output().unwrap();
        assert!(
            o.status.success(),
            "kubectl {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    kubectl(&["create", "namespace", "shop"]);
    kubectl(&["apply", "-f", example_dir().join("namespace.yaml").to_str().unwrap()]);
    for f in files().iter().filter(|f| !f.ends_with("namespace.yaml")) {
        kubectl(&["apply", "--server-side", "--field-manager=e2e", "-f", f.to_str().unwrap()]);
    }
    let got: Value =
        serde_json::from_str(&kubectl(&["get", "cronjob", "strata-drift", "-n", "strata-drift", "-o", "json"]))
            .unwrap();
    assert_eq!(got["spec"]["jobTemplate"]["spec"]["completionMode"], "Indexed");
    assert_eq!(got["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"], "strata-drift");
    let binding: Value =
        serde_json::from_str(&kubectl(&["get", "rolebinding", "strata-drift-reader", "-n", "shop", "-o", "json"]))
            .unwrap();
    assert_eq!(binding["subjects"][0]["namespace"], "strata-drift");
}
