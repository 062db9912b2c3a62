//! Apply: walk the plan's DAG with bounded concurrency, retries and per-provider rate limits,
//! checkpointing state as resources complete.
//!
//! - A failed resource's dependents are skipped; independent branches finish.
//! - State is written by a background writer that always writes the latest version, at most
//!   once per `checkpoint_interval`, so a 10k-resource apply does not rewrite state 10k times.
//! - Ctrl-C (the `cancel` channel going to 1) stops launching new work; in-flight calls finish,
//!   state is saved. The CLI aborts on a second Ctrl-C.
//! - Waiting for asynchronous kinds (CloudFront deployments) happens outside the concurrency
//!   slot.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use strata_sdk::{Address, Applied, DeleteRequest, ProviderError, ResourceChange};
use tokio::sync::{Semaphore, watch};

use crate::config::Config;
use crate::plan::{Action, Change, Known, Plan, resolve_attrs};
use crate::redact::Redactor;
use crate::retry::{RateLimiter, RetryPolicy, with_retries};
use crate::state::{ResourceState, State, StateBackend, StateError};

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub parallelism: usize,
    pub retry: RetryPolicy,
    /// Minimum time between two state writes during the apply (the final write always happens).
    pub checkpoint_interval: Duration,
    /// Wait for asynchronous kinds to become ready (`--no-wait` turns it off).
    pub wait: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: 10,
            retry: RetryPolicy::default(),
            checkpoint_interval: Duration::from_millis(500),
            wait: true,
        }
    }
}

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Done {
        elapsed_ms: u64,
        attempts: u32,
    },
    Failed {
        error: String,
        attempts: u32,
    },
    /// Not attempted because something it depends on failed.
    Skipped {
        because: Address,
    },
    /// Not started because the run was interrupted.
    Interrupted,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ResourceOutcome {
    pub address: Address,
    pub action: Action,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApplyReport {
    pub outcomes: Vec<ResourceOutcome>,
    pub interrupted: bool,
    /// Serial of the state written at the end (None when nothing changed).
    pub serial: Option<u64>,
    pub state_writes: usize,
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o.outcome, Outcome::Failed { .. })).count()
    }
    pub fn count(&self, action: Action) -> usize {
        self.outcomes.iter().filter(|o| o.action == action && matches!(o.outcome, Outcome::Done { .. })).count()
    }
}

/// Progress reporting (indicatif bars on a TTY, plain lines otherwise, nothing in tests).
pub trait ApplyObserver: Send + Sync {
    fn started(&self, _change: &Change) {}
    fn retrying(&self, _change: &Change, _attempt: u32, _error: &ProviderError, _delay: Duration) {}
    fn waiting(&self, _change: &Change) {}
    fn finished(&self, _change: &Change, _outcome: &Outcome) {}
}

/// Observer that reports nothing.
pub struct Silent;
impl ApplyObserver for Silent {}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The saved plan was made against another state.
    #[error("the saved plan is stale: {detail}")]
    StalePlan { detail: String },
    /// Writing state failed; what was applied is in the recovery file if one is named.
    #[error("saving state failed: {0}")]
    State(#[from] StateError),
}

impl miette::Diagnostic for ApplyError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let code = match self {
            ApplyError::StalePlan { .. } => "apply::stale-plan",
            ApplyError::State(_) => "apply::state-not-saved",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = match self {
            ApplyError::StalePlan { .. } => {
                Some("make a new plan with `strata plan -o FILE` and apply that".to_string())
            }
            ApplyError::State(e) => crate::ops::state_help(e),
        };
        help.map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// Checks a saved plan against the current state: same lineage, same serial.
pub fn check_plan_is_current(plan: &Plan, state: &State) -> Result<(), ApplyError> {
    let has_state = state.serial > 0 || !state.resources.is_empty();
    let current = (has_state.then(|| state.lineage.clone()), has_state.then_some(state.serial));
    if (plan.lineage.clone(), plan.serial) != current {
        let show = |l: &Option<String>, s: Option<u64>| match (l, s) {
            (Some(l), Some(s)) => format!("lineage {l}, serial {s}"),
            _ => "no state".to_string(),
        };
        return Err(ApplyError::StalePlan {
            detail: format!(
                "it was made against {} but the state is now at {}; run `strata plan` again",
                show(&plan.lineage, plan.serial),
                show(&current.0, current.1)
            ),
        });
    }
    Ok(())
}

struct Node {
    change: usize,
    /// Nodes that must finish first.
    deps: Vec<usize>,
}

/// Builds the execution graph: creates/updates/replaces follow the spec graph; deletes run after
/// what depended on them (per state) has been deleted or updated away from them.
fn build_nodes(config: &Config, plan: &Plan, state: &State) -> Vec<Node> {
    let active: Vec<usize> = (0..plan.changes.len()).filter(|&i| plan.changes[i].action != Action::NoOp).collect();
    let node_of: HashMap<&Address, usize> =
        active.iter().enumerate().map(|(n, &c)| (&plan.changes[c].address, n)).collect();
    let mut nodes: Vec<Node> = active.iter().map(|&c| Node { change: c, deps: Vec::new() }).collect();
    for (n, &c) in active.iter().enumerate() {
        let change = &plan.changes[c];
        let mut deps = BTreeSet::new();
        if change.action == Action::Delete {
            // Everything that recorded a dependency on this resource goes (or moves) first.
            for (addr, rs) in &state.resources {
                if rs.depends_on.contains(&change.address)
                    && let Some(&m) = node_of.get(addr)
                {
                    deps.insert(m);
                }
            }
        } else if let Some(&i) = config.index.get(&change.address) {
            for &d in &config.deps[i] {
                if let Some(&m) = node_of.get(&config.resources[d].address)
                    && plan.changes[nodes[m].change].action != Action::Delete
                {
                    deps.insert(m);
                }
            }
        }
        deps.remove(&n);
        nodes[n].deps = deps.into_iter().collect();
    }
    nodes
}

/// Applies `plan`. `state` is the state the plan was made against (already locked by the
/// caller); it is updated and written through `backend` as resources complete.
pub async fn apply(
    config: &Config,
    plan: &Plan,
    state: State,
    backend: Arc<dyn StateBackend>,
    opts: &ApplyOptions,
    observer: &dyn ApplyObserver,
    mut cancel: watch::Receiver<u32>,
) -> Result<ApplyReport, ApplyError> {
    // Errors may echo a secret the spec reads now or one state holds from before a rotation.
    let redactor = crate::plan::with_state_secrets(&config.redactor, &state);
    let nodes = build_nodes(config, plan, &state);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; nodes.len()];
    if nodes.is_empty() {
        return Ok(ApplyReport { outcomes: Vec::new(), interrupted: false, serial: None, state_writes: 0 });
    }
    let mut dependents = vec![Vec::new(); nodes.len()];
    let mut remaining: Vec<usize> = nodes.iter().map(|n| n.deps.len()).collect();
    for (n, node) in nodes.iter().enumerate() {
        for &d in &node.deps {
            dependents[d].push(n);
        }
    }

    // Known values: from state for everything, replaced as resources complete.
    let mut known: Vec<Known> = config
        .resources
        .iter()
        .map(|r| match state.resources.get(&r.address) {
            Some(s) => Known { attrs: Some(s.attrs.clone()), outputs: Some(s.outputs.clone()) },
            None => Known::default(),
        })
        .collect();
    for (i, k) in known.iter_mut().enumerate() {
        // Desired attrs of unchanged resources are what dependents should see.
        let change = plan.change(&config.resources[i].address);
        if change.is_none_or(|c| c.action == Action::NoOp) && k.attrs.is_some() {
            k.attrs = Some(config.resources[i].attrs.clone());
        }
    }

    let base_serial = state.serial;
    let shared = Arc::new(Mutex::new(state));
    let writer = CheckpointWriter::start(backend, shared.clone(), base_serial + 1, opts.checkpoint_interval);

    let semaphore = Semaphore::new(opts.parallelism.max(1));
    let limiters: HashMap<String, RateLimiter> = config
        .providers
        .rate_limits
        .iter()
        .map(|(name, l)| (name.clone(), RateLimiter::new(l.per_second, l.burst.unwrap_or(l.per_second.ceil() as u32))))
        .collect();

    // Seen by nodes still waiting for a slot: they give up instead of starting.
    let interrupted_flag = std::sync::atomic::AtomicBool::new(*cancel.borrow() > 0);
    let mut running = FuturesUnordered::new();
    let mut ready: Vec<usize> = (0..nodes.len()).filter(|&n| remaining[n] == 0).collect();
    ready.reverse();
    let mut interrupted = *cancel.borrow() > 0;
    let mut stop_launching = interrupted;

    loop {
        while let Some(n) = (!stop_launching).then(|| ready.pop()).flatten() {
            let change = &plan.changes[nodes[n].change];
            let resolved = config
                .index
                .get(&change.address)
                .map(|&i| resolve_attrs(config, i, &known))
                .map(|(attrs, unknown)| (attrs, unknown.is_empty()));
            observer.started(change);
            running.push(run_node(
                n,
                change,
                resolved,
                config,
                &shared,
                &semaphore,
                &limiters,
                opts,
                observer,
                &interrupted_flag,
            ));
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            finished = running.next() => {
                let Some((n, result)) = finished else { break };
                let change = &plan.changes[nodes[n].change];
                let outcome = match result {
                    NodeResult::Applied { applied, attrs, attempts, elapsed } => {
                        record(&shared, config, change, applied.as_ref(), attrs, &mut known);
                        writer.mark_dirty();
                        for &d in &dependents[n] {
                            remaining[d] -= 1;
                            if remaining[d] == 0 && outcomes[d].is_none() {
                                ready.push(d);
                            }
                        }
                        Outcome::Done { elapsed_ms: elapsed.as_millis() as u64, attempts }
                    }
                    NodeResult::Failed { error, attempts, state_changed } => {
                        if state_changed {
                            shared.lock().unwrap().resources.remove(&change.address);
                            writer.mark_dirty();
                        }
                        skip_dependents(n, &dependents, &nodes, plan, &mut outcomes, observer);
                        Outcome::Failed { error: redactor.redact_str(&error), attempts }
                    }
                    NodeResult::NotStarted => Outcome::Interrupted,
                };
                observer.finished(change, &outcome);
                outcomes[n] = Some(outcome);
                if writer.failed() {
                    // Our lock or state was taken over: launching more would be unsafe. What is
                    // in flight finishes; the error surfaces from `finish` below.
                    stop_launching = true;
                }
            }
            changed = cancel.changed(), if !interrupted => {
                if changed.is_ok() && *cancel.borrow() > 0 {
                    interrupted = true;
                    stop_launching = true;
                    interrupted_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    }
    let state_writes = writer.finish().await?;
    let serial = shared.lock().unwrap().serial;
    let outcomes = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let c = &plan.changes[node.change];
            ResourceOutcome {
                address: c.address.clone(),
                action: c.action,
                outcome: outcomes[n].clone().unwrap_or(Outcome::Interrupted),
            }
        })
        .collect();
    Ok(ApplyReport { outcomes, interrupted, serial: Some(serial), state_writes })
}

/// How one node's run ended.
// One per node, moved once from its task to the walk: boxing `Applied` would save nothing.
#[allow(clippy::large_enum_variant)]
enum NodeResult {
    Applied {
        applied: Option<Applied>,
        attrs: Option<serde_json::Value>,
        attempts: u32,
        elapsed: Duration,
    },
    /// `state_changed`: a replace deleted the old object before its create failed.
    Failed {
        error: String,
        attempts: u32,
        state_changed: bool,
    },
    /// The run was interrupted before this node got a slot.
    NotStarted,
}

fn failed(error: impl Into<String>, attempts: u32, state_changed: bool) -> NodeResult {
    NodeResult::Failed { error: error.into(), attempts, state_changed }
}

#[allow(clippy::too_many_arguments)]
async fn run_node(
    n: usize,
    change: &Change,
    resolved: Option<(serde_json::Value, bool)>,
    config: &Config,
    shared: &Arc<Mutex<State>>,
    semaphore: &Semaphore,
    limiters: &HashMap<String, RateLimiter>,
    opts: &ApplyOptions,
    observer: &dyn ApplyObserver,
    interrupted: &std::sync::atomic::AtomicBool,
) -> (usize, NodeResult) {
    let start = Instant::now();
    let Some(provider) = config.providers.get(&change.provider) else {
        return (n, failed(format!("no `{}` provider is configured", change.provider), 0, false));
    };
    let limiter = limiters.get(&change.provider);
    let mut attempts_total = 0;

    // Deletes (and the first half of a replace).
    let prior = shared.lock().unwrap().resources.get(&change.address).cloned();
    if matches!(change.action, Action::Delete | Action::Replace) {
        if let Some(prior) = &prior {
            let req = DeleteRequest {
                address: change.address.clone(),
                kind: prior.kind.clone(),
                remote_id: prior.remote_id.clone(),
                attrs: prior.attrs.clone(),
            };
            let result = {
                let _permit = semaphore.acquire().await.expect("semaphore open");
                if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                    return (n, NodeResult::NotStarted);
                }
                with_retries(
                    &opts.retry,
                    || async {
                        if let Some(l) = limiter {
                            l.acquire().await;
                        }
                        match provider.delete(&req).await {
                            Err(e) if e.class == strata_sdk::ErrorClass::NotFound => Ok(()),
                            other => other,
                        }
                    },
                    |attempt, e, delay| observer.retrying(change, attempt, e, delay),
                )
                .await
            };
            match result {
                Ok(((), attempts)) => attempts_total += attempts,
                Err((e, attempts)) => return (n, failed(e.message, attempts, false)),
            }
        }
        if change.action == Action::Delete {
            return (
                n,
                NodeResult::Applied {
                    applied: None,
                    attrs: None,
                    attempts: attempts_total.max(1),
                    elapsed: start.elapsed(),
                },
            );
        }
    }

    let Some((attrs, fully_known)) = resolved else {
        return (n, failed("the resource is not in the spec", 0, change.action == Action::Replace));
    };
    if !fully_known {
        return (
            n,
            failed(
                "some references could not be resolved (a dependency did not produce the value)",
                0,
                change.action == Action::Replace,
            ),
        );
    }
    if let Some(foreign) = &change.foreign {
        let verb = if change.action == Action::Create { "not created" } else { "refused" };
        return (n, failed(format!("{verb}: {foreign}"), 0, false));
    }
    let rc = ResourceChange {
        address: change.address.clone(),
        kind: change.kind.clone(),
        attrs: attrs.clone(),
        prior: if change.action == Action::Update { prior.as_ref().map(ResourceState::applied) } else { None },
    };
    let is_update = change.action == Action::Update;
    let result = {
        let _permit = semaphore.acquire().await.expect("semaphore open");
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) && attempts_total == 0 {
            return (n, NodeResult::NotStarted);
        }
        with_retries(
            &opts.retry,
            || async {
                if let Some(l) = limiter {
                    l.acquire().await;
                }
                if is_update { provider.update(&rc).await } else { provider.create(&rc).await }
            },
            |attempt, e, delay| observer.retrying(change, attempt, e, delay),
        )
        .await
    };
    let (applied, attempts) = match result {
        Ok(a) => a,
        Err((e, attempts)) => {
            return (n, failed(e.message, attempts_total + attempts, change.action == Action::Replace));
        }
    };
    let applied = if opts.wait && provider.schema(&change.kind).asynchronous {
        // Waiting holds no concurrency slot: other resources proceed meanwhile.
        observer.waiting(change);
        match provider.wait(&change.kind, &applied).await {
            Ok(a) => a,
            Err(e) => {
                return (
                    n,
                    failed(
                        format!("created, but waiting for it failed: {}", e.message),
                        attempts_total + attempts,
                        false,
                    ),
                );
            }
        }
    } else {
        applied
    };
    (
        n,
        NodeResult::Applied {
            applied: Some(applied),
            attrs: Some(attrs),
            attempts: attempts_total + attempts,
            elapsed: start.elapsed(),
        },
    )
}

fn record(
    shared: &Arc<Mutex<State>>,
    config: &Config,
    change: &Change,
    applied: Option<&Applied>,
    attrs: Option<serde_json::Value>,
    known: &mut [Known],
) {
    let mut state = shared.lock().unwrap();
    match (change.action, applied, attrs) {
        (Action::Delete, _, _) => {
            state.resources.remove(&change.address);
        }
        (_, Some(applied), Some(attrs)) => {
            let i = config.index[&change.address];
            let r = &config.resources[i];
            let schema = config.providers.get(&r.provider).map(|p| p.schema(&r.kind)).unwrap_or_default();
            state.resources.insert(
                change.address.clone(),
                ResourceState {
                    provider: r.provider.clone(),
                    kind: r.kind.clone(),
                    remote_id: applied.remote_id.clone(),
                    attrs: attrs.clone(),
                    outputs: applied.outputs.clone(),
                    depends_on: config.deps[i].iter().map(|&d| config.resources[d].address.clone()).collect(),
                    sensitive: sensitive_paths(&schema, &attrs, &config.redactor),
                },
            );
            known[i] = Known { attrs: Some(attrs), outputs: Some(applied.outputs.clone()) };
        }
        _ => {}
    }
}

/// What state records as sensitive for a resource: the kind's patterns, and the path of every
/// attribute that holds a secret (`${secret.X}` or a sensitive `${env.X}`, directly or through
/// a reference), so that its value is masked after the spec stops reading that secret (a
/// rotation, a deleted resource).
pub fn sensitive_paths(schema: &strata_sdk::KindSchema, attrs: &serde_json::Value, redactor: &Redactor) -> Vec<String> {
    let mut out: Vec<String> = schema.sensitive.iter().map(|p| p.0.clone()).collect();
    for p in crate::redact::secret_paths(attrs, redactor) {
        if !schema.sensitive.iter().any(|s| s.covers(&strata_sdk::value::pointer_segments(&p))) && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn skip_dependents(
    n: usize,
    dependents: &[Vec<usize>],
    nodes: &[Node],
    plan: &Plan,
    outcomes: &mut [Option<Outcome>],
    observer: &dyn ApplyObserver,
) {
    let failed = plan.changes[nodes[n].change].address.clone();
    let mut stack: Vec<usize> = dependents[n].clone();
    while let Some(d) = stack.pop() {
        if outcomes[d].is_none() {
            let outcome = Outcome::Skipped { because: failed.clone() };
            observer.finished(&plan.changes[nodes[d].change], &outcome);
            outcomes[d] = Some(outcome);
            stack.extend(dependents[d].iter().copied());
        }
    }
}

/// Writes the latest state in the background, coalescing bursts of completions into one write
/// per interval. The serial is bumped once per apply run, not once per checkpoint, so it counts
/// applies.
struct CheckpointWriter {
    dirty: Arc<tokio::sync::Notify>,
    pending: Arc<std::sync::atomic::AtomicBool>,
    done: watch::Sender<bool>,
    error: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<Result<usize, StateError>>,
}

impl CheckpointWriter {
    fn start(backend: Arc<dyn StateBackend>, shared: Arc<Mutex<State>>, serial: u64, interval: Duration) -> Self {
        use std::sync::atomic::Ordering;
        let dirty = Arc::new(tokio::sync::Notify::new());
        let pending = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (done, mut done_rx) = watch::channel(false);
        let error = Arc::new(Mutex::new(None));
        let (dirty2, pending2, error2) = (dirty.clone(), pending.clone(), error.clone());
        let task = tokio::spawn(async move {
            let mut writes = 0;
            let mut last_write: Option<Instant> = None;
            let write = |shared: &Arc<Mutex<State>>| {
                let mut s = shared.lock().unwrap();
                s.serial = serial;
                s.strata_version = env!("CARGO_PKG_VERSION").to_string();
                s.clone()
            };
            loop {
                tokio::select! {
                    _ = dirty2.notified() => {}
                    _ = done_rx.changed() => break,
                }
                if let Some(last) = last_write {
                    let wait = interval.saturating_sub(last.elapsed());
                    if !wait.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = done_rx.changed() => break,
                        }
                    }
                }
                if !pending2.swap(false, Ordering::SeqCst) {
                    continue;
                }
                let snapshot = write(&shared);
                if let Err(e) = backend.write(&snapshot).await {
                    *error2.lock().unwrap() = Some(e.to_string());
                    return Err(e);
                }
                writes += 1;
                last_write = Some(Instant::now());
            }
            if pending2.swap(false, Ordering::SeqCst) {
                let snapshot = write(&shared);
                backend.write(&snapshot).await?;
                writes += 1;
            }
            Ok(writes)
        });
        CheckpointWriter { dirty, pending, done, error, task }
    }

    fn mark_dirty(&self) {
        self.pending.store(true, std::sync::atomic::Ordering::SeqCst);
        self.dirty.notify_one();
    }

    fn failed(&self) -> bool {
        self.error.lock().unwrap().is_some()
    }

    /// Stops the writer after a final write of anything not yet written.
    async fn finish(self) -> Result<usize, StateError> {
        let _ = self.done.send(true);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(StateError::Io { location: "state writer".into(), message: e.to_string() }),
        }
    }
}
