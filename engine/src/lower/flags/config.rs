//! Typed configuration of `flags:`. The JSON Schema of the section is generated from these types.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};
use serde_json::Value;

use crate::spec::units::Percent;

/// `flags.<key>`: one feature flag, served by flagd under the same key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagSpec {
    /// Free text, copied to the flag's metadata.
    #[serde(default)]
    pub description: Option<String>,
    /// `enabled` (default) or `disabled`: flagd treats a disabled flag as absent and the
    /// application falls back to the default in its code.
    #[serde(default)]
    pub state: FlagState,
    /// Named values. Without `variants` the flag is boolean, with the variants `on` (true) and
    /// `off` (false); `true`/`false` may be written for them anywhere a variant is named.
    #[serde(default)]
    pub variants: Option<serde_json::Map<String, Value>>,
    /// The variant served when no rule or rollout applies (`false`/`true` for boolean flags).
    pub default: Value,
    /// Percentage rollout, sticky per targeting key: `{ true: 10% }` (the rest goes to the other
    /// boolean variant) or `{ small: 90%, large: 10% }` (must add up to 100%).
    #[serde(default)]
    pub rollout: Option<Rollout>,
    /// Targeting rules, tried in order before the rollout: `{ if: {...}, then: <variant> }`.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Context attribute the rollout buckets on (default: the OpenFeature `targetingKey`).
    #[serde(default)]
    pub targeting_key: Option<String>,
    /// Namespace whose flag ConfigMap holds this flag (default: `flags.namespace`, else the
    /// namespace of the first service).
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagState {
    #[default]
    Enabled,
    Disabled,
}

/// `{ if: { email_ends_with: "@apex.dev" }, then: large }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Conditions, all of which must hold.
    #[serde(rename = "if")]
    pub condition: Condition,
    /// A variant, or a rollout among variants for the matching evaluations.
    pub then: Then,
}

/// The conditions a rule may test; several in one rule must all hold. Attribute names are
/// evaluation-context keys (dots reach into nested objects).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The context's `email` ends with this (or one of these) suffixes.
    #[serde(default)]
    pub email_ends_with: Option<OneOrMany>,
    /// `{ attr: suffix }`: the attribute (a string) ends with the suffix.
    #[serde(default)]
    pub ends_with: Option<BTreeMap<String, String>>,
    /// `{ attr: prefix }`: the attribute (a string) starts with the prefix.
    #[serde(default)]
    pub starts_with: Option<BTreeMap<String, String>>,
    /// `{ attr: text }`: the attribute (a string) contains the text.
    #[serde(default)]
    pub contains: Option<BTreeMap<String, String>>,
    /// `{ attr: value }`: the attribute equals the value (JSONLogic `==`).
    #[serde(default)]
    pub equals: Option<BTreeMap<String, Scalar>>,
    /// `{ attr: [values] }`: the attribute is one of the values.
    #[serde(rename = "in", default)]
    pub in_: Option<BTreeMap<String, Vec<Scalar>>>,
    /// `{ attr: [values] }`: the attribute is none of the values (or is absent).
    #[serde(default)]
    pub not_in: Option<BTreeMap<String, Vec<Scalar>>>,
}

/// The operators a rule condition may use, for "did you mean" on unknown ones.
pub const OPERATORS: &[&str] = &["email_ends_with", "ends_with", "starts_with", "contains", "equals", "in", "not_in"];

impl Condition {
    pub fn is_empty(&self) -> bool {
        self.email_ends_with.is_none()
            && self.ends_with.is_none()
            && self.starts_with.is_none()
            && self.contains.is_none()
            && self.equals.is_none()
            && self.in_.is_none()
            && self.not_in.is_none()
    }
}

/// One string or a list of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A string, number or boolean compared against the evaluation context.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub Value);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(Scalar(v)),
            _ => Err(de::Error::custom("a condition compares with a string, number or boolean")),
        }
    }
}

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// What a matching rule serves: a variant name, or a rollout among variants.
#[derive(Debug, Clone)]
pub enum Then {
    Variant(String),
    Rollout(Rollout),
}

impl<'de> Deserialize<'de> for Then {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Then;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a variant name or a rollout like `{ large: 50%, small: 50% }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Then, E> {
                Ok(Then::Variant(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Then, E> {
                Ok(Then::Variant(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Then, E> {
                Ok(Then::Variant(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Then, E> {
                Ok(Then::Variant(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Then, A::Error> {
                RolloutVisitor.visit_map(map).map(Then::Rollout)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Then {
    fn schema_name() -> Cow<'static, str> {
        "Then".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let rollout = generator.subschema_for::<Rollout>();
        json_schema!({
            "anyOf": [ { "type": ["string", "boolean", "integer"] }, rollout ],
            "description": "A variant name, or a rollout among variants."
        })
    }
}

/// Variant shares in the order written (the order decides which hash range each variant gets,
/// so appending a variant or growing the first one keeps existing assignments where possible).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollout(pub Vec<(String, Percent)>);

struct RolloutVisitor;

impl<'de> de::Visitor<'de> for RolloutVisitor {
    type Value = Rollout;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of variants to percentages, like `{ large: 10% }`")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Rollout, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let p: Percent = map.next_value()?;
            out.push((k, p));
        }
        Ok(Rollout(out))
    }
}

impl<'de> Deserialize<'de> for Rollout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RolloutVisitor)
    }
}

impl JsonSchema for Rollout {
    fn schema_name() -> Cow<'static, str> {
        "Rollout".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let pct = generator.subschema_for::<Percent>();
        json_schema!({
            "type": "object",
            "additionalProperties": pct,
            "description": "Variant shares: `{ true: 10% }` or `{ small: 90%, large: 10% }`."
        })
    }
}
