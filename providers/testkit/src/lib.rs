//! strata's test kit.
//!
//! * The test provider ([`TestProvider`]): an in-memory (optionally file-backed) provider that
//!   records every call and can inject latency and failures. Engine tests, CLI end-to-end tests
//!   and the benchmarks drive the real engine through it. In a spec it is
//!   `providers: { test: { store: path.json, latency_ms: 20, fail: { addr: 2 } } }` and is only
//!   available when `STRATA_ENABLE_TEST_PROVIDER=1`, so users never reach it by accident.
//! * [`conformance`] (feature `conformance`): the provider conformance suite every provider runs
//!   against its emulator.
//! * [`moto`] (feature `moto`) and [`kube`] (feature `kube`): the launchers of the two emulators,
//!   moto and kube-test-server.
//!
//! See README.md.

#[cfg(feature = "azure")]
pub mod azure;
#[cfg(feature = "cloudflare")]
pub mod cloudflare;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "kube")]
pub mod kube;
#[cfg(feature = "moto")]
pub mod moto;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use strata_sdk::{
    Address, Applied, DeleteRequest, ErrorClass, KindSchema, Observed, Ownership, PathPattern, Provider, ProviderError,
    ReadRequest, ResourceChange,
};

/// One recorded call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub op: &'static str,
    pub address: String,
    pub started: Duration,
    pub finished: Duration,
}

/// How a resource's calls fail.
#[derive(Debug, Clone)]
pub struct FailSpec {
    /// Fail this many times, then succeed (`u32::MAX`: always).
    pub times: u32,
    pub class: ErrorClass,
    pub retry_after: Option<Duration>,
    /// Only fail this operation (`create`, `update`, `delete`, `read`); `None`: every write;
    /// `Some("*")`: every call, reads included.
    pub op: Option<&'static str>,
}

/// Settings from `providers.test` in a spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestProviderConfig {
    /// File where objects persist between runs.
    #[serde(default)]
    pub store: Option<PathBuf>,
    #[serde(default)]
    pub latency_ms: u64,
    /// Address -> number of times its create/update/delete fails with a retryable error
    /// (0xFFFFFFFF or -1: always, with a non-retryable error).
    #[serde(default)]
    pub fail: BTreeMap<String, i64>,
    /// Kinds whose given attributes force replacement: `{ widget: [/size] }`.
    #[serde(default)]
    pub force_new: BTreeMap<String, Vec<String>>,
    /// Kinds whose given attributes are sensitive.
    #[serde(default)]
    pub sensitive: BTreeMap<String, Vec<String>>,
    /// Kinds that are asynchronous (create returns before ready; `wait` takes latency again).
    #[serde(default)]
    pub asynchronous: Vec<String>,
}

/// One remote object, kept as JSON text the way an API server keeps it; a read decodes it, as a
/// real provider decodes a response. (As `Value` trees, the fake remote of a 100k-resource
/// benchmark would hold ~170 MiB in the process being measured.)
#[derive(Debug, Clone)]
struct Stored {
    attrs: Box<str>,
    outputs: Box<str>,
}

impl Stored {
    fn new(attrs: &Value, outputs: &Value) -> Self {
        Stored { attrs: encode(attrs), outputs: encode(outputs) }
    }

    fn attrs(&self) -> Value {
        serde_json::from_str(&self.attrs).expect("stored as JSON")
    }

    fn outputs(&self) -> Value {
        serde_json::from_str(&self.outputs).expect("stored as JSON")
    }
}

fn encode(v: &Value) -> Box<str> {
    serde_json::to_string(v).expect("JSON values serialize").into_boxed_str()
}

pub struct TestProvider {
    name: String,
    started: Instant,
    latency: Mutex<Duration>,
    store: Mutex<HashMap<String, Stored>>,
    store_file: Option<PathBuf>,
    calls: Mutex<Vec<Call>>,
    failures: Mutex<HashMap<String, FailSpec>>,
    schemas: HashMap<String, KindSchema>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    counter: AtomicUsize,
}

impl TestProvider {
    pub fn new() -> Self {
        TestProvider {
            name: "test".into(),
            started: Instant::now(),
            latency: Mutex::new(Duration::ZERO),
            store: Mutex::new(HashMap::new()),
            store_file: None,
            calls: Mutex::new(Vec::new()),
            failures: Mutex::new(HashMap::new()),
            schemas: HashMap::new(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            counter: AtomicUsize::new(0),
        }
    }

    /// Builds one from a spec's `providers.test` settings, loading its store file if any.
    pub fn from_config(config: &TestProviderConfig) -> Result<Self, String> {
        let mut p = TestProvider::new().with_latency(Duration::from_millis(config.latency_ms));
        for (addr, n) in &config.fail {
            let spec = if *n < 0 || *n >= u32::MAX as i64 {
                FailSpec { times: u32::MAX, class: ErrorClass::Invalid, retry_after: None, op: None }
            } else {
                FailSpec { times: *n as u32, class: ErrorClass::Retryable, retry_after: None, op: None }
            };
            p.failures.lock().unwrap().insert(addr.clone(), spec);
        }
        let kinds: std::collections::BTreeSet<&String> =
            config.force_new.keys().chain(config.sensitive.keys()).chain(config.asynchronous.iter()).collect();
        for kind in kinds {
            let schema = KindSchema {
                force_new: config.force_new.get(kind).into_iter().flatten().map(PathPattern::new).collect(),
                sensitive: config.sensitive.get(kind).into_iter().flatten().map(PathPattern::new).collect(),
                ignore_changes: Vec::new(),
                asynchronous: config.asynchronous.contains(kind),
                fields_only: false,
            };
            p.schemas.insert(kind.clone(), schema);
        }
        if let Some(path) = &config.store {
            if let Ok(bytes) = std::fs::read(path) {
                let saved: HashMap<String, (Value, Value)> = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("test provider store {}: {e}", path.display()))?;
                *p.store.lock().unwrap() = saved.into_iter().map(|(k, (a, o))| (k, Stored::new(&a, &o))).collect();
            }
            p.store_file = Some(path.clone());
        }
        Ok(p)
    }

    pub fn with_latency(self, latency: Duration) -> Self {
        *self.latency.lock().unwrap() = latency;
        self
    }

    pub fn with_schema(mut self, kind: &str, schema: KindSchema) -> Self {
        self.schemas.insert(kind.to_string(), schema);
        self
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap() = latency;
    }

    /// Makes calls on `address` fail as `spec` says.
    pub fn fail(&self, address: &str, spec: FailSpec) {
        self.failures.lock().unwrap().insert(address.to_string(), spec);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_for(&self, op: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op == op).collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// The stored object for an address, as a remote API would have it.
    pub fn object(&self, address: &str) -> Option<Value> {
        self.store.lock().unwrap().get(address).map(Stored::attrs)
    }

    /// Changes a stored object behind strata's back (drift).
    pub fn tamper(&self, address: &str, f: impl FnOnce(&mut Value)) {
        if let Some(stored) = self.store.lock().unwrap().get_mut(address) {
            let mut attrs = stored.attrs();
            f(&mut attrs);
            stored.attrs = encode(&attrs);
        }
        self.persist();
    }

    /// Deletes a stored object behind strata's back (drift: deleted remotely).
    pub fn remove(&self, address: &str) {
        self.store.lock().unwrap().remove(address);
        self.persist();
    }

    /// Pre-populates a stored object (e.g. one a crashed run created).
    pub fn insert(&self, address: &str, attrs: Value) {
        let outputs = json!({"id": format!("{address}-pre")});
        self.store.lock().unwrap().insert(address.to_string(), Stored::new(&attrs, &outputs));
    }

    pub fn object_count(&self) -> usize {
        self.store.lock().unwrap().len()
    }

    fn persist(&self) {
        if let Some(path) = &self.store_file {
            let store = self.store.lock().unwrap();
            let saved: HashMap<&String, (Value, Value)> =
                store.iter().map(|(k, s)| (k, (s.attrs(), s.outputs()))).collect();
            let bytes = serde_json::to_vec_pretty(&saved).expect("store serializes");
            let _ = std::fs::write(path, bytes);
        }
    }

    async fn call<T>(
        &self,
        op: &'static str,
        address: &str,
        f: impl FnOnce() -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let started = self.started.elapsed();
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let injected = {
            let mut failures = self.failures.lock().unwrap();
            match failures.get_mut(address) {
                // Reads fail only when asked for explicitly; other failures target writes.
                Some(spec)
                    if spec.times > 0
                        && (spec.op == Some(op) || spec.op == Some("*") || spec.op.is_none() && op != "read") =>
                {
                    if spec.times != u32::MAX {
                        spec.times -= 1;
                    }
                    let mut e = ProviderError::new(spec.class, format!("injected {op} failure for {address}"));
                    e.retry_after = spec.retry_after;
                    Some(e)
                }
                _ => None,
            }
        };
        let result = match injected {
            Some(e) => Err(e),
            None => f(),
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.calls.lock().unwrap().push(Call {
            op,
            address: address.to_string(),
            started,
            finished: self.started.elapsed(),
        });
        result
    }
}

impl Default for TestProvider {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Provider for TestProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema(&self, kind: &str) -> KindSchema {
        self.schemas.get(kind).cloned().unwrap_or_default()
    }

    fn outputs(&self, _kind: &str) -> Vec<String> {
        vec!["id".into(), "endpoint".into()]
    }

    fn validate(&self, _kind: &str, attrs: &Value) -> Vec<(Vec<String>, String)> {
        match attrs.get("size") {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n < 0) => {
                vec![(vec!["size".into()], "size cannot be negative".into())]
            }
            _ => Vec::new(),
        }
    }

    async fn read(&self, requests: &[ReadRequest<'_>]) -> Vec<Result<Option<Observed>, ProviderError>> {
        // One "LIST" for the whole batch, like a real provider's batched read.
        let batch = format!("batch:{}", requests.len());
        let _ = self.call("read", &batch, || Ok(())).await;
        let mut out = Vec::with_capacity(requests.len());
        let failures: Vec<Option<ProviderError>> = {
            let mut f = self.failures.lock().unwrap();
            requests
                .iter()
                .map(|r| match f.get_mut(r.address.as_str()) {
                    Some(spec) if matches!(spec.op, Some("read" | "*")) && spec.times > 0 => {
                        if spec.times != u32::MAX {
                            spec.times -= 1;
                        }
                        let mut e = ProviderError::new(spec.class, format!("injected read failure for {}", r.address));
                        e.retry_after = spec.retry_after;
                        Some(e)
                    }
                    _ => None,
                })
                .collect()
        };
        let store = self.store.lock().unwrap();
        for (r, fail) in requests.iter().zip(failures) {
            if let Some(e) = fail {
                out.push(Err(e));
                continue;
            }
            out.push(Ok(store.get(r.address.as_str()).map(|stored| {
                let (attrs, outputs) = (stored.attrs(), stored.outputs());
                let foreign = attrs.get("__foreign").is_some();
                Observed {
                    remote_id: outputs["id"].as_str().unwrap_or_default().to_string(),
                    attrs,
                    outputs,
                    ownership: if foreign {
                        Ownership::Foreign { detail: format!("{} exists but was not created by strata", r.address) }
                    } else {
                        Ownership::Ours
                    },
                }
            })));
        }
        out
    }

    async fn create(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        let address = change.address.to_string();
        let applied = self
            .call("create", &address, || {
                let mut store = self.store.lock().unwrap();
                // Idempotent, as the contract asks: creating an address that exists (a crashed
                // run's object) keeps that object's id.
                let id = match store.get(&address).map(Stored::outputs) {
                    Some(outputs) if outputs["id"].is_string() => outputs["id"].as_str().unwrap_or_default().to_string(),
                    _ => format!("{}-{}", change.kind, self.counter.fetch_add(1, Ordering::SeqCst)),
                };
                let outputs = json!({"id": id, "endpoint": format!("{}.test.example", change.address.as_str().replace('.', "-"))});
                store.insert(address.clone(), Stored::new(&change.attrs, &outputs));
                Ok(Applied { remote_id: id, attrs: change.attrs.clone(), outputs })
            })
            .await?;
        self.persist();
        Ok(applied)
    }

    async fn update(&self, change: &ResourceChange) -> Result<Applied, ProviderError> {
        let address = change.address.to_string();
        let applied = self
            .call("update", &address, || {
                let mut store = self.store.lock().unwrap();
                let Some(entry) = store.get_mut(&address) else {
                    return Err(ProviderError::not_found(format!("{address} does not exist")));
                };
                entry.attrs = encode(&change.attrs);
                let outputs = entry.outputs();
                Ok(Applied {
                    remote_id: outputs["id"].as_str().unwrap_or_default().to_string(),
                    attrs: change.attrs.clone(),
                    outputs,
                })
            })
            .await?;
        self.persist();
        Ok(applied)
    }

    async fn delete(&self, request: &DeleteRequest) -> Result<(), ProviderError> {
        let address = request.address.to_string();
        self.call("delete", &address, || {
            self.store.lock().unwrap().remove(&address);
            Ok(())
        })
        .await?;
        self.persist();
        Ok(())
    }

    async fn wait(&self, kind: &str, applied: &Applied) -> Result<Applied, ProviderError> {
        if self.schema(kind).asynchronous {
            let latency = *self.latency.lock().unwrap();
            tokio::time::sleep(latency).await;
        }
        Ok(applied.clone())
    }
}

/// Address helper for tests.
pub fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid test address")
}

/// The test provider as a plugin (`providers: { test: { ... } }`), for a CLI built with its
/// `test-provider` feature.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestPlugin;

impl strata_sdk::ProviderPlugin for TestPlugin {
    fn name(&self) -> &'static str {
        "test"
    }

    fn settings_schema(&self) -> Value {
        json!({"type": "object", "description": "The in-memory test provider (strata's own tests)."})
    }

    fn configure(
        &self,
        settings: &Value,
        _cx: &strata_sdk::ProviderContext,
    ) -> Result<std::sync::Arc<dyn Provider>, strata_sdk::SettingsError> {
        let config: TestProviderConfig = strata_sdk::decode_settings(settings)?;
        let provider = TestProvider::from_config(&config).map_err(strata_sdk::SettingsError::new)?;
        Ok(std::sync::Arc::new(provider))
    }
}
