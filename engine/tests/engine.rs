//! Engine tests: the real loader, planner and apply walker driven through the test provider.

use std::sync::Arc;
use std::time::Duration;

use strata_engine::apply::{ApplyOptions, Outcome, Silent, apply, check_plan_is_current};
use strata_engine::config::{Config, load_with_env, test_factory};
use strata_engine::plan::{Action, PlanOptions, plan};
use strata_engine::retry::RetryPolicy;
use strata_engine::state::{LocalBackend, State, StateStorage};
use strata_sdk::ErrorClass;
use strata_testkit::{FailSpec, TestProvider};
use tokio::sync::watch;

fn fast_retry() -> RetryPolicy {
    RetryPolicy { max_attempts: 4, base: Duration::from_millis(2), max_delay: Duration::from_millis(10) }
}

fn load(text: &str, p: &Arc<TestProvider>) -> Config {
    match load_with_env("strata.yaml", text, None, &test_factory(p.clone()), &|_| None) {
        Ok(c) => c,
        Err(d) => panic!("{}", d.render(false)),
    }
}

/// A chain a → b → c plus an independent d.
const CHAIN: &str = r#"
version: 1
project: apex
resources:
  - name: a
    test: { kind: widget, size: 1 }
  - name: b
    test: { kind: widget, upstream: "${resources.a.endpoint}" }
  - name: c
    test: { kind: widget, upstream: "${resources.b.id}" }
  - name: d
    test: { kind: widget, size: 4 }
"#;

struct Harness {
    provider: Arc<TestProvider>,
    backend: Arc<LocalBackend>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Harness {
            provider: Arc::new(TestProvider::new()),
            backend: Arc::new(LocalBackend::new(dir.path().join("state.json"))),
            _dir: dir,
        }
    }

    async fn state(&self) -> State {
        self.backend.read().await.unwrap().unwrap_or_default()
    }

    async fn run(
        &self,
        text: &str,
        opts: ApplyOptions,
    ) -> (strata_engine::plan::Plan, strata_engine::apply::ApplyReport) {
        let config = load(text, &self.provider);
        let state = self.state().await;
        let p = plan(&config, &state, &PlanOptions { refresh: true, retry: fast_retry(), ..Default::default() })
            .await
            .unwrap();
        let (_tx, rx) = watch::channel(0);
        let report = apply(&config, &p, state, self.backend.clone(), &opts, &Silent, rx).await.unwrap();
        (p, report)
    }
}

fn opts(parallelism: usize) -> ApplyOptions {
    ApplyOptions { parallelism, retry: fast_retry(), checkpoint_interval: Duration::from_millis(50), wait: true }
}

#[tokio::test]
async fn applies_in_dependency_order_and_resolves_references() {
    let h = Harness::new();
    let (p, report) = h.run(CHAIN, opts(4)).await;
    assert_eq!(p.summary.create, 4);
    assert_eq!(report.failed(), 0);
    let creates = h.provider.calls_for("create");
    let finished = |a: &str| creates.iter().find(|c| c.address == a).unwrap().finished;
    let started = |a: &str| creates.iter().find(|c| c.address == a).unwrap().started;
    assert!(started("resources.b") >= finished("resources.a"));
    assert!(started("resources.c") >= finished("resources.b"));
    // b got a's endpoint, known only after a was created.
    assert_eq!(h.provider.object("resources.b").unwrap()["upstream"], "resources-a.test.example");
    let state = h.state().await;
    assert_eq!(state.resources.len(), 4);
    assert_eq!(state.serial, 1);
    assert_eq!(state.resources[&"resources.c".parse().unwrap()].depends_on, vec!["resources.b".parse().unwrap()]);

    // Re-plan: nothing to do.
    let config = load(CHAIN, &h.provider);
    let again = plan(&config, &state, &PlanOptions { refresh: true, ..Default::default() }).await.unwrap();
    assert!(!again.summary.has_changes(), "{:#?}", again.changes);
}

#[tokio::test]
async fn plan_shows_known_after_apply_for_new_dependencies() {
    let h = Harness::new();
    let config = load(CHAIN, &h.provider);
    let p = plan(&config, &State::new(), &PlanOptions::default()).await.unwrap();
    let b = p.change(&"resources.b".parse().unwrap()).unwrap();
    assert_eq!(b.after.as_ref().unwrap()["upstream"], strata_sdk::value::UNKNOWN);
}

/// `$${` is a literal `${` wherever it is written: in a resource with no references, next to a
/// reference, and when another resource copies the value.
const ESCAPES: &str = r#"
version: 1
project: apex
resources:
  - name: lit
    test: { kind: widget, text: "cost: $${price}" }
  - name: mixed
    test: { kind: widget, text: "cost: $${price} at ${resources.lit.endpoint}", copy: "${resources.lit.text}", note: "$${x}" }
"#;

#[tokio::test]
async fn escaped_references_are_literal_text_in_plans_and_applies() {
    let h = Harness::new();
    let config = load(ESCAPES, &h.provider);
    let p = plan(&config, &State::new(), &PlanOptions::default()).await.unwrap();
    let after = |a: &str| p.change(&a.parse().unwrap()).unwrap().after.clone().unwrap();
    assert_eq!(after("resources.lit")["text"], "cost: ${price}");
    let mixed = after("resources.mixed");
    // Waiting on lit's endpoint: unknown. The copy of lit's text and the plain escape are known.
    assert_eq!(mixed["text"], strata_sdk::value::UNKNOWN);
    assert_eq!(mixed["copy"], "cost: ${price}");
    assert_eq!(mixed["note"], "${x}");

    let (_, report) = h.run(ESCAPES, opts(4)).await;
    assert_eq!(report.failed(), 0);
    assert_eq!(h.provider.object("resources.lit").unwrap()["text"], "cost: ${price}");
    let applied = h.provider.object("resources.mixed").unwrap();
    assert_eq!(applied["text"], "cost: ${price} at resources-lit.test.example");
    assert_eq!(applied["copy"], "cost: ${price}");
    assert_eq!(applied["note"], "${x}");

    // What was applied is what the spec says: the re-plan has nothing to do.
    let state = h.state().await;
    let again =
        plan(&load(ESCAPES, &h.provider), &state, &PlanOptions { refresh: true, ..Default::default() }).await.unwrap();
    assert!(!again.summary.has_changes(), "{:#?}", again.changes);
}

#[tokio::test]
async fn concurrency_is_bounded_by_parallelism() {
    let h = Harness::new();
    h.provider.set_latency(Duration::from_millis(20));
    let mut text = String::from("version: 1\nproject: apex\nresources:\n");
    for i in 0..30 {
        text.push_str(&format!("  - name: r{i}\n    test: {{ kind: widget }}\n"));
    }
    let (_, report) = h.run(&text, opts(5)).await;
    assert_eq!(report.failed(), 0);
    assert_eq!(h.provider.max_in_flight(), 5);
}

#[tokio::test]
async fn a_failure_skips_dependents_but_not_independent_branches() {
    let h = Harness::new();
    h.provider
        .fail("resources.b", FailSpec { times: u32::MAX, class: ErrorClass::Invalid, retry_after: None, op: None });
    let (_, report) = h.run(CHAIN, opts(4)).await;
    let outcome = |a: &str| report.outcomes.iter().find(|o| o.address.as_str() == a).unwrap().outcome.clone();
    assert!(matches!(outcome("resources.a"), Outcome::Done { .. }));
    assert!(matches!(outcome("resources.b"), Outcome::Failed { attempts: 1, .. }), "invalid errors are not retried");
    assert_eq!(outcome("resources.c"), Outcome::Skipped { because: "resources.b".parse().unwrap() });
    assert!(matches!(outcome("resources.d"), Outcome::Done { .. }));
    // State has exactly what happened.
    let state = h.state().await;
    let addrs: Vec<&str> = state.resources.keys().map(|a| a.as_str()).collect();
    assert_eq!(addrs, vec!["resources.a", "resources.d"]);
}

#[tokio::test]
async fn retryable_errors_are_retried_with_retry_after() {
    let h = Harness::new();
    h.provider.fail(
        "resources.a",
        FailSpec { times: 2, class: ErrorClass::Retryable, retry_after: Some(Duration::from_millis(30)), op: None },
    );
    let start = std::time::Instant::now();
    let (_, report) = h.run(CHAIN, opts(4)).await;
    assert_eq!(report.failed(), 0);
    let a = report.outcomes.iter().find(|o| o.address.as_str() == "resources.a").unwrap();
    assert!(matches!(a.outcome, Outcome::Done { attempts: 3, .. }), "{:?}", a.outcome);
    assert!(start.elapsed() >= Duration::from_millis(60), "Retry-After honoured twice");
}

#[tokio::test]
async fn checkpoints_are_coalesced() {
    let h = Harness::new();
    h.provider.set_latency(Duration::from_millis(5));
    let mut text = String::from("version: 1\nproject: apex\nresources:\n");
    for i in 0..200 {
        text.push_str(&format!("  - name: r{i}\n    test: {{ kind: widget }}\n"));
    }
    let (_, report) = h.run(&text, ApplyOptions { checkpoint_interval: Duration::from_millis(40), ..opts(10) }).await;
    assert_eq!(report.count(Action::Create), 200);
    // ~100 ms of work at one write per 40 ms: a handful of writes, not 200.
    assert!(report.state_writes >= 1 && report.state_writes <= 10, "{} writes", report.state_writes);
    assert_eq!(h.state().await.resources.len(), 200);
}

#[tokio::test]
async fn checkpoints_happen_during_the_apply() {
    let h = Harness::new();
    h.provider.set_latency(Duration::from_millis(30));
    let mut text = String::from("version: 1\nproject: apex\nresources:\n  - name: r0\n    test: { kind: widget }\n");
    for i in 1..6 {
        text.push_str(&format!(
            "  - name: r{i}\n    test: {{ kind: widget, prev: \"${{resources.r{}.id}}\" }}\n",
            i - 1
        ));
    }
    let config = load(&text, &h.provider);
    let p = plan(&config, &State::new(), &PlanOptions::default()).await.unwrap();
    let (_tx, rx) = watch::channel(0);
    let backend = h.backend.clone();
    let watcher = tokio::spawn(async move {
        // Mid-apply (3 of 6 done after ~90 ms), state already has some resources.
        tokio::time::sleep(Duration::from_millis(110)).await;
        let b = LocalBackend::new(backend.path());
        b.read().await.unwrap().map(|s| s.resources.len()).unwrap_or(0)
    });
    let report = apply(&config, &p, State::new(), h.backend.clone(), &opts(2), &Silent, rx).await.unwrap();
    let mid = watcher.await.unwrap();
    assert!((1..6).contains(&mid), "mid-apply checkpoint had {mid} resources");
    assert_eq!(report.count(Action::Create), 6);
}

#[tokio::test]
async fn interruption_finishes_in_flight_and_saves_state() {
    let h = Harness::new();
    h.provider.set_latency(Duration::from_millis(40));
    let mut text = String::from("version: 1\nproject: apex\nresources:\n");
    for i in 0..20 {
        text.push_str(&format!("  - name: r{i}\n    test: {{ kind: widget }}\n"));
    }
    let config = load(&text, &h.provider);
    let p = plan(&config, &State::new(), &PlanOptions::default()).await.unwrap();
    let (tx, rx) = watch::channel(0);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(60)).await;
        tx.send(1).unwrap(); // first Ctrl-C
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let report = apply(&config, &p, State::new(), h.backend.clone(), &opts(4), &Silent, rx).await.unwrap();
    assert!(report.interrupted);
    let done = report.count(Action::Create);
    let interrupted = report.outcomes.iter().filter(|o| o.outcome == Outcome::Interrupted).count();
    // Two waves of 4 started (0 ms, 40 ms); the second finishes after the interrupt.
    assert_eq!(done, 8, "in-flight calls finish");
    assert_eq!(interrupted, 12);
    assert_eq!(h.provider.object_count(), 8);
    assert_eq!(h.state().await.resources.len(), 8, "state records everything that happened");
}

#[tokio::test]
async fn stale_plans_are_refused() {
    let h = Harness::new();
    let config = load(CHAIN, &h.provider);
    let state = h.state().await;
    let p = plan(&config, &state, &PlanOptions::default()).await.unwrap();
    check_plan_is_current(&p, &state).unwrap();
    h.run(CHAIN, opts(2)).await; // someone else applies
    let err = check_plan_is_current(&p, &h.state().await).unwrap_err();
    assert!(err.to_string().contains("stale"), "{err}");
}

#[tokio::test]
async fn removed_resources_are_deleted_dependents_first() {
    let h = Harness::new();
    h.run(CHAIN, opts(4)).await;
    let only_d = "version: 1\nproject: apex\nresources:\n  - name: d\n    test: { kind: widget, size: 4 }\n";
    let (p, report) = h.run(only_d, opts(4)).await;
    assert_eq!(p.summary.delete, 3);
    assert_eq!(report.failed(), 0);
    let deletes: Vec<String> = h.provider.calls_for("delete").into_iter().map(|c| c.address).collect();
    assert_eq!(deletes, vec!["resources.c", "resources.b", "resources.a"]);
    assert_eq!(h.state().await.resources.len(), 1);
}

#[tokio::test]
async fn drift_is_planned_as_an_update_and_replace_names_the_attribute() {
    let h = Harness::new();
    let p = Arc::new(TestProvider::new().with_schema(
        "widget",
        strata_sdk::KindSchema { force_new: vec![strata_sdk::PathPattern::new("/zone")], ..Default::default() },
    ));
    let h = Harness { provider: p, ..h };
    let text = "version: 1\nproject: apex\nresources:\n  - name: a\n    test: { kind: widget, size: 1, zone: eu }\n";
    h.run(text, opts(2)).await;
    h.provider.tamper("resources.a", |v| v["size"] = serde_json::json!(7));
    let config = load(text, &h.provider);
    let p = plan(&config, &h.state().await, &PlanOptions { refresh: true, ..Default::default() }).await.unwrap();
    let c = &p.changes[0];
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.attributes.len(), 1);
    assert_eq!(c.attributes[0].path, "size");
    let text2 = text.replace("zone: eu", "zone: us");
    let config = load(&text2, &h.provider);
    let p = plan(&config, &h.state().await, &PlanOptions { refresh: false, ..Default::default() }).await.unwrap();
    assert_eq!(p.changes[0].action, Action::Replace);
    assert!(p.changes[0].reason.as_deref().unwrap().contains("`zone`"));
}

#[tokio::test]
async fn objects_created_by_a_crashed_run_are_recorded_not_duplicated() {
    let h = Harness::new();
    // The remote object exists (with our marks) but state never heard of it.
    h.provider.insert("resources.a", serde_json::json!({"size": 1}));
    let text = "version: 1\nproject: apex\nresources:\n  - name: a\n    test: { kind: widget, size: 1 }\n";
    let (p, report) = h.run(text, opts(2)).await;
    assert_eq!(p.changes[0].action, Action::Update);
    assert!(p.changes[0].recovered_remote_id.is_some());
    assert_eq!(report.failed(), 0);
    assert!(h.provider.calls_for("create").is_empty());
    assert_eq!(h.state().await.resources.len(), 1);
}

#[tokio::test]
async fn foreign_objects_are_never_adopted_silently() {
    let h = Harness::new();
    h.provider.insert("resources.a", serde_json::json!({"size": 1, "__foreign": true}));
    let text = "version: 1\nproject: apex\nresources:\n  - name: a\n    test: { kind: widget, size: 1 }\n";
    let (p, report) = h.run(text, opts(2)).await;
    assert!(p.changes[0].foreign.is_some());
    assert_eq!(report.failed(), 1);
    assert!(h.provider.calls_for("create").is_empty());
}

#[tokio::test]
async fn target_limits_the_plan_to_the_target_and_its_dependencies() {
    let h = Harness::new();
    let config = load(CHAIN, &h.provider);
    let p = plan(
        &config,
        &State::new(),
        &PlanOptions { targets: vec!["resources.b".parse().unwrap()], ..Default::default() },
    )
    .await
    .unwrap();
    let addrs: Vec<&str> = p.changes.iter().map(|c| c.address.as_str()).collect();
    assert_eq!(addrs, vec!["resources.a", "resources.b"]);
}

#[tokio::test]
async fn targeted_destroy_takes_dependents_not_dependencies() {
    let h = Harness::new();
    h.run(CHAIN, opts(4)).await;
    let config = load(CHAIN, &h.provider);
    let state = h.state().await;
    let destroy = |t: &str| PlanOptions { destroy: true, targets: vec![t.parse().unwrap()], ..Default::default() };
    let deleted = |p: &strata_engine::plan::Plan| -> Vec<String> {
        p.changes.iter().filter(|c| c.action == Action::Delete).map(|c| c.address.to_string()).collect()
    };
    // b is used by c: destroying b must take c first, and leave a (which b only uses) alone.
    let p = plan(&config, &state, &destroy("resources.b")).await.unwrap();
    assert_eq!(deleted(&p), vec!["resources.c", "resources.b"]);
    // A leaf goes alone.
    let p = plan(&config, &state, &destroy("resources.c")).await.unwrap();
    assert_eq!(deleted(&p), vec!["resources.c"]);
}

#[tokio::test]
async fn destroy_plans_deletes_in_reverse_order() {
    let h = Harness::new();
    h.run(CHAIN, opts(4)).await;
    let config = load(CHAIN, &h.provider);
    let p = plan(&config, &h.state().await, &PlanOptions { destroy: true, ..Default::default() }).await.unwrap();
    assert_eq!(p.summary.delete, 4);
    let pos = |a: &str| p.changes.iter().position(|c| c.address.as_str() == a).unwrap();
    assert!(pos("resources.c") < pos("resources.b") && pos("resources.b") < pos("resources.a"));
}

/// A spec at the nesting limit (docs/spec.md#limits) goes through every later step that walks
/// its values recursively: overlay merge, `${...}` substitution, decoding, references, diff,
/// masking and rendering, and state and a saved plan read back with serde_json (whose
/// recursion limit is 128). The deepest value is `yaml::MAX_DEPTH` levels down.
#[tokio::test]
async fn a_spec_at_the_nesting_limit_goes_through_every_step() {
    use strata_engine::spec::yaml::MAX_DEPTH;
    // The top-level map, `resources`, the entry and `test` are 4 levels; `x` holds the rest.
    let lists = MAX_DEPTH - 4;
    let deep = |leaf: &str| format!("{}{leaf}{}", "[".repeat(lists), "]".repeat(lists));
    // The top-level map, `providers` and `test`, then maps the overlay merges key by key.
    let maps = MAX_DEPTH - 3;
    let deep_map = |n: usize, leaf: &str| format!("{}{leaf}{}", "{a: ".repeat(n), "}".repeat(n));
    let spec = |leaf: &str| {
        format!(
            "version: 1\nproject: apex\nproviders:\n  test: {}\nresources:\n  - name: a\n    test: {{ kind: widget }}\n  - name: b\n    test: {{ kind: widget, x: {} }}\nenvironments:\n  dev:\n    providers: {{ test: {} }}\n",
            deep_map(maps, "1"),
            deep(leaf),
            // The overlay's own prefix is two levels longer.
            deep_map(maps - 2, "2"),
        )
    };
    let h = Harness::new();
    let text = spec("\"${env}-${resources.a.id}\"");
    for env in [None, Some("dev")] {
        if let Err(d) = load_with_env("strata.yaml", text.as_str(), env, &test_factory(h.provider.clone()), &|_| None) {
            panic!("{}", d.render(false));
        }
    }
    // One level more is the limit's diagnostic.
    let too_deep = text.replacen("x: [", "x: [[", 1).replacen("] }", "]] }", 1);
    let d = load_with_env("strata.yaml", too_deep.as_str(), None, &test_factory(h.provider.clone()), &|_| None)
        .err()
        .expect("one level too deep");
    assert_eq!(d.items[0].code, "spec::depth-limit", "{}", d.render(false));

    let (p, report) = h.run(&text, opts(2)).await;
    assert!(report.outcomes.iter().all(|o| matches!(o.outcome, Outcome::Done { .. })), "{:?}", report.outcomes);
    let _ = strata_engine::render::plan_human(&p, strata_engine::render::Style { color: false });
    // State and a saved plan (one level of wrapping more than the plan) read back.
    let state = h.state().await;
    let state_json = serde_json::to_string(&state).unwrap();
    serde_json::from_str::<serde_json::Value>(&state_json).expect("state reads back");
    let saved = serde_json::to_string(&serde_json::json!({ "saved": { "plan": p } })).unwrap();
    serde_json::from_str::<serde_json::Value>(&saved).expect("a saved plan reads back");
    // A change at the bottom: diffed, shown and applied.
    let (p, _) = h.run(&spec("2"), opts(2)).await;
    assert!(p.summary.has_changes());
    let _ = strata_engine::render::plan_human(&p, strata_engine::render::Style { color: false });
    let _ = strata_engine::render::plan_markdown(&p);
}

// ---- Secrets: masking of rotated, recorded, nested and escaped secret values ----

fn load_env(text: &str, p: &Arc<TestProvider>, vars: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let getenv = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match load_with_env("strata.yaml", text, None, &test_factory(p.clone()), &getenv) {
        Ok(c) => c,
        Err(d) => panic!("{}", d.render(false)),
    }
}

async fn apply_config(h: &Harness, config: &Config) {
    let state = h.state().await;
    let p =
        plan(config, &state, &PlanOptions { refresh: true, retry: fast_retry(), ..Default::default() }).await.unwrap();
    let (_tx, rx) = watch::channel(0);
    let report = apply(config, &p, state, h.backend.clone(), &opts(2), &Silent, rx).await.unwrap();
    assert_eq!(report.failed(), 0, "{:?}", report.outcomes);
}

/// Everything a user can see of a plan: human, markdown and JSON.
fn rendered(p: &strata_engine::plan::Plan) -> String {
    let style = strata_engine::render::Style { color: false };
    format!(
        "{}\n{}\n{}",
        strata_engine::render::plan_human(p, style),
        strata_engine::render::plan_markdown(p),
        serde_json::to_string_pretty(p).unwrap()
    )
}

const ROTATING: &str = r#"
version: 1
project: apex
resources:
  - name: db
    test:
      kind: widget
      password: "${secret.DB_ROOT}"
      url: "postgres://app:${secret.DB_ROOT}@db:5432/app"
      size: 1
  - name: app
    test: { kind: widget, dsn: "${resources.db.url}" }
"#;

#[tokio::test]
async fn a_rotated_secret_is_masked_before_and_after_in_plans_deletes_and_drift() {
    const OLD: &str = "old-r00t-secret";
    const NEW: &str = "new-r00t-secret";
    let h = Harness::new();
    apply_config(&h, &load_env(ROTATING, &h.provider, &[("DB_ROOT", OLD)])).await;

    // The secret rotated: the spec no longer reads the old value, state still holds it.
    let config = load_env(ROTATING, &h.provider, &[("DB_ROOT", NEW)]);
    let state = h.state().await;
    let p = plan(&config, &state, &PlanOptions { refresh: true, ..Default::default() }).await.unwrap();
    assert_eq!(p.summary.update, 2, "{:#?}", p.changes);
    let out = rendered(&p);
    assert!(!out.contains(OLD) && !out.contains(NEW) && !out.contains("r00t-secret"), "secret leaked:\n{out}");
    let db = p.change(&"resources.db".parse().unwrap()).unwrap();
    assert!(db.attributes.iter().all(|a| a.sensitive), "{:#?}", db.attributes);

    // Removing the resources prints their last applied documents: still masked.
    let gone = "version: 1\nproject: apex\n";
    let config = load_env(gone, &h.provider, &[]);
    let p = plan(&config, &state, &PlanOptions::default()).await.unwrap();
    assert_eq!(p.summary.delete, 2);
    let out = rendered(&p);
    assert!(!out.contains(OLD), "old secret printed in the delete:\n{out}");
    assert!(out.contains("size"), "non-secret attributes are still shown:\n{out}");

    // Drift reports compare with what was applied: the old value there is masked too.
    h.provider.tamper("resources.db", |v| v["password"] = serde_json::json!("changed-by-hand"));
    let config = load_env(ROTATING, &h.provider, &[("DB_ROOT", NEW)]);
    let report = strata_engine::drift::detect(&config, &state, &fast_retry()).await.unwrap();
    assert_eq!(report.drifted.len(), 1);
    let out = format!(
        "{}{}",
        serde_json::to_string(&report).unwrap(),
        strata_engine::render::drift_human(&report, strata_engine::render::Style { color: false })
    );
    assert!(!out.contains(OLD) && !out.contains("changed-by-hand"), "drift leaked:\n{out}");
}

#[tokio::test]
async fn sensitive_values_inside_a_list_stay_masked_when_the_whole_list_changes() {
    let p = Arc::new(TestProvider::new().with_schema(
        "distribution",
        strata_sdk::KindSchema {
            sensitive: vec![strata_sdk::PathPattern::new("/origins/*/custom_headers")],
            ..Default::default()
        },
    ));
    let h = Harness { provider: p, ..Harness::new() };
    let one = r#"
version: 1
project: apex
resources:
  - name: cdn
    test:
      kind: distribution
      origins:
        - { id: api, domain: api.example.com, custom_headers: { X-Origin-Verify: hdr-s3cret-one } }
"#;
    apply_config(&h, &load(one, &h.provider)).await;
    let two = one.to_string()
        + "        - { id: assets, domain: assets.example.com, custom_headers: { X-Origin-Verify: hdr-s3cret-two } }\n";
    let config = load(&two, &h.provider);
    let p = plan(&config, &h.state().await, &PlanOptions { refresh: true, ..Default::default() }).await.unwrap();
    assert_eq!(p.summary.update, 1, "{:#?}", p.changes);
    let out = rendered(&p);
    assert!(!out.contains("hdr-s3cret"), "custom headers printed:\n{out}");
    assert!(out.contains("assets.example.com"), "what is not sensitive is still shown:\n{out}");
}

#[tokio::test]
async fn diagnostics_never_hold_a_secret_even_escaped() {
    // A value with a quote and a backslash: serde's message quotes it escaped.
    const SECRET: &str = r#"pa"ss\w0rd"#;
    let h = Harness::new();
    let text = "version: 1\nproject: apex\nservices:\n  api: { namespace: apex, port: \"${secret.API_PORT}\" }\n";
    let getenv = |k: &str| (k == "API_PORT").then(|| SECRET.to_string());
    let Err(d) = load_with_env("strata.yaml", text, None, &test_factory(h.provider.clone()), &getenv) else {
        panic!("a string port is invalid");
    };
    let json = serde_json::to_string(&d.items.iter().map(|x| x.to_json()).collect::<Vec<_>>()).unwrap();
    let out = format!("{}\n{json}", d.render(false));
    for form in
        [SECRET.to_string(), format!("{SECRET:?}").trim_matches('"').to_string(), "ss\\w0rd".into(), "w0rd".into()]
    {
        assert!(!out.contains(&form), "{form} in:\n{out}");
    }
}

#[tokio::test]
async fn database_urls_and_password_variables_are_secret() {
    let h = Harness::new();
    let text = r#"
version: 1
project: apex
resources:
  - name: app
    test: { kind: widget, db: "${env.DATABASE_URL}", pass: "${env.DB_PASS}", cache: "${env.CACHE}" }
"#;
    let vars = [
        ("DATABASE_URL", "postgres://app:pg-s3cret@db/app"),
        ("DB_PASS", "plain-s3cret"),
        ("CACHE", "redis://:cache-s3cret@cache:6379"),
    ];
    let config = load_env(text, &h.provider, &vars);
    let p = plan(&config, &State::new(), &PlanOptions::default()).await.unwrap();
    let out = rendered(&p);
    assert!(!out.contains("s3cret"), "secret printed:\n{out}");
}

async fn salted(config: &Config, state: &State) -> strata_engine::plan::Plan {
    strata_engine::plan::plan_salted(config, state, &PlanOptions::default(), "s").await.unwrap()
}

#[tokio::test]
async fn saved_plan_digests_cannot_be_checked_against_guesses_but_see_secret_changes() {
    let h = Harness::new();
    let text =
        "version: 1\nproject: apex\nresources:\n  - name: a\n    test: { kind: widget, token: \"${secret.TOK}\" }\n";
    let state = h.state().await;
    let a = salted(&load_env(text, &h.provider, &[("TOK", "guess-me-1")]), &state).await;
    let b = salted(&load_env(text, &h.provider, &[("TOK", "guess-me-2")]), &state).await;
    // The digest is the same whatever the secret: trying guesses against it reveals nothing.
    assert_eq!(a.changes[0].digest, b.changes[0].digest);

    // Once applied, a secret that changes (relative to what was applied) changes the digest, so
    // `apply plan.json` refuses a plan made before the rotation.
    apply_config(&h, &load_env(text, &h.provider, &[("TOK", "guess-me-1")])).await;
    let state = h.state().await;
    let same = salted(&load_env(text, &h.provider, &[("TOK", "guess-me-1")]), &state).await;
    let rotated = salted(&load_env(text, &h.provider, &[("TOK", "guess-me-2")]), &state).await;
    assert_ne!(same.changes[0].digest, rotated.changes[0].digest);
    assert_eq!(same.changes[0].action, Action::NoOp);
}

/// Drift classified per resource: changed by someone else, a value removed remotely, deleted
/// remotely, accepted by `drift.ignore` (with its reason), and fields strata never set
/// (unmanaged, ignored). Golden snapshots of the JSON and markdown reports.
#[tokio::test]
async fn drift_is_classified_and_accepted_drift_shows_its_reason() {
    const SPEC: &str = r#"
version: 1
project: apex
resources:
  - name: web
    test: { kind: widget, size: 3, label: blue }
  - name: cache
    test: { kind: widget, size: 1 }
  - name: queue
    test: { kind: widget, size: 2, label: q }
  - name: gone
    test: { kind: widget, size: 9 }
drift:
  ignore:
    - { address: resources.cache, paths: [size], reason: "scaled by the on-call runbook" }
"#;
    let h = Harness::new();
    apply_config(&h, &load(SPEC, &h.provider)).await;
    h.provider.tamper("resources.web", |v| {
        v["size"] = serde_json::json!(5);
        v["status"] = serde_json::json!({"ready": true});
    });
    h.provider.tamper("resources.cache", |v| v["size"] = serde_json::json!(4));
    h.provider.tamper("resources.queue", |v| {
        v.as_object_mut().unwrap().remove("label");
    });
    h.provider.remove("resources.gone");
    let config = load(SPEC, &h.provider);
    let state = h.state().await;
    let report = strata_engine::drift::detect(&config, &state, &fast_retry()).await.unwrap();
    let drifted: Vec<(&str, &str)> = report.drifted.iter().map(|r| (r.address.as_str(), r.status)).collect();
    assert_eq!(drifted, [("resources.gone", "deleted"), ("resources.queue", "changed"), ("resources.web", "changed")]);
    let causes: Vec<&str> = report.drifted.iter().flat_map(|r| r.attributes.iter().map(|a| a.cause)).collect();
    assert_eq!(causes, ["removed", "changed"]);
    assert_eq!(report.accepted.len(), 1);
    assert_eq!(report.accepted[0].accepted[0].reason, "scaled by the on-call runbook");
    let unmanaged: Vec<(&str, Vec<String>)> =
        report.unmanaged.iter().map(|u| (u.address.as_str(), u.paths.clone())).collect();
    assert!(unmanaged.contains(&("resources.web", vec!["status".to_string()])), "{unmanaged:?}");
    insta::assert_json_snapshot!("drift_classified_json", serde_json::to_value(&report).unwrap());
    insta::assert_snapshot!("drift_classified_markdown", strata_engine::render::drift_markdown(&report));
    insta::assert_snapshot!(
        "drift_classified_human",
        strata_engine::render::drift_human(&report, strata_engine::render::Style { color: false })
    );

    // Sharded: N shards check every resource exactly once.
    let mut seen = Vec::new();
    for i in 0..3 {
        let options =
            strata_engine::drift::DriftOptions { shard: Some(strata_engine::drift::Shard { index: i, count: 3 }) };
        let r = strata_engine::drift::detect_with(&config, &state, &fast_retry(), &options).await.unwrap();
        assert_eq!(r.shard.as_deref(), Some(format!("{i}/3").as_str()));
        seen.extend(r.drifted.iter().chain(&r.accepted).map(|d| d.address.clone()));
        seen.extend(
            state.resources.keys().filter(|a| options.shard.unwrap().contains(a)).map(|a| format!("checked:{a}")),
        );
    }
    let mut checked: Vec<&String> = seen.iter().filter(|s| s.starts_with("checked:")).collect();
    checked.sort();
    assert_eq!(checked.len(), 4, "{checked:?}");
    checked.dedup();
    assert_eq!(checked.len(), 4);
}
