//! How a provider plugs into strata: a [`ProviderPlugin`] names the provider, describes its
//! settings (`providers.<name>` in strata.yaml) and builds a [`Provider`] from them.
//!
//! The settings type is the plugin's own (as a Vector component's config is): the plugin decodes
//! it with [`decode_settings`], which reports the path of a bad value so the engine can point at
//! its line and column, and generates the settings' JSON Schema from the same type.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Provider;

/// What every provider is told about the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderContext {
    /// The spec's `project`: part of the ownership marks.
    pub project: String,
    /// The environment (`default` when none is selected): part of the ownership marks.
    pub env: String,
    /// `--force-conflicts` for this run: take over what another writer owns where the provider's
    /// API has such a notion (Kubernetes server-side apply `force`); others ignore it.
    pub force_conflicts: bool,
}

/// A problem with a provider's settings: the path inside `providers.<name>` (empty for the whole
/// map) and a sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub path: Vec<String>,
    pub message: String,
}

impl SettingsError {
    pub fn new(message: impl Into<String>) -> Self {
        SettingsError { path: Vec::new(), message: message.into() }
    }

    pub fn at(path: Vec<String>, message: impl Into<String>) -> Self {
        SettingsError { path, message: message.into() }
    }
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path.join("."), self.message)
        }
    }
}

impl std::error::Error for SettingsError {}

/// A provider as a plugin: one per provider crate, listed in the CLI's registry.
pub trait ProviderPlugin: Send + Sync {
    /// The name used in `providers:` and in each resource's `provider` (`kubernetes`).
    fn name(&self) -> &'static str;

    /// JSON Schema of the provider's settings, generated from the type [`configure`] decodes.
    /// The engine adds its own `rate_limit` key.
    ///
    /// [`configure`]: ProviderPlugin::configure
    fn settings_schema(&self) -> Value;

    /// Builds the provider from its settings (`rate_limit` already taken out). Does no I/O:
    /// offline commands (validate, plan --refresh=false) build providers too.
    fn configure(&self, settings: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, SettingsError>;
}

/// Decodes settings into `T`, keeping the path of the first value that does not fit.
pub fn decode_settings<T: DeserializeOwned>(settings: &Value) -> Result<T, SettingsError> {
    let settings = if settings.is_null() { &Value::Object(Default::default()) } else { settings };
    serde_path_to_error::deserialize(settings).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        SettingsError::at(path, e.into_inner().to_string())
    })
}

/// A plugin that hands out one provider instance built beforehand (tests and benchmarks inject
/// the in-memory test provider this way).
pub struct FixedProvider {
    name: &'static str,
    provider: Arc<dyn Provider>,
}

impl FixedProvider {
    pub fn new(name: &'static str, provider: Arc<dyn Provider>) -> Self {
        FixedProvider { name, provider }
    }
}

impl ProviderPlugin for FixedProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn settings_schema(&self) -> Value {
        serde_json::json!({"type": "object"})
    }

    fn configure(&self, _settings: &Value, _cx: &ProviderContext) -> Result<Arc<dyn Provider>, SettingsError> {
        Ok(self.provider.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Settings {
        server: Option<String>,
        nested: Option<Nested>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        port: u16,
    }

    #[test]
    fn settings_errors_keep_the_path() {
        let e = decode_settings::<Settings>(&serde_json::json!({"nested": {"port": "x"}})).unwrap_err();
        assert_eq!(e.path, ["nested", "port"]);
        let e = decode_settings::<Settings>(&serde_json::json!({"sever": "x"})).unwrap_err();
        assert!(e.message.contains("unknown field `sever`"), "{e}");
        assert!(decode_settings::<Settings>(&Value::Null).is_ok());
    }
}
