//! Compiles checked flags to flagd flag definitions and their ConfigMaps.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use strata_sdk::{Address, Resource};

use super::config::{Condition, FlagSpec, FlagState};
use super::validate::{Checked, Served};
use super::{DATA_KEY, SCHEMA_URL};
use crate::lower::kubernetes_resource;

/// The attribute flagd buckets on when a rollout names none.
pub const DEFAULT_TARGETING_KEY: &str = "targetingKey";

fn var(attr: &str) -> Value {
    json!({ "var": attr })
}

/// The JSONLogic of a rule's conditions (all must hold).
pub fn condition(c: &Condition) -> Value {
    let mut clauses: Vec<Value> = Vec::new();
    if let Some(list) = &c.email_ends_with {
        let items: Vec<Value> = list.items().into_iter().map(|s| json!({ "ends_with": [var("email"), s] })).collect();
        clauses.push(if items.len() == 1 { items.into_iter().next().expect("one") } else { json!({ "or": items }) });
    }
    for (attr, s) in c.ends_with.iter().flatten() {
        clauses.push(json!({ "ends_with": [var(attr), s] }));
    }
    for (attr, s) in c.starts_with.iter().flatten() {
        clauses.push(json!({ "starts_with": [var(attr), s] }));
    }
    for (attr, s) in c.contains.iter().flatten() {
        clauses.push(json!({ "in": [s, var(attr)] }));
    }
    for (attr, v) in c.equals.iter().flatten() {
        clauses.push(json!({ "==": [var(attr), v.0] }));
    }
    for (attr, vs) in c.in_.iter().flatten() {
        let list: Vec<&Value> = vs.iter().map(|s| &s.0).collect();
        clauses.push(json!({ "in": [var(attr), list] }));
    }
    for (attr, vs) in c.not_in.iter().flatten() {
        let list: Vec<&Value> = vs.iter().map(|s| &s.0).collect();
        clauses.push(json!({ "!": { "in": [var(attr), list] } }));
    }
    if clauses.len() == 1 {
        return clauses.pop().expect("one");
    }
    // flagd's `and` skips null operands, and `starts_with` yields null (not false) for a
    // missing attribute: force each clause to a boolean so a missing attribute fails the rule.
    let clauses: Vec<Value> =
        clauses.into_iter().map(|c| if c.get("starts_with").is_some() { json!({ "!!": [c] }) } else { c }).collect();
    json!({ "and": clauses })
}

/// Integer fractional weights for percentage shares: the shares scaled by the smallest power of
/// ten that makes them whole (`10%`/`90%` -> 10/90, `0.5%`/`99.5%` -> 5/995). flagd divides by
/// the total, so scaling does not change any assignment.
pub fn weights(shares: &[(String, f64)]) -> Vec<(String, u64)> {
    let mut scale = 1.0;
    for _ in 0..6 {
        if shares.iter().all(|(_, s)| ((s * scale) - (s * scale).round()).abs() < 1e-6) {
            break;
        }
        scale *= 10.0;
    }
    shares.iter().map(|(n, s)| (n.clone(), (s * scale).round() as u64)).collect()
}

/// A rollout's targeting: the variant itself when one gets everything, else `fractional`.
fn rollout(shares: &[(String, f64)], targeting_key: Option<&str>) -> Value {
    if let Some((all, _)) = shares.iter().find(|(_, s)| (*s - 100.0).abs() < 1e-9) {
        return Value::String(all.clone());
    }
    let buckets: Vec<Value> = weights(shares).into_iter().map(|(n, w)| json!([n, w])).collect();
    match targeting_key {
        None => json!({ "fractional": buckets }),
        Some(attr) => {
            // Bucket on flagKey + attribute (as flagd does with flagKey + targetingKey), and
            // serve the default when the attribute is absent rather than one shared bucket.
            let mut args = vec![json!({ "cat": [var("$flagd.flagKey"), var(attr)] })];
            args.extend(buckets);
            json!({ "if": [ { "missing": [attr] }, null, { "fractional": args } ] })
        }
    }
}

/// The flagd definition of one checked flag.
pub fn flag(spec: &FlagSpec, checked: &Checked) -> Value {
    let targeting_key = spec.targeting_key.as_deref().filter(|k| *k != DEFAULT_TARGETING_KEY);
    let mut default = checked.default.clone();
    let fallback = checked.rollout.as_ref().map(|r| rollout(r, targeting_key));
    let targeting = if spec.rules.is_empty() {
        match fallback {
            // Everyone gets one variant: that is the default, no targeting needed.
            Some(Value::String(v)) => {
                default = v;
                None
            }
            other => other,
        }
    } else {
        let mut args = Vec::with_capacity(spec.rules.len() * 2 + 1);
        for (rule, served) in spec.rules.iter().zip(&checked.thens) {
            args.push(condition(&rule.condition));
            args.push(match served {
                Served::Variant(v) => Value::String(v.clone()),
                Served::Rollout(s) => rollout(s, targeting_key),
            });
        }
        args.push(fallback.unwrap_or(Value::Null));
        Some(json!({ "if": args }))
    };
    let mut out = Map::new();
    out.insert(
        "state".into(),
        json!(match spec.state {
            FlagState::Enabled => "ENABLED",
            FlagState::Disabled => "DISABLED",
        }),
    );
    out.insert("variants".into(), Value::Object(checked.variants.clone()));
    out.insert("defaultVariant".into(), Value::String(default));
    if let Some(t) = targeting {
        out.insert("targeting".into(), t);
    }
    if let Some(d) = &spec.description {
        out.insert("metadata".into(), json!({ "description": d }));
    }
    Value::Object(out)
}

/// The flagd document of one namespace: `{"$schema": ..., "flags": {...}}`.
pub fn document(flags: &BTreeMap<String, Value>) -> Value {
    let mut m = Map::new();
    for (k, v) in flags {
        m.insert(k.clone(), v.clone());
    }
    json!({ "$schema": SCHEMA_URL, "flags": Value::Object(m) })
}

/// The name of the flag ConfigMap in every namespace.
pub fn configmap_name(project: &str) -> String {
    format!("{project}-flags")
}

/// The ConfigMap serving one namespace's flags to its flagd sidecars.
pub fn configmap(project: &str, namespace: &str, flags: &BTreeMap<String, Value>) -> Option<Resource> {
    let text = serde_json::to_string_pretty(&document(flags)).ok()? + "\n";
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": configmap_name(project), "namespace": namespace },
        "data": { DATA_KEY: text },
    });
    Some(kubernetes_resource(Address::from_segments(["flags", namespace]).ok()?, manifest))
}
