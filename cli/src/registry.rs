//! The plugins built into this `strata` binary: one line per provider. Each provider crate is
//! behind a cargo feature (all on by default) so a build can leave one out.

use std::sync::Arc;

use serde_json::Value;
use strata_engine::providers::{ProviderContext, ProviderFactory};
use strata_sdk::Provider;

/// The providers built into strata.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultFactory {
    /// `--force-conflicts`: Kubernetes server-side apply takes fields another applier owns
    /// (as `providers.kubernetes.force_conflicts: true` does for every run).
    pub force_conflicts: bool,
}

/// Environment variable that unlocks the `test` provider in a binary built with the
/// `test-provider` feature (strata's own CLI tests).
#[cfg(feature = "test-provider")]
pub const TEST_PROVIDER_ENV: &str = "STRATA_ENABLE_TEST_PROVIDER";

impl ProviderFactory for DefaultFactory {
    fn create(&self, name: &str, config: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, String> {
        match name {
            #[cfg(feature = "kubernetes")]
            "kubernetes" => {
                let mut conf: strata_provider_kubernetes::KubernetesConfig =
                    serde_json::from_value(config.clone()).map_err(|e| format!("invalid settings: {e}"))?;
                conf.force_conflicts |= self.force_conflicts;
                let marks = strata_provider_kubernetes::OwnershipMarks::new(cx.project.clone(), cx.env.clone());
                let p = strata_provider_kubernetes::KubernetesProvider::new(conf, marks).map_err(|e| e.to_string())?;
                Ok(Arc::new(p))
            }
            #[cfg(feature = "aws")]
            "aws" => {
                let marks = strata_provider_aws::OwnerMarks::new(cx.project.clone(), cx.env.clone());
                let p = strata_provider_aws::AwsProvider::from_value(config, marks).map_err(|e| e.to_string())?;
                Ok(Arc::new(p))
            }
            #[cfg(feature = "test-provider")]
            "test" => {
                if std::env::var(TEST_PROVIDER_ENV).as_deref() != Ok("1") {
                    return Err(format!(
                        "the `test` provider is for strata's own tests; set {TEST_PROVIDER_ENV}=1 to use it"
                    ));
                }
                let conf: strata_testkit::TestProviderConfig = serde_json::from_value(config.clone())
                    .map_err(|e| format!("invalid `test` provider settings: {e}"))?;
                Ok(Arc::new(strata_testkit::TestProvider::from_config(&conf)?))
            }
            other => Err(format!("the `{other}` provider is not available in this build of strata")),
        }
    }
}
