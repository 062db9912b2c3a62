//! The Cloudflare provider as a plugin: `providers.cloudflare` settings in, a provider out.

use std::sync::Arc;

use serde_json::Value;
use strata_sdk::{Provider, ProviderContext, ProviderPlugin, SettingsError, decode_settings};

use crate::{CloudflareConfig, CloudflareProvider};

/// Registers the `cloudflare` provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudflarePlugin;

impl ProviderPlugin for CloudflarePlugin {
    fn name(&self) -> &'static str {
        "cloudflare"
    }

    fn settings_schema(&self) -> Value {
        // Self-contained (no `$defs`): the engine embeds it under `providers.<name>`.
        let mut settings = schemars::generate::SchemaSettings::draft2020_12();
        settings.inline_subschemas = true;
        settings.into_generator().into_root_schema_for::<CloudflareConfig>().to_value()
    }

    fn configure(&self, settings: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, SettingsError> {
        let config: CloudflareConfig = decode_settings(settings)?;
        if let Some((key, message)) = config.problems().into_iter().next() {
            return Err(SettingsError::at(vec![key], message));
        }
        Ok(Arc::new(CloudflareProvider::new(config, &cx.project, &cx.env)))
    }
}
