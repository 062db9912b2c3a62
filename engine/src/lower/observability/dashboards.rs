//! Grafana dashboards as ConfigMaps that the Grafana sidecar of kube-prometheus-stack loads
//! (label `grafana_dashboard: "1"`): the four golden signals per service, and one dashboard of
//! every SLO's budget and burn rates (from the Sloth-compatible recording rules).
//!
//! Request metrics follow the Prometheus client conventions: a counter `http_requests_total`
//! with a `code` label and a histogram `http_request_duration_seconds`, selected by the
//! `job="<service>"` label the generated ServiceMonitor gives each service's targets.
//! Saturation is CPU used over CPU requested (cAdvisor and kube-state-metrics series).

use serde_json::{Value, json};

use super::config::Slo;
use super::slo::{SLI_WINDOWS, sloth_id};
use crate::spec::Service;

/// The Grafana dashboard JSON model version the dashboards are written in (Grafana 10.4/11).
pub const SCHEMA_VERSION: u32 = 39;
/// Label the Grafana sidecar selects dashboard ConfigMaps by.
pub const SIDECAR_LABEL: &str = "grafana_dashboard";

/// `$datasource`, not `${datasource}`: strata reads `${...}` in generated attributes as a reference.
const DATASOURCE: &str = "$datasource";

struct Panels {
    panels: Vec<Value>,
    next_y: u32,
    x: u32,
}

impl Panels {
    fn new() -> Self {
        Panels { panels: Vec::new(), next_y: 0, x: 0 }
    }

    /// Adds a half-width time series panel, two per row.
    fn timeseries(&mut self, title: &str, unit: &str, targets: &[(&str, &str)]) {
        let id = self.panels.len() as u32 + 1;
        let targets: Vec<Value> = targets
            .iter()
            .enumerate()
            .map(|(i, (expr, legend))| {
                json!({
                    "datasource": { "type": "prometheus", "uid": DATASOURCE },
                    "expr": expr,
                    "legendFormat": legend,
                    "refId": ((b'A' + i as u8) as char).to_string(),
                })
            })
            .collect();
        self.panels.push(json!({
            "id": id,
            "type": "timeseries",
            "title": title,
            "datasource": { "type": "prometheus", "uid": DATASOURCE },
            "gridPos": { "h": 8, "w": 12, "x": self.x, "y": self.next_y },
            "fieldConfig": { "defaults": { "unit": unit }, "overrides": [] },
            "options": { "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true } },
            "targets": targets,
        }));
        if self.x == 0 {
            self.x = 12;
        } else {
            self.x = 0;
            self.next_y += 8;
        }
    }
}

fn dashboard(uid: &str, title: &str, tags: &[&str], panels: Panels) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "tags": tags,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": false,
        "graphTooltip": 1,
        "time": { "from": "now-6h", "to": "now" },
        "refresh": "30s",
        "timezone": "browser",
        "templating": {
            "list": [{
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            }]
        },
        "annotations": { "list": [] },
        "panels": panels.panels,
    })
}

/// The golden signals of one service.
pub fn service_dashboard(project: &str, name: &str, service: &Service) -> Value {
    let job = format!("job=\"{name}\"");
    let ns = &service.namespace;
    let pods = format!("namespace=\"{ns}\", pod=~\"{name}-.*\"");
    let mut p = Panels::new();
    p.timeseries("Traffic", "reqps", &[(&format!("sum(rate(http_requests_total{{{job}}}[5m]))"), "requests/s")]);
    p.timeseries(
        "Errors",
        "percentunit",
        &[(
            &format!(
                "sum(rate(http_requests_total{{{job}, code=~\"5..\"}}[5m])) / sum(rate(http_requests_total{{{job}}}[5m]))"
            ),
            "5xx ratio",
        )],
    );
    let quantiles: Vec<(String, String)> = [("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")]
        .iter()
        .map(|(q, l)| {
            (
                format!(
                    "histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{job}}}[5m])))"
                ),
                l.to_string(),
            )
        })
        .collect();
    let qs: Vec<(&str, &str)> = quantiles.iter().map(|(e, l)| (e.as_str(), l.as_str())).collect();
    p.timeseries("Latency", "s", &qs);
    p.timeseries(
        "Saturation (CPU used / requested)",
        "percentunit",
        &[(
            &format!(
                "sum(rate(container_cpu_usage_seconds_total{{{pods}, container!=\"\"}}[5m])) / sum(kube_pod_container_resource_requests{{{pods}, resource=\"cpu\"}})"
            ),
            "cpu",
        )],
    );
    dashboard(&uid(project, name), &format!("{name} — golden signals"), &["strata", "golden-signals"], p)
}

/// Budget remaining and burn rates of every SLO.
pub fn slo_dashboard(project: &str, slos: &[&Slo]) -> Value {
    let mut p = Panels::new();
    for slo in slos {
        let sel = format!("sloth_id=\"{}\"", sloth_id(slo));
        p.timeseries(
            &format!("{} — error budget remaining ({})", slo.name, slo.window.to_prometheus()),
            "percentunit",
            &[(&format!("slo:period_error_budget_remaining:ratio{{{sel}}}"), "remaining")],
        );
        let burns: Vec<(String, String)> = SLI_WINDOWS
            .iter()
            .map(|w| {
                (
                    format!(
                        "slo:sli_error:ratio_rate{w}{{{sel}}} / on (sloth_id, sloth_slo, sloth_service) group_left slo:error_budget:ratio{{{sel}}}"
                    ),
                    w.to_string(),
                )
            })
            .collect();
        let bs: Vec<(&str, &str)> = burns.iter().map(|(e, l)| (e.as_str(), l.as_str())).collect();
        p.timeseries(&format!("{} — burn rate per window", slo.name), "none", &bs);
    }
    dashboard(&uid(project, "slos"), "SLOs — error budgets and burn rates", &["strata", "slo"], p)
}

/// Grafana uids are at most 40 characters.
fn uid(project: &str, name: &str) -> String {
    let mut u = format!("{project}-{name}");
    u.truncate(40);
    u
}

/// The ConfigMap carrying `dashboard` for the Grafana sidecar.
pub fn configmap(name: &str, namespace: &str, file: &str, dashboard: &Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name, "namespace": namespace, "labels": { SIDECAR_LABEL: "1" } },
        "data": { file: serde_json::to_string_pretty(dashboard).expect("dashboard JSON") },
    })
}
