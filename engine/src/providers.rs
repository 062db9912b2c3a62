//! The providers of one run: built from the spec's `providers:` section by a factory, with the
//! engine-level settings (rate limits) taken out before a provider sees its configuration.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use strata_sdk::Provider;

/// What every provider is told about the run: its ownership marks.
#[derive(Debug, Clone)]
pub struct ProviderContext {
    pub project: String,
    pub env: String,
}

/// Requests per second and burst for one provider (token bucket), separate from the global
/// `--parallelism`: cloud APIs throttle per account, not per strata run.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: f64,
    #[serde(default)]
    pub burst: Option<u32>,
}

/// Makes provider instances. The CLI uses [`DefaultFactory`]; tests pass their own to inject
/// test providers.
pub trait ProviderFactory: Send + Sync {
    fn create(&self, name: &str, config: &Value, cx: &ProviderContext) -> Result<Arc<dyn Provider>, String>;
}

/// A factory that hands out fixed instances by name (tests).
#[derive(Default, Clone)]
pub struct StaticFactory {
    pub providers: HashMap<String, Arc<dyn Provider>>,
}

impl StaticFactory {
    pub fn with(mut self, name: &str, provider: Arc<dyn Provider>) -> Self {
        self.providers.insert(name.to_string(), provider);
        self
    }
}

impl ProviderFactory for StaticFactory {
    fn create(&self, name: &str, _config: &Value, _cx: &ProviderContext) -> Result<Arc<dyn Provider>, String> {
        self.providers.get(name).cloned().ok_or_else(|| format!("no `{name}` provider in this test"))
    }
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
