//! Semantic checks of `scaling:` beyond what decoding catches. Every check reports at the span of
//! the value at fault and keeps going.

use super::config::{
    IntOrPercent, Metric, QuotaSpec, ResourceName, ResourceTarget, Resources, ScalingRules, ServiceScaling, VpaMode,
};
use crate::spec::{Path, SpecContext, path};

/// Longest stabilisation window Kubernetes accepts (one hour).
const MAX_WINDOW_SECS: u64 = 3600;
/// Longest policy period Kubernetes accepts (30 minutes).
const MAX_PERIOD_SECS: u64 = 1800;

fn at(service: &str, rest: &[&str]) -> Path {
    let mut p = path(["scaling", service]);
    p.extend(rest.iter().map(|s| s.to_string()));
    p
}

/// Checks one service's entry.
pub fn service(cx: &mut SpecContext<'_>, name: &str, spec: &ServiceScaling) {
    replicas(cx, name, spec);
    targets(cx, name, spec);
    metrics(cx, name, spec);
    if let Some(up) = &spec.scale_up {
        rules(cx, name, "scale_up", up);
    }
    if let Some(down) = &spec.scale_down {
        rules(cx, name, "scale_down", down);
    }
    disruption(cx, name, spec);
    vpa(cx, name, spec);
}

fn replicas(cx: &mut SpecContext<'_>, name: &str, spec: &ServiceScaling) {
    let Some(r) = spec.replicas else {
        // Autoscaler settings without replica bounds have no HPA to go into.
        let hpa_keys = [
            ("target", spec.target.is_some()),
            ("metrics", !spec.metrics.is_empty()),
            ("scale_up", spec.scale_up.is_some()),
            ("scale_down", spec.scale_down.is_some()),
        ];
        if let Some((key, _)) = hpa_keys.iter().find(|(_, set)| *set) {
            cx.key_error(
                &at(name, &[key]),
                "scaling::missing-replicas",
                "Missing replica bounds",
                format!("`{key}` configures a HorizontalPodAutoscaler, but `scaling.{name}` has no `replicas`, so strata would not create one."),
                Some("add `replicas: { min: 2, max: 10 }`".into()),
            );
        }
        return;
    };
    if r.min == 0 {
        cx.error(
            &at(name, &["replicas", "min"]),
            "scaling::invalid-replicas",
            "Invalid replica count",
            "`min` is 0, but a HorizontalPodAutoscaler needs at least one replica to measure; it cannot scale a workload to zero.",
            Some("set `min: 1` or more".into()),
        );
    }
    if r.max == 0 {
        cx.error(
            &at(name, &["replicas", "max"]),
            "scaling::invalid-replicas",
            "Invalid replica count",
            "`max` is 0, but a HorizontalPodAutoscaler needs at least one replica.",
            Some("set `max` to at least `min`".into()),
        );
    }
    if r.min > r.max {
        cx.error(
            &at(name, &["replicas", "min"]),
            "scaling::min-above-max",
            "Minimum above maximum",
            format!(
                "The minimum of {} replicas is above the maximum of {}, so there is no replica count the autoscaler could choose.",
                r.min, r.max
            ),
            Some(format!(
                "lower `min` to at most {} or raise `max` to at least {}",
                r.max, r.min
            )),
        );
    }
}

fn targets(cx: &mut SpecContext<'_>, name: &str, spec: &ServiceScaling) {
    let Some(t) = &spec.target else { return };
    for (res, target) in [("cpu", &t.cpu), ("memory", &t.memory)] {
        let zero = match target {
            Some(ResourceTarget::Utilization(p)) => p.0 == 0,
            Some(ResourceTarget::AverageValue(q)) => q.value == 0.0,
            None => false,
        };
        if zero {
            cx.error(
                &at(name, &["target", res]),
                "scaling::target-out-of-range",
                "Target out of range",
                format!("A {res} target of zero can never be met: every measurement is above it, so the autoscaler would always run the maximum number of replicas."),
                Some(format!("use a target such as `{res}: 70%`")),
            );
        }
    }
}

fn metrics(cx: &mut SpecContext<'_>, name: &str, spec: &ServiceScaling) {
    for (i, m) in spec.metrics.iter().enumerate() {
        let idx = i.to_string();
        match m {
            Metric::Pods(p) => {
                if p.average.value == 0.0 {
                    cx.error(
                        &at(name, &["metrics", &idx, "pods", "average"]),
                        "scaling::target-out-of-range",
                        "Target out of range",
                        format!("A target of zero for `{}` can never be met, so the autoscaler would always run the maximum number of replicas.", p.name),
                        None,
                    );
                }
            }
            Metric::External(e) => match (&e.value, &e.average) {
                (Some(_), Some(_)) => cx.key_error(
                    &at(name, &["metrics", &idx, "external", "average"]),
                    "scaling::metric-target",
                    "Invalid metric target",
                    format!("The external metric `{}` sets both `value` (the total) and `average` (per pod); a metric has one target.", e.name),
                    Some("keep one of `value` and `average`".into()),
                ),
                (None, None) => cx.error(
                    &at(name, &["metrics", &idx, "external"]),
                    "scaling::metric-target",
                    "Invalid metric target",
                    format!("The external metric `{}` has no target.", e.name),
                    Some("add `value: \"30\"` (total) or `average: \"5\"` (per pod)".into()),
                ),
                (Some(q), None) | (None, Some(q)) if q.value == 0.0 => cx.error(
                    &at(name, &["metrics", &idx, "external", if e.value.is_some() { "value" } else { "average" }]),
                    "scaling::target-out-of-range",
                    "Target out of range",
                    format!("A target of zero for `{}` can never be met, so the autoscaler would always run the maximum number of replicas.", e.name),
                    None,
                ),
                _ => {}
            },
        }
    }
}

fn rules(cx: &mut SpecContext<'_>, name: &str, dir: &str, r: &ScalingRules) {
    if let Some(w) = r.stabilization
        && (w.millis % 1000 != 0 || w.as_secs() > MAX_WINDOW_SECS)
    {
        cx.error(
            &at(name, &[dir, "stabilization"]),
            "scaling::invalid-window",
            "Invalid stabilization window",
            format!("The stabilization window is {w}, but Kubernetes takes whole seconds up to one hour."),
            Some("use a window such as `5m`".into()),
        );
    }
    for (i, p) in r.policies.iter().enumerate() {
        let idx = i.to_string();
        let here = |rest: &str| at(name, &[dir, "policies", &idx, rest]);
        match (p.pods, p.percent) {
            (Some(_), Some(_)) => cx.key_error(
                &here("percent"),
                "scaling::invalid-policy",
                "Invalid scaling policy",
                "This policy sets both `pods` and `percent`; each policy limits the change by one of them.",
                Some("split it into two policies".into()),
            ),
            (None, None) => cx.error(
                &at(name, &[dir, "policies", &idx]),
                "scaling::invalid-policy",
                "Invalid scaling policy",
                "This policy sets neither `pods` nor `percent`, so it does not say how much may change per period.",
                Some("add `pods: 4` or `percent: 10%`".into()),
            ),
            (Some(0), None) | (None, Some(super::config::Pct(0))) => cx.error(
                &here(if p.pods.is_some() { "pods" } else { "percent" }),
                "scaling::invalid-policy",
                "Invalid scaling policy",
                "A policy that allows a change of zero is rejected by Kubernetes; it would never let the replica count move.",
                Some(format!("to stop scaling in this direction, use `{dir}: {{ select: disabled }}`")),
            ),
            (None, Some(pct)) if dir == "scale_down" && pct.0 > 100 => cx.error(
                &here("percent"),
                "scaling::percent-out-of-range",
                "Percentage out of range",
                format!("Removing {pct} of the replicas per period is meaningless: a scale-down can remove at most 100% of them."),
                Some("use a percentage of at most 100%".into()),
            ),
            _ => {}
        }
        let period = p.period;
        if period.millis == 0 || period.millis % 1000 != 0 || period.as_secs() > MAX_PERIOD_SECS {
            cx.error(
                &here("period"),
                "scaling::invalid-period",
                "Invalid policy period",
                format!("The period is {period}, but Kubernetes takes whole seconds between 1s and 30m."),
                Some("use a period such as `15s` or `1m`".into()),
            );
        }
    }
}

fn disruption(cx: &mut SpecContext<'_>, name: &str, spec: &ServiceScaling) {
    let Some(d) = &spec.disruption else { return };
    let here = |k: &str| at(name, &["disruption", k]);
    match (d.min_available, d.max_unavailable) {
        (Some(_), Some(_)) => {
            cx.key_error(
                &here("max_unavailable"),
                "scaling::disruption-conflict",
                "Invalid disruption bounds",
                "A PodDisruptionBudget takes either `min_available` or `max_unavailable`, and this one sets both.",
                Some("keep one of them".into()),
            );
        }
        (None, None) => {
            cx.key_error(
                &at(name, &["disruption"]),
                "scaling::disruption-conflict",
                "Invalid disruption bounds",
                "A PodDisruptionBudget needs `min_available` or `max_unavailable`.",
                Some("add `min_available: 1` or `max_unavailable: 25%`".into()),
            );
        }
        _ => {}
    }
    for (key, v) in [("min_available", d.min_available), ("max_unavailable", d.max_unavailable)] {
        if let Some(IntOrPercent::Percent(p)) = v
            && p.0 > 100
        {
            cx.error(
                &here(key),
                "scaling::percent-out-of-range",
                "Percentage out of range",
                format!("`{key}` is {p}, but a share of the service's pods is at most 100%."),
                None,
            );
        }
    }
    let blocks = |detail: String, cx: &mut SpecContext<'_>, key: &str, help: &str| {
        cx.error(
            &here(key),
            "scaling::pdb-blocks-eviction",
            "Budget blocks every eviction",
            detail,
            Some(help.to_string()),
        );
    };
    match d.min_available {
        Some(IntOrPercent::Percent(p)) if p.0 == 100 => blocks(
            "`min_available: 100%` never allows a pod to be evicted, so node drains and cluster upgrades would wait on this service forever.".into(),
            cx,
            "min_available",
            "allow at least one pod to go, e.g. `max_unavailable: 1`",
        ),
        Some(IntOrPercent::Int(n)) => {
            if let Some(r) = spec.replicas
                && n >= r.max
            {
                blocks(
                    format!("`min_available: {n}` is at least the maximum of {} replicas, so no pod can ever be evicted: node drains and cluster upgrades would wait on this service forever.", r.max),
                    cx,
                    "min_available",
                    &format!("use at most {} (one below `replicas.max`), or `max_unavailable: 1`", r.max.saturating_sub(1)),
                );
            }
        }
        _ => {}
    }
    match d.max_unavailable {
        Some(IntOrPercent::Int(0)) | Some(IntOrPercent::Percent(super::config::Pct(0))) => blocks(
            "`max_unavailable: 0` never allows a pod to be evicted, so node drains and cluster upgrades would wait on this service forever.".into(),
            cx,
            "max_unavailable",
            "use `max_unavailable: 1` or a percentage such as `25%`",
        ),
        _ => {}
    }
    if let Some(sel) = &d.selector
        && sel.is_empty()
    {
        cx.key_error(
            &here("selector"),
            "scaling::empty-selector",
            "Empty selector",
            "An empty selector matches every pod in the namespace, so this budget would govern pods of other services too.",
            Some(format!("select the service's pods, e.g. `selector: {{ app: {name} }}`, or drop `selector` to use that default")),
        );
    }
}

fn vpa(cx: &mut SpecContext<'_>, name: &str, spec: &ServiceScaling) {
    let Some(v) = &spec.vpa else { return };
    if let (Some(min), Some(max)) = (&v.min_allowed, &v.max_allowed) {
        bounds(cx, name, &["vpa"], ("min_allowed", min), ("max_allowed", max), "scaling::min-above-max");
    }
    if v.mode == VpaMode::Recommend || spec.replicas.is_none() {
        return;
    }
    let controlled = v.controlled.clone().unwrap_or_else(|| vec![ResourceName::Cpu, ResourceName::Memory]);
    let Some(t) = &spec.target else { return };
    for (res, target) in [(ResourceName::Cpu, &t.cpu), (ResourceName::Memory, &t.memory)] {
        if target.is_some() && controlled.contains(&res) {
            let r = res.as_str();
            cx.error(
                &at(name, &["vpa", "mode"]),
                "scaling::vpa-hpa-conflict",
                "Autoscalers fight over the same resource",
                format!("The VerticalPodAutoscaler changes the pods' {r} requests while the HorizontalPodAutoscaler scales on {r} utilisation of those requests, so each undoes the other's work."),
                Some(format!("keep `vpa: {{ mode: recommend }}`, or scale the HPA on custom metrics, or set `vpa.controlled` without `{r}`")),
            );
            return;
        }
    }
}

/// Reports each resource where `lo` is above `hi`.
fn bounds(
    cx: &mut SpecContext<'_>,
    name: &str,
    prefix: &[&str],
    (lo_key, lo): (&str, &Resources),
    (hi_key, hi): (&str, &Resources),
    code: &'static str,
) {
    for (res, l) in lo.entries() {
        let h = if res == "cpu" { &hi.cpu } else { &hi.memory };
        if let Some(h) = h
            && l.value > h.value
        {
            let mut p: Vec<&str> = prefix.to_vec();
            p.extend([lo_key, res]);
            let summary =
                if code == "scaling::min-above-max" { "Minimum above maximum" } else { "Request above limit" };
            cx.error(
                &at(name, &p),
                code,
                summary,
                format!("`{lo_key}.{res}` ({l}) is above `{hi_key}.{res}` ({h})."),
                Some(format!("lower `{lo_key}.{res}` or raise `{hi_key}.{res}`")),
            );
        }
    }
}

/// Checks one namespace's quota entry (`scaling.quotas.<namespace>`).
pub fn quota(cx: &mut SpecContext<'_>, namespace: &str, q: &QuotaSpec) {
    let ns = ["quotas", namespace];
    if let (Some(req), Some(lim)) = (&q.default_request, &q.default_limit) {
        bounds(cx, ns[0], &ns[1..], ("default_request", req), ("default_limit", lim), "scaling::request-above-limit");
    }
    if let (Some(min), Some(max)) = (&q.min, &q.max) {
        bounds(cx, ns[0], &ns[1..], ("min", min), ("max", max), "scaling::min-above-max");
    }
    if let (Some(lim), Some(max)) = (&q.default_limit, &q.max) {
        bounds(cx, ns[0], &ns[1..], ("default_limit", lim), ("max", max), "scaling::request-above-limit");
    }
    if let (Some(min), Some(req)) = (&q.min, &q.default_request) {
        bounds(cx, ns[0], &ns[1..], ("min", min), ("default_request", req), "scaling::request-above-limit");
    }
    if let Some(lim) = &q.limits {
        let total = Resources { cpu: q.cpu.clone(), memory: q.memory.clone() };
        for (res, req) in total.entries() {
            let l = if res == "cpu" { &lim.cpu } else { &lim.memory };
            if let Some(l) = l
                && req.value > l.value
            {
                cx.error(
                    &path(["scaling", "quotas", namespace, res]),
                    "scaling::request-above-limit",
                    "Request above limit",
                    format!("The namespace may request {req} of {res} in total but only set limits of {l}; every pod's limit is at least its request, so the request quota could never be reached."),
                    Some(format!("lower `{res}` or raise `limits.{res}`")),
                );
            }
        }
    }
}
