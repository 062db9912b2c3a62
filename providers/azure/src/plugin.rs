//! The Azure provider as a plugin: `providers.azure` settings in, a provider out.

use std::sync::Arc;

use serde_json::Value;
use strata_sdk::{Provider, ProviderContext, ProviderPlugin, SettingsError, decode_settings};

use crate::{AzureConfig, AzureProvider};

/// Registers the `azure` provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzurePlugin;

impl ProviderPlugin for AzurePlugin {
    fn name(&self) -> &'static str {
        "azure"
    }

    fn settings_schema(&self) -> Value {
        // Self-contained (no `$defs`): the engine embeds it under `providers.<name>`.
        let mut settings = schemars::generate::SchemaSettings::draft2020_12();
        settings.inline_subschemas = true;
        settings.into_generator().into_root_schema_for::<AzureConfig>().to_value()
    }

    fn configure(&self, settings: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, SettingsError> {
        let config: AzureConfig = decode_settings(settings)?;
        if let Some((key, message)) = config.problems().into_iter().next() {
            return Err(SettingsError::at(vec![key], message));
        }
        Ok(Arc::new(AzureProvider::new(config, &cx.project, &cx.env)))
    }
}
