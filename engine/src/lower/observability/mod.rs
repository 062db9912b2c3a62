//! `observability:` — metrics scraping, SLOs with burn-rate alerts, tracing, dashboards and alert
//! routing, as prometheus-operator, OpenTelemetry operator and Grafana sidecar objects.
//!
//! ```yaml
//! observability:
//!   labels: { release: kube-prometheus-stack }  # on ServiceMonitors, rules, AlertmanagerConfigs
//!   tracing: { backend: jaeger, sampling: 10%, tail: { errors: true, slower_than: 500ms } }
//!   metrics: { scrape_interval: 30s, path: /metrics, port: http }
//!   dashboards: true
//!   slos:
//!     - { name: api-availability, service: api, objective: 99.9%, window: 30d,
//!         sli: { errors: 'http_requests_total{job="api",code=~"5.."}', total: 'http_requests_total{job="api"}' } }
//!   alerts:
//!     receivers: { oncall: { pagerduty: { routing_key_secret: pd-key } } }
//!     routes: [ { severity: page, to: oncall } ]
//! ```
//!
//! Addresses: `observability.metrics.<service>` (ServiceMonitor), `observability.slo.<slo>`
//! (PrometheusRule), `observability.tracing.collector|loadbalancer|jaeger`
//! (OpenTelemetryCollector), `observability.tracing.instrumentation.<namespace>`,
//! `observability.dashboard.<service>` and `observability.slo-dashboard` (ConfigMaps),
//! `observability.alerts.<namespace>` (AlertmanagerConfig). The reference is
//! docs/observability.md.

pub mod alerts;
mod config;
pub mod dashboards;
pub mod gate;
#[cfg(test)]
mod oracle_tests;
pub mod slo;
#[cfg(test)]
mod tests;
pub mod tracing;
mod validate;

use std::collections::BTreeSet;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value, json};
use strata_sdk::{Address, Resource};

pub use config::{
    AlertRoute, Alerts, LatencySli, Metrics, ObservabilityConfig, PagerDuty, Receiver, SecretRef, Severity, Slack, Sli,
    Slo, TailSampling, Tracing,
};

use super::mesh::{APP_LABEL, MeshConfig};
use super::{Section, Sections, kubernetes_resource};
use crate::spec::{SpecContext, path};

/// The `observability:` section.
pub struct Observability;

const DEFAULT_SCRAPE_INTERVAL: &str = "30s";
const DEFAULT_METRICS_PATH: &str = "/metrics";
const DEFAULT_METRICS_PORT: &str = "http";
const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

impl Section for Observability {
    type Config = ObservabilityConfig;

    fn name(&self) -> &'static str {
        "observability"
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        ObservabilityConfig::json_schema(generator)
    }

    fn decode(&self, cx: &mut SpecContext<'_>, section: &Value) -> Option<ObservabilityConfig> {
        if !section.is_object() {
            cx.error(
                &path(["observability"]),
                "spec::wrong-type",
                "Wrong type",
                "`observability` must be a map of settings (`metrics`, `slos`, `tracing`, ...).",
                None,
            );
            return None;
        }
        // SLOs decode one by one, so each bad entry is reported at its own span and the good
        // ones still lower.
        let mut rest = section.clone();
        let slos = rest.as_object_mut().and_then(|m| m.remove("slos"));
        let mut config = cx.decode::<ObservabilityConfig>(&path(["observability"]), &rest)?;
        match slos {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(slo) = cx.decode::<Slo>(&path(["observability", "slos", &i.to_string()]), item) {
                        config.slos.push(slo);
                        config.slo_sources.push(i);
                    }
                }
            }
            Some(_) => cx.error(
                &path(["observability", "slos"]),
                "spec::wrong-type",
                "Wrong type",
                "`observability.slos` must be a list of SLOs.",
                Some("write `slos: [ { name: api-availability, service: api, objective: 99.9%, sli: {...} } ]`".into()),
            ),
        }
        Some(config)
    }

    fn lower(&self, cx: &mut SpecContext<'_>, config: &ObservabilityConfig, sections: &Sections) -> Vec<Resource> {
        validate::check(cx, config);
        let cluster_domain = sections
            .get::<MeshConfig>()
            .map(|m| m.cluster_domain.clone())
            .unwrap_or_else(|| DEFAULT_CLUSTER_DOMAIN.into());
        let mut out = build(cx.project, cx.services, config, &cluster_domain);
        out.sort_by(|a, b| a.address.cmp(&b.address));
        out
    }
}

fn push(out: &mut Vec<Resource>, segments: &[&str], manifest: Value) {
    // Names that failed validation cannot form an address; they were reported already.
    if let Ok(address) = Address::from_segments(std::iter::once("observability").chain(segments.iter().copied())) {
        out.push(kubernetes_resource(address, manifest));
    }
}

fn labelled(mut manifest: Value, labels: &std::collections::BTreeMap<String, String>) -> Value {
    if !labels.is_empty() {
        manifest["metadata"]["labels"] = json!(labels);
    }
    manifest
}

/// The namespace of the shared objects: `observability.namespace`, else the first service's.
pub fn shared_namespace(
    config: &ObservabilityConfig,
    services: &std::collections::BTreeMap<String, crate::spec::Service>,
) -> Option<String> {
    config.namespace.clone().or_else(|| services.values().next().map(|s| s.namespace.clone()))
}

/// The namespaces that get an AlertmanagerConfig: those of the services with SLOs.
pub fn alert_namespaces(
    config: &ObservabilityConfig,
    services: &std::collections::BTreeMap<String, crate::spec::Service>,
) -> Vec<String> {
    let set: BTreeSet<String> =
        config.slos.iter().filter_map(|s| services.get(&s.service)).map(|s| s.namespace.clone()).collect();
    set.into_iter().collect()
}

/// Every object of the section. Entries that refer to unknown services are skipped (reported by
/// validation).
pub fn build(
    project: &str,
    services: &std::collections::BTreeMap<String, crate::spec::Service>,
    config: &ObservabilityConfig,
    cluster_domain: &str,
) -> Vec<Resource> {
    let mut out = Vec::new();
    let shared_ns = shared_namespace(config, services);

    if let Some(m) = &config.metrics {
        let selected: Vec<&String> = match &m.services {
            Some(list) => list.iter().filter(|s| services.contains_key(*s)).collect(),
            None => services.keys().collect(),
        };
        for name in selected {
            let svc = &services[name];
            let interval =
                m.scrape_interval.map(|d| d.to_prometheus()).unwrap_or_else(|| DEFAULT_SCRAPE_INTERVAL.into());
            let manifest = json!({
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": { "name": name, "namespace": svc.namespace },
                "spec": {
                    "selector": { "matchLabels": { APP_LABEL: name } },
                    "namespaceSelector": { "matchNames": [svc.namespace] },
                    "endpoints": [{
                        "port": m.port.as_deref().unwrap_or(DEFAULT_METRICS_PORT),
                        "path": m.path.as_deref().unwrap_or(DEFAULT_METRICS_PATH),
                        "interval": interval,
                    }],
                }
            });
            push(&mut out, &["metrics", name], labelled(manifest, &config.labels));
        }
    }

    let mut seen = BTreeSet::new();
    let mut rule_slos = Vec::new();
    for s in &config.slos {
        let Some(svc) = services.get(&s.service) else { continue };
        if !seen.insert(s.name.as_str()) {
            continue;
        }
        let manifest = json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": { "name": format!("slo-{}", s.name), "namespace": svc.namespace },
            "spec": slo::rule_spec(s, svc),
        });
        push(&mut out, &["slo", &s.name], labelled(manifest, &config.labels));
        rule_slos.push(s);
    }

    if let (Some(t), Some(ns)) = (&config.tracing, &shared_ns) {
        let names = tracing::Names { project, namespace: ns, cluster_domain };
        push(&mut out, &["tracing", "collector"], tracing::collector(&names, t));
        push(&mut out, &["tracing", "jaeger"], tracing::jaeger(&names, t));
        if tracing::has_loadbalancer(t) {
            push(&mut out, &["tracing", "loadbalancer"], tracing::loadbalancer(&names, t));
        }
        if t.instrumentation {
            let namespaces: BTreeSet<&String> = services.values().map(|s| &s.namespace).collect();
            for n in namespaces {
                push(&mut out, &["tracing", "instrumentation", n], tracing::instrumentation(&names, t, n));
            }
        }
    }

    if config.dashboards
        && let Some(ns) = &shared_ns
    {
        for (name, svc) in services {
            let d = dashboards::service_dashboard(project, name, svc);
            let cm = dashboards::configmap(&format!("{project}-dashboard-{name}"), ns, &format!("{name}.json"), &d);
            push(&mut out, &["dashboard", name], cm);
        }
        if !rule_slos.is_empty() {
            let d = dashboards::slo_dashboard(project, &rule_slos);
            push(
                &mut out,
                &["slo-dashboard"],
                dashboards::configmap(&format!("{project}-dashboard-slos"), ns, "slos.json", &d),
            );
        }
    }

    if let Some(a) = &config.alerts {
        for ns in alert_namespaces(config, services) {
            let manifest = alerts::alertmanager_config(&format!("{project}-slo-alerts"), &ns, a);
            push(&mut out, &["alerts", &ns], labelled(manifest, &config.labels));
        }
    }
    out
}
