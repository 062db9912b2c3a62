//! `examples/ci/github-actions.yml` validates against SchemaStore's GitHub workflow schema
//! (vendored in tests/fixtures/schemastore, see SOURCE.md there), and wires strata as the
//! example promises: a markdown plan comment and the saved plan as an artifact on pull
//! requests, `apply` of exactly that saved plan on main, and a drift job that fails on exit 2.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn python() -> PathBuf {
    std::env::var_os("STRATA_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// Validates the workflow file with Python `jsonschema` (draft 7, as the schema declares);
/// returns the errors, one a line.
fn schema_errors(workflow: &Path) -> String {
    const SCRIPT: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
doc = yaml.safe_load(open(sys.argv[2]))
# PyYAML (YAML 1.1) reads the key `on` as True; GitHub reads it as "on".
if isinstance(doc, dict) and True in doc:
    doc["on"] = doc.pop(True)
v = jsonschema.Draft7Validator(schema)
for e in sorted(v.iter_errors(doc), key=lambda e: list(e.path)):
    print("/".join(map(str, e.path)), e.message[:300])
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(root().join("tests/fixtures/schemastore/github-workflow.json"))
        .arg(workflow)
        .output()
        .unwrap_or_else(|e| panic!("running {} (set STRATA_PYTHON): {e}", python().display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_github_actions_example_is_a_valid_workflow_that_applies_the_reviewed_plan() {
    let path = root().join("examples/ci/github-actions.yml");
    let errors = schema_errors(&path);
    assert!(errors.is_empty(), "{errors}");

    // The validator itself rejects a broken workflow (a job without runs-on, a bad key).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "name: x\non: push\njobs:\n  a:\n    steps: [{ run: echo }]\n    runs_on: ubuntu-24.04\n")
        .unwrap();
    assert!(!schema_errors(&bad).is_empty(), "the schema check must catch a broken workflow");

    let text = std::fs::read_to_string(&path).unwrap();
    let (node, _) = strata_engine::spec::yaml::parse(&text).unwrap();
    let wf: Value = node.to_value();
    let runs = |job: &str| -> String {
        wf["jobs"][job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str().or_else(|| s["with"]["script"].as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let uses = |job: &str| -> Vec<Value> {
        wf["jobs"][job]["steps"].as_array().unwrap().iter().filter(|s| s.get("uses").is_some()).cloned().collect()
    };
    // Pull requests: the saved plan, its markdown as a comment, the file as an artifact.
    assert!(wf["jobs"]["plan"]["if"].as_str().unwrap().contains("pull_request"));
    let plan = runs("plan");
    assert!(plan.contains("strata plan --out plan.json"), "{plan}");
    assert!(plan.contains("strata show plan.json --format markdown"), "{plan}");
    assert!(plan.contains("createComment"), "{plan}");
    let upload =
        uses("plan").into_iter().find(|s| s["uses"].as_str().unwrap().starts_with("actions/upload-artifact")).unwrap();
    assert_eq!(
        (upload["with"]["name"].as_str(), upload["with"]["path"].as_str()),
        (Some("strata-plan"), Some("plan.json"))
    );
    // main: exactly that artifact, applied as a saved plan.
    assert!(wf["jobs"]["apply"]["if"].as_str().unwrap().contains("refs/heads/main"));
    let download = uses("apply")
        .into_iter()
        .find(|s| s["uses"].as_str().unwrap().starts_with("actions/download-artifact"))
        .unwrap();
    assert_eq!(download["with"]["name"], "strata-plan");
    assert!(download["with"]["run-id"].as_str().unwrap().contains("steps.run.outputs.id"));
    let apply = runs("apply");
    assert!(apply.contains("strata apply plan.json"), "{apply}");
    assert!(!apply.contains("strata plan"), "apply never re-plans on its own: {apply}");
    // Schedule: drift, whose exit 2 fails the job (the pipeline keeps strata's status).
    assert!(wf["on"]["schedule"].is_array());
    let drift = runs("drift");
    assert!(drift.contains("strata drift --shard") && drift.contains("exit \"${PIPESTATUS[0]}\""), "{drift}");
}
