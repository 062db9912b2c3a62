use serde_json::{Value, json};
use strata_sdk::Resource;

use super::Scaling;
use crate::diag::{Diagnostics, SpecDiagnostic};
use crate::lower::Section;
use crate::lower::flags::testutil::{example, python_validate, workspace_root};

const HEAD: &str = "version: 1\nproject: apex\nservices:\n  api: { namespace: apex, port: 8080 }\n  worker: { namespace: apex, port: 9090 }\n";

/// Parses `text` for `env` and lowers its `scaling:` section.
fn lower_env(text: &str, env: Option<&str>) -> (Vec<Resource>, Diagnostics) {
    crate::lower::lower_for_test(&Scaling, text, env, &|_| None)
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
    if !diag.code.starts_with("spec::") {
        assert!(diag.detail.ends_with('.'), "detail is a sentence: {}", diag.detail);
    }
    diag
}

fn by_address<'a>(rs: &'a [Resource], a: &str) -> &'a Resource {
    rs.iter().find(|r| r.address.as_str() == a).unwrap_or_else(|| panic!("no {a} in {rs:#?}"))
}

#[test]
fn lowers_hpa_pdb_vpa() {
    let (rs, d, _) = lower(
        "scaling:\n  api:\n    replicas: { min: 2, max: 20 }\n    target: { cpu: 70%, memory: 512Mi }\n    scale_down: { stabilization: 5m, policies: [ { percent: 10%, period: 1m } ] }\n    disruption: { min_available: 1 }\n    vpa: {}\n",
    );
    assert!(d.is_empty(), "{:?}", d.items);
    let addrs: Vec<&str> = rs.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addrs, ["scaling.api.hpa", "scaling.api.pdb", "scaling.api.vpa"]);
    let hpa = by_address(&rs, "scaling.api.hpa");
    assert_eq!(hpa.kind, "autoscaling/v2/HorizontalPodAutoscaler");
    assert_eq!(hpa.provider, "kubernetes");
    assert_eq!(hpa.attrs["metadata"], json!({"name": "api", "namespace": "apex"}));
    assert_eq!(
        hpa.attrs["spec"]["scaleTargetRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    );
    assert_eq!(
        hpa.attrs["spec"]["metrics"],
        json!([
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "512Mi"}}},
        ])
    );
    assert_eq!(
        hpa.attrs["spec"]["behavior"],
        json!({"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}})
    );
    let pdb = by_address(&rs, "scaling.api.pdb");
    assert_eq!(pdb.attrs["spec"], json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "api"}}}));
    let vpa = by_address(&rs, "scaling.api.vpa");
    assert_eq!(vpa.kind, "autoscaling.k8s.io/v1/VerticalPodAutoscaler");
    assert_eq!(vpa.attrs["spec"]["updatePolicy"], json!({"updateMode": "Off"}));
}

#[test]
fn target_ref_and_selector_override_the_defaults() {
    let (rs, d, _) = lower(
        "scaling:\n  api:\n    target_ref: { kind: StatefulSet, name: api-sts }\n    replicas: { min: 1, max: 3 }\n    disruption: { max_unavailable: 25%, selector: { tier: web } }\n",
    );
    assert!(d.is_empty(), "{:?}", d.items);
    let hpa = by_address(&rs, "scaling.api.hpa");
    assert_eq!(
        hpa.attrs["spec"]["scaleTargetRef"],
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "api-sts"})
    );
    assert!(hpa.attrs["spec"].get("metrics").is_none(), "no metrics: Kubernetes defaults to 80% CPU");
    let pdb = by_address(&rs, "scaling.api.pdb");
    assert_eq!(pdb.attrs["spec"], json!({"maxUnavailable": "25%", "selector": {"matchLabels": {"tier": "web"}}}));
}

#[test]
fn strata_never_sets_controller_owned_fields() {
    // The HPA owns the workload's replica count and the status of every object: nothing strata
    // generates may set them, so the engine never reports their changes as drift.
    let (rs, d) = lower_env(&example(), Some("prod"));
    assert!(d.is_empty(), "{:?}", d.items);
    for r in &rs {
        assert!(r.attrs.get("status").is_none(), "{} sets status", r.address);
        assert!(r.attrs["spec"].get("replicas").is_none(), "{} sets spec.replicas", r.address);
        assert!(!r.kind.ends_with("/Deployment") && !r.kind.ends_with("/StatefulSet"), "{}", r.address);
    }
}

#[test]
fn quotas_lower_to_resource_quota_and_limit_range() {
    let (rs, d, _) = lower(
        "scaling:\n  quotas:\n    apex: { cpu: \"40\", memory: 80Gi, pods: 200, default_request: { cpu: 100m, memory: 128Mi }, default_limit: { cpu: \"1\", memory: 512Mi } }\n    only-limits: { max: { cpu: 2 } }\n",
    );
    assert!(d.is_empty(), "{:?}", d.items);
    let addrs: Vec<&str> = rs.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addrs, ["scaling.limits.apex", "scaling.limits.only-limits", "scaling.quota.apex"]);
    let q = by_address(&rs, "scaling.quota.apex");
    assert_eq!(q.kind, "v1/ResourceQuota");
    assert_eq!(q.attrs["metadata"], json!({"name": "apex-quota", "namespace": "apex"}));
    assert_eq!(q.attrs["spec"]["hard"], json!({"requests.cpu": "40", "requests.memory": "80Gi", "pods": "200"}));
    let l = by_address(&rs, "scaling.limits.apex");
    assert_eq!(
        l.attrs["spec"]["limits"],
        json!([{"type": "Container", "default": {"cpu": "1", "memory": "512Mi"}, "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}])
    );
}

#[test]
fn unknown_service_suggests_a_close_name() {
    let d = expect_one("scaling:\n  apu: { replicas: { min: 1, max: 2 } }\n", "scaling::unknown-service", "apu");
    assert_eq!(d.help.as_deref(), Some("did you mean `api`?"));
    let d =
        expect_one("scaling:\n  billing: { replicas: { min: 1, max: 2 } }\n", "scaling::unknown-service", "billing");
    assert_eq!(d.help.as_deref(), Some("declare `billing` under `services:` first"));
}

#[test]
fn unknown_keys_are_reported_with_did_you_mean() {
    let d = expect_one("scaling:\n  api: { replica: { min: 1, max: 2 } }\n", "spec::unknown-key", "replica");
    assert_eq!(d.help.as_deref(), Some("did you mean `replicas`?"));
    let d = expect_one(
        "scaling:\n  api:\n    replicas: { min: 1, max: 2 }\n    metrics: [ { podz: { name: rps, average: \"1\" } } ]\n",
        "spec::unknown-key",
        "podz",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `pods`?"));
}

#[test]
fn min_above_max() {
    let d = expect_one("scaling:\n  api: { replicas: { min: 5, max: 2 } }\n", "scaling::min-above-max", "5");
    assert!(d.detail.contains("minimum of 5 replicas is above the maximum of 2"), "{}", d.detail);
}

#[test]
fn zero_replicas() {
    expect_one("scaling:\n  api: { replicas: { min: 0, max: 2 } }\n", "scaling::invalid-replicas", "0");
}

#[test]
fn zero_and_out_of_range_targets() {
    expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 2 }, target: { cpu: 0% } }\n",
        "scaling::target-out-of-range",
        "0%",
    );
    // Above 100% is meaningful for utilisation (limits above requests): no diagnostic.
    let (_, d, _) = lower("scaling:\n  api: { replicas: { min: 1, max: 2 }, target: { cpu: 150% } }\n");
    assert!(d.is_empty(), "{:?}", d.items);
    // Fractional percentages are not accepted by Kubernetes.
    expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 2 }, target: { cpu: 70.5% } }\n",
        "spec::invalid-value",
        "70.5%",
    );
}

#[test]
fn hpa_settings_need_replicas() {
    expect_one("scaling:\n  api: { target: { cpu: 70% } }\n", "scaling::missing-replicas", "target");
}

#[test]
fn pdb_that_blocks_every_eviction() {
    let d = expect_one(
        "scaling:\n  api: { replicas: { min: 2, max: 3 }, disruption: { min_available: 3 } }\n",
        "scaling::pdb-blocks-eviction",
        "3",
    );
    assert!(d.detail.contains("at least the maximum of 3 replicas"), "{}", d.detail);
    expect_one("scaling:\n  api: { disruption: { max_unavailable: 0 } }\n", "scaling::pdb-blocks-eviction", "0");
    expect_one("scaling:\n  api: { disruption: { min_available: 100% } }\n", "scaling::pdb-blocks-eviction", "100%");
}

#[test]
fn pdb_with_both_bounds_or_none() {
    expect_one(
        "scaling:\n  api: { disruption: { min_available: 1, max_unavailable: 1 } }\n",
        "scaling::disruption-conflict",
        "max_unavailable",
    );
    expect_one("scaling:\n  api: { disruption: {} }\n", "scaling::disruption-conflict", "disruption");
}

#[test]
fn pdb_percent_above_100() {
    expect_one("scaling:\n  api: { disruption: { max_unavailable: 150% } }\n", "scaling::percent-out-of-range", "150%");
}

#[test]
fn empty_pdb_selector() {
    expect_one(
        "scaling:\n  api: { disruption: { max_unavailable: 1, selector: {} } }\n",
        "scaling::empty-selector",
        "selector",
    );
}

#[test]
fn policies_windows_and_periods() {
    expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 4 }, scale_up: { policies: [ { pods: 2, percent: 50%, period: 15s } ] } }\n",
        "scaling::invalid-policy",
        "percent",
    );
    expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 4 }, scale_down: { policies: [ { percent: 150%, period: 1m } ] } }\n",
        "scaling::percent-out-of-range",
        "150%",
    );
    expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 4 }, scale_up: { policies: [ { pods: 0, period: 1m } ] } }\n",
        "scaling::invalid-policy",
        "0",
    );
    expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 4 }, scale_up: { policies: [ { pods: 2, period: 1h } ] } }\n",
        "scaling::invalid-period",
        "1h",
    );
    expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 4 }, scale_down: { stabilization: 2h } }\n",
        "scaling::invalid-window",
        "2h",
    );
}

#[test]
fn external_metric_needs_one_target() {
    expect_one(
        "scaling:\n  api:\n    replicas: { min: 1, max: 4 }\n    metrics: [ { external: { name: q, value: \"3\", average: \"1\" } } ]\n",
        "scaling::metric-target",
        "average",
    );
}

#[test]
fn vpa_that_fights_the_hpa() {
    let d = expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 4 }, target: { cpu: 70% }, vpa: { mode: auto } }\n",
        "scaling::vpa-hpa-conflict",
        "auto",
    );
    assert!(d.detail.contains("cpu"), "{}", d.detail);
    // Only memory controlled: no conflict with a CPU-driven HPA.
    let (_, d, _) = lower(
        "scaling:\n  api: { replicas: { min: 1, max: 4 }, target: { cpu: 70% }, vpa: { mode: auto, controlled: [memory] } }\n",
    );
    assert!(d.is_empty(), "{:?}", d.items);
}

#[test]
fn quota_requests_above_limits() {
    expect_one(
        "scaling:\n  quotas:\n    apex: { default_request: { cpu: \"2\" }, default_limit: { cpu: 500m } }\n",
        "scaling::request-above-limit",
        "\"2\"",
    );
    expect_one(
        "scaling:\n  quotas:\n    apex: { cpu: \"40\", limits: { cpu: \"20\" } }\n",
        "scaling::request-above-limit",
        "\"40\"",
    );
    expect_one("scaling:\n  quotas:\n    Apex_NS: { pods: 3 }\n", "scaling::invalid-namespace", "Apex_NS");
}

#[test]
fn duplicate_targets() {
    expect_one(
        "scaling:\n  api: { replicas: { min: 1, max: 4 } }\n  worker: { target_ref: { name: api }, replicas: { min: 1, max: 4 } }\n",
        "scaling::duplicate-target",
        "worker",
    );
}

#[test]
fn one_pass_reports_every_problem() {
    let (_, d, text) = lower(
        "scaling:\n  api: { replicas: { min: 9, max: 2 }, disruption: { max_unavailable: 0 } }\n  worker: { replicas: { min: 1, max: 2 }, target: { memory: 0% } }\n  apu: {}\n  quotas:\n    apex: { pods: many }\n",
    );
    let got: Vec<(&str, &str)> = d.items.iter().map(|d| (d.code, span_text(&text, d))).collect();
    assert_eq!(
        got,
        [
            ("scaling::min-above-max", "9"),
            ("scaling::pdb-blocks-eviction", "0"),
            ("scaling::target-out-of-range", "0%"),
            ("scaling::unknown-service", "apu"),
            ("spec::wrong-type", "many"),
        ]
    );
}

#[test]
fn environment_overlays_merge_into_the_section() {
    let text = example();
    let hpa = |env| {
        let (rs, d) = lower_env(&text, env);
        assert!(d.is_empty(), "{env:?}: {:?}", d.items);
        by_address(&rs, "scaling.api.hpa").attrs["spec"].clone()
    };
    assert_eq!((hpa(None)["minReplicas"].clone(), hpa(None)["maxReplicas"].clone()), (json!(2), json!(20)));
    assert_eq!(
        (hpa(Some("prod"))["minReplicas"].clone(), hpa(Some("prod"))["maxReplicas"].clone()),
        (json!(4), json!(40))
    );
    // The overlay replaced only `replicas`: targets from the base remain.
    assert_eq!(hpa(Some("staging"))["metrics"][0]["resource"]["name"], "cpu");
    // A null in an overlay removes a key.
    let removed = format!("{text}  qa:\n    scaling:\n      api: {{ vpa: null }}\n");
    let (rs, d) = lower_env(&removed, Some("qa"));
    assert!(d.is_empty(), "{:?}", d.items);
    assert!(rs.iter().all(|r| r.address.as_str() != "scaling.api.vpa"));
}

#[test]
fn schema_describes_services_and_quotas() {
    let mut generator = schemars::SchemaGenerator::default();
    let schema = serde_json::to_value(Scaling.schema(&mut generator)).unwrap();
    assert!(schema["properties"]["quotas"]["additionalProperties"].is_object());
    assert!(schema["additionalProperties"].is_object());
    let defs = serde_json::to_value(generator.definitions()).unwrap();
    assert!(defs["ServiceScaling"]["properties"]["replicas"].is_object(), "{defs:#}");
}

/// The example's objects, golden.
#[test]
fn example_snapshot() {
    let (rs, d) = lower_env(&example(), None);
    assert!(d.is_empty(), "{:?}", d.items);
    let view: Vec<Value> =
        rs.iter().map(|r| json!({"address": r.address.as_str(), "kind": r.kind, "manifest": r.attrs})).collect();
    insta::assert_yaml_snapshot!("example", view);
}

/// Every object the example generates, in every environment, against the official schemas:
/// core kinds with kubernetes-validate, the VPA against its CRD.
#[test]
fn example_objects_validate_against_official_schemas() {
    let mut manifests: Vec<Value> = Vec::new();
    for env in [None, Some("dev"), Some("staging"), Some("prod")] {
        let (rs, d) = lower_env(&example(), env);
        assert!(d.is_empty(), "{:?}", d.items);
        manifests.extend(rs.into_iter().map(|r| r.attrs));
    }
    let script = workspace_root().join("tests/validate/validate_manifests.py");
    python_validate(&script, &manifests);
}
