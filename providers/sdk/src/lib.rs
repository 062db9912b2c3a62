//! The provider contract of strata.
//!
//! This crate is the seam between the engine (`engine/`) and the providers (one crate each under
//! `providers/`). It holds only plain data types and one trait, so providers do not depend on the
//! engine and the engine does not depend on any cloud SDK. Values are `serde_json::Value`
//! throughout: every provider API we talk to is JSON-shaped, and one value type keeps diffing,
//! masking and state serialisation in one place.

mod address;
mod error;
mod kind;
mod plugin;
mod provider;
pub mod rate;
pub mod value;

pub use address::{Address, AddressError};
pub use error::{ErrorClass, ProviderError};
pub use kind::{KindSchema, PathPattern};
pub use plugin::{FixedProvider, ProviderContext, ProviderPlugin, SettingsError, decode_settings};
pub use provider::{
    Applied, DeleteRequest, OWNERSHIP_ADDRESS_KEY, OWNERSHIP_ENV_KEY, OWNERSHIP_MANAGED_BY_KEY,
    OWNERSHIP_MANAGED_BY_VALUE, OWNERSHIP_PROJECT_KEY, Observed, Ownership, Provider, ReadRequest, Resource,
    ResourceChange, is_ownership_key,
};
pub use serde_json::Value;
