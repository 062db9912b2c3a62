//! The plugins built into this `strata` binary: the standard sections (with their mesh and CDN
//! targets, listed in the engine: `strata_engine::lower::standard`), one line per provider and
//! one line per state backend besides the local file. Each provider crate is behind a cargo
//! feature (all on by default), so a build can leave one out.

use strata_engine::registry::Registry;

/// Environment variable that unlocks the `test` provider in a binary built with the
/// `test-provider` feature (strata's own CLI tests).
#[cfg(feature = "test-provider")]
pub const TEST_PROVIDER_ENV: &str = "STRATA_ENABLE_TEST_PROVIDER";

/// Every plugin of this build. `force_conflicts` is `--force-conflicts` for this run.
pub fn registry(force_conflicts: bool) -> Registry {
    let registry = Registry::standard().with_force_conflicts(force_conflicts);
    #[cfg(feature = "kubernetes")]
    let registry = registry.provider(strata_provider_kubernetes::KubernetesPlugin);
    #[cfg(feature = "aws")]
    let registry = registry.provider(strata_provider_aws::AwsPlugin);
    #[cfg(feature = "cloudflare")]
    let registry = registry.provider(strata_provider_cloudflare::CloudflarePlugin);
    #[cfg(feature = "gcp")]
    let registry = registry.provider(strata_provider_gcp::GcpPlugin);
    #[cfg(feature = "azure")]
    let registry = registry.provider(strata_provider_azure::AzurePlugin);
    #[cfg(feature = "s3-state")]
    let registry = registry.backend(strata_backend_s3::S3Plugin);
    #[cfg(feature = "test-provider")]
    let registry = if std::env::var(TEST_PROVIDER_ENV).as_deref() == Ok("1") {
        registry.provider(strata_testkit::TestPlugin)
    } else {
        registry
    };
    registry
}
