//! `strata state rm` and `strata state mv`: edits of the state that leave remote objects alone.
//! The caller holds the lock; each edit is one write, serial + 1.

use strata_sdk::Address;

use super::{Events, OpsError, backend_warnings};
use crate::diag::did_you_mean;
use crate::state::{State, StateBackend};

/// An edit that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// How many resources it removed or moved.
    pub resources: usize,
    /// The state's serial after the edit.
    pub serial: u64,
}

fn not_in_state(address: &Address, state: &State) -> OpsError {
    OpsError::NotInState {
        address: address.clone(),
        suggestion: did_you_mean(address.as_str(), state.resources.keys().map(Address::as_str)),
    }
}

/// Removes `addresses` from the state (the remote objects stay). All or nothing: fails with
/// [`OpsError::NotInState`] on the first address the state does not have, writing nothing.
pub async fn rm(backend: &dyn StateBackend, addresses: &[Address], events: &Events) -> Result<Edited, OpsError> {
    let mut state = backend.read().await?.unwrap_or_default();
    backend_warnings(backend, events).await;
    for addr in addresses {
        if state.resources.remove(addr).is_none() {
            return Err(not_in_state(addr, &state));
        }
    }
    state.serial += 1;
    backend.write(&state).await?;
    Ok(Edited { resources: addresses.len(), serial: state.serial })
}

/// Renames `from` to `to` in the state, and in every recorded dependency on it. Fails with
/// [`OpsError::DestinationExists`] or [`OpsError::NotInState`], writing nothing.
pub async fn mv(backend: &dyn StateBackend, from: &Address, to: &Address, events: &Events) -> Result<Edited, OpsError> {
    let mut state = backend.read().await?.unwrap_or_default();
    backend_warnings(backend, events).await;
    if state.resources.contains_key(to) {
        return Err(OpsError::DestinationExists { address: to.clone() });
    }
    let r = state.resources.remove(from).ok_or_else(|| not_in_state(from, &state))?;
    state.resources.insert(to.clone(), r);
    for r in state.resources.values_mut() {
        for d in r.depends_on.iter_mut().filter(|d| *d == from) {
            *d = to.clone();
        }
    }
    state.serial += 1;
    backend.write(&state).await?;
    Ok(Edited { resources: 1, serial: state.serial })
}
