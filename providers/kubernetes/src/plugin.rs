//! The Kubernetes provider as a plugin: `providers.kubernetes` settings in, a provider out.

use std::sync::Arc;

use serde_json::Value;
use strata_sdk::{Provider, ProviderContext, ProviderPlugin, SettingsError, decode_settings};

use crate::{KubernetesConfig, KubernetesProvider, OwnershipMarks};

/// Registers the `kubernetes` provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct KubernetesPlugin;

impl ProviderPlugin for KubernetesPlugin {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn settings_schema(&self) -> Value {
        // Self-contained (no `$defs`): the engine embeds it under `providers.<name>`.
        let mut settings = schemars::generate::SchemaSettings::draft2020_12();
        settings.inline_subschemas = true;
        settings.into_generator().into_root_schema_for::<KubernetesConfig>().to_value()
    }

    fn configure(&self, settings: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, SettingsError> {
        let mut config: KubernetesConfig = decode_settings(settings)?;
        config.force_conflicts |= cx.force_conflicts;
        let marks = OwnershipMarks::new(cx.project.clone(), cx.env.clone());
        let provider = KubernetesProvider::new(config, marks).map_err(|e| SettingsError::new(e.to_string()))?;
        Ok(Arc::new(provider))
    }
}
