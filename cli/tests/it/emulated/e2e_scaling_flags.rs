//! Issue 6, end to end: examples/scaling-flags (HPA, PDB, VPA, quotas, limit ranges and the
//! flagd ConfigMaps) applied by the built `strata` binary to a local API server; a rollout step
//! shows as a one-attribute diff of the flag document; what the autoscaling controllers write
//! (the workload's replica count, status of the HPA, VPA, PDB and quota; docs/scaling.md) is
//! never drift, while a hand edit of the HPA's spec is.

use crate::kube;

use kube::{Cluster, Project, actions, api_spec, attributes, block, change};
use serde_json::{Value, json};

const ADDRESSES: [&str; 14] = [
    "flags.apex",
    "flags.search",
    "scaling.api.hpa",
    "scaling.api.pdb",
    "scaling.api.vpa",
    "scaling.limits.apex",
    "scaling.limits.search",
    "scaling.quota.apex",
    "scaling.quota.search",
    "scaling.search.hpa",
    "scaling.search.pdb",
    "scaling.worker.hpa",
    "scaling.worker.pdb",
    "scaling.worker.vpa",
];

/// The `api` workload, owned by the application team (no `replicas`: the HPA owns it).
const API_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: apex
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: ghcr.io/apex/api:1.4.2
";

/// The flagd document of a flags ConfigMap on the server.
fn flagd(k: &Cluster, namespace: &str) -> Value {
    let cm = k.must_get("configmap", "apex-flags", Some(namespace));
    serde_json::from_str(cm["data"]["flags.json"].as_str().expect("flags.json is a string")).expect("flags.json")
}

#[test]
fn scaling_and_flags_apply_rollout_step_and_controller_writes_are_not_drift() {
    let k = Cluster::start();
    k.apply_crds(&[api_spec("vpa/vpa-v1-crd-gen.yaml")]);
    // strata does not create namespaces (docs/scaling.md); the application team deploys api.
    k.create_namespace("apex", &[]);
    k.create_namespace("search", &[]);
    let deployment = k.file("api.yaml", API_DEPLOYMENT);
    k.kubectl_ok(&["apply", "--server-side", "--field-manager=app-team", "-f", deployment.to_str().unwrap()]);
    let p = Project::example(&k, "scaling-flags");

    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert!(plan.stdout.contains("Plan: 14 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 14 added, 0 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    assert_eq!(p.state_addresses(None), ADDRESSES);

    // On the server.
    let hpa = k.must_get("hpa", "api", Some("apex"));
    assert_eq!((hpa["spec"]["minReplicas"].clone(), hpa["spec"]["maxReplicas"].clone()), (json!(2), json!(20)));
    assert_eq!(hpa["spec"]["scaleTargetRef"], json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}));
    assert_eq!(hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 300);
    assert_eq!(k.must_get("pdb", "worker", Some("apex"))["spec"]["maxUnavailable"], "25%");
    let vpa = k.must_get("verticalpodautoscaler.autoscaling.k8s.io", "api", Some("apex"));
    assert_eq!(vpa["spec"]["updatePolicy"]["updateMode"], "Off");
    assert_eq!(k.must_get("resourcequota", "apex-quota", Some("apex"))["spec"]["hard"]["pods"], "200");
    let flags = flagd(&k, "apex");
    assert_eq!(flags["flags"]["new-checkout"]["targeting"], json!({"fractional": [["on", 10], ["off", 90]]}));
    assert_eq!(flagd(&k, "search")["flags"]["search-v2"]["state"], "DISABLED");

    let again = p.strata(&["plan", "--detailed-exitcode"]).ok();
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    p.strata(&["drift"]).ok();

    // Raise the rollout 10% -> 25%: one attribute of one ConfigMap, whose text diff moves only
    // the two shares.
    p.edit("rollout: { true: 10% }", "rollout: { true: 25% }");
    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert_eq!(
        block(&plan.stdout, "# flags.apex will be updated in-place", "}"),
        [
            "  # flags.apex will be updated in-place",
            "  ~ v1/ConfigMap \"flags.apex\" {",
            "      ~ data.flags.json = <<-DIFF",
            "                      [",
            "                        \"on\",",
            "          -             10",
            "          +             25",
            "                      ],",
            "                      [",
            "                        \"off\",",
            "          -             90",
            "          +             75",
            "                      ]",
            "                    ]",
            "        DIFF",
            "    }",
        ],
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    let json = p.strata(&["plan", "--json"]).ok().json();
    assert_eq!(actions(&json), [("flags.apex".to_string(), "update".to_string())]);
    let attrs = attributes(change(&json, "flags.apex"));
    assert_eq!(attrs.len(), 1, "{attrs:?}");
    assert_eq!(attrs[0].0, "data.flags.json");
    let doc = |v: &Value| -> Value { serde_json::from_str(v.as_str().unwrap()).unwrap() };
    let (before, after) = (doc(&attrs[0].1), doc(&attrs[0].2));
    let mut expected = before.clone();
    expected["flags"]["new-checkout"]["targeting"] = json!({"fractional": [["on", 25], ["off", 75]]});
    assert_eq!(after, expected, "only the new-checkout rollout changes");
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 0 added, 1 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    assert_eq!(flagd(&k, "apex"), expected);
    p.strata(&["plan", "--detailed-exitcode"]).ok();

    // The autoscaling controllers at work, played by kubectl: the HPA scales the Deployment
    // (the scale subresource) and records its status; the VPA recommender, the disruption and
    // quota controllers write status. None of it is drift.
    k.kubectl_ok(&["scale", "deployment/api", "-n", "apex", "--replicas=7"]);
    let status = |kind: &str, name: &str, ns: &str, body: Value| {
        let patch = body.to_string();
        k.kubectl_ok(&["patch", kind, name, "-n", ns, "--subresource=status", "--type=merge", "-p", &patch]);
    };
    status(
        "hpa",
        "api",
        "apex",
        json!({"status": {"currentReplicas": 7, "desiredReplicas": 9, "lastScaleTime": "2026-01-05T10:00:00Z",
            "conditions": [{"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
                "lastTransitionTime": "2026-01-05T10:00:00Z"}]}}),
    );
    status(
        "verticalpodautoscaler.autoscaling.k8s.io",
        "worker",
        "apex",
        json!({"status": {"recommendation": {"containerRecommendations": [
            {"containerName": "worker", "target": {"memory": "612Mi"}}]}}}),
    );
    status(
        "pdb",
        "api",
        "apex",
        json!({"status": {"currentHealthy": 7, "desiredHealthy": 1, "disruptionsAllowed": 6, "expectedPods": 7}}),
    );
    status("resourcequota", "apex-quota", "apex", json!({"status": {"used": {"pods": "7", "cpu": "1400m"}}}));
    assert_eq!(k.must_get("deployment", "api", Some("apex"))["spec"]["replicas"], 7);
    assert_eq!(k.must_get("hpa", "api", Some("apex"))["status"]["desiredReplicas"], 9);
    let drift = p.strata(&["drift"]).ok();
    assert!(drift.stdout.contains("No drift: all 14 resources match the last apply."), "{}", drift.stdout);
    assert_eq!(p.strata(&["drift", "--json"]).ok().json()["drifted"], json!([]));
    p.strata(&["plan", "--detailed-exitcode"]).ok();

    // A hand edit of what strata manages (the HPA's spec) is drift, and apply restores it.
    k.kubectl_ok(&["patch", "hpa", "api", "-n", "apex", "--type=merge", "-p", r#"{"spec":{"maxReplicas":50}}"#]);
    let drift = p.strata(&["drift"]).code(2);
    assert!(drift.stdout.contains("Drift detected in 1 of 14 resources:"), "{}", drift.stdout);
    assert!(drift.stdout.contains("~ spec.maxReplicas = 20 -> 50"), "{}", drift.stdout);
    p.strata(&["apply", "--auto-approve"]).ok();
    let hpa = k.must_get("hpa", "api", Some("apex"));
    assert_eq!(hpa["spec"]["maxReplicas"], 20);
    assert_eq!(hpa["status"]["desiredReplicas"], 9, "the controller's status is left alone");
    assert_eq!(k.must_get("deployment", "api", Some("apex"))["spec"]["replicas"], 7, "the HPA keeps the replicas");
    p.strata(&["drift"]).ok();
}
