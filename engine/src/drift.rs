//! Drift detection: a refresh-only comparison of what exists against what strata last applied
//! (state), on the attributes strata manages.
//!
//! Each difference is classified:
//! - `changed`: someone else changed a value strata set;
//! - `removed`: a value strata set is gone from the remote object;
//! - a resource that no longer exists is `deleted`;
//! - differences the spec accepts (`drift.ignore`, with a reason) are `accepted`: reported with
//!   their reason, never counted as drift;
//! - fields the remote object has and strata never set (server defaults, fields written by
//!   controllers) are `unmanaged`: listed, never drift. Fields a kind declares
//!   `ignore_changes` (an HPA-managed replica count) are not compared at all.
//!
//! `--shard I/N` checks the resources whose address hashes to `I` modulo `N` (FNV-1a, stable
//! across runs, machines and versions), so N jobs together check every resource exactly once.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use strata_sdk::{Address, Provider, ReadRequest};

use crate::config::Config;
use crate::plan::{AttrChange, PlanError, diff, mask_change, refresh, with_recorded_sensitive};
use crate::retry::RetryPolicy;
use crate::state::State;

pub use crate::lower::drift_policy::{DriftPolicy, IgnoreRule};

/// Drift: resources whose remote objects no longer match what strata applied.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub project: String,
    pub env: String,
    /// `I/N` when only one shard of the resources was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Resources read (those of the shard).
    pub checked: usize,
    /// Resources with drift that is not accepted: changed by someone else or deleted.
    pub drifted: Vec<DriftedResource>,
    /// Resources whose every difference the spec accepts (`drift.ignore`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<DriftedResource>,
    /// Per resource, remote fields strata does not manage (server defaults, controllers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<UnmanagedFields>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftedResource {
    pub address: String,
    pub kind: String,
    /// `changed`, `deleted`, or `accepted` (in [`DriftReport::accepted`]).
    pub status: &'static str,
    /// Differences that count as drift.
    pub attributes: Vec<DriftAttr>,
    /// Differences the spec accepts, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted: Vec<AcceptedAttr>,
}

/// One difference and its cause.
#[derive(Debug, Clone, Serialize)]
pub struct DriftAttr {
    #[serde(flatten)]
    pub change: AttrChange,
    /// `changed` (another value now) or `removed` (the attribute is gone remotely).
    pub cause: &'static str,
}

/// A difference the spec accepts.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptedAttr {
    #[serde(flatten)]
    pub change: AttrChange,
    /// The `reason` of the `drift.ignore` rule that accepts it.
    pub reason: String,
}

/// Remote fields of one resource that strata never set.
#[derive(Debug, Clone, Serialize)]
pub struct UnmanagedFields {
    pub address: String,
    /// Dotted paths of the outermost such fields (`status`, `spec.strategy`).
    pub paths: Vec<String>,
}

/// One of `N` deterministic slices of the resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `I/N` with `0 <= I < N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("`{s}` is not I/N (like 0/4)"))?;
        let index: u32 = i.trim().parse().map_err(|_| format!("`{i}` is not a shard index"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("`{n}` is not a shard count"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: the index is 0 to {}", count.saturating_sub(1)));
        }
        Ok(Shard { index, count })
    }

    /// Whether `address` belongs to this shard: FNV-1a (64-bit) of the address modulo N.
    pub fn contains(&self, address: &Address) -> bool {
        (fnv1a(address.as_str().as_bytes()) % u64::from(self.count)) as u32 == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What `strata drift` checks beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct DriftOptions {
    pub shard: Option<Shard>,
}

/// Compares every resource in state with what its provider reads now.
pub async fn detect(config: &Config, state: &State, retry: &RetryPolicy) -> Result<DriftReport, PlanError> {
    detect_with(config, state, retry, &DriftOptions::default()).await
}

/// [`detect`] with options (a shard).
pub async fn detect_with(
    config: &Config,
    state: &State,
    retry: &RetryPolicy,
    options: &DriftOptions,
) -> Result<DriftReport, PlanError> {
    let redactor = &config.redactor;
    let policy = DriftPolicy::from_doc(&config.parsed.doc);
    let in_scope = |a: &Address| options.shard.is_none_or(|s| s.contains(a));
    let mut requests: Vec<(Arc<dyn Provider>, ReadRequest<'_>)> = Vec::new();
    for (address, r) in state.resources.iter().filter(|(a, _)| in_scope(a)) {
        let p = config
            .providers
            .get(&r.provider)
            .ok_or_else(|| PlanError::MissingProvider { address: address.to_string(), provider: r.provider.clone() })?;
        requests.push((
            p.clone(),
            ReadRequest {
                address: address.clone(),
                kind: r.kind.clone(),
                remote_id: Some(r.remote_id.clone()),
                attrs: Some(&r.attrs),
            },
        ));
    }
    let checked = requests.len();
    let observed = refresh(requests, retry).await?;
    let mut report = DriftReport {
        project: config.parsed.project.clone(),
        env: config.parsed.env.clone(),
        shard: options.shard.map(|s| s.to_string()),
        checked,
        drifted: Vec::new(),
        accepted: Vec::new(),
        unmanaged: Vec::new(),
    };
    for (address, r) in state.resources.iter().filter(|(a, _)| in_scope(a)) {
        let mut schema = config.providers.get(&r.provider).map(|p| p.schema(&r.kind)).unwrap_or_default();
        with_recorded_sensitive(&mut schema, &r.sensitive);
        let Some(o) = observed.get(address).cloned().flatten() else {
            report.drifted.push(DriftedResource {
                address: address.to_string(),
                kind: r.kind.clone(),
                status: "deleted",
                attributes: Vec::new(),
                accepted: Vec::new(),
            });
            continue;
        };
        let mut unmanaged = Vec::new();
        unmanaged_paths(&r.attrs, &o.attrs, &mut Vec::new(), &mut unmanaged);
        if !unmanaged.is_empty() {
            report.unmanaged.push(UnmanagedFields { address: address.to_string(), paths: unmanaged });
        }
        let mut attributes = Vec::new();
        let mut accepted = Vec::new();
        // "desired" here is what was applied; before = applied, after = now.
        for mut c in diff(&r.attrs, None, &o.attrs, &schema) {
            std::mem::swap(&mut c.before, &mut c.after);
            let mut c = mask_change(c, &schema, redactor);
            c.forces_replacement = false;
            match policy.reason_for(address, &c.pointer) {
                // A reason is free text from the spec: a `${secret...}` in it is masked too.
                Some(reason) => accepted.push(AcceptedAttr { change: c, reason: redactor.redact_str(reason) }),
                None => {
                    let cause = if c.after.is_none() { "removed" } else { "changed" };
                    attributes.push(DriftAttr { change: c, cause });
                }
            }
        }
        let entry = |status, attributes, accepted| DriftedResource {
            address: address.to_string(),
            kind: r.kind.clone(),
            status,
            attributes,
            accepted,
        };
        if !attributes.is_empty() {
            report.drifted.push(entry("changed", attributes, accepted));
        } else if !accepted.is_empty() {
            report.accepted.push(entry("accepted", attributes, accepted));
        }
    }
    Ok(report)
}

/// The outermost paths present in `observed` and absent from `applied`.
fn unmanaged_paths(applied: &Value, observed: &Value, at: &mut Vec<String>, out: &mut Vec<String>) {
    match (applied, observed) {
        (Value::Object(a), Value::Object(o)) => {
            for (k, v) in o {
                at.push(k.clone());
                match a.get(k) {
                    None => out.push(at.join(".")),
                    Some(av) => unmanaged_paths(av, v, at, out),
                }
                at.pop();
            }
        }
        (Value::Array(a), Value::Array(o)) => {
            for (i, (av, ov)) in a.iter().zip(o).enumerate() {
                at.push(i.to_string());
                unmanaged_paths(av, ov, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shards_cover_every_address_exactly_once() {
        let addresses: Vec<Address> =
            (0..10_000).map(|i| Address::parse(&format!("resources.r{i}")).unwrap()).collect();
        for n in [1u32, 2, 3, 7, 16] {
            let mut counts = vec![0u32; addresses.len()];
            let mut sizes = Vec::new();
            for i in 0..n {
                let shard = Shard { index: i, count: n };
                let mut size = 0;
                for (j, a) in addresses.iter().enumerate() {
                    if shard.contains(a) {
                        counts[j] += 1;
                        size += 1;
                    }
                }
                sizes.push(size);
            }
            assert!(counts.iter().all(|c| *c == 1), "n = {n}");
            // Balanced within 10% of the mean.
            let mean = addresses.len() as f64 / f64::from(n);
            assert!(sizes.iter().all(|s| (f64::from(*s) - mean).abs() <= mean * 0.1), "{n}: {sizes:?}");
        }
        // Stable: the hash of an address never changes (a fixed value).
        assert_eq!(fnv1a(b"resources.r0"), 0x1bcb336f36a43c6);
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x").is_err());
    }

    #[test]
    fn unmanaged_fields_are_the_outermost_unset_paths() {
        let applied = json!({"spec": {"replicas": 3, "ports": [{"port": 80}]}, "metadata": {"name": "a"}});
        let observed = json!({"spec": {"replicas": 3, "strategy": {"type": "RollingUpdate"}, "ports": [{"port": 80, "protocol": "TCP"}]},
            "metadata": {"name": "a", "uid": "x"}, "status": {"ready": 1}});
        let mut out = Vec::new();
        unmanaged_paths(&applied, &observed, &mut Vec::new(), &mut out);
        assert_eq!(out, ["spec.strategy", "spec.ports.0.protocol", "metadata.uid", "status"]);
    }
}
