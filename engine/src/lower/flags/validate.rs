//! Semantic checks of one flag, resolving variant names (`true` -> `on` for boolean flags) on
//! the way so compilation works on checked data only.

use serde_json::{Map, Value};

use super::config::{FlagSpec, OPERATORS, Rollout, Then};
use crate::diag::did_you_mean;
use crate::spec::{Path, SpecContext, path};

/// A flag whose names all resolve to declared variants.
#[derive(Debug, Clone)]
pub struct Checked {
    pub variants: Map<String, Value>,
    pub default: String,
    /// Complete shares (adding up to 100), in the order written.
    pub rollout: Option<Vec<(String, f64)>>,
    /// What each rule serves, in rule order.
    pub thens: Vec<Served>,
}

/// A resolved `then`: one variant, or shares among variants.
#[derive(Debug, Clone)]
pub enum Served {
    Variant(String),
    Rollout(Vec<(String, f64)>),
}

/// The implied variants of a flag without `variants`.
pub fn boolean_variants() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("on".into(), Value::Bool(true));
    m.insert("off".into(), Value::Bool(false));
    m
}

fn at(key: &str, rest: &[&str]) -> Path {
    let mut p = path(["flags", key]);
    p.extend(rest.iter().map(|s| s.to_string()));
    p
}

/// Reports rule operators strata does not know (before decoding, so they get a flags-specific
/// diagnostic with "did you mean") and returns the flag's value without them, with the indexes
/// of the rules that had some.
pub fn strip_unknown_operators(cx: &mut SpecContext<'_>, key: &str, raw: &Value) -> (Value, Vec<usize>) {
    let mut cleaned = raw.clone();
    let mut stripped = Vec::new();
    let Some(rules) = cleaned.get_mut("rules").and_then(Value::as_array_mut) else {
        return (cleaned, stripped);
    };
    for (i, rule) in rules.iter_mut().enumerate() {
        let Some(cond) = rule.get_mut("if").and_then(Value::as_object_mut) else {
            continue;
        };
        let unknown: Vec<String> = cond.keys().filter(|k| !OPERATORS.contains(&k.as_str())).cloned().collect();
        for op in unknown {
            let help = did_you_mean(&op, OPERATORS.iter().copied())
                .or_else(|| Some(format!("operators: {}", OPERATORS.join(", "))));
            cx.key_error(
                &at(key, &["rules", &i.to_string(), "if", &op]),
                "flags::unknown-operator",
                "Unknown rule operator",
                format!("`{op}` is not a condition strata can compile to flagd targeting."),
                help,
            );
            cond.remove(&op);
            if stripped.last() != Some(&i) {
                stripped.push(i);
            }
        }
    }
    (cleaned, stripped)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "a boolean",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Object(_) => "an object",
        Value::Array(_) => "a list",
        Value::Null => "null",
    }
}

/// Checks a decoded flag; `None` when a name does not resolve (problems are reported to `cx`).
///
/// `stripped` lists the rules that had unknown operators removed (already reported): an empty
/// condition there is not reported again.
pub fn flag(cx: &mut SpecContext<'_>, key: &str, spec: &FlagSpec, stripped: &[usize]) -> Option<Checked> {
    let implicit = spec.variants.is_none();
    let variants = spec.variants.clone().unwrap_or_else(boolean_variants);
    let mut ok = true;
    if variants.is_empty() {
        cx.error(
            &at(key, &["variants"]),
            "flags::no-variants",
            "No variants",
            format!("Flag `{key}` declares `variants` but none are listed; flagd needs at least one."),
            Some("list the variants, e.g. `variants: { small: gpt-small, large: gpt-large }`, or drop `variants` for an on/off flag".into()),
        );
        return None;
    }
    // Types: flagd types a flag by its variants (boolean, string, number or object flag).
    let mut first: Option<(&String, &Value)> = None;
    for (name, v) in &variants {
        if matches!(v, Value::Null | Value::Array(_)) {
            cx.error(
                &at(key, &["variants", name]),
                "flags::invalid-variant",
                "Invalid variant value",
                format!(
                    "The variant `{name}` is {}, but a flagd variant is a boolean, string, number or object.",
                    kind(v)
                ),
                None,
            );
            ok = false;
            continue;
        }
        match first {
            None => first = Some((name, v)),
            Some((fname, fv)) if kind(fv) != kind(v) => {
                cx.error(
                    &at(key, &["variants", name]),
                    "flags::mixed-variant-types",
                    "Variants of mixed types",
                    format!("The variant `{name}` is {} but `{fname}` is {}; flagd types a flag by its variants, so they must all be booleans, strings, numbers or objects.", kind(v), kind(fv)),
                    Some(format!("make `{name}` {} like the others", kind(fv))),
                );
                ok = false;
            }
            Some(_) => {}
        }
    }

    let names: Vec<String> = variants.keys().cloned().collect();
    let resolve = |name: &str| -> String {
        if implicit {
            match name {
                "true" => "on".into(),
                "false" => "off".into(),
                other => other.to_string(),
            }
        } else {
            name.to_string()
        }
    };
    let suggest = |name: &str| {
        did_you_mean(name, names.iter().map(String::as_str))
            .or_else(|| Some(format!("declared variants: {}", names.join(", "))))
    };

    // Default.
    let default_name = match &spec.default {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => {
            cx.error(
                &at(key, &["default"]),
                "spec::wrong-type",
                "Wrong type",
                format!("`flags.{key}.default` must name a variant, but it is {}.", kind(other)),
                None,
            );
            None
        }
    };
    let default = default_name.map(|d| resolve(&d));
    if let Some(d) = &default
        && !variants.contains_key(d)
    {
        cx.error(
            &at(key, &["default"]),
            "flags::unknown-default",
            "Unknown default variant",
            format!("The default `{d}` is not a variant of flag `{key}`."),
            suggest(d),
        );
        ok = false;
    }

    // Rollout.
    let rollout = match &spec.rollout {
        None => None,
        Some(r) => {
            let shares = shares(cx, &at(key, &["rollout"]), r, &variants, implicit, &resolve, &suggest);
            if shares.is_none() {
                ok = false;
            }
            shares
        }
    };

    // Rules.
    let mut thens = Vec::with_capacity(spec.rules.len());
    for (i, rule) in spec.rules.iter().enumerate() {
        let idx = i.to_string();
        if rule.condition.is_empty() && !stripped.contains(&i) {
            cx.key_error(
                &at(key, &["rules", &idx, "if"]),
                "flags::empty-condition",
                "Empty condition",
                "This rule has no condition, so it would match every evaluation and hide the rules after it.",
                Some("add a condition such as `email_ends_with: \"@example.com\"`, or use `default`/`rollout` for everyone".into()),
            );
            ok = false;
        }
        if let Some(list) = &rule.condition.email_ends_with
            && list.items().is_empty()
        {
            cx.error(
                &at(key, &["rules", &idx, "if", "email_ends_with"]),
                "flags::empty-condition",
                "Empty condition",
                "`email_ends_with` lists no suffix, so the rule could never match.",
                None,
            );
            ok = false;
        }
        match &rule.then {
            Then::Variant(v) => {
                let name = resolve(v);
                if !variants.contains_key(&name) {
                    cx.error(
                        &at(key, &["rules", &idx, "then"]),
                        "flags::unknown-variant",
                        "Unknown variant",
                        format!("The rule serves `{name}`, which is not a variant of flag `{key}`."),
                        suggest(&name),
                    );
                    ok = false;
                }
                thens.push(Served::Variant(name));
            }
            Then::Rollout(r) => {
                match shares(cx, &at(key, &["rules", &idx, "then"]), r, &variants, implicit, &resolve, &suggest) {
                    Some(s) => thens.push(Served::Rollout(s)),
                    None => ok = false,
                }
            }
        }
    }
    if !ok {
        return None;
    }
    Some(Checked { variants, default: default?, rollout, thens })
}

/// Resolves and checks a rollout's shares; completes a one-sided boolean rollout.
fn shares(
    cx: &mut SpecContext<'_>,
    p: &Path,
    r: &Rollout,
    variants: &Map<String, Value>,
    implicit: bool,
    resolve: &dyn Fn(&str) -> String,
    suggest: &dyn Fn(&str) -> Option<String>,
) -> Option<Vec<(String, f64)>> {
    let mut out: Vec<(String, f64)> = Vec::with_capacity(r.0.len() + 1);
    let mut ok = true;
    for (raw, pct) in &r.0 {
        let name = resolve(raw);
        let mut here = p.clone();
        here.push(raw.clone());
        if !variants.contains_key(&name) {
            cx.key_error(
                &here,
                "flags::unknown-variant",
                "Unknown variant",
                format!("The rollout gives {pct} to `{name}`, which is not a declared variant."),
                suggest(&name),
            );
            ok = false;
            continue;
        }
        if out.iter().any(|(n, _)| *n == name) {
            cx.key_error(
                &here,
                "flags::duplicate-variant",
                "Variant listed twice",
                format!("The rollout lists `{name}` twice (`true`/`on` and `false`/`off` name the same variants)."),
                Some("keep one entry per variant".into()),
            );
            ok = false;
            continue;
        }
        out.push((name, pct.value()));
    }
    if !ok {
        return None;
    }
    let sum: f64 = out.iter().map(|(_, s)| s).sum();
    if implicit && out.len() == 1 {
        // `{ true: 10% }`: the rest goes to the other side.
        let other = if out[0].0 == "on" { "off" } else { "on" };
        out.push((other.to_string(), 100.0 - sum));
        return Some(out);
    }
    if (sum - 100.0).abs() > 1e-9 {
        let diff = 100.0 - sum;
        let help = if diff > 0.0 {
            format!("give the remaining {}% to a variant", trim_float(diff))
        } else {
            format!("lower the shares by {}% in total", trim_float(-diff))
        };
        cx.key_error(
            p,
            "flags::rollout-sum",
            "Rollout does not add up to 100%",
            format!("The rollout shares add up to {}%, but every evaluation must land in exactly one variant, so they must add up to 100%.", trim_float(sum)),
            Some(help),
        );
        return None;
    }
    Some(out)
}

fn trim_float(f: f64) -> String {
    let r = (f * 1e6).round() / 1e6;
    format!("{r}")
}
