//! The provider settings: `providers.cloudflare` in a spec.

use serde::{Deserialize, Serialize};

/// The API's documented base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://api.cloudflare.com/client/v4";
/// Environment variable overriding the base URL when the spec does not set `api_base_url`.
pub const API_BASE_URL_ENV: &str = "CLOUDFLARE_API_BASE_URL";
/// Environment variable holding the API token.
pub const API_TOKEN_ENV: &str = "CLOUDFLARE_API_TOKEN";

/// `providers.cloudflare` in a spec.
///
/// ```yaml
/// providers:
///   cloudflare:
///     account_id: 0d37909e38d3e99c29fa2cd343ac421a   # Workers, pools and monitors live here
///     zone: example.com                              # the default zone of DNS, rules, routes
/// ```
///
/// The API token comes from `CLOUDFLARE_API_TOKEN` (never from the spec, never printed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudflareConfig {
    /// The account id (32 hexadecimal characters) owning Workers scripts, pools and monitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The default zone (a domain name, `example.com`) for resources that do not name theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The API base URL; else `CLOUDFLARE_API_BASE_URL`, else the public API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Requests per second this provider sends at most. Cloudflare allows 1,200 requests per
    /// five minutes (4 per second) per user and blocks every call for five minutes after a
    /// breach; the default stays below it with room for other clients.
    #[serde(default = "default_rps")]
    pub requests_per_second: f64,
    /// Requests that may be sent at once before `requests_per_second` applies.
    #[serde(default = "default_burst")]
    pub request_burst: u32,
    /// Seconds one HTTP request may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

fn default_rps() -> f64 {
    3.5
}

fn default_burst() -> u32 {
    20
}

fn default_timeout() -> f64 {
    30.0
}

impl Default for CloudflareConfig {
    fn default() -> Self {
        CloudflareConfig {
            account_id: None,
            zone: None,
            api_base_url: None,
            requests_per_second: default_rps(),
            request_burst: default_burst(),
            timeout_secs: default_timeout(),
        }
    }
}

impl CloudflareConfig {
    /// Checks what serde cannot, as `(key, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(u) = &self.api_base_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            out.push(("api_base_url".into(), format!("`{u}` must be an http:// or https:// URL")));
        }
        if !(self.requests_per_second > 0.0 && self.requests_per_second <= 1000.0) {
            out.push(("requests_per_second".into(), "must be a number above 0 and at most 1000".into()));
        }
        if self.request_burst == 0 {
            out.push(("request_burst".into(), "must be at least 1".into()));
        }
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= 3600.0) {
            out.push(("timeout_secs".into(), "must be a number of seconds above 0 and at most 3600".into()));
        }
        if let Some(a) = &self.account_id
            && !(a.len() == 32 && a.chars().all(|c| c.is_ascii_hexdigit()))
        {
            out.push(("account_id".into(), format!("`{a}` is not an account id (32 hexadecimal characters)")));
        }
        out
    }

    /// The base URL in force: the setting, else the environment, else the public API.
    pub fn base_url(&self, getenv: &dyn Fn(&str) -> Option<String>) -> String {
        self.api_base_url
            .clone()
            .or_else(|| getenv(API_BASE_URL_ENV).filter(|v| !v.is_empty()))
            .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_string())
            .trim_end_matches('/')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_problems() {
        let c: CloudflareConfig = strata_sdk::decode_settings(&json!({"zone": "example.com"})).unwrap();
        assert!(c.problems().is_empty());
        assert!(
            c.requests_per_second * 300.0 + f64::from(c.request_burst) < 1200.0,
            "the default stays below the API limit"
        );
        assert_eq!(c.base_url(&|_| None), DEFAULT_API_BASE_URL);
        assert_eq!(c.base_url(&|_| Some("http://127.0.0.1:1/client/v4/".into())), "http://127.0.0.1:1/client/v4");
        let bad: CloudflareConfig =
            strata_sdk::decode_settings(&json!({"api_base_url": "localhost", "account_id": "x", "request_burst": 0}))
                .unwrap();
        assert_eq!(bad.problems().len(), 3);
        assert!(strata_sdk::decode_settings::<CloudflareConfig>(&json!({"api_token": "x"})).is_err());
    }
}
