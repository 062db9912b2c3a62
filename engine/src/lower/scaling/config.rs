//! Typed configuration of `scaling:`. The JSON Schema of the section is generated from these
//! types, and `lower` decodes every entry into them (one entry at a time, so one pass reports
//! every problem).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};

use crate::spec::units::Duration;

/// `scaling.<service>`: how one service scales and how much disruption it tolerates.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceScaling {
    /// The workload the HorizontalPodAutoscaler and VerticalPodAutoscaler act on. Default: the
    /// Deployment named like the service, in the service's namespace.
    #[serde(default)]
    pub target_ref: Option<TargetRef>,
    /// Replica bounds; setting them creates a HorizontalPodAutoscaler (autoscaling/v2).
    #[serde(default)]
    pub replicas: Option<Replicas>,
    /// Resource targets: `70%` is average utilisation of the pods' requests, a quantity
    /// (`500m`, `256Mi`) is an average absolute value per pod.
    #[serde(default)]
    pub target: Option<Targets>,
    /// Custom (`pods`) and external metrics.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Scale-up behaviour: stabilisation window and rate policies.
    #[serde(default)]
    pub scale_up: Option<ScalingRules>,
    /// Scale-down behaviour: the cooldown that prevents thrashing.
    #[serde(default)]
    pub scale_down: Option<ScalingRules>,
    /// A PodDisruptionBudget for the service's pods.
    #[serde(default)]
    pub disruption: Option<Disruption>,
    /// A VerticalPodAutoscaler (autoscaling.k8s.io/v1); recommendation-only by default.
    #[serde(default)]
    pub vpa: Option<Vpa>,
}

/// The scaled workload: `{ kind: StatefulSet, name: db }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetRef {
    /// Default `Deployment`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Default: the service name.
    #[serde(default)]
    pub name: Option<String>,
    /// Default `apps/v1`.
    #[serde(default)]
    pub api_version: Option<String>,
}

/// `replicas: { min: 2, max: 20 }`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replicas {
    pub min: u32,
    pub max: u32,
}

/// `target: { cpu: 70%, memory: 80% }`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub cpu: Option<ResourceTarget>,
    #[serde(default)]
    pub memory: Option<ResourceTarget>,
}

/// A resource target: a percentage of the pods' requests, or an average quantity per pod.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceTarget {
    Utilization(Pct),
    AverageValue(Quantity),
}

impl<'de> Deserialize<'de> for ResourceTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ResourceTarget;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a utilisation like `70%` or a quantity like `500m`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ResourceTarget, E> {
                if v.trim().ends_with('%') {
                    Pct::parse(v).map(ResourceTarget::Utilization).map_err(E::custom)
                } else {
                    Quantity::parse(v).map(ResourceTarget::AverageValue).map_err(E::custom)
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ResourceTarget, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ResourceTarget, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ResourceTarget, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ResourceTarget {
    fn schema_name() -> Cow<'static, str> {
        "ResourceTarget".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]+%$"},
                {"type": "string"},
                {"type": "number", "minimum": 0}
            ],
            "description": "`70%`: average utilisation of the pods' requests (above 100% is allowed when limits exceed requests); a quantity such as `500m` or `256Mi`: average value per pod."
        })
    }
}

/// One custom metric: `{ pods: {...} }` or `{ external: {...} }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Metric {
    /// A per-pod metric from the custom metrics API, averaged across pods.
    Pods(PodsMetric),
    /// A metric from outside the cluster (queue depth, ...), from the external metrics API.
    External(ExternalMetric),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodsMetric {
    pub name: String,
    /// Label selector narrowing the metric series (`matchLabels`).
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
    /// Target average value per pod, as a quantity (`"100"`, `500m`).
    pub average: Quantity,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalMetric {
    pub name: String,
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
    /// Target total value of the metric (exactly one of `value` and `average`).
    #[serde(default)]
    pub value: Option<Quantity>,
    /// Target value per pod (the metric divided by the replica count).
    #[serde(default)]
    pub average: Option<Quantity>,
}

/// `scale_up:` / `scale_down:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalingRules {
    /// How long past recommendations are considered before changing the replica count
    /// (Kubernetes defaults: 0s up, 5m down; at most 1h).
    #[serde(default)]
    pub stabilization: Option<Duration>,
    /// Which policy wins when several allow different changes: `max` (default), `min`, or
    /// `disabled` (never scale in this direction).
    #[serde(default)]
    pub select: Option<SelectPolicy>,
    /// Rate limits: `{ pods: 4, period: 15s }` or `{ percent: 10%, period: 1m }`.
    #[serde(default)]
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelectPolicy {
    Max,
    Min,
    Disabled,
}

impl SelectPolicy {
    pub fn k8s(self) -> &'static str {
        match self {
            SelectPolicy::Max => "Max",
            SelectPolicy::Min => "Min",
            SelectPolicy::Disabled => "Disabled",
        }
    }
}

/// One scaling policy: exactly one of `pods` and `percent`, and a `period`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// At most this many pods added/removed per period.
    #[serde(default)]
    pub pods: Option<u32>,
    /// At most this percentage of the current replicas added/removed per period.
    #[serde(default)]
    pub percent: Option<Pct>,
    /// The window the limit applies to (1s to 30m).
    pub period: Duration,
}

/// `disruption: { min_available: 1 }` or `{ max_unavailable: 25% }`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disruption {
    #[serde(default)]
    pub min_available: Option<IntOrPercent>,
    #[serde(default)]
    pub max_unavailable: Option<IntOrPercent>,
    /// Labels selecting the service's pods. Default `{ app: <service> }`.
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
}

/// `vpa: { mode: recommend }`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vpa {
    /// `recommend` (default: updateMode "Off", recommendations only), `initial` (applied at pod
    /// creation), `auto` (pods are evicted and recreated with new requests: "Recreate"),
    /// `in_place` ("InPlaceOrRecreate").
    #[serde(default)]
    pub mode: VpaMode,
    #[serde(default)]
    pub min_allowed: Option<Resources>,
    #[serde(default)]
    pub max_allowed: Option<Resources>,
    /// Resources the VPA computes recommendations for (default: cpu and memory).
    #[serde(default)]
    pub controlled: Option<Vec<ResourceName>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VpaMode {
    #[default]
    Recommend,
    Initial,
    Auto,
    InPlace,
}

impl VpaMode {
    pub fn k8s(self) -> &'static str {
        match self {
            VpaMode::Recommend => "Off",
            VpaMode::Initial => "Initial",
            VpaMode::Auto => "Recreate",
            VpaMode::InPlace => "InPlaceOrRecreate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceName {
    Cpu,
    Memory,
}

impl ResourceName {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceName::Cpu => "cpu",
            ResourceName::Memory => "memory",
        }
    }
}

/// `{ cpu: 100m, memory: 128Mi }`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub cpu: Option<Quantity>,
    #[serde(default)]
    pub memory: Option<Quantity>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.cpu.is_none() && self.memory.is_none()
    }

    /// `(name, quantity)` pairs in a fixed order.
    pub fn entries(&self) -> Vec<(&'static str, &Quantity)> {
        let mut out = Vec::new();
        if let Some(c) = &self.cpu {
            out.push(("cpu", c));
        }
        if let Some(m) = &self.memory {
            out.push(("memory", m));
        }
        out
    }
}

/// `scaling.quotas.<namespace>`: a ResourceQuota and a LimitRange for one namespace.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    /// Total CPU requests in the namespace (`requests.cpu`).
    #[serde(default)]
    pub cpu: Option<Quantity>,
    /// Total memory requests in the namespace (`requests.memory`).
    #[serde(default)]
    pub memory: Option<Quantity>,
    /// Total limits: `{ cpu: "80", memory: 160Gi }` (`limits.cpu`, `limits.memory`).
    #[serde(default)]
    pub limits: Option<Resources>,
    /// Total storage requested by persistent volume claims (`requests.storage`).
    #[serde(default)]
    pub storage: Option<Quantity>,
    /// Maximum number of pods.
    #[serde(default)]
    pub pods: Option<u32>,
    /// Requests given to containers that set none (LimitRange `defaultRequest`).
    #[serde(default)]
    pub default_request: Option<Resources>,
    /// Limits given to containers that set none (LimitRange `default`).
    #[serde(default)]
    pub default_limit: Option<Resources>,
    /// Largest limits a container may have (LimitRange `max`).
    #[serde(default)]
    pub max: Option<Resources>,
    /// Smallest requests a container may have (LimitRange `min`).
    #[serde(default)]
    pub min: Option<Resources>,
}

impl QuotaSpec {
    pub fn has_quota(&self) -> bool {
        self.cpu.is_some()
            || self.memory.is_some()
            || self.limits.as_ref().is_some_and(|l| !l.is_empty())
            || self.storage.is_some()
            || self.pods.is_some()
    }

    pub fn has_limit_range(&self) -> bool {
        [&self.default_request, &self.default_limit, &self.max, &self.min]
            .iter()
            .any(|r| r.as_ref().is_some_and(|r| !r.is_empty()))
    }
}

/// A whole percentage, written `10%` or as a bare number. Unlike [`crate::spec::units::Percent`]
/// it may exceed 100: a utilisation target of 150% or a scale-up policy of 200% is meaningful.
/// Where it is not, validation reports `scaling::percent-out-of-range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pct(pub u32);

impl Pct {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let num = t.strip_suffix('%').unwrap_or(t).trim();
        let v: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a percentage: write a whole number followed by %, like `70%`"))?;
        Self::check(v)
    }

    fn check(v: f64) -> Result<Self, String> {
        if v.is_nan() || v < 0.0 {
            return Err(format!("{v}% is not a valid percentage: it cannot be negative"));
        }
        if v.fract() != 0.0 {
            return Err(format!("{v}% is not a whole percentage, and Kubernetes takes whole percentages here"));
        }
        if v > u32::MAX as f64 {
            return Err(format!("{v}% is too large"));
        }
        Ok(Pct(v as u32))
    }
}

impl fmt::Display for Pct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl<'de> Deserialize<'de> for Pct {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Pct;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage like `70%`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Pct, E> {
                Pct::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Pct, E> {
                Pct::check(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Pct, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Pct, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Pct {
    fn schema_name() -> Cow<'static, str> {
        "WholePercent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]+%?$"},
                {"type": "integer", "minimum": 0}
            ],
            "description": "A whole percentage, like `70%`."
        })
    }
}

/// A count or a percentage of pods (`1`, `25%`), as PodDisruptionBudgets take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(u32),
    Percent(Pct),
}

impl IntOrPercent {
    pub fn to_json(self) -> serde_json::Value {
        match self {
            IntOrPercent::Int(n) => serde_json::json!(n),
            IntOrPercent::Percent(p) => serde_json::json!(p.to_string()),
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Int(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}"),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = IntOrPercent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of pods like `1` or a percentage like `25%`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrPercent, E> {
                let t = v.trim();
                if t.ends_with('%') {
                    Pct::parse(t).map(IntOrPercent::Percent).map_err(E::custom)
                } else {
                    t.parse::<u32>().map(IntOrPercent::Int).map_err(|_| {
                        E::custom(format!("`{v}` is neither a number of pods (`1`) nor a percentage (`25%`)"))
                    })
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrPercent, E> {
                u32::try_from(v).map(IntOrPercent::Int).map_err(|_| E::custom(format!("{v} pods is too many")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrPercent, E> {
                if v < 0 { Err(E::custom("a number of pods cannot be negative")) } else { self.visit_u64(v as u64) }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for IntOrPercent {
    fn schema_name() -> Cow<'static, str> {
        "IntOrPercent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+%?$"}
            ],
            "description": "A number of pods (`1`) or a whole percentage of them (`25%`)."
        })
    }
}

/// A Kubernetes resource quantity (`100m`, `1.5`, `128Mi`, `1e3`), kept as written and parsed
/// to a number for comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub text: String,
    pub value: f64,
}

impl Quantity {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a Kubernetes quantity: write a number with an optional suffix, like `500m`, `2`, `128Mi` or `1Gi`"
            )
        };
        let t = s.trim();
        let num_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(t.len());
        let (num, suffix) = t.split_at(num_end);
        let digits = num.trim_start_matches(['+', '-']);
        if digits.is_empty()
            || num.len() - digits.len() > 1
            || digits.contains(['+', '-'])
            || digits.matches('.').count() > 1
            || !digits.chars().any(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let mut value: f64 = num.parse().map_err(|_| bad())?;
        let factor = match suffix {
            "" => 1.0,
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            "Ki" => 1024f64,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            e if e.starts_with(['e', 'E']) => {
                let exp: i32 = e[1..].parse().map_err(|_| bad())?;
                10f64.powi(exp)
            }
            _ => return Err(bad()),
        };
        value *= factor;
        if value < 0.0 {
            return Err(format!("`{s}` is negative; a resource quantity cannot be"));
        }
        Ok(Quantity { text: t.to_string(), value })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quantity like `500m` or `128Mi`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": "string", "pattern": "^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(([eE][+-]?[0-9]+)|[numkMGTPE]|[KMGTPE]i)?$"},
                {"type": "number", "minimum": 0}
            ],
            "description": "A Kubernetes quantity: `500m`, `2`, `128Mi`, `1Gi`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse() {
        assert_eq!(Quantity::parse("100m").unwrap().value, 0.1);
        assert_eq!(Quantity::parse("128Mi").unwrap().value, 128.0 * 1024.0 * 1024.0);
        assert_eq!(Quantity::parse("1.5").unwrap().value, 1.5);
        assert_eq!(Quantity::parse("1e3").unwrap().value, 1000.0);
        assert_eq!(Quantity::parse("40").unwrap().text, "40");
        for bad in ["", "m", "10x", "1..2", "--1", "1Mb", "-1"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentages_and_counts() {
        assert_eq!(Pct::parse("150%").unwrap(), Pct(150));
        assert!(Pct::parse("1.5%").is_err());
        let p: IntOrPercent = serde_json::from_value(serde_json::json!("25%")).unwrap();
        assert_eq!(p.to_json(), serde_json::json!("25%"));
        let n: IntOrPercent = serde_json::from_value(serde_json::json!(2)).unwrap();
        assert_eq!(n.to_json(), serde_json::json!(2));
        assert!(serde_json::from_value::<IntOrPercent>(serde_json::json!("two")).is_err());
    }
}
