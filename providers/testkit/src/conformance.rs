//! The provider conformance suite (feature `conformance`): the contract of
//! [`Provider`](strata_sdk::Provider) (docs/architecture.md, "The `Provider` trait"), checked
//! against a real provider talking to its emulator.
//!
//! A provider's test supplies a [`Fixture`]: how to build the provider, a sample resource of one
//! of its kinds with an update of its document, a way to make the remote side throttle, and a
//! sample with a sensitive attribute when the provider has a kind with one. Each check is its own
//! function, so a test can run them all ([`run_all`]) or one per `#[test]`:
//!
//! | check | what it proves |
//! |---|---|
//! | [`create`] | create succeeds, and a read by the remote id finds it, ours, equal to the desired document under the engine's diff |
//! | [`read_batched`] | several requests in one `read` get one result each, in order; a missing one is `Ok(None)` |
//! | [`update`] | update keeps the remote id and a read shows the new document |
//! | [`noop_replan`] | the engine's plan → apply → plan is a no-op, before and after an update |
//! | [`delete`] | delete, then the object is gone; deleting again succeeds or is `not_found` |
//! | [`read_missing`] | a never-created object and a deleted one (by its old remote id) read as `Ok(None)` |
//! | [`adoption_after_crash`] | an object created without a state write is found as ours by the engine's plan (not created again); a second create returns the same object |
//! | [`throttling`] | a throttled read or create is `retryable` with the server's `Retry-After`; the engine's refresh retries and waits at least that long |
//! | [`secrets_masked`] | the kind's sensitive paths are declared in its `KindSchema`, and plans the engine renders (human, markdown, JSON) never show the values |
//!
//! Every check panics with a message naming itself and the fixture when the provider does not
//! conform, and cleans up what it created when it passes. Each check uses its own object names
//! (derived from the check's name), so checks may run concurrently against one emulator.
//!
//! The suite drives the real engine (`strata-engine`): plans are made by loading a spec that
//! holds the sample as a raw `resources:` entry, with the provider injected through
//! `Registry::standard().provider_instance(...)`. The engine dev-depends on this crate without
//! this feature, so its own build has no cycle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use strata_engine::apply::{ApplyOptions, Outcome, Silent, apply};
use strata_engine::config::{Config, load_with_env};
use strata_engine::plan::{Action, Plan, PlanOptions, diff, plan};
use strata_engine::registry::Registry;
use strata_engine::render::{Style, plan_human, plan_markdown};
use strata_engine::retry::RetryPolicy;
use strata_engine::state::{LocalBackend, State, StateStorage};
use strata_sdk::value::pointer_segments;
use strata_sdk::{
    Address, Applied, DeleteRequest, ErrorClass, Observed, Ownership, Provider, ProviderContext, ProviderError,
    ReadRequest, Resource, ResourceChange,
};

/// The project the suite's specs name; fixtures build their providers with [`context`].
pub const PROJECT: &str = "conformance";
/// The environment of the suite's plans (none selected).
pub const ENV: &str = "default";

/// The context a fixture builds its provider with (ownership marks: project
/// [`PROJECT`], environment [`ENV`]).
pub fn context() -> ProviderContext {
    ProviderContext { project: PROJECT.into(), env: ENV.into(), force_conflicts: false }
}

/// A desired resource and an update of its document.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Its address must be `resources.<name>` (the suite puts it in a spec's `resources:` list)
    /// and its `provider` the provider's name.
    pub resource: Resource,
    /// The document after an in-place update (no `force_new` attribute changed).
    pub update: Value,
}

/// A sample whose document holds a secret.
#[derive(Debug, Clone)]
pub struct SensitiveSample {
    pub sample: Sample,
    /// JSON pointer of a string attribute the kind declares sensitive (`/data/password`); it
    /// holds different values in `sample.resource.attrs` and `sample.update`.
    pub pointer: String,
}

/// What a provider under test supplies.
pub trait Fixture: Send + Sync {
    /// Names the fixture in failure messages (`kubernetes v1/ConfigMap`).
    fn describe(&self) -> String;

    /// A provider instance talking to the emulator, built with [`context`].
    fn provider(&self) -> Arc<dyn Provider>;

    /// A sample resource called `name` (a lowercase DNS label, unique per check): address
    /// `resources.<name>`, a remote object name derived from `name`.
    fn sample(&self, name: &str) -> Sample;

    /// A sample with a secret, for a provider that has a kind with sensitive attributes.
    fn sensitive_sample(&self, _name: &str) -> Option<SensitiveSample> {
        None
    }

    /// Makes the next `requests` remote requests concerning `address` (a sample's) fail with a
    /// throttling answer (HTTP 429 or 503), then lets requests through again. Returns the
    /// `Retry-After` the remote sends with it (`None` when it sends none).
    fn throttle(&self, address: &Address, requests: u32) -> Option<Duration>;
}

/// Runs every check, one after the other.
pub async fn run_all(f: &dyn Fixture) {
    create(f).await;
    read_batched(f).await;
    update(f).await;
    noop_replan(f).await;
    delete(f).await;
    read_missing(f).await;
    adoption_after_crash(f).await;
    throttling(f).await;
    secrets_masked(f).await;
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// Create, then read by the remote id: found, ours, and equal to the desired document for every
/// attribute it sets (the engine's diff).
pub async fn create(f: &dyn Fixture) {
    let cx = Cx::new(f, "create");
    let s = cx.sample("conf-create");
    let r = &s.resource;
    let applied = cx.create(r).await;
    cx.check(!applied.remote_id.is_empty(), "create returned an empty remote id");
    let observed = cx.read_one(r, Some(&applied.remote_id), None).await;
    let o = cx.found(observed, "a read by the remote id create returned");
    cx.check_eq(&o.remote_id, &applied.remote_id, "the remote id read returns");
    cx.check_ours(&o);
    cx.check_no_diff(&r.kind, &r.attrs, None, &o, "after create");
    cx.cleanup(r, &applied).await;
}

/// Several requests in one `read` call: one result each, in order, a missing object `Ok(None)`;
/// objects are found by remote id and, without one, by the desired document.
pub async fn read_batched(f: &dyn Fixture) {
    let cx = Cx::new(f, "read_batched");
    let a = cx.sample("conf-batch-a").resource;
    let b = cx.sample("conf-batch-b").resource;
    let missing = cx.sample("conf-batch-missing").resource;
    let ra = cx.create(&a).await;
    let rb = cx.create(&b).await;
    let requests = [
        read_request(&a, Some(&ra.remote_id)),
        read_request(&missing, None),
        read_request(&b, None),
        read_request(&a, None),
    ];
    let results = cx.p.read(&requests).await;
    cx.check_eq(&results.len(), &requests.len(), "number of results for 4 requests");
    let mut results = results.into_iter();
    let first = cx.found(results.next().unwrap(), "request 0 (a, by remote id)");
    cx.check_eq(&first.remote_id, &ra.remote_id, "request 0 (a, by remote id)");
    match results.next().unwrap() {
        Ok(None) => {}
        other => cx.fail(&format!("request 1 (never created) should be Ok(None), got {other:?}")),
    }
    let third = cx.found(results.next().unwrap(), "request 2 (b, by document only)");
    cx.check_eq(&third.remote_id, &rb.remote_id, "request 2 (b, by document only)");
    let fourth = cx.found(results.next().unwrap(), "request 3 (a, by document only)");
    cx.check_eq(&fourth.remote_id, &ra.remote_id, "request 3 (a, by document only)");
    for o in [&first, &third, &fourth] {
        cx.check_ours(o);
    }
    cx.check_no_diff(&b.kind, &b.attrs, None, &third, "b in a batch");
    cx.cleanup(&a, &ra).await;
    cx.cleanup(&b, &rb).await;
}

/// Update in place: the remote id stays, a read shows the updated document.
pub async fn update(f: &dyn Fixture) {
    let cx = Cx::new(f, "update");
    let s = cx.sample("conf-update");
    let r = &s.resource;
    let created = cx.create(r).await;
    let change = ResourceChange {
        address: r.address.clone(),
        kind: r.kind.clone(),
        attrs: s.update.clone(),
        prior: Some(created.clone()),
    };
    let updated = cx.p.update(&change).await.unwrap_or_else(|e| cx.fail(&format!("update failed: {e:?}")));
    cx.check_eq(&updated.remote_id, &created.remote_id, "the remote id after an in-place update");
    let o = cx.found(cx.read_one(r, Some(&updated.remote_id), None).await, "a read after update");
    cx.check_no_diff(&r.kind, &s.update, Some(&r.attrs), &o, "after update");
    cx.cleanup(r, &updated).await;
}

/// The engine's plan → apply → plan: the second plan is a no-op, and so is the plan after the
/// update is applied (what a provider reads back equals what it was asked to apply).
pub async fn noop_replan(f: &dyn Fixture) {
    let cx = Cx::new(f, "noop_replan");
    let s = cx.sample("conf-noop");
    let r = &s.resource;
    let mut run = cx.engine().await;
    let first = run.plan(&cx, r).await;
    cx.check_action(&first, r, &[Action::Create], "first plan");
    run.apply(&cx, r, &first).await;
    let second = run.plan(&cx, r).await;
    cx.check_action(&second, r, &[Action::NoOp], "plan right after apply");

    let mut updated = r.clone();
    updated.attrs = s.update.clone();
    let third = run.plan(&cx, &updated).await;
    cx.check_action(&third, &updated, &[Action::Update], "plan of the updated document");
    cx.check(!third.changes[0].attributes.is_empty(), "the update plan lists no attribute changes");
    run.apply(&cx, &updated, &third).await;
    let fourth = run.plan(&cx, &updated).await;
    cx.check_action(&fourth, &updated, &[Action::NoOp], "plan right after applying the update");
    let applied = run.applied(&cx, &updated.address).await;
    cx.cleanup(&updated, &applied).await;
}

/// Delete removes the object; deleting it again succeeds or fails with `not_found` (which the
/// engine counts as success).
pub async fn delete(f: &dyn Fixture) {
    let cx = Cx::new(f, "delete");
    let r = cx.sample("conf-delete").resource;
    let applied = cx.create(&r).await;
    let request = delete_request(&r, &applied);
    if let Err(e) = cx.p.delete(&request).await {
        cx.fail(&format!("delete failed: {e:?}"));
    }
    match cx.read_one(&r, Some(&applied.remote_id), None).await {
        Ok(None) => {}
        other => cx.fail(&format!("the object still reads after delete: {other:?}")),
    }
    match cx.p.delete(&request).await {
        Ok(()) => {}
        Err(e) if e.class == ErrorClass::NotFound => {}
        Err(e) => cx.fail(&format!("deleting an already deleted object should succeed or be not_found: {e:?}")),
    }
}

/// A never-created object reads as `Ok(None)`, with or without a remote id (the id of a deleted
/// object: the engine sends state's id for objects deleted outside strata).
pub async fn read_missing(f: &dyn Fixture) {
    let cx = Cx::new(f, "read_missing");
    let never = cx.sample("conf-missing").resource;
    match cx.read_one(&never, None, None).await {
        Ok(None) => {}
        other => cx.fail(&format!("a never-created object should read as Ok(None), got {other:?}")),
    }
    let gone = cx.sample("conf-missing-gone").resource;
    let applied = cx.create(&gone).await;
    if let Err(e) = cx.p.delete(&delete_request(&gone, &applied)).await {
        cx.fail(&format!("delete failed: {e:?}"));
    }
    match cx.read_one(&gone, Some(&applied.remote_id), None).await {
        Ok(None) => {}
        other => cx.fail(&format!("a deleted object read by its old remote id should be Ok(None), got {other:?}")),
    }
}

/// A run that crashed after creating the object and before writing state: the next plan finds
/// it through the ownership marks and records it (not a create, not foreign); a second create
/// (the crashed run's retry) returns the same object, so deleting it once leaves nothing behind.
pub async fn adoption_after_crash(f: &dyn Fixture) {
    let cx = Cx::new(f, "adoption_after_crash");
    let r = cx.sample("conf-adopt").resource;
    let created = cx.create(&r).await;

    let mut run = cx.engine().await;
    let p = run.plan(&cx, &r).await;
    let change = &p.changes[0];
    cx.check(change.foreign.is_none(), &format!("the plan calls our own object foreign: {:?}", change.foreign));
    cx.check_action(&p, &r, &[Action::Update, Action::NoOp], "plan with the object created but no state");
    cx.check_eq(&change.recovered_remote_id, &Some(created.remote_id.clone()), "the plan's recovered remote id");
    run.apply(&cx, &r, &p).await;
    let recorded = run.applied(&cx, &r.address).await;
    cx.check_eq(&recorded.remote_id, &created.remote_id, "the remote id state records after recovery");
    let again = run.plan(&cx, &r).await;
    cx.check_action(&again, &r, &[Action::NoOp], "plan after the recovered object was recorded");

    let second = cx.create(&r).await;
    cx.check_eq(&second.remote_id, &created.remote_id, "the remote id of a second create of the same resource");
    if let Err(e) = cx.p.delete(&delete_request(&r, &second)).await {
        cx.fail(&format!("delete failed: {e:?}"));
    }
    match cx.read_one(&r, None, None).await {
        Ok(None) => {}
        other => cx.fail(&format!("after one delete a read still finds an object (a duplicate?): {other:?}")),
    }
}

/// Throttling: a read and a create answered 429/503 fail `retryable`, carrying the server's
/// `Retry-After`; the engine's refresh retries and waits at least that long.
pub async fn throttling(f: &dyn Fixture) {
    let cx = Cx::new(f, "throttling");
    let r = cx.sample("conf-throttle").resource;

    let expected = f.throttle(&r.address, 1);
    match cx.read_one(&r, None, None).await {
        Err(e) => cx.check_throttled(&e, expected, "a throttled read"),
        Ok(o) => cx.fail(&format!("a throttled read succeeded: {o:?}")),
    }
    let expected = f.throttle(&r.address, 1);
    let change =
        ResourceChange { address: r.address.clone(), kind: r.kind.clone(), attrs: r.attrs.clone(), prior: None };
    match cx.p.create(&change).await {
        Err(e) => cx.check_throttled(&e, expected, "a throttled create"),
        Ok(a) => {
            cx.cleanup(&r, &a).await;
            cx.fail(&format!("a throttled create succeeded: {a:?}"));
        }
    }

    // The engine retries a throttled refresh and honours Retry-After.
    let run = cx.engine().await;
    let expected = f.throttle(&r.address, 1);
    let started = Instant::now();
    let p = run.plan(&cx, &r).await;
    let took = started.elapsed();
    cx.check_action(&p, &r, &[Action::Create], "plan after a throttled refresh");
    if let Some(after) = expected {
        cx.check(took >= after, &format!("the refresh retried after {took:?}, before the Retry-After of {after:?}"));
    }
    // Nothing was created; clean up in case a provider created despite the throttle.
    if let Ok(Some(o)) = cx.read_one(&r, None, None).await {
        cx.cleanup(&r, &Applied { remote_id: o.remote_id, attrs: o.attrs, outputs: o.outputs }).await;
    }
}

/// Secrets: the kind's sensitive paths are declared in its `KindSchema`, and the plans the
/// engine renders (human, markdown, JSON) for a create and for an update never show the old or
/// the new value. A fixture without a sensitive sample passes only if its sample's kind
/// declares nothing sensitive.
pub async fn secrets_masked(f: &dyn Fixture) {
    let cx = Cx::new(f, "secrets_masked");
    let Some(ss) = f.sensitive_sample("conf-secret") else {
        let r = cx.sample("conf-secret").resource;
        let schema = cx.p.schema(&r.kind);
        cx.check(
            schema.sensitive.is_empty(),
            &format!(
                "`{}` declares sensitive paths {:?}: the fixture must supply a sensitive_sample",
                r.kind, schema.sensitive
            ),
        );
        return;
    };
    let r = &ss.sample.resource;
    let path = pointer_segments(&ss.pointer);
    let schema = cx.p.schema(&r.kind);
    cx.check(
        schema.is_sensitive(&path),
        &format!(
            "`{}` does not declare {} sensitive (its sensitive paths: {:?})",
            r.kind, ss.pointer, schema.sensitive
        ),
    );
    let secret = |doc: &Value, which: &str| -> String {
        match strata_sdk::value::get(doc, &path) {
            Some(Value::String(s)) if s.len() >= 6 => s.clone(),
            other => {
                cx.fail(&format!("the {which} document holds no secret string (6+ chars) at {}: {other:?}", ss.pointer))
            }
        }
    };
    let (old, new) = (secret(&r.attrs, "sample"), secret(&ss.sample.update, "updated"));
    cx.check(old != new, "the sample and its update hold the same secret");

    let mut run = cx.engine().await;
    let first = run.plan(&cx, r).await;
    cx.check_action(&first, r, &[Action::Create], "first plan");
    cx.check_masked(&first, &[&old], "the create plan");
    run.apply(&cx, r, &first).await;
    let mut updated = r.clone();
    updated.attrs = ss.sample.update.clone();
    let second = run.plan(&cx, &updated).await;
    cx.check_action(&second, &updated, &[Action::Update], "plan of the updated secret");
    let changed: Vec<_> = second.changes[0].attributes.iter().filter(|a| schema.is_sensitive(&a.pointer)).collect();
    cx.check(!changed.is_empty(), "the update plan shows no change of the sensitive attribute");
    cx.check(changed.iter().all(|a| a.sensitive), "a change of a sensitive attribute is not marked sensitive");
    cx.check_masked(&second, &[&old, &new], "the update plan");
    let applied = run.applied(&cx, &r.address).await;
    cx.cleanup(r, &applied).await;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn read_request<'a>(r: &'a Resource, remote_id: Option<&str>) -> ReadRequest<'a> {
    ReadRequest {
        address: r.address.clone(),
        kind: r.kind.clone(),
        remote_id: remote_id.map(str::to_string),
        attrs: Some(&r.attrs),
    }
}

fn delete_request(r: &Resource, applied: &Applied) -> DeleteRequest {
    DeleteRequest {
        address: r.address.clone(),
        kind: r.kind.clone(),
        remote_id: applied.remote_id.clone(),
        attrs: r.attrs.clone(),
    }
}

/// One check's context: its name, the fixture, one provider instance.
struct Cx<'a> {
    check: &'static str,
    fixture: &'a dyn Fixture,
    p: Arc<dyn Provider>,
}

impl<'a> Cx<'a> {
    fn new(fixture: &'a dyn Fixture, check: &'static str) -> Self {
        Cx { check, fixture, p: fixture.provider() }
    }

    #[track_caller]
    fn fail(&self, message: &str) -> ! {
        panic!("conformance check `{}` failed for {}: {message}", self.check, self.fixture.describe())
    }

    #[track_caller]
    fn check(&self, ok: bool, message: &str) {
        if !ok {
            self.fail(message);
        }
    }

    #[track_caller]
    fn check_eq<T: PartialEq + std::fmt::Debug>(&self, got: &T, want: &T, what: &str) {
        if got != want {
            self.fail(&format!("{what}: got {got:?}, expected {want:?}"));
        }
    }

    fn sample(&self, name: &str) -> Sample {
        let s = self.fixture.sample(name);
        let want = format!("resources.{name}");
        self.check_eq(&s.resource.address.as_str(), &want.as_str(), "the sample's address");
        self.check_eq(&s.resource.provider.as_str(), &self.p.name(), "the sample's provider");
        s
    }

    async fn create(&self, r: &Resource) -> Applied {
        let change =
            ResourceChange { address: r.address.clone(), kind: r.kind.clone(), attrs: r.attrs.clone(), prior: None };
        self.p.create(&change).await.unwrap_or_else(|e| self.fail(&format!("create of {} failed: {e:?}", r.address)))
    }

    /// Deletes what a check created (a failure here fails the check: delete is part of the
    /// contract).
    async fn cleanup(&self, r: &Resource, applied: &Applied) {
        match self.p.delete(&delete_request(r, applied)).await {
            Ok(()) => {}
            Err(e) if e.class == ErrorClass::NotFound => {}
            Err(e) => self.fail(&format!("cleaning up {} failed: {e:?}", r.address)),
        }
    }

    async fn read_one(
        &self,
        r: &Resource,
        remote_id: Option<&str>,
        attrs: Option<&Value>,
    ) -> Result<Option<Observed>, ProviderError> {
        let mut request = read_request(r, remote_id);
        if let Some(a) = attrs {
            request.attrs = Some(a);
        }
        let mut out = self.p.read(std::slice::from_ref(&request)).await;
        self.check_eq(&out.len(), &1, "number of results for one read request");
        out.remove(0)
    }

    #[track_caller]
    fn found(&self, result: Result<Option<Observed>, ProviderError>, what: &str) -> Observed {
        match result {
            Ok(Some(o)) => o,
            Ok(None) => self.fail(&format!("{what}: not found")),
            Err(e) => self.fail(&format!("{what}: read failed: {e:?}")),
        }
    }

    #[track_caller]
    fn check_ours(&self, o: &Observed) {
        if o.ownership != Ownership::Ours {
            self.fail(&format!("an object strata created reads as {:?}", o.ownership));
        }
    }

    #[track_caller]
    fn check_no_diff(&self, kind: &str, desired: &Value, previous: Option<&Value>, o: &Observed, when: &str) {
        // With the kind's schema: its ignore_changes paths are skipped, as the engine does.
        let d = diff(desired, previous, &o.attrs, &self.p.schema(kind));
        if !d.is_empty() {
            let paths: Vec<String> = d.iter().map(|c| format!("{}: {:?} -> {:?}", c.path, c.before, c.after)).collect();
            self.fail(&format!(
                "{when}, the engine's diff of the desired document against what read returns is not empty: {paths:#?}\nread: {:#}",
                o.attrs
            ));
        }
    }

    #[track_caller]
    fn check_action(&self, p: &Plan, r: &Resource, allowed: &[Action], what: &str) {
        self.check_eq(&p.changes.len(), &1, &format!("{what}: number of changes"));
        let c = &p.changes[0];
        self.check_eq(&c.address, &r.address, &format!("{what}: the change's address"));
        if !allowed.contains(&c.action) {
            self.fail(&format!(
                "{what}: action {:?}, expected one of {allowed:?}; reason {:?}, attributes {:#?}",
                c.action, c.reason, c.attributes
            ));
        }
    }

    #[track_caller]
    fn check_throttled(&self, e: &ProviderError, expected: Option<Duration>, what: &str) {
        if e.class != ErrorClass::Retryable {
            self.fail(&format!("{what} is classified {:?}, expected retryable: {e:?}", e.class));
        }
        if let Some(after) = expected {
            self.check_eq(&e.retry_after, &Some(after), &format!("{what}: retry_after (the server's Retry-After)"));
        }
    }

    #[track_caller]
    fn check_masked(&self, p: &Plan, secrets: &[&str], what: &str) {
        let renders = [
            ("human", plan_human(p, Style { color: false })),
            ("markdown", plan_markdown(p)),
            ("JSON", serde_json::to_string(p).expect("plans serialize")),
        ];
        for (form, text) in &renders {
            for s in secrets {
                if text.contains(*s) {
                    self.fail(&format!("{what} rendered as {form} shows the secret {s:?}:\n{text}"));
                }
            }
        }
    }

    async fn engine(&self) -> Engine {
        Engine::new(self.p.clone()).await
    }
}

/// The real engine around one provider: a spec holding one raw resource, a local state file.
struct Engine {
    provider: Arc<dyn Provider>,
    backend: Arc<LocalBackend>,
    _dir: TempDir,
}

/// A private directory for the state file, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy { max_attempts: 4, base: Duration::from_millis(10), max_delay: Duration::from_secs(5) }
}

impl Engine {
    async fn new(provider: Arc<dyn Provider>) -> Engine {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("strata-conformance-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a state directory");
        let backend = Arc::new(LocalBackend::new(dir.join("state.json")));
        Engine { provider, backend, _dir: TempDir(dir) }
    }

    /// Loads a spec holding `r` as its one raw resource and checks it lowers back to `r`.
    fn load(&self, cx: &Cx<'_>, r: &Resource) -> Config {
        let name = r.address.as_str().strip_prefix("resources.").expect("checked by Cx::sample");
        let mut body = r.attrs.as_object().cloned().unwrap_or_else(|| cx.fail("the sample's attrs are not a map"));
        if !body.contains_key("kind") {
            body.insert("kind".into(), Value::String(r.kind.clone()));
        }
        let mut entry = serde_json::Map::new();
        entry.insert("name".into(), Value::String(name.to_string()));
        entry.insert(r.provider.clone(), Value::Object(body));
        let spec = serde_json::json!({"version": 1, "project": PROJECT, "resources": [entry]});
        let text = serde_json::to_string_pretty(&spec).expect("JSON");
        let provider_name: &'static str = Box::leak(r.provider.clone().into_boxed_str());
        let registry = Registry::standard().provider_instance(provider_name, self.provider.clone());
        let config = load_with_env("strata.yaml", text, None, &registry, &|_| None)
            .unwrap_or_else(|d| cx.fail(&format!("the engine does not load the sample:\n{}", d.render(false))));
        let lowered = &config.resources[0];
        if lowered.kind != r.kind || lowered.attrs != r.attrs || lowered.address != r.address {
            cx.fail(&format!(
                "the sample does not round-trip through a spec's `resources:` entry: {r:?} became {lowered:?}"
            ));
        }
        config
    }

    async fn state(&self) -> State {
        self.backend.read().await.expect("read state").unwrap_or_default()
    }

    async fn plan(&self, cx: &Cx<'_>, r: &Resource) -> Plan {
        let config = self.load(cx, r);
        let state = self.state().await;
        plan(&config, &state, &PlanOptions { refresh: true, retry: fast_retry(), ..Default::default() })
            .await
            .unwrap_or_else(|e| cx.fail(&format!("the engine's plan failed: {e}")))
    }

    async fn apply(&mut self, cx: &Cx<'_>, r: &Resource, p: &Plan) {
        let config = self.load(cx, r);
        let state = self.state().await;
        let opts =
            ApplyOptions { parallelism: 1, retry: fast_retry(), checkpoint_interval: Duration::ZERO, wait: true };
        let (_tx, rx) = tokio::sync::watch::channel(0);
        let report = apply(&config, p, state, self.backend.clone(), &opts, &Silent, rx)
            .await
            .unwrap_or_else(|e| cx.fail(&format!("the engine's apply failed: {e}")));
        for o in &report.outcomes {
            if let Outcome::Failed { error, .. } = &o.outcome {
                cx.fail(&format!("the engine's apply failed: {error}"));
            }
        }
    }

    async fn applied(&self, cx: &Cx<'_>, address: &Address) -> Applied {
        self.state()
            .await
            .resources
            .get(address)
            .map(|s| s.applied())
            .unwrap_or_else(|| cx.fail(&format!("state records no {address} after apply")))
    }
}
