//! Tests of the `mesh:` lowering: one per validation rule (code and span), golden snapshots of
//! both examples, environment overlays, the canary step, and schema validation of every object.
//!
//! Not here yet: applying both examples end to end against tests/kube-test-server (with the
//! Istio and Linkerd CRDs loaded) through the CLI, then a canary step as a one-object update.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use serde_json::Value;
use strata_sdk::Resource;

use super::Mesh;
use crate::diag::{Diagnostics, SpecDiagnostic};
use crate::lower::{Section, Sections};
use crate::spec::parse_spec_with_env;

/// Lowers `text` for `env`: the resources and every diagnostic (parse and lowering).
fn lower(text: &str, env: Option<&str>) -> (Vec<Resource>, Diagnostics) {
    let names = crate::lower::test_names();
    let (p, mut diags) = match parse_spec_with_env("strata.yaml", text, env, &names, &|_| None) {
        Ok(r) => r,
        Err(d) => panic!("spec did not parse: {:?}", d.items),
    };
    let mesh = Mesh::standard();
    let mut cx = p.context(&names);
    let resources = match p.doc.get("mesh") {
        Some(section) => match mesh.decode(&mut cx, section) {
            Some(config) => mesh.lower(&mut cx, &config, &Sections::default()),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    diags.extend(cx.diags);
    (resources, diags)
}

fn lower_ok(text: &str, env: Option<&str>) -> Vec<Resource> {
    let (r, d) = lower(text, env);
    assert!(d.is_empty(), "unexpected diagnostics:\n{}", d.render(false));
    r
}

/// The source text a diagnostic points at.
fn span_text<'a>(text: &'a str, d: &SpecDiagnostic) -> &'a str {
    let s = d.span.unwrap_or_else(|| panic!("diagnostic {} has no span", d.code));
    &text[s.offset..s.offset + s.len]
}

/// Asserts the diagnostic points at the flow collection `expected`. The core's spans of flow
/// collections stop before the closing bracket, so only that much is compared.
fn assert_flow_span(text: &str, d: &SpecDiagnostic, expected: &str) {
    let got = span_text(text, d);
    let body = &expected[..expected.len() - 1];
    assert!(got == expected || got == body, "{} points at {got:?}, not {expected:?}", d.code);
}

/// The only diagnostic with `code`; fails listing all of them otherwise.
fn only<'a>(d: &'a Diagnostics, code: &str) -> &'a SpecDiagnostic {
    let found: Vec<&SpecDiagnostic> = d.items.iter().filter(|x| x.code == code).collect();
    assert_eq!(found.len(), 1, "expected one {code}, got:\n{}", d.render(false));
    found[0]
}

const SERVICES: &str = "version: 1
project: apex
services:
  api:   { namespace: apex, port: 8080, versions: [v1, v2] }
  web:   { namespace: apex, port: 3000 }
  model: { namespace: ml, port: 9000, service_account: model-server }
";

fn spec(provider: &str, body: &str) -> String {
    format!("{SERVICES}mesh:\n  provider: {provider}\n{body}")
}

fn resource<'a>(rs: &'a [Resource], address: &str) -> &'a Resource {
    rs.iter()
        .find(|r| r.address.as_str() == address)
        .unwrap_or_else(|| panic!("no {address} among {:?}", rs.iter().map(|r| r.address.as_str()).collect::<Vec<_>>()))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf()
}

fn example(name: &str) -> String {
    let p = workspace_root().join("examples").join(name).join("strata.yaml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

// --- validation rules ------------------------------------------------------------------------

#[test]
fn split_must_sum_to_100() {
    let text = spec("istio", "  traffic:\n    api:\n      split: { v1: 90, v2: 5 }\n");
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::split-sum");
    assert_eq!(diag.summary, "Split does not sum to 100");
    assert!(diag.detail.contains("add up to 95"), "{}", diag.detail);
    assert_eq!(diag.help.as_deref(), Some("add 5 to one of the weights"));
    assert_flow_span(&text, diag, "{ v1: 90, v2: 5 }");
    assert_eq!(d.len(), 1, "{}", d.render(false));
}

#[test]
fn split_to_undeclared_version_suggests_one() {
    let text = spec("istio", "  traffic:\n    api:\n      split: { v1: 90, V2: 10 }\n");
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::unknown-version");
    assert_eq!(span_text(&text, diag), "V2");
    assert!(diag.detail.contains("its versions are v1, v2"), "{}", diag.detail);
    assert_eq!(diag.help.as_deref(), Some("did you mean `v2`?"));
    let text = spec("istio", "  traffic:\n    api:\n      split: { v1: 90, v3: 10 }\n");
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::unknown-version");
    assert_eq!(span_text(&text, diag), "v3");
    assert_eq!(diag.help.as_deref(), Some("use one of v1, v2, or add `v3` to `services.api.versions`"));
}

#[test]
fn route_to_undeclared_version() {
    let text = spec(
        "istio",
        "  traffic:\n    api:\n      routes:\n        - { match: { path_prefix: /beta/ }, to: canary }\n",
    );
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::unknown-version");
    assert_eq!(span_text(&text, diag), "canary");
}

#[test]
fn split_of_a_service_without_versions() {
    let text = spec("istio", "  traffic:\n    web:\n      split: { blue: 100 }\n");
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::unknown-version");
    assert!(diag.detail.contains("declares no versions"), "{}", diag.detail);
    assert!(diag.help.as_deref().unwrap().contains("versions: [blue"), "{:?}", diag.help);
}

#[test]
fn traffic_for_undeclared_service() {
    let text = spec("istio", "  traffic:\n    apii:\n      timeout: 5s\n");
    let (rs, d) = lower(&text, None);
    let diag = only(&d, "mesh::unknown-service");
    assert_eq!(span_text(&text, diag), "apii");
    assert_eq!(diag.help.as_deref(), Some("did you mean `api`?"));
    assert!(!rs.iter().any(|r| r.address.as_str().starts_with("mesh.apii")));
}

#[test]
fn authorization_names_undeclared_services() {
    let text =
        spec("istio", "  authorization:\n    - { to: api, from: [web, modle] }\n    - { to: billing, from: [web] }\n");
    let (_, d) = lower(&text, None);
    let found: Vec<_> = d.items.iter().filter(|x| x.code == "mesh::unknown-service").collect();
    assert_eq!(found.len(), 2, "{}", d.render(false));
    assert_eq!(span_text(&text, found[0]), "modle");
    assert_eq!(found[0].help.as_deref(), Some("did you mean `model`?"));
    assert_eq!(span_text(&text, found[1]), "billing");
}

#[test]
fn authorization_needs_callers_and_valid_paths() {
    let text = spec("istio", "  authorization:\n    - { to: api, from: [], paths: [v1/*, /a*b] }\n");
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::no-callers");
    assert_flow_span(&text, diag, "[]");
    let paths: Vec<_> = d.items.iter().filter(|x| x.code == "mesh::invalid-path").collect();
    assert_eq!(paths.len(), 2, "{}", d.render(false));
    assert_eq!(span_text(&text, paths[0]), "v1/*");
    assert_eq!(span_text(&text, paths[1]), "/a*b");
}

#[test]
fn bad_durations_and_percentages_point_at_the_value() {
    let text = spec(
        "istio",
        "  traffic:\n    api:\n      timeout: 10 seconds\n    model:\n      circuit_breaker: { consecutive_errors: 5, max_ejected: 150% }\n",
    );
    let (_, d) = lower(&text, None);
    assert_eq!(d.len(), 2, "{}", d.render(false));
    assert!(d.items.iter().all(|x| x.code == "spec::invalid-value"));
    let spans: Vec<&str> = d.items.iter().map(|x| span_text(&text, x)).collect();
    assert!(spans.contains(&"10 seconds"), "{spans:?}");
    assert!(spans.contains(&"150%"), "{spans:?}");
}

#[test]
fn unknown_keys_get_did_you_mean_and_every_entry_is_checked() {
    let text = spec(
        "istio",
        "  traffic:\n    api:\n      splt: { v1: 100 }\n    web:\n      retries: { attempts: 2, on: [5xx, conect-failure] }\n",
    );
    let (_, d) = lower(&text, None);
    let key = only(&d, "spec::unknown-key");
    assert_eq!(span_text(&text, key), "splt");
    assert_eq!(key.help.as_deref(), Some("did you mean `split`?"));
    let variant = only(&d, "spec::invalid-value");
    assert_eq!(variant.help.as_deref(), Some("did you mean `connect-failure`?"));
}

#[test]
fn retries_need_attempts_and_a_per_try_timeout_below_the_timeout() {
    let text =
        spec("istio", "  traffic:\n    api:\n      timeout: 2s\n      retries: { attempts: 0, per_try_timeout: 5s }\n");
    let (_, d) = lower(&text, None);
    let found: Vec<_> = d.items.iter().filter(|x| x.code == "mesh::invalid-retries").collect();
    assert_eq!(found.len(), 2, "{}", d.render(false));
    assert_eq!(span_text(&text, found[0]), "0");
    assert_eq!(found[0].summary, "Invalid retries");
    assert_eq!(span_text(&text, found[1]), "5s");
    assert!(found[1].detail.contains("times out after 2s"), "{}", found[1].detail);
}

#[test]
fn fractional_weights_and_zero_values_are_rejected() {
    let text = spec(
        "istio",
        "  traffic:\n    api:\n      split: { v1: 89.5, v2: 10.5 }\n      rate_limit: { per_second: 10, burst: 5 }\n      fault: { abort: { percent: 1, status: 200 } }\n",
    );
    let (_, d) = lower(&text, None);
    let weights: Vec<_> = d.items.iter().filter(|x| x.code == "mesh::invalid-weight").collect();
    assert_eq!(weights.len(), 2, "{}", d.render(false));
    assert_eq!(span_text(&text, weights[0]), "89.5");
    assert_eq!(weights[0].help.as_deref(), Some("use 89 or 90"));
    assert!(d.items.iter().all(|x| x.code != "mesh::split-sum"), "89.5 + 10.5 is 100");
    assert_eq!(span_text(&text, only(&d, "mesh::invalid-rate-limit")), "5");
    assert_eq!(span_text(&text, only(&d, "mesh::invalid-status")), "200");
}

#[test]
fn route_without_conditions_and_bad_headers() {
    let text = spec(
        "istio",
        "  traffic:\n    api:\n      routes:\n        - { match: {}, to: v2 }\n        - { match: { headers: { X-Canary: \"true\" } }, to: v2 }\n",
    );
    let (_, d) = lower(&text, None);
    assert_flow_span(&text, only(&d, "mesh::empty-match"), "{}");
    let header = only(&d, "mesh::invalid-header");
    assert_eq!(span_text(&text, header), "X-Canary");
    assert_eq!(header.help.as_deref(), Some("write `x-canary`"));
}

#[test]
fn http_features_on_a_tcp_service() {
    let text = "version: 1\nproject: apex\nservices:\n  db: { namespace: data, port: 5432, versions: [a, b], protocol: tcp }\nmesh:\n  provider: istio\n  traffic:\n    db:\n      split: { a: 50, b: 50 }\n      timeout: 5s\n";
    let (rs, d) = lower(text, None);
    let diag = only(&d, "mesh::protocol-mismatch");
    assert_eq!(span_text(text, diag), "timeout");
    // The split alone lowers to a TCP route.
    let vs = &resource(&rs, "mesh.db.virtual-service").attrs;
    assert_eq!(vs["spec"]["tcp"][0]["route"][1]["weight"], 50);
}

#[test]
fn linkerd_reports_what_it_cannot_express() {
    let text = spec(
        "linkerd",
        "  gateway: { hosts: [api.example.com], to: api }\n  traffic:\n    api:\n      split: { v1: 90, v2: 10 }\n      retries: { attempts: 2, on: [5xx, reset] }\n      circuit_breaker: { consecutive_errors: 5 }\n      fault: { delay: { percent: 1, fixed: 2s } }\n      rate_limit: { per_second: 10, burst: 20 }\n  external:\n    - { name: openai, hosts: [api.openai.com], ports: [443] }\n",
    );
    let (_, d) = lower(&text, None);
    let d = d.sorted();
    let found: Vec<(&str, &str)> = d
        .items
        .iter()
        .map(|x| {
            assert_eq!(x.code, "mesh::unsupported-feature", "{}", d.render(false));
            assert_eq!(x.summary, "Not supported by the mesh");
            (span_text(&text, x), x.detail.as_str())
        })
        .collect();
    let spans: Vec<&str> = found.iter().map(|f| f.0).collect();
    assert_eq!(spans, ["gateway", "reset", "circuit_breaker", "fault", "burst", "external"], "{}", d.render(false));
    let fault = found.iter().find(|f| f.0 == "fault").unwrap().1;
    assert!(fault.contains("none of its CRDs"), "{fault}");
    let cb = found.iter().find(|f| f.0 == "circuit_breaker").unwrap().1;
    assert!(cb.contains("no outlier detection"), "{cb}");
}

#[test]
fn linkerd_authorization_entries_for_one_service_must_agree_on_requests() {
    let text = spec(
        "linkerd",
        "  authorization:\n    - { to: api, from: [web], methods: [GET] }\n    - { to: api, from: [model], methods: [POST] }\n    - { to: api, from: [model], methods: [GET] }\n",
    );
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::unsupported-feature");
    assert_flow_span(&text, diag, "{ to: api, from: [model], methods: [POST] }");
}

#[test]
fn a_misspelt_provider_is_reported_and_entries_still_checked() {
    let text = spec("istoi", "  traffic:\n    api:\n      split: { v1: 10 }\n");
    let (rs, d) = lower(&text, None);
    assert!(rs.is_empty());
    assert_eq!(only(&d, "spec::invalid-value").help.as_deref(), Some("did you mean `istio`?"));
    // The provider is unknown, but the traffic entry was decoded (its split checked later only
    // with a valid top level): no crash, one diagnostic.
    assert_eq!(d.len(), 1, "{}", d.render(false));
}

#[test]
fn ambiguous_namespace_for_external_entries() {
    let text = spec("istio", "  external:\n    - { name: openai, hosts: [api.openai.com], ports: [443] }\n");
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::ambiguous-namespace");
    assert!(diag.detail.contains("apex, ml"), "{}", diag.detail);
}

// --- lowering --------------------------------------------------------------------------------

#[derive(Serialize)]
struct Golden<'a> {
    address: &'a str,
    kind: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<&'a str>,
    manifest: &'a Value,
}

fn golden(rs: &[Resource]) -> Vec<Golden<'_>> {
    rs.iter()
        .map(|r| Golden {
            address: r.address.as_str(),
            kind: &r.kind,
            depends_on: r.depends_on.iter().map(|a| a.as_str()).collect(),
            manifest: &r.attrs,
        })
        .collect()
}

#[test]
fn istio_example_golden() {
    let rs = lower_ok(&example("mesh-istio"), None);
    insta::assert_yaml_snapshot!("istio", golden(&rs));
}

#[test]
fn linkerd_example_golden() {
    let rs = lower_ok(&example("mesh-linkerd"), None);
    insta::assert_yaml_snapshot!("linkerd", golden(&rs));
}

#[test]
fn every_object_names_its_namespace_and_is_sorted() {
    for name in ["mesh-istio", "mesh-linkerd"] {
        let rs = lower_ok(&example(name), None);
        let addresses: Vec<&str> = rs.iter().map(|r| r.address.as_str()).collect();
        let mut sorted = addresses.clone();
        sorted.sort();
        assert_eq!(addresses, sorted);
        for r in &rs {
            assert_eq!(r.provider, "kubernetes");
            assert!(r.attrs["metadata"]["name"].is_string(), "{}", r.address);
            if !r.kind.ends_with("v1/Namespace") {
                assert!(r.attrs["metadata"]["namespace"].is_string(), "{} has no namespace", r.address);
            }
        }
        // Lowering twice gives the same objects (no hash-map order leaks into the output).
        assert_eq!(rs, lower_ok(&example(name), None));
    }
}

#[test]
fn istio_virtual_service_routes_matches_first_then_the_split() {
    let rs = lower_ok(&example("mesh-istio"), None);
    let vs = &resource(&rs, "mesh.api.virtual-service").attrs;
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(http.len(), 3);
    assert_eq!(http[0]["match"][0]["headers"]["x-canary"]["exact"], "true");
    assert_eq!(http[1]["match"][0]["uri"]["prefix"], "/v2/");
    assert_eq!(http[2]["route"][0]["destination"]["subset"], "v1");
    assert_eq!(http[2]["route"][0]["weight"], 90);
    assert_eq!(http[2]["route"][1]["weight"], 10);
    for route in http {
        assert_eq!(route["timeout"], "10s");
        assert_eq!(route["retries"]["retryOn"], "5xx,reset,connect-failure");
    }
    assert_eq!(vs["spec"]["gateways"], serde_json::json!(["mesh", "apex/apex-gateway"]));
    let dr = resource(&rs, "mesh.api.destination-rule");
    assert_eq!(dr.attrs["spec"]["trafficPolicy"]["tls"]["mode"], "ISTIO_MUTUAL");
    assert_eq!(dr.attrs["spec"]["trafficPolicy"]["outlierDetection"]["maxEjectionPercent"], 50);
    // The VirtualService is applied after the subsets it names exist.
    assert!(resource(&rs, "mesh.api.virtual-service").depends_on.contains(&dr.address));
    let authz = &resource(&rs, "mesh.authorization.api").attrs;
    assert_eq!(
        authz["spec"]["rules"][0]["from"][0]["source"]["principals"],
        serde_json::json!(["cluster.local/ns/apex/sa/web", "cluster.local/ns/ml/sa/model-server"])
    );
    // The gateway stays allowed to reach the service it fronts.
    assert_eq!(
        authz["spec"]["rules"][1]["from"][0]["source"]["principals"][0],
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    );
}

#[test]
fn linkerd_split_goes_over_per_version_services() {
    let rs = lower_ok(&example("mesh-linkerd"), None);
    let route = resource(&rs, "mesh.api.http-route");
    assert_eq!(route.kind, "policy.linkerd.io/v1beta3/HTTPRoute");
    let rules = route.attrs["spec"]["rules"].as_array().unwrap();
    let default = rules.last().unwrap();
    assert_eq!(default["backendRefs"][0], serde_json::json!({ "name": "api-v1", "port": 8080, "weight": 90 }));
    assert_eq!(default["backendRefs"][1]["weight"], 10);
    assert_eq!(route.attrs["metadata"]["annotations"]["retry.linkerd.io/limit"], "3");
    for v in ["v1", "v2"] {
        let svc = resource(&rs, &format!("mesh.api.service-{v}"));
        assert_eq!(svc.attrs["spec"]["selector"], serde_json::json!({ "app": "api", "version": v }));
        assert!(route.depends_on.contains(&svc.address));
    }
    let ns = &resource(&rs, "mesh.namespace.apex").attrs;
    assert_eq!(ns["metadata"]["annotations"]["linkerd.io/inject"], "enabled");
    assert!(!rs.iter().any(|r| r.kind.ends_with("/ServiceProfile")), "a ServiceProfile would disable the HTTPRoute");
}

#[test]
fn environment_overlay_changes_the_split_and_removes_the_fault() {
    // The overlay of the brief: dev takes a 50/50 split and drops the fault injection.
    let text = format!(
        "{}environments:\n  dev: {{ mesh: {{ traffic: {{ api: {{ split: {{ v1: 50, v2: 50 }}, fault: null }} }} }} }}\n",
        spec(
            "istio",
            "  traffic:\n    api:\n      split: { v1: 90, v2: 10 }\n      circuit_breaker: { consecutive_errors: 5 }\n      fault: { abort: { percent: 0.1, status: 503 } }\n",
        )
    );
    let base = lower_ok(&text, None);
    let dev = lower_ok(&text, Some("dev"));
    let http = |rs: &[Resource]| resource(rs, "mesh.api.virtual-service").attrs["spec"]["http"][0].clone();
    let (b, d) = (http(&base), http(&dev));
    assert_eq!(b["route"][0]["weight"], 90);
    assert_eq!(b["fault"]["abort"]["httpStatus"], 503);
    assert_eq!((&d["route"][0]["weight"], &d["route"][1]["weight"]), (&50.into(), &50.into()));
    assert!(d.get("fault").is_none(), "fault: null removes it in dev: {d}");
    // The rest of the policy is kept.
    assert_eq!(resource(&dev, "mesh.api.destination-rule").attrs, resource(&base, "mesh.api.destination-rule").attrs);
}

#[test]
fn example_environments_split_and_inject_faults() {
    let text = example("mesh-istio");
    let http = |env| resource(&lower_ok(&text, env), "mesh.api.virtual-service").attrs["spec"]["http"].clone();
    let dev = http(Some("dev"));
    assert_eq!(dev[2]["route"][0]["weight"], 50);
    assert_eq!(dev[2]["retries"]["attempts"], 3);
    let chaos = http(Some("chaos"));
    for route in chaos.as_array().unwrap() {
        assert_eq!(route["fault"]["delay"]["fixedDelay"], "2s");
        assert!(route.get("retries").is_none() && route.get("timeout").is_none(), "{route}");
    }
}

#[test]
fn istio_fault_with_retries_is_reported() {
    let text = spec(
        "istio",
        "  traffic:\n    api:\n      timeout: 10s\n      retries: { attempts: 2 }\n      fault: { abort: { percent: 1, status: 503 } }\n",
    );
    let (_, d) = lower(&text, None);
    let diag = only(&d, "mesh::unsupported-feature");
    assert_eq!(diag.summary, "Not supported by the mesh");
    assert_eq!(span_text(&text, diag), "fault");
    assert!(diag.detail.contains("`timeout` and `retries`"), "{}", diag.detail);
}

#[test]
fn overlay_errors_point_into_the_overlay() {
    let text = format!(
        "{}environments:\n  dev:\n    mesh:\n      traffic:\n        api:\n          split: {{ v1: 60, v2: 50 }}\n",
        spec("istio", "  traffic:\n    api:\n      split: { v1: 90, v2: 10 }\n")
    );
    let (_, d) = lower(&text, Some("dev"));
    let diag = only(&d, "mesh::split-sum");
    assert_flow_span(&text, diag, "{ v1: 60, v2: 50 }");
    assert!(d.items[0].detail.contains("110"));
}

/// Every leaf that differs between two values, as a path.
fn diff_paths(a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff_paths(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    format!("{at}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_paths(p, q, format!("{at}.{i}"), out);
            }
        }
        _ if a != b => out.push(at),
        _ => {}
    }
}

fn canary_diff(example_name: &str) -> BTreeMap<String, Vec<String>> {
    let text = example(example_name);
    let step = text.replace("split: { v1: 90, v2: 10 }", "split: { v1: 75, v2: 25 }");
    assert_ne!(text, step, "the example has the 90/10 split");
    let before = lower_ok(&text, None);
    let after = lower_ok(&step, None);
    assert_eq!(
        before.iter().map(|r| &r.address).collect::<Vec<_>>(),
        after.iter().map(|r| &r.address).collect::<Vec<_>>(),
        "a canary step adds or removes no object"
    );
    let mut changed = BTreeMap::new();
    for (x, y) in before.iter().zip(&after) {
        assert_eq!((&x.kind, &x.depends_on), (&y.kind, &y.depends_on));
        let mut paths = Vec::new();
        diff_paths(&x.attrs, &y.attrs, String::new(), &mut paths);
        if !paths.is_empty() {
            changed.insert(x.address.to_string(), paths);
        }
    }
    changed
}

#[test]
fn istio_canary_step_changes_only_the_weights() {
    let changed = canary_diff("mesh-istio");
    assert_eq!(
        changed,
        BTreeMap::from([(
            "mesh.api.virtual-service".to_string(),
            vec![".spec.http.2.route.0.weight".to_string(), ".spec.http.2.route.1.weight".to_string()]
        )])
    );
}

#[test]
fn linkerd_canary_step_changes_only_the_weights() {
    let changed = canary_diff("mesh-linkerd");
    assert_eq!(
        changed,
        BTreeMap::from([(
            "mesh.api.http-route".to_string(),
            vec![".spec.rules.2.backendRefs.0.weight".to_string(), ".spec.rules.2.backendRefs.1.weight".to_string()]
        )])
    );
}

#[test]
fn schema_is_generated_from_the_config_types() {
    let mut generator = schemars::SchemaGenerator::default();
    let schema = serde_json::to_value(Mesh::standard().schema(&mut generator)).unwrap();
    let props = &schema["properties"];
    for key in ["provider", "mtls", "gateway", "traffic", "authorization", "external", "access_logs"] {
        assert!(props.get(key).is_some(), "schema lacks {key}: {schema}");
    }
    assert_eq!(schema["additionalProperties"], false);
}

// --- schema validation of the generated objects ----------------------------------------------

/// The Python that runs tests/validate/validate_manifests.py: `$STRATA_PYTHON`, else the
/// workspace's `.venv`. Missing pieces fail the test with the setup steps.
fn validator_setup() -> (PathBuf, PathBuf, PathBuf) {
    let root = workspace_root();
    let python = std::env::var_os("STRATA_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no Python for the manifest validator at {}.\nSet it up from the workspace root with:\n  \
         python3 -m venv .venv && .venv/bin/pip install -r tests/validate/requirements.txt\n\
         or point STRATA_PYTHON at a Python with those packages.",
        python.display()
    );
    let specs =
        std::env::var_os("STRATA_API_SPECS").map(PathBuf::from).unwrap_or_else(|| root.join("../shared/api-specs"));
    assert!(
        specs.is_dir(),
        "the official CRDs are not at {}: set STRATA_API_SPECS to the api-specs directory (shared/api-specs beside the checkout).",
        specs.display()
    );
    (python, specs, root.join("tests/validate/validate_manifests.py"))
}

fn validate_with_python(objects: &[&Value]) -> (bool, String) {
    let (python, specs, script) = validator_setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("manifests.json");
    std::fs::write(&file, serde_json::to_string_pretty(objects).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(&script)
        .arg(&file)
        .env("STRATA_API_SPECS", &specs)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn generated_objects_validate_against_the_official_schemas() {
    let mut objects = Vec::new();
    let runs = [
        ("mesh-istio", None),
        ("mesh-istio", Some("dev")),
        ("mesh-istio", Some("chaos")),
        ("mesh-linkerd", None),
        ("mesh-linkerd", Some("dev")),
    ];
    let lowered: Vec<Vec<Resource>> = runs.iter().map(|(e, env)| lower_ok(&example(e), *env)).collect();
    for rs in &lowered {
        objects.extend(rs.iter().map(|r| &r.attrs));
    }
    let (ok, output) = validate_with_python(&objects);
    assert!(ok, "the validator rejected generated objects:\n{output}");
    assert_eq!(output.matches("\nok ").count() + usize::from(output.starts_with("ok ")), objects.len(), "{output}");
}

#[test]
fn the_validator_rejects_a_broken_object() {
    let rs = lower_ok(&example("mesh-istio"), None);
    let mut vs = resource(&rs, "mesh.api.virtual-service").attrs.clone();
    vs["spec"]["http"][0]["retries"]["retryOnn"] = Value::from("5xx");
    let unknown = serde_json::json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w", "namespace": "a" } });
    let (ok, output) = validate_with_python(&[&vs, &unknown]);
    assert!(!ok, "{output}");
    assert!(output.contains("retryOnn"), "{output}");
    assert!(output.contains("unknown kind example.com/v1 Widget"), "{output}");
}
