//! Golden snapshots of rendered plans (human, markdown, JSON) and drift, from a scenario with
//! every action: create (with a value known only after apply), update (with a long string shown
//! as a unified diff), replace (naming the attribute that forces it), delete, and a sensitive value.

use std::sync::Arc;
use std::time::Duration;

use strata_engine::apply::{ApplyOptions, Silent, apply};
use strata_engine::config::{load_with_env, test_factory};
use strata_engine::plan::{PlanOptions, plan_salted};
use strata_engine::render::{Style, plan_human, plan_markdown};
use strata_engine::state::{LocalBackend, StateBackend};
use strata_sdk::{KindSchema, PathPattern};
use strata_testkit::TestProvider;

const BEFORE: &str = r#"
version: 1
project: apex
resources:
  - name: dashboard
    test:
      kind: widget
      zone: eu
      json: |
        {
          "title": "API golden signals",
          "panels": ["latency", "traffic", "errors", "saturation"],
          "refresh": "30s"
        }
  - name: credential
    test: { kind: secret, token: "${env.API_TOKEN}" }
  - name: legacy
    test: { kind: widget, zone: eu }
  - name: edge
    test: { kind: widget, zone: eu, size: 1 }
"#;

const AFTER: &str = r#"
version: 1
project: apex
resources:
  - name: dashboard
    test:
      kind: widget
      zone: eu
      json: |
        {
          "title": "API golden signals",
          "panels": ["latency", "traffic", "errors", "saturation", "slo-burn"],
          "refresh": "1m"
        }
  - name: credential
    test: { kind: secret, token: "${env.API_TOKEN}" }
  - name: edge
    test: { kind: widget, zone: us, size: 1 }
  - name: edge-config
    test: { kind: widget, endpoint: "https://${resources.edge.endpoint}/", size: 2 }
"#;

fn provider() -> Arc<TestProvider> {
    Arc::new(
        TestProvider::new()
            .with_schema("widget", KindSchema { force_new: vec![PathPattern::new("/zone")], ..Default::default() })
            .with_schema("secret", KindSchema { sensitive: vec![PathPattern::new("/token")], ..Default::default() }),
    )
}

#[tokio::test]
async fn rendered_plans_match_golden_files() {
    let p = provider();
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn StateBackend> = Arc::new(LocalBackend::new(dir.path().join("state.json")));
    let getenv = |k: &str| (k == "API_TOKEN").then(|| "tok-old-secret".to_string());
    let config = load_with_env("strata.yaml", BEFORE, None, &test_factory(p.clone()), &getenv).unwrap();
    let state = backend.read().await.unwrap().unwrap_or_default();
    let first = plan_salted(&config, &state, &PlanOptions::default(), "golden").await.unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(0);
    let opts = ApplyOptions { checkpoint_interval: Duration::from_millis(10), ..Default::default() };
    let report = apply(&config, &first, state, backend.clone(), &opts, &Silent, rx).await.unwrap();
    assert_eq!(report.failed(), 0);

    let getenv = |k: &str| (k == "API_TOKEN").then(|| "tok-new-secret".to_string());
    let config = load_with_env("strata.yaml", AFTER, None, &test_factory(p.clone()), &getenv).unwrap();
    let mut state = backend.read().await.unwrap().unwrap();
    // Fixed lineage so the JSON snapshot is stable.
    state.lineage = "00000000-0000-4000-8000-000000000000".into();
    let second =
        plan_salted(&config, &state, &PlanOptions { refresh: true, ..Default::default() }, "golden").await.unwrap();

    let human = plan_human(&second, Style { color: false });
    let markdown = plan_markdown(&second);
    let mut json = serde_json::to_value(&second).unwrap();
    json["strata_version"] = "<version>".into();
    let json = serde_json::to_string_pretty(&json).unwrap();
    for out in [&human, &markdown, &json] {
        assert!(!out.contains("tok-old-secret") && !out.contains("tok-new-secret"), "secret leaked:\n{out}");
    }
    insta::assert_snapshot!("plan_human", human);
    insta::assert_snapshot!("plan_markdown", markdown);
    insta::assert_snapshot!("plan_json", json);
}
