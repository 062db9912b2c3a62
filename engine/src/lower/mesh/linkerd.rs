//! Linkerd lowering: namespace injection, HTTPRoute with weighted backends over per-version
//! Services, retries and timeouts, Server + AuthorizationPolicy + MeshTLSAuthentication, and
//! HTTPLocalRateLimitPolicy.
//!
//! API versions are those of the Linkerd 2.20 CRDs: `policy.linkerd.io/v1beta3` (HTTPRoute,
//! Server), `policy.linkerd.io/v1alpha1` (AuthorizationPolicy, MeshTLSAuthentication,
//! HTTPLocalRateLimitPolicy).
//!
//! Retries and timeouts use the HTTPRoute (`retry.linkerd.io/*` annotations, `timeouts`), not a
//! ServiceProfile: Linkerd ignores HTTPRoutes whose parent Service has a ServiceProfile, so a
//! profile would silently disable the split.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use strata_sdk::{Address, Resource};

use super::config::{AuthorizationRule, MeshConfig, MtlsMode, RetryOn, RouteMatch, ServiceProtocol, TrafficPolicy};
use super::target::MeshTarget;
use super::validate::{namespaces, weight};
use super::{APP_LABEL, Out, VERSION_LABEL};
use crate::spec::{Service, SpecContext, is_dns_label, path};

const POLICY: &str = "policy.linkerd.io";
const ROUTE_API: &str = "policy.linkerd.io/v1beta3";
const SERVER_API: &str = "policy.linkerd.io/v1beta3";
const POLICY_ALPHA: &str = "policy.linkerd.io/v1alpha1";
/// Most matches one HTTPRoute rule may hold (CRD `maxItems`).
const MAX_MATCHES: usize = 8;

/// The `linkerd` mesh target.
pub struct Linkerd;

impl MeshTarget for Linkerd {
    fn name(&self) -> &'static str {
        "linkerd"
    }

    fn check_support(&self, cx: &mut SpecContext<'_>, m: &MeshConfig) {
        check_support(cx, m);
    }

    fn lower(&self, cx: &SpecContext<'_>, m: &MeshConfig) -> Vec<Resource> {
        lower(cx, m)
    }
}

/// Reports what the spec asks for that Linkerd's CRDs cannot express.
fn check_support(cx: &mut SpecContext<'_>, m: &MeshConfig) {
    let help_remove = |key: &str| {
        Some(format!("remove `{key}` (or set it to null in this environment's overlay), or use `provider: istio`"))
    };
    if m.gateway.is_some() {
        cx.key_error(
            &path(["mesh", "gateway"]),
            "mesh::unsupported-feature",
            "Not supported by the mesh",
            "Linkerd has no ingress gateway of its own: it meshes whichever ingress controller you run, so there is no object strata could create for `gateway`.",
            Some("remove `gateway` and configure your ingress controller, or use `provider: istio`".into()),
        );
    }
    if !m.external.is_empty() {
        cx.key_error(
            &path(["mesh", "external"]),
            "mesh::unsupported-feature",
            "Not supported by the mesh",
            "Linkerd's egress object (EgressNetwork) selects IP networks, not host names, so `external` hosts have no Linkerd equivalent; meshed pods reach external hosts without one.",
            help_remove("external"),
        );
    }
    for (name, p) in &m.traffic {
        let here = |segs: &[&str]| {
            let mut out = path(["mesh", "traffic", name.as_str()]);
            out.extend(segs.iter().map(|s| s.to_string()));
            out
        };
        let Some(svc) = cx.services.get(name) else { continue };
        let protocol = ServiceProtocol::parse(svc.protocol.as_deref()).unwrap_or(ServiceProtocol::Http);
        if matches!(protocol, ServiceProtocol::Grpc | ServiceProtocol::Tcp) && outbound_route_needed(p) {
            let proto = svc.protocol.as_deref().unwrap_or_default();
            cx.key_error(
                &here(&[]),
                "mesh::unsupported-feature",
                "Not supported by the mesh",
                format!("Service `{name}` speaks {proto}; strata expresses Linkerd traffic policy with an HTTPRoute, which Linkerd applies to HTTP only (gRPC needs a GRPCRoute, TCP a TCPRoute, neither of which strata generates yet)."),
                Some("use `provider: istio` for this service's traffic policy, or declare it as http".into()),
            );
        }
        if p.fault.is_some() {
            cx.key_error(
                &here(&["fault"]),
                "mesh::unsupported-feature",
                "Not supported by the mesh",
                "Linkerd cannot inject faults: none of its CRDs (HTTPRoute, Server, AuthorizationPolicy, ServiceProfile) has a delay or abort field; its fault-injection guide splits traffic to an extra backend that always fails, which strata does not deploy.",
                help_remove("fault"),
            );
        }
        if p.circuit_breaker.is_some() {
            cx.key_error(
                &here(&["circuit_breaker"]),
                "mesh::unsupported-feature",
                "Not supported by the mesh",
                "Linkerd's CRDs have no outlier detection or connection pool settings; its circuit breaking (failure accrual) is configured only by `balancer.linkerd.io/failure-accrual*` annotations on the Service object, which strata does not own.",
                Some("remove `circuit_breaker` and annotate the Service with `balancer.linkerd.io/failure-accrual: consecutive`, or use `provider: istio`".into()),
            );
        }
        if let Some(rl) = &p.rate_limit
            && rl.burst.is_some()
        {
            cx.key_error(
                &here(&["rate_limit", "burst"]),
                "mesh::unsupported-feature",
                "Not supported by the mesh",
                "Linkerd's HTTPLocalRateLimitPolicy takes only a rate (`requestsPerSecond`); it has no bucket size to set a burst with.",
                help_remove("burst"),
            );
        }
        if let Some(r) = &p.retries {
            for (i, on) in r.on.iter().enumerate() {
                if retry_code(*on).is_none() {
                    cx.error(
                        &here(&["retries", "on", &i.to_string()]),
                        "mesh::unsupported-feature",
                        "Not supported by the mesh",
                        format!("Linkerd retries HTTP requests by response status only (`retry.linkerd.io/http`), so it cannot retry on `{on}`."),
                        Some("keep status conditions (5xx, gateway-error, retriable-4xx or codes like 503), or use `provider: istio`".into()),
                    );
                }
            }
        }
        for (version, at) in p
            .split
            .keys()
            .map(|v| (v, here(&["split", v.as_str()])))
            .chain(p.routes.iter().enumerate().map(|(i, r)| (&r.to, here(&["routes", &i.to_string(), "to"]))))
        {
            if svc.versions.contains(version) && !is_dns_label(&version_service(name, version)) {
                cx.error(
                    &at,
                    "mesh::invalid-name",
                    "Invalid name",
                    format!("Linkerd splits traffic over one Service per version, and `{}` cannot be a Service name: it must be lowercase letters, digits and `-`, at most 63 characters.", version_service(name, version)),
                    Some("use shorter, lowercase version names".into()),
                );
            }
        }
    }
    // Linkerd matches a request to its single most specific route, then checks that route's
    // policies: entries with different methods/paths cannot mean "allowed if any entry matches".
    let mut first: BTreeMap<&str, &AuthorizationRule> = BTreeMap::new();
    for rule in &m.authorization {
        match first.get(rule.to.as_str()) {
            None => {
                first.insert(&rule.to, rule);
            }
            Some(prev) if operation(prev) != operation(rule) => cx.error(
                &path(["mesh", "authorization", &rule.index.to_string()]),
                "mesh::unsupported-feature",
                "Not supported by the mesh",
                format!("This entry allows other methods or paths on `{}` than entry {}; Linkerd authorizes each request against the one route it matches, so entries for the same service must allow the same methods and paths.", rule.to, prev.index),
                Some("merge the callers into one entry, or give both entries the same `methods` and `paths`".into()),
            ),
            Some(_) => {}
        }
    }
}

fn operation(r: &AuthorizationRule) -> (BTreeSet<&str>, BTreeSet<&str>) {
    (r.methods.iter().map(|m| m.as_str()).collect(), r.paths.iter().map(String::as_str).collect())
}

/// `retry.linkerd.io/http` element for a condition, if Linkerd has one.
fn retry_code(on: RetryOn) -> Option<String> {
    match on {
        RetryOn::Status5xx => Some("5xx".into()),
        RetryOn::GatewayError => Some("gateway-error".into()),
        RetryOn::Retriable4xx => Some("409".into()),
        RetryOn::Status(code) => Some(code.to_string()),
        _ => None,
    }
}

fn version_service(name: &str, version: &str) -> String {
    format!("{name}-{version}")
}

/// Whether the service needs an outbound HTTPRoute.
fn outbound_route_needed(p: &TrafficPolicy) -> bool {
    !p.split.is_empty() || !p.routes.is_empty() || p.timeout.is_some() || p.retries.is_some()
}

fn lower(cx: &SpecContext<'_>, m: &MeshConfig) -> Vec<Resource> {
    let services = cx.services;
    let mut out = Out::default();

    // Namespaces: injection, the default inbound policy (mTLS mode) and access logs. The
    // namespaces exist already (the services run there) and belong to whoever made them: strata
    // manages only these annotations, and destroy removes only them.
    for ns in namespaces(services) {
        let mut annotations = Map::new();
        annotations.insert("linkerd.io/inject".into(), json!("enabled"));
        annotations.insert("config.linkerd.io/default-inbound-policy".into(), json!(default_policy(m)));
        if m.access_logs {
            annotations.insert("config.linkerd.io/access-log".into(), json!("json"));
        }
        out.push_fields(
            &["namespace", ns],
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": { "name": ns, "annotations": annotations },
            }),
        );
    }

    // Services that need a Server: authorization targets (deny unless authorized) and
    // rate-limited ones (the namespace's default policy, unchanged).
    let authorized: BTreeSet<&str> = m.authorization.iter().map(|r| r.to.as_str()).collect();
    let rate_limited: BTreeSet<&str> =
        m.traffic.iter().filter(|(_, p)| p.rate_limit.is_some()).map(|(n, _)| n.as_str()).collect();
    let mut servers: BTreeMap<&str, Option<Address>> = BTreeMap::new();
    for name in authorized.union(&rate_limited) {
        let Some(svc) = services.get(*name) else { continue };
        let access = if authorized.contains(name) { "deny" } else { default_policy(m) };
        let address = out.push(
            &[name, "server"],
            json!({
                "apiVersion": SERVER_API,
                "kind": "Server",
                "metadata": { "name": name, "namespace": svc.namespace },
                "spec": {
                    "podSelector": { "matchLabels": { APP_LABEL: name } },
                    "port": svc.port,
                    "proxyProtocol": proxy_protocol(svc),
                    "accessPolicy": access,
                },
            }),
        );
        servers.insert(name, address);
    }

    for (name, p) in &m.traffic {
        let Some(svc) = services.get(name) else { continue };
        if let Some(rl) = &p.rate_limit {
            let server = servers.get(name.as_str()).cloned().flatten();
            out.push_after(
                &[name, "rate-limit"],
                json!({
                    "apiVersion": POLICY_ALPHA,
                    "kind": "HTTPLocalRateLimitPolicy",
                    "metadata": { "name": name, "namespace": svc.namespace },
                    "spec": {
                        "targetRef": { "group": POLICY, "kind": "Server", "name": name },
                        "total": { "requestsPerSecond": rl.per_second },
                    },
                }),
                &[server],
            );
        }
        if outbound_route_needed(p) {
            outbound_route(&mut out, name, svc, p);
        }
    }

    // Authorization per protected service: who (MeshTLSAuthentication), optionally which
    // requests (an inbound HTTPRoute on the Server), and the AuthorizationPolicy tying them.
    let mut by_target: BTreeMap<&str, Vec<&AuthorizationRule>> = BTreeMap::new();
    for rule in &m.authorization {
        by_target.entry(rule.to.as_str()).or_default().push(rule);
    }
    for (to, rules) in by_target {
        let Some(svc) = services.get(to) else { continue };
        let server = servers.get(to).cloned().flatten();
        let mut identities: Vec<Value> = Vec::new();
        for from in rules.iter().flat_map(|r| r.from.iter()) {
            let Some(caller) = services.get(from) else { continue };
            let id = json!({ "kind": "ServiceAccount", "name": caller.service_account(from), "namespace": caller.namespace });
            if !identities.contains(&id) {
                identities.push(id);
            }
        }
        let authn_name = format!("{to}-callers");
        let authn = out.push(
            &["authorization", to, "identities"],
            json!({
                "apiVersion": POLICY_ALPHA,
                "kind": "MeshTLSAuthentication",
                "metadata": { "name": authn_name, "namespace": svc.namespace },
                "spec": { "identityRefs": identities },
            }),
        );
        // check_support guarantees every entry for `to` allows the same methods and paths.
        let rule = rules[0];
        let (target_kind, target_name, target) = if rule.methods.is_empty() && rule.paths.is_empty() {
            ("Server", to.to_string(), server.clone())
        } else {
            let route_name = format!("{to}-inbound");
            let address = out.push_after(
                &["authorization", to, "route"],
                json!({
                    "apiVersion": ROUTE_API,
                    "kind": "HTTPRoute",
                    "metadata": { "name": route_name, "namespace": svc.namespace },
                    "spec": {
                        "parentRefs": [ { "group": POLICY, "kind": "Server", "name": to } ],
                        "rules": inbound_rules(rule),
                    },
                }),
                std::slice::from_ref(&server),
            );
            ("HTTPRoute", route_name, address)
        };
        out.push_after(
            &["authorization", to],
            json!({
                "apiVersion": POLICY_ALPHA,
                "kind": "AuthorizationPolicy",
                "metadata": { "name": to, "namespace": svc.namespace },
                "spec": {
                    "targetRef": { "group": POLICY, "kind": target_kind, "name": target_name },
                    "requiredAuthenticationRefs": [
                        { "group": POLICY, "kind": "MeshTLSAuthentication", "name": authn_name },
                    ],
                },
            }),
            &[target, authn, server],
        );
    }

    out.resources
}

fn default_policy(m: &MeshConfig) -> &'static str {
    match m.mtls {
        MtlsMode::Strict => "all-authenticated",
        MtlsMode::Permissive => "all-unauthenticated",
    }
}

fn proxy_protocol(svc: &Service) -> &'static str {
    match ServiceProtocol::parse(svc.protocol.as_deref()).unwrap_or(ServiceProtocol::Http) {
        ServiceProtocol::Http => "HTTP/1",
        ServiceProtocol::Http2 => "HTTP/2",
        ServiceProtocol::Grpc => "gRPC",
        ServiceProtocol::Tcp => "opaque",
    }
}

fn port_name(svc: &Service) -> &'static str {
    match ServiceProtocol::parse(svc.protocol.as_deref()).unwrap_or(ServiceProtocol::Http) {
        ServiceProtocol::Http => "http",
        ServiceProtocol::Http2 => "http2",
        ServiceProtocol::Grpc => "grpc",
        ServiceProtocol::Tcp => "tcp",
    }
}

/// The outbound HTTPRoute on the service (and the per-version Services its backends name).
fn outbound_route(out: &mut Out, name: &str, svc: &Service, p: &TrafficPolicy) {
    // One Service per version the route can send to, selecting `app` and `version`.
    let mut versions: BTreeSet<&str> = p.split.keys().map(String::as_str).collect();
    versions.extend(p.routes.iter().map(|r| r.to.as_str()));
    let mut deps = Vec::new();
    for v in versions {
        if !svc.versions.iter().any(|d| d == v) {
            continue;
        }
        deps.push(out.push(
            &[name, &format!("service-{v}")],
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": { "name": version_service(name, v), "namespace": svc.namespace },
                "spec": {
                    "selector": { APP_LABEL: name, VERSION_LABEL: v },
                    "ports": [ { "name": port_name(svc), "port": svc.port, "targetPort": svc.port, "protocol": "TCP" } ],
                },
            }),
        ));
    }

    let backend = |service: String, w: Option<i64>| {
        let mut b = json!({ "name": service, "port": svc.port });
        if let Some(w) = w {
            b["weight"] = json!(w);
        }
        b
    };
    let timeouts = p.timeout.map(|t| json!({ "request": t.to_go() }));
    let mut rules = Vec::new();
    for r in &p.routes {
        let mut rule = json!({
            "matches": [route_match(&r.matches)],
            "backendRefs": [backend(version_service(name, &r.to), None)],
        });
        if let Some(t) = &timeouts {
            rule["timeouts"] = t.clone();
        }
        rules.push(rule);
    }
    let default_backends: Vec<Value> = if p.split.is_empty() {
        vec![backend(name.to_string(), None)]
    } else {
        p.split.iter().map(|(v, w)| backend(version_service(name, v), Some(weight(*w)))).collect()
    };
    let mut default = json!({ "backendRefs": default_backends });
    if let Some(t) = &timeouts {
        default["timeouts"] = t.clone();
    }
    rules.push(default);

    let mut metadata = json!({ "name": name, "namespace": svc.namespace });
    if let Some(r) = &p.retries {
        let codes: Vec<String> = r.on.iter().filter_map(|o| retry_code(*o)).collect();
        let mut annotations = Map::new();
        annotations.insert("retry.linkerd.io/http".into(), json!(codes.join(",")));
        annotations.insert("retry.linkerd.io/limit".into(), json!(r.attempts.to_string()));
        if let Some(t) = r.per_try_timeout {
            annotations.insert("retry.linkerd.io/timeout".into(), json!(t.to_go()));
        }
        metadata["annotations"] = Value::Object(annotations);
    }
    out.push_after(
        &[name, "http-route"],
        json!({
            "apiVersion": ROUTE_API,
            "kind": "HTTPRoute",
            "metadata": metadata,
            "spec": {
                "parentRefs": [ { "group": "core", "kind": "Service", "name": name, "port": svc.port } ],
                "rules": rules,
            },
        }),
        &deps,
    );
}

fn route_match(m: &RouteMatch) -> Value {
    let mut out = Map::new();
    if !m.headers.is_empty() {
        let headers: Vec<Value> =
            m.headers.iter().map(|(k, v)| json!({ "name": k, "value": v, "type": "Exact" })).collect();
        out.insert("headers".into(), Value::Array(headers));
    }
    if let Some(p) = &m.path {
        out.insert("path".into(), json!({ "type": "Exact", "value": p }));
    } else if let Some(p) = &m.path_prefix {
        out.insert("path".into(), json!({ "type": "PathPrefix", "value": p }));
    }
    Value::Object(out)
}

/// Inbound route rules for an authorization entry: one match per method × path, at most
/// [`MAX_MATCHES`] per rule.
fn inbound_rules(rule: &AuthorizationRule) -> Vec<Value> {
    let paths: Vec<Option<Value>> = if rule.paths.is_empty() {
        vec![None]
    } else {
        rule.paths
            .iter()
            .map(|p| {
                Some(match p.strip_suffix('*') {
                    Some(prefix) => json!({ "type": "PathPrefix", "value": prefix }),
                    None => json!({ "type": "Exact", "value": p }),
                })
            })
            .collect()
    };
    let methods: Vec<Option<&str>> =
        if rule.methods.is_empty() { vec![None] } else { rule.methods.iter().map(|m| Some(m.as_str())).collect() };
    let mut matches = Vec::new();
    for p in &paths {
        for m in &methods {
            let mut one = Map::new();
            if let Some(p) = p {
                one.insert("path".into(), p.clone());
            }
            if let Some(m) = m {
                one.insert("method".into(), json!(m));
            }
            matches.push(Value::Object(one));
        }
    }
    matches.chunks(MAX_MATCHES).map(|c| json!({ "matches": c })).collect()
}
