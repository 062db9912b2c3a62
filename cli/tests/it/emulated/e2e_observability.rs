//! Issue 13, end to end: examples/observability (ServiceMonitors, SLO PrometheusRules,
//! OpenTelemetry collectors and Jaeger, dashboards, AlertmanagerConfig) applied by the built
//! `strata` binary to a local API server serving the real prometheus-operator and OpenTelemetry
//! CRDs (installed with the real kubectl): apply, no-op re-plan, a change of objective that
//! updates only that SLO's rules, destroy.

use crate::kube;

use kube::{Cluster, Project, actions, api_spec, block};
use serde_json::json;

const ADDRESSES: [&str; 11] = [
    "observability.alerts.apex",
    "observability.dashboard.api",
    "observability.dashboard.web",
    "observability.metrics.api",
    "observability.metrics.web",
    "observability.slo-dashboard",
    "observability.slo.api-availability",
    "observability.slo.api-latency",
    "observability.tracing.collector",
    "observability.tracing.jaeger",
    "observability.tracing.loadbalancer",
];

const KINDS: &str = "servicemonitors.monitoring.coreos.com,prometheusrules.monitoring.coreos.com,\
    alertmanagerconfigs.monitoring.coreos.com,opentelemetrycollectors.opentelemetry.io";

const OBJECTS: [&str; 8] = [
    "alertmanagerconfig.monitoring.coreos.com/apex-slo-alerts",
    "opentelemetrycollector.opentelemetry.io/apex-jaeger",
    "opentelemetrycollector.opentelemetry.io/apex-otel",
    "opentelemetrycollector.opentelemetry.io/apex-otel-lb",
    "prometheusrule.monitoring.coreos.com/slo-api-availability",
    "prometheusrule.monitoring.coreos.com/slo-api-latency",
    "servicemonitor.monitoring.coreos.com/api",
    "servicemonitor.monitoring.coreos.com/web",
];

#[test]
fn observability_example_apply_replan_objective_change_destroy() {
    let k = Cluster::start();
    k.apply_crds(&[
        api_spec("prometheus-operator/monitoring.coreos.com_servicemonitors.yaml"),
        api_spec("prometheus-operator/monitoring.coreos.com_prometheusrules.yaml"),
        api_spec("prometheus-operator/monitoring.coreos.com_alertmanagerconfigs.yaml"),
        api_spec("opentelemetry/opentelemetry.io_opentelemetrycollectors.yaml"),
        api_spec("opentelemetry/opentelemetry.io_instrumentations.yaml"),
    ]);
    // strata does not create namespaces.
    k.create_namespace("apex", &[]);
    let p = Project::example(&k, "observability");

    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert!(plan.stdout.contains("Plan: 11 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 11 added, 0 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    assert_eq!(p.state_addresses(None), ADDRESSES);
    assert_eq!(k.names(KINDS), OBJECTS);

    // On the server, as generated.
    let sm = k.must_get("servicemonitor.monitoring.coreos.com", "api", Some("apex"));
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
    assert_eq!(sm["spec"]["endpoints"][0]["interval"], "30s");
    let rule = k.must_get("prometheusrule.monitoring.coreos.com", "slo-api-availability", Some("apex"));
    assert_eq!(rule["spec"]["groups"][1]["rules"][0]["expr"], "vector(0.999)");
    let amc = k.must_get("alertmanagerconfig.monitoring.coreos.com", "apex-slo-alerts", Some("apex"));
    assert_eq!(
        amc["spec"]["receivers"][1]["pagerdutyConfigs"][0]["routingKey"],
        json!({"name": "pd-key", "key": "routing_key"})
    );
    let lb = k.must_get("opentelemetrycollector.opentelemetry.io", "apex-otel-lb", Some("apex"));
    assert_eq!(lb["spec"]["config"]["exporters"]["loadbalancing"]["routing_key"], "traceID");
    let cm = k.must_get("configmap", "apex-dashboard-slos", Some("apex"));
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");

    // Re-plan and drift: nothing.
    let again = p.strata(&["plan", "--detailed-exitcode"]).ok();
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    p.strata(&["drift"]).ok();

    // A new objective changes that SLO's rules and nothing else.
    p.edit("objective: 99.9%", "objective: 99.5%");
    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert!(plan.stdout.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    let json = p.strata(&["plan", "--json"]).ok().json();
    assert_eq!(actions(&json), [("observability.slo.api-availability".to_string(), "update".to_string())]);
    let shown = block(&plan.stdout, "# observability.slo.api-availability will be updated in-place", "}");
    assert!(shown.iter().any(|l| l.contains("vector(0.999)") && l.contains("vector(0.995)")), "{shown:#?}");
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 0 added, 1 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    let rule = k.must_get("prometheusrule.monitoring.coreos.com", "slo-api-availability", Some("apex"));
    assert_eq!(rule["spec"]["groups"][1]["rules"][0]["expr"], "vector(0.995)");
    p.strata(&["plan", "--detailed-exitcode"]).ok();

    let destroyed = p.strata(&["destroy", "--auto-approve"]).ok();
    assert!(destroyed.stdout.contains("Destroy complete! Resources: 11 destroyed."), "{}", destroyed.stdout);
    assert_eq!(k.names(KINDS), Vec::<String>::new());
    assert!(k.object("configmap", "apex-dashboard-slos", Some("apex")).is_none());
    assert_eq!(p.state_addresses(None), Vec::<String>::new());
}
