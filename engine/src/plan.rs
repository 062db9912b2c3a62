//! Plan: refresh what exists, diff it against the spec, decide one action per resource.
//!
//! Only attributes the spec sets are compared (plus ones strata set last time and the spec no
//! longer does), so server defaults never show up as changes. The plan's JSON form is a stable,
//! documented interface (docs/json-output.md) and never contains secret values: a saved plan
//! carries digests of what it will apply, and `apply plan.json` re-plans and refuses if anything
//! differs.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use strata_sdk::value::{SENSITIVE, UNKNOWN};
use strata_sdk::{Address, KindSchema, Observed, Ownership, Provider, ProviderError, ReadRequest};

use crate::config::Config;
use crate::redact::Redactor;
use crate::retry::RetryPolicy;
use crate::spec::Path;
use crate::spec::refs::{RefExpr, substitute};
use crate::state::{ResourceState, State};

pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Read remote objects first (`--refresh=false` trusts state instead).
    pub refresh: bool,
    /// Limit the plan to these addresses (or address prefixes) and their dependencies.
    pub targets: Vec<Address>,
    /// Plan deleting everything in state.
    pub destroy: bool,
    pub retry: RetryPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    NoOp,
}

impl Action {
    /// Terraform's symbols: `+`, `~`, `-/+`, `-`.
    pub fn symbol(&self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::NoOp => " ",
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Update => "updated in-place",
            Action::Replace => "replaced",
            Action::Delete => "destroyed",
            Action::NoOp => "unchanged",
        }
    }
}

/// One attribute that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    /// `spec.ports[0].port`.
    pub path: String,
    /// JSON pointer segments of the attribute.
    pub pointer: Vec<String>,
    /// Masked when sensitive; absent when the attribute is being added.
    pub before: Option<Value>,
    /// Masked when sensitive; absent when the attribute is being removed.
    pub after: Option<Value>,
    pub sensitive: bool,
    pub forces_replacement: bool,
    pub known_after_apply: bool,
}

/// The planned action for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub provider: String,
    pub kind: String,
    pub action: Action,
    /// Why, when it is not obvious: "deleted outside strata", "`spec.selector` forces replacement".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Attribute-level differences (update, replace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttrChange>,
    /// The full desired document for creates (masked, unknowns shown as placeholders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// The last applied document for deletes (masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    /// Set when an object with this identity exists but is not strata's: apply refuses it
    /// until `strata import` adopts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign: Option<String>,
    /// Remote id found by refresh for an object state does not know (crash recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_remote_id: Option<String>,
    /// Digest of exactly what will be applied (secrets included, salted): `apply plan.json`
    /// refuses if a re-plan does not produce the same digest.
    pub digest: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub no_op: usize,
}

impl Summary {
    /// How many changes of each action.
    pub fn count(changes: &[Change]) -> Summary {
        let mut summary = Summary::default();
        for c in changes {
            match c.action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Replace => summary.replace += 1,
                Action::Delete => summary.delete += 1,
                Action::NoOp => summary.no_op += 1,
            }
        }
        summary
    }
}

impl Summary {
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.replace + self.delete > 0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub strata_version: String,
    pub project: String,
    pub env: String,
    /// Lineage and serial of the state the plan was made against.
    pub lineage: Option<String>,
    pub serial: Option<u64>,
    pub refreshed: bool,
    pub destroy: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Address>,
    /// Salt of the change digests.
    pub salt: String,
    /// Every resource in scope, in apply order (deletes last, in reverse dependency order).
    pub changes: Vec<Change>,
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn change(&self, a: &Address) -> Option<&Change> {
        self.changes.iter().find(|c| &c.address == a)
    }
}

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A provider could not read what exists.
    #[error("refreshing `{address}` failed after {attempts} attempt(s): {error}")]
    Refresh { address: String, attempts: u32, error: ProviderError },
    /// `--target` names nothing.
    #[error("`--target {target}` matches no resource in the spec or state")]
    UnknownTarget { target: String, suggestion: Option<String> },
    /// A resource's provider is missing (state mentions a provider the spec no longer configures).
    #[error("no `{provider}` provider is configured for `{address}`")]
    MissingProvider { address: String, provider: String },
}

impl miette::Diagnostic for PlanError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let code = match self {
            PlanError::Refresh { .. } => "plan::refresh-failed",
            PlanError::UnknownTarget { .. } => "plan::unknown-target",
            PlanError::MissingProvider { .. } => "plan::missing-provider",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = match self {
            PlanError::Refresh { .. } => Some(
                "check the provider's credentials and that it is reachable, then run the command again".to_string(),
            ),
            PlanError::UnknownTarget { suggestion, .. } => suggestion.clone(),
            PlanError::MissingProvider { address, provider } => Some(format!(
                "configure `{provider}` under `providers:` so strata can delete it, or forget it with `strata state rm {address}`"
            )),
        };
        help.map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// What is known about a resource's values while planning or applying: its resolved desired
/// attributes and its outputs (when the action leaves them as they are).
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub attrs: Option<Value>,
    pub outputs: Option<Value>,
}

/// Resolves `${...}` references in resource `i`'s attributes from what is known about other
/// resources, and turns `$${` escapes into literal `${`. Strings whose references are not known
/// yet keep their text as written; their paths are returned (empty: fully known).
///
/// The paths are the only record of what is unknown: a resolved string may legitimately read
/// `${...}` (from an escape, or copied from another resource), so looking for references in the
/// result would mistake it for one.
pub fn resolve_attrs(config: &Config, i: usize, known: &[Known]) -> (Value, Vec<Path>) {
    let refs = &config.refs[i];
    let mut v = config.resources[i].attrs.clone();
    let mut unknown = Vec::new();
    if !config.templated[i] {
        return (v, unknown);
    }
    resolve_value(&mut v, &mut Vec::new(), &mut unknown, &mut |site| {
        let Ok(RefExpr::Resource(raw)) = &site.expr else { return None };
        let r = refs.iter().find(|r| &r.raw == raw)?;
        let k = &known[r.target];
        let from_outputs =
            if r.is_output { k.outputs.as_ref().and_then(|o| strata_sdk::value::get(o, &r.attr)) } else { None };
        from_outputs.or_else(|| k.attrs.as_ref().and_then(|a| strata_sdk::value::get(a, &r.attr))).cloned()
    });
    (v, unknown)
}

/// One step of a path being walked, borrowing map keys (most strings hold no reference, so
/// paths are only built for the unknown ones).
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn resolve_value<'a>(
    v: &'a mut Value,
    at: &mut Vec<Seg<'a>>,
    unknown: &mut Vec<Path>,
    lookup: &mut dyn FnMut(&crate::spec::refs::RefSite) -> Option<Value>,
) {
    match v {
        Value::String(s) if s.contains("${") => match substitute(s, |site| lookup(site)) {
            Some(resolved) => *v = resolved,
            None => unknown.push(
                at.iter()
                    .map(|s| match s {
                        Seg::Key(k) => k.to_string(),
                        Seg::Index(i) => i.to_string(),
                    })
                    .collect(),
            ),
        },
        Value::Array(a) => {
            for (i, c) in a.iter_mut().enumerate() {
                at.push(Seg::Index(i));
                resolve_value(c, at, unknown, lookup);
                at.pop();
            }
        }
        Value::Object(m) => {
            for (k, c) in m.iter_mut() {
                at.push(Seg::Key(k.as_str()));
                resolve_value(c, at, unknown, lookup);
                at.pop();
            }
        }
        _ => {}
    }
}

/// Replaces the value at each of `unknown` (relative to `v`) with the "known after apply"
/// placeholder.
fn mark_unknown(v: &mut Value, unknown: &[&[String]]) {
    for p in unknown {
        let mut cur = Some(&mut *v);
        for seg in p.iter() {
            cur = match cur {
                Some(Value::Object(m)) => m.get_mut(seg),
                Some(Value::Array(a)) => seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => None,
            };
        }
        if let Some(slot) = cur {
            *slot = Value::String(UNKNOWN.into());
        }
    }
}

/// Runs a batched read for every request, one call per provider, with retries.
pub async fn refresh(
    requests: Vec<(Arc<dyn Provider>, ReadRequest<'_>)>,
    policy: &RetryPolicy,
) -> Result<HashMap<Address, Option<Observed>>, PlanError> {
    let mut by_provider: Vec<(Arc<dyn Provider>, Vec<ReadRequest<'_>>)> = Vec::new();
    for (p, r) in requests {
        match by_provider.iter_mut().find(|(q, _)| Arc::ptr_eq(q, &p)) {
            Some((_, list)) => list.push(r),
            None => by_provider.push((p, vec![r])),
        }
    }
    let reads = by_provider.into_iter().map(|(p, reqs)| async move {
        let mut out = HashMap::with_capacity(reqs.len());
        let mut pending = reqs;
        let mut attempt = 1;
        loop {
            let results = p.read(&pending).await;
            let mut retry = Vec::new();
            let mut last_err = None;
            for (req, res) in pending.into_iter().zip(results) {
                match res {
                    Ok(obs) => {
                        out.insert(req.address, obs);
                    }
                    Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                        last_err = Some(e);
                        retry.push(req);
                    }
                    Err(error) => {
                        return Err(PlanError::Refresh { address: req.address.to_string(), attempts: attempt, error });
                    }
                }
            }
            if retry.is_empty() {
                return Ok(out);
            }
            tokio::time::sleep(policy.delay(attempt, last_err.and_then(|e| e.retry_after))).await;
            attempt += 1;
            pending = retry;
        }
    });
    // The first provider's map is the result, not copied into a new one: at 100k resources a
    // second table is tens of MiB.
    let mut all: Option<HashMap<Address, Option<Observed>>> = None;
    for r in futures::future::join_all(reads).await {
        let r = r?;
        match &mut all {
            None => all = Some(r),
            Some(a) => a.extend(r),
        }
    }
    Ok(all.unwrap_or_default())
}

/// Selects resources named by `targets` (exact address or prefix) plus their dependencies, or,
/// when destroying, plus their dependents: destroying a target must not leave behind what
/// references it, and must not take down what it merely uses.
fn select_targets(
    config: &Config,
    state: &State,
    targets: &[Address],
    destroy: bool,
) -> Result<Option<Selection>, PlanError> {
    if targets.is_empty() {
        return Ok(None);
    }
    let matches = |a: &Address, t: &Address| a == t || a.as_str().starts_with(&format!("{}.", t.as_str()));
    let mut selected = vec![false; config.resources.len()];
    let mut stack = Vec::new();
    let mut state_only = BTreeSet::new();
    for t in targets {
        let mut hit = false;
        for (i, r) in config.resources.iter().enumerate() {
            if matches(&r.address, t) {
                stack.push(i);
                hit = true;
            }
        }
        for a in state.resources.keys() {
            if matches(a, t) && !config.index.contains_key(a) {
                state_only.insert(a.clone());
                hit = true;
            }
        }
        if !hit {
            let all: Vec<&str> = config
                .resources
                .iter()
                .map(|r| r.address.as_str())
                .chain(state.resources.keys().map(Address::as_str))
                .collect();
            return Err(PlanError::UnknownTarget {
                target: t.to_string(),
                suggestion: crate::diag::did_you_mean(t.as_str(), all),
            });
        }
    }
    if destroy {
        // Dependents, transitively, from both the spec's graph and the dependencies state
        // recorded (state is what a destroy deletes).
        let mut chosen: BTreeSet<Address> = stack.iter().map(|&i| config.resources[i].address.clone()).collect();
        chosen.extend(state_only.iter().cloned());
        loop {
            let before = chosen.len();
            for (i, ds) in config.deps.iter().enumerate() {
                if ds.iter().any(|&d| chosen.contains(&config.resources[d].address)) {
                    chosen.insert(config.resources[i].address.clone());
                }
            }
            for (a, r) in &state.resources {
                if r.depends_on.iter().any(|d| chosen.contains(d)) {
                    chosen.insert(a.clone());
                }
            }
            if chosen.len() == before {
                break;
            }
        }
        for a in chosen {
            match config.index.get(&a) {
                Some(&i) => selected[i] = true,
                None => {
                    state_only.insert(a);
                }
            }
        }
        return Ok(Some((selected, state_only)));
    }
    while let Some(i) = stack.pop() {
        if !selected[i] {
            selected[i] = true;
            stack.extend(config.deps[i].iter().copied());
        }
    }
    Ok(Some((selected, state_only)))
}

/// Makes a plan.
pub async fn plan(config: &Config, state: &State, opts: &PlanOptions) -> Result<Plan, PlanError> {
    plan_salted(config, state, opts, &uuid::Uuid::new_v4().simple().to_string()).await
}

/// Makes a plan whose digests use `salt` (re-planning a saved plan to compare digests).
pub async fn plan_salted(config: &Config, state: &State, opts: &PlanOptions, salt: &str) -> Result<Plan, PlanError> {
    let scope = Scope { selection: select_targets(config, state, &opts.targets, opts.destroy)? };
    let removed = removed_entries(config, state, opts, &scope);
    let mut observed = if opts.refresh {
        refresh(read_requests(config, state, opts, &scope, &removed)?, &opts.retry).await?
    } else {
        HashMap::new()
    };

    let mut changes =
        if opts.destroy { Vec::new() } else { plan_desired(config, state, opts, &scope, &mut observed, salt) };
    let mut warnings = Vec::new();
    changes.extend(plan_deletes(config, state, opts, &removed, &observed, salt, &mut warnings));

    let summary = Summary::count(&changes);
    let has_state = state.serial > 0 || !state.resources.is_empty();
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        strata_version: env!("CARGO_PKG_VERSION").to_string(),
        project: config.parsed.project.clone(),
        env: config.parsed.env.clone(),
        lineage: has_state.then(|| state.lineage.clone()),
        serial: has_state.then_some(state.serial),
        refreshed: opts.refresh,
        destroy: opts.destroy,
        targets: opts.targets.clone(),
        salt: salt.to_string(),
        changes,
        summary,
        warnings: if warnings.is_empty() {
            warnings
        } else {
            // State may hold secrets this spec no longer reads (rotated): redact those too.
            let r = with_state_secrets(&config.redactor, state);
            warnings.into_iter().map(|w| r.redact_str(&w)).collect()
        },
    })
}

/// Which resources a plan covers: all of them, or those `--target` selected (by index into the
/// spec's resources) plus state-only addresses it selected.
struct Scope {
    selection: Option<Selection>,
}

/// `--target`'s selection: a flag per resource of the spec, and the state-only addresses.
type Selection = (Vec<bool>, BTreeSet<Address>);

/// Reads for a refresh, each with the provider that serves it.
type ReadRequests<'a> = Vec<(Arc<dyn Provider>, ReadRequest<'a>)>;

impl Scope {
    fn includes(&self, i: usize) -> bool {
        self.selection.as_ref().is_none_or(|(s, _)| s[i])
    }

    fn includes_state_only(&self, a: &Address) -> bool {
        self.selection.as_ref().is_none_or(|(_, so)| so.contains(a))
    }
}

/// The state entries going away: all in scope when destroying, else those no longer in the spec.
fn removed_entries<'s>(config: &Config, state: &'s State, opts: &PlanOptions, scope: &Scope) -> Vec<&'s Address> {
    state
        .resources
        .keys()
        .filter(|a| opts.destroy || !config.index.contains_key(*a))
        .filter(|a| {
            if opts.destroy {
                scope.selection.is_none()
                    || scope.includes_state_only(a)
                    || config.index.get(*a).is_some_and(|&i| scope.includes(i))
            } else {
                scope.includes_state_only(a)
            }
        })
        .collect()
}

/// One read per resource in scope and per entry going away, for the batched refresh.
fn read_requests<'a>(
    config: &'a Config,
    state: &'a State,
    opts: &PlanOptions,
    scope: &Scope,
    removed: &[&'a Address],
) -> Result<ReadRequests<'a>, PlanError> {
    let mut requests = Vec::new();
    if !opts.destroy {
        // The desired documents as written: identity attributes rarely hold references, and
        // nothing is known about other resources yet anyway.
        for r in config.resources.iter().enumerate().filter(|(i, _)| scope.includes(*i)).map(|(_, r)| r) {
            let p = config.providers.get(&r.provider).ok_or_else(|| PlanError::MissingProvider {
                address: r.address.to_string(),
                provider: r.provider.clone(),
            })?;
            let prior = state.resources.get(&r.address);
            requests.push((
                p.clone(),
                ReadRequest {
                    address: r.address.clone(),
                    kind: r.kind.clone(),
                    remote_id: prior.map(|p| p.remote_id.clone()),
                    attrs: Some(&r.attrs),
                },
            ));
        }
    }
    for a in removed {
        let s = &state.resources[*a];
        let p = config
            .providers
            .get(&s.provider)
            .ok_or_else(|| PlanError::MissingProvider { address: a.to_string(), provider: s.provider.clone() })?;
        requests.push((
            p.clone(),
            ReadRequest {
                address: (*a).clone(),
                kind: s.kind.clone(),
                remote_id: Some(s.remote_id.clone()),
                attrs: Some(&s.attrs),
            },
        ));
    }
    Ok(requests)
}

/// One change per resource of the spec in scope, in topological order, resolving references
/// from what the resources before it are known to hold.
fn plan_desired(
    config: &Config,
    state: &State,
    opts: &PlanOptions,
    scope: &Scope,
    observed: &mut HashMap<Address, Option<Observed>>,
    salt: &str,
) -> Vec<Change> {
    let redactor = &config.redactor;
    let mut changes = Vec::new();
    let mut known = vec![Known::default(); config.resources.len()];
    // Only what some reference points at is looked up again: keeping every resolved
    // document until the end would double what a 100k-resource plan holds.
    let mut referenced = vec![false; config.resources.len()];
    for r in config.refs.iter().flatten() {
        referenced[r.target] = true;
    }
    for i in config.topo_order() {
        let r = &config.resources[i];
        let (resolved, unknown) = resolve_attrs(config, i, &known);
        let fully_known = unknown.is_empty();
        let prior = state.resources.get(&r.address);
        if !scope.includes(i) {
            // Out of scope: keep what state knows so in-scope dependents can resolve.
            if let Some(prior) = prior.filter(|_| referenced[i]) {
                known[i] = Known { attrs: Some(prior.attrs.clone()), outputs: Some(prior.outputs.clone()) };
            }
            continue;
        }
        let mut schema = config.providers.get(&r.provider).map(|p| p.schema(&r.kind)).unwrap_or_default();
        // Paths state recorded as sensitive (the kind's when applied, and those that held a
        // secret): the values there now may be an old secret the spec no longer reads.
        with_recorded_sensitive(&mut schema, prior.map(|p| p.sensitive.as_slice()).unwrap_or_default());
        // Taken out of the map, not cloned: at 100k resources the observed objects are the
        // largest thing a plan holds.
        let obs = if opts.refresh { observed.remove(&r.address).flatten() } else { None };
        let mut change = Change {
            address: r.address.clone(),
            provider: r.provider.clone(),
            kind: r.kind.clone(),
            action: Action::NoOp,
            reason: None,
            attributes: Vec::new(),
            after: None,
            before: None,
            depends_on: config.deps[i].iter().map(|&d| config.resources[d].address.clone()).collect(),
            foreign: None,
            recovered_remote_id: None,
            digest: String::new(),
        };
        let current = remote_view(&mut change, obs, prior, opts.refresh, schema.fields_only);
        match current {
            None => {
                change.action = Action::Create;
                let mut after = resolved.clone();
                mark_unknown(&mut after, &unknown.iter().map(Vec::as_slice).collect::<Vec<_>>());
                mask(&mut after, &schema, redactor);
                change.after = Some(after);
                change.digest = digest(salt, &change, &resolved, prior.map(|p| &p.attrs), &schema, redactor);
                if referenced[i] {
                    known[i] = Known { attrs: fully_known.then_some(resolved), outputs: None };
                }
            }
            Some((actual, outputs)) => {
                let diffs = diff_with_unknowns(&resolved, &unknown, prior.map(|p| &p.attrs), &actual, &schema);
                decide_in_place_action(&mut change, &diffs, prior, &r.kind, &r.provider);
                change.attributes = diffs.into_iter().map(|d| mask_change(d, &schema, redactor)).collect();
                change.digest = digest(salt, &change, &resolved, prior.map(|p| &p.attrs), &schema, redactor);
                if referenced[i] {
                    let outputs = (change.action != Action::Replace).then_some(outputs);
                    known[i] = Known { attrs: fully_known.then_some(resolved), outputs };
                }
            }
        }
        changes.push(change);
    }
    changes
}

/// What the remote side holds for a resource of the spec: the attributes and outputs observed
/// when refreshed, else what state recorded; `None` when it has to be created. Records on the
/// change why (found without state, deleted outside strata) and whether it is someone else's.
fn remote_view(
    change: &mut Change,
    obs: Option<Observed>,
    prior: Option<&ResourceState>,
    refreshed: bool,
    fields_only: bool,
) -> Option<(Value, Value)> {
    if let (Some(o), None) = (&obs, prior)
        && o.ownership == Ownership::Ours
    {
        change.reason = Some(if fields_only {
            "it exists; strata will set the fields it manages and leave the rest to its owner".into()
        } else {
            "found remotely with strata's marks but missing from state (an interrupted run created it); it will be recorded".into()
        });
        change.recovered_remote_id = Some(o.remote_id.clone());
    }
    match (obs, prior, refreshed) {
        (Some(o), _, _) if o.ownership == Ownership::Ours => Some((o.attrs, o.outputs)),
        (Some(o), Some(p), _) => {
            // State says we own it, but its marks now say otherwise (relabelled, taken
            // over): show the diff, but apply refuses to touch it until it is imported.
            change.foreign = Some(format!(
                "{}; strata recorded it but its marks no longer say it is strata's (`strata import {}` takes it back)",
                foreign_detail(&o.ownership),
                change.address
            ));
            Some((o.attrs, if o.outputs.is_null() { p.outputs.clone() } else { o.outputs }))
        }
        (Some(o), None, _) => {
            change.foreign = Some(describe_ownership(&o.ownership));
            None
        }
        (None, Some(p), false) => Some((p.attrs.clone(), p.outputs.clone())),
        (None, Some(_), true) => {
            change.reason = Some("it no longer exists remotely (deleted outside strata)".into());
            None
        }
        (None, None, _) => None,
    }
}

/// For a resource that exists: replace (its kind or provider changed, or an attribute that
/// cannot change in place did), update (something differs, or state must learn of an object an
/// interrupted run created), or nothing.
fn decide_in_place_action(
    change: &mut Change,
    diffs: &[AttrChange],
    prior: Option<&ResourceState>,
    kind: &str,
    provider: &str,
) {
    let forces: Vec<&AttrChange> = diffs.iter().filter(|d| d.forces_replacement).collect();
    if let Some(p) = prior.filter(|p| p.kind != kind || p.provider != provider) {
        change.action = Action::Replace;
        change.reason = Some(format!("its kind changed from `{}` to `{kind}`", p.kind));
    } else if !forces.is_empty() {
        change.action = Action::Replace;
        let names: Vec<String> = forces.iter().map(|d| format!("`{}`", d.path)).collect();
        change.reason = Some(format!("{} cannot be changed in place", names.join(", ")));
    } else if !diffs.is_empty() {
        change.action = Action::Update;
    } else if change.recovered_remote_id.is_some() {
        // Nothing to change, but state must learn about it: an update is the
        // cheapest idempotent call that returns its outputs.
        change.action = Action::Update;
    }
}

/// Deletes, dependents first: reverse topological order over state's recorded dependencies.
/// An object whose marks no longer say it is strata's is listed but never deleted.
fn plan_deletes(
    config: &Config,
    state: &State,
    opts: &PlanOptions,
    removed: &[&Address],
    observed: &HashMap<Address, Option<Observed>>,
    salt: &str,
    warnings: &mut Vec<String>,
) -> Vec<Change> {
    let redactor = &config.redactor;
    let mut deletes: Vec<Change> = Vec::new();
    for a in order_deletes(state, removed) {
        let s = &state.resources[&a];
        if opts.refresh && observed.get(&a).is_some_and(Option::is_none) {
            warnings.push(format!("{a} is already gone remotely; it will be removed from state"));
        }
        let foreign = match observed.get(&a) {
            Some(Some(o)) if o.ownership != Ownership::Ours => Some(format!(
                "{}; strata recorded it but its marks no longer say it is strata's, so it will not delete it (`strata state rm {a}` forgets it)",
                foreign_detail(&o.ownership)
            )),
            _ => None,
        };
        let mut schema = config.providers.get(&s.provider).map(|p| p.schema(&s.kind)).unwrap_or_default();
        with_recorded_sensitive(&mut schema, &s.sensitive);
        let mut before = s.attrs.clone();
        mask(&mut before, &schema, redactor);
        let mut change = Change {
            address: a.clone(),
            provider: s.provider.clone(),
            kind: s.kind.clone(),
            action: Action::Delete,
            reason: Some(if opts.destroy {
                "destroy was requested".into()
            } else {
                "it is no longer in the spec".into()
            }),
            attributes: Vec::new(),
            after: None,
            before: Some(before),
            depends_on: Vec::new(),
            foreign,
            recovered_remote_id: None,
            digest: String::new(),
        };
        change.digest = digest(salt, &change, &s.attrs, Some(&s.attrs), &schema, redactor);
        deletes.push(change);
    }
    deletes
}

/// What the provider said about an object that is not strata's.
fn foreign_detail(o: &Ownership) -> &str {
    match o {
        Ownership::Ours => "managed by strata",
        Ownership::Foreign { detail } => detail,
    }
}

fn describe_ownership(o: &Ownership) -> String {
    match o {
        Ownership::Ours => "managed by strata".into(),
        Ownership::Foreign { detail } => {
            format!("{detail}; strata will not adopt it silently: run `strata import <address>` to manage it")
        }
    }
}

/// Reverse dependency order for deletes, from the dependencies recorded in state.
pub fn order_deletes(state: &State, removed: &[&Address]) -> Vec<Address> {
    let set: BTreeSet<&Address> = removed.iter().copied().collect();
    let list: Vec<&Address> = set.iter().copied().collect();
    let pos: HashMap<&Address, usize> = list.iter().enumerate().map(|(i, a)| (*a, i)).collect();
    let deps: Vec<Vec<usize>> = list
        .iter()
        .map(|a| state.resources[*a].depends_on.iter().filter_map(|d| pos.get(d).copied()).collect())
        .collect();
    let mut order = crate::graph::topo_order(&deps);
    // Anything left out (a cycle in corrupt state) still gets deleted, last.
    let seen: BTreeSet<usize> = order.iter().copied().collect();
    order.extend((0..list.len()).filter(|i| !seen.contains(i)));
    order.reverse();
    order.into_iter().map(|i| list[i].clone()).collect()
}

/// The digest of a change: a salted SHA-256 of the address, the action, the attribute paths
/// that change, and the resolved attributes with every secret-bearing value masked. Secret
/// values never enter it (the salt is in the plan file, so a digest over a secret could be
/// checked against guesses offline); for each of them it records instead whether it equals what
/// state holds at that path, so a secret that changes between plan and apply relative to what
/// is applied still changes the digest.
fn digest(
    salt: &str,
    change: &Change,
    resolved: &Value,
    prior: Option<&Value>,
    schema: &KindSchema,
    redactor: &Redactor,
) -> String {
    let mut masked = resolved.clone();
    mask(&mut masked, schema, redactor);
    let mut hidden = Vec::new();
    hidden_leaves(resolved, &masked, &mut Vec::new(), &mut hidden);
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(change.address.as_str().as_bytes());
    h.update(format!("{:?}", change.action).as_bytes());
    h.update(serde_json::to_vec(&masked).expect("serializes"));
    for a in &change.attributes {
        h.update(serde_json::to_vec(&a.pointer).expect("serializes"));
    }
    for path in hidden {
        let same = prior.and_then(|p| strata_sdk::value::get(p, &path)) == strata_sdk::value::get(resolved, &path);
        h.update(serde_json::to_vec(&path).expect("serializes"));
        h.update([same as u8]);
    }
    let out = h.finalize();
    out.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Paths of the leaves `masked` hides (the placeholder where `original` has something else).
fn hidden_leaves(original: &Value, masked: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match (original, masked) {
        (Value::Object(o), Value::Object(m)) => {
            for (k, v) in o {
                path.push(k.clone());
                match m.get(k) {
                    Some(mv) => hidden_leaves(v, mv, path, out),
                    // A key that held a secret was renamed by masking.
                    None => out.push(path.clone()),
                }
                path.pop();
            }
        }
        (Value::Array(o), Value::Array(m)) => {
            for (i, (v, mv)) in o.iter().zip(m).enumerate() {
                path.push(i.to_string());
                hidden_leaves(v, mv, path, out);
                path.pop();
            }
        }
        (o, Value::String(m)) if m == SENSITIVE && o.as_str() != Some(SENSITIVE) => out.push(path.clone()),
        _ => {}
    }
}

/// Adds the sensitive paths state recorded for a resource to its kind's.
pub(crate) fn with_recorded_sensitive(schema: &mut KindSchema, recorded: &[String]) {
    for p in recorded {
        if !schema.sensitive.iter().any(|q| &q.0 == p) {
            schema.sensitive.push(strata_sdk::PathPattern::new(p.clone()));
        }
    }
}

/// `redactor` plus the values state holds at sensitive paths (secrets applied before a rotation),
/// for text such as warnings and errors.
pub fn with_state_secrets(redactor: &Redactor, state: &State) -> Redactor {
    redactor.with(
        state
            .resources
            .values()
            .flat_map(|r| crate::redact::values_under(&r.attrs, r.sensitive.iter().map(String::as_str))),
    )
}

fn mask(v: &mut Value, schema: &KindSchema, redactor: &Redactor) {
    crate::redact::mask_patterns(v, schema.sensitive.iter().map(|p| p.0.as_str()));
    redactor.redact_value(v);
}

/// Masks an attribute change: whole when its path is sensitive; otherwise the sensitive paths
/// below it (a list replaced whole still hides the secrets in its items), and on both sides the
/// places where either side holds a secret (the other side there is the value before or after
/// a rotation).
pub(crate) fn mask_change(mut c: AttrChange, schema: &KindSchema, redactor: &Redactor) -> AttrChange {
    let patterns = || schema.sensitive.iter().map(|p| p.0.as_str());
    let mut holding: Vec<String> = Vec::new();
    for v in [&c.before, &c.after].into_iter().flatten() {
        holding.extend(crate::redact::secret_paths(v, redactor));
    }
    if holding.iter().any(String::is_empty) {
        c.sensitive = true;
    }
    for v in [c.before.as_mut(), c.after.as_mut()].into_iter().flatten() {
        if crate::redact::mask_below(v, &c.pointer, patterns()) {
            c.sensitive = true;
        }
        crate::redact::mask_patterns(v, holding.iter().map(String::as_str));
        redactor.redact_value(v);
    }
    if c.sensitive {
        c.before = c.before.map(|_| Value::String(SENSITIVE.into()));
        c.after = c.after.map(|_| Value::String(SENSITIVE.into()));
    }
    c
}

/// Attribute differences between `desired` and `actual`, looking only at what `desired` sets and
/// at what strata set last time (`previous`) but no longer does.
pub fn diff(desired: &Value, previous: Option<&Value>, actual: &Value, schema: &KindSchema) -> Vec<AttrChange> {
    diff_with_unknowns(desired, &[], previous, actual, schema)
}

/// [`diff`] of a desired document whose values at `unknown` are only known after apply: a
/// change there (or holding one) is marked so, and shows the placeholder instead of the text.
pub fn diff_with_unknowns(
    desired: &Value,
    unknown: &[Path],
    previous: Option<&Value>,
    actual: &Value,
    schema: &KindSchema,
) -> Vec<AttrChange> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    let cx = Walk { schema, unknown };
    walk(&cx, desired, previous, Some(actual), &mut path, &mut out);
    out
}

struct Walk<'a> {
    schema: &'a KindSchema,
    unknown: &'a [Path],
}

fn walk(
    cx: &Walk<'_>,
    desired: &Value,
    previous: Option<&Value>,
    actual: Option<&Value>,
    path: &mut Vec<String>,
    out: &mut Vec<AttrChange>,
) {
    let schema = cx.schema;
    if !path.is_empty() && schema.is_ignored(path) {
        return;
    }
    match (desired, actual) {
        (Value::Object(d), Some(Value::Object(a))) => {
            for (k, dv) in d {
                path.push(k.clone());
                walk(cx, dv, previous.and_then(|p| p.get(k)), a.get(k), path, out);
                path.pop();
            }
            // Keys strata set before and the spec dropped: remove them if still there.
            if let Some(Value::Object(prev)) = previous {
                for (k, _) in prev.iter().filter(|(k, _)| !d.contains_key(*k)) {
                    if let Some(av) = a.get(k) {
                        path.push(k.clone());
                        if !schema.is_ignored(path) {
                            out.push(change(cx, path, Some(av.clone()), None));
                        }
                        path.pop();
                    }
                }
            }
        }
        (Value::Array(d), Some(Value::Array(a))) if d.len() == a.len() => {
            for (idx, (dv, av)) in d.iter().zip(a).enumerate() {
                path.push(idx.to_string());
                let pv = previous.and_then(|p| p.get(idx));
                walk(cx, dv, pv, Some(av), path, out);
                path.pop();
            }
        }
        (d, a) => {
            if a.is_some_and(|a| values_equal(d, a)) {
                return;
            }
            out.push(change(cx, path, a.cloned(), Some(d.clone())));
        }
    }
}

fn change(cx: &Walk<'_>, path: &[String], before: Option<Value>, mut after: Option<Value>) -> AttrChange {
    let schema = cx.schema;
    let below: Vec<&[String]> = cx.unknown.iter().filter_map(|u| u.strip_prefix(path)).collect();
    let known_after_apply = after.is_some() && !below.is_empty();
    if let Some(a) = after.as_mut() {
        mark_unknown(a, &below);
    }
    AttrChange {
        path: strata_sdk::value::display_path(path),
        pointer: path.to_vec(),
        before,
        after,
        sensitive: schema.is_sensitive(path),
        forces_replacement: schema.forces_new(path),
        known_after_apply,
    }
}

/// Equality that treats `1` and `1.0` as the same number.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use strata_sdk::PathPattern;

    #[test]
    fn diff_ignores_server_defaults_and_sees_removals() {
        let desired = json!({"spec": {"replicas": 3, "ports": [{"port": 80}]}});
        let previous = json!({"spec": {"replicas": 2, "ports": [{"port": 80}], "paused": true}});
        let actual = json!({"spec": {"replicas": 2, "ports": [{"port": 80, "protocol": "TCP"}], "paused": true, "clusterIP": "10.0.0.1"}});
        let d = diff(&desired, Some(&previous), &actual, &KindSchema::default());
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["spec.replicas", "spec.paused"]);
        assert_eq!(d[1].after, None);
    }

    #[test]
    fn diff_marks_replacement_sensitive_and_ignored() {
        let schema = KindSchema {
            force_new: vec![PathPattern::new("/metadata/name")],
            sensitive: vec![PathPattern::new("/data")],
            ignore_changes: vec![PathPattern::new("/spec/replicas")],
            ..KindSchema::default()
        };
        let d = diff(
            &json!({"metadata": {"name": "b"}, "data": {"k": "new"}, "spec": {"replicas": 1}}),
            None,
            &json!({"metadata": {"name": "a"}, "data": {"k": "old"}, "spec": {"replicas": 5}}),
            &schema,
        );
        assert_eq!(d.len(), 2);
        assert!(d[0].forces_replacement);
        assert!(d[1].sensitive);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(values_equal(&json!(1), &json!(1.0)));
        assert!(!values_equal(&json!("1"), &json!(1)));
    }
}
