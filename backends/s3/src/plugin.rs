//! The S3 backend as a plugin: `state: { backend: s3, ... }`.

use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;
use strata_engine::spec::{SpecContext, path};
use strata_engine::state::{BackendContext, StateBackend, StateBackendPlugin, StateError, decode_settings};

use crate::{DEFAULT_RECOVERY_DIR, S3Backend, S3Options, S3StateConfig};

/// Registers the `s3` state backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct S3Plugin;

impl StateBackendPlugin for S3Plugin {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        S3StateConfig::json_schema(generator)
    }

    fn check(&self, cx: &mut SpecContext<'_>, settings: &Value) {
        let config: Option<S3StateConfig> = cx.decode(&path(["state"]), settings);
        if let Some(S3StateConfig { lease_seconds: Some(secs), .. }) = config
            && !(1..=strata_engine::spec::units::Duration::MAX.as_secs()).contains(&secs)
        {
            // The lease becomes a timer, a lock expiry date and a renewal interval.
            cx.error(
                &path(["state", "lease_seconds"]),
                "spec::invalid-value",
                "Invalid value",
                format!("`state.lease_seconds` is {secs}; a lease is 1 to 315,360,000 seconds (10 years)."),
                Some(
                    "write a number of seconds such as `60`, or remove `lease_seconds` for a lock without a lease"
                        .into(),
                ),
            );
        }
    }

    fn open(&self, settings: &Value, cx: &BackendContext) -> Result<Arc<dyn StateBackend>, StateError> {
        let config: S3StateConfig = decode_settings(settings)?;
        // States that cannot be written (fenced, network gone) are kept beside the spec.
        let dir = cx.spec_dir.join(DEFAULT_RECOVERY_DIR);
        let options =
            S3Options { recovery_dir: Some(std::path::absolute(&dir).unwrap_or(dir)), ..S3Options::default() };
        // `${env}` in the key was substituted when the spec was loaded; the backend replaces any
        // left (a key built elsewhere) with the same environment name.
        Ok(Arc::new(S3Backend::with_options(&config, &cx.env, options)?))
    }
}
