//! The provider settings: `providers.azure` in a spec.

use serde::{Deserialize, Serialize};

/// Azure Resource Manager's public endpoint.
pub const DEFAULT_ARM_URL: &str = "https://management.azure.com";
/// Environment variable overriding the ARM endpoint when the spec does not set `arm_url`.
pub const ARM_URL_ENV: &str = "STRATA_AZURE_ARM_URL";
/// The Microsoft identity platform's public authority.
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
/// Environment variable overriding the authority when the spec does not set `authority_url`.
pub const AUTHORITY_URL_ENV: &str = "STRATA_AZURE_AUTHORITY_URL";
/// The token audience of ARM.
pub const DEFAULT_SCOPE: &str = "https://management.azure.com/.default";

/// `providers.azure` in a spec.
///
/// ```yaml
/// providers:
///   azure:
///     subscription_id: 00000000-0000-0000-0000-000000000001
///     resource_group: web-prod
/// ```
///
/// Credentials come from the environment only (never from the spec, never printed):
/// `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET` (client credentials), or
/// `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_FEDERATED_TOKEN_FILE` (workload identity), or
/// `STRATA_AZURE_TOKEN` (a ready bearer token, for tests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// The subscription (a UUID) holding the resource group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The resource group the Front Door profiles live in (it must exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// The ARM endpoint; else `STRATA_AZURE_ARM_URL`, else `https://management.azure.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm_url: Option<String>,
    /// The identity authority; else `STRATA_AZURE_AUTHORITY_URL`, else
    /// `https://login.microsoftonline.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_url: Option<String>,
    /// Read requests per second at most. ARM refills a subscription's read bucket at 25/s
    /// (250 at most); the default stays below with room for other clients.
    #[serde(default = "default_reads_per_second")]
    pub reads_per_second: f64,
    /// Write requests per second at most (ARM: 10/s refill, 200 at most).
    #[serde(default = "default_writes_per_second")]
    pub writes_per_second: f64,
    /// Requests that may be sent at once before the rates apply.
    #[serde(default = "default_burst")]
    pub request_burst: u32,
    /// List requests in flight at once during a refresh.
    #[serde(default = "default_read_concurrency")]
    pub read_concurrency: u32,
    /// Seconds one HTTP request may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

fn default_reads_per_second() -> f64 {
    20.0
}
fn default_writes_per_second() -> f64 {
    8.0
}
fn default_burst() -> u32 {
    50
}
fn default_read_concurrency() -> u32 {
    16
}
fn default_timeout() -> f64 {
    60.0
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            subscription_id: None,
            resource_group: None,
            arm_url: None,
            authority_url: None,
            reads_per_second: default_reads_per_second(),
            writes_per_second: default_writes_per_second(),
            request_burst: default_burst(),
            read_concurrency: default_read_concurrency(),
            timeout_secs: default_timeout(),
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl AzureConfig {
    /// Checks what serde cannot, as `(key, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, url) in [("arm_url", &self.arm_url), ("authority_url", &self.authority_url)] {
            if let Some(u) = url
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                out.push((key.into(), format!("`{u}` must be an http:// or https:// URL")));
            }
        }
        if let Some(s) = &self.subscription_id
            && !is_uuid(s)
        {
            out.push(("subscription_id".into(), format!("`{s}` is not a subscription id (a UUID)")));
        }
        if let Some(rg) = &self.resource_group {
            let ok = !rg.is_empty()
                && rg.len() <= 90
                && rg.chars().all(|c| c.is_alphanumeric() || "-_.()".contains(c))
                && !rg.ends_with('.');
            if !ok {
                out.push((
                    "resource_group".into(),
                    format!("`{rg}` is not a resource group name (1-90 letters, digits, `-_.()`, not ending in `.`)"),
                ));
            }
        }
        // Above ARM's refill rates (25 reads/s, 10 writes/s) ARM throttles; allowed for
        // emulators and subscriptions with raised limits.
        for (key, v) in [("reads_per_second", self.reads_per_second), ("writes_per_second", self.writes_per_second)] {
            if !(v > 0.0 && v <= 1000.0) {
                out.push((key.into(), "must be above 0 and at most 1000".into()));
            }
        }
        if self.request_burst == 0 || self.request_burst > 1000 {
            out.push(("request_burst".into(), "must be between 1 and 1000".into()));
        }
        if self.read_concurrency == 0 || self.read_concurrency > 64 {
            out.push(("read_concurrency".into(), "must be between 1 and 64".into()));
        }
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= 3600.0) {
            out.push(("timeout_secs".into(), "must be a number of seconds above 0 and at most 3600".into()));
        }
        out
    }

    /// The ARM endpoint in force: the setting, else the environment, else the public one.
    pub fn arm_url(&self, getenv: &dyn Fn(&str) -> Option<String>) -> String {
        self.arm_url
            .clone()
            .or_else(|| getenv(ARM_URL_ENV).filter(|v| !v.is_empty()))
            .unwrap_or_else(|| DEFAULT_ARM_URL.to_string())
            .trim_end_matches('/')
            .to_string()
    }

    /// The identity authority in force.
    pub fn authority_url(&self, getenv: &dyn Fn(&str) -> Option<String>) -> String {
        self.authority_url
            .clone()
            .or_else(|| getenv(AUTHORITY_URL_ENV).filter(|v| !v.is_empty()))
            .unwrap_or_else(|| DEFAULT_AUTHORITY_URL.to_string())
            .trim_end_matches('/')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_stay_below_arm_and_problems_are_reported() {
        let c: AzureConfig = strata_sdk::decode_settings(&json!({"resource_group": "web"})).unwrap();
        assert!(c.problems().is_empty());
        assert!(c.reads_per_second < 25.0 && c.writes_per_second < 10.0);
        assert_eq!(c.arm_url(&|_| None), DEFAULT_ARM_URL);
        assert_eq!(c.arm_url(&|_| Some("http://127.0.0.1:9/".into())), "http://127.0.0.1:9");
        assert_eq!(c.authority_url(&|_| None), DEFAULT_AUTHORITY_URL);
        let bad: AzureConfig = strata_sdk::decode_settings(
            &json!({"subscription_id": "x", "resource_group": "a/b", "arm_url": "localhost", "writes_per_second": 5000}),
        )
        .unwrap();
        assert_eq!(bad.problems().len(), 4);
        assert!(strata_sdk::decode_settings::<AzureConfig>(&json!({"client_secret": "x"})).is_err());
    }
}
