//! State backends as plugins: a backend names itself (`state.backend` in strata.yaml), owns the
//! type of its settings (the rest of the `state:` map), and opens a [`StateBackend`] from them.

use std::path::PathBuf;
use std::sync::Arc;

use schemars::{Schema, SchemaGenerator};
use serde_json::Value;

use super::{StateBackend, StateError};
use crate::spec::SpecContext;

/// What a backend is told when it is opened.
#[derive(Debug, Clone)]
pub struct BackendContext {
    /// The environment (`default` when none is selected): backends keep one state per
    /// environment.
    pub env: String,
    /// The directory of strata.yaml: relative paths are relative to it.
    pub spec_dir: PathBuf,
}

/// A state backend as a plugin.
pub trait StateBackendPlugin: Send + Sync {
    /// The `state.backend` value that selects it (`local`, `s3`).
    fn name(&self) -> &'static str;

    /// JSON Schema of the settings (the `state:` map without `backend`), generated from the
    /// type the backend decodes.
    fn schema(&self, generator: &mut SchemaGenerator) -> Schema;

    /// Checks the settings offline, at load, reporting problems at their line and column
    /// (`settings` is found at `state` in the spec). The default decodes nothing.
    fn check(&self, _cx: &mut SpecContext<'_>, _settings: &Value) {}

    /// Opens the backend. Does no I/O beyond reading local configuration (keys from the
    /// environment); connections are made on first use.
    fn open(&self, settings: &Value, cx: &BackendContext) -> Result<Arc<dyn StateBackend>, StateError>;
}

/// Decodes a backend's settings, for [`StateBackendPlugin::open`] (the spec was checked at load,
/// so a failure here is a bug or a hand-built config).
pub fn decode_settings<T: serde::de::DeserializeOwned>(settings: &Value) -> Result<T, StateError> {
    let settings = if settings.is_null() { &Value::Object(Default::default()) } else { settings };
    serde_json::from_value(settings.clone()).map_err(|e| StateError::Config { message: e.to_string() })
}

/// `state: { backend: local, path: ... }` (also `state:` without `backend`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalStateConfig {
    /// The state file, relative to strata.yaml. Default `.strata/state.json`, or
    /// `.strata/<env>/state.json` when an environment is selected.
    #[serde(default)]
    pub path: Option<String>,
}

/// The built-in local backend (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalPlugin;

/// The backend used when the spec has no `state:` or no `state.backend`.
pub const DEFAULT_BACKEND: &str = "local";

impl StateBackendPlugin for LocalPlugin {
    fn name(&self) -> &'static str {
        DEFAULT_BACKEND
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<LocalStateConfig>()
    }

    fn check(&self, cx: &mut SpecContext<'_>, settings: &Value) {
        let _: Option<LocalStateConfig> = cx.decode(&crate::spec::path(["state"]), settings);
    }

    fn open(&self, settings: &Value, cx: &BackendContext) -> Result<Arc<dyn StateBackend>, StateError> {
        let config: LocalStateConfig = decode_settings(settings)?;
        let default = if cx.env == crate::spec::DEFAULT_ENV {
            PathBuf::from(".strata/state.json")
        } else {
            PathBuf::from(format!(".strata/{}/state.json", cx.env))
        };
        let path = config.path.map(PathBuf::from).unwrap_or(default);
        let path = if path.is_absolute() { path } else { cx.spec_dir.join(path) };
        Ok(Arc::new(super::LocalBackend::new(path)))
    }
}
