//! Builds the Kubernetes objects for `scaling:` from decoded (and validated) configuration.

use serde_json::{Map, Value, json};
use strata_sdk::{Address, Resource};

use super::config::{
    ExternalMetric, Metric, PodsMetric, QuotaSpec, ResourceTarget, Resources, ScalingRules, ServiceScaling, TargetRef,
};
use crate::lower::kubernetes_resource;
use crate::spec::Service;

/// The workload a service's autoscalers act on: `(apiVersion, kind, name)`.
pub fn target_of(service_name: &str, target: Option<&TargetRef>) -> (String, String, String) {
    let t = target.cloned().unwrap_or_default();
    (
        t.api_version.unwrap_or_else(|| "apps/v1".into()),
        t.kind.unwrap_or_else(|| "Deployment".into()),
        t.name.unwrap_or_else(|| service_name.to_string()),
    )
}

fn address(segments: &[&str]) -> Option<Address> {
    Address::from_segments(segments).ok()
}

fn metadata(name: &str, namespace: &str) -> Value {
    json!({ "name": name, "namespace": namespace })
}

fn target_ref_json(service_name: &str, spec: &ServiceScaling) -> Value {
    let (api_version, kind, name) = target_of(service_name, spec.target_ref.as_ref());
    json!({ "apiVersion": api_version, "kind": kind, "name": name })
}

/// HPA, PDB and VPA of one service, in that order (only those the spec asks for).
pub fn service(name: &str, svc: &Service, spec: &ServiceScaling) -> Vec<Resource> {
    let mut out = Vec::new();
    if let Some(r) = hpa(name, svc, spec) {
        out.push(r);
    }
    if let Some(r) = pdb(name, svc, spec) {
        out.push(r);
    }
    if let Some(r) = vpa(name, svc, spec) {
        out.push(r);
    }
    out
}

fn hpa(name: &str, svc: &Service, spec: &ServiceScaling) -> Option<Resource> {
    let replicas = spec.replicas?;
    let mut s = Map::new();
    s.insert("scaleTargetRef".into(), target_ref_json(name, spec));
    s.insert("minReplicas".into(), json!(replicas.min));
    s.insert("maxReplicas".into(), json!(replicas.max));
    let mut metrics = Vec::new();
    if let Some(t) = &spec.target {
        for (res, target) in [("cpu", &t.cpu), ("memory", &t.memory)] {
            if let Some(target) = target {
                metrics.push(json!({
                    "type": "Resource",
                    "resource": { "name": res, "target": resource_target(target) },
                }));
            }
        }
    }
    for m in &spec.metrics {
        metrics.push(metric(m));
    }
    if !metrics.is_empty() {
        s.insert("metrics".into(), Value::Array(metrics));
    }
    let mut behavior = Map::new();
    if let Some(up) = &spec.scale_up {
        behavior.insert("scaleUp".into(), rules(up));
    }
    if let Some(down) = &spec.scale_down {
        behavior.insert("scaleDown".into(), rules(down));
    }
    if !behavior.is_empty() {
        s.insert("behavior".into(), Value::Object(behavior));
    }
    let manifest = json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(name, &svc.namespace),
        "spec": Value::Object(s),
    });
    Some(kubernetes_resource(address(&["scaling", name, "hpa"])?, manifest))
}

fn resource_target(t: &ResourceTarget) -> Value {
    match t {
        ResourceTarget::Utilization(p) => json!({ "type": "Utilization", "averageUtilization": p.0 }),
        ResourceTarget::AverageValue(q) => json!({ "type": "AverageValue", "averageValue": q.text }),
    }
}

fn metric_identifier(name: &str, selector: Option<&std::collections::BTreeMap<String, String>>) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    if let Some(sel) = selector {
        m.insert("selector".into(), json!({ "matchLabels": sel }));
    }
    Value::Object(m)
}

fn metric(m: &Metric) -> Value {
    match m {
        Metric::Pods(PodsMetric { name, selector, average }) => json!({
            "type": "Pods",
            "pods": {
                "metric": metric_identifier(name, selector.as_ref()),
                "target": { "type": "AverageValue", "averageValue": average.text },
            },
        }),
        Metric::External(ExternalMetric { name, selector, value, average }) => {
            let target = match (value, average) {
                (_, Some(avg)) => json!({ "type": "AverageValue", "averageValue": avg.text }),
                (Some(v), None) => json!({ "type": "Value", "value": v.text }),
                // Reported by validation; keep the object well-formed.
                (None, None) => json!({ "type": "Value", "value": "0" }),
            };
            json!({
                "type": "External",
                "external": {
                    "metric": metric_identifier(name, selector.as_ref()),
                    "target": target,
                },
            })
        }
    }
}

fn rules(r: &ScalingRules) -> Value {
    let mut m = Map::new();
    if let Some(w) = r.stabilization {
        m.insert("stabilizationWindowSeconds".into(), json!(w.as_secs()));
    }
    if let Some(sel) = r.select {
        m.insert("selectPolicy".into(), json!(sel.k8s()));
    }
    if !r.policies.is_empty() {
        let policies: Vec<Value> = r
            .policies
            .iter()
            .map(|p| {
                let (kind, value) = match (p.pods, p.percent) {
                    (Some(n), _) => ("Pods", n),
                    (None, Some(pct)) => ("Percent", pct.0),
                    (None, None) => ("Pods", 0),
                };
                json!({ "type": kind, "value": value, "periodSeconds": p.period.as_secs() })
            })
            .collect();
        m.insert("policies".into(), Value::Array(policies));
    }
    Value::Object(m)
}

/// The label selector of a service's pods: the configured one, else `app: <service>`.
pub fn pod_selector(name: &str, selector: Option<&std::collections::BTreeMap<String, String>>) -> Value {
    match selector {
        Some(sel) => json!(sel),
        None => json!({ "app": name }),
    }
}

fn pdb(name: &str, svc: &Service, spec: &ServiceScaling) -> Option<Resource> {
    let d = spec.disruption.as_ref()?;
    let mut s = Map::new();
    if let Some(v) = d.min_available {
        s.insert("minAvailable".into(), v.to_json());
    }
    if let Some(v) = d.max_unavailable {
        s.insert("maxUnavailable".into(), v.to_json());
    }
    s.insert("selector".into(), json!({ "matchLabels": pod_selector(name, d.selector.as_ref()) }));
    let manifest = json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, &svc.namespace),
        "spec": Value::Object(s),
    });
    Some(kubernetes_resource(address(&["scaling", name, "pdb"])?, manifest))
}

fn resource_list(r: &Resources) -> Value {
    let mut m = Map::new();
    for (k, q) in r.entries() {
        m.insert(k.into(), json!(q.text));
    }
    Value::Object(m)
}

fn vpa(name: &str, svc: &Service, spec: &ServiceScaling) -> Option<Resource> {
    let v = spec.vpa.as_ref()?;
    let mut s = Map::new();
    s.insert("targetRef".into(), target_ref_json(name, spec));
    s.insert("updatePolicy".into(), json!({ "updateMode": v.mode.k8s() }));
    let mut policy = Map::new();
    if let Some(min) = v.min_allowed.as_ref().filter(|r| !r.is_empty()) {
        policy.insert("minAllowed".into(), resource_list(min));
    }
    if let Some(max) = v.max_allowed.as_ref().filter(|r| !r.is_empty()) {
        policy.insert("maxAllowed".into(), resource_list(max));
    }
    if let Some(c) = &v.controlled {
        let mut names: Vec<&str> = c.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        policy.insert("controlledResources".into(), json!(names));
    }
    if !policy.is_empty() {
        let mut container = Map::new();
        container.insert("containerName".into(), json!("*"));
        container.extend(policy);
        s.insert("resourcePolicy".into(), json!({ "containerPolicies": [Value::Object(container)] }));
    }
    let manifest = json!({
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": metadata(name, &svc.namespace),
        "spec": Value::Object(s),
    });
    Some(kubernetes_resource(address(&["scaling", name, "vpa"])?, manifest))
}

/// ResourceQuota and LimitRange of one namespace (only those the spec asks for).
pub fn quota(project: &str, namespace: &str, q: &QuotaSpec) -> Vec<Resource> {
    let mut out = Vec::new();
    if q.has_quota() {
        let mut hard = Map::new();
        if let Some(c) = &q.cpu {
            hard.insert("requests.cpu".into(), json!(c.text));
        }
        if let Some(m) = &q.memory {
            hard.insert("requests.memory".into(), json!(m.text));
        }
        if let Some(l) = &q.limits {
            for (k, v) in l.entries() {
                hard.insert(format!("limits.{k}"), json!(v.text));
            }
        }
        if let Some(s) = &q.storage {
            hard.insert("requests.storage".into(), json!(s.text));
        }
        if let Some(p) = q.pods {
            hard.insert("pods".into(), json!(p.to_string()));
        }
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": metadata(&format!("{project}-quota"), namespace),
            "spec": { "hard": Value::Object(hard) },
        });
        if let Some(a) = address(&["scaling", "quota", namespace]) {
            out.push(kubernetes_resource(a, manifest));
        }
    }
    if q.has_limit_range() {
        let mut limit = Map::new();
        limit.insert("type".into(), json!("Container"));
        for (key, r) in
            [("default", &q.default_limit), ("defaultRequest", &q.default_request), ("max", &q.max), ("min", &q.min)]
        {
            if let Some(r) = r.as_ref().filter(|r| !r.is_empty()) {
                limit.insert(key.into(), resource_list(r));
            }
        }
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": metadata(&format!("{project}-limits"), namespace),
            "spec": { "limits": [Value::Object(limit)] },
        });
        if let Some(a) = address(&["scaling", "limits", namespace]) {
            out.push(kubernetes_resource(a, manifest));
        }
    }
    out
}
