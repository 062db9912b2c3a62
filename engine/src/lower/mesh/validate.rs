//! Decoding and semantic checks of `mesh:`.
//!
//! Every `traffic.<service>`, `authorization[i]` and `external[i]` entry is decoded on its own, so
//! one pass reports every problem. Checks report to the context and never stop the lowering: the
//! lowerings skip what cannot be built (an entry for an undeclared service) and build the rest.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::{AuthorizationRule, ExternalService, MeshConfig, ServiceProtocol, TrafficPolicy};
use crate::diag::did_you_mean;
use crate::spec::units::{Duration, Percent};
use crate::spec::{Path, Service, SpecContext, is_dns_label, path};

/// Decodes the section, entry by entry. `None` when the top level itself does not decode (the
/// entries have still been checked for their own errors).
pub fn decode(cx: &mut SpecContext<'_>, section: &Value) -> Option<MeshConfig> {
    let Some(obj) = section.as_object() else {
        cx.error(
            &path(["mesh"]),
            "spec::wrong-type",
            "Wrong type",
            "`mesh` must be a map, like `mesh: { provider: istio }`.",
            None,
        );
        return None;
    };
    let mut rest = obj.clone();
    let traffic = rest.remove("traffic");
    let authorization = rest.remove("authorization");
    let external = rest.remove("external");
    let top: Option<MeshConfig> = cx.decode(&path(["mesh"]), &Value::Object(rest));
    let traffic = decode_map::<TrafficPolicy>(cx, "traffic", traffic);
    let authorization = decode_list::<AuthorizationRule>(cx, "authorization", authorization);
    let external = decode_list::<ExternalService>(cx, "external", external);
    let mut config = top?;
    config.traffic = traffic;
    config.authorization = authorization.into_iter().map(|(index, r)| AuthorizationRule { index, ..r }).collect();
    config.external = external.into_iter().map(|(index, e)| ExternalService { index, ..e }).collect();
    Some(config)
}

fn decode_map<T: DeserializeOwned>(cx: &mut SpecContext<'_>, key: &str, v: Option<Value>) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (name, entry) in m {
                if entry.is_null() {
                    continue;
                }
                if let Some(t) = cx.decode(&path(["mesh", key, name.as_str()]), &entry) {
                    out.insert(name, t);
                }
            }
        }
        Some(_) => cx.error(
            &path(["mesh", key]),
            "spec::wrong-type",
            "Wrong type",
            format!("`mesh.{key}` must be a map of service names to settings."),
            None,
        ),
    }
    out
}

fn decode_list<T: DeserializeOwned>(cx: &mut SpecContext<'_>, key: &str, v: Option<Value>) -> Vec<(usize, T)> {
    let mut out = Vec::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, entry) in items.iter().enumerate() {
                if let Some(t) = cx.decode(&path(["mesh", key, &i.to_string()]), entry) {
                    out.push((i, t));
                }
            }
        }
        Some(_) => cx.error(
            &path(["mesh", key]),
            "spec::wrong-type",
            "Wrong type",
            format!("`mesh.{key}` must be a list."),
            None,
        ),
    }
    out
}

/// Formats a number the way users wrote it: `95`, `99.5`.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 { format!("{}", v as i64) } else { format!("{v}") }
}

/// Checks everything that decoding cannot: references between services and versions, sums,
/// ranges, and what the chosen mesh can express.
pub fn check(cx: &mut SpecContext<'_>, m: &MeshConfig) {
    let services = cx.services;
    for (name, policy) in &m.traffic {
        let here = path(["mesh", "traffic", name.as_str()]);
        match services.get(name) {
            None => unknown_service(cx, &here, name, true),
            Some(svc) => check_traffic(cx, &here, name, svc, policy),
        }
    }
    if let Some(g) = &m.gateway {
        check_service_ref(cx, &path(["mesh", "gateway", "to"]), &g.to);
        if g.hosts.is_empty() {
            cx.error(
                &path(["mesh", "gateway", "hosts"]),
                "mesh::invalid-host",
                "Invalid host",
                "The gateway serves no host names.",
                Some("list them, like `hosts: [api.example.com]`".into()),
            );
        }
        for (i, h) in g.hosts.iter().enumerate() {
            check_host(cx, &path(["mesh", "gateway", "hosts", &i.to_string()]), h);
        }
        if let Some(sa) = &g.service_account
            && parse_service_account(sa).is_none()
        {
            cx.error(
                &path(["mesh", "gateway", "service_account"]),
                "mesh::invalid-service-account",
                "Invalid service account",
                format!("`{sa}` is not of the form `<namespace>/<service account>`."),
                Some("like `istio-system/istio-ingressgateway-service-account`".into()),
            );
        }
    }
    for rule in &m.authorization {
        let idx = rule.index.to_string();
        check_service_ref(cx, &path(["mesh", "authorization", idx.as_str(), "to"]), &rule.to);
        if rule.from.is_empty() {
            cx.error(
                &path(["mesh", "authorization", idx.as_str(), "from"]),
                "mesh::no-callers",
                "No callers",
                format!("This rule lets no service call `{}`; an empty `from` would only deny.", rule.to),
                Some("list the calling services, like `from: [web]`".into()),
            );
        }
        for (j, from) in rule.from.iter().enumerate() {
            check_service_ref(cx, &path(["mesh", "authorization", idx.as_str(), "from", &j.to_string()]), from);
        }
        for (j, p) in rule.paths.iter().enumerate() {
            check_auth_path(cx, &path(["mesh", "authorization", idx.as_str(), "paths", &j.to_string()]), p);
        }
    }
    let mut seen = BTreeSet::new();
    for ext in &m.external {
        let idx = ext.index.to_string();
        if !is_dns_label(&ext.name) {
            cx.error(
                &path(["mesh", "external", idx.as_str(), "name"]),
                "mesh::invalid-name",
                "Invalid name",
                format!("`{}` cannot name an external entry: it becomes an object name, so use lowercase letters, digits and `-`.", ext.name),
                None,
            );
        } else if !seen.insert(ext.name.as_str()) {
            cx.error(
                &path(["mesh", "external", idx.as_str(), "name"]),
                "mesh::duplicate-name",
                "Duplicate name",
                format!("Two external entries are named `{}`; names must be unique.", ext.name),
                Some("rename one of them".into()),
            );
        }
        if ext.hosts.is_empty() {
            cx.error(
                &path(["mesh", "external", idx.as_str(), "hosts"]),
                "mesh::invalid-host",
                "Invalid host",
                format!("The external entry `{}` lists no host names.", ext.name),
                Some("list them, like `hosts: [api.openai.com]`".into()),
            );
        }
        for (j, h) in ext.hosts.iter().enumerate() {
            check_host(cx, &path(["mesh", "external", idx.as_str(), "hosts", &j.to_string()]), h);
        }
        if ext.ports.is_empty() {
            cx.error(
                &path(["mesh", "external", idx.as_str(), "ports"]),
                "mesh::invalid-port",
                "Invalid port",
                format!("The external entry `{}` lists no ports.", ext.name),
                Some("list them, like `ports: [443]`".into()),
            );
        }
        for (j, p) in ext.ports.iter().enumerate() {
            if *p == 0 {
                cx.error(
                    &path(["mesh", "external", idx.as_str(), "ports", &j.to_string()]),
                    "mesh::invalid-port",
                    "Invalid port",
                    "A port must be between 1 and 65535.",
                    None,
                );
            }
        }
    }
}

/// The path `here` extended by `segs`.
fn under(here: &Path, segs: &[&str]) -> Path {
    let mut out = here.clone();
    out.extend(segs.iter().map(|s| s.to_string()));
    out
}

/// Checks one service's traffic policy, one concern at a time.
fn check_traffic(cx: &mut SpecContext<'_>, here: &Path, name: &str, svc: &Service, p: &TrafficPolicy) {
    check_protocol(cx, here, name, svc, p);
    let versions: Vec<&str> = svc.versions.iter().map(String::as_str).collect();
    check_split(cx, here, name, &versions, p);
    check_routes(cx, here, name, &versions, p);
    positive(cx, &under(here, &["timeout"]), p.timeout);
    check_retries(cx, here, p);
    check_circuit_breaker(cx, here, p);
    check_fault_and_rate_limit(cx, here, p);
}

/// The service's protocol is one the meshes know, and HTTP features are not set on TCP.
fn check_protocol(cx: &mut SpecContext<'_>, here: &Path, name: &str, svc: &Service, p: &TrafficPolicy) {
    let at = |segs: &[&str]| under(here, segs);
    let protocol = match ServiceProtocol::parse(svc.protocol.as_deref()) {
        Some(p) => p,
        None => {
            let given = svc.protocol.as_deref().unwrap_or_default();
            cx.error(
                &path(["services", name, "protocol"]),
                "mesh::unknown-protocol",
                "Unknown protocol",
                format!("`{given}` is not a protocol the mesh understands for service `{name}`."),
                did_you_mean(given, ServiceProtocol::NAMES.iter().copied())
                    .or_else(|| Some(format!("use one of: {}", ServiceProtocol::NAMES.join(", ")))),
            );
            ServiceProtocol::Http
        }
    };
    if protocol == ServiceProtocol::Tcp {
        for feature in p.http_only_features() {
            cx.key_error(
                &at(&[feature]),
                "mesh::protocol-mismatch",
                "HTTP feature on a TCP service",
                format!("`{feature}` needs HTTP, but service `{name}` is declared with `protocol: tcp`, so the mesh sees only opaque TCP streams."),
                Some(format!("remove `{feature}`, or declare the service's protocol as http, http2 or grpc")),
            );
        }
    }
}

/// Split: known versions, whole weights, sum of 100.
fn check_split(cx: &mut SpecContext<'_>, here: &Path, name: &str, versions: &[&str], p: &TrafficPolicy) {
    let at = |segs: &[&str]| under(here, segs);
    let mut sum = 0.0;
    for (version, weight) in &p.split {
        sum += weight.value();
        if !versions.contains(&version.as_str()) {
            unknown_version(cx, &at(&["split", version.as_str()]), name, version, versions, true);
        }
        if weight.value().fract() != 0.0 {
            cx.error(
                &at(&["split", version.as_str()]),
                "mesh::invalid-weight",
                "Weight is not a whole number",
                format!("The weight of `{version}` is {weight}; meshes split traffic in whole percent."),
                Some(format!("use {} or {}", num(weight.value().floor()), num(weight.value().ceil()))),
            );
        }
    }
    if !p.split.is_empty() && (sum - 100.0).abs() > 1e-9 {
        let listed = p.split.iter().map(|(v, w)| format!("{v}: {}", num(w.value()))).collect::<Vec<_>>().join(", ");
        cx.error(
            &at(&["split"]),
            "mesh::split-sum",
            "Split does not sum to 100",
            format!(
                "The weights of `{name}` ({listed}) add up to {}, but a split must add up to exactly 100.",
                num(sum)
            ),
            Some(if sum < 100.0 {
                format!("add {} to one of the weights", num(100.0 - sum))
            } else {
                format!("take {} off the weights", num(sum - 100.0))
            }),
        );
    }
}

/// Header routes: known versions, a condition, valid header names and paths.
fn check_routes(cx: &mut SpecContext<'_>, here: &Path, name: &str, versions: &[&str], p: &TrafficPolicy) {
    let at = |segs: &[&str]| under(here, segs);
    for (i, route) in p.routes.iter().enumerate() {
        let idx = i.to_string();
        if !versions.contains(&route.to.as_str()) {
            unknown_version(cx, &at(&["routes", idx.as_str(), "to"]), name, &route.to, versions, false);
        }
        let m = &route.matches;
        if m.is_empty() {
            cx.error(
                &at(&["routes", idx.as_str(), "match"]),
                "mesh::empty-match",
                "Route matches everything",
                format!(
                    "This route has no condition, so every request would go to `{}` and the split would never apply.",
                    route.to
                ),
                Some(
                    "add `headers`, `path_prefix` or `path`, or use `split` to send all traffic to one version".into(),
                ),
            );
        }
        for header in m.headers.keys() {
            let valid = !header.is_empty()
                && header.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if !valid {
                cx.key_error(
                    &at(&["routes", idx.as_str(), "match", "headers", header.as_str()]),
                    "mesh::invalid-header",
                    "Invalid header name",
                    format!("`{header}` is not a header name the meshes match on: use lowercase letters, digits, `-` and `_`."),
                    Some(format!("write `{}`", header.to_ascii_lowercase())),
                );
            }
        }
        if m.path.is_some() && m.path_prefix.is_some() {
            cx.key_error(
                &at(&["routes", idx.as_str(), "match", "path"]),
                "mesh::invalid-path",
                "Invalid path",
                "A route matches either an exact `path` or a `path_prefix`, not both.",
                Some("keep one of them".into()),
            );
        }
        for (key, value) in [("path", &m.path), ("path_prefix", &m.path_prefix)] {
            if let Some(v) = value
                && !v.starts_with('/')
            {
                cx.error(
                    &at(&["routes", idx.as_str(), "match", key]),
                    "mesh::invalid-path",
                    "Invalid path",
                    format!("`{v}` is not a path: paths start with `/`."),
                    Some(format!("write `/{v}`")),
                );
            }
        }
    }
}

/// Retries: at least one attempt and condition, a per-try timeout below the timeout.
fn check_retries(cx: &mut SpecContext<'_>, here: &Path, p: &TrafficPolicy) {
    let at = |segs: &[&str]| under(here, segs);
    if let Some(r) = &p.retries {
        if r.attempts == 0 {
            cx.error(
                &at(&["retries", "attempts"]),
                "mesh::invalid-retries",
                "Invalid retries",
                "`attempts: 0` allows no retry at all.",
                Some("use at least 1, or remove `retries`".into()),
            );
        }
        if r.on.is_empty() {
            cx.error(
                &at(&["retries", "on"]),
                "mesh::invalid-retries",
                "Invalid retries",
                "`on` lists no failure to retry, so nothing would be retried.",
                Some("list conditions like `[5xx, reset]`, or remove `on` for the default `[gateway-error]`".into()),
            );
        }
        positive(cx, &at(&["retries", "per_try_timeout"]), r.per_try_timeout);
        if let (Some(per_try), Some(total)) = (r.per_try_timeout, p.timeout)
            && per_try >= total
            && per_try.millis > 0
        {
            cx.error(
                &at(&["retries", "per_try_timeout"]),
                "mesh::invalid-retries",
                "Invalid retries",
                format!("Each try may take {per_try}, but the whole request times out after {total}, so no retry could ever run."),
                Some(format!("make `per_try_timeout` shorter than {total}")),
            );
        }
    }
}

/// Circuit breaking: limits that do not refuse or eject everything.
fn check_circuit_breaker(cx: &mut SpecContext<'_>, here: &Path, p: &TrafficPolicy) {
    let at = |segs: &[&str]| under(here, segs);
    if let Some(cb) = &p.circuit_breaker {
        if cb.consecutive_errors == 0 {
            cx.error(
                &at(&["circuit_breaker", "consecutive_errors"]),
                "mesh::invalid-circuit-breaker",
                "Invalid circuit breaker",
                "`consecutive_errors: 0` would eject every endpoint before its first error.",
                Some("use at least 1".into()),
            );
        }
        positive(cx, &at(&["circuit_breaker", "interval"]), cb.interval);
        positive(cx, &at(&["circuit_breaker", "ejection"]), cb.ejection);
        if let Some(pct) = cb.max_ejected
            && pct.value().fract() != 0.0
        {
            cx.error(
                &at(&["circuit_breaker", "max_ejected"]),
                "mesh::invalid-circuit-breaker",
                "Invalid circuit breaker",
                format!("`max_ejected` is {pct}; the mesh takes a whole percentage."),
                Some(format!("use {}%", num(pct.value().round()))),
            );
        }
        for (key, v) in [
            ("max_connections", cb.max_connections),
            ("max_pending_requests", cb.max_pending_requests),
            ("max_requests", cb.max_requests),
        ] {
            if v == Some(0) {
                cx.error(
                    &at(&["circuit_breaker", key]),
                    "mesh::invalid-circuit-breaker",
                    "Invalid circuit breaker",
                    format!("`{key}: 0` would refuse every request."),
                    Some("use at least 1, or remove the key".into()),
                );
            }
        }
    }
}

/// Injected aborts return error statuses; rate limits let requests through.
fn check_fault_and_rate_limit(cx: &mut SpecContext<'_>, here: &Path, p: &TrafficPolicy) {
    let at = |segs: &[&str]| under(here, segs);
    if let Some(abort) = p.fault.as_ref().and_then(|f| f.abort.as_ref())
        && !(400..=599).contains(&abort.status)
    {
        cx.error(
            &at(&["fault", "abort", "status"]),
            "mesh::invalid-status",
            "Invalid status",
            format!("{} is not an error status; an injected abort returns a 4xx or 5xx status.", abort.status),
            Some("use a status between 400 and 599, like 503".into()),
        );
    }
    if let Some(rl) = &p.rate_limit {
        if rl.per_second == 0 {
            cx.error(
                &at(&["rate_limit", "per_second"]),
                "mesh::invalid-rate-limit",
                "Invalid rate limit",
                "`per_second: 0` would refuse every request.",
                Some("use at least 1, or remove `rate_limit`".into()),
            );
        }
        if let Some(burst) = rl.burst
            && burst < rl.per_second
        {
            cx.error(
                &at(&["rate_limit", "burst"]),
                "mesh::invalid-rate-limit",
                "Invalid rate limit",
                format!("`burst` ({burst}) is below `per_second` ({}): the bucket could never hold one second's worth of requests.", rl.per_second),
                Some(format!("use a burst of at least {}", rl.per_second)),
            );
        }
    }
}

fn positive(cx: &mut SpecContext<'_>, at: &[String], d: Option<Duration>) {
    if let Some(d) = d
        && d.millis == 0
    {
        let key = at.last().cloned().unwrap_or_default();
        cx.error(
            at,
            "mesh::invalid-duration",
            "Zero duration",
            format!("`{key}` is 0, which the meshes read as \"no limit\" or reject."),
            Some("use a duration above 0, like `2s`, or remove the key".into()),
        );
    }
}

fn unknown_service(cx: &mut SpecContext<'_>, at: &[String], name: &str, at_key: bool) {
    let declared: Vec<&str> = cx.services.keys().map(String::as_str).collect();
    let help = did_you_mean(name, declared.iter().copied()).or_else(|| {
        Some(if declared.is_empty() {
            format!("declare it under `services:`, like `{name}: {{ namespace: ..., port: ... }}`")
        } else {
            format!("declared services: {}; or declare `{name}` under `services:`", declared.join(", "))
        })
    });
    let detail = format!("`{name}` is not a service declared under `services:`.");
    if at_key {
        cx.key_error(at, "mesh::unknown-service", "Unknown service", detail, help);
    } else {
        cx.error(at, "mesh::unknown-service", "Unknown service", detail, help);
    }
}

fn check_service_ref(cx: &mut SpecContext<'_>, at: &[String], name: &str) {
    if !cx.services.contains_key(name) {
        unknown_service(cx, at, name, false);
    }
}

fn unknown_version(
    cx: &mut SpecContext<'_>,
    at: &[String],
    service: &str,
    version: &str,
    versions: &[&str],
    at_key: bool,
) {
    let (detail, help) = if versions.is_empty() {
        (
            format!("Service `{service}` declares no versions, so there is no `{version}` to send traffic to."),
            Some(format!(
                "add `versions: [{version}, ...]` to `services.{service}` (pods labelled `version={version}`)"
            )),
        )
    } else {
        (
            format!("Service `{service}` has no version `{version}`; its versions are {}.", versions.join(", ")),
            did_you_mean(version, versions.iter().copied()).or_else(|| {
                Some(format!("use one of {}, or add `{version}` to `services.{service}.versions`", versions.join(", ")))
            }),
        )
    };
    if at_key {
        cx.key_error(at, "mesh::unknown-version", "Unknown version", detail, help);
    } else {
        cx.error(at, "mesh::unknown-version", "Unknown version", detail, help);
    }
}

fn check_host(cx: &mut SpecContext<'_>, at: &[String], host: &str) {
    let bare = host.strip_prefix("*.").unwrap_or(host);
    let valid = !bare.is_empty() && bare.len() <= 253 && bare.split('.').all(is_dns_label);
    if !valid {
        cx.error(
            at,
            "mesh::invalid-host",
            "Invalid host",
            format!("`{host}` is not a host name: use lowercase DNS names like `api.example.com`, optionally starting with `*.`."),
            None,
        );
    }
}

/// Authorization paths: exact (`/healthz`) or a prefix ending in `/*` (`/v1/*`), the form both
/// Istio and Linkerd (Gateway API PathPrefix) read the same way.
fn check_auth_path(cx: &mut SpecContext<'_>, at: &[String], p: &str) {
    let body = p.strip_suffix("/*").map(|b| format!("{b}/")).unwrap_or_else(|| p.to_string());
    if !p.starts_with('/') || body.contains('*') {
        let help = if !p.starts_with('/') {
            format!("write `/{p}`")
        } else {
            format!("write `{}/*` for a prefix", p.trim_end_matches('*').trim_end_matches('/'))
        };
        cx.error(
            at,
            "mesh::invalid-path",
            "Invalid path",
            format!("`{p}` is not a path strata can match: write an exact path (`/healthz`) or a prefix ending in `/*` (`/v1/*`)."),
            Some(help),
        );
    }
}

/// `<namespace>/<name>`.
pub fn parse_service_account(s: &str) -> Option<(&str, &str)> {
    let (ns, name) = s.split_once('/')?;
    (is_dns_label(ns) && !name.is_empty() && !name.contains('/')).then_some((ns, name))
}

/// Every namespace a declared service lives in, sorted.
pub fn namespaces(services: &BTreeMap<String, Service>) -> BTreeSet<&str> {
    services.values().map(|s| s.namespace.as_str()).collect()
}

/// The one namespace every service shares, if they do.
pub fn shared_namespace(services: &BTreeMap<String, Service>) -> Option<&str> {
    let all = namespaces(services);
    (all.len() == 1).then(|| *all.iter().next().unwrap())
}

/// A split percentage as the integer weight both meshes take (checked to be whole).
pub fn weight(p: Percent) -> i64 {
    p.value().round() as i64
}
