//! The AWS provider as a plugin: `providers.aws` settings in, a provider out.

use std::sync::Arc;

use serde_json::Value;
use strata_sdk::{Provider, ProviderContext, ProviderPlugin, SettingsError, decode_settings};

use crate::{AwsConfig, AwsProvider, OwnerMarks};

/// Registers the `aws` provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsPlugin;

impl ProviderPlugin for AwsPlugin {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn settings_schema(&self) -> Value {
        // Self-contained (no `$defs`): the engine embeds it under `providers.<name>`.
        let mut settings = schemars::generate::SchemaSettings::draft2020_12();
        settings.inline_subschemas = true;
        settings.into_generator().into_root_schema_for::<AwsConfig>().to_value()
    }

    fn configure(&self, settings: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, SettingsError> {
        let config: AwsConfig = decode_settings(settings)?;
        config.validate().map_err(|e| SettingsError::new(e.to_string()))?;
        let marks = OwnerMarks::new(cx.project.clone(), cx.env.clone());
        Ok(Arc::new(AwsProvider::new(config, marks)))
    }
}
