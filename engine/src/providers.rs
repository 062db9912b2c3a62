//! The providers of one run: built from the spec's `providers:` section by their plugins (see
//! [`Registry`](crate::registry::Registry)), with the engine-level settings (rate limits) taken
//! out before a provider sees its configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use strata_sdk::Provider;

/// Requests per second and burst for one provider (token bucket), separate from the global
/// `--parallelism`: cloud APIs throttle per account, not per strata run.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: f64,
    #[serde(default)]
    pub burst: Option<u32>,
}

/// The providers used by one run.
#[derive(Clone, Default)]
pub struct ProviderSet {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    pub rate_limits: BTreeMap<String, RateLimit>,
}

impl ProviderSet {
    pub fn insert(&mut self, name: &str, provider: Arc<dyn Provider>) {
        self.providers.insert(name.to_string(), provider);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.providers.keys()
    }
}

/// Splits a provider's settings into engine-level ones (rate_limit) and the provider's own.
pub fn split_engine_settings(config: &Value) -> (Value, Option<Value>) {
    let mut own = config.clone();
    let limit = own.as_object_mut().and_then(|o| o.shift_remove("rate_limit"));
    (own, limit)
}
