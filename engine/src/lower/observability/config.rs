//! Typed configuration of `observability:`. The JSON Schema of the section is generated from these
//! types; `decode` in `mod.rs` decodes the section into them, one SLO and one receiver at a time,
//! so one pass reports every problem.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};

use crate::spec::units::{Duration, Percent};

/// `observability:` — metrics, SLOs, tracing, dashboards and alert routing for the services.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservabilityConfig {
    /// Labels put on every ServiceMonitor, PrometheusRule and AlertmanagerConfig so the user's
    /// Prometheus and Alertmanager select them (kube-prometheus-stack selects by `release`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Namespace of the shared objects (trace collector, Jaeger, dashboards). Default: the
    /// namespace of the first service.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Distributed tracing: an OpenTelemetry collector exporting to Jaeger.
    #[serde(default)]
    pub tracing: Option<Tracing>,
    /// Scraping: a ServiceMonitor per service.
    #[serde(default)]
    pub metrics: Option<Metrics>,
    /// Grafana dashboards (ConfigMaps labelled `grafana_dashboard: "1"`): golden signals per
    /// service and one SLO dashboard.
    #[serde(default)]
    pub dashboards: bool,
    /// Service level objectives, each lowered to a PrometheusRule with multi-window,
    /// multi-burn-rate alerts.
    #[serde(default)]
    pub slos: Vec<Slo>,
    /// The index in the spec's `slos` list of each decoded SLO (entries that did not decode
    /// are left out of `slos`), so diagnostics point at the right entry.
    #[serde(skip)]
    #[schemars(skip)]
    pub slo_sources: Vec<usize>,
    /// Where SLO alerts go: an AlertmanagerConfig per namespace that has SLOs.
    #[serde(default)]
    pub alerts: Option<Alerts>,
    /// The Prometheus that evaluates the rules (read by `--gate slo`).
    #[serde(default)]
    pub prometheus: Option<Prometheus>,
}

/// `tracing: { backend: jaeger, sampling: 10%, tail: { errors: true, slower_than: 500ms } }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tracing {
    /// Where traces are stored and queried. Only `jaeger` (Jaeger v2, deployed as an
    /// OpenTelemetry collector).
    #[serde(default)]
    pub backend: TracingBackend,
    /// Share of traces kept. Without `tail` it is decided when a trace starts (probabilistic
    /// sampling); with `tail` it is the share of the traces no tail policy keeps. Default 100%.
    #[serde(default)]
    pub sampling: Option<Percent>,
    /// Tail sampling: decide per trace once it is complete, keeping every trace that matches.
    #[serde(default)]
    pub tail: Option<TailSampling>,
    /// Collector replicas (default 1). With tail sampling and more than one replica a first
    /// tier routes all spans of a trace to one collector (the `loadbalancing` exporter).
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Image of the collector (default: the OpenTelemetry Collector contrib distribution).
    #[serde(default)]
    pub image: Option<String>,
    /// Image of Jaeger v2 (default `jaegertracing/jaeger:2.8.0`).
    #[serde(default)]
    pub jaeger_image: Option<String>,
    /// An `Instrumentation` in every service namespace so the OpenTelemetry operator injects
    /// SDKs into pods annotated for it, exporting to the collector.
    #[serde(default)]
    pub instrumentation: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TracingBackend {
    #[default]
    Jaeger,
}

/// `tail: { errors: true, slower_than: 500ms }`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TailSampling {
    /// Keep every trace with a span whose status is ERROR.
    #[serde(default)]
    pub errors: bool,
    /// Keep every trace that lasted longer than this.
    #[serde(default)]
    pub slower_than: Option<Duration>,
    /// How long the collector waits after a trace's first span before deciding (default 10s).
    #[serde(default)]
    pub decision_wait: Option<Duration>,
}

/// `metrics: { scrape_interval: 30s, path: /metrics, port: http }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// How often Prometheus scrapes (default 30s).
    #[serde(default)]
    pub scrape_interval: Option<Duration>,
    /// HTTP path of the metrics endpoint (default `/metrics`).
    #[serde(default)]
    pub path: Option<String>,
    /// Name of the Service port serving metrics (default `http`).
    #[serde(default)]
    pub port: Option<String>,
    /// The services to scrape (default: every service in `services:`).
    #[serde(default)]
    pub services: Option<Vec<String>>,
}

/// One SLO: `{ name, service, objective: 99.9%, window: 30d, sli: {...} }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Name of the SLO, unique in the spec (a DNS label: it names the PrometheusRule).
    pub name: String,
    /// The service (from `services:`) the SLO is about; its namespace holds the rules.
    pub service: String,
    /// Target share of good events over the window, like `99.9%`.
    pub objective: Percent,
    /// The period the objective covers, in whole days (default 30d). The burn-rate factors
    /// scale with it (30d: 14.4, 6, 3, 1).
    #[serde(default = "default_window")]
    pub window: Duration,
    /// How good and bad events are counted.
    pub sli: Sli,
    /// A sentence for the alert annotations.
    #[serde(default)]
    pub description: Option<String>,
}

pub fn default_window() -> Duration {
    Duration::from_millis(30 * 86_400_000)
}

/// The SLI: either an error ratio (`errors` and `total`, PromQL series selectors of counters) or
/// a latency threshold (`latency`, from a histogram's buckets).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sli {
    /// Selector of the counter of failed events: `http_requests_total{job="api",code=~"5.."}`.
    #[serde(default)]
    pub errors: Option<String>,
    /// Selector of the counter of all events: `http_requests_total{job="api"}`.
    #[serde(default)]
    pub total: Option<String>,
    /// Requests slower than `le` seconds are bad events.
    #[serde(default)]
    pub latency: Option<LatencySli>,
}

/// `latency: { histogram: http_request_duration_seconds, le: 0.3 }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencySli {
    /// Name of the histogram (without `_bucket`/`_count`).
    pub histogram: String,
    /// The bucket boundary, in the histogram's unit, exactly as the `le` label shows it.
    pub le: BucketBound,
    /// Label matchers narrowing the series (default `job="<service>"`, the job label the
    /// generated ServiceMonitor gives the service's targets).
    #[serde(default)]
    pub matchers: Option<String>,
}

/// A histogram bucket boundary written as a number (`0.3`) or a string (`"0.3"`); kept as text
/// because it is matched against the `le` label's text.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketBound {
    pub text: String,
    pub value: f64,
}

impl<'de> Deserialize<'de> for BucketBound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = BucketBound;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a bucket boundary like `0.3`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BucketBound, E> {
                let value: f64 = v.trim().parse().map_err(|_| {
                    E::custom(format!("`{v}` is not a bucket boundary: write a positive number like `0.3`"))
                })?;
                if value.is_nan() || value <= 0.0 || !value.is_finite() {
                    return Err(E::custom(format!(
                        "`{v}` is not a bucket boundary: write a positive number like `0.3`"
                    )));
                }
                Ok(BucketBound { text: v.trim().to_string(), value })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<BucketBound, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BucketBound, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BucketBound, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for BucketBound {
    fn schema_name() -> Cow<'static, str> {
        "BucketBound".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$"}
            ],
            "description": "A histogram bucket boundary (`le`), like `0.3`."
        })
    }
}

/// `alerts: { receivers: {...}, routes: [...] }`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// Named receivers; the keys become Alertmanager receiver names.
    #[serde(default)]
    pub receivers: BTreeMap<String, Receiver>,
    /// Which severity goes where: `{ severity: page, to: oncall }`.
    #[serde(default)]
    pub routes: Vec<AlertRoute>,
}

/// A receiver: PagerDuty, Slack or both. Credentials come from Kubernetes Secrets by reference,
/// in the namespace of the alerts; strata never reads or writes their values.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    #[serde(default)]
    pub pagerduty: Option<PagerDuty>,
    #[serde(default)]
    pub slack: Option<Slack>,
}

/// `pagerduty: { routing_key_secret: pd-key }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PagerDuty {
    /// The Secret holding the Events API v2 routing key (data key `routing_key` unless written
    /// `{ name, key }`).
    pub routing_key_secret: SecretRef,
}

/// `slack: { webhook_secret: slack-url, channel: "#alerts" }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slack {
    /// The Secret holding the incoming webhook URL (data key `url` unless written
    /// `{ name, key }`).
    pub webhook_secret: SecretRef,
    #[serde(default)]
    pub channel: Option<String>,
}

/// A key of a Kubernetes Secret: `pd-key` (the default data key) or `{ name: pd-key, key: token }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SecretRef {
    Name(String),
    Key { name: String, key: String },
}

impl SecretRef {
    pub fn name(&self) -> &str {
        match self {
            SecretRef::Name(n) | SecretRef::Key { name: n, .. } => n,
        }
    }

    pub fn key<'a>(&'a self, default: &'a str) -> &'a str {
        match self {
            SecretRef::Name(_) => default,
            SecretRef::Key { key, .. } => key,
        }
    }
}

/// `{ severity: page, to: oncall }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRoute {
    pub severity: Severity,
    /// A receiver named under `receivers`.
    pub to: String,
}

/// The two severities of SLO alerts: `page` (fast burn, someone acts now) and `ticket` (slow
/// burn, someone acts within days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// `prometheus: { url: http://prometheus.monitoring:9090 }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prometheus {
    /// Base URL of the Prometheus HTTP API.
    pub url: String,
}
