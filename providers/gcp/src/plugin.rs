//! The GCP provider as a plugin: `providers.gcp` settings in, a provider out.

use std::sync::Arc;

use serde_json::Value;
use strata_sdk::{Provider, ProviderContext, ProviderPlugin, SettingsError, decode_settings};

use crate::{GcpConfig, GcpProvider, OwnerMarks, TokenSource};

/// Registers the `gcp` provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcpPlugin;

impl ProviderPlugin for GcpPlugin {
    fn name(&self) -> &'static str {
        "gcp"
    }

    fn settings_schema(&self) -> Value {
        // Self-contained (no `$defs`): the engine embeds it under `providers.<name>`.
        let mut settings = schemars::generate::SchemaSettings::draft2020_12();
        settings.inline_subschemas = true;
        settings.into_generator().into_root_schema_for::<GcpConfig>().to_value()
    }

    fn configure(&self, settings: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, SettingsError> {
        let config: GcpConfig = decode_settings(settings)?;
        if config.project.is_empty() {
            return Err(SettingsError::at(vec!["project".into()], "the Google Cloud project id must not be empty"));
        }
        if config.requests_per_second.is_some_and(|r| r.is_nan() || r <= 0.0) {
            return Err(SettingsError::at(vec!["requests_per_second".into()], "the request rate must be above 0"));
        }
        let marks = OwnerMarks::new(cx.project.clone(), cx.env.clone());
        let token = match &config.credentials_file {
            Some(file) => TokenSource::from_file(file),
            None => TokenSource::application_default(),
        };
        Ok(Arc::new(GcpProvider::new(&config, marks, token)))
    }
}
