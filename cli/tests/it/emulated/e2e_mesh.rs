//! Issue 5, end to end: the mesh examples (examples/mesh-istio, examples/mesh-linkerd) applied
//! by the built `strata` binary to a local API server that serves the real Istio, Linkerd and
//! Gateway API CustomResourceDefinitions (from the API specs directory, installed with the real
//! kubectl): apply, no-op re-plan, a canary step that moves only the weights, environment
//! overlays, destroy.

use crate::kube;

use kube::{Cluster, Project, actions, api_spec, api_specs, attributes, block, change};
use serde_json::{Value, json};

/// Every Istio kind the example produces, fully qualified (Gateway API has `gateways` too).
const ISTIO_KINDS: &str = "virtualservices.networking.istio.io,destinationrules.networking.istio.io,\
    gateways.networking.istio.io,serviceentries.networking.istio.io,envoyfilters.networking.istio.io,\
    peerauthentications.security.istio.io,authorizationpolicies.security.istio.io,telemetries.telemetry.istio.io";

/// What `kubectl get ISTIO_KINDS -A -o name` lists once the example is applied.
const ISTIO_OBJECTS: [&str; 13] = [
    "authorizationpolicy.security.istio.io/api",
    "authorizationpolicy.security.istio.io/model",
    "destinationrule.networking.istio.io/api",
    "destinationrule.networking.istio.io/model",
    "envoyfilter.networking.istio.io/api-rate-limit",
    "gateway.networking.istio.io/apex-gateway",
    "peerauthentication.security.istio.io/default",
    "peerauthentication.security.istio.io/default",
    "serviceentry.networking.istio.io/openai",
    "telemetry.telemetry.istio.io/access-logs",
    "telemetry.telemetry.istio.io/access-logs",
    "virtualservice.networking.istio.io/api",
    "virtualservice.networking.istio.io/model",
];

const CANARY: &str = "split: { v1: 90, v2: 10 }";
const HALF: &str = "split: { v1: 50, v2: 50 }";

/// The weights of the default (last) route of the `api` VirtualService on the server.
fn istio_weights(k: &Cluster) -> Vec<Value> {
    let vs = k.must_get("virtualservice.networking.istio.io", "api", Some("apex"));
    vs["spec"]["http"][2]["route"].as_array().unwrap().iter().map(|r| r["weight"].clone()).collect()
}

#[test]
fn istio_example_apply_canary_step_environments_destroy() {
    let k = Cluster::start();
    k.apply_crds(&[api_spec("istio/crd-all.gen.yaml")]);
    // The example expects its namespaces to exist, labelled for sidecar injection.
    k.create_namespace("apex", &["istio-injection=enabled"]);
    k.create_namespace("ml", &["istio-injection=enabled"]);
    let p = Project::example(&k, "mesh-istio");

    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert!(plan.stdout.contains("Plan: 13 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 13 added, 0 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    assert_eq!(k.names(ISTIO_KINDS), ISTIO_OBJECTS);
    let vs = k.must_get("virtualservice.networking.istio.io", "api", Some("apex"));
    assert_eq!(vs["metadata"]["labels"]["strata.dev/env"], "default");
    assert_eq!(vs["spec"]["gateways"], json!(["mesh", "apex/apex-gateway"]));
    assert_eq!(istio_weights(&k), [json!(90), json!(10)]);
    let before = vs["spec"].clone();

    // Re-plan and drift: nothing.
    let again = p.strata(&["plan", "--detailed-exitcode"]).ok();
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    p.strata(&["drift"]).ok();

    // The canary step: 90/10 -> 50/50 changes the two weights of one VirtualService, nothing else.
    p.edit(CANARY, HALF);
    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert_eq!(
        block(&plan.stdout, "# mesh.api.virtual-service will be updated in-place", "}"),
        [
            "  # mesh.api.virtual-service will be updated in-place",
            "  ~ networking.istio.io/v1/VirtualService \"mesh.api.virtual-service\" {",
            "      ~ spec.http[2].route[0].weight = 90 -> 50",
            "      ~ spec.http[2].route[1].weight = 10 -> 50",
            "    }",
        ],
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    let json = p.strata(&["plan", "--json"]).ok().json();
    assert_eq!(actions(&json), [("mesh.api.virtual-service".to_string(), "update".to_string())]);
    assert_eq!(
        attributes(change(&json, "mesh.api.virtual-service")),
        [
            ("spec.http[2].route[0].weight".to_string(), json!(90), json!(50)),
            ("spec.http[2].route[1].weight".to_string(), json!(10), json!(50)),
        ]
    );
    assert_eq!(json["summary"]["no_op"], 12);
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 0 added, 1 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    assert_eq!(istio_weights(&k), [json!(50), json!(50)]);
    let mut expected = before.clone();
    expected["http"][2]["route"][0]["weight"] = json!(50);
    expected["http"][2]["route"][1]["weight"] = json!(50);
    assert_eq!(k.must_get("virtualservice.networking.istio.io", "api", Some("apex"))["spec"], expected);
    p.strata(&["plan", "--detailed-exitcode"]).ok();
    p.edit(HALF, CANARY);

    // Another environment's objects are not silently taken over: the default environment's
    // objects are foreign to `--env dev` (same project, other environment).
    let dev = p.strata(&["--env", "dev", "plan", "--json"]).ok().json();
    let refused: Vec<&Value> = dev["changes"].as_array().unwrap().iter().filter(|c| c["foreign"].is_string()).collect();
    assert_eq!(refused.len(), 13, "{dev:#}");
    let detail = change(&dev, "mesh.api.virtual-service")["foreign"].as_str().unwrap();
    assert!(
        detail.starts_with(
            r#"VirtualService apex/api belongs to environment "default" of project "apex" (strata.dev/env), not "dev""#
        ),
        "{detail}"
    );

    // Destroy the default environment; then the dev overlay (50/50) applies and re-plans clean.
    let destroyed = p.strata(&["destroy", "--auto-approve"]).ok();
    assert!(destroyed.stdout.contains("Destroy complete! Resources: 13 destroyed."), "{}", destroyed.stdout);
    assert_eq!(k.names(ISTIO_KINDS), Vec::<String>::new());
    let applied = p.strata(&["--env", "dev", "apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 13 added, 0 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    assert_eq!(istio_weights(&k), [json!(50), json!(50)]);
    let vs = k.must_get("virtualservice.networking.istio.io", "api", Some("apex"));
    assert_eq!(vs["metadata"]["labels"]["strata.dev/env"], "dev");
    assert_eq!(vs["spec"]["http"][2]["timeout"], "10s", "dev changes only the split");
    p.strata(&["--env", "dev", "plan", "--detailed-exitcode"]).ok();
    p.strata(&["--env", "dev", "drift"]).ok();
    assert_eq!(p.state_addresses(Some("dev")).len(), 13);
    assert_eq!(p.state_addresses(None), Vec::<String>::new());
    p.strata(&["--env", "dev", "destroy", "--auto-approve"]).ok();

    // The chaos overlay: faults injected on every route, timeout and retries removed.
    p.strata(&["--env", "chaos", "apply", "--auto-approve"]).ok();
    let vs = k.must_get("virtualservice.networking.istio.io", "api", Some("apex"));
    assert_eq!(vs["metadata"]["labels"]["strata.dev/env"], "chaos");
    for route in vs["spec"]["http"].as_array().unwrap() {
        assert_eq!(route["fault"]["delay"]["fixedDelay"], "2s", "{route}");
        assert_eq!(route["fault"]["abort"]["httpStatus"], 503, "{route}");
        assert!(route.get("timeout").is_none() && route.get("retries").is_none(), "{route}");
    }
    p.strata(&["--env", "chaos", "plan", "--detailed-exitcode"]).ok();

    // Destroy: every object strata made is gone; the namespaces it did not make stay.
    let destroyed = p.strata(&["--env", "chaos", "destroy", "--auto-approve"]).ok();
    assert!(destroyed.stdout.contains("13 destroyed."), "{}", destroyed.stdout);
    assert_eq!(k.names(ISTIO_KINDS), Vec::<String>::new());
    assert_eq!(p.state_addresses(Some("chaos")), Vec::<String>::new());
    assert!(k.object("namespace", "apex", None).is_some() && k.object("namespace", "ml", None).is_some());
}

/// Every kind the Linkerd example produces (besides the annotations on the existing namespaces).
const LINKERD_KINDS: &str = "httproutes.policy.linkerd.io,servers.policy.linkerd.io,\
    authorizationpolicies.policy.linkerd.io,meshtlsauthentications.policy.linkerd.io,\
    httplocalratelimitpolicies.policy.linkerd.io,services";

#[test]
fn linkerd_example_apply_replan_canary_step_destroy() {
    let k = Cluster::start();
    let mut crds: Vec<_> = std::fs::read_dir(api_specs().join("linkerd/policy"))
        .expect("linkerd/policy in the API specs")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    crds.sort();
    crds.push(api_spec("linkerd/serviceprofile.yaml"));
    for f in ["gatewayclasses", "gateways", "grpcroutes", "httproutes", "referencegrants"] {
        crds.push(api_spec(&format!("gateway-api/gateway.networking.k8s.io_{f}.yaml")));
    }
    k.apply_crds(&crds);
    // The services' namespaces exist, made by someone else (issue 11: strata annotates them for
    // injection without taking them over).
    k.create_namespace("apex", &["team=payments"]);
    k.create_namespace("ml", &["team=ml"]);
    let p = Project::example(&k, "mesh-linkerd");

    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    // The two namespaces are updates of the fields strata manages, not creations.
    assert!(plan.stdout.contains("Plan: 12 to add, 2 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    assert!(plan.stdout.contains("# mesh.namespace.apex will be updated in-place (it exists;"), "{}", plan.stdout);
    let applied = p.strata(&["apply", "--auto-approve"]).ok();
    assert!(applied.stdout.contains("Resources: 12 added, 2 changed, 0 replaced, 0 destroyed."), "{}", applied.stdout);
    assert_eq!(
        k.names(LINKERD_KINDS),
        [
            "authorizationpolicy.policy.linkerd.io/api",
            "authorizationpolicy.policy.linkerd.io/model",
            "httplocalratelimitpolicy.policy.linkerd.io/api",
            "httproute.policy.linkerd.io/api",
            "httproute.policy.linkerd.io/api-inbound",
            "httproute.policy.linkerd.io/model",
            "meshtlsauthentication.policy.linkerd.io/api-callers",
            "meshtlsauthentication.policy.linkerd.io/model-callers",
            "server.policy.linkerd.io/api",
            "server.policy.linkerd.io/model",
            "service/api-v1",
            "service/api-v2",
        ]
    );
    let ns = k.must_get("namespace", "apex", None);
    assert_eq!(ns["metadata"]["annotations"]["linkerd.io/inject"], "enabled");
    assert_eq!(ns["metadata"]["labels"]["team"], "payments", "the owner's fields stay");
    assert!(ns["metadata"]["labels"].get("app.kubernetes.io/managed-by").is_none(), "not claimed: {ns}");
    let route = k.must_get("httproute.policy.linkerd.io", "api", Some("apex"));
    let weights = |r: &Value| -> Vec<Value> {
        r["spec"]["rules"][2]["backendRefs"].as_array().unwrap().iter().map(|b| b["weight"].clone()).collect()
    };
    assert_eq!(weights(&route), [json!(90), json!(10)]);

    let again = p.strata(&["plan", "--detailed-exitcode"]).ok();
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    p.strata(&["drift"]).ok();

    // The canary step moves only the two backend weights of the HTTPRoute.
    p.edit(CANARY, HALF);
    let plan = p.strata(&["plan", "--detailed-exitcode"]).code(2);
    assert_eq!(
        block(&plan.stdout, "# mesh.api.http-route will be updated in-place", "}"),
        [
            "  # mesh.api.http-route will be updated in-place",
            "  ~ policy.linkerd.io/v1beta3/HTTPRoute \"mesh.api.http-route\" {",
            "      ~ spec.rules[2].backendRefs[0].weight = 90 -> 50",
            "      ~ spec.rules[2].backendRefs[1].weight = 10 -> 50",
            "    }",
        ],
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."), "{}", plan.stdout);
    p.strata(&["apply", "--auto-approve"]).ok();
    let route = k.must_get("httproute.policy.linkerd.io", "api", Some("apex"));
    assert_eq!(weights(&route), [json!(50), json!(50)]);
    p.strata(&["plan", "--detailed-exitcode"]).ok();

    // Destroy: everything strata made is gone; the namespaces stay, without strata's annotations.
    let destroyed = p.strata(&["destroy", "--auto-approve"]).ok();
    assert!(destroyed.stdout.contains("Destroy complete! Resources: 14 destroyed."), "{}", destroyed.stdout);
    assert_eq!(k.names(LINKERD_KINDS), Vec::<String>::new());
    for (name, team) in [("apex", "payments"), ("ml", "ml")] {
        let ns = k.must_get("namespace", name, None);
        assert_eq!(ns["metadata"]["labels"]["team"], team, "{ns}");
        let annotations = ns["metadata"].get("annotations").cloned().unwrap_or_default();
        assert!(annotations.get("linkerd.io/inject").is_none(), "strata's annotation removed: {ns}");
    }
    assert_eq!(p.state_addresses(None), Vec::<String>::new());
}
