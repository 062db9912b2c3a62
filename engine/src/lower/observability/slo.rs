//! SLOs as Prometheus rules, compatible with Sloth (<https://sloth.dev>): the same recording rule
//! names and `sloth_*` labels, so Sloth's dashboards and tooling read strata's rules.
//!
//! The alerts are the multi-window, multi-burn-rate alerts of the Google SRE workbook
//! ("Alerting on SLOs"): a page when the budget burns fast over both a short and a long window
//! (2% of the budget in 1h, or 5% in 6h), a ticket when it burns slowly (10% in 1d, or 10% in
//! 3d). The short window stops the alert soon after the burn stops; the long one keeps short
//! spikes from paging.

use serde_json::{Value, json};

use super::config::{Severity, Sli, Slo};
use crate::spec::Service;

/// The windows the SLI is recorded over (besides the SLO window itself).
pub const SLI_WINDOWS: &[&str] = &["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// One burn-rate condition: the error ratio over both `short` and `long` above `factor` × the
/// error budget.
#[derive(Debug, Clone, PartialEq)]
pub struct BurnWindow {
    pub severity: Severity,
    pub short: &'static str,
    pub long: &'static str,
    /// Share of the whole period's budget the condition spends over `long`.
    pub budget_spent: f64,
    pub long_hours: f64,
    pub factor: f64,
}

/// The four conditions for an SLO window of `window_days`. The factor is the burn rate at which
/// `budget_spent` of the budget goes in `long`: `budget_spent × window / long`, so a 30d window
/// gives 14.4, 6, 3 and 1, and a 28d window 13.44, 5.6, 2.8 and 0.93.
pub fn burn_windows(window_days: f64) -> Vec<BurnWindow> {
    let hours = window_days * 24.0;
    [
        (Severity::Page, "5m", "1h", 0.02, 1.0),
        (Severity::Page, "30m", "6h", 0.05, 6.0),
        (Severity::Ticket, "2h", "1d", 0.10, 24.0),
        (Severity::Ticket, "6h", "3d", 0.10, 72.0),
    ]
    .into_iter()
    .map(|(severity, short, long, budget_spent, long_hours)| BurnWindow {
        severity,
        short,
        long,
        budget_spent,
        long_hours,
        factor: budget_spent * hours / long_hours,
    })
    .collect()
}

/// A ratio as PromQL and YAML show it: at most 10 decimals, no float noise
/// (`99.9 / 100` is `0.999`, not `0.9990000000000001`).
pub fn ratio(v: f64) -> String {
    let s = format!("{v:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" { "0".into() } else { s.to_string() }
}

/// The Sloth SLO id: `<service>-<slo>`.
pub fn sloth_id(slo: &Slo) -> String {
    format!("{}-{}", slo.service, slo.name)
}

/// The name of the SLO alerts (both severities; the `severity` label tells them apart).
pub const ALERT_NAME: &str = "SLOErrorBudgetBurn";

/// The error ratio of `sli` over `window` as PromQL.
pub fn error_ratio(service: &str, sli: &Sli, window: &str) -> String {
    if let Some(l) = &sli.latency {
        let matchers = l.matchers.clone().unwrap_or_else(|| format!("job=\"{service}\""));
        let sep = if matchers.trim().is_empty() { "" } else { "," };
        // Bad events are requests above the bucket: all of them minus those at or below `le`.
        format!(
            "(\n  sum(rate({h}_count{{{m}}}[{w}]))\n  -\n  sum(rate({h}_bucket{{{m}{sep}le=\"{le}\"}}[{w}]))\n)\n/\n(sum(rate({h}_count{{{m}}}[{w}])))",
            h = l.histogram,
            m = matchers,
            le = l.le.text,
            w = window
        )
    } else {
        let errors = sli.errors.as_deref().unwrap_or_default();
        let total = sli.total.as_deref().unwrap_or_default();
        format!("(sum(rate({errors}[{window}])))\n/\n(sum(rate({total}[{window}])))")
    }
}

/// The `spec` of the PrometheusRule of one SLO: three groups, as Sloth generates them (SLI
/// recordings, metadata recordings, alerts).
pub fn rule_spec(slo: &Slo, service: &Service) -> Value {
    let id = sloth_id(slo);
    let window = slo.window.to_prometheus();
    let window_days = slo.window.as_secs_f64() / 86_400.0;
    let objective = slo.objective.value() / 100.0;
    let budget = 1.0 - objective;
    let sloth = |extra: &[(&str, &str)]| -> Value {
        let mut m = serde_json::Map::new();
        m.insert("sloth_id".into(), json!(id));
        m.insert("sloth_service".into(), json!(slo.service));
        m.insert("sloth_slo".into(), json!(slo.name));
        for (k, v) in extra {
            m.insert((*k).into(), json!(v));
        }
        Value::Object(m)
    };
    let sel = format!("{{sloth_id=\"{id}\", sloth_service=\"{}\", sloth_slo=\"{}\"}}", slo.service, slo.name);

    let mut sli_rules: Vec<Value> = SLI_WINDOWS
        .iter()
        .map(|w| {
            json!({
                "record": format!("slo:sli_error:ratio_rate{w}"),
                "expr": error_ratio(&slo.service, &slo.sli, w),
                "labels": sloth(&[("sloth_window", w)]),
            })
        })
        .collect();
    // The period's ratio is the mean of the 5m ratio over the period (as Sloth does): a rate over
    // 30 days would need 30 days of raw samples in one query.
    sli_rules.push(json!({
        "record": format!("slo:sli_error:ratio_rate{window}"),
        "expr": format!("avg_over_time(slo:sli_error:ratio_rate5m{sel}[{window}])"),
        "labels": sloth(&[("sloth_window", &window)]),
    }));

    let on = "on (sloth_id, sloth_slo, sloth_service) group_left";
    let meta_rules = vec![
        json!({"record": "slo:objective:ratio", "expr": format!("vector({})", ratio(objective)), "labels": sloth(&[])}),
        json!({"record": "slo:error_budget:ratio", "expr": format!("vector(1-{})", ratio(objective)), "labels": sloth(&[])}),
        json!({"record": "slo:time_period:days", "expr": format!("vector({})", ratio(window_days)), "labels": sloth(&[])}),
        json!({
            "record": "slo:current_burn_rate:ratio",
            "expr": format!("slo:sli_error:ratio_rate5m{sel}\n/ {on}\nslo:error_budget:ratio{sel}"),
            "labels": sloth(&[]),
        }),
        json!({
            "record": "slo:period_burn_rate:ratio",
            "expr": format!("slo:sli_error:ratio_rate{window}{sel}\n/ {on}\nslo:error_budget:ratio{sel}"),
            "labels": sloth(&[]),
        }),
        json!({
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": format!("1 - slo:period_burn_rate:ratio{sel}"),
            "labels": sloth(&[]),
        }),
        json!({
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": sloth(&[("sloth_mode", "cli-gen-prom"), ("sloth_objective", &ratio(objective * 100.0))]),
        }),
    ];

    let windows = burn_windows(window_days);
    let description = slo.description.clone().unwrap_or_else(|| {
        format!("{}% of events of {} over {window} are good.", ratio(slo.objective.value()), slo.service)
    });
    let mut alerts = Vec::new();
    for severity in [Severity::Page, Severity::Ticket] {
        let conditions: Vec<String> = windows
            .iter()
            .filter(|b| b.severity == severity)
            .map(|b| {
                let threshold = format!("({} * {})", ratio(b.factor), ratio(budget));
                format!(
                    "(\n  max(slo:sli_error:ratio_rate{s}{sel} > {threshold}) without (sloth_window)\n  and\n  max(slo:sli_error:ratio_rate{l}{sel} > {threshold}) without (sloth_window)\n)",
                    s = b.short,
                    l = b.long,
                )
            })
            .collect();
        alerts.push(json!({
            "alert": ALERT_NAME,
            "expr": conditions.join("\nor\n"),
            "labels": {
                "severity": severity.as_str(),
                "slo": slo.name,
                "service": slo.service,
                "namespace": service.namespace,
                "sloth_severity": severity.as_str(),
            },
            "annotations": {
                "summary": format!("{} SLO {} is burning its error budget too fast ({}).", slo.service, slo.name, severity.as_str()),
                "description": description,
            },
        }));
    }

    json!({
        "groups": [
            { "name": format!("sloth-slo-sli-recordings-{id}"), "rules": sli_rules },
            { "name": format!("sloth-slo-meta-recordings-{id}"), "rules": meta_rules },
            { "name": format!("sloth-slo-alerts-{id}"), "rules": alerts },
        ]
    })
}
