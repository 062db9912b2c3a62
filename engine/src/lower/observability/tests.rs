use serde_json::{Value, json};
use strata_sdk::Resource;

use super::Observability;
use super::slo::{burn_windows, ratio};
use crate::diag::{Diagnostics, SpecDiagnostic};
use crate::lower::flags::testutil::{python_validate, workspace_root};

const HEAD: &str = "version: 1\nproject: apex\nservices:\n  api: { namespace: apex, port: 8080 }\n  web: { namespace: front, port: 3000 }\n";

pub(super) fn example() -> String {
    let p = workspace_root().join("examples/observability/strata.yaml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

pub(super) fn lower_env(text: &str, env: Option<&str>) -> (Vec<Resource>, Diagnostics) {
    crate::lower::lower_for_test(&Observability, text, env, &|_| None)
}

pub(super) fn lower_ok(text: &str, env: Option<&str>) -> Vec<Resource> {
    let (rs, d) = lower_env(text, env);
    assert!(d.is_empty(), "{:#?}", d.items);
    rs
}

fn lower(body: &str) -> (Vec<Resource>, Diagnostics, String) {
    let text = format!("{HEAD}{body}");
    let (r, d) = lower_env(&text, None);
    (r, d, text)
}

fn span_text<'a>(text: &'a str, d: &SpecDiagnostic) -> &'a str {
    let s = d.span.unwrap_or_else(|| panic!("no span on {d:?}"));
    &text[s.offset..s.offset + s.len]
}

/// The only diagnostic, which must have `code` and point at `span`.
fn expect_one(body: &str, code: &str, span: &str) -> SpecDiagnostic {
    let (_, d, text) = lower(body);
    assert_eq!(d.len(), 1, "expected one diagnostic, got {:#?}", d.items);
    let diag = d.items[0].clone();
    assert_eq!(diag.code, code, "{diag:#?}");
    assert_eq!(span_text(&text, &diag), span, "{diag:#?}");
    assert!(diag.detail.ends_with('.'), "detail is a sentence: {}", diag.detail);
    diag
}

pub(super) fn by_address<'a>(rs: &'a [Resource], a: &str) -> &'a Resource {
    rs.iter().find(|r| r.address.as_str() == a).unwrap_or_else(|| panic!("no {a} in {:?}", addresses(rs)))
}

fn addresses(rs: &[Resource]) -> Vec<&str> {
    rs.iter().map(|r| r.address.as_str()).collect()
}

const AVAILABILITY: &str = "observability:\n  slos:\n    - name: api-availability\n      service: api\n      objective: 99.9%\n      sli: { errors: 'http_requests_total{code=~\"5..\"}', total: http_requests_total }\n";

#[test]
fn burn_rate_factors_scale_with_the_window() {
    let f = |days: f64| burn_windows(days).iter().map(|b| ratio(b.factor)).collect::<Vec<_>>();
    assert_eq!(f(30.0), ["14.4", "6", "3", "1"]);
    assert_eq!(f(28.0), ["13.44", "5.6", "2.8", "0.9333333333"]);
    let w = burn_windows(30.0);
    let pairs: Vec<(&str, &str, &str)> = w.iter().map(|b| (b.severity.as_str(), b.short, b.long)).collect();
    assert_eq!(pairs, [("page", "5m", "1h"), ("page", "30m", "6h"), ("ticket", "2h", "1d"), ("ticket", "6h", "3d")]);
}

#[test]
fn example_lowers_every_kind() {
    let rs = lower_ok(&example(), None);
    assert_eq!(
        addresses(&rs),
        [
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
        ]
    );
    for r in &rs {
        assert_eq!(r.provider, "kubernetes");
    }
    let sm = by_address(&rs, "observability.metrics.api");
    assert_eq!(sm.kind, "monitoring.coreos.com/v1/ServiceMonitor");
    assert_eq!(sm.attrs["metadata"]["labels"], json!({"release": "kube-prometheus-stack"}));
    assert_eq!(sm.attrs["spec"]["selector"], json!({"matchLabels": {"app": "api"}}));
    assert_eq!(sm.attrs["spec"]["endpoints"], json!([{"port": "http", "path": "/metrics", "interval": "30s"}]));
    // Staging has one collector replica: no load-balancing tier.
    let staging = lower_ok(&example(), Some("staging"));
    assert!(!addresses(&staging).contains(&"observability.tracing.loadbalancer"));
}

#[test]
fn slo_rules_are_sloth_compatible() {
    let rs = lower_ok(&example(), None);
    let rule = by_address(&rs, "observability.slo.api-availability");
    assert_eq!(rule.kind, "monitoring.coreos.com/v1/PrometheusRule");
    assert_eq!(rule.attrs["metadata"]["name"], "slo-api-availability");
    assert_eq!(rule.attrs["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let groups = rule.attrs["spec"]["groups"].as_array().unwrap();
    let records: Vec<&str> =
        groups.iter().flat_map(|g| g["rules"].as_array().unwrap()).filter_map(|r| r["record"].as_str()).collect();
    for w in ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"] {
        assert!(records.contains(&format!("slo:sli_error:ratio_rate{w}").as_str()), "{w}: {records:?}");
    }
    for r in [
        "slo:objective:ratio",
        "slo:error_budget:ratio",
        "slo:current_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
    ] {
        assert!(records.contains(&r), "{r}: {records:?}");
    }
    let sli = &groups[0]["rules"];
    assert_eq!(
        sli[0]["expr"],
        "(sum(rate(http_requests_total{job=\"api\",code=~\"5..\"}[5m])))\n/\n(sum(rate(http_requests_total{job=\"api\"}[5m])))"
    );
    assert_eq!(sli[0]["labels"]["sloth_window"], "5m");
    assert!(sli[7]["expr"].as_str().unwrap().starts_with("avg_over_time(slo:sli_error:ratio_rate5m{"), "{}", sli[7]);
    let meta = &groups[1]["rules"];
    assert_eq!(meta[0]["expr"], "vector(0.999)");
    assert_eq!(meta[1]["expr"], "vector(1-0.999)");
    let alerts = groups[2]["rules"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    let page = &alerts[0];
    assert_eq!(
        page["labels"],
        json!({"severity": "page", "slo": "api-availability", "service": "api", "namespace": "apex", "sloth_severity": "page"})
    );
    let expr = page["expr"].as_str().unwrap();
    assert!(expr.contains("slo:sli_error:ratio_rate5m{") && expr.contains("> (14.4 * 0.001)"), "{expr}");
    assert!(expr.contains("slo:sli_error:ratio_rate6h{") && expr.contains("> (6 * 0.001)"), "{expr}");
    let ticket = alerts[1]["expr"].as_str().unwrap();
    assert!(
        ticket.contains("ratio_rate2h") && ticket.contains("(3 * 0.001)") && ticket.contains("(1 * 0.001)"),
        "{ticket}"
    );
    // The 28d staging SLO scales the factors.
    let staging = lower_ok(&example(), Some("staging"));
    let rule = by_address(&staging, "observability.slo.api-availability");
    let page = rule.attrs["spec"]["groups"][2]["rules"][0]["expr"].as_str().unwrap();
    assert!(page.contains("(13.44 * 0.01)") && page.contains("(5.6 * 0.01)"), "{page}");
    assert!(rule.attrs["spec"]["groups"][0]["rules"][7]["record"] == "slo:sli_error:ratio_rate28d");
}

#[test]
fn latency_slis_count_requests_above_the_bucket() {
    let rs = lower_ok(&example(), None);
    let rule = by_address(&rs, "observability.slo.api-latency");
    let expr = rule.attrs["spec"]["groups"][0]["rules"][0]["expr"].as_str().unwrap();
    assert_eq!(
        expr,
        "(\n  sum(rate(http_request_duration_seconds_count{job=\"api\"}[5m]))\n  -\n  sum(rate(http_request_duration_seconds_bucket{job=\"api\",le=\"0.3\"}[5m]))\n)\n/\n(sum(rate(http_request_duration_seconds_count{job=\"api\"}[5m])))"
    );
    assert_eq!(rule.attrs["spec"]["groups"][1]["rules"][0]["expr"], "vector(0.99)");
}

#[test]
fn tracing_tail_sampling_with_replicas_gets_a_trace_id_routing_tier() {
    let rs = lower_ok(&example(), None);
    let c = &by_address(&rs, "observability.tracing.collector").attrs;
    assert_eq!(c["apiVersion"], "opentelemetry.io/v1beta1");
    assert_eq!(c["spec"]["replicas"], 2);
    let cfg = &c["spec"]["config"];
    let policies: Vec<&str> = cfg["processors"]["tail_sampling"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(policies, ["status_code", "latency", "probabilistic"]);
    assert_eq!(cfg["processors"]["tail_sampling"]["policies"][1]["latency"]["threshold_ms"], 500);
    assert_eq!(cfg["exporters"]["otlp/jaeger"]["endpoint"], "apex-jaeger-collector.apex.svc.cluster.local:4317");
    assert_eq!(
        cfg["service"]["pipelines"]["traces"]["processors"],
        json!(["memory_limiter", "tail_sampling", "batch"])
    );
    let lb = &by_address(&rs, "observability.tracing.loadbalancer").attrs["spec"]["config"];
    assert_eq!(lb["exporters"]["loadbalancing"]["routing_key"], "traceID");
    assert_eq!(
        lb["exporters"]["loadbalancing"]["resolver"]["dns"]["hostname"],
        "apex-otel-collector-headless.apex.svc.cluster.local"
    );
    let j = &by_address(&rs, "observability.tracing.jaeger").attrs;
    assert!(j["spec"]["image"].as_str().unwrap().starts_with("jaegertracing/jaeger:2."));
    assert_eq!(j["spec"]["config"]["service"]["extensions"], json!(["jaeger_storage", "jaeger_query"]));
}

#[test]
fn head_sampling_without_tail_and_the_mesh_cluster_domain() {
    let body = "mesh: { provider: istio, cluster_domain: corp.local }\nobservability:\n  tracing: { sampling: 25%, instrumentation: true }\n";
    let text = format!("{HEAD}{body}");
    // Lower with the mesh section decoded, as loading does.
    let names = crate::lower::test_names();
    let (p, d) = crate::spec::parse_spec_with_env("strata.yaml", text.as_str(), None, &names, &|_| None)
        .unwrap_or_else(|d| panic!("{:?}", d.items));
    assert!(d.is_empty(), "{:?}", d.items);
    let mut cx = p.context(&names);
    let mesh = crate::lower::mesh::Mesh::standard();
    let mesh_cfg = crate::lower::Section::decode(&mesh, &mut cx, &p.doc["mesh"]).unwrap();
    let mut sections = crate::lower::Sections::default();
    sections.insert("mesh", Box::new(mesh_cfg));
    let cfg = crate::lower::Section::decode(&Observability, &mut cx, &p.doc["observability"]).unwrap();
    let rs = crate::lower::Section::lower(&Observability, &mut cx, &cfg, &sections);
    assert!(cx.diags.is_empty(), "{:?}", cx.diags.items);
    let c = &by_address(&rs, "observability.tracing.collector").attrs["spec"]["config"];
    assert_eq!(c["processors"]["probabilistic_sampler"], json!({"sampling_percentage": 25.0}));
    assert_eq!(c["exporters"]["otlp/jaeger"]["endpoint"], "apex-jaeger-collector.apex.svc.corp.local:4317");
    let i = &by_address(&rs, "observability.tracing.instrumentation.front").attrs;
    assert_eq!(i["metadata"], json!({"name": "apex", "namespace": "front"}));
    assert_eq!(i["spec"]["sampler"], json!({"type": "parentbased_traceidratio", "argument": "0.25"}));
    assert_eq!(i["spec"]["exporter"]["endpoint"], "http://apex-otel-collector.apex.svc.corp.local:4318");
}

#[test]
fn dashboards_are_valid_grafana_json() {
    let rs = lower_ok(&example(), None);
    for (addr, file) in [("observability.dashboard.api", "api.json"), ("observability.slo-dashboard", "slos.json")] {
        let cm = &by_address(&rs, addr).attrs;
        assert_eq!(cm["metadata"]["labels"], json!({"grafana_dashboard": "1"}));
        let d: Value = serde_json::from_str(cm["data"][file].as_str().unwrap()).expect("dashboard is JSON");
        assert_eq!(d["schemaVersion"], 39);
        assert!(d["uid"].as_str().unwrap().len() <= 40);
        let panels = d["panels"].as_array().unwrap();
        assert!(!panels.is_empty());
        let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
        ids.dedup();
        assert_eq!(ids.len(), panels.len(), "panel ids are unique");
        for p in panels {
            for k in ["h", "w", "x", "y"] {
                assert!(p["gridPos"][k].is_u64(), "{p}");
            }
            for t in p["targets"].as_array().unwrap() {
                assert!(t["refId"].is_string() && !t["expr"].as_str().unwrap().is_empty(), "{t}");
            }
        }
    }
    let api: Value = serde_json::from_str(
        by_address(&rs, "observability.dashboard.api").attrs["data"]["api.json"].as_str().unwrap(),
    )
    .unwrap();
    let titles: Vec<&str> = api["panels"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Traffic", "Errors", "Latency", "Saturation (CPU used / requested)"]);
    let legends: Vec<&str> =
        api["panels"][2]["targets"].as_array().unwrap().iter().map(|t| t["legendFormat"].as_str().unwrap()).collect();
    assert_eq!(legends, ["p50", "p95", "p99"]);
}

#[test]
fn alertmanager_config_references_secrets_and_inhibits_tickets() {
    let rs = lower_ok(&example(), None);
    let amc = &by_address(&rs, "observability.alerts.apex").attrs;
    assert_eq!(amc["apiVersion"], "monitoring.coreos.com/v1alpha1");
    let spec = &amc["spec"];
    assert_eq!(
        spec["route"]["routes"],
        json!([
            {"receiver": "oncall", "matchers": [{"name": "severity", "value": "page", "matchType": "="}]},
            {"receiver": "team", "matchers": [{"name": "severity", "value": "ticket", "matchType": "="}]},
        ])
    );
    let receivers = spec["receivers"].as_array().unwrap();
    let oncall = receivers.iter().find(|r| r["name"] == "oncall").unwrap();
    assert_eq!(oncall["pagerdutyConfigs"], json!([{"routingKey": {"name": "pd-key", "key": "routing_key"}}]));
    let team = receivers.iter().find(|r| r["name"] == "team").unwrap();
    assert_eq!(
        team["slackConfigs"],
        json!([{"apiURL": {"name": "slack-url", "key": "url"}, "channel": "#apex-alerts"}])
    );
    assert_eq!(
        spec["inhibitRules"],
        json!([{
            "sourceMatch": [{"name": "severity", "value": "page", "matchType": "="}],
            "targetMatch": [{"name": "severity", "value": "ticket", "matchType": "="}],
            "equal": ["slo", "namespace"],
        }])
    );
}

#[test]
fn secret_refs_with_explicit_keys() {
    let body = format!(
        "{AVAILABILITY}  alerts:\n    receivers:\n      oncall: {{ pagerduty: {{ routing_key_secret: {{ name: pd, key: token }} }} }}\n    routes: [ {{ severity: page, to: oncall }} ]\n"
    );
    let (rs, d, _) = lower(&body);
    assert!(d.is_empty(), "{:?}", d.items);
    let amc = &by_address(&rs, "observability.alerts.apex").attrs;
    assert_eq!(amc["spec"]["receivers"][1]["pagerdutyConfigs"][0]["routingKey"], json!({"name": "pd", "key": "token"}));
}

// --- diagnostics -----------------------------------------------------------------------------

#[test]
fn slo_of_an_unknown_service_points_at_it_with_a_suggestion() {
    let d = expect_one(&AVAILABILITY.replace("service: api", "service: apj"), "observability::unknown-service", "apj");
    assert_eq!(d.help.as_deref(), Some("did you mean `api`?"));
}

#[test]
fn unknown_keys_get_did_you_mean() {
    let d = expect_one("observability:\n  dashbords: true\n", "spec::unknown-key", "dashbords");
    assert_eq!(d.help.as_deref(), Some("did you mean `dashboards`?"));
    let d = expect_one(&AVAILABILITY.replace("objective:", "objectiv:"), "spec::unknown-key", "objectiv");
    assert_eq!(d.help.as_deref(), Some("did you mean `objective`?"));
}

#[test]
fn bad_percentages_and_durations_are_reported_at_their_value() {
    expect_one(&AVAILABILITY.replace("99.9%", "99.9 percent"), "spec::invalid-value", "99.9 percent");
    expect_one(
        &AVAILABILITY.replace("objective: 99.9%", "objective: 99.9%\n      window: 30days"),
        "spec::invalid-value",
        "30days",
    );
    expect_one("observability:\n  tracing: { sampling: 110% }\n", "spec::invalid-value", "110%");
    expect_one("observability:\n  metrics: { scrape_interval: soon }\n", "spec::invalid-value", "soon");
}

#[test]
fn one_bad_slo_does_not_hide_the_others() {
    let body = format!(
        "{AVAILABILITY}    - {{ name: b, service: api, objective: 99%, sli: {{ errors: x }} }}\n    - {{ name: c, service: api, objectiv: 99% }}\n"
    );
    let (rs, d, _) = lower(&body);
    let codes: Vec<&str> = d.items.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["observability::invalid-sli", "spec::unknown-key"], "{:#?}", d.items);
    assert!(addresses(&rs).contains(&"observability.slo.api-availability"));
    // A check after a dropped entry still points into its own entry.
    let body = format!(
        "{AVAILABILITY}    - {{ name: c, service: api, objectiv: 99% }}\n    - {{ name: d, service: api, objective: 100%, sli: {{ errors: x, total: y }} }}\n"
    );
    let (_, d, text) = lower(&body);
    let got: Vec<(&str, &str)> = d.items.iter().map(|d| (d.code, span_text(&text, d))).collect();
    assert_eq!(got, [("spec::unknown-key", "objectiv"), ("observability::invalid-objective", "100%")]);
}

#[test]
fn semantic_problems() {
    expect_one(&AVAILABILITY.replace("99.9%", "100%"), "observability::invalid-objective", "100%");
    expect_one(
        &AVAILABILITY.replace("objective: 99.9%", "objective: 99.9%\n      window: 36h"),
        "observability::invalid-window",
        "36h",
    );
    expect_one(
        &AVAILABILITY.replace("total: http_requests_total", "total: 'rate(x[5m])'"),
        "observability::invalid-selector",
        "'rate(x[5m])'",
    );
    expect_one(&AVAILABILITY.replace("api-availability", "API"), "observability::invalid-name", "API");
    let dup = format!("{AVAILABILITY}{}", &AVAILABILITY[AVAILABILITY.find("    - name").unwrap()..]);
    let (_, d, _) = lower(&dup);
    assert_eq!(d.items.iter().map(|d| d.code).collect::<Vec<_>>(), ["observability::duplicate-slo"]);
    expect_one("observability:\n  tracing: { tail: {} }\n", "observability::empty-tail", "tail");
    expect_one("observability:\n  tracing: { replicas: 0 }\n", "observability::invalid-replicas", "0");
    expect_one("observability:\n  metrics: { services: [api, wbe] }\n", "observability::unknown-service", "wbe");
    expect_one(
        "observability:\n  prometheus: { url: prometheus:9090 }\n",
        "observability::invalid-url",
        "prometheus:9090",
    );
    let d = expect_one(
        "observability:\n  alerts:\n    receivers: { oncall: { slack: { webhook_secret: s } } }\n    routes: [ { severity: page, to: oncal } ]\n",
        "observability::unknown-receiver",
        "oncal",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `oncall`?"));
    expect_one("observability:\n  alerts:\n    receivers: { oncall: {} }\n", "observability::empty-receiver", "oncall");
    expect_one(
        "observability:\n  alerts:\n    receivers: { o: { slack: { webhook_secret: s } } }\n    routes: [ { severity: page, to: o }, { severity: page, to: o } ]\n",
        "observability::duplicate-route",
        "page",
    );
    expect_one(
        "observability:\n  alerts:\n    routes: [ { severity: urgent, to: o } ]\n",
        "spec::invalid-value",
        "urgent",
    );
}

#[test]
fn schema_describes_the_section() {
    let mut generator = schemars::SchemaGenerator::default();
    let schema = serde_json::to_value(crate::lower::Section::schema(&Observability, &mut generator)).unwrap();
    for key in ["labels", "tracing", "metrics", "dashboards", "slos", "alerts", "prometheus", "namespace"] {
        assert!(schema["properties"].get(key).is_some(), "schema lacks {key}: {schema}");
    }
    assert_eq!(schema["additionalProperties"], false);
}

/// The example's objects, golden.
#[test]
fn example_snapshot() {
    let rs = lower_ok(&example(), None);
    let view: Vec<Value> =
        rs.iter().map(|r| json!({"address": r.address.as_str(), "kind": r.kind, "manifest": r.attrs})).collect();
    insta::assert_yaml_snapshot!("example", view);
}

/// Every object the example generates, in every environment, against the official schemas:
/// the prometheus-operator and OpenTelemetry CRDs, ConfigMaps with kubernetes-validate.
#[test]
fn example_objects_validate_against_official_schemas() {
    let mut manifests: Vec<Value> = Vec::new();
    for env in [None, Some("staging")] {
        manifests.extend(lower_ok(&example(), env).into_iter().map(|r| r.attrs));
    }
    // The head-sampling variant with Instrumentations.
    let text = format!("{HEAD}observability:\n  tracing: {{ sampling: 25%, instrumentation: true }}\n");
    manifests.extend(lower_ok(&text, None).into_iter().map(|r| r.attrs));
    let kinds: std::collections::BTreeSet<String> =
        manifests.iter().map(|m| m["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "AlertmanagerConfig",
            "ConfigMap",
            "Instrumentation",
            "OpenTelemetryCollector",
            "PrometheusRule",
            "ServiceMonitor"
        ]
    );
    python_validate(&workspace_root().join("tests/validate/validate_manifests.py"), &manifests);
}

/// The validator is a real check of these CRDs: objects broken the way a lowering bug would
/// break them are refused.
#[test]
fn the_validator_rejects_broken_observability_objects() {
    let rs = lower_ok(&example(), None);
    let mut collector = by_address(&rs, "observability.tracing.collector").attrs.clone();
    collector["spec"]["config"]["service"].as_object_mut().unwrap().remove("pipelines");
    let mut rule = by_address(&rs, "observability.slo.api-availability").attrs.clone();
    rule["spec"]["groups"][0]["rules"][0]["recrd"] = json!("x");
    let mut amc = by_address(&rs, "observability.alerts.apex").attrs.clone();
    amc["spec"]["inhibitRules"][0]["sourceMatch"][0]["matchType"] = json!("==");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, serde_json::to_string(&[&collector, &rule, &amc]).unwrap()).unwrap();
    let out = std::process::Command::new(crate::lower::flags::testutil::python())
        .arg(workspace_root().join("tests/validate/validate_manifests.py"))
        .arg(&file)
        .env("STRATA_API_SPECS", crate::lower::flags::testutil::api_specs())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert_eq!(text.matches("FAIL").count(), 3, "{text}");
    assert!(text.contains("pipelines") && text.contains("recrd") && text.contains("=="), "{text}");
}

#[test]
fn gate_queries_are_burn_rates_over_an_hour() {
    let text = format!("{HEAD}{AVAILABILITY}");
    let names = crate::lower::test_names();
    let (p, _) = crate::spec::parse_spec_with_env("strata.yaml", text.as_str(), None, &names, &|_| None)
        .unwrap_or_else(|d| panic!("{:?}", d.items));
    let mut cx = p.context(&names);
    let cfg = crate::lower::Section::decode(&Observability, &mut cx, &p.doc["observability"]).unwrap();
    let q = super::gate::queries(&cfg, "api");
    assert_eq!(q.len(), 1);
    assert_eq!(
        q[0].promql,
        "(\n(sum(rate(http_requests_total{code=~\"5..\"}[1h])))\n/\n(sum(rate(http_requests_total[1h])))\n)\n/ 0.001"
    );
    assert!(super::gate::queries(&cfg, "web").is_empty());
}
