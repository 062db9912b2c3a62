//! Issue 3, end to end: the built `strata` binary applies raw Kubernetes resources to a local
//! API server (kube-test-server), and the real `kubectl` plays the other people and tools that
//! touch the same cluster: out-of-band edits (drift), objects strata does not own (import), and
//! another server-side applier (conflicts).

use crate::kube;

use kube::{Cluster, Project, actions, attributes, block, change};
use serde_json::json;

const SPEC: &str = r#"version: 1
project: shop

providers:
  kubernetes:
    server: {{server}}

resources:
  - name: ns
    kubernetes:
      apiVersion: v1
      kind: Namespace
      metadata: { name: shop }

  - name: settings
    kubernetes:
      apiVersion: v1
      kind: ConfigMap
      metadata: { name: settings, namespace: shop }
      data:
        mode: fast
        namespace_uid: "${resources.ns.uid}"

  - name: web
    kubernetes:
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: web, namespace: shop, labels: { app: web } }
      spec:
        replicas: 2
        selector: { matchLabels: { app: web } }
        template:
          metadata: { labels: { app: web } }
          spec:
            containers:
              - name: web
                image: nginx:1.27
                ports: [{ containerPort: 80 }]

  - name: web-service
    kubernetes:
      apiVersion: v1
      kind: Service
      metadata: { name: web, namespace: shop }
      spec:
        selector: { app: web }
        ports: [{ name: http, port: 80, targetPort: 80 }]

  - name: extra
    kubernetes:
      apiVersion: v1
      kind: ConfigMap
      metadata: { name: extra, namespace: shop }
      data: { temporary: "yes" }
"#;

/// The `extra` resource entry, removed from the spec in the test.
const EXTRA: &str = r#"
  - name: extra
    kubernetes:
      apiVersion: v1
      kind: ConfigMap
      metadata: { name: extra, namespace: shop }
      data: { temporary: "yes" }
"#;

const ALL: [&str; 5] =
    ["resources.extra", "resources.ns", "resources.settings", "resources.web", "resources.web-service"];

#[test]
fn apply_replan_drift_revert_and_delete_what_the_spec_drops() {
    let k = Cluster::start();
    let p = Project::new(&k, SPEC);

    // First plan: five creates, exit 2.
    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert!(plan.stdout.contains("Plan: 5 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    assert!(plan.stdout.contains("+ data.namespace_uid = (known after apply)"), "{}", plan.stdout);

    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(
        applied.stdout.contains("Apply complete! Resources: 5 added, 0 changed, 0 replaced, 0 destroyed."),
        "{}",
        applied.stdout
    );
    assert_eq!(p.state_addresses(None), ALL);

    // On the server, with strata's marks, applied server-side by the `strata` field manager.
    let ns = k.must_get("namespace", "shop", None);
    let uid = ns["metadata"]["uid"].as_str().unwrap().to_string();
    let settings = k.must_get("configmap", "settings", Some("shop"));
    assert_eq!(settings["data"], json!({"mode": "fast", "namespace_uid": uid}));
    assert_eq!(
        settings["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "strata", "strata.dev/project": "shop", "strata.dev/env": "default"})
    );
    assert_eq!(settings["metadata"]["annotations"]["strata.dev/address"], "resources.settings");
    assert_eq!(Cluster::owners(&settings, &["f:data", "f:mode"]), ["strata/Apply"]);
    let web = k.must_get("deployment", "web", Some("shop"));
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(web["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    let svc = k.must_get("service", "web", Some("shop"));
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert!(svc["spec"]["clusterIP"].is_string(), "server default: {svc}");

    // Re-plan: nothing to do (server defaults such as clusterIP are not changes), exit 0.
    let again = p.strata(&["plan", "--detailed-exitcode"]).ok();
    assert!(again.stdout.contains("No changes. The infrastructure matches the spec."), "{}", again.stdout);
    let json = p.strata(&["plan", "--json"]).ok().json();
    assert_eq!(json["summary"], json!({"create": 0, "update": 0, "replace": 0, "delete": 0, "no_op": 5}));
    let drift = p.strata(&["drift"]).ok();
    assert!(drift.stdout.contains("No drift: all 5 resources match the last apply."), "{}", drift.stdout);

    // Out-of-band changes with the real kubectl: an imperative scale and a patch.
    k.kubectl_ok(&["scale", "deployment/web", "-n", "shop", "--replicas=5"]);
    k.kubectl_ok(&["patch", "configmap", "settings", "-n", "shop", "-p", r#"{"data":{"mode":"slow"}}"#]);
    let drift = p.strata(&["drift"]).code(2);
    assert!(drift.stdout.contains("Drift detected in 2 of 5 resources:"), "{}", drift.stdout);
    let drift_lines: Vec<&str> = drift.stdout.lines().filter(|l| l.trim_start().starts_with('~')).collect();
    assert_eq!(
        drift_lines,
        [
            "  ~ resources.settings (v1/ConfigMap) changed by someone else",
            "      ~ data.mode = \"fast\" -> \"slow\"",
            "  ~ resources.web (apps/v1/Deployment) changed by someone else",
            "      ~ spec.replicas = 2 -> 5",
        ],
        "{}",
        drift.stdout
    );
    let drift = p.strata(&["drift", "--json"]).code(2).json();
    let drifted: Vec<_> = drift["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["address"].as_str().unwrap(), d["status"].as_str().unwrap(), attributes(d)))
        .collect();
    assert_eq!(
        drifted,
        [
            ("resources.settings", "changed", vec![("data.mode".to_string(), json!("fast"), json!("slow"))]),
            ("resources.web", "changed", vec![("spec.replicas".to_string(), json!(2), json!(5))]),
        ]
    );

    // The plan reverts exactly those two attributes...
    let plan = p.strata(&["plan", "--json"]).ok().json();
    assert_eq!(
        actions(&plan),
        [("resources.settings".to_string(), "update".to_string()), ("resources.web".to_string(), "update".to_string())]
    );
    assert_eq!(
        attributes(change(&plan, "resources.settings")),
        [("data.mode".to_string(), json!("slow"), json!("fast"))]
    );
    assert_eq!(attributes(change(&plan, "resources.web")), [("spec.replicas".to_string(), json!(5), json!(2))]);
    // ...and apply restores them, taking the fields back from kubectl's managers.
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 0 added, 2 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    let settings = k.must_get("configmap", "settings", Some("shop"));
    assert_eq!(settings["data"]["mode"], "fast");
    assert_eq!(Cluster::owners(&settings, &["f:data", "f:mode"]), ["strata/Apply"]);
    let web = k.must_get("deployment", "web", Some("shop"));
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(Cluster::owners(&web, &["f:spec", "f:replicas"]), ["strata/Apply"]);
    p.strata(&["drift"]).ok();
    p.strata(&["plan", "--detailed-exitcode"]).ok();

    // Deleted with kubectl: drift says so, apply creates it again.
    k.kubectl_ok(&["delete", "configmap", "settings", "-n", "shop"]);
    let drift = p.strata(&["drift"]).code(2);
    assert!(
        drift.stdout.contains("- resources.settings (v1/ConfigMap) was deleted outside strata"),
        "{}",
        drift.stdout
    );
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("(it no longer exists remotely (deleted outside strata))"), "{}", applied.stdout);
    assert!(applied.stdout.contains("Resources: 1 added, 0 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    assert_eq!(k.must_get("configmap", "settings", Some("shop"))["data"]["namespace_uid"], uid.as_str());

    // A resource removed from the spec is deleted from the server.
    p.edit(EXTRA, "");
    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert!(
        plan.stdout.contains("# resources.extra will be destroyed (it is no longer in the spec)"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("Plan: 0 to add, 0 to change, 0 to replace, 1 to destroy."), "{}", plan.stdout);
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 0 added, 0 changed, 0 replaced, 1 destroyed."), "{}", applied.stdout);
    assert_eq!(k.object("configmap", "extra", Some("shop")), None, "removed from the server");
    assert_eq!(p.state_addresses(None), &ALL[1..]);
    p.strata(&["plan", "--detailed-exitcode"]).ok();

    // Destroy: everything gone, the namespace last.
    let destroyed = p.strata(&["destroy", "--auto-approve"]).ok();
    assert!(destroyed.stdout.contains("Destroy complete! Resources: 4 destroyed."), "{}", destroyed.stdout);
    assert_eq!(k.object("namespace", "shop", None), None);
    assert_eq!(k.names("deployments,services,configmaps"), Vec::<String>::new());
    assert_eq!(p.state_addresses(None), Vec::<String>::new());
}

const LEGACY: &str = r#"version: 1
project: shop

providers:
  kubernetes:
    server: {{server}}

resources:
  - name: legacy-ns
    kubernetes:
      apiVersion: v1
      kind: Namespace
      metadata: { name: legacy }

  - name: legacy-config
    kubernetes:
      apiVersion: v1
      kind: ConfigMap
      metadata: { name: legacy-config, namespace: legacy }
      data: { mode: new }
"#;

#[test]
fn objects_without_strata_marks_are_refused_until_imported() {
    let k = Cluster::start();
    // Someone created these by hand before strata existed.
    k.kubectl_ok(&["create", "namespace", "legacy"]);
    k.kubectl_ok(&["create", "configmap", "legacy-config", "-n", "legacy", "--from-literal=mode=old"]);
    let p = Project::new(&k, LEGACY);

    // The plan says strata will not take them over silently.
    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    let refused: Vec<&str> = plan.stdout.lines().filter(|l| l.contains("! refused:")).collect();
    assert_eq!(
        refused,
        [
            "  ! refused: Namespace legacy exists but is not managed by strata (no app.kubernetes.io/managed-by label); strata will not adopt it silently: run `strata import <address>` to manage it",
            "  ! refused: ConfigMap legacy/legacy-config exists but is not managed by strata (no app.kubernetes.io/managed-by label); strata will not adopt it silently: run `strata import <address>` to manage it",
        ],
        "{}",
        plan.stdout
    );
    let json = p.strata(&["plan", "--json"]).ok().json();
    assert!(change(&json, "resources.legacy-config")["foreign"].as_str().unwrap().contains("not managed by strata"));

    // Apply refuses them and leaves them alone.
    let applied = p.strata(&["apply", "--auto-approve"]).code(1);
    assert!(
        applied
            .stdout
            .contains("Error: resources.legacy-ns: not created: Namespace legacy exists but is not managed by strata"),
        "{}",
        applied.both()
    );
    assert!(
        applied.stdout.contains("Skipped: resources.legacy-config: not attempted because resources.legacy-ns failed"),
        "{}",
        applied.both()
    );
    let cm = k.must_get("configmap", "legacy-config", Some("legacy"));
    assert_eq!(cm["data"], json!({"mode": "old"}));
    assert!(cm["metadata"].get("labels").is_none(), "no marks added: {cm}");
    assert_eq!(p.state_addresses(None), Vec::<String>::new());

    // `strata import` adopts them: marks added, nothing else changed, recorded in state.
    let out = p.strata(&["import", "resources.legacy-ns"]).ok();
    assert!(out.stdout.contains("Imported resources.legacy-ns"), "{}", out.stdout);
    p.strata(&["import", "resources.legacy-config"]).ok();
    let cm = k.must_get("configmap", "legacy-config", Some("legacy"));
    assert_eq!(cm["data"], json!({"mode": "old"}), "import changes no data");
    assert_eq!(cm["metadata"]["labels"]["app.kubernetes.io/managed-by"], "strata");
    assert_eq!(cm["metadata"]["annotations"]["strata.dev/address"], "resources.legacy-config");
    assert_eq!(k.must_get("namespace", "legacy", None)["metadata"]["labels"]["strata.dev/project"], "shop");
    assert_eq!(p.state_addresses(None), ["resources.legacy-config", "resources.legacy-ns"]);
    let again = p.strata(&["import", "resources.legacy-config"]).code(1);
    assert!(again.stderr.contains("`resources.legacy-config` is already managed"), "{}", again.stderr);
    let typo = p.strata(&["import", "resources.legacy-confg"]).code(1);
    assert!(typo.stderr.contains("did you mean `resources.legacy-config`?"), "{}", typo.stderr);

    // Nothing drifted by importing; the plan now shows only what the spec changes.
    p.strata(&["drift"]).ok();
    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert_eq!(
        block(&plan.stdout, "# resources.legacy-config will be updated in-place", "}"),
        [
            "  # resources.legacy-config will be updated in-place",
            "  ~ v1/ConfigMap \"resources.legacy-config\" {",
            "      ~ data.mode = \"old\" -> \"new\"",
            "    }",
        ],
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    p.strata(&["apply", "--auto-approve"]).ok();
    let cm = k.must_get("configmap", "legacy-config", Some("legacy"));
    assert_eq!(cm["data"], json!({"mode": "new"}));
    assert_eq!(Cluster::owners(&cm, &["f:data", "f:mode"]), ["strata/Apply"]);
    p.strata(&["plan", "--detailed-exitcode"]).ok();
}

const SHARED: &str = r#"version: 1
project: shop

providers:
  kubernetes:
    server: {{server}}

resources:
  - name: settings
    kubernetes:
      apiVersion: v1
      kind: ConfigMap
      metadata: { name: settings, namespace: default }
      data: { mode: fast, owner: shop }
"#;

/// Another declarative tool's manifest for the same ConfigMap.
const TEAM_B: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  mode: slow\n";

#[test]
fn a_conflict_with_another_applier_names_it_unless_forced() {
    let k = Cluster::start();
    let p = Project::new(&k, SHARED);
    p.strata(&["apply", "--auto-approve"]).ok();

    // team-b's tool applies the same field server-side, taking it over with --force-conflicts.
    let manifest = k.file("team-b.yaml", TEAM_B);
    let path = manifest.to_str().unwrap();
    let denied = k.kubectl(&["apply", "--server-side", "--field-manager=team-b", "-f", path]).code(1);
    assert!(
        denied.stderr.contains(r#"Apply failed with 1 conflict: conflict with "strata": .data.mode"#),
        "{}",
        denied.stderr
    );
    k.kubectl_ok(&["apply", "--server-side", "--field-manager=team-b", "--force-conflicts", "-f", path]);
    let cm = k.must_get("configmap", "settings", Some("default"));
    assert_eq!(Cluster::owners(&cm, &["f:data", "f:mode"]), ["team-b/Apply"]);
    let drift = p.strata(&["drift"]).code(2);
    assert!(drift.stdout.contains("~ data.mode = \"fast\" -> \"slow\""), "{}", drift.stdout);

    // strata's apply reports the conflict, naming the other manager, and changes nothing.
    let applied = p.strata(&["apply", "--auto-approve"]).code(1);
    let message = r#"resources.settings: Apply failed with 1 conflict: conflict with "team-b": .data.mode; another field manager applies these fields; re-run with `--force-conflicts` (or set `providers.kubernetes.force_conflicts: true` in the spec) to take them over"#;
    assert!(applied.stdout.contains(&format!("Error: {message} (after 1 attempt)")), "{}", applied.both());
    assert_eq!(k.must_get("configmap", "settings", Some("default"))["data"]["mode"], "slow");

    // Taking the fields over for one run: `--force-conflicts` (the spec setting
    // `providers.kubernetes.force_conflicts: true` does the same for every run).
    let applied = p.strata(&["apply", "--auto-approve", "--force-conflicts"]).ok();
    assert!(applied.stdout.contains("Resources: 0 added, 1 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    let cm = k.must_get("configmap", "settings", Some("default"));
    assert_eq!(cm["data"], json!({"mode": "fast", "owner": "shop"}));
    assert_eq!(Cluster::owners(&cm, &["f:data", "f:mode"]), ["strata/Apply"]);
    p.strata(&["drift"]).ok();
    p.strata(&["plan", "--detailed-exitcode"]).ok();
}

/// Issue 11: an object strata applied whose ownership marks someone changed afterwards (taken
/// over by another project) is neither overwritten nor deleted: the plan refuses it, apply and
/// destroy leave it as it is.
#[test]
fn relabelled_objects_are_refused_by_plan_apply_and_destroy() {
    let k = Cluster::start();
    let p = Project::new(&k, LEGACY);
    p.strata(&["apply", "--auto-approve"]).ok();
    k.kubectl_ok(&["label", "configmap", "legacy-config", "-n", "legacy", "strata.dev/project=billing", "--overwrite"]);
    p.edit("mode: new", "mode: newer");

    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    let refused: Vec<&str> = plan.stdout.lines().filter(|l| l.contains("! refused:")).collect();
    assert_eq!(refused.len(), 1, "{}", plan.stdout);
    assert!(refused[0].contains("no longer say it is strata's"), "{}", plan.stdout);

    let applied = p.strata(&["apply", "--auto-approve"]).code(1);
    assert!(applied.stdout.contains("Error: resources.legacy-config: refused:"), "{}", applied.both());
    assert_eq!(k.must_get("configmap", "legacy-config", Some("legacy"))["data"], json!({"mode": "new"}));

    let destroyed = p.strata(&["destroy", "--auto-approve"]).code(1);
    assert!(destroyed.stdout.contains("refused:"), "{}", destroyed.both());
    let cm = k.must_get("configmap", "legacy-config", Some("legacy"));
    assert_eq!(cm["metadata"]["labels"]["strata.dev/project"], "billing", "left as the other project made it");
}
