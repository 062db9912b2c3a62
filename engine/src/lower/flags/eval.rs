//! Evaluates a flag of a flagd document the way flagd does (`strata flags eval`).
//!
//! The flow follows flagd's resolver (core/pkg/evaluator/json.go, `evaluateVariant`):
//! a missing flag is `FLAG_NOT_FOUND`; a `DISABLED` flag is `FLAG_DISABLED`; a flag without
//! targeting (or with `{}`) serves `defaultVariant` with reason `STATIC`; otherwise the targeting
//! JSONLogic runs against the context plus `$flagd: { flagKey, timestamp }`: `null` serves the
//! default with reason `DEFAULT`, anything else is JSON-encoded, stripped of `"` and must name a
//! variant (`TARGETING_MATCH`), else it is a `PARSE_ERROR`.
//!
//! The JSONLogic operators follow github.com/diegoholiveira/jsonlogic/v3 (the library flagd
//! uses) for the operators strata generates and the common ones around them: `var`, `missing`,
//! `if`/`?:`, `==`, `===`, `!=`, `!==`, `!`, `!!`, `and`, `or`, `in`, `cat`, `<`, `<=`, `>`,
//! `>=`, and flagd's `starts_with`, `ends_with` and `fractional`. Any other operator is reported
//! as [`EvalError::Unsupported`] rather than guessed at.
//!
//! `fractional` follows flagd's core/pkg/evaluator/fractional.go (current main, integer
//! weights): the bucketing value is the first argument when it evaluates to a string, else
//! `flagKey + targetingKey` (plain concatenation, `fmt.Sprintf("%s%s", ...)`); it is hashed with
//! MurmurHash3 x86_32, seed 0 (github.com/twmb/murmur3 `StringSum32`), and the 32-bit hash is
//! mapped onto the summed weights with `bucket = (uint64(hash) * totalWeight) >> 32`; the first
//! variant whose cumulative weight exceeds `bucket` wins. (flagd releases before the switch to
//! integer weights computed `abs(int32(hash)) / MaxInt32 * 100` against cumulative percentages;
//! the two disagree for some keys.)

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::murmur3::murmur3_32;

/// The result of evaluating one flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The variant served.
    pub variant: String,
    /// Its value.
    pub value: Value,
    /// Why: `STATIC`, `TARGETING_MATCH` or `DEFAULT`.
    pub reason: Reason,
}

/// OpenFeature resolution reasons flagd returns on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// No targeting: the default variant.
    Static,
    /// Targeting chose the variant.
    TargetingMatch,
    /// Targeting ran and returned null: the default variant.
    Default,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Static => "STATIC",
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Default => "DEFAULT",
        }
    }
}

/// Why a flag could not be evaluated; [`EvalError::code`] is flagd's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("flag `{0}` does not exist")]
    FlagNotFound(String),
    #[error("flag `{0}` is disabled")]
    FlagDisabled(String),
    #[error("{0}")]
    Parse(String),
    /// The targeting uses a JSONLogic operator this evaluator does not implement.
    #[error("the targeting uses the operator `{0}`, which strata's evaluator does not implement")]
    Unsupported(String),
}

impl EvalError {
    /// flagd's error code for this error (`GENERAL` for operators strata does not implement).
    pub fn code(&self) -> &'static str {
        match self {
            EvalError::FlagNotFound(_) => "FLAG_NOT_FOUND",
            EvalError::FlagDisabled(_) => "FLAG_DISABLED",
            EvalError::Parse(_) => "PARSE_ERROR",
            EvalError::Unsupported(_) => "GENERAL",
        }
    }
}

/// Evaluates `flag` from `flags` (the `"flags"` object of a flagd document) for `context`, at
/// the current time (`$flagd.timestamp`).
pub fn evaluate(flags: &Value, flag: &str, context: &Map<String, Value>) -> Result<Evaluation, EvalError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default();
    evaluate_at(flags, flag, context, now)
}

/// [`evaluate`] with a fixed `$flagd.timestamp` (Unix seconds).
pub fn evaluate_at(
    flags: &Value,
    flag: &str,
    context: &Map<String, Value>,
    timestamp: i64,
) -> Result<Evaluation, EvalError> {
    let def = flags
        .as_object()
        .ok_or_else(|| EvalError::Parse("the flags document is not a map of flags".into()))?
        .get(flag)
        .ok_or_else(|| EvalError::FlagNotFound(flag.to_string()))?;
    if def.get("state").and_then(Value::as_str) == Some("DISABLED") {
        return Err(EvalError::FlagDisabled(flag.to_string()));
    }
    let variants = def
        .get("variants")
        .and_then(Value::as_object)
        .ok_or_else(|| EvalError::Parse(format!("flag `{flag}` has no variants")))?;
    let serve = |variant: &str, reason: Reason| -> Result<Evaluation, EvalError> {
        let value = variants
            .get(variant)
            .cloned()
            .ok_or_else(|| EvalError::Parse(format!("`{variant}` is not a variant of flag `{flag}`")))?;
        Ok(Evaluation { variant: variant.to_string(), value, reason })
    };
    let default = def.get("defaultVariant").and_then(Value::as_str);
    let serve_default = |reason: Reason| match default {
        Some(d) => serve(d, reason),
        None => Err(EvalError::Parse(format!("flag `{flag}` has no defaultVariant"))),
    };
    let targeting = match def.get("targeting") {
        None | Some(Value::Null) => return serve_default(Reason::Static),
        Some(Value::Object(m)) if m.is_empty() => return serve_default(Reason::Static),
        Some(t) => t,
    };
    let mut data = context.clone();
    data.insert("$flagd".into(), json!({ "flagKey": flag, "timestamp": timestamp }));
    let data = Value::Object(data);
    let result = Logic { data: &data }.apply(targeting)?;
    if result.is_null() {
        return serve_default(Reason::Default);
    }
    // flagd: `strings.ReplaceAll(strings.TrimSpace(encoded), "\"", "")`.
    let variant = go_json(&result).replace('"', "");
    if variants.contains_key(&variant) {
        serve(&variant, Reason::TargetingMatch)
    } else {
        Err(EvalError::Parse(format!(
            "the targeting of flag `{flag}` returned `{variant}`, which is not one of its variants"
        )))
    }
}

/// Merges the `"flags"` objects of every flag ConfigMap strata generates into one map, for
/// [`evaluate`]. Resources that are not flag ConfigMaps are skipped.
pub fn flags_from_resources(resources: &[strata_sdk::Resource]) -> Value {
    let mut all = Map::new();
    for r in resources {
        if r.address.section() != "flags" {
            continue;
        }
        let Some(text) = r.attrs["data"][super::DATA_KEY].as_str() else {
            continue;
        };
        if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(text)
            && let Some(Value::Object(flags)) = doc.get("flags")
        {
            all.extend(flags.clone());
        }
    }
    Value::Object(all)
}

/// Builds an evaluation context from `key=value` pairs (`strata flags eval -c ...`).
///
/// Values read as JSON when they are `true`, `false`, `null`, a number, or an object or list
/// (`{...}`, `[...]`); anything else is a string. `targetingKey` is always a string (flagd
/// buckets only on a string key). A dotted key (`user.plan=pro`) builds nested objects, which
/// `var` reaches with the same dotted path.
pub fn context_from_pairs<S: AsRef<str>>(pairs: &[S]) -> Result<Map<String, Value>, String> {
    let mut ctx = Value::Object(Map::new());
    for pair in pairs {
        let pair = pair.as_ref();
        let Some((key, raw)) = pair.split_once('=') else {
            return Err(format!("`{pair}` is not `key=value`"));
        };
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(format!("`{pair}` has an empty key"));
        }
        let value = if key == "targetingKey" {
            Value::String(raw.to_string())
        } else {
            match serde_json::from_str::<Value>(raw) {
                Ok(v @ (Value::Bool(_) | Value::Null | Value::Number(_) | Value::Object(_) | Value::Array(_))) => v,
                _ => Value::String(raw.to_string()),
            }
        };
        let mut cur = &mut ctx;
        let segs: Vec<&str> = key.split('.').collect();
        for (i, seg) in segs.iter().enumerate() {
            let map = match cur {
                Value::Object(m) => m,
                _ => return Err(format!("`{key}` nests under a key that already has a value")),
            };
            if i + 1 == segs.len() {
                map.insert(seg.to_string(), value.clone());
                break;
            }
            cur = map.entry(seg.to_string()).or_insert_with(|| Value::Object(Map::new()));
        }
    }
    match ctx {
        Value::Object(m) => Ok(m),
        _ => unreachable!("the context starts as an object"),
    }
}

struct Logic<'a> {
    data: &'a Value,
}

type R = Result<Value, EvalError>;

impl Logic<'_> {
    fn apply(&self, rule: &Value) -> R {
        match rule {
            Value::Object(m) if m.len() == 1 => {
                let (op, args) = m.iter().next().expect("one entry");
                self.operation(op, args)
            }
            // A map with several keys is data, not an operation; `{}` evaluates to itself.
            Value::Object(_) => Ok(rule.clone()),
            Value::Array(items) => items.iter().map(|v| self.apply(v)).collect::<Result<_, _>>().map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    /// The operands, evaluated (a single non-list operand counts as a list of one).
    fn values(&self, args: &Value) -> Result<Vec<Value>, EvalError> {
        match args {
            Value::Array(items) => items.iter().map(|v| self.apply(v)).collect(),
            other => Ok(vec![self.apply(other)?]),
        }
    }

    fn raw_args(args: &Value) -> Vec<&Value> {
        match args {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        }
    }

    fn operation(&self, op: &str, args: &Value) -> R {
        match op {
            "if" | "?:" => {
                let clauses = Self::raw_args(args);
                let n = clauses.len();
                let mut i = 0;
                while i + 1 < n {
                    if truthy(&self.apply(clauses[i])?) {
                        return self.apply(clauses[i + 1]);
                    }
                    i += 2;
                }
                if n % 2 == 1 { self.apply(clauses[n - 1]) } else { Ok(Value::Null) }
            }
            "and" => {
                // diegoholiveira/jsonlogic `_and`: a list or "" is returned as is, `false` ends
                // with false, non-numbers (null included) are skipped; all-boolean input gives
                // true, otherwise the largest number.
                let mut max: f64 = 0.0;
                let mut boolean = true;
                for v in Self::raw_args(args) {
                    let v = self.apply(v)?;
                    match &v {
                        Value::Array(_) => return Ok(v),
                        Value::Bool(false) => return Ok(Value::Bool(false)),
                        Value::String(s) if s.is_empty() => return Ok(v),
                        Value::Number(n) => {
                            boolean = false;
                            let f = n.as_f64().unwrap_or(0.0);
                            if f > max {
                                max = f;
                            }
                        }
                        _ => {}
                    }
                }
                Ok(if boolean { Value::Bool(true) } else { json!(max) })
            }
            "or" => {
                for v in Self::raw_args(args) {
                    let v = self.apply(v)?;
                    if truthy(&v) {
                        return Ok(v);
                    }
                }
                Ok(Value::Bool(false))
            }
            "var" => {
                let vals = self.values(args)?;
                Ok(self.var(vals.first().unwrap_or(&Value::Null), vals.get(1)))
            }
            "missing" => {
                let vals = self.values(args)?;
                let keys = match vals.first() {
                    Some(Value::Array(a)) => a.clone(),
                    _ => vals,
                };
                Ok(Value::Array(keys.into_iter().filter(|k| self.var(k, None).is_null()).collect()))
            }
            "==" | "!=" | "===" | "!==" => {
                let vals = self.values(args)?;
                let (a, b) = two(&vals);
                let eq = if op.len() == 3 { same_kind(a, b) && loose_equals(a, b) } else { loose_equals(a, b) };
                Ok(Value::Bool(if op.starts_with('!') { !eq } else { eq }))
            }
            "!" | "!!" => {
                let vals = self.values(args)?;
                let t = truthy(vals.first().unwrap_or(&Value::Null));
                Ok(Value::Bool(if op == "!" { !t } else { t }))
            }
            "<" | "<=" | ">" | ">=" => {
                let vals = self.values(args)?;
                let cmp = |a: &Value, b: &Value| match op {
                    "<" => less(a, b),
                    "<=" => less(a, b) || loose_equals(a, b),
                    ">" => less(b, a),
                    _ => less(b, a) || loose_equals(a, b),
                };
                let r = if vals.len() >= 3 {
                    cmp(&vals[0], &vals[1]) && cmp(&vals[1], &vals[2])
                } else {
                    let (a, b) = two(&vals);
                    cmp(a, b)
                };
                Ok(Value::Bool(r))
            }
            "in" => {
                let vals = self.values(args)?;
                let (needle, hay) = two(&vals);
                Ok(Value::Bool(contains(needle, hay)?))
            }
            "cat" => {
                let vals = self.values(args)?;
                let mut s = String::new();
                for v in &vals {
                    s.push_str(&to_string(v)?);
                }
                Ok(Value::String(s.trim().to_string()))
            }
            "starts_with" | "ends_with" => {
                // flagd string_comparison.go: two strings, else a falsy result (nil for
                // starts_with, false for ends_with).
                let vals = self.values(args)?;
                match (vals.len(), vals.first(), vals.get(1)) {
                    (2, Some(Value::String(s)), Some(Value::String(t))) => Ok(Value::Bool(if op == "starts_with" {
                        s.starts_with(t.as_str())
                    } else {
                        s.ends_with(t.as_str())
                    })),
                    _ if op == "starts_with" => Ok(Value::Null),
                    _ => Ok(Value::Bool(false)),
                }
            }
            "fractional" => {
                let vals = self.values(args)?;
                Ok(self.fractional(&vals))
            }
            other => Err(EvalError::Unsupported(other.to_string())),
        }
    }

    /// JSONLogic `var`: dotted path into the data (`""` or null: the data itself).
    fn var(&self, key: &Value, default: Option<&Value>) -> Value {
        let path = match key {
            Value::Null => return self.data.clone(),
            Value::String(s) if s.is_empty() => return self.data.clone(),
            Value::String(s) => s.clone(),
            Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
            _ => return default.cloned().unwrap_or(Value::Null),
        };
        let mut cur = self.data;
        for seg in path.split('.') {
            let next = match cur {
                Value::Object(m) => m.get(seg),
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None => return default.cloned().unwrap_or(Value::Null),
            }
        }
        if cur.is_null() { default.cloned().unwrap_or(Value::Null) } else { cur.clone() }
    }

    /// flagd's `fractional` (see the module documentation). Invalid input evaluates to null,
    /// as flagd logs and returns nil.
    fn fractional(&self, vals: &[Value]) -> Value {
        if vals.len() < 2 {
            return Value::Null;
        }
        let (bucket_by, dists) = match &vals[0] {
            Value::String(s) => (s.clone(), &vals[1..]),
            first => {
                let rest = if first.is_null() { &vals[1..] } else { vals };
                let Some(tk) = self.data.get("targetingKey").and_then(Value::as_str) else {
                    return Value::Null;
                };
                let flag_key =
                    self.data.get("$flagd").and_then(|p| p.get("flagKey")).and_then(Value::as_str).unwrap_or_default();
                (format!("{flag_key}{tk}"), rest)
            }
        };
        let mut variants: Vec<(Value, u64)> = Vec::with_capacity(dists.len());
        let mut total: u64 = 0;
        for d in dists {
            let Some(d) = d.as_array().filter(|a| !a.is_empty()) else {
                return Value::Null;
            };
            let variant = match &d[0] {
                v @ (Value::String(_) | Value::Bool(_) | Value::Number(_) | Value::Null) => v.clone(),
                _ => return Value::Null,
            };
            let weight = match d.get(1) {
                None | Some(Value::Null) => 1.0,
                Some(Value::Number(n)) => n.as_f64().unwrap_or(-1.0),
                Some(_) => return Value::Null,
            };
            if weight.fract() != 0.0 || !(0.0..=i32::MAX as f64).contains(&weight) {
                return Value::Null;
            }
            total += weight as u64;
            variants.push((variant, weight as u64));
        }
        if total > i32::MAX as u64 {
            return Value::Null;
        }
        if total == 0 {
            return Value::String(String::new());
        }
        let hash = murmur3_32(bucket_by.as_bytes(), 0);
        let bucket = (hash as u64 * total) >> 32;
        let mut end = 0;
        for (variant, weight) in variants {
            end += weight;
            if bucket < end {
                return variant;
            }
        }
        Value::String(String::new())
    }
}

fn two(vals: &[Value]) -> (&Value, &Value) {
    const NULL: &Value = &Value::Null;
    (vals.first().unwrap_or(NULL), vals.get(1).unwrap_or(NULL))
}

/// JavaScript-style truthiness as jsonlogic's `IsTrue`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// jsonlogic's `javascript.ToNumber`.
fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) if s.trim().is_empty() => 0.0,
        Value::String(s) => s.parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

fn loose_equals(a: &Value, b: &Value) -> bool {
    if a.is_null() || b.is_null() {
        return a.is_null() && b.is_null();
    }
    if let (Value::String(x), Value::String(y)) = (a, b) {
        return x == y;
    }
    to_number(a) == to_number(b)
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn less(a: &Value, b: &Value) -> bool {
    if let (Value::String(x), Value::String(y)) = (a, b) {
        return x < y;
    }
    to_number(a) < to_number(b)
}

fn contains(needle: &Value, hay: &Value) -> Result<bool, EvalError> {
    if needle.is_null() || hay.is_null() {
        return Ok(false);
    }
    match hay {
        Value::String(h) => match needle {
            Value::String(n) => Ok(h.contains(n.as_str())),
            _ => Err(EvalError::Parse("`in` on a string needs a string to look for".into())),
        },
        Value::Array(items) => Ok(items.iter().any(|e| match needle {
            Value::Number(_) => to_number(e) == to_number(needle),
            _ => e == needle,
        })),
        _ => Ok(false),
    }
}

/// jsonlogic's `typing.ToString` (numbers in Go's shortest `'f'` form, null as "").
fn to_string(v: &Value) -> Result<String, EvalError> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(go_float(n.as_f64().unwrap_or(0.0))),
        _ => Err(EvalError::Parse(format!("`cat` cannot join {v}"))),
    }
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`: shortest representation, no exponent.
fn go_float(f: f64) -> String {
    format!("{f}")
}

/// How Go's encoding/json writes a decoded JSON value: numbers as float64, HTML characters
/// escaped, map keys sorted.
fn go_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            let abs = f.abs();
            if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
                // Go: 'e' format with at least two exponent digits dropped ("1e+21", "1e-07"
                // becomes "1e-7").
                let s = format!("{f:e}");
                match s.split_once('e') {
                    Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
                    _ => s,
                }
            } else {
                go_float(f)
            }
        }
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!("[{}]", items.iter().map(go_json).collect::<Vec<_>>().join(",")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_json(&Value::String(k.clone())), go_json(&m[k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
    }
}
