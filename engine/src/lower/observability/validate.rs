//! Semantic checks of `observability:` beyond what decoding catches. Every check reports at the
//! span of the value at fault and keeps going.

use std::collections::BTreeMap;

use super::config::{ObservabilityConfig, Sli, Slo};
use crate::diag::did_you_mean;
use crate::spec::{Path, Service, SpecContext, is_dns_label, path};

/// The longest alert window: an SLO window must cover it.
const MIN_WINDOW_DAYS: u64 = 3;
const DAY_MS: u64 = 86_400_000;

fn at(rest: &[&str]) -> Path {
    let mut p = path(["observability"]);
    p.extend(rest.iter().map(|s| s.to_string()));
    p
}

fn unknown_service(cx: &mut SpecContext<'_>, p: &Path, name: &str, services: &BTreeMap<String, Service>) {
    let help = did_you_mean(name, services.keys().map(String::as_str))
        .or_else(|| Some(format!("declare `{name}` under `services:` first")));
    cx.error(
        p,
        "observability::unknown-service",
        "Unknown service",
        format!("`{name}` is not a service declared in `services`, so strata does not know its namespace or its pods."),
        help,
    );
}

/// Checks the whole section.
pub fn check(cx: &mut SpecContext<'_>, config: &ObservabilityConfig) {
    let services = cx.services;
    if let Some(ns) = &config.namespace
        && !is_dns_label(ns)
    {
        cx.error(
            &at(&["namespace"]),
            "observability::invalid-name",
            "Invalid name",
            format!(
                "`{ns}` is not a valid namespace name: use lowercase letters, digits and `-`, at most 63 characters."
            ),
            None,
        );
    }
    for (k, v) in &config.labels {
        if k.is_empty() || v.len() > 63 {
            cx.error(
                &at(&["labels", k]),
                "observability::invalid-label",
                "Invalid label",
                format!("The label `{k}: {v}` is not a valid Kubernetes label: keys are non-empty and values at most 63 characters."),
                None,
            );
        }
    }
    if let Some(t) = &config.tracing {
        if t.replicas == Some(0) {
            cx.error(
                &at(&["tracing", "replicas"]),
                "observability::invalid-replicas",
                "Invalid replica count",
                "`replicas` is 0, so no collector would receive spans.",
                Some("set `replicas: 1` or more".into()),
            );
        }
        if let Some(tail) = &t.tail
            && !tail.errors
            && tail.slower_than.is_none()
            && t.sampling.is_none()
        {
            cx.key_error(
                &at(&["tracing", "tail"]),
                "observability::empty-tail",
                "Tail sampling keeps nothing",
                "`tail` has no policy: without `errors`, `slower_than` or a `sampling` rate every trace would be dropped.",
                Some("add `errors: true`, `slower_than: 500ms` or `sampling: 10%`".into()),
            );
        }
        if t.tail.is_none() && t.sampling.is_some_and(|p| p.value() == 0.0) {
            cx.error(
                &at(&["tracing", "sampling"]),
                "observability::invalid-sampling",
                "Sampling keeps nothing",
                "A sampling rate of 0% without tail sampling drops every trace.",
                Some("use a rate such as `sampling: 10%`, or remove `tracing`".into()),
            );
        }
    }
    if let Some(m) = &config.metrics {
        if m.scrape_interval.is_some_and(|d| d.millis < 1000) {
            cx.error(
                &at(&["metrics", "scrape_interval"]),
                "observability::invalid-interval",
                "Invalid scrape interval",
                "The scrape interval is below one second; Prometheus scrapes at most once a second.",
                Some("use an interval such as `30s`".into()),
            );
        }
        if let Some(path_) = &m.path
            && !path_.starts_with('/')
        {
            cx.error(
                &at(&["metrics", "path"]),
                "observability::invalid-path",
                "Invalid metrics path",
                format!("`{path_}` is not an absolute HTTP path."),
                Some(format!("write `/{path_}`")),
            );
        }
        for (i, s) in m.services.iter().flatten().enumerate() {
            if !services.contains_key(s) {
                unknown_service(cx, &at(&["metrics", "services", &i.to_string()]), s, services);
            }
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, slo) in config.slos.iter().enumerate() {
        let i = config.slo_sources.get(n).copied().unwrap_or(n);
        if let Some(first) = seen.insert(&slo.name, i) {
            cx.error(
                &at(&["slos", &i.to_string(), "name"]),
                "observability::duplicate-slo",
                "Duplicate SLO",
                format!("The SLO `{}` is already defined at `observability.slos[{first}]`; SLO names name their rules and alerts, so they must be unique.", slo.name),
                Some("rename one of them".into()),
            );
        }
        slo_check(cx, i, slo, services);
    }
    if let Some(a) = &config.alerts {
        for (name, r) in &a.receivers {
            if r.pagerduty.is_none() && r.slack.is_none() {
                cx.key_error(
                    &at(&["alerts", "receivers", name]),
                    "observability::empty-receiver",
                    "Receiver without a destination",
                    format!("The receiver `{name}` has neither `pagerduty` nor `slack`, so alerts routed to it would notify no one."),
                    Some("add `pagerduty: { routing_key_secret: <secret> }` or `slack: { webhook_secret: <secret> }`".into()),
                );
            }
        }
        let mut routed = BTreeMap::new();
        for (i, r) in a.routes.iter().enumerate() {
            let idx = i.to_string();
            if !a.receivers.contains_key(&r.to) {
                let help = did_you_mean(&r.to, a.receivers.keys().map(String::as_str))
                    .or_else(|| Some(format!("declare `{}` under `observability.alerts.receivers`", r.to)));
                cx.error(
                    &at(&["alerts", "routes", &idx, "to"]),
                    "observability::unknown-receiver",
                    "Unknown receiver",
                    format!("`{}` is not a receiver declared in `observability.alerts.receivers`.", r.to),
                    help,
                );
            }
            if let Some(first) = routed.insert(r.severity, i) {
                cx.error(
                    &at(&["alerts", "routes", &idx, "severity"]),
                    "observability::duplicate-route",
                    "Severity routed twice",
                    format!("`{}` alerts are already routed by `observability.alerts.routes[{first}]`; only the first route would ever match.", r.severity.as_str()),
                    Some("send one severity to several destinations with one receiver that has several".into()),
                );
            }
        }
    }
    if let Some(p) = &config.prometheus {
        let ok = (p.url.starts_with("http://") || p.url.starts_with("https://"))
            && p.url.split_once("://").is_some_and(|(_, rest)| !rest.is_empty());
        if !ok {
            cx.error(
                &at(&["prometheus", "url"]),
                "observability::invalid-url",
                "Invalid URL",
                format!("`{}` is not an http:// or https:// URL of the Prometheus HTTP API.", p.url),
                Some("write `url: http://prometheus-operated.monitoring:9090`".into()),
            );
        }
    }
}

fn slo_check(cx: &mut SpecContext<'_>, i: usize, slo: &Slo, services: &BTreeMap<String, Service>) {
    let idx = i.to_string();
    let here = |rest: &[&str]| {
        let mut p = at(&["slos", &idx]);
        p.extend(rest.iter().map(|s| s.to_string()));
        p
    };
    if !is_dns_label(&slo.name) {
        cx.error(
            &here(&["name"]),
            "observability::invalid-name",
            "Invalid name",
            format!("`{}` is not a valid SLO name: it names a Kubernetes object, so use lowercase letters, digits and `-`, at most 63 characters.", slo.name),
            None,
        );
    }
    if !services.contains_key(&slo.service) {
        unknown_service(cx, &here(&["service"]), &slo.service, services);
    }
    let o = slo.objective.value();
    if o <= 0.0 || o >= 100.0 {
        cx.error(
            &here(&["objective"]),
            "observability::invalid-objective",
            "Invalid objective",
            format!(
                "An objective of {o}% leaves {} error budget, so burn rates cannot be computed.",
                if o >= 100.0 { "no" } else { "the whole" }
            ),
            Some("use an objective between 0% and 100%, such as `99.9%`".into()),
        );
    }
    let w = slo.window.millis;
    if !w.is_multiple_of(DAY_MS) || w < MIN_WINDOW_DAYS * DAY_MS {
        cx.error(
            &here(&["window"]),
            "observability::invalid-window",
            "Invalid SLO window",
            format!("The window `{}` is not a whole number of days of at least {MIN_WINDOW_DAYS}d; the slowest burn-rate alert looks back 3 days.", slo.window),
            Some("use `30d` or `28d`".into()),
        );
    }
    sli_check(cx, &here(&["sli"]), slo, &slo.sli);
}

fn sli_check(cx: &mut SpecContext<'_>, p: &Path, slo: &Slo, sli: &Sli) {
    let ratio = sli.errors.is_some() || sli.total.is_some();
    if ratio == sli.latency.is_some() || (ratio && (sli.errors.is_none() || sli.total.is_none())) {
        cx.error(
            p,
            "observability::invalid-sli",
            "Invalid SLI",
            format!("The SLI of `{}` must be either `errors` and `total` (counter selectors) or `latency` (a histogram bucket).", slo.name),
            Some("write `sli: { errors: 'http_requests_total{code=~\"5..\"}', total: http_requests_total }` or `sli: { latency: { histogram: http_request_duration_seconds, le: 0.3 } }`".into()),
        );
        return;
    }
    for (key, sel) in [("errors", &sli.errors), ("total", &sli.total)] {
        if let Some(s) = sel
            && let Err(why) = selector_problem(s)
        {
            let mut q = p.clone();
            q.push(key.into());
            cx.error(
                &q,
                "observability::invalid-selector",
                "Invalid series selector",
                format!("`{s}` is not a series selector: {why}."),
                Some("write a metric name with optional matchers, like `http_requests_total{job=\"api\"}`".into()),
            );
        }
    }
    if let Some(l) = &sli.latency {
        if !is_metric_name(&l.histogram) {
            let mut q = p.clone();
            q.extend(["latency".to_string(), "histogram".to_string()]);
            cx.error(
                &q,
                "observability::invalid-selector",
                "Invalid series selector",
                format!(
                    "`{}` is not a metric name: use letters, digits, `_` and `:`, not starting with a digit.",
                    l.histogram
                ),
                Some("name the histogram without `_bucket`, like `http_request_duration_seconds`".into()),
            );
        }
        if let Some(m) = &l.matchers
            && let Err(why) = selector_problem(&format!("x{{{m}}}"))
        {
            let mut q = p.clone();
            q.extend(["latency".to_string(), "matchers".to_string()]);
            cx.error(
                &q,
                "observability::invalid-selector",
                "Invalid series selector",
                format!("`{m}` are not label matchers: {why}."),
                Some("write matchers like `job=\"api\", route!=\"/health\"`".into()),
            );
        }
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A structural check of an instant-vector selector (`name{a="b",c=~"d"}`): the SLI rules wrap
/// it in `rate(...[5m])`, so it must be a plain selector. `promtool check rules` (in the tests)
/// checks the full PromQL of the generated rules.
pub fn selector_problem(s: &str) -> Result<(), String> {
    let s = s.trim();
    let (name, rest) = match s.find('{') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    if name.is_empty() && rest.is_empty() {
        return Err("it is empty".into());
    }
    if !name.is_empty() && !is_metric_name(name.trim()) {
        return Err(format!("`{}` is not a metric name", name.trim()));
    }
    if rest.is_empty() {
        return Ok(());
    }
    // Walk the matchers, honouring quotes, so a `}` or `[` inside a value is fine.
    let mut in_quote: Option<char> = None;
    let mut escaped = false;
    let mut closed_at = None;
    for (i, c) in rest.char_indices().skip(1) {
        match in_quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    in_quote = None;
                }
            }
            None => match c {
                '"' | '\'' | '`' => in_quote = Some(c),
                '}' => {
                    closed_at = Some(i);
                    break;
                }
                '{' | '[' | '(' => return Err(format!("`{c}` is not allowed inside the matchers")),
                _ => {}
            },
        }
    }
    match closed_at {
        None if in_quote.is_some() => Err("a quoted value is not closed".into()),
        None => Err("the `{` is not closed".into()),
        Some(i) if !rest[i + 1..].trim().is_empty() => {
            Err(format!("`{}` follows the selector (ranges and functions are added by strata)", rest[i + 1..].trim()))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod selector_tests {
    use super::selector_problem;

    #[test]
    fn selectors() {
        assert!(selector_problem("http_requests_total").is_ok());
        assert!(selector_problem(r#"http_requests_total{job="api",code=~"5.."}"#).is_ok());
        assert!(selector_problem(r#"{__name__="x", path="/a}b["}"#).is_ok());
        assert!(selector_problem(r#"x{job="api"}[5m]"#).is_err());
        assert!(selector_problem(r#"x{job="api""#).is_err());
        assert!(selector_problem(r#"x{job="api}"#).is_err());
        assert!(selector_problem("rate(x[5m])").is_err());
        assert!(selector_problem("").is_err());
    }
}
