//! The provider configuration: the `providers.aws` section of a spec.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AwsError;

/// `providers.aws` in a spec.
///
/// ```yaml
/// providers:
///   aws:
///     region: us-east-1
///     profile: prod            # optional: a profile of ~/.aws/config
///     endpoint: http://127.0.0.1:5000   # optional: override every service endpoint
///     no_wait: false           # optional: don't wait for CloudFront deployments
/// ```
///
/// Credentials always come from the standard AWS chain (environment, profile, SSO, web
/// identity, ECS/IMDS). The standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_CLOUDFRONT` /
/// `AWS_ENDPOINT_URL_ROUTE_53` environment variables are honoured by the SDK itself; `endpoint`
/// here wins over them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// AWS region for signing. CloudFront and Route 53 are global services, so this only
    /// matters for credentials resolution; defaults to the environment's region, else `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Named profile of the shared AWS config/credentials files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Endpoint URL override for every AWS service this provider calls (moto, LocalStack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Do not wait for CloudFront distributions to reach `Deployed` after create/update
    /// (`wait` returns at once). Deletes still wait: CloudFront refuses to delete a
    /// distribution whose disable is not deployed yet.
    #[serde(default)]
    pub no_wait: bool,
    /// First delay between two `GetDistribution` polls while waiting; doubles up to 60 s.
    #[serde(default = "default_poll_interval")]
    pub wait_poll_interval_secs: f64,
    /// How long `wait` (and the disable step of a delete) waits for `Deployed` before giving up.
    #[serde(default = "default_wait_timeout")]
    pub wait_timeout_secs: f64,
    /// Attempts the SDK makes per request on throttling and transient errors (SDK default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

/// The longest wait: 10 years, the longest duration a spec may hold.
const MAX_WAIT_SECS: f64 = 315_360_000.0;

fn default_poll_interval() -> f64 {
    10.0
}

fn default_wait_timeout() -> f64 {
    1800.0
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            region: None,
            profile: None,
            endpoint: None,
            no_wait: false,
            wait_poll_interval_secs: default_poll_interval(),
            wait_timeout_secs: default_wait_timeout(),
            max_attempts: None,
        }
    }
}

impl AwsConfig {
    /// Parses and validates the `providers.aws` section (`null` means all defaults).
    pub fn from_value(value: &Value) -> Result<Self, AwsError> {
        let cfg: AwsConfig = if value.is_null() {
            AwsConfig::default()
        } else {
            serde_json::from_value(value.clone()).map_err(|e| AwsError::Config(e.to_string()))?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot: durations and the endpoint URL.
    pub fn validate(&self) -> Result<(), AwsError> {
        // Both become `Duration`s (`Duration::from_secs_f64` panics on what it cannot hold).
        let in_range = |v: f64| (0.0..=MAX_WAIT_SECS).contains(&v);
        if !in_range(self.wait_poll_interval_secs) {
            return Err(AwsError::Config(format!(
                "wait_poll_interval_secs must be a number of seconds from 0 to {MAX_WAIT_SECS} (10 years)"
            )));
        }
        if !in_range(self.wait_timeout_secs) {
            return Err(AwsError::Config(format!(
                "wait_timeout_secs must be a number of seconds from 0 to {MAX_WAIT_SECS} (10 years)"
            )));
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(AwsError::Config(format!("endpoint `{e}` must be an http:// or https:// URL")));
        }
        if self.max_attempts == Some(0) {
            return Err(AwsError::Config("max_attempts must be at least 1".into()));
        }
        if let Some(r) = &self.region
            && r.trim().is_empty()
        {
            return Err(AwsError::Config("region cannot be empty".into()));
        }
        Ok(())
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.wait_poll_interval_secs)
    }

    pub(crate) fn wait_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.wait_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_config() {
        let c = AwsConfig::from_value(&json!({
            "region": "eu-west-1", "profile": "prod", "endpoint": "http://127.0.0.1:5000",
            "no_wait": true
        }))
        .unwrap();
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert!(c.no_wait);
        assert_eq!(c.wait_timeout(), Duration::from_secs(1800));
        assert_eq!(AwsConfig::from_value(&Value::Null).unwrap(), AwsConfig::default());
    }

    #[test]
    fn rejects_bad_config() {
        assert!(AwsConfig::from_value(&json!({"regoin": "x"})).is_err());
        assert!(AwsConfig::from_value(&json!({"endpoint": "localhost:5000"})).is_err());
        assert!(AwsConfig::from_value(&json!({"wait_timeout_secs": -1})).is_err());
    }

    #[test]
    fn rejects_waits_a_duration_cannot_hold() {
        for key in ["wait_timeout_secs", "wait_poll_interval_secs"] {
            for v in [1e300, 1e20, 315_360_001.0] {
                assert!(AwsConfig::from_value(&json!({ key: v })).is_err(), "{key}: {v}");
            }
            let c = AwsConfig::from_value(&json!({ key: 315_360_000.0 })).unwrap();
            assert!(c.wait_timeout() <= Duration::from_secs(315_360_000));
        }
    }
}
