//! Istio lowering: VirtualService, DestinationRule, PeerAuthentication, AuthorizationPolicy,
//! Gateway, ServiceEntry, EnvoyFilter (local rate limit) and Telemetry (access logs).
//!
//! API versions are the ones the Istio 1.30 CRDs store: `networking.istio.io/v1`,
//! `security.istio.io/v1`, `telemetry.istio.io/v1` (served), and `networking.istio.io/v1alpha3`
//! for EnvoyFilter, which has no other version.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use strata_sdk::Address;

use super::config::{
    AuthorizationRule, ExternalProtocol, MeshConfig, MtlsMode, RouteMatch, ServiceProtocol, TrafficPolicy,
};
use super::target::MeshTarget;
use super::validate::{namespaces, parse_service_account, shared_namespace, weight};
use super::{APP_LABEL, Out, VERSION_LABEL, fqdn};
use crate::spec::{Service, SpecContext, is_dns_label, path};
use strata_sdk::Resource;

const NETWORKING: &str = "networking.istio.io/v1";
const SECURITY: &str = "security.istio.io/v1";
const TELEMETRY: &str = "telemetry.istio.io/v1";
const ENVOY_FILTER: &str = "networking.istio.io/v1alpha3";

/// Default ingress gateway identity (the istio/gateway and istio-ingressgateway charts).
const DEFAULT_GATEWAY_SA: &str = "istio-system/istio-ingressgateway-service-account";

/// The `istio` mesh target.
pub struct Istio;

impl MeshTarget for Istio {
    fn name(&self) -> &'static str {
        "istio"
    }

    fn check_support(&self, cx: &mut SpecContext<'_>, m: &MeshConfig) {
        check_support(cx, m);
        check_external_namespaces(cx, m);
    }

    fn lower(&self, cx: &SpecContext<'_>, m: &MeshConfig) -> Vec<Resource> {
        lower(cx, m)
    }
}

/// ServiceEntries are namespaced: each external entry needs a namespace, its own or the one the
/// services share.
fn check_external_namespaces(cx: &mut SpecContext<'_>, m: &MeshConfig) {
    let services = cx.services;
    for ext in &m.external {
        let idx = ext.index.to_string();
        let here = path(["mesh", "external", idx.as_str()]);
        match &ext.namespace {
            Some(ns) if !is_dns_label(ns) => cx.error(
                &path(["mesh", "external", idx.as_str(), "namespace"]),
                "mesh::invalid-name",
                "Invalid name",
                format!("`{ns}` is not a valid namespace name."),
                None,
            ),
            Some(_) => {}
            None if shared_namespace(services).is_none() && !services.is_empty() => cx.error(
                &here,
                "mesh::ambiguous-namespace",
                "Ambiguous namespace",
                format!(
                    "The services live in several namespaces ({}), so strata cannot tell where the external entry `{}` belongs.",
                    namespaces(services).into_iter().collect::<Vec<_>>().join(", "),
                    ext.name
                ),
                Some("add `namespace: <one of them>` to this entry".into()),
            ),
            None if services.is_empty() => cx.error(
                &here,
                "mesh::ambiguous-namespace",
                "Ambiguous namespace",
                format!("No service is declared, so strata cannot tell where the external entry `{}` belongs.", ext.name),
                Some("add `namespace: <namespace>` to this entry".into()),
            ),
            None => {}
        }
    }
}

/// Reports what the spec asks for that Istio cannot express.
fn check_support(cx: &mut SpecContext<'_>, m: &MeshConfig) {
    for (name, p) in &m.traffic {
        if p.fault.is_none() {
            continue;
        }
        let disabled: Vec<&str> = [("timeout", p.timeout.is_some()), ("retries", p.retries.is_some())]
            .iter()
            .filter(|f| f.1)
            .map(|f| f.0)
            .collect();
        if disabled.is_empty() {
            continue;
        }
        let list = disabled.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ");
        cx.key_error(
            &path(["mesh", "traffic", name.as_str(), "fault"]),
            "mesh::unsupported-feature",
            "Not supported by the mesh",
            format!("Istio does not apply timeouts or retries on a route that injects faults, so with `fault` the {list} of `{name}` would silently do nothing."),
            Some(format!("inject faults in an environment that sets {} to null, or remove `fault`", list)),
        );
    }
}

fn lower(cx: &SpecContext<'_>, m: &MeshConfig) -> Vec<Resource> {
    let services = cx.services;
    let mut out = Out::default();

    for ns in namespaces(services) {
        let mode = match m.mtls {
            MtlsMode::Strict => "STRICT",
            MtlsMode::Permissive => "PERMISSIVE",
        };
        out.push(
            &["peer-authentication", ns],
            json!({
                "apiVersion": SECURITY,
                "kind": "PeerAuthentication",
                "metadata": { "name": "default", "namespace": ns },
                "spec": { "mtls": { "mode": mode } },
            }),
        );
        if m.access_logs {
            out.push(
                &["access-logs", ns],
                json!({
                    "apiVersion": TELEMETRY,
                    "kind": "Telemetry",
                    "metadata": { "name": "access-logs", "namespace": ns },
                    "spec": { "accessLogging": [ { "providers": [ { "name": "envoy" } ] } ] },
                }),
            );
        }
    }

    // The gateway, and the service it routes to.
    let gateway = m.gateway.as_ref().and_then(|g| services.get(&g.to).map(|svc| (g, svc)));
    let mut gateway_ref = None;
    if let Some((g, svc)) = gateway {
        let name = format!("{}-gateway", cx.project);
        let selector =
            g.selector.clone().unwrap_or_else(|| BTreeMap::from([("istio".into(), "ingressgateway".into())]));
        let servers = match &g.tls_secret {
            Some(secret) => json!([
                {
                    "port": { "number": 443, "name": "https", "protocol": "HTTPS" },
                    "hosts": g.hosts,
                    "tls": { "mode": "SIMPLE", "credentialName": secret },
                },
                {
                    "port": { "number": 80, "name": "http", "protocol": "HTTP" },
                    "hosts": g.hosts,
                    "tls": { "httpsRedirect": true },
                },
            ]),
            None => json!([
                { "port": { "number": 80, "name": "http", "protocol": "HTTP" }, "hosts": g.hosts },
            ]),
        };
        let address = out.push(
            &["gateway"],
            json!({
                "apiVersion": NETWORKING,
                "kind": "Gateway",
                "metadata": { "name": name, "namespace": svc.namespace },
                "spec": { "selector": selector, "servers": servers },
            }),
        );
        gateway_ref = Some((g, format!("{}/{name}", svc.namespace), address));
    }

    // Per service: VirtualService, DestinationRule, EnvoyFilter.
    let mut routed: BTreeSet<&str> = m.traffic.keys().map(String::as_str).collect();
    if let Some((g, _, _)) = &gateway_ref {
        routed.insert(g.to.as_str());
    }
    let empty = TrafficPolicy::default();
    for name in routed {
        let Some(svc) = services.get(name) else { continue };
        let policy = m.traffic.get(name).unwrap_or(&empty);
        let host = fqdn(name, svc, &m.cluster_domain);
        let dr =
            if m.traffic.contains_key(name) { destination_rule(&mut out, m, name, svc, &host, policy) } else { None };
        let bound = gateway_ref.as_ref().filter(|(g, _, _)| g.to == name);
        let mut hosts = vec![Value::String(host.clone())];
        let mut spec = Map::new();
        let mut deps = vec![dr];
        if let Some((g, gw_name, gw_address)) = bound {
            hosts.extend(g.hosts.iter().map(|h| Value::String(h.clone())));
            spec.insert("gateways".into(), json!(["mesh", gw_name]));
            deps.push(gw_address.clone());
        }
        spec.insert("hosts".into(), Value::Array(hosts));
        let protocol = ServiceProtocol::parse(svc.protocol.as_deref()).unwrap_or(ServiceProtocol::Http);
        if protocol == ServiceProtocol::Tcp {
            spec.insert("tcp".into(), json!([ { "route": default_route(policy, &host, svc.port) } ]));
        } else {
            spec.insert("http".into(), Value::Array(http_routes(policy, &host, svc.port)));
        }
        out.push_after(
            &[name, "virtual-service"],
            json!({
                "apiVersion": NETWORKING,
                "kind": "VirtualService",
                "metadata": { "name": name, "namespace": svc.namespace },
                "spec": spec,
            }),
            &deps,
        );
        if let Some(rl) = &policy.rate_limit {
            out.push(
                &[name, "rate-limit"],
                rate_limit_filter(name, svc, rl.per_second, rl.burst.unwrap_or(rl.per_second)),
            );
        }
    }

    // Authorization: one ALLOW policy per protected service, one rule per entry.
    let mut by_target: BTreeMap<&str, Vec<&AuthorizationRule>> = BTreeMap::new();
    for rule in &m.authorization {
        by_target.entry(rule.to.as_str()).or_default().push(rule);
    }
    for (to, rules) in by_target {
        let Some(svc) = services.get(to) else { continue };
        let mut json_rules: Vec<Value> = rules.iter().map(|r| authorization_rule(m, services, r)).collect();
        if let Some((g, _, _)) = gateway_ref.as_ref().filter(|(g, _, _)| g.to == to) {
            // The gateway forwards outside traffic to this service: it must stay allowed.
            let sa = g.service_account.as_deref().unwrap_or(DEFAULT_GATEWAY_SA);
            if let Some((ns, name)) = parse_service_account(sa) {
                json_rules.push(json!({ "from": [ { "source": { "principals": [principal(m, ns, name)] } } ] }));
            }
        }
        out.push(
            &["authorization", to],
            json!({
                "apiVersion": SECURITY,
                "kind": "AuthorizationPolicy",
                "metadata": { "name": to, "namespace": svc.namespace },
                "spec": {
                    "selector": { "matchLabels": { APP_LABEL: to } },
                    "action": "ALLOW",
                    "rules": json_rules,
                },
            }),
        );
    }

    // External hosts.
    for ext in &m.external {
        let Some(ns) = ext.namespace.as_deref().or_else(|| shared_namespace(services)) else { continue };
        let ports: Vec<Value> = ext
            .ports
            .iter()
            .map(|p| {
                let proto = ext.protocol.unwrap_or_else(|| ExternalProtocol::for_port(*p));
                json!({
                    "number": p,
                    "name": format!("{}-{p}", proto.istio_name().to_ascii_lowercase()),
                    "protocol": proto.istio_name(),
                })
            })
            .collect();
        // Wildcard hosts cannot be resolved by DNS: the proxy forwards to the requested address.
        let resolution = if ext.hosts.iter().any(|h| h.starts_with("*.")) { "NONE" } else { "DNS" };
        out.push(
            &["external", ext.name.as_str()],
            json!({
                "apiVersion": NETWORKING,
                "kind": "ServiceEntry",
                "metadata": { "name": ext.name, "namespace": ns },
                "spec": {
                    "hosts": ext.hosts,
                    "ports": ports,
                    "location": "MESH_EXTERNAL",
                    "resolution": resolution,
                },
            }),
        );
    }

    out.resources
}

fn principal(m: &MeshConfig, namespace: &str, service_account: &str) -> String {
    format!("{}/ns/{namespace}/sa/{service_account}", m.trust_domain)
}

fn destination(host: &str, port: u16, subset: Option<&str>) -> Value {
    let mut d = json!({ "host": host, "port": { "number": port } });
    if let Some(s) = subset {
        d["subset"] = json!(s);
    }
    d
}

/// The default destinations: the split by weight, or the whole service.
fn default_route(p: &TrafficPolicy, host: &str, port: u16) -> Value {
    if p.split.is_empty() {
        json!([ { "destination": destination(host, port, None) } ])
    } else {
        Value::Array(
            p.split
                .iter()
                .map(|(v, w)| json!({ "destination": destination(host, port, Some(v)), "weight": weight(*w) }))
                .collect(),
        )
    }
}

fn http_match(m: &RouteMatch) -> Value {
    let mut out = Map::new();
    if !m.headers.is_empty() {
        let headers: Map<String, Value> = m.headers.iter().map(|(k, v)| (k.clone(), json!({ "exact": v }))).collect();
        out.insert("headers".into(), Value::Object(headers));
    }
    if let Some(p) = &m.path {
        out.insert("uri".into(), json!({ "exact": p }));
    } else if let Some(p) = &m.path_prefix {
        out.insert("uri".into(), json!({ "prefix": p }));
    }
    Value::Object(out)
}

/// HTTP routes: content matches first (Istio takes the first match), then the default split.
/// Timeout, retries and fault apply to every route of the service.
fn http_routes(p: &TrafficPolicy, host: &str, port: u16) -> Vec<Value> {
    let mut common = Map::new();
    if let Some(t) = p.timeout {
        common.insert("timeout".into(), json!(t.to_go()));
    }
    if let Some(r) = &p.retries {
        let mut retries = json!({
            "attempts": r.attempts,
            "retryOn": r.on.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        });
        if let Some(t) = r.per_try_timeout {
            retries["perTryTimeout"] = json!(t.to_go());
        }
        common.insert("retries".into(), retries);
    }
    if let Some(f) = &p.fault {
        let mut fault = Map::new();
        if let Some(d) = &f.delay {
            fault.insert(
                "delay".into(),
                json!({ "percentage": { "value": d.percent.value() }, "fixedDelay": d.fixed.to_go() }),
            );
        }
        if let Some(a) = &f.abort {
            fault.insert(
                "abort".into(),
                json!({ "percentage": { "value": a.percent.value() }, "httpStatus": a.status }),
            );
        }
        if !fault.is_empty() {
            common.insert("fault".into(), Value::Object(fault));
        }
    }
    let mut routes = Vec::with_capacity(p.routes.len() + 1);
    for r in &p.routes {
        let mut route = Map::new();
        route.insert("match".into(), json!([http_match(&r.matches)]));
        route.insert("route".into(), json!([ { "destination": destination(host, port, Some(&r.to)) } ]));
        route.extend(common.clone());
        routes.push(Value::Object(route));
    }
    let mut default = Map::new();
    default.insert("route".into(), default_route(p, host, port));
    default.extend(common);
    routes.push(Value::Object(default));
    routes
}

fn destination_rule(
    out: &mut Out,
    m: &MeshConfig,
    name: &str,
    svc: &Service,
    host: &str,
    p: &TrafficPolicy,
) -> Option<Address> {
    let mut policy = Map::new();
    if m.mtls == MtlsMode::Strict {
        policy.insert("tls".into(), json!({ "mode": "ISTIO_MUTUAL" }));
    }
    if let Some(cb) = &p.circuit_breaker {
        let mut od = json!({ "consecutive5xxErrors": cb.consecutive_errors });
        if let Some(i) = cb.interval {
            od["interval"] = json!(i.to_go());
        }
        if let Some(e) = cb.ejection {
            od["baseEjectionTime"] = json!(e.to_go());
        }
        if let Some(pct) = cb.max_ejected {
            od["maxEjectionPercent"] = json!(weight(pct));
        }
        policy.insert("outlierDetection".into(), od);
        let mut pool = Map::new();
        if let Some(n) = cb.max_connections {
            pool.insert("tcp".into(), json!({ "maxConnections": n }));
        }
        let mut http = Map::new();
        if let Some(n) = cb.max_pending_requests {
            http.insert("http1MaxPendingRequests".into(), json!(n));
        }
        if let Some(n) = cb.max_requests {
            http.insert("http2MaxRequests".into(), json!(n));
        }
        if !http.is_empty() {
            pool.insert("http".into(), Value::Object(http));
        }
        if !pool.is_empty() {
            policy.insert("connectionPool".into(), Value::Object(pool));
        }
    }
    let mut spec = Map::new();
    spec.insert("host".into(), json!(host));
    if !policy.is_empty() {
        spec.insert("trafficPolicy".into(), Value::Object(policy));
    }
    // Every declared version is a subset, so moving weights never touches this object.
    if !svc.versions.is_empty() {
        let subsets: Vec<Value> =
            svc.versions.iter().map(|v| json!({ "name": v, "labels": { VERSION_LABEL: v } })).collect();
        spec.insert("subsets".into(), Value::Array(subsets));
    }
    if spec.len() == 1 {
        return None;
    }
    out.push(
        &[name, "destination-rule"],
        json!({
            "apiVersion": NETWORKING,
            "kind": "DestinationRule",
            "metadata": { "name": name, "namespace": svc.namespace },
            "spec": spec,
        }),
    )
}

fn authorization_rule(m: &MeshConfig, services: &BTreeMap<String, Service>, r: &AuthorizationRule) -> Value {
    let mut principals: Vec<String> = Vec::new();
    for from in &r.from {
        if let Some(s) = services.get(from) {
            let p = principal(m, &s.namespace, &s.service_account(from));
            if !principals.contains(&p) {
                principals.push(p);
            }
        }
    }
    let mut rule = json!({ "from": [ { "source": { "principals": principals } } ] });
    let mut operation = Map::new();
    if !r.methods.is_empty() {
        operation.insert("methods".into(), json!(r.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>()));
    }
    if !r.paths.is_empty() {
        operation.insert("paths".into(), json!(r.paths));
    }
    if !operation.is_empty() {
        rule["to"] = json!([ { "operation": operation } ]);
    }
    rule
}

/// Envoy's local rate limit filter on the service's inbound sidecar listener: a token bucket of
/// `burst` tokens refilled with `per_second` tokens every second, per pod.
fn rate_limit_filter(name: &str, svc: &Service, per_second: u32, burst: u32) -> Value {
    json!({
        "apiVersion": ENVOY_FILTER,
        "kind": "EnvoyFilter",
        "metadata": { "name": format!("{name}-rate-limit"), "namespace": svc.namespace },
        "spec": {
            "workloadSelector": { "labels": { APP_LABEL: name } },
            "configPatches": [ {
                "applyTo": "HTTP_FILTER",
                "match": {
                    "context": "SIDECAR_INBOUND",
                    "listener": { "filterChain": { "filter": { "name": "envoy.filters.network.http_connection_manager" } } },
                },
                "patch": {
                    "operation": "INSERT_BEFORE",
                    "value": {
                        "name": "envoy.filters.http.local_ratelimit",
                        "typed_config": {
                            "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                            "type_url": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                            "value": {
                                "stat_prefix": "http_local_rate_limiter",
                                "token_bucket": { "max_tokens": burst, "tokens_per_fill": per_second, "fill_interval": "1s" },
                                "filter_enabled": {
                                    "runtime_key": "local_rate_limit_enabled",
                                    "default_value": { "numerator": 100, "denominator": "HUNDRED" },
                                },
                                "filter_enforced": {
                                    "runtime_key": "local_rate_limit_enforced",
                                    "default_value": { "numerator": 100, "denominator": "HUNDRED" },
                                },
                            },
                        },
                    },
                },
            } ],
        },
    })
}
