//! `strata import`: adopt an existing remote object into the state.

use strata_sdk::Address;

use super::{Events, OpsError, backend_warnings};
use crate::apply::sensitive_paths;
use crate::config::Config;
use crate::diag::did_you_mean;
use crate::state::{ResourceState, StateBackend};

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// A resource of the spec.
    pub address: Address,
}

/// An import that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub address: Address,
    pub remote_id: String,
    /// The state's serial after the import.
    pub serial: u64,
}

/// The index of `address` among the spec's resources, or [`OpsError::NotInSpec`] with a
/// suggestion. Cheap and offline: callers check before taking the lock.
pub fn resource_index(config: &Config, address: &Address) -> Result<usize, OpsError> {
    config.index.get(address).copied().ok_or_else(|| OpsError::NotInSpec {
        address: address.clone(),
        suggestion: did_you_mean(address.as_str(), config.resources.iter().map(|r| r.address.as_str())),
    })
}

/// Asks the resource's provider to adopt the object (add strata's ownership marks) and records
/// it in the state, serial + 1. The caller holds the lock.
///
/// Fails with [`OpsError::NotInSpec`], [`OpsError::AlreadyManaged`], [`OpsError::AdoptFailed`]
/// or [`OpsError::State`].
pub async fn import(
    config: &Config,
    backend: &dyn StateBackend,
    opts: &ImportOptions,
    events: &Events,
) -> Result<Imported, OpsError> {
    let addr = &opts.address;
    let i = resource_index(config, addr)?;
    let r = &config.resources[i];
    let mut state = backend.read().await?.unwrap_or_default();
    backend_warnings(backend, events).await;
    if state.resources.contains_key(addr) {
        return Err(OpsError::AlreadyManaged { address: addr.clone() });
    }
    let provider = config.providers.get(&r.provider).expect("configured");
    let applied = provider.adopt(r).await.map_err(|source| OpsError::AdoptFailed { address: addr.clone(), source })?;
    let schema = provider.schema(&r.kind);
    // As apply records them: the kind's patterns plus every path holding a secret, in the
    // adopted object or in the spec's document for it (a later rotation must still be masked).
    let mut sensitive = sensitive_paths(&schema, &applied.attrs, &config.redactor);
    for p in sensitive_paths(&schema, &r.attrs, &config.redactor) {
        if !sensitive.contains(&p) {
            sensitive.push(p);
        }
    }
    let remote_id = applied.remote_id.clone();
    state.resources.insert(
        addr.clone(),
        ResourceState {
            provider: r.provider.clone(),
            kind: r.kind.clone(),
            remote_id: applied.remote_id,
            attrs: applied.attrs,
            outputs: applied.outputs,
            depends_on: config.deps[i].iter().map(|&d| config.resources[d].address.clone()).collect(),
            sensitive,
        },
    );
    state.serial += 1;
    backend.write(&state).await?;
    Ok(Imported { address: addr.clone(), remote_id, serial: state.serial })
}
